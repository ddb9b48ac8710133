/*
 * cmd_task.c - the `task` command: everything known about one task (`sys:get_state` and
 * `process_info` in one): its fields, parent chain, children, window figures and the output of
 * its inspect callback, run on the inspect helper with a budget. A task that has exited answers
 * with its exit record while the ring still holds it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "command.h"
#include "inspect.h"
#include "proc.h"
#include "proto.h"
#include "registry.h"
#include "taskjson.h"
#include "topn.h"

#define TASK_CHILDREN_SHOWN 100
#define TASK_CHAIN_MAX 64

/* Parents from the nearest up to the root: live ones from their slots, exited ones from the
 * exit ring while it remembers them. */
static json_t *task_parents(const struct registry_row *row)
{
	json_t *chain = json_array();
	struct registry_row p;
	struct registry_exit rec;
	uint64_t id = row->parent_id;
	uint32_t pidx = row->parent_idx, pgen = row->parent_gen;

	for (int depth = 0; id != 0 && depth < TASK_CHAIN_MAX; depth++) {
		if (pidx != REGISTRY_NO_PARENT && registry_read(pidx, pgen, &p) == 0 && p.id == id) {
			json_array_append_new(chain, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)p.id,
			                                       "name", p.name, "kind",
			                                       registry_kind_name(p.kind)));
			id = p.parent_id;
			pidx = p.parent_idx;
			pgen = p.parent_gen;
		} else if (registry_exit_find(id, &rec) == 0) {
			json_array_append_new(chain, json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)id,
			                                       "name", rec.name, "kind",
			                                       registry_kind_name(rec.kind), "status",
			                                       "exited"));
			id = rec.parent_id;
			pidx = REGISTRY_NO_PARENT;
		} else {
			json_array_append_new(chain, json_pack("{s:I,s:s}", "id", (json_int_t)id,
			                                       "status", "exited"));
			break;
		}
	}
	return chain;
}

/* The children of slot idx (that incarnation): the first TASK_CHILDREN_SHOWN by id, and how
 * many there are. A scan of the parent links (8 bytes per slot). */
static json_t *task_children(const struct registry_row *row, uint64_t *count, uint64_t now)
{
	struct topn_item items[TASK_CHILDREN_SHOWN];
	struct topn top;
	uint32_t limit = registry_slot_limit();
	json_t *arr = json_array();
	size_t n;

	*count = 0;
	topn_init(&top, items, TASK_CHILDREN_SHOWN, 0, NULL, NULL);
	for (uint32_t c = 0; (c << REGISTRY_CHUNK_SHIFT) < limit; c++) {
		struct registry_chunk *ch = registry_chunk(c);
		uint32_t m = limit - (c << REGISTRY_CHUNK_SHIFT);

		if (ch == NULL)
			continue;
		if (m > REGISTRY_CHUNK_SLOTS)
			m = REGISTRY_CHUNK_SLOTS;
		for (uint32_t i = 0; i < m; i++) {
			struct sonde_task *t = &ch->hot[i];
			uint32_t g1, g2;
			uint64_t id;

			if (atomic_load_explicit(&ch->link[i].parent_idx, memory_order_relaxed) !=
			    row->idx)
				continue;
			g1 = atomic_load_explicit(&t->generation_, memory_order_acquire);
			if ((g1 & 1) == 0 ||
			    atomic_load_explicit(&ch->link[i].parent_gen, memory_order_relaxed) != row->gen)
				continue;
			id = atomic_load_explicit(&t->id_, memory_order_relaxed);
			atomic_thread_fence(memory_order_acquire);
			g2 = atomic_load_explicit(&t->generation_, memory_order_relaxed);
			if (g1 != g2)
				continue;
			(*count)++;
			topn_offer(&top, topn_key_u64(id), id, (c << REGISTRY_CHUNK_SHIFT) | i, g1);
		}
	}
	n = topn_finish(&top);
	for (size_t k = 0; k < n; k++) {
		struct registry_row cr;

		if (registry_read(items[k].idx, items[k].gen, &cr) == 0)
			json_array_append_new(arr, taskjson_row(&cr, now));
	}
	return arr;
}

/* The inspect output, a withheld notice, or null when there is no callback. */
static void task_inspect(const struct registry_row *row, json_t *o)
{
	struct registry_chunk *ch = registry_chunk(row->idx >> REGISTRY_CHUNK_SHIFT);
	sonde_task *task = &ch->hot[row->idx & (REGISTRY_CHUNK_SLOTS - 1)];
	json_t *out;
	double ms;

	if (row->xflags & REGISTRY_X_SENSITIVE) {
		json_object_set_new(o, "inspect", json_pack("{s:s}", "withheld",
		                                            "task is marked sensitive"));
		return;
	}
	if (row->inspect == NULL) {
		json_object_set_new(o, "inspect", json_null());
		return;
	}
	inspect_run(row->inspect, task, row->inspect_arg, INSPECT_BUDGET_MS, &out, &ms);
	json_object_set_new(o, "inspect", out);
	json_object_set_new(o, "inspect_ms", json_real(ms));
}

/* Everything about a live task: the row, its description, family, window and inspect. */
static json_t *task_live(const struct registry_row *row, uint64_t now)
{
	struct registry_chunk *ch = registry_chunk(row->idx >> REGISTRY_CHUNK_SHIFT);
	uint32_t i = row->idx & (REGISTRY_CHUNK_SLOTS - 1);
	struct registry_window w;
	json_t *o = taskjson_row(row, now), *loc;
	uint64_t nchildren;
	const char *msrc = "explicit";

	json_object_set_new(o, "source", json_string("tasks"));
	if (row->kind == SONDE_SUPERVISOR) {
		json_object_set_new(o, "strategy", json_string(registry_strategy_name(row->strategy)));
		json_object_set_new(o, "max_restarts", json_integer(row->max_restarts));
		json_object_set_new(o, "max_seconds", json_integer(row->max_seconds));
	}
	if (row->xflags & REGISTRY_X_ARENA)
		msrc = "explicit+arena";
	else if (row->xflags & REGISTRY_X_THREADMEM)
		msrc = "explicit+thread";
	json_object_set_new(o, "memory_source", json_string(msrc));
	json_object_set_new(o, "memory_explicit", json_integer(row->memory_explicit));
	if (row->xflags & REGISTRY_X_EXT)
		json_object_set_new(o, (row->xflags & REGISTRY_X_ARENA) ? "memory_arena"
		                                                         : "memory_thread",
		                    json_integer(row->memory_ext));
	json_object_set_new(o, "arena", row->arena >= 0 ? json_integer(row->arena) : json_null());
	json_object_set_new(o, "tid", (row->xflags & REGISTRY_X_BOUND) ? json_integer(row->tid)
	                                                             : json_null());
	json_object_set_new(o, "sensitive", json_boolean(row->xflags & REGISTRY_X_SENSITIVE));
	if (row->location != NULL) {
		loc = json_pack("{s:s?,s:i,s:s?}", "file", row->location->file, "line",
		                row->location->line, "func", row->location->func);
		json_object_set_new(o, "location_detail", loc ? loc : json_null());
	}
	json_object_set_new(o, "parents", task_parents(row));
	json_object_set_new(o, "children", task_children(row, &nchildren, now));
	json_object_set_new(o, "children_count", json_integer((json_int_t)nchildren));
	registry_window(&w);
	if (w.ticks >= 2 && ch->snap_gen[i] == row->gen)
		json_object_set_new(o, "window",
		                    json_pack("{s:I,s:I,s:f}", "memory_delta", (json_int_t)ch->win_mem[i],
		                              "reductions_delta", (json_int_t)ch->win_red[i],
		                              "window_s", (double)w.window_ns / 1e9));
	task_inspect(row, o);
	return o;
}

/* A drill-down into a task that just died still answers, from the exit ring. */
static json_t *task_exited(const struct registry_exit *rec, uint64_t now)
{
	json_t *o = taskjson_exit_row(rec, now);

	json_object_set_new(o, "source", json_string("tasks"));
	if (rec->kind == SONDE_SUPERVISOR)
		json_object_set_new(o, "strategy", json_string(registry_strategy_name(rec->strategy)));
	json_object_set_new(o, "exit", json_pack("{s:s,s:f,s:f,s:s}", "reason", rec->reason,
	                                         "exited_s_ago", taskjson_age_s(rec->exit_ns, now),
	                                         "lifetime_s",
	                                         taskjson_age_s(rec->start_ns, rec->exit_ns),
	                                         "status_before",
	                                         registry_status_name(rec->status)));
	json_object_set_new(o, "inspect", json_null());
	return o;
}

/* With no declared tasks, `task id=TID` describes that OS thread, `id=PID` the process. */
static int task_thread(long long id, json_t **result, struct cmd_error *err)
{
	const struct proc_tick *pt = proc_latest();
	const struct proc_thread_tick *th;
	json_t *o;

	if (pt == NULL)
		return cmd_fail(err, ERR_BUSY, "no thread sample yet; retry after one sampling interval");
	if (id == getpid() && (th = proc_latest_thread((pid_t)id)) != NULL) {
		json_t *kids = json_array();

		for (size_t i = 0; i < pt->nthreads; i++)
			json_array_append_new(kids, json_pack("{s:i,s:s}", "id", pt->threads[i].tid,
			                                      "name", pt->threads[i].name));
		o = taskjson_thread_row(th, 0, taskjson_process_uptime_s());
		json_object_set_new(o, "kind", json_string("process"));
		json_object_set_new(o, "parent", json_null());
		json_object_set_new(o, "children", kids);
		json_object_set_new(o, "children_count", json_integer((json_int_t)pt->nthreads));
	} else if (id > 0 && id <= 0x7fffffff && (th = proc_latest_thread((pid_t)id)) != NULL) {
		o = taskjson_thread_row(th, getpid(), taskjson_process_uptime_s());
		json_object_set_new(o, "children", json_array());
		json_object_set_new(o, "children_count", json_integer(0));
	} else {
		return cmd_fail(err, ERR_NOT_FOUND, "no thread with id %lld: no tasks are declared, so "
		                "ids are thread ids (see `sonde query tasks`)", id);
	}
	json_object_set_new(o, "source", json_string("threads"));
	json_object_set_new(o, "inspect", json_null());
	*result = o;
	return 0;
}

/* Find the task (live, else exited), or the thread when no task was ever declared. */
static int cmd_task_exec(const json_t *req, json_t **result, struct cmd_error *err)
{
	static const char *const keys[] = {"task", NULL};
	struct registry_row row;
	struct registry_exit rec;
	long long id;
	uint32_t gen;
	long idx;
	uint64_t now;

	/*
	 * Which task: "task":N, else the request's own "id". In protocol v1 "id" is also the
	 * request id, so `task id=N` works when the client sends N as the request id (the CLI does
	 * for a user-given id); programs that pipeline requests send "task":N.
	 */
	if (proto_check_keys(req, keys, err) != 0 ||
	    proto_arg_int(req, "task", -1, 1, INT64_MAX, &id, err) != 0)
		return -1;
	if (id < 0 && proto_arg_int(req, "id", -1, 1, INT64_MAX, &id, err) != 0)
		return -1;
	if (id < 0)
		return cmd_fail(err, ERR_BAD_ARGUMENT, "task needs the task's id: task=N (or id=N as the "
		                "request id), N from `tasks`");
	if (!registry_used())
		return task_thread(id, result, err);
	now = agent_now_ns();
	/* The slot may change hands between finding and reading it: look again, a few times. */
	for (int tries = 0; tries < 3; tries++) {
		idx = registry_find((uint64_t)id, &gen);
		if (idx < 0)
			break;
		if (registry_read((uint32_t)idx, gen, &row) == 0) {
			*result = task_live(&row, now);
			return 0;
		}
	}
	if (registry_exit_find((uint64_t)id, &rec) == 0) {
		*result = task_exited(&rec, now);
		return 0;
	}
	return cmd_fail(err, ERR_NOT_FOUND, "no task with id %lld: it never existed, or it exited "
	                "and left the exit ring (the last %u exits are kept)", id,
	                registry_exit_ring_capacity());
}

const struct command_entry cmd_task_entry = {
	.name = "task",
	.args = "task=N | id=N",
	.summary = "one task in full: fields, parent chain, children, window, inspect state "
	           "(50 ms budget), or its exit record",
	.exec = cmd_task_exec,
};
