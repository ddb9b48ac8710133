/*
 * test_agent_limits.c - the agent when the host runs out of operating-system resources, in
 * process (the agent and the "host" are this test): the agent must not spin, must say why on
 * stderr, and must serve the waiting client once the resource is back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent.h"
#include "sonde.h"

/* CPU time of a thread in nanoseconds, from an already open schedstat (pread at 0 re-reads it:
 * no new descriptor is needed while the process has none left). */
static long long test_thread_cpu_ns(int fd)
{
	char buf[128];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return atoll(buf);
}

static void test_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The agent thread's schedstat (for test_thread_cpu_ns), opened once the started agent has told
 * its thread id (within 2 s). */
static int test_open_agent_schedstat(void)
{
	char path[160];
	pid_t tid = 0;
	int stat_fd;

	for (int i = 0; i < 200 && (tid = agent_info()->agent_tid) == 0; i++)
		test_sleep_ms(10);
	assert_true(tid > 0);
	snprintf(path, sizeof path, "/proc/self/task/%ld/schedstat", (long)tid);
	stat_fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(stat_fd >= 0);
	return stat_fd;
}

/* Connect the socket client (made beforehand) to the running agent. */
static void test_connect_agent(int client)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sonde_socket_path());
	assert_int_equal(connect(client, (struct sockaddr *)&sa, sizeof sa), 0);
}

/*
 * Read from client into buf (size bytes, kept NUL-terminated) for up to timeout_ms, until it
 * holds at least min_bytes and, unless want is NULL, the text want; returns whether it got there.
 * Once more than half of buf is used without success, only its last 64 bytes are kept.
 */
static int test_recv_until(int client, char *buf, size_t size, int timeout_ms, size_t min_bytes,
                           const char *want)
{
	struct pollfd p = {.fd = client, .events = POLLIN};
	size_t got = 0;
	int done = 0;

	buf[0] = '\0';
	for (int waited = 0; waited < timeout_ms && !done; waited += 100) {
		ssize_t n;
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(client, buf + got, size - 1 - got, MSG_DONTWAIT);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		done = got >= min_bytes && (want == NULL || strstr(buf, want) != NULL);
		if (got > size / 2 && !done) {   /* keep the tail only */
			memmove(buf, buf + got - 64, 64);
			got = 64;
		}
	}
	return done;
}

/*
 * The host is at RLIMIT_NOFILE when an operator attaches (the moment sonde is needed most):
 * accept4() fails with EMFILE while the connection stays queued, so the listening socket stays
 * readable. The agent must rest it rather than poll it in a loop (it burned a whole core here,
 * for as long as the host stayed at its limit), log the cause with the limit to raise, and greet
 * the waiting client once descriptors are free again.
 */
static void test_out_of_descriptors_no_spin(void **state)
{
	char dir[] = "/tmp/sonde-test-limits-XXXXXX", buf[4096];
	struct sonde_options opts = {0};
	struct rlimit old, low;
	int fillers[256], nfill = 0, client, stat_fd, errpipe[2], saved_err;
	long long cpu0, cpu1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	opts.dir = dir;
	opts.interval_ms = 1000;
	/* The agent's log goes to stderr: catch it in a pipe to check what it says. */
	assert_int_equal(pipe2(errpipe, O_NONBLOCK | O_CLOEXEC), 0);
	saved_err = dup(STDERR_FILENO);
	assert_true(saved_err >= 0);
	dup2(errpipe[1], STDERR_FILENO);

	assert_int_equal(sonde_start(&opts), 0);
	stat_fd = test_open_agent_schedstat();
	client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(client >= 0);

	/* No descriptor left for the process: a low soft limit, every number below it taken. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nfill < 256) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		fillers[nfill++] = fd;
	}
	assert_true(nfill < 256);

	test_connect_agent(client);
	test_sleep_ms(200);   /* the agent has seen the connection and failed to accept it */
	cpu0 = test_thread_cpu_ns(stat_fd);
	test_sleep_ms(1500);
	cpu1 = test_thread_cpu_ns(stat_fd);

	/* Descriptors back: the waiting client is greeted within the rest period (1 s) or so. */
	for (int i = 0; i < nfill; i++)
		close(fillers[i]);
	setrlimit(RLIMIT_NOFILE, &old);
	test_recv_until(client, buf, sizeof buf, 5000, 12, NULL);
	close(client);
	close(stat_fd);
	sonde_stop();
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	close(errpipe[1]);
	{
		char log[2048];
		ssize_t n = read(errpipe[0], log, sizeof log - 1);
		log[n > 0 ? n : 0] = '\0';
		close(errpipe[0]);
		rmdir(dir);
		if (strstr(log, "cannot accept a client") == NULL || strstr(log, "RLIMIT_NOFILE") == NULL)
			fail_msg("the agent did not say why it cannot accept; its log: \"%s\"", log);
	}

	assert_true(cpu0 >= 0 && cpu1 >= 0);
	if (cpu1 - cpu0 > 150000000LL)
		fail_msg("agent thread spent %.0f ms of CPU in 1.5 s while the process had no "
		         "descriptor left (it spins on the listening socket)",
		         (double)(cpu1 - cpu0) / 1e6);
	if (strncmp(buf, "{\"sonde\":1", 10) != 0)
		fail_msg("the waiting client got no greeting once descriptors were free: \"%s\"", buf);
}

/*
 * A client pipelining many short lines (here 2 MiB of empty ones, then a ping): the agent's cost
 * must stay linear in the bytes. It moved the rest of its 64 KiB input buffer after every line,
 * quadratic in the lines per read: 20 ms of CPU per 64 KiB of newlines, 0.6 s for these 2 MiB.
 */
static void test_many_short_lines_linear(void **state)
{
	char dir[] = "/tmp/sonde-test-limits-XXXXXX", buf[4096];
	struct sonde_options opts = {0};
	const size_t total = 2u << 20;
	char *lines = malloc(total);
	long long cpu0, cpu1;
	int client, stat_fd, pong;

	(void)state;
	assert_non_null(lines);
	memset(lines, '\n', total);
	assert_non_null(mkdtemp(dir));
	opts.dir = dir;
	assert_int_equal(sonde_start(&opts), 0);
	stat_fd = test_open_agent_schedstat();
	client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	test_connect_agent(client);
	test_sleep_ms(100);   /* greeted; the start-up tick is done */
	cpu0 = test_thread_cpu_ns(stat_fd);
	for (size_t off = 0; off < total;) {
		ssize_t n = send(client, lines + off, total - off, MSG_NOSIGNAL);
		assert_true(n > 0);
		off += (size_t)n;
	}
	{
		static const char ping[] = "{\"id\":7,\"cmd\":\"ping\"}\n";
		assert_int_equal(send(client, ping, sizeof ping - 1, MSG_NOSIGNAL),
		                 (ssize_t)(sizeof ping - 1));
	}
	pong = test_recv_until(client, buf, sizeof buf, 20000, 0, "\"id\":7");
	cpu1 = test_thread_cpu_ns(stat_fd);
	close(client);
	close(stat_fd);
	sonde_stop();
	rmdir(dir);
	free(lines);
	assert_true(pong);
	assert_true(cpu0 >= 0 && cpu1 >= 0);
	if (cpu1 - cpu0 > 250000000LL)
		fail_msg("agent thread spent %.0f ms of CPU on 2 MiB of empty lines (quadratic?)",
		         (double)(cpu1 - cpu0) / 1e6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_out_of_descriptors_no_spin),
		cmocka_unit_test(test_many_short_lines_linear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
