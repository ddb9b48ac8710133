/*
 * history.c - the screen's copy of the agent's sampler history (see history.h).
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"

const char *const history_col_names[HC_COUNT] = {
	[HC_CPU] = "cpu_pct",
	[HC_RSS] = "rss_bytes",
	[HC_ALLOC_ALLOCATED] = "alloc_allocated_bytes",
	[HC_ALLOC_RESIDENT] = "alloc_resident_bytes",
	[HC_TASK_MEMORY] = "task_memory_bytes",
	[HC_TASKS] = "tasks",
	[HC_SPAWN] = "spawn_per_s",
	[HC_EXIT] = "exit_per_s",
	[HC_REDUCTIONS] = "reductions_per_s",
	[HC_QUEUE] = "queue",
};

void history_free(struct history *h)
{
	free(h->ring);
	memset(h, 0, sizeof *h);
}

/* Everything goes but the allocation: the next agent's history fills the same ring. */
void history_reset(struct history *h)
{
	h->count = 0;
	h->head = 0;
	h->cursor = 0;
	h->lost = 0;
	h->more = 0;
	memset(h->seen, 0, sizeof h->seen);
	h->version++;
}

const struct history_sample *history_get(const struct history *h, size_t i)
{
	if (i >= h->count)
		return NULL;
	return &h->ring[(h->head + h->cap - h->count + i) % h->cap];
}

const struct history_sample *history_newest(const struct history *h)
{
	return h->count > 0 ? history_get(h, h->count - 1) : NULL;
}

/* Room for cap samples (the agent's ring capacity), keeping what is held, oldest first. */
static int history_reserve(struct history *h, size_t cap)
{
	struct history_sample *ring;

	if (cap > HISTORY_MAX_SAMPLES)
		cap = HISTORY_MAX_SAMPLES;
	if (cap <= h->cap)
		return 0;
	ring = calloc(cap, sizeof *ring);
	if (ring == NULL)
		return -1;
	for (size_t i = 0; i < h->count; i++)
		ring[i] = *history_get(h, i);
	free(h->ring);
	h->ring = ring;
	h->cap = cap;
	h->head = h->count % cap;
	return 0;
}

static double history_num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Append one sample of a reply; after_gap: the agent no longer had the samples before it. */
static void history_append(struct history *h, const json_t *js, int after_gap)
{
	const struct history_sample *prev = history_newest(h);
	const json_t *th;
	struct history_sample *s = &h->ring[h->head];
	unsigned long long prev_seq = prev != NULL ? prev->seq : 0;
	double prev_mono = prev != NULL ? prev->mono : NAN;
	size_t i;

	memset(s, 0, sizeof *s);
	s->seq = (unsigned long long)json_integer_value(json_object_get(js, "seq"));
	s->t = history_num(js, "t");
	s->mono = history_num(js, "mono_s");
	for (int c = 0; c < HC_COUNT; c++) {
		s->v[c] = history_num(js, history_col_names[c]);
		if (!isnan(s->v[c]))
			h->seen[c] = 1;
	}
	json_array_foreach(json_object_get(js, "threads"), i, th) {
		struct history_thread *t;
		const char *name = json_string_value(json_object_get(th, "name"));

		if (s->nthreads == HISTORY_THREAD_SLOTS)
			break;
		t = &s->threads[s->nthreads++];
		t->tid = (int)json_integer_value(json_object_get(th, "tid"));
		t->pct = (float)history_num(th, "cpu_pct");
		snprintf(t->name, sizeof t->name, "%s", name != NULL ? name : "?");
	}
	s->span = h->interval_s > 0 ? h->interval_s : 1.0;
	if (prev != NULL && !after_gap && json_object_get(js, "gap_before") == NULL &&
	    prev_seq + 1 == s->seq && s->mono > prev_mono)
		s->span = s->mono - prev_mono;
	h->head = (h->head + 1) % h->cap;
	if (h->count < h->cap)
		h->count++;
}

/* Only samples newer than the newest held are added, so replies may overlap or come late. */
int history_merge(struct history *h, const json_t *result, unsigned long long since)
{
	const json_t *samples = json_object_get(result, "samples"), *js;
	const json_t *gap = json_object_get(result, "gap");
	json_int_t cap = json_integer_value(json_object_get(result, "capacity"));
	int after_gap = gap != NULL, added = 0;
	size_t i;

	if (json_is_number(json_object_get(result, "interval_ms")))
		h->interval_s = history_num(result, "interval_ms") / 1e3;
	if (history_reserve(h, cap > 0 ? (size_t)cap : json_array_size(samples)) != 0)
		return -1;
	if (h->cap == 0)
		return 0;
	if (gap != NULL && since != 0 && since == h->cursor)
		h->lost += (unsigned long long)json_integer_value(json_object_get(gap, "lost"));
	json_array_foreach(samples, i, js) {
		unsigned long long seq = (unsigned long long)json_integer_value(json_object_get(js, "seq"));
		const struct history_sample *newest = history_newest(h);

		if (newest != NULL && seq <= newest->seq)
			continue;
		history_append(h, js, after_gap);
		after_gap = 0;
		added++;
	}
	if (h->count > 0 && history_newest(h)->seq > h->cursor)
		h->cursor = history_newest(h)->seq;
	h->more = json_is_true(json_object_get(result, "more"));
	if (added > 0)
		h->version++;
	return added;
}

/* Binary search by time: the first sample taken at or after t covers t if its span reaches. */
const struct history_sample *history_sample_at(const struct history *h, double t)
{
	size_t lo = 0, hi = h->count;
	const struct history_sample *s;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (history_get(h, mid)->mono < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	s = history_get(h, lo);
	if (s != NULL && s->mono - s->span <= t + 1e-9)
		return s;
	return NULL;
}

double history_thread_pct(const struct history_sample *s, int tid)
{
	for (int i = 0; i < s->nthreads; i++)
		if (s->threads[i].tid == tid)
			return s->threads[i].pct;
	return NAN;
}

/* Each sample paints the slots its interval overlaps; a slot keeps the highest paint. */
void history_resample(const struct history *h, double t_end, double window_s, size_t nslots,
                      enum history_col col, int tid, double *out)
{
	double t0 = t_end - window_s, w;

	for (size_t j = 0; j < nslots; j++)
		out[j] = NAN;
	if (nslots == 0 || !(window_s > 0))
		return;
	w = window_s / (double)nslots;
	for (size_t i = 0; i < h->count; i++) {
		const struct history_sample *s = history_get(h, i);
		double v = tid > 0 ? history_thread_pct(s, tid) : s->v[col];
		long j0, j1;

		if (isnan(v) || isnan(s->mono) || s->mono <= t0 || s->mono - s->span >= t_end)
			continue;
		/* slot j covers (t0 + j*w, t0 + (j+1)*w]; the sample covers (mono - span, mono] */
		j0 = (long)floor((s->mono - s->span - t0) / w + 1e-9);
		j1 = (long)ceil((s->mono - t0) / w - 1e-9) - 1;
		if (j0 < 0)
			j0 = 0;
		if (j1 >= (long)nslots)
			j1 = (long)nslots - 1;
		if (j1 < j0)
			j1 = j0;   /* a sample shorter than a slot still shows */
		for (long j = j0; j <= j1 && j < (long)nslots; j++)
			if (isnan(out[j]) || v > out[j])
				out[j] = v;
	}
}

size_t history_top_threads(const struct history *h, double t0, size_t max, int *tids,
                           char (*names)[16])
{
	struct { int tid; double sum; const char *name; } acc[64];
	size_t nacc = 0, found = 0;

	for (size_t i = 0; i < h->count; i++) {
		const struct history_sample *s = history_get(h, i);
		if (!(s->mono > t0))
			continue;
		for (int k = 0; k < s->nthreads; k++) {
			const struct history_thread *t = &s->threads[k];
			size_t j;
			if (isnan(t->pct) || t->tid <= 0)
				continue;
			for (j = 0; j < nacc && acc[j].tid != t->tid; j++)
				;
			if (j == nacc) {
				if (nacc == sizeof acc / sizeof acc[0])
					continue;   /* more than 64 distinct busy threads: the rest are minor */
				acc[nacc].tid = t->tid;
				acc[nacc].sum = 0;
				nacc++;
			}
			acc[j].sum += t->pct;
			acc[j].name = t->name;   /* the newest name it had */
		}
	}
	while (found < max) {
		size_t best = nacc;
		for (size_t j = 0; j < nacc; j++)
			if (acc[j].tid != 0 && (best == nacc || acc[j].sum > acc[best].sum))
				best = j;
		if (best == nacc)
			break;
		tids[found] = acc[best].tid;
		snprintf(names[found], sizeof names[found], "%s", acc[best].name);
		acc[best].tid = 0;
		found++;
	}
	return found;
}

const char *history_series_arg(void)
{
	static char arg[256];

	if (arg[0] == '\0') {
		size_t used = (size_t)snprintf(arg, sizeof arg, "threads");
		for (int c = 0; c < HC_COUNT && used < sizeof arg; c++)
			used += (size_t)snprintf(arg + used, sizeof arg - used, ",%s", history_col_names[c]);
	}
	return arg;
}
