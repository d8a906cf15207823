/* The runtime's private per-site state, and the one place a site's slot is
 * redirected: counting what the old chain saw, writing the unreachable copy,
 * serialising, switching the selector, and settling back onto copy A.
 * Worker lock held throughout. */
#include "jsw.h"
#include "../common/atomics.h"
#include "../common/stats.h"

#include <errno.h>
#include <string.h>

struct jsw_state jsw_states[SHUNT_JSW_MAX_SITES];

static void tstat_add(struct jsw_state *st, uintptr_t t, uint64_t n)
{
	if (!n)
		return;
	for (unsigned i = 0; i < 8; i++) {
		if (st->tstat[i].target == t || !st->tstat[i].target) {
			st->tstat[i].target = t;
			st->tstat[i].hits += n;
			return;
		}
	}
	st->other_hits += n;
}

void jsw_state_account(unsigned idx, uint64_t d[JSW_CTR_PER_SITE])
{
	struct jsw_state *st = &jsw_states[idx];
	uint64_t hits = 0;
	for (unsigned k = 0; k < JSW_CTR_PER_SITE; k++) {
		uint64_t cur = jsw_counter_sum(idx, k);
		d[k] = cur - st->snap[k];
		st->snap[k] = cur;
	}
	/* Chain counter i belongs to the active chain's i-th target (a thread
	 * still in a just-replaced copy may misfile a count or two). */
	for (unsigned i = 0; i < st->spec.n; i++) {
		tstat_add(st, st->spec.targets[i], d[i]);
		hits += d[i];
	}
	uint64_t fb = d[JSW_CTR_FALLBACK] + d[JSW_CTR_LEARN];
	st->calls += hits + fb;
	st->fallbacks += fb;
	STAT_ADD(jsw_direct_hits, hits);
	STAT_ADD(jsw_fallbacks, fb);
}

static unsigned nsites_used(void)
{
	unsigned n = jsw_nsites();
	return n > SHUNT_JSW_MAX_SITES ? SHUNT_JSW_MAX_SITES : n;
}

/* Every core has serialised and no thread is inside any slot's copies:
 * whatever a selector stopped pointing at is now unreachable. */
static int barrier(void)
{
	return jsw_sync_cores() == 0 && jsw_sync_rseq() == 0 ? 0 : -EIO;
}

void jsw_state_settle(void)
{
	unsigned n = nsites_used();
	int any = 0;
	for (unsigned i = 0; i < n; i++)
		any |= jsw_states[i].active == JSW_COPY_B || !jsw_states[i].quiet;
	if (!any || barrier() < 0)
		return;
	/* Copy A is unreachable now: give it B's chain, then fall into it. */
	int moved = 0;
	for (unsigned i = 0; i < n; i++) {
		struct jsw_state *st = &jsw_states[i];
		if (st->active == JSW_COPY_B) {
			jsw_emit_copy(&__start_shunt_jsw_sites[i], JSW_COPY_A, &st->spec);
			moved = 1;
		}
	}
	if (moved) {
		if (jsw_sync_cores() < 0) /* no core keeps bytes it fetched from A before */
			return;
		for (unsigned i = 0; i < n; i++)
			if (jsw_states[i].active == JSW_COPY_B) {
				jsw_select(&__start_shunt_jsw_sites[i], JSW_COPY_A);
				jsw_states[i].active = JSW_COPY_A;
			}
		if (barrier() < 0)
			return;
	}
	for (unsigned i = 0; i < n; i++)
		jsw_states[i].quiet = 1;
}

int jsw_state_install(unsigned idx, enum jsw_site_mode mode, const struct jsw_chain_spec *spec)
{
	struct shunt_jsw_site *s = &__start_shunt_jsw_sites[idx];
	struct jsw_state *st = &jsw_states[idx];
	uint64_t d[JSW_CTR_PER_SITE];

	if (spec && !jsw_sync.have_rseq)
		return -ENOSYS; /* no way to know a copy is unreachable: never patch */
	/* The copy to write may still be running: B while the site runs B, A
	 * while it is cold, and either one after a barrier that failed (a
	 * settle that switched back to A but could not prove B unreachable
	 * leaves A active and not quiet: B must not be written then). */
	if (st->active == JSW_COPY_B || !st->quiet)
		jsw_state_settle();
	if (st->active == JSW_COPY_B || !st->quiet)
		return -EIO;
	/* Same chain, only counting switched on or off: a sample, not a patch. */
	int sample = spec && st->active != JSW_COPY_COLD && mode == st->mode && spec->n == st->spec.n &&
		     spec->learn == st->spec.learn && spec->count_hits != st->spec.count_hits &&
		     !memcmp(spec->targets, st->spec.targets, sizeof(spec->targets[0]) * spec->n);
	jsw_state_account(idx, d);
	if (!spec) {
		jsw_select(s, JSW_COPY_COLD);
		st->active = JSW_COPY_COLD;
		st->quiet = 0;
	} else {
		/* Write the unreachable copy (B when A runs; A when the site is
		 * cold and quiet), make every core drop what it fetched from it
		 * before, then switch the selector to it. */
		int to = st->active == JSW_COPY_A ? JSW_COPY_B : JSW_COPY_A;
		int r = jsw_emit_copy(s, to, spec);
		if (r < 0)
			return r; /* nothing written: the selector stays where it was */
		if (jsw_sync_cores() < 0)
			return -EIO; /* unserialised: the selector stays where it was */
		jsw_select(s, to);
		st->active = to;
		if (to == JSW_COPY_B)
			st->quiet = 0;
	}
	st->mode = mode;
	if (spec)
		st->spec = *spec;
	else
		memset(&st->spec, 0, sizeof(st->spec));
	if (sample) {
		st->samples++;
		return 0;
	}
	memset(st->acc, 0, sizeof(st->acc));
	st->acc_miss = 0;
	st->acc_passes = 0;
	st->lean_passes = 0;
	st->patches++;
	STAT_INC(jsw_patches);
	/* For readers (tests, the report): relaxed, informational. */
	for (unsigned i = 0; i < SHUNT_JSW_MAX_TARGETS; i++)
		store_relaxed(&s->targets[i], i < st->spec.n ? st->spec.targets[i] : 0);
	store_relaxed(&s->ntargets, st->spec.n);
	store_relaxed(&s->mode, (uint32_t)mode);
	return 0;
}

int jsw_state_install_fresh(enum jsw_site_mode mode, const struct jsw_chain_spec *spec)
{
	unsigned n = nsites_used();
	if (!jsw_sync.have_rseq)
		return -ENOSYS;
	for (unsigned i = 0; i < n; i++)
		if (jsw_states[i].active != JSW_COPY_COLD || !jsw_states[i].quiet)
			return -EBUSY;
	/* Every copy A is unreachable (the selectors lead to the cold
	 * entries, and no thread has been in a copy since the last barrier):
	 * write them all, serialise once, then switch every selector. */
	for (unsigned i = 0; i < n; i++) {
		int r = jsw_emit_copy(&__start_shunt_jsw_sites[i], JSW_COPY_A, spec);
		if (r < 0)
			return r;
	}
	if (jsw_sync_cores() < 0)
		return -EIO;
	for (unsigned i = 0; i < n; i++) {
		struct shunt_jsw_site *s = &__start_shunt_jsw_sites[i];
		struct jsw_state *st = &jsw_states[i];
		jsw_select(s, JSW_COPY_A);
		st->active = JSW_COPY_A;
		st->mode = mode;
		st->spec = *spec;
		store_relaxed(&s->ntargets, 0u);
		store_relaxed(&s->mode, (uint32_t)mode);
	}
	return 0;
}

void jsw_state_reset_all(void)
{
	unsigned n = nsites_used();
	for (unsigned i = 0; i < n; i++) {
		struct jsw_state *st = &jsw_states[i];
		int active = st->active, quiet = st->quiet;
		uint64_t gen[3] = { st->gen[0], st->gen[1], st->gen[2] };
		memset(st, 0, sizeof(*st));
		st->active = active;
		st->quiet = quiet;
		memcpy(st->gen, gen, sizeof(gen));
		jsw_learn_reset(&__start_shunt_jsw_sites[i]);
	}
}
