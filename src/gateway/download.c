/* Downloads: GET and HEAD /v1/files/{id} and /s/{link}.
 *
 * The request's range (range.h) is mapped to the stored blocks that
 * cover it; the download keeps up to WINDOW of them in flight, each asked
 * of the holder of its slice that answers fastest (a running average of
 * answer times, divided among requests in flight), and sends them to the
 * client in order as each is verified — against its slice's block hash
 * list, itself checked against the slice root of the file's record, whose
 * slice roots the meta chain checked against the file id. A block that
 * fails the check, or a holder that does not answer in BLOCK_TIMEOUT_MS,
 * costs that holder the block: it is asked of the next one and the bad
 * holder is logged and counted. Private files are opened block by block
 * with the file key. The status and headers go out with the first
 * verified byte, so a download that cannot start gets a clear error;
 * once started, one that cannot go on is cut short (the client sees
 * fewer bytes than Content-Length). Memory: WINDOW blocks per download.
 *
 * Traffic (docs/traffic.md): a download is paid by the wallet that signed
 * the request (the token's wallet with the API token), for /s/{link} by
 * the link's owner, else by the file's owner; a payer without ozone gets
 * 402 before anything is fetched. Per holder it fetched blocks from, a
 * download keeps a session (16 random bytes, within one meta epoch) and
 * the bytes of verified blocks received from it, and signs with the node
 * key a receipt of the cumulative bytes for the holder — at most one per
 * RCPT_BYTES or per RCPT_MS, and a last one when the download ends or the
 * epoch changes (the next bytes then start a new session). Blocks from
 * the block cache and hash lists draw no receipt, nor does this node
 * serving itself. */
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
#include "gateway/range.h"
#include "storage.pb-c.h"

#define WINDOW 24
#define BLOCK_TIMEOUT_MS 5000
#define TICK_MS 250
#define HASH_CACHE 64
#define HOLDER_STATS 256
#define MAX_HOLDERS ST_PLACE_REPLICAS_MAX
#define LINK_HEX 32
/* Blocks asked of one holder at a time across every download: its P2P
 * send queue toward this node (16 MiB) then never fills (a full queue
 * drops answers, which would cost a BLOCK_TIMEOUT_MS wait). Blocks past
 * it wait for a holder of their slice to answer. */
#define PEER_BUDGET 32
/* Receipts: sessions per download, and how often each is signed. */
#define RCPT_SESS 16
#define RCPT_BYTES (256u << 10)
#define RCPT_MS 1000

typedef struct hstat {
  uint8_t node[ST_ADDR_LEN];
  double ewma_ms;
  unsigned inflight;
} hstat_t;

/* A slice's block hash list: being fetched, or checked and kept. */
typedef struct hlist {
  uint8_t root[ST_HASH_LEN];
  uint32_t nblocks;
  uint8_t (*hashes)[ST_HASH_LEN];  /* NULL while pending */
  uint64_t req;                    /* the pending request */
  uint8_t holder[ST_ADDR_LEN];
  uint64_t sent_ms;
  unsigned tries;
  uint64_t used;                   /* LRU clock */
  bool pending;
} hlist_t;

typedef struct dl dl_t;

/* A receipt session with one holder. */
typedef struct rsess {
  uint8_t holder[ST_ADDR_LEN];
  uint8_t id[16];
  uint64_t epoch;
  uint64_t bytes, signed_bytes;
  uint64_t signed_ms;
  bool used;
} rsess_t;

typedef struct slot {
  uint64_t g;                      /* stored block number across the file */
  uint64_t req;                    /* 0: not asked */
  uint8_t holder[ST_ADDR_LEN];
  uint64_t sent_ms;
  unsigned tries;
  uint8_t *data;                   /* the block once it came */
  size_t len;
  bool verified;
  bool checking;                   /* its hash is being taken on a worker */
  bool waiting;                    /* every holder of its slice is busy */
  uint8_t tried[MAX_HOLDERS];      /* holders that failed this block */
} slot_t;

typedef struct dl_ref {
  dl_t *d;
} dl_ref_t;

/* The slices of the file this download touches: their holders. */
typedef struct dslice {
  uint64_t index;
  uint8_t holders[MAX_HOLDERS][ST_ADDR_LEN];
  size_t nholders;
  bool loaded;
} dslice_t;

struct dl {
  h2o_generator_t gen;             /* first: h2o hands it back */
  st_gw_files_t *f;
  h2o_req_t *req;
  dl_ref_t *ref;
  Stratos__Storage__FileRecord *rec;
  char id[ST_FILE_ID_LEN + 1];
  bool encrypted, head, started, sending;
  uint8_t key[ST_SEAL_KEY];
  int status;
  uint64_t length;                 /* the representation's (plaintext) length */
  uint64_t first, last;            /* bytes to send, inclusive (when length > 0) */
  uint64_t g_end;                  /* one past the last stored block to send */
  uint64_t g_next_ask, g_next_send;
  uint32_t bps;                    /* stored blocks per slice */
  slot_t slots[WINDOW];
  uint8_t *out;                    /* the bytes h2o is sending */
  dslice_t sl[2];
  uint64_t sent_bytes;
  /* A download is never freed inside a callback that may still use it:
   * gone (the request is disposed) and dead (cut short) downloads are
   * finished by the fetch's `later` timer. */
  bool gone, dead, dead_sent;
  int dead_status;
  char dead_msg[160];
  struct dl *next;
  /* Traffic receipts. */
  uint8_t root[ST_HASH_LEN];
  uint8_t payer[ST_ADDR_LEN];
  rsess_t rs[RCPT_SESS];
  /* Blocks being hashed on the thread pool: the download (and the data
   * of those slots) lives until the last one is back; orphan: the
   * gateway stopped meanwhile, the last job frees it. */
  unsigned works;
  bool orphan;
};

/* A block hashed on the thread pool. */
typedef struct vjob {
  uv_work_t work;
  dl_t *d;
  uint64_t g;
  const uint8_t *data;
  size_t len;
  uint8_t want[ST_HASH_LEN];       /* from the slice's list when the job began */
  uint8_t hash[ST_HASH_LEN];
} vjob_t;

/* Verified blocks kept for the next requests (the CDN part): a hash
 * table over (slice root, index) with an LRU list, bounded in bytes. */
typedef struct centry {
  struct centry *hnext, *prev, *next;
  uint8_t root[ST_HASH_LEN];
  uint32_t index;
  size_t len;
  uint8_t data[];
} centry_t;

#define CACHE_BUCKETS 4096

typedef struct st_gw__fetch {
  dl_t *list;
  centry_t *buckets[CACHE_BUCKETS];
  centry_t *lru_head, *lru_tail;   /* head: most recent */
  size_t cache_bytes, cache_max;
  uint64_t hits, misses;
  hlist_t cache[HASH_CACHE];
  uint64_t clock;
  hstat_t stats[HOLDER_STATS];
  size_t nstats;
  uv_timer_t *tick, *later;
  st_metric_t *m_rcpt;
} fetch_t;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_tick(uv_timer_t *t);

static fetch_t *fx(st_gw_files_t *f) {
  if (!f->fetch) {
    if (!(f->fetch = calloc(1, sizeof(*f->fetch))) ||
        !(f->fetch->tick = malloc(sizeof(*f->fetch->tick))) ||
        !(f->fetch->later = malloc(sizeof(*f->fetch->later))))
      abort();
    uv_timer_init(f->node->loop, f->fetch->tick);
    f->fetch->tick->data = f;
    uv_timer_init(f->node->loop, f->fetch->later);
    f->fetch->later->data = f;
    f->fetch->cache_max = f->node->cfg.gw_cache_bytes;
    if (f->node->metrics)
      f->fetch->m_rcpt = st_metrics_counter(f->node->metrics,
                                            "stratos_traffic_receipts_signed_total",
                                            "Traffic receipts this gateway signed for holders.",
                                            "");
  }
  return f->fetch;
}

/* ---- traffic receipts ---- */

/* Signs and sends the receipt of session r (its bytes so far). */
static void rcpt_send(dl_t *d, rsess_t *r) {
  st_gw_files_t *f = d->f;
  const char *chain = st_meta_chain_id(f->node);
  st_meta_receipt_t m;
  st_buf_t b;
  if (!chain || r->bytes == r->signed_bytes)
    return;
  memset(&m, 0, sizeof(m));
  memcpy(m.server, r->holder, ST_ADDR_LEN);
  memcpy(m.payer, d->payer, ST_ADDR_LEN);
  memcpy(m.file, d->root, ST_HASH_LEN);
  m.kind = 0;
  m.epoch = r->epoch;
  memcpy(m.session, r->id, sizeof(m.session));
  m.bytes = r->bytes;
  m.time_ms = (int64_t)wall_ms();
  st_buf_init(&b, 1024);
  int rc = st_meta_receipt_sign(&f->node->node_key, chain, &m, &b);
  if (rc == 0)
    rc = st_gw__to_holder(f, r->holder, ST_RES_RECEIPT, b.data, b.len, NULL, 0);
  st_buf_free(&b);
  if (rc != 0) {
    ST_DEBUG("gateway", "a traffic receipt was not sent: %s", st_strerror(rc));
    return;
  }
  r->signed_bytes = r->bytes;
  r->signed_ms = now_ms();
  if (fx(f)->m_rcpt)
    st_metric_inc(fx(f)->m_rcpt);
}

/* n verified bytes came from holder. */
static void rcpt_note(dl_t *d, const uint8_t holder[ST_ADDR_LEN], uint64_t n) {
  uint8_t me[ST_ADDR_LEN];
  uint64_t epoch;
  st_addr_from_pubkey(d->f->node->node_key.pk, me);
  if (memcmp(me, holder, ST_ADDR_LEN) == 0 || st_meta_epoch(d->f->node, &epoch, NULL) != 0)
    return;
  rsess_t *r = NULL, *oldest = &d->rs[0];
  for (size_t i = 0; i < RCPT_SESS && !r; i++) {
    if (d->rs[i].used && memcmp(d->rs[i].holder, holder, ST_ADDR_LEN) == 0)
      r = &d->rs[i];
    else if (!d->rs[i].used || (oldest->used && d->rs[i].signed_ms < oldest->signed_ms))
      oldest = &d->rs[i];
  }
  if (r && r->epoch != epoch) {
    rcpt_send(d, r); /* the old epoch's last word */
    r->used = false;
  }
  if (!r || !r->used) {
    if (!r) {
      r = oldest;
      if (r->used)
        rcpt_send(d, r);
    }
    memset(r, 0, sizeof(*r));
    r->used = true;
    memcpy(r->holder, holder, ST_ADDR_LEN);
    randombytes_buf(r->id, sizeof(r->id));
    r->epoch = epoch;
    r->signed_ms = now_ms();
  }
  r->bytes += n;
  if (r->bytes - r->signed_bytes >= RCPT_BYTES || now_ms() - r->signed_ms >= RCPT_MS)
    rcpt_send(d, r);
}

/* The download ends: the last receipts. */
static void rcpt_final(dl_t *d) {
  for (size_t i = 0; i < RCPT_SESS; i++)
    if (d->rs[i].used)
      rcpt_send(d, &d->rs[i]);
}

/* ---- the block cache ---- */

static size_t bucket_of(const uint8_t root[ST_HASH_LEN], uint32_t index) {
  uint32_t h;
  memcpy(&h, root, sizeof(h));
  return (size_t)((h ^ (index * 2654435761u)) % CACHE_BUCKETS);
}

static void lru_unlink(fetch_t *x, centry_t *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    x->lru_head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    x->lru_tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_front(fetch_t *x, centry_t *e) {
  e->next = x->lru_head;
  e->prev = NULL;
  if (x->lru_head)
    x->lru_head->prev = e;
  x->lru_head = e;
  if (!x->lru_tail)
    x->lru_tail = e;
}

static void cache_evict(fetch_t *x, centry_t *e) {
  centry_t **pp = &x->buckets[bucket_of(e->root, e->index)];
  while (*pp && *pp != e)
    pp = &(*pp)->hnext;
  if (*pp)
    *pp = e->hnext;
  lru_unlink(x, e);
  x->cache_bytes -= sizeof(*e) + e->len;
  free(e);
}

static centry_t *cache_get(fetch_t *x, const uint8_t root[ST_HASH_LEN], uint32_t index) {
  for (centry_t *e = x->buckets[bucket_of(root, index)]; e; e = e->hnext)
    if (e->index == index && memcmp(e->root, root, ST_HASH_LEN) == 0) {
      lru_unlink(x, e);
      lru_front(x, e);
      x->hits++;
      return e;
    }
  x->misses++;
  return NULL;
}

static void cache_put(fetch_t *x, const uint8_t root[ST_HASH_LEN], uint32_t index,
                      const uint8_t *data, size_t len) {
  size_t need = sizeof(centry_t) + len;
  if (need > x->cache_max)
    return;
  for (centry_t *e = x->buckets[bucket_of(root, index)]; e; e = e->hnext)
    if (e->index == index && memcmp(e->root, root, ST_HASH_LEN) == 0)
      return;
  while (x->lru_tail && x->cache_bytes + need > x->cache_max)
    cache_evict(x, x->lru_tail);
  centry_t *e = malloc(need);
  if (!e)
    return;
  memcpy(e->root, root, ST_HASH_LEN);
  e->index = index;
  e->len = len;
  memcpy(e->data, data, len);
  size_t b = bucket_of(root, index);
  e->hnext = x->buckets[b];
  x->buckets[b] = e;
  lru_front(x, e);
  x->cache_bytes += need;
}

/* ---- holders' speed ---- */

static hstat_t *stat_of(fetch_t *x, const uint8_t node[ST_ADDR_LEN]) {
  for (size_t i = 0; i < x->nstats; i++)
    if (memcmp(x->stats[i].node, node, ST_ADDR_LEN) == 0)
      return &x->stats[i];
  size_t i = x->nstats < HOLDER_STATS ? x->nstats++ : (size_t)(x->clock % HOLDER_STATS);
  memset(&x->stats[i], 0, sizeof(x->stats[i]));
  memcpy(x->stats[i].node, node, ST_ADDR_LEN);
  x->stats[i].ewma_ms = 5;
  return &x->stats[i];
}

static void stat_done(fetch_t *x, const uint8_t node[ST_ADDR_LEN], uint64_t ms, bool ok) {
  hstat_t *s = stat_of(x, node);
  if (s->inflight)
    s->inflight--;
  double v = ok ? (double)ms : (double)BLOCK_TIMEOUT_MS;
  s->ewma_ms = 0.8 * s->ewma_ms + 0.2 * v;
}

/* ---- slices ---- */

static uint64_t slice_len(const Stratos__Storage__FileRecord *r, uint64_t s) {
  uint64_t off = s * r->slice_size;
  return r->size - off < r->slice_size ? r->size - off : r->slice_size;
}

static dslice_t *slice_of(dl_t *d, uint64_t s) {
  for (int i = 0; i < 2; i++)
    if (d->sl[i].loaded && d->sl[i].index == s)
      return &d->sl[i];
  /* Replace the one before the oldest block in flight. */
  dslice_t *e = &d->sl[0];
  uint64_t cur = d->g_next_send / d->bps;
  if (d->sl[0].loaded && d->sl[0].index >= cur)
    e = &d->sl[1];
  memset(e, 0, sizeof(*e));
  e->index = s;
  st_buf_t b;
  st_buf_init(&b, 1u << 16);
  const Stratos__Storage__FileRecord *r = d->rec;
  if (s < r->n_slices && r->slices[s].len == ST_HASH_LEN &&
      st_meta_slice_get(d->f->node, r->slices[s].data, &b) == 0) {
    Stratos__Storage__SliceRecord *sr = stratos__storage__slice_record__unpack(NULL, b.len, b.data);
    for (size_t k = 0; sr && k < sr->n_holders && e->nholders < MAX_HOLDERS; k++) {
      bool online = false;
      if (sr->holders[k].len != ST_ADDR_LEN)
        continue;
      if (st_meta_node_online(d->f->node, sr->holders[k].data, &online) == 0 && online)
        memcpy(e->holders[e->nholders++], sr->holders[k].data, ST_ADDR_LEN);
    }
    /* No holder online by the meta chain's account: try them all. */
    for (size_t k = 0; sr && e->nholders == 0 && k < sr->n_holders && k < MAX_HOLDERS; k++)
      if (sr->holders[k].len == ST_ADDR_LEN)
        memcpy(e->holders[e->nholders++], sr->holders[k].data, ST_ADDR_LEN);
    if (sr)
      stratos__storage__slice_record__free_unpacked(sr, NULL);
  }
  st_buf_free(&b);
  e->loaded = true;
  return e;
}

/* The best holder of slice s not in skip (per-holder flags), or -1.
 * With busy (blocks, not hash lists), holders at their PEER_BUDGET are
 * left out and *busy tells whether one was left out for that only. */
static int pick_holder(dl_t *d, dslice_t *s, const uint8_t *skip, bool *busy) {
  fetch_t *x = fx(d->f);
  int best = -1;
  double bv = 0;
  if (busy)
    *busy = false;
  for (size_t i = 0; i < s->nholders; i++) {
    if (skip && skip[i])
      continue;
    hstat_t *h = stat_of(x, s->holders[i]);
    if (busy && h->inflight >= PEER_BUDGET) {
      *busy = true;
      continue;
    }
    double v = h->ewma_ms * (1.0 + h->inflight);
    if (best < 0 || v < bv) {
      best = (int)i;
      bv = v;
    }
  }
  return best;
}

/* ---- hash lists ---- */

static hlist_t *hl_find(fetch_t *x, const uint8_t root[ST_HASH_LEN]) {
  for (size_t i = 0; i < HASH_CACHE; i++)
    if ((x->cache[i].hashes || x->cache[i].pending) &&
        memcmp(x->cache[i].root, root, ST_HASH_LEN) == 0) {
      x->cache[i].used = ++x->clock;
      return &x->cache[i];
    }
  return NULL;
}

static void hl_ask(dl_t *d, hlist_t *h, dslice_t *s) {
  uint8_t skip[MAX_HOLDERS] = {0};
  for (size_t i = 0; i < s->nholders && h->tries; i++)
    skip[i] = memcmp(s->holders[i], h->holder, ST_ADDR_LEN) == 0;
  int k = pick_holder(d, s, h->tries >= s->nholders * 2 ? NULL : skip, NULL);
  if (k < 0)
    return;
  Stratos__Storage__BlockGet g;
  stratos__storage__block_get__init(&g);
  h->req = st_gw__next_id(d->f);
  g.req = h->req;
  g.root.data = h->root;
  g.root.len = ST_HASH_LEN;
  g.hashes = true;
  g.reply_channel = ST_CH_GATEWAY;
  uint8_t buf[128];
  size_t n = stratos__storage__block_get__pack(&g, buf);
  memcpy(h->holder, s->holders[k], ST_ADDR_LEN);
  h->sent_ms = now_ms();
  h->tries++;
  st_gw__to_holder(d->f, h->holder, ST_RES_GET, buf, n, NULL, 0);
}

/* The hash list of slice s: ready, or asked for (NULL). */
static hlist_t *hl_get(dl_t *d, uint64_t s_index, dslice_t *s) {
  fetch_t *x = fx(d->f);
  const uint8_t *root = d->rec->slices[s_index].data;
  hlist_t *h = hl_find(x, root);
  if (h)
    return h->pending ? NULL : h;
  size_t v = 0;
  for (size_t i = 1; i < HASH_CACHE; i++)
    if (!x->cache[i].pending && (x->cache[v].pending || x->cache[i].used < x->cache[v].used))
      v = i;
  h = &x->cache[v];
  if (h->pending)
    return NULL; /* every entry is being fetched: try again later */
  free(h->hashes);
  memset(h, 0, sizeof(*h));
  memcpy(h->root, root, ST_HASH_LEN);
  h->nblocks = st_file_blocks(slice_len(d->rec, s_index));
  h->pending = true;
  h->used = ++x->clock;
  hl_ask(d, h, s);
  return NULL;
}

/* ---- the response ---- */

/* Frees what a download holds, once no worker job uses it. */
static void dl_release(dl_t *d) {
  for (size_t i = 0; i < WINDOW; i++)
    free(d->slots[i].data);
  free(d->out);
  if (d->rec)
    stratos__storage__file_record__free_unpacked(d->rec, NULL);
  sodium_memzero(d->key, sizeof(d->key));
  free(d);
}

static void dl_free(dl_t *d) {
  fetch_t *x = fx(d->f);
  rcpt_final(d);
  for (dl_t **pp = &x->list; *pp; pp = &(*pp)->next)
    if (*pp == d) {
      *pp = d->next;
      break;
    }
  for (size_t i = 0; i < WINDOW; i++) {
    if (d->slots[i].req && !d->slots[i].data)
      stat_done(x, d->slots[i].holder, BLOCK_TIMEOUT_MS, true);
  }
  if (d->ref)
    d->ref->d = NULL;
  dl_release(d);
}

static void on_later(uv_timer_t *t);

static void later(dl_t *d) {
  fetch_t *x = fx(d->f);
  if (!uv_is_active((uv_handle_t *)x->later))
    uv_timer_start(x->later, on_later, 0, 0);
}

static void on_req_gone(void *obj) {
  dl_ref_t *r = obj;
  if (r->d) {
    r->d->ref = NULL;
    r->d->req = NULL;
    r->d->gone = true;
    later(r->d);
  }
}

static bool alive(const dl_t *d) { return !d->gone && !d->dead; }

static void on_stop(h2o_generator_t *g, h2o_req_t *req) {
  (void)g;
  (void)req; /* the pool's destructor frees the download */
}

static void add_header(h2o_req_t *req, const h2o_token_t *t, const char *v, size_t n) {
  h2o_add_header(&req->pool, &req->res.headers, t, NULL, h2o_strdup(&req->pool, v, n).base, n);
}

static void add_header_str(h2o_req_t *req, const char *name, const char *v) {
  size_t nl = strlen(name), vl = strlen(v);
  h2o_add_header_by_str(&req->pool, &req->res.headers, h2o_strdup(&req->pool, name, nl).base, nl,
                        0, NULL, h2o_strdup(&req->pool, v, vl).base, vl);
}

/* Content-Disposition with the stored name: an ASCII fallback and the
 * exact name percent-encoded (RFC 6266). */
static void disposition(h2o_req_t *req, const char *name) {
  if (!name || !*name)
    return;
  char plain[300], enc[800];
  size_t p = 0, e = 0;
  for (const unsigned char *c = (const unsigned char *)name; *c && p < 255; c++)
    plain[p++] = (*c >= 0x20 && *c < 0x7f && *c != '"' && *c != '\\' && *c != '%') ? (char)*c
                                                                                    : '_';
  plain[p] = '\0';
  for (const unsigned char *c = (const unsigned char *)name; *c && e + 4 < sizeof(enc); c++) {
    if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
        strchr("!#$&+-.^_`|~", *c))
      enc[e++] = (char)*c;
    else
      e += (size_t)snprintf(enc + e, sizeof(enc) - e, "%%%02X", *c);
  }
  enc[e] = '\0';
  char v[1200];
  snprintf(v, sizeof(v), "inline; filename=\"%s\"; filename*=UTF-8''%s", plain, enc);
  add_header_str(req, "content-disposition", v);
}

static void common_headers(dl_t *d) {
  h2o_req_t *req = d->req;
  char etag[ST_FILE_ID_LEN + 3];
  snprintf(etag, sizeof(etag), "\"%s\"", d->id);
  add_header(req, H2O_TOKEN_ACCEPT_RANGES, "bytes", 5);
  add_header(req, H2O_TOKEN_ETAG, etag, strlen(etag));
  if (d->encrypted)
    add_header(req, H2O_TOKEN_CACHE_CONTROL, "private, no-store", 17);
  else
    add_header(req, H2O_TOKEN_CACHE_CONTROL, "public, max-age=31536000, immutable", 35);
}

/* Sends the status line and headers (with the first verified bytes). */
static void start_response(dl_t *d, h2o_generator_t *gen) {
  h2o_req_t *req = d->req;
  d->started = true;
  req->res.status = d->status;
  req->res.reason = d->status == 206 ? "Partial Content" : "OK";
  const char *ct = d->rec->content_type && *d->rec->content_type ? d->rec->content_type
                                                                   : "application/octet-stream";
  add_header(req, H2O_TOKEN_CONTENT_TYPE, ct, strlen(ct));
  common_headers(d);
  disposition(req, d->rec->name);
  if (d->status == 206) {
    char cr[96];
    st_range_t r = {ST_RANGE_PARTIAL, d->first, d->last};
    size_t n = st_range_content_range(&r, d->length, cr, sizeof(cr));
    add_header(req, H2O_TOKEN_CONTENT_RANGE, cr, n);
  }
  req->res.content_length = d->length == 0 ? 0 : d->last - d->first + 1;
  h2o_start_response(req, gen);
}

/* Cuts a download short: an error answer before the headers, a short
 * body after them. */
static void abort_dl(dl_t *d, int status, const char *msg) {
  if (!alive(d))
    return;
  ST_INFO("gateway", "download of %s stopped: %s", d->id, msg);
  d->dead = true;
  d->dead_status = status;
  snprintf(d->dead_msg, sizeof(d->dead_msg), "%s", msg);
  d->g_end = d->g_next_send; /* nothing more to do */
  later(d);
}

/* Answers cut-short downloads and frees those whose request is gone, one
 * at a time from the list's head (an answer may dispose its request). */
static void on_later(uv_timer_t *t) {
  st_gw_files_t *f = t->data;
  fetch_t *x = fx(f);
  for (bool again = true; again;) {
    again = false;
    for (dl_t *d = x->list; d; d = d->next) {
      if (d->gone && d->works == 0) {
        dl_free(d);
        again = true;
        break;
      }
      if (d->dead && !d->dead_sent && d->req) {
        d->dead_sent = true;
        if (!d->started)
          st_gw__fail(d->req, d->dead_status, "%s", d->dead_msg);
        else
          h2o_send(d->req, NULL, 0, H2O_SEND_STATE_ERROR);
        again = true;
        break;
      }
    }
  }
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req);

/* The plaintext block of stored block g within the range: [a, b). */
static void block_span(dl_t *d, uint64_t g, uint64_t *a, uint64_t *b) {
  uint64_t pb = d->encrypted ? ST_SEAL_PLAIN_BLOCK : ST_FILE_BLOCK;
  uint64_t start = g * pb, end = start + pb;
  if (end > d->length)
    end = d->length;
  *a = start < d->first ? d->first : start;
  *b = end > d->last + 1 ? d->last + 1 : end;
}

static void ask_blocks(dl_t *d);

/* Sends the next verified block if h2o is ready for it. */
static void send_ready(dl_t *d) {
  if (!alive(d) || d->sending || d->g_next_send >= d->g_end)
    return;
  slot_t *s = &d->slots[d->g_next_send % WINDOW];
  if (s->g != d->g_next_send || !s->verified)
    return;
  uint64_t a, b;
  block_span(d, s->g, &a, &b);
  uint64_t pb = d->encrypted ? ST_SEAL_PLAIN_BLOCK : ST_FILE_BLOCK;
  uint64_t start = s->g * pb;
  free(d->out);
  d->out = NULL;
  const uint8_t *src = s->data;
  if (d->encrypted) {
    d->out = malloc(s->len);
    if (!d->out)
      abort();
    if (s->len <= ST_SEAL_TAG ||
        st_seal_open(d->key, d->rec->nonce.data, s->g, s->data, s->len, d->out) != 0) {
      abort_dl(d, 403, "the file key does not open this file");
      return;
    }
    src = d->out;
    free(s->data);
    s->data = NULL;
  } else {
    d->out = s->data; /* kept until h2o is done with it */
    s->data = NULL;
  }
  if (!d->started) {
    d->gen.proceed = on_proceed;
    d->gen.stop = on_stop;
    start_response(d, &d->gen);
  }
  d->gen.proceed = on_proceed;
  h2o_iovec_t v = h2o_iovec_init(src + (a - start), (size_t)(b - a));
  d->sent_bytes += b - a;
  if (d->f->m_download_bytes)
    st_metric_add(d->f->m_download_bytes, (double)(b - a));
  memset(s, 0, sizeof(*s));
  d->g_next_send++;
  d->sending = true;
  bool last = d->g_next_send >= d->g_end;
  if (!last)
    ask_blocks(d);
  h2o_send(d->req, &v, 1, last ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void on_proceed(h2o_generator_t *g, h2o_req_t *req) {
  dl_t *d = (dl_t *)g;
  (void)req;
  if (d->gone)
    return;
  d->sending = false;
  free(d->out);
  d->out = NULL;
  send_ready(d);
}

static void ask_one(dl_t *d, slot_t *s) {
  uint64_t si = s->g / d->bps;
  s->waiting = false;
  fetch_t *x = fx(d->f);
  centry_t *c = s->tries == 0 ? cache_get(x, d->rec->slices[si].data, (uint32_t)(s->g % d->bps))
                              : NULL;
  if (c) {
    if (!(s->data = malloc(c->len)))
      abort();
    memcpy(s->data, c->data, c->len);
    s->len = c->len;
    s->verified = true; /* it was when it went in */
    s->req = 1;         /* not 0: taken, nothing to ask */
    return;
  }
  dslice_t *ds = slice_of(d, si);
  bool busy;
  int k = pick_holder(d, ds, s->tried, &busy);
  if (k < 0 && !busy && s->tries > 0) {
    /* Every holder failed this block once: one more round. */
    memset(s->tried, 0, sizeof(s->tried));
    k = pick_holder(d, ds, NULL, &busy);
  }
  s->waiting = k < 0 && busy && s->tries < 2 * ds->nholders + 2;
  if (s->waiting) {
    s->req = 0;
    return; /* asked when one of them answers (resume_waiting) */
  }
  if (k < 0 || s->tries >= 2 * ds->nholders + 2) {
    abort_dl(d, 503, "no holder of the file could deliver a verified block");
    return;
  }
  Stratos__Storage__BlockGet g;
  stratos__storage__block_get__init(&g);
  s->req = st_gw__next_id(d->f);
  g.req = s->req;
  g.root.data = d->rec->slices[si].data;
  g.root.len = ST_HASH_LEN;
  g.index = (uint32_t)(s->g % d->bps);
  g.reply_channel = ST_CH_GATEWAY;
  g.unchecked = true; /* verified here, against the slice's list */
  uint8_t buf[128];
  size_t n = stratos__storage__block_get__pack(&g, buf);
  memcpy(s->holder, ds->holders[k], ST_ADDR_LEN);
  s->sent_ms = now_ms();
  s->tries++;
  stat_of(fx(d->f), s->holder)->inflight++;
  hl_get(d, si, ds);
  st_gw__to_holder(d->f, s->holder, ST_RES_GET, buf, n, NULL, 0);
}

static void ask_blocks(dl_t *d) {
  while (d->g_next_ask < d->g_end && d->g_next_ask < d->g_next_send + WINDOW) {
    slot_t *s = &d->slots[d->g_next_ask % WINDOW];
    memset(s, 0, sizeof(*s));
    s->g = d->g_next_ask++;
    ask_one(d, s);
    if (!alive(d))
      return; /* cut short */
  }
}

/* Starts a download's fetching, and sends what the cache had. */
static void begin(dl_t *d) {
  ask_blocks(d);
  send_ready(d);
}

/* Blocks this small are hashed on the loop: a worker's round trip
 * would cost more than the hash. */
#define INLINE_HASH (16u << 10)

static void verify_done(dl_t *d, slot_t *s, bool ok);

static void vjob_work(uv_work_t *w) {
  vjob_t *j = w->data;
  st_merkle_leaf(j->data, j->len, j->hash);
}

static void vjob_done(uv_work_t *w, int status) {
  vjob_t *j = w->data;
  dl_t *d = j->d;
  d->works--;
  if (d->orphan) {
    if (d->works == 0)
      dl_release(d);
    free(j);
    return;
  }
  slot_t *s = &d->slots[j->g % WINDOW];
  if (s->g == j->g && s->checking && s->data == j->data) {
    s->checking = false;
    if (status == 0 && alive(d)) {
      verify_done(d, s, memcmp(j->hash, j->want, ST_HASH_LEN) == 0);
      send_ready(d);
    }
  }
  if (d->gone)
    later(d);
  free(j);
}

/* Checks a slot whose block came, once its slice's hash list is here:
 * a block of the wrong length fails at once; else its hash is taken on
 * the thread pool (both cores hash while the loop receives and sends)
 * against the list's entry, copied into the job, and verify_done judges
 * it. */
static void verify(dl_t *d, slot_t *s) {
  if (!s->data || s->verified || s->checking)
    return;
  uint64_t si = s->g / d->bps;
  dslice_t *ds = slice_of(d, si);
  hlist_t *h = hl_get(d, si, ds);
  if (!h)
    return;
  uint32_t b = (uint32_t)(s->g % d->bps);
  uint64_t blen = slice_len(d->rec, si) - (uint64_t)b * ST_FILE_BLOCK;
  if (blen > ST_FILE_BLOCK)
    blen = ST_FILE_BLOCK;
  if (b >= h->nblocks || s->len != blen) {
    verify_done(d, s, false);
    return;
  }
  if (s->len <= INLINE_HASH) {
    uint8_t hash[ST_HASH_LEN];
    st_merkle_leaf(s->data, s->len, hash);
    verify_done(d, s, memcmp(hash, h->hashes[b], ST_HASH_LEN) == 0);
    return;
  }
  vjob_t *j = calloc(1, sizeof(*j));
  if (!j)
    abort();
  j->work.data = j;
  j->d = d;
  j->g = s->g;
  j->data = s->data;
  j->len = s->len;
  memcpy(j->want, h->hashes[b], ST_HASH_LEN);
  s->checking = true;
  d->works++;
  uv_queue_work(d->f->node->loop, &j->work, vjob_work, vjob_done);
}

/* The block of slot s matched its hash list entry (ok) and is sent on,
 * or did not and is asked of another holder, its holder reported. */
static void verify_done(dl_t *d, slot_t *s, bool ok) {
  uint64_t si = s->g / d->bps;
  dslice_t *ds = slice_of(d, si);
  uint32_t b = (uint32_t)(s->g % d->bps);
  if (ok) {
    s->verified = true;
    cache_put(fx(d->f), d->rec->slices[si].data, b, s->data, s->len);
    rcpt_note(d, s->holder, s->len);
    return;
  }
  char a[ST_ADDR_STR_MAX];
  st_addr_encode(ST_HRP_NODE, s->holder, a, sizeof(a));
  ST_WARN("gateway", "holder %s sent a bad block %u of slice %llu of %s; asking another", a, b,
          (unsigned long long)si, d->id);
  if (d->f->m_bad_blocks)
    st_metric_inc(d->f->m_bad_blocks);
  st_meta_report_holder(d->f->node, s->holder, d->rec->slices[si].data, b,
                        "it served a block that does not match the slice's hash list");
  for (size_t i = 0; i < ds->nholders; i++)
    if (memcmp(ds->holders[i], s->holder, ST_ADDR_LEN) == 0)
      s->tried[i] = 1;
  free(s->data);
  s->data = NULL;
  s->req = 0;
  ask_one(d, s);
}

/* Asks the blocks that waited for a busy holder, in order, and sends
 * those the block cache had meanwhile. */
static void resume_waiting(fetch_t *x) {
  for (dl_t *d = x->list; d; d = d->next) {
    bool asked = false;
    for (uint64_t g = d->g_next_send; g < d->g_next_ask && alive(d); g++) {
      slot_t *s = &d->slots[g % WINDOW];
      if (s->g == g && s->waiting) {
        ask_one(d, s);
        asked = true;
      }
    }
    if (asked)
      send_ready(d);
  }
}

void st_gw__download_on_block(st_gw_files_t *f, const uint8_t peer[ST_ADDR_LEN],
                              const uint8_t *p, size_t n) {
  if (n < ST_RES_BLOCK_HDR)
    return;
  fetch_t *x = fx(f);
  uint64_t req = 0;
  for (int i = 0; i < 8; i++)
    req = req << 8 | p[i];
  int32_t code = (int32_t)((uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 |
                           p[11]);
  const uint8_t *body = p + ST_RES_BLOCK_HDR;
  size_t blen = n - ST_RES_BLOCK_HDR;
  uint64_t now = now_ms();
  /* A hash list? */
  for (size_t i = 0; i < HASH_CACHE; i++) {
    hlist_t *h = &x->cache[i];
    if (!h->pending || h->req != req || memcmp(h->holder, peer, ST_ADDR_LEN) != 0)
      continue;
    uint8_t root[ST_HASH_LEN];
    uint8_t(*hs)[ST_HASH_LEN] = NULL;
    if (code == 0 && blen == (size_t)h->nblocks * ST_HASH_LEN && blen > 0) {
      if (!(hs = malloc(blen)))
        abort();
      memcpy(hs, body, blen);
    }
    if (hs && st_merkle_root((const uint8_t(*)[ST_HASH_LEN])hs, h->nblocks, root) == 0 &&
        memcmp(root, h->root, ST_HASH_LEN) == 0) {
      h->hashes = hs;
      h->pending = false;
      for (dl_t *d = x->list; d; d = d->next)
        for (size_t k = 0; k < WINDOW && alive(d); k++)
          if (d->slots[k].data && !d->slots[k].verified) {
            verify(d, &d->slots[k]);
            send_ready(d);
          }
    } else {
      free(hs);
      h->req = 0; /* asked again from another holder on the next tick */
      h->sent_ms = 0;
    }
    return;
  }
  for (dl_t *d = x->list; d; d = d->next)
    for (size_t k = 0; k < WINDOW && alive(d); k++) {
      slot_t *s = &d->slots[k];
      if (s->req != req || s->data || memcmp(s->holder, peer, ST_ADDR_LEN) != 0)
        continue;
      stat_done(x, peer, now - s->sent_ms, code == 0);
      if (code != 0 || blen == 0 || blen > ST_FILE_BLOCK) {
        dslice_t *ds = slice_of(d, s->g / d->bps);
        if (code == ST_ECORRUPT || code == ST_ENOENT)
          st_meta_report_holder(f->node, peer, d->rec->slices[s->g / d->bps].data,
                                (uint32_t)(s->g % d->bps),
                                code == ST_ECORRUPT ? "its copy is corrupt" : "it lost its copy");
        for (size_t i = 0; i < ds->nholders; i++)
          if (memcmp(ds->holders[i], peer, ST_ADDR_LEN) == 0)
            s->tried[i] = 1;
        s->req = 0;
        ask_one(d, s);
        resume_waiting(x);
        return;
      }
      s->data = malloc(blen);
      if (!s->data)
        abort();
      memcpy(s->data, body, blen);
      s->len = blen;
      verify(d, s);
      send_ready(d);
      resume_waiting(x);
      return;
    }
}

static void on_tick(uv_timer_t *t) {
  st_gw_files_t *f = t->data;
  fetch_t *x = fx(f);
  uint64_t now = now_ms();
  for (size_t i = 0; i < HASH_CACHE; i++) {
    hlist_t *h = &x->cache[i];
    if (!h->pending || now - h->sent_ms < BLOCK_TIMEOUT_MS)
      continue;
    /* Find a download that needs it, to know the holders. */
    for (dl_t *d = x->list; d; d = d->next) {
      bool needs = false;
      if (!alive(d))
        continue;
      for (uint64_t s = d->g_next_send / d->bps; s <= (d->g_end - 1) / d->bps && !needs; s++)
        needs = s < d->rec->n_slices && memcmp(d->rec->slices[s].data, h->root, ST_HASH_LEN) == 0;
      if (needs) {
        uint64_t si = 0;
        while (memcmp(d->rec->slices[si].data, h->root, ST_HASH_LEN) != 0)
          si++;
        if (h->tries > 2 * MAX_HOLDERS) {
          abort_dl(d, 503, "no holder could deliver a slice's block list");
          break;
        }
        hl_ask(d, h, slice_of(d, si));
        break;
      }
    }
    if (h->pending && now - h->sent_ms >= 4 * BLOCK_TIMEOUT_MS)
      h->pending = false, h->req = 0; /* nobody needs it any more */
  }
  for (dl_t *d = x->list, *next; d; d = next) {
    next = d->next;
    for (size_t k = 0; k < WINDOW && alive(d) && d->g_next_send < d->g_end; k++) {
      slot_t *s = &d->slots[k];
      if (s->data && !s->verified) {
        verify(d, s); /* its hash list may have to be asked again */
        send_ready(d);
        continue;
      }
      if (s->req && !s->data && now - s->sent_ms >= BLOCK_TIMEOUT_MS) {
        stat_done(x, s->holder, BLOCK_TIMEOUT_MS, false);
        if (f->m_block_timeouts)
          st_metric_inc(f->m_block_timeouts);
        dslice_t *ds = slice_of(d, s->g / d->bps);
        for (size_t i = 0; i < ds->nholders; i++)
          if (memcmp(ds->holders[i], s->holder, ST_ADDR_LEN) == 0)
            s->tried[i] = 1;
        s->req = 0; /* counted out above */
        ask_one(d, s);
      }
    }
  }
  resume_waiting(x);
  if (!x->list)
    uv_timer_stop(t);
}

/* ---- starting a download ---- */

/* Serves rec (borrowed: taken over by the download) for req, paid by
 * payer (NULL: the file's owner). */
static void serve(st_gw_files_t *f, h2o_req_t *req, Stratos__Storage__FileRecord *rec,
                  const uint8_t root[ST_HASH_LEN], const uint8_t *key, const uint8_t *payer) {
  dl_t *d = calloc(1, sizeof(*d));
  if (!d)
    abort();
  d->f = f;
  d->req = req;
  d->rec = rec;
  st_file_id(root, d->id);
  d->encrypted = rec->encrypted;
  if (key)
    memcpy(d->key, key, ST_SEAL_KEY);
  d->length = rec->encrypted ? rec->plain_size : rec->size;
  d->head = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"));
  d->bps = rec->slice_size / ST_FILE_BLOCK;
  char etag[ST_FILE_ID_LEN + 1];
  memcpy(etag, d->id, sizeof(etag));
  /* Conditional requests first: If-None-Match, then Range / If-Range. */
  const h2o_iovec_t *inm = st_http_header(req, "if-none-match");
  if (inm && st_range_if_none_match(inm->base, inm->len, etag)) {
    common_headers(d);
    st_http_send(req, 304, NULL, NULL, 0);
    stratos__storage__file_record__free_unpacked(rec, NULL);
    free(d);
    return;
  }
  const h2o_iovec_t *rh = st_http_header(req, "range");
  const h2o_iovec_t *ir = st_http_header(req, "if-range");
  st_range_t r = {ST_RANGE_WHOLE, 0, 0};
  if (rh && (!ir || st_range_if_range_ok(ir->base, ir->len, etag)))
    r = st_range_parse(rh->base, rh->len, d->length);
  if (r.kind == ST_RANGE_UNSATISFIABLE) {
    char cr[64];
    st_range_content_range(&r, d->length, cr, sizeof(cr));
    add_header(req, H2O_TOKEN_CONTENT_RANGE, cr, strlen(cr));
    common_headers(d);
    st_http_send_error(req, 416, "the range is not satisfiable");
    stratos__storage__file_record__free_unpacked(rec, NULL);
    free(d);
    return;
  }
  d->status = r.kind == ST_RANGE_PARTIAL ? 206 : 200;
  d->first = r.kind == ST_RANGE_PARTIAL ? r.first : 0;
  d->last = r.kind == ST_RANGE_PARTIAL ? r.last : (d->length ? d->length - 1 : 0);
  uint64_t pb = d->encrypted ? ST_SEAL_PLAIN_BLOCK : ST_FILE_BLOCK;
  if (d->length == 0 || d->head) {
    /* Headers only: a generator with no state of ours. */
    static h2o_generator_t none = {NULL, NULL};
    d->g_next_send = d->g_end = 0;
    start_response(d, &none);
    stratos__storage__file_record__free_unpacked(d->rec, NULL);
    d->rec = NULL;
    h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    free(d);
    return;
  }
  /* The payer must have ozone left to start. */
  memcpy(d->root, root, ST_HASH_LEN);
  if (payer)
    memcpy(d->payer, payer, ST_ADDR_LEN);
  else if (rec->owner.len == ST_ADDR_LEN)
    memcpy(d->payer, rec->owner.data, ST_ADDR_LEN);
  st_u128 noz = 0;
  if (st_meta_ozone(f->node, d->payer, &noz) == 0 && noz == 0) {
    char a[ST_ADDR_STR_MAX];
    st_addr_encode(ST_HRP_WALLET, d->payer, a, sizeof(a));
    st_gw__fail(req, 402, "the wallet paying this download (%s) has no ozone left: prepay "
                          "to download",
                a);
    stratos__storage__file_record__free_unpacked(rec, NULL);
    sodium_memzero(d->key, sizeof(d->key));
    free(d);
    return;
  }
  d->g_next_ask = d->g_next_send = d->first / pb;
  d->g_end = d->last / pb + 1;
  fetch_t *x = fx(f);
  d->next = x->list;
  x->list = d;
  d->ref = h2o_mem_alloc_shared(&req->pool, sizeof(*d->ref), on_req_gone);
  d->ref->d = d;
  if (!uv_is_active((uv_handle_t *)x->tick))
    uv_timer_start(x->tick, on_tick, TICK_MS, TICK_MS);
  begin(d);
}

static Stratos__Storage__FileRecord *record(st_gw_files_t *f, const uint8_t root[ST_HASH_LEN],
                                            const uint8_t *owner, int *rc) {
  st_buf_t b;
  st_buf_init(&b, 64u << 20);
  *rc = st_meta_file_get(f->node, root, owner, &b);
  Stratos__Storage__FileRecord *r = NULL;
  if (*rc == 0) {
    r = stratos__storage__file_record__unpack(NULL, b.len, b.data);
    if (!r || r->slice_size < ST_FILE_BLOCK || r->slice_size % ST_FILE_BLOCK ||
        r->n_slices != st_file_slices(r->size, r->slice_size) ||
        (r->encrypted && r->nonce.len != ST_SEAL_NONCE)) {
      if (r)
        stratos__storage__file_record__free_unpacked(r, NULL);
      r = NULL;
      *rc = ST_ECORRUPT;
    }
    for (size_t i = 0; r && i < r->n_slices; i++)
      if (r->slices[i].len != ST_HASH_LEN) {
        stratos__storage__file_record__free_unpacked(r, NULL);
        r = NULL;
        *rc = ST_ECORRUPT;
      }
  }
  st_buf_free(&b);
  return r;
}

int st_gw__download_handler(h2o_req_t *req, const st_http_match_t *m, void *ud) {
  st_gw_files_t *f = ud;
  char tmp[ST_FILE_ID_LEN + 1], id[ST_FILE_ID_LEN + 1];
  uint8_t root[ST_HASH_LEN];
  if (!st_meta_chain_id(f->node)) {
    st_gw__fail(req, 503, "this node keeps no file index (it runs no meta chain): use a meta "
                          "node's gateway");
    return 0;
  }
  if (m->values[0].len != ST_FILE_ID_LEN) {
    st_gw__fail(req, 400, "a file id is 64 hex digits");
    return 0;
  }
  memcpy(tmp, m->values[0].base, ST_FILE_ID_LEN);
  tmp[ST_FILE_ID_LEN] = '\0';
  if (st_file_id_parse(tmp, root) != 0) {
    st_gw__fail(req, 400, "a file id is 64 hex digits");
    return 0;
  }
  st_file_id(root, id);
  int rc;
  Stratos__Storage__FileRecord *rec = record(f, root, NULL, &rc);
  if (!rec) {
    if (rc == ST_ENOENT)
      st_gw__fail(req, 404, "no file %s", id);
    else
      st_gw__fail(req, 500, "cannot read the file index: %s", st_strerror(rc));
    return 0;
  }
  if (!rec->encrypted) {
    /* A public file: the signer of the request pays, if it signed. */
    const uint8_t *payer = NULL;
    st_gw__who_t who;
    if (st_http_header(req, "authorization")) {
      char path[96], msg[200];
      snprintf(path, sizeof(path), "/v1/files/%s", id);
      int st = st_gw__authorize(f, req, "GET", path, 0, &who, msg, sizeof(msg));
      if (st != 0) {
        stratos__storage__file_record__free_unpacked(rec, NULL);
        st_gw__fail(req, st, "%s", msg);
        return 0;
      }
      payer = who.owner;
    }
    serve(f, req, rec, root, NULL, payer);
    return 0;
  }
  /* A private file: the owner's gateway, with the owner's token. */
  stratos__storage__file_record__free_unpacked(rec, NULL);
  char path[96], msg[200];
  snprintf(path, sizeof(path), "/v1/files/%s", id);
  st_gw__who_t who;
  int st = st_gw__authorize(f, req, "GET", path, 0, &who, msg, sizeof(msg));
  if (st != 0 || !who.token) {
    st_gw__fail(req, 403, "%s is a private file: only its owner's gateway, with the node's API "
                          "token, opens it",
                id);
    return 0;
  }
  rec = record(f, root, who.owner, &rc);
  if (!rec || !rec->encrypted) {
    if (rec)
      stratos__storage__file_record__free_unpacked(rec, NULL);
    st_gw__fail(req, 403, "%s is a private file of another wallet", id);
    return 0;
  }
  uint8_t key[ST_SEAL_KEY];
  st_seal_file_key(f->wallet.sk, rec->nonce.data, key);
  serve(f, req, rec, root, key, who.owner);
  sodium_memzero(key, sizeof(key));
  return 0;
}

int st_gw__share_get_handler(h2o_req_t *req, const st_http_match_t *m, void *ud) {
  st_gw_files_t *f = ud;
  uint8_t link[16], key[ST_SEAL_KEY];
  size_t got;
  bool has_key = false;
  if (!st_meta_chain_id(f->node)) {
    st_gw__fail(req, 503, "this node keeps no file index (it runs no meta chain)");
    return 0;
  }
  const h2o_iovec_t *v = &m->values[0];
  if ((v->len != LINK_HEX && v->len != LINK_HEX + 1 + 2 * ST_SEAL_KEY) ||
      st_hex_decode(v->base, LINK_HEX, link, sizeof(link), &got) != 0 || got != 16 ||
      (v->len > LINK_HEX &&
       (v->base[LINK_HEX] != '-' ||
        st_hex_decode(v->base + LINK_HEX + 1, 2 * ST_SEAL_KEY, key, sizeof(key), &got) != 0 ||
        got != ST_SEAL_KEY))) {
    st_gw__fail(req, 404, "no such share link");
    return 0;
  }
  has_key = v->len > LINK_HEX;
  st_buf_t b;
  st_buf_init(&b, 1u << 16);
  int rc = st_meta_share_get(f->node, link, &b);
  Stratos__Storage__ShareRecord *sr =
    rc == 0 ? stratos__storage__share_record__unpack(NULL, b.len, b.data) : NULL;
  st_buf_free(&b);
  if (!sr) {
    st_gw__fail(req, 404, "no such share link");
    return 0;
  }
  if (sr->revoked || (sr->expires_ms && wall_ms() >= sr->expires_ms)) {
    st_gw__fail(req, 410, sr->revoked ? "this share link was revoked" : "this share link expired");
    stratos__storage__share_record__free_unpacked(sr, NULL);
    return 0;
  }
  if (sr->password_hash.len) {
    char pw[260];
    const h2o_iovec_t *ph = st_http_header(req, "x-stratos-password");
    bool have = false;
    if (ph && ph->len > 0 && ph->len < sizeof(pw)) {
      memcpy(pw, ph->base, ph->len);
      pw[ph->len] = '\0';
      have = true;
    } else if (st_http_query(req, "password", pw, sizeof(pw)) == 0 && pw[0]) {
      have = true;
    }
    if (!have) {
      stratos__storage__share_record__free_unpacked(sr, NULL);
      st_gw__fail(req, 401, "this share link needs its password (X-Stratos-Password or "
                            "?password=)");
      return 0;
    }
    uint8_t h[ST_HASH_LEN];
    crypto_generichash_state s;
    crypto_generichash_init(&s, NULL, 0, ST_HASH_LEN);
    crypto_generichash_update(&s, link, sizeof(link));
    crypto_generichash_update(&s, (const uint8_t *)pw, strlen(pw));
    crypto_generichash_final(&s, h, ST_HASH_LEN);
    if (sr->password_hash.len != ST_HASH_LEN ||
        sodium_memcmp(h, sr->password_hash.data, ST_HASH_LEN) != 0) {
      stratos__storage__share_record__free_unpacked(sr, NULL);
      st_gw__fail(req, 403, "wrong password for this share link");
      return 0;
    }
  }
  uint8_t root[ST_HASH_LEN], owner[ST_ADDR_LEN];
  bool ok = sr->file.len == ST_HASH_LEN && sr->owner.len == ST_ADDR_LEN;
  if (ok) {
    memcpy(root, sr->file.data, ST_HASH_LEN);
    memcpy(owner, sr->owner.data, ST_ADDR_LEN);
  }
  stratos__storage__share_record__free_unpacked(sr, NULL);
  Stratos__Storage__FileRecord *rec = ok ? record(f, root, owner, &rc) : NULL;
  if (!rec) {
    st_gw__fail(req, 410, "the shared file was deleted");
    return 0;
  }
  if (rec->encrypted && !has_key) {
    stratos__storage__file_record__free_unpacked(rec, NULL);
    st_gw__fail(req, 403, "this link lacks the key of the private file it shares");
    return 0;
  }
  serve(f, req, rec, root, rec->encrypted ? key : NULL, owner);
  sodium_memzero(key, sizeof(key));
  return 0;
}

void st_gw__downloads_free(st_gw_files_t *f) {
  fetch_t *x = f->fetch;
  if (!x)
    return;
  while (x->list) {
    dl_t *d = x->list;
    if (d->ref)
      d->ref->d = NULL;
    d->ref = NULL;
    if (d->works == 0) {
      dl_free(d);
      continue;
    }
    /* Blocks still hashing: the last job frees it. */
    rcpt_final(d);
    x->list = d->next;
    d->orphan = true;
    d->gone = d->dead = true; /* nothing of it runs again but the jobs */
    d->req = NULL;
  }
  for (size_t i = 0; i < HASH_CACHE; i++)
    free(x->cache[i].hashes);
  while (x->lru_tail)
    cache_evict(x, x->lru_tail);
  uv_close((uv_handle_t *)x->tick, (uv_close_cb)free);
  uv_close((uv_handle_t *)x->later, (uv_close_cb)free);
  free(x);
  f->fetch = NULL;
}
