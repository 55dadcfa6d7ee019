// SPDX-License-Identifier: LGPL-2.1-or-later
/* Loading a library at run time with a table of its functions: see dlib.h. */
#include "dlib.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

int dlib_load(const char *const *sonames, size_t nsonames, const struct dlib_sym *syms,
	      size_t nsyms, char *err, size_t errlen)
{
	const char *soname = NULL;
	void *h = NULL;

	for (size_t i = 0; !h && i < nsonames; i++) {
		soname = sonames[i];
		h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	}
	if (!h) {
		const char *why = soname ? dlerror() : NULL;

		return fail_with(err, errlen, -ENOENT, "%s", why ? why : "no library to load");
	}
	/* all or nothing: every name is found before any pointer is written */
	for (size_t i = 0; i < nsyms; i++) {
		if (!dlsym(h, syms[i].name)) {
			dlerror(); /* said here: not left for the next caller */
			fail_with(err, errlen, -ENOENT, "'%s': no function '%s'", soname,
				  syms[i].name);
			dlclose(h);
			return -ENOENT;
		}
	}
	for (size_t i = 0; i < nsyms; i++) {
		void *fn = dlsym(h, syms[i].name);

		/* a data pointer into a function pointer: copied, as POSIX dlsym() allows */
		memcpy(syms[i].ptr, &fn, sizeof(fn));
	}
	return 0;
}
