-- Cluster: global.lua evicted this room (MAX_ROOMS): its state goes, unless a member joined meanwhile.
-- KEYS, ARGV[1..6]: room.lua's (room-cluster.lua's part)
-- Returns 1 when the room was dropped
if redis.call('EXISTS', MEMBERS) == 1 then
  touch()
  return 0
end
drop_room(ROOM)
return 1
