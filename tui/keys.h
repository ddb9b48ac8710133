/*
 * keys.h - key bindings as tables (htop's Action tables), never as switches.
 *
 * A binding is one entry {key, label, help, handler}. The UI looks a key up in the tables that
 * apply right now (an overlay such as help or task detail, then the current tab, then the global
 * table) and calls the first handler found. The handler returns reaction flags saying what the
 * UI must do next. The function bar and the help screen are generated from the same tables, so a
 * key that exists is a key that is documented.
 *
 * Several keys for one action (q and F10, ? and F1) are consecutive entries with the same
 * handler and help text: the help screen shows them on one line ("q, F10").
 */
#ifndef SONDE_KEYS_H
#define SONDE_KEYS_H

#include <stddef.h>

struct ui;

/* Reaction flags a key handler returns (or-ed together). */
#define KEYS_HANDLED 0x1u   /* the key was used (even if nothing needs redrawing) */
#define KEYS_REDRAW 0x2u    /* redraw the screen from what the UI already holds */
#define KEYS_REFETCH 0x4u   /* what to ask changed (sort, page, filter); the UI re-declares its
                               requests after every key anyway, so this documents the intent */
#define KEYS_QUIT 0x8u      /* leave the program */

typedef unsigned (*keys_handler_fn)(struct ui *ui, int key);

struct key_binding {
	int key;               /* a character ('M', ' ') or a curses code (KEY_F(1), KEY_UP) */
	const char *label;     /* function-bar label ("Help"); NULL keeps the key out of the bar */
	const char *help;      /* one line for the help screen */
	keys_handler_fn handler;
};

/* A table is an array of bindings ended by an entry whose handler is NULL. */
struct key_table {
	const char *title;                     /* help-screen section title ("Tasks") */
	const struct key_binding *bindings;
};

/* The binding for key in table t, or NULL. */
const struct key_binding *keys_find(const struct key_table *t, int key);

/* Number of bindings in t. */
size_t keys_count(const struct key_table *t);

/* A readable name for a key ("F1", "Enter", "Space", "Up", "PgDn", "^L", "M", "\\") in buf. */
const char *keys_name(int key, char *buf, size_t size);

/* One line of the help screen: the keys that share an action and what it does. */
struct keys_help_line {
	char keys[40];         /* "q, F10" */
	const char *help;
};

/*
 * Fill out[] with t's help lines, merging consecutive bindings that share handler and help.
 * Returns the number of lines t has (which may exceed max; only max are written).
 */
size_t keys_help_lines(const struct key_table *t, struct keys_help_line *out, size_t max);

/*
 * Check a table for mistakes a reviewer would miss: a key bound twice, a binding without help.
 * Returns 0, or -1 with a message naming the table and key in msg.
 */
int keys_check(const struct key_table *t, char *msg, size_t size);

#endif
