import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { ConnectionRegistry } from '../src/registry/registry.js'
import { SlotCounts } from '../src/registry/caps.js'
import { OPEN, type Connection, type ConnectionInfo } from '../src/registry/connection.js'
import { detachResponse, dropClearedTimeout, forgetPeername } from '../src/internals.js'
import { clientIp, takeSlot } from './limits.js'
import { addressKey } from '../src/limits/address.js'
import { requestLine } from './request-log.js'

declare module 'fastify' {
  interface FastifyInstance { registry: AppRegistry }
}

/** The shared registry, taking what it needs from the upgrade request and keeping none of it. */
export class AppRegistry extends ConnectionRegistry {
  open (socket: WebSocket, req: FastifyRequest, info: Omit<ConnectionInfo, 'ip' | 'userAgent' | 'userId'>): Connection {
    const tcp = req.raw.socket as Socket | undefined // app.injectWS's request has no TCP socket
    // let go of the upgrade request (see detachResponse) and of @fastify/websocket's 'error' listener,
    // which closes over request and reply; the registry's own listener does the same job
    if (tcp !== undefined) detachResponse(tcp)
    socket.removeAllListeners('error')
    const conn = this.add(socket, {
      ...info,
      ip: clientIp(req),
      userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
      userId: req.identity?.userId
    }, takeSlot(req, tcp)) // the cap slot claimed at the upgrade check now belongs to the entry
    req.log.info(requestLine(req, 101), 'request')
    if (tcp !== undefined) {
      dropClearedTimeout(tcp)
      forgetPeername(tcp)
    }
    return conn
  }

  /** A handler threw: log it, close only this socket with 1011; the process and other sockets live on. */
  fail (conn: Connection, err: unknown): void {
    conn.endedBy = 'internal error'
    this.log.error({ err, connId: conn.id, route: conn.route }, 'message handler failed: closing with 1011')
    if (conn.socket.readyState === OPEN) conn.socket.close(1011, 'internal error')
  }
}

/**
 * The registry of open sockets, and shutdown end to end: app.close() begins with preClose, where
 * the registry starts draining (upgrades are refused with 503, /ready says 503), closes every socket
 * with 1001 and gives them half of SHUTDOWN_TIMEOUT_MS to answer before terminating the rest; the
 * other half is left for the remaining onClose hooks before server.ts forces the exit.
 */
async function registryPlugin (app: FastifyInstance) {
  const registry = new AppRegistry(app.log, new SlotCounts((ip) => addressKey(ip, app.realtimeConfig.IPV6_PREFIX_BITS)))
  app.decorate('registry', registry)
  const graceMs = Math.floor(app.realtimeConfig.SHUTDOWN_TIMEOUT_MS / 2)
  app.addHook('preClose', async () => await registry.drain(graceMs))
}

export default fp(registryPlugin, { name: 'registry', dependencies: ['realtime-config', '@fastify/websocket'] })
