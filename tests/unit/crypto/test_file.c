/* The file format: file roots built by hand from the formula in
 * st_file.h, known answers worked out apart from this code (BLAKE2b-256
 * in Python's hashlib), the streaming hasher fed the same bytes in every
 * kind of piece, file ids, block checks, and the hasher's error paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stratos/st_bytes.h"
#include "stratos/st_crypto.h"
#include "stratos/st_err.h"
#include "stratos/st_file.h"

#define B ((size_t)ST_FILE_BLOCK)
#define MAX_SLICES 64

/* What on_slice was told about one slice (blocks copied, since the
 * hasher only lends them for the call). */
typedef struct slice_rec {
  uint64_t index, len;
  uint8_t root[ST_HASH_LEN];
  uint32_t nblocks;
  uint8_t (*blocks)[ST_HASH_LEN];
} slice_rec_t;

typedef struct rec {
  slice_rec_t s[MAX_SLICES];
  size_t n;
  uint64_t fail_at; /* index whose call fails with fail_rc, if fail_rc */
  int fail_rc;
} rec_t;

static int setup(void **state) {
  (void)state;
  return st_crypto_init();
}

/* Byte i of every test file; kat.py (see test_known_answers) computes
 * the same bytes. Blocks of it differ from one another. */
static uint8_t pattern_byte(size_t i) {
  return (uint8_t)(((uint32_t)i * 2654435761u) >> 13);
}

static uint8_t *pattern(size_t n) {
  uint8_t *d = malloc(n ? n : 1);
  assert_non_null(d);
  for (size_t i = 0; i < n; i++)
    d[i] = pattern_byte(i);
  return d;
}

static void rec_clear(rec_t *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->s[i].blocks);
  memset(r, 0, sizeof *r);
}

static void rec_add(rec_t *r, uint64_t index, uint64_t len, const uint8_t root[ST_HASH_LEN],
                    const uint8_t (*blocks)[ST_HASH_LEN], uint32_t nblocks) {
  slice_rec_t *s;

  assert_true(r->n < MAX_SLICES);
  s = &r->s[r->n++];
  s->index = index;
  s->len = len;
  memcpy(s->root, root, ST_HASH_LEN);
  s->nblocks = nblocks;
  s->blocks = malloc((size_t)nblocks * ST_HASH_LEN + 1);
  assert_non_null(s->blocks);
  memcpy(s->blocks, blocks, (size_t)nblocks * ST_HASH_LEN);
}

static int on_slice(void *ud, uint64_t index, uint64_t len, const uint8_t root[ST_HASH_LEN],
                    const uint8_t (*blocks)[ST_HASH_LEN], uint32_t nblocks) {
  rec_t *r = ud;

  rec_add(r, index, len, root, blocks, nblocks);
  if (r->fail_rc != 0 && index == r->fail_at)
    return r->fail_rc;
  return 0;
}

static void rec_assert_equal(const rec_t *a, const rec_t *b) {
  assert_int_equal(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    assert_int_equal(a->s[i].index, b->s[i].index);
    assert_int_equal(a->s[i].len, b->s[i].len);
    assert_memory_equal(a->s[i].root, b->s[i].root, ST_HASH_LEN);
    assert_int_equal(a->s[i].nblocks, b->s[i].nblocks);
    assert_memory_equal(a->s[i].blocks, b->s[i].blocks, (size_t)a->s[i].nblocks * ST_HASH_LEN);
  }
}

static void put_be(uint8_t *p, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; i++)
    p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

/* H(ST_DOM_FILE, "stratos-file-v1" || size (8, BE) || slice_size (4, BE)
 * || slices root), the string without its NUL. */
static void formula_root(uint64_t size, uint32_t slice_size, const uint8_t slices_root[32],
                         uint8_t out[32]) {
  uint8_t pre[15 + 8 + 4 + 32];

  memcpy(pre, "stratos-file-v1", 15);
  put_be(pre + 15, size, 8);
  put_be(pre + 23, slice_size, 4);
  memcpy(pre + 27, slices_root, 32);
  st_hash(ST_DOM_FILE, pre, sizeof pre, out);
}

/* The whole layout by hand: cut the bytes into slices and blocks, hash
 * the blocks, root each slice, root the slice roots, then the formula.
 * ref receives what on_slice must be told. */
static void reference(const uint8_t *d, size_t n, uint32_t ss, rec_t *ref, uint8_t out[32]) {
  uint8_t roots[MAX_SLICES][ST_HASH_LEN], slices_root[ST_HASH_LEN];
  uint8_t (*blocks)[ST_HASH_LEN] = malloc((ss / B) * ST_HASH_LEN);
  size_t ns = 0;

  assert_non_null(blocks);
  memset(ref, 0, sizeof *ref);
  for (size_t off = 0; off < n; off += ss) {
    size_t slen = n - off < ss ? n - off : ss;
    uint32_t nb = 0;
    for (size_t b = 0; b < slen; b += B)
      st_merkle_leaf(d + off + b, slen - b < B ? slen - b : B, blocks[nb++]);
    assert_int_equal(st_merkle_root((const uint8_t(*)[32])blocks, nb, roots[ns]), 0);
    rec_add(ref, ns, slen, roots[ns], (const uint8_t(*)[32])blocks, nb);
    ns++;
  }
  free(blocks);
  assert_int_equal(st_merkle_root((const uint8_t(*)[32])roots, ns, slices_root), 0);
  formula_root(n, ss, slices_root, out);
}

/* Piece sizes: a fixed size, or (fixed == 0) pseudo-random sizes from
 * seed, zeros, small, around a block and past it included. */
static size_t next_piece(size_t fixed, uint64_t *seed) {
  uint64_t x;

  if (fixed != 0)
    return fixed;
  x = *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
  x >>= 33;
  switch (x % 5) {
  case 0:
    return 0;
  case 1:
    return (size_t)(x / 5 % 17);
  case 2:
    return (size_t)(x / 5 % 5000);
  case 3:
    return B - 3 + (size_t)(x / 5 % 7);
  default:
    return (size_t)(x / 5 % (3 * B));
  }
}

/* Streams n bytes through a hasher in pieces and finishes it. */
static void stream(const uint8_t *d, size_t n, uint32_t ss, size_t fixed, uint64_t seed,
                   rec_t *r, uint8_t root[32], uint64_t *nslices) {
  st_file_hasher_t *h;
  uint64_t size = 0;
  size_t off = 0;

  memset(r, 0, sizeof *r);
  assert_int_equal(st_file_hasher_new(ss, on_slice, r, &h), 0);
  while (off < n) {
    size_t k = next_piece(fixed, &seed);
    if (k > n - off)
      k = n - off;
    assert_int_equal(st_file_hasher_update(h, d + off, k), 0);
    off += k;
  }
  assert_int_equal(st_file_hasher_update(h, d + off, 0), 0);
  assert_int_equal(st_file_hasher_final(h, &size, root, nslices), 0);
  assert_int_equal(size, n);
  assert_int_equal(*nslices, r->n);
  for (size_t i = 0; i < r->n; i++)
    assert_memory_equal(st_file_hasher_slice_root(h, i), r->s[i].root, ST_HASH_LEN);
  assert_null(st_file_hasher_slice_root(h, r->n));
  st_file_hasher_free(h);
}

static void root_of(const uint8_t *d, size_t n, uint32_t ss, uint8_t root[32]) {
  rec_t r;
  uint64_t ns;

  stream(d, n, ss, n ? n : 1, 0, &r, root, &ns);
  rec_clear(&r);
}

static void test_counts(void **state) {
  (void)state;
  assert_int_equal(st_file_slices(0, ST_FILE_SLICE_MIN), 0);
  assert_int_equal(st_file_slices(1, ST_FILE_SLICE_MIN), 1);
  assert_int_equal(st_file_slices(B, ST_FILE_SLICE_MIN), 1);
  assert_int_equal(st_file_slices(B + 1, ST_FILE_SLICE_MIN), 2);
  assert_int_equal(st_file_slices(UINT64_MAX, ST_FILE_SLICE_MAX), (UINT64_MAX >> 30) + 1);
  assert_int_equal(st_file_slices(5, 0), 0);
  assert_int_equal(st_file_blocks(0), 0);
  assert_int_equal(st_file_blocks(1), 1);
  assert_int_equal(st_file_blocks(B), 1);
  assert_int_equal(st_file_blocks(B + 1), 2);
  assert_int_equal(st_file_blocks(ST_FILE_SLICE_MAX), 4096);
  assert_int_equal(st_file_blocks(UINT64_MAX), UINT32_MAX);
}

static void test_slice_sizes(void **state) {
  (void)state;
  static const uint32_t bad[] = {0, 1, ST_FILE_BLOCK - 1, ST_FILE_BLOCK + 1,
                                 3 * ST_FILE_BLOCK / 2, ST_FILE_SLICE_MAX + ST_FILE_BLOCK,
                                 ST_FILE_SLICE_MAX - 1, UINT32_MAX,
                                 UINT32_MAX / ST_FILE_BLOCK * ST_FILE_BLOCK};
  static const uint32_t good[] = {ST_FILE_SLICE_MIN, 2 * ST_FILE_BLOCK, 3 * ST_FILE_BLOCK,
                                  ST_FILE_SLICE_DEFAULT, ST_FILE_SLICE_MAX};
  uint8_t one[1][ST_HASH_LEN] = {{0}}, root[ST_HASH_LEN];
  st_file_hasher_t *h = NULL;

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(st_file_hasher_new(bad[i], NULL, NULL, &h), ST_EINVAL);
    assert_int_equal(st_file_root(0, bad[i], NULL, 0, root), ST_EINVAL);
  }
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    assert_int_equal(st_file_hasher_new(good[i], NULL, NULL, &h), 0);
    st_file_hasher_free(h);
    assert_int_equal(st_file_root(0, good[i], NULL, 0, root), 0);
    assert_int_equal(st_file_root(1, good[i], (const uint8_t(*)[32])one, 1, root), 0);
  }
  assert_int_equal(st_file_hasher_new(ST_FILE_SLICE_MIN, NULL, NULL, NULL), ST_EINVAL);
  /* The slice count must be the one size and slice size give. */
  assert_int_equal(st_file_root(0, ST_FILE_SLICE_MIN, (const uint8_t(*)[32])one, 1, root),
                   ST_EINVAL);
  assert_int_equal(st_file_root(1, ST_FILE_SLICE_MIN, NULL, 0, root), ST_EINVAL);
  assert_int_equal(st_file_root(B + 1, ST_FILE_SLICE_MIN, (const uint8_t(*)[32])one, 1, root),
                   ST_EINVAL);
  assert_int_equal(st_file_root(1, ST_FILE_SLICE_MIN, NULL, 1, root), ST_EINVAL);
  assert_int_equal(st_file_root(1, ST_FILE_SLICE_MIN, (const uint8_t(*)[32])one, 1, NULL),
                   ST_EINVAL);
}

/* The two smallest files written out with no helper but the primitives. */
static void test_formula_spelled_out(void **state) {
  (void)state;
  uint8_t pre[59], leaf[32], want[32], got[32];
  uint8_t byte = 0x5a;
  st_file_hasher_t *h;
  uint64_t size, ns;

  /* 0 bytes: no slice, the empty slices root H(LEAF, ""). */
  memcpy(pre, "stratos-file-v1", 15);
  memset(pre + 15, 0, 8);
  memcpy(pre + 23, "\x00\x04\x00\x00", 4); /* 256 KiB */
  st_hash(ST_DOM_MERKLE_LEAF, "", 0, pre + 27);
  st_hash(ST_DOM_FILE, pre, sizeof pre, want);
  assert_int_equal(st_file_hasher_new(ST_FILE_BLOCK, NULL, NULL, &h), 0);
  assert_int_equal(st_file_hasher_final(h, &size, got, &ns), 0);
  assert_int_equal(size, 0);
  assert_int_equal(ns, 0);
  assert_memory_equal(got, want, 32);
  st_file_hasher_free(h);

  /* 1 byte: one slice of one block, whose root is the block hash, and
   * the root of that one slice root is itself. */
  st_merkle_leaf(&byte, 1, leaf);
  memcpy(pre + 15, "\x00\x00\x00\x00\x00\x00\x00\x01", 8);
  memcpy(pre + 27, leaf, 32);
  st_hash(ST_DOM_FILE, pre, sizeof pre, want);
  assert_int_equal(st_file_hasher_new(ST_FILE_BLOCK, NULL, NULL, &h), 0);
  assert_int_equal(st_file_hasher_update(h, &byte, 1), 0);
  assert_int_equal(st_file_hasher_final(h, &size, got, &ns), 0);
  assert_int_equal(size, 1);
  assert_int_equal(ns, 1);
  assert_memory_equal(got, want, 32);
  assert_memory_equal(st_file_hasher_slice_root(h, 0), leaf, 32);
  st_file_hasher_free(h);
}

/* Hand-built roots against the hasher fed in one piece, and the slice
 * roots it keeps against st_file_root. */
static void test_hand_built(void **state) {
  (void)state;
  static const struct {
    size_t size;
    uint32_t ss;
  } cases[] = {
    {0, ST_FILE_BLOCK},           {1, ST_FILE_BLOCK},
    {B - 1, ST_FILE_BLOCK},       {B, ST_FILE_BLOCK}, /* exactly one slice */
    {B + 1, ST_FILE_BLOCK},       /* one slice and 1 byte */
    {3 * B + 100, ST_FILE_BLOCK}, /* several, short last */
    {8 * B, ST_FILE_BLOCK},       {2 * B, 2 * ST_FILE_BLOCK},
    {2 * B + 1, 2 * ST_FILE_BLOCK}, {5 * B + 7, 2 * ST_FILE_BLOCK},
    {7 * B - 1, 3 * ST_FILE_BLOCK}, {3 * B, ST_FILE_SLICE_DEFAULT},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    size_t n = cases[c].size;
    uint32_t ss = cases[c].ss;
    uint8_t *d = pattern(n), want[32], got[32], again[32];
    uint8_t (*roots)[32];
    rec_t ref, r;
    uint64_t ns;

    reference(d, n, ss, &ref, want);
    stream(d, n, ss, n ? n : 1, 0, &r, got, &ns);
    assert_memory_equal(got, want, 32);
    rec_assert_equal(&r, &ref);
    assert_int_equal(ns, st_file_slices(n, ss));
    for (size_t i = 0; i < r.n; i++) {
      uint64_t len = i + 1 < r.n ? ss : n - i * ss;
      assert_int_equal(r.s[i].len, len);
      assert_int_equal(r.s[i].nblocks, st_file_blocks(len));
    }
    roots = malloc(r.n * 32 + 1);
    assert_non_null(roots);
    for (size_t i = 0; i < r.n; i++)
      memcpy(roots[i], r.s[i].root, 32);
    assert_int_equal(st_file_root(n, ss, (const uint8_t(*)[32])roots, r.n, again), 0);
    assert_memory_equal(again, want, 32);
    free(roots);
    rec_clear(&ref);
    rec_clear(&r);
    free(d);
  }
}

/* Roots computed by a separate program (hashlib.blake2b, digest 32, over
 * the same pattern), so that the format cannot drift with the code. */
static void test_known_answers(void **state) {
  (void)state;
  static const struct {
    size_t size;
    uint32_t ss;
    const char *id;
  } kat[] = {
    {0, ST_FILE_BLOCK, "58f7681e4b517a368b45c8471bdf44f5f58e9385012fad6d96e5ce3cad157129"},
    {0, ST_FILE_SLICE_DEFAULT, "52c7bc6ce592b9881b3516ccf141c81247e7f32be9212577333c81e270b3d33d"},
    {1, ST_FILE_BLOCK, "4fe6d214345117ad33a4d3a04f40d9fe6e3e685f678e23dc9cdd9c2efb768e8a"},
    {3 * B + 5, 2 * ST_FILE_BLOCK,
     "e58fbcdae65ca1524834cd6c75ed46c180ec07fe22c0ae5b4be4d9044110d3ae"},
    {5 * B + 1, ST_FILE_BLOCK, "6f43cdf5ed56c423e52b58eac06cac41bab440954c8f93343ebdfc1d49302c6c"},
    {4 * B, 4 * ST_FILE_BLOCK, "11f5b72b6d9ad0bfc9f8de5a9a14d59c211badce477bd6c0463208c0059e56d5"},
  };
  for (size_t c = 0; c < sizeof kat / sizeof kat[0]; c++) {
    uint8_t *d = pattern(kat[c].size), root[32];
    char id[ST_FILE_ID_LEN + 1];

    root_of(d, kat[c].size, kat[c].ss, root);
    st_file_id(root, id);
    assert_string_equal(id, kat[c].id);
    free(d);
  }
}

/* Every way of cutting the bytes gives the same root and the same
 * on_slice calls as the hand-built reference. */
static void test_pieces(void **state) {
  (void)state;
  static const size_t sizes[] = {0,     1,         B - 1,     B,         B + 1,
                                 2 * B, 2 * B + 1, 3 * B + 100, 5 * B + 1};
  static const uint32_t slices[] = {ST_FILE_BLOCK, 2 * ST_FILE_BLOCK, ST_FILE_SLICE_DEFAULT};
  static const size_t fixed[] = {1, 7, 4096, 300000, 0, 0, 0};
  uint8_t *d = pattern(5 * B + 1);

  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    for (size_t j = 0; j < sizeof slices / sizeof slices[0]; j++) {
      uint8_t want[32], got[32];
      rec_t ref;

      reference(d, sizes[i], slices[j], &ref, want);
      for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) {
        rec_t r;
        uint64_t ns;

        stream(d, sizes[i], slices[j], fixed[k], 1000 * i + 10 * j + k, &r, got, &ns);
        assert_memory_equal(got, want, 32);
        rec_assert_equal(&r, &ref);
        rec_clear(&r);
      }
      rec_clear(&ref);
    }
  }
  free(d);
}

/* Size and layout are both committed: a byte more or less, or the same
 * bytes under another slice size, changes the root. */
static void test_roots_differ(void **state) {
  (void)state;
  static const size_t sizes[] = {0, 1, 2, B - 1, B, B + 1, 2 * B, 2 * B + 1, 4 * B};
  static const uint32_t slices[] = {ST_FILE_BLOCK, 2 * ST_FILE_BLOCK, 4 * ST_FILE_BLOCK,
                                    ST_FILE_SLICE_DEFAULT};
  enum { NS = sizeof sizes / sizeof sizes[0], NL = sizeof slices / sizeof slices[0] };
  uint8_t roots[2 * NS * NL][32];
  uint8_t *d = pattern(4 * B), *z = calloc(1, 4 * B);
  size_t k = 0;

  assert_non_null(z);
  for (size_t i = 0; i < NS; i++) {
    for (size_t j = 0; j < NL; j++) {
      root_of(d, sizes[i], slices[j], roots[k++]);
      /* All zeros: only the size tells 255 zero bytes from 256. */
      root_of(z, sizes[i], slices[j], roots[k++]);
    }
  }
  for (size_t a = 0; a < k; a++) {
    for (size_t b = a + 1; b < k; b++) {
      /* The pattern starts with a zero byte, so its first byte (and the
       * empty file) is the same file as the zeros of that size. */
      if (a / 2 == b / 2 && memcmp(d, z, sizes[a / (2 * NL)]) == 0)
        continue;
      assert_memory_not_equal(roots[a], roots[b], 32);
    }
  }
  free(d);
  free(z);
}

/* Two blocks as two 1-block slices or one 2-block slice share their
 * slices root, NODE(b0, b1); only the slice size in the preimage keeps
 * the two file roots apart. */
static void test_slice_size_committed(void **state) {
  (void)state;
  uint8_t *d = pattern(2 * B), b[2][32], node[32], want1[32], want2[32], r1[32], r2[32];

  st_merkle_leaf(d, B, b[0]);
  st_merkle_leaf(d + B, B, b[1]);
  st_merkle_parent(b[0], b[1], node);
  formula_root(2 * B, ST_FILE_BLOCK, node, want1);
  formula_root(2 * B, 2 * ST_FILE_BLOCK, node, want2);
  root_of(d, 2 * B, ST_FILE_BLOCK, r1);
  root_of(d, 2 * B, 2 * ST_FILE_BLOCK, r2);
  assert_memory_equal(r1, want1, 32);
  assert_memory_equal(r2, want2, 32);
  assert_memory_not_equal(r1, r2, 32);
  free(d);
}

static void test_ids(void **state) {
  (void)state;
  uint8_t root[32], back[32], keep[32];
  char id[ST_FILE_ID_LEN + 1], up[ST_FILE_ID_LEN + 1], mixed[ST_FILE_ID_LEN + 1];
  char buf[80];

  for (int i = 0; i < 32; i++)
    root[i] = (uint8_t)(i * 37 + 0xa5);
  st_file_id(root, id);
  assert_int_equal(strlen(id), ST_FILE_ID_LEN);
  for (int i = 0; i < ST_FILE_ID_LEN; i++) {
    assert_true((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'));
    up[i] = (id[i] >= 'a') ? (char)(id[i] - 'a' + 'A') : id[i];
    mixed[i] = (i % 2) ? up[i] : id[i];
  }
  up[ST_FILE_ID_LEN] = mixed[ST_FILE_ID_LEN] = '\0';
  assert_int_equal(st_file_id_parse(id, back), 0);
  assert_memory_equal(back, root, 32);
  memset(back, 0, 32);
  assert_int_equal(st_file_id_parse(up, back), 0);
  assert_memory_equal(back, root, 32);
  memset(back, 0, 32);
  assert_int_equal(st_file_id_parse(mixed, back), 0);
  assert_memory_equal(back, root, 32);

  /* Refusals leave the output as it was. */
  memset(keep, 0x77, 32);
  memcpy(back, keep, 32);
  memcpy(buf, id, 63);
  buf[63] = '\0';
  assert_int_equal(st_file_id_parse(buf, back), ST_EINVAL); /* 63 digits */
  memcpy(buf, id, 64);
  buf[64] = '0';
  buf[65] = '\0';
  assert_int_equal(st_file_id_parse(buf, back), ST_EINVAL); /* 65 digits */
  buf[64] = '\n';
  assert_int_equal(st_file_id_parse(buf, back), ST_EINVAL); /* trailing junk */
  static const char bad_chars[] = {'g', 'G', 'x', ' ', '-', ':', '\n', (char)0xff};
  for (size_t i = 0; i < sizeof bad_chars; i++) {
    for (size_t at = 0; at < 64; at += 21) {
      memcpy(buf, id, 65);
      buf[at] = bad_chars[i];
      assert_int_equal(st_file_id_parse(buf, back), ST_EINVAL);
    }
  }
  memcpy(buf, " ", 1);
  memcpy(buf + 1, id, 64);
  buf[64] = '\0';
  assert_int_equal(st_file_id_parse(buf, back), ST_EINVAL); /* leading space */
  assert_int_equal(st_file_id_parse("", back), ST_EINVAL);
  assert_int_equal(st_file_id_parse("0x", back), ST_EINVAL);
  assert_int_equal(st_file_id_parse(NULL, back), ST_EINVAL);
  assert_int_equal(st_file_id_parse(id, NULL), ST_EINVAL);
  assert_memory_equal(back, keep, 32);
}

static void test_block_check(void **state) {
  (void)state;
  /* One byte past the file, for the lengthened last block. */
  uint8_t *d = pattern(2 * B + 1001), blocks[3][32];

  st_merkle_leaf(d, B, blocks[0]);
  st_merkle_leaf(d + B, B, blocks[1]);
  st_merkle_leaf(d + 2 * B, 1000, blocks[2]);
  const uint8_t (*bl)[32] = (const uint8_t(*)[32])blocks;
  assert_int_equal(st_file_block_check(d, B, 0, bl, 3), 0);
  assert_int_equal(st_file_block_check(d + B, B, 1, bl, 3), 0);
  assert_int_equal(st_file_block_check(d + 2 * B, 1000, 2, bl, 3), 0);
  /* A block at another index, a shortened or lengthened block. */
  assert_int_equal(st_file_block_check(d, B, 1, bl, 3), ST_ECORRUPT);
  assert_int_equal(st_file_block_check(d + 2 * B, 999, 2, bl, 3), ST_ECORRUPT);
  assert_int_equal(st_file_block_check(d + 2 * B, 1001, 2, bl, 3), ST_ECORRUPT);
  /* One flipped bit anywhere. */
  for (size_t at = 0; at < B; at += B / 8 - 1) {
    d[at] ^= 0x01;
    assert_int_equal(st_file_block_check(d, B, 0, bl, 3), ST_ECORRUPT);
    d[at] ^= 0x01;
  }
  d[2 * B + 999] ^= 0x80;
  assert_int_equal(st_file_block_check(d + 2 * B, 1000, 2, bl, 3), ST_ECORRUPT);
  d[2 * B + 999] ^= 0x80;
  /* Arguments out of range. */
  assert_int_equal(st_file_block_check(d, B, 3, bl, 3), ST_EINVAL);
  assert_int_equal(st_file_block_check(d, B, UINT32_MAX, bl, 3), ST_EINVAL);
  assert_int_equal(st_file_block_check(d, B, 0, bl, 0), ST_EINVAL);
  assert_int_equal(st_file_block_check(d, 0, 0, bl, 3), ST_EINVAL);
  assert_int_equal(st_file_block_check(d, B + 1, 0, bl, 3), ST_EINVAL);
  assert_int_equal(st_file_block_check(NULL, B, 0, bl, 3), ST_EINVAL);
  assert_int_equal(st_file_block_check(d, B, 0, NULL, 3), ST_EINVAL);
  free(d);
}

/* A slice refused by on_slice stops the hasher: that code comes back,
 * no later slice is reported, and the hasher keeps refusing. */
static void test_callback_stops(void **state) {
  (void)state;
  size_t n = 4 * B + 5;
  uint8_t *d = pattern(n), root[32];
  st_file_hasher_t *h;
  rec_t r;
  uint64_t size, ns;

  /* Refused during update: slice 1 closes inside the one big piece. */
  memset(&r, 0, sizeof r);
  r.fail_at = 1;
  r.fail_rc = ST_EIO;
  assert_int_equal(st_file_hasher_new(ST_FILE_BLOCK, on_slice, &r, &h), 0);
  assert_int_equal(st_file_hasher_update(h, d, n), ST_EIO);
  assert_int_equal(r.n, 2);
  assert_int_equal(st_file_hasher_update(h, d, 1), ST_EIO);
  assert_int_equal(st_file_hasher_update(h, d, 0), ST_EIO);
  assert_int_equal(st_file_hasher_final(h, &size, root, &ns), ST_EIO);
  assert_int_equal(r.n, 2);
  st_file_hasher_free(h);
  rec_clear(&r);

  /* Refused in final, for the short last slice; any non-zero code. */
  memset(&r, 0, sizeof r);
  r.fail_at = 4;
  r.fail_rc = 7;
  assert_int_equal(st_file_hasher_new(ST_FILE_BLOCK, on_slice, &r, &h), 0);
  assert_int_equal(st_file_hasher_update(h, d, n), 0);
  assert_int_equal(r.n, 4);
  assert_int_equal(st_file_hasher_final(h, &size, root, &ns), 7);
  assert_int_equal(r.n, 5);
  assert_int_equal(r.s[4].len, 5);
  assert_int_equal(st_file_hasher_final(h, &size, root, &ns), 7);
  st_file_hasher_free(h);
  rec_clear(&r);

  /* A file that ends on a slice boundary reports its last slice in
   * update, so a refusal of it comes from update, and final adds none. */
  memset(&r, 0, sizeof r);
  r.fail_at = 1;
  r.fail_rc = ST_EFULL;
  assert_int_equal(st_file_hasher_new(ST_FILE_BLOCK, on_slice, &r, &h), 0);
  assert_int_equal(st_file_hasher_update(h, d, B), 0);
  assert_int_equal(st_file_hasher_update(h, d + B, B), ST_EFULL);
  assert_int_equal(st_file_hasher_final(h, &size, root, &ns), ST_EFULL);
  assert_int_equal(r.n, 2);
  st_file_hasher_free(h);
  rec_clear(&r);
  free(d);
}

static void test_use_after_final(void **state) {
  (void)state;
  uint8_t *d = pattern(B + 3), root[32], again[32], roots[2][32];
  st_file_hasher_t *h;
  uint64_t size = 0, ns = 0;

  assert_int_equal(st_file_hasher_new(ST_FILE_BLOCK, NULL, NULL, &h), 0);
  assert_int_equal(st_file_hasher_update(h, NULL, 0), 0);
  assert_int_equal(st_file_hasher_update(h, NULL, 1), ST_EINVAL);
  assert_int_equal(st_file_hasher_update(NULL, d, 1), ST_EINVAL);
  assert_int_equal(st_file_hasher_update(h, d, B + 3), 0);
  /* A final refused for its arguments leaves the hasher usable. */
  assert_int_equal(st_file_hasher_final(h, &size, NULL, &ns), ST_EINVAL);
  assert_int_equal(st_file_hasher_final(NULL, &size, root, &ns), ST_EINVAL);
  assert_int_equal(st_file_hasher_final(h, NULL, root, NULL), 0);
  assert_int_equal(st_file_hasher_update(h, d, 1), ST_EINVAL);
  assert_int_equal(st_file_hasher_update(h, d, 0), ST_EINVAL);
  assert_int_equal(st_file_hasher_final(h, &size, again, &ns), ST_EINVAL);
  /* The slice roots stay readable. */
  assert_non_null(st_file_hasher_slice_root(h, 0));
  assert_non_null(st_file_hasher_slice_root(h, 1));
  assert_null(st_file_hasher_slice_root(h, 2));
  assert_null(st_file_hasher_slice_root(h, UINT64_MAX));
  assert_null(st_file_hasher_slice_root(NULL, 0));
  memcpy(roots[0], st_file_hasher_slice_root(h, 0), 32);
  memcpy(roots[1], st_file_hasher_slice_root(h, 1), 32);
  assert_int_equal(st_file_root(B + 3, ST_FILE_BLOCK, (const uint8_t(*)[32])roots, 2, again), 0);
  assert_memory_equal(again, root, 32);
  st_file_hasher_free(h);
  st_file_hasher_free(NULL);
  free(d);
}

/* A file of many slices, larger than the pieces and the slice size: the
 * slice lengths add up and the slice roots list grows. */
static void test_many_slices(void **state) {
  (void)state;
  size_t n = 40 * B + 17;
  uint8_t *d = pattern(n), want[32], got[32];
  rec_t ref, r;
  uint64_t ns;

  reference(d, n, ST_FILE_BLOCK, &ref, want);
  stream(d, n, ST_FILE_BLOCK, 0, 42, &r, got, &ns);
  assert_int_equal(ns, 41);
  assert_memory_equal(got, want, 32);
  rec_assert_equal(&r, &ref);
  rec_clear(&r);
  rec_clear(&ref);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_counts),
    cmocka_unit_test(test_slice_sizes),
    cmocka_unit_test(test_formula_spelled_out),
    cmocka_unit_test(test_hand_built),
    cmocka_unit_test(test_known_answers),
    cmocka_unit_test(test_pieces),
    cmocka_unit_test(test_roots_differ),
    cmocka_unit_test(test_slice_size_committed),
    cmocka_unit_test(test_ids),
    cmocka_unit_test(test_block_check),
    cmocka_unit_test(test_callback_stops),
    cmocka_unit_test(test_use_after_final),
    cmocka_unit_test(test_many_slices),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
