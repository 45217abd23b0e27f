/* Proof-of-Traffic on the meta chain (docs/traffic.md).
 *
 * Serving nodes submit the receipts their receivers signed, in batches
 * signed by their own node key (ReceiptSubmit in a MetaTx). A block
 * applies each receipt on its own: a receipt that fails a check is
 * skipped and counted as refused, so one bad receipt never costs the
 * block; only a submitter's bad signature (or an oversized batch) makes
 * a block invalid. Each session (16 random bytes the receiver chose)
 * lives in one epoch and keeps the bytes counted so far: a receipt
 * counts only its growth over them, so replays count nothing.
 *
 * Epoch e covers block times [genesis + e·epoch_ms, genesis +
 * (e+1)·epoch_ms). The first block of a later epoch writes the volume
 * report of every finished epoch not yet reported (normally one), built
 * from the epoch's volume records sorted by node, and deletes those
 * records and the epoch's sessions.
 *
 * Outside the state: the pool of receipt txs waiting for a block, an
 * earnings log of the receipts counted by recent blocks (in memory, the
 * last ST_META__EARN_LOG; lost on restart) and counters; report.c signs
 * and relays the reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_meta.h>
#include <stratos/st_net.h>
#include <stratos/st_rpc.h>
#include "meta/meta_private.h"
#include "meta.pb-c.h"
#include "traffic.pb-c.h"

#define SESSION_LEN 16
#define SESSION_VAL (ST_ADDR_LEN + 8 + 8)
#define KIND_MAX 2
/* A receipt (body, key, signature) is at most this large. */
#define RECEIPT_MAX 512
#define RECEIPT_BODY_MAX 256

/* ---- epochs ---- */

uint64_t st_meta__epoch_of(const st_meta_t *m, int64_t time_ms) {
  int64_t ms = m->gen.p.epoch_ms > 0 ? m->gen.p.epoch_ms : 600000;
  if (time_ms <= m->gen.genesis_time_ms)
    return 0;
  return (uint64_t)((time_ms - m->gen.genesis_time_ms) / ms);
}

static int next_report_get(st_chain__overlay_t *ov, uint64_t *e, bool *set) {
  uint8_t k = ST_META__K_EPOCH;
  const uint8_t *p;
  size_t n;
  int rc = st_chain__ov_read(ov, ST_META__SP_REC, &k, 1, &p, &n);
  *e = 0;
  *set = rc == 0;
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (n != 8)
    return ST_ECORRUPT;
  *e = st_chain__rd64(p);
  return 0;
}

static int next_report_put(st_chain__overlay_t *ov, uint64_t e) {
  uint8_t k = ST_META__K_EPOCH;
  return st_chain__ov_write_u64(ov, ST_META__SP_REC, &k, 1, e);
}

/* ---- known nodes ---- */

/* Whether pk belongs to a meta authority or an active resource node. */
static int known_signer(st_chain__overlay_t *ov, const uint8_t pk[ST_PUBKEY_LEN], bool *known) {
  uint8_t a[ST_ADDR_LEN], k[1 + ST_ADDR_LEN];
  const uint8_t *p;
  size_t n;
  st_meta__rnode_t r;
  *known = false;
  st_addr_from_pubkey(pk, a);
  k[0] = ST_META__K_AUTH;
  memcpy(k + 1, a, ST_ADDR_LEN);
  int rc = st_chain__ov_read(ov, ST_META__SP_REC, k, sizeof(k), &p, &n);
  if (rc == 0 && n == ST_PUBKEY_LEN && memcmp(p, pk, ST_PUBKEY_LEN) == 0) {
    *known = true;
    return 0;
  }
  if (rc != 0 && rc != ST_ENOENT)
    return rc;
  rc = st_meta__rnode_get(ov, a, &r);
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  *known = r.status == ST_NODE_ACTIVE && memcmp(r.pubkey, pk, ST_PUBKEY_LEN) == 0;
  return 0;
}

/* ---- the submitter's batch ---- */

int st_meta__rcpt_decode(st_meta_t *m, const Stratos__Traffic__ReceiptSubmit *s,
                         uint8_t server[ST_ADDR_LEN], Stratos__Traffic__ReceiptBatch **batch,
                         char *log, size_t cap) {
  *batch = NULL;
  if (s->pubkey.len != ST_PUBKEY_LEN || s->signature.len != ST_SIG_LEN) {
    snprintf(log, cap, "a receipt submission needs a %d-byte key and a %d-byte signature",
             ST_PUBKEY_LEN, ST_SIG_LEN);
    return ST_EINVAL;
  }
  if (s->batch.len == 0 || s->batch.len > ST_META__RCPT_TX_MAX) {
    snprintf(log, cap, "a receipt batch is 1 to %u bytes", ST_META__RCPT_TX_MAX);
    return ST_E2BIG;
  }
  if (st_verify(s->pubkey.data, ST_DOM_RECEIPT, m->gen.chain_id, s->batch.data, s->batch.len,
                s->signature.data) != 0) {
    snprintf(log, cap, "bad signature of the receipt submission");
    return ST_EBADSIG;
  }
  *batch = stratos__traffic__receipt_batch__unpack(NULL, s->batch.len, s->batch.data);
  if (!*batch) {
    snprintf(log, cap, "cannot decode the receipt batch");
    return ST_EPARSE;
  }
  if ((*batch)->n_receipts == 0 || (*batch)->n_receipts > ST_META__RCPT_MAX) {
    stratos__traffic__receipt_batch__free_unpacked(*batch, NULL);
    *batch = NULL;
    snprintf(log, cap, "a receipt batch holds 1 to %d receipts", ST_META__RCPT_MAX);
    return ST_E2BIG;
  }
  st_addr_from_pubkey(s->pubkey.data, server);
  return 0;
}

/* ---- one receipt ---- */

/* The earnings of a receipt counted by the block being finalized. */
typedef struct earn {
  uint8_t server[ST_ADDR_LEN], receiver[ST_ADDR_LEN], payer[ST_ADDR_LEN], file[ST_HASH_LEN];
  uint64_t epoch, bytes;
  st_u128 noz;
  uint32_t kind;
  int64_t height;
} earn_t;

struct st_meta__traffic {
  /* The pool: encoded MetaTxs, in arrival order. */
  struct rtx {
    uint8_t hash[ST_HASH_LEN];
    uint8_t *tx;
    size_t len;
    int64_t added_ms;
  } pool[ST_META__RCPT_POOL];
  size_t npool;
  /* Hashes of the receipt txs the block being finalized carried. */
  uint8_t (*done)[ST_HASH_LEN];
  size_t ndone, done_cap;
  /* The block's counted receipts, then the log ring. */
  earn_t *pend;
  size_t npend, pend_cap;
  earn_t *log;
  size_t log_n, log_next;
  st_meta__tstat_t blk;
  uint64_t submitted, refused;
  st_metric_t *m_sub, *m_ref;
};

static struct st_meta__traffic *tr_of(st_meta_t *m) {
  if (!m->tr) {
    m->tr = calloc(1, sizeof(*m->tr));
    if (!m->tr)
      abort();
    if (m->node && m->node->metrics) {
      m->tr->m_sub = st_metrics_counter(m->node->metrics,
                                        "stratos_traffic_receipts_submitted_total",
                                        "Receipts counted by the meta chain", "");
      m->tr->m_ref = st_metrics_counter(m->node->metrics,
                                        "stratos_traffic_receipts_refused_total",
                                        "Receipts the meta chain refused", "");
      /* The gateway's (src/gateway/download.c), shown from the start. */
      st_metrics_counter(m->node->metrics, "stratos_traffic_receipts_signed_total",
                         "Traffic receipts this gateway signed for holders.", "");
    }
  }
  return m->tr;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pend_push(struct st_meta__traffic *t, const earn_t *e) {
  if (t->npend == t->pend_cap) {
    size_t nc = t->pend_cap ? 2 * t->pend_cap : 64;
    earn_t *v = realloc(t->pend, nc * sizeof(*v));
    if (!v)
      return ST_ENOMEM;
    t->pend = v;
    t->pend_cap = nc;
  }
  t->pend[t->npend++] = *e;
  return 0;
}

/* Checks and counts one receipt; ST_EPERM/ST_EINVAL/ST_EBADSIG/ST_EPARSE:
 * refused (log says why), other non-zero codes: the node's own failure. */
static int receipt_apply(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                         const uint8_t server[ST_ADDR_LEN], const Stratos__Traffic__Receipt *r,
                         char *log, size_t cap) {
  Stratos__Traffic__ReceiptBody *body = NULL;
  bool known;
  int rc;
  if (r->signer.len != ST_PUBKEY_LEN || r->signature.len != ST_SIG_LEN ||
      r->body.len == 0 || r->body.len > RECEIPT_BODY_MAX) {
    snprintf(log, cap, "a receipt needs a key, a signature and a body of at most %d bytes",
             RECEIPT_BODY_MAX);
    return ST_EINVAL;
  }
  if ((rc = known_signer(ov, r->signer.data, &known)) != 0)
    return rc;
  if (!known) {
    snprintf(log, cap, "the receipt's signer is neither a meta authority nor an active "
                       "resource node");
    return ST_EPERM;
  }
  if (st_verify(r->signer.data, ST_DOM_RECEIPT, m->gen.chain_id, r->body.data, r->body.len,
                r->signature.data) != 0) {
    snprintf(log, cap, "bad receipt signature");
    return ST_EBADSIG;
  }
  body = stratos__traffic__receipt_body__unpack(NULL, r->body.len, r->body.data);
  if (!body) {
    snprintf(log, cap, "cannot decode the receipt body");
    return ST_EPARSE;
  }
  uint8_t receiver[ST_ADDR_LEN];
  st_addr_from_pubkey(r->signer.data, receiver);
  uint64_t eb = st_meta__epoch_of(m, b->time_ms), next;
  bool set;
  st_meta__rnode_t srv;
  if ((rc = next_report_get(ov, &next, &set)) != 0 ||
      ((rc = st_meta__rnode_get(ov, server, &srv)) != 0 && rc != ST_ENOENT)) {
    stratos__traffic__receipt_body__free_unpacked(body, NULL);
    return rc;
  }
  bool mirrored = rc == 0;
  rc = ST_EINVAL;
  if (body->server.len != ST_ADDR_LEN || memcmp(body->server.data, server, ST_ADDR_LEN) != 0)
    snprintf(log, cap, "the receipt names another server than its submitter");
  else if (!mirrored)
    snprintf(log, cap, "the server is no registered resource node");
  else if (memcmp(receiver, server, ST_ADDR_LEN) == 0)
    snprintf(log, cap, "a node cannot sign receipts for itself");
  else if (body->payer.len != ST_ADDR_LEN || body->file.len != ST_HASH_LEN ||
           body->session.len != SESSION_LEN)
    snprintf(log, cap, "a receipt needs a 20-byte payer, a 32-byte file and a 16-byte "
                       "session");
  else if (body->kind > KIND_MAX)
    snprintf(log, cap, "unknown receipt kind %u", (unsigned)body->kind);
  else if (body->epoch != eb && body->epoch + 1 != eb)
    snprintf(log, cap, "receipt of epoch %llu in epoch %llu", (unsigned long long)body->epoch,
             (unsigned long long)eb);
  else
    rc = 0;
  if (rc != 0) {
    stratos__traffic__receipt_body__free_unpacked(body, NULL);
    return rc;
  }
  /* The session: one server, one epoch, the bytes counted so far. */
  uint8_t k[1 + SESSION_LEN], v[SESSION_VAL];
  const uint8_t *p;
  size_t n;
  uint64_t counted = 0;
  k[0] = ST_META__K_SESSION;
  memcpy(k + 1, body->session.data, SESSION_LEN);
  rc = st_chain__ov_read(ov, ST_META__SP_REC, k, sizeof(k), &p, &n);
  if (rc == 0) {
    if (n != SESSION_VAL) {
      rc = ST_ECORRUPT;
    } else if (memcmp(p, server, ST_ADDR_LEN) != 0 ||
               st_chain__rd64(p + ST_ADDR_LEN) != body->epoch) {
      snprintf(log, cap, "the session belongs to another server or epoch");
      rc = ST_EINVAL;
    } else {
      counted = st_chain__rd64(p + ST_ADDR_LEN + 8);
    }
  } else if (rc == ST_ENOENT) {
    rc = 0;
  }
  if (rc != 0) {
    stratos__traffic__receipt_body__free_unpacked(body, NULL);
    return rc;
  }
  if (body->bytes <= counted) {
    snprintf(log, cap, "nothing new in the session (%llu bytes counted)",
             (unsigned long long)counted);
    stratos__traffic__receipt_body__free_unpacked(body, NULL);
    return ST_EEXIST;
  }
  uint64_t growth = body->bytes - counted;
  /* Bytes of an epoch already reported count in the block's epoch. */
  uint64_t vol_epoch = set && body->epoch < next ? eb : body->epoch;
  memcpy(v, server, ST_ADDR_LEN);
  st_chain__be64(v + ST_ADDR_LEN, body->epoch);
  st_chain__be64(v + ST_ADDR_LEN + 8, body->bytes);
  rc = st_chain__ov_write(ov, ST_META__SP_REC, k, sizeof(k), v, sizeof(v));
  st_u128 paid = 0;
  if (rc == 0 && body->kind == 0) {
    /* Downloads: the payer pays what it can; the server earns that. */
    st_u128 noz = (st_u128)growth * m->gen.p.download_noz_per_byte, have;
    if ((rc = st_meta__oz_get(ov, body->payer.data, &have)) == 0) {
      paid = noz < have ? noz : have;
      if (paid > 0)
        rc = st_meta__oz_debit(ov, body->payer.data, paid);
    }
    if (rc == 0 && paid > 0) {
      uint8_t vk[1 + 8 + ST_ADDR_LEN];
      st_u128 vol;
      vk[0] = ST_META__K_VOLUME;
      st_chain__be64(vk + 1, vol_epoch);
      memcpy(vk + 9, server, ST_ADDR_LEN);
      if ((rc = st_chain__ov_read_u128(ov, ST_META__SP_REC, vk, sizeof(vk), &vol)) == 0)
        rc = st_chain__ov_write_u128(ov, ST_META__SP_REC, vk, sizeof(vk), vol + paid);
    }
    if (rc == 0 && paid < noz)
      snprintf(log, cap, "the payer could pay only part of the receipt");
  }
  if (rc == 0 && b->results) {
    earn_t e;
    memset(&e, 0, sizeof(e));
    memcpy(e.server, server, ST_ADDR_LEN);
    memcpy(e.receiver, receiver, ST_ADDR_LEN);
    memcpy(e.payer, body->payer.data, ST_ADDR_LEN);
    memcpy(e.file, body->file.data, ST_HASH_LEN);
    e.epoch = vol_epoch;
    e.bytes = growth;
    e.noz = paid;
    e.kind = body->kind;
    e.height = b->height;
    rc = pend_push(tr_of(m), &e);
  }
  stratos__traffic__receipt_body__free_unpacked(body, NULL);
  return rc;
}

int st_meta__rcpt_block(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                        const Stratos__Traffic__ReceiptSubmit *s, st_meta__tstat_t *stat,
                        char *log, size_t cap) {
  uint8_t server[ST_ADDR_LEN];
  Stratos__Traffic__ReceiptBatch *batch;
  int rc = st_meta__rcpt_decode(m, s, server, &batch, log, cap);
  if (rc != 0 || b->time_ms == 0) {
    if (batch)
      stratos__traffic__receipt_batch__free_unpacked(batch, NULL);
    return rc;
  }
  for (size_t i = 0; i < batch->n_receipts && rc == 0; i++) {
    char why[ST_META__LOG_MAX] = "";
    int r = receipt_apply(m, ov, b, server, batch->receipts[i], why, sizeof(why));
    if (r == 0) {
      stat->counted++;
      if (why[0])
        ST_DEBUG("meta", "receipt %zu: %s", i, why);
    } else if (r == ST_EEXIST) {
      /* A replay or an old receipt of a session: nothing to count. */
    } else if (st_meta__fatal(r)) {
      rc = r;
    } else {
      stat->refused++;
      ST_DEBUG("meta", "receipt %zu refused: %s", i, why);
    }
  }
  stratos__traffic__receipt_batch__free_unpacked(batch, NULL);
  return rc;
}

/* ---- the epoch boundary ---- */

static int build_report(st_meta_t *m, st_chain__overlay_t *ov, uint64_t epoch, int64_t height,
                        st_buf_t *out) {
  st_chain__recs_t s = {0};
  uint8_t pre[1 + 8];
  pre[0] = ST_META__K_VOLUME;
  st_chain__be64(pre + 1, epoch);
  int rc = st_chain__ov_collect(ov, ST_META__SP_REC, pre, sizeof(pre), ST_CHAIN__NOT_DUE, 0, &s);
  Stratos__Traffic__VolumeReport rep;
  Stratos__Traffic__VolumeEntry *ents = NULL, **pents = NULL;
  char(*vols)[ST_U128_STR_MAX] = NULL;
  uint8_t(*wallets)[ST_ADDR_LEN] = NULL;
  char total[ST_U128_STR_MAX];
  st_u128 sum = 0;
  stratos__traffic__volume_report__init(&rep);
  if (rc == 0 && s.n) {
    ents = calloc(s.n, sizeof(*ents));
    pents = calloc(s.n, sizeof(*pents));
    vols = calloc(s.n, sizeof(*vols));
    wallets = calloc(s.n, sizeof(*wallets));
    if (!ents || !pents || !vols || !wallets)
      rc = ST_ENOMEM;
  }
  for (size_t i = 0; i < s.n && rc == 0; i++) {
    st_meta__rnode_t r;
    if (s.v[i].klen != sizeof(pre) + ST_ADDR_LEN || s.v[i].vlen != 16) {
      rc = ST_ECORRUPT;
      break;
    }
    const uint8_t *node = s.v[i].key + sizeof(pre);
    st_u128 vol = st_chain__get128(s.v[i].val);
    int g = st_meta__rnode_get(ov, node, &r);
    if (g == 0)
      memcpy(wallets[i], r.owner, ST_ADDR_LEN);
    else if (g == ST_ENOENT)
      memcpy(wallets[i], node, ST_ADDR_LEN); /* not mirrored: cannot happen for a server */
    else
      rc = g;
    sum += vol;
    st_u128_format(vol, vols[i]);
    stratos__traffic__volume_entry__init(&ents[i]);
    ents[i].node.data = (uint8_t *)(uintptr_t)node;
    ents[i].node.len = ST_ADDR_LEN;
    ents[i].wallet.data = wallets[i];
    ents[i].wallet.len = ST_ADDR_LEN;
    ents[i].volume = vols[i];
    pents[i] = &ents[i];
  }
  if (rc == 0) {
    st_u128_format(sum, total);
    rep.meta_chain_id = m->gen.chain_id;
    rep.epoch = epoch;
    rep.meta_height = (uint64_t)height;
    rep.n_entries = s.n;
    rep.entries = pents;
    rep.total = total;
    size_t n = stratos__traffic__volume_report__get_packed_size(&rep);
    if ((rc = st_buf_reserve(out, n)) == 0) {
      stratos__traffic__volume_report__pack(&rep, out->data + out->len);
      out->len += n;
    }
  }
  for (size_t i = 0; i < s.n && rc == 0; i++)
    rc = st_chain__ov_del(ov, ST_META__SP_REC, s.v[i].key, s.v[i].klen);
  free(ents);
  free(pents);
  free(vols);
  free(wallets);
  st_chain__recs_free(&s);
  return rc;
}

/* Sessions of epochs before `before` can count nothing more. */
static int sessions_sweep(st_chain__overlay_t *ov, uint64_t before) {
  st_chain__recs_t s = {0};
  uint8_t pre = ST_META__K_SESSION;
  int rc = st_chain__ov_collect(ov, ST_META__SP_REC, &pre, 1, ST_CHAIN__NOT_DUE, 0, &s);
  for (size_t i = 0; i < s.n && rc == 0; i++) {
    if (s.v[i].vlen != SESSION_VAL) {
      rc = ST_ECORRUPT;
      break;
    }
    if (st_chain__rd64(s.v[i].val + ST_ADDR_LEN) < before)
      rc = st_chain__ov_del(ov, ST_META__SP_REC, s.v[i].key, s.v[i].klen);
  }
  st_chain__recs_free(&s);
  return rc;
}

int st_meta__traffic_end_block(st_meta_t *m, st_chain__overlay_t *ov, st_meta__blk_t *b,
                               size_t *reported) {
  uint64_t next;
  bool set;
  *reported = 0;
  uint64_t eb = st_meta__epoch_of(m, b->time_ms);
  int rc = next_report_get(ov, &next, &set);
  if (rc != 0)
    return rc;
  if (!set) {
    /* The chain's first block: epochs before it have nothing to report. */
    return next_report_put(ov, eb);
  }
  uint64_t first = next;
  while (next < eb && *reported < ST_META__REPORTS_PER_BLOCK && rc == 0) {
    st_buf_t rep;
    uint8_t k[1 + 8];
    st_buf_init(&rep, 1u << 24);
    rc = build_report(m, ov, next, b->height, &rep);
    k[0] = ST_META__K_REPORT;
    st_chain__be64(k + 1, next);
    if (rc == 0)
      rc = st_chain__ov_write(ov, ST_META__SP_REC, k, sizeof(k), rep.data, rep.len);
    st_buf_free(&rep);
    if (rc == 0) {
      ST_INFO("meta", "height %lld: volume report of epoch %llu committed", (long long)b->height,
              (unsigned long long)next);
      next++;
      (*reported)++;
    }
  }
  if (rc == 0 && *reported)
    rc = next_report_put(ov, next);
  if (rc == 0 && *reported && b->results)
    st_meta__reports_made(m, first, *reported);
  /* A session counts in its own epoch and the next; older ones go. */
  if (rc == 0 && *reported && eb >= 1)
    rc = sessions_sweep(ov, eb - 1);
  return rc;
}

int st_meta__report_get(st_chain__overlay_t *ov, uint64_t epoch, const uint8_t **p, size_t *n) {
  uint8_t k[1 + 8];
  k[0] = ST_META__K_REPORT;
  st_chain__be64(k + 1, epoch);
  return st_chain__ov_read(ov, ST_META__SP_REC, k, sizeof(k), p, n);
}

/* ---- the pool ---- */

static void gossip(st_meta_t *m, const uint8_t *tx, size_t len, const uint8_t *except) {
  static const uint8_t everyone[ST_ADDR_LEN];
  if (!m->node || !m->node->bus)
    return;
  st_net_out_t *out = st_net_out_new(everyone, ST_CH_META_MEMPOOL, ST_META__FRAME_RCPT, tx, len);
  if (except)
    memcpy(out->except, except, ST_ADDR_LEN);
  int rc = st_net_send(m->node->bus, ST_MOD_META, out);
  if (rc != 0)
    ST_DEBUG("meta", "receipts not passed on: %s", st_strerror(rc));
}

static void pool_expire(struct st_meta__traffic *t, int64_t now) {
  size_t k = 0;
  for (size_t i = 0; i < t->npool; i++) {
    if (now - t->pool[i].added_ms > ST_META__POOL_TTL_MS)
      free(t->pool[i].tx);
    else
      t->pool[k++] = t->pool[i];
  }
  t->npool = k;
}

int st_meta__rcpt_receive(st_meta_t *m, const uint8_t *tx, size_t len, const uint8_t *peer,
                          char *log, size_t cap) {
  struct st_meta__traffic *t = tr_of(m);
  uint8_t server[ST_ADDR_LEN], h[ST_HASH_LEN];
  Stratos__Traffic__ReceiptBatch *batch = NULL;
  log[0] = '\0';
  if (len == 0 || len > ST_META__RCPT_TX_MAX + 1024) {
    snprintf(log, cap, "a receipt tx is 1 to %u bytes", ST_META__RCPT_TX_MAX + 1024);
    return ST_E2BIG;
  }
  Stratos__Meta__MetaTx *mt = stratos__meta__meta_tx__unpack(NULL, len, tx);
  if (!mt || mt->tx_case != STRATOS__META__META_TX__TX_RECEIPTS) {
    if (mt)
      stratos__meta__meta_tx__free_unpacked(mt, NULL);
    snprintf(log, cap, "not a receipt submission");
    return ST_EPARSE;
  }
  int rc = st_meta__rcpt_decode(m, mt->receipts, server, &batch, log, cap);
  if (batch)
    stratos__traffic__receipt_batch__free_unpacked(batch, NULL);
  stratos__meta__meta_tx__free_unpacked(mt, NULL);
  if (rc != 0)
    return rc;
  if (m->store) {
    st_txn_t *txn;
    st_chain__overlay_t ov;
    st_meta__rnode_t r;
    if ((rc = st_txn_begin(m->store, false, &txn)) != 0)
      return rc;
    st_chain__ov_init(&ov, &m->st, txn);
    rc = st_meta__rnode_get(&ov, server, &r);
    st_chain__ov_free(&ov);
    st_txn_abort(txn);
    if (rc == ST_ENOENT) {
      snprintf(log, cap, "receipts from a node that is no registered resource node");
      return ST_EPERM;
    }
    if (rc != 0)
      return rc;
  }
  st_hash(ST_DOM_META_TX, tx, len, h);
  pool_expire(t, mono_ms());
  for (size_t i = 0; i < t->npool; i++)
    if (memcmp(t->pool[i].hash, h, ST_HASH_LEN) == 0) {
      snprintf(log, cap, "the receipt submission is pooled already");
      return ST_EEXIST;
    }
  if (t->npool == ST_META__RCPT_POOL) {
    snprintf(log, cap, "the receipt pool is full");
    return ST_EFULL;
  }
  uint8_t *copy = malloc(len);
  if (!copy)
    return ST_ENOMEM;
  memcpy(copy, tx, len);
  struct rtx *e = &t->pool[t->npool++];
  memcpy(e->hash, h, ST_HASH_LEN);
  e->tx = copy;
  e->len = len;
  e->added_ms = mono_ms();
  gossip(m, tx, len, peer);
  if (m->cons)
    st_cons_txs_available(m->cons);
  return 0;
}

int st_meta__traffic_propose(st_meta_t *m, size_t max_bytes, size_t max_txs, size_t *bytes,
                             st_cons_txlist_t *out) {
  struct st_meta__traffic *t = tr_of(m);
  int rc = 0;
  pool_expire(t, mono_ms());
  for (size_t i = 0; i < t->npool && rc == 0 && out->n < max_txs; i++) {
    if (*bytes + t->pool[i].len > max_bytes)
      continue;
    rc = st_cons_txlist_add(out, t->pool[i].tx, t->pool[i].len);
    *bytes += t->pool[i].len;
  }
  return rc;
}

bool st_meta__traffic_pending(st_meta_t *m) {
  return m->tr && m->tr->npool > 0;
}

int st_meta__traffic_done(st_meta_t *m, const uint8_t *tx, size_t len) {
  struct st_meta__traffic *t = tr_of(m);
  if (t->ndone == t->done_cap) {
    size_t nc = t->done_cap ? 2 * t->done_cap : 16;
    void *v = realloc(t->done, nc * ST_HASH_LEN);
    if (!v)
      return ST_ENOMEM;
    t->done = v;
    t->done_cap = nc;
  }
  st_hash(ST_DOM_META_TX, tx, len, t->done[t->ndone++]);
  return 0;
}

void st_meta__traffic_begin(st_meta_t *m) {
  struct st_meta__traffic *t = tr_of(m);
  t->ndone = 0;
  t->npend = 0;
  memset(&t->blk, 0, sizeof(t->blk));
  st_meta__reports_made(m, 0, 0);
}

st_meta__tstat_t *st_meta__traffic_stat(st_meta_t *m) {
  return &tr_of(m)->blk;
}

void st_meta__traffic_committed(st_meta_t *m, int64_t height) {
  struct st_meta__traffic *t = tr_of(m);
  (void)height;
  size_t k = 0;
  for (size_t i = 0; i < t->npool; i++) {
    bool gone = false;
    for (size_t j = 0; j < t->ndone && !gone; j++)
      gone = memcmp(t->done[j], t->pool[i].hash, ST_HASH_LEN) == 0;
    if (gone)
      free(t->pool[i].tx);
    else
      t->pool[k++] = t->pool[i];
  }
  t->npool = k;
  t->ndone = 0;
  if (t->npend && !t->log && !(t->log = calloc(ST_META__EARN_LOG, sizeof(*t->log))))
    t->npend = 0;
  for (size_t i = 0; i < t->npend; i++) {
    t->log[t->log_next] = t->pend[i];
    t->log_next = (t->log_next + 1) % ST_META__EARN_LOG;
    if (t->log_n < ST_META__EARN_LOG)
      t->log_n++;
  }
  t->npend = 0;
  t->submitted += t->blk.counted;
  t->refused += t->blk.refused;
  if (t->m_sub)
    st_metric_add(t->m_sub, (double)t->blk.counted);
  if (t->m_ref)
    st_metric_add(t->m_ref, (double)t->blk.refused);
  memset(&t->blk, 0, sizeof(t->blk));
  st_meta__reports_committed(m);
}

void st_meta__traffic_free(st_meta_t *m) {
  struct st_meta__traffic *t = m->tr;
  st_meta__reports_free(m);
  if (!t)
    return;
  for (size_t i = 0; i < t->npool; i++)
    free(t->pool[i].tx);
  free(t->done);
  free(t->pend);
  free(t->log);
  free(t);
  m->tr = NULL;
}

/* ---- JSON-RPC ---- */

static int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *ju128(st_u128 v) {
  char b[ST_U128_STR_MAX];
  st_u128_format(v, b);
  return json_string(b);
}

static json_t *jhex(const uint8_t *p, size_t n) {
  char h[2 * ST_HASH_LEN + 1];
  st_hex_encode(p, n, h, sizeof(h));
  return json_string(h);
}

static json_t *jaddr(const char *hrp, const uint8_t a[ST_ADDR_LEN]) {
  char s[ST_ADDR_STR_MAX];
  st_addr_encode(hrp, a, s, sizeof(s));
  return json_string(s);
}

typedef struct vol_ctx {
  st_u128 sum;
  json_t *arr;       /* NULL: only the sum */
  size_t plen;
} vol_ctx_t;

static int vol_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  vol_ctx_t *c = ud;
  if (kl != 1 + 8 + ST_ADDR_LEN || vl != 16)
    return ST_ECORRUPT;
  st_u128 x = st_chain__get128(v);
  c->sum += x;
  if (c->arr && json_array_size(c->arr) < 1000)
    json_array_append_new(c->arr, json_pack("{s:I,s:o}", "epoch",
                                            (json_int_t)st_chain__rd64((const uint8_t *)k + 1),
                                            "volume", ju128(x)));
  return 0;
}

/* The epoch of the latest committed block, from the engine's status. */
static int epoch_now(st_meta_t *m, uint64_t *epoch, int64_t *start, int64_t *ends) {
  int64_t now = wall_ms();
  int64_t ms = m->gen.p.epoch_ms;
  *epoch = st_meta__epoch_of(m, now);
  *start = m->gen.genesis_time_ms + (int64_t)*epoch * ms;
  *ends = *start + ms;
  return 0;
}

int st_meta_epoch(struct st_node *node, uint64_t *epoch, int64_t *ends_ms) {
  st_meta_t *m = node ? node->meta : NULL;
  int64_t start, ends;
  if (!m)
    return ST_ENOENT;
  epoch_now(m, epoch, &start, &ends);
  if (ends_ms)
    *ends_ms = ends;
  return 0;
}

static bool check_params(st_rpc_call_t *call, json_t *params, const char *const *allowed) {
  char err[192];
  if (st_rpc_check_params(params, allowed, err, sizeof(err)) != 0) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, err, NULL);
    return false;
  }
  return true;
}

static void m_epoch(st_rpc_call_t *call, json_t *params, void *ud) {
  st_meta_t *m = ud;
  uint64_t e, next = 0;
  int64_t start, ends;
  bool set = false;
  if (!check_params(call, params, NULL))
    return;
  epoch_now(m, &e, &start, &ends);
  st_meta__rq_t r;
  vol_ctx_t c = {0, NULL, 0};
  int rc = st_meta__rq_open(m, &r);
  if (rc == 0) {
    uint8_t pre[1 + 8];
    pre[0] = ST_META__K_VOLUME;
    st_chain__be64(pre + 1, e);
    rc = next_report_get(&r.ov, &next, &set);
    if (rc == 0)
      rc = st_chain__ov_scan(&r.ov, ST_META__SP_REC, pre, sizeof(pre), vol_cb, &c);
    st_meta__rq_close(&r);
  }
  if (rc < 0) {
    st_rpc_error(call, ST_RPC_INTERNAL_ERROR, "cannot read the meta state", NULL);
    return;
  }
  int64_t left = ends - wall_ms();
  st_rpc_result(call, json_pack("{s:I,s:I,s:I,s:I,s:I,s:o,s:o}", "epoch", (json_int_t)e,
                                "epoch_ms", (json_int_t)m->gen.p.epoch_ms, "started_ms",
                                (json_int_t)start, "ends_ms", (json_int_t)ends, "time_left_ms",
                                (json_int_t)(left > 0 ? left : 0), "volume_so_far", ju128(c.sum),
                                "last_reported",
                                set && next > 0 ? json_integer((json_int_t)(next - 1))
                                                : json_null()));
}

int st_meta__report_json(const uint8_t *p, size_t n, json_t **out) {
  Stratos__Traffic__VolumeReport *v = stratos__traffic__volume_report__unpack(NULL, n, p);
  if (!v)
    return ST_ECORRUPT;
  json_t *ents = json_array();
  for (size_t i = 0; i < v->n_entries; i++) {
    Stratos__Traffic__VolumeEntry *e = v->entries[i];
    if (e->node.len != ST_ADDR_LEN || e->wallet.len != ST_ADDR_LEN)
      continue;
    json_array_append_new(ents, json_pack("{s:o,s:o,s:s}", "node", jaddr(ST_HRP_NODE, e->node.data),
                                          "wallet", jaddr(ST_HRP_WALLET, e->wallet.data),
                                          "volume", e->volume));
  }
  *out = json_pack("{s:s,s:I,s:I,s:o,s:s}", "meta_chain_id", v->meta_chain_id, "epoch",
                   (json_int_t)v->epoch, "meta_height", (json_int_t)v->meta_height, "entries",
                   ents, "total", v->total);
  stratos__traffic__volume_report__free_unpacked(v, NULL);
  return *out ? 0 : ST_ENOMEM;
}

static void m_volume_report(st_rpc_call_t *call, json_t *params, void *ud) {
  st_meta_t *m = ud;
  static const char *const allowed[] = {"epoch", NULL};
  if (!check_params(call, params, allowed))
    return;
  json_t *je = json_is_object(params) ? json_object_get(params, "epoch") : NULL;
  if (!json_is_integer(je) || json_integer_value(je) < 0) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, "invalid params: epoch must be an integer >= 0",
                 NULL);
    return;
  }
  st_meta__rq_t r;
  const uint8_t *p;
  size_t n;
  json_t *j = NULL;
  int rc = st_meta__rq_open(m, &r);
  if (rc == 0) {
    rc = st_meta__report_get(&r.ov, (uint64_t)json_integer_value(je), &p, &n);
    if (rc == 0)
      rc = st_meta__report_json(p, n, &j);
    st_meta__rq_close(&r);
  }
  if (rc == ST_ENOENT) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS,
                 "no volume report for this epoch (not finished yet, or before the chain)",
                 NULL);
    return;
  }
  if (rc != 0) {
    st_rpc_error(call, ST_RPC_INTERNAL_ERROR, "cannot read the meta state", NULL);
    return;
  }
  bool relayed;
  size_t nsigs = st_meta__report_nsigs(m, (uint64_t)json_integer_value(je), &relayed);
  json_object_set_new(j, "signatures", json_integer((json_int_t)nsigs));
  json_object_set_new(j, "relayed", json_boolean(relayed));
  st_rpc_result(call, j);
}

static void m_earnings(st_rpc_call_t *call, json_t *params, void *ud) {
  st_meta_t *m = ud;
  static const char *const allowed[] = {"address", NULL};
  uint8_t a[ST_ADDR_LEN];
  if (!check_params(call, params, allowed))
    return;
  json_t *ja = json_is_object(params) ? json_object_get(params, "address") : NULL;
  if (!json_is_string(ja) || st_addr_decode(json_string_value(ja), ST_HRP_NODE, a) != 0) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS,
                 "invalid params: address must be an stsds1... address", NULL);
    return;
  }
  /* Volumes still in state: keys E epoch(8) node(20), scanned per epoch
   * from the first unreported one to the current. */
  st_meta__rq_t r;
  vol_ctx_t c = {0, json_array(), 0};
  uint64_t next = 0, e;
  int64_t start, ends;
  bool set;
  epoch_now(m, &e, &start, &ends);
  int rc = st_meta__rq_open(m, &r);
  if (rc == 0) {
    rc = next_report_get(&r.ov, &next, &set);
    for (uint64_t x = next; rc >= 0 && x <= e && x < next + 64; x++) {
      uint8_t k[1 + 8 + ST_ADDR_LEN];
      const uint8_t *p;
      size_t n;
      k[0] = ST_META__K_VOLUME;
      st_chain__be64(k + 1, x);
      memcpy(k + 9, a, ST_ADDR_LEN);
      int g = st_chain__ov_read(&r.ov, ST_META__SP_REC, k, sizeof(k), &p, &n);
      if (g == 0)
        rc = vol_cb(k, sizeof(k), p, n, &c);
      else if (g != ST_ENOENT)
        rc = g;
    }
    st_meta__rq_close(&r);
  }
  if (rc < 0) {
    json_decref(c.arr);
    st_rpc_error(call, ST_RPC_INTERNAL_ERROR, "cannot read the meta state", NULL);
    return;
  }
  json_t *log = json_array();
  struct st_meta__traffic *t = tr_of(m);
  for (size_t i = 0; i < t->log_n && json_array_size(log) < 100; i++) {
    size_t at = (t->log_next + ST_META__EARN_LOG - 1 - i) % ST_META__EARN_LOG;
    const earn_t *x = &t->log[at];
    if (memcmp(x->server, a, ST_ADDR_LEN) != 0)
      continue;
    json_array_append_new(
        log, json_pack("{s:I,s:I,s:o,s:o,s:o,s:i,s:I,s:o}", "meta_height", (json_int_t)x->height,
                       "epoch", (json_int_t)x->epoch, "receiver",
                       jaddr(ST_HRP_NODE, x->receiver), "payer", jaddr(ST_HRP_WALLET, x->payer),
                       "file", jhex(x->file, ST_HASH_LEN), "kind", (int)x->kind, "bytes",
                       (json_int_t)x->bytes, "noz", ju128(x->noz)));
  }
  st_rpc_result(call, json_pack("{s:O,s:o,s:o,s:o}", "address", ja, "epochs", c.arr,
                                "unreported_total", ju128(c.sum), "recent", log));
}

void st_meta__traffic_rpc(st_meta_t *m, st_rpc_t *rpc) {
  (void)tr_of(m); /* its metrics from the start */
  if (st_rpc_register(rpc, "epoch", m_epoch, m) != 0 ||
      st_rpc_register(rpc, "volume_report", m_volume_report, m) != 0 ||
      st_rpc_register(rpc, "earnings", m_earnings, m) != 0)
    ST_WARN("meta", "cannot register the traffic methods");
}

/* ---- building receipts (st_meta.h) ---- */

int st_meta_receipt_sign(const st_keypair_t *kp, const char *meta_chain_id,
                         const st_meta_receipt_t *in, st_buf_t *out) {
  Stratos__Traffic__ReceiptBody body;
  Stratos__Traffic__Receipt r;
  uint8_t buf[RECEIPT_BODY_MAX], sig[ST_SIG_LEN];
  stratos__traffic__receipt_body__init(&body);
  stratos__traffic__receipt__init(&r);
  body.server.data = (uint8_t *)(uintptr_t)in->server;
  body.server.len = ST_ADDR_LEN;
  body.payer.data = (uint8_t *)(uintptr_t)in->payer;
  body.payer.len = ST_ADDR_LEN;
  body.file.data = (uint8_t *)(uintptr_t)in->file;
  body.file.len = ST_HASH_LEN;
  body.kind = in->kind;
  body.epoch = in->epoch;
  body.session.data = (uint8_t *)(uintptr_t)in->session;
  body.session.len = SESSION_LEN;
  body.bytes = in->bytes;
  body.time_ms = (uint64_t)in->time_ms;
  size_t bn = stratos__traffic__receipt_body__get_packed_size(&body);
  if (bn > sizeof(buf))
    return ST_E2BIG;
  stratos__traffic__receipt_body__pack(&body, buf);
  int rc = st_sign(kp, ST_DOM_RECEIPT, meta_chain_id, buf, bn, sig);
  if (rc != 0)
    return rc;
  r.body.data = buf;
  r.body.len = bn;
  r.signer.data = (uint8_t *)(uintptr_t)kp->pk;
  r.signer.len = ST_PUBKEY_LEN;
  r.signature.data = sig;
  r.signature.len = ST_SIG_LEN;
  size_t n = stratos__traffic__receipt__get_packed_size(&r);
  if ((rc = st_buf_reserve(out, n)) != 0)
    return rc;
  stratos__traffic__receipt__pack(&r, out->data + out->len);
  out->len += n;
  return 0;
}

int st_meta_receipt_read(const uint8_t *p, size_t n, st_meta_receipt_t *out) {
  memset(out, 0, sizeof(*out));
  if (n == 0 || n > RECEIPT_MAX)
    return ST_E2BIG;
  Stratos__Traffic__Receipt *r = stratos__traffic__receipt__unpack(NULL, n, p);
  if (!r)
    return ST_EPARSE;
  Stratos__Traffic__ReceiptBody *b = NULL;
  int rc = ST_EPARSE;
  if (r->signer.len == ST_PUBKEY_LEN && r->signature.len == ST_SIG_LEN && r->body.len > 0 &&
      r->body.len <= RECEIPT_BODY_MAX)
    b = stratos__traffic__receipt_body__unpack(NULL, r->body.len, r->body.data);
  if (b && b->server.len == ST_ADDR_LEN && b->payer.len == ST_ADDR_LEN &&
      b->file.len == ST_HASH_LEN && b->session.len == SESSION_LEN) {
    memcpy(out->server, b->server.data, ST_ADDR_LEN);
    memcpy(out->payer, b->payer.data, ST_ADDR_LEN);
    memcpy(out->file, b->file.data, ST_HASH_LEN);
    memcpy(out->session, b->session.data, SESSION_LEN);
    memcpy(out->signer, r->signer.data, ST_PUBKEY_LEN);
    out->kind = b->kind;
    out->epoch = b->epoch;
    out->bytes = b->bytes;
    out->time_ms = (int64_t)b->time_ms;
    rc = 0;
  }
  if (b)
    stratos__traffic__receipt_body__free_unpacked(b, NULL);
  stratos__traffic__receipt__free_unpacked(r, NULL);
  return rc;
}

int st_meta_receipts_tx(const st_keypair_t *kp, const char *meta_chain_id,
                        const uint8_t *const *rcpts, const size_t *lens, size_t n,
                        st_buf_t *out) {
  if (n == 0 || n > ST_META__RCPT_MAX)
    return ST_EINVAL;
  Stratos__Traffic__Receipt **rs = calloc(n, sizeof(*rs));
  Stratos__Traffic__ReceiptBatch batch;
  Stratos__Traffic__ReceiptSubmit sub;
  Stratos__Meta__MetaTx t;
  uint8_t sig[ST_SIG_LEN], *bb = NULL;
  int rc = rs ? 0 : ST_ENOMEM;
  size_t i = 0;
  stratos__traffic__receipt_batch__init(&batch);
  stratos__traffic__receipt_submit__init(&sub);
  stratos__meta__meta_tx__init(&t);
  for (; i < n && rc == 0; i++)
    if (!(rs[i] = stratos__traffic__receipt__unpack(NULL, lens[i], rcpts[i])))
      rc = ST_EPARSE;
  if (rc == 0) {
    batch.receipts = rs;
    batch.n_receipts = n;
    size_t bn = stratos__traffic__receipt_batch__get_packed_size(&batch);
    if (bn > ST_META__RCPT_TX_MAX)
      rc = ST_E2BIG;
    else if (!(bb = malloc(bn)))
      rc = ST_ENOMEM;
    if (rc == 0) {
      stratos__traffic__receipt_batch__pack(&batch, bb);
      rc = st_sign(kp, ST_DOM_RECEIPT, meta_chain_id, bb, bn, sig);
      sub.batch.data = bb;
      sub.batch.len = bn;
    }
  }
  if (rc == 0) {
    sub.pubkey.data = (uint8_t *)(uintptr_t)kp->pk;
    sub.pubkey.len = ST_PUBKEY_LEN;
    sub.signature.data = sig;
    sub.signature.len = ST_SIG_LEN;
    t.tx_case = STRATOS__META__META_TX__TX_RECEIPTS;
    t.receipts = &sub;
    rc = st_meta__tx_append(&t, out);
  }
  for (size_t j = 0; rs && j < n; j++)
    if (rs[j])
      stratos__traffic__receipt__free_unpacked(rs[j], NULL);
  free(rs);
  free(bb);
  return rc;
}

int st_meta_receipts_submit(struct st_node *node, const uint8_t *tx, size_t len) {
  st_meta_t *m = node ? node->meta : NULL;
  char log[ST_META__LOG_MAX];
  if (!m)
    return ST_ENOENT;
  int rc = st_meta__rcpt_receive(m, tx, len, NULL, log, sizeof(log));
  if (rc != 0 && rc != ST_EEXIST)
    ST_DEBUG("meta", "own receipts refused: %s", log);
  return rc;
}
