/* The per-file cache memfd (runtime/fsserver/fcache.c) on a temp file:
 * layout and seals as fs_wire.h says, block states and generations through
 * load, in-place write, truncate and invalidate, zeros past end of file. */
#include "test_fs_shim.h" /* Criterion, or its TSan stand-in */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsserver/fsserver.h"

#define BLK (1u << SHUNT_FCACHE_BLOCK_SHIFT)

static char path[64];
static int fd = -1;
static struct fs_fcache fc;

static void setup(void)
{
	snprintf(path, sizeof(path), "/tmp/shunt-fcache.XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	char *buf = malloc(3 * BLK);
	for (unsigned i = 0; i < 3 * BLK; i++)
		buf[i] = (char)('A' + i % 23);
	cr_assert_eq(pwrite(fd, buf, 2 * BLK + 100, 0), (ssize_t)(2 * BLK + 100));
	free(buf);
	cr_assert_eq(fs_fcache_create(&fc, 42, 2 * BLK + 100), 0);
}

static void teardown(void)
{
	fs_fcache_destroy(&fc);
	close(fd);
	unlink(path);
}

TestSuite(fs_fcache, .init = setup, .fini = teardown);

static uint32_t word(uint64_t b) { return __atomic_load_n(&fc.states[b], __ATOMIC_ACQUIRE); }

Test(fs_fcache, layout)
{
	const struct shunt_fcache_hdr *h = fc.hdr;
	cr_assert_eq(h->magic, SHUNT_FCACHE_MAGIC);
	cr_assert_eq(h->cache_id, 42);
	cr_assert_eq(h->block_shift, SHUNT_FCACHE_BLOCK_SHIFT);
	cr_assert_eq(h->data_off % 4096, 0);
	cr_assert(h->data_off >= SHUNT_FCACHE_STATES_OFF + h->max_blocks * 4);
	cr_assert(h->capacity >= 3 * BLK);
	cr_assert_eq(h->size, 2 * BLK + 100);
	cr_assert_eq(h->dead, 0);
	cr_assert_eq(h->attr_seq % 2, 0);
}

Test(fs_fcache, sealed_for_clients)
{
	int seals = fcntl(fc.memfd, F_GET_SEALS);
	cr_assert_eq(seals & (F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL),
		     F_SEAL_SHRINK | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL);
	/* What a client gets (the read-only description): no writable map,
	 * no write, no resize, no new seals. */
	cr_assert_eq(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fc.rofd, 0), MAP_FAILED);
	cr_assert_eq(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fc.memfd, 0), MAP_FAILED,
		     "even the read-write fd maps no new writable view");
	cr_assert_eq(write(fc.rofd, "x", 1), -1);
	cr_assert_eq(ftruncate(fc.rofd, 1 << 30), -1);
	cr_assert_eq(fcntl(fc.memfd, F_ADD_SEALS, F_SEAL_GROW), -1);
	void *ro = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fc.rofd, 0);
	cr_assert_neq(ro, MAP_FAILED);
	cr_assert_eq(((struct shunt_fcache_hdr *)ro)->cache_id, 42);
	munmap(ro, 4096);
}

Test(fs_fcache, load_and_zero_tail)
{
	cr_assert_eq(word(0), 0);
	cr_assert_eq(fs_fcache_load(&fc, fd, 10, 3 * BLK, 2 * BLK + 100), 0);
	for (unsigned b = 0; b < 3; b++) {
		cr_assert_eq(SHUNT_BLOCK_STATE(word(b)), SHUNT_BLOCK_VALID, "block %u", b);
		cr_assert_eq(word(b) >> 2, 2, "empty->busy->valid: two bumps");
	}
	cr_assert_eq(SHUNT_BLOCK_STATE(word(3)), SHUNT_BLOCK_EMPTY, "past EOF: not loaded");
	cr_assert_eq(fc.data[2 * BLK + 99], (char)('A' + (2 * BLK + 99) % 23));
	for (unsigned i = 2 * BLK + 100; i < 3 * BLK; i++)
		cr_assert_eq(fc.data[i], 0, "byte %u past EOF", i);
	/* Loading again touches nothing. */
	cr_assert_eq(fs_fcache_load(&fc, fd, 0, BLK, 2 * BLK + 100), 0);
	cr_assert_eq(word(0) >> 2, 2);
	cr_assert_eq(fc.valid_blocks, 3);
}

Test(fs_fcache, reload_after_truncate_zeroes_old_bytes)
{
	/* Load all, shrink the file to 10 bytes, reload: what block 0 held
	 * past byte 10 must read as zero now. */
	fs_fcache_load(&fc, fd, 0, 3 * BLK, 2 * BLK + 100);
	cr_assert_eq(ftruncate(fd, 10), 0);
	fs_fcache_set_size(&fc, 10);
	fs_fcache_invalidate(&fc, 0, UINT64_MAX);
	cr_assert_eq(fs_fcache_load(&fc, fd, 0, BLK, 10), 0);
	cr_assert_eq(fc.data[9], (char)('A' + 9 % 23));
	for (unsigned i = 10; i < BLK; i++)
		cr_assert_eq(fc.data[i], 0, "byte %u", i);
}

Test(fs_fcache, write_in_place)
{
	fs_fcache_load(&fc, fd, 0, BLK, 2 * BLK + 100);
	/* Spans valid block 0 and empty block 1: only 0 changes. */
	char buf[64];
	memset(buf, 'z', sizeof(buf));
	fs_fcache_write(&fc, buf, BLK - 32, sizeof(buf), 0);
	cr_assert_eq(fc.data[BLK - 32], 'z');
	cr_assert_eq(fc.data[BLK - 1], 'z');
	cr_assert_eq(word(0) >> 2, 4, "busy and valid again: two more bumps");
	cr_assert_eq(SHUNT_BLOCK_STATE(word(0)), SHUNT_BLOCK_VALID);
	cr_assert_eq(word(1), 0, "an empty block is left for a later load");
}

Test(fs_fcache, truncate_and_invalidate)
{
	fs_fcache_load(&fc, fd, 0, 3 * BLK, 2 * BLK + 100);
	cr_assert_eq(fs_fcache_set_size(&fc, BLK + 10), 0);
	cr_assert_eq(fc.hdr->size, BLK + 10);
	fs_fcache_invalidate(&fc, BLK, 2 * BLK + 100);
	cr_assert_eq(SHUNT_BLOCK_STATE(word(0)), SHUNT_BLOCK_VALID);
	cr_assert_eq(SHUNT_BLOCK_STATE(word(1)), SHUNT_BLOCK_EMPTY);
	cr_assert_eq(SHUNT_BLOCK_STATE(word(2)), SHUNT_BLOCK_EMPTY);
	cr_assert_eq(word(1) >> 2, 3, "valid->empty bumps too");
	cr_assert_eq(fc.valid_blocks, 1);
	fs_fcache_invalidate(&fc, 0, UINT64_MAX);
	cr_assert_eq(fc.valid_blocks, 0);
}

Test(fs_fcache, grows_capacity)
{
	uint64_t cap = fc.hdr->capacity;
	cr_assert_eq(fs_fcache_set_size(&fc, cap * 4), 0);
	cr_assert(fc.hdr->capacity >= cap * 4);
	struct stat st;
	fstat(fc.memfd, &st);
	cr_assert_eq((uint64_t)st.st_size, fc.hdr->data_off + fc.hdr->capacity);
	cr_assert(fs_fcache_covers(&fc, fs_cache_max_file));
	cr_assert(!fs_fcache_covers(&fc, fs_cache_max_file + 1));
}

Test(fs_fcache, stat_seqlock)
{
	struct shunt_stat st = { .size = 7, .mode = 0100644 };
	uint32_t s0 = fc.hdr->attr_seq;
	fs_fcache_set_stat(&fc, &st);
	cr_assert_eq(fc.hdr->attr_seq, s0 + 2);
	cr_assert_eq(fc.hdr->st.size, 7);
}
