/* Shared fixtures of the economic modules' unit tests (staking,
 * distribution, governance, register, sds, queries).
 *
 * fix_t: a ctx over an overlay on a write txn of a temporary LMDB store,
 * accounts with made-up addresses funded by hand, and messages run the
 * way st_chain__tx_exec runs them. A test adds its own fields by
 * defining MODS_FIX_EXTRA before the include, so that every test keeps
 * writing f->ov, f->c and f->p.
 *
 * t_chain_open / t_state_begin / t_state_commit: a whole chain opened
 * over a temporary store, with records written into its committed state
 * the way a block would (for the queries).
 *
 * Included by one test file at a time, so everything here is static. */
#ifndef STRATOS_TESTS_CHAIN_MODS_FIX_H
#define STRATOS_TESTS_CHAIN_MODS_FIX_H

#include "chain_test.h"
#include "chain/mods.h"
#include "tx.pb-c.h"

#ifndef MODS_FIX_EXTRA
#define MODS_FIX_EXTRA
#endif

typedef struct fix {
  char dir[PATH_MAX];
  st_store_t *s;
  st_chain__state_t st;
  st_txn_t *txn;
  st_chain__overlay_t ov;
  st_chain__params_t p;
  st_chain__ctx_t c;
  char log[ST_CHAIN__LOG_MAX];
  MODS_FIX_EXTRA
} fix_t;

/* Twenty bytes of n: a made-up address. */
static inline const uint8_t *addr(int n) {
  static uint8_t a[256][ST_ADDR_LEN];
  memset(a[n], n, ST_ADDR_LEN);
  return a[n];
}

static inline st_u128 bal(fix_t *f, const uint8_t *a) {
  st_chain__acct_t x;
  assert_int_equal(st_chain__ov_get(&f->ov, a, &x), 0);
  return x.balance;
}

static inline bool has(fix_t *f, const uint8_t *k, size_t n) {
  const uint8_t *v;
  size_t vn;
  int rc = st_chain__ov_read(&f->ov, ST_CHAIN__SP_STATE, k, n, &v, &vn);
  assert_true(rc == 0 || rc == ST_ENOENT);
  return rc == 0;
}

/* Gives each of the n accounts accts (address numbers) amount. */
static inline void fund(fix_t *f, const int *accts, size_t n, st_u128 amount) {
  for (size_t i = 0; i < n; i++) {
    st_chain__acct_t a = {amount, 0};
    assert_int_equal(st_chain__ov_put(&f->ov, addr(accts[i]), &a), 0);
  }
}

/* A new fixture: the accounts and module databases of a fresh store,
 * a write txn over them, and a ctx at height and time_ms whose params
 * are f->p (the test fills them). */
static inline fix_t *fix_new(int64_t height, int64_t time_ms) {
  fix_t *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  t_open_store(f->dir, sizeof(f->dir), &f->s);
  f->st.store = f->s;
  assert_int_equal(st_store_db(f->s, "chain_acct", &f->st.acct), 0);
  assert_int_equal(st_store_db(f->s, "chain_mod", &f->st.mod), 0);
  f->st.dbs[ST_CHAIN__SP_ACCT] = f->st.acct;
  f->st.dbs[ST_CHAIN__SP_STATE] = f->st.mod;
  assert_int_equal(st_txn_begin(f->s, true, &f->txn), 0);
  st_chain__ov_init(&f->ov, &f->st, f->txn);
  f->c = (st_chain__ctx_t){.ov = &f->ov, .p = &f->p, .height = height, .time_ms = time_ms,
                           .log = f->log, .logcap = sizeof(f->log)};
  return f;
}

static inline int fix_teardown(void **state) {
  fix_t *f = *state;
  st_chain__ov_free(&f->ov);
  st_txn_abort(f->txn);
  st_store_close(f->s);
  t_remove_tree(f->dir);
  free(f);
  return 0;
}

typedef int (*fix_exec_fn)(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                           const Stratos__Tx__TxBody *body);

/* As st_chain__tx_exec runs a message: under the undo journal, kept only
 * when it succeeds, events included. A success leaves no log. */
static inline int fix_run(fix_t *f, fix_exec_fn exec, int who, const Stratos__Tx__TxBody *b) {
  uint32_t nev = f->c.nevents;
  f->log[0] = '\0';
  st_chain__ov_begin(&f->ov);
  int rc = exec(&f->c, addr(who), b);
  st_chain__ov_end(&f->ov, rc == 0);
  if (rc == 0)
    assert_string_equal(f->log, "");
  else
    f->c.nevents = nev;
  return rc;
}

/* The generated messages hold char *; the tests' strings are constant
 * and never written through. */
static inline char *mut(const char *s) {
  char *r;
  memcpy(&r, &s, sizeof(r));
  return r;
}

/* ---- a chain over a committed state ---- */

/* Opens a chain over a fresh store from t_genesis(nkeys). */
static inline void t_chain_open(char *dir, size_t cap, st_store_t **s, st_chain_t *ch,
                                int nkeys) {
  st_chain__genesis_t g;
  t_open_store(dir, cap, s);
  t_genesis(nkeys, &g);
  assert_int_equal(st_chain__open(ch, *s, NULL, &g), 0);
}

static inline void t_chain_close(char *dir, st_store_t *s, st_chain_t *ch) {
  st_chain__close(ch);
  st_store_close(s);
  t_remove_tree(dir);
}

/* Records written straight into a chain's state, as by one block. */
typedef struct t_state_w {
  st_txn_t *txn;
  st_chain__overlay_t ov;
  st_chain__ctx_t c;
  char log[ST_CHAIN__LOG_MAX];
} t_state_w_t;

static inline void t_state_begin(t_state_w_t *w, st_chain_t *ch, int64_t height,
                                 int64_t time_ms) {
  assert_int_equal(st_txn_begin(ch->st.store, true, &w->txn), 0);
  st_chain__ov_init(&w->ov, &ch->st, w->txn);
  w->c = (st_chain__ctx_t){.ov = &w->ov, .p = &ch->gen.p, .height = height,
                           .time_ms = time_ms, .log = w->log, .logcap = sizeof(w->log)};
}

static inline void t_state_commit(t_state_w_t *w) {
  uint8_t prev[ST_HASH_LEN] = {0}, hash[ST_HASH_LEN];
  assert_int_equal(st_chain__ov_commit(&w->ov, prev, hash), 0);
  st_chain__ov_free(&w->ov);
  assert_int_equal(st_txn_commit(w->txn), 0);
}

/* ---- the books ---- */

typedef struct sum_ctx {
  st_u128 sum;
  size_t n;
} sum_ctx_t;

static inline int acct_sum_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  sum_ctx_t *s = ud;
  st_chain__acct_t a;
  (void)k;
  if (kl != ST_ADDR_LEN || vl != ST_CHAIN__ACCT_LEN)
    return ST_ECORRUPT;
  st_chain__acct_decode(v, &a);
  s->sum += a.balance;
  s->n++;
  return 0;
}

/* Every balance there is, module accounts included. */
static inline st_u128 supply(fix_t *f) {
  sum_ctx_t s = {0, 0};
  assert_int_equal(st_chain__ov_scan(&f->ov, ST_CHAIN__SP_ACCT, "", 0, acct_sum_cb, &s), 0);
  /* The module accounts are accounts like any other: nothing hides them. */
  return s.sum;
}

#endif
