-- room.lua's part for one Redis (and Sentinel): the room bounds' shared state is in the same Redis, and each
-- script keeps it in the same atomic step as the room.
--   KEYS: rooms:active, rooms:idle, hist:order, hist:rooms, hist:budget, then the room's meta, hist, cids, gpos,
--         members (the room keys may be absent for a script that names no room: prune.lua)
--   rooms:active  zset room -> last activity (ms, Redis's clock): every room held; its size is what MAX_ROOMS caps
--   rooms:idle    zset room -> last activity, for the rooms without members only: the ones a new room may evict,
--                 least recently active first; and, with ROOM_IDLE_TTL_MS, the ones whose keys expire (at score + TTL)
--   hist:order    zset room -> global position (gpos) of the room's oldest held message: the globally oldest first
--   hist:rooms    hash room -> UTF-8 bytes of the room's held messages
--   hist:budget   hash {bytes: all rooms' held bytes, gseq: the last gpos given}
-- Other rooms' keys (an evicted room, the room holding the globally oldest message) are named from the prefix,
-- not declared: this works on one Redis, not on a Cluster (where room-cluster.lua replaces this file).
local ACTIVE, IDLE, ORDER, ROOM_BYTES, BUDGET = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
META, HIST, CIDS, GPOS, MEMBERS = KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
EXTRA = 10
ROOM_LIMIT = 'ROOMLIMIT room limit reached'
PUB = 'PUBLISH'

function count_bytes (room, delta)
  redis.call('HINCRBY', ROOM_BYTES, room, delta)
  return redis.call('HINCRBY', BUDGET, 'bytes', delta)
end

function uncount (room)
  local bytes = tonumber(redis.call('HGET', ROOM_BYTES, room) or '0')
  if bytes ~= 0 then redis.call('HINCRBY', BUDGET, 'bytes', -bytes) end
  redis.call('HDEL', ROOM_BYTES, room)
  redis.call('ZREM', ORDER, room)
  return bytes
end

function set_oldest (room, gpos)
  redis.call('ZADD', ORDER, gpos, room)
end

-- one counter: strictly the order messages were held in, across every room
function next_gpos ()
  return redis.call('HINCRBY', BUDGET, 'gseq', 1)
end

function keep_budget (total)
  if MAX_BYTES <= 0 then return end
  while total > MAX_BYTES do
    local oldest = redis.call('ZRANGE', ORDER, 0, 0)[1]
    if not oldest then
      -- nothing is held, yet the counter says more than the budget (keys deleted behind our back): it heals
      redis.call('HSET', BUDGET, 'bytes', 0)
      return
    end
    total = total - pop_oldest(oldest)
  end
end

function mark_touched (members)
  redis.call('ZADD', ACTIVE, NOW, ROOM)
  if members then redis.call('ZREM', IDLE, ROOM) else redis.call('ZADD', IDLE, NOW, ROOM) end
end

function mark_dropped (room)
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

-- true when the shared state holds the room (a leave does not bring back a room Redis lost)
local function room_held ()
  return redis.call('ZSCORE', ACTIVE, ROOM) ~= false
end
