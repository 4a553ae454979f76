"""The Lua scripts that move entries between the stream and its dead-letter stream.

A script, not MULTI or WATCH: it is atomic on a single Redis and on a cluster alike (the two
streams share a hash slot, see `keys`), where redis-py's cluster client has no WATCH.
"""

from __future__ import annotations

# KEYS stream, dead letters; ARGV group, entry id, maxlen, then the record's field, value pairs.
# The ack goes first: if it fails (a vanished group) the script stops with nothing written, so
# the entry is dead-lettered and acked, or neither. Exact trimming: a bound is a bound.
DEAD_LETTER_SCRIPT = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '*', unpack(ARGV, 4))
"""

# KEYS dead letters, stream; ARGV record id, then the original field, value pairs. Nil when the
# record is gone (replayed or dropped meanwhile), so two replays of one record publish it once.
REPLAY_SCRIPT = """
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then
  return false
end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
"""

# KEYS old dead letters, new dead letters (a single Redis: the two need not share a slot there).
# Every old record goes over with its id where the new stream's ids allow it, else with a new
# one; then the old stream goes. All at once, so a crash moves everything or nothing.
MOVE_ALL_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local moved = redis.call('XLEN', KEYS[1])
  redis.call('RENAME', KEYS[1], KEYS[2])
  return moved
end
local records = redis.call('XRANGE', KEYS[1], '-', '+')
for _, record in ipairs(records) do
  local added = redis.pcall('XADD', KEYS[2], record[1], unpack(record[2]))
  if type(added) == 'table' and added.err then
    redis.call('XADD', KEYS[2], '*', unpack(record[2]))
  end
end
redis.call('DEL', KEYS[1])
return #records
"""
