/* `shunt`: run a program under libshunt.so (`shunt run`), read a live
 * process's counters (`shunt stats PID`), list the configuration keys
 * (`shunt config`). An ordinary program: stdio and malloc are fine here. */
#include "common/config.h"
#include "shunt/stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern char **environ;

static void usage(FILE *f)
{
	fprintf(f, "usage:\n"
		   "  shunt run [--fs-root DIR] [--fs-mount PATH] [--local-mem SIZE] [--far-server URL]\n"
		   "            [--stats] [--conf key:value,...] -- PROGRAM [ARGS...]\n"
		   "  shunt stats PID        counters of a running process under shunt\n"
		   "  shunt config           every configuration key, its default and meaning\n");
}

static void lib_path(char *out, size_t cap)
{
	char self[PATH_MAX - 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		snprintf(out, cap, "libshunt.so");
		return;
	}
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(out, cap, "%s/libshunt.so", self);
	if (access(out, R_OK)) /* installed layout: PREFIX/bin/shunt, PREFIX/lib/libshunt.so */
		snprintf(out, cap, "%s/../lib/libshunt.so", self);
}

static int cmd_run(int argc, char **argv)
{
	int i = 0;
	for (; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-')
			break;
		if (!strcmp(a, "--stats")) {
			setenv("SHUNT_STATS", "1", 1);
			continue;
		}
		if (!v) {
			fprintf(stderr, "shunt run: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--fs-root"))
			setenv("SHUNT_FS_ROOT", v, 1);
		else if (!strcmp(a, "--fs-mount"))
			setenv("SHUNT_FS_MOUNT", v, 1);
		else if (!strcmp(a, "--local-mem"))
			setenv("SHUNT_LOCAL_MEM", v, 1);
		else if (!strcmp(a, "--far-server"))
			setenv("SHUNT_FAR_SERVER", v, 1);
		else if (!strcmp(a, "--conf"))
			setenv("SHUNT_CONF", v, 1);
		else {
			fprintf(stderr, "shunt run: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
		i++;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	if (getenv("SHUNT_FS_ROOT") && !getenv("SHUNT_FS_MOUNT") && !strstr(getenv("SHUNT_CONF") ? getenv("SHUNT_CONF") : "", "fs_mount"))
		setenv("SHUNT_FS_MOUNT", "/shunt", 1);
	/* Check the configuration here, where the message is clearest. */
	char err[256];
	if (config_load(environ, err, sizeof(err))) {
		fprintf(stderr, "shunt: %s\n", err);
		return 2;
	}
	char lib[PATH_MAX], pre[PATH_MAX * 2];
	lib_path(lib, sizeof(lib));
	const char *old = getenv("LD_PRELOAD");
	snprintf(pre, sizeof(pre), "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	setenv("LD_PRELOAD", pre, 1);
	execvp(argv[i], argv + i);
	fprintf(stderr, "shunt run: cannot run %s: %s\n", argv[i], strerror(errno));
	return 127;
}

static int cmd_stats(const char *pidstr)
{
	char dpath[64];
	snprintf(dpath, sizeof(dpath), "/proc/%s/fd", pidstr);
	DIR *d = opendir(dpath);
	if (!d) {
		fprintf(stderr, "shunt stats: cannot read %s: %s\n", dpath, strerror(errno));
		return 1;
	}
	struct dirent *e;
	int found = 0;
	while ((e = readdir(d))) {
		char lp[PATH_MAX], target[PATH_MAX];
		snprintf(lp, sizeof(lp), "%s/%s", dpath, e->d_name);
		ssize_t n = readlink(lp, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strncmp(target, "/memfd:shunt-stats", 18))
			continue;
		int fd = open(lp, O_RDONLY);
		if (fd < 0)
			continue;
		struct shunt_stats_file *f = mmap(NULL, sizeof(*f), PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (f == MAP_FAILED || f->magic != SHUNT_STATS_MAGIC)
			continue;
		static const char *const names[] = {
#define N(n) #n,
			SHUNT_STATS_COUNTERS(N)
#undef N
		};
		uint32_t ns = f->nslots < SHUNT_STATS_SLOTS ? f->nslots : SHUNT_STATS_SLOTS;
		printf("shunt stats (pid %d)\n", f->pid);
		for (unsigned id = 0; id < sizeof(names) / sizeof(names[0]); id++) {
			unsigned long long s = 0;
			for (uint32_t k = 0; k < ns; k++)
				s += f->slot[k].v[id];
			if (id == SHUNT_STAT_far_resident_bytes)
				s = f->gauge_far_resident_bytes;
			printf("  %-30s %llu\n", names[id], s);
		}
		munmap(f, sizeof(*f));
		found = 1;
		break;
	}
	closedir(d);
	if (!found) {
		fprintf(stderr, "shunt stats: process %s is not running under shunt (no shunt-stats memfd)\n", pidstr);
		return 1;
	}
	return 0;
}

static int cmd_config(void)
{
	printf("%-14s %-24s %s\n", "key", "default", "meaning (set as SHUNT_<KEY> or SHUNT_CONF=key:value,...)");
#define ROW(name, type, def, doc) printf("%-14s %-24s %s\n", #name, *def ? def : "(empty)", doc);
	SHUNT_CONFIG_KEYS(ROW)
#undef ROW
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	if (!strcmp(argv[1], "stats") && argc == 3)
		return cmd_stats(argv[2]);
	if (!strcmp(argv[1], "config"))
		return cmd_config();
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
