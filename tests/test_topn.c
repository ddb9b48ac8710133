/*
 * test_topn.c - the bounded-heap selection against the obvious answer: for many random inputs
 * (keys drawn from small ranges so ties are common, caps smaller and larger than the input,
 * both orders, with and without a tie function), the kept items are exactly the first cap items
 * of a full qsort in the same total order. Plus the order-preserving key helpers.
 */
#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "topn.h"

/* xorshift64*: reproducible per seed, no libc rand() state shared with anything. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

/* Strings whose order needs the tie function: same 8-byte prefix, different tails. */
static char names[4096][24];

static int name_tie(const struct topn_item *a, const struct topn_item *b, void *ctx)
{
	(void)ctx;
	return strcmp(names[a->idx], names[b->idx]);
}

struct sort_ctx {
	int desc, tie;
};
static struct sort_ctx sort_ctx;

/* The reference order, written independently of topn_before(). */
static int ref_cmp(const void *pa, const void *pb)
{
	const struct topn_item *a = pa, *b = pb;
	int c;

	if (sort_ctx.tie)
		c = strcmp(names[a->idx], names[b->idx]);
	else
		c = (a->key > b->key) - (a->key < b->key);
	if (c != 0)
		return sort_ctx.desc ? -c : c;
	return (a->id > b->id) - (a->id < b->id);
}

static void check_one(uint64_t seed, int use_names)
{
	size_t n, cap, got;
	struct topn_item *all, *heap;
	struct topn top;
	int64_t range;

	rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
	n = (size_t)(rng() % 3000);
	cap = (size_t)(rng() % 400);
	if (rng() % 8 == 0)
		cap = n + (size_t)(rng() % 5); /* more room than items */
	range = (int64_t)(rng() % 3 == 0 ? 5 : rng() % 2 ? 1000 : INT64_MAX / 2);
	sort_ctx.desc = (int)(rng() & 1);
	sort_ctx.tie = use_names;

	all = malloc((n + 1) * sizeof *all);
	heap = malloc((cap + 1) * sizeof *heap);
	assert_non_null(all);
	assert_non_null(heap);
	for (size_t i = 0; i < n; i++) {
		all[i].idx = (uint32_t)i;
		all[i].gen = 1;
		/* ids unique (a permutation), keys with many ties, some negative */
		all[i].id = (i * 2654435761u) % 1000003u + 1;
		if (use_names) {
			snprintf(names[i], sizeof names[i], "conn-000%05u",
			         (unsigned)(rng() % (uint64_t)(range < 4000 ? range : 4000)));
			all[i].key = topn_key_prefix(names[i]);
		} else {
			all[i].key = (int64_t)(rng() % (uint64_t)range) - range / 2;
		}
	}
	topn_init(&top, heap, cap, sort_ctx.desc, use_names ? name_tie : NULL, NULL);
	for (size_t i = 0; i < n; i++)
		topn_offer(&top, all[i].key, all[i].id, all[i].idx, all[i].gen);
	got = topn_finish(&top);
	qsort(all, n, sizeof *all, ref_cmp);

	assert_int_equal(got, cap < n ? cap : n);
	for (size_t i = 0; i < got; i++) {
		if (heap[i].id != all[i].id) {
			fprintf(stderr, "seed %llu: position %zu of %zu: got id %llu (key %lld), "
			                "expected id %llu (key %lld)\n",
			        (unsigned long long)seed, i, got, (unsigned long long)heap[i].id,
			        (long long)heap[i].key, (unsigned long long)all[i].id,
			        (long long)all[i].key);
			fail();
		}
	}
	free(all);
	free(heap);
}

static void test_topn_equals_full_sort(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 2000; seed++)
		check_one(seed, 0);
}

static void test_topn_name_ties_equal_full_sort(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 300; seed++)
		check_one(seed, 1);
}

/* Paging: offset+limit windows of one order, concatenated, are the whole order. */
static void test_topn_pages_concatenate(void **state)
{
	enum { N = 1000, PAGE = 37 };
	struct topn_item heap[N], whole[N];
	struct topn top;
	int64_t keys[N];
	size_t got;

	(void)state;
	rng_state = 42;
	for (size_t i = 0; i < N; i++)
		keys[i] = (int64_t)(rng() % 50);
	topn_init(&top, whole, N, 1, NULL, NULL);
	for (size_t i = 0; i < N; i++)
		topn_offer(&top, keys[i], i + 1, (uint32_t)i, 0);
	assert_int_equal(topn_finish(&top), N);
	for (size_t off = 0; off < N; off += PAGE) {
		size_t cap = off + PAGE > N ? N : off + PAGE;

		topn_init(&top, heap, cap, 1, NULL, NULL);
		for (size_t i = 0; i < N; i++)
			topn_offer(&top, keys[i], i + 1, (uint32_t)i, 0);
		got = topn_finish(&top);
		assert_int_equal(got, cap);
		for (size_t k = off; k < got; k++)
			assert_int_equal(heap[k].id, whole[k].id);
	}
}

static void test_topn_zero_capacity(void **state)
{
	struct topn top;
	struct topn_item dummy;

	(void)state;
	topn_init(&top, &dummy, 0, 1, NULL, NULL);
	topn_offer(&top, 5, 1, 0, 0);
	assert_int_equal(topn_finish(&top), 0);
}

static void test_topn_key_helpers_preserve_order(void **state)
{
	const double d[] = {-INFINITY, -1e300, -2.5, -0.0, 0.0, 1e-300, 2.5, 99.9, 1e300, INFINITY};
	const char *s[] = {"", "a", "ab", "abcdefg", "abcdefgh", "abd", "b", "\x7f", "\xc3\xa9"};

	(void)state;
	for (size_t i = 0; i + 1 < sizeof d / sizeof d[0]; i++)
		assert_true(topn_key_double(d[i]) <= topn_key_double(d[i + 1]));
	assert_true(topn_key_double(-1.0) < topn_key_double(0.0));
	for (size_t i = 0; i + 1 < sizeof s / sizeof s[0]; i++)
		assert_true(topn_key_prefix(s[i]) < topn_key_prefix(s[i + 1]) ||
		            strncmp(s[i], s[i + 1], 8) == 0);
	assert_true(topn_key_u64(UINT64_MAX) == INT64_MAX);
	assert_true(topn_key_u64(7) == 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_topn_equals_full_sort),
		cmocka_unit_test(test_topn_name_ties_equal_full_sort),
		cmocka_unit_test(test_topn_pages_concatenate),
		cmocka_unit_test(test_topn_zero_capacity),
		cmocka_unit_test(test_topn_key_helpers_preserve_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
