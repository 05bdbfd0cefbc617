// Room churn by messages: a chat socket to a room never used before, a few messages of the longest
// length allowed, close, next room. What a room keeps after its last member leaves (history, sequence,
// epoch) is what this grows, once per name.
import type WebSocket from 'ws'
import { loops, randomName, wsClose, wsOpen, type Attack, type AttackContext } from '../kit.js'

const CONCURRENCY = 8
const PER_ROOM = 3
/** CHAT_MAX_LENGTH's default */
const TEXT = 'x'.repeat(2000)

/**
 * Sends `n` messages, then closes; resolves once the server has answered them all (its close comes
 * after what it sent for the frames before ours). Its frames are tallied by type, errors by code.
 */
export async function sendMessages (ctx: AttackContext, ws: WebSocket, n: number): Promise<void> {
  ws.on('message', (data) => {
    let frame: { type?: unknown, code?: unknown }
    try { frame = JSON.parse(String(data)) as typeof frame } catch { frame = {} }
    ctx.tally.count(frame.type === 'error' ? `error frame ${String(frame.code)}` : `${String(frame.type)} frames`)
  })
  for (let k = 0; k < n; k++) ws.send(TEXT)
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
