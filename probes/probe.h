/*
 * probe.h - a data source that runs inside the host, on the agent thread: one descriptor each,
 * listed in probes.c. The agent calls init() once when it starts (keep it cheap: heavy libraries
 * load on a client's first request, DESIGN.md principle 3), tick() every sampling interval in
 * table order, and fini() when it stops.
 */
#ifndef SONDE_PROBE_H
#define SONDE_PROBE_H

#include <stdint.h>

struct probe_entry {
	const char *name;
	int (*init)(void);              /* 0 ok; -1 disables the probe (it says why on stderr) */
	void (*tick)(uint64_t now_ns);  /* every interval, on the agent thread */
	void (*fini)(void);
};

extern const struct probe_entry *const probe_table[];

#endif
