/* The file channel's wire protocol between libshunt.so (client) and shuntd.
 *
 * Setup, on a SOCK_SEQPACKET UNIX socket: the client creates its session
 * memory (a memfd sealed against shrinking and growing), sends HELLO with the
 * memfd in SCM_RIGHTS; shuntd authenticates the peer once (SO_PEERCRED and a
 * pidfd), maps the memory and replies with a session token. The same socket
 * later carries GETFD (a read-only fd of a per-file cache memfd) and WAKE
 * (a byte that wakes sleeping pollers). The socket's end is the session's end.
 *
 * Session memory: a header page, then `nchan` channels of `chan_size` bytes.
 * Each channel is owned by one client thread at a time and holds a submission
 * ring, a completion ring and a data area for paths and payloads.
 *
 * Ordering contract (all indices are free-running u32, masked at use):
 *  client: write sqe[tail & mask]; store_release(sq_tail, tail+1);
 *          fence_seq_cst; if load(need_wakeup) send WAKE.
 *  server: t = load_acquire(sq_tail); copy sqe out, validate; sq_head++;
 *          write cqe[cq_tail & mask]; store_release(cq_tail, +1);
 *          fence_seq_cst; if load(client_sleeping) futex_wake(&cq_tail).
 *  server sleeping: store(need_wakeup, 1); fence_seq_cst; recheck every
 *          sq_tail; only then block (epoll on the sockets).
 *  client sleeping: store(client_sleeping, 1); fence_seq_cst; recheck
 *          cq_tail; futex_wait(&cq_tail, seen).
 * A client keeps at most SHUNT_RING_ENTRIES commands outstanding
 * (sq_tail - cq_head <= entries), so the completion ring cannot overflow for
 * a well-behaved client; the server drops completions that would.
 *
 * Per-file caches: for each open regular file shuntd keeps a memfd
 * (struct shunt_fcache_hdr, then a u32 state word per block, then the data)
 * sealed with F_SEAL_SHRINK|F_SEAL_FUTURE_WRITE, so only shuntd's own earlier
 * mapping can write it. Clients map it read-only and read cached blocks with
 * no round trip: a block's state word is (generation << 2) | state, state 0
 * empty, 1 busy, 2 valid; every change bumps the generation. A reader copies
 * when the word is valid before and unchanged after the copy (a seqlock).
 */
#ifndef SHUNT_FS_WIRE_H
#define SHUNT_FS_WIRE_H

#include <stdint.h>
#include <stddef.h>

#define SHUNT_FS_MAGIC        0x53484e54u /* "SHNT" */
#define SHUNT_FS_VERSION      1u
#define SHUNT_RING_ENTRIES    8u
#define SHUNT_MAX_CHANNELS    64u
#define SHUNT_CHAN_DATA_SIZE  (256u * 1024u)
#define SHUNT_CHAN_CTL_SIZE   4096u
#define SHUNT_CHAN_SIZE       (SHUNT_CHAN_CTL_SIZE + SHUNT_CHAN_DATA_SIZE)
#define SHUNT_SESS_HDR_SIZE   4096u
#define SHUNT_PATH_MAX        4096u

/* ---- socket messages ---------------------------------------------------- */

enum shunt_msg_type {
	SHUNT_MSG_HELLO = 1,
	SHUNT_MSG_GETFD = 2,
	SHUNT_MSG_WAKE = 3,
	SHUNT_MSG_GETFILE = 4,
};

/* HELLO: client -> server, with the session memfd. A family is a process
 * tree sharing open files. The client picks a random family id and token
 * when it creates its description table and passes them down (fork, exec);
 * the first HELLO with an unknown id creates the family, later ones with the
 * same id, token and uid join it and see its open handles. family_token == 0
 * asks the server to pick them. */
struct shunt_hello {
	uint32_t magic;
	uint32_t version;
	uint32_t type;        /* SHUNT_MSG_HELLO */
	uint32_t nchan;       /* 1..SHUNT_MAX_CHANNELS */
	uint64_t shm_size;    /* == SHUNT_SESS_HDR_SIZE + nchan * SHUNT_CHAN_SIZE */
	uint64_t family_id;
	uint64_t family_token;
	uint64_t reserved[2]; /* must be 0 */
};
_Static_assert(sizeof(struct shunt_hello) == 56, "hello layout");

struct shunt_hello_reply {
	uint32_t magic;
	int32_t status;       /* 0 or -errno */
	uint64_t session_token;
	uint64_t family_id;
	uint64_t family_token;
	int32_t server_pid;
	uint32_t reserved;
};
_Static_assert(sizeof(struct shunt_hello_reply) == 40, "hello reply layout");

/* GETFD: client -> server; the reply carries a read-only fd of the cache. */
struct shunt_getfd {
	uint32_t magic;
	uint32_t type;        /* SHUNT_MSG_GETFD */
	uint64_t cache_id;
};
struct shunt_getfd_reply {
	uint32_t magic;
	int32_t status;       /* 0 (fd attached) or -errno */
	uint64_t cache_id;
};
_Static_assert(sizeof(struct shunt_getfd) == 16 && sizeof(struct shunt_getfd_reply) == 16, "getfd layout");

/* GETFILE: client -> server, for mmap of an open file that the cache
 * cannot serve (a writable MAP_SHARED mapping, or a file with no cache):
 * the reply (a shunt_getfd_reply) carries a new kernel file description of
 * the file, read-only or, with SHUNT_GETFILE_WRITE on a handle opened
 * O_RDWR, read-write. Writes through such a mapping bypass shuntd, so the
 * file is served uncached from then on, for every client: its cache is
 * marked dead, and later opens get none. */
struct shunt_getfile {
	uint32_t magic;
	uint32_t type;        /* SHUNT_MSG_GETFILE */
	uint32_t handle;
	uint32_t flags;       /* SHUNT_GETFILE_* */
};
_Static_assert(sizeof(struct shunt_getfile) == 16, "getfile layout");
#define SHUNT_GETFILE_WRITE 0x1u

/* GETFD with this id: a read-only fd of the server's epoch page instead. */
#define SHUNT_GETFD_EPOCH UINT64_MAX

/* WAKE is a bare uint32_t SHUNT_MSG_WAKE; no reply. */

/* ---- the epoch page (reopen without a round trip) -----------------------
 * An open served from shuntd's path cache may come back keepable: aux1's
 * high 32 bits carry the namespace epoch it was checked at (0: not
 * keepable). A client may then keep the handle when the file is closed and
 * use it again for an open of the same path with the same flags, with no
 * command, while the page's epoch still equals that value. shuntd moves the
 * epoch (store_release) when a name or attribute on a watched path changes:
 * before completing its own unlink/rename/setattr, and within a thread's
 * wake-up of an inotify event for a change made outside shuntd. 0 in the
 * page: nothing kept is valid. The client maps the page read-only. */
#define SHUNT_EPOCH_MAGIC 0x48434f5045544e53ull
#define SHUNT_EPOCH_PAGE_SIZE 4096u
struct shunt_epoch_page {
	uint64_t magic;
	uint32_t epoch;
	uint32_t reserved;
};
_Static_assert(sizeof(struct shunt_epoch_page) == 16, "epoch page layout");

/* ---- session memory ----------------------------------------------------- */

struct shunt_sess_hdr {
	uint32_t magic;        /* client writes before HELLO */
	uint32_t version;
	uint32_t nchan;
	uint32_t chan_size;
	uint32_t pad0[12];
	/* line 1: written by the server only */
	uint32_t need_wakeup;  /* 1 while pollers sleep: client must send WAKE */
	uint32_t pad1[15];
};
_Static_assert(sizeof(struct shunt_sess_hdr) == 128, "session header layout");
_Static_assert(offsetof(struct shunt_sess_hdr, need_wakeup) == 64, "need_wakeup on its own line");

/* Commands. X(name) gives SHUNT_OP_<name>; the numbering is the ABI. */
#define SHUNT_FS_OPS(X) \
	X(nop) X(open) X(close) X(read) X(write) X(fsync) X(ftruncate) X(truncate) \
	X(stat) X(fstat) X(access) X(unlink) X(rename) X(mkdir) X(getdents) X(lock) \
	X(setattr) X(symlink) X(readlink) X(link) X(statfs) X(fallocate) X(seek)

enum shunt_fs_op {
#define SHUNT_OP_ENUM(n) SHUNT_OP_##n,
	SHUNT_FS_OPS(SHUNT_OP_ENUM)
#undef SHUNT_OP_ENUM
	SHUNT_OP_COUNT
};

/* Submission entry. Payloads (paths, write data, struct arguments) live in
 * the channel's data area at [data_off, data_off + data_len). Paths are
 * relative to the export root, NUL-terminated, without a leading '/'.
 *
 * op         handle  off      len    data              arg0            arg1   arg2
 * open       -       -        -      path              O_* flags       mode (umask applied)
 * close      h       -        -      -                 -               -      lock owner (pid) to release
 * read       h       offset   bytes  -                 SHUNT_READ_*    -      -
 * write      h       offset   -      bytes             SHUNT_WRITE_*   -      -
 * fsync      h       -        -      -                 1 = datasync    -      -
 * ftruncate  h       length   -      -                 -               -      -
 * truncate   -       length   -      path              -               -      -
 * stat       -       -        -      path              AT_* flags      -      -    reply: shunt_stat in data
 * fstat      h       -        -      -                 -               -      -    reply: shunt_stat in data
 * access     -       -        -      path              mode (R_OK...)  AT_* flags
 * unlink     -       -        -      path              AT_REMOVEDIR
 * rename     -       -        -      "old\0new\0"      RENAME_* flags
 * mkdir      -       -        -      path              -               mode (umask applied)
 * getdents   h(dir)  cookie   bytes  -                 -    reply: linux_dirent64 records, aux0 = next cookie
 * lock       h       -        -      shunt_flock       SHUNT_LOCK_*    F_SETLK/F_SETLKW/F_GETLK or LOCK_*  owner
 * setattr    h or 0  -        -      shunt_setattr (+ path if h == 0)  SHUNT_SETATTR_*  mode  AT_* flags
 * symlink    -       -        -      "target\0path\0"
 * readlink   -       -        bytes  path              reply: target in data, res = length
 * link       -       -        -      "old\0new\0"      AT_* flags
 * statfs     h or 0  -        -      path if h == 0    reply: shunt_statfs in data
 * fallocate  h       offset   -      -                 mode            -      length
 * seek       h       offset   -      -                 SEEK_DATA/SEEK_HOLE   reply: res = the offset found
 *
 * Replies that carry bytes are written at data_off, after the server copied
 * the request payload out (the client uses data_off = 0).
 *
 * Completion: res >= 0 or -errno. open: res = handle, aux0 = cache id (0 when
 * the file has no shared cache), aux1 = st_mode | keep epoch << 32 (see the
 * epoch page). read: with a cache, the
 * server only makes the range valid (res = 0, aux0 = file size); without, or
 * with SHUNT_READ_DIRECT, or past the largest cache, it copies into the data
 * area (res = bytes, aux1 = SHUNT_READ_REPLY_DIRECT; len is capped at
 * SHUNT_CHAN_DATA_SIZE). write:
 * res = bytes, aux0 = offset written at (the end of file for O_APPEND).
 */
struct shunt_sqe {
	uint8_t op;
	uint8_t flags;        /* SHUNT_SQE_* */
	uint16_t reserved0;   /* must be 0 */
	uint32_t handle;
	uint64_t token;       /* the session token from HELLO */
	uint64_t user_data;   /* echoed in the completion */
	uint64_t off;
	uint32_t len;
	uint32_t data_off;
	uint32_t data_len;
	uint32_t arg0;
	uint32_t arg1;
	uint32_t reserved1;   /* must be 0 */
	uint64_t arg2;
};
_Static_assert(sizeof(struct shunt_sqe) == 64, "sqe layout");
_Static_assert(offsetof(struct shunt_sqe, off) == 24 && offsetof(struct shunt_sqe, arg2) == 56, "sqe offsets");

#define SHUNT_SQE_ASYNC      0x01u /* the client does not wait for this completion */
#define SHUNT_SQE_FLAGS_MASK 0x01u

#define SHUNT_READ_DIRECT    0x01u /* copy into the data area even when cached */
#define SHUNT_READ_REPLY_DIRECT 0x01u /* in aux1 of a read completion */
#define SHUNT_WRITE_APPEND   0x01u

#define SHUNT_LOCK_POSIX 1u /* fcntl F_SETLK family; owner = client pid */
#define SHUNT_LOCK_OFD   2u /* F_OFD_SETLK family; owner = client's open file description id */
#define SHUNT_LOCK_FLOCK 3u /* flock(); owner = open file description id */

#define SHUNT_SETATTR_MODE  0x1u
#define SHUNT_SETATTR_OWNER 0x2u
#define SHUNT_SETATTR_TIMES 0x4u

struct shunt_cqe {
	uint64_t user_data;
	int64_t res;
	uint64_t aux0;
	uint64_t aux1;
};
_Static_assert(sizeof(struct shunt_cqe) == 32, "cqe layout");

/* One channel's control page; the data area follows it. */
struct shunt_chan_ctl {
	/* line 0: written by the client */
	uint32_t sq_tail;
	uint32_t cq_head;
	uint32_t client_sleeping; /* 1 while the owner sleeps on cq_tail */
	uint32_t pad0[13];
	/* line 1: written by the server */
	uint32_t sq_head;
	uint32_t cq_tail;         /* futex word for a sleeping client */
	uint32_t pad1[14];
	struct shunt_sqe sq[SHUNT_RING_ENTRIES];
	struct shunt_cqe cq[SHUNT_RING_ENTRIES];
};
_Static_assert(offsetof(struct shunt_chan_ctl, sq_head) == 64, "server line");
_Static_assert(sizeof(struct shunt_chan_ctl) <= SHUNT_CHAN_CTL_SIZE, "ctl fits its page");

/* Fixed-layout stat, independent of any libc's struct stat. */
struct shunt_stat {
	uint64_t dev, ino, nlink, size, blocks, rdev;
	uint32_t mode, uid, gid, blksize;
	int64_t atime_sec, mtime_sec, ctime_sec, btime_sec;
	uint32_t atime_nsec, mtime_nsec, ctime_nsec, btime_nsec;
	uint32_t mask;        /* STATX_* fields valid */
	uint32_t reserved;
	uint64_t reserved2;
};
_Static_assert(sizeof(struct shunt_stat) == 128, "stat layout");

struct shunt_flock {
	int16_t type, whence;
	int32_t pid;
	int64_t start, len;
};
_Static_assert(sizeof(struct shunt_flock) == 24, "flock layout");

struct shunt_setattr {
	uint32_t uid, gid;    /* (uint32_t)-1 leaves one unchanged */
	int64_t atime_sec, mtime_sec;
	int64_t atime_nsec, mtime_nsec; /* UTIME_NOW / UTIME_OMIT allowed */
	/* a path (NUL-terminated) follows when handle == 0 */
};
_Static_assert(sizeof(struct shunt_setattr) == 40, "setattr layout");

struct shunt_statfs {
	uint64_t type, bsize, blocks, bfree, bavail, files, ffree, namelen, frsize, flags;
	uint64_t fsid;
};

/* ---- per-file cache memfd ---------------------------------------------- */

#define SHUNT_FCACHE_MAGIC      0x4843414346544e53ull
#define SHUNT_FCACHE_BLOCK_SHIFT 16u  /* 64 KiB blocks */
#define SHUNT_FCACHE_STATES_OFF 4096u
#define SHUNT_BLOCK_EMPTY 0u
#define SHUNT_BLOCK_BUSY  1u
#define SHUNT_BLOCK_VALID 2u
#define SHUNT_BLOCK_STATE(w) ((w) & 3u)

struct shunt_fcache_hdr {
	uint64_t magic;
	uint64_t cache_id;
	uint32_t block_shift;
	uint32_t dead;        /* 1: abandoned by the server; never read from it */
	uint64_t max_blocks;  /* length of the state array */
	uint64_t data_off;    /* offset of block 0's data in the memfd (page aligned) */
	uint64_t capacity;    /* bytes of data the memfd holds now; the server grows it */
	uint64_t size;        /* file size; store_release by the server */
	uint32_t attr_seq;    /* seqlock over st: odd while the server updates it */
	uint32_t reserved;
	struct shunt_stat st;
};
_Static_assert(sizeof(struct shunt_fcache_hdr) <= SHUNT_FCACHE_STATES_OFF, "header fits its page");

#endif
