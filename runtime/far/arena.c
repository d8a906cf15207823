/* The far arena: one jemalloc arena (experimental.arenas_create_ext) whose
 * extent hooks carve extents out of the far region (far_map_aligned,
 * far_unmap, far_discard); jemalloc's metadata for it stays in local memory
 * (metadata_use_hooks off). Allocations of at least far_min come here from
 * preload/malloc.c with the thread cache bypassed. The hooks run under
 * jemalloc's locks: they never call malloc and never touch a far page. */
#include "far/far_internal.h"
#include "far/arena.h"
#include "far/sites.h"
#include "alloc/alloc.h"
#include "common/atomics.h"
#include "common/log.h"
#include "common/sys.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <jemalloc/jemalloc.h> /* extent_hooks_t only; the API is called by its shunt_je_ names */

_Static_assert(SHUNT_MALLOCX_ZERO == MALLOCX_ZERO && SHUNT_MALLOCX_TCACHE_NONE == MALLOCX_TCACHE_NONE &&
		       SHUNT_MALLOCX_ARENA(5) == MALLOCX_ARENA(5) && SHUNT_MALLOCX_LG_ALIGN(12) == MALLOCX_LG_ALIGN(12),
	       "alloc.h mirrors jemalloc's flag encoding");

size_t far_malloc_min = SIZE_MAX; /* read by the interposers on every call */
uintptr_t far_malloc_lo;
uintptr_t far_malloc_len;         /* 0 while far memory was never on */

static int arena_flags;           /* MALLOCX_ARENA(far arena) | MALLOCX_TCACHE_NONE */
static uint32_t child_mode;       /* a fork child: far memory off, extents plain memory */

/* ---- extent hooks ----
 * jemalloc's convention is inverted: a bool hook returns false on success
 * and true on failure (or "opt out": jemalloc keeps the extent). The far
 * calls return 0/-errno. Each adapter converts at its return and nowhere
 * else. */

static void *hook_alloc(extent_hooks_t *h, void *want, size_t size, size_t align, bool *zero, bool *commit, unsigned ind)
{
	(void)h, (void)ind;
	if (load_acquire(&child_mode))
		return NULL;
	void *p;
	if (want)
		p = far_map_at(want, size) ? NULL : want;
	else
		p = far_map_aligned(size, align);
	if (!p)
		return NULL;
	*zero = true;   /* a fresh far range reads as zeros (first touch is zero-filled) */
	*commit = true; /* and needs no commit */
	return p;
}

static bool hook_dalloc(extent_hooks_t *h, void *p, size_t size, bool committed, unsigned ind)
{
	(void)h, (void)committed, (void)ind;
	if (load_acquire(&child_mode))
		return true; /* opt out: the child keeps the range as plain memory */
	return far_unmap(p, size) != 0;
}

static void hook_destroy(extent_hooks_t *h, void *p, size_t size, bool committed, unsigned ind)
{
	(void)h, (void)committed, (void)ind;
	if (!load_acquire(&child_mode))
		far_unmap(p, size);
}

static bool hook_commit(extent_hooks_t *h, void *p, size_t size, size_t off, size_t len, unsigned ind)
{
	(void)h, (void)p, (void)size, (void)off, (void)len, (void)ind;
	return false; /* far pages are always usable: nothing to do, success */
}

/* Drop the pages (they read as zeros again) and their remote copies. The
 * range stays jemalloc's and is usually handed out again soon: map it to
 * the zero page again while there is room, as a fresh one. */
static bool discard(char *p, size_t off, size_t len)
{
	if (load_acquire(&child_mode))
		return sys_call(SYS_madvise, p + off, len, MADV_DONTNEED, 0, 0, 0) != 0;
	if (far_discard(p + off, len))
		return true;
	far_prefill(p + off, len);
	return false;
}

static bool hook_decommit(extent_hooks_t *h, void *p, size_t size, size_t off, size_t len, unsigned ind)
{
	(void)h, (void)size, (void)ind;
	return discard(p, off, len);
}

static bool hook_purge_forced(extent_hooks_t *h, void *p, size_t size, size_t off, size_t len, unsigned ind)
{
	(void)h, (void)size, (void)ind;
	return discard(p, off, len);
}

static bool hook_split(extent_hooks_t *h, void *p, size_t size, size_t a, size_t b, bool committed, unsigned ind)
{
	(void)h, (void)p, (void)size, (void)a, (void)b, (void)committed, (void)ind;
	return false; /* any page-aligned piece of the region stands alone: success */
}

static bool hook_merge(extent_hooks_t *h, void *a, size_t asz, void *b, size_t bsz, bool committed, unsigned ind)
{
	(void)h, (void)a, (void)asz, (void)b, (void)bsz, (void)committed, (void)ind;
	return false; /* adjacent ranges of one region: success */
}

static extent_hooks_t far_hooks = {
	.alloc = hook_alloc,
	.dalloc = hook_dalloc,
	.destroy = hook_destroy,
	.commit = hook_commit,
	.decommit = hook_decommit,
	.purge_lazy = NULL, /* opt out: jemalloc then purges with purge_forced, whose zeros it can count on */
	.purge_forced = hook_purge_forced,
	.split = hook_split,
	.merge = hook_merge,
};

/* experimental.arenas_create_ext's argument (jemalloc 5.3's arena_config_t,
 * not in the public header). */
struct je_arena_config {
	extent_hooks_t *extent_hooks;
	bool metadata_use_hooks;
};

int far_arena_init(size_t min, char *err, size_t errlen)
{
	struct je_arena_config cfg = { &far_hooks, false };
	unsigned ind;
	size_t sz = sizeof(ind);
	int r = shunt_je_mallctl("experimental.arenas_create_ext", &ind, &sz, &cfg, sizeof(cfg));
	if (r) {
		log_format(err, errlen, "jemalloc refused the far arena (experimental.arenas_create_ext: error %d)", r);
		return -r;
	}
	/* Freed far extents are purged at once, not kept dirty for seconds:
	 * a dirty page kept for reuse would be evicted and written back. */
	char name[64];
	ssize_t zero = 0;
	log_format(name, sizeof(name), "arena.%u.dirty_decay_ms", ind);
	r = shunt_je_mallctl(name, NULL, NULL, &zero, sizeof(zero));
	log_format(name, sizeof(name), "arena.%u.muzzy_decay_ms", ind);
	if (!r)
		r = shunt_je_mallctl(name, NULL, NULL, &zero, sizeof(zero));
	if (r) {
		log_format(err, errlen, "jemalloc refused the far arena's decay settings (error %d)", r);
		return -r;
	}
	arena_flags = SHUNT_MALLOCX_ARENA(ind) | SHUNT_MALLOCX_TCACHE_NONE;
	far_malloc_lo = (uintptr_t)far.base;
	store_release(&far_malloc_len, (uintptr_t)far.size);
	store_release(&far_malloc_min, min < FAR_PAGE ? FAR_PAGE : min);
	return 0;
}

void far_arena_off_in_child(void)
{
	store_release(&far_malloc_min, SIZE_MAX);
	store_release(&child_mode, 1);
}

void *far_arena_alloc(size_t n, size_t align, int zero)
{
	int fl = arena_flags | (zero ? SHUNT_MALLOCX_ZERO : 0);
	if (align > 1)
		fl |= SHUNT_MALLOCX_LG_ALIGN(__builtin_ctzl(align));
	void *p = shunt_je_mallocx(n, fl);
	if (p)
		far_sites_record(p, n);
	return p;
}

void far_arena_free(void *p)
{
	far_sites_forget(p, shunt_je_sallocx(p, 0));
	shunt_je_dallocx(p, SHUNT_MALLOCX_TCACHE_NONE);
}

void *far_arena_realloc(void *p, size_t n)
{
	if (load_acquire(&child_mode))
		return NULL; /* the caller moves it to local memory */
	size_t old = shunt_je_sallocx(p, 0);
	void *q = shunt_je_rallocx(p, n, arena_flags);
	if (q) {
		far_sites_forget(p, old);
		far_sites_record(q, n);
	}
	return q;
}

size_t far_arena_usable(const void *p) { return shunt_je_sallocx(p, 0); }
