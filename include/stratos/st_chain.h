/* The value chain: accounts, signed transactions, the mempool and the
 * application that the consensus engine runs for the value layer. */
#ifndef STRATOS_ST_CHAIN_H
#define STRATOS_ST_CHAIN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <stratos/st_bus.h>
#include <stratos/st_bytes.h>
#include <stratos/st_crypto.h>
#include <stratos/st_store.h>

/* Builds and signs a Send tx (proto/tx.proto) into out (appended). memo
 * may be NULL. */
int st_chain_tx_send(const st_keypair_t *kp, const char *chain_id, uint64_t nonce,
                     st_u128 fee, const uint8_t to[ST_ADDR_LEN], st_u128 amount,
                     const char *memo, st_buf_t *out);

/* Builds a Send tx paying exactly min_fee_per_byte times its own size
 * (the fee's digits change the size, so this iterates to a fixed point). */
int st_chain_tx_send_min_fee(const st_keypair_t *kp, const char *chain_id,
                             uint64_t nonce, st_u128 min_fee_per_byte,
                             const uint8_t to[ST_ADDR_LEN], st_u128 amount,
                             const char *memo, st_buf_t *out);

/* Signs any tx: body is a Stratos__Tx__TxBody (proto/tx.proto) with
 * chain_id, nonce, memo and one message set; its fee field is filled in
 * here. With min_fee_per_byte > 0 the fee is exactly the minimum for the
 * tx's own size, otherwise fee. Appends the tx to out. */
int st_chain_tx_sign(const st_keypair_t *kp, void *body, st_u128 fee,
                     st_u128 min_fee_per_byte, st_buf_t *out);

/* The tx hash: st_hash(ST_DOM_TX, tx bytes). */
void st_chain_tx_hash(const uint8_t *tx, size_t len, uint8_t out[ST_HASH_LEN]);

/* The "params" section of genesis.json with every field at its
 * documented default (caller decrefs). */
json_t *st_chain_default_params(void);

/* ---- what the value chain tells the meta chain ----
 * Read-only access to the committed value state in the node's store, for
 * the meta module of the same node. */

typedef struct st_chain_feed {
  st_db_t mod, meta;
} st_chain_feed_t;

/* Resolves the value chain's databases; call outside any transaction. */
int st_chain_feed_open(st_store_t *s, st_chain_feed_t *f);

/* The last committed value height (0 before the first block). */
int st_chain_height(const st_chain_feed_t *f, st_txn_t *txn, int64_t *height);

/* Calls cb for every event of the value heights from..to (inclusive), in
 * order; ev is the event's encoding (kind byte first, see
 * src/chain/mods.h ST_EV_*), borrowed for the call. cb returns 0 to go
 * on or a negative ST_E* code to stop with it. */
typedef int (*st_chain_event_cb)(void *ud, int64_t height, const uint8_t *ev, size_t len);
int st_chain_events(const st_chain_feed_t *f, st_txn_t *txn, int64_t from, int64_t to,
                    st_chain_event_cb cb, void *ud);

/* Event kinds and sizes (the encodings are documented in docs/meta.md). */
enum { ST_CHAIN_EV_PREPAY = 1, ST_CHAIN_EV_RES_NODE = 2, ST_CHAIN_EV_META_NODE = 3 };

/* ---- the value chain for the node's other modules ---- */

struct st_node;

/* The outcome of a submission's CheckTx, on the loop thread: code 0 when
 * the tx entered the mempool (and is gossiped), else the refusal with a
 * sentence in log (borrowed). peer is always NULL here. */
typedef void (*st_chain_submit_cb)(void *ud, int code, const char *log,
                                   const uint8_t hash[ST_HASH_LEN], const uint8_t *peer);
/* Submits a signed tx (copied) to this node's value-chain mempool, as
 * broadcast_tx_sync does. cb (may be NULL) is called exactly once,
 * possibly before this returns. ST_ENOENT when no value chain runs here,
 * ST_E2BIG for a tx over max_tx_bytes (cb is then not called). */
int st_chain_submit(struct st_node *node, const uint8_t *tx, size_t len, st_chain_submit_cb cb,
                    void *ud);
/* addr's committed account nonce (the nonce of its next tx when none of
 * its txs wait in the mempool) and the fee rate txs must pay. */
int st_chain_account_nonce(struct st_node *node, const uint8_t addr[ST_ADDR_LEN],
                           uint64_t *nonce, st_u128 *min_fee_per_byte);

/* The module's hooks (ST_MOD_CHAIN): runs on nodes with the value or meta
 * role, when the home has a genesis. */
extern const st_module_t st_chain_module;

#endif
