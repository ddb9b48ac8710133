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
 * marked (missed ticks) or lost samples are drawn as nothing, never joined across.
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
#include "keys.h"
#include "tabs.h"
#include "theme.h"
#include "ui.h"

#define LOAD_SLOT "load.history"
#define LOAD_THREAD_SLOTS 9          /* as many as the agent records per sample */
#define LOAD_TOP_THREADS 3           /* thread lines on the CPU chart, beside the process */
#define LOAD_MAX_SAMPLES 100000      /* the agent's own ring bound */
#define LOAD_MAX_COLS 1024           /* widest chart drawn, in cells */
#define LOAD_PANELS 6
#define LOAD_PANEL_SERIES 4          /* one per TH_CHART_n role */

/* The scalar series the tab asks for (wire names of the history command). */
enum load_col {
	LC_CPU, LC_RSS, LC_ALLOC_ALLOCATED, LC_ALLOC_RESIDENT, LC_TASK_MEMORY, LC_TASKS,
	LC_SPAWN, LC_EXIT, LC_REDUCTIONS, LC_QUEUE, LC_COUNT,
	LC_THREAD0 = LC_COUNT             /* pseudo-columns: the window's busiest threads */
};

static const char *const load_col_names[LC_COUNT] = {
	"cpu_pct", "rss_bytes", "alloc_allocated_bytes", "alloc_resident_bytes",
	"task_memory_bytes", "tasks", "spawn_per_s", "exit_per_s", "reductions_per_s", "queue",
};

struct load_thread {
	int tid;
	float pct;
	char name[16];
};

struct load_sample {
	unsigned long long seq;
	double t;             /* wall clock, epoch seconds */
	double mono;          /* agent monotonic seconds since its start */
	double span;          /* seconds of time this sample's figures cover, ending at mono */
	double v[LC_COUNT];
	int nthreads;
	struct load_thread threads[LOAD_THREAD_SLOTS];
};

struct load_panel {
	const char *title;
	chart_format_fn fmt;
	int nseries;
	int col[LOAD_PANEL_SERIES];       /* enum load_col, or LC_THREAD0 + k */
	const char *label[LOAD_PANEL_SERIES];
};

static const struct load_panel load_panels[LOAD_PANELS] = {
	{"CPU", fmt_percent, 4, {LC_CPU, LC_THREAD0, LC_THREAD0 + 1, LC_THREAD0 + 2},
	 {"process", NULL, NULL, NULL}},
	{"Memory", fmt_bytes, 4, {LC_RSS, LC_ALLOC_RESIDENT, LC_ALLOC_ALLOCATED, LC_TASK_MEMORY},
	 {"RSS", "resident", "allocated", "tasks"}},   /* resident/allocated: the allocator's */
	{"Tasks", fmt_count, 1, {LC_TASKS}, {"live"}},
	{"Spawn/exit", fmt_rate, 2, {LC_SPAWN, LC_EXIT}, {"spawn", "exit"}},
	{"Reductions", fmt_rate, 1, {LC_REDUCTIONS}, {"all tasks"}},
	{"Queue", fmt_count, 1, {LC_QUEUE}, {"total"}},
};

static const unsigned load_windows_s[] = {60, 300, 600};

static struct {
	struct load_sample *ring;   /* oldest at (head + cap - count) % cap */
	size_t cap, count, head;
	unsigned long long cursor;  /* `next` of the last reply: the newest seq we hold */
	unsigned long long asked;   /* the since we declare (moves at refresh ticks) */
	unsigned long asked_refresh;
	int more;                   /* the agent has more after our cursor: ask at once */
	uint64_t reply_seq;         /* fetch_reply.seq already merged */
	uint64_t generation;        /* fetch generation the ring belongs to */
	unsigned long long lost;    /* samples the agent no longer had when we asked */
	double interval_s;
	unsigned window;            /* index into load_windows_s */
	double cursor_t;            /* agent monotonic time under the cursor; NAN = live */
	enum chart_symbols symbols;
	int symbols_chosen;         /* g was pressed: keep the user's choice */
	struct chart_scale scale[LOAD_PANELS];
	uint64_t data_version, scaled_version;
	unsigned char seen[LC_COUNT];   /* the column had a known value in some sample */
	unsigned scaled_window;
	int top_tid[LOAD_TOP_THREADS];
	char top_name[LOAD_TOP_THREADS][16];
	/* where the last frame drew the charts, for mouse clicks and cursor steps */
	int chart_y[LOAD_PANELS], chart_x[LOAD_PANELS], chart_h[LOAD_PANELS], chart_w[LOAD_PANELS];
	double t_end;               /* agent monotonic time at the right edge */
} load = {.window = 2, .cursor_t = NAN};

static double load_slots[LOAD_PANEL_SERIES][LOAD_MAX_COLS * 2];

/* ---- the client-side copy of the history ---------------------------------------------------- */

static struct load_sample *load_at(size_t i)   /* i = 0 is the oldest held */
{
	return &load.ring[(load.head + load.cap - load.count + i) % load.cap];
}

/* Forget everything (another process, another incarnation of the agent). */
static void load_reset(void)
{
	load.count = 0;
	load.head = 0;
	load.cursor = 0;
	load.asked = 0;
	load.more = 0;
	load.lost = 0;
	load.cursor_t = NAN;
	memset(load.scale, 0, sizeof load.scale);
	memset(load.seen, 0, sizeof load.seen);
	load.data_version++;
}

/* Make room for cap samples, keeping what is held (oldest dropped if it shrinks). */
static int load_reserve(size_t cap)
{
	struct load_sample *ring;
	size_t keep;

	if (cap > LOAD_MAX_SAMPLES)
		cap = LOAD_MAX_SAMPLES;
	if (cap <= load.cap)
		return 0;
	ring = calloc(cap, sizeof *ring);
	if (ring == NULL)
		return -1;
	keep = load.count;
	for (size_t i = 0; i < keep; i++)
		ring[i] = *load_at(i);
	free(load.ring);
	load.ring = ring;
	load.cap = cap;
	load.count = keep;
	load.head = keep % cap;
	return 0;
}

static double load_num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Append one sample of a reply; after_gap: the agent no longer had the samples before it. */
static void load_append(const json_t *js, int after_gap)
{
	struct load_sample *s, *prev = load.count > 0 ? load_at(load.count - 1) : NULL;
	const json_t *threads = json_object_get(js, "threads"), *th;
	size_t i;

	if (load.cap == 0 && load_reserve(600) != 0)
		return;
	s = &load.ring[load.head];
	memset(s, 0, sizeof *s);
	s->seq = (unsigned long long)json_integer_value(json_object_get(js, "seq"));
	s->t = load_num(js, "t");
	s->mono = load_num(js, "mono_s");
	for (int c = 0; c < LC_COUNT; c++) {
		s->v[c] = load_num(js, load_col_names[c]);
		if (!isnan(s->v[c]))
			load.seen[c] = 1;
	}
	json_array_foreach(threads, i, th) {
		if (s->nthreads == LOAD_THREAD_SLOTS)
			break;
		struct load_thread *t = &s->threads[s->nthreads++];
		t->tid = (int)json_integer_value(json_object_get(th, "tid"));
		t->pct = (float)load_num(th, "cpu_pct");
		snprintf(t->name, sizeof t->name, "%s", ui_str(th, "name", "?"));
	}
	/* The time this sample's figures cover: since the previous sample when they follow each
	 * other, else (a gap, lost samples, the first one) one interval. */
	s->span = load.interval_s > 0 ? load.interval_s : 1.0;
	if (prev != NULL && !after_gap && json_object_get(js, "gap_before") == NULL &&
	    prev->seq + 1 == s->seq && s->mono > prev->mono)
		s->span = s->mono - prev->mono;
	load.head = (load.head + 1) % load.cap;
	if (load.count < load.cap)
		load.count++;
}

/* Merge a new `history` reply into the copy: only samples newer than what we hold. */
static void load_merge(struct ui *ui)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, LOAD_SLOT);
	struct fetch_status st;
	const json_t *samples, *js, *gap;
	size_t i;
	int after_gap;

	fetch_status(ui->fetch, &st);
	if (st.generation != load.generation) {
		load.generation = st.generation;
		load_reset();
	}
	if (r == NULL || r->seq == load.reply_seq)
		return;
	load.reply_seq = r->seq;
	if (r->result == NULL) {
		/* A cursor the agent refuses belongs to another incarnation: start over. */
		if (strncmp(r->error, "bad_argument", 12) == 0 && load.cursor != 0)
			load_reset();
		return;
	}
	if (json_is_number(json_object_get(r->result, "interval_ms")))
		load.interval_s = load_num(r->result, "interval_ms") / 1e3;
	if (load_reserve((size_t)json_integer_value(json_object_get(r->result, "capacity"))) != 0)
		return;
	gap = json_object_get(r->result, "gap");
	after_gap = gap != NULL;
	if (gap != NULL && fetch_reply_arg_int(r, "since", 0) == (long long)load.cursor)
		load.lost += (unsigned long long)json_integer_value(json_object_get(gap, "lost"));
	samples = json_object_get(r->result, "samples");
	json_array_foreach(samples, i, js) {
		unsigned long long seq = (unsigned long long)json_integer_value(json_object_get(js, "seq"));
		if (load.count > 0 && seq <= load_at(load.count - 1)->seq)
			continue;   /* a reply to an older cursor: we have these */
		load_append(js, after_gap);
		after_gap = 0;
		load.data_version++;
	}
	if (load.count > 0 && load_at(load.count - 1)->seq > load.cursor)
		load.cursor = load_at(load.count - 1)->seq;
	load.more = json_is_true(json_object_get(r->result, "more"));
}

/* ---- fetching ------------------------------------------------------------------------------- */

/* Ask with the cursor. The cursor we declare moves only at a refresh tick (or while the agent
 * says there is more), so between ticks the request stays the same and is not re-sent. */
static void load_fetch(struct ui *ui)
{
	json_t *args;
	char series[256] = "threads";

	load_merge(ui);
	if ((!ui->paused && ui->refreshes != load.asked_refresh) || load.more) {
		load.asked = load.cursor;
		load.asked_refresh = ui->refreshes;
		load.more = 0;
	}
	for (int c = 0; c < LC_COUNT; c++) {
		strncat(series, ",", sizeof series - strlen(series) - 1);
		strncat(series, load_col_names[c], sizeof series - strlen(series) - 1);
	}
	args = json_pack("{s:s}", "series", series);
	if (load.asked != 0)
		json_object_set_new(args, "since", json_integer((json_int_t)load.asked));
	fetch_want(ui->fetch, LOAD_SLOT, "history", args);
}

/* ---- resampling to chart columns ------------------------------------------------------------ */

static double load_value(const struct load_sample *s, int col)
{
	if (col < LC_COUNT)
		return s->v[col];
	for (int i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == load.top_tid[col - LC_THREAD0])
			return s->threads[i].pct;
	return NAN;   /* not among the busiest of that sample */
}

/* The busiest threads over the visible window (sum of their CPU shares), for the CPU chart. */
static void load_pick_threads(double t0)
{
	struct { int tid; double sum; const char *name; } acc[64];
	size_t nacc = 0;

	for (size_t i = 0; i < load.count; i++) {
		const struct load_sample *s = load_at(i);
		if (s->mono < t0)
			continue;
		for (int k = 0; k < s->nthreads; k++) {
			const struct load_thread *t = &s->threads[k];
			size_t j;
			if (isnan(t->pct))
				continue;
			for (j = 0; j < nacc && acc[j].tid != t->tid; j++)
				;
			if (j == nacc) {
				if (nacc == sizeof acc / sizeof acc[0])
					continue;
				acc[nacc].tid = t->tid;
				acc[nacc].sum = 0;
				nacc++;
			}
			acc[j].sum += t->pct;
			acc[j].name = t->name;
		}
	}
	for (int k = 0; k < LOAD_TOP_THREADS; k++) {
		size_t best = nacc;
		for (size_t j = 0; j < nacc; j++)
			if (acc[j].tid != 0 && (best == nacc || acc[j].sum > acc[best].sum))
				best = j;
		load.top_tid[k] = best < nacc ? acc[best].tid : 0;
		snprintf(load.top_name[k], sizeof load.top_name[k], "%s",
		         best < nacc ? acc[best].name : "");
		if (best < nacc)
			acc[best].tid = 0;
	}
}

/*
 * Fill load_slots[0..n-1][0..nslots-1] for a panel: slot j covers
 * (t_end - window + j*w, t_end - window + (j+1)*w] with w = window/nslots; its value is the
 * highest of the samples whose covered time overlaps it, NAN where no sample covers it.
 */
static void load_resample(const struct load_panel *p, size_t nslots, double window_s)
{
	double t0 = load.t_end - window_s, w = window_s / (double)nslots;

	for (int k = 0; k < p->nseries; k++)
		for (size_t j = 0; j < nslots; j++)
			load_slots[k][j] = NAN;
	for (size_t i = 0; i < load.count; i++) {
		const struct load_sample *s = load_at(i);
		double from = s->mono - s->span, to = s->mono;
		long j0, j1;

		if (to <= t0 || isnan(to))
			continue;
		j0 = (long)floor((from - t0) / w + 1e-9);
		j1 = (long)ceil((to - t0) / w - 1e-9) - 1;
		if (j0 < 0)
			j0 = 0;
		if (j1 >= (long)nslots)
			j1 = (long)nslots - 1;
		if (j1 < j0)
			j1 = j0;   /* a sample shorter than a slot still shows */
		for (int k = 0; k < p->nseries; k++) {
			double v = load_value(s, p->col[k]);
			if (isnan(v))
				continue;
			for (long j = j0; j <= j1 && j < (long)nslots; j++)
				if (isnan(load_slots[k][j]) || v > load_slots[k][j])
					load_slots[k][j] = v;
		}
	}
}

/* The sample under the cursor: the newest one taken at or before cursor_t that covers it. */
static const struct load_sample *load_sample_at(double t)
{
	size_t lo = 0, hi = load.count;

	while (lo < hi) {   /* first sample with mono > t */
		size_t mid = (lo + hi) / 2;
		if (load_at(mid)->mono <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* the sample that covers t is the first one taken at or after it */
	if (lo < load.count && load_at(lo)->mono - load_at(lo)->span <= t + 1e-9)
		return load_at(lo);
	if (lo > 0 && fabs(load_at(lo - 1)->mono - t) < 1e-9)
		return load_at(lo - 1);
	return NULL;
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
                             const struct load_sample *at)
{
	char buf[FMT_SIZE], item[64];
	int used;

	ui_put(w, y, x, width, theme_attr(TH_TABLE_HEADER), p->title);
	used = (int)strlen(p->title) + 1;
	for (int k = 0; k < p->nseries; k++) {
		const char *label = p->label[k];
		double v = at != NULL ? load_value(at, p->col[k]) : NAN;
		int len;

		if (p->col[k] >= LC_THREAD0) {
			label = load.top_name[p->col[k] - LC_THREAD0];
			if (load.top_tid[p->col[k] - LC_THREAD0] == 0)
				continue;
		} else if (!load.seen[p->col[k]]) {
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
                            int width, const struct load_sample *at, int update_scale)
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
	load_resample(p, nslots, window_s);
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
static void load_draw_status(WINDOW *w, int width, const struct load_sample *at)
{
	char line[320], span[FMT_SIZE], ago[FMT_SIZE], when[32] = "";
	const struct load_sample *first = load_at(0), *last = load_at(load.count - 1);
	int n;

	fmt_duration(span, sizeof span, last->mono - first->mono + last->span);
	n = snprintf(line, sizeof line, "%zu samples (%s) every %s, window %u min",
	             load.count, span, fmt_duration(ago, sizeof ago, load.interval_s),
	             load_windows_s[load.window] / 60);
	if (load.lost > 0 && n < (int)sizeof line)
		n += snprintf(line + n, sizeof line - (size_t)n, ", %llu samples lost while away",
		              load.lost);
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
	const struct load_sample *at;
	int ncols, nrows, update_scale;

	load_merge(ui);
	if (theme_ascii())
		load.symbols = CHART_ASCII;
	else if (!load.symbols_chosen)
		load.symbols = chart_symbols_select(0, getenv("SONDE_CHART"), NULL);
	if (load.count == 0) {
		r = fetch_get(ui->fetch, LOAD_SLOT);
		ui_draw_waiting(ui, w, "history", r != NULL ? r->error : NULL);
		return;
	}
	load.t_end = load_at(load.count - 1)->mono;
	/* Scales move with the data (their hysteresis counts updates), not with every frame; so
	 * does the choice of the busiest threads. */
	update_scale = load.data_version != load.scaled_version || load.scaled_window != load.window;
	load.scaled_version = load.data_version;
	load.scaled_window = load.window;
	if (update_scale)
		load_pick_threads(load.t_end - load_windows_s[load.window]);
	if (!isnan(load.cursor_t) && load.cursor_t < load.t_end - load_windows_s[load.window])
		load.cursor_t = load.t_end - load_windows_s[load.window];
	at = isnan(load.cursor_t) ? load_at(load.count - 1) : load_sample_at(load.cursor_t);
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
	return load.interval_s > 0 ? load.interval_s : 1.0;
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
	if (load.count == 0)
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
	if (!(bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED)) || load.count == 0)
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
