/*
 * topn.c - bounded-heap top-N selection (see topn.h). The heap is a max-heap in output order:
 * its root is the item that would come last, the first to give way to a better one.
 */
#include "config.h"

#include "topn.h"

/* The caller owns the storage: a selection allocates nothing. */
void topn_init(struct topn *t, struct topn_item *storage, size_t cap, int desc, topn_tie_fn tie,
               void *tie_ctx)
{
	t->heap = storage;
	t->cap = cap;
	t->n = 0;
	t->desc = desc;
	t->tie = tie;
	t->tie_ctx = tie_ctx;
}

/* The total order every page agrees on: key (direction by desc), tie function (same direction),
 * then id ascending. */
int topn_before(const struct topn *t, const struct topn_item *a, const struct topn_item *b)
{
	int c = 0;

	if (a->key != b->key)
		c = a->key < b->key ? -1 : 1;
	else if (t->tie != NULL)
		c = t->tie(a, b, t->tie_ctx);
	if (c != 0)
		return t->desc ? c > 0 : c < 0;
	return a->id < b->id;
}

/* Restore the heap below i after its item changed. */
static void topn_sift_down(struct topn *t, size_t i, size_t n)
{
	struct topn_item *h = t->heap, x = h[i];

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m;

		if (l >= n)
			break;
		m = (r < n && topn_before(t, &h[l], &h[r])) ? r : l;
		if (!topn_before(t, &x, &h[m]))
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = x;
}

/* Insert while there is room, else replace the root if the item comes before it. */
void topn_push(struct topn *t, const struct topn_item *item)
{
	struct topn_item *h = t->heap;
	size_t i;

	if (t->cap == 0)
		return;
	if (t->n < t->cap) {
		/* sift up: parents come after their children */
		i = t->n++;
		while (i > 0) {
			size_t p = (i - 1) / 2;

			if (!topn_before(t, &h[p], item))
				break;
			h[i] = h[p];
			i = p;
		}
		h[i] = *item;
		return;
	}
	if (!topn_before(t, item, &h[0]))
		return;
	h[0] = *item;
	topn_sift_down(t, 0, t->n);
}

/* Heap sort the kept items into output order: O(k log k), k = what is kept. */
size_t topn_finish(struct topn *t)
{
	/* heap sort: move the last-in-order root to the end, shrink, repeat */
	for (size_t n = t->n; n > 1; n--) {
		struct topn_item tmp = t->heap[0];

		t->heap[0] = t->heap[n - 1];
		t->heap[n - 1] = tmp;
		topn_sift_down(t, 0, n - 1);
	}
	return t->n;
}
