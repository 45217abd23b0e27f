/* The meta-service layer: the meta chain (a second instance of the
 * consensus engine, with equal weights among the meta authorities voted
 * in on the value chain), the ozone ledger, resource nodes' liveness and
 * placement. */
#ifndef STRATOS_ST_META_H
#define STRATOS_ST_META_H

#include <stdint.h>
#include <jansson.h>
#include <stratos/st_bus.h>
#include <stratos/st_bytes.h>
#include <stratos/st_crypto.h>

/* The module's hooks (ST_MOD_META): the meta chain on nodes with the meta
 * role, heartbeats on nodes with the resource role. */
extern const st_module_t st_meta_module;

/* Placement over the bus: which storage nodes should hold a slice, by
 * the meta chain's latest committed state and block hash. The reply's
 * status is ST_ENOENT when this node runs no meta chain. */
#define ST_PLACE_SLICE_MAX 64
#define ST_PLACE_REPLICAS_MAX 16
typedef struct st_place_req {
  uint8_t slice[ST_PLACE_SLICE_MAX]; /* the slice's identity, e.g. its root */
  size_t slice_len;
  size_t replicas;                   /* 1..ST_PLACE_REPLICAS_MAX */
} st_place_req_t;

typedef struct st_place_reply {
  int64_t meta_height;               /* the meta block the choice comes from */
  size_t n;                          /* fewer than asked: not enough nodes */
  uint8_t nodes[ST_PLACE_REPLICAS_MAX][ST_ADDR_LEN];
  char addrs[ST_PLACE_REPLICAS_MAX][129]; /* their network addresses */
} st_place_reply_t;

/* The meta chain's view of resource node addr, as this node has it:
 * {mining_status: online|offline|suspended|removed, last_heartbeat_ms,
 * score, meta_height}. ST_ENOENT when this node runs no meta chain or does
 * not know the node. Opens its own read transaction: call it with none
 * open on this thread. */
struct st_node;
int st_meta_liveness(struct st_node *node, const uint8_t addr[ST_ADDR_LEN], json_t **out);

/* Builds a resource node's heartbeat (a MetaTx of proto/meta.proto),
 * signed by kp under ST_DOM_HEARTBEAT and meta_chain_id
 * ("<value chain id>-meta"), and appends it to out. */
int st_meta_heartbeat(const st_keypair_t *kp, const char *meta_chain_id, int64_t time_ms,
                      st_buf_t *out);

#endif
