/* Jump switches across fork: the parent keeps calling and patching while it
 * forks; each child gets its own trampoline memfd (patching it must not
 * touch the parent's code), a restarted worker, and correct calls. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "jswitch_fixture.h"

SHUNT_JSW_SITE(f_site, long, 2, long, long);

static uint32_t stop;
static uint64_t wrong;

static void *caller(void *arg)
{
	uint64_t bad = 0;
	unsigned k = (unsigned)(uintptr_t)arg;
	for (long i = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
		unsigned j = (unsigned)((i >> 12) + k) % 3;
		if (SHUNT_JSW_CALL(f_site, fn2[j], i, j) != MIX(j, i, j))
			bad++;
	}
	__atomic_fetch_add(&wrong, bad, __ATOMIC_RELAXED);
	return NULL;
}

static int child(uint64_t parent_ino)
{
	if (!jsw_area.ino || jsw_area.ino == parent_ino)
		return 2; /* still sharing the parent's trampolines */
	uint64_t before = jsw_site_rewrites(SHUNT_JSW_SITE_DESC(f_site));
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
	before = (uint64_t)-1; /* sanitizers: no worker after a multi-threaded fork */
#endif
	/* Keep calling (every result checked) until the child's own worker
	 * has patched; give up after about 5 s. */
	for (long i = 0; i < 400000 || (before != (uint64_t)-1 && jsw_site_rewrites(SHUNT_JSW_SITE_DESC(f_site)) == before); i++) {
		unsigned j = 3 + (unsigned)(i >> 14) % 4;
		if (SHUNT_JSW_CALL(f_site, fn2[j], i, 1) != MIX(j, i, 1))
			return 3;
		if ((i & 0xffff) == 0 && i > 0 && usleep(1000) == 0 && i > (5000l << 16))
			return 4; /* the worker did not come back */
	}
	return 0;
}

Test(jswitch_fork, fork_while_patching, .timeout = 60)
{
	jsw_stop(); /* the constructor's worker reads jsw_tune */
	jsw_tune.min_calls = 8;
	jsw_tune.flap_limit = 0;
	jsw_tune.force_repatch = 1;
	cr_assert_eq(jsw_start(JSW_ON, 0), 0);
	uint64_t ino = jsw_area.ino;
	cr_assert_neq(ino, 0);
	pthread_t t[2];
	for (long i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, caller, (void *)i), 0);
	for (int n = 0; n < 20; n++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0)
			_exit(child(ino));
		int status = 0;
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status), "child %d died (signal %d)", n, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
		cr_assert_eq(WEXITSTATUS(status), 0, "child %d failed with %d", n, WEXITSTATUS(status));
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(wrong, 0, "%llu parent calls reached the wrong function", (unsigned long long)wrong);
	jsw_stop();
}

Test(jswitch_fork, child_of_off_mode_stays_off)
{
	cr_assert_eq(jsw_start(JSW_OFF, 100), 0);
	pid_t pid = fork();
	if (pid == 0) {
		for (long i = 0; i < 1000; i++)
			if (SHUNT_JSW_CALL(f_site, fn2[i % NFN], i, 2) != MIX(i % NFN, i, 2))
				_exit(1);
		_exit(jsw_site_mode_of(SHUNT_JSW_SITE_DESC(f_site)) == JSW_SITE_COLD ? 0 : 2);
	}
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
