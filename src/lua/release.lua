-- release: remove this holder's own entry, and nobody else's.
--
-- KEYS[1]  holders (ZSET token -> expiry ms)    KEYS[2]  info (HASH token -> metadata)
-- ARGV[1]  token
--
-- Returns 1 when this holder still held the lock until now, 0 when it was already gone
-- (removed, or expired on the server's clock).
if redis.replicate_commands then
	redis.replicate_commands()
end
local holders, info = KEYS[1], KEYS[2]
local token = ARGV[1]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local expiry = redis.call('ZSCORE', holders, token)
local held = expiry and tonumber(expiry) > now
redis.call('ZREM', holders, token)
redis.call('HDEL', info, token)
if redis.call('ZCARD', holders) == 0 then
	redis.call('DEL', holders, info)
end
if held then
	return 1
end
return 0
