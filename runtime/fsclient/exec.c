/* Redirected fds across exec and spawn. Before an exec the image writes a
 * snapshot (fd -> open description, close-on-exec bit, virtual cwd) into a
 * memfd the new image inherits; the new image finds it, the family's
 * description memfd and the fd template by scanning /proc/self/fd, adopts
 * the fds that survived (checked by inode: only our reserved fds qualify) and
 * drops the references of the close-on-exec ones. The environment of an exec
 * keeps LD_PRELOAD and SHUNT_* even when the caller passes its own. */
#include "internal.h"
#include "common/config.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SNAP_MAGIC 0x50414e5354584543ull

struct snap_entry {
	int32_t fd;
	int32_t ofd;
	uint32_t cloexec;
	uint32_t pad;
};
struct snap_hdr {
	uint64_t magic;
	uint64_t gen;
	uint32_t refs_held;   /* entries hold references (exec from this image) */
	uint32_t n;
	uint32_t vcwd_on;
	uint32_t pad;
	char vcwd[PATH_MAX];
	struct snap_entry e[];
};

/* Saved at init: what an exec must carry into the next image. */
static char saved_env[16384];
static size_t saved_len;
static char self_path[PATH_MAX];

extern char **environ;
const char *fsc_vcwd(void);
void fsc_vcwd_set(const char *rel);

void fsc_exec_save_env(const char *libpath);
void fsc_exec_save_env(const char *libpath)
{
	fsc_strlcpy(self_path, libpath, sizeof(self_path));
	saved_len = 0;
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "SHUNT_", 6) || !strncmp(*e, "SHUNT_INTERNAL_", 15))
			continue;
		size_t n = strlen(*e) + 1;
		if (saved_len + n > sizeof(saved_env))
			break;
		memcpy(saved_env + saved_len, *e, n);
		saved_len += n;
	}
}

static int make_snapshot(uint32_t refs_held, const struct fsc_fd_map *extra, int nextra)
{
	if (!fsc_enabled || !fsc_ofds)
		return -1;
	uint32_t n = (uint32_t)nextra;
	for (int fd = 0; fd < FSC_MAX_FD; fd++)
		if (load_relaxed(&fsc_fd_ofd[fd]))
			n++;
	if (!n && !fsc_cwd_is_virtual())
		return -1;
	long mfd = sys_memfd_create("shunt-exec", 0);
	if (mfd < 0)
		return -1;
	size_t len = sizeof(struct snap_hdr) + n * sizeof(struct snap_entry);
	if (sys_ftruncate_internal((int)mfd, (long)len) < 0) {
		sys_close((int)mfd);
		return -1;
	}
	struct snap_hdr *h = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, (int)mfd, 0);
	if (sys_mmap_failed(h)) {
		sys_close((int)mfd);
		return -1;
	}
	h->gen = fetch_add_acq_rel(&fsc_ofds->exec_gen, 1) + 1;
	h->refs_held = refs_held;
	h->vcwd_on = fsc_cwd_is_virtual();
	if (h->vcwd_on)
		fsc_strlcpy(h->vcwd, fsc_vcwd(), sizeof(h->vcwd));
	uint32_t i = 0;
	for (int fd = 0; fd < FSC_MAX_FD && i < n; fd++) {
		int32_t v = load_relaxed(&fsc_fd_ofd[fd]);
		if (!v)
			continue;
		h->e[i].fd = fd;
		h->e[i].ofd = v - 1;
		h->e[i].cloexec = fsc_fd_cloexec[fd];
		i++;
	}
	/* Spawn file actions that put a served file at a number: last, so they
	 * win over what the parent had there. */
	for (int k = 0; k < nextra && i < n; k++) {
		int o = fsc_fd_to_ofd(extra[k].src);
		if (o < 0)
			continue;
		h->e[i].fd = extra[k].target;
		h->e[i].ofd = o;
		h->e[i].cloexec = 0;
		i++;
	}
	h->n = i;
	store_release(&h->magic, SNAP_MAGIC);
	sys_munmap(h, len);
	return (int)mfd;
}

int fsc_exec_prepare(void)
{
	stats_exec_prepare();
	fsc_reopen_flush(true); /* the new image cannot know them */
	return make_snapshot(1, NULL, 0);
}
int fsc_spawn_prepare(const struct fsc_fd_map *extra, int nextra)
{
	return make_snapshot(0, extra, nextra);
}

void fsc_exec_abort(int token)
{
	stats_exec_abort();
	if (token >= 0)
		sys_close(token);
}

static bool env_has(char *const envp[], const char *entry)
{
	const char *eq = strchr(entry, '=');
	size_t klen = eq ? (size_t)(eq - entry) + 1 : strlen(entry);
	for (char *const *e = envp; e && *e; e++)
		if (!strncmp(*e, entry, klen))
			return true;
	return false;
}

/* Builds the environment in memory from mmap (async-signal-safe: exec is
 * often called in a forked child of a threaded program). */
char *const *fsc_exec_env(char *const envp[], char **bufp, size_t nbuf)
{
	(void)nbuf;
	*bufp = NULL;
	if (!self_path[0])
		return envp;
	size_t count = 0;
	for (char *const *e = envp; e && *e; e++)
		count++;
	size_t nsaved = 0;
	for (size_t off = 0; off < saved_len; off += strlen(saved_env + off) + 1)
		nsaved++;
	size_t strbytes = strlen(self_path) + PATH_MAX + 32;
	for (char *const *e = envp; e && *e; e++)
		if (!strncmp(*e, "LD_PRELOAD=", 11))
			strbytes += strlen(*e);
	size_t len = (count + nsaved + 3) * sizeof(char *) + strbytes;
	len = (len + 4095) & ~(size_t)4095;
	char **out = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_mmap_failed(out))
		return envp;
	char *strs = (char *)(out + count + nsaved + 3);
	size_t k = 0;
	bool have_preload = false;
	for (char *const *e = envp; e && *e; e++) {
		if (!strncmp(*e, "SHUNT_INTERNAL_STATS_FD=", 24))
			continue;
		if (!strncmp(*e, "LD_PRELOAD=", 11)) {
			have_preload = true;
			if (!strstr(*e, "libshunt")) {
				/* keep the caller's preloads, after ours */
				log_format(strs, strbytes, "LD_PRELOAD=%s:%s", self_path, *e + 11);
				out[k++] = strs;
				strs += strlen(strs) + 1;
				continue;
			}
		}
		out[k++] = *e;
	}
	if (!have_preload) {
		log_format(strs, strbytes, "LD_PRELOAD=%s", self_path);
		out[k++] = strs;
		strs += strlen(strs) + 1;
	}
	for (size_t off = 0; off < saved_len; off += strlen(saved_env + off) + 1)
		if (!env_has(envp, saved_env + off))
			out[k++] = saved_env + off;
	/* Where the counters continue after the exec (stats.c checks the pid). */
	log_format(strs, strbytes, "SHUNT_INTERNAL_STATS_FD=%d", stats_exec_fd());
	out[k++] = strs;
	strs += strlen(strs) + 1;
	out[k] = NULL;
	*bufp = (char *)out;
	return out;
}

/* ---- the new image's side ---- */

struct inherited {
	int ofd_fd, template_fd;
	int snaps[8];
	int nsnaps;
};

static void scan_fds(struct inherited *in)
{
	in->ofd_fd = in->template_fd = -1;
	in->nsnaps = 0;
	long dfd = sys_openat(AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0)
		return;
	char buf[4096];
	for (;;) {
		long n = sys_call(SYS_getdents64, dfd, buf, sizeof(buf), 0, 0, 0);
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(void *)(buf + off);
			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			int fd = 0;
			for (const char *c = d->d_name; *c; c++)
				fd = fd * 10 + (*c - '0');
			if (fd == dfd)
				continue;
			char link[128];
			long l = sys_call(SYS_readlinkat, dfd, d->d_name, link, sizeof(link) - 1, 0, 0);
			if (l <= 0)
				continue;
			link[l] = 0;
			if (!strncmp(link, "/memfd:shunt-ofd", 16))
				in->ofd_fd = fd;
			else if (!strncmp(link, "/memfd:shunt-reserved", 21)) {
				if (in->template_fd < 0 || fd >= 900)
					in->template_fd = fd;
			} else if (!strncmp(link, "/memfd:shunt-exec ", 18) && in->nsnaps < 8)
				in->snaps[in->nsnaps++] = fd;
		}
	}
	sys_close((int)dfd);
}

static void adopt(int snapfd)
{
	struct stat st;
	if (sys_call(SYS_fstat, snapfd, &st, 0, 0, 0, 0) < 0 || (size_t)st.st_size < sizeof(struct snap_hdr))
		return;
	struct snap_hdr *h = sys_mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, snapfd, 0);
	if (sys_mmap_failed(h))
		return;
	uint32_t n = h->n;
	if (h->magic != SNAP_MAGIC || sizeof(*h) + (size_t)n * sizeof(struct snap_entry) > (size_t)st.st_size)
		goto out;
	if (h->vcwd_on)
		fsc_vcwd_set(h->vcwd);
	uint64_t ino = fsc_ofds->reserved_ino;
	for (uint32_t i = 0; i < n; i++) {
		int fd = h->e[i].fd, o = h->e[i].ofd;
		if (fd < 0 || fd >= FSC_MAX_FD || o < 0 || o >= FSC_MAX_OFD)
			continue;
		if (h->e[i].cloexec) {
			if (h->refs_held)
				fsc_ofd_put(o); /* the kernel closed it at exec */
			continue;
		}
		/* Only a reserved fd of this family still at that number counts. */
		if (fsc_fd_ino(fd) != ino || !load_relaxed(&fsc_ofds->ofd[o].refs)) {
			if (h->refs_held)
				fsc_ofd_put(o);
			continue;
		}
		if (!h->refs_held)
			fetch_add_acq_rel(&fsc_ofds->ofd[o].refs, 1);
		int prev = fsc_fd_uninstall(fd);
		if (prev >= 0)
			fsc_ofd_put(prev); /* a later entry for the same number wins */
		fsc_fd_install(fd, o, 0);
	}
out:
	sys_munmap(h, (size_t)st.st_size);
}

int fsc_exec_inherit_scan(void);
int fsc_exec_inherit_scan(void)
{
	struct inherited in;
	scan_fds(&in);
	int r = fsc_ofd_area_init(in.ofd_fd, in.template_fd);
	if (r)
		return r;
	int best = -1;
	uint64_t best_gen = 0;
	for (int i = 0; i < in.nsnaps; i++) {
		struct snap_hdr h;
		if (sys_pread(in.snaps[i], &h, sizeof(h.magic) + sizeof(h.gen), 0) == (long)(sizeof(h.magic) + sizeof(h.gen)) &&
		    h.magic == SNAP_MAGIC && h.gen >= best_gen) {
			best = in.snaps[i];
			best_gen = h.gen;
		}
	}
	if (best >= 0)
		adopt(best);
	for (int i = 0; i < in.nsnaps; i++)
		sys_close(in.snaps[i]);
	return 0;
}
