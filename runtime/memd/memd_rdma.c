/* shunt-memd's rdma:// listener (protocol in transport/rdma_wire.h): one
 * thread runs the connection manager and the control messages. Each ALLOC
 * registers the client's new chunks as one memory region and hands it the
 * address and rkey; from then on the client reads and writes them
 * one-sided, and this process does nothing per page (no completion, no
 * wake-up). A client's regions are deregistered and its chunks freed when
 * its connection ends. Control messages are copied out and checked; a bad
 * one fails that request, an unframable one ends that connection. */
#include "memd/memd.h"
#include "memd/memd_internal.h"
#include "transport/rdma_lib.h"
#include "transport/rdma_wire.h"
#include "transport/transport.h"
#include "common/atomics.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define R rdma_lib

enum {
	REGIONS_PER_CLIENT = 4096, /* ALLOCs a client may hold at once */
	SLOT_BUF = 3 * RDMA_MSG_BUF, /* per client: two receive buffers, one send buffer */
};

struct rclient {
	struct rdma_cm_id *id;      /* NULL: slot unused */
	uint32_t cid, gen;          /* gen tags work requests: stale completions of a gone client are ignored */
	char *msg;                  /* SLOT_BUF bytes inside the registered control area */
	struct rdma_regions regions;
};

struct memd_rdma {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *listen_id;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	char *ctrl;
	struct ibv_mr *ctrl_mr;
	int wake_fd;
	int max_rd_atom;
	uint32_t max_clients;
	size_t map_size;
	char url[80];
	struct rclient *cl;
};

static uint64_t wr_id_of(struct memd_rdma *m, struct rclient *c, unsigned buf)
{
	return (uint64_t)c->gen << 32 | (uint64_t)(c - m->cl) << 2 | buf;
}

static int post_recv(struct memd_rdma *m, struct rclient *c, unsigned buf)
{
	struct ibv_sge sge = { (uint64_t)(uintptr_t)(c->msg + buf * RDMA_MSG_BUF), RDMA_MSG_BUF, m->ctrl_mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id_of(m, c, buf), .sg_list = &sge, .num_sge = 1 }, *bad;
	return ibv_post_recv(c->id->qp, &wr, &bad);
}

static void reject(struct rdma_cm_id *id, int status)
{
	struct rdma_conn_rej rej = { RDMA_WIRE_MAGIC, status };
	R.reject(id, &rej, sizeof(rej));
}

/* Frees everything the client held. The id's events must all be acked. */
static void drop_client(struct memd_server *s, struct rclient *c)
{
	struct memd_rdma *m = s->rdma;
	if (c->id->qp)
		R.destroy_qp(c->id);
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < c->regions.n; i++) {
		struct rdma_region *rg = &c->regions.r[i];
		R.dereg_mr((struct ibv_mr *)(uintptr_t)rg->cookie);
		memd_release_chunks(s, rg->raddr / MEMD_CHUNK, memd_chunks_for(rg->len));
	}
	c->regions.n = 0;
	memd_pool_free_all(s, c->cid);
	s->nclients--;
	log_info("shunt-memd: rdma client %u gone; its regions are free (%lu MiB free)", c->cid,
		 (unsigned long)(s->free_chunks * MEMD_CHUNK >> 20));
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	R.destroy_id(c->id);
	c->id = NULL;
	c->gen++;
	(void)m;
}

static void on_connect_request(struct memd_server *s, struct rdma_cm_event *ev)
{
	struct memd_rdma *m = s->rdma;
	struct rdma_cm_id *id = ev->id;
	struct rdma_conn_req req = { 0 };
	if (ev->param.conn.private_data && ev->param.conn.private_data_len >= sizeof(req))
		memcpy(&req, ev->param.conn.private_data, sizeof(req)); /* copy, then check */
	if (req.magic != RDMA_WIRE_MAGIC || req.version != RDMA_WIRE_VERSION) {
		log_warn("shunt-memd: refusing an rdma connection: not a shunt client of protocol version %u",
			 RDMA_WIRE_VERSION);
		reject(id, -EPROTONOSUPPORT);
		goto destroy;
	}
	if (id->verbs != m->ctx) {
		log_warn("shunt-memd: refusing an rdma connection on another device");
		reject(id, -ENODEV);
		goto destroy;
	}
	struct rclient *c = NULL;
	int why = 0;
	pthread_mutex_lock(&s->lock);
	if (!s->free_chunks) {
		why = -ENOSPC;
	} else {
		for (uint32_t i = 0; i < m->max_clients && !c; i++)
			if (!m->cl[i].id)
				c = &m->cl[i];
		if (!c) {
			why = -EUSERS;
		} else {
			c->id = id;
			c->cid = ++s->next_id ? s->next_id : ++s->next_id;
			s->nclients++;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (why) {
		log_warn("shunt-memd: refusing an rdma client: %s",
			 why == -ENOSPC ? "the pool is full" : "--max-clients reached");
		reject(id, why);
		goto destroy;
	}
	id->context = c;
	struct ibv_qp_init_attr qa = { .send_cq = m->cq, .recv_cq = m->cq, .qp_type = IBV_QPT_RC,
				       .cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1 } };
	struct memd_info info;
	memd_fill_info(s, c->cid, &info);
	int rd = ev->param.conn.initiator_depth < m->max_rd_atom ? ev->param.conn.initiator_depth : m->max_rd_atom;
	struct rdma_conn_param cp = { .private_data = &info, .private_data_len = sizeof(info),
				      .responder_resources = (uint8_t)rd, .initiator_depth = 0, .rnr_retry_count = 7 };
	if (R.create_qp(id, m->pd, &qa) || post_recv(m, c, 0) || post_recv(m, c, 1) || R.accept(id, &cp)) {
		log_warn("shunt-memd: cannot accept an rdma client (error %d)", errno);
		reject(id, -ENOMEM);
		R.ack_cm_event(ev);
		drop_client(s, c);
		return;
	}
	char name[sizeof(req.name) + 1] = "";
	memcpy(name, req.name, sizeof(req.name));
	for (size_t i = 0; name[i]; i++)
		if (name[i] < ' ' || name[i] > '~')
			name[i] = '?';
	log_info("shunt-memd: rdma client %u (%s) connecting", c->cid, name);
	R.ack_cm_event(ev);
	return;
destroy:
	R.ack_cm_event(ev);
	R.destroy_id(id);
}

static void handle_cm(struct memd_server *s)
{
	struct memd_rdma *m = s->rdma;
	struct rdma_cm_event *ev;
	if (R.get_cm_event(m->ch, &ev))
		return;
	struct rclient *c = ev->id->context;
	switch (ev->event) {
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		on_connect_request(s, ev);
		return;
	case RDMA_CM_EVENT_ESTABLISHED:
		log_info("shunt-memd: rdma client %u connected", c ? c->cid : 0);
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_REJECTED:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
		if (c && ev->id != m->listen_id) {
			R.disconnect(ev->id);
			R.ack_cm_event(ev);
			drop_client(s, c);
			return;
		}
		break;
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		log_error("shunt-memd: the RDMA device went away; stopping");
		store_release(&s->stopping, 1);
		break;
	default:
		break;
	}
	R.ack_cm_event(ev);
}

/* One control request: the answer goes out of the client's send buffer. */
static void handle_msg(struct memd_server *s, struct rclient *c, unsigned buf, uint32_t len)
{
	struct memd_rdma *m = s->rdma;
	struct rdma_msg q;
	memcpy(&q, c->msg + buf * RDMA_MSG_BUF, sizeof(q)); /* copy, then check */
	fetch_add_relaxed(&s->n_requests, 1);
	if (post_recv(m, c, buf)) {
		R.disconnect(c->id);
		return;
	}
	int chk = rdma_msg_check(&q, len, 0);
	if (chk == -EPROTO) {
		fetch_add_relaxed(&s->n_bad, 1);
		fetch_add_relaxed(&s->n_dropped, 1);
		log_warn("shunt-memd: rdma client %u: unframable control message; closing its connection", c->cid);
		R.disconnect(c->id);
		return;
	}
	unsigned op = q.op & ~MEMD_REPLY;
	struct rdma_msg a = { .magic = RDMA_WIRE_MAGIC, .version = RDMA_WIRE_VERSION,
			      .op = (uint16_t)((op ? op : MEMD_OP_STAT) | MEMD_REPLY), .seq = q.seq };
	if (chk) {
		fetch_add_relaxed(&s->n_bad, 1);
		a.status = chk;
	} else if (op == MEMD_OP_STAT) {
		memd_fill_info(s, c->cid, &a.u.info);
	} else if (op == MEMD_OP_ALLOC) {
		uint64_t raddr = 0, len = q.u.span.len;
		pthread_mutex_lock(&s->lock);
		int r = len > s->size ? -ENOSPC : memd_pool_alloc(s, c->cid, len, &raddr);
		uint64_t left = s->free_chunks * MEMD_CHUNK;
		pthread_mutex_unlock(&s->lock);
		if (r) {
			log_info("shunt-memd: rdma client %u asked for %lu bytes, %lu left: refused", c->cid,
				 (unsigned long)len, (unsigned long)left);
			a.status = -ENOSPC;
			a.u.span = (struct memd_span){ 0, left };
		} else {
			uint64_t whole = memd_chunks_for(len) * MEMD_CHUNK;
			struct ibv_mr *mr = R.reg_mr(m->pd, s->pool + raddr, whole,
						     IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE);
			struct rdma_region rg = { .raddr = raddr, .len = whole, .va = (uint64_t)(uintptr_t)(s->pool + raddr),
						  .cookie = (uint64_t)(uintptr_t)mr, .rkey = mr ? mr->rkey : 0 };
			if (!mr || rdma_regions_add(&c->regions, &rg)) {
				log_warn("shunt-memd: cannot register %lu MiB for rdma client %u (error %d; ulimit -l?)",
					 (unsigned long)(whole >> 20), c->cid, mr ? ENOSPC : errno);
				if (mr)
					R.dereg_mr(mr);
				pthread_mutex_lock(&s->lock);
				memd_release_chunks(s, raddr / MEMD_CHUNK, whole / MEMD_CHUNK);
				pthread_mutex_unlock(&s->lock);
				a.status = -ENOMEM;
			} else {
				a.u.region = (struct rdma_wire_region){ raddr, whole, rg.va, rg.rkey, 0 };
			}
		}
	} else { /* MEMD_OP_FREE */
		struct rdma_region rg;
		uint64_t whole = memd_chunks_for(q.u.span.len) * MEMD_CHUNK;
		if (rdma_regions_del(&c->regions, q.u.span.raddr, whole, &rg)) {
			fetch_add_relaxed(&s->n_bad, 1);
			a.status = -EFAULT;
		} else {
			R.dereg_mr((struct ibv_mr *)(uintptr_t)rg.cookie);
			pthread_mutex_lock(&s->lock);
			memd_release_chunks(s, rg.raddr / MEMD_CHUNK, whole / MEMD_CHUNK);
			pthread_mutex_unlock(&s->lock);
		}
	}
	char *out = c->msg + 2 * RDMA_MSG_BUF;
	memcpy(out, &a, sizeof(a));
	struct ibv_sge sge = { (uint64_t)(uintptr_t)out, sizeof(a), m->ctrl_mr->lkey };
	struct ibv_send_wr wr = { .wr_id = wr_id_of(m, c, 2), .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	if (ibv_post_send(c->id->qp, &wr, &bad))
		R.disconnect(c->id);
}

static void handle_cq(struct memd_server *s)
{
	struct memd_rdma *m = s->rdma;
	struct ibv_cq *cq;
	void *ctx;
	if (R.get_cq_event(m->cc, &cq, &ctx))
		return;
	R.ack_cq_events(cq, 1);
	ibv_req_notify_cq(cq, 0);
	struct ibv_wc wc[16];
	int n;
	while ((n = ibv_poll_cq(cq, 16, wc)) > 0) {
		for (int i = 0; i < n; i++) {
			uint32_t slot = (uint32_t)(wc[i].wr_id & 0xffffffffu) >> 2, buf = wc[i].wr_id & 3;
			if (slot >= m->max_clients)
				continue;
			struct rclient *c = &m->cl[slot];
			if (!c->id || c->gen != (uint32_t)(wc[i].wr_id >> 32))
				continue; /* a client that is gone */
			if (wc[i].status != IBV_WC_SUCCESS) {
				if (wc[i].status != IBV_WC_WR_FLUSH_ERR)
					log_info("shunt-memd: rdma client %u: %s", c->cid, R.wc_status_str(wc[i].status));
				continue; /* its disconnect event frees it */
			}
			if (wc[i].opcode == IBV_WC_RECV && buf < 2)
				handle_msg(s, c, buf, wc[i].byte_len);
		}
	}
}

int memd_rdma_listen(struct memd_server *s, const char *url, uint16_t *port, char *err, size_t errlen)
{
	struct sockaddr_in sa;
	if (xport_parse_inet(url + 7, &sa)) {
		log_format(err, errlen, "listen address '%s' is not of the form rdma://IPV4:PORT", url);
		return -EINVAL;
	}
	int r = rdma_lib_load(err, errlen);
	if (r)
		return r;
	if (rdma_lib_device_count() <= 0) {
		log_format(err, errlen, "cannot listen on %s: " RDMA_NO_DEVICE_MSG, url);
		return -ENODEV;
	}
	uint32_t maxc = s->max_clients;
	size_t head = (sizeof(struct memd_rdma) + 63) & ~(size_t)63;
	size_t size = head + (size_t)maxc * (sizeof(struct rclient) + REGIONS_PER_CLIENT * sizeof(struct rdma_region));
	size = (size + 4095) & ~(size_t)4095;
	struct memd_rdma *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED) {
		log_format(err, errlen, "cannot map the rdma client tables");
		return -ENOMEM;
	}
	m->map_size = size;
	m->max_clients = maxc;
	m->wake_fd = -1;
	snprintf(m->url, sizeof(m->url), "%s", url);
	m->cl = (struct rclient *)((char *)m + head);
	struct rdma_region *regs = (struct rdma_region *)(m->cl + maxc);
	for (uint32_t i = 0; i < maxc; i++)
		m->cl[i].regions = (struct rdma_regions){ 0, REGIONS_PER_CLIENT, regs + (size_t)i * REGIONS_PER_CLIENT };
	s->rdma = m;

	m->ch = R.create_event_channel();
	if (!m->ch || R.create_id(m->ch, &m->listen_id, NULL, RDMA_PS_TCP)) {
		r = -errno;
		log_format(err, errlen, "cannot listen on %s: the RDMA connection manager is not available (error %d)", url, r);
		goto fail;
	}
	if (R.bind_addr(m->listen_id, (struct sockaddr *)&sa)) {
		r = -errno;
		log_format(err, errlen, "cannot listen on %s: %s", url,
			   r == -ENODEV || r == -EADDRNOTAVAIL ? "no RDMA device has that address" : strerror(-r));
		goto fail;
	}
	m->ctx = m->listen_id->verbs;
	if (!m->ctx) {
		r = -EINVAL;
		log_format(err, errlen, "cannot listen on %s: name the address of an RDMA interface, not a wildcard", url);
		goto fail;
	}
	struct ibv_device_attr da;
	int maxcqe = 4096;
	m->max_rd_atom = 16;
	if (!R.query_device(m->ctx, &da)) {
		maxcqe = da.max_cqe;
		m->max_rd_atom = da.max_qp_rd_atom < 16 ? da.max_qp_rd_atom : 16;
	}
	int cqe = (int)(maxc * 6 + 16 < (uint32_t)maxcqe ? maxc * 6 + 16 : (uint32_t)maxcqe);
	m->pd = R.alloc_pd(m->ctx);
	m->cc = m->pd ? R.create_comp_channel(m->ctx) : NULL;
	m->cq = m->cc ? R.create_cq(m->ctx, cqe, NULL, m->cc, 0) : NULL;
	m->ctrl = mmap(NULL, (size_t)maxc * SLOT_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->ctrl == MAP_FAILED)
		m->ctrl = NULL;
	m->ctrl_mr = m->cq && m->ctrl ? R.reg_mr(m->pd, m->ctrl, (size_t)maxc * SLOT_BUF, IBV_ACCESS_LOCAL_WRITE) : NULL;
	m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!m->ctrl_mr || ibv_req_notify_cq(m->cq, 0) || m->wake_fd < 0 || R.listen(m->listen_id, 64)) {
		r = -errno ? -errno : -EIO;
		log_format(err, errlen, "cannot listen on %s: setting up the device failed (error %d)", url, r);
		goto fail;
	}
	for (uint32_t i = 0; i < maxc; i++)
		m->cl[i].msg = m->ctrl + (size_t)i * SLOT_BUF;
	if (port)
		*port = ntohs(((struct sockaddr_in *)&m->listen_id->route.addr.src_addr)->sin_port);
	return 0;
fail:
	memd_rdma_destroy(s);
	return r ? r : -EIO;
}

int memd_rdma_run(struct memd_server *s)
{
	struct memd_rdma *m = s->rdma;
	while (!load_acquire(&s->stopping)) {
		struct pollfd p[3] = { { m->ch->fd, POLLIN, 0 }, { m->cc->fd, POLLIN, 0 }, { m->wake_fd, POLLIN, 0 } };
		int n = poll(p, 3, -1);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0 || p[2].revents)
			continue;
		if (p[0].revents)
			handle_cm(s);
		if (p[1].revents)
			handle_cq(s);
	}
	/* Stop: every client's regions and chunks go. */
	for (uint32_t i = 0; i < m->max_clients; i++)
		if (m->cl[i].id) {
			R.disconnect(m->cl[i].id);
			drop_client(s, &m->cl[i]);
		}
	return 0;
}

void memd_rdma_wake(struct memd_server *s)
{
	uint64_t one = 1;
	if (s->rdma->wake_fd >= 0 && write(s->rdma->wake_fd, &one, sizeof(one)) < 0)
		return; /* already signalled */
}

void memd_rdma_destroy(struct memd_server *s)
{
	struct memd_rdma *m = s->rdma;
	if (!m)
		return;
	if (m->listen_id)
		R.destroy_id(m->listen_id);
	if (m->ctrl_mr)
		R.dereg_mr(m->ctrl_mr);
	if (m->cq)
		R.destroy_cq(m->cq);
	if (m->cc)
		R.destroy_comp_channel(m->cc);
	if (m->pd)
		R.dealloc_pd(m->pd);
	if (m->ch)
		R.destroy_event_channel(m->ch);
	if (m->ctrl)
		munmap(m->ctrl, (size_t)m->max_clients * SLOT_BUF);
	if (m->wake_fd >= 0)
		close(m->wake_fd);
	s->rdma = NULL;
	munmap(m, m->map_size);
}
