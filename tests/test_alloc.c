/*
 * test_alloc.c - the allocator probe and the `alloc` command.
 *
 * Built twice from this one source: tests/test_alloc_jemalloc is linked with jemalloc (so jemalloc
 * is the allocator and the jemalloc cases run), tests/test_alloc is not (glibc malloc, the glibc
 * cases run). Each case skips, saying why, when the allocator it needs is not the one in use
 * (e.g. under AddressSanitizer, whose malloc replaces both).
 *
 * The jemalloc figures are checked against jemalloc's own malloc_stats_print() JSON taken in the
 * same process right after our reading: within 1%.
 */
#include "config.h"

#include <dlfcn.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "alloc.h"
#include "command.h"
#include "cmdrun.h"
#include "jemalloc.h"

extern const struct command_entry cmd_alloc_entry;

typedef void (*stats_print_fn)(void (*write_cb)(void *, const char *), void *cbopaque,
                               const char *opts);

/* ---- helpers ----------------------------------------------------------------------------- */

static json_t *run_alloc(const char *args_json, struct cmd_error *err)
{
	return cmdrun(&cmd_alloc_entry, err, args_json);
}

static int need_jemalloc(void)
{
	return jemalloc_get() != NULL;
}

/* Is glibc's malloc serving malloc (not jemalloc, not a sanitizer's)? Its in-use bytes must
 * follow a 1 MB allocation made of heap-sized (below the mmap threshold) blocks. */
static int need_glibc(void)
{
	void *b[10];
	size_t before = mallinfo2().uordblks, after;

	if (jemalloc_get() != NULL)
		return 0;
	for (int i = 0; i < 10; i++)
		b[i] = malloc(100000);
	after = mallinfo2().uordblks;
	for (int i = 0; i < 10; i++)
		free(b[i]);
	return after >= before + 10 * 100000;
}

/* malloc_stats_print's JSON, written into a buffer reserved beforehand so that printing it does
 * not allocate from the application's side. */
static char *stats_buf;
static size_t stats_len, stats_cap;

static void stats_write(void *opaque, const char *s)
{
	size_t n = strlen(s);

	(void)opaque;
	if (stats_len + n + 1 > stats_cap)
		n = stats_cap - stats_len - 1;
	memcpy(stats_buf + stats_len, s, n);
	stats_len += n;
	stats_buf[stats_len] = '\0';
}

static json_t *je_stats_json(void)
{
	stats_print_fn print = (stats_print_fn)dlsym(RTLD_DEFAULT, "malloc_stats_print");
	json_t *root;

	assert_non_null(print);

	stats_len = 0;
	print(stats_write, NULL, "J");
	root = json_loads(stats_buf, 0, NULL);
	assert_non_null(root);
	return root;
}

static uint64_t jget(const json_t *obj, const char *path)
{
	char buf[256], *save = NULL;
	const json_t *cur = obj;

	snprintf(buf, sizeof buf, "%s", path);
	for (char *tok = strtok_r(buf, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
		if (json_is_array(cur))
			cur = json_array_get(cur, (size_t)atoi(tok));
		else
			cur = json_object_get(cur, tok);
		if (cur == NULL)
			fail_msg("no %s in the JSON (at %s)", path, tok);
	}
	if (json_is_integer(cur))
		return (uint64_t)json_integer_value(cur);
	if (json_is_real(cur))
		return (uint64_t)json_real_value(cur);
	fail_msg("%s is not a number", path);
	return 0;
}

/* |ours - theirs| within 1% of theirs, or within `slack` units for small figures. */
static void assert_close(const char *what, uint64_t ours, uint64_t theirs, uint64_t slack)
{
	uint64_t diff = ours > theirs ? ours - theirs : theirs - ours;
	uint64_t tol = theirs / 100 > slack ? theirs / 100 : slack;

	if (diff > tol)
		fail_msg("%s: ours %llu, malloc_stats_print %llu (diff %llu > tolerance %llu)", what,
		         (unsigned long long)ours, (unsigned long long)theirs,
		         (unsigned long long)diff, (unsigned long long)tol);
}

/* ---- a working set, with threads on other arenas ----------------------------------------- */

#define WS_THREADS 3
static pthread_barrier_t ws_ready, ws_done;
static void **ws_blocks;
static size_t ws_count;

static void ws_alloc(void **slots, size_t *n, size_t count, size_t size)
{
	for (size_t i = 0; i < count; i++) {
		slots[*n] = malloc(size);
		assert_non_null(slots[*n]);
		memset(slots[*n], 0x5a, size < 64 ? size : 64);
		(*n)++;
	}
}

/* Each helper thread allocates on the arena jemalloc gives it, then waits (still bound to it). */
static void *ws_thread(void *arg)
{
	void *mine[3000];
	size_t n = 0;

	(void)arg;
	ws_alloc(mine, &n, 2000, 96);
	ws_alloc(mine, &n, 500, 3000);
	ws_alloc(mine, &n, 10, 200000);
	pthread_barrier_wait(&ws_ready);
	pthread_barrier_wait(&ws_done);
	for (size_t i = 0; i < n; i++)
		free(mine[i]);
	return NULL;
}

static int ws_setup(void **state)
{
	(void)state;
	ws_blocks = calloc(200000, sizeof *ws_blocks);
	ws_count = 0;
	ws_alloc(ws_blocks, &ws_count, 100000, 48);
	ws_alloc(ws_blocks, &ws_count, 40000, 200);
	ws_alloc(ws_blocks, &ws_count, 10000, 1000);
	ws_alloc(ws_blocks, &ws_count, 2000, 10000);
	ws_alloc(ws_blocks, &ws_count, 100, 100000);
	ws_alloc(ws_blocks, &ws_count, 10, 1 << 20);
	return 0;
}

static int ws_teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < ws_count; i++)
		free(ws_blocks[i]);
	free(ws_blocks);
	return 0;
}

/* ---- jemalloc ------------------------------------------------------------------------------ */

/* Our snapshot (global, arenas, size classes, large extents) against malloc_stats_print. */
static void test_je_snapshot_matches_stats_print(void **state)
{
	pthread_t th[WS_THREADS];
	const struct alloc_je_snapshot *s;
	const char *cause = NULL;
	json_t *root, *je, *arenas_json, *merged;
	size_t page;

	(void)state;
	if (!need_jemalloc())
		skip();
	pthread_barrier_init(&ws_ready, NULL, WS_THREADS + 1);
	pthread_barrier_init(&ws_done, NULL, WS_THREADS + 1);
	for (int i = 0; i < WS_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, ws_thread, NULL), 0);
	pthread_barrier_wait(&ws_ready);

	s = alloc_je_refresh(&cause);
	assert_non_null(s);
	root = je_stats_json();

	je = json_object_get(root, "jemalloc");
	page = jget(je, "arenas/page");
	assert_true(s->allocated > 20u << 20);
	assert_close("allocated", s->allocated, jget(je, "stats/allocated"), 0);
	assert_close("active", s->active, jget(je, "stats/active"), 0);
	/* malloc_stats_print counts its own 64 KiB output buffer, an internal (metadata) allocation. */
	assert_close("metadata", s->metadata, jget(je, "stats/metadata"), 65536 + 8192);
	assert_close("resident", s->resident, jget(je, "stats/resident"), 0);
	assert_close("mapped", s->mapped, jget(je, "stats/mapped"), 0);
	assert_close("retained", s->retained, jget(je, "stats/retained"), 0);

	arenas_json = json_object_get(je, "stats.arenas");
	assert_true(s->ninit >= 2);
	for (unsigned k = 0; k < s->ninit; k++) {
		const struct alloc_je_arena *a = &s->arenas[k];
		char key[16], what[64];
		const json_t *aj;

		snprintf(key, sizeof key, "%u", a->index);
		aj = json_object_get(arenas_json, key);
		if (aj == NULL)
			fail_msg("arena %u is initialised for us but not in malloc_stats_print", a->index);
		snprintf(what, sizeof what, "arena %u threads", a->index);
		assert_close(what, a->threads, jget(aj, "nthreads"), 0);
		snprintf(what, sizeof what, "arena %u active", a->index);
		assert_close(what, a->active_bytes, jget(aj, "pactive") * page, 4 * page);
		snprintf(what, sizeof what, "arena %u dirty", a->index);
		assert_close(what, a->dirty_bytes, jget(aj, "pdirty") * page, 4 * page);
		snprintf(what, sizeof what, "arena %u muzzy", a->index);
		assert_close(what, a->muzzy_bytes, jget(aj, "pmuzzy") * page, 4 * page);
		snprintf(what, sizeof what, "arena %u small allocated", a->index);
		assert_close(what, a->small_allocated_bytes, jget(aj, "small/allocated"), 4096);
		snprintf(what, sizeof what, "arena %u large allocated", a->index);
		/* malloc_stats_print's own 64 KiB buffer is one large allocation on arena 0. */
		assert_close(what, a->large_allocated_bytes, jget(aj, "large/allocated"), 65536);
	}
	/* Merged size classes ("merged" is printed only when several arenas are initialised). */
	merged = json_object_get(arenas_json, "merged");
	assert_non_null(merged);
	assert_int_equal(s->nbins, json_array_size(json_object_get(merged, "bins")));
	for (unsigned j = 0; j < s->nbins; j++) {
		const struct alloc_je_bin *b = &s->bins[j];
		char path[64], what[64];

		snprintf(path, sizeof path, "arenas/bin/%u/size", j);
		assert_int_equal(b->size_bytes, jget(je, path));
		snprintf(path, sizeof path, "arenas/bin/%u/nregs", j);
		assert_int_equal(b->regions_per_slab, jget(je, path));
		snprintf(path, sizeof path, "arenas/bin/%u/slab_size", j);
		assert_int_equal(b->slab_bytes, jget(je, path));
		snprintf(path, sizeof path, "bins/%u/curregs", j);
		snprintf(what, sizeof what, "bin %u (%zu B) regions", j, b->size_bytes);
		assert_close(what, b->regions, jget(merged, path), 2);
		snprintf(path, sizeof path, "bins/%u/curslabs", j);
		snprintf(what, sizeof what, "bin %u (%zu B) slabs", j, b->size_bytes);
		assert_close(what, b->slabs, jget(merged, path), 1);
	}
	assert_int_equal(s->nlextents, json_array_size(json_object_get(merged, "lextents")));
	for (unsigned j = 0; j < s->nlextents; j++) {
		char path[64], what[64];

		snprintf(path, sizeof path, "lextents/%u/curlextents", j);
		snprintf(what, sizeof what, "large class %zu B extents", s->lextents[j].size_bytes);
		assert_close(what, s->lextents[j].extents, jget(merged, path), 1);
	}
	assert_close("large allocated", s->large_allocated, jget(merged, "large/allocated"), 65536);
	json_decref(root);

	pthread_barrier_wait(&ws_done);
	for (int i = 0; i < WS_THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&ws_ready);
	pthread_barrier_destroy(&ws_done);
}

/* The command's reply (what a client sees) against malloc_stats_print, and its explanations. */
static void test_je_command_matches_stats_print(void **state)
{
	struct cmd_error err;
	json_t *r, *root, *je;
	double usage, frag;

	(void)state;
	if (!need_jemalloc())
		skip();
	usleep(ALLOC_JE_MIN_INTERVAL_NS / 1000 + 10000);   /* past the last test's reading: a fresh one */
	r = run_alloc("{\"cmd\":\"alloc\",\"limit\":1000}", &err);
	assert_non_null(r);
	assert_false(json_is_true(json_object_get(r, "cached")));
	root = je_stats_json();
	je = json_object_get(root, "jemalloc");
	assert_string_equal(json_string_value(json_object_get(r, "allocator")), "jemalloc");
	assert_string_equal(json_string_value(json_object_get(r, "version")),
	                    json_string_value(json_object_get(je, "version")));
	assert_close("allocated", jget(r, "global/allocated_bytes"), jget(je, "stats/allocated"), 0);
	assert_close("active", jget(r, "global/active_bytes"), jget(je, "stats/active"), 0);
	assert_close("metadata", jget(r, "global/metadata_bytes"), jget(je, "stats/metadata"),
	             65536 + 8192);
	assert_close("resident", jget(r, "global/resident_bytes"), jget(je, "stats/resident"), 0);
	assert_close("mapped", jget(r, "global/mapped_bytes"), jget(je, "stats/mapped"), 0);
	assert_close("retained", jget(r, "global/retained_bytes"), jget(je, "stats/retained"), 0);

	usage = json_real_value(
		json_object_get(json_object_get(json_object_get(r, "derived"), "usage"), "value"));
	frag = json_real_value(
		json_object_get(json_object_get(json_object_get(r, "derived"), "fragmentation"), "value"));
	assert_true(fabs(usage - (double)jget(r, "global/allocated_bytes") /
	                             (double)jget(r, "global/resident_bytes")) < 1e-9);
	assert_true(fabs(frag - (1.0 - (double)jget(r, "global/allocated_bytes") /
	                                   (double)jget(r, "global/active_bytes"))) < 1e-9);
	assert_non_null(strstr(json_string_value(json_object_get(
	                           json_object_get(json_object_get(r, "derived"), "usage"), "explain")),
	                       "allocated / resident"));
	assert_true(jget(r, "peaks/allocated_bytes") >= jget(r, "global/allocated_bytes"));
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "bins"), "rows")),
	                 jget(je, "arenas/nbins"));
	assert_int_equal(json_is_true(json_object_get(json_object_get(r, "config"), "stats")), 1);
	assert_int_equal(json_is_true(json_object_get(json_object_get(r, "config"), "prof")),
	                 json_is_true(json_object_get(json_object_get(je, "config"), "prof")));
	assert_int_equal(jget(r, "config/page_bytes"), jget(je, "arenas/page"));
	assert_int_equal(jget(r, "decay/dirty_decay_ms"), jget(je, "opt/dirty_decay_ms"));
	assert_true(json_real_value(json_object_get(r, "read_cost_us")) > 0);
	json_decref(root);
	json_decref(r);
}

/* Requests cause at most one jemalloc reading per ALLOC_JE_MIN_INTERVAL_NS (an epoch bump takes
 * the arenas' statistics locks): one at once after another gets the same reading back, marked
 * cached with its age; after the interval a fresh one sees a new 8 MiB block; jemalloc_stats=true
 * always reads afresh. */
static void test_je_command_rate_limited(void **state)
{
	struct cmd_error err;
	json_t *r1, *r2, *r3, *r4;
	char *big;

	(void)state;
	if (!need_jemalloc())
		skip();
	usleep(ALLOC_JE_MIN_INTERVAL_NS / 1000 + 10000);
	r1 = run_alloc("{\"cmd\":\"alloc\"}", &err);
	assert_non_null(r1);
	assert_false(json_is_true(json_object_get(r1, "cached")));
	assert_int_equal(jget(r1, "min_interval_ms"), ALLOC_JE_MIN_INTERVAL_NS / 1000000);
	big = malloc(8u << 20);
	assert_non_null(big);
	memset(big, 1, 8u << 20);
	r2 = run_alloc("{\"cmd\":\"alloc\"}", &err);
	assert_non_null(r2);
	assert_true(json_is_true(json_object_get(r2, "cached")));
	assert_true(json_real_value(json_object_get(r2, "age_s")) <
	            (double)ALLOC_JE_MIN_INTERVAL_NS / 1e9);
	assert_int_equal(jget(r2, "global/allocated_bytes"), jget(r1, "global/allocated_bytes"));
	assert_true(json_real_value(json_object_get(r2, "read_cost_us")) ==
	            json_real_value(json_object_get(r1, "read_cost_us")));
	r3 = run_alloc("{\"cmd\":\"alloc\",\"jemalloc_stats\":true}", &err);
	assert_non_null(r3);
	assert_false(json_is_true(json_object_get(r3, "cached")));
	assert_true(jget(r3, "global/allocated_bytes") >= jget(r1, "global/allocated_bytes") + (8 << 20));
	usleep(ALLOC_JE_MIN_INTERVAL_NS / 1000 + 10000);
	r4 = run_alloc("{\"cmd\":\"alloc\"}", &err);
	assert_non_null(r4);
	assert_false(json_is_true(json_object_get(r4, "cached")));
	assert_true(jget(r4, "global/allocated_bytes") >= jget(r1, "global/allocated_bytes") + (8 << 20));
	free(big);
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);
	json_decref(r4);
}

/* Checkerboard: many objects of one size class, every other one freed: that class is ~50% used
 * and its waste is ~half of its new slabs' bytes. */
#define CB_SIZE 1280
#define CB_COUNT 20000
static void test_je_checkerboard(void **state)
{
	void **objs;
	const struct alloc_je_snapshot *s;
	const char *cause = NULL;
	struct alloc_je_bin before = {0}, after = {0};
	unsigned bin = 0;
	struct cmd_error err;
	json_t *r, *row;
	double util;

	(void)state;
	if (!need_jemalloc())
		skip();
	objs = calloc(CB_COUNT, sizeof *objs);
	s = alloc_je_refresh(&cause);
	assert_non_null(s);
	for (bin = 0; bin < s->nbins && s->bins[bin].size_bytes != CB_SIZE; bin++)
		;
	assert_true(bin < s->nbins);
	before = s->bins[bin];
	for (int i = 0; i < CB_COUNT; i++)
		assert_non_null(objs[i] = malloc(CB_SIZE));
	for (int i = 0; i < CB_COUNT; i += 2) {
		free(objs[i]);
		objs[i] = NULL;
	}
	/* Regions freed into this thread's cache still count as in use: return them first. */
	assert_int_equal(jemalloc_get()->mallctl("thread.tcache.flush", NULL, NULL, NULL, 0), 0);
	s = alloc_je_refresh(&cause);
	assert_non_null(s);
	after = s->bins[bin];

	{
		uint64_t new_regions = after.regions - before.regions;
		uint64_t new_slabs = after.slabs - before.slabs;
		uint64_t expect_slabs = (CB_COUNT + after.regions_per_slab - 1) / after.regions_per_slab;
		uint64_t waste = alloc_je_bin_waste(&after);
		uint64_t half_slab_bytes = new_slabs * after.slab_bytes / 2;

		assert_true(new_regions >= CB_COUNT / 2 && new_regions <= CB_COUNT / 2 + 64);
		assert_true(new_slabs >= expect_slabs - 1 && new_slabs <= expect_slabs + 2);
		util = alloc_je_bin_utilization(&after);
		if (fabs(util - 0.5) > 0.02)
			fail_msg("utilisation of the %d B class is %.3f, expected 0.5 +- 0.02", CB_SIZE, util);
		if (llabs((long long)waste - (long long)half_slab_bytes) > (long long)half_slab_bytes / 50 +
		                                                               (long long)before.slabs *
		                                                                   after.slab_bytes)
			fail_msg("waste of the %d B class is %llu B, expected about %llu B", CB_SIZE,
			         (unsigned long long)waste, (unsigned long long)half_slab_bytes);
	}
	/* The command, sorted by waste, puts this class first with the same figures. */
	r = run_alloc("{\"cmd\":\"alloc\",\"sort\":\"waste\",\"limit\":3}", &err);
	assert_non_null(r);
	row = json_array_get(json_object_get(json_object_get(r, "bins"), "rows"), 0);
	assert_int_equal(jget(row, "size_bytes"), CB_SIZE);
	assert_true(fabs(json_real_value(json_object_get(row, "utilization")) - 0.5) < 0.02);
	assert_int_equal(json_array_size(json_object_get(json_object_get(r, "bins"), "rows")), 3);
	json_decref(r);
	/* sort=util puts the least utilised classes first. */
	r = run_alloc("{\"cmd\":\"alloc\",\"sort\":\"util\",\"limit\":1000}", &err);
	assert_non_null(r);
	{
		json_t *rows = json_object_get(json_object_get(r, "bins"), "rows");
		double prev = -1;

		for (size_t i = 0; i < json_array_size(rows); i++) {
			json_t *rw = json_array_get(rows, i);
			double u;

			if (jget(rw, "slabs") == 0)
				break;
			u = json_real_value(json_object_get(rw, "utilization"));
			assert_true(u >= prev);
			prev = u;
		}
	}
	json_decref(r);
	for (int i = 0; i < CB_COUNT; i++)
		free(objs[i]);
	free(objs);
}

/* Rates: large allocations bypass thread caches, so the arena counts each one exactly. */
static void test_je_rates_from_ticks(void **state)
{
	const struct alloc_je_snapshot *s;
	const char *cause = NULL;
	unsigned my_arena = 0;
	size_t len = sizeof my_arena;
	uint64_t t0 = 1000000000000ull;

	(void)state;
	if (!need_jemalloc())
		skip();
	assert_int_equal(jemalloc_get()->mallctl("thread.arena", &my_arena, &len, NULL, 0), 0);
	alloc_probe.tick(t0);
	for (int i = 0; i < 5000; i++) {
		void *volatile p = malloc(100000);

		free(p);
	}
	alloc_probe.tick(t0 + 2000000000ull);    /* two seconds later, as far as rates go */
	s = alloc_je_refresh(&cause);
	assert_non_null(s);
	assert_true(fabs(s->rate_window_s - 2.0) < 1e-9);
	for (unsigned k = 0; k < s->ninit; k++) {
		if (s->arenas[k].index != my_arena)
			continue;
		assert_true(s->arenas[k].rates_known);
		if (s->arenas[k].alloc_per_s < 2500 || s->arenas[k].free_per_s < 2500)
			fail_msg("arena %u: %.1f allocs/s, %.1f frees/s; expected >= 2500 each (5000 in 2 s)",
			         my_arena, s->arenas[k].alloc_per_s, s->arenas[k].free_per_s);
		assert_true(s->arenas[k].alloc_per_s < 2500 + 500);
		return;
	}
	fail_msg("this thread's arena %u is not in the snapshot", my_arena);
}

static void test_je_sample(void **state)
{
	struct alloc_sample a;

	(void)state;
	if (!need_jemalloc())
		skip();
	alloc_sample(&a);
	assert_true(a.known);
	assert_string_equal(a.name, "jemalloc");
	assert_true(a.allocated > 0 && a.allocated <= a.active && a.active <= a.resident + (1u << 20));
	assert_string_equal(alloc_name(), "jemalloc");
}

/*
 * In the binary linked with jemalloc, jemalloc must be detected: a detection that fails here
 * (e.g. a compiler folding the two reads of thread.allocated around malloc into one) would
 * silently turn every jemalloc figure off. Only a sanitizer's malloc excuses it.
 */
static void test_je_detected_when_linked(void **state)
{
	(void)state;
#ifdef TEST_LINKED_JEMALLOC
	if (dlsym(RTLD_DEFAULT, "__asan_init") != NULL)
		skip();
	if (jemalloc_get() == NULL)
		fail_msg("linked with jemalloc, yet jemalloc_get() says it is not the allocator: if "
		         "probes/jemalloc.c reads *allocatedp before and after malloc() through a plain "
		         "uint64_t *, GCC folds the two reads (malloc is a builtin that clobbers no "
		         "memory); it must read through a volatile uint64_t *");
	assert_string_equal(alloc_name(), "jemalloc");
	assert_non_null(strstr(alloc_version(), "."));
#else
	skip();
#endif
}

/* ---- glibc ------------------------------------------------------------------------------- */

static void test_glibc_figures_and_rate_limit(void **state)
{
	struct cmd_error err;
	json_t *r1, *r2, *r3;
	void *blocks[100];
	struct alloc_sample a;

	(void)state;
	if (!need_glibc())
		skip();
	for (int i = 0; i < 100; i++)
		blocks[i] = malloc(100000);    /* 10 MB in heap blocks (below the 128 kB mmap threshold) */
	r1 = run_alloc("{\"cmd\":\"alloc\"}", &err);
	assert_non_null(r1);
	assert_string_equal(json_string_value(json_object_get(r1, "allocator")), "glibc");
	assert_true(jget(r1, "mallinfo2/in_use_bytes") >= 100 * 100000);
	assert_true(json_array_size(json_object_get(r1, "arenas")) >= 1);
	assert_int_equal(jget(r1, "arenas/0/nr"), 0);
	assert_true(jget(r1, "arenas/0/system_bytes") >= 100 * 100000);
	assert_false(json_is_true(json_object_get(json_object_get(r1, "cost"), "cached")));
	assert_true(json_real_value(json_object_get(json_object_get(r1, "cost"), "mallinfo2_us")) > 0);
	assert_true(json_real_value(json_object_get(json_object_get(r1, "cost"), "malloc_info_us")) > 0);

	/* At once again: the cached reading, with its age, not a new one. */
	for (int i = 0; i < 100; i++)
		free(blocks[i]);
	r2 = run_alloc("{\"cmd\":\"alloc\"}", &err);
	assert_non_null(r2);
	assert_true(json_is_true(json_object_get(json_object_get(r2, "cost"), "cached")));
	assert_true(json_real_value(json_object_get(json_object_get(r2, "cost"), "age_s")) < 1.0);
	assert_true(json_real_value(json_object_get(json_object_get(r2, "cost"), "next_refresh_in_s")) >
	            0);
	assert_int_equal(jget(r2, "mallinfo2/in_use_bytes"), jget(r1, "mallinfo2/in_use_bytes"));

	/* A second later: a fresh reading that sees the frees. */
	usleep(1100 * 1000);
	r3 = run_alloc("{\"cmd\":\"alloc\"}", &err);
	assert_non_null(r3);
	assert_false(json_is_true(json_object_get(json_object_get(r3, "cost"), "cached")));
	assert_true(jget(r3, "mallinfo2/in_use_bytes") + 90 * 100000 <=
	            jget(r1, "mallinfo2/in_use_bytes"));
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);

	alloc_sample(&a);
	assert_false(a.known);
	assert_string_equal(a.name, "glibc");
}

/* ---- either allocator ---------------------------------------------------------------------- */

static void test_parse_malloc_info(void **state)
{
	static const char xml[] =
		"<malloc version=\"1\">\n"
		"<heap nr=\"0\">\n<sizes>\n<size from=\"33\" to=\"48\" total=\"96\" count=\"2\"/>\n"
		"<unsorted from=\"1\" to=\"2\" total=\"3\" count=\"4\"/>\n</sizes>\n"
		"<total type=\"fast\" count=\"2\" size=\"96\"/>\n"
		"<total type=\"rest\" count=\"5\" size=\"70000\"/>\n"
		"<system type=\"current\" size=\"135168\"/>\n<system type=\"max\" size=\"200000\"/>\n"
		"<aspace type=\"total\" size=\"135168\"/>\n<aspace type=\"mprotect\" size=\"135168\"/>\n"
		"</heap>\n"
		"<heap nr=\"1\">\n<sizes>\n</sizes>\n"
		"<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
		"<total type=\"rest\" count=\"1\" size=\"1000\"/>\n"
		"<system type=\"current\" size=\"132000\"/>\n<system type=\"max\" size=\"132000\"/>\n"
		"<aspace type=\"total\" size=\"132000\"/>\n<aspace type=\"mprotect\" size=\"132000\"/>\n"
		"</heap>\n"
		"<total type=\"fast\" count=\"2\" size=\"96\"/>\n"
		"<total type=\"rest\" count=\"6\" size=\"71000\"/>\n"
		"<total type=\"mmap\" count=\"3\" size=\"3000000\"/>\n"
		"<system type=\"current\" size=\"267168\"/>\n<system type=\"max\" size=\"332000\"/>\n"
		"<aspace type=\"total\" size=\"267168\"/>\n<aspace type=\"mprotect\" size=\"267168\"/>\n"
		"</malloc>\n";
	struct alloc_glibc_snapshot s = {0};

	(void)state;
	assert_int_equal(alloc_glibc_parse_info(xml, &s), 0);
	assert_int_equal(s.narenas, 2);
	assert_int_equal(s.arenas[0].nr, 0);
	assert_int_equal(s.arenas[0].fast_count, 2);
	assert_int_equal(s.arenas[0].fast_bytes, 96);
	assert_int_equal(s.arenas[0].rest_count, 5);
	assert_int_equal(s.arenas[0].rest_bytes, 70000);
	assert_int_equal(s.arenas[0].system_current, 135168);
	assert_int_equal(s.arenas[0].system_max, 200000);
	assert_int_equal(s.arenas[1].nr, 1);
	assert_int_equal(s.arenas[1].rest_bytes, 1000);
	assert_int_equal(s.mmap_count, 3);
	assert_int_equal(s.mmap_bytes, 3000000);
	assert_int_equal(s.total_system_current, 267168);
	assert_int_equal(s.total_system_max, 332000);
	assert_int_equal(alloc_glibc_parse_info("<html>", &s), -1);
	assert_int_equal(alloc_glibc_parse_info("<malloc version=\"1\"><heap nr=\"0\">", &s), -1);
	free(s.arenas);
}

static void test_bad_arguments(void **state)
{
	struct cmd_error err;

	(void)state;
	assert_null(run_alloc("{\"cmd\":\"alloc\",\"sort\":\"bogus\"}", &err));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	assert_non_null(strstr(err.message, "sort"));
	assert_null(run_alloc("{\"cmd\":\"alloc\",\"limit\":0}", &err));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	assert_null(run_alloc("{\"cmd\":\"alloc\",\"limit\":\"ten\"}", &err));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
	assert_null(run_alloc("{\"cmd\":\"alloc\",\"sorting\":\"size\"}", &err));
	assert_string_equal(err.code, ERR_BAD_ARGUMENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_malloc_info),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_je_detected_when_linked),
		cmocka_unit_test(test_je_sample),
		cmocka_unit_test(test_je_snapshot_matches_stats_print),
		cmocka_unit_test(test_je_command_matches_stats_print),
		cmocka_unit_test(test_je_command_rate_limited),
		cmocka_unit_test(test_je_checkerboard),
		cmocka_unit_test(test_je_rates_from_ticks),
		cmocka_unit_test(test_glibc_figures_and_rate_limit),
	};

	stats_cap = 8u << 20;
	stats_buf = malloc(stats_cap);
	return cmocka_run_group_tests(tests, ws_setup, ws_teardown);
}
