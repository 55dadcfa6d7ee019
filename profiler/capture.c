// SPDX-License-Identifier: LGPL-2.1-or-later
/* The capture pipeline that every command shares: session -> collector -> windows (capture.h). */
#include "capture.h"
#include "bpf_syms.h"
#include "collect.h"
#include "session.h"
#include "symbolizer.h"
#include "util.h"
#include "window.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct capture {
	struct capture_opts opts;
	struct bpf_syms *bpfsyms;
	struct symbolizer *sym;
	struct collector *col;
	struct session *sess;
	struct window *windows[COLLECTOR_MAX_WINDOWS];
	size_t nwindows;
	uint64_t last_drain;
	bool finished;
};

static void on_event(void *ctx, const struct scorch_event *e)
{
	struct capture *c = ctx;

	collector__event(c->col, e);
}

static void on_raw_sample(void *ctx, const struct scorch_raw_sample *raw)
{
	struct capture *c = ctx;

	collector__raw_sample(c->col, raw);
}

static void use_frame_pointers(void *ctx, uint32_t pid, uint32_t seq, bool keeps)
{
	struct capture *c = ctx;

	session__use_frame_pointers(c->sess, pid, seq, keeps);
}

static int use_python(void *ctx, uint32_t pid, const struct scorch_py_proc *py)
{
	struct capture *c = ctx;

	return session__set_python(c->sess, pid, py);
}

static int use_stack_range(void *ctx, uint32_t tid, const struct scorch_stack_range *r)
{
	struct capture *c = ctx;

	return session__set_stack_range(c->sess, tid, r);
}

struct capture *capture__new(const struct capture_opts *opts, char *err, size_t errlen)
{
	struct symbolizer_opts sopts = { .warn = opts->warn,
					 .warn_ctx = opts->warn_ctx,
					 .cache_dir = opts->cache_dir,
					 .debug_dirs = opts->debug_dirs,
					 .ndebug_dirs = opts->ndebug_dirs,
					 .debug_file_dwarf = opts->debug_lines,
					 .max_symbol_bytes = opts->max_symbol_bytes };
	struct session_opts so = { .freq = opts->freq,
				   .pids = opts->pids,
				   .npids = opts->npids,
				   .follow_forks = opts->follow_forks,
				   .cgroup_fd = opts->cgroup_fd,
				   .drain_interval_s = opts->drain_interval_s,
				   .btf_path = opts->btf_path,
				   .kernel_btf = opts->kernel_btf,
				   .cache_dir = opts->cache_dir,
				   .counts_entries = opts->counts_entries,
				   .stacks_entries = opts->stacks_entries,
				   .unwind = opts->unwind,
				   .program = opts->program,
				   .stack_copy = opts->stack_copy,
				   .sample_ring_bytes = opts->sample_ring_bytes,
				   .on_event = on_event,
				   .on_raw_sample = on_raw_sample };
	struct capture *c = calloc(1, sizeof(*c));
	int e;

	if (!c) {
		fail_with(err, errlen, -ENOMEM, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	c->opts = *opts;
	c->bpfsyms = bpf_syms__new(); /* without it, kallsyms alone names BPF programs */
	sopts.name_kernel = c->bpfsyms ? bpf_syms__name : NULL;
	sopts.name_kernel_ctx = c->bpfsyms;
	c->sym = symbolizer__new(&sopts);
	c->col = c->sym ? collector__new(c->sym) : NULL;
	if (!c->col) {
		fail_with(err, errlen, -ENOMEM, "out of memory");
		e = ENOMEM;
		goto fail;
	}
	so.ctx = c;
	c->sess = session__open(&so, err, errlen);
	if (!c->sess) {
		e = errno;
		goto fail;
	}
	if (opts->unwind == SCORCH_UNWIND_AUTO)
		collector__set_fp_hook(c->col, use_frame_pointers, c);
	if (!opts->no_python)
		collector__set_py_hook(c->col, use_python, c);
	/* copied stacks stop at the end of their thread's stack mapping (the current program) */
	if (opts->unwind != SCORCH_UNWIND_FP &&
	    !strcmp(session__program(c->sess, NULL), "current") &&
	    collector__set_stack_hook(c->col, use_stack_range, c)) {
		fail_with(err, errlen, -ENOMEM, "out of memory");
		e = ENOMEM;
		goto fail;
	}
	c->last_drain = now_ns(CLOCK_MONOTONIC);
	return c;
fail:
	capture__free(c);
	errno = e;
	return NULL;
}

void capture__free(struct capture *c)
{
	if (!c)
		return;
	session__free(c->sess);
	for (size_t i = 0; i < c->nwindows; i++)
		window__free(c->windows[i]);
	collector__free(c->col);
	symbolizer__free(c->sym);
	bpf_syms__free(c->bpfsyms);
	free(c);
}

int capture__add_pid(struct capture *c, pid_t pid)
{
	return session__add_pid(c->sess, pid);
}

/* Events first (snapshots of new processes), then every count and stack into the windows. */
static int drain(struct capture *c, bool final)
{
	int r;

	collector__next_round(c->col);
	session__poll(c->sess, 0);
	r = session__drain(c->sess, collector__drain_ops(c->col), final);
	c->last_drain = now_ns(CLOCK_MONOTONIC);
	return r;
}

int capture__drain(struct capture *c)
{
	return c->finished ? 0 : drain(c, false);
}

int capture__finish(struct capture *c)
{
	if (c->finished)
		return 0;
	c->finished = true;
	/* no more samples; then events first: snapshots of the processes seen last */
	session__stop(c->sess);
	return drain(c, true);
}

int capture__step(struct capture *c, uint64_t deadline_ns)
{
	uint64_t interval = (uint64_t)(c->opts.drain_interval_s * 1e9), now, wake;
	int r;

	if (c->finished)
		return 0;
	now = now_ns(CLOCK_MONOTONIC);
	if (now - c->last_drain >= interval) {
		r = drain(c, false);
		return r < 0 ? r : 1;
	}
	/*
	 * Sleep until the next drain or the caller's deadline. Process events wake us at once,
	 * and so do signals. Copied stacks are unwound at least every unwind_poll_ms, and sooner
	 * when their ring fills.
	 */
	wake = c->last_drain + interval;
	if (c->opts.unwind != SCORCH_UNWIND_FP && c->opts.unwind_poll_ms &&
	    now + c->opts.unwind_poll_ms * 1000000ULL < wake)
		wake = now + c->opts.unwind_poll_ms * 1000000ULL;
	if (deadline_ns < wake)
		wake = deadline_ns;
	r = session__poll(c->sess, wake > now ? (int)((wake - now + 999999) / 1000000) : 0);
	return r < 0 ? r : 0;
}

struct window *capture__open_window(struct capture *c)
{
	struct window *w;
	int r;

	if (c->nwindows >= COLLECTOR_MAX_WINDOWS) {
		errno = E2BIG;
		return NULL;
	}
	w = window__new();
	if (!w)
		return NULL;
	r = collector__attach(c->col, w);
	if (r) {
		window__free(w);
		errno = -r;
		return NULL;
	}
	c->windows[c->nwindows++] = w;
	return w;
}

void capture__close_window(struct capture *c, struct window *w)
{
	for (size_t i = 0; w && i < c->nwindows; i++)
		if (c->windows[i] == w) {
			collector__detach(c->col, w);
			window__free(w);
			memmove(c->windows + i, c->windows + i + 1,
				(c->nwindows - i - 1) * sizeof(*c->windows));
			c->nwindows--;
			return;
		}
}

int capture__next_interval(struct capture *c, struct window *w)
{
	int r = window__clear(w);

	if (!r)
		collector__end_interval(c->col);
	return r;
}

void capture__collector_stats(const struct capture *c, struct collector_stats *ret)
{
	collector__stats(c->col, ret);
}

struct symbolizer *capture__symbolizer(const struct capture *c)
{
	return c->sym;
}

const char *capture__program(const struct capture *c, const char **ret_why)
{
	return session__program(c->sess, ret_why);
}

unsigned int capture__ncpus(const struct capture *c)
{
	return session__ncpus(c->sess);
}

int capture__stats(struct capture *c, uint64_t ret[SCORCH_STAT_MAX])
{
	return session__stats(c->sess, ret);
}

uint64_t capture__last_drain(const struct capture *c)
{
	return c->last_drain;
}
