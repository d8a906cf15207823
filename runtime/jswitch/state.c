/* The runtime's private per-site state, and the one place a site's slot is
 * redirected: counting what the old body saw, writing the new body,
 * serialising, switching, retiring. Worker lock held throughout. */
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
	/* Chain counter i belongs to the installed body's i-th target (a thread
	 * still in a just-replaced body may misfile a count or two). */
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

int jsw_state_install(unsigned idx, enum jsw_site_mode mode, const struct jsw_body_spec *spec)
{
	struct shunt_jsw_site *s = &__start_shunt_jsw_sites[idx];
	struct jsw_state *st = &jsw_states[idx];
	uint64_t d[JSW_CTR_PER_SITE];
	uintptr_t to;
	int b = -1;

	jsw_state_account(idx, d);
	if (spec) {
		b = jsw_body_alloc();
		if (b < 0)
			return b;
		jsw_emit_body(b, s, spec);
		/* The body may reuse memory some core executed before: make every
		 * core drop what it fetched before the slot can lead there. */
		jsw_sync_cores();
		to = jsw_body_rx(b);
	} else {
		to = jsw_cold_entry(s);
	}
	jsw_retarget_slot(s, to);
	jsw_body_retire(st->body);
	st->body = b;
	st->mode = mode;
	if (spec)
		st->spec = *spec;
	else
		memset(&st->spec, 0, sizeof(st->spec));
	memset(st->acc, 0, sizeof(st->acc));
	st->acc_miss = 0;
	st->patches++;
	STAT_INC(jsw_patches);
	/* For readers (tests, the report): relaxed, informational. */
	for (unsigned i = 0; i < SHUNT_JSW_MAX_TARGETS; i++)
		store_relaxed(&s->targets[i], i < st->spec.n ? st->spec.targets[i] : 0);
	store_relaxed(&s->ntargets, st->spec.n);
	store_relaxed(&s->mode, (uint32_t)mode);
	return 0;
}

void jsw_state_reset_all(void)
{
	unsigned n = jsw_nsites();
	for (unsigned i = 0; i < n && i < SHUNT_JSW_MAX_SITES; i++) {
		struct jsw_state *st = &jsw_states[i];
		int body = st->body;
		memset(st, 0, sizeof(*st));
		st->body = body;
		jsw_learn_reset(&__start_shunt_jsw_sites[i]);
	}
}
