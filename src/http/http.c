/* The one HTTP server library of the node. h2o parses HTTP/1.1 and HTTP/2
 * on our libuv loop; this file owns the listener, hands every request to a
 * small route table of our own (literal and {param} segments), and counts
 * every finished request from h2o's access-log hook, so that requests h2o
 * answers by itself (413, 400) are counted as well as ours. The JSON-RPC
 * port and the gateway are two instances of st_http_t. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <stratos/st_err.h>
#include <stratos/st_http.h>
#include <stratos/st_log.h>

#define MAX_SEGS 16
#define UNMATCHED "unmatched"

typedef struct route {
  char *method; /* NULL: any */
  char *pattern;
  char *segs[MAX_SEGS];
  size_t nsegs;
  int wildcard; /* pattern ends in "/ *" (without the space) */
  st_http_handler_fn fn;
  void *ud;
  uint64_t max_body; /* 0: the server's */
  st_metric_t *duration;
} route_t;

struct handler {
  h2o_handler_t super;
  st_http_t *h;
};

struct logger {
  h2o_logger_t super;
  st_http_t *h;
};

typedef struct conn {
  uv_tcp_t tcp;
  st_http_t *h;
} conn_t;

struct st_http {
  uv_loop_t *loop;
  char name[16];
  size_t max_body;
  st_metrics_t *metrics;
  h2o_globalconf_t conf;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept;
  uv_tcp_t listener;
  int listening;
  int closing;
  uint16_t port;
  size_t nconns;
  st_http_error_fn on_error;
  void *error_ud;
  route_t *routes;
  size_t nroutes;
  st_metric_t *unmatched_duration;
  st_metric_t *conns_gauge;
};

static const double duration_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025,  0.05,  0.1,    0.25,  0.5,
                                         1,      2.5,   5,      10};

static void *xcalloc(size_t n, size_t sz) {
  void *p = calloc(n, sz);
  if (!p)
    abort();
  return p;
}

static char *xstrdup(const char *s) {
  char *p = strdup(s);
  if (!p)
    abort();
  return p;
}

/* ---- routing ---- */

static int split_path(const char *path, size_t len, h2o_iovec_t *segs,
                      size_t *nsegs) {
  size_t n = 0, i = 0;
  while (i < len) {
    if (path[i] == '/') {
      i++;
      continue;
    }
    size_t j = i;
    while (j < len && path[j] != '/')
      j++;
    if (n == MAX_SEGS)
      return ST_E2BIG;
    segs[n++] = h2o_iovec_init(path + i, j - i);
    i = j;
  }
  *nsegs = n;
  return 0;
}

static int route_matches(const route_t *r, const h2o_iovec_t *segs, size_t n,
                         st_http_match_t *m) {
  if (r->wildcard ? n < r->nsegs : n != r->nsegs)
    return 0;
  m->route = r->pattern;
  m->nparams = 0;
  for (size_t i = 0; i < r->nsegs; i++) {
    const char *s = r->segs[i];
    if (s[0] == '{') {
      if (m->nparams == ST_HTTP_MAX_PARAMS)
        return 0;
      m->names[m->nparams] = s;
      m->values[m->nparams] = segs[i];
      m->nparams++;
    } else if (strlen(s) != segs[i].len || memcmp(s, segs[i].base, segs[i].len) != 0) {
      return 0;
    }
  }
  return 1;
}

/* Finds the route for req. *method_ok is 0 when the path matched some route
 * but none with this method. */
static route_t *find_route(st_http_t *h, h2o_req_t *req, st_http_match_t *m,
                           int *path_ok) {
  h2o_iovec_t segs[MAX_SEGS];
  size_t n;
  h2o_iovec_t p = req->path_normalized;
  *path_ok = 0;
  if (split_path(p.base, p.len, segs, &n) != 0)
    return NULL;
  for (size_t i = 0; i < h->nroutes; i++) {
    route_t *r = &h->routes[i];
    st_http_match_t tmp;
    if (!route_matches(r, segs, n, &tmp))
      continue;
    *path_ok = 1;
    if (r->method && !h2o_memis(req->method.base, req->method.len, r->method,
                                strlen(r->method)))
      continue;
    *m = tmp;
    return r;
  }
  return NULL;
}

int st_http_route(st_http_t *h, const char *method, const char *pattern,
                  st_http_handler_fn fn, void *ud) {
  return st_http_route_max(h, method, pattern, fn, ud, 0);
}

int st_http_route_max(st_http_t *h, const char *method, const char *pattern,
                      st_http_handler_fn fn, void *ud, uint64_t max_body) {
  if (!pattern || pattern[0] != '/' || !fn)
    return ST_EINVAL;
  route_t r = {0};
  h2o_iovec_t segs[MAX_SEGS];
  size_t n;
  if (split_path(pattern, strlen(pattern), segs, &n) != 0)
    return ST_E2BIG;
  if (n > 0 && segs[n - 1].len == 1 && segs[n - 1].base[0] == '*') {
    r.wildcard = 1;
    n--;
  }
  size_t nparams = 0;
  for (size_t i = 0; i < n; i++) {
    r.segs[i] = xcalloc(1, segs[i].len + 1);
    memcpy(r.segs[i], segs[i].base, segs[i].len);
    if (r.segs[i][0] == '{') {
      if (r.segs[i][segs[i].len - 1] != '}' || ++nparams > ST_HTTP_MAX_PARAMS) {
        for (size_t k = 0; k <= i; k++)
          free(r.segs[k]);
        return ST_EINVAL;
      }
    }
  }
  r.nsegs = n;
  r.method = method ? xstrdup(method) : NULL;
  r.pattern = xstrdup(pattern);
  r.fn = fn;
  r.ud = ud;
  r.max_body = max_body;
  /* h2o buffers bodies up to its own cap, which must let this route's
   * through. */
  if (max_body > h->conf.max_request_entity_size)
    h->conf.max_request_entity_size = max_body;
  if (h->metrics) {
    char labels[256];
    snprintf(labels, sizeof(labels), "server=\"%s\",route=\"%s\"", h->name, pattern);
    r.duration = st_metrics_histogram(
      h->metrics, "stratos_http_request_duration_seconds",
      "Time from the start of a request to the end of its response.", labels,
      duration_bounds, sizeof(duration_bounds) / sizeof(duration_bounds[0]));
  }
  route_t *nr = realloc(h->routes, (h->nroutes + 1) * sizeof(*nr));
  if (!nr)
    abort();
  h->routes = nr;
  h->routes[h->nroutes++] = r;
  return 0;
}

/* ---- requests ---- */

/* Lists the methods of the routes whose pattern matches req's path, for
 * the Allow header of a 405. */
static void allowed_methods(st_http_t *h, h2o_req_t *req, char *out, size_t cap) {
  h2o_iovec_t segs[MAX_SEGS];
  size_t n, len = 0;
  out[0] = '\0';
  h2o_iovec_t p = req->path_normalized;
  if (split_path(p.base, p.len, segs, &n) != 0)
    return;
  for (size_t i = 0; i < h->nroutes; i++) {
    st_http_match_t tmp;
    const route_t *r = &h->routes[i];
    if (!r->method || !route_matches(r, segs, n, &tmp) || strstr(out, r->method))
      continue;
    int w = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", r->method);
    if (w < 0 || (size_t)w >= cap - len)
      return;
    len += (size_t)w;
  }
}

static void send_error(st_http_t *h, h2o_req_t *req, int status, const char *msg) {
  if (h->on_error)
    h->on_error(req, status, msg, h->error_ud);
  else
    st_http_send_error(req, status, msg);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
  st_http_t *h = ((struct handler *)self)->h;
  st_http_match_t m;
  int path_ok;
  if (h->closing) {
    send_error(h, req, 503, "shutting down");
    return 0;
  }
  route_t *r = find_route(h, req, &m, &path_ok);
  if (!r) {
    char msg[160];
    if (path_ok) {
      snprintf(msg, sizeof(msg), "method %.*s is not allowed here",
               (int)(req->method.len > 16 ? 16 : req->method.len), req->method.base);
      char allow[64];
      allowed_methods(h, req, allow, sizeof(allow));
      h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                     h2o_strdup(&req->pool, allow, SIZE_MAX).base, strlen(allow));
      send_error(h, req, 405, msg);
    } else {
      snprintf(msg, sizeof(msg), "no route for %.*s %.*s",
               (int)(req->method.len > 16 ? 16 : req->method.len), req->method.base,
               (int)(req->path_normalized.len > 100 ? 100 : req->path_normalized.len),
               req->path_normalized.base);
      send_error(h, req, 404, msg);
    }
    return 0;
  }
  uint64_t cap = r->max_body ? r->max_body : h->max_body;
  if (req->entity.base && req->entity.len > cap) {
    char msg[96];
    snprintf(msg, sizeof(msg), "request body too large (at most %llu bytes)",
             (unsigned long long)cap);
    send_error(h, req, 413, msg);
    return 0;
  }
  if (r->fn(req, &m, r->ud) != 0)
    st_http_send_error(req, 500, "internal error");
  return 0;
}

static double since(const struct timeval *t) {
  struct timeval now;
  gettimeofday(&now, NULL);
  double d = (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_usec - t->tv_usec) / 1e6;
  return d < 0 ? 0 : d;
}

static void on_log(h2o_logger_t *self, h2o_req_t *req) {
  st_http_t *h = ((struct logger *)self)->h;
  if (!h->metrics)
    return;
  st_http_match_t m;
  int path_ok;
  route_t *r = find_route(h, req, &m, &path_ok);
  char labels[320];
  snprintf(labels, sizeof(labels), "server=\"%s\",route=\"%s\",code=\"%d\"", h->name,
           r ? r->pattern : UNMATCHED, req->res.status);
  st_metric_t *c = st_metrics_counter(h->metrics, "stratos_http_requests_total",
                                      "HTTP requests answered, by server, route and status.",
                                      labels);
  if (c)
    st_metric_inc(c);
  st_metric_t *d = r ? r->duration : h->unmatched_duration;
  if (d)
    st_metric_observe(d, since(&req->timestamps.request_begin_at));
}

static const char *reason_of(int status) {
  switch (status) {
  case 200: return "OK";
  case 201: return "Created";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 304: return "Not Modified";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 402: return "Payment Required";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 412: return "Precondition Failed";
  case 413: return "Payload Too Large";
  case 416: return "Range Not Satisfiable";
  case 429: return "Too Many Requests";
  case 500: return "Internal Server Error";
  case 503: return "Service Unavailable";
  default: return "Status";
  }
}

void st_http_send(h2o_req_t *req, int status, const char *ctype, const void *body,
                  size_t len) {
  req->res.status = status;
  req->res.reason = reason_of(status);
  if (ctype)
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   ctype, strlen(ctype));
  if (status == 204 || status == 304) {
    req->res.content_length = 0;
    h2o_send_inline(req, NULL, 0);
    return;
  }
  req->res.content_length = len;
  h2o_send_inline(req, body, len);
}

void st_http_send_json(h2o_req_t *req, int status, json_t *j) {
  char *s = json_dumps(j, JSON_COMPACT);
  if (!s) {
    st_http_send(req, 500, "text/plain; charset=utf-8", "internal error\n", 15);
    return;
  }
  size_t n = strlen(s);
  /* A trailing newline keeps terminals and line readers happy. */
  char *line = h2o_mem_alloc_pool(&req->pool, n + 1);
  memcpy(line, s, n);
  line[n] = '\n';
  free(s);
  st_http_send(req, status, "application/json", line, n + 1);
}

void st_http_send_error(h2o_req_t *req, int status, const char *msg) {
  json_t *j = json_pack("{s:{s:i,s:s}}", "error", "code", status, "message", msg);
  st_http_send_json(req, status, j);
  json_decref(j);
}

const h2o_iovec_t *st_http_header(h2o_req_t *req, const char *name) {
  char lower[128];
  size_t n = strlen(name);
  if (n >= sizeof(lower))
    return NULL;
  for (size_t i = 0; i < n; i++)
    lower[i] = (char)h2o_tolower(name[i]);
  ssize_t i = h2o_find_header_by_str(&req->headers, lower, n, -1);
  if (i < 0)
    return NULL;
  return &req->headers.entries[i].value;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int st_http_query(h2o_req_t *req, const char *key, char *out, size_t outcap) {
  if (req->query_at == SIZE_MAX || outcap == 0)
    return ST_ENOENT;
  const char *q = req->path.base + req->query_at + 1;
  const char *end = req->path.base + req->path.len;
  size_t kl = strlen(key);
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *pe = amp ? amp : end;
    const char *eq = memchr(q, '=', (size_t)(pe - q));
    const char *ke = eq ? eq : pe;
    if ((size_t)(ke - q) == kl && memcmp(q, key, kl) == 0) {
      size_t o = 0;
      for (const char *v = eq ? eq + 1 : pe; v < pe; v++) {
        int c = (unsigned char)*v;
        if (c == '+') {
          c = ' ';
        } else if (c == '%' && pe - v >= 3 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
          c = hexval(v[1]) * 16 + hexval(v[2]);
          v += 2;
        }
        if (o + 1 >= outcap)
          return ST_E2BIG;
        out[o++] = (char)c;
      }
      out[o] = '\0';
      return 0;
    }
    q = pe + 1;
  }
  return ST_ENOENT;
}

/* ---- listener ---- */

static void on_conn_closed(uv_handle_t *handle) {
  conn_t *c = (conn_t *)handle;
  st_http_t *h = c->h;
  free(c);
  h->nconns--;
  if (h->conns_gauge)
    st_metric_set(h->conns_gauge, (double)h->nconns);
}

static void on_accept(uv_stream_t *listener, int status) {
  st_http_t *h = listener->data;
  if (status != 0 || h->closing)
    return;
  conn_t *c = xcalloc(1, sizeof(*c));
  c->h = h;
  uv_tcp_init(h->loop, &c->tcp);
  if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  h->nconns++;
  if (h->conns_gauge)
    st_metric_set(h->conns_gauge, (double)h->nconns);
  h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
  h2o_accept(&h->accept, sock);
}

int st_http_new(uv_loop_t *loop, const st_http_opts_t *opts, st_http_t **out) {
  st_http_t *h = xcalloc(1, sizeof(*h));
  h->loop = loop;
  snprintf(h->name, sizeof(h->name), "%s", opts->name ? opts->name : "http");
  h->max_body = opts->max_body ? opts->max_body : (1u << 20);
  h->metrics = opts->metrics;
  h->on_error = opts->on_error;
  h->error_ud = opts->error_ud;
  h2o_config_init(&h->conf);
  /* h2o buffers request bodies. Past our cap we refuse with a body in the
   * server's own format; past four times the cap h2o refuses on its own,
   * with a plain-text 413, before buffering more. */
  h->conf.max_request_entity_size = h->max_body * 4;
  h->conf.server_name = h2o_iovec_init(H2O_STRLIT("stratosd"));
  if (opts->request_timeout_ms)
    h->conf.http1.req_timeout = opts->request_timeout_ms;
  h2o_hostconf_t *host =
    h2o_config_register_host(&h->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
  struct handler *hd = (struct handler *)h2o_create_handler(path, sizeof(*hd));
  hd->super.on_req = on_req;
  hd->h = h;
  struct logger *lg = (struct logger *)h2o_create_logger(path, sizeof(*lg));
  lg->super.log_access = on_log;
  lg->h = h;
  h2o_context_init(&h->ctx, loop, &h->conf);
  h->accept.ctx = &h->ctx;
  h->accept.hosts = h->conf.hosts;
  if (h->metrics) {
    char labels[64];
    snprintf(labels, sizeof(labels), "server=\"%s\",route=\"%s\"", h->name, UNMATCHED);
    h->unmatched_duration = st_metrics_histogram(
      h->metrics, "stratos_http_request_duration_seconds",
      "Time from the start of a request to the end of its response.", labels,
      duration_bounds, sizeof(duration_bounds) / sizeof(duration_bounds[0]));
    snprintf(labels, sizeof(labels), "server=\"%s\"", h->name);
    h->conns_gauge = st_metrics_gauge(h->metrics, "stratos_http_open_connections",
                                      "HTTP connections open now.", labels);
  }
  *out = h;
  return 0;
}

int st_http_listen(st_http_t *h, const char *host, uint16_t port) {
  struct sockaddr_in sa;
  int rc = uv_ip4_addr(host, port, &sa);
  if (rc != 0)
    return ST_EINVAL;
  uv_tcp_init(h->loop, &h->listener);
  h->listener.data = h;
  h->listening = 1;
  rc = uv_tcp_bind(&h->listener, (const struct sockaddr *)&sa, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&h->listener, 1024, on_accept);
  if (rc != 0)
    return st_err_from_errno(rc);
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len) == 0)
    h->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return 0;
}

uint16_t st_http_port(const st_http_t *h) { return h->port; }

static void free_http(st_http_t *h) {
  for (size_t i = 0; i < h->nroutes; i++) {
    for (size_t k = 0; k < h->routes[i].nsegs; k++)
      free(h->routes[i].segs[k]);
    free(h->routes[i].method);
    free(h->routes[i].pattern);
  }
  free(h->routes);
  /* The HTTP/2 graceful-shutdown timer stays armed after its connections
   * are gone; h2o insists that every timer is idle at dispose. */
  if (h2o_timeout_is_linked(&h->ctx.http2._graceful_shutdown_timeout))
    h2o_timeout_unlink(&h->ctx.http2._graceful_shutdown_timeout);
  h2o_context_dispose(&h->ctx);
  h2o_config_dispose(&h->conf);
  free(h);
}

static void on_listener_closed(uv_handle_t *handle) {
  st_http_t *h = handle->data;
  h->listening = 0;
}

/* Waits on the loop until every connection is gone, then frees. */
static void on_drain_check(uv_timer_t *t) {
  st_http_t *h = t->data;
  if (h->nconns > 0 || h->listening)
    return;
  uv_timer_stop(t);
  uv_close((uv_handle_t *)t, (uv_close_cb)free);
  free_http(h);
}

void st_http_close(st_http_t *h) {
  if (!h || h->closing)
    return;
  h->closing = 1;
  if (h->listening)
    uv_close((uv_handle_t *)&h->listener, on_listener_closed);
  h2o_context_request_shutdown(&h->ctx);
  uv_timer_t *t = xcalloc(1, sizeof(*t));
  uv_timer_init(h->loop, t);
  t->data = h;
  uv_timer_start(t, on_drain_check, 0, 20);
}
