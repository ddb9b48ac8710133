/*
 * scanhelper.h - a second thread for the agent's big scans.
 *
 * A scan of the tasks' hot lines at a million tasks reads 64 MB and is bound by what one core
 * can pull from memory (~4-6 ms here); two cores pull nearly twice that. The agent thread hands
 * half of such a scan to this helper, scans the other half itself, then waits for the helper and
 * merges. The helper is started on first use with every signal blocked, sleeps on a condition
 * variable between jobs, and runs only pure reads of shared memory (no application callbacks),
 * so a job always ends. A forked child has no helper (it is started again there on first use).
 */
#ifndef SONDE_SCANHELPER_H
#define SONDE_SCANHELPER_H

#include <sys/types.h>

/* Run fn(arg) on the helper thread. 0: it runs there (call scanhelper_wait before touching what
 * fn uses); -1: no helper could be started, run fn yourself. Agent thread only; one job at a
 * time. */
int scanhelper_start(void (*fn)(void *arg), void *arg);

/* Wait until the job handed over by scanhelper_start has finished. */
void scanhelper_wait(void);

/* The helper's thread id, 0 when it is not running: its CPU is the agent's cost. */
pid_t scanhelper_tid(void);

/* Jobs run on the helper so far (for tests and benchmarks). */
unsigned long scanhelper_jobs(void);

/* Stop and join the helper (agent stop). It is started again on the next use. */
void scanhelper_shutdown(void);

#endif
