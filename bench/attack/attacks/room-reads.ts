// Room churn by reads: GET /rooms/<name> and /rooms/<name>/history for names never used before. A
// read that creates a room (or caches its miss) would make every new name a little more memory.
import { httpCall, httpLoops, randomName, type Attack } from '../kit.js'

export const roomReads: Attack = {
  name: 'room-reads',
  unit: 'GETs',
  async run (ctx) {
    await httpLoops(ctx, 16, async (agent, i) => {
      const room = randomName()
      await httpCall(ctx, agent, 'GET', i % 2 === 0 ? `/rooms/${room}` : `/rooms/${room}/history`)
    })
  }
}
