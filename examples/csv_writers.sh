#!/bin/sh
# csv_writers.sh: the classic demonstration of a lock. Several writers append rows to one CSV
# file; each row's id is the previous row's id + 1, computed by a read-modify-write that is not
# atomic. Four scenes:
#
#   1. without rwith: the writers race; ids are duplicated and rows are lost;
#   2. with rwith:    every row is appended under `rwith csv -- ...`; the file is consistent;
#   3. a writer crashes (its rwith gets SIGKILL while holding the lock): its command dies with
#      it, the lock frees itself after its TTL, the other writers carry on;
#   4. a writer stalls (holds the lock, its heartbeat keeps it): writers with `-w 2s` give up
#      with a clear message and exit status; once the stalled writer is stopped, the others go on.
#
# Usage: ./examples/csv_writers.sh   (after `meson setup build && ninja -C build`)
#
# It starts its own throwaway redis-server on a free port of 127.0.0.1 (no persistence) and stops
# it on exit, unless $RWITH_REDIS_URL names a server to use. rwith is $RWITH if set, else
# build/rwith next to this script's directory, else `rwith` from $PATH.
# Exit status: 0 when every scene behaved as expected, 1 otherwise (so it doubles as a test).
set -eu

me=csv_writers.sh
WRITERS=4       # concurrent writers in scenes 1 and 2
ROWS=20         # rows per writer in scenes 1 and 2
THINK=0.02      # seconds between reading the last id and writing the new row: the race window

# --- finding rwith ------------------------------------------------------------------------------

if [ -n "${RWITH:-}" ]; then
	:
elif [ -x "$(dirname "$0")/../build/rwith" ]; then
	RWITH=$(cd "$(dirname "$0")/../build" && pwd)/rwith
elif command -v rwith >/dev/null 2>&1; then
	RWITH=$(command -v rwith)
else
	echo "$me: rwith not found: build it (meson setup build && ninja -C build) or set \$RWITH" >&2
	exit 1
fi

# --- bookkeeping: temp dir, background processes, the server we start -------------------------

work=$(mktemp -d "${TMPDIR:-/tmp}/csv_writers.XXXXXX")
server_pid=""
bg_pids=""      # background rwith/writer processes still to be reaped (stopped on early exit)
failures=0

cleanup() {
	for p in $bg_pids; do
		kill "$p" 2>/dev/null || :
	done
	for p in $bg_pids; do
		wait "$p" 2>/dev/null || :
	done
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || :
		wait "$server_pid" 2>/dev/null || :
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM

# track PID / untrack PID: a background process to stop on an early exit, or no longer.
track() {
	bg_pids="$bg_pids $1"
}
untrack() {
	rest=""
	for p in $bg_pids; do
		[ "$p" = "$1" ] || rest="$rest $p"
	done
	bg_pids=$rest
}

fail() {
	echo "  FAIL: $*"
	failures=$((failures + 1))
}

# die MESSAGE: a failure after which the demo cannot go on.
die() {
	echo "  FAIL: $*"
	echo "$me: giving up" >&2
	exit 1
}

heading() {
	echo
	echo "== $* =="
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# alive PID: the process exists and is not a zombie (a killed process stays a zombie until its
# parent reaps it; that does not count as running).
alive() {
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case $st in Z*) return 1 ;; esac
	return 0
}

# group_alive PGID: some process of that process group is running (not a zombie).
group_alive() {
	ps -e -o pgid= -o stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

# wait_for SECONDS COMMAND...: run COMMAND every 20 ms until it succeeds; fail after SECONDS.
wait_for() {
	deadline=$(($(now_ms) + $1 * 1000))
	shift
	until "$@"; do
		[ "$(now_ms)" -lt "$deadline" ] || return 1
		sleep 0.02
	done
}

# --- the server ---------------------------------------------------------------------------------

free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
	else
		echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
	fi
}

server_ready() {
	alive "$server_pid" && "$RWITH" -r "$RWITH_REDIS_URL" -q --status probe >/dev/null 2>&1
}

start_redis() {
	for _ in 1 2 3 4 5; do
		port=$(free_port)
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
			>"$work/redis.log" 2>&1 &
		server_pid=$!
		RWITH_REDIS_URL="redis://127.0.0.1:$port"
		if wait_for 5 server_ready; then
			export RWITH_REDIS_URL
			return 0
		fi
		kill "$server_pid" 2>/dev/null || :
		wait "$server_pid" 2>/dev/null || :
		server_pid=""
	done
	echo "$me: could not start redis-server:" >&2
	cat "$work/redis.log" >&2
	exit 1
}

if [ -n "${RWITH_REDIS_URL:-}" ]; then
	LOCK="csv-demo-$$"      # someone else's server: a lock name no one else uses
	echo "Using the server in \$RWITH_REDIS_URL; lock '$LOCK'."
else
	command -v redis-server >/dev/null 2>&1 || {
		echo "$me: redis-server not found (apt-get install redis-server), or set \$RWITH_REDIS_URL" >&2
		exit 1
	}
	start_redis
	LOCK=csv
	echo "Started a throwaway redis-server at $RWITH_REDIS_URL (pid $server_pid); lock '$LOCK'."
fi
echo "Using $("$RWITH" --version)."

# --- the writers --------------------------------------------------------------------------------

# append_row FILE WRITER THINK: appends one row "id,writer,fence" with id = the last row's id + 1.
# It reads the last id, "thinks" for THINK seconds, then writes the whole file anew to a temp file
# and renames it into place. Between the read and the rename another writer can do the same: two
# rows get the same id, and the later rename drops the other's row. The rename makes each write
# all-or-nothing, so a writer killed at any moment leaves either its whole row or nothing.
# With $ROW_PIDFILE set it first writes "PID PGID" there (scenes 3 and 4 watch the command).
APPEND="$work/append_row"
cat >"$APPEND" <<'EOF'
#!/bin/sh
set -eu
f=$1 writer=$2 think=$3
if [ -n "${ROW_PIDFILE:-}" ]; then
	echo "$$ $(ps -o pgid= -p $$)" >"$ROW_PIDFILE.tmp" && mv "$ROW_PIDFILE.tmp" "$ROW_PIDFILE"
fi
last=$(tail -n 1 "$f" | cut -d, -f1)
[ "$last" != id ] || last=0
sleep "$think"
{ cat "$f"; echo "$((last + 1)),$writer,${RWITH_FENCE:--}"; } >"$f.tmp.$$"
mv -f "$f.tmp.$$" "$f"
EOF
chmod +x "$APPEND"

CSV="$work/rows.csv"

new_csv() {
	echo "id,writer,fence" >"$CSV"
}

# writer NAME ROWS [PREFIX...]: appends ROWS rows, one at a time, each as `PREFIX... append_row`
# (no prefix: directly; `"$RWITH" $LOCK --`: each row under the lock). Runs in the background;
# SIGTERM (from cleanup) stops the current row's rwith too, and waits for it.
writer() {
	name=$1 rows=$2
	shift 2
	child=""
	trap 'if [ -n "$child" ]; then kill "$child" 2>/dev/null; wait "$child"; fi; exit 143' TERM
	i=0
	while [ "$i" -lt "$rows" ]; do
		"$@" "$APPEND" "$CSV" "$name" "$THINK" &
		child=$!
		wait "$child" || return
		child=""
		i=$((i + 1))
	done
}

# start_writers COUNT ROWS [PREFIX...]: starts writers w1..wCOUNT in the background, their
# output (none unless something goes wrong) going to $work/wN.log. Not to the terminal: rwith
# started at a terminal hands the terminal to its command, which would take Ctrl-C away from
# this script, and it would print "waiting for ..." lines.
start_writers() {
	count=$1
	shift
	n=1
	writer_pids=""
	while [ "$n" -le "$count" ]; do
		writer "w$n" "$@" >"$work/w$n.log" 2>&1 &
		writer_pids="$writer_pids $!"
		track $!
		n=$((n + 1))
	done
}

# wait_writers: waits for the writers of start_writers; fails unless they all exited 0.
wait_writers() {
	bad=0
	n=1
	for p in $writer_pids; do
		st=0
		wait "$p" || st=$?
		untrack "$p"
		if [ "$st" -ne 0 ]; then
			bad=$((bad + 1))
			echo "  writer w$n exited $st; its output:"
			sed 's/^/    /' "$work/w$n.log"
		fi
		n=$((n + 1))
	done
	[ "$bad" -eq 0 ] || fail "$bad writer(s) exited with a non-zero status"
}

# check_csv EXPECTED: is the file exactly the header plus ids 1..EXPECTED, in order, no duplicates?
# Prints a one-line verdict either way; returns 0 when consistent.
check_csv() {
	awk -F, -v want="$1" '
		NR == 1 { next }
		{ n++; if (seen[$1]++) dup++; if ($1 != n) order++ }
		END {
			for (i = 1; i <= want; i++) if (!(i in seen)) missing++
			if (n == want && !dup && !order && !missing) {
				printf "consistent: %d rows, ids 1..%d\n", n, want
				exit 0
			}
			printf "corrupted: %d rows instead of %d (%d lost), %d duplicate ids, %d of the ids 1..%d missing\n",
				n, want, want - n, dup, missing, want
			exit 1
		}' "$CSV"
}

# rows_by WRITER: how many rows WRITER wrote.
rows_by() {
	awk -F, -v w="$1" '$2 == w { n++ } END { print n + 0 }' "$CSV"
}

# fences_increase: in the file's order, every row's fence is larger than the previous row's.
fences_increase() {
	awk -F, 'NR > 1 { if ($3 + 0 <= prev) bad++; prev = $3 + 0 } END { exit bad > 0 }' "$CSV"
}

# holder_task: the task of the lock's current holder ("" when it is free).
holder_task() {
	"$RWITH" --status --json "$LOCK" | sed -n 's/.*"task":"\([^"]*\)".*/\1/p'
}

# pidfile_written FILE: the command has started (under the lock) and written its pid.
pidfile_written() {
	[ -s "$1" ]
}

# cmd_gone: the watched command ($cmd_pid) and every process of its group ($cmd_pgid) are gone.
cmd_gone() {
	! alive "$cmd_pid" && ! group_alive "$cmd_pgid"
}

# not_held_by TASK: the lock is free or held by someone else than TASK.
not_held_by() {
	[ "$(holder_task)" != "$1" ]
}

total=$((WRITERS * ROWS))
start_all=$(now_ms)

# === Scene 1: without rwith =====================================================================
# Four writers append at once with nothing to keep them apart. Each reads the last id, thinks for
# a moment, and writes: many read the same last id, so ids repeat, and a rename that replaces the
# file drops the rows the others wrote in between.

heading "Scene 1: $WRITERS writers x $ROWS rows, without rwith"
new_csv
t0=$(now_ms)
start_writers "$WRITERS" "$ROWS"
wait_writers
echo "  took $(($(now_ms) - t0)) ms"
if verdict=$(check_csv "$total"); then
	echo "  $verdict"
	fail "the race did not show this time (expected a corrupted file)"
else
	echo "  $verdict"
	dup=$(awk -F, 'NR > 1 && seen[$1]++ { print $1; exit }' "$CSV")
	if [ -n "$dup" ]; then
		echo "  for example, id $dup was written by: $(awk -F, -v id="$dup" '$1 == id { printf "%s%s", sep, $2; sep = ", " }' "$CSV")"
	fi
	echo "  => expected: concurrent read-modify-writes lose updates."
fi

# === Scene 2: with rwith ========================================================================
# The same writers, but every row is appended under `rwith csv -- append_row ...`: one row at a
# time, in whatever order the writers arrive (they interleave), each with a fence (RWITH_FENCE)
# larger than the previous row's.

heading "Scene 2: $WRITERS writers x $ROWS rows, each row under 'rwith $LOCK --'"
new_csv
t0=$(now_ms)
start_writers "$WRITERS" "$ROWS" "$RWITH" "$LOCK" --
wait_writers
echo "  took $(($(now_ms) - t0)) ms"
if verdict=$(check_csv "$total"); then
	echo "  $verdict"
else
	echo "  $verdict"
	fail "the file is corrupted although every row was written under the lock"
fi
by=""
n=1
while [ "$n" -le "$WRITERS" ]; do
	by="$by w$n=$(rows_by "w$n")"
	n=$((n + 1))
done
echo "  rows per writer:$by"
echo "  first rows (writers interleave): $(sed -n '2,9p' "$CSV" | cut -d, -f2 | paste -sd ' ' -)"
if fences_increase; then
	echo "  fences increase row by row: $(sed -n '2p' "$CSV" | cut -d, -f3) .. $(tail -n 1 "$CSV" | cut -d, -f3)"
else
	fail "the fences do not increase row by row"
fi

# === Scene 3: a writer crashes =================================================================
# Writer 'crash' takes the lock with a short TTL (2s), reads the last id and "thinks" for a
# minute; meanwhile three writers queue for the lock. Its rwith is killed with SIGKILL (no
# chance to release the lock or to stop its command itself). rwith's guard process, the leader of
# the command's process group, gets a parent-death signal and SIGKILLs the whole group, so the
# command dies at once, before it wrote anything. The lock stays on the server until its TTL
# runs out (nobody released it); then the first waiter gets it and the others follow.

heading "Scene 3: a writer crashes while holding the lock (--ttl 2s)"
new_csv
echo "1,w0,-" >>"$CSV"   # one row from before
pidfile="$work/crash.pid"
ROW_PIDFILE=$pidfile "$RWITH" -t 2s -T "writer crash" "$LOCK" -- "$APPEND" "$CSV" crash 60 \
	>"$work/crash.log" 2>&1 &
crash_rwith=$!
track "$crash_rwith"
wait_for 5 pidfile_written "$pidfile" || die "the crashing writer's command did not start"
read -r cmd_pid cmd_pgid <"$pidfile"
echo "  writer 'crash' holds the lock: rwith pid $crash_rwith, its command pid $cmd_pid (process group $cmd_pgid)"
own_pgid=$(ps -o pgid= -p $$ | tr -d ' ')
[ "$cmd_pgid" != "$own_pgid" ] || fail "the command does not run in a process group of its own"
ROWS3=3
start_writers 3 "$ROWS3" "$RWITH" "$LOCK" --
sleep 0.3
echo "  rwith --status $LOCK:"
"$RWITH" --status "$LOCK" | sed 's/^/    /'

kill -KILL "$crash_rwith"
t_kill=$(now_ms)
st=0
wait "$crash_rwith" || st=$?
untrack "$crash_rwith"
echo "  kill -KILL $crash_rwith (writer 'crash' rwith): it exited with status $st"
if wait_for 2 cmd_gone; then
	echo "  its command (pid $cmd_pid) and its process group were gone $(($(now_ms) - t_kill)) ms later, before writing its row"
else
	fail "the command (pid $cmd_pid) of the killed rwith is still running"
	if [ "$cmd_pgid" != "$own_pgid" ]; then
		kill -KILL "-$cmd_pgid" 2>/dev/null || :
	else
		kill -KILL "$cmd_pid" 2>/dev/null || :
	fi
fi
task=$(holder_task)
if [ "$task" = "writer crash" ]; then
	echo "  the lock is still held by the dead writer (nobody released it): $("$RWITH" --status --json "$LOCK" | sed -n 's/.*"ttl_ms":\([0-9]*\).*/\1/p') ms of TTL left"
else
	echo "  (the lock is no longer held by the dead writer: held by '${task:-nobody}')"
fi
if wait_for 5 not_held_by "writer crash"; then
	echo "  the lock freed itself $(($(now_ms) - t_kill)) ms after the kill (TTL 2s, counted from the last heartbeat); the waiters carried on"
else
	fail "the dead writer's lock did not expire within 5 s"
fi
wait_writers
expect3=$((1 + 3 * ROWS3))
if verdict=$(check_csv "$expect3"); then
	echo "  $verdict"
else
	echo "  $verdict"
	fail "the file is corrupted after the crash"
fi
if grep -q ',crash,' "$CSV"; then
	fail "the killed writer's row is in the file"
else
	echo "  no row from writer 'crash': it was killed while thinking; a row is renamed into place whole or not at all"
fi

# === Scene 4: a writer stalls ==================================================================
# Writer 'stall' takes the lock (TTL 2s) and hangs. Its rwith is alive, so the heartbeat keeps
# extending the lock: it is held well past its TTL. Impatient writers (`-w 2s`) give up after
# two seconds with one line on stderr starting with "rwith: " and exit status 1 (or the -E N
# they asked for). Patient writers (no -w) queue; when the stalled writer is stopped (SIGTERM to
# its rwith: passed on to the command; the lock is released once the command has exited), they
# go on. (From another host, `rwith --break LOCK` would evict it instead.)

heading "Scene 4: a writer stalls while holding the lock (--ttl 2s)"
new_csv
pidfile="$work/stall.pid"
ROW_PIDFILE=$pidfile "$RWITH" -t 2s -T "writer stall" "$LOCK" -- "$APPEND" "$CSV" stall 600 \
	>"$work/stall.log" 2>&1 &
stall_rwith=$!
track "$stall_rwith"
wait_for 5 pidfile_written "$pidfile" || die "the stalling writer's command did not start"
read -r cmd_pid cmd_pgid <"$pidfile"
t_stall=$(now_ms)
echo "  writer 'stall' holds the lock: rwith pid $stall_rwith, its command pid $cmd_pid hangs"

st1=0
st2=0
"$RWITH" -w 2s "$LOCK" -- "$APPEND" "$CSV" impatient1 "$THINK" >/dev/null 2>"$work/impatient1.err" &
p1=$!
"$RWITH" -w 2s -E 3 "$LOCK" -- "$APPEND" "$CSV" impatient2 "$THINK" >/dev/null 2>"$work/impatient2.err" &
p2=$!
track "$p1"
track "$p2"
wait "$p1" || st1=$?
wait "$p2" || st2=$?
untrack "$p1"
untrack "$p2"
echo "  rwith -w 2s $LOCK -- ...       exited $st1, stderr:"
sed 's/^/    /' "$work/impatient1.err"
echo "  rwith -w 2s -E 3 $LOCK -- ...  exited $st2, stderr:"
sed 's/^/    /' "$work/impatient2.err"
[ "$st1" -eq 1 ] || fail "rwith -w 2s exited $st1, expected 1"
[ "$st2" -eq 3 ] || fail "rwith -w 2s -E 3 exited $st2, expected 3"
for f in impatient1 impatient2; do
	if [ "$(wc -l <"$work/$f.err")" -ne 1 ] || ! grep -q '^rwith: ' "$work/$f.err"; then
		fail "$f: expected exactly one stderr line starting with 'rwith: '"
	fi
done
if [ "$(holder_task)" = "writer stall" ] && alive "$cmd_pid"; then
	ttl_left=$("$RWITH" --status --json "$LOCK" | sed -n 's/.*"ttl_ms":\([0-9]*\).*/\1/p')
	echo "  $(($(now_ms) - t_stall)) ms later writer 'stall' still holds the lock, $ttl_left ms of its 2s TTL left: the heartbeat extends it"
else
	fail "the stalled writer lost its lock although its rwith is alive"
fi

ROWS4=3
start_writers 3 "$ROWS4" "$RWITH" "$LOCK" --
sleep 0.3
if [ "$(tail -n +2 "$CSV" | wc -l)" -eq 0 ]; then
	echo "  three patient writers (no -w) wait for the lock: $("$RWITH" --status --json "$LOCK" | sed -n 's/.*"waiters":\([0-9]*\).*/\1/p') waiting, nothing written yet"
else
	fail "rows were written while the stalled writer held the lock"
fi
kill -TERM "$stall_rwith"
t_stop=$(now_ms)
st=0
wait "$stall_rwith" || st=$?
untrack "$stall_rwith"
echo "  kill -TERM $stall_rwith (writer 'stall' rwith): it passed SIGTERM on to the command and exited $st (128+15: the command died of SIGTERM)"
[ "$st" -eq 143 ] || fail "the stalled writer's rwith exited $st, expected 143"
if [ -s "$work/stall.log" ]; then
	echo "  its output:"
	sed 's/^/    /' "$work/stall.log"
fi
if ! wait_for 2 cmd_gone; then
	fail "the stalled command (pid $cmd_pid) is still running"
fi
wait_writers
echo "  the patient writers finished $(($(now_ms) - t_stop)) ms after the stop"
if verdict=$(check_csv $((3 * ROWS4))); then
	echo "  $verdict"
else
	echo "  $verdict"
	fail "the file is corrupted after the stall"
fi
if grep -q -e ',stall,' -e ',impatient' "$CSV"; then
	fail "a row from the stalled or an impatient writer is in the file"
else
	echo "  no rows from 'stall' (stopped before writing) or the impatient writers (never got the lock)"
fi

# --- summary ------------------------------------------------------------------------------------

echo
if [ "$failures" -eq 0 ]; then
	echo "All scenes behaved as expected ($(($(now_ms) - start_all)) ms)."
else
	echo "$me: $failures check(s) failed." >&2
	exit 1
fi
