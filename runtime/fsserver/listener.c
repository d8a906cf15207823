/* The control plane: the SOCK_SEQPACKET listener, HELLO, GETFD, WAKE,
 * session ends (EOF or the client's pidfd), signals and the housekeeping
 * tick, in one epoll set any poller may wait on. Never blocks on a client:
 * sockets are non-blocking and every message is read whole or not at all. */
#include "fsserver.h"
#include "channel/chan.h"
#include "common/atomics.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

enum { EV_LISTEN = 1, EV_SOCK, EV_PID, EV_SIG, EV_TIMER, EV_STOP };
#define EV_KEY(kind, s) (((uint64_t)(kind) << 56) | ((uint64_t)(s)->gen << 32) | (s)->slot)

static int listen_fd = -1, ctl_ep = -1, timer_fd = -1, stop_fd = -1;
static int sig_pipe[2] = { -1, -1 }; /* the handler writes the signal number here */

/* Any thread may take the signal (threads a library started before main
 * did not block it): the handler only queues it for the control plane. */
static void on_signal_handler(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (write(sig_pipe[1], &b, 1) < 0) {
		/* a full pipe already has a wake-up queued */
	}
	errno = saved;
}
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static uint64_t idle_exit_ns, idle_since;
uint64_t fs_stat_sessions_total;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int mkdir_p(const char *dir)
{
	char buf[sizeof(sock_path)];
	size_t n = strlen(dir);
	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != 0)
			continue;
		char c = buf[i];
		buf[i] = 0;
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = c;
	}
	struct stat st;
	if (stat(dir, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int fs_listener_init(const struct fs_server_opts *o)
{
	size_t n = strlen(o->socket);
	if (n == 0 || n >= sizeof(sock_path)) {
		log_error("shuntd: socket path '%s' is empty or longer than %d bytes", o->socket,
			  (int)sizeof(sock_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sock_path, o->socket, n + 1);
	char dir[sizeof(sock_path)];
	memcpy(dir, sock_path, n + 1);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		int r = mkdir_p(dir);
		if (r) {
			log_error("shuntd: cannot create socket directory %s: errno %d", dir, -r);
			return r;
		}
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, sock_path, n + 1);
	struct stat st;
	if (lstat(sock_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("shuntd: %s exists and is not a socket", sock_path);
			return -EEXIST;
		}
		/* Someone answering there? Then it is not stale. */
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			log_error("shuntd: another server already listens on %s", sock_path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(sock_path);
	}
	listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd < 0)
		return -errno;
	if (bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(listen_fd, 256) < 0) {
		int err = -errno;
		log_error("shuntd: cannot listen on %s: errno %d", sock_path, -err);
		close(listen_fd);
		listen_fd = -1;
		return err;
	}
	idle_exit_ns = o->idle_exit_ms * 1000000ull;
	return 0;
}

static int ep_add(int fd, uint64_t key, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.u64 = key };
	return epoll_ctl(ctl_ep, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int fs_control_init(void)
{
	ctl_ep = epoll_create1(EPOLL_CLOEXEC);
	if (ctl_ep < 0)
		return -errno;
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	struct sigaction sa = { .sa_handler = on_signal_handler, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (timer_fd < 0 || stop_fd < 0)
		return -errno;
	/* Housekeeping tick: family linger, idle exit, cache trim. */
	struct itimerspec it = { .it_interval = { 0, 250 * 1000 * 1000 }, .it_value = { 0, 250 * 1000 * 1000 } };
	timerfd_settime(timer_fd, 0, &it, NULL);
	int r;
	if ((r = ep_add(listen_fd, (uint64_t)EV_LISTEN << 56, EPOLLIN)) || (r = ep_add(sig_pipe[0], (uint64_t)EV_SIG << 56, EPOLLIN)) ||
	    (r = ep_add(timer_fd, (uint64_t)EV_TIMER << 56, EPOLLIN)) || (r = ep_add(stop_fd, (uint64_t)EV_STOP << 56, EPOLLIN)))
		return r;
	idle_since = now_ns();
	return 0;
}

void fs_request_stop(void)
{
	store_release(&fs_stopping, 1);
	uint64_t one = 1;
	/* Stays readable: every poller blocked in the epoll returns. */
	if (write(stop_fd, &one, sizeof(one)) < 0)
		log_warn("shuntd: stop eventfd: errno %d", errno);
}

void fs_listener_forget(struct fs_session *s)
{
	epoll_ctl(ctl_ep, EPOLL_CTL_DEL, s->sock, NULL);
	if (s->pidfd >= 0)
		epoll_ctl(ctl_ep, EPOLL_CTL_DEL, s->pidfd, NULL);
}

void fs_listener_shutdown(void)
{
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(sock_path);
		listen_fd = -1;
	}
}

static void new_conn(int fd)
{
	struct fs_session *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return;
	}
	s->sock = fd;
	s->pidfd = s->shmfd = -1;
	s->started_ns = now_ns();
	pthread_mutex_init(&s->sock_lock, NULL);
	if (fs_session_add(s)) {
		log_warn("shuntd: too many sessions; connection refused");
		pthread_mutex_destroy(&s->sock_lock);
		close(fd);
		free(s);
		return;
	}
	if (ep_add(fd, EV_KEY(EV_SOCK, s), EPOLLIN | EPOLLRDHUP)) {
		fs_session_end(s);
		return;
	}
}

static void send_msg(struct fs_session *s, const void *buf, size_t len, int fd)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	if (sendmsg(s->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_debug("shuntd: session %u: reply lost: errno %d", s->slot, errno);
}

static uint64_t random_token(void)
{
	uint64_t v = 0;
	while (!v)
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			v = 0;
	return v;
}

/* Validate HELLO and bring the session up; consumes memfd. 0 or -errno. */
static int hello(struct fs_session *s, const struct shunt_hello *h, int memfd)
{
	if (h->type != SHUNT_MSG_HELLO || h->reserved[0] || h->reserved[1])
		return -EINVAL;
	if (h->version != SHUNT_FS_VERSION)
		return -EPROTONOSUPPORT;
	uint32_t nchan = h->nchan;
	if (nchan < 1 || nchan > SHUNT_MAX_CHANNELS || h->shm_size != chan_shm_size(nchan))
		return -EINVAL;
	if (memfd < 0)
		return -EBADF;
	s->shmfd = memfd;
	/* Without these seals the client could shrink the file under our
	 * mapping and fault the server with SIGBUS. */
	int seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return -EPERM;
	struct stat st;
	if (fstat(memfd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != h->shm_size)
		return -EINVAL;
	void *shm = mmap(NULL, h->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (shm == MAP_FAILED)
		return -ENOMEM;
	s->shm = shm;
	s->shm_size = h->shm_size;
	s->nchan = nchan;
	s->s_hdr = shm;
	if (load_relaxed(&s->s_hdr->magic) != SHUNT_FS_MAGIC)
		return -EINVAL;

	struct ucred uc;
	socklen_t len = sizeof(uc);
	if (getsockopt(s->sock, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	s->pid = uc.pid;
	/* The peer's pidfd straight from the socket when the kernel has it
	 * (no pid-reuse window); else pidfd_open, checked again below. */
	len = sizeof(int);
	if (getsockopt(s->sock, SOL_SOCKET, SO_PEERPIDFD, &s->pidfd, &len) < 0) {
		long fd = syscall(SYS_pidfd_open, uc.pid, 0);
		if (fd < 0)
			return -ESRCH;
		s->pidfd = (int)fd;
	}
	fcntl(s->pidfd, F_SETFD, FD_CLOEXEC);
	int r = fs_creds_of_peer(s->sock, s->pidfd, s->pid, &s->creds);
	if (r)
		return r;
	if (!fs_creds_switching && s->creds.uid != geteuid())
		return -EPERM; /* an unprivileged server serves only its own uid */
	s->family = fs_family_join(h->family_id, h->family_token, s->creds.uid, &r);
	if (!s->family)
		return r;
	s->token = random_token();
	for (uint32_t c = 0; c < nchan; c++) {
		struct shunt_chan_ctl *ctl = chan_ctl(shm, c);
		s->ch[c].sq_head = load_relaxed(&ctl->sq_head);
		s->ch[c].cq_tail = load_relaxed(&ctl->cq_tail);
	}
	store_relaxed(&s->s_hdr->need_wakeup, 0); /* this thread is awake and will see the tail */
	if ((r = ep_add(s->pidfd, EV_KEY(EV_PID, s), EPOLLIN)))
		return r;
	return 0;
}

static void on_hello(struct fs_session *s, const struct shunt_hello *h, int memfd)
{
	struct shunt_hello_reply rep = { .magic = SHUNT_FS_MAGIC, .server_pid = (int32_t)getpid() };
	int r = h->magic != SHUNT_FS_MAGIC ? -EPROTO : hello(s, h, memfd);
	if (r && s->shmfd < 0 && memfd >= 0)
		close(memfd);
	rep.status = r;
	if (!r) {
		rep.session_token = s->token;
		rep.family_id = s->family->id;
		rep.family_token = s->family->token;
		/* Pollers serve it from now on; pairs with their load_acquire. */
		store_release(&s->ready, 1);
		fetch_add_relaxed(&fs_stat_sessions_total, 1);
		log_info("shuntd: session %u start: pid %d uid %u gid %u, %u channels, family %llx", s->slot, (int)s->pid,
			 (unsigned)s->creds.uid, (unsigned)s->creds.gid, s->nchan, (unsigned long long)s->family->id);
	} else {
		log_warn("shuntd: HELLO refused (pid %d): errno %d", (int)s->pid, -r);
	}
	send_msg(s, &rep, sizeof(rep), -1);
}

static void on_getfd(struct fs_session *s, const struct shunt_getfd *g)
{
	struct shunt_getfd_reply rep = { .magic = SHUNT_FS_MAGIC, .cache_id = g->cache_id };
	int fd = g->cache_id == SHUNT_GETFD_EPOCH ? fs_reopen_page_fd() : fs_family_cache_fd(s->family, g->cache_id);
	rep.status = fd < 0 ? fd : 0;
	send_msg(s, &rep, sizeof(rep), fd);
	if (fd >= 0)
		close(fd);
}

/* A kernel file description of an open file, for an mmap the cache cannot
 * serve. A new description (not a dup of ours): the client's fcntl on it
 * must not touch the flags of the fd shuntd writes through. */
static void on_getfile(struct fs_session *s, const struct shunt_getfile *g)
{
	struct shunt_getfd_reply rep = { .magic = SHUNT_FS_MAGIC, .cache_id = g->handle };
	int fd = -1;
	bool write = g->flags & SHUNT_GETFILE_WRITE;
	struct fs_handle *h = (g->flags & ~SHUNT_GETFILE_WRITE) ? NULL : fs_handle_get(s->family, g->handle);
	if (!h) {
		rep.status = -EBADF;
	} else {
		int acc = h->flags & O_ACCMODE;
		if ((h->flags & O_PATH) || acc == O_WRONLY || (write && acc != O_RDWR)) {
			rep.status = -EACCES; /* what mmap says for such an fd */
		} else if (!h->ino) {
			rep.status = -ENODEV; /* not a regular file */
		} else {
			if (write) {
				pthread_mutex_lock(&h->ino->lock);
				fs_inode_make_direct(h->ino);
				pthread_mutex_unlock(&h->ino->lock);
			}
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", h->fd);
			fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
			rep.status = fd < 0 ? -errno : 0;
		}
		fs_handle_put(h);
	}
	send_msg(s, &rep, sizeof(rep), fd);
	if (fd >= 0)
		close(fd);
}

/* Read every whole message waiting on the session's socket. Returns false
 * when the session must end. */
static bool sock_readable(struct fs_session *s)
{
	bool keep = true;
	pthread_mutex_lock(&s->sock_lock);
	/* Bounded: a client flooding WAKEs must not keep a poller here (the
	 * socket stays readable; the rest is read on the next round). */
	for (int budget = 64; budget > 0; budget--) {
		union {
			struct shunt_hello hello;
			struct shunt_getfd getfd;
			struct shunt_getfile getfile;
			uint32_t word[2];
			char raw[128];
		} m;
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
		ssize_t n = recvmsg(s->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				keep = false;
			break;
		}
		int fds[4], nfds = 0;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
				for (size_t k = 0; k < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int) && nfds < 4; k++)
					memcpy(&fds[nfds++], CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
		if (n == 0) {
			keep = false; /* EOF: the session is over */
			break;
		}
		bool ready = load_relaxed(&s->ready);
		if (n == sizeof(uint32_t) && m.word[0] == SHUNT_MSG_WAKE && ready) {
			/* Nothing to do: reading it woke us. */
		} else if (n == sizeof(struct shunt_getfd) && m.getfd.magic == SHUNT_FS_MAGIC &&
			   m.getfd.type == SHUNT_MSG_GETFD && ready) {
			on_getfd(s, &m.getfd);
		} else if (n == sizeof(struct shunt_getfile) && m.getfile.magic == SHUNT_FS_MAGIC &&
			   m.getfile.type == SHUNT_MSG_GETFILE && ready) {
			on_getfile(s, &m.getfile);
		} else if (n == sizeof(struct shunt_hello) && !ready && !s->shm && !(mh.msg_flags & MSG_TRUNC)) {
			int memfd = nfds == 1 ? fds[0] : -1;
			if (nfds == 1)
				nfds = 0; /* handed over */
			on_hello(s, &m.hello, memfd);
			if (!load_relaxed(&s->ready))
				keep = false;
		} else {
			log_warn("shuntd: session %u: bad control message (%d bytes)", s->slot, (int)n);
			keep = false;
		}
		for (int k = 0; k < nfds; k++)
			close(fds[k]);
		if (!keep)
			break;
	}
	pthread_mutex_unlock(&s->sock_lock);
	return keep;
}

static void end_session(struct fs_session *s, const char *why)
{
	if (load_relaxed(&s->ready))
		log_info("shuntd: session %u end (%s): pid %d, %llu ms", s->slot, why, (int)s->pid,
			 (unsigned long long)((now_ns() - s->started_ns) / 1000000));
	fs_session_end(s);
}

static void on_tick(void)
{
	uint64_t t;
	if (read(timer_fd, &t, sizeof(t)) < 0)
		return;
	uint64_t now = now_ns();
	fs_family_reap(now);
	fs_session_reap_silent(now, 5ull * 1000 * 1000 * 1000);
	fs_pc_trim();
	fs_inode_reap_unlinked();
	fs_fcache_prepare();
	if (load_relaxed(&fs_cache_bytes) > fs_cache_budget)
		fs_inode_trim();
	if (!idle_exit_ns)
		return;
	if (load_relaxed(&fs_nsessions_live)) {
		idle_since = now;
	} else if (now - idle_since >= idle_exit_ns) {
		log_info("shuntd: idle for %llu ms, exiting", (unsigned long long)(idle_exit_ns / 1000000));
		fs_request_stop();
	}
}

static void on_signal(void)
{
	unsigned char sig;
	while (read(sig_pipe[0], &sig, 1) == 1) {
		if (sig == SIGUSR1)
			fs_stats_print(2);
		else
			fs_request_stop();
	}
}

int fs_control_poll(struct fs_poller *self, int timeout_ms)
{
	(void)self;
	struct epoll_event ev[16];
	int n = epoll_wait(ctl_ep, ev, 16, timeout_ms);
	if (n > 0)
		fs_creds_restore(); /* the control plane acts as the server, not the last client */
	for (int i = 0; i < n; i++) {
		uint64_t key = ev[i].data.u64;
		unsigned kind = (unsigned)(key >> 56);
		uint32_t gen = (uint32_t)(key >> 32) & 0xffffff, slot = (uint32_t)key;
		struct fs_session *s;
		switch (kind) {
		case EV_LISTEN:
			for (int budget = 64; budget > 0; budget--) {
				int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0)
					break;
				new_conn(fd);
			}
			break;
		case EV_SOCK:
			if ((s = fs_session_get(slot, gen))) {
				if (!sock_readable(s))
					end_session(s, "socket closed");
				fs_session_put(s);
			}
			break;
		case EV_PID:
			if ((s = fs_session_get(slot, gen))) {
				end_session(s, "process exited");
				fs_session_put(s);
			}
			break;
		case EV_SIG:
			on_signal();
			break;
		case EV_TIMER:
			on_tick();
			break;
		case EV_STOP:
			break;
		}
	}
	return n < 0 ? 0 : n;
}
