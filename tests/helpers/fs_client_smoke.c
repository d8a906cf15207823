/* A tiny shuntd client for the smoke test: HELLO over the socket, then
 * open/write/read/fstat/stat/getdents/close through the rings with the
 * channel's client half, a GETFD and a read straight from the shared cache,
 * and a few malformed commands. Prints what it got; exits 1 on a mismatch.
 * usage: fs_client_smoke SOCKET */
#include "channel/chan.h"
#include "shunt/fs_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int sock = -1;
static void *shm;
static struct chan_client cc;
static uint64_t token;
static int failures;

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
		sqe->token = token;
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

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s SOCKET\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", argv[1]);
	if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		return 1;
	}
	uint32_t nchan = 2;
	uint64_t size = chan_shm_size(nchan);
	int memfd = memfd_create("smoke", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, (off_t)size) < 0)
		return 1;
	shm = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	struct shunt_sess_hdr *hdr = shm;
	hdr->magic = SHUNT_FS_MAGIC;
	hdr->version = SHUNT_FS_VERSION;
	hdr->nchan = nchan;
	hdr->chan_size = SHUNT_CHAN_SIZE;
	fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	struct shunt_hello h = { .magic = SHUNT_FS_MAGIC, .version = SHUNT_FS_VERSION, .type = SHUNT_MSG_HELLO,
				 .nchan = nchan, .shm_size = size };
	send_with_fd(&h, sizeof(h), memfd);
	struct shunt_hello_reply rep;
	int junk;
	if (recv_with_fd(&rep, sizeof(rep), &junk) != sizeof(rep) || rep.status) {
		printf("HELLO failed: status %d\n", rep.status);
		return 1;
	}
	token = rep.session_token;
	printf("hello: token set, family %llx, server pid %d\n", (unsigned long long)rep.family_id, rep.server_pid);
	chan_client_init(&cc, shm, 0);

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
	struct shunt_sqe bad = { .op = SHUNT_OP_nop, .token = token ^ 1 };
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
