"""The Lua scripts behind the Redis store: each inbox operation runs atomically on the server, on its clock.

Layout under the key prefix `{P}:` (the braces keep every key in one Redis Cluster slot):

- `event:<id>` hash: `event` (JSON), `attempt`, and when set `okey`, `error`, `due` (retry time, microseconds),
  `entry` (its id on the ready stream) and `consumer` (the worker holding it: in its pending list, or claimed
  at append and never on the stream);
- `inbox` set of every event id in the inbox (ready, delayed, claimed or waiting behind its ordering key);
- `ready` stream with the consumer group `inbox`: the events a worker may take, read with XREADGROUP; the
  group's pending list holds the claimed ones; an acked entry is XACKed and XDELed;
- `delayed` sorted set (id -> due time): retries waiting for their delay, moved onto the stream by a claim;
- `leases` sorted set (id -> lease end): claimed events; one whose lease ran out is XCLAIMed by the next claim
  (one claimed at append has no entry to XCLAIM: it goes onto the stream and that claim reads it);
- `held:<worker>` set: what a worker holds, for `extend` and `release`;
- `workers` sorted set (worker -> liveness deadline): the workers that keep a heartbeat (`HEARTBEAT`); one past
  its deadline is dead (killed, or cut off from Redis), and the next claim makes what it holds due at once;
  a worker not in it (no heartbeat yet, or released) is judged by its leases alone;
- `order:<key>` list: the inbox events sharing an ordering key, in append order; only its head is on the
  stream, delayed or claimed, the rest wait for it to leave the inbox;
- `dedupe:<key>` string with an expiry; `dead` hash (id -> JSON record) and `dead-by-time` sorted set;
- `history` list of finished attempts (JSON), newest first, trimmed to the history size at each push;
- `state:<namespace>` hash (key -> JSON) and `state-ttl:<namespace>` sorted set (key -> expiry).

Times are microseconds from the server's TIME, so replicas with skewed clocks agree on leases and delays.
"""

from __future__ import annotations

__all__ = [
    "APPEND",
    "CLAIM",
    "DEAD_LETTER",
    "DEAD_LETTERS",
    "DISCARD",
    "EXTEND",
    "GROUP",
    "HEARTBEAT",
    "HISTORY_TRIM",
    "PEEK",
    "RATE",
    "RELEASE",
    "REMOVE",
    "REPLAY",
    "RETRY_LATER",
    "STATE_DELETE",
    "STATE_GET",
    "STATE_KEYS",
    "STATE_SET",
    "SWEEP_CONSUMERS",
]

GROUP = "inbox"
"""The consumer group every replica reads the ready stream through."""

# Every script gets KEYS[1] = `{P}:inbox` (so a cluster client routes it) and ARGV[1] = the prefix `{P}:`.
_PRELUDE = """
local base = ARGV[1]
local GROUP = '__GROUP__'
local READY, INBOX, DELAYED, LEASES = base .. 'ready', base .. 'inbox', base .. 'delayed', base .. 'leases'
local DEAD, DEAD_TIME, WORKERS = base .. 'dead', base .. 'dead-by-time', base .. 'workers'
local HISTORY = base .. 'history'
local function ev(id) return base .. 'event:' .. id end
local function held(worker) return base .. 'held:' .. worker end
local function order(key) return base .. 'order:' .. key end
local function num(x) return string.format('%.0f', x) end
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- Make an event claimable: delayed if its retry time lies ahead, else onto the ready stream.
local function activate(id, now)
  local due = tonumber(redis.call('HGET', ev(id), 'due') or '0')
  if due > now then
    redis.call('ZADD', DELAYED, num(due), id)
  else
    redis.call('HSET', ev(id), 'entry', redis.call('XADD', READY, '*', 'id', id))
  end
end

-- Drop a worker from the group once nothing is pending for it (it left, or its claims were taken over).
local function drop_consumer_if_idle(consumer)
  if #redis.call('XPENDING', READY, GROUP, '-', '+', 1, consumer) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', READY, GROUP, consumer)
  end
end

-- Take an event off the stream, the delayed set, the leases and its holder; it stays in the inbox.
local function deactivate(id)
  local fields = redis.call('HMGET', ev(id), 'entry', 'consumer')
  if fields[1] then
    redis.call('XACK', READY, GROUP, fields[1])
    redis.call('XDEL', READY, fields[1])
  end
  if fields[2] then redis.call('SREM', held(fields[2]), id) end
  redis.call('HDEL', ev(id), 'entry', 'consumer')
  redis.call('ZREM', DELAYED, id)
  redis.call('ZREM', LEASES, id)
end

-- Put a new or replayed event into the inbox; behind its ordering key's head if that is busy.
local function enqueue(id, payload, okey, now)
  redis.call('HSET', ev(id), 'event', payload, 'attempt', 0)
  redis.call('SADD', INBOX, id)
  if okey then
    redis.call('HSET', ev(id), 'okey', okey)
    if redis.call('RPUSH', order(okey), id) > 1 then return end
  end
  activate(id, now)
end

-- Push a finished attempt onto the history: `head` is the worker's part of the JSON object (`{"outcome": ...,
-- "duration": ..., "handlers": [...]`, '' for no history), completed here with the event's stored JSON, attempt,
-- time and step records (the records as JSON strings) without decoding the event. Keeps the newest `size`.
local function keep_history(id, head, size)
  if head == '' then return end
  local fields = redis.call('HMGET', ev(id), 'event', 'attempt')
  if not fields[1] then return end
  local steps = '{}'
  local stored = redis.call('HGETALL', base .. 'steps:' .. id)
  if #stored > 0 then
    local records = {}
    for i = 1, #stored, 2 do records[stored[i]] = stored[i + 1] end
    steps = cjson.encode(records)
  end
  redis.call('LPUSH', HISTORY, head .. ',"attempt":' .. (fields[2] or '0') .. ',"at":' .. num(now_us())
    .. ',"steps":' .. steps .. ',"event":' .. fields[1] .. '}')
  redis.call('LTRIM', HISTORY, 0, tonumber(size) - 1)
end

-- Delete an event from the inbox; if it headed its ordering key, the next one becomes claimable. Its step
-- records go too (it is handled), unless `keep_steps` (it is dead-lettered: a replay continues from them).
local function remove(id, keep_steps)
  if redis.call('EXISTS', ev(id)) == 0 then return 0 end
  if not keep_steps then redis.call('DEL', base .. 'steps:' .. id) end
  deactivate(id)
  local okey = redis.call('HGET', ev(id), 'okey')
  if okey then
    local head = redis.call('LINDEX', order(okey), 0)
    redis.call('LREM', order(okey), 1, id)
    if head == id then
      local successor = redis.call('LINDEX', order(okey), 0)
      if successor then activate(successor, now_us()) end
    end
  end
  redis.call('DEL', ev(id))
  redis.call('SREM', INBOX, id)
  return 1
end
""".replace("__GROUP__", GROUP)


def _script(body: str) -> str:
    return _PRELUDE + body


APPEND = _script("""
-- ARGV: id, payload, has ordering key ('0'/'1'), ordering key, dedupe ttl (ms), the worker to claim it for
-- ('' for none), lease (us); returns 1 for a duplicate, 2 when stored claimed by that worker, else 0
local id, payload, ttl, worker = ARGV[2], ARGV[3], tonumber(ARGV[6]), ARGV[7] or ''
local dedupe = base .. 'dedupe:' .. id
if ttl > 0 then
  if not redis.call('SET', dedupe, '1', 'NX', 'PX', ttl) then return 1 end
elseif redis.call('EXISTS', dedupe) == 1 then
  return 1
end
if redis.call('EXISTS', ev(id)) == 1 then return 0 end
local okey = ARGV[4] == '1' and ARGV[5] or nil
if worker == '' then
  enqueue(id, payload, okey, now_us())
  return 0
end
-- Claimed at append: held by the worker under a lease like a claimed event, but never on the stream (only
-- XREADGROUP could hand a stream entry to a consumer). Should the worker die, the next claim after the lease
-- finds no entry to XCLAIM, puts the event on the stream and reads it there.
redis.call('HSET', ev(id), 'event', payload, 'attempt', 0)
redis.call('SADD', INBOX, id)
if okey then
  redis.call('HSET', ev(id), 'okey', okey)
  if redis.call('RPUSH', order(okey), id) > 1 then return 0 end  -- behind its key: waits, unclaimed
end
redis.call('HSET', ev(id), 'consumer', worker, 'attempt', 1)
redis.call('ZADD', LEASES, num(now_us() + tonumber(ARGV[8])), id)
redis.call('SADD', held(worker), id)
return 2
""")

CLAIM = _script("""
-- ARGV: worker, limit, lease (us); returns {id, event, attempt, okey or false, error or false,
-- interrupted (1 if taken over from another holder)} per claim
local worker, limit, lease = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_us()
local claimed = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', DELAYED, '-inf', num(now), 'LIMIT', 0, 1000)) do
  redis.call('ZREM', DELAYED, id)
  activate(id, now)
end
local function hand_out(id, interrupted)
  -- taken from a holder without a stream entry (claimed at append) and put back on the stream on the way
  if redis.call('HDEL', ev(id), 'interrupted') == 1 then interrupted = true end
  redis.call('HSET', ev(id), 'consumer', worker)
  local attempt = redis.call('HINCRBY', ev(id), 'attempt', 1)
  redis.call('ZADD', LEASES, num(now + lease), id)
  redis.call('SADD', held(worker), id)
  local fields = redis.call('HMGET', ev(id), 'event', 'okey', 'error')
  claimed[#claimed + 1] = {id, fields[1], attempt, fields[2], fields[3], interrupted and 1 or 0}
end
if limit <= 0 then return claimed end
-- a worker whose heartbeat stopped is dead: what it holds falls due now, to be taken over below (not by
-- itself: a worker claiming is alive, its heartbeat late, and it is still running what it holds)
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', WORKERS, '-inf', num(now), 'LIMIT', 0, 100)) do
  if gone ~= worker then
    redis.call('ZREM', WORKERS, gone)
    for _, id in ipairs(redis.call('SMEMBERS', held(gone))) do redis.call('ZADD', LEASES, 'XX', 0, id) end
  end
end
-- claims whose lease ran out (their worker died, or released them) are taken over first
for _, id in ipairs(redis.call('ZRANGEBYSCORE', LEASES, '-inf', num(now), 'LIMIT', 0, limit)) do
  local fields = redis.call('HMGET', ev(id), 'entry', 'consumer')
  redis.call('ZREM', LEASES, id)
  if fields[2] then redis.call('SREM', held(fields[2]), id) end
  local moved = {}
  if fields[1] then moved = redis.call('XCLAIM', READY, GROUP, worker, 0, fields[1], 'JUSTID') end
  if #moved == 1 then
    hand_out(id, true)  -- taken over: its holder died, or its lease ran out
  elseif redis.call('EXISTS', ev(id)) == 1 then
    -- held without a stream entry (claimed at append), or no longer pending (its consumer was deleted by
    -- hand): back onto the stream, read below - as interrupted, when it had a holder
    if fields[2] then redis.call('HSET', ev(id), 'interrupted', 1) end
    deactivate(id)
    activate(id, now)
  end
  if fields[2] and fields[2] ~= worker then drop_consumer_if_idle(fields[2]) end
end
local want = limit - #claimed
if want <= 0 then return claimed end
local args = {'XREADGROUP', 'GROUP', GROUP, worker, 'COUNT', want, 'STREAMS', READY, '>'}
local reply = redis.pcall(unpack(args))
if type(reply) == 'table' and reply.err then
  if not string.find(reply.err, 'NOGROUP', 1, true) then return redis.error_reply(reply.err) end
  redis.call('XGROUP', 'CREATE', READY, GROUP, '0', 'MKSTREAM')
  reply = redis.call(unpack(args))
end
if not reply then return claimed end
for _, item in ipairs(reply[1][2]) do
  local id = item[2][2]
  if redis.call('EXISTS', ev(id)) == 1 and redis.call('HGET', ev(id), 'entry') == item[1] then
    hand_out(id)
  else  -- a stale entry (its event left the inbox): drop it
    redis.call('XACK', READY, GROUP, item[1])
    redis.call('XDEL', READY, item[1])
  end
end
return claimed
""")

EXTEND = _script("""
-- ARGV: worker, lease (us), event ids...
local worker, lease = ARGV[2], tonumber(ARGV[3])
local until_us = num(now_us() + lease)
for i = 4, #ARGV do
  local id = ARGV[i]
  if redis.call('SISMEMBER', held(worker), id) == 1 then
    redis.call('ZADD', LEASES, 'XX', until_us, id)
    local entry = redis.call('HGET', ev(id), 'entry')
    -- resets the entry's idle time, so XPENDING shows how long ago the worker last renewed it
    if entry then redis.call('XCLAIM', READY, GROUP, worker, 0, entry, 'JUSTID') end
  end
end
return 0
""")

HEARTBEAT = _script("""
-- ARGV: liveness ttl (us), workers...; each stays alive until now + ttl unless it beats again
local deadline = num(now_us() + tonumber(ARGV[2]))
for i = 3, #ARGV do redis.call('ZADD', WORKERS, deadline, ARGV[i]) end
return 0
""")

REMOVE = _script("""
-- ARGV: id, history head ('' for none), history size; returns 1 if the event was in the inbox
keep_history(ARGV[2], ARGV[3], ARGV[4])
return remove(ARGV[2])
""")

RETRY_LATER = _script("""
-- ARGV: id, delay (us), error, history head ('' for none), history size
local id = ARGV[2]
if redis.call('EXISTS', ev(id)) == 0 then return 0 end
keep_history(id, ARGV[5], ARGV[6])
deactivate(id)
local now = now_us()
redis.call('HSET', ev(id), 'error', ARGV[4], 'due', num(now + tonumber(ARGV[3])))
local okey = redis.call('HGET', ev(id), 'okey')
if not okey or redis.call('LINDEX', order(okey), 0) == id then activate(id, now) end
return 1
""")

DEAD_LETTER = _script("""
-- ARGV: id, error, history head ('' for none), history size; the record keeps the event, its ordering key,
-- attempts and error (the time is the score)
local id = ARGV[2]
local fields = redis.call('HMGET', ev(id), 'event', 'okey', 'attempt')
if not fields[1] then return 0 end
keep_history(id, ARGV[4], ARGV[5])
local record = {event = fields[1], attempts = tonumber(fields[3]), error = ARGV[3]}
if fields[2] then record.ordering_key = fields[2] end
redis.call('HSET', DEAD, id, cjson.encode(record))
redis.call('ZADD', DEAD_TIME, num(now_us()), id)
redis.call('PERSIST', base .. 'steps:' .. id)  -- kept while the dead letter is: a replay continues from them
return remove(id, true)
""")

DEAD_LETTERS = _script("""
-- ARGV: how many (-1 for all); returns {record, failed at (us)} pairs, newest first
local rows = redis.call('ZREVRANGE', DEAD_TIME, 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
local result = {}
for i = 1, #rows, 2 do
  local record = redis.call('HGET', DEAD, rows[i])
  if record then result[#result + 1] = {record, rows[i + 1]} end
end
return result
""")

REPLAY = _script("""
-- ARGV: id, fresh ('1': discard its step records), step ttl (ms); returns 1 if a dead letter was put back with
-- attempt 0 and its last error (so its next delivery is known as a re-run)
local id = ARGV[2]
local raw = redis.call('HGET', DEAD, id)
if not raw then return 0 end
if redis.call('EXISTS', ev(id)) == 1 then
  return redis.error_reply('event ' .. id .. ' is in the inbox again; ack it or dead-letter it before replaying')
end
local record = cjson.decode(raw)
redis.call('HDEL', DEAD, id)
redis.call('ZREM', DEAD_TIME, id)
enqueue(id, record.event, record.ordering_key, now_us())
if ARGV[3] == '1' then  -- fresh: a first delivery again, without its records
  redis.call('DEL', base .. 'steps:' .. id)
else
  redis.call('HSET', ev(id), 'error', record.error)
  redis.call('PEXPIRE', base .. 'steps:' .. id, ARGV[4])
end
return 1
""")

DISCARD = _script("""
-- ARGV: id; deletes a dead letter and its step records; returns 1 if there was one
local id = ARGV[2]
if redis.call('HDEL', DEAD, id) == 0 then return 0 end
redis.call('ZREM', DEAD_TIME, id)
redis.call('DEL', base .. 'steps:' .. id)
return 1
""")

HISTORY_TRIM = _script("""
-- ARGV: the oldest time kept (us); drops older entries from the end of the history (they are the oldest)
local dropped = 0
while true do
  local last = redis.call('LINDEX', HISTORY, -1)
  if not last then break end
  local at = tonumber(string.match(last, '"at":(%d+)'))
  if at and at >= tonumber(ARGV[2]) then break end
  redis.call('RPOP', HISTORY)
  dropped = dropped + 1
end
return dropped
""")

RELEASE = _script("""
-- ARGV: worker; its claims stay pending under it with a lease that has run out, so the next claim of any
-- replica takes them over first; the attempt counted by the claim is taken back. Returns how many.
local worker = ARGV[2]
redis.call('ZREM', WORKERS, worker)  -- it left: no longer watched for its heartbeat
local ids = redis.call('SMEMBERS', held(worker))
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ev(id)) == 1 then
    redis.call('ZADD', LEASES, 0, id)
    if redis.call('HINCRBY', ev(id), 'attempt', -1) < 0 then redis.call('HSET', ev(id), 'attempt', 0) end
    redis.call('HSETNX', ev(id), 'error', ARGV[3])
  end
end
redis.call('DEL', held(worker))
local ok = redis.pcall('XPENDING', READY, GROUP, '-', '+', 1, worker)
if type(ok) == 'table' and not ok.err and #ok == 0 then
  redis.call('XGROUP', 'DELCONSUMER', READY, GROUP, worker)
end
return #ids
""")

PEEK = _script("""
-- returns {last stream id, wait}: wait is 0 if work is ready now, else microseconds until a retry or a
-- lease is due or a worker's heartbeat runs out, or -1 if nothing is due
local now = now_us()
local last_id = '0-0'
local last = redis.call('XREVRANGE', READY, '+', '-', 'COUNT', 1)
if #last > 0 then
  last_id = last[1][1]
  local pending = redis.pcall('XPENDING', READY, GROUP, last_id, last_id, 1)
  if pending.err or #pending == 0 then return {last_id, 0} end
end
local wait = -1
for _, set in ipairs({DELAYED, LEASES, WORKERS}) do
  local first = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
  if #first > 0 then
    local delta = tonumber(first[2]) - now
    if delta <= 0 then return {last_id, 0} end
    if wait < 0 or delta < wait then wait = delta end
  end
end
return {last_id, num(wait)}
""")

SWEEP_CONSUMERS = _script("""
-- ARGV: idle (ms); drops consumers with nothing pending that were idle that long (workers killed while idle)
local consumers = redis.pcall('XINFO', 'CONSUMERS', READY, GROUP)
if consumers.err then return 0 end
local dropped = 0
for _, consumer in ipairs(consumers) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info['pending'] == 0 and info['idle'] >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', READY, GROUP, info['name'])
    dropped = dropped + 1
  end
end
return dropped
""")

# Plugin state: ARGV[2] = namespace, ARGV[3] = key. Expired keys are removed when they are next touched.
_STATE = """
local STATE, TTL = base .. 'state:' .. ARGV[2], base .. 'state-ttl:' .. ARGV[2]
local now = now_us()
local function purge(key)
  local expires = redis.call('ZSCORE', TTL, key)
  if expires and tonumber(expires) <= now then
    redis.call('HDEL', STATE, key)
    redis.call('ZREM', TTL, key)
  end
end
"""


def _state_script(body: str) -> str:
    return _script(_STATE + body)


STATE_GET = _state_script("""
purge(ARGV[3])
return redis.call('HGET', STATE, ARGV[3])
""")

STATE_SET = _state_script("""
-- ARGV[4] = JSON value, ARGV[5] = ttl (us) or '' for none
for _, key in ipairs(redis.call('ZRANGEBYSCORE', TTL, '-inf', num(now), 'LIMIT', 0, 100)) do purge(key) end
if ARGV[5] == '' then
  redis.call('HSET', STATE, ARGV[3], ARGV[4])
  redis.call('ZREM', TTL, ARGV[3])
elseif tonumber(ARGV[5]) <= 0 then
  redis.call('HDEL', STATE, ARGV[3])
  redis.call('ZREM', TTL, ARGV[3])
else
  redis.call('HSET', STATE, ARGV[3], ARGV[4])
  redis.call('ZADD', TTL, num(now + tonumber(ARGV[5])), ARGV[3])
end
return 0
""")

STATE_DELETE = _state_script("""
purge(ARGV[3])
redis.call('ZREM', TTL, ARGV[3])
return redis.call('HDEL', STATE, ARGV[3])
""")

STATE_KEYS = _state_script("""
-- ARGV[3] = prefix; returns the matching keys unsorted
for _, key in ipairs(redis.call('ZRANGEBYSCORE', TTL, '-inf', num(now))) do purge(key) end
local prefix, keys = ARGV[3], {}
for _, key in ipairs(redis.call('HKEYS', STATE)) do
  if string.sub(key, 1, #prefix) == prefix then keys[#keys + 1] = key end
end
return keys
""")

RATE = """
-- A shared rate limit (GCRA): KEYS[1] = `{P}:rate:<adapter>` holds the theoretical arrival time (TAT, server
-- microseconds) of the next request. ARGV: interval (us between requests), allowance (us a burst may run
-- ahead), count (slots wanted), horizon (us ahead a slot may be handed out), hold (us; > 0: a 429's pause).
-- A grant returns {count, wait, now}: slot i may go `wait + i * interval` us after `now` (the server's clock;
-- negative: at once). When the next slot lies beyond the horizon nothing is taken and {0, us to wait before
-- asking again, now} comes back, so a reservation is never more than the horizon ahead, and a hold pushes back
-- every slot not yet handed out.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, allowance = tonumber(ARGV[1]), tonumber(ARGV[2])
local count, horizon, hold = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local function store(value)
  redis.call('SET', KEYS[1], string.format('%.0f', value), 'PX', math.floor((value - now) / 1000) + 1000)
end
if hold > 0 then
  local held = now + hold + allowance
  if held > tat then store(held) end
  return {0, 0, now}
end
local wait = tat - allowance - now
if wait > horizon then return {0, wait - horizon, now} end
store(tat + count * interval)
return {count, wait, now}
"""
