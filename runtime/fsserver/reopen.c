/* Reopen without a round trip: clients keep a closed read-only handle and
 * reuse it for the next open of the same path while the namespace epoch
 * (the path cache's pc_epoch, published here in a sealed read-only page)
 * has not moved. This file owns that page, a second inotify instance that
 * sees only namespace and attribute events on the path cache's watched
 * paths, and the thread that turns such an event into a published epoch
 * promptly. Never blocks a poller: the thread alone sleeps on the events. */
#include "fsserver.h"
#include "common/atomics.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static struct shunt_epoch_page *page; /* our writable mapping */
static int page_rofd = -1;            /* what GETFD hands out */
static int kw_ifd = -1;
static pthread_once_t thread_once = PTHREAD_ONCE_INIT;
static uint32_t retired;              /* under pc_lock: retirements on top of pc_epoch */
bool fs_reopen_enabled = true;
bool fs_reopen_watcher = true;

int fs_reopen_init(void)
{
	int fd = memfd_create("shuntd-epoch", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	int err = 0;
	void *p = MAP_FAILED;
	if (ftruncate(fd, SHUNT_EPOCH_PAGE_SIZE) < 0 ||
	    (p = mmap(NULL, SHUNT_EPOCH_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		err = -errno;
		goto fail;
	}
	page = p;
	page->magic = SHUNT_EPOCH_MAGIC;
	/* Only our mapping may write: clients get a read-only fd, and the
	 * seal refuses any new writable mapping even through /proc. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0) {
		err = -errno;
		goto fail;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	page_rofd = open(path, O_RDONLY | O_CLOEXEC);
	if (page_rofd < 0) {
		err = -errno;
		goto fail;
	}
	close(fd);
	kw_ifd = inotify_init1(IN_CLOEXEC); /* blocking: the watcher sleeps in read() */
	if (kw_ifd < 0) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	log_warn("shuntd: reopen without a round trip is off (%d)", err);
	if (page)
		munmap(page, SHUNT_EPOCH_PAGE_SIZE);
	page = NULL;
	if (page_rofd >= 0)
		close(page_rofd);
	page_rofd = -1;
	close(fd);
	fs_reopen_enabled = false;
	return err;
}

int fs_reopen_page_fd(void)
{
	if (!fs_reopen_enabled || page_rofd < 0)
		return -EOPNOTSUPP;
	int fd = fcntl(page_rofd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

/* Under pc_lock, every time pc_epoch moves. A client's kept handle carries
 * the epoch it was opened at; any other value here retires it. */
void fs_reopen_publish(uint64_t pc_epoch)
{
	if (!page || !__atomic_load_n(&fs_reopen_enabled, __ATOMIC_RELAXED))
		return;
	uint32_t e = (uint32_t)pc_epoch + retired;
	/* Pairs with the client's load_acquire before it reuses a handle. */
	store_release(&page->epoch, e ? e : 1);
}

/* Under pc_lock: a content change outside shuntd moves the page's epoch but
 * not pc_epoch (the path cache's names are still right). */
void fs_reopen_retire(void) { retired++; }

uint32_t fs_reopen_epoch(uint64_t pc_epoch)
{
	uint32_t e = (uint32_t)pc_epoch + retired;
	return __atomic_load_n(&fs_reopen_enabled, __ATOMIC_RELAXED) ? (e ? e : 1) : 0;
}

/* Events are only wake-ups: fs_pc_sync(true) drains the path cache's own
 * queue, which holds the same events (its inodes revalidate), and retires
 * every kept handle. A content change is one too: a reopen must see what
 * an outside writer wrote (close-to-open), and only shuntd's open checks.
 * Writes through shuntd wake it as well; a short pause after each batch
 * lets a stream of them coalesce into one event. */
static void *watcher(void *arg)
{
	(void)arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(kw_ifd, buf, sizeof(buf));
		if (n < 0 && errno != EINTR) {
			log_warn("shuntd: namespace watcher stopped (%d): reopen without a round trip is off", errno);
			__atomic_store_n(&fs_reopen_enabled, false, __ATOMIC_RELAXED);
			if (page) /* 0: no kept handle is valid any more */
				store_release(&page->epoch, 0);
			return NULL;
		}
		fs_pc_sync(true);
		struct timespec pause = { 0, 1000 * 1000 };
		nanosleep(&pause, NULL);
	}
	return NULL;
}

static void start_watcher(void)
{
	pthread_t t;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&t, NULL, watcher, NULL) == 0)
		pthread_detach(t);
	else
		fs_reopen_enabled = false;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Called by fs_pc_fill beside its own watch, before it looks at the path:
 * a change after this is an event here, one before shows in what it sees. */
bool fs_reopen_watch(const char *full, bool dir)
{
	if (!fs_reopen_enabled || !fs_reopen_watcher)
		return true;
	pthread_once(&thread_once, start_watcher);
	const uint32_t dir_mask = IN_ATTRIB | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
				  IN_ONLYDIR;
	const uint32_t file_mask = IN_ATTRIB | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW;
	return inotify_add_watch(kw_ifd, full, dir ? dir_mask : file_mask) >= 0;
}
