/*
 * demo.h - the pieces of `sonde-demo`, a small but real service built to be observed with sonde.
 *
 * The service is a toy key/value front end: acceptors take connections, connection handlers parse
 * requests and fan them out to sixteen shards (hash maps with real keys), a profile cache answers
 * user look-ups, an auth task signs sessions, every request is access-logged through a log sink,
 * and a metrics task flushes counters once a second. Four problems are planted, each a story an
 * operator should find with sonde (see `sonde-demo --help`):
 *   leak     one connection whose peer never opens its receive window: its unsent updates pile up;
 *   hot      one shard owning the key every request reads (the feature-flags blob);
 *   backlog  the log sink, whose synchronous downstream acknowledgement is slower than the
 *            request rate, so its mailbox keeps growing (bounded; beyond the bound lines drop);
 *   crash    one acceptor that dies every few seconds on a peer reset before accept, restarted by
 *            its supervisor under a new task id.
 *
 * Threads: `control` (acceptor pool, idle-session keep-alives, key rotation), `net-io/0..1`
 * (connection handlers), `shard-io` (the shards' mailboxes), `log-sink` (the slow consumer),
 * `metrics` (bound to the metrics task). Each module's state is guarded by its own mutex because
 * sonde runs inspect callbacks on an agent helper thread, concurrently with these threads.
 */
#ifndef SONDE_DEMO_H
#define SONDE_DEMO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sonde.h"

/* Everything the command line sets; defaults in sonde-demo.c. */
struct demo_config {
	const char *name;            /* --name: the service name sonde shows */
	unsigned interval_ms;        /* --interval-ms: sonde's sampling interval, 0 = sonde's default */
	unsigned long idle_tasks;    /* --tasks: idle sessions parked under conn_sup */
	unsigned acceptors;          /* --acceptors: acceptor pool size */
	unsigned keepalive_conns;    /* --conns: long-lived client connections */
	unsigned request_rate;       /* --rate: requests per second over all connections */
	unsigned accept_rate;        /* --accept-rate: new short-lived connections per second */
	unsigned leak_kib_s;         /* --leak-rate: KiB per second the stuck connection retains */
	unsigned leak_cap_mib;       /* --leak-cap: MiB retained before the peer's window reopens */
	unsigned sink_rate;          /* --sink-rate: log lines per second the sink can deliver */
	unsigned long backlog_max;   /* --backlog-max: log lines queued before new ones are dropped */
	unsigned crash_every_ms;     /* --crash-every: mean time between acceptor crashes, ms */
	uint64_t seed;               /* --seed: random seed */
};

extern struct demo_config demo_config;

/* Set by the main thread on SIGINT/SIGTERM; every worker thread polls it once per round. */
extern atomic_bool demo_stopping;

/* --- util.c: time, randomness, logging, task helpers ---------------------------------------- */

uint64_t demo_now_ns(void);                      /* CLOCK_MONOTONIC, ns */
void demo_sleep_ms(unsigned ms);
void demo_log(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* stderr */

struct demo_rng { uint64_t s; };
void demo_rng_seed(struct demo_rng *r, uint64_t salt);
uint64_t demo_rng_next(struct demo_rng *r);
uint32_t demo_rng_below(struct demo_rng *r, uint32_t n);  /* uniform in [0, n) */
double demo_rng_unit(struct demo_rng *r);                 /* uniform in [0, 1) */
unsigned demo_rng_poisson(struct demo_rng *r, double mean);

/* FNV-1a; the shards and the cache hash with it. */
uint32_t demo_hash(const void *data, size_t len);

/* A per-second event counter that answers "how many per second over the last N seconds";
 * updated by one thread, read under the owner's mutex. */
#define DEMO_RATE_SLOTS 11
struct demo_rate {
	uint64_t count[DEMO_RATE_SLOTS];
	uint64_t sec[DEMO_RATE_SLOTS];
};
void demo_rate_mark(struct demo_rate *r, uint64_t total, uint64_t now_ns);
double demo_rate_per_s(const struct demo_rate *r, uint64_t total, uint64_t now_ns);

/* Spawn a task, exiting the process with a clear message if sonde cannot (out of memory). */
sonde_task *demo_spawn(const char *name, const char *initial_call, sonde_task *parent,
                       enum sonde_kind kind, enum sonde_strategy strategy, unsigned flags,
                       sonde_inspect_fn inspect, void *arg);

/* emit() helpers for inspect callbacks: printf-style value, or a byte count with its unit. */
void demo_emitf(sonde_emit_fn emit, void *ctx, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void demo_emit_bytes(sonde_emit_fn emit, void *ctx, const char *key, uint64_t bytes);
void demo_emit_age(sonde_emit_fn emit, void *ctx, const char *key, uint64_t since_ns,
                   uint64_t now_ns);

/* Start a named thread with every signal blocked (the main thread alone takes SIGINT/SIGTERM). */
void demo_thread_start(void *(*fn)(void *), void *arg, const char *name, pthread_t *tid_out);
void demo_thread_join(pthread_t tid);

/* --- the supervision tree (sonde-demo.c) ------------------------------------------------------ */

struct demo_tree {
	sonde_task *app_sup;
	sonde_task *pool_sup;
	sonde_task *shard_sup;
	sonde_task *conn_sup;
};
extern struct demo_tree demo_tree;

/* --- sink.c: the log sink (backlog story) ------------------------------------------------- */

void sink_init(sonde_task *parent);
void sink_post(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* any thread */
void *sink_thread(void *arg);
sonde_task *sink_task(void);
uint64_t sink_queue_length(void);
void sink_fini(void);

/* --- shard.c: sixteen hash-map shards (hot story) ------------------------------------------ */

#define SHARD_COUNT 16
enum shard_op { SHARD_GET, SHARD_SET, SHARD_INCR };
void shard_init(sonde_task *parent);
/* Queue one operation on the shard that owns key; never blocks (a full mailbox rejects). */
void shard_submit(enum shard_op op, const char *key, uint32_t value_len, uint32_t value_seed);
void *shard_thread(void *arg);
const char *shard_hot_key(void);
unsigned shard_of(const char *key);
sonde_task *shard_task(unsigned index);
uint64_t shard_ops_total(void);
void shard_fini(void);

/* --- cache.c: the profile cache, in its own jemalloc arena ---------------------------------- */

void cache_init(sonde_task *parent);
/* Copy user's rendered profile into out (at most size bytes); returns its length. Any thread. */
size_t cache_fetch(uint32_t user, char *out, size_t size);
void cache_stats(uint64_t *entries, uint64_t *hits, uint64_t *misses);
void cache_fini(void);

/* --- auth.c: session signing keys (the sensitive task) -------------------------------------- */

void auth_init(sonde_task *parent);
uint64_t auth_sign(const void *data, size_t len);  /* any thread */
void auth_rotate_if_due(uint64_t now_ns);          /* control thread */
void auth_fini(void);

/* --- conn.c: connections, the stuck peer (leak story), idle sessions ------------------------ */

#define CONN_IO_THREADS 2
void conn_init(void);
/* Open a connection from peer (e.g. "10.0.3.17:51522") living lifetime_ms (0: keep-alive). */
void conn_open(const char *peer, unsigned lifetime_ms);
void conn_open_stuck(const char *peer);
void *conn_io_thread(void *arg);                   /* arg: (void *)(uintptr_t)index */
void conn_park_idle(unsigned long n);              /* --tasks */
void conn_touch_idle(struct demo_rng *rng, unsigned n); /* control thread: keep-alives */
sonde_task *conn_stuck_task(void);
const char *conn_stuck_peer(void);
void conn_stats(uint64_t *open, uint64_t *opened, uint64_t *requests);
void conn_fini(void);

/* --- pool.c: the acceptor pool (crash story) ----------------------------------------------- */

void pool_init(sonde_task *parent);
void pool_round(struct demo_rng *rng, uint64_t now_ns, double dt_s);  /* control thread */
unsigned pool_crasher_index(void);
uint64_t pool_crasher_first_id(void);
void pool_fini(void);

/* --- metrics.c: the metrics flusher, bound to its thread ------------------------------------ */

void *metrics_thread(void *arg);

#endif
