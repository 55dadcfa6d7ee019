/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CPython code objects read from another process: the layouts of 3.10-3.13 (x86-64), the line
 * table decoders, a reader through a memory-read callback and a cache per (pid, code address).
 * Everything read from the target is outside input: every pointer and length is checked, every
 * read and loop bounded. The BPF side records (code address, instruction offset); this turns
 * them into qualified name, file and line.
 */
#ifndef SCORCH_PYTHON_H
#define SCORCH_PYTHON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Offsets in the target process, in bytes from the start of each object (LP64). */
struct py_layout {
	int major, minor;
	uint32_t ob_type; /* PyObject.ob_type */
	uint32_t tp_name; /* PyTypeObject.tp_name (const char *) */
	uint32_t co_name, co_qualname; /* co_qualname 0: none (3.10), co_name stands for it */
	uint32_t co_filename, co_firstlineno, co_linetable;
	uint32_t unicode_length; /* PyASCIIObject.length (Py_ssize_t, code points) */
	uint32_t unicode_state; /* PyASCIIObject.state (bit field in an unsigned int) */
	uint32_t unicode_ascii_data; /* sizeof(PyASCIIObject): data of a compact ASCII string */
	uint32_t unicode_compact_data; /* sizeof(PyCompactUnicodeObject): other compact strings */
	uint32_t state_ready; /* mask of the "ready" bit (3.10, 3.11), 0 when it does not exist */
	uint32_t bytes_size, bytes_data; /* PyBytesObject.ob_base.ob_size, ob_sval */

	/*
	 * The frame walk of the BPF program (bpf/profile.h, struct scorch_py_proc): how frames
	 * chain (SCORCH_PY_FRAMES_*: 1 3.10, 2 3.11, 3 3.12, 4 3.13) and the offsets it reads.
	 * PY_NO_FIELD where a version has no such field.
	 */
	uint32_t frames;
	uint32_t runtime_interp_head; /* _PyRuntimeState.interpreters.head */
	uint32_t interp_next, interp_threads_head; /* PyInterpreterState */
	uint32_t tstate_next, tstate_thread_id; /* PyThreadState; thread_id is pthread_self() */
	uint32_t tstate_interp; /* PyThreadState.interp: the interpreter it belongs to */
	uint32_t tstate_frame; /* frame (3.10), cframe (3.11, 3.12), current_frame (3.13) */
	uint32_t cframe_current_frame; /* _PyCFrame.current_frame (3.11, 3.12) */
	uint32_t frame_code, frame_previous, frame_instr; /* the frame struct of the version */
	uint32_t frame_entry; /* is_entry (3.11) or owner (3.12+) */
	uint32_t frame_size; /* bytes of the frame struct that hold these fields */
	uint32_t code_adaptive; /* PyCodeObject.co_code_adaptive (3.11+) */
	uint32_t owner_cstack; /* FRAME_OWNED_BY_CSTACK (3.12+) */
};

#define PY_NO_FIELD 0xffffu

/* The layout of CPython major.minor, or NULL when scorch does not know that version. */
const struct py_layout *py_layout__for_version(int major, int minor);

#define PY_DEBUG_OFFSETS_SIZE 584 /* the 3.13 _Py_DebugOffsets that scorch reads */
/*
 * 3.13 and later publish their offsets at the start of _PyRuntime (_Py_DebugOffsets, cookie
 * "xdebugpy", then PY_VERSION_HEX): the layout for those bytes read from the process, based
 * on base (the version's compiled-in layout) with every offset the struct gives taken from it.
 * 0; -EINVAL when the cookie, version or an offset is not what a 3.13 interpreter writes (an
 * offset past the bound its struct can have, or one the BPF program cannot read).
 */
int py_layout__from_debug_offsets(const struct py_layout *base, const uint8_t *buf, size_t len,
				  uint64_t version_hex, struct py_layout *ret);

/*
 * The line of the instruction at offset (in code units of 2 bytes, for every version: 3.10's
 * f_lasti and 3.11's instruction pointer minus the start of the code, halved) in a code
 * object's co_linetable table[0, len), for the version of layout's minor (10: PEP 626 pairs;
 * 11 and later: the location table). *ret_line is -1 when the instruction has no line (or is
 * past the table's end). 0, or -EINVAL for a malformed or truncated table or an unknown version.
 */
int py_line_for_offset(int minor, const uint8_t *table, size_t len, int firstlineno,
		       uint32_t offset, int *ret_line);

/* Read len bytes at addr of the target into buf: 0 or a negative errno (-EFAULT when unmapped). */
typedef int (*py_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

/* A py_read_fn over process_vm_readv(2); ctx points to the pid_t. A short read is -EFAULT. */
int py_read_process(void *ctx, uint64_t addr, void *buf, size_t len);

/*
 * Does the interpreter state at runtime (the address of _PyRuntime) hold together: its first
 * interpreter and that one's first thread state pointing back at it? 0 (also while they do not
 * exist yet: an interpreter starting up), -EINVAL, or the read's error.
 */
int py_runtime__check(const struct py_layout *l, py_read_fn read, void *ctx, uint64_t runtime);

#define PY_STR_MAX 1024 /* bytes of a decoded string with its NUL; longer ones end in "…" */
#define PY_LINETABLE_MAX (64 * 1024)

struct py_code_info {
	char qualname[PY_STR_MAX]; /* UTF-8; co_name before 3.11 */
	char name[PY_STR_MAX];
	char filename[PY_STR_MAX];
	int firstlineno;
	uint8_t *linetable; /* malloc'ed copy of co_linetable, freed by py_code_info__clear() */
	size_t linetable_len;
};

/*
 * Read the code object at code_addr. Strings must be compact str objects (ASCII, latin-1, UCS2,
 * UCS4), decoded to UTF-8. 0; -EINVAL when something read is not what a code object holds (null,
 * misaligned or kernel pointer, wrong type, negative or huge length); the read's error (-EFAULT,
 * -ESRCH); -ENOMEM. On error nothing is left to free.
 */
int py_code__read(const struct py_layout *l, py_read_fn read, void *ctx, uint64_t code_addr,
		  struct py_code_info *ret_info);
void py_code_info__clear(struct py_code_info *info);

struct py_frame {
	const char *qualname, *name, *filename; /* valid until the next call on the cache */
	int firstlineno;
	int line; /* -1: no line for that instruction */
};

struct py_code_cache_stats {
	uint64_t hits, misses;
	uint64_t stale; /* cached entries whose code object had changed (freed, address reused) */
	uint64_t evicted; /* entries dropped because the cache was full */
	uint64_t bad_table; /* resolutions whose line table was malformed (line -1) */
};

struct py_code_cache;

/* What the entries' strings and line tables may hold in all; more and the cache starts over. */
#define PY_CODE_CACHE_BYTES (64u << 20)

/*
 * A cache of at most max_entries code objects (0: 16384) and PY_CODE_CACHE_BYTES, keyed by
 * process, image generation (gen: a process after an exec, or a reused pid, is another) and
 * address. NULL with errno ENOMEM.
 */
struct py_code_cache *py_code_cache__new(size_t max_entries);
void py_code_cache__free(struct py_code_cache *c);
/* Forget a process image's entries (it exited or exec'ed). */
void py_code_cache__forget_pid(struct py_code_cache *c, pid_t pid, uint32_t gen);

/*
 * Name, file and line of code_addr at instr_offset (code units) in process pid. A cached entry
 * is used only after a read of the code object's fields shows it unchanged. 0 or an error of
 * py_code__read().
 */
int py_code_cache__resolve(struct py_code_cache *c, pid_t pid, uint32_t gen,
			   const struct py_layout *l, py_read_fn read, void *ctx,
			   uint64_t code_addr, uint32_t instr_offset, struct py_frame *ret_frame);
/*
 * The same from what the cache holds, without reading the target (a process gone, or a code
 * object checked earlier this round): 0, or -ENOENT when it was never read.
 */
int py_code_cache__lookup(struct py_code_cache *c, pid_t pid, uint32_t gen, uint64_t code_addr,
			  uint32_t instr_offset, struct py_frame *ret_frame);
void py_code_cache__stats(const struct py_code_cache *c, struct py_code_cache_stats *ret);

#endif
