/* Domain-separated signatures: a signature holds only under the tag, the
 * chain id, the message and the key it was made with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "stratos/st_crypto.h"
#include "stratos/st_err.h"

static st_keypair_t kp, other;

static int setup(void **state) {
  (void)state;
  uint8_t seed[ST_SEED_LEN];
  if (st_crypto_init() != 0)
    return -1;
  for (size_t i = 0; i < sizeof seed; i++)
    seed[i] = (uint8_t)(i + 1);
  if (st_key_from_seed(seed, &kp) != 0)
    return -1;
  seed[0] ^= 0xff;
  return st_key_from_seed(seed, &other);
}

static int teardown(void **state) {
  (void)state;
  st_key_wipe(&kp);
  st_key_wipe(&other);
  return 0;
}

static const char msg[] = "transfer 100 STOS to st1...";

static void test_round_trip(void **state) {
  (void)state;
  uint8_t sig[ST_SIG_LEN], sig2[ST_SIG_LEN];
  assert_int_equal(st_sign(&kp, ST_DOM_TX, "stratos-1", msg, sizeof msg, sig), 0);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "stratos-1", msg, sizeof msg, sig), 0);
  /* ed25519 is deterministic. */
  assert_int_equal(st_sign(&kp, ST_DOM_TX, "stratos-1", msg, sizeof msg, sig2), 0);
  assert_memory_equal(sig, sig2, ST_SIG_LEN);
  /* Empty chain id and empty message are allowed. */
  assert_int_equal(st_sign(&kp, ST_DOM_VOTE, "", NULL, 0, sig), 0);
  assert_int_equal(st_verify(kp.pk, ST_DOM_VOTE, "", NULL, 0, sig), 0);
  assert_int_equal(st_verify(kp.pk, ST_DOM_VOTE, "x", NULL, 0, sig), ST_EBADSIG);
}

/* The signed digest is exactly the documented construction. */
static void test_documented_digest(void **state) {
  (void)state;
  uint8_t sig[ST_SIG_LEN], digest[ST_HASH_LEN], buf[1 + 1 + 9 + sizeof msg];
  const char *chain = "stratos-1";

  assert_int_equal(st_sign(&kp, ST_DOM_RECEIPT, chain, msg, sizeof msg, sig), 0);
  buf[0] = ST_DOM_RECEIPT;
  buf[1] = 9;
  memcpy(buf + 2, chain, 9);
  memcpy(buf + 11, msg, sizeof msg);
  crypto_generichash(digest, sizeof digest, buf, sizeof buf, NULL, 0);
  assert_int_equal(st_ed25519_verify(kp.pk, digest, sizeof digest, sig), 0);
  /* ...and not a plain signature of the message. */
  assert_int_equal(st_ed25519_verify(kp.pk, msg, sizeof msg, sig), ST_EBADSIG);
}

static void test_tag_separation(void **state) {
  (void)state;
  uint8_t sig[ST_SIG_LEN];
  assert_int_equal(st_sign(&kp, ST_DOM_VOTE, "stratos-1", msg, sizeof msg, sig), 0);
  for (int t = 0; t < 256; t++) {
    int rc = st_verify(kp.pk, (uint8_t)t, "stratos-1", msg, sizeof msg, sig);
    assert_int_equal(rc, t == ST_DOM_VOTE ? 0 : ST_EBADSIG);
  }
}

static void test_chain_separation(void **state) {
  (void)state;
  uint8_t sig[ST_SIG_LEN];
  assert_int_equal(st_sign(&kp, ST_DOM_TX, "stratos-1", msg, sizeof msg, sig), 0);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "stratos-2", msg, sizeof msg, sig), ST_EBADSIG);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "stratos-", msg, sizeof msg, sig), ST_EBADSIG);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "stratos-10", msg, sizeof msg, sig), ST_EBADSIG);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "", msg, sizeof msg, sig), ST_EBADSIG);

  /* The length prefix keeps the boundary between chain id and message:
   * ("ab", "c") and ("a", "bc") are different statements. */
  assert_int_equal(st_sign(&kp, ST_DOM_TX, "ab", "c", 1, sig), 0);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "ab", "c", 1, sig), 0);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "a", "bc", 2, sig), ST_EBADSIG);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "abc", NULL, 0, sig), ST_EBADSIG);
}

static void test_chain_id_cap(void **state) {
  (void)state;
  char id[ST_CHAIN_ID_MAX + 2];
  uint8_t sig[ST_SIG_LEN];

  memset(id, 'c', sizeof id - 1);
  id[ST_CHAIN_ID_MAX] = '\0';
  assert_int_equal(st_sign(&kp, ST_DOM_TX, id, msg, sizeof msg, sig), 0);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, id, msg, sizeof msg, sig), 0);
  id[ST_CHAIN_ID_MAX] = 'c';
  id[ST_CHAIN_ID_MAX + 1] = '\0';
  memset(sig, 0xaa, sizeof sig);
  assert_int_equal(st_sign(&kp, ST_DOM_TX, id, msg, sizeof msg, sig), ST_EINVAL);
  assert_int_equal(sig[0], 0xaa);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, id, msg, sizeof msg, sig), ST_EBADSIG);
  assert_int_equal(st_sign(&kp, ST_DOM_TX, NULL, msg, sizeof msg, sig), ST_EINVAL);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, NULL, msg, sizeof msg, sig), ST_EBADSIG);
}

static void test_tampering(void **state) {
  (void)state;
  uint8_t sig[ST_SIG_LEN];
  char m[sizeof msg];

  assert_int_equal(st_sign(&kp, ST_DOM_TX, "stratos-1", msg, sizeof msg, sig), 0);
  memcpy(m, msg, sizeof m);
  for (size_t i = 0; i < sizeof m * 8; i++) {
    m[i / 8] ^= (char)(1u << (i % 8));
    assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "stratos-1", m, sizeof m, sig), ST_EBADSIG);
    m[i / 8] ^= (char)(1u << (i % 8));
  }
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "stratos-1", m, sizeof m - 1, sig), ST_EBADSIG);
  for (size_t i = 0; i < sizeof sig; i++) {
    sig[i] ^= 0x10;
    assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "stratos-1", m, sizeof m, sig), ST_EBADSIG);
    sig[i] ^= 0x10;
  }
  assert_int_equal(st_verify(other.pk, ST_DOM_TX, "stratos-1", m, sizeof m, sig), ST_EBADSIG);
  assert_int_equal(st_verify(kp.pk, ST_DOM_TX, "stratos-1", m, sizeof m, sig), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_documented_digest),
    cmocka_unit_test(test_tag_separation),   cmocka_unit_test(test_chain_separation),
    cmocka_unit_test(test_chain_id_cap),     cmocka_unit_test(test_tampering),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
