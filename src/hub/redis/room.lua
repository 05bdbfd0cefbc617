-- Shared by every script that changes a room or the room bounds, on one Redis and on a Redis Cluster. Redis
-- scripts cannot import: scripts.ts builds each one as text, this file first, then the deployment's part, then
-- the script's own text:
--   room-single.lua   one Redis (and Sentinel): the bounds' shared state is in the same Redis and kept by the
--                     same script
--   room-cluster.lua  a Redis Cluster: the script touches only its room's slot and reports what changed;
--                     global.lua applies it to the shared state in a second call (see docs/redis-cluster.md)
-- The deployment's part names the keys (its header lays them out) and sets the hooks declared below.
--   ARGV: prefix, room, MAX_ROOMS, HISTORY_MAX_BYTES, ROOM_IDLE_TTL_MS, history cutoff (a bound of 0 is off),
--         then the script's own
--
-- A room's keys (room:{r}:..., one hash tag: one slot on a Cluster):
--   meta     hash {epoch, seq} (and, on a Cluster, bytes: the UTF-8 bytes of its held messages)
--   hist     list of the held message JSONs, oldest first
--   cids     zset cid -> seq, for dedupe while the message is held
--   gpos     list of each held message's position in the global order (oldest across rooms first), in lockstep
--            with hist
--   members  hash presence key -> member
local PREFIX, ROOM = ARGV[1], ARGV[2]
local MAX_ROOMS, MAX_BYTES, IDLE_TTL = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
-- HISTORY_TTL_MS: a message whose ts is below this has expired. The caller's clock, like the ts it compares with
-- (the publisher's) and like the filter every reader applies: what Redis drops is what readers no longer show.
local CUTOFF = tonumber(ARGV[6])
-- Redis's clock, not the callers': instances' clocks differ, and expiry (PEXPIREAT) runs on this one
local NOW = (function ()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end)()

-- Set by the deployment's part: the room's keys, the first key after them (a script's own keys are
-- KEYS[EXTRA + 1..]), the reply when MAX_ROOMS refuses a new room, and the publish command.
local META, HIST, CIDS, GPOS, MEMBERS, EXTRA, ROOM_LIMIT, PUB
-- Also set there: the shared state's side of each change to a room.
--   count_bytes(room, delta)  the room's held bytes changed; returns all rooms' total where it is known
--   uncount(room)             the room holds nothing now: its bytes leave the budget; returns them
--   set_oldest(room, gpos)    the position of the room's oldest held message changed
--   next_gpos()               the position of a message held now
--   keep_budget(total)        HISTORY_MAX_BYTES after a message was held (total: count_bytes's)
--   mark_touched(members)     the room was active now; members: whether it has any
--   mark_dropped(room)        the room's state was deleted
local count_bytes, uncount, set_oldest, next_gpos, keep_budget, mark_touched, mark_dropped

local function key_of (room, part)
  return PREFIX .. 'room:{' .. room .. '}:' .. part
end

-- A room's history leaves the byte budget: its bytes, its place in the global order, its lists.
-- Returns the bytes it took off the budget.
local function forget_history (room)
  local bytes = uncount(room)
  redis.call('DEL', key_of(room, 'hist'), key_of(room, 'cids'), key_of(room, 'gpos'))
  return bytes
end

-- A room without members goes with its history (evicted, or expired idle): a later resume gets a new epoch.
local function drop_room (room)
  forget_history(room)
  redis.call('DEL', key_of(room, 'meta'))
  mark_dropped(room)
end

-- The room was active now (a publish, a join, a leave): it moves to the recent end, and ROOM_IDLE_TTL_MS starts
-- or stops its keys' clock depending on the members it has now, so whatever order instances' calls interleave
-- in, the last one run leaves the right answer.
local function touch ()
  local members = redis.call('EXISTS', MEMBERS) == 1
  mark_touched(members)
  if IDLE_TTL <= 0 then return end
  if members then
    redis.call('PERSIST', META)
    redis.call('PERSIST', HIST)
    redis.call('PERSIST', CIDS)
    redis.call('PERSIST', GPOS)
    return
  end
  -- the same instant as the idle score: prune() knows which rooms' keys are gone without looking at them
  local at = NOW + IDLE_TTL
  redis.call('PEXPIREAT', META, at)
  redis.call('PEXPIREAT', HIST, at)
  redis.call('PEXPIREAT', CIDS, at)
  redis.call('PEXPIREAT', GPOS, at)
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
  count_bytes(room, -#msg)
  set_oldest(room, head)
  return #msg
end

-- Holds a new message of this room: at most `size` of them, and all rooms' together within HISTORY_MAX_BYTES,
-- the globally oldest going first. O(1) amortised: each held message is popped at most once.
local function hold (msg, size)
  local gpos = next_gpos()
  local n = redis.call('RPUSH', HIST, msg)
  redis.call('RPUSH', GPOS, gpos)
  local total = count_bytes(ROOM, #msg)
  if n == 1 then set_oldest(ROOM, gpos) end
  while n > size do
    total = total - pop_oldest(ROOM)
    n = n - 1
  end
  keep_budget(total)
end

-- The ts of a held message: the last `,"ts":` in it is the message's own (it follows `data`, which may hold
-- one; only the userId string comes after it, and a JSON string cannot hold that unescaped).
local function ts_of (msg)
  return tonumber(string.match(msg, '.*,"ts":(%d+)'))
end

-- HISTORY_TTL_MS: the expired messages of `room` leave its history and the budget, oldest first (held in
-- publish order, so the first one within the TTL ends it). Returns how many left.
local function expire (room)
  if CUTOFF <= 0 then return 0 end
  local hist = key_of(room, 'hist')
  local n = 0
  local head = redis.call('LINDEX', hist, 0)
  while head and (ts_of(head) or CUTOFF) < CUTOFF do
    pop_oldest(room)
    n = n + 1
    head = redis.call('LINDEX', hist, 0)
  end
  return n
end

-- The heartbeat's HISTORY_TTL_MS for the rooms nobody reads: `room` holds the globally oldest message (the
-- first of hist:order). True when the walk goes on to the next room: expired messages left, or the room held
-- nothing (its keys expired idle or were deleted: what it still counted goes).
local function expire_first (room)
  if redis.call('EXISTS', key_of(room, 'hist')) == 0 then
    forget_history(room)
    return true
  end
  return expire(room) > 0
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
