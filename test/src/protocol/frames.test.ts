import t from 'tap'
import { Value } from '@sinclair/typebox/value'
import {
  AckSchema, ClientFrameSchema, ErrorSchema, MessageSchema, PublishSchema, SERVER_FRAME_BY_TYPE, ServerFrameSchema, SubscribeSchema
} from '../../../src/protocol/frames.js'
import { CLOSE, CLOSE_REASON, ERROR_CODES, closeAdvice } from '../../../src/protocol/codes.js'

t.test('client frames of the contract validate; malformed ones do not', async (t) => {
  t.ok(Value.Check(SubscribeSchema, { type: 'subscribe', ref: 1, room: 'a', since: 41, epoch: 'e1' }))
  t.ok(Value.Check(PublishSchema, { type: 'publish', ref: 'r', room: 'a', data: { price: 1 }, event: 'price', cid: 'k1' }))
  t.ok(Value.Check(PublishSchema, { type: 'publish', ref: 3, room: 'a', text: 'hi' }))
  t.notOk(Value.Check(PublishSchema, { type: 'publish', ref: 3, room: 'a' }), 'a publish needs data or text')
  t.notOk(Value.Check(PublishSchema, { type: 'publish', room: 'a', text: 'x', event: 'has space' }), 'event pattern')
  t.notOk(Value.Check(SubscribeSchema, { type: 'subscribe', ref: 'x'.repeat(65), room: 'a' }), 'a string ref is at most 64')
  t.ok(Value.Check(ClientFrameSchema, { type: 'signal', ref: 4, room: 'a', event: 'typing', data: null }))
  t.ok(Value.Check(ClientFrameSchema, { type: 'ping', ref: 5 }))
})

t.test('server frames of the contract validate; each type has its schema', async (t) => {
  const msg = { type: 'message', room: 'a', seq: 1, id: 'i', from: 'ann', ts: 1, event: 'price', data: [1, 2] }
  t.ok(Value.Check(MessageSchema, msg))
  t.ok(Value.Check(ServerFrameSchema, { type: 'subscribed', ref: 1, room: 'a', seq: 1, epoch: 'e', members: ['ann'], memberCount: 1, history: [msg] }))
  t.ok(Value.Check(AckSchema, { type: 'ack', ref: 3, room: 'a', seq: 1, id: 'i', epoch: 'e', cid: 'k1' }))
  t.notOk(Value.Check(ErrorSchema, { type: 'error', code: 'nope', message: 'm' }), 'unknown error code')
  for (const code of ERROR_CODES) t.ok(Value.Check(ErrorSchema, { type: 'error', ref: 'r', code, message: 'm' }), code)
  for (const [type, schema] of Object.entries(SERVER_FRAME_BY_TYPE)) {
    t.equal((schema.properties as Record<string, { const?: string }>).type?.const, type, `${type} maps to its schema`)
  }
})

t.test('close codes: 4000-4499 reconnect, 4500-4999 stop, each with a reason', async (t) => {
  for (const code of Object.values(CLOSE)) {
    if (code >= 4000) t.type(CLOSE_REASON[code], 'string', `${code} has a reason`)
  }
  t.equal(closeAdvice(CLOSE.RATE_LIMITED), 'reconnect')
  t.equal(closeAdvice(CLOSE.TOKEN_EXPIRED), 'reconnect')
  t.equal(closeAdvice(CLOSE.KICKED), 'stop')
  t.equal(closeAdvice(CLOSE.FORBIDDEN), 'stop')
  t.equal(closeAdvice(CLOSE.GOING_AWAY), 'reconnect')
  t.equal(closeAdvice(CLOSE.TOO_BIG), 'stop')
  t.equal(closeAdvice(1006), 'reconnect')
})
