/* The command decoder (runtime/fsserver/decode.c) without a socket: good
 * commands decode, each malformed field is rejected with its errno, and
 * random sqes over a random data area never crash or read out of bounds. */
#include "test_fs_shim.h" /* Criterion, or its TSan stand-in */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsserver/fsserver.h"

#define TOKEN 0x1234567890abcdefull

static char *area;                 /* the channel's data area */
static struct fs_decode_buf *buf;
static struct fs_cmd cmd;

static void setup(void)
{
	area = calloc(1, SHUNT_CHAN_DATA_SIZE);
	buf = calloc(1, sizeof(*buf));
}
static void teardown(void)
{
	free(area);
	free(buf);
}

TestSuite(fs_decode, .init = setup, .fini = teardown);

static struct shunt_sqe sqe_of(uint8_t op)
{
	return (struct shunt_sqe){ .op = op, .token = TOKEN, .user_data = 77 };
}

static int dec(const struct shunt_sqe *s)
{
	return fs_decode(s, TOKEN, area, &cmd, buf);
}

static struct shunt_sqe path_sqe(uint8_t op, const char *p, uint32_t off)
{
	struct shunt_sqe s = sqe_of(op);
	size_t n = strlen(p) + 1;
	memcpy(area + off, p, n);
	s.data_off = off;
	s.data_len = (uint32_t)n;
	return s;
}

Test(fs_decode, open_ok)
{
	struct shunt_sqe s = path_sqe(SHUNT_OP_open, "a/b.txt", 128);
	s.arg0 = 0101;
	s.arg1 = 0644;
	cr_assert_eq(dec(&s), 0);
	cr_assert_str_eq(cmd.path, "a/b.txt");
	cr_assert_eq(cmd.op, SHUNT_OP_open);
	cr_assert_eq(cmd.arg0, 0101);
	cr_assert_eq(cmd.arg1, 0644);
	cr_assert_eq(cmd.user_data, 77);
	cr_assert_eq(cmd.data_off, 128);
	cr_assert_eq(cmd.reply_cap, SHUNT_CHAN_DATA_SIZE - 128);
	/* The path is a private copy: the client rewriting it changes nothing. */
	area[128] = 'X';
	cr_assert_str_eq(cmd.path, "a/b.txt");
}

Test(fs_decode, rename_two_paths)
{
	memcpy(area, "old\0new\0", 8);
	struct shunt_sqe s = sqe_of(SHUNT_OP_rename);
	s.data_len = 8;
	cr_assert_eq(dec(&s), 0);
	cr_assert_str_eq(cmd.path, "old");
	cr_assert_str_eq(cmd.path2, "new");
	s.data_len = 6; /* second path unterminated */
	cr_assert_eq(dec(&s), -EINVAL);
}

Test(fs_decode, write_bytes_copied)
{
	memcpy(area + 10, "payload", 7);
	struct shunt_sqe s = sqe_of(SHUNT_OP_write);
	s.handle = 3;
	s.data_off = 10;
	s.data_len = 7;
	cr_assert_eq(dec(&s), 0);
	cr_assert_eq(cmd.nbytes, 7);
	cr_assert(cmd.bytes != area + 10, "write payload must be copied out");
	cr_assert_eq(memcmp(cmd.bytes, "payload", 7), 0);
}

Test(fs_decode, empty_write_and_nop)
{
	struct shunt_sqe s = sqe_of(SHUNT_OP_write);
	s.handle = 1;
	cr_assert_eq(dec(&s), 0);
	cr_assert_eq(cmd.nbytes, 0);
	s = sqe_of(SHUNT_OP_nop);
	cr_assert_eq(dec(&s), 0);
}

Test(fs_decode, structs)
{
	struct shunt_flock fl = { .type = 1, .whence = 0, .pid = 5, .start = 10, .len = 20 };
	memcpy(area, &fl, sizeof(fl));
	struct shunt_sqe s = sqe_of(SHUNT_OP_lock);
	s.handle = 2;
	s.data_len = sizeof(fl);
	cr_assert_eq(dec(&s), 0);
	cr_assert_eq(cmd.fl.start, 10);
	cr_assert_eq(cmd.fl.len, 20);
	s.data_len = sizeof(fl) - 1;
	cr_assert_eq(dec(&s), -EINVAL);

	struct shunt_setattr sa = { .uid = 1, .gid = 2 };
	memcpy(area, &sa, sizeof(sa));
	memcpy(area + sizeof(sa), "f\0", 2);
	s = sqe_of(SHUNT_OP_setattr);
	s.data_len = sizeof(sa) + 2;
	cr_assert_eq(dec(&s), 0);
	cr_assert_str_eq(cmd.path, "f");
	cr_assert_eq(cmd.sa.gid, 2);
	s.data_len = sizeof(sa); /* handle 0 needs a path */
	cr_assert_eq(dec(&s), -EINVAL);
	s.handle = 9; /* with a handle, no path */
	cr_assert_eq(dec(&s), 0);
	cr_assert_null(cmd.path);
}

Test(fs_decode, statfs_path_or_handle)
{
	struct shunt_sqe s = path_sqe(SHUNT_OP_statfs, "", 0);
	cr_assert_eq(dec(&s), 0);
	cr_assert_str_eq(cmd.path, "");
	s = sqe_of(SHUNT_OP_statfs);
	s.handle = 4;
	cr_assert_eq(dec(&s), 0);
	cr_assert_null(cmd.path);
	s.handle = 0; /* no handle and no path */
	cr_assert_eq(dec(&s), -EINVAL);
}

Test(fs_decode, wrong_token)
{
	struct shunt_sqe s = sqe_of(SHUNT_OP_nop);
	s.token = TOKEN ^ 1;
	cr_assert_eq(dec(&s), -EPROTO);
	s.token = 0;
	cr_assert_eq(dec(&s), -EPROTO);
	cr_assert_eq(cmd.user_data, 77, "user_data is echoed even for a rejected command");
}

Test(fs_decode, reserved_fields)
{
	struct shunt_sqe s = sqe_of(SHUNT_OP_nop);
	s.reserved0 = 1;
	cr_assert_eq(dec(&s), -EINVAL);
	s = sqe_of(SHUNT_OP_nop);
	s.reserved1 = 0x80000000u;
	cr_assert_eq(dec(&s), -EINVAL);
}

Test(fs_decode, flags)
{
	struct shunt_sqe s = sqe_of(SHUNT_OP_nop);
	s.flags = SHUNT_SQE_ASYNC;
	cr_assert_eq(dec(&s), 0);
	for (unsigned f = 2; f < 256; f <<= 1) {
		s.flags = (uint8_t)f;
		cr_assert_eq(dec(&s), -EINVAL, "flag %#x", f);
	}
}

Test(fs_decode, op_range)
{
	struct shunt_sqe s = sqe_of(SHUNT_OP_COUNT);
	cr_assert_eq(dec(&s), -EINVAL);
	s.op = 255;
	cr_assert_eq(dec(&s), -EINVAL);
}

Test(fs_decode, bounds)
{
	struct shunt_sqe s = sqe_of(SHUNT_OP_write);
	s.handle = 1;
	s.data_off = SHUNT_CHAN_DATA_SIZE;
	s.data_len = 0;
	cr_assert_eq(dec(&s), 0, "an empty payload at the very end is in bounds");
	cr_assert_eq(cmd.reply_cap, 0);
	s.data_len = 1;
	cr_assert_eq(dec(&s), -EINVAL);
	s.data_off = SHUNT_CHAN_DATA_SIZE + 1;
	s.data_len = 0;
	cr_assert_eq(dec(&s), -EINVAL);
	s.data_off = 0xffffffffu;
	s.data_len = 2; /* would wrap to 1 */
	cr_assert_eq(dec(&s), -EINVAL);
	s.data_off = 1;
	s.data_len = SHUNT_CHAN_DATA_SIZE;
	cr_assert_eq(dec(&s), -EINVAL);
	s.data_off = 0;
	s.data_len = SHUNT_CHAN_DATA_SIZE;
	cr_assert_eq(dec(&s), 0);
}

Test(fs_decode, unterminated_path)
{
	memset(area, 'a', 64);
	struct shunt_sqe s = sqe_of(SHUNT_OP_stat);
	s.data_len = 64;
	cr_assert_eq(dec(&s), -EINVAL);
	s.data_len = 0;
	cr_assert_eq(dec(&s), -EINVAL);
}

Test(fs_decode, absolute_paths_rejected)
{
	struct shunt_sqe s = path_sqe(SHUNT_OP_open, "/etc/passwd", 0);
	cr_assert_eq(dec(&s), -EINVAL);
	memcpy(area, "a\0/b\0", 5);
	s = sqe_of(SHUNT_OP_rename);
	s.data_len = 5;
	cr_assert_eq(dec(&s), -EINVAL, "second path absolute");
	/* A symlink's target is text: absolute is allowed (it never resolves
	 * outside the root anyway); its path is not. */
	memcpy(area, "/etc\0ln\0", 8);
	s = sqe_of(SHUNT_OP_symlink);
	s.data_len = 8;
	cr_assert_eq(dec(&s), 0);
	cr_assert_str_eq(cmd.path, "/etc");
	memcpy(area, "etc\0/ln\0", 8);
	cr_assert_eq(dec(&s), -EINVAL);
}

Test(fs_decode, path_too_long)
{
	memset(area, 'a', SHUNT_PATH_MAX);
	area[SHUNT_PATH_MAX] = 0; /* length 4096: one past PATH_MAX - 1 */
	struct shunt_sqe s = sqe_of(SHUNT_OP_open);
	s.data_len = SHUNT_PATH_MAX + 1;
	cr_assert_eq(dec(&s), -ENAMETOOLONG);
	area[SHUNT_PATH_MAX - 1] = 0; /* length 4095: fits */
	cr_assert_eq(dec(&s), 0);
	memset(area, 'a', 3 * SHUNT_PATH_MAX); /* no NUL anywhere, longer than PATH_MAX */
	s.data_len = 3 * SHUNT_PATH_MAX;
	cr_assert_eq(dec(&s), -ENAMETOOLONG);
}

Test(fs_decode, handle_required)
{
	static const uint8_t ops[] = { SHUNT_OP_close, SHUNT_OP_read, SHUNT_OP_write, SHUNT_OP_fsync,
				       SHUNT_OP_ftruncate, SHUNT_OP_fstat, SHUNT_OP_getdents, SHUNT_OP_fallocate };
	for (size_t i = 0; i < sizeof(ops); i++) {
		struct shunt_sqe s = sqe_of(ops[i]);
		cr_assert_eq(dec(&s), -EBADF, "op %u without a handle", ops[i]);
	}
	struct shunt_flock fl = { 0 };
	memcpy(area, &fl, sizeof(fl));
	struct shunt_sqe s = sqe_of(SHUNT_OP_lock);
	s.data_len = sizeof(fl);
	cr_assert_eq(dec(&s), -EBADF);
}

Test(fs_decode, fuzz_never_crashes)
{
	/* Random sqes against a random data area: whatever comes back, a
	 * decoded path lies in the private buffer and is terminated in it. */
	srandom(12345);
	for (size_t i = 0; i < SHUNT_CHAN_DATA_SIZE; i++)
		area[i] = (char)(random() % 5 ? random() : 0);
	unsigned ok = 0;
	for (int it = 0; it < 200000; it++) {
		struct shunt_sqe s;
		unsigned char *p = (unsigned char *)&s;
		for (size_t k = 0; k < sizeof(s); k++)
			p[k] = (unsigned char)random();
		/* Bias toward the interesting region so some decode. */
		if (it & 1) {
			s.token = TOKEN;
			s.reserved0 = 0;
			s.reserved1 = 0;
			s.flags &= 1;
			s.op %= SHUNT_OP_COUNT + 2;
			s.data_off %= SHUNT_CHAN_DATA_SIZE + 8;
			s.data_len %= 8192;
		}
		int r = dec(&s);
		cr_assert(r == 0 || r == -EINVAL || r == -EPROTO || r == -EBADF || r == -ENAMETOOLONG, "r=%d", r);
		if (r)
			continue;
		ok++;
		const char *lo = buf->data, *hi = buf->data + sizeof(buf->data);
		if (cmd.path) {
			cr_assert(cmd.path >= lo && cmd.path < hi);
			cr_assert(strlen(cmd.path) < SHUNT_PATH_MAX);
		}
		if (cmd.path2)
			cr_assert(cmd.path2 >= lo && cmd.path2 + strlen(cmd.path2) < hi);
		if (cmd.bytes)
			cr_assert(cmd.bytes >= lo && cmd.bytes + cmd.nbytes <= hi);
		cr_assert(cmd.op < SHUNT_OP_COUNT);
		cr_assert(cmd.data_off + cmd.reply_cap == SHUNT_CHAN_DATA_SIZE);
	}
	cr_assert(ok > 1000, "the fuzz reached the decoders (%u decoded)", ok);
}
