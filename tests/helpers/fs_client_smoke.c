/* A tiny shuntd client for the smoke test: HELLO over the socket, then
 * open/write/read/fstat/stat/getdents/close through the rings with the
 * channel's client half, a GETFD and a read straight from the shared cache,
 * and a few malformed commands. Prints what it got; exits 1 on a mismatch.
 * usage: fs_client_smoke SOCKET [bench N]   (bench: time nop, open+fstat+close,
 * stat and 4 KiB cached/direct reads through the rings; prints ns per op) */
#include "channel/chan.h"
#include "shunt/fs_wire.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct sess {
	int fd;
	void *shm;
	struct chan_client cc;
	uint64_t token, fam_id, fam_token;
};
static struct sess *S; /* the session commands go to */
#define sock (S->fd)
#define shm (S->shm)
#define cc (S->cc)
static int failures;
static const char *sock_path;

#define CHECK(cond, ...)                                   \
	do {                                               \
		if (!(cond)) {                             \
			printf("MISMATCH: " __VA_ARGS__);  \
			printf("\n");                      \
			failures++;                        \
		}                                          \
	} while (0)

static void wake(void *arg)
{
	(void)arg;
	uint32_t w = SHUNT_MSG_WAKE;
	send(sock, &w, sizeof(w), MSG_DONTWAIT | MSG_NOSIGNAL);
}

static struct shunt_cqe run(struct shunt_sqe *sqe)
{
	struct shunt_cqe cqe = { 0 };
	if (!sqe->token)
		sqe->token = S->token;
	if (chan_client_submit(&cc, sqe, wake, NULL, NULL, 50000) ||
	    chan_client_wait(&cc, sqe->user_data, &cqe, NULL, NULL, 50000)) {
		printf("channel failed\n");
		exit(1);
	}
	return cqe;
}

static char *data(void) { return chan_data(shm, 0); }

static struct shunt_cqe path_op(uint8_t op, const char *path, uint32_t arg0, uint32_t arg1)
{
	size_t n = strlen(path) + 1;
	memcpy(data(), path, n);
	struct shunt_sqe s = { .op = op, .data_len = (uint32_t)n, .arg0 = arg0, .arg1 = arg1 };
	return run(&s);
}

static int send_with_fd(const void *buf, size_t len, int fd)
{
	struct iovec iov = { (void *)buf, len };
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr a;
	} cb;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		mh.msg_control = cb.b;
		mh.msg_controllen = sizeof(cb.b);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	return sendmsg(sock, &mh, 0) < 0 ? -errno : 0;
}

static int recv_with_fd(void *buf, size_t len, int *fd)
{
	struct iovec iov = { buf, len };
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr a;
	} cb;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.b, .msg_controllen = sizeof(cb.b) };
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	*fd = -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (n > 0 && cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return (int)n;
}

/* Connect and HELLO; NULL (with rep->status) when refused. */
static struct sess *connect_session(uint64_t fam_id, uint64_t fam_token, struct shunt_hello_reply *rep)
{
	struct sess *prev = S;
	S = calloc(1, sizeof(*S));
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(1);
	}
	uint32_t nchan = 2;
	uint64_t size = chan_shm_size(nchan);
	int memfd = memfd_create("smoke", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, (off_t)size) < 0)
		exit(1);
	shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	struct shunt_sess_hdr *hdr = shm;
	hdr->magic = SHUNT_FS_MAGIC;
	hdr->version = SHUNT_FS_VERSION;
	hdr->nchan = nchan;
	hdr->chan_size = SHUNT_CHAN_SIZE;
	fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	struct shunt_hello h = { .magic = SHUNT_FS_MAGIC, .version = SHUNT_FS_VERSION, .type = SHUNT_MSG_HELLO,
				 .nchan = nchan, .shm_size = size, .family_id = fam_id, .family_token = fam_token };
	send_with_fd(&h, sizeof(h), memfd);
	close(memfd);
	int junk;
	memset(rep, 0, sizeof(*rep));
	if (recv_with_fd(rep, sizeof(*rep), &junk) != sizeof(*rep) || rep->status) {
		close(sock);
		free(S);
		S = prev;
		return NULL;
	}
	S->token = rep->session_token;
	S->fam_id = rep->family_id;
	S->fam_token = rep->family_token;
	chan_client_init(&cc, shm, 0);
	struct sess *mine = S;
	S = prev ? prev : mine;
	return mine;
}

/* GETFD + map the whole cache read-only; NULL on failure. */
static char *map_cache(uint64_t cache_id, struct shunt_fcache_hdr **hdr)
{
	struct shunt_getfd g = { .magic = SHUNT_FS_MAGIC, .type = SHUNT_MSG_GETFD, .cache_id = cache_id };
	send_with_fd(&g, sizeof(g), -1);
	struct shunt_getfd_reply gr;
	int cfd = -1;
	recv_with_fd(&gr, sizeof(gr), &cfd);
	if (gr.status || cfd < 0)
		return NULL;
	*hdr = mmap(NULL, 4096, PROT_READ, MAP_SHARED, cfd, 0);
	uint64_t total = (*hdr)->data_off + ((*hdr)->max_blocks << SHUNT_FCACHE_BLOCK_SHIFT);
	/* Map the largest size once; only touch below capacity. */
	char *base = mmap(NULL, total, PROT_READ, MAP_SHARED | MAP_NORESERVE, cfd, 0);
	close(cfd);
	return base == MAP_FAILED ? NULL : base;
}

static uint32_t block_state(const char *base, uint64_t b)
{
	return SHUNT_BLOCK_STATE(((const volatile uint32_t *)(base + SHUNT_FCACHE_STATES_OFF))[b]);
}

/* Extra scenarios: family, hostile, locks, perms. */
static int extra(const char *what);

static uint64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bench(long n)
{
	struct shunt_cqe c = path_op(SHUNT_OP_open, "bench.dat", O_RDWR | O_CREAT, 0644);
	uint32_t h = (uint32_t)c.res;
	static char blk[65536];
	memcpy(data(), blk, sizeof(blk));
	struct shunt_sqe w = { .op = SHUNT_OP_write, .handle = h, .data_len = sizeof(blk) };
	run(&w);
	struct shunt_sqe cl = { .op = SHUNT_OP_close, .handle = h };
	run(&cl);

	uint64_t t0 = now();
	for (long i = 0; i < n; i++) {
		struct shunt_sqe s = { .op = SHUNT_OP_nop };
		run(&s);
	}
	uint64_t t1 = now();
	printf("nop round trip:          %6.0f ns\n", (double)(t1 - t0) / (double)n);

	t0 = now();
	for (long i = 0; i < n; i++) {
		c = path_op(SHUNT_OP_open, "bench.dat", O_RDONLY, 0);
		struct shunt_sqe f = { .op = SHUNT_OP_fstat, .handle = (uint32_t)c.res };
		run(&f);
		struct shunt_sqe x = { .op = SHUNT_OP_close, .handle = (uint32_t)c.res };
		run(&x);
	}
	t1 = now();
	printf("open+fstat+close (3 RT): %6.0f ns\n", (double)(t1 - t0) / (double)n);

	t0 = now();
	for (long i = 0; i < n; i++) {
		c = path_op(SHUNT_OP_open, "bench.dat", O_RDONLY, 0);
		struct shunt_sqe x = { .op = SHUNT_OP_close, .handle = (uint32_t)c.res, .flags = SHUNT_SQE_ASYNC };
		run(&x);
	}
	t1 = now();
	printf("open+close:              %6.0f ns\n", (double)(t1 - t0) / (double)n);

	t0 = now();
	for (long i = 0; i < n; i++)
		path_op(SHUNT_OP_stat, "bench.dat", 0, 0);
	t1 = now();
	printf("stat:                    %6.0f ns\n", (double)(t1 - t0) / (double)n);

	c = path_op(SHUNT_OP_open, "bench.dat", O_RDONLY, 0);
	h = (uint32_t)c.res;
	t0 = now();
	for (long i = 0; i < n; i++) {
		struct shunt_sqe r = { .op = SHUNT_OP_read, .handle = h, .off = (uint64_t)(i % 16) * 4096, .len = 4096 };
		run(&r);
	}
	t1 = now();
	printf("read 4K cached (valid):  %6.0f ns\n", (double)(t1 - t0) / (double)n);
	t0 = now();
	for (long i = 0; i < n; i++) {
		struct shunt_sqe r = { .op = SHUNT_OP_read, .handle = h, .off = (uint64_t)(i % 16) * 4096, .len = 4096,
				       .arg0 = SHUNT_READ_DIRECT };
		run(&r);
	}
	t1 = now();
	printf("read 4K direct:          %6.0f ns\n", (double)(t1 - t0) / (double)n);

	/* native for comparison */
	t0 = now();
	for (long i = 0; i < n; i++) {
		int fd = open(getenv("SMOKE_NATIVE_FILE"), O_RDONLY);
		struct stat st;
		fstat(fd, &st);
		close(fd);
	}
	t1 = now();
	printf("native open+fstat+close: %6.0f ns\n", (double)(t1 - t0) / (double)n);
	return 0;
}

int main(int argc, char **argv)
{
	if ((argc == 4 && !strcmp(argv[2], "bench")) || argc == 3)
		argc = 2;
	else if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sock_path = argv[1];
	struct shunt_hello_reply rep;
	S = connect_session(0, 0, &rep);
	if (!S) {
		printf("HELLO failed: status %d\n", rep.status);
		return 1;
	}
	printf("hello: token set, family %llx, server pid %d\n", (unsigned long long)rep.family_id, rep.server_pid);
	if (argv[2] && strcmp(argv[2], "bench"))
		return extra(argv[2]);
	if (argv[2])
		return bench(atol(argv[3]));

	/* open + write */
	struct shunt_cqe c = path_op(SHUNT_OP_open, "dir/hello.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
	printf("open: res %lld cache %llu mode %llo\n", (long long)c.res, (unsigned long long)c.aux0,
	       (unsigned long long)c.aux1);
	CHECK(c.res > 0, "open failed %lld", (long long)c.res);
	uint32_t hnd = (uint32_t)c.res;
	uint64_t cache_id = c.aux0;
	const char msg[] = "hello through the rings\n";
	memcpy(data(), msg, sizeof(msg) - 1);
	struct shunt_sqe w = { .op = SHUNT_OP_write, .handle = hnd, .off = 0, .data_len = sizeof(msg) - 1 };
	c = run(&w);
	printf("write: res %lld at %llu\n", (long long)c.res, (unsigned long long)c.aux0);
	CHECK(c.res == (long long)sizeof(msg) - 1, "write res");

	/* direct read */
	memset(data(), 0, 64);
	struct shunt_sqe r = { .op = SHUNT_OP_read, .handle = hnd, .off = 6, .len = 100, .arg0 = SHUNT_READ_DIRECT };
	c = run(&r);
	printf("read direct: res %lld aux1 %llu '%.*s'\n", (long long)c.res, (unsigned long long)c.aux1,
	       (int)(c.res > 0 ? c.res - 1 : 0), data());
	CHECK(c.res == (long long)sizeof(msg) - 7 && !memcmp(data(), msg + 6, (size_t)c.res), "direct read");

	/* cached read: make the range valid, fetch the memfd, read the block */
	struct shunt_sqe rc = { .op = SHUNT_OP_read, .handle = hnd, .off = 0, .len = 4096 };
	c = run(&rc);
	printf("read cached: res %lld size %llu\n", (long long)c.res, (unsigned long long)c.aux0);
	CHECK(c.res == 0 && c.aux0 == sizeof(msg) - 1, "cached read");
	struct shunt_getfd g = { .magic = SHUNT_FS_MAGIC, .type = SHUNT_MSG_GETFD, .cache_id = cache_id };
	send_with_fd(&g, sizeof(g), -1);
	struct shunt_getfd_reply gr;
	int cfd = -1;
	/* WAKEs have no reply, so the next message is ours. */
	recv_with_fd(&gr, sizeof(gr), &cfd);
	printf("getfd: status %d fd %s\n", gr.status, cfd >= 0 ? "attached" : "none");
	CHECK(gr.status == 0 && cfd >= 0, "getfd");
	if (cfd >= 0) {
		struct shunt_fcache_hdr *ch = mmap(NULL, 4096, PROT_READ, MAP_SHARED, cfd, 0);
		uint64_t total = ch->data_off + ch->capacity;
		char *base = mmap(NULL, total, PROT_READ, MAP_SHARED, cfd, 0);
		uint32_t st0 = ((uint32_t *)(base + SHUNT_FCACHE_STATES_OFF))[0];
		printf("cache: size %llu block0 state %u '%.*s'\n", (unsigned long long)ch->size, SHUNT_BLOCK_STATE(st0),
		       (int)ch->size - 1, base + ch->data_off);
		CHECK(SHUNT_BLOCK_STATE(st0) == SHUNT_BLOCK_VALID && ch->size == sizeof(msg) - 1 &&
			      !memcmp(base + ch->data_off, msg, sizeof(msg) - 1),
		      "cache contents");
		CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cfd, 0) == MAP_FAILED, "cache mapped writable");
		/* A write through the ring updates the valid block in place. */
		memcpy(data(), "HELLO", 5);
		struct shunt_sqe w2 = { .op = SHUNT_OP_write, .handle = hnd, .off = 0, .data_len = 5 };
		c = run(&w2);
		printf("rewrite: res %lld cache now '%.5s'\n", (long long)c.res, base + ch->data_off);
		CHECK(!memcmp(base + ch->data_off, "HELLO", 5), "cache not updated by write");
	}

	/* fstat and stat */
	struct shunt_sqe fs = { .op = SHUNT_OP_fstat, .handle = hnd };
	c = run(&fs);
	struct shunt_stat st;
	memcpy(&st, data(), sizeof(st));
	printf("fstat: res %lld size %llu mode %o\n", (long long)c.res, (unsigned long long)st.size, st.mode);
	CHECK(c.res == 0 && st.size == sizeof(msg) - 1 && (st.mode & 0777) == 0644, "fstat");
	c = path_op(SHUNT_OP_stat, "dir/hello.txt", 0, 0);
	memcpy(&st, data(), sizeof(st));
	printf("stat: res %lld size %llu\n", (long long)c.res, (unsigned long long)st.size);
	CHECK(c.res == 0 && st.size == sizeof(msg) - 1, "stat");
	struct shunt_sqe cl = { .op = SHUNT_OP_close, .handle = hnd };
	c = run(&cl);
	printf("close: res %lld\n", (long long)c.res);
	CHECK(c.res == 0, "close");

	/* getdents on the directory */
	c = path_op(SHUNT_OP_open, "dir", O_RDONLY | O_DIRECTORY, 0);
	CHECK(c.res > 0, "opendir");
	uint32_t dh = (uint32_t)c.res;
	struct shunt_sqe gd = { .op = SHUNT_OP_getdents, .handle = dh, .off = 0, .len = 4096 };
	c = run(&gd);
	int found = 0, count = 0;
	for (long long pos = 0; pos < c.res;) {
		unsigned short reclen;
		memcpy(&reclen, data() + pos + 16, 2);
		const char *name = data() + pos + 19;
		printf("  entry %s\n", name);
		found |= !strcmp(name, "hello.txt");
		count++;
		pos += reclen;
	}
	printf("getdents: res %lld entries %d next %llu\n", (long long)c.res, count, (unsigned long long)c.aux0);
	CHECK(found && count == 3, "getdents");
	struct shunt_sqe cl2 = { .op = SHUNT_OP_close, .handle = dh };
	run(&cl2);

	/* errors as the kernel gives them */
	c = path_op(SHUNT_OP_open, "dir/hello.txt", O_RDWR | O_CREAT | O_EXCL, 0644);
	printf("open O_EXCL existing: %lld\n", (long long)c.res);
	CHECK(c.res == -EEXIST, "O_EXCL");
	c = path_op(SHUNT_OP_open, "../etc/passwd", O_RDONLY, 0);
	printf("open ../etc/passwd: %lld\n", (long long)c.res);
	CHECK(c.res == -EACCES, "escape");
	c = path_op(SHUNT_OP_open, "dir/hello.txt", O_RDONLY | O_DIRECTORY, 0);
	printf("open file O_DIRECTORY: %lld\n", (long long)c.res);
	CHECK(c.res == -ENOTDIR, "O_DIRECTORY");

	/* malformed commands fail alone */
	struct shunt_sqe bad = { .op = SHUNT_OP_nop, .token = S->token ^ 1 };
	c = run(&bad);
	printf("wrong token: %lld\n", (long long)c.res);
	CHECK(c.res == -EPROTO, "token");
	struct shunt_sqe bad2 = { .op = 200 };
	c = run(&bad2);
	printf("bad op: %lld\n", (long long)c.res);
	CHECK(c.res == -EINVAL, "op");
	struct shunt_sqe bad3 = { .op = SHUNT_OP_read, .handle = 4242, .len = 10 };
	c = run(&bad3);
	printf("foreign handle: %lld\n", (long long)c.res);
	CHECK(c.res == -EBADF, "handle");
	struct shunt_sqe bad4 = { .op = SHUNT_OP_stat, .data_off = SHUNT_CHAN_DATA_SIZE - 2, .data_len = 4 };
	c = run(&bad4);
	printf("out of bounds: %lld\n", (long long)c.res);
	CHECK(c.res == -EINVAL, "bounds");
	c = path_op(SHUNT_OP_unlink, "dir/hello.txt", 0, 0);
	CHECK(c.res == 0, "unlink");
	c = path_op(SHUNT_OP_unlink, "dir", AT_REMOVEDIR, 0);
	CHECK(c.res == 0, "rmdir");

	printf(failures ? "FAILED: %d mismatches\n" : "all good\n", failures);
	return failures ? 1 : 0;
}

static struct shunt_cqe lock_op(uint32_t h, uint32_t kind, uint32_t cmd, int16_t type, int64_t start, int64_t len,
				uint64_t owner)
{
	struct shunt_flock fl = { .type = type, .whence = SEEK_SET, .start = start, .len = len };
	memcpy(data(), &fl, sizeof(fl));
	struct shunt_sqe s = { .op = SHUNT_OP_lock, .handle = h, .data_len = sizeof(fl), .arg0 = kind, .arg1 = cmd,
			       .arg2 = owner };
	return run(&s);
}

static int extra(const char *what)
{
	struct sess *a = S;
	struct shunt_hello_reply rep;
	if (!strcmp(what, "family")) {
		/* A joins nothing; B joins A's family and sees A's handle; C
		 * (its own family) does not; a wrong token is refused. */
		struct shunt_cqe c = path_op(SHUNT_OP_open, "fam.txt", O_RDWR | O_CREAT | O_TRUNC, 0600);
		uint32_t h = (uint32_t)c.res;
		memcpy(data(), "family", 6);
		struct shunt_sqe w = { .op = SHUNT_OP_write, .handle = h, .data_len = 6 };
		run(&w);
		struct sess *b = connect_session(a->fam_id, a->fam_token, &rep);
		CHECK(b && rep.family_id == a->fam_id, "join family: status %d", rep.status);
		if (b) {
			S = b;
			struct shunt_sqe r = { .op = SHUNT_OP_read, .handle = h, .len = 6, .arg0 = SHUNT_READ_DIRECT };
			c = run(&r);
			printf("family member reads parent's handle: %lld '%.6s'\n", (long long)c.res, data());
			CHECK(c.res == 6 && !memcmp(data(), "family", 6), "family read");
		}
		struct sess *bad = connect_session(a->fam_id, a->fam_token ^ 1, &rep);
		printf("wrong family token: status %d\n", rep.status);
		CHECK(!bad && rep.status == -EPERM, "wrong family token accepted");
		struct sess *c2 = connect_session(0, 0, &rep);
		S = c2;
		struct shunt_sqe r = { .op = SHUNT_OP_read, .handle = h, .len = 6, .arg0 = SHUNT_READ_DIRECT };
		c = run(&r);
		printf("other family uses the handle: %lld\n", (long long)c.res);
		CHECK(c.res == -EBADF, "foreign family handle");
		/* The cache fd is only for families that have the file open. */
		S = a;
	} else if (!strcmp(what, "hostile")) {
		/* Control requests for fds that are not ours to have. */
		struct shunt_cqe oc = path_op(SHUNT_OP_open, "hostile.txt", O_RDONLY | O_CREAT, 0644);
		struct { uint32_t handle, flags; int want; const char *what; } bad[] = {
			{ 0xfffffff0u, 0, -EBADF, "unknown handle" },
			{ (uint32_t)oc.res, 0x80u, -EBADF, "unknown flags" },
			{ (uint32_t)oc.res, SHUNT_GETFILE_WRITE, -EACCES, "read-write file for a read-only handle" },
		};
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			struct shunt_getfile g = { .magic = SHUNT_FS_MAGIC, .type = SHUNT_MSG_GETFILE,
						   .handle = bad[k].handle, .flags = bad[k].flags };
			struct shunt_getfd_reply gr = { 0 };
			int fd = -1;
			send_with_fd(&g, sizeof(g), -1);
			recv_with_fd(&gr, sizeof(gr), &fd);
			printf("getfile, %s: status %d, fd %s\n", bad[k].what, gr.status, fd >= 0 ? "attached" : "none");
			CHECK(gr.status == bad[k].want && fd < 0, "getfile: %s\n", bad[k].what);
			if (fd >= 0)
				close(fd);
		}
		/* The epoch page is read-only for clients, however they map it. */
		struct shunt_getfd ge = { .magic = SHUNT_FS_MAGIC, .type = SHUNT_MSG_GETFD, .cache_id = SHUNT_GETFD_EPOCH };
		struct shunt_getfd_reply er = { 0 };
		int efd = -1;
		send_with_fd(&ge, sizeof(ge), -1);
		recv_with_fd(&er, sizeof(er), &efd);
		void *ep = efd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, efd, 0);
		printf("epoch page: status %d, writable mapping %s\n", er.status, ep == MAP_FAILED ? "refused" : "granted");
		/* (A shuntd without its path cache keeps no epoch and has none.) */
		CHECK((er.status == 0 && efd >= 0 && ep == MAP_FAILED) || (er.status == -EOPNOTSUPP && efd < 0),
		      "epoch page writable by a client\n");
		if (efd >= 0)
			close(efd);
		/* Garbage sqes next: each fails alone. */
		srandom(7);
		int failed = 0;
		for (int i = 0; i < 2000; i++) {
			struct shunt_sqe s;
			unsigned char *p = (unsigned char *)&s;
			for (size_t k = 0; k < sizeof(s); k++)
				p[k] = (unsigned char)random();
			if (i & 1)
				s.token = S->token;
			s.flags &= ~SHUNT_SQE_ASYNC;
			s.op %= SHUNT_OP_nop + 1; /* only nop can succeed; a real op with random args could do anything */
			struct shunt_cqe c = run(&s);
			failed += c.res < 0;
		}
		printf("garbage commands: %d of 2000 failed, session alive\n", failed);
		CHECK(failed >= 1000, "garbage accepted");
		/* Then an impossible ring index: the server drops the session. */
		struct shunt_chan_ctl *ctl = chan_ctl(shm, 1);
		__atomic_store_n(&ctl->sq_tail, 1000u, __ATOMIC_RELEASE);
		uint32_t wk = SHUNT_MSG_WAKE;
		send(sock, &wk, sizeof(wk), MSG_NOSIGNAL);
		char b[64];
		struct timeval tv = { 3, 0 };
		setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ssize_t n = recv(sock, b, sizeof(b), 0);
		bool closed = n == 0 || (n < 0 && errno == ECONNRESET); /* reset: our WAKE was unread */
		printf("impossible ring index: socket %s\n", closed ? "closed by the server" : "still open");
		CHECK(closed, "session with an impossible index not dropped");
		/* Others are still served. */
		struct sess *d = connect_session(0, 0, &rep);
		CHECK(d != NULL, "server gone after a hostile client");
		if (d) {
			S = d;
			struct shunt_sqe s = { .op = SHUNT_OP_nop };
			CHECK(run(&s).res == 0, "nop after hostile");
		}
	} else if (!strcmp(what, "locks")) {
		struct shunt_cqe c = path_op(SHUNT_OP_open, "locks.db", O_RDWR | O_CREAT, 0644);
		uint32_t h = (uint32_t)c.res;
		c = path_op(SHUNT_OP_open, "locks.db", O_RDONLY, 0);
		uint32_t ro = (uint32_t)c.res;
		c = lock_op(h, SHUNT_LOCK_POSIX, F_SETLK, F_WRLCK, 0, 10, 1001);
		CHECK(c.res == 0, "posix lock owner 1001: %lld", (long long)c.res);
		c = lock_op(h, SHUNT_LOCK_POSIX, F_SETLK, F_WRLCK, 5, 1, 1002);
		CHECK(c.res == -EAGAIN, "conflicting posix lock: %lld", (long long)c.res);
		c = lock_op(h, SHUNT_LOCK_POSIX, F_SETLKW, F_WRLCK, 5, 1, 1002);
		CHECK(c.res == -EAGAIN, "SETLKW must not block: %lld", (long long)c.res);
		c = lock_op(h, SHUNT_LOCK_POSIX, F_SETLK, F_WRLCK, 0, 10, 1001);
		CHECK(c.res == 0, "same owner relocks: %lld", (long long)c.res);
		c = lock_op(h, SHUNT_LOCK_POSIX, F_GETLK, F_WRLCK, 5, 1, 1002);
		struct shunt_flock got;
		memcpy(&got, data(), sizeof(got));
		printf("F_GETLK: res %lld type %d start %lld len %lld pid %d\n", (long long)c.res, got.type,
		       (long long)got.start, (long long)got.len, got.pid);
		CHECK(c.res == 0 && got.type == F_WRLCK && got.start == 0 && got.len == 10 && got.pid == 1001, "getlk");
		c = lock_op(ro, SHUNT_LOCK_POSIX, F_SETLK, F_WRLCK, 20, 1, 1003);
		CHECK(c.res == -EBADF, "write lock on O_RDONLY: %lld", (long long)c.res);
		/* Closing any handle with the owner's pid drops its locks. */
		struct shunt_sqe cl = { .op = SHUNT_OP_close, .handle = ro, .arg2 = 1001 };
		run(&cl);
		c = lock_op(h, SHUNT_LOCK_POSIX, F_SETLK, F_WRLCK, 5, 1, 1002);
		CHECK(c.res == 0, "lock after owner's close: %lld", (long long)c.res);
		c = lock_op(h, SHUNT_LOCK_FLOCK, LOCK_EX, 0, 0, 0, 7);
		CHECK(c.res == 0, "flock 7: %lld", (long long)c.res);
		c = lock_op(h, SHUNT_LOCK_FLOCK, LOCK_EX | LOCK_NB, 0, 0, 0, 8);
		CHECK(c.res == -EAGAIN, "flock 8 conflicts: %lld", (long long)c.res);
		c = lock_op(h, SHUNT_LOCK_OFD, F_SETLK, F_RDLCK, 100, 10, 7);
		CHECK(c.res == 0, "ofd 7: %lld", (long long)c.res);
		c = lock_op(h, SHUNT_LOCK_POSIX, F_SETLK, F_WRLCK, 105, 1, 1002);
		CHECK(c.res == -EAGAIN, "posix vs ofd: %lld", (long long)c.res);
		printf("locks: done\n");
	} else if (!strcmp(what, "perms")) {
		/* Run as an unprivileged uid against a root-run server. */
		struct shunt_cqe c = path_op(SHUNT_OP_open, "private/secret", O_RDONLY, 0);
		printf("open root-only file as uid %d: %lld\n", (int)geteuid(), (long long)c.res);
		CHECK(c.res == -EACCES, "private file");
		c = path_op(SHUNT_OP_open, "mine.txt", O_WRONLY | O_CREAT | O_TRUNC, 0640);
		CHECK(c.res > 0, "create in a world-writable dir: %lld", (long long)c.res);
		struct shunt_sqe f = { .op = SHUNT_OP_fstat, .handle = (uint32_t)c.res };
		run(&f);
		struct shunt_stat st;
		memcpy(&st, data(), sizeof(st));
		printf("created file owner %u:%u mode %o\n", st.uid, st.gid, st.mode & 07777);
		CHECK(st.uid == geteuid() && st.gid == getegid() && (st.mode & 07777) == 0640, "owner of created file");
		c = path_op(SHUNT_OP_open, "rootfile", O_WRONLY, 0);
		CHECK(c.res == -EACCES, "write root's 0644 file: %lld", (long long)c.res);
		c = path_op(SHUNT_OP_access, "rootfile", W_OK, 0);
		CHECK(c.res == -EACCES, "access W_OK: %lld", (long long)c.res);
		c = path_op(SHUNT_OP_access, "rootfile", R_OK, 0);
		CHECK(c.res == 0, "access R_OK: %lld", (long long)c.res);
		c = path_op(SHUNT_OP_unlink, "rootfile", 0, 0);
		CHECK(c.res == -EACCES || c.res == -EPERM, "unlink root's file in sticky dir: %lld", (long long)c.res);
	} else if (!strcmp(what, "fuzz")) {
		/* Well-formed tokens, random everything else, real ops, paths
		 * from a small set (beneath a scratch root): the server must
		 * answer each and stay up. */
		static const char *const names[] = { "", "f", "d", "d/f", "d/../f", "../x", "/abs", "l", "d/", "f/",
						     "nope/x", ".", "..", "d/d2/f3", "fifo" };
		srandom(1234);
		const char *n_s = getenv("SMOKE_FUZZ_N");
		long n = n_s ? atol(n_s) : 20000, answered = 0, ok = 0;
		for (long i = 0; i < n; i++) {
			struct shunt_sqe q;
			unsigned char *p = (unsigned char *)&q;
			for (size_t k = 0; k < sizeof(q); k++)
				p[k] = (unsigned char)random();
			q.token = S->token;
			q.reserved0 = 0;
			q.reserved1 = 0;
			q.flags = 0;
			q.op = (uint8_t)(random() % SHUNT_OP_COUNT);
			q.handle = (uint32_t)(random() % 8);
			q.off = random() % 4 ? (uint64_t)(random() % 300000) : q.off;
			q.len = random() % 4 ? (uint32_t)(random() % 70000) : q.len;
			q.arg0 = random() % 2 ? (uint32_t)(random() % 4) | (random() % 2 ? O_CREAT : 0) : q.arg0;
			q.arg1 = random() % 2 ? 0644 : q.arg1;
			q.arg2 = random() % 2 ? (uint64_t)(random() % 4) : q.arg2;
			q.data_off = random() % 3 ? 0 : q.data_off % (SHUNT_CHAN_DATA_SIZE + 16);
			/* Payload: a path (or two), or bytes. */
			char *d = data() + (q.data_off < SHUNT_CHAN_DATA_SIZE ? q.data_off : 0);
			size_t room = SHUNT_CHAN_DATA_SIZE - (size_t)(d - data());
			if (room > 64 && random() % 4) {
				const char *a = names[random() % (sizeof(names) / sizeof(names[0]))];
				const char *b = names[random() % (sizeof(names) / sizeof(names[0]))];
				size_t la = strlen(a) + 1, lb = strlen(b) + 1;
				if (q.op == SHUNT_OP_setattr && room > 64) {
					struct shunt_setattr sa = { (uint32_t)-1, (uint32_t)-1, 0, 0, UTIME_OMIT, UTIME_NOW };
					memcpy(d, &sa, sizeof(sa));
					memcpy(d + sizeof(sa), a, la);
					q.data_len = (uint32_t)(sizeof(sa) + la);
				} else {
					memcpy(d, a, la);
					memcpy(d + la, b, lb);
					q.data_len = (uint32_t)(la + lb);
				}
				q.data_off = (uint32_t)(d - data());
			} else {
				q.data_len = (uint32_t)(random() % 2 ? random() % 5000 : q.data_len);
			}
			if (q.op == SHUNT_OP_setattr && random() % 2)
				q.arg0 &= 7;
			if (q.op == SHUNT_OP_lock) {
				q.arg0 = 1 + (uint32_t)(random() % 3);
				q.arg1 = random() % 2 ? F_SETLKW : (uint32_t)(random() % 40);
			}
			struct shunt_cqe c = run(&q);
			answered++;
			ok += c.res >= 0;
		}
		printf("fuzz: %ld commands answered, %ld succeeded\n", answered, ok);
		struct shunt_sqe nop = { .op = SHUNT_OP_nop };
		CHECK(run(&nop).res == 0, "server alive after the fuzz");
	} else if (!strcmp(what, "memfs")) {
		/* The in-memory backend: the same commands, the kernel's errnos. */
		struct shunt_cqe c = path_op(SHUNT_OP_mkdir, "m", 0, 0755);
		CHECK(c.res == 0, "mkdir: %lld", (long long)c.res);
		CHECK(path_op(SHUNT_OP_mkdir, "m", 0, 0755).res == -EEXIST, "mkdir twice");
		c = path_op(SHUNT_OP_open, "m/f", O_RDWR | O_CREAT | O_EXCL, 0640);
		CHECK(c.res > 0 && c.aux0 == 0 && (c.aux1 & 07777) == 0640, "create: %lld", (long long)c.res);
		uint32_t h = (uint32_t)c.res;
		memcpy(data(), "memory!", 7);
		struct shunt_sqe w = { .op = SHUNT_OP_write, .handle = h, .off = 3, .data_len = 7 };
		c = run(&w);
		CHECK(c.res == 7 && c.aux0 == 3, "write at 3");
		struct shunt_sqe rd = { .op = SHUNT_OP_read, .handle = h, .len = 64 };
		c = run(&rd);
		CHECK(c.res == 10 && c.aux1 == SHUNT_READ_REPLY_DIRECT && !memcmp(data(), "\0\0\0memory!", 10), "read back");
		memcpy(data(), "+", 1);
		struct shunt_sqe ap = { .op = SHUNT_OP_write, .handle = h, .data_len = 1, .arg0 = SHUNT_WRITE_APPEND };
		CHECK(run(&ap).aux0 == 10, "append at the end");
		struct shunt_sqe fs = { .op = SHUNT_OP_fstat, .handle = h };
		run(&fs);
		struct shunt_stat st;
		memcpy(&st, data(), sizeof(st));
		CHECK(st.size == 11 && S_ISREG(st.mode) && st.nlink == 1, "fstat");
		CHECK(path_op(SHUNT_OP_open, "m/f", O_RDWR | O_CREAT | O_EXCL, 0640).res == -EEXIST, "O_EXCL");
		CHECK(path_op(SHUNT_OP_open, "m/f", O_RDONLY | O_DIRECTORY, 0).res == -ENOTDIR, "O_DIRECTORY on a file");
		CHECK(path_op(SHUNT_OP_open, "m", O_WRONLY, 0).res == -EISDIR, "write-open a dir");
		CHECK(path_op(SHUNT_OP_open, "m/f/x", O_RDONLY, 0).res == -ENOTDIR, "file as a dir");
		CHECK(path_op(SHUNT_OP_open, "../x", O_RDONLY, 0).res == -EACCES, "escape");
		CHECK(path_op(SHUNT_OP_open, "m/nope", O_RDONLY, 0).res == -ENOENT, "missing");
		memcpy(data(), "f\0m/ln\0", 8);
		struct shunt_sqe sl = { .op = SHUNT_OP_symlink, .data_len = 8 };
		CHECK(run(&sl).res == 0, "symlink");
		c = path_op(SHUNT_OP_open, "m/ln", O_RDONLY, 0);
		CHECK(c.res > 0, "open through a link");
		struct shunt_sqe cl0 = { .op = SHUNT_OP_close, .handle = (uint32_t)c.res };
		run(&cl0);
		struct shunt_sqe rl = { .op = SHUNT_OP_readlink, .len = 64 };
		memcpy(data(), "m/ln", 5);
		rl.data_len = 5;
		c = run(&rl);
		CHECK(c.res == 1 && data()[0] == 'f', "readlink");
		memcpy(data(), "/etc\0m/abs\0", 11);
		struct shunt_sqe sl2 = { .op = SHUNT_OP_symlink, .data_len = 11 };
		run(&sl2);
		CHECK(path_op(SHUNT_OP_open, "m/abs/passwd", O_RDONLY, 0).res == -EACCES, "absolute link");
		memcpy(data(), "m/f\0m/g\0", 8);
		struct shunt_sqe rn = { .op = SHUNT_OP_rename, .data_len = 8 };
		CHECK(run(&rn).res == 0, "rename");
		CHECK(path_op(SHUNT_OP_stat, "m/f", 0, 0).res == -ENOENT, "old name gone");
		c = path_op(SHUNT_OP_stat, "m/g", 0, 0);
		memcpy(&st, data(), sizeof(st));
		CHECK(c.res == 0 && st.size == 11, "new name");
		c = path_op(SHUNT_OP_open, "m", O_RDONLY | O_DIRECTORY, 0);
		uint32_t dh = (uint32_t)c.res;
		struct shunt_sqe gd = { .op = SHUNT_OP_getdents, .handle = dh, .len = 4096 };
		c = run(&gd);
		int count = 0;
		for (long long pos = 0; pos < c.res;) {
			unsigned short reclen;
			memcpy(&reclen, data() + pos + 16, 2);
			count++;
			pos += reclen;
		}
		CHECK(count == 5, "getdents: . .. g ln abs (%d)", count);
		gd.off = c.aux0;
		CHECK(run(&gd).res == 0, "getdents at the end");
		CHECK(path_op(SHUNT_OP_unlink, "m", AT_REMOVEDIR, 0).res == -ENOTEMPTY, "rmdir non-empty");
		CHECK(path_op(SHUNT_OP_unlink, "m", 0, 0).res == -EISDIR, "unlink a dir");
		CHECK(path_op(SHUNT_OP_unlink, "m/g", 0, 0).res == 0, "unlink an open file");
		struct shunt_sqe rd2 = { .op = SHUNT_OP_read, .handle = h, .len = 64 };
		CHECK(run(&rd2).res == 11, "an unlinked open file still reads");
		struct shunt_sqe cl = { .op = SHUNT_OP_close, .handle = h };
		run(&cl);
	} else if (!strcmp(what, "emfile")) {
		/* A family's open handles are bounded (the server runs with a
		 * small RLIMIT_NOFILE here): EMFILE, and room again after closes.
		 * Handles that own a server fd (O_SYNC opens never take the path
		 * cache's shared fd) by the fd limit; path-cache handles, which
		 * clients keep for reopening, by a wider bound. */
		static uint32_t hs[4096];
		path_op(SHUNT_OP_open, "many", O_WRONLY | O_CREAT, 0644);
		struct { int flags, tries; const char *what; } kinds[] = {
			{ O_RDONLY | O_SYNC, 512, "own fd" },
			{ O_RDONLY, 4096, "shared fd" },
		};
		for (int k = 0; k < 2; k++) {
			int n = 0, emfile = 0;
			for (int i = 0; i < kinds[k].tries; i++) {
				struct shunt_cqe c = path_op(SHUNT_OP_open, "many", (uint32_t)kinds[k].flags, 0);
				if (c.res > 0)
					hs[n++] = (uint32_t)c.res;
				else if (c.res == -EMFILE)
					emfile++;
			}
			printf("%s: opened %d, EMFILE %d\n", kinds[k].what, n, emfile);
			CHECK(emfile > 0 && n < kinds[k].tries, "no per-family bound on %s handles\n", kinds[k].what);
			for (int i = 0; i < n; i++) {
				struct shunt_sqe cl = { .op = SHUNT_OP_close, .handle = hs[i] };
				run(&cl);
			}
		}
		CHECK(path_op(SHUNT_OP_open, "many", O_RDONLY, 0).res > 0, "open after closing");
	} else if (!strcmp(what, "linger")) {
		/* A family outlives its last session by a while (an exec'd image
		 * reconnects in that window), then its handles are closed. */
		struct shunt_cqe c = path_op(SHUNT_OP_open, "linger.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
		uint32_t h = (uint32_t)c.res;
		uint64_t id = a->fam_id, tok = a->fam_token;
		close(a->fd); /* the only session of the family ends */
		usleep(300 * 1000);
		struct sess *b = connect_session(id, tok, &rep);
		CHECK(b != NULL, "rejoin within the linger time: %d", rep.status);
		if (b) {
			S = b;
			struct shunt_sqe f = { .op = SHUNT_OP_fstat, .handle = h };
			CHECK(run(&f).res == 0, "handle survives the gap");
			close(b->fd);
		}
		const char *wait_s = getenv("SMOKE_LINGER_WAIT");
		if (wait_s) {
			sleep((unsigned)atoi(wait_s));
			struct sess *d = connect_session(id, tok, &rep);
			printf("rejoin after %s s: %s\n", wait_s, d ? "accepted" : "refused");
			CHECK(!d, "a family past its linger time still accepts members");
		}
		S = NULL;
		return failures ? 1 : 0;
	} else if (!strcmp(what, "cachesem")) {
		/* Block states and contents through write, truncate, extend, append. */
		struct shunt_cqe c = path_op(SHUNT_OP_open, "sem.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
		uint32_t h = (uint32_t)c.res;
		uint64_t id = c.aux0;
		for (int i = 0; i < 100000; i++)
			data()[i] = (char)('a' + i % 26);
		struct shunt_sqe w = { .op = SHUNT_OP_write, .handle = h, .data_len = 100000 };
		c = run(&w);
		CHECK(c.res == 100000, "write 100000: %lld", (long long)c.res);
		struct shunt_sqe rd = { .op = SHUNT_OP_read, .handle = h, .len = 100000 };
		c = run(&rd);
		struct shunt_fcache_hdr *ch;
		char *base = map_cache(id, &ch);
		CHECK(base != NULL, "map cache");
		if (!base)
			goto out;
		char *d = base + ch->data_off;
		CHECK(block_state(base, 0) == SHUNT_BLOCK_VALID && block_state(base, 1) == SHUNT_BLOCK_VALID, "both blocks valid");
		CHECK(d[99999] == (char)('a' + 99999 % 26), "last byte cached");
		struct shunt_sqe t1 = { .op = SHUNT_OP_ftruncate, .handle = h, .off = 70000 };
		c = run(&t1);
		CHECK(c.res == 0 && ch->size == 70000, "shrink: size %llu", (unsigned long long)ch->size);
		CHECK(block_state(base, 0) == SHUNT_BLOCK_VALID && block_state(base, 1) != SHUNT_BLOCK_VALID,
		      "shrink invalidates the partial block only");
		struct shunt_sqe t2 = { .op = SHUNT_OP_ftruncate, .handle = h, .off = 100000 };
		run(&t2);
		struct shunt_sqe rd2 = { .op = SHUNT_OP_read, .handle = h, .off = 65536, .len = 100000 - 65536 };
		c = run(&rd2);
		CHECK(c.res == 0 && c.aux0 == 100000, "read after extend: size %llu", (unsigned long long)c.aux0);
		bool zeros = true;
		for (int i = 70000; i < 100000; i++)
			zeros &= d[i] == 0;
		CHECK(block_state(base, 1) == SHUNT_BLOCK_VALID && d[69999] == (char)('a' + 69999 % 26) && zeros,
		      "extended bytes read as zeros");
		memcpy(data(), "XYZ", 3);
		struct shunt_sqe w2 = { .op = SHUNT_OP_write, .handle = h, .off = 90000, .data_len = 3 };
		uint32_t gen0 = ((volatile uint32_t *)(base + SHUNT_FCACHE_STATES_OFF))[1];
		run(&w2);
		uint32_t gen1 = ((volatile uint32_t *)(base + SHUNT_FCACHE_STATES_OFF))[1];
		CHECK(!memcmp(d + 90000, "XYZ", 3) && (gen1 >> 2) == (gen0 >> 2) + 2, "write updates a valid block in place, two generation bumps");
		memcpy(data(), "tail", 4);
		struct shunt_sqe w3 = { .op = SHUNT_OP_write, .handle = h, .off = 5, .data_len = 4, .arg0 = SHUNT_WRITE_APPEND };
		c = run(&w3);
		printf("append: res %lld at %llu, size now %llu\n", (long long)c.res, (unsigned long long)c.aux0,
		       (unsigned long long)ch->size);
		CHECK(c.res == 4 && c.aux0 == 100000 && ch->size == 100004 && !memcmp(d + 100000, "tail", 4), "append");
		uint32_t seq = ch->attr_seq;
		CHECK(!(seq & 1) && ch->st.size == 100004, "header stat follows: size %llu", (unsigned long long)ch->st.size);
		/* A read-only handle cannot write or truncate, whatever fd it shares. */
		c = path_op(SHUNT_OP_open, "sem.bin", O_RDONLY, 0);
		uint32_t ro = (uint32_t)c.res;
		struct shunt_sqe w4 = { .op = SHUNT_OP_write, .handle = ro, .data_len = 1 };
		CHECK(run(&w4).res == -EBADF, "write on O_RDONLY");
		struct shunt_sqe t3 = { .op = SHUNT_OP_ftruncate, .handle = ro, .off = 1 };
		CHECK(run(&t3).res == -EINVAL, "ftruncate on O_RDONLY");
		c = path_op(SHUNT_OP_open, "sem.bin", O_WRONLY, 0);
		struct shunt_sqe r5 = { .op = SHUNT_OP_read, .handle = (uint32_t)c.res, .len = 1 };
		CHECK(run(&r5).res == -EBADF, "read on O_WRONLY");
	} else if (!strcmp(what, "budget")) {
		/* Closed files' caches are dropped over --cache-mem; a client
		 * still mapping one sees it dead. */
		struct shunt_fcache_hdr *first = NULL;
		char name[32];
		for (int f = 0; f < 8; f++) {
			snprintf(name, sizeof(name), "budget%d", f);
			struct shunt_cqe c = path_op(SHUNT_OP_open, name, O_RDWR | O_CREAT | O_TRUNC, 0644);
			uint32_t h = (uint32_t)c.res;
			uint64_t id = c.aux0;
			memset(data(), 'a' + f, 256 * 1024);
			struct shunt_sqe w = { .op = SHUNT_OP_write, .handle = h, .data_len = 256 * 1024 };
			run(&w);
			struct shunt_sqe rd = { .op = SHUNT_OP_read, .handle = h, .len = 256 * 1024 };
			run(&rd);
			if (f == 0) {
				map_cache(id, &first);
				CHECK(first && !first->dead, "first cache mapped");
			}
			struct shunt_sqe cl = { .op = SHUNT_OP_close, .handle = h };
			run(&cl);
		}
		printf("first cache after 2 MiB of others with a 1 MiB budget: %s\n", first && first->dead ? "dead" : "alive");
		CHECK(first && first->dead, "over-budget closed cache not dropped");
	} else if (!strcmp(what, "pcfill")) {
		/* Open as root so the path cache holds these; "perms" then
		 * checks an unprivileged client still gets the kernel's answer. */
		const char *paths[] = { "rootfile", "private/secret" };
		for (int i = 0; i < 2; i++)
			for (int k = 0; k < 2; k++) {
				struct shunt_cqe c = path_op(SHUNT_OP_open, paths[i], k ? O_RDWR : O_RDONLY, 0);
				CHECK(c.res > 0, "root opens %s: %lld", paths[i], (long long)c.res);
				struct shunt_sqe cl = { .op = SHUNT_OP_close, .handle = (uint32_t)c.res };
				run(&cl);
			}
	} else if (!strcmp(what, "pcext")) {
		/* Changes made outside shunt are seen by the next open/stat. */
		const char *root = getenv("SMOKE_ROOT");
		char a[512], b[512];
		snprintf(a, sizeof(a), "%s/pc", root);
		mkdir(a, 0755);
		snprintf(a, sizeof(a), "%s/pc/f", root);
		FILE *f = fopen(a, "w");
		fputs("one", f);
		fclose(f);
		for (int i = 0; i < 3; i++) { /* fill, then hit */
			struct shunt_cqe c = path_op(SHUNT_OP_open, "pc/f", O_RDONLY, 0);
			CHECK(c.res > 0, "open pc/f");
			struct shunt_sqe r = { .op = SHUNT_OP_read, .handle = (uint32_t)c.res, .len = 16, .arg0 = SHUNT_READ_DIRECT };
			c = run(&r);
			CHECK(c.res == 3 && !memcmp(data(), "one", 3), "read pc/f");
			struct shunt_sqe cl = { .op = SHUNT_OP_close, .handle = (uint32_t)r.handle };
			run(&cl);
		}
		snprintf(b, sizeof(b), "%s/pc/g", root);
		rename(a, b);
		struct shunt_cqe c = path_op(SHUNT_OP_open, "pc/f", O_RDONLY, 0);
		printf("open after an outside rename: %lld\n", (long long)c.res);
		CHECK(c.res == -ENOENT, "stale path after rename");
		c = path_op(SHUNT_OP_stat, "pc/f", 0, 0);
		CHECK(c.res == -ENOENT, "stale stat after rename: %lld", (long long)c.res);
		/* An outside write: a cached read must show it. */
		c = path_op(SHUNT_OP_open, "pc/g", O_RDONLY, 0);
		uint32_t h = (uint32_t)c.res;
		struct shunt_sqe r = { .op = SHUNT_OP_read, .handle = h, .len = 16 };
		run(&r); /* loads the cache */
		struct shunt_sqe cl = { .op = SHUNT_OP_close, .handle = h };
		run(&cl);
		f = fopen(b, "w");
		fputs("two!", f);
		fclose(f);
		c = path_op(SHUNT_OP_stat, "pc/g", 0, 0);
		struct shunt_stat st;
		memcpy(&st, data(), sizeof(st));
		CHECK(c.res == 0 && st.size == 4, "stat after outside write: size %llu", (unsigned long long)st.size);
		c = path_op(SHUNT_OP_open, "pc/g", O_RDONLY, 0);
		h = (uint32_t)c.res;
		struct shunt_sqe r2 = { .op = SHUNT_OP_read, .handle = h, .len = 16 };
		c = run(&r2);
		CHECK(c.res == 0 && c.aux0 == 4, "cached read size after outside write: %llu", (unsigned long long)c.aux0);
		struct shunt_sqe r3 = { .op = SHUNT_OP_read, .handle = h, .len = 16, .arg0 = SHUNT_READ_DIRECT };
		c = run(&r3);
		printf("read after an outside write: '%.*s'\n", (int)(c.res > 0 ? c.res : 0), data());
		CHECK(c.res == 4 && !memcmp(data(), "two!", 4), "content after outside write");
		struct shunt_sqe cl2 = { .op = SHUNT_OP_close, .handle = h };
		run(&cl2);
		/* An outside chmod of a directory on the way. */
		snprintf(a, sizeof(a), "%s/pc", root);
		c = path_op(SHUNT_OP_open, "pc/g", O_RDONLY, 0);
		struct shunt_sqe cl3 = { .op = SHUNT_OP_close, .handle = (uint32_t)c.res };
		run(&cl3);
		/* An outside swap of the whole directory. */
		snprintf(b, sizeof(b), "%s/pc-old", root);
		rename(a, b);
		mkdir(a, 0755);
		snprintf(a, sizeof(a), "%s/pc/g", root);
		f = fopen(a, "w");
		fputs("three", f);
		fclose(f);
		c = path_op(SHUNT_OP_open, "pc/g", O_RDONLY, 0);
		struct shunt_sqe r4 = { .op = SHUNT_OP_read, .handle = (uint32_t)c.res, .len = 16, .arg0 = SHUNT_READ_DIRECT };
		c = run(&r4);
		printf("read after an outside directory swap: '%.*s'\n", (int)(c.res > 0 ? c.res : 0), data());
		CHECK(c.res == 5 && !memcmp(data(), "three", 5), "content after directory swap");
	} else {
		printf("unknown scenario %s\n", what);
		return 2;
	}
out:
	if (failures)
		printf("FAILED: %d mismatches\n", failures);
	else
		printf("%s: all good\n", what);
	return failures ? 1 : 0;
}
