/* Inside the rpc module only. */
#ifndef STRATOS_RPC_RPC_PRIVATE_H
#define STRATOS_RPC_RPC_PRIVATE_H

#include <stratos/st_node.h>
#include <stratos/st_rpc.h>

/* ---- WebSocket (ws.c) ---- */

typedef struct st_rpc_ws st_rpc_ws_t;

/* The WebSocket clients of one rpc server. */
typedef struct st_rpc_ws_hub {
  st_rpc_ws_t *head;
  size_t count;
  size_t subscriptions; /* over every client */
  uint64_t events_sent;
  uint64_t slow_closed;
} st_rpc_ws_hub_t;

void st_rpc__ws_init(st_rpc_t *rpc);
int st_rpc__ws_upgrade(h2o_req_t *req, const st_http_match_t *m, void *ud);
/* Sends one JSON value as a text frame (if the client is still there). */
void st_rpc__ws_send(st_rpc_ws_t *ws, json_t *j);
void st_rpc__ws_retain(st_rpc_ws_t *ws);
void st_rpc__ws_release(st_rpc_ws_t *ws);
void st_rpc__ws_close_all(st_rpc_t *rpc);
/* Whether a subscription of hub could match an event of type. */
int st_rpc__ws_wants(const st_rpc_ws_hub_t *hub, const char *type);
/* Delivers an array of events ({"type","attrs","data"}, borrowed) to
 * matching subscriptions. */
void st_rpc__ws_publish(st_rpc_t *rpc, json_t *events);

/* ---- shared inside the module (rpc.c) ---- */

st_rpc_ws_hub_t *st_rpc__hub(st_rpc_t *rpc);
/* Runs a JSON-RPC text message that came on a WebSocket. */
void st_rpc__run_text(st_rpc_t *rpc, st_rpc_ws_t *ws, const char *body, size_t len);
/* The WebSocket a call came on, or NULL for HTTP. */
st_rpc_ws_t *st_rpc__call_ws(const st_rpc_call_t *call);
/* The call's id (borrowed; NULL for a notification). */
json_t *st_rpc__call_id(const st_rpc_call_t *call);

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
