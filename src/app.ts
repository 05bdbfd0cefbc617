import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import websocket from '@fastify/websocket'
import fastifyStatic from '@fastify/static'
import type { WebSocket } from 'ws'
import type { Config } from './config/schema.js'
import type { HubStore } from './hub/types.js'
import { UnavailableError } from './hub/hub.js'
import configPlugin from '../plugins/config.js'
import lifecyclePlugin from '../plugins/lifecycle.js'
import loadSheddingPlugin from '../plugins/load-shedding.js'
import registryPlugin from '../plugins/registry.js'
import upgradeGuardPlugin from '../plugins/upgrade-guard.js'
import heartbeatPlugin from '../plugins/heartbeat.js'
import hubPlugin from '../plugins/hub.js'
import apiAuthPlugin from '../plugins/api-auth.js'
import authPlugin from '../plugins/auth.js'
import { redactToken } from './auth/jwt.js'
import metricsPlugin from '../plugins/metrics.js'
import healthRoutes from '../routes/health.js'
import echoRoutes from '../routes/echo.js'
import timeRoutes from '../routes/time.js'
import chatRoutes from '../routes/chat.js'
import roomRoutes from '../routes/rooms.js'
import configRoutes from '../routes/config.js'
import connectionRoutes from '../routes/connections.js'

export interface BuildOptions {
  /** a pino logger (or options) to use instead of the one built from LOG_LEVEL */
  logger?: FastifyServerOptions['logger']
  loggerInstance?: FastifyServerOptions['loggerInstance']
  /** a hub store to use instead of the embedded in-memory one */
  store?: HubStore
}

const OPEN = 1

// permessage-deflate when PERMESSAGE_DEFLATE is on. ws enforces maxPayload on the inflated size, so a
// small compressed frame cannot inflate past MAX_PAYLOAD_BYTES (1009). zlib state is made on a socket's
// first compressed message and kept (reset, not freed) until it closes: ~240 KB of RSS per socket that has
// sent and received one (npm run bench), so the options keep what can be kept small:
// - threshold 1 KB: acks, presence and time ticks go uncompressed; deflate's per-message cost buys nothing there
// - no context takeover both ways: each message stands alone, no history is carried between messages
// - level 3: 5x faster than the default level on a 16 KB text, at a ratio of 10.6x instead of 13.5x (4.0x
//   vs 4.2x on 3 KB of JSON); memLevel 4: the same ratios, 120 KB less deflate state than memLevel 8
//   (bench echo 50x16 KB deflate: 88 µs/msg vs 100 at memLevel 7). zlib's 16 KB output chunks are kept:
//   4 KB chunks saved 5 KB per socket and cost 50% more CPU per message
// No serverMaxWindowBits or clientMaxWindowBits: with either set, ws answers 400 to an offer it cannot
// match (a smaller server window, no client_max_window_bits) instead of declining the extension. A 2^10
// server window would halve the memory (116 KB per socket measured) at that price.
const PERMESSAGE_DEFLATE = {
  threshold: 1024,
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  zlibDeflateOptions: { level: 3, memLevel: 4 }
}
export const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url))
// the compiled app runs from dist/src/: public/ is two levels up
const publicDir = PUBLIC_DIR.includes('/dist/') ? fileURLToPath(new URL('../../public/', import.meta.url)) : PUBLIC_DIR

export function loggerOptions (config: Config) {
  return {
    level: config.LOG_LEVEL,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
    // a browser's connection token travels in the upgrade URL (?token=): never in a log line
    serializers: { req: requestSerializer }
  }
}

/** Fastify's request fields, with the URL's token redacted. */
export function requestSerializer (req: { method: string, url: string, host?: string, ip?: string, socket?: { remotePort?: number } }) {
  return { method: req.method, url: redactToken(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort }
}

export async function buildApp (config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    ...(opts.loggerInstance !== undefined
      ? { loggerInstance: opts.loggerInstance.child({}, { serializers: { req: requestSerializer } }) }
      : { logger: opts.logger ?? loggerOptions(config) }),
    // Fastify accepts a hop count at run time; its typings omit the number form
    trustProxy: config.TRUST_PROXY as boolean | string[],
    // sockets are closed by the registry on shutdown; idle keep-alive HTTP ones by Fastify
    forceCloseConnections: 'idle',
    // slowloris: a request (an upgrade included) must deliver its headers within HEADERS_TIMEOUT_MS (else
    // 408) and finish within 3x that; Node checks at most every second. A connection that goes silent is
    // cut after 2x HEADERS_TIMEOUT_MS of inactivity (that also ends idle keep-alive sockets). Upgraded
    // sockets leave both: Node stops tracking them and ws clears their idle timeout (setTimeout(0)).
    requestTimeout: config.HEADERS_TIMEOUT_MS * 3,
    connectionTimeout: config.HEADERS_TIMEOUT_MS * 2,
    http: {
      headersTimeout: config.HEADERS_TIMEOUT_MS,
      connectionsCheckingInterval: Math.min(1000, config.HEADERS_TIMEOUT_MS)
    },
    return503OnClosing: true
  })

  await app.register(configPlugin, { config })
  await app.register(lifecyclePlugin)
  await app.register(websocket, {
    options: {
      maxPayload: config.MAX_PAYLOAD_BYTES,
      // ws 8.23's guards, explicit so they do not change under us: a message in more than 1,024 fragments,
      // or a frame trickled in more than 1,024 chunks, is refused with 1008 before it can pile up
      maxFragments: 1024,
      maxBufferedChunks: 1024,
      // the registry tracks sockets; ws's own Set would be a second copy of every entry
      clientTracking: false,
      perMessageDeflate: config.PERMESSAGE_DEFLATE ? PERMESSAGE_DEFLATE : false
    },
    // ws reports protocol errors (1002/1007/1009) after it has already started the close
    // handshake with the right code; anything else was thrown by our handler: 1011
    errorHandler (error: Error, socket: WebSocket, req) {
      req.log.info({ err: error }, 'ws error')
      if (socket.readyState === OPEN) socket.close(1011, 'internal error')
    },
    preClose (this: FastifyInstance, done: () => void) {
      this.lifecycle.draining = true
      const grace = Math.floor(this.config.SHUTDOWN_TIMEOUT_MS / 2)
      this.registry.closeAll(1001, 'server shutting down', grace).then(() => done(), done)
    }
  })
  await app.register(loadSheddingPlugin) // after websocket's req.ws hook, before every guard
  await app.register(registryPlugin)
  await app.register(upgradeGuardPlugin)
  await app.register(authPlugin)
  await app.register(heartbeatPlugin)
  await app.register(hubPlugin, opts.store !== undefined ? { store: opts.store } : {})
  await app.register(apiAuthPlugin)
  if (config.METRICS_ENABLED) await app.register(metricsPlugin)

  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `${req.method} ${req.url.split('?')[0]} not found` })
  })
  app.setErrorHandler((err: Error & { statusCode?: number, validation?: unknown }, req, reply) => {
    if (err instanceof UnavailableError) {
      return reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: err.message })
    }
    const status = err.statusCode ?? 500
    if (status >= 500) req.log.error({ err }, 'request failed')
    return reply.code(status).send({
      statusCode: status,
      error: status >= 500 ? 'Internal Server Error' : (err.name === 'FastifyError' ? 'Bad Request' : err.name),
      message: status >= 500 ? 'internal error' : err.message
    })
  })

  await app.register(fastifyStatic, { root: publicDir, wildcard: true })
  await app.register(healthRoutes)
  await app.register(echoRoutes)
  await app.register(timeRoutes)
  await app.register(chatRoutes)
  await app.register(roomRoutes)
  await app.register(configRoutes)
  await app.register(connectionRoutes)
  return app
}
