/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Running a fixture program for a test: its standard output to read, its standard input held
 * open (fixtures wait for it to close), so the test can read /proc/PID while it lives.
 */
#ifndef SCORCH_FIXTURE_PROC_H
#define SCORCH_FIXTURE_PROC_H

#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Start argv[0] with argv; returns its pid (or -1) with its output in *ret_out and its stdin in
 * *ret_in.
 */
static inline pid_t fixture_start_argv(char *const argv[], FILE **ret_out, int *ret_in)
{
	int out[2], in[2];
	pid_t pid;

	if (pipe(out) || pipe(in))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*ret_out = fdopen(out[0], "r");
	*ret_in = in[1];
	return pid;
}

/* Let it exit (its stdin closes) without reaping it: it stays a zombie for the caller. */
/* Start path without arguments, as fixture_start_argv(). */
static inline pid_t fixture_start(const char *path, FILE **ret_out, int *ret_in)
{
	char *const argv[] = { (char *)path, NULL };

	return fixture_start_argv(argv, ret_out, ret_in);
}

static inline void fixture_release(FILE *out, int in)
{
	close(in);
	fclose(out);
}

static inline void fixture_finish(pid_t pid, FILE *out, int in)
{
	fixture_release(out, in);
	waitpid(pid, NULL, 0);
}

#endif
