/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Source-level frames from DWARF (libdw): inlined functions, files and lines at an address. */
#ifndef SCORCH_DWARF_FRAMES_H
#define SCORCH_DWARF_FRAMES_H

#include <stddef.h>
#include <stdint.h>

/* libdw's handle; the caller owns the Elf it was opened on */
typedef struct Dwarf Dwarf;

/* Source paths are as DWARF records them: possibly relative to comp_dir. */
struct dwarf_frame {
	const char *name; /* DW_AT_name, or NULL */
	const char *linkage; /* DW_AT_linkage_name (mangled), or NULL */
	const char *file; /* source file of the line below, or NULL */
	int line; /* the line executing in this function (0: unknown) */
	const char *decl_file; /* where the function is declared, or NULL */
	int decl_line;
	const char *comp_dir; /* the CU's compilation directory, or NULL */
};

/*
 * Join a DWARF source path with its compilation directory and drop "." and ".." lexically:
 * "../src/a.c" in "/build" is "/src/a.c". Writes at most size bytes; returns buf.
 */
char *dwarf__source_path(const char *comp_dir, const char *file, char *buf, size_t size);

/*
 * The frames at vaddr, innermost inlined function first and the function it was inlined into
 * (eventually the real one) last. Strings are valid while dw is open. Returns how many were
 * filled (0 when no DWARF covers vaddr), at most max.
 */
int dwarf__frames(Dwarf *dw, uint64_t vaddr, struct dwarf_frame *out, int max);

#endif
