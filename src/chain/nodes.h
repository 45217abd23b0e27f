/* Inside the chain module only: the register and sds modules — resource
 * and meta nodes, their deposits, the meta-node votes and the ozone pool —
 * (the private header of register.c, sds.c and query_nodes.c).
 *
 * Nodes are named by the 20-byte address of their node key (stsds1... in
 * JSON), owned by the account that registered them (st1...). Deposits sit
 * in the "node_deposits" module account while a node holds them and while
 * they unbond; prepaid STOS go to the "sds_pool" account for good.
 *
 * The ozone pool (ST_K_SDS_POOL) holds three numbers: S, the effective
 * deposit (every active resource node's and every active meta node's
 * deposit; a pending candidate's does not count); Pt, the STOS prepaid so
 * far; Lt, the noz that are left to sell. A prepay of X buys
 * floor(Lt * X / (S + Pt + X)) noz; each wei of deposit that becomes
 * effective raises Lt by 1 / deposit_noz_rate noz and each one that
 * leaves lowers it by as much (each change floored on its own). */
#ifndef STRATOS_CHAIN_NODES_H
#define STRATOS_CHAIN_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "chain/mods.h"

#define ST_NODE_NETADDR_MAX 128

/* Node statuses: ST_NODE_* in mods.h (active 1, pending 2, removed 3,
 * rejected 4, kicked 5). Their names: "active", "pending", "removed",
 * "rejected", "kicked" ("unknown" else). */
const char *st_chain__node_status_name(uint8_t status);

/* A resource or meta node record (meta nodes have type and capacity 0).
 * Encoding under ST_K_RES_NODE|addr or ST_K_META_NODE|addr: status(1)
 * suspended(1) type(1) pubkey(32) owner(20) deposit(16) capacity(8)
 * created_height(8) netaddr_len(1) netaddr moniker_len(1) moniker. */
typedef struct st_chain__node {
  uint8_t addr[ST_ADDR_LEN];      /* the key (not stored in the value) */
  uint8_t pubkey[ST_PUBKEY_LEN];
  uint8_t owner[ST_ADDR_LEN];
  st_u128 deposit;                /* 0 once it left (removed, rejected, kicked) */
  uint8_t type;                   /* storage 4, database 2, computation 1 */
  uint64_t capacity;              /* bytes offered */
  uint8_t status;
  bool suspended;
  int64_t created_height;
  char network_address[ST_NODE_NETADDR_MAX + 1];
  char moniker[ST_MONIKER_MAX + 1];
} st_chain__node_t;
typedef st_chain__node_t st_res_node_t;
typedef st_chain__node_t st_meta_node_t;

/* The module accounts of register, sds and traffic, by name:
 * "node_deposits", "sds_pool", "foundation" (the mining rewards' pool)
 * and "traffic_rewards" (rewards not yet withdrawn); NULL for any other
 * name. st_hash(ST_DOM_MODULE, name)[0..20)
 * like st_chain__macc. */
const uint8_t *st_chain__macc_named(const char *name);

/* ---- register (register.c) ---- */

/* ST_ENOENT when the node has no record. */
int st_chain__res_node_get(st_chain__ctx_t *c, const uint8_t addr[ST_ADDR_LEN],
                           st_res_node_t *n);
int st_chain__meta_node_get(st_chain__ctx_t *c, const uint8_t addr[ST_ADDR_LEN],
                            st_meta_node_t *n);
/* Slashes a resource node: min(wei, its deposit) (*taken) moves from
 * "node_deposits" to the community pool; suspend sets it suspended, and
 * a suspended node's deposit stops counting in the ozone pool's S until
 * a top-up (UpdateResourceNodeDeposit) brings it back to the minimum.
 * Emits the node's ST_EV_RES_NODE event. ST_ENOENT: no such node. */
int st_chain__res_node_slash(st_chain__ctx_t *c, const uint8_t addr[ST_ADDR_LEN], st_u128 wei,
                             bool suspend, st_u128 *taken);
/* Every resource node (meta false) or meta node (meta true) in address
 * order; the caller frees *out. */
int st_chain__nodes_list(st_chain__ctx_t *c, bool meta, st_chain__node_t **out,
                         size_t *n);

/* The votes on a meta node as they count now (only votes of active meta
 * nodes): kick false gives the registration votes on a pending candidate
 * (yes = approve), kick true the kick votes on an active node (yes =
 * kick, no = keep); *active is the number of active meta nodes. */
int st_chain__meta_tally(st_chain__ctx_t *c, const uint8_t node[ST_ADDR_LEN], bool kick,
                         uint32_t *yes, uint32_t *no, uint32_t *active);

/* End of block: pays back node deposits whose unbonding ends by
 * c->time_ms (the block's time). Call after staking's end block. */
int st_chain__register_end_block(st_chain__ctx_t *c);

/* Genesis nodes: created active, their deposits minted into
 * node_deposits (the owners pay nothing). These two types belong in
 * chain_private.h beside st_chain__gval_t, since st_chain__genesis_t holds
 * them (member `nodes`); they use no constant of this header. */
typedef struct st_chain__gnode {
  uint8_t pubkey[ST_PUBKEY_LEN];
  uint8_t addr[ST_ADDR_LEN];
  uint8_t owner[ST_ADDR_LEN];
  st_u128 deposit;
  uint8_t type;           /* resource nodes only */
  uint64_t capacity;      /* resource nodes only */
  char network_address[128 + 1];
  char moniker[64 + 1];
} st_chain__gnode_t;

typedef struct st_chain__gnodes {
  st_chain__gnode_t *meta, *res;
  size_t nmeta, nres;
} st_chain__gnodes_t;

/* Parses the optional top-level arrays "meta_nodes" and "resource_nodes"
 * of a genesis document against the already parsed params p (minimum
 * deposits). On failure returns ST_ECONFIG (or ST_ENOMEM) with
 * "<field>: <reason>" in err, and out is empty. */
int st_chain__register_genesis_parse(json_t *genesis_root, const st_chain__params_t *p,
                                     st_chain__gnodes_t *out, char *err, size_t cap);
void st_chain__register_genesis_free(st_chain__gnodes_t *n);
/* Writes the genesis nodes, their deposits and the ozone pool (S = the
 * deposits, Lt = initial_ozone_limit + what they add) through c. */
int st_chain__register_genesis(const st_chain__gnodes_t *n, st_chain__ctx_t *c);

/* ---- sds (sds.c) ---- */

typedef struct st_sds_pool {
  st_u128 S;   /* effective deposit */
  st_u128 Pt;  /* prepaid, unissued */
  st_u128 Lt;  /* remaining ozone limit (noz) */
} st_sds_pool_t;

/* The pool record; before genesis wrote one: S = Pt = 0 and
 * Lt = initial_ozone_limit. */
int st_chain__sds_pool_get(st_chain__ctx_t *c, st_sds_pool_t *pool);
int st_chain__sds_pool_put(st_chain__ctx_t *c, const st_sds_pool_t *pool);
/* What a prepay of x buys from pool: floor(Lt * x / (S + Pt + x)).
 * ST_ERANGE when S + Pt + x does not fit 128 bits. */
int st_chain__sds_quote(const st_sds_pool_t *pool, st_u128 x, st_u128 *noz);
/* Effective deposit changes: S += added - removed, Lt += added / rate and
 * -= removed / rate (floored each, Lt held at 0). */
int st_chain__sds_deposit_changed(st_chain__ctx_t *c, st_u128 added, st_u128 removed);

/* ---- queries (query_nodes.c) ---- */

/* Registers resource_nodes, resource_node, meta_nodes, meta_node,
 * ozone_price and prepay_pool. */
void st_chain__query_nodes_register(st_chain_t *ch, st_rpc_t *rpc);
/* Prometheus gauges of the traffic rewards (query_traffic.c). */
void st_chain__traffic_metrics(st_chain_t *ch, st_metrics_t *m);
#define ST_CHAIN__QN(name)                                                          \
  int st_chain__q_##name(st_chain_t *ch, json_t *params, json_t **result, char *err, \
                         size_t errcap)
ST_CHAIN__QN(resource_nodes);
ST_CHAIN__QN(resource_node);
ST_CHAIN__QN(meta_nodes);
ST_CHAIN__QN(meta_node);
ST_CHAIN__QN(ozone_price);
ST_CHAIN__QN(prepay_pool);
#undef ST_CHAIN__QN

#endif
