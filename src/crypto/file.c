/* File roots, file ids and the streaming file hasher (see st_file.h for
 * the format).
 *
 * The hasher never copies file bytes: a block hash is
 * st_merkle_leaf(block) = H(ST_DOM_MERKLE_LEAF, block), and BLAKE2b gives
 * the same digest however its input is split, so the current block is fed
 * straight into a streaming hash state. What it holds is that state, the
 * block hashes of the current slice (slice_size / ST_FILE_BLOCK of them)
 * and the roots of the slices done, 32 bytes each.
 *
 * Slice sizes are whole blocks, so a block never straddles two slices: a
 * slice ends exactly when its last block does. Blocks and slices are
 * closed as soon as their last byte arrives, so on_slice runs as early as
 * it can and final never meets an empty trailing slice. */
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stratos/st_bytes.h"
#include "stratos/st_crypto.h"
#include "stratos/st_err.h"
#include "stratos/st_file.h"

_Static_assert(ST_FILE_SLICE_MIN % ST_FILE_BLOCK == 0 && ST_FILE_SLICE_MAX % ST_FILE_BLOCK == 0,
               "slice size bounds must be whole blocks");
_Static_assert(ST_FILE_SLICE_DEFAULT % ST_FILE_BLOCK == 0, "the default slice is whole blocks");

typedef uint8_t hash_t[ST_HASH_LEN];

/* The tag that opens the file root's preimage, without a NUL: it names
 * the format, so a later layout hashes under another name. */
static const char file_tag[] = "stratos-file-v1";
#define FILE_TAG_LEN (sizeof file_tag - 1)
#define FILE_PREIMAGE_LEN (FILE_TAG_LEN + 8 + 4 + ST_HASH_LEN)

static bool slice_size_ok(uint32_t slice_size) {
  return slice_size >= ST_FILE_SLICE_MIN && slice_size <= ST_FILE_SLICE_MAX &&
         slice_size % ST_FILE_BLOCK == 0;
}

uint64_t st_file_slices(uint64_t size, uint32_t slice_size) {
  /* No layout has a zero slice size; answer 0 rather than divide by it. */
  if (slice_size == 0)
    return 0;
  return size / slice_size + (size % slice_size != 0);
}

uint32_t st_file_blocks(uint64_t slice_len) {
  uint64_t n = slice_len / ST_FILE_BLOCK + (slice_len % ST_FILE_BLOCK != 0);

  /* Only lengths far past ST_FILE_SLICE_MAX get here; saturating keeps
   * them from wrapping to a small, plausible count. */
  return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static void put_be(uint8_t *p, uint64_t v, unsigned bytes) {
  for (unsigned i = 0; i < bytes; i++)
    p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

int st_file_root(uint64_t size, uint32_t slice_size, const uint8_t (*slice_roots)[ST_HASH_LEN],
                 size_t nslices, uint8_t root[ST_HASH_LEN]) {
  uint8_t pre[FILE_PREIMAGE_LEN];
  int rc;

  if (root == NULL || !slice_size_ok(slice_size) || (slice_roots == NULL && nslices > 0))
    return ST_EINVAL;
  /* The size and slice size fix the slice count; a list of another length
   * describes no file, and hashing it would give a root nothing matches. */
  if ((uint64_t)nslices != st_file_slices(size, slice_size))
    return ST_EINVAL;
  memcpy(pre, file_tag, FILE_TAG_LEN);
  put_be(pre + FILE_TAG_LEN, size, 8);
  put_be(pre + FILE_TAG_LEN + 8, slice_size, 4);
  rc = st_merkle_root(slice_roots, nslices, pre + FILE_TAG_LEN + 12);
  if (rc != 0)
    return rc;
  st_hash(ST_DOM_FILE, pre, sizeof pre, root);
  return 0;
}

void st_file_id(const uint8_t root[ST_HASH_LEN], char out[ST_FILE_ID_LEN + 1]) {
  if (out == NULL)
    return;
  /* The only failure is a NULL root; leave an empty id, never garbage. */
  if (st_hex_encode(root, ST_HASH_LEN, out, ST_FILE_ID_LEN + 1) != 0)
    out[0] = '\0';
}

int st_file_id_parse(const char *id, uint8_t root[ST_HASH_LEN]) {
  uint8_t tmp[ST_HASH_LEN];
  size_t n;

  /* strnlen bounds the read: an unterminated long input is refused
   * after 65 characters instead of being scanned to its end. */
  if (id == NULL || root == NULL || strnlen(id, ST_FILE_ID_LEN + 1) != ST_FILE_ID_LEN)
    return ST_EINVAL;
  if (st_hex_decode(id, ST_FILE_ID_LEN, tmp, sizeof tmp, &n) != 0 || n != ST_HASH_LEN)
    return ST_EINVAL;
  memcpy(root, tmp, ST_HASH_LEN);
  return 0;
}

/* ---- streaming ---- */

struct st_file_hasher {
  /* First, so that the 64-byte alignment BLAKE2b's state asks for is the
   * struct's own; the struct is allocated with that alignment. */
  st_hash_ctx_t block;
  uint32_t block_len; /* bytes in the current block; 0: none open */
  uint32_t slice_size;
  uint32_t per_slice; /* blocks in a full slice */
  uint32_t nblocks;   /* blocks closed in the current slice */
  hash_t *blocks;     /* per_slice hashes */
  uint64_t slice_len; /* bytes in the current slice */
  uint64_t size;      /* bytes so far */
  hash_t *roots;      /* roots of the slices closed */
  uint64_t nroots, roots_cap;
  st_file_slice_cb on_slice;
  void *ud;
  int err;   /* sticky: the error that stopped the hasher */
  bool done; /* final has succeeded */
};

int st_file_hasher_new(uint32_t slice_size, st_file_slice_cb on_slice, void *ud,
                       st_file_hasher_t **out) {
  st_file_hasher_t *h;

  if (out == NULL || !slice_size_ok(slice_size))
    return ST_EINVAL;
  /* sizeof is a multiple of the alignment, as aligned_alloc wants. */
  h = aligned_alloc(alignof(st_file_hasher_t), sizeof *h);
  if (h == NULL)
    return ST_ENOMEM;
  memset(h, 0, sizeof *h);
  h->slice_size = slice_size;
  h->per_slice = slice_size / ST_FILE_BLOCK;
  h->blocks = malloc((size_t)h->per_slice * sizeof *h->blocks);
  if (h->blocks == NULL) {
    free(h);
    return ST_ENOMEM;
  }
  h->on_slice = on_slice;
  h->ud = ud;
  *out = h;
  return 0;
}

/* Makes room for one more slice root, doubling so that a file of many
 * slices costs amortized O(1) copying per slice. */
static int roots_reserve(st_file_hasher_t *h) {
  uint64_t cap;
  hash_t *p;

  if (h->nroots < h->roots_cap)
    return 0;
  cap = h->roots_cap ? 2 * h->roots_cap : 16;
  if (cap > SIZE_MAX / sizeof *p)
    return ST_E2BIG;
  p = realloc(h->roots, (size_t)cap * sizeof *p);
  if (p == NULL)
    return ST_ENOMEM;
  h->roots = p;
  h->roots_cap = cap;
  return 0;
}

static void block_close(st_file_hasher_t *h) {
  st_hash_final(&h->block, h->blocks[h->nblocks++]);
  h->block_len = 0;
}

/* Roots the current slice, hands it to on_slice and keeps its root. */
static int slice_close(st_file_hasher_t *h) {
  uint8_t *root;
  int rc;

  rc = roots_reserve(h);
  if (rc != 0)
    return rc;
  root = h->roots[h->nroots];
  rc = st_merkle_root((const hash_t *)h->blocks, h->nblocks, root);
  if (rc != 0)
    return rc;
  if (h->on_slice != NULL) {
    rc = h->on_slice(h->ud, h->nroots, h->slice_len, root, (const hash_t *)h->blocks,
                     h->nblocks);
    if (rc != 0)
      return rc;
  }
  h->nroots++;
  h->nblocks = 0;
  h->slice_len = 0;
  return 0;
}

/* Whether the hasher still takes input; *rc gets why not. */
static bool usable(const st_file_hasher_t *h, int *rc) {
  if (h == NULL || h->done) {
    *rc = ST_EINVAL;
    return false;
  }
  *rc = h->err;
  return h->err == 0;
}

/* Feeds bytes up to the end of the current block at most, closing the
 * block, and the slice with it, when they fill it. Returns the count
 * taken, or a negative code through *rc. */
static size_t feed_block(st_file_hasher_t *h, const uint8_t *p, size_t n, int *rc) {
  size_t take = ST_FILE_BLOCK - h->block_len;

  if (take > n)
    take = n;
  if (h->block_len == 0)
    st_hash_init(&h->block, ST_DOM_MERKLE_LEAF);
  st_hash_update(&h->block, p, take);
  h->block_len += (uint32_t)take;
  h->slice_len += take;
  h->size += take;
  *rc = 0;
  if (h->block_len == ST_FILE_BLOCK) {
    block_close(h);
    if (h->nblocks == h->per_slice)
      *rc = slice_close(h);
  }
  return take;
}

int st_file_hasher_update(st_file_hasher_t *h, const void *data, size_t n) {
  const uint8_t *p = data;
  int rc;

  if (!usable(h, &rc))
    return rc;
  if (n == 0)
    return 0;
  if (data == NULL)
    return ST_EINVAL;
  if (n > UINT64_MAX - h->size)
    return ST_E2BIG;
  while (n > 0) {
    size_t took = feed_block(h, p, n, &rc);
    if (rc != 0) {
      h->err = rc;
      return rc;
    }
    p += took;
    n -= took;
  }
  return 0;
}

int st_file_hasher_final(st_file_hasher_t *h, uint64_t *size, uint8_t root[ST_HASH_LEN],
                         uint64_t *nslices) {
  int rc;

  if (!usable(h, &rc))
    return rc;
  if (root == NULL)
    return ST_EINVAL;
  if (h->block_len > 0)
    block_close(h);
  if (h->nblocks > 0)
    rc = slice_close(h);
  if (rc == 0)
    rc = st_file_root(h->size, h->slice_size, (const hash_t *)h->roots, (size_t)h->nroots, root);
  if (rc != 0) {
    h->err = rc;
    return rc;
  }
  h->done = true;
  if (size != NULL)
    *size = h->size;
  if (nslices != NULL)
    *nslices = h->nroots;
  return 0;
}

const uint8_t *st_file_hasher_slice_root(const st_file_hasher_t *h, uint64_t index) {
  if (h == NULL || index >= h->nroots)
    return NULL;
  return h->roots[index];
}

void st_file_hasher_free(st_file_hasher_t *h) {
  if (h == NULL)
    return;
  free(h->blocks);
  free(h->roots);
  free(h);
}

int st_file_block_check(const void *data, size_t len, uint32_t index,
                        const uint8_t (*blocks)[ST_HASH_LEN], uint32_t nblocks) {
  uint8_t h[ST_HASH_LEN];

  if (data == NULL || blocks == NULL || index >= nblocks || len == 0 || len > ST_FILE_BLOCK)
    return ST_EINVAL;
  st_merkle_leaf(data, len, h);
  return memcmp(h, blocks[index], ST_HASH_LEN) == 0 ? 0 : ST_ECORRUPT;
}
