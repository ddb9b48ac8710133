/*
 * sampler.h - the agent's history: every sampling interval the sampler probe (ticked last, after
 * the probes it reads) records one sample into a ring of fixed size, allocated once when the agent
 * starts, so a client that attaches late still sees the last minutes (issue 6).
 *
 * Sequence numbers. Every sample gets a sequence number one above the previous one. The first
 * sample of an agent incarnation is SEQ_BASE + 1, where SEQ_BASE is a random multiple of 2^21
 * below 2^52 (so a cursor stays an exact integer in every JSON reader): a cursor kept from another
 * incarnation of the agent (a restarted process, sonde_stop + sonde_start) almost surely falls
 * outside this one's range and is refused instead of silently meaning other samples.
 *
 * Gaps. A sample records how its time relates to the previous one. When ticks were missed (the
 * agent thread was stopped or starved), the interval changed, or the wall clock jumped, the sample
 * carries a gap reason and the number of missed ticks, and its rate and percentage series are
 * unknown (NaN): a gap stays a gap, never an interpolation across it.
 *
 * Everything here runs on the agent thread (the probe tick and the `history` command); tests call
 * it from their own single thread.
 */
#ifndef SONDE_SAMPLER_H
#define SONDE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

/* Thread slots per sample: the busiest threads by CPU over the interval, plus the agent thread. */
#define SAMPLER_TOP_THREADS 8
#define SAMPLER_THREAD_SLOTS (SAMPLER_TOP_THREADS + 1)

/* Ring length bounds, in samples, whatever history_seconds and the interval say. */
#define SAMPLER_MIN_CAPACITY 2
#define SAMPLER_MAX_CAPACITY 100000

/* The scalar series, in the order `history` lists them. */
enum sampler_series {
	SS_CPU_PCT,            /* process CPU, user+sys, % of one core over the interval */
	SS_CPU_USER_PCT,
	SS_CPU_SYS_PCT,
	SS_RSS_BYTES,
	SS_ALLOC_ALLOCATED,    /* allocator figures, bytes; unknown unless jemalloc */
	SS_ALLOC_ACTIVE,
	SS_ALLOC_RESIDENT,
	SS_TASKS,              /* live tasks */
	SS_SPAWN_PER_S,
	SS_EXIT_PER_S,
	SS_REDUCTIONS_PER_S,
	SS_QUEUE,              /* total queue length over live tasks */
	SS_RESTARTS_PER_S,
	SS_TASK_MEMORY,        /* total memory accounted to live tasks, bytes */
	SS_CTX_SWITCHES_PER_S,
	SS_FDS,
	SS_THREADS,            /* OS threads in the process */
	SS_LOAD1,
	SS_LOAD5,
	SS_LOAD15,
	SS_COUNT
};

struct sampler_series_info {
	const char *name;      /* wire name */
	const char *unit;      /* "%", "bytes", "count", "1/s", "load" */
	const char *summary;   /* what it is and how it is computed */
	int over_interval;     /* 1: a rate or share over the interval, unknown across a gap */
};

extern const struct sampler_series_info sampler_series_info[SS_COUNT];

/* Why a sample does not follow its predecessor by one regular interval. */
enum sampler_gap {
	SAMPLER_GAP_NONE = 0,
	SAMPLER_GAP_LATE,              /* ticks were missed: agent stopped, starved or suspended */
	SAMPLER_GAP_INTERVAL_CHANGED,  /* the sampling interval is not the previous sample's */
	SAMPLER_GAP_CLOCK_JUMP,        /* wall-clock time moved unlike monotonic time */
};

struct sampler_thread {
	int32_t tid;
	float cpu_pct;         /* % of one core over the interval; NaN across a gap */
	char name[16];
};

struct sampler_sample {
	uint64_t seq;          /* set by sampler_record() */
	uint64_t mono_ns;      /* CLOCK_MONOTONIC, agent_now_ns() */
	double wall_s;         /* CLOCK_REALTIME, seconds since the epoch */
	double elapsed_s;      /* monotonic time since the previous sample; 0 for the first */
	uint32_t interval_ms;  /* the sampling interval in force */
	uint32_t missed;       /* ticks missed just before this sample (SAMPLER_GAP_LATE) */
	uint8_t gap;           /* enum sampler_gap */
	uint8_t nthreads;      /* used entries of threads[] */
	double v[SS_COUNT];    /* NaN = unknown */
	struct sampler_thread threads[SAMPLER_THREAD_SLOTS];
};

/*
 * Allocate the ring once: capacity samples (clamped to SAMPLER_MIN/MAX_CAPACITY). seq_base 0
 * draws a random base (see above); tests pass their own. Returns 0, or -1 when memory is
 * exhausted (the sampler is then off and `history` says so). Replaces any previous ring.
 */
int sampler_ring_init(size_t capacity, uint64_t seq_base);
void sampler_ring_fini(void);

/* Samples the ring holds at most for history_s seconds at interval_ms (both > 0). */
size_t sampler_capacity_for(unsigned history_s, unsigned interval_ms);

/*
 * Append one sample (copied; its seq, elapsed_s, gap and missed are computed here from the
 * previous sample; series marked over_interval and thread CPU become NaN across a gap). Returns
 * the stored sample, or NULL when there is no ring. The oldest sample is overwritten when full.
 */
const struct sampler_sample *sampler_record(const struct sampler_sample *in);

/* Ring state: 0 / NULL when empty or not allocated. */
int sampler_ready(void);              /* the ring is allocated */
size_t sampler_capacity(void);        /* samples */
size_t sampler_count(void);           /* samples held now */
uint64_t sampler_seq_base(void);      /* first seq of this incarnation minus one */
uint64_t sampler_oldest_seq(void);
uint64_t sampler_newest_seq(void);
size_t sampler_memory_bytes(void);    /* the ring's fixed allocation */
uint64_t sampler_samples_total(void); /* recorded since init, including overwritten ones */

/* The sample with that seq while the ring still holds it, else NULL. */
const struct sampler_sample *sampler_get(uint64_t seq);

/* Wire names: series index by name (-1 if unknown), gap reason as a string. */
int sampler_series_find(const char *name, size_t len);
const char *sampler_gap_name(enum sampler_gap gap);

/* Cost of the probe's own ticks (thread CPU time), for the bench and the `history` reply. */
struct sampler_cost {
	uint64_t ticks;
	double last_tick_s;   /* CPU seconds the last tick took */
	double total_s;       /* CPU seconds over all ticks */
	double max_tick_s;
};
void sampler_cost(struct sampler_cost *out);

/* Collect one sample from proc_latest(), registry_totals() and alloc_sample() and record it.
 * The probe's tick calls this; the bench calls it directly. */
void sampler_collect(uint64_t now_ns);

extern const struct probe_entry sampler_probe;

#endif
