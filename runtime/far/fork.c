/* Far memory across fork. The child gets every page the server holds for it
 * copied into plain local memory, then far memory is off there; it never
 * touches the connection (an rdma:// queue pair and its pinned buffers are
 * the parent's, and the kernel refuses a child the verbs device file its
 * parent opened): it asks the parent over a socketpair, and the parent reads
 * the pages over its own connection and sends them, with write-backs and
 * remote frees held off (far.freeze) so the server still holds what the child
 * saw at fork. Both halves: raw system calls, no malloc, no stdio. */
#include "far/far_internal.h"
#include "far/arena.h"
#include "far/anon.h"
#include "alloc/alloc.h"
#include "common/atomics.h"
#include "common/log.h"
#include "common/sys.h"
#include "transport/memd_wire.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* The child's request: n pages (0: done). The parent's answer: status
 * (0 or -errno: the child cannot have its pages), then n pages in the
 * order asked when status is 0. */
enum { FORK_BATCH = 64 };
struct fork_req {
	uint32_t n;
	uint32_t reserved; /* 0 */
	uint64_t pg[FORK_BATCH];
};
struct fork_rep {
	int32_t status;
	uint32_t n;
};
_Static_assert(sizeof(struct fork_req) == 8 + FORK_BATCH * 8, "fork_req layout");
_Static_assert(sizeof(struct fork_rep) == 8, "fork_rep layout");

static int chan[2] = { -1, -1 }; /* [0] the parent's end, [1] the child's */
static int chan_err;              /* why there is no channel */

/* jemalloc's handlers are called from here, around far memory's: its locks
 * first (runtime/alloc/alloc.h says why). Registered whether far memory is
 * on or not. */
void far_fork_prepare(void)
{
	alloc_fork_prepare();
	if (!far_enabled())
		return;
	far_region_fork(XPORT_FORK_PREPARE);
	pthread_rwlock_wrlock(&far.freeze); /* no write-back or remote free in flight or starting */
	/* Under far.freeze: another thread's fork waits for ours to be served. */
	long r = sys_call(SYS_socketpair, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan, 0, 0);
	chan_err = r < 0 ? (int)r : 0;
	if (r < 0)
		chan[0] = chan[1] = -1;
	xport_fork(far.xp, XPORT_FORK_PREPARE);
}

/* ---- the parent ---- */

/* Answers the child's requests until it is done or gone. Each page is
 * read afresh from the server over our connection (the child asks only for
 * pages it did not have resident, which the server holds as they were at
 * fork: nothing can write or free there while we hold far.freeze). */
static void serve_child(int fd)
{
	char *buf = sys_mmap(NULL, FORK_BATCH * FAR_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_mmap_failed(buf))
		buf = NULL;
	uint64_t sent = 0;
	for (;;) {
		struct fork_req q; /* a copy: checked before use */
		struct iovec iv = { &q, sizeof(q) };
		if (memd_recv_all(fd, &iv, 1) || q.n == 0)
			break; /* done, or the child is gone */
		struct fork_rep a = { 0, q.n };
		struct xport_io io[FORK_BATCH];
		if (q.n > FORK_BATCH || q.reserved)
			a.status = -EINVAL;
		else if (!buf)
			a.status = -ENOMEM;
		for (uint32_t i = 0; i < q.n && !a.status; i++) {
			uint64_t ra = 0;
			if (q.pg[i] >= far.npages || far_remote_addr(q.pg[i], 0, &ra))
				a.status = -EFAULT;
			io[i] = (struct xport_io){ ra, buf + i * FAR_PAGE, FAR_PAGE };
		}
		if (!a.status)
			a.status = xport_read(far.xp, io, q.n);
		struct iovec out[2] = { { &a, sizeof(a) }, { buf, (size_t)q.n * FAR_PAGE } };
		if (memd_send_all(fd, out, a.status ? 1 : 2))
			break;
		sent += a.status ? 0 : q.n;
	}
	if (buf)
		sys_munmap(buf, FORK_BATCH * FAR_PAGE);
	log_debug("far memory: read %lu pages from the server for a fork child", (unsigned long)sent);
}

void far_fork_parent(void)
{
	if (!far_enabled()) {
		alloc_fork_parent();
		return;
	}
	/* The connection is ours alone again, and so are the allocators: other
	 * threads may fault pages in and allocate while the child copies; only
	 * the server's contents stay as they were (far.freeze). */
	int mine = chan[0], childs = chan[1];
	xport_fork(far.xp, XPORT_FORK_PARENT);
	far_region_fork(XPORT_FORK_PARENT);
	alloc_fork_parent();
	if (mine >= 0) {
		sys_close(childs);
		serve_child(mine);
		sys_close(mine);
	}
	pthread_rwlock_unlock(&far.freeze);
}

/* ---- the child ---- */

/* Asks the parent for q's pages and receives them in place. */
static int fetch(int fd, struct fork_req *q)
{
	struct iovec iv = { q, sizeof(*q) };
	int r = memd_send_all(fd, &iv, 1);
	struct fork_rep a;
	iv = (struct iovec){ &a, sizeof(a) };
	if (r || (r = memd_recv_all(fd, &iv, 1)))
		return r;
	if (a.status)
		return a.status;
	if (a.n != q->n)
		return -EPROTO;
	struct iovec pages[FORK_BATCH];
	for (uint32_t i = 0; i < q->n; i++)
		pages[i] = (struct iovec){ far.base + q->pg[i] * FAR_PAGE, FAR_PAGE };
	return memd_recv_all(fd, pages, (int)q->n);
}

/* Every page that lives only on the server (remote, not resident here:
 * a resident copy is the newest) from the parent. 0 or -errno. */
static int copy_from_parent(uint64_t *copied)
{
	enum { SCAN = 1024 };
	unsigned char vec[SCAN];
	struct fork_req q = { 0 };
	int r = 0;
	for (uint64_t base = 0; base < far.npages && !r; base += SCAN) {
		uint64_t cnt = far.npages - base < SCAN ? far.npages - base : SCAN;
		int any = 0;
		for (uint64_t i = 0; i < cnt && !any; i++)
			any = (load_relaxed(&far.pflags[base + i]) & PG_REMOTE) != 0;
		if (!any)
			continue;
		if (chan[1] < 0)
			return chan_err ? chan_err : -EBADF;
		if (sys_call(SYS_mincore, far.base + base * FAR_PAGE, cnt * FAR_PAGE, vec, 0, 0, 0))
			memset(vec, 0, sizeof(vec));
		for (uint64_t i = 0; i < cnt && !r; i++) {
			if (!(load_relaxed(&far.pflags[base + i]) & PG_REMOTE) || (vec[i] & 1))
				continue;
			q.pg[q.n++] = base + i;
			if (q.n == FORK_BATCH) {
				r = fetch(chan[1], &q);
				*copied += q.n;
				q.n = 0;
			}
		}
	}
	if (q.n && !r) {
		r = fetch(chan[1], &q);
		*copied += q.n;
	}
	return r;
}

/* The child: one thread, a copy of the parent's memory, and a region that is
 * plain anonymous memory now (userfaultfd registrations do not survive
 * fork). Pages the parent had resident are here already; pages that lived
 * only on the server are copied in; far memory is then off here. */
void far_fork_child(void)
{
	alloc_fork_child(); /* nothing below allocates, but the child may at once */
	if (!far_enabled())
		return;
	xport_fork(far.xp, XPORT_FORK_CHILD);
	far_region_fork(XPORT_FORK_CHILD);
	pthread_rwlock_init(&far.freeze, NULL);
	if (chan[0] >= 0)
		sys_close(chan[0]);
	uint64_t copied = 0;
	int failed = copy_from_parent(&copied);
	if (chan[1] >= 0) {
		struct fork_req done = { 0 };
		struct iovec iv = { &done, sizeof(done) };
		memd_send_all(chan[1], &iv, 1);
		sys_close(chan[1]);
	}
	chan[0] = chan[1] = -1;
	/* Far memory is off in this process from here on. */
	far_arena_off_in_child();
	far_anon_off_in_child();
	sys_close(far.uffd);
	far_child_forget();
	if (failed) {
		log_error("far memory: fork child could not copy the pages that live on shunt-memd at %s (error %d); "
			  "stopping it with SIGBUS rather than let it read zeros",
			  far.url, failed);
		sys_call(SYS_kill, sys_getpid(), SIGBUS, 0, 0, 0, 0);
	}
	log_debug("far memory: fork child copied %lu pages from the server through its parent; far memory is off in "
		  "the child",
		  (unsigned long)copied);
}
