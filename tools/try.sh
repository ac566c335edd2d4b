#!/bin/sh
# First run on a fresh Debian/Ubuntu machine: installs what is needed, builds rwith, and runs
# it once. Without $RWITH_REDIS_URL it starts a throwaway redis-server on a free loopback
# port, and stops it (by PID) afterwards.
set -eu
cd "$(dirname "$0")/.."
./tools/deps.sh
[ -d build ] || meson setup build
ninja -C build
server_pid=""
workdir=""
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	[ -n "$workdir" ] && rm -rf "$workdir"
	return 0
}
trap cleanup EXIT
if [ -z "${RWITH_REDIS_URL:-}" ]; then
	workdir=$(mktemp -d)
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$workdir" \
		>"$workdir/redis.log" 2>&1 &
	server_pid=$!
	i=0
	until redis-cli -p "$port" ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -lt 100 ] || { echo "try.sh: redis-server did not start" >&2; cat "$workdir/redis.log" >&2; exit 1; }
		sleep 0.05
	done
	RWITH_REDIS_URL="redis://127.0.0.1:$port"
	export RWITH_REDIS_URL
	echo "try.sh: started a throwaway redis-server at $RWITH_REDIS_URL"
fi
set -x
./build/rwith -v demo -- sh -c 'echo "running under the lock $RWITH_LOCK with fence $RWITH_FENCE"'
