// Upgrade flood: as many WebSocket upgrades a second as one address can make, more at once than the
// per-address cap, each closed as soon as it opens.
import { loops, wsClose, wsOpen, type Attack } from '../kit.js'

/** above MAX_CONNECTIONS_PER_IP's default (200), so the cap is reached while the flood runs */
const CONCURRENCY = 256

export const upgradeFlood: Attack = {
  name: 'upgrade-flood',
  unit: 'upgrades',
  async run (ctx) {
    await loops(CONCURRENCY, ctx.until, async () => {
      const ws = await wsOpen(ctx, '/ws/echo')
      if (ws !== undefined) await wsClose(ws)
    })
  }
}
