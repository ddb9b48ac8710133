/*
 * test_system.c - `system` and `threads` tell the truth: their figures are cross-checked against
 * /proc, getrusage, getrlimit and `ps`, first by calling the commands in this process (no agent
 * running), then over the socket of a real host process (tests/host) started for the test.
 */
#include "config.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client.h"
#include "cmdrun.h"
#include "command.h"
#include "jemalloc.h"
#include "proc.h"
#include "registry.h"
#include "scanhelper.h"
#include "sonde.h"

void proc_set_libproc2_soname(const char *soname);

/* ---- helpers ----------------------------------------------------------------------------- */

/* Does the process map a library whose path contains what? (libproc2: loaded or not) */
static int maps_mention(pid_t pid, const char *what)
{
	char path[64], line[4096];
	FILE *f;
	int found = 0;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, what) != NULL)
			found = 1;
	fclose(f);
	return found;
}

/* A "Key:  value" line of /proc/PID/status, as a number. */
static long long status_value(pid_t pid, const char *key)
{
	char path[64], buf[8192];
	const char *p;
	size_t klen = strlen(key);

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	assert_true(proc_read_small(AT_FDCWD, path, buf, sizeof buf) > 0);
	for (p = buf; p != NULL && *p != '\0'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return strtoll(p + klen + 1, NULL, 10);
	fail_msg("no %s in %s", key, path);
	return -1;
}

/* Open descriptors counted without /proc: every fd that fcntl accepts. */
static unsigned count_fds_fcntl(void)
{
	struct rlimit rl;
	unsigned n = 0;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	for (rlim_t fd = 0; fd < rl.rlim_cur && fd < 65536; fd++)
		if (fcntl((int)fd, F_GETFD) != -1)
			n++;
	return n;
}

/* Entries of /proc/PID/fd of another process (our listing fd is not among them). */
static unsigned count_fd_dir(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	unsigned n = 0;

	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (proc_parse_number_name(e->d_name) >= 0)
			n++;
	closedir(d);
	return n;
}

/* `ps -o rss=,vsz=,nlwp= -p PID`: KiB, KiB, threads. */
static void ps_figures(pid_t pid, long long *rss_kib, long long *vsz_kib, long long *nlwp)
{
	char cmd[96];
	FILE *p;

	snprintf(cmd, sizeof cmd, "ps -o rss=,vsz=,nlwp= -p %d", (int)pid);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%lld %lld %lld", rss_kib, vsz_kib, nlwp), 3);
	assert_int_equal(pclose(p), 0);
}

/* A command run in this process, as the agent would; a failure fails the test. */
static json_t *run_cmd(const char *name, const char *req_json)
{
	const struct command_entry *e = command_find(name);
	struct cmd_error err;
	json_t *result;

	assert_non_null(e);
	result = cmdrun(e, &err, req_json);
	if (result == NULL)
		fail_msg("%s failed: %s: %s", name, err.code, err.message);
	return result;
}

/* A command that must fail: its error, for the test to read. */
static struct cmd_error run_cmd_error(const char *name, const char *req_json)
{
	const struct command_entry *e = command_find(name);
	struct cmd_error err = {0};
	json_t *req = json_loads(req_json, 0, NULL);
	json_t *result = NULL;

	assert_non_null(e);
	assert_non_null(req);
	assert_int_equal(e->exec(req, &result, &err), -1);
	assert_null(result);
	assert_non_null(err.code);
	json_decref(req);
	return err;
}

/* A number at a dotted path ("process.rss_bytes"); a missing key fails the test by name. */
static double jnum(const json_t *o, const char *path)
{
	const json_t *v = o;
	char key[64];
	const char *p = path;

	while (*p != '\0') {
		size_t l = strcspn(p, ".");
		snprintf(key, sizeof key, "%.*s", (int)l, p);
		v = json_object_get(v, key);
		if (v == NULL)
			fail_msg("no key %s in the reply", path);
		p += l + (p[l] == '.');
	}
	if (!json_is_number(v))
		fail_msg("%s is not a number", path);
	return json_number_value(v);
}

/* A string in one of the reply's groups; anything else fails the test by name. */
static const char *jstr(const json_t *o, const char *group, const char *key)
{
	const json_t *v = json_object_get(json_object_get(o, group), key);

	if (!json_is_string(v))
		fail_msg("%s.%s is not a string", group, key);
	return json_string_value(v);
}

/* Burn ms of CPU on this thread. */
static void burn_ms(long ms)
{
	struct timespec a, b;
	volatile unsigned long x = 0;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	do {
		for (int i = 0; i < 100000; i++)
			x++;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

/* Linked with jemalloc (the _jemalloc build), jemalloc serves malloc -- unless a sanitizer's
 * malloc has taken its place. */
static int expect_jemalloc(void)
{
#ifdef TEST_WITH_JEMALLOC
	return dlsym(RTLD_DEFAULT, "__asan_init") == NULL;
#else
	return 0;
#endif
}

/* ---- in-process ------------------------------------------------------------------------ */

/* Runs first: nothing has loaded libproc2 yet, and a missing library is a clear error. */
static void test_libproc2_missing_then_loaded_on_demand(void **state)
{
	struct cmd_error err;

	(void)state;
	assert_false(proc_libproc2_loaded());
	assert_false(maps_mention(getpid(), "libproc2"));
	proc_set_libproc2_soname("libproc2-not-installed.so.0");
	err = run_cmd_error("system", "{}");
	assert_string_equal(err.code, ERR_UNSUPPORTED);
	assert_non_null(strstr(err.message, "libproc2-0"));
	err = run_cmd_error("threads", "{\"source\":\"libproc2\"}");
	assert_string_equal(err.code, ERR_UNSUPPORTED);
	/* the default thread source is our own /proc parser: no libproc2 needed */
	json_decref(run_cmd("threads", "{}"));
	assert_false(proc_libproc2_loaded());
	proc_set_libproc2_soname(LIBPROC2_SONAME);
	json_decref(run_cmd("system", "{}"));
	assert_true(proc_libproc2_loaded());
	assert_true(maps_mention(getpid(), "libproc2"));
}

/* Every group of `system` against what the process can find out by other means. */
static void test_system_in_process(void **state)
{
	json_t *r;
	char exe[4096], host[256];
	ssize_t n;
	struct rusage ru;
	struct rlimit rl;
	uint64_t total, avail;
	char meminfo[8192];
	unsigned fds;

	(void)state;
	burn_ms(150);
	fds = count_fds_fcntl();
	r = run_cmd("system", "{}");
	getrusage(RUSAGE_SELF, &ru);

	assert_int_equal((pid_t)jnum(r, "process.pid"), getpid());
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	assert_string_equal(jstr(r, "process", "exe"), exe);
	assert_non_null(strstr(jstr(r, "process", "cmdline"), "test_system"));
	assert_true(json_array_size(json_object_get(json_object_get(r, "process"), "argv")) >= 1);
	assert_int_equal((long long)jnum(r, "process.threads"), status_value(getpid(), "Threads"));
	assert_int_equal((unsigned)jnum(r, "process.fds"), fds);
	/* memory moves a little between two reads; rss within 1 MiB of status VmRSS */
	assert_true(fabs(jnum(r, "process.rss_bytes") - 1024.0 * status_value(getpid(), "VmRSS")) <
	            1048576.0);
	assert_true(fabs(jnum(r, "process.vsz_bytes") - 1024.0 * status_value(getpid(), "VmSize")) <
	            4 * 1048576.0);
	/* CPU: /proc's tick-granular figure against getrusage's exact one */
	assert_true(jnum(r, "process.cpu_user_s") + jnum(r, "process.cpu_sys_s") >= 0.1);
	assert_true(fabs(jnum(r, "process.cpu_user_s") + jnum(r, "process.cpu_sys_s") -
	                 ((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	                  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6)) < 0.05);
	assert_true(jnum(r, "process.uptime_s") > 0.1 && jnum(r, "process.uptime_s") < 600);
	/* no tick has run in this process: percentages are unknown, not zero */
	assert_true(json_is_null(json_object_get(json_object_get(r, "process"), "cpu_user_pct")));

	assert_int_equal(gethostname(host, sizeof host), 0);
	assert_string_equal(jstr(r, "host", "hostname"), host);
	assert_non_null(strstr(jstr(r, "host", "kernel"), "Linux"));
	assert_int_equal((long)jnum(r, "host.cpus"), sysconf(_SC_NPROCESSORS_ONLN));
	assert_true(proc_read_small(AT_FDCWD, "/proc/meminfo", meminfo, sizeof meminfo) > 0);
	assert_int_equal(proc_parse_meminfo(meminfo, &total, &avail), 0);
	assert_int_equal((uint64_t)jnum(r, "host.mem_total_bytes"), total);
	assert_true(fabs(jnum(r, "host.mem_available_bytes") - (double)avail) < 64 * 1048576.0);
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "host"), "loadavg")), 3);

	assert_string_equal(jstr(r, "agent", "version"), SONDE_VERSION);
	assert_true(jnum(r, "agent.agent_mem_bytes") > 0);
	assert_non_null(strstr(jstr(r, "agent", "agent_mem_source"), "mincore"));
	{
		/* the figure is the sum of the parts it lists */
		const json_t *parts = json_object_get(json_object_get(r, "agent"), "agent_mem");
		const char *key;
		const json_t *v;
		double sum = 0;

		assert_true(json_is_object(parts));
		json_object_foreach((json_t *)parts, key, v)
			if (json_is_integer(v))
				sum += (double)json_integer_value(v);
		assert_true(jnum(r, "agent.agent_mem.stack_resident_bytes") > 0);
		assert_true(sum == jnum(r, "agent.agent_mem_bytes"));
	}
	if (expect_jemalloc()) {
		/* this build links jemalloc: it must be found, and the agent's heap read from it */
		assert_non_null(jemalloc_get());
		assert_string_equal(jstr(r, "allocator", "name"), "jemalloc");
		assert_string_equal(jstr(r, "allocator", "version"), jemalloc_get()->version);
		assert_non_null(strstr(jstr(r, "agent", "agent_mem_source"), "thread.allocated"));
		assert_true(jnum(r, "agent.agent_mem.thread_heap_bytes") >= 0);
	} else {
		assert_null(jemalloc_get());
		assert_string_equal(jstr(r, "allocator", "name"), "glibc");
		assert_string_equal(jstr(r, "allocator", "version"), gnu_get_libc_version());
		assert_true(jnum(r, "agent.agent_mem.proc_tables_bytes") >= 0);
	}
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal((rlim_t)jnum(r, "limits.fds"), rl.rlim_cur);
	assert_true(jnum(r, "limits.threads") > 1);
	json_decref(r);
}

/* The tasks object carries the registry's totals: spawn two, account memory, tick, look. */
static void test_system_tasks(void **state)
{
	struct sonde_task_spec spec = {.name = "conn", .initial_call = __func__};
	sonde_task *a, *b;
	struct timespec ts;
	json_t *r, *before;

	(void)state;
	before = run_cmd("system", "{}");
	a = sonde_task_spawn(&spec);
	b = sonde_task_spawn(&spec);
	assert_non_null(a);
	assert_non_null(b);
	sonde_task_memory(a, 4096);
	sonde_task_work(b, 7);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	registry_tick((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	r = run_cmd("system", "{}");
	assert_int_equal(jnum(r, "tasks.live"), jnum(before, "tasks.live") + 2);
	assert_int_equal(jnum(r, "tasks.spawned"), jnum(before, "tasks.spawned") + 2);
	assert_true(jnum(r, "tasks.memory") >= 4096);
	assert_true(jnum(r, "tasks.reductions") >= 7);
	assert_true(jnum(r, "tasks.max") >= jnum(r, "tasks.live"));
	assert_true(json_is_true(json_object_get(json_object_get(r, "tasks"), "declared")));
	json_decref(r);
	json_decref(before);
	sonde_task_exit(a, NULL);
	sonde_task_exit(b, NULL);
}

/* The memory and thread figures against ps, read right after. */
static void test_system_vs_ps(void **state)
{
	long long rss, vsz, nlwp;
	json_t *r;

	(void)state;
	r = run_cmd("system", "{}");
	ps_figures(getpid(), &rss, &vsz, &nlwp);
	assert_int_equal((long long)jnum(r, "process.threads"), nlwp);
	assert_true(fabs(jnum(r, "process.rss_bytes") / 1024.0 - (double)rss) < 1024.0);
	assert_true(fabs(jnum(r, "process.vsz_bytes") / 1024.0 - (double)vsz) < 4096.0);
	json_decref(r);
}

/* The agent's clock, for ticks driven by the test. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* This thread's CPU, from the kernel's exact clock (the figure the main row must match). */
static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pthread_barrier_t burned;

/* Burn 200 ms of CPU, then wait (alive, idle) until the test has looked. */
static void *burn_then_wait(void *arg)
{
	pthread_setname_np(pthread_self(), (const char *)arg);
	burn_ms(200);
	pthread_barrier_wait(&burned);
	pthread_barrier_wait(&burned);
	return NULL;
}

/* The row whose key has that integer value, or NULL. */
static const json_t *find_row(const json_t *rows, const char *key, long long value)
{
	size_t i;
	const json_t *row;

	json_array_foreach(rows, i, row)
		if (json_integer_value(json_object_get(row, key)) == value)
			return row;
	return NULL;
}

/* A row's user+system CPU, seconds. */
static double row_cpu(const json_t *row)
{
	return jnum(row, "cpu_user_s") + jnum(row, "cpu_sys_s");
}

/* The main thread's row is its own (not the whole process's, libproc2's trap), per-thread CPU
 * adds up to the process's, names and CPU shares come through. Run once per thread source. */
static void test_threads_in_process(void **state)
{
	pthread_t t[2];
	json_t *r;
	const json_t *rows, *row;
	size_t i;
	int saw_a = 0, saw_b = 0;
	double sum = 0, process, main_cpu, exited_before, one_tick = 1.0 / (double)proc_hertz();

	/* CPU of threads that exited before (an earlier run of this test): the baseline */
	r = run_cmd("threads", *(const char **)*state);
	exited_before = jnum(r, "exited_cpu_s");
	json_decref(r);
	assert_int_equal(pthread_barrier_init(&burned, NULL, 3), 0);
	assert_int_equal(proc_probe.init(), 0);
	assert_int_equal(pthread_create(&t[0], NULL, burn_then_wait, "burner-a"), 0);
	assert_int_equal(pthread_create(&t[1], NULL, burn_then_wait, "burner-b"), 0);
	burn_ms(150);
	pthread_barrier_wait(&burned);
	proc_probe.tick(now_ns());
	assert_non_null(proc_latest());

	r = run_cmd("threads", *(const char **)*state);
	main_cpu = thread_cpu_s();
	rows = json_object_get(r, "rows");
	assert_int_equal(json_array_size(rows), 3);
	assert_int_equal((long long)jnum(r, "total"), 3);
	json_array_foreach(rows, i, row) {
		const char *name = json_string_value(json_object_get(row, "name"));
		double cpu = row_cpu(row);

		assert_non_null(name);
		assert_non_null(json_string_value(json_object_get(row, "state")));
		assert_true(json_is_integer(json_object_get(row, "processor")));
		assert_true(json_is_number(json_object_get(row, "cpu_pct")));
		assert_null(json_object_get(row, "agent")); /* no agent runs in this process */
		if (strcmp(name, "burner-a") == 0 || strcmp(name, "burner-b") == 0) {
			saw_a += name[7] == 'a';
			saw_b += name[7] == 'b';
			assert_true(fabs(cpu - 0.2) < 0.02 + 2 * one_tick);
			/* new since the baseline: 0.2 s over its age, at most the interval */
			assert_true(jnum(row, "cpu_pct") > 2.0);
		}
		if (i > 0)
			assert_true(jnum(json_array_get(rows, i - 1), "tid") < jnum(row, "tid"));
		sum += cpu;
	}
	assert_int_equal(saw_a, 1);
	assert_int_equal(saw_b, 1);
	row = find_row(rows, "tid", getpid());
	assert_non_null(row);
	assert_true(json_is_true(json_object_get(row, "main")));
	/* the main thread's own CPU, not the process's (~0.55 s) */
	assert_true(fabs(row_cpu(row) - main_cpu) < 0.02 + 2 * one_tick);
	process = jnum(r, "process_cpu_user_s") + jnum(r, "process_cpu_sys_s");
	assert_true(process > 0.5);
	/* the live rows account for every CPU second the process gained */
	assert_true(fabs(sum + exited_before - process) < 0.02 + 3 * one_tick);
	json_decref(r);

	pthread_barrier_wait(&burned);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	pthread_barrier_destroy(&burned);
	proc_probe.fini();
}

/* A thread born after the last tick gets its CPU since birth over its age, not null. */
static void test_threads_born_since_tick(void **state)
{
	pthread_t t;
	json_t *r;
	const json_t *row;
	size_t i;
	int seen = 0;

	(void)state;
	assert_int_equal(proc_probe.init(), 0);
	usleep(60000);
	proc_probe.tick(now_ns());
	assert_non_null(proc_latest());
	assert_int_equal(pthread_barrier_init(&burned, NULL, 2), 0);
	assert_int_equal(pthread_create(&t, NULL, burn_then_wait, "newborn"), 0);
	pthread_barrier_wait(&burned);
	r = run_cmd("threads", "{}");
	json_array_foreach(json_object_get(r, "rows"), i, row) {
		if (strcmp(json_string_value(json_object_get(row, "name")), "newborn") != 0)
			continue;
		seen++;
		/* 200 ms of CPU in a life of at least 200 ms: a real share, at most a core */
		assert_true(json_is_number(json_object_get(row, "cpu_pct")));
		assert_true(jnum(row, "cpu_pct") > 1.0 && jnum(row, "cpu_pct") < 115.0);
	}
	assert_int_equal(seen, 1);
	json_decref(r);
	pthread_barrier_wait(&burned);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&burned);
	proc_probe.fini();
}

static volatile int churn_stop;

/* A thread that lives a millisecond. */
static void *churn_short(void *arg)
{
	(void)arg;
	usleep(1000);
	return NULL;
}

/* Starts and joins bursts of 32 short-lived threads: more than the reply's first guess of
 * rows can hold, so its table must grow mid-scan. */
static void *churn_bursts(void *arg)
{
	unsigned long *made = arg;

	while (!churn_stop) {
		pthread_t t[32];
		int started = 0;

		for (int i = 0; i < 32; i++)
			if (pthread_create(&t[started], NULL, churn_short, NULL) == 0)
				started++;
		for (int i = 0; i < started; i++)
			pthread_join(t[i], NULL);
		*made += (unsigned long)started;
	}
	return NULL;
}

/* `threads` while threads are born and die under it, from both sources: every reply is a
 * sorted list without duplicates, and its total is its row count. */
static void test_threads_under_churn(void **state)
{
	pthread_t ch;
	unsigned long made = 0;

	(void)state;
	churn_stop = 0;
	assert_int_equal(pthread_create(&ch, NULL, churn_bursts, &made), 0);
	for (int k = 0; k < 40; k++) {
		json_t *r = run_cmd("threads", k % 2 ? "{\"source\":\"libproc2\"}" : "{}");
		const json_t *rows = json_object_get(r, "rows"), *row;
		size_t i;

		assert_int_equal((size_t)jnum(r, "total"), json_array_size(rows));
		json_array_foreach(rows, i, row) {
			assert_non_null(json_string_value(json_object_get(row, "name")));
			if (i > 0)
				assert_true(jnum(json_array_get(rows, i - 1), "tid") < jnum(row, "tid"));
		}
		assert_non_null(find_row(rows, "tid", getpid()));
		json_decref(r);
		usleep(2000);
	}
	churn_stop = 1;
	pthread_join(ch, NULL);
	assert_true(made > 32);
}

/* Thread names are bytes, not UTF-8: a bad one becomes '?'s instead of failing the reply. */
static void test_threads_odd_name(void **state)
{
	pthread_t t;
	json_t *r;
	const json_t *row;
	size_t i;
	int seen = 0;

	(void)state;
	assert_int_equal(pthread_barrier_init(&burned, NULL, 2), 0);
	assert_int_equal(pthread_create(&t, NULL, burn_then_wait, "bad\xff\xc0name"), 0);
	pthread_barrier_wait(&burned);
	for (int source = 0; source < 2; source++) {
		r = run_cmd("threads", source ? "{\"source\":\"libproc2\"}" : "{}");
		json_array_foreach(json_object_get(r, "rows"), i, row)
			seen += strcmp(json_string_value(json_object_get(row, "name")), "bad??name") == 0;
		json_decref(r);
	}
	assert_int_equal(seen, 2);
	pthread_barrier_wait(&burned);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&burned);
}

/* Both thread sources see the same threads with the same figures (a tick or two apart), and
 * libproc2's main-thread row is the thread's own, not the process's. */
static void test_threads_sources_agree(void **state)
{
	pthread_t t[2];
	json_t *a, *b;
	const json_t *ra, *rb;
	size_t i;
	double two_ticks = 2.0 / (double)proc_hertz();

	(void)state;
	assert_int_equal(pthread_barrier_init(&burned, NULL, 3), 0);
	assert_int_equal(pthread_create(&t[0], NULL, burn_then_wait, "src-a"), 0);
	assert_int_equal(pthread_create(&t[1], NULL, burn_then_wait, "src-b"), 0);
	pthread_barrier_wait(&burned);
	a = run_cmd("threads", "{\"source\":\"proc\"}");
	b = run_cmd("threads", "{\"source\":\"libproc2\"}");
	ra = json_object_get(a, "rows");
	rb = json_object_get(b, "rows");
	assert_int_equal(json_array_size(ra), 3);
	assert_int_equal(json_array_size(ra), json_array_size(rb));
	for (i = 0; i < json_array_size(ra); i++) {
		const json_t *x = json_array_get(ra, i), *y = json_array_get(rb, i);

		assert_int_equal(jnum(x, "tid"), jnum(y, "tid"));
		assert_string_equal(json_string_value(json_object_get(x, "name")),
		                    json_string_value(json_object_get(y, "name")));
		assert_true(fabs(row_cpu(x) - row_cpu(y)) <= two_ticks + 1e-9);
		assert_true(fabs(jnum(x, "start_s") - jnum(y, "start_s")) <= two_ticks + 1e-9);
		assert_int_equal(json_is_true(json_object_get(x, "main")),
		                 json_is_true(json_object_get(y, "main")));
	}
	assert_true(fabs(jnum(a, "process_cpu_user_s") + jnum(a, "process_cpu_sys_s") -
	                 jnum(b, "process_cpu_user_s") - jnum(b, "process_cpu_sys_s")) <=
	            two_ticks + 1e-9);
	assert_non_null(strstr(json_string_value(json_object_get(b, "source")), "libproc2"));
	json_decref(a);
	json_decref(b);
	pthread_barrier_wait(&burned);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	pthread_barrier_destroy(&burned);
}

/* Parked until released: a thread that only has to exist. */
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int park_release;

static void *parked(void *arg)
{
	char name[16];

	snprintf(name, sizeof name, "many-%03d", (int)(intptr_t)arg);
	pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&park_lock);
	while (!park_release)
		pthread_cond_wait(&park_cond, &park_lock);
	pthread_mutex_unlock(&park_lock);
	return NULL;
}

/* At 300 threads (the reply's first guess of rows and the directory listing both grow): every
 * thread is there exactly once, in tid order, with its own name, the same set libproc2 lists. */
#define MANY 300
static void test_threads_many(void **state)
{
	pthread_t t[MANY];
	json_t *a, *b;
	const json_t *ra, *rb, *row;
	int seen[MANY] = {0};
	size_t i;

	(void)state;
	park_release = 0;
	for (int k = 0; k < MANY; k++)
		assert_int_equal(pthread_create(&t[k], NULL, parked, (void *)(intptr_t)k), 0);
	usleep(50 * 1000); /* names set */
	a = run_cmd("threads", "{\"source\":\"proc\"}");
	b = run_cmd("threads", "{\"source\":\"libproc2\"}");
	ra = json_object_get(a, "rows");
	rb = json_object_get(b, "rows");
	assert_true(json_array_size(ra) >= MANY + 1);
	assert_int_equal((size_t)jnum(a, "total"), json_array_size(ra));
	json_array_foreach(ra, i, row) {
		const char *name = json_string_value(json_object_get(row, "name"));
		int k;

		if (i > 0)
			assert_true(jnum(json_array_get(ra, i - 1), "tid") < jnum(row, "tid"));
		if (sscanf(name, "many-%d", &k) == 1 && k >= 0 && k < MANY)
			seen[k]++;
	}
	for (int k = 0; k < MANY; k++)
		if (seen[k] != 1)
			fail_msg("thread many-%03d listed %d times", k, seen[k]);
	assert_non_null(find_row(ra, "tid", getpid()));
	/* the same threads from libproc2 */
	assert_int_equal(json_array_size(ra), json_array_size(rb));
	for (i = 0; i < json_array_size(ra); i++)
		assert_int_equal(jnum(json_array_get(ra, i), "tid"), jnum(json_array_get(rb, i), "tid"));
	json_decref(a);
	json_decref(b);
	pthread_mutex_lock(&park_lock);
	park_release = 1;
	pthread_cond_broadcast(&park_cond);
	pthread_mutex_unlock(&park_lock);
	for (int k = 0; k < MANY; k++)
		pthread_join(t[k], NULL);
}

/* A scan helper job that burns CPU, as a scan of millions of tasks would. */
static void helper_burn(void *arg)
{
	(void)arg;
	burn_ms(150);
}

/* The scan helper works for the agent: its row in `threads` is flagged agent and named
 * sonde-scan, `system` counts its CPU in agent_cpu_s, and agent stop joins it. */
static void test_scan_helper_counts_as_agent(void **state)
{
	json_t *thr, *sys;
	const json_t *row;
	pid_t tid;

	(void)state;
	assert_int_equal(scanhelper_start(helper_burn, NULL), 0);
	scanhelper_wait();
	tid = scanhelper_tid();
	assert_true(tid > 0);
	thr = run_cmd("threads", "{}");
	row = find_row(json_object_get(thr, "rows"), "tid", tid);
	assert_non_null(row);
	assert_true(json_is_true(json_object_get(row, "agent")));
	assert_string_equal(json_string_value(json_object_get(row, "name")), "sonde-scan");
	sys = run_cmd("system", "{}");
	if (jnum(json_object_get(sys, "agent"), "agent_cpu_s") < 0.14)
		fail_msg("agent_cpu_s %.3f s, but its scan helper alone burned 0.15 s",
		         jnum(json_object_get(sys, "agent"), "agent_cpu_s"));
	json_decref(thr);
	json_decref(sys);
	scanhelper_shutdown();
	assert_int_equal(scanhelper_tid(), 0);
}

/* 200 ms of CPU, then gone: its CPU stays in the process's total only. */
static void *burn_and_exit(void *arg)
{
	(void)arg;
	burn_ms(200);
	return NULL;
}

/* A thread that has exited leaves its CPU in the process's total: the reply says how much. */
static void test_threads_exited_cpu(void **state)
{
	pthread_t t;
	json_t *r;

	(void)state;
	r = run_cmd("threads", "{}");
	double before = jnum(r, "exited_cpu_s");
	json_decref(r);
	assert_int_equal(pthread_create(&t, NULL, burn_and_exit, NULL), 0);
	pthread_join(t, NULL);
	r = run_cmd("threads", "{}");
	assert_int_equal(json_array_size(json_object_get(r, "rows")), 1);
	assert_true(jnum(r, "exited_cpu_s") - before > 0.15);
	json_decref(r);
}

/* Sorting and paging happen in the agent; every wrong argument gets bad_argument. */
static void test_threads_sort_page_and_bad_arguments(void **state)
{
	pthread_t t[2];
	json_t *r;
	const json_t *rows;
	struct cmd_error err;
	static const char *const bad[] = {
		"{\"sort\":\"bogus\"}", "{\"sort\":3}", "{\"order\":\"up\"}", "{\"limit\":-1}",
		"{\"limit\":\"5\"}", "{\"offset\":-3}", "{\"colour\":\"red\"}", "{\"filter\":7}",
	};

	(void)state;
	assert_int_equal(pthread_barrier_init(&burned, NULL, 3), 0);
	assert_int_equal(pthread_create(&t[0], NULL, burn_then_wait, "zeta"), 0);
	assert_int_equal(pthread_create(&t[1], NULL, burn_then_wait, "alpha"), 0);
	pthread_barrier_wait(&burned);

	r = run_cmd("threads", "{}");
	rows = json_object_get(r, "rows");
	assert_int_equal(json_array_size(rows), 3);
	double most = 0;
	for (size_t i = 0; i < 3; i++)
		if (row_cpu(json_array_get(rows, i)) > most)
			most = row_cpu(json_array_get(rows, i));
	json_decref(r);
	r = run_cmd("threads", "{\"sort\":\"cpu\",\"limit\":1}");
	rows = json_object_get(r, "rows");
	assert_int_equal(json_array_size(rows), 1);
	assert_int_equal((long long)jnum(r, "total"), 3);
	/* descending by default for cpu: the first row is the busiest (a tick of drift allowed) */
	assert_true(row_cpu(json_array_get(rows, 0)) >= most - 1.0 / (double)proc_hertz());
	json_decref(r);

	r = run_cmd("threads", "{\"sort\":\"name\",\"offset\":1,\"limit\":5}");
	rows = json_object_get(r, "rows");
	assert_int_equal(json_array_size(rows), 2);
	assert_true(strcmp(json_string_value(json_object_get(json_array_get(rows, 0), "name")),
	                   json_string_value(json_object_get(json_array_get(rows, 1), "name"))) < 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 1), "name")),
	                    "zeta");
	json_decref(r);

	r = run_cmd("threads", "{\"filter\":\"et\"}"); /* zeta, not alpha nor the main thread */
	rows = json_object_get(r, "rows");
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "name")),
	                    "zeta");
	assert_int_equal((long long)jnum(r, "total"), 1);
	assert_int_equal((long long)jnum(r, "threads"), 3);
	json_decref(r);

	r = run_cmd("threads", "{\"offset\":10}");
	assert_int_equal(json_array_size(json_object_get(r, "rows")), 0);
	json_decref(r);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err = run_cmd_error("threads", bad[i]);
		assert_string_equal(err.code, ERR_BAD_ARGUMENT);
		assert_true(strlen(err.message) > 10);
	}
	err = run_cmd_error("system", "{\"verbose\":true}");
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);

	pthread_barrier_wait(&burned);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	pthread_barrier_destroy(&burned);
}

/* ---- over the socket of a real host ------------------------------------------------------ */

struct host {
	pid_t pid;
	int in_fd;           /* closing it ends the host */
	char path[256];
	char dir[64];
};

/* The host of the running test, for the group teardown to clean up after a failed one (the
 * host itself ends when our end of its stdin closes; its socket directory would stay). */
static struct host *host_current;

/* Start tests/host with an agent in a private socket directory; wait for its "ready" line. */
static void host_start(struct host *h, const char *threads, int busy)
{
	const char *top = getenv("top_builddir");
	char exe[1024], line[512];
	int in[2], out[2];
	FILE *f;
	long pid;

	snprintf(exe, sizeof exe, "%s/tests/host", top != NULL ? top : BUILDDIR);
	snprintf(h->dir, sizeof h->dir, "/tmp/sonde-test-system-XXXXXX");
	assert_non_null(mkdtemp(h->dir));
	h->pid = 0;
	h->in_fd = -1;
	host_current = h;
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	h->pid = fork();
	assert_true(h->pid >= 0);
	if (h->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		setenv("SONDE_DIR", h->dir, 1);
		execl(exe, exe, "--threads", threads, busy ? "--busy" : "--name", busy ? NULL : "idle",
		      (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	h->in_fd = in[1];
	f = fdopen(out[0], "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f));
	assert_int_equal(sscanf(line, "ready %ld %255s", &pid, h->path), 2);
	assert_int_equal(pid, h->pid);
	fclose(f);
}

/* Closing its stdin ends the host; it must exit 0 (its agent stopped cleanly). */
static void host_stop(struct host *h)
{
	int status;

	host_current = NULL;
	close(h->in_fd);
	assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rmdir(h->dir);
}

/* After the last test: a host left by a failed test is ended (by pid, the one we started) and
 * its directory removed. */
static int host_teardown(void **state)
{
	struct host *h = host_current;
	char path[600];

	(void)state;
	if (h == NULL)
		return 0;
	if (h->in_fd >= 0)
		close(h->in_fd);
	if (h->pid > 0) {
		kill(h->pid, SIGTERM);
		waitpid(h->pid, NULL, 0);
	}
	snprintf(path, sizeof path, "%s/%d.sock", h->dir, (int)h->pid);
	unlink(path);
	rmdir(h->dir);
	host_current = NULL;
	return 0;
}

/* One request over the socket; an error reply or a transport failure fails the test. */
static json_t *host_request(struct client *c, const char *cmd)
{
	json_t *result = NULL;
	char *code = NULL, *message = NULL;
	int rc = client_request(c, cmd, NULL, 10000, &result, &code, &message);

	if (rc != 0)
		fail_msg("%s over the socket: %s %s", cmd, code ? code : "", message ? message : "");
	return result;
}

/* Read a process's whole CPU from /proc/PID/stat, seconds. */
static double process_cpu_s(pid_t pid)
{
	char path[64], line[1024];
	struct proc_stat st;
	ssize_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	n = proc_read_small(AT_FDCWD, path, line, sizeof line);
	assert_true(n > 0);
	assert_int_equal(proc_parse_stat(line, (size_t)n, &st), 0);
	return (double)(st.utime + st.stime) / (double)proc_hertz();
}

/* A real host (tests/host: 3 busy threads) asked over its socket, then through the CLI. */
static void test_over_socket(void **state)
{
	static struct host h; /* outlives a failed test, for host_teardown */
	struct client *c;
	char *cause = NULL;
	json_t *sys, *thr;
	const json_t *rows, *row, *agent_row, *main_row;
	long long rss, vsz, nlwp;
	double sum = 0, pct_sum = 0, cpu_before, cpu_after, process;
	size_t i;
	pid_t agent_tid;

	(void)state;
	host_start(&h, "3", 1);
	/* the agent has started and ticked, but nobody asked: libproc2 is not mapped */
	usleep(1300 * 1000);
	assert_false(maps_mention(h.pid, "libproc2"));
	c = client_connect(h.path, 5000, &cause);
	if (c == NULL)
		fail_msg("connect %s: %s", h.path, cause);

	/* threads reads /proc itself; only system maps libproc2 */
	cpu_before = process_cpu_s(h.pid);
	thr = host_request(c, "threads");
	assert_false(maps_mention(h.pid, "libproc2"));
	sys = host_request(c, "system");
	cpu_after = process_cpu_s(h.pid);
	assert_true(maps_mention(h.pid, "libproc2"));
	ps_figures(h.pid, &rss, &vsz, &nlwp);

	/* system */
	assert_int_equal((pid_t)jnum(sys, "process.pid"), h.pid);
	assert_string_equal(jstr(sys, "process", "name"), "host");
	assert_int_equal((long long)jnum(sys, "process.threads"), 5); /* main + 3 + agent */
	assert_int_equal((long long)jnum(sys, "process.threads"), nlwp);
	assert_int_equal((long long)jnum(sys, "process.threads"), status_value(h.pid, "Threads"));
	/* the agent's tick holds two descriptors for a moment (the task directory and one stat) */
	assert_true(fabs(jnum(sys, "process.fds") - (double)count_fd_dir(h.pid)) <= 2);
	assert_true(fabs(jnum(sys, "process.rss_bytes") / 1024.0 - (double)rss) < 1024.0);
	assert_true(fabs(jnum(sys, "process.vsz_bytes") / 1024.0 - (double)vsz) < 4096.0);
	process = jnum(sys, "process.cpu_user_s") + jnum(sys, "process.cpu_sys_s");
	assert_true(process >= cpu_before - 0.011 && process <= cpu_after + 0.011);
	assert_true(jnum(sys, "process.cpu_user_pct") > 5.0); /* three busy threads */
	assert_true(jnum(sys, "agent.clients") >= 1);
	assert_int_equal((long long)jnum(sys, "agent.interval_ms"), 1000);
	assert_true(jnum(sys, "agent.agent_cpu_s") >= 0 && jnum(sys, "agent.agent_cpu_s") < process);
	/* the host runs glibc malloc: its sampler ring is counted in what the agent holds */
	assert_true(jnum(sys, "agent.agent_mem.sampler_ring_bytes") > 0);
	assert_true(jnum(sys, "agent.agent_mem_bytes") >
	            jnum(sys, "agent.agent_mem.sampler_ring_bytes"));
	agent_tid = (pid_t)jnum(sys, "agent.agent_tid");
	assert_true(agent_tid > 0 && agent_tid != h.pid);

	/* threads */
	rows = json_object_get(thr, "rows");
	assert_int_equal(json_array_size(rows), 5);
	main_row = find_row(rows, "tid", h.pid);
	agent_row = find_row(rows, "tid", agent_tid);
	assert_non_null(main_row);
	assert_non_null(agent_row);
	assert_true(json_is_true(json_object_get(main_row, "main")));
	assert_null(json_object_get(main_row, "agent"));
	assert_true(json_is_true(json_object_get(agent_row, "agent")));
	assert_null(json_object_get(agent_row, "main"));
	json_array_foreach(rows, i, row) {
		sum += row_cpu(row);
		pct_sum += jnum(row, "cpu_pct");
	}
	process = jnum(thr, "process_cpu_user_s") + jnum(thr, "process_cpu_sys_s");
	/* three threads burn CPU while five stat files are read (the agent may be preempted on a
	 * loaded machine meanwhile): a little drift; the main-thread trap would add the whole
	 * process again */
	assert_true(process > 0.2);
	assert_true(fabs(sum - process) < 0.1 + 5.0 / (double)proc_hertz());
	/* the main thread of the host sleeps in poll(): its own row is far below the process */
	assert_true(row_cpu(main_row) < 0.25 * process);
	/* shares from the same tick add up to the process's share over that interval */
	assert_true(fabs(pct_sum - (jnum(sys, "process.cpu_user_pct") +
	                            jnum(sys, "process.cpu_sys_pct"))) < 15.0);

	json_decref(sys);
	json_decref(thr);
	client_close(c);

	/* the same through the command line, as an operator runs it: sonde query -p PID --json */
	{
		const char *top = getenv("top_builddir");
		char cmd[2048];
		FILE *p;
		json_t *cli;
		json_error_t jerr;

		snprintf(cmd, sizeof cmd, "SONDE_DIR='%s' '%s/tui/sonde' query -p %d --json system",
		         h.dir, top != NULL ? top : BUILDDIR, (int)h.pid);
		p = popen(cmd, "r");
		assert_non_null(p);
		cli = json_loadf(p, 0, &jerr);
		assert_int_equal(pclose(p), 0);
		if (cli == NULL)
			fail_msg("sonde query --json system: not JSON: %s", jerr.text);
		assert_int_equal((pid_t)jnum(cli, "process.pid"), h.pid);
		assert_int_equal((long long)jnum(cli, "process.threads"), 5);
		assert_true(jnum(cli, "process.rss_bytes") > 0);
		assert_true(jnum(cli, "host.mem_total_bytes") > 0);
		assert_true(jnum(cli, "agent.interval_ms") == 1000);
		assert_non_null(jstr(cli, "allocator", "name"));
		json_decref(cli);
	}
	host_stop(&h);
}

static const char *threads_proc = "{\"source\":\"proc\"}";
static const char *threads_libproc2 = "{\"source\":\"libproc2\"}";

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libproc2_missing_then_loaded_on_demand),
		cmocka_unit_test(test_system_in_process),
		cmocka_unit_test(test_system_tasks),
		cmocka_unit_test(test_system_vs_ps),
		{"test_threads_in_process(source=proc)", test_threads_in_process, NULL, NULL,
		 (void *)&threads_proc},
		{"test_threads_in_process(source=libproc2)", test_threads_in_process, NULL, NULL,
		 (void *)&threads_libproc2},
		cmocka_unit_test(test_threads_sources_agree),
		cmocka_unit_test(test_threads_many),
		cmocka_unit_test(test_scan_helper_counts_as_agent),
		cmocka_unit_test(test_threads_odd_name),
		cmocka_unit_test(test_threads_born_since_tick),
		cmocka_unit_test(test_threads_under_churn),
		cmocka_unit_test(test_threads_exited_cpu),
		cmocka_unit_test(test_threads_sort_page_and_bad_arguments),
		cmocka_unit_test(test_over_socket),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, host_teardown);
}
