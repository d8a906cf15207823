/* Per-CPU hit and fallback counters. Slot chains increment them with a plain
 * `inc` into the block of the CPU named by rseq's cpu_id_start (block 0
 * without rseq), so threads on different CPUs never share a line; a thread
 * migrated mid-increment may lose one count, which only the statistics see.
 * Read (racily, relaxed) by the worker and the report. */
#include "jsw.h"
#include "../common/sys.h"
#include "../common/atomics.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

uint64_t *jsw_percpu_base;
/* CPUs that can ever run a thread (the kernel's "possible" mask): sums read
 * only their blocks, not all JSW_NCPU (a pass reads every counter of every
 * site, and the blocks of CPUs that do not exist would be faulted in). */
static unsigned ncpu_possible = JSW_NCPU;

/* Highest number in /sys/devices/system/cpu/possible ("0-1", "0,2-5") + 1;
 * JSW_NCPU if unreadable. Raw system calls: runs at start-up. */
static unsigned read_possible(void)
{
	char buf[256];
	long fd = sys_openat(AT_FDCWD, "/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return JSW_NCPU;
	long n = sys_read((int)fd, buf, sizeof(buf) - 1);
	sys_close((int)fd);
	if (n <= 0)
		return JSW_NCPU;
	unsigned last = 0, cur = 0;
	int digits = 0;
	for (long i = 0; i < n; i++) {
		if (buf[i] >= '0' && buf[i] <= '9') {
			cur = cur * 10 + (unsigned)(buf[i] - '0');
			digits = 1;
			if (cur >= JSW_NCPU)
				return JSW_NCPU;
		} else {
			if (digits)
				last = cur;
			cur = 0;
			digits = 0;
		}
	}
	if (digits)
		last = cur;
	return last + 1;
}

#define JSW_PERCPU_LEN ((size_t)JSW_NCPU << JSW_CPU_SHIFT)

int jsw_counters_init(void)
{
	if (jsw_percpu_base)
		return 0;
	ncpu_possible = read_possible();
	/* Anonymous and private: pages appear on first touch, and a forked
	 * child gets its own copy. */
	void *p = sys_mmap(NULL, JSW_PERCPU_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_mmap_failed(p))
		return -ENOMEM;
	store_release(&jsw_percpu_base, (uint64_t *)p);
	return 0;
}

uint64_t jsw_counter_sum(unsigned site, unsigned k)
{
	uint64_t *base = load_acquire(&jsw_percpu_base);
	if (!base)
		return 0;
	uint64_t s = 0;
	size_t per_cpu = ((size_t)1 << JSW_CPU_SHIFT) / 8;
	for (unsigned c = 0; c < ncpu_possible; c++)
		s += load_relaxed(&base[c * per_cpu + site * JSW_CTR_PER_SITE + k]);
	return s;
}

void jsw_counters_reset(void)
{
	uint64_t *base = jsw_percpu_base;
	if (!base)
		return;
	/* Give the pages back; reads see zeros, chains fault fresh ones in. */
	sys_call(SYS_madvise, base, JSW_PERCPU_LEN, MADV_DONTNEED, 0, 0, 0);
}
