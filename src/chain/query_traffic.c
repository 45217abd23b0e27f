/* The JSON-RPC queries of Proof-of-Traffic on the value chain:
 * traffic_report (an accepted volume report and what it paid),
 * traffic_rewards (a wallet's immature, matured and withdrawn rewards)
 * and foundation (the mining pool and the schedule's current tier).
 * The meta chain answers volume_report itself; these names keep clear
 * of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include "chain/nodes.h"
#include "chain/qkit.h"
#include "traffic.pb-c.h"

static json_t *report_json(const uint8_t *p, size_t n) {
  Stratos__Traffic__VolumeReport *r = stratos__traffic__volume_report__unpack(NULL, n, p);
  if (!r)
    return json_null();
  json_t *entries = json_array();
  for (size_t i = 0; i < r->n_entries; i++) {
    const Stratos__Traffic__VolumeEntry *e = r->entries[i];
    bool ok = e->node.len == ST_ADDR_LEN && e->wallet.len == ST_ADDR_LEN;
    json_array_append_new(
      entries, json_pack("{s:o,s:o,s:s}", "node",
                         ok ? st_qk_addr_json(ST_HRP_NODE, e->node.data) : json_null(),
                         "wallet", ok ? st_qk_addr_json(ST_HRP_WALLET, e->wallet.data) : json_null(),
                         "volume", e->volume));
  }
  char id[ST_CHAIN_ID_MAX + 1];
  st_chain__safe_str(r->meta_chain_id, strlen(r->meta_chain_id), id, sizeof(id));
  json_t *j = json_pack("{s:s,s:I,s:I,s:s,s:o}", "meta_chain_id", id, "epoch",
                        (json_int_t)r->epoch, "meta_height", (json_int_t)r->meta_height,
                        "total", r->total, "entries", entries);
  stratos__traffic__volume_report__free_unpacked(r, NULL);
  return j;
}

int st_chain__q_traffic_report(st_chain_t *ch, json_t *params, json_t **result, char *err,
                               size_t cap) {
  static const char *const allowed[] = {"epoch", NULL};
  int64_t epoch = 0;
  bool given, any;
  uint64_t last;
  st_u128 mined;
  st_qk_reader_t r;
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 || (rc = st_qk_num(params, "epoch", &epoch, &given, err, cap)) != 0)
    return rc;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  if ((rc = st_chain__traffic_state(&r.c, &any, &last, &mined)) != 0) {
    st_qk_close(&r);
    return st_qk_ierr(err, cap, rc);
  }
  if (!given) {
    if (!any) {
      st_qk_close(&r);
      return st_qk_perr(err, cap, "no volume report has been accepted yet");
    }
    epoch = (int64_t)last;
  }
  st_traffic_paid_t p;
  const uint8_t *rep;
  size_t n;
  rc = st_chain__traffic_report_get(&r.c, (uint64_t)epoch, &p, &rep, &n);
  if (rc == ST_ENOENT) {
    st_qk_close(&r);
    return st_qk_perr(err, cap, "no volume report was accepted for epoch %lld",
                      (long long)epoch);
  }
  if (rc != 0) {
    st_qk_close(&r);
    return st_qk_ierr(err, cap, rc);
  }
  json_t *rj = report_json(rep, n);
  st_qk_close(&r);
  *result = json_pack(
    "{s:I,s:I,s:i,s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "epoch", (json_int_t)epoch,
    "height", (json_int_t)p.height, "signers", (int)p.signers, "active_meta_nodes",
    (int)p.active, "volume", st_qk_u128_json(p.volume), "traffic_reward_formula",
    st_qk_u128_json(p.r_formula), "traffic_reward", st_qk_u128_json(p.r), "mining_reward",
    st_qk_u128_json(p.m), "community_tax", st_qk_u128_json(p.tax), "resource_share",
    st_qk_u128_json(p.resource), "meta_share", st_qk_u128_json(p.meta), "validators_share",
    st_qk_u128_json(p.validators), "report", rj);
  return *result ? 0 : st_qk_ierr(err, cap, ST_ENOMEM);
}

int st_chain__q_traffic_rewards(st_chain_t *ch, json_t *params, json_t **result, char *err,
                                size_t cap) {
  static const char *const allowed[] = {"address", NULL};
  uint8_t a[ST_ADDR_LEN];
  st_qk_reader_t r;
  st_chain__recs_t l = {0};
  st_u128 matured, withdrawn, total = 0;
  int rc = st_rpc_check_params(params, allowed, err, cap);
  if (rc != 0 ||
      (rc = st_qk_addr_required(params, "address", ST_HRP_WALLET, a, err, cap)) != 0)
    return rc;
  if ((rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  uint8_t pre[1 + ST_ADDR_LEN];
  st_chain__k1(pre, ST_K_TR_IMM, a);
  int e = st_chain__ov_collect(&r.ov, ST_CHAIN__SP_STATE, pre, sizeof(pre), ST_CHAIN__NOT_DUE,
                               0, &l);
  if (e == 0)
    e = st_chain__traffic_acct_get(&r.c, a, &matured, &withdrawn);
  json_t *imm = json_array();
  uint64_t mature = ch->gen.p.traffic_mature_epoch;
  for (size_t i = 0; i < l.n && e == 0; i++) {
    if (l.v[i].klen != sizeof(pre) + 8 || l.v[i].vlen != 16) {
      e = ST_ECORRUPT;
      break;
    }
    uint64_t ep = st_chain__rd64(l.v[i].key + sizeof(pre));
    st_u128 amt = st_chain__get128(l.v[i].val);
    total += amt;
    json_array_append_new(imm, json_pack("{s:I,s:o,s:I}", "epoch", (json_int_t)ep, "amount",
                                         st_qk_u128_json(amt), "matures_with_epoch",
                                         (json_int_t)(ep + mature)));
  }
  st_chain__recs_free(&l);
  st_qk_close(&r);
  if (e != 0) {
    json_decref(imm);
    return st_qk_ierr(err, cap, e);
  }
  *result = json_pack("{s:o,s:o,s:o,s:o,s:o}", "address", st_qk_addr_json(ST_HRP_WALLET, a),
                      "immature", imm, "immature_total", st_qk_u128_json(total), "matured",
                      st_qk_u128_json(matured), "withdrawn", st_qk_u128_json(withdrawn));
  return 0;
}

int st_chain__q_foundation(st_chain_t *ch, json_t *params, json_t **result, char *err,
                           size_t cap) {
  st_qk_reader_t r;
  st_chain__acct_t f, t;
  bool any;
  uint64_t last;
  st_u128 mined;
  const uint8_t *fa = st_chain__macc_named("foundation");
  const uint8_t *ta = st_chain__macc_named("traffic_rewards");
  int rc = st_rpc_check_params(params, NULL, err, cap);
  if (rc != 0 || (rc = st_qk_open(ch, &r, err, cap)) != 0)
    return rc;
  int e = st_chain__traffic_state(&r.c, &any, &last, &mined);
  if (e == 0)
    e = st_chain__ov_get(&r.ov, fa, &f);
  if (e == 0)
    e = st_chain__ov_get(&r.ov, ta, &t);
  st_qk_close(&r);
  if (e != 0)
    return st_qk_ierr(err, cap, e);
  st_traffic_tier_t tier;
  st_chain__traffic_tier(mined, &tier);
  *result = json_pack(
    "{s:o,s:o,s:o,s:o,s:{s:i,s:o,s:o,s:i,s:i,s:i},s:{s:o,s:o}}", "address",
    st_qk_addr_json(ST_HRP_WALLET, fa), "balance", st_qk_u128_json(f.balance), "total_mined",
    st_qk_u128_json(mined), "last_epoch", any ? json_integer((json_int_t)last) : json_null(),
    "tier", "index", tier.index, "upto", st_qk_u128_json(tier.upto), "reward_per_epoch",
    st_qk_u128_json(tier.reward), "resource_bps", (int)tier.res_bps, "meta_bps",
    (int)tier.meta_bps, "validators_bps", (int)tier.val_bps, "traffic_rewards", "address",
    st_qk_addr_json(ST_HRP_WALLET, ta), "balance", st_qk_u128_json(t.balance));
  return *result ? 0 : st_qk_ierr(err, cap, ST_ENOMEM);
}

/* ---- Prometheus: the rewards, read from the committed state at scrape
 * time (in STOS, as floating point: figures to watch, not to account) ---- */

enum { G_MINED, G_FOUNDATION, G_REWARDS, G_EPOCH };

static double gauge(void *ud) {
  const struct st_chain__gauge *g = ud;
  st_qk_reader_t r;
  char err[64];
  bool any = false;
  uint64_t last = 0;
  st_u128 mined = 0;
  st_chain__acct_t a;
  double v = 0;
  if (st_qk_open(g->ch, &r, err, sizeof(err)) != 0)
    return 0;
  if (g->what == G_MINED || g->what == G_EPOCH) {
    if (st_chain__traffic_state(&r.c, &any, &last, &mined) == 0)
      v = g->what == G_MINED ? (double)mined / 1e18 : (any ? (double)last : -1);
  } else {
    const uint8_t *acct =
      st_chain__macc_named(g->what == G_FOUNDATION ? "foundation" : "traffic_rewards");
    if (st_chain__ov_get(&r.ov, acct, &a) == 0)
      v = (double)a.balance / 1e18;
  }
  st_qk_close(&r);
  return v;
}

void st_chain__traffic_metrics(st_chain_t *ch, st_metrics_t *m) {
  static const struct {
    const char *name, *help;
  } t[] = {
    {"stratos_traffic_mined_stos", "STOS the foundation pool has paid as mining rewards."},
    {"stratos_traffic_foundation_stos", "STOS left in the foundation pool."},
    {"stratos_traffic_rewards_held_stos",
     "STOS of traffic and mining rewards not yet withdrawn, immature or matured."},
    {"stratos_traffic_last_epoch", "The last epoch whose volume report was paid (-1: none)."},
  };
  if (!m)
    return;
  for (int i = 0; i < 4; i++) {
    ch->gauges[i].ch = ch;
    ch->gauges[i].what = i;
    st_metrics_gauge_fn(m, t[i].name, t[i].help, "", gauge, &ch->gauges[i]);
  }
}
