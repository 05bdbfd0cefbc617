// The /ws/hub wire frames as the client sees them. Types only: nothing here exists at run time.

/** A client frame's correlation id: the reply carries the same one. */
export type Ref = number | string

export type HubErrorCode =
  | 'invalid' | 'unknown_type' | 'too_long' | 'too_large' | 'rate_limited' | 'unavailable' | 'forbidden'
  | 'not_subscribed' | 'too_many_subscriptions' | 'unauthorized'

/** A message as the server stores and sends it: `text` or `data`, `event` optional. */
export interface WireMessage {
  type: 'message'
  room: string
  seq: number
  id: string
  from: string
  ts: number
  event?: string
  text?: string
  data?: unknown
  userId?: string
}

export interface SubscribedFrame {
  type: 'subscribed'
  ref: Ref
  room: string
  seq: number
  epoch: string
  members: string[]
  memberCount: number
  history: WireMessage[]
  truncated?: boolean
}

export interface UnsubscribedFrame { type: 'unsubscribed', ref: Ref, room: string }
export interface AckFrame { type: 'ack', ref: Ref, room: string, seq: number, id: string, epoch: string, cid?: string }
export interface SignalFrame { type: 'signal', room: string, from: string, event: string, data?: unknown, userId?: string }
export interface PresenceFrame { type: 'join' | 'leave', room: string, name?: string, from?: string, userId?: string, memberCount?: number }
export interface ErrorFrame { type: 'error', ref?: Ref, code: HubErrorCode | string, message: string, room?: string, cid?: string }
export interface PongFrame { type: 'pong', ref?: Ref }

export type HubServerFrame =
  | SubscribedFrame | UnsubscribedFrame | AckFrame | SignalFrame | PresenceFrame | ErrorFrame | PongFrame | WireMessage

export interface SubscribeFrame { type: 'subscribe', ref: Ref, room: string, since?: number, epoch?: string }
export interface UnsubscribeFrame { type: 'unsubscribe', ref: Ref, room: string }
export interface PublishFrame { type: 'publish', ref: Ref, room: string, event?: string, data?: unknown, text?: string, cid?: string }
export interface SignalOut { type: 'signal', ref?: Ref, room: string, event: string, data?: unknown }
