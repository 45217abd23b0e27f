/* Temporary directories for unit tests: made under $ST_TEST_TMP (or
 * /tmp), removed whole at the end. Include after <cmocka.h>. */
#ifndef STRATOS_TESTS_UNIT_TEST_TMP_H
#define STRATOS_TESTS_UNIT_TEST_TMP_H

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* mkdir -p with mode 0700. Returns 0 or -1. */
static inline int st_test_mkdir_p(const char *path) {
  char tmp[PATH_MAX];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof(tmp))
    return -1;
  memcpy(tmp, path, n + 1);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

/* A fresh directory named PREFIX-XXXXXX under the test root, in out. */
static inline void st_test_tmpdir(char *out, size_t cap, const char *prefix) {
  const char *base = getenv("ST_TEST_TMP");
  if (!base || !*base)
    base = "/tmp";
  assert_int_equal(st_test_mkdir_p(base), 0);
  assert_true((size_t)snprintf(out, cap, "%s/%s-XXXXXX", base, prefix) < cap);
  assert_non_null(mkdtemp(out));
}

static inline int st_test__rm_entry(const char *path, const struct stat *sb, int flag,
                                    struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* rm -rf dir. Returns 0 or -1. */
static inline int st_test_rm_tree(const char *dir) {
  return nftw(dir, st_test__rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
