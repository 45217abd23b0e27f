/* Unit tests of the LMDB store: records, prefix scans, error codes, and
 * what survives a process killed with SIGKILL in the middle of a write
 * transaction or just after a commit. */
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
#include <unistd.h>

#include <cmocka.h>
#include "test_tmp.h"
#include <lmdb.h>

#include <stratos/st_err.h>
#include <stratos/st_store.h>

/* ---- temporary directories ---- */

static void make_tmpdir(char *out, size_t cap) { st_test_tmpdir(out, cap, "store"); }

static void remove_tree(const char *dir) { assert_int_equal(st_test_rm_tree(dir), 0); }

/* ---- fixture ---- */

typedef struct fix {
  char dir[PATH_MAX];
  st_store_t *s;
  st_db_t db;
} fix_t;

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof(*f));
  st_store_opts_t o = {.map_size = 64u << 20, .no_sync = true};

  assert_non_null(f);
  make_tmpdir(f->dir, sizeof(f->dir));
  assert_int_equal(st_store_open(f->dir, &o, &f->s), 0);
  assert_int_equal(st_store_db(f->s, "test", &f->db), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;

  st_store_close(f->s);
  remove_tree(f->dir);
  free(f);
  return 0;
}

static void put_str(st_store_t *s, st_db_t db, const char *k, const char *v) {
  st_txn_t *t;

  assert_int_equal(st_txn_begin(s, true, &t), 0);
  assert_int_equal(st_kv_put(t, db, k, strlen(k), v, strlen(v)), 0);
  assert_int_equal(st_txn_commit(t), 0);
}

/* Returns the value of k as a fresh string, or NULL if k is missing. */
static char *get_str(st_store_t *s, st_db_t db, const char *k) {
  st_txn_t *t;
  const void *v;
  size_t vlen;
  char *r = NULL;
  int rc;

  assert_int_equal(st_txn_begin(s, false, &t), 0);
  rc = st_kv_get(t, db, k, strlen(k), &v, &vlen);
  if (rc == 0) {
    r = malloc(vlen + 1);
    assert_non_null(r);
    memcpy(r, v, vlen);
    r[vlen] = '\0';
  } else {
    assert_int_equal(rc, ST_ENOENT);
  }
  st_txn_abort(t);
  return r;
}

static void assert_value(st_store_t *s, st_db_t db, const char *k,
                         const char *want) {
  char *got = get_str(s, db, k);

  if (!want) {
    assert_null(got);
    return;
  }
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

/* ---- records ---- */

static void test_put_get_del(void **state) {
  fix_t *f = *state;
  st_txn_t *t;
  const void *v;
  size_t vlen;

  assert_int_equal(st_txn_begin(f->s, true, &t), 0);
  assert_int_equal(st_kv_put(t, f->db, "k1", 2, "one", 3), 0);
  assert_int_equal(st_kv_put(t, f->db, "k2", 2, "", 0), 0);
  /* The writer sees its own writes before commit. */
  assert_int_equal(st_kv_get(t, f->db, "k1", 2, &v, &vlen), 0);
  assert_int_equal(vlen, 3);
  assert_memory_equal(v, "one", 3);
  /* Overwrite. */
  assert_int_equal(st_kv_put(t, f->db, "k1", 2, "uno", 3), 0);
  assert_int_equal(st_txn_commit(t), 0);

  assert_value(f->s, f->db, "k1", "uno");
  assert_value(f->s, f->db, "k2", "");
  assert_value(f->s, f->db, "k3", NULL);

  assert_int_equal(st_txn_begin(f->s, true, &t), 0);
  assert_int_equal(st_kv_del(t, f->db, "k1", 2), 0);
  assert_int_equal(st_kv_del(t, f->db, "k1", 2), ST_ENOENT);
  assert_int_equal(st_kv_del(t, f->db, "zz", 2), ST_ENOENT);
  assert_int_equal(st_kv_get(t, f->db, "k1", 2, &v, &vlen), ST_ENOENT);
  assert_int_equal(st_txn_commit(t), 0);
  assert_value(f->s, f->db, "k1", NULL);
  assert_value(f->s, f->db, "k2", "");
}

static void test_bad_keys(void **state) {
  fix_t *f = *state;
  st_txn_t *t;
  const void *v;
  size_t vlen;
  char big[4096];

  memset(big, 'x', sizeof(big));
  assert_int_equal(st_txn_begin(f->s, true, &t), 0);
  assert_int_equal(st_kv_put(t, f->db, "", 0, "v", 1), ST_EINVAL);
  assert_int_equal(st_kv_put(t, f->db, big, sizeof(big), "v", 1), ST_E2BIG);
  assert_int_equal(st_kv_get(t, f->db, big, sizeof(big), &v, &vlen), ST_E2BIG);
  assert_int_equal(st_kv_del(t, f->db, big, sizeof(big)), ST_E2BIG);
  /* The longest key LMDB takes by default (511 bytes) still works. */
  assert_int_equal(st_kv_put(t, f->db, big, 511, "v", 1), 0);
  assert_int_equal(st_kv_get(t, f->db, big, 511, &v, &vlen), 0);
  assert_int_equal(vlen, 1);
  /* The refused puts did not spoil the transaction. */
  assert_int_equal(st_txn_commit(t), 0);

  /* A read-only transaction cannot write. */
  assert_int_equal(st_txn_begin(f->s, false, &t), 0);
  assert_int_not_equal(st_kv_put(t, f->db, "a", 1, "b", 1), 0);
  st_txn_abort(t);
}

static void test_abort_changes_nothing(void **state) {
  fix_t *f = *state;
  st_txn_t *t;

  put_str(f->s, f->db, "keep", "1");
  assert_int_equal(st_txn_begin(f->s, true, &t), 0);
  assert_int_equal(st_kv_put(t, f->db, "new", 3, "x", 1), 0);
  assert_int_equal(st_kv_put(t, f->db, "keep", 4, "2", 1), 0);
  assert_int_equal(st_kv_del(t, f->db, "keep", 4), 0);
  st_txn_abort(t);

  assert_value(f->s, f->db, "new", NULL);
  assert_value(f->s, f->db, "keep", "1");
}

static void test_named_dbs_are_separate(void **state) {
  fix_t *f = *state;
  st_db_t other, again;

  assert_int_equal(st_store_db(f->s, "other", &other), 0);
  assert_int_not_equal(other, f->db);
  assert_int_equal(st_store_db(f->s, "test", &again), 0);
  assert_int_equal(again, f->db);
  put_str(f->s, f->db, "k", "in test");
  put_str(f->s, other, "k", "in other");
  assert_value(f->s, f->db, "k", "in test");
  assert_value(f->s, other, "k", "in other");
}

/* ---- scans ---- */

typedef struct scan_rec {
  char keys[32][16];
  char vals[32][16];
  int n;
  int stop_after; /* return 1 after this many records; 0 never */
  int fail_after; /* return fail_rc after this many records; 0 never */
  int fail_rc;
} scan_rec_t;

static int scan_cb(const void *key, size_t klen, const void *val, size_t vlen,
                   void *ud) {
  scan_rec_t *r = ud;

  assert_true(r->n < 32);
  assert_true(klen < 16 && vlen < 16);
  memcpy(r->keys[r->n], key, klen);
  r->keys[r->n][klen] = '\0';
  memcpy(r->vals[r->n], val, vlen);
  r->vals[r->n][vlen] = '\0';
  r->n++;
  if (r->fail_after && r->n == r->fail_after)
    return r->fail_rc;
  if (r->stop_after && r->n == r->stop_after)
    return 1;
  return 0;
}

static void fill_scan_data(fix_t *f) {
  static const char *const keys[] = {"a",   "ab",  "ab\xff", "abc", "abd",
                                     "abz", "ac",  "b",      "ba",  "bb"};
  st_txn_t *t;

  assert_int_equal(st_txn_begin(f->s, true, &t), 0);
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    assert_int_equal(
      st_kv_put(t, f->db, keys[i], strlen(keys[i]), keys[i], strlen(keys[i])),
      0);
  assert_int_equal(st_txn_commit(t), 0);
}

static int scan(fix_t *f, const char *prefix, const char *start,
                scan_rec_t *r) {
  st_txn_t *t;
  int rc;

  assert_int_equal(st_txn_begin(f->s, false, &t), 0);
  rc = st_kv_scan(t, f->db, prefix, prefix ? strlen(prefix) : 0, start,
                  start ? strlen(start) : 0, scan_cb, r);
  st_txn_abort(t);
  return rc;
}

static void test_scan_prefix(void **state) {
  fix_t *f = *state;
  scan_rec_t r = {0};

  fill_scan_data(f);
  assert_int_equal(scan(f, "ab", NULL, &r), 0);
  /* "a" sorts before the prefix and "ac" after it: both stay out. */
  assert_int_equal(r.n, 5);
  /* Byte order: "ab\xff" is the last key under the prefix. */
  assert_string_equal(r.keys[0], "ab");
  assert_string_equal(r.keys[1], "abc");
  assert_string_equal(r.keys[2], "abd");
  assert_string_equal(r.keys[3], "abz");
  assert_string_equal(r.keys[4], "ab\xff");
  assert_string_equal(r.vals[1], "abc");

  memset(&r, 0, sizeof(r));
  assert_int_equal(scan(f, "b", NULL, &r), 0);
  assert_int_equal(r.n, 3);
  assert_string_equal(r.keys[0], "b");
  assert_string_equal(r.keys[2], "bb");

  memset(&r, 0, sizeof(r));
  assert_int_equal(scan(f, "abc", NULL, &r), 0);
  assert_int_equal(r.n, 1);

  memset(&r, 0, sizeof(r));
  assert_int_equal(scan(f, "c", NULL, &r), 0);
  assert_int_equal(r.n, 0);
  memset(&r, 0, sizeof(r));
  assert_int_equal(scan(f, "aa", NULL, &r), 0);
  assert_int_equal(r.n, 0);

  /* The empty prefix matches everything. */
  memset(&r, 0, sizeof(r));
  assert_int_equal(scan(f, NULL, NULL, &r), 0);
  assert_int_equal(r.n, 10);
  assert_string_equal(r.keys[0], "a");
  assert_string_equal(r.keys[9], "bb");
}

static void test_scan_start(void **state) {
  fix_t *f = *state;
  scan_rec_t r = {0};

  fill_scan_data(f);
  /* Start inside the prefix range, on a missing key. */
  assert_int_equal(scan(f, "ab", "abca", &r), 0);
  assert_int_equal(r.n, 3);
  assert_string_equal(r.keys[0], "abd");
  assert_string_equal(r.keys[1], "abz");
  assert_string_equal(r.keys[2], "ab\xff");

  /* Start on an existing key includes it. */
  memset(&r, 0, sizeof(r));
  assert_int_equal(scan(f, "ab", "abd", &r), 0);
  assert_int_equal(r.n, 3);
  assert_string_equal(r.keys[0], "abd");

  /* Start before the prefix is the same as no start. */
  memset(&r, 0, sizeof(r));
  assert_int_equal(scan(f, "ab", "a", &r), 0);
  assert_int_equal(r.n, 5);

  /* Start after the prefix range gives nothing. */
  memset(&r, 0, sizeof(r));
  assert_int_equal(scan(f, "ab", "ac", &r), 0);
  assert_int_equal(r.n, 0);

  /* No prefix, start in the middle. */
  memset(&r, 0, sizeof(r));
  assert_int_equal(scan(f, NULL, "b", &r), 0);
  assert_int_equal(r.n, 3);
  assert_string_equal(r.keys[0], "b");
}

static void test_scan_long_start(void **state) {
  fix_t *f = *state;
  scan_rec_t r = {0};
  char start[600];
  st_txn_t *t;

  fill_scan_data(f);
  /* A start key longer than any key LMDB can hold still orders as bytes:
   * "abc" followed by 597 zero bytes sorts after "abc" and before "abd". */
  memset(start, 0, sizeof(start));
  memcpy(start, "abc", 3);
  assert_int_equal(st_txn_begin(f->s, false, &t), 0);
  assert_int_equal(
    st_kv_scan(t, f->db, "ab", 2, start, sizeof(start), scan_cb, &r), 0);
  st_txn_abort(t);
  assert_int_equal(r.n, 3);
  assert_string_equal(r.keys[0], "abd");
}

static void test_scan_stop_and_error(void **state) {
  fix_t *f = *state;
  scan_rec_t r = {0};

  fill_scan_data(f);
  r.stop_after = 2;
  assert_int_equal(scan(f, "ab", NULL, &r), 0);
  assert_int_equal(r.n, 2);
  assert_string_equal(r.keys[1], "abc");

  memset(&r, 0, sizeof(r));
  r.fail_after = 3;
  r.fail_rc = ST_EIO;
  assert_int_equal(scan(f, NULL, NULL, &r), ST_EIO);
  assert_int_equal(r.n, 3);

  memset(&r, 0, sizeof(r));
  r.fail_after = 1;
  r.fail_rc = -1000;
  assert_int_equal(scan(f, "b", NULL, &r), -1000);
  assert_int_equal(r.n, 1);
}

/* ---- environment ---- */

static void test_reopen_keeps_data(void **state) {
  fix_t *f = *state;
  st_store_t *s2;
  st_db_t db2;

  put_str(f->s, f->db, "persist", "yes");
  st_store_close(f->s);
  f->s = NULL;

  assert_int_equal(st_store_open(f->dir, NULL, &s2), 0);
  assert_int_equal(st_store_db(s2, "test", &db2), 0);
  assert_value(s2, db2, "persist", "yes");
  f->s = s2;
}

static void test_open_errors(void **state) {
  fix_t *f = *state;
  char missing[PATH_MAX + 16];
  st_store_t *s2 = (st_store_t *)1;

  snprintf(missing, sizeof(missing), "%s/does-not-exist", f->dir);
  assert_int_equal(st_store_open(missing, NULL, &s2), ST_ENOENT);
  assert_null(s2);
  /* The same environment twice in one process is refused. */
  assert_int_equal(st_store_open(f->dir, NULL, &s2), ST_ELOCKED);
  assert_null(s2);
  /* And the first handle still works. */
  put_str(f->s, f->db, "still", "fine");
  assert_value(f->s, f->db, "still", "fine");
}

static void test_usage(void **state) {
  fix_t *f = *state;
  size_t map, used0, used1;
  st_txn_t *t;
  char key[16], val[1024];

  assert_int_equal(st_store_usage(f->s, &map, &used0), 0);
  assert_int_equal(map, 64u << 20);
  assert_true(used0 > 0 && used0 < map);

  memset(val, 'v', sizeof(val));
  assert_int_equal(st_txn_begin(f->s, true, &t), 0);
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof(key), "k%05d", i);
    assert_int_equal(st_kv_put(t, f->db, key, strlen(key), val, sizeof(val)), 0);
  }
  assert_int_equal(st_txn_commit(t), 0);
  assert_int_equal(st_store_usage(f->s, &map, &used1), 0);
  /* A thousand 1 KiB values take at least 1 MB more. */
  assert_true(used1 >= used0 + 1000 * 1024);
}

static void test_map_full(void **state) {
  char dir[PATH_MAX];
  st_store_opts_t o = {.map_size = 256u << 10, .no_sync = true};
  st_store_t *s;
  st_db_t db;
  st_txn_t *t;
  char key[16], val[4096];
  int rc = 0, i;

  (void)state;
  make_tmpdir(dir, sizeof(dir));
  assert_int_equal(st_store_open(dir, &o, &s), 0);
  assert_int_equal(st_store_db(s, "d", &db), 0);
  put_str(s, db, "before", "full");

  memset(val, 'v', sizeof(val));
  assert_int_equal(st_txn_begin(s, true, &t), 0);
  for (i = 0; i < 1000; i++) {
    snprintf(key, sizeof(key), "k%05d", i);
    rc = st_kv_put(t, db, key, strlen(key), val, sizeof(val));
    if (rc != 0)
      break;
  }
  /* 256 KiB cannot hold a thousand 4 KiB values. */
  assert_true(i < 1000);
  assert_int_equal(rc, ST_EMAPFULL);
  st_txn_abort(t);

  /* Nothing of the failed transaction is there; older data is. */
  assert_value(s, db, "k00000", NULL);
  assert_value(s, db, "before", "full");
  st_store_close(s);
  remove_tree(dir);
}

static void test_error_mapping(void **state) {
  (void)state;
  assert_int_equal(st_store_error(MDB_SUCCESS), 0);
  assert_int_equal(st_store_error(MDB_NOTFOUND), ST_ENOENT);
  assert_int_equal(st_store_error(MDB_KEYEXIST), ST_EEXIST);
  assert_int_equal(st_store_error(MDB_MAP_FULL), ST_EMAPFULL);
  assert_int_equal(st_store_error(MDB_CORRUPTED), ST_ECORRUPT);
  assert_int_equal(st_store_error(MDB_PAGE_NOTFOUND), ST_ECORRUPT);
  assert_int_equal(st_store_error(MDB_INVALID), ST_ECORRUPT);
  assert_int_equal(st_store_error(MDB_BAD_VALSIZE), ST_E2BIG);
  assert_int_equal(st_store_error(MDB_DBS_FULL), ST_ESTORE);
  assert_int_equal(st_store_error(MDB_BAD_TXN), ST_ESTORE);
  assert_int_equal(st_store_error(ENOENT), st_err_from_errno(ENOENT));
  assert_int_equal(st_store_error(ENOMEM), st_err_from_errno(ENOMEM));
}

/* ---- crashes ---- */

enum { CRASH_BEFORE_COMMIT, CRASH_AFTER_COMMIT };

/* The child: commits a=1, then writes b=2 and a few megabytes in a second
 * transaction, tells the parent (one byte on fd) either while that
 * transaction is still open or right after it committed, and waits to be
 * killed. Any failure exits without writing the byte. */
static void crash_child(const char *dir, int fd, int mode) {
  st_store_t *s;
  st_db_t db;
  st_txn_t *t;
  char key[16], val[4096];

  if (st_store_open(dir, NULL, &s) != 0 || st_store_db(s, "d", &db) != 0)
    _exit(2);
  if (st_txn_begin(s, true, &t) != 0 || st_kv_put(t, db, "a", 1, "1", 1) != 0 ||
      st_txn_commit(t) != 0)
    _exit(3);
  if (st_txn_begin(s, true, &t) != 0 || st_kv_put(t, db, "b", 1, "2", 1) != 0 ||
      st_kv_put(t, db, "a", 1, "changed", 7) != 0)
    _exit(4);
  memset(val, 'z', sizeof(val));
  for (int i = 0; i < 2048; i++) {
    snprintf(key, sizeof(key), "big%05d", i);
    if (st_kv_put(t, db, key, strlen(key), val, sizeof(val)) != 0)
      _exit(5);
  }
  if (mode == CRASH_AFTER_COMMIT && st_txn_commit(t) != 0)
    _exit(6);
  if (write(fd, "x", 1) != 1)
    _exit(7);
  for (;;)
    pause();
}

static void run_crash(int mode) {
  char dir[PATH_MAX], byte;
  int fds[2], status;
  st_store_t *s;
  st_db_t db;
  st_txn_t *t;
  const void *v;
  size_t vlen;
  pid_t pid;

  make_tmpdir(dir, sizeof(dir));
  assert_int_equal(pipe(fds), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    crash_child(dir, fds[1], mode);
    _exit(1);
  }
  close(fds[1]);
  assert_int_equal(read(fds[0], &byte, 1), 1);
  assert_int_equal(kill(pid, SIGKILL), 0);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  close(fds[0]);

  assert_int_equal(st_store_open(dir, NULL, &s), 0);
  assert_int_equal(st_store_db(s, "d", &db), 0);
  assert_int_equal(st_txn_begin(s, false, &t), 0);
  assert_int_equal(st_kv_get(t, db, "a", 1, &v, &vlen), 0);
  if (mode == CRASH_BEFORE_COMMIT) {
    assert_int_equal(vlen, 1);
    assert_memory_equal(v, "1", 1);
    assert_int_equal(st_kv_get(t, db, "b", 1, &v, &vlen), ST_ENOENT);
    assert_int_equal(st_kv_get(t, db, "big00000", 8, &v, &vlen), ST_ENOENT);
  } else {
    assert_int_equal(vlen, 7);
    assert_memory_equal(v, "changed", 7);
    assert_int_equal(st_kv_get(t, db, "b", 1, &v, &vlen), 0);
    assert_int_equal(vlen, 1);
    assert_memory_equal(v, "2", 1);
    assert_int_equal(st_kv_get(t, db, "big02047", 8, &v, &vlen), 0);
    assert_int_equal(vlen, 4096);
  }
  st_txn_abort(t);

  /* The writer lock the dead child held is usable again. */
  assert_int_equal(st_txn_begin(s, true, &t), 0);
  assert_int_equal(st_kv_put(t, db, "after", 5, "ok", 2), 0);
  assert_int_equal(st_txn_commit(t), 0);
  st_store_close(s);
  remove_tree(dir);
}

static void test_crash_before_commit(void **state) {
  (void)state;
  run_crash(CRASH_BEFORE_COMMIT);
}

static void test_crash_after_commit(void **state) {
  (void)state;
  run_crash(CRASH_AFTER_COMMIT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
    cmocka_unit_test_setup_teardown(test_abort_changes_nothing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_named_dbs_are_separate, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scan_prefix, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scan_start, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scan_long_start, setup, teardown),
    cmocka_unit_test_setup_teardown(test_scan_stop_and_error, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
    cmocka_unit_test(test_map_full),
    cmocka_unit_test(test_error_mapping),
    cmocka_unit_test(test_crash_before_commit),
    cmocka_unit_test(test_crash_after_commit),
  };

  signal(SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
