/* Unit tests of MsgSlashResourceNode on the value chain: accepted with
 * signatures of 2/3 of the active meta nodes under ST_DOM_SLASH and
 * refused with fewer, with volume-report signatures, for a seq not after
 * the last, another meta chain, an unknown node or a bad amount, each
 * refusal leaving the state as it was; the noz converted to the wei at
 * the traffic price and capped at the deposit, the wei moving from the
 * node deposits to the community pool with every balance conserved; the
 * suspension taking the whole deposit out of S, refusing decreases, and
 * a top-up to the minimum lifting it (with the event the meta chain
 * mirrors); the stateless checks. */
#include "chain/nodes.h"
#include "chain/qkit.h"
#include "traffic.pb-c.h"

#define STOS ((st_u128)1000000000000000000ull)
#define HEIGHT 40
#define NMETA 3

enum { SENDER = 0x21, MO1 = 0x31, RW1 = 0x41, OTHER = 0x61 };

#include "mods_fix.h"

static uint8_t res_addr[ST_ADDR_LEN];

static void set_bal(fix_t *f, const uint8_t *a, st_u128 b) {
  st_chain__acct_t x = {b, 0};
  assert_int_equal(st_chain__ov_put(&f->ov, a, &x), 0);
}

static void meta_key(int i, st_keypair_t *kp) { t_key(60 + i, kp, NULL); }

/* NMETA meta nodes of 10 STOS and one resource node of 10 STOS owned by
 * RW1; the pool S = 40, Pt = 12 STOS, Lt = 10^15 noz. */
static int setup(void **state) {
  fix_t *f = fix_new(HEIGHT, 1000);
  st_chain__params_defaults(&f->p);
  snprintf(f->p.chain_id, sizeof(f->p.chain_id), "%s", T_CHAIN_ID);
  st_chain__gnode_t m[NMETA], r;
  memset(m, 0, sizeof(m));
  memset(&r, 0, sizeof(r));
  for (int i = 0; i < NMETA; i++) {
    st_keypair_t kp;
    meta_key(i, &kp);
    memcpy(m[i].pubkey, kp.pk, ST_PUBKEY_LEN);
    st_addr_from_pubkey(kp.pk, m[i].addr);
    memcpy(m[i].owner, addr(MO1 + i), ST_ADDR_LEN);
    m[i].deposit = 10 * STOS;
    snprintf(m[i].moniker, sizeof(m[i].moniker), "m%d", i);
  }
  st_keypair_t kp;
  t_key(70, &kp, r.addr);
  memcpy(res_addr, r.addr, ST_ADDR_LEN);
  memcpy(r.pubkey, kp.pk, ST_PUBKEY_LEN);
  memcpy(r.owner, addr(RW1), ST_ADDR_LEN);
  r.deposit = 10 * STOS;
  r.type = 4;
  r.capacity = 1 << 20;
  snprintf(r.network_address, sizeof(r.network_address), "127.0.0.1:9000");
  st_chain__gnodes_t gn = {.meta = m, .nmeta = NMETA, .res = &r, .nres = 1};
  assert_int_equal(st_chain__register_genesis(&gn, &f->c), 0);
  st_sds_pool_t p = {40 * STOS, 12 * STOS, 1000000000000000ull};
  assert_int_equal(st_chain__sds_pool_put(&f->c, &p), 0);
  set_bal(f, addr(RW1), 100 * STOS);
  set_bal(f, addr(SENDER), 5 * STOS);
  *state = f;
  return 0;
}

/* ---- building messages ---- */

static void slash_report(const char *chain, const uint8_t *node, const char *noz, bool suspend,
                         uint64_t seq, st_buf_t *out) {
  Stratos__Traffic__SlashReport r;
  stratos__traffic__slash_report__init(&r);
  r.meta_chain_id = mut(chain);
  r.meta_height = 77;
  r.node.data = (uint8_t *)(uintptr_t)node;
  r.node.len = ST_ADDR_LEN;
  r.noz = mut(noz);
  r.suspend = suspend;
  r.seq = seq;
  st_buf_init(out, SIZE_MAX);
  assert_int_equal(st_buf_reserve(out, stratos__traffic__slash_report__get_packed_size(&r)), 0);
  out->len = stratos__traffic__slash_report__pack(&r, out->data);
}

typedef struct msg {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgSlashResourceNode m;
  Stratos__Traffic__ReportSig sigs[4], *ps[4];
  st_keypair_t kps[4];
  uint8_t sb[4][ST_SIG_LEN];
} msg_t;

/* Meta keys signers[i] sign rep under dom. */
static void msg_build(msg_t *x, const st_buf_t *rep, const int *signers, size_t ns,
                      uint8_t dom) {
  stratos__tx__tx_body__init(&x->b);
  stratos__tx__msg_slash_resource_node__init(&x->m);
  for (size_t i = 0; i < ns; i++) {
    meta_key(signers[i], &x->kps[i]);
    assert_int_equal(st_sign(&x->kps[i], dom, T_CHAIN_ID, rep->data, rep->len, x->sb[i]), 0);
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
  x->b.msg_case = STRATOS__TX__TX_BODY__MSG_SLASH_RESOURCE_NODE;
  x->b.slash_resource_node = &x->m;
}

static const int quorum[] = {0, 2}, one[] = {1};

static int slash_full(fix_t *f, const char *chain, const uint8_t *node, const char *noz,
                      bool suspend, uint64_t seq, const int *signers, size_t ns, uint8_t dom) {
  st_buf_t rep;
  msg_t x;
  slash_report(chain, node, noz, suspend, seq, &rep);
  msg_build(&x, &rep, signers, ns, dom);
  int rc = fix_run(f, st_chain__traffic_exec, SENDER, &x.b);
  st_buf_free(&rep);
  return rc;
}

static int slash(fix_t *f, const char *noz, bool suspend, uint64_t seq) {
  return slash_full(f, T_CHAIN_ID "-meta", res_addr, noz, suspend, seq, quorum, 2,
                    ST_DOM_SLASH);
}

static int top_up(fix_t *f, const char *amount, bool decrease) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgUpdateResourceNodeDeposit m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_update_resource_node_deposit__init(&m);
  m.node.data = res_addr;
  m.node.len = ST_ADDR_LEN;
  m.amount = mut(amount);
  m.decrease = decrease;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_UPDATE_RESOURCE_NODE_DEPOSIT;
  b.update_resource_node_deposit = &m;
  return fix_run(f, st_chain__register_exec, RW1, &b);
}

/* ---- reading state ---- */


static st_res_node_t node(fix_t *f) {
  st_res_node_t n;
  assert_int_equal(st_chain__res_node_get(&f->c, res_addr, &n), 0);
  return n;
}

static st_sds_pool_t pool(fix_t *f) {
  st_sds_pool_t p;
  assert_int_equal(st_chain__sds_pool_get(&f->c, &p), 0);
  return p;
}

static uint64_t last_seq(fix_t *f) {
  uint64_t s;
  assert_int_equal(st_chain__traffic_slash_last(&f->c, &s), 0);
  return s;
}

static st_u128 community(fix_t *f) { return bal(f, st_chain__macc(ST_MACC_COMMUNITY)); }
static st_u128 deposits(fix_t *f) { return bal(f, st_chain__macc_named("node_deposits")); }

/* The suspended byte of the last event, an ST_EV_RES_NODE of the node. */
static bool last_event_suspended(fix_t *f) {
  uint8_t k[13] = {ST_K_EVENT};
  const uint8_t *v;
  size_t vn;
  assert_true(f->c.nevents > 0);
  st_chain__be64(k + 1, HEIGHT);
  st_chain__be32(k + 9, f->c.nevents - 1);
  assert_int_equal(st_chain__ov_read(&f->ov, ST_CHAIN__SP_STATE, k, sizeof(k), &v, &vn), 0);
  assert_true(vn > 100);
  assert_int_equal(v[0], ST_EV_RES_NODE);
  assert_memory_equal(v + 1, res_addr, ST_ADDR_LEN);
  return v[99] != 0;
}

static void log_has(fix_t *f, const char *s) {
  if (!strstr(f->log, s))
    fail_msg("log \"%s\" lacks \"%s\"", f->log, s);
}

/* ---- tests ---- */

/* 10^9 noz at (S + Pt) / Lt = 52 STOS / 10^15 noz: 52 · 10^12 wei. */
static void test_accepted_converted(void **state) {
  fix_t *f = *state;
  st_u128 total0 = supply(f), comm0 = community(f), dep0 = deposits(f);
  st_sds_pool_t p0 = pool(f);
  uint32_t ev0 = f->c.nevents;
  assert_int_equal(last_seq(f), 0);
  assert_int_equal(slash(f, "1000000000", false, 1), 0);
  st_u128 w = (st_u128)52000000000000ull;
  assert_true(node(f).deposit == 10 * STOS - w);
  assert_false(node(f).suspended);
  assert_true(community(f) == comm0 + w);
  assert_true(deposits(f) == dep0 - w);
  assert_true(supply(f) == total0);
  assert_int_equal(last_seq(f), 1);
  /* Without suspension only what went stops counting. */
  st_sds_pool_t p = pool(f);
  assert_true(p.S == p0.S - w);
  assert_true(p.Pt == p0.Pt);
  assert_int_equal(f->c.nevents, ev0 + 1);
  assert_false(last_event_suspended(f));
  /* Seqs may skip ahead, never go back. */
  assert_int_equal(slash(f, "1", false, 5), 0);
  assert_int_equal(last_seq(f), 5);
}

/* Rounded down: 1 noz is 52000 wei; 3 noz of a price 52·10^18/(3·10^15)
 * would be 52000 exactly, so a third Lt shows the floor. */
static void test_round_down(void **state) {
  fix_t *f = *state;
  st_sds_pool_t p = pool(f);
  p.Lt = 3000000000000000ull;
  assert_int_equal(st_chain__sds_pool_put(&f->c, &p), 0);
  st_u128 d0 = node(f).deposit;
  /* 1 · 52·10^18 / (3·10^15) = 17333.33 */
  assert_int_equal(slash(f, "1", false, 1), 0);
  assert_true(d0 - node(f).deposit == 17333);
}

/* More than the deposit at the price: the whole deposit and no more;
 * suspended, it counts for nothing in S; no ozone left (Lt 0): the
 * whole deposit too. */
static void test_cap_and_suspend(void **state) {
  fix_t *f = *state;
  st_u128 total0 = supply(f), comm0 = community(f);
  st_sds_pool_t p0 = pool(f);
  assert_int_equal(slash(f, "1000000000000000000", true, 1), 0);
  assert_true(node(f).deposit == 0);
  assert_true(node(f).suspended);
  assert_true(community(f) == comm0 + 10 * STOS);
  assert_true(supply(f) == total0);
  assert_true(pool(f).S == p0.S - 10 * STOS);
  assert_true(last_event_suspended(f));
  /* A second slash of a suspended, empty node takes nothing and S stays. */
  assert_int_equal(slash(f, "5", true, 2), 0);
  assert_true(pool(f).S == p0.S - 10 * STOS);
  assert_true(community(f) == comm0 + 10 * STOS);
}

static void test_lt_zero_takes_all(void **state) {
  fix_t *f = *state;
  st_sds_pool_t p = pool(f);
  p.Lt = 0;
  assert_int_equal(st_chain__sds_pool_put(&f->c, &p), 0);
  assert_int_equal(slash(f, "1", false, 1), 0);
  assert_true(node(f).deposit == 0);
}

/* Suspended: the deposit leaves S entirely; a decrease is refused; a
 * top-up short of the minimum keeps it suspended; one reaching it lifts
 * the suspension, all of the deposit counts again and the event tells
 * the meta chain. */
static void test_top_up_lifts(void **state) {
  fix_t *f = *state;
  st_sds_pool_t p0 = pool(f);
  st_u128 min = f->p.resource_node_min_deposit;
  assert_true(min > 0 && min <= 10 * STOS);
  st_u128 w = (st_u128)52000000000000ull;
  assert_int_equal(slash(f, "1000000000", true, 1), 0);
  st_u128 d = 10 * STOS - w;
  assert_true(node(f).deposit == d);
  assert_true(node(f).suspended);
  assert_true(pool(f).S == p0.S - 10 * STOS);
  assert_int_equal(top_up(f, "1", true), ST_EPERM);
  log_has(f, "is suspended");
  st_u128 total0 = supply(f);
  if (d < min) {
    assert_int_equal(top_up(f, "1", false), 0);
    d += 1;
    assert_true(node(f).suspended || d >= min);
  }
  char amt[ST_U128_STR_MAX];
  st_u128 add = d < min ? min - d + w : w;
  st_u128_format(add, amt);
  assert_int_equal(top_up(f, amt, false), 0);
  assert_false(node(f).suspended);
  assert_true(node(f).deposit == d + add);
  assert_true(pool(f).S == p0.S - 10 * STOS + d + add);
  assert_false(last_event_suspended(f));
  assert_true(supply(f) == total0);
  /* Decreases work again. */
  assert_int_equal(top_up(f, "1", true), 0);
}

/* A minimum above what is left: a small top-up keeps the suspension. */
static void test_top_up_short(void **state) {
  fix_t *f = *state;
  f->p.resource_node_min_deposit = 10 * STOS;
  assert_int_equal(slash(f, "1000000000", true, 1), 0);
  st_sds_pool_t p1 = pool(f);
  assert_int_equal(top_up(f, "1000", false), 0);
  assert_true(node(f).suspended);
  assert_true(pool(f).S == p1.S);
  assert_true(last_event_suspended(f));
  assert_int_equal(top_up(f, "52000000000000", false), 0);
  assert_false(node(f).suspended);
  assert_true(pool(f).S == p1.S + 10 * STOS + 1000);
}

/* Removing a suspended node: S does not lose its deposit twice. */
static void test_remove_suspended(void **state) {
  fix_t *f = *state;
  st_sds_pool_t p0 = pool(f);
  assert_int_equal(slash(f, "1000000000", true, 1), 0);
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgRemoveResourceNode m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_remove_resource_node__init(&m);
  m.node.data = res_addr;
  m.node.len = ST_ADDR_LEN;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_REMOVE_RESOURCE_NODE;
  b.remove_resource_node = &m;
  assert_int_equal(fix_run(f, st_chain__register_exec, RW1, &b), 0);
  assert_true(pool(f).S == p0.S - 10 * STOS);
}

static void refused(fix_t *f, int rc, int code, const char *text, st_u128 total0,
                    st_u128 dep0) {
  assert_int_equal(rc, code);
  log_has(f, text);
  assert_true(supply(f) == total0);
  assert_true(node(f).deposit == dep0);
  assert_false(node(f).suspended);
}

static void test_refused(void **state) {
  fix_t *f = *state;
  st_u128 total0 = supply(f), dep0 = node(f).deposit;
  uint8_t nobody[ST_ADDR_LEN];
  memset(nobody, 0x77, sizeof(nobody));
  refused(f, slash_full(f, T_CHAIN_ID "-meta", res_addr, "5", true, 1, one, 1, ST_DOM_SLASH),
          ST_EPERM, "signatures of 1 active meta nodes; 2 of 3", total0, dep0);
  refused(f,
          slash_full(f, T_CHAIN_ID "-meta", res_addr, "5", true, 1, quorum, 2,
                     ST_DOM_VOLUME_REPORT),
          ST_EPERM, "signatures of 0 active meta nodes", total0, dep0);
  refused(f, slash_full(f, "other-meta", res_addr, "5", true, 1, quorum, 2, ST_DOM_SLASH),
          ST_EINVAL, "expected " T_CHAIN_ID "-meta", total0, dep0);
  refused(f, slash_full(f, T_CHAIN_ID "-meta", nobody, "5", true, 1, quorum, 2, ST_DOM_SLASH),
          ST_ENOENT, "no registered resource node", total0, dep0);
  refused(f, slash(f, "0", true, 1), ST_EINVAL, "noz must be a positive", total0, dep0);
  refused(f, slash(f, "x", true, 1), ST_EINVAL, "noz must be a positive", total0, dep0);
  refused(f, slash(f, "5", true, 0), ST_EEXIST, "not after the last", total0, dep0);
  assert_int_equal(last_seq(f), 0);
  assert_int_equal(slash(f, "5", false, 3), 0);
  st_u128 dep1 = node(f).deposit;
  refused(f, slash(f, "5", true, 3), ST_EEXIST, "slash 3 is not after the last one (3)",
          total0, dep1);
  refused(f, slash(f, "5", true, 2), ST_EEXIST, "not after the last", total0, dep1);
}

/* The stateless checks a tx meets before any state. */
static void test_stateless(void **state) {
  fix_t *f = *state;
  st_buf_t rep;
  static const char *const want[] = {"a slash report carries 1 to", "signature 1: pubkey",
                                     "the slash report is empty", ""};
  slash_report(T_CHAIN_ID "-meta", res_addr, "5", true, 1, &rep);
  for (int k = 0; k < 4; k++) {
    msg_t x;
    st_buf_t tx;
    st_chain__tx_t t;
    uint8_t sig[ST_SIG_LEN];
    st_keypair_t sender;
    msg_build(&x, &rep, quorum, k == 0 ? 0 : 2, ST_DOM_SLASH);
    if (k == 1)
      x.sigs[1].signature.len = 10;
    if (k == 2)
      x.m.report.len = 0;
    t_key(90, &sender, NULL);
    x.b.chain_id = mut(T_CHAIN_ID);
    x.b.fee = mut("1000000000000000");
    size_t bl = stratos__tx__tx_body__get_packed_size(&x.b);
    uint8_t *body = malloc(bl);
    assert_non_null(body);
    stratos__tx__tx_body__pack(&x.b, body);
    assert_int_equal(st_sign(&sender, ST_DOM_TX, T_CHAIN_ID, body, bl, sig), 0);
    st_buf_init(&tx, SIZE_MAX);
    assert_int_equal(st_chain__tx_encode(body, bl, sender.pk, sig, &tx), 0);
    free(body);
    int rc = st_chain__tx_check(&f->p, tx.data, tx.len, &t, f->log, sizeof(f->log));
    assert_int_equal(rc, k == 3 ? 0 : ST_EINVAL);
    if (k < 3)
      log_has(f, want[k]);
    st_buf_free(&tx);
  }
  st_buf_free(&rep);
}

int main(void) {
  st_crypto_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_accepted_converted, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_round_down, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_cap_and_suspend, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_lt_zero_takes_all, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_top_up_lifts, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_top_up_short, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_remove_suspended, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_refused, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_stateless, setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
