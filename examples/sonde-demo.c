/*
 * sonde-demo.c - a small service with four planted problems, to be observed with sonde.
 *
 * main() parses the command line, starts the sonde agent, declares the supervision tree
 *
 *   app_sup (one_for_one)
 *   ├── acceptor_pool (one_for_one, 20 in 60 s) ── acceptor/0..N-1
 *   ├── cache_owner          profile cache in its own jemalloc arena
 *   ├── shard_sup (one_for_one) ── shard/0..15
 *   ├── conn_sup (simple_one_for_one) ── conn 10.0.x.y:port ... and parked sessions
 *   ├── log_sink             access-log relay
 *   ├── auth_keys            session signing keys (sensitive)
 *   └── metrics              OpenMetrics flusher (bound to its thread)
 *
 * prints one `story KIND task=ID name=NAME` line per planted problem on stdout, starts the
 * worker threads and waits for SIGINT/SIGTERM; then it stops the threads, stops sonde and exits 0.
 * See demo.h for the modules and `sonde-demo --help` for the stories.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demo.h"

struct demo_config demo_config = {
	.name = NULL,
	.interval_ms = 0,
	.idle_tasks = 2000,
	.acceptors = 8,
	.keepalive_conns = 24,
	.request_rate = 800,
	.accept_rate = 6,
	.leak_kib_s = 200,
	.leak_cap_mib = 512,
	.sink_rate = 0,  /* 0: 7/8 of --rate, decided after parsing */
	.backlog_max = 200000,
	.crash_every_ms = 4000,
	.seed = 20261122,
};

atomic_bool demo_stopping;
struct demo_tree demo_tree;

#define DEMO_CONTROL_ROUND_MS 50
#define DEMO_STUCK_PEER "10.0.3.17:51522"

/* --help: every option and every story, so the demo explains itself. */
static void demo_usage(FILE *out)
{
	fprintf(out,
"Usage: sonde-demo [OPTION]...\n"
"A small key/value API service with four planted problems, for trying sonde.\n"
"It needs no network: clients, peers and downstreams are simulated, the work is real.\n"
"Run it, then in another terminal: sonde   (or: sonde query tasks sort=memory mode=window)\n"
"\n"
"Options:\n"
"  --name NAME          service name shown by `sonde list` (default: $SONDE_NAME or sonde-demo)\n"
"  --tasks N            idle sessions parked under conn_sup, 0..1000000 (default 2000);\n"
"                       they are declared at start, each a task of its own\n"
"  --acceptors N        acceptor pool size, 2..64 (default 8)\n"
"  --conns N            long-lived client connections, 1..1000 (default 24)\n"
"  --rate N             requests per second over all connections, 1..100000 (default 800)\n"
"  --accept-rate N      new short-lived connections per second, 0..1000 (default 6)\n"
"  --leak-rate KIB      KiB per second queued for the stuck stream follower, 1..100000\n"
"                       (default 200)\n"
"  --leak-cap MIB       MiB queued before that peer's window reopens, 1..65536 (default 512)\n"
"  --sink-rate N        log lines per second the log sink can deliver, 1..1000000\n"
"                       (default 7/8 of --rate, so its backlog grows)\n"
"  --backlog-max N      log lines queued before new ones are dropped, 1000..10000000\n"
"                       (default 200000, about 35 MiB)\n"
"  --crash-every MS     mean time between acceptor crashes, 500..600000 ms (default 4000)\n"
"  --interval-ms MS     sonde's sampling interval, 100..10000 (default: sonde's, 1000)\n"
"  --seed N             random seed (default 20261122)\n"
"  -h, --help           this help\n"
"\n"
"The stories (stdout gets one line each at start: story KIND task=ID name=NAME):\n"
"  leak     A client following the event stream (GET /v1/events?follow=1) never opens its\n"
"           TCP receive window. Its updates queue up on the connection's send queue and are\n"
"           never acknowledged: one `conn A.B.C.D:PORT` task among many grows by about\n"
"           --leak-rate KiB/s. Find it: sonde query tasks sort=memory mode=window limit=5;\n"
"           its inspect state shows tx_queued growing and peer_receive_window 0 B.\n"
"  hot      Every request handler re-reads the 2 KiB feature-flags blob\n"
"           (config:feature_flags) from the store instead of caching it, so the one shard\n"
"           that owns the key does far more work than its fifteen peers.\n"
"           Find it: sonde query tasks sort=reductions; its inspect state lists its top keys.\n"
"  backlog  The access-log sink delivers each line to a relay and waits for an ack before the\n"
"           next (synchronous notify): slower than the request rate, so its mailbox keeps\n"
"           growing until --backlog-max, after which lines are dropped.\n"
"           Find it: sonde query tasks sort=queue; inspect shows produce vs consume rates.\n"
"  crash    acceptor/5 (or the last one, with fewer acceptors) dereferences a nil peer when a\n"
"           client resets before accept: it exits with \"badarg: nil peer\" every few seconds\n"
"           and acceptor_pool restarts it under a new task id.\n"
"           Find it: sonde query tree (acceptor_pool's restart count rises); the crash line's\n"
"           task= is the first incarnation, supervisor= the pool.\n"
"\n"
"Also: auth_keys is a sensitive task (sonde withholds its state); cache_owner allocates from\n"
"its own jemalloc arena (exact per-task memory); metrics is bound to its thread (CPU time).\n"
"Logs go to stderr. SIGINT or SIGTERM stops the service and exits 0.\n");
}

/* Parse an unsigned option value within [min, max], or exit 2 naming the option and the range. */
static unsigned long demo_parse_ulong(const char *opt, const char *s, unsigned long min,
                                      unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "sonde-demo: %s %s: expected a whole number in %lu..%lu "
		                "(see --help)\n", opt, s, min, max);
		exit(2);
	}
	return v;
}

/* The command line into demo_config; exits 0 after --help, 2 on a usage error. */
static void demo_parse_args(int argc, char **argv)
{
	enum { O_NAME = 256, O_TASKS, O_ACCEPTORS, O_CONNS, O_RATE, O_ACCEPT_RATE, O_LEAK_RATE,
	       O_LEAK_CAP, O_SINK_RATE, O_BACKLOG_MAX, O_CRASH_EVERY, O_INTERVAL, O_SEED };
	static const struct option longopts[] = {
		{"name", required_argument, NULL, O_NAME},
		{"tasks", required_argument, NULL, O_TASKS},
		{"acceptors", required_argument, NULL, O_ACCEPTORS},
		{"conns", required_argument, NULL, O_CONNS},
		{"rate", required_argument, NULL, O_RATE},
		{"accept-rate", required_argument, NULL, O_ACCEPT_RATE},
		{"leak-rate", required_argument, NULL, O_LEAK_RATE},
		{"leak-cap", required_argument, NULL, O_LEAK_CAP},
		{"sink-rate", required_argument, NULL, O_SINK_RATE},
		{"backlog-max", required_argument, NULL, O_BACKLOG_MAX},
		{"crash-every", required_argument, NULL, O_CRASH_EVERY},
		{"interval-ms", required_argument, NULL, O_INTERVAL},
		{"seed", required_argument, NULL, O_SEED},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		const char *o = longopts[0].name;
		for (const struct option *lo = longopts; lo->name; lo++)
			if (lo->val == c)
				o = lo->name;
		char opt[32];
		snprintf(opt, sizeof opt, "--%s", o);
		switch (c) {
		case 'h': demo_usage(stdout); exit(0);
		case O_NAME: demo_config.name = optarg; break;
		case O_TASKS: demo_config.idle_tasks = demo_parse_ulong(opt, optarg, 0, 1000000); break;
		case O_ACCEPTORS:
			demo_config.acceptors = (unsigned)demo_parse_ulong(opt, optarg, 2, 64);
			break;
		case O_CONNS:
			demo_config.keepalive_conns = (unsigned)demo_parse_ulong(opt, optarg, 1, 1000);
			break;
		case O_RATE:
			demo_config.request_rate = (unsigned)demo_parse_ulong(opt, optarg, 1, 100000);
			break;
		case O_ACCEPT_RATE:
			demo_config.accept_rate = (unsigned)demo_parse_ulong(opt, optarg, 0, 1000);
			break;
		case O_LEAK_RATE:
			demo_config.leak_kib_s = (unsigned)demo_parse_ulong(opt, optarg, 1, 100000);
			break;
		case O_LEAK_CAP:
			demo_config.leak_cap_mib = (unsigned)demo_parse_ulong(opt, optarg, 1, 65536);
			break;
		case O_SINK_RATE:
			demo_config.sink_rate = (unsigned)demo_parse_ulong(opt, optarg, 1, 1000000);
			break;
		case O_BACKLOG_MAX:
			demo_config.backlog_max = demo_parse_ulong(opt, optarg, 1000, 10000000);
			break;
		case O_CRASH_EVERY:
			demo_config.crash_every_ms = (unsigned)demo_parse_ulong(opt, optarg, 500, 600000);
			break;
		case O_INTERVAL:
			demo_config.interval_ms = (unsigned)demo_parse_ulong(opt, optarg, 100, 10000);
			break;
		case O_SEED: demo_config.seed = demo_parse_ulong(opt, optarg, 0, ULONG_MAX); break;
		default:
			fprintf(stderr, "Try 'sonde-demo --help' for the options.\n");
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sonde-demo: unexpected argument '%s' (it takes options only; "
		                "see --help)\n", argv[optind]);
		exit(2);
	}
	if (demo_config.sink_rate == 0)
		demo_config.sink_rate = demo_config.request_rate * 7 / 8 ? demo_config.request_rate * 7 / 8
		                                                         : 1;
}

/* Supervisor inspect: what it supervises, as `supervisor:count_children` would say. */
static void demo_sup_inspect(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx)
{
	const char *which = arg;
	if (strcmp(which, "app_sup") == 0) {
		emit(ctx, "strategy", "one_for_one");
		emit(ctx, "children", "acceptor_pool cache_owner shard_sup conn_sup log_sink auth_keys "
		                      "metrics");
		demo_emitf(emit, ctx, "config", "rate=%u req/s accept_rate=%u/s conns=%u tasks=%lu",
		           demo_config.request_rate, demo_config.accept_rate,
		           demo_config.keepalive_conns, demo_config.idle_tasks);
	} else if (strcmp(which, "shard_sup") == 0) {
		emit(ctx, "strategy", "one_for_one");
		demo_emitf(emit, ctx, "children", "%d shards", SHARD_COUNT);
		demo_emitf(emit, ctx, "routing", "fnv1a(key) %% %d", SHARD_COUNT);
	} else {
		uint64_t open, opened, requests;
		conn_stats(&open, &opened, &requests);
		emit(ctx, "strategy", "simple_one_for_one (temporary children: never restarted)");
		demo_emitf(emit, ctx, "connections_open", "%llu (of which %lu parked sessions)",
		           (unsigned long long)open, demo_config.idle_tasks);
		demo_emitf(emit, ctx, "connections_opened", "%llu", (unsigned long long)opened);
		demo_emitf(emit, ctx, "requests_served", "%llu", (unsigned long long)requests);
	}
}

/* Declare the tree top-down; each module declares its own children. */
static void demo_build_tree(void)
{
	struct demo_rng rng;
	char peer[32];
	unsigned stuck_at;

	demo_tree.app_sup = demo_spawn("app_sup", "main", NULL, SONDE_SUPERVISOR, SONDE_ONE_FOR_ONE,
	                               0, demo_sup_inspect, "app_sup");
	pool_init(demo_tree.app_sup);
	cache_init(demo_tree.app_sup);
	demo_tree.shard_sup = demo_spawn("shard_sup", "shard_sup_init", demo_tree.app_sup,
	                                 SONDE_SUPERVISOR, SONDE_ONE_FOR_ONE, 0, demo_sup_inspect,
	                                 "shard_sup");
	shard_init(demo_tree.shard_sup);
	demo_tree.conn_sup = demo_spawn("conn_sup", "conn_sup_init", demo_tree.app_sup,
	                                SONDE_SUPERVISOR, SONDE_SIMPLE_ONE_FOR_ONE, 0,
	                                demo_sup_inspect, "conn_sup");
	conn_init();
	sink_init(demo_tree.app_sup);
	auth_init(demo_tree.app_sup);

	/* Long-lived clients; the stuck follower is one of them, somewhere in the middle. */
	demo_rng_seed(&rng, 0x9ee7u);
	stuck_at = demo_config.keepalive_conns / 2;
	for (unsigned i = 0; i < demo_config.keepalive_conns; i++) {
		if (i == stuck_at)
			conn_open_stuck(DEMO_STUCK_PEER);
		do {
			snprintf(peer, sizeof peer, "10.0.%u.%u:%u", demo_rng_below(&rng, 16),
			         1 + demo_rng_below(&rng, 254), 32768 + demo_rng_below(&rng, 28000));
		} while (strcmp(peer, DEMO_STUCK_PEER) == 0);
		conn_open(peer, 0);
	}
	conn_park_idle(demo_config.idle_tasks);
}

/* Tell the tests (and a curious operator) where the stories are. Only these lines go to stdout. */
static void demo_print_stories(void)
{
	unsigned hot = shard_of(shard_hot_key());
	printf("story leak task=%" PRIu64 " name=conn %s\n", sonde_task_id(conn_stuck_task()),
	       conn_stuck_peer());
	printf("story hot task=%" PRIu64 " name=shard/%u\n", sonde_task_id(shard_task(hot)), hot);
	printf("story backlog task=%" PRIu64 " name=log_sink\n", sonde_task_id(sink_task()));
	printf("story crash task=%" PRIu64 " name=acceptor/%u supervisor=%" PRIu64 "\n",
	       pool_crasher_first_id(), pool_crasher_index(), sonde_task_id(demo_tree.pool_sup));
	fflush(stdout);
}

/* The control thread: the acceptor pool, keep-alive pings to parked sessions, key rotation. */
static void *demo_control_thread(void *arg)
{
	struct demo_rng rng;
	uint64_t last = demo_now_ns();
	demo_rng_seed(&rng, 0xc7a1);
	while (!atomic_load(&demo_stopping)) {
		demo_sleep_ms(DEMO_CONTROL_ROUND_MS);
		uint64_t now = demo_now_ns();
		double dt = (double)(now - last) / 1e9;
		last = now;
		pool_round(&rng, now, dt);
		conn_touch_idle(&rng, 5);  /* ~100 keep-alive pings per second */
		auth_rotate_if_due(now);
	}
	return NULL;
}

/* Start the agent, declare the tree, tell the stories, serve until SIGINT/SIGTERM, then stop
 * the threads before sonde and free the state after it (no inspect can run by then). */
int main(int argc, char **argv)
{
	struct sonde_options opts = {0};
	sigset_t stop_signals;
	pthread_t control, io[CONN_IO_THREADS], shard_io, sink_io, metrics_io;
	int sig = 0;

	demo_parse_args(argc, argv);

	/* Block the stop signals before any thread exists so that only sigwait() below sees them. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	opts.name = demo_config.name;  /* NULL: $SONDE_NAME, else the program name */
	opts.interval_ms = demo_config.interval_ms;
	if (sonde_start(&opts) != 0) {
		demo_log("cannot start the sonde agent (see the line above); running unobserved makes no "
		         "sense for a demo, exiting");
		return 1;
	}
	demo_log("sonde agent listening on %s",
	         sonde_socket_path() ? sonde_socket_path() : "(disabled by SONDE_DISABLE=1)");

	demo_build_tree();
	demo_print_stories();

	demo_thread_start(demo_control_thread, NULL, "control", &control);
	for (unsigned i = 0; i < CONN_IO_THREADS; i++) {
		char name[16];
		snprintf(name, sizeof name, "net-io/%u", i);
		demo_thread_start(conn_io_thread, (void *)(uintptr_t)i, name, &io[i]);
	}
	demo_thread_start(shard_thread, NULL, "shard-io", &shard_io);
	demo_thread_start(sink_thread, NULL, "log-sink", &sink_io);
	demo_thread_start(metrics_thread, demo_tree.app_sup, "metrics", &metrics_io);
	demo_log("serving: %u req/s over %u connections, %lu parked sessions; pid %ld",
	         demo_config.request_rate, demo_config.keepalive_conns, demo_config.idle_tasks,
	         (long)getpid());

	while (sigwait(&stop_signals, &sig) != 0)
		;
	demo_log("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	atomic_store(&demo_stopping, 1);
	demo_thread_join(control);
	for (unsigned i = 0; i < CONN_IO_THREADS; i++)
		demo_thread_join(io[i]);
	demo_thread_join(shard_io);
	demo_thread_join(sink_io);
	demo_thread_join(metrics_io);

	/* No inspect callback can run once the agent is stopped: free the state after this. */
	sonde_stop();
	conn_fini();
	pool_fini();
	shard_fini();
	sink_fini();
	cache_fini();
	auth_fini();
	sonde_task_exit(demo_tree.conn_sup, "shutdown");
	sonde_task_exit(demo_tree.shard_sup, "shutdown");
	sonde_task_exit(demo_tree.app_sup, "shutdown");
	demo_log("stopped");
	return 0;
}
