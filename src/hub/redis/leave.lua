-- The last registration of a key gone: remove the member and return what it was (for the leave event). A room
-- with no members left becomes evictable (MAX_ROOMS) and starts its idle clock (ROOM_IDLE_TTL_MS).
-- KEYS, ARGV[1..5]: room.lua's   KEYS[11..]: refs, inst-members   ARGV[6..]: key, entry
-- Returns {the member's value when this call removed it else nil, members in the room}
local value = false
if redis.call('SREM', KEYS[12], ARGV[7]) == 1 then
  if redis.call('HINCRBY', KEYS[11], ARGV[6], -1) <= 0 then
    redis.call('HDEL', KEYS[11], ARGV[6])
    value = redis.call('HGET', MEMBERS, ARGV[6])
    redis.call('HDEL', MEMBERS, ARGV[6])
  end
end
-- a room the shared state no longer holds (Redis lost it) is not brought back by a leave
if redis.call('ZSCORE', ACTIVE, ROOM) then touch() end
return {value, redis.call('HLEN', MEMBERS)}
