/* Proof-of-Traffic on the value chain (docs/traffic.md): the meta
 * chain's volume reports, the rewards they pay, the foundation pool and
 * the withdrawal of matured rewards.
 *
 * A report is accepted once, for the epoch after the last one, when
 * signatures of at least ceil(2/3) of the active meta nodes verify over
 * its exact bytes. It then pays the traffic reward R out of the prepay
 * pool ("sds_pool", Pt) and the epoch's mining reward M out of the
 * "foundation" account. Both land first in "traffic_rewards", which pays
 * the community tax and the validators' share (into this block's fees)
 * at once and keeps the resource and meta shares until they mature.
 * Every division rounds down; what rounding or a missing recipient
 * leaves unpaid stays in the prepay pool (up to R less the tax), the
 * rest in the foundation pool, so the wei that move are exactly the wei
 * paid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include "chain/nodes.h"
#include "traffic.pb-c.h"
#include "tx.pb-c.h"

#define U128_MAX (~(st_u128)0)
#define SP ST_CHAIN__SP_STATE
#define STOS ((st_u128)1000000000000000000ULL)
#define TENTH (STOS / 10)
/* height(8) signers(4) active(4) and eight amounts */
#define PAID_LEN (8 + 4 + 4 + 8 * 16)
#define IMM_KEY_LEN (1 + ST_ADDR_LEN + 8)
#define DUE_KEY_LEN (1 + 8 + ST_ADDR_LEN)
#define ACCT_LEN 32

static const uint8_t K_LAST[] = {ST_K_TRAFFIC, 'e'};
static const uint8_t K_MINED[] = {ST_K_TRAFFIC, 'm'};

/* ---- the schedule (SPEC section 5) ---- */

static const struct {
  uint32_t upto;   /* STOS */
  uint32_t tenths; /* reward per epoch, tenths of a STOS */
  uint16_t res, meta, val;
} tiers[] = {
  {16819200, 800, 6000, 2000, 2000}, {25228800, 400, 6200, 1800, 2000},
  {29433600, 200, 6400, 1600, 2000}, {31536000, 100, 6600, 1400, 2000},
  {32587200, 50, 6800, 1200, 2000},  {40000000, 25, 7000, 1000, 2000},
};
#define NTIERS ((int)(sizeof(tiers) / sizeof(tiers[0])))

void st_chain__traffic_tier(st_u128 mined, st_traffic_tier_t *t) {
  int i = 0;
  while (i < NTIERS && mined >= (st_u128)tiers[i].upto * STOS)
    i++;
  int row = i < NTIERS ? i : NTIERS - 1;
  t->index = i;
  t->upto = (st_u128)tiers[row].upto * STOS;
  t->reward = i < NTIERS ? (st_u128)tiers[i].tenths * TENTH : 0;
  /* Never past the schedule's end. */
  if (i < NTIERS && t->reward > (st_u128)tiers[NTIERS - 1].upto * STOS - mined)
    t->reward = (st_u128)tiers[NTIERS - 1].upto * STOS - mined;
  t->res_bps = tiers[row].res;
  t->meta_bps = tiers[row].meta;
  t->val_bps = tiers[row].val;
}

/* ---- records ---- */

int st_chain__traffic_state(st_chain__ctx_t *c, bool *any, uint64_t *last, st_u128 *mined) {
  const uint8_t *v;
  size_t n;
  int rc = st_chain__ov_read(c->ov, SP, K_LAST, sizeof(K_LAST), &v, &n);
  *any = false;
  *last = 0;
  if (rc == 0) {
    if (n != 8)
      return ST_ECORRUPT;
    *any = true;
    *last = st_chain__rd64(v);
  } else if (rc != ST_ENOENT) {
    return rc;
  }
  return st_chain__ov_read_u128(c->ov, SP, K_MINED, sizeof(K_MINED), mined);
}

static void paid_encode(const st_traffic_paid_t *p, uint8_t *v) {
  const st_u128 a[8] = {p->volume, p->r_formula, p->r, p->m,
                        p->tax, p->resource, p->meta, p->validators};
  st_chain__be64(v, (uint64_t)p->height);
  st_chain__be32(v + 8, p->signers);
  st_chain__be32(v + 12, p->active);
  for (int i = 0; i < 8; i++)
    st_chain__put128(v + 16 + 16 * i, a[i]);
}

static void paid_decode(const uint8_t *v, st_traffic_paid_t *p) {
  st_u128 a[8];
  for (int i = 0; i < 8; i++)
    a[i] = st_chain__get128(v + 16 + 16 * i);
  *p = (st_traffic_paid_t){.height = (int64_t)st_chain__rd64(v),
                           .signers = st_chain__rd32(v + 8),
                           .active = st_chain__rd32(v + 12),
                           .volume = a[0], .r_formula = a[1], .r = a[2], .m = a[3],
                           .tax = a[4], .resource = a[5], .meta = a[6], .validators = a[7]};
}

static size_t report_key(uint8_t *k, uint64_t epoch) {
  k[0] = ST_K_TR_REPORT;
  st_chain__be64(k + 1, epoch);
  return 9;
}

int st_chain__traffic_report_get(st_chain__ctx_t *c, uint64_t epoch, st_traffic_paid_t *paid,
                                 const uint8_t **report, size_t *len) {
  uint8_t k[9];
  const uint8_t *v;
  size_t n;
  int rc = st_chain__ov_read(c->ov, SP, k, report_key(k, epoch), &v, &n);
  if (rc != 0)
    return rc;
  if (n < PAID_LEN)
    return ST_ECORRUPT;
  paid_decode(v, paid);
  *report = v + PAID_LEN;
  *len = n - PAID_LEN;
  return 0;
}

int st_chain__traffic_acct_get(st_chain__ctx_t *c, const uint8_t wallet[ST_ADDR_LEN],
                               st_u128 *matured, st_u128 *withdrawn) {
  uint8_t k[1 + ST_ADDR_LEN];
  const uint8_t *v;
  size_t n;
  *matured = *withdrawn = 0;
  int rc = st_chain__ov_read(c->ov, SP, k, st_chain__k1(k, ST_K_TR_ACCT, wallet), &v, &n);
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (n != ACCT_LEN)
    return ST_ECORRUPT;
  *matured = st_chain__get128(v);
  *withdrawn = st_chain__get128(v + 16);
  return 0;
}

static int acct_put(st_chain__ctx_t *c, const uint8_t wallet[ST_ADDR_LEN], st_u128 matured,
                    st_u128 withdrawn) {
  uint8_t k[1 + ST_ADDR_LEN], v[ACCT_LEN];
  st_chain__put128(v, matured);
  st_chain__put128(v + 16, withdrawn);
  return st_chain__ov_write(c->ov, SP, k, st_chain__k1(k, ST_K_TR_ACCT, wallet), v, sizeof(v));
}

static size_t imm_key(uint8_t *k, const uint8_t wallet[ST_ADDR_LEN], uint64_t epoch) {
  k[0] = ST_K_TR_IMM;
  memcpy(k + 1, wallet, ST_ADDR_LEN);
  st_chain__be64(k + 1 + ST_ADDR_LEN, epoch);
  return IMM_KEY_LEN;
}

static size_t due_key(uint8_t *k, uint64_t epoch, const uint8_t wallet[ST_ADDR_LEN]) {
  k[0] = ST_K_TR_DUE;
  st_chain__be64(k + 1, epoch);
  memcpy(k + 9, wallet, ST_ADDR_LEN);
  return DUE_KEY_LEN;
}

/* Adds amount to wallet's immature reward of epoch. */
static int credit(st_chain__ctx_t *c, const uint8_t wallet[ST_ADDR_LEN], uint64_t epoch,
                  st_u128 amount) {
  uint8_t k[IMM_KEY_LEN], d[DUE_KEY_LEN];
  st_u128 have;
  int rc;
  if (amount == 0)
    return 0;
  if ((rc = st_chain__ov_read_u128(c->ov, SP, k, imm_key(k, wallet, epoch), &have)) != 0)
    return rc;
  if (have > U128_MAX - amount)
    return ST_ECORRUPT; /* more than every pool holds */
  if ((rc = st_chain__ov_write_u128(c->ov, SP, k, sizeof(k), have + amount)) != 0)
    return rc;
  return st_chain__ov_write(c->ov, SP, d, due_key(d, epoch, wallet), "", 0);
}

/* Moves every immature reward of an epoch <= upto into its wallet's
 * matured balance. */
static int mature(st_chain__ctx_t *c, uint64_t upto) {
  uint8_t pre = ST_K_TR_DUE;
  st_chain__recs_t l = {0};
  int rc = st_chain__ov_collect(c->ov, SP, &pre, 1, (int64_t)upto, 0, &l);
  for (size_t i = 0; i < l.n && rc == 0; i++) {
    const uint8_t *key = l.v[i].key;
    uint8_t k[IMM_KEY_LEN];
    st_u128 amount, matured, withdrawn;
    if (l.v[i].klen != DUE_KEY_LEN) {
      rc = ST_ECORRUPT;
      break;
    }
    uint64_t epoch = st_chain__rd64(key + 1);
    const uint8_t *wallet = key + 9;
    if ((rc = st_chain__ov_read_u128(c->ov, SP, k, imm_key(k, wallet, epoch), &amount)) != 0 ||
        (rc = st_chain__traffic_acct_get(c, wallet, &matured, &withdrawn)) != 0)
      break;
    if (matured > U128_MAX - amount) {
      rc = ST_ECORRUPT;
      break;
    }
    if ((rc = st_chain__ov_del(c->ov, SP, k, sizeof(k))) != 0 ||
        (rc = st_chain__ov_del(c->ov, SP, key, DUE_KEY_LEN)) != 0 ||
        (rc = acct_put(c, wallet, matured + amount, withdrawn)) != 0)
      break;
  }
  st_chain__recs_free(&l);
  return rc;
}

static st_u128 balance(st_chain__ctx_t *c, const uint8_t *a, int *rc) {
  st_chain__acct_t x;
  *rc = st_chain__ov_get(c->ov, a, &x);
  return *rc == 0 ? x.balance : 0;
}

/* ---- MsgVolumeReport ---- */

/* The entries' checks: node and wallet addresses, nodes strictly
 * ascending, volumes positive, their sum equal to total (*y). */
static int check_entries(st_chain__ctx_t *c, const Stratos__Traffic__VolumeReport *r,
                         st_u128 *vols, st_u128 *y) {
  st_u128 sum = 0, total;
  for (size_t i = 0; i < r->n_entries; i++) {
    const Stratos__Traffic__VolumeEntry *e = r->entries[i];
    if (e->node.len != ST_ADDR_LEN || e->wallet.len != ST_ADDR_LEN)
      return st_chain__refuse(c, ST_EINVAL,
                              "entry %zu: node and wallet addresses must be %d bytes", i,
                              ST_ADDR_LEN);
    if (i > 0 && memcmp(r->entries[i - 1]->node.data, e->node.data, ST_ADDR_LEN) >= 0)
      return st_chain__refuse(c, ST_EINVAL,
                              "entry %zu: nodes must be distinct and sorted by address", i);
    if (st_u128_parse(e->volume, &vols[i]) != 0 || vols[i] == 0)
      return st_chain__refuse(c, ST_EINVAL,
                              "entry %zu: volume must be a positive decimal number of noz", i);
    if (sum > U128_MAX - vols[i])
      return st_chain__refuse(c, ST_ERANGE, "the volumes overflow 128 bits");
    sum += vols[i];
  }
  if (st_u128_parse(r->total, &total) != 0)
    return st_chain__refuse(c, ST_EINVAL, "total must be a decimal number of noz");
  if (total != sum) {
    char a[ST_U128_STR_MAX], b[ST_U128_STR_MAX];
    st_u128_format(total, a);
    st_u128_format(sum, b);
    return st_chain__refuse(c, ST_EINVAL, "total %s is not the sum of the volumes (%s)", a, b);
  }
  *y = sum;
  return 0;
}

/* Counts the distinct active meta nodes whose (first) signature of the
 * report (under dom) verifies; fills the list of active meta nodes
 * (caller frees *nodes). */
static int count_signers(st_chain__ctx_t *c, uint8_t dom, const ProtobufCBinaryData *report,
                         Stratos__Traffic__ReportSig *const *sigs, size_t n_sigs,
                         st_chain__node_t **nodes, size_t *nn, uint32_t *active,
                         uint32_t *signers) {
  size_t n;
  int rc = st_chain__nodes_list(c, true, nodes, &n);
  if (rc != 0)
    return rc;
  /* Keep the active ones only. */
  size_t a = 0;
  for (size_t i = 0; i < n; i++)
    if ((*nodes)[i].status == ST_NODE_ACTIVE)
      (*nodes)[a++] = (*nodes)[i];
  *nn = a;
  *active = (uint32_t)a;
  *signers = 0;
  bool *seen = calloc(a ? a : 1, sizeof(*seen));
  if (!seen)
    return ST_ENOMEM;
  for (size_t s = 0; s < n_sigs; s++) {
    const Stratos__Traffic__ReportSig *g = sigs[s];
    if (g->pubkey.len != ST_PUBKEY_LEN || g->signature.len != ST_SIG_LEN)
      continue;
    for (size_t i = 0; i < a; i++) {
      if (memcmp((*nodes)[i].pubkey, g->pubkey.data, ST_PUBKEY_LEN) != 0)
        continue;
      /* Each node's first signature alone is checked: a message full of
       * one key's bad signatures costs one verification, not a thousand. */
      if (!seen[i] && st_verify(g->pubkey.data, dom, c->p->chain_id, report->data,
                                report->len, g->signature.data) == 0)
        (*signers)++;
      seen[i] = true;
      break;
    }
  }
  free(seen);
  return 0;
}

/* Pays an accepted report. vols are the entries' volumes, y their sum;
 * meta the active meta nodes. Fills *paid. */
static int pay(st_chain__ctx_t *c, const Stratos__Traffic__VolumeReport *r, const st_u128 *vols,
               st_u128 y, const st_chain__node_t *meta, size_t nmeta, st_u128 mined,
               st_traffic_paid_t *paid) {
  const uint8_t *sds = st_chain__macc_named("sds_pool");
  const uint8_t *found = st_chain__macc_named("foundation");
  const uint8_t *tr = st_chain__macc_named("traffic_rewards");
  st_sds_pool_t pool;
  st_traffic_tier_t tier;
  st_u128 R = 0, M, tax, base, res_total, meta_total, val, res_paid = 0, meta_paid = 0, each = 0;
  int rc;
  if ((rc = st_chain__sds_pool_get(c, &pool)) != 0)
    return rc;
  /* R = (S + Pt) * Y / (Lt + Y); the quotient is at most S + Pt. */
  if (pool.S > U128_MAX - pool.Pt || pool.Lt > U128_MAX - y)
    return st_chain__refuse(c, ST_ERANGE, "the traffic reward overflows 128 bits");
  if (y > 0 && (rc = st_u128_muldiv(pool.S + pool.Pt, y, pool.Lt + y, &R)) != 0)
    return rc;
  paid->r_formula = R;
  st_u128 sds_bal = balance(c, sds, &rc);
  if (rc != 0)
    return rc;
  if (R > sds_bal)
    R = sds_bal;
  if (R > pool.Pt)
    R = pool.Pt;
  st_chain__traffic_tier(mined, &tier);
  M = tier.reward;
  st_u128 found_bal = balance(c, found, &rc);
  if (rc != 0)
    return rc;
  if (M > found_bal)
    M = found_bal;
  if ((rc = st_u128_muldiv(R, c->p->traffic_tax_bps, ST_TRAFFIC_BPS, &tax)) != 0)
    return rc;
  if (R - tax > U128_MAX - M)
    return st_chain__refuse(c, ST_ERANGE, "the rewards overflow 128 bits");
  base = R - tax + M;
  if ((rc = st_u128_muldiv(base, tier.res_bps, ST_TRAFFIC_BPS, &res_total)) != 0 ||
      (rc = st_u128_muldiv(base, tier.meta_bps, ST_TRAFFIC_BPS, &meta_total)) != 0 ||
      (rc = st_u128_muldiv(base, tier.val_bps, ST_TRAFFIC_BPS, &val)) != 0)
    return rc;
  st_u128 *res_each = calloc(r->n_entries ? r->n_entries : 1, sizeof(*res_each));
  if (!res_each)
    return ST_ENOMEM;
  for (size_t i = 0; i < r->n_entries && rc == 0; i++) {
    rc = st_u128_muldiv(res_total, vols[i], y, &res_each[i]);
    res_paid += res_each[i];
  }
  if (rc == 0 && nmeta > 0) {
    each = meta_total / (st_u128)nmeta;
    meta_paid = each * (st_u128)nmeta;
  }
  /* What is not paid stays: in the prepay pool up to R - tax, the rest
   * in the foundation pool. */
  st_u128 total_paid = tax + res_paid + meta_paid + val;
  st_u128 dust = R + M - total_paid;
  st_u128 keep_r = dust < R - tax ? dust : R - tax;
  st_u128 r_paid = R - keep_r, m_paid = M - (dust - keep_r);
  if (rc == 0 && c->fees > U128_MAX - val)
    rc = st_chain__refuse(c, ST_ERANGE, "fees would overflow 128 bits");
  if (rc == 0 && ((rc = st_chain__xfer(c, sds, tr, r_paid)) != 0 ||
                  (rc = st_chain__xfer(c, found, tr, m_paid)) != 0 ||
                  (rc = st_chain__xfer(c, tr, st_chain__macc(ST_MACC_COMMUNITY), tax)) != 0 ||
                  (rc = st_chain__xfer(c, tr, st_chain__macc(ST_MACC_DISTR), val)) != 0))
    rc = rc == ST_EPERM ? ST_ECORRUPT : rc; /* the pools were read above */
  for (size_t i = 0; i < r->n_entries && rc == 0; i++)
    rc = credit(c, r->entries[i]->wallet.data, r->epoch, res_each[i]);
  for (size_t i = 0; i < nmeta && rc == 0; i++)
    rc = credit(c, meta[i].owner, r->epoch, each);
  free(res_each);
  if (rc != 0)
    return rc;
  pool.Pt -= r_paid;
  pool.Lt += y;
  if ((rc = st_chain__sds_pool_put(c, &pool)) != 0 ||
      (rc = st_chain__ov_write_u128(c->ov, SP, K_MINED, sizeof(K_MINED), mined + m_paid)) != 0)
    return rc;
  paid->volume = y;
  paid->r = r_paid;
  paid->m = m_paid;
  paid->tax = tax;
  paid->resource = res_paid;
  paid->meta = meta_paid;
  paid->validators = val;
  /* Last: the block's fees hand the validators' share out at its end. */
  c->fees += val;
  return 0;
}

static int volume_report(st_chain__ctx_t *c, const Stratos__Tx__MsgVolumeReport *m) {
  char want[ST_CHAIN_ID_MAX + 8], shown[ST_CHAIN_ID_MAX + 1];
  st_chain__node_t *meta = NULL;
  st_u128 *vols = NULL, y = 0, mined = 0;
  size_t nmeta = 0;
  uint32_t active, signers;
  bool any;
  uint64_t last;
  int rc;
  if (m->report.len == 0)
    return st_chain__refuse(c, ST_EINVAL, "the volume report is empty");
  Stratos__Traffic__VolumeReport *r =
    stratos__traffic__volume_report__unpack(NULL, m->report.len, m->report.data);
  if (!r)
    return st_chain__refuse(c, ST_EPARSE, "cannot decode the volume report");
  snprintf(want, sizeof(want), "%s-meta", c->p->chain_id);
  if (strcmp(r->meta_chain_id, want) != 0) {
    st_chain__safe_str(r->meta_chain_id, strlen(r->meta_chain_id), shown, sizeof(shown));
    rc = st_chain__refuse(c, ST_EINVAL, "the report is of meta chain %s, expected %s", shown,
                          want);
    goto out;
  }
  if (r->n_entries > ST_TRAFFIC_MAX_ENTRIES) {
    rc = st_chain__refuse(c, ST_E2BIG, "the report has %zu entries, at most %d", r->n_entries,
                          ST_TRAFFIC_MAX_ENTRIES);
    goto out;
  }
  if (r->epoch > (uint64_t)INT64_MAX) {
    rc = st_chain__refuse(c, ST_ERANGE, "epoch %llu is out of range",
                          (unsigned long long)r->epoch);
    goto out;
  }
  if ((rc = st_chain__traffic_state(c, &any, &last, &mined)) != 0)
    goto out;
  if (any && r->epoch <= last) {
    rc = st_chain__refuse(c, ST_EEXIST, "epoch %llu is already reported (the last is %llu)",
                          (unsigned long long)r->epoch, (unsigned long long)last);
    goto out;
  }
  if (any && r->epoch != last + 1) {
    rc = st_chain__refuse(c, ST_EINVAL, "epoch %llu is not the next one: expected %llu",
                          (unsigned long long)r->epoch, (unsigned long long)last + 1);
    goto out;
  }
  vols = calloc(r->n_entries ? r->n_entries : 1, sizeof(*vols));
  if (!vols) {
    rc = ST_ENOMEM;
    goto out;
  }
  if ((rc = check_entries(c, r, vols, &y)) != 0 ||
      (rc = count_signers(c, ST_DOM_VOLUME_REPORT, &m->report, m->sigs, m->n_sigs, &meta,
                          &nmeta, &active, &signers)) != 0)
    goto out;
  uint32_t need = (2 * active + 2) / 3;
  if (active == 0) {
    rc = st_chain__refuse(c, ST_EPERM, "there is no active meta node to sign the report");
    goto out;
  }
  if (signers < need) {
    rc = st_chain__refuse(c, ST_EPERM,
                          "the report carries valid signatures of %u active meta nodes; "
                          "%u of %u are needed", signers, need, active);
    goto out;
  }
  st_traffic_paid_t paid = {.height = c->height, .signers = signers, .active = active};
  st_u128 fees0 = c->fees;
  if ((rc = pay(c, r, vols, y, meta, nmeta, mined, &paid)) != 0)
    goto out;
  /* Rewards of an epoch <= epoch - mature_epoch are matured now. */
  if (r->epoch >= c->p->traffic_mature_epoch &&
      (rc = mature(c, r->epoch - c->p->traffic_mature_epoch)) != 0)
    goto undo;
  uint8_t k[9];
  uint8_t *v = malloc(PAID_LEN + m->report.len);
  if (!v) {
    rc = ST_ENOMEM;
    goto undo;
  }
  paid_encode(&paid, v);
  memcpy(v + PAID_LEN, m->report.data, m->report.len);
  rc = st_chain__ov_write(c->ov, SP, k, report_key(k, r->epoch), v, PAID_LEN + m->report.len);
  free(v);
  if (rc == 0)
    rc = st_chain__ov_write_u64(c->ov, SP, K_LAST, sizeof(K_LAST), r->epoch);
undo:
  if (rc != 0)
    c->fees = fees0;
out:
  free(vols);
  free(meta);
  stratos__traffic__volume_report__free_unpacked(r, NULL);
  return rc;
}

/* ---- MsgSlashResourceNode ---- */

/* noz at the traffic price: floor(noz · (S + Pt) / Lt); no ozone left to
 * sell (Lt 0) or a price past 128 bits gives U128_MAX (the caller caps
 * it at the deposit). */
static int noz_to_wei(st_chain__ctx_t *c, st_u128 noz, st_u128 *wei) {
  st_sds_pool_t pool;
  int rc = st_chain__sds_pool_get(c, &pool);
  if (rc != 0)
    return rc;
  *wei = U128_MAX;
  if (pool.Lt == 0 || pool.S > U128_MAX - pool.Pt)
    return 0;
  rc = st_u128_muldiv(noz, pool.S + pool.Pt, pool.Lt, wei);
  return rc == ST_ERANGE ? 0 : rc;
}

static const uint8_t K_SLASH[] = {ST_K_TRAFFIC, 's'};

int st_chain__traffic_slash_last(st_chain__ctx_t *c, uint64_t *seq) {
  const uint8_t *v;
  size_t vn;
  *seq = 0;
  int rc = st_chain__ov_read(c->ov, SP, K_SLASH, sizeof(K_SLASH), &v, &vn);
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (vn != 8)
    return ST_ECORRUPT;
  *seq = st_chain__rd64(v);
  return 0;
}

/* Accepted once per seq, in increasing seqs, with signatures of at least
 * ceil(2/3) of the active meta nodes over the exact report bytes. */
static int slash(st_chain__ctx_t *c, const Stratos__Tx__MsgSlashResourceNode *m) {
  char want[ST_CHAIN_ID_MAX + 8], shown[ST_CHAIN_ID_MAX + 1];
  st_chain__node_t *meta = NULL, node;
  size_t nmeta = 0;
  uint32_t active, signers;
  uint64_t last = 0;
  st_u128 noz, wei, taken;
  int rc;
  if (m->report.len == 0)
    return st_chain__refuse(c, ST_EINVAL, "the slash report is empty");
  Stratos__Traffic__SlashReport *r =
    stratos__traffic__slash_report__unpack(NULL, m->report.len, m->report.data);
  if (!r)
    return st_chain__refuse(c, ST_EPARSE, "cannot decode the slash report");
  snprintf(want, sizeof(want), "%s-meta", c->p->chain_id);
  if (strcmp(r->meta_chain_id, want) != 0) {
    st_chain__safe_str(r->meta_chain_id, strlen(r->meta_chain_id), shown, sizeof(shown));
    rc = st_chain__refuse(c, ST_EINVAL, "the report is of meta chain %s, expected %s", shown,
                          want);
    goto out;
  }
  if (r->node.len != ST_ADDR_LEN) {
    rc = st_chain__refuse(c, ST_EINVAL, "the node address must be %d bytes", ST_ADDR_LEN);
    goto out;
  }
  if (st_u128_parse(r->noz, &noz) != 0 || noz == 0) {
    rc = st_chain__refuse(c, ST_EINVAL, "noz must be a positive decimal number");
    goto out;
  }
  if ((rc = st_chain__traffic_slash_last(c, &last)) != 0)
    goto out;
  if (r->seq <= last) {
    rc = st_chain__refuse(c, ST_EEXIST, "slash %llu is not after the last one (%llu)",
                          (unsigned long long)r->seq, (unsigned long long)last);
    goto out;
  }
  rc = st_chain__res_node_get(c, r->node.data, &node);
  if (rc == ST_ENOENT) {
    rc = st_chain__refuse(c, ST_ENOENT, "the slashed node is no registered resource node");
    goto out;
  }
  if (rc != 0 ||
      (rc = count_signers(c, ST_DOM_SLASH, &m->report, m->sigs, m->n_sigs, &meta, &nmeta,
                          &active, &signers)) != 0)
    goto out;
  uint32_t need = (2 * active + 2) / 3;
  if (active == 0 || signers < need) {
    rc = st_chain__refuse(c, ST_EPERM,
                          "the slash report carries valid signatures of %u active meta nodes; "
                          "%u of %u are needed", signers, need ? need : 1, active);
    goto out;
  }
  if ((rc = noz_to_wei(c, noz, &wei)) != 0 ||
      (rc = st_chain__res_node_slash(c, r->node.data, wei, r->suspend, &taken)) != 0 ||
      (rc = st_chain__ov_write_u64(c->ov, SP, K_SLASH, sizeof(K_SLASH), r->seq)) != 0)
    goto out;
out:
  free(meta);
  stratos__traffic__slash_report__free_unpacked(r, NULL);
  return rc;
}

/* ---- MsgFoundationDeposit, MsgWithdrawTraffic ---- */

static int foundation_deposit(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                              const Stratos__Tx__MsgFoundationDeposit *m) {
  st_u128 x;
  if (st_u128_parse(m->amount, &x) != 0 || x == 0)
    return st_chain__refuse(c, ST_EINVAL, "amount must be a positive number of wei");
  return st_chain__xfer(c, sender, st_chain__macc_named("foundation"), x);
}

static int withdraw(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                    const Stratos__Tx__MsgWithdrawTraffic *m) {
  st_u128 x, matured, withdrawn;
  char a[ST_U128_STR_MAX], b[ST_U128_STR_MAX];
  int rc = st_chain__traffic_acct_get(c, sender, &matured, &withdrawn);
  if (rc != 0)
    return rc;
  if (!m->amount[0]) {
    x = matured;
    if (x == 0)
      return st_chain__refuse(c, ST_EPERM, "there are no matured traffic rewards to withdraw");
  } else if (st_u128_parse(m->amount, &x) != 0 || x == 0) {
    return st_chain__refuse(c, ST_EINVAL, "amount must be a positive number of wei or empty");
  }
  if (x > matured) {
    st_u128_format(x, a);
    st_u128_format(matured, b);
    return st_chain__refuse(c, ST_EPERM, "amount %s exceeds the matured traffic rewards (%s)",
                            a, b);
  }
  if (withdrawn > U128_MAX - x)
    return ST_ECORRUPT;
  if ((rc = st_chain__xfer(c, st_chain__macc_named("traffic_rewards"), sender, x)) != 0)
    return rc == ST_EPERM ? ST_ECORRUPT : rc; /* the account holds every reward */
  return acct_put(c, sender, matured - x, withdrawn + x);
}

int st_chain__traffic_exec(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                           const struct Stratos__Tx__TxBody *body) {
  switch (body->msg_case) {
  case STRATOS__TX__TX_BODY__MSG_VOLUME_REPORT: return volume_report(c, body->volume_report);
  case STRATOS__TX__TX_BODY__MSG_FOUNDATION_DEPOSIT:
    return foundation_deposit(c, sender, body->foundation_deposit);
  case STRATOS__TX__TX_BODY__MSG_WITHDRAW_TRAFFIC:
    return withdraw(c, sender, body->withdraw_traffic);
  case STRATOS__TX__TX_BODY__MSG_SLASH_RESOURCE_NODE:
    return slash(c, body->slash_resource_node);
  default: return st_chain__refuse(c, ST_EINVAL, "not a traffic message");
  }
}
