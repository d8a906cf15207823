/* The backend operations tables and the one function every command goes
 * through to reach them (its call is a jump switch). The passthrough
 * backend exports a directory through a root dirfd. */
#include "fsserver.h"
#include "shunt/jswitch.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int fs_rootfd = -1;

static int pt_init(const char *root)
{
	int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	fs_rootfd = fd;
	return 0;
}

const struct fs_backend fs_passthrough = {
	.name = "passthrough",
	.init = pt_init,
	.ops = {
#define FS_PT_OP(n) .n = fs_pt_##n,
		SHUNT_FS_OPS(FS_PT_OP)
#undef FS_PT_OP
	},
};

const struct fs_backend *fs_backend_cur = &fs_passthrough;

const char *const fs_op_names[SHUNT_OP_COUNT] = {
#define FS_OP_NAME(n) [SHUNT_OP_##n] = #n,
	SHUNT_FS_OPS(FS_OP_NAME)
#undef FS_OP_NAME
};

/* Every backend op is called through this jump switch: a direct jump to the
 * ops it has learned, a retpoline for the rest. */
SHUNT_JSW_SITE(fs_backend_op, int64_t, 1, struct fs_req *);

int64_t fs_dispatch(struct fs_req *r)
{
	/* The ops struct is an array of SHUNT_OP_COUNT pointers in op order
	 * (static assert in fsserver.h); the decoder checked op < COUNT. */
	const fs_op_fn *tab = (const fs_op_fn *)&fs_backend_cur->ops;
	fs_op_fn fn = tab[r->cmd->op];
	if (!fn)
		return -ENOSYS;
	int64_t res = SHUNT_JSW_CALL(fs_backend_op, fn, r);
	/* A name removed or replaced, or a mode or owner changed, retires the
	 * handles clients keep for reopening before this completion is seen:
	 * the kernel queued the event inside the system call that did it. */
	uint8_t op = r->cmd->op;
	if (res >= 0 && (op == SHUNT_OP_unlink || op == SHUNT_OP_rename || op == SHUNT_OP_setattr))
		fs_pc_sync(false);
	return res;
}
