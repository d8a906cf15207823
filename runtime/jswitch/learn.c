/* The learned profile: a small lock-free table of (target, count) per site,
 * written by whatever thread takes the learning stub. Called from generated
 * code in a call path: no locks, no malloc, no system calls, no libc. */
#include "jsw.h"
#include "../common/atomics.h"

void jsw_learn_record(struct shunt_jsw_site *s, uintptr_t target)
{
	for (unsigned i = 0; i < SHUNT_JSW_LEARN_SLOTS; i++) {
		struct shunt_jsw_learn *l = &s->learn[i];
		uintptr_t t = load_acquire(&l->target);
		if (t == 0) {
			/* Claim the free entry; losing the race to the same
			 * target is as good as winning. */
			uintptr_t expected = 0;
			if (!cas_acq_rel(&l->target, &expected, target) && expected != target)
				continue;
			t = target;
		}
		if (t == target) {
			fetch_add_relaxed(&l->count, 1);
			return;
		}
	}
	fetch_add_relaxed(&s->learn_overflow, 1);
}

void jsw_learn_reset(struct shunt_jsw_site *s)
{
	/* Only the worker resets, and only while no chain leads to the stub
	 * or right before one will; a recorder racing with this may leave a
	 * stray count, which only steers the next decision. */
	for (unsigned i = 0; i < SHUNT_JSW_LEARN_SLOTS; i++) {
		store_relaxed(&s->learn[i].count, 0);
		store_release(&s->learn[i].target, 0);
	}
	store_relaxed(&s->learn_overflow, 0);
}
