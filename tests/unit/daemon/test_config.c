/* Configuration: the defaults equal the documented file, every key is
 * validated, and a bad line is named in the error. */
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
#include <stratos/st_config.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>

static char dir[512];

static int setup(void **state) {
  const char *t = getenv("ST_TEST_TMP");
  if (!t)
    t = "/tmp";
  mkdir(t, 0700);
  snprintf(dir, sizeof(dir), "%s/cfgXXXXXX", t);
  assert_non_null(mkdtemp(dir));
  return 0;
}

static int teardown(void **state) {
  char p[600];
  snprintf(p, sizeof(p), "%s/c.conf", dir);
  unlink(p);
  rmdir(dir);
  return 0;
}

static void write_conf(const char *text, char *path, size_t cap) {
  snprintf(path, cap, "%s/c.conf", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_defaults(void **state) {
  st_config_t c;
  st_config_defaults(&c);
  assert_string_equal(c.rpc_laddr.host, "127.0.0.1");
  assert_int_equal(c.rpc_laddr.port, 18252);
  assert_int_equal(c.gw_laddr.port, 18552);
  assert_int_equal(c.p2p_laddr.port, 18081);
  assert_int_equal(c.roles, ST_ROLE_VALUE);
  assert_int_equal(c.rpc_max_body, 1048576);
  assert_int_equal(c.map_size, (size_t)4096 << 20);
  assert_int_equal(c.log_level, ST_LOG_INFO);
}

/* The shipped config file parses and gives exactly the built-in defaults. */
static void test_shipped_file_equals_defaults(void **state) {
  st_config_t a, b;
  char err[256] = "";
  st_config_defaults(&a);
  st_config_defaults(&b);
  const char *src = getenv("ST_SOURCE_DIR");
  char path[1024];
  snprintf(path, sizeof(path), "%s/config/stratosd.conf", src ? src : ".");
  assert_int_equal(st_config_load(&b, path, err, sizeof(err)), 0);
  assert_memory_equal(&a, &b, sizeof(a));
}

static void test_roles(void **state) {
  unsigned r;
  assert_int_equal(st_config_parse_roles("all", &r), 0);
  assert_int_equal(r, ST_ROLE_ALL);
  assert_int_equal(st_config_parse_roles("value,resource", &r), 0);
  assert_int_equal(r, ST_ROLE_VALUE | ST_ROLE_RESOURCE);
  assert_int_equal(st_config_parse_roles("meta", &r), 0);
  assert_int_equal(r, ST_ROLE_META);
  assert_int_not_equal(st_config_parse_roles("", &r), 0);
  assert_int_not_equal(st_config_parse_roles("value,", &r), 0);
  assert_int_not_equal(st_config_parse_roles("miner", &r), 0);
  assert_int_not_equal(st_config_parse_roles("valuemeta", &r), 0);
  char s[64];
  st_config_roles_str(ST_ROLE_ALL, s, sizeof(s));
  assert_string_equal(s, "value,meta,resource");
}

static void test_laddr(void **state) {
  st_laddr_t l;
  assert_int_equal(st_config_parse_laddr("127.0.0.1:0", &l), 0);
  assert_int_equal(l.port, 0);
  assert_int_equal(st_config_parse_laddr("0.0.0.0:65535", &l), 0);
  assert_int_equal(l.port, 65535);
  assert_int_not_equal(st_config_parse_laddr("127.0.0.1:65536", &l), 0);
  assert_int_not_equal(st_config_parse_laddr("127.0.0.1:", &l), 0);
  assert_int_not_equal(st_config_parse_laddr(":80", &l), 0);
  assert_int_not_equal(st_config_parse_laddr("localhost:80", &l), 0);
  assert_int_not_equal(st_config_parse_laddr("1.2.3.256:80", &l), 0);
  assert_int_not_equal(st_config_parse_laddr("nonsense", &l), 0);
  assert_int_not_equal(st_config_parse_laddr("1.2.3.4:8x", &l), 0);
}

static void test_bad_value_names_line_and_key(void **state) {
  char path[600], err[512] = "";
  st_config_t c;
  st_config_defaults(&c);
  write_conf("[node]\nmoniker = a\n\n[rpc]\nladdr = nonsense\n", path, sizeof(path));
  assert_int_equal(st_config_load(&c, path, err, sizeof(err)), ST_ECONFIG);
  assert_non_null(strstr(err, "line 5"));
  assert_non_null(strstr(err, "rpc.laddr"));
  /* Nothing after the bad line was applied, and the bad value was not. */
  assert_int_equal(c.rpc_laddr.port, 18252);
}

static void test_unknown_key_and_section(void **state) {
  char path[600], err[512] = "";
  st_config_t c;
  st_config_defaults(&c);
  write_conf("[rpc]\nlisten = 1\n", path, sizeof(path));
  assert_int_equal(st_config_load(&c, path, err, sizeof(err)), ST_ECONFIG);
  assert_non_null(strstr(err, "unknown key rpc.listen"));
  write_conf("[nosuch]\nladdr = 1.2.3.4:5\n", path, sizeof(path));
  assert_int_equal(st_config_load(&c, path, err, sizeof(err)), ST_ECONFIG);
  assert_non_null(strstr(err, "nosuch.laddr"));
}

static void test_ranges(void **state) {
  st_config_t c;
  char err[256];
  st_config_defaults(&c);
  assert_int_equal(st_config_set(&c, "rpc", "max_body_bytes", "1023", err, sizeof(err)),
                   ST_ECONFIG);
  assert_int_equal(st_config_set(&c, "rpc", "max_body_bytes", "-5", err, sizeof(err)),
                   ST_ECONFIG);
  assert_int_equal(st_config_set(&c, "rpc", "max_body_bytes", "99999999999999999999999",
                                 err, sizeof(err)), ST_ECONFIG);
  assert_int_equal(st_config_set(&c, "rpc", "max_body_bytes", "2048", err, sizeof(err)), 0);
  assert_int_equal(c.rpc_max_body, 2048);
  assert_int_equal(st_config_set(&c, "node", "log_format", "xml", err, sizeof(err)),
                   ST_ECONFIG);
  assert_int_equal(st_config_set(&c, "node", "log_format", "json", err, sizeof(err)), 0);
  assert_true(c.log_json);
  assert_int_equal(st_config_set(&c, "store", "map_size_mb", "8", err, sizeof(err)),
                   ST_ECONFIG);
  assert_true(c.res_reserve_bytes == 256ull << 20);
  assert_int_equal(st_config_set(&c, "resource", "reserve_mb", "-1", err, sizeof(err)),
                   ST_ECONFIG);
  assert_int_equal(st_config_set(&c, "resource", "reserve_mb", "16777217", err, sizeof(err)),
                   ST_ECONFIG);
  assert_int_equal(st_config_set(&c, "resource", "reserve_mb", "0", err, sizeof(err)), 0);
  assert_true(c.res_reserve_bytes == 0);
  assert_int_equal(st_config_set(&c, "resource", "reserve_mb", "16777216", err, sizeof(err)),
                   0);
  assert_true(c.res_reserve_bytes == 16777216ull << 20);
}

/* Peer lists continue on indented lines (config lines are short). */
static void test_multiline_peer_list(void **state) {
  char path[600], err[512] = "";
  st_config_t c;
  st_config_defaults(&c);
  write_conf("[p2p]\npersistent_peers = a@1.2.3.4:1,\n    b@1.2.3.4:2,\n    c@1.2.3.4:3\n"
             "seeds = s@5.6.7.8:9\n", path, sizeof(path));
  assert_int_equal(st_config_load(&c, path, err, sizeof(err)), 0);
  assert_string_equal(c.persistent_peers, "a@1.2.3.4:1,b@1.2.3.4:2,c@1.2.3.4:3");
  assert_string_equal(c.seeds, "s@5.6.7.8:9");
}

static void test_missing_file(void **state) {
  st_config_t c;
  char err[256];
  st_config_defaults(&c);
  assert_int_equal(st_config_load(&c, "/nonexistent/x.conf", err, sizeof(err)), ST_ENOENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_shipped_file_equals_defaults),
    cmocka_unit_test(test_roles),
    cmocka_unit_test(test_laddr),
    cmocka_unit_test_setup_teardown(test_bad_value_names_line_and_key, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unknown_key_and_section, setup, teardown),
    cmocka_unit_test(test_ranges),
    cmocka_unit_test_setup_teardown(test_multiline_peer_list, setup, teardown),
    cmocka_unit_test(test_missing_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
