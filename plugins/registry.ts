import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { ConnectionRegistry, type Connection, type ConnectionInfo, type SocketLike } from '../src/registry/registry.js'

declare module 'fastify' {
  interface FastifyInstance { registry: AppRegistry }
}

/** The shared registry, taking what it needs from the upgrade request and keeping none of it. */
export class AppRegistry extends ConnectionRegistry {
  open (socket: SocketLike, req: FastifyRequest, info: Omit<ConnectionInfo, 'ip' | 'userAgent'>): Connection {
    return this.add(socket, {
      ...info,
      ip: req.ip ?? 'unknown',
      userAgent: String(req.headers['user-agent'] ?? '').slice(0, 256)
    })
  }
}

async function registryPlugin (app: FastifyInstance) {
  app.decorate('registry', new AppRegistry(app.log))
}

export default fp(registryPlugin, { name: 'registry', dependencies: ['@fastify/websocket'] })
