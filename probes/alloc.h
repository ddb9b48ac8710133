/*
 * alloc.h - the process's memory allocator, read from inside the host on the agent thread.
 *
 * jemalloc (found at run time, jemalloc.h): global, per-arena, per-size-class and large-extent
 * statistics read through MIBs looked up once and reused with their indices patched; `epoch` is
 * bumped before every reading so the figures are current. glibc malloc: mallinfo2() totals and the
 * per-arena figures of malloc_info(); both lock every arena and grow with the number of free
 * chunks, so they run only on request, at most once per second, with their measured cost.
 *
 * Everything here runs on the agent thread (commands and probe ticks), never on an application
 * thread; the snapshots returned point into module-owned storage valid until the next refresh.
 */
#ifndef SONDE_ALLOC_H
#define SONDE_ALLOC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "probe.h"

/* The cheap figures the sampler records every tick. */
struct alloc_sample {
	int known;            /* 0: not sampled (glibc: mallinfo2 is too costly to sample) */
	uint64_t allocated;   /* bytes handed to the application */
	uint64_t active;      /* bytes in active pages (allocated + page-rounding/slab slack) */
	uint64_t resident;    /* bytes of physically resident allocator pages */
	const char *name;     /* "jemalloc" or "glibc" (static) */
};

/* Agent thread only. jemalloc: epoch bump + three cached MIB reads (a reading less than 50 ms old
 * is reused, so the sampler and the alloc probe share one per tick). */
void alloc_sample(struct alloc_sample *out);

/* "jemalloc" or "glibc"; and the allocator's version ("5.3.0-0-g…", or glibc's own). */
const char *alloc_name(void);
const char *alloc_version(void);

/* Ticks every interval: records allocated/active/resident peaks and the per-arena counters the
 * allocation and free rates are computed from. No-op under glibc. */
extern const struct probe_entry alloc_probe;

/* ---- jemalloc ------------------------------------------------------------------------------ */

/* Build configuration and settings, read once (background_thread is re-read on each refresh). */
struct alloc_je_config {
	const char *version;
	int config_stats, config_prof, config_debug;
	int opt_prof, opt_tcache, opt_background_thread, background_thread;
	unsigned opt_narenas;
	const char *opt_percpu_arena, *opt_thp, *opt_metadata_thp;
	ssize_t opt_dirty_decay_ms, opt_muzzy_decay_ms;    /* -1: never decay; 0: immediately */
	size_t max_background_threads;
	size_t page_bytes, quantum_bytes;
	unsigned nbins, nlextents;
};

struct alloc_je_arena {
	unsigned index;
	unsigned threads;                       /* threads currently bound to the arena */
	uint64_t active_bytes, dirty_bytes, muzzy_bytes;   /* pages x page size */
	uint64_t small_allocated_bytes, large_allocated_bytes;
	uint64_t nmalloc, ndalloc;              /* small + large regions/extents taken from and
	                                           returned to the arena (tcache fills and flushes
	                                           count here, not each malloc/free they serve) */
	uint64_t nrequests;                     /* small + large allocation requests, including
	                                           those served by thread caches once merged */
	ssize_t dirty_decay_ms, muzzy_decay_ms;
	int rates_known;                        /* 0 until two readings exist */
	double alloc_per_s;                     /* nrequests per second */
	double free_per_s;                      /* ndalloc per second */
};

struct alloc_je_bin {
	unsigned index;
	size_t size_bytes;                      /* region (size class) size */
	uint32_t regions_per_slab;
	size_t slab_bytes;
	uint64_t regions;                       /* current regions (incl. those cached in tcaches) */
	uint64_t slabs;                         /* current slabs */
	uint64_t nonfull_slabs;
	uint64_t nmalloc, ndalloc;
};

struct alloc_je_lextent {
	size_t size_bytes;
	uint64_t extents;                       /* current extents of that size class */
};

struct alloc_je_snapshot {
	uint64_t at_ns;                         /* CLOCK_MONOTONIC of the reading */
	uint64_t cost_ns;                       /* what the reading cost, epoch included */
	uint64_t allocated, active, metadata, resident, mapped, retained;   /* bytes */
	uint64_t tcache_bytes;                  /* bytes sitting in thread caches (in allocated) */
	unsigned narenas;                       /* arena slots (arenas.narenas) */
	unsigned ninit;                         /* initialised arenas, = entries in arenas[] */
	struct alloc_je_arena *arenas;
	double rate_window_s;                   /* interval the rates cover; 0 when unknown */
	const char *rate_source;                /* "sampling interval" or "since previous alloc call" */
	unsigned nbins;
	struct alloc_je_bin *bins;              /* merged over all arenas, in size order */
	unsigned nlextents;
	struct alloc_je_lextent *lextents;      /* merged over all arenas, in size order */
	uint64_t large_allocated, large_nmalloc, large_ndalloc, large_extents;
	uint64_t peak_allocated, peak_active, peak_resident;   /* sampled since the agent started */
	uint64_t peaks_since_ns;
};

/* The jemalloc build configuration, or NULL (with *cause, static) when jemalloc is not the
 * allocator or lacks statistics (built without --enable-stats). */
const struct alloc_je_config *alloc_je_config(const char **cause);

/* A full reading (epoch, global, arenas, size classes, large extents). Returns NULL with *cause
 * (static) on failure. The snapshot lives until the next call. */
const struct alloc_je_snapshot *alloc_je_refresh(const char **cause);

/* The minimum time between two readings a request can cause: an epoch bump takes every arena's
 * statistics locks, which the application's malloc slow paths also take. */
#define ALLOC_JE_MIN_INTERVAL_NS (100ull * 1000 * 1000)

/* alloc_je_refresh, unless the last successful reading is younger than min_interval_ns: then that
 * reading again, with *cached = 1. */
const struct alloc_je_snapshot *alloc_je_refresh_limited(uint64_t min_interval_ns, int *cached,
                                                         const char **cause);

/* Derived figures, each with the sentence that says how it is computed. */
double alloc_je_usage(const struct alloc_je_snapshot *s);          /* allocated / resident */
double alloc_je_fragmentation(const struct alloc_je_snapshot *s);  /* 1 - allocated / active */
int64_t alloc_je_overhead(const struct alloc_je_snapshot *s);      /* resident - allocated */
double alloc_je_bin_utilization(const struct alloc_je_bin *b);     /* regions / capacity */
uint64_t alloc_je_bin_waste(const struct alloc_je_bin *b);         /* free regions x size */

/* ---- glibc malloc ---------------------------------------------------------------------------- */

struct alloc_glibc_arena {
	int nr;                                 /* malloc_info's heap number (0 = main arena) */
	uint64_t fast_count, fast_bytes;        /* free chunks in fastbins */
	uint64_t rest_count, rest_bytes;        /* other free chunks (bins, unsorted, top) */
	uint64_t system_current, system_max;    /* bytes obtained from the system */
	uint64_t aspace_total, aspace_mprotect;
};

struct alloc_glibc_snapshot {
	uint64_t at_ns;
	uint64_t mallinfo_cost_ns, malloc_info_cost_ns;
	/* mallinfo2() */
	uint64_t arena_bytes;        /* non-mmapped space from the system (main + other arenas) */
	uint64_t ordblks;            /* free chunks */
	uint64_t smblks;             /* free fastbin chunks */
	uint64_t hblks, hblkhd;      /* mmapped chunks: count, bytes */
	uint64_t fsmblks;            /* bytes in free fastbin chunks */
	uint64_t uordblks;           /* bytes in use */
	uint64_t fordblks;           /* bytes free */
	uint64_t keepcost;           /* releasable top bytes */
	/* malloc_info() */
	size_t narenas;
	struct alloc_glibc_arena *arenas;        /* realloc()ed by the parser */
	size_t arenas_cap;                       /* entries allocated in arenas[] */
	uint64_t mmap_count, mmap_bytes;
	uint64_t total_system_current, total_system_max;
};

/*
 * The glibc figures, refreshed at most once per ALLOC_GLIBC_MIN_INTERVAL_MS (longer when a reading
 * costs more than 5% of that interval); otherwise the cached reading, with *cached = 1 and *age_s
 * its age. NULL with *cause (static) on failure.
 */
#define ALLOC_GLIBC_MIN_INTERVAL_MS 1000
const struct alloc_glibc_snapshot *alloc_glibc_refresh(int *cached, double *age_s,
                                                       double *next_in_s, const char **cause);

/* Parse malloc_info() XML (exposed for tests). Returns 0 or -1 on malformed input. */
int alloc_glibc_parse_info(const char *xml, struct alloc_glibc_snapshot *s);

#endif
