/*
 * tab_load.c - the Load tab: charts of the agent's sampler history (`history`, issue 6).
 *
 * Six panels: CPU (the process and its busiest threads), memory (RSS against the allocator's
 * figures and the tasks' accounted bytes), live tasks, spawn/exit rates, reductions/s and the
 * total queue length. The agent samples from the moment it starts, so the first reply already
 * holds the last minutes; afterwards the tab asks with the reply's `next` cursor and only new
 * samples travel.
 *
 * Time, not sample count, is the x axis: each chart column covers window/columns seconds and
 * shows the highest sample whose interval overlaps it (a spike stays visible when ten samples
 * share a column). A sample covers the interval that ended at its timestamp; a gap the agent
 * marked (missed ticks) or lost samples are drawn as nothing, never joined across. The copy of
 * the history and that resampling live in history.c (pure, unit-tested); this file fetches,
 * lays out and draws.
 *
 * Keys: w cycles the visible window (1, 5, 10 minutes); Left/Right move a cursor whose moment's
 * values replace the latest ones in the legends; Esc/End go back to live; g cycles the chart
 * symbols (braille, block, ASCII; $SONDE_CHART=block or ascii picks the first one). A click in a
 * chart puts the cursor there.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chart.h"
#include "fetch.h"
#include "format.h"
#include "history.h"
#include "keys.h"
#include "tabs.h"
#include "theme.h"
#include "ui.h"

#define LOAD_SLOT "load.history"
#define LOAD_TOP_THREADS 3           /* thread lines on the CPU chart, beside the process */
#define LOAD_MAX_COLS 1024           /* widest chart drawn, in cells */
#define LOAD_PANELS 6
#define LOAD_PANEL_SERIES 4          /* one per TH_CHART_n role */
#define LOAD_THREAD0 HC_COUNT        /* panel columns from here on: the busiest threads */

struct load_panel {
	const char *title;
	chart_format_fn fmt;
	int nseries;
	int col[LOAD_PANEL_SERIES];       /* enum history_col, or LOAD_THREAD0 + k */
	const char *label[LOAD_PANEL_SERIES];
};

static const struct load_panel load_panels[LOAD_PANELS] = {
	{"CPU", fmt_percent, 4, {HC_CPU, LOAD_THREAD0, LOAD_THREAD0 + 1, LOAD_THREAD0 + 2},
	 {"process", NULL, NULL, NULL}},
	{"Memory", fmt_bytes, 4, {HC_RSS, HC_ALLOC_RESIDENT, HC_ALLOC_ALLOCATED, HC_TASK_MEMORY},
	 {"RSS", "resident", "allocated", "tasks"}},   /* resident/allocated: the allocator's */
	{"Tasks", fmt_count, 1, {HC_TASKS}, {"live"}},
	{"Spawn/exit", fmt_rate, 2, {HC_SPAWN, HC_EXIT}, {"spawn", "exit"}},
	{"Reductions", fmt_rate, 1, {HC_REDUCTIONS}, {"all tasks"}},
	{"Queue", fmt_count, 1, {HC_QUEUE}, {"total"}},
};

static const unsigned load_windows_s[] = {60, 300, 600};

static struct {
	struct history hist;        /* the copy of the agent's ring */
	unsigned long long asked;   /* the since we declare (moves at refresh ticks) */
	unsigned long asked_refresh;
	uint64_t reply_seq;         /* fetch_reply.seq already merged */
	uint64_t generation;        /* fetch generation the copy belongs to */
	unsigned window;            /* index into load_windows_s */
	double cursor_t;            /* agent monotonic time under the cursor; NAN = live */
	enum chart_symbols symbols;
	int symbols_chosen;         /* g was pressed: keep the user's choice */
	struct chart_scale scale[LOAD_PANELS];
	uint64_t scaled_version;    /* hist.version the scales last moved with */
	unsigned scaled_window;
	int top_tid[LOAD_TOP_THREADS];
	char top_name[LOAD_TOP_THREADS][16];
	/* where the last frame drew the charts, for mouse clicks and cursor steps */
	int chart_y[LOAD_PANELS], chart_x[LOAD_PANELS], chart_h[LOAD_PANELS], chart_w[LOAD_PANELS];
	double t_end;               /* agent monotonic time at the right edge */
} load = {.window = 2, .cursor_t = NAN};

static double load_slots[LOAD_PANEL_SERIES][LOAD_MAX_COLS * 2];

/* ---- fetching ------------------------------------------------------------------------------- */

/* Merge a new `history` reply into the copy; a new process (or agent) starts it over. */
static void load_merge(struct ui *ui)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, LOAD_SLOT);
	struct fetch_status st;

	fetch_status(ui->fetch, &st);
	if (st.generation != load.generation) {
		load.generation = st.generation;
		history_reset(&load.hist);
		load.asked = 0;
		load.cursor_t = NAN;
		memset(load.scale, 0, sizeof load.scale);
	}
	if (r == NULL || r->seq == load.reply_seq)
		return;
	load.reply_seq = r->seq;
	if (r->result == NULL) {
		/* A cursor the agent refuses belongs to another incarnation: start over. */
		if (strncmp(r->error, "bad_argument", 12) == 0 && load.hist.cursor != 0) {
			history_reset(&load.hist);
			load.asked = 0;
		}
		return;
	}
	if (history_merge(&load.hist, r->result,
	                  (unsigned long long)fetch_reply_arg_int(r, "since", 0)) < 0)
		ui_message(ui, "Load: out of memory for the history copy; showing what is held");
}

/* Ask with the cursor. The cursor we declare moves only at a refresh tick (or while the agent
 * says there is more), so between ticks the request stays the same and is not re-sent. */
static void load_fetch(struct ui *ui)
{
	json_t *args;

	load_merge(ui);
	if ((!ui->paused && ui->refreshes != load.asked_refresh) || load.hist.more) {
		load.asked = load.hist.cursor;
		load.asked_refresh = ui->refreshes;
		load.hist.more = 0;
	}
	args = json_pack("{s:s}", "series", history_series_arg());
	if (load.asked != 0)
		json_object_set_new(args, "since", json_integer((json_int_t)load.asked));
	fetch_want(ui->fetch, LOAD_SLOT, "history", args);
}

/* A panel column's value in one sample: a series, or one of the busiest threads. */
static double load_value(const struct history_sample *s, int col)
{
	if (col < LOAD_THREAD0)
		return s->v[col];
	if (load.top_tid[col - LOAD_THREAD0] == 0)
		return NAN;
	return history_thread_pct(s, load.top_tid[col - LOAD_THREAD0]);
}

static void load_pick_threads(double t0)
{
	size_t n = history_top_threads(&load.hist, t0, LOAD_TOP_THREADS, load.top_tid,
	                               load.top_name);

	for (size_t k = n; k < LOAD_TOP_THREADS; k++) {
		load.top_tid[k] = 0;
		load.top_name[k][0] = '\0';
	}
}

/* ---- drawing -------------------------------------------------------------------------------- */

static const char *load_marker(void)
{
	return theme_ascii() ? "*" : "\u25a0";
}

/* Title line: the panel's name and, per series, a coloured marker, its label and its value
 * now (or at the cursor). Only whole items are drawn; a series never known (the allocator's
 * figures under glibc malloc) is left out. */
static void load_draw_legend(WINDOW *w, int y, int x, int width, const struct load_panel *p,
                             const struct history_sample *at)
{
	char buf[FMT_SIZE], item[64];
	int used;

	ui_put(w, y, x, width, theme_attr(TH_TABLE_HEADER), p->title);
	used = (int)strlen(p->title) + 1;
	for (int k = 0; k < p->nseries; k++) {
		const char *label = p->label[k];
		double v = at != NULL ? load_value(at, p->col[k]) : NAN;
		int len;

		if (p->col[k] >= LOAD_THREAD0) {
			label = load.top_name[p->col[k] - LOAD_THREAD0];
			if (load.top_tid[p->col[k] - LOAD_THREAD0] == 0)
				continue;
		} else if (!load.hist.seen[p->col[k]]) {
			continue;
		}
		len = snprintf(item, sizeof item, "%s %s", label, p->fmt(buf, sizeof buf, v));
		if (used + 2 + len > width)
			break;
		ui_put(w, y, x + used, width - used, theme_attr((enum theme_role)(TH_CHART_1 + k)),
		       load_marker());
		ui_put(w, y, x + used + 2, width - used - 2, theme_attr(TH_DEFAULT), item);
		used += 2 + len + 2;
	}
}

static void load_draw_panel(struct ui *ui, WINDOW *w, int pi, int y, int x, int height,
                            int width, const struct history_sample *at, int update_scale)
{
	const struct load_panel *p = &load_panels[pi];
	struct chart_series series[LOAD_PANEL_SERIES];
	double window_s = load_windows_s[load.window];
	int axis_w, cw, ch, spc = chart_samples_per_column(load.symbols);
	size_t nslots;

	(void)ui;
	load_draw_legend(w, y, x, width, p, at);
	ch = height - 2;   /* title above, time axis below */
	if (ch < 1)
		return;
	axis_w = chart_yaxis_width(ch, &load.scale[pi], p->fmt) + 1;
	cw = width - axis_w - 1;
	if (cw > LOAD_MAX_COLS)
		cw = LOAD_MAX_COLS;
	if (cw < 4)
		return;
	nslots = (size_t)cw * (size_t)spc;
	for (int k = 0; k < p->nseries; k++) {
		int col = p->col[k], tid = col >= LOAD_THREAD0 ? load.top_tid[col - LOAD_THREAD0] : 0;
		if (col >= LOAD_THREAD0 && tid == 0)
			for (size_t j = 0; j < nslots; j++)
				load_slots[k][j] = NAN;
		else
			history_resample(&load.hist, load.t_end, window_s, nslots,
			                 col < LOAD_THREAD0 ? (enum history_col)col : HC_CPU, tid,
			                 load_slots[k]);
	}
	for (int k = 0; k < p->nseries; k++)
		series[k] = (struct chart_series){.values = load_slots[k], .n = nslots,
		                                  .role = (enum theme_role)(TH_CHART_1 + k),
		                                  .label = p->label[k]};
	if (update_scale || load.scale[pi].max <= 0)
		chart_scale_update(&load.scale[pi], series, (size_t)p->nseries);
	chart_draw_yaxis(w, y + 1, x, ch, axis_w - 1, &load.scale[pi], p->fmt);
	chart_draw(w, y + 1, x + axis_w, ch, cw, series, (size_t)p->nseries, &load.scale[pi],
	           load.symbols);
	chart_draw_time_axis(w, y + 1 + ch, x + axis_w, cw, window_s);
	load.chart_y[pi] = y + 1;
	load.chart_x[pi] = x + axis_w;
	load.chart_h[pi] = ch;
	load.chart_w[pi] = cw;
	if (!isnan(load.cursor_t)) {   /* the cursor: a reversed column through the chart */
		long col = (long)floor((load.cursor_t - (load.t_end - window_s)) / window_s * cw);
		if (col >= 0 && col < cw)
			for (int r = 0; r < ch; r++)
				mvwchgat(w, y + 1 + r, x + axis_w + (int)col, 1, A_REVERSE, 0, NULL);
	}
}

/* The first line: how much history there is, the window, and the cursor's moment. */
static void load_draw_status(WINDOW *w, int width, const struct history_sample *at)
{
	char line[320], span[FMT_SIZE], ago[FMT_SIZE], when[32] = "";
	const struct history_sample *first = history_get(&load.hist, 0);
	const struct history_sample *last = history_newest(&load.hist);
	int n;

	fmt_duration(span, sizeof span, last->mono - first->mono + last->span);
	n = snprintf(line, sizeof line, "%zu samples (%s) every %s, window %u min",
	             load.hist.count, span, fmt_duration(ago, sizeof ago, load.hist.interval_s),
	             load_windows_s[load.window] / 60);
	if (load.hist.lost > 0 && n < (int)sizeof line)
		n += snprintf(line + n, sizeof line - (size_t)n, ", %llu samples lost while away",
		              load.hist.lost);
	if (!isnan(load.cursor_t) && n < (int)sizeof line) {
		if (at != NULL) {
			time_t tt = (time_t)at->t;
			struct tm tm;
			if (localtime_r(&tt, &tm) != NULL)
				strftime(when, sizeof when, "%H:%M:%S", &tm);
			snprintf(line + n, sizeof line - (size_t)n, " | cursor %s, %s ago", when,
			         fmt_duration(ago, sizeof ago, load.t_end - at->mono));
		} else {
			snprintf(line + n, sizeof line - (size_t)n, " | cursor %s ago: no sample (gap)",
			         fmt_duration(ago, sizeof ago, load.t_end - load.cursor_t));
		}
	} else if (n < (int)sizeof line) {
		snprintf(line + n, sizeof line - (size_t)n, " | Left/Right: cursor, w: window");
	}
	ui_put(w, 0, 0, width, theme_attr(TH_DIM), line);
}

static void load_draw(struct ui *ui, WINDOW *w, int height, int width)
{
	const struct fetch_reply *r;
	const struct history_sample *at;
	int ncols, nrows, update_scale;

	load_merge(ui);
	if (theme_ascii())
		load.symbols = CHART_ASCII;
	else if (!load.symbols_chosen)
		load.symbols = chart_symbols_select(0, getenv("SONDE_CHART"), NULL);
	if (load.hist.count == 0) {
		r = fetch_get(ui->fetch, LOAD_SLOT);
		ui_draw_waiting(ui, w, "history", r != NULL ? r->error : NULL);
		return;
	}
	load.t_end = history_newest(&load.hist)->mono;
	/* Scales move with the data (their hysteresis counts updates), not with every frame; so
	 * does the choice of the busiest threads. */
	update_scale = load.hist.version != load.scaled_version || load.scaled_window != load.window;
	load.scaled_version = load.hist.version;
	load.scaled_window = load.window;
	if (update_scale)
		load_pick_threads(load.t_end - load_windows_s[load.window]);
	if (!isnan(load.cursor_t) && load.cursor_t < load.t_end - load_windows_s[load.window])
		load.cursor_t = load.t_end - load_windows_s[load.window];
	at = isnan(load.cursor_t) ? history_newest(&load.hist)
	                           : history_sample_at(&load.hist, load.cursor_t);
	load_draw_status(w, width, at);

	ncols = width >= 100 || (width >= 60 && height < 30) ? 2 : 1;
	nrows = LOAD_PANELS / ncols;
	for (int i = 0; i < LOAD_PANELS; i++) {
		int row = i / ncols, col = i % ncols;
		int top = 1 + (height - 1) * row / nrows, bottom = 1 + (height - 1) * (row + 1) / nrows;
		int left = width * col / ncols, right = width * (col + 1) / ncols;
		load.chart_w[i] = 0;
		load_draw_panel(ui, w, i, top, left, bottom - top, right - left - (col + 1 < ncols),
		                at, update_scale);
	}
}

/* ---- keys and mouse ------------------------------------------------------------------------- */

/* Seconds one chart column covers (the first drawn chart's width). */
static double load_column_s(void)
{
	for (int i = 0; i < LOAD_PANELS; i++)
		if (load.chart_w[i] > 0)
			return load_windows_s[load.window] / (double)load.chart_w[i];
	return load.hist.interval_s > 0 ? load.hist.interval_s : 1.0;
}

static unsigned load_key_window(struct ui *ui, int key)
{
	(void)key;
	load.window = (load.window + 1) % (sizeof load_windows_s / sizeof load_windows_s[0]);
	ui_message(ui, "Load: showing the last %u minute%s", load_windows_s[load.window] / 60,
	           load_windows_s[load.window] == 60 ? "" : "s");
	return KEYS_HANDLED | KEYS_REDRAW;
}

static unsigned load_key_cursor(struct ui *ui, int key)
{
	double step = load_column_s();

	(void)ui;
	if (load.hist.count == 0)
		return KEYS_HANDLED;
	if (isnan(load.cursor_t))
		load.cursor_t = load.t_end - step / 2;
	if (key == KEY_LEFT)
		load.cursor_t -= step;
	else
		load.cursor_t += step;
	if (load.cursor_t > load.t_end)
		load.cursor_t = NAN;   /* past the newest: live again */
	return KEYS_HANDLED | KEYS_REDRAW;
}

static unsigned load_key_live(struct ui *ui, int key)
{
	(void)ui;
	(void)key;
	load.cursor_t = NAN;
	return KEYS_HANDLED | KEYS_REDRAW;
}

static unsigned load_key_symbols(struct ui *ui, int key)
{
	static const char *const names[] = {"braille", "block", "ASCII"};

	(void)key;
	load.symbols = theme_ascii() ? CHART_ASCII : (enum chart_symbols)((load.symbols + 1) % 3);
	load.symbols_chosen = 1;
	ui_message(ui, "Load: %s charts%s", names[load.symbols],
	           theme_ascii() ? " (ASCII mode: --ascii or a non-UTF-8 locale)" : "");
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* A click in a chart puts the cursor at that column. */
static unsigned load_mouse(struct ui *ui, int y, int x, unsigned long bstate)
{
	(void)ui;
	if (!(bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED)) || load.hist.count == 0)
		return 0;
	for (int i = 0; i < LOAD_PANELS; i++) {
		if (load.chart_w[i] <= 0 || y < load.chart_y[i] || y >= load.chart_y[i] + load.chart_h[i] ||
		    x < load.chart_x[i] || x >= load.chart_x[i] + load.chart_w[i])
			continue;
		double col_s = load_windows_s[load.window] / (double)load.chart_w[i];
		load.cursor_t = load.t_end - load_windows_s[load.window] +
		                ((double)(x - load.chart_x[i]) + 0.5) * col_s;
		return KEYS_HANDLED | KEYS_REDRAW;
	}
	return 0;
}

static const char *load_status(struct ui *ui, char *buf, size_t size)
{
	(void)ui;
	snprintf(buf, size, "%u min", load_windows_s[load.window] / 60);
	return buf;
}

#define LOAD_CURSOR_HELP "move the cursor back or forward in time; legends show that moment"

static const struct key_binding load_bindings[] = {
	{'w', "Window", "show the last 1, 5 or 10 minutes (cycles)", load_key_window},
	{KEY_LEFT, "Cursor", LOAD_CURSOR_HELP, load_key_cursor},
	{KEY_RIGHT, NULL, LOAD_CURSOR_HELP, load_key_cursor},
	{27, "Live", "drop the cursor, show the latest values", load_key_live},
	{KEY_END, NULL, "drop the cursor, show the latest values", load_key_live},
	{'g', "Graph", "chart symbols: braille, block, ASCII (cycles)", load_key_symbols},
	{0, NULL, NULL, NULL},
};

static const struct key_table load_keys = {"Load", load_bindings};

const struct tab_entry tab_load = {
	.name = "Load",
	.key = '2',
	.fetch = load_fetch,
	.draw = load_draw,
	.keys = &load_keys,
	.mouse = load_mouse,
	.status = load_status,
};
