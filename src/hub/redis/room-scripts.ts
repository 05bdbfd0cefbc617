// The room scripts as the broker and presence call them, on one Redis or on a Redis Cluster. On a Cluster a
// script touches only its room's slot (room-cluster.lua) and the room bounds' shared state is kept by a second
// call (global.lua): what stays atomic and what lags is in docs/redis-cluster.md.
import { ReplyError } from 'ioredis'
import { roomArgs, roomCap, type Keys, type RoomBounds } from './client.js'
import type { ScriptedRedis } from './scripts.js'

type Arg = string | number
type RoomScript = 'rtPublish' | 'rtBacklog' | 'rtPeek' | 'rtJoin' | 'rtLeave' | 'rtReepoch'

/** the part of an ioredis pipeline used here (the scripts defined on the connection are on it too) */
type Pipe = Record<RoomScript | FollowUp, (...args: Arg[]) => void> & {
  wait: (replicas: number, timeoutMs: number) => void
  exec: () => Promise<Array<[Error | null, unknown]> | null>
}

/** room-cluster.lua's wrapped reply: the script's own, then its report for global.lua */
type Wrapped = [reply: unknown, touched: number, bytes: number, dropped: number, oldest: string]

/** the Cluster's scripts that global.lua's answers or the heartbeat call */
type FollowUp = 'rtDrop' | 'rtTrim' | 'rtExpire'

/** calls into other rooms one change may cause at most (each pops at least one message or drops one room) */
const MAX_FOLLOW_UPS = 64

export class RoomScripts {
  readonly #cmd: ScriptedRedis
  readonly #keys: Keys
  readonly #bounds: RoomBounds
  readonly #onError: (err: Error) => void
  /** the bounds with MAX_ROOMS off: a room global.lua has just admitted */
  readonly #admitted: RoomBounds

  constructor (cmd: ScriptedRedis, keys: Keys, bounds: RoomBounds, onError: (err: Error) => void) {
    this.#cmd = cmd
    this.#keys = keys
    this.#bounds = bounds
    this.#onError = onError
    this.#admitted = { ...bounds, maxRooms: 0 }
  }

  /**
   * Runs one room script; on a Cluster, admits a new room first when the script asks (NEEDADMIT), then reports
   * the change to global.lua. `ack`: on a Cluster, a WAIT for that many replicas runs in the same pipeline, on
   * the room's master (a WAIT alone would go to any node); its count is returned as the second element.
   */
  async run<T> (name: RoomScript, room: string, keys: string[], args: Arg[], ack?: { replicas: number, timeoutMs: number }): Promise<[T, number]> {
    const cmd = this.#cmd
    if (!this.#keys.cluster) return [await cmd[name](...roomArgs(this.#keys, this.#bounds, room, keys, args)) as T, 0]
    let bounds = this.#bounds
    for (;;) {
      try {
        const [wrapped, acked] = await this.#exec(name, roomArgs(this.#keys, bounds, room, keys, args), ack)
        await this.#report(room, wrapped)
        return [wrapped[0] as T, acked]
      } catch (err) {
        if (!(err instanceof ReplyError) || !(err as Error).message.startsWith('NEEDADMIT') || bounds === this.#admitted) throw err
      }
      await this.#admit(room)
      bounds = this.#admitted
    }
  }

  async #exec (name: RoomScript | FollowUp, args: Arg[], ack?: { replicas: number, timeoutMs: number }): Promise<[Wrapped, number]> {
    if (ack === undefined || ack.replicas <= 0) return [await this.#cmd[name](...args) as Wrapped, 0]
    // ioredis sends a pipeline to the node of its keys: the WAIT goes to the master that ran the script
    const pipe = this.#cmd.pipeline() as unknown as Pipe
    pipe[name](...args)
    pipe.wait(ack.replicas, ack.timeoutMs)
    const out = await pipe.exec() ?? []
    const [scriptErr, wrapped] = out[0] ?? [new Error('redis: empty pipeline reply'), null]
    if (scriptErr !== null) throw scriptErr
    const [waitErr, acked] = out[1] ?? [null, 0]
    if (waitErr !== null) throw waitErr
    return [wrapped as Wrapped, Number(acked)]
  }

  /** MAX_ROOMS on a Cluster: global.lua takes a place for the room and names the rooms evicted for it. */
  async #admit (room: string): Promise<void> {
    const victims = await this.#global('admit', room) as string[]
    for (const victim of victims) {
      const [wrapped] = await this.#exec('rtDrop', roomArgs(this.#keys, this.#admitted, victim))
      // a member joined the victim meanwhile: it stays (the cap is overshot by one until a room goes)
      await this.#report(victim, wrapped)
    }
  }

  /** A room script's change reaches global.lua; the rooms it names to trim (HISTORY_MAX_BYTES) are trimmed. */
  async #report (room: string, w: Wrapped): Promise<void> {
    // untouched, nothing added or taken, not dropped (a read of a room without state): nothing for global.lua
    if (w[1] === -1 && w[2] === 0 && w[3] === 0) return
    let target = room
    let report = w
    for (let i = 0; i < MAX_FOLLOW_UPS; i++) {
      const [next, over] = await this.#global('update', target, report[1], report[2], report[3], report[4]) as [string, number]
      if (next === '' || over <= 0) return
      ;[report] = await this.#exec('rtTrim', roomArgs(this.#keys, this.#admitted, next, [], [over]))
      target = next
    }
    this.#onError(new Error('redis cluster: the history byte budget is still over after many trims'))
  }

  /**
   * The heartbeat's sweep (prune.lua on one Redis): rooms idle past ROOM_IDLE_TTL_MS leave the shared sets (their
   * keys expired by themselves); then, with HISTORY_TTL_MS, the rooms holding the globally oldest messages lose
   * the expired ones (expire.lua, one room a call, until one's oldest is within the TTL). At most `limit` of each.
   */
  async prune (limit: number): Promise<void> {
    await this.#global('prune', '', limit)
    if ((this.#bounds.historyTtlMs ?? 0) <= 0) return
    for (let i = 0; i < limit; i++) {
      const [first] = await this.#cmd.zrange(this.#keys.order, '0', '0')
      if (first === undefined) return
      const [wrapped] = await this.#exec('rtExpire', roomArgs(this.#keys, this.#admitted, first))
      await this.#report(first, wrapped)
      if (wrapped[0] !== 1) return
    }
  }

  async #global (op: string, room: string, ...args: Arg[]): Promise<unknown> {
    const k = this.#keys
    const b = this.#bounds
    return await this.#cmd.rtGlobal(k.active, k.idle, k.order, k.roomBytes, k.budget,
      op, room, roomCap(b, room), b.historyMaxBytes ?? 0, b.roomIdleTtlMs ?? 0, ...args)
  }
}
