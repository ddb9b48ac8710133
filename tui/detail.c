/*
 * detail.c - one task's detail view (Enter in the Tasks or Tree tab; Esc returns): observer's
 * process window and recon's info in one screen. The `task` reply gives the figures, the parent
 * chain, children, the inspect output (the task's own key/value state, scrollable) or its exit
 * record; the trend charts are built here from the replies seen since the view opened.
 *
 * A task that exits while open keeps its last figures on screen under its exit record rather
 * than vanishing; one the agent no longer knows at all says so.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "chart.h"
#include "fetch.h"
#include "format.h"
#include "keys.h"
#include "tabs.h"
#include "theme.h"
#include "ui.h"

#define DETAIL_TREND_MAX 240     /* samples kept for the trend charts */

static struct {
	uint64_t id;
	uint64_t seen_seq;
	json_t *last;                 /* the last successful reply (kept when the task is gone) */
	int gone;                     /* the agent no longer knows the task */
	char mismatch[240];           /* the agent answered about another task */
	int inspect_top;              /* inspect scroll */
	int inspect_lines;            /* lines the inspect output has (for scroll bounds) */
	double rate[DETAIL_TREND_MAX], mem[DETAIL_TREND_MAX];
	size_t n;
	double prev_reds, prev_at;
	struct chart_scale rate_scale, mem_scale;
} detail;

/* Append a sample to a fixed ring kept oldest first (shift when full: 240 doubles, cheap). */
static void detail_push(double *series, double v)
{
	if (detail.n == DETAIL_TREND_MAX)
		memmove(series, series + 1, (DETAIL_TREND_MAX - 1) * sizeof *series);
	series[detail.n == DETAIL_TREND_MAX ? DETAIL_TREND_MAX - 1 : detail.n] = v;
}

/* A fresh view per task: trend and scroll start over. */
static void detail_enter(struct ui *ui)
{
	json_decref(detail.last);
	memset(&detail, 0, sizeof detail);
	detail.id = ui->detail_id;
	detail.prev_at = NAN;
}

/* Drop the kept reply; the view holds nothing while closed. */
static void detail_leave(struct ui *ui)
{
	(void)ui;
	json_decref(detail.last);
	detail.last = NULL;
}

/*
 * A task that exits while open: its exit record (reason, final figures) comes with fewer
 * fields than a live answer (no parent chain, no inspect). Keep what the last live answer
 * said for those, so the screen does not go blank at the moment one wants to read it.
 * Returns a new reference.
 */
static json_t *detail_merge_exit(json_t *reply, const json_t *last)
{
	const char *key;
	json_t *v, *merged;

	if (!json_is_object(json_object_get(reply, "exit")) || last == NULL)
		return json_incref(reply); /* (a last that is itself merged keeps the live fields) */
	merged = json_copy(reply);
	json_object_foreach((json_t *)last, key, v) {
		json_t *mine = json_object_get(merged, key);

		if (mine == NULL || json_is_null(mine))
			json_object_set(merged, key, v);
	}
	if (!json_is_object(json_object_get(last, "exit")) ||
	    json_is_true(json_object_get(last, "inspect_before_exit")))
		json_object_set_new(merged, "inspect_before_exit", json_true());
	return merged;
}

/* Take a new reply: keep it, and extend the trend with its reductions/s and memory. */
static void detail_fetch(struct ui *ui)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, "task");

	if (r != NULL && r->seq != detail.seen_seq &&
	    (uint64_t)fetch_reply_arg_int(r, "task", 0) == detail.id) {
		detail.seen_seq = r->seq;
		if (r->result != NULL && (uint64_t)ui_num(r->result, "id") != detail.id) {
			/* An agent that reads the request id as the task id (protocol v1's "id" is the
			 * envelope's) answers about another task: say so, never show it as this one. */
			snprintf(detail.mismatch, sizeof detail.mismatch,
			         "asked for #%llu, the agent answered for #%.0f (%s): is it older than "
			         "task=N?",
			         (unsigned long long)detail.id, ui_num(r->result, "id"),
			         ui_str(r->result, "name", "?"));
		} else if (r->result != NULL) {
			detail.mismatch[0] = '\0';
			double reds = ui_num(r->result, "reductions");
			double rate = NAN;

			json_t *next = detail_merge_exit(r->result, detail.last);

			json_decref(detail.last);
			detail.last = next;
			detail.gone = 0;
			if (!isnan(detail.prev_at) && r->at_s > detail.prev_at)
				rate = (reds - detail.prev_reds) / (r->at_s - detail.prev_at);
			detail.prev_reds = reds;
			detail.prev_at = r->at_s;
			if (!isnan(rate) || detail.n > 0) { /* the first sample has no rate yet */
				detail_push(detail.rate, rate);
				detail_push(detail.mem, ui_num(r->result, "memory"));
				if (detail.n < DETAIL_TREND_MAX)
					detail.n++;
				/* the scales move with the samples (their hysteresis counts samples) */
				struct chart_series rs = {detail.rate, detail.n, TH_CHART_1, NULL};
				struct chart_series ms = {detail.mem, detail.n, TH_CHART_2, NULL};
				chart_scale_update(&detail.rate_scale, &rs, 1);
				chart_scale_update(&detail.mem_scale, &ms, 1);
			}
		} else if (strncmp(r->error, "not_found", 9) == 0) {
			detail.gone = 1;
		}
	}
	/* "task":N names the task; "id" is the protocol's request id */
	fetch_want(ui->fetch, "task", "task", json_pack("{s:I}", "task", (json_int_t)detail.id));
}

/* "name #id > name #id > ..." from the root down to the task's parent. */
static void detail_chain(const json_t *t, char *buf, size_t size)
{
	const json_t *parents = json_object_get(t, "parents");
	size_t used = 0;

	buf[0] = '\0';
	if (!json_is_array(parents) || json_array_size(parents) == 0) {
		if (json_is_integer(json_object_get(t, "parent")))
			snprintf(buf, size, "#%lld", (long long)json_integer_value(
			                                json_object_get(t, "parent")));
		else
			snprintf(buf, size, "(top level)");
		return;
	}
	for (size_t i = json_array_size(parents); i-- > 0 && used + 1 < size;) {
		const json_t *p = json_array_get(parents, i);

		used += (size_t)snprintf(buf + used, size - used, "%s%s #%lld",
		                         i + 1 == json_array_size(parents) ? "" : " > ",
		                         ui_str(p, "name", "?"),
		                         (long long)json_integer_value(json_object_get(p, "id")));
	}
}

/* A "label  value" line of the meta column. */
static void detail_line(WINDOW *w, int *y, int x, int width, int maxy, const char *label,
                        const char *value, int role)
{
	if (*y >= maxy)
		return;
	ui_put(w, *y, x, 14, TH_DIM, label);
	ui_put(w, *y, x + 15, width - 15, role, value);
	(*y)++;
}

/* The figures: who it is, where, how much. Returns the next free row. */
static int detail_meta(WINDOW *w, int y, int x, int width, int maxy, const json_t *t)
{
	char v[512], a[FMT_SIZE], b[FMT_SIZE];
	const json_t *win = json_object_get(t, "window");
	const char *status = ui_str(t, "status", "?");

	snprintf(v, sizeof v, "%s", ui_str(t, "kind", "?"));
	if (json_is_string(json_object_get(t, "strategy")))
		snprintf(v + strlen(v), sizeof v - strlen(v), ", %s (at most %.0f restarts in %.0f s)",
		         ui_str(t, "strategy", ""), ui_num(t, "max_restarts"), ui_num(t, "max_seconds"));
	detail_line(w, &y, x, width, maxy, "kind", v, TH_DEFAULT);
	detail_line(w, &y, x, width, maxy, "status", status,
	            strcmp(status, "exited") == 0 ? TH_CRITICAL : TH_OK);
	detail_chain(t, v, sizeof v);
	detail_line(w, &y, x, width, maxy, "parents", v, TH_DEFAULT);
	detail_line(w, &y, x, width, maxy, "initial call", ui_str(t, "initial_call", "-"),
	            TH_DEFAULT);
	snprintf(v, sizeof v, "%s ago", fmt_duration(a, sizeof a, ui_num(t, "age_s")));
	detail_line(w, &y, x, width, maxy, "started", v, TH_DEFAULT);
	detail_line(w, &y, x, width, maxy, "location", ui_str(t, "location", "-"), TH_DEFAULT);
	snprintf(v, sizeof v, "%s (%s)", fmt_bytes(a, sizeof a, ui_num(t, "memory")),
	         ui_str(t, "memory_source", "accounted"));
	if (json_is_object(win))
		snprintf(v + strlen(v), sizeof v - strlen(v), ", %s over %s",
		         fmt_bytes_delta(a, sizeof a, ui_num(win, "memory_delta")),
		         fmt_duration(b, sizeof b, ui_num(win, "window_s")));
	detail_line(w, &y, x, width, maxy, "memory", v, TH_DEFAULT);
	snprintf(v, sizeof v, "%s reductions", fmt_count(a, sizeof a, ui_num(t, "reductions")));
	if (json_is_object(win))
		snprintf(v + strlen(v), sizeof v - strlen(v), ", %s",
		         fmt_rate(b, sizeof b, ui_num(win, "reductions_delta") /
		                                   ui_num(win, "window_s")));
	detail_line(w, &y, x, width, maxy, "work", v, TH_DEFAULT);
	double q = ui_num(t, "queue");
	detail_line(w, &y, x, width, maxy, "queue", fmt_count(a, sizeof a, q),
	            q >= 1000 ? TH_WARNING : TH_DEFAULT);
	snprintf(v, sizeof v, "%s", fmt_percent(a, sizeof a, ui_num(t, "cpu_pct")));
	if (json_is_integer(json_object_get(t, "tid")))
		snprintf(v + strlen(v), sizeof v - strlen(v), " (thread %lld)",
		         (long long)json_integer_value(json_object_get(t, "tid")));
	detail_line(w, &y, x, width, maxy, "CPU", v, TH_DEFAULT);
	double restarts = ui_num(t, "restarts");
	detail_line(w, &y, x, width, maxy, "restarts", fmt_count(a, sizeof a, restarts),
	            restarts > 0 ? TH_WARNING : TH_DEFAULT);
	return y;
}

/* The exit record, when the task has exited: reason first, it is what one came for. */
static int detail_exit(WINDOW *w, int y, int width, const json_t *t)
{
	const json_t *ex = json_object_get(t, "exit");
	char v[400], a[FMT_SIZE], b[FMT_SIZE];

	if (!json_is_object(ex))
		return y;
	snprintf(v, sizeof v, "EXITED %s ago: %s (lived %s; was %s)",
	         fmt_duration(a, sizeof a, ui_num(ex, "exited_s_ago")), ui_str(ex, "reason", "?"),
	         fmt_duration(b, sizeof b, ui_num(ex, "lifetime_s")),
	         ui_str(ex, "status_before", "?"));
	ui_put(w, y, 0, width, TH_CRITICAL, v);
	return y + 1;
}

/* Children: the first ones with their figures, and how many there are. */
static int detail_children(WINDOW *w, int y, int x, int width, int maxy, const json_t *t)
{
	const json_t *kids = json_object_get(t, "children");
	char v[200], a[FMT_SIZE], b[FMT_SIZE];
	double count = ui_num(t, "children_count");

	if (y >= maxy)
		return y;
	snprintf(v, sizeof v, "Children (%s)", isnan(count) ? "0" : fmt_count(a, sizeof a, count));
	ui_put(w, y++, x, width, TH_TABLE_HEADER, v);
	for (size_t i = 0; i < json_array_size(kids) && y < maxy; i++) {
		const json_t *k = json_array_get(kids, i);

		snprintf(v, sizeof v, "#%-7lld %-20.20s %-8s %9s %8s",
		         (long long)json_integer_value(json_object_get(k, "id")), ui_str(k, "name", "?"),
		         ui_str(k, "status", "?"), fmt_bytes(a, sizeof a, ui_num(k, "memory")),
		         fmt_count(b, sizeof b, ui_num(k, "reductions")));
		ui_put(w, y++, x, width, TH_DEFAULT, v);
	}
	return y;
}

/* The inspect output: the task's own state as key = value lines, scrollable. */
static void detail_inspect(WINDOW *w, int y, int height, int width, const json_t *t)
{
	const json_t *ins = json_object_get(t, "inspect");
	const char *key;
	json_t *val;
	char v[600], ms[FMT_SIZE];
	int line = 0, shown = 0;

	if (y >= height)
		return;
	snprintf(v, sizeof v, "Inspect (the task's own state%s%s%s)",
	         json_is_true(json_object_get(t, "inspect_before_exit"))
	                 ? " as of the last refresh before it exited" : "",
	         json_is_number(json_object_get(t, "inspect_ms")) ? ", took " : "",
	         json_is_number(json_object_get(t, "inspect_ms"))
	                 ? fmt_duration(ms, sizeof ms, ui_num(t, "inspect_ms") / 1e3) : "");
	ui_put(w, y++, 0, width, TH_TABLE_HEADER, v);
	if (!json_is_object(ins) || json_object_size(ins) == 0) {
		ui_put(w, y, 2, width - 2, TH_DIM,
		       json_is_object(json_object_get(t, "exit")) ? "(the task has exited)"
		                                                  : "(no inspect callback)");
		detail.inspect_lines = 0;
		return;
	}
	json_object_foreach((json_t *)ins, key, val) {
		if (line++ < detail.inspect_top || y >= height)
			continue;
		int err = strcmp(key, "error") == 0 || strcmp(key, "withheld") == 0;
		if (json_is_string(val))
			snprintf(v, sizeof v, "%s", json_string_value(val));
		else {
			char *dump = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);

			snprintf(v, sizeof v, "%s", dump != NULL ? dump : "?");
			free(dump);
		}
		ui_put(w, y, 2, 22, err ? TH_WARNING : TH_DIM, key);
		ui_put(w, y, 25, width - 25, err ? TH_WARNING : TH_DEFAULT, v);
		y++;
		shown++;
	}
	detail.inspect_lines = line;
	if (detail.inspect_top > 0 || shown < line - detail.inspect_top) {
		snprintf(v, sizeof v, " %d-%d of %d (Up/Down) ", detail.inspect_top + 1,
		         detail.inspect_top + shown, line);
		ui_put(w, y - shown - 1, width - (int)strlen(v), (int)strlen(v), TH_DIM, v);
	}
}

/* One trend chart with its label and latest value. */
static void detail_chart(WINDOW *w, int y, int x, int height, int width, const double *values,
                         const struct chart_scale *scale, enum theme_role role,
                         const char *label, chart_format_fn fmt)
{
	struct chart_series s = {values, detail.n, role, label};
	char v[120], now[FMT_SIZE], top[FMT_SIZE];

	snprintf(v, sizeof v, "%s: %s (top %s)", label,
	         detail.n > 0 ? fmt(now, sizeof now, values[detail.n - 1]) : "-",
	         fmt(top, sizeof top, scale->max));
	ui_put(w, y, x, width, role, v);
	if (height > 1)
		chart_draw(w, y + 1, x, height - 1, width, &s, 1, scale,
		           chart_symbols_select(theme_ascii(), NULL, NULL));
}

/* Figures on the left, trend and children on the right (or below when narrow),
 * inspect output at the bottom. */
static void detail_draw(struct ui *ui, WINDOW *w, int height, int width)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, "task");
	const json_t *t = detail.last;
	char v[300];
	int y = 0, left, meta_end, right_end;

	if (t == NULL && detail.mismatch[0] != '\0') {
		ui_draw_waiting(ui, w, "this task", detail.mismatch);
		return;
	}
	if (t == NULL) {
		if (r != NULL && (uint64_t)fetch_reply_arg_int(r, "task", 0) == detail.id &&
		    r->error[0] != '\0')
			ui_draw_waiting(ui, w, "this task", r->error);
		else
			ui_draw_waiting(ui, w, "this task", NULL);
		return;
	}
	snprintf(v, sizeof v, "Task #%llu  %s", (unsigned long long)detail.id,
	         ui_str(t, "name", ""));
	ui_put(w, y++, 0, width, TH_HEADER, v);
	if (detail.gone)
		ui_put(w, y++, 0, width, TH_CRITICAL,
		       "the agent no longer knows this task (exited, and out of the exit ring): "
		       "last figures shown");
	y = detail_exit(w, y, width, t);

	left = width >= 100 ? width / 2 : width;
	meta_end = detail_meta(w, y, 0, left, height, t);
	right_end = y;
	if (width >= 100) { /* wide: trend and children on the right */
		int ch = (meta_end - y) / 2 > 3 ? (meta_end - y) / 2 : 3;

		detail_chart(w, y, left + 1, ch, width - left - 2, detail.rate, &detail.rate_scale,
		             TH_CHART_1, "reductions/s", fmt_rate);
		detail_chart(w, y + ch, left + 1, ch, width - left - 2, detail.mem, &detail.mem_scale,
		             TH_CHART_2, "memory", fmt_bytes);
		right_end = y + 2 * ch;
		int kids_end = detail_children(w, right_end, left + 1, width - left - 2,
		                               right_end + 6 < height ? right_end + 6 : height, t);
		right_end = kids_end;
		y = meta_end > right_end ? meta_end : right_end;
	} else {
		/* narrow: a two-line trend of each under the figures, then children */
		y = meta_end;
		if (y + 4 < height) {
			detail_chart(w, y, 0, 2, width / 2 - 1, detail.rate, &detail.rate_scale, TH_CHART_1,
			             "reductions/s", fmt_rate);
			detail_chart(w, y, width / 2, 2, width - width / 2, detail.mem, &detail.mem_scale,
			             TH_CHART_2, "memory", fmt_bytes);
			y += 2;
		}
		/* narrow: children only when there are some (the inspect output needs the rows) */
		if (y + 6 < height && ui_num(t, "children_count") > 0)
			y = detail_children(w, y, 0, width, y + 3, t);
	}
	detail_inspect(w, y, height, width, t);
}

/* Esc returns to the list (or tree) the detail was opened from. */
static unsigned detail_key_close(struct ui *ui, int key)
{
	(void)key;
	ui_close_detail(ui);
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

/* Scroll the inspect output, which may be longer than the screen. */
static unsigned detail_key_scroll_up(struct ui *ui, int key)
{
	detail.inspect_top -= key == KEY_PPAGE ? ui->body_h / 2 : 1;
	if (detail.inspect_top < 0)
		detail.inspect_top = 0;
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* Scroll the inspect output, which may be longer than the screen. */
static unsigned detail_key_scroll_down(struct ui *ui, int key)
{
	detail.inspect_top += key == KEY_NPAGE ? ui->body_h / 2 : 1;
	if (detail.inspect_top > detail.inspect_lines - 1)
		detail.inspect_top = detail.inspect_lines > 0 ? detail.inspect_lines - 1 : 0;
	return KEYS_HANDLED | KEYS_REDRAW;
}

static const struct key_binding detail_bindings[] = {
	{27, "Back", "back to the list", detail_key_close},
	{KEY_BACKSPACE, NULL, "back to the list", detail_key_close},
	{127, NULL, "back to the list", detail_key_close},
	{KEY_LEFT, NULL, "back to the list", detail_key_close},
	{KEY_UP, NULL, "scroll the inspect output", detail_key_scroll_up},
	{KEY_DOWN, NULL, "scroll the inspect output", detail_key_scroll_down},
	{KEY_PPAGE, NULL, "scroll the inspect output by half a screen", detail_key_scroll_up},
	{KEY_NPAGE, NULL, "scroll the inspect output by half a screen", detail_key_scroll_down},
	{0, NULL, NULL, NULL},
};

static const struct key_table detail_keys = {"Task detail", detail_bindings};

/* The wheel scrolls the inspect output. */
static unsigned detail_mouse(struct ui *ui, int y, int x, unsigned long bstate)
{
	(void)y;
	(void)x;
	if (bstate & BUTTON4_PRESSED)
		return detail_key_scroll_up(ui, KEY_UP);
	if (bstate & BUTTON5_PRESSED)
		return detail_key_scroll_down(ui, KEY_DOWN);
	return 0;
}

const struct tab_entry view_detail = {
	.name = "Task",
	.key = 0,
	.enter = detail_enter,
	.leave = detail_leave,
	.fetch = detail_fetch,
	.draw = detail_draw,
	.keys = &detail_keys,
	.mouse = detail_mouse,
};
