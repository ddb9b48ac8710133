/*
 * preload.c - `sonde run`: start the agent inside an unmodified program.
 *
 * `sonde run` starts the program with LD_PRELOAD naming libsonde.so and SONDE_RUN=1. This
 * constructor starts the agent, then removes every trace of itself from the environment so that
 * the program, and anything it executes, sees the environment it would have had without sonde.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sonde.h"

/* Remove the entry naming libsonde from LD_PRELOAD (a space- or colon-separated list). */
static void preload_strip_ld_preload(void)
{
	const char *v = getenv("LD_PRELOAD");
	char *copy, *out, *tok, *save = NULL;
	size_t used = 0;

	if (v == NULL)
		return;
	copy = strdup(v);
	out = calloc(1, strlen(v) + 1);
	if (copy == NULL || out == NULL) {
		free(copy);
		free(out);
		return;
	}
	for (tok = strtok_r(copy, " :", &save); tok != NULL; tok = strtok_r(NULL, " :", &save)) {
		const char *base = strrchr(tok, '/');
		base = base != NULL ? base + 1 : tok;
		if (strncmp(base, "libsonde.so", 11) == 0)
			continue;
		if (used > 0)
			out[used++] = ':';
		memcpy(out + used, tok, strlen(tok));
		used += strlen(tok);
	}
	if (used == 0)
		unsetenv("LD_PRELOAD");
	else
		setenv("LD_PRELOAD", out, 1);
	free(copy);
	free(out);
}

__attribute__((constructor)) static void preload_init(void)
{
	const char *run = getenv("SONDE_RUN");
	struct sonde_options opts = {0};
	char name[64] = "";
	const char *n;

	if (run == NULL || strcmp(run, "1") != 0)
		return;
	if ((n = getenv("SONDE_RUN_NAME")) != NULL)
		strncpy(name, n, sizeof name - 1);
	unsetenv("SONDE_RUN");
	unsetenv("SONDE_RUN_NAME");
	preload_strip_ld_preload();
	opts.name = name[0] != '\0' ? name : NULL;
	sonde_start(&opts);
}
