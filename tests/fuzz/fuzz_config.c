// SPDX-License-Identifier: LGPL-2.1-or-later
/* libFuzzer harness: the agent's --config YAML reader. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const values[] = { "node", "remote-store-address", NULL };
	static const char *const flags[] = { "verbose", NULL };
	static const char *const maps[] = { "labels", NULL };
	static char path[64];
	char err[512], **argv = NULL;
	int argc = 0;
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/scorch-fuzz-config.%d", (int)getpid());
	f = fopen(path, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (config__to_args(path, values, flags, maps, &argv, &argc, err, sizeof(err)) == 0)
		config__free_args(argv);
	return 0;
}
