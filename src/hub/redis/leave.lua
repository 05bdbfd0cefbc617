-- The last registration of a key gone: remove the member and return what it was (for the leave event).
-- KEYS: members, refs, inst-members   ARGV: key, entry
-- Returns {the member's value when this call removed it else nil, members in the room}
local value = false
if redis.call('SREM', KEYS[3], ARGV[2]) == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[1], -1) <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[1])
    value = redis.call('HGET', KEYS[1], ARGV[1])
    redis.call('HDEL', KEYS[1], ARGV[1])
  end
end
return {value, redis.call('HLEN', KEYS[1])}
