// What the orchestrator asks of the load generator, and what comes back (over the IPC channel).

/** `ws`: our server and the bare ws reference (plain WebSocket frames); `sio`: Engine.IO v4 / Socket.IO v5 framing. */
export type Proto = 'ws' | 'sio'

export interface Target {
  host: string
  port: number
  proto: Proto
  /** the server process, sampled from /proc during each measurement window */
  serverPid: number
  /** where the server's gc-hook writes its memory after a full GC (SIGUSR2) */
  memDir: string
}

/** `rounds`: how many times the orchestrator runs the task per server, in mirrored order (A B B A …); the load generator ignores it */
export type Task =
  | { kind: 'echo', sockets: number, size: number, inflight: number, warmupMs: number, durationMs: number, deflate?: boolean, rounds?: number }
  // hubRooms: members are /ws/hub sockets, each subscribed to that many rooms, one of them the published one
  | { kind: 'fanout', sizes: number[], oneMs: number, floodMs: number, fillTimeoutMs: number, rounds?: number, hubRooms?: number }
  | { kind: 'time', sockets: number, durationMs: number }
  | { kind: 'idle', sockets: number, settleMs: number, deflate?: boolean }
  // /ws/hub sockets read with 1 subscription each, then with `rooms` (bench/scenarios/hub-idle.ts)
  | { kind: 'hub-idle', sockets: number, rooms: number, settleMs: number }
  | { kind: 'handshake', concurrency: number, durationMs: number }
  | { kind: 'hold', sockets: number, holdMs: number }
  | CrossTask

/**
 * Rooms spread over several instances of one server (bench/cluster.ts): room r has `receivers` members on
 * instance `recvAt[r]` and one publisher on `pubAt[r]`. The publishers keep `window` messages outstanding per
 * room, or, with `rate`, send that many messages per second in all. `instances` are every instance's port and
 * pid (the target's port is not used); CPU is read for each of them.
 */
export interface CrossTask {
  kind: 'cross'
  label: string
  instances: Array<{ port: number, pid: number }>
  pubAt: number[]
  recvAt: number[]
  receivers: number
  window: number
  rate?: number
  warmupMs: number
  durationMs: number
}

export interface Request { id: number, target: Target, task: Task }

/** One measured window. Times in ms, CPU in seconds, memory in bytes. */
export interface Window {
  label: string
  /** what was counted: messages, deliveries, handshakes, sockets */
  unit: string
  count: number
  seconds: number
  rate: number
  p50Ms?: number
  p99Ms?: number
  maxMs?: number
  serverCpuSec: number
  /** server CPU per counted unit, µs */
  serverCpuUs: number
  serverRssBytes: number
  /** load generator's CPU as a share of one core over the window (0..1) */
  loadgenCpu: number
  /** CPU used by the rest of the machine over the window, in cores: above ~0.2 the window is suspect */
  otherCpu?: number
  /** extra numbers specific to the scenario */
  extra?: Record<string, number | string>
  error?: string
}

export interface Reply { id: number, windows: Window[], error?: string }

/** A window as the orchestrator keeps it: which server it measured, in which scenario group. */
export interface Row extends Window { server: string, group: string }
