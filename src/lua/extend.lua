-- extend: push this holder's expiry to now + ttl, if it still holds the lock.
--
-- KEYS[1]  holders (ZSET token -> expiry ms)    KEYS[2]  info (HASH token -> metadata)
-- ARGV[1]  token    ARGV[2] ttl_ms
--
-- Returns 1 when extended, 0 when this holder is gone: removed (--break, a restart) or
-- expired on the server's clock. An expired holder is never revived, even when nobody
-- else took the lock meanwhile: the command may no longer assume it was alone.
if redis.replicate_commands then
	redis.replicate_commands()
end
local holders, info = KEYS[1], KEYS[2]
local token, ttl = ARGV[1], tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local expiry = redis.call('ZSCORE', holders, token)
if not expiry then
	return 0
end
if tonumber(expiry) <= now then
	redis.call('ZREM', holders, token)
	redis.call('HDEL', info, token)
	return 0
end
redis.call('ZADD', holders, now + ttl, token)
local last = redis.call('ZRANGE', holders, -1, -1, 'WITHSCORES')
local keep = tonumber(last[2]) - now
redis.call('PEXPIRE', holders, keep)
redis.call('PEXPIRE', info, keep)
return 1
