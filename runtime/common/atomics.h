/* The only place mechanism code gets atomics from: every operation names its
 * memory ordering. Used on memory shared with other processes too, so only
 * lock-free operations on naturally aligned 32/64-bit words appear here. */
#ifndef SHUNT_ATOMICS_H
#define SHUNT_ATOMICS_H

#define READ_ONCE(x)            __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)        __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define load_acquire(p)         __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define load_relaxed(p)         __atomic_load_n((p), __ATOMIC_RELAXED)
#define store_release(p, v)     __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define store_relaxed(p, v)     __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define fetch_add_relaxed(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define fetch_add_acq_rel(p, v) __atomic_fetch_add((p), (v), __ATOMIC_ACQ_REL)
#define fetch_sub_acq_rel(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_ACQ_REL)
#define fetch_or_acq_rel(p, v)  __atomic_fetch_or((p), (v), __ATOMIC_ACQ_REL)
#define fetch_and_acq_rel(p, v) __atomic_fetch_and((p), (v), __ATOMIC_ACQ_REL)
#define exchange_acq_rel(p, v)  __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
/* Strong CAS; on failure *expected is updated with the value seen. */
#define cas_acq_rel(p, expected, desired) \
	__atomic_compare_exchange_n((p), (expected), (desired), 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)
#ifdef __SANITIZE_THREAD__
/* TSan models no fences (gcc refuses them under -Werror=tsan): a locked RMW
 * is a full barrier on x86-64, and TSan sees an atomic it understands. */
static inline void fence_tsan(void)
{
	static unsigned long word;
	__atomic_fetch_add(&word, 0, __ATOMIC_SEQ_CST);
}
#define fence_seq_cst()         fence_tsan()
#define fence_acquire()         fence_tsan()
#define fence_release()         fence_tsan()
#else
#define fence_seq_cst()         __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define fence_acquire()         __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define fence_release()         __atomic_thread_fence(__ATOMIC_RELEASE)
#endif

static inline void cpu_relax(void) { __builtin_ia32_pause(); }

#endif
