/* Cross-thread serialisation for patching: membarrier registration and the
 * two barriers the worker issues, and the rseq area glibc registered for
 * every thread. Raw system calls only; called with the worker lock held. */
#include "jsw.h"
#include "../common/sys.h"
#include "../common/log.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <sys/rseq.h>

struct jsw_sync jsw_sync;

static long membarrier(int cmd)
{
	return sys_call(SYS_membarrier, cmd, 0, 0, 0, 0, 0);
}

int jsw_sync_register(void)
{
	/* Registration belongs to the address space: a forked child starts
	 * unregistered, so this runs again there. */
	long r = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE);
	jsw_sync.have_sync_core = r == 0;
	if (r) {
		log_warn("jump switches: membarrier SYNC_CORE unavailable (errno %d): sites stay cold", (int)-r);
		return (int)r;
	}
	/* glibc registers struct rseq for each thread it starts (20 bytes in the
	 * original ABI: cpu_id_start, cpu_id, rseq_cs, flags); __rseq_size is
	 * 0 when it did not (tunable glibc.pthread.rseq=0, old kernel). */
	jsw_sync.have_rseq = 0;
	if (__rseq_size >= 20 && __rseq_offset > -(1l << 30) && __rseq_offset < (1l << 30)) {
		r = membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ);
		if (r == 0) {
			jsw_sync.have_rseq = 1;
			jsw_sync.rseq_offset = (long)__rseq_offset;
		}
	}
	return 0;
}

int jsw_sync_cores(void)
{
	long r = membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE);
	return r < 0 ? (int)r : 0;
}

int jsw_sync_rseq(void)
{
	if (!jsw_sync.have_rseq)
		return -ENOSYS;
	long r = membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ);
	return r < 0 ? (int)r : 0;
}
