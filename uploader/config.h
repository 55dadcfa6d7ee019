/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --config FILE: the agent's settings as YAML (libyaml), one mapping of the long option names:
 *   remote-store-address: parca:7070
 *   remote-store-insecure: true
 *   labels: {region: eu-west-1}
 * turned into the equivalent command-line arguments, which the command line then overrides.
 */
#ifndef SCORCH_CONFIG_H
#define SCORCH_CONFIG_H

#include <stddef.h>

/*
 * value_keys take a value ("--key=value"), flag_keys true or false ("--key" when true),
 * map_keys a mapping of labels ("--label=k=v" each); all NULL-terminated. On success *ret_argv
 * (NULL-terminated, free with config__free_args) holds *ret_argc arguments. On failure a
 * negative errno and a one-line reason with the file's line in err.
 */
int config__to_args(const char *path, const char *const *value_keys, const char *const *flag_keys,
		    const char *const *map_keys, char ***ret_argv, int *ret_argc, char *err,
		    size_t errlen);
void config__free_args(char **argv);

#endif
