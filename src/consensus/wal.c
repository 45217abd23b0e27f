/* The write-ahead log of the engine: HOME/data/<name>/wal/, one file per
 * height ("<height, 20 digits>.wal"), append-only.
 *
 * A record is [len u32 BE][checksum u32][type u8][payload len bytes], the
 * checksum being the first 4 bytes of BLAKE2b-256 over type and payload.
 * The engine logs every proposal and vote it accepts, every message it
 * signs (synced before the message is sent) and every timeout it acts
 * on, and ends a height with END_HEIGHT(h) once the block is stored. On
 * restart the file of the next height is replayed to rebuild the round
 * state. A crash can leave a torn last record; reading stops at the first
 * record that is short or fails its checksum, and the file is cut there
 * so that new records never follow garbage.
 *
 * One file per height makes rotation trivial: after END_HEIGHT(h) the
 * file of h+1 is started and files older than the last two are removed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include <stratos/st_err.h>
#include <stratos/st_log.h>

#include "consensus/consensus_private.h"

#define WAL_HDR 9

static void rec_checksum(uint8_t type, const void *p, size_t len, uint8_t out[4]) {
  crypto_generichash_state st;
  uint8_t h[32];
  crypto_generichash_init(&st, NULL, 0, sizeof(h));
  crypto_generichash_update(&st, &type, 1);
  if (len)
    crypto_generichash_update(&st, p, len);
  crypto_generichash_final(&st, h, sizeof(h));
  memcpy(out, h, 4);
}

static int file_path(char *out, size_t cap, const char *dir, int64_t h) {
  if ((size_t)snprintf(out, cap, "%s/%020" PRId64 ".wal", dir, h) >= cap)
    return ST_E2BIG;
  return 0;
}

static int read_at(int fd, uint8_t *p, size_t n, off_t off, size_t *got) {
  *got = 0;
  while (*got < n) {
    ssize_t r = pread(fd, p + *got, n - *got, off + (off_t)*got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return st_err_from_errno(errno);
    if (r == 0)
      break;
    *got += (size_t)r;
  }
  return 0;
}

int st_cons__wal_read_file(const char *path, st_cons__wal_cb cb, void *ud, off_t *good_end) {
  *good_end = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? ST_ENOENT : st_err_from_errno(errno);
  off_t off = 0;
  int rc = 0;
  uint8_t *buf = NULL;
  for (;;) {
    uint8_t hdr[WAL_HDR];
    size_t got;
    if ((rc = read_at(fd, hdr, WAL_HDR, off, &got)) != 0)
      break;
    if (got < WAL_HDR)
      break;
    size_t len = st_cons__rd32(hdr);
    if (len > ST_CONS__WAL_RECORD_MAX)
      break;
    free(buf);
    buf = malloc(len ? len : 1);
    if (!buf)
      abort();
    if ((rc = read_at(fd, buf, len, off + WAL_HDR, &got)) != 0)
      break;
    if (got < len)
      break;
    uint8_t ck[4];
    rec_checksum(hdr[8], buf, len, ck);
    if (memcmp(ck, hdr + 4, 4) != 0)
      break;
    off += WAL_HDR + (off_t)len;
    if (cb && (rc = cb(ud, hdr[8], buf, len)) != 0)
      break;
  }
  free(buf);
  close(fd);
  *good_end = off;
  return rc;
}

int st_cons__wal_open(st_cons__wal_t *w, const char *dir, int64_t height,
                      st_cons__wal_cb cb, void *ud) {
  char path[ST_PATH_MAX + 32];
  int rc;
  w->fd = -1;
  w->height = height;
  if ((size_t)snprintf(w->dir, sizeof(w->dir), "%s", dir) >= sizeof(w->dir))
    return ST_E2BIG;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return st_err_from_errno(errno);
  if ((rc = file_path(path, sizeof(path), dir, height)) != 0)
    return rc;
  off_t good = 0;
  rc = st_cons__wal_read_file(path, cb, ud, &good);
  if (rc != 0 && rc != ST_ENOENT)
    return rc;
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return st_err_from_errno(errno);
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_size > good) {
    ST_WARN("consensus", "WAL %s: cutting a torn tail of %lld bytes", path,
            (long long)(st.st_size - good));
    if (ftruncate(fd, good) != 0 || fsync(fd) != 0) {
      int e = errno;
      close(fd);
      return st_err_from_errno(e);
    }
  }
  if (lseek(fd, 0, SEEK_END) < 0) {
    int e = errno;
    close(fd);
    return st_err_from_errno(e);
  }
  w->fd = fd;
  return 0;
}

int st_cons__wal_append(st_cons__wal_t *w, int type, const void *p, size_t len, bool sync) {
  if (w->fd < 0)
    return ST_ECLOSED;
  if (len > ST_CONS__WAL_RECORD_MAX)
    return ST_E2BIG;
  uint8_t hdr[WAL_HDR];
  st_cons__be32(hdr, (uint32_t)len);
  hdr[8] = (uint8_t)type;
  rec_checksum(hdr[8], p, len, hdr + 4);
  struct iovec iov[2] = {{hdr, WAL_HDR}, {(void *)(uintptr_t)p, len}};
  size_t want = WAL_HDR + len, done = 0;
  while (done < want) {
    ssize_t n;
    if (done < WAL_HDR) {
      struct iovec v[2] = {{hdr + done, WAL_HDR - done}, iov[1]};
      n = writev(w->fd, v, len ? 2 : 1);
    } else {
      n = write(w->fd, (const uint8_t *)p + (done - WAL_HDR), want - done);
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return st_err_from_errno(errno);
    done += (size_t)n;
  }
  if (sync && fdatasync(w->fd) != 0)
    return st_err_from_errno(errno);
  return 0;
}

/* Removes the files of heights below keep_from. */
static void prune(const char *dir, int64_t keep_from) {
  DIR *d = opendir(dir);
  if (!d)
    return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long long h = strtoll(e->d_name, &end, 10);
    if (end == e->d_name || strcmp(end, ".wal") != 0 || h >= keep_from)
      continue;
    char path[ST_PATH_MAX + 300];
    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
}

int st_cons__wal_end_height(st_cons__wal_t *w, int64_t h) {
  uint8_t p[8];
  st_cons__be64(p, (uint64_t)h);
  int rc = 0;
  if (w->height == h)
    rc = st_cons__wal_append(w, ST_CONS__WAL_END_HEIGHT, p, sizeof(p), true);
  if (w->fd >= 0)
    close(w->fd);
  w->fd = -1;
  char path[ST_PATH_MAX + 32];
  int orc = file_path(path, sizeof(path), w->dir, h + 1);
  if (orc == 0) {
    /* A stale file of h+1 (from a height decided elsewhere) is replaced. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      orc = st_err_from_errno(errno);
    else
      w->fd = fd;
  }
  w->height = h + 1;
  prune(w->dir, h + 2 - ST_CONS__WAL_KEEP);
  return rc != 0 ? rc : orc;
}

void st_cons__wal_close(st_cons__wal_t *w) {
  if (w->fd >= 0)
    close(w->fd);
  w->fd = -1;
}
