/* Measures the candidate far-memory fault paths on this machine, from the
 * faulting thread's side (first touch of a page until the access returns):
 *   kernel      plain anonymous first touch (the kernel zero-fills)
 *   sigbus      userfaultfd with UFFD_FEATURE_SIGBUS, UFFDIO_COPY in the handler
 *   thread      a handler thread blocked in poll()+read() on the uffd
 *   spin        a handler thread spinning on a non-blocking read()
 *   spin-wp     as spin, then a write to a page installed write-protected
 *               (the extra write-protect fault that dirty tracking costs)
 * and whether a system call that writes into a missing page works (read()
 * into the page: sigbus mode fails it with EFAULT).
 *   build: gcc -O2 -D_GNU_SOURCE -o fault_path bench/far/fault_path.c -lpthread
 *   run:   ./fault_path [pages]      (prints p50/p99 in microseconds) */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PG 4096UL
static int uffd = -1;
static char *region;
static size_t npages = 4096;
static volatile int stop_handler;
static char zero_page[PG] __attribute__((aligned(4096)));
static int spin_mode, wp_mode;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *name, uint64_t *lat, size_t n)
{
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("%-8s p50 %7.2f us   p99 %7.2f us   (%zu faults)\n", name, lat[n / 2] / 1000.0, lat[n * 99 / 100] / 1000.0,
	       n);
}

static int open_uffd(uint64_t features)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		perror("userfaultfd");
		exit(1);
	}
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	if (ioctl(fd, UFFDIO_API, &api)) {
		perror("UFFDIO_API");
		exit(1);
	}
	return fd;
}

static void reg(char *p, size_t len, uint64_t mode)
{
	struct uffdio_register r = { .range = { (uint64_t)p, len }, .mode = mode };
	if (ioctl(uffd, UFFDIO_REGISTER, &r)) {
		perror("UFFDIO_REGISTER");
		exit(1);
	}
}

static void resolve(uint64_t addr, int wp)
{
	struct uffdio_copy c = { .dst = addr & ~(PG - 1), .src = (uint64_t)zero_page, .len = PG,
				 .mode = wp ? UFFDIO_COPY_MODE_WP : 0 };
	if (ioctl(uffd, UFFDIO_COPY, &c) && errno != EEXIST) {
		perror("UFFDIO_COPY");
		exit(1);
	}
}

static void *handler(void *arg)
{
	(void)arg;
	struct uffd_msg m;
	while (!stop_handler) {
		if (!spin_mode) {
			struct pollfd p = { uffd, POLLIN, 0 };
			if (poll(&p, 1, 50) <= 0)
				continue;
		}
		ssize_t r = read(uffd, &m, sizeof(m));
		if (r != sizeof(m))
			continue;
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		if (m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) {
			struct uffdio_writeprotect w = { .range = { m.arg.pagefault.address & ~(PG - 1), PG }, .mode = 0 };
			ioctl(uffd, UFFDIO_WRITEPROTECT, &w);
		} else {
			resolve(m.arg.pagefault.address, wp_mode);
		}
	}
	return NULL;
}

static void run_thread(const char *name, int spin, int wp)
{
	uint64_t *lat = calloc(npages, sizeof(uint64_t));
	region = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uffd = open_uffd(wp ? UFFD_FEATURE_PAGEFAULT_FLAG_WP : 0);
	reg(region, npages * PG, UFFDIO_REGISTER_MODE_MISSING | (wp ? UFFDIO_REGISTER_MODE_WP : 0));
	spin_mode = spin;
	wp_mode = wp;
	stop_handler = 0;
	pthread_t th;
	pthread_create(&th, NULL, handler, NULL);
	usleep(10000);
	for (size_t i = 0; i < npages; i++) {
		volatile char *p = region + i * PG;
		if (wp) {
			(void)*p; /* read fault installs the page write-protected */
			uint64_t t = now_ns();
			*p = 1; /* the write-protect fault */
			lat[i] = now_ns() - t;
		} else {
			uint64_t t = now_ns();
			*p = 1;
			lat[i] = now_ns() - t;
		}
	}
	/* A system call writing into a missing page. */
	int fd = open("/proc/self/stat", O_RDONLY);
	char *tail = region + (npages - 1) * PG;
	madvise(tail, PG, MADV_DONTNEED);
	ssize_t r = read(fd, tail, 64);
	close(fd);
	stop_handler = 1;
	pthread_join(th, NULL);
	report(name, lat, npages);
	printf("         read() into a missing page: %s\n", r > 0 ? "works" : strerror(errno));
	close(uffd);
	munmap(region, npages * PG);
	free(lat);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	resolve((uint64_t)si->si_addr, 0);
}

static void run_sigbus(void)
{
	uint64_t *lat = calloc(npages, sizeof(uint64_t));
	region = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uffd = open_uffd(UFFD_FEATURE_SIGBUS);
	reg(region, npages * PG, UFFDIO_REGISTER_MODE_MISSING);
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	sigaction(SIGBUS, &sa, NULL);
	for (size_t i = 0; i < npages; i++) {
		volatile char *p = region + i * PG;
		uint64_t t = now_ns();
		*p = 1;
		lat[i] = now_ns() - t;
	}
	int fd = open("/proc/self/stat", O_RDONLY);
	char *tail = region + (npages - 1) * PG;
	madvise(tail, PG, MADV_DONTNEED);
	ssize_t r = read(fd, tail, 64);
	int e = errno;
	close(fd);
	report("sigbus", lat, npages);
	printf("         read() into a missing page: %s\n", r > 0 ? "works" : strerror(e));
	signal(SIGBUS, SIG_DFL);
	close(uffd);
	munmap(region, npages * PG);
	free(lat);
}

static void run_kernel(void)
{
	uint64_t *lat = calloc(npages, sizeof(uint64_t));
	region = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t i = 0; i < npages; i++) {
		volatile char *p = region + i * PG;
		uint64_t t = now_ns();
		*p = 1;
		lat[i] = now_ns() - t;
	}
	report("kernel", lat, npages);
	munmap(region, npages * PG);
	free(lat);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		npages = strtoul(argv[1], NULL, 10);
	run_kernel();
	run_sigbus();
	run_thread("thread", 0, 0);
	run_thread("spin", 1, 0);
	run_thread("spin-wp", 1, 1);
	run_thread("thr-wp", 0, 1);
	return 0;
}
