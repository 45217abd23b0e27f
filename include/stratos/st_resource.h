/* The resource layer on a resource node: the slice store it keeps for the
 * network, scrubbed in the background, its usage reported in heartbeats
 * and metrics. */
#ifndef STRATOS_ST_RESOURCE_H
#define STRATOS_ST_RESOURCE_H

#include <stdint.h>
#include <stratos/st_bus.h>

struct st_node;

/* The module's hooks (ST_MOD_RESOURCE): runs on nodes with the resource
 * role. */
extern const st_module_t st_resource_module;

/* What this node stores (0 and 0 when it runs no resource module). */
void st_resource_usage(struct st_node *node, uint64_t *bytes, uint64_t *slices);

#endif
