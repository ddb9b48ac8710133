/*
 * host.c - a real host process for integration tests and benchmarks: links the agent, starts
 * it, optionally runs N extra threads (idle or busy), prints "ready PID SOCKET" on stdout and
 * runs until SIGTERM/SIGINT or until its standard input closes.
 *
 *   tests/host [--threads N] [--busy] [--name NAME] [--no-start] [--close-fds]
 *              [--fork-child MS [--child-start]]
 *
 * --close-fds: after "ready", behave like a classic daemon: close every descriptor above 2 (the
 * agent's too), then open /dev/zero a few times so the old numbers belong to the host; prints
 * "closed-fds".
 * --fork-child MS: after "ready", fork a child that prints "child PID SOCKET" (SOCKET is "-"
 * unless --child-start makes it call sonde_start() itself), lives MS milliseconds and exit()s
 * normally (atexit handlers run); the parent prints "child-exited STATUS" when it reaps it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sonde.h"

static volatile sig_atomic_t host_stop;
static int host_busy;

static void host_on_signal(int sig)
{
	(void)sig;
	host_stop = 1;
}

static void *host_thread(void *arg)
{
	volatile unsigned long spin = 0;

	(void)arg;
	while (!host_stop) {
		if (host_busy) {
			for (int i = 0; i < 1000000; i++)
				spin++;
			usleep(1000);
		} else {
			usleep(100000);
		}
	}
	return NULL;
}

/* The fork test's child: a process that inherited a running agent from its parent. */
static void host_fork_child(long ms, int child_start, const struct sonde_options *opts)
{
	pid_t pid = fork();

	if (pid < 0) {
		fprintf(stderr, "host: fork: %s\n", strerror(errno));
		return;
	}
	if (pid > 0)
		return;
	if (child_start && sonde_start(opts) != 0)
		_exit(1);
	printf("child %ld %s\n", (long)getpid(), sonde_socket_path() ? sonde_socket_path() : "-");
	fflush(stdout);
	usleep((useconds_t)ms * 1000);
	exit(0);
}

int main(int argc, char **argv)
{
	struct sonde_options opts = {0};
	long nthreads = 0;
	int start = 1, child_start = 0, close_fds = 0;
	long fork_child_ms = 0;
	pthread_t *threads;
	struct sigaction sa = {.sa_handler = host_on_signal};

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			nthreads = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--busy") == 0)
			host_busy = 1;
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			opts.name = argv[++i];
		else if (strcmp(argv[i], "--no-start") == 0)
			start = 0;
		else if (strcmp(argv[i], "--fork-child") == 0 && i + 1 < argc)
			fork_child_ms = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--child-start") == 0)
			child_start = 1;
		else if (strcmp(argv[i], "--close-fds") == 0)
			close_fds = 1;
		else {
			fprintf(stderr, "usage: %s [--threads N] [--busy] [--name NAME] [--no-start] "
			        "[--close-fds] [--fork-child MS [--child-start]]\n", argv[0]);
			return 2;
		}
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	threads = calloc((size_t)nthreads + 1, sizeof *threads);
	for (long i = 0; i < nthreads; i++)
		if (pthread_create(&threads[i], NULL, host_thread, NULL) != 0) {
			fprintf(stderr, "host: cannot create thread %ld: %s\n", i, strerror(errno));
			return 1;
		}
	if (start && sonde_start(&opts) != 0)
		return 1;
	printf("ready %ld %s\n", (long)getpid(), start ? sonde_socket_path() : "-");
	fflush(stdout);
	if (fork_child_ms > 0)
		host_fork_child(fork_child_ms, child_start, &opts);
	if (close_fds) {
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		for (int i = 0; i < 4; i++)
			if (open("/dev/zero", O_RDONLY) < 0)
				return 1;
		printf("closed-fds\n");
		fflush(stdout);
	}
	while (!host_stop) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		char buf[256];
		int status;
		if (fork_child_ms > 0 && waitpid(-1, &status, WNOHANG) > 0) {
			printf("child-exited %d\n", status);
			fflush(stdout);
		}
		if (poll(&pfd, 1, 200) > 0 && read(STDIN_FILENO, buf, sizeof buf) <= 0)
			break;
	}
	host_stop = 1;
	for (long i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	sonde_stop();
	return 0;
}
