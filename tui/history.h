/*
 * history.h - the screen's copy of an agent's sampler history (the `history` command, issue 6):
 * replies merged by sequence number, and the figures resampled to chart columns by time.
 *
 * Pure (no curses, no socket): the Load tab feeds it replies and draws what it computes;
 * tests/test_history.c checks it with hand-made replies.
 *
 * Time is the agent's monotonic clock in seconds since it started (the reply's `mono_s`), so a
 * wall-clock step on either side does not bend the charts. A sample stands for the interval that
 * ended at its time: since the previous sample when they follow each other, else one interval
 * (after a gap the agent marked, after samples lost while we were away, for the first one).
 * Time that no sample covers is a gap: NAN in resampled columns, never interpolated.
 */
#ifndef SONDE_HISTORY_H
#define SONDE_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define HISTORY_THREAD_SLOTS 9      /* threads the agent records per sample, at most */
#define HISTORY_MAX_SAMPLES 100000  /* the agent's own ring bound */

/* The scalar series the screen keeps (wire names in history_col_names). */
enum history_col {
	HC_CPU, HC_RSS, HC_ALLOC_ALLOCATED, HC_ALLOC_RESIDENT, HC_TASK_MEMORY, HC_TASKS,
	HC_SPAWN, HC_EXIT, HC_REDUCTIONS, HC_QUEUE, HC_COUNT
};

extern const char *const history_col_names[HC_COUNT];

struct history_thread {
	int tid;
	float pct;             /* % of one core over the sample's interval; NAN unknown */
	char name[16];
};

struct history_sample {
	unsigned long long seq;
	double t;              /* wall clock, epoch seconds (for read-outs) */
	double mono;           /* agent monotonic seconds since its start */
	double span;           /* seconds the figures cover, ending at mono */
	double v[HC_COUNT];    /* NAN = unknown */
	int nthreads;
	struct history_thread threads[HISTORY_THREAD_SLOTS];
};

struct history {
	struct history_sample *ring;   /* oldest at (head + cap - count) % cap */
	size_t cap, count, head;
	unsigned long long cursor;     /* newest seq held: the `since` of the next request */
	unsigned long long lost;       /* samples the agent no longer had when we asked */
	double interval_s;             /* the agent's sampling interval, from the last reply */
	int more;                      /* the last reply said more samples follow */
	unsigned char seen[HC_COUNT];  /* the series had a known value in some sample */
	uint64_t version;              /* +1 whenever samples are added or dropped */
};

/* A zeroed struct history is an empty one; free its ring with history_free(). */
void history_free(struct history *h);

/* Forget every sample (another process, another agent incarnation). Keeps the allocation. */
void history_reset(struct history *h);

/*
 * Merge one `history` reply (its "result" object) that answered `since` (0: asked without).
 * Samples not newer than what is held are skipped (a late reply to an older cursor). A "gap"
 * in a reply to our own cursor counts its lost samples. Returns the number of samples added,
 * or -1 when memory for the copy is exhausted (what was held is kept).
 */
int history_merge(struct history *h, const json_t *result, unsigned long long since);

/* The i-th sample held (0 = oldest), or NULL past the end; and the newest, or NULL. */
const struct history_sample *history_get(const struct history *h, size_t i);
const struct history_sample *history_newest(const struct history *h);

/* The sample whose interval covers time t (or taken exactly at t), else NULL (a gap). */
const struct history_sample *history_sample_at(const struct history *h, double t);

/* A thread's CPU share in a sample, NAN when it is not among the sample's busiest. */
double history_thread_pct(const struct history_sample *s, int tid);

/*
 * Resample one series over (t_end - window_s, t_end] into nslots equal slots: out[j] is the
 * highest value among the samples whose interval overlaps slot j (so a spike survives when
 * many samples share a slot), NAN where no sample covers it. tid > 0 resamples that thread's
 * CPU share instead of col.
 */
void history_resample(const struct history *h, double t_end, double window_s, size_t nslots,
                      enum history_col col, int tid, double *out);

/*
 * The max busiest threads over samples taken after t0, by their summed CPU share: tids[] and
 * names[] (most first). Returns how many were found (<= max).
 */
size_t history_top_threads(const struct history *h, double t0, size_t max, int *tids,
                           char (*names)[16]);

/* The `series` argument that asks the agent for everything above: "threads,cpu_pct,...". */
const char *history_series_arg(void);

#endif
