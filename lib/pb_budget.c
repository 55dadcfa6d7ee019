// SPDX-License-Identifier: LGPL-2.1-or-later
/* A protobuf-c allocator that counts the bytes it holds and refuses to pass a limit. */
#include "pb_budget.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

/* In front of every allocation, keeping what protobuf-c gets aligned as malloc's own result. */
union pb_header {
	struct {
		size_t size; /* bytes counted for this allocation, header included */
		const struct pb_budget *owner; /* catches a free through another budget */
	};
	max_align_t align;
};

static void *budget_alloc(void *data, size_t size)
{
	struct pb_budget *b = data;
	union pb_header *h;

	if (size > SIZE_MAX - sizeof(*h) || size + sizeof(*h) > b->limit - b->used) {
		b->refused++;
		return NULL;
	}
	size += sizeof(*h);
	h = malloc(size);
	if (!h)
		return NULL;
	h->size = size;
	h->owner = b;
	b->used += size;
	if (b->used > b->peak)
		b->peak = b->used;
	return h + 1;
}

static void budget_free(void *data, void *ptr)
{
	struct pb_budget *b = data;
	union pb_header *h;

	if (!ptr)
		return;
	h = (union pb_header *)ptr - 1;
	/* freeing through another budget would corrupt both counts: a bug of the caller */
	if (h->owner != b || h->size > b->used)
		abort();
	b->used -= h->size;
	free(h);
}

ProtobufCAllocator *pb_budget__init(struct pb_budget *b, size_t limit)
{
	*b = (struct pb_budget){
		.allocator = { .alloc = budget_alloc, .free = budget_free, .allocator_data = b },
		.limit = limit,
	};
	return &b->allocator;
}
