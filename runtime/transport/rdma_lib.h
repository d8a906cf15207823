/* rdma-core, loaded on demand: librdmacm and libibverbs are dlopen()ed the
 * first time an rdma:// URL is used, so the many programs libshunt is
 * preloaded into, which never use RDMA, neither load them (libibverbs pulls
 * libnl and scans sysfs in its constructor) nor need rdma-core installed.
 * Only the out-of-line functions are resolved here; the data path
 * (ibv_post_send, ibv_poll_cq, ...) is inline in verbs.h and calls the
 * provider directly. Must never be called from a fault path before the
 * connection exists (dlopen allocates). */
#ifndef SHUNT_RDMA_LIB_H
#define SHUNT_RDMA_LIB_H

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <stddef.h>

/* Field names drop the ibv_/rdma_ prefix: verbs.h defines some of those
 * names (ibv_reg_mr) as function-like macros. */
struct rdma_lib {
	struct ibv_device **(*get_device_list)(int *n);
	void (*free_device_list)(struct ibv_device **l);
	struct ibv_pd *(*alloc_pd)(struct ibv_context *c);
	int (*dealloc_pd)(struct ibv_pd *pd);
	struct ibv_cq *(*create_cq)(struct ibv_context *c, int cqe, void *ctx, struct ibv_comp_channel *ch, int vec);
	int (*destroy_cq)(struct ibv_cq *cq);
	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t len, int access);
	int (*dereg_mr)(struct ibv_mr *mr);
	int (*query_device)(struct ibv_context *c, struct ibv_device_attr *a);
	int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask);
	struct ibv_comp_channel *(*create_comp_channel)(struct ibv_context *c);
	int (*destroy_comp_channel)(struct ibv_comp_channel *ch);
	int (*get_cq_event)(struct ibv_comp_channel *ch, struct ibv_cq **cq, void **ctx);
	void (*ack_cq_events)(struct ibv_cq *cq, unsigned n);
	const char *(*wc_status_str)(enum ibv_wc_status s);

	struct rdma_event_channel *(*create_event_channel)(void);
	void (*destroy_event_channel)(struct rdma_event_channel *ch);
	int (*create_id)(struct rdma_event_channel *ch, struct rdma_cm_id **id, void *ctx, enum rdma_port_space ps);
	int (*destroy_id)(struct rdma_cm_id *id);
	int (*resolve_addr)(struct rdma_cm_id *id, struct sockaddr *src, struct sockaddr *dst, int ms);
	int (*resolve_route)(struct rdma_cm_id *id, int ms);
	int (*get_cm_event)(struct rdma_event_channel *ch, struct rdma_cm_event **ev);
	int (*ack_cm_event)(struct rdma_cm_event *ev);
	int (*create_qp)(struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *a);
	void (*destroy_qp)(struct rdma_cm_id *id);
	int (*connect)(struct rdma_cm_id *id, struct rdma_conn_param *p);
	int (*accept)(struct rdma_cm_id *id, struct rdma_conn_param *p);
	int (*reject)(struct rdma_cm_id *id, const void *data, uint8_t len);
	int (*disconnect)(struct rdma_cm_id *id);
	int (*bind_addr)(struct rdma_cm_id *id, struct sockaddr *a);
	int (*listen)(struct rdma_cm_id *id, int backlog);
	int (*set_option)(struct rdma_cm_id *id, int level, int name, void *val, size_t len);
	const char *(*event_str)(enum rdma_cm_event_type e);
};

extern struct rdma_lib rdma_lib;

/* Loads both libraries once (thread-safe). 0, or -ENOENT with err naming
 * what is missing. */
int rdma_lib_load(char *err, size_t errlen);

/* Number of RDMA devices the host has (0: none); < 0 on error. */
int rdma_lib_device_count(void);

#define RDMA_NO_DEVICE_MSG "no RDMA device found (rdma_rxe/hardware); use tcp://"

#endif
