/* Unit tests of private-file sealing: round trips, a block bound to its
 * key, file and place, sizes at every boundary, and the derivations
 * written out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>
#include <stratos/st_err.h>
#include <stratos/st_seal.h>

static uint8_t seed[ST_SEED_LEN], nonce[ST_SEAL_NONCE];

static int setup(void **state) {
  (void)state;
  st_crypto_init();
  for (size_t i = 0; i < sizeof(seed); i++)
    seed[i] = (uint8_t)(i + 1);
  for (size_t i = 0; i < sizeof(nonce); i++)
    nonce[i] = (uint8_t)(0xa0 + i);
  return 0;
}

static void test_key_by_hand(void **state) {
  (void)state;
  uint8_t key[ST_SEAL_KEY], want[ST_SEAL_KEY], msg[19 + ST_SEAL_NONCE];
  memcpy(msg, "stratos-file-key-v1", 19);
  memcpy(msg + 19, nonce, ST_SEAL_NONCE);
  crypto_generichash(want, sizeof(want), msg, sizeof(msg), seed, sizeof(seed));
  st_seal_file_key(seed, nonce, key);
  assert_memory_equal(key, want, sizeof(key));
  /* Another nonce or another wallet: another key. */
  uint8_t other[ST_SEAL_NONCE], key2[ST_SEAL_KEY];
  memcpy(other, nonce, sizeof(other));
  other[0] ^= 1;
  st_seal_file_key(seed, other, key2);
  assert_memory_not_equal(key, key2, sizeof(key));
  uint8_t seed2[ST_SEED_LEN];
  memcpy(seed2, seed, sizeof(seed2));
  seed2[31] ^= 1;
  st_seal_file_key(seed2, nonce, key2);
  assert_memory_not_equal(key, key2, sizeof(key));
}

static void test_round_trip_full_and_short(void **state) {
  (void)state;
  uint8_t key[ST_SEAL_KEY];
  st_seal_file_key(seed, nonce, key);
  size_t sizes[] = {1, 2, 4096, ST_SEAL_PLAIN_BLOCK - 1, ST_SEAL_PLAIN_BLOCK};
  uint8_t *plain = malloc(ST_SEAL_PLAIN_BLOCK), *sealed = malloc(ST_FILE_BLOCK),
          *back = malloc(ST_SEAL_PLAIN_BLOCK);
  assert_non_null(plain);
  assert_non_null(sealed);
  assert_non_null(back);
  randombytes_buf(plain, ST_SEAL_PLAIN_BLOCK);
  for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
    size_t n = sizes[k];
    assert_int_equal(st_seal_block(key, nonce, 7, plain, n, sealed), 0);
    assert_memory_not_equal(sealed, plain, n < 64 ? n : 64);
    assert_int_equal(st_seal_open(key, nonce, 7, sealed, n + ST_SEAL_TAG, back), 0);
    assert_memory_equal(back, plain, n);
  }
  /* A full plaintext block seals into exactly one network block. */
  assert_int_equal(ST_SEAL_PLAIN_BLOCK + ST_SEAL_TAG, ST_FILE_BLOCK);
  free(plain);
  free(sealed);
  free(back);
}

static void test_bound_to_key_file_and_place(void **state) {
  (void)state;
  uint8_t key[ST_SEAL_KEY], other_key[ST_SEAL_KEY], other_nonce[ST_SEAL_NONCE];
  uint8_t plain[1000], sealed[1000 + ST_SEAL_TAG], back[1000];
  st_seal_file_key(seed, nonce, key);
  memcpy(other_nonce, nonce, sizeof(other_nonce));
  other_nonce[5] ^= 0x40;
  st_seal_file_key(seed, other_nonce, other_key);
  randombytes_buf(plain, sizeof(plain));
  assert_int_equal(st_seal_block(key, nonce, 3, plain, sizeof(plain), sealed), 0);
  /* The wrong key, the wrong file, the wrong block index: refused. */
  assert_int_equal(st_seal_open(other_key, nonce, 3, sealed, sizeof(sealed), back),
                   ST_EBADSIG);
  assert_int_equal(st_seal_open(key, other_nonce, 3, sealed, sizeof(sealed), back),
                   ST_EBADSIG);
  assert_int_equal(st_seal_open(key, nonce, 4, sealed, sizeof(sealed), back), ST_EBADSIG);
  /* A flipped bit anywhere, or a truncated block: refused. */
  for (size_t i = 0; i < sizeof(sealed); i += 97) {
    sealed[i] ^= 1;
    assert_int_equal(st_seal_open(key, nonce, 3, sealed, sizeof(sealed), back), ST_EBADSIG);
    sealed[i] ^= 1;
  }
  assert_int_equal(st_seal_open(key, nonce, 3, sealed, sizeof(sealed) - 1, back), ST_EBADSIG);
  assert_int_equal(st_seal_open(key, nonce, 3, sealed, sizeof(sealed), back), 0);
  /* The same block sealed twice is the same bytes (deterministic per
   * place), and two places give different bytes. */
  uint8_t again[sizeof(sealed)], elsewhere[sizeof(sealed)];
  assert_int_equal(st_seal_block(key, nonce, 3, plain, sizeof(plain), again), 0);
  assert_memory_equal(again, sealed, sizeof(sealed));
  assert_int_equal(st_seal_block(key, nonce, 9, plain, sizeof(plain), elsewhere), 0);
  assert_memory_not_equal(elsewhere, sealed, sizeof(sealed));
}

static void test_by_hand(void **state) {
  (void)state;
  /* The block nonce and additional data written out with libsodium. */
  uint8_t key[ST_SEAL_KEY], bnonce[ST_SEAL_NONCE], ad[16 + ST_SEAL_NONCE + 8];
  uint8_t msg[19 + ST_SEAL_NONCE + 8], idx[8] = {0, 0, 0, 0, 0, 0, 0x01, 0x02};
  uint8_t plain[33], want[33 + ST_SEAL_TAG], got[33 + ST_SEAL_TAG];
  unsigned long long clen;
  st_seal_file_key(seed, nonce, key);
  memcpy(msg, "stratos-block-nonce", 19);
  memcpy(msg + 19, nonce, ST_SEAL_NONCE);
  memcpy(msg + 19 + ST_SEAL_NONCE, idx, 8);
  crypto_generichash(bnonce, sizeof(bnonce), msg, sizeof(msg), NULL, 0);
  memcpy(ad, "stratos-block-v1", 16);
  memcpy(ad + 16, nonce, ST_SEAL_NONCE);
  memcpy(ad + 16 + ST_SEAL_NONCE, idx, 8);
  memset(plain, 'p', sizeof(plain));
  crypto_aead_xchacha20poly1305_ietf_encrypt(want, &clen, plain, sizeof(plain), ad,
                                             sizeof(ad), NULL, bnonce, key);
  assert_int_equal(st_seal_block(key, nonce, 0x0102, plain, sizeof(plain), got), 0);
  assert_memory_equal(got, want, sizeof(got));
}

static void test_sizes(void **state) {
  (void)state;
  const uint64_t P = ST_SEAL_PLAIN_BLOCK, B = ST_FILE_BLOCK, T = ST_SEAL_TAG;
  struct {
    uint64_t plain, sealed;
  } cases[] = {{0, 0},         {1, 1 + T},          {P - 1, P - 1 + T}, {P, B},
               {P + 1, B + 1 + T}, {2 * P, 2 * B}, {10 * P + 5, 10 * B + 5 + T}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    uint64_t back = 99;
    assert_true(st_seal_sealed_size(cases[i].plain) == cases[i].sealed);
    assert_int_equal(st_seal_plain_size(cases[i].sealed, &back), 0);
    assert_true(back == cases[i].plain);
  }
  uint64_t x;
  /* A last sealed block that holds only a tag (or part of one) is no
   * sealed size. */
  assert_int_equal(st_seal_plain_size(B + T, &x), ST_EINVAL);
  assert_int_equal(st_seal_plain_size(B + 3, &x), ST_EINVAL);
  assert_int_equal(st_seal_plain_size(T, &x), ST_EINVAL);
}

static void test_bad_arguments(void **state) {
  (void)state;
  uint8_t key[ST_SEAL_KEY] = {0}, buf[64] = {0}, out[64];
  assert_int_equal(st_seal_block(key, nonce, 0, buf, 0, out), ST_EINVAL);
  assert_int_equal(st_seal_block(key, nonce, 0, buf, ST_SEAL_PLAIN_BLOCK + 1, out), ST_EINVAL);
  assert_int_equal(st_seal_block(NULL, nonce, 0, buf, 1, out), ST_EINVAL);
  assert_int_equal(st_seal_open(key, nonce, 0, buf, ST_SEAL_TAG, out), ST_EINVAL);
  assert_int_equal(st_seal_open(key, nonce, 0, buf, ST_FILE_BLOCK + 1, out), ST_EINVAL);
  assert_int_equal(st_seal_open(key, NULL, 0, buf, 40, out), ST_EINVAL);
  /* Fresh nonces differ. */
  uint8_t a[ST_SEAL_NONCE], b[ST_SEAL_NONCE];
  st_seal_new_nonce(a);
  st_seal_new_nonce(b);
  assert_memory_not_equal(a, b, sizeof(a));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_key_by_hand),
    cmocka_unit_test(test_round_trip_full_and_short),
    cmocka_unit_test(test_bound_to_key_file_and_place),
    cmocka_unit_test(test_by_hand),
    cmocka_unit_test(test_sizes),
    cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
