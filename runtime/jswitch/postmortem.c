/* What a fatal-signal handler can say about jump switches when the faulting
 * PC lies in the slot pages: the site, where in its slot, what the runtime
 * believes the slot runs (selector, mode, rewrites, when each copy was last
 * written), which copy the worker is writing right now, and the bytes
 * around the PC. Signal context: no locks, no malloc, no stdio; the state is
 * read racily (relaxed), it is evidence, not a decision. */
#include "jsw.h"
#include "../common/atomics.h"
#include "../common/log.h"
#include "../common/sys.h"

struct jsw_wip jsw_wip;

static const char *part_of(unsigned off)
{
	if (off < JSW_SLOT_SEL)
		return "rseq prologue";
	if (off < JSW_SLOT_A)
		return "selector";
	if (off < JSW_SLOT_B)
		return "copy A";
	if (off < JSW_SLOT_SIG)
		return "copy B";
	if (off < JSW_SLOT_SIG + 4)
		return "rseq signature";
	return "abort handler";
}

static const char *const copy_names[] = { "cold entry", "copy A", "copy B" };

static size_t hex_bytes(char *buf, size_t cap, const unsigned char *p, unsigned n, const unsigned char *mark)
{
	static const char digits[] = "0123456789abcdef";
	size_t pos = 0;
	for (unsigned i = 0; i < n && pos + 5 < cap; i++) {
		if (p + i == mark)
			buf[pos++] = '[';
		buf[pos++] = digits[p[i] >> 4];
		buf[pos++] = digits[p[i] & 15];
		buf[pos++] = p + i == mark ? ']' : ' ';
	}
	buf[pos] = 0;
	return pos;
}

static void put(int fd, const char *buf, size_t n)
{
	sys_write(fd, buf, n);
}

/* One line of hex: slot offsets [from, from + n), pc's byte bracketed. */
static void dump(int fd, const unsigned char *slot, unsigned from, unsigned n, uintptr_t pc)
{
	char line[16 * 4 + 32];
	size_t pos = log_format(line, sizeof(line), "    +%u:%s", from, from < 100 ? from < 10 ? "   " : "  " : " ");
	pos += hex_bytes(line + pos, sizeof(line) - pos - 1, slot + from, n, (const unsigned char *)pc);
	line[pos++] = '\n';
	put(fd, line, pos);
}

int jsw_crash_report(int fd, uintptr_t pc)
{
	uintptr_t lo = (uintptr_t)__start_shunt_jsw_slots, hi = (uintptr_t)__stop_shunt_jsw_slots;
	if (!lo || pc < lo || pc >= hi)
		return 0;
	unsigned n = jsw_nsites();
	if (n > SHUNT_JSW_MAX_SITES)
		n = SHUNT_JSW_MAX_SITES;
	const struct shunt_jsw_site *s = NULL;
	unsigned idx = 0;
	for (unsigned i = 0; i < n; i++) {
		uintptr_t at = (uintptr_t)__start_shunt_jsw_sites[i].slot;
		if (pc >= at && pc < at + SHUNT_JSW_SLOT_SIZE) {
			s = &__start_shunt_jsw_sites[i];
			idx = i;
			break;
		}
	}
	char line[1024];
	size_t len;
	if (!s) {
		len = log_format(line, sizeof(line), "  jump switches: pc %p is in the slot pages but in no site's slot\n", (void *)pc);
		put(fd, line, len);
		return 1;
	}
	const struct jsw_state *st = &jsw_states[idx];
	const unsigned char *slot = s->slot;
	unsigned off = (unsigned)(pc - (uintptr_t)slot);
	int active = load_relaxed(&st->active);
	uint64_t sel;
	__builtin_memcpy(&sel, slot + JSW_SLOT_SEL, 8);
	uint32_t wip = load_acquire(&jsw_wip.site1);
	len = log_format(line, sizeof(line),
			 "  jump switches: pc is site %s's slot +%u (%s); runtime: %s active, %s, mode %u, "
			 "%llu patches + %llu samples; selector %lx; copy A written at generation %llu, B at %llu, "
			 "now %llu; worker writing: %s\n",
			 s->name, off, part_of(off), active >= 0 && active <= 2 ? copy_names[active] : "?",
			 load_relaxed(&st->quiet) ? "quiet" : "not quiet", (unsigned)load_relaxed(&st->mode),
			 (unsigned long long)load_relaxed(&st->patches), (unsigned long long)load_relaxed(&st->samples),
			 (unsigned long)sel, (unsigned long long)load_relaxed(&st->gen[JSW_COPY_A]),
			 (unsigned long long)load_relaxed(&st->gen[JSW_COPY_B]),
			 (unsigned long long)load_relaxed(&jsw_wip.gen),
			 wip == idx + 1 ? copy_names[load_relaxed(&jsw_wip.copy) % 3] : wip ? "another site" : "nothing");
	put(fd, line, len);
	if (off == JSW_SLOT_SIG + 4) {
		/* A fatal signal taken inside the selector or a copy: the kernel's
		 * rseq fixup moved the pc here before the handler ran, so the
		 * faulting instruction is somewhere in the selector or the
		 * copies. Show them all, as they are now. */
		len = log_format(line, sizeof(line),
				 "  (the kernel sent the thread here from inside the selector or a copy: rseq abort on "
				 "signal delivery); selector and copies now:\n");
		put(fd, line, len);
		for (unsigned from = JSW_SLOT_SEL; from < JSW_SLOT_SIG; from += 16)
			dump(fd, slot, from, from + 16 <= JSW_SLOT_SIG ? 16 : JSW_SLOT_SIG - from, pc);
		return 1;
	}
	unsigned from = off >= 24 ? (off - 24) & ~15u : 0;
	for (unsigned k = 0; k < 3 && from < SHUNT_JSW_SLOT_SIZE; k++, from += 16)
		dump(fd, slot, from, 16, pc);
	return 1;
}
