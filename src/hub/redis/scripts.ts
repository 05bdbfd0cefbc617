// The Lua scripts of the Redis hub, one file per operation beside this module. They are read once when a
// store is made and defined as ioredis commands (EVALSHA, falling back to EVAL after a SCRIPT FLUSH or a
// Redis restart). tsc does not copy .lua files: `npm run build` copies them next to the compiled module.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Redis } from 'ioredis'

type Args = Array<string | number>

/** The command connection with the scripts defined on it. */
export type ScriptedRedis = Redis & {
  rtPublish (...args: Args): Promise<[epoch: string, raw: string, duplicate: number]>
  rtBacklog (...args: Args): Promise<[epoch: string, seq: string, raws: string[]]>
  rtPeek (...args: Args): Promise<[epoch: string, seq: string, raws: string[]] | null>
  rtJoin (...args: Args): Promise<[added: number, count: number]>
  rtLeave (...args: Args): Promise<[value: string | null, count: number]>
  rtReepoch (...args: Args): Promise<[epoch: string | null, seq: number]>
  rtPrune (...args: Args): Promise<[idle: number, expired: number]>
  /** one Redis only: a room of the versions before the room bounds comes under them */
  rtAdopt (...args: Args): Promise<number>
  /** Cluster only (defineClusterScripts): the room bounds' shared state, and the calls it asks of other rooms */
  rtGlobal (...args: Args): Promise<unknown>
  rtDrop (...args: Args): Promise<unknown>
  rtTrim (...args: Args): Promise<unknown>
  rtExpire (...args: Args): Promise<unknown>
}

/** the keys every script built on room.lua starts with on one Redis: 5 shared (room sets, byte budget), 5 of the room */
export const ROOM_KEYS = 10

/** command name → its file, how many of its arguments are keys, and whether it uses room.lua's functions */
const SCRIPTS: Record<string, { file: string, keys: number, room?: true }> = {
  rtPublish: { file: 'publish.lua', keys: ROOM_KEYS, room: true },
  rtBacklog: { file: 'backlog.lua', keys: ROOM_KEYS, room: true },
  rtPeek: { file: 'peek.lua', keys: ROOM_KEYS, room: true },
  rtJoin: { file: 'join.lua', keys: ROOM_KEYS + 2, room: true },
  rtLeave: { file: 'leave.lua', keys: ROOM_KEYS + 2, room: true },
  rtReepoch: { file: 'reepoch.lua', keys: ROOM_KEYS, room: true },
  rtPrune: { file: 'prune.lua', keys: 5, room: true },
  rtAdopt: { file: 'adopt.lua', keys: ROOM_KEYS, room: true }
}

/** The source of one script; throws naming the file when it is missing (a build that did not copy it). */
export function scriptSource (file: string): string {
  const path = fileURLToPath(new URL(file, import.meta.url))
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw new Error(`redis hub: cannot read its Lua script ${path} (npm run build copies src/hub/redis/*.lua)`, { cause: err })
  }
}

/**
 * The same scripts for a Redis Cluster: room.lua with room-cluster.lua's part (only the room's 5 keys, no shared
 * ones: those are in another slot), each reply wrapped with what global.lua needs (see room-cluster.lua), and
 * global.lua, drop.lua, trim.lua, expire.lua. `redis` is an ioredis Cluster (the command surface used is the same).
 */
export function defineClusterScripts (redis: Redis): ScriptedRedis {
  const room = prelude('room-cluster.lua')
  const wrapped = (file: string) => `${room}\nreturn global_reply((function ()\n${scriptSource(file)}\nend)())`
  for (const [name, { file, keys, room: usesRoom }] of Object.entries(SCRIPTS)) {
    if (name === 'rtPrune' || name === 'rtAdopt') continue // global.lua's prune op; no Cluster predates the room bounds
    redis.defineCommand(name, usesRoom === true ? { numberOfKeys: keys - 5, lua: wrapped(file) } : { numberOfKeys: keys, lua: scriptSource(file) })
  }
  redis.defineCommand('rtDrop', { numberOfKeys: 5, lua: wrapped('drop.lua') })
  redis.defineCommand('rtTrim', { numberOfKeys: 5, lua: wrapped('trim.lua') })
  redis.defineCommand('rtExpire', { numberOfKeys: 5, lua: wrapped('expire.lua') })
  redis.defineCommand('rtGlobal', { numberOfKeys: 5, lua: scriptSource('global.lua') })
  return redis as ScriptedRedis
}

export function defineScripts (redis: Redis): ScriptedRedis {
  const room = prelude('room-single.lua')
  for (const [name, { file, keys, room: usesRoom }] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, { numberOfKeys: keys, lua: usesRoom === true ? `${room}\n${scriptSource(file)}` : scriptSource(file) })
  }
  return redis as ScriptedRedis
}

/**
 * What a room script is built on: Redis scripts cannot import, so room.lua's shared functions and the
 * deployment's part (which sets the keys and hooks room.lua declares) are put before its text (one EVALSHA body each).
 */
function prelude (part: string): string {
  return `${scriptSource('room.lua')}\n${scriptSource(part)}`
}
