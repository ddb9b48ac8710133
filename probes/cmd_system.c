/*
 * cmd_system.c - the `system` and `threads` commands: the process, its host, the agent itself
 * and the process's threads, with every figure's unit in its key and its origin in a "source"
 * string where it is not obvious.
 *
 * `system` result, grouped as DESIGN.md lists the keys:
 *   process   {pid, name, comm, state, exe, cmdline, argv, uptime_s, threads, fds, rss_bytes,
 *              vsz_bytes, cpu_user_s, cpu_sys_s, cpu_user_pct, cpu_sys_pct, cpu_pct_interval_s,
 *              ctx_switches_per_s, source}
 *   host      {hostname, kernel, cpus, loadavg[3], mem_total_bytes, mem_available_bytes, source}
 *   agent     {version, protocol, clients, max_clients, interval_ms, requests, agent_tid,
 *              agent_cpu_s, agent_cpu_pct, agent_mem_bytes, agent_mem_source, agent_mem {its
 *              parts}, probe_tick_us, probe_tick_max_us (wall), probe_tick_cpu_us}
 *   allocator {name, version}
 *   limits    {fds, fds_hard, threads, threads_source}     (null = unlimited)
 *   tasks     {live, max, spawned, exited, reductions, queue, restarts, memory, declared,
 *              registry_tick_us, source}                   (registry_totals())
 * `threads` result: {total (matching filter), threads (all), rows[{tid, name, state, cpu_user_s,
 *   cpu_sys_s, cpu_pct, processor,
 *   start_s, main?, agent?}], process_cpu_user_s, process_cpu_sys_s, exited_cpu_s,
 *   cpu_pct_interval_s, source}. Rows are read from /proc/self/task/TID/stat with proc.c's
 *   parser by default: libproc2 (source=libproc2) also stats every task directory, reads its
 *   statm and parses with sscanf, 2-3x the cost at 1000 threads, which would leave
 *   `sonde query threads` short of its target (2x faster than `ps -L`). The process figures of
 *   `system` come from libproc2, loaded on the first `system` request.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "sonde.h"
#include "agent.h"
#include "command.h"
#include "jemalloc.h"
#include "proc.h"
#include "scanhelper.h"
#include "proto.h"
#include "registry.h"
#include "sampler.h"

/* A JSON number, or null when the figure is unknown (NAN) -- never a made-up zero. */
static json_t *system_real_or_null(double v)
{
	return isnan(v) ? json_null() : json_real(v);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one: overlong forms,
 * surrogates and code points past U+10FFFF are refused, as jansson refuses them. */
static size_t system_utf8_len(const unsigned char *p)
{
	unsigned cp;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1fu;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0fu;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07u;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * A JSON string for text that comes from the system -- thread names, paths, the command line,
 * the host name -- which need not be UTF-8 (a thread may name itself "\xff"): each byte that
 * does not start a valid sequence becomes '?', so one odd name cannot fail the whole reply.
 */
static json_t *system_text(const char *s)
{
	size_t len, i = 0;
	char *copy;
	json_t *j;

	if (s == NULL)
		return json_null();
	j = json_string(s);
	if (j != NULL)
		return j;
	len = strlen(s);
	copy = malloc(len + 1);
	if (copy == NULL)
		return json_null();
	while (i < len) {
		size_t n = system_utf8_len((const unsigned char *)s + i);

		if (n == 0) {
			copy[i++] = '?';
			continue;
		}
		memcpy(copy + i, s + i, n);
		i += n;
	}
	copy[len] = '\0';
	j = json_string(copy);
	free(copy);
	return j != NULL ? j : json_null();
}

/* A percentage rounded to 0.01: /proc times move in 10 ms ticks, so more digits would be noise
 * (and bytes on the wire at thousands of rows). null when unknown. */
static json_t *system_pct(double v)
{
	return isnan(v) ? json_null() : json_real(round(v * 100.0) / 100.0);
}

/* An rlimit as JSON: null for unlimited. */
static json_t *system_rlim(rlim_t v)
{
	return v == RLIM_INFINITY ? json_null() : json_integer((json_int_t)v);
}

/* User+system CPU of one thread of ours, in seconds, or NAN if it is gone. */
static double system_thread_cpu_s(pid_t tid)
{
	char path[48], line[1024];
	struct proc_stat st;
	ssize_t len;

	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	len = proc_read_small(AT_FDCWD, path, line, sizeof line);
	if (len <= 0 || proc_parse_stat(line, (size_t)len, &st) != 0)
		return NAN;
	return (double)(st.utime + st.stime) / (double)proc_hertz();
}

/* Resident bytes of the calling thread's stack, counted with mincore() from the top down (a
 * thread's stack is mapped whole; the main thread's only as deep as it has grown). */
static int64_t system_stack_resident(void)
{
	static unsigned char vec[256];     /* one byte per page of a 1 MiB chunk */
	const size_t max_pages = 16384;     /* look at the top 64 MiB of stack at most */
	long page = sysconf(_SC_PAGESIZE);
	pthread_attr_t attr;
	void *stack_addr;
	size_t stack_size;
	int64_t bytes = 0;

	if (page <= 0 || pthread_getattr_np(pthread_self(), &attr) != 0)
		return 0;
	if (pthread_attr_getstack(&attr, &stack_addr, &stack_size) == 0) {
		uintptr_t pg = (uintptr_t)page, chunk = 256 * pg;
		uintptr_t top = ((uintptr_t)stack_addr + stack_size) & ~(pg - 1);
		uintptr_t bottom = top - (stack_size < max_pages * pg ? stack_size : max_pages * pg);

		for (uintptr_t end = top; end > bottom; end -= chunk) {
			uintptr_t start = end - chunk < bottom || end - chunk > end ? bottom : end - chunk;

			if (mincore((void *)start, end - start, vec) != 0) {
				/* the hole is in this chunk: count page by page down to it */
				for (uintptr_t p = end - pg; p >= start; p -= pg) {
					if (mincore((void *)p, pg, vec) != 0)
						break;
					bytes += (vec[0] & 1) ? page : 0;
				}
				break;
			}
			for (size_t i = 0; i < (end - start) / pg; i++)
				bytes += (vec[i] & 1) ? page : 0;
			if (start == bottom)
				break;
		}
	}
	pthread_attr_destroy(&attr);
	return bytes;
}

/*
 * What the agent holds, as an honest figure with its parts: the resident pages of the agent
 * thread's stack (commands run on it), plus its heap. With jemalloc the heap is the agent
 * thread's own thread.allocated - thread.deallocated, which covers everything it allocated
 * and still holds (sampler ring, client buffers, tables). glibc has no per-thread figure and
 * its mallinfo2() locks every arena, so there the parts sonde knows are added up: the sampler
 * ring, the client buffers and the proc probe's tables -- a lower bound.
 */
static json_t *system_agent_mem(int64_t *total)
{
	const struct jemalloc_api *je = jemalloc_get();
	int64_t stack = system_stack_resident(), heap = 0;
	json_t *parts = json_object();

	json_object_set_new(parts, "stack_resident_bytes", json_integer(stack));
	if (je != NULL) {
		uint64_t allocated = 0, deallocated = 0;
		size_t len = sizeof allocated;

		if (je->mallctl("thread.allocated", &allocated, &len, NULL, 0) == 0 &&
		    je->mallctl("thread.deallocated", &deallocated, &len, NULL, 0) == 0 &&
		    allocated > deallocated)
			heap = (int64_t)(allocated - deallocated);
		json_object_set_new(parts, "thread_heap_bytes", json_integer(heap));
		json_object_set_new(parts, "source",
		                    json_string("agent thread's resident stack pages (mincore) + its "
		                                "jemalloc thread.allocated - thread.deallocated"));
	} else {
		int64_t ring = (int64_t)sampler_memory_bytes();
		int64_t clients = (int64_t)agent_info()->client_buffer_bytes;
		int64_t tables = (int64_t)proc_memory_bytes();

		heap = ring + clients + tables;
		json_object_set_new(parts, "sampler_ring_bytes", json_integer(ring));
		json_object_set_new(parts, "client_buffer_bytes", json_integer(clients));
		json_object_set_new(parts, "proc_tables_bytes", json_integer(tables));
		json_object_set_new(parts, "source",
		                    json_string("lower bound: agent thread's resident stack pages "
		                                "(mincore) + sampler ring + client buffers + proc "
		                                "tables; glibc malloc cannot attribute heap to a thread "
		                                "cheaply"));
	}
	*total = stack + heap;
	return parts;
}

/* The effective thread ceiling: RLIMIT_NPROC (which counts all of this user's threads, in every
 * process) and the kernel's threads-max, whichever is lower. */
static json_t *system_limits(void)
{
	struct rlimit nofile, nproc;
	char line[64];
	long long threads_max = -1;
	json_t *o = json_object();
	json_t *threads = json_null();

	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		json_object_set_new(o, "fds", system_rlim(nofile.rlim_cur));
		json_object_set_new(o, "fds_hard", system_rlim(nofile.rlim_max));
	}
	if (proc_read_small(AT_FDCWD, "/proc/sys/kernel/threads-max", line, sizeof line) > 0)
		threads_max = atoll(line);
	if (getrlimit(RLIMIT_NPROC, &nproc) == 0 && nproc.rlim_cur != RLIM_INFINITY &&
	    (threads_max < 0 || (long long)nproc.rlim_cur < threads_max))
		threads = json_integer((json_int_t)nproc.rlim_cur);
	else if (threads_max > 0)
		threads = json_integer(threads_max);
	json_object_set_new(o, "threads", threads);
	json_object_set_new(o, "threads_source",
	                    json_string("min(RLIMIT_NPROC soft limit, which counts all of this "
	                                "user's threads, /proc/sys/kernel/threads-max)"));
	json_object_set_new(o, "source", json_string("getrlimit(RLIMIT_NOFILE) for fds"));
	return o;
}

/* The machine around the process: what an operator checks before blaming the service. */
static json_t *system_host(void)
{
	struct utsname u;
	char hostname[256] = "", kernel[sizeof u.sysname + sizeof u.release + 2] = "";
	char buf[4096];
	double load[3] = {NAN, NAN, NAN};
	uint64_t total = 0, avail = 0;
	int have_mem = 0;

	if (gethostname(hostname, sizeof hostname) != 0)
		hostname[0] = '\0';
	hostname[sizeof hostname - 1] = '\0';
	if (uname(&u) == 0)
		snprintf(kernel, sizeof kernel, "%s %s", u.sysname, u.release);
	if (proc_read_small(AT_FDCWD, "/proc/loadavg", buf, sizeof buf) > 0)
		proc_parse_loadavg(buf, load);
	if (proc_read_small(AT_FDCWD, "/proc/meminfo", buf, sizeof buf) > 0 &&
	    proc_parse_meminfo(buf, &total, &avail) == 0)
		have_mem = 1;
	return json_pack("{s:o, s:o, s:i, s:[o,o,o], s:o, s:o, s:s}", "hostname",
	                 system_text(hostname), "kernel", system_text(kernel), "cpus",
	                 (int)sysconf(_SC_NPROCESSORS_ONLN), "loadavg", system_real_or_null(load[0]),
	                 system_real_or_null(load[1]), system_real_or_null(load[2]),
	                 "mem_total_bytes", have_mem ? json_integer((json_int_t)total) : json_null(),
	                 "mem_available_bytes",
	                 have_mem ? json_integer((json_int_t)avail) : json_null(), "source",
	                 "gethostname(2), uname(2), sysconf(_SC_NPROCESSORS_ONLN), /proc/loadavg, "
	                 "/proc/meminfo");
}

/* The observer itself: what it serves and what it costs the host (CPU, memory, tick time). */
static json_t *system_agent(void)
{
	const struct agent_info *ai = agent_info();
	const struct proc_thread_tick *at = proc_latest_thread(ai->agent_tid);
	pid_t helper = scanhelper_tid();
	const struct proc_thread_tick *ht = helper != 0 ? proc_latest_thread(helper) : NULL;
	struct proc_tick_cost cost;
	int64_t mem = 0;
	json_t *parts = system_agent_mem(&mem);
	json_t *o;
	double cpu_s = system_thread_cpu_s(ai->agent_tid);

	/* the scan helper works for the agent: its CPU is the agent's cost */
	if (helper != 0) {
		double h = system_thread_cpu_s(helper);

		if (!isnan(h))
			cpu_s = isnan(cpu_s) ? h : cpu_s + h;
	}
	proc_tick_cost(&cost);
	o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:I, s:i, s:o, s:o, s:I, s:O, s:f, s:f}",
	              "version", SONDE_VERSION, "protocol", SONDE_PROTOCOL, "clients",
	              (int)ai->clients, "max_clients", (int)ai->max_clients, "interval_ms",
	              (int)ai->interval_ms, "requests", (json_int_t)ai->requests, "agent_tid",
	              (int)ai->agent_tid, "agent_cpu_s",
	              system_real_or_null(cpu_s), "agent_cpu_pct",
	              at != NULL ? system_pct(at->cpu_pct + (ht != NULL && !isnan(ht->cpu_pct)
	                                                         ? ht->cpu_pct : 0.0))
	                         : json_null(), "agent_mem_bytes",
	              (json_int_t)mem, "agent_mem", parts, "probe_tick_us",
	              (double)cost.last_ns / 1e3, "probe_tick_max_us", (double)cost.max_ns / 1e3);
	if (o != NULL) {
		json_object_set(o, "agent_mem_source", json_object_get(parts, "source"));
		json_object_set_new(o, "probe_tick_cpu_us", json_real((double)cost.last_cpu_ns / 1e3));
	}
	json_decref(parts);
	return o;
}

/* Which malloc serves the host: jemalloc found at run time, else glibc's. */
static json_t *system_allocator(void)
{
	const struct jemalloc_api *je = jemalloc_get();

	if (je != NULL)
		return json_pack("{s:s, s:s}", "name", "jemalloc", "version", je->version);
	return json_pack("{s:s, s:s}", "name", "glibc", "version", gnu_get_libc_version());
}

/* The process as libproc2 read it, plus the proc probe's shares over its last interval. */
static json_t *system_process(const struct proc_process *p)
{
	const struct agent_info *ai = agent_info();
	const struct proc_tick *tk = proc_latest();
	json_t *argv = json_array();
	char state = p->state > ' ' && p->state < 0x7f ? p->state : '?';
	json_t *o;

	for (size_t i = 0; p->argv != NULL && p->argv[i] != NULL; i++)
		json_array_append_new(argv, system_text(p->argv[i]));
	o = json_pack("{s:i, s:o, s:o, s:s#, s:o, s:o, s:o, s:f, s:i, s:i, s:I, s:I, s:f, s:f}",
	              "pid", (int)p->pid, "name",
	              system_text(ai->name != NULL && ai->name[0] != '\0' ? ai->name : p->comm),
	              "comm", system_text(p->comm), "state", &state, (int)1, "exe",
	              system_text(p->exe), "cmdline", system_text(p->cmdline), "argv", argv,
	              "uptime_s", p->uptime_s, "threads", (int)p->threads, "fds", (int)p->fds,
	              "rss_bytes", (json_int_t)p->rss_bytes, "vsz_bytes", (json_int_t)p->vsz_bytes,
	              "cpu_user_s", p->cpu_user_s, "cpu_sys_s", p->cpu_sys_s);
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "cpu_user_pct", tk != NULL ? system_pct(tk->cpu_user_pct) : json_null());
	json_object_set_new(o, "cpu_sys_pct", tk != NULL ? system_pct(tk->cpu_sys_pct) : json_null());
	json_object_set_new(o, "cpu_pct_interval_s", tk != NULL ? json_real(tk->interval_s)
	                                                        : json_null());
	json_object_set_new(o, "ctx_switches_per_s",
	                    tk != NULL ? json_real(tk->ctx_switches_per_s) : json_null());
	json_object_set_new(o, "source",
	                    json_string("libproc2 (/proc/self/stat, status VmRSS, cmdline, exe); fds: "
	                                "entries of /proc/self/fd; *_pct: the proc probe's last "
	                                "interval; ctx switches: getrusage, all threads"));
	return o;
}

/* The application's tasks in one object (totals as of the registry's last tick), so the System
 * tab needs no second request. */
static json_t *system_tasks(void)
{
	struct registry_totals t;
	uint64_t tick_ns = 0, slots = 0;

	registry_totals(&t);
	registry_tick_cost(&tick_ns, &slots);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:f, s:s}", "live",
	                 (json_int_t)t.live, "max", (json_int_t)REGISTRY_MAX_SLOTS, "spawned",
	                 (json_int_t)t.spawned, "exited", (json_int_t)t.exited, "reductions",
	                 (json_int_t)t.reductions, "queue", (json_int_t)t.queue, "restarts",
	                 (json_int_t)t.restarts, "memory", (json_int_t)t.memory, "declared",
	                 registry_used(), "registry_tick_us", (double)tick_ns / 1e3, "source",
	                 "the task registry's totals at its last tick; memory in bytes as the tasks "
	                 "account it (see `tasks`)");
}

/* system: one screenful about the process, its host, the agent and the limits that matter. */
static int cmd_system_exec(const json_t *req, json_t **result, struct cmd_error *err)
{
	static const char *const keys[] = {NULL};
	struct proc_process p;
	json_t *process;

	if (proto_check_keys(req, keys, err) != 0)
		return -1;
	if (proc_query_process(&p, err) != 0)
		return -1;
	process = system_process(&p);
	proc_process_free(&p);
	if (process == NULL)
		return cmd_fail(err, ERR_INTERNAL, "out of memory building the system reply");
	*result = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "process", process, "host",
	                    system_host(), "agent", system_agent(), "allocator", system_allocator(),
	                    "limits", system_limits(), "tasks", system_tasks());
	if (*result == NULL)
		return cmd_fail(err, ERR_INTERNAL, "out of memory building the system reply");
	return 0;
}

const struct command_entry cmd_system_entry = {
	.name = "system",
	.args = "",
	.summary = "the process (pid, exe, uptime, threads, fds, memory, CPU), its host, the agent "
	           "and the limits that matter",
	.exec = cmd_system_exec,
};

/* ---- threads ----------------------------------------------------------------------------- */

static const char *const threads_sorts[] = {"tid", "cpu", "cpu_pct", "name", NULL};
enum { SORT_TID, SORT_CPU, SORT_CPU_PCT, SORT_NAME };
static const char *const threads_orders[] = {"asc", "desc", NULL};
static const char *const threads_sources[] = {"proc", "libproc2", NULL};

struct threads_row {
	struct proc_thread t;
	double cpu_pct;       /* NAN: no tick yet */
};

static int threads_sort_key, threads_sort_desc;

/* qsort comparator for the requested column; ties fall back to tid so pages are stable. */
static int threads_cmp(const void *a, const void *b)
{
	const struct threads_row *x = a, *y = b;
	int c = 0;

	switch (threads_sort_key) {
	case SORT_CPU: {
		double cx = x->t.cpu_user_s + x->t.cpu_sys_s, cy = y->t.cpu_user_s + y->t.cpu_sys_s;

		c = (cx > cy) - (cx < cy);
		break;
	}
	case SORT_CPU_PCT: {
		double px = isnan(x->cpu_pct) ? -1 : x->cpu_pct, py = isnan(y->cpu_pct) ? -1 : y->cpu_pct;

		c = (px > py) - (px < py);
		break;
	}
	case SORT_NAME:
		c = strcmp(x->t.name, y->t.name);
		break;
	default:
		break;
	}
	if (threads_sort_desc)
		c = -c;
	if (c == 0)
		c = (x->t.tid > y->t.tid) - (x->t.tid < y->t.tid);
	return c;
}

/*
 * A thread's CPU share: the proc probe's figure over its last interval when the thread was in
 * its last thread table (same tid and start time); for a thread born since that table, its CPU
 * since birth over its age; NAN before the first tick, or for an older thread the table missed
 * (never a lifetime average).
 */
static double threads_cpu_pct(const struct proc_thread *t, const struct proc_tick *tk,
                              double since_start_s, double since_tick_s)
{
	const struct proc_thread_tick *r;
	double tick_s = 1.0 / (double)proc_hertz(), age;

	if (tk == NULL)
		return NAN;
	r = proc_latest_thread(t->tid);
	if (r != NULL && fabs(r->start_s - t->start_s) < tick_s)
		return r->cpu_pct;
	age = since_start_s - t->start_s;
	if (age > since_tick_s + 2 * tick_s)
		return NAN;
	if (age < tick_s)
		age = tick_s;
	return (t->cpu_user_s + t->cpu_sys_s) / age * 100.0;
}

/* Seconds since the process started, on the clock /proc's start times use (boot time). */
static double threads_since_start_s(void)
{
	char line[1024];
	struct proc_stat st;
	struct timespec ts;
	ssize_t len = proc_read_small(AT_FDCWD, "/proc/self/stat", line, sizeof line);

	if (len <= 0 || proc_parse_stat(line, (size_t)len, &st) != 0)
		return 0;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 -
	       (double)st.starttime / (double)proc_hertz();
}

/* threads: the process's threads, one row each; sorted and paged here, not in the client. */
static int cmd_threads_exec(const json_t *req, json_t **result, struct cmd_error *err)
{
	static const char *const keys[] = {"sort", "order", "limit", "offset", "source", "filter",
	                                   NULL};
	const struct agent_info *ai = agent_info();
	const struct proc_tick *tk = proc_latest();
	struct proc_thread *threads;
	struct threads_row *rows;
	double puser, psys, sum = 0, since_start, since_tick;
	pid_t self, helper;
	long long limit, offset;
	int sort, order, source;
	const char *filter;
	size_t n, all, kept;
	json_t *list;

	if (proto_check_keys(req, keys, err) != 0 ||
	    proto_arg_enum(req, "sort", threads_sorts, SORT_TID, &sort, err) != 0 ||
	    proto_arg_enum(req, "order", threads_orders, sort == SORT_TID || sort == SORT_NAME ? 0 : 1,
	                   &order, err) != 0 ||
	    proto_arg_int(req, "limit", 0, 0, 1000000, &limit, err) != 0 ||
	    proto_arg_int(req, "offset", 0, 0, 1000000000, &offset, err) != 0 ||
	    proto_arg_enum(req, "source", threads_sources, 0, &source, err) != 0 ||
	    proto_arg_string(req, "filter", NULL, 64, &filter, err) != 0)
		return -1;
	if (proc_query_threads(&threads, &n, &puser, &psys,
	                       source == 1 ? PROC_SOURCE_LIBPROC2 : PROC_SOURCE_PROC, err) != 0)
		return -1;
	rows = calloc(n ? n : 1, sizeof *rows);
	if (rows == NULL) {
		free(threads);
		return cmd_fail(err, ERR_INTERNAL, "out of memory for %zu thread rows", n);
	}
	since_start = threads_since_start_s();
	since_tick = tk != NULL ? (double)(agent_now_ns() - tk->threads_at_ns) / 1e9 : 0;
	kept = 0;
	for (size_t i = 0; i < n; i++) {
		/* every thread counts toward the sum (exited_cpu_s); only matches become rows */
		sum += threads[i].cpu_user_s + threads[i].cpu_sys_s;
		if (filter != NULL && strstr(threads[i].name, filter) == NULL)
			continue;
		rows[kept].t = threads[i];
		rows[kept].cpu_pct = threads_cpu_pct(&threads[i], tk, since_start, since_tick);
		kept++;
	}
	free(threads);
	all = n;
	n = kept;
	threads_sort_key = sort;
	threads_sort_desc = order == 1;
	qsort(rows, n, sizeof *rows, threads_cmp);

	list = json_array();
	self = getpid(); /* a system call each time: not once per row */
	helper = scanhelper_tid();
	for (size_t i = (size_t)offset; i < n && (limit == 0 || i < (size_t)(offset + limit)); i++) {
		const struct proc_thread *t = &rows[i].t;
		char state[2] = {t->state > ' ' && t->state < 0x7f ? t->state : '?', '\0'};
		json_t *row = json_object();

		/* set one by one: json_pack re-parses its format for every row, which shows at
		 * thousands of threads */
		json_object_set_new_nocheck(row, "tid", json_integer(t->tid));
		json_object_set_new_nocheck(row, "name", system_text(t->name));
		json_object_set_new_nocheck(row, "state", json_string(state));
		json_object_set_new_nocheck(row, "cpu_user_s", json_real(t->cpu_user_s));
		json_object_set_new_nocheck(row, "cpu_sys_s", json_real(t->cpu_sys_s));
		json_object_set_new_nocheck(row, "cpu_pct", system_pct(rows[i].cpu_pct));
		json_object_set_new_nocheck(row, "processor", json_integer(t->processor));
		json_object_set_new_nocheck(row, "start_s", json_real(t->start_s));
		if (t->tid == self)
			json_object_set_new_nocheck(row, "main", json_true());
		if (t->tid == ai->agent_tid || (helper != 0 && t->tid == helper))
			json_object_set_new_nocheck(row, "agent", json_true());
		json_array_append_new(list, row);
	}
	free(rows);
	*result = json_pack(
		"{s:I, s:I, s:o, s:f, s:f, s:f, s:o, s:s}", "total", (json_int_t)n, "threads",
		(json_int_t)all, "rows", list,
		"process_cpu_user_s", puser, "process_cpu_sys_s", psys, "exited_cpu_s",
		puser + psys - sum > 0 ? puser + psys - sum : 0.0, "cpu_pct_interval_s",
		tk != NULL ? json_real(tk->threads_interval_s) : json_null(), "source",
		source == 1 ? "libproc2 (procps) /proc/self/task/*/stat; the main thread's row from "
		              "/proc/self/task/PID/stat (libproc2 gives the whole process there); "
		              "cpu_pct: the proc probe's last interval; exited_cpu_s: process CPU minus "
		              "the live threads' (threads that have exited)"
		            : "/proc/self/task/*/stat (each thread's own figures, the main thread's "
		              "included); cpu_pct: the proc probe's last interval; exited_cpu_s: "
		              "process CPU minus the live threads' (threads that have exited)");
	if (*result == NULL)
		return cmd_fail(err, ERR_INTERNAL, "out of memory building the threads reply");
	return 0;
}

const struct command_entry cmd_threads_entry = {
	.name = "threads",
	.args = "[sort=tid|cpu|cpu_pct|name] [order=asc|desc] [limit=N] [offset=N] "
	        "[filter=NAME-SUBSTRING] [source=proc|libproc2]",
	.summary = "the process's threads: state, CPU time and share, processor; the agent's and "
	           "the main thread marked",
	.exec = cmd_threads_exec,
};
