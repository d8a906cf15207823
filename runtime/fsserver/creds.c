/* Client identity: read once per session (SO_PEERCRED, /proc/PID/status
 * groups), then put on the poller thread per command with raw setfsuid/
 * setfsgid/setgroups system calls (glibc's wrappers would broadcast to every
 * thread). Skips the switch when the thread already carries those creds. */
#include "fsserver.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

bool fs_creds_switching;

static __thread struct fs_creds cur;     /* what this thread carries now */
static __thread bool cur_valid;
static struct fs_creds server_creds;

static bool same(const struct fs_creds *a, const struct fs_creds *b)
{
	return a->uid == b->uid && a->gid == b->gid && a->ngroups == b->ngroups &&
	       !memcmp(a->groups, b->groups, a->ngroups * sizeof(gid_t));
}

int fs_creds_apply(const struct fs_creds *c)
{
	if (!fs_creds_switching)
		return 0;
	if (cur_valid && same(&cur, c))
		return 0;
	cur_valid = false;
	/* Groups first: setgroups needs CAP_SETGID, which setfsuid does not
	 * drop, but keep the order fixed anyway. Raw calls: this thread only. */
	if (syscall(SYS_setgroups, (long)c->ngroups, c->groups) < 0)
		return -errno;
	syscall(SYS_setfsgid, (long)c->gid);
	syscall(SYS_setfsuid, (long)c->uid);
	/* setfs* report the old value, never an error: confirm. */
	if ((uid_t)syscall(SYS_setfsuid, -1L) != c->uid || (gid_t)syscall(SYS_setfsgid, -1L) != c->gid)
		return -EPERM;
	cur = *c;
	cur_valid = true;
	return 0;
}

void fs_creds_restore(void)
{
	if (fs_creds_switching)
		fs_creds_apply(&server_creds);
}

/* Supplementary groups from /proc/PID/status, read through the pidfd's
 * process (checked alive after, so a recycled pid cannot answer). */
static int read_groups(pid_t pid, struct fs_creds *out)
{
	char path[64], buf[8192];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	char *g = strstr(buf, "\nGroups:");
	out->ngroups = 0;
	if (!g)
		return 0;
	g += 8;
	while (*g && *g != '\n') {
		char *end;
		unsigned long v = strtoul(g, &end, 10);
		if (end == g) {
			g++;
			continue;
		}
		if (out->ngroups < FS_MAX_GROUPS)
			out->groups[out->ngroups++] = (gid_t)v;
		g = end;
	}
	return 0;
}

int fs_creds_of_peer(int sock, int pidfd, pid_t pid, struct fs_creds *out)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	if (uc.pid != pid)
		return -ESRCH;
	out->uid = uc.uid;
	out->gid = uc.gid;
	int r = read_groups(pid, out);
	if (r)
		return r;
	/* The pid must still be the process we authenticated: a pidfd signal
	 * of 0 fails once it has exited (and its pid could be reused). */
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		return -ESRCH;
	return 0;
}

void fs_creds_init(void)
{
	server_creds.uid = geteuid();
	server_creds.gid = getegid();
	int n = getgroups(FS_MAX_GROUPS, server_creds.groups);
	server_creds.ngroups = n > 0 ? (uint32_t)n : 0;
	fs_creds_switching = server_creds.uid == 0;
}
