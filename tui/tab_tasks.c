/*
 * tab_tasks.c - the Tasks tab: the agent's task table, one page at a time.
 *
 * The agent sorts, filters and pages (DESIGN.md principle 2); this tab asks for exactly the rows
 * on screen (`tasks` with sort, order, mode, offset, limit, filter) and keeps an absolute
 * selection index over `total` rows, so arrows, PgUp/PgDn and Home/End move through a million
 * tasks without ever holding more than a page. In window mode (W) the agent sorts by the change
 * over its last sampling interval (recon's proc_window); in total mode rates are computed here
 * from two consecutive pages. F follows a task: when it leaves the page, one request
 * (`tasks find=ID`, same order and filter) gives its position, and the page holding it is
 * asked next, whatever the number of tasks.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "format.h"
#include "keys.h"
#include "table.h"
#include "tabs.h"
#include "theme.h"
#include "ui.h"

#define TASKS_MAX_ROWS 512       /* rows of one page we keep rates for */
#define TASKS_SCAN_PAGE 500      /* rows per request while a search scans ahead */
#define TASKS_SCAN_MAX 100000    /* rows a search scans before giving up */

enum tasks_col {
	COL_ID, COL_NAME, COL_STATUS, COL_REDS, COL_RATE, COL_MEM, COL_DMEM, COL_QUEUE, COL_CPU,
	COL_LOCATION, COL_COUNT
};

static const struct table_column tasks_columns[COL_COUNT] = {
	[COL_ID] = {"ID", 7, 8, 0, 9, TABLE_RIGHT},
	[COL_NAME] = {"NAME", 16, 22, 3, 10, TABLE_LEFT},
	[COL_STATUS] = {"STATUS", 8, 8, 0, 4, TABLE_LEFT},
	[COL_REDS] = {"REDS", 6, 7, 0, 6, TABLE_RIGHT},
	[COL_RATE] = {"REDS/s", 8, 9, 0, 7, TABLE_RIGHT},
	[COL_MEM] = {"MEMORY", 9, 9, 0, 8, TABLE_RIGHT},
	[COL_DMEM] = {"MEM CHG", 10, 10, 0, 5, TABLE_RIGHT},
	[COL_QUEUE] = {"QUEUE", 5, 6, 0, 6, TABLE_RIGHT},
	[COL_CPU] = {"CPU%", 5, 6, 0, 3, TABLE_RIGHT},
	[COL_LOCATION] = {"LOCATION", 14, 30, 2, 2, TABLE_LEFT},
};

/* The agent's sort keys, in the order < and > walk them, with their natural order. */
static const struct {
	const char *name;
	int desc;                  /* biggest first by default */
	int col_total, col_window; /* the column that shows the sorted value */
} tasks_sorts[] = {
	{"id", 0, COL_ID, COL_ID},
	{"name", 0, COL_NAME, COL_NAME},
	{"reductions", 1, COL_REDS, COL_RATE},
	{"memory", 1, COL_MEM, COL_DMEM},
	{"queue", 1, COL_QUEUE, COL_QUEUE},
	{"cpu", 1, COL_CPU, COL_CPU},
	{"age", 1, -1, -1},
};
#define TASKS_NSORTS (sizeof tasks_sorts / sizeof tasks_sorts[0])

/* Figures derived for a row of the page on screen. */
struct tasks_derived {
	uint64_t id;
	double reds, mem, at_s;    /* raw, to compute the next rates */
	double rate;               /* reductions per second, NAN unknown */
	double dmem;               /* memory change over the window, NAN unknown */
};

static struct {
	size_t sort;              /* index into tasks_sorts */
	int desc;
	int window;               /* 1: window mode */
	char filter[128];
	char search[128];
	long top, sel;            /* absolute row indexes: first on screen, selected */
	long total;               /* rows the agent has for this filter (-1: unknown yet) */
	int page;                 /* rows the screen shows */
	uint64_t follow_id;       /* 0: not following */
	int follow_lost;          /* the followed task is not on this page */
	uint64_t seen_seq;        /* last reply processed */
	int seen_tail;            /* ... and whether it was a tail page */
	int want_tail;            /* the page on screen is asked from the other end */
	uint64_t generation;      /* connection generation the state belongs to */
	int widths[COL_COUNT];
	struct tasks_derived now[TASKS_MAX_ROWS], prev[TASKS_MAX_ROWS];
	size_t nnow, nprev;
	/* a search scanning pages beyond the one on screen */
	int scanning;
	long scan_offset, scanned;
	long search_origin;       /* where the search started: it wraps around back to here */
	int scan_wrapped;
	uint64_t scan_seen_seq;
	/* locating the followed task that left the page (`tasks find=ID`) */
	int locating;
	int follow_gone;          /* said so already: the message is not repeated every refresh */
	uint64_t locate_seq;      /* the find slot's seq when the locate began: older replies skip */
} tasks = {.sort = 2, .desc = 1, .total = -1};

/* ---- helpers ----------------------------------------------------------------------------- */

/* The `location` of a row, short: "func file.c:12" from the agent's "dir/file.c:12 func" (or
 * from {file, line, func}); directories take room and rarely tell which code it is. */
static const char *tasks_location(const json_t *row, char *buf, size_t size)
{
	const json_t *loc = json_object_get(row, "location");

	if (json_is_string(loc)) {
		const char *s = json_string_value(loc), *space = strchr(s, ' '), *slash = NULL;

		for (const char *p = s; *p != '\0' && p != space; p++)
			if (*p == '/')
				slash = p;
		if (space == NULL)
			return slash != NULL ? slash + 1 : s;
		snprintf(buf, size, "%s %.*s", space + 1, (int)(space - (slash ? slash + 1 : s)),
		         slash ? slash + 1 : s);
		return buf;
	}
	if (json_is_object(loc)) {
		const char *file = ui_str(loc, "file", "?"), *slash = strrchr(file, '/');

		snprintf(buf, size, "%s %s:%.0f", ui_str(loc, "func", "?"),
		         slash != NULL ? slash + 1 : file, ui_num(loc, "line"));
		return buf;
	}
	return "";
}

/* What the NAME column shows: the name, or the initial call for unnamed tasks. */
static const char *tasks_name(const json_t *row)
{
	const char *name = ui_str(row, "name", "");

	return name[0] != '\0' ? name : ui_str(row, "initial_call", "");
}

/* Case-insensitive substring, for search. */
static int tasks_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0)
		return 1;
	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

/* Does a row match the search text (name, initial call or location)? */
static int tasks_row_matches(const json_t *row, const char *text)
{
	char buf[256];

	return tasks_contains(tasks_name(row), text) ||
	       tasks_contains(ui_str(row, "initial_call", ""), text) ||
	       tasks_contains(tasks_location(row, buf, sizeof buf), text);
}

/* The agent's window length in seconds (for REDS/s in window mode). */
static double tasks_window_s(struct ui *ui, const json_t *result)
{
	double w = ui_num(result, "window_s");

	if (!isnan(w) && w > 0)
		return w;
	w = ui_num(json_object_get(ui_system(ui), "agent"), "interval_ms") / 1e3;
	return !isnan(w) && w > 0 ? w : NAN;
}

/* Keep the selection inside [0, total) and on screen; the page follows the selection. */
static void tasks_clamp(void)
{
	long page = tasks.page > 0 ? tasks.page : 1;

	if (tasks.total >= 0 && tasks.sel >= tasks.total)
		tasks.sel = tasks.total - 1;
	if (tasks.sel < 0)
		tasks.sel = 0;
	if (tasks.sel < tasks.top)
		tasks.top = tasks.sel;
	if (tasks.sel >= tasks.top + page)
		tasks.top = tasks.sel - page + 1;
	if (tasks.total >= 0 && tasks.top > tasks.total - page)
		tasks.top = tasks.total - page;
	if (tasks.top < 0)
		tasks.top = 0;
}

/* The request for rows [offset, offset+limit) in the given order. */
static json_t *tasks_args(long offset, long limit, int desc)
{
	json_t *a = json_pack("{s:s, s:s, s:s, s:I, s:I}", "sort", tasks_sorts[tasks.sort].name,
	                      "order", desc ? "desc" : "asc", "mode",
	                      tasks.window ? "window" : "total", "offset", (json_int_t)offset,
	                      "limit", (json_int_t)limit);

	if (tasks.filter[0] != '\0')
		json_object_set_new(a, "filter", json_string(tasks.filter));
	return a;
}

/*
 * A page as the screen sees it. Pages in the second half of the list are asked for from the
 * other end (the inverted order, from offset total-top-page) and shown reversed: the agent's
 * top-N heap then never holds more than half the tasks, and End on a million tasks costs what
 * Home costs. Such replies live in the "tasks.tail" slot.
 */
struct tasks_page {
	const struct fetch_reply *r;
	const json_t *rows;
	long first;               /* absolute index of the row shown first */
	long n;
	int reversed;
};

/* The page to draw: the reply to what is wanted now, else the other slot's (older) one. */
static int tasks_page_get(struct ui *ui, struct tasks_page *p)
{
	const struct fetch_reply *head = fetch_get(ui->fetch, "tasks");
	const struct fetch_reply *tail = fetch_get(ui->fetch, "tasks.tail");
	int use_tail;

	if (head != NULL && head->result == NULL)
		head = NULL;
	if (tail != NULL && tail->result == NULL)
		tail = NULL;
	if (head == NULL && tail == NULL)
		return 0;
	if (head != NULL && tail != NULL)
		use_tail = tasks.want_tail ? 1 : 0;
	else
		use_tail = tail != NULL;
	p->r = use_tail ? tail : head;
	p->reversed = use_tail;
	p->rows = json_object_get(p->r->result, "rows");
	p->n = (long)json_array_size(p->rows);
	if (p->reversed)
		p->first = (long)ui_num(p->r->result, "total") -
		           fetch_reply_arg_int(p->r, "offset", 0) - p->n;
	else
		p->first = fetch_reply_arg_int(p->r, "offset", 0);
	return 1;
}

/* The row shown at absolute position abs, or NULL; *index gets its place in the reply. */
static const json_t *tasks_page_row(const struct tasks_page *p, long abs, long *index)
{
	long i = abs - p->first;

	if (i < 0 || i >= p->n)
		return NULL;
	if (p->reversed)
		i = p->n - 1 - i;
	if (index != NULL)
		*index = i;
	return json_array_get(p->rows, (size_t)i);
}

/* The absolute position of the reply's row i. */
static long tasks_page_abs(const struct tasks_page *p, long i)
{
	return p->first + (p->reversed ? p->n - 1 - i : i);
}

/* Derive rates for a new page: from the agent's window deltas when it sends them, else from
 * the previous page's raw figures for the same ids. */
static void tasks_derive(struct ui *ui, const struct fetch_reply *r)
{
	const json_t *rows = json_object_get(r->result, "rows");
	double window = tasks_window_s(ui, r->result);

	memcpy(tasks.prev, tasks.now, tasks.nnow * sizeof tasks.now[0]);
	tasks.nprev = tasks.nnow;
	tasks.nnow = 0;
	for (size_t i = 0; i < json_array_size(rows) && i < TASKS_MAX_ROWS; i++) {
		const json_t *row = json_array_get(rows, i);
		struct tasks_derived *d = &tasks.now[tasks.nnow++];
		double rd = ui_num(row, "reductions_delta"), md = ui_num(row, "memory_delta");

		d->id = (uint64_t)json_integer_value(json_object_get(row, "id"));
		d->reds = ui_num(row, "reductions");
		d->mem = ui_num(row, "memory");
		d->at_s = r->at_s;
		d->rate = !isnan(rd) ? rd / window : NAN;
		d->dmem = md;
		if (!isnan(d->rate) && !isnan(d->dmem))
			continue;
		for (size_t k = 0; k < tasks.nprev; k++) {
			const struct tasks_derived *p = &tasks.prev[k];

			if (p->id != d->id || d->at_s <= p->at_s)
				continue;
			if (isnan(d->rate))
				d->rate = (d->reds - p->reds) / (d->at_s - p->at_s);
			if (isnan(d->dmem))
				d->dmem = d->mem - p->mem;
			break;
		}
	}
}

/* ---- the search that scans ahead --------------------------------------------------------- */

/* Start scanning pages from row `from` for the search text, wrapping at the end of the list
 * and stopping back at the search's origin. */
static void tasks_scan_start(long from)
{
	tasks.scanning = 1;
	tasks.scan_offset = from;
	tasks.scanned = 0;
	tasks.scan_seen_seq = 0;
	tasks.scan_wrapped = 0;
}

/* Look for the search text in the current page from row `from` (absolute); 1 if found. */
static int tasks_search_page(struct ui *ui, long from)
{
	struct tasks_page p;
	const json_t *row;

	if (!tasks_page_get(ui, &p) || tasks.search[0] == '\0')
		return 0;
	for (long abs = from > p.first ? from : p.first; (row = tasks_page_row(&p, abs, NULL)); abs++)
		if (tasks_row_matches(row, tasks.search)) {
			tasks.sel = abs;
			tasks_clamp();
			return 1;
		}
	return 0;
}

/* Search from the origin: in the page on screen when it holds the origin, else by scanning. */
static void tasks_search_from_origin(struct ui *ui)
{
	struct tasks_page p;
	long origin = tasks.search_origin;

	tasks.scanning = 0;
	/* only a page that answers the current request (sort, filter) may be searched; a page of
	 * the previous order would find a row that is not there any more */
	if (tasks_page_get(ui, &p) && origin >= p.first && origin < p.first + p.n &&
	    fetch_reply_current(ui->fetch, p.reversed ? "tasks.tail" : "tasks", p.r)) {
		if (!tasks_search_page(ui, origin))
			tasks_scan_start(p.first + p.n);
	} else {
		tasks_scan_start(origin);
	}
}

/* What a scan looks for: the search text. */
static int tasks_scan_match(const json_t *row)
{
	return tasks_row_matches(row, tasks.search);
}

/* A scan page arrived: jump to the first match in it, or move on, or give up. */
static void tasks_scan_step(struct ui *ui)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, "tasks.search");
	const json_t *rows;
	char n[FMT_SIZE];

	json_t *want = tasks_args(tasks.scan_offset, TASKS_SCAN_PAGE, tasks.desc);
	int mine = r != NULL && json_equal(r->args, want); /* not a page of an earlier scan */

	json_decref(want);
	if (!mine || r->seq == tasks.scan_seen_seq)
		return;
	tasks.scan_seen_seq = r->seq;
	if (r->result == NULL) {
		tasks.scanning = 0;
		ui_message(ui, "search stopped: %s", r->error);
		return;
	}
	rows = json_object_get(r->result, "rows");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		if (tasks.scan_wrapped && tasks.scan_offset + (long)i >= tasks.search_origin)
			break; /* back where the search started */
		if (tasks_scan_match(json_array_get(rows, i))) {
			tasks.scanning = 0;
			tasks.sel = tasks.scan_offset + (long)i;
			tasks.top = tasks.sel - tasks.page / 2;
			tasks_clamp();
			return;
		}
	}
	tasks.scanned += (long)json_array_size(rows);
	tasks.scan_offset += TASKS_SCAN_PAGE;
	if ((json_array_size(rows) < TASKS_SCAN_PAGE || tasks.scan_offset >= tasks.total) &&
	    !tasks.scan_wrapped) {
		tasks.scan_wrapped = 1; /* the end of the list: go on from the top */
		tasks.scan_offset = 0;
	}
	if ((tasks.scan_wrapped && tasks.scan_offset >= tasks.search_origin) ||
	    tasks.scanned >= TASKS_SCAN_MAX) {
		tasks.scanning = 0;
		ui_message(ui, "no task matches \"%s\" (%s rows searched)", tasks.search,
		           fmt_count(n, sizeof n, (double)tasks.scanned));
	}
}

/* ---- following a task that left the page ------------------------------------------------- */

/* The request that locates the followed task: the view's order and filter, one row, find=ID
 * (the agent counts the tasks before it in the same pass as the page). */
static json_t *tasks_locate_args(void)
{
	json_t *a = tasks_args(0, 1, tasks.desc);

	json_object_set_new(a, "find", json_integer((json_int_t)tasks.follow_id));
	return a;
}

/* Start locating the followed task: only replies newer than now count. */
static void tasks_locate_start(struct ui *ui)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, "tasks.find");

	tasks.locating = 1;
	tasks.locate_seq = r != NULL ? r->seq : 0;
}

/* The position arrived: move the view so the task keeps its screen line (the page holding it
 * is asked next), or say it is not in this view any more. */
static void tasks_locate_step(struct ui *ui)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, "tasks.find");
	json_t *want, *pos;
	int mine;

	if (r == NULL || r->seq <= tasks.locate_seq)
		return;
	want = tasks_locate_args();
	mine = json_equal(r->args, want); /* not the answer for another order or filter */
	json_decref(want);
	if (!mine)
		return;
	tasks.locating = 0;
	if (r->result == NULL) {
		ui_message(ui, "cannot locate task #%llu: %s", (unsigned long long)tasks.follow_id,
		           r->error);
		tasks.follow_lost = 2;
		return;
	}
	pos = json_object_get(r->result, "position");
	if (!json_is_integer(pos)) {
		tasks.follow_lost = 2;
		if (!tasks.follow_gone)
			ui_message(ui, "task #%llu is not in this view (exited, or filtered out)",
			           (unsigned long long)tasks.follow_id);
		tasks.follow_gone = 1;
		return;
	}
	tasks.follow_gone = 0;
	long line = tasks.sel - tasks.top; /* a followed task keeps its screen line */

	tasks.total = (long)ui_num(r->result, "total");
	tasks.sel = (long)json_integer_value(pos);
	tasks.top = tasks.sel - line;
	tasks.follow_lost = 0;
	tasks_clamp();
}

/* ---- fetch and draw ---------------------------------------------------------------------- */

static void tasks_enter(struct ui *ui)
{
	(void)ui;
	tasks.seen_seq = 0;
}

/* React to a new page (follow, rates), then ask for the page on screen. */
static void tasks_fetch(struct ui *ui)
{
	struct tasks_page p;
	struct fetch_status st;

	fetch_status(ui->fetch, &st);
	if (st.generation != tasks.generation) { /* a new process: old rates mean nothing */
		tasks.generation = st.generation;
		tasks.nnow = tasks.nprev = 0;
	}
	if (tasks_page_get(ui, &p) && (p.r->seq != tasks.seen_seq || p.reversed != tasks.seen_tail)) {
		tasks.seen_seq = p.r->seq;
		tasks.seen_tail = p.reversed;
		tasks.total = (long)ui_num(p.r->result, "total");
		tasks_derive(ui, p.r);
		if (tasks.follow_id != 0 &&
		    fetch_reply_current(ui->fetch, p.reversed ? "tasks.tail" : "tasks", p.r)) {
			tasks.follow_lost = 1;
			for (long i = 0; i < p.n; i++)
				if ((uint64_t)json_integer_value(json_object_get(
				            json_array_get(p.rows, (size_t)i), "id")) == tasks.follow_id) {
					tasks.sel = tasks_page_abs(&p, i);
					tasks.follow_lost = 0;
					tasks.follow_gone = 0;
				}
		}
		tasks_clamp();
		if (tasks.follow_lost == 1 && !tasks.locating)
			tasks_locate_start(ui); /* it moved off the page: ask where it is now */
	}
	if (tasks.locating)
		tasks_locate_step(ui);
	if (tasks.scanning)
		tasks_scan_step(ui);

	tasks.page = ui->body_h - 2 > 1 ? ui->body_h - 2 : 1;
	tasks_clamp();
	tasks.want_tail = tasks.total > 2L * tasks.page && tasks.top + tasks.page / 2 > tasks.total / 2;
	if (tasks.want_tail) {
		long offset = tasks.total - tasks.top - tasks.page;

		fetch_want(ui->fetch, "tasks.tail", "tasks",
		           tasks_args(offset > 0 ? offset : 0, tasks.page, !tasks.desc));
	} else {
		fetch_want(ui->fetch, "tasks", "tasks", tasks_args(tasks.top, tasks.page, tasks.desc));
	}
	if (tasks.scanning)
		fetch_want(ui->fetch, "tasks.search", "tasks",
		           tasks_args(tasks.scan_offset, TASKS_SCAN_PAGE, tasks.desc));
	if (tasks.locating)
		fetch_want(ui->fetch, "tasks.find", "tasks", tasks_locate_args());
}

/* How the page on screen is sorted: from the reply's own request, not from the keys just
 * pressed, so the summary and the header's mark always describe the rows shown. */
static void tasks_shown_order(const struct tasks_page *p, size_t *sort, int *desc, int *window)
{
	const struct fetch_reply *r = p->r;
	const char *name = json_string_value(json_object_get(r->args, "sort"));

	*sort = tasks.sort;
	for (size_t i = 0; name != NULL && i < TASKS_NSORTS; i++)
		if (strcmp(tasks_sorts[i].name, name) == 0)
			*sort = i;
	*desc = strcmp(ui_str(r->args, "order", "desc"), "desc") == 0;
	if (p->reversed) /* asked from the other end */
		*desc = !*desc;
	*window = strcmp(ui_str(r->args, "mode", "total"), "window") == 0;
}

/* The line above the table: how many, how sorted, what is filtered, what is followed. */
static void tasks_draw_summary(struct ui *ui, WINDOW *w, int width, const struct tasks_page *p)
{
	char buf[400], n[FMT_SIZE], iv[FMT_SIZE];
	size_t sort;
	int desc, window, len;
	const char *filter = ui_str(p->r->args, "filter", "");

	tasks_shown_order(p, &sort, &desc, &window);
	const char *arrow = theme_ascii() ? (desc ? "v" : "^") : (desc ? "▼" : "▲");
	if (tasks.total >= 0 && tasks.total < 100000)
		snprintf(buf, sizeof buf, "%ld tasks", tasks.total);
	else
		snprintf(buf, sizeof buf, "%s tasks",
		         tasks.total >= 0 ? fmt_count(n, sizeof n, (double)tasks.total) : "?");
	len = (int)strlen(buf);
	ui_put(w, 0, 0, width, TH_HEADER, buf);
	snprintf(buf, sizeof buf, "  sort %s %s  %s", tasks_sorts[sort].name, arrow,
	         window ? "window mode (change per interval)" : "total mode (since start)");
	ui_put(w, 0, len, width - len, TH_DEFAULT, buf);
	len += (int)strlen(buf) - (theme_ascii() ? 0 : 2);
	if (filter[0] != '\0') {
		snprintf(buf, sizeof buf, "  filter \"%s\"", filter);
		ui_put(w, 0, len, width - len, TH_WARNING, buf);
		len += (int)strlen(buf);
	}
	if (tasks.follow_id != 0) {
		snprintf(buf, sizeof buf, "  following #%llu%s", (unsigned long long)tasks.follow_id,
		         tasks.follow_lost == 2 || tasks.follow_gone ? " (gone from this view)"
		         : tasks.locating ? " (locating it...)" : "");
		ui_put(w, 0, len, width - len, TH_OK, buf);
		len += (int)strlen(buf);
	}
	if (tasks.scanning) {
		snprintf(buf, sizeof buf, "  searching \"%s\" at row %ld...", tasks.search,
		         tasks.scan_offset);
		ui_put(w, 0, len, width - len, TH_DIM, buf);
		len += (int)strlen(buf);
	}
	if (tasks.total > 0 && p->n > 0) {
		snprintf(buf, sizeof buf, "  %ld-%ld  %s", p->first + 1, p->first + p->n,
		         fmt_duration(iv, sizeof iv, p->r->took_ms / 1e3));
		if ((int)strlen(buf) < width - len)
			ui_put(w, 0, width - (int)strlen(buf), (int)strlen(buf), TH_DIM, buf);
	}
}

/* Statuses an operator should notice stand out. */
static int tasks_status_role(const char *status)
{
	if (strcmp(status, "running") == 0 || strcmp(status, "runnable") == 0)
		return TH_OK;
	if (strcmp(status, "blocked") == 0 || strcmp(status, "exiting") == 0)
		return TH_WARNING;
	return TH_DEFAULT;
}

/* One row of the table at screen line y. */
static void tasks_draw_row(WINDOW *w, int y, int width, const json_t *row,
                           const struct tasks_derived *d, int selected)
{
	char cell[COL_COUNT][256];
	int x = 0;

	snprintf(cell[COL_ID], sizeof cell[0], "%lld",
	         (long long)json_integer_value(json_object_get(row, "id")));
	snprintf(cell[COL_NAME], sizeof cell[0], "%s", tasks_name(row));
	snprintf(cell[COL_STATUS], sizeof cell[0], "%s", ui_str(row, "status", "?"));
	fmt_count(cell[COL_REDS], sizeof cell[0], ui_num(row, "reductions"));
	fmt_rate(cell[COL_RATE], sizeof cell[0], d != NULL ? d->rate : NAN);
	fmt_bytes(cell[COL_MEM], sizeof cell[0], ui_num(row, "memory"));
	fmt_bytes_delta(cell[COL_DMEM], sizeof cell[0], d != NULL ? d->dmem : NAN);
	fmt_count(cell[COL_QUEUE], sizeof cell[0], ui_num(row, "queue"));
	fmt_percent(cell[COL_CPU], sizeof cell[0], ui_num(row, "cpu_pct"));
	const char *loc = tasks_location(row, cell[COL_LOCATION], sizeof cell[0]);
	if (loc != cell[COL_LOCATION])
		snprintf(cell[COL_LOCATION], sizeof cell[0], "%s", loc);

	if (selected) {
		wattron(w, theme_attr(TH_SELECTED));
		mvwhline(w, y, 0, ' ', width);
	}
	for (int c = 0; c < COL_COUNT; c++) {
		int role = TH_DEFAULT;

		if (tasks.widths[c] <= 0)
			continue;
		if (!selected) {
			if (c == COL_STATUS)
				role = tasks_status_role(cell[c]);
			else if (c == COL_DMEM && d != NULL && d->dmem > 0)
				role = TH_WARNING;
			else if (c == COL_QUEUE && ui_num(row, "queue") >= 1000)
				role = TH_WARNING;
			else if (c == COL_ID || c == COL_LOCATION)
				role = TH_DIM;
			wattron(w, theme_attr(role));
		}
		table_draw_cell(w, y, x, tasks.widths[c], tasks_columns[c].align, cell[c]);
		if (!selected)
			wattroff(w, theme_attr(role));
		x += tasks.widths[c] + TABLE_GAP;
	}
	if (selected)
		wattroff(w, theme_attr(TH_SELECTED));
}

/* The summary, the header with the sort mark, and the rows of the page on screen. */
static void tasks_draw(struct ui *ui, WINDOW *w, int height, int width)
{
	const struct fetch_reply *head = fetch_get(ui->fetch, "tasks");
	const struct fetch_reply *tail = fetch_get(ui->fetch, "tasks.tail");
	const struct fetch_reply *wanted = tasks.want_tail ? tail : head;
	struct tasks_page p;
	size_t sort;
	int desc, window;

	table_layout(tasks_columns, COL_COUNT, width, tasks.widths);
	if (!tasks_page_get(ui, &p)) {
		ui_draw_waiting(ui, w, "the task list", wanted != NULL ? wanted->error : NULL);
		return;
	}
	tasks_draw_summary(ui, w, width, &p);
	tasks_shown_order(&p, &sort, &desc, &window);
	int sorted = window ? tasks_sorts[sort].col_window : tasks_sorts[sort].col_total;
	table_draw_header(w, 1, 0, tasks_columns, COL_COUNT, tasks.widths, sorted, desc);
	if (wanted != NULL && wanted->error[0] != '\0') /* e.g. a filter the agent refused */
		ui_put(w, 2, 0, width, TH_WARNING, wanted->error);
	for (int y = 2; y < height; y++) {
		long abs = tasks.top + (y - 2), i;
		const json_t *row = tasks_page_row(&p, abs, &i);

		if (row == NULL)
			continue; /* the page is in flight: leave the line empty rather than wrong */
		const struct tasks_derived *d = (size_t)i < tasks.nnow ? &tasks.now[i] : NULL;
		if (d != NULL && d->id != (uint64_t)json_integer_value(json_object_get(row, "id")))
			d = NULL; /* rates of another page: none rather than wrong ones */
		tasks_draw_row(w, y, width, row, d, abs == tasks.sel);
	}
	if (tasks.total == 0)
		ui_put(w, 3, 2, width - 2, TH_DIM,
		       tasks.filter[0] != '\0' ? "no task matches the filter (\\ to change it)"
		                               : "no tasks");
}

/* ---- keys -------------------------------------------------------------------------------- */

/* Stop following (and stop looking for the followed task). */
static void tasks_unfollow(void)
{
	tasks.locating = 0;
	tasks.follow_id = 0;
	tasks.follow_lost = 0;
}

/* After any movement: moving by hand stops following; the page follows the selection. */
static unsigned tasks_moved(void)
{
	tasks_unfollow();
	tasks_clamp();
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

/* Move the selection; a new page is asked only when it leaves this one. */
static unsigned tasks_key_up(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tasks.sel--;
	return tasks_moved();
}

/* Move the selection; a new page is asked only when it leaves this one. */
static unsigned tasks_key_down(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tasks.sel++;
	return tasks_moved();
}

/* A page up: selection and page move together, as in htop. */
static unsigned tasks_key_page_up(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tasks.sel -= tasks.page;
	tasks.top -= tasks.page;
	return tasks_moved();
}

/* A page down: selection and page move together, as in htop. */
static unsigned tasks_key_page_down(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tasks.sel += tasks.page;
	tasks.top += tasks.page;
	return tasks_moved();
}

/* The first task of the order. */
static unsigned tasks_key_home(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tasks.sel = 0;
	return tasks_moved();
}

/* The last task of the order (asked from the other end: cheap at any size). */
static unsigned tasks_key_end(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tasks.sel = tasks.total > 0 ? tasks.total - 1 : 0;
	return tasks_moved();
}

/* The row under the selection, if the page on screen has it. */
static const json_t *tasks_selected_row(struct ui *ui)
{
	struct tasks_page p;

	return tasks_page_get(ui, &p) ? tasks_page_row(&p, tasks.sel, NULL) : NULL;
}

/* Enter opens what the selection shows. */
static unsigned tasks_key_detail(struct ui *ui, int key)
{
	const json_t *row = tasks_selected_row(ui);

	(void)key;
	if (row == NULL)
		return KEYS_HANDLED;
	ui_open_detail(ui, (uint64_t)json_integer_value(json_object_get(row, "id")));
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

/* Sort by a key; selecting the current key again inverts it (like clicking a header twice). */
static unsigned tasks_sort_by(struct ui *ui, size_t sort)
{
	if (sort == tasks.sort) {
		tasks.desc = !tasks.desc;
	} else {
		tasks.sort = sort;
		tasks.desc = tasks_sorts[sort].desc;
	}
	if (tasks.follow_id == 0)
		tasks.sel = tasks.top = 0; /* the top of the new order is what one wants to see */
	ui_message(ui, "sorted by %s, %s", tasks_sorts[sort].name,
	           tasks.desc ? "largest first" : "smallest first");
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

/* The single-key sorts (observer_cli's and htop's letters). */
static const struct {
	int key;
	const char *sort;
} tasks_sort_keys[] = {
	{'M', "memory"}, {'R', "reductions"}, {'Q', "queue"}, {'C', "cpu"}, {'N', "name"},
};

/* M R Q C N: one key per sort, as observer_cli and htop have them. */
static unsigned tasks_key_sort(struct ui *ui, int key)
{
	const char *name = NULL;

	for (size_t i = 0; i < sizeof tasks_sort_keys / sizeof tasks_sort_keys[0]; i++)
		if (tasks_sort_keys[i].key == key)
			name = tasks_sort_keys[i].sort;
	for (size_t i = 0; name != NULL && i < TASKS_NSORTS; i++)
		if (strcmp(tasks_sorts[i].name, name) == 0) {
			if (i == tasks.sort) { /* M on a memory sort keeps it; I inverts */
				tasks.sel = tasks.top = tasks.follow_id != 0 ? tasks.sel : 0;
				return KEYS_HANDLED | KEYS_REDRAW;
			}
			return tasks_sort_by(ui, i);
		}
	return KEYS_HANDLED;
}

/* < and > walk the sort keys in column order. */
static unsigned tasks_key_sort_move(struct ui *ui, int key)
{
	size_t n = TASKS_NSORTS;

	return tasks_sort_by(ui, key == '<' ? (tasks.sort + n - 1) % n : (tasks.sort + 1) % n);
}

/* I inverts the order of the current sort. */
static unsigned tasks_key_invert(struct ui *ui, int key)
{
	(void)key;
	return tasks_sort_by(ui, tasks.sort);
}

/* W: window mode ranks by the change over the agent's last interval (proc_window). */
static unsigned tasks_key_window(struct ui *ui, int key)
{
	(void)key;
	tasks.window = !tasks.window;
	tasks.nnow = tasks.nprev = 0;
	ui_message(ui, "%s", tasks.window ? "window mode: sorted by the change over the agent's "
	                                    "last sampling interval"
	                                  : "total mode: sorted by the figures since each task "
	                                    "started");
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

/* F pins the selection to a task, wherever the order moves it. */
static unsigned tasks_key_follow(struct ui *ui, int key)
{
	const json_t *row = tasks_selected_row(ui);
	uint64_t id = row != NULL ? (uint64_t)json_integer_value(json_object_get(row, "id")) : 0;

	(void)key;
	if (tasks.follow_id != 0 && (id == 0 || id == tasks.follow_id)) {
		tasks_unfollow();
		ui_message(ui, "not following any task");
	} else if (id != 0) {
		tasks.follow_id = id;
		tasks.follow_lost = 0;
		tasks.follow_gone = 0;
		tasks.locating = 0;
		ui_message(ui, "following task #%llu across refreshes (F again stops)",
		           (unsigned long long)id);
	}
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* Filter prompt: every edit asks the agent again; Esc restores the old filter. */
static unsigned tasks_filter_changed(struct ui *ui, const char *text, int done)
{
	(void)ui;
	(void)done;
	snprintf(tasks.filter, sizeof tasks.filter, "%s", text);
	tasks.sel = tasks.top = 0;
	return KEYS_REFETCH;
}

/* The agent keeps only matching tasks: the screen never holds them all. */
static unsigned tasks_key_filter(struct ui *ui, int key)
{
	(void)key;
	ui_prompt_open(ui, "Filter (name, initial call or location): ", tasks.filter,
	               tasks_filter_changed);
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* Search prompt: every edit jumps to the first match from the selection on. */
static unsigned tasks_search_changed(struct ui *ui, const char *text, int done)
{
	snprintf(tasks.search, sizeof tasks.search, "%s", text);
	tasks.scanning = 0;
	if (done < 0 || text[0] == '\0') {
		tasks.sel = tasks.search_origin; /* Esc or an empty search: back where it began */
		tasks_clamp();
		return KEYS_REDRAW | KEYS_REFETCH;
	}
	tasks_search_from_origin(ui);
	return KEYS_REDRAW | KEYS_REFETCH;
}

/* / searches without filtering: the selection jumps to the next match. */
static unsigned tasks_key_search(struct ui *ui, int key)
{
	(void)key;
	tasks.search_origin = tasks.sel;
	tasks_unfollow();
	ui_prompt_open(ui, "Search: ", "", tasks_search_changed);
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* n / F3: the next match after the selection, wrapping. */
static unsigned tasks_key_next_match(struct ui *ui, int key)
{
	(void)key;
	if (tasks.search[0] == '\0') {
		ui_message(ui, "no search yet: / starts one");
		return KEYS_HANDLED | KEYS_REDRAW;
	}
	tasks_unfollow();
	tasks.search_origin = tasks.total > 0 ? (tasks.sel + 1) % tasks.total : 0;
	tasks_search_from_origin(ui);
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

static const struct key_binding tasks_bindings[] = {
	{'\r', "Detail", "open the selected task's detail", tasks_key_detail},
	{'\n', NULL, "open the selected task's detail", tasks_key_detail},
	{KEY_ENTER, NULL, "open the selected task's detail", tasks_key_detail},
	{'/', "Search", "search name, initial call, location; jumps to the next match",
	 tasks_key_search},
	{'n', NULL, "next search match", tasks_key_next_match},
	{KEY_F(3), NULL, "next search match", tasks_key_next_match},
	{'\\', "Filter", "filter tasks (the agent keeps only the matching ones)", tasks_key_filter},
	{'W', "Window", "toggle window mode (change per interval) and total mode", tasks_key_window},
	{'F', "Follow", "follow the selected task across refreshes", tasks_key_follow},
	{'M', NULL, "sort by memory", tasks_key_sort},
	{'R', NULL, "sort by reductions (work)", tasks_key_sort},
	{'Q', NULL, "sort by queue length", tasks_key_sort},
	{'C', NULL, "sort by CPU", tasks_key_sort},
	{'N', NULL, "sort by name", tasks_key_sort},
	{'<', NULL, "sort by the previous column", tasks_key_sort_move},
	{'>', NULL, "sort by the next column", tasks_key_sort_move},
	{'I', "Invert", "invert the sort order", tasks_key_invert},
	{KEY_UP, NULL, "select the task above", tasks_key_up},
	{KEY_DOWN, NULL, "select the task below", tasks_key_down},
	{KEY_PPAGE, NULL, "page up (the agent sends only the visible page)", tasks_key_page_up},
	{KEY_NPAGE, NULL, "page down (the agent sends only the visible page)", tasks_key_page_down},
	{KEY_HOME, NULL, "first task", tasks_key_home},
	{KEY_END, NULL, "last task", tasks_key_end},
	{0, NULL, NULL, NULL},
};

static const struct key_table tasks_keys = {"Tasks", tasks_bindings};

/* Mouse: a header click sorts by that column (again: inverts); a row click selects, a click on
 * the selected row opens it; the wheel scrolls three rows. */
static unsigned tasks_mouse(struct ui *ui, int y, int x, unsigned long bstate)
{
	if (bstate & (BUTTON4_PRESSED | BUTTON5_PRESSED)) {
		int key = (bstate & BUTTON4_PRESSED) ? KEY_UP : KEY_DOWN;

		for (int i = 0; i < 3; i++)
			(key == KEY_UP ? tasks_key_up : tasks_key_down)(ui, key);
		return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
	}
	if (!(bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED)))
		return 0;
	if (y == 1) {
		int col = table_column_at(tasks.widths, COL_COUNT, x);

		for (size_t i = 0; col >= 0 && i < TASKS_NSORTS; i++)
			if (tasks_sorts[i].col_total == col || tasks_sorts[i].col_window == col)
				return tasks_sort_by(ui, i);
		return KEYS_HANDLED;
	}
	if (y >= 2) {
		long abs = tasks.top + (y - 2);

		if (tasks.total >= 0 && abs >= tasks.total)
			return KEYS_HANDLED;
		if (abs == tasks.sel)
			return tasks_key_detail(ui, '\r');
		tasks.sel = abs;
		tasks_unfollow();
		return KEYS_HANDLED | KEYS_REDRAW;
	}
	return 0;
}

const struct tab_entry tab_tasks = {
	.name = "Tasks",
	.key = '4',
	.enter = tasks_enter,
	.fetch = tasks_fetch,
	.draw = tasks_draw,
	.keys = &tasks_keys,
	.mouse = tasks_mouse,
};
