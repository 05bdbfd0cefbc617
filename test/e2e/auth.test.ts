/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The page against a server with AUTH_MODE=jwt: refused without a token, connected with one, refreshed in place;
// every socket opened with a one-use ticket, never with the token in its URL.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { SignJWT } from 'jose'
import type { Page } from 'playwright-core'
import { startServer } from '../server-process.js'
import { launch, SCREENSHOTS } from './browser.js'
import { say as rawSay, sees as seesIn } from './hub-page.js'

const SECRET = 'e2e-only-secret-0123456789abcdef-0123'
const KEY = new TextEncoder().encode(SECRET)
const PANELS = ['echo', 'time', 'chat']

async function mint (sub: string, name: string, exp: string | number = '1h'): Promise<string> {
  return await new SignJWT({ name }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt()
    .setExpirationTime(exp).sign(KEY)
}

async function useToken (page: Page, token: string): Promise<void> {
  await page.fill('#auth-token', token)
  await page.press('#auth-token', 'Enter') // keyboard: Enter submits the token form
}

async function badges (page: Page, re: RegExp): Promise<void> {
  await page.waitForFunction(([src, panels]) => panels.every((p) =>
    new RegExp(src).test(document.querySelector(`[data-badge="${p}"]`)?.textContent ?? '')), [re.source, PANELS] as const)
}

async function tokenNote (page: Page, panel: string, re: RegExp): Promise<string> {
  const sel = `#auth-status li[data-panel="${panel}"]`
  await page.waitForFunction(([s, src]) => new RegExp(src).test(document.querySelector(s)?.textContent ?? ''), [sel, re.source] as const)
  return await page.textContent(sel) ?? ''
}

/** Every URL the pages open: WebSocket handshakes apart, and every HTTP request (the refusal probes among them). */
function recordUrls (pages: Page[]): { sockets: string[], requests: string[] } {
  const seen = { sockets: [] as string[], requests: [] as string[] }
  for (const p of pages) {
    p.on('websocket', (ws) => seen.sockets.push(ws.url()))
    p.on('request', (req) => seen.requests.push(req.url()))
  }
  return seen
}

/** The page's sockets carried tickets and no token; no request URL at all carried a token. */
function noTokenInUrls (t: Test, seen: { sockets: string[], requests: string[] }): void {
  const withTicket = seen.sockets.filter((u) => /[?&]ticket=[A-Za-z0-9_-]{43}(&|$)/.test(u))
  t.ok(withTicket.length >= PANELS.length, `the sockets opened with a token carry ticket= (${withTicket.length} of ${seen.sockets.length})`)
  t.same(seen.sockets.filter((u) => /token=/i.test(u)), [], 'no WebSocket URL carries token=')
  t.same(seen.requests.filter((u) => /token=/i.test(u)), [], 'nor does any HTTP request')
  t.same([...new Set(withTicket)].length, withTicket.length, 'a ticket is used for one handshake only')
}

async function say (page: Page, text: string): Promise<void> {
  await page.waitForFunction(() => !(document.getElementById('composer-input') as HTMLInputElement).disabled)
  await rawSay(page, text)
}

async function sees (page: Page, text: string): Promise<void> {
  await seesIn(page, 'lobby', text)
}

t.test('auth on: refused without a token, connected with one, chat shows user ids, refresh in place', async (t) => {
  const context = await launch(t)
  if (context === undefined) return
  const server = await startServer(t, { AUTH_MODE: 'jwt', JWT_SECRET: SECRET })
  const url = `http://127.0.0.1:${server.port}/`
  const errors: string[] = []
  const [alice, bob] = [await context.newPage(), await context.newPage()]
  const seen = recordUrls([alice, bob])
  for (const p of [alice, bob]) {
    p.on('pageerror', (e) => errors.push(e.message))
    await p.goto(url)
  }
  await alice.waitForSelector('#auth-token', { state: 'visible' })
  await badges(alice, /^REFUSED 401/)
  t.pass('without a token every panel is refused with 401')
  const attempts = server.lines.length
  await alice.waitForTimeout(1000) // a retry loop would show up as more requests
  t.equal(server.lines.length, attempts, 'and not retried')

  await useToken(alice, await mint('alice', 'Alice'))
  await badges(alice, /^OPEN$/)
  await alice.waitForFunction(() => document.getElementById('auth-user')?.textContent === 'alice')
  await useToken(bob, await mint('bob', 'Bob'))
  await badges(bob, /^OPEN$/)
  await alice.waitForFunction(() => document.getElementById('member-count')?.textContent === '2 members')
  t.same((await alice.evaluate(() => (window as any).realtime.hub.members('lobby').names as string[])).sort(), ['Alice', 'Bob'],
    'the name claims are the names')

  await say(alice, 'hello from alice')
  await sees(bob, 'hello from alice')
  t.equal(await bob.getAttribute('#transcript-lobby li.msg .from', 'title'), 'user id: alice', 'the sender\'s user id is shown')
  t.equal(await bob.textContent('#transcript-lobby li.msg .from'), 'Alice')
  await alice.fill('#echo-input', 'echo with a token')
  await alice.press('#echo-input', 'Enter')
  await alice.waitForFunction(() => document.getElementById('echo-log')?.lastElementChild?.textContent === 'echo with a token')

  // a token for another user: chat and time refuse the refresh and keep the old one
  await alice.evaluate(() => { (window as unknown as { chatWs: unknown }).chatWs = (window as any).realtime.hub.socket.ws })
  await useToken(alice, await mint('bob', 'Bob'))
  t.match(await tokenNote(alice, 'chat', /refused/), /new token refused/)
  t.match(await tokenNote(alice, 'time', /refused/), /new token refused/)

  // a fresh token for the same user: refreshed on the open sockets, no reconnect
  await useToken(alice, await mint('alice', 'Alice', '2h'))
  t.match(await tokenNote(alice, 'chat', /refreshed/), /^chat: token refreshed, valid until \d\d:\d\d:\d\d$/)
  t.match(await tokenNote(alice, 'time', /refreshed/), /^time: token refreshed/)
  t.equal(await alice.evaluate(() => (window as any).realtime.hub.socket.ws === (window as any).chatWs), true,
    'the chat socket was refreshed in place, not replaced')
  await badges(alice, /^OPEN$/) // echo reconnected with the new token
  await say(alice, 'after the refresh')
  await sees(bob, 'after the refresh')
  t.equal(await alice.textContent('#auth-user'), 'alice')

  await alice.setViewportSize({ width: 390, height: 844 })
  t.equal(await alice.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth), false,
    'no horizontal scrolling at phone width')
  await alice.setViewportSize({ width: 1100, height: 900 })
  await alice.screenshot({ path: join(SCREENSHOTS, 'auth.png'), fullPage: true })
  t.same(errors, [], 'no page errors')
  noTokenInUrls(t, seen)
  const upgrades = server.lines.filter((l) => l.msg === 'ws connected').length
  t.ok(upgrades >= 2 * PANELS.length, 'the server took those tickets')
})

t.test('an expiring token is announced, the server closes at exp, a new token brings every panel back', async (t) => {
  const context = await launch(t)
  if (context === undefined) return
  const server = await startServer(t, { AUTH_MODE: 'jwt', JWT_SECRET: SECRET })
  const page = await context.newPage()
  const seen = recordUrls([page])
  await page.goto(`http://127.0.0.1:${server.port}/`)
  await page.waitForSelector('#auth-token', { state: 'visible' })
  // long enough for the panels to open and the chat round trip on a loaded machine, yet under the server's
  // 30 s warning threshold, so the warning comes at once however long the open took
  const exp = Math.floor(Date.now() / 1000) + 10
  await useToken(page, await mint('carol', 'Carol', exp))
  await badges(page, /^OPEN$/)
  await say(page, 'before expiry')
  await sees(page, 'before expiry')
  t.match(await tokenNote(page, 'chat', /expires/), /enter a new one/)
  t.match(await tokenNote(page, 'time', /expires/), /enter a new one/)
  t.ok(await page.$('#auth-status li.warn'), 'shown as a warning')
  t.ok(Date.now() < exp * 1000, 'the warning came before exp')
  await page.screenshot({ path: join(SCREENSHOTS, 'auth-expiring.png'), fullPage: true })

  await badges(page, /^REFUSED 401/)
  t.ok(Date.now() >= exp * 1000, 'closed at exp, not before')
  t.pass('closed at exp; the expired token is refused, not retried')
  for (const panel of PANELS) t.match(await tokenNote(page, panel, /expired/), /token expired: enter a new one/)
  await page.screenshot({ path: join(SCREENSHOTS, 'auth-expired.png'), fullPage: true })

  await useToken(page, await mint('carol', 'Carol'))
  await badges(page, /^OPEN$/)
  for (const panel of PANELS) t.match(await tokenNote(page, panel, /connected/), /connected with the token/)
  await say(page, 'after a new token')
  await sees(page, 'after a new token')
  const texts = await page.$$eval('#transcript-lobby li.msg .text', (els) => els.map((e) => e.textContent))
  t.same(texts, ['before expiry', 'after a new token'], 'resumed: each message once')
  noTokenInUrls(t, seen)
})
