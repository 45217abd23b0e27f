/* File txs between their submission and their block: the pool, the
 * gossip between meta nodes, the results, and the storage protocol's
 * frames meta nodes answer (SliceCheck, SliceRepair).
 *
 * A gateway on a meta node submits a FileOp: the node signs it as a
 * FileTx, tries it on the latest committed state (so that a refusal, a
 * short ozone balance say, comes back at once), pools it and sends it to
 * its peers, whose meta modules check the authority's signature and pool
 * it too. A proposer puts pooled txs into its block after the heartbeats.
 * A tx's result is what the block made of it: the block's finalize
 * records it, committed() moves it to a ring of the last
 * ST_META__RESULTS results and drops the tx from the pool. A tx no block
 * took within ST_META__POOL_TTL_MS leaves the pool with ST_ETIMEDOUT (a
 * block that takes it later still records its real result). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_meta.h>
#include <stratos/st_net.h>
#include <stratos/st_resource.h>
#include "meta/meta_private.h"
#include "meta.pb-c.h"
#include "storage.pb-c.h"

/* A MetaTx carrying a FileTx: its body and some 200 bytes. */
#define FTX_WIRE_MAX (ST_META__FOP_MAX + 1024)
/* The largest SliceRepair frame. */
#define REPAIRED_MAX 1024
/* The largest SliceCheck frame. */
#define CHECK_MAX (ST_RES_CHECK_MAX * (ST_HASH_LEN + 4) + 64)

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- results ---- */

static st_meta__fres_t *ring_find(st_meta_t *m, const uint8_t txid[ST_HASH_LEN]) {
  for (size_t i = 0; i < m->ring_n; i++)
    if (memcmp(m->ring[i].txid, txid, ST_HASH_LEN) == 0)
      return &m->ring[i];
  return NULL;
}

/* Records a result; a block's result replaces what the ring had (a
 * timeout), a timeout never replaces anything. */
static void ring_put(st_meta_t *m, const uint8_t txid[ST_HASH_LEN], int code, const char *log,
                     bool from_block) {
  if (!m->ring && !(m->ring = calloc(ST_META__RESULTS, sizeof(*m->ring))))
    return; /* results are a convenience: without memory, none are kept */
  st_meta__fres_t *r = ring_find(m, txid);
  if (r && !from_block)
    return;
  if (!r) {
    r = &m->ring[m->ring_next];
    m->ring_next = (m->ring_next + 1) % ST_META__RESULTS;
    if (m->ring_n < ST_META__RESULTS)
      m->ring_n++;
  }
  memcpy(r->txid, txid, ST_HASH_LEN);
  r->code = code;
  snprintf(r->log, sizeof(r->log), "%s", log ? log : "");
}

/* ---- the pool ---- */

static size_t pool_find(st_meta_t *m, const uint8_t txid[ST_HASH_LEN]) {
  size_t i = 0;
  while (i < m->nftxs && memcmp(m->ftxs[i].txid, txid, ST_HASH_LEN) != 0)
    i++;
  return i;
}

static void pool_remove(st_meta_t *m, size_t i) {
  m->ftx_bytes -= m->ftxs[i].len;
  free(m->ftxs[i].tx);
  memmove(&m->ftxs[i], &m->ftxs[i + 1], (m->nftxs - i - 1) * sizeof(*m->ftxs));
  m->nftxs--;
}

static void pool_expire(st_meta_t *m) {
  int64_t now = mono_ms();
  for (size_t i = 0; i < m->nftxs;) {
    if (now - m->ftxs[i].added_ms < ST_META__POOL_TTL_MS) {
      i++;
      continue;
    }
    char log[96];
    snprintf(log, sizeof(log), "no meta block took the tx within %d s",
             ST_META__POOL_TTL_MS / 1000);
    ring_put(m, m->ftxs[i].txid, ST_ETIMEDOUT, log, false);
    pool_remove(m, i);
  }
}

static int pool_add(st_meta_t *m, const uint8_t txid[ST_HASH_LEN], const uint8_t *tx, size_t len,
                    const uint8_t signer[ST_PUBKEY_LEN], const uint8_t *repair_root, char *log,
                    size_t cap) {
  if (pool_find(m, txid) < m->nftxs) {
    snprintf(log, cap, "the file tx is pooled already");
    return ST_EEXIST;
  }
  if (m->nftxs == ST_META__POOL_TXS || m->ftx_bytes + len > ST_META__POOL_BYTES) {
    snprintf(log, cap, "the file tx pool is full (%d txs, %u MiB)", ST_META__POOL_TXS,
             ST_META__POOL_BYTES >> 20);
    return ST_EFULL;
  }
  st_meta__ftx_t *n = realloc(m->ftxs, (m->nftxs + 1) * sizeof(*n));
  if (!n)
    return ST_ENOMEM;
  m->ftxs = n;
  st_meta__ftx_t *e = &m->ftxs[m->nftxs];
  memset(e, 0, sizeof(*e));
  if (!(e->tx = malloc(len)))
    return ST_ENOMEM;
  memcpy(e->tx, tx, len);
  e->len = len;
  memcpy(e->txid, txid, ST_HASH_LEN);
  memcpy(e->signer, signer, ST_PUBKEY_LEN);
  e->added_ms = mono_ms();
  if (repair_root) {
    e->repair = true;
    memcpy(e->repair_root, repair_root, ST_HASH_LEN);
  }
  m->nftxs++;
  m->ftx_bytes += len;
  return 0;
}

bool st_meta__files_pending(st_meta_t *m) {
  return m->nftxs > 0;
}

static bool is_authority(st_chain__overlay_t *ov, const uint8_t pk[ST_PUBKEY_LEN]) {
  uint8_t k[1 + ST_ADDR_LEN];
  const uint8_t *v;
  size_t n;
  k[0] = ST_META__K_AUTH;
  st_addr_from_pubkey(pk, k + 1);
  return st_chain__ov_read(ov, ST_META__SP_REC, k, sizeof(k), &v, &n) == 0 &&
         n == ST_PUBKEY_LEN && memcmp(v, pk, ST_PUBKEY_LEN) == 0;
}

static bool applied(st_chain__overlay_t *ov, const uint8_t txid[ST_HASH_LEN]) {
  uint8_t k[1 + ST_HASH_LEN];
  const uint8_t *v;
  size_t n;
  k[0] = ST_META__K_TXID;
  memcpy(k + 1, txid, ST_HASH_LEN);
  return st_chain__ov_read(ov, ST_META__SP_REC, k, sizeof(k), &v, &n) == 0;
}

int st_meta__files_propose(st_meta_t *m, st_chain__overlay_t *ov, size_t max_bytes,
                           size_t max_txs, size_t *bytes, st_cons_txlist_t *out) {
  int rc = 0;
  pool_expire(m);
  for (size_t i = 0; i < m->nftxs && rc == 0 && out->n < max_txs; i++) {
    st_meta__ftx_t *e = &m->ftxs[i];
    /* A signer no longer an authority would fail the whole block. */
    if (*bytes + e->len > max_bytes || !is_authority(ov, e->signer) || applied(ov, e->txid))
      continue;
    rc = st_cons_txlist_add(out, e->tx, e->len);
    *bytes += e->len;
  }
  return rc;
}

static void send_pull(st_meta_t *m, const st_meta__pull_t *p) {
  Stratos__Storage__SlicePull sp;
  uint8_t buf[128];
  stratos__storage__slice_pull__init(&sp);
  sp.root.data = (uint8_t *)(uintptr_t)p->root;
  sp.root.len = ST_HASH_LEN;
  sp.size = p->size;
  sp.from.data = (uint8_t *)(uintptr_t)p->from;
  sp.from.len = ST_ADDR_LEN;
  if (p->has_replaces) {
    sp.replaces.data = (uint8_t *)(uintptr_t)p->replaces;
    sp.replaces.len = ST_ADDR_LEN;
  }
  size_t n = stratos__storage__slice_pull__pack(&sp, buf);
  int rc = st_res_send(m->node, ST_MOD_META, p->node, ST_CH_RESOURCE, ST_RES_PULL, buf, n);
  if (rc != 0)
    ST_DEBUG("meta", "slice pull not sent: %s", st_strerror(rc));
}

void st_meta__files_committed(st_meta_t *m, int64_t height) {
  if (m->pend_height == height) {
    for (size_t i = 0; i < m->npend; i++) {
      const st_meta__fres_t *r = &m->pend[i];
      ring_put(m, r->txid, r->code, r->log, true);
      size_t j = pool_find(m, r->txid);
      if (j < m->nftxs)
        pool_remove(m, j);
    }
    for (size_t i = 0; m->node && m->node->bus && i < m->npulls; i++)
      send_pull(m, &m->pulls[i]);
  }
  m->npend = 0;
  m->npulls = 0;
  m->pend_height = 0;
  pool_expire(m);
}

void st_meta__files_free(st_meta_t *m) {
  for (size_t i = 0; i < m->nftxs; i++)
    free(m->ftxs[i].tx);
  free(m->ftxs);
  free(m->pend);
  free(m->ring);
  free(m->pulls);
  m->ftxs = NULL;
  m->pend = m->ring = NULL;
  m->pulls = NULL;
  m->nftxs = m->ftx_bytes = m->npend = m->pend_cap = m->ring_n = m->ring_next = 0;
  m->npulls = m->pulls_cap = 0;
}

/* ---- gossip ---- */

static void gossip(st_meta_t *m, const uint8_t *tx, size_t len, const uint8_t *except) {
  static const uint8_t everyone[ST_ADDR_LEN];
  if (!m->node || !m->node->bus)
    return;
  st_net_out_t *out = st_net_out_new(everyone, ST_CH_META_MEMPOOL, ST_META__FRAME_FILE, tx, len);
  if (except)
    memcpy(out->except, except, ST_ADDR_LEN);
  int rc = st_net_send(m->node->bus, ST_MOD_META, out);
  if (rc != 0)
    ST_DEBUG("meta", "file tx not gossiped: %s", st_strerror(rc));
}

int st_meta__ftx_receive(st_meta_t *m, const uint8_t *tx, size_t len, const uint8_t *peer,
                         char *log, size_t cap) {
  uint8_t txid[ST_HASH_LEN];
  st_meta__rq_t r;
  log[0] = '\0';
  if (len == 0 || len > FTX_WIRE_MAX) {
    snprintf(log, cap, "a file tx is 1 to %u bytes", FTX_WIRE_MAX);
    return ST_E2BIG;
  }
  Stratos__Meta__MetaTx *t = stratos__meta__meta_tx__unpack(NULL, len, tx);
  if (!t || t->tx_case != STRATOS__META__META_TX__TX_FILE) {
    if (t)
      stratos__meta__meta_tx__free_unpacked(t, NULL);
    snprintf(log, cap, "not a file tx");
    return ST_EPARSE;
  }
  int rc = st_meta__rq_open(m, &r);
  if (rc == 0) {
    rc = st_meta__ftx_check(m, &r.ov, t->file, txid, log, cap);
    if (rc == 0 && applied(&r.ov, txid)) {
      snprintf(log, cap, "the file tx is applied already");
      rc = ST_EEXIST;
    }
    st_meta__rq_close(&r);
  }
  if (rc == 0)
    rc = pool_add(m, txid, tx, len, t->file->signer.data, NULL, log, cap);
  stratos__meta__meta_tx__free_unpacked(t, NULL);
  if (rc != 0)
    return rc;
  gossip(m, tx, len, peer);
  if (m->cons)
    st_cons_txs_available(m->cons);
  return 0;
}

/* ---- submission ---- */

/* Sets op's nonce, encodes it into *body (malloc'd, the caller frees it)
 * and signs it with kp: the FileTx, inside a MetaTx, is appended to out
 * and its signature left in sig. */
static int wrap(st_meta_t *m, const st_keypair_t *kp, Stratos__Storage__FileOp *op,
                uint8_t **body, size_t *blen, uint8_t sig[ST_SIG_LEN], st_buf_t *out) {
  uint64_t nonce = 0;
  while (nonce == 0)
    randombytes_buf(&nonce, sizeof(nonce));
  op->nonce = nonce;
  *blen = stratos__storage__file_op__get_packed_size(op);
  if (!(*body = malloc(*blen ? *blen : 1)))
    return ST_ENOMEM;
  stratos__storage__file_op__pack(op, *body);
  int rc = st_sign(kp, ST_DOM_META_TX, m->gen.chain_id, *body, *blen, sig);
  if (rc != 0)
    return rc;
  Stratos__Storage__FileTx ft;
  Stratos__Meta__MetaTx t;
  stratos__storage__file_tx__init(&ft);
  stratos__meta__meta_tx__init(&t);
  ft.body.data = *body;
  ft.body.len = *blen;
  ft.signer.data = (uint8_t *)(uintptr_t)kp->pk;
  ft.signer.len = ST_PUBKEY_LEN;
  ft.signature.data = sig;
  ft.signature.len = ST_SIG_LEN;
  t.tx_case = STRATOS__META__META_TX__TX_FILE;
  t.file = &ft;
  return st_meta__tx_append(&t, out);
}

/* Tries a signed tx on the latest committed state. */
static int precheck(st_meta_t *m, const Stratos__Storage__FileTx *ft, uint8_t txid[ST_HASH_LEN],
                    char *log, size_t cap) {
  st_meta__rq_t r;
  int rc = st_meta__rq_open(m, &r);
  if (rc != 0)
    return rc;
  rc = st_meta__ftx_check(m, &r.ov, ft, txid, log, cap);
  if (rc == ST_EPERM)
    snprintf(log, cap, "this node is not a meta authority: it cannot submit file txs");
  if (rc == 0) {
    st_meta__blk_t b = {.height = m->last_height + 1, .time_ms = wall_ms()};
    if (m->cons) {
      st_cons_status_t s;
      st_cons_status(m->cons, &s);
      memcpy(b.hash, s.hash, ST_HASH_LEN);
    }
    st_chain__ov_begin(&r.ov);
    rc = st_meta__fop_apply(m, &r.ov, &b, ft->body.data, ft->body.len, log, cap);
    st_chain__ov_end(&r.ov, false);
    st_meta__blk_done(&b);
  }
  st_meta__rq_close(&r);
  return rc;
}

static bool repair_pooled(st_meta_t *m, const uint8_t root[ST_HASH_LEN]) {
  for (size_t i = 0; i < m->nftxs; i++)
    if (m->ftxs[i].repair && memcmp(m->ftxs[i].repair_root, root, ST_HASH_LEN) == 0)
      return true;
  return false;
}

static int submit(st_meta_t *m, const st_keypair_t *kp, const uint8_t *body, size_t len,
                  uint8_t txid[ST_HASH_LEN], char *log, size_t cap) {
  uint8_t sig[ST_SIG_LEN], *nb = NULL, root[ST_HASH_LEN];
  size_t nlen = 0;
  st_buf_t tx;
  log[0] = '\0';
  memset(txid, 0, ST_HASH_LEN);
  if (len > ST_META__FOP_MAX) {
    snprintf(log, cap, "a file op is at most %u bytes", ST_META__FOP_MAX);
    return ST_E2BIG;
  }
  Stratos__Storage__FileOp *op = stratos__storage__file_op__unpack(NULL, len, body);
  if (!op) {
    snprintf(log, cap, "the file op does not decode");
    return ST_EPARSE;
  }
  bool repair = op->op_case == STRATOS__STORAGE__FILE_OP__OP_REPAIR &&
                op->repair->root.len == ST_HASH_LEN;
  if (repair)
    memcpy(root, op->repair->root.data, ST_HASH_LEN);
  st_buf_init(&tx, FTX_WIRE_MAX);
  int rc = wrap(m, kp, op, &nb, &nlen, sig, &tx);
  stratos__storage__file_op__free_unpacked(op, NULL);
  size_t block_max = m->gen.cons.max_block_bytes ? m->gen.cons.max_block_bytes : FTX_WIRE_MAX;
  if (rc == 0 && tx.len + 1024 > block_max) {
    snprintf(log, cap, "the file tx (%zu bytes) is too large for a meta block", tx.len);
    rc = ST_E2BIG;
  }
  if (rc == 0) {
    Stratos__Storage__FileTx ft;
    stratos__storage__file_tx__init(&ft);
    ft.body.data = nb;
    ft.body.len = nlen;
    ft.signer.data = (uint8_t *)(uintptr_t)kp->pk;
    ft.signer.len = ST_PUBKEY_LEN;
    ft.signature.data = sig;
    ft.signature.len = ST_SIG_LEN;
    rc = precheck(m, &ft, txid, log, cap);
  }
  if (rc == 0)
    rc = pool_add(m, txid, tx.data, tx.len, kp->pk, repair ? root : NULL, log, cap);
  if (rc == 0) {
    gossip(m, tx.data, tx.len, NULL);
    if (m->cons)
      st_cons_txs_available(m->cons);
  }
  if (rc != 0 && !log[0])
    snprintf(log, cap, "%s", st_strerror(rc));
  free(nb);
  st_buf_free(&tx);
  return rc;
}

int st_meta_file_submit(struct st_node *node, const uint8_t *body, size_t len,
                        uint8_t txid[ST_HASH_LEN], char *log, size_t cap) {
  st_meta_t *m = node ? node->meta : NULL;
  if (!m) {
    snprintf(log, cap, "this node runs no meta chain");
    return ST_ENOENT;
  }
  return submit(m, &node->node_key, body, len, txid, log, cap);
}

int st_meta_file_result(struct st_node *node, const uint8_t txid[ST_HASH_LEN], char *log,
                        size_t cap) {
  st_meta_t *m = node ? node->meta : NULL;
  if (!m) {
    snprintf(log, cap, "this node runs no meta chain");
    return ST_ENOENT;
  }
  pool_expire(m);
  if (pool_find(m, txid) < m->nftxs) {
    snprintf(log, cap, "waiting for a meta block");
    return ST_EAGAIN;
  }
  const st_meta__fres_t *r = ring_find(m, txid);
  if (!r) {
    snprintf(log, cap, "no file tx with this id is known here");
    return ST_ENOENT;
  }
  snprintf(log, cap, "%s", r->log);
  return r->code;
}

/* ---- frames on ST_CH_META ---- */

int st_meta__slice_check(st_meta_t *m, const uint8_t peer[ST_ADDR_LEN], const uint8_t *data,
                         size_t len, st_buf_t *answer) {
  st_meta__rq_t r;
  if (len > CHECK_MAX)
    return ST_EPARSE;
  Stratos__Storage__SliceCheck *c = stratos__storage__slice_check__unpack(NULL, len, data);
  if (!c)
    return ST_EPARSE;
  if (c->n_roots > ST_RES_CHECK_MAX) {
    stratos__storage__slice_check__free_unpacked(c, NULL);
    return ST_EPARSE;
  }
  protobuf_c_boolean *keep = calloc(c->n_roots ? c->n_roots : 1, sizeof(*keep));
  int rc = keep ? st_meta__rq_open(m, &r) : ST_ENOMEM;
  bool open = rc == 0;
  for (size_t i = 0; rc == 0 && i < c->n_roots; i++) {
    uint8_t k[1 + ST_ADDR_LEN + ST_HASH_LEN];
    const uint8_t *v;
    size_t n;
    if (c->roots[i].len != ST_HASH_LEN)
      continue;
    k[0] = ST_META__K_HOLDER;
    memcpy(k + 1, peer, ST_ADDR_LEN);
    memcpy(k + 1 + ST_ADDR_LEN, c->roots[i].data, ST_HASH_LEN);
    int x = st_chain__ov_read(&r.ov, ST_META__SP_REC, k, sizeof(k), &v, &n);
    if (x == 0) {
      keep[i] = true;
      continue;
    }
    /* A slice assigned to the peer by a pending repair: new(20) first. */
    k[0] = ST_META__K_REPAIR;
    memcpy(k + 1, c->roots[i].data, ST_HASH_LEN);
    x = st_chain__ov_read(&r.ov, ST_META__SP_REC, k, 1 + ST_HASH_LEN, &v, &n);
    keep[i] = x == 0 && n >= ST_ADDR_LEN && memcmp(v, peer, ST_ADDR_LEN) == 0;
    if (x != 0 && x != ST_ENOENT)
      rc = x;
  }
  if (open)
    st_meta__rq_close(&r);
  if (rc == 0) {
    Stratos__Storage__SliceCheck a;
    stratos__storage__slice_check__init(&a);
    a.req = c->req;
    a.n_roots = c->n_roots;
    a.roots = c->roots;
    a.n_keep = c->n_roots;
    a.keep = keep;
    size_t n = stratos__storage__slice_check__get_packed_size(&a);
    if ((rc = st_buf_reserve(answer, n)) == 0) {
      stratos__storage__slice_check__pack(&a, answer->data + answer->len);
      answer->len += n;
    }
  }
  free(keep);
  stratos__storage__slice_check__free_unpacked(c, NULL);
  return rc;
}

static int on_repaired(st_meta_t *m, const uint8_t *data, size_t len) {
  if (len > REPAIRED_MAX)
    return ST_EPARSE;
  Stratos__Storage__SliceRepair *sr = stratos__storage__slice_repair__unpack(NULL, len, data);
  if (!sr)
    return ST_EPARSE;
  if (sr->root.len != ST_HASH_LEN || !m->node || repair_pooled(m, sr->root.data)) {
    stratos__storage__slice_repair__free_unpacked(sr, NULL);
    return 0;
  }
  Stratos__Storage__FileOp op;
  stratos__storage__file_op__init(&op);
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_REPAIR;
  op.repair = sr;
  size_t n = stratos__storage__file_op__get_packed_size(&op);
  uint8_t *body = malloc(n ? n : 1);
  int rc = ST_ENOMEM;
  if (body) {
    uint8_t txid[ST_HASH_LEN];
    char log[ST_META__LOG_MAX];
    stratos__storage__file_op__pack(&op, body);
    rc = submit(m, &m->node->node_key, body, n, txid, log, sizeof(log));
    if (rc != 0)
      ST_DEBUG("meta", "slice repair not submitted: %s", log);
    rc = 0; /* the holder's news may be stale: not its fault */
    free(body);
  }
  stratos__storage__slice_repair__free_unpacked(sr, NULL);
  return rc;
}

int st_meta__files_frame(st_meta_t *m, const uint8_t peer[ST_ADDR_LEN], uint32_t type,
                         const uint8_t *data, size_t len) {
  if (type == ST_RES_CHECK) {
    st_buf_t a;
    st_buf_init(&a, CHECK_MAX);
    int rc = st_meta__slice_check(m, peer, data, len, &a);
    if (rc == 0 && m->node && m->node->bus) {
      int src = st_res_send(m->node, ST_MOD_META, peer, ST_CH_RESOURCE, ST_RES_CHECKED, a.data,
                            a.len);
      if (src != 0)
        ST_DEBUG("meta", "slice check answer not sent: %s", st_strerror(src));
    }
    st_buf_free(&a);
    return rc;
  }
  if (type == ST_RES_REPAIRED)
    return on_repaired(m, data, len);
  if (type == ST_RES_BLOCK) {
    st_meta__audit_frame(m, peer, data, len);
    return 0;
  }
  if (type == ST_RES_LOST) {
    st_meta__audit_lost(m, peer, data, len);
    return 0;
  }
  return 0; /* other frames of the channel are not ours */
}
