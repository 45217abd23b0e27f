/* Key files: one ed25519 key as a small JSON object,
 *   {"type":"ed25519","address":"st1...","pub_key":"<hex>","seed":"<hex>"}
 *
 * Writing never replaces an existing key: the text goes to a temporary
 * file in the same directory (mode 0600 from creation), is fsynced, and is
 * then moved into place with a rename that refuses to overwrite (a hard
 * link where the file system has no such rename), and the directory is
 * fsynced. A crash leaves either no key file or a complete one.
 *
 * Reading refuses files that other users could read or change, files that
 * are not regular, files larger than KEYFILE_MAX, and files whose public
 * key or address does not belong to the seed. Buffers that held the seed
 * are wiped before they are released. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "stratos/st_bytes.h"
#include "stratos/st_crypto.h"
#include "stratos/st_err.h"

#define KEYFILE_MAX 4096
#define KEYFILE_TYPE "ed25519"
#define KEYFILE_TMP_SUFFIX ".tmp-XXXXXX"

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return st_err_from_errno(errno);
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Fsyncs the directory that holds path, so that a rename into it is
 * durable. */
static int fsync_parent(const char *path) {
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  size_t n;
  int fd, rc = 0;

  if (slash == NULL) {
    memcpy(dir, ".", 2);
  } else {
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir)
      return ST_E2BIG;
    memcpy(dir, path, n);
    dir[n] = '\0';
  }
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return st_err_from_errno(errno);
  if (fsync(fd) != 0)
    rc = st_err_from_errno(errno);
  close(fd);
  return rc;
}

/* Moves tmp to path unless path exists. */
static int rename_noreplace(const char *tmp, const char *path) {
  if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
    return st_err_from_errno(errno);
  /* The file system cannot refuse a replacing rename; link() refuses an
   * existing target just as well. */
  if (link(tmp, path) != 0)
    return st_err_from_errno(errno);
  unlink(tmp);
  return 0;
}

/* Renders kp as the key file's JSON text. The caller wipes and frees
 * *text. */
static int keyfile_render(const st_keypair_t *kp, const char *hrp, char **text) {
  char addr_str[ST_ADDR_STR_MAX];
  char pk_hex[2 * ST_PUBKEY_LEN + 1];
  char seed_hex[2 * ST_SEED_LEN + 1];
  uint8_t addr[ST_ADDR_LEN];
  json_t *obj;
  int rc;

  st_addr_from_pubkey(kp->pk, addr);
  rc = st_addr_encode(hrp, addr, addr_str, sizeof addr_str);
  if (rc != 0)
    return rc;
  st_hex_encode(kp->pk, ST_PUBKEY_LEN, pk_hex, sizeof pk_hex);
  st_hex_encode(kp->sk, ST_SEED_LEN, seed_hex, sizeof seed_hex);
  obj = json_pack("{s:s, s:s, s:s, s:s}", "type", KEYFILE_TYPE, "address", addr_str,
                  "pub_key", pk_hex, "seed", seed_hex);
  sodium_memzero(seed_hex, sizeof seed_hex);
  if (obj == NULL)
    return ST_ENOMEM;
  *text = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(obj);
  return *text ? 0 : ST_ENOMEM;
}

int st_keyfile_write(const char *path, const st_keypair_t *kp, const char *hrp) {
  st_keypair_t check;
  struct stat st;
  char tmp[PATH_MAX];
  char *text = NULL;
  size_t plen;
  int fd = -1, rc;

  if (path == NULL || kp == NULL || hrp == NULL || path[0] == '\0')
    return ST_EINVAL;
  plen = strnlen(path, sizeof tmp);
  if (plen + sizeof KEYFILE_TMP_SUFFIX > sizeof tmp)
    return ST_E2BIG;

  /* Refuse a key pair whose halves do not belong together. */
  rc = st_key_from_seed(kp->sk, &check);
  if (rc != 0)
    return rc;
  rc = sodium_memcmp(check.pk, kp->pk, ST_PUBKEY_LEN) == 0 &&
           sodium_memcmp(check.sk, kp->sk, ST_SECKEY_LEN) == 0
         ? 0
         : ST_EINVAL;
  st_key_wipe(&check);
  if (rc != 0)
    return rc;

  if (lstat(path, &st) == 0)
    return ST_EEXIST;
  if (errno != ENOENT)
    return st_err_from_errno(errno);

  rc = keyfile_render(kp, hrp, &text);
  if (rc != 0)
    goto out;

  memcpy(tmp, path, plen);
  memcpy(tmp + plen, KEYFILE_TMP_SUFFIX, sizeof KEYFILE_TMP_SUFFIX);
  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    rc = st_err_from_errno(errno);
    goto out;
  }
  if (fchmod(fd, 0600) != 0) {
    rc = st_err_from_errno(errno);
    goto out_unlink;
  }
  rc = write_all(fd, text, strlen(text));
  if (rc == 0)
    rc = write_all(fd, "\n", 1);
  if (rc != 0)
    goto out_unlink;
  if (fsync(fd) != 0) {
    rc = st_err_from_errno(errno);
    goto out_unlink;
  }
  if (close(fd) != 0) {
    fd = -1;
    rc = st_err_from_errno(errno);
    goto out_unlink;
  }
  fd = -1;
  rc = rename_noreplace(tmp, path);
  if (rc != 0)
    goto out_unlink;
  rc = fsync_parent(path);
  goto out;

out_unlink:
  if (fd >= 0)
    close(fd);
  fd = -1;
  unlink(tmp);
out:
  if (text != NULL) {
    sodium_memzero(text, strlen(text));
    free(text);
  }
  return rc;
}

/* Reads the whole file (at most KEYFILE_MAX bytes) after checking its
 * type and mode. */
static int keyfile_load(const char *path, char *buf, size_t *len) {
  struct stat st;
  size_t n = 0;
  int fd, rc = 0;

  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return st_err_from_errno(errno);
  if (fstat(fd, &st) != 0) {
    rc = st_err_from_errno(errno);
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = ST_EINVAL;
    goto out;
  }
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    rc = ST_EPERM;
    goto out;
  }
  /* Read one byte past the cap to notice a file that grew after fstat. */
  for (;;) {
    ssize_t r = read(fd, buf + n, KEYFILE_MAX + 1 - n);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      rc = st_err_from_errno(errno);
      goto out;
    }
    if (r == 0)
      break;
    n += (size_t)r;
    if (n > KEYFILE_MAX) {
      rc = ST_E2BIG;
      goto out;
    }
  }
  *len = n;
out:
  close(fd);
  return rc;
}

/* Decodes a hex field of exactly len bytes. */
static int json_hex_field(json_t *obj, const char *key, uint8_t *out, size_t len) {
  json_t *v = json_object_get(obj, key);
  const char *s;
  size_t n;

  if (!json_is_string(v))
    return ST_EPARSE;
  s = json_string_value(v);
  if (json_string_length(v) != 2 * len)
    return ST_EPARSE;
  if (st_hex_decode(s, 2 * len, out, len, &n) != 0 || n != len)
    return ST_EPARSE;
  return 0;
}

/* Checks the address field against the public key, under whatever hrp
 * the file shows. */
static int check_address(json_t *obj, const uint8_t pk[ST_PUBKEY_LEN]) {
  json_t *v = json_object_get(obj, "address");
  char hrp[ST_BECH32_HRP_MAX + 1];
  uint8_t d5[ST_BECH32_MAX_LEN];
  uint8_t want[ST_ADDR_LEN], got[ST_ADDR_LEN];
  size_t n5;

  if (!json_is_string(v))
    return ST_EPARSE;
  if (st_bech32_decode(json_string_value(v), hrp, sizeof hrp, d5, sizeof d5, &n5) != 0)
    return ST_EPARSE;
  if (st_addr_decode(json_string_value(v), hrp, got) != 0)
    return ST_EPARSE;
  st_addr_from_pubkey(pk, want);
  return memcmp(want, got, ST_ADDR_LEN) == 0 ? 0 : ST_ECORRUPT;
}

int st_keyfile_read(const char *path, st_keypair_t *kp) {
  char buf[KEYFILE_MAX + 1];
  uint8_t seed[ST_SEED_LEN], pk[ST_PUBKEY_LEN];
  st_keypair_t derived;
  json_error_t jerr;
  json_t *obj = NULL, *type;
  size_t len = 0;
  int rc;

  if (path == NULL || kp == NULL)
    return ST_EINVAL;
  rc = keyfile_load(path, buf, &len);
  if (rc != 0)
    goto out;
  obj = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object(obj)) {
    rc = ST_EPARSE;
    goto out;
  }
  type = json_object_get(obj, "type");
  if (!json_is_string(type)) {
    rc = ST_EPARSE;
    goto out;
  }
  if (strcmp(json_string_value(type), KEYFILE_TYPE) != 0) {
    rc = ST_ENOTSUP;
    goto out;
  }
  rc = json_hex_field(obj, "pub_key", pk, sizeof pk);
  if (rc == 0)
    rc = json_hex_field(obj, "seed", seed, sizeof seed);
  if (rc != 0)
    goto out;
  rc = st_key_from_seed(seed, &derived);
  if (rc != 0)
    goto out;
  if (sodium_memcmp(derived.pk, pk, ST_PUBKEY_LEN) != 0) {
    rc = ST_ECORRUPT;
    goto out;
  }
  rc = check_address(obj, derived.pk);
  if (rc != 0)
    goto out;
  *kp = derived;
out:
  json_decref(obj);
  st_key_wipe(&derived);
  sodium_memzero(seed, sizeof seed);
  sodium_memzero(buf, sizeof buf);
  return rc;
}
