// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * --debuginfo-upload: the executables of the agent's profiles to Parca's DebuginfoService, on a
 * thread and a connection of their own (a large upload never delays a profile), each file the
 * one the process mapped, held open from the profile to the upload.
 */
#include "debuginfo.h"
#include "elf_file.h"
#include "hashmap.h"
#include "parca_debuginfo.pb-c.h"
#include "pb_budget.h"
#include "procfile.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEBUGINFO_SERVICE "/parca.debuginfo.v1alpha1.DebuginfoService/"
#define UPLOAD_CHUNK (1u << 20)
#define UPLOAD_MAX_BYTES (2ULL << 30)
#define UPLOAD_ATTEMPTS 3
/* Memory a DebuginfoService answer may take to unpack (they are a few strings). */
#define REPLY_BUDGET (1u << 20)
/* Rate limit: a second's pause after each file sent (asking is cheap and not paced). */
#define UPLOAD_PAUSE_MS 1000

struct upload_job {
	char build_id[129];
	char path[PATH_MAX]; /* as the process sees it: for messages only */
	uint32_t pid;
	int fd; /* the file the process mapped, opened through /proc/PID/map_files */
};

struct debuginfo_uploader {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	struct upload_job *jobs;
	size_t njobs, cap_jobs;
	struct hmap *seen; /* build-id -> attempts (uintptr_t): each at most once per run */
	struct grpc_client *client;
	bool insecure, verbose;
	bool started, abandoned; /* the thread (the caller's view) */
	uploader_log_fn *log;
	void *log_ctx;
	uint64_t uploaded, skipped, failed; /* under lock */
	char why[512]; /* the reason of the last failure, when known (the thread's own) */
};

#define say(u, level, ...) uploader_log((u)->log, (u)->log_ctx, level, __VA_ARGS__)

/* An upload waits for no one. */
void debuginfo_uploader__stop(struct debuginfo_uploader *u)
{
	pthread_mutex_lock(&u->lock);
	u->stop = true;
	pthread_cond_signal(&u->wake);
	pthread_mutex_unlock(&u->lock);
	grpc_client__cancel(u->client);
}

/*
 * Main thread: each file opened now through the process's own mapping (while the process and
 * its snapshot are there): what is uploaded is the file the process mapped, never whatever a
 * path names later. A file that cannot be opened now is tried again when a later profile has
 * it, unless it is not the mapped file at all.
 */
void debuginfo_uploader__queue(struct debuginfo_uploader *u, struct symbolizer *sym,
			       const struct profile *p, uint32_t pid, uint32_t seq)
{
	pthread_mutex_lock(&u->lock);
	for (size_t i = 0; i < p->nmappings; i++) {
		const char *bid = profile__str(p, p->mappings[i].build_id);
		const char *file = profile__str(p, p->mappings[i].filename);
		struct upload_job *j;
		int fd;

		if (!bid[0] || file[0] != '/' || strlen(bid) >= sizeof(j->build_id) ||
		    hmap__get(u->seen, bid, strlen(bid)) || u->njobs >= DEBUGINFO_QUEUE_MAX ||
		    grow_array((void **)&u->jobs, &u->cap_jobs, u->njobs + 1, sizeof(*u->jobs)))
			continue;
		fd = symbolizer__open_mapped(sym, pid, seq, bid);
		if (fd < 0) {
			if ((fd == -ESTALE || fd == -EINVAL || fd == -EFBIG) &&
			    !hmap__put(u->seen, bid, strlen(bid), (void *)(uintptr_t)1))
				say(u, UPLOADER_WARN, "debuginfo of '%s' (%s) not uploaded: %s",
				    file, bid,
				    fd == -ESTALE ? "not the file the process mapped"
						  : proc_file__strerror(fd));
			continue;
		}
		if (hmap__put(u->seen, bid, strlen(bid), (void *)(uintptr_t)1)) {
			close(fd);
			continue;
		}
		j = &u->jobs[u->njobs++];
		snprintf(j->build_id, sizeof(j->build_id), "%s", bid);
		snprintf(j->path, sizeof(j->path), "%s", file);
		j->pid = pid;
		j->fd = fd;
	}
	if (u->njobs)
		pthread_cond_signal(&u->wake);
	pthread_mutex_unlock(&u->lock);
}

/* FNV-1a 64 of the whole file, as hex: the hash the service wants with the size. */
static int file_hash(int fd, char *ret, size_t size)
{
	uint64_t h = FNV1A64_INIT;
	uint8_t buf[65536];
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		h = fnv1a64_bytes(h, buf, n);
		off += n;
	}
	if (n < 0)
		return -errno;
	snprintf(ret, size, "fnv1a64:%016" PRIx64, h);
	return 0;
}

/* A unary call with protobuf-c messages; the response unpacked by unpack (or NULL). */
static int debuginfo_call(struct debuginfo_uploader *u, const char *method,
			  const ProtobufCMessage *req, struct grpc_result *res)
{
	char path[128];
	size_t len = protobuf_c_message_get_packed_size(req);
	_cleanup_free_ uint8_t *buf = malloc(len ? len : 1);

	snprintf(path, sizeof(path), DEBUGINFO_SERVICE "%s", method);
	if (!buf) {
		memset(res, 0, sizeof(*res));
		res->code = GRPC_INTERNAL;
		return res->code;
	}
	protobuf_c_message_pack(req, buf);
	if (grpc_client__call(u->client, path, buf, len, res))
		snprintf(u->why, sizeof(u->why), "%s: %s: %s", method, grpc_code_name(res->code),
			 res->message);
	return res->code;
}

/* The whole flow for one file: 0 uploaded or not needed, else a gRPC code or -errno. */
static int upload_one(struct debuginfo_uploader *u, const struct upload_job *j, bool *ret_uploaded)
{
	Parca__Debuginfo__V1alpha1__ShouldInitiateUploadRequest sreq =
	    PARCA__DEBUGINFO__V1ALPHA1__SHOULD_INITIATE_UPLOAD_REQUEST__INIT;
	Parca__Debuginfo__V1alpha1__InitiateUploadRequest ireq =
	    PARCA__DEBUGINFO__V1ALPHA1__INITIATE_UPLOAD_REQUEST__INIT;
	Parca__Debuginfo__V1alpha1__UploadInfo info = PARCA__DEBUGINFO__V1ALPHA1__UPLOAD_INFO__INIT;
	Parca__Debuginfo__V1alpha1__UploadRequest ureq =
	    PARCA__DEBUGINFO__V1ALPHA1__UPLOAD_REQUEST__INIT;
	Parca__Debuginfo__V1alpha1__MarkUploadFinishedRequest mreq =
	    PARCA__DEBUGINFO__V1ALPHA1__MARK_UPLOAD_FINISHED_REQUEST__INIT;
	Parca__Debuginfo__V1alpha1__ShouldInitiateUploadResponse *sres;
	Parca__Debuginfo__V1alpha1__InitiateUploadResponse *ires;
	char hash[64], bid[129], upload_id[256] = "";
	struct pb_budget sb, ib; /* the server's answers unpack within REPLY_BUDGET each */
	struct grpc_result res;
	struct stat st;
	uint8_t *first = NULL;
	size_t first_len;
	int fd, r;

	*ret_uploaded = false;
	/* the mapped file, held since the profile was built; it must still be that build */
	fd = dup(j->fd);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > UPLOAD_MAX_BYTES ||
	    elf_build_id_of_fd(fd, bid, sizeof(bid)) || strcmp(bid, j->build_id)) {
		close(fd);
		return -ESTALE;
	}
	r = file_hash(fd, hash, sizeof(hash));
	if (r) {
		close(fd);
		return r;
	}
	sreq.build_id = (char *)j->build_id;
	sreq.hash = hash;
	sreq.type = PARCA__DEBUGINFO__V1ALPHA1__DEBUGINFO_TYPE__DEBUGINFO_TYPE_EXECUTABLE;
	sreq.build_id_type = PARCA__DEBUGINFO__V1ALPHA1__BUILD_IDTYPE__BUILD_ID_TYPE_GNU;
	r = debuginfo_call(u, "ShouldInitiateUpload", &sreq.base, &res);
	sres = r ? NULL
		 : parca__debuginfo__v1alpha1__should_initiate_upload_response__unpack(
		       pb_budget__init(&sb, REPLY_BUDGET), res.response_len, res.response);
	free(res.response);
	if (r || !sres) {
		if (!r)
			snprintf(u->why, sizeof(u->why), "ShouldInitiateUpload: %s",
				 pb_budget__exceeded(&sb) ? "the answer needs more than 1 MB"
							  : "an answer that does not decode");
		close(fd);
		return r ? r : GRPC_INTERNAL;
	}
	r = sres->should_initiate_upload;
	parca__debuginfo__v1alpha1__should_initiate_upload_response__free_unpacked(sres,
										   &sb.allocator);
	if (!r) {
		close(fd);
		return 0; /* the server has it */
	}
	ireq.build_id = (char *)j->build_id;
	ireq.size = st.st_size;
	ireq.hash = hash;
	ireq.type = sreq.type;
	ireq.build_id_type = sreq.build_id_type;
	r = debuginfo_call(u, "InitiateUpload", &ireq.base, &res);
	ires = r ? NULL
		 : parca__debuginfo__v1alpha1__initiate_upload_response__unpack(
		       pb_budget__init(&ib, REPLY_BUDGET), res.response_len, res.response);
	free(res.response);
	if (r || !ires || !ires->upload_instructions) {
		if (!r)
			snprintf(u->why, sizeof(u->why), "InitiateUpload: %s",
				 !ires && pb_budget__exceeded(&ib)
				     ? "the answer needs more than 1 MB"
				     : "no upload instructions");
		if (ires)
			parca__debuginfo__v1alpha1__initiate_upload_response__free_unpacked(
			    ires, &ib.allocator);
		close(fd);
		return r ? r : GRPC_INTERNAL;
	}
	if (!ires->upload_instructions->upload_id ||
	    strlen(ires->upload_instructions->upload_id) >= sizeof(upload_id)) {
		/* the server's answer is bounded as a whole; its upload id is said to be short */
		snprintf(u->why, sizeof(u->why),
			 "InitiateUpload: an upload id of %zu bytes, over %zu",
			 ires->upload_instructions->upload_id
			     ? strlen(ires->upload_instructions->upload_id)
			     : 0,
			 sizeof(upload_id) - 1);
		parca__debuginfo__v1alpha1__initiate_upload_response__free_unpacked(ires,
										    &ib.allocator);
		close(fd);
		return -EPROTO;
	}
	snprintf(upload_id, sizeof(upload_id), "%s", ires->upload_instructions->upload_id);
	if (ires->upload_instructions->upload_strategy ==
	    PARCA__DEBUGINFO__V1ALPHA1__UPLOAD_INSTRUCTIONS__UPLOAD_STRATEGY__UPLOAD_STRATEGY_SIGNED_URL) {
		/*
		 * The file goes straight to the object store, then the upload is marked done. The
		 * URL is the server's: https only (http on an insecure connection), never file://
		 * or another protocol that would write or send the file elsewhere.
		 */
		char why[400];

		r = ires->upload_instructions->signed_url && *ires->upload_instructions->signed_url
			? grpc_client__put_file(u->client, ires->upload_instructions->signed_url,
						fd, st.st_size, why, sizeof(why))
			: -EINVAL;
		parca__debuginfo__v1alpha1__initiate_upload_response__free_unpacked(ires,
										    &ib.allocator);
		close(fd);
		if (r) {
			snprintf(u->why, sizeof(u->why), "signed URL: %s%s",
				 r == -EINVAL ? "none given" : why,
				 r == -EPROTONOSUPPORT && !u->insecure
				     ? " (http only with --remote-store-insecure)"
				     : "");
			/* a refused URL is not asked again; a cancelled one is the exit */
			if (r == -EPROTONOSUPPORT || r == -EINVAL)
				return r;
			return r == -ECANCELED ? GRPC_CANCELLED : GRPC_UNAVAILABLE;
		}
		goto finished;
	}
	parca__debuginfo__v1alpha1__initiate_upload_response__free_unpacked(ires, &ib.allocator);
	info.build_id = (char *)j->build_id;
	info.upload_id = upload_id;
	info.type = sreq.type;
	ureq.data_case = PARCA__DEBUGINFO__V1ALPHA1__UPLOAD_REQUEST__DATA_INFO;
	ureq.info = &info;
	first_len = parca__debuginfo__v1alpha1__upload_request__get_packed_size(&ureq);
	first = malloc(first_len);
	if (!first) {
		close(fd);
		return -ENOMEM;
	}
	parca__debuginfo__v1alpha1__upload_request__pack(&ureq, first);
	r = grpc_client__upload(u->client, DEBUGINFO_SERVICE "Upload", first, first_len, fd,
				st.st_size, 2 /* chunk_data */, UPLOAD_CHUNK, &res);
	if (r)
		snprintf(u->why, sizeof(u->why), "Upload: %s: %s", grpc_code_name(r), res.message);
	free(first);
	free(res.response);
	close(fd);
	if (r)
		return r;
finished:
	mreq.build_id = (char *)j->build_id;
	mreq.upload_id = upload_id;
	mreq.type = sreq.type;
	r = debuginfo_call(u, "MarkUploadFinished", &mreq.base, &res);
	free(res.response);
	if (!r)
		*ret_uploaded = true;
	return r;
}

static void *uploader_main(void *data)
{
	struct debuginfo_uploader *u = data;

	pthread_setname_np(pthread_self(), "scorch-upload"); /* 15 characters at most */

	pthread_mutex_lock(&u->lock);
	while (!u->stop) {
		struct upload_job j;
		bool uploaded, requeued;
		int r;

		if (!u->njobs) {
			pthread_cond_wait(&u->wake, &u->lock);
			continue;
		}
		j = u->jobs[0];
		memmove(u->jobs, u->jobs + 1, --u->njobs * sizeof(*u->jobs));
		pthread_mutex_unlock(&u->lock);
		u->why[0] = 0;
		r = upload_one(u, &j, &uploaded);
		pthread_mutex_lock(&u->lock);
		requeued = false;
		if (!r) {
			u->uploaded += uploaded;
			u->skipped += !uploaded;
			if (uploaded && u->verbose)
				say(u, UPLOADER_INFO, "debuginfo of %s (%s) uploaded", j.path,
				    j.build_id);
		} else if (r == GRPC_CANCELLED && u->stop) {
			say(u, UPLOADER_INFO,
			    "debuginfo upload of %s (%s) abandoned: the agent is stopping", j.path,
			    j.build_id);
		} else {
			uintptr_t tries =
			    (uintptr_t)hmap__get(u->seen, j.build_id, strlen(j.build_id));

			u->failed++;
			say(u, UPLOADER_WARN, "debuginfo upload of %s (%s) failed: %s", j.path,
			    j.build_id,
			    u->why[0] ? u->why
			    : r < 0   ? strerror(-r)
				      : grpc_code_name(r));
			/* transient: tried again after the others, a few times */
			if (r > 0 && grpc_code_is_transient(r) && tries < UPLOAD_ATTEMPTS &&
			    !grow_array((void **)&u->jobs, &u->cap_jobs, u->njobs + 1,
					sizeof(*u->jobs)) &&
			    !hmap__put(u->seen, j.build_id, strlen(j.build_id),
				       (void *)(tries + 1))) {
				u->jobs[u->njobs++] = j;
				requeued = true;
			}
		}
		if (!requeued)
			close(j.fd);
		/* a pause after each file sent, and stop promptly */
		if (!u->stop && (uploaded || r)) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += UPLOAD_PAUSE_MS / 1000;
			while (!u->stop &&
			       pthread_cond_timedwait(&u->wake, &u->lock, &until) != ETIMEDOUT)
				;
		}
	}
	for (size_t i = 0; i < u->njobs; i++)
		close(u->jobs[i].fd);
	u->njobs = 0;
	pthread_mutex_unlock(&u->lock);
	return NULL;
}

struct debuginfo_uploader *debuginfo_uploader__start(const struct debuginfo_opts *o, char *err,
						     size_t errlen)
{
	struct debuginfo_uploader *u = calloc(1, sizeof(*u));

	if (!u || !(u->seen = hmap__new())) {
		snprintf(err, errlen, "cannot set up the debuginfo uploader");
		free(u);
		return NULL;
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->wake, NULL);
	u->client = o->client;
	u->insecure = o->insecure;
	u->verbose = o->verbose;
	u->log = o->log;
	u->log_ctx = o->log_ctx;
	if (pthread_create(&u->thread, NULL, uploader_main, u)) {
		snprintf(err, errlen, "cannot start the debuginfo uploader thread");
		u->started = false;
		debuginfo_uploader__free(u);
		return NULL;
	}
	u->started = true;
	return u;
}

bool debuginfo_uploader__join(struct debuginfo_uploader *u, uint64_t deadline_ns)
{
	if (!u->started)
		return false;
	if (uploader_join_by(u->thread, deadline_ns)) {
		say(u, UPLOADER_WARN,
		    "the debuginfo uploader does not end (stuck in a system call): abandoned at exit");
		u->abandoned = true;
		return true;
	}
	u->started = false;
	return false;
}

void debuginfo_uploader__stats(struct debuginfo_uploader *u, struct debuginfo_stats *ret)
{
	pthread_mutex_lock(&u->lock);
	*ret = (struct debuginfo_stats){ .uploaded = u->uploaded,
					 .skipped = u->skipped,
					 .failed = u->failed };
	pthread_mutex_unlock(&u->lock);
}

void debuginfo_uploader__free(struct debuginfo_uploader *u)
{
	/* what an abandoned thread may still touch is left alone: the exit takes it */
	if (!u || u->abandoned)
		return;
	for (size_t i = 0; i < u->njobs; i++)
		close(u->jobs[i].fd);
	hmap__free(u->seen);
	free(u->jobs);
	pthread_cond_destroy(&u->wake);
	pthread_mutex_destroy(&u->lock);
	free(u);
}
