-- held: how long a holder still holds the lock, for a nested rwith that joins that
-- holder's hold (re-entrancy); reads only, and extends nothing.
--
-- ARGV[1] token
--
-- Returns the milliseconds left before the token's entry expires on the server's clock
-- (at least 1 while it holds the lock), or 0 when it holds it no more.
local expiry = redis.call('ZSCORE', K_HOLDERS, ARGV[1])
if expiry and tonumber(expiry) > now then
	return tonumber(expiry) - now
end
return 0
