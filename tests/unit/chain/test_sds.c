/* Unit tests of sds: prepays buying noz at the constant-product price to
 * the unit, each one raising the price of the next; products beyond 128
 * bits; the ozone limit following deposits exactly; refusals that leave
 * nothing behind; the ST_EV_PREPAY event byte for byte; and the
 * ozone_price and prepay_pool queries over a committed state. */
#include "chain/nodes.h"

#define STOS ((st_u128)1000000000000000000ull)
#define RATE 1000000 /* wei of deposit per noz */
#define HEIGHT 12

enum { P = 0x21, B, NODE_OWNER };

#define MODS_FIX_EXTRA uint8_t tx_hash[ST_HASH_LEN];
#include "mods_fix.h"

static void set_bal(fix_t *f, const uint8_t *a, st_u128 b) {
  st_chain__acct_t x = {b, 0};
  assert_int_equal(st_chain__ov_put(&f->ov, a, &x), 0);
}

static st_sds_pool_t pool(fix_t *f) {
  st_sds_pool_t p;
  assert_int_equal(st_chain__sds_pool_get(&f->c, &p), 0);
  return p;
}

/* One resource node of 3 STOS at genesis: S = 3e18, Lt = 3e12. */
static void genesis(fix_t *f) {
  st_chain__gnode_t g;
  st_keypair_t kp;
  memset(&g, 0, sizeof(g));
  t_key(30, &kp, g.addr);
  memcpy(g.pubkey, kp.pk, ST_PUBKEY_LEN);
  memcpy(g.owner, addr(NODE_OWNER), ST_ADDR_LEN);
  g.deposit = 3 * STOS;
  g.type = 4;
  g.capacity = 1 << 20;
  snprintf(g.network_address, sizeof(g.network_address), "127.0.0.1:9000");
  snprintf(g.moniker, sizeof(g.moniker), "r");
  st_chain__gnodes_t gn = {.res = &g, .nres = 1};
  assert_int_equal(st_chain__register_genesis(&gn, &f->c), 0);
}

static int setup(void **state) {
  fix_t *f = fix_new(HEIGHT, 1000);
  st_chain__params_defaults(&f->p);
  f->p.deposit_noz_rate = RATE;
  f->p.initial_ozone_limit = 0;
  for (int i = 0; i < ST_HASH_LEN; i++)
    f->tx_hash[i] = (uint8_t)(0xa0 + i);
  f->c.tx_hash = f->tx_hash;
  set_bal(f, addr(P), 10 * STOS);
  genesis(f);
  *state = f;
  return 0;
}

/* A prepay of amount by who for beneficiary, applied as a tx is. */
static int prepay(fix_t *f, int who, int beneficiary, const char *amount) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgPrepay m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_prepay__init(&m);
  m.beneficiary.data = (uint8_t *)(uintptr_t)addr(beneficiary);
  m.beneficiary.len = ST_ADDR_LEN;
  m.amount = mut(amount);
  b.msg_case = STRATOS__TX__TX_BODY__MSG_PREPAY;
  b.prepay = &m;
  return fix_run(f, st_chain__sds_exec, who, &b);
}

static void event_is(fix_t *f, uint32_t seq, int beneficiary, st_u128 noz) {
  uint8_t k[13] = {ST_K_EVENT}, want[1 + 32 + 20 + 16];
  const uint8_t *v;
  size_t vn;
  st_chain__be64(k + 1, HEIGHT);
  st_chain__be32(k + 9, seq);
  want[0] = ST_EV_PREPAY;
  memcpy(want + 1, f->tx_hash, 32);
  memcpy(want + 33, addr(beneficiary), 20);
  st_chain__put128(want + 53, noz);
  assert_int_equal(st_chain__ov_read(&f->ov, ST_CHAIN__SP_STATE, k, sizeof(k), &v, &vn), 0);
  assert_int_equal(vn, sizeof(want));
  assert_memory_equal(v, want, sizeof(want));
}

static st_u128 sds_bal(fix_t *f) { return bal(f, st_chain__macc_named("sds_pool")); }

/* ---- tests ---- */

static void test_prepay_exact(void **state) {
  fix_t *f = *state;
  st_sds_pool_t p = pool(f);
  assert_true(p.S == 3 * STOS);
  assert_true(p.Pt == 0);
  assert_true(p.Lt == 3000000000000ull);
  /* 3e12 * 1e18 / (3e18 + 0 + 1e18) */
  assert_int_equal(prepay(f, P, B, "1000000000000000000"), 0);
  p = pool(f);
  assert_true(p.Pt == STOS);
  assert_true(p.Lt == 3000000000000ull - 750000000000ull);
  assert_true(p.S == 3 * STOS);
  assert_true(bal(f, addr(P)) == 9 * STOS);
  assert_true(sds_bal(f) == STOS);
  event_is(f, 0, B, 750000000000ull);
  /* The same amount again buys less: 2.25e12 * 1e18 / (3e18 + 1e18 + 1e18). */
  assert_int_equal(prepay(f, P, P, "1000000000000000000"), 0);
  p = pool(f);
  assert_true(p.Lt == 1800000000000ull);
  assert_true(p.Pt == 2 * STOS);
  event_is(f, 1, P, 450000000000ull);
  /* An amount that does not divide: floor(1.8e12 * X / (5e18 + X)). */
  assert_int_equal(prepay(f, P, B, "123456789012345678"), 0);
  event_is(f, 2, B, 43373493594ull);
  p = pool(f);
  assert_true(p.Lt == 1800000000000ull - 43373493594ull);
  assert_true(p.Pt == 2 * STOS + 123456789012345678ull);
  assert_true(sds_bal(f) == 2 * STOS + 123456789012345678ull);
  assert_int_equal(f->c.nevents, 3);
}

static void test_quote(void **state) {
  fix_t *f = *state;
  st_sds_pool_t p = {3 * STOS, 0, 3000000000000ull};
  st_u128 a, b;
  assert_int_equal(st_chain__sds_quote(&p, STOS, &a), 0);
  assert_true(a == 750000000000ull);
  /* Each prepay raises the price of the next: wei per noz grows. */
  p.Pt += STOS;
  p.Lt -= a;
  assert_int_equal(st_chain__sds_quote(&p, STOS, &b), 0);
  assert_true(b == 450000000000ull);
  assert_true(STOS / b > STOS / a);
  /* Beyond 128 bits in the product: 2^120 * 2^120 / 2^121. */
  st_u128 big = (st_u128)1 << 120;
  p = (st_sds_pool_t){big, 0, big};
  assert_int_equal(st_chain__sds_quote(&p, big, &a), 0);
  assert_true(a == (st_u128)1 << 119);
  /* A divisor beyond 128 bits is refused. */
  p = (st_sds_pool_t){~(st_u128)0 - 5, 5, big};
  assert_int_equal(st_chain__sds_quote(&p, 1, &a), ST_ERANGE);
  (void)f;
}

static void test_prepay_big(void **state) {
  fix_t *f = *state;
  st_u128 big = (st_u128)1 << 120;
  st_sds_pool_t p = {big, 0, big};
  assert_int_equal(st_chain__sds_pool_put(&f->c, &p), 0);
  set_bal(f, addr(P), big);
  char amount[ST_U128_STR_MAX];
  st_u128_format(big, amount);
  assert_int_equal(prepay(f, P, B, amount), 0);
  event_is(f, 0, B, (st_u128)1 << 119);
  p = pool(f);
  assert_true(p.Lt == (st_u128)1 << 119);
  assert_true(p.Pt == big);
  /* A pool that would overflow. */
  p.S = ~(st_u128)0 - big;
  assert_int_equal(st_chain__sds_pool_put(&f->c, &p), 0);
  set_bal(f, addr(P), 10);
  assert_int_equal(prepay(f, P, B, "10"), ST_ERANGE);
  assert_string_equal(f->log, "the prepay pool would overflow 128 bits");
}

static void test_deposits_raise_the_limit(void **state) {
  fix_t *f = *state;
  /* 2500001 / 1e6 = 2 noz more; S exactly. */
  assert_int_equal(st_chain__sds_deposit_changed(&f->c, 2500001, 0), 0);
  st_sds_pool_t p = pool(f);
  assert_true(p.S == 3 * STOS + 2500001);
  assert_true(p.Lt == 3000000000002ull);
  /* 1999999 leaves: 1 noz less. */
  assert_int_equal(st_chain__sds_deposit_changed(&f->c, 0, 1999999), 0);
  p = pool(f);
  assert_true(p.S == 3 * STOS + 500002);
  assert_true(p.Lt == 3000000000001ull);
  /* Both at once. */
  assert_int_equal(st_chain__sds_deposit_changed(&f->c, 7 * STOS, 2 * STOS), 0);
  p = pool(f);
  assert_true(p.S == 8 * STOS + 500002);
  assert_true(p.Lt == 3000000000001ull + 7000000000000ull - 2000000000000ull);
  /* Noz already sold are not taken back: Lt stops at zero. */
  p.Lt = 5;
  assert_int_equal(st_chain__sds_pool_put(&f->c, &p), 0);
  assert_int_equal(st_chain__sds_deposit_changed(&f->c, 0, STOS), 0);
  assert_true(pool(f).Lt == 0);
  /* More leaving than ever counted is a broken state. */
  assert_int_equal(st_chain__sds_deposit_changed(&f->c, 0, 100 * STOS), ST_ECORRUPT);
  /* Genesis with an initial limit: L0 plus each deposit's share. */
  f->p.initial_ozone_limit = 777;
  st_chain__gnode_t g[2];
  memset(g, 0, sizeof(g));
  g[0].deposit = 1999999;
  g[1].deposit = 1999999;
  memset(g[1].addr, 1, ST_ADDR_LEN);
  st_chain__gnodes_t gn = {.meta = g, .nmeta = 2};
  assert_int_equal(st_chain__register_genesis(&gn, &f->c), 0);
  p = pool(f);
  assert_true(p.S == 2 * 1999999);
  assert_true(p.Pt == 0);
  assert_true(p.Lt == 777 + 1 + 1); /* floored each, not 3 */
}

static void test_prepay_refused(void **state) {
  fix_t *f = *state;
  st_sds_pool_t before = pool(f);
  /* One wei buys floor(3e12 / (3e18 + 1)) = 0 noz. */
  assert_int_equal(prepay(f, P, B, "1"), ST_EINVAL);
  assert_string_equal(f->log, "the prepay buys no ozone at the current price");
  /* The smallest amount that buys one: ceil(3e18 / (3e12 - 1)) = 1000001. */
  assert_int_equal(prepay(f, P, B, "1000000"), ST_EINVAL);
  assert_int_equal(prepay(f, P, B, "0"), ST_EINVAL);
  assert_string_equal(f->log, "amount must be a positive number of wei");
  assert_int_equal(prepay(f, P, B, "11000000000000000000"), ST_EPERM);
  assert_string_equal(f->log,
                      "insufficient balance: have 10000000000000000000, need "
                      "11000000000000000000");
  st_sds_pool_t after = pool(f);
  assert_true(after.S == before.S && after.Pt == before.Pt && after.Lt == before.Lt);
  assert_true(bal(f, addr(P)) == 10 * STOS);
  assert_true(sds_bal(f) == 0);
  assert_int_equal(f->c.nevents, 0);
  assert_int_equal(prepay(f, P, B, "1000001"), 0);
  event_is(f, 0, B, 1);
}

/* ---- the queries, over a chain whose state holds a pool ---- */

typedef struct qfix {
  char dir[PATH_MAX];
  st_store_t *s;
  st_chain_t ch;
} qfix_t;

static int qsetup(void **state) {
  qfix_t *q = calloc(1, sizeof(*q));
  t_chain_open(q->dir, sizeof(q->dir), &q->s, &q->ch, 2);
  t_state_w_t w;
  t_state_begin(&w, &q->ch, 1, 0);
  st_sds_pool_t p = {3 * STOS, 0, 3000000000000ull};
  assert_int_equal(st_chain__sds_pool_put(&w.c, &p), 0);
  t_state_commit(&w);
  *state = q;
  return 0;
}

static int qteardown(void **state) {
  qfix_t *q = *state;
  t_chain_close(q->dir, q->s, &q->ch);
  free(q);
  return 0;
}

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
  json_t *p = json_loads(params, 0, NULL), *res = NULL;
  char err[256];
  assert_int_equal(fn(&q->ch, p, &res, err, sizeof(err)), ST_RPC_INVALID_PARAMS);
  assert_null(res);
  assert_string_equal(err, want);
  json_decref(p);
}

static void assert_json(json_t *j, const char *want) {
  char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  assert_string_equal(s, want);
  free(s);
  json_decref(j);
}

static void test_queries(void **state) {
  qfix_t *q = *state;
  assert_json(q_ok(q, st_chain__q_prepay_pool, NULL),
              "{\"ozone_limit\":\"3000000000000\",\"prepay_pool\":\"0\","
              "\"total_deposit\":\"3000000000000000000\"}");
  /* 1 STOS by default: 7.5e11 noz, 1e18 / 7.5e11 wei each, rounded up. */
  assert_json(q_ok(q, st_chain__q_ozone_price, NULL),
              "{\"amount\":\"1000000000000000000\",\"noz\":\"750000000000\","
              "\"price_wei_per_noz\":\"1333333.333333333333333334\"}");
  assert_json(q_ok(q, st_chain__q_ozone_price, "{\"amount\":\"1000001\"}"),
              "{\"amount\":\"1000001\",\"noz\":\"1\","
              "\"price_wei_per_noz\":\"1000001.000000000000000000\"}");
  assert_json(q_ok(q, st_chain__q_ozone_price, "{\"amount\":5}"),
              "{\"amount\":\"5\",\"noz\":\"0\",\"price_wei_per_noz\":null}");
  q_err(q, st_chain__q_ozone_price, "{\"amount\":\"0\"}",
        "invalid params: amount must be greater than zero");
  q_err(q, st_chain__q_ozone_price, "{\"amount\":\"1.5\"}",
        "invalid params: amount must be a decimal string of wei");
  json_t *p = json_pack("{s:s}", "amonut", "1"), *res = NULL;
  char err[256];
  assert_int_equal(st_chain__q_ozone_price(&q->ch, p, &res, err, sizeof(err)),
                   ST_RPC_INVALID_PARAMS);
  json_decref(p);
}

int main(void) {
  st_crypto_init();
  st_log_set_level(ST_LOG_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_prepay_exact, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_quote, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_prepay_big, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_deposits_raise_the_limit, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_prepay_refused, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_queries, qsetup, qteardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
