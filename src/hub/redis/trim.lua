-- Cluster: HISTORY_MAX_BYTES is over by ARGV[6] bytes and this room holds the globally oldest message: its
-- oldest messages go until that many bytes are off or it holds none.
-- KEYS, ARGV[1..5]: room.lua's (room-cluster.lua's part)   ARGV[6]: bytes over the budget
-- Returns the bytes taken off
local over = tonumber(ARGV[6])
local off = 0
while off < over and redis.call('LLEN', HIST) > 0 do off = off + pop_oldest(ROOM) end
return off
