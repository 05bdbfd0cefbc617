import { Type, type Static } from '@sinclair/typebox'
import { DEFAULT_MAX_TOKEN_TTL_S } from '../auth/jwt.js'

// One schema gives both the static type and the start-up check. Values arrive as
// strings from the environment; loadConfig converts them before checking.
export const EnvSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  LOG_LEVEL: Type.Union([
    Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'),
    Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')
  ], { default: 'info' }),
  // addresses, CIDRs, loopback/linklocal/uniquelocal; parsed (and true or a hop count refused) in load.ts
  TRUST_PROXY: Type.String({ default: 'false' }),
  ALLOWED_ORIGINS: Type.String({ default: '' }),
  // host[:port] list checked against every request's Host (DNS rebinding); parsed in load.ts, empty = any
  ALLOWED_HOSTS: Type.String({ default: '' }),
  HEARTBEAT_INTERVAL_MS: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 30_000 }),
  TIME_INTERVAL_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 1000 }),
  MAX_PAYLOAD_BYTES: Type.Integer({ minimum: 128, maximum: 100 * 1024 * 1024, default: 65_536 }),
  // true/false (any case) or 1/0; anything else stops the boot
  PERMESSAGE_DEFLATE: Type.Boolean({ default: false }),
  MAX_CONNECTIONS: Type.Integer({ minimum: 1, default: 10_000 }),
  // load shedding: new requests get 503 while the event loop's mean delay is over this (0 = off)
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
  CHAT_MAX_LENGTH: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 2000 }),
  // UTF-8 bytes of a message's or signal's `data`, serialised (error too_large above it)
  MAX_DATA_BYTES: Type.Integer({ minimum: 16, maximum: 1_048_576, default: 16_384 }),
  // rooms one socket may be subscribed to at once, its personal stream included (error too_many_subscriptions)
  MAX_SUBSCRIPTIONS_PER_SOCKET: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 }),
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
  HISTORY_SIZE: Type.Integer({ minimum: 0, maximum: 100_000, default: 100 }),
  HISTORY_TTL_MS: Type.Integer({ minimum: 0, default: 0 }),
  // a room with no members and no new message for this long is dropped with its history (0 = never)
  ROOM_IDLE_TTL_MS: Type.Integer({ minimum: 0, default: 86_400_000 }),
  // rooms held at most; at the cap a new room evicts the least recently active room without members, or is refused (503)
  MAX_ROOMS: Type.Integer({ minimum: 1, default: 10_000 }),
  // UTF-8 bytes of every held message together, across rooms; the globally oldest go first
  HISTORY_MAX_BYTES: Type.Integer({ minimum: 1024, default: 67_108_864 }),
  CHAT_RATE_PER_SEC: Type.Number({ exclusiveMinimum: 0, default: 10 }),
  CHAT_RATE_BURST: Type.Integer({ minimum: 1, default: 20 }),
  SEND_BUFFER_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 1_048_576 }),
  API_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_PREFIX: Type.String({ minLength: 1, maxLength: 64, default: 'rt:' }),
  // host:port,host:port of Redis Sentinels: the hub follows the master they name (instead of REDIS_URL)
  REDIS_SENTINELS: Type.Optional(Type.String({ pattern: '^[^,:\\s]+:[0-9]{1,5}(,[^,:\\s]+:[0-9]{1,5})*$' })),
  // host:port,host:port of Redis Cluster nodes (any of them): the hub runs on the Cluster (instead of REDIS_URL)
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ pattern: '^[^,:\\s]+:[0-9]{1,5}(,[^,:\\s]+:[0-9]{1,5})*$' })),
  REDIS_SENTINEL_NAME: Type.String({ minLength: 1, maxLength: 128, default: 'mymaster' }),
  // an ack waits until this many replicas hold the message (WAIT); 0 = acked once the master has it
  REDIS_ACK_REPLICAS: Type.Integer({ minimum: 0, maximum: 64, default: 0 }),
  REDIS_ACK_TIMEOUT_MS: Type.Integer({ minimum: 1, maximum: 60_000, default: 1000 }),
  PRESENCE_TTL_MS: Type.Integer({ minimum: 300, maximum: 600_000, default: 15_000 }),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  // true/false or 1/0: off leaves out the Prometheus plugin (GET /metrics is then 404)
  METRICS_ENABLED: Type.Boolean({ default: true }),
  PRESENCE_EVENTS_MAX_MEMBERS: Type.Integer({ minimum: 0, default: 1000 }),
  HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 120_000, default: 10_000 }),
  AUTH_MODE: Type.Union([Type.Literal('none'), Type.Literal('jwt')], { default: 'none' }),
  // HS256 needs a key as long as the hash (RFC 7518 3.2): 32 bytes
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  JWT_PUBLIC_KEY: Type.Optional(Type.String({ minLength: 1 })),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1 })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1 })),
  // a token with more life left than this (exp - now) is refused: a leaked token is not good for a year
  AUTH_MAX_TOKEN_TTL_S: Type.Integer({ minimum: 1, maximum: 31_536_000, default: DEFAULT_MAX_TOKEN_TTL_S }),
  MAX_CONNECTIONS_PER_IP: Type.Integer({ minimum: 1, default: 200 }),
  MAX_CONNECTIONS_PER_USER: Type.Integer({ minimum: 1, default: 20 }),
  // a connection ticket (POST /tickets) is good for one upgrade within this long
  TICKET_TTL_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 30_000 }),
  // tickets issued and not yet used, per user (in memory: the store's bound; the next POST /tickets gets 429)
  MAX_TICKETS_PER_USER: Type.Integer({ minimum: 1, maximum: 10_000, default: 20 }),
  // the per-address limits count an IPv6 client by this prefix (an IPv4 address on its own)
  IPV6_PREFIX_BITS: Type.Integer({ minimum: 1, maximum: 128, default: 64 }),
  UPGRADE_RATE_PER_SEC: Type.Number({ exclusiveMinimum: 0, default: 10 }),
  UPGRADE_RATE_BURST: Type.Integer({ minimum: 1, default: 20 }),
  // clients tracked by each rate limit (upgrades, messages); past it the oldest bucket is forgotten
  RATE_LIMIT_MAX_CLIENTS: Type.Integer({ minimum: 1, default: 100_000 })
})
export type Env = Static<typeof EnvSchema>

/** Fastify's trustProxy: off, or the proxies to trust (addresses, CIDRs, proxy-addr's range names); never a hop count or `true`. */
export type TrustProxy = false | string[]

/** The validated configuration the app is built from (derived fields parsed). */
export interface Config extends Omit<Env, 'TRUST_PROXY' | 'ALLOWED_ORIGINS' | 'ALLOWED_HOSTS'> {
  TRUST_PROXY: TrustProxy
  /** Normalised origins (`scheme://host[:port]`); `*` allows any. */
  ALLOWED_ORIGINS: string[]
  /** Lower-case `host` or `host:port` entries (IPv6 in brackets); empty: any Host. */
  ALLOWED_HOSTS: string[]
}
