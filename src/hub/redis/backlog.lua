-- The room's epoch (created if the state is new or was lost), seq and held history in one round trip. A room new
-- to the shared state is admitted under MAX_ROOMS like a publish's; reading it counts as activity.
-- KEYS, ARGV[1..5]: room.lua's   ARGV[6]: newEpoch
-- Returns {epoch, seq, held message JSONs oldest first}; an error reply ROOMLIMIT as publish.lua's
if not admit() then return redis.error_reply(ROOM_LIMIT) end
local epoch = room_epoch(ARGV[6])
touch()
return {epoch, redis.call('HGET', META, 'seq'), redis.call('LRANGE', HIST, 0, -1)}
