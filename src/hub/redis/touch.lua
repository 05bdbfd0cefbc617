-- ROOM_IDLE_TTL_MS on Redis: a room's state expires once it has no members and no new message for the TTL.
-- Run after every publish, join and leave of the room: it looks at the members as they are now, so whatever
-- order instances' calls interleave in, the last one run leaves the right answer.
-- KEYS: meta, hist, cids, members   ARGV: idle TTL in ms
-- Returns 1 when the room's keys now expire, 0 when members hold them
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[2])
  redis.call('PERSIST', KEYS[3])
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[1])
return 1
