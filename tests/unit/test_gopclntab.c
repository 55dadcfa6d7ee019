// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Go's function table: tables built here in both layouts (Go 1.18-1.19 and 1.20+) with known
 * functions, frame sizes and lines; older and foreign layouts refused; every truncation and
 * every single corrupted byte of a table read without a crash and never past its end (the
 * ASan build checks that: the table lives in a buffer of its exact size).
 */
#include "check.h"
#include "gopclntab.h"

#include <errno.h>
#include <stdlib.h>

#define TEXT 0x401000ULL

struct buf {
	uint8_t b[4096];
	size_t n;
};

static size_t put(struct buf *b, const void *p, size_t n)
{
	size_t at = b->n;

	memcpy(b->b + b->n, p, n);
	b->n += n;
	return at;
}

static void put32(struct buf *b, uint32_t v)
{
	put(b, &v, 4);
}

static void set64(struct buf *b, size_t at, uint64_t v)
{
	memcpy(b->b + at, &v, 8);
}

/* A uvarint, as the pc-value tables code both halves of each step. */
static void uvarint(struct buf *b, uint32_t v)
{
	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		if (v)
			c |= 0x80;
		put(b, &c, 1);
	} while (v);
}

/* One step of a pc-value table: value delta (zig-zag), then pc delta. */
static void step(struct buf *b, int32_t vdelta, uint32_t pcdelta)
{
	uvarint(b, vdelta < 0 ? ((uint32_t)(-vdelta) << 1) - 1 : (uint32_t)vdelta << 1);
	uvarint(b, pcdelta);
}

struct fn {
	const char *name;
	uint32_t entry, size;
	uint8_t flag;
};

/*
 * main.work at +0x0 (0x40 bytes): frame 0 for 4 bytes, 24 until +0x30, then 0 again; lines 10
 * then 12 in a.go. runtime.goexit at +0x40 (top frame), runtime.systemstack at +0x50 (writes
 * sp, its frame sizes known for its first half only); both: frame 0, line 7 of b.s.
 */
static const struct fn fns[] = {
	{ "main.work", 0x0, 0x40, 0 },
	{ "runtime.goexit", 0x40, 0x10, 0x1 },
	{ "runtime.systemstack", 0x50, 0x20, 0x2 },
};
#define NFUNC (sizeof(fns) / sizeof(fns[0]))

static size_t build(struct buf *b, uint32_t magic, bool go120)
{
	size_t names[NFUNC], pcsp[NFUNC], pcfile[NFUNC], pcln[NFUNC], rec[NFUNC];
	size_t funcname, cu, filetab, pctab, functab, file_b;
	const uint8_t zero = 0;
	uint32_t off;

	memset(b, 0, sizeof(*b));
	put32(b, magic);
	put(b, (uint8_t[]){ 0, 0, 1, 8 }, 4);
	b->n = 72;
	set64(b, 8, NFUNC);
	set64(b, 16, 2);
	set64(b, 24, TEXT);
	funcname = b->n;
	put(b, &zero, 1);
	for (size_t i = 0; i < NFUNC; i++)
		names[i] = put(b, fns[i].name, strlen(fns[i].name) + 1) - funcname;
	filetab = b->n;
	put(b, "a.go", 5);
	file_b = put(b, "b.s", 4) - filetab;
	while (b->n % 4)
		put(b, &zero, 1);
	cu = b->n;
	put32(b, 0); /* unit 0: a.go */
	put32(b, file_b); /* unit 1: b.s */
	pctab = b->n;
	put(b, &zero, 1); /* offset 0 is "no table" */
	for (size_t i = 0; i < NFUNC; i++) {
		pcsp[i] = b->n - pctab;
		if (i == 0) {
			step(b, 1, 4); /* -1 -> 0 */
			step(b, 24, 0x2c);
			step(b, -24, 0x10);
		} else if (i == 2) {
			step(b, 1, 0x10); /* covers half of the function: the rest is unknown */
		} else {
			step(b, 1, fns[i].size);
		}
		put(b, &zero, 1);
		pcfile[i] = b->n - pctab;
		step(b, 1, fns[i].size); /* file 0 of the unit */
		put(b, &zero, 1);
		pcln[i] = b->n - pctab;
		if (i == 0) {
			step(b, 11, 0x10); /* -1 -> 10 */
			step(b, 2, 0x30);
		} else {
			step(b, 8, fns[i].size);
		}
		put(b, &zero, 1);
	}
	while (b->n % 8)
		put(b, &zero, 1);
	functab = b->n;
	b->n += (NFUNC + 1) * 8;
	for (size_t i = 0; i < NFUNC; i++) {
		uint8_t r[44] = { 0 };
		uint32_t v[9] = { fns[i].entry,	 names[i], 0, 0, pcsp[i], pcfile[i], pcln[i], 0,
				  i == 0 ? 0 : 1 };

		memcpy(r, v, sizeof(v));
		r[go120 ? 41 : 37] = fns[i].flag;
		rec[i] = put(b, r, go120 ? 44 : 40);
		off = rec[i] - functab;
		memcpy(b->b + functab + i * 8, &fns[i].entry, 4);
		memcpy(b->b + functab + i * 8 + 4, &off, 4);
	}
	{
		uint32_t end = fns[NFUNC - 1].entry + fns[NFUNC - 1].size;

		memcpy(b->b + functab + NFUNC * 8, &end, 4);
	}
	set64(b, 32, funcname);
	set64(b, 40, cu);
	set64(b, 48, filetab);
	set64(b, 56, pctab);
	set64(b, 64, functab);
	return b->n;
}

/* The table in a heap block of exactly its size, so that any read past it is caught. */
static int open_exact(const uint8_t *data, size_t len, uint8_t **ret_copy, struct gopclntab **ret)
{
	*ret_copy = malloc(len ? len : 1);
	memcpy(*ret_copy, data, len);
	return gopclntab__open(*ret_copy, len, 0, ret);
}

static void check_layout(uint32_t magic, bool go120, const char *version)
{
	struct buf b;
	size_t len = build(&b, magic, go120);
	struct gopclntab *t = NULL;
	struct go_func fn;
	const char *file;
	int32_t v, line;
	uint8_t *copy;

	CHECK_INT(open_exact(b.b, len, &copy, &t), 0);
	if (!t) {
		free(copy);
		return;
	}
	CHECK_STR(gopclntab__version(t), version);
	CHECK_INT(gopclntab__nfunc(t), NFUNC);
	/* lookups at the edges of each function */
	CHECK_INT(gopclntab__func(t, TEXT - 1, &fn), -ENOENT);
	CHECK_INT(gopclntab__func(t, TEXT, &fn), 0);
	CHECK_STR(fn.name, "main.work");
	CHECK_INT(fn.entry, TEXT);
	CHECK_INT(fn.end, TEXT + 0x40);
	CHECK(!fn.top_frame && !fn.sp_write);
	CHECK_INT(gopclntab__func(t, TEXT + 0x3f, &fn), 0);
	CHECK_STR(fn.name, "main.work");
	CHECK_INT(gopclntab__func(t, TEXT + 0x40, &fn), 0);
	CHECK_STR(fn.name, "runtime.goexit");
	CHECK(fn.top_frame && !fn.sp_write);
	CHECK_INT(gopclntab__func(t, TEXT + 0x6f, &fn), 0);
	CHECK_STR(fn.name, "runtime.systemstack");
	CHECK(!fn.top_frame && fn.sp_write);
	CHECK_INT(gopclntab__func(t, TEXT + 0x70, &fn), -ENOENT);

	/* frame sizes: 0 in the prologue, 24 in the body, 0 after the epilogue */
	CHECK_INT(gopclntab__func(t, TEXT, &fn), 0);
	CHECK_INT(gopclntab__sp_delta(t, &fn, TEXT, &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(gopclntab__sp_delta(t, &fn, TEXT + 3, &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(gopclntab__sp_delta(t, &fn, TEXT + 4, &v), 0);
	CHECK_INT(v, 24);
	CHECK_INT(gopclntab__sp_delta(t, &fn, TEXT + 0x2f, &v), 0);
	CHECK_INT(v, 24);
	CHECK_INT(gopclntab__sp_delta(t, &fn, TEXT + 0x30, &v), 0);
	CHECK_INT(v, 0);
	/* an address outside the function is refused, not decoded */
	CHECK_INT(gopclntab__sp_delta(t, &fn, TEXT + 0x40, &v), -EBADMSG);

	/* lines and files, per compilation unit */
	CHECK_INT(gopclntab__line(t, &fn, TEXT + 0xf, &file, &line), 0);
	CHECK_STR(file, "a.go");
	CHECK_INT(line, 10);
	CHECK_INT(gopclntab__line(t, &fn, TEXT + 0x10, &file, &line), 0);
	CHECK_INT(line, 12);
	CHECK_INT(gopclntab__func(t, TEXT + 0x55, &fn), 0);
	CHECK_INT(gopclntab__line(t, &fn, TEXT + 0x55, &file, &line), 0);
	CHECK_STR(file, "b.s");
	CHECK_INT(line, 7);
	/* a table that ends before the function does: no value past its end */
	CHECK_INT(gopclntab__func(t, TEXT + 0x50, &fn), 0);
	CHECK_INT(gopclntab__sp_delta(t, &fn, TEXT + 0x5f, &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(gopclntab__sp_delta(t, &fn, TEXT + 0x60, &v), -EBADMSG);
	gopclntab__free(t);
	free(copy);

	/* text start from the section when the header leaves it to a relocation (PIE) */
	set64(&b, 24, 0);
	CHECK_INT(gopclntab__open(b.b, len, 0x555000, &t), 0);
	if (t) {
		CHECK_INT(gopclntab__func(t, 0x555040, &fn), 0);
		CHECK_STR(fn.name, "runtime.goexit");
		gopclntab__free(t);
	}
}

/* Every prefix, and every byte changed, of a valid table: no crash, no read past it. */
static void check_corrupt(void)
{
	struct buf b;
	size_t len = build(&b, 0xfffffff0u, false);
	size_t opened = 0;

	for (size_t cut = 0; cut <= len; cut++) {
		/* every byte of short prefixes, every seventh of the longer ones */
		int stride = cut > 200 ? 7 : 1;

		for (int flip = -1; flip < (int)cut; flip += stride) {
			struct gopclntab *t = NULL;
			struct go_func fn;
			uint8_t *copy;
			const char *file;
			int32_t v, line;

			if (flip >= 0)
				b.b[flip] ^= 0x5a;
			if (open_exact(b.b, cut, &copy, &t) == 0) {
				opened++;
				for (uint64_t a = TEXT - 1; a < TEXT + 0x72; a += 3) {
					if (gopclntab__func(t, a, &fn))
						continue;
					CHECK(fn.name >= (const char *)copy &&
					      fn.name < (const char *)copy + cut);
					gopclntab__sp_delta(t, &fn, a, &v);
					if (gopclntab__line(t, &fn, a, &file, &line) == 0)
						CHECK(file >= (const char *)copy &&
						      file < (const char *)copy + cut);
				}
				gopclntab__free(t);
			}
			free(copy);
			if (flip >= 0)
				b.b[flip] ^= 0x5a;
		}
	}
	CHECK(opened > 0);
}

/* The tables built here, as seeds for the fuzzer (test_gopclntab --seeds DIR). */
static int write_seeds(const char *dir)
{
	struct buf b;
	char path[4096];
	FILE *f;

	for (int go120 = 0; go120 < 2; go120++) {
		size_t len = build(&b, go120 ? 0xfffffff1u : 0xfffffff0u, go120);

		snprintf(path, sizeof(path), "%s/seed-go%s", dir, go120 ? "120" : "118");
		f = fopen(path, "wb");
		if (!f || fwrite(b.b, 1, len, f) != len || fclose(f))
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct gopclntab *t = NULL;
	struct buf b;
	size_t len;

	if (argc == 3 && !strcmp(argv[1], "--seeds"))
		return write_seeds(argv[2]);

	check_layout(0xfffffff0u, false, "1.18");
	check_layout(0xfffffff1u, true, "1.20");

	/* older layouts and other architectures are said to be unsupported, not misread */
	len = build(&b, 0xfffffffau, false);
	CHECK_INT(gopclntab__open(b.b, len, 0, &t), -EPROTONOSUPPORT);
	len = build(&b, 0xfffffffbu, false);
	CHECK_INT(gopclntab__open(b.b, len, 0, &t), -EPROTONOSUPPORT);
	len = build(&b, 0xfffffff0u, false);
	b.b[7] = 4; /* 32-bit pointers */
	CHECK_INT(gopclntab__open(b.b, len, 0, &t), -EPROTONOSUPPORT);
	CHECK_INT(gopclntab__open("not a table at all", 18, 0, &t), -EBADMSG);
	CHECK_INT(gopclntab__open(b.b, 4, 0, &t), -EBADMSG);

	check_corrupt();
	return check_done("test_gopclntab");
}
