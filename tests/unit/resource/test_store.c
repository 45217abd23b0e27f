/* Unit tests of the resource node's slice store: slices written and read
 * back, every refusal leaving nothing behind, leftovers of crashes swept
 * at open, corruption found by reads and by the scrub, references, usage,
 * what survives a writer killed with SIGKILL before or after its commit,
 * the time stamps, flush before commit, one live writer per slice, drops
 * and the garbage collection's listing. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include "test_tmp.h"
#include <sodium.h>

#include <stratos/st_bytes.h>
#include <stratos/st_crypto.h>
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_store.h>

#include "resource/store.h"

#define BLK ((uint64_t)ST_FILE_BLOCK)

/* ---- slices made for the tests ---- */

typedef struct slice {
  uint8_t *data;
  uint64_t size;
  uint32_t nblocks;
  uint8_t (*blocks)[ST_HASH_LEN];
  uint8_t root[ST_HASH_LEN];
} slice_t;

static size_t blen(const slice_t *sl, uint32_t i) {
  return i + 1 < sl->nblocks ? ST_FILE_BLOCK : (size_t)(sl->size - (uint64_t)i * BLK);
}

/* size random bytes, their block hashes and root, computed here from
 * st_crypto.h alone (as st_file.h defines them). */
static void slice_make(slice_t *sl, uint64_t size) {
  sl->size = size;
  sl->nblocks = (uint32_t)((size + BLK - 1) / BLK);
  sl->data = malloc(size);
  sl->blocks = malloc((size_t)sl->nblocks * ST_HASH_LEN);
  assert_non_null(sl->data);
  assert_non_null(sl->blocks);
  randombytes_buf(sl->data, size);
  for (uint32_t i = 0; i < sl->nblocks; i++)
    st_merkle_leaf(sl->data + i * BLK, blen(sl, i), sl->blocks[i]);
  assert_int_equal(st_merkle_root((const uint8_t(*)[ST_HASH_LEN])sl->blocks, sl->nblocks,
                                  sl->root),
                   0);
}

static void slice_free(slice_t *sl) {
  free(sl->data);
  free(sl->blocks);
}

static int begin(st_slice_store_t *s, const slice_t *sl, st_slice_writer_t **w) {
  return st_slice_write_begin(s, sl->root, sl->size, (const uint8_t(*)[ST_HASH_LEN])sl->blocks,
                              sl->nblocks, w);
}

static void write_blocks(st_slice_writer_t *w, const slice_t *sl, uint32_t from, uint32_t to) {
  for (uint32_t i = from; i < to; i++)
    assert_int_equal(st_slice_write_block(w, sl->data + i * BLK, blen(sl, i)), 0);
}

static void store_slice(st_slice_store_t *s, const slice_t *sl) {
  st_slice_writer_t *w;

  assert_int_equal(begin(s, sl, &w), 0);
  write_blocks(w, sl, 0, sl->nblocks);
  assert_int_equal(st_slice_write_commit(w), 0);
}

static void assert_reads_back(st_slice_store_t *s, const slice_t *sl) {
  uint8_t *buf = malloc(ST_FILE_BLOCK);
  size_t len;

  assert_non_null(buf);
  for (uint32_t i = 0; i < sl->nblocks; i++) {
    len = 0;
    assert_int_equal(st_slice_read_block(s, sl->root, i, buf, &len), 0);
    assert_int_equal(len, blen(sl, i));
    assert_memory_equal(buf, sl->data + i * BLK, len);
  }
  assert_int_equal(st_slice_read_block(s, sl->root, sl->nblocks, buf, &len), ST_ERANGE);
  free(buf);
}

/* ---- fixture: an LMDB store and a slice store in a temporary home ---- */

typedef struct fix {
  char home[PATH_MAX];
  char db[PATH_MAX + 8];
  char slices[PATH_MAX + 16];
  st_store_t *st;
  st_slice_store_t *s;
} fix_t;

static void fix_open(fix_t *f) {
  st_store_opts_t o = {.map_size = 64u << 20, .no_sync = true};

  assert_int_equal(st_store_open(f->db, &o, &f->st), 0);
  assert_int_equal(st_slice_store_open(f->slices, f->st, &f->s), 0);
}

static void fix_close(fix_t *f) {
  st_slice_store_close(f->s);
  st_store_close(f->st);
  f->s = NULL;
  f->st = NULL;
}

static void fix_reopen(fix_t *f) {
  fix_close(f);
  fix_open(f);
}

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof(*f));

  assert_non_null(f);
  st_test_tmpdir(f->home, sizeof(f->home), "resource");
  snprintf(f->db, sizeof(f->db), "%s/db", f->home);
  /* Two levels the store must create itself. */
  snprintf(f->slices, sizeof(f->slices), "%s/data/slices", f->home);
  assert_int_equal(mkdir(f->db, 0700), 0);
  fix_open(f);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;

  fix_close(f);
  assert_int_equal(st_test_rm_tree(f->home), 0);
  free(f);
  return 0;
}

/* ---- looking at the tree ---- */

static void path_of(const fix_t *f, const uint8_t root[ST_HASH_LEN], const char *suffix,
                    char *out, size_t cap) {
  char hex[2 * ST_HASH_LEN + 1];

  assert_int_equal(st_hex_encode(root, ST_HASH_LEN, hex, sizeof(hex)), 0);
  assert_true((size_t)snprintf(out, cap, "%s/%.2s/%.2s/%s.slice%s", f->slices, hex, hex + 2,
                               hex, suffix) < cap);
}

static int g_files;

static int count_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)path;
  (void)sb;
  (void)ftw;
  if (flag == FTW_F)
    g_files++;
  return 0;
}

/* Regular files anywhere under the slices directory. */
static int count_files(const fix_t *f) {
  g_files = 0;
  assert_int_equal(nftw(f->slices, count_cb, 16, FTW_PHYS), 0);
  return g_files;
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static void assert_usage(fix_t *f, uint64_t bytes, uint64_t slices) {
  uint64_t b = 1, n = 1;

  st_slice_usage(f->s, &b, &n);
  assert_int_equal(b, bytes);
  assert_int_equal(n, slices);
}

/* No record, no file, no temporary file, nothing counted. */
static void assert_nothing_left(fix_t *f, const slice_t *sl) {
  st_slice_info_t info;

  assert_int_equal(st_slice_info(f->s, sl->root, &info, NULL), ST_ENOENT);
  assert_int_equal(count_files(f), 0);
  assert_usage(f, 0, 0);
}

static void flip_byte(const char *path, uint64_t off) {
  int fd = open(path, O_RDWR | O_CLOEXEC);
  uint8_t b;

  assert_true(fd >= 0);
  assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
  b ^= 0x40;
  assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
  close(fd);
}

static void write_file(const char *path, const void *p, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  assert_true(fd >= 0);
  assert_int_equal(write(fd, p, n), (ssize_t)n);
  close(fd);
}

static int64_t wall_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- writing and reading ---- */

static void test_multi_block_roundtrip(void **state) {
  fix_t *f = *state;
  uint8_t(*blocks)[ST_HASH_LEN] = NULL;
  char path[PATH_MAX + 128], dir[PATH_MAX + 128];
  st_slice_info_t info;
  struct stat st;
  slice_t sl;
  int64_t before = wall_ms();

  slice_make(&sl, 3 * BLK + BLK / 2);
  assert_int_equal(sl.nblocks, 4);
  store_slice(f->s, &sl);

  assert_int_equal(st_slice_info(f->s, sl.root, &info, &blocks), 0);
  assert_memory_equal(info.root, sl.root, ST_HASH_LEN);
  assert_int_equal(info.size, sl.size);
  assert_int_equal(info.nblocks, 4);
  assert_int_equal(info.refs, 1);
  assert_false(info.corrupt);
  /* Every block was checked on its way in: the slice counts as verified. */
  assert_true(info.last_verified_ms >= before && info.last_verified_ms <= wall_ms());
  assert_non_null(blocks);
  assert_memory_equal(blocks, sl.blocks, 4 * ST_HASH_LEN);
  free(blocks);
  assert_reads_back(f->s, &sl);

  /* One file, named by the root and fanned out by its first two bytes,
   * private to the node; no temporary file. */
  path_of(f, sl.root, "", path, sizeof(path));
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, sl.size);
  assert_int_equal(st.st_mode & 0777, 0600);
  snprintf(dir, sizeof(dir), "%s", path);
  *strrchr(dir, '/') = '\0';
  assert_int_equal(stat(dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  *strrchr(dir, '/') = '\0';
  assert_int_equal(stat(dir, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  assert_int_equal(count_files(f), 1);
  assert_usage(f, sl.size, 1);

  /* Still there, and not taken for an orphan, after a reopen. */
  fix_reopen(f);
  assert_reads_back(f->s, &sl);
  assert_usage(f, sl.size, 1);
  slice_free(&sl);
}

static void test_single_block_slices(void **state) {
  fix_t *f = *state;
  st_slice_info_t info;
  slice_t small, full;

  slice_make(&small, 1000);
  assert_int_equal(small.nblocks, 1);
  store_slice(f->s, &small);
  assert_int_equal(st_slice_info(f->s, small.root, &info, NULL), 0);
  assert_int_equal(info.size, 1000);
  assert_int_equal(info.nblocks, 1);
  assert_reads_back(f->s, &small);

  /* Exactly one block: no shorter last block. */
  slice_make(&full, BLK);
  assert_int_equal(full.nblocks, 1);
  store_slice(f->s, &full);
  assert_reads_back(f->s, &full);
  assert_usage(f, 1000 + BLK, 2);
  slice_free(&small);
  slice_free(&full);
}

/* ---- refusals ---- */

static void test_wrong_block(void **state) {
  fix_t *f = *state;
  st_slice_writer_t *w;
  slice_t sl;

  slice_make(&sl, 2 * BLK + 10);
  assert_int_equal(begin(f->s, &sl, &w), 0);
  write_blocks(w, &sl, 0, 1);
  /* Block 0 again where block 1 belongs: same length, wrong hash. */
  assert_int_equal(st_slice_write_block(w, sl.data, ST_FILE_BLOCK), ST_ECORRUPT);
  /* The writer is spoiled and its temporary file already gone. */
  assert_int_equal(count_files(f), 0);
  assert_int_equal(st_slice_write_block(w, sl.data + BLK, ST_FILE_BLOCK), ST_ECORRUPT);
  assert_int_equal(st_slice_write_commit(w), ST_ECORRUPT);
  assert_nothing_left(f, &sl);

  /* A flipped bit inside the right block is caught too. */
  assert_int_equal(begin(f->s, &sl, &w), 0);
  sl.data[5] ^= 1;
  assert_int_equal(st_slice_write_block(w, sl.data, ST_FILE_BLOCK), ST_ECORRUPT);
  sl.data[5] ^= 1;
  st_slice_write_abort(w);
  assert_nothing_left(f, &sl);
  slice_free(&sl);
}

static void test_wrong_length(void **state) {
  fix_t *f = *state;
  st_slice_writer_t *w;
  slice_t sl;

  slice_make(&sl, 2 * BLK + 10);
  /* A short block where a full one belongs. */
  assert_int_equal(begin(f->s, &sl, &w), 0);
  assert_int_equal(st_slice_write_block(w, sl.data, ST_FILE_BLOCK - 1), ST_EINVAL);
  st_slice_write_abort(w);
  assert_nothing_left(f, &sl);

  /* A last block longer than the remainder. */
  assert_int_equal(begin(f->s, &sl, &w), 0);
  write_blocks(w, &sl, 0, 2);
  assert_int_equal(st_slice_write_block(w, sl.data + 2 * BLK, 11), ST_EINVAL);
  assert_int_equal(st_slice_write_commit(w), ST_EINVAL);
  assert_nothing_left(f, &sl);
  slice_free(&sl);
}

static void test_too_many_blocks(void **state) {
  fix_t *f = *state;
  st_slice_writer_t *w;
  slice_t sl;

  slice_make(&sl, 500);
  assert_int_equal(begin(f->s, &sl, &w), 0);
  write_blocks(w, &sl, 0, 1);
  assert_int_equal(st_slice_write_block(w, sl.data, 500), ST_ERANGE);
  assert_int_equal(st_slice_write_commit(w), ST_ERANGE);
  assert_nothing_left(f, &sl);
  slice_free(&sl);
}

static void test_missing_blocks(void **state) {
  fix_t *f = *state;
  st_slice_writer_t *w;
  slice_t sl;

  slice_make(&sl, 3 * BLK + BLK / 2);
  assert_int_equal(begin(f->s, &sl, &w), 0);
  write_blocks(w, &sl, 0, 2);
  assert_int_equal(st_slice_write_commit(w), ST_EINVAL);
  assert_nothing_left(f, &sl);

  /* None at all. */
  assert_int_equal(begin(f->s, &sl, &w), 0);
  assert_int_equal(st_slice_write_commit(w), ST_EINVAL);
  assert_nothing_left(f, &sl);
  slice_free(&sl);
}

static void test_begin_refusals(void **state) {
  fix_t *f = *state;
  const uint8_t(*hl)[ST_HASH_LEN];
  uint8_t(*many)[ST_HASH_LEN];
  uint8_t bad_root[ST_HASH_LEN];
  st_slice_writer_t *w = (st_slice_writer_t *)1;
  slice_t sl;

  slice_make(&sl, 3 * BLK + BLK / 2);
  hl = (const uint8_t(*)[ST_HASH_LEN])sl.blocks;

  memcpy(bad_root, sl.root, ST_HASH_LEN);
  bad_root[0] ^= 1;
  assert_int_equal(st_slice_write_begin(f->s, bad_root, sl.size, hl, 4, &w), ST_EBADPROOF);
  assert_null(w);
  /* A block hash that is not the slice's. */
  sl.blocks[2][7] ^= 1;
  assert_int_equal(st_slice_write_begin(f->s, sl.root, sl.size, hl, 4, &w), ST_EBADPROOF);
  sl.blocks[2][7] ^= 1;
  /* Counts that do not fit the size, either way. */
  assert_int_equal(st_slice_write_begin(f->s, sl.root, sl.size, hl, 3, &w), ST_EINVAL);
  assert_int_equal(st_slice_write_begin(f->s, sl.root, 3 * BLK, hl, 4, &w), ST_EINVAL);
  assert_int_equal(st_slice_write_begin(f->s, sl.root, 4 * BLK + 1, hl, 4, &w), ST_EINVAL);
  /* Size 0 is not a slice. */
  assert_int_equal(st_slice_write_begin(f->s, sl.root, 0, hl, 0, &w), ST_EINVAL);
  assert_int_equal(st_slice_write_begin(f->s, sl.root, 0, hl, 1, &w), ST_EINVAL);
  /* Larger than a slice may be, even with a consistent count. */
  many = calloc(ST_FILE_SLICE_MAX / ST_FILE_BLOCK + 1, ST_HASH_LEN);
  assert_non_null(many);
  assert_int_equal(st_slice_write_begin(f->s, sl.root, (uint64_t)ST_FILE_SLICE_MAX + 1,
                                        (const uint8_t(*)[ST_HASH_LEN])many,
                                        ST_FILE_SLICE_MAX / ST_FILE_BLOCK + 1, &w),
                   ST_E2BIG);
  free(many);
  assert_int_equal(st_slice_write_begin(f->s, sl.root, sl.size, NULL, 4, &w), ST_EINVAL);
  assert_null(w);
  assert_nothing_left(f, &sl);
  slice_free(&sl);
}

/* Two writers of one slice at once: the second is refused, not mixed
 * into the first's file. */
static void test_concurrent_writer(void **state) {
  fix_t *f = *state;
  st_slice_writer_t *w1, *w2;
  slice_t sl;

  slice_make(&sl, BLK + 100);
  assert_int_equal(begin(f->s, &sl, &w1), 0);
  assert_int_equal(begin(f->s, &sl, &w2), ST_ELOCKED);
  write_blocks(w1, &sl, 0, 1);
  st_slice_write_abort(w1);
  assert_nothing_left(f, &sl);

  assert_int_equal(begin(f->s, &sl, &w2), 0);
  write_blocks(w2, &sl, 0, 2);
  assert_int_equal(st_slice_write_commit(w2), 0);
  assert_reads_back(f->s, &sl);
  slice_free(&sl);
}

/* ---- crash leftovers ---- */

static void test_open_sweeps_leftovers(void **state) {
  fix_t *f = *state;
  char kept[PATH_MAX + 128], b_final[PATH_MAX + 128], b_tmp[PATH_MAX + 128];
  char c_tmp[PATH_MAX + 128], other[PATH_MAX + 160], dir[PATH_MAX + 128];
  slice_t a, b, c;

  slice_make(&a, 2 * BLK);
  slice_make(&b, BLK + 3);
  slice_make(&c, 77);
  store_slice(f->s, &a);
  path_of(f, a.root, "", kept, sizeof(kept));

  /* B as a crash between rename and index commit leaves it (a complete
   * final file, no record), plus a stray temporary file beside it. */
  path_of(f, b.root, "", b_final, sizeof(b_final));
  path_of(f, b.root, ".tmp", b_tmp, sizeof(b_tmp));
  snprintf(dir, sizeof(dir), "%s", b_final);
  *strrchr(dir, '/') = '\0';
  assert_int_equal(st_test_mkdir_p(dir), 0);
  write_file(b_final, b.data, b.size);
  write_file(b_tmp, b.data, 100);
  /* C: a writer killed half-way. */
  path_of(f, c.root, ".tmp", c_tmp, sizeof(c_tmp));
  snprintf(dir, sizeof(dir), "%s", c_tmp);
  *strrchr(dir, '/') = '\0';
  assert_int_equal(st_test_mkdir_p(dir), 0);
  write_file(c_tmp, c.data, 10);
  /* A file the store did not make is not its to remove. */
  snprintf(other, sizeof(other), "%s/NOTES", dir);
  write_file(other, "x", 1);
  assert_int_equal(count_files(f), 5);

  fix_reopen(f);
  assert_false(exists(b_final));
  assert_false(exists(b_tmp));
  assert_false(exists(c_tmp));
  assert_true(exists(other));
  assert_true(exists(kept));
  assert_int_equal(count_files(f), 2);
  assert_reads_back(f->s, &a);
  assert_usage(f, a.size, 1);

  /* B can be stored for real afterwards. */
  store_slice(f->s, &b);
  assert_reads_back(f->s, &b);
  slice_free(&a);
  slice_free(&b);
  slice_free(&c);
}

/* ---- corruption ---- */

static void test_flipped_byte(void **state) {
  fix_t *f = *state;
  uint8_t *buf = malloc(ST_FILE_BLOCK), got[ST_HASH_LEN];
  char path[PATH_MAX + 128];
  st_slice_info_t info;
  st_slice_writer_t *w;
  size_t len;
  bool bad = false;
  slice_t sl;
  int64_t now = wall_ms() + 1000;

  assert_non_null(buf);
  slice_make(&sl, 2 * BLK + 5000);
  store_slice(f->s, &sl);
  path_of(f, sl.root, "", path, sizeof(path));
  flip_byte(path, BLK + 1234);

  /* Unchecked, block 1 goes out as it is on disk (its reader verifies it)
   * and marks nothing; block 0 reads back whole. */
  assert_int_equal(st_slice_read_block_unchecked(f->s, sl.root, 1, buf, &len), 0);
  assert_int_equal(len, BLK);
  assert_memory_not_equal(buf, sl.data + BLK, BLK);
  assert_int_equal(st_slice_read_block_unchecked(f->s, sl.root, 0, buf, &len), 0);
  assert_memory_equal(buf, sl.data, BLK);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_false(info.corrupt);

  /* The other blocks still read; block 1 is refused and marks the slice. */
  assert_int_equal(st_slice_read_block(f->s, sl.root, 0, buf, &len), 0);
  assert_int_equal(st_slice_read_block(f->s, sl.root, 2, buf, &len), 0);
  assert_int_equal(st_slice_read_block(f->s, sl.root, 1, buf, &len), ST_ECORRUPT);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_true(info.corrupt);
  /* Once marked, unchecked reads are refused too. */
  assert_int_equal(st_slice_read_block_unchecked(f->s, sl.root, 0, buf, &len), ST_ECORRUPT);

  assert_int_equal(st_slice_scrub_one(f->s, now, &bad, got), 0);
  assert_true(bad);
  assert_memory_equal(got, sl.root, ST_HASH_LEN);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_true(info.corrupt);
  assert_int_equal(info.last_verified_ms, now);

  /* Storing the slice again rewrites the damaged copy (a repair) rather
   * than adding a reference to it. */
  assert_int_equal(begin(f->s, &sl, &w), 0);
  write_blocks(w, &sl, 0, sl.nblocks);
  assert_int_equal(st_slice_write_commit(w), 0);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_false(info.corrupt);
  assert_int_equal(info.refs, 2);
  assert_reads_back(f->s, &sl);
  assert_usage(f, sl.size, 1);
  assert_int_equal(st_slice_scrub_one(f->s, now + 1, &bad, got), 0);
  assert_false(bad);
  free(buf);
  slice_free(&sl);
}

/* Found by the scrub alone, without a read first; and a good slice beside
 * it stays good. */
static void test_scrub_finds_damage(void **state) {
  fix_t *f = *state;
  uint8_t got[ST_HASH_LEN];
  char path[PATH_MAX + 128];
  st_slice_info_t info;
  bool bad;
  slice_t good, hurt;
  int64_t now = wall_ms() + 1000;
  int nbad = 0;

  slice_make(&good, 3 * BLK);
  slice_make(&hurt, 3 * BLK);
  store_slice(f->s, &good);
  store_slice(f->s, &hurt);
  path_of(f, hurt.root, "", path, sizeof(path));
  flip_byte(path, 3 * BLK - 1);

  for (int i = 0; i < 2; i++) {
    assert_int_equal(st_slice_scrub_one(f->s, now + i, &bad, got), 0);
    if (bad) {
      nbad++;
      assert_memory_equal(got, hurt.root, ST_HASH_LEN);
    } else {
      assert_memory_equal(got, good.root, ST_HASH_LEN);
    }
  }
  assert_int_equal(nbad, 1);
  assert_int_equal(st_slice_info(f->s, hurt.root, &info, NULL), 0);
  assert_true(info.corrupt);
  assert_int_equal(st_slice_info(f->s, good.root, &info, NULL), 0);
  assert_false(info.corrupt);

  /* A slice marked corrupt is refused whole, its good blocks included. */
  {
    uint8_t *buf = malloc(ST_FILE_BLOCK);
    size_t len;
    assert_non_null(buf);
    assert_int_equal(st_slice_read_block(f->s, hurt.root, 0, buf, &len), ST_ECORRUPT);

    /* A file cut short is damage too: the block past the cut is refused,
     * and from then on the whole slice. */
    path_of(f, good.root, "", path, sizeof(path));
    assert_int_equal(truncate(path, (off_t)BLK), 0);
    assert_int_equal(st_slice_read_block(f->s, good.root, 0, buf, &len), 0);
    assert_int_equal(st_slice_read_block(f->s, good.root, 1, buf, &len), ST_ECORRUPT);
    assert_int_equal(st_slice_read_block(f->s, good.root, 0, buf, &len), ST_ECORRUPT);
    assert_int_equal(st_slice_info(f->s, good.root, &info, NULL), 0);
    assert_true(info.corrupt);
    free(buf);
  }
  slice_free(&good);
  slice_free(&hurt);
}

/* A record whose file was removed by hand reads as missing and is reported
 * by the scrub. */
static void test_missing_file(void **state) {
  fix_t *f = *state;
  uint8_t *buf = malloc(ST_FILE_BLOCK), got[ST_HASH_LEN];
  char path[PATH_MAX + 128];
  st_slice_info_t info;
  st_slice_writer_t *w;
  size_t len;
  bool bad = false;
  slice_t sl;

  assert_non_null(buf);
  slice_make(&sl, BLK + 1);
  store_slice(f->s, &sl);
  path_of(f, sl.root, "", path, sizeof(path));
  assert_int_equal(unlink(path), 0);

  assert_int_equal(st_slice_read_block(f->s, sl.root, 0, buf, &len), ST_ENOENT);
  assert_int_equal(st_slice_scrub_one(f->s, wall_ms() + 1000, &bad, got), 0);
  assert_true(bad);
  assert_memory_equal(got, sl.root, ST_HASH_LEN);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_true(info.corrupt);

  /* Stored again, the file comes back. */
  assert_int_equal(begin(f->s, &sl, &w), 0);
  write_blocks(w, &sl, 0, sl.nblocks);
  assert_int_equal(st_slice_write_commit(w), 0);
  assert_reads_back(f->s, &sl);
  free(buf);
  slice_free(&sl);
}

static void test_scrub_order(void **state) {
  fix_t *f = *state;
  uint8_t got[3][ST_HASH_LEN], again[ST_HASH_LEN];
  st_slice_info_t info;
  slice_t sl[3];
  bool bad = true;
  int64_t base = wall_ms() + 1000;

  assert_int_equal(st_slice_scrub_one(f->s, base, &bad, again), ST_ENOENT);
  for (int i = 0; i < 3; i++) {
    slice_make(&sl[i], 1000 + (uint64_t)i);
    store_slice(f->s, &sl[i]);
  }
  /* Each call takes the slice verified longest ago: three calls visit all
   * three, and the fourth comes back to the first. */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(st_slice_scrub_one(f->s, base + i, &bad, got[i]), 0);
    assert_false(bad);
    assert_int_equal(st_slice_info(f->s, got[i], &info, NULL), 0);
    assert_int_equal(info.last_verified_ms, base + i);
    for (int j = 0; j < i; j++)
      assert_memory_not_equal(got[i], got[j], ST_HASH_LEN);
  }
  assert_int_equal(st_slice_scrub_one(f->s, base + 3, &bad, again), 0);
  assert_memory_equal(again, got[0], ST_HASH_LEN);
  for (int i = 0; i < 3; i++)
    slice_free(&sl[i]);
}

/* ---- references and usage ---- */

static void test_refs(void **state) {
  fix_t *f = *state;
  char path[PATH_MAX + 128];
  struct stat st1, st2;
  st_slice_info_t info;
  st_slice_writer_t *w;
  slice_t sl;

  slice_make(&sl, 2 * BLK + 1);
  store_slice(f->s, &sl);
  path_of(f, sl.root, "", path, sizeof(path));
  assert_int_equal(stat(path, &st1), 0);

  /* Stored again: a reference-only writer, which needs no blocks... */
  assert_int_equal(begin(f->s, &sl, &w), 0);
  assert_int_equal(count_files(f), 1);
  assert_int_equal(st_slice_write_commit(w), 0);
  /* ...but checks and drops the blocks it is given. */
  assert_int_equal(begin(f->s, &sl, &w), 0);
  write_blocks(w, &sl, 0, sl.nblocks);
  assert_int_equal(st_slice_write_commit(w), 0);
  assert_int_equal(begin(f->s, &sl, &w), 0);
  assert_int_equal(st_slice_write_block(w, sl.data + BLK, ST_FILE_BLOCK), ST_ECORRUPT);
  st_slice_write_abort(w);

  /* The file was not rewritten. */
  assert_int_equal(stat(path, &st2), 0);
  assert_int_equal(st1.st_ino, st2.st_ino);
  assert_true(st1.st_mtim.tv_sec == st2.st_mtim.tv_sec &&
              st1.st_mtim.tv_nsec == st2.st_mtim.tv_nsec);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_int_equal(info.refs, 3);
  assert_usage(f, sl.size, 1);

  assert_int_equal(st_slice_release(f->s, sl.root), 0);
  assert_int_equal(st_slice_release(f->s, sl.root), 0);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_int_equal(info.refs, 1);
  assert_reads_back(f->s, &sl);

  assert_int_equal(st_slice_release(f->s, sl.root), 0);
  assert_nothing_left(f, &sl);
  assert_false(exists(path));
  assert_int_equal(st_slice_release(f->s, sl.root), ST_ENOENT);
  slice_free(&sl);
}

/* The Merkle root does not commit to the leaf count: [H01, h2] has the
 * root of [h0, h1, h2]. A stored slice gains no reference from a writer
 * whose list differs. */
static void test_same_root_other_list(void **state) {
  fix_t *f = *state;
  uint8_t other[2][ST_HASH_LEN];
  st_slice_writer_t *w = NULL;
  st_slice_info_t info;
  slice_t sl;

  slice_make(&sl, 2 * BLK + 100);
  st_merkle_parent(sl.blocks[0], sl.blocks[1], other[0]);
  memcpy(other[1], sl.blocks[2], ST_HASH_LEN);
  store_slice(f->s, &sl);
  assert_int_equal(st_slice_write_begin(f->s, sl.root, BLK + 100,
                                        (const uint8_t(*)[ST_HASH_LEN])other, 2, &w),
                   ST_EEXIST);
  assert_null(w);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_int_equal(info.refs, 1);
  slice_free(&sl);
}

static void test_usage(void **state) {
  fix_t *f = *state;
  slice_t a, b;

  assert_usage(f, 0, 0);
  slice_make(&a, 3 * BLK + BLK / 2);
  slice_make(&b, 1000);
  store_slice(f->s, &a);
  store_slice(f->s, &b);
  store_slice(f->s, &a);
  /* A slice counts once, whatever its references. */
  assert_usage(f, a.size + b.size, 2);
  fix_reopen(f);
  assert_usage(f, a.size + b.size, 2);
  assert_int_equal(st_slice_release(f->s, b.root), 0);
  assert_usage(f, a.size, 1);
  assert_int_equal(st_slice_release(f->s, a.root), 0);
  assert_usage(f, a.size, 1);
  assert_int_equal(st_slice_release(f->s, a.root), 0);
  assert_usage(f, 0, 0);
  slice_free(&a);
  slice_free(&b);
}

/* ---- kill -9 ---- */

enum { KILL_BEFORE_COMMIT, KILL_AFTER_COMMIT };

/* The child: writes the whole slice, commits it or not, tells the parent
 * (one byte on fd) and waits to be killed. Failures exit without the
 * byte; cmocka's asserts are not used in the child. */
static void kill_child(const fix_t *f, const slice_t *sl, int fd, int mode) {
  st_slice_store_t *s;
  st_slice_writer_t *w;
  st_store_t *st;

  if (st_store_open(f->db, NULL, &st) != 0 || st_slice_store_open(f->slices, st, &s) != 0)
    _exit(2);
  if (begin(s, sl, &w) != 0)
    _exit(3);
  for (uint32_t i = 0; i < sl->nblocks; i++)
    if (st_slice_write_block(w, sl->data + i * BLK, blen(sl, i)) != 0)
      _exit(4);
  if (mode == KILL_AFTER_COMMIT && st_slice_write_commit(w) != 0)
    _exit(5);
  if (write(fd, "x", 1) != 1)
    _exit(6);
  for (;;)
    pause();
}

static void run_and_kill(const fix_t *f, const slice_t *sl, int mode) {
  int fds[2], status;
  char byte;
  pid_t pid;

  assert_int_equal(pipe(fds), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    kill_child(f, sl, fds[1], mode);
    _exit(1);
  }
  close(fds[1]);
  assert_int_equal(read(fds[0], &byte, 1), 1);
  assert_int_equal(kill(pid, SIGKILL), 0);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  close(fds[0]);
}

static void test_kill9(void **state) {
  fix_t *f = *state;
  char a_tmp[PATH_MAX + 128], a_final[PATH_MAX + 128];
  st_slice_info_t info;
  slice_t a, b;

  slice_make(&a, 2 * BLK + 17);
  slice_make(&b, 3 * BLK + BLK / 2);
  path_of(f, a.root, ".tmp", a_tmp, sizeof(a_tmp));
  path_of(f, a.root, "", a_final, sizeof(a_final));
  /* The environment is the children's while they run (LMDB handles do
   * not survive a fork). */
  fix_close(f);
  run_and_kill(f, &a, KILL_BEFORE_COMMIT);
  /* The killed writer's temporary file is there until the next open. */
  assert_true(exists(a_tmp));
  run_and_kill(f, &b, KILL_AFTER_COMMIT);
  fix_open(f);

  assert_int_equal(st_slice_info(f->s, a.root, &info, NULL), ST_ENOENT);
  assert_false(exists(a_tmp));
  assert_false(exists(a_final));
  assert_int_equal(st_slice_info(f->s, b.root, &info, NULL), 0);
  assert_int_equal(info.refs, 1);
  assert_false(info.corrupt);
  assert_reads_back(f->s, &b);
  assert_int_equal(count_files(f), 1);
  assert_usage(f, b.size, 1);
  slice_free(&a);
  slice_free(&b);
}

/* ---- times, flush, drop, listing ---- */

/* A new record is stamped stored and added; another reference moves only
 * added. */
static void test_times(void **state) {
  fix_t *f = *state;
  st_slice_info_t info;
  st_slice_writer_t *w;
  slice_t sl;
  int64_t t0 = wall_ms(), stored;

  slice_make(&sl, BLK + 1);
  store_slice(f->s, &sl);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_true(info.stored_ms >= t0 && info.stored_ms <= wall_ms());
  assert_int_equal(info.added_ms, info.stored_ms);
  stored = info.stored_ms;
  usleep(20000);
  assert_int_equal(begin(f->s, &sl, &w), 0);
  assert_true(st_slice_write_ref_only(w));
  assert_int_equal(st_slice_write_commit(w), 0);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_int_equal(info.stored_ms, stored);
  assert_true(info.added_ms >= stored + 20);
  assert_int_equal(info.refs, 2);
  /* The stamps survive a reopen (they are in the record). */
  fix_reopen(f);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_int_equal(info.stored_ms, stored);
  slice_free(&sl);
}

/* A record written before the two stamps existed still reads, as 0 and
 * 0. */
static void test_old_record(void **state) {
  fix_t *f = *state;
  const void *val;
  size_t vlen, old;
  uint8_t *copy;
  st_slice_info_t info;
  st_txn_t *t;
  st_db_t db;
  slice_t sl;

  slice_make(&sl, 2 * BLK);
  store_slice(f->s, &sl);
  assert_int_equal(st_store_db(f->st, "resource_slices", &db), 0);
  assert_int_equal(st_txn_begin(f->st, true, &t), 0);
  assert_int_equal(st_kv_get(t, db, sl.root, ST_HASH_LEN, &val, &vlen), 0);
  old = 25 + 2 * ST_HASH_LEN;
  assert_int_equal(vlen, old + 16);
  copy = malloc(old);
  assert_non_null(copy);
  memcpy(copy, val, old);
  assert_int_equal(st_kv_put(t, db, sl.root, ST_HASH_LEN, copy, old), 0);
  assert_int_equal(st_txn_commit(t), 0);
  free(copy);
  fix_reopen(f);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_int_equal(info.stored_ms, 0);
  assert_int_equal(info.added_ms, 0);
  assert_int_equal(info.refs, 1);
  assert_reads_back(f->s, &sl);
  /* A slice nobody claimed since the epoch is a candidate for any cutoff. */
  {
    uint8_t roots[2][ST_HASH_LEN];
    size_t n;
    bool more;
    assert_int_equal(st_slice_list_idle(f->s, NULL, 1, roots, 2, &n, &more), 0);
    assert_int_equal(n, 1);
  }
  assert_usage(f, sl.size, 1);
  slice_free(&sl);
}

/* Flush makes the file durable under its final name, commit then only
 * records it; an abort after a flush removes the file again. */
static void test_flush(void **state) {
  fix_t *f = *state;
  char final[PATH_MAX + 128], tmp[PATH_MAX + 128];
  st_slice_info_t info;
  st_slice_writer_t *w;
  slice_t a, b;

  slice_make(&a, 3 * BLK - 7);
  slice_make(&b, BLK);
  path_of(f, a.root, "", final, sizeof(final));
  path_of(f, a.root, ".tmp", tmp, sizeof(tmp));
  assert_int_equal(begin(f->s, &a, &w), 0);
  write_blocks(w, &a, 0, 2);
  /* Not complete: refused, and the writer is spoiled. */
  assert_int_equal(st_slice_write_flush(w), ST_EINVAL);
  assert_false(exists(tmp));
  st_slice_write_abort(w);

  assert_int_equal(begin(f->s, &a, &w), 0);
  write_blocks(w, &a, 0, a.nblocks);
  assert_int_equal(st_slice_write_flush(w), 0);
  assert_true(exists(final));
  assert_false(exists(tmp));
  /* Published but not recorded: the slice is not there yet. */
  assert_int_equal(st_slice_info(f->s, a.root, &info, NULL), ST_ENOENT);
  /* A second flush does nothing. */
  assert_int_equal(st_slice_write_flush(w), 0);
  assert_int_equal(st_slice_write_commit(w), 0);
  assert_int_equal(st_slice_info(f->s, a.root, &info, NULL), 0);
  assert_reads_back(f->s, &a);

  assert_int_equal(begin(f->s, &b, &w), 0);
  write_blocks(w, &b, 0, b.nblocks);
  assert_int_equal(st_slice_write_flush(w), 0);
  path_of(f, b.root, "", final, sizeof(final));
  assert_true(exists(final));
  st_slice_write_abort(w);
  assert_false(exists(final));
  assert_int_equal(st_slice_info(f->s, b.root, &info, NULL), ST_ENOENT);
  assert_int_equal(count_files(f), 1);
  assert_usage(f, a.size, 1);
  slice_free(&a);
  slice_free(&b);
}

/* From begin to commit or abort a slice has one writer, even past its
 * flush, and neither release nor drop touches it. */
static void test_live_writer(void **state) {
  fix_t *f = *state;
  st_slice_writer_t *w, *w2;
  st_slice_info_t info;
  slice_t sl;

  slice_make(&sl, 2 * BLK);
  store_slice(f->s, &sl);
  assert_int_equal(begin(f->s, &sl, &w), 0);
  assert_true(st_slice_write_ref_only(w));
  assert_int_equal(begin(f->s, &sl, &w2), ST_ELOCKED);
  assert_int_equal(st_slice_release(f->s, sl.root), ST_ELOCKED);
  assert_int_equal(st_slice_drop(f->s, sl.root, INT64_MAX), ST_ELOCKED);
  st_slice_write_abort(w);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_int_equal(info.refs, 1);
  assert_int_equal(st_slice_release(f->s, sl.root), 0);

  assert_int_equal(begin(f->s, &sl, &w), 0);
  assert_false(st_slice_write_ref_only(w));
  write_blocks(w, &sl, 0, sl.nblocks);
  assert_int_equal(st_slice_write_flush(w), 0);
  assert_int_equal(begin(f->s, &sl, &w2), ST_ELOCKED);
  assert_int_equal(st_slice_write_commit(w), 0);
  assert_reads_back(f->s, &sl);
  slice_free(&sl);
}

/* A claim stamps the slices that are here in one go, skips the others,
 * and keeps a drop asked before it from taking the slice. */
static void test_claim(void **state) {
  fix_t *f = *state;
  st_slice_info_t info;
  slice_t a, b;
  uint8_t roots[3][ST_HASH_LEN];
  size_t n = 99;

  slice_make(&a, BLK + 7);
  slice_make(&b, 3 * BLK);
  store_slice(f->s, &a);
  store_slice(f->s, &b);
  assert_int_equal(st_slice_info(f->s, a.root, &info, NULL), 0);
  int64_t before = info.added_ms;
  memcpy(roots[0], a.root, ST_HASH_LEN);
  memset(roots[1], 0x5a, ST_HASH_LEN); /* not here */
  memcpy(roots[2], b.root, ST_HASH_LEN);
  assert_int_equal(st_slice_claim(f->s, (const uint8_t(*)[ST_HASH_LEN])roots, 3,
                                  before + 5000, &n), 0);
  assert_int_equal(n, 2);
  assert_int_equal(st_slice_info(f->s, a.root, &info, NULL), 0);
  assert_int_equal(info.added_ms, before + 5000);
  assert_int_equal(info.refs, 1);
  assert_int_equal(st_slice_info(f->s, b.root, &info, NULL), 0);
  assert_int_equal(info.added_ms, before + 5000);
  /* A drop of slices unclaimed since before the claim keeps them. */
  assert_int_equal(st_slice_drop(f->s, a.root, before + 1), ST_EAGAIN);
  assert_int_equal(st_slice_info(f->s, a.root, &info, NULL), 0);
  /* An older stamp never moves one back. */
  assert_int_equal(st_slice_claim(f->s, (const uint8_t(*)[ST_HASH_LEN])roots, 1, before, NULL),
                   0);
  assert_int_equal(st_slice_info(f->s, a.root, &info, NULL), 0);
  assert_int_equal(info.added_ms, before + 5000);
  slice_free(&a);
  slice_free(&b);
}

/* Drop removes every reference at once, unless one was added at or after
 * the time given. */
static void test_drop(void **state) {
  fix_t *f = *state;
  char path[PATH_MAX + 128];
  st_slice_info_t info;
  slice_t sl;

  slice_make(&sl, BLK + 100);
  store_slice(f->s, &sl);
  store_slice(f->s, &sl);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_int_equal(info.refs, 2);
  assert_int_equal(st_slice_drop(f->s, sl.root, info.added_ms), ST_EAGAIN);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), 0);
  assert_int_equal(info.refs, 2);
  assert_int_equal(st_slice_drop(f->s, sl.root, info.added_ms + 1), 0);
  assert_int_equal(st_slice_info(f->s, sl.root, &info, NULL), ST_ENOENT);
  path_of(f, sl.root, "", path, sizeof(path));
  assert_false(exists(path));
  assert_usage(f, 0, 0);
  assert_int_equal(st_slice_drop(f->s, sl.root, INT64_MAX), ST_ENOENT);
  slice_free(&sl);
}

static int root_cmp(const void *a, const void *b) { return memcmp(a, b, ST_HASH_LEN); }

/* The candidates come in key order, page by page, and only slices claimed
 * before the cutoff. */
static void test_list_idle(void **state) {
  fix_t *f = *state;
  uint8_t want[5][ST_HASH_LEN], got[8][ST_HASH_LEN], page[2][ST_HASH_LEN];
  slice_t sl[6];
  int64_t cutoff;
  size_t n, total = 0;
  bool more;

  for (int i = 0; i < 5; i++) {
    slice_make(&sl[i], BLK);
    store_slice(f->s, &sl[i]);
    memcpy(want[i], sl[i].root, ST_HASH_LEN);
  }
  usleep(20000);
  cutoff = wall_ms();
  usleep(20000);
  slice_make(&sl[5], BLK);
  store_slice(f->s, &sl[5]);
  qsort(want, 5, ST_HASH_LEN, root_cmp);

  assert_int_equal(st_slice_list_idle(f->s, NULL, cutoff, got, 8, &n, &more), 0);
  assert_int_equal(n, 5);
  assert_false(more);
  assert_memory_equal(got, want, 5 * ST_HASH_LEN);

  /* Two at a time, each page after the last root of the one before. */
  const uint8_t *after = NULL;
  do {
    assert_int_equal(st_slice_list_idle(f->s, after, cutoff, page, 2, &n, &more), 0);
    assert_true(n > 0 && total + n <= 5);
    assert_memory_equal(page, want[total], n * ST_HASH_LEN);
    total += n;
    memcpy(got[0], page[n - 1], ST_HASH_LEN);
    after = got[0];
  } while (more);
  assert_int_equal(total, 5);

  /* Nothing is older than the epoch; everything is older than the end of
   * time. */
  assert_int_equal(st_slice_list_idle(f->s, NULL, 0, got, 8, &n, &more), 0);
  assert_int_equal(n, 0);
  assert_int_equal(st_slice_list_idle(f->s, NULL, INT64_MAX, got, 8, &n, &more), 0);
  assert_int_equal(n, 6);
  assert_int_equal(st_slice_list_idle(f->s, NULL, INT64_MAX, got, 0, &n, &more), ST_EINVAL);
  for (int i = 0; i < 6; i++)
    slice_free(&sl[i]);
}

/* ---- arguments ---- */

static void test_open_errors(void **state) {
  fix_t *f = *state;
  char file[PATH_MAX + 16], *longdir;
  st_slice_store_t *s = (st_slice_store_t *)1;

  assert_int_equal(st_slice_store_open(NULL, f->st, &s), ST_EINVAL);
  assert_null(s);
  assert_int_equal(st_slice_store_open(f->slices, NULL, &s), ST_EINVAL);
  /* A directory too long to hold the fan-out names. */
  longdir = malloc(PATH_MAX);
  assert_non_null(longdir);
  memset(longdir, 'a', PATH_MAX - 1);
  longdir[PATH_MAX - 1] = '\0';
  assert_int_equal(st_slice_store_open(longdir, f->st, &s), ST_E2BIG);
  free(longdir);
  /* A file where the directory should be. */
  snprintf(file, sizeof(file), "%s/plain", f->home);
  write_file(file, "x", 1);
  assert_int_not_equal(st_slice_store_open(file, f->st, &s), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_multi_block_roundtrip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_single_block_slices, setup, teardown),
    cmocka_unit_test_setup_teardown(test_wrong_block, setup, teardown),
    cmocka_unit_test_setup_teardown(test_wrong_length, setup, teardown),
    cmocka_unit_test_setup_teardown(test_too_many_blocks, setup, teardown),
    cmocka_unit_test_setup_teardown(test_missing_blocks, setup, teardown),
    cmocka_unit_test_setup_teardown(test_begin_refusals, setup, teardown),
    cmocka_unit_test_setup_teardown(test_concurrent_writer, setup, teardown),
    cmocka_unit_test_setup_teardown(test_open_sweeps_leftovers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scrub_finds_damage, setup, teardown),
    cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scrub_order, setup, teardown),
    cmocka_unit_test_setup_teardown(test_refs, setup, teardown),
    cmocka_unit_test_setup_teardown(test_same_root_other_list, setup, teardown),
    cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
    cmocka_unit_test_setup_teardown(test_kill9, setup, teardown),
    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_times, setup, teardown),
    cmocka_unit_test_setup_teardown(test_old_record, setup, teardown),
    cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
    cmocka_unit_test_setup_teardown(test_live_writer, setup, teardown),
    cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
    cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
    cmocka_unit_test_setup_teardown(test_list_idle, setup, teardown),
  };

  signal(SIGPIPE, SIG_IGN);
  if (st_crypto_init() != 0)
    return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
