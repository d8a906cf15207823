/* The concurrent cache (protocol and invariants in ccache.h). Called by the
 * far-memory resident set and the file server's cache. Never calls malloc:
 * everything lives in one anonymous mapping made at create time. */
#include "ccache/ccache.h"
#include "common/atomics.h"
#include "common/sys.h"
#include "shunt/jswitch.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

enum elem_state { ST_FREE = 0, ST_FILLING = 1, ST_VALID = 2 };
enum queue_id { Q_FREE = 0, Q_COLD = 1, Q_HOT = 2, NQUEUES = 3 };

struct elem {
	pthread_mutex_t lock;
	uint32_t state;   /* enum elem_state; written under lock, read racily only as a hint */
	uint32_t pins;    /* raised under lock, lowered atomically */
	uint32_t ref;     /* CLOCK reference bit: set by hits, cleared by the reclaimer */
	uint32_t next;    /* hash chain; under the bucket lock */
	uint32_t bucket;  /* bucket of the key while hashed; under the element lock */
};

struct bucket {
	pthread_mutex_t lock;
	uint32_t head;    /* first element of the chain, CCACHE_NONE when empty */
};

/* Bounded MPMC ring of element indices (Vyukov): a cell's seq says whose turn
 * it is; head and tail are free-running and advanced by CAS. */
struct cell {
	uint64_t seq;
	uint32_t val;
	uint32_t pad;
};
struct queue {
	uint64_t tail __attribute__((aligned(64)));
	uint64_t head __attribute__((aligned(64)));
	struct cell *cells __attribute__((aligned(64)));
	uint64_t mask;
};

struct ccache {
	struct ccache_params p;
	uint32_t nbuckets, bucket_mask, hot_max;
	struct elem *elems;
	unsigned char *keys;
	struct bucket *buckets;
	struct queue q[NQUEUES];
	size_t map_size;
	uint64_t n_hits, n_misses, n_evictions, n_evict_refused, n_promotions, n_demotions, n_races;
};

static uint64_t pow2_at_least(uint64_t n)
{
	uint64_t v = 1;
	while (v < n)
		v <<= 1;
	return v;
}

/* ---- queues ---- */

static void q_push(struct queue *q, uint32_t v)
{
	uint64_t pos = load_relaxed(&q->tail);
	unsigned waits = 0;
	for (;;) {
		struct cell *cl = &q->cells[pos & q->mask];
		/* pairs with store_release of seq in q_pop() freeing the cell */
		uint64_t seq = load_acquire(&cl->seq);
		int64_t dif = (int64_t)(seq - pos);
		if (dif == 0) {
			if (cas_acq_rel(&q->tail, &pos, pos + 1)) {
				cl->val = v;
				/* publishes val to the q_pop() that sees seq == pos + 1 */
				store_release(&cl->seq, pos + 1);
				return;
			}
		} else if (dif < 0) {
			/* The cell's previous lap is still being popped (a popper won
			 * the head CAS and has not released the cell yet). The ring has
			 * room for twice the elements, so it is never really full:
			 * wait for that popper. */
			if (++waits > 64)
				sys_sched_yield();
			else
				cpu_relax();
			pos = load_relaxed(&q->tail);
		} else {
			pos = load_relaxed(&q->tail);
		}
	}
}

static uint32_t q_pop(struct queue *q)
{
	uint64_t pos = load_relaxed(&q->head);
	for (;;) {
		struct cell *cl = &q->cells[pos & q->mask];
		/* pairs with store_release of seq in q_push() */
		uint64_t seq = load_acquire(&cl->seq);
		int64_t dif = (int64_t)(seq - (pos + 1));
		if (dif == 0) {
			if (cas_acq_rel(&q->head, &pos, pos + 1)) {
				uint32_t v = cl->val;
				/* hands the cell back to q_push() one lap later */
				store_release(&cl->seq, pos + q->mask + 1);
				return v;
			}
		} else if (dif < 0) {
			return CCACHE_NONE; /* empty (or a push not yet published) */
		} else {
			pos = load_relaxed(&q->head);
		}
	}
}

static uint32_t q_len(const struct queue *q)
{
	uint64_t t = load_relaxed(&q->tail), h = load_relaxed(&q->head);
	return t > h ? (uint32_t)(t - h) : 0;
}

/* ---- keys and hashing ---- */

static unsigned char *key_of(const struct ccache *c, uint32_t idx)
{
	return c->keys + (size_t)idx * c->p.key_size;
}

static uint32_t hash_key(const struct ccache *c, const void *key)
{
	const unsigned char *k = key;
	uint64_t h = 0xcbf29ce484222325ull;
	for (uint32_t i = 0; i < c->p.key_size; i++)
		h = (h ^ k[i]) * 0x100000001b3ull;
	h ^= h >> 29;
	return (uint32_t)h & c->bucket_mask;
}

/* Under the bucket lock. */
static uint32_t chain_find(struct ccache *c, struct bucket *b, const void *key)
{
	for (uint32_t i = b->head; i != CCACHE_NONE; i = c->elems[i].next)
		if (!memcmp(key_of(c, i), key, c->p.key_size))
			return i;
	return CCACHE_NONE;
}

/* Under the element lock; takes the bucket lock. */
static void chain_unlink(struct ccache *c, uint32_t idx)
{
	struct bucket *b = &c->buckets[c->elems[idx].bucket];
	pthread_mutex_lock(&b->lock);
	for (uint32_t *pp = &b->head; *pp != CCACHE_NONE; pp = &c->elems[*pp].next)
		if (*pp == idx) {
			*pp = c->elems[idx].next;
			break;
		}
	c->elems[idx].next = CCACHE_NONE;
	pthread_mutex_unlock(&b->lock);
}

/* ---- create / destroy ---- */

struct ccache *ccache_create(const struct ccache_params *p)
{
	if (!p || p->capacity < 2 || p->capacity >= CCACHE_NONE / 2 || !p->key_size || p->key_size > CCACHE_KEY_MAX ||
	    p->hot_pct > 100)
		return NULL;
	uint64_t nb = pow2_at_least(p->capacity), qcap = pow2_at_least(2 * (uint64_t)p->capacity);
	size_t off = (sizeof(struct ccache) + 63) & ~(size_t)63;
	size_t o_elems = off;
	off += ((size_t)p->capacity * sizeof(struct elem) + 63) & ~(size_t)63;
	size_t o_keys = off;
	off += ((size_t)p->capacity * p->key_size + 63) & ~(size_t)63;
	size_t o_buckets = off;
	off += ((size_t)nb * sizeof(struct bucket) + 63) & ~(size_t)63;
	size_t o_cells = off;
	off += (size_t)NQUEUES * qcap * sizeof(struct cell);
	size_t size = (off + 4095) & ~(size_t)4095;

	char *m = sys_mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_mmap_failed(m))
		return NULL;
	struct ccache *c = (struct ccache *)m;
	c->p = *p;
	c->map_size = size;
	c->nbuckets = (uint32_t)nb;
	c->bucket_mask = (uint32_t)nb - 1;
	c->hot_max = (uint32_t)((uint64_t)p->capacity * (p->hot_pct ? p->hot_pct : 50) / 100);
	c->elems = (struct elem *)(m + o_elems);
	c->keys = (unsigned char *)(m + o_keys);
	c->buckets = (struct bucket *)(m + o_buckets);
	for (uint32_t i = 0; i < nb; i++) {
		pthread_mutex_init(&c->buckets[i].lock, NULL);
		c->buckets[i].head = CCACHE_NONE;
	}
	for (int q = 0; q < NQUEUES; q++) {
		c->q[q].cells = (struct cell *)(m + o_cells) + (size_t)q * qcap;
		c->q[q].mask = qcap - 1;
		for (uint64_t i = 0; i < qcap; i++)
			c->q[q].cells[i].seq = i;
	}
	for (uint32_t i = 0; i < p->capacity; i++) {
		pthread_mutex_init(&c->elems[i].lock, NULL);
		c->elems[i].next = CCACHE_NONE;
		q_push(&c->q[Q_FREE], i);
	}
	return c;
}

void ccache_destroy(struct ccache *c)
{
	if (!c)
		return;
	for (uint32_t i = 0; i < c->p.capacity; i++)
		pthread_mutex_destroy(&c->elems[i].lock);
	for (uint32_t i = 0; i < c->nbuckets; i++)
		pthread_mutex_destroy(&c->buckets[i].lock);
	sys_munmap(c, c->map_size);
}

/* ---- lookup ---- */

/* Returns 0 (hit, pinned), -ENOENT (absent) or -EAGAIN (detected race or a
 * fill in progress: the caller retries from the top). */
static int lookup_once(struct ccache *c, const void *key, uint32_t *idx)
{
	struct bucket *b = &c->buckets[hash_key(c, key)];
	pthread_mutex_lock(&b->lock);
	uint32_t i = chain_find(c, b, key);
	pthread_mutex_unlock(&b->lock);
	if (i == CCACHE_NONE)
		return -ENOENT;
	struct elem *e = &c->elems[i];
	pthread_mutex_lock(&e->lock);
	/* Between the bucket and the element lock it may have been evicted and
	 * reused for another key: the key compare under the element lock is
	 * the race check. */
	if (e->state == ST_FREE || memcmp(key_of(c, i), key, c->p.key_size)) {
		pthread_mutex_unlock(&e->lock);
		fetch_add_relaxed(&c->n_races, 1);
		return -EAGAIN;
	}
	if (e->state == ST_FILLING) {
		pthread_mutex_unlock(&e->lock);
		return -EAGAIN;
	}
	fetch_add_acq_rel(&e->pins, 1);
	pthread_mutex_unlock(&e->lock);
	if (!load_relaxed(&e->ref))
		store_relaxed(&e->ref, 1);
	*idx = i;
	return 0;
}

int ccache_lookup(struct ccache *c, const void *key, uint32_t *idx)
{
	for (unsigned spins = 0;; spins++) {
		int r = lookup_once(c, key, idx);
		if (r != -EAGAIN) {
			if (!r)
				fetch_add_relaxed(&c->n_hits, 1);
			return r;
		}
		if (spins > 64)
			sys_sched_yield();
		else
			cpu_relax();
	}
}

/* ---- reclaim ---- */

/* Hot too large: demote unreferenced heads to COLD; referenced ones go round. */
static void balance_hot(struct ccache *c)
{
	for (uint32_t n = 0; n < 4 && q_len(&c->q[Q_HOT]) > c->hot_max; n++) {
		uint32_t i = q_pop(&c->q[Q_HOT]);
		if (i == CCACHE_NONE)
			return;
		struct elem *e = &c->elems[i];
		if (load_relaxed(&e->ref)) {
			store_relaxed(&e->ref, 0);
			q_push(&c->q[Q_HOT], i);
		} else {
			fetch_add_relaxed(&c->n_demotions, 1);
			q_push(&c->q[Q_COLD], i);
		}
	}
}

/* One step on COLD's head: returns a freed element (owned by the caller, in
 * no queue) or CCACHE_NONE (the head went somewhere else, or COLD is empty:
 * *empty says which). */
/* The owner's evict hook (far memory's write-back), once per evicted
 * element: a jump switch, direct once learned. */
SHUNT_JSW_SITE(ccache_evict, int, 3, void *, const void *, uint32_t);

static uint32_t reclaim_step(struct ccache *c, int *empty)
{
	*empty = 0;
	uint32_t i = q_pop(&c->q[Q_COLD]);
	if (i == CCACHE_NONE) {
		/* COLD empty: take from HOT regardless of its size. */
		i = q_pop(&c->q[Q_HOT]);
		if (i == CCACHE_NONE) {
			*empty = 1;
			return CCACHE_NONE;
		}
		store_relaxed(&c->elems[i].ref, 0);
	}
	struct elem *e = &c->elems[i];
	if (pthread_mutex_trylock(&e->lock)) {
		q_push(&c->q[Q_COLD], i);
		return CCACHE_NONE;
	}
	if (e->state == ST_FREE && !load_acquire(&e->pins)) { /* removed while queued */
		pthread_mutex_unlock(&e->lock);
		return i;
	}
	if (e->state == ST_FILLING || load_acquire(&e->pins)) {
		pthread_mutex_unlock(&e->lock);
		q_push(&c->q[Q_COLD], i);
		return CCACHE_NONE;
	}
	if (load_relaxed(&e->ref)) {
		/* Referenced: into HOT while it has room, else a second lap in
		 * COLD. A full HOT is not pushed through: what it protects stays
		 * protected until it ages out (balance_hot, ccache_age). */
		store_relaxed(&e->ref, 0);
		pthread_mutex_unlock(&e->lock);
		if (q_len(&c->q[Q_HOT]) < c->hot_max) {
			fetch_add_relaxed(&c->n_promotions, 1);
			q_push(&c->q[Q_HOT], i);
		} else {
			q_push(&c->q[Q_COLD], i);
		}
		return CCACHE_NONE;
	}
	if (c->p.evict && SHUNT_JSW_CALL(ccache_evict, c->p.evict, c->p.ctx, key_of(c, i), i)) {
		pthread_mutex_unlock(&e->lock);
		fetch_add_relaxed(&c->n_evict_refused, 1);
		q_push(&c->q[Q_COLD], i);
		return CCACHE_NONE;
	}
	chain_unlink(c, i);
	e->state = ST_FREE;
	pthread_mutex_unlock(&e->lock);
	fetch_add_relaxed(&c->n_evictions, 1);
	return i;
}

/* A free element for the caller: from FREE, else by evicting. */
static uint32_t take_free(struct ccache *c)
{
	uint32_t i = q_pop(&c->q[Q_FREE]);
	if (i != CCACHE_NONE)
		return i;
	/* Two laps over everything, then give up: all pinned or refusing. */
	uint64_t budget = 2 * (uint64_t)c->p.capacity + 16;
	for (uint64_t n = 0; n < budget; n++) {
		balance_hot(c);
		int empty;
		i = reclaim_step(c, &empty);
		if (i != CCACHE_NONE)
			return i;
		i = q_pop(&c->q[Q_FREE]); /* someone else may have freed one */
		if (i != CCACHE_NONE)
			return i;
		if (empty)
			cpu_relax(); /* all elements are in flight in other threads */
	}
	return CCACHE_NONE;
}

int ccache_reclaim(struct ccache *c, uint32_t n)
{
	for (uint32_t k = 0; k < n && q_len(&c->q[Q_FREE]) < n; k++) {
		uint32_t i = CCACHE_NONE;
		for (uint32_t tries = 0; tries < 2 * c->p.capacity + 16 && i == CCACHE_NONE; tries++) {
			balance_hot(c);
			int empty;
			i = reclaim_step(c, &empty);
			if (empty)
				break;
		}
		if (i == CCACHE_NONE)
			break;
		q_push(&c->q[Q_FREE], i);
	}
	return (int)q_len(&c->q[Q_FREE]);
}

/* ---- get / fill / release / remove ---- */

int ccache_get(struct ccache *c, const void *key, uint32_t *idx)
{
	for (unsigned spins = 0;; spins++) {
		int r = lookup_once(c, key, idx);
		if (!r) {
			fetch_add_relaxed(&c->n_hits, 1);
			return CCACHE_HIT;
		}
		if (r == -EAGAIN) {
			if (spins > 64)
				sys_sched_yield();
			else
				cpu_relax();
			continue;
		}
		uint32_t i = take_free(c);
		if (i == CCACHE_NONE)
			return -EAGAIN;
		struct elem *e = &c->elems[i];
		uint32_t bi = hash_key(c, key);
		struct bucket *b = &c->buckets[bi];
		pthread_mutex_lock(&e->lock);
		pthread_mutex_lock(&b->lock);
		if (chain_find(c, b, key) != CCACHE_NONE) {
			/* Another thread inserted the key meanwhile: a detected race. */
			pthread_mutex_unlock(&b->lock);
			pthread_mutex_unlock(&e->lock);
			q_push(&c->q[Q_FREE], i);
			fetch_add_relaxed(&c->n_races, 1);
			continue;
		}
		memcpy(key_of(c, i), key, c->p.key_size);
		e->state = ST_FILLING;
		e->bucket = bi;
		store_relaxed(&e->ref, 0);
		store_release(&e->pins, 1);
		e->next = b->head;
		b->head = i;
		pthread_mutex_unlock(&b->lock);
		pthread_mutex_unlock(&e->lock);
		q_push(&c->q[Q_COLD], i);
		fetch_add_relaxed(&c->n_misses, 1);
		*idx = i;
		return CCACHE_MISS;
	}
}

void ccache_fill_done(struct ccache *c, uint32_t idx)
{
	struct elem *e = &c->elems[idx];
	pthread_mutex_lock(&e->lock);
	e->state = ST_VALID;
	pthread_mutex_unlock(&e->lock);
}

void ccache_fill_abort(struct ccache *c, uint32_t idx)
{
	struct elem *e = &c->elems[idx];
	pthread_mutex_lock(&e->lock);
	chain_unlink(c, idx);
	e->state = ST_FREE;
	pthread_mutex_unlock(&e->lock);
	/* FREE and unhashed: nobody can pin it again, so the order is free. */
	ccache_release(c, idx);
	/* Stays in COLD; the reclaimer moves it to FREE when it comes round. */
}

void ccache_release(struct ccache *c, uint32_t idx)
{
	fetch_sub_acq_rel(&c->elems[idx].pins, 1);
}

int ccache_remove(struct ccache *c, const void *key)
{
	for (;;) {
		uint32_t i;
		struct bucket *b = &c->buckets[hash_key(c, key)];
		pthread_mutex_lock(&b->lock);
		i = chain_find(c, b, key);
		pthread_mutex_unlock(&b->lock);
		if (i == CCACHE_NONE)
			return -ENOENT;
		struct elem *e = &c->elems[i];
		pthread_mutex_lock(&e->lock);
		if (e->state == ST_FREE || memcmp(key_of(c, i), key, c->p.key_size)) {
			pthread_mutex_unlock(&e->lock);
			fetch_add_relaxed(&c->n_races, 1);
			continue;
		}
		if (load_acquire(&e->pins)) {
			pthread_mutex_unlock(&e->lock);
			return -EBUSY;
		}
		chain_unlink(c, i);
		e->state = ST_FREE;
		pthread_mutex_unlock(&e->lock);
		return 0;
	}
}

void ccache_mark_referenced(struct ccache *c, uint32_t idx)
{
	store_relaxed(&c->elems[idx].ref, 1);
}

void ccache_age(struct ccache *c)
{
	uint32_t i = q_pop(&c->q[Q_HOT]);
	if (i == CCACHE_NONE)
		return;
	store_relaxed(&c->elems[i].ref, 0);
	fetch_add_relaxed(&c->n_demotions, 1);
	q_push(&c->q[Q_COLD], i);
}

/* ---- introspection ---- */

uint32_t ccache_capacity(const struct ccache *c) { return c->p.capacity; }
uint32_t ccache_free_count(const struct ccache *c) { return q_len(&c->q[Q_FREE]); }
const void *ccache_key(const struct ccache *c, uint32_t idx) { return key_of(c, idx); }

void ccache_get_counts(const struct ccache *c, struct ccache_counts *o)
{
	o->hits = load_relaxed(&c->n_hits);
	o->misses = load_relaxed(&c->n_misses);
	o->evictions = load_relaxed(&c->n_evictions);
	o->evict_refused = load_relaxed(&c->n_evict_refused);
	o->promotions = load_relaxed(&c->n_promotions);
	o->demotions = load_relaxed(&c->n_demotions);
	o->races = load_relaxed(&c->n_races);
}

int ccache_check(struct ccache *c, uint32_t *nvalid)
{
	uint32_t cap = c->p.capacity, seen_q = 0, hashed = 0;
	/* Every element in exactly one queue. Uses the elements' `bucket`
	 * field-free scratch: count occurrences in a second pass per element. */
	for (int q = 0; q < NQUEUES; q++) {
		struct queue *qq = &c->q[q];
		for (uint64_t p = qq->head; p != qq->tail; p++) {
			uint32_t v = qq->cells[p & qq->mask].val;
			if (v >= cap)
				return -1;
			seen_q++;
		}
	}
	if (seen_q != cap) {
		if (nvalid) *nvalid = seen_q;
		return -2;
	}
	for (uint32_t i = 0; i < cap; i++) {
		uint32_t times = 0;
		for (int q = 0; q < NQUEUES; q++) {
			struct queue *qq = &c->q[q];
			for (uint64_t p = qq->head; p != qq->tail; p++)
				times += qq->cells[p & qq->mask].val == i;
		}
		if (times != 1)
			return -3;
	}
	/* Hash: chains hold only FILLING/VALID elements, each key once, each
	 * element in the bucket its key hashes to. */
	for (uint32_t bi = 0; bi < c->nbuckets; bi++)
		for (uint32_t i = c->buckets[bi].head; i != CCACHE_NONE; i = c->elems[i].next) {
			if (i >= cap || c->elems[i].state == ST_FREE || hash_key(c, key_of(c, i)) != bi)
				return -4;
			for (uint32_t j = c->elems[i].next; j != CCACHE_NONE; j = c->elems[j].next)
				if (!memcmp(key_of(c, i), key_of(c, j), c->p.key_size))
					return -5;
			if (++hashed > cap)
				return -6;
		}
	uint32_t nonfree = 0;
	for (uint32_t i = 0; i < cap; i++)
		nonfree += c->elems[i].state != ST_FREE;
	if (nonfree != hashed)
		return -7;
	if (nvalid)
		*nvalid = hashed;
	return 0;
}
