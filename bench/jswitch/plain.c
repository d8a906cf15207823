/* The plain indirect call loop: this file alone is compiled WITHOUT
 * -mindirect-branch=thunk, so `fp(...)` is a bare `call *reg` (what an
 * unhardened build would run). Nothing else of the benchmark lives here. */
long bench_plain_loop(long (*fp)(long, long), long n, long acc);

long bench_plain_loop(long (*fp)(long, long), long n, long acc)
{
	for (long i = 0; i < n; i++)
		acc = fp(acc, i);
	return acc;
}
