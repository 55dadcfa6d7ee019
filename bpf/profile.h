/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Types shared by bpf/profile.bpf.c and user space. Fixed-width fields only, no pointers. */
#ifndef SCORCH_PROFILE_H
#define SCORCH_PROFILE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Frames kept per stack: the kernel's default perf_event_max_stack. */
#define SCORCH_MAX_STACK_DEPTH 127
#define SCORCH_COMM_LEN 16

/*
 * What became of each program run. RUNS = IDLE + FILTERED + RECORDED + LOST_COUNTS_FULL. The
 * STACK reasons count recorded samples that carry a placeholder instead of a stack.
 */
enum scorch_stat {
	SCORCH_STAT_RUNS = 0, /* program invocations, the independent total */
	SCORCH_STAT_IDLE, /* samples of the idle task: not profiled */
	SCORCH_STAT_FILTERED, /* samples of processes outside the -p/command filter */
	SCORCH_STAT_RECORDED, /* samples added to the counts map */
	SCORCH_STAT_LOST_COUNTS_FULL, /* counts map full: sample dropped */
	SCORCH_STAT_LOST_KSTACK_FULL, /* stack map full: kernel stack replaced by a placeholder */
	SCORCH_STAT_LOST_USTACK_FULL, /* stack map full: user stack replaced by a placeholder */
	SCORCH_STAT_LOST_KSTACK_FAULT, /* kernel stack could not be read */
	SCORCH_STAT_LOST_USTACK_FAULT, /* user stack could not be read (process has an mm) */
	SCORCH_STAT_LOST_USTACK_COPY, /* sample ring full: user stack not copied (placeholder) */
	SCORCH_STAT_PROC_EVENT_LOST, /* ring buffer full: a process snapshot request was lost */
	SCORCH_STAT_COPIED, /* recorded samples whose user stack went to user space to unwind */
	/* Python (a process in the py_procs map): each sample of such a process is one of these */
	SCORCH_STAT_PY_WALKED, /* interpreter frames walked, the whole chain */
	SCORCH_STAT_PY_TRUNCATED, /* walked, cut at the depth limit */
	SCORCH_STAT_PY_UNREADABLE, /* walked until a frame could not be read */
	SCORCH_STAT_PY_NO_THREAD, /* no thread state of this thread (not a Python thread, or yet) */
	SCORCH_STAT_PY_THREADS_CUT, /* ... of those, the thread lists were longer than the search */
	SCORCH_STAT_PY_IDLE, /* the thread state has no current frame (runs no Python code) */
	SCORCH_STAT_MAX,
};

/* Stack ids with this value carry no stack; other negative values are the error placeholders. */
#define SCORCH_STACK_NONE 0ULL
#define SCORCH_STACK_LOST_FULL 1ULL
#define SCORCH_STACK_LOST_FAULT 2ULL
#define SCORCH_STACK_LOST_COPY 3ULL /* the sample ring buffer was full */
/* Ids below this are placeholders, never content hashes (the hash function avoids them). */
#define SCORCH_STACK_FIRST_REAL 16ULL

/* Key of the counts map: one entry per distinct (process, thread, comm, stacks). */
struct scorch_sample_key {
	__u32 pid; /* thread group id, as user space calls a pid */
	__u32 tid; /* thread id */
	__u32 proc_seq; /* process generation from the procs map; 0 for kthreads */
	__u32 flags; /* SCORCH_SAMPLE_* */
	__u64 kstack; /* content hash of the kernel stack in the stacks map, or a placeholder */
	__u64 ustack; /* content hash of the user stack, or a placeholder */
	__u64 pystack; /* content hash of the Python frames (a stack of SCORCH_PY_* words), or NONE */
	char comm[SCORCH_COMM_LEN]; /* thread name at the time of the sample */
};

#define SCORCH_SAMPLE_KTHREAD 0x1 /* the task is a kernel thread */

/* Value of the stacks map: instruction pointers, the sampled pc first. */
struct scorch_stack {
	__u32 nr; /* valid entries in ip[] */
	__u32 pad; /* explicit padding, always 0 */
	__u64 ip[SCORCH_MAX_STACK_DEPTH];
};

/* Value of the procs map: a process generation, renewed on exec. */
struct scorch_proc {
	__u32 seq; /* global sequence number of this process image */
	__u32 notified; /* 1 once user space was asked to snapshot it */
};

enum scorch_event_type {
	SCORCH_EVENT_PROC_NEW = 1, /* first sample of (pid, seq): snapshot /proc/PID now */
	SCORCH_EVENT_PROC_EXIT = 2, /* the process exited */
};

/* Ring buffer record telling user space about process lifetimes. */
struct scorch_event {
	__u32 type; /* enum scorch_event_type */
	__u32 pid; /* thread group id */
	__u32 seq; /* process generation (scorch_proc.seq) */
	__u32 parent; /* PROC_NEW: tgid it was forked from when it has not exec'ed since, or 0 */
};

/*
 * CPython. The program walks the sampled thread's interpreter frames with the offsets user
 * space found for the process (py_procs map) and records one word per frame, the innermost
 * first: the code object's address (8-aligned, below 2^47) shifted left by 17, the instruction
 * offset in 2-byte code units in bits 1-19, and SCORCH_PY_ENTRY on the outermost frame of each
 * C call of the interpreter loop. Words with code address 0 are markers.
 */
#define SCORCH_PY_ENTRY 0x1ULL
#define SCORCH_PY_OFFSET_MASK 0x7ffffULL /* this offset means: unknown */
#define SCORCH_PY_ADDR_SHIFT 17
#define SCORCH_PY_MARK_TRUNCATED (1ULL << 1) /* more frames than a stack holds */
#define SCORCH_PY_MARK_UNREADABLE (2ULL << 1) /* the next frame could not be read */
#define SCORCH_PY_MARK_SHIM (3ULL << 1) /* 3.12+: the frame before it is an entry frame */
static inline __u64 scorch_py_word_code(__u64 w)
{
	return (w >> 20) << 3;
}
static inline __u32 scorch_py_word_offset(__u64 w)
{
	return (w >> 1) & SCORCH_PY_OFFSET_MASK;
}

/* How a version chains its frames (scorch_py_proc.frames). */
enum scorch_py_frames {
	SCORCH_PY_FRAMES_310 =
	    1, /* PyFrameObject from tstate, f_lasti in code units; one C call each */
	SCORCH_PY_FRAMES_311 = 2, /* tstate->cframe->current_frame, prev_instr, is_entry */
	SCORCH_PY_FRAMES_312 = 3, /* as 3.11, entries marked by shim frames owned by the C stack */
	SCORCH_PY_FRAMES_313 = 4, /* tstate->current_frame, instr_ptr, shim frames */
};

#define SCORCH_PY_FRAME_READ 128 /* bytes of a frame read at once: its fields lie below */
#define SCORCH_PY_TSTATE_READ 256 /* bytes of a thread state read: its thread id and frame */
#define SCORCH_PY_NO_FIELD 0xffff

/* Value of the py_procs map: where a Python process keeps its threads and frames. */
/*
 * The mapping a thread's stack pointer lies in, from user space (stack_ranges, keyed by tid):
 * the current build's copy of the user stack stops at hi, not stack_copy bytes on, for a
 * sample of that (pid, seq) whose sp - SCORCH_RED_ZONE lies in [lo, hi).
 */
struct scorch_stack_range {
	__u32 pid, seq;
	__u64 lo, hi;
};

struct scorch_py_proc {
	__u32 seq; /* the process generation these are for */
	__u8 frames; /* enum scorch_py_frames */
	__u8 owner_cstack; /* owner value of shim frames (3.12 and later) */
	__u16 frame_size; /* bytes read per frame, <= SCORCH_PY_FRAME_READ */
	__u64 runtime; /* address of _PyRuntime */
	/* byte offsets */
	__u16 runtime_interp_head; /* _PyRuntimeState.interpreters.head */
	__u16 interp_next, interp_threads_head;
	__u16 tstate_next, tstate_thread_id; /* thread_id: pthread_self(), the thread's fs base */
	__u16 tstate_interp; /* PyThreadState.interp (prev is at 0) */
	__u16 tstate_frame; /* frame (3.10), cframe (3.11, 3.12), current_frame (3.13) */
	__u16 cframe_current_frame; /* 3.11, 3.12; SCORCH_PY_NO_FIELD otherwise */
	__u16 frame_code, frame_previous, frame_instr; /* within the frame_size bytes read */
	__u16 frame_entry; /* is_entry (3.11) or owner (3.12+); SCORCH_PY_NO_FIELD for 3.10 */
	__u16 code_adaptive; /* PyCodeObject.co_code_adaptive (3.11+) */
};

/* How user stacks are unwound (the unwind_mode constant of the program). */
enum scorch_unwind {
	SCORCH_UNWIND_FP = 0, /* frame pointers, in the kernel */
	SCORCH_UNWIND_DWARF = 1, /* stack copied to user space, unwound there with CFI */
	SCORCH_UNWIND_AUTO = 2, /* frame pointers for processes in the fp_procs map, else DWARF */
};

/* Upper bound of --stack-copy; the copy buffer has one page of slack beyond it. */
#define SCORCH_MAX_STACK_COPY 65536
#define SCORCH_PAGE_SIZE 4096
/*
 * The copy starts this far below the user sp: the x86-64 red zone, where a function that has
 * popped its saved registers still finds them (CFI does not always say they were restored).
 */
#define SCORCH_RED_ZONE 128
/* x86-64 registers in DWARF numbering: rax rdx rcx rbx rsi rdi rbp rsp r8-r15, then the pc. */
#define SCORCH_NREGS 17

/*
 * A sample whose user stack is unwound in user space (sample ring buffer): the counts key (its
 * kstack and ustack left 0), the kernel stack, the user registers and the top of the user stack.
 * Only the first stack_len bytes of stack[] are sent.
 */
struct scorch_raw_sample {
	struct scorch_sample_key key;
	__u32 kernel_nr; /* valid entries of kernel_ip[] */
	__u32 stack_len; /* bytes of stack[] copied from regs[7] (the user sp) - RED_ZONE up */
	__u32 stack_want; /* bytes the copy was asked for (stack_len is less at a mapping's end) */
	__u32 py_nr; /* valid entries of py[] */
	__u64 regs[SCORCH_NREGS];
	__u64 kernel_ip[SCORCH_MAX_STACK_DEPTH];
	__u64 py[SCORCH_MAX_STACK_DEPTH]; /* the Python frames (SCORCH_PY_* words) */
	__u8 stack[SCORCH_MAX_STACK_COPY + SCORCH_PAGE_SIZE];
};

#define SCORCH_RAW_SAMPLE_HEADER                                                                   \
	(sizeof(struct scorch_raw_sample) - SCORCH_MAX_STACK_COPY - SCORCH_PAGE_SIZE)

#endif /* SCORCH_PROFILE_H */
