/*
 * test_agent.c - the agent against real clients over its real socket (issue 2, "Done means"):
 * a tests/host process per test, in a private socket directory from mkdtemp, driven through raw
 * Unix-socket connections. Every abuse is followed by proof that the host still serves: the same
 * connection where it should survive, and always a fresh client, with nothing lost.
 *
 * Covered: greeting; bad input of every kind on one connection; binary garbage; a 10 MiB line
 * (one line_too_long, then resync); 65536 vs 65537 bytes; 100 pipelined requests; CRLF; a client
 * of another uid (refused by the directory, and by SO_PEERCRED); a client that never reads (host
 * memory bounded by the output cap, client dropped, drop logged); max clients; idle timeout;
 * SIGPIPE; signals blocked on the agent thread; fork (child neither serves nor removes the
 * parent's socket); stale sockets; unsafe directories; SONDE_DISABLE; start/stop idempotence;
 * socket removal at stop and at exit.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <cmocka.h>
#include <jansson.h>

#include "sonde.h"

#define TEST_NOBODY 65534
#define TEST_TIMEOUT_MS 10000      /* no single wait in these tests may take longer */
#define TEST_OUTPUT_CAP (8u << 20) /* the agent's default per-client output cap */

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifndef TEST_ASAN
#define TEST_ASAN 0
#endif

#if TEST_ASAN
/*
 * LeakSanitizer asks this at exit. A child forked from this multi-threaded test process (with the
 * in-process agent running) inherits memory owned by threads that do not exist in the child; that
 * is what fork does, not a leak, so the leak check is turned off in such children only.
 */
static volatile int test_lsan_off;
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return test_lsan_off;
}
#define TEST_CHILD_NO_LEAK_CHECK() (test_lsan_off = 1)
#else
#define TEST_CHILD_NO_LEAK_CHECK() ((void)0)
#endif

/* Environment for a host whose forked child exits with the parent's agent thread's memory. */
#define TEST_FORK_ENV "ASAN_OPTIONS=detect_leaks=0"

/* ---- small utilities ------------------------------------------------------------------------- */

static long long test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep through signals: waits in these tests are part of what is measured. */
static void test_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Whether a socket file is there (lstat: a dangling symlink counts too). */
static int test_file_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/* Whole file into a malloc()ed string ("" if missing). */
static char *test_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = NULL;
	size_t n = 0;

	if (f == NULL)
		return strdup("");
	if (getdelim(&s, &n, '\0', f) < 0) {
		free(s);
		s = strdup("");
	}
	fclose(f);
	return s;
}

/* A field of /proc/PID/status in kB (VmRSS, VmHWM), or -1. */
static long test_status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kb = strtol(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

/* Entries in a /proc directory (threads, fds), not counting . and .. */
static int test_count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ---- raw connections ------------------------------------------------------------------------- */

struct conn {
	int fd;
	char *buf;
	size_t len, cap;
};

/* connect() without reading anything, so a test can see exactly what the agent sends first. */
static int test_connect_raw(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* A bound Unix socket at path (fd returned; closing it leaves the file, as a crash does). */
static int test_bind(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof sa.sun_path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	return fd;
}

/* A line reader around a socket or pipe fd (the host's stdout uses it too). */
static struct conn *conn_wrap(int fd)
{
	struct conn *c = calloc(1, sizeof *c);

	assert_non_null(c);
	c->fd = fd;
	c->cap = 1 << 16;
	c->buf = malloc(c->cap);
	assert_non_null(c->buf);
	return c;
}

/* Close and free; NULL is fine so teardown paths stay simple. */
static void conn_close(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
}

/*
 * The next line (newline stripped, malloc()ed) within timeout_ms. NULL at end of file (*eof = 1)
 * or on timeout (*eof = 0).
 */
static char *conn_line_eof(struct conn *c, int timeout_ms, int *eof)
{
	long long deadline = test_now_ms() + timeout_ms;

	*eof = 0;
	for (;;) {
		char *nl = c->len ? memchr(c->buf, '\n', c->len) : NULL;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		long long left;
		ssize_t n;

		if (nl != NULL) {
			size_t l = (size_t)(nl - c->buf);
			char *line = malloc(l + 1);
			assert_non_null(line);
			memcpy(line, c->buf, l);
			line[l] = '\0';
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return line;
		}
		if (c->cap - c->len < 4096) {
			c->cap *= 2;
			c->buf = realloc(c->buf, c->cap);
			assert_non_null(c->buf);
		}
		left = deadline - test_now_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
			return NULL;
		n = read(c->fd, c->buf + c->len, c->cap - c->len);   /* sockets and pipes */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*eof = 1;
			return NULL;
		}
		c->len += (size_t)n;
	}
}

/* The next line as a JSON object; fails the test on timeout, end of file or bad JSON. */
static json_t *conn_json(struct conn *c)
{
	json_error_t jerr;
	int eof;
	char *line = conn_line_eof(c, TEST_TIMEOUT_MS, &eof);
	json_t *v;

	if (line == NULL)
		fail_msg("no line from the agent: %s", eof ? "connection closed" : "timed out");
	v = json_loads(line, 0, &jerr);
	if (!json_is_object(v))
		fail_msg("agent sent a line that is not a JSON object (%s): %.200s", jerr.text, line);
	free(line);
	return v;
}

/* Assert the peer closes the connection (no further line) within timeout_ms. */
static void conn_expect_eof(struct conn *c, int timeout_ms)
{
	int eof;
	char *line = conn_line_eof(c, timeout_ms, &eof);

	if (line != NULL)
		fail_msg("expected the agent to close the connection, got: %.200s", line);
	if (!eof)
		fail_msg("expected the agent to close the connection within %d ms", timeout_ms);
}

/* Send everything (blocking), failing the test on error; never raises SIGPIPE. */
static void conn_send(struct conn *c, const void *data, size_t n)
{
	const char *p = data;

	while (n > 0) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			fail_msg("send to the agent failed: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* conn_send for a C string. */
static void conn_send_str(struct conn *c, const char *s)
{
	conn_send(c, s, strlen(s));
}

/* One send() of the string s on c, best effort: a refused client's socket is already closed by
 * the agent (EPIPE, ECONNRESET); any other error fails the test. */
static void conn_send_best_effort(struct conn *c, const char *s)
{
	if (send(c->fd, s, strlen(s), MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
		fail_msg("send: %s", strerror(errno));
}

/* Requests written to memory (fprintf to m), then sent in one write. */
struct batch {
	char *all;
	size_t n;
	FILE *m;
};

/* Start an empty batch. */
static void batch_open(struct batch *b)
{
	b->all = NULL;
	b->n = 0;
	b->m = open_memstream(&b->all, &b->n);
}

/* Send everything written to b on c in one write, and free it. */
static void batch_send(struct batch *b, struct conn *c)
{
	fclose(b->m);
	conn_send(c, b->all, b->n);
	free(b->all);
}

/* Connect and check the greeting; returns the connection. */
static struct conn *conn_open(const char *path, pid_t want_pid)
{
	int fd = test_connect_raw(path);
	struct conn *c;
	json_t *g;

	if (fd < 0)
		fail_msg("cannot connect to %s: %s", path, strerror(errno));
	c = conn_wrap(fd);
	g = conn_json(c);
	if (json_integer_value(json_object_get(g, "sonde")) != 1)
		fail_msg("bad greeting: %s", json_dumps(g, JSON_COMPACT));
	if (want_pid > 0)
		assert_int_equal(json_integer_value(json_object_get(g, "pid")), want_pid);
	json_decref(g);
	return c;
}

/* Assert a reply: ok with this integer id. Consumes it. */
static void test_expect_ok(json_t *r, long long id)
{
	if (!json_is_true(json_object_get(r, "ok")) || !json_is_integer(json_object_get(r, "id")) ||
	    json_integer_value(json_object_get(r, "id")) != id)
		fail_msg("expected an ok reply with id %lld, got %s", id, json_dumps(r, JSON_COMPACT));
	assert_true(json_is_object(json_object_get(r, "result")));
	json_decref(r);
}

/* Assert a reply: error with this code (and id; LLONG_MIN = null id). Consumes it. */
static void test_expect_err(json_t *r, long long id, const char *code, const char *hint)
{
	json_t *rid = json_object_get(r, "id"), *err = json_object_get(r, "error");
	const char *got = json_string_value(json_object_get(err, "code"));
	const char *msg = json_string_value(json_object_get(err, "message"));
	int id_ok = id == LLONG_MIN ? json_is_null(rid)
	                            : json_is_integer(rid) && json_integer_value(rid) == id;

	if (!json_is_false(json_object_get(r, "ok")) || got == NULL || msg == NULL || !id_ok ||
	    strcmp(got, code) != 0 || (hint != NULL && strstr(msg, hint) == NULL))
		fail_msg("expected error %s (id %lld, message mentioning \"%s\"), got %s", code, id,
		         hint ? hint : "", json_dumps(r, JSON_COMPACT));
	json_decref(r);
}

/* One ping on c with id; asserts the pong. */
static void conn_ping(struct conn *c, long long id)
{
	char req[96];

	snprintf(req, sizeof req, "{\"id\":%lld,\"cmd\":\"ping\",\"data\":\"p%lld\"}\n", id, id);
	conn_send_str(c, req);
	{
		json_t *r = conn_json(c);
		char want[32];
		snprintf(want, sizeof want, "p%lld", id);
		assert_string_equal(json_string_value(json_object_get(json_object_get(r, "result"),
		                                                       "data")), want);
		test_expect_ok(r, id);
	}
}

/* A fresh client of the agent at path (whose pid is want_pid): greeted, pinged with id, closed. */
static void conn_ping_once(const char *path, pid_t want_pid, long long id)
{
	struct conn *c = conn_open(path, want_pid);

	conn_ping(c, id);
	conn_close(c);
}

/* A raw client of the agent at path: its greeting names the process want_name. */
static void test_expect_greeting_name(const char *path, const char *want_name)
{
	struct conn *c = conn_wrap(test_connect_raw(path));
	json_t *g = conn_json(c);

	assert_string_equal(json_string_value(json_object_get(g, "name")), want_name);
	json_decref(g);
	conn_close(c);
}

/* A raw client of the agent at path is refused with too_many_clients (message mentioning hint). */
static void test_expect_too_many(const char *path, const char *hint)
{
	struct conn *extra = conn_wrap(test_connect_raw(path));

	test_expect_err(conn_json(extra), LLONG_MIN, "too_many_clients", hint);
	conn_close(extra);
}

/* ---- hosts ----------------------------------------------------------------------------------- */

struct host {
	pid_t pid;
	int in_fd;                 /* host's stdin: closing it stops the host */
	struct conn *out;          /* host's stdout lines */
	char sock[108];
	char err_path[PATH_MAX];   /* host's stderr */
	int broken_stderr;         /* set before start: stderr is a pipe nobody reads */
};

struct fixture {
	char dir[80];              /* private SONDE_DIR (mode 0700, from mkdtemp) */
	char scratch[64];          /* files that are not the agent's (host stderr, ...) */
	struct host host;
};

/* Where tests/host lives: the TAP driver's top_builddir, else the configured build tree. */
static const char *test_builddir(void)
{
	const char *d = getenv("top_builddir");
	return d != NULL && *d != '\0' ? d : BUILDDIR;
}

/* A private scratch directory per test, with the agent's SONDE_DIR (0700) inside it. */
static int test_fixture_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	snprintf(f->scratch, sizeof f->scratch, "/tmp/sonde-test-agent-XXXXXX");
	if (mkdtemp(f->scratch) == NULL)
		return -1;
	snprintf(f->dir, sizeof f->dir, "%s/sock", f->scratch);
	if (mkdir(f->dir, 0700) != 0)
		return -1;
	f->host.pid = -1;
	f->host.in_fd = -1;
	*state = f;
	return 0;
}

/* Stop the host: close its stdin, wait (bounded), SIGKILL if it hangs. Returns its wait status. */
static int host_stop(struct host *h)
{
	int status = -1;
	long long deadline = test_now_ms() + TEST_TIMEOUT_MS;

	if (h->in_fd > 0)
		close(h->in_fd);
	h->in_fd = -1;
	if (h->pid <= 0) {   /* already reaped by the test */
		conn_close(h->out);
		h->out = NULL;
		return -1;
	}
	for (;;) {
		pid_t r = waitpid(h->pid, &status, WNOHANG);
		if (r == h->pid)
			break;
		if (r < 0) {
			status = -1;
			break;
		}
		if (test_now_ms() > deadline) {
			kill(h->pid, SIGKILL);
			waitpid(h->pid, &status, 0);
			status = -2;
			break;
		}
		test_sleep_ms(10);
	}
	h->pid = -1;
	conn_close(h->out);
	h->out = NULL;
	return status;
}

/* Stop the test's host (by its pid) and remove everything the test made. */
static int test_fixture_teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd;
	int rc;

	host_stop(&f->host);
	sonde_stop();   /* an in-process test that failed midway must not leave its agent running */
	cmd = malloc(strlen(f->scratch) + 16);
	sprintf(cmd, "rm -rf '%s'", f->scratch);
	rc = system(cmd);
	free(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

/*
 * Start tests/host with SONDE_DIR=dir, extra environment "K=V" strings and arguments (both
 * NULL-terminated, may be NULL) and wait for its "ready PID SOCKET" line.
 */
static void host_start_env(struct fixture *f, struct host *h, const char *const *env,
                           const char *const *args)
{
	int in[2], out[2];
	char exe[PATH_MAX], *argv[16];
	int argc = 0, eof;
	char *line;
	long pid;

	snprintf(exe, sizeof exe, "%s/tests/host", test_builddir());
	snprintf(h->err_path, sizeof h->err_path, "%s/host-%lld.err", f->scratch, test_now_ms());
	argv[argc++] = exe;
	for (int i = 0; args != NULL && args[i] != NULL && argc < 15; i++)
		argv[argc++] = (char *)args[i];
	argv[argc] = NULL;
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		int err = open(h->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (h->broken_stderr) {
			int p[2];
			if (pipe(p) != 0)
				_exit(126);
			close(p[0]);
			err = p[1];
		}
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err, 2);
		for (int fd = 3; fd < 1024; fd++)   /* whatever else the host holds, it opened */
			close(fd);
		setenv("SONDE_DIR", f->dir, 1);
		unsetenv("SONDE_DISABLE");
		unsetenv("SONDE_NAME");
		for (int i = 0; env != NULL && env[i] != NULL; i++)
			putenv((char *)env[i]);
		execv(exe, argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	h->in_fd = in[1];
	h->out = conn_wrap(out[0]);
	line = conn_line_eof(h->out, TEST_TIMEOUT_MS, &eof);
	if (line == NULL) {
		char *err = test_slurp(h->err_path);
		fail_msg("host %s did not get ready (%s); its stderr: %s", exe,
		         eof ? "it exited" : "timed out", err);
	}
	if (sscanf(line, "ready %ld %107s", &pid, h->sock) != 2 || pid != h->pid)
		fail_msg("unexpected first line from the host: %s", line);
	free(line);
}

/* The common case: a host with the default environment and no options. */
static void host_start(struct fixture *f)
{
	host_start_env(f, &f->host, NULL, NULL);
}

/* The host process is alive (not exited, not a zombie). */
static void host_expect_alive(const struct host *h)
{
	int status;
	assert_int_equal(waitpid(h->pid, &status, WNOHANG), 0);
	assert_int_equal(kill(h->pid, 0), 0);
}

/* The proof after every abuse: the host is alive and a fresh client gets greeted and served. */
static void host_expect_serving(const struct host *h)
{
	struct conn *c;

	host_expect_alive(h);
	c = conn_open(h->sock, h->pid);
	conn_ping(c, 900001);
	conn_ping(c, 900002);
	conn_close(c);
}

/* Start the test's host (host_start) and open a greeted client to it. */
static struct conn *host_start_open(struct fixture *f)
{
	host_start(f);
	return conn_open(f->host.sock, f->host.pid);
}

/* Start the test's host, open a client and send it the batch b; the client. */
static struct conn *host_start_send(struct fixture *f, struct batch *b)
{
	struct conn *c = host_start_open(f);

	batch_send(b, c);
	return c;
}

/* Close the test's client c, then host_expect_serving. */
static void host_expect_serving_after(const struct host *h, struct conn *c)
{
	conn_close(c);
	host_expect_serving(h);
}

/* What the host (and its agent) said on stderr so far. */
static char *host_stderr(const struct host *h)
{
	return test_slurp(h->err_path);
}

/* Does the host's stderr say text within timeout_ms? (The agent may log just after it closes
 * the client, so a client can see the effect before the log line is written.) */
static int host_stderr_says(const struct host *h, const char *text, int timeout_ms)
{
	long long deadline = test_now_ms() + timeout_ms;

	for (;;) {
		char *err = host_stderr(h);
		int found = strstr(err, text) != NULL;
		free(err);
		if (found)
			return 1;
		if (test_now_ms() >= deadline)
			return 0;
		test_sleep_ms(20);
	}
}

/* The host's next stdout line (after "ready") must be want. */
static void host_expect_line(struct host *h, const char *want)
{
	int eof;
	char *line = conn_line_eof(h->out, TEST_TIMEOUT_MS, &eof);

	assert_non_null(line);
	assert_string_equal(line, want);
	free(line);
}

/* Send sig to the host and reap it (it is not stopped again at teardown); its wait status. */
static int host_kill(struct host *h, int sig)
{
	int status;

	assert_int_equal(kill(h->pid, sig), 0);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	h->pid = -1;
	return status;
}

/*
 * Start the test's host with args (NULL-terminated, --fork-child among them) in an environment
 * fit for a forked child, and read its "child PID SOCKET" line: the child's pid, and its socket
 * ("-" for none) into sock_of_child (128 bytes).
 */
static void host_start_fork(struct fixture *f, const char *const *args, long *child,
                            char *sock_of_child)
{
	const char *env[] = {TEST_FORK_ENV, NULL};
	char *line;
	int eof;

	host_start_env(f, &f->host, env, args);
	line = conn_line_eof(f->host.out, TEST_TIMEOUT_MS, &eof);
	assert_non_null(line);
	assert_int_equal(sscanf(line, "child %ld %127s", child, sock_of_child), 2);
	free(line);
}

/* ---- greeting and good traffic --------------------------------------------------------------- */

static void test_greeting(void **state)
{
	struct fixture *f = *state;
	const char *extra[] = {"SONDE_NAME=greeter", NULL};
	struct conn *c;
	json_t *g, *caps, *e;
	size_t i;
	int ping = 0, help = 0;
	struct stat st;

	host_start_env(f, &f->host, extra, NULL);
	/* Socket: DIR/PID.sock, a socket, mode 0600. */
	{
		char want[PATH_MAX];
		snprintf(want, sizeof want, "%s/%ld.sock", f->dir, (long)f->host.pid);
		assert_string_equal(f->host.sock, want);
	}
	assert_int_equal(lstat(f->host.sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	c = conn_wrap(test_connect_raw(f->host.sock));
	assert_true(c->fd >= 0);
	g = conn_json(c);
	assert_int_equal(json_integer_value(json_object_get(g, "sonde")), SONDE_PROTOCOL);
	assert_int_equal(json_integer_value(json_object_get(g, "pid")), f->host.pid);
	assert_string_equal(json_string_value(json_object_get(g, "name")), "greeter");
	assert_string_equal(json_string_value(json_object_get(g, "agent")), SONDE_VERSION);
	assert_true(json_number_value(json_object_get(g, "uptime_s")) >= 0);
	assert_true(json_number_value(json_object_get(g, "uptime_s")) < 60);
	caps = json_object_get(g, "caps");
	assert_true(json_is_array(caps));
	json_array_foreach(caps, i, e) {
		ping |= strcmp(json_string_value(e), "ping") == 0;
		help |= strcmp(json_string_value(e), "help") == 0;
	}
	assert_true(ping && help);
	json_decref(g);
	conn_ping(c, 1);
	conn_close(c);
	/* --name beats SONDE_NAME. */
	assert_int_equal(WEXITSTATUS(host_stop(&f->host)), 0);
	assert_false(test_file_exists(f->host.sock));
	{
		const char *args[] = {"--name", "byarg", NULL};
		host_start_env(f, &f->host, extra, args);
		test_expect_greeting_name(f->host.sock, "byarg");
	}
}

/* A name that is not valid UTF-8 (a program file name is any bytes; 63 bytes can cut a character)
 * must not cost the client its greeting: jansson refuses such strings. */
static void test_greeting_with_odd_names(void **state)
{
	struct fixture *f = *state;
	const char *bad[] = {"SONDE_NAME=bad\xffname", NULL};
	char cut_env[128], want[128];
	const char *cut[] = {cut_env, NULL};
	int n;

	host_start_env(f, &f->host, bad, NULL);
	conn_ping_once(f->host.sock, f->host.pid, 1);
	test_expect_greeting_name(f->host.sock, "bad?name");
	host_stop(&f->host);
	/* 32 two-byte characters: the 63 bytes a name keeps end inside the last one. */
	n = snprintf(cut_env, sizeof cut_env, "SONDE_NAME=");
	for (int i = 0; i < 32; i++)
		n += snprintf(cut_env + n, sizeof cut_env - (size_t)n, "\xc3\xa9");
	snprintf(want, sizeof want, "%.*s", 62, cut_env + 11);   /* 31 whole characters */
	host_start_env(f, &f->host, cut, NULL);
	test_expect_greeting_name(f->host.sock, want);
}

/* ---- bad input ------------------------------------------------------------------------------- */

/* Each bad line, then a ping on the same connection: the error, then the pong, nothing lost. */
static void test_bad_input_same_connection(void **state)
{
	static const struct {
		const char *line;
		long long id;          /* LLONG_MIN: the reply's id is null */
		const char *code, *hint;
	} cases[] = {
		{"{\"id\":1,\"cmd\":\"ping\"", LLONG_MIN, "bad_json", "malformed JSON"},
		{"this is not json", LLONG_MIN, "bad_json", "one JSON object per line"},
		{"[1,2,3]", LLONG_MIN, "bad_request", "must be a JSON object"},
		{"42", LLONG_MIN, "bad_request", "must be a JSON object"},
		{"\"ping\"", LLONG_MIN, "bad_request", "must be a JSON object"},
		{"{}", LLONG_MIN, "bad_request", "missing \"cmd\""},
		{"{\"id\":11}", 11, "bad_request", "missing \"cmd\""},
		{"{\"id\":12,\"cmd\":12}", 12, "bad_request", "\"cmd\" must be a string"},
		{"{\"id\":[13],\"cmd\":\"ping\"}", LLONG_MIN, "bad_request", "\"id\" must be"},
		{"{\"id\":1.5,\"cmd\":\"ping\"}", LLONG_MIN, "bad_request", "\"id\" must be"},
		{"{\"id\":14,\"cmd\":\"frobnicate\"}", 14, "unknown_command",
		 "unknown command \"frobnicate\"; this agent knows: ping, help"},
		{"{\"id\":15,\"cmd\":\"ping\",\"bogus\":1}", 15, "bad_argument",
		 "unknown argument \"bogus\"; accepted: data"},
		{"{\"id\":16,\"cmd\":\"ping\",\"data\":16}", 16, "bad_argument",
		 "argument \"data\" must be a string, not an integer"},
		{"{\"id\":17,\"cmd\":\"ping\",\"data\":[\"x\"]}", 17, "bad_argument", "not an array"},
		{"{\"id\":18,\"cmd\":\"help\",\"limit\":5}", 18, "bad_argument", "takes no arguments"},
		{"{\"id\":19,\"id\":20,\"cmd\":\"ping\"}", LLONG_MIN, "bad_json", "duplicate"},
		/* jansson's error text quotes invalid UTF-8 here (found by fuzz_proto). */
		{"{\"cm\\\xde\xbc\"hep\"l}", LLONG_MIN, "bad_json", "malformed JSON"},
		{"{\"id\":21,\"cmd\":\"000000000000000000000000000000000000000000000000000000000000000"
		 "\xc3\xa9\"}", 21, "unknown_command", "unknown command"},
	};
	struct fixture *f = *state;
	struct conn *c;

	c = host_start_open(f);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		conn_send_str(c, cases[i].line);
		conn_send_str(c, "\n");
		test_expect_err(conn_json(c), cases[i].id, cases[i].code, cases[i].hint);
		conn_ping(c, 100 + (long long)i);
	}
	/* All of them again in one write, each followed by a ping: same answers, same order. */
	{
		struct batch b;
		batch_open(&b);
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
			fprintf(b.m, "%s\n{\"id\":%zu,\"cmd\":\"ping\"}\n", cases[i].line, 200 + i);
		batch_send(&b, c);
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			test_expect_err(conn_json(c), cases[i].id, cases[i].code, cases[i].hint);
			test_expect_ok(conn_json(c), 200 + (long long)i);
		}
	}
	host_expect_serving_after(&f->host, c);
}

/* Random bytes with NULs: one error reply per non-empty line, the count exact, then service as
 * usual. */
static void test_binary_garbage(void **state)
{
	struct fixture *f = *state;
	enum { GARBAGE = 256 * 1024 };
	unsigned char *g = malloc(GARBAGE);
	unsigned seed = 4242;
	size_t expect = 0, start = 0, got = 0, nuls = 0;
	struct conn *c;

	assert_non_null(g);
	for (size_t i = 0; i < GARBAGE; i++) {
		g[i] = (unsigned char)(rand_r(&seed) & 0xff);
		nuls += g[i] == 0;
	}
	assert_true(nuls > 100);
	/* The agent answers every line that is not empty once a trailing CR is removed. */
	for (size_t i = 0; i <= GARBAGE; i++)
		if (i == GARBAGE || g[i] == '\n') {
			size_t l = i - start;
			if (l > 0 && g[start + l - 1] == '\r')
				l--;
			expect += l > 0;
			start = i + 1;
		}
	assert_true(expect > 500);
	c = host_start_open(f);
	conn_send(c, g, GARBAGE);
	conn_send_str(c, "\n{\"id\":4242,\"cmd\":\"ping\"}\n");
	for (;;) {
		json_t *r = conn_json(c);
		if (json_is_true(json_object_get(r, "ok"))) {
			test_expect_ok(r, 4242);
			break;
		}
		assert_true(json_is_string(json_object_get(json_object_get(r, "error"), "code")));
		json_decref(r);
		got++;
	}
	assert_int_equal(got, expect);
	free(g);
	conn_ping(c, 1);
	host_expect_serving_after(&f->host, c);
}

/* A 10 MiB line: one line_too_long, the connection resyncs at the newline, another client is
 * unaffected. */
static void test_ten_mib_line_resyncs(void **state)
{
	struct fixture *f = *state;
	size_t n = 10u << 20;
	char *big = malloc(n);
	struct conn *c, *other;

	assert_non_null(big);
	memset(big, 'x', n);
	memcpy(big, "{\"id\":1,\"cmd\":\"ping\",\"data\":\"", 29);
	c = host_start_open(f);
	other = conn_open(f->host.sock, f->host.pid);
	conn_send(c, big, n);
	/* While the long line is half-sent... */
	conn_ping(other, 5);
	conn_send_str(c, "\n{\"id\":42,\"cmd\":\"ping\"}\n{\"id\":43,\"cmd\":\"ping\"}\n");
	test_expect_err(conn_json(c), LLONG_MIN, "line_too_long", "longer than 65536 bytes");
	/* ...exactly one error, then the valid requests answered in order. */
	test_expect_ok(conn_json(c), 42);
	test_expect_ok(conn_json(c), 43);
	free(big);
	conn_ping(c, 44);
	conn_ping(other, 6);
	conn_close(c);
	conn_close(other);
	host_expect_serving(&f->host);
}

/* A ping padded with spaces to exactly n bytes, newline not included. */
static char *test_padded_ping(size_t n, long long id)
{
	char head[64];
	int hl = snprintf(head, sizeof head, "{\"id\":%lld,\"cmd\":\"ping\"", id);
	char *s = malloc(n + 2);

	assert_non_null(s);
	memcpy(s, head, (size_t)hl);
	memset(s + hl, ' ', n - (size_t)hl - 1);
	s[n - 1] = '}';
	s[n] = '\n';
	s[n + 1] = '\0';
	return s;
}

/*
 * Send a ping with id padded to n bytes, in one write with its newline (eol NULL) or followed by
 * eol in a second write; the reply is ok (fits) or line_too_long (does not).
 */
static void test_padded_exchange(struct conn *c, size_t n, long long id, const char *eol, int fits)
{
	char *s = test_padded_ping(n, id);

	if (eol == NULL) {
		conn_send(c, s, n + 1);
	} else {
		conn_send(c, s, n);
		conn_send_str(c, eol);
	}
	if (fits)
		test_expect_ok(conn_json(c), id);
	else
		test_expect_err(conn_json(c), LLONG_MIN, "line_too_long", NULL);
	free(s);
}

/* The limit is exact: 65536 bytes pass, 65537 do not, with LF or CRLF, in one write or many. */
static void test_line_limit_exact(void **state)
{
	struct fixture *f = *state;
	struct conn *c;
	char *s;

	c = host_start_open(f);
	test_padded_exchange(c, 65536, 77, NULL, 1);
	test_padded_exchange(c, 65537, 78, NULL, 0);
	conn_ping(c, 79);
	/* With CRLF the limit is the same: 65536 bytes and CR LF pass, 65537 and CR LF do not. */
	test_padded_exchange(c, 65536, 81, "\r\n", 1);
	test_padded_exchange(c, 65537, 82, "\r\n", 0);
	/* A CR that is not followed by LF after 65536 bytes makes the line too long. */
	test_padded_exchange(c, 65536, 83, "\rx\n", 0);
	conn_ping(c, 84);
	/* Split across many small writes, the limit is the same. */
	s = test_padded_ping(65536, 80);
	for (size_t off = 0; off < 65537; off += 1000) {
		conn_send(c, s + off, 65537 - off < 1000 ? 65537 - off : 1000);
		if (off % 16000 == 0)
			test_sleep_ms(1);
	}
	test_expect_ok(conn_json(c), 80);
	free(s);
	host_expect_serving_after(&f->host, c);
}

/* 100 requests in one write: 100 replies, in order, ids matching. */
static void test_pipelined_100(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	struct conn *c;

	batch_open(&b);
	for (int i = 0; i < 100; i++) {
		if (i % 10 == 9)
			fprintf(b.m, "{\"id\":%d,\"cmd\":\"help\"}\n", 1000 + i);
		else
			fprintf(b.m, "{\"id\":%d,\"cmd\":\"ping\",\"data\":\"d%d\"}\n", 1000 + i, i);
	}
	c = host_start_send(f, &b);
	for (int i = 0; i < 100; i++) {
		json_t *r = conn_json(c);
		json_t *res = json_object_get(r, "result");
		if (i % 10 == 9) {
			assert_true(json_is_array(json_object_get(res, "commands")));
		} else {
			char want[16];
			snprintf(want, sizeof want, "d%d", i);
			assert_string_equal(json_string_value(json_object_get(res, "data")), want);
		}
		test_expect_ok(r, 1000 + i);
	}
	conn_ping(c, 1);
	host_expect_serving_after(&f->host, c);
}

/* socat, `nc -N` and scripts send their requests, shut down their side and read: every reply
 * must arrive (2 MB here, far more than a socket buffer), including one for a last line without
 * its newline, then the close; nothing is logged as a slow reader. */
static void test_half_close_gets_every_reply(void **state)
{
	struct fixture *f = *state;
	struct batch b;
	struct conn *c;
	char *err;

	batch_open(&b);
	for (int i = 0; i < 1000; i++)
		fprintf(b.m, "{\"id\":%d,\"cmd\":\"help\"}\n", i);
	fprintf(b.m, "{\"id\":1000,\"cmd\":\"ping\"}");   /* no newline */
	c = host_start_send(f, &b);
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	for (int i = 0; i < 1000; i++) {
		json_t *r = conn_json(c);
		assert_true(json_is_array(json_object_get(json_object_get(r, "result"), "commands")));
		test_expect_ok(r, i);
	}
	test_expect_ok(conn_json(c), 1000);
	conn_expect_eof(c, TEST_TIMEOUT_MS);
	conn_close(c);
	err = host_stderr(&f->host);
	if (strstr(err, "dropped") != NULL)
		fail_msg("a half-closed client that reads was logged as dropped: %s", err);
	free(err);
	host_expect_serving(&f->host);
}

/* CRLF clients (telnet, some scripts) are served like LF ones. */
static void test_crlf(void **state)
{
	struct fixture *f = *state;
	struct conn *c;

	c = host_start_open(f);
	conn_send_str(c, "{\"id\":1,\"cmd\":\"ping\"}\r\n");
	test_expect_ok(conn_json(c), 1);
	/* Empty lines (LF or CRLF) are ignored, mixed endings are fine. */
	conn_send_str(c, "\r\n\n\r\n{\"id\":2,\"cmd\":\"ping\"}\n{\"id\":3,\"cmd\":\"ping\"}\r\n");
	test_expect_ok(conn_json(c), 2);
	test_expect_ok(conn_json(c), 3);
	/* Only one CR is line ending; another is part of the request (JSON whitespace). */
	conn_send_str(c, "{\"id\":4,\"cmd\":\"ping\"}\r\r\n");
	test_expect_ok(conn_json(c), 4);
	/* A CR in the middle is not a line end. */
	conn_send_str(c, "{\"id\":5,\r\"cmd\":\"ping\"}\r\n");
	test_expect_ok(conn_json(c), 5);
	host_expect_serving_after(&f->host, c);
}

/* A client that sends and closes before the replies: no SIGPIPE may reach the host. */
static void test_no_sigpipe(void **state)
{
	struct fixture *f = *state;

	host_start(f);
	for (int round = 0; round < 20; round++) {
		struct conn *c = conn_wrap(test_connect_raw(f->host.sock));
		assert_true(c->fd >= 0);
		for (int i = 0; i < 200; i++)
			conn_send_str(c, "{\"id\":1,\"cmd\":\"help\"}\n");
		conn_close(c);
	}
	test_sleep_ms(200);
	host_expect_serving(&f->host);
}

/* Everything the agent and its probes open is close-on-exec: a host that runs other programs
 * must not hand them its socket, its clients or its /proc files. Every command is exercised
 * first so that the probes have opened what they open. */
static void test_fds_close_on_exec(void **state)
{
	struct fixture *f = *state;
	char dir[64], path[128], line[256];
	struct conn *c, *idle;
	json_t *g, *cap;
	size_t i;
	DIR *d;
	struct dirent *de;
	int checked = 0;

	host_start(f);
	idle = conn_open(f->host.sock, f->host.pid);   /* a client fd stays open meanwhile */
	c = conn_wrap(test_connect_raw(f->host.sock));
	g = conn_json(c);
	json_array_foreach(json_object_get(g, "caps"), i, cap) {
		char req[128];
		json_t *r;
		snprintf(req, sizeof req, "{\"id\":%zu,\"cmd\":\"%s\"}\n", i, json_string_value(cap));
		conn_send_str(c, req);
		r = conn_json(c);
		assert_true(json_is_boolean(json_object_get(r, "ok")));
		json_decref(r);
	}
	json_decref(g);
	test_sleep_ms(300);   /* a probe tick or two */
	snprintf(dir, sizeof dir, "/proc/%ld/fd", (long)f->host.pid);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);
		unsigned long flags = 0;
		FILE *info;
		if (de->d_name[0] == '.' || fd <= 2)
			continue;
		snprintf(path, sizeof path, "/proc/%ld/fdinfo/%d", (long)f->host.pid, fd);
		info = fopen(path, "r");
		if (info == NULL)
			continue;   /* closed meanwhile */
		while (fgets(line, sizeof line, info) != NULL)
			if (strncmp(line, "flags:", 6) == 0)
				flags = strtoul(line + 6, NULL, 8);
		fclose(info);
		if (!(flags & O_CLOEXEC)) {
			char target[256] = "";
			ssize_t n;
			snprintf(path, sizeof path, "%s/%d", dir, fd);
			n = readlink(path, target, sizeof target - 1);
			target[n > 0 ? n : 0] = '\0';
			closedir(d);
			fail_msg("host fd %d (%s) is not close-on-exec", fd, target);
		}
		checked++;
	}
	closedir(d);
	/* The listening socket, the wake pipe's two ends and two clients at least. */
	assert_true(checked >= 5);
	conn_close(c);
	conn_close(idle);
	host_expect_serving(&f->host);
}

/* The agent's log lines cannot kill the host: its stderr is a pipe nobody reads, sonde_start()
 * logs on the host's own thread (a bad SONDE_MAX_CLIENTS), the agent thread logs a drop. */
static void test_log_to_broken_stderr(void **state)
{
	struct fixture *f = *state;
	const char *extra[] = {"SONDE_MAX_CLIENTS=lots", "SONDE_IDLE_TIMEOUT_S=1",
	                       "SONDE_INTERVAL_MS=100", NULL};
	struct conn *c;

	f->host.broken_stderr = 1;
	host_start_env(f, &f->host, extra, NULL);
	c = conn_open(f->host.sock, f->host.pid);
	test_expect_err(conn_json(c), LLONG_MIN, "timeout", NULL);   /* logged: idle timeout */
	host_expect_serving_after(&f->host, c);
	/* And the host still exits by its own rules. */
	assert_int_equal(WEXITSTATUS(host_stop(&f->host)), 0);
}

/* The agent thread blocks every signal; the host's own handler still gets SIGTERM. */
static void test_agent_thread_blocks_signals(void **state)
{
	struct fixture *f = *state;
	char path[128], line[256];
	DIR *d;
	struct dirent *de;
	int checked = 0, status;

	host_start(f);
	snprintf(path, sizeof path, "/proc/%ld/task", (long)f->host.pid);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char file[600];
		FILE *s;
		unsigned long long blk = 0;
		if (de->d_name[0] == '.' || atol(de->d_name) == f->host.pid)
			continue;
		snprintf(file, sizeof file, "%s/%s/status", path, de->d_name);
		s = fopen(file, "r");
		assert_non_null(s);
		while (fgets(line, sizeof line, s) != NULL)
			if (strncmp(line, "SigBlk:", 7) == 0)
				blk = strtoull(line + 7, NULL, 16);
		fclose(s);
		/* The host has only the agent thread besides main: SIGTERM, SIGINT, SIGPIPE, SIGCHLD,
		 * SIGUSR1, SIGHUP, SIGALRM must all be blocked on it. */
		for (int sig = 1; sig < 32; sig++)
			if (sig != SIGKILL && sig != SIGSTOP && !(blk & (1ull << (sig - 1))))
				fail_msg("signal %d (%s) is not blocked on agent thread %s", sig,
				         strsignal(sig), de->d_name);
		checked++;
	}
	closedir(d);
	assert_int_equal(checked, 1);
	status = host_kill(&f->host, SIGTERM);
	/* The host's handler ran: a clean exit 0, and sonde_stop() removed the socket. */
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(test_file_exists(f->host.sock));
}

/* ---- other uids ------------------------------------------------------------------------------ */

/* In a forked child: become nobody (keeping CAP_DAC_OVERRIDE if dac_override), connect, and
 * report on fd: "errno N" or the first line the agent sent, then "eof" if it closed. */
static void test_nobody_child(const char *path, int dac_override, int report)
{
	char buf[1024];
	struct conn *c;
	int fd, eof;
	char *line;

	if (dac_override && prctl(PR_SET_KEEPCAPS, 1) != 0)
		_exit(10);
	if (setgroups(0, NULL) != 0 || setresgid(TEST_NOBODY, TEST_NOBODY, TEST_NOBODY) != 0 ||
	    setresuid(TEST_NOBODY, TEST_NOBODY, TEST_NOBODY) != 0)
		_exit(11);
	if (getuid() != TEST_NOBODY || geteuid() != TEST_NOBODY)
		_exit(12);
	if (dac_override) {
		/* Only CAP_DAC_OVERRIDE, so the path's permissions cannot stop us: what is left to
		 * refuse us is the agent's SO_PEERCRED check, which sees uid 65534. */
		struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
		struct __user_cap_data_struct data[2];
		memset(data, 0, sizeof data);
		data[0].effective = data[0].permitted = 1u << CAP_DAC_OVERRIDE;
		if (syscall(SYS_capset, &hdr, data) != 0)
			_exit(13);
	}
	fd = test_connect_raw(path);
	if (fd < 0) {
		int n = snprintf(buf, sizeof buf, "errno %d\n", errno);
		if (write(report, buf, (size_t)n) < 0)
			_exit(14);
		_exit(0);
	}
	c = conn_wrap(fd);
	line = conn_line_eof(c, 5000, &eof);
	if (line != NULL) {
		if (write(report, line, strlen(line)) < 0 || write(report, "\n", 1) < 0)
			_exit(14);
		free(line);
		line = conn_line_eof(c, 5000, &eof);
	}
	if (line == NULL && eof && write(report, "eof\n", 4) < 0)
		_exit(14);
	free(line);
	_exit(0);
}

/* pipe() and fork() (stdio flushed first, so nothing buffered is written twice): fork()'s result,
 * with the pipe's write end p[1] closed in the parent and its read end p[0] in the child. */
static pid_t test_fork_with_pipe(int p[2])
{
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	close(pid == 0 ? p[0] : p[1]);
	return pid;
}

/* Run test_nobody_child; returns what it reported (malloc()ed) and its exit code in *code. */
static char *test_as_nobody(const char *path, int dac_override, int *code)
{
	int p[2], status;
	char *out = NULL;
	size_t n = 0;
	FILE *in;
	pid_t pid;

	pid = test_fork_with_pipe(p);
	if (pid == 0)
		test_nobody_child(path, dac_override, p[1]);
	in = fdopen(p[0], "r");
	if (getdelim(&out, &n, '\0', in) < 0) {
		free(out);
		out = strdup("");
	}
	fclose(in);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	*code = WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
	return out;
}

/* nobody cannot even reach the socket: the 0700 directory refuses it (EACCES), the agent never
 * sees it. */
static void test_other_uid_stopped_by_directory(void **state)
{
	struct fixture *f = *state;
	char *out, *err, want[32];
	int code;

	if (geteuid() != 0)
		skip();   /* only root can become nobody */
	host_start(f);
	out = test_as_nobody(f->host.sock, 0, &code);
	assert_int_equal(code, 0);
	snprintf(want, sizeof want, "errno %d\n", EACCES);
	if (strcmp(out, want) != 0)
		fail_msg("nobody connecting through the 0700 directory: got \"%s\", want EACCES", out);
	free(out);
	/* Refused by the file system: the agent never saw it, so it logged nothing. */
	err = host_stderr(&f->host);
	assert_null(strstr(err, "refused"));
	free(err);
	host_expect_serving(&f->host);
}

/*
 * SO_PEERCRED refusal. Peer credentials are taken at connect(), so the client must already be
 * uid 65534 when it connects, and the 0700 directory stops nobody before the agent sees it. Tried
 * and refused by the kernel with EACCES (so not used): an O_PATH fd to the directory opened as
 * root, then connect() to /proc/self/fd/N/PID.sock (lookup in the directory still needs search
 * permission), and an O_PATH fd to the socket itself via /proc/self/fd/N (connect needs write
 * permission on the 0600 socket). What works: keep CAP_DAC_OVERRIDE (and nothing else) across
 * setresuid(65534), so path permissions no longer apply and the agent's uid check is what
 * refuses the client.
 */
static void test_other_uid_refused_by_peercred(void **state)
{
	struct fixture *f = *state;
	char *out, *err;
	int code;

	if (geteuid() != 0)
		skip();
	host_start(f);
	out = test_as_nobody(f->host.sock, 1, &code);
	if (code == 10 || code == 13) {
		free(out);
		fail_msg("cannot keep CAP_DAC_OVERRIDE after becoming nobody (exit %d)", code);
	}
	assert_int_equal(code, 0);
	if (strstr(out, "\"code\":\"permission_denied\"") == NULL ||
	    strstr(out, "uid 65534 may not attach") == NULL || strstr(out, "\"id\":null") == NULL ||
	    strstr(out, "\neof\n") == NULL)
		fail_msg("nobody with DAC override: want a permission_denied line then the close, got "
		         "\"%s\"", out);
	/* No greeting before the refusal: nothing about the process leaked. */
	assert_null(strstr(out, "\"sonde\""));
	free(out);
	if (!host_stderr_says(&f->host, "refused connection from uid 65534", 2000)) {
		err = host_stderr(&f->host);
		fail_msg("host stderr does not log the refusal: \"%s\"", err);
	}
	host_expect_serving(&f->host);
}

/* ---- limits ---------------------------------------------------------------------------------- */

static void test_slow_reader_dropped(void **state)
{
	struct fixture *f = *state;
	/* Under ASan freed blocks sit in a quarantine; keep it small so RSS measures the agent. */
	const char *extra[] = {"ASAN_OPTIONS=quarantine_size_mb=1", NULL};
	static const char req[] = "{\"id\":1,\"cmd\":\"help\"}\n";
	char batch[sizeof req * 100];
	struct conn *c, *other;
	long rss0, hwm1, grew_kb, limit_kb;
	long long deadline;
	size_t sent = 0, replies = 0, reply_len = 0;
	int dropped = 0;
	char *err;

	for (int i = 0; i < 100; i++)
		memcpy(batch + i * (sizeof req - 1), req, sizeof req - 1);
	host_start_env(f, &f->host, extra, NULL);
	other = conn_open(f->host.sock, f->host.pid);
	conn_ping(other, 1);
	{   /* Warm up: one help reply on a reading client; note its size. */
		int eof;
		char *line;
		conn_send_str(other, req);
		line = conn_line_eof(other, TEST_TIMEOUT_MS, &eof);
		assert_non_null(line);
		reply_len = strlen(line) + 1;
		free(line);
	}
	test_sleep_ms(100);
	rss0 = test_status_kb(f->host.pid, "VmRSS");
	assert_true(rss0 > 0);
	c = conn_open(f->host.sock, f->host.pid);
	/* Never read; keep asking for help until the agent gives up on us. */
	deadline = test_now_ms() + 20000;
	while (!dropped && test_now_ms() < deadline) {
		const char *p = batch;
		size_t left = 100 * (sizeof req - 1);
		while (left > 0) {
			struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
			ssize_t w = send(c->fd, p, left, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0) {
				p += w;
				left -= (size_t)w;
				sent += (size_t)w;
				continue;
			}
			if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
				dropped = 1;
				break;
			}
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				fail_msg("send: %s", strerror(errno));
			if (poll(&pfd, 1, 200) == 1 && (pfd.revents & (POLLHUP | POLLERR))) {
				dropped = 1;
				break;
			}
			if (test_now_ms() >= deadline)
				break;
		}
	}
	assert_true(dropped);
	hwm1 = test_status_kb(f->host.pid, "VmHWM");
	grew_kb = hwm1 - rss0;
	/* Cap plus margin: the 64 KiB input buffer, one reply in flight, allocator slack. */
	limit_kb = (long)(TEST_OUTPUT_CAP / 1024) + 4096;
	print_message("# slow reader: sent %zu requests (%zu-byte replies), host RSS %ld kB, peak "
	              "grew by %ld kB (limit %ld kB%s)\n", sent / (sizeof req - 1), reply_len, rss0,
	              grew_kb, limit_kb, TEST_ASAN ? ", not applied under ASan" : "");
	/* Under ASan, realloc() copies into a fresh block and frees into a quarantine, so RSS
	 * measures the sanitizer; the drop itself (asserted above) is what bounds the memory. */
	if (!TEST_ASAN && grew_kb > limit_kb)
		fail_msg("host peak RSS grew by %ld kB for one non-reading client; the cap is %u kB",
		         grew_kb, TEST_OUTPUT_CAP / 1024);
	/* It was dropped for asking more than the cap, not before. */
	assert_true(sent / (sizeof req - 1) * reply_len > TEST_OUTPUT_CAP);
	/* Whatever the kernel had buffered for us arrives, then the close; fewer replies than asked. */
	for (;;) {
		int eof;
		char *line = conn_line_eof(c, TEST_TIMEOUT_MS, &eof);
		if (line == NULL) {
			assert_true(eof);
			break;
		}
		free(line);
		replies++;
	}
	assert_true(replies < sent / (sizeof req - 1));
	conn_close(c);
	if (!host_stderr_says(&f->host, "does not read its replies (output cap reached)", 2000) ||
	    !host_stderr_says(&f->host, "dropped client", 0)) {
		err = host_stderr(&f->host);
		fail_msg("host stderr does not mention the drop: \"%s\"", err);
	}
	/* The reading client never noticed. */
	conn_ping(other, 2);
	conn_close(other);
	/* And the memory went back: RSS is near where it started (glibc returns big blocks). */
	test_sleep_ms(100);
	if (!TEST_ASAN)
		assert_true(test_status_kb(f->host.pid, "VmRSS") < rss0 + limit_kb);
	host_expect_serving(&f->host);
}

/* The 17th client gets too_many_clients and a close; a slot freed is a slot reused. */
static void test_max_clients(void **state)
{
	struct fixture *f = *state;
	struct conn *c[16], *extra, *late = NULL;

	host_start(f);
	for (int i = 0; i < 16; i++)
		c[i] = conn_open(f->host.sock, f->host.pid);
	extra = conn_wrap(test_connect_raw(f->host.sock));
	assert_true(extra->fd >= 0);
	test_expect_err(conn_json(extra), LLONG_MIN, "too_many_clients", "too many clients (16");
	conn_expect_eof(extra, TEST_TIMEOUT_MS);
	conn_close(extra);
	/* All 16 are still served. */
	for (int i = 0; i < 16; i++)
		conn_ping(c[i], i);
	/* One leaves: a new one is accepted (once the agent has seen the close). */
	conn_close(c[3]);
	for (int attempt = 0; attempt < 250 && late == NULL; attempt++) {   /* 5 s under load */
		struct conn *t = conn_wrap(test_connect_raw(f->host.sock));
		json_t *g = conn_json(t);
		if (json_object_get(g, "sonde") != NULL) {
			late = t;
		} else {
			test_expect_err(g, LLONG_MIN, "too_many_clients", NULL);
			g = NULL;
			conn_close(t);
			test_sleep_ms(20);
		}
		json_decref(g);
	}
	assert_non_null(late);
	c[3] = late;
	for (int i = 0; i < 16; i++)
		conn_ping(c[i], 100 + i);
	for (int i = 0; i < 16; i++)
		conn_close(c[i]);
	host_expect_serving(&f->host);
}

/* SONDE_MAX_CLIENTS sets the limit; a value that is not a number from 1 to 1024 is refused
 * with a message and the default (16) is used. */
static void test_max_clients_from_environment(void **state)
{
	struct fixture *f = *state;
	const char *two[] = {"SONDE_MAX_CLIENTS=2", NULL};
	const char *bad[] = {"SONDE_MAX_CLIENTS=lots", NULL};
	struct conn *c[17];

	host_start_env(f, &f->host, two, NULL);
	c[0] = conn_open(f->host.sock, f->host.pid);
	c[1] = conn_open(f->host.sock, f->host.pid);
	test_expect_too_many(f->host.sock, "too many clients (2 ");
	conn_ping(c[0], 1);
	conn_close(c[0]);
	conn_close(c[1]);
	host_stop(&f->host);

	host_start_env(f, &f->host, bad, NULL);
	assert_true(host_stderr_says(&f->host, "ignoring SONDE_MAX_CLIENTS=lots: expected a whole "
	                             "number from 1 to 1024; using 16", 2000));
	for (int i = 0; i < 16; i++)
		c[i] = conn_open(f->host.sock, f->host.pid);
	test_expect_too_many(f->host.sock, "too many clients (16 ");
	for (int i = 0; i < 16; i++)
		conn_close(c[i]);
}

/* A silent client is told why and closed after SONDE_IDLE_TIMEOUT_S; a talking one is not. */
static void test_idle_timeout(void **state)
{
	struct fixture *f = *state;
	const char *extra[] = {"SONDE_IDLE_TIMEOUT_S=1", "SONDE_INTERVAL_MS=100", NULL};
	struct conn *idle, *busy;
	long long t0, elapsed;

	host_start_env(f, &f->host, extra, NULL);
	t0 = test_now_ms();
	idle = conn_open(f->host.sock, f->host.pid);
	busy = conn_open(f->host.sock, f->host.pid);
	/* The busy client asks something every 200 ms and is never timed out. */
	for (int i = 0; i < 12; i++) {
		conn_ping(busy, i);
		test_sleep_ms(200);
	}
	test_expect_err(conn_json(idle), LLONG_MIN, "timeout", "closed after 1 s without a request");
	conn_expect_eof(idle, 2000);
	elapsed = test_now_ms() - t0;
	/* Closed after the timeout, not before, and within one tick or two after it. */
	assert_true(elapsed >= 1000);
	conn_ping(busy, 100);
	conn_close(idle);
	conn_close(busy);
	assert_true(host_stderr_says(&f->host, "idle timeout", 2000));
	host_expect_serving(&f->host);
}

/* Every way a client can leave (refused, closed, reset, half-closed, dropped for idling) gives
 * its descriptor and buffers back: the host's fd count returns to where it started. */
static void test_no_fd_leak(void **state)
{
	struct fixture *f = *state;
	const char *extra[] = {"SONDE_IDLE_TIMEOUT_S=1", "SONDE_INTERVAL_MS=100", NULL};
	char fddir[64];
	struct conn *c[40];
	int base, now = -1;
	long long deadline;

	host_start_env(f, &f->host, extra, NULL);
	snprintf(fddir, sizeof fddir, "/proc/%ld/fd", (long)f->host.pid);
	{   /* First contact loads what the commands load on first use (libproc2 and its files). */
		struct conn *w = conn_open(f->host.sock, f->host.pid);
		conn_send_str(w, "{\"id\":1,\"cmd\":\"help\"}\n");
		test_expect_ok(conn_json(w), 1);
		conn_close(w);
	}
	test_sleep_ms(300);
	base = test_count_dir(fddir);
	assert_true(base > 0);
	/* A burst of 40 at once: 16 served, 24 refused. */
	for (int i = 0; i < 40; i++) {
		c[i] = conn_wrap(test_connect_raw(f->host.sock));
		assert_true(c[i]->fd >= 0);
	}
	for (int i = 0; i < 40; i++) {
		json_t *g = conn_json(c[i]);
		json_decref(g);
	}
	/* Leave in every way: plain close, close with unread replies (reset), half-close, and
	 * silence until the idle timeout. */
	for (int i = 0; i < 40; i++) {
		if (i % 4 == 0) {
			conn_close(c[i]);
			c[i] = NULL;
		} else if (i % 4 == 1) {
			conn_send_best_effort(c[i], "{\"id\":1,\"cmd\":\"help\"}\n"
			                            "{\"id\":2,\"cmd\":\"help\"}\n");
			conn_close(c[i]);
			c[i] = NULL;
		} else if (i % 4 == 2) {
			conn_send_best_effort(c[i], "{\"id\":1,\"cmd\":\"ping\"}\n");
			shutdown(c[i]->fd, SHUT_WR);
		}
	}
	for (int i = 0; i < 40; i++)
		if (c[i] != NULL) {
			int eof;
			char *line;
			while ((line = conn_line_eof(c[i], TEST_TIMEOUT_MS, &eof)) != NULL)
				free(line);
			if (!eof) {
				char *err = host_stderr(&f->host);
				fail_msg("client %d (%s) was not closed within %d ms; host stderr: %s", i,
				         i >= 16 ? "refused" : i % 4 == 2 ? "half-closed" : "silent",
				         TEST_TIMEOUT_MS, err);
			}
			conn_close(c[i]);
		}
	deadline = test_now_ms() + 3000;
	while (test_now_ms() < deadline && (now = test_count_dir(fddir)) != base)
		test_sleep_ms(50);
	if (now != base)
		fail_msg("host has %d fds after its clients left, %d before", now, base);
	host_expect_serving(&f->host);
}

/* The agent thread's tid in the host (the thread named "sonde"), or -1. */
static pid_t test_agent_tid_now(pid_t pid)
{
	char path[96], comm[32];
	DIR *d;
	struct dirent *de;
	pid_t tid = -1;

	snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while (tid < 0 && (de = readdir(d)) != NULL) {
		char file[160];
		FILE *f;
		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof file, "%s/%.16s/comm", path, de->d_name);
		if ((f = fopen(file, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof comm, f) != NULL && strcmp(comm, "sonde\n") == 0)
			tid = (pid_t)atol(de->d_name);
		fclose(f);
	}
	closedir(d);
	return tid;
}

/* test_agent_tid_now, waiting up to 2 s: the thread names itself when it starts running, which
 * may be just after sonde_start() has returned. */
static pid_t test_agent_tid(pid_t pid)
{
	pid_t tid = -1;

	for (int i = 0; i < 100 && (tid = test_agent_tid_now(pid)) < 0; i++)
		test_sleep_ms(20);
	return tid;
}

/* CPU time of one thread in nanoseconds (schedstat), or -1. */
static long long test_thread_cpu_ns(pid_t pid, pid_t tid)
{
	char path[96];
	long long ns = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/task/%ld/schedstat", (long)pid, (long)tid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fscanf(f, "%lld", &ns) != 1)
		ns = -1;
	fclose(f);
	return ns;
}

/* An agent with nothing to do costs next to nothing: it sleeps in poll() until the next tick,
 * whether no client is connected, one is silent, or one has shut down its side and does not
 * read the megabytes it asked for (the agent must wait for POLLOUT, not spin). */
static void test_idle_agent_is_cheap(void **state)
{
	struct fixture *f = *state;
	struct conn *silent, *stuck;
	pid_t tid;
	long long t0, t1;

	host_start(f);
	tid = test_agent_tid(f->host.pid);
	assert_true(tid > 0);
	silent = conn_open(f->host.sock, f->host.pid);
	stuck = conn_open(f->host.sock, f->host.pid);
	for (int i = 0; i < 2000; i++)   /* about 4 MB of replies, never read */
		conn_send_str(stuck, "{\"id\":1,\"cmd\":\"help\"}\n");
	shutdown(stuck->fd, SHUT_WR);
	test_sleep_ms(500);              /* let it answer what it can and settle */
	t0 = test_thread_cpu_ns(f->host.pid, tid);
	test_sleep_ms(3000);
	t1 = test_thread_cpu_ns(f->host.pid, tid);
	assert_true(t0 >= 0 && t1 >= t0);
	print_message("# idle agent: %.1f ms of CPU in 3 s (2 clients, one stuck half-closed)\n",
	              (double)(t1 - t0) / 1e6);
	if (t1 - t0 > 150 * 1000000LL)
		fail_msg("the idle agent thread used %.1f ms of CPU in 3 s", (double)(t1 - t0) / 1e6);
	conn_ping(silent, 1);
	conn_close(silent);
	conn_close(stuck);
	host_expect_serving(&f->host);
}

/*
 * A host that closes every descriptor it does not know about (classic daemons do; `sonde run`
 * puts the agent into such programs), then reuses the numbers for its own files: the agent must
 * notice, stop without touching those numbers (no reads from the host's files, no closes, no
 * spinning on them), say so, and remove its socket; the host runs on.
 */
static void test_host_closes_agent_fds(void **state)
{
	struct fixture *f = *state;
	const char *args[] = {"--close-fds", NULL};
	pid_t tid;
	long long t0, t1;

	host_start_env(f, &f->host, NULL, args);
	host_expect_line(&f->host, "closed-fds");
	assert_true(host_stderr_says(&f->host, "closed the agent's descriptors", 3000));
	/* The agent thread is gone (or idle), not spinning on the host's /dev/zero. */
	test_sleep_ms(200);
	tid = test_agent_tid(f->host.pid);
	if (tid > 0) {
		t0 = test_thread_cpu_ns(f->host.pid, tid);
		test_sleep_ms(1000);
		t1 = test_thread_cpu_ns(f->host.pid, tid);
		if (t0 >= 0 && t1 - t0 > 100 * 1000000LL)
			fail_msg("the agent thread spins after the host closed its fds (%.0f ms in 1 s)",
			         (double)(t1 - t0) / 1e6);
	}
	assert_false(test_file_exists(f->host.sock));
	host_expect_alive(&f->host);
	/* The host exits normally; stopping the dead agent touches none of its fds. */
	assert_int_equal(WEXITSTATUS(host_stop(&f->host)), 0);
}

/* ---- fork ------------------------------------------------------------------------------------ */

static void test_fork_child_does_not_serve(void **state)
{
	struct fixture *f = *state;
	const char *args[] = {"--fork-child", "3000", NULL};
	char path[128], sock_of_child[128];
	long child;

	host_start_fork(f, args, &child, sock_of_child);
	assert_string_equal(sock_of_child, "-");
	/* The child has one thread (no agent) and no socket among its fds. */
	snprintf(path, sizeof path, "/proc/%ld/task", child);
	assert_int_equal(test_count_dir(path), 1);
	snprintf(path, sizeof path, "/proc/%ld/fd", child);
	{
		DIR *d = opendir(path);
		struct dirent *de;
		assert_non_null(d);
		while ((de = readdir(d)) != NULL) {
			char link[PATH_MAX], target[256];
			ssize_t n;
			snprintf(link, sizeof link, "%s/%s", path, de->d_name);
			n = readlink(link, target, sizeof target - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (strncmp(target, "socket:", 7) == 0)
				fail_msg("the forked child holds the agent's socket (fd %s)", de->d_name);
		}
		closedir(d);
	}
	/* Every connection is served by the parent. */
	for (int i = 0; i < 5; i++)
		conn_ping_once(f->host.sock, f->host.pid, i);
	/* The child exits normally (atexit runs): the parent's socket stays and still serves. */
	host_expect_line(&f->host, "child-exited 0");
	assert_true(test_file_exists(f->host.sock));
	host_expect_serving(&f->host);
}

/* After fork, only the parent holds the listening socket: with the parent dead, connect is
 * refused. */
static void test_fork_parent_killed(void **state)
{
	struct fixture *f = *state;
	const char *args[] = {"--fork-child", "5000", NULL};
	char sock_of_child[128];
	long child;
	int fd;

	host_start_fork(f, args, &child, sock_of_child);
	/* With the parent gone, nothing may hold the listening socket: a connect is refused at once
	 * rather than queued in a dead child's backlog. */
	host_kill(&f->host, SIGKILL);
	fd = test_connect_raw(f->host.sock);
	if (fd >= 0) {
		close(fd);
		kill((pid_t)child, SIGKILL);
		fail_msg("connect succeeded after the parent died: the child kept the listening socket");
	}
	assert_int_equal(errno, ECONNREFUSED);
	kill((pid_t)child, SIGKILL);
}

/* A child that calls sonde_start() gets its own agent under its own pid; the parent's is
 * untouched. */
static void test_fork_child_starts_its_own(void **state)
{
	struct fixture *f = *state;
	const char *args[] = {"--fork-child", "3000", "--child-start", NULL};
	char sock_of_child[128], want[PATH_MAX];
	long child;

	/*
	 * GCC 12's libasan does not hold its allocator locks across fork(): when the parent's agent
	 * thread is inside malloc at that moment, the child's new agent thread blocks forever on
	 * the inherited lock (seen in about 1 run in 3: its socket exists but never accepts).
	 */
	if (TEST_ASAN) {
		print_message("# skipped under ASan: libasan's allocator locks are not fork-safe\n");
		skip();
	}
	host_start_fork(f, args, &child, sock_of_child);
	snprintf(want, sizeof want, "%s/%ld.sock", f->dir, child);
	assert_string_equal(sock_of_child, want);
	/* Two agents now: the child's answers as the child. */
	conn_ping_once(sock_of_child, (pid_t)child, 1);
	conn_ping_once(f->host.sock, f->host.pid, 2);
	host_expect_line(&f->host, "child-exited 0");
	/* The child's exit removed its socket, not the parent's. */
	assert_false(test_file_exists(sock_of_child));
	assert_true(test_file_exists(f->host.sock));
	host_expect_serving(&f->host);
}

/* ---- the directory --------------------------------------------------------------------------- */

static void test_stale_socket_removed(void **state)
{
	struct fixture *f = *state;
	char stale[PATH_MAX], other[PATH_MAX];
	pid_t dead = fork();
	int fd;

	assert_true(dead >= 0);
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	/* What a crashed agent leaves behind: a bound socket nobody listens on. */
	snprintf(stale, sizeof stale, "%s/%ld.sock", f->dir, (long)dead);
	close(test_bind(stale));
	/* A live process's socket (ours) must survive the sweep. */
	snprintf(other, sizeof other, "%s/%ld.sock", f->dir, (long)getpid());
	fd = test_bind(other);
	assert_true(test_file_exists(stale));
	host_start(f);
	assert_false(test_file_exists(stale));
	assert_true(test_file_exists(other));
	close(fd);
	host_expect_serving(&f->host);
}

/* Run fn with stderr captured; returns what was written (malloc()ed). */
static char *test_capture_stderr(int (*fn)(void *), void *arg, int *rc)
{
	char path[] = "/tmp/sonde-test-stderr-XXXXXX";
	int fd = mkstemp(path), saved;
	char *s;

	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	*rc = fn(arg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	s = test_slurp(path);
	unlink(path);
	return s;
}

/* sonde_start() in this process on dir (for test_capture_stderr). */
static int test_start_in(void *dir)
{
	struct sonde_options o = {.dir = dir, .name = "inproc"};
	return sonde_start(&o);
}

/* sonde_start in this process with an unsafe directory: -1, the message, no agent, no socket;
 * and this process (the host) carries on, able to start properly afterwards. */
static void test_expect_unsafe(const char *dir, const char *hint1, const char *hint2)
{
	int rc;
	char *msg = test_capture_stderr(test_start_in, (void *)dir, &rc);

	assert_int_equal(rc, -1);
	assert_null(sonde_socket_path());
	if (strstr(msg, "agent not started") == NULL || strstr(msg, hint1) == NULL ||
	    strstr(msg, hint2) == NULL)
		fail_msg("sonde_start on %s: message \"%s\" should mention \"%s\" and \"%s\"", dir, msg,
		         hint1, hint2);
	free(msg);
}

/* Unsafe directories (0755, symlink, another owner, too deep) are refused with the fix named;
 * the host can start properly afterwards. */
static void test_unsafe_directories(void **state)
{
	struct fixture *f = *state;
	char d755[128], link[128], theirs[128], path[PATH_MAX];
	int rc;

	snprintf(d755, sizeof d755, "%s/open", f->scratch);
	assert_int_equal(mkdir(d755, 0700), 0);
	assert_int_equal(chmod(d755, 0755), 0);
	test_expect_unsafe(d755, "mode 755", "chmod 700");
	snprintf(link, sizeof link, "%s/link", f->scratch);
	assert_int_equal(symlink(f->dir, link), 0);
	test_expect_unsafe(link, "not a directory", "SONDE_DIR");
	if (geteuid() == 0) {
		snprintf(theirs, sizeof theirs, "%s/theirs", f->scratch);
		assert_int_equal(mkdir(theirs, 0700), 0);
		assert_int_equal(chown(theirs, TEST_NOBODY, TEST_NOBODY), 0);
		test_expect_unsafe(theirs, "owned by uid 65534", "SONDE_DIR");
		snprintf(path, sizeof path, "%s/%ld.sock", theirs, (long)getpid());
		assert_false(test_file_exists(path));
	}
	/* A directory so deep that DIR/PID.sock cannot fit a Unix socket address. */
	{
		char deep[PATH_MAX];
		int n = snprintf(deep, sizeof deep, "%s/", f->scratch);
		memset(deep + n, 'd', 100);
		deep[n + 100] = '\0';
		assert_int_equal(mkdir(deep, 0700), 0);
		test_expect_unsafe(deep, "longer than a Unix socket allows", "set SONDE_DIR to a shorter");
	}
	/* Nothing was created in the refused places. */
	snprintf(path, sizeof path, "%s/%ld.sock", d755, (long)getpid());
	assert_false(test_file_exists(path));
	assert_int_equal(chmod(d755, 0755), 0);   /* and the agent did not "fix" the mode itself */
	/* The host carries on: a safe directory works right after. */
	{
		char *msg = test_capture_stderr(test_start_in, f->dir, &rc);
		free(msg);
	}
	assert_int_equal(rc, 0);
	assert_non_null(sonde_socket_path());
	conn_ping_once(sonde_socket_path(), getpid(), 1);
	sonde_stop();
}

/* ---- lifecycle, in this process -------------------------------------------------------------- */

static int test_threads_now(void)
{
	return test_count_dir("/proc/self/task");
}

/* SONDE_DISABLE=1 makes sonde_start() a successful no-op: no thread, no socket. */
static void test_disable(void **state)
{
	struct fixture *f = *state;
	struct sonde_options o = {.dir = f->dir};
	int before = test_threads_now();

	setenv("SONDE_DISABLE", "1", 1);
	assert_int_equal(sonde_start(&o), 0);
	unsetenv("SONDE_DISABLE");
	assert_null(sonde_socket_path());
	assert_int_equal(test_threads_now(), before);
	assert_int_equal(test_count_dir(f->dir), 0);
	sonde_stop();   /* stopping what never started is fine */
	/* Only "1" disables. */
	setenv("SONDE_DISABLE", "0", 1);
	assert_int_equal(sonde_start(&o), 0);
	unsetenv("SONDE_DISABLE");
	assert_non_null(sonde_socket_path());
	sonde_stop();
	assert_int_equal(test_count_dir(f->dir), 0);
}

/* start twice is one agent; stop closes clients and removes the socket; stop twice is fine;
 * start again works. */
static void test_start_stop_idempotent(void **state)
{
	struct fixture *f = *state;
	struct sonde_options o = {.dir = f->dir, .name = "twice"};
	int before = test_threads_now();
	char path[PATH_MAX];
	struct conn *c;

	assert_int_equal(sonde_start(&o), 0);
	assert_non_null(sonde_socket_path());
	snprintf(path, sizeof path, "%s", sonde_socket_path());
	assert_int_equal(sonde_start(&o), 0);
	assert_int_equal(sonde_start(NULL), 0);
	/* One agent: one more thread, one socket. */
	assert_int_equal(test_threads_now(), before + 1);
	assert_int_equal(test_count_dir(f->dir), 1);
	assert_string_equal(sonde_socket_path(), path);
	c = conn_open(path, getpid());
	conn_ping(c, 1);
	sonde_stop();
	/* Stop closed our client and removed the socket; the thread is gone. */
	conn_expect_eof(c, TEST_TIMEOUT_MS);
	conn_close(c);
	assert_false(test_file_exists(path));
	assert_null(sonde_socket_path());
	assert_int_equal(test_threads_now(), before);
	sonde_stop();
	sonde_stop();
	/* And it starts again afterwards. */
	assert_int_equal(sonde_start(&o), 0);
	conn_ping_once(path, getpid(), 2);
	sonde_stop();
	assert_false(test_file_exists(path));
}

/* sonde_start/sonde_stop from many threads at once: never two agents, never a crash, and a clean
 * end state (the promise "idempotent; safe from any thread"). */
struct test_racer {
	const char *dir;
	int seed;
	int failures;
};

/* One racer: 40 random starts and stops. */
static void *test_racer_main(void *arg)
{
	struct test_racer *r = arg;
	struct sonde_options o = {.dir = r->dir, .name = "racer"};
	unsigned seed = (unsigned)r->seed;

	for (int i = 0; i < 40; i++) {
		if (rand_r(&seed) % 2 == 0) {
			if (sonde_start(&o) != 0)
				r->failures++;
		} else {
			sonde_stop();
		}
	}
	return NULL;
}

/* A single reply larger than the output cap is replaced by reply_too_large, carrying the request's
 * id (a client takes an id-null error for the agent closing it), and the connection stays. */
static void test_reply_larger_than_cap(void **state)
{
	struct fixture *f = *state;
	struct sonde_options o = {.dir = f->dir, .output_cap_bytes = 1000};
	struct conn *c;

	assert_int_equal(sonde_start(&o), 0);
	c = conn_open(sonde_socket_path(), getpid());
	conn_send_str(c, "{\"id\":5,\"cmd\":\"help\"}\n");
	test_expect_err(conn_json(c), 5, "reply_too_large", "exceeds the 1000-byte output cap");
	conn_ping(c, 6);
	conn_close(c);
	sonde_stop();
}

/* Eight threads starting and stopping at random: at most one agent, a clean end. */
static void test_start_stop_from_many_threads(void **state)
{
	struct fixture *f = *state;
	struct test_racer racers[8];
	pthread_t threads[8];
	int before = test_threads_now();

	for (int i = 0; i < 8; i++) {
		racers[i] = (struct test_racer){.dir = f->dir, .seed = i + 1};
		assert_int_equal(pthread_create(&threads[i], NULL, test_racer_main, &racers[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(racers[i].failures, 0);
	}
	/* Whatever the last call was: at most one agent, and if one runs, it serves. */
	assert_true(test_count_dir(f->dir) <= 1);
	if (sonde_socket_path() != NULL) {
		conn_ping_once(sonde_socket_path(), getpid(), 1);
		assert_int_equal(test_threads_now(), before + 1);
	}
	sonde_stop();
	assert_int_equal(test_threads_now(), before);
	assert_int_equal(test_count_dir(f->dir), 0);
}

/* A process that exits normally without sonde_stop() still removes its socket (atexit). */
static void test_socket_removed_at_exit(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	int p[2], status;
	ssize_t n;
	pid_t pid;

	pid = test_fork_with_pipe(p);
	if (pid == 0) {
		struct sonde_options o = {.dir = f->dir};
		const char *s;
		TEST_CHILD_NO_LEAK_CHECK();
		if (sonde_start(&o) != 0 || (s = sonde_socket_path()) == NULL)
			_exit(1);
		if (write(p[1], s, strlen(s) + 1) < 0)
			_exit(2);
		close(p[1]);
		exit(0);   /* no sonde_stop(): the atexit handler must remove the socket */
	}
	n = read(p[0], path, sizeof path - 1);
	close(p[0]);
	assert_true(n > 1);
	path[n] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_false(test_file_exists(path));
	assert_int_equal(test_count_dir(f->dir), 0);
}

/* One cmocka group (one TAP plan); SIGPIPE ignored so a test that writes to a closed socket
 * fails with a message instead of dying. */
int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_fixture_setup, test_fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_greeting),
		T(test_greeting_with_odd_names),
		T(test_bad_input_same_connection),
		T(test_binary_garbage),
		T(test_ten_mib_line_resyncs),
		T(test_line_limit_exact),
		T(test_pipelined_100),
		T(test_crlf),
		T(test_half_close_gets_every_reply),
		T(test_no_sigpipe),
		T(test_fds_close_on_exec),
		T(test_log_to_broken_stderr),
		T(test_agent_thread_blocks_signals),
		T(test_other_uid_stopped_by_directory),
		T(test_other_uid_refused_by_peercred),
		T(test_slow_reader_dropped),
		T(test_max_clients),
		T(test_max_clients_from_environment),
		T(test_idle_timeout),
		T(test_idle_agent_is_cheap),
		T(test_host_closes_agent_fds),
		T(test_no_fd_leak),
		T(test_fork_child_does_not_serve),
		T(test_fork_parent_killed),
		T(test_fork_child_starts_its_own),
		T(test_stale_socket_removed),
		T(test_unsafe_directories),
		T(test_disable),
		T(test_start_stop_idempotent),
		T(test_reply_larger_than_cap),
		T(test_start_stop_from_many_threads),
		T(test_socket_removed_at_exit),
	};
#undef T

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
