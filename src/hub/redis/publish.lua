-- Allocation, dedupe, history, the room bounds and fan-out in one atomic step and one round trip. Scripts run
-- one at a time, so PUBLISH order is seq order for every subscriber. The message is serialised by the caller
-- around the seq allocated here (head .. seq .. tail): Redis does no JSON work.
-- KEYS, ARGV[1..6]: room.lua's   ARGV[7..]: newEpoch, head, tail, cid, size, channel,
--   seenEpoch, seenSeq (the highest seq the caller has seen in seenEpoch; '' and 0 when it saw none)
-- Returns {epoch, message JSON, 1 when cid repeated a held message (nothing published) else 0};
-- an error reply ROOMLIMIT when the room is new and MAX_ROOMS rooms, all with members, are held
if not admit() then return redis.error_reply(ROOM_LIMIT) end
local epoch = room_epoch(ARGV[7])
-- the seq went back (Redis lost writes the caller saw: an older snapshot, a lagging replica promoted):
-- the next seqs would name messages already delivered, so the room starts a new epoch first
if epoch == ARGV[13] and tonumber(redis.call('HGET', META, 'seq')) < tonumber(ARGV[14]) then
  epoch = restart_room(ARGV[7])
end
-- before the dedupe: a message past HISTORY_TTL_MS is no longer held, so a retry of it is published anew
expire(ROOM)
local size = tonumber(ARGV[11])
local cid = ARGV[10]
if cid ~= '' then
  local old = redis.call('ZSCORE', CIDS, cid)
  if old then
    local seq = tonumber(redis.call('HGET', META, 'seq'))
    local held = redis.call('LLEN', HIST)
    local idx = tonumber(old) - (seq - held + 1)
    if idx >= 0 then
      touch()
      return {epoch, redis.call('LINDEX', HIST, idx), 1}
    end
  end
end
local seq = redis.call('HINCRBY', META, 'seq', 1)
local msg = ARGV[8] .. seq .. ARGV[9]
if size > 0 then
  hold(msg, size)
  if cid ~= '' then redis.call('ZADD', CIDS, seq, cid) end
  redis.call('ZREMRANGEBYSCORE', CIDS, '-inf', seq - size)
end
-- after the writes: the idle clock's PEXPIREAT needs the keys to exist
touch()
redis.call(PUB, ARGV[12], 'm' .. epoch .. '\n' .. msg)
return {epoch, msg, 0}
