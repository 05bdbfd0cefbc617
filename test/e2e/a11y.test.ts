/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The rooms page for everyone: axe-core (WCAG 2.1 A/AA) in each state and both colour schemes, keyboard-only use,
// visible focus, the phone and desktop layouts (screenshots), and how fast a room of 100 held messages renders.
import { join } from 'node:path'
import t from 'tap'
import type { Page } from 'playwright-core'
import { startServer } from '../server-process.js'
import { launch, SCREENSHOTS } from './browser.js'
import { axe, badge, openPage, sees, shown } from './hub-page.js'

const API_TOKEN = 'a11y-e2e-api-token-0123456789'

/** Tab (forwards) until the focused element has this id or data-room; fails after 40 presses. */
async function tabTo (page: Page, what: string, pick: { id?: string, room?: string }): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab')
    const at = await page.evaluate(() => ({ id: document.activeElement?.id, room: (document.activeElement as HTMLElement | null)?.dataset.room }))
    if ((pick.id !== undefined && at.id === pick.id) || (pick.room !== undefined && at.room === pick.room)) return
  }
  throw new Error(`Tab never reached ${what}`)
}

/** The focused element shows a focus ring: a solid outline at least 2 px wide. */
async function focusVisible (page: Page): Promise<boolean> {
  return await page.evaluate(() => {
    const s = getComputedStyle(document.activeElement as Element)
    return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2
  })
}

t.test('keyboard alone, axe in every state and scheme, layouts, and the first render of 100 messages', async (t) => {
  const context = await launch(t)
  if (context === undefined) return
  const server = await startServer(t, { API_TOKEN })
  const base = `http://127.0.0.1:${server.port}`
  const post = async (room: string, text: string, from = 'feed') => {
    const res = await fetch(`${base}/rooms/${room}/messages`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ text, from }) })
    if (res.status !== 201) throw new Error(`publish: ${res.status}`)
  }
  for (let i = 1; i <= 100; i++) await post('perf', `held message ${i}: ${'lorem ipsum dolor sit amet '.repeat(1 + (i % 4))}`, `user-${i % 3}`)
  await post('news', 'markets open')

  const w = await openPage(context, `${base}/`, ['chat', 'echo', 'time'])
  const page = w.page
  await shown(page, 'lobby')
  await axe(t, page, 'connected, one room')

  // keyboard only: Tab to the room field, join, Tab to the message box, send, Tab to another room, Enter
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur())
  await tabTo(page, 'the room field', { id: 'chat-room' })
  t.ok(await focusVisible(page), 'the room field shows its focus')
  await page.keyboard.type('kb-room')
  await page.keyboard.press('Enter')
  await shown(page, 'kb-room')
  await tabTo(page, 'the message box', { id: 'composer-input' })
  await page.waitForFunction(() => !(document.getElementById('composer-input') as HTMLInputElement).disabled)
  await page.keyboard.type('sent without a mouse')
  await page.keyboard.press('Enter')
  await sees(page, 'kb-room', 'sent without a mouse')
  await page.keyboard.press('Shift+Tab')
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur())
  await tabTo(page, 'the lobby in the room list', { room: 'lobby' })
  t.ok(await focusVisible(page), 'a room button shows its focus')
  await page.keyboard.press('Enter')
  await shown(page, 'lobby')
  await tabTo(page, 'news in the other rooms', { room: 'news' })
  await page.keyboard.press('Enter')
  await shown(page, 'news')
  await sees(page, 'news', 'markets open')
  t.pass('joined, sent and switched rooms with the keyboard alone')

  // the first render of a room holding 100 messages
  await page.evaluate(() => (window as any).realtime.join('perf'))
  await page.waitForFunction(() => (window as any).realtime.views.get('perf')?.firstRenderMs !== undefined)
  const ms = await page.evaluate(() => (window as any).realtime.views.get('perf').firstRenderMs as number)
  const count = await page.$$eval('#transcript-perf li.msg', (els) => els.length)
  t.equal(count, 100)
  console.log(`# first render of a room with 100 held messages: ${ms.toFixed(1)} ms (Chromium, headless)`)
  t.ok(ms < 1000, `first render of 100 messages in ${ms.toFixed(1)} ms (bound kept generous for loaded machines)`)
  await axe(t, page, 'several rooms, one of 100 messages')

  // unread counts and a typing indicator, for the screenshots
  const other = await openPage(context, `${base}/?room=kb-room`)
  await shown(other.page, 'kb-room')
  await other.page.fill('#composer-input', 'two unread')
  await other.page.press('#composer-input', 'Enter')
  await page.waitForFunction(() => document.querySelector('#joined [data-room="kb-room"] .unread') !== null)
  await other.page.evaluate(() => (window as any).realtime.show('perf'))
  await other.page.evaluate(() => (window as any).realtime.join('perf'))
  await shown(other.page, 'perf')
  await other.page.focus('#composer-input')
  await other.page.keyboard.type('x')
  await other.page.waitForFunction(() => (window as any).realtime.hub.members('perf')?.count === 2)
  await page.waitForFunction(() => /typing/.test(document.getElementById('typing')?.textContent ?? ''))
  await axe(t, page, 'unread counts and a typing indicator')
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme })
    if (scheme === 'dark') await axe(t, page, 'dark scheme')
    await page.setViewportSize({ width: 1280, height: 900 })
    await page.screenshot({ path: join(SCREENSHOTS, `desktop-${scheme}.png`) })
    await page.setViewportSize({ width: 375, height: 812 })
    t.equal(await page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth), false,
      `no horizontal scrolling at 375 px (${scheme})`)
    await page.screenshot({ path: join(SCREENSHOTS, `phone-${scheme}.png`), fullPage: true })
    if (scheme === 'dark') await axe(t, page, 'dark scheme, phone layout')
  }
  // docs/screenshot.png comes from this one: several rooms, times, unread counts, an own message, someone typing
  await page.emulateMedia({ colorScheme: 'light' })
  await page.setViewportSize({ width: 1280, height: 800 })
  await page.fill('#composer-input', 'Looks fast to me')
  await page.press('#composer-input', 'Enter')
  await sees(page, 'perf', 'Looks fast to me')
  await other.page.keyboard.type('y')
  await page.waitForFunction(() => /typing/.test(document.getElementById('typing')?.textContent ?? ''))
  await page.screenshot({ path: join(SCREENSHOTS, 'readme.png') })

  // reconnecting: the server goes away
  await other.page.close()
  await server.stop()
  await badge(page, ['chat'], /reconnecting in/)
  await axe(t, page, 'reconnecting')
  await page.emulateMedia({ colorScheme: 'dark' })
  await axe(t, page, 'reconnecting, dark scheme')
  await page.screenshot({ path: join(SCREENSHOTS, 'reconnecting-dark.png') })
  t.same(w.errors, [], 'no page errors')
})
