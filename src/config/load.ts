import { isIP } from 'node:net'
import { Value } from '@sinclair/typebox/value'
import { EnvSchema, type Config, type Env, type TrustProxy } from './schema.js'
import { verificationKey } from '../auth/jwt.js'
import { hostPort } from './hosts.js'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

type Source = Record<string, string | undefined>

const INTEGER = /^[+-]?\d+$/

/**
 * Validates settings from the environment (or any string map) and returns the typed config.
 * Throws ConfigError with one line naming the variable on bad input.
 */
export function loadConfig (source: Source): Config {
  const raw: Record<string, unknown> = {}
  for (const [key, schema] of Object.entries(EnvSchema.properties)) {
    const value = source[key]
    if (value === undefined || value.trim() === '') continue
    raw[key] = value.trim()
    // Value.Convert reads an Integer with parseInt (PORT=80.9 would become 80, 1e2 would become 1): digits only
    if ((schema as { type?: unknown }).type === 'integer' && !INTEGER.test(value.trim())) {
      throw new ConfigError(`invalid ${key}=${JSON.stringify(value)}: Expected integer`)
    }
  }
  const withDefaults = Value.Default(EnvSchema, raw)
  const converted = Value.Convert(EnvSchema, withDefaults)
  const first = Value.Errors(EnvSchema, converted).First()
  if (first !== undefined) {
    const name = first.path.replace(/^\//, '')
    const given = source[name]
    throw new ConfigError(`invalid ${name}=${JSON.stringify(given)}: ${first.message}`)
  }
  const env = converted as Env
  if (env.REDIS_URL !== undefined && env.REDIS_SENTINELS !== undefined) {
    throw new ConfigError('invalid REDIS_SENTINELS: set either REDIS_URL or REDIS_SENTINELS, not both')
  }
  if (env.REDIS_CLUSTER_NODES !== undefined && (env.REDIS_URL !== undefined || env.REDIS_SENTINELS !== undefined)) {
    throw new ConfigError(`invalid REDIS_CLUSTER_NODES: set one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES, not ${env.REDIS_URL !== undefined ? 'REDIS_URL' : 'REDIS_SENTINELS'} too`)
  }
  if (env.REDIS_ACK_REPLICAS > 0 && env.REDIS_URL === undefined && env.REDIS_SENTINELS === undefined && env.REDIS_CLUSTER_NODES === undefined) {
    throw new ConfigError(`invalid REDIS_ACK_REPLICAS=${JSON.stringify(source.REDIS_ACK_REPLICAS)}: it needs REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES`)
  }
  if (env.REDIS_SENTINELS !== undefined) parseSentinels(env.REDIS_SENTINELS)
  if (env.REDIS_CLUSTER_NODES !== undefined) parseHostPorts('REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES)
  try {
    verificationKey(env) // AUTH_MODE and its keys: a complete, usable set or a refusal naming what is wrong
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
  return {
    ...env,
    TRUST_PROXY: parseTrustProxy(env.TRUST_PROXY),
    ALLOWED_ORIGINS: parseOrigins(env.ALLOWED_ORIGINS),
    ALLOWED_HOSTS: parseHosts(env.ALLOWED_HOSTS)
  }
}

/** REDIS_SENTINELS (`host:port,host:port`) as ioredis takes them; a port out of range is refused. */
export function parseSentinels (value: string): HostPort[] {
  return parseHostPorts('REDIS_SENTINELS', value)
}

export type HostPort = { host: string, port: number }

/** Where the shared Redis is: one server, the master some Sentinels name, or a Cluster's nodes. */
export type RedisTopology =
  | { url: string }
  | { sentinels: HostPort[], sentinelName: string }
  | { clusterNodes: HostPort[] }

/** The one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES that is set (loadConfig refuses several); undefined for none. */
export function redisTopology (config: Pick<Config, 'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_CLUSTER_NODES'>): RedisTopology | undefined {
  if (config.REDIS_CLUSTER_NODES !== undefined) return { clusterNodes: parseHostPorts('REDIS_CLUSTER_NODES', config.REDIS_CLUSTER_NODES) }
  if (config.REDIS_SENTINELS !== undefined) return { sentinels: parseSentinels(config.REDIS_SENTINELS), sentinelName: config.REDIS_SENTINEL_NAME }
  return config.REDIS_URL === undefined ? undefined : { url: config.REDIS_URL }
}

/** A `host:port,host:port` setting (REDIS_SENTINELS, REDIS_CLUSTER_NODES); a port out of range is refused. */
export function parseHostPorts (name: string, value: string): HostPort[] {
  const out: HostPort[] = []
  for (const item of value.split(',')) {
    const at = item.lastIndexOf(':')
    const port = Number(item.slice(at + 1))
    if (at < 1 || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ConfigError(`invalid ${name}=${JSON.stringify(value)}: "${item}" is not host:port`)
    }
    out.push({ host: item.slice(0, at), port })
  }
  return out
}

/** proxy-addr's names for address ranges (loopback, link-local, unique-local, IPv4 and IPv6 both) */
const PROXY_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal'])

/**
 * The proxies whose X-Forwarded-* headers count, as proxy-addr reads them: addresses, CIDRs and its range names.
 * Off (unset, empty, `false`) trusts nobody. `true` and hop counts are refused: `true` takes the left-most
 * X-Forwarded-For, which any client writes itself, and a count trusts whatever sits that many hops away.
 */
export function parseTrustProxy (value: string): TrustProxy {
  const v = value.trim().toLowerCase()
  if (v === '' || v === 'false') return false
  const list = v.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const item of list) {
    if (item === 'true' || /^\d+$/.test(item)) {
      throw new ConfigError(`invalid TRUST_PROXY=${JSON.stringify(value)}: a hop count or "true" trusts spoofable X-Forwarded-For; list the proxy's addresses instead (e.g. TRUST_PROXY=127.0.0.1 or loopback)`)
    }
    if (PROXY_RANGES.has(item)) continue
    const [addr, bits, extra] = item.split('/')
    const family = isIP(addr ?? '')
    const maxBits = family === 6 ? 128 : 32
    const badBits = bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > maxBits)
    if (family === 0 || badBits || extra !== undefined) {
      throw new ConfigError(`invalid TRUST_PROXY=${JSON.stringify(value)}: "${item}" is not an IP address, a CIDR or one of loopback, linklocal, uniquelocal (comma-separated)`)
    }
  }
  return list.length === 0 ? false : list
}

export function parseOrigins (value: string): string[] {
  const out: string[] = []
  for (const item of value.split(',')) {
    const s = item.trim()
    if (s === '') continue
    if (s === '*') { out.push('*'); continue }
    let url: URL
    try {
      url = new URL(s)
    } catch {
      throw new ConfigError(`invalid ALLOWED_ORIGINS=${JSON.stringify(value)}: "${s}" is not an origin like https://example.com`)
    }
    if (url.origin === 'null') {
      throw new ConfigError(`invalid ALLOWED_ORIGINS=${JSON.stringify(value)}: "${s}" has no http(s) origin`)
    }
    out.push(url.origin)
  }
  return out
}

/** `host[:port]` entries as hostAllowed() compares them (see src/config/hosts.ts). */
export function parseHosts (value: string): string[] {
  const out: string[] = []
  for (const item of value.split(',')) {
    const s = item.trim()
    if (s === '') continue
    const host = hostPort(s)
    if (host === undefined) {
      throw new ConfigError(`invalid ALLOWED_HOSTS=${JSON.stringify(value)}: "${s}" is not a host[:port] like realtime.example.com or 10.0.0.5:3000`)
    }
    out.push(host.port === undefined ? host.hostname : `${host.hostname}:${host.port}`)
  }
  return out
}
