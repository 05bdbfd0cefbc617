import fp from 'fastify-plugin'
import underPressure, { type FastifyUnderPressureOptions } from '@fastify/under-pressure'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/** Routes that answer while shedding: liveness says the process lives, /ready says why it is not ready. */
/** at most one "shedding" log line per this long, carrying the count refused since the last one */
const LOG_EVERY_MS = 10_000

/**
 * under-pressure's delay is the mean timer lateness over one sample window (its histogram ticks every
 * 10 ms). The window follows the limit: a mean never exceeds its largest sample, so only pauses longer than
 * the limit that fill most of a window trip it, and shedding lifts one window after the loop recovers.
 * At least 100 ms so an idle window always holds ticks (an empty one reads as an infinite delay);
 * at most 1 s, under-pressure's default, so even a large limit is re-judged every second.
 * The first window starts at registration: a start that blocks the loop for all of it (a slow boot, a
 * starved machine) reads as overloaded until the next sample, so /ready may say 503 for one window.
 */
export function sampleWindowMs (maxDelayMs: number): number {
  return Math.min(1000, Math.max(100, maxDelayMs))
}

/**
 * Load shedding: while the event loop's delay is over MAX_EVENT_LOOP_DELAY_MS, every new request (a
 * WebSocket upgrade included, before its 101) but /health and /ready gets 503 with Retry-After, and
 * /ready reports the overload. Open sockets keep working: their frames never pass through onRequest again.
 * Registered right after @fastify/websocket, whose onRequest hook marks `req.ws` (without it the refused
 * upgrade's TCP socket would not be destroyed after the 503), and before the guards, so an overloaded
 * server spends nothing on origin, auth or cap checks.
 */
async function loadSheddingPlugin (app: FastifyInstance) {
  const maxDelay = app.realtimeConfig.MAX_EVENT_LOOP_DELAY_MS
  if (maxDelay === 0) return // off: under-pressure is not even registered (it samples from registration on)
  const sampleInterval = sampleWindowMs(maxDelay)
  const exempt = new Set([`${app.prefix}/health`, `${app.prefix}/ready`])
  // a client retrying sooner than the next sample would meet the same decision
  const retryAfter = String(Math.ceil(sampleInterval / 1000))
  let refused = 0
  let loggedAt = 0

  function overloadMessage (delay: number): string {
    // no tick in a whole window reads as Infinity: the loop was blocked all along
    const measured = Number.isFinite(delay) ? `${Math.round(delay)} ms` : `over ${sampleInterval} ms (blocked for the whole sample)`
    return `server overloaded: event loop delay ${measured}, limit ${maxDelay} ms`
  }

  // under-pressure sends any non-promise, non-nullish return value itself and stops the hook chain there
  // (its documented form; the typings only say void). Replying here and returning nothing would let the
  // next onRequest hooks run on a reply already sent.
  function shed (req: FastifyRequest, reply: FastifyReply, _type: string, delay: number | undefined) {
    if (req.routeOptions.url !== undefined && exempt.has(req.routeOptions.url)) return undefined
    const message = overloadMessage(delay ?? Infinity)
    req.refusal = 'overloaded'
    refused++
    const now = Date.now()
    if (now - loggedAt >= LOG_EVERY_MS) {
      req.log.warn({ eventLoopDelayMs: delay, refused }, 'shedding load: event loop delay over MAX_EVENT_LOOP_DELAY_MS')
      loggedAt = now
      refused = 0
    }
    reply.code(503).header('retry-after', retryAfter)
    return { statusCode: 503, error: 'Service Unavailable', message }
  }

  // under-pressure clears its sampling timer in its own onClose hook
  await app.register(underPressure, {
    maxEventLoopDelay: maxDelay,
    sampleInterval,
    pressureHandler: shed as NonNullable<FastifyUnderPressureOptions['pressureHandler']>
  })
  app.lifecycle.addCheck(() => app.isUnderPressure() ? overloadMessage(app.memoryUsage().eventLoopDelay) : undefined)
}

export default fp(loadSheddingPlugin, { name: 'load-shedding', dependencies: ['realtime-config', 'lifecycle', '@fastify/websocket'] })
