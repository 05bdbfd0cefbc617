import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { WebSocket } from 'ws'
import { ChatSession } from '../src/hub/hub.js'
import { parseName } from '../src/protocol/chat.js'
import { CLOSE, CLOSE_REASON } from '../src/protocol/codes.js'
import type { Ref } from '../src/protocol/frames.js'
import type { Route } from '../src/registry/connection.js'
import { refuse } from '../plugins/limits.js'

export const HubQuery = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 256 }))
}, { additionalProperties: true })

const guestName = () => `guest-${randomBytes(2).toString('hex')}`

type NamedRequest = FastifyRequest<{ Querystring: Static<typeof HubQuery> }>

/** Before the upgrade: a bad display name is 400, like every other bad parameter. */
export async function checkName (req: NamedRequest, reply: FastifyReply) {
  const parsed = parseName(req.query.name, guestName)
  if (!parsed.ok) return await refuse(req, reply, 'bad_request', parsed.reason)
}

/**
 * Wires one hub or chat socket to the hub: its session (in `room`, the chat socket's URL room, or in none),
 * token expiry and refresh, and its listeners, attached before any await (ws drops frames with no listener).
 */
export function openHubSocket (app: FastifyInstance, route: Route, socket: WebSocket, req: NamedRequest, room: string | undefined,
  since: number | undefined, epoch: string | undefined): void {
  const parsed = parseName(req.query.name, guestName)
  // a token's name claim is the display name; ?name= only without one
  const name = req.identity?.name ?? (parsed.ok ? parsed.name : guestName())
  const conn = app.registry.open(socket, req, { route, room })
  const session = new ChatSession(conn, room, name, app.hub.options)
  if (req.identity !== null) {
    session.allowedRooms = req.identity.rooms
    app.auth.watch(conn, req.identity, true)
    session.onRefresh = (token: string, ref: Ref | undefined) => {
      app.auth.refresh(conn, token, (identity) => app.hub.reauthorize(session, identity.rooms)).then((frame) => {
        app.hub.sendTo(session, ref === undefined ? frame : { ...frame, ref })
      }, (err: unknown) => app.registry.fail(conn, err))
    }
  }
  socket.on('message', (data, isBinary) => {
    // a throw here would reach uncaughtException (neither error handler sees it): catch at the edge
    try {
      const buf = data as Buffer
      conn.messagesIn++
      conn.bytesIn += buf.length
      if (isBinary) {
        socket.close(CLOSE.UNSUPPORTED_DATA, CLOSE_REASON[CLOSE.UNSUPPORTED_DATA])
        return
      }
      app.hub.receive(session, buf.toString('utf8'))
    } catch (err) {
      app.registry.fail(conn, err)
    }
  })
  socket.on('close', () => app.hub.close(session))
  app.hub.open(session, since, epoch).catch(() => {})
}

/** WS /ws/hub: a socket in no room that subscribes, publishes and signals by frame (docs/protocol.md). */
export default async function hubRoutes (fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const route = app.registry.route('hub')
  app.get('/ws/hub', { websocket: true, schema: { querystring: HubQuery }, preHandler: checkName }, (socket, req) => {
    openHubSocket(app, route, socket, req, undefined, undefined, undefined)
  })
}
