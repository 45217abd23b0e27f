/* Sealing the blocks of private files (include/stratos/st_seal.h). */
#include <sodium.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_seal.h>

static const char KEY_LABEL[] = "stratos-file-key-v1";
static const char NONCE_LABEL[] = "stratos-block-nonce";
static const char AD_LABEL[] = "stratos-block-v1";

_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == ST_SEAL_TAG, "tag size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == ST_SEAL_NONCE, "nonce size");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == ST_SEAL_KEY, "key size");

void st_seal_new_nonce(uint8_t nonce[ST_SEAL_NONCE]) {
  randombytes_buf(nonce, ST_SEAL_NONCE);
}

void st_seal_file_key(const uint8_t seed[ST_SEED_LEN], const uint8_t nonce[ST_SEAL_NONCE],
                      uint8_t key[ST_SEAL_KEY]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, seed, ST_SEED_LEN, ST_SEAL_KEY);
  crypto_generichash_update(&st, (const uint8_t *)KEY_LABEL, sizeof(KEY_LABEL) - 1);
  crypto_generichash_update(&st, nonce, ST_SEAL_NONCE);
  crypto_generichash_final(&st, key, ST_SEAL_KEY);
}

static void be64(uint8_t out[8], uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    out[i] = (uint8_t)v;
    v >>= 8;
  }
}

/* The block's own nonce and additional data: both bind the file and the
 * block's place in it. */
static void block_params(const uint8_t nonce[ST_SEAL_NONCE], uint64_t index,
                         uint8_t bnonce[ST_SEAL_NONCE],
                         uint8_t ad[sizeof(AD_LABEL) - 1 + ST_SEAL_NONCE + 8]) {
  uint8_t idx[8];
  crypto_generichash_state st;
  be64(idx, index);
  crypto_generichash_init(&st, NULL, 0, ST_SEAL_NONCE);
  crypto_generichash_update(&st, (const uint8_t *)NONCE_LABEL, sizeof(NONCE_LABEL) - 1);
  crypto_generichash_update(&st, nonce, ST_SEAL_NONCE);
  crypto_generichash_update(&st, idx, sizeof(idx));
  crypto_generichash_final(&st, bnonce, ST_SEAL_NONCE);
  memcpy(ad, AD_LABEL, sizeof(AD_LABEL) - 1);
  memcpy(ad + sizeof(AD_LABEL) - 1, nonce, ST_SEAL_NONCE);
  memcpy(ad + sizeof(AD_LABEL) - 1 + ST_SEAL_NONCE, idx, sizeof(idx));
}

int st_seal_block(const uint8_t key[ST_SEAL_KEY], const uint8_t nonce[ST_SEAL_NONCE],
                  uint64_t index, const uint8_t *plain, size_t n, uint8_t *out) {
  uint8_t bnonce[ST_SEAL_NONCE], ad[sizeof(AD_LABEL) - 1 + ST_SEAL_NONCE + 8];
  unsigned long long clen;
  if (!key || !nonce || !plain || !out || n == 0 || n > ST_SEAL_PLAIN_BLOCK)
    return ST_EINVAL;
  block_params(nonce, index, bnonce, ad);
  crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, plain, n, ad, sizeof(ad), NULL,
                                             bnonce, key);
  return 0;
}

int st_seal_open(const uint8_t key[ST_SEAL_KEY], const uint8_t nonce[ST_SEAL_NONCE],
                 uint64_t index, const uint8_t *sealed, size_t n, uint8_t *out) {
  uint8_t bnonce[ST_SEAL_NONCE], ad[sizeof(AD_LABEL) - 1 + ST_SEAL_NONCE + 8];
  unsigned long long plen;
  if (!key || !nonce || !sealed || !out || n <= ST_SEAL_TAG || n > ST_FILE_BLOCK)
    return ST_EINVAL;
  block_params(nonce, index, bnonce, ad);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &plen, NULL, sealed, n, ad, sizeof(ad),
                                                 bnonce, key) != 0)
    return ST_EBADSIG;
  return 0;
}

uint64_t st_seal_sealed_size(uint64_t plain) {
  uint64_t blocks = (plain + ST_SEAL_PLAIN_BLOCK - 1) / ST_SEAL_PLAIN_BLOCK;
  return plain + blocks * ST_SEAL_TAG;
}

int st_seal_plain_size(uint64_t sealed, uint64_t *plain) {
  uint64_t full = sealed / ST_FILE_BLOCK, rest = sealed % ST_FILE_BLOCK;
  if (rest != 0 && rest <= ST_SEAL_TAG)
    return ST_EINVAL; /* a last block with no plaintext in it */
  *plain = full * ST_SEAL_PLAIN_BLOCK + (rest ? rest - ST_SEAL_TAG : 0);
  return 0;
}
