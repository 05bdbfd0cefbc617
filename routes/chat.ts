import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { WebSocket } from 'ws'
import { ChatSession } from '../src/hub/hub.js'
import { DEFAULT_ROOM, ROOM_PATTERN, parseName } from '../src/protocol/chat.js'
import { refuse } from '../plugins/limits.js'

const RoomParams = Type.Object({ room: Type.String({ pattern: ROOM_PATTERN }) })
const ChatQuery = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 256 })),
  since: Type.Optional(Type.Integer({ minimum: 0 })),
  epoch: Type.Optional(Type.String({ minLength: 1, maxLength: 64 }))
}, { additionalProperties: true })

type ChatRequest = FastifyRequest<{ Params: Partial<Static<typeof RoomParams>>, Querystring: Static<typeof ChatQuery> }>

const guestName = () => `guest-${randomBytes(2).toString('hex')}`

/** /ws/chat (room "lobby") and /ws/chat/:room: the broadcast hub's WebSocket side. */
export default async function chatRoutes (fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const route = app.registry.route('chat')

  // before the upgrade: a room the token's `rooms` claim does not allow is 403; a bad display name is
  // 400, like every other bad parameter
  async function checkJoin (req: ChatRequest, reply: FastifyReply) {
    if (!app.auth.allowRoom(req, reply, req.params.room ?? DEFAULT_ROOM)) return reply
    const parsed = parseName(req.query.name, guestName)
    if (!parsed.ok) return await refuse(req, reply, 'bad_request', parsed.reason)
    // MAX_ROOMS: a new room when every held room has members is a 503 here, not a 101 and a close
    if (!await app.hub.store.canCreate(req.params.room ?? DEFAULT_ROOM)) {
      return await refuse(req, reply, 'capacity', 'room limit reached: try again later')
    }
  }

  function onChat (socket: WebSocket, req: ChatRequest) {
    const room = req.params.room ?? DEFAULT_ROOM
    const parsed = parseName(req.query.name, guestName)
    // a token's name claim is the display name; ?name= only without one
    const name = req.identity?.name ?? (parsed.ok ? parsed.name : guestName())
    const conn = app.registry.open(socket, req, { route, room })
    const session = new ChatSession(conn, room, name, app.hub.options)
    if (req.identity !== null) {
      app.auth.watch(conn, req.identity, true)
      session.onRefresh = (token) => {
        app.auth.refresh(conn, token).then((frame) => app.hub.sendTo(session, frame), (err: unknown) => app.registry.fail(conn, err))
      }
    }
    // listeners first, before any await: ws drops frames that arrive with no listener
    socket.on('message', (data, isBinary) => {
      // a throw here would reach uncaughtException (neither error handler sees it): catch at the edge
      try {
        const buf = data as Buffer
        conn.messagesIn++
        conn.bytesIn += buf.length
        if (isBinary) {
          socket.close(1003, 'chat accepts text frames only')
          return
        }
        app.hub.receive(session, buf.toString('utf8'))
      } catch (err) {
        app.registry.fail(conn, err)
      }
    })
    socket.on('close', () => app.hub.close(session))
    app.hub.open(session, req.query.since, req.query.epoch).catch(() => {})
  }

  const query = { querystring: ChatQuery }
  app.get('/ws/chat', { websocket: true, schema: query, preHandler: checkJoin }, onChat)
  app.get('/ws/chat/:room', { websocket: true, schema: { ...query, params: RoomParams }, preHandler: checkJoin }, onChat)
}
