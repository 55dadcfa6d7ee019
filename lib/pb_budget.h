/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A protobuf-c allocator with a memory budget: protobuf-c unpacks a whole message before anyone
 * can look at it, so a small hostile input could otherwise cost without bound.
 */
#ifndef SCORCH_PB_BUDGET_H
#define SCORCH_PB_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

/*
 * Every allocation carries a small header with its size, so frees are credited exactly. Bytes
 * are counted as held: what was asked for plus that header. Use it on the stack:
 *
 *	struct pb_budget b;
 *	Msg *m = msg__unpack(pb_budget__init(&b, 1 << 20), len, data);
 *	if (!m && pb_budget__exceeded(&b))
 *		... "reply needs more than 1 MB to decode" ...
 *	msg__free_unpacked(m, &b.allocator);
 *
 * What was unpacked with it must be freed with it (the same struct, not a copy: the allocator
 * points at it), never with NULL. One thread at a time: the counts are not atomic.
 */
struct pb_budget {
	ProtobufCAllocator allocator; /* hand &allocator to protobuf-c's unpack and free_unpacked */
	size_t limit; /* most bytes held at once */
	size_t used; /* bytes held now */
	size_t peak; /* most bytes held so far */
	size_t refused; /* allocations refused because they would pass limit */
};

/* Set up an empty budget of limit bytes; returns &b->allocator. */
ProtobufCAllocator *pb_budget__init(struct pb_budget *b, size_t limit);

/* Whether an allocation was refused for the limit (so a failed unpack was the budget's doing). */
static inline bool pb_budget__exceeded(const struct pb_budget *b)
{
	return b->refused > 0;
}

#endif
