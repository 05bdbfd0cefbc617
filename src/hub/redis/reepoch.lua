-- A room whose seq went back below what the caller has seen in the same epoch (Redis lost writes) gets a new
-- epoch, seq 0 and no history, so no (epoch, seq) ever names two messages; otherwise nothing changes.
-- KEYS: meta, hist, cids   ARGV: newEpoch, seenEpoch, seenSeq
-- Returns {epoch, seq} after the check
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
if epoch and epoch == ARGV[2] and seq < tonumber(ARGV[3]) then
  epoch = restart_room(ARGV[1])
  seq = 0
end
return {epoch or false, seq or 0}
