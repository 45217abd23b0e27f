/* The file client: `stratosd put|get|ls|rm|share` speak to a gateway's
 * file API (docs/storage.md, "The gateway's file API") over HTTP with
 * libcurl, as any other client would.
 *
 * File bytes stream: put hands curl the file through a read callback and
 * get writes each piece as it arrives, so memory stays flat whatever the
 * size. Every other answer is JSON, read into a buffer capped at 4 MiB.
 * Requests carry the node's API token from the home, or with --from the
 * signature of a keyring wallet (st_reqauth.h). A bad command line is a
 * usage error (exit 2) before any file is read or anything sent; every
 * failure is one sentence on stderr and exit 1. */
#include <curl/curl.h>
#include <sodium.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stratos/st_bytes.h>
#include <stratos/st_err.h>
#include <stratos/st_reqauth.h>
#include "daemon/daemon_private.h"

#define JSON_MAX (4u << 20)   /* the largest JSON answer read */
#define TOKEN_FILE_MAX 256     /* api_token: 64 hex digits and a newline */
#define URL_MAX 2048
#define GATEWAY_DEFAULT "http://127.0.0.1:18552"
#define LIST_LIMIT "1000"      /* files asked for per ls page */
#define PASSWORD_MAX 1024
#define CONTENT_TYPE_MAX 255
#define REPLICAS_MAX 255
#define DRAW_INTERVAL 0.1      /* seconds between progress redraws */
#define BAR_CELLS 16           /* the bar's width in characters */
#define BAR_WIDTH 76           /* a progress line is padded to this */

/* ---- the command line ---- */

enum { C_PUT = 1, C_GET = 2, C_LS = 4, C_RM = 8, C_SHARE = 16, C_ALL = 31 };

enum { F_GATEWAY, F_HOME, F_FROM, F_ENCRYPT, F_REPLICAS, F_NAME, F_CTYPE, F_OUT, F_OWNER,
       F_EXPIRE, F_PASSWORD, F_COUNT };

/* Every flag of the file commands: its long name, its one-letter form
 * (or 0), whether it takes a value and which commands take it. */
static const struct fflag {
  const char *name;
  char letter;
  bool value;
  unsigned cmds;
} fflags[F_COUNT] = {
  [F_GATEWAY] = {"gateway", 0, true, C_ALL},
  [F_HOME] = {"home", 0, true, C_ALL},
  [F_FROM] = {"from", 0, true, C_ALL},
  [F_ENCRYPT] = {"encrypt", 0, false, C_PUT},
  [F_REPLICAS] = {"replicas", 0, true, C_PUT},
  [F_NAME] = {"name", 0, true, C_PUT},
  [F_CTYPE] = {"content-type", 0, true, C_PUT},
  [F_OUT] = {"output", 'o', true, C_GET},
  [F_OWNER] = {"owner", 0, true, C_LS},
  [F_EXPIRE] = {"expire", 0, true, C_SHARE},
  [F_PASSWORD] = {"password", 0, true, C_SHARE},
};

/* The commands: the bit their flags name, whether they take one
 * positional word and their usage line. */
static const struct fcmd {
  const char *name;
  unsigned bit;
  bool target;
  const char *usage;
} fcmds[] = {
  {"put", C_PUT, true,
   "put FILE [--encrypt] [--replicas N] [--name NAME] [--content-type T]\n"
   "             [--gateway URL] [--home DIR] [--from NAME]"},
  {"get", C_GET, true, "get ID [-o OUT] [--gateway URL] [--home DIR] [--from NAME]"},
  {"ls", C_LS, false, "ls [--owner ADDR] [--gateway URL] [--home DIR] [--from NAME]"},
  {"rm", C_RM, true, "rm ID [--gateway URL] [--home DIR] [--from NAME]"},
  {"share", C_SHARE, true,
   "share ID [--expire S] [--password P] [--gateway URL] [--home DIR]\n"
   "             [--from NAME]"},
};

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "stratosd: " and the sentence; returns the usage exit code. */
static int usage_err(const char *fmt, ...) {
  va_list ap;
  fputs("stratosd: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return ST_EXIT_USAGE;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "stratosd: " and the sentence: the caller returns ST_EXIT_FAIL. */
static void fail(const char *fmt, ...) {
  va_list ap;
  fputs("stratosd: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static const struct fcmd *find_cmd(const char *name) {
  for (size_t i = 0; i < sizeof(fcmds) / sizeof(fcmds[0]); i++)
    if (strcmp(fcmds[i].name, name) == 0)
      return &fcmds[i];
  return NULL;
}

/* The flag that word names ("--name", "--name=v", "-o", "-ov"); *value
 * receives what follows an '=' or the letter, else NULL. */
static int find_flag(const char *w, const char **value) {
  *value = NULL;
  if (w[1] != '-') {
    for (int f = 0; f < F_COUNT; f++)
      if (fflags[f].letter && w[1] == fflags[f].letter) {
        if (w[2])
          *value = w[2] == '=' ? w + 3 : w + 2;
        return f;
      }
    return -1;
  }
  const char *eq = strchr(w + 2, '=');
  size_t nl = eq ? (size_t)(eq - w - 2) : strlen(w + 2);
  for (int f = 0; f < F_COUNT; f++)
    if (strlen(fflags[f].name) == nl && memcmp(fflags[f].name, w + 2, nl) == 0) {
      if (eq)
        *value = eq + 1;
      return f;
    }
  return -1;
}

/* Digits only, from 1 to max. */
static bool positive(const char *v, uint64_t max, uint64_t *out) {
  uint64_t x = 0;
  if (!*v || strlen(v) > 20)
    return false;
  for (const char *p = v; *p; p++) {
    if (*p < '0' || *p > '9' || x > (UINT64_MAX - 9) / 10)
      return false;
    x = x * 10 + (uint64_t)(*p - '0');
  }
  *out = x;
  return x >= 1 && x <= max;
}

/* Whether s is valid UTF-8 (jansson checks it when it makes a string). */
static bool utf8(const char *s) {
  json_t *j = json_string(s);
  json_decref(j);
  return j != NULL;
}

bool st_daemon__file_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 255 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
      return false;
  }
  return utf8(name);
}

static bool key_name_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
      return false;
  return true;
}

/* A media type: printable ASCII with a '/', as it goes into a header. */
static bool content_type_ok(const char *s) {
  size_t n = strlen(s);
  if (n < 3 || n > CONTENT_TYPE_MAX || !strchr(s, '/') || s[0] == '/')
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
      return false;
  return true;
}

/* The last part of a path. */
static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* Checks what each flag holds once all are read. */
static int files_check(st_files_args_t *a, const struct fcmd *c, const char *const *raw) {
  uint64_t n;
  if (c->bit != C_PUT && c->target) {
    size_t got;
    uint8_t bin[32];
    if (strlen(a->target) != 64 || st_hex_decode(a->target, 64, bin, sizeof(bin), &got) != 0)
      return usage_err("bad file id %s (64 hex digits)", a->target);
    for (size_t i = 0; i < 64; i++)
      a->id[i] = (char)(a->target[i] | 0x20); /* digits keep, letters lower */
    a->id[64] = '\0';
  }
  if (raw[F_GATEWAY] && strncmp(raw[F_GATEWAY], "http://", 7) != 0 &&
      strncmp(raw[F_GATEWAY], "https://", 8) != 0)
    return usage_err("bad --gateway %s (a URL such as http://127.0.0.1:18552)", raw[F_GATEWAY]);
  if (raw[F_GATEWAY] && strlen(raw[F_GATEWAY]) > URL_MAX / 2)
    return usage_err("--gateway is longer than %d bytes", URL_MAX / 2);
  if (raw[F_FROM] && !key_name_ok(raw[F_FROM]))
    return usage_err("bad --from %s (a keyring name: letters, digits, '-' or '_')", raw[F_FROM]);
  if (raw[F_REPLICAS]) {
    if (!positive(raw[F_REPLICAS], REPLICAS_MAX, &n))
      return usage_err("bad --replicas %s (an integer from 1 to %d)", raw[F_REPLICAS],
                       REPLICAS_MAX);
    a->replicas = (uint32_t)n;
  }
  if (raw[F_NAME] && !st_daemon__file_name_ok(raw[F_NAME]))
    return usage_err("bad --name (1 to 255 bytes of UTF-8 without '/', '\\' or control "
                     "characters, not . or ..)");
  if (c->bit == C_PUT && !raw[F_NAME] && !st_daemon__file_name_ok(base_name(a->target)))
    return usage_err("%s cannot be stored under its own name (1 to 255 bytes of UTF-8 without "
                     "'\\' or control characters): give --name NAME", a->target);
  if (raw[F_CTYPE] && !content_type_ok(raw[F_CTYPE]))
    return usage_err("bad --content-type %s (a media type such as text/plain)", raw[F_CTYPE]);
  if (raw[F_OWNER]) {
    uint8_t addr[ST_ADDR_LEN];
    if (st_addr_decode(raw[F_OWNER], ST_HRP_WALLET, addr) != 0)
      return usage_err("bad --owner %s (an st1... address)", raw[F_OWNER]);
  }
  if (raw[F_EXPIRE]) {
    if (!positive(raw[F_EXPIRE], INT64_MAX / 1000, &n))
      return usage_err("bad --expire %s (seconds, a positive integer)", raw[F_EXPIRE]);
    a->expire_s = n;
  }
  if (raw[F_PASSWORD] && (strlen(raw[F_PASSWORD]) > PASSWORD_MAX || !utf8(raw[F_PASSWORD])))
    return usage_err("bad --password (at most %d bytes of UTF-8)", PASSWORD_MAX);
  a->gateway = raw[F_GATEWAY];
  a->home = raw[F_HOME];
  a->from = raw[F_FROM];
  a->encrypt = raw[F_ENCRYPT] != NULL;
  a->name = raw[F_NAME];
  a->content_type = raw[F_CTYPE];
  a->out = raw[F_OUT];
  a->owner = raw[F_OWNER];
  a->password = raw[F_PASSWORD];
  return ST_EXIT_OK;
}

int st_daemon__files_parse(int argc, char **argv, st_files_args_t *a) {
  const char *raw[F_COUNT] = {NULL};
  memset(a, 0, sizeof(*a));
  const struct fcmd *c = argc > 1 ? find_cmd(argv[1]) : NULL;
  if (!c)
    return usage_err("unknown command %s", argc > 1 ? argv[1] : "(none)");
  a->cmd = c->name;
  bool words_only = false;
  for (int i = 2; i < argc; i++) {
    const char *w = argv[i];
    if (!words_only && w[0] == '-' && w[1] != '\0') {
      if (strcmp(w, "--") == 0) {
        words_only = true;
        continue;
      }
      if (strcmp(w, "-h") == 0 || strcmp(w, "--help") == 0) {
        a->help = true;
        continue;
      }
      const char *v;
      int f = find_flag(w, &v);
      if (f < 0)
        return usage_err("unknown flag %s (see stratosd help)", w);
      if (!(fflags[f].cmds & c->bit))
        return usage_err("%s takes no %s", c->name, w);
      if (raw[f])
        return usage_err("flag %s given twice", w);
      if (!fflags[f].value) {
        if (v)
          return usage_err("flag --%s takes no value", fflags[f].name);
        raw[f] = "";
        continue;
      }
      if (!v)
        v = i + 1 < argc ? argv[++i] : NULL;
      if (!v || !*v)
        return usage_err("flag %s needs a value", w);
      raw[f] = v;
      continue;
    }
    if (!c->target || a->target)
      return usage_err("unexpected argument %s", w);
    a->target = w;
  }
  if (a->help)
    return ST_EXIT_OK;
  if (c->target && (!a->target || !*a->target))
    return usage_err("usage: stratosd %s", c->usage);
  return files_check(a, c, raw);
}

/* ---- small pieces ---- */

const char *st_daemon__content_type(const char *name) {
  static const struct {
    const char *ext, *type;
  } types[] = {
    {"txt", "text/plain"}, {"md", "text/markdown"}, {"csv", "text/csv"},
    {"html", "text/html"}, {"htm", "text/html"}, {"css", "text/css"},
    {"js", "text/javascript"}, {"json", "application/json"}, {"xml", "application/xml"},
    {"pdf", "application/pdf"}, {"zip", "application/zip"}, {"gz", "application/gzip"},
    {"tar", "application/x-tar"}, {"wasm", "application/wasm"}, {"png", "image/png"},
    {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"gif", "image/gif"},
    {"webp", "image/webp"}, {"svg", "image/svg+xml"}, {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"}, {"webm", "video/webm"},
  };
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  const char *dot = strrchr(base, '.');
  if (dot && dot != base && dot[1])
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
      if (strcasecmp(dot + 1, types[i].ext) == 0)
        return types[i].type;
  return "application/octet-stream";
}

/* Copies s into out with control characters as '?': text from the
 * network never drives the terminal. */
static void clean_text(const char *s, size_t n, char *out, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 1 < cap; i++) {
    unsigned char ch = (unsigned char)s[i];
    out[k++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
  }
  if (cap)
    out[k] = '\0';
}

int st_daemon__gateway_error(const void *body, size_t len, char *msg, size_t cap) {
  json_t *j = json_loadb(body, len, 0, NULL);
  json_t *m = json_object_get(json_object_get(j, "error"), "message");
  int rc = ST_EPARSE;
  if (json_is_string(m) && json_string_length(m) > 0) {
    clean_text(json_string_value(m), json_string_length(m), msg, cap);
    rc = 0;
  }
  json_decref(j);
  return rc;
}

/* "12.3 MiB" */
static void human_bytes(uint64_t n, char *out, size_t cap) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = (double)n;
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(out, cap, "%" PRIu64 " B", n);
  else
    snprintf(out, cap, "%.1f %s", v, units[u]);
}

static double mb_per_s(uint64_t bytes, double secs) {
  return secs > 1e-6 ? (double)bytes / 1e6 / secs : 0.0;
}

void st_daemon__progress_line(uint64_t done, int64_t total, double secs, char *out,
                              size_t cap) {
  char d[32], t[32], eta[32] = "";
  double rate = mb_per_s(done, secs);
  human_bytes(done, d, sizeof(d));
  if (total < 0) {
    snprintf(out, cap, "%s  %.1f MB/s", d, rate);
    return;
  }
  uint64_t tot = (uint64_t)total;
  unsigned pct = tot == 0 ? 100 : done >= tot ? 100 : (unsigned)((double)done * 100 / (double)tot);
  char bar[BAR_CELLS + 1];
  size_t fill = pct * BAR_CELLS / 100;
  for (size_t i = 0; i < BAR_CELLS; i++)
    bar[i] = i < fill ? '#' : '-';
  bar[BAR_CELLS] = '\0';
  human_bytes(tot, t, sizeof(t));
  if (done >= tot) {
    snprintf(eta, sizeof(eta), "  done");
  } else if (rate > 0) {
    uint64_t left = (uint64_t)((double)(tot - done) / 1e6 / rate + 0.5);
    if (left >= 3600)
      snprintf(eta, sizeof(eta), "  ETA %" PRIu64 ":%02u:%02u", left / 3600,
               (unsigned)(left / 60 % 60), (unsigned)(left % 60));
    else
      snprintf(eta, sizeof(eta), "  ETA %u:%02u", (unsigned)(left / 60), (unsigned)(left % 60));
  } else {
    snprintf(eta, sizeof(eta), "  ETA --:--");
  }
  snprintf(out, cap, "[%s] %3u%%  %s / %s  %.1f MB/s%s", bar, pct, d, t, rate, eta);
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "2024-05-01T12:00:00Z" */
static void utc_time(int64_t ms, char *out, size_t cap) {
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  if (ms < 0 || !gmtime_r(&s, &tm) || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf(out, cap, "-");
}

/* ---- the gateway: where, and who asks ---- */

typedef struct gw {
  const st_files_args_t *a;
  char home[ST_PATH_MAX];
  char base[URL_MAX]; /* the gateway URL without a trailing '/' */
  bool token;         /* Bearer token in bearer */
  bool key;           /* --from: kp and chain_id */
  char bearer[65];
  st_keypair_t kp;
  char chain_id[ST_CHAIN_ID_MAX + 1];
} gw_t;

static bool token_file_exists(const char *home) {
  char p[ST_PATH_MAX];
  return st_daemon__path(p, sizeof(p), home, "config/api_token") == 0 && access(p, F_OK) == 0;
}

/* --home, else ~/.stratos, else ~/.stratos-dev when only that one has a
 * token (the home `stratosd dev` makes by default). */
static int files_home(const st_files_args_t *a, char *out, size_t cap) {
  char dev[ST_PATH_MAX];
  int rc = st_daemon__home_path(a->home, false, out, cap);
  if (rc != 0 || a->home)
    return rc;
  if (!token_file_exists(out) && st_daemon__home_path(NULL, true, dev, sizeof(dev)) == 0 &&
      token_file_exists(dev) && strlen(dev) < cap)
    snprintf(out, cap, "%s", dev);
  return 0;
}

/* --gateway, else the home's gateway.laddr, else the default. */
static void files_base(gw_t *g) {
  const char *u = g->a->gateway;
  if (u) {
    snprintf(g->base, sizeof(g->base), "%s", u);
  } else {
    st_config_t c;
    char p[ST_PATH_MAX], err[256];
    st_config_defaults(&c);
    if (st_daemon__path(p, sizeof(p), g->home, "config/stratosd.conf") == 0 &&
        access(p, F_OK) == 0 && st_config_load(&c, p, err, sizeof(err)) == 0 &&
        c.gw_laddr.port != 0) {
      const char *host = c.gw_laddr.host;
      if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
        host = "127.0.0.1";
      else if (strcmp(host, "::") == 0)
        host = "::1";
      bool v6 = strchr(host, ':') != NULL;
      snprintf(g->base, sizeof(g->base), "http://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "",
               (unsigned)c.gw_laddr.port);
    } else {
      snprintf(g->base, sizeof(g->base), "%s", GATEWAY_DEFAULT);
    }
  }
  size_t n = strlen(g->base);
  while (n > 0 && g->base[n - 1] == '/')
    g->base[--n] = '\0';
}

/* The node's API token: 64 hex digits (a trailing newline allowed).
 * ST_ENOENT when the file is missing, ST_EPARSE when it holds something
 * else. */
static int read_token(const char *path, char out[65]) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT || errno == ENOTDIR ? ST_ENOENT : st_err_from_errno(errno);
  char buf[TOKEN_FILE_MAX];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof(buf) - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    n += (size_t)r;
    if (n == sizeof(buf))
      break;
  }
  close(fd);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
    n--;
  uint8_t bin[32];
  size_t got;
  if (n != 64 || st_hex_decode(buf, 64, bin, sizeof(bin), &got) != 0) {
    sodium_memzero(buf, sizeof(buf));
    return ST_EPARSE;
  }
  memcpy(out, buf, 64);
  out[64] = '\0';
  sodium_memzero(buf, sizeof(buf));
  return 0;
}

/* The value chain's id from the home's genesis. */
static int read_chain_id(const char *home, char *out, size_t cap) {
  char p[ST_PATH_MAX];
  if (st_daemon__path(p, sizeof(p), home, "config/genesis.json") != 0)
    return ST_E2BIG;
  json_t *g = json_load_file(p, 0, NULL);
  const char *id = json_string_value(json_object_get(g, "chain_id"));
  int rc = id && *id && strlen(id) < cap ? 0 : ST_EPARSE;
  if (rc == 0)
    snprintf(out, cap, "%s", id);
  json_decref(g);
  return rc;
}

/* Finds the gateway and the credentials. need_auth: the command writes,
 * so it fails without any; otherwise a missing token means asking
 * without one. Prints why on failure. */
static int gw_open(gw_t *g, const st_files_args_t *a, bool need_auth) {
  char p[ST_PATH_MAX];
  struct stat st;
  int rc;
  memset(g, 0, sizeof(*g));
  g->a = a;
  if (files_home(a, g->home, sizeof(g->home)) != 0) {
    fail("cannot tell the node home: give --home DIR");
    return ST_EXIT_FAIL;
  }
  files_base(g);
  if (a->from) {
    if (stat(g->home, &st) != 0 || !S_ISDIR(st.st_mode)) {
      fail("%s is not a node home (no such directory): give --home DIR", g->home);
      return ST_EXIT_FAIL;
    }
    if (snprintf(p, sizeof(p), "%s/keyring/%s.json", g->home, a->from) >= (int)sizeof(p))
      return ST_EXIT_FAIL;
    if ((rc = st_keyfile_read(p, &g->kp)) != 0) {
      fail("cannot read the key %s: %s", p, st_strerror(rc));
      return ST_EXIT_FAIL;
    }
    if (read_chain_id(g->home, g->chain_id, sizeof(g->chain_id)) != 0) {
      st_key_wipe(&g->kp);
      fail("no chain id in %s/config/genesis.json (requests are signed under it)", g->home);
      return ST_EXIT_FAIL;
    }
    g->key = true;
    return ST_EXIT_OK;
  }
  if (st_daemon__path(p, sizeof(p), g->home, "config/api_token") != 0)
    return ST_EXIT_FAIL;
  rc = read_token(p, g->bearer);
  if (rc == 0) {
    g->token = true;
    return ST_EXIT_OK;
  }
  if (rc == ST_ENOENT && !need_auth)
    return ST_EXIT_OK;
  if (rc == ST_ENOENT && (stat(g->home, &st) != 0 || !S_ISDIR(st.st_mode)))
    fail("%s is not a node home (no such directory), so there is no API token: give --home "
         "DIR of the node whose gateway you use, or --from NAME to sign with a keyring wallet",
         g->home);
  else if (rc == ST_ENOENT)
    fail("no API token at %s (the gateway writes it when it first starts): give --home DIR "
         "of the node whose gateway you use, or --from NAME to sign with a keyring wallet", p);
  else if (rc == ST_EPARSE)
    fail("%s is not an API token (64 hex digits)", p);
  else
    fail("cannot read %s: %s", p, st_strerror(rc));
  return ST_EXIT_FAIL;
}

static void gw_close(gw_t *g) {
  if (g->key)
    st_key_wipe(&g->kp);
  sodium_memzero(g->bearer, sizeof(g->bearer));
}

/* ---- one HTTP exchange ---- */

/* The state of one request: where its body comes from, where the answer
 * goes and what went wrong locally. */
typedef struct xfer {
  CURL *c;
  const char *base; /* the gateway, for messages */
  const char *url;
  /* put: the file, in_left bytes still to send */
  int in_fd;
  uint64_t in_size, in_left;
  int in_errno;
  bool in_short;
  /* get: a 200 answer's bytes go to out_fd; anything else to body */
  int out_fd;
  uint64_t out_n;
  int out_errno;
  bool decided, to_out;
  st_buf_t body;
  bool body_big;
  /* progress */
  bool bar, up, drawn;
  double t0, last;
  char err[CURL_ERROR_SIZE];
} xfer_t;

static size_t on_write(char *p, size_t sz, size_t n, void *ud) {
  xfer_t *x = ud;
  size_t len = sz * n;
  if (!x->decided) {
    long status = 0;
    curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &status);
    x->to_out = x->out_fd >= 0 && status == 200;
    x->decided = true;
  }
  if (!x->to_out) {
    if (st_buf_append(&x->body, p, len) != 0) {
      x->body_big = true;
      return 0;
    }
    return len;
  }
  for (size_t off = 0; off < len;) {
    ssize_t w = write(x->out_fd, p + off, len - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      x->out_errno = errno;
      return 0;
    }
    off += (size_t)w;
  }
  x->out_n += len;
  return len;
}

static size_t on_read(char *p, size_t sz, size_t n, void *ud) {
  xfer_t *x = ud;
  size_t want = sz * n;
  if (want > x->in_left)
    want = (size_t)x->in_left;
  if (want == 0)
    return 0;
  for (;;) {
    ssize_t r = read(x->in_fd, p, want);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      x->in_errno = errno;
      return CURL_READFUNC_ABORT;
    }
    if (r == 0) {
      x->in_short = true;
      return CURL_READFUNC_ABORT;
    }
    x->in_left -= (uint64_t)r;
    return (size_t)r;
  }
}

static void draw(xfer_t *x, uint64_t done, int64_t total, double now) {
  char line[160];
  st_daemon__progress_line(done, total, now - x->t0, line, sizeof(line));
  fprintf(stderr, "\r%-*s", BAR_WIDTH, line);
  fflush(stderr);
  x->drawn = true;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
  xfer_t *x = ud;
  double now = mono_now();
  if (now - x->last < DRAW_INTERVAL)
    return 0;
  if (x->up)
    draw(x, (uint64_t)ulnow, (int64_t)x->in_size, now);
  else if (x->to_out)
    draw(x, (uint64_t)dlnow, dltotal > 0 ? dltotal : -1, now);
  else
    return 0;
  x->last = now;
  return 0;
}

/* Ends the progress line: the final figures when the bytes all moved,
 * and the newline. */
static void bar_end(xfer_t *x, bool done, uint64_t n, int64_t total) {
  if (x->bar && done)
    draw(x, n, total, mono_now());
  if (x->drawn)
    fputc('\n', stderr);
  x->drawn = false;
}

/* Adds the Authorization header for method on path with a body of
 * length bytes, when there are credentials. */
static int add_auth(const gw_t *g, const char *method, const char *path, uint64_t length,
                    struct curl_slist **h) {
  char line[ST_REQAUTH_HEADER_MAX + 64];
  if (g->key) {
    st_reqauth_t ra;
    char v[ST_REQAUTH_HEADER_MAX];
    int rc = st_reqauth_sign(&g->kp, g->chain_id, method, path, wall_ms(), length, &ra);
    if (rc != 0) {
      fail("cannot sign the request: %s", st_strerror(rc));
      return ST_EXIT_FAIL;
    }
    st_reqauth_header(&ra, v);
    snprintf(line, sizeof(line), "Authorization: %s", v);
  } else if (g->token) {
    snprintf(line, sizeof(line), "Authorization: Bearer %s", g->bearer);
  } else {
    return ST_EXIT_OK;
  }
  *h = curl_slist_append(*h, line);
  sodium_memzero(line, sizeof(line));
  return ST_EXIT_OK;
}

/* A curl handle for method on url at g's gateway, its answer going
 * through x. */
static CURL *easy_new(const gw_t *g, xfer_t *x, const char *method, const char *url) {
  CURL *c = curl_easy_init();
  if (!c)
    abort();
  x->c = c;
  x->base = g->base;
  x->url = url;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->err);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "stratosd/" ST_VERSION);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (x->bar) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
  }
  return c;
}

static void xfer_init(xfer_t *x) {
  memset(x, 0, sizeof(*x));
  x->in_fd = -1;
  x->out_fd = -1;
  st_buf_init(&x->body, JSON_MAX);
  x->t0 = mono_now();
}

static void xfer_free(xfer_t *x) {
  if (x->c)
    curl_easy_cleanup(x->c);
  st_buf_free(&x->body);
}

/* Reports a failed exchange: a local file error, else the gateway's own
 * error, else curl's, else an answer that is not 2xx. what names the
 * file read or written. Returns ST_EXIT_OK when nothing failed. */
static int xfer_report(xfer_t *x, CURLcode cc, long status, const char *what) {
  char msg[600];
  bar_end(x, false, 0, 0);
  if (x->in_errno) {
    fail("cannot read %s: %s", what, strerror(x->in_errno));
    return ST_EXIT_FAIL;
  }
  if (x->in_short) {
    fail("%s shrank while it was being sent", what);
    return ST_EXIT_FAIL;
  }
  if (x->out_errno) {
    fail("cannot write %s: %s", what, strerror(x->out_errno));
    return ST_EXIT_FAIL;
  }
  if (status >= 300 && st_daemon__gateway_error(x->body.data, x->body.len, msg, sizeof(msg)) == 0) {
    fail("%s (HTTP %ld)", msg, status);
    return ST_EXIT_FAIL;
  }
  if (x->body_big) {
    fail("the gateway at %s answered more than %u bytes", x->url, JSON_MAX);
    return ST_EXIT_FAIL;
  }
  if (cc != CURLE_OK) {
    const char *why = x->err[0] ? x->err : curl_easy_strerror(cc);
    if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
        cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_URL_MALFORMAT ||
        cc == CURLE_UNSUPPORTED_PROTOCOL)
      fail("cannot reach the gateway at %s: %s", x->base, why);
    else
      fail("the request to %s failed: %s", x->url, why);
    return ST_EXIT_FAIL;
  }
  if (status < 200 || status >= 300) {
    fail("the gateway at %s answered HTTP %ld without an error message", x->url, status);
    return ST_EXIT_FAIL;
  }
  return ST_EXIT_OK;
}

/* Parses a 2xx answer's JSON object into *out; prints why not. */
static int answer_json(xfer_t *x, json_t **out) {
  json_t *j = json_loadb((const char *)x->body.data, x->body.len, 0, NULL);
  if (!json_is_object(j)) {
    json_decref(j);
    fail("the gateway at %s answered with no JSON object", x->url);
    return ST_EXIT_FAIL;
  }
  *out = j;
  return ST_EXIT_OK;
}

/* One request whose answer is JSON: body (JSON text) or none; *out gets
 * the answer of a 2xx and *status its code. */
static int call_json(const gw_t *g, const char *method, const char *path, const char *query,
                     const char *body, json_t **out, long *status) {
  char url[URL_MAX + 512];
  xfer_t x;
  struct curl_slist *h = NULL;
  size_t blen = body ? strlen(body) : 0;
  snprintf(url, sizeof(url), "%s%s%s", g->base, path, query ? query : "");
  xfer_init(&x);
  CURL *c = easy_new(g, &x, method, url);
  int rc = add_auth(g, method, path, blen, &h);
  if (rc == 0) {
    if (body) {
      h = curl_slist_append(h, "Content-Type: application/json");
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    CURLcode cc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    rc = xfer_report(&x, cc, *status, "");
    if (rc == 0)
      rc = answer_json(&x, out);
  }
  curl_slist_free_all(h);
  xfer_free(&x);
  return rc;
}

/* The string member key of j: a file id (64 lowercase hex digits). */
static const char *id_member(json_t *j, const char *key) {
  const char *s = json_string_value(json_object_get(j, key));
  if (!s || strlen(s) != 64)
    return NULL;
  for (size_t i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return NULL;
  return s;
}

/* ---- put ---- */

static int cmd_put(const gw_t *g, const st_files_args_t *a) {
  const char *file = a->target;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0) {
    fail("cannot open %s: %s", file, strerror(errno));
    return ST_EXIT_FAIL;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    fail("%s is not a regular file", file);
    close(fd);
    return ST_EXIT_FAIL;
  }
  const char *name = a->name ? a->name : base_name(file);
  uint64_t size = (uint64_t)st.st_size;
  const char *ctype = a->content_type ? a->content_type : st_daemon__content_type(name);
  char url[URL_MAX + 32], line[512];
  snprintf(url, sizeof(url), "%s/v1/files", g->base);

  xfer_t x;
  xfer_init(&x);
  x.in_fd = fd;
  x.in_size = x.in_left = size;
  x.bar = isatty(STDERR_FILENO) == 1;
  x.up = true;
  struct curl_slist *h = NULL;
  CURL *c = easy_new(g, &x, "POST", url);
  int rc = add_auth(g, "POST", "/v1/files", size, &h);
  if (rc != 0)
    goto out;
  snprintf(line, sizeof(line), "Content-Type: %s", ctype);
  h = curl_slist_append(h, line);
  snprintf(line, sizeof(line), "X-Stratos-Name: %s", name);
  h = curl_slist_append(h, line);
  if (a->replicas) {
    snprintf(line, sizeof(line), "X-Stratos-Replicas: %u", (unsigned)a->replicas);
    h = curl_slist_append(h, line);
  }
  if (a->encrypt)
    h = curl_slist_append(h, "X-Stratos-Encrypt: true");
  h = curl_slist_append(h, "Expect:");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(c, CURLOPT_READDATA, &x);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
  /* No overall limit (files are large), but a stalled exchange ends; the
   * gateway may take a while after the body to record the file. */
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 600L);

  CURLcode cc = curl_easy_perform(c);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  double secs = mono_now() - x.t0;
  if (cc == CURLE_OK && status >= 200 && status < 300)
    bar_end(&x, true, size, (int64_t)size);
  if ((rc = xfer_report(&x, cc, status, file)) != 0)
    goto out;
  json_t *j;
  if ((rc = answer_json(&x, &j)) != 0)
    goto out;
  const char *id = id_member(j, "id");
  if (!id) {
    fail("the gateway at %s answered with no file id", url);
    json_decref(j);
    rc = ST_EXIT_FAIL;
    goto out;
  }
  printf("%s\n", id);
  fflush(stdout);
  json_int_t slices = json_integer_value(json_object_get(j, "slices"));
  json_int_t replicas = json_integer_value(json_object_get(j, "replicas"));
  char shown[300];
  clean_text(name, strlen(name), shown, sizeof(shown));
  fprintf(stderr, "put %s: %" PRIu64 " bytes, %lld slice%s, %lld replica%s%s, %.1f MB/s%s\n",
          shown, size, (long long)slices, slices == 1 ? "" : "s", (long long)replicas,
          replicas == 1 ? "" : "s", json_is_true(json_object_get(j, "encrypted")) ? ", private" : "",
          mb_per_s(size, secs), status == 200 ? " (already stored: nothing charged)" : "");
  json_decref(j);
out:
  curl_slist_free_all(h);
  xfer_free(&x);
  close(fd);
  return rc;
}

/* ---- get ---- */

/* fsyncs the directory that holds path. */
static void sync_dir_of(const char *path) {
  char d[ST_PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(d, sizeof(d), ".");
  else if (slash == path)
    snprintf(d, sizeof(d), "/");
  else
    snprintf(d, sizeof(d), "%.*s", (int)(slash - path), path);
  int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
}

static int cmd_get(const gw_t *g, const st_files_args_t *a) {
  bool to_stdout = !a->out || strcmp(a->out, "-") == 0;
  char part[ST_PATH_MAX], url[URL_MAX + 128], path[128];
  struct stat st;
  int fd = STDOUT_FILENO;
  if (!to_stdout) {
    if (stat(a->out, &st) == 0 && S_ISDIR(st.st_mode)) {
      fail("%s is a directory: give -o a file name", a->out);
      return ST_EXIT_FAIL;
    }
    if (snprintf(part, sizeof(part), "%s.part", a->out) >= (int)sizeof(part)) {
      fail("-o %s: the path is too long", a->out);
      return ST_EXIT_FAIL;
    }
    fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
      fail("cannot create %s: %s", part, strerror(errno));
      return ST_EXIT_FAIL;
    }
  }
  snprintf(path, sizeof(path), "/v1/files/%s", a->id);
  snprintf(url, sizeof(url), "%s%s", g->base, path);
  xfer_t x;
  xfer_init(&x);
  x.out_fd = fd;
  x.bar = isatty(STDERR_FILENO) == 1;
  struct curl_slist *h = NULL;
  CURL *c = easy_new(g, &x, "GET", url);
  int rc = add_auth(g, "GET", path, 0, &h);
  if (rc != 0)
    goto out;
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 120L);
  CURLcode cc = curl_easy_perform(c);
  long status = 0;
  curl_off_t length = -1;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
  double secs = mono_now() - x.t0;
  bool whole = length < 0 || (uint64_t)length == x.out_n;
  if (cc == CURLE_OK && status == 200 && whole)
    bar_end(&x, true, x.out_n, length);
  if (status == 200 && (cc == CURLE_PARTIAL_FILE || (cc == CURLE_OK && !whole))) {
    bar_end(&x, false, 0, 0);
    fail("the gateway at %s sent %" PRIu64 " of %" PRId64 " bytes", url, x.out_n,
         (int64_t)length);
    rc = ST_EXIT_FAIL;
    goto out;
  }
  if ((rc = xfer_report(&x, cc, status, to_stdout ? "stdout" : part)) != 0)
    goto out;
  if (status != 200) {
    fail("the gateway at %s answered HTTP %ld, not the file", url, status);
    rc = ST_EXIT_FAIL;
    goto out;
  }
  if (!to_stdout) {
    if (fsync(fd) != 0 || close(fd) != 0) {
      fail("cannot write %s: %s", part, strerror(errno));
      fd = -1;
      rc = ST_EXIT_FAIL;
      goto out;
    }
    fd = -1;
    if (rename(part, a->out) != 0) {
      fail("cannot rename %s to %s: %s", part, a->out, strerror(errno));
      rc = ST_EXIT_FAIL;
      goto out;
    }
    sync_dir_of(a->out);
    fprintf(stderr, "get %s: %" PRIu64 " bytes, %.1f MB/s\n", a->out, x.out_n,
            mb_per_s(x.out_n, secs));
  }
out:
  curl_slist_free_all(h);
  xfer_free(&x);
  if (!to_stdout) {
    if (fd >= 0)
      close(fd);
    if (rc != 0)
      unlink(part);
  }
  return rc;
}

/* ---- ls, rm, share ---- */

/* Prints one listed file; false when the entry is malformed. */
static bool ls_line(json_t *f) {
  const char *id = id_member(f, "id");
  json_t *size = json_object_get(f, "plain_size");
  if (!json_is_integer(size))
    size = json_object_get(f, "size");
  const char *name = json_string_value(json_object_get(f, "name"));
  if (!id || !json_is_integer(size))
    return false;
  char shown[300], when[32];
  clean_text(name ? name : "", name ? strlen(name) : 0, shown, sizeof(shown));
  json_t *created = json_object_get(f, "created_ms");
  utc_time(json_is_integer(created) ? json_integer_value(created) : -1, when, sizeof(when));
  printf("%s\t%lld\t%s\t%s\n", id, (long long)json_integer_value(size), shown, when);
  return true;
}

static int cmd_ls(const gw_t *g, const st_files_args_t *a) {
  char query[256], after[65] = "";
  int rc = ST_EXIT_OK;
  for (;;) {
    int n = snprintf(query, sizeof(query), "?limit=" LIST_LIMIT);
    if (a->owner)
      n += snprintf(query + n, sizeof(query) - (size_t)n, "&owner=%s", a->owner);
    if (after[0])
      snprintf(query + n, sizeof(query) - (size_t)n, "&after=%s", after);
    json_t *j;
    long status;
    if ((rc = call_json(g, "GET", "/v1/files", query, NULL, &j, &status)) != 0)
      return rc;
    json_t *files = json_object_get(j, "files"), *f;
    json_t *next = json_object_get(j, "next");
    size_t i;
    if (!json_is_array(files) || (next && !json_is_null(next) && !id_member(j, "next"))) {
      fail("the gateway's file list is malformed");
      json_decref(j);
      return ST_EXIT_FAIL;
    }
    json_array_foreach(files, i, f) {
      if (!ls_line(f)) {
        fail("the gateway's file list holds a malformed entry");
        json_decref(j);
        return ST_EXIT_FAIL;
      }
    }
    const char *nx = id_member(j, "next");
    /* A next page must move on, or the list would never end. */
    bool more = nx && json_array_size(files) > 0 && strcmp(nx, after) != 0;
    if (nx && !more) {
      fail("the gateway's file list does not move on after %s", nx);
      rc = ST_EXIT_FAIL;
    }
    if (more)
      snprintf(after, sizeof(after), "%s", nx);
    json_decref(j);
    if (!more)
      break;
  }
  fflush(stdout);
  return rc;
}

static int cmd_rm(const gw_t *g, const st_files_args_t *a) {
  char path[128];
  json_t *j;
  long status;
  snprintf(path, sizeof(path), "/v1/files/%s", a->id);
  int rc = call_json(g, "DELETE", path, NULL, NULL, &j, &status);
  if (rc != 0)
    return rc;
  const char *id = id_member(j, "deleted");
  if (id)
    printf("%s\n", id);
  else
    fail("the gateway's answer has no deleted id");
  json_decref(j);
  return id ? ST_EXIT_OK : ST_EXIT_FAIL;
}

/* A link path "/s/<link>" of hex digits and '-'. */
static bool link_url_ok(const char *u) {
  if (!u || strncmp(u, "/s/", 3) != 0 || !u[3] || strlen(u) > 200)
    return false;
  for (const char *p = u + 3; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') ||
          *p == '-'))
      return false;
  return true;
}

static int cmd_share(const gw_t *g, const st_files_args_t *a) {
  char path[128];
  json_t *req = json_object(), *j;
  long status;
  if (a->expire_s)
    json_object_set_new(req, "expire_s", json_integer((json_int_t)a->expire_s));
  if (a->password)
    json_object_set_new(req, "password", json_string(a->password));
  char *body = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  if (!body)
    abort();
  snprintf(path, sizeof(path), "/v1/files/%s/share", a->id);
  int rc = call_json(g, "POST", path, NULL, body, &j, &status);
  free(body);
  if (rc != 0)
    return rc;
  const char *u = json_string_value(json_object_get(j, "url"));
  if (!link_url_ok(u)) {
    fail("the gateway's answer has no link url");
    json_decref(j);
    return ST_EXIT_FAIL;
  }
  printf("%s%s\n", g->base, u);
  fflush(stdout);
  json_t *exp = json_object_get(j, "expires_ms");
  if (json_is_integer(exp) && json_integer_value(exp) > 0) {
    char when[32];
    utc_time(json_integer_value(exp), when, sizeof(when));
    fprintf(stderr, "the link expires at %s\n", when);
  }
  json_decref(j);
  return ST_EXIT_OK;
}

int st_daemon__cmd_files(int argc, char **argv) {
  st_files_args_t a;
  int rc = st_daemon__files_parse(argc, argv, &a);
  if (rc != 0)
    return rc;
  const struct fcmd *c = find_cmd(a.cmd);
  if (a.help) {
    printf("usage: stratosd %s\n", c->usage);
    return ST_EXIT_OK;
  }
  gw_t g;
  bool writes = c->bit & (C_PUT | C_RM | C_SHARE);
  if ((rc = gw_open(&g, &a, writes)) != 0)
    return rc;
  switch (c->bit) {
  case C_PUT: rc = cmd_put(&g, &a); break;
  case C_GET: rc = cmd_get(&g, &a); break;
  case C_LS: rc = cmd_ls(&g, &a); break;
  case C_RM: rc = cmd_rm(&g, &a); break;
  default: rc = cmd_share(&g, &a); break;
  }
  gw_close(&g);
  return rc;
}
