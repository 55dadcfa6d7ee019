// SPDX-License-Identifier: LGPL-2.1-or-later
/* sd_notify(3)'s datagrams to $NOTIFY_SOCKET, written from the protocol (see notify.h). */
#include "notify.h"
#include "util.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct notifier {
	int fd;
	struct sockaddr_un addr;
	socklen_t addr_len;
};

struct notifier *notifier__from_env(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct notifier *n;
	size_t len;

	errno = 0;
	if (!path || !*path)
		return NULL;
	len = strlen(path);
	/* an abstract name keeps its length (no NUL); a path its NUL */
	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len + (path[0] == '/') > sizeof(((struct sockaddr_un *)0)->sun_path)) {
		errno = EINVAL;
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, path, len);
	if (path[0] == '@')
		n->addr.sun_path[0] = 0;
	n->addr_len = offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/');
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0) {
		free(n);
		return NULL;
	}
	return n;
}

void notifier__free(struct notifier *n)
{
	if (!n)
		return;
	close(n->fd);
	free(n);
}

int notifier__send(struct notifier *n, const char *msg)
{
	ssize_t r;

	do
		r = sendto(n->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
			   (struct sockaddr *)&n->addr, n->addr_len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return (size_t)r == strlen(msg) ? 0 : -EMSGSIZE;
}

uint64_t notifier__watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	uint64_t v, p;

	if (!usec || parse_u64(usec, 10, 1, UINT64_MAX, &v))
		return 0;
	/* set for another process (our parent's, inherited): not ours to keep */
	if (pid && (parse_u64(pid, 10, 1, INT32_MAX, &p) || p != (uint64_t)getpid()))
		return 0;
	return v;
}
