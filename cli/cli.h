/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The commands and what they share: messages and exit codes (log.c); the capture options are
 * in capture_args.h. The only place with command-line state.
 */
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
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Which messages are written (--log-level), and how (--log-format). */
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format {
	LOG_TEXT, /* "scorch: warning: ..." lines, the default */
	LOG_LOGFMT, /* level=warn ts=... caller=scorch msg="..." */
	LOG_JSON, /* one JSON object a line: level, ts, caller, msg */
};
/* Either may be NULL (unchanged). 0, or -EINVAL after an error line. */
int log_set(const char *level, const char *format);
bool log_enabled(enum log_level l);

struct option;

/*
 * getopt_long() without its abbreviations: a long option is taken only when spelled whole (a
 * prefix could be a flag of another tool meaning something else, with a secret as its value).
 * Errors (unknown option, missing value) are said in one line that never shows a value, and
 * return '?'; otherwise as getopt_long(). cmd names the command for the help hint.
 */
int getopt_exact(int argc, char **argv, const char *shortopts, const struct option *longopts,
		 const char *cmd);

struct sample_filter;
typedef struct re_pattern_buffer regex_t;
/*
 * --tagfocus KEY=VALUE into f: a regular expression (compiled into re) for string labels, N or
 * N:M for numbers; "thread" names the thread_id label. arg is modified and must live as long
 * as f. 0, or -EINVAL after an error line.
 */
int parse_tagfocus(char *arg, struct sample_filter *f, regex_t *re);

/* A bearer token file's one line (malloc'ed), or NULL after an error line. */
char *read_bearer_token(const char *path);

int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_flame(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_healthcheck(int argc, char **argv);

#endif
