/* The gateway module: the HTTP server dApps and browsers use. This file
 * owns the server and the routes every node has: /healthz and /metrics.
 * /metrics renders the node's registry after refreshing the figures that
 * are read rather than counted: process memory, CPU and descriptors, the
 * bus queues and the store. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stratos/st_err.h>
#include <stratos/st_gateway.h>
#include <stratos/st_log.h>
#include <stratos/st_node.h>
#include "gateway/gw_private.h"

#define METRICS_MAX (8u << 20)

typedef struct bus_series {
  st_metric_t *depth, *sent, *delivered, *dropped;
  uint64_t last_sent, last_delivered, last_dropped;
} bus_series_t;

typedef struct gateway {
  st_node_t *node;
  st_http_t *http;
  st_metric_t *rss, *vsz, *cpu, *fds, *max_fds, *start_time, *map_size, *map_used;
  bus_series_t bus[ST_MOD_MAX];
  st_gw_files_t *files;
} gateway_t;

static int on_healthz(h2o_req_t *req, const st_http_match_t *m, void *ud) {
  json_t *j = json_pack("{s:s}", "status", "ok");
  st_http_send_json(req, 200, j);
  json_decref(j);
  return 0;
}

static double read_statm(int field) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long v[2] = {0, 0};
  if (!f)
    return 0;
  if (fscanf(f, "%lu %lu", &v[0], &v[1]) != 2)
    v[0] = v[1] = 0;
  fclose(f);
  return (double)v[field] * (double)sysconf(_SC_PAGESIZE);
}

static double count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  double n = 0;
  if (!d)
    return 0;
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory stream itself */
}

static void refresh(gateway_t *g) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  st_metric_set(g->rss, read_statm(1));
  st_metric_set(g->vsz, read_statm(0));
  st_metric_add(g->cpu, cpu - st_metric_value(g->cpu));
  st_metric_set(g->fds, count_fds());
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
    st_metric_set(g->max_fds, (double)rl.rlim_cur);
  size_t map = 0, used = 0;
  if (g->node->store && st_store_usage(g->node->store, &map, &used) == 0) {
    st_metric_set(g->map_size, (double)map);
    st_metric_set(g->map_used, (double)used);
  }
  for (int i = 0; i < ST_MOD_MAX; i++) {
    bus_series_t *b = &g->bus[i];
    st_bus_stats_t s;
    if (!b->depth || st_bus_stats(g->node->bus, (st_mod_id)i, &s) != 0)
      continue;
    st_metric_set(b->depth, (double)s.depth);
    st_metric_add(b->sent, (double)(s.sent - b->last_sent));
    st_metric_add(b->delivered, (double)(s.delivered - b->last_delivered));
    st_metric_add(b->dropped, (double)(s.dropped - b->last_dropped));
    b->last_sent = s.sent;
    b->last_delivered = s.delivered;
    b->last_dropped = s.dropped;
  }
}

static int on_metrics(h2o_req_t *req, const st_http_match_t *m, void *ud) {
  gateway_t *g = ud;
  refresh(g);
  st_buf_t b;
  st_buf_init(&b, METRICS_MAX);
  int rc = st_metrics_render(g->node->metrics, &b);
  if (rc != 0) {
    st_buf_free(&b);
    return rc;
  }
  st_http_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
  st_buf_free(&b);
  return 0;
}

static void add_metrics(gateway_t *g) {
  st_metrics_t *m = g->node->metrics;
  g->rss = st_metrics_gauge(m, "process_resident_memory_bytes",
                            "Resident memory size in bytes.", "");
  g->vsz = st_metrics_gauge(m, "process_virtual_memory_bytes",
                            "Virtual memory size in bytes.", "");
  g->cpu = st_metrics_counter(m, "process_cpu_seconds_total",
                              "Total user and system CPU time spent in seconds.", "");
  g->fds = st_metrics_gauge(m, "process_open_fds", "Number of open file descriptors.", "");
  g->max_fds = st_metrics_gauge(m, "process_max_fds",
                                "Maximum number of open file descriptors.", "");
  g->start_time = st_metrics_gauge(m, "process_start_time_seconds",
                                   "Start time of the process since unix epoch in seconds.", "");
  st_metric_set(g->start_time, (double)(g->node->start_ms / 1000u));
  g->map_size = st_metrics_gauge(m, "stratos_store_map_size_bytes",
                                 "Size of the LMDB map: the most the store may grow to.", "");
  g->map_used = st_metrics_gauge(m, "stratos_store_used_bytes",
                                 "Bytes of the LMDB map in use.", "");
  for (int i = 0; i < ST_MOD_MAX; i++) {
    st_bus_stats_t s;
    if (i == ST_MOD_TEST || st_bus_stats(g->node->bus, (st_mod_id)i, &s) != 0)
      continue;
    char labels[64];
    snprintf(labels, sizeof(labels), "module=\"%s\"", st_bus_mod_name((st_mod_id)i));
    bus_series_t *b = &g->bus[i];
    b->depth = st_metrics_gauge(m, "stratos_bus_queue_depth",
                                "Messages waiting in a module's inbox.", labels);
    b->sent = st_metrics_counter(m, "stratos_bus_sent_total",
                                 "Messages accepted into a module's inbox.", labels);
    b->delivered = st_metrics_counter(m, "stratos_bus_delivered_total",
                                      "Messages handed to a module.", labels);
    b->dropped = st_metrics_counter(m, "stratos_bus_dropped_total",
                                    "Messages refused because a module's inbox was full.",
                                    labels);
  }
}

static int gw_init(st_node_t *node, void **state) {
  gateway_t *g = calloc(1, sizeof(*g));
  if (!g)
    abort();
  g->node = node;
  st_http_opts_t o = {.name = "gateway", .max_body = node->cfg.gw_max_body,
                      .metrics = node->metrics,
                      .request_timeout_ms = (uint64_t)node->cfg.gw_request_timeout_s * 1000u};
  int rc = st_http_new(node->loop, &o, &g->http);
  if (rc != 0) {
    free(g);
    return rc;
  }
  st_http_route(g->http, "GET", "/healthz", on_healthz, g);
  st_http_route(g->http, "GET", "/metrics", on_metrics, g);
  if ((rc = st_gw__files_init(node, g->http, &g->files)) != 0) {
    st_http_close(g->http);
    free(g);
    return rc;
  }
  node->gateway = g->http;
  *state = g;
  return 0;
}

static int gw_start(void *state) {
  gateway_t *g = state;
  /* Bus series are made at start, once every module has attached. */
  add_metrics(g);
  st_gw__files_start(g->files);
  const st_laddr_t *l = &g->node->cfg.gw_laddr;
  int rc = st_http_listen(g->http, l->host, l->port);
  if (rc == 0)
    g->node->gw_port = st_http_port(g->http);
  if (rc != 0)
    ST_ERROR("gateway", "cannot listen on %s:%u: %s", l->host, (unsigned)l->port,
             st_strerror(rc));
  return rc;
}

static void gw_on_msg(void *state, st_msg_t *msg) {
  gateway_t *g = state;
  if (g && g->files && !(msg->flags & ST_MSG_F_REPLY))
    st_gw__files_on_msg(g->files, msg);
}

static void gw_stop(void *state) {
  gateway_t *g = state;
  st_gw__files_free(g->files);
  st_http_close(g->http);
  g->node->gateway = NULL;
  free(g);
}

const st_module_t st_gateway_module = {
  .name = "gateway",
  .id = ST_MOD_GATEWAY,
  .init = gw_init,
  .start = gw_start,
  .on_msg = gw_on_msg,
  .stop = gw_stop,
};
