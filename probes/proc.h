/*
 * proc.h - the host process and its threads, as the kernel sees them. Two sources, on purpose:
 *
 *   - proc_probe ticks every sampling interval from agent start. It reads /proc/self/stat,
 *     /proc/self/task/TID/stat, /proc/self/fd, /proc/loadavg and getrusage() with a tiny parser
 *     and no library, so a host that is never observed never maps libproc2. CPU percentages are
 *     deltas between two consecutive ticks. The sampler builds its history on proc_latest().
 *   - the `system` command (cmd_system.c) asks libproc2 (procps 4), loaded with dlopen() on the
 *     first request, for the process (exe, command line, memory, CPU, elapsed time). The
 *     `threads` command reads /proc/self/task/TID/stat with this file's parser by default (2-3x
 *     cheaper than libproc2 at 1000 threads, see proc_query_threads); libproc2's reading of the
 *     threads stays available (source=libproc2) and the tests check both agree.
 *
 * Everything here runs on the agent thread only (commands and probe ticks), without locks.
 */
#ifndef SONDE_PROC_H
#define SONDE_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "probe.h"

/* ---- the per-tick probe (interface agreed with the sampler and TUI owners) ---------------- */

struct proc_thread_tick {
	pid_t tid;
	char name[16];
	char state;        /* R S D T Z ... as in /proc */
	int processor;     /* CPU it last ran on */
	double cpu_s;      /* user+sys so far, seconds */
	double cpu_pct;    /* % of one core over the last interval (since its start if it is new);
	                      NAN when unknown */
	double start_s;    /* seconds after process start */
};

struct proc_tick {
	uint64_t at_ns;                  /* agent_now_ns() (CLOCK_MONOTONIC) when taken */
	double interval_s;               /* since the previous tick (or the probe's baseline) */
	double cpu_user_pct, cpu_sys_pct; /* process, % of one core over the interval */
	uint64_t rss_bytes, vsz_bytes;
	unsigned fds;                    /* open file descriptors now */
	double ctx_switches_per_s;       /* voluntary + involuntary, all threads, over the interval */
	double loadavg[3];               /* host, 1/5/15 minutes */
	size_t nthreads;
	const struct proc_thread_tick *threads; /* sorted by tid */
	/* When the thread table was read and the interval its cpu_pct values cover. Equal to at_ns
	 * and interval_s except on a host whose thread scan would cost more than 1% of a core (some
	 * thousands of threads): the table is then re-read every few ticks (at most 60) and shown
	 * in between as it was. */
	uint64_t threads_at_ns;
	double threads_interval_s;
};

/* The latest tick; agent thread only; NULL before the first tick. Valid until the next tick. */
const struct proc_tick *proc_latest(void);

/* The latest tick's row for tid (binary search), or NULL. Agent thread only. */
const struct proc_thread_tick *proc_latest_thread(pid_t tid);

/* What the ticks cost, nanoseconds: wall time (last, most, total) and the agent thread's CPU
 * time (last, total) -- on a loaded machine the wall time grows with preemption, the CPU time
 * is what the host pays. Reported by `system` so an operator can see what observing costs. */
struct proc_tick_cost {
	uint64_t last_ns, max_ns, total_ns, ticks;
	uint64_t last_cpu_ns, total_cpu_ns;
};
void proc_tick_cost(struct proc_tick_cost *out);

/* Bytes the probe's two thread tables hold (their capacity), for the agent's own memory. */
size_t proc_memory_bytes(void);

/* Open file descriptors of the process (what `system` and the sampler report). */
unsigned proc_count_fds(void);

extern const struct probe_entry proc_probe;

/* ---- parsers (pure; unit-tested in tests/test_proc.c) ------------------------------------ */

/* The fields of a /proc/.../stat line that sonde uses. Times are in clock ticks. */
struct proc_stat {
	pid_t pid;
	char comm[16];
	char state;
	unsigned long long utime, stime;   /* clock ticks */
	long num_threads;
	unsigned long long starttime;      /* clock ticks after boot */
	unsigned long long vsize;          /* bytes */
	long long rss_pages;
	int processor;
};

/* Parse one stat line (need not be NUL-terminated). The name may hold spaces and ')' -- the
 * kernel does not escape it -- so fields are found after the LAST ')'. 0, or -1 if malformed. */
int proc_parse_stat(const char *buf, size_t len, struct proc_stat *out);

/* "0.52 0.58 0.59 1/467 12345" -> the three averages. 0 or -1. */
int proc_parse_loadavg(const char *buf, double out[3]);

/* MemTotal and MemAvailable from /proc/meminfo contents, in bytes. 0, or -1 if either is
 * missing. */
int proc_parse_meminfo(const char *buf, uint64_t *total_bytes, uint64_t *available_bytes);

/* A directory entry name that is a positive decimal number (a pid, tid or fd), else -1. */
long proc_parse_number_name(const char *name);

/*
 * Fill cur[i].cpu_pct from the previous tick's rows (both sorted by tid): a thread present in
 * both gets (cpu now - cpu then) / interval_s; a new one gets its CPU since it started, over
 * its age (now_since_process_start_s - start_s) clamped to at least tick_s. A thread older than
 * the interval that the previous table lacks (it was cut short) gets NAN: unknown, never a
 * lifetime average. A reused tid (other start time) counts as a new thread. Linear merge, no
 * allocation.
 */
void proc_thread_deltas(struct proc_thread_tick *cur, size_t ncur,
                        const struct proc_thread_tick *prev, size_t nprev,
                        double interval_s, double now_since_process_start_s, double tick_s);

/* Read a small file at dirfd/path (dirfd may be AT_FDCWD) into buf, NUL-terminated. Returns
 * the byte count, or -1 with errno set. One open/read/close; no allocation. */
ssize_t proc_read_small(int dirfd, const char *path, char *buf, size_t size);

/* ---- libproc2, loaded on first use --------------------------------------------------------- */

/* The process as libproc2 sees it (plus fds, which it does not count). */
struct proc_process {
	pid_t pid;
	char comm[16];
	char state;
	char exe[4096];
	char *cmdline;              /* malloc()ed, arguments joined by spaces */
	char **argv;                /* malloc()ed copy, NULL-terminated */
	double uptime_s;            /* since the process started */
	long threads;
	unsigned fds;
	uint64_t rss_bytes, vsz_bytes;
	double cpu_user_s, cpu_sys_s;
};

/* One thread. The main thread's figures come from /proc/self/task/PID/stat, because libproc2
 * reports the main thread's row from /proc/PID/stat, i.e. the whole process. */
struct proc_thread {
	pid_t tid;
	char name[16];
	char state;
	int processor;
	double cpu_user_s, cpu_sys_s;
	double start_s;             /* seconds after process start */
};

/* Load libproc2 (once) and fill *out for this process. 0, or -1 with err filled (ERR_UNSUPPORTED
 * naming the package to install when the library cannot be loaded). Free with
 * proc_process_free(). */
struct cmd_error;
int proc_query_process(struct proc_process *out, struct cmd_error *err);
void proc_process_free(struct proc_process *p);

/* Where thread rows come from. PROC: /proc/self/task/TID/stat with proc.c's parser, the
 * default: 2-3x cheaper than libproc2 at 1000 threads, which keeps `sonde query threads` well
 * ahead of `ps -L`. LIBPROC2: procps's own reading (dlopen()ed), kept for cross-checks. */
enum proc_source { PROC_SOURCE_PROC, PROC_SOURCE_LIBPROC2 };

/* This process's threads, sorted by tid, into *rows (malloc()ed, free() it). 0, or -1 with err
 * filled. *process_cpu_user_s/_sys_s get the process-wide figures read in the same pass (they
 * include threads that have exited, so they may exceed the sum of the rows). */
int proc_query_threads(struct proc_thread **rows, size_t *n, double *process_cpu_user_s,
                       double *process_cpu_sys_s, enum proc_source source,
                       struct cmd_error *err);

/* Was libproc2 loaded in this process (by a request)? For tests of the "never at start" rule. */
int proc_libproc2_loaded(void);

/* Clock ticks per second (sysconf(_SC_CLK_TCK)), cached. */
long proc_hertz(void);

#endif
