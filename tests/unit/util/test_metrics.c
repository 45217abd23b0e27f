/* Unit tests of the metrics registry and its Prometheus text rendering. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <stratos/st_bytes.h>
#include <stratos/st_err.h>
#include <stratos/st_metrics.h>

static double read_ud(void *ud) {
  return *(double *)ud;
}

/* Renders m into a fresh string that the caller frees. */
static char *render(st_metrics_t *m) {
  st_buf_t b;
  char *s;

  st_buf_init(&b, 1 << 20);
  assert_int_equal(st_metrics_render(m, &b), 0);
  s = malloc(b.len + 1);
  assert_non_null(s);
  if (b.len)
    memcpy(s, b.data, b.len);
  s[b.len] = '\0';
  st_buf_free(&b);
  return s;
}

static void test_render_all_types(void **state) {
  static const double bounds[] = {0.005, 0.1, 1, 2.5};
  st_metrics_t *m;
  st_metric_t *c, *c2, *g, *gf, *h, *h2;
  double fnval = 12.25;
  char *out;

  (void)state;
  assert_int_equal(st_metrics_new(&m), 0);
  c = st_metrics_counter(m, "stratos_rpc_requests_total",
                         "Requests served.", "method=\"status\"");
  c2 = st_metrics_counter(m, "stratos_rpc_requests_total", "ignored help",
                          "method=\"block\"");
  g = st_metrics_gauge(m, "stratos_peers", "Connected peers,\nby \\ kind.", "");
  gf = st_metrics_gauge_fn(m, "stratos_store_bytes", "Bytes in use.",
                           "db=\"chain\"", read_ud, &fnval);
  h = st_metrics_histogram(m, "stratos_block_seconds", "Block time.", "",
                           bounds, 4);
  h2 = st_metrics_histogram(m, "stratos_block_seconds", NULL, "role=\"meta\"",
                            bounds, 2);
  assert_non_null(c);
  assert_non_null(c2);
  assert_non_null(g);
  assert_non_null(gf);
  assert_non_null(h);
  assert_non_null(h2);

  st_metric_inc(c);
  st_metric_inc(c);
  st_metric_add(c, 40);
  st_metric_add(c, -5); /* counters never go down */
  st_metric_add(c2, 0.5);
  st_metric_set(g, 7);
  st_metric_add(g, -10);
  st_metric_observe(h, 0.005); /* on a bound: counted in that bucket */
  st_metric_observe(h, 0.05);
  st_metric_observe(h, 0.2);
  st_metric_observe(h, 3);
  st_metric_observe(h, 3);
  st_metric_observe(h, NAN); /* ignored */
  st_metric_observe(h2, 1);

  assert_true(st_metric_value(c) == 42);
  assert_true(st_metric_value(g) == -3);
  assert_true(st_metric_value(gf) == 12.25);
  assert_true(st_metric_value(h) == 5);

  fnval = 1e20; /* read at render time */
  out = render(m);
  assert_string_equal(out,
    "# HELP stratos_rpc_requests_total Requests served.\n"
    "# TYPE stratos_rpc_requests_total counter\n"
    "stratos_rpc_requests_total{method=\"status\"} 42\n"
    "stratos_rpc_requests_total{method=\"block\"} 0.5\n"
    "# HELP stratos_peers Connected peers,\\nby \\\\ kind.\n"
    "# TYPE stratos_peers gauge\n"
    "stratos_peers -3\n"
    "# HELP stratos_store_bytes Bytes in use.\n"
    "# TYPE stratos_store_bytes gauge\n"
    "stratos_store_bytes{db=\"chain\"} 1e+20\n"
    "# HELP stratos_block_seconds Block time.\n"
    "# TYPE stratos_block_seconds histogram\n"
    "stratos_block_seconds_bucket{le=\"0.005\"} 1\n"
    "stratos_block_seconds_bucket{le=\"0.1\"} 2\n"
    "stratos_block_seconds_bucket{le=\"1\"} 3\n"
    "stratos_block_seconds_bucket{le=\"2.5\"} 3\n"
    "stratos_block_seconds_bucket{le=\"+Inf\"} 5\n"
    "stratos_block_seconds_sum 6.255\n"
    "stratos_block_seconds_count 5\n"
    "stratos_block_seconds_bucket{role=\"meta\",le=\"0.005\"} 0\n"
    "stratos_block_seconds_bucket{role=\"meta\",le=\"0.1\"} 0\n"
    "stratos_block_seconds_bucket{role=\"meta\",le=\"+Inf\"} 1\n"
    "stratos_block_seconds_sum{role=\"meta\"} 1\n"
    "stratos_block_seconds_count{role=\"meta\"} 1\n");
  free(out);
  st_metrics_free(m);
}

static void test_numbers(void **state) {
  st_metrics_t *m;
  st_metric_t *g[7];
  char *out;

  (void)state;
  assert_int_equal(st_metrics_new(&m), 0);
  g[0] = st_metrics_gauge(m, "n", "", "i=\"0\"");
  g[1] = st_metrics_gauge(m, "n", "", "i=\"1\"");
  g[2] = st_metrics_gauge(m, "n", "", "i=\"2\"");
  g[3] = st_metrics_gauge(m, "n", "", "i=\"3\"");
  g[4] = st_metrics_gauge(m, "n", "", "i=\"4\"");
  g[5] = st_metrics_gauge(m, "n", "", "i=\"5\"");
  g[6] = st_metrics_gauge(m, "n", "", "i=\"6\"");
  st_metric_set(g[0], 9007199254740991.0); /* 2^53 - 1 */
  st_metric_set(g[1], 9007199254740992.0); /* 2^53 */
  st_metric_set(g[2], 0.1);
  st_metric_set(g[3], -INFINITY);
  st_metric_set(g[4], NAN);
  st_metric_set(g[5], 1.0 / 3.0);
  st_metric_set(g[6], -0.0);
  out = render(m);
  /* No help text: no HELP line. */
  assert_string_equal(out,
    "# TYPE n gauge\n"
    "n{i=\"0\"} 9007199254740991\n"
    "n{i=\"1\"} 9007199254740992\n"
    "n{i=\"2\"} 0.1\n"
    "n{i=\"3\"} -Inf\n"
    "n{i=\"4\"} NaN\n"
    "n{i=\"5\"} 0.3333333333333333\n"
    "n{i=\"6\"} 0\n");
  free(out);
  st_metrics_free(m);
}

static void test_same_series_same_pointer(void **state) {
  static const double b1[] = {1, 2};
  static const double b2[] = {1, 3};
  st_metrics_t *m;
  st_metric_t *a, *b, *h;
  double v = 1;

  (void)state;
  assert_int_equal(st_metrics_new(&m), 0);
  a = st_metrics_counter(m, "x_total", "X.", "k=\"v\"");
  b = st_metrics_counter(m, "x_total", "X.", "k=\"v\"");
  assert_non_null(a);
  assert_ptr_equal(a, b);
  b = st_metrics_counter(m, "x_total", "X.", "k=\"w\"");
  assert_non_null(b);
  assert_ptr_not_equal(a, b);
  a = st_metrics_gauge(m, "y", "Y.", NULL);
  assert_ptr_equal(a, st_metrics_gauge(m, "y", "Y.", ""));
  a = st_metrics_gauge_fn(m, "z", "Z.", "", read_ud, &v);
  assert_ptr_equal(a, st_metrics_gauge_fn(m, "z", "Z.", "", read_ud, &v));
  h = st_metrics_histogram(m, "h", "H.", "", b1, 2);
  assert_non_null(h);
  assert_ptr_equal(h, st_metrics_histogram(m, "h", "H.", "", b1, 2));
  /* The same histogram series with other buckets is a clash. */
  assert_null(st_metrics_histogram(m, "h", "H.", "", b2, 2));
  st_metrics_free(m);
}

static void test_bad_names_and_clashes(void **state) {
  static const double bad_order[] = {1, 1};
  static const double ok[] = {1};
  st_metrics_t *m;
  double v = 0;

  (void)state;
  assert_int_equal(st_metrics_new(&m), 0);
  assert_null(st_metrics_counter(m, "", "h", ""));
  assert_null(st_metrics_counter(m, NULL, "h", ""));
  assert_null(st_metrics_counter(m, "1abc", "h", ""));
  assert_null(st_metrics_counter(m, "a-b", "h", ""));
  assert_null(st_metrics_counter(m, "a b", "h", ""));
  assert_null(st_metrics_gauge(m, "caf\xc3\xa9", "h", ""));
  assert_non_null(st_metrics_counter(m, ":ok_name:1", "h", ""));
  assert_non_null(st_metrics_counter(m, "_also_ok", "h", ""));

  /* Bad label lists. */
  assert_null(st_metrics_counter(m, "l", "h", "a"));
  assert_null(st_metrics_counter(m, "l", "h", "a=b"));
  assert_null(st_metrics_counter(m, "l", "h", "a=\"b"));
  assert_null(st_metrics_counter(m, "l", "h", "a=\"b\","));
  assert_null(st_metrics_counter(m, "l", "h", "1a=\"b\""));
  assert_null(st_metrics_counter(m, "l", "h", "a=\"b\nc\""));
  assert_null(st_metrics_counter(m, "l", "h", "a=\"\\x\""));
  assert_non_null(st_metrics_counter(m, "l", "h", "a=\"b \\\"q\\\" \\\\\",c=\"\""));
  assert_null(st_metrics_histogram(m, "hl", "h", "le=\"1\"", ok, 1));

  /* Buckets must ascend and be finite. */
  assert_null(st_metrics_histogram(m, "hb", "h", "", bad_order, 2));
  assert_null(st_metrics_histogram(m, "hb", "h", "", NULL, 1));

  /* A family keeps its type. */
  assert_non_null(st_metrics_counter(m, "t", "h", ""));
  assert_null(st_metrics_gauge(m, "t", "h", "other=\"1\""));
  assert_null(st_metrics_histogram(m, "t", "h", "", ok, 1));
  assert_non_null(st_metrics_gauge(m, "g", "h", "a=\"1\""));
  /* gauge and gauge_fn share the type, but not one series. */
  assert_non_null(st_metrics_gauge_fn(m, "g", "h", "a=\"2\"", read_ud, &v));
  assert_null(st_metrics_gauge_fn(m, "g", "h", "a=\"1\"", read_ud, &v));
  assert_null(st_metrics_gauge(m, "g", "h", "a=\"2\""));
  assert_null(st_metrics_gauge_fn(m, "g", "h", "a=\"3\"", NULL, &v));

  /* Updates through NULL or the wrong kind do nothing. */
  st_metric_inc(NULL);
  st_metric_observe(st_metrics_counter(m, "t", "h", ""), 1);
  assert_true(st_metric_value(st_metrics_counter(m, "t", "h", "")) == 0);
  st_metrics_free(m);
}

static void test_render_too_big(void **state) {
  st_metrics_t *m;
  st_buf_t b;

  (void)state;
  assert_int_equal(st_metrics_new(&m), 0);
  assert_non_null(st_metrics_counter(m, "a_total", "A long help text.", ""));
  st_buf_init(&b, 40);
  assert_int_equal(st_buf_append(&b, "kept", 4), 0);
  assert_int_equal(st_metrics_render(m, &b), ST_E2BIG);
  /* What was there before stays, nothing half-written follows it. */
  assert_int_equal(b.len, 4);
  assert_memory_equal(b.data, "kept", 4);
  st_buf_free(&b);

  /* An empty registry renders nothing. */
  st_metrics_free(m);
  assert_int_equal(st_metrics_new(&m), 0);
  st_buf_init(&b, 40);
  assert_int_equal(st_metrics_render(m, &b), 0);
  assert_int_equal(b.len, 0);
  st_buf_free(&b);
  st_metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_render_all_types),
    cmocka_unit_test(test_numbers),
    cmocka_unit_test(test_same_series_same_pointer),
    cmocka_unit_test(test_bad_names_and_clashes),
    cmocka_unit_test(test_render_too_big),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
