// npm run soak: a bounded soak on loopback. The server runs in this process (so it can check its own
// registry, rooms, fds, handles and heap); all load comes from a child process.
//   phase 1: CYCLES connect/disconnect cycles (echo and chat)
//   phase 2: MESSAGES chat messages across ROOMS rooms; one reader per room drops and resumes with
//            since/epoch every RESUME_EVERY messages and must end with every seq exactly once.
// SOAK_SCALE=0.1 runs a tenth of it. Node must run with --expose-gc (the npm script does).
import { fork } from 'node:child_process'
import { readdirSync } from 'node:fs'
import WebSocket from 'ws'

const SCALE = Number(process.env.SOAK_SCALE ?? 1)
const CYCLES = Math.round(50_000 * SCALE)
const MESSAGES = Math.round(1_000_000 * SCALE)
const ROOMS = 20
const SENDERS_PER_ROOM = 2
const RESUME_EVERY = 2_000
// larger than what a reader can have in flight when it drops (its unread kernel buffers are lost with it)
const HISTORY = 10_000

interface Outcome { exactlyOnce: boolean, resumes: number, gaps: number, duplicates: number, truncated: number }

/** resolves once `check` holds, yielding to the event loop in between */
async function until (check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve))
}

if (process.argv[2] === 'client') await client(process.argv[3]!)
else await server()

async function server (): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with node --expose-gc (npm run soak)')
  const { buildApp } = await import('../src/app.js')
  const { loadConfig } = await import('../src/config/load.js')
  const app = await buildApp(loadConfig({
    LOG_LEVEL: 'warn',
    CHAT_RATE_PER_SEC: '1000000',
    CHAT_RATE_BURST: '1000000',
    HISTORY_SIZE: String(HISTORY),
    MAX_CONNECTIONS: '20000',
    MAX_CONNECTIONS_PER_IP: '20000',
    // 50,000 connect cycles from a few loopback addresses, as fast as they go
    UPGRADE_RATE_PER_SEC: '1000000',
    UPGRADE_RATE_BURST: '1000000',
    SEND_BUFFER_LIMIT_BYTES: String(64 * 1024 * 1024)
  }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const sample = () => {
    gc(); gc()
    return { heap: process.memoryUsage().heapUsed, fds: readdirSync('/proc/self/fd').length, handles: process.getActiveResourcesInfo().length }
  }
  const seqs = async () => await Promise.all(Array.from({ length: ROOMS }, async (_, r) => (await app.hub.store.summary(`soak${r}`))?.seq ?? 0))
  // warm up: code paths compiled and every room's history cycled twice through HISTORY_SIZE, so the baseline already
  // holds what a steady state holds (held history is state, not a leak)
  await runChild(url, { cycles: 500, messages: 2 * HISTORY * ROOMS, rooms: ROOMS, from: await seqs() })
  await settle(app)
  const base = sample()
  const started = Date.now()
  const result = await runChild(url, { cycles: CYCLES, messages: MESSAGES, rooms: ROOMS, from: await seqs() })
  const seconds = (Date.now() - started) / 1000
  await settle(app)
  const after = sample()
  const { rooms } = await app.hub.store.rooms()
  const members = rooms.reduce((n, r) => n + r.members, 0)
  const heapRatio = after.heap / base.heap
  const checks = {
    'registry empty': app.registry.size === 0,
    'rooms have no members': members === 0,
    'fds back at baseline': after.fds <= base.fds,
    'handles back at baseline': after.handles <= base.handles,
    'heap within 10% of baseline': heapRatio <= 1.10,
    'every resuming reader got every message exactly once': result.exactlyOnce
  }
  console.log(`readers: ${result.gaps} missing, ${result.duplicates} duplicated, ${result.truncated} truncated welcomes`)
  console.log(JSON.stringify({ cycles: CYCLES, messages: MESSAGES, rooms: ROOMS, seconds, resumes: result.resumes, base, after, heapRatio: Number(heapRatio.toFixed(3)), checks }, null, 2))
  await app.close()
  process.exit(Object.values(checks).every(Boolean) ? 0 : 1)
}

async function settle (app: { registry: { size: number } }): Promise<void> {
  const until = Date.now() + 10_000
  while (app.registry.size > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50))
  await new Promise((resolve) => setTimeout(resolve, 300))
}

async function runChild (url: string, plan: { cycles: number, messages: number, rooms: number, from: number[] }): Promise<Outcome> {
  const child = fork(new URL(import.meta.url).pathname, ['client', JSON.stringify({ url, ...plan })], { execArgv: ['--import', 'tsx'] })
  // bounded: a stalled run fails instead of hanging
  const limit = setTimeout(() => child.kill('SIGKILL'), 8 * 60_000)
  child.once('exit', () => clearTimeout(limit))
  const [msg] = await new Promise<[Outcome]>((resolve, reject) => {
    child.once('message', (m) => resolve([m as Outcome]))
    child.once('exit', (code) => { if (code !== 0) reject(new Error(`load child exited ${String(code)}`)) })
  })
  return msg
}

async function client (arg: string): Promise<void> {
  const { url, cycles, messages, rooms, from } = JSON.parse(arg) as { url: string, cycles: number, messages: number, rooms: number, from: number[] }
  // tens of thousands of short connections would exhaust one source address's ephemeral ports (TIME_WAIT):
  // spread them over 127.0.0.2-9, each with its own port range
  let n = 0
  const local = () => `127.0.0.${2 + (n++ % 8)}`
  const open = async (path: string) => await new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url + path, { localAddress: local() })
    ws.once('open', () => resolve(ws)); ws.once('error', reject)
  })
  const close = async (ws: WebSocket) => await new Promise((resolve) => { ws.once('close', resolve); ws.close() })

  // phase 1: connect/disconnect cycles, 50 at a time
  let done = 0
  await Promise.all(Array.from({ length: 50 }, async (_, w) => {
    while (done < cycles) {
      done++
      await close(await open(w % 5 === 0 ? `/ws/chat/cycle${w}?name=c${w}` : '/ws/echo'))
    }
  }))

  // phase 2: chat with resuming readers
  const perRoom = Math.floor(messages / rooms)
  let resumes = 0
  let truncated = 0
  // cids unique per run: the warm-up's are still held in history, and a repeat would (rightly) be deduped
  const run = Math.random().toString(36).slice(2, 8)
  const readers = Array.from({ length: rooms }, async (_, r) => {
    // this run's messages in room r are seqs first+1 .. first+perRoom
    const first = from[r]!
    const end = first + perRoom
    const seen = new Set<number>()
    let duplicates = 0
    let epoch: string | undefined
    let last = first
    while (last < end) {
      const q = epoch === undefined ? '' : `&since=${last}&epoch=${epoch}`
      const ws = new WebSocket(`${url}/ws/chat/soak${r}?name=reader${r}${q}`, { localAddress: local() })
      await new Promise<void>((resolve) => {
        let got = 0
        ws.on('message', (d) => {
          const f = JSON.parse(String(d)) as { type: string, seq: number, epoch: string, history: Array<{ seq: number }> }
          const take = (seq: number) => {
            if (seq <= first) return // history from before this run
            if (seen.has(seq)) duplicates++
            seen.add(seq); last = Math.max(last, seq); got++
          }
          if (f.type === 'welcome') {
            epoch = f.epoch
            if ((f as { truncated?: boolean }).truncated === true && resumes > 0) truncated++
            for (const m of f.history) take(m.seq)
          } else if (f.type === 'message') take(f.seq)
          if (last >= end || got >= RESUME_EVERY) ws.close()
        })
        ws.on('close', () => resolve())
      })
      resumes++
    }
    let gaps = 0
    for (let s = first + 1; s <= end; s++) if (!seen.has(s)) gaps++
    return { gaps, duplicates }
  })
  const senders = Array.from({ length: rooms * SENDERS_PER_ROOM }, async (_, i) => {
    const r = i % rooms
    const ws = await open(`/ws/chat/soak${r}?name=s${i}`)
    const mine = Math.floor(perRoom / SENDERS_PER_ROOM) + (i < rooms ? perRoom % SENDERS_PER_ROOM : 0)
    // bounded in flight: wait for our own acks every 200 messages
    let acked = 0
    ws.on('message', (d) => { if (String(d).startsWith('{"type":"ack"')) acked++ })
    for (let k = 0; k < mine; k++) {
      ws.send(`{"type":"message","text":"m${k}","cid":"${run}-${i}-${k}"}`)
      if (k % 200 === 199) await until(() => acked >= k - 100)
    }
    await until(() => acked >= mine)
    await close(ws)
  })
  await Promise.all(senders)
  const counts = await Promise.all(readers)
  const gaps = counts.reduce((n, c) => n + c.gaps, 0)
  const duplicates = counts.reduce((n, c) => n + c.duplicates, 0)
  const outcome: Outcome = { exactlyOnce: gaps === 0 && duplicates === 0, resumes, gaps, duplicates, truncated }
  process.send?.(outcome)
  process.exit(0)
}
