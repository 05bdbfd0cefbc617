-- A room whose seq went back below what the caller has seen in the same epoch (Redis lost writes) gets a new
-- epoch, seq 0 and no history, so no (epoch, seq) ever names two messages; otherwise nothing changes.
-- KEYS, ARGV[1..6]: room.lua's   ARGV[7..]: newEpoch, seenEpoch, seenSeq
-- Returns {epoch, seq} after the check
local epoch = redis.call('HGET', META, 'epoch')
local seq = tonumber(redis.call('HGET', META, 'seq'))
if epoch and epoch == ARGV[8] and seq < tonumber(ARGV[9]) then
  epoch = restart_room(ARGV[7])
  seq = 0
end
return {epoch or false, seq or 0}
