import { isIP } from 'node:net'
import { Value } from '@sinclair/typebox/value'
import { EnvSchema, type Config, type Env, type TrustProxy } from './schema.js'
import { verificationKey } from '../auth/jwt.js'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

type Source = Record<string, string | undefined>

/**
 * Validates settings from the environment (or any string map) and returns the typed config.
 * Throws ConfigError with one line naming the variable on bad input.
 */
export function loadConfig (source: Source): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key]
    if (value !== undefined && value.trim() !== '') raw[key] = value.trim()
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
  try {
    verificationKey(env) // AUTH_MODE and its keys: a complete, usable set or a refusal naming what is wrong
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
  return {
    ...env,
    TRUST_PROXY: parseTrustProxy(env.TRUST_PROXY),
    ALLOWED_ORIGINS: parseOrigins(env.ALLOWED_ORIGINS)
  }
}

export function parseTrustProxy (value: string): TrustProxy {
  const v = value.trim().toLowerCase()
  if (v === '' || v === 'false') return false
  if (v === 'true') return true
  if (/^\d+$/.test(v)) return Number(v)
  const list = v.split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const item of list) {
    const [addr, bits, extra] = item.split('/')
    const family = isIP(addr ?? '')
    const maxBits = family === 6 ? 128 : 32
    const badBits = bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > maxBits)
    if (family === 0 || badBits || extra !== undefined) {
      throw new ConfigError(`invalid TRUST_PROXY=${JSON.stringify(value)}: "${item}" is not an IP address or CIDR (use true, a hop count, or a comma-separated list)`)
    }
  }
  return list
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
