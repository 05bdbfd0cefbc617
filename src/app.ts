import { STATUS_CODES } from 'node:http'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import websocket from '@fastify/websocket'
import fastifyStatic from '@fastify/static'
import type { Config } from './config/schema.js'
import type { HubStore } from './hub/types.js'
import { UnavailableError } from './hub/errors.js'
import configPlugin from '../plugins/config.js'
import lifecyclePlugin from '../plugins/lifecycle.js'
import securityHeadersPlugin from '../plugins/security-headers.js'
import loadSheddingPlugin from '../plugins/load-shedding.js'
import registryPlugin from '../plugins/registry.js'
import upgradeGuardPlugin from '../plugins/upgrade-guard.js'
import limitsPlugin from '../plugins/limits.js'
import heartbeatPlugin from '../plugins/heartbeat.js'
import hubPlugin from '../plugins/hub.js'
import apiAuthPlugin from '../plugins/api-auth.js'
import authPlugin from '../plugins/auth.js'
import { logSerializers, redactLogArgs } from './auth/log-redaction.js'
import metricsPlugin from '../plugins/metrics.js'
import healthRoutes from '../routes/health.js'
import echoRoutes from '../routes/echo.js'
import timeRoutes from '../routes/time.js'
import chatRoutes from '../routes/chat.js'
import hubRoutes from '../routes/hub.js'
import userRoutes from '../routes/users.js'
import roomRoutes from '../routes/rooms.js'
import configRoutes from '../routes/config.js'
import connectionRoutes from '../routes/connections.js'
import ticketRoutes from '../routes/tickets.js'

export interface BuildOptions {
  /** a pino logger (or options) to use instead of the one built from LOG_LEVEL */
  logger?: FastifyServerOptions['logger']
  loggerInstance?: FastifyServerOptions['loggerInstance']
  /** a hub store to use instead of the embedded in-memory one */
  store?: HubStore
}

const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url))
// the compiled app runs from dist/src/: public/ is two levels up
const publicDir = PUBLIC_DIR.includes('/dist/') ? fileURLToPath(new URL('../../public/', import.meta.url)) : PUBLIC_DIR

export function loggerOptions (config: Config) {
  return {
    level: config.LOG_LEVEL,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
    // a browser's connection token travels in the upgrade URL (?token=): never in a log line
    serializers: logSerializers,
    hooks: { logMethod: redactLogArgs }
  }
}

export async function buildApp (config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    ...(opts.loggerInstance !== undefined
      ? { loggerInstance: opts.loggerInstance.child({}, { serializers: logSerializers }) }
      : { logger: opts.logger ?? loggerOptions(config) }),
    trustProxy: config.TRUST_PROXY,
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
  await app.register(securityHeadersPlugin)
  await app.register(websocket, {
    options: {
      maxPayload: config.MAX_PAYLOAD_BYTES,
      // ws 8.23's guards, explicit so they do not change under us: a message in more than 1,024 fragments,
      // or a frame trickled in more than 1,024 chunks, is refused with 1008 before it can pile up
      maxFragments: 1024,
      maxBufferedChunks: 1024,
      // the registry tracks sockets; ws's own Set would be a second copy of every entry
      clientTracking: false,
      // permessage-deflate when PERMESSAGE_DEFLATE is on. ws enforces maxPayload on the inflated size, so a small
      // compressed frame cannot inflate past MAX_PAYLOAD_BYTES (1009). zlib state is made on a socket's first
      // compressed message and kept until it closes, so the options keep what can be kept small:
      // - a threshold: acks, presence and time ticks go uncompressed; deflate's per-message cost buys nothing there
      // - no context takeover either way: each message stands alone, no history is carried between messages
      // - a low level and memLevel: most of the default's ratio for a fraction of its CPU and deflate state
      // No serverMaxWindowBits or clientMaxWindowBits: with either set, ws answers 400 to an offer it cannot
      // match instead of declining the extension.
      perMessageDeflate: config.PERMESSAGE_DEFLATE
        ? { threshold: 1024, serverNoContextTakeover: true, clientNoContextTakeover: true, zlibDeflateOptions: { level: 3, memLevel: 4 } }
        : false
    },
    // shutdown is the registry plugin's (plugins/registry). The default preClose would also unhook
    // upgrades, so one arriving while the sockets drain would get a reset instead of the guard's 503.
    preClose (done: () => void) { done() }
  })
  await app.register(registryPlugin)
  await app.register(lifecyclePlugin)
  await app.register(loadSheddingPlugin) // after websocket's req.ws hook, before every guard
  // hook order is answer order: guard (405/400/404/503/403), limits (503 capacity), auth (401),
  // limits again once the user is known (429), then each route's schema (400) and preHandler (403)
  await app.register(upgradeGuardPlugin)
  await app.register(limitsPlugin)
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
      error: STATUS_CODES[status] ?? 'Error', // the status's name: an error class's (FastifyError, TypeError) tells a client nothing
      message: status >= 500 ? 'internal error' : err.message
    })
  })

  await app.register(fastifyStatic, { root: publicDir, wildcard: true })
  await app.register(healthRoutes)
  await app.register(echoRoutes)
  await app.register(timeRoutes)
  await app.register(chatRoutes)
  await app.register(hubRoutes)
  await app.register(userRoutes)
  await app.register(roomRoutes)
  await app.register(configRoutes)
  await app.register(connectionRoutes)
  await app.register(ticketRoutes)
  return app
}
