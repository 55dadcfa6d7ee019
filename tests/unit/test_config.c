// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's --config file: YAML settings become the same arguments as the command line
 * (values, true/false flags, a mapping of labels); unknown settings, wrong types, nesting and
 * broken YAML are refused with the file and line.
 */
#include "check.h"
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const values[] = { "remote-store-address", "node", "profiling-duration", NULL };
static const char *const flags[] = { "remote-store-insecure", "verbose", NULL };
static const char *const maps[] = { "labels", NULL };
static char path[] = "/tmp/scorch-config.XXXXXX";

static int parse(const char *text, char ***argv, int *argc, char *err, size_t errlen)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	fclose(f);
	err[0] = 0;
	return config__to_args(path, values, flags, maps, argv, argc, err, errlen);
}

int main(void)
{
	char err[512], **argv = NULL;
	int argc = 0, fd = mkstemp(path);

	if (fd < 0)
		return 1;
	close(fd);

	CHECK_INT(parse("# a comment\n"
			"remote-store-address: parca.example:7070\n"
			"remote-store-insecure: true\n"
			"verbose: false\n"
			"node: 'web-1'\n"
			"labels:\n"
			"  region: eu-west-1\n"
			"  team: \"perf\"\n"
			"profiling-duration: 10s\n",
			&argv, &argc, err, sizeof(err)),
		  0);
	CHECK_INT(argc, 6);
	if (argc == 6) {
		CHECK_STR(argv[0], "--remote-store-address=parca.example:7070");
		CHECK_STR(argv[1], "--remote-store-insecure");
		CHECK_STR(argv[2], "--node=web-1");
		CHECK_STR(argv[3], "--label=region=eu-west-1");
		CHECK_STR(argv[4], "--label=team=perf");
		CHECK_STR(argv[5], "--profiling-duration=10s");
		CHECK(argv[6] == NULL);
	}
	config__free_args(argv);

	/* an empty file is no settings */
	CHECK_INT(parse("", &argv, &argc, err, sizeof(err)), 0);
	CHECK_INT(argc, 0);
	config__free_args(argv);

	CHECK(parse("node: a\nbogus: 1\n", &argv, &argc, err, sizeof(err)) < 0);
	CHECK(strstr(err, ":2: unknown setting 'bogus'") != NULL);
	CHECK(parse("verbose: maybe\n", &argv, &argc, err, sizeof(err)) < 0);
	CHECK(strstr(err, "true or false") != NULL);
	CHECK(parse("node:\n  a: b\n", &argv, &argc, err, sizeof(err)) < 0);
	CHECK(strstr(err, "takes a value") != NULL);
	CHECK(parse("labels:\n  a:\n    b: c\n", &argv, &argc, err, sizeof(err)) < 0);
	CHECK(strstr(err, "nested") != NULL);
	CHECK(parse("node: [a, b]\n", &argv, &argc, err, sizeof(err)) < 0);
	CHECK(parse("node: a\n  : : :\n\t\n", &argv, &argc, err, sizeof(err)) < 0);
	CHECK(strstr(err, path) != NULL);
	CHECK(parse("- a\n- b\n", &argv, &argc, err, sizeof(err)) < 0);
	CHECK(parse("just a string\n", &argv, &argc, err, sizeof(err)) < 0);
	CHECK(config__to_args("/nonexistent/x.yaml", values, flags, maps, &argv, &argc, err,
			      sizeof(err)) < 0);
	CHECK(strstr(err, "cannot read") != NULL);

	unlink(path);
	return check_done("test_config");
}
