import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from '../src/config/schema.js'

declare module 'fastify' {
  interface FastifyInstance { realtimeConfig: Config }
}

async function configPlugin (app: FastifyInstance, opts: { config: Config }) {
  app.decorate('realtimeConfig', opts.config)
}

export default fp(configPlugin, { name: 'realtime-config' })
