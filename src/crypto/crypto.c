/* Hashing, keys, signatures and addresses on top of libsodium.
 *
 * Every hash is BLAKE2b-256 with a one-byte domain tag in front of the
 * data, so that bytes hashed for one use can never stand for another. A
 * signature is ed25519 over the tagged hash of (chain id, message): the
 * chain id is length-prefixed so that no two (chain id, message) pairs
 * hash the same input, and the signer signs a 32-byte digest whatever the
 * message size. Addresses are bech32 strings of a 20-byte public-key hash. */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "stratos/st_bytes.h"
#include "stratos/st_crypto.h"
#include "stratos/st_err.h"

_Static_assert(sizeof(st_hash_ctx_t) >= sizeof(crypto_generichash_state),
               "st_hash_ctx_t is too small for libsodium's BLAKE2b state");
_Static_assert(alignof(st_hash_ctx_t) >= alignof(crypto_generichash_state),
               "st_hash_ctx_t is not aligned enough for libsodium's BLAKE2b state");
_Static_assert(ST_HASH_LEN >= crypto_generichash_BYTES_MIN &&
                 ST_HASH_LEN <= crypto_generichash_BYTES_MAX,
               "BLAKE2b cannot produce ST_HASH_LEN bytes");
_Static_assert(ST_PUBKEY_LEN == crypto_sign_PUBLICKEYBYTES, "ed25519 public key size");
_Static_assert(ST_SECKEY_LEN == crypto_sign_SECRETKEYBYTES, "ed25519 secret key size");
_Static_assert(ST_SEED_LEN == crypto_sign_SEEDBYTES, "ed25519 seed size");
_Static_assert(ST_SIG_LEN == crypto_sign_BYTES, "ed25519 signature size");
_Static_assert(ST_CHAIN_ID_MAX <= 255, "the chain id length is one byte");

int st_crypto_init(void) {
  /* sodium_init returns 1 when it has already run, which is fine. */
  return sodium_init() < 0 ? ST_ESYS : 0;
}

static crypto_generichash_state *hash_state(st_hash_ctx_t *c) {
  return (crypto_generichash_state *)(void *)c->opaque;
}

void st_hash_init(st_hash_ctx_t *c, uint8_t tag) {
  crypto_generichash_init(hash_state(c), NULL, 0, ST_HASH_LEN);
  crypto_generichash_update(hash_state(c), &tag, 1);
}

void st_hash_update(st_hash_ctx_t *c, const void *data, size_t len) {
  if (len > 0)
    crypto_generichash_update(hash_state(c), data, len);
}

void st_hash_final(st_hash_ctx_t *c, uint8_t out[ST_HASH_LEN]) {
  crypto_generichash_final(hash_state(c), out, ST_HASH_LEN);
  sodium_memzero(c, sizeof *c);
}

void st_hash(uint8_t tag, const void *data, size_t len, uint8_t out[ST_HASH_LEN]) {
  st_hash_ctx_t c;

  st_hash_init(&c, tag);
  st_hash_update(&c, data, len);
  st_hash_final(&c, out);
}

/* ---- keys and signatures ---- */

int st_key_generate(st_keypair_t *kp) {
  if (kp == NULL)
    return ST_EINVAL;
  if (st_crypto_init() != 0)
    return ST_ESYS;
  return crypto_sign_keypair(kp->pk, kp->sk) == 0 ? 0 : ST_ESYS;
}

int st_key_from_seed(const uint8_t seed[ST_SEED_LEN], st_keypair_t *kp) {
  if (seed == NULL || kp == NULL)
    return ST_EINVAL;
  return crypto_sign_seed_keypair(kp->pk, kp->sk, seed) == 0 ? 0 : ST_ESYS;
}

void st_key_wipe(st_keypair_t *kp) {
  if (kp != NULL)
    sodium_memzero(kp->sk, sizeof kp->sk);
}

/* digest = H(tag, len(chain_id) || chain_id || msg). */
static int sign_digest(uint8_t tag, const char *chain_id, const void *msg,
                       size_t len, uint8_t digest[ST_HASH_LEN]) {
  st_hash_ctx_t c;
  size_t idlen;
  uint8_t lenbyte;

  if (chain_id == NULL || (msg == NULL && len > 0))
    return ST_EINVAL;
  idlen = strnlen(chain_id, ST_CHAIN_ID_MAX + 1);
  if (idlen > ST_CHAIN_ID_MAX)
    return ST_EINVAL;
  lenbyte = (uint8_t)idlen;
  st_hash_init(&c, tag);
  st_hash_update(&c, &lenbyte, 1);
  st_hash_update(&c, chain_id, idlen);
  st_hash_update(&c, msg, len);
  st_hash_final(&c, digest);
  return 0;
}

int st_sign(const st_keypair_t *kp, uint8_t tag, const char *chain_id,
            const void *msg, size_t len, uint8_t sig[ST_SIG_LEN]) {
  uint8_t digest[ST_HASH_LEN];
  int rc;

  if (kp == NULL || sig == NULL)
    return ST_EINVAL;
  rc = sign_digest(tag, chain_id, msg, len, digest);
  if (rc != 0)
    return rc;
  return crypto_sign_detached(sig, NULL, digest, sizeof digest, kp->sk) == 0 ? 0
                                                                            : ST_ESYS;
}

int st_verify(const uint8_t pk[ST_PUBKEY_LEN], uint8_t tag,
              const char *chain_id, const void *msg, size_t len,
              const uint8_t sig[ST_SIG_LEN]) {
  uint8_t digest[ST_HASH_LEN];

  if (pk == NULL || sig == NULL)
    return ST_EINVAL;
  /* A chain id no signer would accept cannot carry a valid signature. */
  if (sign_digest(tag, chain_id, msg, len, digest) != 0)
    return ST_EBADSIG;
  return crypto_sign_verify_detached(sig, digest, sizeof digest, pk) == 0 ? 0
                                                                          : ST_EBADSIG;
}

int st_ed25519_sign(const st_keypair_t *kp, const void *msg, size_t len,
                    uint8_t sig[ST_SIG_LEN]) {
  if (kp == NULL || sig == NULL || (msg == NULL && len > 0))
    return ST_EINVAL;
  return crypto_sign_detached(sig, NULL, msg, len, kp->sk) == 0 ? 0 : ST_ESYS;
}

int st_ed25519_verify(const uint8_t pk[ST_PUBKEY_LEN], const void *msg,
                      size_t len, const uint8_t sig[ST_SIG_LEN]) {
  if (pk == NULL || sig == NULL || (msg == NULL && len > 0))
    return ST_EINVAL;
  return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : ST_EBADSIG;
}

/* ---- addresses ---- */

void st_addr_from_pubkey(const uint8_t pk[ST_PUBKEY_LEN], uint8_t addr[ST_ADDR_LEN]) {
  uint8_t h[ST_HASH_LEN];

  crypto_generichash(h, sizeof h, pk, ST_PUBKEY_LEN, NULL, 0);
  memcpy(addr, h, ST_ADDR_LEN);
}

int st_addr_encode(const char *hrp, const uint8_t addr[ST_ADDR_LEN], char *out,
                   size_t outcap) {
  if (addr == NULL)
    return ST_EINVAL;
  return st_bech32_encode_bytes(hrp, addr, ST_ADDR_LEN, out, outcap);
}

int st_addr_decode(const char *s, const char *hrp, uint8_t addr[ST_ADDR_LEN]) {
  uint8_t tmp[ST_ADDR_LEN + 1];
  size_t n;
  int rc;

  if (addr == NULL)
    return ST_EINVAL;
  /* One spare byte tells a payload that is too long from one that fits. */
  rc = st_bech32_decode_bytes(s, hrp, tmp, sizeof tmp, &n);
  if (rc == ST_E2BIG || (rc == 0 && n != ST_ADDR_LEN))
    return ST_EINVAL;
  if (rc != 0)
    return rc;
  memcpy(addr, tmp, ST_ADDR_LEN);
  return 0;
}
