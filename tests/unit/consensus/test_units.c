/* Unit tests of the consensus engine's parts, without a network: vote
 * decoding and checks, vote sets and quorums, commits, proposer
 * priorities, the sign state's rules, and the WAL with a torn tail. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include "test_tmp.h"

#include <stratos/st_consensus.h>
#include <stratos/st_crypto.h>
#include <stratos/st_err.h>

#include "consensus/consensus_private.h"

#define CHAIN "unit-chain"
#define NV 4

static st_keypair_t keys[NV];
static st_cons_validator_t vals[NV];
static st_cons_valset_t vset = {.n = NV, .v = vals};

static int vcmp(const void *a, const void *b) {
  return memcmp(((const st_cons_validator_t *)a)->addr, ((const st_cons_validator_t *)b)->addr,
                ST_ADDR_LEN);
}

/* Keys whose validators end up sorted by address; keys[i] signs for
 * vals[i]. */
static int setup(void **state) {
  (void)state;
  st_crypto_init();
  st_keypair_t k[NV];
  for (int i = 0; i < NV; i++) {
    uint8_t seed[ST_SEED_LEN] = {(uint8_t)(i + 7), 1, 2, 3};
    st_key_from_seed(seed, &k[i]);
    memcpy(vals[i].pubkey, k[i].pk, ST_PUBKEY_LEN);
    st_addr_from_pubkey(k[i].pk, vals[i].addr);
    vals[i].power = 10;
  }
  qsort(vals, NV, sizeof(vals[0]), vcmp);
  for (int i = 0; i < NV; i++)
    for (int j = 0; j < NV; j++)
      if (memcmp(k[j].pk, vals[i].pubkey, ST_PUBKEY_LEN) == 0)
        keys[i] = k[j];
  return 0;
}

static st_cons__vote_t *make_vote(int vi, int type, int64_t h, int32_t r, const uint8_t *hash,
                                  const char *chain) {
  uint8_t *body, sig[ST_SIG_LEN];
  size_t blen;
  st_cons__vote_body_encode(chain, type, h, r, hash, 1000, vals[vi].addr, &body, &blen);
  assert_int_equal(st_sign(&keys[vi], ST_DOM_VOTE, chain, body, blen, sig), 0);
  st_cons__vote_t *v;
  const char *why;
  assert_int_equal(st_cons__vote_from_parts(chain, body, blen, sig, ST_SIG_LEN, &v, &why), 0);
  free(body);
  return v;
}

static void test_vote_decode_checks(void **state) {
  (void)state;
  uint8_t hash[ST_HASH_LEN];
  memset(hash, 0xab, sizeof(hash));
  st_cons__vote_t *v = make_vote(1, 1, 5, 2, hash, CHAIN), *d;
  const char *why = NULL;
  /* Round trip through the wire form. */
  assert_int_equal(st_cons__vote_decode(CHAIN, v->msg, v->msg_len, &d, &why), 0);
  assert_int_equal(d->height, 5);
  assert_int_equal(d->round, 2);
  assert_false(d->nil);
  assert_memory_equal(d->hash, hash, ST_HASH_LEN);
  assert_int_equal(st_cons__vote_verify(CHAIN, &vset, d, &why), 0);
  assert_int_equal(d->vindex, 1);
  /* A flipped signature bit fails verification. */
  d->sig[3] ^= 1;
  assert_int_equal(st_cons__vote_verify(CHAIN, &vset, d, &why), ST_EBADSIG);
  st_cons__vote_free(d);
  /* The same bytes under another chain id do not decode. */
  assert_int_equal(st_cons__vote_decode("other", v->msg, v->msg_len, &d, &why), ST_EPROTO);
  assert_string_equal(why, "vote for another chain id");
  /* A signer outside the set is refused. */
  st_cons_valset_t small = {.n = 1, .v = &vals[0]};
  assert_int_equal(st_cons__vote_decode(CHAIN, v->msg, v->msg_len, &d, &why), 0);
  assert_int_equal(st_cons__vote_verify(CHAIN, &small, d, &why), ST_EPROTO);
  st_cons__vote_free(d);
  /* Truncations never decode into something else. */
  for (size_t cut = 0; cut < v->msg_len; cut++)
    if (st_cons__vote_decode(CHAIN, v->msg, cut, &d, &why) == 0) {
      /* Only a cut that drops the whole signature field would parse, and
       * then the signature length check fails; so nothing parses. */
      fail_msg("truncated vote of %zu bytes decoded", cut);
    }
  st_cons__vote_free(v);
  /* A bad type and an out-of-range round are refused. */
  uint8_t *body, sig[ST_SIG_LEN] = {0};
  size_t blen;
  st_cons__vote_body_encode(CHAIN, 3, 5, 0, NULL, 1, vals[0].addr, &body, &blen);
  assert_int_equal(st_cons__vote_from_parts(CHAIN, body, blen, sig, ST_SIG_LEN, &d, &why),
                   ST_EPROTO);
  assert_string_equal(why, "bad vote type");
  free(body);
  st_cons__vote_body_encode(CHAIN, 1, 5, ST_CONS__ROUND_MAX + 1, NULL, 1, vals[0].addr, &body,
                            &blen);
  assert_int_equal(st_cons__vote_from_parts(CHAIN, body, blen, sig, ST_SIG_LEN, &d, &why),
                   ST_EPROTO);
  free(body);
}

static void test_voteset_quorums(void **state) {
  (void)state;
  int64_t prio[NV] = {0};
  st_cons__vset_t *vs = st_cons__vset_new(&vset, prio);
  st_cons__voteset_t s;
  st_cons__voteset_init(&s, 1, 7, 0, vs);
  uint8_t a[ST_HASH_LEN], b[ST_HASH_LEN], got[ST_HASH_LEN];
  memset(a, 1, sizeof(a));
  memset(b, 2, sizeof(b));
  bool nil;
  for (int i = 0; i < 2; i++) {
    st_cons__vote_t *v = make_vote(i, 1, 7, 0, a, CHAIN);
    v->vindex = i;
    assert_int_equal(st_cons__voteset_add(&s, v, NULL), 0);
  }
  /* 20 of 40 is not more than 2/3. */
  assert_false(st_cons__voteset_two_thirds_any(&s));
  st_cons__vote_t *v = make_vote(2, 1, 7, 0, NULL, CHAIN);
  v->vindex = 2;
  assert_int_equal(st_cons__voteset_add(&s, v, NULL), 0);
  /* 30 of 40 voted, but no value has more than 2/3. */
  assert_true(st_cons__voteset_two_thirds_any(&s));
  assert_false(st_cons__voteset_majority(&s, &nil, got));
  /* A duplicate is recognized, a conflicting vote reported. */
  v = make_vote(0, 1, 7, 0, a, CHAIN);
  v->vindex = 0;
  assert_int_equal(st_cons__voteset_add(&s, v, NULL), ST_EEXIST);
  st_cons__vote_free(v);
  const st_cons__vote_t *conflict = NULL;
  v = make_vote(0, 1, 7, 0, b, CHAIN);
  v->vindex = 0;
  assert_int_equal(st_cons__voteset_add(&s, v, &conflict), ST_EPERM);
  assert_non_null(conflict);
  assert_memory_equal(conflict->hash, a, ST_HASH_LEN);
  /* The pair makes evidence in canonical order that verifies. */
  st_cons__evidence_t *ev, *ev2;
  const char *why;
  assert_int_equal(st_cons__evidence_build(v, conflict, &ev), 0);
  assert_memory_equal(ev->a->hash, a, ST_HASH_LEN);
  assert_int_equal(st_cons__evidence_decode(CHAIN, ev->bytes, ev->len, &ev2, &why), 0);
  assert_int_equal(st_cons__evidence_verify(CHAIN, &vset, ev2, &why), 0);
  assert_int_equal(ev2->power, 10);
  assert_memory_equal(ev->key, ev2->key, sizeof(ev->key));
  st_cons__evidence_free(ev);
  st_cons__evidence_free(ev2);
  st_cons__vote_free(v);
  /* The fourth vote for a makes 30 of 40 for a: a majority. */
  v = make_vote(3, 1, 7, 0, a, CHAIN);
  v->vindex = 3;
  assert_int_equal(st_cons__voteset_add(&s, v, NULL), 0);
  assert_true(st_cons__voteset_majority(&s, &nil, got));
  assert_false(nil);
  assert_memory_equal(got, a, ST_HASH_LEN);
  assert_int_equal(st_cons__voteset_power_for(&s, false, a), 30);
  assert_int_equal(st_cons__voteset_power_for(&s, true, NULL), 10);
  st_cons__voteset_free(&s);
  st_cons__vset_free(vs);
}

static void test_commit_verify(void **state) {
  (void)state;
  int64_t prio[NV] = {0};
  st_cons__vset_t *vs = st_cons__vset_new(&vset, prio);
  st_cons__voteset_t s;
  st_cons__voteset_init(&s, 2, 9, 1, vs);
  uint8_t a[ST_HASH_LEN];
  memset(a, 7, sizeof(a));
  const char *why;
  for (int i = 0; i < 3; i++) {
    st_cons__vote_t *v = make_vote(i, 2, 9, 1, a, CHAIN);
    v->vindex = i;
    assert_int_equal(st_cons__voteset_add(&s, v, NULL), 0);
    Stratos__Cons__Commit *cm = st_cons__voteset_commit(&s, a);
    bool signers[NV] = {0};
    int rc = st_cons__commit_verify(CHAIN, &vset, 9, a, cm, signers, &why);
    if (i < 2) {
      /* One or two of four signatures: not +2/3. */
      assert_int_equal(rc, ST_EPROTO);
      assert_string_equal(why, "commit lacks +2/3 of the voting power");
    } else {
      assert_int_equal(rc, 0);
      assert_true(signers[0] && signers[1] && signers[2] && !signers[3]);
      /* The same signatures do not commit another block or height. */
      uint8_t other[ST_HASH_LEN] = {0};
      assert_int_equal(st_cons__commit_verify(CHAIN, &vset, 9, other, cm, NULL, &why),
                       ST_EPROTO);
      assert_int_equal(st_cons__commit_verify(CHAIN, &vset, 8, a, cm, NULL, &why), ST_EPROTO);
      /* A signature counted twice is refused. */
      ProtobufCBinaryData vb = cm->sigs[1]->vote_body, sg = cm->sigs[1]->signature;
      cm->sigs[1]->vote_body = cm->sigs[0]->vote_body;
      cm->sigs[1]->signature = cm->sigs[0]->signature;
      assert_int_equal(st_cons__commit_verify(CHAIN, &vset, 9, a, cm, NULL, &why), ST_EPROTO);
      assert_string_equal(why, "commit has two signatures of one validator");
      /* Restore the buffers so the commit frees cleanly. */
      cm->sigs[1]->vote_body = vb;
      cm->sigs[1]->signature = sg;
    }
    st_cons__commit_free(cm);
  }
  st_cons__voteset_free(&s);
  st_cons__vset_free(vs);
}

static void test_proposer_weighted(void **state) {
  (void)state;
  st_cons_validator_t w[NV];
  memcpy(w, vals, sizeof(w));
  int64_t powers[NV] = {1, 1, 1, 7};
  for (int i = 0; i < NV; i++)
    w[i].power = powers[i];
  st_cons_valset_t ws = {.n = NV, .v = w};
  st_cons__vset_t *v = st_cons__vset_new(&ws, NULL);
  int counts[NV] = {0};
  for (int32_t r = 0; r < 1000; r++)
    counts[st_cons__proposer(v, r)]++;
  for (int i = 0; i < NV; i++)
    assert_in_range(counts[i], powers[i] * 100 - 2, powers[i] * 100 + 2);
  /* Heights follow on from one step: proposer(h+1, r) = proposer(h, r+1),
   * and over 1000 heights the frequencies hold as well. */
  int hc[NV] = {0};
  st_cons__vset_t *cur = st_cons__vset_dup(v);
  for (int h = 0; h < 1000; h++) {
    size_t p0 = st_cons__proposer(cur, 0);
    size_t p1 = st_cons__proposer(cur, 1);
    hc[p0]++;
    st_cons__vset_t *next = st_cons__vset_advance(cur, NULL);
    assert_int_equal(st_cons__proposer(next, 0), p1);
    st_cons__vset_free(cur);
    cur = next;
  }
  for (int i = 0; i < NV; i++)
    assert_in_range(hc[i], powers[i] * 100 - 2, powers[i] * 100 + 2);
  /* Priorities stay bounded. */
  for (int i = 0; i < NV; i++)
    assert_true(cur->prio[i] < 3 * cur->total && cur->prio[i] > -3 * cur->total);
  /* Encode, decode. */
  uint8_t *p;
  size_t n;
  st_cons__vset_t *back;
  st_cons__vset_encode(cur, &p, &n);
  assert_int_equal(st_cons__vset_decode(p, n, &back), 0);
  assert_memory_equal(back->prio, cur->prio, NV * sizeof(int64_t));
  assert_memory_equal(back->hash, cur->hash, ST_HASH_LEN);
  p[4] ^= 1; /* an address no longer matching its key */
  st_cons__vset_t *bad = NULL;
  assert_int_equal(st_cons__vset_decode(p, n, &bad), ST_ECORRUPT);
  free(p);
  st_cons__vset_free(back);
  st_cons__vset_free(cur);
  /* A newcomer starts behind: it does not propose right after joining. */
  st_cons_validator_t w5[NV];
  memcpy(w5, vals, sizeof(w5));
  for (int i = 0; i < NV; i++)
    w5[i].power = 10;
  st_cons_valset_t three = {.n = 3, .v = w5}, four = {.n = NV, .v = w5};
  st_cons__vset_t *t3 = st_cons__vset_new(&three, NULL);
  st_cons__vset_t *t4 = st_cons__vset_advance(t3, &four);
  assert_int_not_equal(st_cons__proposer(t4, 0), 3);
  assert_int_not_equal(st_cons__proposer(t4, 1), 3);
  st_cons__vset_free(t3);
  st_cons__vset_free(t4);
  st_cons__vset_free(v);
}

/* ---- files ---- */

static void tmpdir(char *out, size_t cap) { st_test_tmpdir(out, cap, "cons-unit"); }

static void test_sign_state_rules(void **state) {
  (void)state;
  char dir[PATH_MAX];
  tmpdir(dir, sizeof(dir));
  st_cons__ss_t ss;
  uint8_t a[ST_HASH_LEN], b[ST_HASH_LEN], sig[ST_SIG_LEN];
  memset(a, 0xa, sizeof(a));
  memset(b, 0xb, sizeof(b));
  memset(sig, 0x5, sizeof(sig));
  assert_int_equal(st_cons__ss_load(&ss, dir), 0);
  assert_int_equal(ss.height, 0);
  assert_int_equal(st_cons__ss_check(&ss, 1, 0, ST_CONS__SIGN_PREVOTE, false, a), 0);
  assert_int_equal(st_cons__ss_save(&ss, 5, 2, ST_CONS__SIGN_PREVOTE, false, a,
                                    (const uint8_t *)"body", 4, sig),
                   0);
  st_cons__ss_free(&ss);
  /* What was saved survives a reload (a restart). */
  assert_int_equal(st_cons__ss_load(&ss, dir), 0);
  assert_int_equal(ss.height, 5);
  assert_int_equal(ss.round, 2);
  assert_int_equal(ss.len, 4);
  assert_memory_equal(ss.bytes, "body", 4);
  assert_memory_equal(ss.sig, sig, ST_SIG_LEN);
  /* Same step, same value: the stored signature is re-used. */
  assert_int_equal(st_cons__ss_check(&ss, 5, 2, ST_CONS__SIGN_PREVOTE, false, a), 1);
  /* Same step, another value (or nil): refused. */
  assert_int_equal(st_cons__ss_check(&ss, 5, 2, ST_CONS__SIGN_PREVOTE, false, b), ST_EPERM);
  assert_int_equal(st_cons__ss_check(&ss, 5, 2, ST_CONS__SIGN_PREVOTE, true, NULL), ST_EPERM);
  /* Earlier steps: refused. */
  assert_int_equal(st_cons__ss_check(&ss, 5, 2, ST_CONS__SIGN_PROPOSAL, false, a), ST_EPERM);
  assert_int_equal(st_cons__ss_check(&ss, 5, 1, ST_CONS__SIGN_PRECOMMIT, false, a), ST_EPERM);
  assert_int_equal(st_cons__ss_check(&ss, 4, 9, ST_CONS__SIGN_PRECOMMIT, false, a), ST_EPERM);
  /* Later steps: allowed. */
  assert_int_equal(st_cons__ss_check(&ss, 5, 2, ST_CONS__SIGN_PRECOMMIT, true, NULL), 0);
  assert_int_equal(st_cons__ss_check(&ss, 5, 3, ST_CONS__SIGN_PROPOSAL, false, b), 0);
  assert_int_equal(st_cons__ss_check(&ss, 6, 0, ST_CONS__SIGN_PREVOTE, false, b), 0);
  st_cons__ss_free(&ss);
  /* A corrupted file is refused rather than ignored. */
  char path[PATH_MAX + 16];
  snprintf(path, sizeof(path), "%s/sign_state", dir);
  int fd = open(path, O_RDWR);
  assert_true(fd >= 0);
  uint8_t byte;
  assert_int_equal(pread(fd, &byte, 1, 10), 1);
  byte ^= 0xff;
  assert_int_equal(pwrite(fd, &byte, 1, 10), 1);
  close(fd);
  assert_int_equal(st_cons__ss_load(&ss, dir), ST_ECORRUPT);
  st_cons__ss_free(&ss);
  st_test_rm_tree(dir);
}

typedef struct seen {
  int n;
  int types[16];
  size_t lens[16];
} seen_t;

static int wal_cb(void *ud, int type, const uint8_t *p, size_t len) {
  seen_t *s = ud;
  (void)p;
  if (s->n < 16) {
    s->types[s->n] = type;
    s->lens[s->n] = len;
  }
  s->n++;
  return 0;
}

static void test_wal_torn_tail(void **state) {
  (void)state;
  char dir[PATH_MAX], wdir[PATH_MAX + 8], path[PATH_MAX + 64];
  tmpdir(dir, sizeof(dir));
  snprintf(wdir, sizeof(wdir), "%s/wal", dir);
  st_cons__wal_t w;
  seen_t s = {0};
  assert_int_equal(st_cons__wal_open(&w, wdir, 3, wal_cb, &s), 0);
  assert_int_equal(s.n, 0);
  assert_int_equal(st_cons__wal_append(&w, ST_CONS__WAL_VOTE, "abc", 3, false), 0);
  assert_int_equal(st_cons__wal_append(&w, ST_CONS__WAL_OWN_VOTE, "defgh", 5, true), 0);
  st_cons__wal_close(&w);
  /* A crash in the middle of a record leaves half of it. */
  snprintf(path, sizeof(path), "%s/%020d.wal", wdir, 3);
  int fd = open(path, O_WRONLY | O_APPEND);
  assert_true(fd >= 0);
  uint8_t torn[] = {0, 0, 0, 40, 1, 2, 3, 4, 2, 'x', 'y'};
  assert_int_equal(write(fd, torn, sizeof(torn)), (ssize_t)sizeof(torn));
  close(fd);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  off_t torn_size = st.st_size;
  assert_int_equal(st_cons__wal_open(&w, wdir, 3, wal_cb, &s), 0);
  assert_int_equal(s.n, 2);
  assert_int_equal(s.types[0], ST_CONS__WAL_VOTE);
  assert_int_equal(s.lens[1], 5);
  /* The tail was cut, so a new record is readable after the old ones. */
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, torn_size - (off_t)sizeof(torn));
  assert_int_equal(st_cons__wal_append(&w, ST_CONS__WAL_TIMEOUT, "t", 1, false), 0);
  /* END_HEIGHT rotates to the file of the next height. */
  assert_int_equal(st_cons__wal_end_height(&w, 3), 0);
  assert_int_equal(w.height, 4);
  st_cons__wal_close(&w);
  seen_t s2 = {0};
  off_t good;
  assert_int_equal(st_cons__wal_read_file(path, wal_cb, &s2, &good), 0);
  assert_int_equal(s2.n, 4);
  assert_int_equal(s2.types[2], ST_CONS__WAL_TIMEOUT);
  assert_int_equal(s2.types[3], ST_CONS__WAL_END_HEIGHT);
  /* A flipped byte in a record ends the readable part there. */
  fd = open(path, O_RDWR);
  uint8_t b;
  assert_int_equal(pread(fd, &b, 1, 9 + 3 + 9 + 1), 1);
  b ^= 1;
  assert_int_equal(pwrite(fd, &b, 1, 9 + 3 + 9 + 1), 1);
  close(fd);
  seen_t s3 = {0};
  assert_int_equal(st_cons__wal_read_file(path, wal_cb, &s3, &good), 0);
  assert_int_equal(s3.n, 1);
  assert_int_equal(good, 9 + 3);
  /* Heights older than the last two are pruned. */
  assert_int_equal(st_cons__wal_open(&w, wdir, 4, NULL, NULL), 0);
  assert_int_equal(st_cons__wal_end_height(&w, 4), 0);
  assert_int_equal(st_cons__wal_end_height(&w, 5), 0);
  st_cons__wal_close(&w);
  assert_int_not_equal(access(path, F_OK), 0);
  st_test_rm_tree(dir);
}

static void test_block_decode_rejects(void **state) {
  (void)state;
  /* Garbage and empty input are refused with a reason. */
  st_cons__limits_t lim = {.max_txs = 10, .max_bytes = 1000, .max_sigs = NV};
  st_cons__block_t *b;
  st_cons__proposal_t *p;
  const char *why = NULL;
  uint8_t junk[64];
  for (size_t i = 0; i < sizeof(junk); i++)
    junk[i] = (uint8_t)(i * 37 + 11);
  assert_int_equal(st_cons__block_decode(CHAIN, junk, sizeof(junk), &lim, &b, &why), ST_EPROTO);
  assert_non_null(why);
  assert_int_equal(st_cons__block_decode(CHAIN, junk, 0, &lim, &b, &why), ST_EPROTO);
  assert_int_equal(st_cons__proposal_decode(CHAIN, junk, sizeof(junk), &lim, &p, &why),
                   ST_EPROTO);
  /* A well-formed block at height 1 decodes; its data_hash is checked. */
  uint8_t zero[ST_HASH_LEN] = {0}, lc[ST_HASH_LEN], ev[ST_HASH_LEN], data[ST_HASH_LEN];
  st_cons__commit_hash(NULL, lc);
  Stratos__Cons__Block blk = STRATOS__CONS__BLOCK__INIT;
  st_cons__evidence_root(&blk, ev);
  ProtobufCBinaryData tx = {.len = 3, .data = (uint8_t *)(uintptr_t) "tx1"};
  uint8_t leaf[1][ST_HASH_LEN];
  st_merkle_leaf("tx1", 3, leaf[0]);
  st_merkle_root((const uint8_t(*)[ST_HASH_LEN])leaf, 1, data);
  Stratos__Cons__Header h;
  stratos__cons__header__init(&h);
  h.chain_id = (char *)(uintptr_t)CHAIN;
  h.height = 1;
  h.time_ms = 5;
#define H32(f, v) (h.f.data = (uint8_t *)(uintptr_t)(v), h.f.len = ST_HASH_LEN)
  H32(last_commit_hash, lc);
  H32(data_hash, data);
  H32(validators_hash, zero);
  H32(next_validators_hash, zero);
  H32(app_hash, zero);
  H32(evidence_hash, ev);
  H32(last_results_hash, zero);
  h.proposer.data = vals[0].addr;
  h.proposer.len = ST_ADDR_LEN;
  uint8_t hb[512], bb[1024];
  size_t hl = stratos__cons__header__pack(&h, hb);
  blk.header.data = hb;
  blk.header.len = hl;
  blk.n_txs = 1;
  blk.txs = &tx;
  size_t bl = stratos__cons__block__pack(&blk, bb);
  assert_int_equal(st_cons__block_decode(CHAIN, bb, bl, &lim, &b, &why), 0);
  uint8_t want[ST_HASH_LEN];
  st_hash(ST_DOM_BLOCK_HEADER, hb, hl, want);
  assert_memory_equal(b->hash, want, ST_HASH_LEN);
  st_cons__block_free(b);
  /* Another chain id. */
  assert_int_equal(st_cons__block_decode("other", bb, bl, &lim, &b, &why), ST_EPROTO);
  assert_string_equal(why, "block for another chain id");
  /* A tx that is not the one the header commits to. */
  ProtobufCBinaryData tx2 = {.len = 3, .data = (uint8_t *)(uintptr_t) "tx2"};
  blk.txs = &tx2;
  bl = stratos__cons__block__pack(&blk, bb);
  assert_int_equal(st_cons__block_decode(CHAIN, bb, bl, &lim, &b, &why), ST_EPROTO);
  assert_string_equal(why, "data_hash does not match the txs");
  /* Too many txs for the limits. */
  lim.max_txs = 0;
  blk.txs = &tx;
  bl = stratos__cons__block__pack(&blk, bb);
  assert_int_equal(st_cons__block_decode(CHAIN, bb, bl, &lim, &b, &why), ST_EPROTO);
  assert_string_equal(why, "too many txs in block");
#undef H32
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_vote_decode_checks),
    cmocka_unit_test(test_voteset_quorums),
    cmocka_unit_test(test_commit_verify),
    cmocka_unit_test(test_proposer_weighted),
    cmocka_unit_test(test_sign_state_rules),
    cmocka_unit_test(test_wal_torn_tail),
    cmocka_unit_test(test_block_decode_rejects),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
