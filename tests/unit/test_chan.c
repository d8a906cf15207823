/* The polled rings (runtime/channel): ordering, wrap-around, async
 * completions, the wake-up protocol in both directions, and a server that
 * refuses impossible indices from a hostile client. */
#include "test_ccache_tsan.h" /* Criterion, or its in-process stand-in under TSan */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "channel/chan.h"
#include "common/atomics.h"

static void *shm;

/* Fresh session memory for each test (also when the TSan stand-in runs
 * every test in one process). */
static void setup(void)
{
	if (shm)
		munmap(shm, chan_shm_size(2));
	shm = mmap(NULL, chan_shm_size(2), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert(shm != MAP_FAILED);
}

/* A server thread: echoes each command's off + len as the result. */
struct server {
	pthread_t t;
	struct shunt_chan_ctl *ctl;
	uint32_t sq_head, cq_tail;
	int stop;
	unsigned served;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	while (!load_acquire(&s->stop)) {
		struct shunt_sqe sqe;
		int r = chan_server_take(s->ctl, &s->sq_head, &sqe);
		if (r <= 0) {
			cpu_relax();
			continue;
		}
		struct shunt_cqe cqe = { .user_data = sqe.user_data, .res = (int64_t)(sqe.off + sqe.len) };
		while (chan_server_complete(s->ctl, &s->cq_tail, &cqe) == -ENOSPC)
			cpu_relax();
		s->served++;
	}
	return NULL;
}

static int wakes;
static void count_wake(void *arg)
{
	(void)arg;
	wakes++;
}

Test(chan, round_trips_in_order_across_wraps)
{
	setup();
	wakes = 0;
	struct server s = { .ctl = chan_ctl(shm, 0) };
	pthread_create(&s.t, NULL, server_main, &s);
	struct chan_client c;
	chan_client_init(&c, shm, 0);
	for (uint64_t i = 0; i < 10000; i++) {
		struct shunt_sqe sqe = { .op = SHUNT_OP_read, .off = i, .len = 7 };
		cr_assert_eq(chan_client_submit(&c, &sqe, count_wake, NULL, NULL, 1000000), 0);
		struct shunt_cqe cqe;
		cr_assert_eq(chan_client_wait(&c, sqe.user_data, &cqe, NULL, NULL, 1000000), 0);
		cr_assert_eq(cqe.user_data, sqe.user_data);
		cr_assert_eq(cqe.res, (int64_t)(i + 7));
	}
	store_release(&s.stop, 1);
	pthread_join(s.t, NULL);
	cr_assert_eq(s.served, 10000);
	cr_assert_eq(wakes, 0, "nobody set need_wakeup, so no wake-ups");
}

Test(chan, async_completions_are_skipped_and_never_overflow)
{
	setup();
	struct server s = { .ctl = chan_ctl(shm, 1) };
	pthread_create(&s.t, NULL, server_main, &s);
	struct chan_client c;
	chan_client_init(&c, shm, 1);
	for (uint64_t i = 0; i < 1000; i++) {
		/* Three fire-and-forget commands, then one we wait for. */
		for (int k = 0; k < 3; k++) {
			struct shunt_sqe a = { .op = SHUNT_OP_close, .flags = SHUNT_SQE_ASYNC, .off = 1000 + k };
			cr_assert_eq(chan_client_submit(&c, &a, NULL, NULL, NULL, 1000000), 0);
		}
		struct shunt_sqe sqe = { .op = SHUNT_OP_read, .off = i };
		cr_assert_eq(chan_client_submit(&c, &sqe, NULL, NULL, NULL, 1000000), 0);
		struct shunt_cqe cqe;
		cr_assert_eq(chan_client_wait(&c, sqe.user_data, &cqe, NULL, NULL, 1000000), 0);
		cr_assert_eq(cqe.res, (int64_t)i);
	}
	store_release(&s.stop, 1);
	pthread_join(s.t, NULL);
	cr_assert_eq(s.served, 4000);
}

Test(chan, need_wakeup_makes_the_client_wake_the_server)
{
	setup();
	struct shunt_sess_hdr *h = shm;
	store_release(&h->need_wakeup, 1);
	struct chan_client c;
	chan_client_init(&c, shm, 0);
	wakes = 0;
	struct shunt_sqe sqe = { .op = SHUNT_OP_nop };
	cr_assert_eq(chan_client_submit(&c, &sqe, count_wake, NULL, NULL, 1000), 0);
	cr_assert_eq(wakes, 1);
	store_release(&h->need_wakeup, 0);
	cr_assert_eq(chan_client_submit(&c, &sqe, count_wake, NULL, NULL, 1000), 0);
	cr_assert_eq(wakes, 1);
}

/* The client gives up spinning at once and sleeps on the futex; the server
 * answers late and must wake it. */
static void *late_server(void *arg)
{
	struct server *s = arg;
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	struct shunt_sqe sqe;
	while (chan_server_take(s->ctl, &s->sq_head, &sqe) != 1)
		cpu_relax();
	struct shunt_cqe cqe = { .user_data = sqe.user_data, .res = 42 };
	cr_assert_eq(chan_server_complete(s->ctl, &s->cq_tail, &cqe), 0);
	return NULL;
}

Test(chan, a_sleeping_client_is_woken)
{
	setup();
	struct server s = { .ctl = chan_ctl(shm, 0) };
	pthread_create(&s.t, NULL, late_server, &s);
	struct chan_client c;
	chan_client_init(&c, shm, 0);
	struct shunt_sqe sqe = { .op = SHUNT_OP_nop };
	cr_assert_eq(chan_client_submit(&c, &sqe, NULL, NULL, NULL, 0), 0);
	struct shunt_cqe cqe;
	cr_assert_eq(chan_client_wait(&c, sqe.user_data, &cqe, NULL, NULL, 0), 0);
	cr_assert_eq(cqe.res, 42);
	pthread_join(s.t, NULL);
}

static bool server_gone(void *arg)
{
	(void)arg;
	return false;
}

Test(chan, a_dead_server_gives_eio_not_a_hang)
{
	setup();
	struct chan_client c;
	chan_client_init(&c, shm, 0);
	struct shunt_sqe sqe = { .op = SHUNT_OP_nop };
	cr_assert_eq(chan_client_submit(&c, &sqe, NULL, server_gone, NULL, 0), 0);
	struct shunt_cqe cqe;
	cr_assert_eq(chan_client_wait(&c, sqe.user_data, &cqe, server_gone, NULL, 0), -EIO);
}

Test(chan, server_refuses_an_impossible_tail)
{
	setup();
	struct shunt_chan_ctl *ctl = chan_ctl(shm, 0);
	uint32_t head = 0;
	struct shunt_sqe out;
	store_release(&ctl->sq_tail, SHUNT_RING_ENTRIES + 5); /* a hostile client */
	cr_assert_eq(chan_server_take(ctl, &head, &out), -EPROTO);
	cr_assert_eq(head, 0, "nothing was consumed");
	store_release(&ctl->sq_tail, 0xfffffff0u);
	cr_assert_eq(chan_server_take(ctl, &head, &out), -EPROTO);
}

Test(chan, server_never_overflows_a_full_completion_ring)
{
	setup();
	struct shunt_chan_ctl *ctl = chan_ctl(shm, 0);
	uint32_t tail = 0;
	struct shunt_cqe cqe = { .res = 1 };
	for (unsigned i = 0; i < SHUNT_RING_ENTRIES; i++)
		cr_assert_eq(chan_server_complete(ctl, &tail, &cqe), 0);
	/* The client never consumed: one more would overwrite an entry. */
	cr_assert_eq(chan_server_complete(ctl, &tail, &cqe), -ENOSPC);
	cr_assert_eq(tail, SHUNT_RING_ENTRIES);
}
