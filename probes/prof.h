/*
 * prof.h - jemalloc heap profiling, driven from the agent: the `prof` command (status, start,
 * stop, dump, top, diff), the parser of jemalloc's heap_v2 dumps and the in-process symboliser.
 *
 * Heap profiling needs jemalloc built with --enable-prof and the service started with
 * MALLOC_CONF=prof:true,prof_active:false (sampling compiled in and armed, but off until a
 * `prof action=start`). Dumps go to private files (the agent's 0700 socket directory, else a 0700
 * temporary directory); `top` and `diff` read them back, so their paths also serve jeprof users.
 *
 * Everything runs on the agent thread.
 */
#ifndef SONDE_PROF_H
#define SONDE_PROF_H

#include <stddef.h>
#include <stdint.h>

#include "probe.h"

/* The MALLOC_CONF setting status and errors quote, verbatim. */
#define PROF_MALLOC_CONF "MALLOC_CONF=prof:true,prof_active:false"

/* One allocation site of a dump: a stack and the sampled objects still live from it. */
struct prof_site {
	uint64_t objs, bytes;          /* sampled counts, as written in the dump */
	double est_objs, est_bytes;    /* unsampled estimate (jeprof's heap_v2 scaling) */
	size_t first, nframes;         /* frames[first .. first+nframes) of the dump */
};

struct prof_dump {
	uint64_t sample_period;        /* bytes: 2^lg_prof_sample, from "heap_v2/N" */
	uint64_t total_objs, total_bytes;        /* the dump's "t*" totals (sampled) */
	double est_total_objs, est_total_bytes;  /* sum of the sites' estimates */
	struct prof_site *sites;
	size_t nsites;
	uintptr_t *frames;             /* return addresses, innermost first */
	size_t nframes;
};

/*
 * Parse a heap_v2 dump held in memory (text, len bytes). Returns 0, or -1 with *cause (static)
 * naming what is wrong. The dump owns its arrays: prof_dump_free().
 */
int prof_parse(const char *text, size_t len, struct prof_dump *out, const char **cause);
void prof_dump_free(struct prof_dump *d);

/* jeprof's estimate of the real count behind a sampled (objs, bytes) pair. */
void prof_unsample(uint64_t objs, uint64_t bytes, uint64_t period, double *est_objs,
                   double *est_bytes);

/* "function+0x1f (module)" or "module+0x1234" or "0x7f…": one frame, resolved in this process
 * with dladdr(). Returns buf. */
const char *prof_symbolise(uintptr_t addr, char *buf, size_t size);

/* Ticks: stops a sonde-started run whose duration has elapsed. */
extern const struct probe_entry prof_probe;

#endif
