// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Container ids, pod UIDs and systemd units from cgroup paths: the runtimes' and kubelet's
 * layouts (systemd and cgroupfs drivers), and names a container or a delegated subtree chose
 * itself.
 */
#include "check.h"
#include "cgroup_labels.h"

#define ID "3f1c0ffee0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abcdef01234567"
#define OTHER "0000000000000000000000000000000000000000000000000000000000000042"

static const char *id_of(const char *cgroup)
{
	static char id[65];

	return cgroup_container_id(cgroup, id) ? id : "";
}

#define UID "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define UID_ "0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0"

static const char *pod_of(const char *cgroup)
{
	static char uid[37];

	return cgroup_pod_uid(cgroup, uid) ? uid : "";
}

static const char *unit_of(const char *cgroup)
{
	static char unit[256];

	return cgroup_systemd_unit(cgroup, unit, sizeof(unit)) ? unit : "";
}

static void test_pods_and_units(void)
{
	char small[8];

	/* cgroupfs driver: v1 (a controller's hierarchy) and v2 look alike */
	CHECK_STR(pod_of("/kubepods/burstable/pod" UID "/" ID), UID);
	CHECK_STR(pod_of("/kubepods/pod" UID "/" ID), UID);
	/* systemd driver: the UID's dashes are underscores in the slice name */
	CHECK_STR(pod_of("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UID_
			 ".slice/cri-containerd-" ID ".scope"),
		  UID);
	CHECK_STR(pod_of("/kubepods.slice/kubepods-pod" UID_ ".slice/crio-" ID ".scope"), UID);
	/* not below kubepods, or not a UID */
	CHECK_STR(pod_of("/docker/pod" UID), "");
	CHECK_STR(pod_of("/kubepods/burstable/pod1234/" ID), "");
	CHECK_STR(pod_of("/kubepods/burstable/pod" UID "x/" ID), "");
	CHECK_STR(pod_of("/kubepods.slice/kubepods-pod0F1E2D3C_4B5A_6978_8796_A5B4C3D2E1F0.slice"),
		  "");
	/* the outermost pod: a container naming a cgroup of its own after another pod */
	CHECK_STR(
	    pod_of("/kubepods/pod" UID "/" ID "/kubepods/pod11111111-2222-3333-4444-555555555555"),
	    UID);
	CHECK_STR(pod_of(""), "");
	/* kubelet's and docker's directories are at the top: deeper, a delegated subtree's own */
	CHECK_STR(pod_of("/user.slice/user-1000.slice/user@1000.service/kubepods/pod" UID "/" ID),
		  "");
	CHECK_STR(pod_of("/system.slice/x.service/kubepods.slice/kubepods-pod" UID_ ".slice"), "");
	CHECK_STR(id_of("/user.slice/user-1000.slice/user@1000.service/kubepods/pod" UID "/" ID),
		  "");
	CHECK_STR(id_of("/system.slice/x.service/docker/" ID), "");
	CHECK_STR(id_of("/docker/" ID), ID);

	CHECK_STR(unit_of("/system.slice/nginx.service"), "nginx.service");
	CHECK_STR(unit_of("/user.slice/user-1000.slice/session-3.scope"), "session-3.scope");
	CHECK_STR(unit_of("/system.slice/docker-" ID ".scope"), "docker-" ID ".scope");
	/* a delegated subtree names units below its own: the outermost is systemd's */
	CHECK_STR(unit_of("/user.slice/user-1000.slice/user@1000.service/app.slice/evil.service"),
		  "user@1000.service");
	CHECK_STR(unit_of("/kubepods/burstable/pod" UID "/" ID), "");
	CHECK_STR(unit_of("/system.slice"), "");
	CHECK_STR(unit_of("/.service"), "");
	CHECK_STR(unit_of("/"), "");
	CHECK(cgroup_systemd_unit("/system.slice/a-long-name.service", small, sizeof(small)));
	CHECK_STR(small, "a-long-");
}

int main(void)
{
	test_pods_and_units();
	/* systemd driver: docker, containerd under kubepods, cri-o, podman */
	CHECK_STR(id_of("/system.slice/docker-" ID ".scope"), ID);
	CHECK_STR(id_of("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/"
			"cri-containerd-" ID ".scope"),
		  ID);
	CHECK_STR(id_of("/kubepods.slice/kubepods-pod1.slice/crio-" ID ".scope"), ID);
	CHECK_STR(id_of("/machine.slice/libpod-" ID ".scope/container"), ID);
	/* cgroupfs driver */
	CHECK_STR(id_of("/docker/" ID), ID);
	CHECK_STR(id_of("/kubepods/burstable/pod5f2d/" ID), ID);
	/* the outermost: a container naming a cgroup below its own after another container */
	CHECK_STR(id_of("/system.slice/docker-" ID ".scope/docker-" OTHER ".scope"), ID);
	CHECK_STR(id_of("/docker/" ID "/" OTHER), ID);
	/* 64 hex digits somewhere are not a container id */
	CHECK_STR(id_of("/user.slice/user-1000.slice/session-" ID ".scope"), "");
	CHECK_STR(id_of("/x" ID), "");
	CHECK_STR(id_of("/apps/" ID), "");
	CHECK_STR(id_of("/docker/" ID "0"), "");
	CHECK_STR(
	    id_of(
		"/system.slice/docker-3F1C0FFEE0A1B2C3D4E5F60718293A4B5C6D7E8F9012345678ABCDEF01234567.scope"),
	    "");
	CHECK_STR(id_of(""), "");
	CHECK_STR(id_of("/"), "");
	return check_done("test_labels");
}
