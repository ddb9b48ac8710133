/*
 * registry.c - the task registry (see registry.h for the layout and the consistency rule).
 *
 * Application side: sonde_task_spawn/exit and the rare task calls of sonde.h. The common path
 * of spawn and exit touches only the calling thread's cache (free slot numbers, a block of
 * ids), the slot itself and the exit ring's head: no lock, no allocation, no syscall. Caches
 * refill from / spill to a shared depot under a mutex once per CACHE_BATCH slots, and a thread
 * that ends gives its cached slots back.
 *
 * Agent side: registry_tick() scans the hot lines once per interval to take the window snapshot
 * (and read jemalloc arena / thread counters for tasks that use them); commands scan the same
 * arrays to select top-N rows.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "jemalloc.h"
#include "registry.h"
#include "scanhelper.h"
#include "sonde.h"

#define CACHE_CAP 256u      /* slot numbers a thread keeps */
#define CACHE_BATCH 128u    /* moved to/from the depot at once */
#define FRESH_BATCH 64u     /* never-used slots taken at once (divides the chunk size) */
#define ID_BLOCK 1024u      /* ids a thread takes at once */
#define NAME_WORDS (REGISTRY_NAME_MAX / 8)

#define RLX memory_order_relaxed
#define ACQ memory_order_acquire
#define REL memory_order_release

/* ---- chunks ------------------------------------------------------------------------------ */

/* Globals that every spawn/exit reads (chunks, ring, used) each sit on cache lines of their own,
 * apart from the ones that threads write (counters, locks): a write must not evict a line that
 * every other thread is reading. */
#define LINE_ALONE __attribute__((aligned(64)))

static struct registry_chunk *_Atomic chunks[REGISTRY_MAX_CHUNKS] LINE_ALONE;
static pthread_mutex_t chunk_lock LINE_ALONE = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint32_t fresh_next LINE_ALONE;     /* first never-used slot number */

/* The chunk for slot numbers starting at c << SHIFT, made on first need. mmap() gives zeroed,
 * lazily backed pages: generation 0 is "free", and an untouched chunk costs address space only. */
static struct registry_chunk *registry_chunk_make(uint32_t c)
{
	struct registry_chunk *ch = atomic_load_explicit(&chunks[c], ACQ);
	void *p;

	if (ch != NULL)
		return ch;
	pthread_mutex_lock(&chunk_lock);
	ch = atomic_load_explicit(&chunks[c], ACQ);
	if (ch == NULL) {
		p = mmap(NULL, sizeof *ch, PROT_READ | PROT_WRITE,
		         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p != MAP_FAILED) {
			ch = p;
			/* Past the first chunk the process has tens of thousands of tasks: transparent
			 * huge pages then save the agent's scans most TLB misses (~2x at 1M tasks).
			 * The first chunk stays in small pages so a small service stays small. */
			if (c > 0)
				(void)madvise(p, sizeof *ch, MADV_HUGEPAGE);
			atomic_store_explicit(&chunks[c], ch, REL);
		}
	}
	pthread_mutex_unlock(&chunk_lock);
	return ch;
}

/* Scans stop at the last slot handed out, clamped to what chunks can hold. */
uint32_t registry_slot_limit(void)
{
	uint32_t n = atomic_load_explicit(&fresh_next, ACQ);

	return n > REGISTRY_MAX_SLOTS ? REGISTRY_MAX_SLOTS : n;
}

/* Readers get NULL for a chunk still being made: its slots are all free anyway. */
struct registry_chunk *registry_chunk(uint32_t c)
{
	if (c >= REGISTRY_MAX_CHUNKS)
		return NULL;
	return atomic_load_explicit(&chunks[c], ACQ);
}

struct registry_chunk *registry_chunk_span(uint32_t c, uint32_t limit, uint32_t *n)
{
	uint32_t left = limit - (c << REGISTRY_CHUNK_SHIFT);

	*n = left > REGISTRY_CHUNK_SLOTS ? REGISTRY_CHUNK_SLOTS : left;
	return registry_chunk(c);
}

/* Slot number -> its hot line, cold record, link. Callers only pass numbers already handed out. */
static inline struct registry_chunk *registry_chunk_of(uint32_t idx)
{
	return atomic_load_explicit(&chunks[idx >> REGISTRY_CHUNK_SHIFT], ACQ);
}

/* ---- per-thread caches and the depot ----------------------------------------------------- */

struct exit_ring;

struct registry_cache {
	uint32_t n;
	uint32_t slots[CACHE_CAP];
	uint64_t id_next, id_end;
	struct exit_ring *ring;         /* the ring the position block below belongs to */
	uint64_t ring_pos, ring_end;    /* this thread's block of exit ring positions */
	_Atomic uint64_t exits;         /* exits this thread recorded (the agent sums them) */
	_Atomic uint64_t spawns;        /* spawns this thread made (the agent sums them) */
	_Atomic uint64_t exit_reductions; /* their final reductions, so the total never falls */
	pid_t tid;                      /* gettid(), once */
	int jemalloc_state;             /* 0 unknown, 1 counters found, -1 none */
	uint64_t *allocatedp, *deallocatedp;
	struct registry_cache *prev, *next;
	sonde_task *self;               /* sonde_task_self(); here so one TLS lookup serves all */
};

/*
 * Each thread's cache lives on the heap, made on the thread's first spawn or exit, and is
 * reached through one pointer in initial-exec TLS: no __tls_get_addr() call on every spawn and
 * exit (about a tenth of their cost in libsonde.so), and only 8 bytes of static TLS, which glibc
 * grants even to a library loaded with dlopen().
 */
static _Thread_local struct registry_cache *cachep __attribute__((tls_model("initial-exec")));

/* Every thread's cache, for the exact exit count; threads that ended leave their count here. */
static pthread_mutex_t caches_lock LINE_ALONE = PTHREAD_MUTEX_INITIALIZER;
static struct registry_cache *caches;
static uint64_t retired_exits;
static uint64_t retired_spawns;
static uint64_t retired_exit_reductions;

static pthread_mutex_t depot_lock LINE_ALONE = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ring_lock LINE_ALONE = PTHREAD_MUTEX_INITIALIZER;
static uint32_t *depot;
static size_t depot_n, depot_cap;
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

static _Atomic uint64_t id_next LINE_ALONE = 1;
static _Atomic int used LINE_ALONE;
static _Atomic uint64_t restarts_total LINE_ALONE;

/* Give slot numbers to the shared depot. Returns how many were taken (all, unless out of memory:
 * then the rest stay with the caller). */
static size_t registry_depot_put(const uint32_t *slots, size_t n)
{
	size_t cap;
	uint32_t *p;

	pthread_mutex_lock(&depot_lock);
	if (depot_n + n > depot_cap) {
		cap = depot_cap ? depot_cap * 2 : 4096;
		while (cap < depot_n + n)
			cap *= 2;
		p = realloc(depot, cap * sizeof *p);
		if (p == NULL) {
			pthread_mutex_unlock(&depot_lock);
			return 0;
		}
		depot = p;
		depot_cap = cap;
	}
	memcpy(depot + depot_n, slots, n * sizeof *slots);
	depot_n += n;
	pthread_mutex_unlock(&depot_lock);
	return n;
}

/* A thread that ends hands its cached free slots back, so they are not lost with it, and
 * leaves its exit count behind. */
static void registry_cache_release(void *arg)
{
	struct registry_cache *c = arg;

	if (c->n > 0 && registry_depot_put(c->slots, c->n) == c->n)
		c->n = 0;
	pthread_mutex_lock(&caches_lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		caches = c->next;
	if (c->next)
		c->next->prev = c->prev;
	retired_exits += atomic_load_explicit(&c->exits, RLX);
	retired_spawns += atomic_load_explicit(&c->spawns, RLX);
	retired_exit_reductions += atomic_load_explicit(&c->exit_reductions, RLX);
	pthread_mutex_unlock(&caches_lock);
	/* slots the depot had no memory for (c->n > 0) stay unused: the host goes on */
	if (cachep == c)
		cachep = NULL;
	free(c);
}

/* fork() while another thread holds one of the registry's locks must not leave the child with a
 * lock nobody will release: hold them all across fork. */
static pthread_mutex_t *const fork_locks[] = {&chunk_lock, &caches_lock, &depot_lock, &ring_lock};

/* Before fork(): take every registry lock, in one fixed order. */
static void registry_fork_prepare(void)
{
	for (size_t i = 0; i < sizeof fork_locks / sizeof fork_locks[0]; i++)
		pthread_mutex_lock(fork_locks[i]);
}

/* After fork(), in parent and child alike: release them (in reverse). */
static void registry_fork_done(void)
{
	for (size_t i = sizeof fork_locks / sizeof fork_locks[0]; i-- > 0;)
		pthread_mutex_unlock(fork_locks[i]);
}

/* Once per process: the thread-exit destructor and the fork handlers. */
static void registry_cache_key_create(void)
{
	(void)pthread_key_create(&cache_key, registry_cache_release);
	(void)pthread_atfork(registry_fork_prepare, registry_fork_done, registry_fork_done);
}

/* The calling thread's cache; on its first use, made, put in the cache list and given to the
 * thread-exit destructor. NULL only when memory is exhausted. */
static struct registry_cache *registry_cache_get(void)
{
	struct registry_cache *c = cachep;

	if (__builtin_expect(c != NULL, 1))
		return c;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	pthread_once(&cache_key_once, registry_cache_key_create);
	(void)pthread_setspecific(cache_key, c);
	pthread_mutex_lock(&caches_lock);
	c->prev = NULL;
	c->next = caches;
	if (caches)
		caches->prev = c;
	caches = c;
	pthread_mutex_unlock(&caches_lock);
	cachep = c;
	return c;
}

/* Fill the cache: recycled slots from the depot first (their chunks already exist), else a
 * batch of never-used ones. Returns 0, or -1 when memory or slots are exhausted. */
static int registry_cache_refill(struct registry_cache *c)
{
	size_t take;
	uint32_t first;

	pthread_mutex_lock(&depot_lock);
	take = depot_n < CACHE_BATCH ? depot_n : CACHE_BATCH;
	if (take > 0)
		memcpy(c->slots + c->n, depot + depot_n - take, take * sizeof *depot);
	depot_n -= take;
	pthread_mutex_unlock(&depot_lock);
	c->n += (uint32_t)take;
	if (take > 0)
		return 0;

	first = atomic_fetch_add_explicit(&fresh_next, FRESH_BATCH, RLX);
	if (first >= REGISTRY_MAX_SLOTS || registry_chunk_make(first >> REGISTRY_CHUNK_SHIFT) == NULL)
		return -1;
	/* Hand them out lowest first (the cache is a stack). */
	for (uint32_t i = FRESH_BATCH; i-- > 0;)
		c->slots[c->n++] = first + i;
	return 0;
}

/* A fresh id: from the thread's block, a new block every ID_BLOCK spawns. */
static inline uint64_t registry_new_id(struct registry_cache *c)
{
	if (c->id_next == c->id_end) {
		c->id_next = atomic_fetch_add_explicit(&id_next, ID_BLOCK, RLX);
		c->id_end = c->id_next + ID_BLOCK;
	}
	/* the thread's own line, single writer: a plain relaxed load and store, no locked op */
	atomic_store_explicit(&c->spawns, atomic_load_explicit(&c->spawns, RLX) + 1, RLX);
	return c->id_next++;
}

/* ---- small helpers ------------------------------------------------------------------------ */

uint64_t registry_coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Store a NUL-padded string of at most words*8-1 bytes into atomic words. */
static void registry_store_string(_Atomic uint64_t *dst, size_t words, const char *src)
{
	uint64_t buf[REGISTRY_REASON_MAX / 8] = {0};
	size_t len = src ? strnlen(src, words * 8 - 1) : 0;

	memcpy(buf, src ? src : "", len);
	for (size_t i = 0; i < words; i++)
		atomic_store_explicit(&dst[i], buf[i], RLX);
}

/* A name copied consistently even while sonde_task_set_name() runs on another thread. */
void registry_read_name(const struct registry_cold *cold, char out[REGISTRY_NAME_MAX])
{
	uint64_t buf[NAME_WORDS];
	uint32_t s1, s2;

	/* A rename is a few stores long; after a bounded number of tries take what is there. */
	for (int tries = 0; tries < 64; tries++) {
		s1 = atomic_load_explicit(&((struct registry_cold *)cold)->name_seq, ACQ);
		for (size_t i = 0; i < NAME_WORDS; i++)
			buf[i] = atomic_load_explicit(&((struct registry_cold *)cold)->name[i], RLX);
		atomic_thread_fence(ACQ);
		s2 = atomic_load_explicit(&((struct registry_cold *)cold)->name_seq, RLX);
		if (s1 == s2 && (s1 & 1) == 0)
			break;
	}
	memcpy(out, buf, REGISTRY_NAME_MAX);
	out[REGISTRY_NAME_MAX - 1] = '\0';
}

/* The thread's jemalloc allocated/deallocated counters (pointers into its TLS), looked up once
 * per thread: mallctl is not free. */
static void registry_thread_counters(struct registry_cache *c)
{
	const struct jemalloc_api *je;
	size_t len = sizeof(uint64_t *);

	if (c->jemalloc_state != 0)
		return;
	c->jemalloc_state = -1;
	je = jemalloc_get();
	if (je == NULL)
		return;
	if (je->mallctl("thread.allocatedp", &c->allocatedp, &len, NULL, 0) != 0)
		return;
	len = sizeof(uint64_t *);
	if (je->mallctl("thread.deallocatedp", &c->deallocatedp, &len, NULL, 0) != 0)
		return;
	c->jemalloc_state = 1;
}

/* A thread's net jemalloc bytes (allocated - deallocated), from its own counters. */
static int64_t registry_thread_bytes(uint64_t *allocatedp, uint64_t *deallocatedp)
{
	/* The owning thread writes these plainly; a relaxed read of an aligned word is what we
	 * can do from outside, and a value a few ns stale is fine. */
	return (int64_t)(__atomic_load_n(allocatedp, __ATOMIC_RELAXED) -
	                 __atomic_load_n(deallocatedp, __ATOMIC_RELAXED));
}

/* ---- spawn / exit ------------------------------------------------------------------------ */

SONDE_API sonde_task *sonde_task_spawn(const struct sonde_task_spec *spec)
{
	struct registry_cache *c = registry_cache_get();
	struct registry_chunk *ch;
	struct sonde_task *t, *parent;
	struct registry_cold *cold;
	struct registry_link *link;
	uint32_t idx, gen, pidx = REGISTRY_NO_PARENT, pgen = 0, xflags = 0;
	uint64_t pid_ = 0;

	if (spec == NULL || c == NULL)
		return NULL;
	if (c->n == 0 && registry_cache_refill(c) != 0)
		return NULL;
	idx = c->slots[--c->n];
	ch = registry_chunk_of(idx);
	t = &ch->hot[idx & (REGISTRY_CHUNK_SLOTS - 1)];
	cold = &ch->cold[idx & (REGISTRY_CHUNK_SLOTS - 1)];
	link = &ch->link[idx & (REGISTRY_CHUNK_SLOTS - 1)];

	gen = atomic_load_explicit(&t->generation_, RLX);
	/* The exit that freed this slot stored an even generation; order that store before the
	 * writes below, so a reader that sees a new field also sees the generation move. */
	atomic_thread_fence(REL);

	parent = spec->parent;
	if (parent != NULL) {
		pidx = parent->index_;
		pgen = atomic_load_explicit(&parent->generation_, RLX);
		pid_ = atomic_load_explicit(&parent->id_, RLX);
	}
	if (spec->flags & SONDE_TASK_SENSITIVE)
		xflags |= REGISTRY_X_SENSITIVE;

	t->index_ = idx;
	atomic_store_explicit(&t->reductions_, 0, RLX);
	atomic_store_explicit(&t->memory_, 0, RLX);
	atomic_store_explicit(&t->queue_, 0, RLX);
	atomic_store_explicit(&t->location_, NULL, RLX);
	atomic_store_explicit(&t->status_, SONDE_RUNNING, RLX);
	atomic_store_explicit(&t->id_, registry_new_id(c), RLX);
	atomic_store_explicit(&t->start_ns_, registry_coarse_ns(), RLX);

	registry_store_string(cold->name, NAME_WORDS, spec->name);
	atomic_store_explicit(&cold->restarts, 0, RLX);
	atomic_store_explicit(&cold->initial_call, spec->initial_call, RLX);
	atomic_store_explicit(&cold->parent_id, pid_, RLX);
	atomic_store_explicit(&cold->meta, ((uint32_t)spec->kind & 0xff) |
	                                   ((uint32_t)spec->strategy & 0xff) << 8, RLX);
	atomic_store_explicit(&cold->max_restarts, spec->max_restarts, RLX);
	atomic_store_explicit(&cold->max_seconds, spec->max_seconds, RLX);
	atomic_store_explicit(&cold->arena, -1, RLX);
	atomic_store_explicit(&cold->ext_memory, 0, RLX);
	atomic_store_explicit(&cold->inspect, spec->inspect, RLX);
	atomic_store_explicit(&cold->inspect_arg, spec->inspect_arg, RLX);
	atomic_store_explicit(&link->parent_idx, pidx, RLX);
	atomic_store_explicit(&link->parent_gen, pgen, RLX);

	if (spec->flags & SONDE_TASK_BIND_THREAD) {
		if (c->tid == 0)
			c->tid = (pid_t)syscall(SYS_gettid);
		xflags |= REGISTRY_X_BOUND;
		atomic_store_explicit(&cold->tid, c->tid, RLX);
		registry_thread_counters(c);
		if (c->jemalloc_state == 1) {
			xflags |= REGISTRY_X_THREADMEM;
			atomic_store_explicit(&cold->allocatedp, c->allocatedp, RLX);
			atomic_store_explicit(&cold->deallocatedp, c->deallocatedp, RLX);
			atomic_store_explicit(&cold->thread_base,
			                      registry_thread_bytes(c->allocatedp, c->deallocatedp), RLX);
		}
		c->self = t;
	} else {
		atomic_store_explicit(&cold->tid, 0, RLX);
	}
	atomic_store_explicit(&t->xflags_, xflags, RLX);

	/* Publish: odd generation = live. */
	atomic_store_explicit(&t->generation_, gen | 1u, REL);
	if (!atomic_load_explicit(&used, RLX))
		atomic_store_explicit(&used, 1, RLX);
	return t;
}

/* ---- the exit ring ------------------------------------------------------------------------ */

#define EXIT_WORDS ((sizeof(struct registry_exit) + 7) / 8)

struct exit_entry {
	_Atomic uint64_t seq;         /* 2*(pos+1) when complete, +1 while being written */
	_Atomic uint64_t w[EXIT_WORDS];
} LINE_ALONE;

struct exit_ring {
	unsigned cap;
	struct exit_ring *retired;    /* rings replaced by this one: kept, writers may linger */
	_Atomic uint64_t head LINE_ALONE; /* positions handed out (in blocks) */
	struct exit_entry e[] LINE_ALONE;
};

static struct exit_ring *_Atomic ring LINE_ALONE;
static _Atomic uint64_t ring_dropped LINE_ALONE;

/* An empty ring of cap records, cache-line aligned so entries do not share lines. */
static struct exit_ring *registry_ring_new(unsigned cap)
{
	size_t size = sizeof(struct exit_ring) + (size_t)cap * sizeof(struct exit_entry);
	struct exit_ring *r = aligned_alloc(64, (size + 63) / 64 * 64);

	if (r != NULL) {
		memset(r, 0, size);
		r->cap = cap;
	}
	return r;
}

/* The ring, made with the default capacity on first use (one allocation per process). */
static struct exit_ring *registry_ring(void)
{
	struct exit_ring *r = atomic_load_explicit(&ring, ACQ);

	if (r != NULL)
		return r;
	pthread_mutex_lock(&ring_lock);
	r = atomic_load_explicit(&ring, ACQ);
	if (r == NULL) {
		r = registry_ring_new(REGISTRY_EXIT_RING_DEFAULT);
		if (r != NULL)
			atomic_store_explicit(&ring, r, REL);
	}
	pthread_mutex_unlock(&ring_lock);
	return r;
}

/*
 * Write one record. Each thread takes ring positions in blocks of RING_BLOCK, so exits on
 * different threads do not fight over the ring's head (or write neighbouring entries) on every
 * call; a block gone stale (others have written half a ring since) is given up for a fresh one,
 * so a thread that exits rarely still lands among the newest records. Two writers meet on an
 * entry only when one was lapped while preempted; then the older record is dropped (counted):
 * the writer never waits.
 */
#define RING_BLOCK 16u

static void registry_ring_put(struct registry_cache *c, const struct registry_exit *rec)
{
	struct exit_ring *r = registry_ring();
	struct exit_entry *e;
	uint64_t pos, s, words[EXIT_WORDS] = {0};

	if (c == NULL) {
		/* no cache (out of memory): the exit is counted as dropped, not lost silently */
		atomic_fetch_add_explicit(&ring_dropped, 1, RLX);
		return;
	}
	atomic_store_explicit(&c->exits, atomic_load_explicit(&c->exits, RLX) + 1, RLX);
	atomic_store_explicit(&c->exit_reductions,
	                      atomic_load_explicit(&c->exit_reductions, RLX) + rec->reductions, RLX);
	if (r == NULL) {
		atomic_fetch_add_explicit(&ring_dropped, 1, RLX);
		return;
	}
	if (c->ring != r || c->ring_pos == c->ring_end ||
	    atomic_load_explicit(&r->head, RLX) - c->ring_pos > r->cap / 2) {
		c->ring = r;
		c->ring_pos = atomic_fetch_add_explicit(&r->head, RING_BLOCK, RLX);
		c->ring_end = c->ring_pos + RING_BLOCK;
	}
	pos = c->ring_pos++;
	e = &r->e[pos % r->cap];
	s = atomic_load_explicit(&e->seq, RLX);
	if ((s & 1) || s >= 2 * (pos + 1) ||
	    !atomic_compare_exchange_strong_explicit(&e->seq, &s, 2 * (pos + 1) + 1, ACQ, RLX)) {
		atomic_fetch_add_explicit(&ring_dropped, 1, RLX);
		return;
	}
	atomic_thread_fence(REL);
	memcpy(words, rec, sizeof *rec);
	for (size_t i = 0; i < EXIT_WORDS; i++)
		atomic_store_explicit(&e->w[i], words[i], RLX);
	atomic_store_explicit(&e->seq, 2 * (pos + 1), REL);
}

/* Copy entry i of r if complete and stable; returns its position + 1, or 0. */
static uint64_t registry_ring_get(struct exit_ring *r, size_t i, struct registry_exit *out)
{
	struct exit_entry *e = &r->e[i];
	uint64_t s1, s2, words[EXIT_WORDS];

	s1 = atomic_load_explicit(&e->seq, ACQ);
	if (s1 == 0 || (s1 & 1))
		return 0;
	for (size_t k = 0; k < EXIT_WORDS; k++)
		words[k] = atomic_load_explicit(&e->w[k], RLX);
	atomic_thread_fence(ACQ);
	s2 = atomic_load_explicit(&e->seq, RLX);
	if (s1 != s2)
		return 0;
	memcpy(out, words, sizeof *out);
	return s1 / 2;
}

/* Exit records in the order they are shown: newest first. */
static int registry_exit_cmp(const void *a, const void *b)
{
	const struct registry_exit *x = a, *y = b;

	/* newest first: later exit time, then higher id */
	if (x->exit_ns != y->exit_ns)
		return x->exit_ns < y->exit_ns ? 1 : -1;
	return x->id < y->id ? 1 : x->id > y->id ? -1 : 0;
}

/* The ring's stable records, newest first (entries being written are skipped). */
size_t registry_exits(struct registry_exit *out, size_t max)
{
	struct exit_ring *r = atomic_load_explicit(&ring, ACQ);
	struct registry_exit rec, *all;
	size_t n = 0, k;

	if (r == NULL || max == 0)
		return 0;
	all = malloc((size_t)r->cap * sizeof *all);
	if (all == NULL)
		return 0;
	for (size_t i = 0; i < r->cap; i++)
		if (registry_ring_get(r, i, &rec) != 0)
			all[n++] = rec;
	qsort(all, n, sizeof *all, registry_exit_cmp);
	k = n < max ? n : max;
	memcpy(out, all, k * sizeof *out);
	free(all);
	return k;
}

/* An exited task's record by id: a scan of the ring (1000 entries by default). */
int registry_exit_find(uint64_t id, struct registry_exit *out)
{
	struct exit_ring *r = atomic_load_explicit(&ring, ACQ);
	struct registry_exit rec;

	if (r == NULL)
		return -1;
	for (size_t i = 0; i < r->cap; i++)
		if (registry_ring_get(r, i, &rec) != 0 && rec.id == id) {
			*out = rec;
			return 0;
		}
	return -1;
}

/* Replace the ring by one of another size, carrying the newest records over; the old ring is
 * kept (retired) because a writer may still be finishing a record in it. */
int registry_set_exit_ring(unsigned capacity)
{
	struct exit_ring *old, *r;
	struct registry_exit *keep;
	size_t n;

	if (capacity == 0 || capacity > 1000000)
		return -1;
	old = registry_ring();
	if (old != NULL && old->cap == capacity)
		return 0;
	r = registry_ring_new(capacity);
	keep = malloc((size_t)capacity * sizeof *keep);
	if (r == NULL || keep == NULL) {
		free(r);
		free(keep);
		return -1;
	}
	n = old ? registry_exits(keep, capacity) : 0;
	/* oldest first, so positions keep their order */
	for (size_t i = n; i-- > 0;) {
		uint64_t pos = n - 1 - i;
		struct exit_entry *e = &r->e[pos];
		uint64_t words[EXIT_WORDS] = {0};

		memcpy(words, &keep[i], sizeof keep[i]);
		for (size_t k = 0; k < EXIT_WORDS; k++)
			atomic_store_explicit(&e->w[k], words[k], RLX);
		atomic_store_explicit(&e->seq, 2 * (pos + 1), RLX);
	}
	free(keep);
	/* the carried-over records hold positions 0..n-1; new ones follow */
	atomic_store_explicit(&r->head, n, RLX);
	pthread_mutex_lock(&ring_lock);
	r->retired = old;
	atomic_store_explicit(&ring, r, REL);
	pthread_mutex_unlock(&ring_lock);
	return 0;
}

/* For error messages: how many exits are remembered. */
unsigned registry_exit_ring_capacity(void)
{
	struct exit_ring *r = registry_ring();

	return r ? r->cap : 0;
}

/* Records lost to lapping writers: an honest count rather than a silent gap. */
uint64_t registry_exit_ring_dropped(void)
{
	return atomic_load_explicit(&ring_dropped, RLX);
}

/* Which per-thread counter to sum: each thread counts its own (one plain store), and threads
 * that ended leave theirs in the retired_* totals. */
enum registry_counter { COUNT_SPAWNS, COUNT_EXITS, COUNT_EXIT_REDUCTIONS };

static uint64_t registry_sum(enum registry_counter which)
{
	uint64_t n;

	pthread_mutex_lock(&caches_lock);
	n = which == COUNT_SPAWNS ? retired_spawns
	    : which == COUNT_EXITS ? retired_exits : retired_exit_reductions;
	for (struct registry_cache *c = caches; c != NULL; c = c->next)
		n += atomic_load_explicit(which == COUNT_SPAWNS ? &c->spawns
		                          : which == COUNT_EXITS ? &c->exits : &c->exit_reductions,
		                          RLX);
	pthread_mutex_unlock(&caches_lock);
	return n;
}

/* Total exits: every thread's count, and those of threads that ended. */
static uint64_t registry_exited_count(void)
{
	return registry_sum(COUNT_EXITS);
}

/* Total spawns, counted now: with the exits, tells the tree index whether the set of tasks
 * changed since it was built. */
uint64_t registry_spawned_count(void)
{
	return registry_sum(COUNT_SPAWNS);
}

/* Total exits, counted now (the same sum registry_totals() reports). */
uint64_t registry_exited_now(void)
{
	return registry_exited_count();
}

/* The final reductions of every task that exited: with the live tasks' they make a total
 * that only grows, so a rate computed from it counts the last work of tasks that ended. */
static uint64_t registry_exited_reductions(void)
{
	return registry_sum(COUNT_EXIT_REDUCTIONS);
}

/* Record the final figures in the exit ring, free the slot (even generation) and keep its
 * number in this thread's cache for the next spawn. */
SONDE_API void sonde_task_exit(sonde_task *task, const char *reason)
{
	struct registry_cache *c = registry_cache_get();
	struct registry_chunk *ch;
	struct registry_cold *cold;
	struct registry_exit rec;
	uint32_t idx, gen, meta, xflags;
	size_t len;

	if (task == NULL)
		return;
	gen = atomic_load_explicit(&task->generation_, RLX);
	if ((gen & 1) == 0)
		return; /* already exited: a double exit must not free the slot twice */
	idx = task->index_;
	ch = registry_chunk_of(idx);
	cold = &ch->cold[idx & (REGISTRY_CHUNK_SLOTS - 1)];
	xflags = atomic_load_explicit(&task->xflags_, RLX);
	meta = atomic_load_explicit(&cold->meta, RLX);

	rec.id = atomic_load_explicit(&task->id_, RLX);
	rec.parent_id = atomic_load_explicit(&cold->parent_id, RLX);
	rec.reductions = atomic_load_explicit(&task->reductions_, RLX);
	rec.queue = atomic_load_explicit(&task->queue_, RLX);
	rec.memory = atomic_load_explicit(&task->memory_, RLX);
	if (xflags & REGISTRY_X_THREADMEM)
		rec.memory += registry_thread_bytes(atomic_load_explicit(&cold->allocatedp, RLX),
		                                    atomic_load_explicit(&cold->deallocatedp, RLX)) -
		              atomic_load_explicit(&cold->thread_base, RLX);
	else if (xflags & REGISTRY_X_ARENA)
		rec.memory += atomic_load_explicit(&cold->ext_memory, RLX);
	rec.start_ns = atomic_load_explicit(&task->start_ns_, RLX);
	rec.exit_ns = registry_coarse_ns();
	rec.initial_call = atomic_load_explicit(&cold->initial_call, RLX);
	rec.location = atomic_load_explicit(&task->location_, RLX);
	rec.restarts = atomic_load_explicit(&cold->restarts, RLX);
	rec.kind = meta & 0xff;
	rec.strategy = (meta >> 8) & 0xff;
	rec.status = atomic_load_explicit(&task->status_, RLX);
	registry_read_name(cold, rec.name);
	if (reason == NULL)
		reason = "normal";
	len = strnlen(reason, REGISTRY_REASON_MAX - 1);
	memcpy(rec.reason, reason, len);
	memset(rec.reason + len, 0, REGISTRY_REASON_MAX - len);
	registry_ring_put(c, &rec);

	if (c != NULL && c->self == task)
		c->self = NULL;
	/* Free: even generation. Readers that copied the live task discard their copy. */
	atomic_store_explicit(&task->generation_, gen + 1, REL);
	if (c == NULL) {
		/* no cache (out of memory): straight to the depot, or unused if that fails too */
		(void)registry_depot_put(&idx, 1);
		return;
	}

	if (c->n == CACHE_CAP) {
		size_t moved = registry_depot_put(c->slots + (CACHE_CAP - CACHE_BATCH), CACHE_BATCH);
		c->n -= (uint32_t)moved;
		if (moved == 0)
			return; /* depot out of memory: the slot stays unused, the host goes on */
	}
	c->slots[c->n++] = idx;
}

/* ---- the rare calls ------------------------------------------------------------------------ */

static struct registry_cold *registry_cold_of(const sonde_task *task)
{
	uint32_t idx = task->index_;

	return &registry_chunk_of(idx)->cold[idx & (REGISTRY_CHUNK_SLOTS - 1)];
}

/* The id lives on the hot line: no lookup. */
SONDE_API uint64_t sonde_task_id(const sonde_task *task)
{
	return task ? atomic_load_explicit(&((sonde_task *)task)->id_, RLX) : 0;
}

/* A supervisor counts a child's restart; the process-wide count feeds the totals. */
SONDE_API void sonde_task_restarted(sonde_task *task)
{
	if (task == NULL)
		return;
	atomic_fetch_add_explicit(&registry_cold_of(task)->restarts, 1, RLX);
	atomic_fetch_add_explicit(&restarts_total, 1, RLX);
}

/* One bit on the hot line, read by `task` before it would run the inspect callback. */
SONDE_API void sonde_task_set_sensitive(sonde_task *task, int sensitive)
{
	if (task == NULL)
		return;
	if (sensitive)
		atomic_fetch_or_explicit(&task->xflags_, REGISTRY_X_SENSITIVE, RLX);
	else
		atomic_fetch_and_explicit(&task->xflags_, ~REGISTRY_X_SENSITIVE, RLX);
}

/* Rename under the slot's name seqlock, so readers never see half of each name. */
SONDE_API void sonde_task_set_name(sonde_task *task, const char *name)
{
	struct registry_cold *cold;
	uint32_t s;

	if (task == NULL)
		return;
	cold = registry_cold_of(task);
	/* Writers serialise on the odd state; renames are rare and a few stores long. */
	for (;;) {
		s = atomic_load_explicit(&cold->name_seq, RLX);
		if ((s & 1) == 0 &&
		    atomic_compare_exchange_weak_explicit(&cold->name_seq, &s, s + 1, ACQ, RLX))
			break;
		sched_yield();
	}
	atomic_thread_fence(REL);
	registry_store_string(cold->name, NAME_WORDS, name);
	atomic_store_explicit(&cold->name_seq, s + 2, REL);
}

/* The calling thread's current task (thread-local). */
SONDE_API sonde_task *sonde_task_self(void)
{
	return cachep != NULL ? cachep->self : NULL;
}

/* For applications that move tasks between threads (coroutines, work stealing). */
SONDE_API void sonde_task_set_self(sonde_task *task)
{
	struct registry_cache *c = registry_cache_get();

	if (c != NULL)
		c->self = task;
}

/* A jemalloc arena of the task's own, so the agent can read its memory exactly. */
SONDE_API int sonde_task_arena(sonde_task *task)
{
	const struct jemalloc_api *je = jemalloc_get();
	struct registry_cold *cold;
	unsigned arena;
	size_t len = sizeof arena;
	int32_t have;

	if (task == NULL || je == NULL)
		return -1;
	cold = registry_cold_of(task);
	have = atomic_load_explicit(&cold->arena, RLX);
	if (have >= 0)
		return have;
	if (je->mallctl("arenas.create", &arena, &len, NULL, 0) != 0)
		return -1;
	atomic_store_explicit(&cold->arena, (int32_t)arena, RLX);
	atomic_fetch_or_explicit(&task->xflags_, REGISTRY_X_ARENA, RLX);
	return (int)arena;
}

/* ---- agent-side reads --------------------------------------------------------------------- */

int registry_read(uint32_t idx, uint32_t want_gen, struct registry_row *out)
{
	struct registry_chunk *ch;
	struct sonde_task *t;
	struct registry_cold *cold;
	struct registry_link *link;
	uint32_t g1, g2, meta, i = idx & (REGISTRY_CHUNK_SLOTS - 1);

	if (idx >= registry_slot_limit() || (ch = registry_chunk(idx >> REGISTRY_CHUNK_SHIFT)) == NULL)
		return -1;
	t = &ch->hot[i];
	cold = &ch->cold[i];
	link = &ch->link[i];
	g1 = atomic_load_explicit(&t->generation_, ACQ);
	if ((g1 & 1) == 0 || (want_gen != 0 && g1 != want_gen))
		return -1;
	out->idx = idx;
	out->gen = g1;
	out->id = atomic_load_explicit(&t->id_, RLX);
	out->parent_id = atomic_load_explicit(&cold->parent_id, RLX);
	out->parent_idx = atomic_load_explicit(&link->parent_idx, RLX);
	out->parent_gen = atomic_load_explicit(&link->parent_gen, RLX);
	registry_read_name(cold, out->name);
	out->initial_call = atomic_load_explicit(&cold->initial_call, RLX);
	out->location = atomic_load_explicit(&t->location_, RLX);
	out->reductions = atomic_load_explicit(&t->reductions_, RLX);
	out->queue = atomic_load_explicit(&t->queue_, RLX);
	out->memory_explicit = atomic_load_explicit(&t->memory_, RLX);
	out->xflags = atomic_load_explicit(&t->xflags_, RLX);
	out->memory_ext = (out->xflags & REGISTRY_X_EXT) ? atomic_load_explicit(&cold->ext_memory, RLX)
	                                                 : 0;
	out->memory = out->memory_explicit + out->memory_ext;
	out->status = atomic_load_explicit(&t->status_, RLX);
	meta = atomic_load_explicit(&cold->meta, RLX);
	out->kind = meta & 0xff;
	out->strategy = (meta >> 8) & 0xff;
	out->restarts = atomic_load_explicit(&cold->restarts, RLX);
	out->max_restarts = atomic_load_explicit(&cold->max_restarts, RLX);
	out->max_seconds = atomic_load_explicit(&cold->max_seconds, RLX);
	out->arena = atomic_load_explicit(&cold->arena, RLX);
	out->tid = atomic_load_explicit(&cold->tid, RLX);
	out->start_ns = atomic_load_explicit(&t->start_ns_, RLX);
	out->inspect = atomic_load_explicit(&cold->inspect, RLX);
	out->inspect_arg = atomic_load_explicit(&cold->inspect_arg, RLX);
	atomic_thread_fence(ACQ);
	g2 = atomic_load_explicit(&t->generation_, RLX);
	return g1 == g2 ? 0 : -1;
}

/* No id index is kept (it would cost every spawn and exit): `task id=N` scans the hot lines. */
long registry_find(uint64_t id, uint32_t *gen)
{
	uint32_t limit = registry_slot_limit();

	if (id == 0)
		return -1;
	for (uint32_t c = 0; (c << REGISTRY_CHUNK_SHIFT) < limit; c++) {
		uint32_t n;
		struct registry_chunk *ch = registry_chunk_span(c, limit, &n);

		if (ch == NULL)
			continue;
		for (uint32_t i = 0; i < n; i++) {
			struct sonde_task *t = &ch->hot[i];
			uint32_t g1 = atomic_load_explicit(&t->generation_, ACQ), g2;

			if ((g1 & 1) == 0 || atomic_load_explicit(&t->id_, RLX) != id)
				continue;
			atomic_thread_fence(ACQ);
			g2 = atomic_load_explicit(&t->generation_, RLX);
			if (g1 != g2)
				continue;
			if (gen)
				*gen = g1;
			return (long)((c << REGISTRY_CHUNK_SHIFT) | i);
		}
	}
	return -1;
}

/* Set by the first spawn; commands fall back to OS threads until then. */
int registry_used(void)
{
	return atomic_load_explicit(&used, RLX);
}

/* ---- the tick: window snapshot, ext memory, totals ---------------------------------------- */

static struct registry_totals last_totals;
static struct registry_window window;
static uint64_t tick_cost_ns, tick_slots;

/* jemalloc arena stats MIBs ("stats.arenas.<i>.small.allocated" / "large.allocated"), looked up
 * once; the arena number is patched into position 2 for each read. */
static size_t mib_small[6], mib_large[6], mib_epoch[1];
static size_t miblen_small, miblen_large, miblen_epoch;
static int mibs_state; /* 0 unknown, 1 ready, -1 unavailable */

static int registry_arena_mibs(const struct jemalloc_api *je)
{
	if (mibs_state != 0)
		return mibs_state;
	mibs_state = -1;
	miblen_small = 6;
	miblen_large = 6;
	miblen_epoch = 1;
	if (je->nametomib("stats.arenas.0.small.allocated", mib_small, &miblen_small) == 0 &&
	    je->nametomib("stats.arenas.0.large.allocated", mib_large, &miblen_large) == 0 &&
	    je->nametomib("epoch", mib_epoch, &miblen_epoch) == 0)
		mibs_state = 1;
	return mibs_state;
}

/* Bytes allocated in an arena (small + large), as of the last epoch; -1 if unreadable. */
static int64_t registry_arena_bytes(const struct jemalloc_api *je, int arena)
{
	size_t small = 0, large = 0, len = sizeof small;

	mib_small[2] = (size_t)arena;
	mib_large[2] = (size_t)arena;
	if (je->bymib(mib_small, miblen_small, &small, &len, NULL, 0) != 0)
		return -1;
	len = sizeof large;
	if (je->bymib(mib_large, miblen_large, &large, &len, NULL, 0) != 0)
		return -1;
	return (int64_t)(small + large);
}

/* The memory a tick attributes to a task beyond explicit accounting, or keeps the old value. */
static void registry_tick_ext(struct registry_cold *cold, uint32_t xflags,
                              const struct jemalloc_api *je, int epoch_ok)
{
	int64_t v;

	if (xflags & REGISTRY_X_ARENA) {
		if (je == NULL || !epoch_ok)
			return;
		v = registry_arena_bytes(je, atomic_load_explicit(&cold->arena, RLX));
		if (v >= 0)
			atomic_store_explicit(&cold->ext_memory, v, RLX);
	} else if (xflags & REGISTRY_X_THREADMEM) {
		v = registry_thread_bytes(atomic_load_explicit(&cold->allocatedp, RLX),
		                          atomic_load_explicit(&cold->deallocatedp, RLX)) -
		    atomic_load_explicit(&cold->thread_base, RLX);
		atomic_store_explicit(&cold->ext_memory, v, RLX);
	}
}

/* The tick measures its own cost with this clock. */
static uint64_t registry_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One pass over the hot lines per sampling interval: ext memory (arenas, bound threads), the
 * window deltas (written only for slots that changed, so idle tasks cost a read) and totals. */
void registry_tick(uint64_t now_ns)
{
	const struct jemalloc_api *je = NULL;
	struct registry_totals tot = {0};
	uint32_t limit = registry_slot_limit();
	uint64_t t0 = registry_mono_ns(), epoch = 1;
	size_t len = sizeof epoch;
	int epoch_done = 0, epoch_ok = 0;

	/* Exited work is read before the scan: a task exiting during the scan is then counted
	 * once (live) or, for a few microseconds' window, in the next tick; never twice. */
	tot.reductions = registry_exited_reductions();
	for (uint32_t c = 0; (c << REGISTRY_CHUNK_SHIFT) < limit; c++) {
		uint32_t n;
		struct registry_chunk *ch = registry_chunk_span(c, limit, &n);

		if (ch == NULL)
			continue;
		for (uint32_t i = 0; i < n; i++) {
			struct sonde_task *t = &ch->hot[i];
			uint32_t g1 = atomic_load_explicit(&t->generation_, ACQ), g2, xf;
			uint64_t red, queue, id;
			int64_t mem;

			if ((g1 & 1) == 0) {
				ch->snap_gen[i] = g1;
				continue;
			}
			xf = atomic_load_explicit(&t->xflags_, RLX);
			if (xf & REGISTRY_X_EXT) {
				if ((xf & REGISTRY_X_ARENA) && !epoch_done) {
					epoch_done = 1;
					je = jemalloc_get();
					epoch_ok = je != NULL && registry_arena_mibs(je) == 1 &&
					           je->bymib(mib_epoch, miblen_epoch, &epoch, &len, &epoch,
					                     sizeof epoch) == 0;
				}
				registry_tick_ext(&ch->cold[i], xf, je, epoch_ok);
			}
			red = atomic_load_explicit(&t->reductions_, RLX);
			mem = atomic_load_explicit(&t->memory_, RLX);
			queue = atomic_load_explicit(&t->queue_, RLX);
			id = atomic_load_explicit(&t->id_, RLX);
			if (xf & REGISTRY_X_EXT)
				mem += atomic_load_explicit(&ch->cold[i].ext_memory, RLX);
			atomic_thread_fence(ACQ);
			g2 = atomic_load_explicit(&t->generation_, RLX);
			if (g1 != g2) {
				ch->snap_gen[i] = g2 & ~1u; /* exited meanwhile: not in this window */
				continue;
			}
			tot.live++;
			tot.reductions += red;
			tot.queue += queue;
			tot.memory += mem;
			if (ch->snap_gen[i] == g1) {
				uint64_t dr = red - ch->snap_red[i];
				int64_t dm = mem - ch->snap_mem[i];

				if (dr == 0 && dm == 0 && !ch->snap_moved[i])
					continue; /* idle: nothing to write */
				ch->win_red[i] = dr;
				ch->win_mem[i] = dm;
				ch->snap_moved[i] = dr != 0 || dm != 0;
			} else {
				/* born during the window: everything it has is new */
				ch->snap_gen[i] = g1;
				ch->snap_id[i] = id;
				ch->win_red[i] = red;
				ch->win_mem[i] = mem;
				ch->snap_moved[i] = 1;
			}
			ch->snap_red[i] = red;
			ch->snap_mem[i] = mem;
		}
	}
	tot.exited = registry_exited_count();
	tot.spawned = tot.live + tot.exited;
	tot.restarts = atomic_load_explicit(&restarts_total, RLX);
	last_totals = tot;
	window.window_ns = window.ticks > 0 ? now_ns - window.last_tick_ns : 0;
	window.last_tick_ns = now_ns;
	window.ticks++;
	tick_cost_ns = registry_mono_ns() - t0;
	tick_slots = limit;
}

/* The sampler's view: live/memory/work/queue as of the last tick, counts as of now. */
void registry_totals(struct registry_totals *out)
{
	*out = last_totals;
	out->exited = registry_exited_count();
	out->restarts = atomic_load_explicit(&restarts_total, RLX);
	if (out->spawned < out->live + out->exited)
		out->spawned = out->live + out->exited;
}

/* Window mode's length and freshness. */
void registry_window(struct registry_window *out)
{
	*out = window;
}

/* What the last tick cost the agent thread. */
void registry_tick_cost(uint64_t *ns, uint64_t *slots)
{
	*ns = tick_cost_ns;
	*slots = tick_slots;
}

/* Wire names of the enums in sonde.h. */
const char *registry_status_name(uint32_t status)
{
	static const char *const names[] = {"running", "runnable", "waiting", "blocked", "exiting"};

	return status < sizeof names / sizeof names[0] ? names[status] : "unknown";
}

/* "worker" or "supervisor". */
const char *registry_kind_name(uint32_t kind)
{
	return kind == SONDE_SUPERVISOR ? "supervisor" : "worker";
}

/* OTP's names for the restart strategies. */
const char *registry_strategy_name(uint32_t strategy)
{
	static const char *const names[] = {"one_for_one", "one_for_all", "rest_for_one",
	                                    "simple_one_for_one"};

	return strategy < sizeof names / sizeof names[0] ? names[strategy] : "unknown";
}

/* ---- the probe ---------------------------------------------------------------------------- */

/* The agent's configured exit ring size replaces the default once it starts. */
static int registry_probe_init(void)
{
	const struct agent_info *ai = agent_info();

	if (ai != NULL && ai->exit_ring > 0 && registry_set_exit_ring(ai->exit_ring) != 0)
		fprintf(stderr, "sonde: exit ring of %u records could not be allocated; keeping %u "
		                "(lower SONDE exit_ring or free memory)\n",
		        ai->exit_ring, registry_exit_ring_capacity());
	return 0;
}

/* The probe's tick is the registry tick. */
static void registry_probe_tick(uint64_t now_ns)
{
	registry_tick(now_ns);
}

/* Tasks outlive the agent (it may be started again): only the scan helper thread is stopped. */
static void registry_probe_fini(void)
{
	scanhelper_shutdown();
}

const struct probe_entry registry_probe = {
	.name = "tasks",
	.init = registry_probe_init,
	.tick = registry_probe_tick,
	.fini = registry_probe_fini,
};
