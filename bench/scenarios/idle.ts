// Idle memory: what `sockets` open, idle sockets hold, read after a full GC before and after they
// open (JS heap + external, and RSS, per socket). With deflate, also after one compressed message
// each way, once zlib state exists.
import { setTimeout as sleep } from 'node:timers/promises'
import { closeAll, type Conn, openMany, readyOnOpen, until, wsPath } from '../lib/client.js'
import { body, deflatedFrame, echoFrame } from '../lib/frames.js'
import { type Collected, collected } from '../lib/proc.js'
import { Meter } from '../lib/stats.js'
import type { Target, Task, Window } from '../lib/types.js'

/**
 * Pushes about `mb` megabytes of 16 KB echoes through four sockets and waits until all are back.
 * The server then has allocated as under load: its young generation is touched end to end, and what
 * survived was scavenged into the old one. Run before the idle baseline and again before the idle
 * reading, so that the RSS difference is what the sockets hold, not where the GC happened to stand.
 */
export async function churn (target: Target, mb: number): Promise<void> {
  const size = 16384
  const sio = target.proto === 'sio'
  const one = echoFrame(sio, body(size))
  const sockets = 4
  const inflight = 4
  const perSocket = Math.ceil(mb * 1024 * 1024 / size / sockets)
  let back = 0
  const setup = (c: Conn) => {
    c.onData = (cc, head, headLen) => {
      if (sio && (headLen < 2 || head[1] !== 0x32)) return
      back++
      cc.owed++
    }
    c.afterChunk = (cc) => {
      while (cc.owed > 0 && cc.count < perSocket) {
        cc.owed--
        cc.count++
        cc.write(one)
      }
    }
  }
  const { conns, failed } = await openMany(target, sockets, () => wsPath(target, 'echo'), readyOnOpen(target), performance.now() + 10_000, setup)
  if (failed > 0) throw new Error(`churn: ${failed} of ${sockets} sockets failed to open`)
  for (const c of conns) {
    for (let k = 0; k < inflight; k++) c.write(one)
    c.count = inflight
  }
  const all = await until(() => back >= conns.length * perSocket, 20_000)
  closeAll(conns)
  if (!all) throw new Error(`churn: ${back} of ${conns.length * perSocket} echoes came back`)
}

/** What `sockets` sockets hold between reading `m0` and reading `m`, per socket (RSS, heap, external). */
export function memoryPerSocket (m0: Collected, m: Collected, sockets: number): Record<string, number> {
  return {
    rssBeforeBytes: m0.rss,
    rssAfterBytes: m.rss,
    bytesPerSocket: Math.round((m.rss - m0.rss) / sockets),
    heapBytesPerSocket: Math.round((m.heapUsed - m0.heapUsed) / sockets),
    externalBytesPerSocket: Math.round((m.external - m0.external) / sockets)
  }
}

export async function idleTask (target: Target, t: Extract<Task, { kind: 'idle' }>): Promise<Window[]> {
  const deflate = t.deflate === true
  const suffix = deflate ? ' deflate' : ''
  // every reading is taken after a full GC, on a server whose young generation has been used end to end
  await churn(target, 64)
  await sleep(t.settleMs / 2)
  const m0 = await collected(target.serverPid, target.memDir)
  const meter = new Meter(target.serverPid)
  let echoed = 0
  const setup = (c: Conn) => { c.onData = () => { echoed++ } }
  const { conns, failed, statuses } = await openMany(target, t.sockets, () => wsPath(target, 'echo'), readyOnOpen(target), performance.now() + 60_000, setup, deflate)
  if (failed > 0) throw new Error(`idle: ${failed} sockets failed ${JSON.stringify(statuses)}`)
  if (deflate && conns.some((c) => !c.deflated)) throw new Error('idle: permessage-deflate was not negotiated')
  await sleep(t.settleMs)
  const w = meter.finish(`idle ${t.sockets} sockets${suffix}`, 'socket', t.sockets, undefined, {})
  await churn(target, 64)
  await sleep(t.settleMs / 2)
  const perSocket = (m: Collected) => memoryPerSocket(m0, m, t.sockets)
  w.extra = perSocket(await collected(target.serverPid, target.memDir))
  w.rate = 0
  const windows = [w]
  if (deflate) {
    // zlib state is made on a socket's first compressed message and kept: one 2 KB message each way
    // (inflated, echoed, deflated) shows what a socket that has talked once costs
    const frame = deflatedFrame(Buffer.from(body(2048)))
    const primeMeter = new Meter(target.serverPid)
    for (const c of conns) c.write(frame)
    const all = await until(() => echoed >= t.sockets, 30_000)
    await sleep(t.settleMs)
    const p = primeMeter.finish(`idle ${t.sockets} sockets deflate, 1 msg each`, 'socket', t.sockets, undefined, {})
    p.extra = { ...perSocket(await collected(target.serverPid, target.memDir)), echoed }
    p.rate = 0
    if (!all) p.error = `${t.sockets - echoed} of ${t.sockets} messages not echoed`
    windows.push(p)
  }
  closeAll(conns)
  await sleep(500)
  return windows
}
