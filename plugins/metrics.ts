import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Connection, Route } from '../src/registry/connection.js'
import { refusalReason } from './limits.js'
import { closeCodeLabel } from '../src/metrics/labels.js'

declare module 'fastify' {
  interface FastifyInstance { metrics: Registry }
}

type Totals = Record<'messagesIn' | 'messagesOut' | 'bytesIn' | 'bytesOut', number>
const zero = (): Totals => ({ messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 })

/**
 * Prometheus metrics in a registry of this app's own (several apps in one process do not collide).
 * The hot path pays nothing per frame: sockets count into plain fields on their Connection, and
 * those are summed when Prometheus scrapes; events (closes, refusals, broadcasts) are one increment each.
 */
async function metricsPlugin (app: FastifyInstance) {
  const { registry, hub, lifecycle } = app
  const register = new Registry()
  collectDefaultMetrics({ register }) // process CPU/memory/fds, GC, event-loop lag (nodejs_eventloop_lag_*)

  // traffic of closed sockets, so totals stay monotonic when a socket goes away
  const closedTotals = new Map<Route, Totals>()
  /** per route the registry knows (routes register their names), so a new route is labelled by its own */
  function traffic (): Map<Route, Totals> {
    const sums = new Map<Route, Totals>()
    for (const route of registry.routes()) sums.set(route, { ...(closedTotals.get(route) ?? zero()) })
    for (const c of registry.values()) {
      const t = sums.get(c.route)!
      t.messagesIn += c.messagesIn; t.messagesOut += c.messagesOut; t.bytesIn += c.bytesIn; t.bytesOut += c.bytesOut
    }
    return sums
  }

  register.registerMetric(new Gauge({
    name: 'rt_connections_open',
    help: 'Open WebSocket connections by route',
    labelNames: ['route'],
    registers: [],
    collect () { for (const [route, n] of Object.entries(registry.countByRoute())) this.set({ route }, n) }
  }))
  const opened = new Counter({ name: 'rt_connections_opened_total', help: 'WebSocket connections opened', labelNames: ['route'], registers: [register] })
  const closed = new Counter({ name: 'rt_connections_closed_total', help: 'WebSocket connections closed, by route and close code', labelNames: ['route', 'code'], registers: [register] })
  const serverClosed = new Counter({ name: 'rt_server_closes_total', help: 'Sockets the server ended, by reason (heartbeat timeout, flood, slow consumer, token expired, forbidden, admin, shutdown timeout...)', labelNames: ['reason'], registers: [register] })
  const trafficMetric = (name: string, help: string, field: keyof Totals) => new Counter({
    name,
    help,
    labelNames: ['route'],
    registers: [register],
    collect () {
      this.reset()
      for (const [route, t] of traffic()) this.inc({ route }, t[field])
    }
  })
  trafficMetric('rt_messages_in_total', 'WebSocket messages received, by route', 'messagesIn')
  trafficMetric('rt_messages_out_total', 'WebSocket messages sent, by route', 'messagesOut')
  trafficMetric('rt_bytes_in_total', 'WebSocket payload bytes received, by route', 'bytesIn')
  trafficMetric('rt_bytes_out_total', 'WebSocket payload bytes sent, by route', 'bytesOut')
  const chat = new Counter({ name: 'rt_chat_messages_total', help: 'Chat messages accepted, and refused by reason', labelNames: ['result', 'reason'], registers: [register] })
  const deliveries = new Counter({ name: 'rt_broadcast_deliveries_total', help: 'Chat messages handed to local sockets (one per member per message)', registers: [register] })
  const fanout = new Histogram({
    name: 'rt_fanout_seconds',
    help: 'Time to fan one chat message out to the local members of its room',
    registers: [register],
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1]
  })
  const refusals = new Counter({ name: 'rt_upgrade_refusals_total', help: 'WebSocket upgrades refused before the 101, by reason', labelNames: ['reason'], registers: [register] })
  register.registerMetric(new Gauge({
    name: 'rt_ready',
    help: '1 while the instance accepts traffic (see /ready), else 0',
    registers: [],
    collect () { this.set(lifecycle.notReady() === undefined ? 1 : 0) }
  }))
  const store = hub.store as { notReady?: () => string | undefined }
  if (typeof store.notReady === 'function') {
    register.registerMetric(new Gauge({
      name: 'rt_backplane_up',
      help: '1 while the Redis backplane is connected and subscribed, else 0',
      registers: [],
      collect () { this.set(store.notReady?.() === undefined ? 1 : 0) }
    }))
  }

  // bound label children once: an increment on the hot path is then a property write
  const accepted = chat.labels('accepted', '')
  const refusedBy = new Map<string, Counter.Internal>()
  hub.events = {
    accepted: () => accepted.inc(),
    refused: (code) => {
      let c = refusedBy.get(code)
      if (c === undefined) { c = chat.labels('refused', code); refusedBy.set(code, c) }
      c.inc()
    },
    delivered: (sockets, seconds) => { deliveries.inc(sockets); fanout.observe(seconds) }
  }
  registry.observer = {
    opened: (conn: Connection) => opened.inc({ route: conn.route }),
    closed: (conn: Connection, code: number) => {
      closed.inc({ route: conn.route, code: closeCodeLabel(code) }) // a fixed label set: the code is the client's to pick
      if (conn.endedBy !== undefined) serverClosed.inc({ reason: conn.endedBy })
      let t = closedTotals.get(conn.route)
      if (t === undefined) { t = zero(); closedTotals.set(conn.route, t) }
      t.messagesIn += conn.messagesIn; t.messagesOut += conn.messagesOut; t.bytesIn += conn.bytesIn; t.bytesOut += conn.bytesOut
    }
  }

  // every refused upgrade ends in an HTTP status before the 101; name it by what the guard or schema said
  app.addHook('onResponse', async (req, reply) => {
    if (!req.ws || reply.statusCode < 400) return
    refusals.inc({ reason: refusalReason(req, reply.statusCode, registry.draining) })
  })

  app.decorate('metrics', register)
  app.get('/metrics', { preHandler: app.bearerGuard(app.realtimeConfig.METRICS_TOKEN, '/metrics') }, async (_req, reply) => {
    return await reply.type(register.contentType).send(await register.metrics())
  })
}

export default fp(metricsPlugin, { name: 'metrics', dependencies: ['registry', 'limits', 'hub', 'lifecycle', 'api-auth', 'auth'] })
