/* The file client's command line and the pieces it prints: every flag
 * goes to its command only, bad values are usage errors, content types
 * come from the extension, progress lines and gateway errors read as
 * they should. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include <stratos/st_crypto.h>
#include <stratos/st_err.h>
#include "daemon/daemon_private.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define ID_UPPER "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789ABCDEF"

/* Parses a NULL-terminated argument list that starts at the command. */
static int parse(st_files_args_t *a, ...) {
  char *argv[32];
  int argc = 0;
  va_list ap;
  argv[argc++] = (char *)(uintptr_t)"stratosd";
  va_start(ap, a);
  for (const char *w; (w = va_arg(ap, const char *)) != NULL && argc < 31;)
    argv[argc++] = (char *)(uintptr_t)w;
  va_end(ap);
  argv[argc] = NULL;
  return st_daemon__files_parse(argc, argv, a);
}

static void test_put_flags(void **state) {
  st_files_args_t a;
  assert_int_equal(parse(&a, "put", "dir/photo.png", "--encrypt", "--replicas", "3", "--name=p.png",
                         "--content-type", "image/png", "--gateway", "http://h:1", "--home",
                         "/h", "--from", "alice", NULL),
                   ST_EXIT_OK);
  assert_string_equal(a.cmd, "put");
  assert_string_equal(a.target, "dir/photo.png");
  assert_true(a.encrypt);
  assert_int_equal(a.replicas, 3);
  assert_string_equal(a.name, "p.png");
  assert_string_equal(a.content_type, "image/png");
  assert_string_equal(a.gateway, "http://h:1");
  assert_string_equal(a.home, "/h");
  assert_string_equal(a.from, "alice");
  assert_false(a.help);

  assert_int_equal(parse(&a, "put", "f", NULL), ST_EXIT_OK);
  assert_false(a.encrypt);
  assert_int_equal(a.replicas, 0);
  assert_null(a.name);
  assert_null(a.gateway);
  /* "--" ends the flags: a file may start with a dash. */
  assert_int_equal(parse(&a, "put", "--", "-odd", NULL), ST_EXIT_OK);
  assert_string_equal(a.target, "-odd");
}

static void test_get_ls_rm_share_flags(void **state) {
  st_files_args_t a;
  assert_int_equal(parse(&a, "get", ID_UPPER, "-o", "out.bin", NULL), ST_EXIT_OK);
  assert_string_equal(a.id, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  assert_string_equal(a.out, "out.bin");
  assert_int_equal(parse(&a, "get", ID, "-oout.bin", NULL), ST_EXIT_OK);
  assert_string_equal(a.out, "out.bin");
  assert_int_equal(parse(&a, "get", ID, "--output=x", NULL), ST_EXIT_OK);
  assert_string_equal(a.out, "x");

  assert_int_equal(parse(&a, "ls", NULL), ST_EXIT_OK);
  assert_null(a.owner);
  assert_null(a.target);

  st_keypair_t kp;
  uint8_t addr[ST_ADDR_LEN];
  char s[ST_ADDR_STR_MAX];
  assert_int_equal(st_key_generate(&kp), 0);
  st_addr_from_pubkey(kp.pk, addr);
  assert_int_equal(st_addr_encode(ST_HRP_WALLET, addr, s, sizeof(s)), 0);
  assert_int_equal(parse(&a, "ls", "--owner", s, NULL), ST_EXIT_OK);
  assert_string_equal(a.owner, s);

  assert_int_equal(parse(&a, "rm", ID, "--from", "w-1_x", NULL), ST_EXIT_OK);
  assert_string_equal(a.id, ID);

  assert_int_equal(parse(&a, "share", ID, "--expire", "3600", "--password", "pässword", NULL),
                   ST_EXIT_OK);
  assert_int_equal(a.expire_s, 3600);
  assert_string_equal(a.password, "pässword");
  assert_int_equal(parse(&a, "share", ID, NULL), ST_EXIT_OK);
  assert_int_equal(a.expire_s, 0);
  assert_null(a.password);
}

static void test_help(void **state) {
  st_files_args_t a;
  assert_int_equal(parse(&a, "put", "--help", NULL), ST_EXIT_OK);
  assert_true(a.help);
  assert_int_equal(parse(&a, "get", "-h", NULL), ST_EXIT_OK);
  assert_true(a.help);
}

/* Every mistake is a usage error. */
static void test_usage_errors(void **state) {
  static const char *const bad[][8] = {
    {"put", NULL},                                    /* no FILE */
    {"put", "a", "b", NULL},                          /* two files */
    {"put", "f", "--replicas", "0", NULL},
    {"put", "f", "--replicas", "-1", NULL},
    {"put", "f", "--replicas", "3x", NULL},
    {"put", "f", "--replicas", "256", NULL},
    {"put", "f", "--replicas", "99999999999999999999999", NULL},
    {"put", "f", "--replicas", NULL},                 /* no value */
    {"put", "f", "--replicas=", NULL},
    {"put", "f", "--encrypt=yes", NULL},
    {"put", "f", "--encrypt", "--encrypt", NULL},     /* twice */
    {"put", "f", "--name", "a/b", NULL},
    {"put", "f", "--name", "..", NULL},
    {"put", "f", "--name", "a\nb", NULL},
    {"put", "f", "--name", "a\\b", NULL},
    {"put", "f", "--name", "\xff\xfe", NULL},         /* not UTF-8 */
    {"put", "dir/bad\r", NULL},                        /* its own name cannot be stored */
    {"put", "f", "--content-type", "text", NULL},
    {"put", "f", "--content-type", "text/plain\r\nX: y", NULL},
    {"put", "f", "--gateway", "ftp://h", NULL},
    {"put", "f", "--gateway", "127.0.0.1:18552", NULL},
    {"put", "f", "--from", "../x", NULL},
    {"put", "f", "-o", "x", NULL},                    /* get's flag */
    {"put", "f", "--owner", "st1x", NULL},            /* ls's flag */
    {"put", "f", "--frobnicate", NULL},
    {"get", NULL},
    {"get", "abc", NULL},
    {"get", ID "0", NULL},
    {"get", "g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL},
    {"get", ID, "--encrypt", NULL},
    {"get", ID, "-x", NULL},
    {"ls", "extra", NULL},
    {"ls", "--owner", "nobody", NULL},
    {"ls", "--owner", "stsds1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqxxxxxx", NULL},
    {"rm", NULL},
    {"rm", ID, "--expire", "1", NULL},
    {"share", ID, "--expire", "0", NULL},
    {"share", ID, "--expire", "1.5", NULL},
    {"share", ID, "--password", "\xc3", NULL},
    {"share", NULL},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *argv[10] = {(char *)(uintptr_t)"stratosd"};
    int argc = 1;
    for (size_t k = 0; bad[i][k]; k++)
      argv[argc++] = (char *)(uintptr_t)bad[i][k];
    st_files_args_t a;
    if (st_daemon__files_parse(argc, argv, &a) != ST_EXIT_USAGE)
      fail_msg("case %zu (%s %s) was accepted", i, bad[i][0], bad[i][1] ? bad[i][1] : "");
  }
}

static void test_content_type(void **state) {
  assert_string_equal(st_daemon__content_type("a.txt"), "text/plain");
  assert_string_equal(st_daemon__content_type("A.PNG"), "image/png");
  assert_string_equal(st_daemon__content_type("x/y.tar.gz"), "application/gzip");
  assert_string_equal(st_daemon__content_type("photo.JpEg"), "image/jpeg");
  assert_string_equal(st_daemon__content_type("index.html"), "text/html");
  assert_string_equal(st_daemon__content_type("d.json"), "application/json");
  assert_string_equal(st_daemon__content_type("doc.pdf"), "application/pdf");
  assert_string_equal(st_daemon__content_type("noext"), "application/octet-stream");
  assert_string_equal(st_daemon__content_type(".png"), "application/octet-stream");
  assert_string_equal(st_daemon__content_type("a."), "application/octet-stream");
  assert_string_equal(st_daemon__content_type("dir.png/file"), "application/octet-stream");
  assert_string_equal(st_daemon__content_type("x.unknown"), "application/octet-stream");
}

static void test_file_name(void **state) {
  char longest[257];
  memset(longest, 'a', 255);
  longest[255] = '\0';
  assert_true(st_daemon__file_name_ok(longest));
  longest[255] = 'a';
  longest[256] = '\0';
  assert_false(st_daemon__file_name_ok(longest));
  assert_true(st_daemon__file_name_ok("report 2024.pdf"));
  assert_true(st_daemon__file_name_ok("ünïcode.txt"));
  assert_true(st_daemon__file_name_ok("..."));
  assert_false(st_daemon__file_name_ok(""));
  assert_false(st_daemon__file_name_ok("."));
  assert_false(st_daemon__file_name_ok(".."));
  assert_false(st_daemon__file_name_ok("a/b"));
  assert_false(st_daemon__file_name_ok("a\\b"));
  assert_false(st_daemon__file_name_ok("tab\there"));
  assert_false(st_daemon__file_name_ok("del\x7f"));
}

static void test_progress_line(void **state) {
  char line[160];
  st_daemon__progress_line(0, 1000, 0.0, line, sizeof(line));
  assert_string_equal(line, "[----------------]   0%  0 B / 1000 B  0.0 MB/s  ETA --:--");
  /* Half of 100 MiB in 2 s: 26.2 MB/s, 2 s to go. */
  st_daemon__progress_line(50u << 20, 100 << 20, 2.0, line, sizeof(line));
  assert_string_equal(line,
                      "[########--------]  50%  50.0 MiB / 100.0 MiB  26.2 MB/s  ETA 0:02");
  st_daemon__progress_line(1u << 20, (int64_t)4000 << 20, 1.0, line, sizeof(line));
  assert_string_equal(line, "[----------------]   0%  1.0 MiB / 3.9 GiB  1.0 MB/s  ETA 1:06:39");
  st_daemon__progress_line(1000, 1000, 1.0, line, sizeof(line));
  assert_string_equal(line, "[################] 100%  1000 B / 1000 B  0.0 MB/s  done");
  /* An empty file is done at once; an unknown total shows no bar. */
  st_daemon__progress_line(0, 0, 0.5, line, sizeof(line));
  assert_string_equal(line, "[################] 100%  0 B / 0 B  0.0 MB/s  done");
  st_daemon__progress_line(3u << 20, -1, 1.0, line, sizeof(line));
  assert_string_equal(line, "3.0 MiB  3.1 MB/s");
  /* A short buffer still ends in a NUL. */
  char small[8];
  st_daemon__progress_line(50, 100, 1.0, small, sizeof(small));
  assert_int_equal(strlen(small), 7);
}

static void test_gateway_error(void **state) {
  char msg[64];
  const char *ok = "{\"error\":{\"code\":404,\"message\":\"no such file\"}}";
  assert_int_equal(st_daemon__gateway_error(ok, strlen(ok), msg, sizeof(msg)), 0);
  assert_string_equal(msg, "no such file");
  /* Control characters never reach the terminal. */
  const char *esc = "{\"error\":{\"code\":400,\"message\":\"bad\\u001b[2J\\nname\"}}";
  assert_int_equal(st_daemon__gateway_error(esc, strlen(esc), msg, sizeof(msg)), 0);
  assert_string_equal(msg, "bad?[2J?name");
  /* A long message is cut to fit. */
  char big[300];
  snprintf(big, sizeof(big), "{\"error\":{\"code\":500,\"message\":\"%0200d\"}}", 0);
  assert_int_equal(st_daemon__gateway_error(big, strlen(big), msg, sizeof(msg)), 0);
  assert_int_equal(strlen(msg), sizeof(msg) - 1);
  static const char *const not_errors[] = {
    "", "not json", "{}", "{\"error\":\"text\"}", "{\"error\":{\"code\":1}}",
    "{\"error\":{\"message\":\"\"}}", "{\"error\":{\"message\":5}}", "[1]",
  };
  for (size_t i = 0; i < sizeof(not_errors) / sizeof(not_errors[0]); i++)
    assert_int_equal(st_daemon__gateway_error(not_errors[i], strlen(not_errors[i]), msg,
                                              sizeof(msg)),
                     ST_EPARSE);
}

int main(void) {
  if (st_crypto_init() != 0)
    return 1;
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_put_flags),
    cmocka_unit_test(test_get_ls_rm_share_flags),
    cmocka_unit_test(test_help),
    cmocka_unit_test(test_usage_errors),
    cmocka_unit_test(test_content_type),
    cmocka_unit_test(test_file_name),
    cmocka_unit_test(test_progress_line),
    cmocka_unit_test(test_gateway_error),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
