/*
 * sampler.c - the history ring (see sampler.h) and the probe that fills it every interval from
 * what the other probes measured in the same tick: proc_latest() (process and threads),
 * registry_totals() (tasks) and alloc_sample() (allocator).
 *
 * The ring is one calloc() at agent start; a tick copies a few hundred bytes into it and selects
 * the busiest threads in O(threads x slots), so no tick allocates and the cost stays in
 * microseconds (tests/bench/bench_sampler.c measures it).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "alloc.h"
#include "probe.h"
#include "proc.h"
#include "registry.h"
#include "sampler.h"

#define SEQ_BASE_SHIFT 21                /* a base is a multiple of 2^21 ... */
#define SEQ_BASE_MAX_INDEX ((1u << 31) - 1) /* ... below 2^52: exact in every JSON reader */

const struct sampler_series_info sampler_series_info[SS_COUNT] = {
	[SS_CPU_PCT] = {"cpu_pct", "%", "process CPU (user+sys), % of one core over the interval", 1},
	[SS_CPU_USER_PCT] = {"cpu_user_pct", "%", "process user CPU, % of one core over the interval", 1},
	[SS_CPU_SYS_PCT] = {"cpu_sys_pct", "%", "process system CPU, % of one core over the interval", 1},
	[SS_RSS_BYTES] = {"rss_bytes", "bytes", "resident set size (/proc/PID/stat)", 0},
	[SS_ALLOC_ALLOCATED] = {"alloc_allocated_bytes", "bytes",
	                        "allocator: bytes allocated by the application (jemalloc stats.allocated)", 0},
	[SS_ALLOC_ACTIVE] = {"alloc_active_bytes", "bytes",
	                     "allocator: bytes in active pages (jemalloc stats.active)", 0},
	[SS_ALLOC_RESIDENT] = {"alloc_resident_bytes", "bytes",
	                       "allocator: bytes in resident pages it maps (jemalloc stats.resident)", 0},
	[SS_TASKS] = {"tasks", "count", "live tasks", 0},
	[SS_SPAWN_PER_S] = {"spawn_per_s", "1/s", "tasks spawned per second over the interval", 1},
	[SS_EXIT_PER_S] = {"exit_per_s", "1/s", "tasks exited per second over the interval", 1},
	[SS_REDUCTIONS_PER_S] = {"reductions_per_s", "1/s",
	                         "reductions (work units) per second over the interval: the change of "
	                         "the registry's reductions total; unknown when it fell (tasks exited "
	                         "with their counts)", 1},
	[SS_QUEUE] = {"queue", "count", "total queue length over live tasks", 0},
	[SS_RESTARTS_PER_S] = {"restarts_per_s", "1/s", "task restarts per second over the interval", 1},
	[SS_TASK_MEMORY] = {"task_memory_bytes", "bytes", "memory accounted to live tasks", 0},
	[SS_CTX_SWITCHES_PER_S] = {"ctx_switches_per_s", "1/s",
	                           "context switches (voluntary+involuntary) per second over the interval", 1},
	[SS_FDS] = {"fds", "count", "open file descriptors", 0},
	[SS_THREADS] = {"threads_total", "count", "OS threads in the process", 0},
	[SS_LOAD1] = {"loadavg_1", "load", "host load average over 1 minute", 0},
	[SS_LOAD5] = {"loadavg_5", "load", "host load average over 5 minutes", 0},
	[SS_LOAD15] = {"loadavg_15", "load", "host load average over 15 minutes", 0},
};

/* The ring: sample seq S lives at slots[(S - seq_base - 1) % capacity]. */
static struct sampler_sample *slots;
static size_t capacity;
static uint64_t seq_base;
static uint64_t recorded;   /* samples recorded since init */

/* The collector's memory of the previous tick, to turn totals into rates. */
static struct {
	int have;
	uint64_t at_ns;
	struct registry_totals totals;
} prev;

static struct sampler_cost cost;

/* A random incarnation base, so that cursors of two incarnations do not overlap (sampler.h). */
static uint64_t sampler_random_base(void)
{
	uint32_t r = 0;
	struct timespec ts;

	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec * 2654435761u ^ (uint32_t)getpid();
	}
	return ((uint64_t)(r % SEQ_BASE_MAX_INDEX) + 1) << SEQ_BASE_SHIFT;
}

/* One allocation for the agent's lifetime: the ring never grows, so it never fails mid-run. */
int sampler_ring_init(size_t cap, uint64_t base)
{
	sampler_ring_fini();
	if (cap < SAMPLER_MIN_CAPACITY)
		cap = SAMPLER_MIN_CAPACITY;
	if (cap > SAMPLER_MAX_CAPACITY)
		cap = SAMPLER_MAX_CAPACITY;
	slots = calloc(cap, sizeof *slots);
	if (slots == NULL)
		return -1;
	capacity = cap;
	seq_base = base != 0 ? base : sampler_random_base();
	recorded = 0;
	memset(&prev, 0, sizeof prev);
	memset(&cost, 0, sizeof cost);
	return 0;
}

/* Free the ring; `history` then answers that the sampler is off. */
void sampler_ring_fini(void)
{
	free(slots);
	slots = NULL;
	capacity = 0;
	recorded = 0;
	memset(&prev, 0, sizeof prev);
}

/* history_s seconds at interval_ms, rounded up, within the ring's bounds. */
size_t sampler_capacity_for(unsigned history_s, unsigned interval_ms)
{
	uint64_t n;

	if (interval_ms == 0)
		interval_ms = 1000;
	n = ((uint64_t)history_s * 1000u + interval_ms - 1) / interval_ms;
	if (n < SAMPLER_MIN_CAPACITY)
		n = SAMPLER_MIN_CAPACITY;
	if (n > SAMPLER_MAX_CAPACITY)
		n = SAMPLER_MAX_CAPACITY;
	return (size_t)n;
}

int sampler_ready(void) { return slots != NULL; }
size_t sampler_capacity(void) { return capacity; }
size_t sampler_count(void) { return recorded < capacity ? (size_t)recorded : capacity; }
uint64_t sampler_seq_base(void) { return seq_base; }
uint64_t sampler_newest_seq(void) { return slots != NULL ? seq_base + recorded : 0; }
size_t sampler_memory_bytes(void) { return capacity * sizeof(struct sampler_sample); }
uint64_t sampler_samples_total(void) { return recorded; }

uint64_t sampler_oldest_seq(void)
{
	if (slots == NULL || recorded == 0)
		return 0;
	return seq_base + recorded - sampler_count() + 1;
}

/* O(1): the slot is computed from the seq, and checked to still hold it. */
const struct sampler_sample *sampler_get(uint64_t seq)
{
	if (slots == NULL || recorded == 0 || seq < sampler_oldest_seq() || seq > sampler_newest_seq())
		return NULL;
	return &slots[(seq - seq_base - 1) % capacity];
}

/*
 * Decide how sample s relates to its predecessor p: a regular step, or a gap with its reason.
 * Late: at least 1.5 intervals passed (ticks were missed). Clock jump: wall-clock time moved
 * more than half an interval away from monotonic time (a step of the clock, or a suspend, which
 * CLOCK_MONOTONIC does not count).
 */
static void sampler_classify(struct sampler_sample *s, const struct sampler_sample *p)
{
	uint64_t expected_ns = (uint64_t)s->interval_ms * 1000000u;
	uint64_t elapsed_ns = s->mono_ns > p->mono_ns ? s->mono_ns - p->mono_ns : 0;
	double wall_elapsed_s = s->wall_s - p->wall_s;

	s->elapsed_s = (double)elapsed_ns / 1e9;
	s->gap = SAMPLER_GAP_NONE;
	s->missed = 0;
	if (s->interval_ms != p->interval_ms) {
		s->gap = SAMPLER_GAP_INTERVAL_CHANGED;
	} else if (expected_ns > 0 && elapsed_ns >= expected_ns + expected_ns / 2) {
		uint64_t steps = (elapsed_ns + expected_ns / 2) / expected_ns;
		s->gap = SAMPLER_GAP_LATE;
		s->missed = steps > UINT32_MAX ? UINT32_MAX : (uint32_t)(steps - 1);
	} else if (elapsed_ns == 0 ||
	           fabs(wall_elapsed_s - s->elapsed_s) > (double)expected_ns / 2e9) {
		s->gap = SAMPLER_GAP_CLOCK_JUMP;
	}
}

/* Copy a sample in, number it, classify its step, and blank what a gap makes unknown. */
const struct sampler_sample *sampler_record(const struct sampler_sample *in)
{
	struct sampler_sample *s;
	const struct sampler_sample *p;

	if (slots == NULL)
		return NULL;
	p = recorded > 0 ? sampler_get(sampler_newest_seq()) : NULL;
	s = &slots[recorded % capacity];
	if (s != in)
		memmove(s, in, sizeof *s);
	if (s->nthreads > SAMPLER_THREAD_SLOTS)
		s->nthreads = SAMPLER_THREAD_SLOTS;
	if (p != NULL && p != s) {
		sampler_classify(s, p);
	} else {
		s->elapsed_s = 0;
		s->gap = SAMPLER_GAP_NONE;
		s->missed = 0;
	}
	if (s->gap != SAMPLER_GAP_NONE) {
		for (int i = 0; i < SS_COUNT; i++)
			if (sampler_series_info[i].over_interval)
				s->v[i] = NAN;
		for (unsigned t = 0; t < s->nthreads; t++)
			s->threads[t].cpu_pct = NAN;
	}
	recorded++;
	s->seq = seq_base + recorded;
	return s;
}

/* Wire name -> series index; len bytes of name (names arrive comma-separated, not NUL-ended). */
int sampler_series_find(const char *name, size_t len)
{
	for (int i = 0; i < SS_COUNT; i++)
		if (strlen(sampler_series_info[i].name) == len &&
		    memcmp(sampler_series_info[i].name, name, len) == 0)
			return i;
	return -1;
}

const char *sampler_gap_name(enum sampler_gap gap)
{
	switch (gap) {
	case SAMPLER_GAP_NONE: return "none";
	case SAMPLER_GAP_LATE: return "late";
	case SAMPLER_GAP_INTERVAL_CHANGED: return "interval_changed";
	case SAMPLER_GAP_CLOCK_JUMP: return "clock_jump";
	}
	return "unknown";
}

void sampler_cost(struct sampler_cost *out)
{
	*out = cost;
}

/*
 * Keep the SAMPLER_TOP_THREADS busiest threads (insertion into a short sorted array: O(n x 8),
 * no sort of all threads, no allocation), then add the agent thread if it is not among them, so
 * the observer's own cost is always on the chart.
 */
static void sampler_pick_threads(struct sampler_sample *s, const struct proc_tick *pt,
                                 pid_t agent_tid)
{
	const struct proc_thread_tick *top[SAMPLER_TOP_THREADS];
	const struct proc_thread_tick *agent = NULL;
	size_t ntop = 0;

	for (size_t i = 0; i < pt->nthreads; i++) {
		const struct proc_thread_tick *t = &pt->threads[i];
		double pct = isnan(t->cpu_pct) ? -1 : t->cpu_pct;
		size_t at;

		if (t->tid == agent_tid)
			agent = t;
		if (ntop == SAMPLER_TOP_THREADS &&
		    pct <= (isnan(top[ntop - 1]->cpu_pct) ? -1 : top[ntop - 1]->cpu_pct))
			continue;
		at = ntop < SAMPLER_TOP_THREADS ? ntop++ : ntop - 1;
		while (at > 0 && (isnan(top[at - 1]->cpu_pct) ? -1 : top[at - 1]->cpu_pct) < pct) {
			top[at] = top[at - 1];
			at--;
		}
		top[at] = t;
	}
	s->nthreads = 0;
	for (size_t i = 0; i < ntop; i++) {
		if (top[i] == agent)
			agent = NULL;
		struct sampler_thread *st = &s->threads[s->nthreads++];
		st->tid = top[i]->tid;
		st->cpu_pct = (float)top[i]->cpu_pct;
		memcpy(st->name, top[i]->name, sizeof st->name);
		st->name[sizeof st->name - 1] = '\0';
	}
	if (agent != NULL) {
		struct sampler_thread *st = &s->threads[s->nthreads++];
		st->tid = agent->tid;
		st->cpu_pct = (float)agent->cpu_pct;
		memcpy(st->name, agent->name, sizeof st->name);
		st->name[sizeof st->name - 1] = '\0';
	}
}

/* A per-second rate from two readings of a monotonic total; unknown if it went backwards. */
static double sampler_rate(uint64_t now, uint64_t before, double dt_s)
{
	if (now < before || dt_s <= 0)
		return NAN;
	return (double)(now - before) / dt_s;
}

static double sampler_thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * One tick: read the figures the other probes took this tick (a proc reading older than half an
 * interval is stale and left unknown rather than repeated), turn totals into rates over the real
 * elapsed time, and record. Built in the ring slot itself, so nothing is copied twice.
 */
void sampler_collect(uint64_t now_ns)
{
	const struct agent_info *ai = agent_info();
	unsigned interval_ms = ai != NULL && ai->interval_ms > 0 ? ai->interval_ms : 1000;
	double cpu0 = sampler_thread_cpu_s(), spent;
	const struct proc_tick *pt;
	struct registry_totals tot;
	struct alloc_sample al;
	struct sampler_sample *s;
	struct timespec wall;

	if (slots == NULL)
		return;
	s = &slots[recorded % capacity];
	memset(s, 0, sizeof *s);
	for (int i = 0; i < SS_COUNT; i++)
		s->v[i] = NAN;
	s->mono_ns = now_ns;
	clock_gettime(CLOCK_REALTIME, &wall);
	s->wall_s = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
	s->interval_ms = interval_ms;

	pt = proc_latest();
	if (pt != NULL &&
	    (pt->at_ns >= now_ns || now_ns - pt->at_ns <= (uint64_t)interval_ms * 500000u)) {
		s->v[SS_CPU_USER_PCT] = pt->cpu_user_pct;
		s->v[SS_CPU_SYS_PCT] = pt->cpu_sys_pct;
		s->v[SS_CPU_PCT] = pt->cpu_user_pct + pt->cpu_sys_pct;
		s->v[SS_RSS_BYTES] = (double)pt->rss_bytes;
		s->v[SS_CTX_SWITCHES_PER_S] = pt->ctx_switches_per_s;
		s->v[SS_FDS] = pt->fds;
		s->v[SS_THREADS] = (double)pt->nthreads;
		s->v[SS_LOAD1] = pt->loadavg[0];
		s->v[SS_LOAD5] = pt->loadavg[1];
		s->v[SS_LOAD15] = pt->loadavg[2];
		sampler_pick_threads(s, pt, ai != NULL ? ai->agent_tid : 0);
	}

	registry_totals(&tot);
	s->v[SS_TASKS] = (double)tot.live;
	s->v[SS_QUEUE] = (double)tot.queue;
	s->v[SS_TASK_MEMORY] = (double)tot.memory;
	if (prev.have) {
		double dt = (double)(now_ns - prev.at_ns) / 1e9;
		s->v[SS_SPAWN_PER_S] = sampler_rate(tot.spawned, prev.totals.spawned, dt);
		s->v[SS_EXIT_PER_S] = sampler_rate(tot.exited, prev.totals.exited, dt);
		s->v[SS_REDUCTIONS_PER_S] = sampler_rate(tot.reductions, prev.totals.reductions, dt);
		s->v[SS_RESTARTS_PER_S] = sampler_rate(tot.restarts, prev.totals.restarts, dt);
	}
	prev.have = 1;
	prev.at_ns = now_ns;
	prev.totals = tot;

	alloc_sample(&al);
	if (al.known) {
		s->v[SS_ALLOC_ALLOCATED] = (double)al.allocated;
		s->v[SS_ALLOC_ACTIVE] = (double)al.active;
		s->v[SS_ALLOC_RESIDENT] = (double)al.resident;
	}

	sampler_record(s);

	spent = sampler_thread_cpu_s() - cpu0;
	cost.ticks++;
	cost.last_tick_s = spent;
	cost.total_s += spent;
	if (spent > cost.max_tick_s)
		cost.max_tick_s = spent;
}

/* Size the ring from the agent's history length and interval; its one allocation happens here. */
static int sampler_init(void)
{
	const struct agent_info *ai = agent_info();
	unsigned history_s = ai->history_seconds > 0 ? ai->history_seconds : 600;
	unsigned interval_ms = ai->interval_ms > 0 ? ai->interval_ms : 1000;

	if (sampler_ring_init(sampler_capacity_for(history_s, interval_ms), 0) != 0) {
		fprintf(stderr, "sonde: sampler off: cannot allocate its history ring (%zu bytes): %s\n",
		        sampler_capacity_for(history_s, interval_ms) * sizeof(struct sampler_sample),
		        strerror(errno));
		return -1;
	}
	return 0;
}

static void sampler_tick(uint64_t now_ns)
{
	sampler_collect(now_ns);
}

static void sampler_fini(void)
{
	sampler_ring_fini();
}

const struct probe_entry sampler_probe = {
	.name = "sampler",
	.init = sampler_init,
	.tick = sampler_tick,
	.fini = sampler_fini,
};
