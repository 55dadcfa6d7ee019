/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Kernel symbols from /proc/kallsyms (text symbols only), with their module names. */
#ifndef SCORCH_KALLSYMS_H
#define SCORCH_KALLSYMS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct kallsyms;

struct ksym {
	uint64_t addr;
	const char *name; /* valid until kallsyms__free() */
	const char *module; /* "" for the core kernel */
};

/* Parse a kallsyms text stream. NULL with errno set on failure (EPERM: addresses hidden). */
struct kallsyms *kallsyms__parse(FILE *f);
struct kallsyms *kallsyms__load(const char *path);
/* The same, keeping only the symbols whose address keep() accepts. */
typedef bool (*kallsyms_keep_fn)(uint64_t addr, void *ctx);
struct kallsyms *kallsyms__parse_filtered(FILE *f, kallsyms_keep_fn keep, void *ctx);
struct kallsyms *kallsyms__load_filtered(const char *path, kallsyms_keep_fn keep, void *ctx);
void kallsyms__free(struct kallsyms *k);
/* The symbol containing addr (the nearest one at or below it in the same module); 0 or -ENOENT. */
int kallsyms__lookup(const struct kallsyms *k, uint64_t addr, struct ksym *ret);
/* Address range covered by a module's symbols ("" for the core kernel); 0 or -ENOENT. */
int kallsyms__module_range(const struct kallsyms *k, const char *module, uint64_t *ret_start,
			   uint64_t *ret_end);
size_t kallsyms__count(const struct kallsyms *k);

/*
 * The saved form, for a cache: a header with a key (what the table is valid for, e.g. the boot
 * id and the loaded modules), the symbols and their names. kallsyms__from_saved() checks every
 * offset and the key, and fails with EBADMSG (malformed) or ESTALE (another key).
 */
int kallsyms__save(const struct kallsyms *k, const char *key, FILE *f);
struct kallsyms *kallsyms__from_saved(const void *buf, size_t len, const char *key);
/*
 * The same, read in place from a saved file mapped read-only, so that only the pages lookups
 * touch are resident. The file must be replaced by rename, never rewritten in place.
 */
struct kallsyms *kallsyms__map_saved(int fd, const char *key);
/* Unmap the pages a mapped table has touched so far (checking it touches them all). */
void kallsyms__release_pages(struct kallsyms *k);
/* [start, end) of the core kernel's text, from _stext/_etext; 0 or -ENOENT. */
int kallsyms__core_text(const struct kallsyms *k, uint64_t *ret_start, uint64_t *ret_end);

#endif
