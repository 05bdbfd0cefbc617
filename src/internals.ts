// Every reach into a private field of Node or ws, in one place. Each is taken for a reason given beside
// it, degrades to the public behaviour when the field is missing, and is checked by
// test/src/internals.test.ts, which fails when a dependency update removes or reshapes one.

import type { ServerResponse } from 'node:http'
import { Socket as NetSocket } from 'node:net'
import type { Duplex } from 'node:stream'

/** The stream under a ws WebSocket (a net.Socket; injectWS's duplex), as far as writing to it needs. */
export interface RawStream {
  readonly writableCorked: number
  cork (): void
  uncork (): void
  write (chunk: Buffer): boolean
}

/**
 * ws's WebSocket keeps its stream in `_socket` (private, stable through ws 8). Writing prebuilt frames
 * to it, and corking it around a burst, saves ws framing the same bytes again per socket. Objects
 * without one (unit-test fakes) give undefined: their frames then go through send(), only slower.
 */
export function streamOf (socket: object): RawStream | undefined {
  return (socket as { _socket?: RawStream | null })._socket ?? undefined
}

/**
 * The same `_socket`, typed as the Duplex it is (a net.Socket; injectWS's duplex), for what backpressure
 * needs of it: `writableNeedDrain` and its 'drain' event.
 */
export function duplexOf (socket: object): Duplex | undefined {
  return (socket as { _socket?: Duplex | null })._socket ?? undefined
}

/** ws's back-reference from a stream to its WebSocket (a private symbol of ws's, found on first use). */
let kWebSocket: symbol | undefined

/**
 * The WebSocket a stream carries: ws keeps it on the stream under its private `Symbol('websocket')`.
 * It lets one listener on the stream ('drain') serve every socket without a closure per socket.
 * Undefined for a stream ws did not take (or if a ws update drops the back-reference).
 */
export function webSocketOf (stream: object): { resume (): void } | undefined {
  kWebSocket ??= Object.getOwnPropertySymbols(stream).find((sym) => sym.description === 'websocket')
  return kWebSocket === undefined ? undefined : (stream as Record<symbol, { resume (): void } | undefined>)[kWebSocket]
}

/** The TCP socket under an upgrade request, with the private fields the functions below touch. */
type UpgradedSocket = NetSocket & { _httpMessage?: ServerResponse | null, _peername?: object }

/**
 * @fastify/websocket keeps the upgrade request alive for the socket's whole life: the ServerResponse
 * stays attached to the TCP socket (`_httpMessage`), and its 'error' listener closes over request and
 * reply (several KB per idle socket). Detaching it lets the request be collected.
 */
export function detachResponse (tcp: NetSocket): void {
  const res = (tcp as UpgradedSocket)._httpMessage
  if (res != null) res.detachSocket(tcp)
}

/** net.Socket's own timer slot (a private symbol of Node's, stable since Node 12); undefined if it ever goes */
const kTimeout = Object.getOwnPropertySymbols(new NetSocket()).find((sym) => sym.description === 'timeout')

/**
 * ws clears the HTTP connection timeout at the upgrade (setTimeout(0)), but Node keeps the cleared
 * Timeout and its bound callback on the socket for the socket's life; drop it.
 */
export function dropClearedTimeout (tcp: NetSocket): void {
  if (kTimeout !== undefined) (tcp as unknown as Record<symbol, unknown>)[kTimeout] = null
}

/**
 * Reading req.ip makes Node cache {address, family, port} on the socket (`_peername`); the registry
 * entry keeps the address, and Node asks the kernel again if anything wants it later.
 */
export function forgetPeername (tcp: NetSocket): void {
  (tcp as UpgradedSocket)._peername = undefined
}

/** For test/src/internals.test.ts: whether Node still has the timeout symbol dropClearedTimeout clears. */
export function timeoutSymbol (): symbol | undefined {
  return kTimeout
}
