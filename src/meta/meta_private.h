/* Inside the meta module only: the meta chain's application — the
 * mirror of the value chain's node registry, the ozone ledger, resource
 * nodes' liveness — and the module that runs it on a second instance of
 * the consensus engine.
 *
 * The state reuses the value chain's overlay (src/chain/state.c): space
 * 0 holds the ozone ledger (account address -> noz, 16 bytes BE), space 1
 * the records below, in the databases "metaapp_ozone" and "metaapp_rec".
 * Record keys start with one kind byte. */
#ifndef STRATOS_META_META_PRIVATE_H
#define STRATOS_META_META_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>
#include <stratos/st_chain.h>
#include <stratos/st_consensus.h>
#include <stratos/st_node.h>
#include "chain/mods.h"

#define ST_META__SP_OZONE ST_CHAIN__SP_ACCT
#define ST_META__SP_REC ST_CHAIN__SP_STATE

enum {
  ST_META__K_APPLIED = 'V',  /* "V" -> value height applied so far (8) */
  ST_META__K_AUTH = 'A',     /* node(20) -> pubkey(32): the authorities */
  ST_META__K_RNODE = 'R',    /* node(20) -> st_meta__rnode_t */
  ST_META__K_PREPAY = 'P',   /* value tx hash(32) -> "": prepays credited */
  ST_META__K_GENESIS = 'G',  /* "G" -> genesis app hash */
};

#define ST_META__SCORE_START 10000
#define ST_META__NETADDR_MAX 128
/* A heartbeat pool entry per node, at most this many nodes. */
#define ST_META__HB_POOL_MAX 4096
/* Heartbeats more than this far from the block time are refused. */
#define ST_META__HB_SKEW_MS 60000

typedef struct st_meta__params {
  int64_t offline_after_ms;
  int64_t heartbeat_interval_ms;
  uint32_t max_sync_heights;  /* value heights one meta block may apply */
} st_meta__params_t;

/* The meta chain's mirror of a resource node, with its liveness. */
typedef struct st_meta__rnode {
  uint8_t addr[ST_ADDR_LEN];
  uint8_t pubkey[ST_PUBKEY_LEN];
  uint8_t owner[ST_ADDR_LEN];
  uint8_t node_type;
  uint8_t status;           /* ST_NODE_* of the value chain */
  bool suspended;
  bool online;
  uint64_t capacity;
  st_u128 deposit;
  int64_t last_hb_ms;       /* block time of the last heartbeat applied */
  int64_t hb_time_ms;       /* the node's own time in it (replays) */
  uint32_t score;
  uint64_t used, free_, served, slices;
  char netaddr[ST_META__NETADDR_MAX + 1];
} st_meta__rnode_t;

int st_meta__rnode_get(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN],
                       st_meta__rnode_t *r);
int st_meta__rnode_put(st_chain__overlay_t *ov, const st_meta__rnode_t *r);

/* ---- the ozone ledger ---- */
int st_meta__oz_get(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN], st_u128 *noz);
/* Credits noz once per value prepay tx: a second credit of the same tx
 * changes nothing and returns 0 with *applied false. */
int st_meta__oz_credit(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN], st_u128 noz,
                       const uint8_t tx_hash[ST_HASH_LEN], bool *applied);
/* Debits noz, all or nothing: ST_EPERM when the balance is short. */
int st_meta__oz_debit(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN], st_u128 noz);

/* ---- genesis ---- */

typedef struct st_meta__genesis {
  char chain_id[ST_CHAIN_ID_MAX + 1]; /* "<value chain id>-meta" */
  int64_t genesis_time_ms;
  st_cons_params_t cons;
  st_meta__params_t p;
  st_cons_valset_t auth;    /* equal powers, sorted by address */
  size_t nres;
  st_meta__rnode_t *res;
} st_meta__genesis_t;

/* Reads the meta chain's part of genesis.json: meta_nodes (authorities),
 * resource_nodes, params.meta and the consensus params. No meta_nodes
 * gives ST_ENOENT (no meta chain). Errors name the field in err. */
int st_meta__genesis_parse(json_t *g, st_meta__genesis_t *out, char *err, size_t cap);
void st_meta__genesis_free(st_meta__genesis_t *g);

/* ---- the application ---- */

typedef struct st_meta__hb {
  uint8_t addr[ST_ADDR_LEN];
  uint8_t *tx;              /* an encoded MetaTx carrying the heartbeat */
  size_t len;
  int64_t time_ms;
} st_meta__hb_t;

typedef struct st_meta {
  st_node_t *node;          /* NULL in unit tests */
  st_store_t *store;
  st_meta__genesis_t gen;
  st_chain__state_t st;     /* dbs[0] ozone, dbs[1] records */
  st_chain_feed_t feed;
  uint8_t genesis_app_hash[ST_HASH_LEN];
  st_cons_t *cons;
  int64_t last_height;
  st_meta__hb_t *hbs;       /* the heartbeat pool: latest per node */
  size_t nhbs;
  uv_timer_t *hb_timer;     /* resource role: our own heartbeats */
  uint64_t hb_sent;
} st_meta_t;

/* Opens the state (writing the genesis state on first start). */
int st_meta__open(st_meta_t *m, st_store_t *store, st_meta__genesis_t *g);
void st_meta__close(st_meta_t *m);

/* The st_cons_app_t callbacks. */
int st_meta__app_propose(void *ud, int64_t height, size_t max_bytes, size_t max_txs,
                         st_cons_txlist_t *out);
int st_meta__app_validate(void *ud, int64_t height, size_t ntxs, const uint8_t *const *txs,
                          const size_t *lens);
int st_meta__app_finalize(void *ud, st_txn_t *txn, const st_cons_block_t *b,
                          uint8_t app_hash[ST_HASH_LEN], uint8_t results_hash[ST_HASH_LEN],
                          st_cons_valset_t *next, bool *changed);
void st_meta__app_committed(void *ud, int64_t height);
bool st_meta__app_has_txs(void *ud);

/* A heartbeat from the network or our own: checked (decoding, signature
 * under the meta chain id) and pooled, replacing an older one of the
 * same node. Returns 0 or a refusal with a sentence in log. */
int st_meta__hb_submit(st_meta_t *m, const uint8_t *tx, size_t len, char *log, size_t cap);

/* Builds a signed heartbeat MetaTx for kp (appended to out). */
int st_meta__hb_build(const st_keypair_t *kp, const char *meta_chain_id, int64_t time_ms,
                      uint64_t used, uint64_t free_, uint64_t served, uint64_t slices,
                      st_buf_t *out);

/* JSON-RPC: ozone_balance, meta_resource_nodes (liveness). */
void st_meta__rpc_register(st_meta_t *m, st_rpc_t *rpc);

#endif
