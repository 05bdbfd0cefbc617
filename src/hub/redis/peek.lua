-- backlog.lua for an outside reader: the same reply, but a room with no state is answered with nil and
-- nothing is created (a read must not grow Redis: a meta key made here would have no member and no expiry),
-- and the read is not activity. Its messages past HISTORY_TTL_MS leave, as in backlog.lua.
-- KEYS, ARGV[1..6]: room.lua's
-- Returns nil when the room has no state, else {epoch, seq, held message JSONs oldest first}
local meta = redis.call('HMGET', META, 'epoch', 'seq')
-- false, not nil: a Redis nil either way, but on a Cluster it is the first element of the wrapped reply
if not meta[1] then return false end
expire(ROOM)
return {meta[1], meta[2], redis.call('LRANGE', HIST, 0, -1)}
