/*
 * picker.c - several agents are live and none was named: let the user pick one (name, pid,
 * uptime, socket), htop-style: arrows and Enter, a click, or the row's digit; q or Esc quits.
 */
#include "config.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "format.h"
#include "keys.h"
#include "theme.h"
#include "ui.h"

/* The picker runs before the UI exists: its key handlers get ui = NULL and use this state. */
struct picker {
	size_t n, sel;
	int chosen;               /* index, -1 quit, -2 still choosing */
};

static struct picker picker;

/* Move the selection in the pick list. */
static unsigned picker_key_up(struct ui *ui, int key)
{
	(void)ui, (void)key;
	if (picker.sel > 0)
		picker.sel--;
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* Move the selection in the pick list. */
static unsigned picker_key_down(struct ui *ui, int key)
{
	(void)ui, (void)key;
	if (picker.sel + 1 < picker.n)
		picker.sel++;
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* Enter attaches to the selected agent. */
static unsigned picker_key_choose(struct ui *ui, int key)
{
	(void)ui, (void)key;
	picker.chosen = (int)picker.sel;
	return KEYS_HANDLED;
}

/* A row's digit attaches to it directly. */
static unsigned picker_key_digit(struct ui *ui, int key)
{
	(void)ui;
	if ((size_t)(key - '1') < picker.n)
		picker.chosen = key - '1';
	return KEYS_HANDLED;
}

/* q / Esc / F10: leave without attaching. */
static unsigned picker_key_quit(struct ui *ui, int key)
{
	(void)ui, (void)key;
	picker.chosen = -1;
	return KEYS_HANDLED | KEYS_QUIT;
}

static const struct key_binding picker_bindings[] = {
	{KEY_UP, NULL, "previous agent", picker_key_up},
	{KEY_DOWN, NULL, "next agent", picker_key_down},
	{'\r', NULL, "attach to the selected agent", picker_key_choose},
	{'\n', NULL, "attach to the selected agent", picker_key_choose},
	{KEY_ENTER, NULL, "attach to the selected agent", picker_key_choose},
	{'1', NULL, "attach to agent 1..9", picker_key_digit},
	{'2', NULL, "attach to agent 1..9", picker_key_digit},
	{'3', NULL, "attach to agent 1..9", picker_key_digit},
	{'4', NULL, "attach to agent 1..9", picker_key_digit},
	{'5', NULL, "attach to agent 1..9", picker_key_digit},
	{'6', NULL, "attach to agent 1..9", picker_key_digit},
	{'7', NULL, "attach to agent 1..9", picker_key_digit},
	{'8', NULL, "attach to agent 1..9", picker_key_digit},
	{'9', NULL, "attach to agent 1..9", picker_key_digit},
	{'q', NULL, "quit", picker_key_quit},
	{27, NULL, "quit", picker_key_quit},
	{KEY_F(10), NULL, "quit", picker_key_quit},
	{0, NULL, NULL, NULL},
};

static const struct key_table picker_keys = {"Pick an agent", picker_bindings};

/* One row per live agent: number, name, pid, uptime, socket. */
static void picker_draw(const struct agent_ref *refs, size_t n)
{
	int rows, cols;
	char line[300], up[FMT_SIZE];

	getmaxyx(stdscr, rows, cols);
	werase(stdscr);
	ui_put(stdscr, 0, 0, cols, TH_HEADER, " sonde: several agents are live - pick one");
	snprintf(line, sizeof line, "   %-3s %-24s %8s %9s  %s", "#", "NAME", "PID", "UPTIME",
	         "SOCKET");
	ui_put(stdscr, 2, 0, cols, TH_TABLE_HEADER, line);
	for (size_t i = 0; i < n && (int)i + 3 < rows - 1; i++) {
		snprintf(line, sizeof line, "   %-3zu %-24.24s %8ld %9s  %s", i + 1, refs[i].name,
		         (long)refs[i].pid,
		         refs[i].uptime_s >= 0 ? fmt_duration(up, sizeof up, refs[i].uptime_s) : "?",
		         refs[i].path);
		ui_put(stdscr, (int)i + 3, 0, cols, i == picker.sel ? TH_SELECTED : TH_DEFAULT, line);
	}
	ui_put(stdscr, rows - 1, 0, cols, TH_FUNCBAR_LABEL,
	       "Up/Down select  Enter attach  1-9 attach to that row  q quit");
	wnoutrefresh(stdscr);
	doupdate();
}

/* See ui.h. Curses is up; returns with it still up. */
int picker_choose(const struct agent_ref *refs, size_t n)
{
	picker.n = n;
	picker.sel = 0;
	picker.chosen = -2;
	nodelay(stdscr, FALSE);
	while (picker.chosen == -2) {
		const struct key_binding *b;
		int key;

		picker_draw(refs, n);
		key = getch();
		if (key == KEY_MOUSE) {
			MEVENT ev;

			if (getmouse(&ev) == OK && (ev.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED)) &&
			    ev.y >= 3 && (size_t)(ev.y - 3) < n) {
				if (picker.sel == (size_t)(ev.y - 3))
					picker.chosen = (int)picker.sel;
				picker.sel = (size_t)(ev.y - 3);
			}
			continue;
		}
		b = keys_find(&picker_keys, key);
		if (b != NULL)
			b->handler(NULL, key);
	}
	return picker.chosen;
}
