"""The Lua script that publishes a batch to Redis in one round trip, exactly once per event.

Atomically in Redis it: refuses a relay whose lease token is older than the newest seen
(fencing); skips each event whose version is at or below its gateway's high-water mark (the
relay publishes a gateway's events in version order, so the mark says what is in the stream
already, with no time limit); XADDs the others in order (trimming the stream approximately) and
raises their gateway's mark. An event Redis refuses is reported with its error, and the later
events of its gateway in the batch are held back, so nothing overtakes it. A crash between the
XADD and the marking in MongoDB therefore republishes nothing.

A stream that holds entries while its marks were never seeded (written by a release that kept
one dedupe key per event) is refused with UNSEEDED, after the fence was raised: the relay seeds
the marks from the stream and the outbox (`relay.seeding`) before anything is published. An
empty or missing stream starts with empty marks.
"""

from __future__ import annotations

# KEYS: stream, fence, marks (hash gateway → version), seeded flag: one hash slot.
# ARGV: token, maxlen (0: no trim), largest entry in bytes, the number N of field names, the N
# names (the 7 required ones first), then per event its N values (the 4th is the gateway, the 5th
# its version); an optional field (8th on) whose value is empty is left out of the entry. Reply,
# per event: {0} already published, {1, entry id} added, {2} held back, {3, error} refused.
PUBLISHED, ADDED, HELD, REFUSED = 0, 1, 2, 3
FIELDS_FROM = 5  # the first field name in ARGV

PUBLISH_SCRIPT = """
local token = tonumber(ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if token < fence then
  return redis.error_reply('FENCED lease token ' .. ARGV[1] .. ' is older than ' .. fence)
end
if token > fence then
  redis.call('SET', KEYS[2], ARGV[1])
end
if redis.call('EXISTS', KEYS[4]) == 0 then
  if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('XLEN', KEYS[1]) > 0
      or redis.call('EXISTS', KEYS[3]) == 1 then
    return redis.error_reply('UNSEEDED the high-water marks of ' .. KEYS[1] .. ' are not seeded')
  end
  redis.call('SET', KEYS[4], '1')
end
local trim = tonumber(ARGV[2]) > 0
local largest = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
local names = {}
for f = 1, count do
  names[f] = ARGV[4 + f]
end
local failed = {}
local marks = {}
local replies = {}
for i = 1, (#ARGV - 4 - count) / count do
  local first = 5 + count + (i - 1) * count
  local size = 0
  local entry = {}
  for f = 1, count do
    local value = ARGV[first + f - 1]
    if f <= 7 or value ~= '' then
      entry[#entry + 1] = names[f]
      entry[#entry + 1] = value
      size = size + #value
    end
  end
  local gateway = entry[8]
  local version = tonumber(entry[10])
  if marks[gateway] == nil then
    marks[gateway] = tonumber(redis.call('HGET', KEYS[3], gateway) or '0')
  end
  if failed[gateway] then
    replies[i] = {2}
  elseif size > largest then
    failed[gateway] = true
    replies[i] = {3, 'TOOLARGE entry of ' .. size .. ' bytes, more than ' .. largest}
  elseif version <= marks[gateway] then
    replies[i] = {0}
  else
    local id
    if trim then
      id = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(entry))
    else
      id = redis.pcall('XADD', KEYS[1], '*', unpack(entry))
    end
    if type(id) == 'table' and id.err then
      failed[gateway] = true
      replies[i] = {3, id.err}
    else
      marks[gateway] = version
      redis.call('HSET', KEYS[3], gateway, entry[10])
      replies[i] = {1, id}
    end
  end
end
return replies
"""

# Seeding: KEYS fence, marks, seeded flag; ARGV token, last ('1': set the flag after these), then
# gateway, version pairs. Raises each mark to at least the version given, never lowers one.
SEED_SCRIPT = """
local token = tonumber(ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[1]) or '0')
if token < fence then
  return redis.error_reply('FENCED lease token ' .. ARGV[1] .. ' is older than ' .. fence)
end
redis.call('SET', KEYS[1], ARGV[1])
for i = 3, #ARGV, 2 do
  local mark = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > mark then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
if ARGV[2] == '1' then
  redis.call('SET', KEYS[3], '1')
end
return 1
"""


def too_large(size: int, largest: int) -> str:
    """The refusal of an entry over the size bound (the script says the same)."""
    return f"TOOLARGE entry of {size} bytes, more than {largest}"


def fenced(token: int, fence: int) -> str:
    return f"FENCED lease token {token} is older than {fence}"


def unseeded(stream: str) -> str:
    return f"UNSEEDED the high-water marks of {stream} are not seeded"
