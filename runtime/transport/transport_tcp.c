/* The TCP transport: memd_wire.h over one stream socket per connection,
 * one request in flight at a time (a mutex serialises callers). Called
 * through transport.h only. Never calls malloc or an interposed libc
 * function: sockets are driven with raw system calls. */
#include "transport/transport.h"
#include "transport/memd_wire.h"
#include "common/log.h"
#include "common/sys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

enum { TCP_MAX_BATCH = 64 }; /* segments per request this side sends */

struct tcp_xport {
	struct xport base;
	int fd;
	int dead;            /* -errno once the stream is unusable; under lock */
	uint64_t seq;        /* under lock */
	pthread_mutex_t lock;
	char addr[64];
};

static struct tcp_xport *tcp_of(struct xport *x) { return (struct tcp_xport *)x; }

static long xsys_socket(int d, int t, int p) { return sys_call(SYS_socket, d, t, p, 0, 0, 0); }
static long xsys_connect(int fd, const void *a, socklen_t n) { return sys_call(SYS_connect, fd, a, n, 0, 0, 0); }
static long xsys_setsockopt(int fd, int l, int o, const void *v, socklen_t n)
{
	return sys_call(SYS_setsockopt, fd, l, o, v, n, 0);
}

/* One request/reply under the lock. req_iov[0] must be left free for the
 * header. The reply payload goes into rep_iov (exactly its total length
 * when status is 0; a shorter fixed struct otherwise, or nothing). Returns
 * the reply status, or a transport error (which kills the connection). */
static int rpc(struct tcp_xport *t, unsigned op, uint32_t nseg, struct iovec *req_iov, int nreq,
	       struct iovec *rep_iov, int nrep, struct memd_span *enospc)
{
	struct memd_hdr h = { .magic = MEMD_MAGIC, .version = MEMD_VERSION, .op = (uint16_t)op, .nseg = nseg };
	uint64_t len = 0;
	for (int i = 1; i < nreq; i++)
		len += req_iov[i].iov_len;
	h.len = (uint32_t)len;
	req_iov[0] = (struct iovec){ &h, sizeof(h) };

	pthread_mutex_lock(&t->lock);
	int r = t->dead;
	if (r)
		goto out;
	h.seq = ++t->seq;
	r = memd_send_all(t->fd, req_iov, nreq);
	if (r)
		goto kill;
	struct memd_hdr rh;
	struct iovec hv = { &rh, sizeof(rh) };
	r = memd_recv_all(t->fd, &hv, 1);
	if (r)
		goto kill;
	if (memd_check_hdr(&rh, 1) || rh.seq != h.seq || (rh.op & ~MEMD_REPLY) != op) {
		r = -EPROTO;
		goto kill;
	}
	uint64_t want = 0;
	for (int i = 0; i < nrep; i++)
		want += rep_iov[i].iov_len;
	if (rh.status == 0) {
		if (rh.len != want) {
			r = -EPROTO;
			goto kill;
		}
		r = memd_recv_all(t->fd, rep_iov, nrep);
		if (r)
			goto kill;
	} else if (rh.status == -ENOSPC && op == MEMD_OP_ALLOC && rh.len == sizeof(*enospc)) {
		struct iovec sv = { enospc, sizeof(*enospc) };
		r = memd_recv_all(t->fd, &sv, 1);
		if (r)
			goto kill;
		r = -ENOSPC;
	} else if (rh.len) {
		r = -EPROTO; /* failed replies carry nothing else */
		goto kill;
	} else {
		r = rh.status;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return r;
kill:
	t->dead = r == -ECONNRESET || r == -EPIPE || r == -EPROTO ? r : -EPIPE;
	r = t->dead;
	pthread_mutex_unlock(&t->lock);
	log_error("far memory: connection to shunt-memd at %s lost (%d)", t->addr, r);
	return r;
}

static int tcp_info_locked_rpc(struct tcp_xport *t, unsigned op, const void *req, size_t reqlen,
			       struct memd_info *out)
{
	struct iovec rq[2] = { { 0 }, { (void *)req, reqlen } };
	struct iovec rp = { out, sizeof(*out) };
	return rpc(t, op, 0, rq, reqlen ? 2 : 1, &rp, 1, NULL);
}

static void fill_limits(struct xport_info *l, const struct memd_info *mi)
{
	l->total = mi->total;
	l->free = mi->free;
	l->chunk = mi->chunk;
	l->max_payload = mi->max_payload;
	l->max_segs = mi->max_segs;
	l->client_id = mi->client_id;
	l->clients = mi->clients;
	l->max_clients = mi->max_clients;
}

static void tcp_close(struct xport *x);

static int tcp_connect(const char *addr, struct xport **out, char *err, size_t errlen)
{
	struct sockaddr_in sa;
	if (xport_parse_inet(addr, &sa) || !sa.sin_port) {
		log_format(err, errlen, "far-memory server 'tcp://%s' is not of the form tcp://IPV4:PORT", addr);
		return -EINVAL;
	}
	struct tcp_xport *t = sys_mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_mmap_failed(t))
		return -ENOMEM;
	t->base.ops = &xport_tcp_ops;
	pthread_mutex_init(&t->lock, NULL);
	size_t an = strlen(addr) < sizeof(t->addr) - 1 ? strlen(addr) : sizeof(t->addr) - 1;
	memcpy(t->addr, addr, an);
	long fd = xsys_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		sys_munmap(t, sizeof(*t));
		log_format(err, errlen, "far memory: socket: error %ld", fd);
		return (int)fd;
	}
	t->fd = (int)fd;
	/* SO_SNDTIMEO bounds connect() too; cleared once connected. */
	struct timeval tv = { 5, 0 }, zero = { 0, 0 };
	xsys_setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	long r;
	do
		r = xsys_connect(t->fd, &sa, sizeof(sa));
	while (r == -EINTR);
	if (r < 0) {
		log_format(err, errlen, "cannot reach shunt-memd at tcp://%s: %s", addr,
			   r == -ECONNREFUSED ? "connection refused"
			   : r == -EINPROGRESS || r == -ETIMEDOUT ? "timed out"
								  : "connect failed");
		goto out_close;
	}
	xsys_setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
	int one = 1;
	xsys_setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	struct memd_hello hello = { .version = MEMD_VERSION, .page_size = 4096 };
	memcpy(hello.name, "libshunt", 8);
	struct memd_info mi;
	r = tcp_info_locked_rpc(t, MEMD_OP_HELLO, &hello, sizeof(hello), &mi);
	if (r) {
		log_format(err, errlen, "shunt-memd at tcp://%s refused the handshake: %s", addr,
			   r == -EPROTONOSUPPORT ? "protocol version not supported"
			   : r == -EUSERS	 ? "too many clients (--max-clients)"
			   : r == -ECONNRESET	 ? "connection closed"
						 : "protocol error");
		goto out_close;
	}
	if (!mi.chunk || !mi.max_payload || !mi.max_segs) {
		r = -EPROTO;
		log_format(err, errlen, "shunt-memd at tcp://%s sent impossible limits", addr);
		goto out_close;
	}
	fill_limits(&t->base.limits, &mi);
	if (t->base.limits.max_segs > TCP_MAX_BATCH)
		t->base.limits.max_segs = TCP_MAX_BATCH;
	*out = &t->base;
	return 0;
out_close:
	sys_close(t->fd);
	pthread_mutex_destroy(&t->lock);
	sys_munmap(t, sizeof(*t));
	return (int)r;
}

static int tcp_reg_buf(struct xport *x, void *buf, size_t len)
{
	(void)x, (void)buf, (void)len;
	return 0; /* TCP copies through the socket: nothing to register */
}

static int tcp_alloc(struct xport *x, uint64_t len, uint64_t *raddr)
{
	struct tcp_xport *t = tcp_of(x);
	struct memd_span req = { 0, len }, rep = { 0, 0 }, left = { 0, 0 };
	struct iovec rq[2] = { { 0 }, { &req, sizeof(req) } };
	struct iovec rp = { &rep, sizeof(rep) };
	int r = rpc(t, MEMD_OP_ALLOC, 0, rq, 2, &rp, 1, &left);
	if (r == -ENOSPC)
		x->limits.free = left.len; /* what is left, for the caller's message */
	if (r)
		return r;
	*raddr = rep.raddr;
	return 0;
}

static int tcp_free(struct xport *x, uint64_t raddr, uint64_t len)
{
	struct memd_span req = { raddr, len };
	struct iovec rq[2] = { { 0 }, { &req, sizeof(req) } };
	return rpc(tcp_of(x), MEMD_OP_FREE, 0, rq, 2, NULL, 0, NULL);
}

static int tcp_read(struct xport *x, const struct xport_io *io, unsigned n)
{
	if (!n || n > TCP_MAX_BATCH)
		return -EINVAL;
	struct memd_seg segs[TCP_MAX_BATCH];
	struct iovec rp[TCP_MAX_BATCH];
	for (unsigned i = 0; i < n; i++) {
		segs[i] = (struct memd_seg){ io[i].raddr, io[i].len, 0 };
		rp[i] = (struct iovec){ io[i].buf, io[i].len };
	}
	struct iovec rq[2] = { { 0 }, { segs, n * sizeof(segs[0]) } };
	return rpc(tcp_of(x), MEMD_OP_READ, n, rq, 2, rp, (int)n, NULL);
}

static int tcp_write(struct xport *x, const struct xport_io *io, unsigned n)
{
	if (!n || n > TCP_MAX_BATCH)
		return -EINVAL;
	struct memd_seg segs[TCP_MAX_BATCH];
	struct iovec rq[2 + TCP_MAX_BATCH];
	for (unsigned i = 0; i < n; i++) {
		segs[i] = (struct memd_seg){ io[i].raddr, io[i].len, 0 };
		rq[2 + i] = (struct iovec){ io[i].buf, io[i].len };
	}
	rq[1] = (struct iovec){ segs, n * sizeof(segs[0]) };
	return rpc(tcp_of(x), MEMD_OP_WRITE, n, rq, 2 + (int)n, NULL, 0, NULL);
}

static int tcp_info(struct xport *x, struct xport_info *out)
{
	struct memd_info mi;
	int r = tcp_info_locked_rpc(tcp_of(x), MEMD_OP_STAT, NULL, 0, &mi);
	if (r)
		return r;
	fill_limits(out, &mi);
	return 0;
}

static void tcp_close(struct xport *x)
{
	struct tcp_xport *t = tcp_of(x);
	sys_close(t->fd);
	pthread_mutex_destroy(&t->lock);
	sys_munmap(t, sizeof(*t));
}

static void tcp_fork(struct xport *x, int phase)
{
	struct tcp_xport *t = tcp_of(x);
	if (phase == XPORT_FORK_PREPARE)
		pthread_mutex_lock(&t->lock);
	else if (phase == XPORT_FORK_PARENT)
		pthread_mutex_unlock(&t->lock);
	else
		pthread_mutex_init(&t->lock, NULL); /* the child's copy: only this thread exists */
}

const struct xport_ops xport_tcp_ops = {
	.scheme = "tcp",
	.connect = tcp_connect,
	.reg_buf = tcp_reg_buf,
	.alloc = tcp_alloc,
	.free = tcp_free,
	.read = tcp_read,
	.write = tcp_write,
	.info = tcp_info,
	.close = tcp_close,
	.fork = tcp_fork,
};
