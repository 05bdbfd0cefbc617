-- Shared by every script that changes a room or the room bounds; scripts.ts puts it before their own text.
-- They all take the same first keys and arguments:
--   KEYS: rooms:active, rooms:idle, hist:order, hist:rooms, hist:budget, then the room's meta, hist, cids, gpos,
--         members (the room keys may be absent for a script that names no room: prune.lua)
--   ARGV: prefix, room, MAX_ROOMS, HISTORY_MAX_BYTES, ROOM_IDLE_TTL_MS (a bound of 0 is off)
--
-- The bounds apply to the state every instance shares:
--   rooms:active  zset room -> last activity (ms, Redis's clock): every room held; its size is what MAX_ROOMS caps
--   rooms:idle    zset room -> last activity, for the rooms without members only: the ones a new room may evict,
--                 least recently active first; and, with ROOM_IDLE_TTL_MS, the ones whose keys expire (at score + TTL)
--   hist:order    zset room -> global position (gpos) of the room's oldest held message: the globally oldest first
--   hist:rooms    hash room -> UTF-8 bytes of the room's held messages
--   hist:budget   hash {bytes: all rooms' held bytes, gseq: the last gpos given}
--   room:{r}:gpos list of the gpos of each message in room:{r}:hist, in lockstep with it
-- Other rooms' keys (an evicted room, the room holding the globally oldest message) are named here from the
-- prefix, not declared: this works on one Redis (and behind Sentinel). On a Redis Cluster, where those keys live
-- in other slots, room-cluster.lua replaces this file (and global.lua keeps the shared keys).
local ACTIVE, IDLE, ORDER, ROOM_BYTES, BUDGET = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local META, HIST, CIDS, GPOS, MEMBERS = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local PREFIX, ROOM = ARGV[1], ARGV[2]
local MAX_ROOMS, MAX_BYTES, IDLE_TTL = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
-- Redis's clock, not the callers': instances' clocks differ, and expiry (PEXPIREAT) runs on this one
local NOW = (function ()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end)()
local ROOM_LIMIT = 'ROOMLIMIT room limit reached'
-- what room-cluster.lua changes for a Redis Cluster: the first key after room.lua's, and the publish command
local EXTRA = 10
local PUB = 'PUBLISH'

local function key_of (room, part)
  return PREFIX .. 'room:{' .. room .. '}:' .. part
end

-- A room's history leaves the byte budget: its bytes, its place in the global order, its lists.
-- Returns the bytes it took off the budget.
local function forget_history (room)
  local bytes = tonumber(redis.call('HGET', ROOM_BYTES, room) or '0')
  if bytes ~= 0 then redis.call('HINCRBY', BUDGET, 'bytes', -bytes) end
  redis.call('HDEL', ROOM_BYTES, room)
  redis.call('ZREM', ORDER, room)
  redis.call('DEL', key_of(room, 'hist'), key_of(room, 'cids'), key_of(room, 'gpos'))
  return bytes
end

-- A room without members goes with its history (evicted, or expired idle): a later resume gets a new epoch.
local function drop_room (room)
  forget_history(room)
  redis.call('DEL', key_of(room, 'meta'))
  redis.call('ZREM', ACTIVE, room)
  redis.call('ZREM', IDLE, room)
end

-- Takes out of the sets and the budget at most `limit` rooms whose keys expired (idle past the TTL); returns how many.
local function prune (limit)
  if IDLE_TTL <= 0 then return 0 end
  local gone = redis.call('ZRANGEBYSCORE', IDLE, '-inf', '(' .. (NOW - IDLE_TTL), 'LIMIT', 0, limit)
  for i = 1, #gone do drop_room(gone[i]) end
  return #gone
end

-- MAX_ROOMS: a room new to the shared state takes a place; at the cap the least recently active room without
-- members is dropped for it (an expired one first: it has the oldest activity), several if the cap was lowered.
-- False when every held room has members: the caller refuses before writing anything of its own.
local function admit ()
  if MAX_ROOMS <= 0 or redis.call('ZSCORE', ACTIVE, ROOM) then return true end
  local count = redis.call('ZCARD', ACTIVE)
  while count >= MAX_ROOMS do
    local victim = redis.call('ZRANGE', IDLE, 0, 0)[1]
    if not victim then return false end
    drop_room(victim)
    count = count - 1
  end
  return true
end

-- The room was active now (a publish, a join, a leave): it moves to the recent end, and ROOM_IDLE_TTL_MS starts
-- or stops its keys' clock depending on the members it has now, so whatever order instances' calls interleave
-- in, the last one run leaves the right answer.
local function touch ()
  redis.call('ZADD', ACTIVE, NOW, ROOM)
  if redis.call('EXISTS', MEMBERS) == 1 then
    redis.call('ZREM', IDLE, ROOM)
    if IDLE_TTL > 0 then
      redis.call('PERSIST', META)
      redis.call('PERSIST', HIST)
      redis.call('PERSIST', CIDS)
      redis.call('PERSIST', GPOS)
    end
    return
  end
  redis.call('ZADD', IDLE, NOW, ROOM)
  if IDLE_TTL > 0 then
    -- the same instant as the idle score: prune() knows which rooms' keys are gone without looking at them
    local at = NOW + IDLE_TTL
    redis.call('PEXPIREAT', META, at)
    redis.call('PEXPIREAT', HIST, at)
    redis.call('PEXPIREAT', CIDS, at)
    redis.call('PEXPIREAT', GPOS, at)
  end
end

-- true when the shared state holds the room (a leave does not bring back a room Redis lost)
local function room_held ()
  return redis.call('ZSCORE', ACTIVE, ROOM) ~= false
end

-- The oldest held message of `room` leaves history (HISTORY_SIZE or the byte budget); returns the bytes it
-- took off the budget.
local function pop_oldest (room)
  local gpos = key_of(room, 'gpos')
  local msg = redis.call('LPOP', key_of(room, 'hist'))
  redis.call('LPOP', gpos)
  local head = redis.call('LINDEX', gpos, 0)
  -- nothing left (or its keys expired before prune() saw them): whatever the room still counted goes
  if not msg or not head then return forget_history(room) end
  redis.call('HINCRBY', ROOM_BYTES, room, -#msg)
  redis.call('HINCRBY', BUDGET, 'bytes', -#msg)
  redis.call('ZADD', ORDER, head, room)
  return #msg
end

-- Holds a new message of this room: at most `size` of them, and all rooms' together within HISTORY_MAX_BYTES,
-- the globally oldest going first. O(1) amortised: each held message is popped at most once.
local function hold (msg, size)
  local gseq = redis.call('HINCRBY', BUDGET, 'gseq', 1)
  local n = redis.call('RPUSH', HIST, msg)
  redis.call('RPUSH', GPOS, gseq)
  redis.call('HINCRBY', ROOM_BYTES, ROOM, #msg)
  local total = redis.call('HINCRBY', BUDGET, 'bytes', #msg)
  if n == 1 then redis.call('ZADD', ORDER, gseq, ROOM) end
  while n > size do
    total = total - pop_oldest(ROOM)
    n = n - 1
  end
  if MAX_BYTES <= 0 then return end
  while total > MAX_BYTES do
    local oldest = redis.call('ZRANGE', ORDER, 0, 0)[1]
    if not oldest then
      -- nothing is held, yet the counter says more than the budget (keys deleted behind our back): it heals
      redis.call('HSET', BUDGET, 'bytes', 0)
      break
    end
    total = total - pop_oldest(oldest)
  end
end

-- A new life for the room: the given epoch, seq 0, no held history and no cids.
local function restart_room (epoch)
  forget_history(ROOM)
  redis.call('HSET', META, 'epoch', epoch, 'seq', 0)
  return epoch
end

-- The room's epoch, started as `fresh` when the state is new or was lost.
local function room_epoch (fresh)
  return redis.call('HGET', META, 'epoch') or restart_room(fresh)
end
