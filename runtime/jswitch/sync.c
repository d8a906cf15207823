/* Cross-thread serialisation for patching: membarrier registration and the
 * two barriers the worker issues, and the rseq area glibc registered for
 * every thread. Raw system calls only; called with the worker lock held. */
#include "jsw.h"
#include "../common/sys.h"
#include "../common/log.h"

#include <cpuid.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <string.h>
#include <sys/rseq.h>

struct jsw_sync jsw_sync;

unsigned jsw_sync_fail_nth;

static long membarrier(int cmd)
{
	return sys_call(SYS_membarrier, cmd, 0, 0, 0, 0, 0);
}

/* A barrier, or the failure a test asked for (worker lock held). */
static long barrier_cmd(int cmd)
{
	if (jsw_sync_fail_nth && --jsw_sync_fail_nth == 0)
		return -ENOMEM;
	return membarrier(cmd);
}

int jsw_sync_force_emulated;

/* QEMU's software emulation (TCG) does not give cross-modifying code its
 * x86 guarantee. It drops the translations of a page a store hits before
 * the store lands, so another vCPU calling through the slot in that window
 * translates the old bytes again, and that translation outlives the store,
 * SYNC_CORE (an emulated serialising instruction flushes nothing) and the
 * rseq restart (the restarted thread runs the stale selector into a copy
 * being rewritten, from an instruction boundary of the old layout).
 * Measured: tests/helpers/jsw_stress faults within seconds in the
 * soft-RoCE guest (3 runs of 3), never on the host. TCG names itself in the
 * hypervisor CPUID leaf. Nothing is patched there. */
int jsw_sync_emulated(void)
{
	unsigned a, b, c, d;
	if (jsw_sync_force_emulated)
		return 1;
	__cpuid(1, a, b, c, d);
	if (!(c & (1u << 31))) /* no hypervisor */
		return 0;
	__cpuid(0x40000000, a, b, c, d);
	char sig[12];
	memcpy(sig, &b, 4);
	memcpy(sig + 4, &c, 4);
	memcpy(sig + 8, &d, 4);
	return !memcmp(sig, "TCGTCGTCGTCG", 12);
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
	long r = barrier_cmd(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE);
	return r < 0 ? (int)r : 0;
}

int jsw_sync_rseq(void)
{
	if (!jsw_sync.have_rseq)
		return -ENOSYS;
	long r = barrier_cmd(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ);
	return r < 0 ? (int)r : 0;
}
