/*
 * topn.h - select the first N items of a large stream in a given order without sorting the
 * stream: a bounded binary heap holding the N best so far, whose root is the worst of them, so
 * most items are rejected by one comparison with the root (O(n + k log k) for n items, k kept).
 * The agent uses it for every `tasks` page (offset+limit rows out of up to millions of tasks).
 *
 * Order: by key (ascending, or descending with desc), then by an optional tie function (for
 * keys that are only a prefix of the real sort key, like the first 8 bytes of a name), then
 * always by id ascending, so the order is total and pages are stable.
 */
#ifndef SONDE_TOPN_H
#define SONDE_TOPN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct topn_item {
	int64_t key;
	uint64_t id;
	uint32_t idx;    /* caller's reference (a slot number) */
	uint32_t gen;    /* caller's check (the slot's generation when selected) */
};

/* Compare two items whose keys are equal, in ascending sense (<0: a first). */
typedef int (*topn_tie_fn)(const struct topn_item *a, const struct topn_item *b, void *ctx);

struct topn {
	struct topn_item *heap;  /* caller's storage, cap items */
	size_t cap, n;
	int desc;
	topn_tie_fn tie;
	void *tie_ctx;
};

/* Start a selection of at most cap items into storage (cap may be 0: nothing is kept). */
void topn_init(struct topn *t, struct topn_item *storage, size_t cap, int desc, topn_tie_fn tie,
               void *tie_ctx);

/* Does a come before b in the output order? */
int topn_before(const struct topn *t, const struct topn_item *a, const struct topn_item *b);

/* Offer an item (the slow path: the heap is not full, or the item beats the root's key). */
void topn_push(struct topn *t, const struct topn_item *item);

/* Would an item with this key be rejected without looking further (heap full, key worse than
 * the root's)? Lets a scan skip reading the rest of an item. */
static inline int topn_skip(const struct topn *t, int64_t key)
{
	if (t->n < t->cap)
		return 0;
	if (t->cap == 0)
		return 1;
	return t->desc ? key < t->heap[0].key : key > t->heap[0].key;
}

/* Offer an item: rejected at once when the heap is full and its key is worse than the root's,
 * or equal to it with a higher id (when there is no tie function). */
static inline void topn_offer(struct topn *t, int64_t key, uint64_t id, uint32_t idx, uint32_t gen)
{
	struct topn_item it;

	if (t->n == t->cap) {
		if (topn_skip(t, key))
			return;
		if (key == t->heap[0].key && t->tie == NULL && id > t->heap[0].id)
			return;
	}
	it.key = key;
	it.id = id;
	it.idx = idx;
	it.gen = gen;
	topn_push(t, &it);
}

/* Put the kept items in output order in t->heap[0..n) and return n. Ends the selection. */
size_t topn_finish(struct topn *t);

/* Order-preserving keys. */
static inline int64_t topn_key_u64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* Doubles: the IEEE bits with negative values' magnitude bits flipped order like the values
 * (NaN sorts above +inf). */
static inline int64_t topn_key_double(double d)
{
	int64_t b;

	memcpy(&b, &d, sizeof b);
	return b < 0 ? b ^ INT64_MAX : b;
}

/* The first 8 bytes of a string, big-endian, sign-flipped: compares like strcmp on those bytes.
 * Use a tie function to compare the rest. */
static inline int64_t topn_key_prefix(const char *s)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < 8 && s[i] != '\0'; i++)
		v |= (uint64_t)(unsigned char)s[i] << (56 - 8 * i);
	return (int64_t)(v ^ 0x8000000000000000ull);
}

#endif
