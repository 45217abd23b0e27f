/* The value chain for the node's other modules (st_chain.h): a tx built
 * inside the node (the meta chain's volume report relay) enters the
 * mempool as one from the RPC would, and the sender's committed nonce
 * and the fee rate are read from the chain of the same node. The chain
 * of a node is found in a small table filled when the module opens its
 * chain and emptied when it closes it. Loop thread only. */
#include <string.h>
#include <stratos/st_chain.h>
#include <stratos/st_err.h>
#include <stratos/st_node.h>
#include "chain/chain_private.h"
#include "chain/submit.h"

#define CHAINS_MAX 8

static struct {
  const st_node_t *node;
  st_chain_t *ch;
} chains[CHAINS_MAX];

void st_chain__attach(st_chain_t *ch) {
  for (size_t i = 0; i < CHAINS_MAX; i++)
    if (!chains[i].ch) {
      chains[i].node = ch->node;
      chains[i].ch = ch;
      return;
    }
}

void st_chain__detach(st_chain_t *ch) {
  for (size_t i = 0; i < CHAINS_MAX; i++)
    if (chains[i].ch == ch)
      memset(&chains[i], 0, sizeof(chains[i]));
}

static st_chain_t *chain_of(const struct st_node *node) {
  for (size_t i = 0; node && i < CHAINS_MAX; i++)
    if (chains[i].ch && chains[i].node == node)
      return chains[i].ch;
  return NULL;
}

int st_chain_submit(struct st_node *node, const uint8_t *tx, size_t len, st_chain_submit_cb cb,
                    void *ud) {
  st_chain_t *ch = chain_of(node);
  if (!ch || !ch->mp)
    return ST_ENOENT;
  if (len == 0 || len > ch->gen.p.max_tx_bytes)
    return ST_E2BIG;
  st_chain__mempool_submit(ch->mp, tx, len, NULL, cb, ud);
  return 0;
}

int st_chain_account_nonce(struct st_node *node, const uint8_t addr[ST_ADDR_LEN],
                           uint64_t *nonce, st_u128 *min_fee_per_byte) {
  st_chain_t *ch = chain_of(node);
  st_txn_t *txn;
  st_chain__acct_t a;
  if (!ch)
    return ST_ENOENT;
  int rc = st_txn_begin(ch->st.store, false, &txn);
  if (rc != 0)
    return rc;
  rc = st_chain__acct_get(&ch->st, txn, addr, &a);
  st_txn_abort(txn);
  if (rc != 0)
    return rc;
  *nonce = a.nonce;
  *min_fee_per_byte = ch->gen.p.min_fee_per_byte;
  return 0;
}
