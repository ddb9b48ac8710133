/*
 * conn.c - client connections under conn_sup (simple_one_for_one): the "leak" story, and the
 * parked sessions that --tasks scales.
 *
 * Each connection is a task driven by one of the net-io threads. A request really passes through
 * the connection's receive buffer (malloc'd, grown on demand), fans out to the shards, the profile
 * cache and the auth keys, and leaves a response chunk on the connection's send queue, which the
 * peer acknowledges at the end of the round; every request also posts an access-log line to the
 * sink. All buffers are accounted to the connection with sonde_task_memory().
 *
 * One connection is different: a client following the event stream whose receive window stays
 * at zero. Updates for it are queued (8..32 KiB chunks, --leak-rate KiB/s) and never
 * acknowledged, so its memory grows steadily. At --leak-cap MiB its window reopens and the queue
 * drains at once (the task stays the same), so the demo can run for hours.
 *
 * Parked sessions (--tasks N) are idle keep-alive connections: one small record each in a single
 * array, a task each, touched by the control thread's keep-alive pings now and then.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo.h"

#define CONN_ROUND_MS 20
#define CONN_RX_INITIAL 4096
#define CONN_GRAVE_NS (5ull * 1000000000ull)  /* exited connections are freed this much later */
#define CONN_USERS 20000
#define CONN_WINDOW_BYTES 262144              /* a healthy peer's advertised receive window */

struct tx_chunk {
	struct tx_chunk *next;
	uint32_t len;
	char data[];
};

struct conn {
	pthread_mutex_t mu;
	sonde_task *task;
	char peer[32];
	int stuck;                      /* peer's receive window stays at zero */
	uint32_t user;
	uint64_t opened_ns, close_at_ns;  /* close_at 0: keep-alive */
	char *rx;
	uint32_t rx_cap, rx_len;
	struct tx_chunk *tx_head, *tx_tail;
	uint64_t tx_bytes, tx_chunks;
	uint64_t requests, bytes_in, bytes_out, updates, window_reopened;
	uint64_t last_request_ns, last_ack_ns, dead_ns;
	double update_due_bytes;
	char last_request[96];
	struct conn *grave_next;
};

/* One net-io thread's connections: an array it alone walks, plus an inbox the control thread
 * hands new connections through. */
struct conn_io {
	pthread_mutex_t mu;
	struct conn **inbox;            /* grows on demand; --conns may open 1000 before start */
	size_t inbox_len, inbox_cap;
	struct conn **conns;
	size_t n, cap;
	struct conn *grave;
};

struct idle_session {
	sonde_task *task;
	uint32_t addr;
	uint16_t port;
	uint32_t user;
	_Atomic uint32_t last_seen_s;  /* seconds of the monotonic clock; written by control */
	uint32_t opened_s;
};

static struct conn_io conn_io[CONN_IO_THREADS];
static unsigned conn_next_io;
static struct conn *conn_stuck;
static sonde_task *conn_stuck_task_;
static struct idle_session *conn_idle;
static unsigned long conn_idle_n;
static _Atomic uint64_t conn_open_now, conn_opened, conn_requests;

/* The net-io inboxes' locks, before any connection opens. */
void conn_init(void)
{
	for (unsigned i = 0; i < CONN_IO_THREADS; i++)
		pthread_mutex_init(&conn_io[i].mu, NULL);
}

/* Inspect: what an operator checks on a connection: who, how much is buffered each way, and
 * whether the peer is acknowledging. */
static void conn_inspect(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	struct conn *c = arg;
	uint64_t now = demo_now_ns();
	pthread_mutex_lock(&c->mu);
	emit(ctx, "peer", c->peer);
	demo_emitf(emit, ctx, "user", "user%u", c->user);
	emit(ctx, "state", c->dead_ns ? "closed" : "established");
	demo_emitf(emit, ctx, "rx_buffer", "%u B used of %u B allocated", c->rx_len, c->rx_cap);
	demo_emit_bytes(emit, ctx, "tx_queued", c->tx_bytes);
	demo_emitf(emit, ctx, "tx_chunks", "%llu", (unsigned long long)c->tx_chunks);
	demo_emitf(emit, ctx, "peer_receive_window", "%u B", c->stuck ? 0u : CONN_WINDOW_BYTES);
	demo_emit_age(emit, ctx, "last_ack_from_peer", c->last_ack_ns, now);
	demo_emitf(emit, ctx, "requests", "%llu", (unsigned long long)c->requests);
	demo_emit_bytes(emit, ctx, "bytes_in", c->bytes_in);
	demo_emit_bytes(emit, ctx, "bytes_out", c->bytes_out);
	if (c->stuck) {
		demo_emitf(emit, ctx, "stream_updates_queued", "%llu", (unsigned long long)c->updates);
		demo_emitf(emit, ctx, "window_reopened", "%llu times",
		           (unsigned long long)c->window_reopened);
	}
	emit(ctx, "last_request", c->last_request[0] ? c->last_request : "none");
	demo_emit_age(emit, ctx, "opened", c->opened_ns, now);
	if (c->close_at_ns)
		demo_emitf(emit, ctx, "keepalive", "closes in %.1f s",
		           c->close_at_ns > now ? (double)(c->close_at_ns - now) / 1e9 : 0.0);
	else
		emit(ctx, "keepalive", "persistent");
	pthread_mutex_unlock(&c->mu);
}

/* Allocate a connection, declare its task and hand it to a net-io thread round-robin. */
static struct conn *conn_create(const char *peer, unsigned lifetime_ms, int stuck)
{
	char name[48];
	struct conn *c = calloc(1, sizeof *c);
	if (c == NULL || (c->rx = malloc(CONN_RX_INITIAL)) == NULL) {
		free(c);
		demo_log("conn_sup: cannot open connection from %s: out of memory", peer);
		return NULL;
	}
	pthread_mutex_init(&c->mu, NULL);
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	c->stuck = stuck;
	c->user = demo_hash(peer, strlen(peer)) % CONN_USERS;
	c->rx_cap = CONN_RX_INITIAL;
	c->opened_ns = demo_now_ns();
	c->close_at_ns = lifetime_ms ? c->opened_ns + (uint64_t)lifetime_ms * 1000000u : 0;
	if (stuck)
		snprintf(c->last_request, sizeof c->last_request,
		         "GET /v1/events?follow=1 HTTP/1.1 (streaming)");
	snprintf(name, sizeof name, "conn %s", peer);
	c->task = demo_spawn(name, "conn_accept", demo_tree.conn_sup, SONDE_WORKER, 0, 0,
	                     conn_inspect, c);
	sonde_task_memory(c->task, (int64_t)(sizeof *c + CONN_RX_INITIAL));
	sonde_task_status(c->task, SONDE_WAITING);
	SONDE_TASK_AT(c->task);

	struct conn_io *io = &conn_io[__atomic_fetch_add(&conn_next_io, 1, __ATOMIC_RELAXED) %
	                              CONN_IO_THREADS];
	pthread_mutex_lock(&io->mu);
	if (io->inbox_len == io->inbox_cap) {
		size_t cap = io->inbox_cap ? io->inbox_cap * 2 : 64;
		struct conn **inbox = realloc(io->inbox, cap * sizeof *inbox);
		if (inbox != NULL) {
			io->inbox = inbox;
			io->inbox_cap = cap;
		}
	}
	if (io->inbox_len == io->inbox_cap) {
		pthread_mutex_unlock(&io->mu);
		demo_log("conn_sup: refusing %s: out of memory for the net-io inbox", peer);
		sonde_task_exit(c->task, "refused: out of memory");
		free(c->rx);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return NULL;
	}
	io->inbox[io->inbox_len++] = c;
	pthread_mutex_unlock(&io->mu);
	atomic_fetch_add(&conn_open_now, 1);
	atomic_fetch_add(&conn_opened, 1);
	return c;
}

/* The acceptors open ordinary connections here. */
void conn_open(const char *peer, unsigned lifetime_ms)
{
	conn_create(peer, lifetime_ms, 0);
}

/* The event-stream follower whose window never opens. */
void conn_open_stuck(const char *peer)
{
	conn_stuck = conn_create(peer, 0, 1);
	if (conn_stuck == NULL)
		exit(1);
	conn_stuck_task_ = conn_stuck->task;
}

/* The stuck follower's task and peer, for the story line. */
sonde_task *conn_stuck_task(void)
{
	return conn_stuck_task_;
}

const char *conn_stuck_peer(void)
{
	return conn_stuck->peer;
}

/* Counters for the metrics flush and conn_sup's inspect. */
void conn_stats(uint64_t *open, uint64_t *opened, uint64_t *requests)
{
	*open = atomic_load(&conn_open_now) + conn_idle_n;
	*opened = atomic_load(&conn_opened);
	*requests = atomic_load(&conn_requests);
}

/* Queue a response chunk on the send queue. Caller holds c->mu. Returns 0, -1 out of memory. */
static int conn_queue_tx(struct conn *c, const char *data, uint32_t len)
{
	struct tx_chunk *t = malloc(sizeof *t + len);
	if (t == NULL)
		return -1;
	t->next = NULL;
	t->len = len;
	memcpy(t->data, data, len);
	if (c->tx_tail)
		c->tx_tail->next = t;
	else
		c->tx_head = t;
	c->tx_tail = t;
	c->tx_bytes += len;
	c->tx_chunks++;
	sonde_task_memory(c->task, (int64_t)(sizeof *t + len));
	return 0;
}

/* The peer acknowledged everything queued: free the send queue. Caller holds c->mu. */
static void conn_drain_tx(struct conn *c, uint64_t now)
{
	int64_t freed = 0;
	while (c->tx_head != NULL) {
		struct tx_chunk *t = c->tx_head;
		c->tx_head = t->next;
		freed += (int64_t)(sizeof *t + t->len);
		free(t);
	}
	c->tx_tail = NULL;
	c->bytes_out += c->tx_bytes;
	c->tx_bytes = c->tx_chunks = 0;
	c->last_ack_ns = now;
	sonde_task_memory(c->task, -freed);
}

/* Make room for a request in the receive buffer, growing it as a real reader would. */
static int conn_rx_reserve(struct conn *c, uint32_t need)
{
	if (need <= c->rx_cap)
		return 0;
	uint32_t cap = c->rx_cap;
	while (cap < need)
		cap *= 2;
	char *rx = realloc(c->rx, cap);
	if (rx == NULL)
		return -1;
	sonde_task_memory(c->task, (int64_t)(cap - c->rx_cap));
	c->rx = rx;
	c->rx_cap = cap;
	return 0;
}

/* Serve one request: read it into the receive buffer, fan out to shards, cache and auth, queue
 * the response, log it. Runs on the connection's net-io thread. */
static void conn_request(struct conn *c, struct demo_rng *rng, uint64_t now)
{
	static const char *const methods[] = {"GET", "GET", "POST", "PUT", "POST"};
	static const char *const paths[] = {"/v1/profile", "/v1/cart", "/v1/cart", "/v1/profile",
	                                    "/v1/session"};
	char key[64], body[2048], request[96];
	uint32_t user = demo_rng_unit(rng) < 0.8 ? demo_rng_below(rng, 3000)
	                                         : demo_rng_below(rng, CONN_USERS);
	double r = demo_rng_unit(rng);
	int kind = r < 0.55 ? 0 : r < 0.75 ? 1 : r < 0.85 ? 2 : r < 0.95 ? 3 : 4;
	uint32_t upload = kind == 2 || kind == 3 ? 64 + demo_rng_below(rng, 448) : 0;
	uint64_t work = 1;
	size_t body_len;

	sonde_task_status(c->task, SONDE_RUNNING);
	SONDE_TASK_AT(c->task);
	snprintf(request, sizeof request, "%s %s/%u HTTP/1.1", methods[kind], paths[kind], user);

	/* Read: headers plus any upload land in the receive buffer. Large uploads grow it. */
	uint32_t req_len = 180 + upload + (demo_rng_unit(rng) < 0.02 ? 12000 : 0);
	pthread_mutex_lock(&c->mu);
	if (conn_rx_reserve(c, req_len) == 0) {
		int n = snprintf(c->rx, c->rx_cap, "%s\r\nHost: api.example.net\r\nCookie: sid=%08x\r\n",
		                 request, demo_hash(&user, sizeof user));
		if (n > 0 && (uint32_t)n < req_len)
			memset(c->rx + n, 'x', req_len - (uint32_t)n);
		c->rx_len = req_len;
	}
	c->bytes_in += req_len;
	pthread_mutex_unlock(&c->mu);
	work += req_len / 64;

	/* Handle: every handler re-reads the feature flags instead of caching them. */
	if (demo_rng_unit(rng) < 0.92)
		shard_submit(SHARD_GET, shard_hot_key(), 0, 0);
	snprintf(key, sizeof key, "ratelimit:%.*s", (int)strcspn(c->peer, ":"), c->peer);
	shard_submit(SHARD_INCR, key, 0, 0);
	switch (kind) {
	case 0:
		snprintf(key, sizeof key, "user:%u:profile", user);
		shard_submit(SHARD_GET, key, 0, 0);
		body_len = cache_fetch(user, body, sizeof body);
		break;
	case 1:
	case 2:
		snprintf(key, sizeof key, "cart:%u", user % 5000);
		shard_submit(kind == 1 ? SHARD_GET : SHARD_SET, key, upload, (uint32_t)now);
		body_len = (size_t)snprintf(body, sizeof body, "{\"cart\":%u,\"items\":%u}", user % 5000,
		                            demo_rng_below(rng, 9));
		break;
	case 3:
		snprintf(key, sizeof key, "user:%u:profile", user);
		shard_submit(SHARD_SET, key, upload, (uint32_t)now);
		body_len = (size_t)snprintf(body, sizeof body, "{\"updated\":true}");
		break;
	default: {
		uint64_t sig = auth_sign(&user, sizeof user);
		snprintf(key, sizeof key, "session:%08x", demo_hash(&user, sizeof user));
		shard_submit(SHARD_INCR, key, 0, 0);
		body_len = (size_t)snprintf(body, sizeof body, "{\"session\":\"%016llx\"}",
		                            (unsigned long long)sig);
		break;
	}
	}
	work += 4 + body_len / 64;

	/* Respond and log. */
	pthread_mutex_lock(&c->mu);
	conn_queue_tx(c, body, (uint32_t)body_len);
	c->requests++;
	c->last_request_ns = now;
	snprintf(c->last_request, sizeof c->last_request, "%s", request);
	pthread_mutex_unlock(&c->mu);
	atomic_fetch_add_explicit(&conn_requests, 1, memory_order_relaxed);
	sink_post("%s - user%u \"%s\" 200 %zu %.2fms", c->peer, user, request, body_len,
	          0.2 + demo_rng_unit(rng) * 3);
	sonde_task_work(c->task, work);
	sonde_task_status(c->task, SONDE_WAITING);
}

/* The stuck stream follower: updates are due at --leak-rate and can only be queued, never sent,
 * until the queue reaches --leak-cap and the peer's window reopens. */
static void conn_push_updates(struct conn *c, struct demo_rng *rng, double dt_s, uint64_t now)
{
	char update[32 * 1024];
	uint64_t work = 0;
	pthread_mutex_lock(&c->mu);
	c->update_due_bytes += demo_config.leak_kib_s * 1024.0 * dt_s;
	while (c->update_due_bytes >= 8 * 1024) {
		uint32_t len = 8 * 1024 + demo_rng_below(rng, 24 * 1024);
		if (len > c->update_due_bytes)
			len = (uint32_t)c->update_due_bytes;
		int n = snprintf(update, sizeof update, "event: order.updated\ndata: {\"seq\":%llu,",
		                 (unsigned long long)c->updates);
		memset(update + n, 'u', len - (uint32_t)n);
		if (conn_queue_tx(c, update, len) != 0)
			break;
		c->update_due_bytes -= len;
		c->updates++;
		work += 1 + len / 64;
	}
	sonde_task_status(c->task, SONDE_BLOCKED);
	SONDE_TASK_AT(c->task);  /* send queue waiting on the peer's window */
	if (c->tx_bytes >= (uint64_t)demo_config.leak_cap_mib * 1024 * 1024) {
		demo_log("%s: peer window reopened after %llu bytes queued; send queue drained",
		         c->peer, (unsigned long long)c->tx_bytes);
		c->window_reopened++;
		conn_drain_tx(c, now);
	}
	pthread_mutex_unlock(&c->mu);
	sonde_task_work(c->task, work);
}

/* Close a connection: exit its task now, free it later (an inspect already running on the
 * agent's helper thread may still hold it). */
static void conn_close(struct conn_io *io, struct conn *c, const char *reason, uint64_t now)
{
	pthread_mutex_lock(&c->mu);
	conn_drain_tx(c, now);
	c->dead_ns = now;
	pthread_mutex_unlock(&c->mu);
	sonde_task_exit(c->task, reason);
	c->grave_next = io->grave;
	io->grave = c;
	atomic_fetch_sub(&conn_open_now, 1);
}

/* Release a closed connection's buffers and record. */
static void conn_free(struct conn *c)
{
	struct tx_chunk *t = c->tx_head;
	while (t != NULL) {
		struct tx_chunk *next = t->next;
		free(t);
		t = next;
	}
	free(c->rx);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* Free connections that exited long enough ago. */
static void conn_bury(struct conn_io *io, uint64_t now, int all)
{
	struct conn **link = &io->grave;
	while (*link != NULL) {
		struct conn *c = *link;
		if (all || now - c->dead_ns > CONN_GRAVE_NS) {
			*link = c->grave_next;
			conn_free(c);
		} else {
			link = &c->grave_next;
		}
	}
}

/* Take new connections out of the inbox into this thread's array. */
static void conn_adopt(struct conn_io *io)
{
	pthread_mutex_lock(&io->mu);
	for (size_t i = 0; i < io->inbox_len; i++) {
		if (io->n == io->cap) {
			size_t cap = io->cap ? io->cap * 2 : 64;
			struct conn **a = realloc(io->conns, cap * sizeof *a);
			if (a == NULL)
				break;  /* stays in the inbox until memory is back */
			io->conns = a;
			io->cap = cap;
		}
		io->conns[io->n++] = io->inbox[i];
		io->inbox[i] = NULL;
	}
	size_t kept = 0;
	for (size_t i = 0; i < io->inbox_len; i++)
		if (io->inbox[i] != NULL)
			io->inbox[kept++] = io->inbox[i];
	io->inbox_len = kept;
	pthread_mutex_unlock(&io->mu);
}

/* A net-io thread: each round, requests arrive at random on its connections (Poisson, its share
 * of --rate), responses are acknowledged, the stuck follower gets its updates, and connections
 * whose time is up close. */
void *conn_io_thread(void *arg)
{
	unsigned index = (unsigned)(uintptr_t)arg;
	struct conn_io *io = &conn_io[index];
	struct demo_rng rng;
	uint64_t last = demo_now_ns();

	demo_rng_seed(&rng, 0xc099u + index);
	while (!atomic_load(&demo_stopping)) {
		demo_sleep_ms(CONN_ROUND_MS);
		uint64_t now = demo_now_ns();
		double dt = (double)(now - last) / 1e9;
		last = now;
		conn_adopt(io);
		if (io->n == 0)
			continue;

		unsigned requests = demo_rng_poisson(&rng, demo_config.request_rate * dt / CONN_IO_THREADS);
		for (unsigned k = 0; k < requests; k++) {
			struct conn *c = io->conns[demo_rng_below(&rng, (uint32_t)io->n)];
			if (c->stuck)
				continue;  /* a stream follower sends no requests */
			sonde_task_set_self(c->task);
			conn_request(c, &rng, now);
		}
		sonde_task_set_self(NULL);

		for (size_t i = 0; i < io->n;) {
			struct conn *c = io->conns[i];
			if (c->stuck) {
				conn_push_updates(c, &rng, dt, now);
			} else {
				pthread_mutex_lock(&c->mu);
				if (c->tx_head != NULL)
					conn_drain_tx(c, now);
				pthread_mutex_unlock(&c->mu);
			}
			if (c->close_at_ns && now >= c->close_at_ns) {
				conn_close(io, c, demo_rng_unit(&rng) < 0.8 ? NULL : "timeout: idle keep-alive",
				           now);
				io->conns[i] = io->conns[--io->n];
				continue;
			}
			i++;
		}
		conn_bury(io, now, 0);
	}
	return NULL;
}

/* Inspect for a parked session: who, and for how long it has been quiet. */
static void conn_idle_inspect(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	const struct idle_session *s = arg;
	uint32_t now_s = (uint32_t)(demo_now_ns() / 1000000000u);
	uint32_t seen = atomic_load_explicit(&s->last_seen_s, memory_order_relaxed);
	demo_emitf(emit, ctx, "peer", "172.16.%u.%u:%u", (s->addr >> 8) & 0xff, s->addr & 0xff,
	           s->port);
	demo_emitf(emit, ctx, "user", "user%u", s->user);
	emit(ctx, "state", "parked (keep-alive, no request in flight)");
	demo_emitf(emit, ctx, "idle_for", "%u s", seen < now_s ? now_s - seen : 0);  /* raced a ping */
	demo_emitf(emit, ctx, "session_age", "%u s", now_s - s->opened_s);
	demo_emitf(emit, ctx, "buffers", "none while parked (%zu B session record)", sizeof *s);
}

/* --tasks: declare n parked sessions under conn_sup, quickly (one array, no per-session
 * allocation besides sonde's own slot). */
void conn_park_idle(unsigned long n)
{
	char name[48];
	uint64_t t0 = demo_now_ns();
	uint32_t now_s = (uint32_t)(t0 / 1000000000u);

	if (n == 0)
		return;
	conn_idle = calloc(n, sizeof *conn_idle);
	if (conn_idle == NULL) {
		demo_log("cannot park %lu sessions: out of memory (lower --tasks)", n);
		exit(1);
	}
	for (unsigned long i = 0; i < n; i++) {
		struct idle_session *s = &conn_idle[i];
		s->addr = (uint32_t)(i / 50000 % 256) << 8 | (uint32_t)(i / 200 % 250 + 1);
		s->port = (uint16_t)(20000 + (i * 7919) % 40000);
		s->user = (uint32_t)(i * 2654435761u % CONN_USERS);
		s->opened_s = now_s;
		atomic_store_explicit(&s->last_seen_s, now_s, memory_order_relaxed);
		snprintf(name, sizeof name, "conn 172.16.%u.%u:%u", (s->addr >> 8) & 0xff, s->addr & 0xff,
		         s->port);
		s->task = demo_spawn(name, "conn_park", demo_tree.conn_sup, SONDE_WORKER, 0, 0,
		                     conn_idle_inspect, s);
		sonde_task_memory(s->task, (int64_t)sizeof *s);
		sonde_task_status(s->task, SONDE_WAITING);
		SONDE_TASK_AT(s->task);
	}
	conn_idle_n = n;
	demo_log("parked %lu idle sessions in %.1f ms", n, (double)(demo_now_ns() - t0) / 1e6);
}

/* Keep-alive pings: the control thread touches a few parked sessions each round (a little work
 * each, so they are idle but not dead). */
void conn_touch_idle(struct demo_rng *rng, unsigned n)
{
	if (conn_idle_n == 0)
		return;
	uint32_t now_s = (uint32_t)(demo_now_ns() / 1000000000u);
	for (unsigned k = 0; k < n; k++) {
		struct idle_session *s = &conn_idle[demo_rng_below(rng, (uint32_t)conn_idle_n)];
		atomic_store_explicit(&s->last_seen_s, now_s, memory_order_relaxed);
		sonde_task_work(s->task, 1);
	}
}

/* At shutdown, after the net-io threads have stopped: close every connection and session. */
void conn_fini(void)
{
	uint64_t now = demo_now_ns();
	for (unsigned i = 0; i < CONN_IO_THREADS; i++) {
		struct conn_io *io = &conn_io[i];
		conn_adopt(io);
		for (size_t k = 0; k < io->n; k++)
			conn_close(io, io->conns[k], "shutdown", now);
		io->n = 0;
		conn_bury(io, now, 1);
		free(io->conns);
		io->conns = NULL;
		io->cap = 0;
		free(io->inbox);
		io->inbox = NULL;
		io->inbox_len = io->inbox_cap = 0;
	}
	for (unsigned long i = 0; i < conn_idle_n; i++)
		sonde_task_exit(conn_idle[i].task, "shutdown");
	free(conn_idle);
	conn_idle = NULL;
	conn_idle_n = 0;
}
