/* Uploads: POST /v1/files.
 *
 * h2o hands over the whole body (buffered in memory, in a mapped
 * temporary file past 32 MiB). The upload then runs slice by slice, two
 * at a time: each slice is copied out of the body (sealed block by block
 * for a private file) and hashed on a worker thread, placed by the meta
 * chain (the replica target plus spares), and sent to its holders in
 * parallel, each transfer at most ST_RES_WINDOW blocks ahead of the
 * holder's acks and all transfers to one holder within PEER_BUDGET
 * blocks. A holder that refuses, falls silent or disconnects is
 * replaced by the next spare, from the first block. When every slice has
 * its receipts, a FileAdd goes to the meta chain, which charges the
 * owner's ozone as it records the file; the answer waits for that. So
 * memory is two slices per upload whatever the file's size, and nothing
 * is charged for a file that is not recorded. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_log.h>
#include <stratos/st_meta.h>
#include <stratos/st_resource.h>
#include <stratos/st_seal.h>
#include "gateway/gw_private.h"
#include "storage.pb-c.h"

#define ACTIVE_SLICES 2
#define SPARES 4
#define HOLDER_SILENCE_MS 15000
#define TICK_MS 500
#define NAME_MAX_BYTES 255
#define CTYPE_MAX 127
#define COMMIT_TIMEOUT_MS 60000
/* A holder that keeps answering "busy" is replaced after this long. */
#define HOLDER_BUSY_MS 60000
#define DEBT_MS 2000
/* Blocks in flight to one holder across every transfer of every upload:
 * 12 MiB, within the P2P send queue (ST_NET__SENDQ_MAX, 16 MiB), so that parallel
 * uploads never fill it (a full queue drops frames, and a holder missing
 * a block refuses the rest of its transfer). Each live transfer to the
 * holder gets an equal share, at least ST_RES_ACK_EVERY blocks, sent in
 * whole groups of ST_RES_ACK_EVERY. */
#define PEER_BUDGET 48

typedef struct upload upload_t;
typedef struct slice slice_t;

typedef struct holder {
  slice_t *s;
  uint8_t node[ST_ADDR_LEN];
  uint64_t xfer;
  uint32_t sent, acked;
  bool accepted, done, failed;
  bool again;                   /* the holder is busy: offer again on the tick */
  uint64_t busy_since;          /* its first busy answer (0: none) */
  uint64_t last_ms;
  uint8_t sig[ST_SIG_LEN];
} holder_t;

struct slice {
  upload_t *u;
  uint64_t index, off, len;
  uint8_t *data;               /* the stored bytes of the slice, owned */
  uint32_t nblocks;
  uint8_t (*hashes)[ST_HASH_LEN];
  uint8_t root[ST_HASH_LEN];
  uv_work_t work;
  int work_rc;
  bool hashing, transferring;
  st_place_reply_t cand;
  size_t next_cand;
  holder_t h[ST_PLACE_REPLICAS_MAX];
  size_t nh;
  size_t stored;
};

typedef struct upload_ref {
  upload_t *u;
} upload_ref_t;

struct upload {
  st_gw_files_t *f;
  h2o_req_t *req;               /* NULL once the client is gone */
  upload_ref_t *ref;
  st_gw__who_t who;
  const uint8_t *body;          /* req->entity, while req lives */
  uint64_t plain_size, size;
  uint32_t slice_size, replicas;
  bool encrypted;
  uint8_t nonce[ST_SEAL_NONCE], key[ST_SEAL_KEY];
  char name[NAME_MAX_BYTES + 1], ctype[CTYPE_MAX + 1];
  uint64_t nslices, next_slice, done_slices;
  size_t active;
  uint8_t (*roots)[ST_HASH_LEN];
  /* receipts per slice: replicas entries of node || signature */
  uint8_t (*receipts)[ST_ADDR_LEN + ST_SIG_LEN];
  /* Slices stored so far: their block hashes, to claim them again on
   * their holders until the file is recorded (holders drop slices no file
   * claimed for gc_grace_ms). */
  struct kept {
    uint8_t root[ST_HASH_LEN];
    uint64_t size;
    uint32_t nblocks;
    uint8_t (*hashes)[ST_HASH_LEN];
  } *kept;
  uint64_t claim_every_ms, last_claim_ms;
  slice_t slices[ACTIVE_SLICES];
  unsigned works;               /* worker jobs in flight */
  bool failed, committing, finished;
  bool orphan;                  /* the module stopped; freed on its own */
  uint64_t started_ms;
  uv_timer_t *tick;
  struct upload *next;
};

/* Blocks of transfers given up while they may still sit in a holder's
 * send queue: counted in its budget for DEBT_MS more. */
typedef struct debt {
  uint8_t node[ST_ADDR_LEN];
  uint32_t blocks;
  uint64_t until_ms;
} debt_t;

typedef struct st_gw__uploads {
  upload_t *list;
  debt_t *debts;
  size_t ndebts, cap;
} uploads_t;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uploads_t *ups(st_gw_files_t *f) {
  if (!f->up && !(f->up = calloc(1, sizeof(*f->up))))
    abort();
  return f->up;
}

/* The blocks still owed to node's budget, forgetting expired debts. */
static uint32_t debt_of(uploads_t *l, const uint8_t node[ST_ADDR_LEN]) {
  uint64_t now = now_ms();
  uint32_t n = 0;
  for (size_t i = 0; i < l->ndebts;) {
    if (l->debts[i].until_ms <= now) {
      l->debts[i] = l->debts[--l->ndebts];
      continue;
    }
    if (memcmp(l->debts[i].node, node, ST_ADDR_LEN) == 0)
      n += l->debts[i].blocks;
    i++;
  }
  return n;
}

/* Transfer h is given up with blocks in flight: they count for a while. */
static void abandon(holder_t *h) {
  upload_t *u = h->s->u;
  if (u->orphan || !h->accepted || h->done || h->sent <= h->acked)
    return;
  uploads_t *l = ups(u->f);
  if (l->ndebts == l->cap) {
    size_t nc = l->cap ? 2 * l->cap : 8;
    debt_t *nd = realloc(l->debts, nc * sizeof(*nd));
    if (!nd)
      abort();
    l->debts = nd;
    l->cap = nc;
  }
  debt_t *d = &l->debts[l->ndebts++];
  memcpy(d->node, h->node, ST_ADDR_LEN);
  d->blocks = h->sent - h->acked;
  d->until_ms = now_ms() + DEBT_MS;
}

/* ---- ending ---- */

static void free_slice(slice_t *s) {
  for (size_t i = 0; s->transferring && i < s->nh; i++)
    if (!s->h[i].failed)
      abandon(&s->h[i]);
  free(s->data);
  free(s->hashes);
  s->data = NULL;
  s->hashes = NULL;
  s->nh = 0;
  s->transferring = false;
}

static void maybe_free(upload_t *u) {
  if (!u->finished || u->works > 0)
    return;
  if (!u->orphan) {
    uploads_t *l = ups(u->f);
    for (upload_t **pp = &l->list; *pp; pp = &(*pp)->next)
      if (*pp == u) {
        *pp = u->next;
        break;
      }
  }
  for (size_t i = 0; i < ACTIVE_SLICES; i++)
    free_slice(&u->slices[i]);
  free(u->roots);
  free(u->receipts);
  for (uint64_t i = 0; u->kept && i < u->nslices; i++)
    free(u->kept[i].hashes);
  free(u->kept);
  sodium_memzero(u->key, sizeof(u->key));
  uv_close((uv_handle_t *)u->tick, (uv_close_cb)free);
  free(u);
}

/* Ends the upload: answers (if the client is still there) and frees
 * once no worker job runs. */
static void on_reap(uv_timer_t *t) { maybe_free(t->data); }

/* Ends the upload with its answer. It is freed from the loop's next turn
 * (or when its last worker job ends), never under a caller that may
 * still be walking its slices. */
static void finish(upload_t *u, int status, json_t *j, const char *msg) {
  if (u->finished)
    return;
  u->finished = true;
  uv_timer_stop(u->tick);
  uv_timer_start(u->tick, on_reap, 0, 0);
  st_gw__txwait_cancel(u->f, u);
  if (u->req) {
    u->ref->u = NULL;
    if (j)
      st_http_send_json(u->req, status, j);
    else
      st_gw__fail(u->req, status, "%s", msg);
    u->req = NULL;
  }
  if (status >= 400)
    ST_INFO("gateway", "upload of %llu bytes failed: %d %s", (unsigned long long)u->plain_size,
            status, msg ? msg : "");
  for (size_t i = 0; i < ACTIVE_SLICES; i++)
    if (!u->slices[i].hashing)
      free_slice(&u->slices[i]);
}

static void on_req_gone(void *obj) {
  upload_ref_t *r = obj;
  upload_t *u = r->u;
  if (!u)
    return;
  u->req = NULL;
  u->body = NULL;
  ST_INFO("gateway", "the client left in the middle of an upload; dropped");
  finish(u, 499, NULL, "client gone");
}

/* ---- the answer ---- */

static json_t *result_json(upload_t *u, const uint8_t root[ST_HASH_LEN]) {
  char id[ST_FILE_ID_LEN + 1], owner[ST_ADDR_STR_MAX];
  st_file_id(root, id);
  st_addr_encode(ST_HRP_WALLET, u->who.owner, owner, sizeof(owner));
  return json_pack("{s:s,s:I,s:I,s:I,s:i,s:b,s:s,s:s,s:s}", "id", id, "size",
                   (json_int_t)u->size, "plain_size", (json_int_t)u->plain_size, "slices",
                   (json_int_t)u->nslices, "replicas", (int)u->replicas, "encrypted",
                   u->encrypted, "name", u->name, "content_type", u->ctype, "owner", owner);
}

/* The wallet already holds these bytes: answer with what is recorded. */
static void stored_values(upload_t *u, const uint8_t root[ST_HASH_LEN]) {
  st_buf_t b;
  st_buf_init(&b, 64u << 20);
  if (st_meta_file_get(u->f->node, root, u->who.owner, &b) == 0) {
    Stratos__Storage__FileRecord *r = stratos__storage__file_record__unpack(NULL, b.len, b.data);
    if (r) {
      u->replicas = r->replicas;
      snprintf(u->name, sizeof(u->name), "%.*s", NAME_MAX_BYTES, r->name ? r->name : "");
      snprintf(u->ctype, sizeof(u->ctype), "%.*s", CTYPE_MAX,
               r->content_type ? r->content_type : "");
      stratos__storage__file_record__free_unpacked(r, NULL);
    }
  }
  st_buf_free(&b);
}

typedef struct commit_ctx {
  upload_t *u;
  uint8_t root[ST_HASH_LEN];
} commit_ctx_t;

static void on_committed(void *ud, int code, const char *log) {
  upload_t *u = ud;
  uint8_t root[ST_HASH_LEN];
  st_file_root(u->size, u->slice_size, (const uint8_t(*)[ST_HASH_LEN])u->roots, u->nslices,
               root);
  if (code == 0 || code == ST_EEXIST) {
    if (code == ST_EEXIST)
      stored_values(u, root);
    json_t *j = result_json(u, root);
    if (code == 0) {
      char id[ST_FILE_ID_LEN + 1];
      st_file_id(root, id);
      ST_INFO("gateway", "file %s recorded: %llu bytes, %llu slices, %u replicas, %.1f s", id,
              (unsigned long long)u->size, (unsigned long long)u->nslices, u->replicas,
              (double)(now_ms() - u->started_ms) / 1000.0);
      if (u->f->m_upload_bytes)
        st_metric_add(u->f->m_upload_bytes, (double)u->plain_size);
    }
    finish(u, code == 0 ? 201 : 200, j, NULL);
    json_decref(j);
  } else if (code == ST_EPERM) {
    finish(u, 402, NULL, log && *log ? log : "not enough ozone");
  } else if (code == ST_ETIMEDOUT) {
    finish(u, 504, NULL, log);
  } else {
    char msg[300];
    snprintf(msg, sizeof(msg), "the meta chain refused the file: %s",
             log && *log ? log : st_strerror(code));
    finish(u, code == ST_EINVAL ? 400 : code == ST_EBADSIG ? 401 : 500, NULL, msg);
  }
}

static void commit(upload_t *u) {
  u->committing = true;
  Stratos__Storage__FileAdd a;
  Stratos__Storage__ReqAuth ra;
  Stratos__Storage__FileOp op;
  stratos__storage__file_add__init(&a);
  stratos__storage__req_auth__init(&ra);
  stratos__storage__file_op__init(&op);
  ra.pubkey.data = u->who.auth.pubkey;
  ra.pubkey.len = ST_PUBKEY_LEN;
  ra.time_ms = u->who.auth.time_ms;
  ra.signature.data = u->who.auth.sig;
  ra.signature.len = ST_SIG_LEN;
  ra.method = (char *)(uintptr_t)"POST";
  ra.path = (char *)(uintptr_t)"/v1/files";
  ra.length = u->plain_size;
  uint8_t root[ST_HASH_LEN];
  int rc = st_file_root(u->size, u->slice_size, (const uint8_t(*)[ST_HASH_LEN])u->roots,
                        u->nslices, root);
  if (rc != 0) {
    finish(u, 500, NULL, "cannot compute the file root");
    return;
  }
  a.auth = &ra;
  a.root.data = root;
  a.root.len = ST_HASH_LEN;
  a.size = u->size;
  a.plain_size = u->plain_size;
  a.slice_size = u->slice_size;
  a.replicas = u->replicas;
  a.content_type = u->ctype;
  a.name = u->name;
  a.encrypted = u->encrypted;
  if (u->encrypted) {
    a.nonce.data = u->nonce;
    a.nonce.len = ST_SEAL_NONCE;
  }
  size_t ns = (size_t)u->nslices, nr = u->replicas;
  Stratos__Storage__SliceAdd *sl = calloc(ns ? ns : 1, sizeof(*sl));
  Stratos__Storage__SliceAdd **slp = calloc(ns ? ns : 1, sizeof(*slp));
  size_t nst = ns * nr > 0 ? ns * nr : 1;
  Stratos__Storage__Stored *st = calloc(nst, sizeof(*st));
  Stratos__Storage__Stored **stp = calloc(nst, sizeof(*stp));
  if (!sl || !slp || !st || !stp)
    abort();
  uint64_t left = u->size;
  for (size_t i = 0; i < ns; i++) {
    stratos__storage__slice_add__init(&sl[i]);
    sl[i].root.data = u->roots[i];
    sl[i].root.len = ST_HASH_LEN;
    sl[i].size = left < u->slice_size ? left : u->slice_size;
    left -= sl[i].size;
    for (size_t k = 0; k < nr; k++) {
      Stratos__Storage__Stored *x = &st[i * nr + k];
      stratos__storage__stored__init(x);
      x->node.data = u->receipts[i * nr + k];
      x->node.len = ST_ADDR_LEN;
      x->signature.data = u->receipts[i * nr + k] + ST_ADDR_LEN;
      x->signature.len = ST_SIG_LEN;
      stp[i * nr + k] = x;
    }
    sl[i].holders = &stp[i * nr];
    sl[i].n_holders = nr;
    slp[i] = &sl[i];
  }
  a.slices = slp;
  a.n_slices = ns;
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_ADD;
  op.add = &a;
  size_t n = stratos__storage__file_op__get_packed_size(&op);
  uint8_t *body = malloc(n);
  if (!body)
    abort();
  stratos__storage__file_op__pack(&op, body);
  free(sl);
  free(slp);
  free(st);
  free(stp);
  uint8_t txid[ST_HASH_LEN];
  char log[256] = "";
  rc = st_meta_file_submit(u->f->node, body, n, txid, log, sizeof(log));
  free(body);
  if (rc != 0) {
    on_committed(u, rc, log);
    return;
  }
  st_gw__txwait(u->f, txid, COMMIT_TIMEOUT_MS, on_committed, u);
}

/* ---- transfers ---- */

static void start_more(upload_t *u);

static bool live(const holder_t *h) { return h->accepted && !h->done && !h->failed; }

/* The blocks in flight to node across every upload, and the number of
 * live transfers to it that still have blocks to send. */
static uint32_t peer_load(st_gw_files_t *f, const uint8_t node[ST_ADDR_LEN], size_t *sending) {
  uint32_t load = debt_of(ups(f), node);
  *sending = 0;
  for (upload_t *u = ups(f)->list; u; u = u->next)
    for (size_t i = 0; i < ACTIVE_SLICES && !u->finished; i++) {
      slice_t *s = &u->slices[i];
      for (size_t k = 0; s->transferring && k < s->nh; k++) {
        const holder_t *h = &s->h[k];
        if (!live(h) || memcmp(h->node, node, ST_ADDR_LEN) != 0)
          continue;
        load += h->sent - h->acked;
        if (h->sent < s->nblocks)
          (*sending)++;
      }
    }
  return load;
}

/* Sends the next blocks of transfer h within its window, its share of
 * the holder's budget and the budget itself; *load counts the holder's
 * blocks in flight. */
static void pump_one(holder_t *h, uint32_t share, uint32_t *load) {
  slice_t *s = h->s;
  upload_t *u = s->u;
  if (!live(h))
    return;
  while (h->sent < s->nblocks && h->sent - h->acked < share) {
    /* Blocks go in whole groups of ST_RES_ACK_EVERY (the last group of
     * a slice may be short: its answer is the receipt), each started only
     * if it fits the holder's budget whole: every block in flight is
     * then answered, and no mix of half-sent groups can hold the budget
     * with no ack on its way. */
    if (h->sent % ST_RES_ACK_EVERY == 0) {
      uint32_t group = s->nblocks - h->sent < ST_RES_ACK_EVERY ? s->nblocks - h->sent
                                                                : ST_RES_ACK_EVERY;
      if (*load + group > PEER_BUDGET) {
        if (h->sent == h->acked)
          h->last_ms = now_ms(); /* waiting for other transfers, not for the holder */
        return;
      }
    }
    uint8_t hdr[ST_RES_DATA_HDR];
    uint64_t boff = (uint64_t)h->sent * ST_FILE_BLOCK;
    uint64_t blen = s->len - boff < ST_FILE_BLOCK ? s->len - boff : ST_FILE_BLOCK;
    for (int i = 0; i < 8; i++)
      hdr[i] = (uint8_t)(h->xfer >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
      hdr[8 + i] = (uint8_t)(h->sent >> (24 - 8 * i));
    int rc = st_gw__to_holder(u->f, h->node, ST_RES_DATA, hdr, sizeof(hdr), s->data + boff,
                              (size_t)blen);
    if (rc != 0) {
      ST_DEBUG("gateway", "block to a holder not sent: %s", st_strerror(rc));
      return; /* the silence check replaces the holder if this lasts */
    }
    h->sent++;
    (*load)++;
  }
}

/* Sends what every transfer to node may send now. */
static void pump_peer(st_gw_files_t *f, const uint8_t node[ST_ADDR_LEN]) {
  uint8_t peer[ST_ADDR_LEN];
  memcpy(peer, node, ST_ADDR_LEN); /* node may point into a transfer */
  size_t sending;
  uint32_t load = peer_load(f, peer, &sending);
  uint32_t share = PEER_BUDGET / (uint32_t)(sending ? sending : 1);
  share -= share % ST_RES_ACK_EVERY; /* whole groups */
  if (share < ST_RES_ACK_EVERY)
    share = ST_RES_ACK_EVERY;
  if (share > ST_RES_WINDOW)
    share = ST_RES_WINDOW;
  for (upload_t *u = ups(f)->list; u; u = u->next)
    for (size_t i = 0; i < ACTIVE_SLICES && !u->finished; i++) {
      slice_t *s = &u->slices[i];
      for (size_t k = 0; s->transferring && k < s->nh; k++)
        if (memcmp(s->h[k].node, peer, ST_ADDR_LEN) == 0)
          pump_one(&s->h[k], share, &load);
    }
}

static void pump(holder_t *h) { pump_peer(h->s->u->f, h->node); }

static int offer(holder_t *h) {
  slice_t *s = h->s;
  Stratos__Storage__SliceOffer o;
  stratos__storage__slice_offer__init(&o);
  o.xfer = h->xfer;
  o.root.data = s->root;
  o.root.len = ST_HASH_LEN;
  o.size = s->len;
  o.blocks.data = (uint8_t *)s->hashes;
  o.blocks.len = (size_t)s->nblocks * ST_HASH_LEN;
  size_t n = stratos__storage__slice_offer__get_packed_size(&o);
  uint8_t *b = malloc(n);
  if (!b)
    abort();
  stratos__storage__slice_offer__pack(&o, b);
  int rc = st_gw__to_holder(s->u->f, h->node, ST_RES_OFFER, b, n, NULL, 0);
  free(b);
  return rc;
}

/* Starts a transfer to the next candidate; false when none is left. */
static bool add_holder(slice_t *s) {
  upload_t *u = s->u;
  while (s->next_cand < s->cand.n) {
    const uint8_t *node = s->cand.nodes[s->next_cand++];
    if (s->nh == ST_PLACE_REPLICAS_MAX)
      return false;
    holder_t *h = &s->h[s->nh++];
    memset(h, 0, sizeof(*h));
    h->s = s;
    memcpy(h->node, node, ST_ADDR_LEN);
    h->xfer = st_gw__next_id(u->f);
    h->last_ms = now_ms();
    if (offer(h) == 0)
      return true;
    h->failed = true;
  }
  return false;
}

static void slice_done(slice_t *s) {
  upload_t *u = s->u;
  size_t k = 0;
  for (size_t i = 0; i < s->nh && k < u->replicas; i++)
    if (s->h[i].done) {
      uint8_t *r = u->receipts[s->index * u->replicas + k++];
      memcpy(r, s->h[i].node, ST_ADDR_LEN);
      memcpy(r + ST_ADDR_LEN, s->h[i].sig, ST_SIG_LEN);
    }
  memcpy(u->roots[s->index], s->root, ST_HASH_LEN);
  struct kept *kp = &u->kept[s->index];
  memcpy(kp->root, s->root, ST_HASH_LEN);
  kp->size = s->len;
  kp->nblocks = s->nblocks;
  kp->hashes = s->hashes;
  s->hashes = NULL;
  free_slice(s);
  u->active--;
  u->done_slices++;
  start_more(u);
}

static void holder_failed(holder_t *h, const char *why) {
  slice_t *s = h->s;
  upload_t *u = s->u;
  char a[ST_ADDR_STR_MAX];
  abandon(h);
  h->failed = true;
  st_addr_encode(ST_HRP_NODE, h->node, a, sizeof(a));
  ST_INFO("gateway", "holder %s dropped from slice %llu: %s", a, (unsigned long long)s->index,
          why);
  pump_peer(u->f, h->node); /* its share of the holder's budget is free */
  if (!add_holder(s)) {
    char msg[200];
    snprintf(msg, sizeof(msg), "too few storage nodes took slice %llu (%zu of %u)",
             (unsigned long long)s->index, s->stored, u->replicas);
    finish(u, 503, NULL, msg);
  }
}

void st_gw__upload_on_ack(st_gw_files_t *f, const uint8_t peer[ST_ADDR_LEN], const uint8_t *p,
                          size_t n) {
  Stratos__Storage__SliceAck *a = stratos__storage__slice_ack__unpack(NULL, n, p);
  if (!a)
    return;
  holder_t *h = NULL;
  for (upload_t *u = ups(f)->list; u && !h; u = u->next) {
    if (u->finished)
      continue;
    for (size_t i = 0; i < ACTIVE_SLICES && !h; i++) {
      slice_t *s = &u->slices[i];
      for (size_t k = 0; s->transferring && k < s->nh; k++)
        if (s->h[k].xfer == a->xfer && memcmp(s->h[k].node, peer, ST_ADDR_LEN) == 0) {
          h = &s->h[k];
          break;
        }
    }
  }
  if (!h || h->done || h->failed) {
    stratos__storage__slice_ack__free_unpacked(a, NULL);
    return;
  }
  h->last_ms = now_ms();
  if (!h->accepted && (a->code == ST_EAGAIN || a->code == ST_ELOCKED) &&
      (!h->busy_since || h->last_ms - h->busy_since < HOLDER_BUSY_MS)) {
    /* Busy (its transfer limit, or the same slice being written there
     * for another upload): alive, so offered again, not replaced, for a
     * while. */
    if (!h->busy_since)
      h->busy_since = h->last_ms;
    h->again = true;
  } else if (a->code != 0) {
    char why[160];
    snprintf(why, sizeof(why), "refused (%s%s%s)", st_errname(a->code), a->log ? ": " : "",
             a->log ? a->log : "");
    holder_failed(h, why);
  } else if (a->stored) {
    if (a->signature.len != ST_SIG_LEN) {
      holder_failed(h, "a receipt without a signature");
    } else {
      memcpy(h->sig, a->signature.data, ST_SIG_LEN);
      h->done = true;
      slice_t *s = h->s;
      pump_peer(f, peer);
      if (++s->stored == s->u->replicas)
        slice_done(s);
    }
  } else {
    h->accepted = true;
    if (a->received > h->acked && a->received <= h->sent)
      h->acked = a->received;
    pump(h);
  }
  stratos__storage__slice_ack__free_unpacked(a, NULL);
}

void st_gw__upload_on_peer(st_gw_files_t *f, const uint8_t peer[ST_ADDR_LEN], bool up) {
  if (up)
    return;
  for (upload_t *u = ups(f)->list; u; u = u->next)
    for (size_t i = 0; i < ACTIVE_SLICES && !u->finished; i++) {
      slice_t *s = &u->slices[i];
      for (size_t k = 0; s->transferring && k < s->nh && !u->finished; k++)
        if (!s->h[k].done && !s->h[k].failed && memcmp(s->h[k].node, peer, ST_ADDR_LEN) == 0)
          holder_failed(&s->h[k], "disconnected");
    }
}

/* Claims the stored slices of this upload on their holders (one
 * ST_RES_CLAIM per holder and round, up to ST_RES_CHECK_MAX roots each):
 * a holder's garbage collection leaves a slice claimed within
 * gc_grace_ms alone, so nothing is taken before the file is recorded. */
typedef struct claim_list {
  uint8_t node[ST_ADDR_LEN];
  uint8_t (*roots)[ST_HASH_LEN];
  size_t n, cap;
} claim_list_t;

static void claim_flush(upload_t *u, claim_list_t *c) {
  if (!c->n)
    return;
  Stratos__Storage__SliceCheck m;
  stratos__storage__slice_check__init(&m);
  ProtobufCBinaryData *r = calloc(c->n, sizeof(*r));
  if (!r)
    abort();
  for (size_t i = 0; i < c->n; i++) {
    r[i].data = c->roots[i];
    r[i].len = ST_HASH_LEN;
  }
  m.roots = r;
  m.n_roots = c->n;
  size_t n = stratos__storage__slice_check__get_packed_size(&m);
  uint8_t *b = malloc(n);
  if (!b)
    abort();
  stratos__storage__slice_check__pack(&m, b);
  st_gw__to_holder(u->f, c->node, ST_RES_CLAIM, b, n, NULL, 0);
  free(b);
  free(r);
  c->n = 0;
}

/* The claim lists of one round: one per holder the upload used. */
typedef struct claims {
  claim_list_t *v;
  size_t n, cap;
} claims_t;

static void claim_add(upload_t *u, claims_t *cs, const uint8_t node[ST_ADDR_LEN],
                      const uint8_t root[ST_HASH_LEN]) {
  claim_list_t *c = NULL;
  for (size_t i = 0; i < cs->n && !c; i++)
    if (memcmp(cs->v[i].node, node, ST_ADDR_LEN) == 0)
      c = &cs->v[i];
  if (!c) {
    if (cs->n == cs->cap) {
      size_t nc = cs->cap ? 2 * cs->cap : 16;
      claim_list_t *v = realloc(cs->v, nc * sizeof(*v));
      if (!v)
        abort();
      cs->v = v;
      cs->cap = nc;
    }
    c = &cs->v[cs->n++];
    memset(c, 0, sizeof(*c));
    memcpy(c->node, node, ST_ADDR_LEN);
  }
  if (c->n == c->cap) {
    size_t nc = c->cap ? 2 * c->cap : 16;
    if (nc > ST_RES_CHECK_MAX)
      nc = ST_RES_CHECK_MAX;
    void *r = realloc(c->roots, nc * ST_HASH_LEN);
    if (!r)
      abort();
    c->roots = r;
    c->cap = nc;
  }
  memcpy(c->roots[c->n++], root, ST_HASH_LEN);
  if (c->n == ST_RES_CHECK_MAX)
    claim_flush(u, c);
}

static void claim_all(upload_t *u) {
  claims_t cs = {NULL, 0, 0};
  for (uint64_t i = 0; i < u->nslices; i++)
    for (uint32_t r = 0; u->kept[i].hashes && r < u->replicas; r++)
      claim_add(u, &cs, u->receipts[i * u->replicas + r], u->kept[i].root);
  for (size_t i = 0; i < ACTIVE_SLICES; i++) {
    slice_t *s = &u->slices[i];
    for (size_t k = 0; s->transferring && k < s->nh; k++)
      if (s->h[k].done)
        claim_add(u, &cs, s->h[k].node, s->root);
  }
  for (size_t i = 0; i < cs.n; i++) {
    claim_flush(u, &cs.v[i]);
    free(cs.v[i].roots);
  }
  free(cs.v);
}

static void on_tick(uv_timer_t *t) {
  upload_t *u = t->data;
  uint64_t now = now_ms();
  if (now - u->last_claim_ms >= u->claim_every_ms) {
    u->last_claim_ms = now;
    claim_all(u);
  }
  for (size_t i = 0; i < ACTIVE_SLICES && !u->finished; i++) {
    slice_t *s = &u->slices[i];
    for (size_t k = 0; s->transferring && k < s->nh && !u->finished; k++) {
      holder_t *h = &s->h[k];
      if (h->done || h->failed)
        continue;
      /* last_ms may be later than now: pumping one transfer refreshes
       * the others waiting for the same holder's budget. */
      if (now > h->last_ms && now - h->last_ms > HOLDER_SILENCE_MS) {
        holder_failed(h, "silent");
      } else if (h->again) {
        h->again = false;
        h->xfer = st_gw__next_id(u->f);
        if (offer(h) != 0)
          holder_failed(h, "cannot offer the slice again");
      } else {
        pump(h); /* blocks a full queue refused */
      }
    }
  }
}

/* ---- slices: copy (or seal), hash, place ---- */

static void hash_work(uv_work_t *w) {
  slice_t *s = w->data;
  s->work_rc = 0;
  for (uint32_t b = 0; b < s->nblocks; b++) {
    uint64_t off = (uint64_t)b * ST_FILE_BLOCK;
    uint64_t len = s->len - off < ST_FILE_BLOCK ? s->len - off : ST_FILE_BLOCK;
    st_merkle_leaf(s->data + off, (size_t)len, s->hashes[b]);
  }
  s->work_rc = st_merkle_root((const uint8_t(*)[ST_HASH_LEN])s->hashes, s->nblocks, s->root);
}

static void hash_done(uv_work_t *w, int status) {
  slice_t *s = w->data;
  upload_t *u = s->u;
  u->works--;
  s->hashing = false;
  if (u->finished) {
    free_slice(s);
    maybe_free(u);
    return;
  }
  if (status != 0 || s->work_rc != 0) {
    finish(u, 500, NULL, "cannot hash a slice");
    return;
  }
  st_place_req_t q;
  memset(&q, 0, sizeof(q));
  memcpy(q.slice, s->root, ST_HASH_LEN);
  q.slice_len = ST_HASH_LEN;
  q.replicas = u->replicas + SPARES > ST_PLACE_REPLICAS_MAX ? ST_PLACE_REPLICAS_MAX
                                                            : u->replicas + SPARES;
  int rc = st_meta_place(u->f->node, &q, &s->cand);
  if (rc != 0 || s->cand.n < u->replicas) {
    char msg[160];
    snprintf(msg, sizeof(msg), "only %zu storage nodes can take new slices; %u replicas asked",
             rc == 0 ? s->cand.n : (size_t)0, u->replicas);
    finish(u, 503, NULL, msg);
    return;
  }
  s->transferring = true;
  s->next_cand = 0;
  s->nh = 0;
  s->stored = 0;
  for (uint32_t i = 0; i < u->replicas && !u->finished; i++)
    if (!add_holder(s)) {
      finish(u, 503, NULL, "cannot reach enough storage nodes");
      return;
    }
}

static void start_slice(upload_t *u, slice_t *s, uint64_t index) {
  memset(s, 0, sizeof(*s));
  s->u = u;
  s->index = index;
  s->off = index * u->slice_size;
  s->len = u->size - s->off < u->slice_size ? u->size - s->off : u->slice_size;
  s->nblocks = st_file_blocks(s->len);
  s->data = malloc((size_t)s->len);
  s->hashes = malloc((size_t)s->nblocks * ST_HASH_LEN);
  if (!s->data || !s->hashes)
    abort();
  if (!u->encrypted) {
    memcpy(s->data, u->body + s->off, (size_t)s->len);
  } else {
    /* Stored block g holds plaintext block g: both are numbered across
     * the file, and slices are whole blocks. */
    uint64_t g0 = s->off / ST_FILE_BLOCK;
    for (uint32_t b = 0; b < s->nblocks; b++) {
      uint64_t g = g0 + b, poff = g * ST_SEAL_PLAIN_BLOCK;
      uint64_t plen = u->plain_size - poff < ST_SEAL_PLAIN_BLOCK ? u->plain_size - poff
                                                                 : ST_SEAL_PLAIN_BLOCK;
      st_seal_block(u->key, u->nonce, g, u->body + poff, (size_t)plen,
                    s->data + (uint64_t)b * ST_FILE_BLOCK);
    }
  }
  s->work.data = s;
  s->hashing = true;
  u->works++;
  uv_queue_work(u->f->node->loop, &s->work, hash_work, hash_done);
}

static void start_more(upload_t *u) {
  if (u->finished)
    return;
  if (u->done_slices == u->nslices) {
    if (!u->committing)
      commit(u);
    return;
  }
  if (!u->body)
    return;
  while (u->active < ACTIVE_SLICES && u->next_slice < u->nslices) {
    slice_t *s = NULL;
    for (size_t i = 0; i < ACTIVE_SLICES && !s; i++)
      if (!u->slices[i].data && !u->slices[i].hashing)
        s = &u->slices[i];
    if (!s)
      return;
    u->active++;
    start_slice(u, s, u->next_slice++);
  }
}

/* ---- the request ---- */

static bool header_copy(h2o_req_t *req, const char *name, char *out, size_t cap, bool *present) {
  const h2o_iovec_t *v = st_http_header(req, name);
  *present = v != NULL;
  out[0] = '\0';
  if (!v)
    return true;
  if (v->len >= cap)
    return false;
  memcpy(out, v->base, v->len);
  out[v->len] = '\0';
  return true;
}

static bool good_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > NAME_MAX_BYTES || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
      return false;
  return true;
}

static bool good_ctype(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > CTYPE_MAX)
    return false;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if (*p < 0x20 || *p > 0x7e)
      return false;
  return true;
}

int st_gw__upload_handler(h2o_req_t *req, const st_http_match_t *m, void *ud) {
  st_gw_files_t *f = ud;
  (void)m;
  st_meta_storage_params_t sp;
  if (!st_meta_chain_id(f->node) || st_meta_storage_params(f->node, &sp) != 0) {
    st_gw__fail(req, 503, "this node keeps no file index (it runs no meta chain): use a meta "
                          "node's gateway");
    return 0;
  }
  uint64_t plain = req->entity.base ? req->entity.len : 0;
  char msg[200];
  st_gw__who_t who;
  int st = st_gw__authorize(f, req, "POST", "/v1/files", plain, &who, msg, sizeof(msg));
  if (st != 0) {
    st_gw__fail(req, st, "%s", msg);
    return 0;
  }
  char name[NAME_MAX_BYTES + 2], ctype[CTYPE_MAX + 2], reps[8], enc[8];
  bool has;
  if (!header_copy(req, "x-stratos-name", name, sizeof(name), &has) || (has && !good_name(name))) {
    st_gw__fail(req, 400, "X-Stratos-Name must be 1 to 255 bytes without '/', '\\' or control "
                          "characters, and not '.' or '..'");
    return 0;
  }
  if (!header_copy(req, "content-type", ctype, sizeof(ctype), &has) ||
      (has && !good_ctype(ctype))) {
    st_gw__fail(req, 400, "Content-Type must be 1 to 127 printable ASCII characters");
    return 0;
  }
  if (!has)
    snprintf(ctype, sizeof(ctype), "application/octet-stream");
  uint32_t replicas = sp.replicas_default;
  if (!header_copy(req, "x-stratos-replicas", reps, sizeof(reps), &has)) {
    has = true;
    reps[0] = 'x';
    reps[1] = '\0';
  }
  if (has) {
    char *end;
    unsigned long v = strtoul(reps, &end, 10);
    if (!reps[0] || *end || reps[0] == '-' || reps[0] == '+' || v < sp.replicas_min ||
        v > sp.replicas_max) {
      st_gw__fail(req, 400, "X-Stratos-Replicas must be %u to %u", sp.replicas_min,
                  sp.replicas_max);
      return 0;
    }
    replicas = (uint32_t)v;
  }
  bool encrypted = false;
  if (!header_copy(req, "x-stratos-encrypt", enc, sizeof(enc), &has) ||
      (has && strcmp(enc, "true") != 0 && strcmp(enc, "false") != 0)) {
    st_gw__fail(req, 400, "X-Stratos-Encrypt must be true or false");
    return 0;
  }
  encrypted = has && strcmp(enc, "true") == 0;
  if (encrypted && !who.token) {
    st_gw__fail(req, 403, "private files are uploaded through their owner's gateway, with the "
                          "node's API token (the key comes from the node's wallet)");
    return 0;
  }
  if (plain > sp.max_file_bytes) {
    st_gw__fail(req, 413, "a file is at most %llu bytes", (unsigned long long)sp.max_file_bytes);
    return 0;
  }
  uint64_t size = encrypted ? st_seal_sealed_size(plain) : plain;
  /* The charge the meta chain will make; refused now when short. */
  st_u128 need = (st_u128)size * replicas * sp.upload_noz_per_byte, have = 0;
  if (st_meta_ozone(f->node, who.owner, &have) != 0)
    have = 0;
  if (have < need) {
    char a[ST_U128_STR_MAX], b[ST_U128_STR_MAX];
    st_u128_format(have, a);
    st_u128_format(need, b);
    st_gw__fail(req, 402, "not enough ozone: this upload costs %s noz (%llu bytes x %u replicas "
                          "x %llu noz), the wallet has %s",
                b, (unsigned long long)size, replicas,
                (unsigned long long)sp.upload_noz_per_byte, a);
    return 0;
  }
  upload_t *u = calloc(1, sizeof(*u));
  if (!u)
    abort();
  u->f = f;
  u->req = req;
  u->who = who;
  u->body = (const uint8_t *)req->entity.base;
  u->plain_size = plain;
  u->size = size;
  u->slice_size = sp.slice_size;
  u->replicas = replicas;
  u->encrypted = encrypted;
  memcpy(u->name, name, strlen(name) + 1); /* checked: at most NAME_MAX_BYTES */
  memcpy(u->ctype, ctype, strlen(ctype) + 1);
  if (encrypted) {
    st_seal_new_nonce(u->nonce);
    st_seal_file_key(f->wallet.sk, u->nonce, u->key);
  }
  u->nslices = st_file_slices(size, u->slice_size);
  u->roots = calloc(u->nslices ? u->nslices : 1, ST_HASH_LEN);
  u->receipts = calloc(u->nslices ? u->nslices * replicas : 1, ST_ADDR_LEN + ST_SIG_LEN);
  u->kept = calloc(u->nslices ? u->nslices : 1, sizeof(*u->kept));
  u->claim_every_ms = sp.gc_grace_ms / 3 > 250 ? sp.gc_grace_ms / 3 : 250;
  u->last_claim_ms = now_ms();
  u->tick = malloc(sizeof(*u->tick));
  if (!u->roots || !u->receipts || !u->kept || !u->tick)
    abort();
  uv_timer_init(f->node->loop, u->tick);
  u->tick->data = u;
  uv_timer_start(u->tick, on_tick, TICK_MS, TICK_MS);
  u->started_ms = now_ms();
  u->ref = h2o_mem_alloc_shared(&req->pool, sizeof(*u->ref), on_req_gone);
  u->ref->u = u;
  uploads_t *l = ups(f);
  u->next = l->list;
  l->list = u;
  start_more(u);
  return 0;
}

void st_gw__uploads_free(st_gw_files_t *f) {
  if (!f->up)
    return;
  upload_t *list = f->up->list;
  f->up->list = NULL;
  for (upload_t *u = list, *next; u; u = next) {
    next = u->next;
    /* One with a worker job in flight frees itself when the job ends. */
    u->orphan = true;
    if (u->req)
      u->ref->u = NULL;
    u->req = NULL;
    finish(u, 503, NULL, "the node is stopping");
  }
  free(f->up->debts);
  free(f->up);
  f->up = NULL;
}
