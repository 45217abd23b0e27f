/* Binary Merkle trees over already-hashed leaves.
 *
 * The tree is built level by level: adjacent nodes are paired left to
 * right into H(ST_DOM_MERKLE_NODE, left || right), and a level with an odd
 * count carries its last node up unchanged. A proof lists the siblings met
 * on the way from the leaf to the root; a promoted node meets no sibling,
 * so the path length follows from (index, count) alone and the verifier
 * recomputes it rather than trusting proof->depth.
 *
 * Building keeps one scratch level of ceil(n/2) hashes; the leaves
 * themselves are only read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "stratos/st_crypto.h"
#include "stratos/st_err.h"

/* A proof holds at most ST_MERKLE_MAX_DEPTH siblings, so a tree may have
 * at most 2^ST_MERKLE_MAX_DEPTH leaves. */
#define MERKLE_MAX_LEAVES ((uint64_t)1 << ST_MERKLE_MAX_DEPTH)

typedef uint8_t hash_t[ST_HASH_LEN];

void st_merkle_leaf(const void *data, size_t len, uint8_t out[ST_HASH_LEN]) {
  st_hash(ST_DOM_MERKLE_LEAF, data, len, out);
}

void st_merkle_parent(const uint8_t l[ST_HASH_LEN], const uint8_t r[ST_HASH_LEN],
                      uint8_t out[ST_HASH_LEN]) {
  st_hash_ctx_t c;

  st_hash_init(&c, ST_DOM_MERKLE_NODE);
  st_hash_update(&c, l, ST_HASH_LEN);
  st_hash_update(&c, r, ST_HASH_LEN);
  st_hash_final(&c, out);
}

/* Computes the level above src (cnt nodes, cnt >= 2) into dst and returns
 * its count. dst may equal src: node i is written after nodes 2i and 2i+1
 * are read, and i <= 2i. */
static size_t merkle_level_up(const hash_t *src, size_t cnt, hash_t *dst) {
  size_t i, up = 0;

  for (i = 0; i + 1 < cnt; i += 2)
    st_merkle_parent(src[i], src[i + 1], dst[up++]);
  if (i < cnt)
    memmove(dst[up++], src[i], ST_HASH_LEN);
  return up;
}

/* Checks n and allocates the scratch level for n >= 2 leaves. */
static int merkle_scratch(size_t n, hash_t **out) {
  size_t half;

  if ((uint64_t)n > MERKLE_MAX_LEAVES)
    return ST_E2BIG;
  half = n / 2 + n % 2;
  if (half > SIZE_MAX / sizeof(hash_t))
    return ST_E2BIG;
  *out = malloc(half * sizeof(hash_t));
  return *out ? 0 : ST_ENOMEM;
}

int st_merkle_root(const uint8_t (*leaves)[ST_HASH_LEN], size_t n,
                   uint8_t root[ST_HASH_LEN]) {
  hash_t *level;
  size_t cnt;
  int rc;

  if (root == NULL || (leaves == NULL && n > 0))
    return ST_EINVAL;
  if (n == 0) {
    st_merkle_leaf("", 0, root);
    return 0;
  }
  if (n == 1) {
    memmove(root, leaves[0], ST_HASH_LEN);
    return 0;
  }
  rc = merkle_scratch(n, &level);
  if (rc != 0)
    return rc;
  cnt = merkle_level_up(leaves, n, level);
  while (cnt > 1)
    cnt = merkle_level_up((const hash_t *)level, cnt, level);
  memcpy(root, level[0], ST_HASH_LEN);
  free(level);
  return 0;
}

int st_merkle_prove(const uint8_t (*leaves)[ST_HASH_LEN], size_t n, size_t index,
                    st_merkle_proof_t *proof) {
  const hash_t *cur = leaves;
  hash_t *level = NULL;
  size_t cnt = n, idx = index;
  unsigned depth = 0;
  int rc;

  if (proof == NULL || leaves == NULL || n == 0)
    return ST_EINVAL;
  if (index >= n)
    return ST_ERANGE;
  if (n > 1) {
    rc = merkle_scratch(n, &level);
    if (rc != 0)
      return rc;
  }
  memset(proof, 0, sizeof *proof);
  while (cnt > 1) {
    size_t sib = idx ^ 1;
    if (sib < cnt)
      memcpy(proof->path[depth++], cur[sib], ST_HASH_LEN);
    cnt = merkle_level_up(cur, cnt, level);
    cur = (const hash_t *)level;
    idx /= 2;
  }
  free(level);
  proof->index = index;
  proof->count = n;
  proof->depth = depth;
  return 0;
}

int st_merkle_verify(const uint8_t root[ST_HASH_LEN], const uint8_t leaf[ST_HASH_LEN],
                     const st_merkle_proof_t *proof) {
  uint8_t h[ST_HASH_LEN];
  uint64_t idx, cnt;
  unsigned k = 0;

  if (root == NULL || leaf == NULL || proof == NULL)
    return ST_EINVAL;
  if (proof->count == 0 || proof->count > MERKLE_MAX_LEAVES ||
      proof->index >= proof->count || proof->depth > ST_MERKLE_MAX_DEPTH)
    return ST_EBADPROOF;
  memcpy(h, leaf, ST_HASH_LEN);
  idx = proof->index;
  cnt = proof->count;
  while (cnt > 1) {
    uint64_t sib = idx ^ 1;
    if (sib < cnt) {
      if (k >= proof->depth)
        return ST_EBADPROOF;
      if (idx & 1)
        st_merkle_parent(proof->path[k], h, h);
      else
        st_merkle_parent(h, proof->path[k], h);
      k++;
    }
    idx /= 2;
    cnt = cnt / 2 + cnt % 2;
  }
  if (k != proof->depth)
    return ST_EBADPROOF;
  return sodium_memcmp(h, root, ST_HASH_LEN) == 0 ? 0 : ST_EBADPROOF;
}
