/* Unit tests of the economic modules' queries (query.c): records written
 * straight into the state through an overlay, then every method's exact
 * answer, its paging and its parameter errors. */
#include "mods_fix.h"

#define STOS ((st_u128)1000000000000000000ull)

/* Validators of the fixture besides the genesis one (operator key 7, 10
 * STOS): operators are keys 1..4, consensus keys 11..14. */
enum { VA, VB, VC, VD, NV };

typedef struct qfix {
  char dir[PATH_MAX];
  st_store_t *s;
  st_chain_t ch;
  uint8_t op[NV][ST_ADDR_LEN];  /* operators */
  uint8_t gen_op[ST_ADDR_LEN];  /* the genesis validator's operator */
  uint8_t del0[ST_ADDR_LEN], del5[ST_ADDR_LEN];
} qfix_t;

/* ---- writing records ---- */

static void put(st_chain__overlay_t *ov, const uint8_t *k, size_t kl, const void *v,
                size_t vl) {
  assert_int_equal(st_chain__ov_write(ov, ST_CHAIN__SP_STATE, k, kl, v, vl), 0);
}

static void put_del(st_chain__overlay_t *ov, const uint8_t del[ST_ADDR_LEN],
                    const uint8_t op[ST_ADDR_LEN], st_u128 shares) {
  uint8_t k[1 + 2 * ST_ADDR_LEN], v[16];
  st_chain__put128(v, shares);
  put(ov, k, st_chain__k2(k, ST_K_DEL, del, op), v, sizeof(v));
  put(ov, k, st_chain__k2(k, ST_K_DEL_BY_VAL, op, del), NULL, 0);
}

static void put_ubd(st_chain__overlay_t *ov, const uint8_t del[ST_ADDR_LEN],
                    const uint8_t op[ST_ADDR_LEN], int64_t height, uint64_t seq,
                    int64_t completion, st_u128 initial, st_u128 balance) {
  uint8_t k[1 + 2 * ST_ADDR_LEN + 16], v[ST_UBD_LEN];
  st_ubd_t u = {completion, initial, balance};
  st_chain__ubd_encode(&u, v);
  st_chain__k2(k, ST_K_UBD, del, op);
  st_chain__be64(k + 41, (uint64_t)height);
  st_chain__be64(k + 49, seq);
  put(ov, k, sizeof(k), v, sizeof(v));
  st_chain__k2(k, ST_K_UBD_BY_VAL, op, del);
  put(ov, k, sizeof(k), NULL, 0);
}

static void put_red(st_chain__overlay_t *ov, const uint8_t del[ST_ADDR_LEN],
                    const uint8_t src[ST_ADDR_LEN], const uint8_t dst[ST_ADDR_LEN],
                    int64_t height, uint64_t seq, int64_t completion, st_u128 initial,
                    st_u128 shares_dst) {
  uint8_t k[1 + 3 * ST_ADDR_LEN + 16], v[ST_RED_LEN];
  st_red_t r = {completion, initial, shares_dst};
  st_chain__red_encode(&r, v);
  st_chain__k2(k, ST_K_RED, del, src);
  memcpy(k + 41, dst, ST_ADDR_LEN);
  st_chain__be64(k + 61, (uint64_t)height);
  st_chain__be64(k + 69, seq);
  put(ov, k, sizeof(k), v, sizeof(v));
}

static void put_gov(st_chain__overlay_t *ov, uint8_t kind, uint64_t id,
                    const uint8_t *who, const void *v, size_t vl) {
  uint8_t k[1 + 8 + ST_ADDR_LEN];
  k[0] = kind;
  st_chain__be64(k + 1, id);
  if (who)
    memcpy(k + 9, who, ST_ADDR_LEN);
  put(ov, k, who ? sizeof(k) : 9, v, vl);
}

static void put_balance(st_chain__overlay_t *ov, const uint8_t addr[ST_ADDR_LEN], st_u128 b) {
  st_chain__acct_t acct;
  assert_int_equal(st_chain__ov_get(ov, addr, &acct), 0);
  acct.balance = b;
  assert_int_equal(st_chain__ov_put(ov, addr, &acct), 0);
}

static void make_val(qfix_t *f, int i, uint8_t status, bool jailed, st_u128 tokens,
                     st_u128 shares, const char *moniker, st_val_t *v) {
  st_keypair_t kp;
  memset(v, 0, sizeof(*v));
  memcpy(v->operator_, f->op[i], ST_ADDR_LEN);
  t_key(11 + i, &kp, v->cons_addr);
  memcpy(v->pubkey, kp.pk, ST_PUBKEY_LEN);
  v->status = status;
  v->jailed = jailed;
  v->tokens = tokens;
  v->shares = shares;
  v->rate = ST_DEC_ONE / 10;
  v->max_rate = ST_DEC_ONE / 5;
  v->max_change_rate = ST_DEC_ONE / 100;
  v->rate_updated_ms = 1000 + i;
  v->min_self_delegation = STOS;
  v->created_height = 1;
  snprintf(v->moniker, sizeof(v->moniker), "%s", moniker);
}

static int setup(void **state) {
  qfix_t *f = calloc(1, sizeof(*f));
  st_keypair_t kp;
  t_chain_open(f->dir, sizeof(f->dir), &f->s, &f->ch, 6);
  for (int i = 0; i < NV; i++)
    t_key(1 + i, &kp, f->op[i]);
  t_key(7, &kp, f->gen_op);
  t_key(0, &kp, f->del0);
  t_key(5, &kp, f->del5);

  t_state_w_t w;
  t_state_begin(&w, &f->ch, 1, 0);
  st_val_t v[NV];
  make_val(f, VA, ST_VAL_BONDED, false, 50 * STOS, 50 * STOS, "alpha", &v[VA]);
  make_val(f, VB, ST_VAL_UNBONDING, true, 20 * STOS, 40 * STOS, "bravo", &v[VB]);
  v[VB].unbonding_height = 7;
  v[VB].unbonding_time_ms = 99000;
  make_val(f, VC, ST_VAL_UNBONDED, false, 20 * STOS, 20 * STOS, "charlie", &v[VC]);
  make_val(f, VD, ST_VAL_BONDED, false, 5 * STOS, 5 * STOS, "delta", &v[VD]);
  for (int i = 0; i < NV; i++) {
    assert_int_equal(st_chain__val_put(&w.c, &v[i]), 0);
    assert_int_equal(st_chain__distr_val_init(&w.c, f->op[i]), 0);
  }
  st_sign_info_t sa = {.start_height = 3, .index = 40, .missed = 2};
  st_sign_info_t sb = {.start_height = 1, .index = 9, .missed = 5, .jailed_until_ms = 5000,
                       .tombstoned = true};
  assert_int_equal(st_chain__sign_info_put(&w.c, v[VA].cons_addr, &sa), 0);
  assert_int_equal(st_chain__sign_info_put(&w.c, v[VB].cons_addr, &sb), 0);
  /* Delegations, each with its reward starting record. */
  put_del(&w.ov, f->op[VA], f->op[VA], 40 * STOS);
  put_del(&w.ov, f->del0, f->op[VA], 10 * STOS);
  put_del(&w.ov, f->del0, f->op[VB], 4 * STOS);
  put_del(&w.ov, f->del5, f->op[VA], 3 * STOS);
  assert_int_equal(st_chain__distr_restart(&w.c, f->op[VA], &v[VA]), 0);
  assert_int_equal(st_chain__distr_restart(&w.c, f->del0, &v[VA]), 0);
  assert_int_equal(st_chain__distr_restart(&w.c, f->del0, &v[VB]), 0);
  assert_int_equal(st_chain__distr_restart(&w.c, f->del5, &v[VA]), 0);
  /* Accrued commission of VA. */
  uint8_t k[1 + ST_ADDR_LEN], amt[16];
  st_chain__put128(amt, 777);
  put(&w.ov, k, st_chain__k1(k, ST_K_D_COMM, f->op[VA]), amt, sizeof(amt));
  /* Unbonding entries and a redelegation. */
  put_ubd(&w.ov, f->del0, f->op[VA], 5, 1, 123000, 3 * STOS, 3 * STOS);
  put_ubd(&w.ov, f->del0, f->op[VB], 6, 2, 124000, 2 * STOS, STOS);
  put_ubd(&w.ov, f->del5, f->op[VA], 7, 3, 125000, STOS, STOS);
  put_red(&w.ov, f->del0, f->op[VA], f->op[VD], 8, 4, 456000, STOS, 2 * STOS);
  /* Proposals: 1 in its voting period with deposits and votes, 2 passed
   * and stored without its id. */
  const char *p1 = "{\"id\":1,\"title\":\"raise the fee\",\"status\":\"voting\","
                   "\"changes\":[{\"key\":\"auth.min_fee_per_byte\",\"value\":\"\\\"3\\\"\"}]}";
  const char *p2 = "{\"title\":\"more validators\",\"status\":\"passed\"}";
  put_gov(&w.ov, ST_K_GOV_PROP, 1, NULL, p1, strlen(p1));
  put_gov(&w.ov, ST_K_GOV_PROP, 2, NULL, p2, strlen(p2));
  st_chain__put128(amt, 1000);
  put_gov(&w.ov, ST_K_GOV_DEP, 1, f->del0, amt, 16);
  st_chain__put128(amt, 2000);
  put_gov(&w.ov, ST_K_GOV_DEP, 1, f->del5, amt, 16);
  uint8_t yes = 1, veto = 4, abstain = 2, no = 3;
  put_gov(&w.ov, ST_K_GOV_VOTE, 1, f->del0, &yes, 1);
  put_gov(&w.ov, ST_K_GOV_VOTE, 1, f->op[VA], &veto, 1);
  put_gov(&w.ov, ST_K_GOV_VOTE, 1, f->del5, &abstain, 1);
  put_gov(&w.ov, ST_K_GOV_VOTE, 1, f->gen_op, &no, 1);
  /* Module account balances. */
  for (int i = 0; i < ST_MACC_N; i++)
    put_balance(&w.ov, st_chain__macc(i), (st_u128)(i + 1) * 1111);
  t_state_commit(&w);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  qfix_t *f = *state;
  t_chain_close(f->dir, f->s, &f->ch);
  free(f);
  return 0;
}

/* ---- helpers ---- */

typedef int (*query_fn)(st_chain_t *, json_t *, json_t **, char *, size_t);

/* Runs a query with params given as JSON text (NULL: none). */
static json_t *query(qfix_t *f, query_fn fn, const char *params, int want_code,
                     const char *want_err) {
  json_t *p = NULL, *res = NULL;
  if (params) {
    json_error_t je;
    p = json_loads(params, JSON_DECODE_ANY, &je);
    if (!p)
      fail_msg("bad test params %s: %s", params, je.text);
  }
  char err[256] = "";
  int code = fn(&f->ch, p, &res, err, sizeof(err));
  json_decref(p);
  if (code != want_code)
    fail_msg("%s: code %d, want %d (%s)", params ? params : "(none)", code, want_code, err);
  if (want_err && !strstr(err, want_err))
    fail_msg("%s: error \"%s\" lacks \"%s\"", params ? params : "(none)", err, want_err);
  if (code != 0)
    assert_null(res);
  else
    assert_non_null(res);
  return res;
}

/* Asserts that j equals the JSON text want (key order aside). */
static void assert_json(json_t *j, const char *want) {
  json_error_t je;
  json_t *w = json_loads(want, 0, &je);
  if (!w)
    fail_msg("bad expected JSON %s: %s", want, je.text);
  if (!json_equal(j, w)) {
    char *got = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    char *exp = json_dumps(w, JSON_SORT_KEYS | JSON_COMPACT);
    fail_msg("got\n%s\nwant\n%s", got, exp);
  }
  json_decref(w);
}

static const char *a(const uint8_t addr[ST_ADDR_LEN], char *buf) {
  assert_int_equal(st_addr_encode(ST_HRP_WALLET, addr, buf, ST_ADDR_STR_MAX), 0);
  return buf;
}

/* The st1 form of operator i of the fixture (static buffers, 8 at a time). */
static const char *opn(const qfix_t *f, int i) {
  static char bufs[8][ST_ADDR_STR_MAX];
  static int next;
  char *b = bufs[next++ % 8];
  return a(f->op[i], b);
}

static const char *field(json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  if (!s)
    fail_msg("field %s is not a string", k);
  return s;
}

static json_int_t ifield(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  if (!json_is_integer(v))
    fail_msg("field %s is not an integer", k);
  return json_integer_value(v);
}

/* The operators of a validators list, in order. */
static void list_ops(json_t *r, const char *key, const char *field_name, const char **want,
                     size_t n) {
  json_t *l = json_object_get(r, key);
  assert_true(json_is_array(l));
  if (json_array_size(l) != n)
    fail_msg("%s has %zu entries, want %zu", key, json_array_size(l), n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(field(json_array_get(l, i), field_name), want[i]);
}

/* ---- validators ---- */

static void test_validators(void **state) {
  qfix_t *f = *state;
  char gen[ST_ADDR_STR_MAX];
  a(f->gen_op, gen);
  /* Tokens descending; VB and VC hold 20 STOS each and go by operator. */
  bool b_first = memcmp(f->op[VB], f->op[VC], ST_ADDR_LEN) < 0;
  const char *order[] = {opn(f, VA), opn(f, b_first ? VB : VC), opn(f, b_first ? VC : VB),
                         gen, opn(f, VD)};
  json_t *r = query(f, st_chain__q_validators, NULL, 0, NULL);
  assert_int_equal(ifield(r, "total"), 5);
  list_ops(r, "validators", "operator", order, 5);
  /* VA in full. */
  st_keypair_t kp;
  uint8_t cons[ST_ADDR_LEN];
  char pk[2 * ST_PUBKEY_LEN + 1], consn[ST_ADDR_STR_MAX], want[1200];
  t_key(11 + VA, &kp, cons);
  st_hex_encode(kp.pk, ST_PUBKEY_LEN, pk, sizeof(pk));
  snprintf(want, sizeof(want),
           "{\"operator\":\"%s\",\"pub_key\":\"%s\",\"consensus_address\":\"%s\","
           "\"moniker\":\"alpha\",\"status\":\"bonded\",\"jailed\":false,\"tombstoned\":false,"
           "\"tokens\":\"50000000000000000000\",\"delegator_shares\":\"50000000000000000000\","
           "\"power\":50,\"commission\":{\"rate\":\"0.100000000000000000\","
           "\"max_rate\":\"0.200000000000000000\",\"max_change_rate\":\"0.010000000000000000\","
           "\"updated_ms\":1000},\"min_self_delegation\":\"1000000000000000000\","
           "\"unbonding_height\":0,\"unbonding_time_ms\":0,\"missed_blocks\":2}",
           opn(f, VA), pk,
           (st_addr_encode(ST_HRP_NODE, cons, consn, sizeof(consn)), consn));
  assert_json(json_array_get(json_object_get(r, "validators"), 0), want);
  /* VB: jailed (no power), unbonding, tombstoned. */
  json_t *vb = json_array_get(json_object_get(r, "validators"), b_first ? 1 : 2);
  assert_string_equal(field(vb, "status"), "unbonding");
  assert_true(json_is_true(json_object_get(vb, "jailed")));
  assert_true(json_is_true(json_object_get(vb, "tombstoned")));
  assert_int_equal(ifield(vb, "power"), 0);
  assert_int_equal(ifield(vb, "unbonding_height"), 7);
  assert_int_equal(ifield(vb, "unbonding_time_ms"), 99000);
  assert_int_equal(ifield(vb, "missed_blocks"), 5);
  assert_string_equal(field(vb, "delegator_shares"), "40000000000000000000");
  json_decref(r);

  /* Status filters. */
  r = query(f, st_chain__q_validators, "{\"status\":\"bonded\"}", 0, NULL);
  const char *bonded[] = {opn(f, VA), gen, opn(f, VD)};
  assert_int_equal(ifield(r, "total"), 3);
  list_ops(r, "validators", "operator", bonded, 3);
  json_decref(r);
  r = query(f, st_chain__q_validators, "{\"status\":\"unbonded\"}", 0, NULL);
  const char *unbonded[] = {opn(f, VC)};
  list_ops(r, "validators", "operator", unbonded, 1);
  json_decref(r);

  /* Pages: 2 per page gives 3 pages, the last one short. */
  r = query(f, st_chain__q_validators, "{\"page\":2,\"per_page\":2}", 0, NULL);
  assert_int_equal(ifield(r, "total"), 5);
  list_ops(r, "validators", "operator", order + 2, 2);
  json_decref(r);
  r = query(f, st_chain__q_validators, "{\"page\":\"3\",\"per_page\":\"2\"}", 0, NULL);
  list_ops(r, "validators", "operator", order + 4, 1);
  json_decref(r);
  r = query(f, st_chain__q_validators, "{\"per_page\":100}", 0, NULL);
  list_ops(r, "validators", "operator", order, 5);
  json_decref(r);
  query(f, st_chain__q_validators, "{\"page\":4,\"per_page\":2}", -32602,
        "page 4 is out of range; there are 3 pages");
  query(f, st_chain__q_validators, "{\"page\":2}", -32602,
        "page 2 is out of range; there is 1 page");
  query(f, st_chain__q_validators, "{\"page\":0}", -32602, "page 0 is out of range");
  query(f, st_chain__q_validators, "{\"per_page\":0}", -32602,
        "per_page must be between 1 and 100");
  query(f, st_chain__q_validators, "{\"per_page\":101}", -32602,
        "per_page must be between 1 and 100");
  query(f, st_chain__q_validators, "{\"page\":\"two\"}", -32602,
        "page must be a non-negative integer");
  query(f, st_chain__q_validators, "{\"page\":-1}", -32602, "page must be");
  query(f, st_chain__q_validators, "{\"status\":\"active\"}", -32602,
        "status must be \"bonded\", \"unbonding\" or \"unbonded\"");
  query(f, st_chain__q_validators, "{\"status\":2}", -32602, "status must be");
  query(f, st_chain__q_validators, "{\"height\":2}", -32602, "unknown parameter \"height\"");
}

static void test_validator(void **state) {
  qfix_t *f = *state;
  char p[200];
  snprintf(p, sizeof(p), "{\"address\":\"%s\"}", opn(f, VA));
  json_t *r = query(f, st_chain__q_validator, p, 0, NULL);
  assert_string_equal(field(r, "operator"), opn(f, VA));
  assert_string_equal(field(r, "moniker"), "alpha");
  assert_string_equal(field(r, "self_delegation"), "40000000000000000000");
  assert_string_equal(field(r, "commission_accrued"), "777");
  assert_json(json_object_get(r, "signing_info"),
              "{\"start_height\":3,\"index\":40,\"missed_blocks\":2,\"jailed_until_ms\":0,"
              "\"tombstoned\":false}");
  json_decref(r);
  /* VB: no self-delegation, no commission record; shares worth half. */
  snprintf(p, sizeof(p), "{\"address\":\"%s\"}", opn(f, VB));
  r = query(f, st_chain__q_validator, p, 0, NULL);
  assert_string_equal(field(r, "self_delegation"), "0");
  assert_string_equal(field(r, "commission_accrued"), "0");
  assert_json(json_object_get(r, "signing_info"),
              "{\"start_height\":1,\"index\":9,\"missed_blocks\":5,\"jailed_until_ms\":5000,"
              "\"tombstoned\":true}");
  json_decref(r);
  /* VC has no signing info: zeros. */
  snprintf(p, sizeof(p), "{\"address\":\"%s\"}", opn(f, VC));
  r = query(f, st_chain__q_validator, p, 0, NULL);
  assert_int_equal(ifield(json_object_get(r, "signing_info"), "start_height"), 0);
  assert_int_equal(ifield(r, "missed_blocks"), 0);
  json_decref(r);
  /* An account that is no validator. */
  char d0[ST_ADDR_STR_MAX], want[160];
  snprintf(p, sizeof(p), "{\"address\":\"%s\"}", a(f->del0, d0));
  snprintf(want, sizeof(want), "validator %s not found", d0);
  query(f, st_chain__q_validator, p, -32602, want);
  query(f, st_chain__q_validator, NULL, -32602, "address is required");
  query(f, st_chain__q_validator, "{\"address\":\"st1nope\"}", -32602,
        "address must be an st1... address");
  query(f, st_chain__q_validator, "{\"address\":7}", -32602, "address must be");
  query(f, st_chain__q_validator, "{\"operator\":\"x\"}", -32602,
        "unknown parameter \"operator\"");
}

/* ---- delegations, unbonding, redelegations ---- */

static void test_delegations(void **state) {
  qfix_t *f = *state;
  char p[300], d0[ST_ADDR_STR_MAX], d5[ST_ADDR_STR_MAX], want[1200];
  a(f->del0, d0);
  a(f->del5, d5);
  /* By delegator, in validator address order. */
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\"}", d0);
  json_t *r = query(f, st_chain__q_delegations, p, 0, NULL);
  bool a_first = memcmp(f->op[VA], f->op[VB], ST_ADDR_LEN) < 0;
  char ea[300], eb[300];
  snprintf(ea, sizeof(ea),
           "{\"delegator\":\"%s\",\"validator\":\"%s\",\"shares\":\"10000000000000000000\","
           "\"balance\":\"10000000000000000000\"}", d0, opn(f, VA));
  snprintf(eb, sizeof(eb),
           "{\"delegator\":\"%s\",\"validator\":\"%s\",\"shares\":\"4000000000000000000\","
           "\"balance\":\"2000000000000000000\"}", d0, opn(f, VB));
  snprintf(want, sizeof(want), "{\"delegations\":[%s,%s],\"total\":2}", a_first ? ea : eb,
           a_first ? eb : ea);
  assert_json(r, want);
  json_decref(r);
  /* By validator, in delegator address order. */
  snprintf(p, sizeof(p), "{\"validator\":\"%s\"}", opn(f, VA));
  r = query(f, st_chain__q_delegations, p, 0, NULL);
  assert_int_equal(ifield(r, "total"), 3);
  const uint8_t *dels[3] = {f->op[VA], f->del0, f->del5};
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2 - i; j++)
      if (memcmp(dels[j], dels[j + 1], ST_ADDR_LEN) > 0) {
        const uint8_t *t = dels[j];
        dels[j] = dels[j + 1];
        dels[j + 1] = t;
      }
  char b0[ST_ADDR_STR_MAX], b1[ST_ADDR_STR_MAX], b2[ST_ADDR_STR_MAX];
  const char *want_dels[] = {a(dels[0], b0), a(dels[1], b1), a(dels[2], b2)};
  list_ops(r, "delegations", "delegator", want_dels, 3);
  json_decref(r);
  /* Paged. */
  snprintf(p, sizeof(p), "{\"validator\":\"%s\",\"page\":2,\"per_page\":2}", opn(f, VA));
  r = query(f, st_chain__q_delegations, p, 0, NULL);
  assert_int_equal(ifield(r, "total"), 3);
  list_ops(r, "delegations", "delegator", want_dels + 2, 1);
  json_decref(r);
  /* Both: the one delegation, or none. */
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\",\"validator\":\"%s\"}", d5, opn(f, VA));
  r = query(f, st_chain__q_delegations, p, 0, NULL);
  snprintf(want, sizeof(want),
           "{\"delegations\":[{\"delegator\":\"%s\",\"validator\":\"%s\",\"shares\":"
           "\"3000000000000000000\",\"balance\":\"3000000000000000000\"}],\"total\":1}",
           d5, opn(f, VA));
  assert_json(r, want);
  json_decref(r);
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\",\"validator\":\"%s\"}", d5, opn(f, VB));
  r = query(f, st_chain__q_delegations, p, 0, NULL);
  assert_json(r, "{\"delegations\":[],\"total\":0}");
  json_decref(r);
  /* A delegator with nothing. */
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\"}", opn(f, VD));
  r = query(f, st_chain__q_delegations, p, 0, NULL);
  assert_json(r, "{\"delegations\":[],\"total\":0}");
  json_decref(r);
  query(f, st_chain__q_delegations, NULL, -32602, "delegator or validator is required");
  query(f, st_chain__q_delegations, "{}", -32602, "delegator or validator is required");
  query(f, st_chain__q_delegations, "{\"delegator\":\"x\"}", -32602,
        "delegator must be an st1... address");
  snprintf(p, sizeof(p), "{\"validator\":\"%s\"}", d0);
  snprintf(want, sizeof(want), "validator %s not found", d0);
  query(f, st_chain__q_delegations, p, -32602, want);
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\",\"per_page\":500}", d0);
  query(f, st_chain__q_delegations, p, -32602, "per_page must be between 1 and 100");
}

static void test_unbonding(void **state) {
  qfix_t *f = *state;
  char p[300], d0[ST_ADDR_STR_MAX], d5[ST_ADDR_STR_MAX], want[1500];
  a(f->del0, d0);
  a(f->del5, d5);
  char ua[400], ub[400], uc[400];
  snprintf(ua, sizeof(ua),
           "{\"delegator\":\"%s\",\"validator\":\"%s\",\"creation_height\":5,"
           "\"completion_time_ms\":123000,\"initial_balance\":\"3000000000000000000\","
           "\"balance\":\"3000000000000000000\"}", d0, opn(f, VA));
  snprintf(ub, sizeof(ub),
           "{\"delegator\":\"%s\",\"validator\":\"%s\",\"creation_height\":6,"
           "\"completion_time_ms\":124000,\"initial_balance\":\"2000000000000000000\","
           "\"balance\":\"1000000000000000000\"}", d0, opn(f, VB));
  snprintf(uc, sizeof(uc),
           "{\"delegator\":\"%s\",\"validator\":\"%s\",\"creation_height\":7,"
           "\"completion_time_ms\":125000,\"initial_balance\":\"1000000000000000000\","
           "\"balance\":\"1000000000000000000\"}", d5, opn(f, VA));
  bool a_first = memcmp(f->op[VA], f->op[VB], ST_ADDR_LEN) < 0;
  bool d0_first = memcmp(f->del0, f->del5, ST_ADDR_LEN) < 0;
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\"}", d0);
  json_t *r = query(f, st_chain__q_unbonding, p, 0, NULL);
  snprintf(want, sizeof(want), "{\"entries\":[%s,%s],\"total\":2}", a_first ? ua : ub,
           a_first ? ub : ua);
  assert_json(r, want);
  json_decref(r);
  snprintf(p, sizeof(p), "{\"validator\":\"%s\"}", opn(f, VA));
  r = query(f, st_chain__q_unbonding, p, 0, NULL);
  snprintf(want, sizeof(want), "{\"entries\":[%s,%s],\"total\":2}", d0_first ? ua : uc,
           d0_first ? uc : ua);
  assert_json(r, want);
  json_decref(r);
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\",\"validator\":\"%s\"}", d0, opn(f, VB));
  r = query(f, st_chain__q_unbonding, p, 0, NULL);
  snprintf(want, sizeof(want), "{\"entries\":[%s],\"total\":1}", ub);
  assert_json(r, want);
  json_decref(r);
  snprintf(p, sizeof(p), "{\"validator\":\"%s\",\"per_page\":1,\"page\":2}", opn(f, VA));
  r = query(f, st_chain__q_unbonding, p, 0, NULL);
  snprintf(want, sizeof(want), "{\"entries\":[%s],\"total\":2}", d0_first ? uc : ua);
  assert_json(r, want);
  json_decref(r);
  /* Entries may outlive their validator: an unknown one is just empty. */
  snprintf(p, sizeof(p), "{\"validator\":\"%s\"}", d5);
  r = query(f, st_chain__q_unbonding, p, 0, NULL);
  assert_json(r, "{\"entries\":[],\"total\":0}");
  json_decref(r);
  query(f, st_chain__q_unbonding, "{}", -32602, "delegator or validator is required");
  query(f, st_chain__q_unbonding, "{\"validator\":[]}", -32602,
        "validator must be an st1... address");
  query(f, st_chain__q_unbonding, "{\"delegatr\":1}", -32602,
        "unknown parameter \"delegatr\"");
}

static void test_redelegations(void **state) {
  qfix_t *f = *state;
  char p[300], d0[ST_ADDR_STR_MAX], want[600];
  a(f->del0, d0);
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\"}", d0);
  json_t *r = query(f, st_chain__q_redelegations, p, 0, NULL);
  snprintf(want, sizeof(want),
           "{\"entries\":[{\"delegator\":\"%s\",\"src\":\"%s\",\"dst\":\"%s\","
           "\"creation_height\":8,\"completion_time_ms\":456000,"
           "\"initial_balance\":\"1000000000000000000\","
           "\"shares_dst\":\"2000000000000000000\"}],\"total\":1}",
           d0, opn(f, VA), opn(f, VD));
  assert_json(r, want);
  json_decref(r);
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\"}", opn(f, VC));
  r = query(f, st_chain__q_redelegations, p, 0, NULL);
  assert_json(r, "{\"entries\":[],\"total\":0}");
  json_decref(r);
  query(f, st_chain__q_redelegations, NULL, -32602, "delegator is required");
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\",\"validator\":\"%s\"}", d0, d0);
  query(f, st_chain__q_redelegations, p, -32602, "unknown parameter \"validator\"");
}

/* ---- rewards ---- */

/* What st_chain__distr_pending gives for (del, op) now. */
static st_u128 pending(qfix_t *f, const uint8_t del[ST_ADDR_LEN],
                       const uint8_t op[ST_ADDR_LEN]) {
  st_txn_t *txn;
  st_chain__overlay_t ov;
  char log[ST_CHAIN__LOG_MAX];
  int64_t h;
  st_val_t v;
  st_u128 out = 0;
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  assert_int_equal(st_chain__meta_get(&f->ch.st, txn, &h, NULL), 0);
  st_chain__ov_init(&ov, &f->ch.st, txn);
  st_chain__ctx_t c = {.ov = &ov, .p = &f->ch.gen.p, .height = h, .log = log,
                       .logcap = sizeof(log)};
  assert_int_equal(st_chain__val_get(&c, op, &v), 0);
  assert_int_equal(st_chain__distr_pending(&c, del, &v, &out), 0);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  return out;
}

/* Hands fees to the bonded validators through the distribution module,
 * as the end of a block does. */
static void distribute(qfix_t *f, st_u128 fees) {
  st_txn_t *txn;
  st_chain__overlay_t ov;
  char log[ST_CHAIN__LOG_MAX] = "";
  st_chain__acct_t d;
  assert_int_equal(st_txn_begin(f->s, true, &txn), 0);
  st_chain__ov_init(&ov, &f->ch.st, txn);
  st_chain__ctx_t c = {.ov = &ov, .p = &f->ch.gen.p, .height = 1, .log = log,
                       .logcap = sizeof(log)};
  const uint8_t *distr = st_chain__macc(ST_MACC_DISTR);
  assert_int_equal(st_chain__ov_get(&ov, distr, &d), 0);
  put_balance(&ov, distr, d.balance + fees);
  int rc = st_chain__distr_end_block(&c, fees);
  if (rc != 0)
    fail_msg("distr_end_block: %s (%s)", st_strerror(rc), log);
  uint8_t prev[ST_HASH_LEN] = {0}, hash[ST_HASH_LEN];
  assert_int_equal(st_chain__ov_commit(&ov, prev, hash), 0);
  st_chain__ov_free(&ov);
  assert_int_equal(st_txn_commit(txn), 0);
}

static void test_rewards(void **state) {
  qfix_t *f = *state;
  char p[300], d0[ST_ADDR_STR_MAX], gen[ST_ADDR_STR_MAX], want[600];
  a(f->del0, d0);
  a(f->gen_op, gen);
  /* Nothing was handed out to VA or VB yet. */
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\"}", d0);
  json_t *r = query(f, st_chain__q_rewards, p, 0, NULL);
  bool a_first = memcmp(f->op[VA], f->op[VB], ST_ADDR_LEN) < 0;
  snprintf(want, sizeof(want),
           "{\"rewards\":[{\"validator\":\"%s\",\"amount\":\"0\"},"
           "{\"validator\":\"%s\",\"amount\":\"0\"}],\"total\":\"0\"}",
           opn(f, a_first ? VA : VB), opn(f, a_first ? VB : VA));
  assert_json(r, want);
  json_decref(r);
  /* VA's operator also sees its accrued commission. */
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\",\"validator\":\"%s\"}", opn(f, VA),
           opn(f, VA));
  r = query(f, st_chain__q_rewards, p, 0, NULL);
  snprintf(want, sizeof(want),
           "{\"rewards\":[{\"validator\":\"%s\",\"amount\":\"0\"}],\"total\":\"0\","
           "\"commission\":\"777\"}", opn(f, VA));
  assert_json(r, want);
  json_decref(r);
  /* No delegation to that validator: nothing. */
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\",\"validator\":\"%s\"}", d0, opn(f, VD));
  r = query(f, st_chain__q_rewards, p, 0, NULL);
  assert_json(r, "{\"rewards\":[],\"total\":\"0\"}");
  json_decref(r);

  /* Fees handed to the bonded set reach the genesis validator's
   * self-delegation and its commission. */
  distribute(f, 1000000);
  st_u128 want_amt = pending(f, f->gen_op, f->gen_op);
  assert_true(want_amt > 0);
  char amt[ST_U128_STR_MAX];
  st_u128_format(want_amt, amt);
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\"}", gen);
  r = query(f, st_chain__q_rewards, p, 0, NULL);
  json_t *l = json_object_get(r, "rewards");
  assert_int_equal(json_array_size(l), 1);
  assert_string_equal(field(json_array_get(l, 0), "validator"), gen);
  assert_string_equal(field(json_array_get(l, 0), "amount"), amt);
  assert_string_equal(field(r, "total"), amt);
  /* The commission shown is the stored one. */
  uint8_t k[1 + ST_ADDR_LEN];
  st_u128 comm = 0;
  st_txn_t *txn;
  const void *v;
  size_t n;
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  if (st_kv_get(txn, f->ch.st.mod, k, st_chain__k1(k, ST_K_D_COMM, f->gen_op), &v, &n) == 0) {
    assert_int_equal(n, 16);
    comm = st_chain__get128(v);
  }
  st_txn_abort(txn);
  st_u128_format(comm, amt);
  assert_string_equal(field(r, "commission"), amt);
  json_decref(r);

  query(f, st_chain__q_rewards, "{}", -32602, "delegator is required");
  snprintf(p, sizeof(p), "{\"validator\":\"%s\"}", opn(f, VA));
  query(f, st_chain__q_rewards, p, -32602, "delegator is required");
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\",\"validator\":\"%s\"}", d0, d0);
  snprintf(want, sizeof(want), "validator %s not found", d0);
  query(f, st_chain__q_rewards, p, -32602, want);
  snprintf(p, sizeof(p), "{\"delegator\":\"%s\",\"page\":1}", d0);
  query(f, st_chain__q_rewards, p, -32602, "unknown parameter \"page\"");
}

/* ---- governance ---- */

static void test_proposals(void **state) {
  qfix_t *f = *state;
  json_t *r = query(f, st_chain__q_proposals, NULL, 0, NULL);
  assert_json(r,
              "{\"proposals\":[{\"id\":1,\"title\":\"raise the fee\",\"status\":"
              "\"voting\",\"changes\":[{\"key\":\"auth.min_fee_per_byte\","
              "\"value\":\"\\\"3\\\"\"}]},{\"id\":2,\"title\":\"more validators\","
              "\"status\":\"passed\"}],\"total\":2}");
  json_decref(r);
  r = query(f, st_chain__q_proposals, "{\"status\":\"passed\"}", 0, NULL);
  assert_json(r, "{\"proposals\":[{\"id\":2,\"title\":\"more validators\","
                 "\"status\":\"passed\"}],\"total\":1}");
  json_decref(r);
  r = query(f, st_chain__q_proposals, "{\"status\":\"rejected\"}", 0, NULL);
  assert_json(r, "{\"proposals\":[],\"total\":0}");
  json_decref(r);
  r = query(f, st_chain__q_proposals, "{\"page\":2,\"per_page\":1}", 0, NULL);
  assert_int_equal(ifield(r, "total"), 2);
  assert_int_equal(ifield(json_array_get(json_object_get(r, "proposals"), 0), "id"), 2);
  json_decref(r);
  query(f, st_chain__q_proposals, "{\"page\":3,\"per_page\":1}", -32602,
        "page 3 is out of range");
  query(f, st_chain__q_proposals, "{\"status\":5}", -32602, "status must be");
  query(f, st_chain__q_proposals, "{\"status\":\"voting_period\"}", -32602,
        "status must be \"deposit\", \"voting\", \"passed\", \"rejected\", \"failed\" or "
        "\"expired\"");
}

static void test_proposal(void **state) {
  qfix_t *f = *state;
  char d0[ST_ADDR_STR_MAX], d5[ST_ADDR_STR_MAX], want[1500];
  a(f->del0, d0);
  a(f->del5, d5);
  json_t *r = query(f, st_chain__q_proposal, "{\"id\":1}", 0, NULL);
  assert_string_equal(field(r, "title"), "raise the fee");
  assert_int_equal(ifield(r, "id"), 1);
  /* Deposits and votes in address order. */
  bool d0_first = memcmp(f->del0, f->del5, ST_ADDR_LEN) < 0;
  char e0[200], e5[200];
  snprintf(e0, sizeof(e0), "{\"depositor\":\"%s\",\"amount\":\"1000\"}", d0);
  snprintf(e5, sizeof(e5), "{\"depositor\":\"%s\",\"amount\":\"2000\"}", d5);
  snprintf(want, sizeof(want), "[%s,%s]", d0_first ? e0 : e5, d0_first ? e5 : e0);
  assert_json(json_object_get(r, "deposits"), want);
  json_t *votes = json_object_get(r, "votes");
  char gen[ST_ADDR_STR_MAX];
  a(f->gen_op, gen);
  assert_int_equal(json_array_size(votes), 4);
  for (size_t i = 0; i < 4; i++) {
    json_t *v = json_array_get(votes, i);
    const char *who = field(v, "voter"), *opt = field(v, "option");
    if (strcmp(who, d0) == 0)
      assert_string_equal(opt, "yes");
    else if (strcmp(who, d5) == 0)
      assert_string_equal(opt, "abstain");
    else if (strcmp(who, opn(f, VA)) == 0)
      assert_string_equal(opt, "no_with_veto");
    else if (strcmp(who, gen) == 0)
      assert_string_equal(opt, "no");
    else
      fail_msg("unexpected voter %s", who);
    if (i > 0)
      assert_true(strcmp(field(json_array_get(votes, i - 1), "voter"), who) != 0);
  }
  /* Only the genesis validator is bonded: its operator's vote carries its
   * 10 STOS; the others' validators are not in the bonded set. */
  assert_json(json_object_get(r, "live_tally"),
              "{\"yes\":\"0\",\"abstain\":\"0\",\"no\":\"10000000000000000000\","
              "\"no_with_veto\":\"0\",\"bonded_tokens\":\"10000000000000000000\"}");
  json_decref(r);
  /* The id as a string; a proposal stored without id gets it. */
  r = query(f, st_chain__q_proposal, "{\"id\":\"2\"}", 0, NULL);
  /* A decided proposal has no live tally. */
  assert_json(r, "{\"id\":2,\"title\":\"more validators\",\"status\":\"passed\","
                 "\"deposits\":[],\"votes\":[]}");
  json_decref(r);
  query(f, st_chain__q_proposal, "{\"id\":3}", -32602, "proposal 3 not found");
  query(f, st_chain__q_proposal, "{\"id\":0}", -32602, "id must be a proposal number");
  query(f, st_chain__q_proposal, "{}", -32602, "id is required");
  query(f, st_chain__q_proposal, "{\"id\":\"one\"}", -32602, "id must be");
  query(f, st_chain__q_proposal, "{\"id\":1.5}", -32602, "id must be");
  query(f, st_chain__q_proposal, "{\"proposal\":1}", -32602, "unknown parameter \"proposal\"");
}

/* ---- params and pools ---- */

static void test_params(void **state) {
  qfix_t *f = *state;
  json_t *r = query(f, st_chain__q_params, NULL, 0, NULL);
  /* No proposal changed anything: the genesis parameters. */
  json_t *want = st_chain__params_json(&f->ch.gen.p);
  assert_true(json_equal(r, want));
  assert_string_equal(field(json_object_get(r, "auth"), "min_fee_per_byte"), "2");
  json_decref(want);
  json_decref(r);
  r = query(f, st_chain__q_params, "{}", 0, NULL);
  json_decref(r);
  query(f, st_chain__q_params, "{\"section\":\"auth\"}", -32602,
        "unknown parameter \"section\"");
}

static void test_pools(void **state) {
  qfix_t *f = *state;
  json_t *r = query(f, st_chain__q_pools, NULL, 0, NULL);
  char want[1200], addrs[ST_MACC_N][ST_ADDR_STR_MAX];
  for (int i = 0; i < ST_MACC_N; i++)
    a(st_chain__macc(i), addrs[i]);
  snprintf(want, sizeof(want),
           "{\"bonded_pool\":{\"address\":\"%s\",\"balance\":\"1111\"},"
           "\"not_bonded_pool\":{\"address\":\"%s\",\"balance\":\"2222\"},"
           "\"distribution\":{\"address\":\"%s\",\"balance\":\"3333\"},"
           "\"community_pool\":{\"address\":\"%s\",\"balance\":\"4444\"},"
           "\"gov\":{\"address\":\"%s\",\"balance\":\"5555\"}}",
           addrs[0], addrs[1], addrs[2], addrs[3], addrs[4]);
  assert_json(r, want);
  json_decref(r);
  query(f, st_chain__q_pools, "{\"pool\":\"gov\"}", -32602, "unknown parameter \"pool\"");
}

int main(void) {
  st_log_set_level(ST_LOG_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_validators, setup, teardown),
    cmocka_unit_test_setup_teardown(test_validator, setup, teardown),
    cmocka_unit_test_setup_teardown(test_delegations, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unbonding, setup, teardown),
    cmocka_unit_test_setup_teardown(test_redelegations, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rewards, setup, teardown),
    cmocka_unit_test_setup_teardown(test_proposals, setup, teardown),
    cmocka_unit_test_setup_teardown(test_proposal, setup, teardown),
    cmocka_unit_test_setup_teardown(test_params, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pools, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
