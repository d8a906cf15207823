/* The transport's generic layer: picks the implementation by URL scheme and
 * splits batches into what it accepts. Called by far memory and by tests.
 * Never calls malloc. */
#include "transport/transport.h"
#include "common/log.h"

#include <errno.h>
#include <string.h>

static const struct xport_ops *const xport_impls[] = { &xport_tcp_ops, &xport_rdma_ops };

int xport_connect(const char *url, struct xport **out, char *err, size_t errlen)
{
	const char *sep = strstr(url, "://");
	if (!sep) {
		log_format(err, errlen, "far-memory server '%s' is not of the form tcp://HOST:PORT or rdma://ADDR:PORT", url);
		return -EINVAL;
	}
	size_t n = (size_t)(sep - url);
	for (size_t i = 0; i < sizeof(xport_impls) / sizeof(xport_impls[0]); i++)
		if (strlen(xport_impls[i]->scheme) == n && !memcmp(xport_impls[i]->scheme, url, n))
			return xport_impls[i]->connect(sep + 3, out, err, errlen);
	log_format(err, errlen, "far-memory server '%s': this build has no transport for that scheme", url);
	return -EPROTONOSUPPORT;
}

int xport_reg_buf(struct xport *x, void *buf, size_t len) { return x->ops->reg_buf(x, buf, len); }
int xport_alloc(struct xport *x, uint64_t len, uint64_t *raddr) { return x->ops->alloc(x, len, raddr); }
int xport_free(struct xport *x, uint64_t raddr, uint64_t len) { return x->ops->free(x, raddr, len); }
int xport_info(struct xport *x, struct xport_info *out) { return x->ops->info(x, out); }
void xport_close(struct xport *x) { x->ops->close(x); }
void xport_fork(struct xport *x, int phase) { x->ops->fork(x, phase); }

/* Cut io[] into batches of at most max_segs entries and max_payload bytes;
 * one entry larger than max_payload is cut into pieces too. */
static int split(struct xport *x, const struct xport_io *io, unsigned n,
		 int (*op)(struct xport *, const struct xport_io *, unsigned))
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
				int r = op(x, batch, nb);
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
	return nb ? op(x, batch, nb) : 0;
}

int xport_read(struct xport *x, const struct xport_io *io, unsigned n) { return split(x, io, n, x->ops->read); }
int xport_write(struct xport *x, const struct xport_io *io, unsigned n) { return split(x, io, n, x->ops->write); }
