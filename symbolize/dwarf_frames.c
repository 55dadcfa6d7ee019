// SPDX-License-Identifier: LGPL-2.1-or-later
/* Inlined functions, files and lines at an address, from the DWARF scopes around it. */
#include "dwarf_frames.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static const char *attr_string(Dwarf_Die *die, int name)
{
	Dwarf_Attribute attr;

	/* _integrate follows DW_AT_abstract_origin and DW_AT_specification */
	return dwarf_attr_integrate(die, name, &attr) ? dwarf_formstring(&attr) : NULL;
}

static int attr_int(Dwarf_Die *die, int name)
{
	Dwarf_Attribute attr;
	Dwarf_Word v;

	if (!dwarf_attr_integrate(die, name, &attr) || dwarf_formudata(&attr, &v) || v > INT32_MAX)
		return 0;
	return (int)v;
}

/* A file-table entry of the CU by index, as DW_AT_decl_file and DW_AT_call_file give it. */
static const char *cu_file(Dwarf_Die *cu, int idx)
{
	Dwarf_Files *files;
	size_t n;

	if (idx <= 0 || dwarf_getsrcfiles(cu, &files, &n) || (size_t)idx >= n)
		return NULL;
	return dwarf_filesrc(files, idx, NULL, NULL);
}

char *dwarf__source_path(const char *comp_dir, const char *file, char *buf, size_t size)
{
	char joined[4096], *parts[512];
	size_t n = 0, len = 0;
	char *save = NULL;

	if (file[0] == '/' || !comp_dir || !*comp_dir)
		snprintf(joined, sizeof(joined), "%s", file);
	else
		snprintf(joined, sizeof(joined), "%s/%s", comp_dir, file);
	for (char *p = strtok_r(joined, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (!strcmp(p, "."))
			continue;
		if (!strcmp(p, "..")) {
			if (n && strcmp(parts[n - 1], ".."))
				n--;
			else if (joined[0] != '/' && n < 512)
				parts[n++] = p; /* a relative path keeps leading ".." */
			continue;
		}
		if (n < 512)
			parts[n++] = p;
	}
	if (size)
		buf[0] = 0;
	if (file[0] == '/' || (comp_dir && comp_dir[0] == '/'))
		len += snprintf(buf + len, size > len ? size - len : 0, "/");
	for (size_t i = 0; i < n && len < size; i++)
		len += snprintf(buf + len, size - len, "%s%s", i ? "/" : "", parts[i]);
	return buf;
}

int dwarf__frames(Dwarf *dw, uint64_t vaddr, struct dwarf_frame *out, int max)
{
	Dwarf_Die cu, *scopes = NULL;
	Dwarf_Line *line;
	const char *file = NULL, *comp_dir;
	int nscopes, n = 0, lineno = 0;

	if (!dw || max <= 0 || !dwarf_addrdie(dw, vaddr, &cu))
		return 0;
	comp_dir = attr_string(&cu, DW_AT_comp_dir);
	line = dwarf_getsrc_die(&cu, vaddr);
	if (line) {
		file = dwarf_linesrc(line, NULL, NULL);
		dwarf_lineno(line, &lineno);
	}
	/*
	 * dwarf_getscopes() continues from an inlined instance into the scopes of its abstract
	 * definition; the physical nesting (who it was inlined into) comes from the innermost DIE.
	 */
	nscopes = dwarf_getscopes(&cu, vaddr, &scopes);
	if (nscopes > 0) {
		Dwarf_Die innermost = scopes[0];

		free(scopes);
		scopes = NULL;
		nscopes = dwarf_getscopes_die(&innermost, &scopes);
	}
	/* scopes run innermost first: lexical blocks, inlined subroutines, the subprogram, the CU */
	for (int i = 0; i < nscopes && n < max; i++) {
		Dwarf_Die *d = &scopes[i];
		int tag = dwarf_tag(d);

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		out[n] = (struct dwarf_frame){
			.name = attr_string(d, DW_AT_name),
			.linkage = attr_string(d, DW_AT_linkage_name),
			.file = file,
			.line = lineno,
			.decl_file = cu_file(&cu, attr_int(d, DW_AT_decl_file)),
			.decl_line = attr_int(d, DW_AT_decl_line),
			.comp_dir = comp_dir,
		};
		if (!out[n].linkage)
			out[n].linkage = attr_string(d, DW_AT_MIPS_linkage_name);
		n++;
		if (tag == DW_TAG_subprogram)
			break;
		/* the caller executes the call site of this inlined copy */
		file = cu_file(&cu, attr_int(d, DW_AT_call_file));
		lineno = attr_int(d, DW_AT_call_line);
	}
	free(scopes);
	return n;
}
