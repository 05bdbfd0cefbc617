import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { WebSocket } from 'ws'
import { DEFAULT_ROOM, ROOM_PATTERN } from '../src/protocol/chat.js'
import { refuse } from '../plugins/limits.js'
import { checkName, HubQuery, openHubSocket } from './hub.js'

const RoomParams = Type.Object({ room: Type.String({ pattern: ROOM_PATTERN }) })
const ChatQuery = Type.Composite([HubQuery, Type.Object({
  since: Type.Optional(Type.Integer({ minimum: 0 })),
  epoch: Type.Optional(Type.String({ minLength: 1, maxLength: 64 }))
})], { additionalProperties: true })

type ChatRequest = FastifyRequest<{ Params: Partial<Static<typeof RoomParams>>, Querystring: Static<typeof ChatQuery> }>

/**
 * /ws/chat (room "lobby") and /ws/chat/:room: the hub with a room from the URL, whose welcome comes first and
 * where frames without a room go. They speak every frame of /ws/hub too (routes/hub.ts).
 */
export default async function chatRoutes (fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const route = app.registry.route('chat')

  // before the upgrade: a room the token's `rooms` claim does not allow is 403; a bad display name is
  // 400, like every other bad parameter
  async function checkJoin (req: ChatRequest, reply: FastifyReply) {
    if (!app.auth.allowRoom(req, reply, req.params.room ?? DEFAULT_ROOM)) return reply
    const refused = await checkName(req, reply)
    if (refused !== undefined) return refused
    // MAX_ROOMS: a new room when every held room has members is a 503 here, not a 101 and a close
    if (!await app.hub.store.canCreate(req.params.room ?? DEFAULT_ROOM)) {
      return await refuse(req, reply, 'capacity', 'room limit reached: try again later')
    }
  }

  function onChat (socket: WebSocket, req: ChatRequest) {
    openHubSocket(app, route, socket, req, req.params.room ?? DEFAULT_ROOM, req.query.since, req.query.epoch)
  }

  const query = { querystring: ChatQuery }
  app.get('/ws/chat', { websocket: true, schema: query, preHandler: checkJoin }, onChat)
  app.get('/ws/chat/:room', { websocket: true, schema: { ...query, params: RoomParams }, preHandler: checkJoin }, onChat)
}
