/*
 * cmd_alloc.c - the `alloc` command: the allocator's figures, each with its unit and, for derived
 * ones, the sentence that says how it is computed (DESIGN.md principle 5).
 *
 *   jemalloc: global, derived, peaks, arenas, size classes (sorted, limited), large extents,
 *             decay and background-thread settings, the cost of the reading.
 *   glibc:    mallinfo2 totals and malloc_info per-arena figures, rate-limited, with their cost.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "alloc.h"
#include "command.h"
#include "proto.h"

enum alloc_sort { SORT_WASTE, SORT_SIZE, SORT_UTIL, SORT_REGIONS };
static const char *const alloc_sort_names[] = {"waste", "size", "util", "regions", NULL};

#define EXPLAIN_USAGE "allocated / resident: the share of the allocator's resident memory that " \
	"the application holds; low means memory is kept in caches, free slabs or dirty pages"
#define EXPLAIN_FRAGMENTATION "1 - allocated / active: the share of active pages not holding " \
	"application data (free regions in slabs, page rounding); high means fragmentation"
#define EXPLAIN_OVERHEAD "resident - allocated, bytes: what the allocator keeps resident beyond " \
	"what the application holds (metadata, dirty pages, slab slack, thread caches)"
#define EXPLAIN_PEAKS "highest value seen at sampling ticks and alloc readings since the agent " \
	"started; a spike shorter than the sampling interval can be missed"
#define EXPLAIN_UTIL "regions / (slabs x regions_per_slab): how full this size class's slabs are"
#define EXPLAIN_WASTE "(slabs x regions_per_slab - regions) x size_bytes: bytes of free regions " \
	"held in this class's slabs"
#define EXPLAIN_RATES "alloc_per_s: (small+large nrequests now - then) / window seconds, " \
	"requests served by thread caches included once jemalloc merges them; free_per_s: " \
	"(small+large ndalloc now - then) / window seconds, frees held in thread caches count " \
	"when the cache is flushed"

/* The size-class order the client asked for; ties by size so the order is stable. */
static int alloc_sort_key;

/* qsort order of size classes for the sort the client asked (alloc_sort_key). */
static int alloc_bin_cmp(const void *pa, const void *pb)
{
	const struct alloc_je_bin *a = pa, *b = pb;
	double ka = 0, kb = 0;

	switch (alloc_sort_key) {
	case SORT_WASTE:
		ka = (double)alloc_je_bin_waste(b);
		kb = (double)alloc_je_bin_waste(a);
		break;
	case SORT_UTIL: /* least utilised first, empty classes last */
		ka = a->slabs ? alloc_je_bin_utilization(a) : 2.0;
		kb = b->slabs ? alloc_je_bin_utilization(b) : 2.0;
		break;
	case SORT_REGIONS:
		ka = (double)b->regions;
		kb = (double)a->regions;
		break;
	default:
		break;
	}
	if (ka != kb)
		return ka < kb ? -1 : 1;
	return a->size_bytes < b->size_bytes ? -1 : a->size_bytes > b->size_bytes;
}

/* A derived figure on the wire: its value and how it is computed. */
static json_t *alloc_explained(json_t *value, const char *explain)
{
	return json_pack("{s:o,s:s}", "value", value, "explain", explain);
}

/* The build configuration and settings, so an operator knows what is measured. */
static json_t *alloc_je_config_json(const struct alloc_je_config *c)
{
	return json_pack("{s:s,s:b,s:b,s:b,s:b,s:b,s:i,s:s,s:s,s:s,s:I,s:I}", "version", c->version,
	                 "stats", c->config_stats, "prof", c->config_prof, "debug", c->config_debug,
	                 "opt_prof", c->opt_prof, "tcache", c->opt_tcache, "narenas",
	                 (int)c->opt_narenas, "percpu_arena", c->opt_percpu_arena, "thp", c->opt_thp,
	                 "metadata_thp", c->opt_metadata_thp, "page_bytes", (json_int_t)c->page_bytes,
	                 "quantum_bytes", (json_int_t)c->quantum_bytes);
}

/* One row per initialised arena; rates are null until two readings exist. */
static json_t *alloc_je_arenas_json(const struct alloc_je_snapshot *s)
{
	json_t *rows = json_array();

	for (unsigned k = 0; k < s->ninit; k++) {
		const struct alloc_je_arena *a = &s->arenas[k];
		json_t *row = json_pack(
			"{s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "index", (int)a->index, "threads",
			(int)a->threads, "active_bytes", (json_int_t)a->active_bytes, "dirty_bytes",
			(json_int_t)a->dirty_bytes, "muzzy_bytes", (json_int_t)a->muzzy_bytes,
			"small_allocated_bytes", (json_int_t)a->small_allocated_bytes,
			"large_allocated_bytes", (json_int_t)a->large_allocated_bytes, "nmalloc",
			(json_int_t)a->nmalloc, "ndalloc", (json_int_t)a->ndalloc, "nrequests",
			(json_int_t)a->nrequests, "dirty_decay_ms",
			(json_int_t)a->dirty_decay_ms, "muzzy_decay_ms", (json_int_t)a->muzzy_decay_ms);

		json_object_set_new(row, "alloc_per_s",
		                    a->rates_known ? json_real(a->alloc_per_s) : json_null());
		json_object_set_new(row, "free_per_s",
		                    a->rates_known ? json_real(a->free_per_s) : json_null());
		json_array_append_new(rows, row);
	}
	return rows;
}

/* Size classes, sorted and limited; the sort works on a copy so the snapshot keeps size order. */
static json_t *alloc_je_bins_json(const struct alloc_je_snapshot *s, int sort, long long limit)
{
	struct alloc_je_bin *bins = malloc(s->nbins * sizeof *bins);
	json_t *rows = json_array();
	uint64_t waste = 0, capacity_bytes = 0, used_bytes = 0;

	if (bins == NULL)
		return NULL;
	memcpy(bins, s->bins, s->nbins * sizeof *bins);
	alloc_sort_key = sort;
	qsort(bins, s->nbins, sizeof *bins, alloc_bin_cmp);
	for (unsigned j = 0; j < s->nbins; j++) {
		const struct alloc_je_bin *b = &bins[j];

		waste += alloc_je_bin_waste(b);
		capacity_bytes += b->slabs * b->regions_per_slab * b->size_bytes;
		used_bytes += b->regions * b->size_bytes;
		if ((long long)j >= limit)
			continue;
		json_array_append_new(
			rows, json_pack("{s:i,s:I,s:i,s:I,s:I,s:I,s:I,s:f,s:I,s:I,s:I}", "index",
			                (int)b->index, "size_bytes", (json_int_t)b->size_bytes,
			                "regions_per_slab", (int)b->regions_per_slab, "slab_bytes",
			                (json_int_t)b->slab_bytes, "regions", (json_int_t)b->regions, "slabs",
			                (json_int_t)b->slabs, "nonfull_slabs", (json_int_t)b->nonfull_slabs,
			                "utilization", alloc_je_bin_utilization(b), "wasted_bytes",
			                (json_int_t)alloc_je_bin_waste(b), "nmalloc", (json_int_t)b->nmalloc,
			                "ndalloc", (json_int_t)b->ndalloc));
	}
	free(bins);
	return json_pack("{s:s,s:i,s:o,s:I,s:f,s:{s:s,s:s}}", "sort", alloc_sort_names[sort], "total",
	                 (int)s->nbins, "rows", rows, "wasted_bytes", (json_int_t)waste,
	                 "utilization", capacity_bytes ? (double)used_bytes / (double)capacity_bytes : 0.0,
	                 "explain", "utilization", EXPLAIN_UTIL, "wasted_bytes", EXPLAIN_WASTE);
}

/* Large extents: totals and the classes holding the most bytes. */
static json_t *alloc_je_large_json(const struct alloc_je_snapshot *s, long long limit)
{
	json_t *top = json_array();
	unsigned *order = malloc((s->nlextents ? s->nlextents : 1) * sizeof *order);
	unsigned n = 0;

	if (order == NULL)
		return NULL;
	for (unsigned j = 0; j < s->nlextents; j++)
		if (s->lextents[j].extents > 0)
			order[n++] = j;
	/* Insertion sort by bytes: few classes are ever in use at once. */
	for (unsigned i = 1; i < n; i++) {
		unsigned v = order[i], k = i;
		uint64_t bv = s->lextents[v].extents * s->lextents[v].size_bytes;

		while (k > 0 && s->lextents[order[k - 1]].extents * s->lextents[order[k - 1]].size_bytes < bv) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = v;
	}
	for (unsigned i = 0; i < n && (long long)i < limit; i++) {
		const struct alloc_je_lextent *l = &s->lextents[order[i]];

		json_array_append_new(top, json_pack("{s:I,s:I,s:I}", "size_bytes",
		                                     (json_int_t)l->size_bytes, "extents",
		                                     (json_int_t)l->extents, "bytes",
		                                     (json_int_t)(l->extents * l->size_bytes)));
	}
	free(order);
	return json_pack("{s:I,s:I,s:I,s:I,s:i,s:o}", "allocated_bytes",
	                 (json_int_t)s->large_allocated, "extents", (json_int_t)s->large_extents,
	                 "nmalloc", (json_int_t)s->large_nmalloc, "ndalloc",
	                 (json_int_t)s->large_ndalloc, "classes_in_use", (int)n, "top", top);
}

typedef void (*alloc_stats_print_fn)(void (*write_cb)(void *, const char *), void *cbopaque,
                                     const char *opts);

/* malloc_stats_print writes into a buffer allocated and touched before our reading, so that
 * neither reading sees the other's memory move (a growing memstream would). */
#define ALLOC_STATS_BUFFER (2u << 20)

struct alloc_stats_buf {
	char *text;
	size_t len, cap;
	int truncated;
};

/* malloc_stats_print's output callback: append, or mark the buffer truncated. */
static void alloc_stats_write(void *opaque, const char *text)
{
	struct alloc_stats_buf *b = opaque;
	size_t n = strlen(text);

	if (b->len + n >= b->cap) {
		b->truncated = 1;
		return;
	}
	memcpy(b->text + b->len, text, n);
	b->len += n;
}

/*
 * jemalloc's own view, for checking ours: malloc_stats_print's JSON taken right after our reading
 * ("Jxeh": no mutex, extent or HPA detail), trimmed to the global stats, each arena's totals and
 * the merged size classes. Costs milliseconds (it locks every arena): only on request.
 */
static json_t *alloc_je_stats_print(struct alloc_stats_buf *b)
{
	alloc_stats_print_fn print = (alloc_stats_print_fn)dlsym(RTLD_DEFAULT, "malloc_stats_print");
	json_t *root, *je, *arenas, *out;
	const char *key;
	json_t *value;

	if (print == NULL || b->text == NULL)
		return NULL;
	print(alloc_stats_write, b, "Jxeh");
	if (b->truncated)
		return NULL;
	root = json_loadb(b->text, b->len, 0, NULL);
	je = json_object_get(root, "jemalloc");
	if (je == NULL) {
		json_decref(root);
		return NULL;
	}
	arenas = json_object_get(je, "stats.arenas");
	json_object_foreach(arenas, key, value) {
		if (strcmp(key, "merged") != 0) {
			json_object_del(value, "bins");
			json_object_del(value, "lextents");
		}
	}
	out = json_pack("{s:O,s:O,s:O,s:O}", "version", json_object_get(je, "version"), "page",
	                json_object_get(json_object_get(je, "arenas"), "page"), "stats",
	                json_object_get(je, "stats"), "stats.arenas", arenas);
	json_decref(root);
	return out;
}

/* The jemalloc reply: reading first, then (on request) jemalloc's own, then JSON. */
static int alloc_jemalloc_result(int sort, long long limit, int with_stats, json_t **result,
                                 struct cmd_error *err)
{
	const char *cause = NULL;
	const struct alloc_je_config *c;
	const struct alloc_je_snapshot *s;
	json_t *bins, *large, *r, *theirs = NULL;
	struct alloc_stats_buf buf = {0};
	uint64_t t0;
	int cached = 0;

	if (with_stats) {
		buf.cap = ALLOC_STATS_BUFFER;
		buf.text = malloc(buf.cap);
		if (buf.text == NULL)
			return cmd_fail(err, ERR_INTERNAL, "out of memory for jemalloc_stats' buffer");
		memset(buf.text, 0, buf.cap);   /* resident before our reading, like after it */
	}
	c = alloc_je_config(&cause);
	/* jemalloc_stats is compared with a reading taken at the same moment: never a cached one */
	s = with_stats ? alloc_je_refresh(&cause)
	               : alloc_je_refresh_limited(ALLOC_JE_MIN_INTERVAL_NS, &cached, &cause);
	t0 = agent_now_ns();
	if (s == NULL) {
		free(buf.text);
		if (c == NULL)
			return cmd_fail(err, ERR_UNSUPPORTED, "%s", cause);
		/* jemalloc without statistics: its configuration still says what it is. */
		*result = json_pack("{s:s,s:s,s:o,s:s}", "allocator", "jemalloc", "version", c->version,
		                    "config", alloc_je_config_json(c), "message", cause);
		return 0;
	}
	if (with_stats) {
		theirs = alloc_je_stats_print(&buf);
		free(buf.text);
		if (theirs == NULL)
			return cmd_fail(err, ERR_INTERNAL,
			                "malloc_stats_print gave no usable JSON%s",
			                buf.truncated ? " (more than 2 MiB: too many arenas)" : "");
	}
	bins = alloc_je_bins_json(s, sort, limit);
	large = alloc_je_large_json(s, limit);
	if (bins == NULL || large == NULL) {
		json_decref(bins);
		json_decref(large);
		json_decref(theirs);
		return cmd_fail(err, ERR_INTERNAL, "out of memory while building the alloc reply");
	}
	r = json_pack("{s:s,s:s,s:s,s:o}", "allocator", "jemalloc", "version", c->version, "source",
	              "jemalloc mallctl stats.* and arenas.*, read through MIBs looked up once, after "
	              "an epoch bump", "config",
	              alloc_je_config_json(c));
	json_object_set_new(
		r, "global",
		json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "allocated_bytes", (json_int_t)s->allocated,
		          "active_bytes", (json_int_t)s->active, "metadata_bytes", (json_int_t)s->metadata,
		          "resident_bytes", (json_int_t)s->resident, "mapped_bytes", (json_int_t)s->mapped,
		          "retained_bytes", (json_int_t)s->retained, "tcache_bytes",
		          (json_int_t)s->tcache_bytes));
	json_object_set_new(
		r, "derived",
		json_pack("{s:o,s:o,s:o}", "usage",
		          alloc_explained(json_real(alloc_je_usage(s)), EXPLAIN_USAGE), "fragmentation",
		          alloc_explained(json_real(alloc_je_fragmentation(s)), EXPLAIN_FRAGMENTATION),
		          "overhead_bytes",
		          alloc_explained(json_integer(alloc_je_overhead(s)), EXPLAIN_OVERHEAD)));
	json_object_set_new(
		r, "peaks",
		json_pack("{s:I,s:I,s:I,s:f,s:s}", "allocated_bytes", (json_int_t)s->peak_allocated,
		          "active_bytes", (json_int_t)s->peak_active, "resident_bytes",
		          (json_int_t)s->peak_resident, "since_s",
		          (double)(s->at_ns - s->peaks_since_ns) / 1e9, "explain", EXPLAIN_PEAKS));
	json_object_set_new(r, "arenas", alloc_je_arenas_json(s));
	json_object_set_new(r, "arena_slots", json_integer(s->narenas));
	json_object_set_new(r, "rates", json_pack("{s:f,s:s,s:s}", "window_s", s->rate_window_s,
	                                          "source", s->rate_source, "explain", EXPLAIN_RATES));
	json_object_set_new(r, "bins", bins);
	json_object_set_new(r, "large", large);
	json_object_set_new(r, "decay",
	                    json_pack("{s:I,s:I,s:s}", "dirty_decay_ms",
	                              (json_int_t)c->opt_dirty_decay_ms, "muzzy_decay_ms",
	                              (json_int_t)c->opt_muzzy_decay_ms, "explain",
	                              "milliseconds before unused dirty (then muzzy) pages are "
	                              "returned to the system; -1 never, 0 at once; per-arena values "
	                              "are in arenas[]"));
	json_object_set_new(r, "background_thread",
	                    json_pack("{s:b,s:b,s:I}", "enabled", c->background_thread, "opt",
	                              c->opt_background_thread, "max_threads",
	                              (json_int_t)c->max_background_threads));
	if (with_stats)
		json_object_set_new(r, "jemalloc_stats", theirs);
	json_object_set_new(r, "read_cost_us", json_real((double)s->cost_ns / 1e3));
	json_object_set_new(r, "cached", json_boolean(cached));
	json_object_set_new(r, "age_s", json_real(t0 > s->at_ns ? (double)(t0 - s->at_ns) / 1e9 : 0.0));
	json_object_set_new(r, "min_interval_ms",
	                    json_integer((json_int_t)(ALLOC_JE_MIN_INTERVAL_NS / 1000000)));
	json_object_set_new(r, "reply_cost_us", json_real((double)(agent_now_ns() - t0) / 1e3));
	*result = r;
	return 0;
}

/* The glibc reply: mallinfo2, malloc_info's arenas, and what reading them cost. */
static int alloc_glibc_result(json_t **result, struct cmd_error *err)
{
	const char *cause = NULL;
	int cached;
	double age_s, next_s;
	const struct alloc_glibc_snapshot *s = alloc_glibc_refresh(&cached, &age_s, &next_s, &cause);
	json_t *arenas, *r;

	if (s == NULL)
		return cmd_fail(err, ERR_INTERNAL, "%s", cause);
	arenas = json_array();
	for (size_t i = 0; i < s->narenas; i++) {
		const struct alloc_glibc_arena *a = &s->arenas[i];
		uint64_t free_bytes = a->fast_bytes + a->rest_bytes;

		json_array_append_new(
			arenas,
			json_pack("{s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "nr", a->nr, "system_bytes",
			          (json_int_t)a->system_current, "system_max_bytes",
			          (json_int_t)a->system_max, "free_bytes", (json_int_t)free_bytes,
			          "in_use_bytes",
			          (json_int_t)(a->system_current > free_bytes ? a->system_current - free_bytes
			                                                      : 0),
			          "fast_chunks", (json_int_t)a->fast_count, "fast_bytes",
			          (json_int_t)a->fast_bytes, "free_chunks", (json_int_t)a->rest_count,
			          "aspace_bytes", (json_int_t)a->aspace_total, "aspace_mprotect_bytes",
			          (json_int_t)a->aspace_mprotect));
	}
	r = json_pack("{s:s,s:s,s:s}", "allocator", "glibc", "version", alloc_version(), "source",
	              "glibc mallinfo2() (totals) and malloc_info() (per arena), rate-limited");
	json_object_set_new(
		r, "mallinfo2",
		json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "arena_bytes",
		          (json_int_t)s->arena_bytes, "in_use_bytes", (json_int_t)s->uordblks,
		          "free_bytes", (json_int_t)s->fordblks, "free_chunks", (json_int_t)s->ordblks,
		          "fastbin_chunks", (json_int_t)s->smblks, "fastbin_free_bytes",
		          (json_int_t)s->fsmblks, "mmap_chunks", (json_int_t)s->hblks, "mmap_bytes",
		          (json_int_t)s->hblkhd, "releasable_bytes", (json_int_t)s->keepcost));
	json_object_set_new(
		r, "derived",
		json_pack("{s:o,s:o}", "allocated_bytes",
		          alloc_explained(json_integer((json_int_t)(s->uordblks + s->hblkhd)),
		                          "mallinfo2 uordblks + hblkhd: bytes in use in arenas plus "
		                          "mmapped chunks"),
		          "free_share",
		          alloc_explained(json_real(s->arena_bytes ? (double)s->fordblks /
		                                                         (double)s->arena_bytes
		                                                   : 0.0),
		                          "fordblks / arena: the share of the arenas' memory that is "
		                          "free chunks (glibc's fragmentation)")));
	json_object_set_new(r, "arenas", arenas);
	json_object_set_new(r, "arenas_explain",
	                    json_string("per malloc_info heap: system_bytes obtained from the system, "
	                                "free_bytes in free chunks (fastbins, bins, unsorted, top), "
	                                "in_use_bytes = system_bytes - free_bytes"));
	json_object_set_new(r, "mmap", json_pack("{s:I,s:I}", "chunks", (json_int_t)s->mmap_count,
	                                         "bytes", (json_int_t)s->mmap_bytes));
	json_object_set_new(
		r, "cost",
		json_pack("{s:f,s:f,s:b,s:f,s:f,s:s}", "mallinfo2_us",
		          (double)s->mallinfo_cost_ns / 1e3, "malloc_info_us",
		          (double)s->malloc_info_cost_ns / 1e3, "cached", cached, "age_s", age_s,
		          "next_refresh_in_s", next_s, "explain",
		          "mallinfo2 and malloc_info lock every arena and walk the free chunks, so they "
		          "run at most once per second (longer when a reading costs more than 50 ms); "
		          "between readings the cached figures are returned with their age"));
	*result = r;
	return 0;
}

/* alloc: the allocator's figures (jemalloc in full, glibc rate-limited). */
static int cmd_alloc_exec(const json_t *req, json_t **result, struct cmd_error *err)
{
	static const char *const keys[] = {"sort", "limit", "jemalloc_stats", NULL};
	int sort, with_stats;
	long long limit;

	if (proto_check_keys(req, keys, err) != 0 ||
	    proto_arg_enum(req, "sort", alloc_sort_names, SORT_WASTE, &sort, err) != 0 ||
	    proto_arg_int(req, "limit", 20, 1, 1000, &limit, err) != 0 ||
	    proto_arg_bool(req, "jemalloc_stats", 0, &with_stats, err) != 0)
		return -1;
	if (strcmp(alloc_name(), "jemalloc") == 0)
		return alloc_jemalloc_result(sort, limit, with_stats, result, err);
	return alloc_glibc_result(result, err);
}

const struct command_entry cmd_alloc_entry = {
	.name = "alloc",
	.args = "[sort=waste|size|util|regions] [limit=1..1000 (20)] [jemalloc_stats=BOOL: add "
	        "malloc_stats_print's own JSON, taken right after, to check against]",
	.summary = "memory allocator: jemalloc arenas, size classes and fragmentation, or glibc "
	           "mallinfo2/malloc_info (rate-limited)",
	.exec = cmd_alloc_exec,
};
