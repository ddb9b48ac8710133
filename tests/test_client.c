/*
 * test_client.c - the `sonde` program's side of the protocol (tui/client.c), which the CLI and the
 * TUI's fetch thread both stand on: connecting (and every way that fails, each with a cause that
 * names it), requests and their replies (ids matched, stale replies skipped, errors, timeouts,
 * an agent that closes us, garbage, a reply of megabytes), and discovery of live agents.
 *
 * The agent side is a scripted fake server on a thread, so each misbehaviour is exact; discovery
 * uses real tests/host processes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "client.h"

#define GREETING "{\"sonde\":1,\"pid\":1,\"name\":\"fake\",\"agent\":\"0.1.0\",\"uptime_s\":1.5," \
                 "\"caps\":[\"ping\"]}\n"

/* Milliseconds on the monotonic clock, for timing the client's deadlines. */
static long long test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Remove a scratch directory and everything in it. */
static void test_rmrf(const char *dir)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- a scripted fake agent ------------------------------------------------------------------- */

struct fake {
	char dir[64];                  /* scratch directory (0700) */
	char path[108];                /* its listening socket */
	int listen_fd;
	pthread_t thread;
	void (*script)(struct fake *f, int fd);
	char last_request[4096];       /* the last request line the script read */
	int done;
};

/* Send a whole string on fd (the script's side; the client must be reading). */
static void fake_send(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Read one request line into f->last_request (newline stripped); 0, or -1 at end of file. */
static int fake_read_line(struct fake *f, int fd)
{
	size_t n = 0;

	while (n < sizeof f->last_request - 1) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r <= 0)
			return -1;
		if (ch == '\n')
			break;
		f->last_request[n++] = ch;
	}
	f->last_request[n] = '\0';
	return 0;
}

/* The id of the last request (the client numbers them). */
static long long fake_request_id(struct fake *f)
{
	json_t *req = json_loads(f->last_request, 0, NULL);
	long long id = json_integer_value(json_object_get(req, "id"));

	json_decref(req);
	return id;
}

/* The server thread: accept one client, run the script on it, close. */
static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->listen_fd, NULL, NULL);

	if (fd >= 0) {
		f->script(f, fd);
		close(fd);
	}
	f->done = 1;
	return NULL;
}

/* Listen at DIR/fake.sock and serve one client with script, on a thread. */
static void fake_start(struct fake *f, void (*script)(struct fake *, int))
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(f->dir, sizeof f->dir, "/tmp/sonde-test-client-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/fake.sock", f->dir);
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(f->listen_fd, 4), 0);
	f->script = script;
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

/* Wait for the script to finish and remove the scratch directory. */
static void fake_stop(struct fake *f)
{
	/* A script waiting in accept() for a client that never came is woken by shutdown. */
	shutdown(f->listen_fd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	test_rmrf(f->dir);
}

/* Assert a cause (consumed) mentions hint. */
static void test_expect_cause(char *cause, const char *hint)
{
	assert_non_null(cause);
	if (strstr(cause, hint) == NULL)
		fail_msg("cause \"%s\" does not mention \"%s\"", cause, hint);
	free(cause);
}

/* Assert the time since t0 is at least min_ms and under 3 s: a deadline kept, not before it, not
 * long after. */
static void test_expect_deadline(long long t0, long long min_ms)
{
	assert_true(test_now_ms() - t0 >= min_ms);
	assert_true(test_now_ms() - t0 < 3000);
}

/* A Unix socket bound at path (sa is filled in with it); nothing listens yet. */
static int test_bind_socket(struct sockaddr_un *sa, const char *path)
{
	int fd;

	memcpy(sa->sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof *sa), 0);
	return fd;
}

/*
 * Fill the listen queue of sa (a listener that never accepts) with non-blocking connects, at most
 * 256, kept in queued; returns how many. With check, also asserts that each socket was made, that
 * the first refused connect said EAGAIN and that the queue filled before 256.
 */
static int test_fill_queue(const struct sockaddr_un *sa, int *queued, int check)
{
	int nq = 0;

	while (nq < 256) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (check)
			assert_true(fd >= 0);
		if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0) {
			if (check)
				assert_int_equal(errno, EAGAIN);
			close(fd);
			break;
		}
		queued[nq++] = fd;
	}
	if (check)
		assert_true(nq < 256);
	return nq;
}

/* A copy of the environment variable name (NULL if unset), for test_env_restore. */
static char *test_env_save(const char *name)
{
	return getenv(name) ? strdup(getenv(name)) : NULL;
}

/* Put name back as test_env_save found it (unset if it was); frees saved. */
static void test_env_restore(const char *name, char *saved)
{
	if (saved != NULL)
		setenv(name, saved, 1);
	else
		unsetenv(name);
	free(saved);
}

/* Start a fake agent on f running script, and connect to it (2 s deadline); the client. */
static struct client *fake_connect(struct fake *f, void (*script)(struct fake *, int))
{
	struct client *c;
	char *cause = NULL;

	memset(f, 0, sizeof *f);
	fake_start(f, script);
	c = client_connect(f->path, 2000, &cause);
	assert_non_null(c);
	return c;
}

/* Close the client and stop its fake agent. */
static void fake_finish(struct fake *f, struct client *c)
{
	client_close(c);
	fake_stop(f);
}

/* ---- scripts --------------------------------------------------------------------------------- */

/* Greet, then answer every request: ping ok, "boom" with an agent error. */
static void script_normal(struct fake *f, int fd)
{
	char reply[256];

	fake_send(fd, GREETING);
	while (fake_read_line(f, fd) == 0) {
		long long id = fake_request_id(f);
		if (strstr(f->last_request, "\"boom\"") != NULL)
			snprintf(reply, sizeof reply, "{\"id\":%lld,\"ok\":false,\"error\":{\"code\":"
			         "\"unknown_command\",\"message\":\"no boom here\"}}\n", id);
		else
			snprintf(reply, sizeof reply, "{\"id\":%lld,\"ok\":true,\"result\":{\"pong\":true}}\n",
			         id);
		fake_send(fd, reply);
	}
}

/* Say nothing until the client gives up and closes. */
static void script_silent(struct fake *f, int fd)
{
	char ch;

	(void)f;
	while (read(fd, &ch, 1) > 0)
		;
}

/* Accept and close without a word (an agent that is going away). */
static void script_close_at_once(struct fake *f, int fd)
{
	(void)f;
	(void)fd;
}

/* Something else listens there. */
static void script_not_sonde(struct fake *f, int fd)
{
	(void)f;
	fake_send(fd, "SSH-2.0-OpenSSH_9.2\n");
}

/* The agent's refusal line (too many clients, another uid), then the close. */
static void script_refuse(struct fake *f, int fd)
{
	(void)f;
	fake_send(fd, "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"too_many_clients\",\"message\":"
	              "\"too many clients (16 connected, the limit)\"}}\n");
}

/* Greet, read the request, never answer (until the client closes). */
static void script_no_answer(struct fake *f, int fd)
{
	char ch;

	fake_send(fd, GREETING);
	fake_read_line(f, fd);
	while (read(fd, &ch, 1) > 0)
		;
}

/* Greet, then answer an older request first (the client abandoned it), then this one. */
static void script_stale_first(struct fake *f, int fd)
{
	char reply[256];

	fake_send(fd, GREETING);
	if (fake_read_line(f, fd) != 0)
		return;
	fake_send(fd, "{\"id\":999,\"ok\":true,\"result\":{\"stale\":true}}\n");
	snprintf(reply, sizeof reply, "{\"id\":%lld,\"ok\":true,\"result\":{\"fresh\":true}}\n",
	         fake_request_id(f));
	fake_send(fd, reply);
}

/* Greet, read the request, then close the client as the agent does at its idle timeout. */
static void script_agent_closes(struct fake *f, int fd)
{
	fake_send(fd, GREETING);
	fake_read_line(f, fd);
	fake_send(fd, "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"timeout\",\"message\":"
	              "\"closed after 600 s without a request\"}}\n");
}

/* Greet, then answer with a line that is not JSON. */
static void script_garbage_reply(struct fake *f, int fd)
{
	fake_send(fd, GREETING);
	fake_read_line(f, fd);
	fake_send(fd, "this is not a reply\n");
}

/* Greet, then answer with a 5 MB result, in pieces. */
static void script_big_reply(struct fake *f, int fd)
{
	char head[96];
	size_t n = 5u << 20;
	char *blob = malloc(n + 1);

	fake_send(fd, GREETING);
	if (blob == NULL || fake_read_line(f, fd) != 0) {
		free(blob);
		return;
	}
	memset(blob, 'b', n);
	blob[n] = '\0';
	snprintf(head, sizeof head, "{\"id\":%lld,\"ok\":true,\"result\":{\"blob\":\"",
	         fake_request_id(f));
	fake_send(fd, head);
	fake_send(fd, blob);
	fake_send(fd, "\"}}\n");
	free(blob);
}

/* ---- connect --------------------------------------------------------------------------------- */

/* client_connect(path) with a 1 s deadline must fail with a cause mentioning hint. */
static void test_connect_fails(const char *path, const char *hint)
{
	char *cause = NULL;

	assert_null(client_connect(path, 1000, &cause));
	test_expect_cause(cause, hint);
}

/* Every way connect() can fail gives NULL and a cause naming it. */
static void test_connect_failures(void **state)
{
	char dir[] = "/tmp/sonde-test-client-XXXXXX", path[128], longpath[200];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/none.sock", dir);
	test_connect_fails(path, "no agent socket at");
	/* Bound, then its listener closed: what a crashed agent leaves. */
	snprintf(path, sizeof path, "%s/dead.sock", dir);
	close(test_bind_socket(&sa, path));
	test_connect_fails(path, "nothing listens on");
	/* The same, named after a live process (ours): its agent went away while it lives on, as
	 * when a wrapper script run under `sonde run` exec()s the service. */
	snprintf(path, sizeof path, "%s/%ld.sock", dir, (long)getpid());
	close(test_bind_socket(&sa, path));
	test_connect_fails(path, "its process is alive");
	memset(longpath, 'p', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	test_connect_fails(longpath, "too long");
	test_rmrf(dir);
}

/* A peer that does not greet, greets wrongly, or refuses us: NULL with the reason. */
static void test_connect_bad_greetings(void **state)
{
	static const struct {
		void (*script)(struct fake *, int);
		int timeout_ms;
		long long min_ms;      /* > 0: the deadline is kept, not before it, not long after */
		const char *hint;
	} cases[] = {
		{script_close_at_once, 2000, 0, "did not greet us: the agent closed the connection"},
		{script_silent, 300, 290, "within the time limit"},
		{script_not_sonde, 2000, 0, "does not speak the sonde protocol"},
		{script_refuse, 2000, 0, "refused us: too many clients (16 connected"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fake f;
		char *cause = NULL;
		long long t0;

		memset(&f, 0, sizeof f);
		fake_start(&f, cases[i].script);
		t0 = test_now_ms();
		assert_null(client_connect(f.path, cases[i].timeout_ms, &cause));
		if (cases[i].min_ms > 0)
			test_expect_deadline(t0, cases[i].min_ms);
		test_expect_cause(cause, cases[i].hint);
		fake_stop(&f);
	}
}

/*
 * An agent whose listen queue is full (a stopped or hung host that sonde has tried often
 * enough): connect() would block forever, and `sonde list` hung for every agent. The deadline
 * holds and the cause says what to check.
 */
static void test_connect_queue_full(void **state)
{
	char dir[] = "/tmp/sonde-test-client-XXXXXX", path[128];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int lfd, queued[256], nq;
	char *cause = NULL;
	long long t0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/stuck.sock", dir);
	lfd = test_bind_socket(&sa, path);
	assert_int_equal(listen(lfd, 1), 0);   /* never accepts */
	nq = test_fill_queue(&sa, queued, 1);
	t0 = test_now_ms();
	alarm(10);   /* a client that blocks in connect() is killed, not left hanging the suite */
	assert_null(client_connect(path, 300, &cause));
	alarm(0);
	assert_true(test_now_ms() - t0 >= 290);
	if (test_now_ms() - t0 > 3000)
		fail_msg("client_connect took %lld ms with a 300 ms deadline", test_now_ms() - t0);
	test_expect_cause(cause, "not accepting connections");
	for (int i = 0; i < nq; i++)
		close(queued[i]);
	close(lfd);
	test_rmrf(dir);
}

/* ---- requests -------------------------------------------------------------------------------- */

/* A good exchange: the greeting kept, args and cmd sent, ids increasing, errors reported. */
static void test_request_ok_and_agent_error(void **state)
{
	struct fake f;
	struct client *c;
	char *code, *message;
	json_t *args = json_pack("{s:s,s:i}", "data", "x", "limit", 5), *result, *req;

	(void)state;
	c = fake_connect(&f, script_normal);
	assert_true(client_alive(c));
	assert_string_equal(json_string_value(json_object_get(client_greeting(c), "name")), "fake");
	assert_int_equal(client_request(c, "ping", args, 2000, &result, &code, &message), 0);
	assert_true(json_is_true(json_object_get(result, "pong")));
	assert_null(code);
	assert_null(message);
	json_decref(result);
	/* What went over the wire: one object with id, cmd and the arguments. */
	req = json_loads(f.last_request, 0, NULL);
	assert_non_null(req);
	assert_string_equal(json_string_value(json_object_get(req, "cmd")), "ping");
	assert_string_equal(json_string_value(json_object_get(req, "data")), "x");
	assert_int_equal(json_integer_value(json_object_get(req, "limit")), 5);
	assert_true(json_is_integer(json_object_get(req, "id")));
	{
		long long first = json_integer_value(json_object_get(req, "id"));
		json_decref(req);
		assert_int_equal(client_request(c, "boom", NULL, 2000, &result, &code, &message), 1);
		assert_string_equal(code, "unknown_command");
		assert_string_equal(message, "no boom here");
		assert_null(result);
		free(code);
		free(message);
		req = json_loads(f.last_request, 0, NULL);
		assert_true(json_integer_value(json_object_get(req, "id")) > first);
		json_decref(req);
	}
	/* An agent error does not end the connection. */
	assert_true(client_alive(c));
	assert_int_equal(client_request(c, "ping", NULL, 2000, &result, &code, &message), 0);
	json_decref(result);
	json_decref(args);
	fake_finish(&f, c);
}

/* A ping to a fake agent running script must succeed (0) within timeout_ms; returns its result
 * (the caller's to free), the client and the fake agent already gone. */
static json_t *test_ping_result(void (*script)(struct fake *, int), int timeout_ms)
{
	struct fake f;
	struct client *c = fake_connect(&f, script);
	char *code, *message;
	json_t *result;

	assert_int_equal(client_request(c, "ping", NULL, timeout_ms, &result, &code, &message), 0);
	fake_finish(&f, c);
	return result;
}

/* A reply to an abandoned request (after a timeout) is skipped, not taken for this one. */
static void test_request_skips_stale_reply(void **state)
{
	json_t *result;

	(void)state;
	result = test_ping_result(script_stale_first, 2000);
	assert_true(json_is_true(json_object_get(result, "fresh")));
	assert_null(json_object_get(result, "stale"));
	json_decref(result);
}

/* No reply: -1 after timeout_ms, the client dead, and it says so on the next request. */
static void test_request_timeout(void **state)
{
	struct fake f;
	struct client *c;
	char *code, *message;
	json_t *result;
	long long t0;

	(void)state;
	c = fake_connect(&f, script_no_answer);
	t0 = test_now_ms();
	assert_int_equal(client_request(c, "ping", NULL, 300, &result, &code, &message), -1);
	test_expect_deadline(t0, 290);
	test_expect_cause(message, "within the time limit");
	assert_null(result);
	/* A transport failure kills the client; further requests fail at once. */
	assert_false(client_alive(c));
	assert_int_equal(client_request(c, "ping", NULL, 300, &result, &code, &message), -1);
	test_expect_cause(message, "not connected");
	fake_finish(&f, c);
}

/* A ping to a fake agent running script must fail (-1) with a message mentioning hint, and leave
 * the client dead. */
static void test_request_fails(void (*script)(struct fake *, int), const char *hint)
{
	struct fake f;
	struct client *c = fake_connect(&f, script);
	char *code, *message;
	json_t *result;

	assert_int_equal(client_request(c, "ping", NULL, 2000, &result, &code, &message), -1);
	test_expect_cause(message, hint);
	assert_false(client_alive(c));
	fake_finish(&f, c);
}

/* An error line with id null is the agent closing us: -1 with its message. */
static void test_request_agent_closes_us(void **state)
{
	(void)state;
	test_request_fails(script_agent_closes, "agent: closed after 600 s without a request");
}

/* A reply that is not a JSON object: -1, client dead. */
static void test_request_garbage_reply(void **state)
{
	(void)state;
	test_request_fails(script_garbage_reply, "not a reply object");
}

/* A reply of 5 MB (the buffer grows) arrives whole. */
static void test_request_big_reply(void **state)
{
	json_t *result;

	(void)state;
	result = test_ping_result(script_big_reply, 10000);
	assert_int_equal(json_string_length(json_object_get(result, "blob")), 5u << 20);
	json_decref(result);
}

/* ---- discovery ------------------------------------------------------------------------------- */

struct test_host {
	pid_t pid;
	int in_fd;
};

/* Start tests/host --name NAME with SONDE_DIR=dir; returns once it is ready. */
static struct test_host test_host_start(const char *dir, const char *name)
{
	struct test_host h;
	const char *top = getenv("top_builddir");
	char exe[PATH_MAX], line[256];
	int in[2], out[2];
	FILE *o;

	snprintf(exe, sizeof exe, "%s/tests/host", top != NULL && *top ? top : BUILDDIR);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	h.pid = fork();
	assert_true(h.pid >= 0);
	if (h.pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		setenv("SONDE_DIR", dir, 1);
		execl(exe, exe, "--name", name, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	h.in_fd = in[1];
	o = fdopen(out[0], "r");
	assert_non_null(o);
	assert_non_null(fgets(line, sizeof line, o));
	assert_true(strncmp(line, "ready ", 6) == 0);
	fclose(o);
	return h;
}

/* Stop a host by closing its stdin, and reap it. */
static void test_host_stop(struct test_host *h)
{
	close(h->in_fd);
	assert_int_equal(waitpid(h->pid, NULL, 0), h->pid);
}

/* Live agents only, sorted by pid, named from their greetings; stale and foreign files skipped. */
static void test_discover(void **state)
{
	char dir[] = "/tmp/sonde-test-client-XXXXXX", path[128];
	char *saved = test_env_save("SONDE_DIR");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct test_host a, b;
	struct agent_ref *refs;
	char *cause = NULL;
	size_t n;
	int keep;
	pid_t dead;

	(void)state;
	assert_non_null(mkdtemp(dir));
	setenv("SONDE_DIR", dir, 1);
	/* Empty directory: no agents, no error. */
	assert_int_equal(client_discover(&refs, &n, &cause), 0);
	assert_int_equal(n, 0);
	free(refs);
	a = test_host_start(dir, "alpha");
	b = test_host_start(dir, "beta");
	/* A dead pid's socket, a live pid's socket nobody listens on, a file that is no socket name. */
	dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	snprintf(path, sizeof path, "%s/%ld.sock", dir, (long)dead);
	close(test_bind_socket(&sa, path));
	snprintf(path, sizeof path, "%s/%ld.sock", dir, (long)getpid());
	keep = test_bind_socket(&sa, path);
	snprintf(path, sizeof path, "%s/notes.txt", dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));

	assert_int_equal(client_discover(&refs, &n, &cause), 0);
	assert_int_equal(n, 2);
	assert_true(refs[0].pid < refs[1].pid);
	for (size_t i = 0; i < n; i++) {
		pid_t want = refs[i].pid;
		assert_true(want == a.pid || want == b.pid);
		assert_string_equal(refs[i].name, want == a.pid ? "alpha" : "beta");
		assert_true(refs[i].uptime_s >= 0 && refs[i].uptime_s < 60);
		snprintf(path, sizeof path, "%s/%ld.sock", dir, (long)want);
		assert_string_equal(refs[i].path, path);
	}
	free(refs);
	/* A live process whose agent does not answer (stopped, hung: here a listener that never
	 * accepts, queue full) is listed as not responding, not hidden. */
	{
		pid_t stuck = fork();
		int lfd, queued[256], nq, seen = 0;

		if (stuck == 0) {
			/* never outlive a failed test: no hold on the test's output, gone in 30 s */
			close(STDOUT_FILENO);
			close(STDERR_FILENO);
			alarm(30);
			pause();
			_exit(0);
		}
		assert_true(stuck > 0);
		snprintf(path, sizeof path, "%s/%ld.sock", dir, (long)stuck);
		lfd = test_bind_socket(&sa, path);
		assert_int_equal(listen(lfd, 1), 0);
		nq = test_fill_queue(&sa, queued, 0);
		alarm(20);
		assert_int_equal(client_discover(&refs, &n, &cause), 0);
		alarm(0);
		assert_int_equal(n, 3);
		for (size_t i = 0; i < n; i++)
			if (refs[i].pid == stuck) {
				seen = 1;
				assert_string_equal(refs[i].name, "(not responding)");
				assert_true(refs[i].uptime_s < 0);
			}
		assert_true(seen);
		free(refs);
		for (int i = 0; i < nq; i++)
			close(queued[i]);
		close(lfd);
		unlink(path);
		kill(stuck, SIGKILL);
		waitpid(stuck, NULL, 0);
	}
	close(keep);
	test_host_stop(&a);
	test_host_stop(&b);
	/* An unsafe directory is an error with its cause, not "no agents". */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(client_discover(&refs, &n, &cause), -1);
	test_expect_cause(cause, "unsafe socket directory");
	/* A directory that does not exist yet: nobody ever ran an agent, no error. */
	snprintf(path, sizeof path, "%s/never", dir);
	setenv("SONDE_DIR", path, 1);
	cause = NULL;
	assert_int_equal(client_discover(&refs, &n, &cause), 0);
	assert_int_equal(n, 0);
	free(refs);
	test_env_restore("SONDE_DIR", saved);
	test_rmrf(dir);
}

/*
 * A service started without XDG_RUNTIME_DIR (systemd, cron) has its socket in /tmp/sonde-UID;
 * an operator's login shell has XDG_RUNTIME_DIR. `sonde list` and `sonde PID` must still find
 * it: both directories are looked at when SONDE_DIR is not set.
 */
static void test_discover_other_dir(void **state)
{
	char scratch[] = "/tmp/sonde-test-client-XXXXXX", fallback[64], want[128], path[128];
	char *saved_dir = test_env_save("SONDE_DIR");
	char *saved_xdg = test_env_save("XDG_RUNTIME_DIR");
	struct test_host h;
	struct agent_ref *refs;
	char *cause = NULL;
	struct stat st;
	size_t n;
	int found = 0;

	(void)state;
	snprintf(fallback, sizeof fallback, "/tmp/sonde-%lu", (unsigned long)getuid());
	if (lstat(fallback, &st) == 0 &&
	    (!S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0))
		skip();   /* an unsafe /tmp/sonde-UID here: no agent could use it */
	assert_non_null(mkdtemp(scratch));
	h = test_host_start(fallback, "elsewhere");   /* its socket in /tmp/sonde-UID */
	unsetenv("SONDE_DIR");
	setenv("XDG_RUNTIME_DIR", scratch, 1);        /* the operator's shell: no sonde/ there */

	assert_int_equal(client_discover(&refs, &n, &cause), 0);
	for (size_t i = 0; i < n; i++)
		if (refs[i].pid == h.pid) {
			found = 1;
			assert_string_equal(refs[i].name, "elsewhere");
		}
	free(refs);
	snprintf(want, sizeof want, "%s/%ld.sock", fallback, (long)h.pid);
	assert_int_equal(client_path_for_pid(h.pid, path, sizeof path, &cause), 0);

	test_host_stop(&h);
	test_env_restore("SONDE_DIR", saved_dir);   /* unset above: stays unset if it was */
	test_env_restore("XDG_RUNTIME_DIR", saved_xdg);
	rmdir(scratch);
	if (!found)
		fail_msg("an agent in %s was not found with XDG_RUNTIME_DIR set", fallback);
	assert_string_equal(path, want);
}

/* One cmocka group (one TAP plan); SIGPIPE ignored as a client would. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_failures),
		cmocka_unit_test(test_connect_bad_greetings),
		cmocka_unit_test(test_connect_queue_full),
		cmocka_unit_test(test_request_ok_and_agent_error),
		cmocka_unit_test(test_request_skips_stale_reply),
		cmocka_unit_test(test_request_timeout),
		cmocka_unit_test(test_request_agent_closes_us),
		cmocka_unit_test(test_request_garbage_reply),
		cmocka_unit_test(test_request_big_reply),
		cmocka_unit_test(test_discover),
		cmocka_unit_test(test_discover_other_dir),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
