-- common: definitions every script starts with; tools/embed_lua.py puts this file in front
-- of each of them at build time, so each script on the server is still self-contained.
--
-- KEYS[1]  holders  ZSET  holder token -> expiry (server ms)
-- KEYS[2]  info     HASH  holder token -> "fence\nhost\npid\nsince_ms\nmode\ntask" (mode 'x'
--                   exclusive or 's' shared), and '#limit' -> the --limit of the exclusive
--                   holders, kept while the lock has holders
-- KEYS[3]  fence    STRING counter behind RWITH_FENCE; never expires
-- KEYS[4]  queue    ZSET  waiter token -> arrival number * 2 + 1 for a shared waiter, + 0
--                   for an exclusive one (FIFO order, and the mode)
-- KEYS[5]  qexp     ZSET  waiter token -> expiry (server ms); a waiter renews it, a dead
--                   waiter's entry expires. A token here but not in the queue is a watcher
--                   (quorum mode): it waits without a place, woken whenever room appears
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
	if redis.call('ZCARD', K_HOLDERS) == 0 then
		redis.call('DEL', K_INFO) -- also the stored limit, which lives as long as holders do
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

-- A holder's record: fence, host, pid, since, task, mode ('?' values when it has none).
local function holder_fields(token)
	local meta = redis.call('HGET', K_INFO, token) or ''
	local fence, host, pid, since, mode, task =
		string.match(meta, '^(%d+)\n([^\n]*)\n(%d+)\n(%d+)\n([sx])\n(.*)$')
	return tonumber(fence) or 0, host or '?', tonumber(pid) or 0, tonumber(since) or 0,
		task or '', mode or 'x'
end

-- The --limit stored with the lock, else `limit`.
local function lock_limit(limit)
	return tonumber(redis.call('HGET', K_INFO, '#limit')) or limit
end

-- How many hold the lock exclusively, and how many shared.
local function holder_shape()
	local exclusive, shared = 0, 0
	for _, token in ipairs(redis.call('ZRANGE', K_HOLDERS, 0, -1)) do
		local _, _, _, _, _, mode = holder_fields(token)
		if mode == 's' then
			shared = shared + 1
		else
			exclusive = exclusive + 1
		end
	end
	return exclusive, shared
end

-- Whether one more holder of `mode` fits beside the holders: readers share with readers,
-- a writer excludes readers, and at most `limit` writers hold at once.
local function fits(mode, exclusive, shared, limit)
	if mode == 's' then
		return exclusive == 0
	end
	return shared == 0 and exclusive < limit
end

-- The waiters that may take the lock now: the longest head of the queue that fits beside
-- the holders, in order. So a queued writer holds back readers that came after it, and
-- readers queued ahead of it go together.
local function admissible(limit)
	local exclusive, shared = holder_shape()
	local result = {}
	local offset = 0
	while true do
		local batch = redis.call('ZRANGE', K_QUEUE, offset, offset + 15, 'WITHSCORES')
		if #batch == 0 then
			return result
		end
		for i = 1, #batch, 2 do
			local mode = (tonumber(batch[i + 1]) % 2 == 1) and 's' or 'x'
			if not fits(mode, exclusive, shared, limit) then
				return result
			end
			if mode == 's' then
				shared = shared + 1
			else
				exclusive = exclusive + 1
			end
			result[#result + 1] = batch[i]
		end
		offset = offset + 16
	end
end

-- Wakes the waiters that may take the lock now: one push onto each one's wake list, unless
-- it already has one.
local function wake(token, ttl)
	local key = K_WAKE .. token
	if redis.call('LLEN', key) == 0 then
		redis.call('RPUSH', key, '1')
		redis.call('PEXPIRE', key, ttl)
	end
end

local function wake_heads(limit, ttl)
	limit = lock_limit(limit)
	for _, head in ipairs(admissible(limit)) do
		wake(head, ttl)
	end
	-- Watchers, when there is room for another holder of either mode: they try again.
	local exclusive, shared = holder_shape()
	if fits('x', exclusive, shared, limit) or fits('s', exclusive, shared, limit) then
		for _, token in ipairs(redis.call('ZRANGE', K_QEXP, 0, -1)) do
			if not redis.call('ZSCORE', K_QUEUE, token) then
				wake(token, ttl)
			end
		end
	end
end

-- Removes one holder, if present; returns whether it still held the lock until now.
local function drop_holder(token)
	local expiry = redis.call('ZSCORE', K_HOLDERS, token)
	redis.call('ZREM', K_HOLDERS, token)
	redis.call('HDEL', K_INFO, token)
	return expiry ~= false and expiry ~= nil and tonumber(expiry) > now
end
