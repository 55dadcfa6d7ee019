// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * CPython code objects of another process: layouts, line tables, a bounded reader and a cache.
 * The offsets are facts taken from CPython's public headers (x86-64, default build, not the
 * free-threaded one); the decoders follow the formats the CPython tree documents.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "hashmap.h"
#include "python.h"
#include "util.h"

/*
 * Shared by every version: PyObject.ob_type (Include/object.h: after Py_ssize_t ob_refcnt),
 * PyTypeObject.tp_name (after PyObject_VAR_HEAD), PyASCIIObject.length and .state
 * (Include/cpython/unicodeobject.h: after PyObject_HEAD and Py_hash_t hash), PyBytesObject's
 * ob_size and ob_sval (Include/cpython/bytesobject.h: after PyObject_VAR_HEAD and Py_hash_t
 * ob_shash, which 3.11 deprecates but keeps).
 */
#define PY_OB_TYPE 8
#define PY_TP_NAME 24
#define PY_UNICODE_LENGTH 16
#define PY_UNICODE_STATE 32
#define PY_BYTES_SIZE 16
#define PY_BYTES_DATA 32

static const struct py_layout layouts[] = {
	{
	    /* v3.10.13, Include/cpython/code.h: struct PyCodeObject */
	    .major = 3,
	    .minor = 10,
	    .ob_type = PY_OB_TYPE,
	    .tp_name = PY_TP_NAME,
	    .co_firstlineno = 40, /* int, after PyObject_HEAD and six ints */
	    .co_filename = 104, /* PyObject *, after co_cell2arg */
	    .co_name = 112,
	    .co_qualname = 0, /* 3.10 has no co_qualname */
	    .co_linetable = 120, /* bytes, PEP 626 pairs (co_lnotab is computed from it) */
	    /* Include/cpython/unicodeobject.h: PyASCIIObject still carries wchar_t *wstr */
	    .unicode_length = PY_UNICODE_LENGTH,
	    .unicode_state = PY_UNICODE_STATE,
	    .unicode_ascii_data = 48, /* sizeof(PyASCIIObject) */
	    .unicode_compact_data = 72, /* sizeof(PyCompactUnicodeObject) */
	    .state_ready = 1u << 7, /* state.ready:1 after interned:2 kind:3 compact:1 ascii:1 */
	    .bytes_size = PY_BYTES_SIZE,
	    .bytes_data = PY_BYTES_DATA,
	    /* Include/internal/pycore_runtime.h, pycore_interp.h, cpython/pystate.h, cpython/frameobject.h of 3.10 */
	    .frames = 1,
	    .runtime_interp_head = 32,
	    .interp_next = 0,
	    .interp_threads_head = 8,
	    .tstate_next = 8,
	    .tstate_interp = 16, /* after prev and next, in every version */
	    .tstate_thread_id = 176,
	    .tstate_frame = 24,
	    .cframe_current_frame = PY_NO_FIELD,
	    .frame_code = 32,
	    .frame_previous = 24,
	    .frame_instr = 96,
	    .frame_entry = PY_NO_FIELD,
	    .frame_size = 100,
	    .code_adaptive = 0,
	    .owner_cstack = 0,
	},
	{
	    /* v3.11.7, Include/cpython/code.h: _PyCode_DEF(1) */
	    .major = 3,
	    .minor = 11,
	    .ob_type = PY_OB_TYPE,
	    .tp_name = PY_TP_NAME,
	    .co_firstlineno = 72, /* int: VAR_HEAD, 3 pointers, co_flags, 2 shorts, 4 ints */
	    .co_filename = 112,
	    .co_name = 120,
	    .co_qualname = 128,
	    .co_linetable = 136, /* bytes, the location table of Objects/locations.md */
	    .unicode_length = PY_UNICODE_LENGTH,
	    .unicode_state = PY_UNICODE_STATE,
	    .unicode_ascii_data = 48, /* sizeof(PyASCIIObject), wstr still there */
	    .unicode_compact_data = 72, /* sizeof(PyCompactUnicodeObject) */
	    .state_ready = 1u << 7,
	    .bytes_size = PY_BYTES_SIZE,
	    .bytes_data = PY_BYTES_DATA,
	    /* pycore_runtime.h, pycore_interp.h, cpython/pystate.h (_PyCFrame), pycore_frame.h of 3.11 */
	    .frames = 2,
	    .runtime_interp_head = 40,
	    .interp_next = 0,
	    .interp_threads_head = 16,
	    .tstate_next = 8,
	    .tstate_interp = 16, /* after prev and next, in every version */
	    .tstate_thread_id = 152,
	    .tstate_frame = 56,
	    .cframe_current_frame = 8,
	    .frame_code = 32,
	    .frame_previous = 48,
	    .frame_instr = 56,
	    .frame_entry = 68,
	    .frame_size = 72,
	    .code_adaptive = 184,
	    .owner_cstack = 0,
	},
	{
	    /* v3.12.1, Include/cpython/code.h: _PyCode_DEF(1) */
	    .major = 3,
	    .minor = 12,
	    .ob_type = PY_OB_TYPE,
	    .tp_name = PY_TP_NAME,
	    .co_firstlineno = 68, /* int, after co_stacksize (co_warmup is gone) */
	    .co_filename = 112,
	    .co_name = 120,
	    .co_qualname = 128,
	    .co_linetable = 136,
	    /* Include/cpython/unicodeobject.h: wstr and the ready bit are gone */
	    .unicode_length = PY_UNICODE_LENGTH,
	    .unicode_state = PY_UNICODE_STATE,
	    .unicode_ascii_data = 40, /* sizeof(PyASCIIObject) */
	    .unicode_compact_data = 56, /* sizeof(PyCompactUnicodeObject) */
	    .state_ready = 0,
	    .bytes_size = PY_BYTES_SIZE,
	    .bytes_data = PY_BYTES_DATA,
	    /* as 3.11; _PyInterpreterFrame reordered, entries are shim frames owned by the C stack */
	    .frames = 3,
	    .runtime_interp_head = 40,
	    .interp_next = 0,
	    .interp_threads_head = 72,
	    .tstate_next = 8,
	    .tstate_interp = 16, /* after prev and next, in every version */
	    .tstate_thread_id = 136,
	    .tstate_frame = 56,
	    .cframe_current_frame = 0,
	    .frame_code = 0,
	    .frame_previous = 8,
	    .frame_instr = 56,
	    .frame_entry = 70,
	    .frame_size = 72,
	    .code_adaptive = 192,
	    .owner_cstack = 3,
	},
	{
	    /* v3.13.0, Include/cpython/code.h: _PyCode_DEF(1), same head as 3.12 */
	    .major = 3,
	    .minor = 13,
	    .ob_type = PY_OB_TYPE,
	    .tp_name = PY_TP_NAME,
	    .co_firstlineno = 68,
	    .co_filename = 112,
	    .co_name = 120,
	    .co_qualname = 128,
	    .co_linetable = 136,
	    .unicode_length = PY_UNICODE_LENGTH,
	    .unicode_state = PY_UNICODE_STATE,
	    .unicode_ascii_data = 40,
	    .unicode_compact_data = 56,
	    .state_ready = 0,
	    .bytes_size = PY_BYTES_SIZE,
	    .bytes_data = PY_BYTES_DATA,
	    /* 3.13.0-3.13.5; a running 3.13 gives these in its _Py_DebugOffsets too */
	    .frames = 4,
	    .runtime_interp_head = 632,
	    .interp_next = 7264,
	    .interp_threads_head = 7344,
	    .tstate_next = 8,
	    .tstate_interp = 16, /* after prev and next, in every version */
	    .tstate_thread_id = 152,
	    .tstate_frame = 72,
	    .cframe_current_frame = PY_NO_FIELD,
	    .frame_code = 0,
	    .frame_previous = 8,
	    .frame_instr = 56,
	    .frame_entry = 70,
	    .frame_size = 72,
	    .code_adaptive = 200,
	    .owner_cstack = 3,
	},
};

const struct py_layout *py_layout__for_version(int major, int minor)
{
	for (size_t i = 0; i < ARRAY_SIZE(layouts); i++)
		if (layouts[i].major == major && layouts[i].minor == minor)
			return &layouts[i];
	return NULL;
}

/*
 * 3.13's _Py_DebugOffsets (Include/internal/pycore_runtime.h of 3.13): char cookie[8], uint64_t
 * version, uint64_t free_threaded, then sub-structs of uint64_t offsets. Byte positions of the
 * ones read, within the struct.
 */
enum {
	DBG_VERSION = 8,
	DBG_FREE_THREADED = 16,
	DBG_INTERPRETERS_HEAD = 40,
	DBG_INTERP_NEXT = 64,
	DBG_INTERP_THREADS_HEAD = 72,
	DBG_TSTATE_NEXT = 168,
	DBG_TSTATE_CURRENT_FRAME = 184,
	DBG_TSTATE_THREAD_ID = 192,
	DBG_FRAME_PREVIOUS = 232,
	DBG_FRAME_EXECUTABLE = 240,
	DBG_FRAME_INSTR_PTR = 248,
	DBG_FRAME_OWNER = 264,
	DBG_CODE_FILENAME = 280,
	DBG_CODE_NAME = 288,
	DBG_CODE_QUALNAME = 296,
	DBG_CODE_LINETABLE = 304,
	DBG_CODE_FIRSTLINENO = 312,
	DBG_CODE_ADAPTIVE = 344,
	DBG_OB_TYPE = 360,
	DBG_TP_NAME = 376,
};

/* Offsets beyond this are not a 3.13 struct's (its _PyRuntimeState is ~280 KB in all). */
#define DBG_OFFSET_MAX (1u << 19)
#define FRAME_READ_MAX 128 /* SCORCH_PY_FRAME_READ: what the BPF program reads of a frame */

static int dbg_field(const uint8_t *buf, size_t pos, uint32_t max, uint32_t *ret)
{
	uint64_t v;

	memcpy(&v, buf + pos, sizeof(v));
	if (v >= max)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int py_layout__from_debug_offsets(const struct py_layout *base, const uint8_t *buf, size_t len,
				  uint64_t version_hex, struct py_layout *ret)
{
	static const struct {
		uint16_t pos;
		uint16_t field; /* offsetof(struct py_layout, ...) */
		uint32_t max; /* the offset stays below */
		uint32_t align; /* and is a multiple of: what the BPF program and reader assume */
	} map[] = {
#define F(p, f, m, a) { p, offsetof(struct py_layout, f), m, a }
		F(DBG_INTERPRETERS_HEAD, runtime_interp_head, 0xffff, 8),
		F(DBG_INTERP_NEXT, interp_next, 0xffff, 8),
		F(DBG_INTERP_THREADS_HEAD, interp_threads_head, 0xffff, 8),
		F(DBG_TSTATE_NEXT, tstate_next, 0xffff, 8),
		F(DBG_TSTATE_CURRENT_FRAME, tstate_frame, 0xffff, 8),
		F(DBG_TSTATE_THREAD_ID, tstate_thread_id, 0xffff, 8),
		F(DBG_FRAME_PREVIOUS, frame_previous, FRAME_READ_MAX - 8, 8),
		F(DBG_FRAME_EXECUTABLE, frame_code, FRAME_READ_MAX - 8, 8),
		F(DBG_FRAME_INSTR_PTR, frame_instr, FRAME_READ_MAX - 8, 8),
		F(DBG_FRAME_OWNER, frame_entry, FRAME_READ_MAX - 1, 1),
		F(DBG_CODE_FILENAME, co_filename, 0xffff, 8),
		F(DBG_CODE_NAME, co_name, 0xffff, 8),
		F(DBG_CODE_QUALNAME, co_qualname, 0xffff, 8),
		F(DBG_CODE_LINETABLE, co_linetable, 0xffff, 8),
		F(DBG_CODE_FIRSTLINENO, co_firstlineno, 0xffff, 4),
		F(DBG_CODE_ADAPTIVE, code_adaptive, 0xffff, 1),
		/* PyObject_HEAD: the type after the reference count, in every build but one */
		F(DBG_OB_TYPE, ob_type, PY_OB_TYPE + 1, 8),
		F(DBG_TP_NAME, tp_name, 0xffff, 8),
#undef F
	};
	struct py_layout l;
	uint64_t version, free_threaded;
	uint32_t end = 0;

	if (!base || !buf || len < PY_DEBUG_OFFSETS_SIZE || memcmp(buf, "xdebugpy", 8))
		return -EINVAL;
	memcpy(&version, buf + DBG_VERSION, sizeof(version));
	memcpy(&free_threaded, buf + DBG_FREE_THREADED, sizeof(free_threaded));
	/* the struct is only stable within a minor version; the free-threaded build is another */
	if (version >> 16 != (uint64_t)(base->major << 8 | base->minor) ||
	    version >> 16 != version_hex >> 16 || free_threaded || base->frames != 4)
		return -EINVAL;
	l = *base;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		uint32_t *field = (uint32_t *)((char *)&l + map[i].field);

		if (dbg_field(buf, map[i].pos, map[i].max < DBG_OFFSET_MAX ? map[i].max : 0,
			      field) ||
		    *field % map[i].align)
			return -EINVAL;
	}
	end = l.frame_previous + 8;
	if (l.frame_code + 8 > end)
		end = l.frame_code + 8;
	if (l.frame_instr + 8 > end)
		end = l.frame_instr + 8;
	if (l.frame_entry + 1 > end)
		end = l.frame_entry + 1;
	l.frame_size = (end + 7) & ~7u; /* the struct is 8-aligned */
	*ret = l;
	return 0;
}

static bool is_object_ptr(uint64_t p);

int py_runtime__check(const struct py_layout *l, py_read_fn read, void *ctx, uint64_t runtime)
{
	uint64_t interp = 0, ts = 0, back = 0;
	int err;

	if (!l || !read || !is_object_ptr(runtime))
		return -EINVAL;
	err = read(ctx, runtime + l->runtime_interp_head, &interp, sizeof(interp));
	if (err || !interp)
		return err;
	if (!is_object_ptr(interp))
		return -EINVAL;
	err = read(ctx, interp + l->interp_threads_head, &ts, sizeof(ts));
	if (err || !ts)
		return err == -EFAULT ? -EINVAL : err;
	if (!is_object_ptr(ts))
		return -EINVAL;
	err = read(ctx, ts + l->tstate_interp, &back, sizeof(back));
	if (err)
		return err == -EFAULT ? -EINVAL : err;
	return back == interp ? 0 : -EINVAL;
}

/* ---- line tables ---- */

static int add_line(int64_t *line, int64_t delta)
{
	*line += delta;
	/* a delta per entry cannot move a real line number out of [0, INT_MAX] */
	return *line < 0 || *line > INT_MAX ? -EINVAL : 0;
}

/*
 * 3.10 (Objects/lnotab_notes.txt of 3.10): pairs of (unsigned byte count, signed line delta);
 * each pair covers the next byte count bytes of bytecode; a delta of -128 means no line.
 */
static int line_310(const uint8_t *t, size_t len, int first, uint64_t want, int *ret_line)
{
	uint64_t end = 0;
	int64_t line = first;

	if (len % 2)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 2) {
		uint64_t start = end;
		int8_t delta = (int8_t)t[i + 1];
		bool none = delta == -128;

		end += t[i];
		if (!none && add_line(&line, delta))
			return -EINVAL;
		if (want >= start && want < end) {
			*ret_line = none ? -1 : (int)line;
			return 0;
		}
	}
	*ret_line = -1;
	return 0;
}

/* A varint of the location table: 6-bit chunks, least significant first, 0x40 continues. */
static int read_varint(const uint8_t *t, size_t len, size_t *pos, uint64_t *ret)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift <= 30; shift += 6) {
		uint8_t b;

		if (*pos >= len)
			return -EINVAL;
		b = t[(*pos)++];
		if (b & 0x80) /* the first byte of the next entry: this one is cut */
			return -EINVAL;
		v |= (uint64_t)(b & 0x3f) << shift;
		if (!(b & 0x40)) {
			*ret = v;
			return 0;
		}
	}
	return -EINVAL; /* more than 36 bits: no line or column is that large */
}

static int read_svarint(const uint8_t *t, size_t len, size_t *pos, int64_t *ret)
{
	uint64_t v;
	int err = read_varint(t, len, pos, &v);

	if (err)
		return err;
	*ret = v & 1 ? -(int64_t)(v >> 1) : (int64_t)(v >> 1);
	return 0;
}

/* Skip n column bytes of a short or one-line form; they never have the entry bit. */
static int skip_bytes(const uint8_t *t, size_t len, size_t *pos, size_t n)
{
	if (len - *pos < n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (t[*pos + i] & 0x80)
			return -EINVAL;
	*pos += n;
	return 0;
}

/*
 * 3.11 and later (Objects/locations.md): entries starting with a byte 1cccclll, covering l + 1
 * code units, of kind c: 0-9 short forms (one column byte, same line), 10-12 one-line forms
 * (line + c - 10, two column bytes), 13 no columns (signed varint line delta), 14 long form
 * (signed line delta, then end line delta, column and end column varints), 15 no location.
 */
static int line_311(const uint8_t *t, size_t len, int first, uint64_t want, int *ret_line)
{
	uint64_t end = 0, skip;
	int64_t line = first, delta;
	size_t pos = 0;

	while (pos < len) {
		uint8_t b = t[pos++];
		unsigned code = (b >> 3) & 15;
		uint64_t start = end;
		int err = 0;

		if (!(b & 0x80))
			return -EINVAL;
		delta = 0;
		if (code <= 9)
			err = skip_bytes(t, len, &pos, 1);
		else if (code <= 12) {
			delta = code - 10;
			err = skip_bytes(t, len, &pos, 2);
		} else if (code == 13)
			err = read_svarint(t, len, &pos, &delta);
		else if (code == 14) {
			err = read_svarint(t, len, &pos, &delta);
			for (int i = 0; !err && i < 3; i++)
				err = read_varint(t, len, &pos, &skip);
		}
		if (err || add_line(&line, delta))
			return -EINVAL;
		end += (b & 7) + 1;
		if (want >= start && want < end) {
			*ret_line = code == 15 ? -1 : (int)line;
			return 0;
		}
	}
	*ret_line = -1;
	return 0;
}

int py_line_for_offset(int minor, const uint8_t *table, size_t len, int firstlineno,
		       uint32_t offset, int *ret_line)
{
	if ((!table && len) || firstlineno < 0)
		return -EINVAL;
	if (minor == 10)
		return line_310(table, len, firstlineno, (uint64_t)offset * 2, ret_line);
	if (minor >= 11 && minor <= 13)
		return line_311(table, len, firstlineno, offset, ret_line);
	return -EINVAL;
}

/* ---- reading the target ---- */

/*
 * Above this no user-space object lives (x86-64 with 5-level paging stops at 2^56; the common
 * 4-level layout at 2^47).
 */
#define USER_ADDR_END (1ULL << 56)
#define PY_READ_MAX (1024 * 1024)
/* No code object has a name or file of more code points than this; a bigger length is garbage. */
#define PY_STR_LEN_MAX (1 << 24)

int py_read_process(void *ctx, uint64_t addr, void *buf, size_t len)
{
	pid_t pid = *(const pid_t *)ctx;
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n;

	if (len > PY_READ_MAX || addr >= USER_ADDR_END || len > USER_ADDR_END - addr)
		return -EINVAL;
	if (!len)
		return 0;
	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT; /* the read crossed into an unmapped page */
}

/* A pointer to an object: non-null, 8-aligned (every allocator CPython uses), in user space. */
static bool is_object_ptr(uint64_t p)
{
	return p && !(p & 7) && p < USER_ADDR_END - 4096;
}

static int read_at(py_read_fn read, void *ctx, uint64_t addr, void *buf, size_t len)
{
	if (!addr || addr >= USER_ADDR_END || len > USER_ADDR_END - addr)
		return -EINVAL;
	return read(ctx, addr, buf, len);
}

static int read_u64(py_read_fn read, void *ctx, uint64_t addr, uint64_t *ret)
{
	return read_at(read, ctx, addr, ret, sizeof(*ret));
}

/* Whether the type object at type has tp_name exactly name. */
static int check_type(const struct py_layout *l, py_read_fn read, void *ctx, uint64_t type,
		      const char *name)
{
	char buf[16];
	size_t n = strlen(name) + 1;
	uint64_t tp_name;
	int err;

	if (!is_object_ptr(type))
		return -EINVAL;
	err = read_u64(read, ctx, type + l->tp_name, &tp_name);
	if (err)
		return err;
	/* read exactly the name and its NUL: a longer read could cross the end of a mapping */
	err = read_at(read, ctx, tp_name, buf, n);
	if (err)
		return err;
	return memcmp(buf, name, n) ? -EINVAL : 0;
}

/* Append code point c as UTF-8 to out at *pos; false when it does not fit below limit. */
static bool put_utf8(char *out, size_t *pos, size_t limit, uint32_t c)
{
	uint8_t b[4];
	size_t n;

	if (c == 0 || (c >= 0xd800 && c <= 0xdfff))
		c = 0xfffd; /* a NUL cuts a C string; a lone surrogate is not UTF-8 */
	if (c < 0x80) {
		b[0] = c;
		n = 1;
	} else if (c < 0x800) {
		b[0] = 0xc0 | c >> 6;
		b[1] = 0x80 | (c & 0x3f);
		n = 2;
	} else if (c < 0x10000) {
		b[0] = 0xe0 | c >> 12;
		b[1] = 0x80 | ((c >> 6) & 0x3f);
		b[2] = 0x80 | (c & 0x3f);
		n = 3;
	} else {
		b[0] = 0xf0 | c >> 18;
		b[1] = 0x80 | ((c >> 12) & 0x3f);
		b[2] = 0x80 | ((c >> 6) & 0x3f);
		b[3] = 0x80 | (c & 0x3f);
		n = 4;
	}
	if (*pos + n > limit)
		return false;
	memcpy(out + *pos, b, n);
	*pos += n;
	return true;
}

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026 */

/*
 * Decode the str object at addr into out[PY_STR_MAX]. Reads at most PY_STR_MAX - 1 code points
 * (each is at least one byte of UTF-8, so no more can fit); a cut string ends in an ellipsis.
 * When type is non-zero the object's type must be it, else *type is set to the checked one.
 */
static int read_str(const struct py_layout *l, py_read_fn read, void *ctx, uint64_t addr,
		    uint64_t *type, char *out)
{
	uint8_t head[64];
	_cleanup_free_ uint8_t *data = NULL;
	uint64_t ob_type;
	int64_t length;
	uint32_t state, kind, want;
	size_t pos = 0, cut = 0, size = l->unicode_state + sizeof(state);
	bool ascii, truncated;
	uint64_t data_addr;
	int err;

	/* every field read from head lies inside what is read */
	size = size > l->ob_type + 8 ? size : l->ob_type + 8;
	size = size > l->unicode_length + 8 ? size : l->unicode_length + 8;
	if (!is_object_ptr(addr) || size > sizeof(head))
		return -EINVAL;
	err = read_at(read, ctx, addr, head, size);
	if (err)
		return err;
	memcpy(&ob_type, head + l->ob_type, sizeof(ob_type));
	memcpy(&length, head + l->unicode_length, sizeof(length));
	memcpy(&state, head + l->unicode_state, sizeof(state));
	if (*type) {
		if (ob_type != *type)
			return -EINVAL;
	} else {
		err = check_type(l, read, ctx, ob_type, "str");
		if (err)
			return err;
		*type = ob_type;
	}
	kind = (state >> 2) & 7;
	ascii = state & (1u << 6);
	/* only compact (and, where the bit exists, ready) strings keep their data inline */
	if (!(state & (1u << 5)) || (l->state_ready && !(state & l->state_ready)))
		return -EINVAL;
	if ((kind != 1 && kind != 2 && kind != 4) || (ascii && kind != 1))
		return -EINVAL;
	if (length < 0 || length > PY_STR_LEN_MAX)
		return -EINVAL;

	want = length < PY_STR_MAX - 1 ? (uint32_t)length : PY_STR_MAX - 1;
	data_addr = addr + (ascii ? l->unicode_ascii_data : l->unicode_compact_data);
	data = malloc((size_t)want * kind + 1);
	if (!data)
		return -ENOMEM;
	err = read_at(read, ctx, data_addr, data, (size_t)want * kind);
	if (err)
		return err;

	truncated = want < length;
	for (uint32_t i = 0; i < want; i++) {
		uint32_t c;

		if (kind == 1)
			c = data[i];
		else if (kind == 2) {
			uint16_t u;

			memcpy(&u, data + 2 * i, 2);
			c = u;
		} else
			memcpy(&c, data + 4 * i, 4);
		if ((ascii && c >= 0x80) || c > 0x10ffff)
			return -EINVAL; /* not what the kind says: not a str */
		if (pos <= PY_STR_MAX - 1 - strlen(ELLIPSIS))
			cut = pos;
		if (!put_utf8(out, &pos, PY_STR_MAX - 1, c)) {
			truncated = true;
			break;
		}
	}
	if (truncated) {
		/* the last character boundary that leaves room for the ellipsis */
		if (pos > PY_STR_MAX - 1 - strlen(ELLIPSIS))
			pos = cut;
		memcpy(out + pos, ELLIPSIS, strlen(ELLIPSIS));
		pos += strlen(ELLIPSIS);
	}
	out[pos] = '\0';
	return 0;
}

/* The fields of a code object scorch uses, as pointers and numbers read from the target. */
struct code_head {
	uint64_t type, name, qualname, filename, linetable;
	int32_t firstlineno;
	int32_t pad; /* zero: the struct is compared with memcmp */
};

static int read_head(const struct py_layout *l, py_read_fn read, void *ctx, uint64_t addr,
		     struct code_head *ret)
{
	uint8_t buf[256];
	uint32_t end = l->co_linetable + 8;
	struct code_head h = { 0 };
	int err;

	if (!is_object_ptr(addr))
		return -EINVAL;
	end = end > l->co_filename + 8 ? end : l->co_filename + 8;
	end = end > l->co_name + 8 ? end : l->co_name + 8;
	end = end > l->co_qualname + 8 ? end : l->co_qualname + 8;
	end = end > l->co_firstlineno + 4 ? end : l->co_firstlineno + 4;
	end = end > l->ob_type + 8 ? end : l->ob_type + 8;
	if (end > sizeof(buf))
		return -EINVAL;
	err = read_at(read, ctx, addr, buf, end);
	if (err)
		return err;
	memcpy(&h.type, buf + l->ob_type, 8);
	memcpy(&h.name, buf + l->co_name, 8);
	if (l->co_qualname)
		memcpy(&h.qualname, buf + l->co_qualname, 8);
	memcpy(&h.filename, buf + l->co_filename, 8);
	memcpy(&h.linetable, buf + l->co_linetable, 8);
	memcpy(&h.firstlineno, buf + l->co_firstlineno, 4);
	if (!is_object_ptr(h.type) || !is_object_ptr(h.name) || !is_object_ptr(h.filename) ||
	    !is_object_ptr(h.linetable) || (l->co_qualname && !is_object_ptr(h.qualname)) ||
	    h.firstlineno < 0)
		return -EINVAL;
	*ret = h;
	return 0;
}

static int read_linetable(const struct py_layout *l, py_read_fn read, void *ctx, uint64_t addr,
			  uint8_t **ret, size_t *ret_len)
{
	_cleanup_free_ uint8_t *t = NULL;
	uint64_t type;
	int64_t size;
	int err;

	err = read_u64(read, ctx, addr + l->ob_type, &type);
	if (err)
		return err;
	err = check_type(l, read, ctx, type, "bytes");
	if (err)
		return err;
	err = read_at(read, ctx, addr + l->bytes_size, &size, sizeof(size));
	if (err)
		return err;
	if (size < 0 || size > PY_LINETABLE_MAX)
		return -EINVAL;
	t = malloc(size ? size : 1);
	if (!t)
		return -ENOMEM;
	err = read_at(read, ctx, addr + l->bytes_data, t, size);
	if (err)
		return err;
	*ret = TAKE_PTR(t);
	*ret_len = size;
	return 0;
}

static int read_code(const struct py_layout *l, py_read_fn read, void *ctx, uint64_t code_addr,
		     struct py_code_info *info, struct code_head *ret_head)
{
	struct code_head h;
	uint64_t str_type = 0;
	int err;

	if (!l || !read)
		return -EINVAL;
	err = read_head(l, read, ctx, code_addr, &h);
	if (err)
		return err;
	err = check_type(l, read, ctx, h.type, "code");
	if (err)
		return err;
	/* one type check for the three strings: they must share the str type */
	err = read_str(l, read, ctx, h.name, &str_type, info->name);
	if (!err && l->co_qualname)
		err = read_str(l, read, ctx, h.qualname, &str_type, info->qualname);
	else if (!err)
		memcpy(info->qualname, info->name, sizeof(info->qualname));
	if (!err)
		err = read_str(l, read, ctx, h.filename, &str_type, info->filename);
	if (!err)
		err = read_linetable(l, read, ctx, h.linetable, &info->linetable,
				     &info->linetable_len);
	if (err)
		return err;
	info->firstlineno = h.firstlineno;
	if (ret_head)
		*ret_head = h;
	return 0;
}

int py_code__read(const struct py_layout *l, py_read_fn read, void *ctx, uint64_t code_addr,
		  struct py_code_info *ret_info)
{
	_cleanup_free_ struct py_code_info *info = calloc(1, sizeof(*info));
	int err;

	if (!info)
		return -ENOMEM;
	err = read_code(l, read, ctx, code_addr, info, NULL);
	if (err)
		return err;
	*ret_info = *info;
	return 0;
}

void py_code_info__clear(struct py_code_info *info)
{
	if (!info)
		return;
	free(info->linetable);
	info->linetable = NULL;
	info->linetable_len = 0;
}

/* ---- the cache ---- */

struct cache_key {
	int32_t pid;
	uint32_t gen; /* the process image: after an exec (or a pid reused) another one */
	uint64_t addr;
};

struct cache_entry {
	struct py_layout
	    layout; /* a copy: a process's own (3.13) lives only as long as its snapshot */
	struct code_head head; /* what the object held when it was read: checked on each use */
	char *qualname, *name, *filename;
	int firstlineno;
	uint8_t *linetable;
	size_t linetable_len;
};

struct py_code_cache {
	struct hmap *map;
	size_t max_entries, max_bytes;
	size_t bytes; /* held by the entries' strings and line tables */
	struct py_code_cache_stats stats;
};

static size_t entry_bytes(const struct cache_entry *e)
{
	return sizeof(*e) + strlen(e->qualname) + strlen(e->name) + strlen(e->filename) + 3 +
	       e->linetable_len;
}

static void entry_free(struct cache_entry *e)
{
	if (!e)
		return;
	free(e->qualname);
	free(e->name);
	free(e->filename);
	free(e->linetable);
	free(e);
}

struct py_code_cache *py_code_cache__new(size_t max_entries)
{
	struct py_code_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->map = hmap__new();
	if (!c->map) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->max_entries = max_entries ? max_entries : 16384;
	c->max_bytes = PY_CODE_CACHE_BYTES;
	return c;
}

static void cache_clear(struct py_code_cache *c)
{
	size_t pos = 0, len;
	const void *key;
	void *value;

	while (hmap__next(c->map, &pos, &key, &len, &value))
		entry_free(value);
	hmap__free(c->map);
	c->map = NULL;
	c->bytes = 0;
}

void py_code_cache__free(struct py_code_cache *c)
{
	if (!c)
		return;
	cache_clear(c);
	free(c);
}

static void drop_entry(struct py_code_cache *c, const struct cache_key *key)
{
	struct cache_entry *e = hmap__remove(c->map, key, sizeof(*key));

	if (e)
		c->bytes -= entry_bytes(e);
	entry_free(e);
}

void py_code_cache__forget_pid(struct py_code_cache *c, pid_t pid, uint32_t gen)
{
	struct cache_key keys[64];
	size_t n;

	if (!c)
		return;
	/* removing while iterating is not allowed: collect keys in rounds */
	do {
		size_t pos = 0, len;
		const void *key;
		void *value;

		n = 0;
		while (n < ARRAY_SIZE(keys) && hmap__next(c->map, &pos, &key, &len, &value))
			if (((const struct cache_key *)key)->pid == pid &&
			    ((const struct cache_key *)key)->gen == gen)
				memcpy(&keys[n++], key, sizeof(keys[0]));
		for (size_t i = 0; i < n; i++)
			drop_entry(c, &keys[i]);
	} while (n == ARRAY_SIZE(keys));
}

static void fill_frame(const struct cache_entry *e, uint32_t instr_offset,
		       struct py_code_cache_stats *stats, struct py_frame *ret)
{
	int line;

	if (py_line_for_offset(e->layout.minor, e->linetable, e->linetable_len, e->firstlineno,
			       instr_offset, &line)) {
		stats->bad_table++;
		line = -1;
	}
	ret->qualname = e->qualname;
	ret->name = e->name;
	ret->filename = e->filename;
	ret->firstlineno = e->firstlineno;
	ret->line = line;
}

static struct cache_entry *entry_new(const struct py_layout *l, const struct py_code_info *info,
				     const struct code_head *head)
{
	struct cache_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->layout = *l;
	e->head = *head;
	e->qualname = strdup(info->qualname);
	e->name = strdup(info->name);
	e->filename = strdup(info->filename);
	e->firstlineno = info->firstlineno;
	e->linetable = info->linetable;
	e->linetable_len = info->linetable_len;
	if (!e->qualname || !e->name || !e->filename) {
		e->linetable = NULL; /* still the caller's */
		entry_free(e);
		return NULL;
	}
	return e;
}

int py_code_cache__resolve(struct py_code_cache *c, pid_t pid, uint32_t gen,
			   const struct py_layout *l, py_read_fn read, void *ctx,
			   uint64_t code_addr, uint32_t instr_offset, struct py_frame *ret_frame)
{
	struct cache_key key = { .pid = pid, .gen = gen, .addr = code_addr };
	_cleanup_free_ struct py_code_info *info = NULL;
	struct cache_entry *e;
	struct code_head head;
	int err;

	if (!c || !l || !read)
		return -EINVAL;
	e = hmap__get(c->map, &key, sizeof(key));
	if (e) {
		/* the object may have been freed and its address reused: compare what it holds */
		err = read_head(l, read, ctx, code_addr, &head);
		/* a process that is gone cannot have changed its objects: what was read stays */
		if ((!err && !memcmp(&e->layout, l, sizeof(*l)) &&
		     !memcmp(&head, &e->head, sizeof(head))) ||
		    err == -ESRCH) {
			c->stats.hits++;
			fill_frame(e, instr_offset, &c->stats, ret_frame);
			return 0;
		}
		c->stats.stale++;
		drop_entry(c, &key);
		if (err)
			return err;
	}
	c->stats.misses++;

	info = calloc(1, sizeof(*info));
	if (!info)
		return -ENOMEM;
	err = read_code(l, read, ctx, code_addr, info, &head);
	if (err)
		return err;
	e = entry_new(l, info, &head);
	if (!e) {
		py_code_info__clear(info);
		return -ENOMEM;
	}
	if (hmap__count(c->map) >= c->max_entries || c->bytes + entry_bytes(e) > c->max_bytes) {
		/* full: start over (cheaper than LRU bookkeeping; hot code objects come back) */
		struct hmap *fresh = hmap__new();

		if (!fresh) {
			entry_free(e);
			return -ENOMEM;
		}
		c->stats.evicted += hmap__count(c->map);
		cache_clear(c);
		c->map = fresh;
	}
	err = hmap__put(c->map, &key, sizeof(key), e);
	if (err) {
		entry_free(e);
		return err;
	}
	c->bytes += entry_bytes(e);
	fill_frame(e, instr_offset, &c->stats, ret_frame);
	return 0;
}

int py_code_cache__lookup(struct py_code_cache *c, pid_t pid, uint32_t gen, uint64_t code_addr,
			  uint32_t instr_offset, struct py_frame *ret_frame)
{
	struct cache_key key = { .pid = pid, .gen = gen, .addr = code_addr };
	struct cache_entry *e = c ? hmap__get(c->map, &key, sizeof(key)) : NULL;

	if (!e)
		return -ENOENT;
	fill_frame(e, instr_offset, &c->stats, ret_frame);
	return 0;
}

void py_code_cache__stats(const struct py_code_cache *c, struct py_code_cache_stats *ret)
{
	*ret = c->stats;
}
