/*
 * registry.h - the task registry: where the tasks of include/sonde.h live, and how the agent
 * reads them without stopping their writers.
 *
 * Layout. Slots live in chunks of REGISTRY_CHUNK_SLOTS, each one mmap()ed region holding
 * parallel arrays: the tasks' hot lines (struct sonde_task, 64 bytes, what the application
 * writes), their cold records (name, parent, kind, inspect callback...), their parent links, and
 * the agent's own per-slot window snapshot. Chunks are never moved or freed, so a handle stays
 * valid and a scan of one field reads contiguous memory.
 *
 * Consistency. A slot's generation is odd while a task lives in it and changes at spawn and at
 * exit. Every field the agent reads is an atomic (relaxed): the agent copies what it needs
 * between two reads of the generation and throws the copy away if the generation changed, so it
 * never reports a torn or recycled task (a seqlock whose "write" state is the free state).
 *
 * Threads. Spawn and exit run on application threads with per-thread caches of free slots and
 * of ids (no global lock on the common path, no syscall); everything named registry_* below
 * that is not marked "any thread" runs on the agent thread (or a test standing in for it).
 */
#ifndef SONDE_REGISTRY_H
#define SONDE_REGISTRY_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include "sonde.h"
#include "probe.h"

#define REGISTRY_CHUNK_SHIFT 16
#define REGISTRY_CHUNK_SLOTS (1u << REGISTRY_CHUNK_SHIFT)     /* 65,536 slots per chunk */
#define REGISTRY_MAX_CHUNKS 256u                              /* 16,777,216 live tasks at most */
#define REGISTRY_MAX_SLOTS (REGISTRY_CHUNK_SLOTS * REGISTRY_MAX_CHUNKS)
#define REGISTRY_NAME_MAX 48       /* bytes of a name kept, NUL included */
#define REGISTRY_REASON_MAX 64     /* bytes of an exit reason kept, NUL included */
#define REGISTRY_NO_PARENT UINT32_MAX
#define REGISTRY_EXIT_RING_DEFAULT 1000u

/* Bits of sonde_task.xflags_. */
#define REGISTRY_X_SENSITIVE 0x1u  /* inspect state withheld */
#define REGISTRY_X_BOUND 0x2u      /* bound to a thread: cold.tid, CPU from that thread */
#define REGISTRY_X_THREADMEM 0x4u  /* memory includes the thread's jemalloc allocated-deallocated */
#define REGISTRY_X_ARENA 0x8u      /* memory includes its own jemalloc arena's allocated bytes */
#define REGISTRY_X_EXT (REGISTRY_X_THREADMEM | REGISTRY_X_ARENA)

/* What the application declared about a task, beside its hot line. Written at spawn (while the
 * slot is free) and by the rare calls (rename, restart, arena); ext_memory by the agent. */
struct registry_cold {
	_Atomic uint32_t name_seq;                 /* odd while a rename is in progress */
	_Atomic uint32_t restarts;
	_Atomic uint64_t name[REGISTRY_NAME_MAX / 8]; /* NUL-padded bytes */
	const char *_Atomic initial_call;
	_Atomic uint64_t parent_id;                /* 0: top level */
	_Atomic uint32_t meta;                     /* kind | strategy << 8 */
	_Atomic int32_t max_restarts;
	_Atomic int32_t max_seconds;
	_Atomic int32_t arena;                     /* jemalloc arena, -1: none */
	_Atomic int32_t tid;                       /* bound thread, 0: none */
	_Atomic int64_t ext_memory;                /* arena or thread bytes, as of the last tick */
	_Atomic(sonde_inspect_fn) inspect;
	void *_Atomic inspect_arg;
	uint64_t *_Atomic allocatedp;              /* bound thread's jemalloc counters */
	uint64_t *_Atomic deallocatedp;
	_Atomic int64_t thread_base;               /* allocated - deallocated at spawn */
};

/* Parent slot and its generation at spawn: a child whose parent slot has moved on is an orphan
 * (shown at top level), never attached to the slot's next tenant. */
struct registry_link {
	_Atomic uint32_t parent_idx;               /* REGISTRY_NO_PARENT: top level */
	_Atomic uint32_t parent_gen;
};

struct registry_chunk {
	struct sonde_task hot[REGISTRY_CHUNK_SLOTS];
	struct registry_cold cold[REGISTRY_CHUNK_SLOTS];
	struct registry_link link[REGISTRY_CHUNK_SLOTS];
	/* The agent's window snapshot, agent thread only: the state at the last tick and the
	 * change since the tick before (the "window"). */
	uint32_t snap_gen[REGISTRY_CHUNK_SLOTS];
	uint8_t snap_moved[REGISTRY_CHUNK_SLOTS];  /* a window delta is non-zero */
	uint64_t snap_id[REGISTRY_CHUNK_SLOTS];
	uint64_t snap_red[REGISTRY_CHUNK_SLOTS];
	int64_t snap_mem[REGISTRY_CHUNK_SLOTS];
	uint64_t win_red[REGISTRY_CHUNK_SLOTS];
	int64_t win_mem[REGISTRY_CHUNK_SLOTS];
};

/* Bytes the registry spends per task slot (hot line, cold record, link, agent snapshot). */
#define REGISTRY_BYTES_PER_TASK (sizeof(struct registry_chunk) / REGISTRY_CHUNK_SLOTS)

/* Slot numbers handed out so far (free or live): scans go from 0 to this. */
uint32_t registry_slot_limit(void);

/* The chunk holding slot numbers [c << SHIFT, (c+1) << SHIFT), or NULL if not made yet. */
struct registry_chunk *registry_chunk(uint32_t c);

/* For scans of every slot below limit: chunk c (NULL if never made: skip it) and, in *n, how many
 * of its slots lie below limit. */
struct registry_chunk *registry_chunk_span(uint32_t c, uint32_t limit, uint32_t *n);

/* Everything known about one live task, copied consistently. */
struct registry_row {
	uint32_t idx, gen;
	uint64_t id, parent_id;
	uint32_t parent_idx, parent_gen;
	char name[REGISTRY_NAME_MAX];
	const char *initial_call;
	const struct sonde_location *location;
	uint64_t reductions, queue;
	int64_t memory;             /* explicit + ext */
	int64_t memory_explicit;    /* sonde_task_memory() sum */
	int64_t memory_ext;         /* arena or thread bytes at the last tick */
	uint32_t status, kind, strategy, restarts, xflags;
	int max_restarts, max_seconds, arena;
	pid_t tid;
	uint64_t start_ns;
	sonde_inspect_fn inspect;
	void *inspect_arg;
};

/* Copy slot idx if it holds a live task (and, if want_gen != 0, that very incarnation).
 * 0 on success, -1 if the slot is free or changed hands during the copy. Any thread. */
int registry_read(uint32_t idx, uint32_t want_gen, struct registry_row *out);

/* The slot's name, copied under its rename seqlock (bounded retries). Any thread. */
void registry_read_name(const struct registry_cold *cold, char out[REGISTRY_NAME_MAX]);

/* Slot number of the live task with this id, or -1. A scan of the hot lines: ~1 ms at 1M. */
long registry_find(uint64_t id, uint32_t *gen);

/* The final figures of an exited task, as kept in the exit ring. */
struct registry_exit {
	uint64_t id, parent_id;
	uint64_t reductions, queue;
	int64_t memory;
	uint64_t start_ns, exit_ns;         /* CLOCK_MONOTONIC(_COARSE) */
	const char *initial_call;
	const struct sonde_location *location;
	uint32_t restarts, kind, strategy, status;   /* status before exit */
	char name[REGISTRY_NAME_MAX];
	char reason[REGISTRY_REASON_MAX];
};

/* Resize the exit ring (capacity 1..1,000,000 records); the newest records are carried over.
 * Agent thread; called by the probe's init with agent_info()->exit_ring. */
int registry_set_exit_ring(unsigned capacity);

/* Up to max of the newest exit records, newest first; returns how many. Any thread. */
size_t registry_exits(struct registry_exit *out, size_t max);

/* The exit record of task id if the ring still holds it: 0, else -1. Any thread. */
int registry_exit_find(uint64_t id, struct registry_exit *out);

/* The ring's capacity and how many records did not fit (a writer lapped by another). */
unsigned registry_exit_ring_capacity(void);
uint64_t registry_exit_ring_dropped(void);

struct registry_totals {
	uint64_t live, spawned, exited, queue, restarts;
	uint64_t reductions;   /* live tasks' plus the final figures of exited ones: only grows */
	int64_t memory;
};

/* Spawns and exits so far, counted now (a lock over the per-thread counters, no scan): the
 * pair changes whenever the set of live tasks does. Agent thread. */
uint64_t registry_spawned_count(void);
uint64_t registry_exited_now(void);

/* Totals as of the last tick (spawned/exited/restarts: counted now). */
void registry_totals(struct registry_totals *out);

/* Has the application ever declared a task? If not, commands show OS threads instead. */
int registry_used(void);

/* Take the window snapshot: called by the probe every sampling interval (and by tests).
 * Updates arena/thread memory, the per-slot window deltas and the totals. */
void registry_tick(uint64_t now_ns);

/* The window: ticks taken, length of the last window in ns (0 until two ticks), time of the
 * last tick (agent_now_ns clock). */
struct registry_window {
	uint64_t ticks, window_ns, last_tick_ns;
};
void registry_window(struct registry_window *out);

/* Cost of the last tick, for `system`/bench: ns and slots scanned. */
void registry_tick_cost(uint64_t *ns, uint64_t *slots);

/* Names of enum values on the wire. */
const char *registry_status_name(uint32_t status);
const char *registry_kind_name(uint32_t kind);
const char *registry_strategy_name(uint32_t strategy);

/* CLOCK_MONOTONIC_COARSE in ns: what spawn/exit stamp (a vDSO read, no syscall). */
uint64_t registry_coarse_ns(void);

extern const struct probe_entry registry_probe;

#endif
