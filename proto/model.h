/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The in-memory profile: interned strings, mappings, functions, locations and samples, mirroring
 * pprof. Ids are 1-based table positions, as pprof and Parca want them. The BPF collector and the
 * pprof reader fill it; every output reads it.
 */
#ifndef SCORCH_MODEL_H
#define SCORCH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PROFILE_MAX_VALUES 8

struct prof_value_type {
	uint32_t type, unit; /* string indexes */
};

struct prof_mapping {
	uint64_t start, limit, offset;
	uint32_t filename, build_id; /* string indexes */
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

struct prof_function {
	uint32_t name, system_name, filename; /* string indexes */
	int64_t start_line;
};

struct prof_line {
	uint64_t function; /* function id */
	int64_t line;
	int64_t column;
};

struct prof_location {
	uint64_t mapping; /* mapping id or 0 */
	uint64_t address;
	uint32_t nlines;
	struct prof_line *lines; /* innermost first */
	bool is_folded;
};

struct prof_label {
	uint32_t key, str, num_unit; /* string indexes */
	int64_t num;
};

struct prof_sample {
	uint32_t nlocs, nlabels;
	uint64_t *locs; /* location ids, leaf first */
	int64_t values[PROFILE_MAX_VALUES];
	struct prof_label *labels;
};

struct profile {
	char **strings;
	size_t nstrings, cap_strings;
	struct prof_value_type sample_types[PROFILE_MAX_VALUES];
	uint32_t nsample_types;
	struct prof_mapping *mappings;
	size_t nmappings, cap_mappings;
	struct prof_function *functions;
	size_t nfunctions, cap_functions;
	struct prof_location *locations;
	size_t nlocations, cap_locations;
	struct prof_sample *samples;
	size_t nsamples, cap_samples;
	int64_t time_nanos, duration_nanos, period;
	struct prof_value_type period_type;
	uint32_t default_sample_type; /* string index of the preferred type, 0 if unset */
	uint32_t *comments;
	size_t ncomments;
	struct hmap *string_index, *function_index, *location_index;
};

struct profile *profile__new(void);
void profile__free(struct profile *p);

/* Intern a string; returns its index, or 0 with errno set on allocation failure. */
uint32_t profile__intern(struct profile *p, const char *s);
static inline const char *profile__str(const struct profile *p, uint32_t i)
{
	return i < p->nstrings ? p->strings[i] : "";
}

int profile__add_sample_type(struct profile *p, const char *type, const char *unit);
/* Append a mapping; returns its id, or 0 with errno set. */
uint64_t profile__add_mapping(struct profile *p, const struct prof_mapping *m);
/* Find or add a function; returns its id, or 0 with errno set. */
uint64_t profile__function(struct profile *p, const char *name, const char *system_name,
			   const char *filename, int64_t start_line);
/* Find or add a location (same mapping, address and lines); returns its id, or 0. */
uint64_t profile__location(struct profile *p, uint64_t mapping, uint64_t address,
			   const struct prof_line *lines, uint32_t nlines);
/* Append a sample; the arrays are copied. 0 or -ENOMEM. */
int profile__add_sample(struct profile *p, const uint64_t *locs, uint32_t nlocs,
			const int64_t *values, const struct prof_label *labels, uint32_t nlabels);

/*
 * Profiles of parts of p in one pass over its samples: group[i] names sample i's part (below
 * ngroups, or UINT32_MAX for none). ret[g] gets the samples of part g in their order, with only
 * the mappings, functions, locations and strings they use, and p's sample types, period, times
 * and comments. 0, or -ENOMEM with every ret[g] NULL.
 */
int profile__split(const struct profile *p, const uint32_t *group, uint32_t ngroups,
		   struct profile **ret);

/*
 * Keep only the sample type at index vi: the others' values go, it becomes the default type.
 * -EINVAL when there is no such type.
 */
int profile__keep_value(struct profile *p, uint32_t vi);

/* Index of the sample type to show by default: default_sample_type, else the last one. */
uint32_t profile__default_value(const struct profile *p);
/* Index of the sample type called name, or -1. */
int profile__value_index(const struct profile *p, const char *name);

/* A location's display name for one of its lines (or the mapping+offset when it has none). */
void profile__frame_name(const struct profile *p, const struct prof_location *loc, uint32_t line,
			 char *buf, size_t size);
static inline bool profile__is_kernel_address(uint64_t addr)
{
	return addr >> 63; /* the upper half of the address space, as on x86-64 and arm64 */
}

/* Write folded stacks (root first, "_[k]" after kernel frames) using the value at index vi. */
int profile__write_folded(const struct profile *p, uint32_t vi, FILE *f);

struct folded_opts {
	/*
	 * Each stack starts with its sample's process name (its "comm" label), as perf's
	 * stackcollapse and libbpf-tools' profile -f write them; "comm-PID" with per_pid (the
	 * "pid" label). Samples without the label start with neither.
	 */
	bool comm_root;
	bool per_pid;
};
int profile__write_folded_opts(const struct profile *p, uint32_t vi, const struct folded_opts *o,
			       FILE *f);
/* The string indexes of the label keys "comm" and "pid" (0: absent). */
void profile__label_keys(const struct profile *p, uint32_t *ret_comm, uint32_t *ret_pid);
/*
 * A sample's process as a frame, "comm" or (per_pid) "comm-PID", from the labels whose keys
 * profile__label_keys() gave, into buf. Its length; 0 when the sample has no comm.
 */
size_t profile__comm_frame(const struct profile *p, const struct prof_sample *s, uint32_t kcomm,
			   uint32_t kpid, bool per_pid, char *buf, size_t size);
/* Whether any sample carries a string label called key ("comm"). */
bool profile__has_label(const struct profile *p, const char *key);

#endif
