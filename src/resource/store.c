/* The slice store of a resource node (contract in resource/store.h).
 *
 * Files: DIR/ab/cd/<64 hex>.slice, the name built only from the root, so
 * nothing a peer sends becomes a path component. A slice is written into
 * "<final>.tmp", opened O_CREAT|O_EXCL: that name is the writer's lock, so
 * a second writer of the same slice gets ST_ELOCKED (the code this tree
 * gives EBUSY) instead of interleaving its bytes with the first's.
 *
 * Order of a commit: fsync the file, rename it into place, fsync the
 * directory, then commit the index record. Order of a last release:
 * commit the deletion, then unlink. Either way a crash can leave a file
 * without a record but never a record without its file, so open removes
 * both "*.tmp" leftovers and ".slice" files that no record names (nobody
 * was told such a slice is stored: its upload never completed or its
 * last reference was already dropped).
 *
 * Decisions the header leaves open:
 * - commit and abort both end the writer, whatever they return (as
 *   st_txn_commit and st_txn_abort do); a failed commit removes what it
 *   wrote.
 * - Any refused block spoils the writer: its temporary file goes at once
 *   and every later call returns the first error.
 * - The temporary file's name locks a slice only until it is renamed, so
 *   the store also keeps its live writers in a list: from begin to commit
 *   or abort, a root has one writer and no release or drop touches it.
 *   A flushed writer that is aborted removes the file it published unless
 *   a record named the slice at begin.
 * - A slice already stored, with its file, gives a writer that writes
 *   nothing: blocks given to it are checked and dropped, and its commit
 *   needs none of them and only adds a reference. A caller that wants to
 *   skip the transfer asks st_slice_info first. If the stored copy is
 *   marked corrupt or its file is gone, the writer rewrites the file
 *   instead (a repair) and its commit clears the mark.
 * - A stored record must match a new writer's size and block list: the
 *   Merkle root does not commit to the leaf count, so two lists can share
 *   a root, and a reference must not be added to a different slice.
 * - Usage is kept in memory, counted once at open and moved by commits
 *   and releases; a slice counts once whatever its references.
 * - A commit stamps last_verified_ms with the wall clock: every block was
 *   checked on its way in, so new slices go to the back of the scrub.
 *   It also stamps added_ms (and stored_ms for a new record), which the
 *   garbage collection reads: a slice is a candidate only when no file
 *   has claimed it for a while, so an upload whose file the meta chain
 *   has not recorded yet is never asked about.
 * - A record read whose corrupt mark is set refuses every block read
 *   until a rewrite or a clean scrub clears it.
 * - The scrub finds the slice verified longest ago by a full scan of the
 *   index; an index keyed by time can replace it when stores grow large.
 *   Its three steps (pick, verify, record) are separate functions so that
 *   the verification, which touches only the slice's file, can move to a
 *   worker thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <stratos/st_bytes.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>

#include "resource/store.h"

#define DB_NAME "resource_slices"
#define LOG_MOD "resource"
#define HEX_LEN (2 * ST_HASH_LEN)
#define SLICE_SUFFIX ".slice"
#define TMP_SUFFIX ".tmp"
/* "/ab/cd/" + hex + ".slice.tmp" + NUL, rounded up. */
#define PATH_TAIL 96
/* size (8) || nblocks (4) || last_verified_ms (8) || corrupt (1) || refs (4) */
#define REC_FIXED 25
/* After the block hashes: stored_ms (8) || added_ms (8). Records written
 * before these two fields existed end with the hashes. */
#define REC_TAIL 16

typedef uint8_t hash_t[ST_HASH_LEN];

struct st_slice_store {
  char *dir;
  st_store_t *store;
  st_db_t db;
  uint64_t bytes;  /* sum of the indexed sizes */
  uint64_t slices; /* number of records */
  st_slice_writer_t *live; /* writers between begin and commit or abort */
};

struct st_slice_writer {
  st_slice_store_t *s;
  uint8_t root[ST_HASH_LEN];
  uint64_t size;
  uint32_t nblocks;
  uint32_t next;    /* index of the next block expected */
  hash_t *blocks;   /* our copy of the caller's list */
  bool ref_only;    /* the slice is stored: only add a reference */
  bool had_record;  /* a record existed at begin (a repair, or ref_only) */
  bool published;   /* the file is durable under its final name */
  int fd;           /* the temporary file while we own it, else -1 */
  int err;          /* first error; the writer is spoiled once set */
  st_slice_writer_t *next_live;
  char final[PATH_MAX];
  char tmp[PATH_MAX];
};

/* A decoded index record; blocks is borrowed (from the map while the
 * transaction lives, or from a writer). */
typedef struct rec {
  uint64_t size;
  uint32_t nblocks;
  int64_t last_verified_ms;
  bool corrupt;
  uint32_t refs;
  int64_t stored_ms; /* 0 in records older than the field */
  int64_t added_ms;
  const hash_t *blocks;
} rec_t;

/* ---- small helpers ---- */

static void put_be64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v) {
  for (int i = 3; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

static uint32_t get_be32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v = (v << 8) | p[i];
  return v;
}

static int64_t wall_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* st_file.h: ceil(size / ST_FILE_BLOCK). */
static uint64_t blocks_for(uint64_t size) {
  return (size + ST_FILE_BLOCK - 1) / ST_FILE_BLOCK;
}

/* All blocks are ST_FILE_BLOCK long but the last, which has the rest. */
static size_t block_len(uint64_t size, uint32_t nblocks, uint32_t index) {
  if (index + 1 < nblocks)
    return ST_FILE_BLOCK;
  return (size_t)(size - (uint64_t)(nblocks - 1) * ST_FILE_BLOCK);
}

static bool is_lower_hex(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
      return false;
  return true;
}

/* ---- index records ---- */

static size_t rec_len(uint32_t nblocks) {
  return REC_FIXED + (size_t)nblocks * ST_HASH_LEN + REC_TAIL;
}

static void rec_encode(const rec_t *r, uint8_t *out) {
  put_be64(out, r->size);
  put_be32(out + 8, r->nblocks);
  put_be64(out + 12, (uint64_t)r->last_verified_ms);
  out[20] = r->corrupt ? 1 : 0;
  put_be32(out + 21, r->refs);
  memcpy(out + REC_FIXED, r->blocks, (size_t)r->nblocks * ST_HASH_LEN);
  out += REC_FIXED + (size_t)r->nblocks * ST_HASH_LEN;
  put_be64(out, (uint64_t)r->stored_ms);
  put_be64(out + 8, (uint64_t)r->added_ms);
}

/* Only this file writes records, so one that does not parse means the
 * index itself is damaged: ST_ECORRUPT rather than a guess. */
static int rec_decode(const void *val, size_t vlen, rec_t *r) {
  const uint8_t *p = val;

  if (vlen < REC_FIXED)
    return ST_ECORRUPT;
  r->size = get_be64(p);
  r->nblocks = get_be32(p + 8);
  r->last_verified_ms = (int64_t)get_be64(p + 12);
  r->corrupt = p[20] != 0;
  r->refs = get_be32(p + 21);
  r->blocks = (const void *)(p + REC_FIXED);
  r->stored_ms = r->added_ms = 0;
  if (r->size == 0 || r->size > ST_FILE_SLICE_MAX || r->nblocks != blocks_for(r->size))
    return ST_ECORRUPT;
  if (vlen == rec_len(r->nblocks)) {
    p += rec_len(r->nblocks) - REC_TAIL;
    r->stored_ms = (int64_t)get_be64(p);
    r->added_ms = (int64_t)get_be64(p + 8);
  } else if (vlen != rec_len(r->nblocks) - REC_TAIL) {
    return ST_ECORRUPT;
  }
  return 0;
}

static int rec_get(st_slice_store_t *s, st_txn_t *t, const uint8_t root[ST_HASH_LEN], rec_t *r) {
  const void *val;
  size_t vlen;
  int rc = st_kv_get(t, s->db, root, ST_HASH_LEN, &val, &vlen);

  return rc != 0 ? rc : rec_decode(val, vlen, r);
}

/* Encodes into a buffer of our own first: r->blocks may point into the
 * map, which the put may rewrite. */
static int rec_put(st_slice_store_t *s, st_txn_t *t, const uint8_t root[ST_HASH_LEN],
                   const rec_t *r) {
  size_t n = rec_len(r->nblocks);
  uint8_t *buf = malloc(n);
  int rc;

  if (!buf)
    return ST_ENOMEM;
  rec_encode(r, buf);
  rc = st_kv_put(t, s->db, root, ST_HASH_LEN, buf, n);
  free(buf);
  return rc;
}

/* ---- paths and directories ---- */

/* DIR/ab/cd/<hex>.slice plus suffix. The directory's length was checked
 * at open, so this cannot truncate. */
static void slice_path(const st_slice_store_t *s, const uint8_t root[ST_HASH_LEN],
                       const char *suffix, char out[PATH_MAX]) {
  char hex[HEX_LEN + 1];

  st_hex_encode(root, ST_HASH_LEN, hex, sizeof(hex));
  snprintf(out, PATH_MAX, "%s/%.2s/%.2s/%s" SLICE_SUFFIX "%s", s->dir, hex, hex + 2, hex,
           suffix);
}

static void dir_of(const char *path, char out[PATH_MAX]) {
  const char *slash = strrchr(path, '/');
  size_t n;

  if (!slash) {
    strcpy(out, ".");
    return;
  }
  n = slash == path ? 1 : (size_t)(slash - path);
  memcpy(out, path, n);
  out[n] = '\0';
}

static int fsync_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = 0;

  if (fd < 0)
    return st_err_from_errno(errno);
  if (fsync(fd) != 0)
    rc = st_err_from_errno(errno);
  close(fd);
  return rc;
}

/* Creates path (0700) if missing. A directory made here is made durable
 * by syncing its parent, so that a file indexed under it later cannot
 * vanish with it in a crash. */
static int mkdir_synced(const char *path) {
  char parent[PATH_MAX];

  if (mkdir(path, 0700) != 0)
    return errno == EEXIST ? 0 : st_err_from_errno(errno);
  dir_of(path, parent);
  return fsync_dir(parent);
}

static int mkdir_p(const char *dir) {
  char p[PATH_MAX];
  int rc;

  snprintf(p, sizeof(p), "%s", dir);
  for (char *c = p + 1; *c; c++) {
    if (*c != '/')
      continue;
    *c = '\0';
    rc = mkdir_synced(p);
    *c = '/';
    if (rc != 0)
      return rc;
  }
  return mkdir_synced(p);
}

/* The two fan-out levels above a slice file. */
static int make_fanout(const char *final) {
  char leaf[PATH_MAX], mid[PATH_MAX];
  int rc;

  dir_of(final, leaf);
  dir_of(leaf, mid);
  rc = mkdir_synced(mid);
  return rc != 0 ? rc : mkdir_synced(leaf);
}

/* ---- file I/O ---- */

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return st_err_from_errno(errno);
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads exactly n bytes at off. A file that ends early was cut short
 * under us: ST_ECORRUPT, like any other damage to the stored bytes. */
static int read_full(int fd, uint64_t off, uint8_t *buf, size_t n) {
  while (n > 0) {
    ssize_t r = pread(fd, buf, n, (off_t)off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return st_err_from_errno(errno);
    if (r == 0)
      return ST_ECORRUPT;
    buf += r;
    off += (uint64_t)r;
    n -= (size_t)r;
  }
  return 0;
}

/* Reads block index of the slice file at path and checks it against
 * hash. ST_ENOENT when the file is gone. */
static int read_checked(const char *path, uint64_t size, uint32_t nblocks, uint32_t index,
                        const uint8_t *hash, uint8_t *buf) {
  size_t n = block_len(size, nblocks, index);
  uint8_t got[ST_HASH_LEN];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int rc;

  if (fd < 0)
    return st_err_from_errno(errno);
  rc = read_full(fd, (uint64_t)index * ST_FILE_BLOCK, buf, n);
  close(fd);
  if (rc != 0 || !hash)
    return rc;
  st_merkle_leaf(buf, n, got);
  return memcmp(got, hash, ST_HASH_LEN) == 0 ? 0 : ST_ECORRUPT;
}

/* ---- open: leftovers, orphans and usage ---- */

static int sweep_sub(st_slice_store_t *s, st_txn_t *t, int pfd, const char *name,
                     const char *prefix, int depth);

/* One file in a fan-out directory (prefix = the 4 hex digits of the two
 * directory names). Temporary files are leftovers of writers that never
 * finished; a slice file without a record was never announced (a crash
 * between rename and index commit) or already released (a crash between
 * the deletion and the unlink). Names we do not make are left alone. */
static int sweep_file(st_slice_store_t *s, st_txn_t *t, int dfd, const char *prefix,
                      const char *name) {
  size_t n = strlen(name), sl = strlen(SLICE_SUFFIX), tl = strlen(TMP_SUFFIX);
  uint8_t root[ST_HASH_LEN];
  size_t got;
  int rc;

  if (n > tl && strcmp(name + n - tl, TMP_SUFFIX) == 0) {
    ST_INFO(LOG_MOD, "removing unfinished slice file %s/%s", prefix, name);
    return unlinkat(dfd, name, 0) == 0 ? 0 : st_err_from_errno(errno);
  }
  if (n != HEX_LEN + sl || strcmp(name + HEX_LEN, SLICE_SUFFIX) != 0 ||
      !is_lower_hex(name, HEX_LEN) || strncmp(name, prefix, 4) != 0)
    return 0;
  st_hex_decode(name, HEX_LEN, root, sizeof(root), &got);
  rc = rec_get(s, t, root, &(rec_t){0});
  if (rc != ST_ENOENT)
    return rc;
  ST_WARN(LOG_MOD, "removing unindexed slice file %s", name);
  return unlinkat(dfd, name, 0) == 0 ? 0 : st_err_from_errno(errno);
}

/* Walks the directory open on dfd (which it closes) without following
 * links: depth 0 and 1 look for two-hex-digit directories, depth 2 at
 * files. */
static int sweep_dir(st_slice_store_t *s, st_txn_t *t, int dfd, const char *prefix, int depth) {
  DIR *d = fdopendir(dfd);
  struct dirent *e;
  char sub[8];
  int rc = 0;

  if (!d) {
    rc = st_err_from_errno(errno);
    close(dfd);
    return rc;
  }
  while (rc == 0 && (e = readdir(d)) != NULL) {
    if (depth == 2) {
      rc = sweep_file(s, t, dirfd(d), prefix, e->d_name);
    } else if (strlen(e->d_name) == 2 && is_lower_hex(e->d_name, 2)) {
      snprintf(sub, sizeof(sub), "%s%s", prefix, e->d_name);
      rc = sweep_sub(s, t, dirfd(d), e->d_name, sub, depth + 1);
    }
  }
  closedir(d);
  return rc;
}

/* A fan-out name that is not a directory (or is a link) is not ours. */
static int sweep_sub(st_slice_store_t *s, st_txn_t *t, int pfd, const char *name,
                     const char *prefix, int depth) {
  int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (dfd < 0)
    return errno == ENOTDIR || errno == ELOOP ? 0 : st_err_from_errno(errno);
  return sweep_dir(s, t, dfd, prefix, depth);
}

/* The top directory itself must open: a file in its place is an error. */
static int sweep_tree(st_slice_store_t *s) {
  st_txn_t *t;
  int dfd, rc;

  dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return st_err_from_errno(errno);
  rc = st_txn_begin(s->store, false, &t);
  if (rc != 0) {
    close(dfd);
    return rc;
  }
  rc = sweep_dir(s, t, dfd, "", 0);
  st_txn_abort(t);
  return rc;
}

static int usage_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud) {
  st_slice_store_t *s = ud;
  rec_t r;
  int rc = rec_decode(val, vlen, &r);

  (void)key;
  if (rc != 0 || klen != ST_HASH_LEN)
    return ST_ECORRUPT;
  s->bytes += r.size;
  s->slices++;
  return 0;
}

static int count_usage(st_slice_store_t *s) {
  st_txn_t *t;
  int rc = st_txn_begin(s->store, false, &t);

  if (rc != 0)
    return rc;
  rc = st_kv_scan(t, s->db, NULL, 0, NULL, 0, usage_cb, s);
  st_txn_abort(t);
  return rc;
}

int st_slice_store_avail(st_slice_store_t *s, uint64_t *bytes) {
  struct statvfs v;
  if (!s || !bytes)
    return ST_EINVAL;
  if (statvfs(s->dir, &v) != 0)
    return st_err_from_errno(errno);
  *bytes = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
  return 0;
}

int st_slice_store_open(const char *dir, st_store_t *store, st_slice_store_t **out) {
  st_slice_store_t *s;
  int rc;

  if (out)
    *out = NULL;
  if (!dir || !*dir || !store || !out)
    return ST_EINVAL;
  if (strlen(dir) + PATH_TAIL > PATH_MAX)
    return ST_E2BIG;
  s = calloc(1, sizeof(*s));
  if (!s || !(s->dir = strdup(dir))) {
    free(s);
    return ST_ENOMEM;
  }
  s->store = store;
  rc = mkdir_p(dir);
  if (rc == 0)
    rc = st_store_db(store, DB_NAME, &s->db);
  if (rc == 0)
    rc = sweep_tree(s);
  if (rc == 0)
    rc = count_usage(s);
  if (rc != 0) {
    st_slice_store_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* Writers must have ended before the store closes. */
void st_slice_store_close(st_slice_store_t *s) {
  if (!s)
    return;
  free(s->dir);
  free(s);
}

/* ---- info ---- */

static int info_fill(const uint8_t root[ST_HASH_LEN], const rec_t *r, st_slice_info_t *info,
                     uint8_t (**blocks)[ST_HASH_LEN]) {
  if (blocks) {
    *blocks = malloc((size_t)r->nblocks * ST_HASH_LEN);
    if (!*blocks)
      return ST_ENOMEM;
    memcpy(*blocks, r->blocks, (size_t)r->nblocks * ST_HASH_LEN);
  }
  memcpy(info->root, root, ST_HASH_LEN);
  info->size = r->size;
  info->nblocks = r->nblocks;
  info->last_verified_ms = r->last_verified_ms;
  info->corrupt = r->corrupt;
  info->refs = r->refs;
  info->stored_ms = r->stored_ms;
  info->added_ms = r->added_ms;
  return 0;
}

int st_slice_info(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], st_slice_info_t *info,
                  uint8_t (**blocks)[ST_HASH_LEN]) {
  st_txn_t *t;
  rec_t r;
  int rc;

  if (!s || !root || !info)
    return ST_EINVAL;
  if (blocks)
    *blocks = NULL;
  rc = st_txn_begin(s->store, false, &t);
  if (rc != 0)
    return rc;
  rc = rec_get(s, t, root, &r);
  if (rc == 0)
    rc = info_fill(root, &r, info, blocks);
  st_txn_abort(t);
  return rc;
}

/* ---- writing ---- */

/* What begin can check before any byte arrives: the size, the block
 * count it implies, and that the list hashes up to root. */
static int check_layout(const uint8_t root[ST_HASH_LEN], uint64_t size, const hash_t *blocks,
                        uint32_t nblocks) {
  uint8_t got[ST_HASH_LEN];
  int rc;

  if (size == 0)
    return ST_EINVAL;
  if (size > ST_FILE_SLICE_MAX)
    return ST_E2BIG;
  if (nblocks != blocks_for(size))
    return ST_EINVAL;
  rc = st_merkle_root(blocks, nblocks, got);
  if (rc != 0)
    return rc;
  return memcmp(got, root, ST_HASH_LEN) == 0 ? 0 : ST_EBADPROOF;
}

static st_slice_writer_t *writer_new(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN],
                                     uint64_t size, const hash_t *blocks, uint32_t nblocks) {
  st_slice_writer_t *w = calloc(1, sizeof(*w));

  if (!w)
    return NULL;
  w->blocks = malloc((size_t)nblocks * ST_HASH_LEN);
  if (!w->blocks) {
    free(w);
    return NULL;
  }
  memcpy(w->blocks, blocks, (size_t)nblocks * ST_HASH_LEN);
  memcpy(w->root, root, ST_HASH_LEN);
  w->s = s;
  w->size = size;
  w->nblocks = nblocks;
  w->fd = -1;
  slice_path(s, root, "", w->final);
  slice_path(s, root, TMP_SUFFIX, w->tmp);
  return w;
}

/* The live list: a root has at most one writer from begin to commit or
 * abort, published file included, and is neither released nor dropped
 * meanwhile. */
static bool writer_live(const st_slice_store_t *s, const uint8_t root[ST_HASH_LEN]) {
  for (const st_slice_writer_t *w = s->live; w; w = w->next_live)
    if (memcmp(w->root, root, ST_HASH_LEN) == 0)
      return true;
  return false;
}

static void writer_unlink_live(st_slice_writer_t *w) {
  for (st_slice_writer_t **pp = &w->s->live; *pp; pp = &(*pp)->next_live) {
    if (*pp == w) {
      *pp = w->next_live;
      return;
    }
  }
}

static void writer_free(st_slice_writer_t *w) {
  free(w->blocks);
  free(w);
}

/* Gives up the temporary file. Only while fd is open is the name ours:
 * once it is unlinked, another writer may create it. */
static void drop_tmp(st_slice_writer_t *w) {
  if (w->fd < 0)
    return;
  close(w->fd);
  unlink(w->tmp);
  w->fd = -1;
}

static int writer_fail(st_slice_writer_t *w, int rc) {
  w->err = rc;
  drop_tmp(w);
  return rc;
}

static int file_present(const char *path, bool *present) {
  struct stat st;

  *present = stat(path, &st) == 0;
  if (*present || errno == ENOENT)
    return 0;
  return st_err_from_errno(errno);
}

/* Decides between writing the file and only adding a reference, from
 * the record (if any) and whether its file is still there. */
static int writer_mode(st_slice_writer_t *w) {
  st_txn_t *t;
  rec_t r;
  int rc = st_txn_begin(w->s->store, false, &t);

  if (rc != 0)
    return rc;
  rc = rec_get(w->s, t, w->root, &r);
  if (rc == 0) {
    w->had_record = true;
    if (r.size != w->size ||
        memcmp(r.blocks, w->blocks, (size_t)w->nblocks * ST_HASH_LEN) != 0)
      rc = ST_EEXIST;
    else if (!r.corrupt)
      rc = file_present(w->final, &w->ref_only);
  } else if (rc == ST_ENOENT) {
    rc = 0;
  }
  st_txn_abort(t);
  return rc;
}

static int writer_create_tmp(st_slice_writer_t *w) {
  int rc = make_fanout(w->final);

  if (rc != 0)
    return rc;
  w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (w->fd >= 0)
    return 0;
  return errno == EEXIST ? ST_ELOCKED : st_err_from_errno(errno);
}

int st_slice_write_begin(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], uint64_t size,
                         const uint8_t (*blocks)[ST_HASH_LEN], uint32_t nblocks,
                         st_slice_writer_t **out) {
  st_slice_writer_t *w;
  int rc;

  if (out)
    *out = NULL;
  if (!s || !root || !blocks || !out)
    return ST_EINVAL;
  rc = check_layout(root, size, blocks, nblocks);
  if (rc != 0)
    return rc;
  if (writer_live(s, root))
    return ST_ELOCKED;
  w = writer_new(s, root, size, blocks, nblocks);
  if (!w)
    return ST_ENOMEM;
  rc = writer_mode(w);
  if (rc == 0 && !w->ref_only)
    rc = writer_create_tmp(w);
  if (rc != 0) {
    writer_free(w);
    return rc;
  }
  w->next_live = s->live;
  s->live = w;
  *out = w;
  return 0;
}

static int check_block(const st_slice_writer_t *w, const void *data, size_t len) {
  uint8_t got[ST_HASH_LEN];

  if (w->next >= w->nblocks)
    return ST_ERANGE;
  if (len != block_len(w->size, w->nblocks, w->next))
    return ST_EINVAL;
  st_merkle_leaf(data, len, got);
  return memcmp(got, w->blocks[w->next], ST_HASH_LEN) == 0 ? 0 : ST_ECORRUPT;
}

/* Runs on a worker thread: touches only the writer and its file. */
int st_slice_write_block(st_slice_writer_t *w, const void *data, size_t len) {
  int rc;

  if (!w || (!data && len > 0))
    return ST_EINVAL;
  if (w->err != 0)
    return w->err;
  rc = check_block(w, data, len);
  if (rc == 0 && !w->ref_only)
    rc = write_all(w->fd, data, len);
  if (rc != 0)
    return writer_fail(w, rc);
  w->next++;
  return 0;
}

/* Makes the file durable under its final name. On failure the temporary
 * file is removed by the caller's drop_tmp (fd still open) or here. */
static int writer_publish(st_slice_writer_t *w) {
  char dir[PATH_MAX];
  int fd = w->fd;

  if (fsync(fd) != 0)
    return st_err_from_errno(errno);
  w->fd = -1;
  if (close(fd) != 0 || rename(w->tmp, w->final) != 0) {
    int rc = st_err_from_errno(errno);
    unlink(w->tmp);
    return rc;
  }
  dir_of(w->final, dir);
  return fsync_dir(dir);
}

/* The record after this commit: a new one, or the stored one with one
 * more reference (and, after a rewrite, freshly verified). */
static int writer_record(st_slice_writer_t *w, st_txn_t *t, rec_t *r, int64_t now) {
  int rc = rec_get(w->s, t, w->root, r);

  if (rc == ST_ENOENT && !w->ref_only) {
    *r = (rec_t){.size = w->size, .nblocks = w->nblocks, .last_verified_ms = now, .refs = 1,
                 .stored_ms = now, .added_ms = now, .blocks = (const hash_t *)w->blocks};
    return 0;
  }
  /* ST_ENOENT for a reference-only writer: the slice was released since
   * begin, and the caller has to send it again. */
  if (rc != 0)
    return rc;
  if (r->refs == UINT32_MAX)
    return ST_ERANGE;
  r->refs++;
  r->added_ms = now;
  if (!w->ref_only) {
    r->corrupt = false;
    r->last_verified_ms = now;
  }
  return 0;
}

static int writer_index(st_slice_writer_t *w) {
  st_slice_store_t *s = w->s;
  st_txn_t *t;
  rec_t r;
  int rc = st_txn_begin(s->store, true, &t);

  if (rc != 0)
    return rc;
  rc = writer_record(w, t, &r, wall_ms());
  if (rc == 0)
    rc = rec_put(s, t, w->root, &r);
  if (rc != 0) {
    st_txn_abort(t);
    return rc;
  }
  rc = st_txn_commit(t);
  if (rc == 0 && r.refs == 1) {
    s->bytes += w->size;
    s->slices++;
  }
  return rc;
}

/* Runs on a worker thread: touches only the writer and its files. */
int st_slice_write_flush(st_slice_writer_t *w) {
  int rc;

  if (!w)
    return ST_EINVAL;
  if (w->err != 0)
    return w->err;
  if (w->ref_only || w->published)
    return 0;
  if (w->next != w->nblocks)
    return writer_fail(w, ST_EINVAL);
  rc = writer_publish(w);
  if (rc != 0)
    return writer_fail(w, rc);
  w->published = true;
  return 0;
}

bool st_slice_write_ref_only(const st_slice_writer_t *w) { return w && w->ref_only; }

int st_slice_write_commit(st_slice_writer_t *w) {
  int rc;

  if (!w)
    return ST_EINVAL;
  rc = st_slice_write_flush(w);
  if (rc == 0)
    rc = writer_index(w);
  /* A renamed file that no record names would be an orphan; one under a
   * record that existed at begin is that slice's good copy and stays. */
  if (rc != 0 && w->published && !w->had_record)
    unlink(w->final);
  drop_tmp(w);
  writer_unlink_live(w);
  writer_free(w);
  return rc;
}

void st_slice_write_abort(st_slice_writer_t *w) {
  if (!w)
    return;
  /* A published file under no record would be an orphan until the next
   * open; under a record that existed at begin it is the good copy. */
  if (w->published && !w->had_record)
    unlink(w->final);
  drop_tmp(w);
  writer_unlink_live(w);
  writer_free(w);
}

/* ---- reading ---- */

/* The expected hash and the geometry of block index, from the index. */
static int lookup_block(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], uint32_t index,
                        uint8_t hash[ST_HASH_LEN], uint64_t *size, uint32_t *nblocks) {
  st_txn_t *t;
  rec_t r;
  int rc = st_txn_begin(s->store, false, &t);

  if (rc != 0)
    return rc;
  rc = rec_get(s, t, root, &r);
  if (rc == 0 && r.corrupt)
    rc = ST_ECORRUPT;
  if (rc == 0 && index >= r.nblocks)
    rc = ST_ERANGE;
  if (rc == 0) {
    memcpy(hash, r.blocks[index], ST_HASH_LEN);
    *size = r.size;
    *nblocks = r.nblocks;
  }
  st_txn_abort(t);
  return rc;
}

/* Sets the record's corrupt flag (and, from a scrub, its verification
 * time when now >= 0). A record released meanwhile is left alone. */
static int mark(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], bool corrupt, int64_t now) {
  st_txn_t *t;
  rec_t r;
  int rc = st_txn_begin(s->store, true, &t);

  if (rc != 0)
    return rc;
  rc = rec_get(s, t, root, &r);
  if (rc == 0) {
    r.corrupt = corrupt;
    if (now >= 0)
      r.last_verified_ms = now;
    rc = rec_put(s, t, root, &r);
  }
  if (rc != 0) {
    st_txn_abort(t);
    return rc == ST_ENOENT ? 0 : rc;
  }
  return st_txn_commit(t);
}

static int read_block(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], uint32_t index,
                      uint8_t *buf, size_t *len, bool check);

int st_slice_read_block(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], uint32_t index,
                        uint8_t *buf, size_t *len) {
  return read_block(s, root, index, buf, len, true);
}

int st_slice_read_block_unchecked(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN],
                                  uint32_t index, uint8_t *buf, size_t *len) {
  return read_block(s, root, index, buf, len, false);
}

static int read_block(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], uint32_t index,
                      uint8_t *buf, size_t *len, bool check) {
  uint8_t hash[ST_HASH_LEN];
  char path[PATH_MAX];
  uint64_t size;
  uint32_t nblocks;
  int rc;

  if (!s || !root || !buf || !len)
    return ST_EINVAL;
  rc = lookup_block(s, root, index, hash, &size, &nblocks);
  if (rc != 0)
    return rc;
  slice_path(s, root, "", path);
  rc = read_checked(path, size, nblocks, index, check ? hash : NULL, buf);
  if (rc == ST_ECORRUPT) {
    char hex[HEX_LEN + 1];
    st_hex_encode(root, ST_HASH_LEN, hex, sizeof(hex));
    ST_WARN(LOG_MOD, "slice %s block %u is corrupt", hex, index);
    (void)mark(s, root, true, -1);
  }
  if (rc == 0)
    *len = block_len(size, nblocks, index);
  return rc;
}

/* ---- release and usage ---- */

/* Drops one reference, or all of them (drop) when none was added at or
 * after added_before; the record goes when none is left, then the file. */
static int unref(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], bool drop,
                 int64_t added_before) {
  char path[PATH_MAX];
  st_txn_t *t;
  rec_t r;
  bool last;
  int rc;

  if (!s || !root)
    return ST_EINVAL;
  if (writer_live(s, root))
    return ST_ELOCKED;
  rc = st_txn_begin(s->store, true, &t);
  if (rc != 0)
    return rc;
  rc = rec_get(s, t, root, &r);
  if (rc == 0 && drop && r.added_ms >= added_before)
    rc = ST_EAGAIN;
  last = rc == 0 && (drop || r.refs <= 1);
  if (rc == 0 && last)
    rc = st_kv_del(t, s->db, root, ST_HASH_LEN);
  else if (rc == 0) {
    r.refs--;
    rc = rec_put(s, t, root, &r);
  }
  if (rc != 0) {
    st_txn_abort(t);
    return rc;
  }
  rc = st_txn_commit(t);
  if (rc != 0 || !last)
    return rc;
  s->bytes -= r.size;
  s->slices--;
  /* After the commit, so that a crash leaves an orphan file (removed at
   * the next open) and never a record without its file. */
  slice_path(s, root, "", path);
  if (unlink(path) != 0 && errno != ENOENT)
    ST_WARN(LOG_MOD, "cannot remove %s: %s", path, strerror(errno));
  return 0;
}

int st_slice_claim(st_slice_store_t *s, const uint8_t (*roots)[ST_HASH_LEN], size_t n,
                   int64_t now_ms, size_t *claimed) {
  st_txn_t *t;
  size_t k = 0;
  int rc = st_txn_begin(s->store, true, &t);

  if (rc != 0)
    return rc;
  for (size_t i = 0; i < n && rc == 0; i++) {
    rec_t r;
    int g = rec_get(s, t, roots[i], &r);
    if (g == ST_ENOENT)
      continue;
    if ((rc = g) != 0)
      break;
    if (r.added_ms < now_ms) {
      r.added_ms = now_ms;
      rc = rec_put(s, t, roots[i], &r);
    }
    k++;
  }
  if (rc != 0) {
    st_txn_abort(t);
    return rc;
  }
  if (claimed)
    *claimed = k;
  return st_txn_commit(t);
}

int st_slice_release(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN]) {
  return unref(s, root, false, 0);
}

int st_slice_drop(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], int64_t added_before_ms) {
  return unref(s, root, true, added_before_ms);
}

/* ---- listing for garbage collection ---- */

typedef struct idle {
  const uint8_t *after;
  int64_t before;
  uint8_t (*out)[ST_HASH_LEN];
  size_t max, n;
  bool more;
} idle_t;

static int idle_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud) {
  idle_t *c = ud;
  rec_t r;

  if (klen != ST_HASH_LEN || rec_decode(val, vlen, &r) != 0)
    return ST_ECORRUPT;
  if (c->after && memcmp(key, c->after, ST_HASH_LEN) == 0)
    return 0;
  if (r.added_ms >= c->before)
    return 0;
  if (c->n == c->max) {
    c->more = true;
    return 1;
  }
  memcpy(c->out[c->n++], key, ST_HASH_LEN);
  return 0;
}

int st_slice_list_idle(st_slice_store_t *s, const uint8_t *after, int64_t added_before_ms,
                       uint8_t (*roots)[ST_HASH_LEN], size_t max, size_t *n, bool *more) {
  idle_t c = {.after = after, .before = added_before_ms, .out = roots, .max = max};
  st_txn_t *t;
  int rc;

  if (n)
    *n = 0;
  if (more)
    *more = false;
  if (!s || !roots || max == 0 || !n || !more)
    return ST_EINVAL;
  rc = st_txn_begin(s->store, false, &t);
  if (rc != 0)
    return rc;
  rc = st_kv_scan(t, s->db, NULL, 0, after, after ? ST_HASH_LEN : 0, idle_cb, &c);
  st_txn_abort(t);
  if (rc != 0)
    return rc;
  *n = c.n;
  *more = c.more;
  return 0;
}

void st_slice_usage(st_slice_store_t *s, uint64_t *bytes, uint64_t *slices) {
  if (bytes)
    *bytes = s ? s->bytes : 0;
  if (slices)
    *slices = s ? s->slices : 0;
}

/* ---- scrub ---- */

typedef struct oldest {
  bool found;
  int64_t ms;
  uint8_t root[ST_HASH_LEN];
} oldest_t;

static int oldest_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud) {
  oldest_t *o = ud;
  rec_t r;

  if (klen != ST_HASH_LEN || rec_decode(val, vlen, &r) != 0)
    return ST_ECORRUPT;
  if (!o->found || r.last_verified_ms < o->ms) {
    o->found = true;
    o->ms = r.last_verified_ms;
    memcpy(o->root, key, ST_HASH_LEN);
  }
  return 0;
}

/* Picks the slice verified longest ago (the first in key order on a tie)
 * and copies what its verification needs. */
static int scrub_pick(st_slice_store_t *s, uint8_t root[ST_HASH_LEN], uint64_t *size,
                      uint32_t *nblocks, hash_t **blocks) {
  oldest_t o = {0};
  st_txn_t *t;
  rec_t r;
  int rc = st_txn_begin(s->store, false, &t);

  if (rc != 0)
    return rc;
  rc = st_kv_scan(t, s->db, NULL, 0, NULL, 0, oldest_cb, &o);
  if (rc == 0 && !o.found)
    rc = ST_ENOENT;
  if (rc == 0)
    rc = rec_get(s, t, o.root, &r);
  if (rc == 0 && !(*blocks = malloc((size_t)r.nblocks * ST_HASH_LEN)))
    rc = ST_ENOMEM;
  if (rc == 0) {
    memcpy(*blocks, r.blocks, (size_t)r.nblocks * ST_HASH_LEN);
    memcpy(root, o.root, ST_HASH_LEN);
    *size = r.size;
    *nblocks = r.nblocks;
  }
  st_txn_abort(t);
  return rc;
}

/* Re-reads every block of the file at path. A missing file, a file of
 * the wrong length, a block that cannot be read or does not match: all
 * make the slice bad. Touches only the file (worker-thread safe). */
static int scrub_verify(const char *path, uint64_t size, uint32_t nblocks, const hash_t *blocks,
                        bool *bad) {
  uint8_t *buf = malloc(ST_FILE_BLOCK);
  uint8_t got[ST_HASH_LEN];
  struct stat st;
  int fd, rc = 0;

  if (!buf)
    return ST_ENOMEM;
  *bad = true;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rc = errno == ENOENT ? 0 : st_err_from_errno(errno);
    free(buf);
    return rc;
  }
  if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == size) {
    uint32_t i;
    for (i = 0; i < nblocks; i++) {
      size_t n = block_len(size, nblocks, i);
      if (read_full(fd, (uint64_t)i * ST_FILE_BLOCK, buf, n) != 0)
        break;
      st_merkle_leaf(buf, n, got);
      if (memcmp(got, blocks[i], ST_HASH_LEN) != 0)
        break;
    }
    *bad = i < nblocks;
  }
  close(fd);
  free(buf);
  return rc;
}

int st_slice_scrub_one(st_slice_store_t *s, int64_t now_ms, bool *bad,
                       uint8_t root[ST_HASH_LEN]) {
  char path[PATH_MAX];
  hash_t *blocks = NULL;
  uint64_t size;
  uint32_t nblocks;
  int rc;

  if (!s || !bad || !root || now_ms < 0)
    return ST_EINVAL;
  *bad = false;
  rc = scrub_pick(s, root, &size, &nblocks, &blocks);
  if (rc != 0)
    return rc;
  slice_path(s, root, "", path);
  rc = scrub_verify(path, size, nblocks, (const hash_t *)blocks, bad);
  free(blocks);
  if (rc != 0)
    return rc;
  if (*bad)
    ST_WARN(LOG_MOD, "scrub: %s is corrupt or missing", path);
  return mark(s, root, *bad, now_ms);
}
