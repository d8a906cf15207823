/* Far allocation sites for the SHUNT_STATS report: which call stacks own the
 * far bytes and take the faults. Far allocations are sampled (every one of
 * 4 MiB or more, one in four below, bytes scaled back up), unwound with
 * libunwind's local unwinder, hashed into a fixed table; the pages of a
 * sampled allocation remember its site so the fault handler can count.
 * Runs only with far memory on and SHUNT_STATS set. Never calls malloc. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "far/far_internal.h"
#include "far/sites.h"
#include "common/atomics.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/sys.h"

#include <dlfcn.h>
#include <string.h>
#include <sys/mman.h>

#define SITES 256  /* power of two */
#define DEPTH 5
#define SKIP  3    /* far_sites_record, far_arena_alloc, the interposer */

struct site {
	uint64_t hash;           /* 0: free slot; claimed by CAS */
	void *pc[DEPTH];         /* written once by the claimer, read at exit */
	uint32_t ready;
	uint64_t bytes, allocs, faults;
};

static struct site sites[SITES];
static uint16_t *page_site;  /* per region page: site index + 1 of a sampled allocation, 0 none */
static uint32_t on;
static __thread uint32_t tls_tick __attribute__((tls_model("initial-exec")));

int far_sites_init(void)
{
	page_site = sys_mmap(NULL, far.npages * sizeof(uint16_t), PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sys_mmap_failed(page_site)) {
		page_site = NULL;
		return -1;
	}
	store_release(&on, 1);
	return 0;
}

static void mark_pages(uint64_t first, uint64_t n, uint16_t v)
{
	for (uint64_t i = 0; i < n; i++)
		store_relaxed(&page_site[first + i], v);
}

int far_sites_record(void *p, size_t n)
{
	if (!load_acquire(&on))
		return 0;
	uint64_t scale = 1;
	if (n < (4u << 20)) {
		if (tls_tick++ % 4)
			return 0;
		scale = 4;
	}
	void *bt[DEPTH + SKIP];
	int got = unw_backtrace(bt, DEPTH + SKIP);
	if (got <= SKIP)
		return 0;
	void *pc[DEPTH] = { 0 };
	uint64_t h = 0xcbf29ce484222325ull;
	for (int i = SKIP; i < got; i++) {
		pc[i - SKIP] = bt[i];
		h = (h ^ (uint64_t)bt[i]) * 0x100000001b3ull;
	}
	h |= 1;
	for (uint32_t k = 0; k < SITES; k++) {
		uint32_t i = (uint32_t)(h + k) & (SITES - 1);
		uint64_t cur = load_acquire(&sites[i].hash);
		if (cur == 0) {
			uint64_t zero = 0;
			if (cas_acq_rel(&sites[i].hash, &zero, h)) {
				memcpy(sites[i].pc, pc, sizeof(pc));
				store_release(&sites[i].ready, 1);
				cur = h;
			} else {
				cur = zero;
			}
		}
		if (cur != h)
			continue;
		fetch_add_relaxed(&sites[i].bytes, (uint64_t)n * scale);
		fetch_add_relaxed(&sites[i].allocs, scale);
		mark_pages(far_page_of(p), (n + FAR_PAGE - 1) / FAR_PAGE, (uint16_t)(i + 1));
		return 1;
	}
	return 0; /* table full: not attributed */
}

void far_sites_forget(void *p, size_t n)
{
	if (load_acquire(&on))
		mark_pages(far_page_of(p), (n + FAR_PAGE - 1) / FAR_PAGE, 0);
}

void far_sites_fault(uint64_t pg)
{
	if (!load_relaxed(&on))
		return;
	uint16_t s = load_relaxed(&page_site[pg]);
	if (s)
		fetch_add_relaxed(&sites[s - 1].faults, 1);
}

static void print_site(int fd, const struct site *s)
{
	for (int d = 0; d < DEPTH && s->pc[d]; d++) {
		Dl_info di;
		if (dladdr(s->pc[d], &di) && di.dli_sname)
			stats_printf(fd, "%s%s+0x%lx", d ? " < " : "", di.dli_sname,
				     (unsigned long)((char *)s->pc[d] - (char *)di.dli_saddr));
		else if (di.dli_fname)
			stats_printf(fd, "%s%s@0x%lx", d ? " < " : "", strrchr(di.dli_fname, '/') ? strrchr(di.dli_fname, '/') + 1 : di.dli_fname,
				     (unsigned long)((char *)s->pc[d] - (char *)di.dli_fbase));
		else
			stats_printf(fd, "%s%p", d ? " < " : "", s->pc[d]);
	}
}

/* The indexes of the top n sites by bytes (by_faults 0) or faults (1). */
static int top(int by_faults, int *out, int n)
{
	int k = 0;
	uint8_t used[SITES] = { 0 };
	for (; k < n; k++) {
		int best = -1;
		uint64_t bv = 0;
		for (int i = 0; i < SITES; i++) {
			if (used[i] || !load_acquire(&sites[i].ready))
				continue;
			uint64_t v = by_faults ? load_relaxed(&sites[i].faults) : load_relaxed(&sites[i].bytes);
			if (v > bv)
				bv = v, best = i;
		}
		if (best < 0)
			break;
		used[best] = 1;
		out[k] = best;
	}
	return k;
}

void far_sites_text(int fd)
{
	if (!load_acquire(&on))
		return;
	int idx[5];
	for (int by = 0; by < 2; by++) {
		int n = top(by, idx, 5);
		if (!n)
			continue;
		stats_printf(fd, "far allocation sites by %s (sampled):\n", by ? "faults" : "bytes");
		for (int i = 0; i < n; i++) {
			const struct site *s = &sites[idx[i]];
			stats_printf(fd, "  %10lu KiB %8lu faults %6lu allocs  ", (unsigned long)(load_relaxed(&s->bytes) >> 10),
				     (unsigned long)load_relaxed(&s->faults), (unsigned long)load_relaxed(&s->allocs));
			print_site(fd, s);
			stats_printf(fd, "\n");
		}
	}
}

void far_sites_json(int fd)
{
	if (!load_acquire(&on))
		return;
	int idx[5];
	for (int by = 0; by < 2; by++) {
		int n = top(by, idx, 5);
		stats_printf(fd, ",\n  \"far_top_sites_by_%s\": [", by ? "faults" : "bytes");
		for (int i = 0; i < n; i++) {
			const struct site *s = &sites[idx[i]];
			stats_printf(fd, "%s{\"bytes\": %lu, \"faults\": %lu, \"allocs\": %lu, \"stack\": \"", i ? ", " : "",
				     (unsigned long)load_relaxed(&s->bytes), (unsigned long)load_relaxed(&s->faults),
				     (unsigned long)load_relaxed(&s->allocs));
			print_site(fd, s);
			stats_printf(fd, "\"}");
		}
		stats_printf(fd, "]");
	}
}
