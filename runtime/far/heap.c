/* The far side of the malloc layer: allocations of at least far_min, page-
 * granular, carved from the far region; their lengths kept in a local table
 * (never inside far memory, so freeing touches no far page). Called only by
 * preload/malloc.c. Never calls malloc.
 *
 * jemalloc far arenas were the plan (experimental.arenas_create_ext with
 * extent hooks over far_map_aligned/far_discard), but Debian's
 * libjemalloc.so.2 cannot be dlopen()ed: its 2.6 KiB of initial-exec TLS
 * does not fit glibc's static TLS surplus ("cannot allocate memory in static
 * TLS block", measured here), and linking it into libshunt.so would load it,
 * its constructor and its exported operator new into every program, far
 * memory on or off. Large allocations are page-granular in jemalloc as well,
 * so this keeps its behaviour for them; small ones stay with glibc. */
#include "far/far_internal.h"
#include "far/heap.h"
#include "far/sites.h"
#include "common/atomics.h"
#include "common/log.h"
#include "common/sys.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

size_t far_malloc_min = SIZE_MAX; /* read by the interposers on every call */
uintptr_t far_malloc_lo;
uintptr_t far_malloc_len;         /* 0 while far memory was never on */

static uint32_t *len_pages;       /* per region page: pages of the allocation starting there, | LEN_SAMPLED */
#define LEN_SAMPLED 0x80000000u   /* its pages carry an allocation site (sites.c) */
#define LEN_PAGES(v) ((v) & ~LEN_SAMPLED)
static uint32_t child_mode;       /* a fork child: far memory off, ranges plain memory */

int far_heap_init(size_t min)
{
	len_pages = sys_mmap(NULL, far.npages * sizeof(uint32_t), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sys_mmap_failed(len_pages)) {
		len_pages = NULL;
		return -ENOMEM;
	}
	far_malloc_lo = (uintptr_t)far.base;
	store_release(&far_malloc_len, (uintptr_t)far.size);
	store_release(&far_malloc_min, min < FAR_PAGE ? FAR_PAGE : min);
	return 0;
}

void far_heap_off_in_child(void)
{
	store_release(&far_malloc_min, SIZE_MAX);
	store_release(&child_mode, 1);
}

static uint64_t pages_for(size_t n) { return ((uint64_t)n + FAR_PAGE - 1) / FAR_PAGE; }

void *far_heap_alloc(size_t n, size_t align)
{
	if (!n || n > far.size || (uint64_t)pages_for(n) >= LEN_SAMPLED)
		return NULL;
	char *p = far_map_aligned(n, align);
	if (!p)
		return NULL;
	uint32_t v = (uint32_t)pages_for(n);
	if (far_sites_record(p, n))
		v |= LEN_SAMPLED;
	len_pages[far_page_of(p)] = v;
	return p;
}

static void release_range(char *p, uint64_t bytes)
{
	if (load_acquire(&child_mode)) {
		/* Plain memory in a fork child: zero it, give the pages back. */
		sys_call(SYS_madvise, p, bytes, MADV_DONTNEED, 0, 0, 0);
		return; /* the VA stays taken: far_map is off here anyway */
	}
	far_unmap(p, bytes);
}

void far_heap_free(void *ptr)
{
	char *p = ptr;
	uint64_t pg = far_page_of(p);
	uint32_t v = len_pages[pg], n = LEN_PAGES(v);
	if ((uint64_t)(p - far.base) % FAR_PAGE || !n)
		log_die("free(): invalid far-memory pointer %p", ptr);
	len_pages[pg] = 0;
	if (v & LEN_SAMPLED)
		far_sites_forget(p, (uint64_t)n * FAR_PAGE);
	release_range(p, (uint64_t)n * FAR_PAGE);
}

size_t far_heap_usable(const void *ptr)
{
	const char *p = ptr;
	uint64_t pg = far_page_of(p);
	if ((uint64_t)(p - far.base) % FAR_PAGE)
		return 0;
	return (size_t)LEN_PAGES(len_pages[pg]) * FAR_PAGE;
}

void *far_heap_realloc(void *ptr, size_t n)
{
	char *p = ptr;
	uint64_t pg = far_page_of(p);
	uint32_t v = len_pages[pg], old = LEN_PAGES(v), sampled = v & LEN_SAMPLED;
	uint64_t want = pages_for(n);
	if (!old || !want || want >= LEN_SAMPLED)
		return NULL;
	if (want == old)
		return p;
	if (load_acquire(&child_mode))
		return NULL; /* the caller moves it to local memory */
	if (want < old) {
		if (sampled)
			far_sites_forget(p + want * FAR_PAGE, (old - want) * FAR_PAGE);
		far_unmap(p + want * FAR_PAGE, (old - want) * FAR_PAGE);
		len_pages[pg] = (uint32_t)want | sampled;
		return p;
	}
	if (!far_map_at(p + (uint64_t)old * FAR_PAGE, (want - old) * FAR_PAGE)) {
		/* grown in place: nothing moves; the new tail is not attributed */
		len_pages[pg] = (uint32_t)want | sampled;
		return p;
	}
	char *q = far_map(want * FAR_PAGE);
	if (!q)
		return NULL;
	/* Copies through the fault path: resident or fetched, never lost. */
	memcpy(q, p, (size_t)old * FAR_PAGE);
	uint32_t nv = (uint32_t)want;
	if (far_sites_record(q, want * FAR_PAGE))
		nv |= LEN_SAMPLED;
	len_pages[far_page_of(q)] = nv;
	len_pages[pg] = 0;
	if (sampled)
		far_sites_forget(p, (uint64_t)old * FAR_PAGE);
	far_unmap(p, (uint64_t)old * FAR_PAGE);
	return q;
}
