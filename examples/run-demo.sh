#!/bin/sh
# run-demo.sh BUILDDIR [DEMO ARGS...] - start the demo service, attach the sonde screen to it,
# and stop the demo when the screen exits (q). `make demo` runs this.
set -u
build=${1:?usage: run-demo.sh BUILDDIR [demo args]}
shift
log=$(mktemp /tmp/sonde-demo.XXXXXX)
"$build/examples/sonde-demo" "$@" >"$log" 2>&1 &
demo=$!
trap 'kill "$demo" 2>/dev/null; wait "$demo" 2>/dev/null; rm -f "$log"' EXIT INT TERM
# The demo prints its story lines once its agent is up.
i=0
while ! grep -q '^story ' "$log" 2>/dev/null; do
	if ! kill -0 "$demo" 2>/dev/null || [ $i -ge 100 ]; then
		echo "the demo did not start; its output:" >&2
		cat "$log" >&2
		exit 1
	fi
	sleep 0.1
	i=$((i + 1))
done
"$build/tui/sonde" -p "$demo"
