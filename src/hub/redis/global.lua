-- Cluster: the room bounds' shared state, in one slot ({rt-global} hash tag), kept by a second call after a
-- room's script (room-cluster.lua reports what changed). Rooms to evict or trim are returned: each is then one
-- call into that room's slot (drop.lua, trim.lua).
-- KEYS: rooms:active, rooms:idle, hist:order, hist:rooms, hist:budget (the meanings of room.lua's)
-- ARGV: op, room, MAX_ROOMS, HISTORY_MAX_BYTES, ROOM_IDLE_TTL_MS, then the op's
--   admit                        a new room takes a place (MAX_ROOMS): {rooms to drop}, or an error ROOMLIMIT
--   update touched bytes dropped oldest   a room script's report: {room to trim or '', bytes over the budget}
--   prune limit                  rooms idle past the TTL (their keys expired) leave: how many
local ACTIVE, IDLE, ORDER, ROOM_BYTES, BUDGET = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local OP, ROOM = ARGV[1], ARGV[2]
local MAX_ROOMS, MAX_BYTES, IDLE_TTL = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function forget (room)
  local bytes = tonumber(redis.call('HGET', ROOM_BYTES, room) or '0')
  if bytes ~= 0 then redis.call('HINCRBY', BUDGET, 'bytes', -bytes) end
  redis.call('HDEL', ROOM_BYTES, room)
  redis.call('ZREM', ORDER, room)
  redis.call('ZREM', ACTIVE, room)
  redis.call('ZREM', IDLE, room)
end

if OP == 'admit' then
  if MAX_ROOMS <= 0 or redis.call('ZSCORE', ACTIVE, ROOM) then return {} end
  local count = redis.call('ZCARD', ACTIVE)
  local victims = {}
  while count >= MAX_ROOMS do
    local victim = redis.call('ZRANGE', IDLE, 0, 0)[1]
    if not victim then return redis.error_reply('ROOMLIMIT room limit reached') end
    forget(victim)
    victims[#victims + 1] = victim
    count = count - 1
  end
  -- the place is taken now: another instance's new room cannot take it before this room's script runs
  redis.call('ZADD', ACTIVE, NOW, ROOM)
  redis.call('ZADD', IDLE, NOW, ROOM)
  return victims
end

if OP == 'update' then
  local touched, bytes, dropped, oldest = tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8] == '1', ARGV[9]
  if dropped then
    forget(ROOM)
  else
    if touched >= 0 then
      redis.call('ZADD', ACTIVE, NOW, ROOM)
      if touched == 1 then redis.call('ZREM', IDLE, ROOM) else redis.call('ZADD', IDLE, NOW, ROOM) end
    end
    if bytes ~= 0 then
      if redis.call('HINCRBY', ROOM_BYTES, ROOM, bytes) <= 0 then redis.call('HDEL', ROOM_BYTES, ROOM) end
      redis.call('HINCRBY', BUDGET, 'bytes', bytes)
    end
    if oldest == '' then redis.call('ZREM', ORDER, ROOM) else redis.call('ZADD', ORDER, oldest, ROOM) end
  end
  if MAX_BYTES <= 0 then return {'', 0} end
  local total = tonumber(redis.call('HGET', BUDGET, 'bytes') or '0')
  if total <= MAX_BYTES then return {'', 0} end
  local first = redis.call('ZRANGE', ORDER, 0, 0)[1]
  if not first then
    -- nothing is held, yet the counter says more than the budget (keys deleted behind our back): it heals
    redis.call('HSET', BUDGET, 'bytes', 0)
    return {'', 0}
  end
  return {first, total - MAX_BYTES}
end

if OP == 'prune' then
  if IDLE_TTL <= 0 then return 0 end
  local gone = redis.call('ZRANGEBYSCORE', IDLE, '-inf', '(' .. (NOW - IDLE_TTL), 'LIMIT', 0, tonumber(ARGV[6]))
  for i = 1, #gone do forget(gone[i]) end
  return #gone
end

return redis.error_reply('unknown op ' .. tostring(OP))
