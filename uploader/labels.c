// SPDX-License-Identifier: LGPL-2.1-or-later
/* What the agent's series labels say of a process, read from its cgroup path. */
#include "labels.h"
#include "util.h"

#include <ctype.h>
#include <string.h>

/* 64 lowercase hex digits at p (a container id as docker, containerd and cri-o make them). */
static bool is_container_id(const char *p, size_t len)
{
	if (len != 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!isxdigit((unsigned char)p[i]) || isupper((unsigned char)p[i]))
			return false;
	return true;
}

/*
 * The container id in a cgroup path: the outermost component that a runtime names after a
 * container, "ID" under "docker" or a kubepods "pod..." directory (cgroupfs driver), or
 * "PREFIX-ID.scope" (systemd driver). Outermost: a container may create cgroups below its own
 * and name them as it likes, never above.
 */
bool cgroup_container_id(const char *cgroup, char ret[65])
{
	static const char *const prefixes[] = { "docker-", "cri-containerd-", "crio-", "libpod-",
						"containerd-" };
	const char *parent = "", *c = cgroup;
	size_t plen = 0;

	while (c && *c) {
		const char *end;
		size_t len;

		while (*c == '/')
			c++;
		end = c + strcspn(c, "/");
		len = end - c;
		for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
			size_t n = strlen(prefixes[i]);

			if (len > n && !strncmp(c, prefixes[i], n) &&
			    is_container_id(
				c + n,
				len - n -
				    (len >= n + 6 && !strncmp(end - 6, ".scope", 6) ? 6 : 0))) {
				memcpy(ret, c + n, 64);
				ret[64] = 0;
				return true;
			}
		}
		if (is_container_id(c, len) &&
		    ((plen == 6 && !strncmp(parent, "docker", 6)) || !strncmp(parent, "pod", 3))) {
			memcpy(ret, c, 64);
			ret[64] = 0;
			return true;
		}
		parent = c;
		plen = len;
		c = end;
	}
	return false;
}
