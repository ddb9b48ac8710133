#!/bin/sh
# attach.sh - how `sonde` finds its agent: none live (exit 3 with a message naming the fix), a
# pid without an agent (exit 3), `sonde PID`, and the pick list when several agents are live.
. "$(dirname "$0")/lib.sh"
setup

out=$("$SONDE" 2>&1 </dev/null)
rc=$?
check "no live agent: exit status 3" test "$rc" -eq 3
check "... and a message that names the fix" sh -c "echo '$out' | grep -q 'no live agent found: start a service linked with libsonde'"
out=$("$SONDE" -p 999999 2>&1 </dev/null)
rc=$?
check "-p with no agent there: exit status 3 ($out)" test "$rc" -eq 3

start_demo || { check "the first demo starts" false; finish; exit; }
first_pid=$DEMO_PID first_name=$DEMO_NAME
DEMO_NAME=screen-other-$$
"$DEMO" --name "$DEMO_NAME" >"$WORK/demo2.out" 2>"$WORK/demo2.err" &
second_pid=$!
EXTRA_PIDS=$second_pid
wait_sock() { [ -S "$SONDE_DIR/$second_pid.sock" ]; }
check "a second demo starts" wait_until 10 wait_sock

start_tui 100 30
check "two live agents: the pick list shows both" \
	wait_until 5 sh -c "$T capture-pane -p | grep -q '$first_name' && $T capture-pane -p | grep -q 'screen-other-$$'"
check "... with their pids" wait_screen 1 " $second_pid "
# Rows are sorted by pid; pick the second demo's row by its digit.
line=$(screen | grep -n " $second_pid " | cut -d: -f1)
digit=$(screen | sed -n "${line}p" | awk '{ print $1 }')
keys "$digit"
check "picking row $digit attaches to the second demo" \
	wait_row 5 0 "sonde screen-other-$$ +pid $second_pid .*connected"
keys q
check "q quits" wait_screen 5 'sonde-exited-0'

$T respawn-pane -k "$SONDE $first_pid; echo sonde-pid-exited-\$?; sleep 600"
check "sonde PID attaches to that process's agent" wait_row 5 0 "sonde $first_name +pid $first_pid"
keys q
check "... and quits with status 0" wait_screen 5 'sonde-pid-exited-0'
kill "$second_pid" 2>/dev/null
wait "$second_pid" 2>/dev/null

# A count near its limit is coloured as a warning: a demo whose fd limit is lowered (prlimit) to
# two above what it uses once the screen is attached. The demo inherits seven extra descriptors
# (3-9) so that it uses at least 11 whatever the caller left open: 11 of 13 is 85%, past the 80%
# warning line (CI's runner passes fewer descriptors than an interactive shell does).
"$DEMO" --name screen-limits-$$ >"$WORK/demo3.out" 2>"$WORK/demo3.err" \
	3</dev/null 4</dev/null 5</dev/null 6</dev/null 7</dev/null 8</dev/null 9</dev/null &
limited=$!
EXTRA_PIDS=$limited
wait_sock3() { [ -S "$SONDE_DIR/$limited.sock" ]; }
check "a third demo starts" wait_until 10 wait_sock3
$T respawn-pane -k "$SONDE $limited; sleep 600"
keys 1
check "the System tab shows its fds" wait_screen 5 'file descriptors +[0-9]+ / [0-9.]+k? '
used=$(ls "/proc/$limited/fd" | wc -l)
fd_limit=$((used + 2))
if command -v prlimit >/dev/null 2>&1; then
	prlimit --pid "$limited" --nofile=$fd_limit:$fd_limit
else
	echo "# prlimit (util-linux) missing: the limit check below will fail"
fi
check "... then against the lowered limit ($used of $fd_limit)" wait_screen 5 "file descriptors +[0-9]+ / $fd_limit "
# the attributes (SGR) right before a value: the fds value's differ from the threads value's
sgr_before() { $T capture-pane -p -e | grep -E "$1" | sed "s|$2.*||" | grep -o "$(printf '\033')\[[0-9;]*m" | tail -1; }
fds_sgr=$(sgr_before 'file descriptors' "[0-9]* / $fd_limit ")
threads_sgr=$(sgr_before 'threads.*[0-9]+ / [0-9.]+k' '[0-9]* / [0-9.]*k ')
check "... coloured unlike the threads count far below its limit ($(echo "$fds_sgr" | cat -v) vs $(echo "$threads_sgr" | cat -v))" \
	test -n "$fds_sgr" -a -n "$threads_sgr" -a "$fds_sgr" != "$threads_sgr"
finish
