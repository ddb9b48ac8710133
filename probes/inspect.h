/*
 * inspect.h - run a task's inspect callback (sonde_inspect_fn, application code) with a time
 * budget, off the agent thread: one helper thread runs it while the agent waits at most the
 * budget. A callback that overruns is reported as timed out and left to finish on its own; until
 * it does, later inspects answer "busy" at once instead of starting more threads.
 */
#ifndef SONDE_INSPECT_H
#define SONDE_INSPECT_H

#include <jansson.h>

#include "sonde.h"

#define INSPECT_BUDGET_MS 50u          /* default budget */
#define INSPECT_MAX_BYTES (64 * 1024)  /* keys and values kept per inspect */
#define INSPECT_MAX_PAIRS 256u
#define INSPECT_MAX_VALUE 4096u        /* bytes of one value kept */

enum inspect_outcome {
	INSPECT_OK,       /* *out: {"key":"value",...} (+ "truncated":N if some pairs were cut) */
	INSPECT_TIMEOUT,  /* *out: {"error":"timeout after N ms"} */
	INSPECT_BUSY,     /* *out: {"error":"busy: ..."} */
	INSPECT_FAILED,   /* *out: {"error":"..."} (no helper thread) */
};

/*
 * Run fn(task, arg, emit, ctx) on the helper thread and wait at most budget_ms for it. *out gets
 * a new JSON object in every case; *elapsed_ms the time waited. Agent thread only (one inspect
 * at a time).
 */
enum inspect_outcome inspect_run(sonde_inspect_fn fn, sonde_task *task, void *arg,
                                 unsigned budget_ms, json_t **out, double *elapsed_ms);

/* Is a timed-out callback still running? */
int inspect_busy(void);

/* Stop the helper thread if it is idle (a stuck one is detached and left alone). */
void inspect_shutdown(void);

#endif
