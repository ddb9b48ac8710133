/*
 * bench_spawn.c - spawn+exit pairs per second (sonde_task_spawn then sonde_task_exit, with a
 * name, an initial call and a parent, the exit record written to the ring), on 1 and on 2
 * threads, against the 10 million/s target and, measured in the same run, a malloc+free pair of
 * the same record size (what a naive registry would pay at least). Medians of REPS runs.
 *
 *   tests/bench/bench_spawn [PAIRS]      (default 20,000,000 per thread per run)
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "registry.h"
#include "sonde.h"

#define REPS 5
#define TARGET_PER_S 10e6

static uint64_t pairs;
static sonde_task *parent;
static pthread_barrier_t start;

static void *spawn_loop(void *arg)
{
	struct sonde_task_spec spec = {.name = "conn-worker", .initial_call = "conn_loop",
	                               .parent = parent};
	double *secs = arg, t0;

	pthread_barrier_wait(&start);
	t0 = bench_now_s();
	for (uint64_t i = 0; i < pairs; i++) {
		sonde_task *t = sonde_task_spawn(&spec);

		if (t == NULL)
			abort();
		sonde_task_work(t, 1);
		sonde_task_exit(t, NULL);
	}
	*secs = bench_now_s() - t0;
	return NULL;
}

static void *malloc_loop(void *arg)
{
	double *secs = arg, t0;

	pthread_barrier_wait(&start);
	t0 = bench_now_s();
	for (uint64_t i = 0; i < pairs; i++) {
		void *volatile p = malloc(REGISTRY_BYTES_PER_TASK);

		free(p);
	}
	*secs = bench_now_s() - t0;
	return NULL;
}

/* Pairs per second over nthreads running fn at once (total, wall time of the slowest). */
static double run(int nthreads, void *(*fn)(void *))
{
	pthread_t th[2];
	double secs[2] = {0, 0}, worst = 0;

	pthread_barrier_init(&start, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, fn, &secs[i]);
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		if (secs[i] > worst)
			worst = secs[i];
	}
	pthread_barrier_destroy(&start);
	return (double)pairs * nthreads / worst;
}

/* Median of REPS runs of f(nthreads, fn). */
static double median(double (*f)(int, void *(*)(void *)), int nthreads, void *(*fn)(void *))
{
	double s[REPS];

	for (int r = 0; r < REPS; r++)
		s[r] = f(nthreads, fn);
	return bench_median(s, REPS);
}

int main(int argc, char **argv)
{
	struct sonde_task_spec ps = {.name = "acceptor-pool", .kind = SONDE_SUPERVISOR};
	double one, two, m1, m2;

	pairs = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000ull;
	parent = sonde_task_spawn(&ps);
	if (parent == NULL || pairs == 0)
		return 1;
	one = median(run, 1, spawn_loop);
	two = median(run, 2, spawn_loop);
	m1 = median(run, 1, malloc_loop);
	m2 = median(run, 2, malloc_loop);
	printf("bench_spawn: %llu spawn+exit pairs per thread per run, median of %d runs\n",
	       (unsigned long long)pairs, REPS);
	printf("  1 thread : %6.2f M pairs/s (%5.1f ns/pair)  %.2fx the 10 M/s target  %.2fx "
	       "malloc+free(%zu B) at %.2f M/s\n", one / 1e6, 1e9 / one, one / TARGET_PER_S,
	       one / m1, (size_t)REGISTRY_BYTES_PER_TASK, m1 / 1e6);
	printf("  2 threads: %6.2f M pairs/s (%5.1f ns/pair/thread)  %.2fx the 10 M/s target  "
	       "%.2fx malloc+free at %.2f M/s\n", two / 1e6, 2e9 / two, two / TARGET_PER_S, two / m2,
	       m2 / 1e6);
	printf("spawn+exit on 1 thread: %.2f M/s (target >= 10 M/s) %s\n", one / 1e6,
	       one >= TARGET_PER_S ? "PASS" : "FAIL");
	printf("exit ring: %u records kept, %llu dropped (writers lapped)\n",
	       registry_exit_ring_capacity(), (unsigned long long)registry_exit_ring_dropped());
	sonde_task_exit(parent, NULL);
	return 0;
}
