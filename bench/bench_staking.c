/* bench/staking: the value chain's reward accounting (F1, src/chain/distr.c)
 * costs the same per block whatever the number of delegators.
 *
 * Two chains start from the same genesis (4 validators, funded senders,
 * 10,000 would-be delegators and one large holder). On one of them the
 * 10,000 accounts each delegate 1 STOS to validator 0; on the other the
 * large holder alone delegates the same 10,000 STOS to it, so that both
 * chains have the same bonded set with the same powers and every block
 * hands the same fees to the same validators. Only the number of
 * delegation records differs: the reference is the same chain with one
 * delegator, measured in the same run.
 *
 * Both chains then finalize the same blocks, each carrying the same
 * pre-signed fee-paying transfers, alternately so that they share the
 * machine's noise. Only what the consensus engine waits for is timed:
 * st_chain__app_finalize and the commit of its LMDB transaction. Last,
 * one delegator's settlement (what WithdrawRewards does per delegation:
 * distr_settle, then distr_restart) is timed on each chain.
 *
 * F1 makes both independent of the number of delegators; what is left
 * over is LMDB's: the module records of 10,000 delegations make a tree
 * a level or two deeper than the reference's, so every lookup costs a
 * few more comparisons (log n, not n).
 *
 * Usage: bench_staking [BLOCKS]. Prints figures, then RATIO lines. */
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_chain.h>
#include <stratos/st_crypto.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_store.h>
#include "chain/mods.h"

#define CHAIN_ID "stratos-bench-staking"
#define GENESIS_MS 1795000000000LL
#define BLOCK_MS 1000
#define STOS ((st_u128)1000000000000000000ULL)

enum {
  NVALS = 4,
  NDELS = 10000,        /* delegators of validator 0 on the first chain */
  NSENDERS = 100,       /* each sends one transfer per block */
  VAL_POWER = 1000,     /* each validator's own stake, in STOS */
  WARMUP = 10,          /* untimed blocks first: caches, the new bonded set */
  DEFAULT_BLOCKS = 200, /* timed blocks per chain */
  NSETTLE = 1001,       /* timed settlements of each kind */
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "bench/staking: %s: %s\n", what, st_strerror(rc));
  return rc ? rc : ST_EINVAL;
}

/* ---- the accounts ---- */

typedef struct world {
  st_keypair_t vals[NVALS];
  st_keypair_t senders[NSENDERS];
  uint8_t sender_addr[NSENDERS][ST_ADDR_LEN];
  uint8_t (*dels)[ST_ADDR_LEN];
  uint8_t whale[ST_ADDR_LEN]; /* the one delegator of the reference chain */
} world_t;

static int seeded_key(uint8_t tag, uint32_t i, st_keypair_t *kp) {
  uint8_t seed[ST_SEED_LEN];
  memset(seed, tag, sizeof(seed));
  st_chain__be32(seed, i);
  return st_key_from_seed(seed, kp);
}

/* The address of a made-up public key: delegators spread over the key
 * space as real ones do, and nobody needs to sign for them because their
 * delegations are written directly. */
static void fake_addr(uint8_t tag, uint32_t i, uint8_t a[ST_ADDR_LEN]) {
  uint8_t pk[ST_PUBKEY_LEN];
  memset(pk, tag, sizeof(pk));
  st_chain__be32(pk, i);
  st_addr_from_pubkey(pk, a);
}

static int world_init(world_t *w) {
  int rc = 0;
  for (uint32_t i = 0; i < NVALS && rc == 0; i++)
    rc = seeded_key(0x7a, i, &w->vals[i]);
  for (uint32_t i = 0; i < NSENDERS && rc == 0; i++) {
    rc = seeded_key(0x5e, i, &w->senders[i]);
    st_addr_from_pubkey(w->senders[i].pk, w->sender_addr[i]);
  }
  if (rc != 0)
    return rc;
  w->dels = calloc(NDELS, ST_ADDR_LEN);
  if (!w->dels)
    return ST_ENOMEM;
  for (uint32_t i = 0; i < NDELS; i++)
    fake_addr(0xde, i, w->dels[i]);
  fake_addr(0xee, 0, w->whale);
  return 0;
}

/* ---- the genesis ---- */

static int add_acct(json_t *arr, const uint8_t a[ST_ADDR_LEN], st_u128 balance) {
  char s[ST_ADDR_STR_MAX], b[ST_U128_STR_MAX];
  if (st_addr_encode(ST_HRP_WALLET, a, s, sizeof(s)) != 0)
    return ST_EINVAL;
  st_u128_format(balance, b);
  return json_array_append_new(arr, json_pack("{s:s,s:s}", "address", s, "balance", b)) == 0
           ? 0
           : ST_ENOMEM;
}

static json_t *accounts_json(const world_t *w) {
  json_t *arr = json_array();
  int rc = arr ? 0 : ST_ENOMEM;
  for (size_t i = 0; i < NSENDERS && rc == 0; i++)
    rc = add_acct(arr, w->sender_addr[i], 1000 * STOS);
  /* Delegators keep as much again as they delegate: enough for fees. */
  for (size_t i = 0; i < NDELS && rc == 0; i++)
    rc = add_acct(arr, w->dels[i], 2 * STOS);
  if (rc == 0)
    rc = add_acct(arr, w->whale, (NDELS + 1) * STOS);
  if (rc != 0) {
    json_decref(arr);
    return NULL;
  }
  return arr;
}

static json_t *validators_json(const world_t *w) {
  json_t *arr = json_array();
  for (int i = 0; arr && i < NVALS; i++) {
    char pk[2 * ST_PUBKEY_LEN + 1], name[16];
    st_hex_encode(w->vals[i].pk, ST_PUBKEY_LEN, pk, sizeof(pk));
    snprintf(name, sizeof(name), "val%d", i);
    if (json_array_append_new(arr, json_pack("{s:s,s:s,s:i}", "name", name, "pub_key", pk,
                                              "power", VAL_POWER)) != 0) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

/* The documented default params: the benchmark runs what the network
 * runs (fees per byte, slashing window, community tax). */
static json_t *genesis_json(const world_t *w) {
  json_t *accts = accounts_json(w), *vals = validators_json(w),
         *params = st_chain_default_params();
  if (!accts || !vals || !params) {
    json_decref(accts);
    json_decref(vals);
    json_decref(params);
    return NULL;
  }
  return json_pack("{s:s,s:I,s:o,s:o,s:o}", "chain_id", CHAIN_ID, "genesis_time_ms",
                   (json_int_t)GENESIS_MS, "params", params, "accounts", accts,
                   "validators", vals);
}

/* ---- the blocks' transfers ---- */

/* Block h (from 1) holds one send per sender, with nonce h - 1, to the
 * next sender: the same bytes serve both chains. */
static int sign_txs(const world_t *w, size_t nblocks, st_u128 fee_per_byte, st_buf_t *txs) {
  for (size_t h = 0; h < nblocks; h++) {
    for (size_t s = 0; s < NSENDERS; s++) {
      st_buf_t *b = &txs[h * NSENDERS + s];
      st_buf_init(b, 1 << 16);
      int rc = st_chain_tx_send_min_fee(&w->senders[s], CHAIN_ID, h, fee_per_byte,
                                        w->sender_addr[(s + 1) % NSENDERS], 1, NULL, b);
      if (rc != 0)
        return rc;
    }
  }
  return 0;
}

/* ---- one chain ---- */

typedef struct bchain {
  const char *name;
  char dir[PATH_MAX];
  st_store_t *s;
  st_chain_t ch;
  bool open;
  st_cons_valset_t last;       /* the parent block's validators */
  bool *signed_;               /* every one of them signed */
  double *secs;                /* finalize + commit of each timed block */
  size_t ntimed;
} bchain_t;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb;
  (void)flag;
  (void)f;
  return remove(path);
}

static int make_tmpdir(char *out, size_t cap) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base)
    base = "/tmp";
  if ((size_t)snprintf(out, cap, "%s/bench-staking-XXXXXX", base) >= cap || !mkdtemp(out))
    return ST_EIO;
  return 0;
}

/* Keeps a copy of vs as the set the next block's downtime accounting
 * looks at, all of them signing (a healthy network). */
static int set_last(bchain_t *b, const st_cons_valset_t *vs) {
  st_cons_validator_t *v = malloc(vs->n * sizeof(*v));
  bool *sg = malloc(vs->n * sizeof(*sg));
  if (!v || !sg) {
    free(v);
    free(sg);
    return ST_ENOMEM;
  }
  memcpy(v, vs->v, vs->n * sizeof(*v));
  for (size_t i = 0; i < vs->n; i++)
    sg[i] = true;
  free(b->last.v);
  free(b->signed_);
  b->last.v = v;
  b->last.n = vs->n;
  b->signed_ = sg;
  return 0;
}

static int chain_open(bchain_t *b, const char *name, json_t *genesis, size_t nblocks) {
  st_chain__genesis_t g;
  char err[256];
  b->name = name;
  b->secs = calloc(nblocks, sizeof(*b->secs));
  if (!b->secs)
    return ST_ENOMEM;
  int rc = make_tmpdir(b->dir, sizeof(b->dir));
  if (rc != 0)
    return fail("cannot create a directory under $TMPDIR", rc);
  /* No fsync: a disk's sync latency would drown what is measured. */
  st_store_opts_t o = {.map_size = (size_t)1 << 30, .no_sync = true};
  if ((rc = st_store_open(b->dir, &o, &b->s)) != 0)
    return fail("st_store_open", rc);
  if ((rc = st_chain__genesis_parse(genesis, &g, err, sizeof(err))) != 0) {
    fprintf(stderr, "bench/staking: genesis: %s\n", err);
    return rc;
  }
  if ((rc = st_chain__open(&b->ch, b->s, NULL, &g)) != 0) {
    st_chain__genesis_free(&g);
    return fail("st_chain__open", rc);
  }
  b->open = true;
  return set_last(b, &b->ch.gen.valset);
}

static void chain_close(bchain_t *b) {
  if (b->open)
    st_chain__close(&b->ch);
  if (b->s)
    st_store_close(b->s);
  if (b->dir[0])
    nftw(b->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(b->last.v);
  free(b->signed_);
  free(b->secs);
}

static void ctx_init(bchain_t *b, st_chain__ctx_t *c, st_chain__overlay_t *ov, char *log,
                     size_t cap) {
  memset(c, 0, sizeof(*c));
  c->ov = ov;
  c->p = &b->ch.gen.p;
  c->height = b->ch.last_height + 1;
  c->time_ms = GENESIS_MS + b->ch.last_height * BLOCK_MS;
  c->log = log;
  c->logcap = cap;
  log[0] = '\0';
}

/* The validator every delegator chose: the first of the genesis set. */
static const uint8_t *val0(bchain_t *b) { return b->ch.gen.gvals[0].operator_; }

/* Writes the delegations of dels (each of amount) to validator 0 the way
 * Delegate txs would, through st_chain__delegate, in one transaction:
 * as txs they would also cost 10,000 signatures made and checked, for
 * the same records. The app hash chain is not checked by anything here. */
static int delegate_all(bchain_t *b, const uint8_t *dels, size_t n, st_u128 amount) {
  st_txn_t *txn;
  st_chain__overlay_t ov;
  st_chain__ctx_t c;
  st_val_t v;
  char log[ST_CHAIN__LOG_MAX];
  uint8_t prev[ST_HASH_LEN], app[ST_HASH_LEN];
  int64_t h;
  int rc = st_txn_begin(b->s, true, &txn);
  if (rc != 0)
    return fail("st_txn_begin", rc);
  st_chain__ov_init(&ov, &b->ch.st, txn);
  ctx_init(b, &c, &ov, log, sizeof(log));
  c.height = 0; /* as genesis writes the validators' own delegations */
  rc = st_chain__val_get(&c, val0(b), &v);
  for (size_t i = 0; i < n && rc == 0; i++)
    rc = st_chain__delegate(&c, dels + i * ST_ADDR_LEN, &v, amount);
  if (rc == 0 && (rc = st_chain__meta_get(&b->ch.st, txn, &h, prev)) == 0)
    rc = st_chain__ov_commit(&ov, prev, app);
  st_chain__ov_free(&ov);
  if (rc != 0) {
    st_txn_abort(txn);
    fprintf(stderr, "bench/staking: delegating: %s %s\n", st_strerror(rc), log);
    return rc;
  }
  return st_txn_commit(txn);
}

/* The engine hands finalize txs whose signatures the mempool checked on
 * arrival; so does this, so that ed25519 (the same on both chains) does
 * not dilute what is compared. */
static void mark_checked(bchain_t *b, const uint8_t *const *txs, const size_t *lens,
                         size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint8_t hash[ST_HASH_LEN];
    st_chain_tx_hash(txs[i], lens[i], hash);
    st_chain__mempool_mark(b->ch.mp, hash, ST_CHAIN__SEEN_SIG_OK, 0);
  }
}

/* Finalizes and commits the next block as the engine does; *secs is the
 * time of finalize + commit. */
static int chain_block(bchain_t *b, const uint8_t *const *txs, const size_t *lens, size_t n,
                       double *secs) {
  int64_t height = b->ch.last_height + 1;
  uint8_t bh[ST_HASH_LEN], app[ST_HASH_LEN], res[ST_HASH_LEN];
  st_cons_valset_t next = {0};
  bool changed = false;
  st_txn_t *txn;
  memset(bh, (int)(height & 0xff), sizeof(bh));
  st_cons_block_t blk = {.height = height, .time_ms = GENESIS_MS + height * BLOCK_MS,
                         .hash = bh, .proposer = b->last.v[0].addr, .ntxs = n,
                         .txs = txs, .tx_lens = lens};
  if (height > 1) {
    blk.last_valset = &b->last;
    blk.last_signed = b->signed_;
  }
  mark_checked(b, txs, lens, n);
  int rc = st_txn_begin(b->s, true, &txn);
  if (rc != 0)
    return fail("st_txn_begin", rc);
  double t0 = now();
  rc = st_chain__app_finalize(&b->ch, txn, &blk, app, res, &next, &changed);
  if (rc != 0) {
    st_txn_abort(txn);
    return fail("st_chain__app_finalize", rc);
  }
  rc = st_txn_commit(txn);
  *secs = now() - t0;
  if (rc != 0)
    return fail("st_txn_commit", rc);
  st_chain__app_committed(&b->ch, height);
  if (changed) {
    rc = set_last(b, &next);
    free(next.v);
  }
  return rc;
}

/* ---- figures ---- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The q-quantile (0..1) of v[0..n), nearest rank; sorts a copy. */
static double quantile(const double *v, size_t n, double q) {
  double *s = malloc(n * sizeof(*s));
  if (!s || n == 0) {
    free(s);
    return 0;
  }
  memcpy(s, v, n * sizeof(*s));
  qsort(s, n, sizeof(*s), cmp_double);
  size_t k = (size_t)ceil(q * (double)n);
  double r = s[k ? k - 1 : 0];
  free(s);
  return r;
}

/* ---- the run ---- */

typedef struct run {
  world_t w;
  size_t nblocks;   /* warm-up and timed */
  st_buf_t *txs;
  bchain_t many, one;
} run_t;

static int setup(run_t *r) {
  double t0 = now();
  int rc = world_init(&r->w);
  json_t *g = rc == 0 ? genesis_json(&r->w) : NULL;
  if (!g)
    return fail("building the genesis", rc ? rc : ST_ENOMEM);
  rc = chain_open(&r->many, "10000 delegators", g, r->nblocks);
  if (rc == 0)
    rc = chain_open(&r->one, "1 delegator", g, r->nblocks);
  json_decref(g);
  if (rc != 0)
    return rc;
  double t1 = now();
  /* The same stake behind validator 0 on both chains: same powers, same
   * fees per validator, only the number of delegations differs. */
  if ((rc = delegate_all(&r->many, r->w.dels[0], NDELS, STOS)) != 0 ||
      (rc = delegate_all(&r->one, r->w.whale, 1, NDELS * STOS)) != 0)
    return rc;
  double t2 = now();
  r->txs = calloc(r->nblocks * NSENDERS, sizeof(*r->txs));
  if (!r->txs)
    return fail("txs", ST_ENOMEM);
  if ((rc = sign_txs(&r->w, r->nblocks, r->many.ch.gen.p.min_fee_per_byte, r->txs)) != 0)
    return fail("signing the transfers", rc);
  printf("setup: 2 genesis states (%d validators, %d accounts) %.2f s; %d delegations %.2f s; "
         "%zu transfers signed %.2f s\n",
         NVALS, NSENDERS + NDELS + 1, t1 - t0, NDELS + 1, t2 - t1, r->nblocks * NSENDERS,
         now() - t2);
  return 0;
}

/* ---- settlement ---- */

static int settle_one(bchain_t *b, st_txn_t *txn, const uint8_t del[ST_ADDR_LEN],
                      double *secs, st_u128 *paid) {
  st_chain__overlay_t ov;
  st_chain__ctx_t c;
  st_chain__acct_t before, after;
  st_val_t v;
  char log[ST_CHAIN__LOG_MAX];
  st_chain__ov_init(&ov, &b->ch.st, txn);
  ctx_init(b, &c, &ov, log, sizeof(log));
  int rc = st_chain__val_get(&c, val0(b), &v);
  if (rc == 0)
    rc = st_chain__ov_get(&ov, del, &before);
  if (rc == 0) {
    double t0 = now();
    rc = st_chain__distr_settle(&c, del, &v);
    if (rc == 0)
      rc = st_chain__distr_restart(&c, del, &v);
    *secs = now() - t0;
  }
  if (rc == 0 && (rc = st_chain__ov_get(&ov, del, &after)) == 0)
    *paid = after.balance - before.balance;
  st_chain__ov_free(&ov);
  return rc;
}

/* A delegation settled as WithdrawRewards does it (settle, then
 * restart), each try on a fresh overlay over the committed state so that
 * every try finds the same rewards. Three series, interleaved to share
 * the noise: on the big chain the same delegator every time (like for
 * like with the reference, which has only one) and a different one every
 * time (whose records are not in the CPU caches yet); on the reference
 * its one delegator. */
typedef struct settle_fig {
  double same[NSETTLE], each[NSETTLE], one[NSETTLE];
  st_u128 paid_many, paid_one;
} settle_fig_t;

static int settle_all(run_t *r, settle_fig_t *f) {
  st_txn_t *tm, *to;
  st_u128 paid;
  int rc = st_txn_begin(r->many.s, false, &tm);
  if (rc != 0)
    return fail("st_txn_begin", rc);
  if ((rc = st_txn_begin(r->one.s, false, &to)) != 0) {
    st_txn_abort(tm);
    return fail("st_txn_begin", rc);
  }
  for (size_t i = 0; i < NSETTLE && rc == 0; i++) {
    /* 7919 is prime to NDELS: every try a delegator not seen before. */
    const uint8_t *d = r->w.dels[i * 7919 % NDELS];
    rc = settle_one(&r->many, tm, r->w.dels[0], &f->same[i], &f->paid_many);
    if (rc == 0)
      rc = settle_one(&r->many, tm, d, &f->each[i], &paid);
    if (rc == 0)
      rc = settle_one(&r->one, to, r->w.whale, &f->one[i], &f->paid_one);
  }
  st_txn_abort(tm);
  st_txn_abort(to);
  return rc == 0 ? 0 : fail("settling", rc);
}

static void report_settle(const settle_fig_t *f) {
  char a[ST_U128_STR_MAX], b[ST_U128_STR_MAX];
  st_u128_format(f->paid_many, a);
  st_u128_format(f->paid_one, b);
  printf("one delegation's settlement (distr_settle + distr_restart), median of %d:\n",
         NSETTLE);
  printf("  10000 delegators, the same one     %7.2f us   (paid %s wei)\n",
         1e6 * quantile(f->same, NSETTLE, 0.5), a);
  printf("  10000 delegators, a new one each   %7.2f us\n",
         1e6 * quantile(f->each, NSETTLE, 0.5));
  printf("  1 delegator                        %7.2f us   (paid %s wei)\n",
         1e6 * quantile(f->one, NSETTLE, 0.5), b);
  printf("RATIO settle_time_10k_delegators_vs_1=%.3f\n",
         quantile(f->same, NSETTLE, 0.5) / quantile(f->one, NSETTLE, 0.5));
}

/* Block h (from 0) on both chains, in an order that alternates so that
 * neither chain always runs right after the other. */
static int both_blocks(run_t *r, size_t h) {
  const uint8_t *ptrs[NSENDERS];
  size_t lens[NSENDERS];
  double s1 = 0, s2 = 0;
  for (size_t i = 0; i < NSENDERS; i++) {
    ptrs[i] = r->txs[h * NSENDERS + i].data;
    lens[i] = r->txs[h * NSENDERS + i].len;
  }
  bchain_t *a = h % 2 ? &r->one : &r->many, *b = h % 2 ? &r->many : &r->one;
  int rc = chain_block(a, ptrs, lens, NSENDERS, &s1);
  if (rc == 0)
    rc = chain_block(b, ptrs, lens, NSENDERS, &s2);
  if (rc == 0 && h >= WARMUP) {
    a->secs[a->ntimed++] = s1;
    b->secs[b->ntimed++] = s2;
  }
  return rc;
}

/* Every transfer must have gone through (else blocks would differ in
 * work) and no signature may have been checked in finalize. */
static int check_chain(bchain_t *b, const world_t *w, size_t nblocks) {
  st_txn_t *txn;
  st_chain__acct_t a;
  st_chain__mempool_stats_t ms;
  int rc = st_txn_begin(b->s, false, &txn);
  if (rc != 0)
    return fail("st_txn_begin", rc);
  rc = st_chain__acct_get(&b->ch.st, txn, w->sender_addr[0], &a);
  st_txn_abort(txn);
  st_chain__mempool_stats(b->ch.mp, &ms);
  if (rc == 0 && a.nonce != nblocks) {
    fprintf(stderr, "bench/staking: %s: %llu of %zu transfers of sender 0 applied\n",
            b->name, (unsigned long long)a.nonce, nblocks);
    rc = ST_ECORRUPT;
  }
  if (ms.sig_checks)
    printf("note: %s: %llu signatures checked in finalize\n", b->name,
           (unsigned long long)ms.sig_checks);
  return rc;
}

static void report_blocks(const bchain_t *b) {
  printf("  %-17s median %7.3f ms   p90 %7.3f ms   (%zu blocks)\n", b->name,
         1e3 * quantile(b->secs, b->ntimed, 0.5), 1e3 * quantile(b->secs, b->ntimed, 0.9),
         b->ntimed);
}

static int measure(run_t *r) {
  int rc = 0;
  for (size_t h = 0; h < r->nblocks && rc == 0; h++)
    rc = both_blocks(r, h);
  if (rc == 0)
    rc = check_chain(&r->many, &r->w, r->nblocks);
  if (rc == 0)
    rc = check_chain(&r->one, &r->w, r->nblocks);
  if (rc != 0)
    return rc;
  printf("per block (%d fee-paying transfers, fees to %d validators), "
         "finalize + commit:\n", NSENDERS, NVALS);
  report_blocks(&r->many);
  report_blocks(&r->one);
  static settle_fig_t f;
  if ((rc = settle_all(r, &f)) != 0)
    return rc;
  report_settle(&f);
  printf("RATIO block_time_10k_delegators_vs_1=%.3f\n",
         quantile(r->many.secs, r->many.ntimed, 0.5) /
           quantile(r->one.secs, r->one.ntimed, 0.5));
  return 0;
}

static void teardown(run_t *r) {
  chain_close(&r->many);
  chain_close(&r->one);
  for (size_t i = 0; r->txs && i < r->nblocks * NSENDERS; i++)
    st_buf_free(&r->txs[i]);
  free(r->txs);
  free(r->w.dels);
}

int main(int argc, char **argv) {
  static run_t r;
  long blocks = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_BLOCKS;
  if (blocks < 1 || blocks > 10000) {
    fprintf(stderr, "usage: bench_staking [BLOCKS]\n");
    return 2;
  }
  if (st_crypto_init() != 0)
    return 1;
  st_log_set_level(ST_LOG_WARN);
  r.nblocks = WARMUP + (size_t)blocks;
  int rc = setup(&r);
  if (rc == 0)
    rc = measure(&r);
  teardown(&r);
  return rc == 0 ? 0 : 1;
}
