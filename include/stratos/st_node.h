/* The node: what one stratosd process shares with its modules. Created by
 * the daemon; modules borrow it for their whole life. Loop thread only. */
#ifndef STRATOS_ST_NODE_H
#define STRATOS_ST_NODE_H

#include <stdint.h>
#include <jansson.h>
#include <uv.h>
#include <stratos/st_bus.h>
#include <stratos/st_config.h>
#include <stratos/st_crypto.h>
#include <stratos/st_http.h>
#include <stratos/st_metrics.h>
#include <stratos/st_rpc.h>
#include <stratos/st_store.h>

#define ST_PATH_MAX 4096

typedef struct st_node {
  uv_loop_t *loop;
  st_bus_t *bus;
  st_store_t *store;
  st_metrics_t *metrics;
  st_config_t cfg;
  char home[ST_PATH_MAX];
  st_keypair_t node_key;
  char node_id[ST_ADDR_STR_MAX]; /* stsds1... */
  uint64_t start_ms;             /* wall clock at start, ms since epoch */
  unsigned roles;
  int dev;                       /* running as `stratosd dev` */
  /* config/genesis.json, parsed and checked for shape by the daemon;
   * each module reads its own part. NULL when the home has none. */
  json_t *genesis;
  char chain_id[ST_CHAIN_ID_MAX + 1];
  /* Set by the rpc and gateway modules at init; other modules register
   * their methods and routes on them. */
  st_rpc_t *rpc;
  st_http_t *gateway;
  /* Set by the meta module when this node runs the meta chain, for the
   * read-only views of st_meta.h. */
  struct st_meta *meta;
  /* Set by the resource module on resource nodes (st_resource.h). */
  void *resource;
  /* Bound ports, set by the rpc and gateway modules once listening. */
  uint16_t rpc_port;
  uint16_t gw_port;
} st_node_t;

#endif
