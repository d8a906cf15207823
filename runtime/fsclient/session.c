/* The client's session with shuntd: connecting (and starting an embedded
 * shuntd when none answers), HELLO with the session memory, the per-thread
 * channels, synchronous calls, GETFD, and what fork does to all of it.
 * Calls run inside interposed libc functions: no malloc, no stdio. */
#include "internal.h"
#include "common/config.h"
#include "shunt/jswitch.h"
#include "jswitch/jsw.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* libc's posix_spawn (not our interposer, which would redirect fds), through
 * a jump switch like every forward to libc. */
SHUNT_JSW_VAR_SITE_DEFINE(fsc_real_spawn, __typeof__(posix_spawn));

struct fsc_session {
	int sock;
	void *shm;
	uint64_t shm_len;
	uint64_t token;
	uint32_t gen;           /* bumped when the session is replaced */
	int dead;               /* the server went away */
	uint64_t chan_bits;     /* channels claimed by threads */
};

static struct fsc_session sess = { .sock = -1 };
static pthread_mutex_t sess_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t sock_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t chan_key;
static int chan_key_ok;
uint64_t fsc_spin_ns = 50000;
pid_t fsc_pid;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static __thread struct fsc_thread_chan tls_chan __attribute__((tls_model("initial-exec")));
static __thread int tls_chan_busy __attribute__((tls_model("initial-exec")));

uint64_t fsc_session_token(void) { return sess.token; }

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

const char *fsc_socket_path(void);
const char *fsc_socket_path(void)
{
	if (!sock_path[0]) {
		if (cfg.fs_socket.str[0])
			fsc_strlcpy(sock_path, cfg.fs_socket.str, sizeof(sock_path));
		else
			log_format(sock_path, sizeof(sock_path), "/tmp/shunt-%u/fs-%x.sock", (unsigned)getuid(),
				   (unsigned)(fnv1a(cfg.fs_root.str) & 0xffffffffu));
	}
	return sock_path;
}

static int try_connect(void)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	fd = sys_move_high(fd);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	fsc_strlcpy(sa.sun_path, fsc_socket_path(), sizeof(sa.sun_path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static void self_dir(char *out, size_t cap)
{
	Dl_info info;
	out[0] = 0;
	if (dladdr((void *)self_dir, &info) && info.dli_fname) {
		fsc_strlcpy(out, info.dli_fname, cap);
		char *slash = strrchr(out, '/');
		if (slash)
			*slash = 0;
		else
			fsc_strlcpy(out, ".", cap);
	}
}

/* Start an embedded shuntd for cfg.fs_root; serialised by a lock file so
 * that concurrent first users start one server. */
static int autostart(void)
{
	char dir[PATH_MAX], bin[PATH_MAX], lockp[PATH_MAX + 8], idle[32], pollers[32];
	/* Beside the library (the build tree), or in ../bin (installed). */
	self_dir(dir, sizeof(dir));
	log_format(bin, sizeof(bin), "%s/shuntd", dir);
	if (sys_call(SYS_access, bin, X_OK, 0, 0, 0, 0) < 0)
		log_format(bin, sizeof(bin), "%s/../bin/shuntd", dir);
	/* The socket's directory must exist for the lock file. */
	fsc_strlcpy(dir, fsc_socket_path(), sizeof(dir));
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdir(dir, 0700);
	}
	log_format(lockp, sizeof(lockp), "%s.lock", fsc_socket_path());
	int lfd = (int)sys_openat(AT_FDCWD, lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd >= 0)
		sys_call(SYS_flock, lfd, LOCK_EX, 0, 0, 0, 0);
	int fd = try_connect();
	if (fd >= 0)
		goto out;
	log_format(idle, sizeof(idle), "%llu", (unsigned long long)cfg.fs_idle_ms.num);
	log_format(pollers, sizeof(pollers), "%llu", (unsigned long long)(cfg.fs_pollers.num ? cfg.fs_pollers.num : 1));
	char *argv[] = { bin, "--root", cfg.fs_root.str, "--socket", (char *)fsc_socket_path(), "--idle-exit-ms", idle,
			 "--pollers", pollers, "--daemon", NULL };
	char logenv[300];
	log_format(logenv, sizeof(logenv), "SHUNT_LOG=%s", cfg.log.str);
	char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", logenv, NULL };
	if (!SHUNT_JSW_VAR(fsc_real_spawn))
		SHUNT_JSW_VAR(fsc_real_spawn) = (__typeof__(&posix_spawn))dlsym(RTLD_NEXT, "posix_spawn");
	pid_t pid;
	log_info("starting embedded shuntd: %s --root %s --socket %s", bin, cfg.fs_root.str, fsc_socket_path());
	/* The daemon outlives this program: it must not write into its
	 * terminal or pipes. Its messages go to a log beside the socket. */
	char logp[PATH_MAX + 8];
	log_format(logp, sizeof(logp), "%s.log", fsc_socket_path());
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	int r = SHUNT_JSW_VAR(fsc_real_spawn) ? SHUNT_JSW_VAR_CALL(fsc_real_spawn)(&pid, bin, &fa, NULL, argv, envp) : ENOSYS;
	posix_spawn_file_actions_destroy(&fa);
	if (r) {
		log_error("cannot start %s: errno %d", bin, r);
		fd = -r;
		goto out;
	}
	int status;
	waitpid(pid, &status, 0); /* --daemon: returns once it listens */
	for (int i = 0; i < 500; i++) {
		fd = try_connect();
		if (fd >= 0)
			break;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
out:
	if (lfd >= 0)
		sys_close(lfd);
	return fd;
}

static int send_hello(int sock, int memfd, uint32_t nchan, uint64_t shm_len, struct shunt_hello_reply *rep)
{
	struct shunt_hello h = { .magic = SHUNT_FS_MAGIC, .version = SHUNT_FS_VERSION, .type = SHUNT_MSG_HELLO,
				 .nchan = nchan, .shm_size = shm_len, .family_id = fsc_ofds->family_id,
				 .family_token = fsc_ofds->family_token };
	struct iovec iov = { &h, sizeof(h) };
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof(cbuf));
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &memfd, sizeof(int));
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(h))
		return -EIO;
	ssize_t n = recv(sock, rep, sizeof(*rep), 0);
	if (n != (ssize_t)sizeof(*rep) || rep->magic != SHUNT_FS_MAGIC)
		return -EPROTO;
	return rep->status;
}

static int session_connect(void)
{
	int sock = try_connect();
	if (sock < 0 && cfg.fs_root.str[0])
		sock = autostart();
	if (sock < 0) {
		log_warn("no shuntd answers on %s (errno %d)%s", fsc_socket_path(), -sock,
			 cfg.fs_root.str[0] ? "" : "; set SHUNT_FS_ROOT to start one");
		return -ENOTCONN;
	}
	uint32_t nchan = SHUNT_MAX_CHANNELS;
	uint64_t len = chan_shm_size(nchan);
	long memfd = sys_memfd_create("shunt-session", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || sys_ftruncate_internal((int)memfd, (long)len) < 0 ||
	    sys_fcntl((int)memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		if (memfd >= 0)
			sys_close((int)memfd);
		close(sock);
		return -ENOMEM;
	}
	void *shm = sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, (int)memfd, 0);
	if (sys_mmap_failed(shm)) {
		sys_close((int)memfd);
		close(sock);
		return -ENOMEM;
	}
	struct shunt_sess_hdr *h = shm;
	h->magic = SHUNT_FS_MAGIC;
	h->version = SHUNT_FS_VERSION;
	h->nchan = nchan;
	h->chan_size = SHUNT_CHAN_SIZE;
	struct shunt_hello_reply rep;
	int r = send_hello(sock, (int)memfd, nchan, len, &rep);
	sys_close((int)memfd);
	if (r) {
		log_error("shuntd on %s refused the session: errno %d", fsc_socket_path(), -r);
		sys_munmap(shm, len);
		close(sock);
		return r < 0 ? r : -EPROTO;
	}
	if (!fsc_ofds->family_token) {
		fsc_ofds->family_id = rep.family_id;
		fsc_ofds->family_token = rep.family_token;
	}
	sess.sock = sock;
	sess.shm = shm;
	sess.shm_len = len;
	sess.token = rep.session_token;
	sess.dead = 0;
	sess.chan_bits = 0;
	store_release(&sess.gen, sess.gen + 1);
	log_debug("session with shuntd %d on %s", rep.server_pid, fsc_socket_path());
	return 0;
}

static void wake_server(void *arg)
{
	(void)arg;
	uint32_t m = SHUNT_MSG_WAKE;
	STAT_INC(fs_server_wakeups);
	sys_call(SYS_sendto, sess.sock, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0);
}

static bool server_alive(void *arg)
{
	(void)arg;
	struct pollfd p = { .fd = sess.sock, .events = POLLIN };
	if (sys_call(SYS_poll, &p, 1, 0, 0, 0, 0) > 0 && (p.revents & (POLLHUP | POLLERR))) {
		if (!sess.dead)
			log_error("shuntd on %s went away: redirected calls fail with EIO", fsc_socket_path());
		sess.dead = 1;
		return false;
	}
	return !sess.dead;
}

static void chan_key_dtor(void *p)
{
	struct fsc_thread_chan *tc = p;
	if (tc && tc->session_gen == load_acquire(&sess.gen))
		fetch_and_acq_rel(&sess.chan_bits, ~(1ull << tc->idx));
	tc->session_gen = 0;
}

/* Channels: the first FSC_DEDICATED are owned by one thread each, with no
 * lock; the rest are shared, under a lock, by threads beyond that many (a
 * program with 150 threads still works, its extra threads a little slower). */
#define FSC_SHARED 8u
#define FSC_DEDICATED (SHUNT_MAX_CHANNELS - FSC_SHARED)
#define TC_NESTED 0x80000000u
#define TC_SHARED 0x40000000u
#define DEDICATED_MASK ((1ull << FSC_DEDICATED) - 1)
static struct fsc_thread_chan shared_tc[FSC_SHARED];
static pthread_mutex_t shared_lock[FSC_SHARED];
static uint32_t shared_gen[FSC_SHARED];

static int claim_channel(struct fsc_thread_chan *tc)
{
	for (;;) {
		uint64_t bits = load_acquire(&sess.chan_bits);
		uint64_t free_bits = ~bits & DEDICATED_MASK;
		if (!free_bits)
			return -EAGAIN;
		uint32_t idx = (uint32_t)__builtin_ctzll(free_bits);
		if (cas_acq_rel(&sess.chan_bits, &bits, bits | (1ull << idx))) {
			chan_client_init(&tc->cc, sess.shm, idx);
			tc->idx = idx;
			tc->data = chan_data(sess.shm, idx);
			tc->session_gen = sess.gen;
			return 0;
		}
	}
}

static struct fsc_thread_chan *shared_channel(uint32_t gen, bool nested, int *err)
{
	uint32_t i = (uint32_t)sys_gettid() % FSC_SHARED;
	if (nested) {
		if (pthread_mutex_trylock(&shared_lock[i])) {
			*err = -EAGAIN;
			return NULL;
		}
	} else {
		pthread_mutex_lock(&shared_lock[i]);
	}
	struct fsc_thread_chan *tc = &shared_tc[i];
	if (shared_gen[i] != gen) {
		/* Whoever used it last left the ring consistent: continue it. */
		chan_client_init(&tc->cc, sess.shm, FSC_DEDICATED + i);
		tc->idx = FSC_DEDICATED + i;
		tc->data = chan_data(sess.shm, FSC_DEDICATED + i);
		shared_gen[i] = gen;
	}
	tc->session_gen = gen | TC_SHARED;
	return tc;
}

struct fsc_thread_chan *fsc_chan_get(int *err)
{
	uint32_t gen = load_acquire(&sess.gen);
	if (__builtin_expect(gen == 0 || sess.dead, 0)) {
		pthread_mutex_lock(&sess_lock);
		int r = 0;
		if (sess.gen == 0 || sess.dead) {
			if (sess.dead && sess.sock >= 0) {
				close(sess.sock);
				sess.sock = -1;
			}
			r = session_connect();
		}
		pthread_mutex_unlock(&sess_lock);
		if (r) {
			*err = cfg.fs_fallback.num == 0 && r == -ENOTCONN ? -ENOTCONN : r;
			return NULL;
		}
		gen = sess.gen;
	}
	struct fsc_thread_chan *tc = &tls_chan;
	if (__builtin_expect(tls_chan_busy, 0)) {
		/* Re-entered from a signal handler mid-call: use a spare channel. */
		static __thread struct fsc_thread_chan nested __attribute__((tls_model("initial-exec")));
		if (claim_channel(&nested))
			return shared_channel(gen, true, err);
		nested.session_gen |= TC_NESTED;
		return &nested;
	}
	if (tc->session_gen != gen) {
		if (claim_channel(tc))
			return shared_channel(gen, false, err);
		if (!chan_key_ok) {
			pthread_mutex_lock(&sess_lock);
			if (!chan_key_ok && pthread_key_create(&chan_key, chan_key_dtor) == 0)
				chan_key_ok = 1;
			pthread_mutex_unlock(&sess_lock);
		}
		if (chan_key_ok)
			pthread_setspecific(chan_key, tc);
	}
	tls_chan_busy = 1;
	return tc;
}

void fsc_chan_release(struct fsc_thread_chan *tc)
{
	if (tc->session_gen & TC_SHARED) {
		pthread_mutex_unlock(&shared_lock[tc->idx - FSC_DEDICATED]);
		return;
	}
	if (tc->session_gen & TC_NESTED) {
		fetch_and_acq_rel(&sess.chan_bits, ~(1ull << tc->idx));
		tc->session_gen = 0;
		return;
	}
	tls_chan_busy = 0;
}

/* fs_fallback=native: with no server to be had, redirected paths go to the
 * kernel. Asked once per second at most, so a missing server costs one
 * connect attempt a second, not one per call. */
bool fsc_session_usable(void)
{
	static uint64_t retry_after;
	if (load_acquire(&sess.gen) && !sess.dead)
		return true;
	uint64_t now = chan_now_ns();
	if (now < load_relaxed(&retry_after))
		return false;
	int err;
	struct fsc_thread_chan *tc = fsc_chan_get(&err);
	if (tc) {
		fsc_chan_release(tc);
		return true;
	}
	store_relaxed(&retry_after, now + 1000000000ull);
	return false;
}

int fsc_call(struct fsc_thread_chan *tc, struct shunt_sqe *sqe, struct shunt_cqe *cqe)
{
	if (sess.dead)
		return -EIO;
	sqe->token = sess.token;
	jsw_wanted(256); /* shunt is in use: after a few hundred commands its jump switches learn */
	int r = chan_client_submit(&tc->cc, sqe, wake_server, server_alive, NULL, fsc_spin_ns);
	if (!r)
		r = chan_client_wait(&tc->cc, sqe->user_data, cqe, server_alive, NULL, fsc_spin_ns);
	STAT_INC(fs_ops);
	stat_add(SHUNT_STAT_FS_OP_BASE + sqe->op, 1);
	return r;
}

int fsc_call_async(struct fsc_thread_chan *tc, struct shunt_sqe *sqe)
{
	if (sess.dead)
		return -EIO;
	sqe->token = sess.token;
	STAT_INC(fs_ops);
	stat_add(SHUNT_STAT_FS_OP_BASE + sqe->op, 1);
	return chan_client_submit(&tc->cc, sqe, wake_server, server_alive, NULL, fsc_spin_ns);
}

/* One control request whose reply (a shunt_getfd_reply) may carry an fd. */
static int request_fd(const void *msg, size_t len)
{
	if (sess.sock < 0 || sess.dead)
		return -EIO;
	pthread_mutex_lock(&sock_lock);
	int fd = -EIO;
	fsc_count_syscall();
	if (send(sess.sock, msg, len, MSG_NOSIGNAL) == (ssize_t)len) {
		struct shunt_getfd_reply rep;
		struct iovec iov = { &rep, sizeof(rep) };
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		fsc_count_syscall();
		ssize_t n = recvmsg(sess.sock, &mh, MSG_CMSG_CLOEXEC);
		struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
		if (n == (ssize_t)sizeof(rep) && rep.status == 0 && cm && cm->cmsg_type == SCM_RIGHTS) {
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
			fd = sys_move_high(fd);
		}
		else if (n == (ssize_t)sizeof(rep) && rep.status < 0)
			fd = rep.status;
	}
	pthread_mutex_unlock(&sock_lock);
	return fd;
}

int fsc_session_getfd(uint64_t cache_id)
{
	struct shunt_getfd g = { .magic = SHUNT_FS_MAGIC, .type = SHUNT_MSG_GETFD, .cache_id = cache_id };
	return request_fd(&g, sizeof(g));
}

int fsc_session_getfile(uint32_t handle, bool write)
{
	struct shunt_getfile g = { .magic = SHUNT_FS_MAGIC, .type = SHUNT_MSG_GETFILE, .handle = handle,
				   .flags = write ? SHUNT_GETFILE_WRITE : 0 };
	return request_fd(&g, sizeof(g));
}

/* fork: the child must not share the parent's channels (the memory is
 * MAP_SHARED); it starts its own session, in the same family, on first use. */
void fsc_atfork_prepare(void) { pthread_mutex_lock(&sess_lock); }
void fsc_atfork_parent(void) { pthread_mutex_unlock(&sess_lock); }

void fsc_session_after_fork_child(void);
void fsc_session_after_fork_child(void)
{
	pthread_mutex_init(&sess_lock, NULL);
	pthread_mutex_init(&sock_lock, NULL);
	for (unsigned i = 0; i < FSC_SHARED; i++) {
		pthread_mutex_init(&shared_lock[i], NULL);
		shared_gen[i] = 0;
	}
	fsc_pid = (pid_t)sys_getpid();
	if (!fsc_enabled)
		return;
	if (sess.sock >= 0)
		close(sess.sock);
	if (sess.shm)
		sys_munmap(sess.shm, sess.shm_len);
	uint32_t g = sess.gen;
	memset(&sess, 0, sizeof(sess));
	sess.sock = -1;
	/* gen 0 means "connect on first use"; keep it distinct from the old
	 * generations so stale per-thread channels are never reused. */
	(void)g;
	tls_chan.session_gen = 0;
	tls_chan_busy = 0;
}
