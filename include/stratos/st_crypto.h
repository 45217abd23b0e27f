/* Keys, signatures, addresses, hashing and Merkle trees.
 *
 * Every hash is BLAKE2b-256 over a one-byte domain tag followed by the
 * data. Every signature is ed25519 over
 *   BLAKE2b-256(tag || len(chain_id) || chain_id || message)
 * so that a signature covers the exact bytes sent, under one use and one
 * chain, and can never be replayed under another. */
#ifndef STRATOS_ST_CRYPTO_H
#define STRATOS_ST_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_HASH_LEN 32
#define ST_PUBKEY_LEN 32
#define ST_SECKEY_LEN 64
#define ST_SEED_LEN 32
#define ST_SIG_LEN 64
#define ST_ADDR_LEN 20
#define ST_ADDR_STR_MAX 64

#define ST_HRP_WALLET "st"
#define ST_HRP_NODE "stsds"

#define ST_CHAIN_ID_MAX 64

/* Domain tags: one per use of the hash. Values are part of the protocol
 * and never change meaning. */
enum st_domain {
  /* 0x01 is reserved: addresses hash the bare public key (SPEC §2). */
  ST_DOM_TX = 0x02,
  ST_DOM_BLOCK_HEADER = 0x03,
  ST_DOM_MERKLE_LEAF = 0x04,
  ST_DOM_MERKLE_NODE = 0x05,
  ST_DOM_VOTE = 0x06,
  ST_DOM_PROPOSAL = 0x07,
  ST_DOM_RECEIPT = 0x08,
  ST_DOM_HEARTBEAT = 0x09,
  ST_DOM_HANDSHAKE = 0x0a,
  ST_DOM_STATE = 0x0b,
  ST_DOM_FILE = 0x0c,
  ST_DOM_KV = 0x0d,
  ST_DOM_GATEWAY_REQ = 0x0e,
  ST_DOM_EVIDENCE = 0x0f,
  ST_DOM_VOLUME_REPORT = 0x10,
  ST_DOM_COMMIT = 0x11,
  ST_DOM_VALSET = 0x12,
  ST_DOM_TX_RESULTS = 0x13,
  ST_DOM_MODULE = 0x14,
  ST_DOM_META_SYNC = 0x15,
  ST_DOM_STORED = 0x16,      /* a holder's "stored" receipt */
  ST_DOM_META_TX = 0x17,     /* an authority's file tx on the meta chain */
  ST_DOM_SLASH = 0x18,       /* an authority's signature of a SlashReport */
};

/* Initializes libsodium. Safe to call more than once. */
int st_crypto_init(void);

/* ---- hashing ---- */

/* out = BLAKE2b-256(tag || data). */
void st_hash(uint8_t tag, const void *data, size_t len, uint8_t out[ST_HASH_LEN]);

/* Streaming form of st_hash. The state is opaque storage sized for
 * libsodium's BLAKE2b state. */
typedef struct st_hash_ctx {
  _Alignas(64) uint8_t opaque[384];
} st_hash_ctx_t;

void st_hash_init(st_hash_ctx_t *c, uint8_t tag);
void st_hash_update(st_hash_ctx_t *c, const void *data, size_t len);
void st_hash_final(st_hash_ctx_t *c, uint8_t out[ST_HASH_LEN]);

/* ---- keys and signatures ---- */

typedef struct st_keypair {
  uint8_t pk[ST_PUBKEY_LEN];
  uint8_t sk[ST_SECKEY_LEN]; /* libsodium layout: seed || pk */
} st_keypair_t;

int st_key_generate(st_keypair_t *kp);
int st_key_from_seed(const uint8_t seed[ST_SEED_LEN], st_keypair_t *kp);
/* Zeroes the secret key. */
void st_key_wipe(st_keypair_t *kp);

/* Signs msg under tag and chain_id (NUL-terminated, at most
 * ST_CHAIN_ID_MAX bytes). */
int st_sign(const st_keypair_t *kp, uint8_t tag, const char *chain_id,
            const void *msg, size_t len, uint8_t sig[ST_SIG_LEN]);

/* Returns 0 when sig is pk's signature of msg under tag and chain_id,
 * ST_EBADSIG otherwise. */
int st_verify(const uint8_t pk[ST_PUBKEY_LEN], uint8_t tag,
              const char *chain_id, const void *msg, size_t len,
              const uint8_t sig[ST_SIG_LEN]);

/* Plain ed25519 (RFC 8032) over raw bytes, without domain or chain. */
int st_ed25519_sign(const st_keypair_t *kp, const void *msg, size_t len,
                    uint8_t sig[ST_SIG_LEN]);
int st_ed25519_verify(const uint8_t pk[ST_PUBKEY_LEN], const void *msg,
                      size_t len, const uint8_t sig[ST_SIG_LEN]);

/* ---- addresses ---- */

/* addr = first 20 bytes of BLAKE2b-256(pubkey) (untagged, as SPEC §2). */
void st_addr_from_pubkey(const uint8_t pk[ST_PUBKEY_LEN], uint8_t addr[ST_ADDR_LEN]);

/* Writes the bech32 form under hrp (ST_HRP_WALLET or ST_HRP_NODE). */
int st_addr_encode(const char *hrp, const uint8_t addr[ST_ADDR_LEN], char *out,
                   size_t outcap);

/* Parses a bech32 address that must carry hrp and a 20-byte payload. */
int st_addr_decode(const char *s, const char *hrp, uint8_t addr[ST_ADDR_LEN]);

/* ---- Merkle trees ----
 * Leaves are already hashed (e.g. block hashes). A parent is
 * H(ST_DOM_MERKLE_NODE, left || right). A level with an odd count
 * promotes its last node unchanged (no duplication, so a list and the same
 * list with its last leaf repeated do not share a root, as they would in
 * Bitcoin). The root of one leaf is that leaf; the root of zero leaves is
 * H(ST_DOM_MERKLE_LEAF, ""), which is also the root of the one leaf
 * st_merkle_leaf("", 0). The root does not commit to the leaf count: a
 * user that needs the count bound commits to it separately. */

#define ST_MERKLE_MAX_DEPTH 48

typedef struct st_merkle_proof {
  uint64_t index;  /* leaf index */
  uint64_t count;  /* number of leaves */
  unsigned depth;  /* number of siblings in path */
  uint8_t path[ST_MERKLE_MAX_DEPTH][ST_HASH_LEN]; /* siblings, leaf upward */
} st_merkle_proof_t;

/* leaf = H(ST_DOM_MERKLE_LEAF, data). */
void st_merkle_leaf(const void *data, size_t len, uint8_t out[ST_HASH_LEN]);
void st_merkle_parent(const uint8_t l[ST_HASH_LEN], const uint8_t r[ST_HASH_LEN],
                      uint8_t out[ST_HASH_LEN]);

int st_merkle_root(const uint8_t (*leaves)[ST_HASH_LEN], size_t n,
                   uint8_t root[ST_HASH_LEN]);

/* Builds the proof of leaf index among n leaves. */
int st_merkle_prove(const uint8_t (*leaves)[ST_HASH_LEN], size_t n, size_t index,
                    st_merkle_proof_t *proof);

/* Returns 0 when leaf at proof->index of proof->count leaves hashes up to
 * root along proof->path, ST_EBADPROOF otherwise (also for a path of the
 * wrong length for index/count, and for count 0 or index >= count). */
int st_merkle_verify(const uint8_t root[ST_HASH_LEN], const uint8_t leaf[ST_HASH_LEN],
                     const st_merkle_proof_t *proof);

/* ---- key files ----
 * A key file is a small JSON object {"type":"ed25519","address":...,
 * "pub_key":hex,"seed":hex} written atomically with mode 0600. */

/* Writes kp to path (tmp file, fsync, rename). Fails with ST_EEXIST if the
 * file exists. hrp selects the address shown in the file. */
int st_keyfile_write(const char *path, const st_keypair_t *kp, const char *hrp);

/* Reads a key file. Refuses a file readable by group or others with
 * ST_EPERM, a malformed one with ST_EPARSE, and checks that the stored
 * public key matches the seed. */
int st_keyfile_read(const char *path, st_keypair_t *kp);

#endif
