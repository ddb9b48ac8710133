#!/bin/sh
# test_cli_run_script.sh - `sonde run` with a script: the agent is preloaded into the script's
# interpreter, and a script that exec()s the service (wrapper scripts, pyenv/rbenv shims) takes
# the agent with it. sonde run says so up front, and still runs the script. Speaks TAP.
#
#   top_builddir=/path/to/build sh tests/test_cli_run_script.sh

top_builddir=${top_builddir:-.}
SONDE="$top_builddir/tui/sonde"

SCRATCH=$(mktemp -d /tmp/sonde-test-run-script-XXXXXX) || exit 1
SONDE_DIR="$SCRATCH/sock"
mkdir -m 700 "$SONDE_DIR"
export SONDE_DIR
unset SONDE_DISABLE SONDE_NAME XDG_RUNTIME_DIR
trap 'rm -rf "$SCRATCH"' EXIT
# An ASan build of libsonde.so preloaded into an uninstrumented program (as test_cli.sh does).
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:detect_leaks=0"
export ASAN_OPTIONS

echo "1..2"
# A shim in the style of pyenv's: a shell script that exec()s the real program.
cat >"$SCRATCH/shim" <<'SHIM'
#!/bin/sh
exec true "$@"
SHIM
chmod 755 "$SCRATCH/shim"
"$SONDE" run -- "$SCRATCH/shim" >"$SCRATCH/out" 2>"$SCRATCH/err"
st=$?
if [ "$st" -eq 0 ] && grep -q "is a script" "$SCRATCH/err" && grep -q "/bin/sh" "$SCRATCH/err" &&
   grep -q "exec()s another program" "$SCRATCH/err"; then
	echo "ok 1 - sonde run of a script says the agent lives in its interpreter and ends at exec"
else
	echo "not ok 1 - sonde run of a script says the agent lives in its interpreter and ends at exec"
	echo "# exit status $st; stderr:"
	sed 's/^/#   /' "$SCRATCH/err"
fi
# A binary: no such note.
"$SONDE" run -- true >"$SCRATCH/out" 2>"$SCRATCH/err"
st=$?
if [ "$st" -eq 0 ] && ! grep -q "is a script" "$SCRATCH/err"; then
	echo "ok 2 - sonde run of a binary adds no script note"
else
	echo "not ok 2 - sonde run of a binary adds no script note"
	echo "# exit status $st; stderr:"
	sed 's/^/#   /' "$SCRATCH/err"
fi
