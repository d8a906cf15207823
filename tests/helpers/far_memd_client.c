/* A client of a real shunt-memd for tests/integration/far_memd.sh, through
 * the transport interface (and raw frames for the malformed cases).
 *   far_memd_client URL roundtrip MIB     alloc, write a pattern, read back, free
 *   far_memd_client URL ask MIB           alloc; prints the refusal if any; exit 3 when refused
 *   far_memd_client URL hold MIB          alloc and fill, then wait for stdin EOF
 *   far_memd_client URL free              prints the server's free bytes
 *   far_memd_client URL garbage           sends malformed frames; checks the replies
 *   far_memd_client URL clients N         opens N connections, holds them for stdin EOF
 * Exit 0 on success, 1 on a failed check, 2 on a connect error (message on stderr). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "transport/memd_wire.h"
#include "transport/transport.h"

static struct xport *connect_or_die(const char *url)
{
	char err[256];
	struct xport *x;
	int r = xport_connect(url, &x, err, sizeof(err));
	if (r) {
		fprintf(stderr, "far_memd_client: %s\n", err);
		exit(2);
	}
	return x;
}

#define CHECK(c)                                                                  \
	do {                                                                      \
		if (!(c)) {                                                       \
			fprintf(stderr, "far_memd_client: check failed: %s\n", #c); \
			exit(1);                                                  \
		}                                                                 \
	} while (0)

static void wait_stdin_eof(void)
{
	char b[64];
	while (read(0, b, sizeof(b)) > 0)
		;
}

static int do_alloc(struct xport *x, const char *url, uint64_t bytes, uint64_t *ra)
{
	int r = xport_alloc(x, bytes, ra);
	if (r == -ENOSPC)
		fprintf(stderr, "far_memd_client: shunt-memd at %s refused %llu MiB: only %llu MiB left\n", url,
			(unsigned long long)(bytes >> 20), (unsigned long long)(x->limits.free >> 20));
	return r;
}

static void fill(struct xport *x, uint64_t ra, uint64_t bytes, unsigned seed, int check)
{
	size_t blk = 1 << 20;
	unsigned char *b = mmap(NULL, blk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(b != MAP_FAILED);
	xport_reg_buf(x, b, blk);
	for (uint64_t off = 0; off < bytes; off += blk) {
		struct xport_io io = { ra + off, b, (uint32_t)blk };
		if (check) {
			CHECK(xport_read(x, &io, 1) == 0);
			for (size_t i = 0; i < blk; i += 61)
				CHECK(b[i] == (unsigned char)((off + i) * seed >> 7));
		} else {
			for (size_t i = 0; i < blk; i++)
				b[i] = (unsigned char)((off + i) * seed >> 7);
			CHECK(xport_write(x, &io, 1) == 0);
		}
	}
	munmap(b, blk);
}

static int raw_connect(const char *url)
{
	unsigned port;
	char host[32];
	if (sscanf(url, "tcp://%31[^:]:%u", host, &port) != 2)
		return -1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, host, &sa.sin_addr);
	return connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -1 : fd;
}

static int32_t raw_rpc(int fd, struct memd_hdr h, const void *p, size_t n)
{
	struct memd_hdr rh;
	char sink[256];
	if (write(fd, &h, sizeof(h)) != sizeof(h) || (n && write(fd, p, n) != (ssize_t)n))
		return 1;
	if (recv(fd, &rh, sizeof(rh), MSG_WAITALL) != sizeof(rh))
		return 1;
	if (rh.len && rh.len <= sizeof(sink))
		recv(fd, sink, rh.len, MSG_WAITALL);
	return rh.status;
}

static void garbage(const char *url)
{
	int fd = raw_connect(url);
	CHECK(fd >= 0);
	struct memd_hello hello = { .version = MEMD_VERSION };
	struct memd_hdr h = { .magic = MEMD_MAGIC, .version = MEMD_VERSION, .op = MEMD_OP_HELLO, .len = sizeof(hello) };
	CHECK(raw_rpc(fd, h, &hello, sizeof(hello)) == 0);
	struct memd_hdr bad = h;
	bad.op = 200, bad.len = 0;
	CHECK(raw_rpc(fd, bad, NULL, 0) == -EINVAL);
	struct memd_seg sg = { 1ull << 50, 4096, 0 };
	bad = h;
	bad.op = MEMD_OP_READ, bad.nseg = 1, bad.len = sizeof(sg);
	CHECK(raw_rpc(fd, bad, &sg, sizeof(sg)) == -EFAULT);
	bad = h;
	bad.op = MEMD_OP_STAT, bad.len = 0;
	CHECK(raw_rpc(fd, bad, NULL, 0) == 0);
	/* Then pure noise: the server drops this stream, nothing else. */
	char noise[64];
	memset(noise, 0xee, sizeof(noise));
	CHECK(write(fd, noise, sizeof(noise)) == sizeof(noise));
	char c;
	while (recv(fd, &c, 1, 0) > 0)
		;
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: far_memd_client URL MODE [ARG]\n");
		return 2;
	}
	const char *url = argv[1], *mode = argv[2];
	uint64_t mib = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
	if (!strcmp(mode, "garbage")) {
		garbage(url);
		return 0;
	}
	if (!strcmp(mode, "clients")) {
		for (uint64_t i = 0; i < mib; i++)
			connect_or_die(url);
		printf("connected %llu\n", (unsigned long long)mib);
		fflush(stdout);
		wait_stdin_eof();
		return 0;
	}
	struct xport *x = connect_or_die(url);
	uint64_t ra = 0;
	if (!strcmp(mode, "free")) {
		struct xport_info inf;
		CHECK(xport_info(x, &inf) == 0);
		printf("%llu\n", (unsigned long long)inf.free);
	} else if (!strcmp(mode, "ask")) {
		if (do_alloc(x, url, mib << 20, &ra))
			return 3;
		printf("granted %llu MiB\n", (unsigned long long)mib);
	} else if (!strcmp(mode, "roundtrip")) {
		CHECK(do_alloc(x, url, mib << 20, &ra) == 0);
		fill(x, ra, mib << 20, 2654435761u, 0);
		fill(x, ra, mib << 20, 2654435761u, 1);
		CHECK(xport_free(x, ra, mib << 20) == 0);
		printf("roundtrip %llu MiB ok\n", (unsigned long long)mib);
	} else if (!strcmp(mode, "hold")) {
		CHECK(do_alloc(x, url, mib << 20, &ra) == 0);
		fill(x, ra, mib << 20, 40503u, 0);
		printf("holding %llu MiB\n", (unsigned long long)mib);
		fflush(stdout);
		wait_stdin_eof();
		fill(x, ra, mib << 20, 40503u, 1);
	} else {
		fprintf(stderr, "far_memd_client: unknown mode '%s'\n", mode);
		return 2;
	}
	xport_close(x);
	return 0;
}
