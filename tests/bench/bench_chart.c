/*
 * bench_chart.c - what the widgets cost the screen per frame: chart glyph computation and
 * drawing (a full Load tab at 80x24 and 160x50: six charts of up to four series), number
 * formatting, and theme parsing.
 *
 *   tests/bench/bench_chart [ITERATIONS]     (default 2000 frames)
 *
 * Prints one line per measurement, in microseconds per operation.
 */
#include "config.h"

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "chart.h"
#include "format.h"
#include "theme.h"

#define BENCH_SAMPLES 600    /* 10 minutes at 1 s: the sampler's default ring */
#define BENCH_SERIES 4

static double values[BENCH_SERIES][BENCH_SAMPLES];

/* Series that look like a service: noise, a slope, gaps. */
static void bench_fill(void)
{
	unsigned seed = 1;
	for (int s = 0; s < BENCH_SERIES; s++) {
		for (int i = 0; i < BENCH_SAMPLES; i++) {
			seed = seed * 1103515245u + 12345u;
			values[s][i] = 50.0 + 30.0 * sin(i / (7.0 + s)) + (double)(seed >> 16 & 15) + i * 0.05 * s;
			if (i % 97 == 5)
				values[s][i] = NAN;
		}
	}
}

/* One Load-tab frame: six charts of height x width cells each. */
static double bench_frame_us(WINDOW *w, int height, int width, enum chart_symbols symbols,
                             long iterations)
{
	struct chart_series series[BENCH_SERIES];
	struct chart_scale scale = {0};
	size_t n = (size_t)width * (size_t)chart_samples_per_column(symbols);
	if (n > BENCH_SAMPLES)
		n = BENCH_SAMPLES;
	for (int s = 0; s < BENCH_SERIES; s++)
		series[s] = (struct chart_series){values[s] + BENCH_SAMPLES - n, n,
		                                  (enum theme_role)(TH_CHART_1 + s), NULL};
	double t0 = bench_now_s();
	for (long i = 0; i < iterations; i++) {
		for (int c = 0; c < 6; c++) {
			chart_scale_update(&scale, series, BENCH_SERIES);
			int aw = chart_yaxis_width(height, &scale, fmt_percent);
			chart_draw_yaxis(w, 0, 0, height, aw, &scale, fmt_percent);
			chart_draw(w, 0, aw + 1, height, width, series, BENCH_SERIES, &scale, symbols);
			chart_draw_time_axis(w, height, aw + 1, width, 600);
		}
	}
	return (bench_now_s() - t0) / (double)iterations * 1e6;
}

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
	if (iterations <= 0)
		iterations = 2000;
	setlocale(LC_ALL, "C.UTF-8");
	bench_fill();

	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	SCREEN *scr = out != NULL && in != NULL ? newterm("xterm-256color", out, in) : NULL;
	if (scr == NULL) {
		fprintf(stderr, "bench_chart: cannot open a curses screen on /dev/null "
		        "(is the xterm-256color terminfo entry installed?)\n");
		return 1;
	}
	set_term(scr);
	start_color();
	char *warning = NULL;
	theme_init("default", 0, &warning);
	free(warning);
	WINDOW *w = newwin(60, 200, 0, 0);

	static const char *const names[] = {"braille", "block", "ascii"};
	for (int sym = CHART_BRAILLE; sym <= CHART_ASCII; sym++) {
		/* 80x24: charts ~30 columns x 4 rows; 160x50: ~70 x 12. */
		double small = bench_frame_us(w, 4, 30, (enum chart_symbols)sym, iterations);
		double large = bench_frame_us(w, 12, 70, (enum chart_symbols)sym, iterations);
		printf("chart %-7s 6 charts x 4 series: %7.1f us/frame at 80x24, %7.1f us/frame at "
		       "160x50\n", names[sym], small, large);
	}

	struct chart_cell cells[12 * 70];
	struct chart_series one = {values[0] + BENCH_SAMPLES - 140, 140, TH_CHART_1, NULL};
	struct chart_scale scale = {.max = 200};
	double t0 = bench_now_s();
	for (long i = 0; i < iterations * 10; i++)
		chart_render(cells, 12, 70, &one, 1, &scale, CHART_BRAILLE);
	printf("chart_render braille 70x12, 1 series: %.2f us\n",
	       (bench_now_s() - t0) / (double)(iterations * 10) * 1e6);

	char buf[FMT_SIZE];
	volatile size_t sink = 0;
	t0 = bench_now_s();
	for (long i = 0; i < iterations * 100; i++)
		sink += strlen(fmt_bytes(buf, sizeof buf, (double)i * 12345.678));
	printf("fmt_bytes: %.3f us\n", (bench_now_s() - t0) / (double)(iterations * 100) * 1e6);
	t0 = bench_now_s();
	for (long i = 0; i < iterations * 100; i++)
		sink += strlen(fmt_count(buf, sizeof buf, (double)i * 12345.678));
	printf("fmt_count: %.3f us\n", (bench_now_s() - t0) / (double)(iterations * 100) * 1e6);

	char path[4096];
	snprintf(path, sizeof path, "%s/themes/default.theme", SRCDIR);
	struct theme t;
	t0 = bench_now_s();
	for (long i = 0; i < iterations; i++) {
		theme_builtin(&t);
		if (theme_load_file(&t, path, &warning) != 0) {
			fprintf(stderr, "bench_chart: %s\n", warning);
			free(warning);
			break;
		}
	}
	printf("theme_load_file default.theme: %.1f us\n",
	       (bench_now_s() - t0) / (double)iterations * 1e6);

	delwin(w);
	endwin();
	delscreen(scr);
	return sink == 0;
}
