import Fastify, { LogController, type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify'
import type { Config } from './config/schema.js'
import type { HubStore } from './hub/types.js'
import { logSerializers, redactLogArgs } from './auth/log-redaction.js'
import realtime, { sendError } from '../plugins/realtime.js'
import requestLog from '../plugins/request-log.js'

export interface BuildOptions {
  /** a pino logger (or options) to use instead of the one built from LOG_LEVEL */
  logger?: FastifyServerOptions['logger']
  loggerInstance?: FastifyServerOptions['loggerInstance']
  /** a hub store to use instead of the embedded in-memory one */
  store?: HubStore
  /** more route plugins inside the realtime context (see plugins/realtime) */
  routes?: FastifyPluginAsync[]
}

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
    return503OnClosing: true,
    // plugins/request-log writes one line per request instead
    logController: new LogController({ disableRequestLogging: true })
  })

  // the service: the whole of the realtime plugin at the root, with the page and the root's 404 and errors
  app.setErrorHandler(sendError)
  await app.register(requestLog)
  await app.register(realtime, {
    config,
    page: true,
    notFound: true,
    ...(opts.store !== undefined ? { store: opts.store } : {}),
    routes: [...(opts.routes ?? []), exposeInternals(app)]
  })
  return app
}

/**
 * The service's own routes and its tests reach the plugin's internals as root decorators (`app.registry`,
 * `app.hub`, ...). Only the service does this: a host sees `app.realtime` alone.
 */
function exposeInternals (root: FastifyInstance): FastifyPluginAsync {
  return async function internals (app) {
    for (const name of ['realtimeConfig', 'registry', 'lifecycle', 'auth', 'limits', 'hub', 'injectWS'] as const) root.decorate(name, app[name] as never)
    if (app.hasDecorator('metrics')) root.decorate('metrics', app.metrics)
  }
}
