-- The heartbeat's sweep of what expired while nobody looked, so it stops counting toward MAX_ROOMS and
-- HISTORY_MAX_BYTES even when no new room or message comes to push it out:
--   ROOM_IDLE_TTL_MS   the rooms whose keys expired leave the room sets and the byte budget
--   HISTORY_TTL_MS     the expired messages leave history and the budget, from the globally oldest on
-- KEYS[1..5], ARGV[1..6]: room.lua's (no room: ARGV[2] is '')   ARGV[7]: at most this many rooms of each
-- Returns {rooms taken out, rooms whose expired messages left}
local limit = tonumber(ARGV[7])
local idle = prune(limit)
local expired = 0
if CUTOFF > 0 then
  while expired < limit do
    local first = redis.call('ZRANGE', ORDER, 0, 0)[1]
    if not first or not expire_first(first) then break end
    expired = expired + 1
  end
end
return {idle, expired}
