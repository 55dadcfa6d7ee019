/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the agent's series labels say of a process, read from its cgroup path. */
#ifndef SCORCH_LABELS_H
#define SCORCH_LABELS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The container id (64 hex digits) of a cgroup path as container runtimes name them: true with
 * it in ret. A cgroup name is only as trustworthy as whoever could create it: the outermost
 * match is taken, since a container may name the cgroups below its own but not those above.
 */
bool cgroup_container_id(const char *cgroup, char ret[65]);

/*
 * The systemd unit of a cgroup path on a systemd host: its outermost component named
 * NAME.service or NAME.scope ("nginx.service", "session-3.scope", "user@1000.service"),
 * outermost for the same reason: a delegated subtree names the cgroups below it. True with it
 * in ret (cut to size bytes).
 */
bool cgroup_systemd_unit(const char *cgroup, char *ret, size_t size);

/*
 * The Kubernetes pod UID of a kubepods cgroup path, cgroup v1 or v2, systemd or cgroupfs
 * driver: ".../kubepods/burstable/pod<uid>/..." or ".../kubepods-burstable-pod<uid with _
 * for ->.slice/...". True with the UID (36 characters, dashes) in ret.
 */
bool cgroup_pod_uid(const char *cgroup, char ret[37]);

#endif
