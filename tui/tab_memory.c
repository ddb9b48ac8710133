/*
 * tab_memory.c - the Memory tab: the allocator as recon_alloc and observer's Memory Allocators
 * tab show it, live.
 *
 *   - a summary in words: how much the application holds, how much the allocator keeps, usage
 *     and fragmentation with how they are computed (from the `alloc` reply's explanations);
 *   - a chart of allocated / active / resident since this screen attached (one point per reply);
 *   - one panel below, chosen with a / c / p: the arena table, the size classes sorted by waste
 *     (o changes the order), or heap profiling (r start, x stop, d dump, D top <-> diff against
 *     the previous dump, Enter the selected site's stack).
 *
 * glibc malloc gets the same layout with its figures (mallinfo2 and malloc_info, rate-limited by
 * the agent; their cost and age are shown).
 *
 * Profiling actions are one-shot requests: the slot "memory.action" is declared only until its
 * reply arrives, then dropped, so a dump or a start runs once per key press.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chart.h"
#include "fetch.h"
#include "format.h"
#include "keys.h"
#include "table.h"
#include "tabs.h"
#include "theme.h"
#include "ui.h"

#define MEM_SLOT_ALLOC "memory.alloc"
#define MEM_SLOT_PROF "memory.prof"
#define MEM_SLOT_TOP "memory.top"
#define MEM_SLOT_DIFF "memory.diff"
#define MEM_SLOT_ACTION "memory.action"
#define MEM_HISTORY 2048          /* chart points kept (one per alloc reply) */
#define MEM_ROWS_ASKED 64         /* size classes / profile sites asked for */
#define MEM_STACK_DEPTH 32

enum mem_panel { PANEL_ARENAS, PANEL_CLASSES, PANEL_PROFILE };
static const char *const mem_sorts[] = {"waste", "size", "util"};
#define MEM_NSORTS 3

static struct {
	enum mem_panel panel;
	int sort;                     /* index into mem_sorts */
	int diff;                     /* profile panel: 1 diff view, 0 top view */
	int functions;                /* profile top view: 1 by function, 0 by site (stack) */
	int stack;                    /* profile panel: the selected site's stack is open */
	long sel, top;                /* selection and first row shown in the panel's table */
	const char *pending;          /* a prof action waiting for its reply ("start", ...) */
	int pending_seconds;          /* start: a timed run of this many seconds (0: until x) */
	uint64_t pending_after;       /* the action slot's reply seq when it was asked for */
	long dumped_seq;              /* the last dump this screen made (0: none) */
	uint64_t generation;          /* of the connection the history belongs to */
	uint64_t alloc_seq;           /* last alloc reply appended to the history */
	double hist[3][MEM_HISTORY];  /* allocated, active, resident (glibc: in use, system) */
	size_t nhist;
	struct chart_scale scale;
	enum chart_symbols symbols;
	int symbols_set;
	/* Where the last frame put things, for the mouse (body rows; -1: not drawn). */
	int selector_y, rows_y;
	int selector_x[3][2];         /* each panel label's first and last column */
} mem;

/* ---- small helpers ------------------------------------------------------------------------ */

/* A member of a reply by "a/b/c" path, or NULL. */
static const json_t *mem_get(const json_t *o, const char *path)
{
	char buf[128], *save = NULL;
	const json_t *cur = o;

	snprintf(buf, sizeof buf, "%s", path);
	for (char *t = strtok_r(buf, "/", &save); t != NULL && cur != NULL; t = strtok_r(NULL, "/", &save))
		cur = json_object_get(cur, t);
	return cur;
}

/* A number of a reply by path, or NAN (drawn as "-"). */
static double mem_num(const json_t *o, const char *path)
{
	const json_t *v = mem_get(o, path);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* A slot's latest result, or NULL. */
static const json_t *mem_result(struct ui *ui, const char *slot)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, slot);

	return r != NULL ? r->result : NULL;
}

/* The `prof` status reply's dumps, newest last. */
static const json_t *mem_dumps(struct ui *ui)
{
	return json_object_get(mem_result(ui, MEM_SLOT_PROF), "dumps");
}

/* The sequence number of the newest dump (from_end 0) or the one before (1); 0: none. */
static long mem_dump_seq(struct ui *ui, size_t from_end)
{
	const json_t *d = mem_dumps(ui);
	size_t n = json_array_size(d);
	long newest = n ? (long)json_integer_value(json_object_get(json_array_get(d, n - 1), "seq")) : 0;

	/* A dump just made is shown at once, before the next status lists it. */
	if (mem.dumped_seq > newest) {
		if (from_end == 0)
			return mem.dumped_seq;
		from_end--;
	}
	if (n <= from_end)
		return 0;
	return (long)json_integer_value(json_object_get(json_array_get(d, n - 1 - from_end), "seq"));
}

/* Does the reply describe glibc malloc (another layout) rather than jemalloc? */
static int mem_is_glibc(const json_t *alloc)
{
	return strcmp(ui_str(alloc, "allocator", ""), "glibc") == 0;
}

/* ---- fetch -------------------------------------------------------------------------------- */

/* One chart point per new alloc reply; a new connection starts a new history. */
static void mem_history_append(struct ui *ui)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, MEM_SLOT_ALLOC);
	struct fetch_status st;
	double v[3];

	fetch_status(ui->fetch, &st);
	if (st.generation != mem.generation) {   /* another process (or a restart): start over */
		mem.generation = st.generation;
		mem.nhist = 0;
		mem.dumped_seq = 0;
		memset(&mem.scale, 0, sizeof mem.scale);
	}
	if (r == NULL || r->result == NULL || r->seq == mem.alloc_seq)
		return;
	mem.alloc_seq = r->seq;
	if (mem_is_glibc(r->result)) {
		if (json_is_true(mem_get(r->result, "cost/cached")))
			return;   /* the agent answered its cached reading: not a new point */
		v[0] = mem_num(r->result, "derived/allocated_bytes/value");
		v[1] = mem_num(r->result, "mallinfo2/arena_bytes") + mem_num(r->result, "mallinfo2/mmap_bytes");
		v[2] = NAN;
	} else {
		v[0] = mem_num(r->result, "global/allocated_bytes");
		v[1] = mem_num(r->result, "global/active_bytes");
		v[2] = mem_num(r->result, "global/resident_bytes");
	}
	if (mem.nhist == MEM_HISTORY) {
		for (int k = 0; k < 3; k++)
			memmove(mem.hist[k], mem.hist[k] + 1, (MEM_HISTORY - 1) * sizeof mem.hist[k][0]);
		mem.nhist--;
	}
	for (int k = 0; k < 3; k++)
		mem.hist[k][mem.nhist] = v[k];
	mem.nhist++;
}

/* React to a finished profiling action: say what happened, drop the one-shot slot. */
static void mem_action_done(struct ui *ui)
{
	const struct fetch_reply *r;

	if (mem.pending == NULL)
		return;
	r = fetch_get(ui->fetch, MEM_SLOT_ACTION);
	/* The slot outlives its declaration: an older action's reply must not count for this one. */
	if (r == NULL || r->seq <= mem.pending_after ||
	    strcmp(ui_str(r->args, "action", ""), mem.pending) != 0)
		return;
	if (r->result == NULL)
		ui_message(ui, "prof %s: %s", mem.pending, r->error);
	else if (strcmp(mem.pending, "dump") == 0) {
		mem.dumped_seq = (long)json_integer_value(json_object_get(r->result, "seq"));
		ui_message(ui, "heap dump %ld written to %s", mem.dumped_seq,
		           ui_str(r->result, "path", "?"));
	}
	else
		ui_message(ui, "prof %s: %s", mem.pending, ui_str(r->result, "message", "done"));
	mem.pending = NULL;
}

/* What the tab shows: alloc and prof status always, top or diff in the profile panel. */
static void mem_fetch(struct ui *ui)
{
	mem_history_append(ui);
	mem_action_done(ui);
	fetch_want(ui->fetch, MEM_SLOT_ALLOC, "alloc",
	           json_pack("{s:s,s:i}", "sort", mem_sorts[mem.sort], "limit", MEM_ROWS_ASKED));
	fetch_want(ui->fetch, MEM_SLOT_PROF, "prof", json_pack("{s:s}", "action", "status"));
	if (mem.panel == PANEL_PROFILE && !mem.diff && mem_dump_seq(ui, 0) > 0)
		fetch_want(ui->fetch, MEM_SLOT_TOP, "prof",
		           json_pack("{s:s,s:I,s:i,s:i}", "action", "top", "dump",
		                     (json_int_t)mem_dump_seq(ui, 0), "limit", MEM_ROWS_ASKED, "depth",
		                     MEM_STACK_DEPTH));
	if (mem.panel == PANEL_PROFILE && mem.diff && mem_dump_seq(ui, 1) > 0)
		fetch_want(ui->fetch, MEM_SLOT_DIFF, "prof",
		           json_pack("{s:s,s:I,s:I,s:i,s:i}", "action", "diff", "from",
		                     (json_int_t)mem_dump_seq(ui, 1), "to",
		                     (json_int_t)mem_dump_seq(ui, 0), "limit", MEM_ROWS_ASKED / 2,
		                     "depth", MEM_STACK_DEPTH));
	if (mem.pending != NULL)
		fetch_want(ui->fetch, MEM_SLOT_ACTION, "prof",
		           mem.pending_seconds > 0
		               ? json_pack("{s:s,s:i}", "action", mem.pending, "seconds",
		                           mem.pending_seconds)
		               : json_pack("{s:s}", "action", mem.pending));
}

/* ---- summary ------------------------------------------------------------------------------ */

/* Put the longest of the candidate lines (longest first) that fits width; the last is cut. */
static void mem_put_best(WINDOW *w, int y, int width, int role, char cands[][256], int n)
{
	for (int i = 0; i < n; i++)
		if ((int)strlen(cands[i]) <= width || i == n - 1) {
			ui_put(w, y, 0, width, role, cands[i]);
			return;
		}
}

/* Three lines: the figures, then usage and fragmentation said in words. */
static void mem_summary_jemalloc(WINDOW *w, int width, const json_t *a)
{
	char c[4][256], al[FMT_SIZE], ac[FMT_SIZE], re[FMT_SIZE], me[FMT_SIZE], rt[FMT_SIZE];
	char pu[FMT_SIZE], pf[FMT_SIZE], ov[FMT_SIZE], ws[FMT_SIZE];
	double usage = mem_num(a, "derived/usage/value"), frag = mem_num(a, "derived/fragmentation/value");
	const char *ver = ui_str(a, "version", "?");
	int dash = (int)strcspn(ver, "-");

	fmt_bytes(al, sizeof al, mem_num(a, "global/allocated_bytes"));
	fmt_bytes(ac, sizeof ac, mem_num(a, "global/active_bytes"));
	fmt_bytes(re, sizeof re, mem_num(a, "global/resident_bytes"));
	fmt_bytes(me, sizeof me, mem_num(a, "global/metadata_bytes"));
	fmt_bytes(rt, sizeof rt, mem_num(a, "global/retained_bytes"));
	fmt_percent(pu, sizeof pu, 100.0 * usage);
	fmt_percent(pf, sizeof pf, 100.0 * frag);
	fmt_bytes(ov, sizeof ov, mem_num(a, "derived/overhead_bytes/value"));
	fmt_bytes(ws, sizeof ws, mem_num(a, "bins/wasted_bytes"));

	snprintf(c[0], 256, "jemalloc %.*s   allocated %s   active %s   resident %s   metadata %s   "
	         "retained %s", dash, ver, al, ac, re, me, rt);
	snprintf(c[1], 256, "jemalloc %.*s  allocated %s  active %s  resident %s  metadata %s", dash,
	         ver, al, ac, re, me);
	snprintf(c[2], 256, "jemalloc  allocated %s  active %s  resident %s", al, ac, re);
	mem_put_best(w, 0, width, TH_DEFAULT, c, 3);

	snprintf(c[0], 256, "usage %s: the application holds %s of the %s the allocator keeps "
	         "resident (allocated / resident); overhead %s", pu, al, re, ov);
	snprintf(c[1], 256, "usage %s: the application holds %s of the allocator's resident memory "
	         "(allocated / resident)", pu, pu);
	snprintf(c[2], 256, "usage %s: the app holds %s of resident memory (allocated / resident)",
	         pu, pu);
	snprintf(c[3], 256, "usage %s (allocated / resident)", pu);
	mem_put_best(w, 1, width, usage < 0.5 ? TH_WARNING : TH_DEFAULT, c, 4);

	snprintf(c[0], 256, "fragmentation %s: %s of the active pages hold no application data "
	         "(1 - allocated / active); free slab regions %s", pf, pf, ws);
	snprintf(c[1], 256, "fragmentation %s: %s of active pages hold no application data "
	         "(1 - allocated / active)", pf, pf);
	snprintf(c[2], 256, "fragmentation %s: %s of active pages hold no data (1 - allocated/active)",
	         pf, pf);
	snprintf(c[3], 256, "fragmentation %s (1 - allocated / active)", pf);
	mem_put_best(w, 2, width, frag > 0.5 ? TH_CRITICAL : frag > 0.25 ? TH_WARNING : TH_DEFAULT, c,
	             4);
}

/* Three lines: the figures, the free share in words, and what reading them cost. */
static void mem_summary_glibc(WINDOW *w, int width, const json_t *a)
{
	char c[4][256], in[FMT_SIZE], fr[FMT_SIZE], mm[FMT_SIZE], ps[FMT_SIZE], rl[FMT_SIZE];
	char age[FMT_SIZE] = "";
	double share = mem_num(a, "derived/free_share/value");
	size_t narenas = json_array_size(json_object_get(a, "arenas"));
	int cached = json_is_true(mem_get(a, "cost/cached"));
	double mi = mem_num(a, "cost/mallinfo2_us"), mf = mem_num(a, "cost/malloc_info_us");

	fmt_bytes(in, sizeof in, mem_num(a, "derived/allocated_bytes/value"));
	fmt_bytes(fr, sizeof fr, mem_num(a, "mallinfo2/free_bytes"));
	fmt_bytes(mm, sizeof mm, mem_num(a, "mallinfo2/mmap_bytes"));
	fmt_percent(ps, sizeof ps, 100.0 * share);
	fmt_bytes(rl, sizeof rl, mem_num(a, "mallinfo2/releasable_bytes"));
	if (cached)
		fmt_duration(age, sizeof age, mem_num(a, "cost/age_s"));

	snprintf(c[0], 256, "glibc malloc %s   in use %s   free %s   mmapped %s   %zu arena%s",
	         ui_str(a, "version", "?"), in, fr, mm, narenas, narenas == 1 ? "" : "s");
	snprintf(c[1], 256, "glibc  in use %s  free %s  mmapped %s", in, fr, mm);
	mem_put_best(w, 0, width, TH_DEFAULT, c, 2);

	snprintf(c[0], 256, "free share %s: of the arenas' memory, %s is free chunks the application "
	         "does not hold (fordblks / arena); releasable %s", ps, ps, rl);
	snprintf(c[1], 256, "free share %s: %s of the arenas' memory is free chunks (fordblks / arena)",
	         ps, ps);
	snprintf(c[2], 256, "free share %s (fordblks / arena)", ps);
	mem_put_best(w, 1, width, share > 0.5 ? TH_WARNING : TH_DEFAULT, c, 3);

	snprintf(c[0], 256, "read cost: mallinfo2 %.0f us + malloc_info %.0f us (they lock every arena: "
	         "at most once per second)%s%s", mi, mf, cached ? "; cached reading, " : "", age);
	snprintf(c[1], 256, "cost: mallinfo2 %.0f us + malloc_info %.0f us, at most 1/s%s%s", mi, mf,
	         cached ? "; cached " : "", age);
	mem_put_best(w, 2, width, TH_DIM, c, 2);
}

/* ---- history chart ------------------------------------------------------------------------ */

/* chart_format_fn for the byte axis. */
static const char *mem_fmt_bytes(char *buf, size_t size, double v)
{
	return fmt_bytes(buf, size, v);
}

/* The legend line and the chart of the history since attach, with its axes. */
static void mem_draw_chart(struct ui *ui, WINDOW *w, int y, int height, int width, int glibc)
{
	static const char *const je_labels[3] = {"allocated", "active", "resident"};
	static const char *const gl_labels[3] = {"in use", "from the system", NULL};
	static const enum theme_role roles[3] = {TH_CHART_1, TH_CHART_2, TH_CHART_3};
	const char *const *labels = glibc ? gl_labels : je_labels;
	struct chart_series series[3];
	size_t ns = 0;
	int axis_w, cw, x = 0;
	char buf[160], v[FMT_SIZE];

	if (!mem.symbols_set) {
		mem.symbols = chart_symbols_select(theme_ascii(), getenv("SONDE_CHART"), NULL);
		mem.symbols_set = 1;
	}
	/* Legend: a marker in each series' colour, its label and latest value. */
	ui_put(w, y, 0, width, TH_DIM, "since attach:");
	x = 14;
	for (int k = 0; k < 3 && labels[k] != NULL; k++) {
		double last = mem.nhist ? mem.hist[k][mem.nhist - 1] : NAN;

		if (x >= width)
			break;
		ui_put(w, y, x, width - x, roles[k], theme_ascii() ? "#" : "\u25a0");
		snprintf(buf, sizeof buf, "%s %s", labels[k], fmt_bytes(v, sizeof v, last));
		ui_put(w, y, x + 2, width - x - 2, TH_DEFAULT, buf);
		x += 4 + (int)strlen(buf);
	}
	for (int k = 0; k < 3 && labels[k] != NULL; k++)
		series[ns++] = (struct chart_series){.values = mem.hist[k], .n = mem.nhist,
		                                     .role = roles[k], .label = labels[k]};
	if (height < 3 || mem.nhist == 0)
		return;
	chart_scale_update(&mem.scale, series, ns);
	axis_w = chart_yaxis_width(height - 2, &mem.scale, mem_fmt_bytes) + 1;
	cw = width - axis_w;
	if (cw < 10)
		return;
	chart_draw_yaxis(w, y + 1, 0, height - 2, axis_w - 1, &mem.scale, mem_fmt_bytes);
	chart_draw(w, y + 1, axis_w, height - 2, cw, series, ns, &mem.scale, mem.symbols);
	chart_draw_time_axis(w, y + height - 1, axis_w, cw,
	                     (double)cw * chart_samples_per_column(mem.symbols) *
	                         (double)ui->interval_ms / 1e3);
}

/* ---- panels ------------------------------------------------------------------------------- */

/* Keep the selection inside [0, n) and on screen (rows visible). */
static void mem_clamp(long n, int rows)
{
	if (mem.sel >= n)
		mem.sel = n - 1;
	if (mem.sel < 0)
		mem.sel = 0;
	if (rows < 1)
		rows = 1;
	if (mem.sel < mem.top)
		mem.top = mem.sel;
	if (mem.sel >= mem.top + rows)
		mem.top = mem.sel - rows + 1;
	if (mem.top < 0)
		mem.top = 0;
}

/* A table: header at y, then rows from the JSON array via a row formatter. */
typedef void (*mem_row_fn)(const json_t *row, char cells[][64]);

/* A panel table: header, then the rows from a JSON array (selection shown). */
static void mem_draw_table(WINDOW *w, int y, int height, int width, const struct table_column *cols,
                           size_t ncols, int sorted, const json_t *rows, mem_row_fn fmt,
                           int selectable)
{
	int widths[12];
	long n = (long)json_array_size(rows);

	if (height < 2)
		return;
	table_layout(cols, ncols, width, widths);
	table_draw_header(w, y, 0, cols, ncols, widths, sorted, 1);
	mem.rows_y = y + 1;
	if (selectable)
		mem_clamp(n, height - 1);
	else
		mem.top = 0;
	for (long i = mem.top; i < n && i - mem.top < height - 1; i++) {
		char cells[12][64];
		int cx = 0, sel = selectable && i == mem.sel;

		memset(cells, 0, sizeof cells);
		fmt(json_array_get(rows, (size_t)i), cells);
		if (sel) {
			wattron(w, theme_attr(TH_SELECTED));
			mvwhline(w, y + 1 + (int)(i - mem.top), 0, ' ', width);
		}
		for (size_t c = 0; c < ncols; c++) {
			if (widths[c] == 0)
				continue;
			table_draw_cell(w, y + 1 + (int)(i - mem.top), cx, widths[c], cols[c].align, cells[c]);
			cx += widths[c] + TABLE_GAP;
		}
		if (sel)
			wattroff(w, theme_attr(TH_SELECTED));
	}
}

static const struct table_column mem_arena_cols[] = {
	{"ARENA", 5, 5, 0, 9, TABLE_RIGHT},    {"THREADS", 7, 7, 0, 6, TABLE_RIGHT},
	{"ACTIVE", 9, 10, 0, 8, TABLE_RIGHT},  {"DIRTY", 9, 10, 0, 5, TABLE_RIGHT},
	{"MUZZY", 9, 10, 0, 3, TABLE_RIGHT},   {"SMALL", 9, 10, 0, 7, TABLE_RIGHT},
	{"LARGE", 9, 10, 0, 7, TABLE_RIGHT},   {"ALLOC/s", 8, 9, 0, 4, TABLE_RIGHT},
	{"FREE/s", 8, 9, 0, 4, TABLE_RIGHT},
};

/* Cells of one jemalloc arena row. */
static void mem_arena_row(const json_t *r, char c[][64])
{
	snprintf(c[0], 64, "%.0f", ui_num(r, "index"));
	snprintf(c[1], 64, "%.0f", ui_num(r, "threads"));
	fmt_bytes(c[2], 64, ui_num(r, "active_bytes"));
	fmt_bytes(c[3], 64, ui_num(r, "dirty_bytes"));
	fmt_bytes(c[4], 64, ui_num(r, "muzzy_bytes"));
	fmt_bytes(c[5], 64, ui_num(r, "small_allocated_bytes"));
	fmt_bytes(c[6], 64, ui_num(r, "large_allocated_bytes"));
	if (json_is_number(json_object_get(r, "alloc_per_s"))) {
		fmt_rate(c[7], 64, ui_num(r, "alloc_per_s"));
		fmt_rate(c[8], 64, ui_num(r, "free_per_s"));
	} else {
		snprintf(c[7], 64, "-");
		snprintf(c[8], 64, "-");
	}
}

static const struct table_column mem_glibc_arena_cols[] = {
	{"ARENA", 5, 5, 0, 9, TABLE_RIGHT},     {"SYSTEM", 9, 10, 0, 8, TABLE_RIGHT},
	{"IN USE", 9, 10, 0, 8, TABLE_RIGHT},   {"FREE", 9, 10, 0, 7, TABLE_RIGHT},
	{"FREE CHUNKS", 11, 11, 0, 6, TABLE_RIGHT}, {"FASTBIN", 9, 9, 0, 4, TABLE_RIGHT},
	{"MAX SYSTEM", 10, 10, 0, 3, TABLE_RIGHT},
};

/* Cells of one glibc arena row. */
static void mem_glibc_arena_row(const json_t *r, char c[][64])
{
	snprintf(c[0], 64, "%.0f", ui_num(r, "nr"));
	fmt_bytes(c[1], 64, ui_num(r, "system_bytes"));
	fmt_bytes(c[2], 64, ui_num(r, "in_use_bytes"));
	fmt_bytes(c[3], 64, ui_num(r, "free_bytes"));
	fmt_count(c[4], 64, ui_num(r, "free_chunks"));
	fmt_bytes(c[5], 64, ui_num(r, "fast_bytes"));
	fmt_bytes(c[6], 64, ui_num(r, "system_max_bytes"));
}

static const struct table_column mem_class_cols[] = {
	{"SIZE", 8, 9, 0, 9, TABLE_RIGHT},     {"REGS/SLAB", 9, 9, 0, 4, TABLE_RIGHT},
	{"REGIONS", 8, 9, 0, 6, TABLE_RIGHT},  {"SLABS", 7, 8, 0, 6, TABLE_RIGHT},
	{"UTIL", 6, 7, 0, 8, TABLE_RIGHT},     {"WASTE", 9, 10, 0, 8, TABLE_RIGHT},
	{"SLAB SIZE", 9, 9, 0, 2, TABLE_RIGHT},
};

/* Cells of one size class row. */
static void mem_class_row(const json_t *r, char c[][64])
{
	fmt_bytes(c[0], 64, ui_num(r, "size_bytes"));
	snprintf(c[1], 64, "%.0f", ui_num(r, "regions_per_slab"));
	fmt_count(c[2], 64, ui_num(r, "regions"));
	fmt_count(c[3], 64, ui_num(r, "slabs"));
	if (ui_num(r, "slabs") > 0)
		fmt_percent(c[4], 64, 100.0 * ui_num(r, "utilization"));
	else
		snprintf(c[4], 64, "-");
	fmt_bytes(c[5], 64, ui_num(r, "wasted_bytes"));
	fmt_bytes(c[6], 64, ui_num(r, "slab_bytes"));
}

static const struct table_column mem_site_cols[] = {
	{"BYTES", 9, 10, 0, 9, TABLE_RIGHT},   {"OBJECTS", 8, 8, 0, 6, TABLE_RIGHT},
	{"SHARE", 6, 6, 0, 7, TABLE_RIGHT},    {"FUNCTION", 12, 24, 2, 8, TABLE_LEFT},
	{"CALLED FROM", 12, 30, 3, 3, TABLE_LEFT},
};

/* Cells of one top-site row. */
static void mem_site_row(const json_t *r, char c[][64])
{
	const json_t *stack = json_object_get(r, "stack");

	fmt_bytes(c[0], 64, ui_num(r, "bytes"));
	fmt_count(c[1], 64, ui_num(r, "objects"));
	fmt_percent(c[2], 64, 100.0 * ui_num(r, "share"));
	snprintf(c[3], 64, "%s", ui_str(r, "function", "?"));
	snprintf(c[4], 64, "%s", json_string_value(json_array_get(stack, 1)) ?
	                         json_string_value(json_array_get(stack, 1)) : "");
}

static const struct table_column mem_fn_cols[] = {
	{"BYTES", 9, 10, 0, 9, TABLE_RIGHT},   {"OBJECTS", 8, 8, 0, 6, TABLE_RIGHT},
	{"SHARE", 6, 6, 0, 7, TABLE_RIGHT},    {"SITES", 5, 6, 0, 5, TABLE_RIGHT},
	{"FUNCTION", 12, 40, 3, 8, TABLE_LEFT},
};

/* Cells of one per-function row (all the sites whose allocating function it is). */
static void mem_fn_row(const json_t *r, char c[][64])
{
	fmt_bytes(c[0], 64, ui_num(r, "bytes"));
	fmt_count(c[1], 64, ui_num(r, "objects"));
	fmt_percent(c[2], 64, 100.0 * ui_num(r, "share"));
	snprintf(c[3], 64, "%.0f", ui_num(r, "sites"));
	snprintf(c[4], 64, "%s", ui_str(r, "function", "?"));
}

static const struct table_column mem_delta_cols[] = {
	{"CHANGE", 10, 11, 0, 9, TABLE_RIGHT}, {"BEFORE", 9, 10, 0, 5, TABLE_RIGHT},
	{"NOW", 9, 10, 0, 7, TABLE_RIGHT},     {"FUNCTION", 12, 24, 2, 8, TABLE_LEFT},
	{"CALLED FROM", 12, 30, 3, 3, TABLE_LEFT},
};

/* Cells of one diff row. */
static void mem_delta_row(const json_t *r, char c[][64])
{
	const json_t *stack = json_object_get(r, "stack");

	fmt_bytes_delta(c[0], 64, ui_num(r, "delta_bytes"));
	fmt_bytes(c[1], 64, ui_num(r, "from_bytes"));
	fmt_bytes(c[2], 64, ui_num(r, "to_bytes"));
	snprintf(c[3], 64, "%s", ui_str(r, "function", "?"));
	snprintf(c[4], 64, "%s", json_string_value(json_array_get(stack, 1)) ?
	                         json_string_value(json_array_get(stack, 1)) : "");
}

/* The profile panel's rows: top sites, or grew followed by shrank. New reference. */
static json_t *mem_profile_rows(struct ui *ui)
{
	const json_t *r;
	json_t *rows = json_array();

	if (!mem.diff) {
		r = mem_result(ui, MEM_SLOT_TOP);
		json_array_extend(rows, json_object_get(r, mem.functions ? "functions" : "by_bytes"));
	} else {
		r = mem_result(ui, MEM_SLOT_DIFF);
		json_array_extend(rows, json_object_get(r, "grew"));
		json_array_extend(rows, json_object_get(r, "shrank"));
	}
	return rows;
}

/* The profiling panel: state line, what is shown, then the table or one stack. */
/* Put text over as many lines as it needs (at most max), broken at spaces. Returns the lines. */
static int mem_put_wrapped(WINDOW *w, int y, int width, int max, int role, const char *text)
{
	int n = 0;

	while (*text != '\0' && n < max && width > 0) {
		int len = (int)strlen(text), cut = len;
		char buf[512];

		if (len > width) {
			for (cut = width; cut > 0 && text[cut] != ' '; cut--)
				;
			if (cut == 0)
				cut = width;
		}
		snprintf(buf, sizeof buf, "%.*s", cut < (int)sizeof buf - 1 ? cut : (int)sizeof buf - 1,
		         text);
		ui_put(w, y + n, 0, width, role, buf);
		n++;
		text += cut;
		while (*text == ' ')
			text++;
	}
	return n;
}

static void mem_draw_profile(struct ui *ui, WINDOW *w, int y, int height, int width)
{
	const json_t *st = mem_result(ui, MEM_SLOT_PROF);
	char line[512], b1[FMT_SIZE];
	json_t *rows;

	if (st == NULL) {
		ui_put(w, y, 0, width, TH_DIM, "waiting for prof status...");
		return;
	}
	if (!json_is_true(json_object_get(st, "opt_prof"))) {
		/* What to set must be readable at 80 columns: said in full, over several lines. */
		if (json_is_true(json_object_get(st, "compiled")))
			snprintf(line, sizeof line, "heap profiling is off in this process: start the "
			         "service with MALLOC_CONF=prof:true,prof_active:false (sampling armed, "
			         "inactive), then press r here to start it");
		else
			snprintf(line, sizeof line, "%s", ui_str(st, "message", ""));
		mem_put_wrapped(w, y, width, height, TH_WARNING, line);
		return;
	} else if (strcmp(ui_str(st, "owner", ""), "outside") == 0)
		snprintf(line, sizeof line, "a run started outside sonde is active (not ours to stop); "
		         "d dumps it");
	else if (strcmp(ui_str(st, "owner", ""), "sonde") == 0 &&
	         json_is_number(json_object_get(st, "stops_in_s")))
		snprintf(line, sizeof line, "profiling, stops by itself in %s (x stops now, d dumps)",
		         fmt_duration(b1, sizeof b1, mem_num(st, "stops_in_s")));
	else if (strcmp(ui_str(st, "owner", ""), "sonde") == 0)
		snprintf(line, sizeof line, "profiling (x stops, d dumps)");
	else
		snprintf(line, sizeof line, "profiling off (r starts, d dumps)%s%s",
		         json_is_string(json_object_get(st, "last_stop")) ? ": " : "",
		         ui_str(st, "last_stop", ""));
	if (json_is_number(json_object_get(st, "sample_period_bytes"))) {
		size_t len = strlen(line), nd = json_array_size(mem_dumps(ui));
		int on = json_is_true(json_object_get(st, "active"));
		char b2[FMT_SIZE] = "";

		if (on && json_is_number(json_object_get(st, "running_s")))
			fmt_duration(b2, sizeof b2, mem_num(st, "running_s"));
		snprintf(line + len, sizeof line - len, "  [1 sample per %s, %s%s%s; %zu dump%s]",
		         fmt_bytes(b1, sizeof b1, mem_num(st, "sample_period_bytes")),
		         on ? "on" : "off", b2[0] ? " for " : "", b2, nd, nd == 1 ? "" : "s");
	}
	ui_put(w, y, 0, width, TH_DEFAULT, line);
	if (mem_dump_seq(ui, mem.diff ? 1 : 0) == 0) {
		ui_put(w, y + 1, 0, width, TH_DIM,
		       mem.diff ? "diff needs two dumps: press d twice, some time apart"
		                : "no dump yet: r starts sampling, d writes a dump, then its top sites "
		                  "show here");
		return;
	}
	{
		const json_t *r = mem_result(ui, mem.diff ? MEM_SLOT_DIFF : MEM_SLOT_TOP);
		char b2[FMT_SIZE];

		if (mem.diff)
			snprintf(line, sizeof line, "diff dump %lld -> %lld (%s apart): %s in total; "
			         "grew first, then shrank (D: top sites)",
			         (long long)mem_num(r, "from"), (long long)mem_num(r, "to"),
			         fmt_duration(b1, sizeof b1, mem_num(r, "seconds_between")),
			         fmt_bytes_delta(b2, sizeof b2, mem_num(r, "delta_bytes")));
		else
			snprintf(line, sizeof line, "top allocation %s of dump %lld: %s live (estimated from "
			         "samples) in %.0f sites (f: %s, D: diff vs previous dump%s)",
			         mem.functions ? "functions" : "sites", (long long)mem_num(r, "seq"),
			         fmt_bytes(b1, sizeof b1, mem_num(r, "total_bytes")), mem_num(r, "sites"),
			         mem.functions ? "by site" : "by function", mem.functions ? "" : ", Enter: stack");
		ui_put(w, y + 1, 0, width, TH_DIM, r != NULL ? line : "reading the dump...");
	}
	rows = mem_profile_rows(ui);
	if (!mem.diff && mem.functions) {
		mem_draw_table(w, y + 2, height - 2, width, mem_fn_cols, 5, 0, rows, mem_fn_row, 1);
	} else if (mem.stack && json_array_size(rows) > 0) {
		const json_t *site;
		const json_t *stack;

		mem_clamp((long)json_array_size(rows), 1);
		site = json_array_get(rows, (size_t)mem.sel);
		stack = json_object_get(site, "stack");
		snprintf(line, sizeof line, "stack of %s (%s%s), innermost first  (Enter: back)",
		         ui_str(site, "function", "?"),
		         mem.diff ? fmt_bytes_delta(b1, sizeof b1, ui_num(site, "delta_bytes"))
		                  : fmt_bytes(b1, sizeof b1, ui_num(site, "bytes")),
		         mem.diff ? "" : " live");
		ui_put(w, y + 2, 0, width, TH_TABLE_HEADER, line);
		for (size_t k = 0; k < json_array_size(stack) && (int)k < height - 3; k++) {
			snprintf(line, sizeof line, "%2zu  %s", k, json_string_value(json_array_get(stack, k)));
			ui_put(w, y + 3 + (int)k, 0, width, k == 0 ? TH_DEFAULT : TH_DIM, line);
		}
	} else if (mem.diff) {
		mem_draw_table(w, y + 2, height - 2, width, mem_delta_cols, 5, 0, rows, mem_delta_row, 1);
	} else {
		mem_draw_table(w, y + 2, height - 2, width, mem_site_cols, 5, 0, rows, mem_site_row, 1);
	}
	json_decref(rows);
}

/* The panel selector line: "[a] Arenas  [c] Size classes  [p] Profile". */
static void mem_draw_selector(WINDOW *w, int y, int width, int glibc)
{
	static const char *const names[3] = {"a Arenas", "c Size classes", "p Heap profile"};
	int x = 0;

	mem.selector_y = y;
	for (int i = 0; i < 3; i++)
		mem.selector_x[i][0] = mem.selector_x[i][1] = -1;
	for (int i = 0; i < 3; i++) {
		char buf[64];

		if (glibc && i == PANEL_CLASSES)
			continue;
		snprintf(buf, sizeof buf, " %s ", names[i]);
		if (x >= width)
			break;
		ui_put(w, y, x, width - x, (int)mem.panel == i ? TH_TAB_ACTIVE : TH_TAB, buf);
		mem.selector_x[i][0] = x;
		mem.selector_x[i][1] = x + (int)strlen(buf) - 1;
		x += (int)strlen(buf) + 1;
	}
	if (mem.panel == PANEL_CLASSES && x + 30 < width) {
		char buf[64];

		snprintf(buf, sizeof buf, "sorted by %s (o)", mem_sorts[mem.sort]);
		ui_put(w, y, x + 1, width - x - 1, TH_DIM, buf);
	}
}

/* The tab: summary, chart, panel selector, panel. */
static void mem_draw(struct ui *ui, WINDOW *w, int height, int width)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, MEM_SLOT_ALLOC);
	const json_t *a;
	int glibc, chart_h, y;

	if (r == NULL || r->result == NULL) {
		ui_draw_waiting(ui, w, "alloc", r != NULL ? r->error : NULL);
		return;
	}
	a = r->result;
	glibc = mem_is_glibc(a);
	mem.selector_y = mem.rows_y = -1;
	if (glibc && mem.panel == PANEL_CLASSES)
		mem.panel = PANEL_ARENAS;
	if (glibc)
		mem_summary_glibc(w, width, a);
	else
		mem_summary_jemalloc(w, width, a);
	/* The chart takes what the panel's rows leave, between 4 rows and half the body. */
	{
		int want_rows = mem.panel == PANEL_ARENAS
		                    ? (int)json_array_size(json_object_get(a, "arenas")) + 2
		                    : 12;

		chart_h = height - 4 - want_rows;
		if (chart_h > (height - 4) / 2)
			chart_h = (height - 4) / 2;
		if (chart_h < 4)
			chart_h = height >= 14 ? 4 : 0;
	}
	y = 3;
	if (chart_h > 0) {
		mem_draw_chart(ui, w, y, chart_h, width, glibc);
		y += chart_h;
	}
	if (y >= height - 1)
		return;
	mem_draw_selector(w, y, width, glibc);
	y++;
	switch (mem.panel) {
	case PANEL_ARENAS:
		if (glibc)
			mem_draw_table(w, y, height - y, width, mem_glibc_arena_cols, 7, -1,
			               json_object_get(a, "arenas"), mem_glibc_arena_row, 1);
		else
			mem_draw_table(w, y, height - y, width, mem_arena_cols, 9, -1,
			               json_object_get(a, "arenas"), mem_arena_row, 1);
		break;
	case PANEL_CLASSES:
		mem_draw_table(w, y, height - y, width, mem_class_cols, 7,
		               mem.sort == 0 ? 5 : mem.sort == 1 ? 0 : 4,
		               mem_get(a, "bins/rows"), mem_class_row, 1);
		break;
	case PANEL_PROFILE:
		mem_draw_profile(ui, w, y, height - y, width);
		break;
	}
}

/* ---- keys --------------------------------------------------------------------------------- */

/* a / c / p: choose the panel. */
static unsigned mem_key_panel(struct ui *ui, int key)
{
	(void)ui;
	mem.panel = key == 'a' ? PANEL_ARENAS : key == 'c' ? PANEL_CLASSES : PANEL_PROFILE;
	mem.sel = mem.top = 0;
	mem.stack = 0;
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

/* o: next size-class order (waste, size, utilisation). */
static unsigned mem_key_sort(struct ui *ui, int key)
{
	(void)ui;
	(void)key;
	mem.sort = (mem.sort + 1) % MEM_NSORTS;
	mem.panel = PANEL_CLASSES;
	mem.sel = mem.top = 0;
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

/* Arrows, pages, Home/End: move the selection in the panel's table. */
static unsigned mem_key_move(struct ui *ui, int key)
{
	long page = ui->body_h > 10 ? ui->body_h / 2 : 5;

	switch (key) {
	case KEY_UP:
		mem.sel--;
		break;
	case KEY_DOWN:
		mem.sel++;
		break;
	case KEY_PPAGE:
		mem.sel -= page;
		break;
	case KEY_NPAGE:
		mem.sel += page;
		break;
	case KEY_HOME:
		mem.sel = 0;
		break;
	default:
		mem.sel = 1L << 30;   /* End: clamped to the last row when drawn */
		break;
	}
	if (mem.sel < 0)
		mem.sel = 0;
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* Enter: open or close the selected site's stack. */
static unsigned mem_key_stack(struct ui *ui, int key)
{
	(void)ui;
	(void)key;
	if (mem.panel != PANEL_PROFILE || (mem.functions && !mem.diff))
		return KEYS_HANDLED;
	mem.stack = !mem.stack;
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* D: top sites of the latest dump, or its diff against the previous one. */
static unsigned mem_key_diff(struct ui *ui, int key)
{
	(void)ui;
	(void)key;
	mem.panel = PANEL_PROFILE;
	mem.diff = !mem.diff;
	mem.sel = mem.top = 0;
	mem.stack = 0;
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

/* f: the top view by site (stack) or by allocating function (pprof's flat view). */
static unsigned mem_key_functions(struct ui *ui, int key)
{
	(void)ui;
	(void)key;
	mem.panel = PANEL_PROFILE;
	mem.diff = 0;
	mem.functions = !mem.functions;
	mem.sel = mem.top = 0;
	mem.stack = 0;
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* r / R / x / d: one profiling action, sent once. */
static unsigned mem_key_action(struct ui *ui, int key)
{
	if (mem.pending != NULL) {
		ui_message(ui, "prof %s is still waiting for the agent", mem.pending);
		return KEYS_HANDLED | KEYS_REDRAW;
	}
	{
		const struct fetch_reply *r = fetch_get(ui->fetch, MEM_SLOT_ACTION);

		mem.pending_after = r != NULL ? r->seq : 0;
	}
	mem.pending = key == 'r' || key == 'R' ? "start" : key == 'x' ? "stop" : "dump";
	mem.pending_seconds = key == 'R' ? 60 : 0;
	mem.panel = PANEL_PROFILE;
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

static const struct key_binding mem_bindings[] = {
	{'a', "Arenas", "show the arena table", mem_key_panel},
	{'c', "Classes", "show the size classes (sorted by waste first)", mem_key_panel},
	{'p', "Profile", "show heap profiling: top allocation sites of the latest dump", mem_key_panel},
	{'o', "Order", "size classes: sort by waste, size, utilisation", mem_key_sort},
	{'r', "Start", "start heap profiling (needs MALLOC_CONF=prof:true,prof_active:false)",
	 mem_key_action},
	{'R', NULL, "start heap profiling for 60 seconds (it stops by itself)", mem_key_action},
	{'x', "Stop", "stop the heap profiling run sonde started", mem_key_action},
	{'d', "Dump", "write a heap dump (its path is shown; jeprof reads it too)", mem_key_action},
	{'D', "Diff", "profile: switch between top sites and the diff against the previous dump",
	 mem_key_diff},
	{'f', NULL, "profile: top sites by stack, or in-use bytes by allocating function",
	 mem_key_functions},
	{'\r', NULL, "profile: open or close the selected site's stack", mem_key_stack},
	{'\n', NULL, "profile: open or close the selected site's stack", mem_key_stack},
	{KEY_ENTER, NULL, "profile: open or close the selected site's stack", mem_key_stack},
	{KEY_UP, NULL, "select a row", mem_key_move},
	{KEY_DOWN, NULL, "select a row", mem_key_move},
	{KEY_PPAGE, NULL, "select a row", mem_key_move},
	{KEY_NPAGE, NULL, "select a row", mem_key_move},
	{KEY_HOME, NULL, "select a row", mem_key_move},
	{KEY_END, NULL, "select a row", mem_key_move},
	{0, NULL, NULL, NULL},
};

static const struct key_table mem_keys = {"Memory", mem_bindings};

/* Mouse: a click on a panel label opens that panel; a click on a row selects it (in the profile
 * panel, a click on the selected row opens its stack); the wheel moves three rows. */
static unsigned mem_mouse(struct ui *ui, int y, int x, unsigned long bstate)
{
	if (bstate & (BUTTON4_PRESSED | BUTTON5_PRESSED)) {
		int key = (bstate & BUTTON4_PRESSED) ? KEY_UP : KEY_DOWN;

		for (int i = 0; i < 3; i++)
			mem_key_move(ui, key);
		return KEYS_HANDLED | KEYS_REDRAW;
	}
	if (!(bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED)))
		return 0;
	if (y == mem.selector_y) {
		static const int keys[3] = {'a', 'c', 'p'};

		for (int i = 0; i < 3; i++)
			if (x >= mem.selector_x[i][0] && x <= mem.selector_x[i][1])
				return mem_key_panel(ui, keys[i]);
		return KEYS_HANDLED;
	}
	if (mem.rows_y >= 0 && y >= mem.rows_y && !mem.stack) {
		long row = mem.top + (y - mem.rows_y);

		if (row == mem.sel && mem.panel == PANEL_PROFILE)
			return mem_key_stack(ui, '\r');
		mem.sel = row;   /* clamped to the rows there are when drawn */
		return KEYS_HANDLED | KEYS_REDRAW;
	}
	return 0;
}

/* Coming back to the tab shows tables, not a stack left open. */
static void mem_enter(struct ui *ui)
{
	(void)ui;
	mem.stack = 0;
}

const struct tab_entry tab_memory = {
	.name = "Memory",
	.key = '3',
	.enter = mem_enter,
	.fetch = mem_fetch,
	.draw = mem_draw,
	.keys = &mem_keys,
	.mouse = mem_mouse,
};
