/* The rdma:// protocol between a far-memory client and shunt-memd. Pages
 * never pass through the server's CPU: the client moves them with one-sided
 * RDMA READ/WRITE into the regions the server registered for it. What
 * remains is control, in fixed-size messages (struct rdma_msg) sent with
 * SEND/RECV on the same queue pair, one request in flight per connection:
 *
 *   request                  reply (op | MEMD_REPLY, same seq)
 *   ALLOC  span{0, len}      region{raddr, len, va, rkey}: the new chunks are
 *                            one memory region; -ENOSPC: span{0, bytes left}
 *   FREE   span{raddr, len}  (empty); must name one whole ALLOC
 *   STAT   (empty)           memd_info
 *
 * Connection set-up (librdmacm): the client's connect request carries
 * rdma_conn_req; the server accepts with memd_info as private data (the
 * handshake), or rejects with rdma_conn_rej naming why (-EUSERS: no client
 * slot left; -ENOSPC: pool full; -EPROTONOSUPPORT). Integers little-endian,
 * x86-64 only. Every message is copied out of its receive buffer before it
 * is checked (rdma_msg_check) and used. */
#ifndef SHUNT_RDMA_WIRE_H
#define SHUNT_RDMA_WIRE_H

#include <stdint.h>
#include <stddef.h>

#include "transport/memd_wire.h"

#define RDMA_WIRE_MAGIC   0x414d4453u /* "SDMA" */
#define RDMA_WIRE_VERSION 1

struct rdma_wire_region {
	uint64_t raddr;    /* server offset, as TCP's ALLOC returns */
	uint64_t len;
	uint64_t va;       /* remote virtual address of raddr in the region */
	uint32_t rkey;
	uint32_t reserved; /* 0 */
};
_Static_assert(sizeof(struct rdma_wire_region) == 32, "rdma_wire_region layout");

struct rdma_msg {
	uint32_t magic;
	uint16_t version;
	uint16_t op;     /* MEMD_OP_ALLOC/FREE/STAT, | MEMD_REPLY in replies */
	int32_t status;  /* replies: 0 or -errno; requests: 0 */
	uint32_t flags;  /* none defined: 0 */
	uint64_t seq;    /* chosen by the client, echoed */
	union {
		struct memd_span span;
		struct rdma_wire_region region;
		struct memd_info info;
	} u;
};
_Static_assert(sizeof(struct rdma_msg) == 88, "rdma_msg layout");
_Static_assert(offsetof(struct rdma_msg, u) == 24, "rdma_msg layout");

/* A receive buffer's size: larger than a message, so an oversized one is
 * seen (byte_len) rather than truncated into a valid-looking one. */
#define RDMA_MSG_BUF 128

struct rdma_conn_req {
	uint32_t magic;
	uint16_t version;
	uint16_t reserved;
	uint32_t page_size;
	uint32_t reserved2;
	char name[16];     /* for the server's log; NUL-padded */
};
_Static_assert(sizeof(struct rdma_conn_req) == 32, "rdma_conn_req layout"); /* <= 56: RC connect private data */

struct rdma_conn_rej {
	uint32_t magic;
	int32_t status;
};
_Static_assert(sizeof(struct rdma_conn_rej) == 8, "rdma_conn_rej layout");
_Static_assert(sizeof(struct memd_info) <= 196, "accept private data limit");

/* Checks a message copied out of a receive buffer of byte_len bytes.
 * `reply` says which direction is expected. 0, -EPROTO (not one of ours:
 * drop the connection) or -EINVAL (a bad request: answer -EINVAL). */
int rdma_msg_check(const struct rdma_msg *m, uint32_t byte_len, int reply);

/* The regions a connection may address: a sorted table, no allocation
 * (the caller provides the storage). Client: raddr -> va + rkey; server:
 * per client, raddr -> its memory region (cookie). */
struct rdma_region {
	uint64_t raddr, len, va;
	uint64_t cookie;
	uint32_t rkey;
	uint32_t reserved;
};
struct rdma_regions {
	uint32_t n, cap;
	struct rdma_region *r; /* cap entries, sorted by raddr, non-overlapping */
};
/* 0, -ENOSPC (table full), -EEXIST (overlaps one already there), -EINVAL (len 0 or wraps). */
int rdma_regions_add(struct rdma_regions *t, const struct rdma_region *r);
/* The region holding all of [raddr, raddr + len), or NULL. */
const struct rdma_region *rdma_regions_find(const struct rdma_regions *t, uint64_t raddr, uint64_t len);
/* Removes the region that starts at raddr and is len long (an exact ALLOC);
 * copies it to *out. 0 or -ENOENT. */
int rdma_regions_del(struct rdma_regions *t, uint64_t raddr, uint64_t len, struct rdma_region *out);


#endif
