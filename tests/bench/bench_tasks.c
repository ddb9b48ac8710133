/*
 * bench_tasks.c - the agent-side cost of `tasks` top-50 pages (sort by memory and by reductions,
 * total and window mode) at 10k, 100k and 1M live tasks, by calling the command's exec directly
 * as the agent thread does (argument parsing, scan, heap, rows, JSON included). Also the
 * registry tick (the window snapshot the agent takes every interval) and, as references measured
 * in the same run, a bare one-pass top-50 over the same number of contiguous 64-byte records and
 * a full qsort of them. Medians of REPS runs; the target is 5 ms at 1M tasks for every page.
 *
 * Tasks get memory and reductions from a fixed pseudo-random sequence, and between two ticks a
 * tenth of them change, so the window has something to rank.
 *
 *   tests/bench/bench_tasks [MAX_TASKS]      (default 1,000,000)
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"
#include "command.h"
#include "registry.h"
#include "sonde.h"
#include "topn.h"

extern const struct command_entry cmd_tasks_entry, cmd_tree_entry;

#define REPS 9
#define TARGET_MS 5.0

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* One `tasks` request through exec, in ms; checks it answered 50 rows. */
static double time_query(const char *sort, const char *mode)
{
	json_t *req = json_pack("{s:s,s:s,s:s,s:i}", "cmd", "tasks", "sort", sort, "mode", mode,
	                        "limit", 50);
	json_t *res = NULL;
	struct cmd_error err;
	double t0 = bench_now_ms(), dt;

	if (cmd_tasks_entry.exec(req, &res, &err) != 0) {
		fprintf(stderr, "bench_tasks: tasks %s %s failed: %s\n", sort, mode, err.message);
		exit(1);
	}
	dt = bench_now_ms() - t0;
	if (json_array_size(json_object_get(res, "rows")) != 50) {
		fprintf(stderr, "bench_tasks: expected 50 rows\n");
		exit(1);
	}
	json_decref(req);
	json_decref(res);
	return dt;
}

/* One `tree` request (a flat population under no supervisor: every task is a root) in ms. */
static double time_tree(void)
{
	json_t *req = json_pack("{s:s,s:i,s:i}", "cmd", "tree", "depth", 1, "limit", 100);
	json_t *res = NULL;
	struct cmd_error err;
	double t0 = bench_now_ms(), dt;

	if (cmd_tree_entry.exec(req, &res, &err) != 0) {
		fprintf(stderr, "bench_tasks: tree failed: %s\n", err.message);
		exit(1);
	}
	dt = bench_now_ms() - t0;
	json_decref(req);
	json_decref(res);
	return dt;
}

struct rec {
	int64_t memory;
	uint64_t reductions, queue, id;
	char pad[32];
} __attribute__((aligned(64)));

static int rec_cmp(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return (x->memory < y->memory) - (x->memory > y->memory);
}

int main(int argc, char **argv)
{
	static const size_t steps[] = {10000, 100000, 1000000};
	size_t max = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000, have = 0;
	sonde_task **tasks = malloc(max * sizeof *tasks);
	struct sonde_task_spec spec = {.name = "conn", .initial_call = "conn_loop"};
	uint64_t tick_ns = 1000000000ull, cost_ns, slots;
	int fail = 0;

	if (tasks == NULL)
		return 1;
	setenv("SONDE_TASKS_CACHE_MS", "0", 1); /* each request's own cost, no shared answers */
	printf("bench_tasks: `tasks` top-50 inside the agent (exec), median of %d runs; "
	       "%zu bytes of registry per task\n", REPS, (size_t)REGISTRY_BYTES_PER_TASK);
	for (size_t s = 0; s < sizeof steps / sizeof steps[0] && steps[s] <= max; s++) {
		size_t n = steps[s];
		double tm[REPS], tick_ms[REPS], ref[REPS], full = 0, res[5];
		static const char *const q[5][2] = {{"memory", "total"},
		                                    {"reductions", "total"},
		                                    {"memory", "window"},
		                                    {"reductions", "window"},
		                                    {"name", "total"}};
		struct rec *recs;
		struct topn_item items[50];

		for (; have < n; have++) {
			tasks[have] = sonde_task_spawn(&spec);
			if (tasks[have] == NULL)
				return 1;
			sonde_task_memory(tasks[have], (int64_t)(rng() % (64u << 20)));
			sonde_task_work(tasks[have], rng() % 1000000000u);
		}
		registry_tick(tick_ns += 1000000000ull);
		for (size_t i = 0; i < n; i += 10) {
			sonde_task_memory(tasks[i], (int64_t)(rng() % 65536));
			sonde_task_work(tasks[i], rng() % 100000);
		}
		registry_tick(tick_ns += 1000000000ull);
		/* idle ticks: what the agent pays every interval with nothing changing */
		for (int r = 0; r < REPS; r++) {
			double t0 = bench_now_ms();

			registry_tick(tick_ns += 1000000000ull);
			tick_ms[r] = bench_now_ms() - t0;
		}
		/* the window must hold changes again for the window queries */
		for (size_t i = 0; i < n; i += 10)
			sonde_task_memory(tasks[i], (int64_t)(rng() % 65536));
		registry_tick(tick_ns += 1000000000ull);
		registry_tick_cost(&cost_ns, &slots);

		for (int k = 0; k < 5; k++) {
			for (int r = 0; r < REPS; r++)
				tm[r] = time_query(q[k][0], q[k][1]);
			res[k] = bench_median(tm, REPS);
		}

		/* references: one pass over contiguous 64-byte records into the same heap; a qsort */
		recs = malloc(n * sizeof *recs);
		if (recs == NULL)
			return 1;
		for (size_t i = 0; i < n; i++) {
			recs[i].memory = (int64_t)(rng() % (64u << 20));
			recs[i].reductions = rng();
			recs[i].id = i + 1;
		}
		for (int r = 0; r < REPS; r++) {
			struct topn top;
			double t0 = bench_now_ms();

			topn_init(&top, items, 50, 1, NULL, NULL);
			for (size_t i = 0; i < n; i++)
				topn_offer(&top, recs[i].memory, recs[i].id, (uint32_t)i, 0);
			topn_finish(&top);
			ref[r] = bench_now_ms() - t0;
		}
		{
			double t0 = bench_now_ms();

			qsort(recs, n, sizeof *recs, rec_cmp);
			full = bench_now_ms() - t0;
		}
		free(recs);

		printf("%8zu tasks: reference one-pass top-50 over %zu contiguous 64-byte records "
		       "%.3f ms; full qsort %.1f ms\n", n, n, bench_median(ref, REPS), full);
		printf("%8zu tasks: tick (window snapshot, idle) %.3f ms = %.3f%% of one core at a "
		       "1 s interval\n", n, bench_median(tick_ms, REPS),
		       bench_median(tick_ms, REPS) / 10.0);
		for (int r = 0; r < REPS; r++)
			tm[r] = time_tree();
		printf("%8zu tasks: tree depth=1 limit=100 (whole tree built for subtree totals) "
		       "%.3f ms\n", n, bench_median(tm, REPS));
		printf("%8zu tasks: tasks sort=name       mode=total  limit=50  %7.3f ms (no target; "
		       "every name equal: the worst case for ties)\n", n, res[4]);
		for (int k = 0; k < 4; k++) {
			int ok = n < 1000000 || res[k] <= TARGET_MS;

			printf("%8zu tasks: tasks sort=%-10s mode=%-6s limit=50  %7.3f ms  %5.2fx "
			       "reference  %5.3fx the %.0f ms target%s\n", n, q[k][0], q[k][1], res[k],
			       res[k] / bench_median(ref, REPS), res[k] / TARGET_MS, TARGET_MS,
			       n < 1000000 ? "" : ok ? "  PASS" : "  FAIL");
			if (!ok)
				fail = 1;
		}
	}
	for (size_t i = 0; i < have; i++)
		sonde_task_exit(tasks[i], NULL);
	free(tasks);
	return fail;
}
