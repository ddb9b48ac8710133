/*
 * bench_threads.c - what observing a process's threads costs, at 10 and 1000 host threads.
 *
 * This program is the host: for each size it starts N idle threads, then measures, medians of
 * --runs runs:
 *   - the proc probe's tick (what the agent pays every interval, observed or not);
 *   - one `system` and one `threads` request executed in-process (the command alone, on this
 *     thread, before the agent runs: no socket, no JSON encoding of the reply);
 *   - sonde_start(): from the call to the first answered request (ping) over the socket;
 *   - one `system` and one `threads` request through the socket (client round trip);
 *   - whole processes, in the same run against the same pid: `sonde query -s SOCKET threads`,
 *     `ps -L -o tid,comm,pcpu,rss -p PID` and `top -H -b -n1 -p PID` (fork+exec+wait, output to
 *     /dev/null), and the ratios. Target: sonde query threads at least 2x faster than ps -L.
 *
 *   tests/bench/bench_threads [--sizes 10,1000] [--runs N] [--sonde PATH]
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "bench.h"
#include "client.h"
#include "command.h"
#include "proc.h"
#include "scanhelper.h"
#include "sonde.h"

extern char **environ;

/* ---- idle host threads ------------------------------------------------------------------- */

static int bench_gate[2];   /* threads block reading it; closing the write end ends them */

/* A host thread that sleeps in read() until the gate closes: present, costing nothing. */
static void *bench_idle(void *arg)
{
	char c;

	(void)arg;
	while (read(bench_gate[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/* n idle threads with small stacks (64 KiB), so 1000 of them are light. */
static pthread_t *bench_spawn_threads(long n)
{
	pthread_attr_t attr;
	pthread_t *t = calloc((size_t)n, sizeof *t);

	if (t == NULL || pipe(bench_gate) != 0)
		return NULL;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	for (long i = 0; i < n; i++)
		if (pthread_create(&t[i], &attr, bench_idle, NULL) != 0) {
			fprintf(stderr, "bench_threads: cannot create thread %ld of %ld: %s\n", i, n,
			        strerror(errno));
			exit(1);
		}
	pthread_attr_destroy(&attr);
	return t;
}

/* Close the gate and wait for every idle thread. */
static void bench_join_threads(pthread_t *t, long n)
{
	close(bench_gate[1]);
	for (long i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	close(bench_gate[0]);
	free(t);
}

/* ---- measurements -------------------------------------------------------------------------- */

/* The tick with synthetic times one second apart (the probe skips ticks closer than 50 ms):
 * median wall time, and *cpu_us its median CPU time (what the host pays; wall time also counts
 * preemption on a loaded machine). */
static double bench_tick_us(int runs, double *cpu_us)
{
	double c[runs];
	struct proc_tick_cost cost;

	double v[runs];
	struct timespec ts;
	uint64_t now;

	proc_probe.init();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	for (int i = 0; i < runs; i++) {
		double t0 = bench_now_ms();

		now += 1000000000ull;
		proc_probe.tick(now);
		v[i] = (bench_now_ms() - t0) * 1e3;
		proc_tick_cost(&cost);
		c[i] = (double)cost.last_cpu_ns / 1e3;
	}
	proc_probe.fini();
	*cpu_us = bench_median_mean(c, runs);
	return bench_median_mean(v, runs);
}

/* One command's exec on this thread; *bytes gets the compact JSON size of its result. */
struct bench_exec {
	const char *name;
	int runs;
	size_t bytes;
	double median_us;
};

/* The exec loop, on a thread of its own: commands run on the agent thread, never the main one,
 * and a main thread's stack is dearer to inspect (glibc reads /proc/self/maps to find it). */
static void *bench_exec_thread(void *arg)
{
	struct bench_exec *b = arg;
	const struct command_entry *e = command_find(b->name);
	json_t *req = json_object();
	double v[b->runs];

	for (int i = 0; i < b->runs; i++) {
		struct cmd_error err = {0};
		json_t *result = NULL;
		double t0 = bench_now_ms();

		if (e->exec(req, &result, &err) != 0) {
			fprintf(stderr, "bench_threads: %s: %s: %s\n", b->name, err.code, err.message);
			exit(1);
		}
		v[i] = (bench_now_ms() - t0) * 1e3;
		{
			char *s = json_dumps(result, JSON_COMPACT | JSON_REAL_PRECISION(15));
			b->bytes = s != NULL ? strlen(s) : 0;
			free(s);
		}
		json_decref(result);
	}
	json_decref(req);
	b->median_us = bench_median_mean(v, b->runs);
	return NULL;
}

/* One command's exec, median microseconds; *bytes gets its reply's size on the wire. */
static double bench_exec_us(const char *name, int runs, size_t *bytes)
{
	struct bench_exec b = {.name = name, .runs = runs};
	pthread_t t;

	if (pthread_create(&t, NULL, bench_exec_thread, &b) != 0 || pthread_join(t, NULL) != 0) {
		fprintf(stderr, "bench_threads: cannot start a thread for %s\n", name);
		exit(1);
	}
	if (bytes != NULL)
		*bytes = b.bytes;
	return b.median_us;
}

/* sonde_start() until a ping is answered over the socket, then sonde_stop(); milliseconds. */
static double bench_start_ms(int runs)
{
	double v[runs];

	for (int i = 0; i < runs; i++) {
		double t0 = bench_now_ms();
		struct client *c = NULL;
		char *cause = NULL;

		if (sonde_start(NULL) != 0)
			exit(1);
		while (c == NULL) {
			c = client_connect(sonde_socket_path(), 1000, &cause);
			if (c == NULL) {
				free(cause);
				cause = NULL;
			}
		}
		json_t *result = NULL;
		char *code = NULL, *message = NULL;
		if (client_request(c, "ping", NULL, 5000, &result, &code, &message) != 0) {
			fprintf(stderr, "bench_threads: ping: %s\n", message ? message : "?");
			exit(1);
		}
		v[i] = bench_now_ms() - t0;
		json_decref(result);
		client_close(c);
		sonde_stop();
	}
	return bench_median_mean(v, runs);
}

/* One request over the socket, round trip, median microseconds. */
static double bench_socket_us(struct client *c, const char *cmd, int runs)
{
	double v[runs];

	for (int i = 0; i < runs; i++) {
		json_t *result = NULL;
		char *code = NULL, *message = NULL;
		double t0 = bench_now_ms();

		if (client_request(c, cmd, NULL, 10000, &result, &code, &message) != 0) {
			fprintf(stderr, "bench_threads: %s over the socket: %s\n", cmd,
			        message ? message : "?");
			exit(1);
		}
		v[i] = (bench_now_ms() - t0) * 1e3;
		json_decref(result);
	}
	return bench_median_mean(v, runs);
}

/* CPU time one thread of ours has used, ms (its schedstat, ns). */
static double bench_thread_cpu_ms(pid_t tid)
{
	char path[64];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", (int)tid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return (double)ns / 1e6;
}

/* CPU time the agent has used, ms: its thread and, once started, its scan helper (which reads
 * half of the stat files at 256 threads and more): the host's side of a request. */
static double bench_agent_cpu_ms(void)
{
	pid_t helper = scanhelper_tid();

	return bench_thread_cpu_ms(agent_info()->agent_tid) +
	       (helper != 0 ? bench_thread_cpu_ms(helper) : 0.0);
}

/*
 * fork+exec+wait of argv with stdout and stderr on /dev/null: wall milliseconds, or -1 if the
 * command failed. *cpu_ms gets the CPU it cost: the child's user+sys (wait4) plus, with
 * with_agent, what our agent thread spent meanwhile -- a figure the shared machine's load does
 * not inflate.
 */
static double bench_process_once(char *const argv[], int with_agent, double *cpu_ms)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	pid_t pid;
	int status, ok;
	double t0 = bench_now_ms(), a0 = with_agent ? bench_agent_cpu_ms() : 0, took;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	ok = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) == 0 &&
	     wait4(pid, &status, 0, &ru) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	took = bench_now_ms() - t0;
	posix_spawn_file_actions_destroy(&fa);
	if (!ok) {
		fprintf(stderr, "bench_threads: `%s %s` failed\n", argv[0], argv[1]);
		*cpu_ms = -1;
		return -1;
	}
	*cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	          (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3 +
	          (with_agent ? bench_agent_cpu_ms() - a0 : 0);
	return took;
}

/* The 1-minute load average, to read the figures by: this machine is shared. */
static const char *bench_loadavg(void)
{
	static char buf[64];
	FILE *f = fopen("/proc/loadavg", "r");

	snprintf(buf, sizeof buf, "?");
	if (f != NULL) {
		if (fscanf(f, "%63s", buf) != 1)
			snprintf(buf, sizeof buf, "?");
		fclose(f);
	}
	strcat(buf, ",");
	return buf;
}

struct bench_row {
	long threads;
	double tick_us, tick_cpu_us, sys_exec_us, thr_exec_us, sys_sock_us, thr_sock_us;
	size_t thr_bytes;
	double start_ms, sonde_ms, sonde_json_ms, ps_ms, top_ms;
	double sonde_cpu_ms, ps_cpu_ms, top_cpu_ms;   /* CPU time, client + agent for sonde */
};

/* Every measurement at one size: n idle threads besides the main one. */
static void bench_size(long n, int runs, const char *sonde, struct bench_row *row)
{
	pthread_t *t = bench_spawn_threads(n);
	char pid[16];
	struct client *c;
	char *cause = NULL;
	int proc_runs = runs < 15 ? runs : 15, top_runs = (proc_runs + 1) / 2;

	if (t == NULL) {
		fprintf(stderr, "bench_threads: out of memory for %ld threads\n", n);
		exit(1);
	}
	row->threads = n;
	row->tick_us = bench_tick_us(runs, &row->tick_cpu_us);
	row->sys_exec_us = bench_exec_us("system", runs, NULL);
	row->thr_exec_us = bench_exec_us("threads", runs, &row->thr_bytes);
	row->start_ms = bench_start_ms(runs < 7 ? runs : 7);

	if (sonde_start(NULL) != 0)
		exit(1);
	c = client_connect(sonde_socket_path(), 5000, &cause);
	if (c == NULL) {
		fprintf(stderr, "bench_threads: %s\n", cause);
		exit(1);
	}
	row->sys_sock_us = bench_socket_us(c, "system", runs);
	row->thr_sock_us = bench_socket_us(c, "threads", runs);
	client_close(c);

	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	{
		char *q[] = {(char *)sonde, "query", "-s", (char *)sonde_socket_path(), "threads", NULL};
		char *qj[] = {(char *)sonde, "query", "-s", (char *)sonde_socket_path(), "--json",
		              "threads", NULL};
		char *ps[] = {"ps", "-L", "-o", "tid,comm,pcpu,rss", "-p", pid, NULL};
		char *top[] = {"top", "-H", "-b", "-n1", "-p", pid, NULL};

		double vq[proc_runs], vqj[proc_runs], vps[proc_runs], vtop[top_runs];
		double cq[proc_runs], cj, cps[proc_runs], ctop[top_runs];
		int ntop = 0;

		/* interleaved, so a burst of load on the shared machine hits all of them alike */
		for (int i = 0; i < proc_runs; i++) {
			vq[i] = bench_process_once(q, 1, &cq[i]);
			vqj[i] = bench_process_once(qj, 1, &cj);
			vps[i] = bench_process_once(ps, 0, &cps[i]);
			if (ntop < top_runs && i % 2 == 0) {
				vtop[ntop] = bench_process_once(top, 0, &ctop[ntop]);
				ntop++;
			}
		}
		row->sonde_ms = bench_median_mean(vq, proc_runs);
		row->sonde_json_ms = bench_median_mean(vqj, proc_runs);
		row->ps_ms = bench_median_mean(vps, proc_runs);
		row->top_ms = ntop > 0 ? bench_median_mean(vtop, ntop) : -1;
		row->sonde_cpu_ms = bench_median_mean(cq, proc_runs);
		row->ps_cpu_ms = bench_median_mean(cps, proc_runs);
		row->top_cpu_ms = ntop > 0 ? bench_median_mean(ctop, ntop) : -1;
	}
	sonde_stop();
	bench_join_threads(t, n);
}

int main(int argc, char **argv)
{
	const char *sizes = "10,1000";
	int runs = 21;
	char sonde[1024], dir[] = "/tmp/sonde-bench-XXXXXX";
	struct bench_row rows[8];
	int nrows = 0, met = 1;
	double first_ms;

	snprintf(sonde, sizeof sonde, "%s/tui/sonde", BUILDDIR);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc)
			sizes = argv[++i];
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--sonde") == 0 && i + 1 < argc)
			snprintf(sonde, sizeof sonde, "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--sizes 10,1000] [--runs N] [--sonde PATH]\n", argv[0]);
			return 2;
		}
	}
	if (runs < 1 || runs > 1000) {
		fprintf(stderr, "bench_threads: --runs wants 1..1000\n");
		return 2;
	}
	if (access(sonde, X_OK) != 0) {
		fprintf(stderr, "bench_threads: no sonde program at %s: build it (make) or pass "
		                "--sonde PATH\n", sonde);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL) {
		perror("bench_threads: mkdtemp");
		return 1;
	}
	setenv("SONDE_DIR", dir, 1);
	setenv("SONDE_NAME", "bench_threads", 1);

	/* the very first request pays for dlopen(libproc2) and its dependencies */
	{
		const struct command_entry *e = command_find("system");
		json_t *req = json_object(), *result = NULL;
		struct cmd_error err = {0};
		double t0 = bench_now_ms();

		if (e->exec(req, &result, &err) != 0) {
			fprintf(stderr, "bench_threads: system: %s\n", err.message);
			return 1;
		}
		first_ms = bench_now_ms() - t0;
		json_decref(result);
		json_decref(req);
	}

	for (const char *p = sizes; *p != '\0' && nrows < 8;) {
		char *end;
		long n = strtol(p, &end, 10);

		if (end == p || n < 0 || n > 100000) {
			fprintf(stderr, "bench_threads: bad --sizes %s\n", sizes);
			return 2;
		}
		/* N host threads = the main thread + N-1 idle ones (+ the agent's while it runs) */
		bench_size(n > 1 ? n - 1 : 0, runs, sonde, &rows[nrows]);
		rows[nrows].threads = n;
		nrows++;
		p = *end == ',' ? end + 1 : end;
	}
	rmdir(dir);

	printf("bench_threads: %ld CPUs, load %s medians of %d runs (processes: up to 15, top: half)\n",
	       sysconf(_SC_NPROCESSORS_ONLN), bench_loadavg(), runs);
	printf("first request in a process (dlopen libproc2 + system): %.2f ms\n\n", first_ms);
	printf("%8s %9s %11s %11s %11s %11s %10s %10s\n", "threads", "tick_us", "system_us",
	       "threads_us", "system_us", "threads_us", "reply_B", "start_ms");
	printf("%8s %9s %11s %11s %11s %11s %10s %10s\n", "", "(probe)", "(in-agent)", "(in-agent)",
	       "(socket)", "(socket)", "(threads)", "(to 1st)");
	for (int i = 0; i < nrows; i++)
		printf("%8ld %9.1f %11.1f %11.1f %11.1f %11.1f %10zu %10.2f\n", rows[i].threads,
		       rows[i].tick_us, rows[i].sys_exec_us, rows[i].thr_exec_us, rows[i].sys_sock_us,
		       rows[i].thr_sock_us, rows[i].thr_bytes, rows[i].start_ms);
	for (int i = 0; i < nrows; i++)
		printf("the proc probe's tick at %ld threads: %.1f us of CPU (%.1f us wall), %.3f%% of "
		       "one core at the default 1 s interval, %.2f us per thread\n",
		       rows[i].threads, rows[i].tick_cpu_us, rows[i].tick_us,
		       rows[i].tick_cpu_us / 1e6 * 100.0,
		       rows[i].tick_cpu_us / (double)(rows[i].threads > 0 ? rows[i].threads : 1));
	printf("\nwhole processes, ms (fork+exec+wait, same pid, same run):\n");
	printf("%8s %12s %12s %10s %10s %10s %10s\n", "threads", "sonde query", "(--json)",
	       "ps -L", "top -H", "ps/sonde", "top/sonde");
	for (int i = 0; i < nrows; i++) {
		const struct bench_row *r = &rows[i];

		printf("%8ld %12.2f %12.2f %10.2f %10.2f %9.1fx %9.1fx\n", r->threads, r->sonde_ms,
		       r->sonde_json_ms, r->ps_ms,
		       r->top_ms, r->sonde_ms > 0 ? r->ps_ms / r->sonde_ms : 0,
		       r->sonde_ms > 0 ? r->top_ms / r->sonde_ms : 0);
		if (!(r->sonde_ms > 0 && r->ps_ms >= 2 * r->sonde_ms))
			met = 0;
	}
	printf("\nCPU time, ms (sonde: the client process + the agent thread and its scan helper; load-independent):\n");
	printf("%8s %12s %10s %10s %10s %10s\n", "threads", "sonde query", "ps -L", "top -H",
	       "ps/sonde", "top/sonde");
	for (int i = 0; i < nrows; i++) {
		const struct bench_row *r = &rows[i];

		printf("%8ld %12.2f %10.2f %10.2f %9.1fx %9.1fx\n", r->threads, r->sonde_cpu_ms,
		       r->ps_cpu_ms, r->top_cpu_ms, r->sonde_cpu_ms > 0 ? r->ps_cpu_ms / r->sonde_cpu_ms : 0,
		       r->sonde_cpu_ms > 0 ? r->top_cpu_ms / r->sonde_cpu_ms : 0);
	}
	printf("\ntarget `sonde query threads` >= 2x faster than `ps -L` at every size: %s\n",
	       met ? "met" : "MISSED");
	return 0;
}
