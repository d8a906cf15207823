/* The command decoder: turns one sqe (already copied out of the ring) and
 * the channel's data area into a checked, private struct fs_cmd. A pure
 * function: no I/O, no globals, so unit tests drive it without a socket.
 * Shared memory is read once, copied, then checked; never trusted. */
#include "fsserver.h"

#include <errno.h>
#include <string.h>

static const unsigned char op_payload[SHUNT_OP_COUNT] = {
	[SHUNT_OP_nop] = FS_PAY_NONE,
	[SHUNT_OP_open] = FS_PAY_PATH,
	[SHUNT_OP_close] = FS_PAY_NONE,
	[SHUNT_OP_read] = FS_PAY_NONE,
	[SHUNT_OP_write] = FS_PAY_BYTES,
	[SHUNT_OP_fsync] = FS_PAY_NONE,
	[SHUNT_OP_ftruncate] = FS_PAY_NONE,
	[SHUNT_OP_truncate] = FS_PAY_PATH,
	[SHUNT_OP_stat] = FS_PAY_PATH,
	[SHUNT_OP_fstat] = FS_PAY_NONE,
	[SHUNT_OP_access] = FS_PAY_PATH,
	[SHUNT_OP_unlink] = FS_PAY_PATH,
	[SHUNT_OP_rename] = FS_PAY_PATH2,
	[SHUNT_OP_mkdir] = FS_PAY_PATH,
	[SHUNT_OP_getdents] = FS_PAY_NONE,
	[SHUNT_OP_lock] = FS_PAY_FLOCK,
	[SHUNT_OP_setattr] = FS_PAY_SETATTR,
	[SHUNT_OP_symlink] = FS_PAY_PATH2,
	[SHUNT_OP_readlink] = FS_PAY_PATH,
	[SHUNT_OP_link] = FS_PAY_PATH2,
	[SHUNT_OP_statfs] = FS_PAY_OPTPATH,
	[SHUNT_OP_fallocate] = FS_PAY_NONE,
	[SHUNT_OP_seek] = FS_PAY_NONE,
};

/* Ops that act on an open handle (handle must be non-zero). */
static const unsigned char op_needs_handle[SHUNT_OP_COUNT] = {
	[SHUNT_OP_close] = 1, [SHUNT_OP_read] = 1,	[SHUNT_OP_write] = 1, [SHUNT_OP_fsync] = 1,
	[SHUNT_OP_ftruncate] = 1, [SHUNT_OP_fstat] = 1, [SHUNT_OP_getdents] = 1, [SHUNT_OP_lock] = 1,
	[SHUNT_OP_fallocate] = 1, [SHUNT_OP_seek] = 1,
};

enum fs_payload fs_op_payload(unsigned op)
{
	return op < SHUNT_OP_COUNT ? (enum fs_payload)op_payload[op] : FS_PAY_NONE;
}

/* A NUL-terminated path at p (private memory, n bytes available). Returns
 * its length + 1, or -errno. Paths are relative to the export root: a
 * leading '/' is a malformed command (a symlink's target is only text and
 * is not checked here). */
static int take_text(const char *p, uint32_t n)
{
	const char *nul = memchr(p, 0, n);
	if (!nul)
		return n >= SHUNT_PATH_MAX ? -ENAMETOOLONG : -EINVAL;
	size_t len = (size_t)(nul - p);
	if (len >= SHUNT_PATH_MAX)
		return -ENAMETOOLONG;
	return (int)len + 1;
}
static int take_path(const char *p, uint32_t n)
{
	int r = take_text(p, n);
	return r > 0 && p[0] == '/' ? -EINVAL : r;
}

int fs_decode(const struct shunt_sqe *sqe, uint64_t token, const char *s_data, struct fs_cmd *cmd,
	      struct fs_decode_buf *buf)
{
	/* sqe is a private copy already (chan_server_take); read fields once. */
	memset(cmd, 0, sizeof(*cmd));
	cmd->op = sqe->op;
	cmd->flags = sqe->flags;
	cmd->handle = sqe->handle;
	cmd->user_data = sqe->user_data;
	cmd->off = sqe->off;
	cmd->len = sqe->len;
	cmd->arg0 = sqe->arg0;
	cmd->arg1 = sqe->arg1;
	cmd->arg2 = sqe->arg2;
	uint32_t data_off = sqe->data_off, data_len = sqe->data_len;

	if (sqe->token != token)
		return -EPROTO;
	if (sqe->reserved0 || sqe->reserved1)
		return -EINVAL;
	if (cmd->flags & ~SHUNT_SQE_FLAGS_MASK)
		return -EINVAL;
	if (cmd->op >= SHUNT_OP_COUNT)
		return -EINVAL;
	/* Written as two comparisons so the sum cannot wrap. */
	if (data_off > SHUNT_CHAN_DATA_SIZE || data_len > SHUNT_CHAN_DATA_SIZE - data_off)
		return -EINVAL;
	cmd->data_off = data_off;
	cmd->reply_cap = SHUNT_CHAN_DATA_SIZE - data_off;
	if (op_needs_handle[cmd->op] && cmd->handle == 0)
		return -EBADF;

	enum fs_payload pay = (enum fs_payload)op_payload[cmd->op];
	if (pay == FS_PAY_OPTPATH)
		pay = cmd->handle ? FS_PAY_NONE : FS_PAY_PATH;
	if (pay == FS_PAY_NONE)
		return 0;

	/* Copy the payload out once; everything below looks only at the copy. */
	memcpy(buf->data, s_data + data_off, data_len);
	buf->data[data_len] = 0;
	const char *p = buf->data;
	int n;
	switch (pay) {
	case FS_PAY_PATH:
		if ((n = take_path(p, data_len)) < 0)
			return n;
		cmd->path = p;
		return 0;
	case FS_PAY_PATH2:
		n = cmd->op == SHUNT_OP_symlink ? take_text(p, data_len) : take_path(p, data_len);
		if (n < 0)
			return n;
		cmd->path = p;
		{
			int m = take_path(p + n, data_len - (uint32_t)n);
			if (m < 0)
				return m;
			cmd->path2 = p + n;
		}
		return 0;
	case FS_PAY_BYTES:
		cmd->bytes = p;
		cmd->nbytes = data_len;
		return 0;
	case FS_PAY_FLOCK:
		if (data_len < sizeof(struct shunt_flock))
			return -EINVAL;
		memcpy(&cmd->fl, p, sizeof(cmd->fl));
		return 0;
	case FS_PAY_SETATTR:
		if (data_len < sizeof(struct shunt_setattr))
			return -EINVAL;
		memcpy(&cmd->sa, p, sizeof(cmd->sa));
		if (cmd->handle == 0) {
			uint32_t rest = data_len - (uint32_t)sizeof(struct shunt_setattr);
			if ((n = take_path(p + sizeof(struct shunt_setattr), rest)) < 0)
				return n;
			cmd->path = p + sizeof(struct shunt_setattr);
		}
		return 0;
	default:
		return -EINVAL;
	}
}
