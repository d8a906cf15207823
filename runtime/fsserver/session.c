/* Families (process trees sharing open handles) and the session table the
 * pollers scan. Sessions are published with store_release and unpublished
 * before teardown; teardown waits until no poller is mid-sweep, so a poller
 * never touches unmapped session memory. */
#include "fsserver.h"
#include "common/atomics.h"
#include "common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct fs_session *fs_sessions[FS_MAX_SESSIONS];
uint32_t fs_nsessions_live;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fs_family *families;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	while (v == 0)
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			v = 0;
	return v;
}

static uint32_t next_gen;

int fs_session_add(struct fs_session *s)
{
	pthread_mutex_lock(&registry_lock);
	for (uint32_t i = 0; i < FS_MAX_SESSIONS; i++) {
		if (!fs_sessions[i]) {
			s->slot = i;
			s->gen = ++next_gen & 0xffffff;
			s->refs = 1; /* the table's */
			/* Pairs with the pollers' load_acquire of the slot. */
			store_release(&fs_sessions[i], s);
			fs_session_published(i);
			fs_nsessions_live++;
			pthread_mutex_unlock(&registry_lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&registry_lock);
	return -EMFILE;
}

struct fs_family *fs_family_join(uint64_t id, uint64_t token, uid_t uid, int *err)
{
	pthread_mutex_lock(&registry_lock);
	struct fs_family *f;
	if (token == 0) {
		f = calloc(1, sizeof(*f));
		if (!f) {
			*err = -ENOMEM;
			goto out;
		}
		f->id = random_u64();
		f->token = random_u64();
		f->uid = uid;
		pthread_mutex_init(&f->lock, NULL);
		f->next = families;
		families = f;
	} else {
		for (f = families; f; f = f->next)
			if (f->id == id)
				break;
		if (!f && id) {
			/* The client picked id and token when it made its description
			 * table, so that processes forked before any of them connected
			 * still share one family: the first HELLO creates it. */
			f = calloc(1, sizeof(*f));
			if (!f) {
				*err = -ENOMEM;
				goto out;
			}
			f->id = id;
			f->token = token;
			f->uid = uid;
			pthread_mutex_init(&f->lock, NULL);
			f->next = families;
			families = f;
		}
		/* Same answer for a wrong id, token or uid: nothing to probe. */
		if (!f || f->token != token || f->uid != uid) {
			f = NULL;
			*err = -EPERM;
			goto out;
		}
	}
	f->nsessions++;
out:
	pthread_mutex_unlock(&registry_lock);
	return f;
}

void fs_family_release(struct fs_family *f)
{
	pthread_mutex_lock(&registry_lock);
	if (--f->nsessions == 0)
		f->linger_until = now_ns() + FS_FAMILY_LINGER_NS; /* an exec'd image reconnects in time */
	pthread_mutex_unlock(&registry_lock);
}

uint64_t fs_family_reap(uint64_t now)
{
	struct fs_family *gone = NULL;
	uint64_t next = 0;
	pthread_mutex_lock(&registry_lock);
	for (struct fs_family **pp = &families; *pp;) {
		struct fs_family *f = *pp;
		if (f->nsessions == 0 && now >= f->linger_until) {
			*pp = f->next;
			f->next = gone;
			gone = f;
			continue;
		}
		if (f->nsessions == 0 && (!next || f->linger_until - now < next))
			next = f->linger_until - now;
		pp = &f->next;
	}
	pthread_mutex_unlock(&registry_lock);
	while (gone) {
		struct fs_family *n = gone->next;
		log_debug("shuntd: family %llx closed", (unsigned long long)gone->id);
		fs_family_close_all(gone);
		pthread_mutex_destroy(&gone->lock);
		free(gone);
		gone = n;
	}
	return next;
}

struct fs_session *fs_session_get(uint32_t slot, uint32_t gen)
{
	struct fs_session *s = NULL;
	pthread_mutex_lock(&registry_lock);
	if (slot < FS_MAX_SESSIONS && (s = fs_sessions[slot]) && s->gen == gen)
		s->refs++;
	else
		s = NULL;
	pthread_mutex_unlock(&registry_lock);
	return s;
}

void fs_session_put(struct fs_session *s)
{
	pthread_mutex_lock(&registry_lock);
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&registry_lock);
	if (!last)
		return;
	if (s->shmfd >= 0)
		close(s->shmfd);
	if (s->pidfd >= 0)
		close(s->pidfd);
	if (s->sock >= 0)
		close(s->sock);
	pthread_mutex_destroy(&s->sock_lock);
	free(s);
}

void fs_session_reap_silent(uint64_t now, uint64_t max_ns)
{
	/* A connection that never says HELLO holds a slot: not for long. */
	for (uint32_t i = 0; i < FS_MAX_SESSIONS; i++) {
		pthread_mutex_lock(&registry_lock);
		struct fs_session *s = fs_sessions[i];
		bool stale = s && !load_acquire(&s->ready) && now - s->started_ns > max_ns;
		if (stale)
			s->refs++;
		pthread_mutex_unlock(&registry_lock);
		if (stale) {
			log_warn("shuntd: connection %u sent no HELLO in %llu ms, closed", i,
				 (unsigned long long)(max_ns / 1000000));
			fs_session_end(s);
			fs_session_put(s);
		}
	}
}

static bool pid_has_session(const struct fs_session *self)
{
	bool found = false;
	pthread_mutex_lock(&registry_lock);
	for (uint32_t i = 0; i < FS_MAX_SESSIONS && !found; i++) {
		struct fs_session *o = fs_sessions[i];
		found = o && o != self && o->pid == self->pid && load_acquire(&o->ready) && !load_relaxed(&o->closing);
	}
	pthread_mutex_unlock(&registry_lock);
	return found;
}

void fs_session_end(struct fs_session *s)
{
	uint32_t zero = 0;
	if (!cas_acq_rel(&s->closing, &zero, 1))
		return; /* someone else is ending it */
	pthread_mutex_lock(&registry_lock);
	bool published = fs_sessions[s->slot] == s;
	if (published) {
		/* seq_cst: ordered before our reads of the pollers' epochs. */
		__atomic_store_n(&fs_sessions[s->slot], NULL, __ATOMIC_SEQ_CST);
		fs_nsessions_live--;
	}
	pthread_mutex_unlock(&registry_lock);
	fs_pollers_quiesce(NULL);
	fs_listener_forget(s);
	if (s->family) {
		/* POSIX locks belong to the process and survive exec: when the
		 * new image already has its own session, they are its now. */
		if (!pid_has_session(s))
			fs_lock_release_pid_all(s->pid);
		fs_family_release(s->family);
	}
	if (s->shm) {
		munmap(s->shm, s->shm_size);
		s->shm = NULL;
	}
	if (published)
		fs_session_put(s); /* the table's reference */
}
