/* Error codes: every code has a distinct name and a sentence, and errno
 * and libuv codes map to the ST_E* code a caller would expect. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "stratos/st_err.h"

static void test_every_code_named(void **state) {
  (void)state;
  for (int e = 0; e > ST_ERR_MIN_; e--) {
    const char *name = st_errname(e);
    const char *text = st_strerror(e);
    assert_non_null(name);
    assert_non_null(text);
    assert_int_equal(strncmp(name, "ST_", 3), 0);
    assert_true(strlen(text) > 2);
    assert_int_equal(text[strlen(text) - 1], '.');
    assert_string_not_equal(text, "Unknown error code.");
    for (int f = e - 1; f > ST_ERR_MIN_; f--) {
      assert_string_not_equal(name, st_errname(f));
      assert_string_not_equal(text, st_strerror(f));
    }
  }
}

static void test_names_match_codes(void **state) {
  (void)state;
  assert_string_equal(st_errname(ST_OK), "ST_OK");
  assert_string_equal(st_errname(ST_EINVAL), "ST_EINVAL");
  assert_string_equal(st_errname(ST_E2BIG), "ST_E2BIG");
  assert_string_equal(st_errname(ST_EBADSIG), "ST_EBADSIG");
  assert_string_equal(st_errname(ST_EADDRINUSE), "ST_EADDRINUSE");
  assert_string_equal(st_errname(ST_ESYS), "ST_ESYS");
  assert_string_equal(st_strerror(ST_ENOENT), "Not found.");
}

static void test_unknown_codes(void **state) {
  (void)state;
  const int bad[] = {1, 42, ST_ERR_MIN_, ST_ERR_MIN_ - 1, -1000, -2147483647 - 1};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_string_equal(st_errname(bad[i]), "ST_E?");
    assert_string_equal(st_strerror(bad[i]), "Unknown error code.");
  }
}

static void test_from_errno(void **state) {
  (void)state;
  assert_int_equal(st_err_from_errno(0), ST_OK);
  assert_int_equal(st_err_from_errno(EINVAL), ST_EINVAL);
  assert_int_equal(st_err_from_errno(ENOMEM), ST_ENOMEM);
  assert_int_equal(st_err_from_errno(ENOENT), ST_ENOENT);
  assert_int_equal(st_err_from_errno(EEXIST), ST_EEXIST);
  assert_int_equal(st_err_from_errno(EIO), ST_EIO);
  assert_int_equal(st_err_from_errno(EAGAIN), ST_EAGAIN);
  assert_int_equal(st_err_from_errno(EWOULDBLOCK), ST_EAGAIN);
  assert_int_equal(st_err_from_errno(EACCES), ST_EPERM);
  assert_int_equal(st_err_from_errno(EPERM), ST_EPERM);
  assert_int_equal(st_err_from_errno(ETIMEDOUT), ST_ETIMEDOUT);
  assert_int_equal(st_err_from_errno(EADDRINUSE), ST_EADDRINUSE);
  assert_int_equal(st_err_from_errno(ENOTSUP), ST_ENOTSUP);
  assert_int_equal(st_err_from_errno(E2BIG), ST_E2BIG);
  assert_int_equal(st_err_from_errno(ERANGE), ST_ERANGE);
  assert_int_equal(st_err_from_errno(EPIPE), ST_ECLOSED);
  assert_int_equal(st_err_from_errno(ECONNRESET), ST_ECLOSED);
  /* Anything without a closer match is an operating-system error. */
  assert_int_equal(st_err_from_errno(ECHILD), ST_ESYS);
  assert_int_equal(st_err_from_errno(100000), ST_ESYS);
}

static void test_from_uv(void **state) {
  (void)state;
  assert_int_equal(st_err_from_errno(UV_EADDRINUSE), ST_EADDRINUSE);
  assert_int_equal(st_err_from_errno(UV_ENOENT), ST_ENOENT);
  assert_int_equal(st_err_from_errno(UV_EEXIST), ST_EEXIST);
  assert_int_equal(st_err_from_errno(UV_ENOMEM), ST_ENOMEM);
  assert_int_equal(st_err_from_errno(UV_EINVAL), ST_EINVAL);
  assert_int_equal(st_err_from_errno(UV_EACCES), ST_EPERM);
  assert_int_equal(st_err_from_errno(UV_ETIMEDOUT), ST_ETIMEDOUT);
  assert_int_equal(st_err_from_errno(UV_EAGAIN), ST_EAGAIN);
  assert_int_equal(st_err_from_errno(UV_EOF), ST_ECLOSED);
  assert_int_equal(st_err_from_errno(UV_ECANCELED), ST_ECLOSED);
  assert_int_equal(st_err_from_errno(UV_ECONNREFUSED), ST_ECLOSED);
  assert_int_equal(st_err_from_errno(UV_EAI_NONAME), ST_ENOENT);
  assert_int_equal(st_err_from_errno(UV_ENOTSUP), ST_ENOTSUP);
  assert_int_equal(st_err_from_errno(-99999), ST_ESYS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_every_code_named),
    cmocka_unit_test(test_names_match_codes),
    cmocka_unit_test(test_unknown_codes),
    cmocka_unit_test(test_from_errno),
    cmocka_unit_test(test_from_uv),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
