// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * CPython processes in the symbolizer: finding the interpreter in a snapshot (which file exports
 * _PyRuntime, which version it is) and naming the code objects the BPF program recorded.
 * Everything read from the process is outside input, checked by python.c.
 */
#include "symbolizer-internal.h"
#include "python.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The version in a file name: python3.10, libpython3.10.so.1.0 (3.10 has no Py_Version). */
static int version_from_name(const char *path, int *ret_major, int *ret_minor)
{
	const char *base = strrchr(path, '/'), *v;
	int major, minor, n = 0;

	base = base ? base + 1 : path;
	v = strstr(base, "python");
	if (!v || sscanf(v, "python%d.%d%n", &major, &minor, &n) != 2 || !n || major != 3 ||
	    minor < 0 || minor > 99)
		return -ENOENT;
	*ret_major = major;
	*ret_minor = minor;
	return 0;
}

/* A Python process without interpreter frames, counted once per image. */
static void count_unsupported(struct symbolizer *s, struct sym_process *p)
{
	if (!p->py_counted_unsupported)
		s->stats.python_unsupported++;
	p->py_counted_unsupported = true;
}

/* The mapping of the file that exports _PyRuntime (and where it is, its file's addresses). */
static const struct sym_mapping *python_mapping(const struct sym_process *p, uint64_t *ret_rt,
						uint64_t *ret_ver, uint64_t *ret_bias)
{
	uint64_t vaddr;

	for (size_t i = 0; i < p->n; i++) {
		const struct sym_mapping *m = &p->maps[i];

		if (m->kernel || !m->elf || elf_file__python(m->elf, ret_rt, ret_ver))
			continue;
		if (elf_file__offset_to_vaddr(m->elf, m->offset, &vaddr) || vaddr > m->start)
			continue;
		*ret_bias = m->start - vaddr;
		return m;
	}
	return NULL;
}

/*
 * Something that only looks like Python, or a corrupted interpreter: native stacks and one
 * warning. -EINVAL when found so.
 */
static int check_runtime(struct symbolizer *s, uint32_t pid, struct sym_process *p)
{
	pid_t tpid = (pid_t)pid;
	int err = py_runtime__check(p->py.layout, py_read_process, &tpid, p->py.runtime);
	const struct sym_mapping *m;
	uint64_t rt = 0, ver = 0, bias = 0;

	if (!err || err == -ESRCH)
		return 0;
	/*
	 * A fork of a Python program that exec'ed another since its snapshot (as subprocess does)
	 * has no interpreter any more, and nothing wrong to be said of the one it had.
	 */
	m = python_mapping(p, &rt, &ver, &bias);
	if (!m || !sym_still_mapped(s, pid, m)) {
		p->py.layout = NULL;
		s->stats.python_image_gone++;
		return 0;
	}
	sym_warn_process(s, pid,
			 "python %d.%d: _PyRuntime holds no valid interpreter state%s%s: "
			 "interpreter frames off, native stacks only",
			 p->py.major, p->py.minor, err == -EINVAL ? "" : ", ",
			 err == -EINVAL ? "" : strerror(-err));
	p->py.layout = NULL;
	count_unsupported(s, p);
	return -EINVAL;
}

static void detect(struct symbolizer *s, uint32_t pid, struct sym_process *p)
{
	pid_t tpid = (pid_t)pid;
	struct sym_python py = { 0 };
	uint64_t rt = 0, ver = 0, bias = 0;
	const struct sym_mapping *m;
	uint32_t hex;

	p->py_checked = true;
	m = python_mapping(p, &rt, &ver, &bias);
	if (!rt || !m)
		return;
	p->py_found = true;
	if (!p->py_counted)
		s->stats.python_processes++;
	p->py_counted = true;
	py.runtime = bias + rt;
	if (ver && !py_read_process(&tpid, bias + ver, &hex, sizeof(hex))) {
		py.version_hex = hex;
		py.major = hex >> 24;
		py.minor = (hex >> 16) & 0xff;
	} else if (!version_from_name(m->path, &py.major, &py.minor)) {
		py.version_hex = (uint64_t)py.major << 24 | (uint64_t)py.minor << 16;
	}
	py.layout = py_layout__for_version(py.major, py.minor);
	if (py.layout && py.layout->frames == 4) {
		/* 3.13: the offsets the interpreter publishes win over the compiled-in ones */
		uint8_t buf[PY_DEBUG_OFFSETS_SIZE];

		p->py_layout = malloc(sizeof(*p->py_layout));
		if (!p->py_layout || py_read_process(&tpid, py.runtime, buf, sizeof(buf)) ||
		    py_layout__from_debug_offsets(py.layout, buf, sizeof(buf), py.version_hex,
						  p->py_layout)) {
			free(p->py_layout);
			p->py_layout = NULL;
			py.layout = NULL;
			sym_warn_process(
			    s, pid,
			    "python %d.%d: no readable _Py_DebugOffsets in _PyRuntime, "
			    "interpreter frames not supported",
			    py.major, py.minor);
		} else {
			py.layout = p->py_layout;
		}
	} else if (!py.layout) {
		if (py.major)
			sym_warn_process(s, pid, "python %d.%d: interpreter frames not supported",
					 py.major, py.minor);
		else
			sym_warn_process(s, pid,
					 "'%s' exports _PyRuntime but no version could be read: "
					 "interpreter frames not supported",
					 m->path);
	}
	p->py = py;
	if (py.layout && check_runtime(s, pid, p))
		return;
	if (!py.layout)
		count_unsupported(s, p);
}

int symbolizer__python(struct symbolizer *s, uint32_t pid, uint32_t seq, struct sym_python *ret)
{
	struct sym_process *p = (struct sym_process *)sym_get_process(s, pid, seq);

	if (!p)
		return -ESRCH;
	if (!p->py_checked)
		detect(s, pid, p);
	if (!p->py_found)
		return -ENOENT;
	*ret = p->py;
	return 0;
}

bool symbolizer__python_usable(struct symbolizer *s, uint32_t pid, uint32_t seq)
{
	struct sym_python py;

	return !symbolizer__python(s, pid, seq, &py) && py.layout;
}

/* Samples without Python frames after which a Python process is checked again. */
#define PY_RECHECK_AFTER 32

int symbolizer__python_sampled(struct symbolizer *s, uint32_t pid, uint32_t seq, bool frames)
{
	struct sym_process *p = (struct sym_process *)sym_get_process(s, pid, seq);

	if (!p || !p->py_found || !p->py.layout || p->py_seen || p->py_rechecked)
		return 0;
	if (frames) {
		p->py_seen = true;
		return 0;
	}
	if (++p->py_empty < PY_RECHECK_AFTER)
		return 0;
	p->py_rechecked = true;
	return check_runtime(s, pid, p);
}

int symbolizer__python_read(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t code)
{
	struct sym_python py;
	struct py_frame f;
	pid_t tpid = (pid_t)pid;
	int r = symbolizer__python(s, pid, seq, &py);

	if (r)
		return r;
	if (!py.layout)
		return -EOPNOTSUPP;
	if (!s->pycode) {
		s->pycode = py_code_cache__new(0);
		if (!s->pycode)
			return -ENOMEM;
	}
	r = py_code_cache__resolve(s->pycode, tpid, seq, py.layout, py_read_process, &tpid, code, 0,
				   &f);
	if (r)
		s->stats.python_code_failed++;
	if (r == -ESRCH)
		s->stats.python_code_gone++;
	else if (!r)
		s->stats.python_code_read++;
	return r;
}

int symbolizer__python_frame(struct symbolizer *s, uint32_t pid, uint32_t seq, uint64_t code,
			     uint32_t offset, struct py_frame *ret)
{
	int r = py_code_cache__lookup(s->pycode, (pid_t)pid, seq, code, offset, ret);

	/* not read while draining (the cache started over since): read it now if it still runs */
	if (r == -ENOENT && !symbolizer__python_read(s, pid, seq, code))
		r = py_code_cache__lookup(s->pycode, (pid_t)pid, seq, code, offset, ret);
	return r;
}

void sym_python_forget(struct symbolizer *s, uint32_t pid, uint32_t seq)
{
	py_code_cache__forget_pid(s->pycode, (pid_t)pid, seq);
}

void sym_python_free(struct symbolizer *s)
{
	py_code_cache__free(s->pycode);
	s->pycode = NULL;
}
