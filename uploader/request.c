// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The agent's WriteRaw request, built series by series: the labels of each process (UTF-8
 * always, ours before the operator's --label ones) and its pprof, then packed in one buffer.
 */
#include "request.h"
#include "cgroup_labels.h"
#include "parca.pb-c.h"
#include "utf8.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The labels the agent gives every series itself, at most. */
#define OWN_LABELS 9

struct request {
	struct request_opts opts;
	Parca__Profilestore__V1alpha1__RawProfileSeries **series;
	size_t nseries, cap_series;
	/* everything the request points at, freed together */
	void **owned;
	size_t nowned, cap_owned;
};

struct request *request__new(const struct request_opts *o)
{
	struct request *r = calloc(1, sizeof(*r));

	if (r)
		r->opts = *o;
	return r;
}

/* p, freed with the request from now on; NULL (and p freed) when that cannot be. */
static void *own(struct request *r, void *p)
{
	if (!p)
		return NULL;
	if (grow_array((void **)&r->owned, &r->cap_owned, r->nowned + 1, sizeof(*r->owned))) {
		free(p);
		return NULL;
	}
	r->owned[r->nowned++] = p;
	return p;
}

static char *own_copy(struct request *r, const char *s)
{
	return s ? own(r, strdup(s)) : NULL;
}

int request__add_series(struct request *r, uint32_t pid, const char *comm, const char *exe,
			const char *cgroup, void *pprof, size_t pprof_len)
{
	Parca__Profilestore__V1alpha1__RawProfileSeries *s;
	Parca__Profilestore__V1alpha1__LabelSet *ls;
	Parca__Profilestore__V1alpha1__RawSample *rs;
	Parca__Profilestore__V1alpha1__Label **labels;
	Parca__Profilestore__V1alpha1__RawSample **samples;
	struct series_label *all;
	size_t max = OWN_LABELS + r->opts.nextra, n = 0;
	char pid_text[16], cid[65], pod[37], unit[256];

	/* the pprof first: it is the request's whatever happens next */
	if (!own(r, pprof))
		return -ENOMEM;
	s = own(r, calloc(1, sizeof(*s)));
	ls = own(r, calloc(1, sizeof(*ls)));
	rs = own(r, calloc(1, sizeof(*rs)));
	labels = own(r, calloc(max, sizeof(*labels)));
	samples = own(r, calloc(1, sizeof(*samples)));
	all = own(r, calloc(max, sizeof(*all)));
	if (!s || !ls || !rs || !labels || !samples || !all)
		return -ENOMEM;
	snprintf(pid_text, sizeof(pid_text), "%u", pid);
	all[n++] = (struct series_label){ "__name__", "parca_agent" };
	all[n++] = (struct series_label){ "node", r->opts.node };
	all[n++] = (struct series_label){ "pid", own_copy(r, pid_text) };
	all[n++] = (struct series_label){ "comm", own_copy(r, comm) };
	if (exe)
		all[n++] = (struct series_label){ "executable", own_copy(r, exe) };
	if (cgroup && *cgroup && strcmp(cgroup, "/"))
		all[n++] = (struct series_label){ "cgroup", own_copy(r, cgroup) };
	if (cgroup && cgroup_container_id(cgroup, cid))
		all[n++] = (struct series_label){ "container_id", own_copy(r, cid) };
	if (cgroup && cgroup_pod_uid(cgroup, pod))
		all[n++] = (struct series_label){ "pod_uid", own_copy(r, pod) };
	if (cgroup && cgroup_systemd_unit(cgroup, unit, sizeof(unit)))
		all[n++] = (struct series_label){ "systemd_unit", own_copy(r, unit) };
	for (size_t i = 0; i < r->opts.nextra; i++) {
		bool dup = false;

		/* an external label never replaces one of ours (Parca refuses duplicates) */
		for (size_t k = 0; k < n; k++)
			dup |= !strcmp(all[k].name, r->opts.extra[i].name);
		if (!dup)
			all[n++] = r->opts.extra[i];
	}
	for (size_t i = 0; i < n; i++) {
		Parca__Profilestore__V1alpha1__Label *l = own(r, calloc(1, sizeof(*l)));
		const char *value = all[i].value;

		/*
		 * Label.value is a proto3 string: a server refuses the whole request over one that
		 * is not UTF-8, and a process names its own comm, executable and cgroup (and the
		 * node name and --label values are only bytes too)
		 */
		if (value && !utf8_is_valid(value))
			value = own(r, utf8_sanitize(value));
		if (!l || !value)
			return -ENOMEM;
		parca__profilestore__v1alpha1__label__init(l);
		l->name = (char *)all[i].name;
		l->value = (char *)value;
		labels[i] = l;
	}
	parca__profilestore__v1alpha1__label_set__init(ls);
	ls->labels = labels;
	ls->n_labels = n;
	parca__profilestore__v1alpha1__raw_sample__init(rs);
	rs->raw_profile.data = pprof;
	rs->raw_profile.len = pprof_len;
	samples[0] = rs;
	parca__profilestore__v1alpha1__raw_profile_series__init(s);
	s->labels = ls;
	s->samples = samples;
	s->n_samples = 1;
	if (grow_array((void **)&r->series, &r->cap_series, r->nseries + 1, sizeof(*r->series)))
		return -ENOMEM;
	r->series[r->nseries++] = s;
	return 0;
}

size_t request__series(const struct request *r)
{
	return r->nseries;
}

int request__pack(struct request *r, uint8_t **ret, size_t *ret_len)
{
	Parca__Profilestore__V1alpha1__WriteRawRequest req =
	    PARCA__PROFILESTORE__V1ALPHA1__WRITE_RAW_REQUEST__INIT;
	uint8_t *buf;
	size_t len;

	if (!r->nseries) {
		*ret = NULL;
		*ret_len = 0;
		return 0;
	}
	req.series = r->series;
	req.n_series = r->nseries;
	len = parca__profilestore__v1alpha1__write_raw_request__get_packed_size(&req);
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	parca__profilestore__v1alpha1__write_raw_request__pack(&req, buf);
	*ret = buf;
	*ret_len = len;
	return 0;
}

void request__free(struct request *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nowned; i++)
		free(r->owned[i]);
	free(r->owned);
	free(r->series);
	free(r);
}
