/*
 * tab_tree.c - the Tree tab: the supervision tree the application declared, as a collapsible
 * tree (observer's Applications tab), each node with kind/strategy, status, restarts and the
 * memory and reductions of its whole subtree.
 *
 * The agent answers `tree` breadth first within a node budget and at most TREE_PAGE children
 * per node, so the upper levels are always whole and one wide supervisor (a million sessions)
 * cannot crowd out its siblings; a node whose children were not all sent says how many are
 * missing, shown as a "… N more" row that, opened, asks for that node's next page. Collapsing and
 * expanding is local (no request), and the selection stays on the same task across refreshes.
 * A node whose restart count rose since the previous refresh is a restart storm in progress:
 * it is drawn in the critical colour with the increase, for a few refreshes.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "format.h"
#include "keys.h"
#include "table.h"
#include "tabs.h"
#include "theme.h"
#include "ui.h"

#define TREE_DEPTH 16            /* levels asked for */
#define TREE_LIMIT 1000          /* nodes asked for (the agent's budget: ~250 KiB of JSON) */
#define TREE_MAX_ROWS 12000      /* flattened rows kept (nodes + "more" rows) */
#define TREE_WIDE 100            /* a node with more children starts collapsed */
#define TREE_MAX_STATE 4096      /* nodes whose expansion the user chose */
#define TREE_STORM_S 5.0         /* how long a restart increase stays highlighted */
#define TREE_MAX_DEPTH 64
#define TREE_AGENT_SHARE 0.02    /* at most this share of the agent's time goes to our trees */
#define TREE_SUBTREES 4          /* expanded nodes missing children asked for at once */
#define TREE_PAGE 100            /* children per node in the main reply, and per "more" page */
#define TREE_PAGES_MAX 100       /* pages a node can show: the agent's children cap, 10,000 */
#define TREE_MAX_PERIOD_S 60.0

enum tree_col { COL_TREE, COL_ID, COL_KIND, COL_STATUS, COL_RESTARTS, COL_MEM, COL_REDS,
	COL_KIDS, COL_COUNT };

static const struct table_column tree_columns[COL_COUNT] = {
	[COL_TREE] = {"TREE", 16, 30, 3, 10, TABLE_LEFT},
	[COL_ID] = {"ID", 7, 8, 0, 8, TABLE_RIGHT},
	[COL_KIND] = {"KIND", 11, 18, 0, 5, TABLE_LEFT},
	[COL_STATUS] = {"STATUS", 7, 8, 0, 4, TABLE_LEFT},
	[COL_RESTARTS] = {"RESTARTS", 8, 10, 0, 9, TABLE_RIGHT},
	[COL_MEM] = {"SUB MEM", 9, 9, 0, 7, TABLE_RIGHT},
	[COL_REDS] = {"SUB REDS", 8, 8, 0, 6, TABLE_RIGHT},
	[COL_KIDS] = {"CHILDREN", 8, 8, 0, 3, TABLE_RIGHT},
};

struct tree_row {
	const json_t *node;        /* NULL for a "N more not shown" row */
	uint64_t id;
	uint64_t parent;           /* for a "more" row: whose children (0: the top level) */
	int depth;
	int expanded, has_kids;
	long more;                 /* for a "more" row: how many */
	char prefix[TREE_MAX_DEPTH * 3 + 8]; /* branch glyphs */
};

/* The user's choice for one node. */
struct tree_choice {
	uint64_t id;
	int expanded;
	int pages;                 /* pages of TREE_PAGE children shown (0: one) */
};

/* Restart counts seen, for storm detection. */
struct tree_restart {
	uint64_t id;
	double restarts;
	double rose_at;            /* monotonic seconds of the last increase, or -1 */
	double rose_by;
};

static struct {
	struct tree_row rows[TREE_MAX_ROWS];
	size_t nrows;
	long sel, top;
	uint64_t sel_id;
	struct tree_choice choice[TREE_MAX_STATE];
	size_t nchoice;
	struct tree_restart *restarts;
	size_t nrestarts, caprestarts;
	uint64_t seen_seq;
	int widths[COL_COUNT];
	int page;
	double period_s;           /* refresh period when a tree is costly to the agent (0: every tick) */
	struct fetch *fetch;       /* for the flattening to find subtree replies */
	uint64_t sub_ids[TREE_SUBTREES];  /* expanded nodes whose children we ask for on their own */
	size_t nsub;
} tree;

/* ---- expansion state ---------------------------------------------------------------------- */

static struct tree_choice *tree_choice_find(uint64_t id)
{
	for (size_t i = 0; i < tree.nchoice; i++)
		if (tree.choice[i].id == id)
			return &tree.choice[i];
	return NULL;
}

/* Is a node expanded: the user's choice, else expanded unless it is very wide. */
static int tree_is_expanded(const json_t *node, uint64_t id)
{
	const struct tree_choice *c = tree_choice_find(id);

	if (c != NULL)
		return c->expanded;
	return ui_num(node, "child_count") <= TREE_WIDE;
}

/* The choice record of a node, made if need be (NULL when the table is full). */
static struct tree_choice *tree_choice_get(uint64_t id)
{
	struct tree_choice *c = tree_choice_find(id);

	if (c == NULL && tree.nchoice < TREE_MAX_STATE) {
		c = &tree.choice[tree.nchoice++];
		c->id = id;
		c->pages = 1;
	}
	return c;
}

/* Remember the user's choice for a node across refreshes (bounded). */
static void tree_set_expanded(uint64_t id, int expanded)
{
	struct tree_choice *c = tree_choice_get(id);

	if (c != NULL)
		c->expanded = expanded;
}

/* How many children the screen asks for under a node: TREE_PAGE per page opened. */
static int tree_children_wanted(uint64_t id)
{
	const struct tree_choice *c = tree_choice_find(id);
	int pages = c != NULL && c->pages > 1 ? c->pages : 1;

	return pages * TREE_PAGE;
}

/* Show more of a node's children: pages more pages (at most the agent's cap). 1 if it grew. */
static int tree_more_pages(uint64_t id, int pages)
{
	struct tree_choice *c = tree_choice_get(id);

	if (c == NULL || c->pages >= TREE_PAGES_MAX)
		return 0;
	c->expanded = 1;
	c->pages = (c->pages > 0 ? c->pages : 1) + pages;
	if (c->pages > TREE_PAGES_MAX)
		c->pages = TREE_PAGES_MAX;
	return 1;
}

/* ---- restart storms ---------------------------------------------------------------------- */

static struct tree_restart *tree_restart_find(uint64_t id)
{
	for (size_t i = 0; i < tree.nrestarts; i++)
		if (tree.restarts[i].id == id)
			return &tree.restarts[i];
	return NULL;
}

/* Record a node's restart count from a new reply; note when it rose. */
static void tree_restart_note(uint64_t id, double restarts, double now)
{
	struct tree_restart *r = tree_restart_find(id);

	if (isnan(restarts))
		return;
	if (r == NULL) {
		if (tree.nrestarts == tree.caprestarts) {
			size_t cap = tree.caprestarts ? tree.caprestarts * 2 : 256;
			struct tree_restart *grown = realloc(tree.restarts, cap * sizeof *grown);

			if (grown == NULL)
				return;
			tree.restarts = grown;
			tree.caprestarts = cap;
		}
		r = &tree.restarts[tree.nrestarts++];
		*r = (struct tree_restart){id, restarts, -1, 0};
		return;
	}
	if (restarts > r->restarts) {
		r->rose_at = now;
		r->rose_by = restarts - r->restarts;
	}
	r->restarts = restarts;
}

/* How much a node's restarts rose recently (0: no storm). */
static double tree_storm(uint64_t id, double now)
{
	const struct tree_restart *r = tree_restart_find(id);

	return r != NULL && r->rose_at >= 0 && now - r->rose_at < TREE_STORM_S ? r->rose_by : 0;
}

/* Walk a reply's nodes to record restart counts (every node, shown or collapsed). */
static void tree_restart_walk(const json_t *nodes, double now, int depth)
{
	for (size_t i = 0; i < json_array_size(nodes) && depth < TREE_MAX_DEPTH; i++) {
		const json_t *n = json_array_get(nodes, i);

		tree_restart_note((uint64_t)json_integer_value(json_object_get(n, "id")),
		                  ui_num(n, "restarts"), now);
		tree_restart_walk(json_object_get(n, "children"), now, depth + 1);
	}
}

/* ---- subtrees ---------------------------------------------------------------------------- */

/*
 * The agent's node budget shows the upper levels whole; a node below it (or a very wide one)
 * comes without all its children. When the user expands such a node, its children are asked
 * for on their own (`tree root=ID depth=1 children=N`, N growing by a page each time its
 * "more" row is opened), and the flattening uses that answer.
 */
static const char *tree_sub_slot(char *buf, size_t size, uint64_t id)
{
	snprintf(buf, size, "tree.sub.%llu", (unsigned long long)id);
	return buf;
}

/* The children of node as the screen should show them: from its own subtree reply when there
 * is one, else from the main reply. *truncated gets how many are still left out. */
static const json_t *tree_children(const json_t *node, uint64_t id, long *truncated)
{
	char slot[48];
	const struct fetch_reply *r = tree.fetch != NULL
	                                      ? fetch_get(tree.fetch, tree_sub_slot(slot, sizeof slot, id))
	                                      : NULL;
	const json_t *root = r != NULL && r->result != NULL
	                             ? json_array_get(json_object_get(r->result, "roots"), 0)
	                             : NULL;

	if (root != NULL && (uint64_t)json_integer_value(json_object_get(root, "id")) == id) {
		*truncated = (long)ui_num(root, "truncated");
		return json_object_get(root, "children");
	}
	*truncated = (long)ui_num(node, "truncated");
	return json_object_get(node, "children");
}

/* ---- flattening -------------------------------------------------------------------------- */

/* Append the visible rows of nodes (depth first), with branch glyphs from the ancestors. */
static void tree_flatten(const json_t *nodes, int depth, const char *prefix, long truncated,
                         uint64_t parent)
{
	int ascii = theme_ascii();
	size_t n = json_array_size(nodes);

	for (size_t i = 0; i < n && tree.nrows < TREE_MAX_ROWS; i++) {
		const json_t *node = json_array_get(nodes, i);
		struct tree_row *r = &tree.rows[tree.nrows++];
		int last = i + 1 == n && truncated <= 0;
		char child_prefix[sizeof r->prefix];

		r->node = node;
		r->id = (uint64_t)json_integer_value(json_object_get(node, "id"));
		r->depth = depth;
		r->has_kids = ui_num(node, "child_count") > 0;
		r->expanded = r->has_kids && tree_is_expanded(node, r->id);
		r->more = 0;
		r->parent = parent;
		snprintf(r->prefix, sizeof r->prefix, "%s%s", prefix,
		         depth == 0 ? "" : last ? (ascii ? "`-" : "└─") : (ascii ? "|-" : "├─"));
		snprintf(child_prefix, sizeof child_prefix, "%s%s", prefix,
		         depth == 0 ? "" : last ? "  " : (ascii ? "| " : "│ "));
		if (r->expanded && depth + 1 < TREE_MAX_DEPTH) {
			long missing;
			const json_t *kids = tree_children(node, r->id, &missing);

			if (missing > 0 && tree.nsub < TREE_SUBTREES) /* ask for the rest */
				tree.sub_ids[tree.nsub++] = r->id;
			tree_flatten(kids, depth + 1, child_prefix, missing, r->id);
		}
	}
	if (truncated > 0 && tree.nrows < TREE_MAX_ROWS) {
		struct tree_row *r = &tree.rows[tree.nrows++];

		memset(r, 0, sizeof *r);
		r->depth = depth;
		r->more = truncated;
		r->parent = parent;
		snprintf(r->prefix, sizeof r->prefix, "%s%s", prefix, ascii ? "`-" : "└─");
	}
}

/* Rebuild the rows from the latest reply and keep the selection on the same task. */
static void tree_rebuild(struct ui *ui)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, "tree");

	tree.nrows = 0;
	tree.nsub = 0;
	tree.fetch = ui->fetch;
	if (r == NULL || r->result == NULL)
		return;
	tree_flatten(json_object_get(r->result, "roots"), 0, "",
	             (long)ui_num(r->result, "truncated"), 0);
	if (tree.sel_id != 0)
		for (size_t i = 0; i < tree.nrows; i++)
			if (tree.rows[i].id == tree.sel_id && tree.rows[i].node != NULL) {
				tree.sel = (long)i;
				break;
			}
	if (tree.sel >= (long)tree.nrows)
		tree.sel = (long)tree.nrows - 1;
	if (tree.sel < 0)
		tree.sel = 0;
	if (tree.nrows > 0)
		tree.sel_id = tree.rows[tree.sel].id;
}

/* Keep the selection on screen. */
static void tree_clamp(void)
{
	long page = tree.page > 0 ? tree.page : 1;

	if (tree.sel >= (long)tree.nrows)
		tree.sel = (long)tree.nrows - 1;
	if (tree.sel < 0)
		tree.sel = 0;
	if (tree.sel < tree.top)
		tree.top = tree.sel;
	if (tree.sel >= tree.top + page)
		tree.top = tree.sel - page + 1;
	if (tree.top > (long)tree.nrows - page)
		tree.top = (long)tree.nrows - page;
	if (tree.top < 0)
		tree.top = 0;
	if (tree.nrows > 0)
		tree.sel_id = tree.rows[tree.sel].id;
}

/* ---- fetch and draw ---------------------------------------------------------------------- */

static void tree_fetch(struct ui *ui)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, "tree");

	if (r != NULL && r->seq != tree.seen_seq) {
		tree.seen_seq = r->seq;
		if (r->result != NULL)
			tree_restart_walk(json_object_get(r->result, "roots"), ui->now_s, 0);
	}
	tree.page = ui->body_h - 2 > 1 ? ui->body_h - 2 : 1;
	fetch_want(ui->fetch, "tree", "tree",
	           json_pack("{s:i, s:i, s:i}", "depth", TREE_DEPTH, "limit", TREE_LIMIT, "children",
	                     TREE_PAGE));
	/* expanded nodes the budget left without (all) their children: ask for those alone */
	tree_rebuild(ui);
	double took = r != NULL ? r->took_ms : 0;
	for (size_t i = 0; i < tree.nsub; i++) {
		char slot[48];
		const struct fetch_reply *sub;

		tree_sub_slot(slot, sizeof slot, tree.sub_ids[i]);
		int want = tree_children_wanted(tree.sub_ids[i]);

		fetch_want(ui->fetch, slot, "tree",
		           json_pack("{s:I, s:i, s:i, s:i}", "root", (json_int_t)tree.sub_ids[i], "depth",
		                     1, "limit", want + 1, "children", want));
		sub = fetch_get(ui->fetch, slot);
		if (sub != NULL)
			took += sub->took_ms;
	}
	/* A tree costs the agent a pass over every task when its index is rebuilt (~30-50 ms at a
	 * million, about once a second), little otherwise: ask only as often as keeps what it
	 * reports under TREE_AGENT_SHARE of the agent's time. */
	tree.period_s = 0;
	if (took / 1e3 / TREE_AGENT_SHARE > ui->interval_ms / 1e3) {
		tree.period_s = took / 1e3 / TREE_AGENT_SHARE;
		if (tree.period_s > TREE_MAX_PERIOD_S)
			tree.period_s = TREE_MAX_PERIOD_S;
	}
	fetch_throttle(ui->fetch, "tree", tree.period_s);
	for (size_t i = 0; i < tree.nsub; i++) {
		char slot[48];

		fetch_throttle(ui->fetch, tree_sub_slot(slot, sizeof slot, tree.sub_ids[i]),
		               tree.period_s);
	}
}

static void tree_draw_row(struct ui *ui, WINDOW *w, int y, int width, const struct tree_row *r,
                          int selected)
{
	char cell[COL_COUNT][320], a[FMT_SIZE];
	const json_t *n = r->node;
	double storm = r->node != NULL ? tree_storm(r->id, ui->now_s) : 0;
	int x = 0;

	memset(cell, 0, sizeof cell);
	if (n == NULL) {
		char m[32];

		snprintf(m, sizeof m, "%ld", r->more); /* exact: it shrinks by a page at a time */
		if (r->parent != 0 && tree_children_wanted(r->parent) < TREE_PAGES_MAX * TREE_PAGE)
			snprintf(cell[COL_TREE], sizeof cell[0], "%s%s %s more not shown (space: +%d)",
			         r->prefix, theme_ascii() ? "..." : "…", m, TREE_PAGE);
		else
			snprintf(cell[COL_TREE], sizeof cell[0], "%s%s %s more not shown", r->prefix,
			         theme_ascii() ? "..." : "…", m);
	} else {
		const char *mark = !r->has_kids ? (theme_ascii() ? "  " : "  ")
		                   : r->expanded ? (theme_ascii() ? "- " : "▾ ")
		                                 : (theme_ascii() ? "+ " : "▸ ");

		snprintf(cell[COL_TREE], sizeof cell[0], "%s%s%s", r->prefix, mark,
		         ui_str(n, "name", "?"));
		snprintf(cell[COL_ID], sizeof cell[0], "%llu", (unsigned long long)r->id);
		if (json_is_string(json_object_get(n, "strategy")))
			snprintf(cell[COL_KIND], sizeof cell[0], "%s",
			         ui_str(n, "strategy", ""));
		else
			snprintf(cell[COL_KIND], sizeof cell[0], "%s", ui_str(n, "kind", "?"));
		snprintf(cell[COL_STATUS], sizeof cell[0], "%s", ui_str(n, "status", "?"));
		if (storm > 0)
			snprintf(cell[COL_RESTARTS], sizeof cell[0], "%s %s+%.0f",
			         fmt_count(a, sizeof a, ui_num(n, "restarts")),
			         theme_ascii() ? "^" : "▲", storm);
		else
			fmt_count(cell[COL_RESTARTS], sizeof cell[0], ui_num(n, "restarts"));
		fmt_bytes(cell[COL_MEM], sizeof cell[0], ui_num(n, "memory"));
		fmt_count(cell[COL_REDS], sizeof cell[0], ui_num(n, "reductions"));
		fmt_count(cell[COL_KIDS], sizeof cell[0], ui_num(n, "child_count"));
	}
	int base = selected ? TH_SELECTED : storm > 0 ? TH_CRITICAL : TH_DEFAULT;
	if (selected || storm > 0) {
		wattron(w, theme_attr(base));
		mvwhline(w, y, 0, ' ', width);
		wattroff(w, theme_attr(base));
	}
	for (int c = 0; c < COL_COUNT; c++) {
		int role = base;

		if (tree.widths[c] <= 0)
			continue;
		if (base == TH_DEFAULT) {
			if (n == NULL || c == COL_ID)
				role = TH_DIM;
			else if (c == COL_KIND && json_is_string(json_object_get(n, "strategy")))
				role = TH_OK;
			else if (c == COL_RESTARTS && ui_num(n, "restarts") > 0)
				role = TH_WARNING;
		}
		wattron(w, theme_attr(role));
		table_draw_cell(w, y, x, tree.widths[c], tree_columns[c].align, cell[c]);
		wattroff(w, theme_attr(role));
		x += tree.widths[c] + TABLE_GAP;
	}
}

/* Summary, header and the visible rows; the selection stays on its task. */
static void tree_draw(struct ui *ui, WINDOW *w, int height, int width)
{
	const struct fetch_reply *r = fetch_get(ui->fetch, "tree");
	char buf[300], a[FMT_SIZE], b[FMT_SIZE];

	table_layout(tree_columns, COL_COUNT, width, tree.widths);
	tree_rebuild(ui);
	tree_clamp();
	if (r == NULL || r->result == NULL) {
		ui_draw_waiting(ui, w, "the supervision tree", r != NULL ? r->error : NULL);
		return;
	}
	snprintf(buf, sizeof buf, "%s live tasks, %s nodes shown%s",
	         fmt_count(a, sizeof a, ui_num(r->result, "total")),
	         fmt_count(b, sizeof b, ui_num(r->result, "nodes")),
	         strcmp(ui_str(r->result, "source", ""), "threads") == 0
	                 ? " - no tasks declared: the process and its threads" : "");
	ui_put(w, 0, 0, width, TH_HEADER, buf);
	if (tree.period_s > 0) {
		char p[FMT_SIZE], c[FMT_SIZE];
		int len = (int)strlen(buf) + 2;

		snprintf(buf, sizeof buf, "refreshed every %s: a tree takes the agent %s",
		         fmt_duration(p, sizeof p, tree.period_s),
		         fmt_duration(c, sizeof c, r->took_ms / 1e3));
		ui_put(w, 0, len, width - len, TH_DIM, buf);
	}
	table_draw_header(w, 1, 0, tree_columns, COL_COUNT, tree.widths, -1, 1);
	for (int y = 2; y < height; y++) {
		long i = tree.top + (y - 2);

		if (i >= (long)tree.nrows)
			break;
		tree_draw_row(ui, w, y, width, &tree.rows[i], i == tree.sel);
	}
}

/* ---- keys -------------------------------------------------------------------------------- */

static unsigned tree_moved(void)
{
	tree_clamp();
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* Move the selection (local: the tree is already here). */
static unsigned tree_key_up(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tree.sel--;
	return tree_moved();
}

/* Move the selection (local: the tree is already here). */
static unsigned tree_key_down(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tree.sel++;
	return tree_moved();
}

/* A page up. */
static unsigned tree_key_page_up(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tree.sel -= tree.page;
	return tree_moved();
}

/* A page down. */
static unsigned tree_key_page_down(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tree.sel += tree.page;
	return tree_moved();
}

/* The root. */
static unsigned tree_key_home(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tree.sel = 0;
	return tree_moved();
}

/* The last row. */
static unsigned tree_key_end(struct ui *ui, int key)
{
	(void)ui, (void)key;
	tree.sel = (long)tree.nrows - 1;
	return tree_moved();
}

/* The selected row, if it is a node. */
static const struct tree_row *tree_selected(void)
{
	if (tree.sel < 0 || tree.sel >= (long)tree.nrows || tree.rows[tree.sel].node == NULL)
		return NULL;
	return &tree.rows[tree.sel];
}

/* The selected row, if it is a "more" row under a node (not the top level). */
static const struct tree_row *tree_selected_more(void)
{
	if (tree.sel < 0 || tree.sel >= (long)tree.nrows || tree.rows[tree.sel].node != NULL ||
	    tree.rows[tree.sel].parent == 0)
		return NULL;
	return &tree.rows[tree.sel];
}

/* On a "more" row: ask for the next page of that node's children. The selection stays on this
 * line, which then holds the first child of the new page. */
static unsigned tree_open_more(struct ui *ui)
{
	const struct tree_row *m = tree_selected_more();

	(void)ui;
	if (m == NULL || !tree_more_pages(m->parent, 1))
		return KEYS_HANDLED;
	tree.sel_id = 0; /* keep the line, not a task */
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

/* Space: collapse or expand (Enter is kept for the detail); on a "more" row, the next page. */
static unsigned tree_key_toggle(struct ui *ui, int key)
{
	const struct tree_row *r = tree_selected();

	(void)key;
	if (r == NULL)
		return tree_open_more(ui);
	if (r->has_kids)
		tree_set_expanded(r->id, !r->expanded);
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* + / Right: show a node's children. */
static unsigned tree_key_expand(struct ui *ui, int key)
{
	const struct tree_row *r = tree_selected();

	(void)key;
	if (r == NULL)
		return tree_open_more(ui);
	if (r->has_kids)
		tree_set_expanded(r->id, 1);
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* Collapse the node; on a leaf (or a collapsed node), go to its parent, as in htop/file trees. */
static unsigned tree_key_collapse(struct ui *ui, int key)
{
	const struct tree_row *r = tree_selected();

	(void)ui, (void)key;
	if (r != NULL && r->has_kids && r->expanded) {
		tree_set_expanded(r->id, 0);
	} else if (tree.sel > 0) {
		int depth = tree.rows[tree.sel].depth;

		for (long i = tree.sel - 1; i >= 0; i--)
			if (tree.rows[i].depth < depth) {
				tree.sel = i;
				break;
			}
	}
	return tree_moved();
}

/* Expand everything under the selected node (as much as the agent sent), each node with as many
 * pages as its children fill (up to the agent's cap). */
static void tree_expand_all(const json_t *node)
{
	const json_t *kids = json_object_get(node, "children");
	double nk = ui_num(node, "child_count");
	uint64_t id = (uint64_t)json_integer_value(json_object_get(node, "id"));

	if (nk > 0) {
		int pages = (int)((nk + TREE_PAGE - 1) / TREE_PAGE);
		struct tree_choice *c;

		tree_set_expanded(id, 1);
		if ((c = tree_choice_find(id)) != NULL && c->pages < pages)
			tree_more_pages(id, pages - c->pages);
	}
	for (size_t i = 0; i < json_array_size(kids); i++)
		tree_expand_all(json_array_get(kids, i));
}

/* *: open a whole subtree at once. */
static unsigned tree_key_expand_all(struct ui *ui, int key)
{
	const struct tree_row *r = tree_selected();

	(void)ui, (void)key;
	if (r != NULL)
		tree_expand_all(r->node);
	return KEYS_HANDLED | KEYS_REDRAW;
}

/* Enter opens the node's task detail. */
static unsigned tree_key_detail(struct ui *ui, int key)
{
	const struct tree_row *r = tree_selected();

	(void)key;
	if (r == NULL)
		return tree_open_more(ui);
	ui_open_detail(ui, r->id);
	return KEYS_HANDLED | KEYS_REDRAW | KEYS_REFETCH;
}

static const struct key_binding tree_bindings[] = {
	{'\r', "Detail", "open the selected task's detail", tree_key_detail},
	{'\n', NULL, "open the selected task's detail", tree_key_detail},
	{KEY_ENTER, NULL, "open the selected task's detail", tree_key_detail},
	{' ', "Toggle", "collapse or expand the selected node; on \"more\": the next page",
	 tree_key_toggle},
	{'+', NULL, "expand the selected node", tree_key_expand},
	{KEY_RIGHT, NULL, "expand the selected node", tree_key_expand},
	{'-', NULL, "collapse the selected node (on a leaf: go to its parent)", tree_key_collapse},
	{KEY_LEFT, NULL, "collapse the selected node (on a leaf: go to its parent)",
	 tree_key_collapse},
	{'*', "ExpandAll", "expand everything under the selected node", tree_key_expand_all},
	{KEY_UP, NULL, "select the node above", tree_key_up},
	{KEY_DOWN, NULL, "select the node below", tree_key_down},
	{KEY_PPAGE, NULL, "page up", tree_key_page_up},
	{KEY_NPAGE, NULL, "page down", tree_key_page_down},
	{KEY_HOME, NULL, "first node", tree_key_home},
	{KEY_END, NULL, "last node", tree_key_end},
	{0, NULL, NULL, NULL},
};

static const struct key_table tree_keys = {"Tree", tree_bindings};

/* Mouse: click selects, a click on the selected node toggles it; the wheel scrolls. */
static unsigned tree_mouse(struct ui *ui, int y, int x, unsigned long bstate)
{
	(void)x;
	if (bstate & (BUTTON4_PRESSED | BUTTON5_PRESSED)) {
		for (int i = 0; i < 3; i++)
			((bstate & BUTTON4_PRESSED) ? tree_key_up : tree_key_down)(ui, 0);
		return KEYS_HANDLED | KEYS_REDRAW;
	}
	if (!(bstate & (BUTTON1_PRESSED | BUTTON1_CLICKED)) || y < 2)
		return 0;
	long i = tree.top + (y - 2);
	if (i >= (long)tree.nrows)
		return KEYS_HANDLED;
	if (i == tree.sel)
		return tree_key_toggle(ui, ' ');
	tree.sel = i;
	return tree_moved();
}

/* The hint in the function bar: what storms look like. */
static const char *tree_status(struct ui *ui, char *buf, size_t size)
{
	(void)ui;
	snprintf(buf, size, "%s = restarts rising", theme_ascii() ? "^" : "▲");
	return buf;
}

const struct tab_entry tab_tree = {
	.name = "Tree",
	.key = '5',
	.fetch = tree_fetch,
	.draw = tree_draw,
	.keys = &tree_keys,
	.mouse = tree_mouse,
	.status = tree_status,
};
