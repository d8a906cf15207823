/* Loads rdma-core on first use (see rdma_lib.h for why it is not linked).
 * Owns the function table and nothing else; never called on a data path. */
#include "transport/rdma_lib.h"
#include "common/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

struct rdma_lib rdma_lib;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_result;
static char load_err[160];

#define SYM(h, field, name)                                                                             \
	do {                                                                                            \
		*(void **)&rdma_lib.field = dlsym(h, name);                                             \
		if (!rdma_lib.field) {                                                                  \
			log_format(load_err, sizeof(load_err), "rdma-core is too old: %s is missing", name); \
			return -ENOENT;                                                                 \
		}                                                                                       \
	} while (0)

static int load_syms(void)
{
	/* RTLD_NODELETE: the provider and our table stay valid for the
	 * process's life; the libraries are never unloaded. */
	void *v = dlopen("libibverbs.so.1", RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
	if (!v) {
		log_format(load_err, sizeof(load_err),
			   "libibverbs.so.1 cannot be loaded (install rdma-core, libibverbs1, ibverbs-providers); use tcp://");
		return -ENOENT;
	}
	void *c = dlopen("librdmacm.so.1", RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
	if (!c) {
		log_format(load_err, sizeof(load_err), "librdmacm.so.1 cannot be loaded (install librdmacm1); use tcp://");
		return -ENOENT;
	}
	SYM(v, get_device_list, "ibv_get_device_list");
	SYM(v, free_device_list, "ibv_free_device_list");
	SYM(v, alloc_pd, "ibv_alloc_pd");
	SYM(v, dealloc_pd, "ibv_dealloc_pd");
	SYM(v, create_cq, "ibv_create_cq");
	SYM(v, destroy_cq, "ibv_destroy_cq");
	SYM(v, reg_mr, "ibv_reg_mr");
	SYM(v, dereg_mr, "ibv_dereg_mr");
	SYM(v, query_device, "ibv_query_device");
	SYM(v, modify_qp, "ibv_modify_qp");
	SYM(v, create_comp_channel, "ibv_create_comp_channel");
	SYM(v, destroy_comp_channel, "ibv_destroy_comp_channel");
	SYM(v, get_cq_event, "ibv_get_cq_event");
	SYM(v, ack_cq_events, "ibv_ack_cq_events");
	SYM(v, wc_status_str, "ibv_wc_status_str");
	SYM(c, create_event_channel, "rdma_create_event_channel");
	SYM(c, destroy_event_channel, "rdma_destroy_event_channel");
	SYM(c, create_id, "rdma_create_id");
	SYM(c, destroy_id, "rdma_destroy_id");
	SYM(c, resolve_addr, "rdma_resolve_addr");
	SYM(c, resolve_route, "rdma_resolve_route");
	SYM(c, get_cm_event, "rdma_get_cm_event");
	SYM(c, ack_cm_event, "rdma_ack_cm_event");
	SYM(c, create_qp, "rdma_create_qp");
	SYM(c, destroy_qp, "rdma_destroy_qp");
	SYM(c, connect, "rdma_connect");
	SYM(c, accept, "rdma_accept");
	SYM(c, reject, "rdma_reject");
	SYM(c, disconnect, "rdma_disconnect");
	SYM(c, bind_addr, "rdma_bind_addr");
	SYM(c, listen, "rdma_listen");
	SYM(c, set_option, "rdma_set_option");
	SYM(c, event_str, "rdma_event_str");
	return 0;
}

static void load(void) { load_result = load_syms(); }

int rdma_lib_load(char *err, size_t errlen)
{
	pthread_once(&load_once, load);
	if (load_result && err)
		log_format(err, errlen, "%s", load_err);
	return load_result;
}

int rdma_lib_device_count(void)
{
	int n = 0;
	struct ibv_device **l = rdma_lib.get_device_list(&n);
	if (!l)
		return -errno;
	rdma_lib.free_device_list(l);
	return n;
}
