-- acquire: become a holder of the lock, if fewer than `limit` hold it now.
--
-- KEYS[1]  holders: ZSET, member = holder token, score = expiry in server milliseconds
-- KEYS[2]  info:    HASH, field = holder token, value = "fence\nhost\npid\nsince_ms\ntask"
-- KEYS[3]  fence:   STRING counter; never expires, so fences keep increasing
-- ARGV[1]  token    ARGV[2] ttl_ms    ARGV[3] limit
-- ARGV[4]  host     ARGV[5] pid       ARGV[6] task
--
-- Returns {1, fence} when acquired, or, when not, a current holder's
--         {0, host, pid, task, since_ms, ttl_left_ms, fence, now_ms} (now: the server's clock).
-- Only the server's clock (TIME) decides expiry; both hash-tagged keys expire with the
-- longest-lived holder, so a lock whose holders all died frees itself within one TTL.
if redis.replicate_commands then
	redis.replicate_commands()
end
local holders, info, fence_key = KEYS[1], KEYS[2], KEYS[3]
local token, ttl, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

for _, gone in ipairs(redis.call('ZRANGEBYSCORE', holders, '-inf', now)) do
	redis.call('ZREM', holders, gone)
	redis.call('HDEL', info, gone)
end

if redis.call('ZCARD', holders) >= limit then
	local first = redis.call('ZRANGE', holders, 0, 0, 'WITHSCORES')
	local meta = redis.call('HGET', info, first[1]) or ''
	local fence, host, pid, since, task =
		string.match(meta, '^(%d+)\n([^\n]*)\n(%d+)\n(%d+)\n(.*)$')
	return {0, host or '?', tonumber(pid) or 0, task or '', tonumber(since) or 0,
		tonumber(first[2]) - now, tonumber(fence) or 0, now}
end

local fence = redis.call('INCR', fence_key)
redis.call('ZADD', holders, now + ttl, token)
redis.call('HSET', info, token,
	fence .. '\n' .. ARGV[4] .. '\n' .. ARGV[5] .. '\n' .. now .. '\n' .. ARGV[6])
local last = redis.call('ZRANGE', holders, -1, -1, 'WITHSCORES')
local keep = tonumber(last[2]) - now
redis.call('PEXPIRE', holders, keep)
redis.call('PEXPIRE', info, keep)
return {1, fence}
