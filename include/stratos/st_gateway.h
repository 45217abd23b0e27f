/* The HTTP gateway: the dApp-facing server (files, KV, tasks, share links,
 * the dashboard and /metrics). Modules add their routes to node->gateway
 * with st_http_route during their init. */
#ifndef STRATOS_ST_GATEWAY_H
#define STRATOS_ST_GATEWAY_H

#include <stratos/st_bus.h>

/* The module's hooks: init creates the server, sets node->gateway and adds
 * /healthz and /metrics; start listens on gateway.laddr. */
extern const st_module_t st_gateway_module;

#endif
