/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the parts of the symbolizer share: the object itself, the records of processes and
 * cached files, and the functions each part calls of the others. Only symbolize/ includes it.
 */
#ifndef SCORCH_SYMBOLIZER_INTERNAL_H
#define SCORCH_SYMBOLIZER_INTERNAL_H

#include "symbolizer.h"
#include "elf_file.h"
#include "hashmap.h"
#include "procfile.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct procmap;

/*
 * Where a file's debug information may be trusted: everywhere (0, 0), or only in the root a
 * process found it in, by that root directory's device and inode. A container may lay any debug
 * file in its own root; it must not name the code of processes elsewhere that map the same
 * file (the same image layer, the same host binary).
 */
struct root_scope {
	uint64_t dev, ino;
};

/* FUSE mounts of one process kept (more: that process's files are not opened at all). */
#define FUSE_MOUNTS_MAX 32

struct file_key {
	uint64_t dev, ino;
	struct root_scope scope;
};

struct cached_file {
	struct elf_file *elf;
	char *path; /* as the first process to map it named it; NULL without memory */
	struct root_scope scope; /* its debug file came from inside this root */
	mode_t mode; /* of the file: processes that could not read it get no symbols from it */
	uid_t uid;
	gid_t gid;
	unsigned int refs;
	uint64_t idle_since; /* the generation its last mapping went away in */
	bool debuginfod_tried; /* asked of the debuginfod servers already */
};

struct sym_process {
	struct sym_mapping *maps; /* sorted by start */
	size_t n;
	/*
	 * At the snapshot, read only when something needs them (a file not readable by all, a
	 * file opened on its behalf, its perf map); creds.fsuid == UINT32_MAX when unknown.
	 */
	struct proc_creds creds;
	bool creds_read;
	struct root_scope scope; /* its root, or (0, 0) when it is ours */
	dev_t fuse[FUSE_MOUNTS_MAX]; /* devices of its FUSE mounts: never touched */
	size_t nfuse;
	bool fuse_all; /* too many to keep: no file of it is read */
	char *exe; /* /proc/PID/exe at the first snapshot, or NULL */
	char *cgroup; /* from /proc/PID/cgroup, or NULL */
	int perfmap_fd; /* the JIT's /tmp/perf-PID.map, held open, or -1 */
	struct perfmap *perfmap; /* parsed on first use */
	bool perfmap_tried;
	struct stat perfmap_st; /* of the file when it was parsed */
	/* CPython, looked for on first use (sym_python.c) */
	bool py_checked, py_found;
	/* counted in the stats (by an earlier snapshot of the same image), and as unsupported */
	bool py_counted, py_counted_unsupported;
	bool py_rechecked; /* checked again after samples without Python frames */
	uint32_t py_empty; /* samples without Python frames, before the first with them */
	bool py_seen; /* a sample with Python frames came */
	struct sym_python py;
	struct py_layout *py_layout; /* the process's own (3.13+: from its debug offsets) */
};

/* How a file of p is opened: the bounds of kind, its FUSE mounts avoided. */
static inline struct proc_open_opts opts_for(const struct sym_process *p, enum proc_file_kind kind)
{
	return (struct proc_open_opts){ .kind = kind,
					.avoid = p ? p->fuse : NULL,
					.navoid = p ? p->nfuse : 0 };
}

struct kernel_range {
	uint64_t start, end;
};

struct proc_key {
	uint32_t pid, seq;
};

struct symbolizer {
	struct symbolizer_opts opts;
	char proc_root[256];
	bool no_procmap_query; /* the kernel lacks PROCMAP_QUERY: maps are read as text */
	struct hmap *files; /* file_key -> cached_file */
	struct hmap *by_build_id; /* hex build-id -> cached_file, for every live file that has one */
	struct hmap *procs; /* proc_key -> sym_process */
	uint64_t generation; /* symbolizer__expire() calls so far */
	/* the last process looked up: an unwind asks for the same one at every frame */
	struct proc_key last_key;
	const struct sym_process *last_proc;
	struct hmap *elf_refs; /* elf_file* -> cached_file, for releasing */
	struct kallsyms *kallsyms;
	bool kallsyms_tried;
	bool kallsyms_live; /* read from /proc now, not from the cache */
	struct kallsyms *kextra; /* next to the cache: the live symbols outside its ranges */
	uint64_t kextra_ns; /* when kextra was read */
	struct kernel_range *trusted; /* where cached symbols can be trusted */
	size_t ntrusted;
	struct hmap *kmaps; /* module name -> sym_mapping */
	struct hmap *demangled; /* mangled name -> demangled copy */
	struct elf_file *vdso; /* our own vDSO image, the same in every 64-bit process */
	uint64_t vdso_size;
	bool vdso_tried;
	struct hmap *paths; /* source paths, joined and normalized, interned */
	struct hmap *frames; /* frame_key -> cached_frame: what an address of a file resolves to */
	struct hmap *warned; /* (pid, message hash) warned about already */
	/* FUSE devices per (mount namespace, root), while the mount table stays the same */
	struct hmap *mounts; /* mounts_key -> mounts_entry */
	size_t perfmap_bytes; /* held by the parsed perf maps of all processes */
	struct root_scope own_root; /* the device and inode of our own root directory */
	uint64_t unknown_roots; /* scopes given to processes whose root could not be read */
	unsigned int perfmap_fds; /* perf maps held open */
	bool perfmap_fds_warned;
	struct elf_symbol_budget symbols; /* for the symbol tables of every file read */
	struct dwarf_cache_budget dwarf_pending; /* inflated bytes kept on disk for the cache */
	bool symbols_warned; /* that the budget was hit, said once */
	struct py_code_cache *pycode; /* code objects of Python processes, made on first use */
	struct symbolizer_stats stats;
};

/* symbolizer.c: the object, process snapshots, resolving */
void sym_warn(struct symbolizer *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empty the resolved-address cache; -ENOMEM leaves it as it was. */
int sym_clear_frames(struct symbolizer *s);
int sym_read_exec_maps(struct symbolizer *s, uint32_t pid, struct procmap **ret, size_t *ret_n);
bool sym_still_mapped(struct symbolizer *s, uint32_t pid, const struct sym_mapping *m);
/* The snapshot of (pid, seq), or NULL; the last one looked up is remembered. */
const struct sym_process *sym_get_process(const struct symbolizer *s, uint32_t pid, uint32_t seq);
/* Is dev one of p's FUSE mounts (or are they too many to tell)? */
bool sym_on_fuse(const struct sym_process *p, dev_t dev);
/* A warning about a process, once per process and message. */
void sym_warn_process(struct symbolizer *s, uint32_t pid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A name for the symbolizer's lifetime, kept once; NULL without memory. */
const char *sym_intern(struct symbolizer *s, const char *name);
/* A frame named by a symbol alone (no lines). */
void sym_set_symbol_only(struct symbolizer *s, struct sym_frame *ret, const char *name);

/* sym_files.c: the file cache and opening what processes map */
/* Drop a reference to a cached file (NULL is fine); the last one frees it. */
void sym_release_elf(struct symbolizer *s, struct elf_file *elf);
/* A file already read: for every process, or for the processes of scope. NULL when none. */
struct cached_file *sym_cached_file(const struct symbolizer *s, uint64_t dev, uint64_t ino,
				    const struct root_scope *scope);
/* A new reference to the ELF file behind fd, from the cache when possible; NULL on failure. */
struct elf_file *sym_get_elf(struct symbolizer *s, int fd, const char *name, int rootfd,
			     const struct sym_process *p, const struct root_scope *scope);
/* A new reference to the vDSO's file, for a mapping of size bytes; NULL when not ours. */
struct elf_file *sym_vdso_elf(struct symbolizer *s, uint64_t size);
/* The file behind a mapping of pid, opened inside its view of the filesystem: fd or -errno. */
int sym_open_mapped_file(struct symbolizer *s, uint32_t pid, int rootfd,
			 const struct sym_process *p, const struct procmap *m);

/* sym_debug.c: separate debug files, found on disk or fetched from debuginfod */
enum debug_found { DEBUG_NONE, DEBUG_TRUSTED, DEBUG_IN_ROOT };
/* Add to e the debug file that completes it, if any: where it was found. */
enum debug_found sym_find_debug_file(struct symbolizer *s, struct elf_file *e, int rootfd,
				     const struct sym_process *p, const char *path,
				     uint64_t bin_size);

/* sym_python.c: CPython processes */
/* Forget what was read of the code objects of (pid, seq). */
void sym_python_forget(struct symbolizer *s, uint32_t pid, uint32_t seq);
void sym_python_free(struct symbolizer *s);

#endif
