/*
 * jemalloc.h - is jemalloc the process's allocator? Found at run time (DESIGN.md principle 3):
 * `mallctl` must resolve with dlsym(RTLD_DEFAULT) AND a probe allocation must move this thread's
 * `thread.allocated` counter, so a stray `mallctl` symbol is not mistaken for the allocator.
 */
#ifndef SONDE_JEMALLOC_H
#define SONDE_JEMALLOC_H

#include <stddef.h>

typedef int (*jemalloc_mallctl_fn)(const char *name, void *oldp, size_t *oldlenp, void *newp,
                                   size_t newlen);
typedef int (*jemalloc_mallctlnametomib_fn)(const char *name, size_t *mibp, size_t *miblenp);
typedef int (*jemalloc_mallctlbymib_fn)(const size_t *mib, size_t miblen, void *oldp,
                                        size_t *oldlenp, void *newp, size_t newlen);

struct jemalloc_api {
	jemalloc_mallctl_fn mallctl;
	jemalloc_mallctlnametomib_fn nametomib;
	jemalloc_mallctlbymib_fn bymib;
	const char *version;   /* "5.3.0-0-g54eaed1d8b56b1aa528be3bdd1877e59c56fa90c" */
};

/* The jemalloc entry points, or NULL when jemalloc is not the allocator. Detected once,
 * thread-safe, cheap after the first call. */
const struct jemalloc_api *jemalloc_get(void);

#endif
