-- The last registration of a key gone: remove the member and return what it was (for the leave event). A room
-- with no members left becomes evictable (MAX_ROOMS) and starts its idle clock (ROOM_IDLE_TTL_MS), or goes
-- at once when it holds no history.
-- KEYS, ARGV[1..6]: room.lua's   KEYS[EXTRA + 1..]: refs, inst-members   ARGV[7..]: key, entry
-- Returns {the member's value when this call removed it else nil, members in the room}
local value = false
if redis.call('SREM', KEYS[EXTRA + 2], ARGV[8]) == 1 then
  if redis.call('HINCRBY', KEYS[EXTRA + 1], ARGV[7], -1) <= 0 then
    redis.call('HDEL', KEYS[EXTRA + 1], ARGV[7])
    value = redis.call('HGET', MEMBERS, ARGV[7])
    redis.call('HDEL', MEMBERS, ARGV[7])
  end
end
local count = redis.call('HLEN', MEMBERS)
-- a room the shared state no longer holds (Redis lost it) is not brought back by a leave; one left with no
-- members and no held history is forgotten at once, as the in-memory hub does (a later join starts a new epoch)
if room_held() then
  if count == 0 and redis.call('EXISTS', HIST) == 0 then drop_room(ROOM) else touch() end
end
return {value, count}
