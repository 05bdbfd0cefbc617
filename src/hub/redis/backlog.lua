-- The room's epoch (created if the state is new or was lost), seq and held history in one round trip.
-- KEYS: meta, hist, cids   ARGV: newEpoch
-- Returns {epoch, seq, held message JSONs oldest first}
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
  redis.call('DEL', KEYS[2], KEYS[3])
end
return {epoch, redis.call('HGET', KEYS[1], 'seq'), redis.call('LRANGE', KEYS[2], 0, -1)}
