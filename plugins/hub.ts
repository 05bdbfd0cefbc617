import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Hub } from '../src/hub/hub.js'
import { MemoryStore } from '../src/hub/memory-store.js'
import type { HubStore } from '../src/hub/types.js'

declare module 'fastify' {
  interface FastifyInstance { hub: Hub }
}

export interface HubPluginOptions {
  /** a store to use instead of the embedded in-memory one (e.g. a Redis backplane) */
  store?: HubStore
}

async function hubPlugin (app: FastifyInstance, opts: HubPluginOptions) {
  const { config } = app
  const store = opts.store ?? new MemoryStore({ historySize: config.HISTORY_SIZE, historyTtlMs: config.HISTORY_TTL_MS })
  const hub = new Hub(store, {
    maxLength: config.CHAT_MAX_LENGTH,
    ratePerSec: config.CHAT_RATE_PER_SEC,
    rateBurst: config.CHAT_RATE_BURST,
    sendBufferLimit: config.SEND_BUFFER_LIMIT_BYTES,
    log: app.log
  })
  app.decorate('hub', hub)
  app.addHook('onClose', async () => await store.close())
}

export default fp(hubPlugin, { name: 'hub', dependencies: ['config'] })
