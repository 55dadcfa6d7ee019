// SPDX-License-Identifier: GPL-2.0
/* Reading the copied-stack ring of the BPF program from a single mapping of its data. */
#include "sample_ring.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct sample_ring {
	int fd;
	size_t page, size;
	void *consumer; /* one page, ours to write: the consumer position */
	void *producer; /* the producer position's page, then the data, read-only */
	struct sample_ring_view view;
	sample_ring_fn fn;
	void *ctx;
};

int sample_ring_view__consume(const struct sample_ring_view *v, sample_ring_fn fn, void *ctx)
{
	unsigned long cons = __atomic_load_n(v->consumer_pos, __ATOMIC_RELAXED), start = cons;
	size_t size = v->mask + 1;
	int n = 0;

	/* at most one turn of the ring a call: the caller has events to read too */
	while (cons - start < size) {
		unsigned long prod = __atomic_load_n(v->producer_pos, __ATOMIC_ACQUIRE);
		const uint32_t *hdrp = (const uint32_t *)(v->data + (cons & v->mask));
		uint32_t hdr, len;
		size_t total, off;

		if (cons >= prod)
			break;
		hdr = __atomic_load_n(hdrp, __ATOMIC_ACQUIRE);
		if (hdr & BPF_RINGBUF_BUSY_BIT)
			break; /* still being written: it and what follows it wait */
		len = hdr & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
		total = ((size_t)len + BPF_RINGBUF_HDR_SZ + 7) & ~(size_t)7;
		if (total > size || total > prod - cons) {
			/* not what the kernel writes: give up on what is queued, keep the ring going */
			__atomic_store_n(v->consumer_pos, prod, __ATOMIC_RELEASE);
			return -EBADMSG;
		}
		if (!(hdr & BPF_RINGBUF_DISCARD_BIT) && len <= v->max_record) {
			off = (cons + BPF_RINGBUF_HDR_SZ) & v->mask;
			if (off + len <= size) {
				fn(ctx, v->data + off, len);
			} else {
				/* wraps around the end of the data: one piece in the bounce buffer */
				memcpy(v->bounce, v->data + off, size - off);
				memcpy(v->bounce + (size - off), v->data, len - (size - off));
				fn(ctx, v->bounce, len);
			}
		}
		cons += total;
		/* the record's room goes back to the program only now: fn has read it */
		__atomic_store_n(v->consumer_pos, cons, __ATOMIC_RELEASE);
		n++;
	}
	return n;
}

struct sample_ring *sample_ring__new(int map_fd, size_t size, size_t max_record, sample_ring_fn fn,
				     void *ctx)
{
	struct sample_ring *r;
	long page = sysconf(_SC_PAGESIZE);

	if (page <= 0 || !size || (size & (size - 1)) || size % page) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->fd = map_fd;
	r->page = page;
	r->size = size;
	r->fn = fn;
	r->ctx = ctx;
	r->consumer = MAP_FAILED;
	r->producer = MAP_FAILED;
	r->view.bounce = malloc(max_record ? max_record : 1);
	if (!r->view.bounce)
		goto fail;
	r->consumer = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (r->consumer == MAP_FAILED)
		goto fail;
	/* the producer page and the data once (libbpf maps the data twice) */
	r->producer = mmap(NULL, page + size, PROT_READ, MAP_SHARED, map_fd, page);
	if (r->producer == MAP_FAILED)
		goto fail;
	r->view.consumer_pos = r->consumer;
	r->view.producer_pos = r->producer;
	r->view.data = (const uint8_t *)r->producer + page;
	r->view.mask = size - 1;
	r->view.max_record = max_record;
	return r;
fail:
	sample_ring__free(r);
	return NULL;
}

int sample_ring__fd(const struct sample_ring *r)
{
	return r->fd;
}

int sample_ring__consume(struct sample_ring *r)
{
	return sample_ring_view__consume(&r->view, r->fn, r->ctx);
}

void sample_ring__free(struct sample_ring *r)
{
	int e = errno;

	if (!r)
		return;
	if (r->consumer != MAP_FAILED)
		munmap(r->consumer, r->page);
	if (r->producer != MAP_FAILED)
		munmap(r->producer, r->page + r->size);
	free(r->view.bounce);
	free(r);
	errno = e;
}
