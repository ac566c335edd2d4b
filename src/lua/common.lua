-- common: definitions every script starts with; tools/embed_lua.py puts this file in front
-- of each of them at build time, so each script on the server is still self-contained.
--
-- KEYS[1]  holders  ZSET  holder token -> expiry (server ms)
-- KEYS[2]  info     HASH  holder token -> "fence\nhost\npid\nsince_ms\ntask"
-- KEYS[3]  fence    STRING counter behind RWITH_FENCE; never expires
-- KEYS[4]  queue    ZSET  waiter token -> arrival number (FIFO order)
-- KEYS[5]  qexp     ZSET  waiter token -> expiry (server ms); a waiter renews it, a dead
--                   waiter's entry expires
-- KEYS[6]  seq      STRING counter behind the arrival numbers
-- KEYS[7]  wake prefix: waiter T blocks (BLPOP) on the LIST KEYS[7] .. T. Those keys are
--          derived, not declared, but share the {LOCK} hash tag and so the slot.
-- Only the server's clock (TIME) decides expiry.
if redis.replicate_commands then
	redis.replicate_commands()
end
local K_HOLDERS, K_INFO, K_FENCE, K_QUEUE, K_QEXP, K_SEQ, K_WAKE =
	KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

-- Forgets holders whose time ran out.
local function purge_holders()
	for _, gone in ipairs(redis.call('ZRANGEBYSCORE', K_HOLDERS, '-inf', now)) do
		redis.call('ZREM', K_HOLDERS, gone)
		redis.call('HDEL', K_INFO, gone)
	end
end

-- Forgets waiters that stopped renewing their place (crashed, killed, cut off).
local function purge_queue()
	for _, gone in ipairs(redis.call('ZRANGEBYSCORE', K_QEXP, '-inf', now)) do
		redis.call('ZREM', K_QUEUE, gone)
		redis.call('ZREM', K_QEXP, gone)
		redis.call('DEL', K_WAKE .. gone)
	end
end

-- Lets keys expire with the longest-lived entry of `zset`, or deletes them when it is empty.
local function keep_alive(zset, a, b)
	local last = redis.call('ZRANGE', zset, -1, -1, 'WITHSCORES')
	if #last == 0 then
		redis.call('DEL', zset, a)
		if b then
			redis.call('DEL', b)
		end
		return
	end
	local keep = math.max(1, tonumber(last[2]) - now)
	redis.call('PEXPIRE', zset, keep)
	redis.call('PEXPIRE', a, keep)
	if b then
		redis.call('PEXPIRE', b, keep)
	end
end

-- Wakes the waiters at the head of the queue that may take a free place now: one push onto
-- each one's wake list, unless it already has one.
local function wake_heads(limit, ttl)
	local free = limit - redis.call('ZCARD', K_HOLDERS)
	if free <= 0 then
		return
	end
	for _, head in ipairs(redis.call('ZRANGE', K_QUEUE, 0, free - 1)) do
		local key = K_WAKE .. head
		if redis.call('LLEN', key) == 0 then
			redis.call('RPUSH', key, '1')
			redis.call('PEXPIRE', key, ttl)
		end
	end
end

-- A holder's record: fence, host, pid, since, task (nil when it has none).
local function holder_fields(token)
	local meta = redis.call('HGET', K_INFO, token) or ''
	local fence, host, pid, since, task = string.match(meta, '^(%d+)\n([^\n]*)\n(%d+)\n(%d+)\n(.*)$')
	return tonumber(fence) or 0, host or '?', tonumber(pid) or 0, tonumber(since) or 0, task or ''
end

-- Removes one holder, if present; returns whether it still held the lock until now.
local function drop_holder(token)
	local expiry = redis.call('ZSCORE', K_HOLDERS, token)
	redis.call('ZREM', K_HOLDERS, token)
	redis.call('HDEL', K_INFO, token)
	return expiry ~= false and expiry ~= nil and tonumber(expiry) > now
end
