-- Allocation, dedupe, history and fan-out in one atomic step and one round trip. Scripts run one at a
-- time, so PUBLISH order is seq order for every subscriber. The message is serialised by the caller
-- around the seq allocated here (head .. seq .. tail): Redis does no JSON work.
-- KEYS: meta, hist, cids, rooms-set   ARGV: room, newEpoch, head, tail, cid, size, channel,
--   seenEpoch, seenSeq (the highest seq the caller has seen in seenEpoch; '' and 0 when it saw none)
-- Returns {epoch, message JSON, 1 when cid repeated a held message (nothing published) else 0}
local epoch = room_epoch(ARGV[2])
-- the seq went back (Redis lost writes the caller saw: an older snapshot, a lagging replica promoted):
-- the next seqs would name messages already delivered, so the room starts a new epoch first
if epoch == ARGV[8] and tonumber(redis.call('HGET', KEYS[1], 'seq')) < tonumber(ARGV[9]) then
  epoch = restart_room(ARGV[2])
end
local size = tonumber(ARGV[6])
local cid = ARGV[5]
if cid ~= '' then
  local old = redis.call('ZSCORE', KEYS[3], cid)
  if old then
    local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
    local held = redis.call('LLEN', KEYS[2])
    local idx = tonumber(old) - (seq - held + 1)
    if idx >= 0 then
      return {epoch, redis.call('LINDEX', KEYS[2], idx), 1}
    end
  end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local msg = ARGV[3] .. seq .. ARGV[4]
redis.call('SADD', KEYS[4], ARGV[1])
if size > 0 then
  redis.call('RPUSH', KEYS[2], msg)
  redis.call('LTRIM', KEYS[2], -size, -1)
  if cid ~= '' then redis.call('ZADD', KEYS[3], seq, cid) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', seq - size)
end
redis.call('PUBLISH', ARGV[7], 'm' .. epoch .. '\n' .. msg)
return {epoch, msg, 0}
