/*
 * ui.c - the `sonde` screen's main loop: attach, draw header/tabs/body/function bar, dispatch
 * keys and mouse through the key tables, refresh on a timer (see ui.h).
 *
 * The loop sleeps in poll() on the terminal and on a pipe the fetch thread writes when a reply
 * lands; each wake-up collects replies, declares what the visible view needs, draws into the
 * windows (curses sends only the cells that changed: werase + draw + wnoutrefresh + doupdate)
 * and reads the keys that are waiting. Nothing here blocks on the socket.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "fetch.h"
#include "format.h"
#include "keys.h"
#include "table.h"
#include "tabs.h"
#include "theme.h"
#include "ui.h"

#define UI_MESSAGE_S 4.0        /* how long a note stays in the function bar */

static volatile sig_atomic_t ui_signalled; /* SIGINT/SIGTERM/SIGHUP: leave cleanly */

/* Mouse regions of the tab bar, rebuilt at each draw. */
static struct {
	int x0, x1;                 /* screen columns [x0, x1) */
	int tab;                    /* index in tab_table */
} ui_tab_hits[16];
static size_t ui_ntab_hits;

/* Monotonic seconds. */
static double ui_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Screen cells a string takes: where the next item starts. */
static int ui_cells(const char *s)
{
	return table_text_cells(s);
}

/* Signal handler: only a flag; the loop's poll() returns EINTR and the loop ends normally so
 * the terminal is restored by endwin(). */
static void ui_on_signal(int sig)
{
	(void)sig;
	ui_signalled = 1;
}

/* ---- small helpers shared with the views ------------------------------------------------- */

double ui_num(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A string field of a reply, or def: views never test types one by one. */
const char *ui_str(const json_t *obj, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : def;
}

/* Write text at (y, x) clipped to width cells, in a theme role; never wraps to the next line. */
void ui_put(WINDOW *w, int y, int x, int width, int role, const char *text)
{
	int maxy, maxx;

	getmaxyx(w, maxy, maxx);
	if (y < 0 || y >= maxy || x < 0 || x >= maxx || width <= 0)
		return;
	if (width > maxx - x)
		width = maxx - x;
	/* as many characters as fit in width cells (wide ones count two, none is cut) */
	size_t bytes = table_prefix(text, width, NULL);
	/* Text from the observed program (names, inspect values) may hold control characters: a
	 * newline would wrap the line, an escape reach the terminal. Show them as '?'. */
	char safe[1024];
	if (bytes >= sizeof safe)
		bytes = sizeof safe - 1;
	for (size_t i = 0; i < bytes; i++) {
		unsigned char ch = (unsigned char)text[i];

		safe[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	wattron(w, theme_attr(role));
	mvwaddnstr(w, y, x, safe, (int)bytes);
	wattroff(w, theme_attr(role));
}

/* The header and the System tab share one `system` request. */
const json_t *ui_system(const struct ui *ui)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, "system");

	return r != NULL ? r->result : NULL;
}

/* A short note for the user in the function bar (what a key did, or why not). */
void ui_message(struct ui *ui, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ui->message, sizeof ui->message, fmt, ap);
	va_end(ap);
	ui->message_until = ui_mono_s() + UI_MESSAGE_S;
}

/* What a view shows with no data: waiting, not connected, or the agent's error. */
void ui_draw_waiting(struct ui *ui, WINDOW *w, const char *what, const char *error)
{
	int h, wd;
	char line[400];
	struct fetch_status st;

	getmaxyx(w, h, wd);
	fetch_status(ui->fetch, &st);
	if (error != NULL && error[0] != '\0')
		snprintf(line, sizeof line, "%s: %s", what, error);
	else if (st.state != FETCH_CONNECTED)
		snprintf(line, sizeof line, "no %s yet: not connected to the agent", what);
	else
		snprintf(line, sizeof line, "waiting for %s from the agent...", what);
	int len = (int)strlen(line);
	ui_put(w, h / 2, len < wd ? (wd - len) / 2 : 0, wd,
	       error != NULL && error[0] != '\0' ? TH_WARNING : TH_DIM, line);
}

/* ---- views and overlays ------------------------------------------------------------------ */

const struct tab_entry *ui_view(const struct ui *ui)
{
	if (ui->help_open)
		return &view_help;
	if (ui->detail_id != 0)
		return &view_detail;
	return tab_table[ui->tab];
}

/* Switch tab, telling the old and new tab, and closing overlays (a tab key means "go there"). */
static void ui_select_tab(struct ui *ui, size_t tab)
{
	if (ui->detail_id != 0)
		ui_close_detail(ui);
	ui->help_open = 0;
	if (tab == ui->tab)
		return;
	if (tab_table[ui->tab]->leave != NULL)
		tab_table[ui->tab]->leave(ui);
	ui->tab = tab;
	if (tab_table[tab]->enter != NULL)
		tab_table[tab]->enter(ui);
}

/* Open the task detail over the current tab; the tab keeps its state beneath. */
void ui_open_detail(struct ui *ui, uint64_t id)
{
	ui->help_open = 0;
	ui->detail_id = id;
	if (view_detail.enter != NULL)
		view_detail.enter(ui);
}

/* Back to the tab the detail was opened from. */
void ui_close_detail(struct ui *ui)
{
	if (ui->detail_id != 0 && view_detail.leave != NULL)
		view_detail.leave(ui);
	ui->detail_id = 0;
}

void ui_prompt_open(struct ui *ui, const char *title, const char *initial,
                    unsigned (*changed)(struct ui *ui, const char *text, int done))
{
	struct ui_prompt *p = &ui->prompt;

	p->active = 1;
	p->title = title;
	snprintf(p->text, sizeof p->text, "%s", initial != NULL ? initial : "");
	snprintf(p->saved, sizeof p->saved, "%s", p->text);
	p->len = strlen(p->text);
	p->changed = changed;
}

/* Edit the prompt line: printable characters append, Backspace deletes, Enter accepts, Esc
 * restores what was there before. Every edit is reported at once (live filter and search). */
static unsigned ui_prompt_key(struct ui *ui, int key)
{
	struct ui_prompt *p = &ui->prompt;
	unsigned flags = KEYS_HANDLED | KEYS_REDRAW;

	if (key == '\n' || key == '\r' || key == KEY_ENTER) {
		p->active = 0;
		return flags | p->changed(ui, p->text, 1);
	}
	if (key == 27) {
		p->active = 0;
		snprintf(p->text, sizeof p->text, "%s", p->saved);
		return flags | p->changed(ui, p->text, -1);
	}
	if (key == KEY_BACKSPACE || key == 127 || key == 8) {
		if (p->len == 0)
			return flags;
		do
			p->len--;
		while (p->len > 0 && (p->text[p->len] & 0xC0) == 0x80);
		p->text[p->len] = '\0';
	} else if (key == 21) { /* ^U clears, as in a shell */
		p->len = 0;
		p->text[0] = '\0';
	} else if (key >= 32 && key < 256 && key != 127 && p->len + 1 < sizeof p->text) {
		p->text[p->len++] = (char)key;
		p->text[p->len] = '\0';
	} else {
		return flags;
	}
	return flags | p->changed(ui, p->text, 0);
}

/* ---- global keys ------------------------------------------------------------------------- */

static unsigned ui_key_quit(struct ui *ui, int key)
{
	(void)ui;
	(void)key;
	return KEYS_HANDLED | KEYS_QUIT;
}

/* Help lists the keys of the view it was opened from. */
static unsigned ui_key_help(struct ui *ui, int key)
{
	(void)key;
	ui->help_for = ui_view(ui);
	ui->help_open = 1;
	ui->help_top = 0;
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* A digit selects the tab that carries it (digits are stable, tabs optional). */
static unsigned ui_key_digit(struct ui *ui, int key)
{
	int t = tabs_find_key(key);

	if (t < 0) {
		ui_message(ui, "no tab %c: the tab bar lists the tabs this build has", key);
		return KEYS_HANDLED | KEYS_REDRAW;
	}
	ui_select_tab(ui, (size_t)t);
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

/* Tab / Shift-Tab walk the tab bar, wrapping. */
static unsigned ui_key_next_tab(struct ui *ui, int key)
{
	size_t n = tabs_count();

	ui_select_tab(ui, key == KEY_BTAB ? (ui->tab + n - 1) % n : (ui->tab + 1) % n);
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

/* Pause freezes the figures (no refresh ticks); keys and paging still work. */
static unsigned ui_key_pause(struct ui *ui, int key)
{
	(void)key;
	ui->paused = !ui->paused;
	return KEYS_HANDLED | KEYS_REDRAW | (ui->paused ? 0 : KEYS_REFETCH);
}

/* Refresh interval steps, htop-like: fine near the default, coarse above. */
static unsigned ui_key_interval(struct ui *ui, int key)
{
	static const unsigned steps[] = {100, 200, 500, 1000, 2000, 3000, 5000, 10000};
	size_t n = sizeof steps / sizeof steps[0], i = 0;
	char buf[FMT_SIZE];

	while (i + 1 < n && steps[i] < ui->interval_ms)
		i++;
	if (key == '+' && steps[i] <= ui->interval_ms && i + 1 < n)
		i++;
	else if (key == '-' && i > 0 && steps[i] >= ui->interval_ms)
		i--;
	ui->interval_ms = steps[i];
	ui_message(ui, "refresh every %s", fmt_duration(buf, sizeof buf, ui->interval_ms / 1e3));
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* ^L: repaint every cell, for a terminal something else scribbled on. */
static unsigned ui_key_redraw(struct ui *ui, int key)
{
	(void)key;
	ui->force_clear = 1;
	return KEYS_HANDLED | KEYS_REDRAW;
}

static const struct key_binding ui_global_bindings[] = {
	{KEY_F(1), "Help", "show the keys of this screen", ui_key_help},
	{'?', NULL, "show the keys of this screen", ui_key_help},
	{'1', NULL, "go to the tab with that number in the tab bar", ui_key_digit},
	{'2', NULL, "go to the tab with that number in the tab bar", ui_key_digit},
	{'3', NULL, "go to the tab with that number in the tab bar", ui_key_digit},
	{'4', NULL, "go to the tab with that number in the tab bar", ui_key_digit},
	{'5', NULL, "go to the tab with that number in the tab bar", ui_key_digit},
	{'6', NULL, "go to the tab with that number in the tab bar", ui_key_digit},
	{'7', NULL, "go to the tab with that number in the tab bar", ui_key_digit},
	{'8', NULL, "go to the tab with that number in the tab bar", ui_key_digit},
	{'9', NULL, "go to the tab with that number in the tab bar", ui_key_digit},
	{'\t', NULL, "next tab", ui_key_next_tab},
	{KEY_BTAB, NULL, "previous tab", ui_key_next_tab},
	{' ', "Pause", "pause/resume refreshing (the screen keeps answering keys)", ui_key_pause},
	{'Z', NULL, "pause/resume refreshing (the screen keeps answering keys)", ui_key_pause},
	{'+', NULL, "refresh less often (slower interval)", ui_key_interval},
	{'-', NULL, "refresh more often (faster interval)", ui_key_interval},
	{12, NULL, "redraw the whole screen", ui_key_redraw},
	{'q', NULL, "quit", ui_key_quit},
	{KEY_F(10), "Quit", "quit", ui_key_quit},
	{0, NULL, NULL, NULL},
};

const struct key_table ui_global_keys = {"Everywhere", ui_global_bindings};

/* ---- help view --------------------------------------------------------------------------- */

#define UI_HELP_MAX 96

/* The help screen's lines: the view's own keys, then the global keys it does not take over. */
static size_t ui_help_collect(const struct ui *ui, struct keys_help_line *lines,
                              const char **titles, size_t max)
{
	const struct tab_entry *v = ui->help_for != NULL ? ui->help_for : tab_table[ui->tab];
	size_t n = 0;

	if (v->keys != NULL) {
		size_t got = keys_help_lines(v->keys, lines, max);

		for (size_t i = 0; i < got && i < max; i++)
			titles[i] = i == 0 ? v->keys->title : NULL;
		n = got < max ? got : max;
	}
	/* Global keys, skipping those the view binds itself (they mean the view's thing there). */
	struct key_binding kept[sizeof ui_global_bindings / sizeof ui_global_bindings[0]];
	size_t k = 0;
	for (const struct key_binding *b = ui_global_bindings; b->handler != NULL; b++)
		if (keys_find(v->keys, b->key) == NULL)
			kept[k++] = *b;
	kept[k] = (struct key_binding){0, NULL, NULL, NULL};
	struct key_table global = {ui_global_keys.title, kept};
	size_t got = keys_help_lines(&global, lines + n, max - n);
	for (size_t i = 0; i < got && n + i < max; i++)
		titles[n + i] = i == 0 ? global.title : NULL;
	n += got < max - n ? got : max - n;
	return n;
}

/* The help screen: generated from the key tables, so it cannot go stale. */
static void ui_help_draw(struct ui *ui, WINDOW *w, int height, int width)
{
	struct keys_help_line lines[UI_HELP_MAX];
	const char *titles[UI_HELP_MAX];
	size_t n = ui_help_collect(ui, lines, titles, UI_HELP_MAX);
	int y = 0, row = 0;
	char buf[300];

	ui_put(w, y++, 1, width - 2, TH_HEADER,
	       "Keys - Esc or q closes this help; Up/Down/PgUp/PgDn scroll");
	for (size_t i = 0; i < n; i++) {
		if (titles[i] != NULL) {
			if (row++ >= ui->help_top && y < height)
				ui_put(w, y++, 1, width - 2, TH_TABLE_HEADER, titles[i]);
		}
		if (row++ < ui->help_top || y >= height)
			continue;
		ui_put(w, y, 3, 16, TH_FUNCBAR_KEY, lines[i].keys);
		snprintf(buf, sizeof buf, "%s", lines[i].help);
		ui_put(w, y, 20, width - 21, TH_DEFAULT, buf);
		y++;
	}
	if (y < height && row >= ui->help_top)
		ui_put(w, y + (y + 1 < height), 1, width - 2, TH_DIM,
		       "Mouse: click a tab, a row or a column header (sorts); the wheel scrolls.");
}

/* Any key the help does not use closes it. */
static unsigned ui_help_close(struct ui *ui, int key)
{
	(void)key;
	ui->help_open = 0;
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* Scroll a help longer than the screen. */
static unsigned ui_help_scroll(struct ui *ui, int key)
{
	int step = key == KEY_NPAGE || key == KEY_PPAGE ? ui->body_h - 2 : 1;

	if (key == KEY_UP || key == KEY_PPAGE)
		ui->help_top -= step;
	else
		ui->help_top += step;
	if (ui->help_top > UI_HELP_MAX - 3)
		ui->help_top = UI_HELP_MAX - 3;
	if (ui->help_top < 0)
		ui->help_top = 0;
	return KEYS_HANDLED | KEYS_REDRAW;
}

static const struct key_binding ui_help_bindings[] = {
	{27, "Close", "close the help", ui_help_close},
	{'q', NULL, "close the help", ui_help_close},
	{'?', NULL, "close the help", ui_help_close},
	{KEY_F(1), NULL, "close the help", ui_help_close},
	{KEY_UP, NULL, "scroll", ui_help_scroll},
	{KEY_DOWN, NULL, "scroll", ui_help_scroll},
	{KEY_PPAGE, NULL, "scroll", ui_help_scroll},
	{KEY_NPAGE, NULL, "scroll", ui_help_scroll},
	{0, NULL, NULL, NULL},
};

static const struct key_table ui_help_keys = {"Help", ui_help_bindings};

const struct tab_entry view_help = {
	.name = "Help",
	.key = 0,
	.draw = ui_help_draw,
	.keys = &ui_help_keys,
};

/* ---- drawing ----------------------------------------------------------------------------- */

/* The header: who we watch and whether the figures are live. */
static void ui_draw_header(struct ui *ui)
{
	WINDOW *w = ui->win_header;
	struct fetch_status st;
	const json_t *sys = ui_system(ui);
	const struct fetch_reply *r = fetch_get(ui->fetch, "system");
	char buf[400], up[FMT_SIZE], iv[FMT_SIZE], when[16];
	int x = 0, width = ui->cols;

	fetch_status(ui->fetch, &st);
	wattron(w, theme_attr(TH_HEADER));
	mvwhline(w, 0, 0, ' ', width);
	wattroff(w, theme_attr(TH_HEADER));

	double uptime = ui_num(json_object_get(sys, "process"), "uptime_s");
	if (!isnan(uptime) && st.state == FETCH_CONNECTED && r != NULL)
		uptime += ui->now_s - r->at_s;
	snprintf(buf, sizeof buf, " sonde %s  pid %ld  up %s ",
	         st.name[0] != '\0' ? st.name : "?", (long)st.pid,
	         isnan(uptime) ? "-" : fmt_duration(up, sizeof up, uptime));
	ui_put(w, 0, x, width - x, TH_HEADER, buf);
	x += ui_cells(buf);

	time_t since = (time_t)st.since_s;
	struct tm tm;
	localtime_r(&since, &tm);
	strftime(when, sizeof when, "%H:%M:%S", &tm);
	switch (st.state) {
	case FETCH_CONNECTED:
		snprintf(buf, sizeof buf, " %s connected ", theme_ascii() ? "*" : "●");
		ui_put(w, 0, x, width - x, TH_OK, buf);
		break;
	case FETCH_CONNECTING:
		snprintf(buf, sizeof buf, " connecting... ");
		ui_put(w, 0, x, width - x, TH_WARNING, buf);
		break;
	case FETCH_DISCONNECTED: /* narrow screens keep the interval and PAUSED visible */
		if (ui->cols >= 100)
			snprintf(buf, sizeof buf, " %s disconnected since %s, retrying (%u) ",
			         theme_ascii() ? "x" : "✖", when, st.attempts);
		else
			snprintf(buf, sizeof buf, " %s disconnected since %s ", theme_ascii() ? "x" : "✖",
			         when);
		ui_put(w, 0, x, width - x, TH_CRITICAL, buf);
		break;
	}
	x += ui_cells(buf);
	snprintf(buf, sizeof buf, " every %s ", fmt_duration(iv, sizeof iv, ui->interval_ms / 1e3));
	ui_put(w, 0, x, width - x, TH_HEADER, buf);
	x += ui_cells(buf);
	if (ui->paused)
		ui_put(w, 0, x, width - x, TH_WARNING, " PAUSED ");
}

/* The tab bar, remembering where each tab is for mouse clicks. */
static void ui_draw_tabs(struct ui *ui)
{
	WINDOW *w = ui->win_tabs;
	int x = 0;
	char buf[64];

	wattron(w, theme_attr(TH_TAB));
	mvwhline(w, 0, 0, ' ', ui->cols);
	wattroff(w, theme_attr(TH_TAB));
	ui_ntab_hits = 0;
	for (size_t i = 0; tab_table[i] != NULL; i++) {
		int active = i == ui->tab && !ui->help_open && ui->detail_id == 0;

		snprintf(buf, sizeof buf, " %c %s ", tab_table[i]->key, tab_table[i]->name);
		ui_put(w, 0, x, ui->cols - x, active ? TH_TAB_ACTIVE : TH_TAB, buf);
		if (ui_ntab_hits < sizeof ui_tab_hits / sizeof ui_tab_hits[0]) {
			ui_tab_hits[ui_ntab_hits].x0 = x;
			ui_tab_hits[ui_ntab_hits].x1 = x + ui_cells(buf);
			ui_tab_hits[ui_ntab_hits].tab = (int)i;
			ui_ntab_hits++;
		}
		x += ui_cells(buf) + 1;
	}
	if (ui->help_open || ui->detail_id != 0) {
		if (ui->help_open)
			snprintf(buf, sizeof buf, " Help ");
		else
			snprintf(buf, sizeof buf, " Task #%llu ", (unsigned long long)ui->detail_id);
		ui_put(w, 0, x, ui->cols - x, TH_TAB_ACTIVE, buf);
	}
}

/* One "KEY Label" pair of the function bar; returns the new x. */
static int ui_funcbar_item(WINDOW *w, int x, int width, int key, const char *label)
{
	char name[24];

	keys_name(key, name, sizeof name);
	if (x + (int)strlen(name) + (int)strlen(label) + 1 > width)
		return width;
	ui_put(w, 0, x, width - x, TH_FUNCBAR_KEY, name);
	x += (int)strlen(name);
	ui_put(w, 0, x, width - x, TH_FUNCBAR_LABEL, label);
	return x + (int)strlen(label) + 1;
}

/* The function bar: a prompt, a note, or the keys of the view (with labels) then global ones. */
static void ui_draw_funcbar(struct ui *ui)
{
	WINDOW *w = ui->win_funcbar;
	const struct tab_entry *v = ui_view(ui);
	int x = 0, width = ui->cols;
	char buf[300];

	wattron(w, theme_attr(TH_FUNCBAR_LABEL));
	mvwhline(w, 0, 0, ' ', width);
	wattroff(w, theme_attr(TH_FUNCBAR_LABEL));
	if (ui->prompt.active) {
		ui_put(w, 0, 0, width, TH_FUNCBAR_KEY, ui->prompt.title);
		x = (int)strlen(ui->prompt.title);
		ui_put(w, 0, x, width - x, TH_DEFAULT, ui->prompt.text);
		x += (int)strlen(ui->prompt.text);
		ui_put(w, 0, x, width - x, TH_SELECTED, " ");
		ui_put(w, 0, x + 2, width - x - 2, TH_DIM, "Enter: keep  Esc: cancel");
		return;
	}
	if (ui->message[0] != '\0' && ui->now_s < ui->message_until) {
		ui_put(w, 0, 0, width, TH_WARNING, ui->message);
		return;
	}
	if (v->keys != NULL)
		for (const struct key_binding *b = v->keys->bindings; b->handler != NULL; b++)
			if (b->label != NULL)
				x = ui_funcbar_item(w, x, width, b->key, b->label);
	for (const struct key_binding *b = ui_global_bindings; b->handler != NULL; b++)
		if (b->label != NULL && keys_find(v->keys, b->key) == NULL)
			x = ui_funcbar_item(w, x, width, b->key, b->label);
	if (v->status != NULL && x < width - 4) {
		v->status(ui, buf, sizeof buf);
		int len = ui_cells(buf);
		ui_put(w, 0, len < width - x ? width - len : x, width - x, TH_DIM, buf);
	}
}

/* (Re)create the windows for the current terminal size. */
static void ui_layout(struct ui *ui)
{
	WINDOW **wins[] = {&ui->win_header, &ui->win_tabs, &ui->win_body, &ui->win_funcbar};

	for (size_t i = 0; i < sizeof wins / sizeof wins[0]; i++)
		if (*wins[i] != NULL) {
			delwin(*wins[i]);
			*wins[i] = NULL;
		}
	getmaxyx(stdscr, ui->rows, ui->cols);
	ui->body_y = 2;
	ui->body_h = ui->rows - 3;
	if (ui->rows < UI_MIN_ROWS || ui->cols < UI_MIN_COLS)
		return;
	ui->win_header = newwin(1, ui->cols, 0, 0);
	ui->win_tabs = newwin(1, ui->cols, 1, 0);
	ui->win_body = newwin(ui->body_h, ui->cols, ui->body_y, 0);
	ui->win_funcbar = newwin(1, ui->cols, ui->rows - 1, 0);
}

/* Draw one frame; curses sends only the cells that differ from what the terminal shows. */
static void ui_draw(struct ui *ui)
{
	if (ui->force_clear) {
		clearok(curscr, TRUE);
		ui->force_clear = 0;
	}
	if (ui->win_body == NULL) {
		char buf[120];

		werase(stdscr);
		snprintf(buf, sizeof buf, "terminal too small: %dx%d, sonde needs %dx%d", ui->cols,
		         ui->rows, UI_MIN_COLS, UI_MIN_ROWS);
		mvaddnstr(ui->rows / 2, 0, buf, ui->cols);
		mvaddnstr(ui->rows / 2 + 1, 0, "q quits", ui->cols);
		wnoutrefresh(stdscr);
		doupdate();
		return;
	}
	werase(ui->win_header);
	werase(ui->win_tabs);
	werase(ui->win_body);
	werase(ui->win_funcbar);
	ui_draw_header(ui);
	ui_draw_tabs(ui);
	ui_view(ui)->draw(ui, ui->win_body, ui->body_h, ui->cols);
	ui_draw_funcbar(ui);
	wnoutrefresh(ui->win_header);
	wnoutrefresh(ui->win_tabs);
	wnoutrefresh(ui->win_body);
	wnoutrefresh(ui->win_funcbar);
	doupdate();
}

/* ---- input ------------------------------------------------------------------------------- */

/* A mouse event: tab bar clicks switch tabs, body events go to the view, the wheel scrolls. */
static unsigned ui_mouse(struct ui *ui)
{
	MEVENT ev;
	const struct tab_entry *v = ui_view(ui);

	if (getmouse(&ev) != OK)
		return 0;
	if (ev.y == 1 && (ev.bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED))) {
		for (size_t i = 0; i < ui_ntab_hits; i++)
			if (ev.x >= ui_tab_hits[i].x0 && ev.x < ui_tab_hits[i].x1) {
				ui_select_tab(ui, (size_t)ui_tab_hits[i].tab);
				return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
			}
		return 0;
	}
	if (ev.y >= ui->body_y && ev.y < ui->body_y + ui->body_h && v->mouse != NULL)
		return v->mouse(ui, ev.y - ui->body_y, ev.x, (unsigned long)ev.bstate);
	if (ev.bstate & (BUTTON4_PRESSED | BUTTON5_PRESSED)) {
		/* A view without mouse support still scrolls with the wheel, as arrow keys. */
		int key = (ev.bstate & BUTTON4_PRESSED) ? KEY_UP : KEY_DOWN;
		const struct key_binding *b = keys_find(v->keys, key);

		return b != NULL ? b->handler(ui, key) : 0;
	}
	return 0;
}

/* One key: the prompt takes everything while open; then the view's table, then the global
 * one (help takes any key it does not bind as "close"). */
static unsigned ui_key(struct ui *ui, int key)
{
	const struct tab_entry *v = ui_view(ui);
	const struct key_binding *b;

	if (key == KEY_RESIZE) {
		ui_layout(ui);
		ui->force_clear = 1;
		return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH; /* page sizes changed */
	}
	if (ui->win_body == NULL) /* too small: only quitting makes sense */
		return key == 'q' || key == KEY_F(10) ? KEYS_QUIT : 0;
	if (ui->prompt.active)
		return ui_prompt_key(ui, key);
	if (key == KEY_MOUSE)
		return ui_mouse(ui);
	b = keys_find(v->keys, key);
	if (b == NULL && ui->help_open)
		return ui_help_close(ui, key);
	if (b == NULL)
		b = keys_find(&ui_global_keys, key);
	if (b == NULL)
		return 0;
	return b->handler(ui, key);
}

/* ---- attach ------------------------------------------------------------------------------ */

/* Which socket to watch: -s PATH, -p PID, the only live agent, or one the user picks.
 * Returns 0 with path set, 1 when the user quit the picker, or the exit code 3 (message
 * printed) when there is nothing to attach to. Runs before curses starts, except the picker. */
static int ui_target(const struct ui_options *opts, char *path, size_t size)
{
	char *cause = NULL;
	struct agent_ref *refs = NULL;
	size_t n = 0;
	int pick;

	if (opts->socket_path != NULL) {
		snprintf(path, size, "%s", opts->socket_path);
		return 0;
	}
	if (opts->pid > 0) {
		if (client_path_for_pid(opts->pid, path, size, &cause) != 0) {
			fprintf(stderr, "sonde: %s\n", cause);
			free(cause);
			return 3;
		}
		return 0;
	}
	if (client_discover(&refs, &n, &cause) != 0) {
		fprintf(stderr, "sonde: %s\n", cause);
		free(cause);
		return 3;
	}
	if (n == 0) {
		free(refs);
		fprintf(stderr, "sonde: no live agent found: start a service linked with libsonde, or "
		                "run a program under `sonde run -- PROGRAM` (try examples/sonde-demo)\n");
		return 3;
	}
	if (n == 1) {
		snprintf(path, size, "%s", refs[0].path);
		free(refs);
		return 0;
	}
	pick = picker_choose(refs, n);
	if (pick >= 0)
		snprintf(path, size, "%s", refs[pick].path);
	free(refs);
	return pick >= 0 ? 0 : 1;
}

/* Curses set-up shared by the picker and the main screen. */
static void ui_curses_start(const struct ui_options *opts, char **theme_warning)
{
	initscr();
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
	}
	theme_init(opts->theme, 0, theme_warning);
	if (opts->ascii)
		theme_set_ascii(1);
	mousemask(ALL_MOUSE_EVENTS, NULL);
	mouseinterval(0);
}

/* Handle SIGINT/SIGTERM/SIGHUP by ending the loop, so the terminal is always restored. */
static void ui_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = ui_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ---- the loop ---------------------------------------------------------------------------- */

/* Declare what the header and the visible view need; force re-asks everything (a tick). On
 * the very first frame every tab declares its wants once, so that the first visit to a tab
 * draws at once (the agent may need a while for a tree of a million tasks) and is refreshed
 * from there. */
static void ui_plan(struct ui *ui, int force)
{
	const struct tab_entry *v = ui_view(ui);

	fetch_begin(ui->fetch);
	fetch_want(ui->fetch, "system", "system", NULL);
	if (ui->refreshes == 1 && force) {
		fetch_prefetch(ui->fetch, 1);
		for (size_t i = 0; tab_table[i] != NULL; i++)
			if (tab_table[i] != v && tab_table[i]->fetch != NULL)
				tab_table[i]->fetch(ui);
		fetch_prefetch(ui->fetch, 0);
	}
	if (ui->help_open && ui->help_for != NULL && ui->help_for->fetch != NULL)
		ui->help_for->fetch(ui); /* keep the view under the help fresh */
	else if (v->fetch != NULL)
		v->fetch(ui);
	fetch_commit(ui->fetch, force);
}

/* See ui.h: attach, then loop until quit, -n or a signal; the terminal is always restored. */
int ui_run(const struct ui_options *opts)
{
	struct ui ui;
	char path[108], *cause = NULL, *theme_warning = NULL;
	struct client *c;
	int wake[2], rc, curses_up = 0;
	double next_tick;

	setlocale(LC_ALL, "");
	memset(&ui, 0, sizeof ui);
	ui.opts = opts;
	ui.interval_ms = opts->interval_ms != 0 ? opts->interval_ms : 1000;
	if (ui.interval_ms < UI_INTERVAL_MIN_MS)
		ui.interval_ms = UI_INTERVAL_MIN_MS;
	if (ui.interval_ms > UI_INTERVAL_MAX_MS)
		ui.interval_ms = UI_INTERVAL_MAX_MS;

	if (opts->socket_path == NULL && opts->pid <= 0) {
		/* Discovery may need the picker, which needs curses. */
		struct agent_ref *refs = NULL;
		size_t n = 0;

		if (client_discover(&refs, &n, NULL) == 0 && n > 1) {
			ui_curses_start(opts, &theme_warning);
			curses_up = 1;
		}
		free(refs);
	}
	rc = ui_target(opts, path, sizeof path);
	if (rc != 0) {
		if (curses_up)
			endwin();
		free(theme_warning);
		return rc == 1 ? 0 : rc;
	}
	c = client_connect(path, FETCH_CONNECT_TIMEOUT_MS, &cause);
	if (c == NULL) {
		if (curses_up)
			endwin();
		fprintf(stderr, "sonde: %s\n", cause != NULL ? cause : "cannot connect");
		free(cause);
		free(theme_warning);
		return 3;
	}
	if (pipe(wake) != 0) {
		if (curses_up)
			endwin();
		perror("sonde: pipe");
		client_close(c);
		free(theme_warning);
		return 1;
	}
	fcntl(wake[0], F_SETFL, O_NONBLOCK);
	fcntl(wake[1], F_SETFL, O_NONBLOCK);
	fcntl(wake[0], F_SETFD, FD_CLOEXEC);
	fcntl(wake[1], F_SETFD, FD_CLOEXEC);
	ui.fetch = fetch_start(path, c, wake[1], &cause);
	if (ui.fetch == NULL) {
		if (curses_up)
			endwin();
		fprintf(stderr, "sonde: %s\n", cause);
		free(cause);
		free(theme_warning);
		return 1;
	}

	ui_signals();
	if (!curses_up)
		ui_curses_start(opts, &theme_warning);
	if (theme_warning != NULL) {
		ui_message(&ui, "%s", theme_warning);
		free(theme_warning);
	}
	ui.tab = (size_t)(tabs_find_key('4') >= 0 ? tabs_find_key('4') : 0);
	if (tab_table[ui.tab]->enter != NULL)
		tab_table[ui.tab]->enter(&ui);
	ui_layout(&ui);
	ui.now_s = ui_mono_s();
	next_tick = ui.now_s;

	while (!ui.quit && !ui_signalled) {
		int force = 0, key, timeout_ms;
		struct pollfd pfd[2] = {{.fd = 0, .events = POLLIN}, {.fd = wake[0], .events = POLLIN}};
		char drain[64];

		ui.now_s = ui_mono_s();
		if (ui.now_s >= next_tick) {
			if (opts->iterations > 0 && ui.refreshes >= (unsigned long)opts->iterations)
				break;
			ui.refreshes++;
			force = !ui.paused;
			next_tick = ui.now_s + ui.interval_ms / 1e3;
		}
		fetch_collect(ui.fetch);
		ui_plan(&ui, force);
		ui_draw(&ui);

		timeout_ms = (int)((next_tick - ui_mono_s()) * 1e3) + 1;
		if (timeout_ms < 0)
			timeout_ms = 0;
		if (timeout_ms > 1000) /* the header's clocks move every second */
			timeout_ms = 1000;
		if (poll(pfd, 2, timeout_ms) < 0 && errno != EINTR)
			break;
		while (read(wake[0], drain, sizeof drain) > 0)
			;
		nodelay(stdscr, TRUE);
		while ((key = getch()) != ERR) {
			unsigned flags = ui_key(&ui, key);

			if (flags & KEYS_QUIT)
				ui.quit = 1;
			/* Draw after every key so a burst of keys is still seen one by one. */
			ui.now_s = ui_mono_s();
			fetch_collect(ui.fetch);
			ui_plan(&ui, 0);
			if (!ui.quit)
				ui_draw(&ui);
		}
	}

	endwin();
	if (fetch_stop(ui.fetch) == 0) { /* else the thread may still write to wake[1] */
		close(wake[0]);
		close(wake[1]);
	}
	for (size_t i = 0; i < 4; i++) {
		WINDOW *w = i == 0 ? ui.win_header : i == 1 ? ui.win_tabs : i == 2 ? ui.win_body
		                                                                   : ui.win_funcbar;
		if (w != NULL)
			delwin(w);
	}
	return 0;
}
