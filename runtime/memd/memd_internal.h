/* shunt-memd's shared state between the TCP server (memd.c) and the RDMA
 * listener (memd_rdma.c): the pool, its chunk allocator, the client count.
 * Not an API: memd.h is. */
#ifndef SHUNT_MEMD_INTERNAL_H
#define SHUNT_MEMD_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "transport/memd_wire.h"

#define FREE_OWNER 0u

struct client {
	int fd;            /* -1 when the slot is unused; under s->lock */
	uint32_t id;
	struct memd_server *s;
};

struct memd_rdma;

struct memd_server {
	char *pool;
	uint64_t size, nchunks;
	uint32_t *owner;        /* per chunk: client id or FREE_OWNER; written under lock, read racily (READ_ONCE) */
	uint64_t free_chunks;   /* under lock */
	uint32_t max_clients, nclients, next_id; /* under lock */
	struct client *clients; /* max_clients slots (TCP) */
	pthread_mutex_t lock;
	pthread_cond_t idle;    /* signalled when nclients drops */
	int listen_fd;
	uint32_t stopping;
	size_t meta_size;
	uint64_t n_requests, n_bad, n_dropped; /* relaxed atomics */
	struct memd_rdma *rdma; /* rdma:// listener, or NULL */
};

/* Under s->lock. */
uint64_t memd_chunks_for(uint64_t len);
int memd_pool_alloc(struct memd_server *s, uint32_t id, uint64_t len, uint64_t *raddr);
void memd_release_chunks(struct memd_server *s, uint64_t first, uint64_t k);
int memd_pool_free(struct memd_server *s, uint32_t id, uint64_t raddr, uint64_t len);
void memd_pool_free_all(struct memd_server *s, uint32_t id);
/* Takes s->lock itself. */
void memd_fill_info(struct memd_server *s, uint32_t id, struct memd_info *mi);

/* memd_rdma.c: the rdma:// listener. */
int memd_rdma_listen(struct memd_server *s, const char *url, uint16_t *port, char *err, size_t errlen);
int memd_rdma_run(struct memd_server *s);
void memd_rdma_wake(struct memd_server *s); /* async-signal-safe */
void memd_rdma_destroy(struct memd_server *s);

#endif
