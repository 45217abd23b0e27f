/* Node-level JSON-RPC methods. Methods of the chain, meta and resource
 * layers are registered by those modules. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_node.h>
#include "rpc/rpc_private.h"

int st_rpc_check_params(json_t *params, const char *const *allowed, char *err, size_t cap) {
  if (!params || (json_is_array(params) && json_array_size(params) == 0))
    return 0;
  if (!json_is_object(params)) {
    snprintf(err, cap, "invalid params: expected an object of named parameters");
    return ST_RPC_INVALID_PARAMS;
  }
  const char *key;
  json_t *v;
  json_object_foreach(params, key, v) {
    int ok = 0;
    for (size_t i = 0; allowed && allowed[i]; i++)
      if (strcmp(allowed[i], key) == 0)
        ok = 1;
    if (!ok) {
      /* The key comes from the client: shown cut and printable only. */
      char k[65];
      size_t n = 0;
      for (; key[n] && n + 1 < sizeof(k); n++)
        k[n] = key[n] >= 0x20 && key[n] < 0x7f ? key[n] : '?';
      k[n] = '\0';
      snprintf(err, cap, "invalid params: unknown parameter \"%s\"", k);
      return ST_RPC_INVALID_PARAMS;
    }
  }
  return 0;
}

int st_rpc__check_params(st_rpc_call_t *call, json_t *params, const char *const *allowed) {
  char err[160];
  int code = st_rpc_check_params(params, allowed, err, sizeof(err));
  if (code != 0) {
    st_rpc_error(call, code, err, NULL);
    return -1;
  }
  return 0;
}

static uint64_t now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static void m_health(st_rpc_call_t *call, json_t *params, void *ud) {
  if (st_rpc__check_params(call, params, NULL) != 0)
    return;
  st_rpc_result(call, json_object());
}

static json_t *roles_json(unsigned roles) {
  static const char *const names[] = {"value", "meta", "resource"};
  json_t *a = json_array();
  for (unsigned i = 0; i < 3; i++)
    if (roles & (1u << i))
      json_array_append_new(a, json_string(names[i]));
  return a;
}

/* A status call waiting for the chain's part. */
typedef struct status_wait {
  st_rpc_call_t *call;
  json_t *result;
} status_wait_t;

static void on_chain_status(st_msg_t *reply, void *ud) {
  status_wait_t *w = ud;
  json_t *part = reply->status == 0 ? reply->data : NULL;
  if (json_is_object(part)) {
    json_t *net = json_object_get(part, "network");
    if (json_is_string(net))
      json_object_set(json_object_get(w->result, "node_info"), "network", net);
    json_object_del(part, "network");
    json_object_update(w->result, part);
  }
  st_rpc_result(w->call, w->result);
  free(w);
}

static void m_status(st_rpc_call_t *call, json_t *params, void *ud) {
  st_node_t *node = ud;
  if (st_rpc__check_params(call, params, NULL) != 0)
    return;
  char rpc_addr[96], gw_addr[96], pk[2 * ST_PUBKEY_LEN + 1];
  snprintf(rpc_addr, sizeof(rpc_addr), "%s:%u", node->cfg.rpc_laddr.host,
           (unsigned)node->rpc_port);
  snprintf(gw_addr, sizeof(gw_addr), "%s:%u", node->cfg.gw_laddr.host,
           (unsigned)node->gw_port);
  st_hex_encode(node->node_key.pk, ST_PUBKEY_LEN, pk, sizeof(pk));
  uint64_t up = (now_ms() - node->start_ms) / 1000u;
  json_t *r = json_pack("{s:{s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:o},s:I,s:n}",
                        "node_info", "id", node->node_id, "pub_key", pk,
                        "moniker", node->cfg.moniker, "version", ST_VERSION,
                        "roles", roles_json(node->roles), "rpc_address", rpc_addr,
                        "gateway_address", gw_addr, "network",
                        node->chain_id[0] ? json_string(node->chain_id) : json_null(),
                        "uptime_seconds", (json_int_t)up, "sync_info");
  /* The chain, when it runs, adds sync_info and validator_info. */
  status_wait_t *w = malloc(sizeof(*w));
  if (!w)
    abort();
  w->call = call;
  w->result = r;
  st_msg_t req = {.type = ST_MSG_STATUS_REQ, .from = ST_MOD_RPC, .to = ST_MOD_CHAIN};
  if (st_bus_request(node->bus, &req, on_chain_status, w, NULL) != 0) {
    free(w);
    st_rpc_result(call, r);
  }
}

void st_rpc__register_node_methods(st_rpc_t *rpc, st_node_t *node) {
  st_rpc_register(rpc, "health", m_health, node);
  st_rpc_register(rpc, "status", m_status, node);
}

json_t *st_rpc_base64(const void *p, size_t n) {
  size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
  char *s = malloc(cap);
  if (!s)
    abort();
  sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
  json_t *j = json_string(s);
  free(s);
  return j;
}
