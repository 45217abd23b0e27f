/* Unit tests of the genesis "ozone" grants (src/meta/genesis.c): a wallet
 * granted noz holds them once the meta state is opened, the grants are
 * part of the genesis app hash (a store made from other grants is
 * refused), and a grant with a bad address, a bad amount or an address
 * granted twice is refused with a sentence naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "test_tmp.h"
#include <stratos/st_err.h>
#include <stratos/st_store.h>
#include "meta/meta_private.h"

#define U128_MAX_STR "340282366920938463463374607431768211455"

typedef struct fx {
  char dir[PATH_MAX];
  st_keypair_t auth;
  uint8_t w[3][ST_ADDR_LEN];
  char ws[3][ST_ADDR_STR_MAX];
} fx_t;

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof(*f));
  uint8_t seed[ST_SEED_LEN];

  assert_non_null(f);
  memset(seed, 0x41, sizeof(seed));
  assert_int_equal(st_key_from_seed(seed, &f->auth), 0);
  for (int i = 0; i < 3; i++) {
    memset(f->w[i], 0x70 + i, ST_ADDR_LEN);
    assert_int_equal(st_addr_encode(ST_HRP_WALLET, f->w[i], f->ws[i], sizeof(f->ws[i])), 0);
  }
  st_test_tmpdir(f->dir, sizeof(f->dir), "meta-genesis");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;

  assert_int_equal(st_test_rm_tree(f->dir), 0);
  free(f);
  return 0;
}

/* A genesis with one authority and the "ozone" value given as JSON
 * (NULL: no such field). */
static json_t *genesis(const fx_t *f, const char *ozone) {
  char pk[2 * ST_PUBKEY_LEN + 1];
  json_t *g;

  st_hex_encode(f->auth.pk, ST_PUBKEY_LEN, pk, sizeof(pk));
  g = json_pack("{s:s,s:I,s:[{s:s}]}", "chain_id", "gchain", "genesis_time_ms",
                (json_int_t)1700000000000LL, "meta_nodes", "pub_key", pk);
  assert_non_null(g);
  if (ozone) {
    json_error_t e;
    json_t *oz = json_loads(ozone, JSON_DECODE_ANY, &e);
    if (!oz)
      fail_msg("bad test JSON %s: %s", ozone, e.text);
    assert_int_equal(json_object_set_new(g, "ozone", oz), 0);
  }
  return g;
}

/* "[{address: wallet a, noz: x}, ...]" for up to three grants. */
static char *grants(const fx_t *f, int n, const int *who, const char *const *noz) {
  json_t *a = json_array();
  char *s;

  for (int i = 0; i < n; i++)
    json_array_append_new(a, json_pack("{s:s,s:s}", "address", f->ws[who[i]], "noz", noz[i]));
  s = json_dumps(a, 0);
  json_decref(a);
  assert_non_null(s);
  return s;
}

static int parse(const fx_t *f, const char *ozone, st_meta__genesis_t *g, char *err,
                 size_t cap) {
  json_t *j = genesis(f, ozone);
  int rc;

  err[0] = '\0';
  rc = st_meta__genesis_parse(j, g, err, cap);
  json_decref(j);
  return rc;
}

static st_u128 balance(st_meta_t *m, const uint8_t addr[ST_ADDR_LEN]) {
  st_chain__overlay_t ov;
  st_txn_t *txn;
  st_u128 v = 7;

  assert_int_equal(st_txn_begin(m->store, false, &txn), 0);
  st_chain__ov_init(&ov, &m->st, txn);
  assert_int_equal(st_meta__oz_get(&ov, addr, &v), 0);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  return v;
}

/* Opens the meta state of genesis ozone in store directory sub; the
 * store and state are returned open. */
static int open_meta(const fx_t *f, const char *sub, const char *ozone, st_store_t **s,
                     st_meta_t *m) {
  st_store_opts_t o = {.map_size = 16u << 20, .no_sync = true};
  st_meta__genesis_t g;
  char dir[PATH_MAX + 16], err[256];
  int rc;

  assert_true((size_t)snprintf(dir, sizeof(dir), "%s/%s", f->dir, sub) < sizeof(dir));
  assert_int_equal(st_test_mkdir_p(dir), 0);
  assert_int_equal(st_store_open(dir, &o, s), 0);
  assert_int_equal(parse(f, ozone, &g, err, sizeof(err)), 0);
  memset(m, 0, sizeof(*m));
  rc = st_meta__open(m, *s, &g);
  if (rc != 0)
    st_meta__genesis_free(&g);
  return rc;
}

static void close_meta(st_store_t *s, st_meta_t *m) {
  st_meta__close(m);
  st_store_close(s);
}

static void test_grants_parsed(void **state) {
  fx_t *f = *state;
  st_meta__genesis_t g;
  char err[256];
  static const int who[3] = {0, 1, 2};
  static const char *const noz[3] = {"1000", U128_MAX_STR, "0"};
  char *oz = grants(f, 3, who, noz);

  assert_int_equal(parse(f, oz, &g, err, sizeof(err)), 0);
  assert_int_equal(g.noz, 3);
  assert_memory_equal(g.oz[0].addr, f->w[0], ST_ADDR_LEN);
  assert_true(g.oz[0].noz == 1000);
  assert_memory_equal(g.oz[1].addr, f->w[1], ST_ADDR_LEN);
  assert_true(g.oz[1].noz == ~(st_u128)0);
  assert_true(g.oz[2].noz == 0);
  st_meta__genesis_free(&g);
  assert_null(g.oz);
  assert_int_equal(g.noz, 0);
  free(oz);
  /* No field and an empty list: no grant. */
  assert_int_equal(parse(f, NULL, &g, err, sizeof(err)), 0);
  assert_int_equal(g.noz, 0);
  assert_null(g.oz);
  st_meta__genesis_free(&g);
  assert_int_equal(parse(f, "[]", &g, err, sizeof(err)), 0);
  assert_int_equal(g.noz, 0);
  st_meta__genesis_free(&g);
}

static void test_grants_credited(void **state) {
  fx_t *f = *state;
  static const int who[2] = {0, 1}, rwho[2] = {1, 0};
  static const char *const noz[2] = {"1099511627776", U128_MAX_STR};
  static const char *const rnoz[2] = {U128_MAX_STR, "1099511627776"};
  static const char *const other[2] = {"1099511627777", U128_MAX_STR};
  char *oz = grants(f, 2, who, noz), *roz = grants(f, 2, rwho, rnoz);
  char *ooz = grants(f, 2, who, other);
  uint8_t h[ST_HASH_LEN];
  st_store_t *s;
  st_meta_t m;

  assert_int_equal(open_meta(f, "a", oz, &s, &m), 0);
  assert_true(balance(&m, f->w[0]) == 1099511627776ULL);
  assert_true(balance(&m, f->w[1]) == ~(st_u128)0);
  assert_true(balance(&m, f->w[2]) == 0);
  memcpy(h, m.genesis_app_hash, ST_HASH_LEN);
  /* The grants are the wallet's to spend. */
  {
    st_chain__overlay_t ov;
    st_txn_t *txn;
    assert_int_equal(st_txn_begin(s, false, &txn), 0);
    st_chain__ov_init(&ov, &m.st, txn);
    assert_int_equal(st_meta__oz_debit(&ov, f->w[0], 1099511627776ULL), 0);
    assert_int_equal(st_meta__oz_debit(&ov, f->w[0], 1), ST_EPERM);
    assert_int_equal(st_meta__oz_debit(&ov, f->w[2], 1), ST_EPERM);
    st_chain__ov_free(&ov);
    st_txn_abort(txn);
  }
  close_meta(s, &m);

  /* Opened again with the same genesis: the same state. */
  assert_int_equal(open_meta(f, "a", oz, &s, &m), 0);
  assert_memory_equal(m.genesis_app_hash, h, ST_HASH_LEN);
  assert_true(balance(&m, f->w[0]) == 1099511627776ULL);
  close_meta(s, &m);
  /* Other grants make another genesis, which this store refuses. */
  assert_int_equal(open_meta(f, "a", ooz, &s, &m), ST_ECONFIG);
  close_meta(s, &m);
  assert_int_equal(open_meta(f, "a", NULL, &s, &m), ST_ECONFIG);
  close_meta(s, &m);
  /* The same grants in another order are the same genesis. */
  assert_int_equal(open_meta(f, "b", roz, &s, &m), 0);
  assert_memory_equal(m.genesis_app_hash, h, ST_HASH_LEN);
  assert_true(balance(&m, f->w[1]) == ~(st_u128)0);
  close_meta(s, &m);
  /* Without grants the app hash differs, and nobody holds ozone. */
  assert_int_equal(open_meta(f, "c", NULL, &s, &m), 0);
  assert_memory_not_equal(m.genesis_app_hash, h, ST_HASH_LEN);
  assert_true(balance(&m, f->w[0]) == 0);
  close_meta(s, &m);
  free(oz);
  free(roz);
  free(ooz);
}

static void test_grants_refused(void **state) {
  fx_t *f = *state;
  st_meta__genesis_t g;
  char err[256], node[ST_ADDR_STR_MAX], bad[ST_ADDR_STR_MAX + 8], js[1024];
  const char *w0 = f->ws[0], *w1 = f->ws[1];

  assert_int_equal(st_addr_encode(ST_HRP_NODE, f->w[0], node, sizeof(node)), 0);
  /* A wallet address with its last character changed: a bad checksum. */
  snprintf(bad, sizeof(bad), "%s", w0);
  bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'q' ? 'p' : 'q';
  struct {
    char json[512];
    const char *err;
  } cases[16];
  size_t n = 0;
#define CASE(e, ...)                                                                               \
  do {                                                                                             \
    snprintf(cases[n].json, sizeof(cases[n].json), __VA_ARGS__);                                  \
    cases[n++].err = (e);                                                                          \
  } while (0)
  CASE("ozone: must be an array", "{\"address\": \"%s\", \"noz\": \"1\"}", w0);
  CASE("ozone: must be an array", "\"%s\"", w0);
  /* Bad addresses. */
  CASE("ozone[0].address: must be an st1... address", "[{\"noz\": \"1\"}]");
  CASE("ozone[0].address: must be an st1... address", "[{\"address\": 5, \"noz\": \"1\"}]");
  CASE("ozone[0].address: must be an st1... address",
       "[{\"address\": \"%s\", \"noz\": \"1\"}]", node);
  CASE("ozone[1].address: must be an st1... address",
       "[{\"address\": \"%s\", \"noz\": \"1\"}, {\"address\": \"%s\", \"noz\": \"1\"}]", w0,
       bad);
  CASE("ozone[0].address: must be an st1... address", "[{\"address\": \"\", \"noz\": \"1\"}]");
  CASE("ozone[0].address: must be an st1... address", "[\"%s\"]", w0);
  /* Bad amounts. */
  CASE("ozone[0].noz: must be a decimal string", "[{\"address\": \"%s\"}]", w0);
  CASE("ozone[0].noz: must be a decimal string", "[{\"address\": \"%s\", \"noz\": 1000}]", w0);
  CASE("ozone[0].noz: must be a decimal string", "[{\"address\": \"%s\", \"noz\": \"-1\"}]",
       w0);
  CASE("ozone[0].noz: must be a decimal string", "[{\"address\": \"%s\", \"noz\": \"1.5\"}]",
       w0);
  CASE("ozone[0].noz: must be a decimal string", "[{\"address\": \"%s\", \"noz\": \"\"}]", w0);
  CASE("ozone[1].noz: must be a decimal string",
       "[{\"address\": \"%s\", \"noz\": \"1\"}, {\"address\": \"%s\", \"noz\": \"%s0\"}]", w0,
       w1, U128_MAX_STR);
  /* One wallet twice, even with other amounts. */
  CASE("ozone[2].address: granted twice",
       "[{\"address\": \"%s\", \"noz\": \"1\"}, {\"address\": \"%s\", \"noz\": \"2\"}, "
       "{\"address\": \"%s\", \"noz\": \"3\"}]",
       w0, w1, w0);
#undef CASE
  for (size_t i = 0; i < n; i++) {
    snprintf(js, sizeof(js), "%s", cases[i].json);
    assert_int_equal(parse(f, js, &g, err, sizeof(err)), ST_ECONFIG);
    if (strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
      fail_msg("%s: got \"%s\", want \"%s\"", js, err, cases[i].err);
    /* Nothing is left to free. */
    assert_null(g.oz);
    assert_int_equal(g.noz, 0);
    assert_null(g.auth.v);
  }
}

int main(void) {
  st_crypto_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_grants_parsed, setup, teardown),
    cmocka_unit_test_setup_teardown(test_grants_credited, setup, teardown),
    cmocka_unit_test_setup_teardown(test_grants_refused, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
