/* Inside the chain module only: the parsed genesis, decoded txs, the
 * account state in LMDB, the mempool and the application callbacks. */
#ifndef STRATOS_CHAIN_CHAIN_PRIVATE_H
#define STRATOS_CHAIN_CHAIN_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>
#include <stratos/st_bytes.h>
#include <stratos/st_chain.h>
#include <stratos/st_consensus.h>
#include <stratos/st_crypto.h>
#include <stratos/st_node.h>
#include <stratos/st_rpc.h>
#include <stratos/st_store.h>

/* A sender's txs are accepted with nonces from its account nonce up to
 * this many ahead; later ones are refused until the gap closes. */
#define ST_CHAIN__NONCE_WINDOW 128

/* Room for one refusal sentence ("nonce 5 expected 3", ...). */
#define ST_CHAIN__LOG_MAX 192

/* Stored account value: balance (16 bytes BE) || nonce (8 bytes BE). */
#define ST_CHAIN__ACCT_LEN 24

/* Frame type of a tx on ST_CH_MEMPOOL. */
#define ST_CHAIN__FRAME_TX 1

/* broadcast_tx_commit gives up after this long. */
#define ST_CHAIN__COMMIT_TIMEOUT_MS 30000
/* At most this many broadcast_tx_commit calls wait at once. */
#define ST_CHAIN__MAX_WAITERS 1024

/* ---- genesis (genesis.c) ---- */

typedef struct st_chain__params {
  char chain_id[ST_CHAIN_ID_MAX + 1];
  int64_t genesis_time_ms;
  st_cons_params_t cons;
  /* params.mempool */
  size_t max_txs;
  size_t max_bytes;
  size_t max_tx_bytes;
  size_t cache_size;
  /* params.auth */
  st_u128 min_fee_per_byte;
  size_t max_memo_bytes;
  /* params.staking */
  int64_t unbonding_time_ms;
  uint32_t max_validators;
  uint32_t max_entries;         /* unbonding or redelegation entries per pair */
  /* params.slashing (fractions scaled by ST_DEC_ONE) */
  int64_t signed_blocks_window;
  st_u128 min_signed_per_window;
  int64_t downtime_jail_duration_ms;
  st_u128 slash_fraction_double_sign;
  st_u128 slash_fraction_downtime;
  /* params.distribution */
  st_u128 community_tax;
  /* params.gov */
  st_u128 min_deposit;
  int64_t max_deposit_period_ms;
  int64_t voting_period_ms;
  st_u128 quorum, threshold, veto_threshold;
  /* params.register */
  st_u128 resource_node_min_deposit;
  st_u128 meta_node_min_deposit;
  int64_t node_unbonding_time_ms;
  st_u128 deposit_noz_rate;     /* wei of deposit per noz of ozone limit */
  /* params.sds */
  st_u128 initial_ozone_limit;  /* Lt before any deposit (noz) */
  /* params.traffic */
  uint64_t traffic_mature_epoch;   /* epochs before a reward can be withdrawn */
  uint32_t traffic_tax_bps;        /* community tax on the traffic reward */
} st_chain__params_t;

typedef struct st_chain__gacct {
  uint8_t addr[ST_ADDR_LEN];
  st_u128 balance;
} st_chain__gacct_t;

/* A genesis validator: its node key, its operator account (by default
 * the st1 address of the node key), its self-delegation of power STOS
 * (created bonded) and its commission. */
typedef struct st_chain__gval {
  uint8_t operator_[ST_ADDR_LEN];
  char moniker[65];
  st_u128 rate, max_rate, max_change_rate, min_self_delegation;
} st_chain__gval_t;

/* The value chain's part of genesis.json. Accounts are sorted by
 * address, validators by consensus address, gvals[i] belonging to
 * valset.v[i]. */
struct st_chain__gnodes; /* meta and resource nodes of genesis (nodes.h) */

typedef struct st_chain__genesis {
  st_chain__params_t p;
  size_t naccts;
  st_chain__gacct_t *accts;
  st_cons_valset_t valset;
  st_chain__gval_t *gvals;
  struct st_chain__gnodes *nodes; /* never NULL after a successful parse */
} st_chain__genesis_t;

/* Parses and checks the value part of a genesis document (borrowed). On
 * failure returns ST_ECONFIG and writes "<field>: <reason>" into err; out
 * is then empty. The caller frees a parsed genesis with
 * st_chain__genesis_free. */
int st_chain__genesis_parse(json_t *g, st_chain__genesis_t *out, char *err,
                            size_t errcap);
void st_chain__genesis_free(st_chain__genesis_t *g);

/* Fills p with the documented defaults of every params field (chain id
 * and genesis time are left empty). */
void st_chain__params_defaults(st_chain__params_t *p);

/* ---- txs (tx.c) ---- */

/* A tx that passed the stateless checks. Offsets point into the tx bytes
 * it was decoded from. */
typedef struct st_chain__tx {
  uint8_t hash[ST_HASH_LEN];
  uint8_t sender[ST_ADDR_LEN];
  uint8_t pubkey[ST_PUBKEY_LEN];
  uint8_t sig[ST_SIG_LEN];
  size_t len;       /* whole tx */
  size_t body_off;  /* the signed body inside the tx bytes */
  size_t body_len;
  uint64_t nonce;
  st_u128 fee;
  st_u128 amount;   /* sent, delegated, deposited or self-delegated */
  st_u128 cost;     /* amount + fee: what the sender's balance must cover */
  uint8_t to[ST_ADDR_LEN];
  int kind;         /* the body's msg case (STRATOS__TX__TX_BODY__MSG_*) */
} st_chain__tx_t;

/* The msg case of a send (STRATOS__TX__TX_BODY__MSG_SEND). */
#define ST_CHAIN__KIND_SEND 10

/* Decodes tx and checks everything that depends neither on state nor on
 * the signature: size (before decoding), canonical protobuf encoding,
 * key and signature lengths, chain id, amounts, memo length, the one
 * send message, the minimum fee. On failure returns the ST_E* code and
 * writes a sentence into log. */
int st_chain__tx_check(const st_chain__params_t *p, const uint8_t *tx, size_t len,
                       st_chain__tx_t *out, char *log, size_t logcap);

/* Verifies the signature of a checked tx over its body bytes (tx is the
 * buffer t was decoded from). Returns 0 or ST_EBADSIG. Thread-safe. */
int st_chain__tx_verify(const char *chain_id, const uint8_t *tx, const st_chain__tx_t *t);

/* Encodes a TxBody with one send message into out (appended). */
int st_chain__body_encode(const char *chain_id, uint64_t nonce, st_u128 fee,
                          const char *memo, const uint8_t to[ST_ADDR_LEN],
                          st_u128 amount, st_buf_t *out);

/* Decodes the body of a checked tx again (for its message); the caller
 * frees *out with stratos__tx__tx_body__free_unpacked. */
struct Stratos__Tx__TxBody;
int st_chain__body_decode(const uint8_t *tx, const st_chain__tx_t *t,
                          struct Stratos__Tx__TxBody **out);

/* Encodes a Tx from its parts into out (appended). */
int st_chain__tx_encode(const uint8_t *body, size_t blen, const uint8_t pk[ST_PUBKEY_LEN],
                        const uint8_t sig[ST_SIG_LEN], st_buf_t *out);

/* Encodes a TxResult into out (appended). log may be NULL. */
int st_chain__result_encode(int code, const char *log, st_u128 fee, st_buf_t *out);

/* Decodes a stored TxResult into code, log (truncated to logcap) and fee. */
int st_chain__result_decode(const uint8_t *p, size_t n, int *code, char *log,
                            size_t logcap, st_u128 *fee);

/* required = min_fee_per_byte * len; ST_ERANGE on overflow. */
int st_chain__min_fee(st_u128 min_fee_per_byte, size_t len, st_u128 *required);

/* ---- state (state.c) ---- */

typedef struct st_chain__acct {
  st_u128 balance;
  uint64_t nonce;
} st_chain__acct_t;

/* Key spaces of the state: accounts (20-byte address keys) and the
 * modules' records (staking, distribution, slashing, governance, params),
 * each in its own LMDB database. */
enum { ST_CHAIN__SP_ACCT = 0, ST_CHAIN__SP_STATE = 1, ST_CHAIN__SP_N = 2 };

#define ST_CHAIN__KEY_MAX 112

typedef struct st_chain__state {
  st_store_t *store;
  st_db_t acct;    /* addr -> balance || nonce */
  st_db_t txidx;   /* tx hash -> height || index || result length || result || tx */
  st_db_t results; /* height -> (result length || result)* */
  st_db_t meta;    /* "height", "app_hash", "genesis" */
  st_db_t mod;     /* module records, keyed by a one-byte prefix per kind */
  st_db_t dbs[ST_CHAIN__SP_N]; /* acct, mod */
} st_chain__state_t;

void st_chain__acct_encode(const st_chain__acct_t *a, uint8_t out[ST_CHAIN__ACCT_LEN]);
void st_chain__acct_decode(const uint8_t in[ST_CHAIN__ACCT_LEN], st_chain__acct_t *a);

/* Opens the chain's databases and, on first start, writes the genesis
 * accounts in one transaction. Computes the genesis app hash; a store
 * created from another genesis is refused with ST_ECONFIG. */
int st_chain__state_open(st_chain__state_t *st, st_store_t *store,
                         const st_chain__genesis_t *g,
                         uint8_t genesis_app_hash[ST_HASH_LEN]);

/* The genesis app hash: what st_chain__ov_commit gives for the genesis
 * state (accounts, then the modules' records) over 32 zero bytes. */
int st_chain__genesis_app_hash(const st_chain__genesis_t *g, uint8_t out[ST_HASH_LEN]);

/* Reads an account; a missing one reads as balance 0, nonce 0. */
int st_chain__acct_get(const st_chain__state_t *st, st_txn_t *txn,
                       const uint8_t addr[ST_ADDR_LEN], st_chain__acct_t *out);

/* Reads the last finalized height (0 before the first block) and the app
 * hash after it. */
int st_chain__meta_get(const st_chain__state_t *st, st_txn_t *txn, int64_t *height,
                       uint8_t app_hash[ST_HASH_LEN]);

void st_chain__be64(uint8_t out[8], uint64_t v);
uint64_t st_chain__rd64(const uint8_t in[8]);
void st_chain__be32(uint8_t out[4], uint32_t v);
uint32_t st_chain__rd32(const uint8_t in[4]);

/* State read through a transaction and changed in memory, so that a
 * block can be tried (validate, propose) or applied (finalize) as a
 * sequence of txs; finalize then writes the changes in key order. */
typedef struct st_chain__ov_ent {
  uint8_t sp, klen;
  bool present, dirty;
  uint32_t vlen;
  uint8_t key[ST_CHAIN__KEY_MAX];
  uint8_t inl[40];      /* values up to 40 bytes live here */
  uint8_t *heap;        /* larger ones here */
} st_chain__ov_ent_t;

typedef struct st_chain__ov_undo {
  uint32_t idx;
  bool present, dirty;
  uint32_t vlen;
  uint8_t *val;
} st_chain__ov_undo_t;

typedef struct st_chain__overlay {
  const st_chain__state_t *st;
  st_txn_t *txn;        /* NULL: an empty state (tests) */
  st_chain__ov_ent_t *ents;
  size_t n, cap;
  uint32_t *tab;        /* open addressing over ents indices */
  size_t tcap;
  bool in_tx;
  st_chain__ov_undo_t *jour;
  size_t jn, jcap;
} st_chain__overlay_t;

void st_chain__ov_init(st_chain__overlay_t *ov, const st_chain__state_t *st, st_txn_t *txn);
void st_chain__ov_free(st_chain__overlay_t *ov);

/* Writes the modules' genesis records (params, validators, their
 * self-delegations, pools) into ov (staking.c). */
int st_chain__modules_genesis(const st_chain__genesis_t *g, st_chain__overlay_t *ov);

/* Generic records. read gives ST_ENOENT for a missing key; *val stays
 * valid until the overlay changes. Keys are 1..ST_CHAIN__KEY_MAX bytes. */
int st_chain__ov_read(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                      const uint8_t **val, size_t *vlen);
int st_chain__ov_write(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                       const void *val, size_t vlen);
int st_chain__ov_del(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen);

/* Calls cb for every present record of sp whose key starts with prefix,
 * in key order, as the overlay sees them (changes merged over the
 * transaction). cb returns 0 to go on, 1 to stop, < 0 to fail; it must
 * not change the overlay (collect keys, act after the scan). */
int st_chain__ov_scan(st_chain__overlay_t *ov, uint8_t sp, const void *prefix, size_t plen,
                      st_kv_scan_cb cb, void *ud);

/* A record copied out of a scan. Scan callbacks may neither change nor
 * read the overlay, so a scan whose records lead to more work copies
 * them first and does the work after. */
typedef struct st_chain__rec {
  uint8_t key[ST_CHAIN__KEY_MAX];
  size_t klen;
  uint8_t *val;         /* malloc'd; NULL when vlen is 0 */
  size_t vlen;
} st_chain__rec_t;

typedef struct st_chain__recs {
  st_chain__rec_t *v;
  size_t n, cap;
} st_chain__recs_t;

/* due_ms of a scan that is not of a time queue. */
#define ST_CHAIN__NOT_DUE (-1)

/* Copies into *out (emptied first) the records st_chain__ov_scan would
 * show. A queue (due_ms >= 0) has keys kind || time (8 bytes BE) || ...
 * in time order: the copy stops at the first key whose time is after
 * due_ms, and a key too short for a time is ST_ECORRUPT. max > 0 stops
 * after max records. A key longer than ST_CHAIN__KEY_MAX is ST_ECORRUPT.
 * On failure *out is left empty; st_chain__recs_free it either way. */
int st_chain__ov_collect(st_chain__overlay_t *ov, uint8_t sp, const void *prefix, size_t plen,
                         int64_t due_ms, size_t max, st_chain__recs_t *out);
/* Appends a copy of one record to rs. */
int st_chain__recs_push(st_chain__recs_t *rs, const void *key, size_t klen, const void *val,
                        size_t vlen);
void st_chain__recs_free(st_chain__recs_t *rs);

/* Fixed-width values: a missing key reads as 0; a value of another width
 * is ST_ECORRUPT. */
int st_chain__ov_read_u64(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                          uint64_t *out);
int st_chain__ov_read_u128(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                           st_u128 *out);
int st_chain__ov_write_u64(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                           uint64_t v);
int st_chain__ov_write_u128(st_chain__overlay_t *ov, uint8_t sp, const void *key, size_t klen,
                            st_u128 v);

/* A tx's changes: after ov_begin, ov_end(false) undoes every change made
 * since, ov_end(true) keeps them. */
void st_chain__ov_begin(st_chain__overlay_t *ov);
void st_chain__ov_end(st_chain__overlay_t *ov, bool keep);

/* Accounts through the overlay (a missing account reads as empty). */
int st_chain__ov_get(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN],
                     st_chain__acct_t *out);
int st_chain__ov_put(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN],
                     const st_chain__acct_t *a);

/* The execution context of txs and block logic. */
typedef struct st_chain__ctx {
  st_chain__overlay_t *ov;
  const st_chain__params_t *p;
  int64_t height;       /* the block being applied or checked */
  int64_t time_ms;      /* txs see the previous block's time; end block its own */
  st_u128 fees;         /* fees paid by the txs applied so far */
  bool any_nonce;       /* mempool dry runs: the nonce may be ahead, nothing stays */
  int code;             /* after tx_exec returned 0: the message's outcome
                           (0, or why it failed; its fee is paid either way) */
  const uint8_t *tx_hash; /* the tx being applied (NULL in block steps) */
  uint32_t nevents;     /* events written for this height so far */
  char *log;            /* why a tx was refused */
  size_t logcap;
} st_chain__ctx_t;

/* Applies one checked tx t (decoded from the bytes tx) in c: the nonce
 * must be the sender's, the sender pays the fee (to the distribution
 * account, counted in c->fees) and the message. A non-zero return means
 * the tx cannot be in a block (nonce, fee, a send's amount): nothing
 * changes and c->log says why. A message other than a send that fails
 * still uses its nonce and pays its fee: the return is 0 and c->code,
 * c->log tell the failure. In a dry run (any_nonce) nothing stays and
 * the message's failure is returned. */
int st_chain__tx_exec(st_chain__ctx_t *c, const st_chain__tx_t *t, const uint8_t *tx);

/* Writes the changes of ov in key order and returns the new app hash:
 * st_hash(ST_DOM_STATE, prev || u32 n || (addr || account)* for the n
 * changed accounts || u32 m || (u8 klen || u8 present || key || u32 vlen
 * || value)* for the m changed module records), integers big-endian. */
int st_chain__ov_commit(st_chain__overlay_t *ov, const uint8_t prev[ST_HASH_LEN],
                        uint8_t app_hash[ST_HASH_LEN]);

/* ---- mempool (mempool.c) ---- */

typedef struct st_chain__mempool st_chain__mempool_t;

/* The outcome of one CheckTx, on the loop thread. peer is the sender's
 * node address, NULL for a local submission. log is borrowed. */
typedef void (*st_chain__check_cb)(void *ud, int code, const char *log,
                                   const uint8_t hash[ST_HASH_LEN], const uint8_t *peer);

/* Called when a tx enters the mempool (to gossip it and wake consensus).
 * tx is borrowed for the call. */
typedef void (*st_chain__added_cb)(void *ud, const uint8_t *tx, size_t len,
                                   const uint8_t *peer);

typedef struct st_chain__mempool_stats {
  size_t txs;          /* in the mempool */
  size_t bytes;
  size_t pending;      /* waiting for or in a signature check */
  uint64_t sig_checks; /* signatures verified so far */
  uint64_t accepted;
  uint64_t rejected;
} st_chain__mempool_stats_t;

/* Creates a mempool over st with p's bounds. With loop NULL, signatures
 * are checked inline (tests, tools). p and st are borrowed for its life. */
int st_chain__mempool_new(const st_chain__params_t *p, const st_chain__state_t *st,
                          uv_loop_t *loop, st_chain__mempool_t **out);

void st_chain__mempool_on_added(st_chain__mempool_t *mp, st_chain__added_cb cb, void *ud);

/* Checks a tx whose message is not a send against the committed state
 * read through txn (its nonce may be ahead); 0 or a refusal in log. */
typedef int (*st_chain__msg_check_fn)(void *ud, st_txn_t *txn, const st_chain__tx_t *t,
                                      const uint8_t *tx, char *log, size_t cap);
void st_chain__mempool_on_msg_check(st_chain__mempool_t *mp, st_chain__msg_check_fn fn,
                                    void *ud);

/* Runs CheckTx on a copy of tx: cb is called exactly once, possibly
 * before this returns. */
void st_chain__mempool_submit(st_chain__mempool_t *mp, const uint8_t *tx, size_t len,
                              const uint8_t *peer, st_chain__check_cb cb, void *ud);

/* Rechecks every tx against the committed state: drops used nonces and
 * txs the sender can no longer pay for. */
void st_chain__mempool_recheck(st_chain__mempool_t *mp);

/* Fills a proposal: walks txs in arrival order taking each sender's txs
 * in consecutive nonce order from its state nonce, each applied to ov
 * (so the result passes validate), within max_bytes and max_txs. emit
 * receives each chosen tx (borrowed). */
typedef int (*st_chain__emit_fn)(void *ud, const uint8_t *tx, size_t len);
int st_chain__mempool_reap(st_chain__mempool_t *mp, st_chain__ctx_t *ctx,
                           size_t max_bytes, size_t max_txs, st_chain__emit_fn emit,
                           void *ud);

/* Runs the stateless checks again on every pooled tx and drops those that
 * fail: after governance changed the parameters they were checked under. */
void st_chain__mempool_revalidate(st_chain__mempool_t *mp);

/* Whether some sender has a tx with its next nonce. */
bool st_chain__mempool_ready(const st_chain__mempool_t *mp);
bool st_chain__mempool_has(const st_chain__mempool_t *mp, const uint8_t hash[ST_HASH_LEN]);
void st_chain__mempool_stats(const st_chain__mempool_t *mp, st_chain__mempool_stats_t *out);

/* The cache of seen tx hashes doubles as the set of verified signatures. */
enum { ST_CHAIN__SEEN_NONE = 0, ST_CHAIN__SEEN_PENDING, ST_CHAIN__SEEN_SIG_OK,
       ST_CHAIN__SEEN_BAD };
int st_chain__mempool_seen(const st_chain__mempool_t *mp, const uint8_t hash[ST_HASH_LEN],
                           int *bad_code);
void st_chain__mempool_mark(st_chain__mempool_t *mp, const uint8_t hash[ST_HASH_LEN],
                            int status, int bad_code);
/* Counts a signature verified outside the mempool (block validation). */
void st_chain__mempool_count_sig(st_chain__mempool_t *mp);

/* Frees the mempool. Every CheckTx still waiting is answered with
 * ST_ECLOSED now; a signature batch still running in the thread pool
 * finishes later and frees what is left, so the loop must run again. */
void st_chain__mempool_free(st_chain__mempool_t *mp);

/* ---- the chain ---- */

typedef struct st_chain__waiter st_chain__waiter_t;

typedef struct st_chain {
  st_node_t *node;    /* NULL in unit tests */
  uv_loop_t *loop;    /* may be NULL in unit tests */
  st_chain__genesis_t gen;
  st_chain__state_t st;
  uint8_t genesis_app_hash[ST_HASH_LEN];
  st_chain__mempool_t *mp;
  st_cons_t *cons;    /* NULL in unit tests */
  size_t last_ntxs;   /* txs of the last finalized block */
  bool params_changed; /* by the last finalized block: reload after commit */
  int64_t last_height;
  /* Tx events of the last finalized block, published once it commits
   * (only when a bus is there to carry them). */
  json_t *events;
  int64_t events_height;
  /* broadcast_tx_commit calls waiting for their tx */
  st_chain__waiter_t *waiters;
  size_t nwaiters;
  uv_timer_t *wait_timer;
  uint64_t commit_timeout_ms;
  /* What the traffic gauges read (query_traffic.c). */
  struct st_chain__gauge {
    struct st_chain *ch;
    int what;
  } gauges[4];
} st_chain_t;

/* Creates the chain's state and mempool from a parsed genesis (ownership
 * of g moves on success) over store, without consensus or RPC. */
int st_chain__open(st_chain_t *ch, st_store_t *store, uv_loop_t *loop,
                   st_chain__genesis_t *g);
void st_chain__close(st_chain_t *ch);

/* The st_cons_app_t callbacks (app.c); ud is the st_chain_t. */
int st_chain__app_propose(void *ud, int64_t height, size_t max_bytes, size_t max_txs,
                          st_cons_txlist_t *out);
int st_chain__app_validate(void *ud, int64_t height, size_t ntxs,
                           const uint8_t *const *txs, const size_t *lens);
int st_chain__app_finalize(void *ud, st_txn_t *txn, const st_cons_block_t *b,
                           uint8_t app_hash[ST_HASH_LEN], uint8_t results_hash[ST_HASH_LEN],
                           st_cons_valset_t *next, bool *changed);
void st_chain__app_committed(void *ud, int64_t height);
bool st_chain__app_has_txs(void *ud);

/* ---- JSON-RPC (rpc.c) ---- */

void st_chain__rpc_register(st_chain_t *ch, st_rpc_t *rpc);

/* The synchronous queries behind the methods, for tests: 0 with *result,
 * or a JSON-RPC error code with a message in err. */
int st_chain__q_account(st_chain_t *ch, json_t *params, json_t **result, char *err,
                        size_t errcap);
int st_chain__q_tx(st_chain_t *ch, json_t *params, json_t **result, char *err,
                   size_t errcap);
int st_chain__q_block_results(st_chain_t *ch, json_t *params, json_t **result, char *err,
                              size_t errcap);
int st_chain__q_num_unconfirmed(st_chain_t *ch, json_t *params, json_t **result,
                                char *err, size_t errcap);
/* Reads the "tx" parameter of broadcast_tx_*: base64, bounded by
 * max_tx_bytes before decoding. The caller frees *tx. */
int st_chain__q_tx_param(st_chain_t *ch, json_t *params, uint8_t **tx, size_t *len,
                         char *err, size_t errcap);

/* Collects the "Tx" event of one finalized tx (t NULL when it did not
 * decode); st_chain__events_publish hands them to the rpc module once the
 * block is committed. */
void st_chain__events_add(st_chain_t *ch, int64_t height, uint32_t index,
                          const uint8_t hash[ST_HASH_LEN], const st_chain__tx_t *t, int code,
                          const char *log, st_u128 fee, const uint8_t *tx, size_t len);
void st_chain__events_publish(st_chain_t *ch, int64_t height, json_t *new_block);

/* Answers the broadcast_tx_commit calls whose tx is now committed or
 * dropped; called after every commit. */
void st_chain__waiters_update(st_chain_t *ch);
/* Answers every waiting call with an error (shutdown). */
void st_chain__waiters_close(st_chain_t *ch);

/* Writes a string for logs and JSON: printable ASCII kept, anything else
 * replaced by '?', truncated to cap - 1 bytes. */
void st_chain__safe_str(const char *in, size_t inlen, char *out, size_t cap);

#endif
