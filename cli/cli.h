/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The subcommands and what they share: messages and exit codes. */
#ifndef SCORCH_CLI_H
#define SCORCH_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* Exit codes, as documented in scorch --help. */
#define EXIT_OK 0
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define EXIT_CHECK 3

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct option;

/*
 * getopt_long() without its abbreviations: a long option is taken only when spelled whole (a
 * prefix could be a flag of another tool meaning something else, with a secret as its value).
 * Errors (unknown option, missing value) are said in one line that never shows a value, and
 * return '?'; otherwise as getopt_long(). cmd names the command for the help hint.
 */
int getopt_exact(int argc, char **argv, const char *shortopts, const struct option *longopts,
		 const char *cmd);

/* --unwind and --stack-copy of record and agent: 0, or -EINVAL after an error line. */
int parse_unwind_option(const char *s, int *ret);
int parse_stack_copy_option(const char *s, uint32_t *ret);

/*
 * The check of record and agent before any work: 0, or -EPERM after one error line naming the
 * missing required capabilities; one warning line per other capability missing and what that
 * loses, unless quiet.
 */
int check_privileges(bool quiet);

int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_flame(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_healthcheck(int argc, char **argv);

#endif
