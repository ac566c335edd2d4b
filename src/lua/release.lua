-- release: remove this holder's own entry, and nobody else's; wake the next waiters. With a
-- minimum hold (--min-hold) not yet over, the entry instead stays until it is over and then
-- expires by itself, so a fast job cannot run twice in one window.
--
-- ARGV[1] token  ARGV[2] ttl_ms  ARGV[3] limit  ARGV[4] min_hold_ms
--
-- Returns 1 when this holder still held the lock until now, 0 when it was already gone
-- (removed, or expired on the server's clock).
local token, min_hold = ARGV[1], tonumber(ARGV[4])
local expiry = redis.call('ZSCORE', K_HOLDERS, token)
-- The common case: the only holder leaves, with no minimum hold to keep. The lock's keys go
-- with it; when nobody waits or watches (qexp is empty: every queued or watching token is in
-- it) that is all, in four commands and before the helpers below exist, else the next
-- waiters are woken.
local holders, keys_gone
if expiry and min_hold <= 0 then
	holders = redis.call('ZCARD', K_HOLDERS)
	if holders == 1 then
		redis.call('DEL', K_HOLDERS, K_INFO)
		if redis.call('ZCARD', K_QEXP) == 0 then
			return tonumber(expiry) > now and 1 or 0
		end
		keys_gone = true
	end
end

-- @helpers from common.lua go here.

if min_hold > 0 then
	local _, _, _, since = holder_fields(token)
	if expiry and tonumber(expiry) > now and since + min_hold > now then
		redis.call('ZADD', K_HOLDERS, since + min_hold, token)
		keep_alive(K_HOLDERS, K_INFO)
		return 1
	end
end
holders = holders or redis.call('ZCARD', K_HOLDERS)
if expiry and holders == 1 then
	if not keys_gone then
		redis.call('DEL', K_HOLDERS, K_INFO)
	end
	if keys_gone or redis.call('ZCARD', K_QEXP) > 0 then
		purge_queue()
		wake_heads(tonumber(ARGV[3]), tonumber(ARGV[2]), 0, 0)
	end
	return tonumber(expiry) > now and 1 or 0
end
local held = drop_holder(token, expiry or false)
if expiry then
	holders = holders - 1
end
if holders > 0 then
	holders = holders - purge_holders()
end
local exclusive, shared, stored = lock_shape(holders)
if exclusive + shared == 0 then
	redis.call('DEL', K_HOLDERS, K_INFO)
end
purge_queue()
wake_heads(stored or tonumber(ARGV[3]), tonumber(ARGV[2]), exclusive, shared)
if held then
	return 1
end
return 0
