/* shuntd's internal interface: the objects (server, poller, family, session,
 * handle, inode, cache, lock) and the prototypes, grouped by the file that
 * defines them. Not a public header: only runtime/fsserver/ and its unit tests
 * include it. Runtime convention: 0 or -errno, NULL for pointers. */
#ifndef SHUNT_FSSERVER_H
#define SHUNT_FSSERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "shunt/fs_wire.h"

#define FS_MAX_SESSIONS   1024u
#define FS_MAX_POLLERS    16u
#define FS_MAX_GROUPS     256u
#define FS_FAMILY_LINGER_NS (10ull * 1000 * 1000 * 1000)

/* ---- decode.c: the command decoder (pure: no I/O, no globals) ---------- */

/* Where each op's payload lives and what it must look like. */
enum fs_payload {
	FS_PAY_NONE,     /* data_off/data_len still bounds-checked if given */
	FS_PAY_PATH,     /* one NUL-terminated path */
	FS_PAY_PATH2,    /* "a\0b\0" */
	FS_PAY_BYTES,    /* opaque bytes (write) */
	FS_PAY_FLOCK,    /* struct shunt_flock */
	FS_PAY_SETATTR,  /* struct shunt_setattr, then a path when handle == 0 */
	FS_PAY_OPTPATH,  /* a path when handle == 0 (statfs) */
};

/* A decoded command: private memory, checked once; nothing in it points
 * back into shared memory except `bytes`, which the decoder has already
 * copied into the caller's buffer. */
struct fs_cmd {
	uint8_t op, flags;
	uint32_t handle;
	uint64_t user_data, off;
	uint32_t len, arg0, arg1;
	uint64_t arg2;
	uint32_t data_off;        /* where replies go, checked <= SHUNT_CHAN_DATA_SIZE */
	uint32_t reply_cap;       /* SHUNT_CHAN_DATA_SIZE - data_off */
	const char *path, *path2; /* into the caller's buffer; NULL when absent */
	const char *bytes;        /* write payload, copied */
	uint32_t nbytes;
	struct shunt_flock fl;
	struct shunt_setattr sa;
};

/* Caller-owned buffers the decoder copies shared payloads into. */
struct fs_decode_buf {
	char data[SHUNT_CHAN_DATA_SIZE + 1];
};

/* Decode sqe (already copied out of the ring) against the session token and
 * the channel's data area s_data (SHUNT_CHAN_DATA_SIZE bytes the client may
 * be rewriting). 0, or -EPROTO (token), -EINVAL (reserved, flags, op, bounds,
 * unterminated path), -ENAMETOOLONG, -EBADF (missing handle). */
int fs_decode(const struct shunt_sqe *sqe, uint64_t token, const char *s_data, struct fs_cmd *cmd,
	      struct fs_decode_buf *buf);
enum fs_payload fs_op_payload(unsigned op);

/* ---- resolve.c: paths beneath the export root --------------------------- */

/* openat2(root, path, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS); escapes give
 * -EACCES, a real symlink loop -ELOOP. "" means the root itself. */
int fs_resolve_open(int rootfd, const char *path, int flags, unsigned mode);
/* O_PATH fd of the parent directory of path and its last component (which
 * keeps any trailing slash). The root's own parent is never reachable. */
int fs_resolve_parent(int rootfd, const char *path, const char **leaf);
/* Map an openat2 errno on the path to what the client sees. */
int fs_resolve_errno(int rootfd, const char *path, int flags, int err);

/* ---- creds.c: per-thread file-system identity --------------------------- */

struct fs_creds {
	uid_t uid;
	gid_t gid;
	uint32_t ngroups;
	gid_t groups[FS_MAX_GROUPS];
};
/* Read SO_PEERCRED uid/gid and the supplementary groups of pid. */
int fs_creds_of_peer(int sock, int pidfd, pid_t pid, struct fs_creds *out);
/* Make the calling thread's fsuid/fsgid/groups those of c (root server
 * only; a no-op when they already are, or when not root). */
int fs_creds_apply(const struct fs_creds *c);
/* Back to the server's own identity. */
void fs_creds_restore(void);
extern bool fs_creds_switching; /* set when the server runs as root */
void fs_creds_init(void);       /* record the server's own identity */

/* ---- fcache.c: the per-file cache memfd --------------------------------- */

struct fs_fcache {
	int memfd;                 /* O_RDWR, sealed */
	int rofd;                  /* O_RDONLY description sent by GETFD */
	struct shunt_fcache_hdr *hdr;
	uint32_t *states;
	char *data;
	uint64_t map_size;         /* of the server's mapping (full max) */
	uint64_t max_blocks;
	uint64_t capacity;         /* private copy of hdr->capacity */
	uint64_t valid_blocks;     /* under the inode lock */
	uint64_t dirty_hwm;        /* data bytes at or above it were never written: still zero */
};
extern uint64_t fs_cache_max_file;   /* largest file cached */
extern uint64_t fs_cache_budget;     /* --cache-mem */
extern uint64_t fs_cache_bytes;      /* valid blocks over all caches (atomic) */
int fs_fcache_create(struct fs_fcache *fc, uint64_t cache_id, uint64_t size);
void fs_fcache_prepare(void); /* refill the pool of ready-made caches */
extern uint32_t fs_fcache_pool_max; /* ready-made caches kept (<= 128) */
int fs_fcache_pool_start(void); /* the helper thread that keeps it filled */
void fs_fcache_destroy(struct fs_fcache *fc);
/* The following run under the inode lock. */
int fs_fcache_load(struct fs_fcache *fc, int fd, uint64_t off, uint64_t len, uint64_t size);
void fs_fcache_write(struct fs_fcache *fc, const char *buf, uint64_t off, uint64_t len, uint64_t size);
void fs_fcache_invalidate(struct fs_fcache *fc, uint64_t from, uint64_t to);
int fs_fcache_set_size(struct fs_fcache *fc, uint64_t size);
void fs_fcache_set_stat(struct fs_fcache *fc, const struct shunt_stat *st);
bool fs_fcache_covers(const struct fs_fcache *fc, uint64_t end);

/* ---- inode.c: server-wide objects per (dev, ino) ------------------------ */

struct fs_inode {
	uint64_t dev, ino;
	pthread_mutex_t lock;       /* cache, size, st, locks, append */
	uint32_t refs;              /* handles + in-flight users; under inode_table lock */
	bool cached;
	bool direct;                /* mapped writable by a client: never cached, never fast */
	struct fs_fcache fc;
	uint64_t cache_id;
	struct shunt_stat st;       /* what the cache was filled against */
	int sfd[3];                 /* shared server fds by O_ACCMODE, for fast opens; -1 */
	uint64_t checked_epoch;     /* fs_data_epoch when st was last known right */
	uint32_t nlocks;            /* lock entries on it (atomic): close skips the scan at 0 */
	struct fs_inode *hnext;     /* hash chain */
	struct fs_inode *lru_prev, *lru_next; /* unreferenced inodes, LRU */
};
/* Find or create the inode for st (a regular file); refs it. Revalidates
 * the cache against st (changed outside shunt -> invalidated). */
struct fs_inode *fs_inode_get(const struct shunt_stat *st);
/* Ref the inode if the table has it; NULL otherwise. */
struct fs_inode *fs_inode_find(uint64_t dev, uint64_t ino);
void fs_inode_put(struct fs_inode *ino);
void fs_inode_ref(struct fs_inode *ino);
/* Compare st with what we hold (under ino->lock): invalidate when changed. */
void fs_inode_revalidate(struct fs_inode *ino, const struct shunt_stat *st);
/* Drop unreferenced inodes whose file was unlinked (called on the tick). */
void fs_inode_reap_unlinked(void);
/* Drop unreferenced caches above the memory budget, LRU first. */
void fs_inode_trim(void);
extern uint32_t fs_inode_lru_max;   /* unreferenced inodes kept */
/* A client maps it writable: drop its cache for good (under ino->lock). */
void fs_inode_make_direct(struct fs_inode *ino);
void fs_inode_refresh_stat(struct fs_inode *ino, const struct shunt_stat *st); /* under ino->lock */

/* ---- handle.c: open files of a family ----------------------------------- */

struct fs_handle {
	uint32_t id;
	uint32_t refs;              /* table + in-flight commands (atomic) */
	int fd;
	bool shared_fd;             /* fd belongs to the inode (fast open): not ours to close */
	int flags;                  /* the client's O_* flags */
	uint32_t st_mode;
	struct fs_inode *ino;       /* regular files */
	pthread_mutex_t pos_lock;   /* directory position for getdents */
	void *obj;                  /* a backend's own object (memfs node); fd is then -1 */
	void (*release)(struct fs_handle *h); /* called by the last put when set */
};
struct fs_family;
extern uint32_t fs_family_max_open; /* open handles per family (EMFILE beyond) */
extern uint32_t fs_lock_max_entries; /* lock owners' fds, all families (ENOLCK beyond) */
/* Install h (one ref kept by the table); returns the handle id or -errno. */
int fs_handle_install(struct fs_family *f, struct fs_handle *h);
/* Ref the handle id of family f; NULL if it is not one of f's. */
struct fs_handle *fs_handle_get(struct fs_family *f, uint32_t id);
void fs_handle_put(struct fs_handle *h);
/* Remove id from the table; returns it with the caller's ref, or NULL. */
struct fs_handle *fs_handle_remove(struct fs_family *f, uint32_t id);
struct fs_handle *fs_handle_new(int fd, int flags, uint32_t st_mode, struct fs_inode *ino);
/* A new O_RDONLY-description fd of cache cache_id if f has it open. */
int fs_family_cache_fd(struct fs_family *f, uint64_t cache_id);
/* Close every handle of f (the family is gone). */
void fs_family_close_all(struct fs_family *f);

/* ---- session.c: families, sessions and the table pollers scan ----------- */

struct fs_family {
	uint64_t id, token;
	uid_t uid;
	uint32_t nsessions;         /* under the registry lock */
	uint64_t linger_until;      /* ns; set when nsessions drops to 0 */
	pthread_mutex_t lock;       /* the handle table */
	struct fs_handle **handles;
	uint32_t nhandles;          /* slots in handles[] */
	uint32_t nopen;             /* non-NULL slots */
	uint32_t nshared;           /* of which on an inode's shared fd (own no fd) */
	uint32_t next_free;
	struct fs_family *next;
};

struct fs_chan_state {              /* private per channel */
	uint32_t sq_head, cq_tail;
	uint32_t busy;              /* a poller owns the channel (try-lock) */
};

struct fs_session {
	uint32_t slot, gen;         /* gen tells a reused slot from the old one */
	uint32_t refs;              /* table + control handlers; under the registry lock */
	uint32_t ready;             /* HELLO done: pollers serve it */
	uint64_t started_ns;
	int sock, pidfd, shmfd;
	pid_t pid;
	uint64_t token;
	struct fs_creds creds;
	struct fs_family *family;
	void *shm;
	uint64_t shm_size;
	uint32_t nchan;             /* private copy, validated at HELLO */
	struct shunt_sess_hdr *s_hdr;
	pthread_mutex_t sock_lock;
	uint32_t closing;
	struct fs_chan_state ch[SHUNT_MAX_CHANNELS];
};

extern struct fs_session *fs_sessions[FS_MAX_SESSIONS]; /* read by pollers */
extern uint32_t fs_nsessions_live;

int fs_session_add(struct fs_session *s);
/* Ref the session in slot if it is still generation gen. */
struct fs_session *fs_session_get(uint32_t slot, uint32_t gen);
void fs_session_put(struct fs_session *s); /* the last one closes fds, frees */
/* Once: unpublish, wait for pollers, release locks and the family, unmap,
 * drop the table's reference. */
void fs_session_end(struct fs_session *s);
/* End connections that did not complete HELLO within max_ns. */
void fs_session_reap_silent(uint64_t now, uint64_t max_ns);
struct fs_family *fs_family_join(uint64_t id, uint64_t token, uid_t uid, int *err);
void fs_family_release(struct fs_family *f);
/* Close handles of families that lingered too long; returns ns to the next
 * deadline (0: none). */
uint64_t fs_family_reap(uint64_t now);

/* ---- pathcache.c: the metadata fast path ------------------------------- */

struct fs_req;
struct fs_pc_stats {
	uint64_t hits, misses, uncacheable;
};
extern struct fs_pc_stats fs_pc_stats; /* relaxed atomic adds */
extern bool fs_pc_enabled;
extern uint64_t fs_data_epoch;
int fs_pc_init(void);
bool fs_pc_flags_ok(int flags);
/* Each returns -EAGAIN when the slow path must decide. */
int fs_pc_open(struct fs_req *r);
int fs_pc_stat(struct fs_req *r, struct shunt_stat *out);
int fs_pc_access(struct fs_req *r);
int fs_pc_stat_inode(struct fs_inode *ino, struct shunt_stat *out);
/* After a slow open succeeded: remember path (and keep a shared fd). */
void fs_pc_fill(const char *path, struct fs_inode *ino, int fd, int flags);
void fs_pc_trim(void);
/* Drain the path cache's events now (after shuntd's own namespace changes,
 * and from the reopen watcher), publishing a moved epoch; retire_kept moves
 * the published epoch even when no name changed. */
void fs_pc_sync(bool retire_kept);

/* ---- reopen without a round trip (reopen.c) ---- */
extern bool fs_reopen_enabled;
extern bool fs_reopen_watcher;           /* --no-reopen-watcher clears it */
int fs_reopen_init(void);
int fs_reopen_page_fd(void);                 /* read-only fd of the epoch page, or -errno */
void fs_reopen_publish(uint64_t pc_epoch);   /* under pc_lock */
uint32_t fs_reopen_epoch(uint64_t pc_epoch); /* what a keepable open reports; 0 when off */
void fs_reopen_retire(void);                 /* under pc_lock */
bool fs_reopen_watch(const char *full, bool dir);

/* ---- lock.c: advisory locks on dedicated server fds --------------------- */

/* 0, 1 (F_GETLK: *out filled), or -errno. */
int fs_lock_op(struct fs_handle *h, struct fs_family *f, const struct fs_cmd *c, pid_t session_pid,
	       struct shunt_flock *out);
/* Release POSIX locks of pid on ino (close with arg2, session end). */
void fs_lock_release_owner(struct fs_inode *ino, unsigned kind, uint64_t owner);
void fs_lock_release_handle(struct fs_inode *ino, uint32_t handle_id, struct fs_family *f);
void fs_lock_release_pid_all(pid_t pid);

/* ---- backend.c / passthrough.c: the operations table -------------------- */

struct fs_poller;
/* One command in flight: what a backend op gets. */
struct fs_req {
	struct fs_session *sess;
	struct fs_cmd *cmd;
	char *s_reply;              /* the channel's data area at cmd->data_off */
	struct shunt_cqe *cqe;      /* res and aux filled by the op */
	struct fs_poller *poller;
};
typedef int64_t (*fs_op_fn)(struct fs_req *r);
struct fs_backend_ops {
#define FS_BACKEND_FIELD(n) fs_op_fn n;
	SHUNT_FS_OPS(FS_BACKEND_FIELD)
#undef FS_BACKEND_FIELD
};
_Static_assert(sizeof(struct fs_backend_ops) == SHUNT_OP_COUNT * sizeof(fs_op_fn), "one backend op per wire op");

struct fs_backend {
	const char *name;
	struct fs_backend_ops ops;
	int (*init)(const char *root);
};
extern const struct fs_backend fs_passthrough;
extern const struct fs_backend fs_memfs;     /* memfs.c: --backend mem */
extern const struct fs_backend *fs_backend_cur;
extern int fs_rootfd;
/* The one place backend ops are called from. */
int64_t fs_dispatch(struct fs_req *r);
extern const char *const fs_op_names[SHUNT_OP_COUNT];

/* ---- pt_file.c, pt_path.c: the passthrough backend's ops ---------------- */

#define FS_PT_DECL(n) int64_t fs_pt_##n(struct fs_req *r);
SHUNT_FS_OPS(FS_PT_DECL)
#undef FS_PT_DECL
int fs_statx_fd(int fd, const char *path, int flags, struct shunt_stat *out);
int64_t fs_reply_stat(struct fs_req *r, const struct shunt_stat *st);
void fs_refresh_after_change(struct fs_inode *ino, int fd); /* under ino->lock */
void fs_cache_truncated(struct fs_inode *ino, int fd, uint64_t old_size, uint64_t len);

/* ---- stats.c: the server's counters ------------------------------------- */

struct fs_counters {
	uint64_t ops[SHUNT_OP_COUNT];
	uint64_t bad;               /* rejected by the decoder */
	uint64_t dropped_sessions;  /* impossible ring index */
	uint64_t cq_dropped;        /* completions a broken client left no room for */
	uint64_t sleeps, wakeups;
};
void fs_stats_print(int fd);
extern uint64_t fs_stat_sessions_total;

/* ---- poller.c ----------------------------------------------------------- */

struct fs_poller {
	unsigned idx;
	pthread_t thread;
	uint64_t epoch;             /* odd while sweeping the session table */
	struct fs_counters cnt;
	struct fs_decode_buf dbuf;
};
extern struct fs_poller *fs_pollers;
extern unsigned fs_npollers;
extern uint32_t fs_stopping;
int fs_pollers_start(unsigned n);
void fs_pollers_join(void);
void fs_session_published(uint32_t slot); /* pollers scan slots up to it */
void fs_poller_run(struct fs_poller *p); /* poller 0 runs in the main thread */
/* Wait until no poller is inside a sweep that began before this call. */
void fs_pollers_quiesce(struct fs_poller *self);

/* ---- listener.c: the socket, HELLO, GETFD, WAKE, control events --------- */

struct fs_server_opts {
	const char *root, *socket;
	unsigned pollers;
	uint64_t idle_exit_ms;
	bool daemon;
};
int fs_listener_init(const struct fs_server_opts *o); /* the socket: before any fork */
int fs_control_init(void);                           /* the epoll set: after it */
void fs_request_stop(void);
/* Handle pending control events; block up to timeout_ms (-1 forever).
 * Returns the number handled. Any poller may call it. */
int fs_control_poll(struct fs_poller *self, int timeout_ms);
void fs_listener_shutdown(void);
/* Take the session's fds out of the control epoll. */
void fs_listener_forget(struct fs_session *s);

#endif
