/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * UTF-8 for what leaves scorch in protobuf `string` fields (pprof's string table, Parca's
 * labels): readers refuse a whole message over one ill-formed string (grpc-go and grpcio check
 * proto3 strings, Parca's pprof decoder too), and names come from other processes (thread
 * names, symbols of their files, perf maps).
 */
#ifndef SCORCH_UTF8_H
#define SCORCH_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Whether s is well-formed UTF-8 as Unicode defines it (Table 3-7): no stray continuation
 * byte, no truncated sequence, no overlong form, no surrogate (U+D800-U+DFFF), nothing above
 * U+10FFFF.
 */
bool utf8_is_valid(const char *s);

/*
 * A malloc'ed copy of s in which every maximal ill-formed subpart is replaced by U+FFFD (the
 * practice Unicode recommends, section 3.9, and what the WHATWG decoder does: "\xe2\x82" is
 * one U+FFFD, "\xff\xfe" two). A valid s is copied as it is. NULL with errno ENOMEM.
 */
char *utf8_sanitize(const char *s);

/*
 * The length of s[0, len) without a trailing incomplete sequence: where a well-formed string
 * was cut at len bytes (snprintf into a buffer too small), the cut at a character boundary.
 */
size_t utf8_trim_partial(const char *s, size_t len);

/*
 * s as a JSON string, quotes included, to f: ill-formed UTF-8 as U+FFFD, quotes, backslashes
 * and control characters escaped. 0, or -ENOMEM.
 */
int utf8_json_string(FILE *f, const char *s);

/*
 * s as text for a terminal or a log line, to f: C0 controls, DEL and ill-formed bytes as
 * \xNN, C1 controls (U+0080-U+009F) as \uNNNN, characters in quote (NULL: none) after a
 * backslash; all else as it is. Nothing in s can move the cursor, change colours or start a
 * line of its own.
 */
void utf8_print_text(FILE *f, const char *s, const char *quote);

#endif
