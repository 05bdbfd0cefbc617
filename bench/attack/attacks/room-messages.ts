// Room churn by messages: a chat socket to a room never used before, a few messages of the longest
// length allowed, close, next room. What a room keeps after its last member leaves (history, sequence,
// epoch) is what this grows, once per name.
import type WebSocket from 'ws'
import { loops, randomName, wsClose, wsOpen, type Attack, type AttackContext } from '../kit.js'

const CONCURRENCY = 8
const PER_ROOM = 3
/** CHAT_MAX_LENGTH's default */
const TEXT = 'x'.repeat(2000)
let cids = 0

/**
 * Sends `n` messages, then closes; resolves once the socket has closed. What the server sent until its
 * close is tallied by type, errors by code; each message carries a cid, so the acks count the messages
 * the server accepted (the rest were refused, or dropped with the closing socket).
 */
export async function sendMessages (ctx: AttackContext, ws: WebSocket, n: number): Promise<void> {
  ws.on('message', (data) => {
    let frame: { type?: unknown, code?: unknown }
    try { frame = JSON.parse(String(data)) as typeof frame } catch { frame = {} }
    ctx.tally.count(frame.type === 'error' ? `error frame ${String(frame.code)}` : `${String(frame.type)} frames`)
  })
  for (let k = 0; k < n; k++) ws.send(JSON.stringify({ type: 'message', text: TEXT, cid: `c${++cids}` }))
  ctx.tally.count('messages sent', n)
  await wsClose(ws)
}

export const roomMessages: Attack = {
  name: 'room-messages',
  unit: 'upgrades',
  async run (ctx) {
    await loops(CONCURRENCY, ctx.until, async () => {
      const ws = await wsOpen(ctx, `/ws/chat/${randomName()}`)
      if (ws !== undefined) await sendMessages(ctx, ws, PER_ROOM)
    })
  }
}
