/*
 * test_keys.c - key binding tables: lookup, key names, help lines generated from the tables
 * (aliases merged), the checks that catch a key bound twice or left undocumented, and the real
 * tables of the screen (global, tabs, task detail, help) held to those checks and to the keys
 * the issue asks for.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <curses.h>
#include <cmocka.h>

#include "keys.h"
#include "tabs.h"
#include "ui.h"

/* This test's own tab list (tabs.c is not linked: tabs added later by others must not break
 * this program's link). */
extern const struct tab_entry tab_system, tab_tasks, tab_tree;
const struct tab_entry *const tab_table[] = {&tab_system, &tab_tasks, &tab_tree, NULL};

static unsigned h_a(struct ui *ui, int key)
{
	(void)ui, (void)key;
	return KEYS_HANDLED;
}

static unsigned h_b(struct ui *ui, int key)
{
	(void)ui, (void)key;
	return KEYS_HANDLED | KEYS_QUIT;
}

static const struct key_binding sample_bindings[] = {
	{'a', "Alpha", "do a", h_a},
	{'q', NULL, "quit", h_b},
	{KEY_F(10), "Quit", "quit", h_b},
	{'\r', NULL, "open", h_a},
	{'\n', NULL, "open", h_a},
	{KEY_ENTER, NULL, "open", h_a},
	{0, NULL, NULL, NULL},
};
static const struct key_table sample = {"Sample", sample_bindings};

static void test_find_and_count(void **state)
{
	(void)state;
	assert_int_equal(keys_count(&sample), 6);
	assert_ptr_equal(keys_find(&sample, 'a')->handler, h_a);
	assert_ptr_equal(keys_find(&sample, KEY_F(10))->handler, h_b);
	assert_null(keys_find(&sample, 'z'));
	assert_null(keys_find(NULL, 'a'));
	assert_int_equal(keys_count(NULL), 0);
}

static void test_names(void **state)
{
	char b[24];

	(void)state;
	assert_string_equal(keys_name(KEY_F(1), b, sizeof b), "F1");
	assert_string_equal(keys_name(KEY_F(10), b, sizeof b), "F10");
	assert_string_equal(keys_name('\r', b, sizeof b), "Enter");
	assert_string_equal(keys_name(' ', b, sizeof b), "Space");
	assert_string_equal(keys_name(12, b, sizeof b), "^L");
	assert_string_equal(keys_name('M', b, sizeof b), "M");
	assert_string_equal(keys_name('\\', b, sizeof b), "\\");
	assert_string_equal(keys_name(KEY_NPAGE, b, sizeof b), "PgDn");
	assert_string_equal(keys_name(KEY_BTAB, b, sizeof b), "Shift-Tab");
	assert_string_equal(keys_name(27, b, sizeof b), "Esc");
	assert_string_equal(keys_name(0x7fffff, b, sizeof b), "key 8388607");
}

static void test_help_lines_merge_aliases(void **state)
{
	struct keys_help_line lines[8];

	(void)state;
	assert_int_equal(keys_help_lines(&sample, lines, 8), 3);
	assert_string_equal(lines[0].keys, "a");
	assert_string_equal(lines[0].help, "do a");
	assert_string_equal(lines[1].keys, "q, F10");
	assert_string_equal(lines[1].help, "quit");
	assert_string_equal(lines[2].keys, "Enter"); /* three codes, one name */
	/* too small an array: the count is still right, nothing written past max */
	assert_int_equal(keys_help_lines(&sample, lines, 1), 3);
}

static void test_check_catches_mistakes(void **state)
{
	static const struct key_binding dup[] = {
		{'x', NULL, "one", h_a}, {'y', NULL, "two", h_a}, {'x', NULL, "three", h_b},
		{0, NULL, NULL, NULL},
	};
	static const struct key_binding nohelp[] = {
		{'x', "X", "", h_a}, {0, NULL, NULL, NULL},
	};
	struct key_table t1 = {"Dup", dup}, t2 = {"NoHelp", nohelp};
	char msg[256];

	(void)state;
	assert_int_equal(keys_check(&sample, msg, sizeof msg), 0);
	assert_int_equal(keys_check(&t1, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "Dup: key x is bound twice"));
	assert_int_equal(keys_check(&t2, msg, sizeof msg), -1);
	assert_non_null(strstr(msg, "NoHelp: key x has no help text"));
}

/* Every table the screen has passes the checks, and each of its keys is in its help. */
static void check_real_table(const struct key_table *t)
{
	struct keys_help_line lines[128];
	char msg[256], name[24];
	size_t n;

	assert_non_null(t);
	if (keys_check(t, msg, sizeof msg) != 0)
		fail_msg("%s", msg);
	n = keys_help_lines(t, lines, 128);
	assert_true(n > 0 && n <= 128);
	for (const struct key_binding *b = t->bindings; b->handler != NULL; b++) {
		int found = 0;

		keys_name(b->key, name, sizeof name);
		for (size_t i = 0; i < n && !found; i++)
			found = strstr(lines[i].keys, name) != NULL && strcmp(lines[i].help, b->help) == 0;
		if (!found)
			fail_msg("%s: key %s is not in the generated help", t->title, name);
	}
}

static void test_real_tables(void **state)
{
	(void)state;
	check_real_table(&ui_global_keys);
	for (size_t i = 0; tab_table[i] != NULL; i++)
		if (tab_table[i]->keys != NULL)
			check_real_table(tab_table[i]->keys);
	check_real_table(view_detail.keys);
	check_real_table(view_help.keys);
	assert_int_equal(tabs_count(), 3);
	assert_int_equal(tabs_find_key('4'), 1);
	assert_int_equal(tabs_find_key('2'), -1);
}

/* The keys the issue names, where it names them. */
static void test_required_keys(void **state)
{
	static const int tasks_keys[] = {'M', 'R', 'Q', 'C', 'N', '<', '>', 'I', 'W', '\\', '/',
	                                 'F', KEY_UP, KEY_DOWN, KEY_PPAGE, KEY_NPAGE, KEY_HOME,
	                                 KEY_END, '\r'};
	static const int global_keys[] = {'1', '4', '5', '\t', KEY_BTAB, '?', KEY_F(1), 'q',
	                                  KEY_F(10), '+', '-', ' '};
	static const int tree_keys[] = {'\r', ' ', '+', '-', '*'};

	(void)state;
	for (size_t i = 0; i < sizeof tasks_keys / sizeof tasks_keys[0]; i++)
		assert_non_null(keys_find(tab_tasks.keys, tasks_keys[i]));
	for (size_t i = 0; i < sizeof global_keys / sizeof global_keys[0]; i++)
		assert_non_null(keys_find(&ui_global_keys, global_keys[i]));
	for (size_t i = 0; i < sizeof tree_keys / sizeof tree_keys[0]; i++)
		assert_non_null(keys_find(tab_tree.keys, tree_keys[i]));
	/* in the tree, Enter opens the detail and space toggles: two different actions */
	assert_ptr_not_equal(keys_find(tab_tree.keys, '\r')->handler,
	                     keys_find(tab_tree.keys, ' ')->handler);
	/* space and Z pause (Z as in htop, and where a tab takes space for itself) */
	assert_ptr_equal(keys_find(&ui_global_keys, ' ')->handler,
	                 keys_find(&ui_global_keys, 'Z')->handler);
	assert_null(keys_find(tab_tree.keys, 'Z'));
	/* q and F10 quit, ? and F1 help: one action each */
	assert_ptr_equal(keys_find(&ui_global_keys, 'q')->handler,
	                 keys_find(&ui_global_keys, KEY_F(10))->handler);
	assert_ptr_equal(keys_find(&ui_global_keys, '?')->handler,
	                 keys_find(&ui_global_keys, KEY_F(1))->handler);
	/* Esc leaves the task detail */
	assert_non_null(keys_find(view_detail.keys, 27));
	/* the quit handler asks to quit */
	assert_true(keys_find(&ui_global_keys, 'q')->handler(NULL, 'q') & KEYS_QUIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find_and_count),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_help_lines_merge_aliases),
		cmocka_unit_test(test_check_catches_mistakes),
		cmocka_unit_test(test_real_tables),
		cmocka_unit_test(test_required_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
