#!/bin/sh
# test_alloc_demo.sh - the allocator commands against the running demo (jemalloc), issue 5. TAP;
# JSON read with tests/jsonpick.
#   - the `alloc` figures agree with jemalloc's own malloc_stats_print JSON taken in the same
#     process right after our reading (the jemalloc_stats=true argument), within 1%;
#   - the demo restarted under MALLOC_CONF=prof:true,prof_active:false: prof start, wait, dump,
#     top names the leaking connection's allocation function (conn_queue_tx); a second dump and
#     diff show it growing; stop.
#
# Allowed beyond 1%: malloc_stats_print's own 64 KiB output buffer (a live large allocation while
# it prints) and, per arena and size class, what the demo's threads allocate in the millisecond
# between the two readings (a few regions, a few pages).
set -u

builddir=${top_builddir:-$(cd "$(dirname "$0")/.." && pwd)}
sonde=$builddir/tui/sonde
demo=$builddir/examples/sonde-demo
pick=$builddir/tests/jsonpick

if [ ! -x "$sonde" ] || [ ! -x "$demo" ] || [ ! -x "$pick" ]; then
	echo "1..0 # SKIP needs tui/sonde, examples/sonde-demo and tests/jsonpick"
	exit 0
fi
# A sanitizer build's malloc is AddressSanitizer's: neither jemalloc nor glibc is there to read.
if LC_ALL=C grep -qa "__asan_init" "$sonde"; then
	echo "1..0 # SKIP AddressSanitizer replaces the allocator (jemalloc is not serving malloc)"
	exit 0
fi

work=$(mktemp -d /tmp/sonde-alloc-demo.XXXXXX) || exit 1
chmod 700 "$work"
export SONDE_DIR=$work/sock
mkdir -m 700 "$SONDE_DIR"
demo_pid=
cleanup() {
	if [ -n "$demo_pid" ]; then
		kill "$demo_pid" 2>/dev/null
		wait "$demo_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_demo [ARGS...]: the demo in the background, until its socket and stories are there.
start_demo() {
	rm -f "$work/demo.out"
	"$demo" --name alloc-demo "$@" >"$work/demo.out" 2>"$work/demo.err" &
	demo_pid=$!
	i=0
	while [ ! -S "$SONDE_DIR/$demo_pid.sock" ] || ! grep -q '^story ' "$work/demo.out"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$demo_pid" 2>/dev/null; then
			echo "Bail out! the demo did not start: $(cat "$work/demo.err")"
			exit 1
		fi
		sleep 0.1
	done
}

start_demo --tasks 500 --rate 300
sleep 1   # let it run a little: arenas, size classes and large extents in use

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

"$sonde" query -p "$demo_pid" --json alloc sort=size limit=1000 jemalloc_stats=true >"$work/a.json" ||
	{ echo "Bail out! sonde query alloc failed"; exit 1; }
j() { "$pick" "$@" <"$work/a.json"; }

# within OURS THEIRS SLACK: |ours - theirs| <= max(1% of theirs, SLACK)
within() {
	d=$(($1 - $2))
	[ "$d" -lt 0 ] && d=$((-d))
	tol=$(($2 / 100))
	[ "$tol" -lt "$3" ] && tol=$3
	[ "$d" -le "$tol" ]
}

if [ "$(j allocator)" != jemalloc ] || [ "$(j jemalloc_stats/page)" = "" ]; then
	not_ok "the demo's allocator is jemalloc and malloc_stats_print answered (got: $(j allocator))"
	echo "1..$n"
	exit 1
fi
ok "the demo's allocator is jemalloc and malloc_stats_print answered"

page=$(j jemalloc_stats/page)
buffer=$((64 * 1024 + 2 * page))   # malloc_stats_print's output buffer
for k in allocated active metadata resident mapped retained; do
	ours=$(j global/${k}_bytes)
	theirs=$(j jemalloc_stats/stats/$k)
	if within "$ours" "$theirs" "$buffer"; then
		ok "global $k: ours $ours, jemalloc $theirs (within 1%)"
	else
		not_ok "global $k: ours $ours, jemalloc $theirs (not within 1%)"
	fi
done

# Each initialised arena: pages (x page size) and small/large bytes.
narenas=$(j "arenas/#")
bad=""
a=0
while [ "$a" -lt "$narenas" ]; do
	idx=$(j arenas/$a/index)
	for pair in active_bytes:pactive dirty_bytes:pdirty muzzy_bytes:pmuzzy \
		small_allocated_bytes:small/allocated large_allocated_bytes:large/allocated; do
		ours=$(j arenas/$a/${pair%%:*})
		theirs=$(j "jemalloc_stats/stats.arenas/$idx/${pair#*:}")
		case $pair in *:p*) theirs=$((theirs * page)) ;; esac
		within "$ours" "$theirs" $((buffer + 32 * page)) ||
			bad="$bad arena$idx.${pair%%:*}=$ours/$theirs"
	done
	a=$((a + 1))
done
if [ -z "$bad" ] && [ "$narenas" -ge 2 ]; then
	ok "$narenas arenas: active, dirty, muzzy, small and large bytes agree"
else
	not_ok "arenas ($narenas): disagree:$bad"
fi

# Size classes, merged over arenas (rows in size order = bin index order with sort=size).
nbins=$(j "bins/rows/#")
bad=""
b=0
while [ "$b" -lt "$nbins" ]; do
	within "$(j bins/rows/$b/regions)" "$(j "jemalloc_stats/stats.arenas/merged/bins/$b/curregs")" 64 ||
		bad="$bad bin$b.regions"
	within "$(j bins/rows/$b/slabs)" "$(j "jemalloc_stats/stats.arenas/merged/bins/$b/curslabs")" 2 ||
		bad="$bad bin$b.slabs"
	b=$((b + 1))
done
if [ -z "$bad" ] && [ "$nbins" -eq "$(j "jemalloc_stats/stats.arenas/merged/bins/#")" ]; then
	ok "$nbins size classes: regions and slabs agree"
else
	not_ok "size classes ($nbins): disagree:$bad"
fi

ours=$(j large/allocated_bytes)
theirs=$(j jemalloc_stats/stats.arenas/merged/large/allocated)
if within "$ours" "$theirs" "$buffer"; then
	ok "large extents: ours $ours bytes, jemalloc $theirs"
else
	not_ok "large extents: ours $ours bytes, jemalloc $theirs (not within 1%)"
fi

# ---- heap profiling on the leak story --------------------------------------------------------
kill "$demo_pid" 2>/dev/null
wait "$demo_pid" 2>/dev/null
MALLOC_CONF=prof:true,prof_active:false start_demo --tasks 200 --rate 200 --leak-rate 1000
q() { "$sonde" query -p "$demo_pid" --json prof "$@" >"$work/p.json" 2>"$work/p.err"; }
p() { "$pick" "$@" <"$work/p.json"; }

# A 16 KiB sample period: a few seconds of the leak give dozens of samples.
if q action=start lg_sample=14 && [ "$(p owner)" = sonde ]; then
	ok "prof start: sampling, owned by sonde"
else
	not_ok "prof start: $(cat "$work/p.err")"
fi
# A dump left by a process that is gone: the first dump sweeps it away (a live one's stays).
dead=$(sh -c 'echo $$')
: >"$SONDE_DIR/$dead.1.heap"
: >"$SONDE_DIR/$$.1.heap"
sleep 3
q action=dump && first=$(p seq) && [ -f "$(p path)" ] && ok "prof dump: $(p path)" ||
	not_ok "prof dump: $(cat "$work/p.err")"
if [ ! -e "$SONDE_DIR/$dead.1.heap" ] && [ -e "$SONDE_DIR/$$.1.heap" ]; then
	ok "the first dump removed a dead process's dump and kept a live one's"
else
	not_ok "stale dumps: dead pid's $( [ -e "$SONDE_DIR/$dead.1.heap" ] && echo kept || echo removed), live pid's $( [ -e "$SONDE_DIR/$$.1.heap" ] && echo kept || echo removed)"
fi
q action=top limit=5
if p "by_bytes/#" >/dev/null && grep -q '"function": *"conn_queue_tx"' "$work/p.json" &&
   [ "$(p by_bytes/0/function)" = conn_queue_tx ]; then
	ok "prof top: the leaking connection's conn_queue_tx is the top site ($(p by_bytes/0/bytes) bytes)"
else
	not_ok "prof top: conn_queue_tx is not the top site: $(p by_bytes/0/function) $(cat "$work/p.err")"
fi
if [ "$(p by_bytes/0/stack/1 | sed 's/+.*//')" = conn_push_updates ]; then
	ok "prof top: its stack names the caller conn_push_updates"
else
	not_ok "prof top: stack is $(p by_bytes/0/stack)"
fi
sleep 3
q action=dump
q action=diff limit=3
if [ "$(p from)" = "$first" ] && [ "$(p grew/0/function)" = conn_queue_tx ] &&
   [ "$(p grew/0/delta_bytes)" -gt 1000000 ]; then
	ok "prof diff: conn_queue_tx grew by $(p grew/0/delta_bytes) bytes in $(p seconds_between) s"
else
	not_ok "prof diff: grew/0 is $(p grew/0/function) $(p grew/0/delta_bytes) $(cat "$work/p.err")"
fi
if q action=stop && [ "$(p active)" = false ]; then
	ok "prof stop"
else
	not_ok "prof stop: $(cat "$work/p.err")"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
