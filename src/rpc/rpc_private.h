/* Inside the rpc module only. */
#ifndef STRATOS_RPC_RPC_PRIVATE_H
#define STRATOS_RPC_RPC_PRIVATE_H

#include <stratos/st_node.h>
#include <stratos/st_rpc.h>

int st_rpc__new(st_node_t *node, st_rpc_t **out);
int st_rpc__listen(st_rpc_t *rpc);
uint16_t st_rpc__port(const st_rpc_t *rpc);
void st_rpc__free(st_rpc_t *rpc);

/* Registers the node-level methods (health, status). */
void st_rpc__register_node_methods(st_rpc_t *rpc, st_node_t *node);

/* Checks that params is absent, an empty array, or an object whose keys
 * are all in allowed (NULL-terminated). On failure answers the call with
 * -32602 and returns -1. */
int st_rpc__check_params(st_rpc_call_t *call, json_t *params, const char *const *allowed);

#endif
