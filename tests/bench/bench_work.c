/*
 * bench_work.c - what one sonde_task_work() call costs the application thread, against the two
 * references the issue names, measured in the same run on the same machine:
 *   - a single-writer relaxed load + store on a 64-byte-aligned counter (the floor: what the
 *     hot call is designed to be; target: work <= 2x this);
 *   - a relaxed fetch_add on a thread-private counter (a locked read-modify-write);
 * plus sonde_task_work_shared() (the any-thread variant) and a non-inlined call for scale.
 * Each figure is the median of REPS runs of N calls, in ns per call.
 *
 *   tests/bench/bench_work [N]      (default 200,000,000 calls per run)
 */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "sonde.h"

#define REPS 7

struct line {
	_Atomic uint64_t v;
	char pad[56];
} __attribute__((aligned(64)));

static struct line ref_line;
static _Thread_local _Atomic uint64_t private_counter;

/* Each loop lives in its own function, called only through volatile pointers (so no compiler
 * can specialise it for a known argument): all get the same code shape, a counter reached
 * through a pointer argument. */
__attribute__((noinline)) static void loop_work(sonde_task *t, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		sonde_task_work(t, 1);
}

__attribute__((noinline)) static void loop_work_shared(sonde_task *t, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		sonde_task_work_shared(t, 1);
}

__attribute__((noinline)) static void loop_load_store(struct line *l, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		uint64_t v = atomic_load_explicit(&l->v, memory_order_relaxed);
		atomic_store_explicit(&l->v, v + 1, memory_order_relaxed);
	}
}

__attribute__((noinline)) static void loop_fetch_add(_Atomic uint64_t *c, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

__attribute__((noinline)) static void called(sonde_task *t)
{
	sonde_task_work(t, 1);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void loop_call(sonde_task *t, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		called(t);
}

enum { K_WORK, K_LOADSTORE, K_FETCHADD, K_SHARED, K_CALL, K_N };

static void (*volatile task_loops[])(sonde_task *, uint64_t) = {
	[K_WORK] = loop_work, [K_SHARED] = loop_work_shared, [K_CALL] = loop_call};
static void (*volatile line_loop)(struct line *, uint64_t) = loop_load_store;
static void (*volatile counter_loop)(_Atomic uint64_t *, uint64_t) = loop_fetch_add;

int main(int argc, char **argv)
{
	static const char *const names[K_N] = {
		"sonde_task_work (inline, own line)", "relaxed load+store (reference)",
		"relaxed fetch_add, thread-private", "sonde_task_work_shared", "non-inlined call"};
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000000ull;
	struct sonde_task_spec spec = {.name = "bench-work", .initial_call = "main"};
	sonde_task *t = sonde_task_spawn(&spec);
	double samples[K_N][REPS], med[K_N];

	if (t == NULL || n == 0) {
		fprintf(stderr, "bench_work: cannot spawn a task (out of memory?)\n");
		return 1;
	}
	/* interleave the kinds so drift in clock speed hits them alike */
	for (int r = 0; r < REPS; r++) {
		for (int k = 0; k < K_N; k++) {
			double t0 = bench_now_ns();

			switch (k) {
			case K_LOADSTORE: line_loop(&ref_line, n); break;
			case K_FETCHADD: counter_loop(&private_counter, n); break;
			default: task_loops[k](t, n); break;
			}
			samples[k][r] = (bench_now_ns() - t0) / (double)n;
		}
	}
	printf("bench_work: %llu calls per run, median of %d runs\n", (unsigned long long)n, REPS);
	for (int k = 0; k < K_N; k++)
		med[k] = bench_median(samples[k], REPS);
	for (int k = 0; k < K_N; k++)
		printf("  %-38s %7.3f ns/call  %5.2fx load+store  %5.2fx fetch_add\n", names[k], med[k],
		       med[k] / med[K_LOADSTORE], med[k] / med[K_FETCHADD]);
	printf("work call / relaxed load+store: %.2fx (target <= 2.00x) %s\n",
	       med[K_WORK] / med[K_LOADSTORE], med[K_WORK] <= 2 * med[K_LOADSTORE] ? "PASS" : "FAIL");
	printf("work call / relaxed fetch_add: %.2fx\n", med[K_WORK] / med[K_FETCHADD]);
	/* keep the counters observable so no loop is dead code */
	if (atomic_load(&ref_line.v) + atomic_load(&private_counter) == 1)
		puts("");
	sonde_task_exit(t, NULL);
	return 0;
}
