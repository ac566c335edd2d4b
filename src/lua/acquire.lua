-- acquire: become a holder if a place is free and nobody queued earlier is waiting for it;
-- otherwise (with enqueue) take or keep a place in the FIFO queue.
--
-- ARGV[1] token  ARGV[2] ttl_ms  ARGV[3] limit  ARGV[4] host  ARGV[5] pid  ARGV[6] task
-- ARGV[7] enqueue: '1' to wait in the queue, '0' for a single try (--nonblock)
--
-- Returns {1, fence} when acquired, or
--   {0, host, pid, task, since_ms, ttl_left_ms, fence, now_ms, position, waiters, recheck_ms}:
--   the holder that frees a place first ('' and zeros when a place is free but others are
--   ahead), this waiter's 0-based place in the queue (-1 when not queued), the queue's
--   length, and when to look again at the latest: when that holder's or the previous
--   waiter's time runs out, since no event announces an expiry.
local token, ttl, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
purge_holders()
purge_queue()

local free = limit - redis.call('ZCARD', K_HOLDERS)
local eligible = false
if free > 0 then
	local heads = redis.call('ZRANGE', K_QUEUE, 0, free - 1)
	eligible = #heads == 0
	for _, head in ipairs(heads) do
		if head == token then
			eligible = true
		end
	end
end

if eligible then
	redis.call('ZREM', K_QUEUE, token)
	redis.call('ZREM', K_QEXP, token)
	redis.call('DEL', K_WAKE .. token)
	keep_alive(K_QEXP, K_QUEUE, K_SEQ)
	local fence = redis.call('INCR', K_FENCE)
	redis.call('ZADD', K_HOLDERS, now + ttl, token)
	redis.call('HSET', K_INFO, token,
		fence .. '\n' .. ARGV[4] .. '\n' .. ARGV[5] .. '\n' .. now .. '\n' .. ARGV[6])
	keep_alive(K_HOLDERS, K_INFO)
	wake_heads(limit, ttl)
	return {1, fence}
end

if ARGV[7] == '1' then
	if not redis.call('ZSCORE', K_QUEUE, token) then
		redis.call('ZADD', K_QUEUE, redis.call('INCR', K_SEQ), token)
	end
	redis.call('ZADD', K_QEXP, now + ttl, token)
	keep_alive(K_QEXP, K_QUEUE, K_SEQ)
	-- A place is free, but earlier waiters have it: make sure they know.
	wake_heads(limit, ttl)
end

local recheck = ttl
local host, pid, task, since, ttl_left, fence = '', 0, '', 0, 0, 0
local first = redis.call('ZRANGE', K_HOLDERS, 0, 0, 'WITHSCORES')
if #first > 0 then
	fence, host, pid, since, task = holder_fields(first[1])
	ttl_left = tonumber(first[2]) - now
	if free <= 0 then
		recheck = math.min(recheck, ttl_left)
	end
end
-- Watching the waiter right ahead is enough: if it dies, its place expires, and whoever
-- is behind a dead waiter watches it in turn, so nobody waits more than a TTL for a
-- crashed waiter, and each look costs O(1) however long the queue is.
local position = redis.call('ZRANK', K_QUEUE, token)
if position and position > 0 then
	local ahead = redis.call('ZRANGE', K_QUEUE, position - 1, position - 1)
	local expiry = ahead[1] and redis.call('ZSCORE', K_QEXP, ahead[1])
	if expiry then
		recheck = math.min(recheck, tonumber(expiry) - now)
	end
elseif not position then
	position = -1
end
return {0, host, pid, task, since, ttl_left, fence, now, position,
	redis.call('ZCARD', K_QUEUE), math.max(recheck, 0)}
