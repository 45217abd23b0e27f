/* Unit tests of Proof-of-Traffic on the value chain: volume reports
 * accepted with signatures of 2/3 of the active meta nodes and refused
 * with fewer, forged ones, keys of no meta node, a signer counted twice,
 * a replayed or a skipped epoch, bad entries, or bytes cut or changed
 * after signing, each refusal leaving the state as it was; the rewards
 * to the wei against the formulas worked by hand; maturation after
 * mature_epoch (and at once with 0) and withdrawal; the sum of every
 * balance conserved; the schedule's first tier boundary and its end; a
 * foundation pool smaller than the epoch's reward; an epoch without
 * traffic; wash traffic losing money under the default parameters; the
 * report as a signed tx (a refusal pays its fee, CheckTx keeps nothing)
 * and in a finalized block (the validators' share reaching the bonded
 * validator); the stateless checks of the three messages; the
 * traffic_report, traffic_rewards and foundation queries; the traffic
 * params in genesis. */
#include "chain/nodes.h"
#include "chain/qkit.h"
#include "traffic.pb-c.h"

#define STOS ((st_u128)1000000000000000000ull)
#define HEIGHT 40
#define NMETA 3

enum { SENDER = 0x21, MO1 = 0x31, RW1 = 0x41, RW2, N1 = 0x51, N2, OTHER = 0x61 };

#include "mods_fix.h"

static void set_bal(fix_t *f, const uint8_t *a, st_u128 b) {
  st_chain__acct_t x = {b, 0};
  assert_int_equal(st_chain__ov_put(&f->ov, a, &x), 0);
}

static const uint8_t *macc(const char *name) { return st_chain__macc_named(name); }

static void meta_key(int i, st_keypair_t *kp) { t_key(60 + i, kp, NULL); }

/* Genesis: NMETA meta nodes of 10 STOS (owners MO1...) and one resource
 * node of deposit res_deposit owned by res_owner. */
static void genesis_c(st_chain__ctx_t *c, st_u128 meta_deposit, st_u128 res_deposit,
                      int res_owner) {
  st_chain__gnode_t m[NMETA], r;
  memset(m, 0, sizeof(m));
  memset(&r, 0, sizeof(r));
  for (int i = 0; i < NMETA; i++) {
    st_keypair_t kp;
    meta_key(i, &kp);
    memcpy(m[i].pubkey, kp.pk, ST_PUBKEY_LEN);
    st_addr_from_pubkey(kp.pk, m[i].addr);
    memcpy(m[i].owner, addr(MO1 + i), ST_ADDR_LEN);
    m[i].deposit = meta_deposit;
    snprintf(m[i].moniker, sizeof(m[i].moniker), "m%d", i);
  }
  st_keypair_t kp;
  t_key(70, &kp, r.addr);
  memcpy(r.pubkey, kp.pk, ST_PUBKEY_LEN);
  memcpy(r.owner, addr(res_owner), ST_ADDR_LEN);
  r.deposit = res_deposit;
  r.type = 4;
  r.capacity = 1 << 20;
  snprintf(r.network_address, sizeof(r.network_address), "127.0.0.1:9000");
  st_chain__gnodes_t gn = {.meta = m, .nmeta = NMETA, .res = &r, .nres = 1};
  assert_int_equal(st_chain__register_genesis(&gn, c), 0);
}

static void genesis(fix_t *f, st_u128 meta_deposit, st_u128 res_deposit, int res_owner) {
  genesis_c(&f->c, meta_deposit, res_deposit, res_owner);
}

static fix_t *fix_base(void) {
  fix_t *f = fix_new(HEIGHT, 1000);
  st_chain__params_defaults(&f->p);
  snprintf(f->p.chain_id, sizeof(f->p.chain_id), "%s", T_CHAIN_ID);
  return f;
}

/* The pool of the worked example: S = 40, Pt = 12 STOS, Lt = 1e15 noz;
 * the foundation holds 1000 STOS. */
static int setup(void **state) {
  fix_t *f = fix_base();
  genesis(f, 10 * STOS, 10 * STOS, RW1);
  st_sds_pool_t p = {40 * STOS, 12 * STOS, 1000000000000000ull};
  assert_int_equal(st_chain__sds_pool_put(&f->c, &p), 0);
  set_bal(f, macc("sds_pool"), 12 * STOS);
  set_bal(f, macc("foundation"), 1000 * STOS);
  set_bal(f, addr(SENDER), 5 * STOS);
  *state = f;
  return 0;
}

/* ---- building reports ---- */

typedef struct entry {
  int node, wallet;
  const char *volume;
} entry_t;

/* Encodes a report of epoch with n entries and total into out. */
static void report(const char *meta_chain, uint64_t epoch, const entry_t *e, size_t n,
                   const char *total, st_buf_t *out) {
  Stratos__Traffic__VolumeReport r;
  Stratos__Traffic__VolumeEntry ents[8], *pe[8];
  stratos__traffic__volume_report__init(&r);
  r.meta_chain_id = mut(meta_chain);
  r.epoch = epoch;
  r.meta_height = 100 + epoch;
  for (size_t i = 0; i < n; i++) {
    stratos__traffic__volume_entry__init(&ents[i]);
    ents[i].node.data = (uint8_t *)(uintptr_t)addr(e[i].node);
    ents[i].node.len = ST_ADDR_LEN;
    ents[i].wallet.data = (uint8_t *)(uintptr_t)addr(e[i].wallet);
    ents[i].wallet.len = ST_ADDR_LEN;
    ents[i].volume = mut(e[i].volume);
    pe[i] = &ents[i];
  }
  r.n_entries = n;
  r.entries = pe;
  r.total = mut(total);
  st_buf_init(out, SIZE_MAX);
  assert_int_equal(st_buf_reserve(out, stratos__traffic__volume_report__get_packed_size(&r)), 0);
  out->len = stratos__traffic__volume_report__pack(&r, out->data);
}

/* A MsgVolumeReport body and what it points to. */
typedef struct msg {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgVolumeReport m;
  Stratos__Traffic__ReportSig sigs[8], *ps[8];
  st_keypair_t kps[8];
  uint8_t sb[8][ST_SIG_LEN];
} msg_t;

/* Signers: meta key i for i >= 0; -1 - k for a key of no meta node;
 * 100 + i for meta key i signing other bytes (a forgery). */
static void msg_build(msg_t *x, const st_buf_t *rep, const int *signers, size_t ns) {
  stratos__tx__tx_body__init(&x->b);
  stratos__tx__msg_volume_report__init(&x->m);
  for (size_t i = 0; i < ns; i++) {
    int s = signers[i];
    if (s < 0)
      t_key(80 - s, &x->kps[i], NULL);
    else
      meta_key(s % 100, &x->kps[i]);
    static const uint8_t other[] = "not the report";
    if (s >= 100)
      assert_int_equal(st_sign(&x->kps[i], ST_DOM_VOLUME_REPORT, T_CHAIN_ID, other,
                               sizeof(other), x->sb[i]), 0);
    else
      assert_int_equal(st_sign(&x->kps[i], ST_DOM_VOLUME_REPORT, T_CHAIN_ID, rep->data,
                               rep->len, x->sb[i]), 0);
    stratos__traffic__report_sig__init(&x->sigs[i]);
    x->sigs[i].pubkey.data = x->kps[i].pk;
    x->sigs[i].pubkey.len = ST_PUBKEY_LEN;
    x->sigs[i].signature.data = x->sb[i];
    x->sigs[i].signature.len = ST_SIG_LEN;
    x->ps[i] = &x->sigs[i];
  }
  x->m.report.data = rep->data;
  x->m.report.len = rep->len;
  x->m.n_sigs = ns;
  x->m.sigs = x->ps;
  x->b.msg_case = STRATOS__TX__TX_BODY__MSG_VOLUME_REPORT;
  x->b.volume_report = &x->m;
}

static int submit(fix_t *f, const st_buf_t *rep, const int *signers, size_t ns) {
  msg_t x;
  msg_build(&x, rep, signers, ns);
  return fix_run(f, st_chain__traffic_exec, SENDER, &x.b);
}

/* The worked example's two entries: 3e12 and 1e12 noz. */
static const entry_t two[] = {{N1, RW1, "3000000000000"}, {N2, RW2, "1000000000000"}};
#define TWO_TOTAL "4000000000000"

static int submit_epoch(fix_t *f, uint64_t epoch, const int *signers, size_t ns) {
  st_buf_t rep;
  report(T_CHAIN_ID "-meta", epoch, two, 2, TWO_TOTAL, &rep);
  int rc = submit(f, &rep, signers, ns);
  st_buf_free(&rep);
  return rc;
}

static const int quorum[] = {0, 2};

static int withdraw(fix_t *f, int who, const char *amount) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgWithdrawTraffic m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_withdraw_traffic__init(&m);
  m.amount = mut(amount);
  b.msg_case = STRATOS__TX__TX_BODY__MSG_WITHDRAW_TRAFFIC;
  b.withdraw_traffic = &m;
  return fix_run(f, st_chain__traffic_exec, who, &b);
}

static int deposit(fix_t *f, int who, const char *amount) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgFoundationDeposit m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_foundation_deposit__init(&m);
  m.amount = mut(amount);
  b.msg_case = STRATOS__TX__TX_BODY__MSG_FOUNDATION_DEPOSIT;
  b.foundation_deposit = &m;
  return fix_run(f, st_chain__traffic_exec, who, &b);
}

/* ---- reading state ---- */


static st_u128 imm(fix_t *f, int wallet, uint64_t epoch) {
  uint8_t k[1 + ST_ADDR_LEN + 8] = {ST_K_TR_IMM};
  st_u128 v;
  memcpy(k + 1, addr(wallet), ST_ADDR_LEN);
  st_chain__be64(k + 1 + ST_ADDR_LEN, epoch);
  assert_int_equal(st_chain__ov_read_u128(&f->ov, ST_CHAIN__SP_STATE, k, sizeof(k), &v), 0);
  return v;
}

static st_u128 matured(fix_t *f, int wallet) {
  st_u128 m, w;
  assert_int_equal(st_chain__traffic_acct_get(&f->c, addr(wallet), &m, &w), 0);
  return m;
}

static uint64_t last_epoch(fix_t *f, bool *any) {
  uint64_t last;
  st_u128 mined;
  assert_int_equal(st_chain__traffic_state(&f->c, any, &last, &mined), 0);
  return last;
}

static st_traffic_paid_t paid_of(fix_t *f, uint64_t epoch) {
  st_traffic_paid_t p;
  const uint8_t *rep;
  size_t n;
  assert_int_equal(st_chain__traffic_report_get(&f->c, epoch, &p, &rep, &n), 0);
  assert_true(n > 0);
  return p;
}

static void log_has(fix_t *f, const char *s) {
  if (!strstr(f->log, s))
    fail_msg("log \"%s\" lacks \"%s\"", f->log, s);
}

/* ---- tests ---- */

static void test_quorum_accepted(void **state) {
  fix_t *f = *state;
  bool any;
  last_epoch(f, &any);
  assert_false(any);
  /* 2 of 3 = ceil(2 * 3 / 3): the first report may be any epoch. */
  assert_int_equal(submit_epoch(f, 5, quorum, 2), 0);
  assert_int_equal(last_epoch(f, &any), 5);
  assert_true(any);
  st_traffic_paid_t p = paid_of(f, 5);
  assert_int_equal(p.signers, 2);
  assert_int_equal(p.active, 3);
  assert_int_equal(p.height, HEIGHT);
  /* The next epoch with all three. */
  static const int all[] = {2, 1, 0};
  assert_int_equal(submit_epoch(f, 6, all, 3), 0);
  assert_int_equal(paid_of(f, 6).signers, 3);
}

/* A refused report: the tx's message fails and the state is as it was. */
static void refused(fix_t *f, int rc, int code, const char *text, st_u128 total0) {
  assert_int_equal(rc, code);
  log_has(f, text);
  assert_true(supply(f) == total0);
}

static void test_refused(void **state) {
  fix_t *f = *state;
  st_u128 total0 = supply(f);
  st_u128 sds0 = bal(f, macc("sds_pool")), found0 = bal(f, macc("foundation"));
  bool any;
  static const int one[] = {1}, forged[] = {0, 101}, strangers[] = {0, -1, -2},
                   twice[] = {2, 2, 2};
  refused(f, submit_epoch(f, 5, one, 1), ST_EPERM, "signatures of 1 active meta nodes; 2 of 3",
          total0);
  refused(f, submit_epoch(f, 5, forged, 2), ST_EPERM, "of 1 active", total0);
  refused(f, submit_epoch(f, 5, strangers, 3), ST_EPERM, "of 1 active", total0);
  refused(f, submit_epoch(f, 5, twice, 3), ST_EPERM, "of 1 active", total0);
  /* A node's first signature is the one checked: a forgery then a good
   * one of the same key count nothing. */
  static const int forged_first[] = {0, 101, 1};
  refused(f, submit_epoch(f, 5, forged_first, 3), ST_EPERM, "of 1 active", total0);
  last_epoch(f, &any);
  assert_false(any);
  assert_true(bal(f, macc("sds_pool")) == sds0);
  assert_true(bal(f, macc("foundation")) == found0);
  assert_true(f->c.fees == 0);

  /* Replays and skips around an accepted epoch 5. */
  assert_int_equal(submit_epoch(f, 5, quorum, 2), 0);
  st_u128 total1 = supply(f), fees1 = f->c.fees;
  st_u128 sds1 = bal(f, macc("sds_pool"));
  refused(f, submit_epoch(f, 5, quorum, 2), ST_EEXIST, "epoch 5 is already reported", total1);
  refused(f, submit_epoch(f, 4, quorum, 2), ST_EEXIST, "already reported", total1);
  refused(f, submit_epoch(f, 7, quorum, 2), ST_EINVAL, "epoch 7 is not the next one: expected 6",
          total1);
  assert_int_equal(last_epoch(f, &any), 5);
  assert_true(bal(f, macc("sds_pool")) == sds1);
  assert_true(f->c.fees == fees1);

  /* Bad reports. */
  st_buf_t rep;
  report("other-meta", 6, two, 2, TWO_TOTAL, &rep);
  refused(f, submit(f, &rep, quorum, 2), ST_EINVAL, "meta chain other-meta", total1);
  st_buf_free(&rep);
  static const entry_t unsorted[] = {{N2, RW1, "1"}, {N1, RW2, "1"}};
  report(T_CHAIN_ID "-meta", 6, unsorted, 2, "2", &rep);
  refused(f, submit(f, &rep, quorum, 2), ST_EINVAL, "distinct and sorted", total1);
  st_buf_free(&rep);
  static const entry_t dup[] = {{N1, RW1, "1"}, {N1, RW2, "1"}};
  report(T_CHAIN_ID "-meta", 6, dup, 2, "2", &rep);
  refused(f, submit(f, &rep, quorum, 2), ST_EINVAL, "distinct and sorted", total1);
  st_buf_free(&rep);
  static const entry_t zero[] = {{N1, RW1, "0"}};
  report(T_CHAIN_ID "-meta", 6, zero, 1, "0", &rep);
  refused(f, submit(f, &rep, quorum, 2), ST_EINVAL, "volume must be a positive", total1);
  st_buf_free(&rep);
  report(T_CHAIN_ID "-meta", 6, two, 2, "4000000000001", &rep);
  refused(f, submit(f, &rep, quorum, 2), ST_EINVAL, "is not the sum of the volumes", total1);
  st_buf_free(&rep);
  assert_int_equal(last_epoch(f, &any), 5);
}

/* Every prefix of a report (signed as it is) and every byte of a signed
 * report changed afterwards is refused with a sentence and changes
 * nothing. */
static void test_mangled(void **state) {
  fix_t *f = *state;
  st_buf_t rep;
  st_u128 total0 = supply(f);
  bool any;
  report(T_CHAIN_ID "-meta", 5, two, 2, TWO_TOTAL, &rep);
  for (size_t n = 1; n < rep.len; n++) {
    st_buf_t cut = {.data = rep.data, .len = n};
    assert_int_not_equal(submit(f, &cut, quorum, 2), 0);
    assert_true(f->log[0] != '\0');
  }
  /* Signed, then changed in flight: the signatures no longer hold. */
  for (size_t i = 0; i < rep.len; i++) {
    msg_t x;
    msg_build(&x, &rep, quorum, 2);
    rep.data[i] ^= 0x5a;
    assert_int_not_equal(fix_run(f, st_chain__traffic_exec, SENDER, &x.b), 0);
    assert_true(f->log[0] != '\0');
    rep.data[i] ^= 0x5a;
  }
  assert_true(supply(f) == total0);
  last_epoch(f, &any);
  assert_false(any);
  assert_int_equal(submit(f, &rep, quorum, 2), 0);
  st_buf_free(&rep);
}

/* The worked example of docs/traffic.md:
 *   R   = (40 + 12) STOS * 4e12 / (1e15 + 4e12) = 207171314741035856 wei
 *   tax = R * 100 / 10000                       = 2071713147410358
 *   M   = 80 STOS (tier 0: 6000 / 2000 / 2000)
 *   base = R - tax + M                          = 80205099601593625498
 *   resource 60%  = 48123059760956175298: RW1 3/4 -> 36092294820717131473,
 *                                         RW2 1/4 -> 12030764940239043824
 *   meta 20%      = 16041019920318725099: / 3  -> 5347006640106241699 each
 *   validators 20% = 16041019920318725099
 * paid = 80207171314741035851 = R + M - 5: the 5 wei of rounding stay in
 * the prepay pool, which pays R - 5. */
static void test_rewards_exact(void **state) {
  fix_t *f = *state;
  const st_u128 R = 207171314741035856ull, M = 80 * STOS;
  const st_u128 tax = 2071713147410358ull;
  const st_u128 r1 = (st_u128)36092294820717131ull * 1000 + 473;
  const st_u128 r2 = (st_u128)12030764940239043ull * 1000 + 824;
  const st_u128 each = 5347006640106241699ull;
  const st_u128 val = (st_u128)16041019920318725ull * 1000 + 99;
  st_u128 community0 = bal(f, st_chain__macc(ST_MACC_COMMUNITY));
  st_u128 distr0 = bal(f, st_chain__macc(ST_MACC_DISTR));
  assert_int_equal(submit_epoch(f, 9, quorum, 2), 0);
  st_traffic_paid_t p = paid_of(f, 9);
  assert_true(p.volume == 4000000000000ull);
  assert_true(p.r_formula == R);
  assert_true(p.r == R - 5);
  assert_true(p.m == M);
  assert_true(p.tax == tax);
  assert_true(p.resource == r1 + r2);
  assert_true(p.meta == 3 * each);
  assert_true(p.validators == val);
  assert_true(p.r + p.m == p.tax + p.resource + p.meta + p.validators);
  assert_true(imm(f, RW1, 9) == r1);
  assert_true(imm(f, RW2, 9) == r2);
  for (int i = 0; i < NMETA; i++)
    assert_true(imm(f, MO1 + i, 9) == each);
  assert_true(bal(f, macc("sds_pool")) == 12 * STOS - (R - 5));
  assert_true(bal(f, macc("foundation")) == 1000 * STOS - M);
  assert_true(bal(f, macc("traffic_rewards")) == r1 + r2 + 3 * each);
  assert_true(bal(f, st_chain__macc(ST_MACC_COMMUNITY)) == community0 + tax);
  assert_true(bal(f, st_chain__macc(ST_MACC_DISTR)) == distr0 + val);
  assert_true(f->c.fees == val);
  st_sds_pool_t pool;
  assert_int_equal(st_chain__sds_pool_get(&f->c, &pool), 0);
  assert_true(pool.S == 40 * STOS);
  assert_true(pool.Pt == 12 * STOS - (R - 5));
  assert_true(pool.Lt == 1000000000000000ull + 4000000000000ull);
  bool any;
  uint64_t last;
  st_u128 mined;
  assert_int_equal(st_chain__traffic_state(&f->c, &any, &last, &mined), 0);
  assert_true(mined == M);
}

static void test_mature_withdraw(void **state) {
  fix_t *f = *state;
  assert_int_equal(submit_epoch(f, 5, quorum, 2), 0);
  st_u128 r5 = imm(f, RW1, 5);
  assert_true(r5 > 0);
  assert_int_equal(withdraw(f, RW1, ""), ST_EPERM);
  log_has(f, "no matured traffic rewards");
  assert_int_equal(submit_epoch(f, 6, quorum, 2), 0);
  assert_true(matured(f, RW1) == 0); /* 6 < 5 + 2 */
  st_u128 r6 = imm(f, RW1, 6), m5 = imm(f, MO1, 5);
  assert_int_equal(submit_epoch(f, 7, quorum, 2), 0);
  assert_true(matured(f, RW1) == r5); /* 7 >= 5 + 2 */
  assert_true(imm(f, RW1, 5) == 0);
  assert_true(imm(f, RW1, 6) == r6);
  assert_true(matured(f, MO1) == m5); /* the meta share alike */

  /* More than matured is refused; a part, then the rest. */
  char s[ST_U128_STR_MAX];
  st_u128_format(r5 + 1, s);
  assert_int_equal(withdraw(f, RW1, s), ST_EPERM);
  log_has(f, "exceeds the matured traffic rewards");
  st_u128 tr0 = bal(f, macc("traffic_rewards")), total0 = supply(f);
  assert_int_equal(withdraw(f, RW1, "1000"), 0);
  assert_true(bal(f, addr(RW1)) == 1000);
  assert_int_equal(withdraw(f, RW1, ""), 0);
  assert_true(bal(f, addr(RW1)) == r5);
  assert_true(bal(f, macc("traffic_rewards")) == tr0 - r5);
  assert_true(supply(f) == total0);
  st_u128 m, w;
  assert_int_equal(st_chain__traffic_acct_get(&f->c, addr(RW1), &m, &w), 0);
  assert_true(m == 0);
  assert_true(w == r5);
  assert_int_equal(withdraw(f, RW1, ""), ST_EPERM);
  assert_int_equal(withdraw(f, RW1, "0"), ST_EINVAL);
}

static void test_mature_zero(void **state) {
  fix_t *f = *state;
  f->p.traffic_mature_epoch = 0;
  assert_int_equal(submit_epoch(f, 3, quorum, 2), 0);
  assert_true(matured(f, RW2) > 0);
  assert_true(imm(f, RW2, 3) == 0);
}

static void test_conservation(void **state) {
  fix_t *f = *state;
  /* Stake in the bonded and unbonding pools and fees waiting counts too. */
  set_bal(f, st_chain__macc(ST_MACC_BONDED), 500 * STOS);
  set_bal(f, st_chain__macc(ST_MACC_NOT_BONDED), 7 * STOS);
  st_u128 t0 = supply(f);
  st_u128 found0 = bal(f, macc("foundation"));
  for (uint64_t e = 20; e < 26; e++) {
    assert_int_equal(submit_epoch(f, e, quorum, 2), 0);
    assert_true(supply(f) == t0);
  }
  /* Exactly the mined wei left the foundation; they sit with the
   * recipients, immature or paid. */
  bool any;
  uint64_t last;
  st_u128 mined;
  assert_int_equal(st_chain__traffic_state(&f->c, &any, &last, &mined), 0);
  assert_true(mined == 6 * 80 * STOS);
  assert_true(bal(f, macc("foundation")) == found0 - mined);
  /* The end of the block hands the validators' share on (here, with no
   * validator bonded, to the community pool): still every wei. */
  assert_int_equal(st_chain__distr_end_block(&f->c, f->c.fees), 0);
  assert_true(supply(f) == t0);
  assert_int_equal(withdraw(f, RW1, ""), 0);
  assert_int_equal(deposit(f, SENDER, "1000000"), 0);
  assert_true(supply(f) == t0);
}

static void test_tier_boundary(void **state) {
  fix_t *f = *state;
  st_traffic_tier_t t;
  st_chain__traffic_tier(16819200 * STOS - 1, &t);
  assert_int_equal(t.index, 0);
  assert_true(t.reward == 80 * STOS);
  st_chain__traffic_tier(16819200 * STOS, &t);
  assert_int_equal(t.index, 1);
  assert_true(t.reward == 40 * STOS);
  assert_int_equal(t.res_bps, 6200);
  assert_int_equal(t.meta_bps, 1800);
  st_chain__traffic_tier(40000000 * STOS - STOS, &t);
  assert_true(t.reward == STOS); /* the schedule ends at 40,000,000 */
  st_chain__traffic_tier(40000000 * STOS, &t);
  assert_true(t.reward == 0);
  assert_int_equal(t.res_bps, 7000);

  /* 16,819,120 mined: this epoch mines 80 and reaches the boundary; the
   * next one mines 40 split 62 / 18 / 20. */
  const uint8_t k[] = {ST_K_TRAFFIC, 'm'};
  assert_int_equal(st_chain__ov_write_u128(&f->ov, ST_CHAIN__SP_STATE, k, sizeof(k),
                                           16819120 * STOS), 0);
  assert_int_equal(submit_epoch(f, 1, quorum, 2), 0);
  assert_true(paid_of(f, 1).m == 80 * STOS);
  assert_int_equal(submit_epoch(f, 2, quorum, 2), 0);
  st_traffic_paid_t p = paid_of(f, 2);
  assert_true(p.m == 40 * STOS);
  st_u128 base = p.r_formula - p.tax + p.m; /* r_formula < pool: no cap */
  assert_true(p.validators == base * 2000 / 10000);
  assert_true(p.meta == base * 1800 / 10000 / 3 * 3);
  bool any;
  uint64_t last;
  st_u128 mined;
  assert_int_equal(st_chain__traffic_state(&f->c, &any, &last, &mined), 0);
  assert_true(mined == 16819240 * STOS);
}

static void test_foundation_short(void **state) {
  fix_t *f = *state;
  set_bal(f, macc("foundation"), 30 * STOS);
  st_u128 t0 = supply(f);
  assert_int_equal(submit_epoch(f, 1, quorum, 2), 0);
  st_traffic_paid_t p = paid_of(f, 1);
  assert_true(p.m == 30 * STOS);
  assert_true(bal(f, macc("foundation")) == 0);
  assert_true(supply(f) == t0);
  /* Empty: only the traffic reward is paid. */
  assert_int_equal(submit_epoch(f, 2, quorum, 2), 0);
  p = paid_of(f, 2);
  assert_true(p.m == 0);
  assert_true(p.r > 0);
  assert_true(p.r + p.m == p.tax + p.resource + p.meta + p.validators);
  /* A deposit refills it. */
  assert_int_equal(deposit(f, SENDER, "2000000000000000000"), 0);
  assert_true(bal(f, macc("foundation")) == 2 * STOS);
  assert_true(bal(f, addr(SENDER)) == 3 * STOS);
  assert_int_equal(deposit(f, SENDER, "9000000000000000000"), ST_EPERM);
  assert_int_equal(deposit(f, SENDER, "0"), ST_EINVAL);
}

/* An epoch without traffic: only the mining reward, and the resource
 * share it would have had stays in the foundation pool. */
static void test_empty_report(void **state) {
  fix_t *f = *state;
  st_buf_t rep;
  report(T_CHAIN_ID "-meta", 4, NULL, 0, "0", &rep);
  assert_int_equal(submit(f, &rep, quorum, 2), 0);
  st_buf_free(&rep);
  st_traffic_paid_t p = paid_of(f, 4);
  assert_true(p.r == 0);
  assert_true(p.resource == 0);
  assert_true(p.validators == 16 * STOS);
  assert_true(p.meta == 16 * STOS - 1); /* 16 STOS / 3, floored, times 3 */
  assert_true(p.m == 32 * STOS - 1);
  assert_true(bal(f, macc("foundation")) == 1000 * STOS - p.m);
}

/* Wash traffic, default parameters: a wallet that prepays X STOS and has
 * its own resource node serve all the noz back to itself gets less than
 * X back. With Lt' = Lt - noz after the prepay, R = (S + Pt + X) * noz /
 * Lt <= X, and the wallet keeps only the resource share of R less the
 * tax: at most 0.6 * 0.99 * X. The foundation pool is empty here, as at
 * genesis: a mining reward is paid per epoch whatever the traffic, and
 * its resource share goes pro rata to volume (see docs/traffic.md). */
static int wsetup(void **state) {
  fix_t *f = fix_base();
  enum { WASHER = 0x71 };
  genesis(f, f->p.meta_node_min_deposit, f->p.resource_node_min_deposit, WASHER);
  set_bal(f, addr(WASHER), 100 * STOS);
  *state = f;
  return 0;
}

static void test_wash_traffic(void **state) {
  fix_t *f = *state;
  enum { WASHER = 0x71 };
  const st_u128 X = 10 * STOS, start = bal(f, addr(WASHER));
  st_sds_pool_t before, after;
  assert_int_equal(st_chain__sds_pool_get(&f->c, &before), 0);
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgPrepay m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_prepay__init(&m);
  m.beneficiary.data = (uint8_t *)(uintptr_t)addr(WASHER);
  m.beneficiary.len = ST_ADDR_LEN;
  m.amount = mut("10000000000000000000");
  b.msg_case = STRATOS__TX__TX_BODY__MSG_PREPAY;
  b.prepay = &m;
  assert_int_equal(fix_run(f, st_chain__sds_exec, WASHER, &b), 0);
  assert_int_equal(st_chain__sds_pool_get(&f->c, &after), 0);
  st_u128 noz = before.Lt - after.Lt;
  assert_true(noz > 0);
  char vol[ST_U128_STR_MAX];
  st_u128_format(noz, vol);
  entry_t e = {N1, WASHER, vol};
  st_buf_t rep;
  report(T_CHAIN_ID "-meta", 1, &e, 1, vol, &rep);
  assert_int_equal(submit(f, &rep, quorum, 2), 0);
  st_buf_free(&rep);
  st_traffic_paid_t p = paid_of(f, 1);
  assert_true(p.m == 0);
  assert_true(p.r <= X);
  /* Through maturation and withdrawal. */
  for (uint64_t ep = 2; ep <= 1 + f->p.traffic_mature_epoch; ep++) {
    report(T_CHAIN_ID "-meta", ep, NULL, 0, "0", &rep);
    assert_int_equal(submit(f, &rep, quorum, 2), 0);
    st_buf_free(&rep);
  }
  assert_int_equal(withdraw(f, WASHER, ""), 0);
  st_u128 end = bal(f, addr(WASHER));
  assert_true(end < start);
  assert_true(start - end + 1 >= X - X * 6 / 10 * 99 / 100);
}

/* ---- as a tx ---- */

/* A signed tx of key 90 carrying the volume report rep with signers,
 * its fee the minimum for its size (found by encoding twice). */
static void report_tx(st_u128 min_fee, uint64_t nonce, const st_buf_t *rep, const int *signers,
                      size_t ns, size_t nsigs_claimed, st_buf_t *tx, st_u128 *fee) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgVolumeReport m;
  Stratos__Traffic__ReportSig sigs[8], **ps;
  st_keypair_t kps[8], sender;
  uint8_t sb[8][ST_SIG_LEN], sig[ST_SIG_LEN];
  char fs[ST_U128_STR_MAX];
  t_key(90, &sender, NULL);
  ps = calloc(nsigs_claimed, sizeof(*ps));
  assert_non_null(ps);
  for (size_t i = 0; i < ns; i++) {
    meta_key(signers[i], &kps[i]);
    assert_int_equal(st_sign(&kps[i], ST_DOM_VOLUME_REPORT, T_CHAIN_ID, rep->data, rep->len,
                             sb[i]), 0);
    stratos__traffic__report_sig__init(&sigs[i]);
    sigs[i].pubkey.data = kps[i].pk;
    sigs[i].pubkey.len = ST_PUBKEY_LEN;
    sigs[i].signature.data = sb[i];
    sigs[i].signature.len = ST_SIG_LEN;
  }
  for (size_t i = 0; i < nsigs_claimed; i++)
    ps[i] = &sigs[i % ns];
  stratos__tx__msg_volume_report__init(&m);
  m.report.data = rep->data;
  m.report.len = rep->len;
  m.n_sigs = nsigs_claimed;
  m.sigs = ps;
  stratos__tx__tx_body__init(&b);
  b.chain_id = mut(T_CHAIN_ID);
  b.nonce = nonce;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_VOLUME_REPORT;
  b.volume_report = &m;
  *fee = 0;
  for (int pass = 0; pass < 2; pass++) {
    st_u128_format(*fee, fs);
    b.fee = fs;
    size_t bl = stratos__tx__tx_body__get_packed_size(&b);
    uint8_t *body = malloc(bl);
    assert_non_null(body);
    stratos__tx__tx_body__pack(&b, body);
    assert_int_equal(st_sign(&sender, ST_DOM_TX, T_CHAIN_ID, body, bl, sig), 0);
    st_buf_init(tx, SIZE_MAX);
    assert_int_equal(st_chain__tx_encode(body, bl, sender.pk, sig, tx), 0);
    free(body);
    if (pass == 0) {
      *fee = min_fee * (tx->len + 64);
      st_buf_free(tx);
    }
  }
  free(ps);
}

/* Signs body b (fee set to fee) as key 90 into tx. */
static void sign_body(Stratos__Tx__TxBody *b, st_u128 fee, st_buf_t *tx) {
  st_keypair_t sender;
  uint8_t sig[ST_SIG_LEN];
  char fs[ST_U128_STR_MAX];
  t_key(90, &sender, NULL);
  st_u128_format(fee, fs);
  b->chain_id = mut(T_CHAIN_ID);
  b->fee = fs;
  size_t bl = stratos__tx__tx_body__get_packed_size(b);
  uint8_t *body = malloc(bl);
  assert_non_null(body);
  stratos__tx__tx_body__pack(b, body);
  assert_int_equal(st_sign(&sender, ST_DOM_TX, T_CHAIN_ID, body, bl, sig), 0);
  st_buf_init(tx, SIZE_MAX);
  assert_int_equal(st_chain__tx_encode(body, bl, sender.pk, sig, tx), 0);
  free(body);
}

/* The stateless checks of MsgFoundationDeposit and MsgWithdrawTraffic. */
static void test_stateless(void **state) {
  fix_t *f = *state;
  const st_u128 fee = STOS / 1000;
  st_buf_t tx;
  st_chain__tx_t t;
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgFoundationDeposit d;
  Stratos__Tx__MsgWithdrawTraffic w;
  static const struct {
    bool deposit;
    const char *amount;
    int code;
    const char *log;
  } cases[] = {
    {true, "0", ST_EINVAL, "amount must be greater than zero"},
    {true, "", ST_EINVAL, "amount must be a decimal number of wei"},
    {true, "01", ST_EINVAL, "amount must be a decimal number of wei"},
    {true, "5", 0, ""},
    {false, "0", ST_EINVAL, "amount must be greater than zero"},
    {false, "-3", ST_EINVAL, "amount must be a decimal number of wei"},
    {false, "", 0, ""},
    {false, "7", 0, ""},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    stratos__tx__tx_body__init(&b);
    if (cases[i].deposit) {
      stratos__tx__msg_foundation_deposit__init(&d);
      d.amount = mut(cases[i].amount);
      b.msg_case = STRATOS__TX__TX_BODY__MSG_FOUNDATION_DEPOSIT;
      b.foundation_deposit = &d;
    } else {
      stratos__tx__msg_withdraw_traffic__init(&w);
      w.amount = mut(cases[i].amount);
      b.msg_case = STRATOS__TX__TX_BODY__MSG_WITHDRAW_TRAFFIC;
      b.withdraw_traffic = &w;
    }
    sign_body(&b, fee, &tx);
    int rc = st_chain__tx_check(&f->p, tx.data, tx.len, &t, f->log, sizeof(f->log));
    assert_int_equal(rc, cases[i].code);
    if (rc != 0)
      log_has(f, cases[i].log);
    else
      /* A deposit's amount counts in what the balance must cover. */
      assert_true(t.cost == fee + (cases[i].deposit ? 5 : 0));
    st_buf_free(&tx);
  }
}

static void test_as_tx(void **state) {
  fix_t *f = *state;
  st_keypair_t sender;
  uint8_t sa[ST_ADDR_LEN];
  t_key(90, &sender, sa);
  set_bal(f, sa, 2 * STOS);
  const uint8_t *distr = st_chain__macc(ST_MACC_DISTR);
  st_buf_t rep, tx;
  st_u128 fee;
  st_chain__tx_t t;
  static const int one[] = {1};

  /* Refused for want of signatures: the fee is paid, the nonce used. */
  report(T_CHAIN_ID "-meta", 8, two, 2, TWO_TOTAL, &rep);
  report_tx(f->p.min_fee_per_byte, 0, &rep, one, 1, 1, &tx, &fee);
  assert_int_equal(st_chain__tx_check(&f->p, tx.data, tx.len, &t, f->log, sizeof(f->log)), 0);
  assert_int_equal(st_chain__tx_verify(T_CHAIN_ID, tx.data, &t), 0);
  assert_int_equal(st_chain__tx_exec(&f->c, &t, tx.data), 0);
  assert_int_equal(f->c.code, ST_EPERM);
  log_has(f, "2 of 3 are needed");
  assert_true(bal(f, sa) == 2 * STOS - fee);
  assert_true(bal(f, distr) == fee);
  assert_true(f->c.fees == fee);
  st_chain__acct_t a;
  assert_int_equal(st_chain__ov_get(&f->ov, sa, &a), 0);
  assert_int_equal(a.nonce, 1);
  bool any;
  last_epoch(f, &any);
  assert_false(any);
  st_buf_free(&tx);

  /* With a quorum, in CheckTx (a dry run): accepted, nothing kept; then
   * in a block. */
  st_u128 fees0 = f->c.fees, total0 = supply(f);
  f->c.any_nonce = true;
  report_tx(f->p.min_fee_per_byte, 1, &rep, quorum, 2, 2, &tx, &fee);
  assert_int_equal(st_chain__tx_check(&f->p, tx.data, tx.len, &t, f->log, sizeof(f->log)), 0);
  assert_int_equal(st_chain__tx_exec(&f->c, &t, tx.data), 0);
  assert_true(f->c.fees == fees0);
  assert_true(supply(f) == total0);
  assert_true(bal(f, sa) == 2 * STOS - fees0);
  last_epoch(f, &any);
  assert_false(any);
  f->c.any_nonce = false;
  assert_int_equal(st_chain__tx_exec(&f->c, &t, tx.data), 0);
  assert_int_equal(f->c.code, 0);
  st_traffic_paid_t p = paid_of(f, 8);
  /* The block's fees: both txs' fees and the validators' share. */
  assert_true(f->c.fees == fees0 + fee + p.validators);
  st_buf_free(&tx);

  /* Stateless: too many signatures, or none. */
  report_tx(f->p.min_fee_per_byte, 2, &rep, quorum, 2, ST_TRAFFIC_MAX_SIGS + 1, &tx, &fee);
  f->p.max_tx_bytes = 1 << 20;
  assert_int_equal(st_chain__tx_check(&f->p, tx.data, tx.len, &t, f->log, sizeof(f->log)),
                   ST_EINVAL);
  log_has(f, "1 to 1024 signatures");
  st_buf_free(&tx);
  st_buf_free(&rep);
}

/* ---- queries over a committed state ---- */

typedef struct qfix {
  char dir[PATH_MAX];
  st_store_t *s;
  st_chain_t ch;
} qfix_t;

static json_t *q_ok(qfix_t *q, int (*fn)(st_chain_t *, json_t *, json_t **, char *, size_t),
                    const char *params) {
  json_t *p = params ? json_loads(params, 0, NULL) : NULL, *res = NULL;
  char err[256];
  int rc = fn(&q->ch, p, &res, err, sizeof(err));
  json_decref(p);
  if (rc != 0)
    fail_msg("query failed: %s", err);
  return res;
}

static void q_err(qfix_t *q, int (*fn)(st_chain_t *, json_t *, json_t **, char *, size_t),
                  const char *params, const char *want) {
  json_t *p = params ? json_loads(params, 0, NULL) : NULL, *res = NULL;
  char err[256];
  assert_int_equal(fn(&q->ch, p, &res, err, sizeof(err)), ST_RPC_INVALID_PARAMS);
  assert_null(res);
  assert_string_equal(err, want);
  json_decref(p);
}

static const char *jstr(json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  assert_non_null(s);
  return s;
}

static void test_queries(void **state) {
  (void)state;
  qfix_t *q = calloc(1, sizeof(*q));
  assert_non_null(q);
  t_chain_open(q->dir, sizeof(q->dir), &q->s, &q->ch, 2);
  /* The registry, the pools and one accepted report, as a block would
   * leave them. */
  t_state_w_t w;
  t_state_begin(&w, &q->ch, 3, 0);
  st_chain__gnode_t m[NMETA];
  memset(m, 0, sizeof(m));
  for (int i = 0; i < NMETA; i++) {
    st_keypair_t kp;
    meta_key(i, &kp);
    memcpy(m[i].pubkey, kp.pk, ST_PUBKEY_LEN);
    st_addr_from_pubkey(kp.pk, m[i].addr);
    memcpy(m[i].owner, addr(MO1 + i), ST_ADDR_LEN);
    m[i].deposit = 10 * STOS;
  }
  st_chain__gnodes_t gn = {.meta = m, .nmeta = NMETA};
  assert_int_equal(st_chain__register_genesis(&gn, &w.c), 0);
  st_sds_pool_t pool = {40 * STOS, 12 * STOS, 1000000000000000ull};
  assert_int_equal(st_chain__sds_pool_put(&w.c, &pool), 0);
  st_chain__acct_t a = {12 * STOS, 0};
  assert_int_equal(st_chain__ov_put(&w.ov, macc("sds_pool"), &a), 0);
  a.balance = 1000 * STOS;
  assert_int_equal(st_chain__ov_put(&w.ov, macc("foundation"), &a), 0);
  st_buf_t rep;
  msg_t x;
  report(T_CHAIN_ID "-meta", 9, two, 2, TWO_TOTAL, &rep);
  msg_build(&x, &rep, quorum, 2);
  assert_int_equal(st_chain__traffic_exec(&w.c, addr(SENDER), &x.b), 0);
  st_buf_free(&rep);
  t_state_commit(&w);

  json_t *r = q_ok(q, st_chain__q_traffic_report, "{\"epoch\":9}");
  assert_string_equal(jstr(r, "traffic_reward"), "207171314741035851");
  assert_string_equal(jstr(r, "traffic_reward_formula"), "207171314741035856");
  assert_string_equal(jstr(r, "mining_reward"), "80000000000000000000");
  assert_string_equal(jstr(r, "community_tax"), "2071713147410358");
  assert_string_equal(jstr(r, "validators_share"), "16041019920318725099");
  assert_string_equal(jstr(r, "volume"), "4000000000000");
  assert_int_equal(json_integer_value(json_object_get(r, "signers")), 2);
  assert_int_equal(json_integer_value(json_object_get(r, "active_meta_nodes")), 3);
  json_t *rj = json_object_get(r, "report");
  assert_string_equal(jstr(rj, "meta_chain_id"), T_CHAIN_ID "-meta");
  assert_string_equal(jstr(rj, "total"), TWO_TOTAL);
  json_t *e0 = json_array_get(json_object_get(rj, "entries"), 0);
  assert_string_equal(jstr(e0, "volume"), "3000000000000");
  assert_int_equal(strncmp(jstr(e0, "node"), "stsds1", 6), 0);
  json_decref(r);
  r = q_ok(q, st_chain__q_traffic_report, NULL); /* the last one */
  assert_int_equal(json_integer_value(json_object_get(r, "epoch")), 9);
  json_decref(r);
  q_err(q, st_chain__q_traffic_report, "{\"epoch\":8}",
        "invalid params: no volume report was accepted for epoch 8");

  char who[ST_ADDR_STR_MAX], params[128];
  assert_int_equal(st_addr_encode(ST_HRP_WALLET, addr(RW1), who, sizeof(who)), 0);
  snprintf(params, sizeof(params), "{\"address\":\"%s\"}", who);
  r = q_ok(q, st_chain__q_traffic_rewards, params);
  assert_string_equal(jstr(r, "immature_total"), "36092294820717131473");
  assert_string_equal(jstr(r, "matured"), "0");
  assert_string_equal(jstr(r, "withdrawn"), "0");
  json_t *i0 = json_array_get(json_object_get(r, "immature"), 0);
  assert_int_equal(json_integer_value(json_object_get(i0, "epoch")), 9);
  assert_int_equal(json_integer_value(json_object_get(i0, "matures_with_epoch")), 11);
  assert_string_equal(jstr(i0, "amount"), "36092294820717131473");
  json_decref(r);
  q_err(q, st_chain__q_traffic_rewards, NULL, "invalid params: address is required");

  r = q_ok(q, st_chain__q_foundation, NULL);
  assert_string_equal(jstr(r, "balance"), "920000000000000000000");
  assert_string_equal(jstr(r, "total_mined"), "80000000000000000000");
  assert_int_equal(json_integer_value(json_object_get(r, "last_epoch")), 9);
  json_t *tier = json_object_get(r, "tier");
  assert_string_equal(jstr(tier, "reward_per_epoch"), "80000000000000000000");
  assert_int_equal(json_integer_value(json_object_get(tier, "resource_bps")), 6000);
  json_decref(r);
  t_chain_close(q->dir, q->s, &q->ch);
  free(q);
}

/* ---- in a block ---- */

/* Finalizes and commits block height with the n txs, as the engine does. */
static void finalize(st_chain_t *ch, st_store_t *s, int64_t height, st_buf_t *txs, size_t n) {
  const uint8_t *ptrs[4];
  size_t lens[4];
  uint8_t bh[ST_HASH_LEN], prop[ST_ADDR_LEN], app[ST_HASH_LEN], res[ST_HASH_LEN];
  st_keypair_t kp;
  t_key(7, &kp, prop);
  for (size_t i = 0; i < n; i++) {
    ptrs[i] = txs[i].data;
    lens[i] = txs[i].len;
  }
  memset(bh, (int)height, sizeof(bh));
  st_cons_block_t b = {.height = height, .time_ms = 1795000000000LL + height * 1000,
                       .hash = bh, .proposer = prop, .ntxs = n, .txs = ptrs, .tx_lens = lens};
  st_txn_t *txn;
  st_cons_valset_t next = {0};
  bool changed = false;
  assert_int_equal(st_txn_begin(s, true, &txn), 0);
  assert_int_equal(st_chain__app_finalize(ch, txn, &b, app, res, &next, &changed), 0);
  assert_false(changed);
  assert_int_equal(st_txn_commit(txn), 0);
  st_chain__app_committed(ch, height);
}

/* The validator's outstanding rewards (commission included). */
static st_u128 outstanding(st_chain_t *ch) {
  st_qk_reader_t r;
  char err[128];
  uint8_t op[ST_ADDR_LEN], k[1 + ST_ADDR_LEN];
  st_keypair_t kp;
  st_u128 v;
  t_key(7, &kp, op);
  assert_int_equal(st_qk_open(ch, &r, err, sizeof(err)), 0);
  assert_int_equal(st_chain__ov_read_u128(&r.ov, ST_CHAIN__SP_STATE, k,
                                          st_chain__k1(k, ST_K_D_OUT, op), &v), 0);
  st_qk_close(&r);
  return v;
}

/* A report relayed in a block: the validators' share reaches the bonded
 * validator with the block's fees, less distribution's community tax. */
static void test_in_a_block(void **state) {
  (void)state;
  qfix_t *q = calloc(1, sizeof(*q));
  assert_non_null(q);
  t_chain_open(q->dir, sizeof(q->dir), &q->s, &q->ch, 2);
  t_state_w_t w;
  t_state_begin(&w, &q->ch, 0, 0);
  genesis_c(&w.c, 10 * STOS, 10 * STOS, RW1);
  st_sds_pool_t pool = {40 * STOS, 12 * STOS, 1000000000000000ull};
  assert_int_equal(st_chain__sds_pool_put(&w.c, &pool), 0);
  st_chain__acct_t a = {12 * STOS, 0};
  assert_int_equal(st_chain__ov_put(&w.ov, macc("sds_pool"), &a), 0);
  a.balance = 1000 * STOS;
  assert_int_equal(st_chain__ov_put(&w.ov, macc("foundation"), &a), 0);
  st_keypair_t sender;
  uint8_t sa[ST_ADDR_LEN];
  t_key(90, &sender, sa);
  a.balance = STOS;
  assert_int_equal(st_chain__ov_put(&w.ov, sa, &a), 0);
  t_state_commit(&w);
  st_u128 out0 = outstanding(&q->ch);

  st_buf_t rep, tx;
  st_u128 fee;
  report(T_CHAIN_ID "-meta", 9, two, 2, TWO_TOTAL, &rep);
  report_tx(q->ch.gen.p.min_fee_per_byte, 0, &rep, quorum, 2, 2, &tx, &fee);
  finalize(&q->ch, q->s, 1, &tx, 1);
  st_buf_free(&tx);
  st_buf_free(&rep);

  json_t *r = q_ok(q, st_chain__q_traffic_report, NULL);
  st_u128 val;
  assert_int_equal(st_u128_parse(jstr(r, "validators_share"), &val), 0);
  assert_true(val == (st_u128)16041019920318725ull * 1000 + 99);
  json_decref(r);
  st_u128 fees = fee + val;
  assert_true(outstanding(&q->ch) == out0 + fees - fees / 100);
  t_chain_close(q->dir, q->s, &q->ch);
  free(q);
}

/* ---- genesis ---- */

static void test_params(void **state) {
  (void)state;
  st_chain__params_t base, out;
  char err[256];
  st_chain__params_defaults(&base);
  assert_true(base.traffic_mature_epoch == 2);
  assert_int_equal(base.traffic_tax_bps, 100);
  json_t *j = json_pack("{s:{s:i,s:i}}", "traffic", "mature_epoch", 5, "community_tax_bps", 250);
  assert_int_equal(st_chain__params_parse(j, &base, &out, err, sizeof(err)), 0);
  json_decref(j);
  assert_true(out.traffic_mature_epoch == 5);
  assert_int_equal(out.traffic_tax_bps, 250);
  json_t *pj = st_chain__params_json(&out);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(pj, "traffic"),
                                                      "mature_epoch")), 5);
  json_decref(pj);
  static const char *const bad[] = {"{\"traffic\":{\"mature_epoch\":-1}}",
                                    "{\"traffic\":{\"community_tax_bps\":10001}}",
                                    "{\"traffic\":{\"tax\":1}}", "{\"traffic\":3}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    j = json_loads(bad[i], 0, NULL);
    assert_non_null(j);
    assert_int_equal(st_chain__params_parse(j, &base, &out, err, sizeof(err)), ST_ECONFIG);
    assert_non_null(strstr(err, "params.traffic"));
    json_decref(j);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_quorum_accepted, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_refused, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_mangled, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_rewards_exact, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_mature_withdraw, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_mature_zero, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_conservation, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_tier_boundary, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_foundation_short, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_empty_report, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_wash_traffic, wsetup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_as_tx, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_stateless, setup, fix_teardown),
    cmocka_unit_test(test_params),
    cmocka_unit_test(test_queries),
    cmocka_unit_test(test_in_a_block),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
