#!/bin/sh
# run-all.sh BUILDDIR - run every benchmark in tests/bench/ one after the other (never two at
# once: they measure time) and print their figures, for the README's performance section.
# Takes a few minutes; run it on a quiet machine.
set -u
build=${1:?usage: run-all.sh BUILDDIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
cd "$build" || exit 2
make -j2 all >/dev/null || exit 2   # the benchmarks are noinst programs: built by `all`
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
     "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$src" rev-parse --short HEAD 2>/dev/null)"
run() {
	echo
	echo "### $*"
	"$@" 2>&1
}
run tests/bench/bench_work
run tests/bench/bench_spawn
run tests/bench/bench_tasks
run tests/bench/bench_tasks_e2e
run tests/bench/bench_threads
run tests/bench/bench_alloc
run tests/bench/bench_sampler
run tests/bench/bench_chart
top_builddir=$build top_srcdir=$src run sh "$src/tests/bench/bench_tui.sh"
