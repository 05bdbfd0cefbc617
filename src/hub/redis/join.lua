-- Presence counts a member once however many sockets hold its key (tabs of one user, on any instance):
-- each instance registers a key once (its set inst:<id>:members guards that, so a re-registration after an
-- outage cannot count twice) and the key's count across instances is in refs.
-- KEYS, ARGV[1..6]: room.lua's   KEYS[EXTRA + 1..]: refs, inst-members   ARGV[7..]: key, value, entry
-- Returns {1 when the key is new to the room else 0, members in the room}; an error reply ROOMLIMIT when the
-- room is new and MAX_ROOMS rooms, all with members, are held
if not admit() then return redis.error_reply(ROOM_LIMIT) end
local added = 0
if redis.call('SADD', KEYS[EXTRA + 2], ARGV[9]) == 1 then
  if redis.call('HINCRBY', KEYS[EXTRA + 1], ARGV[7], 1) == 1 then
    redis.call('HSET', MEMBERS, ARGV[7], ARGV[8])
    added = 1
  end
end
touch()
return {added, redis.call('HLEN', MEMBERS)}
