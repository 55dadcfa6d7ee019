// SPDX-License-Identifier: LGPL-2.1-or-later
/* Parsing the lines of /proc/PID/maps. */
#include "procmaps.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Bound on the mappings kept per process: a hostile or huge process cannot exhaust memory. */
#define PROCMAPS_MAX 1000000

static int parse_line(char *line, struct procmap *m)
{
	int pos = -1;
	char *path;
	size_t len;

	memset(m, 0, sizeof(*m));
	if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n", &m->start,
		   &m->end, m->perms, &m->offset, &m->dev_major, &m->dev_minor, &m->inode,
		   &pos) != 7 ||
	    pos < 0)
		return -EINVAL;
	if (m->end <= m->start || strlen(m->perms) != 4)
		return -EINVAL;
	path = line + pos;
	len = strlen(path);
	while (len && (path[len - 1] == '\n' || path[len - 1] == ' '))
		path[--len] = 0;
	if (len > 10 && strcmp(path + len - 10, " (deleted)") == 0) {
		m->deleted = true;
		path[len - 10] = 0;
	}
	m->path = strdup(path);
	return m->path ? 0 : -ENOMEM;
}

int procmaps__parse(FILE *f, struct procmap **ret, size_t *ret_n, size_t *ret_bad)
{
	struct procmap *maps = NULL;
	size_t n = 0, cap = 0, bad = 0, lcap = 0;
	char *line = NULL;

	while (getline(&line, &lcap, f) > 0) {
		struct procmap m;
		int err = parse_line(line, &m);

		if (err == -ENOMEM)
			goto nomem;
		if (err) {
			bad++;
			continue;
		}
		if (n >= PROCMAPS_MAX || grow_array((void **)&maps, &cap, n + 1, sizeof(m))) {
			free(m.path);
			if (n >= PROCMAPS_MAX) {
				bad++;
				continue;
			}
			goto nomem;
		}
		maps[n++] = m;
	}
	free(line);
	*ret = maps;
	*ret_n = n;
	if (ret_bad)
		*ret_bad = bad;
	return 0;
nomem:
	free(line);
	procmaps__free(maps, n);
	return -ENOMEM;
}

void procmaps__free(struct procmap *maps, size_t n)
{
	for (size_t i = 0; maps && i < n; i++)
		free(maps[i].path);
	free(maps);
}
