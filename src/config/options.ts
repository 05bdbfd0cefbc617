import { EnvSchema, type Config, type Env } from './schema.js'
import { ConfigError, loadConfig } from './load.js'

// The plugin's options are the environment's settings in camelCase, checked by the same schema and loader:
// one source of truth for names, defaults and limits. Settings of the HTTP server itself (port, host, log
// level, proxies, header timeouts) belong to the host's Fastify and are not options.
const SERVER_ONLY = ['PORT', 'HOST', 'LOG_LEVEL', 'TRUST_PROXY', 'HEADERS_TIMEOUT_MS'] as const
type ServerOnly = typeof SERVER_ONLY[number]

type Camel<S extends string> = S extends `${infer Head}_${infer Tail}`
  ? `${Lowercase<Head>}${Capitalize<Camel<Lowercase<Tail>>>}`
  : Lowercase<S>

type OptionValue<V> = V extends boolean ? boolean : V extends number ? number : V extends string ? string : V

/** Every setting but the HTTP server's own, in camelCase (`HISTORY_SIZE` → `historySize`); lists also as arrays. */
export type RealtimeSettings = {
  [K in Exclude<keyof Env, ServerOnly | 'ALLOWED_ORIGINS' | 'ALLOWED_HOSTS'> as Camel<K>]?: OptionValue<Env[K]>
} & {
  allowedOrigins?: string | string[]
  allowedHosts?: string | string[]
}

/** `HISTORY_SIZE` → `historySize` */
export function camelName (name: string): string {
  return name.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase())
}

/** camelCase option → its environment name, generated from the schema (the server-only settings left out). */
export const OPTION_NAMES: ReadonlyMap<string, string> = new Map(
  Object.keys(EnvSchema.properties)
    .filter((name) => !(SERVER_ONLY as readonly string[]).includes(name))
    .map((name) => [camelName(name), name])
)

/**
 * The validated config for a plugin registration: each known option as the string the environment would
 * hold, through loadConfig (same defaults, same checks). A ConfigError names the option, not the variable;
 * an unknown option is refused so a typo does not silently fall back to a default.
 */
export function configFromOptions (options: Record<string, unknown>, ignore: readonly string[] = []): Config {
  const source: Record<string, string> = { LOG_LEVEL: 'silent' }
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || ignore.includes(key)) continue
    const name = OPTION_NAMES.get(key)
    if (name === undefined) throw new ConfigError(`unknown option ${key}`)
    source[name] = Array.isArray(value) ? value.map(String).join(',') : String(value)
  }
  try {
    return loadConfig(source)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    throw new ConfigError(err.message.replace(/\b[A-Z][A-Z0-9_]+\b/g, (name) => OPTION_NAMES.get(camelName(name)) === name ? camelName(name) : name))
  }
}
