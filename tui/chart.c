/*
 * chart.c - line charts: scaling with hysteresis, glyph computation (pure), drawing, axes.
 *
 * The geometry, shared by every symbol set: a chart of width columns shows the newest
 * width * chart_samples_per_column() samples, the newest in the rightmost (sub-)column.
 * A value v maps to one of L levels (L = rows x levels per row: 4 braille dots, 8 block
 * eighths, 3 ASCII marks) as round(v / max * (L - 1)) for lines; block bars fill up to
 * round(v / max * L) eighths.
 */
#include "config.h"

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "chart.h"

#define CHART_BRAILLE_BASE 0x2800u   /* U+2800 BRAILLE PATTERN BLANK; dots are its low 8 bits */
#define CHART_BLOCK_BASE 0x2580u     /* U+2581..U+2588: lower one eighth .. full block */
#define CHART_MAX_SERIES 16          /* series drawn per chart; more would be unreadable anyway */

/* Largest finite value of every series, or NAN when none has one. */
static double chart_peak(const struct chart_series *series, size_t nseries)
{
	double peak = NAN;
	for (size_t s = 0; s < nseries; s++) {
		for (size_t i = 0; i < series[s].n; i++) {
			double v = series[s].values[i];
			if (isfinite(v) && (isnan(peak) || v > peak))
				peak = v;
		}
	}
	return peak;
}

/* 1, 2 or 5 x 10^k: bounds a reader can do arithmetic with. */
double chart_nice_ceil(double v)
{
	if (!isfinite(v) || v <= 0)
		return 1.0;
	double base = pow(10.0, floor(log10(v)));
	static const double steps[] = {1, 2, 5, 10, 20};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		/* The tolerance absorbs pow/log10 rounding (v = 200 must give 200, not 500). */
		if (steps[i] * base >= v * (1 - 1e-12))
			return steps[i] * base;
	}
	return 20 * base;
}

/* Bounds a reader can do arithmetic with in KiB/MiB/GiB: 1/2/5 x 10^k of the right unit,
 * and 1 of the next unit instead of 1000 of this one. */
double chart_nice_ceil_binary(double v)
{
	if (!isfinite(v) || v <= 0)
		return 1.0;
	double unit = 1.0;
	while (v / unit >= 1024.0 && unit < 0x1p80)
		unit *= 1024.0;
	double m = chart_nice_ceil(v / unit);
	if (m < 1.0)                                 /* no fractions of a byte */
		m = 1.0;
	return m >= 1000.0 ? 1024.0 * unit : m * unit;
}

/* Grow at once, shrink only after CHART_SHRINK_UPDATES updates under half: no jumping. */
void chart_scale_update(struct chart_scale *s, const struct chart_series *series, size_t nseries)
{
	double peak = chart_peak(series, nseries);
	if (isnan(peak))
		return;                              /* nothing known: keep the scale as it is */
	double target = s->binary ? chart_nice_ceil_binary(peak) : chart_nice_ceil(peak);
	if (!(s->max > 0) || !isfinite(s->max) || peak > s->max) {
		s->max = target;
		s->below_half = 0;
	} else if (peak < s->max / 2) {
		if (++s->below_half >= CHART_SHRINK_UPDATES) {
			s->max = target;
			s->below_half = 0;
		}
	} else {
		s->below_half = 0;
	}
}

/* Braille packs two samples in a cell column; the other sets one. */
int chart_samples_per_column(enum chart_symbols symbols)
{
	return symbols == CHART_BRAILLE ? 2 : 1;
}

/* The newest sample shown in a column, for cursors and read-outs. */
long chart_sample_at(size_t n, int width, int col, enum chart_symbols symbols)
{
	if (width <= 0 || col < 0 || col >= width)
		return -1;
	long per = chart_samples_per_column(symbols);
	long slots = (long)width * per;
	long i = (long)n - slots + (long)col * per + per - 1;
	return i >= 0 && i < (long)n ? i : -1;
}

/* ASCII whenever Unicode must be avoided, else what the user asked for (braille by default). */
enum chart_symbols chart_symbols_select(int ascii, const char *wanted, int *unknown)
{
	enum chart_symbols pick = CHART_BRAILLE;
	if (unknown != NULL)
		*unknown = 0;
	if (wanted != NULL && wanted[0] != '\0') {
		if (strcmp(wanted, "block") == 0)
			pick = CHART_BLOCK;
		else if (strcmp(wanted, "ascii") == 0 || strcmp(wanted, "tty") == 0)
			pick = CHART_ASCII;
		else if (strcmp(wanted, "braille") != 0 && unknown != NULL)
			*unknown = 1;
	}
	return ascii ? CHART_ASCII : pick;
}

/* The scale top actually used: a scale that was never updated plots 0..1. */
static double chart_top(const struct chart_scale *scale)
{
	return scale != NULL && scale->max > 0 && isfinite(scale->max) ? scale->max : 1.0;
}

/* A value's level among `levels` (0 = bottom), clipped; the caller has excluded NaN. */
static long chart_level(double v, double top, long levels)
{
	if (!(v > 0))
		return 0;
	double l = round(v / top * (double)(levels - 1));
	return l >= (double)(levels - 1) ? levels - 1 : (long)l;
}

/* Braille: dot (column dx 0/1, row dy 0 = top .. 3) of a cell as its bit in U+2800. */
static uint32_t chart_braille_bit(int dx, int dy)
{
	static const uint8_t bits[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};
	return bits[dx][dy];
}

/* Put dot level `level` (0 = bottom dot row) of dot column dc on the braille grid. */
static void chart_braille_dot(struct chart_cell *cells, int height, int width, long dc,
                              long level, int series)
{
	long row = height - 1 - level / 4;
	int dy = 3 - (int)(level % 4);
	struct chart_cell *c = &cells[row * width + dc / 2];
	c->glyph |= chart_braille_bit((int)(dc % 2), dy);
	c->series = series;
}

/* Braille lines: one dot per sample, joined vertically to the previous sample unless a gap. */
static void chart_render_braille(struct chart_cell *cells, int height, int width,
                                 const struct chart_series *series, size_t nseries, double top)
{
	long levels = (long)height * 4, slots = (long)width * 2;

	for (int i = 0; i < height * width; i++)
		cells[i].glyph = CHART_BRAILLE_BASE;
	for (size_t s = 0; s < nseries; s++) {
		const struct chart_series *se = &series[s];
		long first = (long)se->n > slots ? (long)se->n - slots : 0;
		long prev = -1;                          /* previous sample's level; -1 after a gap */
		for (long i = first; i < (long)se->n; i++) {
			double v = se->values[i];
			long dc = slots - ((long)se->n - i);
			if (isnan(v)) {
				prev = -1;
				continue;
			}
			long level = chart_level(v, top, levels);
			long from = level, to = level;
			if (prev >= 0 && level > prev + 1)
				from = prev + 1;                 /* rising: fill up from above the last dot */
			else if (prev >= 0 && level < prev - 1)
				to = prev - 1;                   /* falling: fill down from below it */
			for (long l = from; l <= to; l++)
				chart_braille_dot(cells, height, width, dc, l, (int)s);
			prev = level;
		}
	}
	for (int i = 0; i < height * width; i++) {
		if (cells[i].glyph == CHART_BRAILLE_BASE)
			cells[i].glyph = ' ';
	}
}

/* Block bars: per column, the tallest series first so shorter bars stay visible over it. */
static void chart_render_block(struct chart_cell *cells, int height, int width,
                               const struct chart_series *series, size_t nseries, double top)
{
	long eighths_max = (long)height * 8;

	if (nseries > CHART_MAX_SERIES)
		nseries = CHART_MAX_SERIES;
	for (int col = 0; col < width; col++) {
		long eighths[CHART_MAX_SERIES];
		int done[CHART_MAX_SERIES] = {0};
		for (size_t s = 0; s < nseries; s++) {
			long i = chart_sample_at(series[s].n, width, col, CHART_BLOCK);
			double v = i >= 0 ? series[s].values[i] : NAN;
			if (isnan(v) || !(v > 0)) {
				eighths[s] = 0;                  /* gap or zero: no bar */
				continue;
			}
			double e = round(v / top * (double)eighths_max);
			eighths[s] = e >= (double)eighths_max ? eighths_max : e < 1 ? 1 : (long)e;
		}
		for (size_t k = 0; k < nseries; k++) {
			size_t pick = nseries;
			for (size_t s = 0; s < nseries; s++) {
				if (!done[s] && (pick == nseries || eighths[s] >= eighths[pick]))
					pick = s;
			}
			done[pick] = 1;
			long e = eighths[pick];
			for (int row = height - 1; e > 0; row--, e -= 8) {
				struct chart_cell *c = &cells[row * width + col];
				c->glyph = CHART_BLOCK_BASE + (uint32_t)(e >= 8 ? 8 : e);
				c->series = (int)pick;
			}
		}
	}
}

/* ASCII lines: '_' '-' '\'' for the three levels of a row, '|' where a line climbs or falls
 * through whole rows. */
static void chart_render_ascii(struct chart_cell *cells, int height, int width,
                               const struct chart_series *series, size_t nseries, double top)
{
	static const char marks[3] = {'_', '-', '\''};
	long levels = (long)height * 3;

	for (size_t s = 0; s < nseries; s++) {
		const struct chart_series *se = &series[s];
		long first = (long)se->n > width ? (long)se->n - width : 0;
		long prev_row = -1;
		for (long i = first; i < (long)se->n; i++) {
			double v = se->values[i];
			long col = width - ((long)se->n - i);
			if (isnan(v)) {
				prev_row = -1;
				continue;
			}
			long level = chart_level(v, top, levels);
			long row = level / 3;                /* from the bottom */
			if (prev_row >= 0) {
				for (long r = prev_row + 1; r < row; r++)
					cells[(height - 1 - r) * width + col] = (struct chart_cell){'|', (int)s};
				for (long r = row + 1; r < prev_row; r++)
					cells[(height - 1 - r) * width + col] = (struct chart_cell){'|', (int)s};
			}
			cells[(height - 1 - row) * width + col] =
				(struct chart_cell){(uint32_t)marks[level % 3], (int)s};
			prev_row = row;
		}
	}
}

/* The pure heart of the chart: glyphs and owners of every cell. */
int chart_render(struct chart_cell *cells, int height, int width,
                 const struct chart_series *series, size_t nseries,
                 const struct chart_scale *scale, enum chart_symbols symbols)
{
	if (height <= 0 || width <= 0 || cells == NULL)
		return -1;
	for (long i = 0; i < (long)height * width; i++)
		cells[i] = (struct chart_cell){' ', -1};
	if (series == NULL)
		nseries = 0;
	double top = chart_top(scale);
	switch (symbols) {
	case CHART_BRAILLE:
		chart_render_braille(cells, height, width, series, nseries, top);
		break;
	case CHART_BLOCK:
		chart_render_block(cells, height, width, series, nseries, top);
		break;
	case CHART_ASCII:
	default:
		chart_render_ascii(cells, height, width, series, nseries, top);
		break;
	}
	return 0;
}

/* Render, then put each cell on screen in its series' role; blank cells are cleared. */
void chart_draw(WINDOW *w, int y, int x, int height, int width,
                const struct chart_series *series, size_t nseries,
                const struct chart_scale *scale, enum chart_symbols symbols)
{
	/* Reused across frames (UI thread only) so a refresh does not allocate. */
	static struct chart_cell *buf;
	static size_t cap;
	size_t need = height > 0 && width > 0 ? (size_t)height * (size_t)width : 0;

	if (w == NULL || need == 0)
		return;
	if (need > cap) {
		struct chart_cell *grown = realloc(buf, need * sizeof *grown);
		if (grown == NULL)
			return;                              /* keep the old frame rather than crash */
		buf = grown;
		cap = need;
	}
	chart_render(buf, height, width, series, nseries, scale, symbols);
	int blank_attr = theme_attr(TH_DEFAULT);
	for (int r = 0; r < height; r++) {
		for (int c = 0; c < width; c++) {
			const struct chart_cell *cell = &buf[r * width + c];
			int attr = cell->series >= 0 ? theme_attr(series[cell->series].role) : blank_attr;
			if (cell->glyph < 0x80) {
				mvwaddch(w, y + r, x + c, (chtype)cell->glyph | (chtype)attr);
				continue;
			}
			wchar_t wc[2] = {(wchar_t)cell->glyph, L'\0'};
			cchar_t cc;
			setcchar(&cc, wc, (attr_t)attr & ~(attr_t)A_COLOR, (short)PAIR_NUMBER(attr), NULL);
			mvwadd_wch(w, y + r, x + c, &cc);
		}
	}
}

/* Format an axis value with the caller's unit, or plainly when no formatter is given. */
static const char *chart_format(char *buf, size_t size, double v, chart_format_fn fmt)
{
	if (fmt != NULL)
		return fmt(buf, size, v);
	snprintf(buf, size, "%g", v);
	return buf;
}

/* Labels at the top (max), the bottom (0) and the middle row of taller charts. */
const char *chart_yaxis_label(char *buf, size_t size, int row, int height,
                              const struct chart_scale *scale, chart_format_fn fmt)
{
	double top = chart_top(scale);
	if (size == 0)
		return buf;
	buf[0] = '\0';
	if (height <= 0 || row < 0 || row >= height)
		return buf;
	if (row == 0)
		return chart_format(buf, size, top, fmt);
	if (row == height - 1)
		return chart_format(buf, size, 0.0, fmt);
	if (height >= 5 && row == (height - 1) / 2) {
		/* Skip a middle label that reads like an edge one ("1 B" under a "1 B" top). */
		char edge[64];
		chart_format(buf, size, top * (double)(height - 1 - row) / (double)(height - 1), fmt);
		if (strcmp(buf, chart_format(edge, sizeof edge, top, fmt)) == 0 ||
		    strcmp(buf, chart_format(edge, sizeof edge, 0.0, fmt)) == 0)
			buf[0] = '\0';
	}
	return buf;
}

/* Size the axis column to its widest label, so the chart beside it never shifts mid-label. */
int chart_yaxis_width(int height, const struct chart_scale *scale, chart_format_fn fmt)
{
	int widest = 0;
	for (int r = 0; r < height; r++) {
		char buf[64];
		int len = (int)strlen(chart_yaxis_label(buf, sizeof buf, r, height, scale, fmt));
		if (len > widest)
			widest = len;
	}
	return widest;
}

/* The labels of chart_yaxis_label, right-aligned against the chart, in the dim role. */
void chart_draw_yaxis(WINDOW *w, int y, int x, int height, int width,
                      const struct chart_scale *scale, chart_format_fn fmt)
{
	if (w == NULL || width <= 0)
		return;
	wattrset(w, theme_attr(TH_DIM));
	for (int r = 0; r < height; r++) {
		char buf[64];
		chart_yaxis_label(buf, sizeof buf, r, height, scale, fmt);
		mvwprintw(w, y + r, x, "%*.*s", width, width, buf);
	}
	wattrset(w, A_NORMAL);
}

/* "-1h30m", "-10m", "-1m30s", "-45s": how long ago a tick is, as short as it can be said. */
static void chart_ago(char *buf, size_t size, double s)
{
	long t = lround(s);
	if (t < 60)
		snprintf(buf, size, "-%lds", t);
	else if (t < 3600 && t % 60 == 0)
		snprintf(buf, size, "-%ldm", t / 60);
	else if (t < 3600)
		snprintf(buf, size, "-%ldm%02lds", t / 60, t % 60);
	else if (t < 86400 && t % 3600 == 0)
		snprintf(buf, size, "-%ldh", t / 3600);
	else if (t < 86400)
		snprintf(buf, size, "-%ldh%02ldm", t / 3600, t / 60 % 60);
	else
		snprintf(buf, size, "-%ldd%02ldh", t / 86400, t / 3600 % 24);
}

/* Write text into line[0..width) at column at (clipped); 0 if it would overlap [.., busy). */
static int chart_place(char *line, int width, int at, const char *text, int busy_until)
{
	int len = (int)strlen(text);
	if (at < busy_until || at < 0 || at + len > width)
		return 0;
	memcpy(line + at, text, (size_t)len);
	return 1;
}

/* The time axis: "-SPAN" left, "now" right, round ticks between where they fit. */
const char *chart_time_axis(char *buf, size_t size, int width, double span_s)
{
	static const double steps[] = {1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
	                               7200, 10800, 21600, 43200, 86400, 172800, 604800};
	char line[1024], label[32];

	if (size == 0)
		return buf;
	if (width > (int)sizeof line - 1)
		width = (int)sizeof line - 1;
	if (width <= 0) {
		buf[0] = '\0';
		return buf;
	}
	memset(line, ' ', (size_t)width);
	line[width] = '\0';
	int now_at = width - 3;
	if (!(span_s > 0) || !isfinite(span_s) || width < 10) {
		chart_place(line, width, now_at > 0 ? now_at : 0, width >= 3 ? "now" : "", 0);
		snprintf(buf, size, "%s", line);
		return buf;
	}
	chart_place(line, width, now_at, "now", 0);
	chart_ago(label, sizeof label, span_s);
	int busy = 0;
	if (chart_place(line, width, 0, label, 0))
		busy = (int)strlen(label) + 2;
	/* A step that leaves room for its labels: about one tick per 12 columns at most. */
	double step = 0;
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		if ((double)width * steps[i] / span_s >= 12.0) {
			step = steps[i];
			break;
		}
	}
	if (step > 0) {
		for (double t = span_s - fmod(span_s, step); t >= step; t -= step) {
			if (span_s - t < 1e-9)
				continue;                        /* the left edge already says it */
			chart_ago(label, sizeof label, t);
			int len = (int)strlen(label);
			int centre = (int)lround((double)(width - 1) * (1.0 - t / span_s));
			int at = centre - len / 2;
			if (at + len + 2 > now_at)
				break;                           /* ticks only get closer to "now" */
			if (chart_place(line, width, at, label, busy))
				busy = at + len + 2;
		}
	}
	snprintf(buf, size, "%s", line);
	return buf;
}

/* chart_time_axis on screen, under the chart, in the dim role. */
void chart_draw_time_axis(WINDOW *w, int y, int x, int width, double span_s)
{
	char line[1024];
	if (w == NULL || width <= 0)
		return;
	chart_time_axis(line, sizeof line, width, span_s);
	wattrset(w, theme_attr(TH_DIM));
	mvwaddnstr(w, y, x, line, width);
	wattrset(w, A_NORMAL);
}
