#!/bin/sh
# memory.sh - the Memory tab (issue 5) on a real screen, TAP.
#   - the demo (jemalloc) under MALLOC_CONF=prof:true,prof_active:false at 80x24: the summary
#     explains usage and fragmentation in words, the chart, the arena table, the size classes
#     sorted by waste;
#   - the profiling panel: r starts, d dumps, the top sites name the leaking connection's
#     allocation function (conn_queue_tx), a second dump and D show it growing, Enter its stack,
#     x stops, f shows bytes by function, R runs for 60 s by itself;
#   - --ascii leaves nothing but ASCII on the Memory tab;
#   - the demo without MALLOC_CONF: the panel says exactly what to set;
#   - `sonde run` on a program that uses glibc malloc (sleep): the tab shows glibc's figures and
#     what reading them cost.
. "$(dirname "$0")/lib.sh"

HOST_PID=
# A sanitizer build's malloc is AddressSanitizer's: neither jemalloc nor glibc is there to show.
if [ -x "$SONDE" ] && LC_ALL=C grep -qa "__asan_init" "$SONDE"; then
	skip_all "AddressSanitizer replaces the allocator: no jemalloc or glibc figures to show"
fi
setup
command -v sleep >/dev/null 2>&1 || skip_all "no sleep program to run under sonde run"
# Our extra process (the glibc program) is cleaned up by its pid, then lib.sh's cleanup runs.
memory_cleanup() {
	if [ -n "$HOST_PID" ]; then
		kill "$HOST_PID" 2>/dev/null
		wait "$HOST_PID" 2>/dev/null
	fi
	cleanup
}
trap memory_cleanup EXIT

# ---- jemalloc, profiling armed ----------------------------------------------------------------
MALLOC_CONF=prof:true,prof_active:false start_demo --tasks 300 --rate 200 --leak-rate 1000 ||
	{ echo "Bail out! the demo did not start"; exit 1; }
start_tui 80 24 -p "$DEMO_PID"
wait_screen 10 "$DEMO_NAME" || true
keys 3
check "tab 3 is Memory: jemalloc figures" wait_screen 10 "^jemalloc .*allocated .*active .*resident"
check "usage explained in words (allocated / resident)" wait_screen 5 "^usage [0-9.]+%: .*allocated / resident"
check "fragmentation explained in words (1 - allocated / active)" \
	wait_screen 5 "^fragmentation [0-9.]+%: .*1 - allocated"
check "history chart since attach with its legend" wait_screen 5 "since attach: .*allocated .*active .*resident"
check "arena table" wait_screen 5 "ARENA +THREADS +ACTIVE +DIRTY"
keys c
check "size classes sorted by waste" wait_screen 5 "SIZE +REGS/SLAB +REGIONS +SLABS +UTIL .*WASTE"
check "size class rows with a utilisation" wait_screen 5 "^ +[0-9.]+ (B|KiB) +[0-9]+ +[0-9.k]+ +[0-9.k]+ +[0-9.]+%"
keys p
check "profile panel: profiling off, r starts" wait_screen 5 "profiling off \\(r starts"
keys r
check "r starts profiling" wait_screen 5 "profiling \\(x stops"
sleep 3
keys d
check "d writes a dump and says where" wait_screen 5 "heap dump [0-9]+ written to $SONDE_DIR/"
first_dump=$(screen | sed -n 's/.*heap dump \([0-9]*\) written.*/\1/p' | head -1)
check "top sites name the leaking connection's allocation function" \
	wait_screen 8 "[0-9.]+ (KiB|MiB) .* conn_queue_tx +conn_push_updates"
sleep 3
keys d
# the second dump is written before D compares it with the first (not a fixed pause)
wait_screen 8 "heap dump $((${first_dump:-0} + 1)) written" || sleep 1
keys D
check "D: diff against the previous dump shows conn_queue_tx growing" \
	wait_screen 8 "^ +\\+[0-9.]+ (KiB|MiB) .* conn_queue_tx"
keys Enter
check "Enter: the stack of the selected site" wait_screen 5 "stack of conn_queue_tx"
check "the stack names its callers" wait_screen 5 "conn_push_updates\\+0x"
keys Enter x
check "x stops profiling" wait_screen 5 "profiling off \\(r starts.*stopped by"
keys f
check "f: in-use bytes by allocating function" wait_screen 5 "SITES FUNCTION"
check "f: the leak's function leads" wait_screen 5 "^ +[0-9.]+ (KiB|MiB) .* conn_queue_tx *$"
keys R
check "R: a timed run that stops by itself" wait_screen 5 "stops by itself in [0-9.]+ s"
keys x
check "x stops the timed run" wait_screen 5 "profiling off \\(r starts"

# The Memory tab is up and holds no byte outside printable ASCII.
memory_all_ascii() {
	screen >"$WORK/ascii.txt" || return 1
	grep -q "since attach" "$WORK/ascii.txt" && ! LC_ALL=C grep -q '[^ -~]' "$WORK/ascii.txt"
}

# ---- ASCII ------------------------------------------------------------------------------------
next_server
start_tui 80 24 --ascii -p "$DEMO_PID"
wait_screen 10 "$DEMO_NAME" || true
keys 3
wait_screen 10 "since attach" || true
sleep 2
check "--ascii: nothing but ASCII on the Memory tab" memory_all_ascii
stop_demo

# ---- jemalloc without MALLOC_CONF ------------------------------------------------------------
start_demo --tasks 100 --rate 50 || { echo "Bail out! the demo did not start"; exit 1; }
next_server
start_tui 80 24 -p "$DEMO_PID"
wait_screen 10 "$DEMO_NAME" || true
keys 3 p
check "without MALLOC_CONF the panel says exactly what to set" \
	wait_screen 8 "MALLOC_CONF=prof:true,prof_active:false"
stop_demo

# ---- glibc malloc, under `sonde run` ----------------------------------------------------------
# sonde run preloads the agent and executes the program in its own process: $! is its pid.
"$SONDE" run --name glibc-run -- sleep 600 >"$WORK/run.out" 2>"$WORK/run.err" &
HOST_PID=$!
for _ in $(seq 100); do
	[ -S "$SONDE_DIR/$HOST_PID.sock" ] && break
	sleep 0.1
done
next_server
start_tui 80 24 -p "$HOST_PID"
wait_screen 10 "glibc-run" || true
keys 3
check "sonde run, glibc program: glibc malloc figures" wait_screen 10 "^glibc .*in use .*free"
check "glibc: free share explained (fordblks / arena)" wait_screen 5 "free share [0-9.]+%.*fordblks / arena"
check "glibc: the cost of mallinfo2 and malloc_info is shown" \
	wait_screen 5 "mallinfo2 [0-9]+ us \\+ malloc_info [0-9]+ us"
check "glibc: its arenas" wait_screen 5 "ARENA +SYSTEM +IN USE +FREE"

finish
