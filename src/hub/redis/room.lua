-- Shared by the scripts that read or restart a room's state; scripts.ts puts it before their own text.
-- They all take KEYS: meta, hist, cids first.

-- A new life for the room: the given epoch, seq 0, no held history and no cids.
local function restart_room (epoch)
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
  redis.call('DEL', KEYS[2], KEYS[3])
  return epoch
end

-- The room's epoch, started as `fresh` when the state is new or was lost.
local function room_epoch (fresh)
  return redis.call('HGET', KEYS[1], 'epoch') or restart_room(fresh)
end
