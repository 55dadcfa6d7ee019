/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd's service notifications (sd_notify(3)) without libsystemd: one datagram per message
 * to the AF_UNIX socket that $NOTIFY_SOCKET names, a path or, starting with '@', a name in the
 * abstract namespace. The agent says READY=1 once sampling runs, WATCHDOG=1 while its loop is
 * healthy and STOPPING=1 when told to stop; a unit with Type=notify and WatchdogSec= acts on
 * them.
 */
#ifndef SCORCH_NOTIFY_H
#define SCORCH_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

struct notifier;

/*
 * The notifier $NOTIFY_SOCKET asks for: NULL with errno 0 when it is unset (not started by
 * systemd), NULL with errno set when it cannot be used (EINVAL: not an absolute path nor an
 * '@' name, or too long for an AF_UNIX address).
 */
struct notifier *notifier__from_env(void);
void notifier__free(struct notifier *n);

/*
 * Send one message ("READY=1", "WATCHDOG=1\nSTATUS=..."): never blocks (a full socket drops
 * the message, as systemd's own client would wait for nothing). 0 or -errno.
 */
int notifier__send(struct notifier *n, const char *msg);

/*
 * The watchdog period systemd set for this process ($WATCHDOG_USEC, when $WATCHDOG_PID is
 * unset or names this process), in microseconds; 0 when there is none.
 */
uint64_t notifier__watchdog_usec(void);

#endif
