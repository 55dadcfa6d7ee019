/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one way scorch opens a file that a profiled process can name or replace: its binary, its
 * debug files, its perf map. Paths are resolved inside the process's own root (never following
 * a link out of it), only regular files within a size bound per kind are opened, nothing that
 * could block (FIFOs, devices) is ever opened for reading, and files opened on a process's
 * behalf must be ones the process could read itself.
 */
#ifndef SCORCH_PROCFILE_H
#define SCORCH_PROCFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* What a file is opened as; each kind has its size bound. */
enum proc_file_kind {
	PROC_FILE_ELF, /* an executable or a shared library: at most 4 GiB */
	PROC_FILE_DEBUG, /* a separate debug file: at most 4 GiB */
	PROC_FILE_PERFMAP, /* a JIT's perf map: at most 64 MiB */
};

#define PROC_FILE_MAX_GROUPS 64

/* Who a process is, as /proc/PID/status says (in scorch's user namespace). */
struct proc_creds {
	uint32_t uid; /* real */
	uint32_t fsuid, fsgid; /* what the kernel checks file access with */
	uint32_t groups[PROC_FILE_MAX_GROUPS];
	size_t ngroups;
	uint32_t nspid; /* the pid in the process's own pid namespace */
};

/* Read the credentials of pid from proc_root (normally "/proc"). 0, or -errno. */
int proc_creds__read(const char *proc_root, uint32_t pid, struct proc_creds *ret);
/* Could a process with these credentials read the file st describes (its mode bits)? */
bool proc_creds__can_read(const struct proc_creds *c, const struct stat *st);

struct proc_open_opts {
	enum proc_file_kind kind;
	/* the process the file is opened for: it must be able to read it; NULL: no such check */
	const struct proc_creds *creds;
	/* the last component must not be a symbolic link (perf maps, as perf opens them) */
	bool nofollow;
	/* the file must belong to the process's real user or to root (perf maps); needs creds */
	bool owner;
	/*
	 * Devices (st_dev) of the process's FUSE mounts: nothing on them is opened or looked into
	 * (the daemon, which the process may run, could leave any access waiting); -EREMOTE.
	 */
	const dev_t *avoid;
	size_t navoid;
	/*
	 * For tests: resolve the path component by component in user space, as on kernels (or
	 * seccomp profiles) without openat2(), even where openat2() works.
	 */
	bool walk;
};

/*
 * The root directory of pid as the process sees it (/proc/PID/root), as an O_PATH descriptor
 * to resolve its paths in. fd, or -errno.
 */
int proc_root__open(const char *proc_root, uint32_t pid);

/*
 * Open path (absolute, as the process names it) for reading, resolved inside rootfd: ".." and
 * absolute symbolic links stay inside it, magic links of /proc are not followed. The checks of
 * opts, then: a regular file within the size bound of its kind. fd (O_RDONLY, O_CLOEXEC) with
 * its fstat in *ret_st (optional), or -errno: -ENOENT..., -ELOOP (too many links, or a link
 * where none is allowed), -EXDEV (a magic link), -EINVAL (not a regular file), -EFBIG (over
 * the bound), -EACCES (the process could not read it), -EPERM (not its owner's), -EREMOTE (on
 * an avoided device).
 */
int proc_file__open_at(int rootfd, const char *path, const struct proc_open_opts *opts,
		       struct stat *ret_st);
/*
 * Open a file through a link of /proc that the kernel follows without a look-up
 * (/proc/PID/map_files/START-END: the very file a process mapped), with the checks of opts.
 */
int proc_file__open_link(const char *path, const struct proc_open_opts *opts, struct stat *ret_st);
/*
 * Open a path scorch itself trusts the location of (/proc/PID/map_files/..., a --debug-dir,
 * the host's /usr/lib/debug) with the same file checks: regular, within the bound of kind,
 * never blocking. fd or -errno as above.
 */
int proc_file__open(const char *path, enum proc_file_kind kind, struct stat *ret_st);

/* The size bound of a kind, in bytes. */
uint64_t proc_file__max_size(enum proc_file_kind kind);
/* A short reason for an error proc_file__open*() returned, for messages. */
const char *proc_file__strerror(int err);

#endif
