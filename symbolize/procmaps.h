/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parser for /proc/PID/maps. */
#ifndef SCORCH_PROCMAPS_H
#define SCORCH_PROCMAPS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct procmap {
	uint64_t start, end, offset;
	uint64_t inode;
	uint32_t dev_major, dev_minor;
	char perms[5]; /* "r-xp" */
	bool deleted; /* the path ended in " (deleted)", which is stripped */
	char *path; /* "" for anonymous mappings; "[vdso]" and the like kept as they are */
};

/* Parse every line; malformed lines are skipped and counted in *ret_bad if given. */
int procmaps__parse(FILE *f, struct procmap **ret, size_t *ret_n, size_t *ret_bad);
/* The same, keeping only the executable mappings (the others are not parsed). */
int procmaps__parse_exec(FILE *f, struct procmap **ret, size_t *ret_n, size_t *ret_bad);
/*
 * The executable mappings from fd, an open /proc/PID/maps, with the PROCMAP_QUERY ioctl:
 * -ENOTTY on a kernel without it (before 6.11), another -errno when the query failed.
 */
int procmaps__query_exec(int fd, struct procmap **ret, size_t *ret_n);
/*
 * The mapping that holds addr, from fd, an open /proc/PID/maps: PROCMAP_QUERY where the kernel
 * has it, else its text (read from the start of fd). -ENOENT when no mapping holds addr.
 */
int procmaps__find(int fd, uint64_t addr, uint64_t *ret_start, uint64_t *ret_end);
void procmaps__free(struct procmap *maps, size_t n);

static inline bool procmap__is_exec(const struct procmap *m)
{
	return m->perms[2] == 'x';
}

#endif
