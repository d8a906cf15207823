/* The rdma:// transport (protocol in rdma_wire.h): one RC queue pair per
 * connection to shunt-memd. Pages move by one-sided RDMA READ/WRITE between
 * local registered staging buffers and the regions the server registered
 * for this client: a batch is one chain of work requests, one doorbell, one
 * signaled completion, and the completion queue is polled without sleeping.
 * Never registers memory it was not given with reg_buf (so never the far
 * region); an unregistered buffer goes through a registered bounce buffer.
 * The data path never allocates; set-up and reg_buf do (inside rdma-core). */
#include "transport/transport.h"
#include "transport/rdma_lib.h"
#include "transport/rdma_wire.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/sys.h"
#include "shunt/jswitch.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

enum {
	RDMA_MAX_BATCH = 64,       /* work requests per doorbell */
	RDMA_MAX_REGS = 64,        /* local buffers registered with reg_buf */
	RDMA_MAX_REGIONS = 16384,  /* remote regions (one per ALLOC) */
	CM_TIMEOUT_MS = 5000,      /* each set-up step */
	OP_TIMEOUT_S = 30,         /* no completion at all this long: the link is gone */
	RDMA_ACK_TIMEOUT = 16,     /* 4.096 us << 16 = 268 ms per retry, 7 retries: a dead peer in ~2 s */
};
#define BOUNCE_SIZE (RDMA_MAX_BATCH * 4096u)
#define CTRL_RECV_OFF 256u
/* wr_id: the low two bits say what completed, the rest is the sequence. */
enum { WR_CTRL_SEND = 1, WR_CTRL_RECV = 2, WR_DATA = 3 };

struct local_reg {
	char *buf;
	size_t len;
	struct ibv_mr *mr;
};

struct rdma_xport {
	struct xport base;
	pthread_mutex_t lock;      /* one batch or control message in flight */
	int dead;                  /* -errno once unusable; under lock */
	int child;                 /* this is a fork child's copy: the queue pair is the parent's */
	uint64_t seq;              /* under lock */
	char addr[64];
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	char *ctrl;                /* one page: the request at 0, the reply's receive buffer at CTRL_RECV_OFF */
	struct ibv_mr *ctrl_mr;
	char *bounce;
	struct ibv_mr *bounce_mr;
	uint32_t nregs;            /* under lock */
	struct local_reg regs[RDMA_MAX_REGS];
	struct rdma_regions regions; /* under lock; storage mapped beside */
};

static struct rdma_xport *rdma_of(struct xport *x) { return (struct rdma_xport *)x; }

#define R rdma_lib

/* ---- failure ---- */

/* The connection is unusable from now on: every later call fails with r.
 * The queue pair goes to the error state, so the device flushes what is
 * left and never touches our buffers again. Under lock. */
static int kill_conn(struct rdma_xport *t, int r, const char *why, int detail)
{
	if (!t->dead) {
		t->dead = r;
		struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
		R.modify_qp(t->qp, &a, IBV_QP_STATE);
		log_error("far memory: rdma connection to shunt-memd at rdma://%s lost: %s (%d)", t->addr, why, detail);
	}
	return t->dead;
}

/* A connection manager event after set-up means the connection is going
 * away (DISCONNECTED, DEVICE_REMOVAL, ...). Raw poll: no allocation. */
static int cm_event_pending(struct rdma_xport *t)
{
	struct pollfd p = { t->ch->fd, POLLIN, 0 };
	return sys_call(SYS_poll, &p, 1, 0, 0, 0, 0) > 0;
}

static uint64_t now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* Polls until every wr_id in want[] has completed. Busy: no sleeping, a
 * yield now and then so a device emulated in the kernel (rxe) gets the CPU.
 * Any completion with an error status kills the connection. Under lock. */
/* The verbs a page moves by (verbs.h's inlines call the provider's ops
 * table): through jump switches, direct once learned. */
SHUNT_JSW_SITE(rdma_poll_cq, int, 3, struct ibv_cq *, int, struct ibv_wc *);
SHUNT_JSW_SITE(rdma_post_send, int, 3, struct ibv_qp *, struct ibv_send_wr *, struct ibv_send_wr **);
SHUNT_JSW_SITE(rdma_post_recv, int, 3, struct ibv_qp *, struct ibv_recv_wr *, struct ibv_recv_wr **);
SHUNT_JSW_SITE(rdma_wc_status_str, const char *, 1, enum ibv_wc_status);

static int poll_until(struct rdma_xport *t, const uint64_t *want, unsigned nwant, uint32_t *recv_len)
{
	unsigned seen = 0, all = (1u << nwant) - 1;
	uint64_t spins = 0, deadline = 0;
	struct ibv_wc wc[8];
	while (seen != all) {
		int n = SHUNT_JSW_CALL(rdma_poll_cq, t->cq->context->ops.poll_cq, t->cq, 8, wc);
		STAT_INC(far_verbs_polls);
		if (n < 0)
			return kill_conn(t, -EIO, "polling the completion queue failed", n);
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS)
				return kill_conn(t, wc[i].status == IBV_WC_WR_FLUSH_ERR ? -ECONNRESET : -EIO,
						 SHUNT_JSW_CALL(rdma_wc_status_str, R.wc_status_str, wc[i].status),
						 (int)wc[i].status);
			for (unsigned j = 0; j < nwant; j++)
				if (wc[i].wr_id == want[j])
					seen |= 1u << j;
			if (wc[i].opcode == IBV_WC_RECV && recv_len)
				*recv_len = wc[i].byte_len;
		}
		if (n)
			continue;
		if (++spins % 256)
			continue;
		if (cm_event_pending(t))
			return kill_conn(t, -ECONNRESET, "the server disconnected", 0);
		uint64_t now = now_s();
		if (!deadline)
			deadline = now + OP_TIMEOUT_S;
		else if (now > deadline)
			return kill_conn(t, -ETIMEDOUT, "no completion", OP_TIMEOUT_S);
		sys_sched_yield();
	}
	STAT_INC(far_verbs_cqes);
	return 0;
}

/* ---- control messages ---- */

static int post_ctrl_recv(struct rdma_xport *t)
{
	struct ibv_sge sge = { (uint64_t)(uintptr_t)(t->ctrl + CTRL_RECV_OFF), RDMA_MSG_BUF, t->ctrl_mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = WR_CTRL_RECV, .sg_list = &sge, .num_sge = 1 }, *bad;
	return SHUNT_JSW_CALL(rdma_post_recv, t->qp->context->ops.post_recv, t->qp, &wr, &bad) ? -EIO : 0;
}

/* One request and its reply. Returns the reply's status; *rep holds the
 * checked reply. A transport failure kills the connection. */
static int ctrl_rpc(struct rdma_xport *t, unsigned op, const struct memd_span *req, struct rdma_msg *rep)
{
	pthread_mutex_lock(&t->lock);
	int r = t->dead;
	if (!r && t->child)
		r = -EOPNOTSUPP;
	if (r)
		goto out;
	struct rdma_msg m = { .magic = RDMA_WIRE_MAGIC, .version = RDMA_WIRE_VERSION, .op = (uint16_t)op,
			      .seq = ++t->seq };
	if (req)
		m.u.span = *req;
	memcpy(t->ctrl, &m, sizeof(m));
	struct ibv_sge sge = { (uint64_t)(uintptr_t)t->ctrl, sizeof(m), t->ctrl_mr->lkey };
	struct ibv_send_wr wr = { .wr_id = m.seq << 2 | WR_CTRL_SEND, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	if (SHUNT_JSW_CALL(rdma_post_send, t->qp->context->ops.post_send, t->qp, &wr, &bad)) {
		r = kill_conn(t, -EIO, "posting a control message failed", 0);
		goto out;
	}
	STAT_INC(far_verbs_posts);
	uint64_t want[2] = { wr.wr_id, WR_CTRL_RECV };
	uint32_t len = 0;
	if ((r = poll_until(t, want, 2, &len)))
		goto out;
	memcpy(rep, t->ctrl + CTRL_RECV_OFF, sizeof(*rep)); /* copy, then check */
	if (post_ctrl_recv(t)) {
		r = kill_conn(t, -EIO, "posting a receive failed", 0);
		goto out;
	}
	if (rdma_msg_check(rep, len, 1) || rep->seq != m.seq || (rep->op & ~MEMD_REPLY) != op) {
		r = kill_conn(t, -EPROTO, "malformed reply from the server", (int)len);
		goto out;
	}
	r = rep->status;
out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* ---- data ---- */

static const struct local_reg *find_reg(struct rdma_xport *t, const char *buf, uint32_t len)
{
	for (uint32_t i = 0; i < t->nregs; i++)
		if (buf >= t->regs[i].buf && buf + len <= t->regs[i].buf + t->regs[i].len)
			return &t->regs[i];
	return NULL;
}

static int rdma_rw(struct xport *x, const struct xport_io *io, unsigned n, int write)
{
	struct rdma_xport *t = rdma_of(x);
	if (!n || n > RDMA_MAX_BATCH)
		return -EINVAL;
	struct ibv_sge sge[RDMA_MAX_BATCH];
	struct ibv_send_wr wr[RDMA_MAX_BATCH];
	uint32_t bounce_at[RDMA_MAX_BATCH];
	uint64_t bytes = 0;
	uint32_t boff = 0;
	pthread_mutex_lock(&t->lock);
	int r = t->dead;
	if (!r && t->child)
		r = -EOPNOTSUPP;
	if (r)
		goto out;
	uint64_t tag = ++t->seq << 2 | WR_DATA;
	for (unsigned i = 0; i < n; i++) {
		const struct rdma_region *rg = rdma_regions_find(&t->regions, io[i].raddr, io[i].len);
		if (!rg || !io[i].len) {
			r = -EFAULT; /* not this client's space: what the TCP server answers */
			goto out;
		}
		const struct local_reg *lr = find_reg(t, io[i].buf, io[i].len);
		bounce_at[i] = UINT32_MAX;
		if (lr) {
			sge[i] = (struct ibv_sge){ (uint64_t)(uintptr_t)io[i].buf, io[i].len, lr->mr->lkey };
		} else {
			if (io[i].len > BOUNCE_SIZE - boff) {
				r = -EINVAL;
				goto out;
			}
			bounce_at[i] = boff;
			if (write)
				memcpy(t->bounce + boff, io[i].buf, io[i].len);
			sge[i] = (struct ibv_sge){ (uint64_t)(uintptr_t)(t->bounce + boff), io[i].len, t->bounce_mr->lkey };
			boff += io[i].len;
		}
		wr[i] = (struct ibv_send_wr){ .wr_id = tag, .next = i + 1 < n ? &wr[i + 1] : NULL, .sg_list = &sge[i],
					      .num_sge = 1, .opcode = write ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ,
					      .send_flags = i + 1 == n ? IBV_SEND_SIGNALED : 0 };
		wr[i].wr.rdma.remote_addr = rg->va + (io[i].raddr - rg->raddr);
		wr[i].wr.rdma.rkey = rg->rkey;
		bytes += io[i].len;
	}
	struct ibv_send_wr *bad;
	if (SHUNT_JSW_CALL(rdma_post_send, t->qp->context->ops.post_send, t->qp, wr, &bad)) {
		r = kill_conn(t, -EIO, "posting work requests failed", (int)n);
		goto out;
	}
	STAT_INC(far_verbs_posts);
	if ((r = poll_until(t, &tag, 1, NULL)))
		goto out;
	if (!write && boff)
		for (unsigned i = 0; i < n; i++)
			if (bounce_at[i] != UINT32_MAX)
				memcpy(io[i].buf, t->bounce + bounce_at[i], io[i].len);
	if (write)
		STAT_ADD(far_verbs_writes, n);
	else
		STAT_ADD(far_verbs_reads, n);
	STAT_ADD(far_verbs_bytes, bytes);
out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

static int rdma_read_(struct xport *x, const struct xport_io *io, unsigned n) { return rdma_rw(x, io, n, 0); }
static int rdma_write_(struct xport *x, const struct xport_io *io, unsigned n) { return rdma_rw(x, io, n, 1); }

/* Registers buf afresh every time: a registration whose memory was
 * unmapped and mapped again at the same address would still point at the
 * old pages, so any older one that overlaps is dropped first. */
static int rdma_reg_buf(struct xport *x, void *buf, size_t len)
{
	struct rdma_xport *t = rdma_of(x);
	char *b = buf;
	pthread_mutex_lock(&t->lock);
	int r = 0;
	if (t->child)
		goto out;
	for (uint32_t i = 0; i < t->nregs;) {
		if (t->regs[i].buf < b + len && b < t->regs[i].buf + t->regs[i].len) {
			R.dereg_mr(t->regs[i].mr);
			t->regs[i] = t->regs[--t->nregs];
		} else {
			i++;
		}
	}
	if (t->nregs == RDMA_MAX_REGS) {
		r = -ENOSPC; /* later I/O on it goes through the bounce buffer */
		goto out;
	}
	struct ibv_mr *mr = R.reg_mr(t->pd, buf, len, IBV_ACCESS_LOCAL_WRITE);
	if (!mr) {
		r = -errno;
		goto out;
	}
	t->regs[t->nregs++] = (struct local_reg){ b, len, mr };
out:
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* ---- control ops ---- */

static int rdma_alloc(struct xport *x, uint64_t len, uint64_t *raddr)
{
	struct rdma_xport *t = rdma_of(x);
	struct memd_span req = { 0, len };
	struct rdma_msg rep;
	int r = ctrl_rpc(t, MEMD_OP_ALLOC, &req, &rep);
	if (r == -ENOSPC)
		x->limits.free = rep.u.span.len;
	if (r)
		return r;
	struct rdma_wire_region w = rep.u.region;
	struct rdma_region rg = { .raddr = w.raddr, .len = w.len, .va = w.va, .rkey = w.rkey };
	pthread_mutex_lock(&t->lock);
	r = w.len < len ? -EPROTO : rdma_regions_add(&t->regions, &rg);
	pthread_mutex_unlock(&t->lock);
	if (r) {
		struct memd_span back = { w.raddr, w.len };
		ctrl_rpc(t, MEMD_OP_FREE, &back, &rep);
		return r == -EPROTO ? r : -ENOMEM;
	}
	*raddr = w.raddr;
	return 0;
}

static int rdma_free(struct xport *x, uint64_t raddr, uint64_t len)
{
	struct rdma_xport *t = rdma_of(x);
	uint64_t chunk = x->limits.chunk;
	uint64_t whole = (len + chunk - 1) / chunk * chunk;
	pthread_mutex_lock(&t->lock);
	/* Off the table first: no batch can target it while it goes. */
	int r = rdma_regions_del(&t->regions, raddr, whole, NULL);
	pthread_mutex_unlock(&t->lock);
	if (r)
		return -EFAULT; /* not one of our allocations, as a whole */
	struct memd_span req = { raddr, whole };
	struct rdma_msg rep;
	return ctrl_rpc(t, MEMD_OP_FREE, &req, &rep);
}

static void fill_limits(struct xport_info *l, const struct memd_info *mi)
{
	l->total = mi->total;
	l->free = mi->free;
	l->chunk = mi->chunk;
	l->max_payload = mi->max_payload < BOUNCE_SIZE ? mi->max_payload : BOUNCE_SIZE;
	l->max_segs = mi->max_segs < RDMA_MAX_BATCH ? mi->max_segs : RDMA_MAX_BATCH;
	l->client_id = mi->client_id;
	l->clients = mi->clients;
	l->max_clients = mi->max_clients;
}

static int rdma_info(struct xport *x, struct xport_info *out)
{
	struct rdma_msg rep;
	int r = ctrl_rpc(rdma_of(x), MEMD_OP_STAT, NULL, &rep);
	if (r)
		return r;
	struct memd_info mi = rep.u.info;
	fill_limits(out, &mi);
	return 0;
}

/* ---- set-up and tear-down ---- */

static size_t xport_map_size(void)
{
	return (sizeof(struct rdma_xport) + RDMA_MAX_REGIONS * sizeof(struct rdma_region) + 4095) & ~(size_t)4095;
}

static void teardown(struct rdma_xport *t)
{
	if (!t->child) {
		if (t->qp)
			R.destroy_qp(t->id);
		for (uint32_t i = 0; i < t->nregs; i++)
			R.dereg_mr(t->regs[i].mr);
		if (t->ctrl_mr)
			R.dereg_mr(t->ctrl_mr);
		if (t->bounce_mr)
			R.dereg_mr(t->bounce_mr);
		if (t->cq)
			R.destroy_cq(t->cq);
		if (t->pd)
			R.dealloc_pd(t->pd);
		if (t->id)
			R.destroy_id(t->id);
		if (t->ch)
			R.destroy_event_channel(t->ch);
	}
	/* A fork child leaves the parent's queue pair, regions and ids alone:
	 * they are the same kernel objects. */
	if (t->ctrl)
		sys_munmap(t->ctrl, 4096);
	if (t->bounce)
		sys_munmap(t->bounce, BOUNCE_SIZE);
	pthread_mutex_destroy(&t->lock);
	sys_munmap(t, xport_map_size());
}

/* Waits for the next event on the id; 0 when it is `want` (*ev must be
 * acked by the caller), else the event's type + 1 as a negative number
 * with *ev set (or -ETIMEDOUT with *ev NULL). */
static int wait_cm(struct rdma_xport *t, enum rdma_cm_event_type want, struct rdma_cm_event **ev)
{
	*ev = NULL;
	struct pollfd p = { t->ch->fd, POLLIN, 0 };
	long n;
	do
		n = sys_call(SYS_poll, &p, 1, CM_TIMEOUT_MS, 0, 0, 0);
	while (n == -EINTR);
	if (n <= 0)
		return -ETIMEDOUT;
	if (R.get_cm_event(t->ch, ev))
		return -errno ? -errno : -EIO;
	return (*ev)->event == want ? 0 : -(int)(*ev)->event - 1;
}

static const char *rej_reason(int status)
{
	switch (status) {
	case -EUSERS: return "too many clients (--max-clients)";
	case -ENOSPC: return "out of space (the pool is full)";
	case -EPROTONOSUPPORT: return "protocol version not supported";
	default: return "refused";
	}
}

static int rdma_connect_(const char *addr, struct xport **out, char *err, size_t errlen)
{
	struct sockaddr_in sa;
	if (xport_parse_inet(addr, &sa) || !sa.sin_port) {
		log_format(err, errlen, "far-memory server 'rdma://%s' is not of the form rdma://IPV4:PORT", addr);
		return -EINVAL;
	}
	int r = rdma_lib_load(err, errlen);
	if (r)
		return r;
	if (rdma_lib_device_count() <= 0) {
		log_format(err, errlen, "rdma://%s: " RDMA_NO_DEVICE_MSG, addr);
		return -ENODEV;
	}
	struct rdma_xport *t = sys_mmap(NULL, xport_map_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_mmap_failed(t))
		return -ENOMEM;
	t->base.ops = &xport_rdma_ops;
	pthread_mutex_init(&t->lock, NULL);
	size_t an = strlen(addr) < sizeof(t->addr) - 1 ? strlen(addr) : sizeof(t->addr) - 1;
	memcpy(t->addr, addr, an);
	t->regions = (struct rdma_regions){ 0, RDMA_MAX_REGIONS, (struct rdma_region *)(t + 1) };
	struct rdma_cm_event *ev = NULL;

	t->ch = R.create_event_channel();
	if (!t->ch || R.create_id(t->ch, &t->id, t, RDMA_PS_TCP)) {
		r = -errno ? -errno : -EIO;
		log_format(err, errlen, "rdma://%s: cannot open the RDMA connection manager (error %d)", addr, r);
		goto fail;
	}
	if (R.resolve_addr(t->id, NULL, (struct sockaddr *)&sa, CM_TIMEOUT_MS) ||
	    (r = wait_cm(t, RDMA_CM_EVENT_ADDR_RESOLVED, &ev))) {
		if (!r)
			r = -errno ? -errno : -EIO;
		log_format(err, errlen,
			   "rdma://%s: address not resolvable (no RDMA device reaches it; rxe must sit on the "
			   "interface that owns the route), error %d",
			   addr, r);
		goto fail;
	}
	R.ack_cm_event(ev);
	ev = NULL;
	uint8_t ack_timeout = RDMA_ACK_TIMEOUT;
	R.set_option(t->id, RDMA_OPTION_ID, RDMA_OPTION_ID_ACK_TIMEOUT, &ack_timeout, sizeof(ack_timeout));
	if (R.resolve_route(t->id, CM_TIMEOUT_MS) || (r = wait_cm(t, RDMA_CM_EVENT_ROUTE_RESOLVED, &ev))) {
		if (!r)
			r = -errno ? -errno : -EIO;
		log_format(err, errlen, "rdma://%s: no RDMA route to it (error %d)", addr, r);
		goto fail;
	}
	R.ack_cm_event(ev);
	ev = NULL;

	struct ibv_context *ctx = t->id->verbs;
	t->pd = R.alloc_pd(ctx);
	t->cq = t->pd ? R.create_cq(ctx, 2 * RDMA_MAX_BATCH + 8, NULL, NULL, 0) : NULL;
	struct ibv_qp_init_attr qa = { .send_cq = t->cq, .recv_cq = t->cq, .qp_type = IBV_QPT_RC,
				       .cap = { .max_send_wr = RDMA_MAX_BATCH + 4, .max_recv_wr = 4,
						.max_send_sge = 1, .max_recv_sge = 1 } };
	if (!t->cq || R.create_qp(t->id, t->pd, &qa)) {
		r = -errno ? -errno : -EIO;
		log_format(err, errlen, "rdma://%s: cannot create a queue pair on %s (error %d)", addr,
			   ctx->device->name, r);
		goto fail;
	}
	t->qp = t->id->qp;
	t->ctrl = sys_mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->bounce = sys_mmap(NULL, BOUNCE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sys_mmap_failed(t->ctrl) || sys_mmap_failed(t->bounce)) {
		t->ctrl = sys_mmap_failed(t->ctrl) ? NULL : t->ctrl;
		t->bounce = sys_mmap_failed(t->bounce) ? NULL : t->bounce;
		r = -ENOMEM;
		log_format(err, errlen, "rdma://%s: cannot map staging buffers", addr);
		goto fail;
	}
	t->ctrl_mr = R.reg_mr(t->pd, t->ctrl, 4096, IBV_ACCESS_LOCAL_WRITE);
	t->bounce_mr = R.reg_mr(t->pd, t->bounce, BOUNCE_SIZE, IBV_ACCESS_LOCAL_WRITE);
	if (!t->ctrl_mr || !t->bounce_mr || post_ctrl_recv(t)) {
		r = -errno ? -errno : -EIO;
		log_format(err, errlen, "rdma://%s: cannot register staging buffers (error %d; ulimit -l?)", addr, r);
		goto fail;
	}
	struct ibv_device_attr da;
	int depth = R.query_device(ctx, &da) ? 1 : da.max_qp_init_rd_atom;
	struct rdma_conn_req req = { .magic = RDMA_WIRE_MAGIC, .version = RDMA_WIRE_VERSION, .page_size = 4096 };
	memcpy(req.name, "libshunt", 8);
	struct rdma_conn_param cp = { .private_data = &req, .private_data_len = sizeof(req),
				      .initiator_depth = (uint8_t)(depth > 16 ? 16 : depth < 1 ? 1 : depth),
				      .responder_resources = 1, .retry_count = 7, .rnr_retry_count = 7 };
	if (R.connect(t->id, &cp)) {
		r = -errno ? -errno : -EIO;
		log_format(err, errlen, "rdma://%s: connect failed (error %d)", addr, r);
		goto fail;
	}
	r = wait_cm(t, RDMA_CM_EVENT_ESTABLISHED, &ev);
	if (r) {
		struct rdma_conn_rej rej = { 0 };
		if (ev && ev->event == RDMA_CM_EVENT_REJECTED && ev->param.conn.private_data &&
		    ev->param.conn.private_data_len >= sizeof(rej))
			memcpy(&rej, ev->param.conn.private_data, sizeof(rej));
		if (rej.magic == RDMA_WIRE_MAGIC && rej.status < 0) {
			r = rej.status;
			log_format(err, errlen, "shunt-memd at rdma://%s rejected the connection: %s", addr,
				   rej_reason(rej.status));
		} else if (ev && ev->event == RDMA_CM_EVENT_REJECTED) {
			r = -ECONNREFUSED;
			log_format(err, errlen,
				   "rdma://%s rejected the connection (status %d): is shunt-memd listening there with "
				   "--listen rdma://%s?",
				   addr, ev->status, addr);
		} else {
			r = ev ? -EHOSTUNREACH : -ETIMEDOUT;
			log_format(err, errlen, "cannot reach shunt-memd at rdma://%s: %s", addr,
				   ev ? R.event_str(ev->event) : "timed out");
		}
		goto fail;
	}
	struct memd_info mi = { 0 };
	if (ev->param.conn.private_data && ev->param.conn.private_data_len >= sizeof(mi))
		memcpy(&mi, ev->param.conn.private_data, sizeof(mi)); /* copy, then check */
	R.ack_cm_event(ev);
	ev = NULL;
	if (!mi.chunk || !mi.max_payload || !mi.max_segs || mi.max_clients < mi.clients) {
		r = -EPROTO;
		log_format(err, errlen, "shunt-memd at rdma://%s sent an impossible handshake", addr);
		goto fail;
	}
	fill_limits(&t->base.limits, &mi);
	/* From here a readable channel means the connection is going away. */
	sys_fcntl(t->ch->fd, F_SETFL, O_NONBLOCK);
	log_info("far memory: rdma://%s connected on %s, client %u", addr, ctx->device->name, mi.client_id);
	*out = &t->base;
	return 0;
fail:
	if (ev)
		R.ack_cm_event(ev);
	teardown(t);
	return r;
}

static void rdma_close(struct xport *x)
{
	struct rdma_xport *t = rdma_of(x);
	if (!t->child && t->id && !t->dead)
		R.disconnect(t->id);
	teardown(t);
}

/* A fork child shares the parent's queue pair and completion queue (the
 * same kernel objects), and a READ lands in the parent's pinned staging
 * pages, not the child's copies. Nor can it open a connection of its own:
 * the kernel refuses write() commands (rxe's doorbell among them) on a
 * device file opened under another process's credentials, and librdmacm
 * keeps the parent's device contexts. The child's copy refuses all I/O;
 * far memory's child gets its pages through its parent instead
 * (runtime/far/fork.c). */
static void rdma_fork(struct xport *x, int phase)
{
	struct rdma_xport *t = rdma_of(x);
	if (phase == XPORT_FORK_PREPARE) {
		pthread_mutex_lock(&t->lock);
	} else if (phase == XPORT_FORK_PARENT) {
		pthread_mutex_unlock(&t->lock);
	} else {
		pthread_mutex_init(&t->lock, NULL);
		t->child = 1;
	}
}

const struct xport_ops xport_rdma_ops = {
	.scheme = "rdma",
	.connect = rdma_connect_,
	.reg_buf = rdma_reg_buf,
	.alloc = rdma_alloc,
	.free = rdma_free,
	.read = rdma_read_,
	.write = rdma_write_,
	.info = rdma_info,
	.close = rdma_close,
	.fork = rdma_fork,
};
