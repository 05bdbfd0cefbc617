import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { roomAllowed } from '../src/auth/jwt.js'
import { Type, type Static, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { CID_MAX, NAME_MAX, ROOM_PATTERN, parseName } from '../src/protocol/chat.js'
import { RoomLimitError } from '../src/hub/errors.js'
import { Data, EventName, MessageSchema } from '../src/protocol/frames.js'
import type { Hub } from '../src/hub/hub.js'
import type { Draft } from '../src/hub/types.js'

const FROM_MAX = 256
// 6 x (FROM_MAX + CID_MAX + 64 for the event) = 2,304 bytes of escaped strings, the rest for keys, quotes and whitespace
const ENVELOPE_BYTES = 4096
const RoomParams = Type.Object({ room: Type.String({ pattern: ROOM_PATTERN }) })
const Summary = Type.Object({ room: Type.String(), members: Type.Integer(), seq: Type.Integer(), epoch: Type.String() })
const Detail = Type.Object({ room: Type.String(), members: Type.Array(Type.String()), seq: Type.Integer(), epoch: Type.String() })
const HistoryQuery = Type.Object({
  since: Type.Optional(Type.Integer({ minimum: 0 })),
  // the page before a seq (the oldest one shown): "load older"; with `since` too, `since` wins
  before: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  epoch: Type.Optional(Type.String({ minLength: 1, maxLength: 64 }))
})
const History = Type.Object({
  room: Type.String(),
  epoch: Type.String(),
  seq: Type.Integer(),
  truncated: Type.Boolean(),
  messages: Type.Array(MessageSchema)
})
/** The HTTP publish body: the publish frame's fields (exactly one of `data` and `text`), and a display name. */
export const PublishBody = Type.Object({
  event: Type.Optional(EventName),
  data: Type.Optional(Data),
  text: Type.Optional(Type.String()),
  from: Type.Optional(Type.String({ maxLength: FROM_MAX })),
  cid: Type.Optional(Type.String({ minLength: 1, maxLength: CID_MAX }))
}, { additionalProperties: false, description: 'exactly one of `data` and `text`' })
export const Published = Type.Object({ seq: Type.Integer(), id: Type.String(), epoch: Type.String(), duplicate: Type.Boolean() })
export const ErrorReply = Type.Object({ statusCode: Type.Integer(), error: Type.String(), message: Type.String() })
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
    // personal streams (`@<userId>`) are their users' own: never listed
    return page.rooms.filter((r) => r.room.charCodeAt(0) !== 0x40 && (allowed === undefined || roomAllowed(allowed, r.room)))
  })

  app.get('/rooms/:room', { onRequest: reader, schema: { params: RoomParams, response: { 200: Detail, 404: ErrorReply } } }, async (req, reply) => {
    const { room } = req.params
    const [summary, members] = await Promise.all([app.hub.store.summary(room), app.hub.store.members(room)])
    if (summary === undefined) return await noRoom(reply, room)
    return { room, members, seq: summary.seq, epoch: summary.epoch }
  })

  app.get('/rooms/:room/history', { onRequest: reader, schema: { params: RoomParams, querystring: HistoryQuery, response: { 200: History, 404: ErrorReply } } }, async (req, reply) => {
    const { since, before, limit, epoch } = req.query
    const { room } = req.params
    // `before`: the `limit` messages under it are the ones after before - 1 - limit (seq is gapless in an epoch)
    const after = since ?? (before === undefined ? undefined : Math.max(0, before - 1 - limit))
    const backlog = await app.hub.store.peek(room, after, epoch, limit)
    if (backlog === undefined) return await noRoom(reply, room)
    if (since !== undefined || before === undefined) {
      return { room, epoch: backlog.epoch, seq: backlog.seq, truncated: backlog.truncated, messages: backlog.messages }
    }
    // another epoch's seqs say nothing about the one asked for: none of its messages are older than `before`
    if (epoch !== undefined && epoch !== backlog.epoch) return { room, epoch: backlog.epoch, seq: backlog.seq, truncated: true, messages: [] }
    let n = 0
    while (n < backlog.messages.length && backlog.messages[n]!.seq < before) n++
    return { room, epoch: backlog.epoch, seq: backlog.seq, truncated: backlog.truncated, messages: backlog.messages.slice(0, n) }
  })

  app.post('/rooms/:room/messages', {
    // onRequest, not preHandler: a caller without the token is answered before any body is read
    onRequest: app.requireApiToken,
    bodyLimit: publishBodyLimit(app.realtimeConfig),
    schema: { params: RoomParams, body: PublishBody, response: { 201: Published, 200: Published, 400: ErrorReply, 503: ErrorReply } }
  }, async (req, reply) => await publishHttp(app.hub, req.params.room, req.body, reply))
}

/**
 * The largest valid body: a text of CHAT_MAX_LENGTH code points, each of which JSON may write as a surrogate
 * pair of escapes (\uXXXX\uXXXX, 12 bytes; raw UTF-8 is at most 4), or data of MAX_DATA_BYTES as we serialise it,
 * each byte of which the caller may write as an escape (6 bytes); plus the envelope: `from` (256 UTF-16 units),
 * `cid` and `event` (64 each) at 6 bytes per escaped unit, keys and punctuation, under 4 KB. Anything larger
 * cannot be a message we would accept, so it is refused (413) before it is buffered.
 */
export function publishBodyLimit (config: { CHAT_MAX_LENGTH: number, MAX_DATA_BYTES: number }): number {
  return Math.max(12 * config.CHAT_MAX_LENGTH, 6 * config.MAX_DATA_BYTES) + ENVELOPE_BYTES
}

/** Publishes an HTTP body to a room or a personal stream: 201 (200 for a repeated cid), 400, or 503 at MAX_ROOMS. */
export async function publishHttp (hub: Hub, room: string, body: Static<typeof PublishBody>, reply: FastifyReply) {
  if ((body.text === undefined) === !Object.hasOwn(body, 'data')) return await badRequest(reply, 'the body needs exactly one of "data" and "text"')
  const from = parseName(body.from, () => 'server')
  if (!from.ok) return await badRequest(reply, `from: ${from.reason} (at most ${NAME_MAX})`)
  const draft: Draft = { from: from.name, cid: body.cid, sender: from.name }
  if (body.event !== undefined) draft.event = body.event
  if (body.text !== undefined) draft.text = body.text
  else draft.data = body.data
  let result: Awaited<ReturnType<typeof hub.publish>>
  try {
    result = await hub.publish(room, draft)
  } catch (err) {
    // MAX_ROOMS: a new room while every held room has members
    if (err instanceof RoomLimitError) return await reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'room limit reached: try again later' })
    throw err
  }
  if ('error' in result) return await badRequest(reply, result.error.message)
  // a repeated cid is answered with the original, 200 instead of 201: nothing new was created
  return await reply.code(result.duplicate ? 200 : 201).send({
    seq: result.message.seq, id: result.message.id, epoch: result.epoch, duplicate: result.duplicate
  })
}

async function badRequest (reply: FastifyReply, message: string) {
  return await reply.code(400).send({ statusCode: 400, error: 'Bad Request', message })
}
