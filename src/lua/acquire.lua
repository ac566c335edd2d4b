-- acquire: become a holder if the lock has room for this mode and nobody queued earlier is
-- waiting for that room; otherwise (with enqueue) take or keep a place in the FIFO queue.
--
-- ARGV[1] token  ARGV[2] ttl_ms  ARGV[3] limit  ARGV[4] host  ARGV[5] pid  ARGV[6] task
-- ARGV[7] enqueue: '1' to wait in the queue, '0' for a single try (--nonblock), '2' for a
--         single try that watches: woken (no place in the queue) when room appears
-- ARGV[8] mode: 'x' exclusive (up to `limit` holders) or 's' shared
--
-- Returns {1, fence} when acquired;
--   {-1, stored_limit} when an exclusive acquirer's limit differs from the stored one;
--   {0, host, pid, task, since_ms, ttl_left_ms, fence, now_ms, position, waiters, recheck_ms}
--   when not now: the holder that expires first ('' and zeros when the lock is free but others
--   are ahead), this waiter's 0-based place in the queue (-1 when not queued), the queue's
--   length, and when to look again at the latest: when that holder's or the previous
--   waiter's time runs out, since no event announces an expiry.
local token, ttl, limit, mode = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[8]
local position -- in the queue, once known

-- Writes this token's holder entry, with a new fence; returns the fence.
local function add_holder()
	local fence = redis.call('INCR', K_FENCE)
	redis.call('ZADD', K_HOLDERS, now + ttl, token)
	local meta = fence .. '\n' .. ARGV[4] .. '\n' .. ARGV[5] .. '\n' .. now .. '\n' .. mode ..
		'\n' .. ARGV[6]
	if mode == 'x' then
		redis.call('HSET', K_INFO, token, meta, '#mode', mode, '#limit', limit)
	else
		redis.call('HSET', K_INFO, token, meta, '#mode', mode)
	end
	return fence
end

-- The common case, in seven commands: nobody holds the lock and nobody waits or watches
-- (every queued or watching token is in qexp). Then there is nothing to purge, no stored
-- limit to check, nobody ahead and nobody to wake. A watching single try ('2') takes the
-- general way, which also drops its wake key. (ZCARD rather than EXISTS: the commands the
-- documented ACL allows.)
local holders = redis.call('ZCARD', K_HOLDERS)
if ARGV[7] ~= '2' and holders == 0 and redis.call('ZCARD', K_QEXP) == 0 then
	local fence = add_holder()
	redis.call('PEXPIRE', K_HOLDERS, ttl)
	redis.call('PEXPIRE', K_INFO, ttl)
	return {1, fence}
end

-- The answer when the lock is not taken now: the holder that expires first (`first`, from
-- ZRANGE WITHSCORES; '' and zeros when nobody holds it), this waiter's place and the queue's
-- length, and when to look again at the latest (`recheck`, also bounded by that holder's
-- expiry).
local function not_now(first, position, queued, recheck)
	local host, pid, task, since, ttl_left, fence = '', 0, '', 0, 0, 0
	if #first > 0 then
		fence, host, pid, since, task = holder_fields(first[1])
		ttl_left = tonumber(first[2]) - now
		recheck = math.min(recheck, ttl_left)
	end
	return {0, host, pid, task, since, ttl_left, fence, now, position, queued,
		math.max(recheck, 0)}
end

-- Two short ways for a writer that waits, under --limit 1, each taken only when the general
-- way below would give the same answer.
local rank -- this waiter's place as the short ways found it: false when not queued
local held -- its expiry as a holder, as they found it: false when it holds nothing
if ARGV[7] == '1' and mode == 'x' and limit == 1 then
	rank = redis.call('ZRANK', K_QUEUE, token)
	if rank == false and holders > 0 then
		-- Asked again by a holder: a grant that came late (counted from when the request
		-- was sent, it may have little time left), or whose answer was lost. Its grant is
		-- renewed, with its fence, unless it has expired: then the general way queues it.
		held = redis.call('ZSCORE', K_HOLDERS, token)
		if held and tonumber(held) > now then
			redis.call('ZADD', K_HOLDERS, now + ttl, token)
			keep_alive(K_HOLDERS, K_INFO)
			return {1, (holder_fields(token))}
		end
	end
	-- A periodic look (a waiter's most frequent call, every half TTL for as long as it
	-- waits): while the waiter right ahead of it is alive, it is not at the queue's head,
	-- so it cannot hold the lock, whatever the holders do. Renewing its place is all there
	-- is to do, without the general way's walks; purging and waking are left to the waiters
	-- at the head, which take the general way. Only when the first holder has not expired
	-- either (the answer names it), and no other --limit is stored (with which the general
	-- way answers -1, or may admit more than the head).
	if rank and rank > 0 then
		local ahead = redis.call('ZRANGE', K_QUEUE, rank - 1, rank - 1)
		local ahead_expiry = tonumber(redis.call('ZSCORE', K_QEXP, ahead[1]) or 0)
		local first = redis.call('ZRANGE', K_HOLDERS, 0, 0, 'WITHSCORES')
		local stored = holders > 0 and redis.call('HGET', K_INFO, '#limit')
		if ahead_expiry > now and (#first == 0 or tonumber(first[2]) > now) and
				(not stored or stored == '1') then
			redis.call('ZADD', K_QEXP, now + ttl, token)
			keep_alive(K_QEXP, K_QUEUE, K_SEQ)
			return not_now(first, rank, redis.call('ZCARD', K_QUEUE),
				math.min(ttl, ahead_expiry - now))
		end
	end
end

-- @helpers from common.lua go here: the short ways above never create their closures.

if holders > 0 then
	holders = holders - purge_holders()
end
purge_queue()

local exclusive, shared, stored = lock_shape(holders)
if mode == 'x' and stored and stored ~= limit then
	return {-1, stored}
end
limit = stored or limit

-- Leaves the queue (or the watchers: ARGV[7] '2') on becoming a holder. Every queued token
-- is in qexp too, so with others still queued there is nothing to tidy.
local function leave_queue(queued)
	redis.call('ZREM', K_QUEUE, token)
	redis.call('ZREM', K_QEXP, token)
	if ARGV[7] == '2' then
		redis.call('ZREM', K_WATCH, token)
	end
	redis.call('DEL', K_WAKE .. token)
	if queued < 2 then
		queue_tidy()
	end
end

-- This very rwith holds it already: it never read the answer that granted it (a retry after
-- a lost connection, or a quorum round that gave up before this server answered), or the
-- answer came late. Grant it again, with its own fence, rather than make it wait for itself.
-- (A writer that waits, under --limit 1, is answered by the short way above.)
if exclusive + shared > 0 and held ~= false and redis.call('ZSCORE', K_HOLDERS, token) then
	leave_queue(0)
	redis.call('ZADD', K_HOLDERS, now + ttl, token)
	keep_alive(K_HOLDERS, K_INFO)
	return {1, (holder_fields(token))}
end

local queued = redis.call('ZCARD', K_QUEUE)
local eligible
if queued == 0 then
	eligible = fits(mode, exclusive, shared, limit)
else
	eligible = false
	for _, head in ipairs(admissible(limit, exclusive, shared)) do
		if head == token then
			eligible = true
		end
	end
end

if eligible then
	if queued > 0 or ARGV[7] == '2' then
		leave_queue(queued)
	end
	local fence = add_holder()
	if mode == 'x' then
		exclusive = exclusive + 1
	else
		shared = shared + 1
	end
	if exclusive + shared == 1 then
		-- The only holder: the keys live as long as it does.
		redis.call('PEXPIRE', K_HOLDERS, ttl)
		redis.call('PEXPIRE', K_INFO, ttl)
	else
		keep_alive(K_HOLDERS, K_INFO)
	end
	-- Room may be left for more: readers behind this one, or further semaphore holders.
	wake_heads(limit, ttl, exclusive, shared)
	return {1, fence}
end

if ARGV[7] == '2' then
	redis.call('ZADD', K_QEXP, now + ttl, token)
	redis.call('ZADD', K_WATCH, now + ttl, token)
	keep_alive(K_QEXP, K_QUEUE, K_SEQ, K_WATCH)
elseif ARGV[7] == '1' then
	-- (Not queued before the purges is not queued after them; queued may have changed.)
	if rank == false or not redis.call('ZSCORE', K_QUEUE, token) then
		local arrival = redis.call('INCR', K_SEQ) * 2 + (mode == 's' and 1 or 0)
		redis.call('ZADD', K_QUEUE, arrival, token)
		queued = queued + 1
		position = queued - 1 -- the last place
	end
	redis.call('ZADD', K_QEXP, now + ttl, token)
	keep_alive(K_QEXP, K_QUEUE, K_SEQ)
	-- There may be room that earlier waiters have not taken yet: make sure they know.
	wake_heads(limit, ttl, exclusive, shared)
end

local recheck = ttl
-- Watching the waiter right ahead is enough: if it dies, its place expires, and whoever
-- is behind a dead waiter watches it in turn, so nobody waits more than a TTL for a
-- crashed waiter, and each look costs O(1) however long the queue is.
position = position or redis.call('ZRANK', K_QUEUE, token)
if position and position > 0 then
	local ahead = redis.call('ZRANGE', K_QUEUE, position - 1, position - 1)
	local expiry = ahead[1] and redis.call('ZSCORE', K_QEXP, ahead[1])
	if expiry then
		recheck = math.min(recheck, tonumber(expiry) - now)
	end
elseif not position then
	position = -1
end
return not_now(redis.call('ZRANGE', K_HOLDERS, 0, 0, 'WITHSCORES'), position, queued, recheck)
