/*
 * test_cmd_threads.c - with no task ever declared, `tasks`, `task` and `tree` show the OS
 * threads (from the proc probe's ticks) and say so with "source":"threads". A separate program
 * from test_cmd_tasks because declaring one task anywhere in the process ends this mode.
 */
#include "config.h"

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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cmdrun.h"
#include "command.h"
#include "proc.h"
#include "registry.h"

extern const struct command_entry cmd_tasks_entry, cmd_task_entry, cmd_tree_entry;

static _Atomic int spin_stop;
static _Atomic pid_t spin_tid;

/* A thread that burns CPU, so it leads sort=cpu. */
static void *spinner(void *arg)
{
	volatile uint64_t x = 0;

	(void)arg;
	pthread_setname_np(pthread_self(), "ct-spinner");
	atomic_store(&spin_tid, (pid_t)syscall(SYS_gettid));
	while (!atomic_load(&spin_stop))
		x++;
	return NULL;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static json_t *run(const struct command_entry *e, const char *text)
{
	struct cmd_error err;
	json_t *res = cmdrun(e, &err, text);

	if (res == NULL)
		fprintf(stderr, "%s: %s\n", err.code, err.message);
	return res;
}

static void test_threads_stand_in_for_tasks(void **state)
{
	pthread_t th;
	struct timespec ts = {0, 500000000};
	json_t *res, *rows, *root;
	char text[128];
	pid_t tid;

	(void)state;
	assert_false(registry_used());
	assert_int_equal(pthread_create(&th, NULL, spinner, NULL), 0);
	while (atomic_load(&spin_tid) == 0)
		sched_yield();
	tid = atomic_load(&spin_tid);
	assert_int_equal(proc_probe.init(), 0);
	proc_probe.tick(now_ns());
	nanosleep(&ts, NULL);
	proc_probe.tick(now_ns());

	res = run(&cmd_tasks_entry, "{\"sort\":\"cpu\",\"limit\":5}");
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "source")), "threads");
	assert_true(json_integer_value(json_object_get(res, "total")) >= 2);
	rows = json_object_get(res, "rows");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "id")), tid);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "name")),
	                    "ct-spinner");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "parent")),
	                 getpid());
	/* a low bar: on a loaded machine the spinner gets what it gets, but it leads */
	assert_true(json_real_value(json_object_get(json_array_get(rows, 0), "cpu_pct")) > 5.0);
	json_decref(res);

	res = run(&cmd_tasks_entry, "{\"mode\":\"window\",\"sort\":\"reductions\",\"limit\":1}");
	assert_non_null(res);
	rows = json_object_get(res, "rows");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rows, 0), "id")), tid);
	assert_true(json_integer_value(json_object_get(json_array_get(rows, 0),
	                                               "reductions_delta")) > 10);
	json_decref(res);

	res = run(&cmd_tasks_entry, "{\"filter\":\"spinner\"}");
	assert_int_equal(json_integer_value(json_object_get(res, "total")), 1);
	json_decref(res);

	res = run(&cmd_tree_entry, "{}");
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "source")), "threads");
	root = json_array_get(json_object_get(res, "roots"), 0);
	assert_int_equal(json_integer_value(json_object_get(root, "id")), getpid());
	assert_true(json_array_size(json_object_get(root, "children")) >= 2);
	json_decref(res);

	snprintf(text, sizeof text, "{\"id\":%d}", (int)tid);
	res = run(&cmd_task_entry, text);
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "name")), "ct-spinner");
	assert_string_equal(json_string_value(json_object_get(res, "source")), "threads");
	json_decref(res);
	snprintf(text, sizeof text, "{\"id\":%d}", (int)getpid());
	res = run(&cmd_task_entry, text);
	assert_non_null(res);
	assert_string_equal(json_string_value(json_object_get(res, "kind")), "process");
	json_decref(res);
	assert_null(run(&cmd_task_entry, "{\"id\":2147483000}"));

	atomic_store(&spin_stop, 1);
	pthread_join(th, NULL);
	proc_probe.fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_stand_in_for_tasks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
