#!/bin/sh
# themes.sh - themes and ASCII mode on the real screen (TAP): `sonde` attached to tests/host
# inside a private tmux server, its pane captured with and without escape sequences.
#   - the default theme colours the screen; a bad theme file is reported as FILE:LINE and the
#     screen still comes up; an unknown theme name says where it looked;
#   - NO_COLOR leaves no colour in the pane, and the selection still shows (reverse video);
#   - --ascii (and a non-UTF-8 locale) leaves no byte outside ASCII on the screen;
#   - every shipped theme renders.
set -u

builddir=${top_builddir:-$(pwd)}
srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
sonde=$builddir/tui/sonde
host=$builddir/tests/host

tests=11
echo "1..$tests"
if ! command -v tmux >/dev/null 2>&1 || [ ! -x "$sonde" ] || [ ! -x "$host" ]; then
	i=1
	while [ $i -le $tests ]; do
		echo "ok $i # SKIP needs tmux, tui/sonde and tests/host"
		i=$((i + 1))
	done
	exit 0
fi

work=$(mktemp -d /tmp/sonde-themes-XXXXXX)
chmod 700 "$work"
export SONDE_DIR=$work/sock
# Keep the user's own themes and colour settings out of the results.
export XDG_CONFIG_HOME=$work/config
unset SONDE_THEME NO_COLOR
mkdir -m 700 "$SONDE_DIR"
tmux_sock=$work/tmux.0
runs=0
echo 'set -g default-terminal tmux-256color' >"$work/tmux.conf"
host_pid=
cleanup() {
	tmux -S "$tmux_sock" kill-server 2>/dev/null
	if [ -n "$host_pid" ]; then
		kill "$host_pid" 2>/dev/null
		wait "$host_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# The host lives until its standard input (a fifo we hold open) closes or it is killed.
mkfifo "$work/in"
"$host" --name themes-host <"$work/in" >"$work/host.out" 2>"$work/host.err" &
host_pid=$!
exec 3>"$work/in"
i=0
while ! grep -q '^ready ' "$work/host.out" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		echo "Bail out! tests/host did not start: $(cat "$work/host.err")"
		exit 1
	fi
	sleep 0.1
done
sock=$(awk '/^ready /{print $3}' "$work/host.out")

n=0
check() {   # check WHAT COMMAND...: one TAP line from a command's status
	what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"
	fi
}

# Run `sonde -s SOCK ARGS` in a fresh 80x24 pane with environment ENV (a string of
# assignments), wait until its screen shows WAIT (or 10 s), and capture the pane into
# $work/plain and, with escape sequences, $work/escaped.
run_screen() {
	env_assign=$1
	wait_for=$2
	shift 2
	# A fresh server per run: reusing a socket races with the old server's exit.
	tmux -S "$tmux_sock" kill-server 2>/dev/null
	runs=$((runs + 1))
	tmux_sock=$work/tmux.$runs
	tmux -S "$tmux_sock" -f "$work/tmux.conf" new-session -d -x 80 -y 24 \
		"env $env_assign $sonde -s $sock $* 2>$work/err; echo EXITED \$?; sleep 30"
	i=0
	while [ $i -lt 100 ]; do
		tmux -S "$tmux_sock" capture-pane -p >"$work/plain" 2>/dev/null
		grep -q -- "$wait_for" "$work/plain" && break
		i=$((i + 1))
		sleep 0.1
	done
	sleep 0.3   # let the first refresh settle
	tmux -S "$tmux_sock" capture-pane -p >"$work/plain"
	tmux -S "$tmux_sock" capture-pane -p -e >"$work/escaped"
}

# SGR sequences that set a colour (30-37, 40-47, 90-97, 100-107, 38;..., 48;...), not resets.
has_colour() {
	grep -E -q "$(printf '\033')\\[([0-9;]*;)?(3[0-7]|4[0-7]|9[0-7]|10[0-7]|38|48)(;[0-9;]*)?m" "$1"
}
has_reverse() {
	grep -E -q "$(printf '\033')\\[([0-9;]*;)?7(;[0-9;]*)?m" "$1"
}
no_colour() {
	! has_colour "$1"
}
all_ascii() {
	! LC_ALL=C grep -q '[^ -~]' "$1"
}
shows() {
	grep -q -- "$1" "$work/plain"
}

utf8=LANG=C.UTF-8
run_screen "$utf8 TERM=tmux-256color" "themes-host"
check "default theme: the screen comes up in colour" has_colour "$work/escaped"

# A short copy: the warning names the file, and a long source path (make distcheck) would run
# past the screen's width.
cp "$srcdir/tests/data/themes/bad_key.theme" "$work/bad_key.theme"
run_screen "$utf8 TERM=tmux-256color" "bad_key.theme" --theme "$work/bad_key.theme"
check "bad theme file reported as FILE:LINE" shows "bad_key.theme:4"
check "bad theme file: the screen still comes up, in the built-in colours" has_colour "$work/escaped"

run_screen "$utf8 TERM=tmux-256color" "not found" --theme no-such-theme
check "unknown theme name says where it looked" shows "theme 'no-such-theme' not found"

run_screen "$utf8 TERM=tmux-256color NO_COLOR=1" "themes-host"
check "NO_COLOR: no colour on the screen" no_colour "$work/escaped"
check "NO_COLOR: highlights still visible (reverse video)" has_reverse "$work/escaped"

run_screen "$utf8 TERM=tmux-256color" "themes-host" --ascii
check "--ascii: nothing but ASCII on the screen" all_ascii "$work/plain"

run_screen "LANG=C LC_ALL=C TERM=tmux-256color" "themes-host"
check "C locale: nothing but ASCII on the screen" all_ascii "$work/plain"

ok=1
for t in default light mono high-contrast; do
	run_screen "$utf8 TERM=tmux-256color" "themes-host" --theme "$t"
	if shows "theme" && shows "not found"; then ok=0; fi
	shows "themes-host" || ok=0
done
check "every shipped theme renders without a warning" test $ok = 1

run_screen "$utf8 TERM=tmux-256color SONDE_THEME=mono" "themes-host"
check "SONDE_THEME=mono: no colour, attributes only" no_colour "$work/escaped"

# With -n the screen ends by itself: a clean exit, and nothing on stderr (a sanitizer report
# in an --enable-sanitizers build would land there).
run_screen "$utf8 TERM=tmux-256color" "EXITED" -n 3 --theme "$srcdir/tests/data/themes/bad_color.theme"
check "-n 3 with a bad theme: exits 0, nothing on stderr" sh -c "grep -q 'EXITED 0' '$work/plain' && [ ! -s '$work/err' ]"

exec 3>&-
exit 0
