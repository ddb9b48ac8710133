#!/bin/sh
# reconnect.sh - the agent goes away and comes back: the screen says "disconnected", keeps the
# last figures, keeps answering keys, and reconnects to the restarted service (a new process,
# so a new pid and socket, with the same name in the same socket directory).
. "$(dirname "$0")/lib.sh"
setup
start_demo || { echo "1..1"; echo "not ok 1 - the demo starts"; exit 1; }
first_pid=$DEMO_PID

start_tui 100 30
check "connected to the demo (pid $first_pid)" wait_row 5 0 "pid $first_pid .*connected"
check "the Tasks tab shows its first page" wait_row 5 4 '^ +[0-9]+ '
keys 1
check "the System tab shows the process" wait_screen 5 "pid +$first_pid"

# A stopped agent (SIGSTOP: the socket is there, nobody answers): keys are answered at once
# while the requests wait, and after the request timeout the header says so.
kill -STOP "$DEMO_PID"
keys 4
check "with the agent stopped, keys still answer at once (4: the Tasks tab)" wait_row 1 3 'ID +NAME'
keys '?'
check "... and ? opens help at once" wait_screen 1 'show the keys of this screen'
keys Escape 1
check "after the request timeout (5 s) the header says disconnected" \
	wait_row 9 0 'disconnected since'
kill -CONT "$DEMO_PID"
check "continued, the agent is reconnected" wait_row 5 0 "pid $first_pid .*(●|\*) connected"

stop_demo
check "killing the demo shows disconnected in the header" wait_row 5 0 'disconnected since [0-9:]+'
check "the last figures stay on screen" wait_screen 1 "pid +$first_pid"
keys 4
check "keys still answer while disconnected: 4 shows the Tasks tab" wait_row 3 3 'ID +NAME'
keys '?'
check "... and ? opens help" wait_screen 3 'show the keys of this screen'
keys Escape
check "the header counts the retries" wait_row 5 0 'retrying \([1-9][0-9]*\)'

start_demo || { check "the demo restarts" false; finish; exit; }
check "the restarted demo is a new process (pid $DEMO_PID)" test "$DEMO_PID" != "$first_pid"
check "the screen reconnects to it within 5 s" wait_row 5 0 "pid $DEMO_PID .*(●|\*) connected"
check "... and shows its tasks" wait_row 5 4 '^ +[0-9]+ '
keys 1
check "... and its process figures" wait_screen 5 "pid +$DEMO_PID"
keys q
check "q quits with status 0" wait_screen 5 'sonde-exited-0'
finish
