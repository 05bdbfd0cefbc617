// The shared frame contract: every frame of the hub protocol (WS /ws/hub, and /ws/chat[/:room], which speaks it
// too) as a TypeBox schema. One object per frame is the TypeScript type (Static), the JSON Schema that
// docs/asyncapi.json and the test fixture check frames against, and what the client library imports (as types
// only: the runtime values a browser needs are in codes.ts, which imports nothing).
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { CID_MAX, EPOCH_MAX, ERROR_CODES, EVENT_PATTERN, REF_MAX, ROOM_PATTERN, USER_ID_MAX } from './codes.js'

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces

/** A request reference: echoed unchanged in the reply to the frame that carried it. */
export const RefSchema = Type.Union([Type.Number(), Type.String({ maxLength: REF_MAX })], {
  title: 'Ref', description: `a number, or a string of at most ${REF_MAX} characters, echoed in the reply`
})
export type Ref = Static<typeof RefSchema>

/** A room (ROOM_PATTERN), or a user's personal stream `@<userId>`. */
export const RoomName = Type.String({
  minLength: 1,
  maxLength: USER_ID_MAX + 1,
  description: `a room (${ROOM_PATTERN}) or a personal stream "@<userId>"`
})

export const EventName = Type.String({ pattern: EVENT_PATTERN, description: 'an application event name' })
export const Cid = Type.String({ minLength: 1, maxLength: CID_MAX, description: 'client id of a message: a retry with the same cid is acked, not published twice' })
export const Epoch = Type.String({ minLength: 1, maxLength: EPOCH_MAX, description: 'one continuous life of a room\'s seq' })
export const Seq = Type.Integer({ minimum: 0, description: 'gapless per room and epoch' })
/** Any JSON value (bounded by MAX_DATA_BYTES once serialised). */
export const Data = Type.Unknown({ description: 'any JSON value, at most MAX_DATA_BYTES serialised' })

const ref = Type.Optional(RefSchema)

// ---------------------------------------------------------------------------------------------------------------
// Client -> server

export const SubscribeSchema = Type.Object({
  type: Type.Literal('subscribe'),
  ref,
  room: RoomName,
  since: Type.Optional(Type.Integer({ minimum: 0, description: 'the last seq seen: history holds what follows it' })),
  epoch: Type.Optional(Epoch)
}, { title: 'SubscribeFrame', description: 'join a room (or resume it after `since` in `epoch`); answered with subscribed' })
export type SubscribeFrame = Static<typeof SubscribeSchema>

export const UnsubscribeSchema = Type.Object({
  type: Type.Literal('unsubscribe'),
  ref,
  room: RoomName
}, { title: 'UnsubscribeFrame', description: 'leave a room; answered with unsubscribed' })
export type UnsubscribeFrame = Static<typeof UnsubscribeSchema>

const publishFields = {
  type: Type.Literal('publish'),
  ref,
  room: RoomName,
  event: Type.Optional(EventName),
  cid: Type.Optional(Cid)
}

/** A publish carries exactly one body: `data` (any JSON) or `text`. */
export const PublishSchema = Type.Union([
  Type.Object({ ...publishFields, data: Data }),
  Type.Object({ ...publishFields, text: Type.String({ description: 'at most CHAT_MAX_LENGTH code points' }) })
], { title: 'PublishFrame', description: 'publish to a subscribed room, with exactly one of `data` and `text`; answered with ack' })
export type PublishFrame = Static<typeof PublishSchema>

export const SignalSchema = Type.Object({
  type: Type.Literal('signal'),
  ref,
  room: RoomName,
  event: EventName,
  data: Type.Optional(Data)
}, { title: 'SignalFrame', description: 'an ephemeral event for the room\'s other members (no seq, no history); answered with ack (no seq) on success' })
export type SignalFrame = Static<typeof SignalSchema>

/** The chat protocol's message frame: publishes to `room`, else to the room of the socket's URL. */
export const ChatMessageSchema = Type.Object({
  type: Type.Literal('message'),
  ref,
  room: Type.Optional(RoomName),
  text: Type.String(),
  cid: Type.Optional(Cid)
}, { title: 'ChatMessageFrame', description: '/ws/chat only: a text message to `room`, else the URL\'s room; acked when it has a cid or a ref' })
export type ChatMessageFrame = Static<typeof ChatMessageSchema>

export const PingSchema = Type.Object({
  type: Type.Literal('ping'),
  ref
}, { title: 'PingFrame', description: 'answered with pong' })
export type PingFrame = Static<typeof PingSchema>

export const RefreshSchema = Type.Object({
  type: Type.Literal('refresh'),
  ref,
  token: Type.String({ minLength: 1 })
}, { title: 'RefreshFrame', description: 'AUTH_MODE=jwt: adopt a fresh token of the same user; answered with refreshed or error unauthorized' })
export type RefreshFrame = Static<typeof RefreshSchema>

export const CLIENT_FRAME_SCHEMAS = [SubscribeSchema, UnsubscribeSchema, PublishSchema, SignalSchema, ChatMessageSchema, PingSchema, RefreshSchema] as const
export const ClientFrameSchema = Type.Union([...CLIENT_FRAME_SCHEMAS])
export type ClientFrame = Static<typeof ClientFrameSchema>

// ---------------------------------------------------------------------------------------------------------------
// Server -> client

export const MessageSchema = Type.Object({
  type: Type.Literal('message'),
  id: Type.String({ description: 'unique id (UUID)' }),
  room: RoomName,
  seq: Type.Integer({ minimum: 1 }),
  from: Type.String({ description: 'display name of the sender' }),
  ts: Type.Number({ description: 'server time in ms since the Unix epoch' }),
  event: Type.Optional(EventName),
  text: Type.Optional(Type.String()),
  data: Type.Optional(Data),
  userId: Type.Optional(Type.String({ description: 'the authenticated sender (AUTH_MODE=jwt)' }))
}, { title: 'MessageFrame', description: 'a message published to a room (held in its history); carries `text` or `data`' })
export type MessageFrame = Static<typeof MessageSchema>

const roomState = {
  seq: Seq,
  epoch: Epoch,
  members: Type.Array(Type.String(), { description: 'display names, empty above PRESENCE_EVENTS_MAX_MEMBERS' }),
  memberCount: Type.Integer({ minimum: 0 }),
  history: Type.Array(MessageSchema, { description: 'held messages after `since`, oldest first' }),
  truncated: Type.Optional(Type.Literal(true, { description: 'messages after `since` are gone, or the epoch is not the room\'s' }))
}

export const WelcomeSchema = Type.Object({
  type: Type.Literal('welcome'),
  id: Type.String({ description: 'the connection id' }),
  name: Type.String({ description: 'this socket\'s display name' }),
  room: RoomName,
  ...roomState,
  userId: Type.Optional(Type.String())
}, { title: 'WelcomeFrame', description: '/ws/chat only: the first frame, the URL room\'s state' })
export type WelcomeFrame = Static<typeof WelcomeSchema>

export const SubscribedSchema = Type.Object({
  type: Type.Literal('subscribed'),
  ref,
  room: RoomName,
  ...roomState
}, { title: 'SubscribedFrame', description: 'the reply to subscribe (and, without ref, the automatic subscription to the personal stream)' })
export type SubscribedFrame = Static<typeof SubscribedSchema>

export const UnsubscribedSchema = Type.Object({
  type: Type.Literal('unsubscribed'),
  ref,
  room: RoomName,
  code: Type.Optional(Type.Literal('forbidden', {
    description: 'only on an unsubscribe the server made itself, without ref: a token refresh whose rooms claim no longer allows the room'
  }))
}, { title: 'UnsubscribedFrame', description: 'the reply to unsubscribe, or (with code, without ref) the server leaving a room the socket may no longer read' })
export type UnsubscribedFrame = Static<typeof UnsubscribedSchema>

export const AckSchema = Type.Object({
  type: Type.Literal('ack'),
  ref,
  room: RoomName,
  seq: Type.Optional(Type.Integer({ minimum: 1 })),
  id: Type.Optional(Type.String()),
  epoch: Type.Optional(Epoch),
  cid: Type.Optional(Cid)
}, { title: 'AckFrame', description: 'a publish was accepted (seq, id, epoch of the message); a signal was delivered (room only)' })
export type AckFrame = Static<typeof AckSchema>

export const SignalOutSchema = Type.Object({
  type: Type.Literal('signal'),
  room: RoomName,
  from: Type.String(),
  event: EventName,
  data: Type.Optional(Data),
  userId: Type.Optional(Type.String())
}, { title: 'SignalOutFrame', description: 'an ephemeral event from another member: no seq, never in history' })
export type SignalOutFrame = Static<typeof SignalOutSchema>

const presence = {
  room: RoomName,
  name: Type.String(),
  ts: Type.Number(),
  userId: Type.Optional(Type.String())
}
export const JoinSchema = Type.Object({ type: Type.Literal('join'), ...presence }, { title: 'JoinFrame', description: 'someone joined a room this socket is in' })
export type JoinFrame = Static<typeof JoinSchema>
export const LeaveSchema = Type.Object({ type: Type.Literal('leave'), ...presence }, { title: 'LeaveFrame', description: 'someone left a room this socket is in' })
export type LeaveFrame = Static<typeof LeaveSchema>

export const ErrorCodeSchema = Type.Union(ERROR_CODES.map((c) => Type.Literal(c)))
export const ErrorSchema = Type.Object({
  type: Type.Literal('error'),
  ref,
  code: ErrorCodeSchema,
  message: Type.String(),
  room: Type.Optional(RoomName),
  cid: Type.Optional(Cid)
}, { title: 'ErrorFrame', description: 'a frame was refused; `ref` (and `cid`) say which' })
export type ErrorFrame = Static<typeof ErrorSchema>

export const PongSchema = Type.Object({
  type: Type.Literal('pong'),
  ref,
  ts: Type.Number()
}, { title: 'PongFrame', description: 'the reply to ping' })
export type PongFrame = Static<typeof PongSchema>

export const RefreshedSchema = Type.Object({
  type: Type.Literal('refreshed'),
  ref,
  exp: Type.Integer({ description: 'the new expiry, in seconds since the Unix epoch' })
}, { title: 'RefreshedFrame', description: 'the reply to a refresh the server accepted' })
export type RefreshedFrame = Static<typeof RefreshedSchema>

export const ExpiringSchema = Type.Object({
  type: Type.Literal('expiring'),
  in: Type.Integer({ minimum: 0, description: 'milliseconds until the token expires' })
}, { title: 'ExpiringFrame', description: 'the token expires soon: send refresh, or the socket is closed with 4002' })
export type ExpiringFrame = Static<typeof ExpiringSchema>

export const SERVER_FRAME_SCHEMAS = [
  WelcomeSchema, SubscribedSchema, UnsubscribedSchema, MessageSchema, AckSchema, SignalOutSchema, JoinSchema, LeaveSchema,
  ErrorSchema, PongSchema, RefreshedSchema, ExpiringSchema
] as const
export const ServerFrameSchema = Type.Union([...SERVER_FRAME_SCHEMAS])
export type ServerFrame = Static<typeof ServerFrameSchema>

/** The schema of each server frame by its `type` (the test fixture checks every frame sent against it). */
export const SERVER_FRAME_BY_TYPE: Readonly<Record<ServerFrame['type'], TSchema>> = {
  welcome: WelcomeSchema,
  subscribed: SubscribedSchema,
  unsubscribed: UnsubscribedSchema,
  message: MessageSchema,
  ack: AckSchema,
  signal: SignalOutSchema,
  join: JoinSchema,
  leave: LeaveSchema,
  error: ErrorSchema,
  pong: PongSchema,
  refreshed: RefreshedSchema,
  expiring: ExpiringSchema
}
