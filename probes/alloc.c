/*
 * alloc.c - the allocator probe: jemalloc statistics through cached MIBs, glibc malloc through
 * mallinfo2()/malloc_info() with a rate limit. See alloc.h for what each figure means.
 */
#include "config.h"

#include <errno.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "alloc.h"
#include "jemalloc.h"

/* jemalloc's pseudo arena index that merges every arena (MALLCTL_ARENAS_ALL). */
#define JE_ARENAS_ALL 4096u

/* A MIB looked up once by name; `idx` lists which components are patched with an index. */
struct je_mib {
	size_t mib[8];
	size_t len;
	int ok;
};

enum je_global { G_EPOCH, G_ALLOCATED, G_ACTIVE, G_METADATA, G_RESIDENT, G_MAPPED, G_RETAINED,
                 G_NARENAS, G_BACKGROUND_THREAD, G_TCACHE_BYTES, G_LARGE_ALLOCATED,
                 G_LARGE_NMALLOC, G_LARGE_NDALLOC, G_COUNT };
static const char *const je_global_names[G_COUNT] = {
	"epoch", "stats.allocated", "stats.active", "stats.metadata", "stats.resident",
	"stats.mapped", "stats.retained", "arenas.narenas", "background_thread",
	"stats.arenas.4096.tcache_bytes", "stats.arenas.4096.large.allocated",
	"stats.arenas.4096.large.nmalloc", "stats.arenas.4096.large.ndalloc",
};

/* Per arena: component 1 ("arena.<i>.initialized") or 2 ("stats.arenas.<i>.x") is the index. */
enum je_arena { A_INITIALIZED, A_NTHREADS, A_PACTIVE, A_PDIRTY, A_PMUZZY, A_SMALL_ALLOCATED,
                A_SMALL_NMALLOC, A_SMALL_NDALLOC, A_SMALL_NREQUESTS, A_LARGE_ALLOCATED,
                A_LARGE_NMALLOC, A_LARGE_NDALLOC, A_LARGE_NREQUESTS, A_DIRTY_DECAY, A_MUZZY_DECAY,
                A_COUNT };
static const char *const je_arena_names[A_COUNT] = {
	"arena.0.initialized", "stats.arenas.0.nthreads", "stats.arenas.0.pactive",
	"stats.arenas.0.pdirty", "stats.arenas.0.pmuzzy", "stats.arenas.0.small.allocated",
	"stats.arenas.0.small.nmalloc", "stats.arenas.0.small.ndalloc",
	"stats.arenas.0.small.nrequests", "stats.arenas.0.large.allocated",
	"stats.arenas.0.large.nmalloc", "stats.arenas.0.large.ndalloc",
	"stats.arenas.0.large.nrequests", "stats.arenas.0.dirty_decay_ms",
	"stats.arenas.0.muzzy_decay_ms",
};

/* Per size class, merged: "stats.arenas.4096.bins.<j>.x", component 4 is the bin. */
enum je_bin { B_CURREGS, B_CURSLABS, B_NONFULL, B_NMALLOC, B_NDALLOC, B_COUNT };
static const char *const je_bin_names[B_COUNT] = {
	"stats.arenas.4096.bins.0.curregs", "stats.arenas.4096.bins.0.curslabs",
	"stats.arenas.4096.bins.0.nonfull_slabs", "stats.arenas.4096.bins.0.nmalloc",
	"stats.arenas.4096.bins.0.ndalloc",
};

/* Agent-thread state of the jemalloc side. */
static struct {
	int tried;
	const char *cause;
	const struct jemalloc_api *api;
	struct alloc_je_config config;
	struct je_mib global[G_COUNT];
	struct je_mib arena[A_COUNT];
	struct je_mib bin[B_COUNT];
	struct je_mib lextent_curlextents;
	struct je_mib arena_page;
	struct alloc_je_snapshot snap;
	int snap_valid;                /* snap holds a complete reading */
	size_t arena_cap;              /* entries allocated in snap.arenas */
	/* Counters of the two latest probe ticks, indexed by arena index, for the rates. */
	struct je_counts { uint64_t nrequests, ndalloc; int valid; } *tick_prev, *tick_cur, *call_prev;
	size_t counts_cap;
	uint64_t tick_prev_ns, tick_cur_ns, call_prev_ns;
	/* Latest cheap sample (alloc_sample) and the peaks. */
	uint64_t sample_ns;
	struct alloc_sample sample;
	uint64_t peak_allocated, peak_active, peak_resident, peaks_since_ns;
} je;

/* Look a name up once; the index components are patched on each read. */
static void je_lookup(struct je_mib *m, const char *name)
{
	m->len = sizeof m->mib / sizeof m->mib[0];
	m->ok = je.api->nametomib(name, m->mib, &m->len) == 0;
}

/* Read a value of exactly `len` bytes through a cached MIB. 0, or an errno value. */
static int je_read(const struct je_mib *m, void *out, size_t len)
{
	size_t got = len;
	int rc;

	if (!m->ok)
		return ENOENT;
	rc = je.api->bymib(m->mib, m->len, out, &got, NULL, 0);
	if (rc == 0 && got != len)
		return EINVAL;
	return rc;
}

/* Read through a MIB with one index component (arena or size class) patched in. */
static int je_read_idx(struct je_mib *m, size_t pos, size_t i, void *out, size_t len)
{
	m->mib[pos] = i;
	return je_read(m, out, len);
}

/* Read a setting by name, once, at initialisation; keeps the default on failure. */
static void je_setting(const char *name, void *out, size_t len)
{
	size_t got = len;

	if (je.api->mallctl(name, out, &got, NULL, 0) != 0 || got != len)
		return;
}

/* A boolean setting (config.*, opt.*), false when jemalloc does not know it. */
static int je_setting_bool(const char *name)
{
	bool b = false;

	je_setting(name, &b, sizeof b);
	return b;
}

/* The clock every reading is stamped with: the agent's monotonic clock. */
static uint64_t alloc_clock_ns(void)
{
	return agent_now_ns();
}

/*
 * Look every MIB up and read the static configuration, once. Afterwards a refresh never goes
 * through a name again (jemalloc's name lookup walks its ctl tree string by string).
 */
static int je_init_tables(void)
{
	struct alloc_je_config *c = &je.config;

	je.cause = NULL;
	je.api = jemalloc_get();
	if (je.api == NULL) {
		je.cause = "jemalloc is not this process's allocator (mallctl missing or not serving "
		           "malloc); the glibc figures apply";
		return -1;
	}
	c->version = je.api->version;
	c->config_stats = je_setting_bool("config.stats");
	c->config_prof = je_setting_bool("config.prof");
	c->config_debug = je_setting_bool("config.debug");
	c->opt_prof = je_setting_bool("opt.prof");
	c->opt_tcache = je_setting_bool("opt.tcache");
	c->opt_background_thread = je_setting_bool("opt.background_thread");
	c->opt_percpu_arena = "unknown";
	c->opt_thp = "unknown";
	c->opt_metadata_thp = "unknown";
	je_setting("opt.percpu_arena", &c->opt_percpu_arena, sizeof c->opt_percpu_arena);
	je_setting("opt.thp", &c->opt_thp, sizeof c->opt_thp);
	je_setting("opt.metadata_thp", &c->opt_metadata_thp, sizeof c->opt_metadata_thp);
	je_setting("opt.narenas", &c->opt_narenas, sizeof c->opt_narenas);
	je_setting("opt.dirty_decay_ms", &c->opt_dirty_decay_ms, sizeof c->opt_dirty_decay_ms);
	je_setting("opt.muzzy_decay_ms", &c->opt_muzzy_decay_ms, sizeof c->opt_muzzy_decay_ms);
	je_setting("max_background_threads", &c->max_background_threads,
	           sizeof c->max_background_threads);
	je_setting("arenas.page", &c->page_bytes, sizeof c->page_bytes);
	je_setting("arenas.quantum", &c->quantum_bytes, sizeof c->quantum_bytes);
	je_setting("arenas.nbins", &c->nbins, sizeof c->nbins);
	je_setting("arenas.nlextents", &c->nlextents, sizeof c->nlextents);
	if (!c->config_stats) {
		je.cause = "jemalloc was built without statistics (--disable-stats): only its "
		           "configuration can be shown";
		return -1;
	}
	if (c->page_bytes == 0 || c->nbins == 0) {
		je.cause = "jemalloc did not answer arenas.page/arenas.nbins: unsupported version";
		return -1;
	}
	for (int i = 0; i < G_COUNT; i++)
		je_lookup(&je.global[i], je_global_names[i]);
	for (int i = 0; i < A_COUNT; i++)
		je_lookup(&je.arena[i], je_arena_names[i]);
	for (int i = 0; i < B_COUNT; i++)
		je_lookup(&je.bin[i], je_bin_names[i]);
	je_lookup(&je.lextent_curlextents, "stats.arenas.4096.lextents.0.curlextents");
	if (!je.global[G_EPOCH].ok || !je.global[G_ALLOCATED].ok || !je.arena[A_PACTIVE].ok) {
		je.cause = "jemalloc did not resolve epoch/stats.allocated: unsupported version";
		return -1;
	}

	/* Size classes never change: their geometry is read once, by MIB too. */
	je.snap.nbins = c->nbins;
	je.snap.bins = calloc(c->nbins, sizeof *je.snap.bins);
	je.snap.nlextents = c->nlextents;
	je.snap.lextents = calloc(c->nlextents ? c->nlextents : 1, sizeof *je.snap.lextents);
	if (je.snap.bins == NULL || je.snap.lextents == NULL) {
		je.cause = "out of memory while preparing the jemalloc tables";
		return -1;
	}
	{
		struct je_mib size, nregs, slab, lsize;

		je_lookup(&size, "arenas.bin.0.size");
		je_lookup(&nregs, "arenas.bin.0.nregs");
		je_lookup(&slab, "arenas.bin.0.slab_size");
		je_lookup(&lsize, "arenas.lextent.0.size");
		for (unsigned j = 0; j < c->nbins; j++) {
			struct alloc_je_bin *b = &je.snap.bins[j];

			b->index = j;
			je_read_idx(&size, 2, j, &b->size_bytes, sizeof b->size_bytes);
			je_read_idx(&nregs, 2, j, &b->regions_per_slab, sizeof b->regions_per_slab);
			je_read_idx(&slab, 2, j, &b->slab_bytes, sizeof b->slab_bytes);
		}
		for (unsigned j = 0; j < c->nlextents; j++)
			je_read_idx(&lsize, 2, j, &je.snap.lextents[j].size_bytes,
			            sizeof je.snap.lextents[j].size_bytes);
	}
	/* Peaks count from the agent's start (its first tick reads them); tests have no agent. */
	je.peaks_since_ns = agent_info() != NULL && agent_info()->started_ns != 0
	                        ? agent_info()->started_ns : alloc_clock_ns();
	return 0;
}

/* je_init_tables() once. "Done" is published only after the tables are complete, so a host
 * that forks while the agent thread is half-way through leaves its child a clean retry rather
 * than a half-built table (a NULL api with no cause, seen under ASan). */
static int je_init(void)
{
	int rc;

	if (je.tried)
		return je.cause == NULL ? 0 : -1;
	rc = je_init_tables();
	atomic_thread_fence(memory_order_release);
	je.tried = 1;
	return rc;
}

/* See alloc.h: the configuration, even when statistics are missing. */
const struct alloc_je_config *alloc_je_config(const char **cause)
{
	if (je_init() != 0) {
		*cause = je.cause;
		/* Without stats the configuration is still worth showing. */
		return je.api != NULL && je.config.version != NULL ? &je.config : NULL;
	}
	return &je.config;
}

/* Bump the epoch so that jemalloc merges its per-arena counters into what we read next. */
static int je_epoch(void)
{
	uint64_t e = 1;
	size_t len = sizeof e;

	return je.api->bymib(je.global[G_EPOCH].mib, je.global[G_EPOCH].len, &e, &len, &e, sizeof e);
}

/* A size_t statistic of the current epoch (0 when unreadable). */
static uint64_t je_global_size(enum je_global g)
{
	size_t v = 0;

	je_read(&je.global[g], &v, sizeof v);
	return v;
}

/* A uint64_t counter of the current epoch (0 when unreadable). */
static uint64_t je_global_u64(enum je_global g)
{
	uint64_t v = 0;

	je_read(&je.global[g], &v, sizeof v);
	return v;
}

/* Peaks are sampled: every reading (tick, sample, command) may raise them. */
static void je_note_peaks(uint64_t allocated, uint64_t active, uint64_t resident)
{
	if (allocated > je.peak_allocated)
		je.peak_allocated = allocated;
	if (active > je.peak_active)
		je.peak_active = active;
	if (resident > je.peak_resident)
		je.peak_resident = resident;
}

/* Bump the epoch and read the three figures the sampler records (and the peaks). */
static int je_sample_now(uint64_t now)
{
	if (je_epoch() != 0)
		return -1;
	je.sample.known = 1;
	je.sample.name = "jemalloc";
	je.sample.allocated = je_global_size(G_ALLOCATED);
	je.sample.active = je_global_size(G_ACTIVE);
	je.sample.resident = je_global_size(G_RESIDENT);
	je.sample_ns = now;
	je_note_peaks(je.sample.allocated, je.sample.active, je.sample.resident);
	return 0;
}

/* Make room for arena-indexed arrays; agent thread, never on a hot path. */
static int je_reserve_arenas(unsigned narenas)
{
	if (narenas > je.arena_cap) {
		struct alloc_je_arena *a = realloc(je.snap.arenas, narenas * sizeof *a);

		if (a == NULL)
			return -1;
		je.snap.arenas = a;
		je.arena_cap = narenas;
	}
	if (narenas > je.counts_cap) {
		struct je_counts **arrays[3] = {&je.tick_prev, &je.tick_cur, &je.call_prev};

		for (int k = 0; k < 3; k++) {
			struct je_counts *n = realloc(*arrays[k], narenas * sizeof *n);

			if (n == NULL)
				return -1;
			memset(n + je.counts_cap, 0, (narenas - je.counts_cap) * sizeof *n);
			*arrays[k] = n;
		}
		je.counts_cap = narenas;
	}
	return 0;
}

/* Is arena i initialised? Uninitialised slots answer ENOENT or false. */
static int je_arena_initialized(unsigned i)
{
	bool init = false;

	return je_read_idx(&je.arena[A_INITIALIZED], 1, i, &init, sizeof init) == 0 && init;
}

/* Read one arena's counters; -1 when it vanished or is not initialised. */
static int je_read_arena(unsigned i, struct alloc_je_arena *a)
{
	size_t pactive = 0, pdirty = 0, pmuzzy = 0, small = 0, large = 0;
	uint64_t snm = 0, snd = 0, snr = 0, lnm = 0, lnd = 0, lnr = 0;

	memset(a, 0, sizeof *a);
	a->index = i;
	if (je_read_idx(&je.arena[A_NTHREADS], 2, i, &a->threads, sizeof a->threads) != 0)
		return -1;
	je_read_idx(&je.arena[A_PACTIVE], 2, i, &pactive, sizeof pactive);
	je_read_idx(&je.arena[A_PDIRTY], 2, i, &pdirty, sizeof pdirty);
	je_read_idx(&je.arena[A_PMUZZY], 2, i, &pmuzzy, sizeof pmuzzy);
	je_read_idx(&je.arena[A_SMALL_ALLOCATED], 2, i, &small, sizeof small);
	je_read_idx(&je.arena[A_LARGE_ALLOCATED], 2, i, &large, sizeof large);
	je_read_idx(&je.arena[A_SMALL_NMALLOC], 2, i, &snm, sizeof snm);
	je_read_idx(&je.arena[A_SMALL_NDALLOC], 2, i, &snd, sizeof snd);
	je_read_idx(&je.arena[A_LARGE_NMALLOC], 2, i, &lnm, sizeof lnm);
	je_read_idx(&je.arena[A_LARGE_NDALLOC], 2, i, &lnd, sizeof lnd);
	je_read_idx(&je.arena[A_SMALL_NREQUESTS], 2, i, &snr, sizeof snr);
	je_read_idx(&je.arena[A_LARGE_NREQUESTS], 2, i, &lnr, sizeof lnr);
	a->dirty_decay_ms = a->muzzy_decay_ms = -1;
	je_read_idx(&je.arena[A_DIRTY_DECAY], 2, i, &a->dirty_decay_ms, sizeof a->dirty_decay_ms);
	je_read_idx(&je.arena[A_MUZZY_DECAY], 2, i, &a->muzzy_decay_ms, sizeof a->muzzy_decay_ms);
	/* pactive/pdirty/pmuzzy are pages, not bytes (DESIGN.md, known traps). */
	a->active_bytes = (uint64_t)pactive * je.config.page_bytes;
	a->dirty_bytes = (uint64_t)pdirty * je.config.page_bytes;
	a->muzzy_bytes = (uint64_t)pmuzzy * je.config.page_bytes;
	a->small_allocated_bytes = small;
	a->large_allocated_bytes = large;
	a->nmalloc = snm + lnm;
	a->ndalloc = snd + lnd;
	a->nrequests = snr + lnr;
	return 0;
}

/* Read every initialised arena into snap.arenas; -1 on memory exhaustion. */
static int je_read_arenas(void)
{
	unsigned narenas = 0;

	je_read(&je.global[G_NARENAS], &narenas, sizeof narenas);
	if (je_reserve_arenas(narenas ? narenas : 1) != 0)
		return -1;
	je.snap.narenas = narenas;
	je.snap.ninit = 0;
	for (unsigned i = 0; i < narenas; i++) {
		if (!je_arena_initialized(i))
			continue;
		if (je_read_arena(i, &je.snap.arenas[je.snap.ninit]) == 0)
			je.snap.ninit++;
	}
	return 0;
}

/*
 * Per-arena rates between two readings of the counters (indexed by arena index): `then`, and
 * `now` or, when now is NULL, the counters just read into the snapshot.
 */
static void je_rates(const struct je_counts *then, const struct je_counts *now, uint64_t then_ns,
                     uint64_t now_ns, const char *source)
{
	double dt = (double)(now_ns - then_ns) / 1e9;

	if (now_ns <= then_ns)
		return;
	je.snap.rate_window_s = dt;
	je.snap.rate_source = source;
	for (unsigned k = 0; k < je.snap.ninit; k++) {
		struct alloc_je_arena *a = &je.snap.arenas[k];
		const struct je_counts *c = &then[a->index];
		struct je_counts cur = {a->nrequests, a->ndalloc, 1};

		if (now != NULL)
			cur = now[a->index];
		if (!c->valid || !cur.valid || cur.nrequests < c->nrequests || cur.ndalloc < c->ndalloc)
			continue;
		a->rates_known = 1;
		a->alloc_per_s = (double)(cur.nrequests - c->nrequests) / dt;
		a->free_per_s = (double)(cur.ndalloc - c->ndalloc) / dt;
	}
}

/* Remember the rate counters of the arenas just read, by arena index. */
static void je_store_counts(struct je_counts *dst)
{
	for (size_t i = 0; i < je.counts_cap; i++)
		dst[i].valid = 0;
	for (unsigned k = 0; k < je.snap.ninit; k++) {
		const struct alloc_je_arena *a = &je.snap.arenas[k];

		dst[a->index].nrequests = a->nrequests;
		dst[a->index].ndalloc = a->ndalloc;
		dst[a->index].valid = 1;
	}
}

/* Global figures of a fresh epoch into the snapshot (and the peaks). */
static void je_read_global(void)
{
	struct alloc_je_snapshot *s = &je.snap;

	s->allocated = je_global_size(G_ALLOCATED);
	s->active = je_global_size(G_ACTIVE);
	s->metadata = je_global_size(G_METADATA);
	s->resident = je_global_size(G_RESIDENT);
	s->mapped = je_global_size(G_MAPPED);
	s->retained = je_global_size(G_RETAINED);
	je_note_peaks(s->allocated, s->active, s->resident);
}

/* See alloc.h: one epoch, then every figure through cached MIBs. */
const struct alloc_je_snapshot *alloc_je_refresh(const char **cause)
{
	struct alloc_je_snapshot *s = &je.snap;
	uint64_t t0;
	bool bg = false;

	if (je_init() != 0) {
		*cause = je.cause;
		return NULL;
	}
	je.snap_valid = 0;
	t0 = alloc_clock_ns();
	if (je_sample_now(t0) != 0) {
		*cause = "jemalloc refused the epoch update";
		return NULL;
	}
	s->at_ns = t0;
	je_read_global();   /* the epoch was bumped by je_sample_now */
	s->tcache_bytes = je_global_size(G_TCACHE_BYTES);
	if (je_read(&je.global[G_BACKGROUND_THREAD], &bg, sizeof bg) == 0)
		je.config.background_thread = bg;
	if (je_read_arenas() != 0) {
		*cause = "out of memory while reading the jemalloc arenas";
		return NULL;
	}
	s->rate_window_s = 0;
	s->rate_source = "none yet: rates need two readings";
	if (je.tick_prev_ns != 0)
		je_rates(je.tick_prev, je.tick_cur, je.tick_prev_ns, je.tick_cur_ns,
		         "the last sampling interval");
	else if (je.call_prev_ns != 0)
		je_rates(je.call_prev, NULL, je.call_prev_ns, t0, "since the previous alloc reading");
	je_store_counts(je.call_prev);
	je.call_prev_ns = t0;

	for (unsigned j = 0; j < s->nbins; j++) {
		struct alloc_je_bin *b = &s->bins[j];
		size_t curregs = 0, curslabs = 0, nonfull = 0;

		je_read_idx(&je.bin[B_CURREGS], 4, j, &curregs, sizeof curregs);
		je_read_idx(&je.bin[B_CURSLABS], 4, j, &curslabs, sizeof curslabs);
		je_read_idx(&je.bin[B_NONFULL], 4, j, &nonfull, sizeof nonfull);
		je_read_idx(&je.bin[B_NMALLOC], 4, j, &b->nmalloc, sizeof b->nmalloc);
		je_read_idx(&je.bin[B_NDALLOC], 4, j, &b->ndalloc, sizeof b->ndalloc);
		b->regions = curregs;
		b->slabs = curslabs;
		b->nonfull_slabs = nonfull;
	}
	s->large_allocated = je_global_size(G_LARGE_ALLOCATED);
	s->large_nmalloc = je_global_u64(G_LARGE_NMALLOC);
	s->large_ndalloc = je_global_u64(G_LARGE_NDALLOC);
	s->large_extents = 0;
	for (unsigned j = 0; j < s->nlextents; j++) {
		size_t cur = 0;

		je_read_idx(&je.lextent_curlextents, 4, j, &cur, sizeof cur);
		s->lextents[j].extents = cur;
		s->large_extents += cur;
	}
	s->peak_allocated = je.peak_allocated;
	s->peak_active = je.peak_active;
	s->peak_resident = je.peak_resident;
	s->peaks_since_ns = je.peaks_since_ns;
	s->cost_ns = alloc_clock_ns() - t0;
	je.snap_valid = 1;
	return s;
}

/* See alloc.h. */
const struct alloc_je_snapshot *alloc_je_refresh_limited(uint64_t min_interval_ns, int *cached,
                                                         const char **cause)
{
	*cached = 0;
	if (je.snap_valid && alloc_clock_ns() - je.snap.at_ns < min_interval_ns) {
		*cached = 1;
		return &je.snap;
	}
	return alloc_je_refresh(cause);
}

/* allocated / resident: how much of what the allocator keeps the application holds. */
double alloc_je_usage(const struct alloc_je_snapshot *s)
{
	return s->resident ? (double)s->allocated / (double)s->resident : 0.0;
}

/* 1 - allocated / active: the share of active pages holding no application data. */
double alloc_je_fragmentation(const struct alloc_je_snapshot *s)
{
	return s->active ? 1.0 - (double)s->allocated / (double)s->active : 0.0;
}

/* resident - allocated, bytes: what the allocator keeps beyond what is held. */
int64_t alloc_je_overhead(const struct alloc_je_snapshot *s)
{
	return (int64_t)s->resident - (int64_t)s->allocated;
}

/* regions / (slabs x regions per slab): how full a size class's slabs are. */
double alloc_je_bin_utilization(const struct alloc_je_bin *b)
{
	uint64_t capacity = b->slabs * b->regions_per_slab;

	return capacity ? (double)b->regions / (double)capacity : 0.0;
}

/* Free regions x region size: the bytes a size class's slabs hold unused. */
uint64_t alloc_je_bin_waste(const struct alloc_je_bin *b)
{
	uint64_t capacity = b->slabs * b->regions_per_slab;

	return capacity > b->regions ? (capacity - b->regions) * b->size_bytes : 0;
}

/* ---- the cheap sample and the probe ------------------------------------------------------ */

/* See alloc.h: the sampler's three figures, shared with the tick when recent. */
void alloc_sample(struct alloc_sample *out)
{
	uint64_t now;

	memset(out, 0, sizeof *out);
	out->name = alloc_name();
	if (je_init() != 0)
		return;
	now = alloc_clock_ns();
	if ((je.sample_ns == 0 || now - je.sample_ns > 50000000u) && je_sample_now(now) != 0)
		return;
	*out = je.sample;
}

/* The allocator's name for `system` and the sampler. */
const char *alloc_name(void)
{
	return jemalloc_get() != NULL ? "jemalloc" : "glibc";
}

/* jemalloc's version string, or glibc's. */
const char *alloc_version(void)
{
	const struct jemalloc_api *api = jemalloc_get();

	return api != NULL ? api->version : gnu_get_libc_version();
}

/* Tick: the peaks, and the per-arena counters that rates are computed from. */
/*
 * Tick: the peaks, and the per-arena counters that rates are computed from - only the four
 * counters per arena (not the full arena reading), so a tick stays cheap with many arenas.
 */
static void alloc_probe_tick(uint64_t now_ns)
{
	struct je_counts *t;
	unsigned narenas = 0;

	if (je_init() != 0 || je_sample_now(alloc_clock_ns()) != 0)
		return;
	je_read(&je.global[G_NARENAS], &narenas, sizeof narenas);
	if (je_reserve_arenas(narenas ? narenas : 1) != 0)
		return;
	t = je.tick_prev;
	je.tick_prev = je.tick_cur;
	je.tick_prev_ns = je.tick_cur_ns;
	je.tick_cur = t;
	for (size_t i = 0; i < je.counts_cap; i++)
		t[i].valid = 0;
	for (unsigned i = 0; i < narenas; i++) {
		uint64_t snd = 0, snr = 0, lnd = 0, lnr = 0;

		if (!je_arena_initialized(i) ||
		    je_read_idx(&je.arena[A_SMALL_NREQUESTS], 2, i, &snr, sizeof snr) != 0)
			continue;
		je_read_idx(&je.arena[A_SMALL_NDALLOC], 2, i, &snd, sizeof snd);
		je_read_idx(&je.arena[A_LARGE_NREQUESTS], 2, i, &lnr, sizeof lnr);
		je_read_idx(&je.arena[A_LARGE_NDALLOC], 2, i, &lnd, sizeof lnd);
		t[i].nrequests = snr + lnr;
		t[i].ndalloc = snd + lnd;
		t[i].valid = 1;
	}
	je.tick_cur_ns = now_ns;
}

/* Nothing to prepare: jemalloc is looked at on the first tick (cheap start). */
static int alloc_probe_init(void)
{
	return 0;
}

/* The tables stay for a restarted agent: the MIBs and size classes do not change. */
static void alloc_probe_fini(void)
{
}

const struct probe_entry alloc_probe = {
	.name = "alloc",
	.init = alloc_probe_init,
	.tick = alloc_probe_tick,
	.fini = alloc_probe_fini,
};

/* ---- glibc malloc ------------------------------------------------------------------------ */

static struct {
	struct alloc_glibc_snapshot snap;
	int have;
} gl;

/* The value of attribute `name="…"` inside the tag that starts at tag (ends at '>'). */
static int gl_attr(const char *tag, const char *name, uint64_t *out)
{
	const char *end = strchr(tag, '>');
	char key[32];
	const char *p;

	if (end == NULL)
		return -1;
	snprintf(key, sizeof key, " %s=\"", name);
	p = strstr(tag, key);
	if (p == NULL || p > end)
		return -1;
	*out = strtoull(p + strlen(key), NULL, 10);
	return 0;
}

/* Find `<ELEM type="TYPE"` in [from, to) and read its attribute attr. */
static int gl_find(const char *from, const char *to, const char *elem, const char *type,
                   const char *attr, uint64_t *out)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof pat, "<%s type=\"%s\"", elem, type);
	p = strstr(from, pat);
	if (p == NULL || p >= to)
		return -1;
	return gl_attr(p, attr, out);
}

/* See alloc.h: heaps (arenas) and the totals after them, by attribute. */
int alloc_glibc_parse_info(const char *xml, struct alloc_glibc_snapshot *s)
{
	const char *p = strstr(xml, "<malloc version=");
	const char *tail;

	s->narenas = 0;
	if (p == NULL)
		return -1;
	for (;;) {
		const char *h = strstr(p, "<heap nr=\"");
		const char *end;
		struct alloc_glibc_arena *a;

		if (h == NULL)
			break;
		end = strstr(h, "</heap>");
		if (end == NULL)
			return -1;
		if (s->narenas == s->arenas_cap) {
			size_t cap = s->narenas < 8 ? 8 : s->narenas * 2;
			struct alloc_glibc_arena *n = realloc(s->arenas, cap * sizeof *n);

			if (n == NULL)
				return -1;
			s->arenas = n;
			s->arenas_cap = cap;
		}
		a = &s->arenas[s->narenas];
		memset(a, 0, sizeof *a);
		a->nr = atoi(h + strlen("<heap nr=\""));
		gl_find(h, end, "total", "fast", "count", &a->fast_count);
		gl_find(h, end, "total", "fast", "size", &a->fast_bytes);
		gl_find(h, end, "total", "rest", "count", &a->rest_count);
		gl_find(h, end, "total", "rest", "size", &a->rest_bytes);
		gl_find(h, end, "system", "current", "size", &a->system_current);
		gl_find(h, end, "system", "max", "size", &a->system_max);
		gl_find(h, end, "aspace", "total", "size", &a->aspace_total);
		gl_find(h, end, "aspace", "mprotect", "size", &a->aspace_mprotect);
		s->narenas++;
		p = end + strlen("</heap>");
	}
	tail = p + strlen(p);
	s->mmap_count = s->mmap_bytes = 0;
	gl_find(p, tail, "total", "mmap", "count", &s->mmap_count);
	gl_find(p, tail, "total", "mmap", "size", &s->mmap_bytes);
	gl_find(p, tail, "system", "current", "size", &s->total_system_current);
	gl_find(p, tail, "system", "max", "size", &s->total_system_max);
	return 0;
}

/* mallinfo2 and malloc_info, timed; they lock every arena, hence the caller's rate limit. */
static int gl_read(const char **cause)
{
	struct alloc_glibc_snapshot *s = &gl.snap;
	struct mallinfo2 mi;
	uint64_t t0, t1, t2;
	char *xml = NULL;
	size_t xml_len = 0;
	FILE *f;
	int rc;

	t0 = alloc_clock_ns();
	mi = mallinfo2();
	t1 = alloc_clock_ns();
	f = open_memstream(&xml, &xml_len);
	if (f == NULL) {
		*cause = "open_memstream failed (out of memory) while reading malloc_info";
		return -1;
	}
	rc = malloc_info(0, f);
	fclose(f);
	t2 = alloc_clock_ns();
	if (rc != 0 || xml == NULL) {
		free(xml);
		*cause = "malloc_info failed";
		return -1;
	}
	s->at_ns = t2;
	s->mallinfo_cost_ns = t1 - t0;
	s->malloc_info_cost_ns = t2 - t1;
	s->arena_bytes = mi.arena;
	s->ordblks = mi.ordblks;
	s->smblks = mi.smblks;
	s->hblks = mi.hblks;
	s->hblkhd = mi.hblkhd;
	s->fsmblks = mi.fsmblks;
	s->uordblks = mi.uordblks;
	s->fordblks = mi.fordblks;
	s->keepcost = mi.keepcost;
	rc = alloc_glibc_parse_info(xml, s);
	free(xml);
	if (rc != 0) {
		*cause = "malloc_info's XML could not be parsed";
		return -1;
	}
	gl.have = 1;
	return 0;
}

/* The minimum time between two readings: 1 s, or 20 x the last cost if that is longer. */
static uint64_t gl_min_interval_ns(void)
{
	uint64_t base = (uint64_t)ALLOC_GLIBC_MIN_INTERVAL_MS * 1000000u;
	uint64_t cost = gl.snap.mallinfo_cost_ns + gl.snap.malloc_info_cost_ns;

	return cost * 20 > base ? cost * 20 : base;
}

/* See alloc.h: a new reading only when the last one is old enough. */
const struct alloc_glibc_snapshot *alloc_glibc_refresh(int *cached, double *age_s,
                                                       double *next_in_s, const char **cause)
{
	uint64_t now = alloc_clock_ns();
	uint64_t min = gl_min_interval_ns();

	*cached = 0;
	if (gl.have && now - gl.snap.at_ns < min) {
		*cached = 1;
	} else if (gl_read(cause) != 0) {
		return NULL;
	}
	now = alloc_clock_ns();
	*age_s = (double)(now - gl.snap.at_ns) / 1e9;
	min = gl_min_interval_ns();
	*next_in_s = now - gl.snap.at_ns < min ? (double)(min - (now - gl.snap.at_ns)) / 1e9 : 0.0;
	return &gl.snap;
}
