#!/bin/sh
# scale.sh - the Tree tab and task follow with the demo at a million tasks: the wide conn_sup
# (a million parked sessions) is capped at a page of children with a "… N more" row that,
# opened, brings the next page; its siblings' subtrees are still shown whole; F follows a task
# that a new sort moves a million rows down, found with one `tasks find=ID` request (the
# former paged search gave up after 100,000 rows). ~300 MB and ~1 s to start the demo.
. "$(dirname "$0")/lib.sh"
setup
start_demo --tasks 1000000 || { echo "1..1"; echo "not ok 1 - the demo starts at 1M tasks"; exit 1; }
backlog=$(story backlog name)
sink_id=$(story backlog task)

start_tui 120 40
check "the Tasks tab opens at 1M tasks" wait_row 10 2 '^1\.0+M tasks'

# ---- tree ----
keys 5
# Rows: 0 header, 1 tab bar, 2 summary, 3 column titles, 4 app_sup.
check "the Tree tab shows conn_sup with its million children" \
	wait_screen 10 'conn_sup +[0-9]+ .* 1\.0+M *$'
nodes_ok() {
	n=$(row 2 | sed -n 's/.*live tasks, \([0-9,]*\) nodes shown.*/\1/p' | tr -d ,)
	[ -n "$n" ] && [ "$n" -lt 1000 ]
}
check "the agent caps conn_sup at a page: under 1000 nodes sent for the whole tree" nodes_ok
check "... and its siblings' subtrees are whole (shard/15, log_sink, metrics shown)" \
	sh -c "$T capture-pane -p | grep -q 'shard/15' && $T capture-pane -p | grep -q 'log_sink' && $T capture-pane -p | grep -q 'metrics'"
line_of() { screen | grep -n -- "$1" | head -1 | cut -d: -f1; }
down=$(( $(line_of 'conn_sup') - $(line_of 'app_sup') ))
keys Home
i=0
while [ "$i" -lt "$down" ]; do keys Down; i=$((i + 1)); done
keys Space
check "space on conn_sup opens it" wait_screen 10 '▾ conn_sup'
more() { screen | sed -n 's/.*… \([0-9]*\) more not shown.*/\1/p' | head -1; }
conns() { screen | grep -c '─ *conn '; }
# conn_sup's siblings log_sink, auth_keys and metrics come after it: End, then three up
to_more() { keys End Up Up Up; }
to_more
check "its first page ends in a '… N more' row (End, three up)" \
	wait_screen 10 '… [0-9]+ more not shown \(space: \+100\)'
before=$(more)
keys Space
fewer() { to_more; now=$(more); [ -n "$now" ] && [ -n "$before" ] && [ "$now" -le $((before - 100)) ]; }
check "space on it brings the next page: 100 fewer left out (from ${before:-?})" wait_until 10 fewer
to_more
wait_screen 10 '… [0-9]+ more not shown'
before=$(more)
keys Enter
check "Enter on the '… more' row also brings the next page (from ${before:-?})" wait_until 10 fewer

# ---- follow ----
keys 4 R
wait_row 10 2 'sort reductions'
sleep 1
keys Home
search "$backlog"
keys Enter
check "(the search selected $backlog)" wait_row 5 2 "Task #$sink_id +$backlog"
keys Escape F
check "F follows $backlog (#$sink_id)" wait_row 5 2 "following #$sink_id"
keys N
# by name, the log sink comes after the million "conn ..." tasks
found() {
	row 2 | grep -q "sort name .*following #$sink_id" && ! row 2 | grep -q 'locating' &&
		row 2 | grep -Eq ' 1000[0-9]{3}-[0-9]+ ' &&
		screen | grep -Eq "^ +$sink_id +$backlog "
}
t0=$(date +%s%N)
check "after N the followed $backlog is found a million rows down within 10 s" wait_until 10 found
echo "# found after $(( ($(date +%s%N) - t0) / 1000000 )) ms (key press to screen, 0.2 s polling)"
keys Enter
check "... and Enter opens it" wait_row 5 1 "Task #$sink_id\b"
keys Escape

keys q
check "q quits with status 0" wait_screen 5 'sonde-exited-0'
finish
