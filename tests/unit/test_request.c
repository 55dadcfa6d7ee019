// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's WriteRaw request, read back with protobuf-c's own unpacker: one series per process
 * with exactly the labels the agent gives (a comm that is not UTF-8 sanitized, no cgroup label
 * for "/", container_id from a container runtime's cgroup, --label ones after ours and never
 * replacing one), each series holding the very pprof bytes given, which decode as the pprof the
 * profile builder made.
 */
#include "check.h"
#include "model.h"
#include "parca.pb-c.h"
#include "pprof.h"
#include "request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define MAX_EXPECTED 10

struct expected_series {
	struct series_label labels[MAX_EXPECTED];
	size_t nlabels;
	uint64_t samples; /* the value of the pprof's one sample */
};

/* A gzip'ed pprof as the agent's profile builder makes them, with one sample of n. */
static void *make_pprof(int64_t n, size_t *ret_len)
{
	struct profile *p = profile__new();
	int64_t values[2] = { n, n * 10101010 };
	void *buf = NULL;

	CHECK(p != NULL);
	if (!p)
		return NULL;
	CHECK_INT(profile__add_sample_type(p, "samples", "count"), 0);
	CHECK_INT(profile__add_sample_type(p, "cpu", "nanoseconds"), 0);
	p->period_type.type = profile__intern(p, "cpu");
	p->period_type.unit = profile__intern(p, "nanoseconds");
	p->period = 10101010;
	CHECK_INT(profile__add_sample(p, NULL, 0, values, NULL, 0), 0);
	CHECK_INT(pprof__encode_level(p, 1, &buf, ret_len), 0);
	profile__free(p);
	return buf;
}

static void check_pprof(const ProtobufCBinaryData *raw, uint64_t samples)
{
	struct profile *p = NULL;
	char err[256] = "";

	CHECK_INT(pprof__decode(raw->data, raw->len, &p, err, sizeof(err)), 0);
	if (!p) {
		fprintf(stderr, "pprof__decode: %s\n", err);
		return;
	}
	CHECK_INT(p->nsample_types, 2);
	if (p->nsample_types == 2) {
		CHECK_STR(profile__str(p, p->sample_types[0].type), "samples");
		CHECK_STR(profile__str(p, p->sample_types[0].unit), "count");
		CHECK_STR(profile__str(p, p->sample_types[1].type), "cpu");
		CHECK_STR(profile__str(p, p->sample_types[1].unit), "nanoseconds");
	}
	CHECK_INT(p->nsamples, 1);
	if (p->nsamples == 1)
		CHECK_INT(p->samples[0].values[0], samples);
	profile__free(p);
}

static void check_series(const Parca__Profilestore__V1alpha1__RawProfileSeries *s,
			 const struct expected_series *want, const void *pprof, size_t pprof_len)
{
	CHECK(s->labels != NULL);
	if (!s->labels)
		return;
	CHECK_INT(s->labels->n_labels, want->nlabels);
	for (size_t i = 0; i < s->labels->n_labels && i < want->nlabels; i++) {
		CHECK_STR(s->labels->labels[i]->name, want->labels[i].name);
		CHECK_STR(s->labels->labels[i]->value, want->labels[i].value);
	}
	CHECK_INT(s->n_samples, 1);
	if (s->n_samples != 1)
		return;
	CHECK_INT(s->samples[0]->raw_profile.len, pprof_len);
	CHECK(s->samples[0]->raw_profile.len == pprof_len &&
	      !memcmp(s->samples[0]->raw_profile.data, pprof, pprof_len));
	check_pprof(&s->samples[0]->raw_profile, want->samples);
}

static void check_request(void)
{
	static const struct series_label extra[] = {
		{ "pid", "from-the-command-line" }, /* ours wins */
		{ "team", "infra" },
	};
	struct request_opts o = { .node = "node-1", .extra = extra, .nextra = 2 };
	const struct expected_series want[] = {
		{ .labels = { { "__name__", "parca_agent" },
			      { "node", "node-1" },
			      { "pid", "41" },
			      { "comm", "bad\xef\xbf\xbd"
					"comm" }, /* U+FFFD for the stray byte */
			      { "executable", "/usr/bin/bad" },
			      { "team", "infra" } },
		  .nlabels = 6,
		  .samples = 3 },
		{ .labels = { { "__name__", "parca_agent" },
			      { "node", "node-1" },
			      { "pid", "4242" },
			      { "comm", "nginx" },
			      { "executable", "/usr/sbin/nginx" },
			      { "cgroup", "/system.slice/docker-" CID ".scope" },
			      { "container_id", CID },
			      { "systemd_unit", "docker-" CID ".scope" },
			      { "team", "infra" } },
		  .nlabels = 9,
		  .samples = 5 },
		{ .labels = { { "__name__", "parca_agent" },
			      { "node", "node-1" },
			      { "pid", "7" },
			      { "comm", "kworker" },
			      { "team", "infra" } },
		  .nlabels = 5,
		  .samples = 7 },
	};
	struct request *r = request__new(&o);
	Parca__Profilestore__V1alpha1__WriteRawRequest *req;
	void *pprof[3];
	size_t pprof_len[3], len = 0;
	uint8_t *buf = NULL;

	CHECK(r != NULL);
	if (!r)
		return;
	CHECK_INT(request__series(r), 0);
	for (int i = 0; i < 3; i++) {
		void *p = make_pprof(want[i].samples, &pprof_len[i]);

		/* a copy to compare with: the request owns (and frees) what it is given */
		pprof[i] = malloc(pprof_len[i]);
		CHECK(p && pprof[i]);
		if (!p || !pprof[i])
			return;
		memcpy(pprof[i], p, pprof_len[i]);
		switch (i) {
		case 0:
			CHECK_INT(request__add_series(r, 41,
						      "bad\xff"
						      "comm",
						      "/usr/bin/bad", "/", p, pprof_len[i]),
				  0);
			break;
		case 1:
			CHECK_INT(request__add_series(r, 4242, "nginx", "/usr/sbin/nginx",
						      "/system.slice/docker-" CID ".scope", p,
						      pprof_len[i]),
				  0);
			break;
		default:
			CHECK_INT(request__add_series(r, 7, "kworker", NULL, NULL, p, pprof_len[i]),
				  0);
		}
	}
	CHECK_INT(request__series(r), 3);
	CHECK_INT(request__pack(r, &buf, &len), 0);
	request__free(r);
	CHECK(buf != NULL && len > 0);
	req = parca__profilestore__v1alpha1__write_raw_request__unpack(NULL, len, buf);
	CHECK(req != NULL);
	if (req) {
		CHECK_INT(req->n_series, 3);
		for (size_t i = 0; i < req->n_series && i < 3; i++)
			check_series(req->series[i], &want[i], pprof[i], pprof_len[i]);
		parca__profilestore__v1alpha1__write_raw_request__free_unpacked(req, NULL);
	}
	free(buf);
	for (int i = 0; i < 3; i++)
		free(pprof[i]);
}

/* No series: nothing to send, and no buffer. */
static void check_empty(void)
{
	struct request *r = request__new(&(struct request_opts){ .node = "n" });
	uint8_t *buf = (uint8_t *)"not touched";
	size_t len = 99;

	CHECK(r != NULL);
	if (!r)
		return;
	CHECK_INT(request__pack(r, &buf, &len), 0);
	CHECK(buf == NULL);
	CHECK_INT(len, 0);
	request__free(r);
	request__free(NULL);
}

int main(void)
{
	check_request();
	check_empty();
	return check_done("request");
}
