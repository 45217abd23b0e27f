/* The gateway's file API: routes, authorization, waiting for the meta
 * chain, and the small requests (info, list, delete, share links).
 * Uploads live in upload.c, downloads in download.c; docs/storage.md is
 * the contract. The file index is the meta chain's (st_meta.h): this API
 * answers on nodes that run the meta chain, 503 elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_log.h>
#include <stratos/st_meta.h>
#include <stratos/st_resource.h>
#include <stratos/st_seal.h>
#include "gateway/gw_private.h"
#include "storage.pb-c.h"

#define WAIT_TICK_MS 20
#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define SHARE_BODY_MAX 4096
#define PASSWORD_MAX 256

typedef struct st_gw__waits {
  struct wait {
    uint8_t txid[ST_HASH_LEN];
    uint64_t deadline;
    st_gw__txwait_fn done;
    void *ud;
  } *v;
  size_t n, cap;
} waits_t;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

st_node_t *st_gw__node(st_gw_files_t *f) { return f->node; }
const st_keypair_t *st_gw__wallet(st_gw_files_t *f) { return f->has_wallet ? &f->wallet : NULL; }
uint64_t st_gw__next_id(st_gw_files_t *f) { return ++f->next_id; }

void st_gw__fail(h2o_req_t *req, int status, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  ST_DEBUG("gateway", "%.*s %.*s: %d %s", (int)req->method.len, req->method.base,
           (int)(req->path.len > 120 ? 120 : req->path.len), req->path.base, status, msg);
  st_http_send_error(req, status, msg);
}

int st_gw__to_holder(st_gw_files_t *f, const uint8_t holder[ST_ADDR_LEN], uint32_t type,
                     const void *head, size_t hlen, const void *body, size_t blen) {
  return st_res_send2(f->node, ST_MOD_GATEWAY, holder, ST_CH_RESOURCE, type, head, hlen, body,
                      blen);
}

/* ---- the API token and the wallet ---- */

static int load_token(st_gw_files_t *f) {
  char path[ST_PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/config/api_token", f->node->home);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    uint8_t raw[32];
    randombytes_buf(raw, sizeof(raw));
    st_hex_encode(raw, sizeof(raw), f->token, sizeof(f->token));
    char tmp[ST_PATH_MAX + 40];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int w = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (w < 0)
      return st_err_from_errno(-errno);
    char line[66];
    memcpy(line, f->token, 64);
    line[64] = '\n';
    bool ok = write(w, line, 65) == 65 && fsync(w) == 0;
    close(w);
    if (!ok || rename(tmp, path) != 0) {
      unlink(tmp);
      return ST_EIO;
    }
    ST_INFO("gateway", "API token written to %s", path);
    return 0;
  }
  if (fd < 0)
    return st_err_from_errno(-errno);
  char buf[80];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
    n--;
  uint8_t raw[32];
  size_t got;
  if (n != 64 || st_hex_decode(buf, 64, raw, sizeof(raw), &got) != 0 || got != 32) {
    ST_ERROR("gateway", "%s must hold 64 hex digits", path);
    return ST_ECONFIG;
  }
  memcpy(f->token, buf, 64);
  f->token[64] = '\0';
  return 0;
}

static void load_wallet(st_gw_files_t *f) {
  const char *names[2] = {f->node->cfg.gw_wallet, NULL};
  if (!names[0][0]) {
    names[0] = "wallet";
    names[1] = "dev";
  }
  for (int i = 0; i < 2 && names[i]; i++) {
    char path[ST_PATH_MAX + 96];
    snprintf(path, sizeof(path), "%s/keyring/%s.json", f->node->home, names[i]);
    if (st_keyfile_read(path, &f->wallet) == 0) {
      f->has_wallet = true;
      char a[ST_ADDR_STR_MAX];
      uint8_t addr[ST_ADDR_LEN];
      st_addr_from_pubkey(f->wallet.pk, addr);
      st_addr_encode(ST_HRP_WALLET, addr, a, sizeof(a));
      ST_INFO("gateway", "the API token acts for wallet %s (%s)", names[i], a);
      return;
    }
  }
  ST_INFO("gateway", "no wallet in the keyring: the API token authorizes nothing");
}

int st_gw__authorize(st_gw_files_t *f, h2o_req_t *req, const char *method, const char *path,
                     uint64_t length, st_gw__who_t *who, char *msg, size_t cap) {
  const h2o_iovec_t *h = st_http_header(req, "authorization");
  memset(who, 0, sizeof(*who));
  if (!h) {
    snprintf(msg, cap, "authorization required: a wallet signature or the node's API token");
    return 401;
  }
  if (h->len > 7 && strncasecmp(h->base, "Bearer ", 7) == 0) {
    if (h->len - 7 != 64 || sodium_memcmp(h->base + 7, f->token, 64) != 0) {
      snprintf(msg, cap, "wrong API token");
      return 401;
    }
    if (!f->has_wallet) {
      snprintf(msg, cap, "this node has no wallet for its API token to act for");
      return 403;
    }
    /* Distinct times: two requests the same in method, path, time and
     * length would be one request to the meta chain (it acts once). */
    uint64_t t = now_ms();
    /* (Back to the clock if it stepped back more than a second.) */
    f->last_sign_ms = t > f->last_sign_ms || f->last_sign_ms - t > 1000 ? t
                                                                        : f->last_sign_ms + 1;
    if (st_reqauth_sign(&f->wallet, f->node->chain_id, method, path, f->last_sign_ms, length,
                        &who->auth) != 0) {
      snprintf(msg, cap, "cannot sign the request");
      return 500;
    }
    st_addr_from_pubkey(f->wallet.pk, who->owner);
    who->token = true;
    return 0;
  }
  if (st_reqauth_parse(h->base, h->len, &who->auth) != 0) {
    snprintf(msg, cap, "Authorization must be \"Bearer <token>\" or "
                       "\"Stratos pubkey=<hex>,time=<ms>,sig=<hex>\"");
    return 401;
  }
  uint64_t now = now_ms();
  uint64_t t = who->auth.time_ms;
  if ((t > now ? t - now : now - t) > ST_REQAUTH_SKEW_MS) {
    snprintf(msg, cap, "the request's signature time is more than 10 minutes from ours");
    return 401;
  }
  if (st_reqauth_verify(&who->auth, f->node->chain_id, method, path, length) != 0) {
    snprintf(msg, cap, "the signature does not cover %s %s with a %llu-byte body", method, path,
             (unsigned long long)length);
    return 401;
  }
  st_addr_from_pubkey(who->auth.pubkey, who->owner);
  return 0;
}

/* ---- waiting for the meta chain ---- */

static void on_wait_tick(uv_timer_t *t) {
  st_gw_files_t *f = t->data;
  waits_t *w = f->waits;
  uint64_t now = now_ms();
  for (size_t i = 0; i < w->n;) {
    char log[256] = "";
    int rc = st_meta_file_result(f->node, w->v[i].txid, log, sizeof(log));
    if (rc == ST_EAGAIN && now < w->v[i].deadline) {
      i++;
      continue;
    }
    if (rc == ST_EAGAIN) {
      rc = ST_ETIMEDOUT;
      snprintf(log, sizeof(log), "the meta chain did not apply the request in time");
    }
    struct wait done = w->v[i];
    w->v[i] = w->v[--w->n];
    done.done(done.ud, rc, log);
  }
  if (w->n == 0)
    uv_timer_stop(t);
}

void st_gw__txwait(st_gw_files_t *f, const uint8_t txid[ST_HASH_LEN], uint64_t timeout_ms,
                   st_gw__txwait_fn done, void *ud) {
  waits_t *w = f->waits;
  if (w->n == w->cap) {
    size_t nc = w->cap ? 2 * w->cap : 16;
    void *p = realloc(w->v, nc * sizeof(*w->v));
    if (!p)
      abort();
    w->v = p;
    w->cap = nc;
  }
  struct wait *x = &w->v[w->n++];
  memcpy(x->txid, txid, ST_HASH_LEN);
  x->deadline = now_ms() + timeout_ms;
  x->done = done;
  x->ud = ud;
  if (!uv_is_active((uv_handle_t *)f->wait_timer))
    uv_timer_start(f->wait_timer, on_wait_tick, WAIT_TICK_MS, WAIT_TICK_MS);
}

void st_gw__txwait_cancel(st_gw_files_t *f, void *ud) {
  waits_t *w = f->waits;
  for (size_t i = 0; i < w->n;)
    if (w->v[i].ud == ud)
      w->v[i] = w->v[--w->n];
    else
      i++;
}

/* A request whose answer comes after a meta tx: the request may go away
 * first (the client hangs up), which the pool's destructor records. */
typedef struct pending_ref pending_ref_t;

typedef struct pending {
  h2o_req_t *req;
  pending_ref_t *ref; /* in req's pool, while req lives */
  st_gw_files_t *f;
  int kind; /* 0 delete, 1 share, 2 unshare */
  char id[ST_FILE_ID_LEN + 1];
  char link[2 * 16 + 1 + 2 * ST_SEAL_KEY + 1];
  uint64_t expires_ms;
} pending_t;

struct pending_ref {
  pending_t *p;
};

static void on_req_gone(void *obj) {
  pending_ref_t *r = obj;
  if (r->p)
    r->p->req = NULL;
}

static int http_status_of(int code) {
  switch (code) {
  case ST_ENOENT: return 404;
  case ST_EPERM: return 403;
  case ST_EBADSIG: return 401;
  case ST_EEXIST: return 409;
  case ST_EINVAL: case ST_EPARSE: case ST_ERANGE: return 400;
  case ST_ETIMEDOUT: return 504;
  case ST_EFULL: case ST_EAGAIN: return 503;
  default: return 500;
  }
}

static void on_pending_done(void *ud, int code, const char *log) {
  pending_t *p = ud;
  h2o_req_t *req = p->req;
  if (req)
    p->ref->p = NULL;
  if (req && code == ST_ECLOSED)
    req = NULL; /* stopping: h2o closes the connection */
  if (req) {
    if (code != 0) {
      st_gw__fail(req, http_status_of(code), "%s", log && *log ? log : st_strerror(code));
    } else {
      json_t *j = NULL;
      if (p->kind == 0)
        j = json_pack("{s:s}", "deleted", p->id);
      else if (p->kind == 2)
        j = json_pack("{s:s}", "revoked", p->link);
      else {
        char url[sizeof(p->link) + 4];
        snprintf(url, sizeof(url), "/s/%s", p->link);
        j = json_pack("{s:s,s:s,s:O}", "link", p->link, "url", url, "expires_ms",
                      p->expires_ms ? json_integer((json_int_t)p->expires_ms) : json_null());
      }
      st_http_send_json(req, p->kind == 1 ? 201 : 200, j);
      json_decref(j);
    }
  }
  free(p);
}

/* Submits op for req and answers when the meta chain has applied it. */
static void submit_and_wait(st_gw_files_t *f, h2o_req_t *req, Stratos__Storage__FileOp *op,
                            pending_t *p) {
  size_t n = stratos__storage__file_op__get_packed_size(op);
  uint8_t *body = malloc(n ? n : 1);
  if (!body)
    abort();
  stratos__storage__file_op__pack(op, body);
  uint8_t txid[ST_HASH_LEN];
  char log[256] = "";
  int rc = st_meta_file_submit(f->node, body, n, txid, log, sizeof(log));
  free(body);
  if (rc != 0) {
    free(p);
    st_gw__fail(req, http_status_of(rc), "%s", *log ? log : st_strerror(rc));
    return;
  }
  p->req = req;
  p->f = f;
  pending_ref_t *ref = h2o_mem_alloc_shared(&req->pool, sizeof(*ref), on_req_gone);
  ref->p = p;
  p->ref = ref;
  st_gw__txwait(f, txid, 30000, on_pending_done, p);
}

/* ---- helpers ---- */

static bool id_param(h2o_req_t *req, const st_http_match_t *m, size_t i,
                     uint8_t root[ST_HASH_LEN], char id[ST_FILE_ID_LEN + 1]) {
  char tmp[ST_FILE_ID_LEN + 1];
  if (m->values[i].len != ST_FILE_ID_LEN) {
    st_gw__fail(req, 400, "a file id is 64 hex digits");
    return false;
  }
  memcpy(tmp, m->values[i].base, ST_FILE_ID_LEN);
  tmp[ST_FILE_ID_LEN] = '\0';
  if (st_file_id_parse(tmp, root) != 0) {
    st_gw__fail(req, 400, "a file id is 64 hex digits");
    return false;
  }
  st_file_id(root, id);
  return true;
}

static bool have_meta(st_gw_files_t *f, h2o_req_t *req) {
  if (st_meta_chain_id(f->node))
    return true;
  st_gw__fail(req, 503, "this node keeps no file index (it runs no meta chain): use a meta "
                        "node's gateway");
  return false;
}

static json_t *jaddr(const char *hrp, const uint8_t *a, size_t n) {
  char s[ST_ADDR_STR_MAX];
  if (n != ST_ADDR_LEN || st_addr_encode(hrp, a, s, sizeof(s)) != 0)
    return json_null();
  return json_string(s);
}

static json_t *jhex(const uint8_t *p, size_t n) {
  char h[2 * 64 + 1];
  if (n > 64)
    n = 64;
  st_hex_encode(p, n, h, sizeof(h));
  return json_string(h);
}

/* The info JSON of a file record (docs/storage.md). with_slices adds the
 * slices and their holders. */
static json_t *file_json(st_gw_files_t *f, const uint8_t root[ST_HASH_LEN],
                         const Stratos__Storage__FileRecord *r, bool with_slices) {
  char id[ST_FILE_ID_LEN + 1];
  st_file_id(root, id);
  json_t *j = json_pack("{s:s,s:I,s:I,s:s,s:s,s:b,s:I}", "id", id, "size", (json_int_t)r->size,
                        "plain_size", (json_int_t)r->plain_size, "name", r->name ? r->name : "",
                        "content_type", r->content_type ? r->content_type : "", "encrypted",
                        r->encrypted, "created_ms", (json_int_t)r->created_ms);
  if (!with_slices)
    return j;
  json_object_set_new(j, "owner", jaddr(ST_HRP_WALLET, r->owner.data, r->owner.len));
  json_object_set_new(j, "slice_size", json_integer(r->slice_size));
  json_object_set_new(j, "replicas", json_integer(r->replicas));
  json_t *arr = json_array();
  uint64_t left = r->size;
  for (size_t i = 0; i < r->n_slices; i++) {
    uint64_t len = left < r->slice_size ? left : r->slice_size;
    left -= len;
    json_t *s = json_pack("{s:o,s:I}", "root", jhex(r->slices[i].data, r->slices[i].len),
                          "size", (json_int_t)len);
    json_t *hs = json_array();
    st_buf_t b;
    st_buf_init(&b, 1u << 20);
    if (r->slices[i].len == ST_HASH_LEN &&
        st_meta_slice_get(f->node, r->slices[i].data, &b) == 0) {
      Stratos__Storage__SliceRecord *sr =
        stratos__storage__slice_record__unpack(NULL, b.len, b.data);
      for (size_t k = 0; sr && k < sr->n_holders; k++)
        json_array_append_new(hs, jaddr(ST_HRP_NODE, sr->holders[k].data, sr->holders[k].len));
      if (sr)
        stratos__storage__slice_record__free_unpacked(sr, NULL);
    }
    st_buf_free(&b);
    json_object_set_new(s, "holders", hs);
    json_array_append_new(arr, s);
  }
  json_object_set_new(j, "slices", arr);
  return j;
}

static Stratos__Storage__FileRecord *get_record(st_gw_files_t *f, const uint8_t root[ST_HASH_LEN],
                                                const uint8_t *owner, int *rc) {
  st_buf_t b;
  st_buf_init(&b, 64u << 20);
  *rc = st_meta_file_get(f->node, root, owner, &b);
  Stratos__Storage__FileRecord *r = NULL;
  if (*rc == 0 && !(r = stratos__storage__file_record__unpack(NULL, b.len, b.data)))
    *rc = ST_ECORRUPT;
  st_buf_free(&b);
  return r;
}

/* ---- routes ---- */

static int on_info(h2o_req_t *req, const st_http_match_t *m, void *ud) {
  st_gw_files_t *f = ud;
  uint8_t root[ST_HASH_LEN];
  char id[ST_FILE_ID_LEN + 1];
  if (!have_meta(f, req) || !id_param(req, m, 0, root, id))
    return 0;
  int rc;
  Stratos__Storage__FileRecord *r = get_record(f, root, NULL, &rc);
  if (!r) {
    if (rc == ST_ENOENT)
      st_gw__fail(req, 404, "no file %s", id);
    else
      st_gw__fail(req, 500, "cannot read the file index: %s", st_strerror(rc));
    return 0;
  }
  json_t *j = file_json(f, root, r, true);
  stratos__storage__file_record__free_unpacked(r, NULL);
  st_http_send_json(req, 200, j);
  json_decref(j);
  return 0;
}

static int on_list(h2o_req_t *req, const st_http_match_t *m, void *ud) {
  st_gw_files_t *f = ud;
  (void)m;
  if (!have_meta(f, req))
    return 0;
  char owner_s[ST_ADDR_STR_MAX + 8], after_s[ST_FILE_ID_LEN + 8], limit_s[16];
  uint8_t owner[ST_ADDR_LEN], after[ST_HASH_LEN];
  int rc = st_http_query(req, "owner", owner_s, sizeof(owner_s));
  if (rc == ST_ENOENT && f->has_wallet) {
    st_addr_from_pubkey(f->wallet.pk, owner);
  } else if (rc != 0 || st_addr_decode(owner_s, ST_HRP_WALLET, owner) != 0) {
    st_gw__fail(req, 400, "owner must be a wallet address (st1...)");
    return 0;
  }
  bool has_after = false;
  rc = st_http_query(req, "after", after_s, sizeof(after_s));
  if (rc == 0) {
    if (st_file_id_parse(after_s, after) != 0) {
      st_gw__fail(req, 400, "after must be a file id (64 hex digits)");
      return 0;
    }
    has_after = true;
  } else if (rc != ST_ENOENT) {
    st_gw__fail(req, 400, "after must be a file id (64 hex digits)");
    return 0;
  }
  size_t limit = LIST_DEFAULT;
  rc = st_http_query(req, "limit", limit_s, sizeof(limit_s));
  if (rc == 0) {
    char *end;
    unsigned long v = strtoul(limit_s, &end, 10);
    if (*end || !limit_s[0] || limit_s[0] == '-' || v < 1 || v > LIST_MAX) {
      st_gw__fail(req, 400, "limit must be 1 to %d", LIST_MAX);
      return 0;
    }
    limit = v;
  } else if (rc != ST_ENOENT) {
    st_gw__fail(req, 400, "limit must be 1 to %d", LIST_MAX);
    return 0;
  }
  st_buf_t roots;
  bool more = false;
  st_buf_init(&roots, (LIST_MAX + 1) * ST_HASH_LEN);
  rc = st_meta_file_list(f->node, owner, has_after ? after : NULL, limit, &roots, &more);
  if (rc != 0 && rc != ST_ENOENT) {
    st_buf_free(&roots);
    st_gw__fail(req, 500, "cannot read the file index: %s", st_strerror(rc));
    return 0;
  }
  json_t *arr = json_array();
  size_t n = rc == 0 ? roots.len / ST_HASH_LEN : 0;
  for (size_t i = 0; i < n; i++) {
    int grc;
    Stratos__Storage__FileRecord *r = get_record(f, roots.data + i * ST_HASH_LEN, owner, &grc);
    if (!r)
      continue;
    json_array_append_new(arr, file_json(f, roots.data + i * ST_HASH_LEN, r, false));
    stratos__storage__file_record__free_unpacked(r, NULL);
  }
  json_t *next = json_null();
  if (more && n) {
    char id[ST_FILE_ID_LEN + 1];
    st_file_id(roots.data + (n - 1) * ST_HASH_LEN, id);
    json_decref(next);
    next = json_string(id);
  }
  st_buf_free(&roots);
  json_t *j = json_pack("{s:o,s:o}", "files", arr, "next", next);
  st_http_send_json(req, 200, j);
  json_decref(j);
  return 0;
}

static void fill_auth(Stratos__Storage__ReqAuth *a, const st_gw__who_t *who, const char *method,
                      const char *path, uint64_t length) {
  stratos__storage__req_auth__init(a);
  a->pubkey.data = (uint8_t *)(uintptr_t)who->auth.pubkey;
  a->pubkey.len = ST_PUBKEY_LEN;
  a->time_ms = who->auth.time_ms;
  a->signature.data = (uint8_t *)(uintptr_t)who->auth.sig;
  a->signature.len = ST_SIG_LEN;
  a->method = (char *)(uintptr_t)method;
  a->path = (char *)(uintptr_t)path;
  a->length = length;
}

static int on_delete(h2o_req_t *req, const st_http_match_t *m, void *ud) {
  st_gw_files_t *f = ud;
  uint8_t root[ST_HASH_LEN];
  char id[ST_FILE_ID_LEN + 1], path[96], msg[160];
  if (!have_meta(f, req) || !id_param(req, m, 0, root, id))
    return 0;
  snprintf(path, sizeof(path), "/v1/files/%s", id);
  st_gw__who_t who;
  uint64_t blen = req->entity.base ? req->entity.len : 0;
  int st = st_gw__authorize(f, req, "DELETE", path, blen, &who, msg, sizeof(msg));
  if (st != 0) {
    st_gw__fail(req, st, "%s", msg);
    return 0;
  }
  int rc;
  Stratos__Storage__FileRecord *r = get_record(f, root, who.owner, &rc);
  if (!r) {
    st_gw__fail(req, rc == ST_ENOENT ? 404 : 500, rc == ST_ENOENT ? "this wallet holds no file %s"
                                                                  : "cannot read the index (%s)",
                rc == ST_ENOENT ? id : st_strerror(rc));
    return 0;
  }
  stratos__storage__file_record__free_unpacked(r, NULL);
  Stratos__Storage__ReqAuth a;
  Stratos__Storage__FileDelete d;
  Stratos__Storage__FileOp op;
  fill_auth(&a, &who, "DELETE", path, blen);
  stratos__storage__file_delete__init(&d);
  stratos__storage__file_op__init(&op);
  d.auth = &a;
  d.root.data = root;
  d.root.len = ST_HASH_LEN;
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_DEL;
  op.del = &d;
  pending_t *p = calloc(1, sizeof(*p));
  if (!p)
    abort();
  p->kind = 0;
  memcpy(p->id, id, sizeof(p->id));
  submit_and_wait(f, req, &op, p);
  return 0;
}

static void password_hash(const uint8_t link[16], const char *pw, size_t n,
                          uint8_t out[ST_HASH_LEN]) {
  crypto_generichash_state s;
  crypto_generichash_init(&s, NULL, 0, ST_HASH_LEN);
  crypto_generichash_update(&s, link, 16);
  crypto_generichash_update(&s, (const uint8_t *)pw, n);
  crypto_generichash_final(&s, out, ST_HASH_LEN);
}

static int on_share(h2o_req_t *req, const st_http_match_t *m, void *ud) {
  st_gw_files_t *f = ud;
  uint8_t root[ST_HASH_LEN];
  char id[ST_FILE_ID_LEN + 1], path[128], msg[160];
  if (!have_meta(f, req) || !id_param(req, m, 0, root, id))
    return 0;
  snprintf(path, sizeof(path), "/v1/files/%s/share", id);
  uint64_t blen = req->entity.base ? req->entity.len : 0;
  if (blen > SHARE_BODY_MAX) {
    st_gw__fail(req, 413, "a share request's body is at most %d bytes", SHARE_BODY_MAX);
    return 0;
  }
  st_gw__who_t who;
  int st = st_gw__authorize(f, req, "POST", path, blen, &who, msg, sizeof(msg));
  if (st != 0) {
    st_gw__fail(req, st, "%s", msg);
    return 0;
  }
  json_int_t expire_s = 0;
  const char *pw = NULL;
  json_t *body = NULL;
  if (blen) {
    json_error_t e;
    body = json_loadb(req->entity.base, req->entity.len, JSON_REJECT_DUPLICATES, &e);
    json_t *ex = body ? json_object_get(body, "expire_s") : NULL;
    json_t *pj = body ? json_object_get(body, "password") : NULL;
    if (!json_is_object(body) || (ex && (!json_is_integer(ex) || json_integer_value(ex) < 1 ||
                                        json_integer_value(ex) > 10LL * 365 * 86400)) ||
        (pj && (!json_is_string(pj) || json_string_length(pj) == 0 ||
                json_string_length(pj) > PASSWORD_MAX))) {
      json_decref(body);
      st_gw__fail(req, 400, "the body must be {\"expire_s\": 1..315360000, \"password\": "
                            "\"1 to %d bytes\"}, both optional", PASSWORD_MAX);
      return 0;
    }
    expire_s = ex ? json_integer_value(ex) : 0;
    pw = pj ? json_string_value(pj) : NULL;
  }
  int rc;
  Stratos__Storage__FileRecord *r = get_record(f, root, who.owner, &rc);
  if (!r) {
    json_decref(body);
    st_gw__fail(req, rc == ST_ENOENT ? 404 : 500, "this wallet holds no file %s", id);
    return 0;
  }
  pending_t *p = calloc(1, sizeof(*p));
  if (!p)
    abort();
  uint8_t link[16], ph[ST_HASH_LEN];
  randombytes_buf(link, sizeof(link));
  st_hex_encode(link, sizeof(link), p->link, sizeof(p->link));
  if (r->encrypted) {
    if (!who.token || r->nonce.len != ST_SEAL_NONCE) {
      stratos__storage__file_record__free_unpacked(r, NULL);
      json_decref(body);
      free(p);
      st_gw__fail(req, 403, "a private file is shared through its owner's gateway, with the "
                            "node's API token");
      return 0;
    }
    uint8_t key[ST_SEAL_KEY];
    st_seal_file_key(f->wallet.sk, r->nonce.data, key);
    p->link[32] = '-';
    st_hex_encode(key, sizeof(key), p->link + 33, sizeof(p->link) - 33);
    sodium_memzero(key, sizeof(key));
  }
  stratos__storage__file_record__free_unpacked(r, NULL);
  p->kind = 1;
  p->expires_ms = expire_s ? now_ms() + (uint64_t)expire_s * 1000u : 0;
  Stratos__Storage__ReqAuth a;
  Stratos__Storage__ShareAdd s;
  Stratos__Storage__FileOp op;
  fill_auth(&a, &who, "POST", path, blen);
  stratos__storage__share_add__init(&s);
  stratos__storage__file_op__init(&op);
  s.auth = &a;
  s.link.data = link;
  s.link.len = sizeof(link);
  s.file.data = root;
  s.file.len = ST_HASH_LEN;
  s.expires_ms = p->expires_ms;
  if (pw) {
    password_hash(link, pw, strlen(pw), ph);
    s.password_hash.data = ph;
    s.password_hash.len = ST_HASH_LEN;
  }
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_SHARE;
  op.share = &s;
  submit_and_wait(f, req, &op, p);
  json_decref(body);
  return 0;
}

static int on_unshare(h2o_req_t *req, const st_http_match_t *m, void *ud) {
  st_gw_files_t *f = ud;
  char path[sizeof(((pending_t *)0)->link) + 4], msg[160];
  uint8_t link[16];
  size_t got;
  if (!have_meta(f, req))
    return 0;
  if (m->values[0].len < 32 || (m->values[0].len != 32 && m->values[0].base[32] != '-') ||
      st_hex_decode(m->values[0].base, 32, link, sizeof(link), &got) != 0) {
    st_gw__fail(req, 400, "a share link is 32 hex digits");
    return 0;
  }
  pending_t *p = calloc(1, sizeof(*p));
  if (!p)
    abort();
  st_hex_encode(link, sizeof(link), p->link, sizeof(p->link));
  snprintf(path, sizeof(path), "/s/%s", p->link);
  st_gw__who_t who;
  uint64_t blen = req->entity.base ? req->entity.len : 0;
  int st = st_gw__authorize(f, req, "DELETE", path, blen, &who, msg, sizeof(msg));
  if (st != 0) {
    free(p);
    st_gw__fail(req, st, "%s", msg);
    return 0;
  }
  st_buf_t b;
  st_buf_init(&b, 1u << 16);
  int rc = st_meta_share_get(f->node, link, &b);
  Stratos__Storage__ShareRecord *sr =
    rc == 0 ? stratos__storage__share_record__unpack(NULL, b.len, b.data) : NULL;
  st_buf_free(&b);
  if (!sr) {
    st_gw__fail(req, 404, "no share link %s", p->link);
    free(p);
    return 0;
  }
  bool mine = sr->owner.len == ST_ADDR_LEN && memcmp(sr->owner.data, who.owner, ST_ADDR_LEN) == 0;
  stratos__storage__share_record__free_unpacked(sr, NULL);
  if (!mine) {
    free(p);
    st_gw__fail(req, 403, "only the file's owner revokes its share links");
    return 0;
  }
  Stratos__Storage__ReqAuth a;
  Stratos__Storage__ShareRevoke s;
  Stratos__Storage__FileOp op;
  fill_auth(&a, &who, "DELETE", path, blen);
  stratos__storage__share_revoke__init(&s);
  stratos__storage__file_op__init(&op);
  s.auth = &a;
  s.link.data = link;
  s.link.len = sizeof(link);
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_UNSHARE;
  op.unshare = &s;
  p->kind = 2;
  submit_and_wait(f, req, &op, p);
  return 0;
}

/* ---- the module's side ---- */

int st_gw__files_init(st_node_t *node, st_http_t *http, st_gw_files_t **out) {
  st_gw_files_t *f = calloc(1, sizeof(*f));
  if (!f)
    abort();
  f->node = node;
  f->http = http;
  int rc = load_token(f);
  if (rc != 0) {
    ST_ERROR("gateway", "cannot prepare the API token: %s", st_strerror(rc));
    free(f);
    return rc;
  }
  load_wallet(f);
  f->waits = calloc(1, sizeof(*f->waits));
  f->wait_timer = malloc(sizeof(*f->wait_timer));
  if (!f->waits || !f->wait_timer)
    abort();
  uv_timer_init(node->loop, f->wait_timer);
  f->wait_timer->data = f;
  randombytes_buf(&f->next_id, sizeof(f->next_id));
  f->next_id >>= 1;
  if (node->metrics) {
    f->m_bad_blocks = st_metrics_counter(node->metrics, "stratos_gateway_bad_blocks_total",
                                         "Blocks from holders that failed verification.", "");
    f->m_block_timeouts =
      st_metrics_counter(node->metrics, "stratos_gateway_block_timeouts_total",
                         "Blocks asked of a holder that did not answer in time.", "");
    f->m_upload_bytes = st_metrics_counter(node->metrics, "stratos_gateway_upload_bytes_total",
                                           "File bytes uploaded through the gateway.", "");
    f->m_download_bytes =
      st_metrics_counter(node->metrics, "stratos_gateway_download_bytes_total",
                         "File bytes sent to clients, verified.", "");
  }
  st_http_route_max(http, "POST", "/v1/files", st_gw__upload_handler, f, UINT64_MAX >> 1);
  st_http_route(http, "GET", "/v1/files", on_list, f);
  st_http_route(http, "GET", "/v1/files/{id}/info", on_info, f);
  st_http_route(http, "POST", "/v1/files/{id}/share", on_share, f);
  st_http_route(http, "GET", "/v1/files/{id}", st_gw__download_handler, f);
  st_http_route(http, "HEAD", "/v1/files/{id}", st_gw__download_handler, f);
  st_http_route(http, "DELETE", "/v1/files/{id}", on_delete, f);
  st_http_route(http, "GET", "/s/{link}", st_gw__share_get_handler, f);
  st_http_route(http, "HEAD", "/s/{link}", st_gw__share_get_handler, f);
  st_http_route(http, "DELETE", "/s/{link}", on_unshare, f);
  *out = f;
  return 0;
}

void st_gw__files_start(st_gw_files_t *f) {
  int rc = st_net_subscribe(f->node->bus, ST_MOD_GATEWAY, ST_CH_GATEWAY);
  if (rc != 0)
    ST_WARN("gateway", "cannot subscribe to the gateway channel: %s", st_strerror(rc));
}

void st_gw__files_on_msg(st_gw_files_t *f, st_msg_t *msg) {
  if (msg->type == ST_MSG_NET_FRAME) {
    const st_net_frame_t *fr = msg->data;
    if (!fr || fr->channel != ST_CH_GATEWAY)
      return;
    if (fr->type == ST_RES_ACK)
      st_gw__upload_on_ack(f, fr->peer, fr->data, fr->len);
    else if (fr->type == ST_RES_BLOCK)
      st_gw__download_on_block(f, fr->peer, fr->data, fr->len);
  } else if (msg->type == ST_MSG_NET_PEER) {
    const st_net_peer_event_t *ev = msg->data;
    if (ev)
      st_gw__upload_on_peer(f, ev->peer, ev->up != 0);
  }
}

void st_gw__files_free(st_gw_files_t *f) {
  if (!f)
    return;
  st_gw__uploads_free(f);
  st_gw__downloads_free(f);
  for (size_t i = 0; i < f->waits->n; i++)
    f->waits->v[i].done(f->waits->v[i].ud, ST_ECLOSED, "the node is stopping");
  free(f->waits->v);
  free(f->waits);
  uv_close((uv_handle_t *)f->wait_timer, (uv_close_cb)free);
  sodium_memzero(&f->wallet, sizeof(f->wallet));
  free(f);
}
