-- backlog.lua for an outside reader: the same reply, but a room with no state is answered with nil and
-- nothing is created (a read must not grow Redis: a meta key made here would have no member and no expiry).
-- KEYS: meta, hist
-- Returns nil when the room has no state, else {epoch, seq, held message JSONs oldest first}
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
if not meta[1] then return nil end
return {meta[1], meta[2], redis.call('LRANGE', KEYS[2], 0, -1)}
