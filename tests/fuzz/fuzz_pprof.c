// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer harness: the pprof reader (gzip or raw protobuf from any producer). */
#include <stdint.h>
#include <stdlib.h>

#include "model.h"
#include "pprof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile *p = NULL;
	char err[256];

	if (pprof__decode(data, size, &p, err, sizeof(err)) == 0) {
		/* whatever decodes must be safe to walk and to write again */
		FILE *f = fopen("/dev/null", "w");
		void *buf;
		size_t len;

		if (f) {
			profile__write_folded(p, profile__default_value(p), f);
			fclose(f);
		}
		if (pprof__encode(p, false, &buf, &len) == 0)
			free(buf);
		profile__free(p);
	}
	return 0;
}
