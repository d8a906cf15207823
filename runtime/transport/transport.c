/* The transport's generic layer: picks the implementation by URL scheme and
 * splits batches into what it accepts. Called by far memory and by tests.
 * Never calls malloc. */
#include "transport/transport.h"
#include "common/log.h"
#include "shunt/jswitch.h"
#include "jswitch/jsw.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static const struct xport_ops *const xport_impls[] = { &xport_tcp_ops, &xport_rdma_ops };

/* Every call into an implementation goes through a jump switch: a direct
 * jump to the one transport a process uses once learned, never a bare
 * retpoline per page fault. */
SHUNT_JSW_SITE(xport_connect_op, int, 4, const char *, struct xport **, char *, size_t);
SHUNT_JSW_SITE(xport_reg_buf_op, int, 3, struct xport *, void *, size_t);
SHUNT_JSW_SITE(xport_alloc_op, int, 3, struct xport *, uint64_t, uint64_t *);
SHUNT_JSW_SITE(xport_free_op, int, 3, struct xport *, uint64_t, uint64_t);
SHUNT_JSW_SITE(xport_read_op, int, 3, struct xport *, const struct xport_io *, unsigned);
SHUNT_JSW_SITE(xport_write_op, int, 3, struct xport *, const struct xport_io *, unsigned);
SHUNT_JSW_SITE(xport_info_op, int, 2, struct xport *, struct xport_info *);
SHUNT_JSW_SITE(xport_close_op, void, 1, struct xport *);
SHUNT_JSW_SITE(xport_fork_op, void, 2, struct xport *, int);

int xport_connect(const char *url, struct xport **out, char *err, size_t errlen)
{
	const char *sep = strstr(url, "://");
	if (!sep) {
		log_format(err, errlen, "far-memory server '%s' is not of the form tcp://HOST:PORT or rdma://ADDR:PORT", url);
		return -EINVAL;
	}
	size_t n = (size_t)(sep - url);
	for (size_t i = 0; i < sizeof(xport_impls) / sizeof(xport_impls[0]); i++)
		if (strlen(xport_impls[i]->scheme) == n && !memcmp(xport_impls[i]->scheme, url, n)) {
			int r = SHUNT_JSW_CALL(xport_connect_op, xport_impls[i]->connect, sep + 3, out, err, errlen);
			if (r == 0)
				jsw_wanted(1); /* far memory is in use: its jump switches start learning */
			return r;
		}
	log_format(err, errlen, "far-memory server '%s': this build has no transport for that scheme", url);
	return -EPROTONOSUPPORT;
}

int xport_reg_buf(struct xport *x, void *buf, size_t len) { return SHUNT_JSW_CALL(xport_reg_buf_op, x->ops->reg_buf, x, buf, len); }
int xport_alloc(struct xport *x, uint64_t len, uint64_t *raddr) { return SHUNT_JSW_CALL(xport_alloc_op, x->ops->alloc, x, len, raddr); }
int xport_free(struct xport *x, uint64_t raddr, uint64_t len) { return SHUNT_JSW_CALL(xport_free_op, x->ops->free, x, raddr, len); }
int xport_info(struct xport *x, struct xport_info *out) { return SHUNT_JSW_CALL(xport_info_op, x->ops->info, x, out); }
void xport_close(struct xport *x) { SHUNT_JSW_CALL(xport_close_op, x->ops->close, x); }
void xport_fork(struct xport *x, int phase) { SHUNT_JSW_CALL(xport_fork_op, x->ops->fork, x, phase); }

static int batch_op(struct xport *x, const struct xport_io *io, unsigned n, int write)
{
	return write ? SHUNT_JSW_CALL(xport_write_op, x->ops->write, x, io, n)
		     : SHUNT_JSW_CALL(xport_read_op, x->ops->read, x, io, n);
}

/* Cut io[] into batches of at most max_segs entries and max_payload bytes;
 * one entry larger than max_payload is cut into pieces too. */
static int split(struct xport *x, const struct xport_io *io, unsigned n, int write)
{
	enum { CHUNK = 64 };
	struct xport_io batch[CHUNK];
	uint32_t max_payload = x->limits.max_payload, max_segs = x->limits.max_segs;
	if (max_segs > CHUNK)
		max_segs = CHUNK;
	unsigned nb = 0;
	uint64_t bytes = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t raddr = io[i].raddr;
		char *buf = io[i].buf;
		uint32_t left = io[i].len;
		while (left) {
			uint32_t piece = left < max_payload ? left : max_payload;
			if (nb == max_segs || bytes + piece > max_payload) {
				int r = batch_op(x, batch, nb, write);
				if (r)
					return r;
				nb = 0;
				bytes = 0;
			}
			batch[nb++] = (struct xport_io){ raddr, buf, piece };
			bytes += piece;
			raddr += piece;
			buf += piece;
			left -= piece;
		}
	}
	return nb ? batch_op(x, batch, nb, write) : 0;
}

int xport_read(struct xport *x, const struct xport_io *io, unsigned n) { return split(x, io, n, 0); }
int xport_write(struct xport *x, const struct xport_io *io, unsigned n) { return split(x, io, n, 1); }

int xport_parse_inet(const char *addr, struct sockaddr_in *sa)
{
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || !colon[1])
		return -EINVAL;
	char host[64];
	size_t hn = (size_t)(colon - addr);
	if (hn >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, hn);
	host[hn] = 0;
	unsigned long port = 0;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9' || (port = port * 10 + (unsigned long)(*p - '0')) > 65535)
			return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1", &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}
