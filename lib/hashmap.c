// SPDX-License-Identifier: LGPL-2.1-or-later
/* The hash table of hashmap.h: open addressing with linear probing over copied keys. */
#include "hashmap.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	uint64_t hash;
	void *key; /* NULL: empty slot */
	size_t len;
	void *value;
};

struct hmap {
	struct entry *slots;
	size_t cap; /* power of two */
	size_t count;
};

struct hmap *hmap__new(void)
{
	return calloc(1, sizeof(struct hmap));
}

void hmap__free(struct hmap *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->cap; i++)
		free(h->slots[i].key);
	free(h->slots);
	free(h);
}

static struct entry *find(const struct hmap *h, const void *key, size_t len, uint64_t hash)
{
	size_t mask = h->cap - 1;

	for (size_t i = hash & mask;; i = (i + 1) & mask) {
		struct entry *e = &h->slots[i];

		if (!e->key)
			return e;
		if (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0)
			return e;
	}
}

static int rehash(struct hmap *h, size_t cap)
{
	struct entry *old = h->slots;
	size_t oldcap = h->cap;

	h->slots = calloc(cap, sizeof(*h->slots));
	if (!h->slots) {
		h->slots = old;
		return -ENOMEM;
	}
	h->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key)
			*find(h, old[i].key, old[i].len, old[i].hash) = old[i];
	free(old);
	return 0;
}

void *hmap__get(const struct hmap *h, const void *key, size_t len)
{
	struct entry *e;

	if (!h->count)
		return NULL;
	e = find(h, key, len, hash_bytes(key, len, 0));
	return e->key ? e->value : NULL;
}

int hmap__put(struct hmap *h, const void *key, size_t len, void *value)
{
	uint64_t hash = hash_bytes(key, len, 0);
	struct entry *e;

	if ((h->count + 1) * 4 >= h->cap * 3) {
		int err = rehash(h, h->cap ? h->cap * 2 : 16);

		if (err)
			return err;
	}
	e = find(h, key, len, hash);
	if (!e->key) {
		e->key = malloc(len ? len : 1);
		if (!e->key)
			return -ENOMEM;
		memcpy(e->key, key, len);
		e->len = len;
		e->hash = hash;
		h->count++;
	}
	e->value = value;
	return 0;
}

void *hmap__remove(struct hmap *h, const void *key, size_t len)
{
	size_t mask = h->cap - 1, i, j;
	struct entry *e;
	void *value;

	if (!h->count)
		return NULL;
	e = find(h, key, len, hash_bytes(key, len, 0));
	if (!e->key)
		return NULL;
	value = e->value;
	free(e->key);
	e->key = NULL;
	h->count--;
	/* backward-shift the cluster behind the hole so lookups need no tombstones */
	i = e - h->slots;
	for (j = (i + 1) & mask; h->slots[j].key; j = (j + 1) & mask) {
		size_t home = h->slots[j].hash & mask;

		/* move j into the hole i unless its home lies cyclically in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			h->slots[i] = h->slots[j];
			h->slots[j].key = NULL;
			i = j;
		}
	}
	return value;
}

size_t hmap__count(const struct hmap *h)
{
	return h->count;
}

bool hmap__next(const struct hmap *h, size_t *pos, const void **ret_key, size_t *ret_len,
		void **ret_value)
{
	for (; *pos < h->cap; (*pos)++) {
		const struct entry *e = &h->slots[*pos];

		if (!e->key)
			continue;
		if (ret_key)
			*ret_key = e->key;
		if (ret_len)
			*ret_len = e->len;
		if (ret_value)
			*ret_value = e->value;
		(*pos)++;
		return true;
	}
	return false;
}
