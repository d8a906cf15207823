/* shunt-memd's core: a pre-reserved pool handed out to clients in chunks,
 * served over memd_wire.h, one thread per client. Used by the shunt-memd
 * program (memd_main.c) and by tests that run a server in-process.
 *
 * A client may touch only the chunks it allocated; its chunks are freed
 * (and their memory given back to the kernel) when its connection ends.
 * A malformed request fails that request; a stream that cannot be framed
 * any more closes that connection; the server goes on either way.
 * Returns 0/-errno; pointers NULL on failure. */
#ifndef SHUNT_MEMD_H
#define SHUNT_MEMD_H

#include <stddef.h>
#include <stdint.h>

struct memd_config {
	uint64_t size;         /* pool bytes; rounded up to MEMD_CHUNK */
	uint32_t max_clients;  /* connections served at once; 0 means 64 */
	int populate;          /* fault the whole pool in at start */
};

struct memd_server;

struct memd_server *memd_create(const struct memd_config *c, char *err, size_t errlen);
/* url: tcp://HOST:PORT, or rdma://IPV4:PORT (an address on an RDMA device:
 * each client's allocations become memory regions it reads and writes
 * one-sided; see transport/rdma_wire.h); port 0 picks one (in *port). */
int memd_listen(struct memd_server *s, const char *url, uint16_t *port, char *err, size_t errlen);
/* Accepts and serves until memd_stop(); returns 0 then. */
int memd_run(struct memd_server *s);
/* From any thread or a signal handler: ends memd_run(), closes every
 * connection, waits for their threads. */
void memd_stop(struct memd_server *s);
void memd_destroy(struct memd_server *s);

struct memd_stats {
	uint64_t total, free;
	uint32_t clients;
	uint64_t requests, bad_requests, dropped_streams;
};
void memd_get_stats(struct memd_server *s, struct memd_stats *out);

#endif
