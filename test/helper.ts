import { once } from 'node:events'
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import WebSocket from 'ws'
import { buildApp, type BuildOptions } from '../src/app.js'
import { loadConfig } from '../src/config/load.js'
import type { Config } from '../src/config/schema.js'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { TSchema } from '@sinclair/typebox'
import { SERVER_FRAME_BY_TYPE } from '../src/protocol/frames.js'

/** A config as a fresh environment would give, with overrides (never by mutating process.env). */
export function testConfig (overrides: Record<string, string> = {}): Config {
  // load shedding off unless a test asks: on a shared CI machine a starved test process reads as overloaded
  return loadConfig({ LOG_LEVEL: 'silent', PORT: '0', MAX_EVENT_LOOP_DELAY_MS: '0', ...overrides })
}

const FRAME_CHECKS = new Map<string, TypeCheck<TSchema>>()
for (const [type, schema] of Object.entries(SERVER_FRAME_BY_TYPE)) FRAME_CHECKS.set(type, TypeCompiler.Compile(schema))

/** Why a frame the server sends breaks its schema (src/protocol/frames.ts), or undefined when it does not. */
export function frameProblem (json: string): string | undefined {
  let frame: unknown
  try { frame = JSON.parse(json) } catch { return 'not JSON' }
  const type = (frame as { type?: unknown } | null)?.type
  const check = typeof type === 'string' ? FRAME_CHECKS.get(type) : undefined
  if (check === undefined) return `no schema for type ${JSON.stringify(type)}`
  const first = check.Errors(frame).First()
  return first === undefined ? undefined : `${first.path || '/'}: ${first.message}`
}

/**
 * Every frame the hub writes during the suite is checked against its schema, and an invalid one fails the test
 * whose app sent it: the schemas (and docs/asyncapi.json, generated from them) cannot drift from the server.
 */
export function checkFrames (t: Test, hub: { tap: ((json: string) => void) | undefined }): void {
  hub.tap = (json) => {
    const problem = frameProblem(json)
    if (problem !== undefined) t.fail(`the server sent a frame its schema refuses (${problem}): ${json.slice(0, 500)}`)
  }
}

/** Builds and readies an app for one test; closed at teardown. */
export async function build (t: Test, overrides: Record<string, string> = {}, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app = await buildApp(testConfig(overrides), opts)
  checkFrames(t, app.hub)
  t.teardown(() => app.close())
  await app.ready() // injectWS exists only after ready
  return app
}

/** Builds an app listening on a free loopback port; returns it with its base URLs. */
export async function listen (t: Test, overrides: Record<string, string> = {}, opts: BuildOptions = {}): Promise<{ app: FastifyInstance, http: string, ws: string, port: number }> {
  const app = await build(t, overrides, opts)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { app, port: address.port, http: `http://127.0.0.1:${address.port}`, ws: `ws://127.0.0.1:${address.port}` }
}

/** A pino logger writing JSON lines into an array, for asserting on log output. */
export function captureLogs (level = 'info'): { logger: pino.Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    }
  })
  return { logger: pino({ level }, stream), lines }
}

/** A JSON-frame reader over a ws client: `next(type)` waits for the next frame of that type. */
export class Frames {
  readonly seen: Array<Record<string, unknown>> = []
  readonly #waiters: Array<{ match: (f: Record<string, unknown>) => boolean, resolve: (f: Record<string, unknown>) => void }> = []
  #cursor = 0

  constructor (readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return
      let frame: Record<string, unknown>
      try { frame = JSON.parse(String(data)) as Record<string, unknown> } catch { return } // echo: not JSON
      this.seen.push(frame)
      this.#drain()
    })
  }

  /** next frame (after the previous `next`) that matches */
  async next (type: string | ((f: Record<string, unknown>) => boolean), timeoutMs = 5000): Promise<Record<string, unknown>> {
    const match = typeof type === 'string' ? (f: Record<string, unknown>) => f.type === type : type
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for frame ${String(type)}; seen ${JSON.stringify(this.seen.slice(-5))}`)), timeoutMs)
      this.#waiters.push({ match, resolve: (f) => { clearTimeout(timer); resolve(f) } })
      this.#drain()
    })
  }

  /** every frame of a type seen so far */
  all (type: string): Array<Record<string, unknown>> {
    return this.seen.filter((f) => f.type === type)
  }

  #drain (): void {
    while (this.#waiters.length > 0) {
      const waiter = this.#waiters[0]!
      let found = -1
      for (let i = this.#cursor; i < this.seen.length; i++) {
        if (waiter.match(this.seen[i]!)) { found = i; break }
      }
      if (found === -1) return
      this.#cursor = found + 1
      this.#waiters.shift()
      waiter.resolve(this.seen[found]!)
    }
  }
}

/** Opens a real ws client; resolves once open, with a frame reader attached before any frame arrives. */
export async function connect (t: Test, url: string, options: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket, frames: Frames }> {
  const ws = new WebSocket(url, options)
  const frames = new Frames(ws)
  t.teardown(() => ws.terminate())
  await once(ws, 'open')
  return { ws, frames }
}

/** Resolves with the HTTP status of a refused upgrade (rejects if it was accepted). */
export async function upgradeStatus (url: string, options: WebSocket.ClientOptions = {}): Promise<number> {
  const ws = new WebSocket(url, options)
  return await new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume(); ws.terminate() })
    ws.on('open', () => { ws.terminate(); reject(new Error(`upgrade to ${url} was accepted`)) })
    ws.on('error', (err) => reject(err))
  })
}

/** Waits for a socket's close and returns [code, reason]. */
export async function closed (ws: WebSocket, timeoutMs = 5000): Promise<[number, string]> {
  if (ws.readyState === WebSocket.CLOSED) throw new Error('already closed')
  const timer = setTimeout(() => ws.terminate(), timeoutMs)
  const [code, reason] = await once(ws, 'close') as [number, Buffer]
  clearTimeout(timer)
  return [code, String(reason)]
}

/**
 * Polls `check` until it holds, for conditions that raise no event the test can listen to (a server-side count, a
 * file, a log line); fails after `timeoutMs` naming what it waited for.
 */
export async function waitFor (check: () => boolean | Promise<boolean>, what = 'a condition', timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
