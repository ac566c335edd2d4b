-- held: whether a holder still holds the lock, for a nested rwith that runs under that
-- holder's hold (re-entrancy); reads only, and extends nothing (the holder's own heartbeat
-- keeps its TTL, which a nested rwith's --ttl must not change).
--
-- ARGV[1] token
--
-- Returns 1 while the token holds the lock on the server's clock, else 0.
local expiry = redis.call('ZSCORE', K_HOLDERS, ARGV[1])
if expiry and tonumber(expiry) > now then
	return 1
end
return 0
