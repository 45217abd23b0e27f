/* JSON-RPC 2.0 over HTTP POST, on the node's HTTP library.
 *
 * A request body is decoded once into a list of calls (a single request is
 * a list of one); each call is dispatched to a registered method, which
 * answers now or later, for instance after a round trip over the bus. The
 * HTTP response goes out when the last call of the body has answered. If
 * the client goes away first, a guard tied to the request's memory pool
 * tells the batch, and the late answers are dropped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_node.h>
#include <stratos/st_rpc.h>
#include "rpc/rpc_private.h"

typedef struct method {
  char *name;
  st_rpc_method_fn fn;
  void *ud;
} method_t;

typedef struct batch batch_t;

struct st_rpc {
  st_node_t *node;
  st_http_t *http;
  method_t *methods;
  size_t nmethods;
  size_t max_batch;
  batch_t *live; /* batches waiting for answers, freed at stop */
  st_rpc_ws_hub_t ws; /* WebSocket clients and subscriptions */
};

struct st_rpc_call {
  batch_t *batch;
  json_t *id;       /* NULL for a notification */
  json_t *request;  /* the request object (holds params) */
  json_t *response; /* set when answered */
  int answered;
};

typedef struct guard {
  batch_t *batch;
} guard_t;

struct batch {
  st_rpc_t *rpc;
  batch_t *prev, *next; /* in rpc->live */
  h2o_req_t *req; /* HTTP: NULL once the client is gone */
  st_rpc_ws_t *ws; /* WebSocket: the connection the calls came on */
  guard_t *guard;
  int is_batch;
  size_t ncalls;
  size_t pending;
  st_rpc_call_t *calls;
  json_t *decoded; /* keeps requests alive */
};

/* ---- decoding ---- */

static json_t *error_response(json_t *id, int code, const char *message, json_t *data) {
  json_t *err = json_pack("{s:i,s:s}", "code", code, "message", message);
  if (data)
    json_object_set_new(err, "data", data);
  json_t *r = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                        "error", err);
  return r;
}

static int valid_id(json_t *id) {
  return json_is_string(id) || json_is_integer(id) || json_is_real(id) || json_is_null(id);
}

/* Wraps one element of the body: {"req": object} when it is a request,
 * {"resp": error} when it is not. */
static json_t *decode_one(json_t *e) {
  if (!json_is_object(e))
    return json_pack("{s:o}", "resp",
                     error_response(NULL, ST_RPC_INVALID_REQUEST,
                                    "invalid request: not an object", NULL));
  json_t *id = json_object_get(e, "id");
  json_t *echo = id && valid_id(id) ? id : NULL;
  const char *why = NULL;
  json_t *v = json_object_get(e, "jsonrpc");
  json_t *m = json_object_get(e, "method");
  if (!json_is_string(v) || strcmp(json_string_value(v), "2.0") != 0)
    why = "invalid request: jsonrpc must be \"2.0\"";
  else if (!m)
    why = "invalid request: method is missing";
  else if (!json_is_string(m))
    why = "invalid request: method must be a string";
  else if (id && !valid_id(id))
    why = "invalid request: id must be a string, a number or null";
  if (why)
    return json_pack("{s:o}", "resp",
                     error_response(echo, ST_RPC_INVALID_REQUEST, why, NULL));
  return json_pack("{s:O}", "req", e);
}

int st_rpc_decode(const char *body, size_t len, json_t **calls, int *is_batch,
                  json_t **err_resp) {
  json_error_t jerr;
  *calls = NULL;
  *err_resp = NULL;
  *is_batch = 0;
  json_t *root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
  if (!root) {
    char msg[256];
    snprintf(msg, sizeof(msg), "parse error: %s at offset %d", jerr.text, jerr.position);
    *err_resp = error_response(NULL, ST_RPC_PARSE_ERROR, msg, NULL);
    return ST_EPARSE;
  }
  json_t *list = json_array();
  if (json_is_array(root)) {
    *is_batch = 1;
    if (json_array_size(root) == 0) {
      json_decref(list);
      json_decref(root);
      *err_resp = error_response(NULL, ST_RPC_INVALID_REQUEST,
                                 "invalid request: empty batch", NULL);
      return ST_EINVAL;
    }
    size_t i;
    json_t *e;
    json_array_foreach(root, i, e) json_array_append_new(list, decode_one(e));
  } else {
    json_array_append_new(list, decode_one(root));
  }
  json_decref(root);
  *calls = list;
  return 0;
}

/* ---- answering ---- */

static void batch_free(batch_t *b) {
  if (b->ws)
    st_rpc__ws_release(b->ws);
  if (b->prev)
    b->prev->next = b->next;
  else if (b->rpc->live == b)
    b->rpc->live = b->next;
  if (b->next)
    b->next->prev = b->prev;
  for (size_t i = 0; i < b->ncalls; i++) {
    json_decref(b->calls[i].response);
    json_decref(b->calls[i].id);
    json_decref(b->calls[i].request);
  }
  free(b->calls);
  json_decref(b->decoded);
  free(b);
}

static void on_guard_dispose(void *p) {
  guard_t *g = p;
  if (g->batch) {
    g->batch->req = NULL;
    g->batch->guard = NULL;
  }
}

static void batch_finish(batch_t *b) {
  if (b->req || b->ws) {
    json_t *out = b->is_batch ? json_array() : NULL;
    for (size_t i = 0; i < b->ncalls; i++) {
      st_rpc_call_t *c = &b->calls[i];
      if (!c->id || !c->response)
        continue; /* notifications get no answer */
      if (out)
        json_array_append(out, c->response);
      else
        out = json_incref(c->response);
    }
    int empty = !out || (json_is_array(out) && json_array_size(out) == 0);
    if (b->ws) {
      if (!empty)
        st_rpc__ws_send(b->ws, out);
    } else if (empty) {
      st_http_send(b->req, 204, NULL, NULL, 0);
    } else {
      st_http_send_json(b->req, 200, out);
    }
    json_decref(out);
    if (b->guard)
      b->guard->batch = NULL;
  }
  batch_free(b);
}

st_rpc_ws_t *st_rpc__call_ws(const st_rpc_call_t *call) { return call->batch->ws; }

json_t *st_rpc__call_id(const st_rpc_call_t *call) { return call->id; }

static void answer(st_rpc_call_t *call, json_t *response) {
  if (call->answered) {
    json_decref(response);
    return;
  }
  call->answered = 1;
  call->response = response;
  batch_t *b = call->batch;
  if (--b->pending == 0)
    batch_finish(b);
}

void st_rpc_result(st_rpc_call_t *call, json_t *result) {
  if (!result)
    result = json_null();
  json_t *r = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id",
                        call->id ? call->id : json_null(), "result", result);
  answer(call, r);
}

void st_rpc_error(st_rpc_call_t *call, int code, const char *message, json_t *data) {
  answer(call, error_response(call->id, code, message, data));
}

/* ---- dispatch ---- */

static method_t *find_method(st_rpc_t *rpc, const char *name) {
  for (size_t i = 0; i < rpc->nmethods; i++)
    if (strcmp(rpc->methods[i].name, name) == 0)
      return &rpc->methods[i];
  return NULL;
}

int st_rpc_register(st_rpc_t *rpc, const char *name, st_rpc_method_fn fn, void *ud) {
  if (!name || !fn)
    return ST_EINVAL;
  if (find_method(rpc, name))
    return ST_EEXIST;
  method_t *m = realloc(rpc->methods, (rpc->nmethods + 1) * sizeof(*m));
  if (!m)
    abort();
  rpc->methods = m;
  m[rpc->nmethods].name = strdup(name);
  if (!m[rpc->nmethods].name)
    abort();
  m[rpc->nmethods].fn = fn;
  m[rpc->nmethods].ud = ud;
  rpc->nmethods++;
  return 0;
}

static void dispatch(st_rpc_t *rpc, st_rpc_call_t *call) {
  const char *name = json_string_value(json_object_get(call->request, "method"));
  json_t *params = json_object_get(call->request, "params");
  method_t *m = find_method(rpc, name);
  if (!m) {
    char msg[160];
    snprintf(msg, sizeof(msg), "method not found: %.100s", name);
    st_rpc_error(call, ST_RPC_METHOD_NOT_FOUND, msg, NULL);
    return;
  }
  if (params && !json_is_object(params) && !json_is_array(params)) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS,
                 "invalid params: params must be an object or an array", NULL);
    return;
  }
  m->fn(call, params, m->ud);
}

/* Runs a decoded body: answers through the HTTP request, or through the
 * WebSocket connection when ws is set. Steals calls. */
static void run_calls(st_rpc_t *rpc, json_t *calls, int is_batch, h2o_req_t *req,
                      st_rpc_ws_t *ws) {
  size_t n = json_array_size(calls);
  if (is_batch && n > rpc->max_batch) {
    char msg[96];
    snprintf(msg, sizeof(msg), "invalid request: batch of %zu calls, at most %zu allowed",
             n, rpc->max_batch);
    json_t *err = error_response(NULL, ST_RPC_INVALID_REQUEST, msg, NULL);
    if (ws)
      st_rpc__ws_send(ws, err);
    else
      st_http_send_json(req, 200, err);
    json_decref(err);
    json_decref(calls);
    return;
  }
  batch_t *b = calloc(1, sizeof(*b));
  if (!b)
    abort();
  b->rpc = rpc;
  b->next = rpc->live;
  if (rpc->live)
    rpc->live->prev = b;
  rpc->live = b;
  b->req = req;
  b->ws = ws;
  if (ws)
    st_rpc__ws_retain(ws);
  b->is_batch = is_batch;
  b->ncalls = n;
  b->pending = n;
  b->decoded = calls;
  b->calls = calloc(n, sizeof(*b->calls));
  if (!b->calls)
    abort();
  if (req) {
    b->guard = h2o_mem_alloc_shared(&req->pool, sizeof(*b->guard), on_guard_dispose);
    b->guard->batch = b;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *w = json_array_get(calls, i);
    st_rpc_call_t *c = &b->calls[i];
    c->batch = b;
    json_t *resp = json_object_get(w, "resp");
    json_t *rq = json_object_get(w, "req");
    if (resp) {
      /* An invalid element always answers, even without an id. */
      c->id = json_incref(json_object_get(resp, "id"));
      c->answered = 1;
      c->response = json_incref(resp);
      b->pending--;
      continue;
    }
    c->request = json_incref(rq);
    json_t *id = json_object_get(rq, "id");
    c->id = id ? json_incref(id) : NULL;
  }
  if (b->pending == 0) {
    batch_finish(b);
    return;
  }
  /* Dispatch last, as a method may answer at once and finish the batch. */
  size_t left = b->pending;
  for (size_t i = 0; i < n && left > 0; i++) {
    st_rpc_call_t *c = &b->calls[i];
    if (c->answered)
      continue;
    left--;
    dispatch(rpc, c);
  }
}

void st_rpc__run_text(st_rpc_t *rpc, st_rpc_ws_t *ws, const char *body, size_t len) {
  json_t *calls, *err;
  int is_batch;
  if (st_rpc_decode(body, len, &calls, &is_batch, &err) != 0) {
    st_rpc__ws_send(ws, err);
    json_decref(err);
    return;
  }
  run_calls(rpc, calls, is_batch, NULL, ws);
}

static int on_post(h2o_req_t *req, const st_http_match_t *match, void *ud) {
  st_rpc_t *rpc = ud;
  const char *body = req->entity.base ? req->entity.base : "";
  size_t len = req->entity.base ? req->entity.len : 0;
  json_t *calls, *err;
  int is_batch;
  if (st_rpc_decode(body, len, &calls, &is_batch, &err) != 0) {
    st_http_send_json(req, 200, err);
    json_decref(err);
    return 0;
  }
  run_calls(rpc, calls, is_batch, req, NULL);
  return 0;
}

/* ---- module ---- */

/* Errors found by the HTTP layer answer in JSON-RPC form too. */
static void on_http_error(h2o_req_t *req, int status, const char *msg, void *ud) {
  json_t *r = error_response(NULL, status == 413 ? ST_RPC_INVALID_REQUEST
                                   : status == 503 ? ST_RPC_INTERNAL_ERROR
                                   : ST_RPC_INVALID_REQUEST, msg, NULL);
  st_http_send_json(req, status, r);
  json_decref(r);
}

int st_rpc__new(st_node_t *node, st_rpc_t **out) {
  st_rpc_t *rpc = calloc(1, sizeof(*rpc));
  if (!rpc)
    abort();
  rpc->node = node;
  rpc->max_batch = node->cfg.rpc_max_batch;
  st_http_opts_t o = {.name = "rpc", .max_body = node->cfg.rpc_max_body,
                      .metrics = node->metrics, .on_error = on_http_error, .error_ud = rpc};
  st_http_new(node->loop, &o, &rpc->http);
  st_http_route(rpc->http, "POST", "/", on_post, rpc);
  st_http_route(rpc->http, "GET", "/websocket", st_rpc__ws_upgrade, rpc);
  st_rpc__ws_init(rpc);
  st_rpc__register_node_methods(rpc, node);
  *out = rpc;
  return 0;
}

int st_rpc__listen(st_rpc_t *rpc) {
  const st_laddr_t *l = &rpc->node->cfg.rpc_laddr;
  return st_http_listen(rpc->http, l->host, l->port);
}

uint16_t st_rpc__port(const st_rpc_t *rpc) { return st_http_port(rpc->http); }

st_rpc_ws_hub_t *st_rpc__hub(st_rpc_t *rpc) { return &rpc->ws; }

int st_rpc_wants(const st_rpc_t *rpc, const char *type) {
  return rpc->ws.subscriptions > 0 && st_rpc__ws_wants(&rpc->ws, type);
}

void st_rpc__free(st_rpc_t *rpc) {
  if (!rpc)
    return;
  /* Calls still waiting (on a module that stopped first) are dropped; their
   * clients see the connection close. */
  while (rpc->live) {
    batch_t *b = rpc->live;
    if (b->guard)
      b->guard->batch = NULL;
    batch_free(b);
  }
  st_rpc__ws_close_all(rpc);
  st_http_close(rpc->http);
  for (size_t i = 0; i < rpc->nmethods; i++)
    free(rpc->methods[i].name);
  free(rpc->methods);
  free(rpc);
}

/* ---- module hooks ---- */

static int rpc_init(st_node_t *node, void **state) {
  st_rpc_t *rpc;
  int rc = st_rpc__new(node, &rpc);
  if (rc != 0)
    return rc;
  node->rpc = rpc;
  *state = rpc;
  return 0;
}

static int rpc_start(void *state) {
  st_rpc_t *rpc = state;
  int rc = st_rpc__listen(rpc);
  if (rc == 0)
    rpc->node->rpc_port = st_rpc__port(rpc);
  if (rc != 0) {
    const st_node_t *node = rpc->node;
    ST_ERROR("rpc", "cannot listen on %s:%u: %s", node->cfg.rpc_laddr.host,
             (unsigned)node->cfg.rpc_laddr.port, st_strerror(rc));
  }
  return rc;
}

static void rpc_on_msg(void *state, st_msg_t *msg) {
  st_rpc_t *rpc = state;
  if (msg->type == ST_MSG_RPC_EVENT && msg->data)
    st_rpc__ws_publish(rpc, msg->data);
}

static void rpc_stop(void *state) { st_rpc__free(state); }

const st_module_t st_rpc_module = {
  .name = "rpc",
  .id = ST_MOD_RPC,
  .init = rpc_init,
  .start = rpc_start,
  .on_msg = rpc_on_msg,
  .stop = rpc_stop,
};
