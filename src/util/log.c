/* Logging. Each record is built in a fixed buffer on the caller's stack and
 * handed to the kernel with one write(2), so records from different threads
 * never interleave and logging never allocates. A record is at most
 * LOG_RECORD_MAX bytes, which is PIPE_BUF on Linux, so one write to a pipe
 * is atomic; longer messages are cut at a character boundary and end in
 * "...".
 *
 * Messages are escaped so that one record is always one line: in JSON mode
 * as a JSON string (invalid UTF-8 becomes U+FFFD), in text mode with C-like
 * escapes for control characters and stray bytes. The settings are atomics
 * so that any thread may log while another changes them. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "stratos/st_err.h"
#include "stratos/st_log.h"

#define LOG_RECORD_MAX 4096
#define LOG_MSG_MAX 3072
#define LOG_MODULE_MAX 32

static atomic_int log_level = ST_LOG_INFO;
static atomic_bool log_json = false;
static atomic_int log_fd = 2;

static const char *const level_text[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_json[] = {"debug", "info", "warn", "error"};

void st_log_set_level(int level) {
  if (level >= ST_LOG_DEBUG && level <= ST_LOG_OFF)
    atomic_store(&log_level, level);
}

int st_log_get_level(void) { return atomic_load(&log_level); }

int st_log_parse_level(const char *s, int *level) {
  static const char *const names[] = {"debug", "info", "warn", "error", "off"};
  if (s == NULL || level == NULL)
    return ST_EINVAL;
  for (int i = 0; i <= ST_LOG_OFF; i++) {
    if (strcasecmp(s, names[i]) == 0) {
      *level = i;
      return 0;
    }
  }
  return ST_EINVAL;
}

void st_log_set_json(bool json) { atomic_store(&log_json, json); }

/* A negative fd restores the default, stderr. */
void st_log_set_fd(int fd) { atomic_store(&log_fd, fd < 0 ? 2 : fd); }

/* A bounded output buffer. Appends are all-or-nothing: a unit that does
 * not fit is dropped and marks the buffer full, so later units are dropped
 * too and the text never ends in half an escape sequence. */
struct out {
  char *p;
  size_t len;
  size_t cap;
  bool full;
};

static void out_put(struct out *o, const char *s, size_t n) {
  if (o->full || n > o->cap - o->len) {
    o->full = true;
    return;
  }
  memcpy(o->p + o->len, s, n);
  o->len += n;
}

static void out_puts(struct out *o, const char *s) { out_put(o, s, strlen(s)); }

/* Returns the length of the well-formed UTF-8 sequence at s (2 to 4 bytes),
 * or 0 when s does not start one. Overlong forms, surrogates and code
 * points above U+10FFFF are not well-formed. */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  unsigned char lo = 0x80, hi = 0xbf;
  size_t len;

  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0)
      lo = 0xa0;
    else if (c == 0xed)
      hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0)
      lo = 0x90;
    else if (c == 0xf4)
      hi = 0x8f;
  } else {
    return 0;
  }
  if (len > n)
    return 0;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++) {
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  }
  return len;
}

/* Appends s[0..n) escaped for a JSON string (json) or for a text line. */
static void out_escaped(struct out *o, const char *s, size_t n, bool json) {
  static const char hexd[] = "0123456789abcdef";
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;

  while (i < n && !o->full) {
    unsigned char c = u[i];
    char esc[8];

    if (c >= 0x80) {
      size_t k = utf8_seq_len(u + i, n - i);
      if (k > 0) {
        out_put(o, s + i, k);
        i += k;
      } else if (json) {
        out_puts(o, "\\ufffd");
        i++;
      } else {
        esc[0] = '\\';
        esc[1] = 'x';
        esc[2] = hexd[c >> 4];
        esc[3] = hexd[c & 0xf];
        out_put(o, esc, 4);
        i++;
      }
      continue;
    }
    i++;
    switch (c) {
    case '\n':
      out_puts(o, "\\n");
      continue;
    case '\r':
      out_puts(o, "\\r");
      continue;
    case '\t':
      out_puts(o, "\\t");
      continue;
    case '"':
      if (json) {
        out_puts(o, "\\\"");
        continue;
      }
      break;
    case '\\':
      if (json) {
        out_puts(o, "\\\\");
        continue;
      }
      break;
    default:
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      if (json) {
        memcpy(esc, "\\u00", 4);
        esc[4] = hexd[c >> 4];
        esc[5] = hexd[c & 0xf];
        out_put(o, esc, 6);
      } else {
        esc[0] = '\\';
        esc[1] = 'x';
        esc[2] = hexd[c >> 4];
        esc[3] = hexd[c & 0xf];
        out_put(o, esc, 4);
      }
      continue;
    }
    esc[0] = (char)c;
    out_put(o, esc, 1);
  }
}

/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 characters and a NUL) into ts. */
static void log_timestamp(char ts[32]) {
  struct timespec now;
  struct tm tm;
  unsigned ms;

  if (clock_gettime(CLOCK_REALTIME, &now) != 0 || gmtime_r(&now.tv_sec, &tm) == NULL ||
      strftime(ts, 32, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
    memcpy(ts, "1970-01-01T00:00:00.000Z", 25);
    return;
  }
  ms = (unsigned)(now.tv_nsec / 1000000) % 1000;
  ts[19] = '.';
  ts[20] = (char)('0' + ms / 100);
  ts[21] = (char)('0' + ms / 10 % 10);
  ts[22] = (char)('0' + ms % 10);
  ts[23] = 'Z';
  ts[24] = '\0';
}

static void log_write(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return; /* Nowhere to report a failure to log. */
    }
    p += w;
    n -= (size_t)w;
  }
}

void st_log(int level, const char *module, const char *fmt, ...) {
  char msg[LOG_MSG_MAX];
  char rec[LOG_RECORD_MAX];
  char ts[32];
  bool json, cut;
  size_t msglen, modlen;
  struct out o;
  va_list ap;
  int saved_errno = errno;
  int n;

  if (level < ST_LOG_DEBUG || level >= ST_LOG_OFF || level < atomic_load(&log_level))
    return;
  json = atomic_load(&log_json);

  va_start(ap, fmt);
  n = fmt ? vsnprintf(msg, sizeof msg, fmt, ap) : -1;
  va_end(ap);
  if (n < 0) {
    msglen = strlen(strcpy(msg, "(bad log format)"));
    cut = false;
  } else {
    cut = (size_t)n >= sizeof msg;
    msglen = cut ? sizeof msg - 1 : (size_t)n;
  }
  if (module == NULL)
    module = "-";
  modlen = strnlen(module, LOG_MODULE_MAX);
  log_timestamp(ts);

  /* The closing text ("...", the JSON tail and the newline) always fits:
   * the body is built with that much room held back. */
  o.p = rec;
  o.len = 0;
  o.cap = sizeof rec - 16;
  o.full = false;
  if (json) {
    out_puts(&o, "{\"ts\":\"");
    out_puts(&o, ts);
    out_puts(&o, "\",\"level\":\"");
    out_puts(&o, level_json[level]);
    out_puts(&o, "\",\"module\":\"");
    out_escaped(&o, module, modlen, true);
    out_puts(&o, "\",\"msg\":\"");
    out_escaped(&o, msg, msglen, true);
  } else {
    out_puts(&o, ts);
    out_puts(&o, " ");
    out_puts(&o, level_text[level]);
    out_puts(&o, " ");
    out_escaped(&o, module, modlen, false);
    out_puts(&o, ": ");
    out_escaped(&o, msg, msglen, false);
  }
  cut = cut || o.full;
  o.cap = sizeof rec;
  o.full = false;
  if (cut)
    out_puts(&o, "...");
  out_puts(&o, json ? "\"}\n" : "\n");

  log_write(atomic_load(&log_fd), rec, o.len);
  errno = saved_errno;
}
