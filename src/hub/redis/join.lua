-- Presence counts a member once however many sockets hold its key (tabs of one user, on any instance):
-- each instance registers a key once (its set inst:<id>:members guards that, so a re-registration after an
-- outage cannot count twice) and the key's count across instances is in refs.
-- KEYS: members, refs, inst-members, rooms-set   ARGV: key, value, entry, room
-- Returns {1 when the key is new to the room else 0, members in the room}
local added = 0
if redis.call('SADD', KEYS[3], ARGV[3]) == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[1], 1) == 1 then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    added = 1
  end
end
redis.call('SADD', KEYS[4], ARGV[4])
return {added, redis.call('HLEN', KEYS[1])}
