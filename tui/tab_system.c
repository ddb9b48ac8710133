/*
 * tab_system.c - the System tab, laid out like observer's: boxes for the process, its host, the
 * agent, the allocator and the tasks, each a list of "label ... value" lines with the value
 * right-aligned and in its unit. Counts near their limits (fds, threads, tasks) turn to the
 * warning colour at 80% and the critical colour at 95%.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fetch.h"
#include "format.h"
#include "tabs.h"
#include "theme.h"
#include "ui.h"

#define SYSTEM_WARN_RATIO 0.80
#define SYSTEM_CRIT_RATIO 0.95

/* One box being filled: lines go below the title until the box is full. */
struct system_box {
	WINDOW *w;
	int y, x, h, width;
	int line;
};

/* Draw a titled frame and start filling it. */
static void system_box_open(struct system_box *b, WINDOW *w, int y, int x, int h, int width,
                            const char *title)
{
	char buf[80];

	b->w = w;
	b->y = y;
	b->x = x;
	b->h = h;
	b->width = width;
	b->line = 0;
	if (h < 2 || width < 8)
		return;
	wattron(w, theme_attr(TH_BORDER));
	if (theme_ascii()) {
		mvwhline(w, y, x, '-', width);
		mvwhline(w, y + h - 1, x, '-', width);
		mvwvline(w, y, x, '|', h);
		mvwvline(w, y, x + width - 1, '|', h);
		mvwaddch(w, y, x, '+');
		mvwaddch(w, y, x + width - 1, '+');
		mvwaddch(w, y + h - 1, x, '+');
		mvwaddch(w, y + h - 1, x + width - 1, '+');
	} else {
		mvwhline(w, y, x, ACS_HLINE, width);
		mvwhline(w, y + h - 1, x, ACS_HLINE, width);
		mvwvline(w, y, x, ACS_VLINE, h);
		mvwvline(w, y, x + width - 1, ACS_VLINE, h);
		mvwaddch(w, y, x, ACS_ULCORNER);
		mvwaddch(w, y, x + width - 1, ACS_URCORNER);
		mvwaddch(w, y + h - 1, x, ACS_LLCORNER);
		mvwaddch(w, y + h - 1, x + width - 1, ACS_LRCORNER);
	}
	wattroff(w, theme_attr(TH_BORDER));
	snprintf(buf, sizeof buf, " %s ", title);
	ui_put(w, y, x + 2, width - 4, TH_TABLE_HEADER, buf);
}

/* One "label ... value" line; value right-aligned, in role. */
static void system_line(struct system_box *b, const char *label, const char *value, int role)
{
	int y = b->y + 1 + b->line, inner = b->width - 4;
	int vlen = (int)strlen(value);

	if (b->line >= b->h - 2 || inner < 4)
		return;
	b->line++;
	ui_put(b->w, y, b->x + 2, inner, TH_DIM, label);
	if (vlen > inner - (int)strlen(label) - 1)
		vlen = inner - (int)strlen(label) - 1;
	if (vlen < 1)
		return;
	/* a long value (a command line) is cut on the left edge of its space, keeping its start */
	ui_put(b->w, y, b->x + 2 + inner - vlen, vlen, role, value);
}

/* A path: when it does not fit, its end (the program's name) matters more than its start. */
static void system_line_path(struct system_box *b, const char *label, const char *path)
{
	int room = b->width - 4 - (int)strlen(label) - 1;
	int len = (int)strlen(path);
	char buf[512];

	if (room > 2 && len > room) {
		snprintf(buf, sizeof buf, "~%s", path + len - room + 1);
		path = buf;
	}
	system_line(b, label, path, TH_DEFAULT);
}

/* The role for a count against its limit. */
static int system_limit_role(double count, double limit)
{
	if (isnan(count) || isnan(limit) || limit <= 0)
		return TH_DEFAULT;
	if (count >= limit * SYSTEM_CRIT_RATIO)
		return TH_CRITICAL;
	if (count >= limit * SYSTEM_WARN_RATIO)
		return TH_WARNING;
	return TH_DEFAULT;
}

/* "123 / 1024 (12%)" or "123 (no limit)". */
static const char *system_of_limit(char *buf, size_t size, double count, double limit)
{
	char a[FMT_SIZE], b[FMT_SIZE], p[FMT_SIZE];

	if (isnan(count))
		snprintf(buf, size, "-");
	else if (isnan(limit))
		snprintf(buf, size, "%s (no limit)", fmt_count(a, sizeof a, count));
	else
		snprintf(buf, size, "%s / %s (%s)", fmt_count(a, sizeof a, count),
		         fmt_count(b, sizeof b, limit), fmt_percent(p, sizeof p, 100.0 * count / limit));
	return buf;
}

/* Process box: identity, age, counts against limits, memory, CPU. */
static void system_process(struct system_box *b, const json_t *p, const json_t *limits)
{
	char v[256], x[FMT_SIZE], y[FMT_SIZE];
	double threads = ui_num(p, "threads"), fds = ui_num(p, "fds");

	system_line(b, "name", ui_str(p, "name", "-"), TH_DEFAULT);
	snprintf(v, sizeof v, "%.0f", ui_num(p, "pid"));
	system_line(b, "pid", v, TH_DEFAULT);
	system_line_path(b, "executable", ui_str(p, "exe", "-"));
	system_line(b, "command line", ui_str(p, "cmdline", "-"), TH_DEFAULT);
	system_line(b, "uptime", fmt_duration(x, sizeof x, ui_num(p, "uptime_s")), TH_DEFAULT);
	system_line(b, "threads", system_of_limit(v, sizeof v, threads, ui_num(limits, "threads")),
	            system_limit_role(threads, ui_num(limits, "threads")));
	system_line(b, "file descriptors", system_of_limit(v, sizeof v, fds, ui_num(limits, "fds")),
	            system_limit_role(fds, ui_num(limits, "fds")));
	system_line(b, "resident memory", fmt_bytes(x, sizeof x, ui_num(p, "rss_bytes")), TH_DEFAULT);
	system_line(b, "virtual memory", fmt_bytes(x, sizeof x, ui_num(p, "vsz_bytes")), TH_DEFAULT);
	snprintf(v, sizeof v, "%s user  %s sys", fmt_percent(x, sizeof x, ui_num(p, "cpu_user_pct")),
	         fmt_percent(y, sizeof y, ui_num(p, "cpu_sys_pct")));
	system_line(b, "CPU now", v, TH_DEFAULT);
	snprintf(v, sizeof v, "%s user  %s sys", fmt_duration(x, sizeof x, ui_num(p, "cpu_user_s")),
	         fmt_duration(y, sizeof y, ui_num(p, "cpu_sys_s")));
	system_line(b, "CPU time", v, TH_DEFAULT);
	system_line(b, "context switches", fmt_rate(x, sizeof x, ui_num(p, "ctx_switches_per_s")),
	            TH_DEFAULT);
}

/* Host box: what the process runs on and how loaded it is. */
static void system_host(struct system_box *b, const json_t *h)
{
	char v[160], x[FMT_SIZE], y[FMT_SIZE];
	json_t *load = json_object_get(h, "loadavg");
	double total = ui_num(h, "mem_total_bytes"), avail = ui_num(h, "mem_available_bytes");

	system_line(b, "hostname", ui_str(h, "hostname", "-"), TH_DEFAULT);
	system_line(b, "kernel", ui_str(h, "kernel", "-"), TH_DEFAULT);
	snprintf(v, sizeof v, "%.0f", ui_num(h, "cpus"));
	system_line(b, "CPUs", v, TH_DEFAULT);
	if (json_is_array(load) && json_array_size(load) == 3) {
		double l1 = json_number_value(json_array_get(load, 0));
		snprintf(v, sizeof v, "%.2f %.2f %.2f", l1,
		         json_number_value(json_array_get(load, 1)),
		         json_number_value(json_array_get(load, 2)));
		system_line(b, "load average", v, system_limit_role(l1, ui_num(h, "cpus")));
	}
	system_line(b, "memory total", fmt_bytes(x, sizeof x, total), TH_DEFAULT);
	snprintf(v, sizeof v, "%s (%s)", fmt_bytes(x, sizeof x, avail),
	         fmt_percent(y, sizeof y, 100.0 * avail / total));
	/* little memory available is the warning here: compare what is used */
	system_line(b, "memory available", v, system_limit_role(total - avail, total));
}

/* Agent box: what watching costs the host (CPU, memory, tick time). */
static void system_agent(struct system_box *b, const json_t *a)
{
	char v[160], x[FMT_SIZE], y[FMT_SIZE];
	double clients = ui_num(a, "clients"), max = ui_num(a, "max_clients");

	snprintf(v, sizeof v, "%s (protocol %.0f)", ui_str(a, "version", "-"),
	         ui_num(a, "protocol"));
	system_line(b, "version", v, TH_DEFAULT);
	snprintf(v, sizeof v, "%.0f / %.0f", clients, max);
	system_line(b, "clients", v, system_limit_role(clients, max));
	system_line(b, "sampling interval", fmt_duration(x, sizeof x, ui_num(a, "interval_ms") / 1e3),
	            TH_DEFAULT);
	system_line(b, "requests served", fmt_count(x, sizeof x, ui_num(a, "requests")), TH_DEFAULT);
	snprintf(v, sizeof v, "%s (%s now)", fmt_duration(x, sizeof x, ui_num(a, "agent_cpu_s")),
	         fmt_percent(y, sizeof y, ui_num(a, "agent_cpu_pct")));
	system_line(b, "agent CPU", v, TH_DEFAULT);
	system_line(b, "agent memory", fmt_bytes(x, sizeof x, ui_num(a, "agent_mem_bytes")),
	            TH_DEFAULT);
	snprintf(v, sizeof v, "%.0f us (max %.0f us)", ui_num(a, "probe_tick_us"),
	         ui_num(a, "probe_tick_max_us"));
	system_line(b, "probe tick cost", v, TH_DEFAULT);
}

/* Allocator box: which malloc the Memory tab figures come from. */
static void system_allocator(struct system_box *b, const json_t *al)
{
	system_line(b, "allocator", ui_str(al, "name", "-"), TH_DEFAULT);
	system_line(b, "version", ui_str(al, "version", "-"), TH_DEFAULT);
}

/* Task figures: the `system` reply's "tasks" object when the agent has one, else the total of
 * a one-row `tasks` query. */
static void system_tasks(struct system_box *b, struct ui *ui, const json_t *t)
{
	char x[FMT_SIZE], v[160];

	if (json_is_object(t)) {
		static const struct {
			const char *key, *label;
			int bytes;
		} rows[] = {
			{"live", "live", 0}, {"spawned", "spawned", 0}, {"exited", "exited", 0},
			{"restarts", "restarts", 0}, {"reductions", "reductions", 0},
			{"queue", "queued messages", 0}, {"memory", "accounted memory", 1},
		};
		double live = ui_num(t, "live"), max = ui_num(t, "max");

		for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
			double val = ui_num(t, rows[i].key);

			if (isnan(val))
				continue;
			if (i == 0) {
				system_line(b, rows[i].label, system_of_limit(v, sizeof v, live, max),
				            system_limit_role(live, max));
				continue;
			}
			system_line(b, rows[i].label,
			            rows[i].bytes ? fmt_bytes(x, sizeof x, val) : fmt_count(x, sizeof x, val),
			            TH_DEFAULT);
		}
		return;
	}
	const struct fetch_reply *r = fetch_get(ui->fetch, "system.tasks");
	if (r != NULL && r->result != NULL)
		system_line(b, "live", fmt_count(x, sizeof x, ui_num(r->result, "total")), TH_DEFAULT);
	else
		system_line(b, "live", r != NULL && r->error[0] ? r->error : "-", TH_DIM);
}

/* Only `system` is needed (the header asks it); older agents without task figures in it
 * get a one-row `tasks` for the count. */
static void system_fetch(struct ui *ui)
{
	const json_t *sys = ui_system(ui);

	/* "system" itself is asked by the header every frame */
	if (sys != NULL && !json_is_object(json_object_get(sys, "tasks")))
		fetch_want(ui->fetch, "system.tasks", "tasks", json_pack("{s:i}", "limit", 1));
}

/* Two columns from 70 cells up, one below; boxes are dropped before they are squeezed. */
static void system_draw(struct ui *ui, WINDOW *w, int height, int width)
{
	const json_t *sys = ui_system(ui);
	const struct fetch_reply *r = fetch_get(ui->fetch, "system");
	struct system_box b;
	int left = width / 2, right = width - left;

	if (sys == NULL) {
		ui_draw_waiting(ui, w, "system figures", r != NULL ? r->error : NULL);
		return;
	}
	if (width < 70) { /* one column: the process box first, the rest as space allows */
		int y = 0, h = 14;

		system_box_open(&b, w, y, 0, h < height ? h : height, width, "Process");
		system_process(&b, json_object_get(sys, "process"), json_object_get(sys, "limits"));
		y += h;
		if (y + 8 <= height) {
			system_box_open(&b, w, y, 0, 8, width, "Tasks");
			system_tasks(&b, ui, json_object_get(sys, "tasks"));
			y += 8;
		}
		if (y + 9 <= height) {
			system_box_open(&b, w, y, 0, 9, width, "Host");
			system_host(&b, json_object_get(sys, "host"));
		}
		return;
	}
	/* two columns: process and tasks on the left; host, agent and allocator on the right */
	int ph = height < 14 ? height : 14;
	system_box_open(&b, w, 0, 0, ph, left, "Process");
	system_process(&b, json_object_get(sys, "process"), json_object_get(sys, "limits"));
	if (height - ph >= 3) {
		system_box_open(&b, w, ph, 0, height - ph < 9 ? height - ph : 9, left, "Tasks");
		system_tasks(&b, ui, json_object_get(sys, "tasks"));
	}
	int y = 0, hh = height < 8 ? height : 8;
	system_box_open(&b, w, y, left, hh, right, "Host");
	system_host(&b, json_object_get(sys, "host"));
	y += hh;
	if (height - y >= 3) {
		int ah = height - y < 9 ? height - y : 9;

		system_box_open(&b, w, y, left, ah, right, "Agent");
		system_agent(&b, json_object_get(sys, "agent"));
		y += ah;
	}
	if (height - y >= 3) {
		system_box_open(&b, w, y, left, height - y < 4 ? height - y : 4, right, "Allocator");
		system_allocator(&b, json_object_get(sys, "allocator"));
	}
}

const struct tab_entry tab_system = {
	.name = "System",
	.key = '1',
	.fetch = system_fetch,
	.draw = system_draw,
};
