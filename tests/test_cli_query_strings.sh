#!/bin/sh
# test_cli_query_strings.sh - `sonde query KEY=VALUE` with a number-like text for an argument
# that takes a string (`tasks filter=8080`, a port in connection names): KEY='"8080"' sends it
# as JSON text, and the agent's "must be a string" error is followed by that hint. Speaks TAP;
# the one agent (`sonde run -- sleep`) is killed by its pid at the end.
#
#   top_builddir=/path/to/build sh tests/test_cli_query_strings.sh

top_builddir=${top_builddir:-.}
SONDE="$top_builddir/tui/sonde"

SCRATCH=$(mktemp -d /tmp/sonde-test-query-strings-XXXXXX) || exit 1
SONDE_DIR="$SCRATCH/sock"
mkdir -m 700 "$SONDE_DIR"
export SONDE_DIR
unset SONDE_DISABLE SONDE_NAME XDG_RUNTIME_DIR
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:detect_leaks=0"
export ASAN_OPTIONS
PID=""
cleanup() {
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	rm -rf "$SCRATCH"
}
trap cleanup EXIT

echo "1..3"
"$SONDE" run --name strings -- sleep 60 </dev/null >/dev/null 2>&1 &
PID=$!
i=0
while [ ! -S "$SONDE_DIR/$PID.sock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

"$SONDE" query -p "$PID" --json tasks filter='"8080"' >"$SCRATCH/out" 2>"$SCRATCH/err"
st=$?
if [ "$st" -eq 0 ] && grep -q '"filter": "8080"' "$SCRATCH/out"; then
	echo "ok 1 - filter='\"8080\"' is sent as the text 8080"
else
	echo "not ok 1 - filter='\"8080\"' is sent as the text 8080"
	echo "# exit status $st"; sed 's/^/#   /' "$SCRATCH/out" "$SCRATCH/err" | head -20
fi

"$SONDE" query -p "$PID" tasks filter=8080 >"$SCRATCH/out" 2>"$SCRATCH/err"
st=$?
if [ "$st" -eq 1 ] && grep -q "must be a string" "$SCRATCH/err" &&
   grep -q "filter='\"VALUE\"'" "$SCRATCH/err"; then
	echo "ok 2 - filter=8080 is refused with the way to quote it"
else
	echo "not ok 2 - filter=8080 is refused with the way to quote it"
	echo "# exit status $st"; sed 's/^/#   /' "$SCRATCH/err" | head -20
fi

"$SONDE" query -p "$PID" --json ping data='"a b"' >"$SCRATCH/out" 2>"$SCRATCH/err"
st=$?
if [ "$st" -eq 0 ] && grep -q '"data": "a b"' "$SCRATCH/out"; then
	echo "ok 3 - a quoted JSON string arrives without its quotes"
else
	echo "not ok 3 - a quoted JSON string arrives without its quotes"
	echo "# exit status $st"; sed 's/^/#   /' "$SCRATCH/out" "$SCRATCH/err" | head -20
fi
