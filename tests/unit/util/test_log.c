/* Logging: records are read back from a pipe (or a file, for the threaded
 * test) and checked field by field; JSON records are parsed back with
 * jansson. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "stratos/st_err.h"
#include "stratos/st_log.h"

struct pipe_fixture {
  int rd;
  int wr;
};

static int setup(void **state) {
  struct pipe_fixture *f = malloc(sizeof *f);
  int fds[2];
  if (f == NULL || pipe(fds) != 0)
    return -1;
  f->rd = fds[0];
  f->wr = fds[1];
  fcntl(f->rd, F_SETFL, O_NONBLOCK);
  st_log_set_fd(f->wr);
  st_log_set_json(false);
  st_log_set_level(ST_LOG_INFO);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct pipe_fixture *f = *state;
  st_log_set_fd(2);
  st_log_set_json(false);
  st_log_set_level(ST_LOG_INFO);
  close(f->rd);
  close(f->wr);
  free(f);
  return 0;
}

/* Reads everything written so far (records are complete once st_log
 * returns). Returns the byte count; buf is NUL-terminated. */
static size_t drain(int fd, char *buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, cap - 1 - n);
    if (r <= 0)
      break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  return n;
}

/* Checks "YYYY-MM-DDTHH:MM:SS.mmmZ" and that it is within a minute of now. */
static void assert_timestamp(const char *ts) {
  struct tm tm;
  int ms;
  char z;

  assert_true(strlen(ts) >= 24);
  assert_int_equal(ts[4], '-');
  assert_int_equal(ts[7], '-');
  assert_int_equal(ts[10], 'T');
  assert_int_equal(ts[13], ':');
  assert_int_equal(ts[16], ':');
  assert_int_equal(ts[19], '.');
  assert_int_equal(ts[23], 'Z');
  memset(&tm, 0, sizeof tm);
  assert_int_equal(sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &tm.tm_year, &tm.tm_mon,
                          &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &z),
                   8);
  assert_int_equal(z, 'Z');
  assert_in_range(ms, 0, 999);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  time_t t = timegm(&tm);
  time_t now = time(NULL);
  assert_true(t <= now + 1 && t >= now - 60);
}

static void test_text_line(void **state) {
  struct pipe_fixture *f = *state;
  char buf[8192];

  ST_INFO("rpc", "hello %d %s", 42, "world");
  size_t n = drain(f->rd, buf, sizeof buf);
  assert_true(n > 24);
  assert_timestamp(buf);
  assert_string_equal(buf + 24, " INFO rpc: hello 42 world\n");

  ST_ERROR("store", "disk %s", "full");
  drain(f->rd, buf, sizeof buf);
  assert_string_equal(buf + 24, " ERROR store: disk full\n");

  st_log(ST_LOG_WARN, NULL, "no module");
  drain(f->rd, buf, sizeof buf);
  assert_string_equal(buf + 24, " WARN -: no module\n");
}

static void test_level_filter(void **state) {
  struct pipe_fixture *f = *state;
  char buf[8192];
  const char *names[] = {" DEBUG ", " INFO ", " WARN ", " ERROR "};

  for (int min = ST_LOG_DEBUG; min <= ST_LOG_OFF; min++) {
    st_log_set_level(min);
    assert_int_equal(st_log_get_level(), min);
    for (int lvl = ST_LOG_DEBUG; lvl <= ST_LOG_ERROR; lvl++) {
      st_log(lvl, "t", "m");
      size_t n = drain(f->rd, buf, sizeof buf);
      if (lvl >= min) {
        assert_true(n > 0);
        assert_non_null(strstr(buf, names[lvl]));
        assert_int_equal(strchr(buf, '\n') - buf, (ptrdiff_t)n - 1);
      } else {
        assert_int_equal(n, 0);
      }
    }
    /* ST_LOG_OFF and out-of-range levels are never written. */
    st_log(ST_LOG_OFF, "t", "m");
    st_log(-1, "t", "m");
    st_log(99, "t", "m");
    assert_int_equal(drain(f->rd, buf, sizeof buf), 0);
  }
  /* Out-of-range settings are ignored. */
  st_log_set_level(ST_LOG_WARN);
  st_log_set_level(-1);
  st_log_set_level(5);
  assert_int_equal(st_log_get_level(), ST_LOG_WARN);
}

static void test_parse_level(void **state) {
  (void)state;
  int lvl = 123;
  assert_int_equal(st_log_parse_level("debug", &lvl), 0);
  assert_int_equal(lvl, ST_LOG_DEBUG);
  assert_int_equal(st_log_parse_level("info", &lvl), 0);
  assert_int_equal(lvl, ST_LOG_INFO);
  assert_int_equal(st_log_parse_level("WARN", &lvl), 0);
  assert_int_equal(lvl, ST_LOG_WARN);
  assert_int_equal(st_log_parse_level("error", &lvl), 0);
  assert_int_equal(lvl, ST_LOG_ERROR);
  assert_int_equal(st_log_parse_level("off", &lvl), 0);
  assert_int_equal(lvl, ST_LOG_OFF);
  lvl = 123;
  assert_int_equal(st_log_parse_level("verbose", &lvl), ST_EINVAL);
  assert_int_equal(st_log_parse_level("", &lvl), ST_EINVAL);
  assert_int_equal(st_log_parse_level("info ", &lvl), ST_EINVAL);
  assert_int_equal(st_log_parse_level(NULL, &lvl), ST_EINVAL);
  assert_int_equal(lvl, 123);
}

static json_t *read_json_record(int fd) {
  char buf[8192];
  json_error_t err;
  size_t n = drain(fd, buf, sizeof buf);

  assert_true(n > 0);
  /* Exactly one line. */
  assert_int_equal(buf[n - 1], '\n');
  assert_int_equal(strchr(buf, '\n') - buf, (ptrdiff_t)n - 1);
  json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &err);
  if (j == NULL)
    fail_msg("record is not JSON (%s): %s", err.text, buf);
  assert_true(json_is_object(j));
  return j;
}

static void test_json_record(void **state) {
  struct pipe_fixture *f = *state;

  st_log_set_json(true);
  ST_WARN("p2p", "peer %s sent %d bytes", "10.0.0.1", 7);
  json_t *j = read_json_record(f->rd);
  assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
  assert_string_equal(json_string_value(json_object_get(j, "module")), "p2p");
  assert_string_equal(json_string_value(json_object_get(j, "msg")), "peer 10.0.0.1 sent 7 bytes");
  assert_timestamp(json_string_value(json_object_get(j, "ts")));
  assert_int_equal(json_object_size(j), 4);
  json_decref(j);
}

static void test_json_escaping(void **state) {
  struct pipe_fixture *f = *state;

  st_log_set_json(true);
  /* Quotes, backslash, control characters, valid UTF-8 and a stray byte. */
  ST_ERROR("mod\"x", "a\"b\\c\nd\te\x01" "f\x7f" "g \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xff h");
  json_t *j = read_json_record(f->rd);
  assert_string_equal(json_string_value(json_object_get(j, "module")), "mod\"x");
  assert_string_equal(json_string_value(json_object_get(j, "msg")),
                      "a\"b\\c\nd\te\x01" "f\x7f" "g \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 "
                      "\xef\xbf\xbd h");
  json_decref(j);

  /* Overlong forms and surrogates are not UTF-8 either. */
  ST_ERROR("m", "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82");
  j = read_json_record(f->rd);
  assert_string_equal(json_string_value(json_object_get(j, "msg")),
                      "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                      "\xef\xbf\xbd\xef\xbf\xbd");
  json_decref(j);
}

static void test_text_escaping(void **state) {
  struct pipe_fixture *f = *state;
  char buf[8192];

  ST_INFO("m", "line1\nline2\r\tx\x1b[31m\xff \xc3\xa9");
  drain(f->rd, buf, sizeof buf);
  assert_string_equal(buf + 24, " INFO m: line1\\nline2\\r\\tx\\x1b[31m\\xff \xc3\xa9\n");
}

static void test_long_message(void **state) {
  struct pipe_fixture *f = *state;
  char buf[8192];
  char *big = malloc(10001);

  assert_non_null(big);
  memset(big, 'a', 10000);
  big[10000] = '\0';

  ST_INFO("m", "%s", big);
  size_t n = drain(f->rd, buf, sizeof buf);
  assert_true(n <= 4096);
  assert_true(n > 2000);
  assert_string_equal(buf + n - 4, "...\n");

  /* In JSON, with characters that expand when escaped. */
  memset(big, '"', 10000);
  st_log_set_json(true);
  ST_INFO("m", "%s", big);
  json_t *j = read_json_record(f->rd);
  const char *msg = json_string_value(json_object_get(j, "msg"));
  size_t len = strlen(msg);
  assert_true(len > 500 && len < 4096);
  assert_string_equal(msg + len - 3, "...");
  for (size_t i = 0; i + 3 < len; i++)
    assert_int_equal(msg[i], '"');
  json_decref(j);
  free(big);
}

static void test_errno_preserved(void **state) {
  struct pipe_fixture *f = *state;
  char buf[8192];

  errno = EBADF;
  ST_INFO("m", "x");
  assert_int_equal(errno, EBADF);
  drain(f->rd, buf, sizeof buf);
}

#define THREADS 4
#define PER_THREAD 500

static void *log_thread(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int i = 0; i < PER_THREAD; i++)
    ST_INFO("thr", "thread=%d seq=%d %s", id, i, "padding-padding-padding-padding");
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  char path[512];
  const char *base = getenv("ST_TEST_TMP");
  pthread_t th[THREADS];
  int seen[THREADS] = {0};

  if (base == NULL || base[0] == '\0')
    base = "/tmp";
  if (mkdir(base, 0700) != 0)
    assert_int_equal(errno, EEXIST);
  snprintf(path, sizeof path, "%s/test_log-XXXXXX", base);
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  unlink(path);
  fcntl(fd, F_SETFL, O_APPEND);
  st_log_set_fd(fd);
  for (int t = 0; t < THREADS; t++)
    assert_int_equal(pthread_create(&th[t], NULL, log_thread, (void *)(intptr_t)t), 0);
  for (int t = 0; t < THREADS; t++)
    pthread_join(th[t], NULL);
  st_log_set_fd(2);

  off_t size = lseek(fd, 0, SEEK_END);
  assert_true(size > 0);
  char *all = malloc((size_t)size + 1);
  assert_non_null(all);
  assert_int_equal(pread(fd, all, (size_t)size, 0), size);
  all[size] = '\0';
  close(fd);

  int lines = 0;
  for (char *line = all, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
    int id, seq;
    *nl = '\0';
    assert_int_equal(sscanf(line + 24, " INFO thr: thread=%d seq=%d padding-padding-padding-padding",
                            &id, &seq),
                     2);
    assert_in_range(id, 0, THREADS - 1);
    /* Each thread's records arrive in order. */
    assert_int_equal(seq, seen[id]);
    seen[id]++;
    lines++;
  }
  assert_int_equal(lines, THREADS * PER_THREAD);
  free(all);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_text_line, setup, teardown),
    cmocka_unit_test_setup_teardown(test_level_filter, setup, teardown),
    cmocka_unit_test_setup_teardown(test_parse_level, setup, teardown),
    cmocka_unit_test_setup_teardown(test_json_record, setup, teardown),
    cmocka_unit_test_setup_teardown(test_json_escaping, setup, teardown),
    cmocka_unit_test_setup_teardown(test_text_escaping, setup, teardown),
    cmocka_unit_test_setup_teardown(test_long_message, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errno_preserved, setup, teardown),
    cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
