/*
 * taskjson.c - JSON rows shared by the task commands (see taskjson.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "proc.h"
#include "taskjson.h"

/* One string an operator can paste into an editor: "file:line func". */
const char *taskjson_location(const struct sonde_location *loc, char *buf, size_t size)
{
	const char *file;

	if (loc == NULL)
		return NULL;
	file = loc->file ? loc->file : "?";
	snprintf(buf, size, "%s:%d %s", file, loc->line, loc->func ? loc->func : "?");
	return buf;
}

/* Coarse spawn stamps may be a few ms ahead of the precise clock: clamp at zero. */
double taskjson_age_s(uint64_t start_ns, uint64_t now_ns)
{
	return now_ns > start_ns ? (double)(now_ns - start_ns) / 1e9 : 0.0;
}

/* Only a thread-bound task has a CPU figure of its own. */
double taskjson_task_cpu_pct(const struct registry_row *row)
{
	const struct proc_thread_tick *th;

	if (!(row->xflags & REGISTRY_X_BOUND) || row->tid <= 0)
		return -1;
	th = proc_latest_thread(row->tid);
	return th ? th->cpu_pct : -1;
}

/* Strings from the application may not be valid UTF-8; jansson refuses those. */
static json_t *taskjson_string(const char *s)
{
	json_t *v;

	if (s == NULL)
		return json_null();
	v = json_string(s);
	return v ? v : json_string("(not UTF-8)");
}

/* The row every task list shows; `task` adds to it. */
json_t *taskjson_row(const struct registry_row *row, uint64_t now_ns)
{
	char loc[512];
	double cpu = taskjson_task_cpu_pct(row);
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer((json_int_t)row->id));
	json_object_set_new(o, "name", taskjson_string(row->name));
	json_object_set_new(o, "kind", json_string(registry_kind_name(row->kind)));
	json_object_set_new(o, "status", json_string(registry_status_name(row->status)));
	json_object_set_new(o, "parent", row->parent_id ? json_integer((json_int_t)row->parent_id)
	                                                : json_null());
	json_object_set_new(o, "memory", json_integer(row->memory));
	json_object_set_new(o, "reductions", json_integer((json_int_t)row->reductions));
	json_object_set_new(o, "queue", json_integer((json_int_t)row->queue));
	json_object_set_new(o, "cpu_pct", cpu >= 0 ? json_real(cpu) : json_null());
	json_object_set_new(o, "location",
	                    taskjson_string(taskjson_location(row->location, loc, sizeof loc)));
	json_object_set_new(o, "initial_call", taskjson_string(row->initial_call));
	json_object_set_new(o, "age_s", json_real(taskjson_age_s(row->start_ns, now_ns)));
	json_object_set_new(o, "restarts", json_integer(row->restarts));
	return o;
}

/* A task that exited, in the same shape, with its reason. */
json_t *taskjson_exit_row(const struct registry_exit *rec, uint64_t now_ns)
{
	char loc[512];
	json_t *o = json_object();

	json_object_set_new(o, "id", json_integer((json_int_t)rec->id));
	json_object_set_new(o, "name", taskjson_string(rec->name));
	json_object_set_new(o, "kind", json_string(registry_kind_name(rec->kind)));
	json_object_set_new(o, "status", json_string("exited"));
	json_object_set_new(o, "parent", rec->parent_id ? json_integer((json_int_t)rec->parent_id)
	                                                : json_null());
	json_object_set_new(o, "memory", json_integer(rec->memory));
	json_object_set_new(o, "reductions", json_integer((json_int_t)rec->reductions));
	json_object_set_new(o, "queue", json_integer((json_int_t)rec->queue));
	json_object_set_new(o, "cpu_pct", json_null());
	json_object_set_new(o, "location",
	                    taskjson_string(taskjson_location(rec->location, loc, sizeof loc)));
	json_object_set_new(o, "initial_call", taskjson_string(rec->initial_call));
	json_object_set_new(o, "age_s", json_real(taskjson_age_s(rec->start_ns, rec->exit_ns)));
	json_object_set_new(o, "restarts", json_integer(rec->restarts));
	json_object_set_new(o, "exit_reason", taskjson_string(rec->reason));
	json_object_set_new(o, "exited_s_ago", json_real(taskjson_age_s(rec->exit_ns, now_ns)));
	return o;
}

/* Kernel thread states mapped onto task statuses (stopped has no task equivalent). */
const char *taskjson_thread_status(char state)
{
	switch (state) {
	case 'R':
		return "running";
	case 'S':
	case 'I':
		return "waiting";
	case 'D':
		return "blocked";
	case 'T':
	case 't':
		return "stopped";
	case 'Z':
	case 'X':
		return "exiting";
	default:
		return "unknown";
	}
}

/* An OS thread as a task row; what is unknown per thread is null, not zero. */
json_t *taskjson_thread_row(const struct proc_thread_tick *th, pid_t pid, double process_uptime_s)
{
	json_t *o = json_object();
	double age = process_uptime_s >= 0 ? process_uptime_s - th->start_s : -1;

	json_object_set_new(o, "id", json_integer(th->tid));
	json_object_set_new(o, "name", taskjson_string(th->name));
	json_object_set_new(o, "kind", json_string("thread"));
	json_object_set_new(o, "status", json_string(taskjson_thread_status(th->state)));
	json_object_set_new(o, "parent", json_integer(pid));
	json_object_set_new(o, "memory", json_null());
	json_object_set_new(o, "reductions", json_integer((json_int_t)(th->cpu_s * 1000.0)));
	json_object_set_new(o, "queue", json_null());
	json_object_set_new(o, "cpu_pct", json_real(th->cpu_pct));
	json_object_set_new(o, "location", json_null());
	json_object_set_new(o, "initial_call", json_null());
	json_object_set_new(o, "age_s", age >= 0 ? json_real(age) : json_null());
	json_object_set_new(o, "restarts", json_integer(0));
	json_object_set_new(o, "processor", json_integer(th->processor));
	return o;
}

/* Thread ages are relative to the process start: /proc/uptime minus the start time. */
double taskjson_process_uptime_s(void)
{
	char buf[1024];
	struct proc_stat st;
	double up;
	ssize_t n;

	if (proc_read_small(AT_FDCWD, "/proc/uptime", buf, sizeof buf) <= 0 ||
	    sscanf(buf, "%lf", &up) != 1)
		return -1;
	n = proc_read_small(AT_FDCWD, "/proc/self/stat", buf, sizeof buf);
	if (n <= 0 || proc_parse_stat(buf, (size_t)n, &st) != 0)
		return -1;
	return up - (double)st.starttime / (double)proc_hertz();
}
