/*
 * jemalloc.c - run-time detection of jemalloc (see jemalloc.h for the rule).
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "jemalloc.h"

static struct jemalloc_api api;
static const struct jemalloc_api *found;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* A probe allocation must move thread.allocated: only then is this mallctl the malloc we use. */
static int jemalloc_serves_malloc(void)
{
	uint64_t *allocatedp = NULL;
	size_t len = sizeof allocatedp;
	volatile uint64_t *counter;   /* malloc() clobbers no memory as far as GCC knows: without
	                                 volatile the two reads fold into one */
	uint64_t before;
	void *volatile p;
	int moved;

	if (api.mallctl("thread.allocatedp", &allocatedp, &len, NULL, 0) != 0 || allocatedp == NULL)
		return 0;
	counter = allocatedp;
	before = *counter;
	p = malloc(4096);
	moved = p != NULL && *counter >= before + 4096;
	free(p);
	return moved;
}

static void jemalloc_detect(void)
{
	size_t len = sizeof api.version;

	api.mallctl = (jemalloc_mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl");
	api.nametomib = (jemalloc_mallctlnametomib_fn)dlsym(RTLD_DEFAULT, "mallctlnametomib");
	api.bymib = (jemalloc_mallctlbymib_fn)dlsym(RTLD_DEFAULT, "mallctlbymib");
	if (api.mallctl == NULL || api.nametomib == NULL || api.bymib == NULL)
		return;
	if (api.mallctl("version", &api.version, &len, NULL, 0) != 0)
		api.version = "unknown";
	if (jemalloc_serves_malloc())
		found = &api;
}

const struct jemalloc_api *jemalloc_get(void)
{
	pthread_once(&once, jemalloc_detect);
	return found;
}
