import { readFileSync } from 'node:fs'
import t from 'tap'
import { Parser } from '@asyncapi/parser'
import { asyncApiText, packageVersion } from '../../../src/protocol/asyncapi.js'
import { ERROR_CODES } from '../../../src/protocol/codes.js'
import { SERVER_FRAME_BY_TYPE } from '../../../src/protocol/frames.js'

const committed = readFileSync(new URL('../../../docs/asyncapi.json', import.meta.url), 'utf8')

t.test('docs/asyncapi.json is what the schemas generate (run npm run docs:asyncapi after changing a frame)', async (t) => {
  t.equal(committed, asyncApiText(packageVersion()))
})

t.test('docs/asyncapi.json is a valid AsyncAPI 3 document with every frame', async (t) => {
  const { document, diagnostics } = await new Parser().parse(committed)
  // severity 0 is an error; warnings (1) and hints do not make a document invalid
  const errors = diagnostics.filter((d) => d.severity === 0)
  t.same(errors.map((d) => `${d.path.join('.')}: ${d.message}`), [], 'no errors')
  t.ok(document, 'parsed')
  t.equal(document?.version(), '3.0.0')
  const names = new Set(document?.allMessages().all().map((m) => m.name()) ?? [])
  for (const type of Object.keys(SERVER_FRAME_BY_TYPE)) t.ok(names.has(type === 'signal' ? 'signalEvent' : type), `server frame ${type}`)
  for (const type of ['subscribe', 'unsubscribe', 'publish', 'signal', 'ping', 'refresh', 'chatMessage']) t.ok(names.has(type), `client frame ${type}`)
  t.same(JSON.parse(committed)['x-error-codes'], ERROR_CODES)
})
