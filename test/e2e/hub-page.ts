/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// Driving the rooms page: open it, join, say, read a room's transcript, run axe-core in it.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Test } from 'tap'
import type { BrowserContext, Page } from 'playwright-core'

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

export interface Watched { page: Page, errors: string[], dialogs: string[], sockets: string[] }

/** A new page at `url`, its errors and dialogs recorded; resolves once the rooms socket is open. */
export async function openPage (context: BrowserContext, url: string, badges = ['chat']): Promise<Watched> {
  const page = await context.newPage()
  const w: Watched = { page, errors: [], dialogs: [], sockets: [] }
  page.on('websocket', (ws) => w.sockets.push(ws.url()))
  page.on('pageerror', (e) => w.errors.push(e.message))
  page.on('dialog', (d) => { w.dialogs.push(d.message()); d.dismiss().catch(() => {}) })
  await page.goto(url)
  await badge(page, badges, /^OPEN$/)
  return w
}

export async function badge (page: Page, names: string[], re: RegExp): Promise<void> {
  await page.waitForFunction(([src, list]) => list.every((n) =>
    new RegExp(src).test(document.querySelector(`[data-badge="${n}"]`)?.textContent ?? '')), [re.source, names] as const)
}

/** Joins with the keyboard alone: focus the room field, type, Enter; waits for the room to be shown and subscribed. */
export async function joinRoom (page: Page, room: string): Promise<void> {
  await page.focus('#chat-room')
  await page.keyboard.type(room)
  await page.keyboard.press('Enter')
  await shown(page, room)
  await page.waitForFunction((r) => (window as any).realtime.hub.members(r)?.count > 0, room)
}

export async function shown (page: Page, room: string): Promise<void> {
  await page.waitForFunction((r) => document.getElementById('room-h')?.textContent === r &&
    document.querySelector(`#joined [data-room="${r}"]`)?.getAttribute('aria-current') === 'true' &&
    !(document.getElementById(`transcript-${r}`) as HTMLElement | null)?.hidden, room)
}

/** Types into the message box and presses Enter (the box must be enabled: the socket is open). */
export async function say (page: Page, text: string): Promise<void> {
  await page.fill('#composer-input', text)
  await page.press('#composer-input', 'Enter')
}

export async function texts (page: Page, room: string): Promise<string[]> {
  return await page.$$eval(`#transcript-${room} li.msg .text`, (els) => els.map((e) => e.textContent ?? ''))
}

export async function sees (page: Page, room: string, text: string, timeout = 30_000): Promise<void> {
  await page.waitForFunction(([r, x]) => [...document.querySelectorAll(`#transcript-${r} li.msg .text`)].some((e) => e.textContent === x),
    [room, text] as const, { timeout })
}

/** The WCAG 2.1 A/AA rules of axe-core on the page as it is now: zero violations, each one named if not. */
export async function axe (t: Test, page: Page, state: string): Promise<void> {
  // evaluated through the DevTools protocol, which the page's CSP (no inline script) does not govern
  if (await page.evaluate(() => typeof (window as any).axe === 'undefined')) await page.evaluate(AXE)
  const violations = await page.evaluate(async () => {
    const r = await (window as any).axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
    return (r.violations as Array<{ id: string, impact: string, nodes: Array<{ target: string[], failureSummary: string }> }>)
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => `${n.target.join(' ')} — ${n.failureSummary}`).join(' | ')}`)
  })
  t.same(violations, [], `axe: no WCAG 2.1 AA violation (${state})`)
}
