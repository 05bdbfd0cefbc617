// Big unauthenticated bodies: publishes of about 1 MiB with no token or a wrong one. Fastify parses a
// body before preHandler hooks run, so a token checked there is checked after the megabyte was read.
import { httpCall, httpLoops, type Attack } from '../kit.js'

/** just under Fastify's default bodyLimit (1 MiB): read and parsed in full, the costliest case */
const BODY = Buffer.from(JSON.stringify({ text: 'x'.repeat(1024 * 1024 - 64) }))
const WRONG = { authorization: 'Bearer not-the-token-not-the-token' }

export const bigBodies: Attack = {
  name: 'big-bodies',
  unit: '1 MiB POSTs',
  async run (ctx) {
    await httpLoops(ctx, 8, async (agent, i) => {
      const headers = { 'content-type': 'application/json', ...(i % 2 === 0 ? {} : WRONG) }
      await httpCall(ctx, agent, 'POST', '/rooms/lobby/messages', BODY, headers)
      ctx.tally.count('body MB sent', BODY.length / 1048576)
    })
  }
}
