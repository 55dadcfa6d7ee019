// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * libFuzzer harness: the pprof reader (gzip or raw protobuf from any producer), with limits
 * proportional to the input and hardly any constant: small inputs hit the decompression bound
 * and the unpacking budget at every point, and whatever decodes must not have built a model
 * larger than the budget allows (the model step must not multiply what was unpacked).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "pprof.h"

/* What the model's own tables hold, the part that grows with the input. */
static size_t model_bytes(const struct profile *p)
{
	size_t n = p->cap_strings * sizeof(char *) + p->cap_mappings * sizeof(*p->mappings) +
		   p->cap_functions * sizeof(*p->functions) +
		   p->cap_locations * sizeof(*p->locations) + p->cap_samples * sizeof(*p->samples);

	for (size_t i = 0; i < p->nstrings; i++)
		n += strlen(p->strings[i]) + 1;
	for (size_t i = 0; i < p->nlocations; i++)
		n += p->locations[i].nlines * sizeof(struct prof_line);
	for (size_t i = 0; i < p->nsamples; i++)
		n += p->samples[i].nlocs * sizeof(uint64_t) +
		     p->samples[i].nlabels * sizeof(struct prof_label);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pprof_limits lim = {
		.file_len = size,
		.max_plain = 4096 + 128 * size,
		.max_decoded = 4096 + 512 * size,
		.max_frames = 4096 + 192 * (uint64_t)size,
		.max_text = 65536 + 4096 * (uint64_t)size,
	};
	struct profile *p = NULL;
	char err[256];

	if (pprof__decode_limited(data, size, &lim, &p, err, sizeof(err)) == 0) {
		/* whatever decodes must be safe to walk and to write again */
		FILE *f = fopen("/dev/null", "w");
		void *buf;
		size_t len;

		/* measured at most twice what protobuf-c unpacked: four times is amplification */
		if (model_bytes(p) > 4 * lim.max_decoded)
			abort();
		if (f) {
			struct folded_opts fo = { .comm_root = true, .per_pid = true };

			profile__write_folded(p, profile__default_value(p), f);
			/* what convert writes: the process name as the root, from the labels */
			profile__write_folded_opts(p, profile__default_value(p), &fo, f);
			fclose(f);
		}
		if (pprof__encode(p, false, &buf, &len) == 0)
			free(buf);
		profile__free(p);
	}
	return 0;
}
