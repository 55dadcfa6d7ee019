/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the agent's series labels say of a process, read from its cgroup path. */
#ifndef SCORCH_LABELS_H
#define SCORCH_LABELS_H

#include <stdbool.h>

/*
 * The container id (64 hex digits) of a cgroup path as container runtimes name them: true with
 * it in ret. A cgroup name is only as trustworthy as whoever could create it: the outermost
 * match is taken, since a container may name the cgroups below its own but not those above.
 */
bool cgroup_container_id(const char *cgroup, char ret[65]);

#endif
