/*
 * test_cmd_tasks.c - the `tasks`, `task` and `tree` commands, called as the agent calls them
 * (exec on a request object), on tasks this test declares: every sort and order against an
 * independently computed answer, paging, filters, window deltas, argument errors, a task's
 * detail (parents, children, exit record), inspect (output, sensitive, a sleeping callback cut
 * off at its budget and the busy answer while it sleeps), and the tree with its bounds;
 * find=ID positions, deep offsets (selected from the other end), the tree's children cap and
 * its index reused between samples.
 * Each test names its tasks with its own prefix and filters on it, so tests do not see each other.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cmdrun.h"
#include "command.h"
#include "inspect.h"
#include "proc.h"
#include "registry.h"
#include "scanhelper.h"
#include "sonde.h"

extern const struct command_entry cmd_tasks_entry, cmd_task_entry, cmd_tree_entry;

static struct cmd_error last_err;
static uint64_t fake_now = 1000000000000ull;

/* Run a command on a JSON request text; the result, or NULL with last_err filled. */
static json_t *run(const struct command_entry *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static json_t *run(const struct command_entry *e, const char *fmt, ...)
{
	va_list ap;
	json_t *res;

	va_start(ap, fmt);
	res = cmdrun_v(e, &last_err, fmt, ap);
	va_end(ap);
	return res;
}

static sonde_task *spawn_full(const char *name, sonde_task *parent, enum sonde_kind kind,
                              sonde_inspect_fn inspect, void *arg, unsigned flags)
{
	struct sonde_task_spec spec = {.name = name, .initial_call = "worker_loop", .parent = parent,
	                               .kind = kind, .strategy = SONDE_REST_FOR_ONE,
	                               .max_restarts = 3, .max_seconds = 5, .flags = flags,
	                               .inspect = inspect, .inspect_arg = arg};
	sonde_task *t = sonde_task_spawn(&spec);

	assert_non_null(t);
	return t;
}

static sonde_task *spawn(const char *name, sonde_task *parent)
{
	return spawn_full(name, parent, SONDE_WORKER, NULL, NULL, 0);
}

static json_int_t row_int(json_t *rows, size_t i, const char *key)
{
	return json_integer_value(json_object_get(json_array_get(rows, i), key));
}

/* ---- tasks ---------------------------------------------------------------------------------- */

#define NS 40
static sonde_task *st[NS];
static int64_t st_mem[NS];
static uint64_t st_red[NS], st_queue[NS];

static int sort_field; /* 0 memory, 1 reductions, 2 queue, 3 id */
static int sort_desc;

static int64_t field_of(int i)
{
	switch (sort_field) {
	case 0:
		return st_mem[i];
	case 1:
		return (int64_t)st_red[i];
	case 2:
		return (int64_t)st_queue[i];
	default:
		return (int64_t)sonde_task_id(st[i]);
	}
}

static int ref_cmp(const void *pa, const void *pb)
{
	int a = *(const int *)pa, b = *(const int *)pb;
	int64_t x = field_of(a), y = field_of(b);
	uint64_t ia = sonde_task_id(st[a]), ib = sonde_task_id(st[b]);

	if (x != y)
		return (sort_desc ? x < y : x > y) ? 1 : -1;
	return ia < ib ? -1 : 1;
}

static void make_sort_tasks(void)
{
	char name[32];

	if (st[0] != NULL)
		return;
	for (int i = 0; i < NS; i++) {
		snprintf(name, sizeof name, "ct-sort-%02d", (i * 13) % NS);
		st[i] = spawn(name, NULL);
		st_mem[i] = (int64_t)((i * 37) % 11) * 1000 - 3000; /* ties and negatives */
		st_red[i] = (uint64_t)((i * 7) % 13);
		st_queue[i] = (uint64_t)(i % 5);
		sonde_task_memory(st[i], st_mem[i]);
		sonde_task_work(st[i], st_red[i]);
		sonde_task_queue(st[i], st_queue[i]);
	}
}

static void test_tasks_sorts_match_reference(void **state)
{
	static const char *const sorts[] = {"memory", "reductions", "queue", "id"};
	int order[NS];

	(void)state;
	make_sort_tasks();
	for (sort_field = 0; sort_field < 4; sort_field++) {
		for (sort_desc = 0; sort_desc < 2; sort_desc++) {
			json_t *res = run(&cmd_tasks_entry,
			                  "{\"sort\":\"%s\",\"order\":\"%s\",\"filter\":\"ct-sort\","
			                  "\"limit\":%d}",
			                  sorts[sort_field], sort_desc ? "desc" : "asc", NS);
			json_t *rows;

			assert_non_null(res);
			rows = json_object_get(res, "rows");
			assert_int_equal(json_integer_value(json_object_get(res, "total")), NS);
			assert_string_equal(json_string_value(json_object_get(res, "source")), "tasks");
			assert_int_equal(json_array_size(rows), NS);
			for (int i = 0; i < NS; i++)
				order[i] = i;
			qsort(order, NS, sizeof order[0], ref_cmp);
			for (int i = 0; i < NS; i++)
				assert_int_equal(row_int(rows, (size_t)i, "id"), sonde_task_id(st[order[i]]));
			json_decref(res);
		}
	}
}

static void test_tasks_name_age_and_paging(void **state)
{
	json_t *all, *page, *rows;
	char prev[64] = "";

	(void)state;
	make_sort_tasks();
	all = run(&cmd_tasks_entry, "{\"sort\":\"name\",\"order\":\"asc\",\"filter\":\"ct-sort\"}");
	assert_non_null(all);
	rows = json_object_get(all, "rows");
	for (size_t i = 0; i < json_array_size(rows); i++) {
		const char *n = json_string_value(json_object_get(json_array_get(rows, i), "name"));

		assert_true(strcmp(prev, n) <= 0);
		snprintf(prev, sizeof prev, "%s", n);
	}
	/* pages of 7 concatenate to the whole list */
	for (int off = 0; off < NS; off += 7) {
		page = run(&cmd_tasks_entry,
		           "{\"sort\":\"name\",\"order\":\"asc\",\"filter\":\"ct-sort\",\"offset\":%d,"
		           "\"limit\":7}", off);
		assert_non_null(page);
		assert_int_equal(json_integer_value(json_object_get(page, "total")), NS);
		for (size_t i = 0; i < json_array_size(json_object_get(page, "rows")); i++)
			assert_int_equal(row_int(json_object_get(page, "rows"), i, "id"),
			                 row_int(rows, (size_t)off + i, "id"));
		json_decref(page);
	}
	json_decref(all);

	/* age: oldest first when descending */
	all = run(&cmd_tasks_entry, "{\"sort\":\"age\",\"filter\":\"ct-sort\",\"limit\":%d}", NS);
	assert_non_null(all);
	rows = json_object_get(all, "rows");
	for (size_t i = 1; i < json_array_size(rows); i++)
		assert_true(json_real_value(json_object_get(json_array_get(rows, i - 1), "age_s")) >=
		            json_real_value(json_object_get(json_array_get(rows, i), "age_s")));
	json_decref(all);
}

/* Names order like strcmp(), across the 8-byte words they are compared by. */
static void test_tasks_name_order_like_strcmp(void **state)
{
	static const char *const names[] = {
		"ct-nm-b", "ct-nm-a", "ct-nm-ab", "ct-nm-abcdefghijklmnoq", "ct-nm-abcdefghijklmnop",
		"ct-nm-abcdefghijklmnop-longer-than-the-rest-of-them", "ct-nm-\xc3\xa9t\xc3\xa9", "ct-nm-",
		"ct-nm-A", "ct-nm-abcdefghijklmnop",
	};
	enum { N = sizeof names / sizeof names[0] };
	sonde_task *t[N];
	json_t *res, *rows;

	(void)state;
	for (int i = 0; i < N; i++)
		t[i] = spawn(names[i], NULL);
	for (int desc = 0; desc < 2; desc++) {
		res = run(&cmd_tasks_entry, "{\"sort\":\"name\",\"order\":\"%s\",\"filter\":\"ct-nm-\"}",
		          desc ? "desc" : "asc");
		rows = json_object_get(res, "rows");
		assert_int_equal(json_array_size(rows), N);
		for (size_t i = 1; i < N; i++) {
			const char *a = json_string_value(json_object_get(json_array_get(rows, i - 1), "name"));
			const char *b = json_string_value(json_object_get(json_array_get(rows, i), "name"));
			int c = strcmp(a, b);

			assert_true(desc ? c >= 0 : c <= 0);
			if (c == 0) /* equal names: by id */
				assert_true(row_int(rows, i - 1, "id") < row_int(rows, i, "id"));
		}
		json_decref(res);
	}
	for (int i = 0; i < N; i++)
		sonde_task_exit(t[i], NULL);
}

static void test_tasks_row_keys_and_filters(void **state)
{
	static const char *const keys[] = {"id", "name", "kind", "status", "parent", "memory",
	                                   "reductions", "queue", "cpu_pct", "location",
	                                   "initial_call", "age_s", "restarts", NULL};
	sonde_task *t = spawn("ct-filter-Target", NULL);
	json_t *res, *row;
	char loc[256];

	int at_line;

	(void)state;
	SONDE_TASK_AT(t); at_line = __LINE__;
	sonde_task_status(t, SONDE_BLOCKED);
	res = run(&cmd_tasks_entry, "{\"filter\":\"CT-FILTER-target\"}");
	assert_non_null(res);
	assert_int_equal(json_integer_value(json_object_get(res, "total")), 1);
	row = json_array_get(json_object_get(res, "rows"), 0);
	for (int i = 0; keys[i] != NULL; i++)
		assert_non_null(json_object_get(row, keys[i]));
	assert_string_equal(json_string_value(json_object_get(row, "status")), "blocked");
	assert_string_equal(json_string_value(json_object_get(row, "kind")), "worker");
	assert_string_equal(json_string_value(json_object_get(row, "initial_call")), "worker_loop");
	snprintf(loc, sizeof loc, "%s:%d %s", __FILE__, at_line, __func__);
	assert_string_equal(json_string_value(json_object_get(row, "location")), loc);
	json_decref(res);
	/* the location's function name matches too */
	res = run(&cmd_tasks_entry, "{\"filter\":\"test_tasks_row_keys_and_filters\"}");
	assert_non_null(res);
	assert_int_equal(json_integer_value(json_object_get(res, "total")), 1);
	json_decref(res);
	/* and "file:line" */
	snprintf(loc, sizeof loc, "{\"filter\":\"test_cmd_tasks.c:%d\"}", at_line);
	res = run(&cmd_tasks_entry, "%s", loc);
	assert_non_null(res);
	assert_int_equal(json_integer_value(json_object_get(res, "total")), 1);
	json_decref(res);
	res = run(&cmd_tasks_entry, "{\"filter\":\"no-such-task-anywhere\"}");
	assert_non_null(res);
	assert_int_equal(json_integer_value(json_object_get(res, "total")), 0);
	assert_int_equal(json_array_size(json_object_get(res, "rows")), 0);
	json_decref(res);
	sonde_task_exit(t, NULL);
}

static void test_tasks_bad_arguments(void **state)
{
	static const char *const bad[] = {
		"{\"sort\":\"bogus\"}", "{\"sort\":3}", "{\"order\":\"up\"}", "{\"mode\":\"delta\"}",
		"{\"limit\":0}", "{\"limit\":10001}", "{\"limit\":\"5\"}", "{\"offset\":-1}",
		"{\"colour\":\"red\"}", NULL,
	};

	(void)state;
	for (int i = 0; bad[i] != NULL; i++) {
		assert_null(run(&cmd_tasks_entry, "%s", bad[i]));
		assert_string_equal(last_err.code, ERR_BAD_ARGUMENT);
		assert_true(strlen(last_err.message) > 10);
	}
	assert_null(run(&cmd_task_entry, "{}"));
	assert_string_equal(last_err.code, ERR_BAD_ARGUMENT);
	assert_null(run(&cmd_task_entry, "{\"task\":\"7\"}"));
	assert_string_equal(last_err.code, ERR_BAD_ARGUMENT);
	assert_null(run(&cmd_tree_entry, "{\"depth\":65}"));
	assert_string_equal(last_err.code, ERR_BAD_ARGUMENT);
}

/* Window mode: deltas exactly what changed between the last two ticks, ranked by them. */
static void test_tasks_window(void **state)
{
	enum { N = 12 };
	sonde_task *t[N];
	char name[32];
	json_t *res, *rows;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "ct-win-%d", i);
		t[i] = spawn(name, NULL);
		sonde_task_memory(t[i], 1000000);
		sonde_task_work(t[i], 500);
	}
	registry_tick(fake_now += 1000000000u);
	registry_tick(fake_now += 1000000000u);
	for (int i = 0; i < N; i++) {
		sonde_task_memory(t[i], (i % 4) * 100 - 150);
		sonde_task_work(t[i], (uint64_t)((i * 5) % N));
	}
	/* not in the window until the next tick */
	res = run(&cmd_tasks_entry, "{\"mode\":\"window\",\"filter\":\"ct-win\"}");
	assert_non_null(res);
	rows = json_object_get(res, "rows");
	for (int i = 0; i < N; i++)
		assert_int_equal(row_int(rows, (size_t)i, "memory_delta"), 0);
	json_decref(res);

	registry_tick(fake_now += 500000000u);
	res = run(&cmd_tasks_entry, "{\"mode\":\"window\",\"sort\":\"memory\",\"filter\":\"ct-win\"}");
	assert_non_null(res);
	assert_true(json_real_value(json_object_get(res, "window_s")) == 0.5);
	rows = json_object_get(res, "rows");
	assert_int_equal(json_array_size(rows), N);
	for (size_t i = 0; i < N; i++) {
		json_int_t id = row_int(rows, i, "id");
		int k = -1;

		for (int j = 0; j < N; j++)
			if ((json_int_t)sonde_task_id(t[j]) == id)
				k = j;
		assert_true(k >= 0);
		assert_int_equal(row_int(rows, i, "memory_delta"), (k % 4) * 100 - 150);
		assert_int_equal(row_int(rows, i, "reductions_delta"), (k * 5) % N);
		assert_int_equal(row_int(rows, i, "memory"), 1000000 + (k % 4) * 100 - 150);
		if (i > 0)
			assert_true(row_int(rows, i - 1, "memory_delta") >= row_int(rows, i, "memory_delta"));
	}
	json_decref(res);
	res = run(&cmd_tasks_entry,
	          "{\"mode\":\"window\",\"sort\":\"reductions\",\"filter\":\"ct-win\",\"limit\":1}");
	assert_non_null(res);
	assert_int_equal(row_int(json_object_get(res, "rows"), 0, "reductions_delta"), N - 1);
	json_decref(res);
	for (int i = 0; i < N; i++)
		sonde_task_exit(t[i], NULL);
}

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A thread-bound task's CPU comes from its thread (the proc probe's ticks): sort=cpu finds it. */
static _Atomic int spin_stop;

static void *spin_bound(void *arg)
{
	struct sonde_task_spec spec = {.name = "ct-cpu-spinner", .flags = SONDE_TASK_BIND_THREAD};
	sonde_task *_Atomic *out = arg;
	sonde_task *self = sonde_task_spawn(&spec);
	volatile uint64_t x = 0;

	atomic_store(out, self);
	while (!atomic_load(&spin_stop))
		x++;
	sonde_task_exit(self, NULL);
	return NULL;
}

static void test_tasks_cpu_of_bound_task(void **state)
{
	static sonde_task *_Atomic bound;
	sonde_task *idle = spawn("ct-cpu-idle", NULL);
	struct timespec ts = {0, 300000000};
	pthread_t th;
	json_t *res, *rows;

	(void)state;
	assert_int_equal(pthread_create(&th, NULL, spin_bound, (void *)&bound), 0);
	while (atomic_load(&bound) == NULL)
		sched_yield();
	assert_int_equal(proc_probe.init(), 0);
	proc_probe.tick(mono_ns());
	nanosleep(&ts, NULL);
	proc_probe.tick(mono_ns());
	res = run(&cmd_tasks_entry, "{\"sort\":\"cpu\",\"filter\":\"ct-cpu\"}");
	assert_non_null(res);
	rows = json_object_get(res, "rows");
	assert_int_equal(json_array_size(rows), 2);
	assert_int_equal(row_int(rows, 0, "id"), sonde_task_id(atomic_load(&bound)));
	assert_true(json_real_value(json_object_get(json_array_get(rows, 0), "cpu_pct")) > 1.0);
	assert_true(json_is_null(json_object_get(json_array_get(rows, 1), "cpu_pct")));
	json_decref(res);
	atomic_store(&spin_stop, 1);
	pthread_join(th, NULL);
	proc_probe.fini();
	sonde_task_exit(idle, NULL);
}

/* ---- task ----------------------------------------------------------------------------------- */

static sonde_task *app, *pool, *workers[150];

static void make_tree(void)
{
	char name[32];

	if (app != NULL)
		return;
	app = spawn_full("ct-tree-app", NULL, SONDE_SUPERVISOR, NULL, NULL, 0);
	pool = spawn_full("ct-tree-pool", app, SONDE_SUPERVISOR, NULL, NULL, 0);
	sonde_task_memory(app, 1);
	sonde_task_memory(pool, 2);
	for (int i = 0; i < 150; i++) {
		snprintf(name, sizeof name, "ct-tree-w%03d", i);
		workers[i] = spawn(name, pool);
		sonde_task_memory(workers[i], 10);
		sonde_task_work(workers[i], 3);
	}
	sonde_task_restarted(pool);
}

static void test_task_detail(void **state)
{
	json_t *res, *parents, *children;
	int at_line;

	(void)state;
	make_tree();
	SONDE_TASK_AT(workers[7]); at_line = __LINE__;
	res = run(&cmd_task_entry, "{\"id\":%" PRIu64 "}", sonde_task_id(workers[7]));
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "name")), "ct-tree-w007");
	assert_int_equal(json_integer_value(json_object_get(res, "parent")), sonde_task_id(pool));
	parents = json_object_get(res, "parents");
	assert_int_equal(json_array_size(parents), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(parents, 0), "name")),
	                    "ct-tree-pool");
	assert_string_equal(json_string_value(json_object_get(json_array_get(parents, 1), "name")),
	                    "ct-tree-app");
	assert_int_equal(json_integer_value(json_object_get(res, "children_count")), 0);
	assert_true(json_is_null(json_object_get(res, "inspect")));
	assert_false(json_is_true(json_object_get(res, "sensitive")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "location_detail"),
	                                                    "line")), at_line);
	json_decref(res);

	res = run(&cmd_task_entry, "{\"id\":%" PRIu64 "}", sonde_task_id(pool));
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "kind")), "supervisor");
	assert_string_equal(json_string_value(json_object_get(res, "strategy")), "rest_for_one");
	assert_int_equal(json_integer_value(json_object_get(res, "max_restarts")), 3);
	assert_int_equal(json_integer_value(json_object_get(res, "restarts")), 1);
	assert_int_equal(json_integer_value(json_object_get(res, "children_count")), 150);
	children = json_object_get(res, "children");
	assert_int_equal(json_array_size(children), 100);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal(row_int(children, i, "id"), sonde_task_id(workers[i]));
	json_decref(res);
}

static void test_task_exited_and_unknown(void **state)
{
	sonde_task *t = spawn("ct-exit-me", NULL);
	uint64_t id = sonde_task_id(t);
	json_t *res;

	(void)state;
	sonde_task_work(t, 77);
	sonde_task_exit(t, "crashed: SIGSEGV in parse_header");
	res = run(&cmd_task_entry, "{\"id\":%" PRIu64 "}", id);
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "status")), "exited");
	assert_string_equal(json_string_value(json_object_get(json_object_get(res, "exit"), "reason")),
	                    "crashed: SIGSEGV in parse_header");
	assert_int_equal(json_integer_value(json_object_get(res, "reductions")), 77);
	json_decref(res);
	assert_null(run(&cmd_task_entry, "{\"id\":999999999999}"));
	assert_string_equal(last_err.code, ERR_NOT_FOUND);
	/* and `tasks` no longer lists it */
	res = run(&cmd_tasks_entry, "{\"filter\":\"ct-exit-me\"}");
	assert_int_equal(json_integer_value(json_object_get(res, "total")), 0);
	json_decref(res);
}

/* ---- inspect -------------------------------------------------------------------------------- */

static _Atomic int inspect_calls;

static void inspect_conn(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	char buf[32];

	(void)task;
	atomic_fetch_add(&inspect_calls, 1);
	snprintf(buf, sizeof buf, "%d", *(int *)arg);
	emit(ctx, "buffer_bytes", buf);
	emit(ctx, "peer", "10.0.0.7:51234");
}

static void inspect_sleepy(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	struct timespec ts = {0, 300000000};

	(void)task;
	(void)arg;
	nanosleep(&ts, NULL);
	emit(ctx, "late", "yes");
}

static void inspect_chatty(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	char key[32];

	(void)task;
	(void)arg;
	emit(ctx, "bad_utf8", "caf\xe9");
	emit(ctx, NULL, NULL);
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof key, "k%03d", i);
		emit(ctx, key, "v");
	}
}

/* Bounded output: at most INSPECT_MAX_PAIRS pairs, the rest counted; bad UTF-8 replaced. */
static void test_inspect_bounds(void **state)
{
	sonde_task *t = spawn_full("ct-insp-chatty", NULL, SONDE_WORKER, inspect_chatty, NULL, 0);
	json_t *res, *insp;

	(void)state;
	res = run(&cmd_task_entry, "{\"task\":%" PRIu64 "}", sonde_task_id(t));
	insp = json_object_get(res, "inspect");
	assert_string_equal(json_string_value(json_object_get(insp, "bad_utf8")), "(not UTF-8)");
	assert_non_null(json_object_get(insp, ""));
	assert_non_null(json_object_get(insp, "k253"));
	assert_null(json_object_get(insp, "k254"));
	assert_int_equal(json_integer_value(json_object_get(insp, "truncated")),
	                 302 - INSPECT_MAX_PAIRS);
	json_decref(res);
	sonde_task_exit(t, NULL);
}

static double elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void test_inspect_output_sensitive_timeout_busy(void **state)
{
	int bytes = 4096;
	sonde_task *conn = spawn_full("ct-insp-conn", NULL, SONDE_WORKER, inspect_conn, &bytes, 0);
	sonde_task *secret = spawn_full("ct-insp-secret", NULL, SONDE_WORKER, inspect_conn, &bytes,
	                                SONDE_TASK_SENSITIVE);
	sonde_task *sleepy = spawn_full("ct-insp-sleepy", NULL, SONDE_WORKER, inspect_sleepy, NULL, 0);
	struct timespec t0;
	json_t *res, *insp;
	double ms;

	(void)state;
	res = run(&cmd_task_entry, "{\"id\":1,\"task\":%" PRIu64 "}", sonde_task_id(conn));
	insp = json_object_get(res, "inspect");
	assert_string_equal(json_string_value(json_object_get(insp, "buffer_bytes")), "4096");
	assert_string_equal(json_string_value(json_object_get(insp, "peer")), "10.0.0.7:51234");
	json_decref(res);

	atomic_store(&inspect_calls, 0);
	res = run(&cmd_task_entry, "{\"id\":1,\"task\":%" PRIu64 "}", sonde_task_id(secret));
	assert_string_equal(json_string_value(json_object_get(json_object_get(res, "inspect"),
	                                                      "withheld")),
	                    "task is marked sensitive");
	assert_true(json_is_true(json_object_get(res, "sensitive")));
	assert_int_equal(atomic_load(&inspect_calls), 0);
	json_decref(res);
	/* and unmarked at run time, it shows */
	sonde_task_set_sensitive(secret, 0);
	res = run(&cmd_task_entry, "{\"id\":1,\"task\":%" PRIu64 "}", sonde_task_id(secret));
	assert_non_null(json_object_get(json_object_get(res, "inspect"), "buffer_bytes"));
	json_decref(res);

	/* the sleeping callback is cut off at 50 ms and reported, not waited for */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	res = run(&cmd_task_entry, "{\"id\":1,\"task\":%" PRIu64 "}", sonde_task_id(sleepy));
	ms = elapsed_ms(&t0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(res, "inspect"),
	                                                      "error")),
	                    "timeout after 50 ms");
	assert_true(ms < 250.0);
	json_decref(res);
	/* while it still sleeps, another inspect answers busy at once */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	res = run(&cmd_task_entry, "{\"id\":1,\"task\":%" PRIu64 "}", sonde_task_id(conn));
	assert_true(elapsed_ms(&t0) < (double)INSPECT_BUDGET_MS); /* not a wait for the budget */
	assert_non_null(strstr(json_string_value(json_object_get(json_object_get(res, "inspect"),
	                                                         "error")),
	                       "busy"));
	json_decref(res);
	assert_true(inspect_busy());
	/* once it returns, inspects work again */
	for (int i = 0; i < 100 && inspect_busy(); i++) {
		struct timespec ts = {0, 10000000};
		nanosleep(&ts, NULL);
	}
	assert_false(inspect_busy());
	res = run(&cmd_task_entry, "{\"id\":1,\"task\":%" PRIu64 "}", sonde_task_id(conn));
	assert_string_equal(json_string_value(json_object_get(json_object_get(res, "inspect"),
	                                                      "buffer_bytes")),
	                    "4096");
	json_decref(res);
	sonde_task_exit(conn, NULL);
	sonde_task_exit(secret, NULL);
	sonde_task_exit(sleepy, NULL);
	inspect_shutdown();
}

/* ---- tree ----------------------------------------------------------------------------------- */

static json_t *find_child(json_t *node, const char *name)
{
	json_t *kids = json_object_get(node, "children");

	for (size_t i = 0; i < json_array_size(kids); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(kids, i), "name")), name) == 0)
			return json_array_get(kids, i);
	return NULL;
}

static void test_tree_totals_and_bounds(void **state)
{
	json_t *res, *a, *p;

	(void)state;
	make_tree();
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 "}", sonde_task_id(app));
	assert_non_null(res);
	a = json_array_get(json_object_get(res, "roots"), 0);
	assert_string_equal(json_string_value(json_object_get(a, "name")), "ct-tree-app");
	assert_string_equal(json_string_value(json_object_get(a, "kind")), "supervisor");
	assert_string_equal(json_string_value(json_object_get(a, "strategy")), "rest_for_one");
	assert_int_equal(json_integer_value(json_object_get(a, "child_count")), 1);
	assert_int_equal(json_integer_value(json_object_get(a, "memory")), 1 + 2 + 150 * 10);
	assert_int_equal(json_integer_value(json_object_get(a, "reductions")), 150 * 3);
	p = find_child(a, "ct-tree-pool");
	assert_non_null(p);
	assert_int_equal(json_integer_value(json_object_get(p, "child_count")), 150);
	assert_int_equal(json_integer_value(json_object_get(p, "restarts")), 1);
	assert_int_equal(json_array_size(json_object_get(p, "children")), 150);
	assert_null(json_object_get(p, "truncated"));
	assert_int_equal(json_integer_value(json_object_get(res, "nodes")), 152);
	json_decref(res);

	/* depth 1: the pool is shown, its workers are not, and it says how many are missing */
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 ",\"depth\":1}", sonde_task_id(app));
	p = find_child(json_array_get(json_object_get(res, "roots"), 0), "ct-tree-pool");
	assert_non_null(p);
	assert_null(json_object_get(p, "children"));
	assert_int_equal(json_integer_value(json_object_get(p, "truncated")), 150);
	json_decref(res);

	/* a node budget of 50: app, pool, 48 workers (in id order) */
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 ",\"limit\":50}", sonde_task_id(app));
	assert_int_equal(json_integer_value(json_object_get(res, "nodes")), 50);
	p = find_child(json_array_get(json_object_get(res, "roots"), 0), "ct-tree-pool");
	assert_int_equal(json_array_size(json_object_get(p, "children")), 48);
	assert_int_equal(json_integer_value(json_object_get(p, "truncated")), 102);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(p, "children"), 0), "name")),
	                    "ct-tree-w000");
	json_decref(res);

	assert_null(run(&cmd_tree_entry, "{\"root\":999999999999}"));
	assert_string_equal(last_err.code, ERR_NOT_FOUND);
}

/* A child whose parent exited is shown at top level, not under the slot's next tenant. */
static void test_tree_orphans_and_recycled_parents(void **state)
{
	sonde_task *parent = spawn("ct-orphan-parent", NULL);
	sonde_task *child = spawn("ct-orphan-child", parent);
	uint32_t pslot = parent->index_;
	sonde_task *tenant = NULL, *extra[300];
	json_t *res, *roots;
	int found = 0, n = 0;

	(void)state;
	sonde_task_exit(parent, NULL);
	/* the freed slot is at the top of this thread's cache: the next spawn takes it */
	tenant = spawn("ct-orphan-tenant", NULL);
	while (tenant->index_ != pslot && n < 300) {
		extra[n++] = tenant;
		tenant = spawn("ct-orphan-tenant", NULL);
	}
	assert_int_equal(tenant->index_, pslot);
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 "}", sonde_task_id(tenant));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(res,
	                                                                   "roots"), 0),
	                                                    "child_count")),
	                 0);
	json_decref(res);
	res = run(&cmd_tree_entry, "{\"depth\":0,\"limit\":100000}");
	roots = json_object_get(res, "roots");
	for (size_t i = 0; i < json_array_size(roots); i++)
		if (json_integer_value(json_object_get(json_array_get(roots, i), "id")) ==
		    (json_int_t)sonde_task_id(child))
			found = 1;
	assert_true(found);
	json_decref(res);
	res = run(&cmd_task_entry, "{\"id\":%" PRIu64 "}", sonde_task_id(child));
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(res,
	                                                                     "parents"), 0),
	                                                      "status")),
	                    "exited");
	json_decref(res);
	sonde_task_exit(child, NULL);
	sonde_task_exit(tenant, NULL);
	while (n > 0)
		sonde_task_exit(extra[--n], NULL);
}

/* ---- find, deep offsets, the tree's children cap and index ----------------------------------- */

/* find=ID gives the position the task has in the full listing, for every sort and order, with
 * ties (memory) and by name; a filtered-out or unknown task gets null. */
static void test_tasks_find_position(void **state)
{
	static const char *const sorts[] = {"memory", "reductions", "queue", "id", "name", "age"};
	json_t *all, *res;

	(void)state;
	make_sort_tasks();
	for (size_t s = 0; s < sizeof sorts / sizeof *sorts; s++)
		for (int asc = 0; asc < 2; asc++) {
			all = run(&cmd_tasks_entry, "{\"sort\":\"%s\",\"order\":\"%s\",\"filter\":"
			          "\"ct-sort\",\"limit\":100}", sorts[s], asc ? "asc" : "desc");
			assert_int_equal(json_array_size(json_object_get(all, "rows")), NS);
			for (size_t k = 0; k < NS; k += 3) {
				json_int_t id = row_int(json_object_get(all, "rows"), k, "id");

				res = run(&cmd_tasks_entry, "{\"sort\":\"%s\",\"order\":\"%s\",\"filter\":"
				          "\"ct-sort\",\"limit\":5,\"find\":%lld}", sorts[s],
				          asc ? "asc" : "desc", (long long)id);
				assert_non_null(res);
				assert_true(json_is_integer(json_object_get(res, "position")));
				if ((size_t)json_integer_value(json_object_get(res, "position")) != k)
					fail_msg("sort=%s asc=%d: task %lld at %zu, find said %lld",
					         sorts[s], asc, (long long)id, k,
					         (long long)json_integer_value(json_object_get(res,
					                                                       "position")));
				assert_int_equal(json_array_size(json_object_get(res, "rows")), 5);
				json_decref(res);
			}
			json_decref(all);
		}
	/* filtered out, unknown: null beside a normal page */
	res = run(&cmd_tasks_entry, "{\"filter\":\"ct-sort-0\",\"find\":%" PRIu64 "}",
	          sonde_task_id(st[1]));
	assert_true(json_is_null(json_object_get(res, "position")));
	assert_true(json_array_size(json_object_get(res, "rows")) > 0);
	json_decref(res);
	res = run(&cmd_tasks_entry, "{\"find\":999999999999}");
	assert_true(json_is_null(json_object_get(res, "position")));
	json_decref(res);
	assert_null(run(&cmd_tasks_entry, "{\"find\":0}"));
	assert_null(run(&cmd_tasks_entry, "{\"find\":\"7\"}"));
	/* without find, no position key (scripts see the same result as before) */
	res = run(&cmd_tasks_entry, "{\"filter\":\"ct-sort\"}");
	assert_null(json_object_get(res, "position"));
	json_decref(res);
}

#define DEEP_N 70000
static sonde_task **deep;

static int deep_cmp(const void *pa, const void *pb)
{
	sonde_task *a = *(sonde_task *const *)pa, *b = *(sonde_task *const *)pb;
	int64_t x = (int64_t)(sonde_task_id(a) % 7), y = (int64_t)(sonde_task_id(b) % 7);

	if (x != y)
		return x < y ? 1 : -1; /* memory descending */
	return sonde_task_id(a) < sonde_task_id(b) ? -1 : 1;
}

/* Offsets past a million are accepted; a page beyond the middle of a large listing is selected
 * from the other end and is exactly the page the forward order has there (ties by id included);
 * past the end: no rows, the total still right. */
static void test_tasks_deep_offset(void **state)
{
	sonde_task **ref;
	json_t *res, *rows;
	static const long long offsets[] = {0, 30000, 65530, 69990, 69995, 40000};

	(void)state;
	deep = calloc(DEEP_N, sizeof *deep);
	ref = calloc(DEEP_N, sizeof *ref);
	assert_non_null(deep);
	assert_non_null(ref);
	for (int i = 0; i < DEEP_N; i++) {
		deep[i] = spawn("ct-deep", NULL);
		sonde_task_memory(deep[i], (int64_t)(sonde_task_id(deep[i]) % 7)); /* many ties */
		ref[i] = deep[i];
	}
	qsort(ref, DEEP_N, sizeof *ref, deep_cmp);
	for (size_t k = 0; k < sizeof offsets / sizeof *offsets; k++) {
		res = run(&cmd_tasks_entry, "{\"filter\":\"ct-deep\",\"offset\":%lld,\"limit\":20}",
		          offsets[k]);
		assert_non_null(res);
		assert_int_equal(json_integer_value(json_object_get(res, "total")), DEEP_N);
		rows = json_object_get(res, "rows");
		assert_int_equal(json_array_size(rows),
		                 offsets[k] + 20 <= DEEP_N ? 20 : DEEP_N - offsets[k]);
		for (size_t r = 0; r < json_array_size(rows); r++)
			if ((uint64_t)row_int(rows, r, "id") != sonde_task_id(ref[offsets[k] + (long long)r]))
				fail_msg("offset %lld row %zu: id %lld, expected %" PRIu64, offsets[k], r,
				         (long long)row_int(rows, r, "id"),
				         sonde_task_id(ref[offsets[k] + (long long)r]));
		json_decref(res);
	}
	/* the same page ascending: the listing reversed */
	res = run(&cmd_tasks_entry, "{\"filter\":\"ct-deep\",\"order\":\"asc\",\"offset\":69998,"
	          "\"limit\":5}");
	rows = json_object_get(res, "rows");
	assert_int_equal(json_array_size(rows), 2);
	json_decref(res);
	res = run(&cmd_tasks_entry, "{\"filter\":\"ct-deep\",\"offset\":5000000}");
	assert_int_equal(json_array_size(json_object_get(res, "rows")), 0);
	assert_int_equal(json_integer_value(json_object_get(res, "total")), DEEP_N);
	json_decref(res);
	/* find on a deep, reversed page: still the forward position */
	res = run(&cmd_tasks_entry, "{\"filter\":\"ct-deep\",\"offset\":69000,\"limit\":10,"
	          "\"find\":%" PRIu64 "}", sonde_task_id(ref[69003]));
	assert_int_equal(json_integer_value(json_object_get(res, "position")), 69003);
	assert_int_equal(row_int(json_object_get(res, "rows"), 3, "id"),
	                 (json_int_t)sonde_task_id(ref[69003]));
	json_decref(res);
	for (int i = 0; i < DEEP_N; i++)
		sonde_task_exit(deep[i], NULL);
	free(deep);
	free(ref);
}

/* At 4 chunks of slots and more, total-mode scans are split with the scan helper thread and the
 * two heaps merged: the pages, positions and totals must be exactly those of one pass (checked
 * against a full sort: ties on memory broken by id, names tied on their first 8 bytes and more,
 * a deep page selected from the other end, find). */
#define PAR_N (4 * 65536 + 10000)
static sonde_task **par;
static char par_names[500][16];

static int64_t par_mem(uint64_t id)
{
	/* ties and negatives; the largest among the highest ids (the helper's half) */
	return (int64_t)((id * 2654435761u) % 1000) - 500 + (int64_t)(id / 4096) * 100;
}

static int par_mem_cmp(const void *pa, const void *pb)
{
	uint64_t a = sonde_task_id(*(sonde_task *const *)pa), b = sonde_task_id(*(sonde_task *const *)pb);
	int64_t x = par_mem(a), y = par_mem(b);

	if (x != y)
		return x < y ? 1 : -1; /* memory descending */
	return a < b ? -1 : 1;
}

static int par_name_cmp(const void *pa, const void *pb)
{
	uint64_t a = sonde_task_id(*(sonde_task *const *)pa), b = sonde_task_id(*(sonde_task *const *)pb);
	int c = strcmp(par_names[a % 500], par_names[b % 500]);

	if (c != 0)
		return c;
	return a < b ? -1 : 1;
}

static void par_check_page(json_t *res, sonde_task **ref, long long offset, size_t want)
{
	json_t *rows = json_object_get(res, "rows");

	assert_int_equal(json_integer_value(json_object_get(res, "total")), PAR_N);
	assert_int_equal(json_array_size(rows), want);
	for (size_t r = 0; r < want; r++)
		if ((uint64_t)row_int(rows, r, "id") != sonde_task_id(ref[offset + (long long)r]))
			fail_msg("offset %lld row %zu: id %lld, expected %" PRIu64, offset, r,
			         (long long)row_int(rows, r, "id"), sonde_task_id(ref[offset + (long long)r]));
}

static void test_tasks_parallel_scan_matches_reference(void **state)
{
	sonde_task **ref;
	unsigned long jobs0 = scanhelper_jobs();
	json_t *res;

	(void)state;
	par = calloc(PAR_N, sizeof *par);
	ref = calloc(PAR_N, sizeof *ref);
	assert_non_null(par);
	assert_non_null(ref);
	/* names share their first 8 bytes ("ct-par-n") and differ after: the tie function decides */
	for (int k = 0; k < 500; k++)
		snprintf(par_names[k], sizeof par_names[k], "ct-par-name%03d", (k * 7) % 500);
	for (int i = 0; i < PAR_N; i++) {
		struct sonde_task_spec spec = {.kind = SONDE_WORKER, .initial_call = "par_loop"};
		uint64_t id;

		spec.name = "ct-par-pending";
		par[i] = sonde_task_spawn(&spec);
		assert_non_null(par[i]);
		id = sonde_task_id(par[i]);
		sonde_task_set_name(par[i], par_names[id % 500]);
		sonde_task_memory(par[i], par_mem(id));
		ref[i] = par[i];
	}
	assert_true(registry_slot_limit() >= 4 * 65536);

	qsort(ref, PAR_N, sizeof *ref, par_mem_cmp);
	res = run(&cmd_tasks_entry, "{\"filter\":\"ct-par-name\",\"limit\":100}");
	par_check_page(res, ref, 0, 100);
	json_decref(res);
	/* a page near the end: counted, then selected from the other end (both passes split) */
	res = run(&cmd_tasks_entry, "{\"filter\":\"ct-par-name\",\"offset\":%d,\"limit\":50}",
	          PAR_N - 60);
	par_check_page(res, ref, PAR_N - 60, 50);
	json_decref(res);
	res = run(&cmd_tasks_entry, "{\"filter\":\"ct-par-name\",\"limit\":10,\"find\":%" PRIu64
	          "}", sonde_task_id(ref[150001]));
	assert_int_equal(json_integer_value(json_object_get(res, "position")), 150001);
	par_check_page(res, ref, 0, 10);
	json_decref(res);

	/* window mode: the same ranking as deltas over the last interval (each task's memory
	 * grows by its par_mem between two ticks) */
	registry_tick(fake_now += 1000000000u);
	for (int i = 0; i < PAR_N; i++)
		sonde_task_memory(par[i], par_mem(sonde_task_id(par[i])));
	registry_tick(fake_now += 1000000000u);
	res = run(&cmd_tasks_entry, "{\"mode\":\"window\",\"filter\":\"ct-par-name\","
	          "\"limit\":100}");
	par_check_page(res, ref, 0, 100);
	json_decref(res);
	res = run(&cmd_tasks_entry, "{\"mode\":\"window\",\"filter\":\"ct-par-name\","
	          "\"offset\":%d,\"limit\":50,\"find\":%" PRIu64 "}", PAR_N - 60,
	          sonde_task_id(ref[99999]));
	par_check_page(res, ref, PAR_N - 60, 50);
	assert_int_equal(json_integer_value(json_object_get(res, "position")), 99999);
	json_decref(res);

	qsort(ref, PAR_N, sizeof *ref, par_name_cmp);
	res = run(&cmd_tasks_entry, "{\"sort\":\"name\",\"order\":\"asc\",\"filter\":"
	          "\"ct-par-name\",\"offset\":1000,\"limit\":100}");
	par_check_page(res, ref, 1000, 100);
	json_decref(res);

	/* every one of those scans went half to the helper */
	if (scanhelper_jobs() - jobs0 < 8)
		fail_msg("the scan helper ran %lu jobs, expected at least 8", scanhelper_jobs() - jobs0);
	for (int i = 0; i < PAR_N; i++)
		sonde_task_exit(par[i], NULL);
	free(par);
	free(ref);
}

/* children=N caps every node's children list (not the budget's top level); a capped node keeps
 * its child_count and says how many were left out; the first children are in id order. */
static void test_tree_children_cap(void **state)
{
	json_t *res, *a, *p;

	(void)state;
	make_tree();
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 ",\"children\":40}", sonde_task_id(app));
	assert_non_null(res);
	assert_int_equal(json_integer_value(json_object_get(res, "children")), 40);
	a = json_array_get(json_object_get(res, "roots"), 0);
	p = find_child(a, "ct-tree-pool");
	assert_non_null(p);
	assert_int_equal(json_integer_value(json_object_get(p, "child_count")), 150);
	assert_int_equal(json_array_size(json_object_get(p, "children")), 40);
	assert_int_equal(json_integer_value(json_object_get(p, "truncated")), 110);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(json_object_get(p, "children"), 39), "name")),
	                    "ct-tree-w039");
	/* totals stay whole whatever is shown */
	assert_int_equal(json_integer_value(json_object_get(p, "memory")), 2 + 150 * 10);
	assert_int_equal(json_integer_value(json_object_get(res, "nodes")), 42);
	json_decref(res);
	/* a budget smaller than the cap still wins */
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 ",\"children\":100,\"limit\":30}",
	          sonde_task_id(app));
	p = find_child(json_array_get(json_object_get(res, "roots"), 0), "ct-tree-pool");
	assert_int_equal(json_array_size(json_object_get(p, "children")), 28);
	assert_int_equal(json_integer_value(json_object_get(p, "truncated")), 122);
	json_decref(res);
	assert_null(run(&cmd_tree_entry, "{\"children\":0}"));
	assert_null(run(&cmd_tree_entry, "{\"children\":10001}"));
	assert_null(run(&cmd_tree_entry, "{\"children\":\"5\"}"));
}

/* A wide node (over 4096 children: its pick is remembered) gives the same first children in id
 * order for any cap, asked in any sequence, and a rebuilt index forgets the pick. */
static void test_tree_wide_node(void **state)
{
	enum { WIDE = 5000 };
	static const int caps[] = {10, 50, 20, 50, 3000, 7};
	sonde_task *sup = spawn_full("ct-wide-sup", NULL, SONDE_SUPERVISOR, NULL, NULL, 0);
	sonde_task **kids = calloc(WIDE, sizeof *kids);
	json_t *res, *node, *arr;

	(void)state;
	assert_non_null(kids);
	for (int i = 0; i < WIDE; i++)
		kids[i] = spawn("ct-wide-kid", sup);
	for (size_t c = 0; c < sizeof caps / sizeof *caps; c++) {
		res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 ",\"children\":%d,\"limit\":100000}",
		          sonde_task_id(sup), caps[c]);
		node = json_array_get(json_object_get(res, "roots"), 0);
		arr = json_object_get(node, "children");
		assert_int_equal(json_array_size(arr), caps[c]);
		assert_int_equal(json_integer_value(json_object_get(node, "truncated")), WIDE - caps[c]);
		/* ids are handed out in order on one thread: the first children are the first spawned */
		for (int k = 0; k < caps[c]; k++)
			assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, (size_t)k),
			                                                    "id")),
			                 (json_int_t)sonde_task_id(kids[k]));
		json_decref(res);
	}
	/* the first child exits: the rebuilt index (and pick) no longer has it. A build that cost
	 * over 2 ms (tens of thousands of slots under a sanitizer) is redone only once it is 20x
	 * its cost old: ask again until then, for at most 5 s. */
	sonde_task_exit(kids[0], NULL);
	for (int tries = 0;; tries++) {
		res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 ",\"children\":10}",
		          sonde_task_id(sup));
		node = json_array_get(json_object_get(res, "roots"), 0);
		if (!json_is_true(json_object_get(res, "index_reused")) || tries == 100)
			break;
		json_decref(res);
		usleep(50 * 1000);
	}
	assert_int_equal(json_integer_value(json_object_get(node, "child_count")), WIDE - 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(node,
	                 "children"), 0), "id")), (json_int_t)sonde_task_id(kids[1]));
	json_decref(res);
	for (int i = 1; i < WIDE; i++)
		sonde_task_exit(kids[i], NULL);
	sonde_task_exit(sup, NULL);
	free(kids);
}

/* Wait until the tree index may be rebuilt: 20x its last build's cost (microseconds here). */
static double tree_build_ms = 1;

static void tree_index_settle(void)
{
	double ms = tree_build_ms;
	struct timespec ts = {0, (long)(ms * 20 * 1e6) + 2000000};

	nanosleep(&ts, NULL);
}

/* The index is reused until a tick, a spawn or an exit (and then rebuilt only when older than
 * 20x its cost): totals as of the last build, the structure current once rebuilt. */
static void test_tree_index_reuse(void **state)
{
	json_t *res;
	sonde_task *extra;

	(void)state;
	make_tree();
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 "}", sonde_task_id(pool));
	tree_build_ms = json_real_value(json_object_get(res, "index_build_ms"));
	json_decref(res);
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 "}", sonde_task_id(pool));
	assert_true(json_is_true(json_object_get(res, "index_reused")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(res,
	                 "roots"), 0), "memory")), 2 + 150 * 10);
	tree_build_ms = json_real_value(json_object_get(res, "index_build_ms"));
	json_decref(res);
	/* work without a tick: the totals are those of the build (at most one interval old) */
	sonde_task_memory(workers[0], 5);
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 "}", sonde_task_id(pool));
	assert_true(json_is_true(json_object_get(res, "index_reused")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(res,
	                 "roots"), 0), "memory")), 2 + 150 * 10);
	tree_build_ms = json_real_value(json_object_get(res, "index_build_ms"));
	json_decref(res);
	/* a tick: rebuilt, exact again */
	registry_tick(fake_now += 1000000000u);
	tree_index_settle();
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 "}", sonde_task_id(pool));
	assert_true(json_is_false(json_object_get(res, "index_reused")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(res,
	                 "roots"), 0), "memory")), 2 + 150 * 10 + 5);
	tree_build_ms = json_real_value(json_object_get(res, "index_build_ms"));
	json_decref(res);
	/* a spawn: rebuilt, the new child is there */
	extra = spawn("ct-tree-extra", pool);
	tree_index_settle();
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 "}", sonde_task_id(pool));
	assert_true(json_is_false(json_object_get(res, "index_reused")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(res,
	                 "roots"), 0), "child_count")), 151);
	tree_build_ms = json_real_value(json_object_get(res, "index_build_ms"));
	json_decref(res);
	/* an exit: rebuilt, the child is gone */
	sonde_task_exit(extra, NULL);
	tree_index_settle();
	res = run(&cmd_tree_entry, "{\"root\":%" PRIu64 "}", sonde_task_id(pool));
	assert_true(json_is_false(json_object_get(res, "index_reused")));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(res,
	                 "roots"), 0), "child_count")), 150);
	tree_build_ms = json_real_value(json_object_get(res, "index_build_ms"));
	json_decref(res);
	sonde_task_memory(workers[0], -5);
}

/* Identical requests share one answer for SONDE_TASKS_CACHE_MS; a tick or other arguments
 * make a fresh one. */
static void test_tasks_shared_answer(void **state)
{
	sonde_task *t = spawn("ct-cache-one", NULL);
	json_t *a, *b;

	(void)state;
	setenv("SONDE_TASKS_CACHE_MS", "5000", 1);
	sonde_task_memory(t, 100);
	a = run(&cmd_tasks_entry, "{\"filter\":\"ct-cache\"}");
	assert_true(json_real_value(json_object_get(a, "cached_ms")) == 0.0);
	assert_int_equal(row_int(json_object_get(a, "rows"), 0, "memory"), 100);
	sonde_task_memory(t, 50);
	b = run(&cmd_tasks_entry, "{\"filter\":\"ct-cache\"}");
	assert_true(json_real_value(json_object_get(b, "cached_ms")) > 0.0);
	assert_int_equal(row_int(json_object_get(b, "rows"), 0, "memory"), 100);
	json_decref(b);
	b = run(&cmd_tasks_entry, "{\"filter\":\"ct-cache\",\"limit\":7}");
	assert_int_equal(row_int(json_object_get(b, "rows"), 0, "memory"), 150);
	json_decref(b);
	registry_tick(fake_now += 1000000000u);
	b = run(&cmd_tasks_entry, "{\"filter\":\"ct-cache\"}");
	assert_true(json_real_value(json_object_get(b, "cached_ms")) == 0.0);
	assert_int_equal(row_int(json_object_get(b, "rows"), 0, "memory"), 150);
	json_decref(b);
	/* the first answer was not changed by being shared */
	assert_null(json_object_get(a, "nothing"));
	assert_true(json_real_value(json_object_get(a, "cached_ms")) == 0.0);
	json_decref(a);
	setenv("SONDE_TASKS_CACHE_MS", "0", 1);
	sonde_task_exit(t, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tasks_shared_answer),
		cmocka_unit_test(test_tasks_sorts_match_reference),
		cmocka_unit_test(test_tasks_name_age_and_paging),
		cmocka_unit_test(test_tasks_name_order_like_strcmp),
		cmocka_unit_test(test_tasks_row_keys_and_filters),
		cmocka_unit_test(test_tasks_bad_arguments),
		cmocka_unit_test(test_tasks_window),
		cmocka_unit_test(test_tasks_cpu_of_bound_task),
		cmocka_unit_test(test_task_detail),
		cmocka_unit_test(test_task_exited_and_unknown),
		cmocka_unit_test(test_inspect_bounds),
		cmocka_unit_test(test_inspect_output_sensitive_timeout_busy),
		cmocka_unit_test(test_tree_totals_and_bounds),
		cmocka_unit_test(test_tree_orphans_and_recycled_parents),
		cmocka_unit_test(test_tasks_find_position),
		cmocka_unit_test(test_tasks_deep_offset),
		cmocka_unit_test(test_tree_children_cap),
		cmocka_unit_test(test_tree_wide_node),
		cmocka_unit_test(test_tree_index_reuse),
		/* last: its 272k slots make every later scan (and tree index build) that much longer */
		cmocka_unit_test(test_tasks_parallel_scan_matches_reference),
	};

	/* every other test wants a fresh answer to each request */
	setenv("SONDE_TASKS_CACHE_MS", "0", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
