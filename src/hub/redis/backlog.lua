-- The room's epoch (created if the state is new or was lost), seq and held history in one round trip.
-- KEYS: meta, hist, cids   ARGV: newEpoch
-- Returns {epoch, seq, held message JSONs oldest first}
local epoch = room_epoch(ARGV[1])
return {epoch, redis.call('HGET', KEYS[1], 'seq'), redis.call('LRANGE', KEYS[2], 0, -1)}
