import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/**
 * Protocol-level keepalive: every interval each socket gets a ping; one that has not answered
 * the previous ping is terminated (a half-open peer never sends a close). The pong handler is
 * installed by the registry. One timer for the whole instance.
 */
async function heartbeatPlugin (app: FastifyInstance) {
  const { registry } = app
  const timer = setInterval(() => {
    for (const conn of registry.values()) {
      if (!conn.alive) {
        conn.endedBy = 'heartbeat timeout'
        app.log.warn({ connId: conn.id, route: conn.route, ip: conn.ip }, 'heartbeat timeout: terminating')
        conn.socket.terminate()
        continue
      }
      conn.alive = false
      conn.socket.ping()
    }
  }, app.config.HEARTBEAT_INTERVAL_MS)
  timer.unref()
  app.addHook('onClose', async () => clearInterval(timer))
}

export default fp(heartbeatPlugin, { name: 'heartbeat', dependencies: ['config', 'registry'] })
