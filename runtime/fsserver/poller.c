/* Poller threads: spin over every session's channels, decode each command,
 * run it as the client, post the completion. After ~1 ms idle the last one
 * awake sets need_wakeup (fs_wire.h) and blocks in the control epoll, where
 * a WAKE wakes it directly. A poller never blocks on one client. */
#include "fsserver.h"
#include "channel/chan.h"
#include "common/atomics.h"
#include "common/log.h"
#include "common/stats.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#define IDLE_NS      (1000 * 1000ull)  /* spin this long without work, then sleep */
#define YIELD_NS     (20 * 1000ull)    /* past this, let whatever waits for our CPU run */
#define CONTROL_NS   (20 * 1000ull)    /* look at the sockets this often while awake: a
					  * client waits for its GETFD reply that long at most */
#define BATCH        16                /* commands per channel per visit */

struct fs_poller *fs_pollers;
unsigned fs_npollers;
uint32_t fs_stopping;
static uint32_t nawake;               /* pollers not blocked in the epoll */
static uint32_t session_hwm;          /* slots [0, hwm) may hold sessions */

static void note_slot(uint32_t slot)
{
	uint32_t h = load_acquire(&session_hwm);
	while (slot + 1 > h && !cas_acq_rel(&session_hwm, &h, slot + 1))
		;
}

static void execute(struct fs_poller *p, struct fs_session *s, uint32_t ci, const struct shunt_sqe *sqe,
		    struct shunt_cqe *cqe)
{
	struct fs_cmd cmd;
	char *s_data = chan_data(s->shm, ci);
	cqe->user_data = sqe->user_data;
	int r = fs_decode(sqe, s->token, s_data, &cmd, &p->dbuf);
	if (r) {
		cqe->res = r;
		p->cnt.bad++;
		log_debug("shuntd: session %u: bad command (op %u): %d", s->slot, sqe->op, r);
		return;
	}
	p->cnt.ops[cmd.op]++;
	/* The shared counters too, so `shunt stats PID` reads a live shuntd. */
	STAT_INC(fs_ops);
	stat_add(SHUNT_STAT_FS_OP_BASE + cmd.op, 1);
	if (fs_creds_apply(&s->creds)) {
		cqe->res = -EPERM;
		return;
	}
	struct fs_req req = { .sess = s, .cmd = &cmd, .s_reply = s_data + cmd.data_off, .cqe = cqe, .poller = p };
	cqe->res = fs_dispatch(&req);
}

/* Serve one channel if it has work and no other poller holds it. Returns
 * the commands served; sets *drop on an impossible ring index. */
static int serve_channel(struct fs_poller *p, struct fs_session *s, uint32_t ci, bool *drop)
{
	struct fs_chan_state *cs = &s->ch[ci];
	struct shunt_chan_ctl *ctl = chan_ctl(s->shm, ci);
	/* A peek at the head as published in the ring (our private copy may
	 * be another poller's to write). Only a hint: a client that scribbles
	 * on it only delays its own commands. */
	if (!chan_server_pending(ctl, load_acquire(&ctl->sq_head)))
		return 0;
	uint32_t zero = 0;
	if (!cas_acq_rel(&cs->busy, &zero, 1))
		return 0;
	int n = 0;
	for (; n < BATCH; n++) {
		struct shunt_sqe sqe;
		int r = chan_server_take(ctl, &cs->sq_head, &sqe);
		if (r == 0)
			break;
		if (r < 0) {
			*drop = true;
			break;
		}
		struct shunt_cqe cqe = { 0 };
		execute(p, s, ci, &sqe, &cqe);
		if (chan_server_complete(ctl, &cs->cq_tail, &cqe) < 0)
			p->cnt.cq_dropped++; /* the client broke its own ring */
	}
	/* Pairs with the cas above in the next poller to take the channel. */
	store_release(&cs->busy, 0);
	return n;
}

static inline void sweep_begin(struct fs_poller *p)
{
	/* seq_cst: ordered before our loads of the session slots; pairs with
	 * the seq_cst NULL store in fs_session_end(). */
	__atomic_store_n(&p->epoch, p->epoch + 1, __ATOMIC_SEQ_CST);
}
static inline void sweep_end(struct fs_poller *p)
{
	store_release(&p->epoch, p->epoch + 1);
}

/* One pass over all channels of all sessions. */
static int sweep(struct fs_poller *p)
{
	int did = 0;
	struct fs_session *drop = NULL;
	uint32_t hwm = load_acquire(&session_hwm);
	sweep_begin(p);
	for (uint32_t i = 0; i < hwm; i++) {
		struct fs_session *s = load_acquire(&fs_sessions[i]);
		if (!s || !load_acquire(&s->ready) || load_relaxed(&s->closing))
			continue;
		bool bad = false;
		for (uint32_t c = 0; c < s->nchan; c++)
			did += serve_channel(p, s, c, &bad);
		if (bad && !drop)
			drop = fs_session_get(s->slot, s->gen);
	}
	sweep_end(p);
	if (drop) {
		log_warn("shuntd: session %u (pid %d): impossible ring index, dropped", drop->slot, (int)drop->pid);
		p->cnt.dropped_sessions++;
		fs_session_end(drop);
		fs_session_put(drop);
	}
	return did;
}

/* need_wakeup in every session; inside a sweep so no mapping goes away. */
static bool set_need_wakeup(struct fs_poller *p, uint32_t v, bool recheck)
{
	bool pending = false;
	uint32_t hwm = load_acquire(&session_hwm);
	sweep_begin(p);
	for (uint32_t i = 0; i < hwm; i++) {
		struct fs_session *s = load_acquire(&fs_sessions[i]);
		if (s && load_acquire(&s->ready))
			store_relaxed(&s->s_hdr->need_wakeup, v);
	}
	if (recheck) {
		/* Pairs with the client's fence between its sq_tail store and
		 * its need_wakeup load: it sees our 1, or we see its tail. */
		fence_seq_cst();
		for (uint32_t i = 0; i < hwm && !pending; i++) {
			struct fs_session *s = load_acquire(&fs_sessions[i]);
			if (!s || !load_acquire(&s->ready))
				continue;
			for (uint32_t c = 0; c < s->nchan; c++)
				if (chan_server_pending(chan_ctl(s->shm, c), load_acquire(&chan_ctl(s->shm, c)->sq_head))) {
					pending = true;
					break;
				}
		}
	}
	sweep_end(p);
	return pending;
}

static void go_idle(struct fs_poller *p)
{
	fs_creds_restore();
	fs_fcache_prepare(); /* a quiet moment: make the next opens cheaper */
	if (fetch_sub_acq_rel(&nawake, 1) == 1) {
		/* The last poller awake: clients must wake us from now on. */
		if (set_need_wakeup(p, 1, true)) {
			if (fetch_add_acq_rel(&nawake, 1) == 0)
				set_need_wakeup(p, 0, false);
			return;
		}
	}
	p->cnt.sleeps++;
	fs_control_poll(p, -1);
	if (fetch_add_acq_rel(&nawake, 1) == 0)
		set_need_wakeup(p, 0, false);
	p->cnt.wakeups++;
}

void fs_poller_run(struct fs_poller *p)
{
	fetch_add_acq_rel(&nawake, 1);
	uint64_t now = chan_now_ns(), last_work = now, last_ctl = now;
	bool worked = false;
	for (unsigned iter = 1; !load_relaxed(&fs_stopping); iter++) {
		if (sweep(p))
			worked = true;
		if (iter & 15) {
			cpu_relax();
			continue;
		}
		now = chan_now_ns();
		if (worked) {
			last_work = now;
			worked = false;
		}
		if (now - last_ctl > CONTROL_NS) {
			fs_control_poll(p, 0);
			last_ctl = now;
		}
		if (now - last_work > IDLE_NS) {
			go_idle(p);
			last_work = last_ctl = chan_now_ns();
		} else if (now - last_work > YIELD_NS) {
			/* The client we wait for may be queued behind us on this
			 * CPU (2 CPUs, a loaded machine): spinning through our
			 * whole time slice would only delay it. Returns at once
			 * when nothing else is runnable here. */
			sched_yield();
		}
	}
	fetch_sub_acq_rel(&nawake, 1);
}

void fs_session_published(uint32_t slot)
{
	note_slot(slot);
}

static void *poller_main(void *arg)
{
	fs_poller_run(arg);
	return NULL;
}

int fs_pollers_start(unsigned n)
{
	if (n < 1 || n > FS_MAX_POLLERS)
		return -EINVAL;
	fs_pollers = calloc(n, sizeof(*fs_pollers));
	if (!fs_pollers)
		return -ENOMEM;
	fs_npollers = n;
	for (unsigned i = 0; i < n; i++)
		fs_pollers[i].idx = i;
	/* Poller 0 is the caller's thread (fs_poller_run); start the rest. */
	for (unsigned i = 1; i < n; i++) {
		int r = pthread_create(&fs_pollers[i].thread, NULL, poller_main, &fs_pollers[i]);
		if (r)
			return -r;
	}
	return 0;
}

void fs_pollers_join(void)
{
	for (unsigned i = 1; i < fs_npollers; i++)
		pthread_join(fs_pollers[i].thread, NULL);
}

void fs_pollers_quiesce(struct fs_poller *self)
{
	for (unsigned i = 0; i < fs_npollers; i++) {
		struct fs_poller *q = &fs_pollers[i];
		if (q == self)
			continue;
		uint64_t e = __atomic_load_n(&q->epoch, __ATOMIC_SEQ_CST);
		if (!(e & 1))
			continue; /* not inside a sweep */
		while (load_acquire(&q->epoch) == e)
			cpu_relax();
	}
}
