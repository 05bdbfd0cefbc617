import type { FastifyInstance } from 'fastify'

const started = Date.now()

/** Liveness (/health) and readiness (/ready) for load balancers and orchestrators. */
export default async function healthRoutes (app: FastifyInstance) {
  app.get('/health', async () => ({
    status: 'ok',
    uptimeMs: Date.now() - started,
    connections: { total: app.registry.size, ...app.registry.countByRoute() }
  }))

  app.get('/ready', async (_req, reply) => {
    const reason = app.lifecycle.notReady()
    if (reason !== undefined) return await reply.code(503).send({ status: 'unavailable', reason })
    return { status: 'ready' }
  })
}
