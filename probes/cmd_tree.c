/*
 * cmd_tree.c - the `tree` command: the supervision tree the application declared, with subtree
 * totals, bounded by depth and by a node budget.
 *
 * One pass over the slots gathers every live task's parent (kept only if the parent slot still
 * holds the very parent: otherwise the task is an orphan and shows at top level), its memory and
 * reductions; children lists are built as one array (counting sort by parent); subtree totals
 * are summed in reverse breadth-first order. The answer is then expanded breadth first, so a
 * node budget shows the upper levels whole before the deep ones, children in id order, and a
 * node whose children are not all shown says how many are missing ("truncated":N).
 *
 * The index (links, children lists, subtree totals) is built lazily and reused: it is rebuilt
 * when something changed since (a sample was taken, a task spawned or exited), at once if the
 * last build cost under 2 ms, else once it is older than TREE_REBUILD_FACTOR times what it
 * cost. So trees cost the agent at most ~5% of its time however many screens poll and however
 * fast tasks churn; a tree of up to ~150k tasks is always current; a tree of a million (~30-50 ms) is rebuilt about once a second,
 * its totals exact as of that build (the reply says how old: index_age_ms). A task that exited
 * since shows as "exited"; one spawned since shows at the next build.
 *
 * A per-node children cap (`children`) keeps one wide supervisor (a million parked sessions)
 * from spending the node budget its siblings' subtrees need: a capped node shows its first
 * children in id order, its child_count, and "truncated" for the ones left out.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "command.h"
#include "proc.h"
#include "proto.h"
#include "registry.h"
#include "taskjson.h"
#include "topn.h"

#define TREE_DEPTH_DEFAULT 8
#define TREE_DEPTH_MAX 64
#define TREE_LIMIT_DEFAULT 2000
#define TREE_LIMIT_MAX 100000
#define TREE_CHILDREN_DEFAULT 1000
#define TREE_CHILDREN_MAX 10000
#define NONE UINT32_MAX
#define TREE_REBUILD_FACTOR 20   /* rebuild no sooner than 20x the last build's cost: <= 5% */
#define TREE_REBUILD_FREE_NS 2000000u /* a build cheaper than 2 ms (~150k tasks) is always redone */

struct tree {
	uint32_t nslots;
	uint32_t *parent;      /* per slot: parent slot, NONE for roots and free slots */
	uint32_t *gen;         /* per slot: generation seen (odd: live) */
	uint64_t *id;
	uint64_t *sub_red;     /* per slot: subtree reductions */
	int64_t *sub_mem;      /* per slot: subtree memory */
	uint32_t *first;       /* per slot + 1: children of s are kids[first[s]..first[s+1]) */
	uint32_t *kids;
	uint32_t *roots;
	uint32_t nroots, nlive;
};

/*
 * The arrays are kept from one request to the next (grown, never shrunk): allocating ~40 MB
 * afresh at 1M tasks costs more in page faults than building the tree. 36 bytes per slot,
 * made on the first `tree` request.
 */
static struct tree scratch;
static uint32_t scratch_cap;

/* What the scratch index was built from: reused while all of these still hold. */
static struct tree_built {
	int valid;
	uint64_t tick, spawned, exited;
	uint32_t nslots;
	uint64_t at_ns, cost_ns;   /* agent_now_ns() of the build, and what it took */
} built;

static void tree_memo_clear(void);

/* Release the scratch arrays (on allocation failure, to retry next time). */
static void tree_free(struct tree *t)
{
	free(t->parent);
	free(t->gen);
	free(t->id);
	free(t->sub_red);
	free(t->sub_mem);
	free(t->first);
	free(t->kids);
	free(t->roots);
	memset(t, 0, sizeof *t);
}

/* Scratch arrays for n slots: 0, or -1 (memory) with nothing kept. */
static int tree_scratch(uint32_t n)
{
	struct tree *t = &scratch;
	uint32_t cap;

	if (n <= scratch_cap && t->parent != NULL)
		return 0;
	tree_free(t);
	cap = (n + REGISTRY_CHUNK_SLOTS - 1) / REGISTRY_CHUNK_SLOTS * REGISTRY_CHUNK_SLOTS;
	if (cap == 0)
		cap = REGISTRY_CHUNK_SLOTS;
	t->parent = malloc((size_t)cap * sizeof *t->parent);
	t->gen = malloc((size_t)cap * sizeof *t->gen);
	t->id = malloc((size_t)cap * sizeof *t->id);
	t->sub_red = malloc((size_t)cap * sizeof *t->sub_red);
	t->sub_mem = malloc((size_t)cap * sizeof *t->sub_mem);
	t->first = malloc(((size_t)cap + 2) * sizeof *t->first);
	t->kids = malloc((size_t)cap * sizeof *t->kids);
	t->roots = malloc((size_t)cap * sizeof *t->roots);
	built.valid = 0;
	if (!t->parent || !t->gen || !t->id || !t->sub_red || !t->sub_mem || !t->first || !t->kids ||
	    !t->roots) {
		tree_free(t);
		scratch_cap = 0;
		return -1;
	}
	scratch_cap = cap;
	return 0;
}

/* Gather live tasks and their links, build children lists and subtree totals into the scratch
 * arrays. 0, or -1 (memory). */
static int tree_index_build(struct tree **out)
{
	uint32_t n = registry_slot_limit(), *order, *fill, head = 0, tail = 0;
	struct tree *t = &scratch;

	if (tree_scratch(n) != 0)
		return -1;
	*out = t;
	t->nslots = n;
	t->nroots = 0;
	t->nlive = 0;
	memset(t->first, 0, ((size_t)n + 2) * sizeof *t->first);

	/* pass 1: live tasks, their figures and raw links */
	for (uint32_t s = 0; s < n; s++) {
		struct registry_chunk *ch = registry_chunk(s >> REGISTRY_CHUNK_SHIFT);
		uint32_t i = s & (REGISTRY_CHUNK_SLOTS - 1), g1, g2, xf;
		struct sonde_task *h;

		t->parent[s] = NONE;
		t->gen[s] = 0;
		if (ch == NULL)
			continue;
		h = &ch->hot[i];
		g1 = atomic_load_explicit(&h->generation_, memory_order_acquire);
		if ((g1 & 1) == 0)
			continue;
		xf = atomic_load_explicit(&h->xflags_, memory_order_relaxed);
		t->id[s] = atomic_load_explicit(&h->id_, memory_order_relaxed);
		t->sub_red[s] = atomic_load_explicit(&h->reductions_, memory_order_relaxed);
		t->sub_mem[s] = atomic_load_explicit(&h->memory_, memory_order_relaxed);
		if (xf & REGISTRY_X_EXT)
			t->sub_mem[s] += atomic_load_explicit(&ch->cold[i].ext_memory, memory_order_relaxed);
		t->parent[s] = atomic_load_explicit(&ch->link[i].parent_idx, memory_order_relaxed);
		/* kids[] is free until the children lists are built: it holds parent_gen meanwhile */
		t->kids[s] = atomic_load_explicit(&ch->link[i].parent_gen, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		g2 = atomic_load_explicit(&h->generation_, memory_order_relaxed);
		if (g1 != g2) {
			t->parent[s] = NONE;
			continue;
		}
		t->gen[s] = g1;
		t->nlive++;
	}
	/* pass 2: a link counts only if the parent slot holds that parent and it is live */
	for (uint32_t s = 0; s < n; s++) {
		uint32_t p = t->parent[s];

		if ((t->gen[s] & 1) == 0)
			continue;
		if (p != NONE && (p >= n || t->gen[p] != t->kids[s] || (t->gen[p] & 1) == 0))
			p = t->parent[s] = NONE;
		if (p == NONE)
			t->roots[t->nroots++] = s;
		else
			t->first[p + 1]++;
	}
	for (uint32_t s = 0; s < n; s++)
		t->first[s + 1] += t->first[s];
	/* the fill cursors and the breadth-first order are temporary: one allocation, n + n */
	fill = malloc(((size_t)n + (size_t)t->nlive + 1) * sizeof *fill);
	if (fill == NULL)
		return -1;
	order = fill + n;
	memcpy(fill, t->first, (size_t)n * sizeof *fill);
	for (uint32_t s = 0; s < n; s++)
		if ((t->gen[s] & 1) && t->parent[s] != NONE)
			t->kids[fill[t->parent[s]]++] = s;
	/* subtree totals: breadth-first order from the roots, summed in reverse */
	for (uint32_t r = 0; r < t->nroots; r++)
		order[tail++] = t->roots[r];
	while (head < tail) {
		uint32_t s = order[head++];

		for (uint32_t k = t->first[s]; k < t->first[s + 1]; k++)
			order[tail++] = t->kids[k];
	}
	for (uint32_t k = tail; k-- > 0;) {
		uint32_t s = order[k], p = t->parent[s];

		if (p != NONE) {
			t->sub_red[p] += t->sub_red[s];
			t->sub_mem[p] += t->sub_mem[s];
		}
	}
	free(fill);
	return 0;
}

/* The index for this request: the one already built if nothing changed since, or if it is
 * too fresh to rebuild for its cost; else a fresh one. *reused says which. 0, or -1 (memory). */
static int tree_build(struct tree **out, int *reused)
{
	struct registry_window w;
	uint64_t spawned = registry_spawned_count(), exited = registry_exited_now(), t0;
	uint32_t n = registry_slot_limit();

	registry_window(&w);
	*reused = built.valid &&
	          ((built.tick == w.ticks && built.spawned == spawned && built.exited == exited &&
	            built.nslots == n) ||
	           (built.cost_ns >= TREE_REBUILD_FREE_NS &&
	            agent_now_ns() - built.at_ns < TREE_REBUILD_FACTOR * built.cost_ns));
	if (*reused) {
		*out = &scratch;
		return 0;
	}
	built.valid = 0;
	tree_memo_clear();
	t0 = agent_now_ns();
	if (tree_index_build(out) != 0)
		return -1;
	built = (struct tree_built){1, w.ticks, spawned, exited, n, agent_now_ns(), 0};
	built.cost_ns = built.at_ns - t0;
	return 0;
}

/* One node's own fields (children added by the caller). */
static json_t *tree_node(const struct tree *t, uint32_t s)
{
	struct registry_row row;
	json_t *o;
	uint32_t nkids = t->first[s + 1] - t->first[s];

	if (registry_read(s, t->gen[s], &row) != 0)
		o = json_pack("{s:I,s:s}", "id", (json_int_t)t->id[s], "status", "exited");
	else {
		o = json_pack("{s:I,s:s,s:s,s:s,s:i}", "id", (json_int_t)row.id, "name", row.name,
		              "kind", registry_kind_name(row.kind), "status",
		              registry_status_name(row.status), "restarts", (int)row.restarts);
		if (o == NULL) /* a name that is not UTF-8 */
			o = json_pack("{s:I,s:s}", "id", (json_int_t)row.id, "name", "(not UTF-8)");
		json_object_set_new(o, "strategy", row.kind == SONDE_SUPERVISOR
		                                       ? json_string(registry_strategy_name(row.strategy))
		                                       : json_null());
		json_object_set_new(o, "memory_self", json_integer(row.memory));
		json_object_set_new(o, "reductions_self", json_integer((json_int_t)row.reductions));
	}
	json_object_set_new(o, "child_count", json_integer(nkids));
	json_object_set_new(o, "memory", json_integer(t->sub_mem[s]));
	json_object_set_new(o, "reductions", json_integer((json_int_t)t->sub_red[s]));
	return o;
}

/*
 * The first children of a very wide node (a million sessions under one supervisor) take a pass
 * over all its children's ids (~3 ms at 1M, scattered reads); screens ask for the same node
 * every refresh, so the pick is remembered per node until the index is rebuilt. A few nodes,
 * at most TREE_CHILDREN_MAX items each.
 */
#define TREE_MEMO_NODES 8
#define TREE_MEMO_MIN_KIDS 4096
#define TREE_MEMO_TOP (NONE - 1)   /* the memo's name for the top level (no slot has it) */

static struct tree_memo {
	uint32_t slot;             /* NONE: empty */
	size_t cap, n;
	struct topn_item *items;   /* TREE_CHILDREN_MAX of them, kept */
	uint64_t used;
} memo[TREE_MEMO_NODES];
static uint64_t memo_clock;

/* Forget every remembered pick (the index changed). */
static void tree_memo_clear(void)
{
	for (int i = 0; i < TREE_MEMO_NODES; i++)
		memo[i].slot = NONE;
}

/* Pick up to cap of the given slots in id order. Returns how many are in items. parent is the
 * slot whose children these are (NONE for the top level): a wide node's (or a wide top
 * level's) pick is remembered. */
static size_t tree_pick(const struct tree *t, uint32_t parent, const uint32_t *slots, uint32_t n,
                        size_t cap, struct topn_item *items)
{
	struct tree_memo *m = NULL;
	struct topn top;
	size_t got;

	if (parent == NONE)
		parent = TREE_MEMO_TOP; /* a flat population: every task is a root */
	if (n >= TREE_MEMO_MIN_KIDS && cap <= TREE_CHILDREN_MAX) {
		for (int i = 0; i < TREE_MEMO_NODES; i++)
			if (memo[i].slot == parent && memo[i].items != NULL &&
			    (memo[i].cap >= cap || memo[i].n < memo[i].cap)) {
				got = memo[i].n < cap ? memo[i].n : cap;
				memcpy(items, memo[i].items, got * sizeof *items);
				memo[i].used = ++memo_clock;
				return got;
			}
		m = &memo[0]; /* least recently used, to be refilled below */
		for (int i = 1; i < TREE_MEMO_NODES; i++)
			if (memo[i].used < m->used)
				m = &memo[i];
	}
	topn_init(&top, items, cap, 0, NULL, NULL);
	for (uint32_t k = 0; k < n; k++)
		topn_offer(&top, topn_key_u64(t->id[slots[k]]), t->id[slots[k]], slots[k], 0);
	got = topn_finish(&top);
	if (m != NULL) {
		if (m->items == NULL)
			m->items = malloc(TREE_CHILDREN_MAX * sizeof *m->items);
		if (m->items != NULL) {
			memcpy(m->items, items, got * sizeof *items);
			m->slot = parent;
			m->cap = cap;
			m->n = got;
			m->used = ++memo_clock;
		}
	}
	return got;
}

struct tree_pending {
	json_t *node;
	uint32_t slot, depth;
};

/* Expand breadth first from the given top slots until depth or the node budget runs out, at
 * most `children` children per node (the top slots are bounded by the budget alone).
 * *shown gets the nodes emitted; returns the array of top nodes; *omitted the top slots left out. */
static json_t *tree_expand(const struct tree *t, const uint32_t *top, uint32_t ntop, long long depth,
                           long long limit, long long children, uint64_t *shown,
                           uint64_t *omitted)
{
	struct tree_pending *q = malloc((size_t)limit * sizeof *q);
	struct topn_item *items = malloc((size_t)limit * sizeof *items);
	json_t *arr = json_array();
	size_t head = 0, tail = 0, k, n;
	long long budget = limit;

	*shown = 0;
	*omitted = 0;
	if (q == NULL || items == NULL) {
		free(q);
		free(items);
		return arr;
	}
	n = tree_pick(t, NONE, top, ntop, (size_t)budget, items);
	for (k = 0; k < n; k++) {
		json_t *node = tree_node(t, items[k].idx);

		json_array_append_new(arr, node);
		q[tail++] = (struct tree_pending){node, items[k].idx, 1};
	}
	budget -= (long long)n;
	*omitted = ntop - n;
	while (head < tail) {
		struct tree_pending p = q[head++];
		uint32_t nk = t->first[p.slot + 1] - t->first[p.slot];
		json_t *kids;

		if (nk == 0)
			continue;
		if ((long long)p.depth >= depth || budget == 0) {
			json_object_set_new(p.node, "truncated", json_integer(nk));
			continue;
		}
		n = tree_pick(t, p.slot, t->kids + t->first[p.slot], nk,
		              (size_t)(budget < children ? budget : children), items);
		kids = json_array();
		for (k = 0; k < n; k++) {
			json_t *node = tree_node(t, items[k].idx);

			json_array_append_new(kids, node);
			q[tail++] = (struct tree_pending){node, items[k].idx, p.depth + 1};
		}
		budget -= (long long)n;
		json_object_set_new(p.node, "children", kids);
		if (n < nk)
			json_object_set_new(p.node, "truncated", json_integer(nk - n));
	}
	*shown = tail;
	free(q);
	free(items);
	return arr;
}

/* No declared tasks: the process as the root, its threads under it (Linux does not record which
 * thread created which, so the tree is one level deep). Reductions are CPU ms. */
static int tree_threads(json_t *res, struct cmd_error *err)
{
	const struct proc_tick *pt = proc_latest();
	const struct agent_info *ai = agent_info();
	double up = taskjson_process_uptime_s(), cpu_ms = 0;
	json_t *root, *kids = json_array();

	if (pt == NULL) {
		json_decref(kids);
		return cmd_fail(err, ERR_BUSY, "no thread sample yet; retry after one sampling interval");
	}
	for (size_t i = 0; i < pt->nthreads; i++) {
		json_t *o = taskjson_thread_row(&pt->threads[i], getpid(), up);

		json_object_set_new(o, "child_count", json_integer(0));
		json_array_append_new(kids, o);
		cpu_ms += pt->threads[i].cpu_s * 1000.0;
	}
	root = json_pack("{s:i,s:s,s:s,s:s,s:n,s:i,s:I,s:n,s:I}", "id", (int)getpid(), "name",
	                 ai->name && ai->name[0] ? ai->name : program_invocation_short_name,
	                 "kind", "process", "status", "running",
	                 "strategy", "restarts", 0, "child_count", (json_int_t)pt->nthreads, "memory",
	                 "reductions", (json_int_t)cpu_ms);
	json_object_set_new(root, "children", kids);
	json_object_set_new(res, "source", json_string("threads"));
	json_object_set_new(res, "note", json_string("no tasks declared: the process and its OS "
	                                             "threads (reductions = CPU time in ms)"));
	json_object_set_new(res, "total", json_integer((json_int_t)pt->nthreads + 1));
	json_object_set_new(res, "nodes", json_integer((json_int_t)pt->nthreads + 1));
	json_object_set_new(res, "roots", json_pack("[o]", root));
	return 0;
}

/* Build the whole tree (subtree totals need it), then expand only what was asked for. */
static int cmd_tree_exec(const json_t *req, json_t **result, struct cmd_error *err)
{
	static const char *const keys[] = {"root", "depth", "limit", "children", NULL};
	long long root, depth, limit, children;
	struct tree *t;
	int reused;
	uint64_t shown, omitted;
	json_t *res, *roots;
	uint32_t rslot;

	if (proto_check_keys(req, keys, err) != 0 ||
	    proto_arg_int(req, "root", 0, 1, INT64_MAX, &root, err) != 0 ||
	    proto_arg_int(req, "depth", TREE_DEPTH_DEFAULT, 0, TREE_DEPTH_MAX, &depth, err) != 0 ||
	    proto_arg_int(req, "limit", TREE_LIMIT_DEFAULT, 1, TREE_LIMIT_MAX, &limit, err) != 0 ||
	    proto_arg_int(req, "children", TREE_CHILDREN_DEFAULT, 1, TREE_CHILDREN_MAX, &children,
	                  err) != 0)
		return -1;
	res = json_pack("{s:I,s:I,s:I}", "depth", (json_int_t)depth, "limit", (json_int_t)limit,
	                "children", (json_int_t)children);
	if (!registry_used()) {
		if (tree_threads(res, err) != 0) {
			json_decref(res);
			return -1;
		}
		*result = res;
		return 0;
	}
	if (tree_build(&t, &reused) != 0) {
		json_decref(res);
		return cmd_fail(err, ERR_INTERNAL, "out of memory building the tree of %u slots",
		                registry_slot_limit());
	}
	if (root != 0) {
		long idx = registry_find((uint64_t)root, NULL);

		/* a task spawned since a reused index was built: build one that has it */
		if (reused && idx >= 0 &&
		    (idx >= (long)t->nslots || (t->gen[idx] & 1) == 0 || t->id[idx] != (uint64_t)root)) {
			built.valid = 0;
			if (tree_build(&t, &reused) != 0) {
				json_decref(res);
				return cmd_fail(err, ERR_INTERNAL, "out of memory building the tree of %u "
				                "slots", registry_slot_limit());
			}
		}
		if (idx < 0 || idx >= (long)t->nslots || (t->gen[idx] & 1) == 0 ||
		    t->id[idx] != (uint64_t)root) {
			json_decref(res);
			return cmd_fail(err, ERR_NOT_FOUND, "no live task with id %lld (`task id=%lld` "
			                "shows its exit record if it exited)", root, root);
		}
		rslot = (uint32_t)idx;
		roots = tree_expand(t, &rslot, 1, depth + 1, limit, children, &shown,
		                    &omitted);
		json_object_set_new(res, "root", json_integer(root));
	} else {
		roots = tree_expand(t, t->roots, t->nroots, depth + 1, limit, children, &shown,
		                    &omitted);
	}
	json_object_set_new(res, "source", json_string("tasks"));
	json_object_set_new(res, "total", json_integer(t->nlive));
	json_object_set_new(res, "nodes", json_integer((json_int_t)shown));
	json_object_set_new(res, "roots", roots);
	/* how old the subtree totals are, and what building the index cost when it was built */
	json_object_set_new(res, "index_age_ms",
	                    json_real((double)(agent_now_ns() - built.at_ns) / 1e6));
	json_object_set_new(res, "index_build_ms", json_real((double)built.cost_ns / 1e6));
	json_object_set_new(res, "index_reused", json_boolean(reused));
	if (omitted > 0)
		json_object_set_new(res, "truncated", json_integer((json_int_t)omitted));
	*result = res;
	return 0;
}

const struct command_entry cmd_tree_entry = {
	.name = "tree",
	.args = "[root=ID] [depth=0..64 (8)] [limit=NODES (2000)] [children=1..10000 (1000)]",
	.summary = "the supervision tree: kind, strategy, status, restarts, children, subtree memory "
	           "and reductions (as of the last sample, spawn or exit); at most `children` per "
	           "node; truncated subtrees say how many children are missing",
	.exec = cmd_tree_exec,
};
