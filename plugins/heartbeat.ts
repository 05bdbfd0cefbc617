import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/**
 * Protocol-level keepalive: every interval each socket gets a ping; one that has not answered
 * the previous ping is terminated (a half-open peer never sends a close). Each round's pings carry
 * a fresh random payload and only a pong echoing it counts (RFC 6455: a pong answers with the ping's
 * payload, as browsers do), so unsolicited pongs cannot keep a silent peer alive. The pong handler
 * is installed by the registry. One timer for the whole instance.
 */
async function heartbeatPlugin (app: FastifyInstance) {
  const { registry } = app
  const timer = setInterval(() => {
    // one payload per round: only a pong that echoes it counts as an answer (see registry.pingRound)
    const nonce = registry.pingRound()
    for (const conn of registry.values()) {
      if (!conn.alive) {
        conn.endedBy = 'heartbeat timeout'
        app.log.warn({ connId: conn.id, route: conn.route, ip: conn.ip }, 'heartbeat timeout: terminating')
        conn.socket.terminate()
        continue
      }
      conn.alive = false
      conn.socket.ping(nonce)
    }
  }, app.realtimeConfig.HEARTBEAT_INTERVAL_MS)
  timer.unref()
  app.addHook('onClose', async () => clearInterval(timer))
}

export default fp(heartbeatPlugin, { name: 'heartbeat', dependencies: ['realtime-config', 'registry'] })
