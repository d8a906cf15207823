/* fork() while other threads allocate and free large (far) blocks: each
 * child allocates, writes and frees a far-sized block and exits 0. A fork
 * taken while a thread sits in a far extent hook (holding a jemalloc arena
 * lock, waiting for far memory's) must neither deadlock nor leave the child
 * with a held lock: runtime/far/fork.c takes jemalloc's locks first.
 *   far_fork_mt [FORKS] [MIB]   blocks of 256 KiB to 256 KiB + MIB MiB (4),
 *                               grown to twice that; exit 0 and "forks ok" */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile int stop;
static size_t spread = 4 << 20;
static void *worker(void *a)
{
	unsigned s = (unsigned)(long)a;
	while (!stop) {
		size_t n = (256 << 10) + (rand_r(&s) % spread);
		char *p = malloc(n);
		memset(p, 1, n);
		char *q = realloc(p, n * 2);
		free(q);
		free(malloc(64));
	}
	return NULL;
}
int main(int argc, char **argv)
{
	int forks = argc > 1 ? atoi(argv[1]) : 100;
	if (argc > 2)
		spread = (size_t)atoi(argv[2]) << 20;
	pthread_t t[3];
	for (long i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	for (int i = 0; i < forks; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			char *p = malloc(1 << 20);
			memset(p, 2, 1 << 20);
			free(p);
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st)) { printf("child %d bad\n", i); return 1; }
	}
	stop = 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("forks ok\n");
	return 0;
}
