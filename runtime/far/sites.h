/* Far allocation sites (sites.c): sampled stacks of far allocations, with
 * the bytes they own and the faults their pages take, for SHUNT_STATS. */
#ifndef SHUNT_FAR_SITES_H
#define SHUNT_FAR_SITES_H

#include <stddef.h>
#include <stdint.h>

int far_sites_init(void);
/* After a far allocation: 1 when sampled (its pages then carry the site). */
int far_sites_record(void *p, size_t n);
/* Before a sampled allocation's pages are given back. */
void far_sites_forget(void *p, size_t n);
/* From the fault handler: one fault on region page pg. */
void far_sites_fault(uint64_t pg);
void far_sites_text(int fd);
void far_sites_json(int fd);

#endif
