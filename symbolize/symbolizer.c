// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The symbolizer object: process snapshots (their executable mappings, perf maps, FUSE mounts,
 * credentials), and resolving user addresses through them and the resolved-address cache.
 */
#include "symbolizer-internal.h"
#include "dwarf_frames.h"
#include "gopclntab.h"
#include "kallsyms.h"
#include "perfmap.h"
#include "procmaps.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libiberty/demangle.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* Demangled names and source paths kept before they are forgotten (at an expiry). */
#define NAMES_MAX 65536
/* Warnings about processes remembered, so that each is said once. */
#define WARNED_MAX 4096
/*
 * Parsed perf maps: over all processes, and for one (so that one process cannot take it all,
 * though several can).
 */
#define PERFMAP_BUDGET (32u << 20)
#define PERFMAP_PROCESS_BUDGET (8u << 20)
/* Perf maps held open at once (one descriptor each, for the processes' lifetimes). */
#define PERFMAP_FDS_MAX 512u
/* Symbol tables of all files, unless the options say otherwise. */
#define SYMBOL_BUDGET_DEFAULT ((size_t)512 << 20)

/* Resolved addresses kept, over all files: about 180 bytes each with the table and keys. */
#define FRAME_CACHE_MAX 8192

struct frame_key {
	uint64_t file; /* elf_file__id(): never reused, so a freed file's entries never hit */
	uint64_t vaddr;
};

struct cached_frame {
	int ret, nlines;
	struct sym_line lines[];
};

void sym_warn(struct symbolizer *s, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!s->opts.warn)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->opts.warn(s->opts.warn_ctx, buf);
}

/*
 * A warning about a process, once per process and message: its maps are read again every
 * round while something stays unnamed, and a hostile one could otherwise fill the log.
 */
static int reset_table(struct hmap **h, bool free_values);

void sym_warn_process(struct symbolizer *s, uint32_t pid, const char *fmt, ...)
{
	char buf[512];
	struct {
		uint32_t pid;
		uint64_t hash;
	} key;
	va_list ap;

	/* the key is hashed as bytes: its padding must be zero too */
	memset(&key, 0, sizeof(key));
	key.pid = pid;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	key.hash = hash_bytes(buf, strlen(buf), 0);
	if (hmap__get(s->warned, &key, sizeof(key)))
		return;
	if (hmap__count(s->warned) >= WARNED_MAX && reset_table(&s->warned, false))
		return;
	hmap__put(s->warned, &key, sizeof(key), (void *)1);
	sym_warn(s, "pid %u: %s", pid, buf);
}

/*
 * What reading a file on demand found out: it shrank under its mapping (said once per file), its
 * symbols did not fit in the budget (said once in all, counted per file). True when the file was
 * found shrunk just now: the lookup that found it may have read zeros. (Frames resolved before
 * stay: their names are copies.)
 */
static bool check_file(struct symbolizer *s, const struct sym_mapping *m)
{
	unsigned int problems = elf_file__problems(m->elf);
	bool shrank = false;

	if (!problems)
		return false;
	if ((problems & ELF_WARN_SHRANK) && elf_file__warn_once(m->elf, ELF_WARN_SHRANK)) {
		s->stats.files_shrank++;
		sym_warn(s, "'%s': file shrank while being read, keeping what was read", m->path);
		shrank = true;
	}
	if ((problems & ELF_WARN_BUDGET) && elf_file__warn_once(m->elf, ELF_WARN_BUDGET) &&
	    !s->symbols_warned) {
		s->symbols_warned = true;
		sym_warn(s,
			 "'%s': symbol tables over their memory budget (%zu MiB for all files), %s",
			 m->path, s->symbols.max >> 20,
			 "keeping bare addresses for it and any other file past the budget");
	}
	return shrank;
}

struct symbolizer *symbolizer__new(const struct symbolizer_opts *opts)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (opts)
		s->opts = *opts;
	snprintf(s->proc_root, sizeof(s->proc_root), "%s",
		 s->opts.proc_root ? s->opts.proc_root : "/proc");
	if (!s->opts.max_files)
		s->opts.max_files = 4096;
	s->symbols.max =
	    s->opts.max_symbol_bytes ? s->opts.max_symbol_bytes : SYMBOL_BUDGET_DEFAULT;
	{
		struct stat st;

		if (stat("/", &st) == 0)
			s->own_root = (struct root_scope){ st.st_dev, st.st_ino };
	}
	s->files = hmap__new();
	s->procs = hmap__new();
	s->elf_refs = hmap__new();
	s->kmaps = hmap__new();
	s->demangled = hmap__new();
	s->paths = hmap__new();
	s->frames = hmap__new();
	s->by_build_id = hmap__new();
	s->warned = hmap__new();
	s->mounts = hmap__new();
	if (!s->files || !s->procs || !s->elf_refs || !s->kmaps || !s->demangled || !s->paths ||
	    !s->frames || !s->by_build_id || !s->warned || !s->mounts) {
		symbolizer__free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

static void free_process(struct symbolizer *s, struct sym_process *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->maps[i].path);
		sym_release_elf(s, p->maps[i].elf);
	}
	if (p->perfmap_fd >= 0) {
		close(p->perfmap_fd);
		s->perfmap_fds--;
	}
	if (p->perfmap)
		s->perfmap_bytes -= perfmap__memory(p->perfmap);
	perfmap__free(p->perfmap);
	free(p->maps);
	free(p->exe);
	free(p->cgroup);
	free(p->py_layout);
	free(p);
}

static void forget_mount_tables(struct symbolizer *s);

void symbolizer__free(struct symbolizer *s)
{
	size_t pos = 0;
	void *v;

	if (!s)
		return;
	for (pos = 0; s->procs && hmap__next(s->procs, &pos, NULL, NULL, &v);)
		free_process(s, v);
	sym_release_elf(s, s->vdso);
	/* the cache holds one reference per cached file */
	for (pos = 0; s->files && hmap__next(s->files, &pos, NULL, NULL, &v);)
		sym_release_elf(s, ((struct cached_file *)v)->elf);
	for (pos = 0; s->kmaps && hmap__next(s->kmaps, &pos, NULL, NULL, &v);) {
		free(((struct sym_mapping *)v)->path);
		free(v);
	}
	hmap__free(s->procs);
	sym_python_free(s);
	hmap__free(s->files);
	hmap__free(s->elf_refs);
	hmap__free(s->by_build_id);
	hmap__free(s->kmaps);
	for (pos = 0; s->demangled && hmap__next(s->demangled, &pos, NULL, NULL, &v);)
		free(v);
	hmap__free(s->demangled);
	for (pos = 0; s->paths && hmap__next(s->paths, &pos, NULL, NULL, &v);)
		free(v);
	hmap__free(s->paths);
	for (pos = 0; s->frames && hmap__next(s->frames, &pos, NULL, NULL, &v);)
		free(v);
	hmap__free(s->frames);
	hmap__free(s->warned);
	forget_mount_tables(s);
	hmap__free(s->mounts);
	kallsyms__free(s->kallsyms);
	kallsyms__free(s->kextra);
	free(s->trusted);
	free(s);
}

/*
 * A JIT's perf map, /tmp/perf-NSPID.map in the process's own /tmp (resolved inside its root),
 * as perf takes it: a regular file, not a link, belonging to the process's user or to root, and
 * readable by the process. Opened while the process lives (its root is reachable only then) and
 * kept open: the JIT may still append to it.
 */
static int open_perfmap(int rootfd, const struct sym_process *p)
{
	struct proc_open_opts o = opts_for(p, PROC_FILE_PERFMAP);
	char path[64];

	o.creds = &p->creds;
	o.nofollow = true;
	o.owner = true;
	if (rootfd < 0 || p->creds.fsuid == UINT32_MAX)
		return -EACCES;
	snprintf(path, sizeof(path), "/tmp/perf-%u.map", p->creds.nspid);
	return proc_file__open_at(rootfd, path, &o, NULL);
}

static uint64_t mapping_start(const void *m)
{
	return ((const struct sym_mapping *)m)->start;
}

static int cmp_mapping(const void *a, const void *b)
{
	const struct sym_mapping *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * A re-read never loses what was known: mappings of the old snapshot that no new one overlaps
 * (a library unmapped since, or everything when the process is exiting and its maps read
 * empty) move over, so earlier samples still resolve. The perf map stays open too.
 */
static bool overlaps_any(const struct sym_mapping *m, const struct sym_mapping *maps, size_t n)
{
	for (size_t j = 0; j < n; j++)
		if (m->start < maps[j].end && maps[j].start < m->end)
			return true;
	return false;
}

static bool same_file_unchanged(int fd, const struct stat *was)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_dev == was->st_dev && st.st_ino == was->st_ino &&
	       st.st_size == was->st_size;
}

static int merge_old_mappings(struct symbolizer *s, struct sym_process *p, struct sym_process *old)
{
	size_t fresh = p->n, extra = 0, stay = 0;
	struct sym_mapping *maps;

	for (size_t i = 0; i < old->n; i++)
		extra += !overlaps_any(&old->maps[i], p->maps, fresh);
	maps = realloc(p->maps, (fresh + extra + 1) * sizeof(*maps));
	if (!maps)
		return -ENOMEM;
	p->maps = maps;
	for (size_t i = 0; i < old->n; i++) {
		if (overlaps_any(&old->maps[i], p->maps, fresh))
			old->maps[stay++] =
			    old->maps[i]; /* replaced: freed with the old snapshot */
		else
			p->maps[p->n++] =
			    old->maps[i]; /* moved, with its path and file reference */
	}
	old->n = stay;
	qsort(p->maps, p->n, sizeof(*p->maps), cmp_mapping);
	/*
	 * The same perf map, no longer than when it was parsed: the parse carries over (a process
	 * re-read every round would otherwise have its map parsed every round).
	 */
	if (p->perfmap_fd >= 0 && old->perfmap &&
	    same_file_unchanged(p->perfmap_fd, &old->perfmap_st)) {
		close(p->perfmap_fd);
		s->perfmap_fds--;
		p->perfmap_fd = -1;
	}
	if (p->perfmap_fd < 0) {
		p->perfmap_fd = old->perfmap_fd;
		old->perfmap_fd = -1;
		if (p->perfmap_fd >= 0 && old->perfmap_tried) {
			p->perfmap = old->perfmap;
			p->perfmap_tried = true;
			p->perfmap_st = old->perfmap_st;
			old->perfmap = NULL;
		}
	}
	/* what the first snapshot found stays (a zombie's exe link is gone) */
	if (old->exe) {
		free(p->exe);
		p->exe = old->exe;
		old->exe = NULL;
	}
	if (old->cgroup) {
		free(p->cgroup);
		p->cgroup = old->cgroup;
		old->cgroup = NULL;
	}
	return 0;
}

/* The executable's path and the cgroup of a process, for the agent's series labels. */
static void read_process_info(struct symbolizer *s, uint32_t pid, struct sym_process *p)
{
	char path[300], buf[PATH_MAX], *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/exe", s->proc_root, pid);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n > 0) {
		buf[n] = 0;
		p->exe = strdup(buf);
	}
	snprintf(path, sizeof(path), "%s/%u/cgroup", s->proc_root, pid);
	f = fopen(path, "re");
	/*
	 * "0::/path" with cgroup v2; otherwise the first hierarchy's "N:controllers:/path". Whole
	 * lines (the kernel bounds them): a long path cut in two would let its second half pass
	 * for a line of its own.
	 */
	while (f && getline(&line, &cap, f) > 0) {
		char *c = strchr(line, ':');

		c = c ? strchr(c + 1, ':') : NULL;
		if (!c)
			continue;
		c[strcspn(c, "\n")] = 0;
		if (!p->cgroup || !strncmp(line, "0::", 3)) {
			free(p->cgroup);
			p->cgroup = strdup(c + 1);
		}
	}
	free(line);
	if (f)
		fclose(f);
}

void symbolizer__process_info(const struct symbolizer *s, uint32_t pid, uint32_t seq,
			      const char **ret_exe, const char **ret_cgroup)
{
	struct proc_key key = { pid, seq };
	const struct sym_process *p = hmap__get(s->procs, &key, sizeof(key));

	*ret_exe = p ? p->exe : NULL;
	*ret_cgroup = p ? p->cgroup : NULL;
}

bool sym_on_fuse(const struct sym_process *p, dev_t dev)
{
	if (p->fuse_all)
		return true;
	for (size_t i = 0; i < p->nfuse; i++)
		if (p->fuse[i] == dev)
			return true;
	return false;
}

/*
 * The devices of the FUSE filesystems a process sees (/proc/PID/mountinfo, whose lines read
 * "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS... - TYPE SOURCE SUPER-OPTIONS"). A process
 * that can mount FUSE (root in a container, or any user where fuse.conf allows others) runs the
 * daemon that answers for those files, and a daemon that never answers leaves whoever looks a
 * file up there waiting, uninterruptibly: scorch never does. With more than FUSE_MOUNTS_MAX of
 * them, or an unreadable mountinfo with any doubt, every device is considered one.
 */
/* Parse one mountinfo file into p's FUSE devices. */
static void parse_fuse_mounts(struct symbolizer *s, uint32_t pid, FILE *f, struct sym_process *p)
{
	char *line = NULL;
	size_t cap = 0;

	while (getline(&line, &cap, f) > 0) {
		unsigned int major, minor;
		char *sep = strstr(line, " - ");

		if (!sep || strncmp(sep + 3, "fuse", 4) ||
		    sscanf(line, "%*u %*u %u:%u", &major, &minor) != 2)
			continue;
		if (p->nfuse == FUSE_MOUNTS_MAX) {
			sym_warn_process(s, pid,
					 "more than %d FUSE mounts: none of its files are read",
					 FUSE_MOUNTS_MAX);
			p->fuse_all = true;
			break;
		}
		p->fuse[p->nfuse++] = makedev(major, minor);
	}
	free(line);
}

/*
 * What a process sees of the mounts depends on its mount namespace and its root (mountinfo
 * leaves out what lies outside the root): processes that share both share the answer. It is
 * kept with the mountinfo file it came from, which the kernel marks (POLLPRI) when the table
 * changes; a change means reading it again. Most new processes of a machine are in a
 * namespace seen before, and mountinfo was the costliest file of their snapshots.
 */
#define MOUNT_TABLES_MAX 256

struct mounts_key {
	uint64_t ns; /* the mount namespace's inode */
	uint64_t root; /* hash of the root's path, as /proc/PID/root names it */
};

struct mounts_entry {
	int fd;
	dev_t fuse[FUSE_MOUNTS_MAX];
	size_t nfuse;
	bool fuse_all;
};

static void forget_mount_tables(struct symbolizer *s)
{
	size_t pos = 0;
	void *v;

	while (s->mounts && hmap__next(s->mounts, &pos, NULL, NULL, &v)) {
		close(((struct mounts_entry *)v)->fd);
		free(v);
	}
	hmap__free(s->mounts);
	s->mounts = hmap__new();
}

/* The key of pid's mount table: 0, or -errno when its links cannot be read. */
static int mounts_key_of(struct symbolizer *s, uint32_t pid, struct mounts_key *ret)
{
	char path[300], link[PATH_MAX];
	unsigned long long ns;
	ssize_t n;

	memset(ret, 0, sizeof(*ret));
	snprintf(path, sizeof(path), "%s/%u/ns/mnt", s->proc_root, pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -errno;
	link[n] = 0;
	if (sscanf(link, "mnt:[%llu]", &ns) != 1)
		return -EINVAL;
	ret->ns = ns;
	/* the link's text, never the directory: a root on FUSE is not to be touched */
	snprintf(path, sizeof(path), "%s/%u/root", s->proc_root, pid);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return -errno;
	ret->root = hash_bytes(link, n, 0);
	return 0;
}

/* A table kept and still current: copied into p. */
static bool known_mounts(struct symbolizer *s, const struct mounts_key *key, struct sym_process *p)
{
	struct mounts_entry *e = hmap__get(s->mounts, key, sizeof(*key));
	struct pollfd pfd;

	if (!e)
		return false;
	pfd = (struct pollfd){ .fd = e->fd, .events = POLLPRI };
	if (poll(&pfd, 1, 0) != 0 || pfd.revents) {
		/* changed (or cannot tell): read again */
		close(e->fd);
		free(hmap__remove(s->mounts, key, sizeof(*key)));
		return false;
	}
	memcpy(p->fuse, e->fuse, e->nfuse * sizeof(*e->fuse));
	p->nfuse = e->nfuse;
	p->fuse_all = e->fuse_all;
	return true;
}

/*
 * The devices of the FUSE filesystems a process sees (/proc/PID/mountinfo, whose lines read
 * "ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS... - TYPE SOURCE SUPER-OPTIONS"). A process
 * that can mount FUSE (root in a container, or any user where fuse.conf allows others) runs the
 * daemon that answers for those files, and a daemon that never answers leaves whoever looks a
 * file up there waiting, uninterruptibly: scorch never does. With more than FUSE_MOUNTS_MAX of
 * them, every device is considered one.
 */
static void read_fuse_mounts(struct symbolizer *s, uint32_t pid, struct sym_process *p)
{
	struct mounts_key key;
	struct mounts_entry *e;
	char path[300];
	bool keyed = mounts_key_of(s, pid, &key) == 0;
	int fd, copy;
	FILE *f;

	if (keyed && known_mounts(s, &key, p))
		return;
	snprintf(path, sizeof(path), "%s/%u/mountinfo", s->proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	s->stats.mount_tables_read++;
	/* read through a copy: the descriptor stays open, to be polled for changes */
	copy = dup(fd);
	f = copy >= 0 ? fdopen(copy, "re") : NULL;
	if (!f) {
		if (copy >= 0)
			close(copy);
		close(fd);
		return;
	}
	parse_fuse_mounts(s, pid, f, p);
	fclose(f);
	e = keyed ? calloc(1, sizeof(*e)) : NULL;
	if (!e) {
		close(fd);
		return;
	}
	if (hmap__count(s->mounts) >= MOUNT_TABLES_MAX)
		forget_mount_tables(s);
	e->fd = fd;
	memcpy(e->fuse, p->fuse, p->nfuse * sizeof(*p->fuse));
	e->nfuse = p->nfuse;
	e->fuse_all = p->fuse_all;
	if (!s->mounts || hmap__put(s->mounts, &key, sizeof(key), e)) {
		close(fd);
		free(e);
	}
}

/*
 * The root a process sees, as a scope for debug files found in it: none when it is ours (what
 * lies in it is what the host has), and the root directory's identity otherwise. An unknown root
 * (the process is gone, or cannot be read) gets a scope no other process has.
 */
static struct root_scope root_scope_of(struct symbolizer *s, int rootfd)
{
	struct stat st;

	if (rootfd < 0 || fstat(rootfd, &st) < 0)
		return (struct root_scope){ UINT64_MAX, ++s->unknown_roots };
	if (st.st_dev == s->own_root.dev && st.st_ino == s->own_root.ino)
		return (struct root_scope){ 0, 0 };
	return (struct root_scope){ st.st_dev, st.st_ino };
}

/* Unknown credentials: nothing is opened on the process's behalf but what it mapped. */
static struct proc_creds unknown_creds(uint32_t pid)
{
	return (struct proc_creds){
		.uid = UINT32_MAX, .fsuid = UINT32_MAX, .fsgid = UINT32_MAX, .nspid = pid
	};
}

/*
 * A process's credentials (/proc/PID/status), read once and only when asked for: most
 * snapshots need none, and status is the costliest of the files a snapshot would read.
 */
static const struct proc_creds *creds_of(struct symbolizer *s, uint32_t pid, struct sym_process *p)
{
	if (p->creds_read)
		return &p->creds;
	p->creds_read = true;
	if (proc_creds__read(s->proc_root, pid, &p->creds))
		p->creds = unknown_creds(pid);
	return &p->creds;
}

/*
 * An executable the process can run but not read (mode 0711) gives it no symbols: scorch would
 * otherwise read, and show or upload, what the process itself may not. A file any user may
 * read (o+r) needs no look at who the process is: an owner its own bits deny could still
 * read it as another user.
 */
static void check_readable(struct symbolizer *s, uint32_t pid, struct sym_process *p,
			   struct sym_mapping *sm)
{
	struct cached_file *cf = sm->elf ? hmap__get(s->elf_refs, &sm->elf, sizeof(sm->elf)) : NULL;
	struct stat st = { 0 };

	if (!cf || cf->elf == s->vdso || (cf->mode & S_IROTH))
		return;
	st.st_mode = cf->mode;
	st.st_uid = cf->uid;
	st.st_gid = cf->gid;
	if (proc_creds__can_read(creds_of(s, pid, p), &st))
		return;
	sym_warn_process(s, pid, "'%s': not readable by the process, keeping bare addresses",
			 sm->path);
	sym_release_elf(s, sm->elf);
	sm->elf = NULL;
	sm->build_id = "";
}

/*
 * The executable mappings of a live process (-ESRCH when it is gone): asked for alone where
 * the kernel can (6.11), else the other lines are skipped unparsed. A query refused for another
 * reason (a name longer than a path, a process without memory) is answered by the text.
 */
int sym_read_exec_maps(struct symbolizer *s, uint32_t pid, struct procmap **ret, size_t *ret_n)
{
	char path[300];
	int err, mapsfd;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/maps", s->proc_root, pid);
	mapsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (mapsfd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	err = s->no_procmap_query ? -ENOTTY : procmaps__query_exec(mapsfd, ret, ret_n);
	if (err == -ENOTTY)
		s->no_procmap_query = true;
	if (!err) {
		close(mapsfd);
		return 0;
	}
	f = fdopen(mapsfd, "re");
	if (!f) {
		err = -errno;
		close(mapsfd);
		return err;
	}
	err = procmaps__parse_exec(f, ret, ret_n, NULL);
	fclose(f);
	return err;
}

int symbolizer__mapping_at(struct symbolizer *s, uint32_t pid, uint64_t addr, uint64_t *ret_lo,
			   uint64_t *ret_hi)
{
	char path[300];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%u/maps", s->proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	err = procmaps__find(fd, addr, ret_lo, ret_hi);
	close(fd);
	return err;
}

/*
 * Whether the process still maps m's file where its snapshot saw it: not after an exec, which
 * leaves none of the old mappings. False when its maps cannot be read.
 */
bool sym_still_mapped(struct symbolizer *s, uint32_t pid, const struct sym_mapping *m)
{
	struct procmap *maps = NULL;
	bool same = false;
	size_t n = 0;

	if (sym_read_exec_maps(s, pid, &maps, &n))
		return false;
	for (size_t j = 0; j < n && !same; j++)
		same = maps[j].start == m->start && maps[j].end == m->end &&
		       maps[j].offset == m->offset && maps[j].inode == m->ino &&
		       makedev(maps[j].dev_major, maps[j].dev_minor) == m->dev;
	procmaps__free(maps, n);
	return same;
}

/* The executable mappings of a live process, in a new record not stored yet. */
static int read_snapshot(struct symbolizer *s, uint32_t pid, struct sym_process **ret)
{
	struct procmap *maps = NULL;
	struct sym_process *p;
	size_t n = 0;
	int err, rootfd = -1;
	bool jit = false;

	err = sym_read_exec_maps(s, pid, &maps, &n);
	if (err && err != -ENOMEM)
		s->stats.snapshots_failed++;
	if (err)
		return err;
	p = calloc(1, sizeof(*p));
	if (!p)
		goto nomem;
	p->perfmap_fd = -1;
	/* unknown until read (creds_of()): whatever forgot to ask is refused, never let through */
	p->creds = unknown_creds(pid);
	p->maps = calloc(n + 1, sizeof(*p->maps));
	if (!p->maps)
		goto nomem;
	read_fuse_mounts(s, pid, p);
	rootfd = p->fuse_all ? -1 : proc_root__open(s->proc_root, pid);
	p->scope = root_scope_of(s, rootfd);
	for (size_t i = 0; i < n; i++) {
		const struct procmap *m = &maps[i];
		struct sym_mapping *sm;

		if (!procmap__is_exec(m))
			continue;
		sm = &p->maps[p->n];
		sm->start = m->start;
		sm->end = m->end;
		sm->offset = m->offset;
		sm->dev = makedev(m->dev_major, m->dev_minor);
		sm->ino = m->inode;
		sm->build_id = "";
		sm->path = strdup(m->path);
		if (!sm->path)
			goto nomem;
		p->n++;
		if (m->path[0] == '/') {
			struct cached_file *cf = sym_cached_file(
			    s, makedev(m->dev_major, m->dev_minor), m->inode, &p->scope);
			int fd;

			/*
			 * A file already read (the maps line names its device and inode, as fstat of
			 * the opened file would): no need to open it again. New processes mostly map
			 * files other processes map too.
			 */
			if (cf) {
				cf->refs++;
				sm->elf = cf->elf;
				sm->build_id = elf_file__build_id(sm->elf);
				check_readable(s, pid, p, sm);
				continue;
			}
			if (sym_on_fuse(p, makedev(m->dev_major, m->dev_minor))) {
				sym_warn_process(s, pid, "'%s': %s, keeping bare addresses",
						 m->path, proc_file__strerror(-EREMOTE));
				continue;
			}
			creds_of(s, pid, p); /* the file and its debug files open as the process */
			fd = sym_open_mapped_file(s, pid, rootfd, p, m);
			if (fd < 0) {
				s->stats.files_unreadable++;
				if (fd == -EINVAL || fd == -EFBIG || fd == -ESTALE ||
				    fd == -EREMOTE)
					sym_warn_process(
					    s, pid, "'%s': %s, keeping bare addresses", m->path,
					    fd == -ESTALE ? "not the file the process mapped"
							  : proc_file__strerror(fd));
				continue;
			}
			sm->elf = sym_get_elf(s, fd, m->path, rootfd, p, &p->scope);
			close(fd);
			if (sm->elf)
				sm->build_id = elf_file__build_id(sm->elf);
			check_readable(s, pid, p, sm);
		} else if (!strcmp(m->path, "[vdso]")) {
			sm->elf = sym_vdso_elf(s, m->end - m->start);
			if (sm->elf)
				sm->build_id = elf_file__build_id(sm->elf);
		} else if (!m->path[0] || !strncmp(m->path, "[anon", 5)) {
			jit = true;
		}
	}
	/* executable anonymous memory: JIT'ed code, named by a perf map if any */
	if (jit && s->perfmap_fds >= PERFMAP_FDS_MAX) {
		if (!s->perfmap_fds_warned)
			sym_warn(
			    s,
			    "%u processes hold their perf maps open: those of more JIT processes "
			    "are not read (their JIT frames stay unnamed)",
			    PERFMAP_FDS_MAX);
		s->perfmap_fds_warned = true;
	} else if (jit) {
		int fd;

		creds_of(s, pid, p); /* its perf map is named by its own pid */
		fd = open_perfmap(rootfd, p);

		if (fd >= 0) {
			p->perfmap_fd = fd;
			s->perfmap_fds++;
		} else if (fd != -ENOENT && fd != -EACCES)
			sym_warn_process(s, pid, "perf map refused: %s", proc_file__strerror(fd));
	}
	if (rootfd >= 0)
		close(rootfd);
	procmaps__free(maps, n);
	read_process_info(s, pid, p);
	*ret = p;
	return 0;
nomem:
	if (rootfd >= 0)
		close(rootfd);
	procmaps__free(maps, n);
	free_process(s, p);
	return -ENOMEM;
}

/* Keep p as the snapshot of (pid, seq), merged with the one it replaces. Takes p. */
static int store_snapshot(struct symbolizer *s, uint32_t pid, uint32_t seq, struct sym_process *p)
{
	struct proc_key key = { pid, seq };
	struct sym_process *old = hmap__get(s->procs, &key, sizeof(key));

	s->last_proc = NULL;
	if ((old && merge_old_mappings(s, p, old)) || hmap__put(s->procs, &key, sizeof(key), p)) {
		free_process(s, p);
		return -ENOMEM;
	}
	if (old) {
		/* the same image read again */
		p->py_counted = old->py_counted;
		p->py_counted_unsupported = old->py_counted_unsupported;
		free_process(s, old);
	} else {
		s->stats.processes++;
	}
	return 0;
}

int symbolizer__snapshot(struct symbolizer *s, uint32_t pid, uint32_t seq)
{
	struct sym_process *p;
	int r = read_snapshot(s, pid, &p);

	return r ? r : store_snapshot(s, pid, seq, p);
}

int symbolizer__inherit(struct symbolizer *s, uint32_t pid, uint32_t seq, uint32_t parent)
{
	struct proc_key key = { pid, seq };
	struct sym_process *p, *from;
	int r = read_snapshot(s, parent, &from);
	char *cgroup;

	if (r)
		return r;
	s->stats.inherited++;
	p = hmap__get(s->procs, &key, sizeof(key));
	/* the child is gone already: its code was the parent's */
	if (!p)
		return store_snapshot(s, pid, seq, from);
	/*
	 * The child's own mappings win; the parent's fill in what they do not cover. The
	 * executable is the parent's (the child's, read late, may be what it exec'ed), the cgroup
	 * the child's own when it has one (a runtime may move a child before its exec).
	 */
	cgroup = p->cgroup;
	p->cgroup = NULL;
	s->last_proc = NULL;
	r = merge_old_mappings(s, p, from);
	if (cgroup) {
		free(p->cgroup);
		p->cgroup = cgroup;
	}
	free_process(s, from);
	return r;
}

const struct sym_process *sym_get_process(const struct symbolizer *s, uint32_t pid, uint32_t seq)
{
	struct symbolizer *memo = (struct symbolizer *)s; /* the memo only, never the tables */
	struct proc_key key = { pid, seq };

	if (s->last_proc && s->last_key.pid == pid && s->last_key.seq == seq)
		return s->last_proc;
	memo->last_proc = hmap__get(s->procs, &key, sizeof(key));
	memo->last_key = key;
	return s->last_proc;
}

void symbolizer__release_pages(struct symbolizer *s, bool files)
{
	size_t pos = 0;
	void *v;

	kallsyms__release_pages(s->kallsyms);
	while (files && hmap__next(s->files, &pos, NULL, NULL, &v))
		elf_file__release_pages(((struct cached_file *)v)->elf);
}

size_t symbolizer__expire(struct symbolizer *s, unsigned int idle_rounds)
{
	struct file_key *keys = NULL;
	size_t n = 0, cap = 0, pos = 0, len;
	const void *key;
	void *v;

	s->generation++;
	while (hmap__next(s->files, &pos, &key, &len, &v)) {
		const struct cached_file *cf = v;

		/* the cache's own reference is the last: no process maps the file any more */
		if (cf->refs != 1 || s->generation - cf->idle_since <= idle_rounds ||
		    len != sizeof(*keys) || cf->elf == s->vdso)
			continue;
		if (grow_array((void **)&keys, &cap, n + 1, sizeof(*keys)))
			break;
		memcpy(&keys[n++], key, sizeof(*keys));
	}
	for (size_t i = 0; i < n; i++) {
		struct cached_file *cf = hmap__remove(s->files, &keys[i], sizeof(keys[i]));

		if (cf)
			sym_release_elf(s, cf->elf);
	}
	free(keys);
	/* resolved addresses are keyed by file ids, never reused: theirs simply stop matching */
	s->stats.files_expired += n;
	/*
	 * Names and source paths are kept for the symbolizer's life, which an agent's is: past a
	 * bound they start again, with the resolved addresses that point into them. Nothing else
	 * holds them between two profiles.
	 */
	if (hmap__count(s->demangled) > NAMES_MAX || hmap__count(s->paths) > NAMES_MAX) {
		if (!sym_clear_frames(s)) {
			reset_table(&s->demangled, true);
			reset_table(&s->paths, true);
		}
	}
	return n;
}

bool symbolizer__has_process(const struct symbolizer *s, uint32_t pid, uint32_t seq)
{
	return sym_get_process(s, pid, seq) != NULL;
}

static const struct sym_mapping *find_mapping(const struct symbolizer *s, uint32_t pid,
					      uint32_t seq, uint64_t addr)
{
	const struct sym_process *p = sym_get_process(s, pid, seq);
	size_t lo;

	if (!p)
		return NULL;
	lo = upper_bound(p->maps, p->n, sizeof(*p->maps), addr, mapping_start);
	if (lo && addr < p->maps[lo - 1].end)
		return &p->maps[lo - 1];
	return NULL;
}

bool symbolizer__covers(const struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t addr)
{
	const struct sym_mapping *m = find_mapping(s, pid, seq, addr);
	struct proc_key key = { pid, seq };
	const struct sym_process *p;

	if (!m)
		return false;
	if (m->elf || (m->path[0] == '[' && strncmp(m->path, "[anon", 5)))
		return true;
	/* JIT code: a perf map written after the snapshot is found by reading it again */
	p = hmap__get(s->procs, &key, sizeof(key));
	return p && p->perfmap_fd >= 0;
}

int symbolizer__code_mapping(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t addr,
			     struct sym_code_mapping *ret)
{
	const struct sym_mapping *m = find_mapping(s, pid, seq, addr);

	if (!m)
		return -ENOENT;
	if (!m->elf)
		return -ENODATA;
	/* the unwinder reads the file's call frame information next: a shrink it met is said */
	check_file(s, m);
	*ret = (struct sym_code_mapping){ m->start, m->end, m->offset, m->elf };
	return 0;
}

int sym_code_mapping__vaddr(const struct sym_code_mapping *m, uint64_t addr, uint64_t *ret_vaddr)
{
	return elf_file__offset_to_vaddr(m->elf, addr - m->start + m->offset, ret_vaddr) ? -ENOENT
											 : 0;
}

int symbolizer__code_at(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t addr,
			struct elf_file **ret_elf, uint64_t *ret_vaddr)
{
	struct sym_code_mapping m;
	int r = symbolizer__code_mapping(s, pid, seq, addr, &m);

	if (r)
		return r;
	if (sym_code_mapping__vaddr(&m, addr, ret_vaddr))
		return -ENOENT;
	*ret_elf = m.elf;
	return 0;
}

/* Empty a table, freeing its values when they are ours; -ENOMEM leaves it as it was. */
static int reset_table(struct hmap **h, bool free_values)
{
	struct hmap *fresh = hmap__new();
	size_t pos = 0;
	void *v;

	if (!fresh)
		return -ENOMEM;
	while (free_values && hmap__next(*h, &pos, NULL, NULL, &v))
		free(v);
	hmap__free(*h);
	*h = fresh;
	return 0;
}

int sym_clear_frames(struct symbolizer *s)
{
	return reset_table(&s->frames, true);
}

void symbolizer__unwind_stopped(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t pc,
				const char *why)
{
	const struct sym_mapping *m = find_mapping(s, pid, seq, pc);

	if (!m || !m->elf)
		return;
	/* a file that shrank has lost its unwind info: that is what is said of it */
	check_file(s, m);
	if (!(elf_file__problems(m->elf) & ELF_WARN_SHRANK) &&
	    elf_file__warn_once(m->elf, ELF_WARN_UNWIND))
		sym_warn(s,
			 "'%s': %s at offset %#" PRIx64 ", stacks through it are truncated there",
			 m->path, why, pc - m->start + m->offset);
}

bool symbolizer__keeps_frame_pointers(const struct symbolizer *s, uint32_t pid, uint32_t seq)
{
	struct proc_key key = { pid, seq };
	const struct sym_process *p = hmap__get(s->procs, &key, sizeof(key));

	if (!p || !p->n)
		return false;
	for (size_t i = 0; i < p->n; i++) {
		/* legacy vsyscall page: emulated by the kernel, never sampled in user mode */
		if (!strcmp(p->maps[i].path, "[vsyscall]"))
			continue;
		if (!p->maps[i].elf || !elf_file__keeps_frame_pointers(p->maps[i].elf))
			return false;
	}
	return true;
}

void symbolizer__drop_process(struct symbolizer *s, uint32_t pid, uint32_t seq)
{
	struct proc_key key = { pid, seq };

	struct sym_process *p;

	s->last_proc = NULL;
	p = hmap__remove(s->procs, &key, sizeof(key));
	if (p && p->py_found)
		sym_python_forget(s, pid, seq);
	free_process(s, p);
}

/* C++ (Itanium ABI) and Rust names for display, with libiberty's demangler; cached. */
static const char *demangle(struct symbolizer *s, const char *raw)
{
	char *d;

	if (!raw || (strncmp(raw, "_Z", 2) && strncmp(raw, "_R", 2)))
		return raw;
	d = hmap__get(s->demangled, raw, strlen(raw));
	if (d)
		return d;
	d = cplus_demangle(raw, DMGL_PARAMS | DMGL_ANSI); /* auto style: C++ and Rust */
	if (!d)
		return raw;
	if (hmap__put(s->demangled, raw, strlen(raw), d)) {
		free(d);
		return raw;
	}
	return d;
}

const char *sym_intern(struct symbolizer *s, const char *name)
{
	char *copy = hmap__get(s->paths, name, strlen(name));

	if (copy)
		return copy;
	copy = strdup(name);
	if (!copy || hmap__put(s->paths, name, strlen(name), copy)) {
		free(copy);
		return NULL;
	}
	return copy;
}

/*
 * A name read from a file's mapping (DWARF, Go's table), kept apart from it: the file may
 * shrink or be written to later, and resolved frames are kept.
 */
static const char *keep_name(struct symbolizer *s, const char *name)
{
	const char *copy = name ? sym_intern(s, name) : NULL;

	return copy ? copy : name;
}

/* An absolute, normalized source path, interned for the symbolizer's lifetime. */
static const char *source_path(struct symbolizer *s, const char *comp_dir, const char *file)
{
	const char *copy;
	char buf[4096];

	if (!file)
		return NULL;
	dwarf__source_path(comp_dir, file, buf, sizeof(buf));
	copy = sym_intern(s, buf);
	return copy ? copy : file;
}

void sym_set_symbol_only(struct symbolizer *s, struct sym_frame *ret, const char *name)
{
	ret->nlines = 1;
	ret->lines[0] = (struct sym_line){ .function = demangle(s, name), .system_name = name };
	ret->function = ret->lines[0].function;
}

/* An address in anonymous executable memory, named by the process's perf map. */
static int resolve_jit(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t addr,
		       struct sym_frame *ret)
{
	struct proc_key key = { pid, seq };
	struct sym_process *p = hmap__get(s->procs, &key, sizeof(key));
	const char *name;

	if (!p || p->perfmap_fd < 0)
		return -ENOENT;
	if (!p->perfmap_tried) {
		int fd = dup(p->perfmap_fd);
		FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

		p->perfmap_tried = true;
		if (fstat(p->perfmap_fd, &p->perfmap_st))
			memset(&p->perfmap_st, 0, sizeof(p->perfmap_st));
		if (f) {
			size_t room = PERFMAP_BUDGET - s->perfmap_bytes;

			rewind(f);
			p->perfmap = perfmap__parse(
			    f, room < PERFMAP_PROCESS_BUDGET ? room : PERFMAP_PROCESS_BUDGET);
			fclose(f);
		} else if (fd >= 0) {
			close(fd);
		}
		if (p->perfmap) {
			s->perfmap_bytes += perfmap__memory(p->perfmap);
			if (perfmap__truncated(p->perfmap) || perfmap__skipped(p->perfmap))
				sym_warn_process(
				    s, pid,
				    "perf map cut short (%zu lines too long; bounds: 64 MB "
				    "read, %u MB kept for a process, %u MB for all)",
				    perfmap__skipped(p->perfmap), PERFMAP_PROCESS_BUDGET >> 20,
				    PERFMAP_BUDGET >> 20);
		}
	}
	name = p->perfmap ? perfmap__lookup(p->perfmap, addr) : NULL;
	if (!name)
		return -ENOENT;
	sym_set_symbol_only(s, ret, name);
	return 0;
}

/* Name vaddr of a mapping's file: symbol table, and DWARF for lines and inlined functions. */
static int resolve_in_file(struct symbolizer *s, const struct sym_mapping *m, uint64_t vaddr,
			   struct sym_frame *ret)
{
	struct dwarf_frame df[SYM_MAX_LINES];
	const char *symbol = NULL, *file;
	const struct gopclntab *go;
	struct go_func fn;
	struct Dwarf *dw;
	int32_t line;
	int n, r;

	elf_file__symbol(m->elf, vaddr, &symbol, NULL);
	symbol = keep_name(s, symbol);
	/* DWARF names inlined functions and lines; the symbol table only the function */
	r = elf_file__dwarf_at(m->elf, vaddr, &dw);
	if ((r == -EBADMSG || r == -EFBIG) && elf_file__warn_once(m->elf, ELF_WARN_DWARF))
		sym_warn(s, "'%s': %s, using the symbol table", m->path,
			 r == -EFBIG ? "DWARF too large to read within scorch's memory budget"
				     : "corrupt DWARF");
	n = dwarf__frames(dw, vaddr, df, SYM_MAX_LINES);
	for (int i = 0; i < n; i++) {
		const char *raw = keep_name(s, df[i].linkage ? df[i].linkage : df[i].name);

		/* the outermost frame is the symbol: prefer its exact (linkage) name */
		if (i == n - 1 && symbol && !df[i].linkage)
			raw = symbol;
		if (!raw)
			raw = "[unknown inline]";
		ret->lines[i] = (struct sym_line){
			.function = demangle(s, raw),
			.system_name = raw,
			.file = source_path(s, df[i].comp_dir, df[i].file),
			.line = df[i].line,
			.decl_file = source_path(s, df[i].comp_dir, df[i].decl_file),
			.decl_line = df[i].decl_line,
		};
	}
	if (n > 0) {
		ret->nlines = n;
		ret->function = ret->lines[n - 1].function;
		return 0;
	}
	if (!symbol)
		return -ENOENT;
	sym_set_symbol_only(s, ret, symbol);
	/* without DWARF, Go's own table still has file and line (not the inlined calls) */
	go = elf_file__gopclntab(m->elf);
	if (go && gopclntab__func(go, vaddr, &fn) == 0 &&
	    gopclntab__line(go, &fn, vaddr, &file, &line) == 0) {
		ret->lines[0].file = sym_intern(s, file);
		ret->lines[0].line = line;
		/* the function's own file and first line: those of its entry */
		if (gopclntab__line(go, &fn, fn.entry, &file, &line) == 0) {
			ret->lines[0].decl_file = sym_intern(s, file);
			ret->lines[0].decl_line = line;
		}
	}
	return 0;
}

/*
 * A file's addresses resolve the same in every process that maps it: kept, bounded (emptied when
 * full), so processes sharing libraries and repeated captures do the DWARF work once.
 */
static int resolve_cached(struct symbolizer *s, const struct sym_mapping *m, uint64_t vaddr,
			  struct sym_frame *ret)
{
	struct frame_key key = { elf_file__id(m->elf), vaddr };
	struct cached_frame *cf = hmap__get(s->frames, &key, sizeof(key));
	int r;

	if (cf) {
		ret->nlines = cf->nlines;
		memcpy(ret->lines, cf->lines, cf->nlines * sizeof(cf->lines[0]));
		ret->function = cf->nlines ? ret->lines[cf->nlines - 1].function : NULL;
		return cf->ret;
	}
	r = resolve_in_file(s, m, vaddr, ret);
	/* found shrunk by this very lookup: again, with what is left (its symbols) */
	if (check_file(s, m))
		r = resolve_in_file(s, m, vaddr, ret);
	if (hmap__count(s->frames) >= FRAME_CACHE_MAX && sym_clear_frames(s))
		return r;
	cf = malloc(sizeof(*cf) + ret->nlines * sizeof(cf->lines[0]));
	if (!cf)
		return r;
	cf->ret = r;
	cf->nlines = ret->nlines;
	memcpy(cf->lines, ret->lines, ret->nlines * sizeof(cf->lines[0]));
	if (hmap__put(s->frames, &key, sizeof(key), cf))
		free(cf);
	return r;
}

int symbolizer__resolve_user(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t addr,
			     struct sym_frame *ret)
{
	const struct sym_mapping *m = find_mapping(s, pid, seq, addr);
	uint64_t vaddr;

	ret->function = NULL;
	ret->nlines = 0;
	ret->mapping = m;
	if (m && !m->elf)
		return resolve_jit(s, pid, seq, addr, ret);
	if (!m)
		return -ENOENT;
	if (elf_file__offset_to_vaddr(m->elf, addr - m->start + m->offset, &vaddr))
		return -ENOENT;
	return resolve_cached(s, m, vaddr, ret);
}

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *ret)
{
	void *v;

	*ret = s->stats;
	ret->symbol_bytes = s->symbols.used;
	ret->symbols_over_budget = s->symbols.refused;
	ret->live_processes = hmap__count(s->procs);
	ret->files_live = hmap__count(s->files);
	ret->dwarf_files = ret->dwarf_units = ret->dwarf_inflated = ret->dwarf_bytes = 0;
	ret->dwarf_cached_units = 0;
	for (size_t pos = 0; hmap__next(s->files, &pos, NULL, NULL, &v);) {
		struct dwarf_lazy_stats ds;

		if (!elf_file__dwarf_stats(((const struct cached_file *)v)->elf, &ds))
			continue;
		ret->dwarf_files++;
		ret->dwarf_units += ds.opened;
		ret->dwarf_inflated += ds.inflated;
		ret->dwarf_cached_units += ds.cached_units;
		ret->dwarf_bytes += ds.bytes;
	}
}
