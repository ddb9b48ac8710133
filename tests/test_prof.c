/*
 * test_prof.c - the `prof` command: heap profiling with jemalloc, heap_v2 parsing, symbols, diffs.
 *
 * Linked with jemalloc and -rdynamic (so dladdr can name this program's functions). It re-executes
 * itself with MALLOC_CONF=prof:true,prof_active:false when that is not already set, and runs one
 * child without it to check what `prof status` tells an operator then.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent.h"
#include "cmdrun.h"
#include "command.h"
#include "jemalloc.h"
#include "prof.h"

extern const struct command_entry cmd_prof_entry;

/* Objects kept alive by the "leak" below, freed at the end. */
#define LEAK_SIZE 4096
#define LEAK_MAX 20000
/* Objects leaked per step: 24 MB, enough that a short unsampled stretch at the start of a run
 * (seen now and then: a third of 8 MB missing) cannot move the estimate past the tolerance. */
#define LEAK_N 6000
static void *leaked[LEAK_MAX];
static int nleaked;

/* The allocation site the profile must name (exported: -rdynamic). */
__attribute__((noinline)) void prof_test_leaky_function(int n);
__attribute__((noinline)) void prof_test_leaky_function(int n)
{
	for (int i = 0; i < n && nleaked < LEAK_MAX; i++) {
		leaked[nleaked] = malloc(LEAK_SIZE);
		memset(leaked[nleaked], 1, 16);
		nleaked++;
	}
}

/* A static function: not in the dynamic symbol table, found through the file's .symtab. */
static __attribute__((noinline)) void *prof_test_static_alloc(size_t n)
{
	void *p = malloc(n);

	if (p != NULL)
		memset(p, 2, n < 16 ? n : 16);
	return p;
}

static json_t *run_prof(struct cmd_error *err, const char *fmt, ...)
{
	va_list ap;
	json_t *result;

	va_start(ap, fmt);
	result = cmdrun_v(&cmd_prof_entry, err, fmt, ap);
	va_end(ap);
	return result;
}

static int prof_ready(void)
{
	bool opt = false;
	size_t len = sizeof opt;

	return jemalloc_get() != NULL &&
	       jemalloc_get()->mallctl("opt.prof", &opt, &len, NULL, 0) == 0 && opt;
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* ---- parsing and symbols (no profiling needed) ------------------------------------------- */

static void test_parse_heap_v2(void **state)
{
	static const char dump[] =
		"heap_v2/524288\n"
		"  t*: 28: 700000 [0: 0]\n"
		"  t0: 28: 700000 [0: 0]\n"
		"@ 0x10 0x20 0x30\n"
		"  t*: 16: 65536 [0: 0]\n"
		"  t0: 16: 65536 [0: 0]\n"
		"@ 0x11 0x21\n"
		"  t*: 12: 634464 [0: 0]\n"
		"  t3: 12: 634464 [0: 0]\n"
		"\n"
		"MAPPED_LIBRARIES:\n"
		"55d0-55d1 r--p 00000000 fe:00 1 /x\n";
	struct prof_dump d;
	const char *cause = NULL;
	double eo, eb;

	(void)state;
	assert_int_equal(prof_parse(dump, strlen(dump), &d, &cause), 0);
	assert_int_equal(d.sample_period, 524288);
	assert_int_equal(d.total_objs, 28);
	assert_int_equal(d.total_bytes, 700000);
	assert_int_equal(d.nsites, 2);
	assert_int_equal(d.sites[0].nframes, 3);
	assert_int_equal(d.frames[d.sites[0].first + 2], 0x30);
	assert_int_equal(d.sites[0].objs, 16);
	assert_int_equal(d.sites[0].bytes, 65536);
	assert_int_equal(d.sites[1].nframes, 2);
	assert_int_equal(d.frames[d.sites[1].first], 0x11);
	assert_int_equal(d.sites[1].objs, 12);
	/* jeprof's scaling: 4096-byte objects sampled every 512 KiB -> x 128.5 */
	prof_unsample(16, 65536, 524288, &eo, &eb);
	assert_true(fabs(eo - 16.0 / (1.0 - exp(-4096.0 / 524288.0))) < 1e-6);
	assert_true(fabs(eb / eo - 4096.0) < 1e-6);
	assert_true(fabs(d.sites[0].est_bytes - eb) < 1e-6);
	/* Objects much larger than the period are (almost) always sampled: no scaling. */
	prof_unsample(1, 100u << 20, 524288, &eo, &eb);
	assert_true(fabs(eo - 1.0) < 1e-6);
	prof_dump_free(&d);

	assert_int_equal(prof_parse("heap_v1/5\n", 10, &d, &cause), -1);
	assert_non_null(strstr(cause, "heap_v2"));
	assert_int_equal(prof_parse("heap_v2/512\n@ 0x1 zz\n", 21, &d, &cause), -1);
	assert_int_equal(prof_parse("heap_v2/512\n@ 0x1\n  t*: x: y\n", 29, &d, &cause), -1);
	assert_non_null(strstr(cause, "count"));
}

static void test_symbolise(void **state)
{
	char buf[512];
	uintptr_t a = (uintptr_t)prof_test_leaky_function + 8;

	(void)state;
	prof_symbolise(a, buf, sizeof buf);
	assert_non_null(strstr(buf, "prof_test_leaky_function+0x8"));
	assert_non_null(strstr(buf, "test_prof"));
	a = (uintptr_t)prof_test_static_alloc + 4;
	prof_symbolise(a, buf, sizeof buf);
	if (strstr(buf, "prof_test_static_alloc+0x4 (") == NULL)
		fail_msg("a static function symbolised as %s", buf);
	free(prof_test_static_alloc(1));
	prof_symbolise(0x10, buf, sizeof buf);
	assert_string_equal(buf, "0x10");
}

/* ---- profiling ---------------------------------------------------------------------------- */

static void test_start_dump_top_diff_stop(void **state)
{
	struct cmd_error err;
	json_t *r, *row;
	struct stat st;
	char dir[4096];
	double est;

	(void)state;
	if (!prof_ready())
		skip();
	r = run_prof(&err, "{\"cmd\":\"prof\"}");
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "compiled")));
	assert_true(json_is_true(json_object_get(r, "opt_prof")));
	assert_false(json_is_true(json_object_get(r, "active")));
	assert_string_equal(jstr(r, "owner"), "none");
	json_decref(r);

	/* Start with a 16 KiB sample period so a few MB give many samples. */
	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"start\",\"lg_sample\":14}");
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "active")));
	assert_string_equal(jstr(r, "owner"), "sonde");
	assert_int_equal(json_integer_value(json_object_get(r, "sample_period_bytes")), 16384);
	json_decref(r);
	assert_null(run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"start\"}"));
	assert_string_equal(err.code, ERR_BUSY);
	assert_non_null(strstr(err.message, "started by sonde"));

	/* This thread's next sample point was drawn at the old rate (512 KiB on average, often
	 * several MB away): allocate and free past it first, or the leak's first megabytes go
	 * unsampled and the estimate comes out a quarter low now and then. */
	for (int i = 0; i < 8192; i++)
		free(malloc(LEAK_SIZE));
	prof_test_leaky_function(LEAK_N);    /* 24 MB */
	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"dump\"}");
	assert_non_null(r);
	assert_int_equal(stat(jstr(r, "path"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(dir, sizeof dir, "%s", jstr(r, "path"));
	*strrchr(dir, '/') = '\0';
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0077, 0);
	json_decref(r);

	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"top\",\"limit\":5}");
	assert_non_null(r);
	row = json_array_get(json_object_get(r, "by_bytes"), 0);
	assert_non_null(row);
	if (strcmp(jstr(row, "function"), "prof_test_leaky_function") != 0)
		fail_msg("top site is %s, expected prof_test_leaky_function", jstr(row, "function"));
	assert_non_null(strstr(json_string_value(json_array_get(json_object_get(row, "stack"), 0)),
	                       "prof_test_leaky_function+0x"));
	assert_true(json_array_size(json_object_get(row, "stack")) >= 2);   /* and its callers */
	/* The estimate is checked per function: now and then jemalloc reaches the sample through
	 * another internal path, and the same call site then shows as two stacks. */
	est = (double)json_integer_value(
		json_object_get(json_array_get(json_object_get(r, "functions"), 0), "bytes"));
	if (fabs(est - (double)LEAK_N * LEAK_SIZE) > 0.25 * LEAK_N * LEAK_SIZE)
		fail_msg("estimated %.0f bytes in the leaky function (%lld sites), expected %d "
		         "+- 25%%", est, LEAK_N * LEAK_SIZE, (long long)json_integer_value(json_object_get(
		                             json_array_get(json_object_get(r, "functions"), 0), "sites")));
	assert_string_equal(jstr(json_array_get(json_object_get(r, "functions"), 0), "function"),
	                    "prof_test_leaky_function");
	assert_string_equal(
		jstr(json_array_get(json_object_get(r, "by_objects"), 0), "function"),
		"prof_test_leaky_function");
	assert_true(json_array_size(json_object_get(r, "by_bytes")) <= 5);
	json_decref(r);

	/* The leak goes on; a second dump; the diff shows the site growing by ~8 MB. */
	prof_test_leaky_function(LEAK_N);
	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"dump\"}");
	assert_non_null(r);
	json_decref(r);
	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"diff\"}");
	assert_non_null(r);
	row = json_array_get(json_object_get(r, "grew"), 0);
	assert_non_null(row);
	assert_string_equal(jstr(row, "function"), "prof_test_leaky_function");
	est = (double)json_integer_value(json_object_get(row, "delta_bytes"));
	if (fabs(est - (double)LEAK_N * LEAK_SIZE) > 0.3 * LEAK_N * LEAK_SIZE)
		fail_msg("diff says the leaky site grew %.0f bytes, expected %d +- 30%%", est,
		         LEAK_N * LEAK_SIZE);
	assert_int_equal(json_integer_value(json_object_get(r, "to")),
	                 json_integer_value(json_object_get(r, "from")) + 1);
	json_decref(r);

	/* Free half: a third dump; the site shrank. */
	for (int i = 0; i < nleaked; i += 2) {
		free(leaked[i]);
		leaked[i] = NULL;
	}
	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"dump\"}");
	json_decref(r);
	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"diff\"}");
	assert_non_null(r);
	row = json_array_get(json_object_get(r, "shrank"), 0);
	assert_non_null(row);
	assert_string_equal(jstr(row, "function"), "prof_test_leaky_function");
	/* Each of the two leaking calls above is its own stack and lost about half its 8 MB. */
	est = (double)json_integer_value(json_object_get(row, "delta_bytes"));
	if (est > -0.6 * 1000.0 * LEAK_SIZE)
		fail_msg("diff says the leaky site shrank %.0f bytes, expected about -4096000", est);
	json_decref(r);

	assert_null(run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"top\",\"dump\":999}"));
	assert_string_equal(err.code, ERR_NOT_FOUND);

	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"stop\"}");
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "active")));
	json_decref(r);
	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"stop\"}");   /* idempotent */
	assert_non_null(r);
	json_decref(r);
}

static void test_timed_run_stops_by_itself(void **state)
{
	struct cmd_error err;
	json_t *r;
	bool active = true;
	size_t len = sizeof active;

	(void)state;
	if (!prof_ready())
		skip();
	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"start\",\"seconds\":1}");
	assert_non_null(r);
	assert_true(json_real_value(json_object_get(r, "stops_in_s")) > 0.5);
	json_decref(r);
	prof_probe.tick(agent_now_ns() + 500000000ull);    /* half a second: still on */
	jemalloc_get()->mallctl("prof.active", &active, &len, NULL, 0);
	assert_true(active);
	prof_probe.tick(agent_now_ns() + 1500000000ull);   /* past the second: off */
	jemalloc_get()->mallctl("prof.active", &active, &len, NULL, 0);
	assert_false(active);
	r = run_prof(&err, "{\"cmd\":\"prof\"}");
	assert_string_equal(jstr(r, "owner"), "none");
	assert_non_null(strstr(jstr(r, "last_stop"), "by itself"));
	json_decref(r);
}

/* A run started outside sonde is reported, not stopped, not restarted. */
static void test_outside_run_is_respected(void **state)
{
	struct cmd_error err;
	json_t *r;
	bool on = true, active = false;
	size_t len = sizeof active;

	(void)state;
	if (!prof_ready())
		skip();
	assert_int_equal(jemalloc_get()->mallctl("prof.active", NULL, NULL, &on, sizeof on), 0);
	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"status\"}");
	assert_string_equal(jstr(r, "owner"), "outside");
	assert_non_null(strstr(jstr(r, "message"), "outside sonde"));
	json_decref(r);
	assert_null(run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"start\"}"));
	assert_string_equal(err.code, ERR_BUSY);
	assert_non_null(strstr(err.message, "outside sonde"));
	assert_null(run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"stop\"}"));
	assert_string_equal(err.code, ERR_BUSY);
	jemalloc_get()->mallctl("prof.active", &active, &len, NULL, 0);
	assert_true(active);   /* still running */
	/* dump and top still work on it */
	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"dump\"}");
	assert_non_null(r);
	json_decref(r);
	on = false;
	jemalloc_get()->mallctl("prof.active", NULL, NULL, &on, sizeof on);
}

static void test_bad_arguments(void **state)
{
	struct cmd_error err;

	(void)state;
	assert_null(run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"explode\"}"));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	assert_null(run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"start\",\"seconds\":-1}"));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	assert_null(run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"top\",\"limit\":\"all\"}"));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	assert_null(run_prof(&err, "{\"cmd\":\"prof\",\"actions\":\"top\"}"));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
}

/* Without MALLOC_CONF's prof:true, status and start say exactly what to set. */
static void test_status_without_malloc_conf(void **state)
{
	char out[8192];
	size_t n = 0;
	int pipefd[2], status;
	pid_t pid;
	json_t *st, *start_err;

	(void)state;
	if (jemalloc_get() == NULL)
		skip();
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		unsetenv("MALLOC_CONF");
		execl("/proc/self/exe", "test_prof", "--status-child", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	for (ssize_t got; (got = read(pipefd[0], out + n, sizeof out - 1 - n)) > 0;)
		n += (size_t)got;
	close(pipefd[0]);
	out[n] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	{
		char *nl = strchr(out, '\n');

		assert_non_null(nl);
		*nl = '\0';
		st = json_loads(out, 0, NULL);
		start_err = json_loads(nl + 1, 0, NULL);
	}
	assert_non_null(st);
	assert_non_null(start_err);
	assert_false(json_is_true(json_object_get(st, "opt_prof")));
	assert_non_null(strstr(jstr(st, "message"), "MALLOC_CONF=prof:true,prof_active:false"));
	assert_string_equal(jstr(start_err, "code"), ERR_UNSUPPORTED);
	assert_non_null(strstr(jstr(start_err, "message"), "MALLOC_CONF=prof:true,prof_active:false"));
	json_decref(st);
	json_decref(start_err);
}

/* The child of test_status_without_malloc_conf: status, then start's error, one JSON line each. */
static int status_child(void)
{
	struct cmd_error err;
	json_t *r = run_prof(&err, "{\"cmd\":\"prof\"}");
	char *s = json_dumps(r, JSON_COMPACT);

	printf("%s\n", s);
	free(s);
	json_decref(r);
	if (run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"start\"}") != NULL)
		return 1;
	r = json_pack("{s:s,s:s}", "code", err.code, "message", err.message);
	s = json_dumps(r, JSON_COMPACT);
	printf("%s\n", s);
	free(s);
	json_decref(r);
	return 0;
}

/* Whatever a failed case left running is switched off, so the next case starts clean. */
static int stop_any_run(void **state)
{
	struct cmd_error err;
	json_t *r;
	bool off = false;

	(void)state;
	if (!prof_ready())
		return 0;
	r = run_prof(&err, "{\"cmd\":\"prof\",\"action\":\"stop\"}");
	json_decref(r);
	jemalloc_get()->mallctl("prof.active", NULL, NULL, &off, sizeof off);
	prof_probe.tick(agent_now_ns());
	return 0;
}

/* Remove the dumps this test made, and their private directory. */
static int cleanup_dumps(void **state)
{
	struct cmd_error err;
	json_t *r = run_prof(&err, "{\"cmd\":\"prof\"}");
	json_t *dumps = json_object_get(r, "dumps");
	char dir[4096] = "";

	(void)state;
	for (size_t i = 0; i < json_array_size(dumps); i++) {
		const char *p = jstr(json_array_get(dumps, i), "path");

		unlink(p);
		snprintf(dir, sizeof dir, "%s", p);
	}
	if (strrchr(dir, '/') != NULL && strstr(dir, "/sonde-prof-") != NULL) {
		*strrchr(dir, '/') = '\0';
		rmdir(dir);
	}
	json_decref(r);
	for (int i = 0; i < nleaked; i++)
		free(leaked[i]);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_heap_v2),
		cmocka_unit_test(test_symbolise),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test_teardown(test_start_dump_top_diff_stop, stop_any_run),
		cmocka_unit_test_teardown(test_timed_run_stops_by_itself, stop_any_run),
		cmocka_unit_test_teardown(test_outside_run_is_respected, stop_any_run),
		cmocka_unit_test(test_status_without_malloc_conf),
	};
	const char *conf = getenv("MALLOC_CONF");

	if (argc > 1 && strcmp(argv[1], "--status-child") == 0)
		return status_child();
	if (conf == NULL || strstr(conf, "prof:true") == NULL) {
		setenv("MALLOC_CONF", "prof:true,prof_active:false", 1);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "test_prof: cannot re-execute with MALLOC_CONF set: %s\n",
		        strerror(errno));
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, cleanup_dumps);
}
