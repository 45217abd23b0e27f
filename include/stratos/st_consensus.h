/* The consensus engine: the Tendermint algorithm (Buchman, Kwon,
 * Milosevic, arXiv 1807.04938) over a weighted validator set, knowing
 * nothing of what its blocks carry. The value chain runs one instance with
 * stake weights, the meta chain another with equal weights.
 *
 * The engine owns its block store (LMDB databases named "<name>_*"), its
 * WAL and its sign state (files under HOME/data/<name>/). It talks to peers
 * by sending ST_MSG_NET_SEND on its two channels and is fed the frames of
 * those channels by the module that owns it. The application is called on
 * the loop thread. A decided block is applied by the application and
 * stored by the engine in one LMDB transaction, so a crash never leaves
 * the two apart. */
#ifndef STRATOS_ST_CONSENSUS_H
#define STRATOS_ST_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <stratos/st_bus.h>
#include <stratos/st_crypto.h>
#include <stratos/st_net.h>
#include <stratos/st_store.h>

struct st_node;

typedef struct st_cons st_cons_t;

typedef struct st_cons_validator {
  uint8_t pubkey[ST_PUBKEY_LEN];
  uint8_t addr[ST_ADDR_LEN];
  int64_t power;
} st_cons_validator_t;

/* A validator set, sorted by address. The engine copies sets it is given. */
typedef struct st_cons_valset {
  size_t n;
  st_cons_validator_t *v;
} st_cons_valset_t;

/* Timeouts in milliseconds; round r waits base + r * delta. */
typedef struct st_cons_params {
  uint32_t timeout_propose, timeout_propose_delta;
  uint32_t timeout_prevote, timeout_prevote_delta;
  uint32_t timeout_precommit, timeout_precommit_delta;
  uint32_t timeout_commit;       /* pause after a commit before the next height */
  bool create_empty_blocks;      /* false: wait for txs (or the interval) */
  uint32_t empty_blocks_interval; /* ms; with create_empty_blocks=false, 0 = never */
  uint32_t max_block_bytes;
  uint32_t max_block_txs;
  /* Test-only Byzantine behaviour: sign two different prevotes in every
   * round (one for the proposal, one for nil). Never set outside tests. */
  bool byzantine_double_prevote;
  int64_t byzantine_from_height; /* only from this height on (0: always) */
} st_cons_params_t;

/* Evidence of a validator signing two different votes for one
 * height/round/type, as handed to the application. */
typedef struct st_cons_evidence {
  uint8_t validator[ST_ADDR_LEN];
  int64_t height;       /* height of the infraction */
  int64_t power;        /* the validator's power at that height */
  int64_t time_ms;
} st_cons_evidence_t;

/* The decided block as the application sees it. Everything is borrowed
 * for the duration of the call. */
typedef struct st_cons_block {
  int64_t height;
  int64_t time_ms;
  const uint8_t *hash;        /* ST_HASH_LEN */
  const uint8_t *proposer;    /* ST_ADDR_LEN */
  size_t ntxs;
  const uint8_t *const *txs;
  const size_t *tx_lens;
  size_t nevidence;
  const st_cons_evidence_t *evidence;
  /* Validators of the parent height and whether each signed its commit
   * (for downtime accounting); both NULL at height 1. */
  const st_cons_valset_t *last_valset;
  const bool *last_signed;
} st_cons_block_t;

/* A list of txs built for a proposal: the application fills it with
 * malloc'd copies; the engine frees them. */
typedef struct st_cons_txlist {
  size_t n, cap;
  uint8_t **txs;
  size_t *lens;
} st_cons_txlist_t;

/* Appends a copy of tx to l. */
int st_cons_txlist_add(st_cons_txlist_t *l, const void *tx, size_t len);
void st_cons_txlist_free(st_cons_txlist_t *l);

typedef struct st_cons_app {
  /* Fills out with txs for a proposal at height, within the limits. */
  int (*propose)(void *ud, int64_t height, size_t max_bytes, size_t max_txs,
                 st_cons_txlist_t *out);
  /* Checks a proposed block's txs (decoding, signatures, nonces in order,
   * balances). 0 accepts; any error makes the engine prevote nil, but
   * ST_EAGAIN means "cannot judge yet" (nothing is cached, the engine
   * asks again on its next tick and never halts over it). Must not
   * change state. */
  int (*validate)(void *ud, int64_t height, size_t ntxs, const uint8_t *const *txs,
                  const size_t *lens);
  /* Applies a decided block inside txn (ST_EAGAIN: not yet; the engine
   * retries later instead of halting). The engine commits txn after
   * storing the block). Returns the app hash after the block, the hash of
   * the tx results, and, if the validator set changes for height+2 (as in
   * CometBFT: updates at H take effect at H+2), fills next (the whole new
   * set, in any order, next->v malloc'd by the application; the engine
   * takes and frees it) and sets *changed. */
  int (*finalize)(void *ud, st_txn_t *txn, const st_cons_block_t *b,
                  uint8_t app_hash[ST_HASH_LEN], uint8_t results_hash[ST_HASH_LEN],
                  st_cons_valset_t *next, bool *changed);
  /* After the block is durable: recheck the mempool, publish events. */
  void (*committed)(void *ud, int64_t height);
  /* Whether the application has txs waiting (for create_empty_blocks=false). */
  bool (*has_txs)(void *ud);
} st_cons_app_t;

typedef struct st_cons_opts {
  const char *name;       /* "value" or "meta": log tag, store names, RPC prefix */
  const char *rpc_prefix; /* "" for the value chain, "meta_" for the meta chain */
  /* The chain id blocks carry and votes are signed under; NULL takes
   * node->chain_id. Two chains of one node must use different ids, so
   * that a vote of one can never be replayed on the other. */
  const char *chain_id;
  struct st_node *node;   /* loop, bus, store, node key, home, rpc */
  st_mod_id owner;        /* module that feeds frames to the engine */
  uint32_t ch_consensus;
  uint32_t ch_blocksync;
  st_cons_params_t params;
  const st_cons_valset_t *genesis_valset;
  int64_t genesis_time_ms;
  uint8_t genesis_app_hash[ST_HASH_LEN];
  st_cons_app_t app;
  void *app_ud;
} st_cons_opts_t;

/* Creates the engine: opens its store databases, registers its JSON-RPC
 * methods (prefix + block, blockchain, commit, validator_set,
 * consensus_state, evidence). Does not touch the network yet. */
int st_cons_new(const st_cons_opts_t *opts, st_cons_t **out);

/* Recovers (latest stored block, sign state, WAL replay of the current
 * height) and starts: block sync while peers are ahead, then consensus. */
int st_cons_start(st_cons_t *c);

/* Stops timers and frees the engine (its memory goes once the loop has
 * run the timers' close callbacks). */
void st_cons_free(st_cons_t *c);

/* Feeds one frame of the engine's channels (borrowed for the call). A
 * malformed or invalid frame makes the engine ask net to ban the peer. */
void st_cons_on_frame(st_cons_t *c, const st_net_frame_t *f);

/* Tells the engine a peer came or went. */
void st_cons_on_peer(st_cons_t *c, const uint8_t peer[ST_ADDR_LEN], int up);

/* Tells the engine the application has new txs (create_empty_blocks=false). */
void st_cons_txs_available(st_cons_t *c);

/* Latest committed height (0 before the first block) and its hash and
 * app hash; catching_up is true while block sync runs. */
typedef struct st_cons_status {
  int64_t height;
  uint8_t hash[ST_HASH_LEN];
  uint8_t app_hash[ST_HASH_LEN];
  int64_t time_ms;
  int64_t lowest;
  bool catching_up;
  int64_t round;
  int step;
} st_cons_status_t;

void st_cons_status(st_cons_t *c, st_cons_status_t *out);

/* The validator set of height (borrowed until the next call). */
int st_cons_valset_at(st_cons_t *c, int64_t height, const st_cons_valset_t **out);

/* Hash of a validator set (what headers commit to). */
void st_cons_valset_hash(const st_cons_valset_t *vs, uint8_t out[ST_HASH_LEN]);

/* Proposer selection, exposed for tests: the proposer of (height, round)
 * given the set's state at the start of height. */
size_t st_cons_proposer_index(st_cons_t *c, int64_t height, int32_t round);

#endif
