/* shuntd: the file server's entry point. Parses the command line, opens the
 * export root, listens, optionally daemonizes (the parent exits 0 only once
 * the child accepts connections), runs the pollers until SIGTERM/SIGINT or
 * the idle timeout, then unlinks the socket and prints the counters. */
#include "fsserver.h"
#include "common/config.h"
#include "common/log.h"
#include "common/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: shuntd --root DIR --socket PATH [--pollers N] [--idle-exit-ms N] [--cache-mem SIZE]\n"
		   "              [--daemon] [--no-path-cache] [--no-reopen-watcher] [--backend passthrough|mem] [--log debug|info|warn|error]\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	struct fs_server_opts o = { .pollers = 1 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n;
		if (!strcmp(a, "--daemon")) {
			o.daemon = true;
			continue;
		}
		if (!strcmp(a, "--no-path-cache")) {
			fs_pc_enabled = false; /* every open and stat resolves with openat2 */
			continue;
		}
		if (!strcmp(a, "--no-reopen-watcher")) {
			/* Outside changes retire kept handles only at the 250 ms
			 * housekeeping tick: for tests of shuntd's own retiring. */
			fs_reopen_watcher = false;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			fprintf(stderr, "shuntd: %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(a, "--root")) {
			o.root = v;
		} else if (!strcmp(a, "--backend")) {
			if (!strcmp(v, "passthrough"))
				fs_backend_cur = &fs_passthrough;
			else if (!strcmp(v, "mem"))
				fs_backend_cur = &fs_memfs;
			else {
				fprintf(stderr, "shuntd: --backend wants passthrough or mem, got '%s'\n", v);
				return 2;
			}
		} else if (!strcmp(a, "--socket")) {
			o.socket = v;
		} else if (!strcmp(a, "--pollers")) {
			if (parse_u64(v, &n) || n < 1 || n > FS_MAX_POLLERS) {
				fprintf(stderr, "shuntd: --pollers wants 1..%u, got '%s'\n", FS_MAX_POLLERS, v);
				return 2;
			}
			o.pollers = (unsigned)n;
		} else if (!strcmp(a, "--idle-exit-ms")) {
			if (parse_u64(v, &n)) {
				fprintf(stderr, "shuntd: --idle-exit-ms wants a number, got '%s'\n", v);
				return 2;
			}
			o.idle_exit_ms = n;
		} else if (!strcmp(a, "--cache-mem")) {
			if (config_parse_size(v, strlen(v), &n)) {
				fprintf(stderr, "shuntd: --cache-mem wants a size (512M, 2G), got '%s'\n", v);
				return 2;
			}
			fs_cache_budget = n;
		} else if (!strcmp(a, "--log")) {
			static const char *const names[] = { "error", "warn", "info", "debug" };
			int lvl = -1;
			for (int k = 0; k < 4; k++)
				if (!strcmp(v, names[k]))
					lvl = k;
			if (lvl < 0) {
				fprintf(stderr, "shuntd: --log wants debug, info, warn or error, got '%s'\n", v);
				return 2;
			}
			log_level_current = lvl;
		} else {
			fprintf(stderr, "shuntd: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	bool mem = fs_backend_cur == &fs_memfs;
	if ((!o.root && !mem) || !o.socket) {
		fprintf(stderr, "shuntd: --root and --socket are required\n");
		usage(stderr);
		return 2;
	}
	struct stat st;
	if (!mem && (stat(o.root, &st) < 0 || !S_ISDIR(st.st_mode))) {
		fprintf(stderr, "shuntd: root '%s': %s\n", o.root, errno ? strerror(errno) : "not a directory");
		return 1;
	}
	if (mem) {
		o.root = "(memory)";
		fs_pc_enabled = false; /* the path cache fronts the passthrough backend only */
	}
	/* Every wire op has an implementation (designated initialisers leave
	 * a forgotten one NULL). */
	const fs_op_fn *tab = (const fs_op_fn *)&fs_backend_cur->ops;
	for (unsigned op = 0; op < SHUNT_OP_COUNT; op++)
		if (!tab[op]) {
			fprintf(stderr, "shuntd: backend %s lacks op %s\n", fs_backend_cur->name, fs_op_names[op]);
			return 1;
		}
	/* Clients send modes with their own umask applied. */
	umask(0);
	/* Every open file and cached inode costs fds: take all we may have,
	 * and keep closed files' caches to an eighth of it. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		uint64_t lru = rl.rlim_cur / 8;
		fs_inode_lru_max = (uint32_t)(lru < 2048 ? (lru < 16 ? 16 : lru) : 2048);
		uint64_t quarter = rl.rlim_cur / 4;
		fs_family_max_open = (uint32_t)(quarter < 64 ? 64 : quarter > (1u << 20) ? (1u << 20) : quarter);
		fs_lock_max_entries = (uint32_t)(rl.rlim_cur / 8 < 64 ? 64 : rl.rlim_cur / 8);
		uint64_t pool = rl.rlim_cur / 32;
		fs_fcache_pool_max = (uint32_t)(pool > 128 ? 128 : pool < 4 ? 4 : pool);
	}
	signal(SIGPIPE, SIG_IGN);
	/* The file-size limit is each client's, applied by the client; an
	 * embedded server inherits the limit of whichever program started it
	 * (ulimit -f) and must not die of it, nor cap other clients. */
	if (getrlimit(RLIMIT_FSIZE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_FSIZE, &rl);
	}
	signal(SIGXFSZ, SIG_IGN);
	fs_creds_init();
	int r = fs_backend_cur->init(o.root);
	if (r) {
		fprintf(stderr, "shuntd: root '%s': %s\n", o.root, strerror(-r));
		return 1;
	}
	if (fs_listener_init(&o))
		return 1;
	if (fs_pc_enabled)
		fs_pc_init();

	int ready_pipe[2] = { -1, -1 };
	if (o.daemon) {
		if (pipe2(ready_pipe, O_CLOEXEC) < 0) {
			perror("shuntd: pipe");
			return 1;
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("shuntd: fork");
			return 1;
		}
		if (pid > 0) {
			/* Exit 0 only when the child says it serves. */
			close(ready_pipe[1]);
			char c = 0;
			ssize_t n;
			do
				n = read(ready_pipe[0], &c, 1);
			while (n < 0 && errno == EINTR);
			_exit(n == 1 && c == 'k' ? 0 : 1);
		}
		close(ready_pipe[0]);
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			close(null);
		}
	}

	if ((r = fs_control_init()) || (!mem && (r = fs_fcache_pool_start())) || (r = fs_pollers_start(o.pollers))) {
		fprintf(stderr, "shuntd: start-up failed: %s\n", strerror(-r));
		fs_listener_shutdown();
		return 1;
	}
	/* The runtime's counters memfd (after the fork: it is per process). */
	stats_init();
	stats_set_op_names(fs_op_names, SHUNT_OP_COUNT);
	log_info("shuntd: serving %s on %s with %u poller(s)", o.root, o.socket, o.pollers);
	if (o.daemon) {
		if (write(ready_pipe[1], "k", 1) != 1)
			log_warn("shuntd: could not tell the parent we are up");
		close(ready_pipe[1]);
	}
	fs_poller_run(&fs_pollers[0]);
	fs_pollers_join();
	fs_creds_restore();
	fs_listener_shutdown();
	fs_stats_print(2);
	return 0;
}
