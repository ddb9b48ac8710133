/*
 * taskjson.h - what the `tasks`, `task` and `tree` commands share: a task, an exit record or an
 * OS thread (when the application declares no tasks) as a JSON row, with the same keys
 * everywhere so a script or a screen reads one shape.
 */
#ifndef SONDE_TASKJSON_H
#define SONDE_TASKJSON_H

#include <stdint.h>
#include <jansson.h>

#include "registry.h"

struct proc_thread_tick;

/* "file:line func" for a location, into buf; NULL if there is none. */
const char *taskjson_location(const struct sonde_location *loc, char *buf, size_t size);

/* Age in seconds of something started at start_ns (CLOCK_MONOTONIC(_COARSE)), never negative. */
double taskjson_age_s(uint64_t start_ns, uint64_t now_ns);

/* CPU % of one core for a thread-bound task (from the proc probe's last tick), or -1. */
double taskjson_task_cpu_pct(const struct registry_row *row);

/* The `tasks` row keys for a live task: id, name, kind, status, parent, memory, reductions,
 * queue, cpu_pct, location, initial_call, age_s, restarts. */
json_t *taskjson_row(const struct registry_row *row, uint64_t now_ns);

/* The same keys for a task that has exited (status "exited"), plus "exit_reason". */
json_t *taskjson_exit_row(const struct registry_exit *rec, uint64_t now_ns);

/* The same keys for an OS thread standing in for a task (memory/queue unknown: null;
 * reductions = CPU time in ms). pid is the parent of every thread. */
json_t *taskjson_thread_row(const struct proc_thread_tick *th, pid_t pid,
                            double process_uptime_s);

/* Seconds since this process started (from /proc), or -1. */
double taskjson_process_uptime_s(void);

/* The OS thread state letter as a task status. */
const char *taskjson_thread_status(char state);

#endif
