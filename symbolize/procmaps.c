// SPDX-License-Identifier: LGPL-2.1-or-later
/* The mappings of a process: the lines of /proc/PID/maps, or its PROCMAP_QUERY ioctl. */
#include "procmaps.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/types.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

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

/*
 * A line that is not executable, told from its permissions without parsing it: "START-END
 * PERMS ...", the x third in PERMS. Lines skipped so are not checked (nor counted as bad).
 */
static bool surely_not_exec(const char *line)
{
	const char *sp = strchr(line, ' ');

	return sp && strnlen(sp + 1, 4) == 4 && sp[3] != 'x';
}

static int parse(FILE *f, bool exec_only, struct procmap **ret, size_t *ret_n, size_t *ret_bad)
{
	struct procmap *maps = NULL;
	size_t n = 0, cap = 0, bad = 0, lcap = 0;
	char *line = NULL;

	while (getline(&line, &lcap, f) > 0) {
		struct procmap m;
		int err;

		if (exec_only && surely_not_exec(line))
			continue;
		err = parse_line(line, &m);
		if (!err && exec_only && !procmap__is_exec(&m)) {
			free(m.path);
			continue;
		}

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

int procmaps__parse(FILE *f, struct procmap **ret, size_t *ret_n, size_t *ret_bad)
{
	return parse(f, false, ret, ret_n, ret_bad);
}

int procmaps__parse_exec(FILE *f, struct procmap **ret, size_t *ret_n, size_t *ret_bad)
{
	return parse(f, true, ret, ret_n, ret_bad);
}

/*
 * PROCMAP_QUERY (Linux 6.11), from the kernel's uapi <linux/fs.h>, which the C library's
 * headers here may predate: _IOWR('f', 17, struct procmap_query).
 */
struct scorch_procmap_query {
	__u64 size;
	__u64 query_flags;
	__u64 query_addr;
	__u64 vma_start;
	__u64 vma_end;
	__u64 vma_flags;
	__u64 vma_page_size;
	__u64 vma_offset;
	__u64 inode;
	__u32 dev_major;
	__u32 dev_minor;
	__u32 vma_name_size;
	__u32 build_id_size;
	__u64 vma_name_addr;
	__u64 build_id_addr;
};

#define SCORCH_PROCMAP_QUERY _IOWR('f', 17, struct scorch_procmap_query)
#define PMQ_READABLE 0x01
#define PMQ_WRITABLE 0x02
#define PMQ_EXECUTABLE 0x04
#define PMQ_SHARED 0x08
#define PMQ_COVERING_OR_NEXT 0x10

_Static_assert(sizeof(struct scorch_procmap_query) == 104, "the kernel's struct procmap_query");

int procmaps__find(int fd, uint64_t addr, uint64_t *ret_start, uint64_t *ret_end)
{
	struct scorch_procmap_query q = { .size = sizeof(q), .query_addr = addr };
	char *line = NULL;
	size_t cap = 0;
	int err, dupfd;
	FILE *f;

	if (ioctl(fd, SCORCH_PROCMAP_QUERY, &q) == 0) {
		if (q.vma_end <= q.vma_start || addr < q.vma_start || addr >= q.vma_end)
			return -EINVAL;
		*ret_start = q.vma_start;
		*ret_end = q.vma_end;
		return 0;
	}
	if (errno != ENOTTY)
		return -errno;
	/* before 6.11: the text, line by line up to the one that holds addr, none kept */
	dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (dupfd < 0)
		return -errno;
	f = fdopen(dupfd, "re");
	if (!f) {
		close(dupfd);
		return -ENOMEM;
	}
	err = -ENOENT;
	while (err == -ENOENT && getline(&line, &cap, f) > 0) {
		struct procmap m;

		if (parse_line(line, &m))
			continue;
		if (addr >= m.start && addr < m.end) {
			*ret_start = m.start;
			*ret_end = m.end;
			err = 0;
		}
		free(m.path);
	}
	free(line);
	fclose(f);
	return err;
}

/*
 * The executable mappings, one ioctl each: the kernel neither formats nor we parse the lines
 * of all the others (a small process has five times more). Names as the text shows them,
 * d_path()'s " (deleted)" included, which is taken off as the parser does.
 */
int procmaps__query_exec(int fd, struct procmap **ret, size_t *ret_n)
{
	struct procmap *maps = NULL;
	size_t n = 0, cap = 0;
	uint64_t addr = 0;
	char name[4096 + 16];
	int err;

	for (;;) {
		struct scorch_procmap_query q = {
			.size = sizeof(q),
			.query_flags = PMQ_COVERING_OR_NEXT | PMQ_EXECUTABLE,
			.query_addr = addr,
			.vma_name_size = sizeof(name),
			.vma_name_addr = (__u64)(uintptr_t)name,
		};
		struct procmap m = { 0 };
		size_t len;

		if (ioctl(fd, SCORCH_PROCMAP_QUERY, &q) < 0) {
			if (errno == ENOENT)
				break; /* no executable mapping at or above addr */
			err = -errno;
			goto fail;
		}
		/* what the kernel says, checked as the text is: a loop must end */
		if (q.vma_end <= q.vma_start || q.vma_end <= addr ||
		    q.vma_name_size > sizeof(name) ||
		    (q.vma_name_size && name[q.vma_name_size - 1])) {
			err = -EINVAL;
			goto fail;
		}
		addr = q.vma_end;
		if (n >= PROCMAPS_MAX)
			break;
		m.start = q.vma_start;
		m.end = q.vma_end;
		m.offset = q.vma_offset;
		m.inode = q.inode;
		m.dev_major = q.dev_major;
		m.dev_minor = q.dev_minor;
		m.perms[0] = q.vma_flags & PMQ_READABLE ? 'r' : '-';
		m.perms[1] = q.vma_flags & PMQ_WRITABLE ? 'w' : '-';
		m.perms[2] = q.vma_flags & PMQ_EXECUTABLE ? 'x' : '-';
		m.perms[3] = q.vma_flags & PMQ_SHARED ? 's' : 'p';
		if (!q.vma_name_size)
			name[0] = 0;
		len = strlen(name);
		if (len > 10 && strcmp(name + len - 10, " (deleted)") == 0) {
			m.deleted = true;
			name[len - 10] = 0;
		}
		m.path = strdup(name);
		if (!m.path || grow_array((void **)&maps, &cap, n + 1, sizeof(m))) {
			free(m.path);
			err = -ENOMEM;
			goto fail;
		}
		maps[n++] = m;
	}
	*ret = maps;
	*ret_n = n;
	return 0;
fail:
	procmaps__free(maps, n);
	return err;
}

void procmaps__free(struct procmap *maps, size_t n)
{
	for (size_t i = 0; maps && i < n; i++)
		free(maps[i].path);
	free(maps);
}
