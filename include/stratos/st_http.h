/* The HTTP server library that serves both the JSON-RPC port and the
 * gateway: h2o (HTTP/1.1 and HTTP/2) on the libuv loop, a route table with
 * {name} path parameters, bounded request bodies, one access log and the
 * HTTP metrics for every route. */
#ifndef STRATOS_ST_HTTP_H
#define STRATOS_ST_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>
#include <jansson.h>
#include <uv.h>
#include <stratos/st_metrics.h>

typedef struct st_http st_http_t;

#define ST_HTTP_MAX_PARAMS 4

/* Path parameters of the matched route: names borrowed from the route,
 * values point into the request's pool (valid for the request's life). */
typedef struct st_http_match {
  const char *route;   /* the route pattern, e.g. "/v1/files/{id}" */
  size_t nparams;
  const char *names[ST_HTTP_MAX_PARAMS];
  h2o_iovec_t values[ST_HTTP_MAX_PARAMS];
} st_http_match_t;

/* A handler answers the request now or later (it must answer exactly
 * once, with st_http_send* or an h2o generator). Returns 0; a negative
 * return makes the server answer 500. */
typedef int (*st_http_handler_fn)(h2o_req_t *req, const st_http_match_t *m,
                                  void *ud);

/* Answers an error the library itself finds (404, 405, 413, 503) in the
 * server's own format. */
typedef void (*st_http_error_fn)(h2o_req_t *req, int status, const char *msg,
                                 void *ud);

typedef struct st_http_opts {
  const char *name;       /* "rpc" or "gateway": metric label and log tag */
  size_t max_body;        /* request bodies above this get 413 */
  st_metrics_t *metrics;  /* borrowed; may be NULL */
  st_http_error_fn on_error; /* NULL: st_http_send_error */
  void *error_ud;
  /* HTTP/1.1: the time a request, body included, may take to arrive, and
   * a keep-alive connection may stay idle (h2o's req_timeout; 0: its 10 s
   * default). Large uploads need more. */
  uint64_t request_timeout_ms;
} st_http_opts_t;

int st_http_new(uv_loop_t *loop, const st_http_opts_t *opts, st_http_t **out);

/* Adds a route. method is "GET", "POST", ... or NULL for any. pattern is a
 * path of literal segments and {name} segments; a last segment "*"
 * matches any rest of the path. Routes are tried in the order added. */
int st_http_route(st_http_t *h, const char *method, const char *pattern,
                  st_http_handler_fn fn, void *ud);

/* The same with this route's own body cap (0: the server's). h2o buffers
 * a request's body before the handler runs (in memory, and in a
 * temporary file mapped into memory past 32 MiB). */
int st_http_route_max(st_http_t *h, const char *method, const char *pattern,
                      st_http_handler_fn fn, void *ud, uint64_t max_body);

/* Binds host:port and starts accepting. ST_EADDRINUSE when busy. */
int st_http_listen(st_http_t *h, const char *host, uint16_t port);

/* The bound port (useful with port 0). */
uint16_t st_http_port(const st_http_t *h);

/* Stops accepting, closes every connection and frees h once the handles
 * are closed (the loop must run). */
void st_http_close(st_http_t *h);

/* Replies with a copy of body. */
void st_http_send(h2o_req_t *req, int status, const char *ctype,
                  const void *body, size_t len);
/* Replies with the JSON encoding of j (a reference is taken, not stolen). */
void st_http_send_json(h2o_req_t *req, int status, json_t *j);
/* Replies {"error":{"code":status,"message":msg}}. */
void st_http_send_error(h2o_req_t *req, int status, const char *msg);

/* Looks up a request header (case-insensitive name). Returns NULL if
 * absent; the value is borrowed for the request's life. */
const h2o_iovec_t *st_http_header(h2o_req_t *req, const char *name);

/* Copies the query parameter key (percent-decoded) into out. ST_ENOENT if
 * absent, ST_E2BIG if longer than outcap-1. */
int st_http_query(h2o_req_t *req, const char *key, char *out, size_t outcap);

#endif
