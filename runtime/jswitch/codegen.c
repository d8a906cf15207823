/* Machine code for slots (x86-64). Writes only through the read-write alias
 * (jsw_slot_rw), computing displacements from the executable addresses.
 * Registers: generated code may clobber r10, r11 and the flags only (neither
 * carries an argument in the SysV ABI); the target arrives as the trailing
 * argument at s->argloc, or sits in the site's variable (SHUNT_JSW_ARG_VAR,
 * read rip-relative: slots and variables are in the same image).
 *
 * Slot (512 bytes, at a fixed address the call site calls directly):
 *     0  lea  r11, [rip + s->cs]     ; rseq: this thread may enter a copy
 *     7  mov  fs:[rseq + 8], r11     ; struct rseq.rseq_cs
 *    16  selector, 8 bytes           ; nopl (fall into A) | jmp B | jmp cold
 *    24  copy A (236 bytes)          ; the chain; 16..495 is the rseq
 *   260  copy B (236 bytes)          ;   critical section of this slot
 *   496  .long RSEQ_SIG
 *   500  jmp  slot                   ; abort handler: dispatch again
 * A copy, for each target T:  lea r11,[rip+T]; cmp ARG,r11; je T               (lean)
 *                         or  lea r11,[rip+T]; cmp ARG,r11; jne 1f; COUNT; jmp T; 1:
 *   (a variable site's copy first loads ARG: mov r10,[rip+var])
 *   then the fallback:        COUNT; mov r11,ARG; jmp thunk_r11
 *                        or   COUNT; lea r11,[rip+site]; mov r10,ARG; jmp learn_stub
 * Steady state runs copy A by falling through the selector: one taken
 * branch (to the target) more than a direct call. Hits are counted only
 * when the chain says so (profiling, and sampling passes): the per-CPU
 * counter costs more than the rest of the slot. */
#include "jsw.h"
#include "../common/atomics.h"

#include <errno.h>
#include <string.h>

#define RSEQ_SIG_X86 0x53053053u

struct emit {
	unsigned char *w;  /* where bytes go (read-write alias) */
	uintptr_t pc;      /* the executable address of w[0] */
	size_t len;
};

static void b1(struct emit *e, unsigned v) { e->w[e->len++] = (unsigned char)v; }
static void b4(struct emit *e, uint32_t v)
{
	memcpy(e->w + e->len, &v, 4);
	e->len += 4;
}
/* rel32 to `to` from the end of a field that ends `tail` bytes later. */
static void rel32(struct emit *e, uintptr_t to, unsigned tail)
{
	intptr_t d = (intptr_t)(to - (e->pc + e->len + 4 + tail));
	b4(e, (uint32_t)(int32_t)d);
}

/* SysV argument registers by position, as x86 register numbers. */
static const unsigned argreg[6] = { 7 /*rdi*/, 6 /*rsi*/, 2 /*rdx*/, 1 /*rcx*/, 8 /*r8*/, 9 /*r9*/ };

static void lea_r11_rip(struct emit *e, uintptr_t to)
{
	b1(e, 0x4c); b1(e, 0x8d); b1(e, 0x1d); rel32(e, to, 0);
}

static void jmp(struct emit *e, uintptr_t to)
{
	b1(e, 0xe9); rel32(e, to, 0);
}

/* Where a chain finds the target: an argument register, the stack (-1), or
 * for a variable site r10, which the copy loads from the variable first. */
static int target_reg(const struct shunt_jsw_site *s)
{
	if (s->argloc == SHUNT_JSW_ARG_VAR)
		return 10;
	return s->argloc < 6 ? (int)argreg[s->argloc] : -1;
}

/* mov r10, [rip + var]: a variable site's copy starts with it. */
static void load_var_r10(struct emit *e, const struct shunt_jsw_site *s)
{
	b1(e, 0x4c); b1(e, 0x8b); b1(e, 0x15); rel32(e, (uintptr_t)s->target_var, 0);
}

/* cmp ARG, r11 */
static void cmp_arg_r11(struct emit *e, const struct shunt_jsw_site *s)
{
	int r = target_reg(s);
	if (r < 0) { /* cmp [rsp+8], r11 */
		b1(e, 0x4c); b1(e, 0x39); b1(e, 0x5c); b1(e, 0x24); b1(e, 0x08);
		return;
	}
	b1(e, 0x4c | ((unsigned)r >> 3)); b1(e, 0x39); b1(e, 0xd8 | ((unsigned)r & 7));
}

/* mov DST, ARG for DST = r10 (2) or r11 (3) */
static void mov_rx_arg(struct emit *e, unsigned dst, const struct shunt_jsw_site *s)
{
	int r = target_reg(s);
	if (r < 0) { /* mov dst, [rsp+8] */
		b1(e, 0x4c); b1(e, 0x8b); b1(e, 0x44 | (dst << 3)); b1(e, 0x24); b1(e, 0x08);
		return;
	}
	if ((unsigned)r == 8 + dst)
		return; /* already there */
	b1(e, 0x49 | (((unsigned)r >> 3) << 2)); b1(e, 0x89); b1(e, 0xc0 | (((unsigned)r & 7) << 3) | dst);
}

/* inc the counter k of site idx in this CPU's block; clobbers r11, flags. */
static void count(struct emit *e, unsigned idx, unsigned k)
{
	if (jsw_sync.have_rseq) {
		/* movzx r11d, byte fs:[rseq + 0] (cpu_id_start) */
		b1(e, 0x64); b1(e, 0x44); b1(e, 0x0f); b1(e, 0xb6); b1(e, 0x1c); b1(e, 0x25);
		b4(e, (uint32_t)(int32_t)jsw_sync.rseq_offset);
		/* shl r11, JSW_CPU_SHIFT */
		b1(e, 0x49); b1(e, 0xc1); b1(e, 0xe3); b1(e, JSW_CPU_SHIFT);
		/* add r11, [rip + &jsw_percpu_base] */
		b1(e, 0x4c); b1(e, 0x03); b1(e, 0x1d); rel32(e, (uintptr_t)&jsw_percpu_base, 0);
	} else {
		/* mov r11, [rip + &jsw_percpu_base] */
		b1(e, 0x4c); b1(e, 0x8b); b1(e, 0x1d); rel32(e, (uintptr_t)&jsw_percpu_base, 0);
	}
	/* inc qword [r11 + disp32] */
	b1(e, 0x49); b1(e, 0xff); b1(e, 0x83);
	b4(e, (idx * JSW_CTR_PER_SITE + k) * 8);
}

uintptr_t jsw_cold_entry(const struct shunt_jsw_site *s)
{
	static void (*const cold[7])(void) = {
		shunt_jsw_cold_arg0, shunt_jsw_cold_arg1, shunt_jsw_cold_arg2, shunt_jsw_cold_arg3,
		shunt_jsw_cold_arg4, shunt_jsw_cold_arg5, shunt_jsw_cold_arg6,
	};
	if (s->argloc == SHUNT_JSW_ARG_VAR)
		return (uintptr_t)s->cold;
	return (uintptr_t)cold[s->argloc <= 6 ? s->argloc : 6];
}

int jsw_reachable(uintptr_t t)
{
	/* Every rel32 in a copy ends within the slot pages. */
	const intptr_t lim = 0x7fff0000;
	intptr_t a = (intptr_t)(t - jsw_area.slots_rx);
	intptr_t b = (intptr_t)(t - (jsw_area.slots_rx + jsw_area.slots_len));
	return a > -lim && a < lim && b > -lim && b < lim;
}

static const unsigned char nop8[8] = { 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00 };

static uint64_t selector_word(uintptr_t slot, int which, uintptr_t cold)
{
	uint64_t w;
	if (which == JSW_COPY_A) {
		memcpy(&w, nop8, 8);
		return w;
	}
	uintptr_t to = which == JSW_COPY_B ? slot + JSW_SLOT_B : cold;
	int32_t d = (int32_t)(intptr_t)(to - (slot + JSW_SLOT_SEL + 5));
	w = 0xe9;
	w |= (uint64_t)(uint32_t)d << 8;
	w |= 0xccccccull << 40;
	return w;
}

void jsw_emit_slot(struct shunt_jsw_site *s)
{
	uintptr_t slot = (uintptr_t)s->slot;
	unsigned char buf[SHUNT_JSW_SLOT_SIZE];
	struct emit e = { buf, slot, 0 };
	memset(buf, 0xcc, sizeof(buf));
	s->cs.version = 0;
	s->cs.flags = 0;
	/* The critical section starts right after the rseq_cs store, at the
	 * selector: a thread preempted between the store and a copy must be
	 * restarted too, because the kernel clears rseq_cs when it finds the
	 * thread outside the range, and the thread would then run the copy
	 * unprotected. */
	s->cs.start_ip = slot + JSW_SLOT_SEL;
	s->cs.post_commit_offset = JSW_SLOT_SIG - JSW_SLOT_SEL;
	s->cs.abort_ip = slot + JSW_SLOT_SIG + 4;
	lea_r11_rip(&e, (uintptr_t)&s->cs);
	/* mov fs:[rseq + 8], r11 */
	b1(&e, 0x64); b1(&e, 0x4c); b1(&e, 0x89); b1(&e, 0x1c); b1(&e, 0x25);
	b4(&e, (uint32_t)(int32_t)(jsw_sync.rseq_offset + 8));
	uint64_t w = selector_word(slot, JSW_COPY_COLD, jsw_cold_entry(s));
	memcpy(buf + JSW_SLOT_SEL, &w, 8);
	e.len = JSW_SLOT_SIG;
	b4(&e, RSEQ_SIG_X86);
	jmp(&e, slot);
	/* Offset 0 stays an instruction boundary in every version (the image's
	 * cold slot is one jmp there), so the copy replaces the image's page
	 * safely. */
	memcpy(jsw_slot_rw(slot), buf, sizeof(buf));
}

void jsw_select(struct shunt_jsw_site *s, int which)
{
	uintptr_t slot = (uintptr_t)s->slot;
	/* One aligned 8-byte store: an instruction fetch sees the old selector
	 * or the new one, never a mix (the way JITs patch live call sites).
	 * The caller serialises every core with membarrier SYNC_CORE. */
	store_release((uint64_t *)jsw_slot_rw(slot + JSW_SLOT_SEL), selector_word(slot, which, jsw_cold_entry(s)));
}

int jsw_emit_copy(struct shunt_jsw_site *s, int which, const struct jsw_chain_spec *spec)
{
	unsigned char buf[JSW_COPY_SIZE + 64];
	uintptr_t at = (uintptr_t)s->slot + (which == JSW_COPY_A ? JSW_SLOT_A : JSW_SLOT_B);
	struct emit e = { buf, at, 0 };
	unsigned idx = s->idx;
	memset(buf, 0xcc, sizeof(buf));
	if (spec->n > SHUNT_JSW_MAX_TARGETS)
		return -E2BIG;
	if (s->argloc == SHUNT_JSW_ARG_VAR)
		load_var_r10(&e, s);
	for (unsigned i = 0; i < spec->n; i++) {
		uintptr_t t = spec->targets[i];
		lea_r11_rip(&e, t);
		cmp_arg_r11(&e, s);
		if (!spec->count_hits) { /* lean: je T, one branch less on a hit */
			b1(&e, 0x0f); b1(&e, 0x84); rel32(&e, t, 0);
			continue;
		}
		b1(&e, 0x75); /* jne rel8 over the hit path */
		size_t rel = e.len;
		b1(&e, 0);
		if (spec->count_hits)
			count(&e, idx, i);
		jmp(&e, t);
		buf[rel] = (unsigned char)(e.len - rel - 1);
	}
	if (spec->learn) {
		count(&e, idx, JSW_CTR_LEARN);
		lea_r11_rip(&e, (uintptr_t)s);
		mov_rx_arg(&e, 2, s);
		jmp(&e, (uintptr_t)shunt_jsw_learn_stub);
	} else {
		count(&e, idx, JSW_CTR_FALLBACK);
		mov_rx_arg(&e, 3, s);
		jmp(&e, (uintptr_t)shunt_jsw_thunk_r11);
	}
	if (e.len > JSW_COPY_SIZE)
		return -E2BIG; /* cannot happen: at most 4 * 46 + 44 bytes (stack target) */
	/* Marked for crash reports: a thread that faults in this copy while
	 * it is written is running code it must not reach. */
	uint64_t gen = load_relaxed(&jsw_wip.gen) + 1;
	store_relaxed(&jsw_wip.copy, (uint32_t)which);
	store_relaxed(&jsw_wip.gen, gen);
	store_release(&jsw_wip.site1, idx + 1);
	memcpy(jsw_slot_rw(at), buf, JSW_COPY_SIZE);
	store_release(&jsw_wip.site1, 0u);
	if (idx < SHUNT_JSW_MAX_SITES)
		store_relaxed(&jsw_states[idx].gen[which], gen);
	return (int)e.len;
}
