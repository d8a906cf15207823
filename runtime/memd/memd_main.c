/* shunt-memd: the far-memory server program. Parses its arguments, reserves
 * the pool, serves clients until SIGINT/SIGTERM. The work is in memd.c. */
#include "memd/memd.h"
#include "common/config.h"
#include "common/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct memd_server *server;

static void on_signal(int sig)
{
	(void)sig;
	if (server)
		memd_stop(server);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: shunt-memd --listen tcp://HOST:PORT|rdma://IPV4:PORT [--size SIZE] [--max-clients N] [--populate] [--verbose]\n"
		   "  --listen       address to serve on; port 0 picks one (printed on stdout).\n"
		   "                 rdma:// needs the address of an RDMA interface (e.g. rxe on eth0);\n"
		   "                 clients then move pages one-sided, with no work here per page\n"
		   "  --size         pool size, e.g. 16G (default 1G); reserved at start\n"
		   "  --max-clients  connections served at once (default 64); more are refused\n"
		   "  --populate     fault the whole pool into RAM at start\n"
		   "  --verbose      log every client and refused request\n");
}

int main(int argc, char **argv)
{
	const char *listen_url = NULL;
	struct memd_config c = { .size = 1ull << 30, .max_clients = 64 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--populate")) {
			c.populate = 1;
		} else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			log_level_current = LOG_INFO;
		} else if (!v) {
			fprintf(stderr, "shunt-memd: %s needs a value\n", a);
			usage(stderr);
			return 2;
		} else if (!strcmp(a, "--listen")) {
			listen_url = v, i++;
		} else if (!strcmp(a, "--size")) {
			if (config_parse_size(v, strlen(v), &c.size) || !c.size) {
				fprintf(stderr, "shunt-memd: bad --size '%s' (e.g. 512M, 16G)\n", v);
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--max-clients")) {
			char *end;
			unsigned long n = strtoul(v, &end, 10);
			if (*end || !n || n > 65536) {
				fprintf(stderr, "shunt-memd: bad --max-clients '%s' (1..65536)\n", v);
				return 2;
			}
			c.max_clients = (uint32_t)n;
			i++;
		} else {
			fprintf(stderr, "shunt-memd: unknown argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!listen_url) {
		fprintf(stderr, "shunt-memd: --listen is required\n");
		usage(stderr);
		return 2;
	}
	char err[256];
	server = memd_create(&c, err, sizeof(err));
	if (!server) {
		fprintf(stderr, "shunt-memd: %s\n", err);
		return 1;
	}
	uint16_t port = 0;
	if (memd_listen(server, listen_url, &port, err, sizeof(err))) {
		fprintf(stderr, "shunt-memd: %s\n", err);
		memd_destroy(server);
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	printf("shunt-memd: listening on port %u, pool %llu MiB, max %u clients\n", port,
	       (unsigned long long)(c.size >> 20), c.max_clients);
	fflush(stdout);
	memd_run(server);
	memd_destroy(server);
	return 0;
}
