/* The mempool: txs waiting for a block.
 *
 * CheckTx runs in two halves. On the loop thread a tx is hashed, looked
 * up in the cache of seen hashes, decoded and checked against the
 * committed state (nonce window, balance, the bounds); only then is its
 * signature checked, in batches on the libuv thread pool, and the result
 * comes back to the loop thread, where the state checks run again (other
 * txs may have arrived meanwhile) and the tx is inserted. A tx waiting
 * for its signature check already counts against the bounds, so the pool
 * can never grow past them.
 *
 * The cache of seen hashes is a ring of cache_size slots with a hash
 * index: the oldest hash is forgotten first. It remembers whether a
 * hash's signature was verified or refused, which makes it the verified
 * set as well: no tx's signature is checked twice while it is
 * remembered, neither here nor when a block carrying it is validated.
 *
 * Each sender's txs are kept sorted by nonce, with nonces from its
 * account nonce up to ST_CHAIN__NONCE_WINDOW - 1 ahead; a tx after a gap
 * waits for the gap to be filled. All txs also sit on one list in
 * arrival order, which proposals follow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "chain/chain_private.h"

#define BATCH_MAX 128
#define MAX_INFLIGHT 4
#define NONE UINT32_MAX
#define U128_MAX (~(st_u128)0)

typedef struct sender sender_t;

typedef struct entry {
  st_chain__tx_t t;
  uint8_t *tx;
  uint64_t seq;
  sender_t *s;
  struct entry *hnext;        /* hash index chain */
  struct entry *prev, *next;  /* arrival order */
} entry_t;

struct sender {
  uint8_t addr[ST_ADDR_LEN];
  uint64_t state_nonce;       /* account nonce when last read */
  size_t n;
  entry_t *txs[ST_CHAIN__NONCE_WINDOW]; /* sorted by nonce */
  sender_t *hnext;
  sender_t *prev, *next;      /* list of all senders */
  /* proposal scratch */
  uint64_t r_gen;
  size_t r_idx;
  bool r_blocked;
};

typedef struct seen {
  uint8_t hash[ST_HASH_LEN];
  uint32_t next;
  uint8_t used;
  uint8_t status;
  int16_t code;
} seen_t;

typedef struct pend {
  uint8_t *tx;
  st_chain__tx_t t;
  uint8_t peer[ST_ADDR_LEN];
  bool has_peer;
  st_chain__check_cb cb;
  void *ud;
  int sig_rc;
  struct pend *next;
} pend_t;

typedef struct batch {
  uv_work_t w;
  st_chain__mempool_t *mp;
  char chain_id[ST_CHAIN_ID_MAX + 1];
  size_t n;
  pend_t *items[BATCH_MAX];
  struct batch *next;
} batch_t;

/* The outcome of one CheckTx, delivered once the state transaction is
 * closed (a callback may start a proposal, which reads the store). */
typedef struct outcome {
  int code;
  char log[ST_CHAIN__LOG_MAX];
  uint8_t hash[ST_HASH_LEN];
  entry_t *added; /* the entry, when inserted */
  pend_t *p;
} outcome_t;

struct st_chain__mempool {
  const st_chain__params_t *p;
  const st_chain__state_t *st;
  uv_loop_t *loop;
  /* txs */
  size_t nb;
  entry_t **byhash;
  sender_t **bysender;
  sender_t *senders;
  entry_t *head, *tail;
  uint64_t seq;
  size_t ntxs, nbytes;
  size_t npend, pend_bytes;
  /* seen cache */
  seen_t *ring;
  size_t ring_cap, ring_next;
  size_t snb;
  uint32_t *sbkt;
  /* signature checks */
  pend_t *qhead, *qtail;
  batch_t *inflight;
  size_t ninflight;
  bool closing;
  uint64_t reap_gen;
  st_chain__added_cb added;
  void *added_ud;
  st_chain__msg_check_fn msg_check;
  void *msg_ud;
  st_chain__mempool_stats_t stats;
};

static size_t pow2_at_least(size_t n) {
  size_t p = 16;
  while (p < n)
    p <<= 1;
  return p;
}

static size_t hslot(const uint8_t *h, size_t nb) {
  return (size_t)st_chain__rd64(h) & (nb - 1);
}

/* ---- seen cache ---- */

static seen_t *seen_find(const st_chain__mempool_t *mp, const uint8_t hash[ST_HASH_LEN]) {
  for (uint32_t i = mp->sbkt[hslot(hash, mp->snb)]; i != NONE; i = mp->ring[i].next)
    if (memcmp(mp->ring[i].hash, hash, ST_HASH_LEN) == 0)
      return &mp->ring[i];
  return NULL;
}

static void seen_unlink(st_chain__mempool_t *mp, uint32_t idx) {
  uint32_t *pp = &mp->sbkt[hslot(mp->ring[idx].hash, mp->snb)];
  while (*pp != NONE) {
    if (*pp == idx) {
      *pp = mp->ring[idx].next;
      return;
    }
    pp = &mp->ring[*pp].next;
  }
}

int st_chain__mempool_seen(const st_chain__mempool_t *mp, const uint8_t hash[ST_HASH_LEN],
                           int *bad_code) {
  const seen_t *s = seen_find(mp, hash);
  if (!s)
    return ST_CHAIN__SEEN_NONE;
  if (bad_code)
    *bad_code = s->code;
  return s->status;
}

void st_chain__mempool_mark(st_chain__mempool_t *mp, const uint8_t hash[ST_HASH_LEN],
                            int status, int bad_code) {
  seen_t *s = seen_find(mp, hash);
  if (!s) {
    uint32_t idx = (uint32_t)mp->ring_next;
    mp->ring_next = (mp->ring_next + 1) % mp->ring_cap;
    s = &mp->ring[idx];
    if (s->used)
      seen_unlink(mp, idx);
    memcpy(s->hash, hash, ST_HASH_LEN);
    s->used = 1;
    uint32_t *b = &mp->sbkt[hslot(hash, mp->snb)];
    s->next = *b;
    *b = idx;
  }
  s->status = (uint8_t)status;
  s->code = (int16_t)bad_code;
}

void st_chain__mempool_count_sig(st_chain__mempool_t *mp) { mp->stats.sig_checks++; }

/* ---- txs and senders ---- */

static entry_t *entry_find(const st_chain__mempool_t *mp, const uint8_t hash[ST_HASH_LEN]) {
  for (entry_t *e = mp->byhash[hslot(hash, mp->nb)]; e; e = e->hnext)
    if (memcmp(e->t.hash, hash, ST_HASH_LEN) == 0)
      return e;
  return NULL;
}

bool st_chain__mempool_has(const st_chain__mempool_t *mp, const uint8_t hash[ST_HASH_LEN]) {
  return entry_find(mp, hash) != NULL;
}

static sender_t *sender_find(const st_chain__mempool_t *mp, const uint8_t addr[ST_ADDR_LEN]) {
  for (sender_t *s = mp->bysender[hslot(addr, mp->nb)]; s; s = s->hnext)
    if (memcmp(s->addr, addr, ST_ADDR_LEN) == 0)
      return s;
  return NULL;
}

static sender_t *sender_add(st_chain__mempool_t *mp, const uint8_t addr[ST_ADDR_LEN]) {
  sender_t *s = calloc(1, sizeof(*s));
  if (!s)
    abort();
  memcpy(s->addr, addr, ST_ADDR_LEN);
  sender_t **b = &mp->bysender[hslot(addr, mp->nb)];
  s->hnext = *b;
  *b = s;
  s->next = mp->senders;
  if (mp->senders)
    mp->senders->prev = s;
  mp->senders = s;
  return s;
}

static void sender_remove(st_chain__mempool_t *mp, sender_t *s) {
  for (sender_t **pp = &mp->bysender[hslot(s->addr, mp->nb)]; *pp; pp = &(*pp)->hnext)
    if (*pp == s) {
      *pp = s->hnext;
      break;
    }
  if (s->prev)
    s->prev->next = s->next;
  else
    mp->senders = s->next;
  if (s->next)
    s->next->prev = s->prev;
  free(s);
}

/* Unlinks e from the hash index and the arrival list and frees it; the
 * caller takes it out of its sender's array. */
static void entry_drop(st_chain__mempool_t *mp, entry_t *e) {
  for (entry_t **pp = &mp->byhash[hslot(e->t.hash, mp->nb)]; *pp; pp = &(*pp)->hnext)
    if (*pp == e) {
      *pp = e->hnext;
      break;
    }
  if (e->prev)
    e->prev->next = e->next;
  else
    mp->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    mp->tail = e->prev;
  mp->ntxs--;
  mp->nbytes -= e->t.len;
  free(e->tx);
  free(e);
}

/* Inserts a checked tx (its bytes are owned by the entry from now on). */
static entry_t *entry_add(st_chain__mempool_t *mp, const st_chain__tx_t *t, uint8_t *tx,
                          uint64_t state_nonce) {
  sender_t *s = sender_find(mp, t->sender);
  if (!s)
    s = sender_add(mp, t->sender);
  s->state_nonce = state_nonce;
  entry_t *e = calloc(1, sizeof(*e));
  if (!e)
    abort();
  e->t = *t;
  e->tx = tx;
  e->seq = ++mp->seq;
  e->s = s;
  size_t i = s->n;
  while (i > 0 && s->txs[i - 1]->t.nonce > t->nonce) {
    s->txs[i] = s->txs[i - 1];
    i--;
  }
  s->txs[i] = e;
  s->n++;
  entry_t **b = &mp->byhash[hslot(t->hash, mp->nb)];
  e->hnext = *b;
  *b = e;
  e->prev = mp->tail;
  if (mp->tail)
    mp->tail->next = e;
  else
    mp->head = e;
  mp->tail = e;
  mp->ntxs++;
  mp->nbytes += t->len;
  return e;
}

/* ---- CheckTx ---- */

static int full(const st_chain__mempool_t *mp, size_t len, char *log, size_t cap) {
  size_t n = mp->ntxs + mp->npend, bytes = mp->nbytes + mp->pend_bytes;
  if (n + 1 > mp->p->max_txs || bytes + len > mp->p->max_bytes) {
    snprintf(log, cap, "mempool is full (%zu txs, %zu bytes)", n, bytes);
    return ST_EFULL;
  }
  return 0;
}

/* The checks against committed state and the txs already pooled. */
static int check_state(st_chain__mempool_t *mp, st_txn_t *txn, const st_chain__tx_t *t,
                       const uint8_t *tx, uint64_t *state_nonce, char *log, size_t cap) {
  st_chain__acct_t a;
  int rc = st_chain__acct_get(mp->st, txn, t->sender, &a);
  if (rc != 0) {
    snprintf(log, cap, "cannot read the sender's account: %s", st_strerror(rc));
    return rc;
  }
  *state_nonce = a.nonce;
  if (t->nonce < a.nonce) {
    snprintf(log, cap, "nonce %llu expected %llu (already used)",
             (unsigned long long)t->nonce, (unsigned long long)a.nonce);
    return ST_EEXIST;
  }
  if (t->nonce - a.nonce >= ST_CHAIN__NONCE_WINDOW) {
    snprintf(log, cap, "nonce %llu expected %llu (at most %d ahead are accepted)",
             (unsigned long long)t->nonce, (unsigned long long)a.nonce,
             ST_CHAIN__NONCE_WINDOW - 1);
    return ST_EAGAIN;
  }
  st_u128 need = t->cost;
  const sender_t *s = sender_find(mp, t->sender);
  for (size_t i = 0; s && i < s->n; i++) {
    const st_chain__tx_t *o = &s->txs[i]->t;
    if (o->nonce == t->nonce) {
      snprintf(log, cap, "the sender already has a tx with nonce %llu in the mempool",
               (unsigned long long)t->nonce);
      return ST_EEXIST;
    }
    if (o->nonce < t->nonce && o->nonce >= a.nonce) {
      if (need > U128_MAX - o->cost) {
        snprintf(log, cap, "insufficient balance: the sender's pooled txs overflow 128 bits");
        return ST_EPERM;
      }
      need += o->cost;
    }
  }
  if (a.balance < need) {
    char x[ST_U128_STR_MAX], y[ST_U128_STR_MAX];
    st_u128_format(a.balance, x);
    st_u128_format(need, y);
    snprintf(log, cap, "insufficient balance: have %s, need %s", x, y);
    return ST_EPERM;
  }
  /* Messages other than sends are tried against the committed state, so
   * that a bad one is refused here with its reason. */
  if (t->kind != ST_CHAIN__KIND_SEND && mp->msg_check)
    return mp->msg_check(mp->msg_ud, txn, t, tx, log, cap);
  return 0;
}

static void deliver(st_chain__mempool_t *mp, outcome_t *o, const uint8_t *peer,
                    st_chain__check_cb cb, void *ud) {
  if (o->code == 0) {
    mp->stats.accepted++;
    ST_DEBUG("chain", "mempool: accepted tx (%zu txs, %zu bytes)", mp->ntxs, mp->nbytes);
    if (o->added && mp->added)
      mp->added(mp->added_ud, o->added->tx, o->added->t.len, peer);
  } else {
    mp->stats.rejected++;
  }
  if (cb)
    cb(ud, o->code, o->log, o->hash, peer);
}

static void pend_free(pend_t *p) {
  if (!p)
    return;
  free(p->tx);
  free(p);
}

/* Second half of CheckTx, on the loop thread after the signature check:
 * runs inside txn and fills o; the callbacks come later. */
static void finish(st_chain__mempool_t *mp, st_txn_t *txn, pend_t *p, outcome_t *o) {
  mp->npend--;
  mp->pend_bytes -= p->t.len;
  memcpy(o->hash, p->t.hash, ST_HASH_LEN);
  o->p = p;
  o->added = NULL;
  o->log[0] = '\0';
  if (p->sig_rc == ST_ECLOSED) {
    /* The check never ran: forget the hash rather than condemn the tx. */
    st_chain__mempool_mark(mp, p->t.hash, ST_CHAIN__SEEN_NONE, 0);
    o->code = ST_ECLOSED;
    snprintf(o->log, sizeof(o->log), "the signature check was cancelled");
    return;
  }
  if (p->sig_rc != 0) {
    st_chain__mempool_mark(mp, p->t.hash, ST_CHAIN__SEEN_BAD, ST_EBADSIG);
    o->code = ST_EBADSIG;
    snprintf(o->log, sizeof(o->log), "bad signature");
    return;
  }
  st_chain__mempool_mark(mp, p->t.hash, ST_CHAIN__SEEN_SIG_OK, 0);
  uint64_t sn = 0;
  if (txn) {
    o->code = check_state(mp, txn, &p->t, p->tx, &sn, o->log, sizeof(o->log));
  } else {
    o->code = ST_EIO;
    snprintf(o->log, sizeof(o->log), "cannot read state");
  }
  if (o->code == 0)
    o->code = full(mp, p->t.len, o->log, sizeof(o->log));
  if (o->code == 0) {
    o->added = entry_add(mp, &p->t, p->tx, sn);
    p->tx = NULL;
  }
}

static void kick(st_chain__mempool_t *mp);

static void work_cb(uv_work_t *w) {
  batch_t *b = w->data;
  for (size_t i = 0; i < b->n; i++)
    b->items[i]->sig_rc = st_chain__tx_verify(b->chain_id, b->items[i]->tx, &b->items[i]->t);
}

static void mempool_release(st_chain__mempool_t *mp) {
  free(mp->ring);
  free(mp->sbkt);
  free(mp->byhash);
  free(mp->bysender);
  free(mp);
}

static void after_cb(uv_work_t *w, int status) {
  batch_t *b = w->data;
  st_chain__mempool_t *mp = b->mp;
  for (batch_t **pp = &mp->inflight; *pp; pp = &(*pp)->next)
    if (*pp == b) {
      *pp = b->next;
      break;
    }
  mp->ninflight--;
  mp->stats.sig_checks += b->n;
  if (mp->closing) {
    for (size_t i = 0; i < b->n; i++)
      pend_free(b->items[i]);
    free(b);
    if (mp->ninflight == 0)
      mempool_release(mp);
    return;
  }
  outcome_t *o = calloc(b->n, sizeof(*o));
  if (!o)
    abort();
  st_txn_t *txn = NULL;
  int trc = st_txn_begin(mp->st->store, false, &txn);
  if (trc != 0)
    ST_WARN("chain", "mempool: cannot read state: %s", st_strerror(trc));
  for (size_t i = 0; i < b->n; i++) {
    if (status != 0)
      b->items[i]->sig_rc = ST_ECLOSED;
    finish(mp, txn, b->items[i], &o[i]);
  }
  st_txn_abort(txn);
  for (size_t i = 0; i < b->n; i++) {
    pend_t *p = o[i].p;
    deliver(mp, &o[i], p->has_peer ? p->peer : NULL, p->cb, p->ud);
    pend_free(p);
  }
  free(o);
  free(b);
  kick(mp);
}

static void kick(st_chain__mempool_t *mp) {
  while (mp->qhead && mp->ninflight < MAX_INFLIGHT && !mp->closing) {
    batch_t *b = calloc(1, sizeof(*b));
    if (!b)
      abort();
    b->mp = mp;
    b->w.data = b;
    memcpy(b->chain_id, mp->p->chain_id, sizeof(b->chain_id));
    while (mp->qhead && b->n < BATCH_MAX) {
      pend_t *p = mp->qhead;
      mp->qhead = p->next;
      p->next = NULL;
      b->items[b->n++] = p;
    }
    if (!mp->qhead)
      mp->qtail = NULL;
    b->next = mp->inflight;
    mp->inflight = b;
    mp->ninflight++;
    int rc = uv_queue_work(mp->loop, &b->w, work_cb, after_cb);
    if (rc != 0) {
      /* Cannot happen with a valid loop; check inline rather than lose
       * the batch. */
      work_cb(&b->w);
      after_cb(&b->w, 0);
    }
  }
}

void st_chain__mempool_submit(st_chain__mempool_t *mp, const uint8_t *tx, size_t len,
                              const uint8_t *peer, st_chain__check_cb cb, void *ud) {
  outcome_t o;
  st_chain__tx_t t;
  memset(&o, 0, sizeof(o));
  if (mp->closing) {
    o.code = ST_ECLOSED;
    snprintf(o.log, sizeof(o.log), "the node is shutting down");
    goto answer;
  }
  if (len > mp->p->max_tx_bytes) {
    /* Refused before hashing or decoding anything. */
    o.code = ST_E2BIG;
    snprintf(o.log, sizeof(o.log), "tx of %zu bytes exceeds the maximum of %zu", len,
             mp->p->max_tx_bytes);
    goto answer;
  }
  st_chain_tx_hash(tx, len, o.hash);
  if (entry_find(mp, o.hash)) {
    o.code = ST_EEXIST;
    snprintf(o.log, sizeof(o.log), "tx already in mempool");
    goto answer;
  }
  int bad = 0;
  int seen = st_chain__mempool_seen(mp, o.hash, &bad);
  if (seen == ST_CHAIN__SEEN_PENDING) {
    o.code = ST_EEXIST;
    snprintf(o.log, sizeof(o.log), "tx already in mempool (its signature is being checked)");
    goto answer;
  }
  if (seen == ST_CHAIN__SEEN_BAD) {
    o.code = bad ? bad : ST_EINVAL;
    snprintf(o.log, sizeof(o.log), "tx was refused before: %s", st_strerror(o.code));
    goto answer;
  }
  o.code = st_chain__tx_check(mp->p, tx, len, &t, o.log, sizeof(o.log));
  if (o.code != 0) {
    st_chain__mempool_mark(mp, o.hash, ST_CHAIN__SEEN_BAD, o.code);
    goto answer;
  }
  st_txn_t *txn;
  uint64_t sn = 0;
  o.code = st_txn_begin(mp->st->store, false, &txn);
  if (o.code != 0) {
    snprintf(o.log, sizeof(o.log), "cannot read state: %s", st_strerror(o.code));
    goto answer;
  }
  o.code = check_state(mp, txn, &t, tx, &sn, o.log, sizeof(o.log));
  if (o.code == 0)
    o.code = full(mp, len, o.log, sizeof(o.log));
  if (o.code != 0 || seen != ST_CHAIN__SEEN_SIG_OK) {
    st_txn_abort(txn);
  } else {
    /* The signature was verified before: the tx goes straight in. */
    uint8_t *copy = malloc(len);
    if (!copy)
      abort();
    memcpy(copy, tx, len);
    o.added = entry_add(mp, &t, copy, sn);
    st_txn_abort(txn);
    goto answer;
  }
  if (o.code != 0)
    goto answer;
  /* Reserve room, then check the signature off the loop thread. */
  pend_t *p = calloc(1, sizeof(*p));
  if (!p)
    abort();
  p->tx = malloc(len);
  if (!p->tx)
    abort();
  memcpy(p->tx, tx, len);
  p->t = t;
  p->has_peer = peer != NULL;
  if (peer)
    memcpy(p->peer, peer, ST_ADDR_LEN);
  p->cb = cb;
  p->ud = ud;
  mp->npend++;
  mp->pend_bytes += len;
  st_chain__mempool_mark(mp, o.hash, ST_CHAIN__SEEN_PENDING, 0);
  if (!mp->loop) {
    p->sig_rc = st_chain__tx_verify(mp->p->chain_id, p->tx, &p->t);
    mp->stats.sig_checks++;
    txn = NULL;
    if (st_txn_begin(mp->st->store, false, &txn) != 0)
      txn = NULL;
    finish(mp, txn, p, &o);
    st_txn_abort(txn);
    deliver(mp, &o, peer, cb, ud);
    pend_free(p);
    return;
  }
  if (mp->qtail)
    mp->qtail->next = p;
  else
    mp->qhead = p;
  mp->qtail = p;
  kick(mp);
  return;
answer:
  deliver(mp, &o, peer, cb, ud);
}

/* ---- after a block ---- */

void st_chain__mempool_recheck(st_chain__mempool_t *mp) {
  st_txn_t *txn;
  size_t dropped = 0;
  if (!mp->senders)
    return;
  int rc = st_txn_begin(mp->st->store, false, &txn);
  if (rc != 0) {
    ST_WARN("chain", "mempool: cannot recheck: %s", st_strerror(rc));
    return;
  }
  for (sender_t *s = mp->senders, *next; s; s = next) {
    next = s->next;
    st_chain__acct_t a;
    if (st_chain__acct_get(mp->st, txn, s->addr, &a) != 0)
      continue;
    s->state_nonce = a.nonce;
    st_u128 left = a.balance;
    uint64_t expect = a.nonce;
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
      entry_t *e = s->txs[i];
      bool drop = false;
      if (e->t.nonce < a.nonce) {
        drop = true; /* included in a block, or its nonce used by another tx */
      } else if (e->t.nonce == expect) {
        if (left >= e->t.cost) {
          left -= e->t.cost;
          expect++;
        } else {
          drop = true; /* the sender can no longer pay for it */
        }
      }
      if (drop) {
        entry_drop(mp, e);
        dropped++;
      } else {
        s->txs[k++] = e;
      }
    }
    s->n = k;
    if (s->n == 0)
      sender_remove(mp, s);
  }
  st_txn_abort(txn);
  if (dropped)
    ST_DEBUG("chain", "mempool: recheck dropped %zu txs, %zu left", dropped, mp->ntxs);
}

void st_chain__mempool_revalidate(st_chain__mempool_t *mp) {
  size_t dropped = 0;
  char log[ST_CHAIN__LOG_MAX];
  for (sender_t *s = mp->senders, *next; s; s = next) {
    next = s->next;
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
      entry_t *e = s->txs[i];
      st_chain__tx_t t;
      if (st_chain__tx_check(mp->p, e->tx, e->t.len, &t, log, sizeof(log)) != 0) {
        ST_DEBUG("chain", "mempool: dropped under the new parameters: %s", log);
        entry_drop(mp, e);
        dropped++;
      } else {
        s->txs[k++] = e;
      }
    }
    s->n = k;
    if (s->n == 0)
      sender_remove(mp, s);
  }
  if (dropped)
    ST_INFO("chain", "mempool: %zu txs dropped: they no longer meet the parameters", dropped);
}

bool st_chain__mempool_ready(const st_chain__mempool_t *mp) {
  for (const sender_t *s = mp->senders; s; s = s->next)
    if (s->n > 0 && s->txs[0]->t.nonce == s->state_nonce)
      return true;
  return false;
}

void st_chain__mempool_on_msg_check(st_chain__mempool_t *mp, st_chain__msg_check_fn fn,
                                    void *ud) {
  mp->msg_check = fn;
  mp->msg_ud = ud;
}

int st_chain__mempool_reap(st_chain__mempool_t *mp, st_chain__ctx_t *ctx,
                           size_t max_bytes, size_t max_txs, st_chain__emit_fn emit,
                           void *ud) {
  uint64_t gen = ++mp->reap_gen;
  size_t count = 0, bytes = 0;
  for (entry_t *e = mp->head; e; e = e->next) {
    sender_t *s = e->s;
    if (s->r_gen != gen) {
      s->r_gen = gen;
      s->r_idx = 0;
      s->r_blocked = false;
    }
    /* Take the sender's txs in nonce order, as far as they arrived by now. */
    while (!s->r_blocked && s->r_idx < s->n && s->txs[s->r_idx]->seq <= e->seq) {
      entry_t *c = s->txs[s->r_idx];
      if (count >= max_txs)
        return 0;
      if (c->t.len > max_bytes - bytes) {
        s->r_blocked = true;
        break;
      }
      int rc = st_chain__tx_exec(ctx, &c->t, c->tx);
      if (rc == ST_ENOMEM || rc == ST_ECORRUPT || rc == ST_ESTORE || rc == ST_EIO)
        return rc;
      if (rc != 0) {
        s->r_blocked = true;
        break;
      }
      if ((rc = emit(ud, c->tx, c->t.len)) != 0)
        return rc;
      count++;
      bytes += c->t.len;
      s->r_idx++;
    }
  }
  return 0;
}

/* ---- life ---- */

int st_chain__mempool_new(const st_chain__params_t *p, const st_chain__state_t *st,
                          uv_loop_t *loop, st_chain__mempool_t **out) {
  st_chain__mempool_t *mp = calloc(1, sizeof(*mp));
  if (!mp)
    return ST_ENOMEM;
  mp->p = p;
  mp->st = st;
  mp->loop = loop;
  mp->nb = pow2_at_least(p->max_txs);
  mp->byhash = calloc(mp->nb, sizeof(*mp->byhash));
  mp->bysender = calloc(mp->nb, sizeof(*mp->bysender));
  mp->ring_cap = p->cache_size ? p->cache_size : 1;
  mp->ring = calloc(mp->ring_cap, sizeof(*mp->ring));
  mp->snb = pow2_at_least(mp->ring_cap);
  mp->sbkt = malloc(mp->snb * sizeof(*mp->sbkt));
  if (!mp->byhash || !mp->bysender || !mp->ring || !mp->sbkt) {
    mempool_release(mp);
    return ST_ENOMEM;
  }
  for (size_t i = 0; i < mp->snb; i++)
    mp->sbkt[i] = NONE;
  *out = mp;
  return 0;
}

void st_chain__mempool_on_added(st_chain__mempool_t *mp, st_chain__added_cb cb, void *ud) {
  mp->added = cb;
  mp->added_ud = ud;
}

void st_chain__mempool_stats(const st_chain__mempool_t *mp, st_chain__mempool_stats_t *out) {
  *out = mp->stats;
  out->txs = mp->ntxs;
  out->bytes = mp->nbytes;
  out->pending = mp->npend;
}

void st_chain__mempool_free(st_chain__mempool_t *mp) {
  if (!mp)
    return;
  mp->closing = true;
  /* Everyone still waiting for a CheckTx hears about the shutdown now. */
  for (pend_t *p = mp->qhead, *next; p; p = next) {
    next = p->next;
    if (p->cb)
      p->cb(p->ud, ST_ECLOSED, "the node is shutting down", p->t.hash,
            p->has_peer ? p->peer : NULL);
    pend_free(p);
  }
  mp->qhead = mp->qtail = NULL;
  for (batch_t *b = mp->inflight; b; b = b->next)
    for (size_t i = 0; i < b->n; i++) {
      pend_t *p = b->items[i];
      if (p->cb)
        p->cb(p->ud, ST_ECLOSED, "the node is shutting down", p->t.hash,
              p->has_peer ? p->peer : NULL);
      p->cb = NULL;
    }
  for (entry_t *e = mp->head, *next; e; e = next) {
    next = e->next;
    free(e->tx);
    free(e);
  }
  mp->head = mp->tail = NULL;
  for (sender_t *s = mp->senders, *next; s; s = next) {
    next = s->next;
    free(s);
  }
  mp->senders = NULL;
  if (mp->ninflight == 0)
    mempool_release(mp);
}
