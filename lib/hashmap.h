/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Open-addressing hash table from byte-string keys (copied) to pointers (not owned). */
#ifndef SCORCH_HASHMAP_H
#define SCORCH_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>

struct hmap;

struct hmap *hmap__new(void);
/* Frees the table and its key copies; values are the caller's. Accepts NULL. */
void hmap__free(struct hmap *h);
void *hmap__get(const struct hmap *h, const void *key, size_t len);
/* Insert or replace; 0 or -ENOMEM. */
int hmap__put(struct hmap *h, const void *key, size_t len, void *value);
/* Remove a key; returns its value, or NULL when absent. */
void *hmap__remove(struct hmap *h, const void *key, size_t len);
size_t hmap__count(const struct hmap *h);
/* Iterate: start with *pos = 0; returns false at the end. Do not insert while iterating. */
bool hmap__next(const struct hmap *h, size_t *pos, const void **ret_key, size_t *ret_len,
		void **ret_value);

#endif
