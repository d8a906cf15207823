/* The rdma:// protocol's parts that need no RDMA device: control-message
 * checks, the region table (client: raddr -> rkey; server: its regions per
 * client), address parsing, and that rdma:// never falls back to anything
 * when the host has no device. */
#include "test_ccache_tsan.h" /* Criterion, or its TSan stand-in */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "transport/rdma_lib.h"
#include "transport/rdma_wire.h"
#include "transport/transport.h"

static struct rdma_msg msg(unsigned op, int reply)
{
	struct rdma_msg m = { .magic = RDMA_WIRE_MAGIC, .version = RDMA_WIRE_VERSION,
			      .op = (uint16_t)(op | (reply ? MEMD_REPLY : 0)), .seq = 9 };
	if (op == MEMD_OP_ALLOC && !reply)
		m.u.span.len = 1 << 20;
	if (op == MEMD_OP_FREE && !reply)
		m.u.span = (struct memd_span){ 1 << 20, 1 << 20 };
	return m;
}

Test(rdma_wire, good_messages)
{
	for (unsigned op = MEMD_OP_ALLOC; op <= MEMD_OP_STAT; op++) {
		if (op == MEMD_OP_READ || op == MEMD_OP_WRITE)
			continue;
		struct rdma_msg m = msg(op, 0);
		cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), 0, "request op %u", op);
		m = msg(op, 1);
		cr_assert_eq(rdma_msg_check(&m, sizeof(m), 1), 0, "reply op %u", op);
		m.status = -ENOSPC;
		cr_assert_eq(rdma_msg_check(&m, sizeof(m), 1), 0, "failed reply op %u", op);
	}
}

Test(rdma_wire, unframable_messages_end_the_connection)
{
	struct rdma_msg m = msg(MEMD_OP_STAT, 0);
	cr_assert_eq(rdma_msg_check(&m, sizeof(m) - 1, 0), -EPROTO, "short");
	cr_assert_eq(rdma_msg_check(&m, sizeof(m) + 8, 0), -EPROTO, "long");
	m.magic ^= 1;
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EPROTO, "magic");
	m = msg(MEMD_OP_STAT, 0);
	m.version = 2;
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EPROTO, "version");
	m = msg(MEMD_OP_STAT, 0);
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 1), -EPROTO, "a request where a reply is due");
	m = msg(MEMD_OP_STAT, 1);
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EPROTO, "a reply where a request is due");
	m.status = 1;
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 1), -EPROTO, "positive status");
	m.status = -5000;
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 1), -EPROTO, "status out of errno range");
}

Test(rdma_wire, bad_requests_are_refused)
{
	struct rdma_msg m = msg(MEMD_OP_READ, 0);
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EINVAL, "READ is one-sided, never a message");
	m = msg(MEMD_OP_WRITE, 0);
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EINVAL);
	m = msg(0, 0);
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EINVAL);
	m = msg(MEMD_OP_COUNT, 0);
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EINVAL);
	m = msg(MEMD_OP_STAT, 0);
	m.flags = 1;
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EINVAL);
	m = msg(MEMD_OP_STAT, 0);
	m.status = -1;
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EINVAL);
	m = msg(MEMD_OP_ALLOC, 0);
	m.u.span.len = 0;
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EINVAL);
	m = msg(MEMD_OP_ALLOC, 0);
	m.u.span.raddr = 4096;
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EINVAL);
	m = msg(MEMD_OP_FREE, 0);
	m.u.span.len = 0;
	cr_assert_eq(rdma_msg_check(&m, sizeof(m), 0), -EINVAL);
}

#define MIB (1ull << 20)

Test(rdma_regions, add_find_delete)
{
	struct rdma_region store[4];
	struct rdma_regions t = { 0, 4, store };
	struct rdma_region a = { .raddr = 8 * MIB, .len = 4 * MIB, .va = 0x7f0000800000, .rkey = 11 };
	struct rdma_region b = { .raddr = 0, .len = 2 * MIB, .va = 0x7f0000000000, .rkey = 22 };
	struct rdma_region c = { .raddr = 2 * MIB, .len = 6 * MIB, .va = 0x7f0000200000, .rkey = 33 };
	cr_assert_eq(rdma_regions_add(&t, &a), 0);
	cr_assert_eq(rdma_regions_add(&t, &b), 0);
	cr_assert_eq(rdma_regions_add(&t, &c), 0, "exactly between its neighbours");
	cr_assert_eq(t.n, 3);
	for (uint32_t i = 1; i < t.n; i++)
		cr_assert(t.r[i - 1].raddr < t.r[i].raddr, "kept sorted");

	const struct rdma_region *f = rdma_regions_find(&t, 9 * MIB + 100, 4096);
	cr_assert(f && f->rkey == 11);
	cr_assert_eq(f->va + (9 * MIB + 100 - f->raddr), 0x7f0000800000 + MIB + 100);
	cr_assert(rdma_regions_find(&t, 0, 1) && rdma_regions_find(&t, 0, 1)->rkey == 22);
	cr_assert(rdma_regions_find(&t, 8 * MIB - 4096, 4096)->rkey == 33, "last page of a region");
	cr_assert_null(rdma_regions_find(&t, 8 * MIB - 4096, 8192), "straddles two regions");
	cr_assert_null(rdma_regions_find(&t, 12 * MIB, 4096), "past the end");
	cr_assert_null(rdma_regions_find(&t, 12 * MIB - 1, 2));

	struct rdma_region out;
	cr_assert_eq(rdma_regions_del(&t, 2 * MIB, 4 * MIB, &out), -ENOENT, "a FREE must name a whole ALLOC");
	cr_assert_eq(rdma_regions_del(&t, 3 * MIB, 6 * MIB, &out), -ENOENT);
	cr_assert_eq(rdma_regions_del(&t, 2 * MIB, 6 * MIB, &out), 0);
	cr_assert_eq(out.rkey, 33);
	cr_assert_null(rdma_regions_find(&t, 3 * MIB, 4096), "freed space is not addressable");
	cr_assert_eq(t.n, 2);
	cr_assert(rdma_regions_find(&t, 9 * MIB, 4096)->rkey == 11, "the others stay");
}

Test(rdma_regions, refuses_overlap_wrap_and_overflow)
{
	struct rdma_region store[2];
	struct rdma_regions t = { 0, 2, store };
	struct rdma_region a = { .raddr = 4 * MIB, .len = 4 * MIB };
	cr_assert_eq(rdma_regions_add(&t, &a), 0);
	struct rdma_region o = { .raddr = 7 * MIB, .len = 2 * MIB };
	cr_assert_eq(rdma_regions_add(&t, &o), -EEXIST, "overlaps the end");
	o = (struct rdma_region){ .raddr = 3 * MIB, .len = 2 * MIB };
	cr_assert_eq(rdma_regions_add(&t, &o), -EEXIST, "overlaps the start");
	o = (struct rdma_region){ .raddr = 4 * MIB, .len = 4 * MIB };
	cr_assert_eq(rdma_regions_add(&t, &o), -EEXIST, "the same again");
	o = (struct rdma_region){ .raddr = 1 * MIB, .len = 0 };
	cr_assert_eq(rdma_regions_add(&t, &o), -EINVAL);
	o = (struct rdma_region){ .raddr = UINT64_MAX - 10, .len = 100 };
	cr_assert_eq(rdma_regions_add(&t, &o), -EINVAL);
	o = (struct rdma_region){ .raddr = 0, .len = 4 * MIB };
	cr_assert_eq(rdma_regions_add(&t, &o), 0, "touching is not overlapping");
	o = (struct rdma_region){ .raddr = 8 * MIB, .len = MIB };
	cr_assert_eq(rdma_regions_add(&t, &o), -ENOSPC, "table full");
	cr_assert_null(rdma_regions_find(&t, UINT64_MAX - 4095, 4096));
}

Test(rdma_wire, addresses)
{
	struct sockaddr_in sa;
	cr_assert_eq(xport_parse_inet("192.168.77.1:7471", &sa), 0);
	cr_assert_eq(ntohs(sa.sin_port), 7471);
	cr_assert_eq(ntohl(sa.sin_addr.s_addr), 0xc0a84d01u);
	cr_assert_eq(xport_parse_inet("192.168.77.1", &sa), -EINVAL);
	cr_assert_eq(xport_parse_inet("192.168.77.1:", &sa), -EINVAL);
	cr_assert_eq(xport_parse_inet(":7471", &sa), -EINVAL);
	cr_assert_eq(xport_parse_inet("host:7471", &sa), -EINVAL, "numeric only: no resolver in a fault path");
	cr_assert_eq(xport_parse_inet("1.2.3.4:65536", &sa), -EINVAL);
	cr_assert_eq(xport_parse_inet("1.2.3.4:7x", &sa), -EINVAL);
}

/* Where the host has no RDMA device (these machines), rdma:// fails at
 * connect and says so; where it has one, that is not the failure. */
Test(rdma_wire, no_device_is_a_clear_failure)
{
	char err[256] = "";
	struct xport *x = NULL;
	if (rdma_lib_load(err, sizeof(err))) {
		cr_assert_neq(xport_connect("rdma://10.11.12.13:7471", &x, err, sizeof(err)), 0);
		cr_assert(strstr(err, "cannot be loaded"), "%s", err);
		return;
	}
	int devices = rdma_lib_device_count();
	err[0] = 0;
	int r = xport_connect("rdma://10.11.12.13:7471", &x, err, sizeof(err));
	cr_assert_neq(r, 0, "nothing listens at 10.11.12.13");
	if (devices <= 0) {
		cr_assert_eq(r, -ENODEV);
		cr_assert(strstr(err, "no RDMA device found") && strstr(err, "use tcp://"), "%s", err);
	} else {
		cr_assert_neq(r, -ENODEV, "%s", err);
	}
	cr_assert_eq(xport_connect("rdma://10.11.12.13", &x, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "rdma://IPV4:PORT"), "%s", err);
}
