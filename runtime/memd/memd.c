/* shunt-memd's core (interface in memd.h): the pool, its chunk allocator,
 * the accept loop and the per-client request loop. Every request header and
 * segment table is copied out and checked before use; a bad one fails that
 * request, never the server. Uses no malloc (pool and tables are mmapped). */
#include "memd/memd.h"
#include "memd/memd_internal.h"
#include "transport/memd_wire.h"
#include "common/atomics.h"
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

/* ---- pool allocator (under s->lock) ---- */

uint64_t memd_chunks_for(uint64_t len) { return (len + MEMD_CHUNK - 1) / MEMD_CHUNK; }

int memd_pool_alloc(struct memd_server *s, uint32_t id, uint64_t len, uint64_t *raddr)
{
	uint64_t k = memd_chunks_for(len);
	if (!k || k > s->free_chunks)
		return -ENOSPC;
	/* First fit over the chunk table (16 Ki entries for 16 GiB). */
	for (uint64_t i = 0, run = 0; i < s->nchunks; i++) {
		run = s->owner[i] == FREE_OWNER ? run + 1 : 0;
		if (run == k) {
			uint64_t first = i + 1 - k;
			for (uint64_t j = first; j <= i; j++)
				WRITE_ONCE(s->owner[j], id);
			s->free_chunks -= k;
			*raddr = first * MEMD_CHUNK;
			return 0;
		}
	}
	return -ENOSPC; /* enough chunks, but not contiguous */
}

void memd_release_chunks(struct memd_server *s, uint64_t first, uint64_t k)
{
	madvise(s->pool + first * MEMD_CHUNK, k * MEMD_CHUNK, MADV_DONTNEED); /* freed space reads as zeros */
	for (uint64_t j = first; j < first + k; j++)
		WRITE_ONCE(s->owner[j], FREE_OWNER);
	s->free_chunks += k;
}

int memd_pool_free(struct memd_server *s, uint32_t id, uint64_t raddr, uint64_t len)
{
	if (raddr % MEMD_CHUNK || !len || raddr >= s->size || len > s->size - raddr)
		return -EINVAL;
	uint64_t first = raddr / MEMD_CHUNK, k = memd_chunks_for(len);
	for (uint64_t j = first; j < first + k; j++)
		if (s->owner[j] != id)
			return -EFAULT;
	memd_release_chunks(s, first, k);
	return 0;
}

void memd_pool_free_all(struct memd_server *s, uint32_t id)
{
	for (uint64_t j = 0; j < s->nchunks;) {
		if (s->owner[j] != id) {
			j++;
			continue;
		}
		uint64_t first = j;
		while (j < s->nchunks && s->owner[j] == id)
			j++;
		memd_release_chunks(s, first, j - first);
	}
}

/* Without the lock: the chunks a client owns change only in its own
 * thread, so its own ownership reads are stable. */
static int owns(struct memd_server *s, uint32_t id, uint64_t raddr, uint64_t len)
{
	if (raddr >= s->size || len > s->size - raddr)
		return 0;
	for (uint64_t j = raddr / MEMD_CHUNK; j <= (raddr + len - 1) / MEMD_CHUNK; j++)
		if (READ_ONCE(s->owner[j]) != id)
			return 0;
	return 1;
}

/* ---- stream helpers ---- */

static int recv_exact(int fd, void *buf, size_t len)
{
	struct iovec v = { buf, len };
	return len ? memd_recv_all(fd, &v, 1) : 0;
}

static int skip_bytes(int fd, uint64_t len)
{
	char sink[4096];
	while (len) {
		size_t n = len < sizeof(sink) ? (size_t)len : sizeof(sink);
		int r = recv_exact(fd, sink, n);
		if (r)
			return r;
		len -= n;
	}
	return 0;
}

static int reply(int fd, const struct memd_hdr *req, int status, const void *payload, uint32_t len)
{
	struct memd_hdr h = { .magic = MEMD_MAGIC, .version = MEMD_VERSION,
			      .op = (uint16_t)(((unsigned)req->op & ~MEMD_REPLY) | MEMD_REPLY),
			      .status = status, .seq = req->seq, .len = len };
	if (((unsigned)req->op & ~MEMD_REPLY) == 0 || ((unsigned)req->op & ~MEMD_REPLY) >= MEMD_OP_COUNT)
		h.op = MEMD_REPLY | MEMD_OP_HELLO; /* an op we cannot name: still a well-formed reply */
	struct iovec v[2] = { { &h, sizeof(h) }, { (void *)payload, len } };
	return memd_send_all(fd, v, len ? 2 : 1);
}

void memd_fill_info(struct memd_server *s, uint32_t id, struct memd_info *mi)
{
	memset(mi, 0, sizeof(*mi));
	pthread_mutex_lock(&s->lock);
	mi->total = s->size;
	mi->free = s->free_chunks * MEMD_CHUNK;
	mi->clients = s->nclients;
	pthread_mutex_unlock(&s->lock);
	mi->chunk = MEMD_CHUNK;
	mi->max_payload = MEMD_MAX_PAYLOAD;
	mi->max_segs = MEMD_MAX_SEGS;
	mi->client_id = id;
	mi->max_clients = s->max_clients;
}

/* ---- one client ---- */

/* Returns 0 to go on with the stream, < 0 to close it. */
static int serve_one(struct memd_server *s, struct client *c, int *greeted)
{
	int fd = c->fd;
	struct memd_hdr h;
	int r = recv_exact(fd, &h, sizeof(h));
	if (r)
		return r;
	fetch_add_relaxed(&s->n_requests, 1);
	int chk = memd_check_hdr(&h, 0);
	if (chk == -EPROTO || chk == -EPROTONOSUPPORT) {
		fetch_add_relaxed(&s->n_bad, 1);
		fetch_add_relaxed(&s->n_dropped, 1);
		log_warn("shunt-memd: client %u: %s; closing its connection", c->id,
			 chk == -EPROTO ? "unframable request" : "unsupported protocol version");
		reply(fd, &h, chk, NULL, 0);
		return chk;
	}
	unsigned op = h.op;
	if (chk || (!*greeted && op != MEMD_OP_HELLO) || (*greeted && op == MEMD_OP_HELLO)) {
		fetch_add_relaxed(&s->n_bad, 1);
		log_info("shunt-memd: client %u: malformed request (op %u, len %u) refused", c->id, op, h.len);
		r = skip_bytes(fd, h.len);
		return r ? r : reply(fd, &h, -EINVAL, NULL, 0);
	}
	switch (op) {
	case MEMD_OP_HELLO: {
		struct memd_hello hello;
		if ((r = recv_exact(fd, &hello, sizeof(hello))))
			return r;
		if (hello.version != MEMD_VERSION) {
			reply(fd, &h, -EPROTONOSUPPORT, NULL, 0);
			return -EPROTONOSUPPORT;
		}
		if (hello.reserved) {
			fetch_add_relaxed(&s->n_bad, 1);
			return reply(fd, &h, -EINVAL, NULL, 0);
		}
		struct memd_info mi;
		memd_fill_info(s, c->id, &mi);
		*greeted = 1;
		return reply(fd, &h, 0, &mi, sizeof(mi));
	}
	case MEMD_OP_STAT: {
		struct memd_info mi;
		memd_fill_info(s, c->id, &mi);
		return reply(fd, &h, 0, &mi, sizeof(mi));
	}
	case MEMD_OP_ALLOC: {
		struct memd_span sp;
		if ((r = recv_exact(fd, &sp, sizeof(sp))))
			return r;
		if (sp.raddr || !sp.len || sp.len > s->size) {
			if (sp.len > s->size)
				goto enospc;
			fetch_add_relaxed(&s->n_bad, 1);
			return reply(fd, &h, -EINVAL, NULL, 0);
		}
		pthread_mutex_lock(&s->lock);
		r = memd_pool_alloc(s, c->id, sp.len, &sp.raddr);
		pthread_mutex_unlock(&s->lock);
		if (r)
			goto enospc;
		sp.len = memd_chunks_for(sp.len) * MEMD_CHUNK;
		return reply(fd, &h, 0, &sp, sizeof(sp));
	enospc:;
		pthread_mutex_lock(&s->lock);
		struct memd_span left = { 0, s->free_chunks * MEMD_CHUNK };
		pthread_mutex_unlock(&s->lock);
		log_info("shunt-memd: client %u asked for %lu bytes, %lu left: refused", c->id, (unsigned long)sp.len,
			 (unsigned long)left.len);
		return reply(fd, &h, -ENOSPC, &left, sizeof(left));
	}
	case MEMD_OP_FREE: {
		struct memd_span sp;
		if ((r = recv_exact(fd, &sp, sizeof(sp))))
			return r;
		pthread_mutex_lock(&s->lock);
		r = memd_pool_free(s, c->id, sp.raddr, sp.len);
		pthread_mutex_unlock(&s->lock);
		if (r)
			fetch_add_relaxed(&s->n_bad, 1);
		return reply(fd, &h, r, NULL, 0);
	}
	case MEMD_OP_READ:
	case MEMD_OP_WRITE: {
		struct memd_seg segs[MEMD_MAX_SEGS];
		struct iovec iov[MEMD_MAX_SEGS + 1];
		uint32_t table = h.nseg * (uint32_t)sizeof(segs[0]);
		if ((r = recv_exact(fd, segs, table)))
			return r;
		long total = memd_check_segs(&h, segs);
		int bad = total < 0 ? -EINVAL : 0;
		for (uint32_t i = 0; !bad && i < h.nseg; i++) {
			if (!owns(s, c->id, segs[i].raddr, segs[i].len))
				bad = -EFAULT;
			iov[i + 1] = (struct iovec){ s->pool + segs[i].raddr, segs[i].len };
		}
		if (bad) {
			fetch_add_relaxed(&s->n_bad, 1);
			if (op == MEMD_OP_WRITE && (r = skip_bytes(fd, h.len - table)))
				return r;
			return reply(fd, &h, bad, NULL, 0);
		}
		if (op == MEMD_OP_WRITE) {
			if ((r = memd_recv_all(fd, iov + 1, (int)h.nseg)))
				return r;
			return reply(fd, &h, 0, NULL, 0);
		}
		struct memd_hdr rh = { .magic = MEMD_MAGIC, .version = MEMD_VERSION, .op = MEMD_OP_READ | MEMD_REPLY,
				       .seq = h.seq, .len = (uint32_t)total };
		iov[0] = (struct iovec){ &rh, sizeof(rh) };
		return memd_send_all(fd, iov, (int)h.nseg + 1);
	}
	}
	return -EPROTO;
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct memd_server *s = c->s;
	int greeted = 0;
	while (!load_acquire(&s->stopping) && serve_one(s, c, &greeted) == 0)
		;
	pthread_mutex_lock(&s->lock);
	memd_pool_free_all(s, c->id);
	log_info("shunt-memd: client %u gone; its chunks are free (%lu MiB free)", c->id,
		 (unsigned long)(s->free_chunks * MEMD_CHUNK >> 20));
	close(c->fd);
	c->fd = -1;
	s->nclients--;
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* ---- server ---- */

struct memd_server *memd_create(const struct memd_config *cfgp, char *err, size_t errlen)
{
	uint64_t size = (cfgp->size + MEMD_CHUNK - 1) / MEMD_CHUNK * MEMD_CHUNK;
	uint32_t maxc = cfgp->max_clients ? cfgp->max_clients : 64;
	if (!size) {
		log_format(err, errlen, "pool size must be at least 1 byte");
		return NULL;
	}
	uint64_t nchunks = size / MEMD_CHUNK;
	size_t meta = (sizeof(struct memd_server) + 63) / 64 * 64 + nchunks * sizeof(uint32_t) +
		      (size_t)maxc * sizeof(struct client);
	meta = (meta + 4095) & ~(size_t)4095;
	char *m = mmap(NULL, meta, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		log_format(err, errlen, "cannot map the pool's tables");
		return NULL;
	}
	struct memd_server *s = (struct memd_server *)m;
	s->meta_size = meta;
	s->owner = (uint32_t *)(m + (sizeof(struct memd_server) + 63) / 64 * 64);
	s->clients = (struct client *)(s->owner + nchunks);
	s->size = size;
	s->nchunks = nchunks;
	s->free_chunks = nchunks;
	s->max_clients = maxc;
	s->listen_fd = -1;
	for (uint32_t i = 0; i < maxc; i++)
		s->clients[i].fd = -1;
	/* The pool is reserved whole now (the address space and the
	 * accounting); pages are backed as clients write them unless populate. */
	s->pool = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->pool == MAP_FAILED) {
		log_format(err, errlen, "cannot reserve a pool of %lu MiB", (unsigned long)(size >> 20));
		munmap(m, meta);
		return NULL;
	}
	if (cfgp->populate && madvise(s->pool, size, 23 /* MADV_POPULATE_WRITE */)) {
		log_format(err, errlen, "cannot populate a pool of %lu MiB: not enough memory", (unsigned long)(size >> 20));
		munmap(s->pool, size);
		munmap(m, meta);
		return NULL;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	return s;
}

int memd_listen(struct memd_server *s, const char *url, uint16_t *port, char *err, size_t errlen)
{
	if (!strncmp(url, "rdma://", 7))
		return memd_rdma_listen(s, url, port, err, errlen);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	unsigned long p = 0;
	const char *a = strncmp(url, "tcp://", 6) ? NULL : url + 6;
	const char *colon = a ? strrchr(a, ':') : NULL;
	if (!colon || (size_t)(colon - a) >= sizeof(host) || !colon[1])
		goto bad;
	memcpy(host, a, (size_t)(colon - a));
	host[colon - a] = 0;
	for (const char *q = colon + 1; *q; q++)
		if (*q < '0' || *q > '9' || (p = p * 10 + (unsigned long)(*q - '0')) > 65535)
			goto bad;
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		goto bad;
	sa.sin_port = htons((uint16_t)p);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128)) {
		int e = -errno;
		log_format(err, errlen, "cannot listen on %s: %s", url, strerror(-e));
		close(fd);
		return e;
	}
	socklen_t sl = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	if (port)
		*port = ntohs(sa.sin_port);
	s->listen_fd = fd;
	return 0;
bad:
	log_format(err, errlen, "listen address '%s' is not of the form tcp://IPV4:PORT or rdma://IPV4:PORT", url);
	return -EINVAL;
}

/* No free slot: answer the client's HELLO with -EUSERS, then close. */
static void refuse_busy(int fd)
{
	struct timeval tv = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct memd_hdr h;
	if (!recv_exact(fd, &h, sizeof(h)) && memd_check_hdr(&h, 0) == 0 && h.op == MEMD_OP_HELLO &&
	    !skip_bytes(fd, h.len))
		reply(fd, &h, -EUSERS, NULL, 0);
	close(fd);
}

int memd_run(struct memd_server *s)
{
	if (s->rdma)
		return memd_rdma_run(s);
	while (!load_acquire(&s->stopping)) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE)
				continue;
			break; /* shut down by memd_stop */
		}
		if (load_acquire(&s->stopping)) {
			close(fd);
			break;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct client *c = NULL;
		pthread_mutex_lock(&s->lock);
		for (uint32_t i = 0; i < s->max_clients; i++)
			if (s->clients[i].fd < 0) {
				c = &s->clients[i];
				c->fd = fd;
				c->id = ++s->next_id ? s->next_id : ++s->next_id;
				c->s = s;
				s->nclients++;
				break;
			}
		pthread_mutex_unlock(&s->lock);
		if (!c) {
			log_warn("shunt-memd: refusing a client: --max-clients %u reached", s->max_clients);
			refuse_busy(fd);
			continue;
		}
		pthread_t th;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &at, client_main, c)) {
			pthread_mutex_lock(&s->lock);
			close(fd);
			c->fd = -1;
			s->nclients--;
			pthread_mutex_unlock(&s->lock);
		}
		pthread_attr_destroy(&at);
	}
	/* Stop: wake every client thread and wait for them to free their chunks. */
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < s->max_clients; i++)
		if (s->clients[i].fd >= 0)
			shutdown(s->clients[i].fd, SHUT_RDWR);
	while (s->nclients)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void memd_stop(struct memd_server *s)
{
	store_release(&s->stopping, 1);
	if (s->rdma)
		memd_rdma_wake(s);
	if (s->listen_fd >= 0)
		shutdown(s->listen_fd, SHUT_RDWR); /* async-signal-safe; ends accept() */
}

void memd_destroy(struct memd_server *s)
{
	if (!s)
		return;
	if (s->rdma)
		memd_rdma_destroy(s);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->lock);
	munmap(s->pool, s->size);
	munmap(s, s->meta_size);
}

void memd_get_stats(struct memd_server *s, struct memd_stats *o)
{
	pthread_mutex_lock(&s->lock);
	o->total = s->size;
	o->free = s->free_chunks * MEMD_CHUNK;
	o->clients = s->nclients;
	pthread_mutex_unlock(&s->lock);
	o->requests = load_relaxed(&s->n_requests);
	o->bad_requests = load_relaxed(&s->n_bad);
	o->dropped_streams = load_relaxed(&s->n_dropped);
}
