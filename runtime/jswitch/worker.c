/* The update worker: a thread that wakes every jsw_period ms and runs one
 * pass (jsw_policy_pass on every site, then settling every changed slot
 * back onto its copy A). Also the worker lock, which every patch holds. Normal
 * libc is fine here; nothing in this file runs in a call path. */
#include "jsw.h"
#include "../common/atomics.h"
#include "../common/sys.h"
#include "../common/log.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

static pthread_mutex_t jsw_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_t worker_thread;
static uint32_t worker_running; /* 1 while the thread should keep going */
static uint32_t worker_wake;    /* futex word: bumped to cut a sleep short */
static unsigned worker_period_ms;
static unsigned pass_count;

void jsw_lock(void) { pthread_mutex_lock(&jsw_mutex); }
void jsw_unlock(void) { pthread_mutex_unlock(&jsw_mutex); }

/* After fork the child's copy of the mutex may be held by a thread that
 * does not exist there. */
void jsw_worker_fork_child(void);
void jsw_worker_fork_child(void)
{
	pthread_mutex_init(&jsw_mutex, NULL);
	store_relaxed(&worker_running, 0);
}

static int pass_locked(void)
{
	unsigned n = jsw_nsites();
	int changed = 0;
	if (!jsw_area.ready)
		return 0;
	if (n > SHUNT_JSW_MAX_SITES)
		n = SHUNT_JSW_MAX_SITES;
	for (unsigned i = 0; i < n; i++)
		changed += jsw_policy_pass(i);
	if ((++pass_count & 15) == 0)
		for (unsigned i = 0; i < n; i++)
			jsw_states[i].flap /= 2;
	/* Sites moved to copy B this pass go back to copy A, and B becomes
	 * unreachable again, before the lock is dropped (see state.c). */
	jsw_state_settle();
	return changed;
}

int jsw_update_now(void)
{
	jsw_lock();
	int r = pass_locked();
	jsw_unlock();
	return r;
}

static void *worker_main(void *arg)
{
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* the program's signals are not ours */
	prctl(PR_SET_NAME, "shunt-jsw", 0, 0, 0);
	jsw_register_restart();
	while (load_acquire(&worker_running)) {
		uint32_t seen = load_acquire(&worker_wake);
		jsw_update_now();
		if (!worker_period_ms)
			sys_sched_yield(); /* tests: patch as fast as possible */
		else
			sys_futex_wait(&worker_wake, seen, (long)worker_period_ms * 1000000L);
	}
	return NULL;
}

int jsw_worker_start(unsigned period_ms)
{
	if (load_acquire(&worker_running))
		return 0;
	worker_period_ms = period_ms;
	store_release(&worker_running, 1);
	int r = pthread_create(&worker_thread, NULL, worker_main, NULL);
	if (r) {
		store_release(&worker_running, 0);
		log_warn("jump switches: cannot start the update worker (errno %d)", r);
		return -r;
	}
	return 0;
}

void jsw_worker_stop(void)
{
	if (!load_acquire(&worker_running))
		return;
	store_release(&worker_running, 0);
	fetch_add_acq_rel(&worker_wake, 1);
	sys_futex_wake(&worker_wake, 1);
	pthread_join(worker_thread, NULL);
}
