// SPDX-License-Identifier: LGPL-2.1-or-later
/* The agent's --config FILE: YAML keys turned into the command line's long options. */
#include "config.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_ARGS 512

struct args {
	char **v;
	int n;
};

static int push(struct args *a, const char *fmt, const char *k, const char *v)
{
	char *s;

	if (a->n >= MAX_ARGS - 1)
		return -E2BIG;
	if (asprintf(&s, fmt, k, v) < 0)
		return -ENOMEM;
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
	return 0;
}

static bool is_key(const char *k, const char *const *keys)
{
	for (; *keys; keys++)
		if (!strcmp(k, *keys))
			return true;
	return false;
}

static bool parse_bool(const char *v, bool *ret)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) {
		*ret = true;
		return true;
	}
	if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off")) {
		*ret = false;
		return true;
	}
	return false;
}

void config__free_args(char **argv)
{
	for (char **p = argv; p && *p; p++)
		free(*p);
	free(argv);
}

/* Next event, or a one-line reason in err. */
static int next(yaml_parser_t *p, yaml_event_t *e, const char *path, char *err, size_t errlen)
{
	if (yaml_parser_parse(p, e))
		return 0;
	snprintf(err, errlen, "%s:%zu:%zu: %s", path, p->problem_mark.line + 1,
		 p->problem_mark.column + 1, p->problem ? p->problem : "invalid YAML");
	return -EINVAL;
}

int config__to_args(const char *path, const char *const *value_keys, const char *const *flag_keys,
		    const char *const *map_keys, char ***ret_argv, int *ret_argc, char *err,
		    size_t errlen)
{
	struct args a = { .v = calloc(MAX_ARGS, sizeof(char *)) };
	yaml_parser_t p;
	yaml_event_t e;
	FILE *f;
	int r = 0, depth = 0;
	char *key = NULL, *map = NULL;
	bool done = false, parser_ok;

	if (!a.v)
		return -ENOMEM;
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		snprintf(err, errlen, "cannot read the configuration '%s': %s", path,
			 strerror(errno));
		free(a.v);
		return r;
	}
	parser_ok = yaml_parser_initialize(&p);
	if (!parser_ok) {
		fclose(f);
		free(a.v);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&p, f);
	/* a document that is one mapping of settings; maps of key: value for map_keys */
	while (!r && !done) {
		r = next(&p, &e, path, err, errlen);
		if (r)
			break;
		switch (e.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_MAPPING_START_EVENT:
			if (depth == 1 && !(key && is_key(key, map_keys))) {
				snprintf(err, errlen, "%s:%zu: '%s' takes a value, not a mapping",
					 path, e.start_mark.line + 1, key ? key : "?");
				r = -EINVAL;
			} else if (depth == 1) {
				map = key;
				key = NULL;
			} else if (depth > 1) {
				snprintf(err, errlen, "%s:%zu: nested too deep", path,
					 e.start_mark.line + 1);
				r = -EINVAL;
			}
			depth++;
			break;
		case YAML_MAPPING_END_EVENT:
			depth--;
			if (depth == 1) {
				free(map);
				map = NULL;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_ALIAS_EVENT:
			snprintf(err, errlen, "%s:%zu: lists and aliases are not settings", path,
				 e.start_mark.line + 1);
			r = -EINVAL;
			break;
		case YAML_SCALAR_EVENT: {
			const char *s = (const char *)e.data.scalar.value;
			bool b;

			if (depth == 0) {
				snprintf(err, errlen, "%s: expected a mapping of settings", path);
				r = -EINVAL;
			} else if (!key) {
				key = strdup(s);
				if (!key)
					r = -ENOMEM;
			} else if (map) {
				/* "labels: {k: v}" is "--label=k=v" */
				r = push(&a, "--label=%s=%s", key, s);
				free(key);
				key = NULL;
			} else if (is_key(key, flag_keys)) {
				if (!parse_bool(s, &b)) {
					snprintf(err, errlen,
						 "%s:%zu: '%s' is true or false, not '%s'", path,
						 e.start_mark.line + 1, key, s);
					r = -EINVAL;
				} else if (b) {
					r = push(&a, "--%s%s", key, "");
				}
				free(key);
				key = NULL;
			} else if (is_key(key, value_keys)) {
				r = push(&a, "--%s=%s", key, s);
				free(key);
				key = NULL;
			} else {
				snprintf(err, errlen, "%s:%zu: unknown setting '%s'", path,
					 e.start_mark.line + 1, key);
				r = -EINVAL;
			}
			break;
		}
		default:
			break;
		}
		yaml_event_delete(&e);
	}
	free(key);
	free(map);
	yaml_parser_delete(&p);
	fclose(f);
	if (r) {
		config__free_args(a.v);
		return r;
	}
	*ret_argv = a.v;
	*ret_argc = a.n;
	return 0;
}
