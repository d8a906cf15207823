/* The wire protocol between a far-memory client and shunt-memd over a byte
 * stream (TCP). Every message is a 32-byte header and `len` payload bytes;
 * all integers little-endian (x86-64 only). Version 1.
 *
 *   request                          reply (op | MEMD_REPLY, same seq)
 *   HELLO  memd_hello                memd_info
 *   ALLOC  memd_span{0, len}         memd_span{raddr, len}; -ENOSPC: memd_span{0, bytes left}
 *   FREE   memd_span{raddr, len}     (empty)
 *   READ   nseg x memd_seg           the segments' bytes, concatenated
 *   WRITE  nseg x memd_seg, data     (empty)
 *   STAT   (empty)                   memd_info
 *
 * A reply's status is 0 or -errno; a failed reply carries no data except
 * ALLOC's -ENOSPC, which says how much is left. Remote addresses (raddr)
 * are byte offsets in the server's pool; a client may only touch the chunks
 * it allocated. The server reads each header once into a local, checks it
 * (memd_check_hdr), then the segment table (memd_check_segs): a bad request
 * fails with -EINVAL and the stream goes on (its payload is skipped); a
 * header that cannot be framed (bad magic, a length over the limit) gets
 * -EPROTO and the connection is closed. The server never dies of either. */
#ifndef SHUNT_MEMD_WIRE_H
#define SHUNT_MEMD_WIRE_H

#include <stdint.h>
#include <stddef.h>

#define MEMD_MAGIC       0x444d4853u /* "SHMD" */
#define MEMD_VERSION     1
#define MEMD_REPLY       0x8000u
#define MEMD_CHUNK       (1ull << 20)  /* allocation granularity */
#define MEMD_MAX_PAYLOAD (4u << 20)    /* data bytes in one READ/WRITE */
#define MEMD_MAX_SEGS    1024u
#define MEMD_MAX_LEN     (MEMD_MAX_PAYLOAD + MEMD_MAX_SEGS * 16u)

enum memd_op {
	MEMD_OP_HELLO = 1,
	MEMD_OP_ALLOC = 2,
	MEMD_OP_FREE = 3,
	MEMD_OP_READ = 4,
	MEMD_OP_WRITE = 5,
	MEMD_OP_STAT = 6,
	MEMD_OP_COUNT
};

struct memd_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t op;      /* enum memd_op, | MEMD_REPLY in replies */
	uint32_t flags;   /* none defined: must be 0 */
	int32_t status;   /* replies: 0 or -errno; requests: 0 */
	uint64_t seq;     /* chosen by the client, echoed */
	uint32_t nseg;    /* READ/WRITE: segments in the table; else 0 */
	uint32_t len;     /* payload bytes after this header */
};
_Static_assert(sizeof(struct memd_hdr) == 32, "memd_hdr layout");
_Static_assert(offsetof(struct memd_hdr, seq) == 16, "memd_hdr layout");
_Static_assert(offsetof(struct memd_hdr, len) == 28, "memd_hdr layout");

struct memd_seg {
	uint64_t raddr;
	uint32_t len;      /* > 0 */
	uint32_t reserved; /* must be 0 */
};
_Static_assert(sizeof(struct memd_seg) == 16, "memd_seg layout");

struct memd_span {
	uint64_t raddr;
	uint64_t len;
};
_Static_assert(sizeof(struct memd_span) == 16, "memd_span layout");

struct memd_hello {
	uint32_t version;   /* the client's MEMD_VERSION */
	uint32_t page_size;
	uint64_t reserved;  /* must be 0 */
	char name[48];      /* for the server's log; NUL-padded */
};
_Static_assert(sizeof(struct memd_hello) == 64, "memd_hello layout");

struct memd_info {
	uint64_t total;       /* pool bytes */
	uint64_t free;        /* pool bytes not allocated to any client */
	uint32_t chunk;       /* allocation granularity */
	uint32_t max_payload; /* data bytes per READ/WRITE */
	uint32_t max_segs;
	uint32_t client_id;
	uint32_t clients;     /* connected now */
	uint32_t max_clients;
	uint64_t reserved[3];
};
_Static_assert(sizeof(struct memd_info) == 64, "memd_info layout");

/* Checks a header read off the wire. `reply` says which direction is
 * expected. Returns 0; -EINVAL for a request that can be framed but is bad
 * (its payload can be skipped); -EPROTONOSUPPORT for another version;
 * -EPROTO when the stream cannot be trusted any more (close it). */
int memd_check_hdr(const struct memd_hdr *h, int reply);

/* Checks a READ/WRITE segment table (nseg entries, already copied out) against
 * the header's len. Returns the total data bytes (> 0) or -EINVAL. */
long memd_check_segs(const struct memd_hdr *h, const struct memd_seg *segs);

/* The fixed payload size of a request op, or -1 when it varies (READ/WRITE). */
long memd_req_payload(unsigned op);

/* Send or receive all of iov[0..n) on a stream, both ends of the protocol.
 * iov is consumed (advanced in place). Raw system calls: usable from the
 * client's fault path. 0, or -errno; receiving -ECONNRESET at end of stream. */
struct iovec;
int memd_send_all(int fd, struct iovec *iov, int n);
int memd_recv_all(int fd, struct iovec *iov, int n);

#endif
