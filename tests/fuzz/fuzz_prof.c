/*
 * fuzz_prof.c - libFuzzer target over the two parsers of allocator text the agent reads back:
 * jemalloc's heap_v2 dumps (prof_parse) and glibc's malloc_info XML (alloc_glibc_parse_info).
 * The first byte picks the parser. Built with --enable-fuzzing (CC=clang); run:
 *   ./tests/fuzz/fuzz_prof -max_total_time=60
 * Checked beyond "no crash, no leak": a dump that parses has every site's frames inside its frame
 * array and estimates that are finite and never below the sampled counts.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "prof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *cause = NULL;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		struct alloc_glibc_snapshot s;
		char *text = malloc(size);

		memset(&s, 0, sizeof s);
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		if (alloc_glibc_parse_info(text, &s) == 0 && s.narenas > s.arenas_cap)
			abort();
		free(s.arenas);
		free(text);
	} else {
		struct prof_dump d;

		if (prof_parse((const char *)data + 1, size - 1, &d, &cause) != 0) {
			if (cause == NULL)
				abort();
			return 0;
		}
		for (size_t i = 0; i < d.nsites; i++) {
			const struct prof_site *s = &d.sites[i];

			if (s->first > d.nframes || s->nframes > d.nframes - s->first ||
			    !isfinite(s->est_bytes) || !isfinite(s->est_objs) ||
			    s->est_objs + 1e-6 < (double)s->objs || s->est_bytes + 1e-6 < (double)s->bytes)
				abort();
		}
		prof_dump_free(&d);
	}
	return 0;
}
