-- common: definitions every script starts with; tools/embed_lua.py puts this file in front
-- of each of them at build time, so each script on the server is still self-contained. The
-- helper functions (from the @helpers line on) go where the script has its own @helpers
-- line, if it has one: a short way above that line costs the server no closures.
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
-- KEYS[8]  watch    ZSET  watcher token -> expiry: the tokens of qexp that have no place in
--                   the queue, kept apart so that waking them never walks the queue
-- Only the server's clock (TIME) decides expiry.
--
-- No step walks all waiters or all holders: each costs the same however long the queue is
-- (the bench bench/queue_cost.py measures it). All holders share one mode (readers exclude
-- writers and writers readers), stored as '#mode' in the info hash beside '#limit'; expired
-- entries are forgotten PURGE_MAX at a time.
if redis.replicate_commands then
	redis.replicate_commands()
end
local K_HOLDERS, K_INFO, K_FENCE, K_QUEUE, K_QEXP, K_SEQ, K_WAKE, K_WATCH =
	KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local PURGE_MAX = 100
local unpack = unpack or table.unpack

-- Lets `zset` and the other keys given expire with the longest-lived entry of `zset`, after
-- an entry was added or extended; deletes them when it is empty. (Removing entries needs
-- no call: the keys then outlive their entries a little, or the tidy functions delete them.)
local function keep_alive(zset, ...)
	local last = redis.call('ZRANGE', zset, -1, -1, 'WITHSCORES')
	if #last == 0 then
		redis.call('DEL', zset, ...)
		return
	end
	local keep = math.max(1, tonumber(last[2]) - now)
	redis.call('PEXPIRE', zset, keep)
	for _, key in ipairs({...}) do
		redis.call('PEXPIRE', key, keep)
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

-- @helpers: what follows is put where a script has this line (after its short ways, so that
-- a run that takes a short way never creates these closures), else right here.

-- Deletes the holders' keys once nobody holds the lock (the stored limit and mode with them).
local function holders_tidy()
	if redis.call('ZCARD', K_HOLDERS) == 0 then
		redis.call('DEL', K_HOLDERS, K_INFO)
	end
end

-- Deletes the queue's keys once nobody waits.
local function queue_tidy()
	if redis.call('ZCARD', K_QEXP) == 0 then
		redis.call('DEL', K_QEXP, K_QUEUE, K_SEQ, K_WATCH)
	end
end

-- Forgets holders whose time ran out, PURGE_MAX at a time; returns how many it forgot.
local function purge_holders()
	local gone = redis.call('ZRANGEBYSCORE', K_HOLDERS, '-inf', now, 'LIMIT', 0, PURGE_MAX)
	if #gone > 0 then
		redis.call('ZREM', K_HOLDERS, unpack(gone))
		redis.call('HDEL', K_INFO, unpack(gone))
		holders_tidy()
	end
	return #gone
end

-- Forgets waiters that stopped renewing their place (crashed, killed, cut off), PURGE_MAX
-- at a time.
local function purge_queue()
	local gone = redis.call('ZRANGEBYSCORE', K_QEXP, '-inf', now, 'LIMIT', 0, PURGE_MAX)
	if #gone > 0 then
		local wake_keys = {}
		for i, token in ipairs(gone) do
			wake_keys[i] = K_WAKE .. token
		end
		redis.call('ZREM', K_QUEUE, unpack(gone))
		redis.call('ZREM', K_QEXP, unpack(gone))
		redis.call('ZREM', K_WATCH, unpack(gone))
		redis.call('DEL', unpack(wake_keys))
		queue_tidy()
	end
end

-- The lock's shape: how many hold it exclusively and how many shared, and the --limit
-- stored with it (nil when none is). At most two commands, whatever the number of holders;
-- one when the caller knows the number of holders (`count`).
local function lock_shape(count)
	count = count or redis.call('ZCARD', K_HOLDERS)
	if count == 0 then
		return 0, 0, nil -- the info hash went with the last holder
	end
	local stored = redis.call('HMGET', K_INFO, '#limit', '#mode')
	if stored[2] == 's' then
		return 0, count, tonumber(stored[1])
	end
	return count, 0, tonumber(stored[1])
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
-- readers queued ahead of it go together. Reads only as far as it admits.
local function admissible(limit, exclusive, shared)
	local result = {}
	if not fits('x', exclusive, shared, limit) and not fits('s', exclusive, shared, limit) then
		return result
	end
	local offset, BATCH = 0, 16
	while true do
		local batch = redis.call('ZRANGE', K_QUEUE, offset, offset + BATCH - 1, 'WITHSCORES')
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
		if #batch < 2 * BATCH then
			return result -- a short batch was the queue's end: no need to ask for more
		end
		offset = offset + BATCH
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

-- Wakes the admissible head of the queue and, when there is room for another holder of
-- either mode, the watchers (quorum mode), who try again. Nothing at all when the holders
-- leave no room.
local function wake_heads(limit, ttl, exclusive, shared)
	if not fits('x', exclusive, shared, limit) and not fits('s', exclusive, shared, limit) then
		return
	end
	for _, head in ipairs(admissible(limit, exclusive, shared)) do
		wake(head, ttl)
	end
	for _, token in ipairs(redis.call('ZRANGE', K_WATCH, 0, -1)) do
		wake(token, ttl)
	end
end

-- Removes one holder, if present; returns whether it still held the lock until now. The
-- caller may pass the holder's expiry when it read it already (false: not a holder).
local function drop_holder(token, expiry)
	if expiry == nil then
		expiry = redis.call('ZSCORE', K_HOLDERS, token)
	end
	if not expiry then
		return false
	end
	redis.call('ZREM', K_HOLDERS, token)
	redis.call('HDEL', K_INFO, token)
	return tonumber(expiry) > now
end
