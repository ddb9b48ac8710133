#!/bin/sh
# stories.sh - the operator's path through the demo's four planted problems, on the screen:
# W then M puts the leaking connection on top within 10 s (window mode), R the hot shard, Q the
# slow consumer; Enter on it shows its inspect state; the filter narrows the table; the Tree
# tab shows the crashing worker's supervisor's restarts rising.
. "$(dirname "$0")/lib.sh"
setup
start_demo || { echo "1..1"; echo "not ok 1 - the demo starts"; exit 1; }
leak=$(story leak name)
hot=$(story hot name)
backlog=$(story backlog name)
crash=$(story crash name)
echo "# stories: leak='$leak' hot='$hot' backlog='$backlog' crash='$crash'"

start_tui 120 40
check "the Tasks tab opens first with the task table" wait_screen 5 'REDS/s +MEMORY'

# Rows: 0 header, 1 tab bar, 2 summary, 3 column titles, 4 the first task.
keys W
check "W switches to window mode" wait_row 3 2 'window mode'
keys M
check "M in window mode puts the leaking connection ($leak) on top within 10 s" \
	wait_row 10 4 "$leak"
keys R
check "R puts the hot shard ($hot) on top" wait_row 10 4 "$hot "
keys Q
check "Q puts the slow consumer ($backlog) on top" wait_row 10 4 "$backlog"
keys Enter
check "Enter opens the task detail of $backlog" wait_row 5 2 "Task #[0-9]+ +$backlog"
check "the detail shows the log sink's inspect state (backlog_lines)" \
	wait_screen 5 'backlog_lines +[0-9]+'
check "... its parent chain" wait_screen 2 'parents +app_sup #1'
trend() { screen | grep -q 'reductions/s: [0-9.k]*/s' && screen | grep -q 'memory: [0-9.]* [KMG]*i*B'; }
check "... and a trend of its reductions/s and memory" wait_until 5 trend
keys Escape
check "Esc returns to the task table" wait_row 5 3 'REDS/s'

# Filter: \ then text; the agent filters; every row shown has it, and the total drops.
keys '\'
type_text "shard/1"
keys Enter
check "the filter narrows the table to the shards named shard/1*" \
	wait_row 5 2 '^[0-9]+ tasks .*filter "shard/1"'
rows_ok() {
	screen | sed -n '5,39p' | grep -v '^ *$' | grep -v 'shard/1' | grep -q . && return 1
	screen | sed -n '5p' | grep -q 'shard/1'
}
check "every row shown matches the filter" rows_ok
total=$(row 2 | sed -n 's/^\([0-9]*\) tasks.*/\1/p')
check "the filtered total is small (7 = shard/1 and shard/10..15), got '$total'" \
	test "${total:-0}" -eq 7
keys '\' C-u Enter
check "clearing the filter brings every task back" wait_row 5 2 '^[0-9.k]+ tasks +sort'

# Search: / jumps to the first match from the selection on; Enter then opens it.
keys R Home
search "$backlog"
keys Enter
check "/ finds $backlog and Enter opens it" wait_row 5 2 "Task #[0-9]+ +$backlog"
keys Escape

# Follow: F keeps the selection on the same task while the order changes under it.
keys Home Down Down
keys F
wait_row 3 2 'following #[0-9]+'
followed=$(row 2 | sed -n 's/.*following #\([0-9]*\).*/\1/p')
check "F follows the selected task (#${followed:-?})" test -n "$followed"
sleep 3
keys Enter
check "three refreshes later Enter opens that same task" wait_row 5 1 "Task #$followed\b"
keys Escape F
# a new order moves a followed task to another page: the follow finds it there. The log
# sink is near the top by reductions and after the ~2000 "conn ..." tasks by name.
keys R Home
search "$backlog"
keys Enter
check "(the search selected $backlog)" wait_row 5 2 "Task #[0-9]+ +$backlog"
keys Escape F
wait_row 3 2 'following #[0-9]+'
sink_id=$(row 2 | sed -n 's/.*following #\([0-9]*\).*/\1/p')
keys N
# found: the page on screen is sorted by name, far down the list (rows 1000+), and holds it
found() {
	row 2 | grep -q "sort name .*following #$sink_id" && ! row 2 | grep -q 'looking for it' &&
		row 2 | grep -Eq ' (1[0-9]{3}|[2-9][0-9]{3})-[0-9]+ ' &&
		screen | grep -Eq "^ +$sink_id +$backlog "
}
check "after N (sort by name) the followed $backlog (#$sink_id) is found ~2000 rows down" \
	wait_until 10 found
keys Enter
check "... and Enter opens it" wait_row 5 1 "Task #$sink_id\b"
keys Escape F R

# A task that exits while its detail is open shows its exit record: the acceptor that
# crashes every few seconds.
keys '\'
type_text "$crash"
keys Enter
check "the filter finds the crashing $crash" wait_row 5 4 "$crash"
# open a fresh incarnation (they live 3-5 s): wait for the row's id to change first
first_id=$(row 4 | awk '{ print $1 }')
new_incarnation() { [ "$(row 4 | awk '{ print $1 }')" != "$first_id" ] && row 4 | grep -q "$crash"; }
check "a new incarnation of $crash appears" wait_until 10 new_incarnation
keys Home Enter
check "its detail opens" wait_row 5 2 "Task #[0-9]+ +$crash"
check "... with its parent chain" wait_screen 3 'parents +app_sup #1 > acceptor_pool #2'
check "when it crashes the detail shows its exit record (reason and age)" \
	wait_screen 10 'EXITED .* ago: .+'
check "... and keeps its last live figures" wait_screen 1 'parents +app_sup #1 > acceptor_pool #2'
keys Escape '\' C-u Enter

# The tree: the acceptor pool restarts its crashing child every few seconds.
keys 5
check "the Tree tab shows the supervision tree" wait_screen 5 'acceptor_pool +2 +one_for_one'
restarts() {
	screen | grep 'acceptor_pool' | awk '{for (i = 1; i <= NF; i++) if ($i == "running" || $i == "waiting" || $i == "runnable" || $i == "blocked") { r = $(i + 1); if (r ~ /^[▲^]/) r = $(i + 2); print r; exit } }'
}
first=$(restarts)
rose() {
	now=$(restarts)
	[ -n "$now" ] && [ -n "$first" ] && [ "$now" -gt "$first" ]
}
deadline=$(($(date +%s) + 15))
while [ "$(date +%s)" -lt "$deadline" ] && ! rose; do sleep 0.3; done
check "the acceptor pool's restarts rise within 15 s (from ${first:-?} to $(restarts))" rose
check "a rising restart count is marked" wait_screen 10 'acceptor_pool.*(▲|\^)\+[0-9]'
keys Home Down Enter
check "Enter on the acceptor pool opens its detail" wait_row 5 2 'Task #2 +acceptor_pool'
check "... with its strategy, restarts and children" \
	wait_until 3 sh -c "$T capture-pane -p | grep -q 'one_for_one (at most' && $T capture-pane -p | grep -q 'Children (8)'"
keys Escape
check "Esc returns to the tree" wait_row 5 3 'TREE +ID'
keys Home Space
check "space collapses the root" wait_row 3 4 '^▸ app_sup'
check "... leaving one row" sh -c "[ \$($T capture-pane -p | sed -n '6,39p' | grep -c '[a-z]') -eq 0 ]"
keys '*'
check "* expands everything under it again" wait_row 3 5 'acceptor_pool'
# conn_sup has ~2000 children, more than the agent's node budget for the whole tree; * opened
# it too: its children are asked for on their own, and all of them are listed (no "more" row).
keys End
check "expanded, conn_sup lists all its children: the last one is a connection" \
	wait_screen 10 '│ └─  conn '
check "... and nothing is left out" sh -c "! $T capture-pane -p | grep -q 'more not shown'"

keys q
check "q quits with status 0" wait_screen 5 'sonde-exited-0'
finish
