/*
 * cmd_tasks.c - the `tasks` command: one page of tasks in a chosen order, selected in the agent.
 *
 * Total mode scans the tasks' hot lines (contiguous 64-byte records) once, keeping the best
 * offset+limit in a bounded heap (topn.h); window mode scans the per-slot window arrays the
 * registry's tick wrote (contiguous 8-byte deltas), so "who grew most over the last interval"
 * costs one pass over memory the agent already has, not two full snapshots. Rows are then read
 * back slot by slot with their generation checked: a task that exited since the scan is reported
 * from its exit record, never mixed up with the slot's next tenant.
 *
 * When the application declares no tasks, the OS threads (from the proc probe) stand in.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include "agent.h"
#include "command.h"
#include "proc.h"
#include "proto.h"
#include "registry.h"
#include "scanhelper.h"
#include "taskjson.h"
#include "topn.h"

#define TASKS_LIMIT_DEFAULT 50
#define TASKS_LIMIT_MAX 10000
#define TASKS_OFFSET_MAX ((long long)REGISTRY_MAX_SLOTS)  /* any position a task can have */
#define TASKS_DEEP_OFFSET 65536   /* from here on a page may be selected from the other end */
#define TASKS_FILTER_MAX 128
/* From this many chunks of slots (65,536 each) on, scans are split with the scan helper
 * thread: below it a scan takes under ~1 ms and a hand-over would not pay. */
#define TASKS_PARALLEL_CHUNKS 4

enum tasks_sort { S_MEMORY, S_REDUCTIONS, S_QUEUE, S_CPU, S_NAME, S_ID, S_AGE };

static const char *const tasks_sorts[] = {"memory", "reductions", "queue", "cpu",
                                          "name",   "id",         "age",   NULL};
static const char *const tasks_orders[] = {"desc", "asc", NULL};
static const char *const tasks_modes[] = {"total", "window", NULL};

struct tasks_query {
	int sort, asc, window;
	long long limit, offset;
	const char *filter;        /* NULL: none */
	int filter_has_colon;
	/* find=ID: the task whose position is counted in the same pass (find_key/find_id: its
	 * key and id; find_idx: its slot for name ties; find_pos: tasks before it). */
	int find;
	int64_t find_key;
	uint64_t find_id;
	uint32_t find_idx;
	uint64_t find_pos;
	int reversed;              /* selecting from the other end: ids offered as ~id */
};

/* Does a task match the filter (case-insensitive substring of name, initial call, location)? */
static int tasks_match(const struct tasks_query *q, struct registry_chunk *ch, uint32_t i)
{
	char name[REGISTRY_NAME_MAX], loc[512];
	const char *ic;
	const struct sonde_location *l;

	registry_read_name(&ch->cold[i], name);
	if (strcasestr(name, q->filter) != NULL)
		return 1;
	ic = atomic_load_explicit(&ch->cold[i].initial_call, memory_order_relaxed);
	if (ic != NULL && strcasestr(ic, q->filter) != NULL)
		return 1;
	l = atomic_load_explicit(&ch->hot[i].location_, memory_order_relaxed);
	if (l == NULL)
		return 0;
	if ((l->file != NULL && strcasestr(l->file, q->filter) != NULL) ||
	    (l->func != NULL && strcasestr(l->func, q->filter) != NULL))
		return 1;
	/* "conn.c:372" spans file and line: only then format the whole location */
	return q->filter_has_colon && taskjson_location(l, loc, sizeof loc) != NULL &&
	       strcasestr(loc, q->filter) != NULL;
}

/* Byte k*8..k*8+7 of a slot's name as a big-endian number: names are NUL-padded words, so
 * comparing these word by word orders names like strcmp() does. One relaxed load, no seqlock:
 * a task renamed during the scan may sort by a mix of its names, never crash or stall it. */
static inline uint64_t tasks_name_word(const struct registry_cold *cold, int k)
{
	uint64_t w = atomic_load_explicit(&((struct registry_cold *)cold)->name[k],
	                                  memory_order_relaxed);

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

/* Names compare beyond their first word (the key) only on ties, a word at a time. */
static int tasks_name_tie(const struct topn_item *a, const struct topn_item *b, void *ctx)
{
	struct registry_chunk *ca = registry_chunk(a->idx >> REGISTRY_CHUNK_SHIFT);
	struct registry_chunk *cb = registry_chunk(b->idx >> REGISTRY_CHUNK_SHIFT);
	const struct registry_cold *x = &ca->cold[a->idx & (REGISTRY_CHUNK_SLOTS - 1)];
	const struct registry_cold *y = &cb->cold[b->idx & (REGISTRY_CHUNK_SLOTS - 1)];

	(void)ctx;
	for (int k = 1; k < REGISTRY_NAME_MAX / 8; k++) {
		uint64_t u = tasks_name_word(x, k), v = tasks_name_word(y, k);

		if (u != v)
			return u < v ? -1 : 1;
	}
	return 0;
}

/* Does a task (key, id, slot) come before the found one in the output order? The same order
 * as the top-N: key, then the rest of the name for names, then id ascending. */
static inline int tasks_before_found(const struct tasks_query *q, int64_t key, uint64_t id,
                                     uint32_t idx)
{
	if (key != q->find_key)
		return q->asc ? key < q->find_key : key > q->find_key;
	if (q->sort == S_NAME) {
		struct topn_item a = {.key = key, .id = id, .idx = idx};
		struct topn_item b = {.key = key, .id = q->find_id, .idx = q->find_idx};
		int c = tasks_name_tie(&a, &b, NULL);

		if (c != 0)
			return q->asc ? c < 0 : c > 0;
	}
	return id < q->find_id;
}

/* The sort key of a live slot in total mode. Reads only the hot line, except for names, ext
 * memory (arena / thread-bound tasks) and CPU (thread-bound tasks). */
static inline __attribute__((always_inline)) int64_t tasks_key(int sort, struct registry_chunk *ch, uint32_t i, uint32_t xf)
{
	struct sonde_task *t = &ch->hot[i];
	const struct proc_thread_tick *th;
	int64_t mem;

	switch (sort) {
	case S_MEMORY:
		mem = atomic_load_explicit(&t->memory_, memory_order_relaxed);
		if (xf & REGISTRY_X_EXT)
			mem += atomic_load_explicit(&ch->cold[i].ext_memory, memory_order_relaxed);
		return mem;
	case S_REDUCTIONS:
		return topn_key_u64(atomic_load_explicit(&t->reductions_, memory_order_relaxed));
	case S_QUEUE:
		return topn_key_u64(atomic_load_explicit(&t->queue_, memory_order_relaxed));
	case S_CPU:
		if (!(xf & REGISTRY_X_BOUND))
			return topn_key_double(-1.0);
		th = proc_latest_thread(atomic_load_explicit(&ch->cold[i].tid, memory_order_relaxed));
		return topn_key_double(th ? th->cpu_pct : -1.0);
	case S_NAME:
		return (int64_t)(tasks_name_word(&ch->cold[i], 0) ^ 0x8000000000000000ull);
	case S_ID:
		return topn_key_u64(atomic_load_explicit(&t->id_, memory_order_relaxed));
	default: /* S_AGE: older first when descending */
		return -(int64_t)atomic_load_explicit(&t->start_ns_, memory_order_relaxed);
	}
}

/* One pass over the live tasks' hot lines; returns how many matched. Inlined once per sort
 * (sort is a constant at each call site), and a slot whose key cannot enter the heap costs one
 * generation load and one key load: the scan runs at memory speed. */
static inline __attribute__((always_inline)) uint64_t
tasks_scan_total_sorted(struct tasks_query *q, struct topn *top, const int sort, const int find,
                        uint32_t limit, uint32_t lo, uint32_t hi)
{
	uint64_t total = 0;
	const int filter = q->filter != NULL;

	/* from the other end, slots are scanned last to first: ids then arrive roughly in the
	 * order the reversed selection wants, and equal keys are rejected at the root; [lo, hi)
	 * are positions in that scanning order, in chunks */
	const uint32_t nchunks = (limit + REGISTRY_CHUNK_SLOTS - 1) >> REGISTRY_CHUNK_SHIFT;

	for (uint32_t cc = lo; cc < hi && cc < nchunks; cc++) {
		uint32_t c = q->reversed ? nchunks - 1 - cc : cc;
		uint32_t n;
		struct registry_chunk *ch = registry_chunk_span(c, limit, &n);

		if (ch == NULL)
			continue;
		for (uint32_t ii = 0; ii < n; ii++) {
			uint32_t i = q->reversed ? n - 1 - ii : ii;
			struct sonde_task *t = &ch->hot[i];
			uint32_t g1 = atomic_load_explicit(&t->generation_, memory_order_relaxed), g2, xf;
			uint64_t id;
			int64_t key;

			if ((g1 & 1) == 0)
				continue;
			if (filter && !tasks_match(q, ch, i))
				continue;
			/* Fast path, relaxed: most slots are rejected on a key that need not be
			 * consistent (whatever task it belongs to, it was live and not good enough). */
			xf = atomic_load_explicit(&t->xflags_, memory_order_relaxed);
			key = tasks_key(sort, ch, i, xf);
			total++; /* live when its generation was read */
			/* find: only keys level with the found one need the id (one more load) */
			if (find && (key == q->find_key ? tasks_before_found(q, key,
			                 atomic_load_explicit(&t->id_, memory_order_relaxed),
			                 (c << REGISTRY_CHUNK_SHIFT) | i)
			                                : tasks_before_found(q, key, 0, 0)))
				q->find_pos++;
			if (topn_skip(top, key))
				continue;
			/* A candidate: read it again properly, between two generation loads. */
			g1 = atomic_load_explicit(&t->generation_, memory_order_acquire);
			if ((g1 & 1) == 0)
				continue;
			xf = atomic_load_explicit(&t->xflags_, memory_order_relaxed);
			key = tasks_key(sort, ch, i, xf);
			id = atomic_load_explicit(&t->id_, memory_order_relaxed);
			atomic_thread_fence(memory_order_acquire);
			g2 = atomic_load_explicit(&t->generation_, memory_order_relaxed);
			if (g1 != g2)
				continue;
			topn_offer(top, key, q->reversed ? ~id : id, (c << REGISTRY_CHUNK_SHIFT) | i, g1);
		}
	}
	return total;
}

/* One instance per sort key, and per find or not, so the common scan pays nothing for find. */
#define TASKS_SCAN_TOTAL(F)                                                                  \
	switch (q->sort) {                                                                   \
	case S_MEMORY: return tasks_scan_total_sorted(q, top, S_MEMORY, F, limit, lo, hi);   \
	case S_REDUCTIONS:                                                                   \
		return tasks_scan_total_sorted(q, top, S_REDUCTIONS, F, limit, lo, hi);      \
	case S_QUEUE: return tasks_scan_total_sorted(q, top, S_QUEUE, F, limit, lo, hi);     \
	case S_CPU: return tasks_scan_total_sorted(q, top, S_CPU, F, limit, lo, hi);         \
	case S_NAME: return tasks_scan_total_sorted(q, top, S_NAME, F, limit, lo, hi);       \
	case S_ID: return tasks_scan_total_sorted(q, top, S_ID, F, limit, lo, hi);           \
	default: return tasks_scan_total_sorted(q, top, S_AGE, F, limit, lo, hi);            \
	}

/* Chunks [lo, hi) (in scanning order) of the slots below limit. */
static uint64_t tasks_scan_total_range(struct tasks_query *q, struct topn *top, uint32_t limit,
                                       uint32_t lo, uint32_t hi)
{
	if (q->find) {
		TASKS_SCAN_TOTAL(1)
	}
	TASKS_SCAN_TOTAL(0)
}

/* One pass over the window arrays the last tick wrote (tasks live at that tick): 4 bytes of
 * generation and 8 of delta per slot; the id array is read only for keys that can enter. */
static inline __attribute__((always_inline)) uint64_t
tasks_scan_window_sorted(struct tasks_query *q, struct topn *top, const int sort, uint32_t limit,
                         uint32_t lo, uint32_t hi)
{
	uint64_t total = 0;

	/* from the other end, slots are scanned last to first: ids then arrive roughly in the
	 * order the reversed selection wants, and equal keys are rejected at the root; [lo, hi)
	 * are positions in that scanning order, in chunks */
	const uint32_t nchunks = (limit + REGISTRY_CHUNK_SLOTS - 1) >> REGISTRY_CHUNK_SHIFT;

	for (uint32_t cc = lo; cc < hi && cc < nchunks; cc++) {
		uint32_t c = q->reversed ? nchunks - 1 - cc : cc;
		uint32_t n;
		struct registry_chunk *ch = registry_chunk_span(c, limit, &n);

		if (ch == NULL)
			continue;
		for (uint32_t ii = 0; ii < n; ii++) {
			uint32_t i = q->reversed ? n - 1 - ii : ii;
			uint32_t g = ch->snap_gen[i];
			int64_t key;

			if ((g & 1) == 0)
				continue;
			if (q->filter != NULL && !tasks_match(q, ch, i))
				continue;
			key = sort == S_MEMORY ? ch->win_mem[i] : topn_key_u64(ch->win_red[i]);
			total++;
			if (q->find && tasks_before_found(q, key, ch->snap_id[i], 0))
				q->find_pos++;
			if (topn_skip(top, key))
				continue;
			topn_offer(top, key, q->reversed ? ~ch->snap_id[i] : ch->snap_id[i],
			           (c << REGISTRY_CHUNK_SHIFT) | i, g);
		}
	}
	return total;
}

/* Window mode ranks only by memory or reductions deltas. */
static uint64_t tasks_scan_window_range(struct tasks_query *q, struct topn *top, uint32_t limit,
                                        uint32_t lo, uint32_t hi)
{
	return q->sort == S_MEMORY ? tasks_scan_window_sorted(q, top, S_MEMORY, limit, lo, hi)
	                           : tasks_scan_window_sorted(q, top, S_REDUCTIONS, limit, lo, hi);
}

typedef uint64_t (*tasks_range_fn)(struct tasks_query *q, struct topn *top, uint32_t limit,
                                   uint32_t lo, uint32_t hi);

/* The half of a scan the helper thread does: its own copy of the query (for find_pos) and its
 * own heap of the same capacity. */
struct tasks_part {
	tasks_range_fn scan;
	struct tasks_query q;
	struct topn top;
	uint32_t limit, lo, hi;
	uint64_t total;
};

static void tasks_part_run(void *arg)
{
	struct tasks_part *p = arg;

	p->total = p->scan(&p->q, &p->top, p->limit, p->lo, p->hi);
}

/* One pass over every slot with scan (total or window mode). At TASKS_PARALLEL_CHUNKS chunks
 * and more, the second half of the chunks goes to the scan helper while this thread scans the
 * first, and the helper's heap is then merged into ours: a scan of a million tasks reads tens
 * of megabytes, and one core's memory bandwidth bounds it. Each half keeps its own best cap
 * items, so the merge is the selection a single pass makes (the order is total: key, tie,
 * id); totals and find positions add up. */
static uint64_t tasks_scan_split(struct tasks_query *q, struct topn *top, tasks_range_fn scan)
{
	uint32_t limit = registry_slot_limit();
	uint32_t nchunks = (limit + REGISTRY_CHUNK_SLOTS - 1) >> REGISTRY_CHUNK_SHIFT;
	struct tasks_part part;
	struct topn_item *theirs;
	uint64_t total;

	if (nchunks < TASKS_PARALLEL_CHUNKS)
		return scan(q, top, limit, 0, nchunks);
	theirs = malloc((top->cap > 0 ? top->cap : 1) * sizeof *theirs);
	if (theirs == NULL)
		return scan(q, top, limit, 0, nchunks);
	part.scan = scan;
	part.q = *q;
	part.q.find_pos = 0;
	topn_init(&part.top, theirs, top->cap, top->desc, top->tie, top->tie_ctx);
	part.limit = limit;
	part.lo = nchunks / 2;
	part.hi = nchunks;
	if (scanhelper_start(tasks_part_run, &part) != 0) {
		free(theirs);
		return scan(q, top, limit, 0, nchunks);
	}
	total = scan(q, top, limit, 0, nchunks / 2);
	scanhelper_wait();
	for (size_t k = 0; k < part.top.n; k++)
		topn_offer(top, theirs[k].key, theirs[k].id, theirs[k].idx, theirs[k].gen);
	q->find_pos += part.q.find_pos;
	free(theirs);
	return total + part.total;
}

/* find=ID: the task's key as this query ranks it, so the scan can count who comes before it.
 * 0, or -1 if it is not live, not in the window's snapshot or filtered out (position null). */
static int tasks_find_target(struct tasks_query *q, uint64_t id)
{
	uint32_t gen = 0, g2, i, xf;
	long idx = registry_find(id, &gen);
	struct registry_chunk *ch;
	struct sonde_task *t;

	if (idx < 0 || (ch = registry_chunk((uint32_t)idx >> REGISTRY_CHUNK_SHIFT)) == NULL)
		return -1;
	i = (uint32_t)idx & (REGISTRY_CHUNK_SLOTS - 1);
	t = &ch->hot[i];
	if (q->filter != NULL && !tasks_match(q, ch, i))
		return -1;
	q->find_id = id;
	q->find_idx = (uint32_t)idx;
	if (q->window && (q->sort == S_MEMORY || q->sort == S_REDUCTIONS)) {
		if ((ch->snap_gen[i] & 1) == 0 || ch->snap_id[i] != id)
			return -1; /* spawned after the last tick: not in the window yet */
		q->find_key = q->sort == S_MEMORY ? ch->win_mem[i] : topn_key_u64(ch->win_red[i]);
		return 0;
	}
	xf = atomic_load_explicit(&t->xflags_, memory_order_relaxed);
	q->find_key = tasks_key(q->sort, ch, i, xf);
	atomic_thread_fence(memory_order_acquire);
	g2 = atomic_load_explicit(&t->generation_, memory_order_relaxed);
	return g2 == gen && (gen & 1) ? 0 : -1;
}

/* One pass of the query into a heap of cap items (cap 0: only count), in the query's order or,
 * reversed, from the other end. Returns how many tasks matched. */
static uint64_t tasks_scan(struct tasks_query *q, struct topn *top, struct topn_item *items,
                           size_t cap, int reversed)
{
	q->reversed = reversed;
	topn_init(top, items, cap, reversed ? q->asc : !q->asc,
	          q->sort == S_NAME ? tasks_name_tie : NULL, NULL);
	if (q->window && (q->sort == S_MEMORY || q->sort == S_REDUCTIONS))
		return tasks_scan_split(q, top, tasks_scan_window_range);
	return tasks_scan_split(q, top, tasks_scan_total_range);
}

/* The row for a selected item: the live task if its slot still holds that very task, else its
 * exit record, else what the scan knew. Window deltas come from the last tick. */
static json_t *tasks_row(const struct tasks_query *q, const struct topn_item *it, uint64_t now)
{
	struct registry_chunk *ch = registry_chunk(it->idx >> REGISTRY_CHUNK_SHIFT);
	uint32_t i = it->idx & (REGISTRY_CHUNK_SLOTS - 1);
	struct registry_row row;
	struct registry_exit rec;
	json_t *o;

	if (registry_read(it->idx, it->gen, &row) == 0)
		o = taskjson_row(&row, now);
	else if (registry_exit_find(it->id, &rec) == 0)
		o = taskjson_exit_row(&rec, now);
	else
		o = json_pack("{s:I,s:s}", "id", (json_int_t)it->id, "status", "exited");
	if (q->window) {
		if (ch->snap_gen[i] == it->gen) {
			json_object_set_new(o, "memory_delta", json_integer(ch->win_mem[i]));
			json_object_set_new(o, "reductions_delta",
			                    json_integer((json_int_t)ch->win_red[i]));
		} else {
			/* spawned after the last tick: no window yet */
			json_object_set_new(o, "memory_delta", json_null());
			json_object_set_new(o, "reductions_delta", json_null());
		}
	}
	return o;
}

/* Window mode is only defined once two ticks have been taken. */
static int tasks_window_ready(struct cmd_error *err, double *window_s)
{
	struct registry_window w;
	const struct agent_info *ai = agent_info();

	registry_window(&w);
	if (w.ticks < 2)
		return cmd_fail(err, ERR_BUSY, "window mode needs two samples and only %llu has been "
		                "taken; retry in %u ms (the sampling interval)",
		                (unsigned long long)w.ticks, ai && ai->interval_ms ? ai->interval_ms : 1000);
	*window_s = (double)w.window_ns / 1e9;
	return 0;
}

/* The same page over OS threads, when no task was ever declared. */
static int tasks_threads(const struct tasks_query *q, json_t *res, struct cmd_error *err)
{
	const struct proc_tick *pt = proc_latest();
	double up = taskjson_process_uptime_s();
	struct topn_item *items;
	struct topn top;
	uint64_t total = 0;
	json_t *rows = json_array();
	size_t n, cap;

	json_object_set_new(res, "source", json_string("threads"));
	json_object_set_new(res, "note", json_string("no tasks declared: OS threads shown as tasks "
	                                             "(reductions = CPU time in ms)"));
	if (pt == NULL) {
		json_object_set_new(res, "total", json_integer(0));
		json_object_set_new(res, "rows", rows);
		return 0;
	}
	/* never more than the threads there are, whatever the offset */
	cap = (size_t)(q->offset + q->limit) < pt->nthreads ? (size_t)(q->offset + q->limit)
	                                                   : pt->nthreads;
	items = malloc((cap > 0 ? cap : 1) * sizeof *items);
	if (items == NULL) {
		json_decref(rows);
		return cmd_fail(err, ERR_INTERNAL, "out of memory for %zu rows; lower offset or limit",
		                cap);
	}
	topn_init(&top, items, cap, !q->asc, NULL, NULL);
	for (size_t i = 0; i < pt->nthreads; i++) {
		const struct proc_thread_tick *th = &pt->threads[i];
		int64_t key;

		if (q->filter != NULL && strcasestr(th->name, q->filter) == NULL)
			continue;
		switch (q->sort) {
		case S_REDUCTIONS:
			key = q->window ? topn_key_double(th->cpu_pct) : topn_key_double(th->cpu_s);
			break;
		case S_CPU:
			key = topn_key_double(th->cpu_pct);
			break;
		case S_NAME:
			key = topn_key_prefix(th->name);
			break;
		case S_ID:
			key = th->tid;
			break;
		case S_AGE:
			key = -topn_key_double(th->start_s);
			break;
		default: /* memory and queue are unknown per thread: id order */
			key = 0;
			break;
		}
		total++;
		topn_offer(&top, key, (uint64_t)th->tid, (uint32_t)i, 0);
	}
	n = topn_finish(&top);
	for (size_t k = (size_t)q->offset; k < n; k++) {
		const struct proc_thread_tick *th = &pt->threads[items[k].idx];
		json_t *o = taskjson_thread_row(th, getpid(), up);

		if (q->window) {
			json_object_set_new(o, "memory_delta", json_null());
			json_object_set_new(o, "reductions_delta",
			                    json_integer((json_int_t)(th->cpu_pct / 100.0 *
			                                              pt->interval_s * 1000.0)));
		}
		json_array_append_new(rows, o);
	}
	free(items);
	if (q->window)
		json_object_set_new(res, "window_s", json_real(pt->interval_s));
	json_object_set_new(res, "total", json_integer((json_int_t)total));
	json_object_set_new(res, "rows", rows);
	return 0;
}

/*
 * Identical requests within a short time share one answer. Every scan of the hot lines pulls
 * each task's line out of its writer's cache for a moment (the writer's next store must fetch
 * it back), so sixteen screens polling the same view ten times a second would cost the host a
 * few percent; sharing the answer for TASKS_CACHE_MS bounds that to a few scans per second
 * whatever the number of clients. The answer says how old it is ("cached_ms"); a tick (new
 * window) invalidates it. $SONDE_TASKS_CACHE_MS changes the time, 0 turns sharing off.
 */
#define TASKS_CACHE_MS 200
#define TASKS_CACHE_SLOTS 8

static struct tasks_cache {
	char key[TASKS_FILTER_MAX + 96];
	uint64_t at_ns, tick;
	json_t *result;
} tasks_cache[TASKS_CACHE_SLOTS];

/* How long an answer is shared; read per request so it can be changed at run time. */
static uint64_t tasks_cache_ttl_ns(void)
{
	const char *env = getenv("SONDE_TASKS_CACHE_MS");
	long ms = env != NULL ? strtol(env, NULL, 10) : TASKS_CACHE_MS;

	if (ms < 0 || ms > 10000)
		ms = TASKS_CACHE_MS;
	return (uint64_t)ms * 1000000u;
}

/* Requests with the same arguments, whatever their order or id, share a key. */
static void tasks_cache_key(const struct tasks_query *q, char *key, size_t size)
{
	snprintf(key, size, "%d/%d/%d/%lld/%lld/%s", q->sort, q->asc, q->window, q->limit,
	         q->offset, q->filter ? q->filter : "");
}

/* A shallow copy of a fresh enough shared answer (rows are shared, read-only), or NULL. */
static json_t *tasks_cache_get(const char *key, uint64_t now, uint64_t tick)
{
	uint64_t ttl = tasks_cache_ttl_ns();
	json_t *copy;

	for (int i = 0; i < TASKS_CACHE_SLOTS; i++) {
		struct tasks_cache *c = &tasks_cache[i];

		if (c->result == NULL)
			continue;
		if (now - c->at_ns >= ttl || c->tick != tick) {
			json_decref(c->result);
			c->result = NULL;
			continue;
		}
		if (strcmp(c->key, key) != 0)
			continue;
		copy = json_copy(c->result);
		if (copy != NULL)
			json_object_set_new(copy, "cached_ms",
			                    json_real((double)(now - c->at_ns) / 1e6));
		return copy;
	}
	return NULL;
}

/* Keep a copy of a fresh answer, replacing the oldest entry. */
static void tasks_cache_put(const char *key, uint64_t now, uint64_t tick, json_t *result)
{
	struct tasks_cache *victim = &tasks_cache[0];

	if (tasks_cache_ttl_ns() == 0)
		return;
	for (int i = 0; i < TASKS_CACHE_SLOTS; i++) {
		if (tasks_cache[i].result == NULL) {
			victim = &tasks_cache[i];
			break;
		}
		if (tasks_cache[i].at_ns < victim->at_ns)
			victim = &tasks_cache[i];
	}
	json_decref(victim->result);
	snprintf(victim->key, sizeof victim->key, "%s", key);
	victim->at_ns = now;
	victim->tick = tick;
	victim->result = json_copy(result);
}

/* Arguments, then a shared answer, else one scan into a bounded heap and the rows read back. */
static int cmd_tasks_exec(const json_t *req, json_t **result, struct cmd_error *err)
{
	static const char *const keys[] = {"sort", "order", "mode", "limit", "offset", "filter",
	                                   "find", NULL};
	struct tasks_query q = {0};
	long long find;
	size_t cap;
	int reversed = 0;
	struct topn_item *items;
	struct topn top;
	uint64_t total, now;
	double window_s = 0;
	struct registry_window win;
	char key[TASKS_FILTER_MAX + 96];
	json_t *res, *rows;
	size_t n;
	int order, mode;

	if (proto_check_keys(req, keys, err) != 0 ||
	    proto_arg_enum(req, "sort", tasks_sorts, S_MEMORY, &q.sort, err) != 0 ||
	    proto_arg_enum(req, "order", tasks_orders, 0, &order, err) != 0 ||
	    proto_arg_enum(req, "mode", tasks_modes, 0, &mode, err) != 0 ||
	    proto_arg_int(req, "limit", TASKS_LIMIT_DEFAULT, 1, TASKS_LIMIT_MAX, &q.limit, err) != 0 ||
	    proto_arg_int(req, "offset", 0, 0, TASKS_OFFSET_MAX, &q.offset, err) != 0 ||
	    proto_arg_string(req, "filter", NULL, TASKS_FILTER_MAX, &q.filter, err) != 0 ||
	    proto_arg_int(req, "find", 0, 1, INT64_MAX, &find, err) != 0)
		return -1;
	q.asc = order == 1;
	q.window = mode == 1;
	if (q.filter != NULL && q.filter[0] == '\0')
		q.filter = NULL;
	q.filter_has_colon = q.filter != NULL && strchr(q.filter, ':') != NULL;

	res = json_pack("{s:s,s:s,s:s,s:I,s:I}", "sort", tasks_sorts[q.sort], "order",
	                tasks_orders[order], "mode", tasks_modes[mode], "limit", (json_int_t)q.limit,
	                "offset", (json_int_t)q.offset);
	if (q.filter != NULL)
		json_object_set_new(res, "filter", json_string(q.filter));
	if (find != 0)
		json_object_set_new(res, "find", json_integer(find));
	if (!registry_used()) {
		if (tasks_threads(&q, res, err) != 0) {
			json_decref(res);
			return -1;
		}
		*result = res;
		return 0;
	}
	if (q.window && tasks_window_ready(err, &window_s) != 0) {
		json_decref(res);
		return -1;
	}
	now = agent_now_ns();
	registry_window(&win);
	tasks_cache_key(&q, key, sizeof key);
	if (find != 0) /* a position is asked for a moment: not shared */
		key[0] = '\0';
	if (key[0] != '\0' && (*result = tasks_cache_get(key, now, win.ticks)) != NULL) {
		json_decref(res);
		return 0;
	}

	/* A deep page: count first (a pass with an empty heap, ~2 ms at 1M), and if the page is
	 * nearer the end, select it from the other end: the heap never holds more than about half
	 * the matching tasks, and the last page of any number costs what the first one does. */
	cap = (size_t)(q.offset + q.limit);
	if (q.offset + q.limit > TASKS_DEEP_OFFSET) {
		struct topn count;
		uint64_t t1 = tasks_scan(&q, &count, NULL, 0, 0);

		if (t1 <= (uint64_t)q.offset) {
			cap = 0; /* past the end: no rows, still the total (and the position) */
		} else if (t1 - (uint64_t)q.offset < cap) {
			reversed = 1;
			cap = (size_t)(t1 - (uint64_t)q.offset);
		}
	}
	q.find = find != 0 && tasks_find_target(&q, (uint64_t)find) == 0;
	items = malloc((cap > 0 ? cap : 1) * sizeof *items);
	if (items == NULL) {
		json_decref(res);
		return cmd_fail(err, ERR_INTERNAL, "out of memory for %zu rows; lower offset or limit",
		                cap);
	}
	total = tasks_scan(&q, &top, items, cap, reversed);
	n = topn_finish(&top);

	rows = json_array();
	if (!reversed) {
		for (size_t k = (size_t)q.offset; k < n; k++)
			json_array_append_new(rows, tasks_row(&q, &items[k], now));
	} else {
		/* forward position p is reversed position total-1-p; tasks that came since the
		 * count may push a few rows of the page beyond what the heap kept */
		for (long long p = q.offset; p < q.offset + q.limit && p < (long long)total; p++) {
			long long r = (long long)total - 1 - p;

			if (r < 0 || r >= (long long)n)
				continue;
			items[r].id = ~items[r].id;
			json_array_append_new(rows, tasks_row(&q, &items[r], now));
		}
	}
	free(items);
	if (find != 0)
		json_object_set_new(res, "position", q.find ? json_integer((json_int_t)q.find_pos)
		                                            : json_null());

	json_object_set_new(res, "source", json_string("tasks"));
	if (q.window)
		json_object_set_new(res, "window_s", json_real(window_s));
	json_object_set_new(res, "total", json_integer((json_int_t)total));
	json_object_set_new(res, "rows", rows);
	json_object_set_new(res, "cached_ms", json_real(0));
	if (key[0] != '\0')
		tasks_cache_put(key, now, win.ticks, res);
	*result = res;
	return 0;
}

const struct command_entry cmd_tasks_entry = {
	.name = "tasks",
	.args = "[sort=memory|reductions|queue|cpu|name|id|age] [order=desc|asc] "
	        "[mode=total|window] [limit=1..10000 (50)] [offset=N] [filter=TEXT] [find=ID]",
	.summary = "one page of tasks, top-N selected in the agent; mode=window ranks by the change "
	           "over the last sampling interval; find=ID also gives that task's 0-based position "
	           "in this order",
	.exec = cmd_tasks_exec,
};
