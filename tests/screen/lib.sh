# lib.sh - helpers for the tmux-driven screen tests (sourced, not run).
#
# Each test gets its own socket directory, its own demo service (or tests/host) and its own
# tmux server (tmux -L sonde-test-PID), and cleans up only what it started: the demo by the pid
# it recorded, the tmux server by its private socket name. The screen is read the way a user
# reads it: `tmux capture-pane -p`.
#
# Output is TAP: ok/not ok lines counted by `check`; `finish` prints the plan.

set -u

top_builddir=${top_builddir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
SONDE=$top_builddir/tui/sonde
DEMO=$top_builddir/examples/sonde-demo
HOST=$top_builddir/tests/host
TMUX_NAME=sonde-test-$$
T="tmux -L $TMUX_NAME"
WORK=
DEMO_PID=
EXTRA_PIDS=   # other processes a test started (killed by cleanup)
DEMO_NAME=screen-demo-$$
TUI_ENV=      # assignments start_tui puts before the program (they win over its own)
TESTS_RUN=0
TESTS_FAILED=0

# skip_all REASON: TAP for "nothing to test here", exit 0 (so `make check` counts a skip).
skip_all() {
	echo "1..0 # SKIP $1"
	exit 0
}

# screen_requirements [host]: nothing to drive without tmux, the program or the demo (jemalloc
# is optional at configure); with host, the test drives tests/host instead of the demo.
screen_requirements() {
	command -v tmux >/dev/null 2>&1 || skip_all "tmux is not installed"
	[ -x "$SONDE" ] || skip_all "$SONDE is not built"
	if [ "${1:-}" = host ]; then
		[ -x "$HOST" ] || skip_all "$HOST is not built"
	else
		[ -x "$DEMO" ] || skip_all "$DEMO is not built (needs jemalloc at configure time)"
	fi
}

cleanup() {
	$T kill-server >/dev/null 2>&1
	for p in $EXTRA_PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ -n "$DEMO_PID" ]; then
		kill "$DEMO_PID" 2>/dev/null
		wait "$DEMO_PID" 2>/dev/null
	fi
	[ -n "$WORK" ] && rm -rf "$WORK"
}

# setup [host]: a private socket directory (0700, as the agent demands) and the cleanup trap;
# host as for screen_requirements.
setup() {
	screen_requirements "$@"
	WORK=$(mktemp -d /tmp/sonde-screen.XXXXXX) || exit 1
	chmod 700 "$WORK"
	mkdir -m 700 "$WORK/sock"
	export SONDE_DIR=$WORK/sock
	trap cleanup EXIT
	trap 'exit 1' INT TERM
}

# start_demo [ARGS...]: run the demo in the background; its stdout (the story lines) goes to
# $WORK/demo.out. Waits until its socket answers.
start_demo() {
	"$DEMO" --name "$DEMO_NAME" "$@" >"$WORK/demo.out" 2>"$WORK/demo.err" &
	DEMO_PID=$!
	for _ in $(seq 100); do
		[ -S "$SONDE_DIR/$DEMO_PID.sock" ] && grep -q '^story crash' "$WORK/demo.out" && return 0
		sleep 0.1
	done
	echo "# the demo did not start: $(cat "$WORK/demo.err")"
	return 1
}

# stop_demo: kill the demo we started and wait for it.
stop_demo() {
	[ -n "$DEMO_PID" ] || return 0
	kill "$DEMO_PID" 2>/dev/null
	wait "$DEMO_PID" 2>/dev/null
	DEMO_PID=
}

# story KIND FIELD: a field (task or name) of the demo's `story KIND task=ID name=NAME` line.
story() {
	case $2 in
	task) sed -n "s/^story $1 task=\([0-9]*\) .*/\1/p" "$WORK/demo.out" | head -1 ;;
	name) sed -n "s/^story $1 task=[0-9]* name=\(.*\)$/\1/p" "$WORK/demo.out" | head -1 |
		sed 's/ supervisor=[0-9]*$//' ;;
	esac
}

# start_tui COLS ROWS [SONDE ARGS...]: the TUI in a fresh tmux server of ours; with TUI_ENV set
# ("NO_COLOR=1 LC_ALL=C"...), the program runs under `env $TUI_ENV`.
start_tui() {
	cols=$1 rows=$2
	shift 2
	$T -f /dev/null new-session -d -x "$cols" -y "$rows" \
		-e SONDE_DIR="$SONDE_DIR" -e LANG=C.UTF-8 -e LC_ALL=C.UTF-8 \
		-e NCURSES_NO_UTF8_ACS=1 -e TERM=xterm-256color \
		"${TUI_ENV:+env $TUI_ENV }$SONDE $*; echo sonde-exited-\$?; sleep 600"
	$T set-option -g status off >/dev/null
	$T resize-window -x "$cols" -y "$rows" >/dev/null 2>&1
}

# next_server: kill our tmux server and use a fresh one (its own name) from now on, for a test
# that starts the TUI more than once: a new server on the old name races with the old one's exit.
next_server() {
	$T kill-server >/dev/null 2>&1
	servers=$((${servers:-0} + 1))
	T="tmux -L $TMUX_NAME-$servers"
}

# screen: what the terminal shows now.
screen() {
	$T capture-pane -p
}

# row N: line N (0 = the header) of the screen.
row() {
	screen | sed -n "$(($1 + 1))p"
}

# keys KEY...: send keys as tmux names them (Enter, Escape, Up, F1...) or literally.
keys() {
	$T send-keys "$@"
}

# type TEXT: send text literally (no key-name lookup).
type_text() {
	$T send-keys -l "$1"
}

# mouse BUTTON X Y: an X10 mouse report (what ncurses reads from xterm-256color) for a cell
# (0-based): BUTTON 0 = left press, 3 = release, 64/65 = wheel up/down.
mouse() {
	b=$(printf "\\$(printf %03o $((32 + $1)))")
	x=$(printf "\\$(printf %03o $((33 + $2)))")
	y=$(printf "\\$(printf %03o $((33 + $3)))")
	$T send-keys -l "$(printf '\033[M')$b$x$y"
}

# click X Y: press and release the left button on a cell.
click() {
	mouse 0 "$1" "$2"
	mouse 3 "$1" "$2"
}

# column_of ROW TEXT: the 0-based screen column where TEXT starts in row ROW (-1 if absent).
column_of() {
	row "$1" | awk -v t="$2" '{ print index($0, t) - 1 }'
}

# wait_screen SECONDS PATTERN: until the screen matches the grep -E pattern; 0 or 1.
wait_screen() {
	deadline=$(($(date +%s%N) + $1 * 1000000000))
	while [ "$(date +%s%N)" -lt "$deadline" ]; do
		screen | grep -Eq -- "$2" && return 0
		sleep 0.2
	done
	return 1
}

# wait_until SECONDS COMMAND...: until the command succeeds; 0 or 1.
wait_until() {
	deadline=$(($(date +%s%N) + $1 * 1000000000))
	shift
	while [ "$(date +%s%N)" -lt "$deadline" ]; do
		"$@" && return 0
		sleep 0.2
	done
	return 1
}

# wait_row SECONDS N PATTERN: until row N matches.
wait_row() {
	deadline=$(($(date +%s%N) + $1 * 1000000000))
	while [ "$(date +%s%N)" -lt "$deadline" ]; do
		row "$2" | grep -Eq -- "$3" && return 0
		sleep 0.2
	done
	return 1
}

# search TEXT: on the Tasks tab, / TEXT Enter, then wait (up to 20 s) until the search has
# finished: the summary line says "searching ... at row N" while the agent pages through the
# tasks, which on a loaded machine or at a million tasks takes longer than any fixed pause.
not_searching() { ! row 2 | grep -q 'searching "'; }
search() {
	keys /
	type_text "$1"
	keys Enter
	sleep 0.3
	wait_until 20 not_searching
}

# check DESCRIPTION COMMAND...: one TAP line; on failure the screen goes to the log.
check() {
	desc=$1
	shift
	TESTS_RUN=$((TESTS_RUN + 1))
	if "$@"; then
		echo "ok $TESTS_RUN - $desc"
	else
		case $desc in
		*"# TODO"*) ;; # a known failure, reported as such (XFAIL), not a failed run
		*) TESTS_FAILED=$((TESTS_FAILED + 1)) ;;
		esac
		echo "not ok $TESTS_RUN - $desc"
		screen | sed 's/^/#   | /'
	fi
}

# skip REASON: one TAP line for a check this machine cannot make (a skip, not a failure).
skip() {
	TESTS_RUN=$((TESTS_RUN + 1))
	echo "ok $TESTS_RUN # SKIP $1"
}

# finish: the plan (at the end: the number of checks is only known then) and the status.
finish() {
	echo "1..$TESTS_RUN"
	[ "$TESTS_FAILED" -eq 0 ]
}
