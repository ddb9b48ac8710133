/*
 * bench_sampler.c - what one sampling tick costs the host, at 10 and 1000 host threads, with and
 * without 1M live tasks (issue 6: the agent stays within 1% of one core).
 *
 * The probes run here on the bench's main thread exactly as the agent thread runs them, in
 * probe-table order (proc, registry, alloc, then the sampler), without starting the agent so its
 * own clock does not tick them meanwhile. Each probe's cost is the CPU time of the calling thread
 * (CLOCK_THREAD_CPUTIME_ID) around its tick; the sampler's own share is sampler_collect() alone.
 *
 * Then the cost of answering `history`: the whole ring, and one new sample.
 *
 *   tests/bench/bench_sampler [--ticks N] [--tasks N] [--threads-max N]
 *
 * Host threads are idle (blocked on a condition variable): their count, not their work, is what
 * the proc probe and the sampler's top-N selection scale with.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "alloc.h"
#include "bench.h"
#include "proc.h"
#include "proto.h"
#include "registry.h"
#include "sampler.h"
#include "sonde.h"

static pthread_mutex_t bench_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bench_cond = PTHREAD_COND_INITIALIZER;
static unsigned bench_keep;     /* threads with an index below this keep running */

struct bench_thread {
	pthread_t thread;
	unsigned index;
};

/* An idle host thread: sleeps on the condition variable until told to leave. */
static void *bench_idle(void *arg)
{
	const struct bench_thread *t = arg;

	pthread_mutex_lock(&bench_lock);
	while (t->index < bench_keep)
		pthread_cond_wait(&bench_cond, &bench_lock);
	pthread_mutex_unlock(&bench_lock);
	return NULL;
}

struct bench_stat {
	double total_s, max_s;
};

static void bench_add(struct bench_stat *s, double v)
{
	s->total_s += v;
	if (v > s->max_s)
		s->max_s = v;
}

/* Run ticks sampling ticks and print one row: mean and max CPU time per probe, in microseconds. */
static void bench_phase(const char *label, size_t tasks, unsigned ticks)
{
	const struct probe_entry *producers[] = {&proc_probe, &registry_probe, &alloc_probe};
	struct bench_stat stat[4];
	struct sampler_cost cost;
	const struct sampler_sample *last;
	double mean_total_us;

	memset(stat, 0, sizeof stat);
	for (unsigned k = 0; k < ticks + 1; k++) {
		uint64_t now = agent_now_ns();
		for (size_t p = 0; p < 3; p++) {
			double t0 = bench_thread_cpu_s();
			producers[p]->tick(now);
			if (k > 0)   /* the first tick after a change warms caches and lists */
				bench_add(&stat[p], bench_thread_cpu_s() - t0);
		}
		double t0 = bench_thread_cpu_s();
		sampler_collect(now);
		if (k > 0)
			bench_add(&stat[3], bench_thread_cpu_s() - t0);
		usleep(20000);   /* 20 ms: real intervals for the CPU deltas, and a light load */
	}
	sampler_cost(&cost);
	last = sampler_get(sampler_newest_seq());
	/* the sampler recorded every tick, and its rows hold what the probes saw */
	if (last == NULL || cost.ticks < ticks) {
		fprintf(stderr, "bench_sampler: the sampler did not record every tick\n");
		exit(1);
	}
	mean_total_us = 0;
	for (int p = 0; p < 4; p++)
		mean_total_us += stat[p].total_s / ticks * 1e6;
	printf("%-22s %7.0f %8zu | %9.1f %9.1f | %9.1f %9.1f | %8.1f | %9.1f %9.1f | %9.1f  %6.3f%%\n",
	       label, last->v[SS_THREADS], tasks,
	       stat[3].total_s / ticks * 1e6, stat[3].max_s * 1e6,
	       stat[0].total_s / ticks * 1e6, stat[0].max_s * 1e6,
	       stat[2].total_s / ticks * 1e6,
	       stat[1].total_s / ticks * 1e6, stat[1].max_s * 1e6,
	       mean_total_us, mean_total_us / 1e6 * 100.0);
}

/* What a client's `history` request costs the agent thread, reply line included: the whole ring
 * (a client attaching) and one new sample (a client following with its cursor). */
static void bench_history(void)
{
	const struct sampler_sample *last = sampler_get(sampler_newest_seq());
	struct sampler_sample s = *last;
	char line[128], *reply;
	size_t len;
	double t0, full_s, one_s;

	for (size_t k = 1; k <= sampler_capacity(); k++) {   /* fill the ring with regular ticks */
		s.mono_ns = last->mono_ns + k * 1000000000ull;
		s.wall_s = last->wall_s + (double)k;
		sampler_record(&s);
	}
	snprintf(line, sizeof line, "{\"id\":1,\"cmd\":\"history\",\"limit\":%zu}",
	         sampler_capacity());
	t0 = bench_thread_cpu_s();
	reply = proto_handle_line(line, strlen(line), &len);
	full_s = bench_thread_cpu_s() - t0;
	free(reply);
	printf("history, whole ring (%zu samples, every series): %.1f ms of agent CPU, %zu bytes\n",
	       sampler_capacity(), full_s * 1e3, len);
	snprintf(line, sizeof line, "{\"id\":2,\"cmd\":\"history\",\"since\":%llu}",
	         (unsigned long long)sampler_newest_seq() - 1);
	t0 = bench_thread_cpu_s();
	for (int i = 0; i < 100; i++) {
		reply = proto_handle_line(line, strlen(line), &len);
		free(reply);
	}
	one_s = (bench_thread_cpu_s() - t0) / 100;
	printf("history, one new sample (a following client): %.1f us of agent CPU, %zu bytes (mean of 100)\n",
	       one_s * 1e6, len);
}

int main(int argc, char **argv)
{
	unsigned ticks = 20, threads_max = 999;   /* idle threads: with main, 1000 */
	size_t ntasks = 1000000;
	struct bench_thread *threads;
	sonde_task **tasks;
	const struct sampler_sample *last;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--ticks") == 0 && i + 1 < argc)
			ticks = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--tasks") == 0 && i + 1 < argc)
			ntasks = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--threads-max") == 0 && i + 1 < argc)
			threads_max = (unsigned)strtoul(argv[++i], NULL, 10);
		else {
			fprintf(stderr, "usage: %s [--ticks N] [--tasks N] [--threads-max N]\n", argv[0]);
			return 2;
		}
	}
	if (ticks == 0 || threads_max < 10) {
		fprintf(stderr, "bench_sampler: --ticks must be > 0 and --threads-max >= 10\n");
		return 2;
	}
	threads = calloc(threads_max, sizeof *threads);
	tasks = calloc(ntasks > 0 ? ntasks : 1, sizeof *tasks);
	if (threads == NULL || tasks == NULL) {
		fprintf(stderr, "bench_sampler: out of memory\n");
		return 1;
	}
	for (size_t p = 0; probe_table[p] != NULL; p++)
		if (probe_table[p]->init != NULL && probe_table[p] != &sampler_probe &&
		    probe_table[p]->init() != 0)
			fprintf(stderr, "bench_sampler: probe %s did not start\n", probe_table[p]->name);
	if (sampler_ring_init(sampler_capacity_for(600, 1000), 0) != 0) {
		fprintf(stderr, "bench_sampler: cannot allocate the ring\n");
		return 1;
	}
	printf("sampler ring: %zu samples x %zu bytes = %zu bytes (10 min at 1 s; %zu bytes at "
	       "100 ms)\n", sampler_capacity(), sizeof(struct sampler_sample), sampler_memory_bytes(),
	       sampler_capacity_for(600, 100) * sizeof(struct sampler_sample));
	printf("CPU time per tick on the calling thread, microseconds (mean, max over %u ticks); "
	       "share = all probes per tick at a 1 s interval, %% of one core\n", ticks);
	printf("%-22s %7s %8s | %9s %9s | %9s %9s | %8s | %9s %9s | %9s  %7s\n", "phase", "threads",
	       "tasks", "sampler", "max", "proc", "max", "alloc", "registry", "max", "all", "share");

	bench_keep = threads_max;
	for (unsigned i = 0; i < threads_max; i++) {
		threads[i].index = i;
		if (i == 9)
			bench_phase("10 threads", 0, ticks);   /* 9 idle + the bench's own thread */
		if (pthread_create(&threads[i].thread, NULL, bench_idle, &threads[i]) != 0) {
			fprintf(stderr, "bench_sampler: could only start %u threads\n", i);
			threads_max = i;
			break;
		}
	}
	bench_phase("1000 threads", 0, ticks);

	for (size_t i = 0; i < ntasks; i++) {
		struct sonde_task_spec spec = {.name = "bench", .initial_call = __func__};
		tasks[i] = sonde_task_spawn(&spec);
		if (tasks[i] == NULL) {
			fprintf(stderr, "bench_sampler: spawn failed at %zu tasks\n", i);
			ntasks = i;
			break;
		}
		sonde_task_work(tasks[i], i % 7);
		sonde_task_queue(tasks[i], i % 3);
	}
	bench_phase("1000 threads, tasks", ntasks, ticks);

	pthread_mutex_lock(&bench_lock);
	bench_keep = 9;
	pthread_cond_broadcast(&bench_cond);
	pthread_mutex_unlock(&bench_lock);
	for (unsigned i = 9; i < threads_max; i++)
		pthread_join(threads[i].thread, NULL);
	bench_phase("10 threads, tasks", ntasks, ticks);

	last = sampler_get(sampler_newest_seq());
	printf("last sample: tasks %.0f, threads %.0f, rss %.0f bytes, %u thread slots\n",
	       last->v[SS_TASKS], last->v[SS_THREADS], last->v[SS_RSS_BYTES], last->nthreads);
	bench_history();

	pthread_mutex_lock(&bench_lock);
	bench_keep = 0;
	pthread_cond_broadcast(&bench_cond);
	pthread_mutex_unlock(&bench_lock);
	for (unsigned i = 0; i < 9 && i < threads_max; i++)
		pthread_join(threads[i].thread, NULL);
	for (size_t i = 0; i < ntasks; i++)
		sonde_task_exit(tasks[i], NULL);
	sampler_ring_fini();
	free(tasks);
	free(threads);
	return 0;
}
