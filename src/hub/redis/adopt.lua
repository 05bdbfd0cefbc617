-- Upgrade from the versions before the room bounds (one Redis; they listed every room in <prefix>rooms): a room
-- they left holds messages with no position in the global order and no bytes in the budget, so the first trims
-- would miscount it and, once its gpos list ran out before its hist, drop its whole history. Here its held
-- messages get positions and count in the budget, and it takes its place in the room sets (and its idle clock).
-- A room already under the bounds (in the room sets, hist and gpos in lockstep) is left as it is.
-- KEYS, ARGV[1..6]: room.lua's (room-single.lua's part)
-- Returns 1 when the room was adopted
if redis.call('EXISTS', META) == 0 then return 0 end
local held = redis.call('LRANGE', HIST, 0, -1)
if room_held() and redis.call('LLEN', GPOS) == #held then return 0 end
-- whatever a publish of this version already counted for it is counted again from the list
uncount(ROOM)
redis.call('DEL', GPOS)
local total = 0
for i = 1, #held do
  local gpos = next_gpos()
  redis.call('RPUSH', GPOS, gpos)
  total = count_bytes(ROOM, #held[i])
  if i == 1 then set_oldest(ROOM, gpos) end
end
touch()
keep_budget(total)
return 1
