/* Private files: each block sealed with XChaCha20-Poly1305.
 *
 * A private file has a random 24-byte file nonce, stored in the file's
 * record. Its key is derived from the owner's wallet key and that nonce:
 *
 *   file key   = BLAKE2b-256 keyed with the wallet's 32-byte seed over
 *                "stratos-file-key-v1" || file nonce
 *   block i    = XChaCha20-Poly1305(file key,
 *                  nonce = BLAKE2b-192("stratos-block-nonce" || file nonce || i (8, BE)),
 *                  additional data = "stratos-block-v1" || file nonce || i (8, BE))
 *
 * so a block cannot be moved to another place or another file without
 * failing authentication, and one file key opens one file only (a share
 * link hands out the file key, never the wallet key). A sealed block is
 * its plaintext plus a 16-byte tag: plaintext blocks of ST_SEAL_PLAIN_BLOCK
 * bytes make ciphertext blocks of exactly ST_FILE_BLOCK bytes, the blocks
 * the network stores, hashes and verifies without the key. */
#ifndef STRATOS_ST_SEAL_H
#define STRATOS_ST_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include <stratos/st_crypto.h>
#include <stratos/st_file.h>

#define ST_SEAL_TAG 16
#define ST_SEAL_NONCE 24
#define ST_SEAL_KEY 32
#define ST_SEAL_PLAIN_BLOCK (ST_FILE_BLOCK - ST_SEAL_TAG)

/* A fresh random file nonce. */
void st_seal_new_nonce(uint8_t nonce[ST_SEAL_NONCE]);

/* The file key of a private file (see above). */
void st_seal_file_key(const uint8_t seed[ST_SEED_LEN], const uint8_t nonce[ST_SEAL_NONCE],
                      uint8_t key[ST_SEAL_KEY]);

/* Seals plaintext block index (1..ST_SEAL_PLAIN_BLOCK bytes; only the
 * file's last block may be short) into out, which takes n + ST_SEAL_TAG
 * bytes. ST_EINVAL for a bad length. */
int st_seal_block(const uint8_t key[ST_SEAL_KEY], const uint8_t nonce[ST_SEAL_NONCE],
                  uint64_t index, const uint8_t *plain, size_t n, uint8_t *out);

/* Opens sealed block index (ST_SEAL_TAG + 1 .. ST_FILE_BLOCK bytes) into
 * out (n - ST_SEAL_TAG bytes). ST_EBADSIG when it does not authenticate:
 * wrong key, wrong place, or altered. */
int st_seal_open(const uint8_t key[ST_SEAL_KEY], const uint8_t nonce[ST_SEAL_NONCE],
                 uint64_t index, const uint8_t *sealed, size_t n, uint8_t *out);

/* Sizes: the sealed size of a plaintext of plain bytes, and back
 * (ST_EINVAL when sealed is no sealed size). */
uint64_t st_seal_sealed_size(uint64_t plain);
int st_seal_plain_size(uint64_t sealed, uint64_t *plain);

#endif
