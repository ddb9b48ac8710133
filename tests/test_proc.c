/*
 * test_proc.c - the proc module's parsers and deltas on fixed input, and its tick on this very
 * process (busy and idle threads, fds opened on purpose), without the agent running.
 */
#include "config.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc.h"

/* A real stat line of a 3-thread process, its name made awkward on purpose. */
static const char stat_line[] =
	"4242 (my (odd) name) S 1 4242 4242 0 -1 4194304 245 0 2 0 123 45 -7 0 20 0 3 0 39887 "
	"15286272 758 18446744073709551615 94282767720448 94282767721373 140737117799376 0 0 0 "
	"65536 6 0 1 0 0 17 1 0 0 0 0 0 94282767732160 94282767732824 94283491000320 "
	"140737117801125 140737117801129 140737117801129 140737117802484 0\n";

/* Each field sonde uses lands where proc(5) puts it. */
static void test_parse_stat_fields(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(proc_parse_stat(stat_line, strlen(stat_line), &st), 0);
	assert_int_equal(st.pid, 4242);
	assert_string_equal(st.comm, "my (odd) name");
	assert_int_equal(st.state, 'S');
	assert_int_equal(st.utime, 123);
	assert_int_equal(st.stime, 45);
	assert_int_equal(st.num_threads, 3);
	assert_int_equal(st.starttime, 39887);
	assert_int_equal(st.vsize, 15286272);
	assert_int_equal(st.rss_pages, 758);
	assert_int_equal(st.processor, 1);
}

/* A thread name may be a whole 15 bytes of ')' and spaces: only the last ')' ends it. */
static void test_parse_stat_hostile_name(void **state)
{
	const char *line = "7 (x) (y) ) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 99 1000 2 0 0 0 0 "
	                   "0 0 0 0 0 0 0 0 0 17 0";
	struct proc_stat st;

	(void)state;
	assert_int_equal(proc_parse_stat(line, strlen(line), &st), 0);
	assert_string_equal(st.comm, "x) (y) ");
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.utime, 5);
	assert_int_equal(st.stime, 6);
	assert_int_equal(st.processor, 0);
}

/* Short, cut or garbled lines are refused, never read past their length. */
static void test_parse_stat_malformed(void **state)
{
	struct proc_stat st;
	size_t half = strlen(stat_line) / 2;

	(void)state;
	assert_int_equal(proc_parse_stat("", 0, &st), -1);
	assert_int_equal(proc_parse_stat("12 (x", 5, &st), -1);
	assert_int_equal(proc_parse_stat("12 (x) ", 7, &st), -1);
	assert_int_equal(proc_parse_stat("12 (x) S 1 2 3", 14, &st), -1);
	/* cut in the middle: the parser must not read past len */
	assert_int_equal(proc_parse_stat(stat_line, half, &st), -1);
	assert_int_equal(proc_parse_stat("x (a) S 1 2", 11, &st), -1);
}

/* The host files: values in their units, missing or look-alike keys refused. */
static void test_parse_loadavg_meminfo(void **state)
{
	double l[3];
	uint64_t total, avail;
	const char *meminfo = "MemTotal:       24590564 kB\nMemFree:        20000000 kB\n"
	                      "MemAvailable:   22000000 kB\nBuffers:          1 kB\n";

	(void)state;
	assert_int_equal(proc_parse_loadavg("0.52 1.58 10.25 1/467 12345\n", l), 0);
	assert_true(fabs(l[0] - 0.52) < 1e-9 && fabs(l[1] - 1.58) < 1e-9 && fabs(l[2] - 10.25) < 1e-9);
	assert_int_equal(proc_parse_loadavg("0.52 oops", l), -1);
	assert_int_equal(proc_parse_meminfo(meminfo, &total, &avail), 0);
	assert_int_equal(total, 24590564ull * 1024);
	assert_int_equal(avail, 22000000ull * 1024);
	assert_int_equal(proc_parse_meminfo("MemTotal: 5 kB\nMemFree: 1 kB\n", &total, &avail), -1);
	/* a key that merely starts like the one asked for is not it */
	assert_int_equal(proc_parse_meminfo("MemTotalX: 5 kB\nMemAvailable: 1 kB\n", &total, &avail),
	                 -1);
}

/* Only decimal entries of /proc directories count as tids and fds. */
static void test_parse_number_name(void **state)
{
	(void)state;
	assert_int_equal(proc_parse_number_name("123"), 123);
	assert_int_equal(proc_parse_number_name("0"), 0);
	assert_int_equal(proc_parse_number_name("."), -1);
	assert_int_equal(proc_parse_number_name(".."), -1);
	assert_int_equal(proc_parse_number_name("12a"), -1);
	assert_int_equal(proc_parse_number_name(""), -1);
	assert_int_equal(proc_parse_number_name("99999999999999999999999"), -1);
}

/* Every case of the merge: kept, reused tid, new, new this instant, missed by the table. */
static void test_thread_deltas(void **state)
{
	struct proc_thread_tick prev[3] = {
		{.tid = 10, .cpu_s = 1.0, .start_s = 0},
		{.tid = 11, .cpu_s = 2.0, .start_s = 5},
		{.tid = 13, .cpu_s = 9.0, .start_s = 6},   /* exited since */
	};
	struct proc_thread_tick cur[4] = {
		{.tid = 10, .cpu_s = 1.5, .start_s = 0},   /* 0.5 s over 2 s: 25 % */
		{.tid = 11, .cpu_s = 0.1, .start_s = 9},   /* tid reused by a thread born at 9 s */
		{.tid = 12, .cpu_s = 0.2, .start_s = 9.6}, /* new, 0.4 s old: 50 % */
		{.tid = 14, .cpu_s = 0.0, .start_s = 10},  /* new this instant: age clamped to a tick */
	};

	(void)state;
	proc_thread_deltas(cur, 4, prev, 3, 2.0, 10.0, 0.01);
	assert_true(fabs(cur[0].cpu_pct - 25.0) < 1e-9);
	assert_true(fabs(cur[1].cpu_pct - 0.1 / 1.0 * 100) < 1e-9);
	assert_true(fabs(cur[2].cpu_pct - 50.0) < 1e-9);
	assert_true(fabs(cur[3].cpu_pct - 0.0) < 1e-9);

	/* a thread older than the interval but missing from prev (prev was cut short): unknown,
	 * not its lifetime's CPU squeezed into one interval */
	struct proc_thread_tick lone = {.tid = 20, .cpu_s = 1.0, .start_s = 0};
	proc_thread_deltas(&lone, 1, NULL, 0, 2.0, 100.0, 0.01);
	assert_true(isnan(lone.cpu_pct));
	/* born within the interval: its CPU over its age */
	lone.start_s = 99.0;
	proc_thread_deltas(&lone, 1, NULL, 0, 2.0, 100.0, 0.01);
	assert_true(fabs(lone.cpu_pct - 100.0) < 1e-9);
}

/* ---- the tick on this process ---------------------------------------------------------- */

static volatile int spin_stop;
static volatile pid_t spin_tid;

/* Burns CPU until told to stop: the thread whose share is checked. */
static void *spin_thread(void *arg)
{
	volatile unsigned long x = 0;

	(void)arg;
	spin_tid = (pid_t)syscall(SYS_gettid);
	pthread_setname_np(pthread_self(), "spinner");
	while (!spin_stop)
		x++;
	return NULL;
}

/* Wakes 50 times a second: context switches, next to no CPU. */
static void *idle_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "idler");
	while (!spin_stop)
		usleep(20000);
	return NULL;
}

/* The agent's clock, for ticks driven by the test. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A clock in seconds (a thread's CPU clock, here). */
static double clock_s(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The kernel's own thread count, to check the table against. */
static unsigned count_threads_in_status(void)
{
	char buf[4096];
	const char *p;

	assert_true(proc_read_small(AT_FDCWD, "/proc/self/status", buf, sizeof buf) > 0);
	p = strstr(buf, "\nThreads:");
	assert_non_null(p);
	return (unsigned)strtoul(p + 9, NULL, 10);
}

/* Ticks on this process: threads, shares, fds, memory, switches and load as the kernel has
 * them, and the probe's own cost counted. */
static void test_tick_live(void **state)
{
	pthread_t spin, idle[3];
	const struct proc_tick *tk;
	const struct proc_thread_tick *me, *sp;
	int fds[6];
	unsigned fds_before;
	double sum = 0, load[3], spin_cpu0, spin_cpu1, expected;
	clockid_t spin_clock;
	char buf[256];

	(void)state;
	spin_stop = 0;
	spin_tid = 0;
	assert_int_equal(proc_probe.init(), 0);
	assert_null(proc_latest());
	/* a tick too soon after the baseline would give percentages of tick-granular noise */
	proc_probe.tick(now_ns());
	assert_null(proc_latest());

	assert_int_equal(pthread_create(&spin, NULL, spin_thread, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&idle[i], NULL, idle_thread, NULL), 0);
	usleep(100000);
	while (spin_tid == 0)
		usleep(1000);
	assert_int_equal(pthread_getcpuclockid(spin, &spin_clock), 0);
	spin_cpu0 = clock_s(spin_clock);
	proc_probe.tick(now_ns());
	tk = proc_latest();
	assert_non_null(tk);
	fds_before = tk->fds;
	for (int i = 0; i < 6; i++)
		fds[i] = open("/dev/null", O_RDONLY);
	usleep(500000);
	spin_cpu1 = clock_s(spin_clock);
	proc_probe.tick(now_ns());
	tk = proc_latest();
	assert_non_null(tk);

	assert_true(tk->interval_s > 0.45 && tk->interval_s < 5.0);
	assert_int_equal(tk->nthreads, count_threads_in_status());
	assert_int_equal(tk->nthreads, 5);
	assert_int_equal(tk->fds, fds_before + 6);
	for (size_t i = 1; i < tk->nthreads; i++)
		assert_true(tk->threads[i - 1].tid < tk->threads[i].tid);
	me = proc_latest_thread(getpid());
	assert_non_null(me);
	assert_int_equal(me->start_s, 0);
	sp = proc_latest_thread(spin_tid);
	assert_non_null(sp);
	assert_string_equal(sp->name, "spinner");
	/* the spinner's share is what its own CPU clock says it got over the interval, whatever
	 * else the shared machine was doing (two clock ticks of granularity, and a little slack
	 * for the moments between reading the clock and ticking) */
	expected = (spin_cpu1 - spin_cpu0) / tk->interval_s * 100.0;
	assert_true(expected > 1.0);
	assert_true(fabs(sp->cpu_pct - expected) <
	            2 * 100.0 / (double)proc_hertz() / tk->interval_s + 5.0);
	for (size_t i = 0; i < tk->nthreads; i++) {
		sum += tk->threads[i].cpu_pct;
		if (tk->threads[i].tid != spin_tid && tk->threads[i].tid != getpid())
			assert_true(tk->threads[i].cpu_pct < 10.0);
	}
	/* per-thread shares add up to the process's (clock-tick granularity: 1 tick per thread) */
	assert_true(fabs(sum - (tk->cpu_user_pct + tk->cpu_sys_pct)) <
	            5 * 100.0 / (double)proc_hertz() / tk->interval_s + 1.0);
	assert_true(tk->rss_bytes > 100 * 1024);
	assert_true(tk->vsz_bytes > tk->rss_bytes);
	/* the idlers wake 50 times a second: that is switches */
	assert_true(tk->ctx_switches_per_s > 50);
	assert_true(proc_read_small(AT_FDCWD, "/proc/loadavg", buf, sizeof buf) > 0);
	assert_int_equal(proc_parse_loadavg(buf, load), 0);
	assert_true(fabs(load[2] - tk->loadavg[2]) < 0.5);

	spin_stop = 1;
	pthread_join(spin, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(idle[i], NULL);
	for (int i = 0; i < 6; i++)
		close(fds[i]);
	usleep(100000);
	proc_probe.tick(now_ns());
	tk = proc_latest();
	assert_int_equal(tk->nthreads, 1);
	assert_null(proc_latest_thread(spin_tid));
	assert_int_equal(tk->fds, fds_before);

	struct proc_tick_cost cost;
	proc_tick_cost(&cost);
	assert_int_equal(cost.ticks, 3);
	assert_true(cost.max_ns >= cost.last_ns && cost.last_ns > 0);
	proc_probe.fini();
	assert_null(proc_latest());
}

void proc_set_thread_scan_budget(double share_of_a_core);

/* A thread that counts a little and ends. */
static void *short_lived(void *arg)
{
	volatile unsigned long x = 0;

	for (long i = 0; i < (long)(intptr_t)arg; i++)
		x++;
	return NULL;
}

/* Creates and joins short-lived threads until told to stop: tids come and go mid-scan. */
static void *churner(void *arg)
{
	unsigned long *made = arg;

	while (!spin_stop) {
		pthread_t t[8];

		for (int i = 0; i < 8; i++)
			if (pthread_create(&t[i], NULL, short_lived, (void *)(intptr_t)(20000 * i)) != 0)
				t[i] = 0;
		for (int i = 0; i < 8; i++)
			if (t[i] != 0) {
				pthread_join(t[i], NULL);
				(*made)++;
			}
	}
	return NULL;
}

/* Threads born and dying during every scan: each table stays sorted, without duplicates, with
 * shares that are unknown or sane. */
static void test_tick_under_thread_churn(void **state)
{
	pthread_t ch;
	unsigned long made = 0;
	uint64_t t = now_ns();

	(void)state;
	spin_stop = 0;
	assert_int_equal(proc_probe.init(), 0);
	assert_int_equal(pthread_create(&ch, NULL, churner, &made), 0);
	for (int k = 1; k <= 40; k++) {
		const struct proc_tick *tk;

		usleep(5000);
		t += 60000000u; /* 60 ms apart, as far as the probe knows */
		proc_probe.tick(t);
		tk = proc_latest();
		assert_non_null(tk);
		assert_true(tk->nthreads >= 2);
		for (size_t i = 0; i < tk->nthreads; i++) {
			const struct proc_thread_tick *r = &tk->threads[i];

			if (i > 0)
				assert_true(tk->threads[i - 1].tid < r->tid);
			assert_true(isnan(r->cpu_pct) || (r->cpu_pct >= 0 && r->cpu_pct < 10000));
			assert_true(r->cpu_s >= 0 && r->start_s >= 0);
		}
	}
	spin_stop = 1;
	pthread_join(ch, NULL);
	assert_true(made > 40);
	proc_probe.fini();
}

/* A thread scan dearer than its budget is spread over ticks; the process figures are not. */
static void test_tick_spreads_costly_thread_scan(void **state)
{
	const struct proc_tick *tk;
	uint64_t t0, first_scan;
	pthread_t late;

	(void)state;
	proc_set_thread_scan_budget(1e-9); /* any scan is too dear */
	assert_int_equal(proc_probe.init(), 0);
	t0 = now_ns() + 100000000u;
	proc_probe.tick(t0);
	tk = proc_latest();
	assert_non_null(tk);
	assert_int_equal(tk->threads_at_ns, tk->at_ns);
	assert_true(tk->threads_interval_s > 0);
	first_scan = tk->threads_at_ns;
	assert_int_equal(tk->nthreads, 1);

	spin_stop = 0;
	assert_int_equal(pthread_create(&late, NULL, idle_thread, NULL), 0);
	usleep(20000);
	for (int i = 1; i <= 3; i++) {
		proc_probe.tick(t0 + (uint64_t)i * 100000000u);
		tk = proc_latest();
		assert_non_null(tk);
		/* process figures move on, the thread table stays as it was read, and says when */
		assert_int_equal(tk->at_ns, t0 + (uint64_t)i * 100000000u);
		assert_int_equal(tk->threads_at_ns, first_scan);
		assert_int_equal(tk->nthreads, 1);
	}
	spin_stop = 1;
	pthread_join(late, NULL);
	proc_probe.fini();

	/* with room in the budget, every tick reads the table */
	proc_set_thread_scan_budget(1.0);
	assert_int_equal(proc_probe.init(), 0);
	for (int i = 1; i <= 3; i++) {
		proc_probe.tick(now_ns() + (uint64_t)i * 100000000u);
		tk = proc_latest();
		assert_int_equal(tk->threads_at_ns, tk->at_ns);
	}
	proc_probe.fini();
	proc_set_thread_scan_budget(0.01);
}

/* The tick must never map libproc2: a host that is never observed never loads it. */
static void test_tick_does_not_load_libproc2(void **state)
{
	char line[4096];
	FILE *maps;
	int lines = 0;

	(void)state;
	assert_int_equal(proc_probe.init(), 0);
	usleep(60000);
	proc_probe.tick(now_ns());
	assert_non_null(proc_latest());
	assert_false(proc_libproc2_loaded());
	maps = fopen("/proc/self/maps", "r");
	assert_non_null(maps);
	while (fgets(line, sizeof line, maps) != NULL) {
		lines++;
		assert_null(strstr(line, "libproc2"));
	}
	fclose(maps);
	assert_true(lines > 5);
	proc_probe.fini();
}

/* Descriptors counted right, and cheaply: the count is taken every tick, and listing
 * /proc/self/fd cost the agent 9 ms a tick at 19,000 descriptors. With 2000 extra ones open,
 * 500 counts must take well under the ~250 ms that listing them takes (Linux 6.2+, where the
 * kernel gives the count; older kernels only check the count). */
static void test_count_fds_cheap(void **state)
{
	int fds[2000], nfds = 0, listed = 0;
	struct stat st;
	struct timespec t0, t1;
	struct dirent *de;
	unsigned counted;
	DIR *d;
	double ms;

	(void)state;
	while (nfds < 2000 && (fds[nfds] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		nfds++;
	counted = proc_count_fds();
	d = opendir("/proc/self/fd");
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		listed += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(counted, (unsigned)(listed - 1));   /* less the listing's own */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	for (int i = 0; i < 500; i++)
		counted += proc_count_fds() == 0;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0 && nfds >= 1000 && ms > 60)
		fail_msg("500 descriptor counts with %d open took %.1f ms of CPU: listed, not stat()ed",
		         nfds, ms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_stat_fields),
		cmocka_unit_test(test_parse_stat_hostile_name),
		cmocka_unit_test(test_parse_stat_malformed),
		cmocka_unit_test(test_parse_loadavg_meminfo),
		cmocka_unit_test(test_parse_number_name),
		cmocka_unit_test(test_thread_deltas),
		cmocka_unit_test(test_tick_live),
		cmocka_unit_test(test_tick_spreads_costly_thread_scan),
		cmocka_unit_test(test_tick_under_thread_churn),
		cmocka_unit_test(test_tick_does_not_load_libproc2),
		cmocka_unit_test(test_count_fds_cheap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
