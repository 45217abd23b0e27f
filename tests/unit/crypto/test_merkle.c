/* Merkle trees: roots against a plain level-by-level reference and
 * against roots worked out apart from this code, a proof for every leaf
 * of every tree up to 40 leaves, and the ways a proof can be wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "stratos/st_bytes.h"
#include "stratos/st_crypto.h"
#include "stratos/st_err.h"

#define NMAX 40

static uint8_t leaves[1024][ST_HASH_LEN];

static int setup(void **state) {
  (void)state;
  if (st_crypto_init() != 0)
    return -1;
  /* Leaf i is H(LEAF, one byte i) for i < 256, then two bytes. */
  for (size_t i = 0; i < 1024; i++) {
    uint8_t b[2] = {(uint8_t)i, (uint8_t)(i >> 8)};
    st_merkle_leaf(b, i < 256 ? 1 : 2, leaves[i]);
  }
  return 0;
}

/* BLAKE2b-256(tag || a || b) without the code under test. */
static void ref_hash(uint8_t tag, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                     uint8_t out[32]) {
  crypto_generichash_state s;
  crypto_generichash_init(&s, NULL, 0, 32);
  crypto_generichash_update(&s, &tag, 1);
  crypto_generichash_update(&s, a, alen);
  crypto_generichash_update(&s, b, blen);
  crypto_generichash_final(&s, out, 32);
}

/* The header's rule written as plainly as possible: pair left to right,
 * carry an odd last node up unchanged. */
static void ref_root(const uint8_t (*in)[32], size_t n, uint8_t out[32]) {
  uint8_t (*lvl)[32];
  if (n == 0) {
    ref_hash(ST_DOM_MERKLE_LEAF, NULL, 0, NULL, 0, out);
    return;
  }
  lvl = malloc(n * 32);
  assert_non_null(lvl);
  memcpy(lvl, in, n * 32);
  while (n > 1) {
    size_t m = 0;
    uint8_t (*next)[32] = malloc(((n + 1) / 2) * 32);
    assert_non_null(next);
    for (size_t i = 0; i < n; i += 2) {
      if (i + 1 < n)
        ref_hash(ST_DOM_MERKLE_NODE, lvl[i], 32, lvl[i + 1], 32, next[m++]);
      else
        memcpy(next[m++], lvl[i], 32);
    }
    free(lvl);
    lvl = next;
    n = m;
  }
  memcpy(out, lvl[0], 32);
  free(lvl);
}

/* Number of siblings on the path of leaf i among n. */
static unsigned ref_depth(uint64_t i, uint64_t n) {
  unsigned d = 0;
  while (n > 1) {
    if ((i ^ 1) < n)
      d++;
    i /= 2;
    n = (n + 1) / 2;
  }
  return d;
}

/* The hashing steps on the path of leaf i among n, as a number: a leading
 * 1, then one bit per step, 0 when the sibling is on the right and 1 when
 * it is on the left. A promotion is no step. */
static uint64_t ref_steps(uint64_t i, uint64_t n) {
  uint64_t s = 1;
  while (n > 1) {
    if ((i ^ 1) < n)
      s = s << 1 | (i & 1);
    i /= 2;
    n = (n + 1) / 2;
  }
  return s;
}

static void test_leaf_and_parent(void **state) {
  (void)state;
  uint8_t a[32], b[32];
  st_merkle_leaf("abc", 3, a);
  ref_hash(ST_DOM_MERKLE_LEAF, (const uint8_t *)"abc", 3, NULL, 0, b);
  assert_memory_equal(a, b, 32);
  st_merkle_parent(leaves[0], leaves[1], a);
  ref_hash(ST_DOM_MERKLE_NODE, leaves[0], 32, leaves[1], 32, b);
  assert_memory_equal(a, b, 32);
  st_merkle_parent(leaves[1], leaves[0], b);
  assert_memory_not_equal(a, b, 32);
}

static void test_known_roots(void **state) {
  (void)state;
  static const struct {
    size_t n;
    const char *root;
  } known[] = {
    {0, "642206314f534b29ad297d82440a5f9f210e30ca5ced805a587ca402de927342"},
    {1, "505e8bdcf453a9a8503ed771c10ed7dfe65cfad2a858ef471023a64084ba7223"},
    {2, "092f1b2999638a46acbe1fc2d7ec6c40ad7880926b85acc323310d7db43bbf73"},
    {3, "dd5e12ee4d6c413adaf5362842db337271490e1e4fec4e15cdba75578324c8d5"},
    {5, "aac059708e605b95f0c1e5356548327d623253dbe407c12e126183081d745365"},
    {7, "89e34213deafd59682769098cbde41390876f5a35f911b74859e5df2e460ab1d"},
    {40, "e2afae87ce532ba4d05842a6bf07dd4d5c2e6fcb339e3b063ed514160c7ce5c0"},
  };
  for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
    uint8_t root[32];
    char hex[65];
    assert_int_equal(st_merkle_root((const uint8_t(*)[32])leaves, known[k].n, root), 0);
    st_hex_encode(root, 32, hex, sizeof hex);
    assert_string_equal(hex, known[k].root);
  }
  /* Empty tree and single leaf, by the header's words. */
  uint8_t root[32], want[32];
  assert_int_equal(st_merkle_root(NULL, 0, root), 0);
  st_merkle_leaf("", 0, want);
  assert_memory_equal(root, want, 32);
  assert_int_equal(st_merkle_root((const uint8_t(*)[32])leaves, 1, root), 0);
  assert_memory_equal(root, leaves[0], 32);
  /* Five leaves: ((ab)(cd))e. */
  uint8_t ab[32], cd[32], abcd[32];
  st_merkle_parent(leaves[0], leaves[1], ab);
  st_merkle_parent(leaves[2], leaves[3], cd);
  st_merkle_parent(ab, cd, abcd);
  st_merkle_parent(abcd, leaves[4], want);
  assert_int_equal(st_merkle_root((const uint8_t(*)[32])leaves, 5, root), 0);
  assert_memory_equal(root, want, 32);
}

static void test_roots_match_reference(void **state) {
  (void)state;
  const size_t sizes[] = {63, 64, 65, 127, 128, 129, 1000, 1023, 1024};
  for (size_t n = 0; n <= NMAX; n++) {
    uint8_t a[32], b[32];
    assert_int_equal(st_merkle_root((const uint8_t(*)[32])leaves, n, a), 0);
    ref_root((const uint8_t(*)[32])leaves, n, b);
    assert_memory_equal(a, b, 32);
  }
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    uint8_t a[32], b[32];
    assert_int_equal(st_merkle_root((const uint8_t(*)[32])leaves, sizes[k], a), 0);
    ref_root((const uint8_t(*)[32])leaves, sizes[k], b);
    assert_memory_equal(a, b, 32);
  }
}

static void test_every_proof(void **state) {
  (void)state;
  st_merkle_proof_t p;
  uint8_t root[32];

  for (size_t n = 1; n <= NMAX; n++) {
    assert_int_equal(st_merkle_root((const uint8_t(*)[32])leaves, n, root), 0);
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(st_merkle_prove((const uint8_t(*)[32])leaves, n, i, &p), 0);
      assert_int_equal(p.index, i);
      assert_int_equal(p.count, n);
      assert_int_equal(p.depth, ref_depth(i, n));
      assert_int_equal(st_merkle_verify(root, leaves[i], &p), 0);
    }
  }
}

static void test_tampered_proofs(void **state) {
  (void)state;
  st_merkle_proof_t p, q;
  uint8_t root[32], bad[32];

  for (size_t n = 1; n <= NMAX; n++) {
    assert_int_equal(st_merkle_root((const uint8_t(*)[32])leaves, n, root), 0);
    for (size_t i = 0; i < n; i++) {
      assert_int_equal(st_merkle_prove((const uint8_t(*)[32])leaves, n, i, &p), 0);

      /* A flipped bit in the leaf, any path entry or the root. */
      for (size_t bit = 0; bit < 256; bit += 37) {
        memcpy(bad, leaves[i], 32);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(st_merkle_verify(root, bad, &p), ST_EBADPROOF);
        memcpy(bad, root, 32);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(st_merkle_verify(bad, leaves[i], &p), ST_EBADPROOF);
        for (unsigned k = 0; k < p.depth; k++) {
          q = p;
          q.path[k][bit / 8] ^= (uint8_t)(1u << (bit % 8));
          assert_int_equal(st_merkle_verify(root, leaves[i], &q), ST_EBADPROOF);
        }
      }
      /* Another leaf of the same tree does not fit this proof. */
      if (n > 1)
        assert_int_equal(st_merkle_verify(root, leaves[(i + 1) % n], &p), ST_EBADPROOF);

      /* Every other index is refused, in range or not. */
      for (size_t j = 0; j <= n + 1; j++) {
        if (j == i)
          continue;
        q = p;
        q.index = j;
        assert_int_equal(st_merkle_verify(root, leaves[i], &q), ST_EBADPROOF);
      }
      q = p;
      q.index = UINT64_MAX;
      assert_int_equal(st_merkle_verify(root, leaves[i], &q), ST_EBADPROOF);

      /* A count that changes the hashing steps is refused. The root does
       * not commit to the count, so a count with the very same steps
       * still verifies; callers that need the count bound must commit to
       * it elsewhere (for example in a block header). */
      for (uint64_t c = 0; c <= 2 * n + 1; c++) {
        if (c == n)
          continue;
        q = p;
        q.count = c;
        if (c == 0 || i >= c || ref_steps(i, c) != ref_steps(i, n))
          assert_int_equal(st_merkle_verify(root, leaves[i], &q), ST_EBADPROOF);
        else
          assert_int_equal(st_merkle_verify(root, leaves[i], &q), 0);
      }

      /* Wrong depth: one short, one long, beyond the maximum. */
      q = p;
      q.depth = p.depth + 1;
      assert_int_equal(st_merkle_verify(root, leaves[i], &q), ST_EBADPROOF);
      if (p.depth > 0) {
        q.depth = p.depth - 1;
        assert_int_equal(st_merkle_verify(root, leaves[i], &q), ST_EBADPROOF);
      }
      q.depth = ST_MERKLE_MAX_DEPTH + 1;
      assert_int_equal(st_merkle_verify(root, leaves[i], &q), ST_EBADPROOF);
      q.depth = UINT32_MAX;
      assert_int_equal(st_merkle_verify(root, leaves[i], &q), ST_EBADPROOF);
    }
  }
}

static void test_count_zero_and_limits(void **state) {
  (void)state;
  st_merkle_proof_t p;
  uint8_t root[32];

  memset(&p, 0, sizeof p);
  st_merkle_root(NULL, 0, root);
  assert_int_equal(st_merkle_verify(root, root, &p), ST_EBADPROOF);
  p.count = ((uint64_t)1 << ST_MERKLE_MAX_DEPTH) + 1;
  assert_int_equal(st_merkle_verify(root, root, &p), ST_EBADPROOF);

  assert_int_equal(st_merkle_prove((const uint8_t(*)[32])leaves, 0, 0, &p), ST_EINVAL);
  assert_int_equal(st_merkle_prove((const uint8_t(*)[32])leaves, 5, 5, &p), ST_ERANGE);
  assert_int_equal(st_merkle_prove(NULL, 5, 0, &p), ST_EINVAL);
  assert_int_equal(st_merkle_root(NULL, 5, root), ST_EINVAL);

  /* One leaf: empty path, root is the leaf. */
  assert_int_equal(st_merkle_prove((const uint8_t(*)[32])leaves, 1, 0, &p), 0);
  assert_int_equal(p.depth, 0);
  assert_int_equal(st_merkle_verify(leaves[0], leaves[0], &p), 0);
  assert_int_equal(st_merkle_verify(leaves[1], leaves[0], &p), ST_EBADPROOF);
}

/* Promotion instead of duplication: a list and the same list with its
 * last leaf repeated have different roots (with duplication, as in
 * Bitcoin, they would share one). */
static void test_no_duplicate_collision(void **state) {
  (void)state;
  uint8_t (*list)[32] = malloc((NMAX + 2) * 32);
  assert_non_null(list);
  for (size_t n = 1; n <= NMAX; n++) {
    uint8_t a[32], b[32];
    memcpy(list, leaves, n * 32);
    memcpy(list[n], leaves[n - 1], 32);
    assert_int_equal(st_merkle_root((const uint8_t(*)[32])list, n, a), 0);
    assert_int_equal(st_merkle_root((const uint8_t(*)[32])list, n + 1, b), 0);
    assert_memory_not_equal(a, b, 32);
    /* Dropping the last leaf changes the root too. */
    if (n > 1) {
      assert_int_equal(st_merkle_root((const uint8_t(*)[32])list, n - 1, b), 0);
      assert_memory_not_equal(a, b, 32);
    }
  }
  /* The classic case: [a, b, c] against [a, b, c, c]. */
  uint8_t r3[32], r4[32];
  memcpy(list, leaves, 3 * 32);
  memcpy(list[3], leaves[2], 32);
  st_merkle_root((const uint8_t(*)[32])list, 3, r3);
  st_merkle_root((const uint8_t(*)[32])list, 4, r4);
  assert_memory_not_equal(r3, r4, 32);
  free(list);
}

static void test_large_tree(void **state) {
  (void)state;
  st_merkle_proof_t p;
  uint8_t root[32];
  const size_t n = 1000;
  const size_t idx[] = {0, 1, 499, 998, 999};

  assert_int_equal(st_merkle_root((const uint8_t(*)[32])leaves, n, root), 0);
  for (size_t k = 0; k < sizeof idx / sizeof idx[0]; k++) {
    assert_int_equal(st_merkle_prove((const uint8_t(*)[32])leaves, n, idx[k], &p), 0);
    assert_int_equal(p.depth, ref_depth(idx[k], n));
    assert_int_equal(st_merkle_verify(root, leaves[idx[k]], &p), 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_leaf_and_parent),
    cmocka_unit_test(test_known_roots),
    cmocka_unit_test(test_roots_match_reference),
    cmocka_unit_test(test_every_proof),
    cmocka_unit_test(test_tampered_proofs),
    cmocka_unit_test(test_count_zero_and_limits),
    cmocka_unit_test(test_no_duplicate_collision),
    cmocka_unit_test(test_large_tree),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
