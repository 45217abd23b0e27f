/* Addresses: the 20-byte public-key hash, its bech32 forms under the
 * wallet and node prefixes, and the ways a pasted address can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "stratos/st_bytes.h"
#include "stratos/st_crypto.h"
#include "stratos/st_err.h"

/* RFC 8032 test 1 public key. */
static const char pk_hex[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/* Its addresses, worked out apart from this code (BLAKE2b-256, then
 * BIP-173). They pin the address format: if they change, every existing
 * address changes. */
static const char wallet_addr[] = "st10py6cvzfdq97rmmk9mlq6dhqzueux3jwr0m23h";
static const char node_addr[] = "stsds10py6cvzfdq97rmmk9mlq6dhqzueux3jwwdmraw";

static uint8_t pk[ST_PUBKEY_LEN];

static int setup(void **state) {
  (void)state;
  size_t n;
  if (st_crypto_init() != 0)
    return -1;
  return st_hex_decode(pk_hex, 64, pk, sizeof pk, &n);
}

static void test_from_pubkey(void **state) {
  (void)state;
  uint8_t addr[ST_ADDR_LEN], h[32];
  st_addr_from_pubkey(pk, addr);
  crypto_generichash(h, sizeof h, pk, sizeof pk, NULL, 0);
  assert_memory_equal(addr, h, ST_ADDR_LEN);
}

static void test_known_strings(void **state) {
  (void)state;
  uint8_t addr[ST_ADDR_LEN], back[ST_ADDR_LEN];
  char s[ST_ADDR_STR_MAX];

  st_addr_from_pubkey(pk, addr);
  assert_int_equal(st_addr_encode(ST_HRP_WALLET, addr, s, sizeof s), 0);
  assert_string_equal(s, wallet_addr);
  assert_int_equal(strlen(s), 2 + 1 + 32 + 6);
  assert_int_equal(st_addr_encode(ST_HRP_NODE, addr, s, sizeof s), 0);
  assert_string_equal(s, node_addr);
  assert_int_equal(strlen(s), 5 + 1 + 32 + 6);

  assert_int_equal(st_addr_decode(wallet_addr, ST_HRP_WALLET, back), 0);
  assert_memory_equal(back, addr, ST_ADDR_LEN);
  assert_int_equal(st_addr_decode(node_addr, ST_HRP_NODE, back), 0);
  assert_memory_equal(back, addr, ST_ADDR_LEN);
}

static void test_round_trip(void **state) {
  (void)state;
  uint8_t addr[ST_ADDR_LEN], back[ST_ADDR_LEN];
  char s[ST_ADDR_STR_MAX];
  uint32_t x = 12345;

  for (int i = 0; i < 200; i++) {
    for (size_t j = 0; j < ST_ADDR_LEN; j++) {
      x = x * 1103515245u + 12345u;
      addr[j] = (uint8_t)(x >> 16);
    }
    assert_int_equal(st_addr_encode(ST_HRP_WALLET, addr, s, sizeof s), 0);
    assert_int_equal(strncmp(s, "st1", 3), 0);
    assert_int_equal(st_addr_decode(s, ST_HRP_WALLET, back), 0);
    assert_memory_equal(addr, back, ST_ADDR_LEN);
    assert_int_equal(st_addr_encode(ST_HRP_NODE, addr, s, sizeof s), 0);
    assert_int_equal(strncmp(s, "stsds1", 6), 0);
    assert_int_equal(st_addr_decode(s, ST_HRP_NODE, back), 0);
    assert_memory_equal(addr, back, ST_ADDR_LEN);
  }
}

static void test_wrong_hrp(void **state) {
  (void)state;
  uint8_t back[ST_ADDR_LEN];
  memset(back, 0x33, sizeof back);
  assert_int_equal(st_addr_decode(wallet_addr, ST_HRP_NODE, back), ST_EINVAL);
  assert_int_equal(st_addr_decode(node_addr, ST_HRP_WALLET, back), ST_EINVAL);
  assert_int_equal(st_addr_decode(wallet_addr, "s", back), ST_EINVAL);
  assert_int_equal(st_addr_decode(wallet_addr, "ST", back), ST_EINVAL);
  assert_int_equal(back[0], 0x33);
}

static void test_bad_checksum(void **state) {
  (void)state;
  uint8_t back[ST_ADDR_LEN];
  char s[ST_ADDR_STR_MAX];
  size_t len = strlen(wallet_addr);

  memset(back, 0x33, sizeof back);
  for (size_t i = 3; i < len; i++) {
    strcpy(s, wallet_addr);
    s[i] = s[i] == 'q' ? 'p' : 'q';
    assert_int_equal(st_addr_decode(s, ST_HRP_WALLET, back), ST_EBADPROOF);
  }
  /* Swapping two neighbours is caught too. */
  strcpy(s, wallet_addr);
  for (size_t i = 3; i + 1 < len; i++) {
    char t = s[i];
    if (s[i] == s[i + 1])
      continue;
    s[i] = s[i + 1];
    s[i + 1] = t;
    assert_int_equal(st_addr_decode(s, ST_HRP_WALLET, back), ST_EBADPROOF);
    s[i + 1] = s[i];
    s[i] = t;
  }
  assert_int_equal(back[0], 0x33);
}

static void test_case(void **state) {
  (void)state;
  uint8_t back[ST_ADDR_LEN], addr[ST_ADDR_LEN];
  char s[ST_ADDR_STR_MAX];

  st_addr_from_pubkey(pk, addr);
  strcpy(s, wallet_addr);
  for (char *p = s; *p; p++)
    if (*p >= 'a' && *p <= 'z')
      *p = (char)(*p - 'a' + 'A');
  assert_int_equal(st_addr_decode(s, ST_HRP_WALLET, back), 0);
  assert_memory_equal(back, addr, ST_ADDR_LEN);
  s[5] = (char)(s[5] - 'A' + 'a');
  if (s[5] >= 'a' && s[5] <= 'z')
    assert_int_equal(st_addr_decode(s, ST_HRP_WALLET, back), ST_EINVAL);
}

static void test_wrong_length(void **state) {
  (void)state;
  uint8_t data[21] = {1, 2, 3}, back[ST_ADDR_LEN];
  char s[ST_ADDR_STR_MAX];

  memset(back, 0x33, sizeof back);
  assert_int_equal(st_bech32_encode_bytes(ST_HRP_WALLET, data, 19, s, sizeof s), 0);
  assert_int_equal(st_addr_decode(s, ST_HRP_WALLET, back), ST_EINVAL);
  assert_int_equal(st_bech32_encode_bytes(ST_HRP_WALLET, data, 21, s, sizeof s), 0);
  assert_int_equal(st_addr_decode(s, ST_HRP_WALLET, back), ST_EINVAL);
  assert_int_equal(st_bech32_encode_bytes(ST_HRP_WALLET, data, 0, s, sizeof s), 0);
  assert_int_equal(st_addr_decode(s, ST_HRP_WALLET, back), ST_EINVAL);
  assert_int_equal(st_addr_decode("", ST_HRP_WALLET, back), ST_EINVAL);
  assert_int_equal(st_addr_decode("st1", ST_HRP_WALLET, back), ST_EINVAL);
  assert_int_equal(back[0], 0x33);
}

static void test_encode_room(void **state) {
  (void)state;
  uint8_t addr[ST_ADDR_LEN] = {0};
  char s[ST_ADDR_STR_MAX];
  assert_int_equal(st_addr_encode(ST_HRP_WALLET, addr, s, 41), ST_E2BIG);
  assert_int_equal(st_addr_encode(ST_HRP_WALLET, addr, s, 42), 0);
  assert_int_equal(st_addr_encode("", addr, s, sizeof s), ST_EINVAL);
  assert_int_equal(st_addr_encode("ST", addr, s, sizeof s), ST_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_from_pubkey),  cmocka_unit_test(test_known_strings),
    cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_wrong_hrp),
    cmocka_unit_test(test_bad_checksum), cmocka_unit_test(test_case),
    cmocka_unit_test(test_wrong_length), cmocka_unit_test(test_encode_room),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
