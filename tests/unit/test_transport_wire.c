/* shunt-memd framing: well-formed frames pass; every kind of malformed frame
 * is refused with the code that says whether the stream can go on. */
#include "test_ccache_tsan.h" /* Criterion, or its TSan stand-in */
#include <errno.h>
#include <string.h>

#include "transport/memd_wire.h"

static struct memd_hdr req(unsigned op, uint32_t nseg, uint32_t len)
{
	return (struct memd_hdr){ .magic = MEMD_MAGIC, .version = MEMD_VERSION, .op = (uint16_t)op, .seq = 7,
				  .nseg = nseg, .len = len };
}

Test(wire, good_requests)
{
	struct memd_hdr h = req(MEMD_OP_HELLO, 0, sizeof(struct memd_hello));
	cr_assert_eq(memd_check_hdr(&h, 0), 0);
	h = req(MEMD_OP_ALLOC, 0, sizeof(struct memd_span));
	cr_assert_eq(memd_check_hdr(&h, 0), 0);
	h = req(MEMD_OP_FREE, 0, sizeof(struct memd_span));
	cr_assert_eq(memd_check_hdr(&h, 0), 0);
	h = req(MEMD_OP_STAT, 0, 0);
	cr_assert_eq(memd_check_hdr(&h, 0), 0);
	h = req(MEMD_OP_READ, 2, 32);
	cr_assert_eq(memd_check_hdr(&h, 0), 0);
	h = req(MEMD_OP_WRITE, 1, 16 + 4096);
	cr_assert_eq(memd_check_hdr(&h, 0), 0);
}

Test(wire, unframable_streams_are_dropped)
{
	struct memd_hdr h = req(MEMD_OP_STAT, 0, 0);
	h.magic ^= 1;
	cr_assert_eq(memd_check_hdr(&h, 0), -EPROTO);
	h = req(MEMD_OP_WRITE, 1, MEMD_MAX_LEN + 1);
	cr_assert_eq(memd_check_hdr(&h, 0), -EPROTO);
	h = req(MEMD_OP_STAT, 0, 0);
	h.version = 2;
	cr_assert_eq(memd_check_hdr(&h, 0), -EPROTONOSUPPORT);
}

Test(wire, bad_requests_fail_alone)
{
	struct memd_hdr h = req(0, 0, 0);
	cr_assert_eq(memd_check_hdr(&h, 0), -EINVAL, "op 0");
	h = req(MEMD_OP_COUNT, 0, 0);
	cr_assert_eq(memd_check_hdr(&h, 0), -EINVAL, "op past the table");
	h = req(MEMD_OP_STAT | MEMD_REPLY, 0, 0);
	cr_assert_eq(memd_check_hdr(&h, 0), -EINVAL, "a reply sent as a request");
	h = req(MEMD_OP_STAT, 0, 0);
	h.flags = 1;
	cr_assert_eq(memd_check_hdr(&h, 0), -EINVAL, "unknown flags");
	h = req(MEMD_OP_STAT, 0, 0);
	h.status = -5;
	cr_assert_eq(memd_check_hdr(&h, 0), -EINVAL, "status in a request");
	h = req(MEMD_OP_ALLOC, 0, 8);
	cr_assert_eq(memd_check_hdr(&h, 0), -EINVAL, "short fixed payload");
	h = req(MEMD_OP_ALLOC, 1, 16);
	cr_assert_eq(memd_check_hdr(&h, 0), -EINVAL, "segments on a fixed op");
	h = req(MEMD_OP_READ, 0, 0);
	cr_assert_eq(memd_check_hdr(&h, 0), -EINVAL, "read of nothing");
	h = req(MEMD_OP_READ, MEMD_MAX_SEGS + 1, (MEMD_MAX_SEGS + 1) * 16);
	cr_assert_eq(memd_check_hdr(&h, 0), -EINVAL, "too many segments");
	h = req(MEMD_OP_READ, 2, 48);
	cr_assert_eq(memd_check_hdr(&h, 0), -EINVAL, "read with data");
	h = req(MEMD_OP_WRITE, 4, 32);
	cr_assert_eq(memd_check_hdr(&h, 0), -EINVAL, "table longer than the frame");
}

Test(wire, replies)
{
	struct memd_hdr h = req(MEMD_OP_READ | MEMD_REPLY, 0, 4096);
	cr_assert_eq(memd_check_hdr(&h, 1), 0);
	h.status = -ENOSPC;
	cr_assert_eq(memd_check_hdr(&h, 1), 0);
	h.status = 1;
	cr_assert_eq(memd_check_hdr(&h, 1), -EINVAL, "positive status");
	h = req(MEMD_OP_READ, 0, 0);
	cr_assert_eq(memd_check_hdr(&h, 1), -EINVAL, "a request where a reply belongs");
	h = req(MEMD_OP_READ | MEMD_REPLY, 3, 0);
	cr_assert_eq(memd_check_hdr(&h, 1), -EINVAL, "segments in a reply");
}

Test(wire, segment_tables)
{
	struct memd_seg s[3] = { { 0, 4096, 0 }, { 8192, 100, 0 }, { 1 << 20, 1, 0 } };
	struct memd_hdr h = req(MEMD_OP_READ, 3, 48);
	cr_assert_eq(memd_check_segs(&h, s), 4197);
	h = req(MEMD_OP_WRITE, 3, 48 + 4197);
	cr_assert_eq(memd_check_segs(&h, s), 4197);
	h.len = 48 + 4196;
	cr_assert_eq(memd_check_segs(&h, s), -EINVAL, "data shorter than the table says");
	h = req(MEMD_OP_READ, 3, 48);
	s[1].len = 0;
	cr_assert_eq(memd_check_segs(&h, s), -EINVAL, "empty segment");
	s[1].len = 100;
	s[1].reserved = 1;
	cr_assert_eq(memd_check_segs(&h, s), -EINVAL, "reserved bits");
	s[1].reserved = 0;
	s[1].raddr = UINT64_MAX - 10;
	cr_assert_eq(memd_check_segs(&h, s), -EINVAL, "wrapping address");
	s[1].raddr = 0;
	s[0].len = MEMD_MAX_PAYLOAD;
	cr_assert_eq(memd_check_segs(&h, s), -EINVAL, "over the payload limit");
}

Test(wire, op_table)
{
	cr_assert_eq(memd_req_payload(MEMD_OP_HELLO), (long)sizeof(struct memd_hello));
	cr_assert_eq(memd_req_payload(MEMD_OP_READ), -1);
	cr_assert_eq(memd_req_payload(MEMD_OP_STAT), 0);
	cr_assert_eq(memd_req_payload(0), -2);
	cr_assert_eq(memd_req_payload(MEMD_OP_COUNT), -2);
}
