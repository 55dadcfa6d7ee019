// SPDX-License-Identifier: LGPL-2.1-or-later
/* What the agent's series labels say of a process, read from its cgroup path. */
#include "cgroup_labels.h"
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
 * The next component of a cgroup path from *c (slashes skipped), outermost first: its start,
 * with its length in *len; NULL at the end. *c moves past it.
 */
static const char *next_component(const char **c, size_t *len)
{
	const char *start;

	if (!*c)
		return NULL;
	while (**c == '/')
		(*c)++;
	if (!**c)
		return NULL;
	start = *c;
	*len = strcspn(start, "/");
	*c = start + *len;
	return start;
}

/* kubelet's top cgroup: "kubepods" (cgroupfs driver) or "kubepods.slice" (systemd) */
static bool is_kubepods(const char *c, size_t len)
{
	return (len == 8 && !strncmp(c, "kubepods", 8)) ||
	       (len == 14 && !strncmp(c, "kubepods.slice", 14));
}

/*
 * The container id in a cgroup path: the outermost component that a runtime names after a
 * container, "ID" under a top "docker" or a "pod..." directory of a top kubepods (cgroupfs
 * driver), or "PREFIX-ID.scope" (systemd driver). Outermost: a container may create cgroups
 * below its own and name them as it likes, never above; and kubelet's and docker's own
 * directories are at the top, so the same names deeper (a delegated subtree) are not theirs.
 */
bool cgroup_container_id(const char *cgroup, char ret[65])
{
	static const char *const prefixes[] = { "docker-", "cri-containerd-", "crio-", "libpod-",
						"containerd-" };
	const char *parent = "", *rest = cgroup, *c;
	size_t plen = 0, len, depth = 0;
	bool kubepods = false;

	for (; (c = next_component(&rest, &len)); depth++) {
		const char *end = c + len;

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
		if (!depth)
			kubepods = is_kubepods(c, len);
		/* a bare id: docker's "/docker/ID", kubelet's "/kubepods/[qos/]podUID/ID" */
		if (is_container_id(c, len) &&
		    ((depth == 1 && plen == 6 && !strncmp(parent, "docker", 6)) ||
		     (kubepods && !strncmp(parent, "pod", 3)))) {
			memcpy(ret, c, 64);
			ret[64] = 0;
			return true;
		}
		parent = c;
		plen = len;
	}
	return false;
}

bool cgroup_systemd_unit(const char *cgroup, char *ret, size_t size)
{
	const char *rest = cgroup, *c;
	size_t len;

	while ((c = next_component(&rest, &len))) {
		const char *end = c + len;

		if ((len > 8 && !strncmp(end - 8, ".service", 8)) ||
		    (len > 6 && !strncmp(end - 6, ".scope", 6))) {
			if (!size)
				return false;
			len = len < size ? len : size - 1;
			memcpy(ret, c, len);
			ret[len] = 0;
			return true;
		}
	}
	return false;
}

/* A pod UID at p: 8-4-4-4-12 lowercase hex digits, the groups joined by sep. */
static bool is_pod_uid(const char *p, size_t len, char sep)
{
	if (len != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? p[i] != sep
			 : !isxdigit((unsigned char)p[i]) || isupper((unsigned char)p[i]))
			return false;
	}
	return true;
}

bool cgroup_pod_uid(const char *cgroup, char ret[37])
{
	const char *rest = cgroup, *c;
	bool in_kubepods = false;
	size_t len, depth = 0;

	for (; (c = next_component(&rest, &len)); depth++) {
		const char *end = c + len, *pod;

		/* only below kubelet's own top directory: deeper, anyone delegated can make one */
		if (!depth) {
			in_kubepods = is_kubepods(c, len);
			continue;
		}
		if (!in_kubepods)
			return false;
		/* cgroupfs: "pod<uid>" below kubepods; systemd: "kubepods[-qos]-pod<uid_>.slice" */
		if (in_kubepods && len == 39 && !strncmp(c, "pod", 3) &&
		    is_pod_uid(c + 3, 36, '-')) {
			memcpy(ret, c + 3, 36);
			ret[36] = 0;
			return true;
		}
		pod = len > 6 + 39 && !strncmp(end - 6, ".slice", 6) ? end - 6 - 39 : NULL;
		if (in_kubepods && pod && pod > c && pod[-1] == '-' && !strncmp(pod, "pod", 3) &&
		    is_pod_uid(pod + 3, 36, '_')) {
			memcpy(ret, pod + 3, 36);
			for (int i = 0; i < 36; i++)
				if (ret[i] == '_')
					ret[i] = '-';
			ret[36] = 0;
			return true;
		}
	}
	return false;
}
