#!/bin/sh
# test_cli.sh - `sonde list`, `sonde query` and `sonde run` as an operator uses them: what they
# print, their exit codes (0 ok, 1 agent error, 2 usage, 3 no agent) and the messages that name
# the fix. Speaks TAP. Every agent lives in a private SONDE_DIR; every process started here is
# recorded by pid and killed by pid at the end.
#
#   top_builddir=/path/to/build top_srcdir=/path/to/src sh tests/test_cli.sh

top_builddir=${top_builddir:-.}
SONDE="$top_builddir/tui/sonde"
LIBSONDE="$top_builddir/probes/.libs/libsonde.so"

SCRATCH=$(mktemp -d /tmp/sonde-test-cli-XXXXXX) || exit 1
SONDE_DIR="$SCRATCH/sock"
mkdir -m 700 "$SONDE_DIR"
export SONDE_DIR
unset SONDE_DISABLE SONDE_NAME XDG_RUNTIME_DIR
OUT="$SCRATCH/out"
ERR="$SCRATCH/err"
PIDS=""

# An ASan build of libsonde.so preloaded into an uninstrumented program cannot come first in the
# library list; tell the ASan runtime that this is intended, and not to report the program's leaks.
ASAN_BUILD=""
if ldd "$LIBSONDE" 2>/dev/null | grep -q libasan; then
	ASAN_BUILD=yes
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:detect_leaks=0"   # last wins
	export ASAN_OPTIONS
fi

cleanup() {
	for p in $PIDS; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

N=0
FAILED=0
ok() { N=$((N + 1)); echo "ok $N - $1"; }
not_ok() {
	N=$((N + 1)); FAILED=$((FAILED + 1)); echo "not ok $N - $1"
	shift
	for line in "$@"; do echo "# $line"; done
	[ -s "$OUT" ] && sed 's/^/#   stdout: /' "$OUT" | head -20
	[ -s "$ERR" ] && sed 's/^/#   stderr: /' "$ERR" | head -20
	return 0
}
skip() { N=$((N + 1)); echo "ok $N - $1 # SKIP $2"; }

# check DESCRIPTION WANT_STATUS COMMAND...: run it, stdout/stderr to $OUT/$ERR.
check() {
	desc=$1; want=$2; shift 2
	"$@" >"$OUT" 2>"$ERR"
	got=$?
	if [ "$got" -eq "$want" ]; then ok "$desc"; return 0; fi
	not_ok "$desc" "exit status $got, want $want: $*"
	return 1
}

# has FILE TEXT DESCRIPTION: FILE contains TEXT (fixed string).
has() {
	if grep -qF -- "$2" "$1"; then ok "$3"; else not_ok "$3" "$(basename "$1") lacks \"$2\""; fi
}

# wait_socket PID: until $SONDE_DIR/PID.sock exists (10 s at most: a loaded CI machine).
wait_socket() {
	i=0
	while [ ! -S "$SONDE_DIR/$1.sock" ] && [ $i -lt 100 ]; do
		sleep 0.1; i=$((i + 1))
	done
	[ -S "$SONDE_DIR/$1.sock" ]
}

echo "1..68"

# ---- basics -------------------------------------------------------------------------------------

check "sonde --version exits 0" 0 "$SONDE" --version
has "$OUT" "sonde 0.1.0" "--version names the version"
check "sonde --help exits 0" 0 "$SONDE" --help
has "$OUT" "exit status: 0 ok, 1 the agent answered an error, 2 usage, 3 no agent reachable" \
	"--help states the exit codes"

check "sonde list with no agent exits 0" 0 "$SONDE" list
has "$ERR" "no live agents for uid $(id -u) (socket directory $SONDE_DIR)" \
	"sonde list says there is none and where it looked"

# ---- sonde run: the program under sonde is found by sonde list --------------------------------

"$SONDE" run --name cli-svc -- sleep 30 >"$SCRATCH/svc.out" 2>"$SCRATCH/svc.err" &
SVC=$!
PIDS="$PIDS $SVC"
if wait_socket "$SVC"; then ok "sonde run -- sleep 30: the agent's socket appears as PID.sock"
else not_ok "sonde run -- sleep 30: the agent's socket appears as PID.sock" \
	"no $SONDE_DIR/$SVC.sock after 10 s; sonde run stderr: $(cat "$SCRATCH/svc.err")"; fi
if [ "$(cat "/proc/$SVC/comm" 2>/dev/null)" = sleep ]; then ok "sonde run execs: the pid is sleep's"
else not_ok "sonde run execs: the pid is sleep's" "comm of $SVC is $(cat /proc/$SVC/comm)"; fi

check "sonde list exits 0" 0 "$SONDE" list
if grep -Eq "^ *$SVC +cli-svc +" "$OUT"; then ok "sonde list shows the name and pid of sleep"
else not_ok "sonde list shows the name and pid of sleep" "no row for pid $SVC named cli-svc"; fi
check "sonde list --json exits 0" 0 "$SONDE" list --json
if grep -q "\"pid\": $SVC," "$OUT" && grep -q '"name": "cli-svc"' "$OUT" &&
   grep -q "\"socket\": \"$SONDE_DIR/$SVC.sock\"" "$OUT"; then
	ok "sonde list --json has pid, name and socket"
else not_ok "sonde list --json has pid, name and socket"; fi

# The program's own view is untouched: no LD_PRELOAD or SONDE_RUN left in its environment,
# stdin and stdout are its own.
check "sonde run leaves no trace in the program's environment" 0 \
	"$SONDE" run -- sh -c 'echo "[${LD_PRELOAD-unset}][${SONDE_RUN-unset}][${SONDE_RUN_NAME-unset}]"'
has "$OUT" "[unset][unset][unset]" "LD_PRELOAD, SONDE_RUN, SONDE_RUN_NAME are gone"
# A user's own LD_PRELOAD is kept for the program; only libsonde's entry is removed. (An ASan
# build of sonde itself cannot start with a library preloaded ahead of the ASan runtime.)
if [ -n "$ASAN_BUILD" ]; then
	skip "the user's LD_PRELOAD reaches the program intact" "sonde is built with ASan"
else
	LD_PRELOAD=libm.so.6 "$SONDE" run -- sh -c 'echo "[$LD_PRELOAD]"' >"$OUT" 2>"$ERR"
	if [ "$(cat "$OUT")" = "[libm.so.6]" ]; then ok "the user's LD_PRELOAD reaches the program intact"
	else not_ok "the user's LD_PRELOAD reaches the program intact"; fi
fi
echo "through stdin" | "$SONDE" run -- cat >"$OUT" 2>"$ERR"
if [ "$(cat "$OUT")" = "through stdin" ]; then ok "stdin and stdout pass through sonde run"
else not_ok "stdin and stdout pass through sonde run"; fi

# ---- sonde query: exit codes and messages ------------------------------------------------------

check "query -p PID ping exits 0" 0 "$SONDE" query -p "$SVC" ping
has "$OUT" "pong" "query prints the result"
check "query --json exits 0" 0 "$SONDE" query -p "$SVC" --json ping data=hello
if grep -q '"pong": true' "$OUT" && grep -q '"data": "hello"' "$OUT"; then
	ok "query --json prints the raw result with the KEY=VALUE argument echoed"
else not_ok "query --json prints the raw result with the KEY=VALUE argument echoed"; fi
check "query -s PATH exits 0" 0 "$SONDE" query -s "$SONDE_DIR/$SVC.sock" ping
check "query with the only live agent needs no -p" 0 "$SONDE" query ping

# The agent inside sleep answers about sleep: system names its pid and name, threads shows its
# two threads (sleep's main thread and the agent's).
check "query --json system on the sonde run program exits 0" 0 "$SONDE" query -p \
	"$SVC" --json system
if grep -q "\"pid\": $SVC," "$OUT" && grep -q '"name": "cli-svc"' "$OUT" &&
   grep -q '"rss_bytes": [1-9]' "$OUT"; then
	ok "system reports sleep's pid, the --name and a non-zero rss_bytes"
else not_ok "system reports sleep's pid, the --name and a non-zero rss_bytes"; fi
check "query --json threads exits 0" 0 "$SONDE" query -p "$SVC" --json threads
tids=$(grep -c '"tid": ' "$OUT")
if [ "$tids" -eq "$(ls /proc/$SVC/task | wc -l)" ] && [ "$tids" -eq 2 ] &&
   grep -q "\"tid\": $SVC," "$OUT"; then
	ok "threads lists sleep's main thread and the agent's thread (2, as /proc/PID/task)"
else not_ok "threads lists sleep's main thread and the agent's thread (2, as /proc/PID/task)" \
	"$tids rows"; fi
check "query system without --json exits 0" 0 "$SONDE" query -p "$SVC" system
if grep -Eq '^ *rss_bytes +[0-9.]+ (B|KiB|MiB)$' "$OUT"; then ok "the readable form gives units"
else not_ok "the readable form gives units" "no 'rss_bytes  N KiB' line"; fi

check "unknown command exits 1 (agent error)" 1 "$SONDE" query -p "$SVC" frobnicate
has "$ERR" "unknown_command: unknown command \"frobnicate\"; this agent knows: ping, help" \
	"unknown command: the message lists the known commands"
check "unknown argument exits 1" 1 "$SONDE" query -p "$SVC" ping colour=blue
has "$ERR" "unknown argument \"colour\"; accepted: data" \
	"unknown argument: the message lists the accepted ones"
check "wrong argument type exits 1" 1 "$SONDE" query -p "$SVC" ping data=5
has "$ERR" "argument \"data\" must be a string, not an integer" \
	"wrong type: the message says what is wanted"

check "query without a command exits 2 (usage)" 2 "$SONDE" query -p "$SVC"
has "$ERR" "try \`sonde query help\`" "no command: the message suggests help"
check "query with an unknown option exits 2" 2 "$SONDE" query --bogus ping
check "query -p with a non-number exits 2" 2 "$SONDE" query -p twelve ping
check "query with an argument that is not KEY=VALUE exits 2" 2 "$SONDE" query -p "$SVC" ping data
has "$ERR" "is not KEY=VALUE" "bad argument form: the message says KEY=VALUE"

sleep 30 </dev/null >/dev/null 2>&1 &
PLAIN=$!
PIDS="$PIDS $PLAIN"
check "query -p of a process without an agent exits 3" 3 "$SONDE" query -p "$PLAIN" ping
has "$ERR" "no agent for pid $PLAIN" "no agent: the message names the pid"
has "$ERR" "is it linked with libsonde or started with \`sonde run\`" \
	"no agent: the message names the fix"
check "query -s of a missing socket exits 3" 3 "$SONDE" query -s "$SCRATCH/none.sock" ping

# ---- stale sockets ------------------------------------------------------------------------------

# A crashed agent's leftover: a socket file whose process is gone. socat binds it; SIGKILL leaves
# it.
if command -v socat >/dev/null 2>&1; then
	socat "UNIX-LISTEN:$SONDE_DIR/999999.sock" /dev/null >/dev/null 2>&1 &
	S=$!
	i=0; while [ ! -S "$SONDE_DIR/999999.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -KILL $S; wait $S 2>/dev/null
	mv "$SONDE_DIR/999999.sock" "$SONDE_DIR/$S.sock"
	"$SONDE" list >"$OUT" 2>"$ERR"
	if [ -S "$SONDE_DIR/$S.sock" ] && ! grep -Eq "^ *$S " "$OUT"; then
		ok "sonde list does not show the socket of a dead pid"
	else not_ok "sonde list does not show the socket of a dead pid"; fi
	check "query -s of a socket nobody listens on exits 3" 3 "$SONDE" query -s \
		"$SONDE_DIR/$S.sock" ping
	has "$ERR" "nothing listens on $SONDE_DIR/$S.sock" \
		"a dead socket: the message says nothing listens"
	"$SONDE" run -- sleep 30 >/dev/null 2>&1 &
	NEW=$!
	PIDS="$PIDS $NEW"
	wait_socket "$NEW"
	if [ ! -e "$SONDE_DIR/$S.sock" ]; then ok "a starting agent removes the dead pid's socket"
	else not_ok "a starting agent removes the dead pid's socket"; fi
	kill -TERM $NEW; wait $NEW 2>/dev/null
else
	skip "sonde list does not show the socket of a dead pid" "socat not installed"
	skip "query -s of a socket nobody listens on exits 3" "socat not installed"
	skip "a dead socket: the message says nothing listens" "socat not installed"
	skip "a starting agent removes the dead pid's socket" "socat not installed"
fi

# ---- sonde run: exit status, signals, what cannot be observed ----------------------------------

check "sonde run -- sh -c 'exit 7' exits 7" 7 "$SONDE" run -- sh -c 'exit 7'
sh -c 'kill -TERM $$' >/dev/null 2>&1
plain=$?
"$SONDE" run -- sh -c 'kill -TERM $$' >/dev/null 2>&1
under=$?
if [ "$under" -eq "$plain" ] && [ "$under" -eq 143 ]; then
	ok "a program killed by SIGTERM dies the same way under sonde run (status $under)"
else not_ok "a program killed by SIGTERM dies the same way under sonde run" "$under vs $plain"; fi
kill -TERM "$SVC"
wait "$SVC" 2>/dev/null
st=$?
if [ "$st" -eq 143 ]; then
	ok "SIGTERM from outside ends sleep under sonde run as without it (143)"
else not_ok "SIGTERM from outside ends sleep under sonde run as without it (143)" "status $st"; fi
# Killed by a signal, it could not remove its socket; sonde list must not show it.
"$SONDE" list >"$OUT" 2>"$ERR"
if ! grep -Eq "^ *$SVC " "$OUT"; then ok "sonde list forgets the killed program"
else not_ok "sonde list forgets the killed program"; fi

# A normal exit() removes the socket (a program that leaves by _exit(), as dash does, cannot
# run the agent's atexit handler: its socket stays until the next agent sweeps it).
"$SONDE" run -- sleep 0.5 >"$OUT" 2>"$ERR" &
P=$!
PIDS="$PIDS $P"
wait_socket "$P"
seen=$?
wait $P
if [ $seen -eq 0 ] && [ ! -e "$SONDE_DIR/$P.sock" ]; then
	ok "the socket is there while the program runs and removed when it exits"
else not_ok "the socket is there while the program runs and removed when it exits" "seen $seen"; fi

check "sonde run without a program exits 2" 2 "$SONDE" run --name x
has "$ERR" "usage: sonde run" "sonde run without a program prints the usage"
check "sonde run with an unknown option exits 2" 2 "$SONDE" run --bogus -- true
check "sonde run of a missing program exits 127" 127 "$SONDE" run -- /nonexistent/program

if printf 'int main(void){return 0;}\n' >"$SCRATCH/static.c" &&
   ${CC:-cc} -static -o "$SCRATCH/static" "$SCRATCH/static.c" >/dev/null 2>&1; then
	check "sonde run of a statically linked program exits 2" 2 "$SONDE" run -- "$SCRATCH/static"
	has "$ERR" "it is statically linked, so nothing can be preloaded into it" \
		"the static program gets the clear message"
else
	skip "sonde run of a statically linked program exits 2" "cannot link with -static (no libc.a)"
	skip "the static program gets the clear message" "cannot link with -static (no libc.a)"
fi

# An unsafe directory: the agent refuses to start and says how to fix it; the program still runs.
mkdir -m 755 "$SCRATCH/open"
chmod 755 "$SCRATCH/open"
SONDE_DIR="$SCRATCH/open" "$SONDE" run -- sh -c 'echo still running' >"$OUT" 2>"$ERR"
st=$?
if [ $st -eq 0 ] && grep -q "still running" "$OUT" &&
   grep -q "unsafe socket directory $SCRATCH/open: mode 755" "$ERR" &&
      grep -q "chmod 700" "$ERR"; then
	ok "unsafe SONDE_DIR: the program runs, stderr names the fix"
else not_ok "unsafe SONDE_DIR: the program runs, stderr names the fix" "status $st"; fi

SONDE_DIR="$SCRATCH/open" "$SONDE" list >"$OUT" 2>"$ERR"
st=$?
if [ $st -eq 3 ] && grep -q "unsafe socket directory $SCRATCH/open" "$ERR" &&
   grep -q "chmod 700" "$ERR"; then
	ok "sonde list refuses an unsafe directory (exit 3) and names the fix"
else not_ok "sonde list refuses an unsafe directory (exit 3) and names the fix" "status $st"; fi

SONDE_DISABLE=1 "$SONDE" run -- sh -c 'echo $$; sleep 0.5' >"$OUT" 2>"$ERR" &
D=$!
PIDS="$PIDS $D"
sleep 0.3
if [ ! -e "$SONDE_DIR/$D.sock" ]; then ok "SONDE_DISABLE=1: no socket"
else not_ok "SONDE_DISABLE=1: no socket"; fi
wait $D

# ---- another user --------------------------------------------------------------------------------

NOBODY_TESTS="nobody querying root's agent: exit 3, permission denied
the refusal names the fix
nobody with -p PID: exit 3, says permission denied (not 'no agent')
root's agent still answers root
sonde run of a setuid program (as nobody) exits 2
the setuid program gets the clear message"
why_not=""
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
	why_not="needs root, setpriv and a nobody user"
else
	AS_NOBODY="setpriv --reuid=nobody --regid=$(id -gn nobody) --clear-groups"
	# A build tree under a private home directory is out of nobody's reach.
	$AS_NOBODY "$SONDE" --version >/dev/null 2>&1 || why_not="nobody cannot run $SONDE"
fi
if [ -z "$why_not" ]; then
	"$SONDE" run -- sleep 30 >/dev/null 2>&1 &
	ROOTSVC=$!
	PIDS="$PIDS $ROOTSVC"
	wait_socket "$ROOTSVC"
	$AS_NOBODY "$SONDE" query -s "$SONDE_DIR/$ROOTSVC.sock" ping >"$OUT" 2>"$ERR"
	st=$?
	if [ $st -eq 3 ] && grep -q "Permission denied\|permission denied" "$ERR"; then
		ok "nobody querying root's agent: exit 3, permission denied"
	else not_ok "nobody querying root's agent: exit 3, permission denied" "status $st"; fi
	has "$ERR" "run sonde as the agent's user" "the refusal names the fix"
	$AS_NOBODY "$SONDE" query -p "$ROOTSVC" ping >"$OUT" 2>"$ERR"
	st=$?
	if [ $st -eq 3 ] && grep -q "ermission denied" "$ERR"; then
		ok "nobody with -p PID: exit 3, says permission denied (not 'no agent')"
	else not_ok "nobody with -p PID: exit 3, says permission denied (not 'no agent')" \
		"status $st"; fi
	check "root's agent still answers root" 0 "$SONDE" query -p "$ROOTSVC" ping
	kill -TERM $ROOTSVC; wait $ROOTSVC 2>/dev/null
	# For nobody, a setuid-root program cannot be preloaded: sonde says so instead of running it
	# unobserved (it refuses before exec, so the program never runs here).
	SUID=$(find /usr/bin /bin -maxdepth 1 -perm -4000 -user root -type f 2>/dev/null | head -1)
	if [ -n "$SUID" ]; then
		timeout 10 $AS_NOBODY "$SONDE" run -- "$SUID" </dev/null >"$OUT" 2>"$ERR"
		check_status=$?
		if [ $check_status -eq 2 ]; then ok "sonde run of a setuid program (as nobody) exits 2"
		else not_ok "sonde run of a setuid program (as nobody) exits 2" "$SUID: $check_status"; fi
		has "$ERR" "it is setuid/setgid, and the loader ignores LD_PRELOAD" \
			"the setuid program gets the clear message"
	else
		skip "sonde run of a setuid program (as nobody) exits 2" "no setuid-root program found"
		skip "the setuid program gets the clear message" "no setuid-root program found"
	fi
else
	echo "$NOBODY_TESTS" | while IFS= read -r t; do
		skip "$t" "$why_not"
	done
	N=$((N + 6))
fi

[ "$N" -eq 68 ] || { echo "not ok $((N + 1)) - the plan: 68 tests planned, $N ran"; exit 1; }
[ $FAILED -eq 0 ]
