// SPDX-License-Identifier: LGPL-2.1-or-later
/* Container ids from cgroup paths: the runtimes' layouts, and names a container chose itself. */
#include "check.h"
#include "labels.h"

#define ID "3f1c0ffee0a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abcdef01234567"
#define OTHER "0000000000000000000000000000000000000000000000000000000000000042"

static const char *id_of(const char *cgroup)
{
	static char id[65];

	return cgroup_container_id(cgroup, id) ? id : "";
}

int main(void)
{
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
