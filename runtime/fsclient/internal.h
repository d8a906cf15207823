/* Private structures of the file client: the open file descriptions (shared
 * by a process tree through a memfd, like the kernel's struct file), the
 * session and its per-thread channels, and the mapped per-file caches. */
#ifndef SHUNT_FSCLIENT_INTERNAL_H
#define SHUNT_FSCLIENT_INTERNAL_H

#include "fsclient.h"
#include "channel/chan.h"
#include "common/atomics.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/sys.h"

#include <errno.h>
#include <limits.h>

/* ---- open file descriptions (ofd.c) ----
 * One per open() like the kernel's struct file, shared by dup'ed fds and by
 * the processes of a family (fork, exec) through a MAP_SHARED memfd.
 * refs == number of fd table entries, in all processes, that point here. */
#define FSC_MAX_OFD 4096
struct fsc_ofd {
	uint32_t refs;
	uint32_t handle;      /* server handle */
	uint64_t offset;      /* file position; CAS-updated */
	uint32_t flags;       /* O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECTORY ... */
	uint32_t mode;        /* st_mode from open */
	uint64_t cache_id;    /* 0: no shared cache */
	uint64_t id;          /* description id: lock owner for OFD locks and flock */
	int32_t posix_lock_pid; /* a process that took POSIX locks through it */
	uint32_t lock_used;   /* a lock was taken through it: its close must be synchronous */
	uint32_t keep_epoch;  /* != 0: its handle may be kept for a reopen (reopen.c) */
	uint32_t pad;
	char path[PATH_MAX];  /* relative to the export root */
};
struct fsc_ofd_area {
	uint64_t magic;
	uint64_t family_id;
	uint64_t family_token;
	uint64_t next_id;
	uint64_t exec_gen;    /* generation of exec snapshots */
	uint64_t reserved_ino; /* inode of the O_PATH reservation template */
	uint64_t pad[2];
	struct fsc_ofd ofd[FSC_MAX_OFD];
};
#define FSC_OFD_MAGIC 0x444652544e554853ull
extern struct fsc_ofd_area *fsc_ofds;
int fsc_ofd_area_init(int inherited_fd, int inherited_template);
uint64_t fsc_fd_ino(int fd);
int fsc_ofd_alloc(void);                 /* index with refs = 1, or -EMFILE */
void fsc_ofd_put(int idx);               /* drop one ref; closes on the server at 0 */
void fsc_ofd_put_sync(int idx);          /* the same, waiting for the server's close */
static inline struct fsc_ofd *fsc_ofd_get(int idx) { return &fsc_ofds->ofd[idx]; }
static inline int fsc_fd_to_ofd(int fd)
{
	if ((unsigned)fd >= FSC_MAX_FD)
		return -1;
	return __atomic_load_n(&fsc_fd_ofd[fd], __ATOMIC_ACQUIRE) - 1;
}
int fsc_reserve_fd(int cloexec, int minfd);  /* a kernel fd number (O_PATH), or -errno */
int fsc_reserved_template(void);
void fsc_fd_install(int fd, int ofd, int cloexec);
int fsc_fd_uninstall(int fd);            /* returns the ofd index or -1 */
extern int fsc_ofd_memfd;
/* Close a server handle (async unless wait). */
void fsc_close_handle(uint32_t handle, bool wait);

/* ---- reopen without a round trip (reopen.c) ---- */
struct fsc_kept {
	uint32_t handle, epoch, mode, flags;
	uint64_t cache_id;
};
extern bool fsc_reopen_on;
/* A kept handle for this open, taken out of the table; false: ask the server. */
bool fsc_reopen_take(const char *rel, int flags, struct fsc_kept *out);
/* The last close of a description: true when its handle was kept. */
bool fsc_reopen_keep(const struct fsc_kept *kh, const char *rel);
void fsc_reopen_flush(bool give_back);
void fsc_reopen_after_fork_child(void);

/* ---- session (session.c) ---- */
struct fsc_thread_chan {
	struct chan_client cc;
	uint32_t idx;
	uint32_t session_gen;
	char *data;
};
/* This thread's channel, connecting on first use; NULL with *err set. */
struct fsc_thread_chan *fsc_chan_get(int *err);
void fsc_chan_release(struct fsc_thread_chan *tc);
/* Run one command synchronously. */
int fsc_call(struct fsc_thread_chan *tc, struct shunt_sqe *sqe, struct shunt_cqe *cqe);
int fsc_call_async(struct fsc_thread_chan *tc, struct shunt_sqe *sqe);
/* GETFD for a cache id: a read-only memfd, or -errno. */
int fsc_session_getfd(uint64_t cache_id);
/* GETFILE: a kernel fd of an open file for mmap (read-write with write:
 * the file is served uncached from then on), or -errno. */
int fsc_session_getfile(uint32_t handle, bool write);
uint64_t fsc_session_token(void);
bool fsc_session_usable(void);
extern uint64_t fsc_spin_ns;
extern pid_t fsc_pid;

/* ---- per-file caches (fcache.c) ---- */
struct fsc_fcache {
	uint64_t cache_id;
	struct shunt_fcache_hdr *hdr;   /* mapped read-only; written by the server */
	size_t map_len;
	int memfd;
	uint32_t lru;
};
struct fsc_fcache *fsc_fcache_get(uint64_t cache_id, int *err);
struct fsc_fcache *fsc_fcache_find(uint64_t cache_id); /* mapped already, or NULL */
extern struct fsc_fcache *fsc_ofd_fc[FSC_MAX_OFD];
/* Copy [off, off+n) if every block is valid and unchanged; true on success. */
bool fsc_fcache_copy(struct fsc_fcache *fc, void *buf, uint64_t off, size_t n);
void fsc_fcache_populate(struct fsc_fcache *fc, uint64_t off, uint64_t len);
int fsc_fcache_remap(struct fsc_fcache *fc);
void fsc_fcache_stat(struct fsc_fcache *fc, struct shunt_stat *out);
void fsc_fcache_reset(void);

/* ---- helpers ---- */
void fsc_stat_from_wire(const struct shunt_stat *w, struct stat *st);
void fsc_statx_from_wire(const struct shunt_stat *w, struct statx *stx);
static inline void fsc_count_syscall(void) { STAT_INC(fs_syscalls); }
size_t fsc_strlcpy(char *dst, const char *src, size_t cap);

#endif
