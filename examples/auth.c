/*
 * auth.c - session signing keys: the task marked SONDE_TASK_SENSITIVE.
 *
 * It holds the secrets that sign session cookies and rotates them every minute. Its inspect
 * callback would print key ids and material, so the task is declared sensitive: sonde must
 * withhold its state (the "withheld" path an operator sees instead), while its work and memory
 * still show like any other task's.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "demo.h"

#define AUTH_KEYS 3              /* current, previous, next */
#define AUTH_KEY_BYTES 32
#define AUTH_ROTATE_NS (60ull * 1000000000ull)

static struct auth {
	pthread_mutex_t mu;
	sonde_task *task;
	unsigned char key[AUTH_KEYS][AUTH_KEY_BYTES];
	unsigned current;
	uint64_t generation, signatures, rotated_ns;
	struct demo_rng rng;
} auth = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Draw fresh key material for one slot. Caller holds the lock. */
static void auth_fill_key(unsigned slot)
{
	for (unsigned i = 0; i < AUTH_KEY_BYTES; i += 8) {
		uint64_t r = demo_rng_next(&auth.rng);
		memcpy(&auth.key[slot][i], &r, 8);
	}
}

/* What an operator must NOT see: this is what sonde withholds for a sensitive task. */
static void auth_inspect(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	char hex[2 * AUTH_KEY_BYTES + 1];
	pthread_mutex_lock(&auth.mu);
	for (unsigned i = 0; i < AUTH_KEY_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", auth.key[auth.current][i]);
	demo_emitf(emit, ctx, "key_generation", "%llu", (unsigned long long)auth.generation);
	emit(ctx, "current_signing_key", hex);
	demo_emitf(emit, ctx, "signatures", "%llu", (unsigned long long)auth.signatures);
	pthread_mutex_unlock(&auth.mu);
}

/* Declare the keys task (sensitive) and generate its first keys. */
void auth_init(sonde_task *parent)
{
	demo_rng_seed(&auth.rng, 0xa17);
	auth.task = demo_spawn("auth_keys", "auth_init", parent, SONDE_WORKER, 0,
	                       SONDE_TASK_SENSITIVE, auth_inspect, NULL);
	sonde_task_memory(auth.task, (int64_t)sizeof auth.key);
	sonde_task_status(auth.task, SONDE_WAITING);
	pthread_mutex_lock(&auth.mu);
	for (unsigned k = 0; k < AUTH_KEYS; k++)
		auth_fill_key(k);
	auth.rotated_ns = demo_now_ns();
	pthread_mutex_unlock(&auth.mu);
}

/* Sign a session token with the current key (a keyed FNV over key and data: a stand-in for
 * HMAC with the same shape of work). Called by request handlers. */
uint64_t auth_sign(const void *data, size_t len)
{
	pthread_mutex_lock(&auth.mu);
	uint32_t h = demo_hash(auth.key[auth.current], AUTH_KEY_BYTES);
	h ^= demo_hash(data, len);
	uint32_t generation = (uint32_t)auth.generation;
	auth.signatures++;
	pthread_mutex_unlock(&auth.mu);
	sonde_task_work_shared(auth.task, 1 + len / 64);
	return ((uint64_t)h << 32) | generation;
}

/* The control thread rotates keys once a minute: previous becomes current's successor. */
void auth_rotate_if_due(uint64_t now_ns)
{
	pthread_mutex_lock(&auth.mu);
	if (now_ns - auth.rotated_ns >= AUTH_ROTATE_NS) {
		SONDE_TASK_AT(auth.task);
		auth.current = (auth.current + 1) % AUTH_KEYS;
		auth_fill_key((auth.current + 1) % AUTH_KEYS);
		auth.generation++;
		auth.rotated_ns = now_ns;
		sonde_task_work_shared(auth.task, 16);
	}
	pthread_mutex_unlock(&auth.mu);
}

/* Keys are wiped at shutdown, as a real key holder would. */
void auth_fini(void)
{
	pthread_mutex_lock(&auth.mu);
	memset(auth.key, 0, sizeof auth.key);
	pthread_mutex_unlock(&auth.mu);
	sonde_task_exit(auth.task, "shutdown");
}
