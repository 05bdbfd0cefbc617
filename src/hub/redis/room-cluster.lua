-- room.lua for a Redis Cluster: the same functions, touching only the room's own keys (one slot). What the
-- room bounds need from the shared state (rooms:active, rooms:idle, hist:order, hist:rooms, hist:budget, in
-- another slot) is returned instead, and global.lua applies it in a second call (see docs/redis-cluster.md).
-- scripts.ts wraps each script's body: its reply becomes {reply, touched, bytes, dropped, oldest} where
--   touched  -1 untouched, 0 active without members, 1 active with members
--   bytes    the change of the room's held UTF-8 bytes
--   dropped  1 when the room's state was deleted
--   oldest   the position (ms) of the room's oldest held message, '' when it holds none
--   KEYS: the room's meta, hist, cids, gpos, members, then the script's own
--   ARGV: prefix, room, MAX_ROOMS (0 once global.lua admitted the room), HISTORY_MAX_BYTES, ROOM_IDLE_TTL_MS
local META, HIST, CIDS, GPOS, MEMBERS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local PREFIX, ROOM = ARGV[1], ARGV[2]
local MAX_ROOMS, MAX_BYTES, IDLE_TTL = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local NOW = (function ()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end)()
-- not a refusal: the room is new and global.lua must admit it first; the caller does, then runs this again
local ROOM_LIMIT = 'NEEDADMIT a new room'
local EXTRA = 5
local PUB = 'SPUBLISH'
local G_TOUCHED, G_BYTES, G_DROPPED = -1, 0, 0

-- the room's history goes; its bytes leave the budget (global.lua, from the reply)
local function forget_history (_)
  local bytes = tonumber(redis.call('HGET', META, 'bytes') or '0')
  G_BYTES = G_BYTES - bytes
  redis.call('HDEL', META, 'bytes')
  redis.call('DEL', HIST, CIDS, GPOS)
  return bytes
end

local function drop_room (_)
  forget_history()
  redis.call('DEL', META)
  G_DROPPED = 1
end

-- expired rooms leave the shared sets in global.lua; their keys expired by themselves
local function prune (_) return 0 end

-- a room with state is held; a new one is admitted by global.lua first (MAX_ROOMS 0 here once it was)
local function admit ()
  return MAX_ROOMS <= 0 or redis.call('EXISTS', META) == 1
end

local function room_held ()
  return redis.call('EXISTS', META) == 1
end

local function touch ()
  if redis.call('EXISTS', MEMBERS) == 1 then
    G_TOUCHED = 1
    if IDLE_TTL > 0 then
      redis.call('PERSIST', META)
      redis.call('PERSIST', HIST)
      redis.call('PERSIST', CIDS)
      redis.call('PERSIST', GPOS)
    end
    return
  end
  G_TOUCHED = 0
  if IDLE_TTL > 0 then
    local at = NOW + IDLE_TTL
    redis.call('PEXPIREAT', META, at)
    redis.call('PEXPIREAT', HIST, at)
    redis.call('PEXPIREAT', CIDS, at)
    redis.call('PEXPIREAT', GPOS, at)
  end
end

-- the room's oldest held message leaves history; returns its bytes
local function pop_oldest (_)
  local msg = redis.call('LPOP', HIST)
  redis.call('LPOP', GPOS)
  if not msg or redis.call('LLEN', GPOS) == 0 then return forget_history() end
  redis.call('HINCRBY', META, 'bytes', -#msg)
  G_BYTES = G_BYTES - #msg
  return #msg
end

-- HISTORY_SIZE here; HISTORY_MAX_BYTES across rooms is global.lua's (it names the rooms to trim)
local function hold (msg, size)
  local n = redis.call('RPUSH', HIST, msg)
  -- a master's clock: the rooms' positions in the global order come from several masters
  redis.call('RPUSH', GPOS, NOW)
  redis.call('HINCRBY', META, 'bytes', #msg)
  G_BYTES = G_BYTES + #msg
  while n > size do
    pop_oldest()
    n = n - 1
  end
end

local function restart_room (epoch)
  forget_history()
  redis.call('HSET', META, 'epoch', epoch, 'seq', 0)
  return epoch
end

local function room_epoch (fresh)
  return redis.call('HGET', META, 'epoch') or restart_room(fresh)
end

-- what global.lua needs, appended to the script's reply by scripts.ts's wrapper
local function global_reply (reply)
  if type(reply) == 'table' and reply.err then return reply end
  local oldest = ''
  if G_DROPPED == 0 then oldest = redis.call('LINDEX', GPOS, 0) or '' end
  return {reply, G_TOUCHED, G_BYTES, G_DROPPED, oldest}
end
