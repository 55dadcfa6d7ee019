/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Go's own function table (.gopclntab): every Go binary carries it, stripped or not, because the
 * runtime needs it for tracebacks and the garbage collector. It gives each function's name, its
 * stack frame size at each pc (so a stack can be unwound without CFI or frame pointers) and file
 * and line. Layouts of Go 1.18-1.19 and 1.20 and later (64-bit little-endian) are read; the
 * table is outside input, so every offset is checked against its length.
 */
#ifndef SCORCH_GOPCLNTAB_H
#define SCORCH_GOPCLNTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gopclntab;

/*
 * Read the table in data[0, len) (not copied: it must outlive the table). text_vaddr is the
 * address of the .text section, used when the header does not say where the text starts (a
 * position-independent binary, whose header is relocated at run time). 0, -EBADMSG (not a table
 * or inconsistent), -EPROTONOSUPPORT (a layout of an older Go), -ENOMEM.
 */
int gopclntab__open(const void *data, size_t len, uint64_t text_vaddr, struct gopclntab **ret);
void gopclntab__free(struct gopclntab *t);
/* The Go version family of the layout, e.g. "1.18" or "1.20". */
const char *gopclntab__version(const struct gopclntab *t);
size_t gopclntab__nfunc(const struct gopclntab *t);

struct go_func {
	uint64_t entry, end; /* [entry, end) */
	const char *name; /* NUL-terminated, inside the table */
	bool top_frame; /* the first frame of a goroutine or thread (runtime.goexit, mstart...) */
	bool sp_write; /* assembly that moves the stack pointer (switches stacks): no caller known */
	/* where the function's tables are, for the lookups below */
	uint32_t pcsp, pcfile, pcln, cu;
};

/* The function containing vaddr. 0 or -ENOENT (none, or its record is corrupt). */
int gopclntab__func(const struct gopclntab *t, uint64_t vaddr, struct go_func *ret);
/*
 * How far the stack pointer is below its value at the function's entry (after the call pushed
 * the return address), at vaddr: the return address is at sp + delta. 0 or -EBADMSG.
 */
int gopclntab__sp_delta(const struct gopclntab *t, const struct go_func *fn, uint64_t vaddr,
			int32_t *ret);
/* Source file and line of vaddr. 0, -ENOENT (no line information) or -EBADMSG. */
int gopclntab__line(const struct gopclntab *t, const struct go_func *fn, uint64_t vaddr,
		    const char **ret_file, int32_t *ret_line);

#endif
