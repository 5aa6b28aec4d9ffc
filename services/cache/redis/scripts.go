package redis

import goredis "github.com/redis/go-redis/v9"

// Every script works on one namespace, whose keys share the hash tag
// {namespace}:
//
//	KEYS[1] <prefix>{ns}:sz   hash: key -> entry size in bytes
//	KEYS[2] <prefix>{ns}:exp  sorted set: key scored by expiry (Redis ms)
//	KEYS[3] <prefix>{ns}:st   hash: hits, misses, evictions, entries, bytes
//	ARGV[1] <prefix>{ns}:v:   the data keys' prefix (value: one byte of
//	                          content-type length, the content type, the value)
//
// sz and exp hold every entry that the counters in st count, so the
// counters stay exact although Redis expires the data keys by itself:
// an entry whose expiry has passed is reclaimed (counted out and dropped
// from sz and exp) by the next Set or Stats of its namespace. Times come
// from the server's clock (TIME), as Redis's own expiry does.
const scriptHeader = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- forget removes member from the index and counts it out; returns its size.
local function forget(m)
  local s = redis.call('HGET', KEYS[1], m)
  if not s then
    return nil
  end
  redis.call('HDEL', KEYS[1], m)
  redis.call('ZREM', KEYS[2], m)
  redis.call('HINCRBY', KEYS[3], 'bytes', -tonumber(s))
  redis.call('HINCRBY', KEYS[3], 'entries', -1)
  return tonumber(s)
end

-- reclaim counts out up to n entries whose expiry has passed (all when n
-- is negative); returns how many.
local function reclaim(now, n)
  local expired
  if n < 0 then
    expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
  else
    expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, n)
  end
  for _, m in ipairs(expired) do
    redis.call('UNLINK', ARGV[1] .. m)
    forget(m)
  end
  return #expired
end
`

// getScript reads ARGV[2:] and returns {key, payload, pttl} for each hit,
// flattened. A data key that is gone before its recorded expiry was evicted
// by Redis (maxmemory): it is counted as an eviction and counted out.
var getScript = goredis.NewScript(scriptHeader + `
local now = now_ms()
local out = {}
local hits, misses, evicted = 0, 0, 0
for i = 2, #ARGV do
  local m = ARGV[i]
  local v = redis.call('GET', ARGV[1] .. m)
  if v then
    hits = hits + 1
    out[#out + 1] = m
    out[#out + 1] = v
    out[#out + 1] = redis.call('PTTL', ARGV[1] .. m)
  else
    misses = misses + 1
    local score = redis.call('ZSCORE', KEYS[2], m)
    if score and tonumber(score) > now then
      forget(m)
      evicted = evicted + 1
    end
  end
end
if hits > 0 then redis.call('HINCRBY', KEYS[3], 'hits', hits) end
if misses > 0 then redis.call('HINCRBY', KEYS[3], 'misses', misses) end
if evicted > 0 then redis.call('HINCRBY', KEYS[3], 'evictions', evicted) end
return out
`)

// setScript stores ARGV[3] under key ARGV[2] for ARGV[4] ms, its size
// ARGV[5] counted against limit ARGV[6]. Returns 1 when stored, 0 when the
// namespace would go over its limit (the previous entry is then kept).
var setScript = goredis.NewScript(scriptHeader + `
local now = now_ms()
local m, ttl, size, limit = ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
-- Amortized: each write reclaims a few expired entries.
reclaim(now, 16)
local function fits()
  local cur = tonumber(redis.call('HGET', KEYS[3], 'bytes') or '0')
  local old = redis.call('HGET', KEYS[1], m)
  if old then
    cur = cur - tonumber(old)
  end
  return cur + size <= limit
end
if not fits() then
  reclaim(now, -1)
  if not fits() then
    return 0
  end
end
local old = redis.call('HGET', KEYS[1], m)
if old then
  redis.call('HINCRBY', KEYS[3], 'bytes', size - tonumber(old))
else
  redis.call('HINCRBY', KEYS[3], 'bytes', size)
  redis.call('HINCRBY', KEYS[3], 'entries', 1)
end
redis.call('SET', ARGV[1] .. m, ARGV[3], 'PX', ttl)
redis.call('HSET', KEYS[1], m, size)
redis.call('ZADD', KEYS[2], now + ttl, m)
return 1
`)

// deleteScript removes the keys ARGV[2:] and returns how many of them were
// live.
var deleteScript = goredis.NewScript(scriptHeader + `
local removed = 0
for i = 2, #ARGV do
  removed = removed + redis.call('UNLINK', ARGV[1] .. ARGV[i])
  forget(ARGV[i])
end
return removed
`)

// statsScript reclaims the expired entries, then returns hits, misses,
// evictions, entries and bytes.
var statsScript = goredis.NewScript(scriptHeader + `
reclaim(now_ms(), -1)
return redis.call('HMGET', KEYS[3], 'hits', 'misses', 'evictions', 'entries', 'bytes')
`)

// resetScript records the counters' start (server time, ms) once and
// returns it. KEYS[1] is <prefix>reset.
var resetScript = goredis.NewScript(`
local t = redis.call('TIME')
redis.call('SET', KEYS[1], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), 'NX')
return redis.call('GET', KEYS[1])
`)
