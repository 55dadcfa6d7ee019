/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Libraries loaded at run time (as systemd's dlopen_many_sym_or_warn()): the first soname of a
 * list that loads, and a table of its functions, resolved all or nothing.
 */
#ifndef SCORCH_DLIB_H
#define SCORCH_DLIB_H

#include <stddef.h>

/* One function to resolve: its name and where its address goes (a function pointer). */
struct dlib_sym {
	const char *name;
	void *ptr; /* the address of the pointer to set, as (void *)&table.fn */
};

/*
 * Open the first of sonames that loads (RTLD_NOW | RTLD_LOCAL) and resolve every entry of
 * syms in it. 0 with every pointer set (the library stays loaded for the process's life);
 * -ENOENT with no pointer written, the library closed again and a one-line reason in err
 * (when given): what the loader said of the last soname tried, or the first missing function.
 */
int dlib_load(const char *const *sonames, size_t nsonames, const struct dlib_sym *syms,
	      size_t nsyms, char *err, size_t errlen);

#endif
