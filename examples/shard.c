/*
 * shard.c - sixteen key/value shards: the "hot" story.
 *
 * Each shard is a task with a mailbox (a bounded ring of operations) and a chained hash map of
 * real keys ("user:4182:profile", "cart:977", "ratelimit:10.0.3.17"...) with malloc'd values,
 * accounted to the shard. The `shard-io` thread drains every mailbox every few milliseconds and
 * reports the work it did as reductions: one per operation, one per hash-chain step, one per
 * 64 bytes copied. Request handlers read "config:feature_flags" (a 2 KiB blob) on almost every
 * request instead of caching it, so the one shard that owns that key does far more work than its
 * peers: its inspect output shows the key at the top of its hit counts.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define SHARD_RING 2048        /* mailbox capacity, operations */
#define SHARD_BUCKETS 4096     /* hash buckets per shard */
#define SHARD_KEY_MAX 47
#define SHARD_ROUND_MS 10
#define SHARD_TOP_KEYS 5

static const char shard_hot_key_name[] = "config:feature_flags";
#define SHARD_HOT_VALUE_BYTES 2048

struct shard_op_rec {
	uint8_t op;
	uint8_t keylen;
	uint32_t value_len;
	uint32_t value_seed;
	char key[SHARD_KEY_MAX + 1];
};

struct shard_entry {
	struct shard_entry *next;
	uint64_t hits;
	uint32_t hash;
	uint32_t value_len;
	char *value;
	uint8_t keylen;
	char key[];
};

struct shard {
	pthread_mutex_t mu;
	sonde_task *task;
	unsigned index;
	struct shard_op_rec ring[SHARD_RING];
	unsigned head, count;                    /* mailbox */
	struct shard_entry *buckets[SHARD_BUCKETS];
	uint64_t keys, bytes;
	uint64_t gets, hits, misses, sets, incrs, rejected, ops;
	uint64_t longest_chain;
	struct demo_rate op_rate;
};

static struct shard *shards;  /* SHARD_COUNT, calloc'd: ~1 MiB of mailboxes */
static char shard_scratch[SHARD_HOT_VALUE_BYTES * 2];  /* where GETs copy values (shard-io) */

/* Which shard owns a key: the low bits of its hash, as a real sharded store would route. */
unsigned shard_of(const char *key)
{
	return demo_hash(key, strlen(key)) % SHARD_COUNT;
}

/* The key every request reads: the one that makes its shard hot. */
const char *shard_hot_key(void)
{
	return shard_hot_key_name;
}

/* A shard's task, for the story line. */
sonde_task *shard_task(unsigned index)
{
	return shards[index].task;
}

/* Look a key up; counts chain steps into *steps (they are work). Caller holds the lock. */
static struct shard_entry *shard_find(struct shard *s, const char *key, size_t keylen,
                                      uint32_t hash, uint64_t *steps)
{
	struct shard_entry *e = s->buckets[(hash >> 4) % SHARD_BUCKETS];
	uint64_t n = 0;
	for (; e != NULL; e = e->next) {
		n++;
		if (e->hash == hash && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
			break;
	}
	*steps += n;
	if (n > s->longest_chain)
		s->longest_chain = n;
	return e;
}

/* Fill a value deterministically from its seed: cheap, and the bytes are really written. */
static void shard_fill(char *value, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		value[i] = (char)('a' + (seed >> 16) % 26);
	}
}

/* Insert or replace a key's value, keeping the shard's memory account exact. Returns the entry
 * (NULL when out of memory: the write is lost, as a store under pressure would report). */
static struct shard_entry *shard_store(struct shard *s, const char *key, size_t keylen,
                                       uint32_t hash, uint32_t value_len, uint32_t seed,
                                       uint64_t *steps)
{
	struct shard_entry *e = shard_find(s, key, keylen, hash, steps);
	char *value = malloc(value_len ? value_len : 1);
	if (value == NULL)
		return NULL;
	shard_fill(value, value_len, seed);
	if (e == NULL) {
		e = malloc(sizeof *e + keylen + 1);
		if (e == NULL) {
			free(value);
			return NULL;
		}
		e->hits = 0;
		e->hash = hash;
		e->keylen = (uint8_t)keylen;
		memcpy(e->key, key, keylen);
		e->key[keylen] = '\0';
		e->value = NULL;
		e->value_len = 0;
		size_t b = (hash >> 4) % SHARD_BUCKETS;
		e->next = s->buckets[b];
		s->buckets[b] = e;
		s->keys++;
		s->bytes += sizeof *e + keylen + 1;
		sonde_task_memory(s->task, (int64_t)(sizeof *e + keylen + 1));
	}
	s->bytes -= e->value_len;
	sonde_task_memory(s->task, -(int64_t)e->value_len);
	free(e->value);
	e->value = value;
	e->value_len = value_len;
	s->bytes += value_len;
	sonde_task_memory(s->task, value_len);
	return e;
}

/* Apply one mailbox operation; returns its work units. Caller holds the lock. */
static uint64_t shard_apply(struct shard *s, const struct shard_op_rec *op)
{
	uint32_t hash = demo_hash(op->key, op->keylen);
	uint64_t work = 1;
	struct shard_entry *e;

	s->ops++;
	switch (op->op) {
	case SHARD_GET:
		SONDE_TASK_AT(s->task);
		s->gets++;
		e = shard_find(s, op->key, op->keylen, hash, &work);
		if (e == NULL) {
			s->misses++;
			break;
		}
		s->hits++;
		e->hits++;
		uint32_t n = e->value_len < sizeof shard_scratch ? e->value_len : sizeof shard_scratch;
		memcpy(shard_scratch, e->value, n);
		work += n / 64;
		break;
	case SHARD_SET:
		SONDE_TASK_AT(s->task);
		s->sets++;
		e = shard_store(s, op->key, op->keylen, hash, op->value_len, op->value_seed, &work);
		if (e != NULL)
			e->hits++;
		work += op->value_len / 64;
		break;
	case SHARD_INCR:
		SONDE_TASK_AT(s->task);
		s->incrs++;
		e = shard_find(s, op->key, op->keylen, hash, &work);
		if (e == NULL || e->value_len != sizeof(uint64_t))
			e = shard_store(s, op->key, op->keylen, hash, sizeof(uint64_t), 0, &work);
		if (e != NULL) {
			uint64_t v;
			memcpy(&v, e->value, sizeof v);
			v = e->hits == 0 ? 1 : v + 1;
			memcpy(e->value, &v, sizeof v);
			e->hits++;
		}
		break;
	}
	return work;
}

/* Request handlers queue operations here. A full mailbox rejects the operation and counts it:
 * a handler never waits for a shard. */
void shard_submit(enum shard_op op, const char *key, uint32_t value_len, uint32_t value_seed)
{
	size_t keylen = strlen(key);
	if (keylen > SHARD_KEY_MAX)
		keylen = SHARD_KEY_MAX;
	struct shard *s = &shards[demo_hash(key, keylen) % SHARD_COUNT];

	pthread_mutex_lock(&s->mu);
	if (s->count == SHARD_RING) {
		s->rejected++;
	} else {
		struct shard_op_rec *r = &s->ring[(s->head + s->count) % SHARD_RING];
		r->op = (uint8_t)op;
		r->keylen = (uint8_t)keylen;
		r->value_len = value_len;
		r->value_seed = value_seed;
		memcpy(r->key, key, keylen);
		r->key[keylen] = '\0';
		s->count++;
		sonde_task_queue(s->task, s->count);
	}
	pthread_mutex_unlock(&s->mu);
}

/* Inspect: size, traffic and the keys that take it, so a hot key shows by name. */
static void shard_inspect(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	struct shard *s = arg;
	struct shard_entry *top[SHARD_TOP_KEYS] = {0};
	uint64_t now = demo_now_ns();

	pthread_mutex_lock(&s->mu);
	for (size_t b = 0; b < SHARD_BUCKETS; b++) {
		for (struct shard_entry *e = s->buckets[b]; e != NULL; e = e->next) {
			if (top[SHARD_TOP_KEYS - 1] != NULL && e->hits <= top[SHARD_TOP_KEYS - 1]->hits)
				continue;
			int i = SHARD_TOP_KEYS - 1;
			while (i > 0 && (top[i - 1] == NULL || top[i - 1]->hits < e->hits)) {
				top[i] = top[i - 1];
				i--;
			}
			top[i] = e;
		}
	}
	demo_emitf(emit, ctx, "keys", "%llu", (unsigned long long)s->keys);
	demo_emit_bytes(emit, ctx, "bytes", s->bytes);
	demo_emitf(emit, ctx, "mailbox", "%u of %u operations", s->count, SHARD_RING);
	demo_emitf(emit, ctx, "ops_rate", "%.1f ops/s (last 10 s)",
	           demo_rate_per_s(&s->op_rate, s->ops, now));
	demo_emitf(emit, ctx, "ops", "%llu (get %llu: hit %llu miss %llu; set %llu; incr %llu)",
	           (unsigned long long)s->ops, (unsigned long long)s->gets,
	           (unsigned long long)s->hits, (unsigned long long)s->misses,
	           (unsigned long long)s->sets, (unsigned long long)s->incrs);
	demo_emitf(emit, ctx, "rejected_full_mailbox", "%llu", (unsigned long long)s->rejected);
	demo_emitf(emit, ctx, "longest_chain", "%llu entries", (unsigned long long)s->longest_chain);
	for (int i = 0; i < SHARD_TOP_KEYS && top[i] != NULL; i++) {
		char key[32];
		snprintf(key, sizeof key, "top_key.%d", i + 1);
		demo_emitf(emit, ctx, key, "%s hits=%llu (%.1f%% of this shard's hits) value=%u B",
		           top[i]->key, (unsigned long long)top[i]->hits,
		           s->hits + s->sets + s->incrs
		                   ? 100.0 * (double)top[i]->hits / (double)(s->hits + s->sets + s->incrs)
		                   : 0.0,
		           top[i]->value_len);
	}
	pthread_mutex_unlock(&s->mu);
}

/* Declare the shards under their supervisor and preload them: the feature-flags blob and a few
 * thousand user profiles, as after a restore from a snapshot. */
void shard_init(sonde_task *parent)
{
	struct demo_rng rng;
	char key[64];
	uint64_t steps = 0;

	shards = calloc(SHARD_COUNT, sizeof *shards);
	if (shards == NULL) {
		demo_log("cannot allocate the shards: out of memory");
		exit(1);
	}
	for (unsigned i = 0; i < SHARD_COUNT; i++) {
		struct shard *s = &shards[i];
		char name[16];
		pthread_mutex_init(&s->mu, NULL);
		s->index = i;
		snprintf(name, sizeof name, "shard/%u", i);
		s->task = demo_spawn(name, "shard_thread", parent, SONDE_WORKER, 0, 0, shard_inspect, s);
		sonde_task_status(s->task, SONDE_WAITING);
	}
	demo_rng_seed(&rng, 0x5eed);
	struct shard *hot = &shards[shard_of(shard_hot_key_name)];
	shard_store(hot, shard_hot_key_name, strlen(shard_hot_key_name),
	            demo_hash(shard_hot_key_name, strlen(shard_hot_key_name)), SHARD_HOT_VALUE_BYTES,
	            42, &steps);
	for (unsigned u = 0; u < 4000; u++) {
		int n = snprintf(key, sizeof key, "user:%u:profile", u);
		uint32_t h = demo_hash(key, (size_t)n);
		shard_store(&shards[h % SHARD_COUNT], key, (size_t)n, h, 128 + demo_rng_below(&rng, 384),
		            u, &steps);
	}
}

/* Drain one shard's mailbox and apply every operation; the shard-io thread is the shard task's
 * only writer of work, so it uses the single-writer sonde_task_work(). */
static void shard_drain(struct shard *s, uint64_t now)
{
	uint64_t work = 0;
	pthread_mutex_lock(&s->mu);
	if (s->count > 0) {
		sonde_task_status(s->task, SONDE_RUNNING);
		while (s->count > 0) {
			work += shard_apply(s, &s->ring[s->head]);
			s->head = (s->head + 1) % SHARD_RING;
			s->count--;
		}
		sonde_task_queue(s->task, 0);
		sonde_task_status(s->task, SONDE_WAITING);
	}
	demo_rate_mark(&s->op_rate, s->ops, now);
	pthread_mutex_unlock(&s->mu);
	if (work)
		sonde_task_work(s->task, work);
}

/* The shard-io thread: one event loop serving all sixteen shards' mailboxes. */
void *shard_thread(void *arg)
{
	while (!atomic_load(&demo_stopping)) {
		demo_sleep_ms(SHARD_ROUND_MS);
		uint64_t now = demo_now_ns();
		for (unsigned i = 0; i < SHARD_COUNT; i++)
			shard_drain(&shards[i], now);
	}
	return NULL;
}

/* Operations applied by all shards, for the metrics flush. */
uint64_t shard_ops_total(void)
{
	uint64_t total = 0;
	for (unsigned i = 0; i < SHARD_COUNT; i++) {
		pthread_mutex_lock(&shards[i].mu);
		total += shards[i].ops;
		pthread_mutex_unlock(&shards[i].mu);
	}
	return total;
}

/* At shutdown, after sonde has stopped: free every key and value; the shards exit. */
void shard_fini(void)
{
	if (shards == NULL)
		return;
	for (unsigned i = 0; i < SHARD_COUNT; i++) {
		for (size_t b = 0; b < SHARD_BUCKETS; b++) {
			struct shard_entry *e = shards[i].buckets[b];
			while (e != NULL) {
				struct shard_entry *next = e->next;
				free(e->value);
				free(e);
				e = next;
			}
		}
		sonde_task_exit(shards[i].task, "shutdown");
		pthread_mutex_destroy(&shards[i].mu);
	}
	free(shards);
	shards = NULL;
}
