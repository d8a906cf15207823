/* Both halves of the polled ring (see chan.h and fs_wire.h for the ordering
 * contract). Client calls happen inside interposed libc functions: no malloc,
 * no locks; system calls only to sleep or to wake a sleeping peer. */
#include "chan.h"
#include "../common/atomics.h"
#include "../common/sys.h"
#include "../common/stats.h"
#include "shunt/jswitch.h"

#include <errno.h>
#include <string.h>
#include <time.h>

/* The caller's callbacks (the file client's wake and liveness checks) are
 * called through jump switches: a direct jump once learned. */
SHUNT_JSW_SITE(chan_wake, void, 1, void *);
SHUNT_JSW_SITE(chan_alive, bool, 1, void *);

uint64_t chan_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void chan_client_init(struct chan_client *c, void *shm, uint32_t idx)
{
	c->ctl = chan_ctl(shm, idx);
	c->s_need_wakeup = &((struct shunt_sess_hdr *)shm)->need_wakeup;
	/* A fresh or reused channel: continue from what the ring says now. */
	c->sq_tail = load_acquire(&c->ctl->sq_tail);
	c->cq_head = load_acquire(&c->ctl->cq_head);
	c->outstanding_async = 0;
	c->next_user_data = ((uint64_t)idx << 48) | 1;
}

/* Wait for cq_tail to move past `seen`: spin for spin_ns, then sleep on the
 * futex in slices, asking alive() between slices. */
static int wait_cq(struct chan_client *c, uint32_t seen, chan_alive_fn alive, void *arg, uint64_t spin_ns)
{
	struct shunt_chan_ctl *ctl = c->ctl;
	uint64_t start = 0;
	for (unsigned i = 0;; i++) {
		if (load_acquire(&ctl->cq_tail) != seen)
			return 0;
		cpu_relax();
		if ((i & 63) == 63) {
			uint64_t now = chan_now_ns();
			if (!start)
				start = now;
			else if (now - start > spin_ns)
				break;
			else if (now - start > 4000)
				/* Not answered within a few round trips: the poller may
				 * be waiting for this CPU (2 CPUs, other work). Yielding
				 * returns at once when nothing else is runnable here. */
				sys_sched_yield();
		}
	}
	for (;;) {
		store_relaxed(&ctl->client_sleeping, 1);
		/* Pairs with the fence in chan_server_complete(): either we see
		 * the new tail, or the server sees client_sleeping and wakes us. */
		fence_seq_cst();
		if (load_acquire(&ctl->cq_tail) != seen)
			break;
		STAT_INC(fs_client_sleeps);
		long r = sys_futex_wait(&ctl->cq_tail, seen, 20 * 1000 * 1000);
		if (load_acquire(&ctl->cq_tail) != seen)
			break;
		if (r == -ETIMEDOUT && alive && !SHUNT_JSW_CALL(chan_alive, alive, arg)) {
			store_relaxed(&ctl->client_sleeping, 0);
			return -EIO;
		}
	}
	store_relaxed(&ctl->client_sleeping, 0);
	return 0;
}

/* Consume one completion; returns it in *out. */
static void pop_cqe(struct chan_client *c, struct shunt_cqe *out)
{
	*out = c->ctl->cq[c->cq_head & (SHUNT_RING_ENTRIES - 1)];
	c->cq_head++;
	/* Tells the server the slot is free again. */
	store_release(&c->ctl->cq_head, c->cq_head);
}

int chan_client_submit(struct chan_client *c, struct shunt_sqe *sqe, chan_wake_fn wake, chan_alive_fn alive, void *arg,
		       uint64_t spin_ns)
{
	/* Room: never more than ENTRIES outstanding, so the CQ cannot overflow. */
	while (c->sq_tail - c->cq_head >= SHUNT_RING_ENTRIES) {
		uint32_t tail = load_acquire(&c->ctl->cq_tail);
		if (tail == c->cq_head) {
			int r = wait_cq(c, tail, alive, arg, spin_ns);
			if (r)
				return r;
			continue;
		}
		struct shunt_cqe dropped;
		pop_cqe(c, &dropped); /* only async completions can be here */
		if (c->outstanding_async)
			c->outstanding_async--;
	}
	sqe->user_data = c->next_user_data++;
	c->ctl->sq[c->sq_tail & (SHUNT_RING_ENTRIES - 1)] = *sqe;
	c->sq_tail++;
	if (sqe->flags & SHUNT_SQE_ASYNC)
		c->outstanding_async++;
	/* Publishes the entry written above; pairs with load_acquire of sq_tail
	 * in chan_server_take(). */
	store_release(&c->ctl->sq_tail, c->sq_tail);
	/* Pairs with the server's fence after setting need_wakeup. */
	fence_seq_cst();
	if (load_relaxed(c->s_need_wakeup) && wake)
		SHUNT_JSW_CALL(chan_wake, wake, arg);
	return 0;
}

int chan_client_wait(struct chan_client *c, uint64_t user_data, struct shunt_cqe *out, chan_alive_fn alive, void *arg,
		     uint64_t spin_ns)
{
	for (;;) {
		uint32_t tail = load_acquire(&c->ctl->cq_tail);
		if (tail == c->cq_head) {
			int r = wait_cq(c, tail, alive, arg, spin_ns);
			if (r)
				return r;
			continue;
		}
		if (tail - c->cq_head > SHUNT_RING_ENTRIES)
			return -EIO; /* the server broke the ring */
		pop_cqe(c, out);
		if (out->user_data == user_data)
			return 0;
		if (c->outstanding_async)
			c->outstanding_async--;
	}
}

int chan_server_take(struct shunt_chan_ctl *ctl, uint32_t *sq_head, struct shunt_sqe *out)
{
	/* Pairs with store_release of sq_tail in chan_client_submit(). */
	uint32_t tail = load_acquire(&ctl->sq_tail);
	uint32_t head = *sq_head;
	if (tail == head)
		return 0;
	if (tail - head > SHUNT_RING_ENTRIES)
		return -EPROTO;
	/* Copy out once: the client may rewrite the slot while we look. */
	memcpy(out, (const void *)&ctl->sq[head & (SHUNT_RING_ENTRIES - 1)], sizeof(*out));
	*sq_head = head + 1;
	store_release(&ctl->sq_head, *sq_head);
	return 1;
}

int chan_server_complete(struct shunt_chan_ctl *ctl, uint32_t *cq_tail, const struct shunt_cqe *cqe)
{
	uint32_t tail = *cq_tail;
	uint32_t head = load_acquire(&ctl->cq_head);
	if (tail - head >= SHUNT_RING_ENTRIES)
		return -ENOSPC;
	ctl->cq[tail & (SHUNT_RING_ENTRIES - 1)] = *cqe;
	*cq_tail = tail + 1;
	/* Publishes the cqe; pairs with load_acquire of cq_tail in the client. */
	store_release(&ctl->cq_tail, *cq_tail);
	/* Pairs with the client's fence after setting client_sleeping. */
	fence_seq_cst();
	if (load_relaxed(&ctl->client_sleeping))
		sys_futex_wake(&ctl->cq_tail, 1);
	return 0;
}
