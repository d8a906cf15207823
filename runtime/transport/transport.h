/* The far-memory transport: how pages move between local staging buffers
 * and a memory server. Shaped for one-sided RDMA (the next transport):
 *   - the client registers its staging buffers once (xport_reg_buf); every
 *     read/write names a registered local buffer and a remote address;
 *     a registered buffer stays mapped while the connection lives (or is
 *     registered again after being mapped anew: RDMA pins pages, not addresses);
 *   - reads and writes take batches (scatter-gather lists), split by the
 *     generic layer into what the transport accepts at once;
 *   - remote space is allocated in large chunks (xport_alloc) and addressed
 *     by the server's offsets; the client maps its own addresses onto them.
 * TCP (transport_tcp.c) speaks memd_wire.h to shunt-memd; RDMA
 * (transport_rdma.c) moves pages one-sided and speaks rdma_wire.h for control.
 *
 * Thread-safe: one connection may be used by several threads (a lock inside
 * serialises them). Never calls malloc: the connection lives in its own
 * mapping, and sockets are driven with raw system calls, so it is usable
 * inside libshunt's malloc and from the fault-handler thread.
 * Returns 0 or -errno. -ENOSPC from xport_alloc: the server has too
 * little left (xport_info says how much). -EPIPE/-ECONNRESET: the server is
 * gone; every later call fails the same way. */
#ifndef SHUNT_TRANSPORT_H
#define SHUNT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

struct xport;

struct xport_io {
	uint64_t raddr; /* remote address (server offset) */
	void *buf;      /* inside a registered staging buffer */
	uint32_t len;
};

struct xport_info {
	uint64_t total, free;   /* server pool */
	uint32_t chunk;         /* remote allocation granularity */
	uint32_t max_payload;   /* bytes per transport-level batch */
	uint32_t max_segs;      /* entries per transport-level batch */
	uint32_t client_id;
	uint32_t clients, max_clients;
};

/* One implementation; `struct xport` starts with a pointer to its ops. */
struct xport_ops {
	const char *scheme; /* "tcp", "rdma" */
	int (*connect)(const char *addr, struct xport **out, char *err, size_t errlen);
	int (*reg_buf)(struct xport *x, void *buf, size_t len);
	int (*alloc)(struct xport *x, uint64_t len, uint64_t *raddr);
	int (*free)(struct xport *x, uint64_t raddr, uint64_t len);
	/* A batch within max_payload / max_segs. */
	int (*read)(struct xport *x, const struct xport_io *io, unsigned n);
	int (*write)(struct xport *x, const struct xport_io *io, unsigned n);
	int (*info)(struct xport *x, struct xport_info *out);
	void (*close)(struct xport *x);
	/* fork: PREPARE waits for the request in flight and holds the
	 * connection; PARENT lets it go; CHILD makes the child's copy safe to
	 * close (far memory's child never uses it: runtime/far/fork.c). */
	void (*fork)(struct xport *x, int phase);
};
enum { XPORT_FORK_PREPARE, XPORT_FORK_PARENT, XPORT_FORK_CHILD };

struct xport {
	const struct xport_ops *ops;
	struct xport_info limits; /* from the handshake; private copy */
};

/* url: "tcp://HOST:PORT" (HOST numeric IPv4 or localhost) or
 * "rdma://IPV4:PORT" (an address on an RDMA-capable interface). err gets a
 * sentence naming the server on failure. */
int xport_connect(const char *url, struct xport **out, char *err, size_t errlen);
int xport_reg_buf(struct xport *x, void *buf, size_t len);
/* len is rounded up to the server's chunk. */
int xport_alloc(struct xport *x, uint64_t len, uint64_t *raddr);
int xport_free(struct xport *x, uint64_t raddr, uint64_t len);
/* Any batch: split here into transport-sized pieces. */
int xport_read(struct xport *x, const struct xport_io *io, unsigned n);
int xport_write(struct xport *x, const struct xport_io *io, unsigned n);
int xport_info(struct xport *x, struct xport_info *out);
void xport_close(struct xport *x);
void xport_fork(struct xport *x, int phase);

extern const struct xport_ops xport_tcp_ops;

/* "HOST:PORT" -> sockaddr_in, HOST numeric IPv4 or localhost (no resolver:
 * this runs where a DNS lookup could hang or malloc). Port 0 is accepted
 * (a listener may ask for any); 0 or -EINVAL. Both transports and memd. */
struct sockaddr_in;
int xport_parse_inet(const char *addr, struct sockaddr_in *sa);
extern const struct xport_ops xport_rdma_ops; /* transport_rdma.c, rdma_wire.h */

#endif
