// Echo: `sockets` sockets each keep `inflight` messages outstanding; throughput, server CPU per
// message, and latency from send to echo.
import { setTimeout as sleep } from 'node:timers/promises'
import { closeAll, type Conn, now, openMany, readyOnOpen, stampNow, wsPath } from '../lib/client.js'
import { body, deflatedFrame, echoFrame } from '../lib/frames.js'
import { Meter, Samples } from '../lib/stats.js'
import type { Target, Task, Window } from '../lib/types.js'

export async function echoTask (target: Target, t: Extract<Task, { kind: 'echo' }>): Promise<Window[]> {
  const payload = body(t.size)
  // with deflate the client compresses as a real one would: the server inflates and deflates every message
  const one = target.proto !== 'sio' && t.deflate === true ? deflatedFrame(Buffer.from(payload)) : echoFrame(target.proto === 'sio', payload)
  const batch = Buffer.concat(Array.from({ length: t.inflight }, () => one))
  const frameLen = one.length
  const samples = new Samples()
  let measuring = false
  let sending = true
  let total = 0
  const setup = (c: Conn) => {
    c.ring = new Float64Array(t.inflight)
    // echo keeps order per socket, so the oldest send time in the ring is this reply's
    c.onData = (cc, head, headLen) => {
      if (target.proto === 'sio' && (headLen < 2 || head[1] !== 0x32)) return
      const sent = cc.ring![cc.rTail]!
      cc.rTail = (cc.rTail + 1) % t.inflight
      if (measuring) {
        samples.add(now - sent)
        total++
      }
      cc.owed++
    }
    c.afterChunk = (cc) => {
      const owed = cc.owed
      if (owed === 0 || !sending) return
      cc.owed = 0
      cc.write(owed === t.inflight ? batch : batch.subarray(0, owed * frameLen))
      for (let k = 0; k < owed; k++) {
        cc.ring![cc.rHead] = now
        cc.rHead = (cc.rHead + 1) % t.inflight
      }
    }
  }
  const deadline = performance.now() + 30_000
  const { conns, failed, statuses } = await openMany(target, t.sockets, () => wsPath(target, 'echo'), readyOnOpen(target), deadline, setup, t.deflate === true)
  if (failed > 0) throw new Error(`echo: ${failed} of ${t.sockets} sockets failed to open ${JSON.stringify(statuses)}`)
  if (t.deflate === true && conns.some((c) => !c.deflated)) throw new Error('echo: permessage-deflate was not negotiated')
  const start = stampNow()
  for (const c of conns) {
    c.write(batch)
    for (let k = 0; k < t.inflight; k++) c.ring![k] = start
  }
  await sleep(t.warmupMs)
  measuring = true
  const meter = new Meter(target.serverPid, () => total, samples)
  await sleep(t.durationMs)
  const w = meter.finish(`echo ${t.sockets}x${t.size}B${t.deflate === true ? ' deflate' : ''}`, 'msg', total, samples,
    { sockets: t.sockets, size: t.size, inflight: t.inflight })
  measuring = false
  sending = false
  const dropped = conns.filter((c) => c.closed).length
  if (dropped > 0) w.error = `${dropped} sockets closed during the run`
  closeAll(conns)
  await sleep(200)
  return [w]
}
