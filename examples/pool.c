/*
 * pool.c - the acceptor pool: `acceptor_pool` (one_for_one, 20 restarts in 60 s) over
 * `acceptor/0..N-1`, driven by the control thread: the "crash" story.
 *
 * Acceptors take new connections off a simulated listen socket (Poisson arrivals at
 * --accept-rate) and hand them to conn_sup. One acceptor has a bug: when a peer resets before the
 * accept completes, the peer address it gets is nil and it dereferences it anyway. That happens
 * every --crash-every ms or so; the task exits with "badarg: nil peer", the pool supervisor counts
 * a restart (sonde_task_restarted on the supervisor) and starts a new incarnation under a new
 * task id with the same name. The slot remembers the last error so the new incarnation's inspect
 * output shows it.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define POOL_INTENSITY_RESTARTS 20
#define POOL_INTENSITY_SECONDS 60
#define POOL_CRASH_REASON "badarg: nil peer"

struct acceptor {
	sonde_task *task;
	unsigned index, incarnation;
	uint64_t spawned_ns, crash_at_ns;   /* crash_at 0: this acceptor does not crash */
	uint64_t accepted, accepted_total, crashes;
	char last_peer[32];
	char last_error[96];
	uint64_t last_error_ns;
};

static struct pool {
	pthread_mutex_t mu;
	sonde_task *sup;
	struct acceptor *acceptors;
	unsigned n, crasher;
	uint64_t restarts, first_crasher_id;
	uint64_t restart_ns[POOL_INTENSITY_RESTARTS * 2];  /* ring of recent restart times */
	unsigned restart_pos;
	struct demo_rng rng;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Inspect for one acceptor: its listen socket, what it accepted, and the last error of its slot
 * (which survives restarts, as a supervisor's crash log would). */
static void pool_acceptor_inspect(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	struct acceptor *a = arg;
	uint64_t now = demo_now_ns();
	pthread_mutex_lock(&pool.mu);
	emit(ctx, "listen", "0.0.0.0:8443 (SO_REUSEPORT, backlog 511)");
	demo_emitf(emit, ctx, "incarnation", "%u", a->incarnation);
	demo_emit_age(emit, ctx, "started", a->spawned_ns, now);
	demo_emitf(emit, ctx, "accepted", "%llu (this incarnation), %llu (all incarnations)",
	           (unsigned long long)a->accepted, (unsigned long long)a->accepted_total);
	emit(ctx, "last_peer", a->last_peer[0] ? a->last_peer : "none");
	demo_emitf(emit, ctx, "crashes", "%llu", (unsigned long long)a->crashes);
	emit(ctx, "last_error", a->last_error[0] ? a->last_error : "none");
	demo_emit_age(emit, ctx, "last_error_at", a->last_error_ns, now);
	pthread_mutex_unlock(&pool.mu);
}

/* Restarts within the intensity window. Caller holds the lock. */
static unsigned pool_recent_restarts(uint64_t now)
{
	unsigned n = 0;
	for (size_t i = 0; i < sizeof pool.restart_ns / sizeof pool.restart_ns[0]; i++)
		if (pool.restart_ns[i] && now - pool.restart_ns[i] <= POOL_INTENSITY_SECONDS * 1000000000ull)
			n++;
	return n;
}

/* Inspect for the supervisor: its restart intensity and how close it is to giving up. */
static void pool_sup_inspect(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	uint64_t now = demo_now_ns(), accepted = 0;
	pthread_mutex_lock(&pool.mu);
	for (unsigned i = 0; i < pool.n; i++)
		accepted += pool.acceptors[i].accepted_total;
	emit(ctx, "strategy", "one_for_one");
	demo_emitf(emit, ctx, "intensity", "%d restarts in %d s", POOL_INTENSITY_RESTARTS,
	           POOL_INTENSITY_SECONDS);
	demo_emitf(emit, ctx, "restarts", "%llu", (unsigned long long)pool.restarts);
	demo_emitf(emit, ctx, "restarts_last_60s", "%u of %d allowed", pool_recent_restarts(now),
	           POOL_INTENSITY_RESTARTS);
	demo_emitf(emit, ctx, "children", "%u acceptors", pool.n);
	demo_emitf(emit, ctx, "accepted", "%llu connections", (unsigned long long)accepted);
	if (pool.restarts)
		demo_emitf(emit, ctx, "last_restart", "acceptor/%u after \"%s\"", pool.crasher,
		           pool.acceptors[pool.crasher].last_error);
	pthread_mutex_unlock(&pool.mu);
}

/* When the buggy acceptor will next meet a peer that reset: --crash-every ± 25%. */
static uint64_t pool_next_crash(uint64_t now)
{
	double ms = demo_config.crash_every_ms * (0.75 + 0.5 * demo_rng_unit(&pool.rng));
	return now + (uint64_t)(ms * 1e6);
}

/* Start (or restart) the acceptor in slot i as a new task. Caller holds the lock. */
static void pool_spawn(unsigned i, uint64_t now)
{
	struct acceptor *a = &pool.acceptors[i];
	char name[32];
	snprintf(name, sizeof name, "acceptor/%u", i);
	a->task = demo_spawn(name, "acceptor_loop", pool.sup, SONDE_WORKER, 0, 0,
	                     pool_acceptor_inspect, a);
	a->incarnation++;
	a->spawned_ns = now;
	a->accepted = 0;
	sonde_task_memory(a->task, (int64_t)sizeof *a);
	sonde_task_status(a->task, SONDE_WAITING);
	SONDE_TASK_AT(a->task);
	if (i == pool.crasher)
		a->crash_at_ns = pool_next_crash(now);
}

/* Declare the pool supervisor and its acceptors under the application supervisor. */
void pool_init(sonde_task *parent)
{
	uint64_t now = demo_now_ns();
	demo_rng_seed(&pool.rng, 0xacce);
	pool.n = demo_config.acceptors;
	pool.crasher = pool.n > 5 ? 5 : pool.n - 1;
	pool.acceptors = calloc(pool.n, sizeof *pool.acceptors);
	if (pool.acceptors == NULL) {
		demo_log("cannot allocate %u acceptors: out of memory", pool.n);
		exit(1);
	}
	struct sonde_task_spec spec = {
		.name = "acceptor_pool",
		.initial_call = "pool_init",
		.parent = parent,
		.kind = SONDE_SUPERVISOR,
		.strategy = SONDE_ONE_FOR_ONE,
		.max_restarts = POOL_INTENSITY_RESTARTS,
		.max_seconds = POOL_INTENSITY_SECONDS,
		.inspect = pool_sup_inspect,
	};
	pool.sup = sonde_task_spawn(&spec);
	if (pool.sup == NULL) {
		demo_log("cannot declare acceptor_pool: out of memory");
		exit(1);
	}
	sonde_task_status(pool.sup, SONDE_WAITING);
	demo_tree.pool_sup = pool.sup;
	pthread_mutex_lock(&pool.mu);
	for (unsigned i = 0; i < pool.n; i++) {
		pool.acceptors[i].index = i;
		pool_spawn(i, now);
	}
	pool.first_crasher_id = sonde_task_id(pool.acceptors[pool.crasher].task);
	pthread_mutex_unlock(&pool.mu);
}

/* Which acceptor crashes, and its first incarnation's id, for the story line. */
unsigned pool_crasher_index(void)
{
	return pool.crasher;
}

uint64_t pool_crasher_first_id(void)
{
	return pool.first_crasher_id;
}

/* The bug: the buggy acceptor dies on a nil peer; its supervisor logs the crash, counts the
 * restart on itself and starts a new incarnation. Caller holds the lock. */
static void pool_crash_and_restart(struct acceptor *a, uint64_t now)
{
	uint64_t old_id = sonde_task_id(a->task);
	sonde_task_status(a->task, SONDE_EXITING);
	SONDE_TASK_AT(a->task);
	snprintf(a->last_error, sizeof a->last_error,
	         "%s (peer reset before accept; getpeername: ENOTCONN) in task %llu",
	         POOL_CRASH_REASON, (unsigned long long)old_id);
	a->last_error_ns = now;
	a->crashes++;
	sonde_task_exit(a->task, POOL_CRASH_REASON);
	sonde_task_restarted(pool.sup);
	pool.restarts++;
	pool.restart_ns[pool.restart_pos++ % (sizeof pool.restart_ns / sizeof pool.restart_ns[0])] = now;
	pool_spawn(a->index, now);
	demo_log("acceptor_pool: child acceptor/%u (task %llu) exited: %s; restarted as task %llu "
	         "(%llu restarts)",
	         a->index, (unsigned long long)old_id, POOL_CRASH_REASON,
	         (unsigned long long)sonde_task_id(a->task), (unsigned long long)pool.restarts);
	sink_post("=CRASH REPORT= acceptor/%u task=%llu reason=\"%s\" restarted=%llu", a->index,
	          (unsigned long long)old_id, POOL_CRASH_REASON,
	          (unsigned long long)sonde_task_id(a->task));
}

/* One control-thread round: every acceptor wakes on its listen socket; new connections arrive at
 * random and go to a random acceptor; the buggy one crashes when its time comes. */
void pool_round(struct demo_rng *rng, uint64_t now, double dt_s)
{
	unsigned arrivals = demo_rng_poisson(rng, demo_config.accept_rate * dt_s);
	char peer[32];

	pthread_mutex_lock(&pool.mu);
	for (unsigned i = 0; i < pool.n; i++)
		sonde_task_work(pool.acceptors[i].task, 1);  /* epoll wake-up and re-arm */
	for (unsigned k = 0; k < arrivals; k++) {
		struct acceptor *a = &pool.acceptors[demo_rng_below(rng, pool.n)];
		sonde_task_status(a->task, SONDE_RUNNING);
		SONDE_TASK_AT(a->task);
		snprintf(peer, sizeof peer, "10.0.%u.%u:%u", demo_rng_below(rng, 16),
		         1 + demo_rng_below(rng, 254), 32768 + demo_rng_below(rng, 28000));
		snprintf(a->last_peer, sizeof a->last_peer, "%s", peer);
		a->accepted++;
		a->accepted_total++;
		sonde_task_work(a->task, 5);
		pthread_mutex_unlock(&pool.mu);
		conn_open(peer, 2000 + demo_rng_below(rng, 18000));
		pthread_mutex_lock(&pool.mu);
		sonde_task_status(a->task, SONDE_WAITING);
		SONDE_TASK_AT(a->task);
	}
	struct acceptor *c = &pool.acceptors[pool.crasher];
	if (c->crash_at_ns && now >= c->crash_at_ns)
		pool_crash_and_restart(c, now);
	pthread_mutex_unlock(&pool.mu);
}

/* At shutdown, after the control thread has stopped: the acceptors and their supervisor exit. */
void pool_fini(void)
{
	pthread_mutex_lock(&pool.mu);
	for (unsigned i = 0; i < pool.n; i++)
		sonde_task_exit(pool.acceptors[i].task, "shutdown");
	pthread_mutex_unlock(&pool.mu);
	sonde_task_exit(pool.sup, "shutdown");
	free(pool.acceptors);
	pool.acceptors = NULL;
	pool.n = 0;
}
