/* The polled rings of the file channel (protocol in include/shunt/fs_wire.h):
 * the client half (submit, then spin-then-sleep for the completion) and the
 * server half (copy a command out, post a completion, wake a sleeper).
 * Neither half makes a system call unless the peer sleeps. 0/-errno. */
#ifndef SHUNT_CHAN_H
#define SHUNT_CHAN_H

#include <stdint.h>
#include <stdbool.h>
#include "shunt/fs_wire.h"

static inline struct shunt_chan_ctl *chan_ctl(void *shm, uint32_t idx)
{
	return (struct shunt_chan_ctl *)((char *)shm + SHUNT_SESS_HDR_SIZE + (uint64_t)idx * SHUNT_CHAN_SIZE);
}
static inline char *chan_data(void *shm, uint32_t idx)
{
	return (char *)chan_ctl(shm, idx) + SHUNT_CHAN_CTL_SIZE;
}
static inline uint64_t chan_shm_size(uint32_t nchan)
{
	return SHUNT_SESS_HDR_SIZE + (uint64_t)nchan * SHUNT_CHAN_SIZE;
}

/* ---- client half: one thread owns a channel at a time ---- */

struct chan_client {
	struct shunt_chan_ctl *ctl;
	uint32_t *s_need_wakeup;  /* in the session header, written by the server */
	uint32_t sq_tail;         /* private copies: never re-read from shared memory */
	uint32_t cq_head;
	uint32_t outstanding_async;
	uint64_t next_user_data;
};

/* Wakes the server: called when need_wakeup was seen set. */
typedef void (*chan_wake_fn)(void *arg);
/* Asked every few ms while sleeping: false means the server is gone. */
typedef bool (*chan_alive_fn)(void *arg);

void chan_client_init(struct chan_client *c, void *shm, uint32_t idx);
/* Queue a command (fills user_data); waits for ring space if needed. */
int chan_client_submit(struct chan_client *c, struct shunt_sqe *sqe, chan_wake_fn wake, chan_alive_fn alive, void *arg,
		       uint64_t spin_ns);
/* Wait for the completion of user_data; discards async ones on the way.
 * -EIO if alive() says the server is gone. */
int chan_client_wait(struct chan_client *c, uint64_t user_data, struct shunt_cqe *out, chan_alive_fn alive, void *arg,
		     uint64_t spin_ns);

/* ---- server half ---- */

/* Copy the next command out of the ring. Returns 1 with *out filled, 0 if
 * empty, -EPROTO if the client's tail is impossible (the caller drops the
 * session or the channel). */
int chan_server_take(struct shunt_chan_ctl *ctl, uint32_t *sq_head, struct shunt_sqe *out);
/* Post a completion; wakes the client if it sleeps. Returns -ENOSPC (and
 * posts nothing) when a misbehaving client left no room. */
int chan_server_complete(struct shunt_chan_ctl *ctl, uint32_t *cq_tail, const struct shunt_cqe *cqe);
/* Non-destructive: is there a command waiting? */
static inline bool chan_server_pending(const struct shunt_chan_ctl *ctl, uint32_t sq_head)
{
	return __atomic_load_n(&ctl->sq_tail, __ATOMIC_ACQUIRE) != sq_head;
}

uint64_t chan_now_ns(void);

#endif
