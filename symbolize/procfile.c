// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Opening the files of a profiled process without trusting it: resolution inside its root
 * (openat2 RESOLVE_IN_ROOT, or a walk of our own where openat2 is missing), O_PATH first so
 * that nothing but a regular file is ever opened for reading, bounds per kind of file.
 */
#include "procfile.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Symbolic links followed in one resolution, as the kernel's own limit. */
#define MAX_LINKS 40
/* Directories deep a walk may go. */
#define MAX_DEPTH 256

/*
 * openat2() refused once (ENOSYS, or a seccomp profile's EPERM): a fact of the process, which
 * the threads of several symbolizers may learn at once (hence atomic).
 */
static bool no_openat2;

uint64_t proc_file__max_size(enum proc_file_kind kind)
{
	switch (kind) {
	case PROC_FILE_PERFMAP:
		return 64ULL << 20;
	case PROC_FILE_ELF:
	case PROC_FILE_DEBUG:
	default:
		return 4ULL << 30;
	}
}

const char *proc_file__strerror(int err)
{
	switch (err) {
	case -EINVAL:
		return "not a regular file";
	case -EFBIG:
		return "larger than scorch reads for its kind";
	case -EACCES:
		return "not readable by the process";
	case -EPERM:
		return "owned by neither the process's user nor root";
	case -ELOOP:
		return "a symbolic link where none is allowed, or too many links";
	case -EXDEV:
		return "leads outside the process's root";
	case -EREMOTE:
		return "on a FUSE filesystem (its daemon could make every access wait)";
	default:
		return strerror(-err);
	}
}

static int parse_ids(const char *s, uint32_t *ids, size_t max, size_t *ret_n)
{
	size_t n = 0;

	for (;;) {
		char *end;
		unsigned long v;

		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '\n')
			break;
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno || end == s || v > UINT32_MAX)
			return -EINVAL;
		if (n < max)
			ids[n++] = v;
		else
			return -E2BIG;
		s = end;
	}
	*ret_n = n;
	return 0;
}

int proc_creds__read(const char *proc_root, uint32_t pid, struct proc_creds *ret)
{
	struct proc_creds c = { 0 };
	bool have_uid = false, have_gid = false;
	char path[300], line[1024];
	uint32_t ids[PROC_FILE_MAX_GROUPS];
	_cleanup_fclose_ FILE *f = NULL;
	size_t n;

	snprintf(path, sizeof(path), "%s/%u/status", proc_root, pid);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	c.nspid = pid;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Uid:", 4) && !parse_ids(line + 4, ids, 4, &n) && n == 4) {
			c.uid = ids[0];
			c.fsuid = ids[3];
			have_uid = true;
		} else if (!strncmp(line, "Gid:", 4) && !parse_ids(line + 4, ids, 4, &n) &&
			   n == 4) {
			c.fsgid = ids[3];
			have_gid = true;
		} else if (!strncmp(line, "Groups:", 7)) {
			/* more groups than we keep: the extra ones only make us refuse more */
			if (parse_ids(line + 7, c.groups, PROC_FILE_MAX_GROUPS, &c.ngroups))
				c.ngroups = 0;
		} else if (!strncmp(line, "NSpid:", 6)) {
			uint32_t ns[32];

			/* the last one is the pid in the process's own namespace */
			if (!parse_ids(line + 6, ns, ARRAY_SIZE(ns), &n) && n && ns[n - 1])
				c.nspid = ns[n - 1];
		}
	}
	if (!have_uid || !have_gid)
		return -EINVAL;
	*ret = c;
	return 0;
}

bool proc_creds__can_read(const struct proc_creds *c, const struct stat *st)
{
	if (c->fsuid == 0)
		return true;
	if (st->st_uid == c->fsuid)
		return st->st_mode & S_IRUSR;
	if (st->st_gid == c->fsgid)
		return st->st_mode & S_IRGRP;
	for (size_t i = 0; i < c->ngroups; i++)
		if (st->st_gid == c->groups[i])
			return st->st_mode & S_IRGRP;
	return st->st_mode & S_IROTH;
}

static bool avoided(const struct proc_open_opts *o, dev_t dev)
{
	for (size_t i = 0; o && i < o->navoid; i++)
		if (o->avoid[i] == dev)
			return true;
	return false;
}

/*
 * fstat() from what the kernel already knows (AT_STATX_DONT_SYNC): a FUSE or network filesystem
 * is not asked, so a daemon that never answers cannot hold us here.
 */
static int fd_stat(int fd, struct stat *ret)
{
	struct statx x;

	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC,
		  STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO | STATX_SIZE, &x) < 0)
		return -errno;
	memset(ret, 0, sizeof(*ret));
	ret->st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
	ret->st_ino = x.stx_ino;
	ret->st_mode = x.stx_mode;
	ret->st_uid = x.stx_uid;
	ret->st_gid = x.stx_gid;
	ret->st_size = x.stx_size;
	return 0;
}

int proc_root__open(const char *proc_root, uint32_t pid)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/%u/root", proc_root, pid);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/*
 * The checks on what an O_PATH descriptor names, then a descriptor to read it: reopened
 * through /proc/self/fd, which opens the same inode, so what was checked is what is read.
 * Takes pathfd.
 */
static int check_and_reopen(int pathfd, enum proc_file_kind kind, const struct proc_open_opts *opts,
			    struct stat *ret_st)
{
	_cleanup_close_ int pfd = pathfd;
	char self[64];
	struct stat st;
	int fd, r;

	r = fd_stat(pfd, &st);
	if (r)
		return r;
	if (avoided(opts, st.st_dev))
		return -EREMOTE;
	/* O_PATH|O_NOFOLLOW opens a link itself */
	if (S_ISLNK(st.st_mode))
		return -ELOOP;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > proc_file__max_size(kind))
		return -EFBIG;
	if (opts && opts->creds) {
		if (opts->owner && st.st_uid != opts->creds->uid && st.st_uid != 0)
			return -EPERM;
		if (!proc_creds__can_read(opts->creds, &st))
			return -EACCES;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (ret_st)
		*ret_st = st;
	return fd;
}

/*
 * Resolution by hand, for kernels and seccomp profiles without openat2(): one component at a
 * time from rootfd, every component opened O_PATH|O_NOFOLLOW, links read and spliced into
 * what is left (an absolute one restarts at rootfd), ".." never above rootfd. The directories
 * walked are held open, so ".." goes back to where the walk came from. An O_PATH descriptor,
 * or -errno.
 */
static int walk(int rootfd, const char *path, bool nofollow, const struct proc_open_opts *opts)
{
	char todo[PATH_MAX], target[PATH_MAX], *p;
	int stack[MAX_DEPTH], depth = 0, links = 0, r;

	if (strlen(path) >= sizeof(todo))
		return -ENAMETOOLONG;
	strcpy(todo, path);
	p = todo;
	for (;;) {
		int cur = depth ? stack[depth - 1] : rootfd, fd;
		char *comp, *rest;
		struct stat st;
		bool last;
		ssize_t n;

		while (*p == '/')
			p++;
		if (!*p) {
			/* the path names a directory (or the root): never a file to read */
			r = -EINVAL;
			break;
		}
		comp = p;
		rest = p + strcspn(p, "/");
		if (*rest)
			*rest++ = 0;
		while (*rest == '/')
			rest++;
		last = !*rest;
		p = rest;
		if (!strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			if (depth)
				close(stack[--depth]);
			if (last) {
				r = -EINVAL;
				break;
			}
			continue;
		}
		/* a look-up inside a FUSE directory asks its daemon: never done */
		if (opts && opts->navoid) {
			r = fd_stat(cur, &st);
			if (!r && avoided(opts, st.st_dev))
				r = -EREMOTE;
			if (r)
				break;
		}
		fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			break;
		}
		r = fd_stat(fd, &st);
		if (r) {
			close(fd);
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			size_t tlen, rlen = strlen(rest);

			if ((last && nofollow) || ++links > MAX_LINKS) {
				close(fd);
				r = -ELOOP;
				break;
			}
			n = readlinkat(fd, "", target, sizeof(target));
			close(fd);
			if (n < 0) {
				r = -errno;
				break;
			}
			tlen = n;
			if (!tlen || tlen + 1 + rlen >= sizeof(todo)) {
				r = tlen ? -ENAMETOOLONG : -ENOENT;
				break;
			}
			/* the link's text, then what was left: the new path to resolve */
			memmove(todo + tlen + 1, rest, rlen + 1);
			memcpy(todo, target, tlen);
			todo[tlen] = '/';
			if (!rlen)
				todo[tlen] = 0;
			p = todo;
			if (target[0] == '/')
				while (depth)
					close(stack[--depth]);
			continue;
		}
		if (last) {
			while (depth)
				close(stack[--depth]);
			return fd;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			r = -ENOTDIR;
			break;
		}
		if (depth >= MAX_DEPTH) {
			close(fd);
			r = -ENAMETOOLONG;
			break;
		}
		stack[depth++] = fd;
	}
	while (depth)
		close(stack[--depth]);
	return r;
}

static int resolve(int rootfd, const char *path, bool nofollow, const struct proc_open_opts *opts)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = -1;

	/* openat2() cannot be stopped at a FUSE directory on the way: the walk can */
	if (!opts->walk && !__atomic_load_n(&no_openat2, __ATOMIC_RELAXED) && !opts->navoid) {
		/* a race with a rename of ".." makes the kernel ask for a retry */
		for (int tries = 0; tries < 8; tries++) {
			fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
			if (fd >= 0 || errno != EAGAIN)
				break;
		}
		if (fd >= 0)
			return fd;
		if (errno != ENOSYS && errno != EPERM)
			return -errno;
		__atomic_store_n(&no_openat2, true, __ATOMIC_RELAXED);
	}
	return walk(rootfd, path, nofollow, opts);
}

int proc_file__open_at(int rootfd, const char *path, const struct proc_open_opts *opts,
		       struct stat *ret_st)
{
	int fd;

	if (opts->owner && !opts->creds)
		return -EINVAL;
	fd = resolve(rootfd, path, opts->nofollow, opts);
	if (fd < 0)
		return fd;
	return check_and_reopen(fd, opts->kind, opts, ret_st);
}

int proc_file__open_link(const char *path, const struct proc_open_opts *opts, struct stat *ret_st)
{
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return check_and_reopen(fd, opts->kind, opts, ret_st);
}

int proc_file__open(const char *path, enum proc_file_kind kind, struct stat *ret_st)
{
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	return check_and_reopen(fd, kind, NULL, ret_st);
}
