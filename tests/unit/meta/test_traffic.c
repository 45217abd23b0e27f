/* Unit tests of the meta chain's receipt accounting (traffic.c): a
 * session's growth counted once, replays counting nothing, a payer
 * debited only what it has, receipts of another chain, another epoch or
 * an unknown signer or an unregistered server refused, and the volume
 * report written at the epoch boundary with exact volumes, entries
 * sorted by node (late receipts of a reported epoch count in the next). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <stratos/st_err.h>
#include <stratos/st_meta.h>
#include "meta/meta_private.h"
#include "meta.pb-c.h"
#include "traffic.pb-c.h"

#define CHAIN "test-meta"
#define GENESIS_MS 1000000
#define EPOCH_MS 10000

typedef struct fx {
  st_chain__overlay_t ov;
  st_meta_t m;
  st_keypair_t gw, gw2, h1, h2, stranger;
  uint8_t payer[ST_ADDR_LEN], payer2[ST_ADDR_LEN];
  int64_t height;
} fx_t;

static void key(uint8_t n, st_keypair_t *kp) {
  uint8_t seed[ST_SEED_LEN];
  memset(seed, n, sizeof(seed));
  assert_int_equal(st_key_from_seed(seed, kp), 0);
}

static void put_rnode(fx_t *f, const st_keypair_t *kp, uint8_t owner) {
  st_meta__rnode_t r;
  memset(&r, 0, sizeof(r));
  st_addr_from_pubkey(kp->pk, r.addr);
  memcpy(r.pubkey, kp->pk, ST_PUBKEY_LEN);
  memset(r.owner, owner, ST_ADDR_LEN);
  r.status = ST_NODE_ACTIVE;
  r.online = true;
  snprintf(r.netaddr, sizeof(r.netaddr), "127.0.0.1:1");
  assert_int_equal(st_meta__rnode_put(&f->ov, &r), 0);
}

static void grant(fx_t *f, const uint8_t a[ST_ADDR_LEN], st_u128 noz, uint8_t tag) {
  uint8_t tx[ST_HASH_LEN];
  bool applied;
  memset(tx, tag, sizeof(tx));
  assert_int_equal(st_meta__oz_credit(&f->ov, a, noz, tx, &applied), 0);
  assert_true(applied);
}

static int setup(void **state) {
  static const st_chain__state_t empty;
  fx_t *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  st_chain__ov_init(&f->ov, &empty, NULL);
  snprintf(f->m.gen.chain_id, sizeof(f->m.gen.chain_id), "%s", CHAIN);
  f->m.gen.genesis_time_ms = GENESIS_MS;
  st_meta__params_defaults(&f->m.gen.p);
  f->m.gen.p.epoch_ms = EPOCH_MS;
  f->m.gen.p.download_noz_per_byte = 3;
  key(1, &f->gw);
  key(2, &f->gw2);
  key(3, &f->h1);
  key(4, &f->h2);
  key(5, &f->stranger);
  /* gw: a meta authority; gw2: an active resource node; h1, h2: holders. */
  uint8_t k[1 + ST_ADDR_LEN];
  k[0] = ST_META__K_AUTH;
  st_addr_from_pubkey(f->gw.pk, k + 1);
  assert_int_equal(st_chain__ov_write(&f->ov, ST_META__SP_REC, k, sizeof(k), f->gw.pk,
                                      ST_PUBKEY_LEN),
                   0);
  put_rnode(f, &f->gw2, 0x92);
  put_rnode(f, &f->h1, 0xa1);
  put_rnode(f, &f->h2, 0xa2);
  memset(f->payer, 0x11, ST_ADDR_LEN);
  memset(f->payer2, 0x22, ST_ADDR_LEN);
  grant(f, f->payer, 1000000, 0x01);
  grant(f, f->payer2, 100, 0x02);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  st_meta__traffic_free(&f->m);
  st_chain__ov_free(&f->ov);
  free(f);
  return 0;
}

static int64_t at_epoch(uint64_t e, int64_t off) {
  return GENESIS_MS + (int64_t)e * EPOCH_MS + off;
}

/* A receipt signed by receiver (under chain) for server. */
static void receipt(st_buf_t *out, const st_keypair_t *receiver, const char *chain,
                    const st_keypair_t *server, const uint8_t payer[ST_ADDR_LEN],
                    uint8_t session, uint64_t epoch, uint64_t bytes, uint32_t kind) {
  st_meta_receipt_t r;
  memset(&r, 0, sizeof(r));
  st_addr_from_pubkey(server->pk, r.server);
  memcpy(r.payer, payer, ST_ADDR_LEN);
  memset(r.file, 0xf1, ST_HASH_LEN);
  r.kind = kind;
  r.epoch = epoch;
  memset(r.session, session, sizeof(r.session));
  r.bytes = bytes;
  r.time_ms = 5;
  st_buf_init(out, 4096);
  assert_int_equal(st_meta_receipt_sign(receiver, chain, &r, out), 0);
}

/* Runs one block at time_ms carrying server's submission of the given
 * receipts; returns the block's counters. */
static st_meta__tstat_t block(fx_t *f, int64_t time_ms, const st_keypair_t *server,
                              st_buf_t *rs, size_t n) {
  const uint8_t *ps[8];
  size_t ls[8];
  st_buf_t tx;
  char log[ST_META__LOG_MAX];
  for (size_t i = 0; i < n; i++) {
    ps[i] = rs[i].data;
    ls[i] = rs[i].len;
  }
  st_buf_init(&tx, 1u << 20);
  assert_int_equal(st_meta_receipts_tx(server, CHAIN, ps, ls, n, &tx), 0);
  Stratos__Meta__MetaTx *t = stratos__meta__meta_tx__unpack(NULL, tx.len, tx.data);
  assert_non_null(t);
  assert_int_equal(t->tx_case, STRATOS__META__META_TX__TX_RECEIPTS);
  st_meta__blk_t vb = {.height = f->height + 1};
  st_meta__tstat_t scratch = {0, 0}, st = {0, 0};
  /* Validation: only the submitter's signature and the bounds. */
  assert_int_equal(st_meta__rcpt_block(&f->m, &f->ov, &vb, t->receipts, &scratch, log,
                                       sizeof(log)),
                   0);
  st_meta__blk_t b = {.height = ++f->height, .time_ms = time_ms, .results = true};
  assert_int_equal(st_meta__rcpt_block(&f->m, &f->ov, &b, t->receipts, &st, log, sizeof(log)),
                   0);
  size_t rep;
  assert_int_equal(st_meta__traffic_end_block(&f->m, &f->ov, &b, &rep), 0);
  stratos__meta__meta_tx__free_unpacked(t, NULL);
  st_buf_free(&tx);
  for (size_t i = 0; i < n; i++)
    st_buf_free(&rs[i]);
  return st;
}

/* A block without receipts: only the epoch bookkeeping. */
static size_t empty_block(fx_t *f, int64_t time_ms) {
  st_meta__blk_t b = {.height = ++f->height, .time_ms = time_ms, .results = true};
  size_t rep;
  assert_int_equal(st_meta__traffic_end_block(&f->m, &f->ov, &b, &rep), 0);
  return rep;
}

static st_u128 volume(fx_t *f, uint64_t epoch, const st_keypair_t *node) {
  uint8_t k[1 + 8 + ST_ADDR_LEN];
  st_u128 v;
  k[0] = ST_META__K_VOLUME;
  st_chain__be64(k + 1, epoch);
  st_addr_from_pubkey(node->pk, k + 9);
  assert_int_equal(st_chain__ov_read_u128(&f->ov, ST_META__SP_REC, k, sizeof(k), &v), 0);
  return v;
}

static st_u128 oz(fx_t *f, const uint8_t a[ST_ADDR_LEN]) {
  st_u128 v;
  assert_int_equal(st_meta__oz_get(&f->ov, a, &v), 0);
  return v;
}

static void test_growth_counted_once(void **state) {
  fx_t *f = *state;
  st_buf_t r[3];
  assert_int_equal(empty_block(f, at_epoch(0, 1)), 0);
  receipt(&r[0], &f->gw, CHAIN, &f->h1, f->payer, 0x51, 0, 1000, 0);
  st_meta__tstat_t s = block(f, at_epoch(0, 100), &f->h1, r, 1);
  assert_int_equal(s.counted, 1);
  assert_true(volume(f, 0, &f->h1) == 3000);
  assert_true(oz(f, f->payer) == 1000000 - 3000);
  /* The session grows to 1500: only 500 more count. */
  receipt(&r[0], &f->gw, CHAIN, &f->h1, f->payer, 0x51, 0, 1500, 0);
  s = block(f, at_epoch(0, 200), &f->h1, r, 1);
  assert_int_equal(s.counted, 1);
  assert_true(volume(f, 0, &f->h1) == 4500);
  assert_true(oz(f, f->payer) == 1000000 - 4500);
  /* A replay of either, and an older receipt of the session, count
   * nothing (and are not refusals). */
  receipt(&r[0], &f->gw, CHAIN, &f->h1, f->payer, 0x51, 0, 1500, 0);
  receipt(&r[1], &f->gw, CHAIN, &f->h1, f->payer, 0x51, 0, 1000, 0);
  s = block(f, at_epoch(0, 300), &f->h1, r, 2);
  assert_int_equal(s.counted, 0);
  assert_int_equal(s.refused, 0);
  assert_true(volume(f, 0, &f->h1) == 4500);
  assert_true(oz(f, f->payer) == 1000000 - 4500);
  /* Two receipts of one session in one batch: the latest wins, once. */
  receipt(&r[0], &f->gw2, CHAIN, &f->h1, f->payer, 0x52, 0, 100, 0);
  receipt(&r[1], &f->gw2, CHAIN, &f->h1, f->payer, 0x52, 0, 300, 0);
  receipt(&r[2], &f->gw2, CHAIN, &f->h1, f->payer, 0x52, 0, 200, 0);
  s = block(f, at_epoch(0, 400), &f->h1, r, 3);
  assert_int_equal(s.counted, 2);
  assert_true(volume(f, 0, &f->h1) == 4500 + 900);
}

static void test_payer_pays_what_it_has(void **state) {
  fx_t *f = *state;
  st_buf_t r[1];
  empty_block(f, at_epoch(0, 1));
  /* payer2 has 100 noz; 50 bytes cost 150: 100 debited, 100 credited. */
  receipt(&r[0], &f->gw, CHAIN, &f->h2, f->payer2, 0x61, 0, 50, 0);
  st_meta__tstat_t s = block(f, at_epoch(0, 10), &f->h2, r, 1);
  assert_int_equal(s.counted, 1);
  assert_true(oz(f, f->payer2) == 0);
  assert_true(volume(f, 0, &f->h2) == 100);
  /* At zero, more bytes of the session pay nothing and earn nothing. */
  receipt(&r[0], &f->gw, CHAIN, &f->h2, f->payer2, 0x61, 0, 80, 0);
  block(f, at_epoch(0, 20), &f->h2, r, 1);
  assert_true(oz(f, f->payer2) == 0);
  assert_true(volume(f, 0, &f->h2) == 100);
  /* A repair receipt (kind 1) counts its bytes but moves no noz. */
  receipt(&r[0], &f->h1, CHAIN, &f->h2, f->payer, 0x62, 0, 1000, 1);
  s = block(f, at_epoch(0, 30), &f->h2, r, 1);
  assert_int_equal(s.counted, 1);
  assert_true(oz(f, f->payer) == 1000000);
  assert_true(volume(f, 0, &f->h2) == 100);
}

static void test_refusals(void **state) {
  fx_t *f = *state;
  st_buf_t r[6];
  empty_block(f, at_epoch(3, 1));
  /* Another chain's id; an unknown signer; a wrong epoch (two back, one
   * ahead); a receipt naming another server; a node signing for itself. */
  receipt(&r[0], &f->gw, "other-meta", &f->h1, f->payer, 0x71, 3, 100, 0);
  receipt(&r[1], &f->stranger, CHAIN, &f->h1, f->payer, 0x72, 3, 100, 0);
  receipt(&r[2], &f->gw, CHAIN, &f->h1, f->payer, 0x73, 1, 100, 0);
  receipt(&r[3], &f->gw, CHAIN, &f->h1, f->payer, 0x74, 4, 100, 0);
  receipt(&r[4], &f->gw, CHAIN, &f->h2, f->payer, 0x75, 3, 100, 0);
  receipt(&r[5], &f->h1, CHAIN, &f->h1, f->payer, 0x76, 3, 100, 0);
  st_meta__tstat_t s = block(f, at_epoch(3, 100), &f->h1, r, 6);
  assert_int_equal(s.counted, 0);
  assert_int_equal(s.refused, 6);
  assert_true(oz(f, f->payer) == 1000000);
  assert_true(volume(f, 3, &f->h1) == 0);
  /* The previous epoch is still accepted; the chain began in epoch 3,
   * so epoch 2 is never reported and its bytes count in epoch 3. */
  receipt(&r[0], &f->gw, CHAIN, &f->h1, f->payer, 0x77, 2, 10, 0);
  s = block(f, at_epoch(3, 200), &f->h1, r, 1);
  assert_int_equal(s.counted, 1);
  assert_true(volume(f, 3, &f->h1) == 30);
  assert_true(volume(f, 2, &f->h1) == 0);
}

static void test_bad_submitter_fails_block(void **state) {
  fx_t *f = *state;
  st_buf_t r, tx;
  char log[ST_META__LOG_MAX];
  receipt(&r, &f->gw, CHAIN, &f->h1, f->payer, 0x81, 0, 10, 0);
  const uint8_t *p = r.data;
  size_t n = r.len;
  st_buf_init(&tx, 1u << 20);
  /* Submitted under another chain id: the submitter's signature fails. */
  assert_int_equal(st_meta_receipts_tx(&f->h1, "other-meta", &p, &n, 1, &tx), 0);
  Stratos__Meta__MetaTx *t = stratos__meta__meta_tx__unpack(NULL, tx.len, tx.data);
  assert_non_null(t);
  st_meta__blk_t vb = {.height = 1};
  st_meta__tstat_t s = {0, 0};
  assert_int_equal(st_meta__rcpt_block(&f->m, &f->ov, &vb, t->receipts, &s, log, sizeof(log)),
                   ST_EBADSIG);
  stratos__meta__meta_tx__free_unpacked(t, NULL);
  st_buf_free(&tx);
  st_buf_free(&r);
}

static void test_report_at_boundary(void **state) {
  fx_t *f = *state;
  st_buf_t r[2];
  assert_int_equal(empty_block(f, at_epoch(5, 1)), 0);
  receipt(&r[0], &f->gw, CHAIN, &f->h2, f->payer, 0x91, 5, 700, 0);
  block(f, at_epoch(5, 10), &f->h2, r, 1);
  receipt(&r[0], &f->gw, CHAIN, &f->h1, f->payer, 0x92, 5, 200, 0);
  receipt(&r[1], &f->gw2, CHAIN, &f->h1, f->payer, 0x93, 5, 100, 0);
  block(f, at_epoch(5, EPOCH_MS - 1), &f->h1, r, 2);
  /* No report while epoch 5 runs. */
  const uint8_t *p;
  size_t n;
  assert_int_equal(st_meta__report_get(&f->ov, 5, &p, &n), ST_ENOENT);
  /* The first block of epoch 7 (6 had no block) reports 5 and 6. */
  assert_int_equal(empty_block(f, at_epoch(7, 0)), 2);
  assert_int_equal(st_meta__report_get(&f->ov, 5, &p, &n), 0);
  Stratos__Traffic__VolumeReport *v = stratos__traffic__volume_report__unpack(NULL, n, p);
  assert_non_null(v);
  assert_string_equal(v->meta_chain_id, CHAIN);
  assert_int_equal(v->epoch, 5);
  assert_int_equal(v->meta_height, f->height);
  assert_int_equal(v->n_entries, 2);
  uint8_t a1[ST_ADDR_LEN], a2[ST_ADDR_LEN], o[ST_ADDR_LEN];
  st_addr_from_pubkey(f->h1.pk, a1);
  st_addr_from_pubkey(f->h2.pk, a2);
  const uint8_t *lo = memcmp(a1, a2, ST_ADDR_LEN) < 0 ? a1 : a2;
  const uint8_t *hi = lo == a1 ? a2 : a1;
  assert_memory_equal(v->entries[0]->node.data, lo, ST_ADDR_LEN);
  assert_memory_equal(v->entries[1]->node.data, hi, ST_ADDR_LEN);
  for (size_t i = 0; i < 2; i++) {
    bool is1 = memcmp(v->entries[i]->node.data, a1, ST_ADDR_LEN) == 0;
    memset(o, is1 ? 0xa1 : 0xa2, ST_ADDR_LEN);
    assert_memory_equal(v->entries[i]->wallet.data, o, ST_ADDR_LEN);
    assert_string_equal(v->entries[i]->volume, is1 ? "900" : "2100");
  }
  assert_string_equal(v->total, "3000");
  stratos__traffic__volume_report__free_unpacked(v, NULL);
  /* Epoch 6: an empty report; the volumes of 5 are gone. */
  assert_int_equal(st_meta__report_get(&f->ov, 6, &p, &n), 0);
  v = stratos__traffic__volume_report__unpack(NULL, n, p);
  assert_non_null(v);
  assert_int_equal(v->n_entries, 0);
  assert_string_equal(v->total, "0");
  stratos__traffic__volume_report__free_unpacked(v, NULL);
  assert_true(volume(f, 5, &f->h1) == 0);
  assert_int_equal(st_meta__report_get(&f->ov, 7, &p, &n), ST_ENOENT);
  /* Later blocks of epoch 7 report nothing more. */
  assert_int_equal(empty_block(f, at_epoch(7, 5)), 0);
  /* Epoch 5's sessions are gone with it: too old to count anyway. */
  receipt(&r[0], &f->gw, CHAIN, &f->h2, f->payer, 0x91, 5, 900, 0);
  st_meta__tstat_t s = block(f, at_epoch(7, 6), &f->h2, r, 1);
  assert_int_equal(s.refused, 1);
  /* A late receipt of epoch 6, reported already: it counts in epoch 7. */
  receipt(&r[0], &f->gw, CHAIN, &f->h2, f->payer, 0x94, 6, 10, 0);
  s = block(f, at_epoch(7, 7), &f->h2, r, 1);
  assert_int_equal(s.counted, 1);
  assert_true(volume(f, 7, &f->h2) == 30);
  assert_true(volume(f, 6, &f->h2) == 0);
}

static void test_unregistered_server_refused(void **state) {
  fx_t *f = *state;
  st_buf_t r[1];
  empty_block(f, at_epoch(0, 1));
  /* stranger is no resource node: its receipts earn nothing. */
  receipt(&r[0], &f->gw, CHAIN, &f->stranger, f->payer, 0xa1, 0, 100, 0);
  st_meta__tstat_t s = block(f, at_epoch(0, 2), &f->stranger, r, 1);
  assert_int_equal(s.counted, 0);
  assert_int_equal(s.refused, 1);
  assert_true(oz(f, f->payer) == 1000000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_growth_counted_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_payer_pays_what_it_has, setup, teardown),
    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_submitter_fails_block, setup, teardown),
    cmocka_unit_test_setup_teardown(test_report_at_boundary, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unregistered_server_refused, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
