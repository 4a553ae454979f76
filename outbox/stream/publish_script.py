"""The Lua script that publishes a batch to Redis in one round trip, idempotently.

Atomically in Redis it: refuses a relay whose lease token is older than the newest seen
(fencing); skips each event id already published within the dedupe window; XADDs the others in
order (trimming the stream approximately) and records each id with its expiry. An event Redis
refuses is reported with its error, and the later events of its gateway in the batch are held
back, so nothing overtakes it. A crash between the XADD and the marking in MongoDB therefore
republishes nothing.
"""

from __future__ import annotations

# KEYS: stream, fence key, then one dedupe key per event.
# ARGV: token, dedupe seconds, maxlen (0: no trim), largest entry in bytes, the 7 field names,
# then per event the 7 values (the 4th is the gateway). Reply, per event: {0} already published,
# {1, entry id} added, {2} held back, {3, error} refused.
PUBLISHED, ADDED, HELD, REFUSED = 0, 1, 2, 3

PUBLISH_SCRIPT = """
local token = tonumber(ARGV[1])
local fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if token < fence then
  return redis.error_reply('FENCED lease token ' .. ARGV[1] .. ' is older than ' .. fence)
end
if token > fence then
  redis.call('SET', KEYS[2], ARGV[1])
end
local trim = tonumber(ARGV[3]) > 0
local largest = tonumber(ARGV[4])
local names = {ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]}
local failed = {}
local replies = {}
local entry = {}
for i = 1, #KEYS - 2 do
  local first = 12 + (i - 1) * 7
  local size = 0
  for f = 1, 7 do
    entry[2 * f - 1] = names[f]
    entry[2 * f] = ARGV[first + f - 1]
    size = size + #entry[2 * f]
  end
  local gateway = entry[8]
  local key = KEYS[i + 2]
  if failed[gateway] then
    replies[i] = {2}
  elseif size > largest then
    failed[gateway] = true
    replies[i] = {3, 'TOOLARGE entry of ' .. size .. ' bytes, more than ' .. largest}
  elseif not redis.call('SET', key, '1', 'NX', 'EX', ARGV[2]) then
    replies[i] = {0}
  else
    local id
    if trim then
      id = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(entry))
    else
      id = redis.pcall('XADD', KEYS[1], '*', unpack(entry))
    end
    if type(id) == 'table' and id.err then
      redis.call('DEL', key)  -- not published after all: a retry must try again
      failed[gateway] = true
      replies[i] = {3, id.err}
    else
      replies[i] = {1, id}
    end
  end
end
return replies
"""


def too_large(size: int, largest: int) -> str:
    """The refusal of an entry over the size bound (the script says the same)."""
    return f"TOOLARGE entry of {size} bytes, more than {largest}"


def fenced(token: int, fence: int) -> str:
    return f"FENCED lease token {token} is older than {fence}"
