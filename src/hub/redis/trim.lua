-- Cluster: HISTORY_MAX_BYTES is over by ARGV[7] bytes and this room holds the globally oldest message: its
-- oldest messages go until that many bytes are off or it holds none.
-- KEYS, ARGV[1..6]: room.lua's (room-cluster.lua's part)   ARGV[7]: bytes over the budget
-- Returns the bytes taken off
local over = tonumber(ARGV[7])
local off = 0
while off < over and redis.call('LLEN', HIST) > 0 do off = off + pop_oldest(ROOM) end
return off
