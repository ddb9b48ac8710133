/*
 * test_registry.c - the task registry without the agent: spawn/exit and ids, handles that stay
 * valid, the bounded exit ring, exact window deltas, thread binding, slot recycling across
 * threads, and the registry under concurrent spawn/exit/work from several threads while another
 * thread plays the agent (ticks, reads, `tasks` queries) and checks it never sees a torn or
 * recycled task. `make check-tsan` runs this program under ThreadSanitizer.
 */
#include "config.h"

#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "command.h"
#include "registry.h"
#include "sonde.h"

extern const struct command_entry cmd_tasks_entry;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static sonde_task *spawn(const char *name, sonde_task *parent)
{
	struct sonde_task_spec spec = {.name = name, .initial_call = "test_fn", .parent = parent};

	return sonde_task_spawn(&spec);
}

static void test_spawn_exit_basics(void **state)
{
	sonde_task *a, *b;
	struct registry_row row;
	struct registry_exit rec;
	uint32_t gen;
	long idx;

	(void)state;
	a = spawn("basics-a", NULL);
	b = spawn("basics-b-with-a-name-much-longer-than-forty-seven-bytes-kept", a);
	assert_non_null(a);
	assert_non_null(b);
	assert_true(sonde_task_id(b) > sonde_task_id(a));
	assert_true(((uintptr_t)a & 63) == 0);

	sonde_task_work(b, 5);
	sonde_task_work_shared(b, 2);
	sonde_task_memory(b, 4096);
	sonde_task_memory(b, -1000);
	sonde_task_queue(b, 9);
	sonde_task_status(b, SONDE_WAITING);
	SONDE_TASK_AT(b);
	sonde_task_restarted(b);
	sonde_task_restarted(b);

	idx = registry_find(sonde_task_id(b), &gen);
	assert_true(idx >= 0);
	assert_int_equal(registry_read((uint32_t)idx, gen, &row), 0);
	assert_int_equal(row.id, sonde_task_id(b));
	assert_int_equal(row.parent_id, sonde_task_id(a));
	assert_int_equal(strlen(row.name), REGISTRY_NAME_MAX - 1);
	assert_int_equal(strncmp(row.name, "basics-b-with-a-name", 20), 0);
	assert_string_equal(row.initial_call, "test_fn");
	assert_int_equal(row.reductions, 7);
	assert_int_equal(row.memory, 3096);
	assert_int_equal(row.queue, 9);
	assert_int_equal(row.status, SONDE_WAITING);
	assert_int_equal(row.restarts, 2);
	assert_non_null(row.location);
	assert_string_equal(row.location->func, "test_spawn_exit_basics");

	sonde_task_set_name(b, "renamed");
	assert_int_equal(registry_read((uint32_t)idx, gen, &row), 0);
	assert_string_equal(row.name, "renamed");

	sonde_task_exit(b, "shutdown: peer closed the connection");
	assert_int_equal(registry_read((uint32_t)idx, gen, &row), -1);
	assert_int_equal(registry_exit_find(row.id, &rec), 0);
	assert_string_equal(rec.reason, "shutdown: peer closed the connection");
	assert_int_equal(rec.reductions, 7);
	assert_int_equal(rec.memory, 3096);
	assert_int_equal(rec.restarts, 2);
	assert_string_equal(rec.name, "renamed");
	/* a second exit of the same handle is ignored, not a double free of the slot */
	sonde_task_exit(b, "again");
	sonde_task_exit(a, NULL);
	assert_int_equal(registry_exit_find(sonde_task_id(a), &rec), 0);
	assert_string_equal(rec.reason, "normal");
}

/* Handles stay valid while many more tasks come and go (chunks never move). */
static void test_handles_stay_valid(void **state)
{
	enum { N = 150000 };
	sonde_task **t = malloc(N * sizeof *t);
	uint32_t before, after;

	(void)state;
	assert_non_null(t);
	for (size_t i = 0; i < N; i++) {
		t[i] = spawn("many", NULL);
		assert_non_null(t[i]);
		sonde_task_work(t[i], i);
	}
	for (size_t i = 0; i < N; i++)
		assert_int_equal(atomic_load(&t[i]->reductions_), i);
	for (size_t i = 0; i < N; i++)
		sonde_task_exit(t[i], NULL);
	/* the freed slots are reused: another round does not grow the slot range */
	before = registry_slot_limit();
	for (size_t i = 0; i < N; i++)
		t[i] = spawn("again", NULL);
	after = registry_slot_limit();
	for (size_t i = 0; i < N; i++)
		sonde_task_exit(t[i], NULL);
	assert_true(after - before <= 256);
	free(t);
}

static void test_exit_ring_bounded(void **state)
{
	enum { CAP = 100, EXITS = 1000 };
	struct registry_exit recs[CAP + 10], rec;
	uint64_t ids[EXITS];
	char reason[200];
	size_t n;

	(void)state;
	assert_int_equal(registry_set_exit_ring(CAP), 0);
	assert_int_equal(registry_exit_ring_capacity(), CAP);
	for (size_t i = 0; i < EXITS; i++) {
		sonde_task *t = spawn("ring", NULL);

		ids[i] = sonde_task_id(t);
		memset(reason, 'r', sizeof reason - 1);
		reason[sizeof reason - 1] = '\0';
		sonde_task_exit(t, i == EXITS - 1 ? reason : "done");
	}
	n = registry_exits(recs, CAP + 10);
	assert_int_equal(n, CAP);
	/* newest first, exactly the last CAP exits */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(recs[k].id, ids[EXITS - 1 - k]);
	assert_int_equal(strlen(recs[0].reason), REGISTRY_REASON_MAX - 1);
	assert_int_equal(registry_exit_find(ids[0], &rec), -1);
	assert_int_equal(registry_exit_find(ids[EXITS - CAP], &rec), 0);
	assert_int_equal(registry_exit_find(ids[EXITS - CAP - 1], &rec), -1);
	/* resizing keeps the newest records */
	assert_int_equal(registry_set_exit_ring(10), 0);
	assert_int_equal(registry_exits(recs, CAP), 10);
	assert_int_equal(recs[0].id, ids[EXITS - 1]);
	assert_int_equal(recs[9].id, ids[EXITS - 10]);
	assert_int_equal(registry_set_exit_ring(0), -1);
	assert_int_equal(registry_set_exit_ring(REGISTRY_EXIT_RING_DEFAULT), 0);
}

/* Window deltas are exactly what happened between the last two ticks. */
static void test_window_deltas_exact(void **state)
{
	enum { N = 64 };
	sonde_task *t[N], *born, *gone;
	struct registry_window w;
	uint64_t t0 = now_ns();

	(void)state;
	for (int i = 0; i < N; i++) {
		t[i] = spawn("win", NULL);
		sonde_task_work(t[i], 1000);
		sonde_task_memory(t[i], 1 << 20);
	}
	gone = spawn("win-gone", NULL);
	registry_tick(t0);
	for (int i = 0; i < N; i++) {
		sonde_task_work(t[i], (uint64_t)i * 3);
		sonde_task_memory(t[i], -(int64_t)i * 100 + 7);
	}
	born = spawn("win-born", NULL);
	sonde_task_work(born, 11);
	sonde_task_memory(born, 13);
	sonde_task_exit(gone, NULL);
	registry_tick(t0 + 750000000u);
	registry_window(&w);
	assert_true(w.ticks >= 2);
	assert_int_equal(w.window_ns, 750000000u);
	for (int i = 0; i < N; i++) {
		uint32_t idx = t[i]->index_;
		struct registry_chunk *ch = registry_chunk(idx >> REGISTRY_CHUNK_SHIFT);
		uint32_t k = idx & (REGISTRY_CHUNK_SLOTS - 1);

		assert_int_equal(ch->snap_gen[k], atomic_load(&t[i]->generation_));
		assert_int_equal(ch->win_red[k], (uint64_t)i * 3);
		assert_int_equal(ch->win_mem[k], -(int64_t)i * 100 + 7);
	}
	{
		uint32_t idx = born->index_;
		struct registry_chunk *ch = registry_chunk(idx >> REGISTRY_CHUNK_SHIFT);
		uint32_t k = idx & (REGISTRY_CHUNK_SLOTS - 1);

		assert_int_equal(ch->win_red[k], 11);
		assert_int_equal(ch->win_mem[k], 13);
		idx = gone->index_;
		ch = registry_chunk(idx >> REGISTRY_CHUNK_SHIFT);
		k = idx & (REGISTRY_CHUNK_SLOTS - 1);
		assert_int_equal(ch->snap_gen[k] & 1, 0);
	}
	/* an idle interval: every delta returns to zero */
	registry_tick(t0 + 1750000000u);
	for (int i = 0; i < N; i++) {
		uint32_t idx = t[i]->index_;
		struct registry_chunk *ch = registry_chunk(idx >> REGISTRY_CHUNK_SHIFT);
		uint32_t k = idx & (REGISTRY_CHUNK_SLOTS - 1);

		assert_int_equal(ch->win_red[k], 0);
		assert_int_equal(ch->win_mem[k], 0);
		sonde_task_exit(t[i], NULL);
	}
	sonde_task_exit(born, NULL);
}

static void test_bind_thread_and_self(void **state)
{
	struct sonde_task_spec spec = {.name = "bound", .flags = SONDE_TASK_BIND_THREAD};
	sonde_task *t, *u;
	struct registry_row row;

	(void)state;
	assert_null(sonde_task_self());
	t = sonde_task_spawn(&spec);
	assert_ptr_equal(sonde_task_self(), t);
	assert_int_equal(registry_read(t->index_, 0, &row), 0);
	assert_int_equal(row.tid, (pid_t)syscall(SYS_gettid));
	assert_true(row.xflags & REGISTRY_X_BOUND);
	u = spawn("unbound", NULL);
	assert_ptr_equal(sonde_task_self(), t);
	sonde_task_set_self(u);
	assert_ptr_equal(sonde_task_self(), u);
	sonde_task_set_self(t);
	sonde_task_exit(t, NULL);
	assert_null(sonde_task_self());
	sonde_task_exit(u, NULL);
	/* without jemalloc as the allocator there is no arena to give */
	if (getenv("LD_PRELOAD") == NULL)
		assert_int_equal(sonde_task_arena(NULL), -1);
}

/* A thread that ends returns its cached free slots: short-lived threads do not leak slots. */
static void *short_thread(void *arg)
{
	sonde_task *t[10];

	(void)arg;
	for (int i = 0; i < 10; i++)
		t[i] = spawn("short", NULL);
	for (int i = 0; i < 10; i++)
		sonde_task_exit(t[i], NULL);
	return NULL;
}

static void test_thread_exit_returns_slots(void **state)
{
	uint32_t before = registry_slot_limit();
	pthread_t th;

	(void)state;
	for (int i = 0; i < 50; i++) {
		assert_int_equal(pthread_create(&th, NULL, short_thread, NULL), 0);
		pthread_join(th, NULL);
	}
	assert_true(registry_slot_limit() - before <= 128);
}

/* fork() while other threads spawn and exit: the child can still spawn, exit and count (no lock
 * left held by a thread that does not exist in the child). */
static _Atomic int churn_stop;

static void *churn(void *arg)
{
	(void)arg;
	sonde_task *t[600];

	/* batches larger than a thread's cache: the shared depot (and its lock) in every round */
	while (!atomic_load(&churn_stop)) {
		for (int i = 0; i < 600; i++)
			t[i] = spawn("churn", NULL);
		for (int i = 0; i < 600; i++)
			sonde_task_exit(t[i], NULL);
	}
	return NULL;
}

static void test_fork_while_spawning(void **state)
{
	pthread_t th[2];

	(void)state;
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, churn, NULL), 0);
	for (int round = 0; round < 200; round++) {
		int status = -1;
		pid_t pid = fork();

		if (pid == 0) {
			struct registry_totals tot;

			alarm(5); /* a deadlock ends the child with SIGALRM, not the test run */
			sonde_task *t[1000];

			for (int i = 0; i < 1000; i++)
				if ((t[i] = spawn("child", NULL)) == NULL)
					_exit(2);
			for (int i = 0; i < 1000; i++)
				sonde_task_exit(t[i], NULL);
			registry_tick(now_ns());
			registry_totals(&tot);
			_exit(tot.exited >= 1000 ? 0 : 3);
		}
		assert_true(pid > 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	atomic_store(&churn_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
}

/* ---- concurrency ---------------------------------------------------------------------------- */

#define WRITERS 4
#define ROUNDS 300      /* at least; then until the reader has done its queries */
#define QUERIES 200

static _Atomic int writers_done, writers_stop;
static _Atomic uint64_t spawned_total;

/*
 * Each task is named "cw-T-K"; its memory is set to K right after spawn and its reductions grow
 * by K per step, so a reader can check that every field it copied belongs to the same task.
 */
static _Atomic int writer_failures;

static void *writer(void *arg)
{
	unsigned tno = (unsigned)(uintptr_t)arg;
	sonde_task *live[32] = {0};
	uint64_t kof[32] = {0};
	char name[32];
	uint64_t k = 0;

	for (int r = 0; r < ROUNDS || !atomic_load(&writers_stop); r++) {
		for (int j = 0; j < 32; j++) {
			if (live[j] != NULL && (r + j) % 3 == 0) {
				sonde_task_exit(live[j], "rotate");
				live[j] = NULL;
			}
			if (live[j] == NULL) {
				k++;
				snprintf(name, sizeof name, "cw-%u-%" PRIu64, tno, k);
				live[j] = spawn(name, j > 0 ? live[0] : NULL);
				if (live[j] == NULL) { /* cmocka asserts are for the main thread only */
					atomic_fetch_add(&writer_failures, 1);
					break;
				}
				kof[j] = k;
				sonde_task_memory(live[j], (int64_t)k);
				atomic_fetch_add(&spawned_total, 1);
			}
			/* reductions stay a multiple of K: a copy mixing two tasks shows */
			sonde_task_work(live[j], kof[j]);
			sonde_task_queue(live[j], (uint64_t)r);
		}
	}
	for (int j = 31; j >= 0; j--)
		sonde_task_exit(live[j], "end");
	atomic_fetch_add(&writers_done, 1);
	return NULL;
}

/* A consistent copy: the memory is 0 (not yet set) or K from the name; "cw-" names only. */
static void check_row(const struct registry_row *row)
{
	unsigned tno;
	uint64_t k;

	if (strncmp(row->name, "cw-", 3) != 0)
		return;
	assert_int_equal(sscanf(row->name, "cw-%u-%" SCNu64, &tno, &k), 2);
	assert_true(tno < WRITERS);
	if (!(row->memory == 0 || row->memory == (int64_t)k)) {
		fprintf(stderr, "torn read: %s has memory %" PRId64 "\n", row->name, row->memory);
		fail();
	}
	if (row->reductions % k != 0) {
		fprintf(stderr, "torn read: %s has reductions %" PRIu64 "\n", row->name,
		        row->reductions);
		fail();
	}
}

static void test_concurrent_spawn_exit_work_query(void **state)
{
	pthread_t th[WRITERS];
	struct cmd_error err;
	uint64_t reads = 0, queries = 0, exits_checked = 0;
	uint64_t t = now_ns();

	(void)state;
	for (unsigned i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer, (void *)(uintptr_t)i), 0);
	while (queries < QUERIES) {
		uint32_t limit = registry_slot_limit();
		json_t *req, *res = NULL;
		size_t nrows;

		registry_tick(t += 100000000u);
		/* many passes: a slot changing hands in the middle of a copy is a narrow window */
		for (int pass = 0; pass < 10; pass++)
			for (uint32_t s = 0; s < limit; s++) {
				struct registry_row row;

				if (registry_read(s, 0, &row) == 0) {
					check_row(&row);
					reads++;
				}
			}
		req = json_pack("{s:s,s:s,s:i}", "cmd", "tasks", "filter", "cw-", "limit", 20);
		assert_int_equal(cmd_tasks_entry.exec(req, &res, &err), 0);
		nrows = json_array_size(json_object_get(res, "rows"));
		for (size_t i = 0; i < nrows; i++) {
			json_t *row = json_array_get(json_object_get(res, "rows"), i);
			const char *name = json_string_value(json_object_get(row, "name"));
			const char *status = json_string_value(json_object_get(row, "status"));
			json_int_t mem = json_integer_value(json_object_get(row, "memory"));
			unsigned tno;
			uint64_t k;

			if (name == NULL) /* exited and its record already overwritten */
				continue;
			assert_int_equal(sscanf(name, "cw-%u-%" SCNu64, &tno, &k), 2);
			assert_true(mem == 0 || mem == (json_int_t)k || strcmp(status, "exited") == 0);
			assert_true(json_integer_value(json_object_get(row, "reductions")) %
			                (json_int_t)k == 0);
		}
		json_decref(req);
		json_decref(res);
		/* the exit ring, read while writers fill it: every record whole and from one task */
		{
			static struct registry_exit recs[REGISTRY_EXIT_RING_DEFAULT];
			size_t n = registry_exits(recs, REGISTRY_EXIT_RING_DEFAULT);

			for (size_t i = 0; i < n; i++) {
				unsigned tno;
				uint64_t k;

				if (sscanf(recs[i].name, "cw-%u-%" SCNu64, &tno, &k) != 2)
					continue;
				assert_true(recs[i].memory == (int64_t)k);
				assert_true(recs[i].reductions % k == 0);
				assert_true(strcmp(recs[i].reason, "rotate") == 0 ||
				            strcmp(recs[i].reason, "end") == 0);
				exits_checked++;
			}
		}
		queries++;
	}
	atomic_store(&writers_stop, 1);
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&writers_done), WRITERS);
	assert_int_equal(atomic_load(&writer_failures), 0);
	registry_tick(t + 100000000u);
	{
		struct registry_totals tot;
		json_t *req = json_pack("{s:s,s:s}", "cmd", "tasks", "filter", "cw-"), *res = NULL;

		registry_totals(&tot);
		assert_true(tot.spawned >= atomic_load(&spawned_total));
		assert_int_equal(cmd_tasks_entry.exec(req, &res, &err), 0);
		assert_int_equal(json_integer_value(json_object_get(res, "total")), 0);
		json_decref(req);
		json_decref(res);
	}
	print_message("concurrent: %" PRIu64 " tasks spawned, %" PRIu64 " slot reads, %" PRIu64
	              " queries and %" PRIu64 " exit records checked\n", atomic_load(&spawned_total),
	              reads, queries, exits_checked);
	assert_true(queries > 0);
	assert_true(exits_checked > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spawn_exit_basics),
		cmocka_unit_test(test_handles_stay_valid),
		cmocka_unit_test(test_exit_ring_bounded),
		cmocka_unit_test(test_window_deltas_exact),
		cmocka_unit_test(test_bind_thread_and_self),
		cmocka_unit_test(test_thread_exit_returns_slots),
		cmocka_unit_test(test_fork_while_spawning),
		cmocka_unit_test(test_concurrent_spawn_exit_work_query),
	};

	setenv("SONDE_TASKS_CACHE_MS", "0", 1); /* every query scans */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
