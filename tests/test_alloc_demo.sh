#!/bin/sh
# test_alloc_demo.sh - in the running demo (jemalloc), the `alloc` figures agree with jemalloc's
# own malloc_stats_print JSON taken in the same process right after our reading (the
# jemalloc_stats=true argument), within 1% (issue 5). TAP; JSON read with tests/jsonpick.
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

"$demo" --name alloc-demo --tasks 500 --rate 300 >"$work/demo.out" 2>"$work/demo.err" &
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

echo "1..$n"
[ "$failed" -eq 0 ]
