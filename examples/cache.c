/*
 * cache.c - the profile cache owner: rendered user profiles, bounded, with sampled-LRU eviction
 * (five random candidates, the least recently used goes, as Redis does).
 *
 * Its blobs live in the task's own jemalloc arena (sonde_task_arena(), then
 * mallocx(MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE), bypassing the thread caches so every byte is
 * the arena's), so sonde reads the cache's memory exactly from jemalloc's arena statistics. When
 * jemalloc is not the allocator (for instance under AddressSanitizer) it falls back to malloc()
 * and accounts bytes with sonde_task_memory().
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jemalloc/jemalloc.h>

#include "demo.h"

#define CACHE_CAPACITY 4096          /* entries */
#define CACHE_BUCKETS 8192
#define CACHE_SAMPLE 5               /* eviction candidates */
#define CACHE_NONE UINT32_MAX

struct cache_entry {
	uint32_t user;
	uint32_t len;
	uint32_t next;        /* index of the next entry in the bucket chain, or CACHE_NONE */
	uint64_t last_used_ns;
	char *blob;
};

static struct cache {
	pthread_mutex_t mu;
	sonde_task *task;
	int arena;                          /* jemalloc arena, or -1: malloc + explicit account */
	struct cache_entry entries[CACHE_CAPACITY];
	uint32_t buckets[CACHE_BUCKETS];
	uint32_t count;
	uint64_t bytes, hits, misses, evictions, loads;
	struct demo_rng rng;
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER, .arena = -1};

/* Allocate a blob where the cache's memory is measured: its arena, or accounted by hand. */
static char *cache_alloc(size_t len)
{
	if (cache.arena >= 0)
		return mallocx(len, MALLOCX_ARENA((unsigned)cache.arena) | MALLOCX_TCACHE_NONE);
	char *p = malloc(len);
	if (p != NULL)
		sonde_task_memory(cache.task, (int64_t)len);
	return p;
}

/* Free a blob the way cache_alloc() allocated it, keeping the account exact. */
static void cache_free(char *p, size_t len)
{
	if (p == NULL)
		return;
	if (cache.arena >= 0) {
		dallocx(p, MALLOCX_TCACHE_NONE);
		return;
	}
	free(p);
	sonde_task_memory(cache.task, -(int64_t)len);
}

/* Multiplicative hashing spreads sequential user ids over the buckets. */
static uint32_t cache_bucket(uint32_t user)
{
	return (user * 2654435761u) % CACHE_BUCKETS;
}

/* Index of user's entry, or CACHE_NONE. Caller holds the lock. */
static uint32_t cache_find(uint32_t user)
{
	for (uint32_t i = cache.buckets[cache_bucket(user)]; i != CACHE_NONE; i = cache.entries[i].next)
		if (cache.entries[i].user == user)
			return i;
	return CACHE_NONE;
}

/* Make the link that points at entry i point at target instead (unlink, or follow a move). */
static void cache_relink(uint32_t i, uint32_t target)
{
	uint32_t *link = &cache.buckets[cache_bucket(cache.entries[i].user)];
	while (*link != i)
		link = &cache.entries[*link].next;
	*link = target;
}

/* Evict the least recently used of a few random entries, keeping entries[] dense. */
static void cache_evict_one(void)
{
	uint32_t victim = demo_rng_below(&cache.rng, cache.count);
	for (int k = 1; k < CACHE_SAMPLE; k++) {
		uint32_t c = demo_rng_below(&cache.rng, cache.count);
		if (cache.entries[c].last_used_ns < cache.entries[victim].last_used_ns)
			victim = c;
	}
	struct cache_entry *v = &cache.entries[victim];
	cache_relink(victim, v->next);
	cache.bytes -= v->len;
	cache_free(v->blob, v->len);
	cache.evictions++;
	uint32_t last = --cache.count;
	if (victim != last) {
		cache_relink(last, victim);
		cache.entries[victim] = cache.entries[last];
	}
}

/* "Load from the user service": render the profile as the real thing would, padded to a size
 * that varies per user (256..1535 bytes). */
static uint32_t cache_render(uint32_t user, char *blob, uint32_t len)
{
	static const char *const plans[] = {"free", "pro", "team", "enterprise"};
	int n = snprintf(blob, len,
	                 "{\"id\":%u,\"handle\":\"user%u\",\"plan\":\"%s\",\"locale\":\"en-GB\","
	                 "\"avatar\":\"https://cdn.example.net/a/%08x.png\",\"bio\":\"",
	                 user, user, plans[user % 4], demo_hash(&user, sizeof user));
	uint32_t i = n > 0 && (uint32_t)n < len ? (uint32_t)n : 0;
	for (; i + 2 < len; i++)
		blob[i] = "lorem ipsum dolor sit amet "[i % 27];
	blob[len - 2] = '"';
	blob[len - 1] = '}';
	return len;
}

/* Insert user's freshly loaded profile. Caller holds the lock. */
static uint32_t cache_insert(uint32_t user, uint64_t now)
{
	uint32_t len = 256 + demo_hash(&user, sizeof user) % 1280;
	char *blob = cache_alloc(len);
	if (blob == NULL)
		return CACHE_NONE;
	if (cache.count == CACHE_CAPACITY)
		cache_evict_one();
	uint32_t i = cache.count++;
	struct cache_entry *e = &cache.entries[i];
	e->user = user;
	e->len = cache_render(user, blob, len);
	e->blob = blob;
	e->last_used_ns = now;
	e->next = cache.buckets[cache_bucket(user)];
	cache.buckets[cache_bucket(user)] = i;
	cache.bytes += len;
	cache.loads++;
	return i;
}

/* Request handlers (two threads) fetch profiles here; work goes to the cache task with the
 * shared (atomic) call since several threads report it. */
size_t cache_fetch(uint32_t user, char *out, size_t size)
{
	uint64_t now = demo_now_ns();
	size_t n = 0;
	SONDE_TASK_AT(cache.task);
	pthread_mutex_lock(&cache.mu);
	uint32_t i = cache_find(user);
	if (i != CACHE_NONE) {
		cache.hits++;
	} else {
		cache.misses++;
		i = cache_insert(user, now);
	}
	if (i != CACHE_NONE) {
		struct cache_entry *e = &cache.entries[i];
		e->last_used_ns = now;
		n = e->len < size ? e->len : size;
		memcpy(out, e->blob, n);
	}
	pthread_mutex_unlock(&cache.mu);
	sonde_task_work_shared(cache.task, 1 + n / 256);
	return n;
}

/* Counters for the metrics flush. */
void cache_stats(uint64_t *entries, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&cache.mu);
	*entries = cache.count;
	*hits = cache.hits;
	*misses = cache.misses;
	pthread_mutex_unlock(&cache.mu);
}

/* Inspect: fill, hit ratio and where its memory is measured. */
static void cache_inspect(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	uint64_t now = demo_now_ns(), oldest = now;
	pthread_mutex_lock(&cache.mu);
	for (uint32_t i = 0; i < cache.count; i++)
		if (cache.entries[i].last_used_ns < oldest)
			oldest = cache.entries[i].last_used_ns;
	demo_emitf(emit, ctx, "entries", "%u of %u", cache.count, CACHE_CAPACITY);
	demo_emit_bytes(emit, ctx, "blob_bytes", cache.bytes);
	demo_emitf(emit, ctx, "hits", "%llu", (unsigned long long)cache.hits);
	demo_emitf(emit, ctx, "misses", "%llu", (unsigned long long)cache.misses);
	demo_emitf(emit, ctx, "hit_ratio", "%.1f%%",
	           cache.hits + cache.misses
	                   ? 100.0 * (double)cache.hits / (double)(cache.hits + cache.misses)
	                   : 0.0);
	demo_emitf(emit, ctx, "evictions", "%llu (sampled LRU, %d candidates)",
	           (unsigned long long)cache.evictions, CACHE_SAMPLE);
	demo_emit_age(emit, ctx, "least_recently_used", cache.count ? oldest : 0, now);
	if (cache.arena >= 0)
		demo_emitf(emit, ctx, "allocator", "jemalloc arena %d (memory read from arena stats)",
		           cache.arena);
	else
		emit(ctx, "allocator", "malloc, accounted with sonde_task_memory (jemalloc not active)");
	pthread_mutex_unlock(&cache.mu);
}

/* Declare the cache owner, give it its arena, and warm it with the most active users. */
void cache_init(sonde_task *parent)
{
	memset(cache.buckets, 0xff, sizeof cache.buckets);
	demo_rng_seed(&cache.rng, 0xcac4e);
	cache.task = demo_spawn("cache_owner", "cache_init", parent, SONDE_WORKER, 0, 0,
	                        cache_inspect, NULL);
	cache.arena = sonde_task_arena(cache.task);
	if (cache.arena < 0)
		demo_log("cache_owner: jemalloc is not the allocator; accounting cache memory by hand");
	sonde_task_status(cache.task, SONDE_WAITING);
	pthread_mutex_lock(&cache.mu);
	uint64_t now = demo_now_ns();
	for (uint32_t u = 0; u < CACHE_CAPACITY * 3 / 4; u++)
		cache_insert(u, now);
	pthread_mutex_unlock(&cache.mu);
}

/* At shutdown, after sonde has stopped: free every blob. */
void cache_fini(void)
{
	pthread_mutex_lock(&cache.mu);
	for (uint32_t i = 0; i < cache.count; i++)
		cache_free(cache.entries[i].blob, cache.entries[i].len);
	cache.count = 0;
	pthread_mutex_unlock(&cache.mu);
	sonde_task_exit(cache.task, "shutdown");
}
