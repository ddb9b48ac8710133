#!/bin/sh
# cmocka-tap.sh TEST [ARGS...] - run a cmocka test program with TAP output, turning its
# "not ok N # SKIP reason" lines into "ok N # SKIP reason": TAP readers, automake's driver among
# them, count a "not ok" with a SKIP directive as a failure, while cmocka means a skip.
# The program's exit status is kept.
CMOCKA_MESSAGE_OUTPUT=TAP
export CMOCKA_MESSAGE_OUTPUT
status_file=$(mktemp "${TMPDIR:-/tmp}/cmocka-tap.XXXXXX") || exit 99
{ "$@"; echo $? >"$status_file"; } | sed -u 's/^not ok \([0-9][0-9]*\) # SKIP/ok \1 # SKIP/'
status=$(cat "$status_file")
rm -f "$status_file"
exit "${status:-99}"
