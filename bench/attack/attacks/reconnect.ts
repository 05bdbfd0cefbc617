// Reconnect flood: one room, a new socket each time, each sending more than a burst's worth of
// messages. A rate bucket that lives and dies with the socket is full again on every reconnect.
import { loops, wsOpen, type Attack } from '../kit.js'
import { sendMessages } from './room-messages.js'

const CONCURRENCY = 4
/** above CHAT_RATE_BURST's default (20): the excess shows whether the limit holds across reconnects */
const PER_SOCKET = 25

export const reconnect: Attack = {
  name: 'reconnect',
  unit: 'upgrades',
  async run (ctx) {
    await loops(CONCURRENCY, ctx.until, async () => {
      const ws = await wsOpen(ctx, '/ws/chat/attack-reconnect')
      if (ws !== undefined) await sendMessages(ctx, ws, PER_SOCKET)
    })
  }
}
