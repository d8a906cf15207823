/* The malloc family. Each interposer is one check and a forward: allocations
 * of at least far_min go to far memory (runtime/far/heap.c) while it is on,
 * pointers inside the far region are freed there; everything else goes to
 * glibc's own entry points (__libc_malloc and friends, which malloc is an
 * alias of), so with far memory off a program runs on glibc's malloc
 * exactly as before, at the cost of one compare and one jump. A far
 * allocation that cannot be served falls back to glibc. */
#include "preload.h"
#include "far/heap.h"

#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);

/* glibc's own versions of the entry points that have no __libc_ alias. */
#define GLIBC(name) ((__typeof__(&name))glibc_sym(#name, &glibc_##name))
static void *glibc_malloc_usable_size, *glibc_posix_memalign, *glibc_aligned_alloc;
static void *glibc_sym(const char *name, void **slot)
{
	void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (__builtin_expect(!f, 0)) {
		f = dlvsym(RTLD_NEXT, name, "GLIBC_2.2.5");
		if (!f)
			f = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, f, __ATOMIC_RELEASE);
	}
	return f;
}

static void *far_or_local(size_t n, size_t align)
{
	void *p = far_heap_alloc(n, align);
	return p ? p : align ? __libc_memalign(align, n) : __libc_malloc(n);
}

SHUNT_EXPORT void *malloc(size_t n) { return far_heap_wants(n) ? far_or_local(n, 0) : __libc_malloc(n); }

SHUNT_EXPORT void free(void *p)
{
	if (far_heap_owns(p))
		far_heap_free(p);
	else
		__libc_free(p);
}

SHUNT_EXPORT void *calloc(size_t n, size_t m)
{
	size_t t;
	if (__builtin_expect(__builtin_mul_overflow(n, m, &t) || !far_heap_wants(t), 1))
		return __libc_calloc(n, m);
	void *p = far_heap_alloc(t, 0); /* fresh far ranges read as zeros */
	return p ? p : __libc_calloc(n, m);
}

static void *realloc_slow(void *p, size_t n)
{
	if (far_heap_owns(p)) {
		if (!n) {
			far_heap_free(p); /* glibc's realloc(p, 0) frees and returns NULL */
			return NULL;
		}
		if (far_heap_wants(n)) {
			void *q = far_heap_realloc(p, n);
			if (q)
				return q;
		}
		size_t old = far_heap_usable(p);
		void *q = __libc_malloc(n);
		if (!q)
			return NULL;
		memcpy(q, p, old < n ? old : n);
		far_heap_free(p);
		return q;
	}
	/* A local block growing past far_min moves to far memory. */
	void *q = far_heap_alloc(n, 0);
	if (!q)
		return __libc_realloc(p, n);
	size_t old = GLIBC(malloc_usable_size)(p);
	memcpy(q, p, old < n ? old : n);
	__libc_free(p);
	return q;
}

SHUNT_EXPORT void *realloc(void *p, size_t n)
{
	if (__builtin_expect(!far_heap_owns(p) && (!p || !far_heap_wants(n)), 1))
		return p ? __libc_realloc(p, n) : malloc(n);
	return realloc_slow(p, n);
}

SHUNT_EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
	size_t t;
	if (__builtin_mul_overflow(n, m, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, t);
}

SHUNT_EXPORT void *memalign(size_t a, size_t n)
{
	return far_heap_wants(n) && a && !(a & (a - 1)) ? far_or_local(n, a) : __libc_memalign(a, n);
}

SHUNT_EXPORT void *aligned_alloc(size_t a, size_t n)
{
	return far_heap_wants(n) && a && !(a & (a - 1)) ? far_or_local(n, a) : GLIBC(aligned_alloc)(a, n);
}

SHUNT_EXPORT int posix_memalign(void **out, size_t a, size_t n)
{
	if (__builtin_expect(!far_heap_wants(n), 1) || !a || (a & (a - 1)) || a % sizeof(void *))
		return GLIBC(posix_memalign)(out, a, n);
	*out = far_or_local(n, a);
	return *out ? 0 : ENOMEM;
}

SHUNT_EXPORT void *valloc(size_t n) { return far_heap_wants(n) ? far_or_local(n, 4096) : __libc_valloc(n); }

SHUNT_EXPORT void *pvalloc(size_t n)
{
	return far_heap_wants(n) ? far_or_local((n + 4095) & ~(size_t)4095, 4096) : __libc_pvalloc(n);
}

SHUNT_EXPORT size_t malloc_usable_size(void *p)
{
	return far_heap_owns(p) ? far_heap_usable(p) : GLIBC(malloc_usable_size)(p);
}

/* After the file client (priority 101): far memory, if the configuration asks. */
__attribute__((constructor(102))) static void shunt_malloc_init(void) { far_setup_from_config(); }
