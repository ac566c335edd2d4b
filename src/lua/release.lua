-- release: remove this holder's own entry, and nobody else's; wake the next waiters.
--
-- ARGV[1] token  ARGV[2] ttl_ms  ARGV[3] limit
--
-- Returns 1 when this holder still held the lock until now, 0 when it was already gone
-- (removed, or expired on the server's clock).
local held = drop_holder(ARGV[1])
purge_holders()
purge_queue()
keep_alive(K_HOLDERS, K_INFO)
wake_heads(tonumber(ARGV[3]), tonumber(ARGV[2]))
if held then
	return 1
end
return 0
