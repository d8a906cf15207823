/* The file client's start-up and fork handling. Init runs in the preload
 * constructor: it adopts what an exec'ing parent passed down, and only then
 * turns redirection on. */
#include "internal.h"
#include "common/config.h"
#include "common/init.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>

int fsc_enabled;

void fsc_path_init(const char *mount);
int fsc_exec_inherit_scan(void);
void fsc_exec_save_env(const char *libpath);
void fsc_session_after_fork_child(void);
void stats_after_fork_child(void);

static const char *const op_names[] = {
#define OP_NAME(n) #n,
	SHUNT_FS_OPS(OP_NAME)
#undef OP_NAME
};
_Static_assert(sizeof(op_names) / sizeof(op_names[0]) == SHUNT_OP_COUNT, "one name per op");

static void atfork_child(void)
{
	stats_after_fork_child();
	fsc_session_after_fork_child(); /* also releases the lock prepare took */
	if (!fsc_enabled)
		return;
	fsc_fcache_reset();
	fsc_reopen_after_fork_child();
	/* The child's fd table is a copy: each entry is one more reference. */
	for (int fd = 0; fd < FSC_MAX_FD; fd++) {
		int32_t v = load_relaxed(&fsc_fd_ofd[fd]);
		if (v)
			fetch_add_acq_rel(&fsc_ofds->ofd[v - 1].refs, 1);
	}
}

void fsc_client_init(void)
{
	shunt_common_init();
	stats_set_op_names(op_names, SHUNT_OP_COUNT);
	pthread_atfork(fsc_atfork_prepare, fsc_atfork_parent, atfork_child);
	if (!cfg.fs_mount.str[0])
		return;
	fsc_path_init(cfg.fs_mount.str);
	fsc_spin_ns = cfg.fs_spin_us.num * 1000;
	fsc_reopen_on = cfg.fs_reopen.num != 0;
	struct { uint64_t cur, max; } lim;
	if (sys_call(SYS_prlimit64, 0, RLIMIT_FSIZE, NULL, &lim, 0, 0) == 0)
		fsc_fsize_limit_set(lim.cur);
	fsc_pid = (pid_t)sys_getpid();
	Dl_info info;
	if (dladdr((void *)fsc_client_init, &info) && info.dli_fname)
		fsc_exec_save_env(info.dli_fname);
	int r = fsc_exec_inherit_scan();
	if (r) {
		log_error("file redirection is off: cannot set up descriptor tables (errno %d)", -r);
		return;
	}
	store_release(&fsc_enabled, 1);
	for (int fd = 0; fd <= 2; fd++)
		if (fsc_fd_is_ours(fd))
			fsc_fix_std_stream(fd);
	log_debug("file redirection on: %s", cfg.fs_mount.str);
}

/* The process is leaving: its fds go away as the kernel's would, so the
 * descriptions they held lose a reference (and flock/OFD locks taken through
 * a description this process alone held are released by the server). Runs
 * after stdio's buffers were written out (see preload/init.c). */
void fsc_client_exit(void)
{
	if (!fsc_enabled)
		return;
	fsc_reopen_flush(true);
	for (int fd = 0; fd < FSC_MAX_FD; fd++) {
		if (!load_relaxed(&fsc_fd_ofd[fd]))
			continue;
		/* No stdio here: _exit() in a forked child runs this too. */
		int o = fsc_fd_uninstall(fd);
		if (o >= 0)
			fsc_ofd_put_sync(o); /* done before a waitpid() of ours returns */
	}
}
