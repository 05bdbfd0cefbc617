import { STATUS_CODES } from 'node:http'
import { fileURLToPath } from 'node:url'
import fp from 'fastify-plugin'
import websocket, { type WebsocketPluginOptions } from '@fastify/websocket'
import fastifyStatic from '@fastify/static'
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../src/config/schema.js'
import { configFromOptions, type RealtimeSettings } from '../src/config/options.js'
import type { HubStore, RoomsPage } from '../src/hub/types.js'
import type { Hub } from '../src/hub/hub.js'
import type { ConnectionRegistry } from '../src/registry/registry.js'
import { UnavailableError } from '../src/hub/errors.js'
import { RealtimeError, draftOf, publishedOf, roomOf, userStreamOf, type PublishInput, type Published } from '../src/hub/publish.js'
import configPlugin from './config.js'
import lifecyclePlugin from './lifecycle.js'
import securityHeadersPlugin from './security-headers.js'
import loadSheddingPlugin from './load-shedding.js'
import registryPlugin from './registry.js'
import upgradeGuardPlugin from './upgrade-guard.js'
import limitsPlugin from './limits.js'
import heartbeatPlugin from './heartbeat.js'
import hubPlugin from './hub.js'
import apiAuthPlugin from './api-auth.js'
import authPlugin from './auth.js'
import metricsPlugin from './metrics.js'
import openapiPlugin from './openapi.js'
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

export { RealtimeError, type PublishInput, type Published }

/** What a host passes to `app.register(realtime, { prefix, ...options })`. */
export interface RealtimeOptions extends RealtimeSettings {
  /** serve the browser page (public/) under the prefix; off by default */
  page?: boolean
  /** /ws/echo (default on) */
  echo?: boolean
  /** /ws/time (default on) */
  time?: boolean
  /** the hub's routes: /ws/hub, /ws/chat/:room, the HTTP rooms API and POST /users/:userId/messages (default on); `app.realtime.publish` works either way */
  hub?: boolean
  /** GET /openapi.json: the HTTP routes as OpenAPI 3.1, from their schemas (default on) */
  openapi?: boolean
  /** answer unknown paths under the prefix with the error shape; default on with a prefix, off without (the host's 404 stays) */
  notFound?: boolean
  /** a hub store instead of the one the settings choose (embedded, or Redis with `redisUrl`) */
  store?: HubStore
  /** an already validated config (the service passes the one loadConfig read from its environment) */
  config?: Config
  /** more route plugins, registered inside the realtime context: they get its decorators, guards and auth */
  routes?: FastifyPluginAsync[]
}

/** The options that are not settings. */
const PLUGIN_OPTIONS = ['prefix', 'page', 'echo', 'time', 'hub', 'openapi', 'notFound', 'store', 'config', 'routes', 'logLevel', 'logSerializers'] as const

/** The one object the plugin puts on the host: `app.realtime`. */
export class Realtime {
  /** @internal the encapsulated context holding the routes and the internal decorators */
  context!: FastifyInstance

  constructor (readonly config: Config, readonly prefix: string) {}

  get hub (): Hub { return this.context.hub }
  /** the open sockets: size, countByRoute(), values() */
  get registry (): ConnectionRegistry { return this.context.registry }

  /** Publishes to a room as the HTTP API does: the next seq, held in history, sent to members on every instance. */
  async publish (room: string, msg: PublishInput): Promise<Published> {
    return await this.#publish(roomOf(room), msg)
  }

  /**
   * Publishes to a user's personal stream (`@<userId>`): held and resumable like a room, delivered to every
   * hub and chat socket of that user on every instance. Only with authMode 'jwt' (else no socket has a user).
   */
  async publishToUser (userId: string, msg: PublishInput): Promise<Published> {
    if (this.config.AUTH_MODE !== 'jwt') throw new RealtimeError(400, 'personal streams need authMode jwt')
    return await this.#publish(userStreamOf(userId), msg)
  }

  async #publish (stream: string, msg: PublishInput): Promise<Published> {
    const draft = draftOf(msg, { maxLength: this.config.CHAT_MAX_LENGTH, maxDataBytes: this.config.MAX_DATA_BYTES })
    const result = await this.hub.publish(stream, draft)
    if ('error' in result) throw new RealtimeError(400, result.error.message)
    return publishedOf(result)
  }

  /** A page of held rooms, in name order; `next` is the cursor of the following page. */
  async rooms (opts: { limit?: number, cursor?: string } = {}): Promise<RoomsPage> {
    return await this.hub.store.rooms(opts.limit ?? 100, opts.cursor)
  }
}

declare module 'fastify' {
  interface FastifyInstance { realtime: Realtime }
}

/** Every HTTP error as `{statusCode, error, message}`, `error` the status's name; a 5xx hides its cause. */
export function sendError (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof UnavailableError) return reply.code(503).send({ statusCode: 503, error: STATUS_CODES[503], message: err.message })
  const status = (err as { statusCode?: number }).statusCode ?? 500
  if (status >= 500) req.log.error({ err }, 'request failed')
  return reply.code(status).send({
    statusCode: status,
    error: STATUS_CODES[status] ?? 'Error',
    message: status >= 500 ? 'internal error' : err.message
  })
}

export function sendNotFound (req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply.code(404).send({ statusCode: 404, error: STATUS_CODES[404], message: `${req.method} ${req.url.split('?')[0]} not found` })
}

const PUBLIC_DIR = fileURLToPath(new URL('../public/', import.meta.url))
// the compiled plugin runs from dist/plugins/: public/ is two levels up
const publicDir = PUBLIC_DIR.includes('/dist/') ? fileURLToPath(new URL('../../public/', import.meta.url)) : PUBLIC_DIR

type WsOptions = NonNullable<WebsocketPluginOptions['options']>

/**
 * The `ws` server options the plugin's sockets need: its limits, from the settings. The plugin registers
 * @fastify/websocket with them; a host that registers @fastify/websocket itself (for WebSocket routes of its own)
 * must pass them, `app.register(websocket, { options: websocketOptions(opts) })` with the same options it gives
 * the plugin, since there is one ws server per Fastify server.
 */
export function websocketOptions (opts: RealtimeOptions = {}): WsOptions {
  const config = opts.config ?? configFromOptions(opts as Record<string, unknown>, PLUGIN_OPTIONS)
  return {
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
  } as WsOptions
}

/** The options whose difference would lift or change a limit of the plugin's sockets. */
const GUARDED = ['maxPayload', 'maxFragments', 'maxBufferedChunks', 'perMessageDeflate'] as const

/**
 * A host that registered @fastify/websocket itself: its ws server serves the plugin's routes too, so it must
 * hold the plugin's limits. Names every option that differs, rather than letting a larger maxPayload through.
 */
function checkHostWebsocket (host: FastifyInstance, wanted: WsOptions): void {
  const have = (host.websocketServer as unknown as { options: Record<string, unknown> }).options
  const want = wanted as Record<string, unknown>
  const differ = GUARDED.filter((k) => JSON.stringify(have[k]) !== JSON.stringify(want[k]))
  if (differ.length === 0) return
  const named = differ.map((k) => `${k} (${JSON.stringify(have[k])}, needs ${JSON.stringify(want[k])})`).join(', ')
  throw new Error(`fastify-realtime: @fastify/websocket is already registered with other ${named}: ` +
    'register it with { options: websocketOptions(sameOptions) } from fastify-realtime, or let the plugin register it')
}

/**
 * Everything lives in one encapsulated context under the prefix: hooks (guards, caps, auth, load shedding,
 * security headers), the error handler and the internal decorators touch only the plugin's own routes. The
 * host gets `app.realtime` and nothing else; `app.close()` drains the sockets with 1001.
 */
async function realtime (host: FastifyInstance, opts: RealtimeOptions & { prefix?: string }) {
  const config = opts.config ?? configFromOptions(opts as Record<string, unknown>, PLUGIN_OPTIONS)
  const prefix = opts.prefix ?? ''
  const api = new Realtime(config, prefix)
  const wsOptions = websocketOptions({ config })
  // one ws server per Fastify server: a host's own @fastify/websocket serves the plugin's routes too
  const hostWebsocket = host.hasDecorator('websocketServer')
  if (hostWebsocket) checkHostWebsocket(host, wsOptions)
  else {
    // registered after the plugin, the host's would be a second ws server answering the same upgrades
    host.addHook('onReady', async () => {
      if (host.hasDecorator('websocketServer')) throw new Error('fastify-realtime: register @fastify/websocket before fastify-realtime, with { options: websocketOptions(sameOptions) }')
    })
  }
  host.decorate('realtime', api)

  await host.register(async function realtimeContext (app: FastifyInstance) {
    api.context = app
    app.setErrorHandler(sendError)
    if (opts.notFound ?? prefix !== '') app.setNotFoundHandler(sendNotFound)

    await app.register(configPlugin, { config })
    // before every hook that asks req.ws (@fastify/websocket's own onRequest sets it): security headers skip upgrades
    if (!hostWebsocket) {
      await app.register(websocket, {
        options: wsOptions,
        // shutdown is the registry plugin's (plugins/registry). The default preClose would also unhook
        // upgrades, so one arriving while the sockets drain would get a reset instead of the guard's 503.
        preClose (done: () => void) { done() }
      })
    }
    await app.register(securityHeadersPlugin)
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
    if (opts.openapi !== false) await app.register(openapiPlugin)

    if (opts.page === true) await app.register(fastifyStatic, { root: publicDir, wildcard: true })
    await app.register(healthRoutes)
    if (opts.echo !== false) await app.register(echoRoutes)
    if (opts.time !== false) await app.register(timeRoutes)
    if (opts.hub !== false) {
      await app.register(chatRoutes)
      await app.register(hubRoutes)
      await app.register(userRoutes)
      await app.register(roomRoutes)
    }
    await app.register(configRoutes)
    await app.register(connectionRoutes)
    await app.register(ticketRoutes)
    for (const routes of opts.routes ?? []) await app.register(routes)
  }, { prefix })
}

export default fp(realtime, { name: 'fastify-realtime', fastify: '5.x' })
