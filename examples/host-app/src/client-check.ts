// The client from `fastify-realtime/client` (the same module the browser loads from /rt/js/index.js), typed by
// this app's events: a `price` carries `{ usd: number }`, so handlers read `m.data.usd` as a number and a publish
// of the wrong shape does not compile. Runs in Node too: Node 22+ has a global WebSocket, older Node passes `ws`'s.
import { RealtimeClient, type Ack, type HubErrorCode, type WebSocketLike } from 'fastify-realtime/client'

/** The events of this app's rooms, event name to the type of its `data`. */
export interface PriceEvents { price: { usd: number } }

/** Connects to the host's hub, subscribes to `room` and calls `onPrice` with each price published there. */
export async function watchPrices (url: string, room: string, onPrice: (usd: number) => void, WebSocket?: WebSocketLike): Promise<RealtimeClient<PriceEvents>> {
  const client = new RealtimeClient<PriceEvents>({ url, ...(WebSocket !== undefined ? { WebSocket } : {}) })
  client.connect()
  await client.subscribe(room, {
    message: (m) => { if (m.event === 'price') onPrice(m.data.usd) }
  })
  return client
}

export async function publishPrice (client: RealtimeClient<PriceEvents>, room: string, usd: number): Promise<Ack> {
  return await client.publish(room, { event: 'price', data: { usd } })
}

// Never called: these lines make the build fail the day the installed types stop catching a mistake (an `any`
// from a declaration that no longer resolves would let both through).
export async function mistakes (client: RealtimeClient<PriceEvents>, room: string): Promise<void> {
  // @ts-expect-error a price's usd is a number
  await client.publish(room, { event: 'price', data: { usd: 'one' } })
  // @ts-expect-error not an error code of the protocol: the wire frame types ship with the client
  const code: HubErrorCode = 'no_such_code'
  throw new Error(code)
}
