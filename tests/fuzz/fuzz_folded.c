// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness: the reader of any profile file (gzip, folded stacks, pprof) and what
 * renders and compares what it reads (frame tree, per-function table, SVG).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "folded.h"
#include "svg.h"
#include "tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct func_table ft = { 0 };
	struct profile *p = NULL;
	struct ftree *t;
	char err[256];
	FILE *f;

	if (profile__decode_any(data, size, &p, err, sizeof(err)))
		return 0;
	t = ftree__from_profile(p);
	if (t && ftree__add_base(t, p) == 0 && ftree__sort(t) == 0) {
		struct svg_opts o = { .diff = true, .width = 300 };

		f = fopen("/dev/null", "w");
		if (f) {
			svg__write(t, &o, f);
			fclose(f);
		}
	}
	ftree__free(t);
	func_table__add(&ft, p, 0);
	func_table__add(&ft, p, 1);
	func_table__free(&ft);
	/* what report does with go tool pprof's filters, at each granularity */
	{
		static regex_t focus, hide, tag;
		static bool compiled;
		struct weigh w;

		if (!compiled) {
			regcomp(&focus, "a|_", REG_EXTENDED | REG_NOSUB);
			regcomp(&hide, "^[b-m]", REG_EXTENDED | REG_NOSUB);
			regcomp(&tag, ".", REG_EXTENDED | REG_NOSUB);
			compiled = true;
		}
		for (int g = 0; g < 3; g++) {
			struct sample_filter sf = { .focus = &focus,
						    .hide = &hide,
						    .tag_key = g == 1 ? "comm" : NULL,
						    .tag_value = &tag,
						    .granularity = (enum granularity)g };

			if (profile__choose_value(p, NULL, &w, err, sizeof(err)) == 0 &&
			    func_table__add_filtered(&ft, p, 0, &w, &sf) == 0)
				func_table__add_filtered(&ft, p, 1, NULL, &sf);
			func_table__free(&ft);
		}
	}
	profile__free(p);
	return 0;
}
