/* The TCP transport against a shunt-memd server core running in this
 * process on loopback: round trips, batching, ENOSPC, isolation between
 * clients, pages freed at disconnect, malformed frames, --max-clients.
 * (tests/integration/far_memd.sh runs the real shunt-memd binary.) */
#include "test_ccache_tsan.h" /* Criterion, or its TSan stand-in */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "memd/memd.h"
#include "transport/memd_wire.h"
#include "transport/transport.h"

struct srv {
	struct memd_server *s;
	pthread_t th;
	char url[64];
};

static void *srv_main(void *arg)
{
	memd_run(arg);
	return NULL;
}

static void srv_start(struct srv *v, uint64_t size, uint32_t maxc)
{
	char err[256];
	struct memd_config c = { .size = size, .max_clients = maxc };
	v->s = memd_create(&c, err, sizeof(err));
	cr_assert_not_null(v->s, "%s", err);
	uint16_t port;
	cr_assert_eq(memd_listen(v->s, "tcp://127.0.0.1:0", &port, err, sizeof(err)), 0, "%s", err);
	snprintf(v->url, sizeof(v->url), "tcp://127.0.0.1:%u", port);
	cr_assert_eq(pthread_create(&v->th, NULL, srv_main, v->s), 0);
}

static void srv_stop(struct srv *v)
{
	memd_stop(v->s);
	pthread_join(v->th, NULL);
	memd_destroy(v->s);
}

static struct xport *conn(struct srv *v)
{
	char err[256];
	struct xport *x = NULL;
	int r = xport_connect(v->url, &x, err, sizeof(err));
	cr_assert_eq(r, 0, "connect: %d %s", r, err);
	return x;
}

static void wait_free(struct srv *v, uint64_t want)
{
	struct memd_stats st;
	for (int i = 0; i < 2000; i++) {
		memd_get_stats(v->s, &st);
		if (st.free == want)
			return;
		usleep(1000);
	}
	cr_assert_eq(st.free, want, "server free bytes never came back");
}

Test(memd, round_trip_and_batches, .timeout = 60)
{
	struct srv v;
	srv_start(&v, 64 << 20, 4);
	struct xport *x = conn(&v);
	cr_assert_eq(x->limits.chunk, MEMD_CHUNK);
	uint64_t ra;
	cr_assert_eq(xport_alloc(x, 10 << 20, &ra), 0);
	size_t n = 9 << 20; /* more than one transport batch */
	unsigned char *w = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *r = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_eq(xport_reg_buf(x, w, n), 0);
	cr_assert_eq(xport_reg_buf(x, r, n), 0);
	for (size_t i = 0; i < n; i++)
		w[i] = (unsigned char)(i * 131 + (i >> 12));
	struct xport_io one = { ra, w, (uint32_t)n };
	cr_assert_eq(xport_write(x, &one, 1), 0);
	one.buf = r;
	cr_assert_eq(xport_read(x, &one, 1), 0);
	cr_assert_eq(memcmp(w, r, n), 0);
	/* 200 scattered pages in one batch, read back in reverse order. */
	struct xport_io io[200];
	for (unsigned i = 0; i < 200; i++)
		io[i] = (struct xport_io){ ra + (uint64_t)i * 8192, w + (size_t)(199 - i) * 4096, 4096 };
	cr_assert_eq(xport_write(x, io, 200), 0);
	memset(r, 0, n);
	for (unsigned i = 0; i < 200; i++)
		io[i].buf = r + (size_t)i * 4096;
	cr_assert_eq(xport_read(x, io, 200), 0);
	for (unsigned i = 0; i < 200; i++)
		cr_assert_eq(memcmp(r + (size_t)i * 4096, w + (size_t)(199 - i) * 4096, 4096), 0, "page %u", i);
	struct xport_info inf;
	cr_assert_eq(xport_info(x, &inf), 0);
	cr_assert_eq(inf.total, 64 << 20);
	cr_assert_eq(inf.free, 54 << 20);
	cr_assert_eq(xport_free(x, ra, 10 << 20), 0);
	cr_assert_eq(xport_info(x, &inf), 0);
	cr_assert_eq(inf.free, 64 << 20);
	/* Freed space is gone: touching it now fails. */
	one = (struct xport_io){ ra, r, 4096 };
	cr_assert_eq(xport_read(x, &one, 1), -EFAULT);
	xport_close(x);
	srv_stop(&v);
}

Test(memd, enospc_says_what_is_left, .timeout = 60)
{
	struct srv v;
	srv_start(&v, 8 << 20, 4);
	struct xport *x = conn(&v);
	uint64_t a, b;
	cr_assert_eq(xport_alloc(x, 5 << 20, &a), 0);
	cr_assert_eq(xport_alloc(x, 4 << 20, &b), -ENOSPC);
	cr_assert_eq(x->limits.free, 3 << 20);
	cr_assert_eq(xport_alloc(x, 1ull << 40, &b), -ENOSPC);
	cr_assert_eq(xport_alloc(x, 3 << 20, &b), 0, "the connection goes on after a refusal");
	xport_close(x);
	srv_stop(&v);
}

Test(memd, clients_are_isolated_and_freed_at_disconnect, .timeout = 60)
{
	struct srv v;
	srv_start(&v, 16 << 20, 4);
	struct xport *x = conn(&v), *y = conn(&v);
	uint64_t ra, rb;
	cr_assert_eq(xport_alloc(x, 4 << 20, &ra), 0);
	cr_assert_eq(xport_alloc(y, 4 << 20, &rb), 0);
	static char buf[4096];
	struct xport_io io = { ra, buf, sizeof(buf) };
	cr_assert_eq(xport_read(y, &io, 1), -EFAULT, "y read x's chunk");
	cr_assert_eq(xport_write(y, &io, 1), -EFAULT, "y wrote x's chunk");
	cr_assert_eq(xport_free(y, ra, 4 << 20), -EFAULT);
	io.raddr = rb;
	memset(buf, 0x5a, sizeof(buf));
	cr_assert_eq(xport_write(y, &io, 1), 0);
	xport_close(x);
	wait_free(&v, 12 << 20); /* x's chunks came back; y's remain */
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(xport_read(y, &io, 1), 0);
	cr_assert_eq(buf[100], 0x5a);
	xport_close(y);
	wait_free(&v, 16 << 20);
	srv_stop(&v);
}

/* ---- raw frames ---- */

static int raw_connect(struct srv *v)
{
	unsigned port;
	sscanf(v->url, "tcp://127.0.0.1:%u", &port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void raw_send(int fd, struct memd_hdr h, const void *p, size_t n)
{
	cr_assert_eq(write(fd, &h, sizeof(h)), (ssize_t)sizeof(h));
	if (n)
		cr_assert_eq(write(fd, p, n), (ssize_t)n);
}

static int raw_reply(int fd, struct memd_hdr *h, void *p, size_t cap)
{
	ssize_t r = recv(fd, h, sizeof(*h), MSG_WAITALL);
	if (r != (ssize_t)sizeof(*h))
		return -1;
	if (h->len && h->len <= cap)
		cr_assert_eq(recv(fd, p, h->len, MSG_WAITALL), (ssize_t)h->len);
	return 0;
}

static struct memd_hdr mk(unsigned op, uint32_t nseg, uint32_t len)
{
	return (struct memd_hdr){ .magic = MEMD_MAGIC, .version = MEMD_VERSION, .op = (uint16_t)op, .seq = 99,
				  .nseg = nseg, .len = len };
}

Test(memd, malformed_requests_fail_alone, .timeout = 60)
{
	struct srv v;
	srv_start(&v, 8 << 20, 4);
	int fd = raw_connect(&v);
	struct memd_hdr rh;
	char buf[8192];
	struct memd_hello hello = { .version = MEMD_VERSION };
	/* Anything before HELLO is refused. */
	raw_send(fd, mk(MEMD_OP_STAT, 0, 0), NULL, 0);
	cr_assert_eq(raw_reply(fd, &rh, buf, sizeof(buf)), 0);
	cr_assert_eq(rh.status, -EINVAL);
	raw_send(fd, mk(MEMD_OP_HELLO, 0, sizeof(hello)), &hello, sizeof(hello));
	cr_assert_eq(raw_reply(fd, &rh, buf, sizeof(buf)), 0);
	cr_assert_eq(rh.status, 0);
	cr_assert_eq(rh.seq, 99);
	/* Unknown op with a payload: skipped, refused, stream goes on. */
	raw_send(fd, mk(77, 0, 100), buf, 100);
	cr_assert_eq(raw_reply(fd, &rh, buf, sizeof(buf)), 0);
	cr_assert_eq(rh.status, -EINVAL);
	/* Unknown flags. */
	struct memd_hdr h = mk(MEMD_OP_STAT, 0, 0);
	h.flags = 4;
	raw_send(fd, h, NULL, 0);
	cr_assert_eq(raw_reply(fd, &rh, buf, sizeof(buf)), 0);
	cr_assert_eq(rh.status, -EINVAL);
	/* A write to space never allocated: its data is skipped. */
	struct { struct memd_seg s; char d[512]; } wr = { { 0, 512, 0 }, { 0 } };
	raw_send(fd, mk(MEMD_OP_WRITE, 1, sizeof(wr)), &wr, sizeof(wr));
	cr_assert_eq(raw_reply(fd, &rh, buf, sizeof(buf)), 0);
	cr_assert_eq(rh.status, -EFAULT);
	/* A segment with reserved bits. */
	struct memd_seg sg = { 0, 16, 3 };
	raw_send(fd, mk(MEMD_OP_READ, 1, sizeof(sg)), &sg, sizeof(sg));
	cr_assert_eq(raw_reply(fd, &rh, buf, sizeof(buf)), 0);
	cr_assert_eq(rh.status, -EINVAL);
	/* A misaligned free, a free past the pool. */
	struct memd_span sp = { 4096, 4096 };
	raw_send(fd, mk(MEMD_OP_FREE, 0, sizeof(sp)), &sp, sizeof(sp));
	cr_assert_eq(raw_reply(fd, &rh, buf, sizeof(buf)), 0);
	cr_assert_eq(rh.status, -EINVAL);
	sp = (struct memd_span){ 1ull << 40, 4096 };
	raw_send(fd, mk(MEMD_OP_FREE, 0, sizeof(sp)), &sp, sizeof(sp));
	cr_assert_eq(raw_reply(fd, &rh, buf, sizeof(buf)), 0);
	cr_assert_eq(rh.status, -EINVAL);
	/* Still serving this stream. */
	raw_send(fd, mk(MEMD_OP_STAT, 0, 0), NULL, 0);
	cr_assert_eq(raw_reply(fd, &rh, buf, sizeof(buf)), 0);
	cr_assert_eq(rh.status, 0);
	/* Garbage magic: -EPROTO, then the server closes this stream only. */
	h = mk(MEMD_OP_STAT, 0, 0);
	h.magic = 0x12345678;
	raw_send(fd, h, NULL, 0);
	cr_assert_eq(raw_reply(fd, &rh, buf, sizeof(buf)), 0);
	cr_assert_eq(rh.status, -EPROTO);
	cr_assert_eq(recv(fd, buf, 1, 0), 0, "stream not closed");
	close(fd);
	/* The server is alive for others. */
	struct xport *x = conn(&v);
	uint64_t ra;
	cr_assert_eq(xport_alloc(x, 1 << 20, &ra), 0);
	xport_close(x);
	struct memd_stats st;
	memd_get_stats(v.s, &st);
	cr_assert_geq(st.bad_requests, 7);
	cr_assert_eq(st.dropped_streams, 1);
	srv_stop(&v);
}

Test(memd, max_clients_refused_clearly, .timeout = 60)
{
	struct srv v;
	srv_start(&v, 8 << 20, 1);
	struct xport *x = conn(&v), *y = NULL;
	char err[256];
	cr_assert_eq(xport_connect(v.url, &y, err, sizeof(err)), -EUSERS);
	cr_assert_neq(strstr(err, "too many clients"), NULL, "%s", err);
	xport_close(x);
	wait_free(&v, 8 << 20);
	for (int i = 0; i < 200; i++) { /* the slot frees once x's thread ends */
		struct memd_stats st;
		memd_get_stats(v.s, &st);
		if (!st.clients)
			break;
		usleep(1000);
	}
	y = conn(&v);
	xport_close(y);
	srv_stop(&v);
}

Test(memd, unreachable_server_and_bad_urls, .timeout = 60)
{
	struct xport *x;
	char err[256];
	/* Port 1 on loopback: nothing listens there. */
	cr_assert_eq(xport_connect("tcp://127.0.0.1:1", &x, err, sizeof(err)), -ECONNREFUSED);
	cr_assert_neq(strstr(err, "cannot reach shunt-memd"), NULL, "%s", err);
	cr_assert_eq(xport_connect("tcp://nohost", &x, err, sizeof(err)), -EINVAL);
	cr_assert_eq(xport_connect("udp://127.0.0.1:5", &x, err, sizeof(err)), -EPROTONOSUPPORT);
	cr_assert_eq(xport_connect("127.0.0.1:5", &x, err, sizeof(err)), -EINVAL);
}

/* Several threads share one connection. */
struct share { struct xport *x; uint64_t base; int id; int bad; };
static void *share_thread(void *arg)
{
	struct share *s = arg;
	static __thread char w[4096], r[4096];
	for (int i = 0; i < 300; i++) {
		uint64_t ra = s->base + (uint64_t)((s->id * 300 + i) % 256) * 4096 + (uint64_t)s->id * (1 << 20);
		memset(w, (char)(s->id * 31 + i), sizeof(w));
		struct xport_io io = { ra, w, sizeof(w) };
		if (xport_write(s->x, &io, 1))
			s->bad++;
		io.buf = r;
		if (xport_read(s->x, &io, 1) || memcmp(r, w, sizeof(w)))
			s->bad++;
	}
	return NULL;
}

Test(memd, threads_share_a_connection, .timeout = 60)
{
	struct srv v;
	srv_start(&v, 16 << 20, 4);
	struct xport *x = conn(&v);
	uint64_t ra;
	cr_assert_eq(xport_alloc(x, 4 << 20, &ra), 0);
	struct share s[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		s[i] = (struct share){ x, ra, i, 0 };
		pthread_create(&t[i], NULL, share_thread, &s[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(s[i].bad, 0);
	}
	xport_close(x);
	srv_stop(&v);
}

Test(memd, server_death_is_reported, .timeout = 60)
{
	struct srv v;
	srv_start(&v, 8 << 20, 4);
	struct xport *x = conn(&v);
	uint64_t ra;
	cr_assert_eq(xport_alloc(x, 1 << 20, &ra), 0);
	srv_stop(&v);
	static char buf[4096];
	struct xport_io io = { ra, buf, sizeof(buf) };
	int r = xport_read(x, &io, 1);
	cr_assert(r == -ECONNRESET || r == -EPIPE, "read after server death: %d", r);
	cr_assert_eq(xport_read(x, &io, 1), r, "a dead connection stays dead");
	xport_close(x);
}
