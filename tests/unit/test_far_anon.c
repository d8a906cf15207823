/* Far anonymous mappings (runtime/far/anon.c) through its API with an
 * embedded memory server: which mmaps are placed in the region, the page
 * owner bookkeeping behind munmap/mremap/mprotect/MAP_FIXED, and the errors
 * the kernel would give. The kernel-semantics checks with real programs are
 * tests/helpers/far_mmap.c (tests/integration/far_mmap.sh). */
#include "test_ccache_tsan.h" /* Criterion, or its TSan stand-in */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "far/far.h"
#include "far/anon.h"

#define MiB (1ul << 20)
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static void up(void)
{
	/* first touches through the handler: a fault proves a range is registered */
	struct far_params p = { .region_size = 1ull << 30, .local_mem = 8 * MiB, .no_zero_map = 1 };
	char err[256] = "";
	cr_assert_eq(far_init(&p, err, sizeof(err)), 0, "far_init: %s", err);
	cr_assert_eq(far_arena_init(256 << 10, err, sizeof(err)), 0, "far_arena_init: %s", err);
	cr_assert_eq(far_anon_init(256 << 10), 0);
}

static long err_of(void *p) { return (unsigned long)p > -4096ul ? (long)p : 0; }

Test(far_anon, only_candidates_are_placed_in_the_region, .timeout = 60)
{
	up();
	void *p = far_anon_mmap(NULL, MiB, RW, ANON, -1, 0);
	cr_assert(far_contains(p));
	cr_assert(far_anon_overlaps(p, 1) && !far_anon_overlaps(&p, 8));
	struct { int prot, flags; size_t n; } native[] = {
		{ RW, ANON, 4096 },                             /* small */
		{ PROT_NONE, ANON, MiB },                       /* a reservation */
		{ RW, MAP_SHARED | MAP_ANONYMOUS, MiB },        /* shared */
		{ RW, ANON | MAP_STACK, MiB },
		{ RW, ANON | MAP_GROWSDOWN, MiB },
		{ PROT_READ | PROT_WRITE | PROT_EXEC, ANON, MiB },
	};
	for (unsigned i = 0; i < sizeof(native) / sizeof(native[0]); i++) {
		void *q = far_anon_mmap(NULL, native[i].n, native[i].prot, native[i].flags, -1, 0);
		cr_assert(!err_of(q), "case %u: error %ld", i, err_of(q));
		cr_assert(!far_contains(q), "case %u placed in far memory", i);
		munmap(q, native[i].n);
	}
	cr_assert_eq(far_anon_munmap(p, MiB), 0);
	far_shutdown();
}

Test(far_anon, unmapped_ranges_are_reused_and_read_zero, .timeout = 60)
{
	up();
	unsigned char *p = far_anon_mmap(NULL, 4 * MiB, RW, ANON, -1, 0);
	memset(p, 0x5a, 4 * MiB);
	cr_assert_eq(far_anon_munmap(p + MiB, 2 * MiB), 0);
	cr_assert_eq(p[0], 0x5a);
	cr_assert_eq(p[3 * MiB], 0x5a);
	unsigned char *q = far_anon_mmap(NULL, 2 * MiB, RW, ANON, -1, 0);
	cr_assert_eq(q, p + MiB, "the hole is reused first: %p vs %p", (void *)q, (void *)(p + MiB));
	for (size_t i = 0; i < 2 * MiB; i += 4096)
		cr_assert_eq(q[i], 0);
	/* munmap of pages that are not the program's: nothing happens, 0 */
	cr_assert_eq(far_anon_munmap(p + 64 * MiB, MiB), 0);
	cr_assert_eq(far_anon_munmap(p + 1, 4096), -EINVAL);
	cr_assert_eq(far_anon_munmap(p, 0), -EINVAL);
	cr_assert_eq(far_anon_munmap(p, 4 * MiB), 0);
	far_shutdown();
}

Test(far_anon, fixed_and_mprotect_only_over_the_programs_own_pages, .timeout = 60)
{
	up();
	unsigned char *p = far_anon_mmap(NULL, 2 * MiB, RW, ANON, -1, 0);
	memset(p, 7, 2 * MiB);
	/* not the program's: refused */
	cr_assert_eq(err_of(far_anon_mmap(p + 8 * MiB, MiB, RW, ANON | MAP_FIXED, -1, 0)), -ENOMEM);
	cr_assert_eq(far_anon_mprotect(p + 8 * MiB, MiB, PROT_READ), -EACCES);
	/* its own: read-only leaves far memory with the data */
	cr_assert_eq(far_anon_mprotect(p, MiB, PROT_READ), 0);
	far_evict_all();
	for (size_t i = 0; i < MiB; i += 4096)
		cr_assert_eq(p[i], 7);
	cr_assert_eq(far_anon_mprotect(p, MiB, RW), 0);
	p[0] = 9;
	/* MAP_FIXED over its own far pages: fresh zeros, still far (mprotect
	 * works on it as on far pages: the pages left far memory above do not) */
	unsigned char *f = far_anon_mmap(p + MiB, MiB, RW, ANON | MAP_FIXED, -1, 0);
	cr_assert_eq(f, p + MiB);
	cr_assert_eq(f[0], 0);
	cr_assert_eq(err_of(far_anon_mremap(p, 2 * MiB, 3 * MiB, MREMAP_MAYMOVE, NULL)), -EFAULT,
		     "native and far halves taken for one mapping");
	/* a read-only MAP_FIXED over far pages: they leave far memory */
	unsigned char *g = far_anon_mmap(p + MiB, MiB, PROT_READ, ANON | MAP_FIXED, -1, 0);
	cr_assert_eq(g, p + MiB);
	cr_assert_eq(g[0], 0);
	cr_assert_eq(far_anon_mprotect(p, 2 * MiB, RW), 0);
	/* a range half left far memory, half still far: not one mapping for mremap */
	unsigned char *q = far_anon_mmap(NULL, 2 * MiB, RW, ANON, -1, 0);
	cr_assert_eq(far_anon_mprotect(q, MiB, PROT_READ), 0);
	cr_assert_eq(err_of(far_anon_mremap(q, 2 * MiB, 3 * MiB, MREMAP_MAYMOVE, NULL)), -EFAULT);
	/* the pages that left far memory go back to the region when unmapped */
	cr_assert_eq(far_anon_munmap(q, 2 * MiB), 0);
	unsigned char *r = far_anon_mmap(NULL, 2 * MiB, RW, ANON, -1, 0);
	cr_assert_eq(r, q, "the restored range is reused: %p vs %p", (void *)r, (void *)q);
	struct far_counts c0, c1;
	far_get_counts(&c0);
	r[0] = 1; /* registered with userfaultfd again: a zero-fill fault */
	cr_assert_eq(r[4096], 0);
	far_get_counts(&c1);
	cr_assert_gt(c1.faults_zero, c0.faults_zero, "no zero-fill fault on a restored range");
	far_shutdown();
}
