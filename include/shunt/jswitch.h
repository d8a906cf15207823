/* Jump switches: hot indirect call sites that the runtime turns into
 * compare-and-direct-jump chains for the targets each site has learned,
 * with a retpoline (target-injection safe) indirect call as the fallback.
 *
 *   SHUNT_JSW_SITE(be_read, ssize_t, 3, int, void *, size_t);   (file scope, once)
 *   n = SHUNT_JSW_CALL(be_read, ops->read, fd, buf, len);        (the hot call)
 *
 * How a call flows. The call site makes a *direct* call to its slot, a
 * 512-byte piece of code in the section shunt_jsw_slots, and passes the
 * target as one extra trailing argument (in the next free argument register,
 * or on the stack for a 6-argument site). The slot compares the target with
 * up to SHUNT_JSW_MAX_TARGETS learned addresses and jumps straight to the
 * match, else to the fallback (a retpoline on the target, or the learning
 * stub). Before the runtime starts, and with SHUNT_JSW=off, the slot jumps to
 * a plain retpoline: a site works from the first instruction of the process.
 * Patching, and why it is safe, is described in runtime/jswitch/README.md.
 *
 * Restrictions (checked at compile time): at most 6 parameters, each of
 * integer class (integers, pointers, enums) and at most 8 bytes; the return
 * type is anything C returns in registers. The extra trailing argument is
 * harmless to the target: the SysV ABI lets a callee ignore surplus
 * arguments, including a variadic callee (al is not set; a variadic callee
 * reads it only to decide whether to spill vector registers).
 *
 * Every site's descriptor sits in the section shunt_jsw_sites, so the runtime
 * finds all of them through __start_/__stop_shunt_jsw_sites. */
#ifndef SHUNT_JSWITCH_H
#define SHUNT_JSWITCH_H

#include <stdint.h>

#define SHUNT_JSW_MAX_TARGETS 4  /* compare-and-jump entries per slot */
#define SHUNT_JSW_LEARN_SLOTS 8  /* distinct targets a profile can hold */
#define SHUNT_JSW_MAX_SITES 256  /* sites one process can have */
#define SHUNT_JSW_SLOT_SIZE 512

/* The kernel's struct rseq_cs (linux/rseq.h), kept here so that users of
 * this header need no kernel headers. */
struct shunt_jsw_rseq_cs {
	uint32_t version;
	uint32_t flags;
	uint64_t start_ip;
	uint64_t post_commit_offset;
	uint64_t abort_ip;
} __attribute__((aligned(32)));

/* One learned-profile entry; target 0 means free. Written lock-free by the
 * learning stub (any thread), read and reset by the update worker. */
struct shunt_jsw_learn {
	uintptr_t target;
	uint64_t count;
};

/* The per-site descriptor. name, slot and argloc are set at compile time;
 * the rest belongs to the runtime (runtime/jswitch). */
struct shunt_jsw_site {
	const char *name;
	void *slot;             /* the slot's address (the call site calls it) */
	uint32_t argloc;        /* target's location: 0-5 argument register, 6 stack,
				   SHUNT_JSW_ARG_VAR the variable at target_var */
	uint32_t idx;           /* position in the section, set at start-up */
	struct shunt_jsw_rseq_cs cs;   /* covers the selector and both copies; abort -> slot */
	struct shunt_jsw_learn learn[SHUNT_JSW_LEARN_SLOTS];
	uint64_t learn_overflow;       /* profile calls that found no free entry */
	uintptr_t targets[SHUNT_JSW_MAX_TARGETS]; /* installed chain, for readers */
	uint32_t ntargets;
	uint32_t mode;                 /* enum jsw_site_mode, for readers */
	void *const *target_var;       /* SHUNT_JSW_ARG_VAR: where the target is */
	void *cold;                    /* SHUNT_JSW_ARG_VAR: the site's cold entry */
} __attribute__((aligned(64)));
#define SHUNT_JSW_ARG_VAR 7
_Static_assert(sizeof(struct shunt_jsw_site) % 64 == 0, "sites are an array in their section");

/* ---- the call-site macros ---- */

#define SHUNT_JSW_CAT_(a, b) a##b
#define SHUNT_JSW_CAT(a, b) SHUNT_JSW_CAT_(a, b)
#define SHUNT_JSW_STR_(x) #x
#define SHUNT_JSW_STR(x) SHUNT_JSW_STR_(x)

/* A parameter type must be integer class (gcc's typeclass.h: integer 1,
 * char 2, enumeral 3, boolean 4, pointer 5) and fit a register. */
#define SHUNT_JSW_CHECK_T(t)                                                               \
	_Static_assert(sizeof(t) <= 8 && __builtin_classify_type(*(t *)0) >= 1 &&            \
			       __builtin_classify_type(*(t *)0) <= 5,                              \
		       "jump-switch parameters must be integer class: " #t);
#define SHUNT_JSW_CHECK_0()
#define SHUNT_JSW_CHECK_1(a) SHUNT_JSW_CHECK_T(a)
#define SHUNT_JSW_CHECK_2(a, ...) SHUNT_JSW_CHECK_T(a) SHUNT_JSW_CHECK_1(__VA_ARGS__)
#define SHUNT_JSW_CHECK_3(a, ...) SHUNT_JSW_CHECK_T(a) SHUNT_JSW_CHECK_2(__VA_ARGS__)
#define SHUNT_JSW_CHECK_4(a, ...) SHUNT_JSW_CHECK_T(a) SHUNT_JSW_CHECK_3(__VA_ARGS__)
#define SHUNT_JSW_CHECK_5(a, ...) SHUNT_JSW_CHECK_T(a) SHUNT_JSW_CHECK_4(__VA_ARGS__)
#define SHUNT_JSW_CHECK_6(a, ...) SHUNT_JSW_CHECK_T(a) SHUNT_JSW_CHECK_5(__VA_ARGS__)

/* The slot's parameter list: the site's, then the target. */
#define SHUNT_JSW_PARAMS_0() uintptr_t
#define SHUNT_JSW_PARAMS_N(...) __VA_ARGS__, uintptr_t
#define SHUNT_JSW_PARAMS_1 SHUNT_JSW_PARAMS_N
#define SHUNT_JSW_PARAMS_2 SHUNT_JSW_PARAMS_N
#define SHUNT_JSW_PARAMS_3 SHUNT_JSW_PARAMS_N
#define SHUNT_JSW_PARAMS_4 SHUNT_JSW_PARAMS_N
#define SHUNT_JSW_PARAMS_5 SHUNT_JSW_PARAMS_N
#define SHUNT_JSW_PARAMS_6 SHUNT_JSW_PARAMS_N
#define SHUNT_JSW_FNPARAMS_0() void
#define SHUNT_JSW_FNPARAMS_N(...) __VA_ARGS__
#define SHUNT_JSW_FNPARAMS_1 SHUNT_JSW_FNPARAMS_N
#define SHUNT_JSW_FNPARAMS_2 SHUNT_JSW_FNPARAMS_N
#define SHUNT_JSW_FNPARAMS_3 SHUNT_JSW_FNPARAMS_N
#define SHUNT_JSW_FNPARAMS_4 SHUNT_JSW_FNPARAMS_N
#define SHUNT_JSW_FNPARAMS_5 SHUNT_JSW_FNPARAMS_N
#define SHUNT_JSW_FNPARAMS_6 SHUNT_JSW_FNPARAMS_N

#define SHUNT_JSW_SLOTSYM(site) shunt_jsw_slot_##site

/* Define a site (file scope, once per site; the site is local to the file).
 * nparams is the literal count of the parameter types that follow. */
#define SHUNT_JSW_SITE(site, ret, nparams, ...)                                            \
	SHUNT_JSW_CAT(SHUNT_JSW_CHECK_, nparams)(__VA_ARGS__)                                 \
	typedef ret (*shunt_jsw_fn_##site)(SHUNT_JSW_CAT(SHUNT_JSW_FNPARAMS_, nparams)(__VA_ARGS__)); \
	extern ret SHUNT_JSW_SLOTSYM(site)(SHUNT_JSW_CAT(SHUNT_JSW_PARAMS_, nparams)(__VA_ARGS__))  \
		__asm__(SHUNT_JSW_STR(SHUNT_JSW_SLOTSYM(site))) __attribute__((visibility("hidden"))); \
	__asm__(".pushsection shunt_jsw_slots,\"ax\",@progbits\n\t"                              \
		".balign " SHUNT_JSW_STR(SHUNT_JSW_SLOT_SIZE) "\n"                                  \
		SHUNT_JSW_STR(SHUNT_JSW_SLOTSYM(site)) ":\n\t"                                     \
		"jmp shunt_jsw_cold_arg" #nparams "\n\t"                                           \
		".fill " SHUNT_JSW_STR(SHUNT_JSW_SLOT_SIZE) " - 5, 1, 0xcc\n\t"                    \
		".popsection");                                                                   \
	static struct shunt_jsw_site shunt_jsw_site_##site                                     \
		__attribute__((section("shunt_jsw_sites"), used)) = {                             \
			.name = #site,                                                            \
			.slot = (void *)SHUNT_JSW_SLOTSYM(site),                                  \
			.argloc = nparams,                                                        \
	}

/* Call through a site: fn(args...) with fn of the site's function type. */
#define SHUNT_JSW_CALL(site, fn, ...)                                                          \
	({                                                                                         \
		_Static_assert(__builtin_types_compatible_p(__typeof__(&*(fn)), shunt_jsw_fn_##site), \
			       "target type differs from the site's");                            \
		SHUNT_JSW_SLOTSYM(site)(__VA_ARGS__ __VA_OPT__(, )(uintptr_t)(fn));              \
	})

/* ---- variable sites ----
 * A site whose target is not an argument but a function-pointer variable
 * the slot reads itself: for a target resolved once and then fixed, such as
 * dlsym(RTLD_NEXT, "read"). The slot has exactly the target's type, so any
 * signature works (variadic, stack arguments, vector arguments), and the call
 * site marshals nothing extra:
 *
 *   SHUNT_JSW_VAR_SITE_DECLARE(real_read, __typeof__(read));   (a header)
 *   SHUNT_JSW_VAR_SITE_DEFINE(real_read, __typeof__(read));    (one .c file)
 *   SHUNT_JSW_VAR(real_read) = dlsym(RTLD_NEXT, "read");        (before the first call)
 *   n = SHUNT_JSW_VAR_CALL(real_read)(fd, buf, len);
 *
 * The cold entry (before start-up, SHUNT_JSW=off) loads the variable into r11
 * and takes the retpoline; chains compare the variable with their targets.
 * Symbols are global and hidden, so a site is one per image, named once. */
#define SHUNT_JSW_VARSYM(site) shunt_jsw_var_##site
#define SHUNT_JSW_VCOLDSYM(site) shunt_jsw_vcold_##site

#define SHUNT_JSW_VAR_SITE_DECLARE(site, fntype)                                               \
	extern fntype SHUNT_JSW_SLOTSYM(site) __asm__(SHUNT_JSW_STR(SHUNT_JSW_SLOTSYM(site)))     \
		__attribute__((visibility("hidden")));                                            \
	extern fntype *SHUNT_JSW_VARSYM(site) __asm__(SHUNT_JSW_STR(SHUNT_JSW_VARSYM(site)))     \
		__attribute__((visibility("hidden")))

#define SHUNT_JSW_VAR_SITE_DEFINE(site, fntype)                                                \
	SHUNT_JSW_VAR_SITE_DECLARE(site, fntype);                                                 \
	fntype *SHUNT_JSW_VARSYM(site) __attribute__((used));                                     \
	__asm__(".pushsection shunt_jsw_slots,\"ax\",@progbits\n\t"                              \
		".balign " SHUNT_JSW_STR(SHUNT_JSW_SLOT_SIZE) "\n\t"                                \
		".globl " SHUNT_JSW_STR(SHUNT_JSW_SLOTSYM(site)) "\n\t"                              \
		".hidden " SHUNT_JSW_STR(SHUNT_JSW_SLOTSYM(site)) "\n\t"                             \
		".type " SHUNT_JSW_STR(SHUNT_JSW_SLOTSYM(site)) ",@function\n"                       \
		SHUNT_JSW_STR(SHUNT_JSW_SLOTSYM(site)) ":\n\t"                                     \
		"jmp " SHUNT_JSW_STR(SHUNT_JSW_VCOLDSYM(site)) "\n\t"                               \
		".fill " SHUNT_JSW_STR(SHUNT_JSW_SLOT_SIZE) " - 5, 1, 0xcc\n\t"                    \
		".size " SHUNT_JSW_STR(SHUNT_JSW_SLOTSYM(site)) ", " SHUNT_JSW_STR(SHUNT_JSW_SLOT_SIZE) "\n\t" \
		".popsection\n\t"                                                                  \
		".pushsection .text\n\t"                                                           \
		".balign 16\n\t"                                                                   \
		".type " SHUNT_JSW_STR(SHUNT_JSW_VCOLDSYM(site)) ",@function\n"                      \
		SHUNT_JSW_STR(SHUNT_JSW_VCOLDSYM(site)) ":\n\t"                                    \
		"mov " SHUNT_JSW_STR(SHUNT_JSW_VARSYM(site)) "(%rip), %r11\n\t"                     \
		"jmp shunt_jsw_thunk_r11\n\t"                                                     \
		".size " SHUNT_JSW_STR(SHUNT_JSW_VCOLDSYM(site)) ", .-" SHUNT_JSW_STR(SHUNT_JSW_VCOLDSYM(site)) "\n\t" \
		".popsection");                                                                   \
	extern char SHUNT_JSW_VCOLDSYM(site)[] __asm__(SHUNT_JSW_STR(SHUNT_JSW_VCOLDSYM(site)))  \
		__attribute__((visibility("hidden")));                                            \
	static struct shunt_jsw_site shunt_jsw_site_##site                                         \
		__attribute__((section("shunt_jsw_sites"), used)) = {                                 \
			.name = #site,                                                                \
			.slot = (void *)SHUNT_JSW_SLOTSYM(site),                                      \
			.argloc = SHUNT_JSW_ARG_VAR,                                                  \
			.target_var = (void *const *)&SHUNT_JSW_VARSYM(site),                        \
			.cold = SHUNT_JSW_VCOLDSYM(site),                                             \
	}

/* The variable (an lvalue of type fntype *), and the function to call. */
#define SHUNT_JSW_VAR(site) SHUNT_JSW_VARSYM(site)
#define SHUNT_JSW_VAR_CALL(site) SHUNT_JSW_SLOTSYM(site)

/* The descriptor, for stats and tests. */
#define SHUNT_JSW_SITE_DESC(site) (&shunt_jsw_site_##site)

#endif
