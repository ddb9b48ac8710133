/*
 * test_fetch.c - the TUI's fetch thread against a fake agent (a thread of this test speaking
 * protocol v1 on a Unix socket): wants run once and again only when changed or forced, errors
 * and slow replies reach the UI side without blocking it, prefetches run once, throttled slots
 * wait their period, and a lost agent is reported and replaced by a new process of the same
 * name.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "fetch.h"

/* ---- a fake agent ------------------------------------------------------------------------ */

struct fake {
	char path[108];
	char name[32];
	pid_t pid;                 /* what the greeting says */
	int listen_fd;
	pthread_t thread;
	atomic_int stop;
	atomic_int requests;       /* requests answered */
	atomic_int delay_ms;       /* before each reply */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Answer one connection until it closes or the fake stops: a greeting, then each request line
 * with {"cmd", "n" (requests so far), "args" (the request)}; cmd "fail" gets an error. */
static void fake_serve(struct fake *f, int fd)
{
	char buf[65536];
	size_t used = 0;
	char greeting[160];
	int len = snprintf(greeting, sizeof greeting,
	                   "{\"sonde\":1,\"pid\":%ld,\"name\":\"%s\",\"agent\":\"test\"}\n",
	                   (long)f->pid, f->name);

	if (write(fd, greeting, (size_t)len) != len)
		return;
	while (!atomic_load(&f->stop)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		char *nl;

		if (poll(&p, 1, 20) <= 0)
			continue;
		n = read(fd, buf + used, sizeof buf - used - 1);
		if (n <= 0)
			return;
		used += (size_t)n;
		buf[used] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL) {
			json_t *req, *reply;
			char *out;

			size_t rest = used - (size_t)(nl - buf) - 1;

			*nl = '\0';
			req = json_loads(buf, 0, NULL);
			memmove(buf, nl + 1, rest + 1); /* the rest and its NUL */
			used = rest;
			if (req == NULL)
				continue;
			if (atomic_load(&f->delay_ms) > 0)
				usleep((useconds_t)atomic_load(&f->delay_ms) * 1000);
			int count = atomic_fetch_add(&f->requests, 1) + 1;
			const char *cmd = json_string_value(json_object_get(req, "cmd"));
			if (cmd != NULL && strcmp(cmd, "fail") == 0)
				reply = json_pack("{s:O, s:b, s:{s:s, s:s}}", "id", json_object_get(req, "id"),
				                  "ok", 0, "error", "code", "bad_argument", "message",
				                  "fail always fails");
			else
				reply = json_pack("{s:O, s:b, s:{s:s, s:i, s:O}}", "id",
				                  json_object_get(req, "id"), "ok", 1, "result", "cmd",
				                  cmd != NULL ? cmd : "?", "n", count, "args", req);
			out = json_dumps(reply, JSON_COMPACT);
			if (write(fd, out, strlen(out)) < 0 || write(fd, "\n", 1) < 0) {
				free(out);
				json_decref(reply);
				json_decref(req);
				return;
			}
			free(out);
			json_decref(reply);
			json_decref(req);
		}
	}
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	while (!atomic_load(&f->stop)) {
		struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};
		int fd;

		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept(f->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		fake_serve(f, fd);
		close(fd);
	}
	return NULL;
}

/* A fake agent named name, greeting with pid, listening at DIR/pid.sock. */
static struct fake *fake_start(const char *dir, const char *name, pid_t pid)
{
	struct fake *f = calloc(1, sizeof *f);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	assert_non_null(f);
	snprintf(f->path, sizeof f->path, "%s/%ld.sock", dir, (long)pid);
	snprintf(f->name, sizeof f->name, "%s", name);
	f->pid = pid;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->path);
	unlink(f->path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
	chmod(f->path, 0600);
	assert_int_equal(listen(f->listen_fd, 4), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	return f;
}

/* Stop the fake: its connection closes and its socket goes away, like a process that died. */
static void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, 1);
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	unlink(f->path);
	free(f);
}

/* ---- fixture: a socket directory, a wake pipe, a fetch thread on the first fake ---------- */

struct fixture {
	char dir[64];
	int wake[2];
	struct fake *fake;
	struct fetch *fetch;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof *fx);
	char *cause = NULL;

	snprintf(fx->dir, sizeof fx->dir, "/tmp/sonde-test-fetch.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	chmod(fx->dir, 0700);
	setenv("SONDE_DIR", fx->dir, 1);
	assert_int_equal(pipe(fx->wake), 0);
	fcntl(fx->wake[0], F_SETFL, O_NONBLOCK);
	fcntl(fx->wake[1], F_SETFL, O_NONBLOCK);
	fx->fake = fake_start(fx->dir, "fake-agent", getpid());
	fx->fetch = fetch_start(fx->fake->path, NULL, fx->wake[1], &cause);
	assert_non_null(fx->fetch);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(fetch_stop(fx->fetch), 0);
	if (fx->fake != NULL)
		fake_stop(fx->fake);
	close(fx->wake[0]);
	close(fx->wake[1]);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Wait (as the UI does, on the wake pipe) until slot has a reply with seq > after; NULL after
 * timeout_s. */
static const struct fetch_reply *wait_reply(struct fixture *fx, const char *slot, uint64_t after,
                                            double timeout_s)
{
	double end = now_s() + timeout_s;

	while (now_s() < end) {
		struct pollfd p = {.fd = fx->wake[0], .events = POLLIN};
		char drain[64];
		const struct fetch_reply *r;

		poll(&p, 1, 20);
		while (read(fx->wake[0], drain, sizeof drain) > 0)
			;
		fetch_collect(fx->fetch);
		r = fetch_get(fx->fetch, slot);
		if (r != NULL && r->seq > after)
			return r;
	}
	return NULL;
}

/* One frame's declaration: slot wants cmd with args (stolen). */
static void frame(struct fixture *fx, const char *slot, const char *cmd, json_t *args, int force)
{
	fetch_begin(fx->fetch);
	if (slot != NULL)
		fetch_want(fx->fetch, slot, cmd, args);
	fetch_commit(fx->fetch, force);
}

static void wait_state(struct fixture *fx, enum fetch_state want, double timeout_s)
{
	struct fetch_status st;
	double end = now_s() + timeout_s;

	do {
		fetch_status(fx->fetch, &st);
		if (st.state == want)
			return;
		usleep(10000);
	} while (now_s() < end);
	fail_msg("fetch state %d, wanted %d (cause: %s)", st.state, want, st.cause);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_wants_run_once_then_on_force(void **state)
{
	struct fixture *fx = *state;
	const struct fetch_reply *r;

	wait_state(fx, FETCH_CONNECTED, 3);
	frame(fx, "a", "ping", NULL, 0);
	r = wait_reply(fx, "a", 0, 3);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r->result, "cmd")), "ping");
	assert_int_equal(r->seq, 1);
	assert_string_equal(r->error, "");

	/* the same want, frame after frame: nothing new is asked */
	for (int i = 0; i < 10; i++)
		frame(fx, "a", "ping", NULL, 0);
	usleep(200000);
	assert_int_equal(atomic_load(&fx->fake->requests), 1);
	assert_null(wait_reply(fx, "a", 1, 0.1));

	/* a refresh tick re-asks it */
	frame(fx, "a", "ping", NULL, 1);
	r = wait_reply(fx, "a", 1, 3);
	assert_non_null(r);
	assert_int_equal(r->seq, 2);
	assert_int_equal(atomic_load(&fx->fake->requests), 2);
}

static void test_changed_args_run_at_once(void **state)
{
	struct fixture *fx = *state;
	const struct fetch_reply *r;

	frame(fx, "page", "tasks", json_pack("{s:i}", "offset", 0), 0);
	r = wait_reply(fx, "page", 0, 3);
	assert_non_null(r);
	assert_int_equal(fetch_reply_arg_int(r, "offset", -1), 0);
	frame(fx, "page", "tasks", json_pack("{s:i}", "offset", 35), 0);
	assert_false(fetch_reply_current(fx->fetch, "page", r)); /* answers the old page */
	r = wait_reply(fx, "page", r->seq, 3);
	assert_non_null(r);
	assert_int_equal(fetch_reply_arg_int(r, "offset", -1), 35);
	assert_true(fetch_reply_current(fx->fetch, "page", r));
	/* the request carried the arguments and the command */
	const json_t *sent = json_object_get(r->result, "args");
	assert_int_equal(json_integer_value(json_object_get(sent, "offset")), 35);
	assert_string_equal(json_string_value(json_object_get(sent, "cmd")), "tasks");
}

static void test_agent_errors_reach_the_view(void **state)
{
	struct fixture *fx = *state;
	const struct fetch_reply *r;
	struct fetch_status st;

	frame(fx, "bad", "fail", NULL, 0);
	r = wait_reply(fx, "bad", 0, 3);
	assert_non_null(r);
	assert_null(r->result);
	assert_string_equal(r->error, "bad_argument: fail always fails");
	fetch_status(fx->fetch, &st);
	assert_int_equal(st.state, FETCH_CONNECTED); /* an error answer is not a lost agent */
}

/* A slow agent: the UI side's calls return at once while the request is in flight. */
static void test_slow_reply_never_blocks_the_ui(void **state)
{
	struct fixture *fx = *state;
	double worst = 0;

	wait_state(fx, FETCH_CONNECTED, 3);
	atomic_store(&fx->fake->delay_ms, 400);
	frame(fx, "slow", "ping", NULL, 0);
	usleep(50000); /* the request is now in flight */
	for (int i = 0; i < 20; i++) {
		double t0 = now_s();

		frame(fx, "slow", "ping", NULL, 0);
		fetch_collect(fx->fetch);
		fetch_get(fx->fetch, "slow");
		if (now_s() - t0 > worst)
			worst = now_s() - t0;
	}
	assert_true(worst < 0.005);
	assert_non_null(wait_reply(fx, "slow", 0, 3));
	atomic_store(&fx->fake->delay_ms, 0);
}

static void test_prefetch_runs_once(void **state)
{
	struct fixture *fx = *state;
	const struct fetch_reply *r;

	wait_state(fx, FETCH_CONNECTED, 3);
	fetch_begin(fx->fetch);
	fetch_prefetch(fx->fetch, 1);
	fetch_want(fx->fetch, "warm", "tree", NULL);
	fetch_prefetch(fx->fetch, 0);
	fetch_commit(fx->fetch, 1);
	/* later frames never declare it; it is still answered, once */
	for (int i = 0; i < 5; i++)
		frame(fx, NULL, NULL, NULL, 1);
	r = wait_reply(fx, "warm", 0, 3);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r->result, "cmd")), "tree");
	int before = atomic_load(&fx->fake->requests);
	for (int i = 0; i < 5; i++)
		frame(fx, NULL, NULL, NULL, 1);
	usleep(200000);
	assert_int_equal(atomic_load(&fx->fake->requests), before);
}

static void test_throttled_slot_waits_its_period(void **state)
{
	struct fixture *fx = *state;
	const struct fetch_reply *r;

	frame(fx, "tree", "tree", NULL, 1);
	fetch_throttle(fx->fetch, "tree", 10.0);
	r = wait_reply(fx, "tree", 0, 3);
	assert_non_null(r);
	/* refresh ticks within the period do not re-ask it */
	for (int i = 0; i < 5; i++) {
		frame(fx, "tree", "tree", NULL, 1);
		usleep(20000);
	}
	assert_null(wait_reply(fx, "tree", r->seq, 0.3));
	/* but a changed request runs at once */
	frame(fx, "tree", "tree", json_pack("{s:i}", "depth", 2), 1);
	assert_non_null(wait_reply(fx, "tree", r->seq, 3));
	/* and without the throttle every tick asks again */
	fetch_throttle(fx->fetch, "tree", 0);
	r = fetch_get(fx->fetch, "tree");
	uint64_t seq = r->seq;
	frame(fx, "tree", "tree", json_pack("{s:i}", "depth", 2), 1);
	assert_non_null(wait_reply(fx, "tree", seq, 3));
}

/* The agent dies; a new process with the same name comes up under another pid: the status
 * says disconnected (last data kept), then connected to the new one, and wants run again. */
static void test_reconnects_to_a_new_process_of_the_same_name(void **state)
{
	struct fixture *fx = *state;
	const struct fetch_reply *r;
	struct fetch_status st;
	uint64_t gen;

	frame(fx, "sys", "system", NULL, 0);
	r = wait_reply(fx, "sys", 0, 3);
	assert_non_null(r);
	fetch_status(fx->fetch, &st);
	assert_int_equal(st.pid, getpid());
	assert_string_equal(st.name, "fake-agent");
	gen = st.generation;

	fake_stop(fx->fake);
	fx->fake = NULL;
	frame(fx, "sys", "system", NULL, 1); /* the next tick finds the socket closed */
	wait_state(fx, FETCH_DISCONNECTED, 6);
	fetch_status(fx->fetch, &st);
	assert_true(st.cause[0] != '\0');
	fetch_collect(fx->fetch);
	r = fetch_get(fx->fetch, "sys");
	assert_non_null(r);
	assert_non_null(r->result); /* the last data stays */

	/* getppid() is a live pid other than ours: the "restarted service" */
	fx->fake = fake_start(fx->dir, "fake-agent", getppid());
	wait_state(fx, FETCH_CONNECTED, 6);
	fetch_status(fx->fetch, &st);
	assert_int_equal(st.pid, getppid());
	assert_string_equal(st.path, fx->fake->path);
	assert_true(st.generation > gen);
	frame(fx, "sys", "system", NULL, 0);
	assert_non_null(wait_reply(fx, "sys", r->seq, 3));
	assert_true(atomic_load(&fx->fake->requests) >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wants_run_once_then_on_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_args_run_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agent_errors_reach_the_view, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_reply_never_blocks_the_ui, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prefetch_runs_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_throttled_slot_waits_its_period, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnects_to_a_new_process_of_the_same_name,
		                                setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
