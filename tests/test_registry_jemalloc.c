/*
 * test_registry_jemalloc.c - per-task memory from jemalloc, in a program linked with jemalloc
 * (skipped when jemalloc does not serve malloc, e.g. under AddressSanitizer):
 *   - sonde_task_arena(): the task's own arena; its memory is the arena's small + large
 *     allocated bytes, read by the tick, exactly;
 *   - SONDE_TASK_BIND_THREAD: the thread's allocated - deallocated since the spawn.
 */
#include "config.h"

#include <jemalloc/jemalloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "command.h"
#include "jemalloc.h"
#include "registry.h"
#include "sonde.h"

extern const struct command_entry cmd_task_entry;

static uint64_t fake_now = 5000000000000ull;

static int64_t ext_of(sonde_task *t, int64_t *total)
{
	struct registry_row row;

	assert_int_equal(registry_read(t->index_, 0, &row), 0);
	if (total)
		*total = row.memory;
	return row.memory_ext;
}

static void test_arena_memory_exact(void **state)
{
	struct sonde_task_spec spec = {.name = "arena-task"};
	sonde_task *t;
	void *p[3];
	int arena;
	int64_t total;
	json_t *req, *res = NULL;
	struct cmd_error err;

	(void)state;
	if (jemalloc_get() == NULL)
		skip();
	t = sonde_task_spawn(&spec);
	arena = sonde_task_arena(t);
	assert_true(arena >= 0);
	assert_int_equal(sonde_task_arena(t), arena);
	for (int i = 0; i < 3; i++) {
		p[i] = mallocx(1 << 20, MALLOCX_ARENA((unsigned)arena) | MALLOCX_TCACHE_NONE);
		assert_non_null(p[i]);
	}
	sonde_task_memory(t, 1000); /* explicit accounting adds to it */
	registry_tick(fake_now += 1000000000u);
	assert_int_equal(ext_of(t, &total), 3 << 20);
	assert_int_equal(total, (3 << 20) + 1000);
	dallocx(p[1], MALLOCX_TCACHE_NONE);
	registry_tick(fake_now += 1000000000u);
	assert_int_equal(ext_of(t, NULL), 2 << 20);

	req = json_pack("{s:I}", "task", (json_int_t)sonde_task_id(t));
	assert_int_equal(cmd_task_entry.exec(req, &res, &err), 0);
	assert_string_equal(json_string_value(json_object_get(res, "memory_source")),
	                    "explicit+arena");
	assert_int_equal(json_integer_value(json_object_get(res, "memory_arena")), 2 << 20);
	assert_int_equal(json_integer_value(json_object_get(res, "arena")), arena);
	json_decref(req);
	json_decref(res);

	dallocx(p[0], MALLOCX_TCACHE_NONE);
	dallocx(p[2], MALLOCX_TCACHE_NONE);
	sonde_task_exit(t, NULL);
}

struct bound_ctx {
	sonde_task *task;
	void *block;
	pthread_barrier_t step;
};

/* The bound thread: allocate 4 MiB, wait for the check, free it, wait again, exit the task. */
static void *bound_thread(void *arg)
{
	struct bound_ctx *b = arg;
	struct sonde_task_spec spec = {.name = "bound-task", .flags = SONDE_TASK_BIND_THREAD};

	b->task = sonde_task_spawn(&spec);
	b->block = malloc(4 << 20);
	memset(b->block, 1, 4 << 20);
	pthread_barrier_wait(&b->step);
	pthread_barrier_wait(&b->step);
	free(b->block);
	pthread_barrier_wait(&b->step);
	pthread_barrier_wait(&b->step);
	sonde_task_exit(b->task, NULL); /* before the thread ends, as sonde.h requires */
	return NULL;
}

static void test_thread_bound_memory(void **state)
{
	struct bound_ctx b = {0};
	pthread_t th;
	int64_t ext;

	(void)state;
	if (jemalloc_get() == NULL)
		skip();
	pthread_barrier_init(&b.step, NULL, 2);
	pthread_create(&th, NULL, bound_thread, &b);
	pthread_barrier_wait(&b.step);
	registry_tick(fake_now += 1000000000u);
	ext = ext_of(b.task, NULL);
	assert_true(ext >= (4 << 20) && ext < (4 << 20) + (256 << 10));
	pthread_barrier_wait(&b.step);
	pthread_barrier_wait(&b.step);
	registry_tick(fake_now += 1000000000u);
	ext = ext_of(b.task, NULL);
	assert_true(ext > -(256 << 10) && ext < (256 << 10));
	pthread_barrier_wait(&b.step);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&b.step);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_memory_exact),
		cmocka_unit_test(test_thread_bound_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
