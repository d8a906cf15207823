/* Jump-switch statistics: the per-site section of the SHUNT_STATS report
 * (text and JSON) and the read-only accessors tests use. Runs at exit or in
 * tests, never in a call path; dladdr names the targets. */
#include "jsw.h"
#include "../common/stats.h"
#include "../common/atomics.h"

#include <dlfcn.h>

static const char *const mode_names[] = {
	[JSW_SITE_COLD] = "cold", [JSW_SITE_PROFILE] = "profile", [JSW_SITE_STEADY] = "steady",
	[JSW_SITE_FALLBACK] = "fallback", [JSW_SITE_LEARN] = "learn",
};

static unsigned nsites_used(void)
{
	unsigned n = jsw_nsites();
	return n > SHUNT_JSW_MAX_SITES ? SHUNT_JSW_MAX_SITES : n;
}

/* "symbol+0xoff", or "0xaddress" for what the dynamic symbol table lacks. */
static const char *sym_of(uintptr_t t, uintptr_t *off)
{
	Dl_info di;
	if (dladdr((void *)t, &di) && di.dli_sname) {
		*off = t - (uintptr_t)di.dli_saddr;
		return di.dli_sname;
	}
	*off = t;
	return "";
}

/* Learn mode: the profile is the learn table itself. */
static uint64_t learned(const struct shunt_jsw_site *s, unsigned i, uintptr_t *t)
{
	*t = load_acquire(&s->learn[i].target);
	return *t ? load_relaxed(&s->learn[i].count) : 0;
}

/* A site no call reached (most of the interposers' forwards in a given
 * program): left out of the lists, only counted. */
static int idle(unsigned i)
{
	const struct shunt_jsw_site *s = &__start_shunt_jsw_sites[i];
	const struct jsw_state *st = &jsw_states[i];
	if (st->calls || st->patches || load_relaxed(&s->learn_overflow))
		return 0;
	for (unsigned k = 0; k < SHUNT_JSW_LEARN_SLOTS; k++)
		if (load_acquire(&s->learn[k].target))
			return 0;
	return 1;
}

/* Counted calls: every fallback, and the direct hits made while the chain
 * counted them (while profiling, and one pass in jsw_tune.sample_every once
 * steady: policy.c). Sampled, so a lower bound on the calls made. */
static void report_text(int fd)
{
	unsigned nidle = 0;
	for (unsigned i = 0; i < nsites_used(); i++) {
		const struct shunt_jsw_site *s = &__start_shunt_jsw_sites[i];
		const struct jsw_state *st = &jsw_states[i];
		if (idle(i)) {
			nidle++;
			continue;
		}
		/* log.h's formatter: no field widths. */
		stats_printf(fd, "  jsw site %s: %s, counted calls %llu, fallbacks %llu, patches %llu, samples %llu\n",
			     s->name, mode_names[st->mode], (unsigned long long)st->calls,
			     (unsigned long long)st->fallbacks, (unsigned long long)st->patches,
			     (unsigned long long)st->samples);
		for (unsigned k = 0; k < 8 && st->tstat[k].target; k++) {
			uintptr_t off;
			const char *name = sym_of(st->tstat[k].target, &off);
			stats_printf(fd, "    direct %s+0x%lx: %llu counted\n", name, (unsigned long)off,
				     (unsigned long long)st->tstat[k].hits);
		}
		for (unsigned k = 0; k < SHUNT_JSW_LEARN_SLOTS; k++) {
			uintptr_t t, off = 0;
			uint64_t c = learned(s, k, &t);
			if (!t)
				continue;
			const char *name = sym_of(t, &off);
			stats_printf(fd, "    learned %s+0x%lx: %llu\n", name, (unsigned long)off, (unsigned long long)c);
		}
	}
	if (nidle)
		stats_printf(fd, "  jsw sites no call reached: %u (not listed)\n", nidle);
}

static void report_json(int fd)
{
	unsigned nidle = 0, listed = 0;
	stats_printf(fd, ",\n  \"jsw_site_list\": [");
	for (unsigned i = 0; i < nsites_used(); i++) {
		const struct shunt_jsw_site *s = &__start_shunt_jsw_sites[i];
		const struct jsw_state *st = &jsw_states[i];
		if (idle(i)) {
			nidle++;
			continue;
		}
		stats_printf(fd, "%s\n    {\"name\": \"%s\", \"mode\": \"%s\", \"calls\": %llu, \"fallbacks\": %llu, "
			     "\"patches\": %llu, \"samples\": %llu, \"hits_counted_one_pass_in\": %u, \"direct_hits\": [",
			     listed++ ? "," : "", s->name, mode_names[st->mode], (unsigned long long)st->calls,
			     (unsigned long long)st->fallbacks, (unsigned long long)st->patches,
			     (unsigned long long)st->samples, jsw_tune.sample_every);
		for (unsigned k = 0; k < 8 && st->tstat[k].target; k++) {
			uintptr_t off;
			const char *name = sym_of(st->tstat[k].target, &off);
			stats_printf(fd, "%s{\"target\": \"%s+0x%lx\", \"hits\": %llu}", k ? ", " : "", name,
				     (unsigned long)off, (unsigned long long)st->tstat[k].hits);
		}
		stats_printf(fd, "], \"learned\": [");
		int first = 1;
		for (unsigned k = 0; k < SHUNT_JSW_LEARN_SLOTS; k++) {
			uintptr_t t, off = 0;
			uint64_t c = learned(s, k, &t);
			if (!t)
				continue;
			const char *name = sym_of(t, &off);
			stats_printf(fd, "%s{\"target\": \"%s+0x%lx\", \"calls\": %llu}", first ? "" : ", ", name,
				     (unsigned long)off, (unsigned long long)c);
			first = 0;
		}
		stats_printf(fd, "]}");
	}
	stats_printf(fd, "\n  ],\n  \"jsw_idle_sites\": %u", nidle);
}

void jsw_report_register(void)
{
	static const struct stats_section sec = { report_text, report_json };
	stats_add_section(&sec);
}

unsigned jsw_site_targets(const struct shunt_jsw_site *s, uintptr_t out[SHUNT_JSW_MAX_TARGETS])
{
	unsigned n = load_relaxed(&s->ntargets);
	for (unsigned i = 0; i < n && i < SHUNT_JSW_MAX_TARGETS; i++)
		out[i] = load_relaxed(&s->targets[i]);
	return n;
}

uint64_t jsw_site_patches(const struct shunt_jsw_site *s)
{
	if (s->idx >= SHUNT_JSW_MAX_SITES)
		return 0; /* beyond the cap: never patched */
	jsw_lock();
	uint64_t n = jsw_states[s->idx].patches;
	jsw_unlock();
	return n;
}

uint64_t jsw_site_rewrites(const struct shunt_jsw_site *s)
{
	if (s->idx >= SHUNT_JSW_MAX_SITES)
		return 0;
	jsw_lock();
	uint64_t n = jsw_states[s->idx].patches + jsw_states[s->idx].samples;
	jsw_unlock();
	return n;
}

enum jsw_site_mode jsw_site_mode_of(const struct shunt_jsw_site *s)
{
	return (enum jsw_site_mode)load_relaxed(&s->mode);
}
