/*
 * test_chart.c - the chart widget (tui/chart.c): known series give known glyphs in each symbol
 * set, gaps stay gaps, scaling grows at once and shrinks with hysteresis, symbol selection,
 * axis labels, and the drawing into a curses window.
 */
#include "config.h"

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <cmocka.h>

#include "chart.h"
#include "format.h"

#define BR(bits) (0x2800u | (bits))   /* a braille glyph from its dot bits */

/* Render one series into cells (at most 64) and return them. */
static void render1(struct chart_cell *cells, int height, int width, const double *v, size_t n,
                    double max, enum chart_symbols symbols)
{
	struct chart_series s = {v, n, TH_CHART_1, "x"};
	struct chart_scale scale = {.max = max};
	assert_true(height * width <= 64);
	assert_int_equal(chart_render(cells, height, width, &s, 1, &scale, symbols), 0);
}

/* Compare a rendered row of glyphs with the expected code points. */
static void expect_row(const struct chart_cell *cells, int width, int row, const uint32_t *want)
{
	for (int c = 0; c < width; c++) {
		if (cells[row * width + c].glyph != want[c])
			fail_msg("row %d col %d: got U+%04X, want U+%04X", row, c,
			         (unsigned)cells[row * width + c].glyph, (unsigned)want[c]);
	}
}

static void test_nice_ceil(void **state)
{
	(void)state;
	assert_true(chart_nice_ceil(0) == 1);
	assert_true(chart_nice_ceil(-5) == 1);
	assert_true(chart_nice_ceil(NAN) == 1);
	assert_true(chart_nice_ceil(INFINITY) == 1);
	assert_true(fabs(chart_nice_ceil(0.3) - 0.5) < 1e-12);
	assert_true(fabs(chart_nice_ceil(0.001) - 0.001) < 1e-15);
	assert_true(chart_nice_ceil(1) == 1);
	assert_true(chart_nice_ceil(1.01) == 2);
	assert_true(chart_nice_ceil(3) == 5);
	assert_true(chart_nice_ceil(7) == 10);
	assert_true(chart_nice_ceil(200) == 200);
	assert_true(chart_nice_ceil(201) == 500);
	assert_true(chart_nice_ceil(12345) == 20000);
	assert_true(chart_nice_ceil(5e9) == 5e9);
	assert_true(chart_nice_ceil(5.0001e9) == 1e10);
}

static void test_nice_ceil_binary(void **state)
{
	char buf[FMT_SIZE];
	(void)state;
	assert_true(chart_nice_ceil_binary(0) == 1);
	assert_true(chart_nice_ceil_binary(NAN) == 1);
	assert_true(chart_nice_ceil_binary(0.3) == 1);
	assert_true(chart_nice_ceil_binary(400) == 500);
	assert_true(chart_nice_ceil_binary(700) == 1024);    /* 1.0 KiB, not "1000 B" */
	assert_true(chart_nice_ceil_binary(1000) == 1024);
	assert_true(chart_nice_ceil_binary(1001) == 1024);
	assert_true(chart_nice_ceil_binary(1024) == 1024);
	assert_true(chart_nice_ceil_binary(1025) == 2048);
	assert_string_equal(fmt_bytes(buf, sizeof buf, chart_nice_ceil_binary(27.2 * 1048576)),
	                    "50.0 MiB");
	assert_string_equal(fmt_bytes(buf, sizeof buf, chart_nice_ceil_binary(150 * 1024)),
	                    "200.0 KiB");
	assert_string_equal(fmt_bytes(buf, sizeof buf, chart_nice_ceil_binary(600 * 1048576.0)),
	                    "1.00 GiB");
	assert_string_equal(fmt_bytes(buf, sizeof buf, chart_nice_ceil_binary(1.3 * 1073741824.0)),
	                    "2.00 GiB");
	/* A byte chart's scale uses these bounds, the same hysteresis otherwise. */
	double v[1] = {27.2 * 1048576};
	struct chart_series se = {v, 1, TH_CHART_1, NULL};
	struct chart_scale s = {.binary = 1};
	chart_scale_update(&s, &se, 1);
	assert_true(s.max == 50 * 1048576.0);
}

static void test_scale_grows_at_once(void **state)
{
	struct chart_scale s = {0};
	double v[3] = {1, 3, 2};
	struct chart_series se = {v, 3, TH_CHART_1, NULL};
	(void)state;
	chart_scale_update(&s, &se, 1);
	assert_true(s.max == 5);
	v[2] = 70;
	chart_scale_update(&s, &se, 1);
	assert_true(s.max == 100);
	assert_int_equal(s.below_half, 0);
}

static void test_scale_shrinks_with_hysteresis(void **state)
{
	struct chart_scale s = {0};
	double v[2] = {90, 10};
	struct chart_series se = {v, 2, TH_CHART_1, NULL};
	(void)state;
	chart_scale_update(&s, &se, 1);
	assert_true(s.max == 100);
	v[0] = 12;                                  /* the data falls under half the bound */
	for (int i = 0; i < CHART_SHRINK_UPDATES - 1; i++) {
		chart_scale_update(&s, &se, 1);
		assert_true(s.max == 100);
	}
	chart_scale_update(&s, &se, 1);
	assert_true(s.max == 20);                   /* ... long enough: shrinks to a nice bound */
	assert_int_equal(s.below_half, 0);

	/* A value back at half or above resets the count: no shrink after a brief dip. */
	v[0] = 10;
	v[1] = 3;
	for (int i = 0; i < CHART_SHRINK_UPDATES - 1; i++)
		chart_scale_update(&s, &se, 1);
	assert_true(s.max == 20);
	v[0] = 10.5;                                /* >= 20 / 2 */
	chart_scale_update(&s, &se, 1);
	assert_int_equal(s.below_half, 0);
	v[0] = 3;
	for (int i = 0; i < CHART_SHRINK_UPDATES - 1; i++)
		chart_scale_update(&s, &se, 1);
	assert_true(s.max == 20);
	chart_scale_update(&s, &se, 1);
	assert_true(s.max == 5);
}

static void test_scale_ignores_gaps_and_spans_series(void **state)
{
	struct chart_scale s = {0};
	double a[3] = {NAN, NAN, NAN}, b[2] = {NAN, 300};
	struct chart_series se[2] = {{a, 3, TH_CHART_1, NULL}, {b, 2, TH_CHART_2, NULL}};
	(void)state;
	chart_scale_update(&s, se, 1);              /* nothing known: nothing changes */
	assert_true(s.max == 0);
	chart_scale_update(&s, se, 2);              /* the peak over every series counts */
	assert_true(s.max == 500);
	double z[1] = {0};
	struct chart_series zero = {z, 1, TH_CHART_1, NULL};
	struct chart_scale s2 = {0};
	chart_scale_update(&s2, &zero, 1);
	assert_true(s2.max == 1);
}

static void test_braille_glyphs(void **state)
{
	struct chart_cell cells[64];
	(void)state;
	/* max 3 on one row: 4 dot levels, value = level. Two samples per cell. */
	const double ramp[4] = {0, 1, 2, 3};
	render1(cells, 1, 2, ramp, 4, 3, CHART_BRAILLE);
	expect_row(cells, 2, 0, (const uint32_t[]){BR(0x40 | 0x20), BR(0x02 | 0x08)});
	assert_int_equal(cells[0].series, 0);

	/* A jump is joined vertically in the newer sample's dot column. */
	const double jump[2] = {0, 3};
	render1(cells, 1, 1, jump, 2, 3, CHART_BRAILLE);
	expect_row(cells, 1, 0, (const uint32_t[]){BR(0x40 | 0x20 | 0x10 | 0x08)});
	const double fall[2] = {3, 0};
	render1(cells, 1, 1, fall, 2, 3, CHART_BRAILLE);
	expect_row(cells, 1, 0, (const uint32_t[]){BR(0x01 | 0x80 | 0x20 | 0x10)});

	/* Two rows, max 7: 8 levels; 7 is the top dot of the top row, 4 its bottom dot ... */
	const double tall[4] = {7, 7, 4, 0};
	render1(cells, 2, 2, tall, 4, 7, CHART_BRAILLE);
	/* ... and falls are filled down to the next dot: 7 -> 4 -> 0. */
	expect_row(cells, 2, 0, (const uint32_t[]){BR(0x01 | 0x08), BR(0x02 | 0x04 | 0x40)});
	expect_row(cells, 2, 1, (const uint32_t[]){' ', BR(0x08 | 0x10 | 0x20 | 0x80)});
	assert_int_equal(cells[2].series, -1);
}

static void test_braille_gaps_and_edges(void **state)
{
	struct chart_cell cells[64];
	(void)state;
	/* A NAN is a gap: no dot, and no join across it (no interpolation). */
	const double gap[3] = {0, NAN, 3};
	render1(cells, 1, 2, gap, 3, 3, CHART_BRAILLE);
	expect_row(cells, 2, 0, (const uint32_t[]){BR(0x80), BR(0x08)});

	/* A short series sits at the right edge; the newest sample is the rightmost dot. */
	const double one[1] = {3};
	render1(cells, 1, 3, one, 1, 3, CHART_BRAILLE);
	expect_row(cells, 3, 0, (const uint32_t[]){' ', ' ', BR(0x08)});

	/* Only the newest width * 2 samples show; out-of-range values clip. */
	const double many[6] = {3, 3, 3, 3, 100, -5};
	render1(cells, 1, 1, many, 6, 3, CHART_BRAILLE);
	expect_row(cells, 1, 0, (const uint32_t[]){BR(0x01 | 0x80 | 0x20 | 0x10)});

	/* No data at all: an empty chart. */
	const double none[2] = {NAN, NAN};
	render1(cells, 1, 2, none, 2, 3, CHART_BRAILLE);
	expect_row(cells, 2, 0, (const uint32_t[]){' ', ' '});
	render1(cells, 1, 2, NULL, 0, 3, CHART_BRAILLE);
	expect_row(cells, 2, 0, (const uint32_t[]){' ', ' '});
}

static void test_braille_two_series_share_cells(void **state)
{
	struct chart_cell cells[4];
	const double a[2] = {0, 0}, b[2] = {3, 3};
	struct chart_series s[2] = {{a, 2, TH_CHART_1, "a"}, {b, 2, TH_CHART_2, "b"}};
	struct chart_scale scale = {.max = 3};
	(void)state;
	assert_int_equal(chart_render(cells, 1, 1, s, 2, &scale, CHART_BRAILLE), 0);
	assert_int_equal(cells[0].glyph, BR(0x40 | 0x80 | 0x01 | 0x08));
	assert_int_equal(cells[0].series, 1);       /* the later series owns the colour */
}

static void test_block_glyphs(void **state)
{
	struct chart_cell cells[64];
	(void)state;
	const double v[5] = {0, 1, 4, 8, 0.01};
	render1(cells, 1, 5, v, 5, 8, CHART_BLOCK);
	expect_row(cells, 5, 0, (const uint32_t[]){' ', 0x2581, 0x2584, 0x2588, 0x2581});

	/* Two rows: 12 of 16 eighths is a full bottom cell and a half top cell. */
	const double t[3] = {12, NAN, 99};
	render1(cells, 2, 3, t, 3, 16, CHART_BLOCK);
	expect_row(cells, 3, 0, (const uint32_t[]){0x2584, ' ', 0x2588});
	expect_row(cells, 3, 1, (const uint32_t[]){0x2588, ' ', 0x2588});
	assert_int_equal(cells[1].series, -1);
}

static void test_block_shorter_bar_on_top(void **state)
{
	struct chart_cell cells[1];
	const double tall[1] = {8}, low[1] = {4};
	struct chart_scale scale = {.max = 8};
	(void)state;
	struct chart_series s1[2] = {{tall, 1, TH_CHART_1, NULL}, {low, 1, TH_CHART_2, NULL}};
	chart_render(cells, 1, 1, s1, 2, &scale, CHART_BLOCK);
	assert_int_equal(cells[0].glyph, 0x2584);
	assert_int_equal(cells[0].series, 1);
	struct chart_series s2[2] = {{low, 1, TH_CHART_1, NULL}, {tall, 1, TH_CHART_2, NULL}};
	chart_render(cells, 1, 1, s2, 2, &scale, CHART_BLOCK);
	assert_int_equal(cells[0].glyph, 0x2584);
	assert_int_equal(cells[0].series, 0);
}

static void test_ascii_glyphs(void **state)
{
	struct chart_cell cells[64];
	(void)state;
	const double v[3] = {0, 1, 2};
	render1(cells, 1, 3, v, 3, 2, CHART_ASCII);
	expect_row(cells, 3, 0, (const uint32_t[]){'_', '-', '\''});

	/* Three rows, max 8 (9 levels): a climb through the middle row draws '|'. */
	const double climb[4] = {0, 8, NAN, 0};
	render1(cells, 3, 4, climb, 4, 8, CHART_ASCII);
	expect_row(cells, 4, 0, (const uint32_t[]){' ', '\'', ' ', ' '});
	expect_row(cells, 4, 1, (const uint32_t[]){' ', '|', ' ', ' '});
	expect_row(cells, 4, 2, (const uint32_t[]){'_', ' ', ' ', '_'});
	for (int i = 0; i < 12; i++)
		assert_true(cells[i].glyph < 0x80);
}

static void test_render_rejects_bad_sizes(void **state)
{
	struct chart_cell cells[1] = {{'x', 7}};
	(void)state;
	assert_int_equal(chart_render(cells, 0, 5, NULL, 0, NULL, CHART_BRAILLE), -1);
	assert_int_equal(chart_render(cells, 5, -1, NULL, 0, NULL, CHART_BRAILLE), -1);
	assert_int_equal(cells[0].glyph, 'x');
	/* A scale never updated plots 0..1. */
	const double v[1] = {1};
	render1(cells, 1, 1, v, 1, 0, CHART_ASCII);
	assert_int_equal(cells[0].glyph, '\'');
}

static void test_sample_at(void **state)
{
	(void)state;
	assert_int_equal(chart_samples_per_column(CHART_BRAILLE), 2);
	assert_int_equal(chart_samples_per_column(CHART_BLOCK), 1);
	assert_int_equal(chart_samples_per_column(CHART_ASCII), 1);
	assert_int_equal(chart_sample_at(10, 3, 2, CHART_BRAILLE), 9);
	assert_int_equal(chart_sample_at(10, 3, 1, CHART_BRAILLE), 7);
	assert_int_equal(chart_sample_at(10, 3, 0, CHART_BRAILLE), 5);
	assert_int_equal(chart_sample_at(3, 3, 0, CHART_BRAILLE), -1);
	assert_int_equal(chart_sample_at(3, 3, 1, CHART_BRAILLE), 0);
	assert_int_equal(chart_sample_at(3, 3, 2, CHART_BRAILLE), 2);
	assert_int_equal(chart_sample_at(2, 4, 3, CHART_BLOCK), 1);
	assert_int_equal(chart_sample_at(2, 4, 2, CHART_ASCII), 0);
	assert_int_equal(chart_sample_at(2, 4, 1, CHART_BLOCK), -1);
	assert_int_equal(chart_sample_at(2, 4, 4, CHART_BLOCK), -1);
	assert_int_equal(chart_sample_at(2, 4, -1, CHART_BLOCK), -1);
	assert_int_equal(chart_sample_at(0, 4, 3, CHART_BLOCK), -1);
}

static void test_symbols_select(void **state)
{
	int unknown = -1;
	(void)state;
	assert_int_equal(chart_symbols_select(0, NULL, &unknown), CHART_BRAILLE);
	assert_int_equal(unknown, 0);
	assert_int_equal(chart_symbols_select(0, "", NULL), CHART_BRAILLE);
	assert_int_equal(chart_symbols_select(0, "braille", &unknown), CHART_BRAILLE);
	assert_int_equal(chart_symbols_select(0, "block", &unknown), CHART_BLOCK);
	assert_int_equal(chart_symbols_select(0, "tty", &unknown), CHART_ASCII);
	assert_int_equal(chart_symbols_select(0, "ascii", &unknown), CHART_ASCII);
	assert_int_equal(unknown, 0);
	assert_int_equal(chart_symbols_select(0, "sparkles", &unknown), CHART_BRAILLE);
	assert_int_equal(unknown, 1);
	/* ASCII mode (--ascii or a non-UTF-8 locale) wins over any wish. */
	assert_int_equal(chart_symbols_select(1, "braille", &unknown), CHART_ASCII);
	assert_int_equal(chart_symbols_select(1, "block", &unknown), CHART_ASCII);
	assert_int_equal(chart_symbols_select(1, NULL, &unknown), CHART_ASCII);
}

static void test_yaxis_labels(void **state)
{
	struct chart_scale s = {.max = 100};
	char buf[FMT_SIZE];
	(void)state;
	static const char *const want[5] = {"100.0%", "", "50.0%", "", "0.0%"};
	for (int r = 0; r < 5; r++)
		assert_string_equal(chart_yaxis_label(buf, sizeof buf, r, 5, &s, fmt_percent), want[r]);
	assert_int_equal(chart_yaxis_width(5, &s, fmt_percent), 6);
	struct chart_scale b = {.max = 2097152};
	assert_string_equal(chart_yaxis_label(buf, sizeof buf, 0, 3, &b, fmt_bytes), "2.0 MiB");
	assert_string_equal(chart_yaxis_label(buf, sizeof buf, 1, 3, &b, fmt_bytes), "");
	assert_string_equal(chart_yaxis_label(buf, sizeof buf, 2, 3, &b, fmt_bytes), "0 B");
	assert_string_equal(chart_yaxis_label(buf, sizeof buf, 0, 1, &b, NULL), "2.09715e+06");
	assert_string_equal(chart_yaxis_label(buf, sizeof buf, 3, 3, &b, fmt_bytes), "");
	/* A middle label that would repeat an edge one is left out: 0.6 B prints as "1 B". */
	struct chart_scale one = {.max = 1};
	assert_string_equal(chart_yaxis_label(buf, sizeof buf, 2, 6, &one, fmt_bytes), "");
	assert_string_equal(chart_yaxis_label(buf, sizeof buf, 0, 6, &one, fmt_bytes), "1 B");
	assert_string_equal(chart_yaxis_label(buf, sizeof buf, 2, 6, &one, fmt_percent), "0.6%");
}

static void test_time_axis(void **state)
{
	char buf[256], want[64];
	(void)state;
	/* 40 columns for 10 minutes: "-10m" left, "now" right, "-5m" centred between. */
	memset(want, ' ', 40);
	want[40] = '\0';
	memcpy(want, "-10m", 4);
	memcpy(want + 19, "-5m", 3);
	memcpy(want + 37, "now", 3);
	assert_string_equal(chart_time_axis(buf, sizeof buf, 40, 600), want);

	/* Wider: more ticks, always in order, never overlapping "now". */
	chart_time_axis(buf, sizeof buf, 120, 600);
	assert_int_equal(strlen(buf), 120);
	assert_memory_equal(buf, "-10m ", 5);
	assert_string_equal(buf + 117, "now");
	assert_non_null(strstr(buf, " -8m "));
	assert_non_null(strstr(buf, " -1m "));
	char *m5 = strstr(buf, "-5m"), *m2 = strstr(buf, "-2m");
	assert_non_null(m5);
	assert_non_null(m2);
	assert_true(m5 < m2);

	chart_time_axis(buf, sizeof buf, 80, 90);
	assert_memory_equal(buf, "-1m30s", 6);
	assert_string_equal(buf + 77, "now");

	/* Too narrow or no span: just "now". */
	assert_string_equal(chart_time_axis(buf, sizeof buf, 8, 600), "     now");
	assert_string_equal(chart_time_axis(buf, sizeof buf, 12, 0), "         now");
	assert_string_equal(chart_time_axis(buf, sizeof buf, 0, 600), "");
	/* A short buffer truncates safely. */
	char small[5];
	chart_time_axis(small, sizeof small, 40, 600);
	assert_string_equal(small, "-10m");
}

/* Drawing: the rendered glyphs land in the window with their series' theme role. */
static void test_draw_into_window(void **state)
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

	WINDOW *w = newwin(4, 10, 0, 0);
	assert_non_null(w);
	const double v[4] = {0, 1, 2, 3};
	struct chart_series s = {v, 4, TH_CHART_2, "x"};
	struct chart_scale scale = {.max = 3};
	chart_draw(w, 1, 3, 1, 2, &s, 1, &scale, CHART_BRAILLE);

	cchar_t cc;
	wchar_t wc[CCHARW_MAX + 1];
	attr_t attrs;
	short pair;
	assert_int_equal(mvwin_wch(w, 1, 3, &cc), OK);
	assert_int_equal(getcchar(&cc, wc, &attrs, &pair, NULL), OK);
	assert_int_equal((uint32_t)wc[0], BR(0x40 | 0x20));
	assert_int_equal(pair, PAIR_NUMBER(theme_attr(TH_CHART_2)));
	assert_int_equal(mvwin_wch(w, 1, 4, &cc), OK);
	assert_int_equal(getcchar(&cc, wc, &attrs, &pair, NULL), OK);
	assert_int_equal((uint32_t)wc[0], BR(0x02 | 0x08));

	chart_draw(w, 2, 0, 1, 3, &s, 1, &scale, CHART_ASCII);
	assert_int_equal((int)(mvwinch(w, 2, 0) & A_CHARTEXT), '-');
	assert_int_equal((int)(mvwinch(w, 2, 2) & A_CHARTEXT), '\'');

	chart_draw_time_axis(w, 3, 0, 10, 60);
	char line[16];
	assert_int_equal(mvwinnstr(w, 3, 0, line, 10), 10);
	assert_string_equal(line, "-1m    now");

	delwin(w);
	endwin();
	delscreen(scr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nice_ceil),
		cmocka_unit_test(test_nice_ceil_binary),
		cmocka_unit_test(test_scale_grows_at_once),
		cmocka_unit_test(test_scale_shrinks_with_hysteresis),
		cmocka_unit_test(test_scale_ignores_gaps_and_spans_series),
		cmocka_unit_test(test_braille_glyphs),
		cmocka_unit_test(test_braille_gaps_and_edges),
		cmocka_unit_test(test_braille_two_series_share_cells),
		cmocka_unit_test(test_block_glyphs),
		cmocka_unit_test(test_block_shorter_bar_on_top),
		cmocka_unit_test(test_ascii_glyphs),
		cmocka_unit_test(test_render_rejects_bad_sizes),
		cmocka_unit_test(test_sample_at),
		cmocka_unit_test(test_symbols_select),
		cmocka_unit_test(test_yaxis_labels),
		cmocka_unit_test(test_time_axis),
		cmocka_unit_test(test_draw_into_window),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
