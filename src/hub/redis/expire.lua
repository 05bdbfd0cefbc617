-- Cluster: the heartbeat's HISTORY_TTL_MS for this room, which global.lua's hist:order says holds the globally
-- oldest message (prune.lua's walk on one Redis, one room a call).
-- KEYS, ARGV[1..6]: room.lua's (room-cluster.lua's part)
-- Returns 1 when the walk goes on to the next room, 0 when this room's oldest message is within the TTL
if expire_first(ROOM) then return 1 end
return 0
