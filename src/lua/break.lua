-- break: remove every holder of the lock (a crashed or stuck job) and wake the waiters.
-- The evicted holders learn it at their next extension and terminate their commands.
--
-- ARGV[1] ttl_ms  ARGV[2] limit
--
-- Returns {now_ms, then per removed holder: host, pid, task, since_ms, ttl_left_ms, fence, mode}.
purge_holders()
local removed = {now}
local holders = redis.call('ZRANGE', K_HOLDERS, 0, -1, 'WITHSCORES')
for i = 1, #holders, 2 do
	local fence, host, pid, since, task, mode = holder_fields(holders[i])
	for _, v in ipairs({host, pid, task, since, tonumber(holders[i + 1]) - now, fence, mode}) do
		removed[#removed + 1] = v
	end
end
local _, _, stored = lock_shape()
redis.call('DEL', K_HOLDERS, K_INFO)
purge_queue()
wake_heads(stored or tonumber(ARGV[2]), tonumber(ARGV[1]), 0, 0)
return removed
