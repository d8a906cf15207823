/* The allocator every program runs on under libshunt.so: Debian's jemalloc
 * 5.3 (libjemalloc_pic.a), linked into libshunt.so with its public names
 * renamed (jemalloc.syms) and hidden (--exclude-libs), so its malloc never
 * competes with the interposers in preload/malloc.c, and its own mmap,
 * munmap, madvise, mprotect, open, close and readlink calls are raw system
 * calls (native.c) that no interposer of ours sees: jemalloc's local arenas
 * never land in far memory and never touch a served path. Checked here:
 * libjemalloc.so.2 as a DT_NEEDED of libshunt.so loads (only dlopen hits
 * its static-TLS limit), but every mmap it makes goes through our mmap
 * interposer (5 or more per process), which this build avoids. */
#ifndef SHUNT_ALLOC_H
#define SHUNT_ALLOC_H

#include <stddef.h>

void *shunt_je_malloc(size_t n);
void shunt_je_free(void *p);
void *shunt_je_calloc(size_t n, size_t m);
void *shunt_je_realloc(void *p, size_t n);
void *shunt_je_aligned_alloc(size_t a, size_t n);
int shunt_je_posix_memalign(void **out, size_t a, size_t n);
void *shunt_je_memalign(size_t a, size_t n);
void *shunt_je_valloc(size_t n);
size_t shunt_je_malloc_usable_size(void *p);
void *shunt_je_mallocx(size_t n, int flags);
void *shunt_je_rallocx(void *p, size_t n, int flags);
size_t shunt_je_sallocx(const void *p, int flags);
void shunt_je_dallocx(void *p, int flags);
size_t shunt_je_nallocx(size_t n, int flags);
int shunt_je_mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

/* jemalloc's fork handlers (its locks), which jemalloc hands to
 * pthread_atfork at its start-up; that call is renamed to native.c, which
 * keeps them, so that they run in an order set by far memory's fork
 * handlers (runtime/far/setup.c): jemalloc's locks are taken before far
 * memory's, since a thread in a far extent hook holds an arena lock while
 * it waits for far memory's. With no handlers kept (a test binary), no-ops. */
void alloc_fork_prepare(void);
void alloc_fork_parent(void);
void alloc_fork_child(void);

/* jemalloc's flag encoding (jemalloc/jemalloc.h, 5.3), without including
 * that header: it declares the unprefixed names. */
#define SHUNT_MALLOCX_LG_ALIGN(la) ((int)(la))
#define SHUNT_MALLOCX_ZERO         ((int)0x40)
#define SHUNT_MALLOCX_TCACHE_NONE  ((int)(((unsigned)(-1 + 2)) << 8))
#define SHUNT_MALLOCX_ARENA(a)     ((int)(((unsigned)(a) + 1) << 20))

#endif
