/* JSON-RPC over WebSocket (GET /websocket on the RPC port), as CometBFT
 * serves it: any method can be called, and `subscribe` registers a query
 * whose matching events are pushed as responses carrying the subscribe
 * call's id. Queries are conjunctions of equalities:
 *   tm.event='NewBlock'
 *   tm.event='Tx' AND tx.hash='AB12...'
 * Every bound is explicit: clients per server, subscriptions per client,
 * message size, and the frames queued to a client, past which a slow
 * client is disconnected rather than buffered without end. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <h2o/websocket.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "rpc/rpc_private.h"

#define WS_MAX_CLIENTS 256
#define WS_MAX_SUBS 32
#define WS_MAX_CONDS 4
#define WS_MAX_MSG (1u << 20)
#define WS_MAX_QUEUED 1024
#define QUERY_MAX 256

typedef struct cond {
  char key[48];
  char value[128];
} cond_t;

typedef struct sub {
  char query[QUERY_MAX];
  json_t *id; /* the subscribe call's id, echoed on every event */
  size_t nconds;
  cond_t conds[WS_MAX_CONDS];
} sub_t;

struct st_rpc_ws {
  st_rpc_t *rpc;
  h2o_websocket_conn_t *conn; /* NULL once closed */
  int refs;                   /* the connection itself, batches, senders */
  st_rpc_ws_t *prev, *next;
  size_t nsubs;
  sub_t subs[WS_MAX_SUBS];
};

static void unlink_client(st_rpc_ws_t *ws) {
  st_rpc_ws_hub_t *hub = st_rpc__hub(ws->rpc);
  /* A client gone has no subscriptions left to feed. */
  hub->subscriptions -= ws->nsubs;
  for (size_t i = 0; i < ws->nsubs; i++)
    json_decref(ws->subs[i].id);
  ws->nsubs = 0;
  if (ws->prev)
    ws->prev->next = ws->next;
  else if (hub->head == ws)
    hub->head = ws->next;
  if (ws->next)
    ws->next->prev = ws->prev;
  ws->prev = ws->next = NULL;
  hub->count--;
}

void st_rpc__ws_retain(st_rpc_ws_t *ws) { ws->refs++; }

void st_rpc__ws_release(st_rpc_ws_t *ws) {
  if (--ws->refs > 0)
    return;
  for (size_t i = 0; i < ws->nsubs; i++)
    json_decref(ws->subs[i].id);
  free(ws);
}

static void close_client(st_rpc_ws_t *ws) {
  if (!ws->conn)
    return;
  h2o_websocket_conn_t *c = ws->conn;
  ws->conn = NULL;
  unlink_client(ws);
  h2o_websocket_close(c);
  st_rpc__ws_release(ws); /* the connection's reference */
}

void st_rpc__ws_send(st_rpc_ws_t *ws, json_t *j) {
  /* Until the 101 is written, h2o has not handed the socket over. */
  if (!ws->conn || !ws->conn->sock)
    return;
  if (wslay_event_get_queued_msg_count(ws->conn->ws_ctx) >= WS_MAX_QUEUED) {
    ST_WARN("rpc", "closing a WebSocket client that does not read its events");
    st_rpc__hub(ws->rpc)->slow_closed++;
    close_client(ws);
    return;
  }
  char *s = json_dumps(j, JSON_COMPACT);
  if (!s)
    return;
  struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)s, strlen(s)};
  wslay_event_queue_msg(ws->conn->ws_ctx, &m); /* wslay copies the message */
  free(s);
  /* proceed may close the connection (and call back on_ws_msg with NULL),
   * so the client is held across it. */
  st_rpc__ws_retain(ws);
  h2o_websocket_proceed(ws->conn);
  st_rpc__ws_release(ws);
}

/* ---- queries ---- */

static int parse_query(const char *q, sub_t *s) {
  size_t n = strlen(q);
  if (n == 0 || n >= sizeof(s->query))
    return ST_EINVAL;
  memcpy(s->query, q, n + 1);
  s->nconds = 0;
  const char *p = q;
  for (;;) {
    while (*p == ' ')
      p++;
    if (s->nconds == WS_MAX_CONDS)
      return ST_E2BIG;
    cond_t *c = &s->conds[s->nconds];
    size_t k = 0;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '.' || *p == '_') {
      if (k + 1 >= sizeof(c->key))
        return ST_E2BIG;
      c->key[k++] = *p++;
    }
    c->key[k] = '\0';
    while (*p == ' ')
      p++;
    if (k == 0 || *p != '=')
      return ST_EINVAL;
    p++;
    while (*p == ' ')
      p++;
    size_t v = 0;
    if (*p == '\'') {
      p++;
      while (*p && *p != '\'') {
        if (v + 1 >= sizeof(c->value))
          return ST_E2BIG;
        c->value[v++] = *p++;
      }
      if (*p != '\'')
        return ST_EINVAL;
      p++;
    } else {
      while (*p && *p != ' ') {
        if (v + 1 >= sizeof(c->value))
          return ST_E2BIG;
        c->value[v++] = *p++;
      }
    }
    c->value[v] = '\0';
    s->nconds++;
    while (*p == ' ')
      p++;
    if (*p == '\0')
      return 0;
    if (strncmp(p, "AND ", 4) != 0)
      return ST_EINVAL;
    p += 4;
  }
}

static int matches(const sub_t *s, json_t *attrs) {
  for (size_t i = 0; i < s->nconds; i++) {
    const char *v = json_string_value(json_object_get(attrs, s->conds[i].key));
    if (!v || strcasecmp(v, s->conds[i].value) != 0)
      return 0;
  }
  return 1;
}

int st_rpc__ws_wants(const st_rpc_ws_hub_t *hub, const char *type) {
  for (const st_rpc_ws_t *ws = hub->head; ws; ws = ws->next)
    for (size_t i = 0; i < ws->nsubs; i++) {
      const sub_t *s = &ws->subs[i];
      int any = 1;
      for (size_t k = 0; k < s->nconds; k++)
        if (strcmp(s->conds[k].key, "tm.event") == 0)
          any = strcasecmp(s->conds[k].value, type) == 0;
      if (any)
        return 1;
    }
  return 0;
}

static void publish_one(st_rpc_t *rpc, json_t *event);

void st_rpc__ws_publish(st_rpc_t *rpc, json_t *events) {
  size_t i;
  json_t *e;
  if (!st_rpc__hub(rpc)->head)
    return; /* nobody listens */
  json_array_foreach(events, i, e) publish_one(rpc, e);
}

static void publish_one(st_rpc_t *rpc, json_t *event) {
  json_t *attrs = json_object_get(event, "attrs");
  const char *type = json_string_value(json_object_get(event, "type"));
  if (!json_is_object(attrs) || !type)
    return;
  st_rpc_ws_hub_t *hub = st_rpc__hub(rpc);
  for (st_rpc_ws_t *ws = hub->head, *next; ws; ws = next) {
    next = ws->next;
    st_rpc__ws_retain(ws);
    for (size_t i = 0; i < ws->nsubs && ws->conn; i++) {
      if (!matches(&ws->subs[i], attrs))
        continue;
      char tname[64];
      snprintf(tname, sizeof(tname), "stratos/event/%s", type);
      json_t *r = json_pack("{s:s,s:O,s:{s:s,s:{s:s,s:O},s:O}}", "jsonrpc", "2.0", "id",
                            ws->subs[i].id, "result", "query", ws->subs[i].query, "data",
                            "type", tname, "value", json_object_get(event, "data"),
                            "events", attrs);
      st_rpc__ws_send(ws, r);
      json_decref(r);
      hub->events_sent++;
    }
    next = ws->next; /* the list may have changed while sending */
    st_rpc__ws_release(ws);
  }
}

json_t *st_rpc_event(const char *type, json_t *attrs, json_t *data) {
  if (!attrs)
    attrs = json_object();
  json_object_set_new(attrs, "tm.event", json_string(type));
  return json_pack("{s:s,s:o,s:o}", "type", type, "attrs", attrs, "data",
                   data ? data : json_null());
}

static void decref_json(void *p) { json_decref(p); }

int st_rpc_publish_many(st_bus_t *bus, st_mod_id from, json_t *events) {
  st_msg_t m = {.type = ST_MSG_RPC_EVENT, .from = (uint8_t)from, .to = ST_MOD_RPC,
                .data = events, .free_fn = decref_json};
  int rc = st_bus_send(bus, &m);
  if (rc != 0)
    json_decref(events);
  return rc;
}

int st_rpc_publish(st_bus_t *bus, st_mod_id from, const char *type, json_t *attrs,
                   json_t *data) {
  json_t *one = json_array();
  json_array_append_new(one, st_rpc_event(type, attrs, data));
  return st_rpc_publish_many(bus, from, one);
}

/* ---- subscribe / unsubscribe ---- */

static void m_subscribe(st_rpc_call_t *call, json_t *params, void *ud) {
  st_rpc_ws_t *ws = st_rpc__call_ws(call);
  if (!ws) {
    st_rpc_error(call, ST_RPC_INVALID_REQUEST,
                 "subscribe needs a WebSocket connection (GET /websocket)", NULL);
    return;
  }
  if (!ws->conn) {
    st_rpc_error(call, ST_RPC_INVALID_REQUEST, "the connection is closed", NULL);
    return;
  }
  const char *q = json_string_value(json_object_get(params, "query"));
  if (!json_is_object(params) || !q || json_object_size(params) != 1) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS,
                 "invalid params: want {\"query\": \"tm.event='NewBlock'\"}", NULL);
    return;
  }
  if (!st_rpc__call_id(call)) {
    st_rpc_error(call, ST_RPC_INVALID_REQUEST, "subscribe needs an id", NULL);
    return;
  }
  if (ws->nsubs == WS_MAX_SUBS) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, "too many subscriptions on this connection",
                 NULL);
    return;
  }
  sub_t *s = &ws->subs[ws->nsubs];
  if (parse_query(q, s) != 0) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS,
                 "invalid params: query must be key='value' conditions joined by AND", NULL);
    return;
  }
  for (size_t i = 0; i < ws->nsubs; i++)
    if (strcmp(ws->subs[i].query, q) == 0) {
      st_rpc_error(call, ST_RPC_INVALID_PARAMS, "already subscribed to this query", NULL);
      return;
    }
  s->id = json_incref(st_rpc__call_id(call));
  ws->nsubs++;
  st_rpc__hub(ws->rpc)->subscriptions++;
  st_rpc_result(call, json_object());
}

static void m_unsubscribe(st_rpc_call_t *call, json_t *params, void *ud) {
  st_rpc_ws_t *ws = st_rpc__call_ws(call);
  int all = ud != NULL;
  if (!ws) {
    st_rpc_error(call, ST_RPC_INVALID_REQUEST,
                 "unsubscribe needs a WebSocket connection (GET /websocket)", NULL);
    return;
  }
  const char *q = json_string_value(json_object_get(params, "query"));
  if (!all && !q) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, "invalid params: want {\"query\": ...}", NULL);
    return;
  }
  size_t kept = 0, removed = 0;
  for (size_t i = 0; i < ws->nsubs; i++) {
    if (all || strcmp(ws->subs[i].query, q) == 0) {
      json_decref(ws->subs[i].id);
      removed++;
      continue;
    }
    ws->subs[kept++] = ws->subs[i];
  }
  ws->nsubs = kept;
  st_rpc__hub(ws->rpc)->subscriptions -= removed;
  if (!all && removed == 0) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, "not subscribed to this query", NULL);
    return;
  }
  st_rpc_result(call, json_object());
}

/* ---- connections ---- */

static void on_ws_msg(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg) {
  st_rpc_ws_t *ws = conn->data;
  if (!arg) {
    /* The peer closed, or the socket failed. */
    if (ws->conn) {
      ws->conn = NULL;
      unlink_client(ws);
      h2o_websocket_close(conn);
      st_rpc__ws_release(ws);
    }
    return;
  }
  if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
    return; /* pings are answered by wslay; close frames end the session */
  st_rpc__ws_retain(ws);
  st_rpc__run_text(ws->rpc, ws, (const char *)arg->msg, arg->msg_length);
  st_rpc__ws_release(ws);
}

int st_rpc__ws_upgrade(h2o_req_t *req, const st_http_match_t *m, void *ud) {
  st_rpc_t *rpc = ud;
  const char *key = NULL;
  if (req->version >= 0x200 || h2o_is_websocket_handshake(req, &key) != 0 || !key) {
    st_http_send_error(req, 400, "GET /websocket needs an HTTP/1.1 WebSocket handshake");
    return 0;
  }
  st_rpc_ws_hub_t *hub = st_rpc__hub(rpc);
  if (hub->count >= WS_MAX_CLIENTS) {
    st_http_send_error(req, 503, "too many WebSocket clients");
    return 0;
  }
  st_rpc_ws_t *ws = calloc(1, sizeof(*ws));
  if (!ws)
    abort();
  ws->rpc = rpc;
  ws->refs = 1;
  ws->next = hub->head;
  if (hub->head)
    hub->head->prev = ws;
  hub->head = ws;
  hub->count++;
  ws->conn = h2o_upgrade_to_websocket(req, key, ws, on_ws_msg);
  wslay_event_config_set_max_recv_msg_length(ws->conn->ws_ctx, WS_MAX_MSG);
  return 0;
}

void st_rpc__ws_close_all(st_rpc_t *rpc) {
  st_rpc_ws_hub_t *hub = st_rpc__hub(rpc);
  for (st_rpc_ws_t *ws = hub->head, *next; ws; ws = next) {
    next = ws->next;
    /* One still in its upgrade is left to h2o, which owns it until then. */
    if (ws->conn && ws->conn->sock)
      close_client(ws);
  }
}

void st_rpc__ws_init(st_rpc_t *rpc) {
  st_rpc_register(rpc, "subscribe", m_subscribe, NULL);
  st_rpc_register(rpc, "unsubscribe", m_unsubscribe, NULL);
  st_rpc_register(rpc, "unsubscribe_all", m_unsubscribe, rpc);
}
