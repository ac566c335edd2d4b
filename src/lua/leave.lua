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
redis.call('DEL', K_WAKE .. token)
purge_holders()
purge_queue()
keep_alive(K_HOLDERS, K_INFO)
keep_alive(K_QEXP, K_QUEUE, K_SEQ)
wake_heads(tonumber(ARGV[3]), tonumber(ARGV[2]))
return 1
