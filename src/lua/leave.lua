-- leave: a waiter gives up (--wait ran out, interrupted): it leaves the queue at once, drops
-- a place it may have been granted by an answer it never read, and passes any wake-up on.
--
-- ARGV[1] token  ARGV[2] ttl_ms  ARGV[3] limit
--
-- Returns 1.
local token = ARGV[1]
drop_holder(token)
redis.call('ZREM', K_QUEUE, token)
redis.call('ZREM', K_QEXP, token)
redis.call('ZREM', K_WATCH, token)
redis.call('DEL', K_WAKE .. token)
purge_holders()
purge_queue()
holders_tidy()
queue_tidy()
local exclusive, shared, stored = lock_shape()
wake_heads(stored or tonumber(ARGV[3]), tonumber(ARGV[2]), exclusive, shared)
return 1
