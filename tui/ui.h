/*
 * ui.h - the `sonde` screen: entry point for tui/main.c, and the UI state tabs may read.
 *
 * The screen is four curses windows: a header (target, pid, uptime, connection, interval,
 * PAUSED), the tab bar, the body (the current tab, or an overlay view: task detail or help) and
 * the function bar (keys, prompts, messages). The UI thread owns all of it; data comes from the
 * fetch thread (fetch.h), so a slow agent never freezes a key press.
 */
#ifndef SONDE_UI_H
#define SONDE_UI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <curses.h>
#include <jansson.h>

struct fetch;
struct tab_entry;
struct ui;

struct ui_options {
	const char *socket_path;  /* NULL: discover */
	pid_t pid;                /* 0: none */
	unsigned interval_ms;     /* refresh, default 1000 */
	long iterations;          /* -n: exit after N refreshes, 0 = forever */
	const char *theme;        /* NULL: $SONDE_THEME or "default" */
	int ascii;
};

/* Run the TUI until the user quits (or -n refreshes are done). Returns the process exit code:
 * 0 ok, 3 no agent reachable (message on stderr), 1 the terminal could not be used. */
int ui_run(const struct ui_options *opts);

#define UI_INTERVAL_MIN_MS 100
#define UI_INTERVAL_MAX_MS 10000
#define UI_MIN_COLS 40            /* below this (or UI_MIN_ROWS) the screen says "too small" */
#define UI_MIN_ROWS 10

/* A one-line text prompt in the function bar (filter, search). */
struct ui_prompt {
	int active;
	const char *title;        /* "Filter: " */
	char text[128];
	size_t len;
	char saved[128];          /* the value before the prompt opened, restored by Esc */
	/* called after every edit (live filter/search) and at the end; done: 1 Enter, -1 Esc */
	unsigned (*changed)(struct ui *ui, const char *text, int done);
};

struct ui {
	const struct ui_options *opts;
	struct fetch *fetch;
	unsigned interval_ms;     /* the refresh interval now (+/- change it) */
	int paused;
	int quit;
	double now_s;             /* monotonic seconds at the start of this frame */
	int rows, cols;           /* terminal size */
	int body_y, body_h;       /* the body's first screen row and its height */
	size_t tab;               /* index into tab_table */
	uint64_t detail_id;       /* task detail open on this id (0: closed) */
	int help_open;
	const struct tab_entry *help_for; /* the view whose keys the help screen lists */
	int help_top;             /* help screen scroll */
	struct ui_prompt prompt;
	char message[240];        /* a transient note in the function bar */
	double message_until;
	unsigned long refreshes;  /* refresh ticks so far */
	int force_clear;          /* redraw every cell on the next frame (^L, resize) */
	WINDOW *win_header, *win_tabs, *win_body, *win_funcbar;
};

/* The keys that work everywhere (digits, Tab, ?, q, space, +/-); a view's own table is
 * searched first. */
struct key_table;
extern const struct key_table ui_global_keys;

/* The view the body shows now: help, task detail, or the current tab. */
const struct tab_entry *ui_view(const struct ui *ui);

/* Show a note in the function bar for a few seconds. */
void ui_message(struct ui *ui, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Open the prompt (filter/search) with an initial text. */
void ui_prompt_open(struct ui *ui, const char *title, const char *initial,
                    unsigned (*changed)(struct ui *ui, const char *text, int done));

/* Open the task detail view on id (from the Tasks or Tree tab); Esc returns. */
void ui_open_detail(struct ui *ui, uint64_t id);
void ui_close_detail(struct ui *ui);

/* Draw a centred "waiting for the agent" or error note when a view has no data to show. */
void ui_draw_waiting(struct ui *ui, WINDOW *w, const char *what, const char *error);

/* The `system` reply (the header always asks for it), or NULL. */
const json_t *ui_system(const struct ui *ui);

/* JSON helpers for views: a number (integer or real) or NAN; a string or def. */
double ui_num(const json_t *obj, const char *key);
const char *ui_str(const json_t *obj, const char *key, const char *def);

/* Put a string at (y, x) cut to width cells (no wrap), with a theme role. */
void ui_put(WINDOW *w, int y, int x, int width, int role, const char *text);

/* picker.c: let the user pick one of several live agents (curses must be up). Returns the
 * index chosen, or -1 when the user quit. */
struct agent_ref;
int picker_choose(const struct agent_ref *refs, size_t n);

#endif
