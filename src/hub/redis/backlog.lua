-- The room's epoch (created if the state is new or was lost), seq and held history in one round trip. A room new
-- to the shared state is admitted under MAX_ROOMS like a publish's; reading it counts as activity, and its
-- messages past HISTORY_TTL_MS leave (history and budget) before it is read.
-- KEYS, ARGV[1..6]: room.lua's   ARGV[7]: newEpoch
-- Returns {epoch, seq, held message JSONs oldest first}; an error reply ROOMLIMIT as publish.lua's
if not admit() then return redis.error_reply(ROOM_LIMIT) end
local epoch = room_epoch(ARGV[7])
expire(ROOM)
touch()
return {epoch, redis.call('HGET', META, 'seq'), redis.call('LRANGE', HIST, 0, -1)}
