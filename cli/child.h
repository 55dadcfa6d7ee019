/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The command a one-shot capture starts and profiles (record and flame after "--"). */
#ifndef SCORCH_CHILD_H
#define SCORCH_CHILD_H

#include <sys/types.h>

struct child {
	pid_t pid; /* 0 once reaped */
	int go_fd, err_fd;
};

/* Resolve COMMAND like execvp() would, so that a missing command fails before the capture. */
int find_command(const char *cmd);
/* Fork the command, held before exec until child_start(). 0 or -errno. */
int child_fork(struct child *c, char **argv);
/* Let the command exec; returns 0 or the exec error as -errno. */
int child_start(struct child *c);
/* Close what is left; a child never started exits, one started is waited for. */
void child_abort(struct child *c);

#endif
