/*
 * chart.h - line charts of time series drawn into a curses window (the Load tab, task trends).
 *
 * Three symbol sets, like btop: braille (each cell holds 2x4 dots, so two samples per cell
 * column and four levels per row), block (one sample per column, ▁▂▃▄▅▆▇█ bars, eight levels per
 * row) and ASCII (one sample per column, '.', '-', '\'' for three levels per row and '|' joining
 * steep changes). The newest sample is at the right edge; older samples scroll off the left.
 * A NAN sample is a gap: nothing is drawn for it and the line is not joined across it.
 * Values are plotted from 0 (bottom) to scale->max (top); values above max are clipped to the
 * top row and negative values to the bottom.
 *
 * The glyph computation (chart_render) is pure and unit-tested; chart_draw only puts its cells
 * on the screen with each series' theme role.
 */
#ifndef SONDE_CHART_H
#define SONDE_CHART_H

#include <stddef.h>
#include <stdint.h>
#include <curses.h>

#include "theme.h"

enum chart_symbols { CHART_BRAILLE, CHART_BLOCK, CHART_ASCII };

/*
 * The vertical scale of one chart, kept by the caller across refreshes (zero-initialise it).
 * chart_scale_update() grows max at once to a "nice" bound (1, 2 or 5 x 10^k) above the data,
 * and shrinks it only after the data stayed under half of it for CHART_SHRINK_UPDATES updates
 * in a row, so a chart does not jump. A caller wanting a fixed scale (CPU 0-100%) sets max and
 * never calls chart_scale_update().
 */
struct chart_scale {
	double max;              /* current top, with hysteresis; 0 until the first update */
	unsigned below_half;     /* consecutive updates whose peak stayed under max / 2 */
	int binary;              /* set by the caller for byte charts: bounds are 1/2/5 x 10^k of
	                            B/KiB/MiB/GiB... (50 MiB, not 47.7 MiB); see chart_nice_ceil_binary */
};

#define CHART_SHRINK_UPDATES 10  /* updates under half the bound before the scale shrinks */

struct chart_series {
	const double *values;    /* oldest first; NAN = gap */
	size_t n;
	enum theme_role role;    /* colour of the line (TH_CHART_1...) */
	const char *label;       /* for legends and read-outs; may be NULL */
};

/* Formats one axis value with its unit: fmt_bytes, fmt_percent, fmt_rate... fit as they are. */
typedef const char *(*chart_format_fn)(char *buf, size_t size, double value);

/* Fit the scale to the values given (pass what the chart shows). Call it once per new data,
 * not on every redraw: the shrink delay counts calls. Series with no finite value leave the
 * scale as it is. */
void chart_scale_update(struct chart_scale *s, const struct chart_series *series, size_t nseries);

/* The smallest 1/2/5 x 10^k that is >= v (v > 0); 1 for v <= 0, NaN or infinite. */
double chart_nice_ceil(double v);

/* The same in binary units: the smallest 1/2/5 x 10^k x 1024^j >= v with a mantissa under
 * 1024, so fmt_bytes prints it round ("50.0 MiB", "200 KiB", "1.00 GiB"); 1 for v <= 0. */
double chart_nice_ceil_binary(double v);

/* Draw the series into the height x width cells at (y, x) of w (later series over earlier). */
void chart_draw(WINDOW *w, int y, int x, int height, int width,
                const struct chart_series *series, size_t nseries,
                const struct chart_scale *scale, enum chart_symbols symbols);

/* ---- The pure part (no curses; unit-tested). ---- */

/* One screen cell of a rendered chart. */
struct chart_cell {
	uint32_t glyph;          /* Unicode code point; ' ' when empty */
	int series;              /* index of the series drawn in it (the last one), -1 when empty */
};

/*
 * Compute the glyphs of a height x width chart into cells[height * width] (row-major, row 0 at
 * the top). Same arguments and meaning as chart_draw. Returns 0, or -1 when the sizes are not
 * positive (cells untouched).
 */
int chart_render(struct chart_cell *cells, int height, int width,
                 const struct chart_series *series, size_t nseries,
                 const struct chart_scale *scale, enum chart_symbols symbols);

/* Samples shown per cell column: 2 for braille, 1 otherwise. */
int chart_samples_per_column(enum chart_symbols symbols);

/*
 * Which sample of a series of n values the cell column col (0 = left) of a width-wide chart
 * shows: the index of the newest sample in that column, or -1 when the column shows none
 * (the series is shorter than the chart). For a cursor that reads out values at one moment.
 */
long chart_sample_at(size_t n, int width, int col, enum chart_symbols symbols);

/*
 * The symbol set to use: ASCII whenever ascii is set (theme_ascii()), else the one named by
 * wanted ("braille", "block", "ascii" or "tty"; NULL or "" = braille). An unknown name gives
 * braille and sets *unknown to 1 (unknown may be NULL).
 */
enum chart_symbols chart_symbols_select(int ascii, const char *wanted, int *unknown);

/*
 * The y-axis labels of a chart height rows high: the label of row r (0 = top) into buf, or ""
 * for rows without one. Labelled rows: the top (max), the bottom (0) and, when height >= 5,
 * the middle (max / 2). Returns buf.
 */
const char *chart_yaxis_label(char *buf, size_t size, int row, int height,
                              const struct chart_scale *scale, chart_format_fn fmt);

/* The widest label chart_yaxis_label would produce (columns), to size the axis. */
int chart_yaxis_width(int height, const struct chart_scale *scale, chart_format_fn fmt);

/*
 * A time axis line width columns wide under a chart covering span_s seconds that ends now:
 * "-10m" at the left, "now" at the right, and evenly spaced ticks between where they fit
 * ("-10m      -7m30s ... now" style labels chosen from round steps). Writes at most size-1
 * chars (width of them, padded with spaces) and returns buf.
 */
const char *chart_time_axis(char *buf, size_t size, int width, double span_s);

/* Draw the y axis labels right-aligned in a width-wide column at (y, x), height rows. */
void chart_draw_yaxis(WINDOW *w, int y, int x, int height, int width,
                      const struct chart_scale *scale, chart_format_fn fmt);

/* Draw chart_time_axis() at (y, x) in the TH_DIM role. */
void chart_draw_time_axis(WINDOW *w, int y, int x, int width, double span_s);

#endif
