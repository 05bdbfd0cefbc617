import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { roomAllowed } from '../src/auth/jwt.js'
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { CID_MAX, NAME_MAX, ROOM_PATTERN, parseName } from '../src/protocol/chat.js'
import { RoomLimitError } from '../src/hub/errors.js'

const FROM_MAX = 256
// 6 x (FROM_MAX + CID_MAX) = 1,920 bytes of escaped strings, the rest for keys, quotes and whitespace
const ENVELOPE_BYTES = 4096
const RoomParams = Type.Object({ room: Type.String({ pattern: ROOM_PATTERN }) })
const Message = Type.Object({
  type: Type.Literal('message'),
  id: Type.String(),
  room: Type.String(),
  seq: Type.Integer(),
  from: Type.String(),
  text: Type.String(),
  ts: Type.Number(),
  userId: Type.Optional(Type.String())
})
const Summary = Type.Object({ room: Type.String(), members: Type.Integer(), seq: Type.Integer(), epoch: Type.String() })
const Detail = Type.Object({ room: Type.String(), members: Type.Array(Type.String()), seq: Type.Integer(), epoch: Type.String() })
const HistoryQuery = Type.Object({
  since: Type.Optional(Type.Integer({ minimum: 0 })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  epoch: Type.Optional(Type.String({ minLength: 1, maxLength: 64 }))
})
const History = Type.Object({
  room: Type.String(),
  epoch: Type.String(),
  seq: Type.Integer(),
  truncated: Type.Boolean(),
  messages: Type.Array(Message)
})
const PublishBody = Type.Object({
  text: Type.String(),
  from: Type.Optional(Type.String({ maxLength: FROM_MAX })),
  cid: Type.Optional(Type.String({ minLength: 1, maxLength: CID_MAX }))
}, { additionalProperties: false })
const Published = Type.Object({ seq: Type.Integer(), id: Type.String(), epoch: Type.String(), duplicate: Type.Boolean() })
const ErrorReply = Type.Object({ statusCode: Type.Integer(), error: Type.String(), message: Type.String() })
const RoomsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  // the last room of the previous page (X-Next-Cursor)
  cursor: Type.Optional(Type.String({ pattern: ROOM_PATTERN }))
})

/** A read of a room the hub does not hold: 404, and nothing is created for it. */
function noRoom (reply: FastifyReply, room: string) {
  return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no room ${room}` })
}

/** The hub over HTTP: room listing, history, and publishing for backends (Bearer API_TOKEN). */
export default async function roomRoutes (fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  // With AUTH_MODE=jwt, rooms are read with the API_TOKEN (backends) or a user's token that allows the
  // room (the same rule as joining it): history must not be open to those who may not join.
  async function reader (req: FastifyRequest, reply: FastifyReply) {
    const { verifier } = app.auth
    if (verifier === null || app.hasApiToken(req)) return
    if (!await app.auth.identify(verifier, req, reply)) return reply
    const { room } = req.params as { room?: string }
    if (room !== undefined && !app.auth.allowRoom(req, reply, room)) return reply
  }

  // The body stays the bare array it always was; the way to the next page is in headers (an RFC 8288 Link and
  // X-Next-Cursor), absent on the last page. The cursor is the last room name of the page.
  app.get('/rooms', { onRequest: reader, schema: { querystring: RoomsQuery, response: { 200: Type.Array(Summary) } } }, async (req, reply) => {
    const { limit, cursor } = req.query
    const page = await app.hub.store.rooms(limit, cursor)
    if (page.next !== undefined) {
      reply.headers({ 'x-next-cursor': page.next, link: `</rooms?cursor=${page.next}&limit=${limit}>; rel="next"` })
    }
    const allowed = req.identity?.rooms
    return allowed === undefined ? page.rooms : page.rooms.filter((r) => roomAllowed(allowed, r.room))
  })

  app.get('/rooms/:room', { onRequest: reader, schema: { params: RoomParams, response: { 200: Detail, 404: ErrorReply } } }, async (req, reply) => {
    const { room } = req.params
    const [summary, members] = await Promise.all([app.hub.store.summary(room), app.hub.store.members(room)])
    if (summary === undefined) return await noRoom(reply, room)
    return { room, members, seq: summary.seq, epoch: summary.epoch }
  })

  app.get('/rooms/:room/history', { onRequest: reader, schema: { params: RoomParams, querystring: HistoryQuery, response: { 200: History, 404: ErrorReply } } }, async (req, reply) => {
    const { since, limit, epoch } = req.query
    const { room } = req.params
    const backlog = await app.hub.store.peek(room, since, epoch, limit)
    if (backlog === undefined) return await noRoom(reply, room)
    return { room, epoch: backlog.epoch, seq: backlog.seq, truncated: backlog.truncated, messages: backlog.messages }
  })

  // The largest valid body: a text of CHAT_MAX_LENGTH code points, each of which JSON may write as a
  // surrogate pair of escapes (\uXXXX\uXXXX, 12 bytes; raw UTF-8 is at most 4), plus the envelope: `from`
  // (256 UTF-16 units) and `cid` (CID_MAX) at 6 bytes per escaped unit, keys and punctuation, under 4 KB.
  // Anything larger cannot be a message we would accept, so it is refused (413) before it is buffered.
  const publishBodyLimit = 12 * app.realtimeConfig.CHAT_MAX_LENGTH + ENVELOPE_BYTES
  app.post('/rooms/:room/messages', {
    // onRequest, not preHandler: a caller without the token is answered before any body is read
    onRequest: app.requireApiToken,
    bodyLimit: publishBodyLimit,
    schema: { params: RoomParams, body: PublishBody, response: { 201: Published, 200: Published, 400: ErrorReply, 503: ErrorReply } }
  }, async (req, reply) => {
    const from = parseName(req.body.from, () => 'server')
    if (!from.ok) return await reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `from: ${from.reason} (at most ${NAME_MAX})` })
    let result: Awaited<ReturnType<typeof app.hub.publish>>
    try {
      result = await app.hub.publish(req.params.room, { from: from.name, text: req.body.text, cid: req.body.cid, sender: from.name })
    } catch (err) {
      // MAX_ROOMS: a new room while every held room has members
      if (err instanceof RoomLimitError) return await reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'room limit reached: try again later' })
      throw err
    }
    if ('error' in result) {
      const msg = result.error.type === 'error' ? result.error.message : 'invalid message'
      return await reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: msg })
    }
    // a repeated cid is answered with the original, 200 instead of 201: nothing new was created
    return await reply.code(result.duplicate ? 200 : 201).send({
      seq: result.message.seq, id: result.message.id, epoch: result.epoch, duplicate: result.duplicate
    })
  })
}
