// SPDX-License-Identifier: LGPL-2.1-or-later
/* pprof encoding and decoding between the profile model and gzip'ed protobuf (protobuf-c). */
#include "model.h"
#include "pprof.h"
#include "hashmap.h"
#include "pb_budget.h"
#include "utf8.h"
#include "util.h"
#include "profile.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/*
 * What reading a profile may cost per byte of the file as given, plus a constant for small files
 * (see struct pprof_limits): without them a 16 KB gzip file of empty samples unpacks into 1 GB.
 * tests/bench/decode_cost measured real profiles (scorch captures of the whole machine, of
 * compilers, of Python and of recursive workloads at up to 9999 Hz; Go runtime/pprof CPU
 * profiles; folded text gzip'ed with -9) at most 10.4 decompressed bytes per byte for pprof and
 * 27.9 for folded text, and at most 128 bytes unpacked by protobuf-c per byte (a capture of a
 * recursive workload; Go profiles 18); deeper recursions at 9999 Hz were seen later at 44.5 and
 * 384. The limits leave about three times that: 128 and 1024, so a 16 KB file decodes into at
 * most 20 MB. The model built afterwards holds at most twice what
 * protobuf-c unpacked (distinct strings do that; real profiles 0.4 to 0.6), so it is bounded too.
 */
#define PPROF_PLAIN_PER_BYTE 128
#define PPROF_PLAIN_BASE (1ULL << 20)
#define PPROF_DECODED_PER_BYTE 1024
#define PPROF_DECODED_BASE (4ULL << 20)
#define PPROF_MAX_DECODED (4ULL << 30)
/*
 * Frames all samples may expand into (struct pprof_limits.max_frames), per byte of the file as
 * given plus a constant: a 140-byte file of one location with 1000 lines, repeated 20000 times
 * in a sample, made flame take 3 GB. tests/bench/decode_cost measured real profiles at most
 * 42.6 frames per byte: scorch captures of a 480-deep recursion at 9999 Hz (DWARF unwinding,
 * stacks of up to 509 frames, 10 and 30 s alike); 15-21 for shallower recursions, 18 with
 * inlined frames, 0.1-0.6 for whole machines, Python and builds; Go runtime/pprof profiles
 * 1.5 at most (Go merges identical stacks); folded text gzip'ed -9 14.6. The bound leaves 4.5
 * times that, and 128 Ki frames (two samples of the most frames) for small files: a 16 KB file
 * expands into at most 3.3 million frames.
 */
#define PPROF_FRAMES_PER_BYTE 192
#define PPROF_FRAMES_BASE (128ULL << 10)
/*
 * Bytes of names those frames show (struct pprof_limits.max_text: each frame's name as cut to
 * 511 bytes, each sample's label strings), per byte of the file plus a constant: a 6 KB file
 * of frames with 512-byte names made a 655 MB folded file. tests/bench/decode_cost measured
 * 244 bytes per byte for a 480-deep recursion at 4999 Hz (26 frames a byte, short names) and
 * 1.5 for a whole machine; C++ names of ~190 bytes at the 42.6 frames a byte seen above would
 * make 8 KB, the bound, and 32 MB for small files (a 6 KB file: at most 80 MB of names).
 */
#define PPROF_TEXT_PER_BYTE 8192
#define PPROF_TEXT_BASE (32ULL << 20)

typedef Perftools__Profiles__Profile PbProfile;
typedef Perftools__Profiles__ValueType PbValueType;
typedef Perftools__Profiles__Sample PbSample;
typedef Perftools__Profiles__Label PbLabel;
typedef Perftools__Profiles__Mapping PbMapping;
typedef Perftools__Profiles__Location PbLocation;
typedef Perftools__Profiles__Line PbLine;
typedef Perftools__Profiles__Function PbFunction;

static int gzip_buffer(const void *in, size_t len, int level, void **ret_buf, size_t *ret_len)
{
	z_stream zs = { 0 };
	size_t cap;
	unsigned char *out;
	int zr, wbits = 9;

	/*
	 * A window no larger than the input loses nothing, and a small one (with a hash table to
	 * match) is much cheaper to set up: the agent compresses many small profiles.
	 */
	while (wbits < 15 && ((size_t)1 << wbits) < len)
		wbits++;
	if (deflateInit2(&zs, level, Z_DEFLATED, wbits + 16, wbits - 7, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	cap = deflateBound(&zs, len) + 64;
	out = malloc(cap);
	if (!out) {
		deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (unsigned char *)in;
	zs.avail_in = len;
	zs.next_out = out;
	zs.avail_out = cap;
	zr = deflate(&zs, Z_FINISH);
	deflateEnd(&zs);
	if (zr != Z_STREAM_END) {
		free(out);
		return -EIO;
	}
	*ret_buf = out;
	*ret_len = zs.total_out;
	return 0;
}

int pprof__encode(const struct profile *p, bool gzip, void **ret_buf, size_t *ret_len)
{
	/* the fastest level, as Go's runtime/pprof writes its profiles: 2.5x faster than 6, 14 % larger */
	return pprof__encode_level(p, gzip ? 1 : 0, ret_buf, ret_len);
}

int pprof__encode_level(const struct profile *p, int level, void **ret_buf, size_t *ret_len)
{
	PbProfile pb = PERFTOOLS__PROFILES__PROFILE__INIT;
	PbValueType st[PROFILE_MAX_VALUES], *stp[PROFILE_MAX_VALUES],
	    period_type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	PbMapping *maps = NULL, **mapp = NULL;
	PbFunction *funcs = NULL, **funcp = NULL;
	PbLocation *locs = NULL, **locp = NULL;
	PbLine *lines = NULL, **linep = NULL;
	PbSample *samples = NULL, **samplep = NULL;
	PbLabel *labels = NULL, **labelp = NULL;
	int64_t *values = NULL, *comments = NULL;
	size_t nlines = 0, nlabels = 0, len, li = 0, lab = 0;
	uint8_t *raw = NULL;
	int err = -ENOMEM;

	for (size_t i = 0; i < p->nlocations; i++)
		nlines += p->locations[i].nlines;
	for (size_t i = 0; i < p->nsamples; i++)
		nlabels += p->samples[i].nlabels;

	maps = calloc(p->nmappings + 1, sizeof(*maps));
	mapp = calloc(p->nmappings + 1, sizeof(*mapp));
	funcs = calloc(p->nfunctions + 1, sizeof(*funcs));
	funcp = calloc(p->nfunctions + 1, sizeof(*funcp));
	locs = calloc(p->nlocations + 1, sizeof(*locs));
	locp = calloc(p->nlocations + 1, sizeof(*locp));
	lines = calloc(nlines + 1, sizeof(*lines));
	linep = calloc(nlines + 1, sizeof(*linep));
	samples = calloc(p->nsamples + 1, sizeof(*samples));
	samplep = calloc(p->nsamples + 1, sizeof(*samplep));
	labels = calloc(nlabels + 1, sizeof(*labels));
	labelp = calloc(nlabels + 1, sizeof(*labelp));
	values = calloc(p->nsamples * p->nsample_types + 1, sizeof(*values));
	comments = calloc(p->ncomments + 1, sizeof(*comments));
	if (!maps || !mapp || !funcs || !funcp || !locs || !locp || !lines || !linep || !samples ||
	    !samplep || !labels || !labelp || !values || !comments)
		goto out;

	for (uint32_t i = 0; i < p->nsample_types; i++) {
		perftools__profiles__value_type__init(&st[i]);
		st[i].type = p->sample_types[i].type;
		st[i].unit = p->sample_types[i].unit;
		stp[i] = &st[i];
	}
	pb.n_sample_type = p->nsample_types;
	pb.sample_type = stp;

	for (size_t i = 0; i < p->nmappings; i++) {
		const struct prof_mapping *m = &p->mappings[i];
		PbMapping *o = &maps[i];

		perftools__profiles__mapping__init(o);
		o->id = i + 1;
		o->memory_start = m->start;
		o->memory_limit = m->limit;
		o->file_offset = m->offset;
		o->filename = m->filename;
		o->build_id = m->build_id;
		o->has_functions = m->has_functions;
		o->has_filenames = m->has_filenames;
		o->has_line_numbers = m->has_line_numbers;
		o->has_inline_frames = m->has_inline_frames;
		mapp[i] = o;
	}
	pb.n_mapping = p->nmappings;
	pb.mapping = mapp;

	for (size_t i = 0; i < p->nfunctions; i++) {
		const struct prof_function *f = &p->functions[i];
		PbFunction *o = &funcs[i];

		perftools__profiles__function__init(o);
		o->id = i + 1;
		o->name = f->name;
		o->system_name = f->system_name;
		o->filename = f->filename;
		o->start_line = f->start_line;
		funcp[i] = o;
	}
	pb.n_function = p->nfunctions;
	pb.function = funcp;

	for (size_t i = 0; i < p->nlocations; i++) {
		const struct prof_location *l = &p->locations[i];
		PbLocation *o = &locs[i];

		perftools__profiles__location__init(o);
		o->id = i + 1;
		o->mapping_id = l->mapping;
		o->address = l->address;
		o->is_folded = l->is_folded;
		o->line = linep + li;
		o->n_line = l->nlines;
		for (uint32_t j = 0; j < l->nlines; j++, li++) {
			perftools__profiles__line__init(&lines[li]);
			lines[li].function_id = l->lines[j].function;
			lines[li].line = l->lines[j].line;
			lines[li].column = l->lines[j].column;
			linep[li] = &lines[li];
		}
		locp[i] = o;
	}
	pb.n_location = p->nlocations;
	pb.location = locp;

	for (size_t i = 0; i < p->nsamples; i++) {
		const struct prof_sample *s = &p->samples[i];
		PbSample *o = &samples[i];

		perftools__profiles__sample__init(o);
		o->n_location_id = s->nlocs;
		o->location_id = s->locs;
		o->n_value = p->nsample_types;
		o->value = values + i * p->nsample_types;
		memcpy(o->value, s->values, p->nsample_types * sizeof(*values));
		o->n_label = s->nlabels;
		o->label = labelp + lab;
		for (uint32_t j = 0; j < s->nlabels; j++, lab++) {
			perftools__profiles__label__init(&labels[lab]);
			labels[lab].key = s->labels[j].key;
			labels[lab].str = s->labels[j].str;
			labels[lab].num = s->labels[j].num;
			labels[lab].num_unit = s->labels[j].num_unit;
			labelp[lab] = &labels[lab];
		}
		samplep[i] = o;
	}
	pb.n_sample = p->nsamples;
	pb.sample = samplep;

	pb.n_string_table = p->nstrings;
	pb.string_table = p->strings;
	pb.time_nanos = p->time_nanos;
	pb.duration_nanos = p->duration_nanos;
	period_type.type = p->period_type.type;
	period_type.unit = p->period_type.unit;
	pb.period_type = &period_type;
	pb.period = p->period;
	pb.default_sample_type = p->default_sample_type;
	for (size_t i = 0; i < p->ncomments; i++)
		comments[i] = p->comments[i];
	pb.n_comment = p->ncomments;
	pb.comment = comments;

	len = perftools__profiles__profile__get_packed_size(&pb);
	raw = malloc(len ? len : 1);
	if (!raw)
		goto out;
	perftools__profiles__profile__pack(&pb, raw);
	if (level > 0) {
		err = gzip_buffer(raw, len, level, ret_buf, ret_len);
	} else {
		*ret_buf = TAKE_PTR(raw);
		*ret_len = len;
		err = 0;
	}
out:
	free(raw);
	free(maps);
	free(mapp);
	free(funcs);
	free(funcp);
	free(locs);
	free(locp);
	free(lines);
	free(linep);
	free(samples);
	free(samplep);
	free(labels);
	free(labelp);
	free(values);
	free(comments);
	return err;
}

struct pprof_limits pprof__limits(size_t file_len)
{
	uint64_t n = file_len < PPROF_MAX_BYTES ? file_len : PPROF_MAX_BYTES;
	uint64_t plain = PPROF_PLAIN_BASE + n * PPROF_PLAIN_PER_BYTE;
	uint64_t decoded = PPROF_DECODED_BASE + n * PPROF_DECODED_PER_BYTE;

	return (struct pprof_limits){
		.file_len = file_len,
		.max_plain = plain < PPROF_MAX_BYTES ? plain : PPROF_MAX_BYTES,
		.max_decoded = decoded < PPROF_MAX_DECODED ? decoded : PPROF_MAX_DECODED,
		.max_frames = PPROF_FRAMES_BASE + n * PPROF_FRAMES_PER_BYTE,
		.max_text = PPROF_TEXT_BASE + n * PPROF_TEXT_PER_BYTE,
	};
}

/* A size for messages: "512 bytes", "16 KB", "24 MB", "4 GB" (rounded to the nearest). */
static const char *format_size(uint64_t n, char *buf, size_t size)
{
	if (n < 1024)
		snprintf(buf, size, "%llu bytes", (unsigned long long)n);
	else if (n < (1ULL << 20))
		snprintf(buf, size, "%llu KB", (unsigned long long)((n + 512) >> 10));
	else if (n < (1ULL << 30))
		snprintf(buf, size, "%llu MB", (unsigned long long)((n + (1ULL << 19)) >> 20));
	else
		snprintf(buf, size, "%llu GB", (unsigned long long)((n + (1ULL << 29)) >> 30));
	return buf;
}

int pprof__refuse(const struct pprof_limits *lim, char *err, size_t errlen)
{
	char a[32], b[32];

	return fail_with(
	    err, errlen, -EFBIG, "profile needs more than %s to decode (file of %s); refusing",
	    format_size(lim->max_decoded, a, sizeof(a)), format_size(lim->file_len, b, sizeof(b)));
}

/* A count for messages: "900 thousand", "3 million" (rounded to the nearest). */
static const char *format_count(uint64_t n, char *buf, size_t size)
{
	if (n < 10000)
		snprintf(buf, size, "%llu", (unsigned long long)n);
	else if (n < 10000000)
		snprintf(buf, size, "%llu thousand", (unsigned long long)((n + 500) / 1000));
	else
		snprintf(buf, size, "%llu million", (unsigned long long)((n + 500000) / 1000000));
	return buf;
}

int pprof__refuse_frames(const struct pprof_limits *lim, char *err, size_t errlen)
{
	char a[32], b[32];

	return fail_with(
	    err, errlen, -EFBIG, "profile expands into more than %s frames (file of %s); refusing",
	    format_count(lim->max_frames, a, sizeof(a)), format_size(lim->file_len, b, sizeof(b)));
}

int pprof__refuse_text(const struct pprof_limits *lim, char *err, size_t errlen)
{
	char a[32], b[32];

	return fail_with(err, errlen, -EFBIG,
			 "profile's frames carry more than %s of names (file of %s); refusing",
			 format_size(lim->max_text, a, sizeof(a)),
			 format_size(lim->file_len, b, sizeof(b)));
}

/* A string's length as frames show it: names are cut to a frame's 511 bytes. */
static size_t shown_len(const struct profile *p, uint64_t i, const size_t *lens)
{
	size_t n = i < p->nstrings && p->strings[i] ? lens ? lens[i] : strlen(p->strings[i]) : 0;

	return n < 511 ? n : 511;
}

/* What a frame without a function name shows: "FILE+0xADDR" of its mapping, or "[unknown] 0x...". */
static uint64_t address_text(const struct profile *p, const struct prof_location *l,
			     const size_t *lens)
{
	if (!l->mapping || l->mapping > p->nmappings)
		return 28;
	/* its base name, at most the whole file name: counted as that */
	return shown_len(p, p->mappings[l->mapping - 1].filename, lens) + 19;
}

static uint64_t location_text(const struct profile *p, const struct prof_location *l,
			      const size_t *lens)
{
	uint64_t n = 0;

	/* each line as profile__frame_name() names it */
	for (uint32_t k = 0; k < l->nlines; k++) {
		const struct prof_function *f =
		    l->lines[k].function && l->lines[k].function <= p->nfunctions
			? &p->functions[l->lines[k].function - 1]
			: NULL;
		size_t len = f ? shown_len(p, f->name, lens) : 0;

		if (f && !len)
			len = shown_len(p, f->system_name, lens);
		n += (len ? len : address_text(p, l, lens)) + 1;
	}
	if (!l->nlines)
		n += address_text(p, l, lens);
	return n + 1;
}

uint64_t pprof__location_text(const struct profile *p, const struct prof_location *l)
{
	return location_text(p, l, NULL);
}

int pprof__refuse_sample(size_t i, char *err, size_t errlen)
{
	return fail_with(err, errlen, -E2BIG,
			 "sample %zu expands into more than %d frames; refusing", i,
			 PPROF_MAX_SAMPLE_FRAMES);
}

int pprof__gunzip(const void *in, size_t len, const struct pprof_limits *lim, void **ret_buf,
		  size_t *ret_len, char *err, size_t errlen)
{
	z_stream zs = { 0 };
	size_t cap = len * 4 + 4096, total = 0;
	unsigned char *out = NULL;
	bool too_large = false;
	char a[32], b[32];
	int zr;

	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return fail_with(err, errlen, -ENOMEM, "out of memory");
	zs.next_in = (unsigned char *)in;
	zs.avail_in = len;
	if (cap > lim->max_plain)
		cap = lim->max_plain;
	do {
		if (total == cap || !out) {
			unsigned char *n;

			if (out && cap == lim->max_plain) {
				too_large = true;
				break;
			}
			if (out)
				cap = cap > lim->max_plain / 2 ? lim->max_plain : cap * 2;
			n = realloc(out, cap);
			if (!n) {
				zr = Z_MEM_ERROR;
				break;
			}
			out = n;
		}
		zs.next_out = out + total;
		zs.avail_out = cap - total;
		zr = inflate(&zs, Z_NO_FLUSH);
		total = cap - zs.avail_out;
	} while (zr == Z_OK);
	inflateEnd(&zs);
	if (too_large || zr != Z_STREAM_END) {
		free(out);
		if (too_large)
			return fail_with(err, errlen, -EFBIG,
					 "decompresses to more than %s (file of %s); refusing",
					 format_size(lim->max_plain, a, sizeof(a)),
					 format_size(lim->file_len, b, sizeof(b)));
		if (zr == Z_MEM_ERROR)
			return fail_with(err, errlen, -ENOMEM, "out of memory");
		return fail_with(err, errlen, -EBADMSG, "corrupt gzip data");
	}
	*ret_buf = out;
	*ret_len = total;
	return 0;
}

/* id -> new 1-based position; ids must be unique and non-zero */
static int index_ids(struct hmap *h, uint64_t id, size_t pos)
{
	if (!id || hmap__get(h, &id, sizeof(id)))
		return -EBADMSG;
	return hmap__put(h, &id, sizeof(id), (void *)(uintptr_t)(pos + 1));
}

static uint64_t lookup_id(struct hmap *h, uint64_t id)
{
	return id ? (uintptr_t)hmap__get(h, &id, sizeof(id)) : 0;
}

static int decode_pb(const PbProfile *pb, struct profile *p, const struct pprof_limits *lim,
		     char *err, size_t errlen)
{
	struct hmap *mids = hmap__new(), *fids = hmap__new(), *lids = hmap__new();
	uint64_t *locs = NULL, frames = 0, text = 0, *loc_text = NULL;
	size_t nlocs_cap = 0, *lens = NULL;
	int r = -ENOMEM;

#define STR_OK(i) ((i) >= 0 && (uint64_t)(i) < pb->n_string_table)
	if (!mids || !fids || !lids)
		goto out;
	r = -EBADMSG;
	if (!pb->n_string_table || !pb->string_table[0] || pb->string_table[0][0]) {
		r = fail_with(err, errlen, -EBADMSG,
			      "string table must start with an empty string");
		goto out;
	}
	if (!pb->n_sample_type) {
		r = fail_with(err, errlen, -EBADMSG, "no sample types: not a profile");
		goto out;
	}
	if (pb->n_sample_type > PROFILE_MAX_VALUES) {
		r = fail_with(err, errlen, -EBADMSG, "%zu sample types, at most %d supported",
			      pb->n_sample_type, PROFILE_MAX_VALUES);
		goto out;
	}
	/*
	 * strings are copied in their places, so indexes keep their meaning; protobuf-c does not
	 * check that they are UTF-8 (proto2 and proto3 want it), so what is not is made so here,
	 * as profile__intern() does for every other string
	 */
	p->strings = calloc(pb->n_string_table, sizeof(char *));
	if (!p->strings)
		goto nomem;
	p->cap_strings = pb->n_string_table;
	for (size_t i = 0; i < pb->n_string_table; i++) {
		const char *s = pb->string_table[i] ? pb->string_table[i] : "";

		p->strings[i] = utf8_is_valid(s) ? strdup(s) : utf8_sanitize(s);
		if (!p->strings[i])
			goto nomem;
		s = p->strings[i];
		p->nstrings = i + 1;
		if (i && !hmap__get(p->string_index, s, strlen(s)) &&
		    hmap__put(p->string_index, s, strlen(s), (void *)(uintptr_t)i))
			goto nomem;
	}
	for (size_t i = 0; i < pb->n_sample_type; i++) {
		const PbValueType *v = pb->sample_type[i];

		if (!STR_OK(v->type) || !STR_OK(v->unit)) {
			r = fail_with(err, errlen, -EBADMSG,
				      "sample type %zu: string index out of range", i);
			goto out;
		}
		p->sample_types[i].type = v->type;
		p->sample_types[i].unit = v->unit;
	}
	p->nsample_types = pb->n_sample_type;
	if (pb->period_type) {
		if (!STR_OK(pb->period_type->type) || !STR_OK(pb->period_type->unit)) {
			r = fail_with(err, errlen, -EBADMSG,
				      "period type: string index out of range");
			goto out;
		}
		p->period_type.type = pb->period_type->type;
		p->period_type.unit = pb->period_type->unit;
	}
	if (!STR_OK(pb->default_sample_type) || !STR_OK(pb->drop_frames) ||
	    !STR_OK(pb->keep_frames) || !STR_OK(pb->doc_url)) {
		r = fail_with(err, errlen, -EBADMSG, "profile header: string index out of range");
		goto out;
	}
	p->default_sample_type = pb->default_sample_type;
	p->time_nanos = pb->time_nanos;
	p->duration_nanos = pb->duration_nanos;
	p->period = pb->period;

	for (size_t i = 0; i < pb->n_mapping; i++) {
		const PbMapping *m = pb->mapping[i];
		struct prof_mapping pm = {
			.start = m->memory_start,
			.limit = m->memory_limit,
			.offset = m->file_offset,
			.filename = m->filename,
			.build_id = m->build_id,
			.has_functions = m->has_functions,
			.has_filenames = m->has_filenames,
			.has_line_numbers = m->has_line_numbers,
			.has_inline_frames = m->has_inline_frames,
		};

		if (!STR_OK(m->filename) || !STR_OK(m->build_id)) {
			r = fail_with(err, errlen, -EBADMSG,
				      "mapping %zu: string index out of range", i);
			goto out;
		}
		if (index_ids(mids, m->id, i)) {
			r = fail_with(err, errlen, -EBADMSG,
				      "mapping %zu: id %llu is zero or repeated", i,
				      (unsigned long long)m->id);
			goto out;
		}
		if (!profile__add_mapping(p, &pm))
			goto nomem;
	}
	for (size_t i = 0; i < pb->n_function; i++) {
		const PbFunction *f = pb->function[i];

		if (!STR_OK(f->name) || !STR_OK(f->system_name) || !STR_OK(f->filename)) {
			r = fail_with(err, errlen, -EBADMSG,
				      "function %zu: string index out of range", i);
			goto out;
		}
		if (index_ids(fids, f->id, i)) {
			r = fail_with(err, errlen, -EBADMSG,
				      "function %zu: id %llu is zero or repeated", i,
				      (unsigned long long)f->id);
			goto out;
		}
		if (grow_array((void **)&p->functions, &p->cap_functions, i + 1,
			       sizeof(*p->functions)))
			goto nomem;
		p->functions[i] =
		    (struct prof_function){ f->name, f->system_name, f->filename, f->start_line };
		p->nfunctions = i + 1;
	}
	for (size_t i = 0; i < pb->n_location; i++) {
		const PbLocation *l = pb->location[i];
		struct prof_location *pl;

		if (index_ids(lids, l->id, i)) {
			r = fail_with(err, errlen, -EBADMSG,
				      "location %zu: id %llu is zero or repeated", i,
				      (unsigned long long)l->id);
			goto out;
		}
		if (l->mapping_id && !lookup_id(mids, l->mapping_id)) {
			r = fail_with(err, errlen, -EBADMSG,
				      "location %llu: unknown mapping id %llu",
				      (unsigned long long)l->id, (unsigned long long)l->mapping_id);
			goto out;
		}
		if (grow_array((void **)&p->locations, &p->cap_locations, i + 1,
			       sizeof(*p->locations)))
			goto nomem;
		pl = &p->locations[i];
		memset(pl, 0, sizeof(*pl));
		p->nlocations = i + 1;
		pl->mapping = lookup_id(mids, l->mapping_id);
		pl->address = l->address;
		pl->is_folded = l->is_folded;
		if (l->n_line) {
			pl->lines = calloc(l->n_line, sizeof(*pl->lines));
			if (!pl->lines)
				goto nomem;
		}
		pl->nlines = l->n_line;
		for (size_t j = 0; j < l->n_line; j++) {
			uint64_t fid = lookup_id(fids, l->line[j]->function_id);

			if (l->line[j]->function_id && !fid) {
				r = fail_with(err, errlen, -EBADMSG,
					      "location %llu: unknown function id %llu",
					      (unsigned long long)l->id,
					      (unsigned long long)l->line[j]->function_id);
				goto out;
			}
			pl->lines[j].function = fid;
			pl->lines[j].line = l->line[j]->line;
			pl->lines[j].column = l->line[j]->column;
		}
	}
	/* the names each location's frames carry, from each string's length taken once */
	lens = calloc(p->nstrings + 1, sizeof(*lens));
	loc_text = calloc(p->nlocations + 1, sizeof(*loc_text));
	if (!lens || !loc_text)
		goto nomem;
	for (size_t i = 0; i < p->nstrings; i++)
		lens[i] = p->strings[i] ? strlen(p->strings[i]) : 0;
	for (size_t i = 0; i < p->nlocations; i++)
		loc_text[i] = location_text(p, &p->locations[i], lens);
	for (size_t i = 0; i < pb->n_sample; i++) {
		const PbSample *s = pb->sample[i];
		struct prof_label *labels;
		int64_t values[PROFILE_MAX_VALUES];

		if (s->n_value != pb->n_sample_type) {
			r = fail_with(err, errlen, -EBADMSG,
				      "sample %zu: %zu values for %zu sample types", i, s->n_value,
				      pb->n_sample_type);
			goto out;
		}
		memcpy(values, s->value, s->n_value * sizeof(*values));
		if (grow_array((void **)&locs, &nlocs_cap, s->n_location_id + 1, sizeof(*locs)))
			goto nomem;
		for (size_t j = 0, n = 0; j < s->n_location_id; j++) {
			const struct prof_location *l;

			locs[j] = lookup_id(lids, s->location_id[j]);
			if (!locs[j]) {
				r = fail_with(err, errlen, -EBADMSG,
					      "sample %zu: unknown location id %llu", i,
					      (unsigned long long)s->location_id[j]);
				goto out;
			}
			/* what its readers will walk: each location once per line */
			l = &p->locations[locs[j] - 1];
			n += l->nlines ? l->nlines : 1;
			frames += l->nlines ? l->nlines : 1;
			if (n > PPROF_MAX_SAMPLE_FRAMES) {
				r = pprof__refuse_sample(i, err, errlen);
				goto out;
			}
			if (frames > lim->max_frames) {
				r = pprof__refuse_frames(lim, err, errlen);
				goto out;
			}
			text += loc_text[locs[j] - 1];
		}
		labels = calloc(s->n_label + 1, sizeof(*labels));
		if (!labels)
			goto nomem;
		for (size_t j = 0; j < s->n_label; j++) {
			const PbLabel *l = s->label[j];

			if (!STR_OK(l->key) || !STR_OK(l->str) || !STR_OK(l->num_unit)) {
				free(labels);
				r = fail_with(err, errlen, -EBADMSG,
					      "sample %zu: label string index out of range", i);
				goto out;
			}
			labels[j] = (struct prof_label){ l->key, l->str, l->num_unit, l->num };
			text += shown_len(p, (uint64_t)l->str, lens) + 1;
		}
		if (text > lim->max_text) {
			free(labels);
			r = pprof__refuse_text(lim, err, errlen);
			goto out;
		}
		r = profile__add_sample(p, locs, s->n_location_id, values, labels, s->n_label);
		free(labels);
		if (r)
			goto nomem;
	}
	for (size_t i = 0; i < pb->n_comment; i++)
		if (!STR_OK(pb->comment[i])) {
			r = fail_with(err, errlen, -EBADMSG, "comment: string index out of range");
			goto out;
		}
	r = 0;
	goto out;
nomem:
	r = fail_with(err, errlen, -ENOMEM, "out of memory");
out:
#undef STR_OK
	free(lens);
	free(loc_text);
	free(locs);
	hmap__free(mids);
	hmap__free(fids);
	hmap__free(lids);
	return r;
}

int pprof__decode(const void *buf, size_t len, struct profile **ret, char *err, size_t errlen)
{
	struct pprof_limits lim = pprof__limits(len);

	return pprof__decode_limited(buf, len, &lim, ret, err, errlen);
}

int pprof__decode_limited(const void *buf, size_t len, const struct pprof_limits *lim,
			  struct profile **ret, char *err, size_t errlen)
{
	const unsigned char *b = buf;
	struct pb_budget budget;
	void *plain = NULL;
	size_t plain_len = len;
	PbProfile *pb;
	struct profile *p;
	int r;

	if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
		r = pprof__gunzip(buf, len, lim, &plain, &plain_len, err, errlen);
		if (r)
			return r;
		buf = plain;
	}
	/* protobuf-c unpacks everything before we can look: the budget bounds what it may hold */
	pb = perftools__profiles__profile__unpack(pb_budget__init(&budget, lim->max_decoded),
						  plain_len, buf);
	free(plain);
	if (!pb && pb_budget__exceeded(&budget))
		return pprof__refuse(lim, err, errlen);
	if (!pb)
		return fail_with(err, errlen, -EBADMSG,
				 "not a pprof profile (protobuf decoding failed)");
	p = profile__new();
	if (!p) {
		perftools__profiles__profile__free_unpacked(pb, &budget.allocator);
		return fail_with(err, errlen, -ENOMEM, "out of memory");
	}
	/* decode_pb fills the string table itself */
	free(p->strings[0]);
	p->nstrings = 0;
	free(p->strings);
	p->strings = NULL;
	p->cap_strings = 0;
	r = decode_pb(pb, p, lim, err, errlen);
	perftools__profiles__profile__free_unpacked(pb, &budget.allocator);
	if (r) {
		profile__free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int pprof__read_file(const char *path, struct profile **ret, char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ unsigned char *buf = NULL;
	struct stat st;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		return fail_with(err, errlen, -errno, "cannot open: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return fail_with(err, errlen, -EINVAL, "not a regular file");
	if ((uint64_t)st.st_size > PPROF_MAX_BYTES)
		return fail_with(err, errlen, -EFBIG, "file larger than %llu bytes",
				 PPROF_MAX_BYTES);
	buf = malloc(st.st_size + 1);
	if (!buf)
		return fail_with(err, errlen, -ENOMEM, "out of memory");
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail_with(err, errlen, n < 0 ? -errno : -EIO, "read failed");
		got += n;
	}
	return pprof__decode(buf, got, ret, err, errlen);
}
