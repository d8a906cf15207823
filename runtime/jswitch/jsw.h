/* Jump switches inside the runtime: prototypes grouped by the file that
 * defines them. The call-site API is include/shunt/jswitch.h; how patching
 * stays safe is in README.md next to this file. Return convention: 0 or
 * -errno. */
#ifndef SHUNT_JSW_H
#define SHUNT_JSW_H

#include <stdint.h>
#include <stddef.h>
#include "shunt/jswitch.h"

/* cfg.jsw is ENUM "on|off|learn": its index. */
enum jsw_mode { JSW_ON = 0, JSW_OFF = 1, JSW_LEARN = 2 };

/* What a site's slot leads to (also in shunt_jsw_site.mode for readers). */
enum jsw_site_mode {
	JSW_SITE_COLD = 0,  /* cold entry: retpoline, nothing counted */
	JSW_SITE_PROFILE,   /* chain of current targets; misses are recorded */
	JSW_SITE_STEADY,    /* chain; misses counted only */
	JSW_SITE_FALLBACK,  /* megamorphic or flapping: retpoline, counted */
	JSW_SITE_LEARN,     /* SHUNT_JSW=learn: every call recorded */
};

/* Sites, as the linker collected them. */
extern struct shunt_jsw_site __start_shunt_jsw_sites[] __attribute__((weak, visibility("hidden")));
extern struct shunt_jsw_site __stop_shunt_jsw_sites[] __attribute__((weak, visibility("hidden")));
extern unsigned char __start_shunt_jsw_slots[] __attribute__((weak, visibility("hidden")));
extern unsigned char __stop_shunt_jsw_slots[] __attribute__((weak, visibility("hidden")));
static inline unsigned jsw_nsites(void)
{
	return (unsigned)(__stop_shunt_jsw_sites - __start_shunt_jsw_sites);
}

/* ---- stubs.c: fixed code (asm) ---- */
void shunt_jsw_thunk_r11(void);
void shunt_jsw_learn_stub(void);
void shunt_jsw_cold_arg0(void);
void shunt_jsw_cold_arg1(void);
void shunt_jsw_cold_arg2(void);
void shunt_jsw_cold_arg3(void);
void shunt_jsw_cold_arg4(void);
void shunt_jsw_cold_arg5(void);
void shunt_jsw_cold_arg6(void);

/* ---- sync.c: membarrier and rseq ---- */
struct jsw_sync {
	int have_rseq;       /* glibc registered rseq: slots can be patched */
	long rseq_offset;    /* struct rseq from the thread pointer */
	int have_sync_core;  /* registered for PRIVATE_EXPEDITED_SYNC_CORE */
};
extern struct jsw_sync jsw_sync;
int jsw_sync_register(void);
/* Running under an emulator whose code cache ignores x86 cross-modifying
 * code rules (QEMU TCG): slots must never be patched. jsw_sync_force_emulated
 * lets tests pretend. */
int jsw_sync_emulated(void);
extern int jsw_sync_force_emulated;
/* Every thread of the process runs a core-serialising instruction before
 * it next runs user code. */
int jsw_sync_cores(void);
/* Every thread inside an rseq critical section (a slot's copies) is sent to its
 * abort handler (its slot) before this returns. */
int jsw_sync_rseq(void);
/* Tests: the nth barrier from now (either kind; 0 = none) fails with
 * -ENOMEM, as membarrier can when the kernel is short of memory. */
extern unsigned jsw_sync_fail_nth;

/* ---- counters.c: per-CPU hit and fallback counters ---- */
#define JSW_NCPU 256                  /* cpu_id_start is masked to a byte */
#define JSW_CTR_PER_SITE 8            /* [0..3] chain hits, then: */
#define JSW_CTR_FALLBACK 4            /* calls that took the retpoline */
#define JSW_CTR_LEARN 5               /* calls that went through the learning stub */
#define JSW_CPU_SHIFT 14              /* 16 KiB of counters per CPU */
_Static_assert(SHUNT_JSW_MAX_SITES * JSW_CTR_PER_SITE * 8 == (1 << JSW_CPU_SHIFT), "per-CPU block");
extern uint64_t *jsw_percpu_base;     /* slot chains load it rip-relative */
int jsw_counters_init(void);
uint64_t jsw_counter_sum(unsigned site, unsigned k);
void jsw_counters_reset(void);

/* ---- area.c: the memfd that holds the slot pages, mapped twice ---- */
struct jsw_area {
	int fd;              /* the memfd until its pages are mapped, then -1 */
	uint64_t ino;        /* its inode (tests: a forked child has its own) */
	uintptr_t slots_rx;  /* page-aligned start of the slot pages (in the image) */
	size_t slots_len;
	unsigned char *rw;   /* writable alias of the same pages */
	int ready;
};
extern struct jsw_area jsw_area;
int jsw_area_init(void);
/* Switch the image's slot pages over to the memfd copy. */
int jsw_area_map_slots(void);
/* Before fork (lock held): snapshot the memfd for the child. */
int jsw_area_fork_prepare(void);
/* After fork: a private memfd with the snapshot, mapped at the same
 * addresses (the child is single-threaded). */
int jsw_area_fork_child(void);
static inline unsigned char *jsw_slot_rw(uintptr_t rx)
{
	return jsw_area.rw + (rx - jsw_area.slots_rx);
}

/* ---- codegen.c: x86-64 code for slots ---- */
#define JSW_SLOT_SEL 16    /* the 8-byte selector */
#define JSW_SLOT_A 24      /* copy A: the selector falls through into it */
#define JSW_SLOT_B 260     /* copy B */
#define JSW_SLOT_SIG 496   /* rseq signature, then the abort handler */
#define JSW_COPY_SIZE 236
_Static_assert(JSW_SLOT_B - JSW_SLOT_A == JSW_COPY_SIZE && JSW_SLOT_SIG - JSW_SLOT_B == JSW_COPY_SIZE, "slot layout");
_Static_assert(JSW_SLOT_SIG + 9 <= SHUNT_JSW_SLOT_SIZE, "slot layout");
enum { JSW_COPY_COLD = 0, JSW_COPY_A = 1, JSW_COPY_B = 2 };
struct jsw_chain_spec {
	uintptr_t targets[SHUNT_JSW_MAX_TARGETS];
	unsigned n;
	int learn;       /* fallback goes through the learning stub */
	int count_hits;  /* count each target's hits (fallbacks are always counted) */
};
/* The cold entry a site starts with. */
uintptr_t jsw_cold_entry(const struct shunt_jsw_site *s);
/* Whether a direct jump from the slot pages reaches target (rel32). */
int jsw_reachable(uintptr_t target);
/* Write a whole slot (selector on the cold entry), before mapping. */
void jsw_emit_slot(struct shunt_jsw_site *s);
/* Write copy A or B of a slot's chain; its length or -E2BIG. */
int jsw_emit_copy(struct shunt_jsw_site *s, int which, const struct jsw_chain_spec *spec);
/* Point the selector at a copy or the cold entry: one aligned 8-byte store. */
void jsw_select(struct shunt_jsw_site *s, int which);

/* ---- postmortem.c: evidence for crash reports ---- */
/* The copy the worker is writing (site index + 1, 0 when none) and how many
 * copies it has written: set around every write, read by crash reports. */
struct jsw_wip {
	uint32_t site1;
	uint32_t copy;
	uint64_t gen;
};
extern struct jsw_wip jsw_wip;
/* If pc lies in the slot pages, writes to fd what is known about it (the
 * site, its state and write generations, the bytes around pc, or all of the
 * copies when pc is an abort handler: where the kernel's rseq fixup sends a
 * thread that takes a signal inside a copy) and returns 1; else 0.
 * Async-signal-safe. */
int jsw_crash_report(int fd, uintptr_t pc);

/* ---- learn.c: the profile written by the learning stub ---- */
void jsw_learn_record(struct shunt_jsw_site *s, uintptr_t target);
void jsw_learn_reset(struct shunt_jsw_site *s);

/* ---- policy.c: what a site should run next ---- */
struct jsw_tune {
	unsigned min_calls;      /* a pass decides only with this many calls seen */
	unsigned miss_permille;  /* misses above this share reopen profiling */
	unsigned cover_permille; /* top targets must cover this share, else fallback */
	unsigned flap_limit;     /* patches within the flap window before fallback; 0 = never */
	unsigned cooldown;       /* passes a fallback site waits before profiling again */
	unsigned sample_every;   /* steady sites count hits 1 pass in this many; 1 = always */
	int force_repatch;       /* tests: rewrite every active site every pass */
};
extern struct jsw_tune jsw_tune;
struct jsw_state;
/* Decide and apply one pass for one site (worker lock held). Returns 1 if
 * the slot was retargeted. */
int jsw_policy_pass(unsigned idx);

/* ---- state.c: the runtime's private per-site state ---- */
struct jsw_target_stat {
	uintptr_t target;
	uint64_t hits;   /* counted while the chain counted hits (sampled) */
};
struct jsw_state {
	int active;                 /* JSW_COPY_*: what the selector runs */
	int quiet;                  /* no thread can be in a copy the selector does not lead to */
	enum jsw_site_mode mode;
	struct jsw_chain_spec spec;  /* what the active copy does */
	uint64_t snap[JSW_CTR_PER_SITE];            /* counter sums seen so far */
	uint64_t learn_snap[SHUNT_JSW_LEARN_SLOTS]; /* learn counts seen so far */
	uint64_t patches;
	unsigned flap;              /* recent patches, halved every 16 passes */
	unsigned wait;              /* passes left in fallback, or spent profiling */
	uint64_t acc[SHUNT_JSW_MAX_TARGETS]; /* chain hits since the last decision */
	uint64_t acc_miss;                   /* fallbacks since the last decision */
	unsigned acc_passes;                 /* passes those cover */
	uint64_t rate[SHUNT_JSW_MAX_TARGETS]; /* hits per pass when last counted (policy only) */
	unsigned lean_passes;                /* passes since hits were last counted */
	uint64_t samples;                    /* switches between counting and lean chains */
	uint64_t gen[3];                     /* jsw_wip.gen when copy A [1] / B [2] was last written */
	/* totals for the report: fallbacks exact, hits only while counted */
	uint64_t calls, fallbacks, other_hits;
	struct jsw_target_stat tstat[8];
};
extern struct jsw_state jsw_states[SHUNT_JSW_MAX_SITES];
/* Fold the counters since the last call into the totals; fills the deltas
 * of the chain (d[0..3]), fallbacks (d[4]) and learn calls (d[5]). */
void jsw_state_account(unsigned idx, uint64_t d[JSW_CTR_PER_SITE]);
/* Install a new chain (or the cold entry with spec NULL); 0 or -errno.
 * The site may run copy B until jsw_state_settle(). */
int jsw_state_install(unsigned idx, enum jsw_site_mode mode, const struct jsw_chain_spec *spec);
/* Start-up: every site cold and quiet goes to the same chain with one
 * serialisation for all (not counted as patches); -EBUSY if one is not. */
int jsw_state_install_fresh(enum jsw_site_mode mode, const struct jsw_chain_spec *spec);
/* Move every site back onto copy A and leave copy B unreachable. */
void jsw_state_settle(void);
void jsw_state_reset_all(void);

/* ---- worker.c: the update thread ---- */
int jsw_worker_start(unsigned period_ms);
void jsw_worker_stop(void);
/* One update pass over every site, in the caller's thread. */
int jsw_update_now(void);
void jsw_lock(void);
void jsw_unlock(void);

/* ---- start.c: modes, start-up, fork ---- */
extern enum jsw_mode jsw_mode_current;
/* Start as SHUNT_JSW / SHUNT_JSW_PERIOD say; idempotent. */
void jsw_start_from_config(void);
/* (Re)start in a mode: stops the worker, resets every site, starts again.
 * Tests use it; 0 or -errno (on failure every site is left cold). */
int jsw_start(enum jsw_mode mode, unsigned period_ms);
void jsw_stop(void);
/* Registers the fork handlers (once). Child handlers run in registration
 * order, and until ours has remapped the slots a child runs the parent's,
 * which the parent's worker may be rewriting: an image whose other fork
 * handlers call through sites (far memory's transport) calls this before
 * registering them (preload/init.c). */
void jsw_register_fork(void);
/* For an image loaded into programs that may never use shunt (libshunt.so):
 * called before the image's constructor, it makes SHUNT_JSW=on wait for
 * jsw_wanted() with every site cold and no thread started. A worker thread
 * in every program is not free: glibc aborts a setuid/setgid that succeeds
 * in one thread and fails in another (setpriv raises capabilities in its
 * main thread only), and unshare(CLONE_NEWUSER) refuses a threaded process. */
void jsw_defer_until_wanted(void);
/* shunt is in use (a file-server command, a far-memory transport): once this
 * has been called `uses` times (the smallest count any caller passes wins),
 * start what the configuration says. A process that sends a handful of
 * commands and exits (sh, cat) never pays for the thread and the mapping.
 * One relaxed increment after the start. Not for signal handlers (it may
 * create the worker thread). */
void jsw_wanted(unsigned uses);
/* Called by the worker once running: registers the fork handler that
 * restarts it in a child (after the allocator's own handlers). */
void jsw_register_restart(void);

/* ---- report.c: stats and introspection ---- */
/* Installed chain of a site; returns its length. */
unsigned jsw_site_targets(const struct shunt_jsw_site *s, uintptr_t out[SHUNT_JSW_MAX_TARGETS]);
uint64_t jsw_site_patches(const struct shunt_jsw_site *s);
/* Every rewrite of the site's chain: patches plus counting/lean switches. */
uint64_t jsw_site_rewrites(const struct shunt_jsw_site *s);
enum jsw_site_mode jsw_site_mode_of(const struct shunt_jsw_site *s);
void jsw_report_register(void);

#endif
