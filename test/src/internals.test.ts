// Fails when a Node or ws update removes or reshapes a private field src/internals.ts relies on: each
// reach is checked on the real object (a ws server/client pair, a Node HTTP request's socket).
import { once } from 'node:events'
import { createServer, ServerResponse, type IncomingMessage } from 'node:http'
import { Socket, type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import * as ws from 'ws'
import WebSocket, { WebSocketServer } from 'ws'
import { detachResponse, dropClearedTimeout, duplexOf, forgetPeername, streamOf, timeoutSymbol, webSocketOf } from '../../src/internals.js'

/** a connected ws client and its server-side socket, closed at teardown */
async function wsPair (t: Test): Promise<{ client: WebSocket, server: WebSocket }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' })
  t.teardown(() => wss.close())
  await once(wss, 'listening')
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`)
  t.teardown(() => client.terminate())
  await once(client, 'open')
  const [server] = await accepted
  return { client, server }
}

t.test('ws keeps each side\'s net.Socket in _socket: writable, corkable', async (t) => {
  const { client, server } = await wsPair(t)
  for (const [side, ws] of [['client', client], ['server', server]] as const) {
    const stream = streamOf(ws)
    t.ok(stream instanceof Socket, `${side}: _socket is the net.Socket`)
    t.equal(stream?.writableCorked, 0, `${side}: writableCorked is a count`)
    stream!.cork()
    t.equal(stream?.writableCorked, 1)
    stream!.uncork()
    t.type(stream!.write, 'function')
  }
  // a frame written past ws on the server's stream arrives as a frame at the client
  const got = once(client, 'message') as Promise<[Buffer, boolean]>
  streamOf(server)!.write(Buffer.from([0x81, 0x02, 0x68, 0x69])) // FIN text "hi"
  const [data, isBinary] = await got
  t.equal(String(data), 'hi')
  t.equal(isBinary, false)
  t.equal(streamOf({}), undefined, 'an object without one gives undefined')
})

t.test('ws\'s stream leads back to its WebSocket, and tells when it must drain', async (t) => {
  const { client, server } = await wsPair(t)
  for (const [side, ws] of [['client', client], ['server', server]] as const) {
    const stream = duplexOf(ws)
    t.ok(stream instanceof Socket, `${side}: _socket is the net.Socket`)
    t.equal(webSocketOf(stream!), ws, `${side}: the stream's back-reference is its WebSocket`)
    t.equal(stream!.writableNeedDrain, false, `${side}: writableNeedDrain is a boolean`)
  }
  t.equal(webSocketOf(new Socket()), undefined, 'a stream ws never took has none')
  t.equal(duplexOf({}), undefined)
})

t.test('ws\'s extension parser is public (plugins/upgrade-guard) and parses extension offers', async (t) => {
  const { extension } = ws as unknown as { extension?: { parse?: (header: string) => Record<string, unknown> } }
  t.type(extension?.parse, 'function', 'ws exports its extension parser')
  t.ok(extension!.parse!('permessage-deflate; client_max_window_bits')['permessage-deflate'], 'parses a valid offer')
  t.throws(() => extension!.parse!('permessage-deflate; ='), 'throws on a malformed one')
})

t.test('a Node HTTP socket has _httpMessage, _peername and the timeout symbol', async (t) => {
  const kTimeout = timeoutSymbol()
  t.type(kTimeout, 'symbol', 'net.Socket still has its own timeout symbol')
  t.ok(Object.getOwnPropertySymbols(new Socket()).includes(kTimeout!))

  const seen: Array<{ tcp: Socket, res: ServerResponse, address: string | undefined }> = []
  const server = createServer((req: IncomingMessage, res) => {
    const tcp = req.socket
    tcp.setTimeout(60_000, () => {}) // as Node's connection timeout does: a Timeout in the symbol's slot
    const address = tcp.remoteAddress // as req.ip does: Node caches the peer on the socket
    seen.push({ tcp, res, address })
    res.end('ok')
  })
  t.teardown(() => server.close())
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const body = once(server, 'request')
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { headers: { connection: 'close' } })
  await body
  await res.text()
  const { tcp, res: response, address } = seen[0]!
  t.equal(address, '127.0.0.1')
  const fields = tcp as unknown as Record<string | symbol, unknown>
  // _httpMessage: the live response while it is being written; checked on a fresh pairing below
  t.match(fields._peername, { address: '127.0.0.1', family: 'IPv4' }, '_peername caches the peer')
  t.ok(fields[kTimeout!] !== null && typeof fields[kTimeout!] === 'object', 'the Timeout sits in the symbol slot')

  forgetPeername(tcp)
  t.equal(fields._peername, undefined)
  dropClearedTimeout(tcp)
  t.equal(fields[kTimeout!], null)

  // a response assigned to a socket is its _httpMessage until detached, as for an upgrade's response
  const raw = new Socket()
  const fresh = new ServerResponse(Object.assign(Object.create(null) as IncomingMessage, { method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1, headers: {} }))
  fresh.assignSocket(raw)
  t.equal((raw as unknown as { _httpMessage: unknown })._httpMessage, fresh, '_httpMessage is the response')
  detachResponse(raw)
  t.equal((raw as unknown as { _httpMessage: unknown })._httpMessage, null, 'detached')
  detachResponse(raw) // nothing attached: nothing to do
  raw.destroy()
  t.ok(response.writableEnded)
})
