// `npm run docs:asyncapi`: writes docs/asyncapi.json, the AsyncAPI 3 description of the WebSocket protocol,
// generated from the frame schemas (frames.ts) and the codes (codes.ts), so it cannot say something the server
// does not do. test/src/protocol/asyncapi.test.ts fails when the committed file is stale, and checks it with
// @asyncapi/parser.
import { readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { TSchema } from '@sinclair/typebox'
import { CLOSE, CLOSE_REASON, ERROR_CODES, ROOM_PATTERN } from './codes.js'
import {
  AckSchema, ChatMessageSchema, ErrorSchema, ExpiringSchema, JoinSchema, LeaveSchema, MessageSchema, PingSchema,
  PongSchema, PublishSchema, RefreshedSchema, RefreshSchema, SignalOutSchema, SignalSchema, SubscribedSchema,
  SubscribeSchema, UnsubscribedSchema, UnsubscribeSchema, WelcomeSchema
} from './frames.js'

interface Described { name: string, schema: TSchema, summary: string }

/** client -> server frames, as [message key, schema]; `chatOnly` ones are not part of /ws/hub */
const CLIENT: Array<Described & { chatOnly?: true }> = [
  { name: 'subscribe', schema: SubscribeSchema, summary: 'Join a room, or resume it after `since`.' },
  { name: 'unsubscribe', schema: UnsubscribeSchema, summary: 'Leave a room.' },
  { name: 'publish', schema: PublishSchema, summary: 'Publish `data` or `text` to a subscribed room.' },
  { name: 'signal', schema: SignalSchema, summary: 'An ephemeral event for the room\'s other members.' },
  { name: 'chatMessage', schema: ChatMessageSchema, summary: 'The chat protocol\'s message (a plain text frame is one too).', chatOnly: true },
  { name: 'ping', schema: PingSchema, summary: 'Answered with pong.' },
  { name: 'refresh', schema: RefreshSchema, summary: 'Adopt a fresh token (AUTH_MODE=jwt).' }
]

const SERVER: Array<Described & { chatOnly?: true }> = [
  { name: 'welcome', schema: WelcomeSchema, summary: 'The first frame of a chat socket.', chatOnly: true },
  { name: 'subscribed', schema: SubscribedSchema, summary: 'A subscription is open (the reply to subscribe).' },
  { name: 'unsubscribed', schema: UnsubscribedSchema, summary: 'The reply to unsubscribe.' },
  { name: 'message', schema: MessageSchema, summary: 'A message of a room or personal stream.' },
  { name: 'ack', schema: AckSchema, summary: 'A publish or signal was accepted.' },
  { name: 'signalEvent', schema: SignalOutSchema, summary: 'A signal from another member.' },
  { name: 'join', schema: JoinSchema, summary: 'Presence: someone joined.' },
  { name: 'leave', schema: LeaveSchema, summary: 'Presence: someone left.' },
  { name: 'error', schema: ErrorSchema, summary: 'A frame was refused.' },
  { name: 'pong', schema: PongSchema, summary: 'The reply to ping.' },
  { name: 'refreshed', schema: RefreshedSchema, summary: 'The reply to an accepted refresh.' },
  { name: 'expiring', schema: ExpiringSchema, summary: 'The token expires soon.' }
]

/** A schema as plain JSON (TypeBox's symbol keys are dropped by the round trip). */
function json (schema: TSchema): unknown {
  return JSON.parse(JSON.stringify(schema))
}

function closeCodeTable (): string {
  const lines = ['| code | meaning | client action |', '|--:|---|---|']
  for (const [name, code] of Object.entries(CLOSE)) {
    const action = code >= 4500 ? 'do not reconnect' : code >= 4000 ? 'reconnect with backoff' : code === 1001 || code === 1011 ? 'reconnect with backoff' : 'stop (fix the client)'
    lines.push(`| ${code} | ${name}${CLOSE_REASON[code] !== undefined ? ` ("${CLOSE_REASON[code]}")` : ''} | ${code === 1000 ? 'none' : action} |`)
  }
  return lines.join('\n')
}

/** The AsyncAPI 3.0 document of the hub protocol. */
export function asyncApiDocument (version: string): Record<string, unknown> {
  const messages: Record<string, unknown> = {}
  for (const m of [...CLIENT, ...SERVER]) {
    messages[m.name] = { name: m.name, title: (m.schema.title as string | undefined) ?? m.name, summary: m.summary, contentType: 'application/json', payload: json(m.schema) }
  }
  const channelMessages = (chat: boolean) => {
    const out: Record<string, unknown> = {}
    for (const m of [...CLIENT, ...SERVER]) if (chat || m.chatOnly !== true) out[m.name] = { $ref: `#/components/messages/${m.name}` }
    return out
  }
  const refs = (channel: string, list: Array<Described & { chatOnly?: true }>, chat: boolean) =>
    list.filter((m) => chat || m.chatOnly !== true).map((m) => ({ $ref: `#/channels/${channel}/messages/${m.name}` }))
  const operations: Record<string, unknown> = {}
  for (const [channel, chat] of [['hub', false], ['chat', true]] as const) {
    operations[`${channel}ClientFrames`] = {
      action: 'receive',
      channel: { $ref: `#/channels/${channel}` },
      summary: 'Frames a client sends; each may carry `ref`, echoed in its reply.',
      messages: refs(channel, CLIENT, chat)
    }
    operations[`${channel}ServerFrames`] = {
      action: 'send',
      channel: { $ref: `#/channels/${channel}` },
      summary: 'Frames the server sends.',
      messages: refs(channel, SERVER, chat)
    }
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'fastify-realtime hub protocol',
      version,
      description: [
        'JSON text frames over WebSocket. Generated from src/protocol/frames.ts by `npm run docs:asyncapi`; the prose is docs/protocol.md.',
        '',
        `Error codes: ${ERROR_CODES.join(', ')}.`,
        '',
        'Close codes:',
        '',
        closeCodeTable()
      ].join('\n')
    },
    servers: {
      local: { host: 'localhost:3000', protocol: 'ws', description: 'a server started with `npm run dev`' }
    },
    channels: {
      hub: {
        address: '/ws/hub',
        title: 'Hub socket',
        description: 'Starts in no room: subscribe, publish and signal by frame. With AUTH_MODE=jwt it is subscribed to `@<userId>` at once.',
        messages: channelMessages(false)
      },
      chat: {
        address: '/ws/chat/{room}',
        title: 'Chat socket',
        description: 'In `room` from the start (`/ws/chat` is the room `lobby`): the welcome comes first, frames without a room go to it. Speaks every hub frame too.',
        parameters: { room: { description: `a room name (${ROOM_PATTERN})` } },
        messages: channelMessages(true)
      }
    },
    operations,
    components: { messages },
    'x-close-codes': CLOSE,
    'x-error-codes': ERROR_CODES
  }
}

/** The file's text as committed: the document, two-space indented, with a final newline. */
export function asyncApiText (version: string): string {
  return JSON.stringify(asyncApiDocument(version), null, 2) + '\n'
}

const ROOT = new URL('../../', import.meta.url)

export function packageVersion (): string {
  return (JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { version: string }).version
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  const out = new URL('docs/asyncapi.json', ROOT)
  writeFileSync(out, asyncApiText(packageVersion()))
  console.log(`wrote ${fileURLToPath(out)}`)
}
