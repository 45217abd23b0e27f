/* Unit tests of value-chain txs: building, decoding and every stateless
 * refusal with its exact error code; the min-fee builder; canonical
 * encoding. */
#include "chain_test.h"
#include "tx.pb-c.h"

#define U128_MAX (~(st_u128)0)

static st_chain__params_t params(void) {
  st_chain__params_t p;
  st_chain__params_defaults(&p);
  snprintf(p.chain_id, sizeof(p.chain_id), "%s", T_CHAIN_ID);
  p.min_fee_per_byte = T_MIN_FEE;
  p.max_tx_bytes = 4096;
  p.max_memo_bytes = 64;
  return p;
}

/* Builds a tx from raw body fields, so that malformed values can be
 * written; to_len 0 leaves the message out. */
static void raw_tx(const st_keypair_t *kp, const char *chain_id, uint64_t nonce,
                   const char *fee, const char *memo, const uint8_t *to, size_t to_len,
                   const char *amount, int with_msg, st_buf_t *out) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgSend s;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_send__init(&s);
  s.to.data = (uint8_t *)(uintptr_t)to;
  s.to.len = to_len;
  s.amount = (char *)(uintptr_t)amount;
  b.chain_id = (char *)(uintptr_t)chain_id;
  b.nonce = nonce;
  b.fee = (char *)(uintptr_t)fee;
  b.memo = (char *)(uintptr_t)memo;
  if (with_msg) {
    b.msg_case = STRATOS__TX__TX_BODY__MSG_SEND;
    b.send = &s;
  }
  uint8_t body[2048], sig[ST_SIG_LEN];
  size_t n = stratos__tx__tx_body__get_packed_size(&b);
  assert_true(n <= sizeof(body));
  stratos__tx__tx_body__pack(&b, body);
  assert_int_equal(st_sign(kp, ST_DOM_TX, chain_id, body, n, sig), 0);
  st_buf_init(out, 1 << 20);
  assert_int_equal(st_chain__tx_encode(body, n, kp->pk, sig, out), 0);
}

static void test_round_trip(void **state) {
  (void)state;
  st_chain__params_t p = params();
  st_keypair_t kp, kt;
  uint8_t from[ST_ADDR_LEN], to[ST_ADDR_LEN];
  t_key(0, &kp, from);
  t_key(1, &kt, to);
  st_buf_t tx;
  st_buf_init(&tx, 1 << 20);
  assert_int_equal(st_chain_tx_send(&kp, T_CHAIN_ID, 42, 100000, to, 12345, "hello", &tx), 0);
  st_chain__tx_t t;
  char log[ST_CHAIN__LOG_MAX];
  assert_int_equal(st_chain__tx_check(&p, tx.data, tx.len, &t, log, sizeof(log)), 0);
  assert_int_equal(t.nonce, 42);
  assert_true(t.fee == 100000);
  assert_true(t.amount == 12345);
  assert_true(t.cost == 112345);
  assert_int_equal(t.len, tx.len);
  assert_memory_equal(t.to, to, ST_ADDR_LEN);
  assert_memory_equal(t.sender, from, ST_ADDR_LEN);
  assert_memory_equal(t.pubkey, kp.pk, ST_PUBKEY_LEN);
  uint8_t h[ST_HASH_LEN], h2[ST_HASH_LEN];
  st_chain_tx_hash(tx.data, tx.len, h);
  st_hash(ST_DOM_TX, tx.data, tx.len, h2);
  assert_memory_equal(h, h2, ST_HASH_LEN);
  assert_memory_equal(t.hash, h, ST_HASH_LEN);
  assert_int_equal(st_chain__tx_verify(T_CHAIN_ID, tx.data, &t), 0);
  /* The signature covers exactly the body bytes, under our chain id. */
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, T_CHAIN_ID, tx.data + t.body_off, t.body_len,
                             t.sig), 0);
  /* Re-encoding the parts gives the same bytes. */
  st_buf_t again;
  st_buf_init(&again, 1 << 20);
  assert_int_equal(st_chain__tx_encode(tx.data + t.body_off, t.body_len, t.pubkey, t.sig,
                                       &again), 0);
  assert_int_equal(again.len, tx.len);
  assert_memory_equal(again.data, tx.data, tx.len);
  /* The body re-encodes from the decoded fields too. */
  st_buf_t body;
  st_buf_init(&body, 1 << 20);
  assert_int_equal(st_chain__body_encode(T_CHAIN_ID, t.nonce, t.fee, "hello", t.to, t.amount,
                                         &body), 0);
  assert_int_equal(body.len, t.body_len);
  assert_memory_equal(body.data, tx.data + t.body_off, body.len);
  st_buf_free(&body);
  st_buf_free(&again);
  st_buf_free(&tx);
}

static void test_min_fee_exact(void **state) {
  (void)state;
  static const st_u128 mins[] = {0, 1, 2, 7, 1000000000, 999999999999ull};
  static const char *const memos[] = {NULL, "", "a memo", "0123456789012345678901234567890"};
  st_keypair_t kp, kt;
  uint8_t to[ST_ADDR_LEN];
  t_key(0, &kp, NULL);
  t_key(1, &kt, to);
  for (size_t i = 0; i < sizeof(mins) / sizeof(mins[0]); i++)
    for (size_t j = 0; j < sizeof(memos) / sizeof(memos[0]); j++) {
      st_buf_t tx;
      st_buf_init(&tx, 1 << 20);
      assert_int_equal(st_chain_tx_send_min_fee(&kp, T_CHAIN_ID, 3 + i, mins[i], to,
                                                (st_u128)1 << 100, memos[j], &tx), 0);
      st_chain__params_t p = params();
      p.min_fee_per_byte = mins[i];
      st_chain__tx_t t;
      char log[ST_CHAIN__LOG_MAX];
      assert_int_equal(st_chain__tx_check(&p, tx.data, tx.len, &t, log, sizeof(log)), 0);
      assert_true(t.fee == mins[i] * (st_u128)tx.len);
      st_buf_free(&tx);
    }
}

static void expect_refusal(const st_chain__params_t *p, const st_buf_t *tx, int code,
                           const char *in_log) {
  st_chain__tx_t t;
  char log[ST_CHAIN__LOG_MAX];
  int rc = st_chain__tx_check(p, tx->data, tx->len, &t, log, sizeof(log));
  if (rc != code)
    fail_msg("expected %s, got %s (%s)", st_errname(code), st_errname(rc), log);
  if (in_log && !strstr(log, in_log))
    fail_msg("log \"%s\" lacks \"%s\"", log, in_log);
}

static void test_wrong_chain_id(void **state) {
  (void)state;
  st_chain__params_t p = params();
  st_keypair_t kp, kt;
  uint8_t to[ST_ADDR_LEN];
  t_key(0, &kp, NULL);
  t_key(1, &kt, to);
  st_buf_t tx;
  st_buf_init(&tx, 1 << 20);
  assert_int_equal(st_chain_tx_send_min_fee(&kp, "stratos-x", 0, T_MIN_FEE, to, 1, NULL, &tx),
                   0);
  expect_refusal(&p, &tx, ST_EINVAL, "wrong chain id stratos-x");
  st_buf_free(&tx);
  /* Bytes that are not printable are not echoed as they are. */
  raw_tx(&kp, "bad\x01id\"", 0, "100000", "", to, ST_ADDR_LEN, "1", 1, &tx);
  expect_refusal(&p, &tx, ST_EINVAL, "wrong chain id bad?id?");
  st_buf_free(&tx);
}

static void test_bad_signature(void **state) {
  (void)state;
  st_chain__params_t p = params();
  st_buf_t tx;
  t_send(0, 1, 0, 5, &tx);
  st_chain__tx_t t;
  char log[ST_CHAIN__LOG_MAX];
  /* The signature is the last field: flip a bit in it. */
  tx.data[tx.len - 1] ^= 1;
  assert_int_equal(st_chain__tx_check(&p, tx.data, tx.len, &t, log, sizeof(log)), 0);
  assert_int_equal(st_chain__tx_verify(T_CHAIN_ID, tx.data, &t), ST_EBADSIG);
  tx.data[tx.len - 1] ^= 1;
  assert_int_equal(st_chain__tx_check(&p, tx.data, tx.len, &t, log, sizeof(log)), 0);
  assert_int_equal(st_chain__tx_verify(T_CHAIN_ID, tx.data, &t), 0);
  /* Signed under another chain id, presented as ours: the check of the
   * chain id in the body passes, the signature does not. */
  st_keypair_t kp, kt;
  uint8_t to[ST_ADDR_LEN], sig[ST_SIG_LEN];
  t_key(0, &kp, NULL);
  t_key(1, &kt, to);
  st_buf_t body, forged;
  st_buf_init(&body, 1 << 20);
  st_buf_init(&forged, 1 << 20);
  assert_int_equal(st_chain__body_encode(T_CHAIN_ID, 0, 100000, NULL, to, 1, &body), 0);
  assert_int_equal(st_sign(&kp, ST_DOM_TX, "stratos-other", body.data, body.len, sig), 0);
  assert_int_equal(st_chain__tx_encode(body.data, body.len, kp.pk, sig, &forged), 0);
  assert_int_equal(st_chain__tx_check(&p, forged.data, forged.len, &t, log, sizeof(log)), 0);
  assert_int_equal(st_chain__tx_verify(T_CHAIN_ID, forged.data, &t), ST_EBADSIG);
  /* Signed by key 0, claiming key 1's pubkey. */
  st_buf_reset(&forged);
  assert_int_equal(st_sign(&kp, ST_DOM_TX, T_CHAIN_ID, body.data, body.len, sig), 0);
  assert_int_equal(st_chain__tx_encode(body.data, body.len, kt.pk, sig, &forged), 0);
  assert_int_equal(st_chain__tx_check(&p, forged.data, forged.len, &t, log, sizeof(log)), 0);
  assert_int_equal(st_chain__tx_verify(T_CHAIN_ID, forged.data, &t), ST_EBADSIG);
  st_buf_free(&forged);
  st_buf_free(&body);
  st_buf_free(&tx);
}

static void test_fee_below_min_by_one(void **state) {
  (void)state;
  st_chain__params_t p = params();
  st_keypair_t kp, kt;
  uint8_t to[ST_ADDR_LEN];
  t_key(0, &kp, NULL);
  t_key(1, &kt, to);
  st_buf_t ok, low;
  t_send(0, 1, 0, 5, &ok);
  st_u128 fee = t_fee_of(&ok);
  st_buf_init(&low, 1 << 20);
  assert_int_equal(st_chain_tx_send(&kp, T_CHAIN_ID, 0, fee - 1, to, 5, NULL, &low), 0);
  /* Same number of digits, same size: the minimum is the same. */
  assert_int_equal(low.len, ok.len);
  char want[128], a[ST_U128_STR_MAX], b[ST_U128_STR_MAX];
  st_u128_format(fee - 1, a);
  st_u128_format(fee, b);
  snprintf(want, sizeof(want), "fee %s below minimum %s", a, b);
  expect_refusal(&p, &low, ST_EINVAL, want);
  expect_refusal(&p, &ok, 0, NULL);
  /* A minimum that overflows 128 bits can never be paid. */
  p.min_fee_per_byte = U128_MAX / 2;
  expect_refusal(&p, &ok, ST_EINVAL, "below minimum");
  st_buf_free(&ok);
  st_buf_free(&low);
}

static void test_oversized(void **state) {
  (void)state;
  st_chain__params_t p = params();
  st_buf_t tx;
  t_send(0, 1, 0, 5, &tx);
  p.max_tx_bytes = tx.len - 1;
  expect_refusal(&p, &tx, ST_E2BIG, "exceeds the maximum");
  p.max_tx_bytes = tx.len;
  expect_refusal(&p, &tx, 0, NULL);
  st_buf_free(&tx);
  /* The size is checked before decoding: garbage past the cap says E2BIG. */
  uint8_t junk[5000];
  memset(junk, 0xff, sizeof(junk));
  st_chain__tx_t t;
  char log[ST_CHAIN__LOG_MAX];
  p = params();
  assert_int_equal(st_chain__tx_check(&p, junk, sizeof(junk), &t, log, sizeof(log)), ST_E2BIG);
  /* A memo over the cap. */
  st_keypair_t kp, kt;
  uint8_t to[ST_ADDR_LEN];
  char memo[66];
  memset(memo, 'm', 65);
  memo[65] = '\0';
  t_key(0, &kp, NULL);
  t_key(1, &kt, to);
  st_buf_init(&tx, 1 << 20);
  assert_int_equal(st_chain_tx_send_min_fee(&kp, T_CHAIN_ID, 0, T_MIN_FEE, to, 1, memo, &tx), 0);
  expect_refusal(&p, &tx, ST_E2BIG, "memo of 65 bytes exceeds the maximum of 64");
  st_buf_free(&tx);
  memo[64] = '\0';
  st_buf_init(&tx, 1 << 20);
  assert_int_equal(st_chain_tx_send_min_fee(&kp, T_CHAIN_ID, 0, T_MIN_FEE, to, 1, memo, &tx), 0);
  expect_refusal(&p, &tx, 0, NULL);
  st_buf_free(&tx);
}

static void test_truncated(void **state) {
  (void)state;
  st_chain__params_t p = params();
  st_buf_t tx;
  t_send(0, 1, 0, 5, &tx);
  for (size_t cut = 0; cut < tx.len; cut++) {
    st_chain__tx_t t;
    char log[ST_CHAIN__LOG_MAX];
    int rc = st_chain__tx_check(&p, tx.data, cut, &t, log, sizeof(log));
    if (rc != ST_EPARSE)
      fail_msg("prefix of %zu bytes: %s (%s)", cut, st_errname(rc), log);
  }
  st_buf_free(&tx);
}

static void test_amounts(void **state) {
  (void)state;
  st_chain__params_t p = params();
  st_keypair_t kp, kt;
  uint8_t to[ST_ADDR_LEN];
  t_key(0, &kp, NULL);
  t_key(1, &kt, to);
  st_buf_t tx;
  /* Zero amount. */
  st_buf_init(&tx, 1 << 20);
  assert_int_equal(st_chain_tx_send_min_fee(&kp, T_CHAIN_ID, 0, T_MIN_FEE, to, 0, NULL, &tx), 0);
  expect_refusal(&p, &tx, ST_EINVAL, "amount must be greater than zero");
  st_buf_free(&tx);
  /* amount + fee overflows 128 bits. */
  st_buf_init(&tx, 1 << 20);
  assert_int_equal(st_chain_tx_send(&kp, T_CHAIN_ID, 0, (st_u128)1 << 100, to,
                                    U128_MAX - ((st_u128)1 << 99), NULL, &tx), 0);
  expect_refusal(&p, &tx, ST_ERANGE, "overflows 128 bits");
  st_buf_free(&tx);
  /* The largest amount that still fits with its fee is fine. */
  st_buf_init(&tx, 1 << 20);
  assert_int_equal(st_chain_tx_send(&kp, T_CHAIN_ID, 0, 100000, to, U128_MAX - 100000, NULL,
                                    &tx), 0);
  expect_refusal(&p, &tx, 0, NULL);
  st_buf_free(&tx);
  /* Malformed decimal strings. */
  static const struct {
    const char *fee, *amount;
    int code;
    const char *log;
  } bad[] = {
    {"100000", "", ST_EINVAL, "amount must be a decimal"},
    {"100000", "0123", ST_EINVAL, "amount must be a decimal"},
    {"100000", "-5", ST_EINVAL, "amount must be a decimal"},
    {"100000", "1 ", ST_EINVAL, "amount must be a decimal"},
    {"100000", "340282366920938463463374607431768211456", ST_ERANGE, "does not fit"},
    {"100000", "1000000000000000000000000000000000000000", ST_ERANGE, "more than a u128"},
    {"", "1", ST_EINVAL, "fee must be a decimal"},
    {"0100000", "1", ST_EINVAL, "fee must be a decimal"},
    {"340282366920938463463374607431768211456", "1", ST_ERANGE, "fee does not fit"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    raw_tx(&kp, T_CHAIN_ID, 0, bad[i].fee, "", to, ST_ADDR_LEN, bad[i].amount, 1, &tx);
    expect_refusal(&p, &tx, bad[i].code, bad[i].log);
    st_buf_free(&tx);
  }
  /* Recipient of the wrong length; no message at all. */
  raw_tx(&kp, T_CHAIN_ID, 0, "100000", "", to, ST_ADDR_LEN - 1, "1", 1, &tx);
  expect_refusal(&p, &tx, ST_EINVAL, "recipient address must be 20 bytes");
  st_buf_free(&tx);
  raw_tx(&kp, T_CHAIN_ID, 0, "100000", "", to, 0, "1", 0, &tx);
  expect_refusal(&p, &tx, ST_EINVAL, "exactly one is required");
  st_buf_free(&tx);
}

static void test_not_canonical(void **state) {
  (void)state;
  st_chain__params_t p = params();
  st_buf_t tx;
  t_send(0, 1, 0, 5, &tx);
  /* An unknown varint field 7 appended to the outer message. */
  st_buf_t ext;
  st_buf_init(&ext, 1 << 20);
  assert_int_equal(st_buf_append(&ext, tx.data, tx.len), 0);
  uint8_t extra[] = {0x38, 0x01};
  assert_int_equal(st_buf_append(&ext, extra, sizeof(extra)), 0);
  expect_refusal(&p, &ext, ST_EPARSE, "canonical");
  /* The signature field written twice: protobuf keeps the last one. */
  st_buf_reset(&ext);
  assert_int_equal(st_buf_append(&ext, tx.data, tx.len), 0);
  assert_int_equal(st_buf_append(&ext, tx.data + tx.len - 66, 66), 0);
  expect_refusal(&p, &ext, ST_EPARSE, "canonical");
  /* Fields out of order: signature before body. */
  st_chain__tx_t t;
  char log[ST_CHAIN__LOG_MAX];
  assert_int_equal(st_chain__tx_check(&p, tx.data, tx.len, &t, log, sizeof(log)), 0);
  st_buf_reset(&ext);
  assert_int_equal(st_buf_append(&ext, tx.data + tx.len - 66, 66), 0);
  assert_int_equal(st_buf_append(&ext, tx.data, tx.len - 66), 0);
  expect_refusal(&p, &ext, ST_EPARSE, "canonical");
  /* A body whose nonce varint is padded (0x80 0x00 is also zero). */
  st_keypair_t kp, kt;
  uint8_t to[ST_ADDR_LEN], sig[ST_SIG_LEN];
  t_key(0, &kp, NULL);
  t_key(1, &kt, to);
  st_buf_t body;
  st_buf_init(&body, 1 << 20);
  assert_int_equal(st_chain__body_encode(T_CHAIN_ID, 5, 100000, NULL, to, 1, &body), 0);
  /* chain id field: 0x0a, len, bytes; then 0x10 and the nonce varint 5. */
  size_t at = 2 + strlen(T_CHAIN_ID);
  assert_int_equal(body.data[at], 0x10);
  assert_int_equal(body.data[at + 1], 5);
  st_buf_t padded;
  st_buf_init(&padded, 1 << 20);
  assert_int_equal(st_buf_append(&padded, body.data, at + 1), 0);
  uint8_t v[] = {0x85, 0x00};
  assert_int_equal(st_buf_append(&padded, v, sizeof(v)), 0);
  assert_int_equal(st_buf_append(&padded, body.data + at + 2, body.len - at - 2), 0);
  assert_int_equal(st_sign(&kp, ST_DOM_TX, T_CHAIN_ID, padded.data, padded.len, sig), 0);
  st_buf_reset(&ext);
  assert_int_equal(st_chain__tx_encode(padded.data, padded.len, kp.pk, sig, &ext), 0);
  expect_refusal(&p, &ext, ST_EPARSE, "body is not in canonical");
  /* Pubkey of the wrong length. */
  st_buf_reset(&ext);
  Stratos__Tx__Tx m;
  stratos__tx__tx__init(&m);
  m.body.data = body.data;
  m.body.len = body.len;
  m.pubkey.data = kp.pk;
  m.pubkey.len = 31;
  m.signature.data = sig;
  m.signature.len = ST_SIG_LEN;
  uint8_t raw[512];
  size_t n = stratos__tx__tx__pack(&m, raw);
  assert_int_equal(st_buf_append(&ext, raw, n), 0);
  expect_refusal(&p, &ext, ST_EPARSE, "pubkey must be 32 bytes");
  st_buf_reset(&ext);
  m.pubkey.len = ST_PUBKEY_LEN;
  m.signature.len = 63;
  n = stratos__tx__tx__pack(&m, raw);
  assert_int_equal(st_buf_append(&ext, raw, n), 0);
  expect_refusal(&p, &ext, ST_EPARSE, "signature must be 64 bytes");
  st_buf_free(&padded);
  st_buf_free(&body);
  st_buf_free(&ext);
  st_buf_free(&tx);
}

static void test_result_codec(void **state) {
  (void)state;
  st_buf_t b;
  st_buf_init(&b, 1 << 20);
  assert_int_equal(st_chain__result_encode(ST_EPERM, "insufficient balance", 12345, &b), 0);
  int code;
  char log[64];
  st_u128 fee;
  assert_int_equal(st_chain__result_decode(b.data, b.len, &code, log, sizeof(log), &fee), 0);
  assert_int_equal(code, ST_EPERM);
  assert_string_equal(log, "insufficient balance");
  assert_true(fee == 12345);
  st_buf_free(&b);
}

int main(void) {
  st_crypto_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_min_fee_exact),
    cmocka_unit_test(test_wrong_chain_id),
    cmocka_unit_test(test_bad_signature),
    cmocka_unit_test(test_fee_below_min_by_one),
    cmocka_unit_test(test_oversized),
    cmocka_unit_test(test_truncated),
    cmocka_unit_test(test_amounts),
    cmocka_unit_test(test_not_canonical),
    cmocka_unit_test(test_result_codec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
