/* Key files: round trip, mode 0600, no overwrite, no temporary files left
 * behind, and refusal of files that are too open, malformed, or whose
 * public key or address does not belong to the seed. Each test works in
 * its own fresh directory under $ST_TEST_TMP (or /tmp) and removes it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "stratos/st_bytes.h"
#include "stratos/st_crypto.h"
#include "stratos/st_err.h"

struct fixture {
  char dir[PATH_MAX / 2];
  char path[PATH_MAX];
  st_keypair_t kp;
};

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  const char *base = getenv("ST_TEST_TMP");
  uint8_t seed[ST_SEED_LEN];

  if (f == NULL || st_crypto_init() != 0)
    return -1;
  if (base == NULL || base[0] == '\0')
    base = "/tmp";
  if (mkdir(base, 0700) != 0 && errno != EEXIST)
    return -1;
  snprintf(f->dir, sizeof f->dir, "%s/test_keyfile-XXXXXX", base);
  if (mkdtemp(f->dir) == NULL)
    return -1;
  snprintf(f->path, sizeof f->path, "%s/node_key.json", f->dir);
  for (size_t i = 0; i < sizeof seed; i++)
    seed[i] = (uint8_t)(0xa0 + i);
  if (st_key_from_seed(seed, &f->kp) != 0)
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  DIR *d = opendir(f->dir);
  struct dirent *e;
  char p[PATH_MAX + 256];

  if (d != NULL) {
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
        continue;
      snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
      if (unlink(p) != 0)
        rmdir(p);
    }
    closedir(d);
  }
  rmdir(f->dir);
  st_key_wipe(&f->kp);
  free(f);
  return 0;
}

static size_t count_entries(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t n = 0;
  assert_non_null(d);
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

static void write_file(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static json_t *load_json(const char *path) {
  json_error_t err;
  json_t *j = json_load_file(path, 0, &err);
  assert_non_null(j);
  return j;
}

/* Writes j to path with mode 0600, replacing any file. */
static void dump_json(const char *path, json_t *j) {
  char *text = json_dumps(j, 0);
  assert_non_null(text);
  unlink(path);
  write_file(path, text, 0600);
  free(text);
}

static void test_round_trip(void **state) {
  struct fixture *f = *state;
  st_keypair_t back;
  struct stat st;

  assert_int_equal(st_keyfile_write(f->path, &f->kp, ST_HRP_NODE), 0);
  assert_int_equal(stat(f->path, &st), 0);
  assert_int_equal(st.st_mode & 07777, 0600);
  assert_true(S_ISREG(st.st_mode));
  /* Only the key file: the temporary file is gone. */
  assert_int_equal(count_entries(f->dir), 1);

  memset(&back, 0, sizeof back);
  assert_int_equal(st_keyfile_read(f->path, &back), 0);
  assert_memory_equal(back.pk, f->kp.pk, ST_PUBKEY_LEN);
  assert_memory_equal(back.sk, f->kp.sk, ST_SECKEY_LEN);
  st_key_wipe(&back);
}

static void test_contents(void **state) {
  struct fixture *f = *state;
  char addr_str[ST_ADDR_STR_MAX], pk_hex[65], seed_hex[65];
  uint8_t addr[ST_ADDR_LEN];

  assert_int_equal(st_keyfile_write(f->path, &f->kp, ST_HRP_WALLET), 0);
  json_t *j = load_json(f->path);
  st_addr_from_pubkey(f->kp.pk, addr);
  st_addr_encode(ST_HRP_WALLET, addr, addr_str, sizeof addr_str);
  st_hex_encode(f->kp.pk, ST_PUBKEY_LEN, pk_hex, sizeof pk_hex);
  st_hex_encode(f->kp.sk, ST_SEED_LEN, seed_hex, sizeof seed_hex);
  assert_string_equal(json_string_value(json_object_get(j, "type")), "ed25519");
  assert_string_equal(json_string_value(json_object_get(j, "address")), addr_str);
  assert_int_equal(strncmp(addr_str, "st1", 3), 0);
  assert_string_equal(json_string_value(json_object_get(j, "pub_key")), pk_hex);
  assert_string_equal(json_string_value(json_object_get(j, "seed")), seed_hex);
  json_decref(j);
}

static void test_mode_checked(void **state) {
  struct fixture *f = *state;
  st_keypair_t back;
  const mode_t open_modes[] = {0644, 0640, 0604, 0660, 0606, 0620, 0602, 0700 | 0044};

  assert_int_equal(st_keyfile_write(f->path, &f->kp, ST_HRP_NODE), 0);
  for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
    memset(&back, 0x11, sizeof back);
    assert_int_equal(chmod(f->path, open_modes[i]), 0);
    assert_int_equal(st_keyfile_read(f->path, &back), ST_EPERM);
    assert_int_equal(back.sk[0], 0x11);
  }
  assert_int_equal(chmod(f->path, 0400), 0);
  assert_int_equal(st_keyfile_read(f->path, &back), 0);
  assert_int_equal(chmod(f->path, 0600), 0);
  assert_int_equal(st_keyfile_read(f->path, &back), 0);
  st_key_wipe(&back);
}

static void test_no_overwrite(void **state) {
  struct fixture *f = *state;
  st_keypair_t other, back;
  uint8_t seed[ST_SEED_LEN] = {1};

  assert_int_equal(st_keyfile_write(f->path, &f->kp, ST_HRP_NODE), 0);
  assert_int_equal(st_key_from_seed(seed, &other), 0);
  assert_int_equal(st_keyfile_write(f->path, &other, ST_HRP_NODE), ST_EEXIST);
  assert_int_equal(st_keyfile_read(f->path, &back), 0);
  assert_memory_equal(back.pk, f->kp.pk, ST_PUBKEY_LEN);
  assert_int_equal(count_entries(f->dir), 1);

  /* Any existing entry counts, even an empty file or a dangling link. */
  char p[PATH_MAX + 16];
  snprintf(p, sizeof p, "%s/empty", f->dir);
  write_file(p, "", 0600);
  assert_int_equal(st_keyfile_write(p, &other, ST_HRP_NODE), ST_EEXIST);
  snprintf(p, sizeof p, "%s/dangling", f->dir);
  assert_int_equal(symlink("does-not-exist", p), 0);
  assert_int_equal(st_keyfile_write(p, &other, ST_HRP_NODE), ST_EEXIST);
  st_key_wipe(&other);
  st_key_wipe(&back);
}

static void test_bad_arguments(void **state) {
  struct fixture *f = *state;
  st_keypair_t bad = f->kp;
  char p[PATH_MAX + 16];

  /* A public key that does not belong to the seed is not written. */
  bad.pk[0] ^= 1;
  assert_int_equal(st_keyfile_write(f->path, &bad, ST_HRP_NODE), ST_EINVAL);
  bad = f->kp;
  bad.sk[40] ^= 1;
  assert_int_equal(st_keyfile_write(f->path, &bad, ST_HRP_NODE), ST_EINVAL);
  assert_int_equal(st_keyfile_write(f->path, &f->kp, "BAD"), ST_EINVAL);
  assert_int_equal(st_keyfile_write(f->path, &f->kp, ""), ST_EINVAL);
  assert_int_equal(count_entries(f->dir), 0);
  /* A missing directory. */
  snprintf(p, sizeof p, "%s/no/such/dir/key.json", f->dir);
  assert_int_equal(st_keyfile_write(p, &f->kp, ST_HRP_NODE), ST_ENOENT);
  assert_int_equal(st_keyfile_read(p, &bad), ST_ENOENT);
  assert_int_equal(st_keyfile_read(f->path, &bad), ST_ENOENT);
  /* A directory is not a key file. */
  assert_int_equal(chmod(f->dir, 0700), 0);
  assert_int_equal(st_keyfile_read(f->dir, &bad), ST_EINVAL);
  st_key_wipe(&bad);
}

static void test_corrupt_json(void **state) {
  struct fixture *f = *state;
  st_keypair_t back;
  const char *bad[] = {
    "",
    "{",
    "{\"type\":\"ed25519\",\"address\":",
    "[]",
    "\"ed25519\"",
    "{}",
    "{\"type\":7}",
    "{\"type\":\"ed25519\"}",
    "{\"type\":\"ed25519\",\"pub_key\":\"00\",\"seed\":\"00\",\"address\":\"x\"}",
    "\x89PNG\r\n",
  };

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    unlink(f->path);
    write_file(f->path, bad[i], 0600);
    memset(&back, 0x11, sizeof back);
    assert_int_equal(st_keyfile_read(f->path, &back), ST_EPARSE);
    assert_int_equal(back.pk[0], 0x11);
  }

  /* A truncated real key file. */
  unlink(f->path);
  assert_int_equal(st_keyfile_write(f->path, &f->kp, ST_HRP_NODE), 0);
  assert_int_equal(truncate(f->path, 60), 0);
  assert_int_equal(st_keyfile_read(f->path, &back), ST_EPARSE);
}

/* Rewrites one field of a valid key file and expects rc on reading. */
static void expect_field(struct fixture *f, const char *key, json_t *value, int rc) {
  st_keypair_t back;
  unlink(f->path);
  assert_int_equal(st_keyfile_write(f->path, &f->kp, ST_HRP_NODE), 0);
  json_t *j = load_json(f->path);
  if (value != NULL)
    json_object_set_new(j, key, value);
  else
    json_object_del(j, key);
  dump_json(f->path, j);
  json_decref(j);
  memset(&back, 0x11, sizeof back);
  assert_int_equal(st_keyfile_read(f->path, &back), rc);
  if (rc != 0)
    assert_int_equal(back.pk[0], 0x11);
  st_key_wipe(&back);
}

static void test_fields(void **state) {
  struct fixture *f = *state;
  st_keypair_t other;
  uint8_t seed[ST_SEED_LEN] = {9}, addr[ST_ADDR_LEN];
  char hex[65], addr_str[ST_ADDR_STR_MAX];

  assert_int_equal(st_key_from_seed(seed, &other), 0);

  /* Mismatched public key: another key's, or one bit off. */
  st_hex_encode(other.pk, ST_PUBKEY_LEN, hex, sizeof hex);
  expect_field(f, "pub_key", json_string(hex), ST_ECORRUPT);
  st_hex_encode(f->kp.pk, ST_PUBKEY_LEN, hex, sizeof hex);
  hex[63] = hex[63] == '0' ? '1' : '0';
  expect_field(f, "pub_key", json_string(hex), ST_ECORRUPT);

  /* Address of another key, or under the other prefix (which is fine). */
  st_addr_from_pubkey(other.pk, addr);
  st_addr_encode(ST_HRP_NODE, addr, addr_str, sizeof addr_str);
  expect_field(f, "address", json_string(addr_str), ST_ECORRUPT);
  st_addr_from_pubkey(f->kp.pk, addr);
  st_addr_encode(ST_HRP_WALLET, addr, addr_str, sizeof addr_str);
  expect_field(f, "address", json_string(addr_str), 0);
  addr_str[strlen(addr_str) - 1] ^= 1;
  expect_field(f, "address", json_string(addr_str), ST_EPARSE);

  /* Missing or malformed fields. */
  expect_field(f, "seed", NULL, ST_EPARSE);
  expect_field(f, "pub_key", NULL, ST_EPARSE);
  expect_field(f, "address", NULL, ST_EPARSE);
  expect_field(f, "type", NULL, ST_EPARSE);
  expect_field(f, "seed", json_integer(5), ST_EPARSE);
  expect_field(f, "seed", json_string("zz"), ST_EPARSE);
  st_hex_encode(f->kp.sk, ST_SEED_LEN, hex, sizeof hex);
  hex[10] = 'g';
  expect_field(f, "seed", json_string(hex), ST_EPARSE);
  hex[10] = '\0';
  expect_field(f, "seed", json_string(hex), ST_EPARSE);
  /* A different seed makes the stored public key wrong. */
  st_hex_encode(other.sk, ST_SEED_LEN, hex, sizeof hex);
  expect_field(f, "seed", json_string(hex), ST_ECORRUPT);
  /* Another key type is understood but not supported. */
  expect_field(f, "type", json_string("secp256k1"), ST_ENOTSUP);
  /* Unknown extra fields are ignored. */
  expect_field(f, "comment", json_string("validator 3"), 0);
  st_key_wipe(&other);
}

static void test_size_cap(void **state) {
  struct fixture *f = *state;
  st_keypair_t back;
  char *big = malloc(8192);

  assert_non_null(big);
  memset(big, ' ', 8191);
  big[8191] = '\0';
  big[0] = '{';
  big[8190] = '}';
  write_file(f->path, big, 0600);
  assert_int_equal(st_keyfile_read(f->path, &back), ST_E2BIG);
  free(big);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_contents, setup, teardown),
    cmocka_unit_test_setup_teardown(test_mode_checked, setup, teardown),
    cmocka_unit_test_setup_teardown(test_no_overwrite, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    cmocka_unit_test_setup_teardown(test_corrupt_json, setup, teardown),
    cmocka_unit_test_setup_teardown(test_fields, setup, teardown),
    cmocka_unit_test_setup_teardown(test_size_cap, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
