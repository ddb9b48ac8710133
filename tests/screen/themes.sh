#!/bin/sh
# themes.sh - themes and ASCII mode on the real screen (TAP): `sonde` attached to tests/host
# inside a private tmux server, its pane captured with and without escape sequences.
#   - the default theme colours the screen; a bad theme file is reported as FILE:LINE and the
#     screen still comes up; an unknown theme name says where it looked;
#   - NO_COLOR leaves no colour in the pane, and the selection still shows (reverse video);
#   - --ascii (and a non-UTF-8 locale) leaves no byte outside ASCII on the screen;
#   - every shipped theme renders.
. "$(dirname "$0")/lib.sh"
setup host
# Keep the user's own themes and colour settings out of the results.
export XDG_CONFIG_HOME=$WORK/config
unset SONDE_THEME NO_COLOR

# The host lives until its standard input (a fifo we hold open) closes or it is killed.
mkfifo "$WORK/in"
"$HOST" --name themes-host <"$WORK/in" >"$WORK/host.out" 2>"$WORK/host.err" &
EXTRA_PIDS=$!
exec 3>"$WORK/in"
host_ready() {
	grep -q '^ready ' "$WORK/host.out" 2>/dev/null
}
if ! wait_until 10 host_ready; then
	echo "Bail out! tests/host did not start: $(cat "$WORK/host.err")"
	exit 1
fi
sock=$(awk '/^ready /{print $3}' "$WORK/host.out")

# Run `sonde -s SOCK ARGS` on a fresh 80x24 screen with environment ENV (a string of
# assignments), wait until its screen shows WAIT (or 10 s), and capture the pane into
# $WORK/plain and, with escape sequences, $WORK/escaped. sonde's stderr goes to $WORK/err
# (start_tui's arguments are part of a shell command line, so the redirection is sonde's).
run_screen() {
	TUI_ENV=$1
	wait_for=$2
	shift 2
	# A fresh server per run: reusing a socket races with the old server's exit.
	next_server
	start_tui 80 24 -s "$sock" "$@" "2>$WORK/err"
	wait_screen 10 "$wait_for"
	sleep 0.3   # let the first refresh settle
	screen >"$WORK/plain"
	$T capture-pane -p -e >"$WORK/escaped"
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
	grep -q -- "$1" "$WORK/plain"
}

utf8=LANG=C.UTF-8
run_screen "$utf8 TERM=tmux-256color" "themes-host"
check "default theme: the screen comes up in colour" has_colour "$WORK/escaped"

# A short copy: the warning names the file, and a long source path (make distcheck) would run
# past the screen's width.
cp "$top_srcdir/tests/data/themes/bad_key.theme" "$WORK/bad_key.theme"
run_screen "$utf8 TERM=tmux-256color" "bad_key.theme" --theme "$WORK/bad_key.theme"
check "bad theme file reported as FILE:LINE" shows "bad_key.theme:4"
check "bad theme file: the screen still comes up, in the built-in colours" has_colour "$WORK/escaped"

run_screen "$utf8 TERM=tmux-256color" "not found" --theme no-such-theme
check "unknown theme name says where it looked" shows "theme 'no-such-theme' not found"

run_screen "$utf8 TERM=tmux-256color NO_COLOR=1" "themes-host"
check "NO_COLOR: no colour on the screen" no_colour "$WORK/escaped"
check "NO_COLOR: highlights still visible (reverse video)" has_reverse "$WORK/escaped"

run_screen "$utf8 TERM=tmux-256color" "themes-host" --ascii
check "--ascii: nothing but ASCII on the screen" all_ascii "$WORK/plain"

run_screen "LANG=C LC_ALL=C TERM=tmux-256color" "themes-host"
check "C locale: nothing but ASCII on the screen" all_ascii "$WORK/plain"

ok=1
for t in default light mono high-contrast; do
	run_screen "$utf8 TERM=tmux-256color" "themes-host" --theme "$t"
	if shows "theme" && shows "not found"; then ok=0; fi
	shows "themes-host" || ok=0
done
check "every shipped theme renders without a warning" test $ok = 1

run_screen "$utf8 TERM=tmux-256color SONDE_THEME=mono" "themes-host"
check "SONDE_THEME=mono: no colour, attributes only" no_colour "$WORK/escaped"

# With -n the screen ends by itself: a clean exit, and nothing on stderr (a sanitizer report
# in an --enable-sanitizers build would land there).
run_screen "$utf8 TERM=tmux-256color" "sonde-exited" -n 3 \
	--theme "$top_srcdir/tests/data/themes/bad_color.theme"
check "-n 3 with a bad theme: exits 0, nothing on stderr" \
	sh -c "grep -q 'sonde-exited-0' '$WORK/plain' && [ ! -s '$WORK/err' ]"

exec 3>&-
finish
