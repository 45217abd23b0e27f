/* Volume reports to the value chain (docs/traffic.md).
 *
 * After a block that committed volume reports, every meta authority
 * signs each (ReportSig: st_sign(node key, ST_DOM_VOLUME_REPORT, value
 * chain id, report bytes)) and gossips {epoch (8, BE), ReportSig} on the
 * meta mempool channel as frame type 4, again every RESEND_MS until the
 * report is relayed, so that a node that committed the block later still
 * gets it. Nodes keep the signatures of the last KEEP reports, each
 * checked against the committed report and the authorities of the
 * latest meta state, one per authority.
 *
 * Once a node holds signatures of at least ceil(2/3 · authorities), it
 * relays: a MsgVolumeReport{report, sigs} signed by its wallet (the
 * gateway's: gateway.wallet, else "wallet", else "dev" in the keyring),
 * with the wallet's committed nonce and the minimum fee, into its own
 * value-chain mempool. Not all at once: the authority at rank r (by
 * address) waits r · RANK_DELAY_MS after the quorum, a non-authority
 * after all of them. A relay is tried again in each of the next
 * RETRIES epochs by the clock — the value chain refuses a report it has
 * (or one out of order), so a repeat costs nothing — reports in epoch
 * order. Loop thread only.
 *
 * Slash reports (slash.c) go the same way under ST_DOM_SLASH, keyed by
 * their seq instead of the epoch: signatures gossiped as frame type 5,
 * the relay a MsgSlashResourceNode. After each commit the last KEEP
 * seqs of the state are looked at, so a node that restarts or catches
 * up signs what it has not signed yet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_meta.h>
#include <stratos/st_net.h>
#include "meta/meta_private.h"
#include "traffic.pb-c.h"
#include "tx.pb-c.h"

#define KEEP 8
#define RESEND_MS 3000
#define RANK_DELAY_MS 2000
#define RETRIES 2
#define AUTH_MAX 1000

/* The two kinds of report: volume reports by epoch, slashes by seq. */
enum { VOL, SLASH, KINDS };
static const uint8_t DOM[KINDS] = {ST_DOM_VOLUME_REPORT, ST_DOM_SLASH};
static const uint8_t FRAME[KINDS] = {ST_META__FRAME_RSIG, ST_META__FRAME_SSIG};
static const char *const NAME[KINDS] = {"volume report of epoch", "slash report"};

typedef struct rep {
  uint64_t epoch;        /* the epoch, or a slash's seq */
  uint8_t *report;
  size_t len;
  uint8_t (*pk)[ST_PUBKEY_LEN];
  uint8_t (*sig)[ST_SIG_LEN];
  size_t n, cap;
  bool mine;             /* this node's signature is among them */
  int64_t gossip_ms;     /* mono: when ours last went out */
  int64_t quorum_ms;     /* mono: when the quorum was first seen; 0: not yet */
  unsigned tries;
  uint64_t tried_epoch;  /* the clock's epoch of the last try */
} rep_t;

typedef struct set {
  rep_t r[KEEP];
  size_t n;
} set_t;

struct st_meta__reports {
  set_t k[KINDS];
  uint64_t pend_from;    /* reports of the block being finalized */
  size_t pend_n;
  uint64_t relayed;
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct st_meta__reports *reps(st_meta_t *m) {
  if (!m->reps && !(m->reps = calloc(1, sizeof(*m->reps))))
    abort();
  return m->reps;
}

static void rep_clear(rep_t *r) {
  free(r->report);
  free(r->pk);
  free(r->sig);
  memset(r, 0, sizeof(*r));
}

void st_meta__reports_free(st_meta_t *m) {
  if (!m->reps)
    return;
  for (int k = 0; k < KINDS; k++)
    for (size_t i = 0; i < m->reps->k[k].n; i++)
      rep_clear(&m->reps->k[k].r[i]);
  free(m->reps);
  m->reps = NULL;
}

void st_meta__reports_made(st_meta_t *m, uint64_t from, size_t n) {
  struct st_meta__reports *s = reps(m);
  s->pend_from = from;
  s->pend_n = n;
}

/* The value chain's id: the meta chain's without "-meta". */
static void value_chain_id(const st_meta_t *m, char *out, size_t cap) {
  size_t n = strlen(m->gen.chain_id);
  if (n > 5 && strcmp(m->gen.chain_id + n - 5, "-meta") == 0)
    n -= 5;
  snprintf(out, cap, "%.*s", (int)n, m->gen.chain_id);
}

/* The authorities of the latest committed state, sorted by address. */
static int authorities(st_meta_t *m, st_chain__recs_t *out) {
  st_txn_t *txn;
  st_chain__overlay_t ov;
  uint8_t kind = ST_META__K_AUTH;
  int rc = st_txn_begin(m->store, false, &txn);
  if (rc != 0)
    return rc;
  st_chain__ov_init(&ov, &m->st, txn);
  rc = st_chain__ov_collect(&ov, ST_META__SP_REC, &kind, 1, ST_CHAIN__NOT_DUE, AUTH_MAX, out);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  return rc;
}

static bool is_auth(const st_chain__recs_t *a, const uint8_t pk[ST_PUBKEY_LEN], size_t *rank) {
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i].vlen == ST_PUBKEY_LEN && memcmp(a->v[i].val, pk, ST_PUBKEY_LEN) == 0) {
      if (rank)
        *rank = i;
      return true;
    }
  return false;
}

static rep_t *find(st_meta_t *m, int kind, uint64_t epoch) {
  set_t *s = &reps(m)->k[kind];
  for (size_t i = 0; i < s->n; i++)
    if (s->r[i].epoch == epoch)
      return &s->r[i];
  return NULL;
}

/* A new entry for a committed report (the oldest goes when full). */
static rep_t *add_report(st_meta_t *m, int kind, uint64_t epoch, const uint8_t *p, size_t n) {
  set_t *s = &reps(m)->k[kind];
  rep_t *r = find(m, kind, epoch);
  if (r)
    return r;
  if (s->n == KEEP) {
    size_t old = 0;
    for (size_t i = 1; i < s->n; i++)
      if (s->r[i].epoch < s->r[old].epoch)
        old = i;
    rep_clear(&s->r[old]);
    s->r[old] = s->r[--s->n];
  }
  r = &s->r[s->n];
  memset(r, 0, sizeof(*r));
  if (!(r->report = malloc(n ? n : 1)))
    abort();
  memcpy(r->report, p, n);
  r->len = n;
  r->epoch = epoch;
  s->n++;
  return r;
}

static int add_sig(rep_t *r, const uint8_t pk[ST_PUBKEY_LEN], const uint8_t sig[ST_SIG_LEN]) {
  for (size_t i = 0; i < r->n; i++)
    if (memcmp(r->pk[i], pk, ST_PUBKEY_LEN) == 0)
      return ST_EEXIST;
  if (r->n == AUTH_MAX)
    return ST_EFULL;
  if (r->n == r->cap) {
    size_t nc = r->cap ? 2 * r->cap : 8;
    void *a = realloc(r->pk, nc * ST_PUBKEY_LEN), *b = NULL;
    if (a)
      r->pk = a;
    if (a && (b = realloc(r->sig, nc * ST_SIG_LEN)))
      r->sig = b;
    if (!a || !b)
      return ST_ENOMEM;
    r->cap = nc;
  }
  memcpy(r->pk[r->n], pk, ST_PUBKEY_LEN);
  memcpy(r->sig[r->n], sig, ST_SIG_LEN);
  r->n++;
  return 0;
}

static void gossip_sig(st_meta_t *m, int kind, uint64_t epoch, const uint8_t pk[ST_PUBKEY_LEN],
                       const uint8_t sig[ST_SIG_LEN]) {
  static const uint8_t everyone[ST_ADDR_LEN];
  Stratos__Traffic__ReportSig rs;
  uint8_t buf[8 + 128];
  if (!m->node || !m->node->bus)
    return;
  stratos__traffic__report_sig__init(&rs);
  rs.pubkey.data = (uint8_t *)(uintptr_t)pk;
  rs.pubkey.len = ST_PUBKEY_LEN;
  rs.signature.data = (uint8_t *)(uintptr_t)sig;
  rs.signature.len = ST_SIG_LEN;
  st_chain__be64(buf, epoch);
  size_t n = 8 + stratos__traffic__report_sig__pack(&rs, buf + 8);
  st_net_out_t *out = st_net_out_new(everyone, ST_CH_META_MEMPOOL, FRAME[kind], buf, n);
  int rc = st_net_send(m->node->bus, ST_MOD_META, out);
  if (rc != 0)
    ST_DEBUG("meta", "report signature not gossiped: %s", st_strerror(rc));
}

/* ---- the relay ---- */

static void on_relayed(void *ud, int code, const char *log, const uint8_t hash[ST_HASH_LEN],
                       const uint8_t *peer) {
  uint64_t epoch = (uint64_t)(uintptr_t)ud;
  (void)hash;
  (void)peer;
  if (code == 0)
    ST_INFO("meta", "volume report of epoch %llu relayed to the value chain",
            (unsigned long long)epoch);
  else
    ST_INFO("meta", "the value chain refused the volume report of epoch %llu: %s",
            (unsigned long long)epoch, log ? log : st_strerror(code));
}

static void on_slash_relayed(void *ud, int code, const char *log,
                             const uint8_t hash[ST_HASH_LEN], const uint8_t *peer) {
  uint64_t seq = (uint64_t)(uintptr_t)ud;
  (void)hash;
  (void)peer;
  if (code == 0)
    ST_INFO("meta", "slash report %llu relayed to the value chain", (unsigned long long)seq);
  else
    ST_INFO("meta", "the value chain refused slash report %llu: %s", (unsigned long long)seq,
            log ? log : st_strerror(code));
}

static int load_wallet(st_meta_t *m, st_keypair_t *kp) {
  const char *names[2] = {m->node->cfg.gw_wallet, NULL};
  if (!names[0][0]) {
    names[0] = "wallet";
    names[1] = "dev";
  }
  for (int i = 0; i < 2 && names[i]; i++) {
    char path[ST_PATH_MAX + 96];
    snprintf(path, sizeof(path), "%s/keyring/%s.json", m->node->home, names[i]);
    if (st_keyfile_read(path, kp) == 0)
      return 0;
  }
  return ST_ENOENT;
}

static int relay(st_meta_t *m, int kind, rep_t *r, uint64_t nonce_off) {
  st_keypair_t kp;
  uint8_t addr[ST_ADDR_LEN];
  uint64_t nonce;
  st_u128 rate;
  char chain[ST_CHAIN_ID_MAX + 1];
  int rc = load_wallet(m, &kp);
  if (rc != 0) {
    ST_WARN("meta", "no wallet in the keyring to relay the %s %llu", NAME[kind],
            (unsigned long long)r->epoch);
    return rc;
  }
  st_addr_from_pubkey(kp.pk, addr);
  if ((rc = st_chain_account_nonce(m->node, addr, &nonce, &rate)) != 0) {
    st_key_wipe(&kp);
    return rc;
  }
  nonce += nonce_off; /* several reports in one step: consecutive nonces */
  value_chain_id(m, chain, sizeof(chain));
  Stratos__Traffic__ReportSig *sigs = calloc(r->n, sizeof(*sigs));
  Stratos__Traffic__ReportSig **ps = calloc(r->n, sizeof(*ps));
  if (!sigs || !ps)
    abort();
  for (size_t i = 0; i < r->n; i++) {
    stratos__traffic__report_sig__init(&sigs[i]);
    sigs[i].pubkey.data = r->pk[i];
    sigs[i].pubkey.len = ST_PUBKEY_LEN;
    sigs[i].signature.data = r->sig[i];
    sigs[i].signature.len = ST_SIG_LEN;
    ps[i] = &sigs[i];
  }
  Stratos__Tx__MsgVolumeReport vr;
  Stratos__Tx__MsgSlashResourceNode sl;
  Stratos__Tx__TxBody body;
  stratos__tx__tx_body__init(&body);
  body.chain_id = chain;
  body.nonce = nonce;
  if (kind == VOL) {
    stratos__tx__msg_volume_report__init(&vr);
    vr.report.data = r->report;
    vr.report.len = r->len;
    vr.n_sigs = r->n;
    vr.sigs = ps;
    body.msg_case = STRATOS__TX__TX_BODY__MSG_VOLUME_REPORT;
    body.volume_report = &vr;
  } else {
    stratos__tx__msg_slash_resource_node__init(&sl);
    sl.report.data = r->report;
    sl.report.len = r->len;
    sl.n_sigs = r->n;
    sl.sigs = ps;
    body.msg_case = STRATOS__TX__TX_BODY__MSG_SLASH_RESOURCE_NODE;
    body.slash_resource_node = &sl;
  }
  st_buf_t tx;
  st_buf_init(&tx, 16u << 20);
  rc = st_chain_tx_sign(&kp, &body, 0, rate, &tx);
  st_key_wipe(&kp);
  free(sigs);
  free(ps);
  if (rc == 0)
    rc = st_chain_submit(m->node, tx.data, tx.len, kind == VOL ? on_relayed : on_slash_relayed,
                         (void *)(uintptr_t)r->epoch);
  st_buf_free(&tx);
  if (rc != 0)
    ST_WARN("meta", "cannot relay the %s %llu: %s", NAME[kind], (unsigned long long)r->epoch,
            st_strerror(rc));
  return rc;
}

/* Sends our signatures again, relays what has its quorum: volume
 * reports in epoch order, then slashes in seq order, with consecutive
 * nonces. */
static void step(st_meta_t *m) {
  struct st_meta__reports *s = reps(m);
  st_chain__recs_t a = {0};
  uint64_t now_epoch;
  if (!m->node || (s->k[VOL].n == 0 && s->k[SLASH].n == 0) || authorities(m, &a) != 0) {
    st_chain__recs_free(&a);
    return;
  }
  size_t rank = a.n;
  is_auth(&a, m->node->node_key.pk, &rank);
  size_t need = (2 * a.n + 2) / 3;
  int64_t now = mono_ms();
  uint64_t off = 0;
  if (st_meta_epoch(m->node, &now_epoch, NULL) != 0)
    now_epoch = 0;
  for (int kind = 0; kind < KINDS; kind++) {
    set_t *set = &s->k[kind];
    for (;;) {
      rep_t *r = NULL;
      for (size_t i = 0; i < set->n; i++) {
        rep_t *x = &set->r[i];
        bool due = x->tries == 0 || (x->tries <= RETRIES && now_epoch > x->tried_epoch);
        if (x->n >= need && need > 0 && due && (!r || x->epoch < r->epoch))
          r = x;
        if (x->mine && x->tries == 0 && now - x->gossip_ms >= RESEND_MS) {
          for (size_t k = 0; k < x->n; k++)
            if (memcmp(x->pk[k], m->node->node_key.pk, ST_PUBKEY_LEN) == 0)
              gossip_sig(m, kind, x->epoch, x->pk[k], x->sig[k]);
          x->gossip_ms = now;
        }
      }
      if (!r)
        break;
      if (!r->quorum_ms)
        r->quorum_ms = now;
      if (r->tries == 0 && now - r->quorum_ms < (int64_t)rank * RANK_DELAY_MS)
        break;
      r->tries++;
      r->tried_epoch = now_epoch;
      if (relay(m, kind, r, off) == 0) {
        s->relayed++;
        off++;
      }
    }
  }
  st_chain__recs_free(&a);
}

/* An authority signs a committed report it has not signed yet. */
static void sign_new(st_meta_t *m, int kind, uint64_t key, const uint8_t *p, size_t n,
                     bool auth, const char *chain) {
  rep_t *r = add_report(m, kind, key, p, n);
  uint8_t sig[ST_SIG_LEN];
  if (auth && !r->mine &&
      st_sign(&m->node->node_key, DOM[kind], chain, r->report, r->len, sig) == 0 &&
      add_sig(r, m->node->node_key.pk, sig) == 0) {
    r->mine = true;
    r->gossip_ms = mono_ms();
    gossip_sig(m, kind, key, m->node->node_key.pk, sig);
  }
}

void st_meta__reports_committed(st_meta_t *m) {
  struct st_meta__reports *s = reps(m);
  if (m->node) {
    st_txn_t *txn;
    st_chain__overlay_t ov;
    st_chain__recs_t a = {0};
    char chain[ST_CHAIN_ID_MAX + 1];
    bool auth = authorities(m, &a) == 0 && is_auth(&a, m->node->node_key.pk, NULL);
    st_chain__recs_free(&a);
    value_chain_id(m, chain, sizeof(chain));
    if (st_txn_begin(m->store, false, &txn) == 0) {
      st_chain__ov_init(&ov, &m->st, txn);
      for (size_t i = 0; i < s->pend_n; i++) {
        const uint8_t *p;
        size_t n;
        uint64_t e = s->pend_from + i;
        if (st_meta__report_get(&ov, e, &p, &n) == 0)
          sign_new(m, VOL, e, p, n, auth, chain);
      }
      /* The last KEEP slashes; those held already are skipped. */
      uint64_t last;
      if (st_meta__slash_last(&ov, &last) == 0)
        for (uint64_t q = last > KEEP ? last - KEEP + 1 : 1; q <= last && q > 0; q++) {
          const uint8_t *p;
          size_t n;
          if (!find(m, SLASH, q) && st_meta__slash_get(&ov, q, &p, &n) == 0)
            sign_new(m, SLASH, q, p, n, auth, chain);
        }
      st_chain__ov_free(&ov);
      st_txn_abort(txn);
    }
  }
  s->pend_n = 0;
  step(m);
}

static int sig_frame(st_meta_t *m, int kind, const uint8_t *p, size_t n) {
  if (n < 8 || n > 8 + 256)
    return ST_EPARSE;
  uint64_t epoch = st_chain__rd64(p);
  Stratos__Traffic__ReportSig *rs = stratos__traffic__report_sig__unpack(NULL, n - 8, p + 8);
  if (!rs)
    return ST_EPARSE;
  int rc = 0;
  rep_t *r = find(m, kind, epoch);
  if (rs->pubkey.len != ST_PUBKEY_LEN || rs->signature.len != ST_SIG_LEN) {
    rc = ST_EPARSE;
  } else if (r) {
    char chain[ST_CHAIN_ID_MAX + 1];
    st_chain__recs_t a = {0};
    value_chain_id(m, chain, sizeof(chain));
    rc = authorities(m, &a);
    if (rc == 0 && !is_auth(&a, rs->pubkey.data, NULL))
      rc = ST_EPERM;
    else if (rc == 0 && st_verify(rs->pubkey.data, DOM[kind], chain, r->report, r->len,
                                  rs->signature.data) != 0)
      rc = ST_EBADSIG;
    st_chain__recs_free(&a);
    if (rc == 0 && (rc = add_sig(r, rs->pubkey.data, rs->signature.data)) == 0)
      step(m);
  }
  /* A report not committed here yet: the signer sends it again. */
  stratos__traffic__report_sig__free_unpacked(rs, NULL);
  return rc == ST_EEXIST ? 0 : rc;
}

int st_meta__rsig_frame(st_meta_t *m, const uint8_t *p, size_t n) {
  return sig_frame(m, VOL, p, n);
}

int st_meta__ssig_frame(st_meta_t *m, const uint8_t *p, size_t n) {
  return sig_frame(m, SLASH, p, n);
}

static size_t nsigs(st_meta_t *m, int kind, uint64_t key, bool *relayed) {
  rep_t *r = m->reps ? find(m, kind, key) : NULL;
  if (relayed)
    *relayed = r && r->tries > 0;
  return r ? r->n : 0;
}

size_t st_meta__report_nsigs(st_meta_t *m, uint64_t epoch, bool *relayed) {
  return nsigs(m, VOL, epoch, relayed);
}

size_t st_meta__slash_nsigs(st_meta_t *m, uint64_t seq, bool *relayed) {
  return nsigs(m, SLASH, seq, relayed);
}
