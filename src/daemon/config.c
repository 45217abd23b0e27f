/* Node configuration. Defaults live in one table of strings that mirrors
 * config/stratosd.conf, and every value, default or not, goes through the
 * same setter, so a default can never bypass validation. The INI file is
 * read with inih; the first bad line stops the load with a sentence that
 * names the file, the line and the key. */
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_config.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>

static const struct {
  const char *section, *key, *value;
} defaults[] = {
  {"node", "moniker", ""},
  {"node", "roles", "value"},
  {"node", "log_level", "info"},
  {"node", "log_format", "text"},
  {"rpc", "laddr", "127.0.0.1:18252"},
  {"rpc", "max_body_bytes", "1048576"},
  {"rpc", "max_batch", "100"},
  {"gateway", "laddr", "127.0.0.1:18552"},
  {"gateway", "max_body_bytes", "1048576"},
  {"gateway", "wallet", ""},
  {"gateway", "cache_mb", "64"},
  {"gateway", "request_timeout_s", "3600"},
  {"p2p", "laddr", "0.0.0.0:18081"},
  {"p2p", "persistent_peers", ""},
  {"p2p", "seeds", ""},
  {"p2p", "max_inbound", "40"},
  {"p2p", "max_outbound", "10"},
  {"store", "map_size_mb", "4096"},
  {"resource", "reserve_mb", "256"},
  {"bus", "queue_len", "4096"},
  {"debug", "byzantine_double_prevote", "false"},
  {"debug", "byzantine_from_height", "0"},
};

void st_config_defaults(st_config_t *c) {
  memset(c, 0, sizeof(*c));
  for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
    int rc = st_config_set(c, defaults[i].section, defaults[i].key,
                           defaults[i].value, NULL, 0);
    if (rc != 0)
      abort(); /* the table itself is wrong */
  }
}

int st_config_parse_laddr(const char *s, st_laddr_t *out) {
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s)
    return ST_EINVAL;
  size_t hl = (size_t)(colon - s);
  if (hl >= sizeof(out->host))
    return ST_E2BIG;
  const char *p = colon + 1;
  if (*p == '\0' || strlen(p) > 5)
    return ST_EINVAL;
  unsigned long port = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return ST_EINVAL;
    port = port * 10 + (unsigned long)(*p - '0');
  }
  if (port > 65535)
    return ST_ERANGE;
  /* The host must be a numeric IPv4 address; names are not resolved. */
  char host[ST_HOST_MAX];
  memcpy(host, s, hl);
  host[hl] = '\0';
  unsigned a, b, c, d;
  char tail;
  if (sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 ||
      b > 255 || c > 255 || d > 255)
    return ST_EINVAL;
  memcpy(out->host, host, hl + 1);
  out->port = (uint16_t)port;
  return 0;
}

static const char *const role_names[] = {"value", "meta", "resource"};

int st_config_parse_roles(const char *s, unsigned *roles) {
  unsigned r = 0;
  if (strcmp(s, "all") == 0) {
    *roles = ST_ROLE_ALL;
    return 0;
  }
  const char *p = s;
  while (*p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    unsigned bit = 0;
    for (unsigned i = 0; i < 3; i++)
      if (strlen(role_names[i]) == n && memcmp(p, role_names[i], n) == 0)
        bit = 1u << i;
    if (n == 3 && memcmp(p, "all", 3) == 0)
      bit = ST_ROLE_ALL;
    if (!bit)
      return ST_EINVAL;
    r |= bit;
    if (!e)
      break;
    p = e + 1;
    if (*p == '\0')
      return ST_EINVAL;
  }
  if (!r)
    return ST_EINVAL;
  *roles = r;
  return 0;
}

void st_config_roles_str(unsigned roles, char *out, size_t outcap) {
  size_t n = 0;
  if (outcap == 0)
    return;
  out[0] = '\0';
  for (unsigned i = 0; i < 3; i++) {
    if (!(roles & (1u << i)))
      continue;
    int w = snprintf(out + n, outcap - n, "%s%s", n ? "," : "", role_names[i]);
    if (w < 0 || (size_t)w >= outcap - n)
      return;
    n += (size_t)w;
  }
}

static int parse_size(const char *v, size_t min, size_t max, size_t *out) {
  if (*v == '\0')
    return ST_EINVAL;
  for (const char *p = v; *p; p++)
    if (*p < '0' || *p > '9')
      return ST_EINVAL;
  errno = 0;
  unsigned long long x = strtoull(v, NULL, 10);
  if (errno || x < min || x > max)
    return ST_ERANGE;
  *out = (size_t)x;
  return 0;
}

static int copy_str(char *dst, size_t cap, const char *v) {
  size_t n = strlen(v);
  if (n >= cap)
    return ST_E2BIG;
  memcpy(dst, v, n + 1);
  return 0;
}

#define SET_ERR(...)                                                         \
  do {                                                                       \
    if (err && errcap)                                                       \
      snprintf(err, errcap, __VA_ARGS__);                                    \
  } while (0)

int st_config_set(st_config_t *c, const char *section, const char *key,
                  const char *value, char *err, size_t errcap) {
  int rc = ST_ENOENT;
  size_t n = 0;
  const char *want = "";
#define IS(s, k) (strcmp(section, (s)) == 0 && strcmp(key, (k)) == 0)
  if (IS("node", "moniker")) {
    want = "at most 63 bytes";
    rc = copy_str(c->moniker, sizeof(c->moniker), value);
  } else if (IS("node", "roles")) {
    want = "value, meta, resource, a comma-separated mix, or all";
    rc = st_config_parse_roles(value, &c->roles);
  } else if (IS("node", "log_level")) {
    want = "debug, info, warn, error or off";
    rc = st_log_parse_level(value, &c->log_level);
  } else if (IS("node", "log_format")) {
    want = "text or json";
    rc = ST_EINVAL;
    if (strcmp(value, "text") == 0 || strcmp(value, "json") == 0) {
      c->log_json = value[0] == 'j';
      rc = 0;
    }
  } else if (IS("rpc", "laddr") || IS("gateway", "laddr") || IS("p2p", "laddr")) {
    want = "an IPv4 address and port such as 127.0.0.1:18252";
    st_laddr_t *l = section[0] == 'r' ? &c->rpc_laddr
                    : section[0] == 'g' ? &c->gw_laddr : &c->p2p_laddr;
    rc = st_config_parse_laddr(value, l);
  } else if (IS("rpc", "max_body_bytes")) {
    want = "a byte count from 1024 to 67108864";
    rc = parse_size(value, 1024, 64u << 20, &c->rpc_max_body);
  } else if (IS("rpc", "max_batch")) {
    want = "a count from 1 to 10000";
    rc = parse_size(value, 1, 10000, &c->rpc_max_batch);
  } else if (IS("gateway", "max_body_bytes")) {
    want = "a byte count from 1024 to 67108864";
    rc = parse_size(value, 1024, 64u << 20, &c->gw_max_body);
  } else if (IS("gateway", "request_timeout_s")) {
    want = "seconds from 1 to 86400";
    rc = parse_size(value, 1, 86400, &c->gw_request_timeout_s);
  } else if (IS("resource", "reserve_mb")) {
    size_t mb = 0;
    want = "a size in MiB from 0 to 16777216";
    rc = parse_size(value, 0, 16777216, &mb);
    if (rc == 0)
      c->res_reserve_bytes = (uint64_t)mb << 20;
  } else if (IS("gateway", "cache_mb")) {
    size_t mb = 0;
    want = "a size in MiB from 0 to 65536";
    rc = parse_size(value, 0, 65536, &mb);
    if (rc == 0)
      c->gw_cache_bytes = mb << 20;
  } else if (IS("gateway", "wallet")) {
    want = "a keyring name of letters, digits, '-' or '_', at most 63";
    rc = copy_str(c->gw_wallet, sizeof(c->gw_wallet), value);
    for (const char *q = value; rc == 0 && *q; q++)
      if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
            *q == '-' || *q == '_'))
        rc = ST_EINVAL;
  } else if (IS("p2p", "persistent_peers")) {
    want = "a list shorter than 8192 bytes";
    rc = copy_str(c->persistent_peers, sizeof(c->persistent_peers), value);
  } else if (IS("p2p", "seeds")) {
    want = "a list shorter than 8192 bytes";
    rc = copy_str(c->seeds, sizeof(c->seeds), value);
  } else if (IS("p2p", "max_inbound") || IS("p2p", "max_outbound")) {
    want = "a count from 0 to 1000";
    rc = parse_size(value, 0, 1000, &n);
    if (rc == 0) {
      if (key[4] == 'i')
        c->max_inbound = (unsigned)n;
      else
        c->max_outbound = (unsigned)n;
    }
  } else if (IS("store", "map_size_mb")) {
    want = "MiB from 16 to 1048576";
    rc = parse_size(value, 16, 1u << 20, &n);
    if (rc == 0)
      c->map_size = n << 20;
  } else if (IS("debug", "byzantine_double_prevote")) {
    want = "true or false";
    rc = ST_EINVAL;
    if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
      c->byzantine_double_prevote = value[0] == 't';
      rc = 0;
    }
  } else if (IS("debug", "byzantine_from_height")) {
    size_t h;
    want = "a height from 0 to 1000000000";
    rc = parse_size(value, 0, 1000000000, &h);
    if (rc == 0)
      c->byzantine_from_height = (int64_t)h;
  } else if (IS("bus", "queue_len")) {
    want = "a count from 16 to 1048576";
    rc = parse_size(value, 16, 1u << 20, &c->queue_len);
  }
#undef IS
  if (rc == ST_ENOENT)
    SET_ERR("unknown key %s.%s", section, key);
  else if (rc != 0)
    SET_ERR("key %s.%s: bad value \"%.64s\" (want %s)", section, key, value, want);
  return rc == ST_ENOENT ? ST_ECONFIG : rc ? ST_ECONFIG : 0;
}

/* inih passes the line number only to handlers built with
 * INI_HANDLER_LINENO; the Debian build has it off, so the line is found
 * by a second scan for the failing key. */
static int find_line(const char *path, const char *section, const char *key) {
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  char line[1024], cur[128] = "";
  int n = 0, found = 0;
  while (fgets(line, sizeof(line), f)) {
    n++;
    char *p = line;
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == '[') {
      char *e = strchr(p, ']');
      if (e && (size_t)(e - p - 1) < sizeof(cur)) {
        memcpy(cur, p + 1, (size_t)(e - p - 1));
        cur[e - p - 1] = '\0';
      }
      continue;
    }
    size_t kl = strlen(key);
    if (strcmp(cur, section) == 0 && strncmp(p, key, kl) == 0 &&
        (p[kl] == ' ' || p[kl] == '=' || p[kl] == '\t' || p[kl] == ':')) {
      found = n;
      break;
    }
  }
  fclose(f);
  return found;
}

struct load_ctx {
  st_config_t *c;
  const char *path;
  char *err;
  size_t errcap;
  int failed;
  int seen_peers, seen_seeds;
};

/* Peer lists may be long, and inih reads lines of at most 199 bytes: a
 * list key may be continued on indented lines (or repeated), and every
 * piece is appended, comma-separated. */
static int append_list(char *dst, size_t cap, int *seen, const char *value,
                       char *joined, size_t jcap) {
  size_t n = strlen(value);
  while (n > 0 && (value[n - 1] == ',' || value[n - 1] == ' '))
    n--;
  const char *v = value;
  while (*v == ',' || *v == ' ') {
    v++;
    n--;
  }
  int w = snprintf(joined, jcap, "%s%s%.*s", *seen ? dst : "",
                   *seen && dst[0] && n ? "," : "", (int)n, v);
  *seen = 1;
  return w < 0 || (size_t)w >= jcap || (size_t)w >= cap ? ST_E2BIG : 0;
}

static int on_ini(void *user, const char *section, const char *key,
                  const char *value) {
  struct load_ctx *lc = user;
  if (lc->failed)
    return 0;
  char msg[384], joined[ST_PEERS_MAX + 1];
  if (strcmp(section, "p2p") == 0 &&
      (strcmp(key, "persistent_peers") == 0 || strcmp(key, "seeds") == 0)) {
    int peers = key[0] == 'p';
    if (append_list(peers ? lc->c->persistent_peers : lc->c->seeds, ST_PEERS_MAX,
                    peers ? &lc->seen_peers : &lc->seen_seeds, value, joined,
                    sizeof(joined)) != 0) {
      snprintf(lc->err, lc->errcap, "config %s line %d: key p2p.%s: list longer than %d bytes",
               lc->path, find_line(lc->path, section, key), key, ST_PEERS_MAX - 1);
      lc->failed = 1;
      return 0;
    }
    value = joined;
  }
  if (st_config_set(lc->c, section, key, value, msg, sizeof(msg)) != 0) {
    int line = find_line(lc->path, section, key);
    if (lc->err && lc->errcap)
      snprintf(lc->err, lc->errcap, "config %s line %d: %s", lc->path, line, msg);
    lc->failed = 1;
    return 0;
  }
  return 1;
}

int st_config_load(st_config_t *c, const char *path, char *err, size_t errcap) {
  struct load_ctx lc = {c, path, err, errcap, 0, 0, 0};
  int rc = ini_parse(path, on_ini, &lc);
  if (rc == -1) {
    SET_ERR("config %s: cannot open: %s", path, strerror(errno));
    return errno == ENOENT ? ST_ENOENT : ST_EIO;
  }
  if (rc == -2) {
    SET_ERR("config %s: out of memory", path);
    return ST_ENOMEM;
  }
  if (lc.failed)
    return ST_ECONFIG;
  if (rc > 0) {
    SET_ERR("config %s line %d: not `key = value`, a [section] or a comment, or longer "
            "than 199 bytes", path, rc);
    return ST_ECONFIG;
  }
  return 0;
}
