/*
 * keys.c - lookup, naming and help text for key binding tables (see keys.h).
 */
#include "config.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"

/* Find the binding for a key; tables are short (tens of entries), a scan is the clear way. */
const struct key_binding *keys_find(const struct key_table *t, int key)
{
	if (t == NULL)
		return NULL;
	for (const struct key_binding *b = t->bindings; b->handler != NULL; b++)
		if (b->key == key)
			return b;
	return NULL;
}

/* Count a table's bindings, for tests and for sizing the help screen. */
size_t keys_count(const struct key_table *t)
{
	size_t n = 0;

	if (t == NULL)
		return 0;
	while (t->bindings[n].handler != NULL)
		n++;
	return n;
}

/* Name a key the way htop's help and function bar do, so help text never shows raw codes. */
const char *keys_name(int key, char *buf, size_t size)
{
	static const struct {
		int key;
		const char *name;
	} named[] = {
		{KEY_UP, "Up"}, {KEY_DOWN, "Down"}, {KEY_LEFT, "Left"}, {KEY_RIGHT, "Right"},
		{KEY_PPAGE, "PgUp"}, {KEY_NPAGE, "PgDn"}, {KEY_HOME, "Home"}, {KEY_END, "End"},
		{KEY_ENTER, "Enter"}, {'\n', "Enter"}, {'\r', "Enter"}, {' ', "Space"},
		{'\t', "Tab"}, {KEY_BTAB, "Shift-Tab"}, {27, "Esc"}, {KEY_BACKSPACE, "Backspace"},
		{127, "Backspace"}, {KEY_DC, "Delete"}, {KEY_IC, "Insert"}, {KEY_MOUSE, "Mouse"},
		{KEY_RESIZE, "Resize"},
	};

	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
		if (named[i].key == key) {
			snprintf(buf, size, "%s", named[i].name);
			return buf;
		}
	if (key >= KEY_F(1) && key <= KEY_F(24))
		snprintf(buf, size, "F%d", key - KEY_F(0));
	else if (key >= 1 && key <= 26)
		snprintf(buf, size, "^%c", 'A' + key - 1);
	else if (key > 32 && key < 127)
		snprintf(buf, size, "%c", key);
	else
		snprintf(buf, size, "key %d", key);
	return buf;
}

/* Build help lines, merging aliases (same handler and help) so each action is listed once. */
size_t keys_help_lines(const struct key_table *t, struct keys_help_line *out, size_t max)
{
	size_t n = 0;
	char name[24];

	if (t == NULL)
		return 0;
	for (const struct key_binding *b = t->bindings; b->handler != NULL; b++) {
		int alias = b != t->bindings && b[-1].handler == b->handler &&
		            strcmp(b[-1].help, b->help) == 0;

		keys_name(b->key, name, sizeof name);
		if (alias) {
			if (n - 1 < max) {
				struct keys_help_line *l = &out[n - 1];
				size_t used = strlen(l->keys);

				if (strstr(l->keys, name) == NULL) /* "\n" and KEY_ENTER both say Enter */
					snprintf(l->keys + used, sizeof l->keys - used, ", %s", name);
			}
			continue;
		}
		if (n < max) {
			snprintf(out[n].keys, sizeof out[n].keys, "%s", name);
			out[n].help = b->help;
		}
		n++;
	}
	return n;
}

/* Reject tables with duplicate keys or missing help: mistakes that silently hide a binding. */
int keys_check(const struct key_table *t, char *msg, size_t size)
{
	char name[24];

	for (const struct key_binding *b = t->bindings; b->handler != NULL; b++) {
		if (b->help == NULL || b->help[0] == '\0') {
			snprintf(msg, size, "%s: key %s has no help text: add one, the help screen is "
			         "generated from it", t->title, keys_name(b->key, name, sizeof name));
			return -1;
		}
		for (const struct key_binding *c = b + 1; c->handler != NULL; c++)
			if (c->key == b->key) {
				snprintf(msg, size, "%s: key %s is bound twice (\"%s\" and \"%s\"): the "
				         "second can never run", t->title,
				         keys_name(b->key, name, sizeof name), b->help, c->help);
				return -1;
			}
	}
	return 0;
}
