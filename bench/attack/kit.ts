// What every attack module gets and gives back, and the client pieces they share: a tally of how the
// server answered, concurrent loops bounded by a deadline, HTTP requests and WebSocket opens.
import { Agent, request } from 'node:http'
import WebSocket from 'ws'

export interface AttackContext {
  host: string
  port: number
  /** Date.now() at which the attack stops starting new work */
  until: number
  /** run() is called twice, for each half of the attack: 0, then 1 */
  half: 0 | 1
  tally: Tally
}

export interface Attack {
  name: string
  /** what `sent` counts: "GETs", "upgrades", "frames" */
  unit: string
  /** runs until ctx.until, then ends every socket it opened before it resolves */
  run: (ctx: AttackContext) => Promise<void>
  /**
   * Read once the attack's sockets are gone, before the GC: `note` goes to the notes column, and an
   * `unbounded` reason makes the row UNBOUNDED whatever the memory did.
   */
  afterwards?: (ctx: AttackContext) => Promise<{ note: string, unbounded?: string }>
}

/** How the server answered: counts by key ("200", "101", "429", "close 1008", "error ECONNRESET"). */
export class Tally {
  sent = 0
  readonly answers = new Map<string, number>()
  /** other things the attack counted (messages inside the sockets, bytes), shown in the notes */
  readonly counts = new Map<string, number>()
  /** the most bytes the server held unsent for a client, where the attack can tell (echo-stall) */
  backlogPeak: number | undefined

  answer (key: string): void {
    this.answers.set(key, (this.answers.get(key) ?? 0) + 1)
  }

  count (key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n)
  }

  backlog (bytes: number): void {
    if (this.backlogPeak === undefined || bytes > this.backlogPeak) this.backlogPeak = bytes
  }
}

/** Runs `n` copies of `step` back to back until the deadline; resolves when every copy has stopped. */
export async function loops (n: number, until: number, step: (i: number) => Promise<void>): Promise<void> {
  const one = async (i: number) => {
    while (Date.now() < until) await step(i)
  }
  await Promise.all(Array.from({ length: n }, (_, i) => one(i)))
}

export function randomName (): string {
  return `r${Math.random().toString(36).slice(2, 12)}`
}

/**
 * `loops` of HTTP requests over one keep-alive agent (one client reusing its connections, as a browser
 * or a script would), its sockets closed at the end.
 */
export async function httpLoops (ctx: AttackContext, n: number, step: (agent: Agent, i: number) => Promise<void>): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: n })
  try {
    await loops(n, ctx.until, async (i) => await step(agent, i))
  } finally {
    agent.destroy()
  }
}

/**
 * One HTTP request; tallies its status (or the error) and resolves once the response has been read.
 * `timeoutMs` bounds a request the server never answers.
 */
export async function httpCall (ctx: AttackContext, agent: Agent, method: string, path: string,
  body?: Buffer, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<void> {
  ctx.tally.sent++
  await new Promise<void>((resolve) => {
    const req = request({ host: ctx.host, port: ctx.port, method, path, agent, headers, timeout: timeoutMs }, (res) => {
      ctx.tally.answer(String(res.statusCode))
      res.resume()
      res.on('end', resolve)
      res.on('error', () => resolve())
    })
    req.on('error', (err: NodeJS.ErrnoException) => { ctx.tally.answer(`error ${err.code ?? err.message}`); resolve() })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.end(body)
  })
}

/**
 * Opens a WebSocket and tallies the upgrade: "101", the refusal's status, or the error. Resolves with
 * the open socket, or undefined when refused. Every close the socket later gets is tallied by code.
 */
export async function wsOpen (ctx: AttackContext, path: string, timeoutMs = 10_000): Promise<WebSocket | undefined> {
  ctx.tally.sent++
  const ws = new WebSocket(`ws://${ctx.host}:${ctx.port}${path}`, { handshakeTimeout: timeoutMs, perMessageDeflate: false })
  return await new Promise((resolve) => {
    let settled = false
    ws.once('open', () => {
      settled = true
      ctx.tally.answer('101')
      // application codes (3000-4999) in one key: the close-code spray uses every one of them
      ws.once('close', (code) => ctx.tally.answer(code >= 3000 && code <= 4999 ? 'close 3000-4999' : `close ${code}`))
      resolve(ws)
    })
    ws.once('unexpected-response', (_req, res) => {
      settled = true
      ctx.tally.answer(String(res.statusCode))
      res.resume()
      ws.terminate()
      resolve(undefined)
    })
    // after the upgrade an error ends in a close, tallied by its code
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return
      settled = true
      ctx.tally.answer(`error ${err.code ?? err.message}`)
      resolve(undefined)
    })
  })
}

/** Closes a socket (with `code`) and resolves once it has closed, or terminates it after `timeoutMs`. */
export async function wsClose (ws: WebSocket, code = 1000, timeoutMs = 2000): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => ws.terminate(), timeoutMs)
    ws.once('close', () => { clearTimeout(timer); resolve() })
    if (ws.readyState === WebSocket.OPEN) ws.close(code)
    else ws.terminate()
  })
}
