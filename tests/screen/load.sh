#!/bin/sh
# load.sh - the sampler history and the Load tab against the real demo (issue 6), TAP.
#   - the demo runs a while (200 ms interval) before anyone attaches; `history` then already holds
#     those samples, the leak shows as accounted task memory rising, and a cursor works over the
#     real socket (since=next returns only new samples; a made-up cursor is refused); a stopped
#     agent leaves a marked gap;
#   - `sonde` attached afterwards shows, on its first Load frame, the whole history (the sample
#     count in the tab's first line) and all six charts with braille, time axis labels and
#     legends, at 80x24 and at 160x50;
#   - the window key, the cursor keys and the symbol key change what is drawn; --ascii leaves
#     nothing but ASCII on the screen and still draws the charts;
#   - with the tab attached, the agent thread stays under 1% of one core.
# Needs tmux and the demo (skipped without them); the screen runs in a UTF-8 locale (C.UTF-8).
. "$(dirname "$0")/lib.sh"
setup

# A 200 ms interval fills the history five times faster than the default.
DEMO_NAME=load-demo
SONDE_INTERVAL_MS=200 start_demo --tasks 500 || { echo "Bail out! the demo did not start"; exit 1; }
sock=$SONDE_DIR/$DEMO_PID.sock
sleep 8   # about 40 samples before anyone attaches

# ---- history over the socket ------------------------------------------------------------------

query() {   # query ARGS... -> the JSON result on stdout
	"$SONDE" query -s "$sock" --json "$@"
}
# Numbers out of the JSON without a JSON tool: "key": value on its own line (--json pretty-prints).
field() {   # field KEY FILE -> every value of "KEY": N in FILE, one per line
	sed -n "s/^ *\"$1\": \\(-\\{0,1\\}[0-9][0-9.e+]*\\),\\{0,1\\}\$/\\1/p" "$2"
}

query history series=task_memory_bytes,rss_bytes >"$WORK/h1.json" 2>"$WORK/h1.err"
samples=$(field seq "$WORK/h1.json" | wc -l)
check "history holds the samples taken before anyone attached ($samples >= 30)" test "$samples" -ge 30
first_mem=$(field task_memory_bytes "$WORK/h1.json" | head -n 1)
last_mem=$(field task_memory_bytes "$WORK/h1.json" | tail -n 1)
check "the planted leak rises in the history (task memory $first_mem -> $last_mem bytes)" \
	awk -v a="${first_mem:-0}" -v b="${last_mem:-0}" 'BEGIN { exit !(b - a > 500000) }'

next=$(field next "$WORK/h1.json")
query history "since=$next" series=rss_bytes >"$WORK/h2.json" 2>"$WORK/h2.err"
new=$(field seq "$WORK/h2.json" | wc -l)
oldest_new=$(field seq "$WORK/h2.json" | head -n 1)
check "since=next returns only samples newer than the cursor ($new new)" \
	awk -v n="$new" -v s="${oldest_new:-0}" -v c="$next" 'BEGIN { exit !(n <= 3 && (n == 0 || s > c)) }'

bogus=$((next + 1000000))
query history "since=$bogus" >"$WORK/h3.json" 2>"$WORK/h3.err"
rc=$?
refused() {
	[ "$rc" -eq 1 ] && grep -q 'bad_argument' "$WORK/h3.err"
}
check "a cursor from the future is refused (exit 1, bad_argument)" refused

# The agent stopped for 2 s (SIGSTOP: ten 200 ms ticks missed) leaves a marked gap, and the
# rates across it are unknown (null), not averaged over the stop.
query history last=1 >"$WORK/h4.json" 2>/dev/null
before_stop=$(field next "$WORK/h4.json")
kill -STOP "$DEMO_PID"
sleep 2
kill -CONT "$DEMO_PID"
sleep 1
query history "since=${before_stop:-0}" >"$WORK/h5.json" 2>"$WORK/h5.err"
missed=$(field missed "$WORK/h5.json" | sort -n | tail -n 1)
stopped_gap() {
	grep -q '"reason": "late"' "$WORK/h5.json" && [ "${missed:-0}" -ge 5 ] &&
		grep -q '"reductions_per_s": null' "$WORK/h5.json"
}
check "a stopped agent leaves a marked gap ($missed ticks missed) with unknown rates" stopped_gap

# ---- the Load tab -----------------------------------------------------------------------------

# Run `sonde -s SOCK ARGS` on a fresh COLSxROWS screen, switch to the Load tab, wait until its
# first line shows, and capture the screen into $WORK/plain. TERM as in the pane of tmux's own
# default-terminal (tmux-256color), which these screens were checked with.
TUI_ENV=TERM=tmux-256color
run_load() {
	cols=$1
	rows=$2
	shift 2
	next_server
	start_tui "$cols" "$rows" -s "$sock" "$@"
	wait_screen 5 "load-demo"
	keys 2
	capture_until "samples \\("
}

# capture_until PATTERN: wait until the screen matches PATTERN (grep -E, 5 s at most), then
# capture it into $WORK/plain once the frame settled: curses sends a frame in pieces, and a
# capture may fall between them.
capture_until() {
	wait_screen 5 "$1" && sleep 0.4
	screen >"$WORK/plain"
}

# press KEY... PATTERN: send the keys one by one, then capture_until PATTERN (the last argument).
press() {
	want=$(eval echo "\${$#}")
	while [ $# -gt 1 ]; do
		keys "$1"
		shift
	done
	capture_until "$want"
}

shows() {
	grep -q -- "$1" "$WORK/plain"
}
shows_all() {
	for text in "$@"; do
		shows "$text" || return 1
	done
}
all_charts() {
	for title in "CPU " "Memory " "Tasks " "Spawn/exit " "Reductions " "Queue "; do
		shows "$title" || return 1
	done
}
# Braille dots U+2800-U+28FF are E2 A0..A3 xx in UTF-8.
has_braille() {
	LC_ALL=C grep -q "$(printf '\342')[$(printf '\240-\243')]" "$WORK/plain"
}
# Block eighths U+2581-U+2588 are E2 96 81..88.
has_blocks() {
	LC_ALL=C grep -q "$(printf '\342\226')[$(printf '\201-\210')]" "$WORK/plain"
}
all_ascii() {
	! LC_ALL=C grep -q '[^ -~]' "$WORK/plain"
}
history_count() {   # the sample count on the Load tab's first line
	sed -n 's/^\([0-9][0-9]*\) samples (.*/\1/p' "$WORK/plain" | head -n 1
}

run_load 80 24
count=$(history_count)
check "80x24: the first Load frame already holds the history ($count samples >= $samples)" \
	test "${count:-0}" -ge "$samples"
check "80x24: all six charts with their legends" all_charts
check "80x24: a time axis under the charts (-10m ... now)" shows_all "-10m" " now"
check "80x24: lines drawn in braille" has_braille

press w "window 1 min"
check "w: the window becomes 1 minute, with its axis (-1m)" shows_all "window 1 min" "-1m "
press Left Left "cursor "
check "Left: a cursor that reads out one moment (its time on the first line)" \
	grep -q "cursor [0-9][0-9]:[0-9][0-9]:[0-9][0-9], .* ago" "$WORK/plain"
press Escape "Left/Right: cursor"
check "Esc: back to live values" shows "Left/Right: cursor"
press g "spawn"
check "g: block symbols" has_blocks

run_load 160 50
count=$(history_count)
check "160x50: the history is there at once ($count samples)" test "${count:-0}" -ge "$samples"
check "160x50: all six charts with their legends" all_charts
check "160x50: braille charts" has_braille
check "160x50: the memory legend reads out RSS and the tasks' bytes" \
	shows_all "RSS [0-9]" "tasks [0-9]"

# The observer's cost with the Load tab attached (1 s refresh) and 200 ms sampling: the agent
# thread's time on CPU (/proc/PID/task/TID/schedstat, ns) over 5 s stays under 1% of one core.
query system >"$WORK/system.json" 2>/dev/null
agent_tid=$(field agent_tid "$WORK/system.json")
stat=/proc/$DEMO_PID/task/${agent_tid:-0}/schedstat
if [ -r "$stat" ]; then
	before=$(cut -d' ' -f1 "$stat")
	sleep 5
	after=$(cut -d' ' -f1 "$stat")
	check "the agent stays under 1% of one core with the Load tab attached ($(( (after - before) / 5000 )) us/s)" \
		test $(( (after - before) / 5 )) -lt 10000000
else
	skip "no $stat to measure the agent thread"
fi

run_load 80 24 --ascii
check "--ascii: nothing but ASCII on the screen" all_ascii
check "--ascii: the six charts still drawn" all_charts
check "the screen is still running" shows_all "load-demo"
finish
