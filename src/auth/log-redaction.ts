// Connection tokens out of the logs. A browser's token travels in the upgrade URL (`?token=`, as browsers
// cannot set headers on a WebSocket), and a URL reaches a log line in three ways: the request serializer
// (`req`), an error whose message or fields quote it (`err`), and a message string (pino's logMethod hook,
// for loggers built from loggerOptions; a child of a caller's logger cannot take hooks).
import pino, { type LogFn, type Logger, type SerializedError } from 'pino'
import { redactToken } from './jwt.js'

type RequestLike = { method: string, url: string, host?: string, ip?: string, socket?: { remotePort?: number } }

/** Fastify's request fields, with the URL's token redacted. */
export function requestSerializer (req: RequestLike) {
  return { method: req.method, url: redactToken(req.url), host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort }
}

/** pino's error serializer, then every string it kept (message, stack, own fields such as a URL) redacted. */
export function errorSerializer (err: Error): SerializedError {
  const out = pino.stdSerializers.err(err)
  // a non-error is returned as it was given
  if (out === null || typeof out !== 'object') return out
  const fields = out as unknown as Record<string, unknown>
  for (const key of Object.keys(fields)) {
    const value = fields[key]
    // Node's clientError carries the request's first bytes (request line included) as a Buffer
    if (Buffer.isBuffer(value)) fields[key] = redactToken(value.toString('latin1'))
    else if (typeof value === 'string') fields[key] = redactToken(value)
  }
  return out
}

/** Serializers for any key a URL is logged under (`path`: @fastify/websocket's no-handler line). */
export const logSerializers = {
  req: requestSerializer,
  err: errorSerializer,
  path: (value: unknown) => typeof value === 'string' ? redactToken(value) : value
}

/** pino's logMethod hook: string arguments (a message, a format argument) redacted before they are written. */
export function redactLogArgs (this: Logger, args: Parameters<LogFn>, method: LogFn): void {
  for (let i = 0; i < args.length; i++) {
    const arg: unknown = args[i]
    if (typeof arg === 'string') (args as unknown[])[i] = redactToken(arg)
  }
  method.apply(this, args)
}
