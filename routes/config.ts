import type { FastifyInstance } from 'fastify'

/** What a browser page needs to know about the server, and nothing secret. */
export default async function configRoutes (app: FastifyInstance) {
  app.get('/config', async () => ({
    authMode: app.auth.mode,
    chatMaxLength: app.realtimeConfig.CHAT_MAX_LENGTH,
    timeIntervalMs: app.realtimeConfig.TIME_INTERVAL_MS
  }))
}
