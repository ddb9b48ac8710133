#!/bin/sh
# tabs.sh - every tab in the tab bar renders real figures; help lists the current tab's keys;
# the screen survives resizes down to 60x20 and back, shows "too small" below its minimum, and
# works at 80x24.
. "$(dirname "$0")/lib.sh"
setup
start_demo || { echo "1..1"; echo "not ok 1 - the demo starts"; exit 1; }

start_tui 120 40
check "the header names the service, its pid and the connection" \
	wait_row 5 0 "sonde $DEMO_NAME +pid $DEMO_PID +up [0-9].* connected +every 1.0 s"

# Every tab the bar lists: select it by its digit; the body shows something that is neither
# a wait nor an error within 5 s.
tabs=$(row 1 | grep -oE ' [1-9] [A-Za-z]+' | sed 's/^ //')
echo "# tabs in the bar: $(echo $tabs)"
body_ok() {
	body=$(screen | sed -n '3,39p')
	echo "$body" | grep -q '[A-Za-z0-9]' &&
		! echo "$body" | grep -Eq 'waiting for|not connected|bad_argument|unknown_command|internal'
}
echo "$tabs" | while read -r digit name; do
	[ -n "$digit" ] || continue
	keys "$digit"
	sleep 0.3
	deadline=$(($(date +%s) + 5))
	while [ "$(date +%s)" -lt "$deadline" ] && ! body_ok; do sleep 0.2; done
	body_ok && echo "ok" || { echo "not ok"; screen | sed 's/^/#   | /' >&2; }
done >"$WORK/tabs.result" 2>"$WORK/tabs.screens"
i=0
for digit_name in $(echo "$tabs" | tr ' ' '_'); do
	i=$((i + 1))
	res=$(sed -n "${i}p" "$WORK/tabs.result")
	check "tab ${digit_name#*_} (key ${digit_name%%_*}) renders figures" test "$res" = ok
done
[ -s "$WORK/tabs.screens" ] && cat "$WORK/tabs.screens"
check "the tab bar has System, Tasks and Tree" \
	sh -c "echo '$tabs' | grep -q '1 System' && echo '$tabs' | grep -q '4 Tasks' && echo '$tabs' | grep -q '5 Tree'"

keys 1
check "System: the process box with threads and fds against their limits" \
	wait_screen 5 'file descriptors +[0-9.k]+ / [0-9.k]+ \('
boxes() {
	screen | grep -q 'Host' && screen | grep -q 'Agent' && screen | grep -q 'allocator'
}
check "System: host, agent and allocator boxes" boxes
keys 4
check "Tasks: column titles" wait_row 5 3 'ID +NAME +STATUS +.*REDS +.*REDS/s +MEMORY +MEM CHG +QUEUE +CPU% +LOCATION'
keys 5
check "Tree: the application supervisor at the root" wait_row 5 4 '^▾ app_sup +1 +one_for_one'

# Tab and Shift-Tab walk the tab bar in order, wrapping.
keys 5 Tab
check "Tab after the last tab wraps to the first (System)" wait_screen 5 'file descriptors'
keys BTab
check "Shift-Tab goes back to the last one (Tree)" wait_row 5 3 'TREE +ID'

# Help lists the keys of the tab it was opened from (generated from the key tables).
keys 4 '?'
check "? opens help with the Tasks keys" wait_screen 5 'sort by memory'
check "help lists the global keys too" wait_screen 2 'pause/resume refreshing'
keys Escape
check "Esc closes help" wait_row 5 3 'REDS/s'
keys 5 F1
check "F1 on the Tree tab lists its toggle and detail keys" wait_screen 5 'collapse or expand'
keys q
check "q closes help (and does not quit)" wait_row 5 3 'TREE'
keys 4

# Resizes: 60x20 still shows the table (fewer columns), then back to 120x40.
$T resize-window -x 60 -y 20
check "at 60x20 the table still shows id, name and memory" wait_row 5 3 'ID +NAME.*MEMORY'
check "at 60x20 the function bar is on the last line" wait_row 3 19 'Help'
$T resize-window -x 30 -y 8
check "at 30x8 the screen says it is too small" wait_screen 5 'terminal too small: 30x8'
$T resize-window -x 80 -y 24
check "at 80x24 the table is back" wait_row 5 3 'ID +NAME +STATUS'
check "at 80x24 the function bar is on line 24" wait_row 3 23 'F10Quit'
$T resize-window -x 120 -y 40
check "back at 120x40 the location column returns" wait_row 5 3 'LOCATION'
keys Down Down
check "keys still work after the resizes" wait_row 5 3 'LOCATION'

# The mouse: tabs, column headers, rows and the wheel.
click "$(column_of 1 '5 Tree')" 1
check "a click on '5 Tree' in the tab bar opens the Tree tab" wait_row 5 3 'TREE +ID'
click "$(column_of 1 '4 Tasks')" 1
check "a click on '4 Tasks' comes back" wait_row 5 3 'REDS/s'
click "$(column_of 3 'MEMORY')" 3
check "a click on the MEMORY header sorts by memory" wait_row 5 2 'sort memory ▼'
click "$(column_of 3 'MEMORY')" 3
check "a second click inverts the order" wait_row 5 2 'sort memory ▲'
for _ in $(seq 14); do mouse 65 10 10; done
check "the wheel scrolls the table (14 notches of 3 rows: rows 9-43)" \
	wait_row 5 2 ' 9-43 '
click 10 6
click 10 6
check "a click on a row selects it, a second click opens its detail" wait_row 5 1 'Task #[0-9]+'
keys Escape
check "Esc returns to the table" wait_row 5 3 'REDS/s'
keys Home

# Only changed cells are sent: on the System tab, a second of refreshes costs far less than
# one full redraw (^L), as seen in what the program writes to its terminal.
keys 1
wait_screen 5 'file descriptors' >/dev/null
$T pipe-pane -o "cat >>'$WORK/pane.out'"
sleep 4
idle=$(stat -c %s "$WORK/pane.out" 2>/dev/null || echo 0)
keys C-l
sleep 1
full=$(($(stat -c %s "$WORK/pane.out") - idle))
$T pipe-pane
check "System tab idle: $((idle / 4)) bytes per second against $full for a full redraw" \
	test "$full" -gt 2000 -a $((idle / 4)) -lt $((full / 4))
keys 4

# Pause and the refresh interval.
keys Space
check "space pauses (PAUSED in the header)" wait_row 3 0 'PAUSED'
keys Space
resumed() {
	sleep 0.5
	! row 0 | grep -q PAUSED
}
check "space again resumes" resumed
keys 5 Z
check "in the Tree tab (where space toggles) Z pauses" wait_row 3 0 'PAUSED'
keys Z 4
keys +
check "+ slows the refresh to 2 s" wait_row 3 0 'every 2.0 s'
keys - -
check "- twice speeds it to 500 ms" wait_row 3 0 'every 500 ms'

keys F10
check "F10 quits with status 0" wait_screen 5 'sonde-exited-0'

# --ascii: no Unicode box drawing, arrows or branch glyphs.
$T respawn-pane -k "$SONDE --ascii; echo sonde-ascii-exited-\$?; sleep 600"
check "--ascii: the Tasks header marks the sort with v" wait_row 5 3 'vREDS'
keys 5
check "--ascii: the tree branches are ASCII" wait_screen 5 '^\|-- acceptor_pool|^\|-[-+ ]+acceptor_pool'
keys 1
check "--ascii: the System boxes are drawn with + - |" wait_row 5 2 '^\+- Process -+'
no_unicode() { ! screen | LC_ALL=C grep -q "$(printf '[\200-\377]')"; }
check "--ascii: nothing on screen is outside ASCII" no_unicode
keys q
check "--ascii: q quits with status 0" wait_screen 5 'sonde-ascii-exited-0'

# -n N: exits by itself after N refreshes (0.2 s apart with -d 2).
$T respawn-pane -k "$SONDE -d 2 -n 5; echo sonde-n-exited-\$?; sleep 600"
check "-n 5 -d 2 exits by itself with status 0" wait_screen 5 'sonde-n-exited-0'
finish
