-- ROOM_IDLE_TTL_MS: the rooms whose keys expired leave the room sets and the byte budget, so they stop counting
-- toward MAX_ROOMS and HISTORY_MAX_BYTES even when no new room or message comes to push them out.
-- KEYS[1..5], ARGV[1..5]: room.lua's (no room: ARGV[2] is '')   ARGV[6]: at most this many rooms
-- Returns how many rooms it took out
return prune(tonumber(ARGV[6]))
