// The /ws/hub wire frames as the client sees them: the server's schemas' Static types (src/protocol/frames.ts),
// imported as types only, so the client module stays free of run-time dependencies.
import type {
  AckFrame, ErrorFrame, JoinFrame, LeaveFrame, MessageFrame, PongFrame, PublishFrame, Ref, SignalOutFrame, SubscribedFrame,
  UnsubscribedFrame, RefreshedFrame, ExpiringFrame, SubscribeFrame, UnsubscribeFrame, SignalFrame as SignalIn
} from '../protocol/frames.js'
import type { ErrorCode } from '../protocol/codes.js'

export type { AckFrame, ErrorFrame, PublishFrame, Ref, SubscribedFrame, UnsubscribedFrame, SubscribeFrame, UnsubscribeFrame }
export type HubErrorCode = ErrorCode
/** A message as the server stores and sends it: `text` or `data`, `event` optional. */
export type WireMessage = MessageFrame
/** A signal as delivered to the room's others. */
export type SignalFrame = SignalOutFrame
/** What the client sends to signal. */
export type SignalOut = SignalIn
export type PresenceFrame = JoinFrame | LeaveFrame

export type HubServerFrame =
  | SubscribedFrame | UnsubscribedFrame | AckFrame | SignalOutFrame | JoinFrame | LeaveFrame | ErrorFrame | PongFrame
  | MessageFrame | RefreshedFrame | ExpiringFrame
