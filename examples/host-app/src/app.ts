// A host with a life of its own (routes, a `config` decorator, an error handler) that mounts the realtime
// plugin under /rt and publishes into its rooms from one of its own routes.
import Fastify, { type FastifyInstance } from 'fastify'
import realtime from 'fastify-realtime'

export interface HostConfig {
  greeting: string
  /** share the rooms with other instances and publishers */
  redisUrl?: string | undefined
}

declare module 'fastify' {
  interface FastifyInstance { config: HostConfig }
}

export async function buildHost (config: HostConfig): Promise<FastifyInstance> {
  const app = Fastify()
  app.decorate('config', config)
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    return reply.code(err.statusCode ?? 500).send({ ok: false, reason: err.message })
  })

  app.get('/', async () => ({ greeting: app.config.greeting }))
  app.get('/fail', async () => { throw Object.assign(new Error('the host says no'), { statusCode: 409 }) })

  await app.register(realtime, {
    prefix: '/rt',
    historySize: 50,
    ...(config.redisUrl !== undefined ? { redisUrl: config.redisUrl } : {})
  })

  app.post<{ Params: { room: string }, Body: { text: string } }>('/announce/:room', async (req, reply) => {
    const published = await app.realtime.publish(req.params.room, { text: req.body.text, from: 'host' })
    return await reply.code(201).send(published)
  })
  // an application event with data: what src/client-check.ts subscribes to
  app.post<{ Params: { room: string }, Body: { usd: number } }>('/prices/:room', async (req, reply) => {
    const published = await app.realtime.publish(req.params.room, { event: 'price', data: { usd: req.body.usd }, from: 'host' })
    return await reply.code(201).send(published)
  })
  return app
}
