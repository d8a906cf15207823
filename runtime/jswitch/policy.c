/* What each site runs next, decided once per update pass from what its
 * counters and its learned profile saw since the last pass:
 *   PROFILE  -> STEADY    the hottest targets (up to 4) cover enough calls
 *   PROFILE  -> FALLBACK  they do not (megamorphic), or the site flaps
 *   STEADY   -> PROFILE   too many calls miss the chain (the profile moved)
 *   FALLBACK -> PROFILE   after a cool-down
 * A steady chain counts its hits only one pass in sample_every (a counter
 * per call costs more than the rest of the slot); in between, the miss
 * share is judged against the hit rate of the last counted pass. Misses
 * are always counted. Worker lock held. */
#include "jsw.h"

#include <string.h>

struct jsw_tune jsw_tune = {
	.min_calls = 64,
	.miss_permille = 100,
	.cover_permille = 900,
	.flap_limit = 8,
	.cooldown = 50,
	.sample_every = 8,
	.force_repatch = 0,
};

struct cand {
	uintptr_t target;
	uint64_t count;
};

static void cand_add(struct cand *c, unsigned *n, uintptr_t t, uint64_t count)
{
	for (unsigned i = 0; i < *n; i++)
		if (c[i].target == t) {
			c[i].count += count;
			return;
		}
	c[*n].target = t;
	c[*n].count = count;
	(*n)++;
}

static int profile_again(unsigned idx, const struct jsw_chain_spec *keep)
{
	struct jsw_chain_spec spec = *keep;
	spec.learn = 1;
	spec.count_hits = 1;
	jsw_learn_reset(&__start_shunt_jsw_sites[idx]);
	jsw_states[idx].wait = 0;
	return jsw_state_install(idx, JSW_SITE_PROFILE, &spec) == 0;
}

static int to_fallback(unsigned idx, unsigned wait)
{
	struct jsw_chain_spec spec = { .n = 0, .learn = 0 };
	jsw_states[idx].wait = wait;
	return jsw_state_install(idx, JSW_SITE_FALLBACK, &spec) == 0;
}

static int decide_profile(unsigned idx)
{
	struct shunt_jsw_site *s = &__start_shunt_jsw_sites[idx];
	struct jsw_state *st = &jsw_states[idx];
	struct cand c[SHUNT_JSW_MAX_TARGETS + SHUNT_JSW_LEARN_SLOTS];
	unsigned n = 0;
	uint64_t total = 0;

	for (unsigned i = 0; i < st->spec.n; i++)
		cand_add(c, &n, st->spec.targets[i], st->acc[i]);
	for (unsigned i = 0; i < SHUNT_JSW_LEARN_SLOTS; i++) {
		uintptr_t t = __atomic_load_n(&s->learn[i].target, __ATOMIC_ACQUIRE);
		if (t)
			cand_add(c, &n, t, __atomic_load_n(&s->learn[i].count, __ATOMIC_RELAXED));
	}
	for (unsigned i = 0; i < n; i++)
		total += c[i].count;
	total += __atomic_load_n(&s->learn_overflow, __ATOMIC_RELAXED);
	if (total < jsw_tune.min_calls) {
		st->wait++;
		return 0;
	}
	unsigned passes = st->acc_passes ? st->acc_passes : 1;
	/* Hottest first (n <= 12: insertion sort). */
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && c[j].count > c[j - 1].count; j--) {
			struct cand t = c[j];
			c[j] = c[j - 1];
			c[j - 1] = t;
		}
	struct jsw_chain_spec spec = { .n = 0, .learn = 0, .count_hits = jsw_tune.sample_every <= 1 };
	uint64_t covered = 0, rate[SHUNT_JSW_MAX_TARGETS];
	for (unsigned i = 0; i < n && spec.n < SHUNT_JSW_MAX_TARGETS; i++) {
		if (!c[i].count || !jsw_reachable(c[i].target))
			continue; /* out of rel32 reach: stays on the fallback */
		rate[spec.n] = c[i].count / passes;
		spec.targets[spec.n++] = c[i].target;
		covered += c[i].count;
	}
	if (covered * 1000 < (uint64_t)jsw_tune.cover_permille * total)
		return to_fallback(idx, jsw_tune.cooldown);
	if (jsw_tune.flap_limit && st->flap >= jsw_tune.flap_limit)
		return to_fallback(idx, jsw_tune.cooldown * 4);
	st->flap++;
	if (jsw_state_install(idx, JSW_SITE_STEADY, &spec))
		return 0;
	memcpy(st->rate, rate, sizeof(rate));
	return 1;
}

/* Steady: fold this pass in (counted or extrapolated hits), decide whether
 * the profile moved, and switch counting on or off for sampling. */
static int steady_pass(unsigned idx, const uint64_t d[JSW_CTR_PER_SITE])
{
	struct jsw_state *st = &jsw_states[idx];
	struct jsw_chain_spec spec = st->spec;
	uint64_t hits = 0, miss;
	int counted = spec.count_hits;

	if (jsw_tune.force_repatch) {
		spec.count_hits = !spec.count_hits;
		return jsw_state_install(idx, JSW_SITE_STEADY, &spec) == 0;
	}
	for (unsigned i = 0; i < spec.n; i++) {
		uint64_t h = d[i];
		if (counted)
			st->rate[i] = d[i];
		else
			h = st->rate[i]; /* an estimate, for this decision only */
		hits += (st->acc[i] += h);
	}
	miss = (st->acc_miss += d[JSW_CTR_FALLBACK]);
	st->acc_passes++;
	if (hits + miss >= jsw_tune.min_calls) {
		memset(st->acc, 0, sizeof(st->acc));
		st->acc_miss = 0;
		st->acc_passes = 0;
		if (miss * 1000 > (uint64_t)jsw_tune.miss_permille * (hits + miss))
			return profile_again(idx, &st->spec);
	}
	if (jsw_tune.sample_every <= 1)
		return 0;
	if (counted) {
		spec.count_hits = 0; /* the sample is taken: lean again */
	} else if (++st->lean_passes >= jsw_tune.sample_every - 1) {
		st->lean_passes = 0;
		spec.count_hits = 1; /* count the next pass */
	} else {
		return 0;
	}
	return jsw_state_install(idx, JSW_SITE_STEADY, &spec) == 0;
}

int jsw_policy_pass(unsigned idx)
{
	struct jsw_state *st = &jsw_states[idx];
	uint64_t d[JSW_CTR_PER_SITE];
	jsw_state_account(idx, d);

	switch (st->mode) {
	case JSW_SITE_COLD:
	case JSW_SITE_LEARN:
		return 0;
	case JSW_SITE_FALLBACK:
		if (st->wait) {
			st->wait--;
			return 0;
		}
		return profile_again(idx, &(struct jsw_chain_spec){ .n = 0 });
	case JSW_SITE_PROFILE:
		for (unsigned i = 0; i < st->spec.n; i++)
			st->acc[i] += d[i];
		st->acc_passes++;
		return decide_profile(idx);
	case JSW_SITE_STEADY:
		return steady_pass(idx, d);
	}
	return 0;
}
