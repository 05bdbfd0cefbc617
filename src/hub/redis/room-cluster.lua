-- room.lua's part for a Redis Cluster: the scripts touch only the room's own keys (one slot). What the room
-- bounds need from the shared state (rooms:active, rooms:idle, hist:order, hist:rooms, hist:budget, in another
-- slot: room-single.lua's header says what each holds) is returned instead, and global.lua applies it in a
-- second call (see docs/redis-cluster.md).
-- scripts.ts wraps each script's body: its reply becomes {reply, touched, bytes, dropped, oldest} where
--   touched  -1 untouched, 0 active without members, 1 active with members
--   bytes    the change of the room's held UTF-8 bytes
--   dropped  1 when the room's state was deleted
--   oldest   the position (ms) of the room's oldest held message, '' when it holds none
--   KEYS: the room's meta, hist, cids, gpos, members, then the script's own
--   ARGV: room.lua's; MAX_ROOMS is 0 once global.lua admitted the room
META, HIST, CIDS, GPOS, MEMBERS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
EXTRA = 5
-- not a refusal: the room is new and global.lua must admit it first; the caller does, then runs this again
ROOM_LIMIT = 'NEEDADMIT a new room'
PUB = 'SPUBLISH'
local G_TOUCHED, G_BYTES, G_DROPPED = -1, 0, 0

-- the room's own count (meta.bytes); global.lua adds the change to the budget from the reply
function count_bytes (_, delta)
  redis.call('HINCRBY', META, 'bytes', delta)
  G_BYTES = G_BYTES + delta
  return 0
end

function uncount (_)
  local bytes = tonumber(redis.call('HGET', META, 'bytes') or '0')
  G_BYTES = G_BYTES - bytes
  redis.call('HDEL', META, 'bytes')
  return bytes
end

-- the reply reads the room's oldest position once, at the end
function set_oldest () end

-- a master's clock: the rooms' positions in the global order come from several masters
function next_gpos ()
  return NOW
end

-- HISTORY_SIZE is the room's; HISTORY_MAX_BYTES across rooms is global.lua's (it names the rooms to trim)
function keep_budget () end

function mark_touched (members)
  G_TOUCHED = members and 1 or 0
end

function mark_dropped ()
  G_DROPPED = 1
end

-- a room with state is held; a new one is admitted by global.lua first (MAX_ROOMS 0 here once it was)
local function admit ()
  return MAX_ROOMS <= 0 or redis.call('EXISTS', META) == 1
end

local function room_held ()
  return redis.call('EXISTS', META) == 1
end

-- what global.lua needs, appended to the script's reply by scripts.ts's wrapper
local function global_reply (reply)
  if type(reply) == 'table' and reply.err then return reply end
  local oldest = ''
  if G_DROPPED == 0 then oldest = redis.call('LINDEX', GPOS, 0) or '' end
  return {reply, G_TOUCHED, G_BYTES, G_DROPPED, oldest}
end
