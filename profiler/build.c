// SPDX-License-Identifier: LGPL-2.1-or-later
/* The profile builder: a window's samples into the model, and split per process. */
#include "build.h"
#include "cgroup_labels.h"
#include "window.h"
#include "hashmap.h"
#include "model.h"
#include "profile.h"
#include "symbolizer.h"
#include "python.h"
#include "elf_file.h"
#include "unwind.h"
#include "util.h"

#include <errno.h>
#include <string.h>

struct builder {
	struct profile *p;
	struct symbolizer *sym;
	struct hmap *mappings; /* const sym_mapping* -> mapping id */
	struct hmap *locations; /* loc_key -> location id */
	struct hmap *origins; /* proc_key -> struct proc_labels */
	uint32_t k_unit, k_pod, k_cid, k_exe; /* label keys */
};

/* Its executable and what its cgroup says, as sample labels (string indexes, 0: none). */
struct proc_key {
	uint32_t pid, seq;
};
struct proc_labels {
	uint32_t unit, pod, cid, exe;
};

static void free_origins(struct hmap *h)
{
	void *v;

	for (size_t pos = 0; h && hmap__next(h, &pos, NULL, NULL, &v);)
		free(v);
	hmap__free(h);
}

/* The cgroup labels of a process, looked up once a build; NULL: no memory. */
static const struct proc_labels *proc_labels(struct builder *b, uint32_t pid, uint32_t seq)
{
	struct proc_key key = { pid, seq };
	struct proc_labels *l = hmap__get(b->origins, &key, sizeof(key));
	const char *exe = NULL, *cgroup = NULL;
	char cid[65], pod[37], unit[256];

	if (l)
		return l;
	l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	if (pid)
		symbolizer__process_info(b->sym, pid, seq, &exe, &cgroup);
	if (exe && *exe)
		l->exe = profile__intern(b->p, exe);
	if (cgroup && cgroup_systemd_unit(cgroup, unit, sizeof(unit)))
		l->unit = profile__intern(b->p, unit);
	if (cgroup && cgroup_pod_uid(cgroup, pod))
		l->pod = profile__intern(b->p, pod);
	if (cgroup && cgroup_container_id(cgroup, cid))
		l->cid = profile__intern(b->p, cid);
	if (hmap__put(b->origins, &key, sizeof(key), l)) {
		free(l);
		return NULL;
	}
	return l;
}

struct loc_key {
	uint32_t pid, seq; /* 0, 0 for kernel addresses and placeholders */
	uint64_t addr; /* or a Python stack word without its entry bit */
	uint32_t python; /* addr is a Python stack word */
	uint32_t pad;
};

/* The C function that runs Python frames: its frames are replaced by them. */
#define PY_EVAL_FUNCTION "_PyEval_EvalFrameDefault"

static uint64_t mapping_id(struct builder *b, const struct sym_mapping *m)
{
	struct prof_mapping pm = { 0 };
	uint64_t id = (uintptr_t)hmap__get(b->mappings, &m, sizeof(m));

	if (id)
		return id;
	pm.start = m->start;
	pm.limit = m->end;
	pm.offset = m->offset;
	pm.filename = profile__intern(b->p, m->path);
	pm.build_id = profile__intern(b->p, m->build_id ? m->build_id : "");
	pm.has_functions = m->kernel || (m->elf && elf_file__nsymbols(m->elf) > 0);
	/* DWARF gives lines, files and inlined functions */
	pm.has_filenames = pm.has_line_numbers = pm.has_inline_frames =
	    m->elf && elf_file__has_dwarf(m->elf);
	id = profile__add_mapping(b->p, &pm);
	if (id && hmap__put(b->mappings, &m, sizeof(m), (void *)(uintptr_t)id))
		return 0;
	return id;
}

/* Placeholder location keys: lost stacks by id (and kernel bit), truncations by end. */
#define PLACEHOLDER_KERNEL 0x100
#define PLACEHOLDER_TRUNCATED 0x200

/* A frame of that name without a mapping, kept under key: a placeholder. */
static uint64_t named_location(struct builder *b, const struct loc_key *key, const char *name)
{
	uint64_t id = (uintptr_t)hmap__get(b->locations, key, sizeof(*key));
	struct prof_line line = { 0 };

	if (id)
		return id;
	line.function = profile__function(b->p, name, name, "", 0);
	if (!line.function)
		return 0;
	id = profile__location(b->p, 0, 0, &line, 1);
	if (id)
		hmap__put(b->locations, key, sizeof(*key), (void *)(uintptr_t)id);
	return id;
}

/*
 * A frame standing for what could not be recorded, so its samples keep their CPU time: a lost
 * stack, or the end of a user stack cut short.
 */
static uint64_t placeholder(struct builder *b, uint64_t which, bool kernel)
{
	struct loc_key key = { 0, 0, which | (kernel ? PLACEHOLDER_KERNEL : 0), 0, 0 };
	uint64_t id = (uintptr_t)hmap__get(b->locations, &key, sizeof(key));
	char name[64];

	if (id)
		return id;
	if (which & PLACEHOLDER_TRUNCATED)
		snprintf(name, sizeof(name), "[truncated: %s]",
			 unwind_end_name(which & ~PLACEHOLDER_TRUNCATED));
	else
		snprintf(name, sizeof(name), "[%s stack lost: %s]", kernel ? "kernel" : "user",
			 which == SCORCH_STACK_LOST_FULL   ? "stack map full"
			 : which == SCORCH_STACK_LOST_COPY ? "sample ring full"
							   : "read fault");
	return named_location(b, &key, name);
}

static uint64_t location(struct builder *b, bool kernel, uint32_t pid, uint32_t seq, uint64_t addr)
{
	struct loc_key key = { kernel ? 0 : pid, kernel ? 0 : seq, addr, 0, 0 };
	uint64_t id = (uintptr_t)hmap__get(b->locations, &key, sizeof(key));
	struct prof_line lines[SYM_MAX_LINES];
	struct sym_frame f;
	uint64_t mid = 0;

	if (id)
		return id;
	if (kernel)
		symbolizer__resolve_kernel(b->sym, addr, &f);
	else
		symbolizer__resolve_user(b->sym, pid, seq, addr, &f);
	if (f.mapping) {
		mid = mapping_id(b, f.mapping);
		if (!mid)
			return 0;
	}
	/*
	 * One line per function at the address, inlined ones first, as pprof wants them. pprof
	 * has no file per line: a line number is read in its function's file. So where the line
	 * lies in another file than the function's declaration (code inlined from elsewhere that
	 * the table does not name as a function of its own, as Go's table without its inline
	 * tree, or a C body that includes a file), the function is given the line's file, as go
	 * tool addr2line and runtime/pprof report it, and no first line.
	 */
	for (int i = 0; i < f.nlines; i++) {
		const struct sym_line *l = &f.lines[i];
		bool elsewhere = l->file && l->decl_file && strcmp(l->file, l->decl_file);

		lines[i] = (struct prof_line){ .line = l->line };
		lines[i].function =
		    profile__function(b->p, l->function, l->system_name,
				      elsewhere || !l->decl_file ? l->file : l->decl_file,
				      elsewhere ? 0 : l->decl_line);
		if (!lines[i].function)
			return 0;
	}
	id = profile__location(b->p, mid, addr, lines, f.nlines);
	if (id && hmap__put(b->locations, &key, sizeof(key), (void *)(uintptr_t)id))
		return 0;
	return id;
}

/*
 * The location of a Python frame: qualified name, plain name, file, first line and the line of
 * its instruction, without a mapping (the code object is the interpreter's data, not code).
 */
static uint64_t python_location(struct builder *b, uint32_t pid, uint32_t seq, uint64_t word)
{
	struct loc_key key = { pid, seq, word & ~SCORCH_PY_ENTRY, 1, 0 };
	uint64_t id, code = scorch_py_word_code(word);
	struct prof_line line = { 0 };
	struct py_frame f;

	if (!code) {
		/* markers: the same for every process */
		struct loc_key mark = { 0, 0, key.addr, 1, 0 };

		return named_location(b, &mark,
				      key.addr == SCORCH_PY_MARK_TRUNCATED
					  ? "[truncated: python depth limit]"
					  : "[python frame unreadable]");
	}
	id = (uintptr_t)hmap__get(b->locations, &key, sizeof(key));
	if (id)
		return id;
	if (symbolizer__python_frame(b->sym, pid, seq, code, scorch_py_word_offset(word), &f)) {
		struct loc_key mark = { 0, 0, SCORCH_PY_MARK_UNREADABLE, 1, 0 };

		return named_location(b, &mark, "[python frame unreadable]");
	}
	line.function = profile__function(b->p, f.qualname, f.name, f.filename, f.firstlineno);
	if (!line.function)
		return 0;
	/* before its first instruction a frame is at its first line, as CPython reports it */
	if (scorch_py_word_offset(word) == SCORCH_PY_OFFSET_MASK)
		f.line = f.firstlineno;
	line.line = f.line > 0 ? f.line : 0;
	id = profile__location(b->p, 0, 0, &line, 1);
	if (id && hmap__put(b->locations, &key, sizeof(key), (void *)(uintptr_t)id))
		return 0;
	return id;
}

/* Is the location's outermost function the interpreter loop? */
static bool is_eval_frame(const struct builder *b, uint64_t loc)
{
	const struct prof_location *l = &b->p->locations[loc - 1];
	const struct prof_function *fn;

	if (!l->nlines || !l->mapping)
		return false;
	fn = &b->p->functions[l->lines[l->nlines - 1].function - 1];
	return !strcmp(profile__str(b->p, fn->name), PY_EVAL_FUNCTION);
}

/* The locations of words[*wi, upto) onto out[*no...]: 0 or -ENOMEM. */
static int emit_python(struct builder *b, uint32_t pid, uint32_t seq, const uint64_t *words,
		       uint32_t *wi, uint32_t upto, uint64_t *out, uint32_t *no)
{
	for (; *wi < upto; (*wi)++) {
		uint64_t l = python_location(b, pid, seq, words[*wi]);

		if (!l)
			return -ENOMEM;
		out[(*no)++] = l;
	}
	return 0;
}

/*
 * Replace each interpreter-loop frame of the native frames locs[0, *n) (leaf first) by the
 * Python frames that C call ran: the stack's words split at entry words into one group per
 * call (3.12's shim markers make the word before them an entry). Calls and groups are paired
 * from the root when the native stack is whole: at the leaf a call may have started before its
 * first frame exists (a loop frame without frames is dropped), or its loop frame may have no
 * name (its groups stay at the leaf). A native stack cut short pairs from the leaf, and the
 * groups left over go after its last frame, as its callers.
 */
static int splice_python(struct builder *b, const struct collected_stack *py, uint32_t pid,
			 uint32_t seq, bool whole, uint64_t *locs, uint32_t *n)
{
	uint64_t words[SCORCH_MAX_STACK_DEPTH], out[SCORCH_MAX_STACK_DEPTH + UNWIND_MAX_FRAMES + 4];
	uint32_t group_end[SCORCH_MAX_STACK_DEPTH + 1], evals[UNWIND_MAX_FRAMES + 4];
	uint32_t nw = 0, ng = 0, ne = 0, no = 0, skip, gi, wi = 0;

	for (uint32_t i = 0; i < py->nr && i < SCORCH_MAX_STACK_DEPTH; i++) {
		if (py->ip[i] == SCORCH_PY_MARK_SHIM) {
			if (nw)
				words[nw - 1] |= SCORCH_PY_ENTRY;
			continue;
		}
		words[nw++] = py->ip[i];
	}
	/* groups: [group_end[g - 1], group_end[g]), leaf first */
	for (uint32_t i = 0; i < nw; i++)
		if (words[i] & SCORCH_PY_ENTRY || i == nw - 1 || !scorch_py_word_code(words[i]))
			group_end[ng++] = i + 1;
	for (uint32_t i = 0; i < *n && ne < ARRAY_SIZE(evals); i++)
		if (is_eval_frame(b, locs[i]))
			evals[ne++] = i;
	if (*n + nw > ARRAY_SIZE(out))
		return 0; /* cannot happen with the bounds of both stacks; keep the native one */
	/* root-aligned, the ne - ng loop frames nearest the leaf get no group; leaf-aligned, the
	 * first ng loop frames take one each */
	skip = whole && ne > ng ? ne - ng : 0;
	gi = 0;
	if (whole && ng > ne) {
		/*
		 * More calls than loop frames found: the leaf's loop frame had no name (its cold
		 * part, in a stripped interpreter). The leaf-most groups stay at the leaf.
		 */
		if (emit_python(b, pid, seq, words, &wi, group_end[ng - ne - 1], out, &no))
			return -ENOMEM;
		gi = ng - ne;
	}
	for (uint32_t i = 0, e = 0; i < *n; i++) {
		if (e >= ne || evals[e] != i) {
			out[no++] = locs[i];
			continue;
		}
		e++;
		if (e <= skip)
			continue; /* an interpreter call without frames yet */
		if (gi >= ng)
			continue; /* leaf-aligned, more loop frames than groups */
		if (emit_python(b, pid, seq, words, &wi, group_end[gi++], out, &no))
			return -ENOMEM;
	}
	if (emit_python(b, pid, seq, words, &wi, nw, out, &no))
		return -ENOMEM;
	memcpy(locs, out, no * sizeof(*out));
	*n = no;
	return 0;
}

/*
 * Append one stack's locations, leaf first. The first pc is where the sample hit; every other
 * one is a return address and is looked up at pc - 1, inside the call instruction.
 */
static int add_stack(struct builder *b, const struct window *w, uint64_t id, bool kernel,
		     uint32_t pid, uint32_t seq, uint64_t pystack, uint64_t *locs, uint32_t *n)
{
	const struct collected_stack *st, *py = kernel ? NULL : window__stack(w, pystack);
	uint32_t end, first = *n, nn;
	int err;

	if (id == SCORCH_STACK_NONE)
		return 0;
	st = window__stack(w, id);
	if (!st) {
		uint64_t l = placeholder(
		    b, id < SCORCH_STACK_FIRST_REAL ? id : SCORCH_STACK_LOST_FULL, kernel);

		if (!l)
			return -ENOMEM;
		locs[(*n)++] = l;
		return 0;
	}
	for (uint32_t i = 0; i < st->nr; i++) {
		uint64_t pc = st->ip[i], l;

		if (i > 0 && pc)
			pc--;
		l = location(b, kernel, pid, seq, pc);
		if (!l)
			return -ENOMEM;
		locs[(*n)++] = l;
	}
	/* a process found broken since its samples were walked keeps its native frames */
	if (py && py->nr && symbolizer__python_usable(b->sym, pid, seq)) {
		nn = *n - first;
		/*
		 * Paired from the root only when both stacks are whole: a native stack unwound
		 * to its start (or walked by the kernel), Python frames not cut by a marker
		 */
		bool whole = (st->end == UNWIND_END_COMPLETE || st->end == UNWIND_END_UNKNOWN) &&
			     scorch_py_word_code(py->ip[py->nr - 1]) != 0;

		err = splice_python(b, py, pid, seq, whole, locs + first, &nn);
		if (err)
			return err;
		*n = first + nn;
	}
	/* a user stack cut short ends in a frame saying why, never in a wrong caller */
	end = st->end;
	if (!kernel && end == UNWIND_END_UNKNOWN && st->nr >= SCORCH_MAX_STACK_DEPTH)
		end = UNWIND_END_DEPTH;
	if (!kernel && end != UNWIND_END_UNKNOWN && end != UNWIND_END_COMPLETE) {
		uint64_t l = placeholder(b, PLACEHOLDER_TRUNCATED | end, false);

		if (!l)
			return -ENOMEM;
		locs[(*n)++] = l;
	}
	return 0;
}

/* Where each sample of the profile came from, for the split per process. */
struct origin {
	uint32_t pid, seq, tid;
	char comm[SCORCH_COMM_LEN];
};

static struct profile *build(const struct window *w, struct symbolizer *sym,
			     const struct build_opts *opts, struct origin **ret_origins)
{
	uint64_t locs[2 * SCORCH_MAX_STACK_DEPTH + UNWIND_MAX_FRAMES + 4];
	const struct scorch_sample_key *key;
	struct builder b = { .sym = sym };
	struct origin *origins = NULL;
	size_t pos = 0, cap_origins = 0;
	uint32_t k_pid, k_tid, k_comm;
	uint64_t count;
	int err = -ENOMEM;

	b.p = profile__new();
	b.mappings = hmap__new();
	b.locations = hmap__new();
	b.origins = hmap__new();
	if (!b.p || !b.mappings || !b.locations || !b.origins)
		goto fail;
	if (profile__add_sample_type(b.p, "samples", "count") ||
	    profile__add_sample_type(b.p, "cpu", "nanoseconds"))
		goto fail;
	b.p->period_type.type = profile__intern(b.p, "cpu");
	b.p->period_type.unit = profile__intern(b.p, "nanoseconds");
	b.p->period = 1000000000LL / opts->freq;
	b.p->default_sample_type = profile__intern(b.p, "cpu");
	b.p->time_nanos = opts->start_ns;
	b.p->duration_nanos = opts->duration_ns;
	k_pid = profile__intern(b.p, "pid");
	k_tid = profile__intern(b.p, "thread_id");
	k_comm = profile__intern(b.p, "comm");
	b.k_unit = profile__intern(b.p, "systemd_unit");
	b.k_exe = profile__intern(b.p, "executable");
	b.k_pod = profile__intern(b.p, "pod_uid");
	b.k_cid = profile__intern(b.p, "container_id");

	while (window__next(w, &pos, &key, &count)) {
		struct prof_label labels[7];
		const struct proc_labels *pl;
		uint32_t nl = 3;
		char comm[SCORCH_COMM_LEN + 1];
		int64_t values[2];
		uint32_t n = 0;

		err = add_stack(&b, w, key->kstack, true, 0, 0, 0, locs, &n);
		if (!err)
			err = add_stack(&b, w, key->ustack, false, key->pid, key->proc_seq,
					key->pystack, locs, &n);
		if (err)
			goto fail;
		memcpy(comm, key->comm, SCORCH_COMM_LEN);
		comm[SCORCH_COMM_LEN] = 0;
		labels[0] = (struct prof_label){ .key = k_pid, .num = key->pid };
		labels[1] = (struct prof_label){ .key = k_tid, .num = key->tid };
		labels[2] = (struct prof_label){ .key = k_comm, .str = profile__intern(b.p, comm) };
		/* where the process runs: its systemd unit, Kubernetes pod, container */
		pl = proc_labels(&b, key->pid, key->proc_seq);
		if (!pl) {
			err = -ENOMEM;
			goto fail;
		}
		if (pl->unit)
			labels[nl++] = (struct prof_label){ .key = b.k_unit, .str = pl->unit };
		if (pl->pod)
			labels[nl++] = (struct prof_label){ .key = b.k_pod, .str = pl->pod };
		if (pl->cid)
			labels[nl++] = (struct prof_label){ .key = b.k_cid, .str = pl->cid };
		if (pl->exe)
			labels[nl++] = (struct prof_label){ .key = b.k_exe, .str = pl->exe };
		values[0] = count;
		values[1] = count * b.p->period;
		err = profile__add_sample(b.p, locs, n, values, labels, nl);
		if (err)
			goto fail;
		if (ret_origins) {
			err = grow_array((void **)&origins, &cap_origins, b.p->nsamples,
					 sizeof(*origins));
			if (err)
				goto fail;
			origins[b.p->nsamples - 1] = (struct origin){ .pid = key->pid,
								      .seq = key->proc_seq,
								      .tid = key->tid };
			memcpy(origins[b.p->nsamples - 1].comm, key->comm, SCORCH_COMM_LEN);
		}
	}
	hmap__free(b.mappings);
	hmap__free(b.locations);
	free_origins(b.origins);
	if (ret_origins)
		*ret_origins = origins;
	return b.p;
fail:
	profile__free(b.p);
	hmap__free(b.mappings);
	hmap__free(b.locations);
	free_origins(b.origins);
	free(origins);
	errno = -err;
	return NULL;
}

struct profile *build_profile(const struct window *w, struct symbolizer *sym,
			      const struct build_opts *opts)
{
	return build(w, sym, opts, NULL);
}

void process_profiles__free(struct process_profile *procs, size_t n)
{
	for (size_t i = 0; procs && i < n; i++)
		profile__free(procs[i].profile);
	free(procs);
}

int build_profiles(const struct window *w, struct symbolizer *sym, const struct build_opts *opts,
		   struct profile **ret_all, struct process_profile **ret_procs, size_t *ret_nprocs)
{
	_cleanup_free_ struct origin *origins = NULL;
	_cleanup_free_ uint32_t *group = NULL;
	_cleanup_free_ struct profile **parts = NULL;
	struct process_profile *procs = NULL;
	struct hmap *index = NULL; /* pid -> part + 1 */
	size_t nprocs = 0, cap = 0;
	struct profile *all;
	int r = -ENOMEM;

	if (ret_all)
		*ret_all = NULL;
	if (ret_procs)
		*ret_procs = NULL;
	*ret_nprocs = 0;
	all = build(w, sym, opts, ret_procs ? &origins : NULL);
	if (!all)
		return -errno;
	if (!ret_procs) {
		if (ret_all)
			*ret_all = all;
		else
			profile__free(all);
		return 0;
	}
	index = hmap__new();
	group = malloc((all->nsamples ? all->nsamples : 1) * sizeof(*group));
	if (!index || !group)
		goto fail;
	for (size_t i = 0; i < all->nsamples; i++) {
		const struct origin *o = &origins[i];
		uintptr_t part = (uintptr_t)hmap__get(index, &o->pid, sizeof(o->pid));
		struct process_profile *pp;

		if (!part) {
			if (grow_array((void **)&procs, &cap, nprocs + 1, sizeof(*procs)))
				goto fail;
			pp = &procs[nprocs];
			memset(pp, 0, sizeof(*pp));
			pp->pid = o->pid;
			pp->seq = o->seq;
			part = ++nprocs;
			if (hmap__put(index, &o->pid, sizeof(o->pid), (void *)part))
				goto fail;
		}
		pp = &procs[part - 1];
		/* the process is named by its main thread when that was sampled */
		if (!pp->main_thread_comm) {
			memcpy(pp->comm, o->comm, SCORCH_COMM_LEN);
			pp->main_thread_comm = o->tid == o->pid;
		}
		group[i] = part - 1;
	}
	parts = calloc(nprocs ? nprocs : 1, sizeof(*parts));
	if (!parts)
		goto fail;
	if (nprocs == 1 && !ret_all) {
		/* one process: its profile is the window's, no copy */
		parts[0] = all;
		all = NULL;
	} else if (profile__split(all, group, nprocs, parts)) {
		goto fail;
	}
	for (size_t i = 0; i < nprocs; i++)
		procs[i].profile = parts[i];
	hmap__free(index);
	if (ret_all)
		*ret_all = all;
	else
		profile__free(all);
	*ret_procs = procs;
	*ret_nprocs = nprocs;
	return 0;
fail:
	hmap__free(index);
	profile__free(all);
	process_profiles__free(procs, nprocs);
	return r;
}
