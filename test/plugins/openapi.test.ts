// plugins/openapi: GET /openapi.json is valid OpenAPI 3.1 and describes the HTTP routes from their schemas.
import t from 'tap'
import Fastify from 'fastify'
import { Validator } from '@seriousme/openapi-schema-validator'
import realtime from '../../plugins/realtime.js'
import { build } from '../helper.js'

t.test('the service: valid OpenAPI 3.1 with the HTTP routes and their schemas, no WebSocket route', async (t) => {
  const app = await build(t)
  const res = await app.inject('/openapi.json')
  t.equal(res.statusCode, 200)
  const spec = res.json()
  const result = await new Validator().validate(spec)
  t.same(result.errors, undefined, 'no validation errors')
  t.ok(result.valid)
  t.equal(spec.openapi, '3.1.0')
  t.ok(spec.paths['/rooms/{room}/messages'].post.requestBody, 'the publish body is described')
  t.ok(spec.paths['/rooms/{room}/history'].get.parameters.some((p: { name: string, in: string }) => p.name === 'room' && p.in === 'path'), 'path parameters from the params schema')
  t.notOk(spec.paths['/ws/echo'], 'WebSocket routes are left out')
  t.notOk(spec.paths['/openapi.json'], 'nor the document itself')
})

t.test('under a prefix, and off with openapi: false', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(realtime, { prefix: '/rt' })
  const spec = (await app.inject('/rt/openapi.json')).json()
  t.ok((await new Validator().validate(spec)).valid)
  t.ok(spec.paths['/rt/rooms'], 'paths carry the prefix')
  const off = Fastify()
  t.teardown(() => off.close())
  await off.register(realtime, { prefix: '/rt', openapi: false })
  t.equal((await off.inject('/rt/openapi.json')).statusCode, 404)
})
