/*
 * test_sampler.c - the history ring (probes/sampler.c) and the `history` command: wraparound,
 * cursor semantics (since, gap marker after a wrap, limit, last), gaps for missed ticks, and the
 * reply as it travels on the wire (NaN as null, chosen series only).
 */
#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "agent.h"
#include "cmdrun.h"
#include "command.h"
#include "proc.h"
#include "proto.h"
#include "registry.h"
#include "sampler.h"
#include "sonde.h"

extern const struct command_entry cmd_history_entry;

#define BASE ((uint64_t)7 << 21)   /* a fixed incarnation base, so seqs are predictable */
#define SEC 1000000000ull
#define T0_WALL 1.7e9

/* A regular sample at tick k of a 1 s interval, with recognisable values. */
static struct sampler_sample test_sample(uint64_t k)
{
	struct sampler_sample s;

	memset(&s, 0, sizeof s);
	s.mono_ns = 1000 * SEC + k * SEC;
	s.wall_s = T0_WALL + (double)k;
	s.interval_ms = 1000;
	for (int i = 0; i < SS_COUNT; i++)
		s.v[i] = (double)(k * 100 + (uint64_t)i);
	s.nthreads = 2;
	s.threads[0].tid = 100;
	s.threads[0].cpu_pct = 50.0f;
	strcpy(s.threads[0].name, "worker");
	s.threads[1].tid = 101;
	s.threads[1].cpu_pct = 1.0f;
	strcpy(s.threads[1].name, "sonde");
	return s;
}

static void record_ticks(uint64_t from, uint64_t to)
{
	for (uint64_t k = from; k < to; k++) {
		struct sampler_sample s = test_sample(k);
		assert_non_null(sampler_record(&s));
	}
}

/* Run `history` with the given request (JSON text); returns the result or NULL with err set. */
static json_t *history(const char *request, struct cmd_error *err)
{
	return cmdrun(&cmd_history_entry, err, request);
}

static json_int_t int_at(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static json_int_t sample_seq(const json_t *r, size_t i)
{
	return int_at(json_array_get(json_object_get(r, "samples"), i), "seq");
}

static size_t sample_count(const json_t *r)
{
	return json_array_size(json_object_get(r, "samples"));
}

static int setup_ring5(void **state)
{
	(void)state;
	return sampler_ring_init(5, BASE);
}

static int teardown_ring(void **state)
{
	(void)state;
	sampler_ring_fini();
	return 0;
}

static void test_capacity_for(void **state)
{
	(void)state;
	assert_int_equal(sampler_capacity_for(600, 1000), 600);
	assert_int_equal(sampler_capacity_for(600, 100), 6000);
	assert_int_equal(sampler_capacity_for(600, 7000), 86);       /* rounded up */
	assert_int_equal(sampler_capacity_for(1, 10000), SAMPLER_MIN_CAPACITY);
	assert_int_equal(sampler_capacity_for(100000, 100), SAMPLER_MAX_CAPACITY);
}

static void test_empty_ring(void **state)
{
	struct cmd_error err;
	json_t *r;

	(void)state;
	assert_true(sampler_ready());
	assert_int_equal(sampler_count(), 0);
	assert_int_equal(sampler_newest_seq(), BASE);
	assert_null(sampler_get(BASE));
	r = history("{}", &err);
	assert_non_null(r);
	assert_int_equal(sample_count(r), 0);
	assert_int_equal(int_at(r, "next"), (json_int_t)BASE);   /* a valid cursor for next time */
	json_decref(r);
	r = history("{\"since\": 458752}", &err);                /* 7 << 16: below the base */
	assert_null(r);
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	assert_non_null(strstr(err.message, "another agent incarnation"));
}

static void test_wraparound(void **state)
{
	(void)state;
	record_ticks(0, 12);
	assert_int_equal(sampler_capacity(), 5);
	assert_int_equal(sampler_count(), 5);
	assert_int_equal(sampler_samples_total(), 12);
	assert_int_equal(sampler_oldest_seq(), BASE + 8);
	assert_int_equal(sampler_newest_seq(), BASE + 12);
	assert_null(sampler_get(BASE + 7));   /* overwritten */
	assert_null(sampler_get(BASE + 13));  /* not yet */
	for (uint64_t seq = BASE + 8; seq <= BASE + 12; seq++) {
		const struct sampler_sample *s = sampler_get(seq);
		uint64_t k = seq - BASE - 1;
		assert_non_null(s);
		assert_int_equal(s->seq, seq);
		assert_int_equal(s->mono_ns, 1000 * SEC + k * SEC);
		assert_true(s->v[SS_RSS_BYTES] == (double)(k * 100 + SS_RSS_BYTES));
		assert_int_equal(s->gap, SAMPLER_GAP_NONE);
		assert_true(fabs(s->elapsed_s - 1.0) < 1e-9);
	}
	assert_int_equal(sampler_memory_bytes(), 5 * sizeof(struct sampler_sample));
}

static void test_gap_late(void **state)
{
	struct sampler_sample s;
	const struct sampler_sample *g;

	(void)state;
	record_ticks(0, 3);
	s = test_sample(6);                 /* ticks 3, 4, 5 never happened */
	g = sampler_record(&s);
	assert_non_null(g);
	assert_int_equal(g->gap, SAMPLER_GAP_LATE);
	assert_int_equal(g->missed, 3);
	assert_true(fabs(g->elapsed_s - 4.0) < 1e-9);
	/* rates and shares across the gap are unknown, levels are kept */
	assert_true(isnan(g->v[SS_CPU_PCT]));
	assert_true(isnan(g->v[SS_SPAWN_PER_S]));
	assert_true(isnan(g->v[SS_REDUCTIONS_PER_S]));
	assert_true(isnan(g->v[SS_CTX_SWITCHES_PER_S]));
	assert_true(isnan(g->threads[0].cpu_pct));
	assert_true(g->v[SS_RSS_BYTES] == 600 + SS_RSS_BYTES);
	assert_true(g->v[SS_TASKS] == 600 + SS_TASKS);
	/* the next regular tick is no gap */
	s = test_sample(7);
	g = sampler_record(&s);
	assert_int_equal(g->gap, SAMPLER_GAP_NONE);
	assert_false(isnan(g->v[SS_CPU_PCT]));
}

static void test_gap_jitter_is_not_a_gap(void **state)
{
	struct sampler_sample s;

	(void)state;
	record_ticks(0, 1);
	s = test_sample(1);
	s.mono_ns += 400 * 1000000ull;      /* 1.4 intervals: late, but no tick was missed */
	s.wall_s += 0.4;
	assert_int_equal(sampler_record(&s)->gap, SAMPLER_GAP_NONE);
}

static void test_gap_interval_changed_and_clock_jump(void **state)
{
	struct sampler_sample s;
	const struct sampler_sample *g;

	(void)state;
	record_ticks(0, 2);
	s = test_sample(2);
	s.interval_ms = 100;
	g = sampler_record(&s);
	assert_int_equal(g->gap, SAMPLER_GAP_INTERVAL_CHANGED);
	assert_true(isnan(g->v[SS_CPU_USER_PCT]));

	record_ticks(10, 11);               /* back at 1000 ms, 8 s later: a gap again */
	s = test_sample(11);
	s.wall_s += 3600;                   /* the wall clock stepped an hour ahead */
	g = sampler_record(&s);
	assert_int_equal(g->gap, SAMPLER_GAP_CLOCK_JUMP);
	assert_int_equal(g->missed, 0);
	assert_true(isnan(g->v[SS_EXIT_PER_S]));
}

static void test_history_cursor(void **state)
{
	struct cmd_error err;
	char req[128];
	json_t *r;
	json_int_t next;

	(void)state;
	record_ticks(0, 3);
	r = history("{}", &err);
	assert_non_null(r);
	assert_int_equal(sample_count(r), 3);
	assert_int_equal(sample_seq(r, 0), (json_int_t)BASE + 1);
	assert_int_equal(int_at(r, "oldest"), (json_int_t)BASE + 1);
	assert_int_equal(int_at(r, "newest"), (json_int_t)BASE + 3);
	next = int_at(r, "next");
	assert_int_equal(next, (json_int_t)BASE + 3);
	assert_true(json_is_false(json_object_get(r, "more")));
	assert_null(json_object_get(r, "gap"));
	json_decref(r);

	/* since = the last seen: nothing new yet, and next stays */
	snprintf(req, sizeof req, "{\"since\": %lld}", (long long)next);
	r = history(req, &err);
	assert_non_null(r);
	assert_int_equal(sample_count(r), 0);
	assert_int_equal(int_at(r, "next"), next);
	json_decref(r);

	/* two more ticks: only those two */
	record_ticks(3, 5);
	r = history(req, &err);
	assert_int_equal(sample_count(r), 2);
	assert_int_equal(sample_seq(r, 0), (json_int_t)BASE + 4);
	assert_int_equal(sample_seq(r, 1), (json_int_t)BASE + 5);
	assert_int_equal(int_at(r, "next"), (json_int_t)BASE + 5);
	assert_null(json_object_get(r, "gap"));
	json_decref(r);

	/* a cursor from the future */
	snprintf(req, sizeof req, "{\"since\": %lld}", (long long)BASE + 6);
	assert_null(history(req, &err));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	assert_non_null(strstr(err.message, "newer than the newest"));
}

static void test_history_gap_after_wrap(void **state)
{
	struct cmd_error err;
	char req[128];
	json_t *r, *gap;

	(void)state;
	record_ticks(0, 3);                 /* the client saw BASE+1..BASE+3 */
	record_ticks(3, 12);                /* then 9 more; the ring holds BASE+8..BASE+12 */
	snprintf(req, sizeof req, "{\"since\": %lld}", (long long)BASE + 3);
	r = history(req, &err);
	assert_non_null(r);
	gap = json_object_get(r, "gap");
	assert_non_null(gap);
	assert_int_equal(int_at(gap, "from"), (json_int_t)BASE + 3);
	assert_int_equal(int_at(gap, "to"), (json_int_t)BASE + 8);
	assert_int_equal(int_at(gap, "lost"), 4);      /* BASE+4..BASE+7 */
	assert_int_equal(sample_count(r), 5);
	assert_int_equal(sample_seq(r, 0), (json_int_t)BASE + 8);
	json_decref(r);

	/* a cursor exactly one before the oldest lost nothing */
	snprintf(req, sizeof req, "{\"since\": %lld}", (long long)BASE + 7);
	r = history(req, &err);
	assert_null(json_object_get(r, "gap"));
	assert_int_equal(sample_count(r), 5);
	json_decref(r);
}

static void test_history_limit_and_last(void **state)
{
	struct cmd_error err;
	char req[128];
	json_t *r;

	(void)state;
	record_ticks(0, 5);
	r = history("{\"limit\": 2}", &err);          /* oldest first, more to come */
	assert_int_equal(sample_count(r), 2);
	assert_int_equal(sample_seq(r, 0), (json_int_t)BASE + 1);
	assert_int_equal(int_at(r, "next"), (json_int_t)BASE + 2);
	assert_true(json_is_true(json_object_get(r, "more")));
	json_decref(r);

	snprintf(req, sizeof req, "{\"since\": %lld, \"limit\": 2}", (long long)BASE + 2);
	r = history(req, &err);
	assert_int_equal(sample_count(r), 2);
	assert_int_equal(sample_seq(r, 0), (json_int_t)BASE + 3);
	assert_int_equal(int_at(r, "next"), (json_int_t)BASE + 4);
	assert_true(json_is_true(json_object_get(r, "more")));
	json_decref(r);

	snprintf(req, sizeof req, "{\"since\": %lld, \"limit\": 2}", (long long)BASE + 4);
	r = history(req, &err);
	assert_int_equal(sample_count(r), 1);
	assert_true(json_is_false(json_object_get(r, "more")));
	json_decref(r);

	r = history("{\"last\": 2}", &err);           /* the newest two */
	assert_int_equal(sample_count(r), 2);
	assert_int_equal(sample_seq(r, 0), (json_int_t)BASE + 4);
	assert_int_equal(sample_seq(r, 1), (json_int_t)BASE + 5);
	json_decref(r);

	assert_null(history("{\"limit\": 0}", &err));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	snprintf(req, sizeof req, "{\"since\": %lld, \"last\": 2}", (long long)BASE + 2);
	assert_null(history(req, &err));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
}

static void test_history_series_and_values(void **state)
{
	struct cmd_error err;
	json_t *r, *s0, *series;
	struct sampler_sample s;

	(void)state;
	record_ticks(0, 2);
	s = test_sample(5);                 /* a gap: rates unknown */
	sampler_record(&s);

	r = history("{\"series\": \"cpu_pct, rss_bytes\"}", &err);
	assert_non_null(r);
	series = json_object_get(r, "series");
	assert_int_equal(json_array_size(series), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(series, 0), "name")),
	                    "cpu_pct");
	assert_string_equal(json_string_value(json_object_get(json_array_get(series, 0), "unit")),
	                    "%");
	assert_string_equal(json_string_value(json_object_get(json_array_get(series, 1), "unit")),
	                    "bytes");
	s0 = json_array_get(json_object_get(r, "samples"), 0);
	assert_non_null(json_object_get(s0, "t"));
	assert_true(json_real_value(json_object_get(s0, "t")) == T0_WALL);
	assert_int_equal(int_at(s0, "rss_bytes"), SS_RSS_BYTES);
	assert_null(json_object_get(s0, "tasks"));        /* not asked for */
	assert_null(json_object_get(s0, "threads"));
	assert_null(json_object_get(s0, "gap_before"));
	s0 = json_array_get(json_object_get(r, "samples"), 2);
	assert_true(json_is_null(json_object_get(s0, "cpu_pct")));   /* NaN travels as null */
	assert_int_equal(int_at(s0, "rss_bytes"), 500 + SS_RSS_BYTES);
	assert_string_equal(json_string_value(json_object_get(json_object_get(s0, "gap_before"),
	                                                      "reason")), "late");
	assert_int_equal(int_at(json_object_get(s0, "gap_before"), "missed"), 3);   /* ticks 2, 3, 4 */
	json_decref(r);

	r = history("{\"series\": [\"threads\", \"tasks\"]}", &err);
	assert_non_null(r);
	s0 = json_array_get(json_object_get(r, "samples"), 0);
	assert_int_equal(json_array_size(json_object_get(s0, "threads")), 2);
	assert_string_equal(json_string_value(json_object_get(
	                    json_array_get(json_object_get(s0, "threads"), 0), "name")), "worker");
	assert_int_equal(int_at(s0, "tasks"), SS_TASKS);
	assert_null(json_object_get(s0, "cpu_pct"));
	json_decref(r);

	assert_null(history("{\"series\": \"cpu_pct,bogus\"}", &err));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	assert_non_null(strstr(err.message, "\"bogus\""));
	assert_non_null(strstr(err.message, "rss_bytes"));
	assert_null(history("{\"series\": [1]}", &err));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	assert_null(history("{\"since\": \"abc\"}", &err));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	assert_null(history("{\"sinse\": 1}", &err));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
}

/* The whole wire path: the reply line is JSON where unknown values are null, never NaN. */
static void test_history_on_the_wire(void **state)
{
	const char *line = "{\"id\":7,\"cmd\":\"history\",\"series\":\"cpu_pct\"}";
	struct sampler_sample s;
	size_t len;
	char *reply;
	json_t *r;
	json_error_t jerr;

	(void)state;
	record_ticks(0, 1);
	s = test_sample(4);
	sampler_record(&s);
	reply = proto_handle_line(line, strlen(line), &len);
	assert_non_null(reply);
	r = json_loadb(reply, len, 0, &jerr);
	assert_non_null(r);
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "result"), "samples")), 2);
	assert_null(strstr(reply, "nan"));
	assert_non_null(strstr(reply, "\"cpu_pct\":null"));
	json_decref(r);
	free(reply);
}

static void test_no_ring(void **state)
{
	struct sampler_sample s = test_sample(0);
	struct cmd_error err;

	(void)state;
	sampler_ring_fini();
	assert_false(sampler_ready());
	assert_null(sampler_record(&s));
	assert_null(history("{}", &err));
	assert_string_equal(err.code, ERR_UNSUPPORTED);
}

/* The collector over the real probes: what proc and the registry measured lands in the sample,
 * totals become rates over the real elapsed time, the first sample has no rates, and a stale
 * proc reading is not repeated. */
static void test_collect_real_probes(void **state)
{
	struct sonde_task_spec spec = {.name = "collect", .initial_call = __func__};
	const struct sampler_sample *s1, *s2;
	sonde_task *tasks[5];
	uint64_t t1, t2;
	int main_seen = 0;

	(void)state;
	assert_int_equal(sampler_ring_init(8, BASE), 0);
	assert_int_equal(proc_probe.init(), 0);
	t1 = agent_now_ns();
	proc_probe.tick(t1);
	registry_probe.tick(t1);
	sampler_collect(t1);
	s1 = sampler_get(BASE + 1);
	assert_non_null(s1);
	assert_true(isnan(s1->v[SS_SPAWN_PER_S]));          /* no previous totals yet */
	assert_true(isnan(s1->v[SS_REDUCTIONS_PER_S]));

	for (int i = 0; i < 5; i++) {
		tasks[i] = sonde_task_spawn(&spec);
		assert_non_null(tasks[i]);
		sonde_task_work(tasks[i], 1000);
		sonde_task_queue(tasks[i], 2);
	}
	usleep(200000);
	t2 = agent_now_ns();
	proc_probe.tick(t2);
	registry_probe.tick(t2);
	sampler_collect(t2);
	s2 = sampler_get(BASE + 2);
	assert_non_null(s2);
	assert_int_equal(s2->gap, SAMPLER_GAP_NONE);
	assert_true(s2->v[SS_TASKS] >= 5);
	assert_true(s2->v[SS_QUEUE] >= 10);
	/* 5 spawns and 5000 reductions over ~0.2 s */
	assert_true(s2->v[SS_SPAWN_PER_S] > 5 / 0.5 && s2->v[SS_SPAWN_PER_S] < 5 / 0.15);
	assert_true(s2->v[SS_REDUCTIONS_PER_S] > 5000 / 0.5);
	assert_true(s2->v[SS_RSS_BYTES] > 0);
	assert_true(s2->v[SS_THREADS] >= 1);
	assert_true(s2->v[SS_FDS] >= 3);
	assert_false(isnan(s2->v[SS_CPU_PCT]));
	assert_true(s2->nthreads >= 1 && s2->nthreads <= SAMPLER_THREAD_SLOTS);
	for (unsigned i = 0; i < s2->nthreads; i++)
		if (s2->threads[i].tid == (int32_t)getpid())
			main_seen = 1;
	assert_true(main_seen);
	for (int i = 0; i < 5; i++)
		sonde_task_exit(tasks[i], NULL);

	/* proc did not tick this time (its reading is more than half an interval old): its
	 * figures are unknown in this sample, not the old ones repeated */
	usleep(600000);
	t2 = agent_now_ns();
	registry_probe.tick(t2);
	sampler_collect(t2);
	s2 = sampler_get(BASE + 3);
	assert_non_null(s2);
	assert_int_equal(s2->gap, SAMPLER_GAP_NONE);
	assert_true(isnan(s2->v[SS_RSS_BYTES]));
	assert_true(isnan(s2->v[SS_CPU_PCT]));
	assert_int_equal(s2->nthreads, 0);
	assert_false(isnan(s2->v[SS_TASKS]));             /* the registry did tick */
	assert_true(s2->v[SS_EXIT_PER_S] > 5 / 1.0);       /* 5 exits in ~0.6 s */
	proc_probe.fini();
	sampler_ring_fini();
}

/* Two incarnations draw different bases, so one's cursor is refused by the other. */
static void test_random_base(void **state)
{
	uint64_t a, b;

	(void)state;
	assert_int_equal(sampler_ring_init(4, 0), 0);
	a = sampler_seq_base();
	assert_int_equal(sampler_ring_init(4, 0), 0);
	b = sampler_seq_base();
	assert_true(a != 0 && b != 0);
	assert_true(a % (1u << 21) == 0 && b % (1u << 21) == 0);
	assert_true(a < (1ull << 53) && b < (1ull << 53));
	assert_true(a != b);   /* 1 in 2^31 chance of a false failure */
	sampler_ring_fini();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capacity_for),
		cmocka_unit_test_setup_teardown(test_empty_ring, setup_ring5, teardown_ring),
		cmocka_unit_test_setup_teardown(test_wraparound, setup_ring5, teardown_ring),
		cmocka_unit_test_setup_teardown(test_gap_late, setup_ring5, teardown_ring),
		cmocka_unit_test_setup_teardown(test_gap_jitter_is_not_a_gap, setup_ring5, teardown_ring),
		cmocka_unit_test_setup_teardown(test_gap_interval_changed_and_clock_jump, setup_ring5,
		                                teardown_ring),
		cmocka_unit_test_setup_teardown(test_history_cursor, setup_ring5, teardown_ring),
		cmocka_unit_test_setup_teardown(test_history_gap_after_wrap, setup_ring5, teardown_ring),
		cmocka_unit_test_setup_teardown(test_history_limit_and_last, setup_ring5, teardown_ring),
		cmocka_unit_test_setup_teardown(test_history_series_and_values, setup_ring5,
		                                teardown_ring),
		cmocka_unit_test_setup_teardown(test_history_on_the_wire, setup_ring5, teardown_ring),
		cmocka_unit_test_setup_teardown(test_no_ring, setup_ring5, teardown_ring),
		cmocka_unit_test(test_random_base),
		cmocka_unit_test(test_collect_real_probes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
