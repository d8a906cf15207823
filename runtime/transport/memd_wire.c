/* Validation of shunt-memd frames (protocol in memd_wire.h), shared by the
 * server (requests) and the TCP client (replies). Pure functions: no I/O,
 * no allocation. */
#include "transport/memd_wire.h"
#include "common/sys.h"
#include <sys/uio.h>
#include <sys/socket.h>
#include <stdbool.h>

#include <errno.h>

/* Fixed request payloads; -1 for the segment-table ops. */
static const long req_payload[MEMD_OP_COUNT] = {
	[MEMD_OP_HELLO] = sizeof(struct memd_hello),
	[MEMD_OP_ALLOC] = sizeof(struct memd_span),
	[MEMD_OP_FREE] = sizeof(struct memd_span),
	[MEMD_OP_READ] = -1,
	[MEMD_OP_WRITE] = -1,
	[MEMD_OP_STAT] = 0,
};
_Static_assert(sizeof(req_payload) / sizeof(req_payload[0]) == MEMD_OP_COUNT, "op table");

long memd_req_payload(unsigned op)
{
	if (op == 0 || op >= MEMD_OP_COUNT)
		return -2;
	return req_payload[op];
}

int memd_check_hdr(const struct memd_hdr *hp, int reply)
{
	struct memd_hdr h = *hp; /* read once */
	if (h.magic != MEMD_MAGIC || h.len > MEMD_MAX_LEN)
		return -EPROTO;
	if (h.version != MEMD_VERSION)
		return -EPROTONOSUPPORT;
	unsigned is_reply = (h.op & MEMD_REPLY) != 0;
	unsigned op = h.op & ~MEMD_REPLY;
	if (is_reply != (unsigned)!!reply || op == 0 || op >= MEMD_OP_COUNT || h.flags)
		return -EINVAL;
	if (reply) {
		if (h.status > 0 || h.status < -4095 || h.nseg)
			return -EINVAL;
		return 0;
	}
	if (h.status)
		return -EINVAL;
	long fixed = req_payload[op];
	if (fixed >= 0)
		return h.nseg == 0 && h.len == (uint32_t)fixed ? 0 : -EINVAL;
	if (h.nseg == 0 || h.nseg > MEMD_MAX_SEGS || h.len < h.nseg * sizeof(struct memd_seg))
		return -EINVAL;
	if (op == MEMD_OP_READ && h.len != h.nseg * sizeof(struct memd_seg))
		return -EINVAL;
	return 0;
}

long memd_check_segs(const struct memd_hdr *h, const struct memd_seg *segs)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < h->nseg; i++) {
		struct memd_seg s = segs[i];
		if (!s.len || s.reserved || s.raddr + s.len < s.raddr)
			return -EINVAL;
		total += s.len;
		if (total > MEMD_MAX_PAYLOAD)
			return -EINVAL;
	}
	uint64_t table = (uint64_t)h->nseg * sizeof(struct memd_seg);
	unsigned op = h->op & ~MEMD_REPLY;
	if (op == MEMD_OP_WRITE && h->len != table + total)
		return -EINVAL;
	return (long)total;
}

/* Step iov past `done` bytes; returns how many entries remain. */
static int iov_advance(struct iovec **iovp, int n, size_t done)
{
	struct iovec *iov = *iovp;
	while (n > 0 && done >= iov->iov_len) {
		done -= iov->iov_len;
		iov++;
		n--;
	}
	if (n > 0) {
		iov->iov_base = (char *)iov->iov_base + done;
		iov->iov_len -= done;
	}
	*iovp = iov;
	return n;
}

static int stream_all(int fd, struct iovec *iov, int n, bool send)
{
	while (n > 0) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)(n > 512 ? 512 : n) /* under IOV_MAX */ };
		long r = send ? sys_call(SYS_sendmsg, fd, &m, MSG_NOSIGNAL, 0, 0, 0)
			      : sys_call(SYS_recvmsg, fd, &m, MSG_WAITALL, 0, 0, 0);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return (int)r;
		if (r == 0 && !send)
			return -ECONNRESET;
		n = iov_advance(&iov, n, (size_t)r);
	}
	return 0;
}

int memd_send_all(int fd, struct iovec *iov, int n) { return stream_all(fd, iov, n, true); }
int memd_recv_all(int fd, struct iovec *iov, int n) { return stream_all(fd, iov, n, false); }
