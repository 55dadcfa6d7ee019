// SPDX-License-Identifier: LGPL-2.1-or-later
/* The program's messages (scorch: ..., on stderr) and its option parsing without abbreviations. */
#include "cli.h"
#include "utf8.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level level = LOG_INFO;
static enum log_format format = LOG_TEXT;

int log_set(const char *level_name, const char *format_name)
{
	static const char *const levels[] = {
		[LOG_ERROR] = "error", [LOG_WARN] = "warn", [LOG_INFO] = "info", [LOG_DEBUG] = "debug"
	};

	for (size_t i = 0; level_name && i < ARRAY_SIZE(levels); i++)
		if (!strcmp(level_name, levels[i])) {
			level = (enum log_level)i;
			level_name = NULL;
		}
	if (level_name) {
		log_error("invalid --log-level '%s': error, warn, info or debug", level_name);
		return -EINVAL;
	}
	if (format_name && !strcmp(format_name, "json"))
		format = LOG_JSON;
	else if (format_name && !strcmp(format_name, "logfmt"))
		format = LOG_LOGFMT;
	else if (format_name && strcmp(format_name, "text")) {
		log_error("invalid --log-format '%s': text, logfmt or json", format_name);
		return -EINVAL;
	}
	return 0;
}

bool log_enabled(enum log_level l)
{
	return l <= level;
}

/* A structured line: level, time (RFC 3339, UTC, milliseconds), caller, message. */
static void log_structured(const char *lvl, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char when[40];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (format == LOG_JSON) {
		fprintf(stderr,
			"{\"level\":\"%s\",\"ts\":\"%s.%03ldZ\",\"caller\":\"scorch\",\"msg\":",
			lvl, when, ts.tv_nsec / 1000000);
		utf8_json_string(stderr, msg);
		fputs("}\n", stderr);
		return;
	}
	fprintf(stderr, "level=%s ts=%s.%03ldZ caller=scorch msg=\"", lvl, when,
		ts.tv_nsec / 1000000);
	utf8_print_text(stderr, msg, "\"\\");
	fputs("\"\n", stderr);
}

/*
 * One message, one line: what a process or a server chose (a path, a comm, an error text) can
 * hold control characters, which are written as \xNN (C1 ones as \uNNNN, ill-formed UTF-8
 * as \xNN too), so it can neither start a line that looks like scorch's own nor send escape
 * sequences to a terminal. Longer than 4 KB: cut.
 * Structured formats escape them their way.
 */
static void log_line(const char *prefix, const char *fmt, va_list ap)
{
	char buf[4096];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (format != LOG_TEXT) {
		if (n >= (int)sizeof(buf))
			memcpy(buf + sizeof(buf) - 4, "...", 4);
		log_structured(!strcmp(prefix, "scorch: ")	      ? "error"
			       : !strcmp(prefix, "scorch: warning: ") ? "warn"
			       : !strcmp(prefix, "scorch: debug: ")   ? "debug"
								      : "info",
			       buf);
		return;
	}
	fputs(prefix, stderr);
	if (n >= (int)sizeof(buf))
		buf[utf8_trim_partial(buf, sizeof(buf) - 1)] = 0;
	if (n > 0)
		utf8_print_text(stderr, buf, NULL);
	if (n >= (int)sizeof(buf))
		fputs("...", stderr);
	fputc('\n', stderr);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line("scorch: ", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(LOG_WARN))
		return;
	va_start(ap, fmt);
	log_line("scorch: warning: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(LOG_INFO))
		return;
	va_start(ap, fmt);
	log_line("scorch: info: ", fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(LOG_DEBUG))
		return;
	va_start(ap, fmt);
	log_line("scorch: debug: ", fmt, ap);
	va_end(ap);
}

/*
 * Flags of Parca Agent (and others) that scorch spells differently: refused with a pointer to
 * scorch's own, never echoing a value (it may be a secret).
 */
static const struct {
	const char *flag, *hint;
} foreign_flags[] = {
	{ "remote-store-bearer-token",
	  "scorch reads the token from a file: use --remote-store-bearer-token-file FILE" },
};

/* What the user typed of an option, without any "=VALUE": it may hold a secret. */
static void option_name(const char *arg, char *buf, size_t size)
{
	snprintf(buf, size, "%.*s", (int)strcspn(arg, "="), arg);
}

static void unknown_option(const char *cmd, const char *arg)
{
	char name[128];

	option_name(arg, name, sizeof(name));
	for (size_t i = 0; i < ARRAY_SIZE(foreign_flags); i++)
		if (!strncmp(name, "--", 2) && !strcmp(name + 2, foreign_flags[i].flag)) {
			log_error("option '%s' is not scorch's: %s", name, foreign_flags[i].hint);
			return;
		}
	log_error("unknown option '%s' (try 'scorch %s --help')", name, cmd);
}

int getopt_exact(int argc, char **argv, const char *shortopts, const struct option *longopts,
		 const char *cmd)
{
	int idx = -1, c = getopt_long(argc, argv, shortopts, longopts, &idx);
	const char *typed;
	size_t n;

	if (c == ':') {
		char name[128];

		option_name(argv[optind - 1], name, sizeof(name));
		log_error("option '%s' needs a value (try 'scorch %s --help')", name, cmd);
		return '?';
	}
	if (c == '?') {
		if (optopt)
			log_error("unknown option '-%c' (try 'scorch %s --help')", optopt, cmd);
		else
			unknown_option(cmd, argv[optind - 1]);
		return '?';
	}
	if (c == -1 || idx < 0)
		return c;
	/* the element that named the option: before its value when that came apart */
	typed = optarg && optind >= 2 && argv[optind - 1] == optarg ? argv[optind - 2]
								    : argv[optind - 1];
	n = strcspn(typed + 2, "=");
	if (strncmp(typed, "--", 2) || strlen(longopts[idx].name) != n ||
	    strncmp(typed + 2, longopts[idx].name, n)) {
		unknown_option(cmd, typed);
		return '?';
	}
	return c;
}
