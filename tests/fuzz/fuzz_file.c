/* Fuzzes the streaming file hasher and file id parsing.
 *
 * The input describes a file and how to cut it:
 *   byte 0     slice size (low 2 bits: 1, 2 or 3 blocks, or the default)
 *              and whether on_slice refuses a slice (bit 2; bits 3-7
 *              pick which one)
 *   bytes 1-2  file length: a count of blocks (top 3 bits) plus or minus
 *              up to 4095 bytes, so lengths gather around block and
 *              slice boundaries
 *   byte 3     number of 2-byte piece sizes that follow (used in turn)
 *   the rest   seed of the file's bytes
 * Inputs are short, files are not (up to 8 blocks): the bytes repeat the
 * seed. The hasher's result and every on_slice call must equal a one-shot
 * computation of the same bytes, written from the format's formula.
 *
 * The whole input, as a string, is also given to st_file_id_parse, which
 * must accept exactly the 64-hex-digit strings and give back an id that
 * is the string in lowercase. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stratos/st_crypto.h"
#include "stratos/st_err.h"
#include "stratos/st_file.h"

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      abort();                                                                                     \
  } while (0)

#define B ((size_t)ST_FILE_BLOCK)
#define MAX_LEN (7 * B + 4095)
#define MAX_BLOCKS (MAX_LEN / B + 1)
#define MAX_CALLS 20000
#define FAIL_RC ST_EIO

/* The one-shot reference: every block hash of the file in order, and for
 * each slice its length, root and first block. */
static struct {
  uint8_t blocks[MAX_BLOCKS][ST_HASH_LEN];
  uint8_t roots[MAX_BLOCKS][ST_HASH_LEN];
  uint64_t len[MAX_BLOCKS];
  size_t first[MAX_BLOCKS];
  size_t nslices;
  uint8_t root[ST_HASH_LEN];
} ref;

/* What the stream's on_slice calls are checked against as they come. */
static struct {
  uint64_t calls;
  int fail;
  uint64_t fail_at;
} seen;

static uint8_t file[MAX_LEN];

static void put_be(uint8_t *p, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; i++)
    p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static void reference(size_t n, uint32_t ss) {
  uint8_t pre[15 + 8 + 4 + ST_HASH_LEN];
  size_t nb = 0;

  ref.nslices = 0;
  for (size_t off = 0; off < n; off += ss) {
    size_t slen = n - off < ss ? n - off : ss, first = nb;
    for (size_t b = 0; b < slen; b += B)
      st_merkle_leaf(file + off + b, slen - b < B ? slen - b : B, ref.blocks[nb++]);
    CHECK(st_merkle_root((const uint8_t(*)[ST_HASH_LEN])ref.blocks + first, nb - first,
                         ref.roots[ref.nslices]) == 0);
    ref.len[ref.nslices] = slen;
    ref.first[ref.nslices++] = first;
  }
  memcpy(pre, "stratos-file-v1", 15);
  put_be(pre + 15, n, 8);
  put_be(pre + 23, ss, 4);
  CHECK(st_merkle_root((const uint8_t(*)[ST_HASH_LEN])ref.roots, ref.nslices, pre + 27) == 0);
  st_hash(ST_DOM_FILE, pre, sizeof pre, ref.root);
}

static int on_slice(void *ud, uint64_t index, uint64_t len, const uint8_t root[ST_HASH_LEN],
                    const uint8_t (*blocks)[ST_HASH_LEN], uint32_t nblocks) {
  (void)ud;
  CHECK(index == seen.calls && index < ref.nslices);
  CHECK(len == ref.len[index]);
  CHECK(memcmp(root, ref.roots[index], ST_HASH_LEN) == 0);
  CHECK(nblocks == st_file_blocks(len));
  CHECK(memcmp(blocks, ref.blocks[ref.first[index]], (size_t)nblocks * ST_HASH_LEN) == 0);
  seen.calls++;
  return seen.fail && index == seen.fail_at ? FAIL_RC : 0;
}

/* A piece size from two plan bytes: tiny (0 included), small, around a
 * block, or large. */
static size_t piece(const uint8_t *plan) {
  unsigned v = (unsigned)plan[0] << 8 | plan[1];

  switch (v >> 14) {
  case 0:
    return v & 0xff;
  case 1:
    return v & 0x3fff;
  case 2:
    return B - 128 + (v & 0xff);
  default:
    return (size_t)(v & 0x3fff) * 64;
  }
}

/* Streams the file; returns the first error, or final's result. */
static int stream(size_t n, uint32_t ss, const uint8_t *plan, size_t nplan) {
  st_file_hasher_t *h;
  uint8_t root[ST_HASH_LEN];
  uint64_t size, ns;
  size_t off = 0, calls = 0;
  int rc = 0;

  CHECK(st_file_hasher_new(ss, on_slice, NULL, &h) == 0);
  while (off < n && rc == 0) {
    size_t k = n - off;
    if (nplan > 0 && calls < MAX_CALLS) {
      size_t p = piece(plan + 2 * (calls % nplan));
      k = p < k ? p : k;
    }
    rc = st_file_hasher_update(h, file + off, k);
    off += k;
    calls++;
  }
  if (rc == 0)
    rc = st_file_hasher_final(h, &size, root, &ns);
  if (rc == 0) {
    CHECK(size == n && ns == ref.nslices);
    CHECK(memcmp(root, ref.root, ST_HASH_LEN) == 0);
    for (size_t i = 0; i < ns; i++)
      CHECK(memcmp(st_file_hasher_slice_root(h, i), ref.roots[i], ST_HASH_LEN) == 0);
    CHECK(st_file_hasher_slice_root(h, ns) == NULL);
    CHECK(st_file_root(n, ss, (const uint8_t(*)[ST_HASH_LEN])ref.roots, ns, root) == 0);
    CHECK(memcmp(root, ref.root, ST_HASH_LEN) == 0);
    CHECK(st_file_hasher_update(h, file, 1) == ST_EINVAL);
  } else {
    /* Stopped: later calls keep failing the same way. */
    CHECK(st_file_hasher_update(h, file, 1) == rc);
    CHECK(st_file_hasher_final(h, &size, root, &ns) == rc);
  }
  st_file_hasher_free(h);
  return rc;
}

/* The seed repeated over n bytes, each KiB marked with its number so
 * that blocks differ. Copies and a mark per KiB rather than a loop per
 * byte, which under the fuzzer's instrumentation would cost more than the
 * hashing. */
static void fill(size_t n, const uint8_t *seed, size_t nseed) {
  size_t have;

  if (n == 0)
    return;
  if (nseed == 0) {
    memset(file, 0, n);
  } else {
    have = nseed < n ? nseed : n;
    memcpy(file, seed, have);
    while (have < n) {
      size_t k = have < n - have ? have : n - have;
      memcpy(file + have, file, k);
      have += k;
    }
  }
  for (size_t i = 0; i < n; i += 1024) {
    file[i] ^= (uint8_t)(i >> 10);
    if (i + 1 < n)
      file[i + 1] ^= (uint8_t)(i >> 18);
  }
}

static void fuzz_hasher(const uint8_t *data, size_t size) {
  static const uint32_t slices[] = {ST_FILE_BLOCK, 2 * ST_FILE_BLOCK, 3 * ST_FILE_BLOCK,
                                    ST_FILE_SLICE_DEFAULT};
  const uint8_t *plan, *seed;
  size_t n, nplan, nseed;
  unsigned v;
  uint32_t ss;
  int rc;

  if (size < 4)
    return;
  ss = slices[data[0] & 3];
  v = (unsigned)data[1] << 8 | data[2];
  n = (v >> 13) * B;
  if (v & 0x1000)
    n = n > (v & 0xfff) ? n - (v & 0xfff) : 0;
  else
    n += v & 0xfff;
  nplan = data[3];
  if (2 * nplan > size - 4)
    nplan = (size - 4) / 2;
  plan = data + 4;
  seed = plan + 2 * nplan;
  nseed = size - 4 - 2 * nplan;
  fill(n, seed, nseed);

  reference(n, ss);
  seen.calls = 0;
  seen.fail = (data[0] & 4) != 0;
  seen.fail_at = data[0] >> 3;
  rc = stream(n, ss, plan, nplan);
  if (seen.fail && seen.fail_at < ref.nslices) {
    CHECK(rc == FAIL_RC && seen.calls == seen.fail_at + 1);
  } else {
    CHECK(rc == 0 && seen.calls == ref.nslices);
  }
  if (n > 0)
    CHECK(st_file_block_check(file, n < B ? n : B, 0,
                              (const uint8_t(*)[ST_HASH_LEN])ref.blocks, 1) == 0);
}

static int hex_digit_ok(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static void check_id(const char *s) {
  char id[ST_FILE_ID_LEN + 1];
  uint8_t root[ST_HASH_LEN];
  size_t len = strlen(s);
  int valid;

  valid = len == ST_FILE_ID_LEN;
  for (size_t i = 0; valid && i < len; i++)
    valid = hex_digit_ok(s[i]);
  if (st_file_id_parse(s, root) != 0) {
    CHECK(!valid);
    return;
  }
  CHECK(valid);
  st_file_id(root, id);
  for (size_t i = 0; i < ST_FILE_ID_LEN; i++)
    CHECK(id[i] == ((s[i] >= 'A' && s[i] <= 'F') ? s[i] - 'A' + 'a' : s[i]));
  CHECK(id[ST_FILE_ID_LEN] == '\0');
}

/* The input as a string; then, since a short input rarely spells 64 hex
 * digits, a string of 60 to 67 characters (the first byte's choice) made
 * of the input's bytes mapped onto hex digits of both cases, repeated,
 * where bytes with the top bit set pass through unmapped. */
static void fuzz_id(const uint8_t *data, size_t size) {
  static const char digits[] = "0123456789abcdefABCDEF";
  char s[ST_FILE_ID_LEN + 8];
  size_t len;

  len = size < sizeof s - 1 ? size : sizeof s - 1;
  memcpy(s, data, len);
  s[len] = '\0';
  check_id(s);
  if (size < 2)
    return;
  len = ST_FILE_ID_LEN - 4 + data[0] % 8;
  for (size_t i = 0; i < len; i++) {
    uint8_t b = data[1 + i % (size - 1)];
    s[i] = (b & 0x80) ? (char)b : digits[b % 22];
  }
  s[len] = '\0';
  check_id(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_id(data, size);
  fuzz_hasher(data, size);
  return 0;
}
