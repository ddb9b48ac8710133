/*
 * bench_alloc.c - what a full jemalloc `alloc` refresh costs the agent thread, with 10 arenas
 * initialised (arena 0 and 9 made with arenas.create, each holding a working set).
 *
 * Prints the median (and p90) of:
 *   - alloc_je_refresh(): epoch + global + arenas + size classes + large extents through MIBs
 *     looked up once (what every `alloc` request and the Memory tab's refresh does);
 *   - the whole `alloc` command (the reading plus building its JSON reply);
 *   - the same reading done by name with mallctl(), as a naive probe would;
 * and the ratios to the 100 us target (issue 5) and between the MIB and by-name readings.
 *
 *   tests/bench/bench_alloc [ITERATIONS]      (default 2000)
 */
#include "config.h"

#include <jemalloc/jemalloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "bench.h"
#include "command.h"

extern const struct command_entry cmd_alloc_entry;

#define TARGET_US 100.0
#define ARENAS 10

/* The same figures as alloc_je_refresh, read by name each time. */
static volatile uint64_t bench_sink;

static void bench_read_name(const char *name, size_t len)
{
	uint64_t v = 0;
	size_t l = len;

	if (mallctl(name, &v, &l, NULL, 0) == 0)
		bench_sink += v;
}

static void bench_by_name(void)
{
	static const char *const arena_stats[] = {
		"nthreads", "pactive", "pdirty", "pmuzzy", "small.allocated", "small.nmalloc",
		"small.ndalloc", "small.nrequests", "large.allocated", "large.nmalloc", "large.ndalloc",
		"large.nrequests", "dirty_decay_ms", "muzzy_decay_ms"};
	static const char *const bin_stats[] = {"curregs", "curslabs", "nonfull_slabs", "nmalloc",
	                                         "ndalloc"};
	static const char *const globals[] = {"stats.allocated", "stats.active", "stats.metadata",
	                                      "stats.resident", "stats.mapped", "stats.retained"};
	char name[128];
	uint64_t e = 1;
	size_t len = sizeof e;
	unsigned narenas = 0, nbins = 0, nlextents = 0;
	bool b;

	mallctl("epoch", &e, &len, &e, sizeof e);
	for (size_t i = 0; i < sizeof globals / sizeof *globals; i++)
		bench_read_name(globals[i], sizeof(size_t));
	bench_read_name("stats.arenas.4096.tcache_bytes", sizeof(size_t));
	len = sizeof b;
	mallctl("background_thread", &b, &len, NULL, 0);
	len = sizeof narenas;
	mallctl("arenas.narenas", &narenas, &len, NULL, 0);
	mallctl("arenas.nbins", &nbins, &len, NULL, 0);
	mallctl("arenas.nlextents", &nlextents, &len, NULL, 0);
	for (unsigned i = 0; i < narenas; i++) {
		snprintf(name, sizeof name, "arena.%u.initialized", i);
		len = sizeof b;
		if (mallctl(name, &b, &len, NULL, 0) != 0 || !b)
			continue;
		for (size_t k = 0; k < sizeof arena_stats / sizeof *arena_stats; k++) {
			snprintf(name, sizeof name, "stats.arenas.%u.%s", i, arena_stats[k]);
			bench_read_name(name, k == 0 ? sizeof(unsigned) : sizeof(size_t));
		}
	}
	for (unsigned j = 0; j < nbins; j++)
		for (size_t k = 0; k < sizeof bin_stats / sizeof *bin_stats; k++) {
			snprintf(name, sizeof name, "stats.arenas.4096.bins.%u.%s", j, bin_stats[k]);
			bench_read_name(name, sizeof(size_t));
		}
	for (unsigned j = 0; j < nlextents; j++) {
		snprintf(name, sizeof name, "stats.arenas.4096.lextents.%u.curlextents", j);
		bench_read_name(name, sizeof(size_t));
	}
	bench_read_name("stats.arenas.4096.large.allocated", sizeof(size_t));
	bench_read_name("stats.arenas.4096.large.nmalloc", sizeof(uint64_t));
	bench_read_name("stats.arenas.4096.large.ndalloc", sizeof(uint64_t));
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	double *mib = malloc((size_t)n * sizeof *mib), *cmd = malloc((size_t)n * sizeof *cmd);
	double *byname = malloc((size_t)n * sizeof *byname);
	const struct alloc_je_snapshot *s = NULL;
	const char *cause = NULL;
	json_t *req = json_pack("{s:s}", "cmd", "alloc");
	double m_mib, m_cmd, m_name;

	if (n < 10 || mib == NULL || cmd == NULL || byname == NULL) {
		fprintf(stderr, "usage: bench_alloc [ITERATIONS >= 10]\n");
		return 2;
	}
	/* Ten initialised arenas, each with small and large objects in several classes. */
	for (int a = 0; a < ARENAS; a++) {
		unsigned idx = 0;
		size_t len = sizeof idx;

		if (a > 0 && mallctl("arenas.create", &idx, &len, NULL, 0) != 0) {
			fprintf(stderr, "bench_alloc: arenas.create failed: is jemalloc the allocator?\n");
			return 1;
		}
		for (int i = 0; i < 2000; i++)
			mallocx((size_t)(16 + (i % 40) * 48), MALLOCX_ARENA(idx) | MALLOCX_TCACHE_NONE);
		for (int i = 0; i < 20; i++)
			mallocx((size_t)(20000 + i * 9000), MALLOCX_ARENA(idx) | MALLOCX_TCACHE_NONE);
	}
	s = alloc_je_refresh(&cause);
	if (s == NULL) {
		fprintf(stderr, "bench_alloc: %s\n", cause);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		double t0 = bench_now_us(), t1, t2, t3;
		json_t *result = NULL;
		struct cmd_error err;

		alloc_je_refresh(&cause);
		t1 = bench_now_us();
		if (cmd_alloc_entry.exec(req, &result, &err) != 0) {
			fprintf(stderr, "bench_alloc: alloc failed: %s\n", err.message);
			return 1;
		}
		t2 = bench_now_us();
		json_decref(result);
		t3 = bench_now_us();
		bench_by_name();
		byname[i] = bench_now_us() - t3;
		mib[i] = t1 - t0;
		cmd[i] = t2 - t1;
	}
	printf("bench_alloc: jemalloc %s, %u initialised arenas of %u slots, %u size classes, "
	       "%u large classes, %d iterations\n",
	       alloc_version(), s->ninit, s->narenas, s->nbins, s->nlextents, n);
	m_mib = bench_quantile(mib, n, 0.5);
	m_cmd = bench_quantile(cmd, n, 0.5);
	m_name = bench_quantile(byname, n, 0.5);
	printf("  refresh through cached MIBs: median %.1f us (p90 %.1f us) = %.2f x the %.0f us target\n",
	       m_mib, bench_quantile(mib, n, 0.9), m_mib / TARGET_US, TARGET_US);
	printf("  whole alloc command (reading + JSON reply): median %.1f us (p90 %.1f us) = %.2f x "
	       "target\n",
	       m_cmd, bench_quantile(cmd, n, 0.9), m_cmd / TARGET_US);
	printf("  same reading by name with mallctl(): median %.1f us (p90 %.1f us); MIB reading is "
	       "%.1f x faster\n",
	       m_name, bench_quantile(byname, n, 0.9), m_name / m_mib);
	json_decref(req);
	free(mib);
	free(cmd);
	free(byname);
	return m_mib <= TARGET_US ? 0 : 1;
}
