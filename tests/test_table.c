/*
 * test_table.c - the table widget: column layout at many widths (what is hidden first, that
 * the row is filled exactly, that minimums hold), cell fitting, hit-testing and header drawing.
 */
#include "config.h"

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "table.h"
#include "theme.h"

/* The Tasks tab's columns (tab_tasks.c), as a realistic case. */
enum { ID, NAME, STATUS, REDS, RATE, MEM, DMEM, QUEUE, CPU, LOC, N };
static const struct table_column cols[N] = {
	[ID] = {"ID", 7, 8, 0, 9, TABLE_RIGHT},
	[NAME] = {"NAME", 16, 22, 3, 10, TABLE_LEFT},
	[STATUS] = {"STATUS", 8, 8, 0, 4, TABLE_LEFT},
	[REDS] = {"REDS", 6, 7, 0, 6, TABLE_RIGHT},
	[RATE] = {"REDS/s", 8, 9, 0, 7, TABLE_RIGHT},
	[MEM] = {"MEMORY", 9, 9, 0, 8, TABLE_RIGHT},
	[DMEM] = {"MEM CHG", 10, 10, 0, 5, TABLE_RIGHT},
	[QUEUE] = {"QUEUE", 5, 6, 0, 6, TABLE_RIGHT},
	[CPU] = {"CPU%", 5, 6, 0, 3, TABLE_RIGHT},
	[LOC] = {"LOCATION", 14, 30, 2, 2, TABLE_LEFT},
};

static void test_wide_shows_everything_and_fills_the_row(void **state)
{
	int w[N];

	(void)state;
	assert_int_equal(table_layout(cols, N, 200, w), N);
	assert_int_equal(table_used_width(w, N), 200);
	for (int i = 0; i < N; i++)
		assert_true(w[i] >= cols[i].width);
	/* the leftover went to the flexible columns, 3:2 */
	assert_true(w[NAME] - cols[NAME].width > w[LOC] - cols[LOC].width);
	assert_int_equal(w[ID], cols[ID].width);
}

static void test_80_columns_drop_location_and_cpu(void **state)
{
	int w[N];

	(void)state;
	assert_int_equal(table_layout(cols, N, 80, w), N - 2);
	assert_int_equal(w[LOC], 0);
	assert_int_equal(w[CPU], 0);
	assert_true(w[NAME] >= 20);
	assert_int_equal(w[STATUS], 8); /* "runnable" fits */
	assert_int_equal(table_used_width(w, N), 80);
	assert_true(w[NAME] >= cols[NAME].min_width);
	assert_true(w[MEM] >= cols[MEM].min_width);
}

static void test_60_columns_keep_the_important_ones(void **state)
{
	int w[N];

	(void)state;
	table_layout(cols, N, 60, w);
	assert_true(table_used_width(w, N) <= 60);
	assert_true(w[ID] > 0 && w[NAME] > 0 && w[MEM] > 0 && w[RATE] > 0);
	assert_int_equal(w[CPU], 0);
	assert_int_equal(w[LOC], 0);
	assert_int_equal(w[STATUS], 0);
}

static void test_too_narrow_for_one_column(void **state)
{
	int w[N];

	(void)state;
	/* NAME has the top priority: alone, cut to the width */
	assert_int_equal(table_layout(cols, N, 12, w), 1);
	assert_int_equal(w[NAME], 12);
	assert_int_equal(table_used_width(w, N), 12);
	assert_int_equal(table_layout(cols, N, 0, w), 0);
	assert_int_equal(table_used_width(w, N), 0);
}

/* Every width from 1 to 250: never wider than the screen, minimums kept, and no hidden column
 * outranks a visible one. */
static void test_layout_properties_at_every_width(void **state)
{
	int w[N];

	(void)state;
	for (int width = 1; width <= 250; width++) {
		int visible = table_layout(cols, N, width, w);
		int min_visible_prio = 1000, max_hidden_prio = -1;

		assert_true(visible >= 1);
		assert_true(table_used_width(w, N) <= width);
		for (int i = 0; i < N; i++) {
			if (w[i] > 0) {
				if (visible > 1)
					assert_true(w[i] >= cols[i].min_width);
				if (cols[i].priority < min_visible_prio)
					min_visible_prio = cols[i].priority;
			} else if (cols[i].priority > max_hidden_prio) {
				max_hidden_prio = cols[i].priority;
			}
		}
		assert_true(max_hidden_prio <= min_visible_prio);
		/* with a flexible column visible, the row is filled exactly */
		if (w[NAME] > 0 && visible > 1)
			assert_int_equal(table_used_width(w, N), width);
	}
}

static void test_column_at(void **state)
{
	int w[4] = {3, 0, 5, 2};

	(void)state;
	assert_int_equal(table_column_at(w, 4, 0), 0);
	assert_int_equal(table_column_at(w, 4, 2), 0);
	assert_int_equal(table_column_at(w, 4, 3), -1); /* the gap */
	assert_int_equal(table_column_at(w, 4, 4), 2);  /* column 1 is hidden */
	assert_int_equal(table_column_at(w, 4, 8), 2);
	assert_int_equal(table_column_at(w, 4, 10), 3);
	assert_int_equal(table_column_at(w, 4, 12), -1);
	assert_int_equal(table_column_at(w, 4, -1), -1);
}

static void test_fit(void **state)
{
	char buf[64];

	(void)state;
	assert_string_equal(table_fit(buf, sizeof buf, "abc", 6, TABLE_LEFT), "abc   ");
	assert_string_equal(table_fit(buf, sizeof buf, "abc", 6, TABLE_RIGHT), "   abc");
	assert_string_equal(table_fit(buf, sizeof buf, "abcdefgh", 6, TABLE_LEFT), "abcde~");
	assert_string_equal(table_fit(buf, sizeof buf, "abcdef", 6, TABLE_RIGHT), "abcdef");
	assert_string_equal(table_fit(buf, sizeof buf, "", 3, TABLE_RIGHT), "   ");
	assert_string_equal(table_fit(buf, sizeof buf, NULL, 2, TABLE_LEFT), "  ");
	assert_string_equal(table_fit(buf, sizeof buf, "abc", 0, TABLE_LEFT), "");
	/* UTF-8: "é" is one cell of two bytes, never cut in half */
	assert_string_equal(table_fit(buf, sizeof buf, "héllo", 5, TABLE_LEFT), "héllo");
	assert_string_equal(table_fit(buf, sizeof buf, "héllo", 3, TABLE_LEFT), "hé~");
	assert_string_equal(table_fit(buf, sizeof buf, "é", 3, TABLE_RIGHT), "  é");
	/* wide characters take two cells: "日本" is 4 cells; a cut never splits one */
	assert_int_equal(table_text_cells("日本"), 4);
	assert_int_equal(table_text_cells("e\xcc\x81"), 1); /* e + combining acute */
	assert_string_equal(table_fit(buf, sizeof buf, "日本", 5, TABLE_RIGHT), " 日本");
	assert_string_equal(table_fit(buf, sizeof buf, "日本", 3, TABLE_LEFT), "日~");
	assert_string_equal(table_fit(buf, sizeof buf, "日本x", 4, TABLE_LEFT), "日 ~");
	assert_int_equal(table_prefix("日本", 3, NULL), 3); /* bytes of 日 */
	/* control characters from the observed program never reach the terminal */
	assert_string_equal(table_fit(buf, sizeof buf, "a\nb\033[2Jc\t", 9, TABLE_LEFT), "a?b?[2Jc?");
	assert_string_equal(table_fit(buf, sizeof buf, "x\ry", 4, TABLE_RIGHT), " x?y");
	/* a small buffer is never overrun */
	char tiny[4];
	table_fit(tiny, sizeof tiny, "abcdefgh", 20, TABLE_LEFT);
	assert_true(strlen(tiny) < sizeof tiny);
}

/* The header: titles aligned like their cells, the sorted one marked and in its role. */
static void test_header_drawing(void **state)
{
	(void)state;
	if (setlocale(LC_ALL, "C.UTF-8") == NULL)
		skip();
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	assert_non_null(out);
	assert_non_null(in);
	SCREEN *scr = newterm("xterm-256color", out, in);
	assert_non_null(scr);
	set_term(scr);
	start_color();
	char *warning = NULL;
	theme_init("default", 0, &warning);
	free(warning);
	theme_set_ascii(1);

	struct table_column c[3] = {
		{"ID", 4, 4, 0, 3, TABLE_RIGHT},
		{"NAME", 6, 6, 1, 2, TABLE_LEFT},
		{"MEM", 5, 5, 0, 1, TABLE_RIGHT},
	};
	int w[3];
	WINDOW *win = newwin(2, 20, 0, 0);
	assert_non_null(win);
	table_layout(c, 3, 20, w);
	assert_int_equal(table_used_width(w, 3), 20);
	table_draw_header(win, 0, 0, c, 3, w, 2, 1);
	char line[32];
	assert_int_equal(mvwinnstr(win, 0, 0, line, 20), 20);
	/* ID right-aligned in 4, NAME takes the flex (4 + 1 + 9 + 1 + 5 = 20), MEM marked v */
	assert_string_equal(line, "  ID NAME       vMEM");
	assert_int_equal((int)(mvwinch(win, 0, 16) & A_COLOR),
	                 (int)(theme_attr(TH_TABLE_SORTED) & A_COLOR));
	assert_int_equal((int)(mvwinch(win, 0, 0) & A_COLOR),
	                 (int)(theme_attr(TH_TABLE_HEADER) & A_COLOR));

	table_draw_cell(win, 1, 0, 4, TABLE_RIGHT, "123456");
	assert_int_equal(mvwinnstr(win, 1, 0, line, 4), 4);
	assert_string_equal(line, "123~");

	delwin(win);
	endwin();
	delscreen(scr);
}

int main(void)
{
	if (setlocale(LC_ALL, "C.UTF-8") == NULL) /* cell widths follow the locale */
		fprintf(stderr, "# C.UTF-8 locale missing: wide-character checks will fail\n");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wide_shows_everything_and_fills_the_row),
		cmocka_unit_test(test_80_columns_drop_location_and_cpu),
		cmocka_unit_test(test_60_columns_keep_the_important_ones),
		cmocka_unit_test(test_too_narrow_for_one_column),
		cmocka_unit_test(test_layout_properties_at_every_width),
		cmocka_unit_test(test_column_at),
		cmocka_unit_test(test_fit),
		cmocka_unit_test(test_header_drawing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
