-- extend: push this holder's expiry to now + ttl, if it still holds the lock.
--
-- ARGV[1] token  ARGV[2] ttl_ms  ARGV[3] fence floor: the fence counter is raised to at least
-- this (quorum mode: the largest fence among the servers that granted the lock, so that the
-- next majority, which shares a server with this one, hands out a larger one)
--
-- Returns 1 when extended, 0 when this holder is gone: removed (--break, a restart) or
-- expired on the server's clock. An expired holder is never revived, even when nobody
-- else took the lock meanwhile: the command may no longer assume it was alone.
local token, ttl = ARGV[1], tonumber(ARGV[2])
local expiry = redis.call('ZSCORE', K_HOLDERS, token)
if not expiry then
	return 0
end
if tonumber(expiry) <= now then
	drop_holder(token)
	holders_tidy()
	return 0
end
redis.call('ZADD', K_HOLDERS, now + ttl, token)
keep_alive(K_HOLDERS, K_INFO)
local floor = tonumber(ARGV[3]) or 0
if (tonumber(redis.call('GET', K_FENCE)) or 0) < floor then
	redis.call('SET', K_FENCE, floor)
end
-- The holder's record shows the fence its command got (for --status).
local meta = redis.call('HGET', K_INFO, token)
local fence, rest = string.match(meta or '', '^(%d+)(\n.*)$')
if fence and tonumber(fence) < floor then
	redis.call('HSET', K_INFO, token, floor .. rest)
end
return 1
