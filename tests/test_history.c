/*
 * test_history.c - the screen's copy of the agent's history (tui/history.c): merging replies by
 * sequence number, late and overlapping replies, samples lost while away, the time each sample
 * covers, resampling to chart slots (gaps stay NAN, a spike survives a wide slot), the cursor's
 * look-up by time, and the busiest threads of a window.
 */
#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "history.h"

/* One sample as the agent sends it: seq, mono_s, cpu_pct (NAN -> null), rss, two threads. */
static json_t *sample(unsigned long long seq, double mono, double cpu, int gap_before)
{
	json_t *s = json_pack("{s:I,s:f,s:f,s:o,s:I,s:[{s:i,s:s,s:o},{s:i,s:s,s:f}]}",
	                      "seq", (json_int_t)seq, "t", 1.7e9 + mono, "mono_s", mono,
	                      "cpu_pct", isnan(cpu) ? json_null() : json_real(cpu),
	                      "rss_bytes", (json_int_t)(1000 * seq),
	                      "threads", "tid", 100, "name", "worker",
	                      "cpu_pct", isnan(cpu) ? json_null() : json_real(cpu / 2),
	                      "tid", 200, "name", "agent", "cpu_pct", 1.0);

	assert_non_null(s);
	if (gap_before)
		json_object_set_new(s, "gap_before", json_pack("{s:s,s:i}", "reason", "late",
		                                               "missed", 3));
	return s;
}

/* A reply holding samples first..last (seq = 1000 + k at mono = k seconds, cpu = k %). */
static json_t *reply(int first, int last, int capacity)
{
	json_t *samples = json_array();

	for (int k = first; k <= last; k++)
		json_array_append_new(samples, sample(1000 + (unsigned)k, k, k, 0));
	return json_pack("{s:i,s:i,s:o,s:b}", "interval_ms", 1000, "capacity", capacity,
	                 "samples", samples, "more", 0);
}

static void test_merge_and_spans(void **state)
{
	struct history h = {0};
	json_t *r = reply(1, 3, 10);

	(void)state;
	assert_int_equal(history_merge(&h, r, 0), 3);
	assert_int_equal(h.count, 3);
	assert_int_equal(h.cursor, 1003);
	assert_true(h.interval_s == 1.0);
	assert_true(h.seen[HC_CPU] && h.seen[HC_RSS]);
	assert_false(h.seen[HC_TASKS]);                     /* never sent */
	assert_true(history_get(&h, 0)->span == 1.0);       /* the first: one interval */
	assert_true(history_get(&h, 2)->span == 1.0);       /* since the previous sample */
	assert_true(history_get(&h, 1)->v[HC_CPU] == 2.0);
	assert_true(isnan(history_get(&h, 1)->v[HC_TASKS]));
	assert_int_equal(history_get(&h, 1)->nthreads, 2);
	assert_string_equal(history_get(&h, 1)->threads[0].name, "worker");
	assert_null(history_get(&h, 3));
	json_decref(r);

	/* an overlapping (late) reply adds only what is new */
	uint64_t v = h.version;
	r = reply(2, 5, 10);
	assert_int_equal(history_merge(&h, r, 1001), 2);
	assert_int_equal(h.count, 5);
	assert_int_equal(history_newest(&h)->seq, 1005);
	assert_true(h.version > v);
	json_decref(r);
	v = h.version;
	r = reply(1, 5, 10);
	assert_int_equal(history_merge(&h, r, 0), 0);
	assert_int_equal(h.version, v);                     /* nothing new, nothing redrawn */
	json_decref(r);
	history_free(&h);
}

static void test_ring_keeps_the_newest(void **state)
{
	struct history h = {0};
	json_t *r = reply(1, 6, 4);

	(void)state;
	assert_int_equal(history_merge(&h, r, 0), 6);
	assert_int_equal(h.count, 4);
	assert_int_equal(history_get(&h, 0)->seq, 1003);
	assert_int_equal(history_newest(&h)->seq, 1006);
	json_decref(r);
	/* a larger agent ring: the copy grows and keeps its samples in order */
	r = reply(7, 8, 8);
	assert_int_equal(history_merge(&h, r, 1006), 2);
	assert_int_equal(h.count, 6);
	for (size_t i = 0; i < h.count; i++)
		assert_int_equal(history_get(&h, i)->seq, 1003 + i);
	json_decref(r);
	history_reset(&h);
	assert_int_equal(h.count, 0);
	assert_int_equal(h.cursor, 0);
	assert_non_null(h.ring);                            /* the allocation is kept */
	history_free(&h);
}

static void test_gaps(void **state)
{
	struct history h = {0};
	json_t *r = reply(1, 3, 20), *samples;

	(void)state;
	history_merge(&h, r, 0);
	json_decref(r);
	/* we come back after the agent dropped 1004..1006: the reply to our cursor says so */
	r = reply(7, 8, 20);
	json_object_set_new(r, "gap", json_pack("{s:i,s:i,s:i}", "from", 1003, "to", 1007,
	                                        "lost", 3));
	assert_int_equal(history_merge(&h, r, 1003), 2);
	assert_int_equal(h.lost, 3);
	assert_true(history_get(&h, 3)->span == 1.0);       /* not 4 s across the lost ones */
	json_decref(r);
	/* a gap the agent marked (missed ticks) */
	samples = json_array();
	json_array_append_new(samples, sample(1009, 12, 5, 1));
	r = json_pack("{s:i,s:i,s:o}", "interval_ms", 1000, "capacity", 20, "samples", samples);
	history_merge(&h, r, 1008);
	assert_true(history_newest(&h)->span == 1.0);
	assert_int_equal(h.lost, 3);                        /* no reply-level gap this time */
	json_decref(r);

	/* resampled: 1..3, 7..8 and 12 covered; 4..6 and 9..11 are gaps */
	double out[12];
	history_resample(&h, 12, 12, 12, HC_CPU, 0, out);  /* slot j = (j, j+1] */
	assert_true(isnan(out[0]) == 0 && out[0] == 1);     /* sample at 1 covers (0, 1] */
	assert_true(out[2] == 3);
	for (int j = 3; j <= 5; j++)
		assert_true(isnan(out[j]));                     /* lost: (3, 6] */
	assert_true(out[6] == 7 && out[7] == 8);
	for (int j = 8; j <= 10; j++)
		assert_true(isnan(out[j]));                     /* missed ticks: (8, 11] */
	assert_true(out[11] == 5);

	/* the cursor reads out a sample where one covers the moment, nothing in a gap */
	assert_int_equal(history_sample_at(&h, 2.5)->seq, 1003);
	assert_int_equal(history_sample_at(&h, 3.0)->seq, 1003);
	assert_null(history_sample_at(&h, 5.0));
	assert_null(history_sample_at(&h, 10.0));
	assert_int_equal(history_sample_at(&h, 11.5)->seq, 1009);
	assert_null(history_sample_at(&h, 13.0));
	history_free(&h);
}

static void test_resample_spikes_and_unknown(void **state)
{
	struct history h = {0};
	json_t *r = reply(1, 10, 20), *samples;
	double out[40];

	(void)state;
	history_merge(&h, r, 0);
	json_decref(r);
	/* two slots of 5 s: each keeps its highest sample */
	history_resample(&h, 10, 10, 2, HC_CPU, 0, out);
	assert_true(out[0] == 5 && out[1] == 10);
	/* more slots than samples: every slot of a sample's second is painted */
	history_resample(&h, 10, 10, 40, HC_CPU, 0, out);
	for (int j = 0; j < 40; j++)
		assert_true(out[j] == (double)(j / 4 + 1));
	/* a window that reaches before the history: nothing there */
	history_resample(&h, 10, 20, 20, HC_CPU, 0, out);
	for (int j = 0; j < 10; j++)
		assert_true(isnan(out[j]));
	assert_true(out[10] == 1 && out[19] == 10);
	/* a thread's share, by tid */
	history_resample(&h, 10, 10, 10, HC_CPU, 100, out);
	assert_true(out[3] == 2.0);                         /* cpu 4 / 2 */
	history_resample(&h, 10, 10, 10, HC_CPU, 999, out);
	assert_true(isnan(out[3]));                         /* not among the busiest */

	/* a null value is unknown, not zero */
	samples = json_array();
	json_array_append_new(samples, sample(1011, 11, NAN, 0));
	r = json_pack("{s:i,s:i,s:o}", "interval_ms", 1000, "capacity", 20, "samples", samples);
	history_merge(&h, r, 1010);
	json_decref(r);
	history_resample(&h, 11, 2, 2, HC_CPU, 0, out);
	assert_true(out[0] == 10);
	assert_true(isnan(out[1]));
	history_free(&h);
}

static void test_top_threads(void **state)
{
	struct history h = {0};
	json_t *r = reply(1, 10, 20);
	int tids[3];
	char names[3][16];

	(void)state;
	history_merge(&h, r, 0);
	json_decref(r);
	/* worker: 0.5+1+...+5 = 27.5 in total; agent: 1 per sample = 10 */
	assert_int_equal(history_top_threads(&h, 0, 3, tids, names), 2);
	assert_int_equal(tids[0], 100);
	assert_string_equal(names[0], "worker");
	assert_int_equal(tids[1], 200);
	/* over the last 2 s only: worker 4.5+5 = 9.5, agent 2 */
	assert_int_equal(history_top_threads(&h, 8, 1, tids, names), 1);
	assert_int_equal(tids[0], 100);
	assert_int_equal(history_top_threads(&h, 10, 3, tids, names), 0);
	history_free(&h);
}

static void test_series_arg(void **state)
{
	const char *arg = history_series_arg();

	(void)state;
	assert_non_null(strstr(arg, "threads"));
	for (int c = 0; c < HC_COUNT; c++)
		assert_non_null(strstr(arg, history_col_names[c]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_and_spans),
		cmocka_unit_test(test_ring_keeps_the_newest),
		cmocka_unit_test(test_gaps),
		cmocka_unit_test(test_resample_spikes_and_unknown),
		cmocka_unit_test(test_top_threads),
		cmocka_unit_test(test_series_arg),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
