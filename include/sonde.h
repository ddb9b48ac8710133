/*
 * sonde.h - the one public header of libsonde, the agent that lets the `sonde` observer attach
 * to a running C service.
 *
 * Two halves:
 *   - the agent: sonde_start()/sonde_stop() run one background thread that serves a private Unix
 *     socket (see sonde(3) and doc/protocol.md);
 *   - tasks: the application declares its units of work (connection handlers, workers, shards,
 *     supervisors) so that an operator can sort them by memory or work and drill into one.
 *
 * Cost and thread-safety of every call are stated beside it. "Hot" calls are inline, a handful of
 * relaxed atomic loads/stores on the task's own cache line: no lock, no syscall, no allocation.
 * The task API works whether or not the agent is running; tasks declared before sonde_start()
 * are visible once it starts.
 */
#ifndef SONDE_H
#define SONDE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#error "sonde.h is a C11 header"
#endif

#define SONDE_VERSION "0.1.0"
#define SONDE_API __attribute__((visibility("default")))
#define SONDE_PROTOCOL 1

/* ------------------------------------------------------------------------------------------
 * The agent
 * ------------------------------------------------------------------------------------------ */

/* Options for sonde_start(); a zero field means "the default" (environment, then built-in). */
struct sonde_options {
	const char *name;          /* shown by `sonde list`; default $SONDE_NAME, else program name */
	const char *dir;           /* socket directory; default $SONDE_DIR, $XDG_RUNTIME_DIR/sonde,
	                              else /tmp/sonde-UID */
	unsigned interval_ms;      /* sampling interval, 100..10000; default $SONDE_INTERVAL_MS or 1000 */
	unsigned max_clients;      /* default 16 */
	unsigned idle_timeout_s;   /* a client silent this long is closed; default 600 */
	size_t output_cap_bytes;   /* per-client unsent output before the client is dropped; 8 MiB */
	unsigned history_seconds;  /* sampler ring length in time; default 600 (10 minutes) */
	unsigned exit_ring;        /* exited tasks remembered; default 1000 */
};

/*
 * Start the agent: create the socket directory (mode 0700, owner checked), bind
 * DIR/PID.sock (mode 0600) and start one thread with every signal blocked.
 * Returns 0 on success or when already running or when $SONDE_DISABLE=1; -1 with errno set and
 * one line on stderr naming the cause and the fix otherwise. Idempotent; safe from any thread.
 * After fork() the child runs without an agent until it calls sonde_start() itself.
 */
SONDE_API int sonde_start(const struct sonde_options *opts);

/* Stop the agent thread, close every client and remove the socket. Idempotent; any thread. */
SONDE_API void sonde_stop(void);

/* The socket path while the agent runs, else NULL. The string lives until sonde_stop(). */
SONDE_API const char *sonde_socket_path(void);

/* ------------------------------------------------------------------------------------------
 * Tasks
 * ------------------------------------------------------------------------------------------ */

enum sonde_kind { SONDE_WORKER = 0, SONDE_SUPERVISOR = 1 };

enum sonde_status {
	SONDE_RUNNING = 0,
	SONDE_RUNNABLE = 1,
	SONDE_WAITING = 2,
	SONDE_BLOCKED = 3,
	SONDE_EXITING = 4,
};

enum sonde_strategy {
	SONDE_ONE_FOR_ONE = 0,
	SONDE_ONE_FOR_ALL = 1,
	SONDE_REST_FOR_ONE = 2,
	SONDE_SIMPLE_ONE_FOR_ONE = 3,
};

/* Flags for struct sonde_task_spec.flags. */
#define SONDE_TASK_SENSITIVE 0x1u  /* never show inspect state (secrets, user data) */
#define SONDE_TASK_BIND_THREAD 0x2u /* the task is the calling thread: its CPU time and (with
                                       jemalloc) the thread's allocated-deallocated bytes */

/* A code location; SONDE_HERE makes a static one. Never copied: must outlive the task. */
struct sonde_location {
	const char *file;
	const char *func;
	int line;
};

/*
 * The writer side of a task: exactly one 64-byte cache line, the task's own, inside a slot of the
 * registry (slots live in large chunks that never move, so a handle stays valid until
 * sonde_task_exit()). The hot calls below touch only this line. The agent reads it without
 * stopping the writer: generation_ is odd while the task is live and changes at spawn and exit,
 * so a copy whose generation changed meanwhile is thrown away (never a torn or recycled task).
 * Fields are private: use the functions below.
 */
struct sonde_task {
	_Atomic uint64_t reductions_;                        /* work units, monotonic */
	_Atomic int64_t memory_;                             /* accounted bytes */
	_Atomic uint64_t queue_;                             /* mailbox / backlog length */
	const struct sonde_location *_Atomic location_;      /* where it is now */
	_Atomic uint32_t status_;                            /* enum sonde_status */
	_Atomic uint32_t generation_;                        /* odd while live; see registry.c */
	_Atomic uint64_t id_;                                /* never reused; set at spawn */
	_Atomic uint64_t start_ns_;                          /* CLOCK_MONOTONIC_COARSE at spawn */
	uint32_t index_;                                     /* slot number, fixed for the slot */
	_Atomic uint32_t xflags_;                            /* registry flags (sensitive, bound...) */
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct sonde_task) == 64, "a task's hot fields are one 64-byte line");

typedef struct sonde_task sonde_task;

/*
 * An inspect callback writes the task's state as key/value pairs with emit(); it runs on a
 * helper thread of the agent, with a time budget (50 ms): one that overruns is reported to the
 * client as timed out and not waited for, and until it returns further inspects answer "busy"
 * (no second helper is started). It runs concurrently with the task's own code, so it must read
 * the state it shows safely (atomics, or a lock the task takes briefly), and inspect_arg must
 * stay valid while the task is live and while a callback may still be running for it (free it
 * after sonde_task_exit() and after the inspect has returned, e.g. when the next inspect of
 * another task succeeds, or simply keep it). Keys (255 bytes) and values (4 KiB) are copied;
 * at most 256 pairs, 64 KiB in all, are kept. Not called for sensitive tasks.
 */
typedef void (*sonde_emit_fn)(void *ctx, const char *key, const char *value);
typedef void (*sonde_inspect_fn)(sonde_task *task, void *arg, sonde_emit_fn emit, void *ctx);

struct sonde_task_spec {
	const char *name;             /* copied, at most 47 bytes kept */
	const char *initial_call;     /* static string, e.g. __func__; not copied */
	sonde_task *parent;           /* NULL: a top-level task */
	enum sonde_kind kind;
	enum sonde_strategy strategy; /* supervisors only */
	int max_restarts;             /* supervisors: restart intensity, max_restarts in ... */
	int max_seconds;              /* ... max_seconds */
	unsigned flags;               /* SONDE_TASK_* */
	sonde_inspect_fn inspect;     /* optional */
	void *inspect_arg;
};

/*
 * Declare a task. Returns NULL only when memory is exhausted (or 16,777,216 tasks are live). Its
 * 64-bit id is never reused in the process. Cost: spawn + exit ~50 ns together on one thread
 * (bench_spawn); no global lock on the common path (per-thread caches of free slots and ids;
 * a shared depot, under a mutex, once per 128 slots when threads spawn and exit unevenly); no
 * syscall; safe from any thread. A thread's first spawn or exit allocates its cache (~1.1 KiB,
 * freed when the thread ends). Each live task costs 261 bytes of registry (its 64-byte line,
 * its description, its parent link and the agent's window snapshot).
 * With SONDE_TASK_BIND_THREAD the task is the calling thread: that thread's current task becomes
 * the new task, its CPU time is the task's, and under jemalloc the thread's allocated minus
 * deallocated bytes since the spawn are added to the task's memory (read from the thread's own
 * counters: the task must exit before its thread ends).
 */
SONDE_API sonde_task *sonde_task_spawn(const struct sonde_task_spec *spec);

/* The task exits with a reason (copied, at most 63 bytes kept; NULL means "normal"); its final
 * figures go to the exit ring (the last 1000 exits by default, sonde_options.exit_ring), where
 * `task` still finds them. The handle must not be used afterwards; a second exit of the same
 * handle before its slot is reused is ignored. Any thread; no lock, no syscall. */
SONDE_API void sonde_task_exit(sonde_task *task, const char *reason);

/* The task's id (never reused). Any thread, any time while the task is live. */
SONDE_API uint64_t sonde_task_id(const sonde_task *task);

/* Count one restart of a task (called by its supervisor). Relaxed atomic; any thread. */
SONDE_API void sonde_task_restarted(sonde_task *task);

/* Mark or unmark a task sensitive (its inspect state is then withheld). Any thread. */
SONDE_API void sonde_task_set_sensitive(sonde_task *task, int sensitive);

/* Rename a task (copied, at most 47 bytes). Takes the slot's name lock (a few stores long); any
 * thread. */
SONDE_API void sonde_task_set_name(sonde_task *task, const char *name);

/* The calling thread's current task, or NULL; and setting it. Thread-local, ~1 ns. */
SONDE_API sonde_task *sonde_task_self(void);
SONDE_API void sonde_task_set_self(sonde_task *task);

/* Give the task its own jemalloc arena (arenas.create; a second call returns the same one);
 * allocate from it with mallocx(size, MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE) and the
 * task's memory includes the arena's allocated bytes (small + large), read exactly by the agent
 * at each tick. Arenas are not reclaimed when the task exits (jemalloc cannot destroy an arena
 * that may still hold memory): use it for long-lived tasks. Returns the arena index, or -1 when
 * jemalloc is not the allocator. Costs a mallctl call; any thread. */
SONDE_API int sonde_task_arena(sonde_task *task);

/* --- hot calls: inline, lock-free, no syscall, no allocation --------------------------------- */

/* Add n units of work. Single writer: call from the thread that owns the task (a relaxed load and
 * store, ~0.3 ns). From several threads at once use sonde_task_work_shared(). */
static inline void sonde_task_work(sonde_task *task, uint64_t n)
{
	uint64_t v = atomic_load_explicit(&task->reductions_, memory_order_relaxed);
	atomic_store_explicit(&task->reductions_, v + n, memory_order_relaxed);
}

/* Add n units of work from any thread (a relaxed atomic add, ~5 ns when contended). */
static inline void sonde_task_work_shared(sonde_task *task, uint64_t n)
{
	atomic_fetch_add_explicit(&task->reductions_, n, memory_order_relaxed);
}

/* Account bytes (+allocated / -freed) to the task. Relaxed atomic add; any thread. */
static inline void sonde_task_memory(sonde_task *task, int64_t delta_bytes)
{
	atomic_fetch_add_explicit(&task->memory_, delta_bytes, memory_order_relaxed);
}

/* Set the length of the task's mailbox or backlog. Relaxed store; any thread. */
static inline void sonde_task_queue(sonde_task *task, uint64_t length)
{
	atomic_store_explicit(&task->queue_, length, memory_order_relaxed);
}

/* Set the task's status. Relaxed store; any thread. */
static inline void sonde_task_status(sonde_task *task, enum sonde_status status)
{
	atomic_store_explicit(&task->status_, (uint32_t)status, memory_order_relaxed);
}

/* Set where the task is now: SONDE_TASK_AT(task) records this file, line and function. One
 * relaxed pointer store; the location is a static object. */
static inline void sonde_task_location(sonde_task *task, const struct sonde_location *loc)
{
	atomic_store_explicit(&task->location_, loc, memory_order_relaxed);
}

#define SONDE_TASK_AT(task)                                                                     \
	do {                                                                                        \
		static const struct sonde_location sonde_loc_ = {__FILE__, __func__, __LINE__};       \
		sonde_task_location((task), &sonde_loc_);                                               \
	} while (0)

#endif /* SONDE_H */
