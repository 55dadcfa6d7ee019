// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The CPython 3.11 layout scorch walks (symbolize/python.c) against the interpreter's own
 * headers, as Debian's python3.11-dev installs them: every offset the BPF program and the
 * code-object reader use is offsetof() of the real struct. Also the 3.13 _Py_DebugOffsets
 * parser over a struct as a 3.13 interpreter writes it, and every corruption of it.
 */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_runtime.h>

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "check.h"
#include "python.h"

static void test_311_against_headers(void)
{
	const struct py_layout *l = py_layout__for_version(3, 11);

	CHECK(l != NULL);
	if (!l)
		return;
	CHECK_INT(PY_VERSION_HEX >> 16, 0x030b);
	CHECK_INT(l->frames, 2);
	CHECK_INT(l->runtime_interp_head, offsetof(_PyRuntimeState, interpreters.head));
	CHECK_INT(l->interp_next, offsetof(PyInterpreterState, next));
	CHECK_INT(l->interp_threads_head, offsetof(PyInterpreterState, threads.head));
	CHECK_INT(l->tstate_next, offsetof(PyThreadState, next));
	CHECK_INT(l->tstate_interp, offsetof(PyThreadState, interp));
	CHECK_INT(l->tstate_thread_id, offsetof(PyThreadState, thread_id));
	CHECK_INT(l->tstate_frame, offsetof(PyThreadState, cframe));
	CHECK_INT(l->cframe_current_frame, offsetof(_PyCFrame, current_frame));
	CHECK_INT(l->frame_code, offsetof(_PyInterpreterFrame, f_code));
	CHECK_INT(l->frame_previous, offsetof(_PyInterpreterFrame, previous));
	CHECK_INT(l->frame_instr, offsetof(_PyInterpreterFrame, prev_instr));
	CHECK_INT(l->frame_entry, offsetof(_PyInterpreterFrame, is_entry));
	CHECK(l->frame_size >= offsetof(_PyInterpreterFrame, is_entry) + 1);
	CHECK(l->frame_size <= sizeof(_PyInterpreterFrame));
	CHECK_INT(l->code_adaptive, offsetof(PyCodeObject, co_code_adaptive));
	/* and the code-object reader's */
	CHECK_INT(l->co_name, offsetof(PyCodeObject, co_name));
	CHECK_INT(l->co_qualname, offsetof(PyCodeObject, co_qualname));
	CHECK_INT(l->co_filename, offsetof(PyCodeObject, co_filename));
	CHECK_INT(l->co_firstlineno, offsetof(PyCodeObject, co_firstlineno));
	CHECK_INT(l->co_linetable, offsetof(PyCodeObject, co_linetable));
	CHECK_INT(l->ob_type, offsetof(PyObject, ob_type));
	CHECK_INT(l->tp_name, offsetof(PyTypeObject, tp_name));
	CHECK_INT(l->unicode_ascii_data, sizeof(PyASCIIObject));
	CHECK_INT(l->unicode_compact_data, sizeof(PyCompactUnicodeObject));
	CHECK_INT(l->bytes_data, offsetof(PyBytesObject, ob_sval));
}

/* A _Py_DebugOffsets as 3.13.0-3.13.5 fill it (the numbers of python.c's 3.13 layout). */
static void put64(uint8_t *buf, size_t pos, uint64_t v)
{
	memcpy(buf + pos, &v, sizeof(v));
}

static void debug_offsets_313(uint8_t *buf, const struct py_layout *l)
{
	memset(buf, 0, PY_DEBUG_OFFSETS_SIZE);
	memcpy(buf, "xdebugpy", 8);
	put64(buf, 8, 0x030d05f0);
	put64(buf, 40, l->runtime_interp_head);
	put64(buf, 64, l->interp_next);
	put64(buf, 72, l->interp_threads_head);
	put64(buf, 168, l->tstate_next);
	put64(buf, 184, l->tstate_frame);
	put64(buf, 192, l->tstate_thread_id);
	put64(buf, 232, l->frame_previous);
	put64(buf, 240, l->frame_code);
	put64(buf, 248, l->frame_instr);
	put64(buf, 264, l->frame_entry);
	put64(buf, 280, l->co_filename);
	put64(buf, 288, l->co_name);
	put64(buf, 296, l->co_qualname);
	put64(buf, 304, l->co_linetable);
	put64(buf, 312, l->co_firstlineno);
	put64(buf, 344, l->code_adaptive);
	put64(buf, 360, l->ob_type);
	put64(buf, 376, l->tp_name);
}

static void test_debug_offsets(void)
{
	const struct py_layout *l13 = py_layout__for_version(3, 13);
	uint8_t buf[PY_DEBUG_OFFSETS_SIZE], bad[PY_DEBUG_OFFSETS_SIZE];
	struct py_layout out;

	CHECK(l13 != NULL);
	if (!l13)
		return;
	debug_offsets_313(buf, l13);
	CHECK_INT(py_layout__from_debug_offsets(l13, buf, sizeof(buf), 0x030d05f0, &out), 0);
	CHECK(!memcmp(&out, l13, sizeof(out)));

	/* what the interpreter says wins: a moved field moves the layout */
	memcpy(bad, buf, sizeof(bad));
	put64(bad, 192, 160);
	put64(bad, 248, 64);
	CHECK_INT(py_layout__from_debug_offsets(l13, bad, sizeof(bad), 0x030d05f0, &out), 0);
	CHECK_INT(out.tstate_thread_id, 160);
	CHECK_INT(out.frame_instr, 64);
	CHECK_INT(out.frame_size, 72);

	/* refused: each truncation, the cookie, another minor version, free-threaded, huge offsets */
	for (size_t len = 0; len < sizeof(buf); len++)
		CHECK_INT(py_layout__from_debug_offsets(l13, buf, len, 0x030d05f0, &out), -EINVAL);
	memcpy(bad, buf, sizeof(bad));
	bad[0] = 'X';
	CHECK_INT(py_layout__from_debug_offsets(l13, bad, sizeof(bad), 0x030d05f0, &out), -EINVAL);
	memcpy(bad, buf, sizeof(bad));
	put64(bad, 8, 0x030e00f0);
	CHECK_INT(py_layout__from_debug_offsets(l13, bad, sizeof(bad), 0x030d05f0, &out), -EINVAL);
	CHECK_INT(py_layout__from_debug_offsets(l13, buf, sizeof(buf), 0x030c00f0, &out), -EINVAL);
	memcpy(bad, buf, sizeof(bad));
	put64(bad, 16, 1);
	CHECK_INT(py_layout__from_debug_offsets(l13, bad, sizeof(bad), 0x030d05f0, &out), -EINVAL);
	for (size_t pos = 40; pos < 384; pos += 8) {
		memcpy(bad, buf, sizeof(bad));
		put64(bad, pos, 1ULL << 40);
		/* every field read refuses a huge value; the others are not read */
		if (py_layout__from_debug_offsets(l13, bad, sizeof(bad), 0x030d05f0, &out) == 0)
			CHECK(!memcmp(&out, l13, sizeof(out)));
	}
	memcpy(bad, buf, sizeof(bad));
	put64(bad, 240, 200); /* past what the BPF program reads of a frame */
	CHECK_INT(py_layout__from_debug_offsets(l13, bad, sizeof(bad), 0x030d05f0, &out), -EINVAL);
	/* only the 3.13 layout takes debug offsets */
	CHECK_INT(py_layout__from_debug_offsets(py_layout__for_version(3, 11), buf, sizeof(buf),
						0x030d05f0, &out),
		  -EINVAL);
}

/* A fake address space: [MEM_BASE, MEM_BASE + sizeof(mem)) reads from mem, the rest faults. */
#define MEM_BASE 0x10000000ULL
static uint8_t mem[16384];

static int mem_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	if (addr < MEM_BASE || addr - MEM_BASE > sizeof(mem) ||
	    len > sizeof(mem) - (addr - MEM_BASE))
		return -EFAULT;
	memcpy(buf, mem + (addr - MEM_BASE), len);
	return 0;
}

static void put_ptr(uint64_t at, uint64_t v)
{
	memcpy(mem + (at - MEM_BASE), &v, sizeof(v));
}

static void test_runtime_check(void)
{
	const uint64_t rt = MEM_BASE, interp = MEM_BASE + 1024, ts = MEM_BASE + 12288;

	for (int minor = 10; minor <= 13; minor++) {
		const struct py_layout *l = py_layout__for_version(3, minor);

		CHECK(l != NULL);
		if (!l)
			continue;
		memset(mem, 0, sizeof(mem));
		/* starting up: no interpreter yet, then no thread yet */
		CHECK_INT(py_runtime__check(l, mem_read, NULL, rt), 0);
		put_ptr(rt + l->runtime_interp_head, interp);
		CHECK_INT(py_runtime__check(l, mem_read, NULL, rt), 0);
		/* a thread state pointing back at its interpreter */
		put_ptr(interp + l->interp_threads_head, ts);
		put_ptr(ts + l->tstate_interp, interp);
		CHECK_INT(py_runtime__check(l, mem_read, NULL, rt), 0);
		/* not pointing back, pointers into nowhere or not pointers */
		put_ptr(ts + l->tstate_interp, interp + 8);
		CHECK_INT(py_runtime__check(l, mem_read, NULL, rt), -EINVAL);
		put_ptr(ts + l->tstate_interp, interp);
		put_ptr(interp + l->interp_threads_head, 0x7f0000000000ULL);
		CHECK_INT(py_runtime__check(l, mem_read, NULL, rt), -EINVAL);
		put_ptr(interp + l->interp_threads_head, 0x4141414141414141ULL);
		CHECK_INT(py_runtime__check(l, mem_read, NULL, rt), -EINVAL);
		put_ptr(rt + l->runtime_interp_head, interp + 3);
		CHECK_INT(py_runtime__check(l, mem_read, NULL, rt), -EINVAL);
		/* the runtime itself unreadable: the read's error */
		CHECK_INT(py_runtime__check(l, mem_read, NULL, 0x20000000ULL), -EFAULT);
	}
	CHECK_INT(py_runtime__check(NULL, mem_read, NULL, rt), -EINVAL);
}

int main(void)
{
	test_311_against_headers();
	test_debug_offsets();
	test_runtime_check();
	return check_done("python_layout");
}
