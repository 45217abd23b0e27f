/* The value chain's JSON-RPC methods, with CometBFT's names and shapes
 * where CometBFT has them: broadcast_tx_async|sync|commit,
 * num_unconfirmed_txs, tx, block_results, plus account.
 *
 * Parameters are named and checked strictly; a tx arrives as base64 and
 * its length is bounded by max_tx_bytes before it is decoded. Hashes are
 * lowercase hex. broadcast_tx_commit keeps the call open until a block
 * carries the tx (answered from the commit hook), the tx leaves the
 * mempool without being committed, or 30 s pass. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "chain/chain_private.h"
#include "chain/qkit.h"

enum { W_CHECKING, W_WAITING };

struct st_chain__waiter {
  st_chain_t *ch;
  st_rpc_call_t *call;
  uint8_t hash[ST_HASH_LEN];
  int state;
  uint64_t deadline;
  json_t *answer;   /* set while answers are collected */
  int error;        /* JSON-RPC error code for answer-less endings */
  st_chain__waiter_t *prev, *next;
};

static json_t *result_json(int code, const char *log, st_u128 fee) {
  return json_pack("{s:i,s:s,s:o}", "code", code, "log", log ? log : "", "fee",
                   st_qk_u128_json(fee));
}

/* ---- queries ---- */

/* Unlike the module queries, these read their parameters with
 * json_object_get (not st_qk_param): one given as null is a wrong value
 * here, not an absent one, as it has always been. */

int st_chain__q_account(st_chain_t *ch, json_t *params, json_t **result, char *err,
                        size_t cap) {
  static const char *const allowed[] = {"address", NULL};
  uint8_t addr[ST_ADDR_LEN];
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0)
    return rc;
  json_t *a = json_object_get(params, "address");
  if (!a)
    return st_qk_perr(err, cap, "address is required");
  if (!json_is_string(a) || st_addr_decode(json_string_value(a), ST_HRP_WALLET, addr) != 0)
    return st_qk_perr(err, cap, "address must be an st1... account address");
  st_txn_t *txn;
  st_chain__acct_t acct;
  if ((rc = st_txn_begin(ch->st.store, false, &txn)) == 0) {
    rc = st_chain__acct_get(&ch->st, txn, addr, &acct);
    st_txn_abort(txn);
  }
  if (rc != 0)
    return st_qk_cannot(err, cap, "the account", rc);
  char shown[ST_ADDR_STR_MAX];
  st_addr_encode(ST_HRP_WALLET, addr, shown, sizeof(shown));
  *result = json_pack("{s:s,s:o,s:I}", "address", shown, "balance",
                      st_qk_u128_json(acct.balance), "nonce", (json_int_t)acct.nonce);
  return 0;
}

/* The indexed tx of hash as JSON, NULL when absent (*rc tells errors). */
static json_t *tx_json(st_chain_t *ch, st_txn_t *txn, const uint8_t hash[ST_HASH_LEN],
                       int *rc) {
  const void *v;
  size_t n;
  *rc = st_kv_get(txn, ch->st.txidx, hash, ST_HASH_LEN, &v, &n);
  if (*rc != 0) {
    if (*rc == ST_ENOENT)
      *rc = 0;
    return NULL;
  }
  const uint8_t *p = v;
  uint32_t rlen = n >= 16 ? st_chain__rd32(p + 12) : 0;
  int code;
  char log[ST_CHAIN__LOG_MAX];
  st_u128 fee;
  if (n < 16 || rlen > n - 16 ||
      st_chain__result_decode(p + 16, rlen, &code, log, sizeof(log), &fee) != 0) {
    *rc = ST_ECORRUPT;
    return NULL;
  }
  return json_pack("{s:o,s:I,s:I,s:o,s:o}", "hash", st_qk_hex_json(hash, ST_HASH_LEN),
                   "height",
                   (json_int_t)st_chain__rd64(p), "index", (json_int_t)st_chain__rd32(p + 8),
                   "tx_result", result_json(code, log, fee), "tx",
                   st_rpc_base64(p + 16 + rlen, n - 16 - rlen));
}

int st_chain__q_tx(st_chain_t *ch, json_t *params, json_t **result, char *err, size_t cap) {
  static const char *const allowed[] = {"hash", NULL};
  uint8_t hash[ST_HASH_LEN];
  size_t got = 0;
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0)
    return rc;
  json_t *h = json_object_get(params, "hash");
  if (!h)
    return st_qk_perr(err, cap, "hash is required");
  if (!json_is_string(h) || json_string_length(h) != 2 * ST_HASH_LEN ||
      st_hex_decode(json_string_value(h), 2 * ST_HASH_LEN, hash, sizeof(hash), &got) != 0)
    return st_qk_perr(err, cap, "hash must be %d hex digits", 2 * ST_HASH_LEN);
  st_txn_t *txn;
  if ((rc = st_txn_begin(ch->st.store, false, &txn)) != 0)
    return st_qk_cannot(err, cap, "the store", rc);
  json_t *j = tx_json(ch, txn, hash, &rc);
  st_txn_abort(txn);
  if (rc != 0)
    return st_qk_cannot(err, cap, "the tx", rc);
  if (!j) {
    snprintf(err, cap, "tx not found");
    return ST_RPC_INVALID_PARAMS;
  }
  *result = j;
  return 0;
}

/* Reads a height given as a JSON integer or a decimal string. */
static int height_param(json_t *h, int64_t *out) {
  if (json_is_integer(h)) {
    *out = json_integer_value(h);
    return 0;
  }
  if (json_is_string(h)) {
    const char *s = json_string_value(h);
    size_t n = json_string_length(h);
    if (n == 0 || n > 18 || (s[0] == '0' && n > 1))
      return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
      if (s[i] < '0' || s[i] > '9')
        return -1;
      v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
  }
  return -1;
}

int st_chain__q_block_results(st_chain_t *ch, json_t *params, json_t **result, char *err,
                              size_t cap) {
  static const char *const allowed[] = {"height", NULL};
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0)
    return rc;
  st_txn_t *txn;
  int64_t latest, height;
  if ((rc = st_txn_begin(ch->st.store, false, &txn)) != 0)
    return st_qk_cannot(err, cap, "the store", rc);
  if ((rc = st_chain__meta_get(&ch->st, txn, &latest, NULL)) != 0) {
    st_txn_abort(txn);
    return st_qk_cannot(err, cap, "the store", rc);
  }
  json_t *h = json_object_get(params, "height");
  height = latest;
  if (h && !json_is_null(h)) {
    if (height_param(h, &height) != 0 || height < 1) {
      st_txn_abort(txn);
      return st_qk_perr(err, cap, "height must be a positive integer");
    }
    if (height > latest) {
      st_txn_abort(txn);
      return st_qk_perr(err, cap,
                        "height %" PRId64 " is not committed yet (latest is %" PRId64 ")", height,
                        latest);
    }
  }
  json_t *list = json_array();
  if (height > 0) {
    uint8_t hk[8];
    const void *v;
    size_t n;
    st_chain__be64(hk, (uint64_t)height);
    rc = st_kv_get(txn, ch->st.results, hk, sizeof(hk), &v, &n);
    const uint8_t *p = v;
    size_t off = 0;
    while (rc == 0 && off < n) {
      int code;
      char log[ST_CHAIN__LOG_MAX];
      st_u128 fee;
      uint32_t rl = n - off >= 4 ? st_chain__rd32(p + off) : UINT32_MAX;
      if (rl > n - off - 4 ||
          st_chain__result_decode(p + off + 4, rl, &code, log, sizeof(log), &fee) != 0) {
        rc = ST_ECORRUPT;
        break;
      }
      json_array_append_new(list, result_json(code, log, fee));
      off += 4 + rl;
    }
  }
  st_txn_abort(txn);
  if (rc != 0) {
    json_decref(list);
    snprintf(err, cap, "cannot read the results of height %" PRId64 ": %s", height,
             st_strerror(rc));
    return ST_RPC_INTERNAL_ERROR;
  }
  *result = json_pack("{s:I,s:o}", "height", (json_int_t)height, "txs_results", list);
  return 0;
}

int st_chain__q_num_unconfirmed(st_chain_t *ch, json_t *params, json_t **result, char *err,
                                size_t cap) {
  int rc = st_rpc_check_params(params, NULL, err, cap);
  if (rc != 0)
    return rc;
  st_chain__mempool_stats_t s;
  st_chain__mempool_stats(ch->mp, &s);
  *result = json_pack("{s:I,s:I,s:I}", "n_txs", (json_int_t)s.txs, "total",
                      (json_int_t)s.txs, "total_bytes", (json_int_t)s.bytes);
  return 0;
}

int st_chain__q_tx_param(st_chain_t *ch, json_t *params, uint8_t **tx, size_t *len,
                         char *err, size_t cap) {
  static const char *const allowed[] = {"tx", NULL};
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0)
    return rc;
  json_t *t = json_object_get(params, "tx");
  if (!t)
    return st_qk_perr(err, cap, "tx is required (base64)");
  if (!json_is_string(t))
    return st_qk_perr(err, cap, "tx must be a base64 string");
  size_t max = ch->gen.p.max_tx_bytes;
  size_t n = json_string_length(t);
  size_t maxenc = sodium_base64_ENCODED_LEN(max, sodium_base64_VARIANT_ORIGINAL) - 1;
  if (n == 0)
    return st_qk_perr(err, cap, "tx is empty");
  if (n > maxenc)
    return st_qk_perr(err, cap,
                      "tx of %zu base64 characters exceeds the maximum tx size of %zu bytes", n,
                      max);
  /* n is capped, so this is at most max + 2 bytes. */
  size_t room = n / 4 * 3 + 3;
  uint8_t *buf = malloc(room);
  if (!buf)
    abort();
  size_t got = 0;
  const char *end = NULL;
  if (sodium_base642bin(buf, room, json_string_value(t), n, NULL, &got, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != json_string_value(t) + n || got == 0) {
    free(buf);
    return st_qk_perr(err, cap, "tx is not valid base64");
  }
  if (got > max) {
    free(buf);
    return st_qk_perr(err, cap, "tx of %zu bytes exceeds the maximum tx size of %zu bytes",
                      got, max);
  }
  *tx = buf;
  *len = got;
  return 0;
}

/* ---- methods ---- */

ST_QK_METHOD(account)
ST_QK_METHOD(tx)
ST_QK_METHOD(block_results)
ST_QK_METHOD(num_unconfirmed)

static json_t *check_json(int code, const char *log, const uint8_t hash[ST_HASH_LEN]) {
  return json_pack("{s:i,s:s,s:o}", "code", code, "log", log ? log : "", "hash",
                   st_qk_hex_json(hash, ST_HASH_LEN));
}

/* The tx of a broadcast_tx_* call (the caller frees it); false when the
 * call is already answered with the error. */
static bool tx_arg(st_rpc_call_t *call, json_t *params, st_chain_t *ch, uint8_t **tx,
                   size_t *len) {
  char err[256];
  int code = st_chain__q_tx_param(ch, params, tx, len, err, sizeof(err));
  if (code != 0)
    st_rpc_error(call, code, err, NULL);
  return code == 0;
}

static void m_broadcast_async(st_rpc_call_t *call, json_t *params, void *ud) {
  st_chain_t *ch = ud;
  char log[ST_CHAIN__LOG_MAX];
  uint8_t *tx;
  size_t len;
  if (!tx_arg(call, params, ch, &tx, &len))
    return;
  st_chain__tx_t t;
  uint8_t hash[ST_HASH_LEN];
  st_chain_tx_hash(tx, len, hash);
  int code = st_chain__tx_check(&ch->gen.p, tx, len, &t, log, sizeof(log));
  if (code == 0) {
    log[0] = '\0';
    st_chain__mempool_submit(ch->mp, tx, len, NULL, NULL, NULL);
  }
  free(tx);
  st_rpc_result(call, check_json(code, log, hash));
}

static void on_sync_checked(void *ud, int code, const char *log,
                            const uint8_t hash[ST_HASH_LEN], const uint8_t *peer) {
  (void)peer;
  st_rpc_result(ud, check_json(code, log, hash));
}

static void m_broadcast_sync(st_rpc_call_t *call, json_t *params, void *ud) {
  st_chain_t *ch = ud;
  uint8_t *tx;
  size_t len;
  if (!tx_arg(call, params, ch, &tx, &len))
    return;
  st_chain__mempool_submit(ch->mp, tx, len, NULL, on_sync_checked, call);
  free(tx);
}

/* ---- broadcast_tx_commit ---- */

static void waiter_unlink(st_chain_t *ch, st_chain__waiter_t *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    ch->waiters = w->next;
  if (w->next)
    w->next->prev = w->prev;
  ch->nwaiters--;
  if (ch->nwaiters == 0 && ch->wait_timer)
    uv_timer_stop(ch->wait_timer);
}

static void on_wait_tick(uv_timer_t *t) {
  st_chain_t *ch = t->data;
  uint64_t now = uv_now(t->loop);
  for (st_chain__waiter_t *w = ch->waiters, *next; w; w = next) {
    next = w->next;
    if (w->state == W_WAITING && now >= w->deadline) {
      waiter_unlink(ch, w);
      st_rpc_error(w->call, ST_RPC_INTERNAL_ERROR, "timed out waiting for tx to be committed",
                   NULL);
      free(w);
    }
  }
}

static void on_commit_checked(void *ud, int code, const char *log,
                              const uint8_t hash[ST_HASH_LEN], const uint8_t *peer) {
  st_chain__waiter_t *w = ud;
  st_chain_t *ch = w->ch;
  (void)peer;
  if (code != 0) {
    waiter_unlink(ch, w);
    st_rpc_result(w->call, json_pack("{s:o,s:i,s:{s:i,s:s},s:n}", "hash",
                                     st_qk_hex_json(hash, ST_HASH_LEN), "height", 0, "check_tx",
                                     "code", code, "log", log ? log : "", "tx_result"));
    free(w);
    return;
  }
  w->state = W_WAITING;
  w->deadline = (ch->loop ? uv_now(ch->loop) : 0) + ch->commit_timeout_ms;
  if (ch->wait_timer && !uv_is_active((uv_handle_t *)ch->wait_timer))
    uv_timer_start(ch->wait_timer, on_wait_tick, 250, 250);
}

static void m_broadcast_commit(st_rpc_call_t *call, json_t *params, void *ud) {
  st_chain_t *ch = ud;
  char err[256];
  uint8_t *tx;
  size_t len;
  if (!tx_arg(call, params, ch, &tx, &len))
    return;
  if (ch->nwaiters >= ST_CHAIN__MAX_WAITERS) {
    free(tx);
    snprintf(err, sizeof(err), "too many broadcast_tx_commit calls waiting (%d)",
             ST_CHAIN__MAX_WAITERS);
    st_rpc_error(call, ST_RPC_INTERNAL_ERROR, err, NULL);
    return;
  }
  st_chain__waiter_t *w = calloc(1, sizeof(*w));
  if (!w)
    abort();
  w->ch = ch;
  w->call = call;
  w->state = W_CHECKING;
  st_chain_tx_hash(tx, len, w->hash);
  w->next = ch->waiters;
  if (ch->waiters)
    ch->waiters->prev = w;
  ch->waiters = w;
  ch->nwaiters++;
  st_chain__mempool_submit(ch->mp, tx, len, NULL, on_commit_checked, w);
  free(tx);
}

/* ---- events ---- */

void st_chain__events_add(st_chain_t *ch, int64_t height, uint32_t index,
                          const uint8_t hash[ST_HASH_LEN], const st_chain__tx_t *t, int code,
                          const char *log, st_u128 fee, const uint8_t *tx, size_t len) {
  if (!ch->node || !ch->node->bus)
    return;
  if (ch->events_height != height) {
    /* Building a block's tx events costs about as much as checking its
     * txs: it is skipped when the rpc module says nobody subscribes to
     * them. Asked once per block. */
    json_decref(ch->events);
    ch->events = NULL;
    ch->events_height = height;
    if (!ch->node->rpc || st_rpc_wants(ch->node->rpc, "Tx"))
      ch->events = json_array();
  }
  if (!ch->events)
    return;
  char hex[2 * ST_HASH_LEN + 1], h[24];
  st_hex_encode(hash, ST_HASH_LEN, hex, sizeof(hex));
  snprintf(h, sizeof(h), "%" PRId64, height);
  json_t *attrs = json_pack("{s:s,s:s}", "tx.hash", hex, "tx.height", h);
  if (t) {
    char a[ST_ADDR_STR_MAX];
    st_addr_encode(ST_HRP_WALLET, t->sender, a, sizeof(a));
    json_object_set_new(attrs, "message.sender", json_string(a));
    if (t->kind == ST_CHAIN__KIND_SEND) {
      st_addr_encode(ST_HRP_WALLET, t->to, a, sizeof(a));
      json_object_set_new(attrs, "transfer.recipient", json_string(a));
    }
  }
  json_t *data = json_pack("{s:s,s:I,s:I,s:o,s:o}", "hash", hex, "height", (json_int_t)height,
                           "index", (json_int_t)index, "tx_result", result_json(code, log, fee),
                           "tx", st_rpc_base64(tx, len));
  json_array_append_new(ch->events, json_pack("{s:o,s:o}", "attrs", attrs, "data", data));
}

void st_chain__events_publish(st_chain_t *ch, int64_t height, json_t *new_block) {
  json_t *evs = ch->events;
  ch->events = NULL;
  json_t *out = json_array();
  if (new_block)
    json_array_append_new(out, new_block);
  size_t i;
  json_t *e;
  if (evs && ch->events_height == height) {
    json_array_foreach(evs, i, e) {
      json_array_append_new(out, st_rpc_event("Tx", json_incref(json_object_get(e, "attrs")),
                                              json_incref(json_object_get(e, "data"))));
    }
  }
  json_decref(evs);
  if (json_array_size(out) == 0 || !ch->node || !ch->node->bus) {
    json_decref(out);
    return;
  }
  /* One bus message per block, whatever its number of txs. */
  int rc = st_rpc_publish_many(ch->node->bus, ST_MOD_CHAIN, out);
  if (rc != 0)
    ST_DEBUG("chain", "height %" PRId64 ": events not published: %s", height,
             st_strerror(rc));
}

void st_chain__waiters_update(st_chain_t *ch) {
  st_txn_t *txn;
  bool any = false;
  for (st_chain__waiter_t *w = ch->waiters; w; w = w->next)
    any = any || w->state == W_WAITING;
  if (!any || st_txn_begin(ch->st.store, false, &txn) != 0)
    return;
  /* Collect the answers first, answer once the transaction is closed. */
  for (st_chain__waiter_t *w = ch->waiters; w; w = w->next) {
    if (w->state != W_WAITING)
      continue;
    int rc;
    json_t *j = tx_json(ch, txn, w->hash, &rc);
    if (j) {
      json_t *res = json_pack("{s:O,s:O,s:{s:i,s:s},s:O}", "hash", json_object_get(j, "hash"),
                              "height", json_object_get(j, "height"), "check_tx", "code", 0,
                              "log", "", "tx_result", json_object_get(j, "tx_result"));
      json_decref(j);
      w->answer = res;
    } else if (!st_chain__mempool_has(ch->mp, w->hash)) {
      w->error = ST_RPC_INTERNAL_ERROR;
    }
  }
  st_txn_abort(txn);
  for (st_chain__waiter_t *w = ch->waiters, *next; w; w = next) {
    next = w->next;
    if (!w->answer && !w->error)
      continue;
    waiter_unlink(ch, w);
    if (w->answer)
      st_rpc_result(w->call, w->answer);
    else
      st_rpc_error(w->call, w->error,
                   "tx left the mempool without being committed (its nonce was used or "
                   "the sender can no longer pay)", NULL);
    free(w);
  }
}

void st_chain__waiters_close(st_chain_t *ch) {
  for (st_chain__waiter_t *w = ch->waiters, *next; w; w = next) {
    next = w->next;
    st_rpc_error(w->call, ST_RPC_INTERNAL_ERROR, "the node is shutting down", NULL);
    free(w);
  }
  ch->waiters = NULL;
  ch->nwaiters = 0;
}

void st_chain__rpc_register(st_chain_t *ch, st_rpc_t *rpc) {
  static const st_qk_method_t m[] = {
    {"broadcast_tx_async", m_broadcast_async},
    {"broadcast_tx_sync", m_broadcast_sync},
    {"broadcast_tx_commit", m_broadcast_commit},
    {"num_unconfirmed_txs", m_num_unconfirmed},
    {"tx", m_tx},
    {"account", m_account},
    {"block_results", m_block_results},
  };
  st_qk_register(rpc, ch, m, sizeof(m) / sizeof(m[0]));
}
