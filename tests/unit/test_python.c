// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * CPython code objects: the line tables of real code objects (printed by the interpreters given
 * as arguments, /usr/bin/python3.11 in the suite) decoded to the lines the interpreter itself
 * reports, every truncation of them refused or answered within bounds (each prefix lives in a
 * buffer of its exact size, for ASan); a 3.10 table built by hand from lnotab_notes.txt; the
 * reader against a live python3.11 child; hostile objects through a fake memory; the cache.
 *
 * usage: test_python PY_TABLES_SCRIPT PYTHON3.11 [OTHER_PYTHON...]
 */
#include "check.h"
#include "fixture_proc.h"
#include "python.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- decoders on real tables ---- */

static int unhex(const char *s, uint8_t **ret, size_t *ret_len)
{
	size_t n = strlen(s) / 2;
	uint8_t *b = malloc(n ? n : 1);

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1) {
			free(b);
			return -EINVAL;
		}
		b[i] = v;
	}
	*ret = b;
	*ret_len = n;
	return 0;
}

static int tables_checked;

/* One "MINOR FIRSTLINENO HEX LINES" line of py_tables.py. */
static void check_table_line(char *text)
{
	char *minor_s = strtok(text, " "), *first_s = strtok(NULL, " ");
	char *hex = strtok(NULL, " "), *lines = strtok(NULL, " \n");
	int minor, first, got, *want = NULL;
	size_t len = 0, nwant = 0;
	uint8_t *table = NULL;

	CHECK(minor_s && first_s && hex && lines);
	if (!minor_s || !first_s || !hex || !lines)
		return;
	minor = atoi(minor_s);
	first = atoi(first_s);
	CHECK(py_layout__for_version(3, minor) != NULL);
	CHECK_INT(unhex(strcmp(hex, "-") ? hex : "", &table, &len), 0);
	for (char *p = strtok(lines, ","); p; p = strtok(NULL, ",")) {
		want = realloc(want, (nwant + 1) * sizeof(*want));
		want[nwant++] = atoi(p);
	}
	CHECK(nwant > 0);
	/* every instruction's line as the interpreter reports it */
	for (size_t i = 0; i < nwant; i++) {
		int rc = py_line_for_offset(minor, table, len, first, i, &got);

		CHECK_INT(rc, 0);
		if (rc == 0 && got != want[i]) {
			fprintf(stderr, "3.%d table at line %d, unit %zu: %d, python says %d\n",
				minor, first, i, got, want[i]);
			CHECK_INT(got, want[i]);
		}
	}
	CHECK_INT(py_line_for_offset(minor, table, len, first, nwant + 1000, &got), 0);
	CHECK_INT(got, -1);

	/*
	 * Every truncation: -EINVAL or a line, never a read past the prefix. A line given for an
	 * instruction whose entry is whole in the prefix is the true one; so the answer for a
	 * prefix either is right, is -1 (past its end) or is refused.
	 */
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *p = malloc(cut ? cut : 1);

		memcpy(p, table, cut);
		for (size_t i = 0; i < nwant; i++) {
			int rc = py_line_for_offset(minor, cut ? p : NULL, cut, first, i, &got);

			CHECK(rc == 0 || rc == -EINVAL);
			if (rc == 0 && got != want[i] && got != -1) {
				fprintf(stderr, "3.%d prefix %zu of %zu, unit %zu: %d, not %d\n",
					minor, cut, len, i, got, want[i]);
				CHECK_INT(got, want[i]);
			}
		}
		free(p);
	}
	tables_checked++;
	free(table);
	free(want);
}

static void test_real_tables(const char *script, const char *python)
{
	char cmd[PATH_MAX * 2 + 16], line[1 << 16];
	int before = tables_checked;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "'%s' '%s'", python, script);
	f = popen(cmd, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		CHECK(strchr(line, '\n') != NULL); /* not cut by the buffer */
		check_table_line(line);
	}
	CHECK_INT(pclose(f), 0);
	/* the script has ten code objects (nine from 3.12: comprehensions are inlined) */
	CHECK(tables_checked - before >= 9);
	printf("%s: %d real line tables\n", python, tables_checked - before);
}

/* 3.10, built by hand from Objects/lnotab_notes.txt of 3.10 (no 3.10 in Debian 12). */
static void test_310_by_hand(void)
{
	/*
	 * (bytes, line delta) pairs from line 5: bytes 0-5 line 6; 6-9 no line (-128);
	 * 10-263 line 6 (254 bytes, delta 0); 264-271 line 6 + 127 + 3 = 136 (a big delta is
	 * split: (0, 127) then (8, 3)); 272-275 line 136 - 130 = 6 as (0, -127), (4, -3).
	 */
	const uint8_t t[] = { 6, 1, 4, 0x80, 254, 0, 0, 127, 8, 3, 0, 0x81, 4, 0xfd };
	const struct {
		uint32_t unit;
		int line;
	} want[] = {
		{ 0, 6 },     { 2, 6 },	    { 3, -1 },	{ 4, -1 },  { 5, 6 },	 { 131, 6 },
		{ 132, 136 }, { 135, 136 }, { 136, 6 }, { 137, 6 }, { 138, -1 }, { 100000, -1 }
	};
	int got;

	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		CHECK_INT(py_line_for_offset(10, t, sizeof(t), 5, want[i].unit, &got), 0);
		CHECK_INT(got, want[i].line);
	}
	/* an odd length is a cut pair */
	CHECK_INT(py_line_for_offset(10, t, sizeof(t) - 1, 5, 0, &got), -EINVAL);
	/* a line pushed below 0 is not a line */
	CHECK_INT(py_line_for_offset(10, (const uint8_t[]){ 2, 0x81 }, 2, 5, 0, &got), -EINVAL);
	CHECK_INT(py_line_for_offset(9, t, sizeof(t), 5, 0, &got), -EINVAL);
	CHECK(py_layout__for_version(3, 9) == NULL);
	CHECK(py_layout__for_version(3, 14) == NULL);
	CHECK(py_layout__for_version(2, 7) == NULL);
}

/* Hostile location tables: cut varints, a missing entry bit, endless continuation bytes. */
static void test_311_malformed(void)
{
	int got;

	/* a long form whose varints never end */
	uint8_t endless[64] = { 0xf0 };

	memset(endless + 1, 0x7f, sizeof(endless) - 1);
	CHECK_INT(py_line_for_offset(11, endless, sizeof(endless), 1, 0, &got), -EINVAL);
	/* first byte without the entry bit */
	CHECK_INT(py_line_for_offset(11, (const uint8_t[]){ 0x00 }, 1, 1, 0, &got), -EINVAL);
	/* a short form whose column byte is missing */
	CHECK_INT(py_line_for_offset(11, (const uint8_t[]){ 0x80 }, 1, 1, 0, &got), -EINVAL);
	/* a no-location entry of 8 units, then nothing: -1 inside, -1 after */
	CHECK_INT(py_line_for_offset(11, (const uint8_t[]){ 0xff }, 1, 1, 3, &got), 0);
	CHECK_INT(got, -1);
	/* a line delta that leaves int: refused, not wrapped */
	CHECK_INT(py_line_for_offset(11, (const uint8_t[]){ 0xe8, 0x7e, 0x7f, 0x7f, 0x7f, 0x0f }, 6,
				     INT_MAX - 5, 0, &got),
		  -EINVAL);
	CHECK_INT(py_line_for_offset(11, NULL, 0, 1, 0, &got), 0);
	CHECK_INT(got, -1);
	CHECK_INT(py_line_for_offset(11, NULL, 4, 1, 0, &got), -EINVAL);
	CHECK_INT(py_line_for_offset(11, NULL, 0, -1, 0, &got), -EINVAL);
}

/* ---- the reader against a live python3.11 ---- */

/*
 * The child prints its minor version, then for each function its code object's address, its
 * strings in hex UTF-8, its first line and one instruction with its line; then it waits on
 * stdin. 3.10 has no co_qualname (co_name stands for it) and no co_positions (co_lines).
 */
static const char *child_src =
    "import signal, sys\n"
    "signal.alarm(120)\n"
    "class Outer:\n"
    "    def method(self):\n"
    "        x = 1\n"
    "        return x + 1\n"
    "def caf\u00e9():\n"
    "    pass\n"
    "def long_one():\n"
    "    pass\n"
    "c = long_one.__code__\n"
    "kw = 'co_qualname' if hasattr(c, 'co_qualname') else 'co_name'\n"
    "long_one.__code__ = c.replace(**{kw: 'q\u00e9' * 700})\n"
    "ns = {}\n"
    "exec(compile('def wide():\\n    pass\\n', '/tmp/\u6587\u4ef6\U0001f600.py', 'exec'), ns)\n"
    "def lines(c):\n"
    "    if hasattr(c, 'co_positions'):\n"
    "        return [p[0] for p in c.co_positions()]\n"
    "    out = [None] * (len(c.co_code) // 2)\n"
    "    for start, end, line in c.co_lines():\n"
    "        out[start // 2:end // 2] = [line] * (end // 2 - start // 2)\n"
    "    return out\n"
    "print(sys.version_info.minor, flush=True)\n"
    "for f in (Outer.method, caf\u00e9, long_one, ns['wide']):\n"
    "    c = f.__code__\n"
    "    pos = lines(c)\n"
    "    unit = max(i for i, l in enumerate(pos) if l is not None)\n"
    "    print(id(c), getattr(c, 'co_qualname', c.co_name).encode().hex(),\n"
    "          c.co_name.encode().hex(), c.co_filename.encode().hex(), c.co_firstlineno,\n"
    "          unit, pos[unit], flush=True)\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n";

/* A string as read equals the child's, or is its cut: a prefix, an ellipsis, within bounds. */
static void check_read_str(const char *got, const char *want)
{
	size_t n = strlen(got);

	if (strlen(want) < PY_STR_MAX) {
		CHECK_STR(got, want);
		return;
	}
	CHECK(n < PY_STR_MAX && n > PY_STR_MAX - 8);
	CHECK(n > 3 && !strcmp(got + n - 3, "\xe2\x80\xa6"));
	CHECK(!strncmp(got, want, n - 3));
}

struct child_code {
	unsigned long long addr;
	char qualname[4096], name[4096], filename[1024];
	int firstlineno, unit, line;
};

static bool unhex_str(const char *hex, char *out, size_t size)
{
	uint8_t *b;
	size_t n;

	if (unhex(hex, &b, &n) || n >= size)
		return false;
	memcpy(out, b, n);
	out[n] = '\0';
	free(b);
	return true;
}

static void test_live_child(const char *python)
{
	const struct py_layout *l = NULL;
	struct child_code codes[4];
	char *const argv[] = { (char *)python, "-c", (char *)child_src, NULL };
	int in = -1, ncodes = 0, status, minor = 0;
	char line[20000];
	FILE *f = NULL;
	pid_t pid;

	pid = fixture_start_argv(argv, &f, &in);
	CHECK(pid > 0);
	if (f && fgets(line, sizeof(line), f))
		minor = atoi(line);
	l = py_layout__for_version(3, minor);
	CHECK(l != NULL);
	if (!l)
		ncodes = (int)ARRAY_SIZE(codes); /* read nothing more */
	/* the child prints its lines and then waits on stdin: bounded by its lines and its alarm */
	while (f && fgets(line, sizeof(line), f)) {
		char q[8192], n[8192], fn[2048];
		struct child_code *c = &codes[ncodes];

		if (!strncmp(line, "ready", 5))
			break;
		if (ncodes == (int)ARRAY_SIZE(codes) ||
		    sscanf(line, "%llu %8191s %8191s %2047s %d %d %d", &c->addr, q, n, fn,
			   &c->firstlineno, &c->unit, &c->line) != 7) {
			CHECK(!"unexpected child line");
			break;
		}
		CHECK(unhex_str(q, c->qualname, sizeof(c->qualname)));
		CHECK(unhex_str(n, c->name, sizeof(c->name)));
		CHECK(unhex_str(fn, c->filename, sizeof(c->filename)));
		ncodes++;
	}
	CHECK_INT(ncodes, ARRAY_SIZE(codes));

	for (int i = 0; l && i < ncodes; i++) {
		struct child_code *c = &codes[i];
		struct py_code_info info;
		int got, rc = py_code__read(l, py_read_process, &pid, c->addr, &info);

		CHECK_INT(rc, 0);
		if (rc)
			continue;
		check_read_str(info.qualname, c->qualname);
		check_read_str(info.name, c->name);
		check_read_str(info.filename, c->filename);
		CHECK_INT(info.firstlineno, c->firstlineno);
		CHECK_INT(py_line_for_offset(minor, info.linetable, info.linetable_len,
					     info.firstlineno, c->unit, &got),
			  0);
		CHECK_INT(got, c->line);
		py_code_info__clear(&info);
	}
	printf("%s: %d live code objects read with the 3.%d layout\n", python, ncodes, minor);
	/* the child is the program we think */
	CHECK_STR(codes[0].qualname, minor >= 11 ? "Outer.method" : "method");

	/* the cache over the live process: a miss, then a hit after the validation read */
	struct py_code_cache *cache = py_code_cache__new(0);
	struct py_code_cache_stats st;
	struct py_frame fr;

	for (int round = 0; l && round < 2; round++) {
		CHECK_INT(py_code_cache__resolve(cache, pid, 0, l, py_read_process, &pid,
						 codes[0].addr, codes[0].unit, &fr),
			  0);
		CHECK_STR(fr.qualname, codes[0].qualname);
		CHECK_STR(fr.filename, codes[0].filename);
		CHECK_INT(fr.line, codes[0].line);
	}
	py_code_cache__stats(cache, &st);
	CHECK_INT(st.misses, !!l);
	CHECK_INT(st.hits, !!l);

	if (f)
		fclose(f);
	close(in); /* the child's stdin ends: it exits */
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/*
	 * Gone, the process cannot have changed its objects: what was read stays usable, by a
	 * resolve whose check read fails with ESRCH and by a lookup; what was not read is unknown.
	 */
	for (int i = 0; l && i < 2; i++) {
		memset(&fr, 0, sizeof(fr));
		CHECK_INT(
		    i ? py_code_cache__lookup(cache, pid, 0, codes[0].addr, codes[0].unit, &fr)
		      : py_code_cache__resolve(cache, pid, 0, l, py_read_process, &pid,
					       codes[0].addr, codes[0].unit, &fr),
		    0);
		CHECK_STR(fr.qualname ? fr.qualname : "", codes[0].qualname);
		CHECK_INT(fr.line, codes[0].line);
	}
	CHECK_INT(py_code_cache__resolve(cache, pid, 0, l, py_read_process, &pid, codes[1].addr,
					 codes[1].unit, &fr),
		  -ESRCH);
	CHECK_INT(py_code_cache__lookup(cache, pid, 0, codes[1].addr, codes[1].unit, &fr), -ENOENT);
	CHECK_INT(py_code_cache__lookup(cache, pid + 1, 0, codes[0].addr, codes[0].unit, &fr),
		  -ENOENT);
	py_code_cache__free(cache);

	/* the process is gone: a read fails with its errno, not a crash */
	struct py_code_info info;
	CHECK(py_code__read(l, py_read_process, &pid, codes[0].addr, &info) < 0);
	CHECK_INT(py_code__read(py_layout__for_version(3, 11), py_read_process, &pid, codes[0].addr,
				&info),
		  -ESRCH);
}

/* process_vm_readv over our own pages: a read that runs into an unmapped page is -EFAULT. */
static void test_read_process(void)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *m =
	    mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t self = getpid();
	uint8_t buf[64];

	CHECK(m != MAP_FAILED);
	if (m == MAP_FAILED)
		return;
	memset(m, 0xab, 2 * page);
	CHECK_INT(munmap(m + page, page), 0);
	CHECK_INT(py_read_process(&self, (uintptr_t)(m + page - 64), buf, 64), 0);
	CHECK(buf[0] == 0xab && buf[63] == 0xab);
	/* half of it mapped: a short read, refused */
	CHECK_INT(py_read_process(&self, (uintptr_t)(m + page - 32), buf, 64), -EFAULT);
	CHECK_INT(py_read_process(&self, (uintptr_t)(m + page), buf, 64), -EFAULT);
	CHECK_INT(py_read_process(&self, 0xffff888000000000ULL, buf, 64), -EINVAL);
	CHECK_INT(py_read_process(&self, (uintptr_t)m, NULL, 2 << 20), -EINVAL);
	munmap(m, page);
}

/* ---- hostile objects through a fake memory ---- */

#define FAKE_BASE 0x10000ULL
#define FAKE_SIZE (256 * 1024)

struct fake {
	uint8_t mem[FAKE_SIZE];
	int reads, fail_at; /* fail_at >= 0: the read with that index fails with -EFAULT */
	size_t max_len;
};

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct fake *f = ctx;

	if (len > f->max_len)
		f->max_len = len;
	if (f->fail_at >= 0 && f->reads++ == f->fail_at)
		return -EFAULT;
	if (addr < FAKE_BASE || addr - FAKE_BASE > FAKE_SIZE ||
	    len > FAKE_SIZE - (addr - FAKE_BASE))
		return -EFAULT;
	memcpy(buf, f->mem + (addr - FAKE_BASE), len);
	return 0;
}

static void *at(struct fake *f, uint64_t addr)
{
	return f->mem + (addr - FAKE_BASE);
}

static void set64f(struct fake *f, uint64_t addr, uint64_t v)
{
	memcpy(at(f, addr), &v, 8);
}

#define T_CODE 0x11000ULL
#define T_STR 0x11100ULL
#define T_BYTES 0x11200ULL
#define NAMES 0x11300ULL
#define CODE 0x12000ULL
#define S_NAME 0x13000ULL
#define S_QUAL 0x14000ULL
#define S_FILE 0x15000ULL
#define LT 0x16000ULL

/* A str object of kind (1, 2, 4) with n code points from cps, compact, ASCII when ascii. */
static void fake_str(struct fake *f, const struct py_layout *l, uint64_t addr, int kind, bool ascii,
		     const uint32_t *cps, size_t n)
{
	uint32_t state = (uint32_t)kind << 2 | 1u << 5 | (ascii ? 1u << 6 : 0) | l->state_ready;
	uint64_t data = addr + (ascii ? l->unicode_ascii_data : l->unicode_compact_data);

	set64f(f, addr + l->ob_type, T_STR);
	set64f(f, addr + l->unicode_length, n);
	memcpy(at(f, addr + l->unicode_state), &state, 4);
	for (size_t i = 0; i < n; i++) {
		uint16_t u = cps[i];

		if (kind == 1)
			*(uint8_t *)at(f, data + i) = cps[i];
		else if (kind == 2)
			memcpy(at(f, data + 2 * i), &u, 2);
		else
			memcpy(at(f, data + 4 * i), &cps[i], 4);
	}
}

static void fake_ascii(struct fake *f, const struct py_layout *l, uint64_t addr, const char *s)
{
	uint32_t cps[64];
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++)
		cps[i] = (uint8_t)s[i];
	fake_str(f, l, addr, 1, true, cps, n);
}

static const uint8_t fake_table[] = { 0x80, 0x00, 0xd8, 0x08, 0x09 }; /* +0, then +1 */

static void fake_code(struct fake *f, const struct py_layout *l)
{
	memset(f->mem, 0, sizeof(f->mem));
	f->fail_at = -1;
	f->reads = 0;
	f->max_len = 0;
	memcpy(at(f, NAMES), "code\0str\0bytes", 15);
	set64f(f, T_CODE + l->tp_name, NAMES);
	set64f(f, T_STR + l->tp_name, NAMES + 5);
	set64f(f, T_BYTES + l->tp_name, NAMES + 9);
	set64f(f, CODE + l->ob_type, T_CODE);
	set64f(f, CODE + l->co_name, S_NAME);
	if (l->co_qualname)
		set64f(f, CODE + l->co_qualname, S_QUAL);
	set64f(f, CODE + l->co_filename, S_FILE);
	set64f(f, CODE + l->co_linetable, LT);
	memcpy(at(f, CODE + l->co_firstlineno), &(int32_t){ 41 }, 4);
	fake_ascii(f, l, S_NAME, "method");
	fake_ascii(f, l, S_QUAL, "Outer.method");
	fake_ascii(f, l, S_FILE, "/srv/app.py");
	set64f(f, LT + l->ob_type, T_BYTES);
	set64f(f, LT + l->bytes_size, sizeof(fake_table));
	memcpy(at(f, LT + l->bytes_data), fake_table, sizeof(fake_table));
}

static int fake_read_code(struct fake *f, const struct py_layout *l)
{
	struct py_code_info info;
	int rc = py_code__read(l, fake_read, f, CODE, &info);

	if (rc == 0)
		py_code_info__clear(&info);
	return rc;
}

static void test_fake_good(const struct py_layout *l)
{
	static struct fake f;
	struct py_code_info info;
	int line;

	fake_code(&f, l);
	CHECK_INT(py_code__read(l, fake_read, &f, CODE, &info), 0);
	CHECK_STR(info.name, "method");
	CHECK_STR(info.qualname, l->co_qualname ? "Outer.method" : "method");
	CHECK_STR(info.filename, "/srv/app.py");
	CHECK_INT(info.firstlineno, 41);
	CHECK_INT(info.linetable_len, sizeof(fake_table));
	if (l->minor >= 11) {
		CHECK_INT(
		    py_line_for_offset(l->minor, info.linetable, info.linetable_len, 41, 1, &line),
		    0);
		CHECK_INT(line, 42);
	}
	py_code_info__clear(&info);

	/* latin-1, UCS2 and UCS4 decode to the UTF-8 of the same code points */
	fake_str(&f, l, S_NAME, 1, false, (const uint32_t[]){ 'c', 'a', 'f', 0xe9 }, 4);
	fake_str(&f, l, S_FILE, 2, false, (const uint32_t[]){ 0x6587, 0x4ef6, '/', 0xd800 }, 4);
	if (l->co_qualname)
		fake_str(&f, l, S_QUAL, 4, false, (const uint32_t[]){ 'x', 0x1f600, 0 }, 3);
	CHECK_INT(py_code__read(l, fake_read, &f, CODE, &info), 0);
	CHECK_STR(info.name, "caf\xc3\xa9");
	CHECK_STR(info.filename, "\xe6\x96\x87\xe4\xbb\xb6/\xef\xbf\xbd"); /* lone surrogate */
	if (l->co_qualname)
		CHECK_STR(info.qualname, "x\xf0\x9f\x98\x80\xef\xbf\xbd"); /* NUL replaced */
	py_code_info__clear(&info);
}

static void test_fake_hostile(const struct py_layout *l)
{
	static struct fake f;
	uint32_t bad_state = 0;
	int rc, total;

	/* pointers to nothing, misaligned, in the kernel, null */
	const uint64_t bad_ptrs[] = { 0, 0x13001, 0xffff888000000000ULL, 0x7fff00000000ULL, 8 };
	for (size_t i = 0; i < ARRAY_SIZE(bad_ptrs); i++) {
		fake_code(&f, l);
		set64f(&f, CODE + l->co_filename, bad_ptrs[i]);
		rc = fake_read_code(&f, l);
		CHECK(rc == -EINVAL || rc == -EFAULT);
		fake_code(&f, l);
		set64f(&f, CODE + l->co_linetable, bad_ptrs[i]);
		rc = fake_read_code(&f, l);
		CHECK(rc == -EINVAL || rc == -EFAULT);
	}
	CHECK_INT(py_code__read(l, fake_read, &f, 0, &(struct py_code_info){ 0 }), -EINVAL);
	CHECK_INT(py_code__read(l, fake_read, &f, CODE + 4, &(struct py_code_info){ 0 }), -EINVAL);

	/* a string of 2^40 code points, a negative one: refused before any data is read */
	fake_code(&f, l);
	set64f(&f, S_NAME + l->unicode_length, 1ULL << 40);
	CHECK_INT(fake_read_code(&f, l), -EINVAL);
	CHECK(f.max_len <= 4096);
	fake_code(&f, l);
	set64f(&f, S_FILE + l->unicode_length, (uint64_t)-5);
	CHECK_INT(fake_read_code(&f, l), -EINVAL);
	/* a long one is read only up to what fits, and cut */
	fake_code(&f, l);
	set64f(&f, S_FILE + l->unicode_length, 100000);
	CHECK_INT(fake_read_code(&f, l), 0);
	CHECK(f.max_len <= 4096);

	/* a line table of 2^40 bytes, of -1, of 64 KiB + 1 */
	const uint64_t sizes[] = { 1ULL << 40, (uint64_t)-1, PY_LINETABLE_MAX + 1 };
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		fake_code(&f, l);
		set64f(&f, LT + l->bytes_size, sizes[i]);
		CHECK_INT(fake_read_code(&f, l), -EINVAL);
		CHECK(f.max_len <= PY_LINETABLE_MAX);
	}

	/* objects of the wrong type: the code object, a string, the line table */
	fake_code(&f, l);
	set64f(&f, CODE + l->ob_type, T_STR);
	CHECK_INT(fake_read_code(&f, l), -EINVAL);
	fake_code(&f, l);
	set64f(&f, S_FILE + l->ob_type, T_BYTES); /* not the type name has */
	CHECK_INT(fake_read_code(&f, l), -EINVAL);
	fake_code(&f, l);
	set64f(&f, S_NAME + l->ob_type, T_BYTES);
	CHECK_INT(fake_read_code(&f, l), -EINVAL);
	fake_code(&f, l);
	set64f(&f, LT + l->ob_type, T_STR);
	CHECK_INT(fake_read_code(&f, l), -EINVAL);
	fake_code(&f, l);
	set64f(&f, T_CODE + l->tp_name, 0);
	CHECK_INT(fake_read_code(&f, l), -EINVAL);

	/* strings that are not compact, of kind 3, ASCII of kind 2, ASCII with a high byte */
	const uint32_t states[] = { 1u << 2, 3u << 2 | 1u << 5, 2u << 2 | 1u << 5 | 1u << 6 };
	for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
		fake_code(&f, l);
		bad_state = states[i] | l->state_ready;
		memcpy(at(&f, S_NAME + l->unicode_state), &bad_state, 4);
		CHECK_INT(fake_read_code(&f, l), -EINVAL);
	}
	fake_code(&f, l);
	*(uint8_t *)at(&f, S_FILE + l->unicode_ascii_data) = 0xe9;
	CHECK_INT(fake_read_code(&f, l), -EINVAL);
	fake_code(&f, l);
	fake_str(&f, l, S_FILE, 4, false, (const uint32_t[]){ 0x110000 }, 1);
	CHECK_INT(fake_read_code(&f, l), -EINVAL);
	if (l->state_ready) {
		fake_code(&f, l);
		bad_state = 1u << 2 | 1u << 5 | 1u << 6; /* not ready */
		memcpy(at(&f, S_NAME + l->unicode_state), &bad_state, 4);
		CHECK_INT(fake_read_code(&f, l), -EINVAL);
	}
	fake_code(&f, l);
	memcpy(at(&f, CODE + l->co_firstlineno), &(int32_t){ -3 }, 4);
	CHECK_INT(fake_read_code(&f, l), -EINVAL);

	/* a read that fails at each point in turn: its error, nothing leaked (ASan) */
	fake_code(&f, l);
	f.fail_at = INT_MAX;
	CHECK_INT(fake_read_code(&f, l), 0);
	total = f.reads;
	CHECK(total >= 6);
	for (int i = 0; i < total; i++) {
		fake_code(&f, l);
		f.fail_at = i;
		CHECK_INT(fake_read_code(&f, l), -EFAULT);
	}
}

static void test_cache(const struct py_layout *l)
{
	static struct fake f;
	struct py_code_cache *c = py_code_cache__new(2);
	struct py_code_cache_stats st;
	struct py_frame fr;

	fake_code(&f, l);
	CHECK(c != NULL);
	CHECK_INT(py_code_cache__resolve(c, 7, 0, l, fake_read, &f, CODE, 1, &fr), 0);
	CHECK_STR(fr.filename, "/srv/app.py");
	CHECK_INT(fr.firstlineno, 41);
	CHECK_INT(py_code_cache__resolve(c, 7, 0, l, fake_read, &f, CODE, 1, &fr), 0);
	py_code_cache__stats(c, &st);
	CHECK_INT(st.hits, 1);
	CHECK_INT(st.misses, 1);

	/* the object was freed and another code object took its address: not trusted */
	set64f(&f, CODE + l->co_filename, S_QUAL);
	memcpy(at(&f, CODE + l->co_firstlineno), &(int32_t){ 7 }, 4);
	CHECK_INT(py_code_cache__resolve(c, 7, 0, l, fake_read, &f, CODE, 0, &fr), 0);
	CHECK_STR(fr.filename, "Outer.method"); /* the str at S_QUAL */
	CHECK_INT(fr.firstlineno, 7);
	py_code_cache__stats(c, &st);
	CHECK_INT(st.stale, 1);
	CHECK_INT(st.misses, 2);

	/* now it is garbage: an error, and the stale entry is gone */
	set64f(&f, CODE + l->co_name, 0x3);
	CHECK_INT(py_code_cache__resolve(c, 7, 0, l, fake_read, &f, CODE, 0, &fr), -EINVAL);
	fake_code(&f, l);

	/* the same address in other processes is another entry; the third one evicts */
	for (pid_t pid = 1; pid <= 3; pid++)
		CHECK_INT(py_code_cache__resolve(c, pid, 0, l, fake_read, &f, CODE, 0, &fr), 0);
	py_code_cache__stats(c, &st);
	CHECK_INT(st.evicted, 2);
	CHECK_INT(py_code_cache__resolve(c, 3, 0, l, fake_read, &f, CODE, 0, &fr), 0);
	py_code_cache__stats(c, &st);
	CHECK_INT(st.hits, 2);
	py_code_cache__forget_pid(c, 3, 0);
	CHECK_INT(py_code_cache__resolve(c, 3, 0, l, fake_read, &f, CODE, 0, &fr), 0);
	py_code_cache__stats(c, &st);
	CHECK_INT(st.hits, 2); /* forgotten: read again */

	/* another image of the same pid (an exec, a reused pid) is another entry */
	py_code_cache__stats(c, &st);
	{
		uint64_t misses = st.misses;

		CHECK_INT(py_code_cache__resolve(c, 3, 1, l, fake_read, &f, CODE, 0, &fr), 0);
		py_code_cache__stats(c, &st);
		CHECK_INT(st.misses, misses + 1);
		py_code_cache__forget_pid(c, 3, 0);
		CHECK_INT(py_code_cache__lookup(c, 3, 1, CODE, 0, &fr), 0);
		CHECK_INT(py_code_cache__lookup(c, 3, 0, CODE, 0, &fr), -ENOENT);
	}

	/* the layout is copied: the caller's may go away (a 3.13 process's own, read again) */
	{
		struct py_layout *copy = malloc(sizeof(*copy));

		CHECK(copy != NULL);
		if (copy) {
			*copy = *l;
			CHECK_INT(
			    py_code_cache__resolve(c, 11, 0, copy, fake_read, &f, CODE, 1, &fr), 0);
			free(copy);
			CHECK_INT(py_code_cache__lookup(c, 11, 0, CODE, 1, &fr), 0);
			CHECK_STR(fr.name, "method");
		}
	}

	/* a malformed line table still names the function; the line is -1 and counted */
	set64f(&f, LT + l->bytes_data, 0x01);
	set64f(&f, LT + l->bytes_size, 1);
	CHECK_INT(py_code_cache__resolve(c, 9, 0, l, fake_read, &f, CODE, 0, &fr), 0);
	CHECK_INT(fr.line, -1);
	CHECK_STR(fr.name, "method");
	py_code_cache__stats(c, &st);
	CHECK(st.bad_table >= 1);
	py_code_cache__free(c);
	py_code_cache__free(NULL);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s PY_TABLES_SCRIPT PYTHON3.11 [PYTHON...]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	for (int i = 2; i < argc; i++)
		test_real_tables(argv[1], argv[i]);
	test_310_by_hand();
	test_311_malformed();
	test_read_process();
	for (int i = 2; i < argc; i++)
		test_live_child(argv[i]);
	for (int minor = 10; minor <= 13; minor++) {
		test_fake_good(py_layout__for_version(3, minor));
		test_fake_hostile(py_layout__for_version(3, minor));
		test_cache(py_layout__for_version(3, minor));
	}
	return check_done("python");
}
