-- status: who holds the lock and how many wait; reads only.
--
-- Returns {now_ms, waiters, then per holder: host, pid, task, since_ms, ttl_left_ms, fence, mode}.
local result = {now, redis.call('ZCOUNT', K_QEXP, '(' .. now, '+inf')}
local holders = redis.call('ZRANGEBYSCORE', K_HOLDERS, '(' .. now, '+inf', 'WITHSCORES')
for i = 1, #holders, 2 do
	local fence, host, pid, since, task, mode = holder_fields(holders[i])
	for _, v in ipairs({host, pid, task, since, tonumber(holders[i + 1]) - now, fence, mode}) do
		result[#result + 1] = v
	end
end
return result
