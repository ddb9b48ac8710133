/*
 * probes.c - the table of probes the agent ticks every sampling interval, in this order
 * (producers first: the sampler reads what the others measured in the same tick).
 */
#include "config.h"

#include <stddef.h>

#include "probe.h"

extern const struct probe_entry alloc_probe;
extern const struct probe_entry proc_probe;
extern const struct probe_entry registry_probe;
extern const struct probe_entry prof_probe;
extern const struct probe_entry sampler_probe;
/* @@extern: one `extern const struct probe_entry X_probe;` per probe above this line */

const struct probe_entry *const probe_table[] = {
	&alloc_probe,
	&proc_probe,
	&registry_probe,
	&prof_probe,
	&sampler_probe,
	/* @@table: one `&X_probe,` per probe above this line, sampler last */
	NULL,
};
