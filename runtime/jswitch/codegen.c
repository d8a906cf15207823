/* Machine code for slots and bodies (x86-64). Writes only through the
 * read-write alias (jsw_slot_rw, jsw_body_rw), computing displacements from
 * the executable addresses. Registers: a body may clobber r10, r11 and the
 * flags only (neither carries an argument in the SysV ABI); the target
 * arrives as the trailing argument at s->argloc.
 *
 * Slot (64 bytes, at a fixed address the call site calls directly):
 *    0  lea  r11, [rip + s->cs]        ; rseq: this thread is entering a body
 *    7  mov  fs:[rseq + 8], r11        ; struct rseq.rseq_cs
 *   16  jmp  body                      ; the only bytes ever rewritten: one
 *   21  int3 x3                        ;   aligned 8-byte store of 16..23
 *   24  .long RSEQ_SIG
 *   28  jmp  slot                      ; abort handler: dispatch again
 * Without rseq, offset 0 is `jmp 16`.
 *
 * Body (in the pool, which is the rseq critical section):
 *   for each target T:  lea r11,[rip+T]; cmp ARG,r11; jne 1f; COUNT; jmp T; 1:
 *   fallback:           COUNT; mov r11,ARG; jmp thunk_r11
 *                  or   COUNT; lea r11,[rip+site]; mov r10,ARG; jmp learn_stub */
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

/* cmp ARG, r11 */
static void cmp_arg_r11(struct emit *e, unsigned loc)
{
	if (loc >= 6) { /* cmp [rsp+8], r11 */
		b1(e, 0x4c); b1(e, 0x39); b1(e, 0x5c); b1(e, 0x24); b1(e, 0x08);
		return;
	}
	unsigned r = argreg[loc];
	b1(e, 0x4c | (r >> 3)); b1(e, 0x39); b1(e, 0xd8 | (r & 7));
}

/* mov DST, ARG for DST = r10 (2) or r11 (3) */
static void mov_rx_arg(struct emit *e, unsigned dst, unsigned loc)
{
	if (loc >= 6) { /* mov dst, [rsp+8] */
		b1(e, 0x4c); b1(e, 0x8b); b1(e, 0x44 | (dst << 3)); b1(e, 0x24); b1(e, 0x08);
		return;
	}
	unsigned r = argreg[loc];
	b1(e, 0x49 | ((r >> 3) << 2)); b1(e, 0x89); b1(e, 0xc0 | ((r & 7) << 3) | dst);
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
	return (uintptr_t)cold[s->argloc <= 6 ? s->argloc : 6];
}

int jsw_reachable(uintptr_t t)
{
	/* Every rel32 in a body ends within the pool. */
	const intptr_t lim = 0x7fff0000;
	intptr_t a = (intptr_t)(t - jsw_area.pool_rx);
	intptr_t b = (intptr_t)(t - (jsw_area.pool_rx + jsw_area.pool_len));
	return a > -lim && a < lim && b > -lim && b < lim;
}

static uint64_t jmp_word(uintptr_t slot, uintptr_t to)
{
	int32_t d = (int32_t)(intptr_t)(to - (slot + 21));
	uint64_t w = 0xe9;
	w |= (uint64_t)(uint32_t)d << 8;
	w |= 0xccccccull << 40;
	return w;
}

void jsw_emit_slot(struct shunt_jsw_site *s, uintptr_t to)
{
	uintptr_t slot = (uintptr_t)s->slot;
	unsigned char buf[SHUNT_JSW_SLOT_SIZE];
	struct emit e = { buf, slot, 0 };
	memset(buf, 0xcc, sizeof(buf));
	if (jsw_sync.have_rseq) {
		s->cs.version = 0;
		s->cs.flags = 0;
		s->cs.start_ip = jsw_area.pool_rx;
		s->cs.post_commit_offset = jsw_area.pool_len;
		s->cs.abort_ip = slot + 28;
		lea_r11_rip(&e, (uintptr_t)&s->cs);
		/* mov fs:[rseq + 8], r11 */
		b1(&e, 0x64); b1(&e, 0x4c); b1(&e, 0x89); b1(&e, 0x1c); b1(&e, 0x25);
		b4(&e, (uint32_t)(int32_t)(jsw_sync.rseq_offset + 8));
	} else {
		b1(&e, 0xeb); b1(&e, 0x0e); /* jmp +14 -> offset 16 */
	}
	uint64_t w = jmp_word(slot, to);
	memcpy(buf + 16, &w, 8);
	e.len = 24;
	b4(&e, RSEQ_SIG_X86);
	jmp(&e, slot);
	/* Offset 0 stays an instruction boundary in every version (the image's
	 * cold slot is one jmp there), so one copy replaces another safely. */
	memcpy(jsw_slot_rw(slot), buf, sizeof(buf));
}

void jsw_retarget_slot(struct shunt_jsw_site *s, uintptr_t to)
{
	uintptr_t slot = (uintptr_t)s->slot;
	/* One aligned 8-byte store: an instruction fetch sees the old jmp or
	 * the new one, never a mix (the way JITs patch live call sites). The
	 * caller then serialises every thread with membarrier SYNC_CORE. */
	store_release((uint64_t *)jsw_slot_rw(slot + 16), jmp_word(slot, to));
}

int jsw_emit_body(int b, const struct shunt_jsw_site *s, const struct jsw_body_spec *spec)
{
	unsigned char buf[JSW_BODY_SIZE];
	struct emit e = { buf, jsw_body_rx(b), 0 };
	unsigned loc = s->argloc, idx = s->idx;
	memset(buf, 0xcc, sizeof(buf));
	if (spec->n > SHUNT_JSW_MAX_TARGETS)
		return -E2BIG;
	for (unsigned i = 0; i < spec->n; i++) {
		uintptr_t t = spec->targets[i];
		lea_r11_rip(&e, t);
		cmp_arg_r11(&e, loc);
		b1(&e, 0x75); /* jne rel8 over the hit path */
		size_t at = e.len;
		b1(&e, 0);
		count(&e, idx, i);
		jmp(&e, t);
		buf[at] = (unsigned char)(e.len - at - 1);
	}
	if (spec->learn) {
		count(&e, idx, JSW_CTR_LEARN);
		lea_r11_rip(&e, (uintptr_t)s);
		mov_rx_arg(&e, 2, loc);
		jmp(&e, (uintptr_t)shunt_jsw_learn_stub);
	} else {
		count(&e, idx, JSW_CTR_FALLBACK);
		mov_rx_arg(&e, 3, loc);
		jmp(&e, (uintptr_t)shunt_jsw_thunk_r11);
	}
	if (e.len > JSW_BODY_SIZE)
		return -E2BIG; /* cannot happen: 4 * 47 + 40 < 256 */
	memcpy(jsw_body_rw(b), buf, JSW_BODY_SIZE);
	return (int)e.len;
}
