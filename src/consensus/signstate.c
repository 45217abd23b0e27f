/* The sign state: the last (height, round, step) this node signed, the
 * value it signed, the signature and the exact signed bytes, in
 * HOME/data/<name>/sign_state.
 *
 * It is the node's promise never to sign two different values for one
 * step, kept across crashes: the file is replaced atomically (write a
 * temporary file, fsync it, rename it over the old one, fsync the
 * directory) before any signed message leaves the node. Asked to sign the
 * same value again, the engine re-sends the stored signature; asked for a
 * different value at the same step, or for an earlier step, it refuses.
 *
 * Format (big-endian): "STSS" version(1) height(8) round(4) step(1)
 * nil(1) hash(32) signature(64) len(4) bytes(len) checksum(4), the
 * checksum being the first 4 bytes of BLAKE2b-256 of everything before. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <stratos/st_err.h>
#include <stratos/st_log.h>

#include "consensus/consensus_private.h"

#define SS_MAGIC "STSS"
#define SS_VERSION 1
#define SS_FIXED (4 + 1 + 8 + 4 + 1 + 1 + ST_HASH_LEN + ST_SIG_LEN + 4)
#define SS_MAX_BYTES 4096

static void checksum(const uint8_t *p, size_t n, uint8_t out[4]) {
  uint8_t h[32];
  crypto_generichash(h, sizeof(h), p, n, NULL, 0);
  memcpy(out, h, 4);
}

int st_cons__ss_load(st_cons__ss_t *ss, const char *dir) {
  memset(ss, 0, sizeof(*ss));
  if ((size_t)snprintf(ss->dir, sizeof(ss->dir), "%s", dir) >= sizeof(ss->dir) ||
      (size_t)snprintf(ss->path, sizeof(ss->path), "%s/sign_state", dir) >= sizeof(ss->path))
    return ST_E2BIG;
  int fd = open(ss->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : st_err_from_errno(errno);
  uint8_t buf[SS_FIXED + SS_MAX_BYTES + 4];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof(buf) - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      return st_err_from_errno(e);
    }
    if (r == 0)
      break;
    n += (size_t)r;
    if (n == sizeof(buf))
      break;
  }
  close(fd);
  if (n < SS_FIXED + 4 || memcmp(buf, SS_MAGIC, 4) != 0 || buf[4] != SS_VERSION)
    return ST_ECORRUPT;
  const uint8_t *p = buf + 5;
  int64_t h = (int64_t)st_cons__rd64(p);
  int32_t r = (int32_t)st_cons__rd32(p + 8);
  int step = p[12];
  bool nil = p[13] != 0;
  p += 14;
  const uint8_t *hash = p;
  const uint8_t *sig = p + ST_HASH_LEN;
  p += ST_HASH_LEN + ST_SIG_LEN;
  size_t len = st_cons__rd32(p);
  p += 4;
  if (len > SS_MAX_BYTES || n != SS_FIXED + len + 4)
    return ST_ECORRUPT;
  uint8_t ck[4];
  checksum(buf, SS_FIXED + len, ck);
  if (memcmp(ck, buf + SS_FIXED + len, 4) != 0)
    return ST_ECORRUPT;
  if (h < 0 || r < 0 || step < ST_CONS__SIGN_PROPOSAL || step > ST_CONS__SIGN_PRECOMMIT)
    return ST_ECORRUPT;
  ss->height = h;
  ss->round = r;
  ss->step = step;
  ss->nil = nil;
  memcpy(ss->hash, hash, ST_HASH_LEN);
  memcpy(ss->sig, sig, ST_SIG_LEN);
  ss->bytes = malloc(len ? len : 1);
  if (!ss->bytes)
    abort();
  memcpy(ss->bytes, p, len);
  ss->len = len;
  return 0;
}

void st_cons__ss_free(st_cons__ss_t *ss) {
  free(ss->bytes);
  ss->bytes = NULL;
  ss->len = 0;
}

static int cmp_hrs(int64_t h1, int32_t r1, int s1, int64_t h2, int32_t r2, int s2) {
  if (h1 != h2)
    return h1 < h2 ? -1 : 1;
  if (r1 != r2)
    return r1 < r2 ? -1 : 1;
  if (s1 != s2)
    return s1 < s2 ? -1 : 1;
  return 0;
}

int st_cons__ss_check(const st_cons__ss_t *ss, int64_t h, int32_t r, int step, bool nil,
                      const uint8_t *hash) {
  if (ss->height == 0)
    return 0;
  int c = cmp_hrs(h, r, step, ss->height, ss->round, ss->step);
  if (c > 0)
    return 0;
  if (c < 0)
    return ST_EPERM;
  if (nil != ss->nil)
    return ST_EPERM;
  if (!nil && memcmp(hash, ss->hash, ST_HASH_LEN) != 0)
    return ST_EPERM;
  return 1;
}

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

int st_cons__ss_save(st_cons__ss_t *ss, int64_t h, int32_t r, int step, bool nil,
                     const uint8_t *hash, const uint8_t *bytes, size_t len,
                     const uint8_t sig[ST_SIG_LEN]) {
  if (len > SS_MAX_BYTES)
    return ST_E2BIG;
  size_t n = SS_FIXED + len + 4;
  uint8_t *buf = calloc(1, n);
  if (!buf)
    abort();
  memcpy(buf, SS_MAGIC, 4);
  buf[4] = SS_VERSION;
  uint8_t *p = buf + 5;
  st_cons__be64(p, (uint64_t)h);
  st_cons__be32(p + 8, (uint32_t)r);
  p[12] = (uint8_t)step;
  p[13] = nil ? 1 : 0;
  p += 14;
  if (!nil)
    memcpy(p, hash, ST_HASH_LEN);
  memcpy(p + ST_HASH_LEN, sig, ST_SIG_LEN);
  p += ST_HASH_LEN + ST_SIG_LEN;
  st_cons__be32(p, (uint32_t)len);
  p += 4;
  if (len)
    memcpy(p, bytes, len);
  checksum(buf, SS_FIXED + len, buf + SS_FIXED + len);

  char tmp[ST_PATH_MAX + 8];
  snprintf(tmp, sizeof(tmp), "%s.tmp", ss->path);
  int rc = 0;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = st_err_from_errno(errno);
    goto out;
  }
  rc = write_all(fd, buf, n);
  if (rc == 0 && fsync(fd) != 0)
    rc = st_err_from_errno(errno);
  if (close(fd) != 0 && rc == 0)
    rc = st_err_from_errno(errno);
  if (rc == 0 && rename(tmp, ss->path) != 0)
    rc = st_err_from_errno(errno);
  if (rc == 0) {
    int dfd = open(ss->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0)
      rc = st_err_from_errno(errno);
    if (dfd >= 0)
      close(dfd);
  }
  if (rc != 0) {
    unlink(tmp);
    goto out;
  }
  ss->height = h;
  ss->round = r;
  ss->step = step;
  ss->nil = nil;
  memset(ss->hash, 0, ST_HASH_LEN);
  if (!nil)
    memcpy(ss->hash, hash, ST_HASH_LEN);
  memcpy(ss->sig, sig, ST_SIG_LEN);
  free(ss->bytes);
  ss->bytes = malloc(len ? len : 1);
  if (!ss->bytes)
    abort();
  if (len)
    memcpy(ss->bytes, bytes, len);
  ss->len = len;
out:
  free(buf);
  return rc;
}
