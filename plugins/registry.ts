import type { ServerResponse } from 'node:http'
import { Socket as NetSocket, type Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import { ConnectionRegistry, OPEN, type Connection, type ConnectionInfo } from '../src/registry/registry.js'

declare module 'fastify' {
  interface FastifyInstance { registry: AppRegistry }
}

/** net.Socket's own timer slot (a private symbol of Node's, stable since Node 12); undefined if it ever goes */
const kTimeout = Object.getOwnPropertySymbols(new NetSocket()).find((sym) => sym.description === 'timeout')

/** The shared registry, taking what it needs from the upgrade request and keeping none of it. */
export class AppRegistry extends ConnectionRegistry {
  open (socket: WebSocket, req: FastifyRequest, info: Omit<ConnectionInfo, 'ip' | 'userAgent' | 'userId' | 'slot'>): Connection {
    // @fastify/websocket 11 keeps the upgrade request alive for the socket's whole life: the ServerResponse
    // stays attached to the TCP socket (_httpMessage), and its 'error' listener closes over request and
    // reply. That is ~3 KB per idle socket (IncomingMessage, ServerResponse, Fastify Request/Reply, headers,
    // a child logger). Let go of both; our listener does the same job (app.injectWS's request has no TCP socket).
    const tcp = req.raw.socket as (Socket & { _httpMessage?: ServerResponse | null, _peername?: object }) | undefined
    if (tcp?._httpMessage != null) tcp._httpMessage.detachSocket(tcp)
    socket.removeAllListeners('error')
    const conn = this.add(socket, {
      ...info,
      ip: req.ip ?? 'unknown',
      userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256),
      userId: req.identity?.userId,
      // the cap slot claimed at the upgrade check now belongs to the entry (auth plugin)
      slot: req.connSlot ?? undefined
    })
    const slot = req.connSlot
    if (slot?.onAbandon !== undefined) {
      tcp?.removeListener('close', slot.onAbandon) // an idle socket keeps no closure for its upgrade
      slot.onAbandon = undefined
    }
    req.connSlot = null
    // the HTTP connection timeout was cleared by ws at the upgrade (setTimeout(0)), but Node keeps the
    // cleared Timeout and its bound callback on the socket: ~170 B per idle socket, dropped here
    if (tcp !== undefined && kTimeout !== undefined) (tcp as unknown as Record<symbol, unknown>)[kTimeout] = null
    // req.ip made Node cache {address, family, port} on the socket (~90 B); the entry has the address,
    // and Node asks the kernel again if anything wants it later
    if (tcp !== undefined) tcp._peername = undefined
    return conn
  }

  /** A handler threw: log it, close only this socket with 1011; the process and other sockets live on. */
  fail (conn: Connection, err: unknown): void {
    conn.endedBy = 'internal error'
    this.log.error({ err, connId: conn.id, route: conn.route }, 'message handler failed: closing with 1011')
    if (conn.socket.readyState === OPEN) conn.socket.close(1011, 'internal error')
  }
}

async function registryPlugin (app: FastifyInstance) {
  app.decorate('registry', new AppRegistry(app.log))
}

export default fp(registryPlugin, { name: 'registry', dependencies: ['@fastify/websocket'] })
