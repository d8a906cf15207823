/* The rdma:// protocol's pure parts (rdma_wire.h): message checks, the
 * region table, address parsing. No I/O, no allocation, no verbs: shared by
 * the client transport and shunt-memd, and unit-tested without a device. */
#include "transport/rdma_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

int rdma_msg_check(const struct rdma_msg *mp, uint32_t byte_len, int reply)
{
	if (byte_len != sizeof(struct rdma_msg))
		return -EPROTO;
	struct rdma_msg m = *mp; /* read once */
	if (m.magic != RDMA_WIRE_MAGIC || m.version != RDMA_WIRE_VERSION)
		return -EPROTO;
	unsigned is_reply = (m.op & MEMD_REPLY) != 0;
	unsigned op = m.op & ~MEMD_REPLY;
	if (is_reply != (unsigned)!!reply)
		return -EPROTO;
	if (op != MEMD_OP_ALLOC && op != MEMD_OP_FREE && op != MEMD_OP_STAT)
		return -EINVAL;
	if (m.flags)
		return -EINVAL;
	if (reply)
		return m.status > 0 || m.status < -4095 ? -EPROTO : 0;
	if (m.status)
		return -EINVAL;
	if (op == MEMD_OP_ALLOC && (m.u.span.raddr || !m.u.span.len))
		return -EINVAL;
	if (op == MEMD_OP_FREE && !m.u.span.len)
		return -EINVAL;
	return 0;
}

/* First index whose raddr is > raddr. */
static uint32_t upper(const struct rdma_regions *t, uint64_t raddr)
{
	uint32_t lo = 0, hi = t->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (t->r[mid].raddr <= raddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int rdma_regions_add(struct rdma_regions *t, const struct rdma_region *r)
{
	if (!r->len || r->raddr + r->len < r->raddr)
		return -EINVAL;
	if (t->n == t->cap)
		return -ENOSPC;
	uint32_t i = upper(t, r->raddr);
	if (i > 0 && t->r[i - 1].raddr + t->r[i - 1].len > r->raddr)
		return -EEXIST;
	if (i < t->n && r->raddr + r->len > t->r[i].raddr)
		return -EEXIST;
	memmove(&t->r[i + 1], &t->r[i], (t->n - i) * sizeof(t->r[0]));
	t->r[i] = *r;
	t->n++;
	return 0;
}

const struct rdma_region *rdma_regions_find(const struct rdma_regions *t, uint64_t raddr, uint64_t len)
{
	uint32_t i = upper(t, raddr);
	if (i == 0)
		return NULL;
	const struct rdma_region *r = &t->r[i - 1];
	uint64_t off = raddr - r->raddr;
	if (off >= r->len || len > r->len - off)
		return NULL;
	return r;
}

int rdma_regions_del(struct rdma_regions *t, uint64_t raddr, uint64_t len, struct rdma_region *out)
{
	uint32_t i = upper(t, raddr);
	if (i == 0 || t->r[i - 1].raddr != raddr || t->r[i - 1].len != len)
		return -ENOENT;
	i--;
	if (out)
		*out = t->r[i];
	memmove(&t->r[i], &t->r[i + 1], (t->n - i - 1) * sizeof(t->r[0]));
	t->n--;
	return 0;
}
