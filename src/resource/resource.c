/* The resource module's hooks.
 *
 * On a node with the resource role it opens the slice store under
 * HOME/data/slices (src/resource/store.c), scrubs one slice every
 * scrub interval — the one verified longest ago — and logs a slice found
 * corrupt or missing, and exports what it holds as metrics and, through
 * st_resource_usage, in the node's heartbeats. Serving and receiving
 * slices over the network come with the storage layer's protocol. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_metrics.h>
#include <stratos/st_node.h>
#include <stratos/st_resource.h>
#include "resource/store.h"

/* One slice re-checked this often. */
#define SCRUB_MS 10000

typedef struct res {
  st_node_t *node;
  st_slice_store_t *store;
  uv_timer_t *scrub;
  st_metric_t *m_corrupt;
} res_t;

static void free_handle(uv_handle_t *h) { free(h); }

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_scrub(uv_timer_t *t) {
  res_t *r = t->data;
  bool bad = false;
  uint8_t root[ST_HASH_LEN];
  int rc = st_slice_scrub_one(r->store, wall_ms(), &bad, root);
  if (rc == 0 && bad) {
    char hex[2 * ST_HASH_LEN + 1];
    st_hex_encode(root, ST_HASH_LEN, hex, sizeof(hex));
    ST_WARN("resource", "slice %s is corrupt or missing", hex);
    if (r->m_corrupt)
      st_metric_inc(r->m_corrupt);
  } else if (rc != 0 && rc != ST_ENOENT) {
    ST_WARN("resource", "scrub failed: %s", st_strerror(rc));
  }
}

static double usage_bytes(void *ud) {
  uint64_t b, s;
  st_slice_usage(((res_t *)ud)->store, &b, &s);
  return (double)b;
}

static double usage_slices(void *ud) {
  uint64_t b, s;
  st_slice_usage(((res_t *)ud)->store, &b, &s);
  return (double)s;
}

void st_resource_usage(struct st_node *node, uint64_t *bytes, uint64_t *slices) {
  res_t *r = node ? node->resource : NULL;
  *bytes = *slices = 0;
  if (r && r->store)
    st_slice_usage(r->store, bytes, slices);
}

static int res_init(st_node_t *node, void **state) {
  res_t *r = calloc(1, sizeof(*r));
  char dir[ST_PATH_MAX];
  if (!r)
    abort();
  r->node = node;
  if ((size_t)snprintf(dir, sizeof(dir), "%s/data/slices", node->home) >= sizeof(dir)) {
    free(r);
    return ST_E2BIG;
  }
  int rc = st_slice_store_open(dir, node->store, &r->store);
  if (rc != 0) {
    ST_ERROR("resource", "cannot open the slice store %s: %s", dir, st_strerror(rc));
    free(r);
    return rc;
  }
  if (node->metrics) {
    st_metrics_gauge_fn(node->metrics, "stratos_resource_stored_bytes",
                        "Bytes of slices this node stores.", "", usage_bytes, r);
    st_metrics_gauge_fn(node->metrics, "stratos_resource_stored_slices",
                        "Slices this node stores.", "", usage_slices, r);
    r->m_corrupt = st_metrics_counter(node->metrics, "stratos_resource_corrupt_slices_total",
                                      "Slices the scrub found corrupt or missing.", "");
  }
  r->scrub = malloc(sizeof(*r->scrub));
  if (!r->scrub)
    abort();
  uv_timer_init(node->loop, r->scrub);
  r->scrub->data = r;
  node->resource = r;
  uint64_t b, s;
  st_slice_usage(r->store, &b, &s);
  ST_INFO("resource", "slice store %s: %llu slices, %llu bytes", dir, (unsigned long long)s,
          (unsigned long long)b);
  *state = r;
  return 0;
}

static int res_start(void *state) {
  res_t *r = state;
  uv_timer_start(r->scrub, on_scrub, SCRUB_MS, SCRUB_MS);
  return 0;
}

static void res_on_msg(void *state, st_msg_t *msg) {
  (void)state;
  (void)msg;
}

static void res_stop(void *state) {
  res_t *r = state;
  if (!r)
    return;
  if (r->node->resource == r)
    r->node->resource = NULL;
  uv_close((uv_handle_t *)r->scrub, free_handle);
  st_slice_store_close(r->store);
  free(r);
}

const st_module_t st_resource_module = {
  .name = "resource",
  .id = ST_MOD_RESOURCE,
  .init = res_init,
  .start = res_start,
  .on_msg = res_on_msg,
  .stop = res_stop,
};
