// The client module: import from /js/index.js in any page served by the service (or copy public/js/).
export { RealtimeSocket, ticketsFrom, CHAT_HEARTBEAT, type StateDetail, type StateName, type RealtimeSocketOptions } from './realtime-socket.js'
export { ChatClient, defaultBase, type ChatClientOptions } from './chat-client.js'
export { Transcript, type Entry, type ChatMessage, type Welcome } from './transcript.js'
export { Outbox } from './outbox.js'
export { backoffDelay, DEFAULT_BACKOFF } from './backoff.js'
export { withToken, withTicket, refreshFrame, TOKEN_EXPIRED, TicketRefused, type RefreshMode, type TicketProvider } from './token.js'
export {
  RealtimeClient, RealtimeError, type RealtimeClientOptions, type RoomHandlers, type RoomInfo, type HubMessage, type HubSignal,
  type Publishable, type Ack, type EventMap
} from './realtime-client.js'
export { hubCloseAdvice } from './token.js'
export { webSocketClass, type WebSocketLike } from './realtime-socket.js'
export type * from './hub-types.js'
