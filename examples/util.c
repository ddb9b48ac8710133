/*
 * util.c - what every module of sonde-demo shares: the clock, a small random generator, stderr
 * logging, per-second rates, and thin wrappers around sonde's task calls and inspect emitter.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo.h"

/* Monotonic time for rates, ages and deadlines: never jumps with the wall clock. */
uint64_t demo_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Worker rounds sleep between bursts so the demo stays a few percent of one core. */
void demo_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Logs go to stderr with a timestamp: stdout carries only the story lines tests parse. */
void demo_log(const char *fmt, ...)
{
	char line[512];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "sonde-demo %02d:%02d:%02d.%03ld %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
	        ts.tv_nsec / 1000000L, line);
}

/* splitmix64: each thread seeds its own generator from --seed, so runs are repeatable
 * per thread and threads never share generator state. */
void demo_rng_seed(struct demo_rng *r, uint64_t salt)
{
	r->s = demo_config.seed ^ (salt * 0x9e3779b97f4a7c15ull);
}

/* The next 64 random bits. */
uint64_t demo_rng_next(struct demo_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform integer below n without modulo bias worth caring about (Lemire's multiply-shift). */
uint32_t demo_rng_below(struct demo_rng *r, uint32_t n)
{
	return (uint32_t)(((demo_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [0, 1) from the top 53 bits. */
double demo_rng_unit(struct demo_rng *r)
{
	return (double)(demo_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Arrivals per round: Poisson so traffic looks bursty like real traffic, not a metronome.
 * Knuth's method for small means, a rounded normal approximation for large ones. */
unsigned demo_rng_poisson(struct demo_rng *r, double mean)
{
	if (mean <= 0)
		return 0;
	if (mean > 30) {
		double u1 = demo_rng_unit(r) + 1e-12, u2 = demo_rng_unit(r);
		double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
		double v = mean + z * sqrt(mean);
		return v < 0 ? 0 : (unsigned)(v + 0.5);
	}
	double limit = exp(-mean), p = 1.0;
	unsigned k = 0;
	do {
		k++;
		p *= demo_rng_unit(r);
	} while (p > limit);
	return k - 1;
}

/* FNV-1a, 32-bit: good enough to spread real-looking keys over shards and buckets. */
uint32_t demo_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

/* Remember the running total at the start of each second so inspect can report "per second over
 * the last ten seconds" without keeping every event. */
void demo_rate_mark(struct demo_rate *r, uint64_t total, uint64_t now_ns)
{
	uint64_t sec = now_ns / 1000000000u;
	size_t slot = sec % DEMO_RATE_SLOTS;
	if (r->sec[slot] != sec + 1) {  /* +1: a zeroed slot never matches second 0 */
		r->sec[slot] = sec + 1;
		r->count[slot] = total;
	}
}

/* Events per second between the oldest remembered second (at most ten back) and now. */
double demo_rate_per_s(const struct demo_rate *r, uint64_t total, uint64_t now_ns)
{
	uint64_t sec = now_ns / 1000000000u;
	for (uint64_t back = DEMO_RATE_SLOTS - 1; back >= 1; back--) {
		if (back > sec)
			continue;
		size_t slot = (sec - back) % DEMO_RATE_SLOTS;
		if (r->sec[slot] == sec - back + 1) {
			double span_s = (double)now_ns / 1e9 - (double)(sec - back);
			return span_s > 0 ? (double)(total - r->count[slot]) / span_s : 0;
		}
	}
	return 0;
}

/* sonde_task_spawn() fails only when memory is exhausted; the demo cannot go on without its
 * tree, so it says so and exits. */
sonde_task *demo_spawn(const char *name, const char *initial_call, sonde_task *parent,
                       enum sonde_kind kind, enum sonde_strategy strategy, unsigned flags,
                       sonde_inspect_fn inspect, void *arg)
{
	struct sonde_task_spec spec = {
		.name = name,
		.initial_call = initial_call,
		.parent = parent,
		.kind = kind,
		.strategy = strategy,
		.max_restarts = kind == SONDE_SUPERVISOR ? 20 : 0,
		.max_seconds = kind == SONDE_SUPERVISOR ? 60 : 0,
		.flags = flags,
		.inspect = inspect,
		.inspect_arg = arg,
	};
	sonde_task *t = sonde_task_spawn(&spec);
	if (t == NULL) {
		demo_log("cannot declare task \"%s\": out of memory (lower --tasks)", name);
		exit(1);
	}
	if (kind == SONDE_SUPERVISOR)
		sonde_task_status(t, SONDE_WAITING);  /* a supervisor waits on its children */
	return t;
}

/* Inspect values are strings; this formats one in place so callbacks stay one line per key. */
void demo_emitf(sonde_emit_fn emit, void *ctx, const char *key, const char *fmt, ...)
{
	char value[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(value, sizeof value, fmt, ap);
	va_end(ap);
	emit(ctx, key, value);
}

/* Bytes with both the exact count and a readable unit: "123456 B (120.6 KiB)". */
void demo_emit_bytes(sonde_emit_fn emit, void *ctx, const char *key, uint64_t bytes)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = -1;
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		demo_emitf(emit, ctx, key, "%llu B", (unsigned long long)bytes);
	else
		demo_emitf(emit, ctx, key, "%llu B (%.1f %s)", (unsigned long long)bytes, v, units[u]);
}

/* An age in seconds with its unit; "never" when the event has not happened. */
void demo_emit_age(sonde_emit_fn emit, void *ctx, const char *key, uint64_t since_ns,
                   uint64_t now_ns)
{
	if (since_ns == 0 || since_ns > now_ns)
		emit(ctx, key, "never");
	else
		demo_emitf(emit, ctx, key, "%.3f s ago", (double)(now_ns - since_ns) / 1e9);
}

struct demo_thread_start_arg {
	void *(*fn)(void *);
	void *arg;
	char name[16];
};

/* Trampoline: names the thread from inside (visible in `sonde query threads` and top -H). */
static void *demo_thread_main(void *p)
{
	struct demo_thread_start_arg a = *(struct demo_thread_start_arg *)p;
	free(p);
	pthread_setname_np(pthread_self(), a.name);
	return a.fn(a.arg);
}

/* Worker threads start with every signal blocked so SIGINT/SIGTERM reach only the main thread,
 * which waits for them with sigwait(). */
void demo_thread_start(void *(*fn)(void *), void *arg, const char *name, pthread_t *tid_out)
{
	struct demo_thread_start_arg *a = malloc(sizeof *a);
	sigset_t all, old;
	pthread_t t;
	int rc;

	if (a == NULL) {
		demo_log("cannot start thread %s: out of memory", name);
		exit(1);
	}
	a->fn = fn;
	a->arg = arg;
	snprintf(a->name, sizeof a->name, "%s", name);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t, NULL, demo_thread_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		demo_log("cannot start thread %s: %s", name, strerror(rc));
		exit(1);
	}
	*tid_out = t;
}

/* Wait for a worker thread that has seen demo_stopping. */
void demo_thread_join(pthread_t tid)
{
	pthread_join(tid, NULL);
}
