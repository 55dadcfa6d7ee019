// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The layout (Go's runtime/symtab.go, pcHeader and _func): a header of offsets into the table,
 * a function table of (entry offset, record offset) pairs sorted by entry, one record per
 * function with offsets of its name and of its pc-value tables, and the tables themselves:
 * varint-coded (value delta, pc delta) pairs starting from value -1 at the entry.
 */
#include "gopclntab.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC_GO118 0xfffffff0u
#define MAGIC_GO120 0xfffffff1u
#define MAGIC_GO116 0xfffffffau
#define MAGIC_GO12 0xfffffffbu

/* pcHeader of 1.18 and later, with 8-byte words */
#define HDR_NFUNC 8
#define HDR_TEXT_START 24
#define HDR_FUNCNAME 32
#define HDR_CU 40
#define HDR_FILETAB 48
#define HDR_PCTAB 56
#define HDR_FUNCTAB 64
#define HDR_SIZE 72

/* _func: offsets of the fields read */
#define FUNC_NAME 4
#define FUNC_PCSP 16
#define FUNC_PCFILE 20
#define FUNC_PCLN 24
#define FUNC_CU 32
#define FUNC_FLAG_GO118 37
#define FUNC_FLAG_GO120 41 /* 1.20 added startLine before funcID and flag */

#define FUNC_FLAG_TOPFRAME 0x1
#define FUNC_FLAG_SPWRITE 0x2

/* Steps through one pc-value table at most: a function of a million instructions is plenty. */
#define PCVALUE_MAX_STEPS (1u << 20)

struct gopclntab {
	const uint8_t *data;
	size_t len;
	uint32_t magic;
	uint64_t nfunc, text_start;
	uint64_t funcname, cu, filetab, pctab, functab;
	size_t flag_off;
};

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Is [off, off + n) inside the table? */
static bool in_table(const struct gopclntab *t, uint64_t off, uint64_t n)
{
	return off <= t->len && n <= t->len - off;
}

/* A NUL-terminated string at off, or NULL when it runs off the table. */
static const char *string_at(const struct gopclntab *t, uint64_t off)
{
	if (off >= t->len || !memchr(t->data + off, 0, t->len - off))
		return NULL;
	return (const char *)t->data + off;
}

int gopclntab__open(const void *data, size_t len, uint64_t text_vaddr, struct gopclntab **ret)
{
	const uint8_t *p = data;
	struct gopclntab *t;
	uint32_t magic;

	if (len < 8)
		return -EBADMSG;
	magic = rd32(p);
	if (magic == MAGIC_GO116 || magic == MAGIC_GO12)
		return -EPROTONOSUPPORT;
	if ((magic != MAGIC_GO118 && magic != MAGIC_GO120) || p[4] || p[5])
		return -EBADMSG;
	/* instruction size quantum 1 and 8-byte pointers: x86-64 */
	if (p[6] != 1 || p[7] != 8)
		return -EPROTONOSUPPORT;
	if (len < HDR_SIZE)
		return -EBADMSG;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->data = p;
	t->len = len;
	t->magic = magic;
	t->nfunc = rd64(p + HDR_NFUNC);
	t->text_start = rd64(p + HDR_TEXT_START) ? rd64(p + HDR_TEXT_START) : text_vaddr;
	t->funcname = rd64(p + HDR_FUNCNAME);
	t->cu = rd64(p + HDR_CU);
	t->filetab = rd64(p + HDR_FILETAB);
	t->pctab = rd64(p + HDR_PCTAB);
	t->functab = rd64(p + HDR_FUNCTAB);
	t->flag_off = magic == MAGIC_GO118 ? FUNC_FLAG_GO118 : FUNC_FLAG_GO120;
	/* the function table: nfunc + 1 pairs of 32-bit words, the last one the end of the text */
	if (!t->nfunc || t->nfunc > len / 8 || !in_table(t, t->functab, (t->nfunc + 1) * 8) ||
	    t->funcname >= len || t->pctab >= len || t->cu > len || t->filetab > len) {
		free(t);
		return -EBADMSG;
	}
	*ret = t;
	return 0;
}

void gopclntab__free(struct gopclntab *t)
{
	free(t);
}

const char *gopclntab__version(const struct gopclntab *t)
{
	return t->magic == MAGIC_GO118 ? "1.18" : "1.20";
}

size_t gopclntab__nfunc(const struct gopclntab *t)
{
	return t->nfunc;
}

static uint32_t entry_off(const struct gopclntab *t, uint64_t i)
{
	return rd32(t->data + t->functab + i * 8);
}

/* The entry offset of a record of the function table (8 bytes: entry, then the record's). */
static uint64_t functab_entry(const void *rec)
{
	return rd32(rec);
}

int gopclntab__func(const struct gopclntab *t, uint64_t vaddr, struct go_func *ret)
{
	uint64_t lo, off, rec;
	const uint8_t *f;

	if (vaddr < t->text_start || vaddr - t->text_start > UINT32_MAX)
		return -ENOENT;
	off = vaddr - t->text_start;
	/* the last function whose entry is at or below off */
	lo = upper_bound(t->data + t->functab, t->nfunc, 8, off, functab_entry);
	if (!lo || off >= entry_off(t, lo))
		return -ENOENT;
	lo--;
	rec = t->functab + (uint64_t)rd32(t->data + t->functab + lo * 8 + 4);
	if (!in_table(t, rec, t->flag_off + 1))
		return -ENOENT;
	f = t->data + rec;
	/* the record names the entry it belongs to: a cheap check that the tables agree */
	if (rd32(f) != entry_off(t, lo))
		return -ENOENT;
	ret->name = string_at(t, t->funcname + rd32(f + FUNC_NAME));
	if (!ret->name)
		return -ENOENT;
	ret->entry = t->text_start + entry_off(t, lo);
	ret->end = t->text_start + entry_off(t, lo + 1);
	ret->top_frame = f[t->flag_off] & FUNC_FLAG_TOPFRAME;
	ret->sp_write = f[t->flag_off] & FUNC_FLAG_SPWRITE;
	ret->pcsp = rd32(f + FUNC_PCSP);
	ret->pcfile = rd32(f + FUNC_PCFILE);
	ret->pcln = rd32(f + FUNC_PCLN);
	ret->cu = rd32(f + FUNC_CU);
	return 0;
}

/* An unsigned LEB128 of at most 32 bits at *pos, advancing it; false past the end. */
static bool read_uvarint(const struct gopclntab *t, uint64_t *pos, uint32_t *ret)
{
	uint32_t v = 0;

	for (unsigned int shift = 0; shift < 35; shift += 7) {
		uint8_t b;

		if (*pos >= t->len)
			return false;
		b = t->data[(*pos)++];
		v |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return true;
		}
	}
	return false;
}

/* The value of the pc-value table at table offset off for vaddr in fn. */
static int pcvalue(const struct gopclntab *t, const struct go_func *fn, uint32_t off,
		   uint64_t vaddr, int32_t *ret)
{
	uint64_t pos = t->pctab + off, pc = fn->entry;
	int32_t val = -1;

	if (!off)
		return -ENOENT;
	if (vaddr < fn->entry || vaddr >= fn->end)
		return -EBADMSG;
	for (uint32_t step = 0; step < PCVALUE_MAX_STEPS; step++) {
		uint32_t uv, pcdelta;

		if (!read_uvarint(t, &pos, &uv))
			return -EBADMSG;
		/* a zero value delta ends the table, except as the first step */
		if (!uv && step)
			return -EBADMSG;
		if (!read_uvarint(t, &pos, &pcdelta))
			return -EBADMSG;
		/* zig-zag: the low bit is the sign; sums wrap as Go's int32 does */
		val = (int32_t)((uint32_t)val + ((uv & 1) ? ~(uv >> 1) : uv >> 1));
		pc += pcdelta; /* quantum 1 */
		if (vaddr < pc) {
			*ret = val;
			return 0;
		}
	}
	return -EBADMSG;
}

int gopclntab__sp_delta(const struct gopclntab *t, const struct go_func *fn, uint64_t vaddr,
			int32_t *ret)
{
	int32_t v;
	int r = pcvalue(t, fn, fn->pcsp, vaddr, &v);

	if (r)
		return -EBADMSG;
	/* a frame below its entry, or larger than any goroutine stack, is corrupt */
	if (v < 0 || v > (1 << 30))
		return -EBADMSG;
	*ret = v;
	return 0;
}

int gopclntab__line(const struct gopclntab *t, const struct go_func *fn, uint64_t vaddr,
		    const char **ret_file, int32_t *ret_line)
{
	int32_t fileno, line;
	uint64_t cu_entry;
	uint32_t file_off;
	const char *file;
	int r;

	r = pcvalue(t, fn, fn->pcfile, vaddr, &fileno);
	if (!r)
		r = pcvalue(t, fn, fn->pcln, vaddr, &line);
	if (r)
		return r;
	if (fileno < 0 || line < 0)
		return -ENOENT;
	/* the unit's file list: 32-bit offsets into the file name table, ~0 for none */
	cu_entry = t->cu + 4 * ((uint64_t)fn->cu + (uint64_t)fileno);
	if (!in_table(t, cu_entry, 4))
		return -EBADMSG;
	file_off = rd32(t->data + cu_entry);
	if (file_off == UINT32_MAX)
		return -ENOENT;
	file = string_at(t, t->filetab + file_off);
	if (!file)
		return -EBADMSG;
	*ret_file = file;
	*ret_line = line;
	return 0;
}
