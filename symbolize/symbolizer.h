/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The symbolizer: turns (process, pc) and kernel pcs into functions and mappings. Processes are
 * snapshotted while they live (their executable mappings and the ELF files behind them), so
 * samples of processes that exited before the capture ends still resolve. ELF files are read
 * through /proc/PID/map_files or /proc/PID/root, so other mount namespaces work, and cached by
 * device and inode.
 */
#ifndef SCORCH_SYMBOLIZER_H
#define SCORCH_SYMBOLIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct symbolizer;
struct elf_file;
struct py_layout;
struct py_frame;

struct symbolizer_opts {
	const char *proc_root; /* default "/proc" */
	const char *kallsyms; /* default "<proc_root>/kallsyms" */
	size_t max_files; /* ELF files cached; default 4096 */
	/*
	 * Where kernel symbols are kept between runs (valid for one boot and one set of loaded
	 * modules), or NULL to read /proc/kallsyms every time.
	 */
	const char *cache_dir;
	/* More roots searched for separate debug files, as --debug-dir gives them. */
	const char *const *debug_dirs;
	size_t ndebug_dirs;
	/*
	 * Read lines and inlined functions from separate debug files too, not only their symbols.
	 * Read a compilation unit at a time (dwarf_lazy.h): libc's adds ~3-5 MB and ~30 ms here.
	 */
	bool debug_file_dwarf;
	/*
	 * Memory for the symbol tables of all files read, together (their transient copies
	 * included); a file past it keeps bare addresses. Default 512 MiB.
	 */
	size_t max_symbol_bytes;
	/* Called once per problem worth telling the user (unreadable file, hidden kallsyms). */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
	/*
	 * Names a kernel address outside the core kernel and its modules (a JIT'ed BPF program)
	 * before the live /proc/kallsyms is read for it: 0 with the name in buf, or -ENOENT.
	 */
	int (*name_kernel)(void *ctx, uint64_t addr, char *buf, size_t size);
	void *name_kernel_ctx;
};

/* An executable mapping of a process, or a kernel image or module. */
struct sym_mapping {
	uint64_t start, end, offset;
	uint64_t dev, ino; /* of the file, as the maps line says; 0 for others */
	char *path; /* as /proc/PID/maps shows it; "[kernel.kallsyms]" or "[MODULE]" */
	const char *build_id; /* hex, or "" */
	struct elf_file *elf; /* NULL when the file could not be read */
	bool kernel;
};

#define SYM_MAX_LINES 16

/* One function at an address: the real one, or one inlined into it. */
struct sym_line {
	const char *function; /* for display: demangled */
	const char *system_name; /* as the symbol table or DWARF has it (mangled) */
	const char *file; /* source file of the line, or NULL */
	int line; /* the line executing in this function, 0 when unknown */
	const char *decl_file; /* where the function is declared, or NULL */
	int decl_line;
};

/* All strings are valid until symbolizer__free(). */
struct sym_frame {
	const char *function; /* the real (outermost) function, or NULL */
	const struct sym_mapping *mapping; /* NULL when no mapping covers the address */
	int nlines; /* 0 when nothing is known */
	struct sym_line lines[SYM_MAX_LINES]; /* innermost inlined function first */
};

struct symbolizer_stats {
	size_t processes, files_cached, files_unreadable, snapshots_failed;
	size_t live_processes; /* snapshots kept now */
	size_t debug_files; /* separate debug files found and used */
	size_t debuginfod_fetched, debuginfod_failed; /* debug files asked of debuginfod servers */
	size_t files_shared; /* files read again under another path, kept once by build-id */
	size_t inherited; /* forked processes given their parent's mappings */
	size_t mount_tables_read; /* mountinfo files read (others' mount tables were known) */
	size_t files_live; /* files in the cache now */
	size_t files_expired; /* dropped by symbolizer__expire() */
	size_t files_shrank; /* files found shrunk (truncated) while they were read */
	size_t symbol_bytes; /* held by the symbol tables of the files kept now */
	size_t symbols_over_budget; /* files left with bare addresses by max_symbol_bytes */
	/* DWARF read a compilation unit at a time (dwarf_lazy.h), over the files kept now */
	size_t dwarf_files, dwarf_units; /* files read so, units opened in them */
	uint64_t dwarf_inflated; /* bytes inflated out of their .debug_info and .debug_abbrev */
	uint64_t dwarf_cached_units; /* units of those read from the cache of earlier runs */
	size_t dwarf_bytes; /* held for them */
	bool kernel_from_cache; /* kernel symbols came from the cache */
	bool kernel_from_proc; /* kernel symbols were read from /proc/kallsyms */
	bool kernel_cache_saved; /* ... and saved to the cache */
	size_t python_processes; /* processes found running CPython */
	size_t python_unsupported; /* ... of a version scorch cannot walk */
	size_t python_image_gone; /* ... found running another program when checked (exec) */
	size_t python_code_read, python_code_failed; /* code objects read, and refused */
	size_t python_code_gone; /* ... of those refused, the process had exited (ESRCH) */
};

struct symbolizer *symbolizer__new(const struct symbolizer_opts *opts);
void symbolizer__free(struct symbolizer *s);

/* Read (or re-read) the mappings of a live process. 0, or -ESRCH if it is gone. */
int symbolizer__snapshot(struct symbolizer *s, uint32_t pid, uint32_t seq);
/*
 * (pid, seq) was forked from parent and has not exec'ed since: its code is the parent's. Its
 * snapshot, read late, may show the program it exec'ed since, or nothing (it is gone): the
 * parent's mappings fill in where the child's own do not reach. 0, -ESRCH (parent gone).
 */
int symbolizer__inherit(struct symbolizer *s, uint32_t pid, uint32_t seq, uint32_t parent);
/*
 * Give back the file pages touched so far: of the kernel symbol cache, and with files, of the
 * ELF, DWARF and CFI of every cached file (the unwinder soon faults its hot pages back in).
 */
void symbolizer__release_pages(struct symbolizer *s, bool files);
/*
 * Start a new round and forget the cached files no process has mapped for more than
 * idle_rounds rounds (their symbols, DWARF and unwind tables), so that a long run where
 * programs come and go stays flat; past their bound, demangled names and source paths too
 * (strings from earlier lookups become invalid). Returns how many files were dropped.
 */
size_t symbolizer__expire(struct symbolizer *s, unsigned int idle_rounds);
bool symbolizer__has_process(const struct symbolizer *s, uint32_t pid, uint32_t seq);
/*
 * For uploading a file: a descriptor of the file with this build-id that (pid, seq) maps,
 * opened through /proc/PID/map_files (the very file the process mapped, checked against the
 * maps line's device and inode), never by a path. fd, or -ENOENT (no such mapping), -ESRCH
 * (the process is gone), -ESTALE (not the same file), another -errno.
 */
int symbolizer__open_mapped(struct symbolizer *s, uint32_t pid, uint32_t seq, const char *build_id);
/*
 * True when the snapshot of (pid, seq) can name addr as well as a fresh one could: a mapping
 * covers it, and for JIT code (anonymous executable memory) the process's perf map is open.
 */
bool symbolizer__covers(const struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t addr);
/*
 * For the unwinder: the ELF file and its virtual address for the code at addr, 0; -ENODATA
 * for memory without an ELF file (JIT code), -ENOENT when no mapping covers addr.
 */
int symbolizer__code_at(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t addr,
			struct elf_file **ret_elf, uint64_t *ret_vaddr);
/*
 * The same for a whole mapping: the ELF file mapped at [start, end) from file offset 'offset',
 * for an unwinder that steps through many frames of one file (the code of addr in it is at
 * sym_code_mapping__vaddr()). What symbolizer__code_at() returns
 * for any address of the range is what this says of it, as long as the snapshot is kept.
 */
struct sym_code_mapping {
	uint64_t start, end, offset;
	struct elf_file *elf;
};
int symbolizer__code_mapping(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t addr,
			     struct sym_code_mapping *ret);
/* The virtual address in m->elf of the code at addr, which m covers: 0, or -ENOENT. */
int sym_code_mapping__vaddr(const struct sym_code_mapping *m, uint64_t addr, uint64_t *ret_vaddr);
/* Does every executable mapping of (pid, seq) have an ELF file that keeps frame pointers? */
bool symbolizer__keeps_frame_pointers(const struct symbolizer *s, uint32_t pid, uint32_t seq);
/*
 * The mapping of live process pid that holds addr (a thread's stack, for the bound of its
 * stack copies): 0, -ESRCH when the process is gone, -ENOENT when nothing is mapped there.
 */
int symbolizer__mapping_at(struct symbolizer *s, uint32_t pid, uint64_t addr, uint64_t *ret_lo,
			   uint64_t *ret_hi);

/*
 * The unwinder stopped at pc of (pid, seq) for want of usable call frame information: warns
 * once per file, naming it.
 */
void symbolizer__unwind_stopped(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t pc,
				const char *why);
/*
 * Ask the debuginfod servers of DEBUGINFOD_URLS for the debug files of every file seen so far
 * that lacks symbols (or DWARF, with debug_file_dwarf), each build-id once, within budget_s
 * seconds in all. Blocks: call it off the sampling path (before building a profile). Returns
 * the number of files that gained debug info; 0 when DEBUGINFOD_URLS is unset.
 */
size_t symbolizer__fetch_debuginfo(struct symbolizer *s, double budget_s);
/*
 * What the snapshot of (pid, seq) found about the process: its executable's path and its
 * cgroup (cgroup v2 path, or the first hierarchy's), each NULL when unknown. Valid until the
 * process is dropped.
 */
void symbolizer__process_info(const struct symbolizer *s, uint32_t pid, uint32_t seq,
			      const char **ret_exe, const char **ret_cgroup);
/* Forget a process (it exited and its samples are symbolized). */
void symbolizer__drop_process(struct symbolizer *s, uint32_t pid, uint32_t seq);

/*
 * Resolve an address: a return address must already be adjusted to pc - 1 by the caller.
 * Always fills ret (function and mapping may be NULL); returns 0 when a function was found.
 */
int symbolizer__resolve_user(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t addr,
			     struct sym_frame *ret);
int symbolizer__resolve_kernel(struct symbolizer *s, uint64_t addr, struct sym_frame *ret);

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *ret);
/*
 * Every file held now whose frames were unwound, with its frames by enum unwind_method
 * (unwind.h: CFI, frame pointers where it has none, Go's table).
 */
typedef void (*sym_unwound_fn)(void *ctx, const char *path, const uint64_t *counts);
void symbolizer__unwound_files(const struct symbolizer *s, sym_unwound_fn fn, void *ctx);

/* A CPython interpreter in a process. */
struct sym_python {
	int major, minor;
	uint64_t version_hex; /* PY_VERSION_HEX, or major.minor alone when read from a name */
	uint64_t runtime; /* address of _PyRuntime in the process */
	const struct py_layout *layout; /* NULL: a version scorch cannot walk */
};

/*
 * Is (pid, seq) running CPython: the executable or a library exporting _PyRuntime, the version
 * from Py_Version (3.11+) or the file's name (3.10). Found once per snapshot; a version scorch
 * does not know is warned about once per process. 0; -ENOENT (not Python), -ESRCH (no
 * snapshot).
 */
int symbolizer__python(struct symbolizer *s, uint32_t pid, uint32_t seq, struct sym_python *ret);
/* Are the Python frames of (pid, seq) to be named (a version walked, not found broken)? */
bool symbolizer__python_usable(struct symbolizer *s, uint32_t pid, uint32_t seq);
/*
 * A sample of (pid, seq) came with (frames) or without Python frames. A Python process whose
 * samples keep coming without any is checked again (its interpreter may have been starting up
 * at the snapshot, or only look like one): found broken, it is warned about and gets native
 * stacks alone. 0, or -EINVAL when it was found broken just now.
 */
int symbolizer__python_sampled(struct symbolizer *s, uint32_t pid, uint32_t seq, bool frames);
/*
 * Read the code object at code of the live process (pid, seq) into the cache, or check that the
 * one cached there is unchanged: a sample's code objects are read while the process runs.
 * 0 or a negative errno (the object is not a code object, the process is gone).
 */
int symbolizer__python_read(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t code);
/*
 * Name, file and line of the code object at code, instruction offset (code units), as read
 * before (or now, when it was not and the process still runs): 0, or a negative errno.
 * Strings valid until the next call on s.
 */
int symbolizer__python_frame(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t code,
			     uint32_t offset, struct py_frame *ret);

#endif
