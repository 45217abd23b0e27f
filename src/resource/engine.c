/* The holder engine (resource_private.h): its state, the dispatch of
 * frames by channel and type, the worker commits shared by transfers and
 * pulls, and the serving of blocks.
 *
 * A BlockGet is answered from the loop thread: one pread of at most a
 * block and its hash (about a quarter of a millisecond for 256 KiB), all
 * in serve_read, which touches only the store and a buffer, so that it
 * can move to the thread pool when holders serve enough to need it.
 * Frames that do not decode get their sender banned; frames that decode
 * but ask for something wrong get a refusal with a code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include <stratos/st_bytes.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "storage.pb-c.h"
#include "resource/engine.h"

#define LOG_MOD "resource"
/* A BlockGet is a few dozen bytes; anything much longer is not one. */
#define GET_MAX 256

/* ---- small shared helpers ---- */

uint32_t st_res__get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t st_res__get64(const uint8_t *p) {
  return (uint64_t)st_res__get32(p) << 32 | st_res__get32(p + 4);
}

void st_res__put32(uint8_t *p, uint32_t v) {
  for (int i = 3; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

void st_res__put64(uint8_t *p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t)v;
}

int64_t st_res__mono(const st_res__eng_t *e) {
  if (e->cfg.mono_ms)
    return e->cfg.mono_ms(e->cfg.clock_ud);
  return (int64_t)uv_now(e->cfg.loop);
}

int64_t st_res__wall(const st_res__eng_t *e) {
  struct timespec ts;

  if (e->cfg.wall_ms)
    return e->cfg.wall_ms(e->cfg.clock_ud);
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t st_res__rand64(void) {
  uint64_t v;

  randombytes_buf(&v, sizeof(v));
  return v;
}

bool st_res__is_self(const st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN]) {
  return memcmp(e->self, peer, ST_ADDR_LEN) == 0;
}

void st_res__hex(const uint8_t *p, size_t n, char *out, size_t cap) {
  if (st_hex_encode(p, n, out, cap) != 0 && cap)
    out[0] = '\0';
}

void st_res__ban(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN], const char *reason) {
  char who[2 * ST_ADDR_LEN + 1];

  st_res__hex(peer, ST_ADDR_LEN, who, sizeof(who));
  ST_WARN(LOG_MOD, "peer %s sent %s; banning it", who, reason);
  if (e->cfg.ban && !st_res__is_self(e, peer) && !e->closing)
    e->cfg.ban(e->cfg.ud, peer, reason);
}

void st_res__send(st_res__eng_t *e, const uint8_t *to, uint32_t channel, uint32_t type,
                  const void *head, size_t hlen, const void *body, size_t blen) {
  int rc;

  if (e->closing)
    return;
  rc = e->cfg.send(e->cfg.ud, to, channel, type, head, hlen, body, blen);
  if (rc != 0)
    ST_DEBUG(LOG_MOD, "frame %u on channel %u not sent: %s", (unsigned)type,
             (unsigned)channel, st_strerror(rc));
}

bool st_res__busy(const st_res__eng_t *e, const uint8_t root[ST_HASH_LEN]) {
  for (const st_res__xfer_t *x = e->xfers; x; x = x->next)
    if (memcmp(x->root, root, ST_HASH_LEN) == 0)
      return true;
  for (const st_res__pull_t *p = e->pulls; p; p = p->next)
    if (memcmp(p->root, root, ST_HASH_LEN) == 0)
      return true;
  return false;
}

/* ---- commits on the thread pool ---- */

/* Worker thread: the writer's own files only. */
static void job_work(uv_work_t *req) {
  st_res__job_t *j = req->data;

  j->rc = st_slice_write_flush(j->w);
}

static void job_after(uv_work_t *req, int status) {
  st_res__job_t *j = req->data;

  if (status != 0 && j->rc == 0)
    j->rc = st_err_from_errno(-status);
  j->done(j);
}

void st_res__job_start(st_res__eng_t *e, st_res__job_t *j, st_slice_writer_t *w,
                       st_res__job_done_fn done) {
  int rc;

  j->e = e;
  j->w = w;
  j->rc = 0;
  j->done = done;
  j->req.data = j;
  e->st.jobs++;
  rc = uv_queue_work(e->cfg.loop, &j->req, job_work, job_after);
  if (rc != 0) {
    /* Only for an invalid argument; finish as a failed flush would. */
    j->rc = st_err_from_errno(-rc);
    done(j);
  }
}

static void engine_free(st_res__eng_t *e) {
  void (*cb)(void *) = e->on_closed;
  void *ud = e->closed_ud;

  free(e->meta);
  free(e->buf);
  free(e);
  if (cb)
    cb(ud);
}

void st_res__job_end(st_res__eng_t *e) {
  e->st.jobs--;
  if (e->closing && e->st.jobs == 0)
    engine_free(e);
}

/* ---- serving blocks ---- */

/* What one BlockGet answers: a block into buf, or the block hash list
 * into *owned (malloc'd, the caller frees). Touches only the store and
 * buf, so it can move to a worker as it is. */
static int serve_read(st_slice_store_t *s, const uint8_t root[ST_HASH_LEN], uint32_t index,
                      bool hashes, bool unchecked, uint8_t *buf, uint8_t **owned,
                      const uint8_t **body, size_t *blen) {
  st_slice_info_t info;
  uint8_t(*blocks)[ST_HASH_LEN] = NULL;
  int rc;

  *owned = NULL;
  *body = NULL;
  *blen = 0;
  if (!hashes) {
    rc = unchecked ? st_slice_read_block_unchecked(s, root, index, buf, blen)
                   : st_slice_read_block(s, root, index, buf, blen);
    if (rc == 0)
      *body = buf;
    return rc;
  }
  rc = st_slice_info(s, root, &info, &blocks);
  if (rc != 0)
    return rc;
  if (info.corrupt) {
    free(blocks);
    return ST_ECORRUPT;
  }
  *owned = (uint8_t *)blocks;
  *body = *owned;
  *blen = (size_t)info.nblocks * ST_HASH_LEN;
  return 0;
}

static void on_get(st_res__eng_t *e, const st_net_frame_t *f) {
  Stratos__Storage__BlockGet *g;
  uint8_t head[ST_RES_BLOCK_HDR], *owned;
  const uint8_t *body;
  uint32_t channel;
  size_t blen;
  int rc;

  if (f->len > GET_MAX) {
    st_res__ban(e, f->peer, "an oversized BlockGet");
    return;
  }
  g = stratos__storage__block_get__unpack(NULL, f->len, f->data);
  if (!g) {
    st_res__ban(e, f->peer, "a BlockGet that does not decode");
    return;
  }
  channel = g->reply_channel ? g->reply_channel : ST_CH_GATEWAY;
  if (channel != ST_CH_GATEWAY && channel != ST_CH_RESOURCE_REPLY && channel != ST_CH_META) {
    ST_DEBUG(LOG_MOD, "BlockGet naming reply channel %u ignored", (unsigned)channel);
    stratos__storage__block_get__free_unpacked(g, NULL);
    return;
  }
  if (g->root.len != ST_HASH_LEN) {
    rc = ST_EINVAL;
    owned = NULL;
    body = NULL;
    blen = 0;
  } else {
    rc = serve_read(e->cfg.store, g->root.data, g->index, g->hashes, g->unchecked, e->buf,
                    &owned, &body, &blen);
  }
  st_res__put64(head, g->req);
  st_res__put32(head + 8, (uint32_t)rc);
  st_res__send(e, f->peer, channel, ST_RES_BLOCK, head, sizeof(head), body, blen);
  if (rc == 0 && !g->hashes) {
    e->st.served_bytes += blen;
    e->st.served_blocks++;
    if (e->cfg.m_served)
      st_metric_add(e->cfg.m_served, (double)blen);
  }
  free(owned);
  stratos__storage__block_get__free_unpacked(g, NULL);
}

/* ---- the engine ---- */

int st_res__room(st_res__eng_t *e, uint64_t size, char *log, size_t cap) {
  uint64_t avail = 0, pending = 0;
  int rc = st_slice_store_avail(e->cfg.store, &avail);
  if (rc != 0) {
    snprintf(log, cap, "cannot read the free disk space: %s", st_strerror(rc));
    return rc;
  }
  for (const st_res__xfer_t *x = e->xfers; x; x = x->next)
    pending += x->size;
  for (const st_res__pull_t *p = e->pulls; p; p = p->next)
    pending += p->size;
  if (avail >= e->cfg.reserve_bytes && avail - e->cfg.reserve_bytes >= pending &&
      avail - e->cfg.reserve_bytes - pending >= size)
    return 0;
  snprintf(log, cap, "not enough free disk: %llu MiB free, %llu MiB being written, the slice "
                     "needs %llu MiB and %llu MiB stay free",
           (unsigned long long)(avail >> 20), (unsigned long long)(pending >> 20),
           (unsigned long long)((size + (1u << 20) - 1) >> 20),
           (unsigned long long)(e->cfg.reserve_bytes >> 20));
  return ST_EFULL;
}

int st_res__new(const st_res__cfg_t *cfg, st_res__eng_t **out) {
  st_res__eng_t *e;

  if (out)
    *out = NULL;
  if (!cfg || !cfg->loop || !cfg->store || !cfg->key || !cfg->send || cfg->gc_grace_ms <= 0 ||
      (cfg->nmeta && !cfg->meta) || !out)
    return ST_EINVAL;
  if (cfg->meta_chain_id && strlen(cfg->meta_chain_id) > ST_CHAIN_ID_MAX)
    return ST_E2BIG;
  e = calloc(1, sizeof(*e));
  if (!e)
    return ST_ENOMEM;
  e->cfg = *cfg;
  e->cfg.meta = NULL;
  e->cfg.meta_chain_id = NULL;
  if (cfg->meta_chain_id)
    snprintf(e->chain_id, sizeof(e->chain_id), "%s", cfg->meta_chain_id);
  e->buf = malloc(ST_FILE_BLOCK);
  if (cfg->nmeta) {
    e->meta = malloc(cfg->nmeta * ST_ADDR_LEN);
    if (e->meta)
      memcpy(e->meta, cfg->meta, cfg->nmeta * ST_ADDR_LEN);
  }
  if (!e->buf || (cfg->nmeta && !e->meta)) {
    free(e->meta);
    free(e->buf);
    free(e);
    return ST_ENOMEM;
  }
  e->nmeta = cfg->nmeta;
  st_addr_from_pubkey(cfg->key->pk, e->self);
  *out = e;
  return 0;
}

/* A gateway whose upload is still running claims the slices it stored
 * here, so that garbage collection does not take them before the meta
 * chain records the file. */
static void on_claim(st_res__eng_t *e, const st_net_frame_t *f) {
  if (f->len > 64 + (size_t)ST_RES_CHECK_MAX * (ST_HASH_LEN + 4)) {
    st_res__ban(e, f->peer, "an oversized claim");
    return;
  }
  Stratos__Storage__SliceCheck *c = stratos__storage__slice_check__unpack(NULL, f->len, f->data);
  if (!c || c->n_roots > ST_RES_CHECK_MAX) {
    if (c)
      stratos__storage__slice_check__free_unpacked(c, NULL);
    st_res__ban(e, f->peer, "a claim that does not decode");
    return;
  }
  uint8_t(*roots)[ST_HASH_LEN] = c->n_roots ? malloc(c->n_roots * ST_HASH_LEN) : NULL;
  size_t n = 0;
  for (size_t i = 0; i < c->n_roots && roots; i++)
    if (c->roots[i].len == ST_HASH_LEN)
      memcpy(roots[n++], c->roots[i].data, ST_HASH_LEN);
  stratos__storage__slice_check__free_unpacked(c, NULL);
  if (n) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int rc = st_slice_claim(e->cfg.store, (const uint8_t(*)[ST_HASH_LEN])roots, n,
                            (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, NULL);
    if (rc != 0)
      ST_WARN(LOG_MOD, "cannot stamp %zu claimed slices: %s", n, st_strerror(rc));
  }
  free(roots);
}

void st_res__frame(st_res__eng_t *e, const st_net_frame_t *f) {
  if (!e || !f || e->closing)
    return;
  if (f->channel == ST_CH_RESOURCE) {
    switch (f->type) {
    case ST_RES_OFFER:
      st_res__on_offer(e, f);
      break;
    case ST_RES_DATA:
      st_res__on_data(e, f);
      break;
    case ST_RES_GET:
      on_get(e, f);
      break;
    case ST_RES_PULL:
      st_res__on_pull(e, f);
      break;
    case ST_RES_CHECKED:
      st_res__on_checked(e, f);
      break;
    case ST_RES_CLAIM:
      on_claim(e, f);
      break;
    default:
      ST_DEBUG(LOG_MOD, "resource frame of unknown type %u ignored", (unsigned)f->type);
      break;
    }
  } else if (f->channel == ST_CH_RESOURCE_REPLY) {
    if (f->type == ST_RES_BLOCK)
      st_res__on_block(e, f);
    else
      ST_DEBUG(LOG_MOD, "reply frame of type %u ignored", (unsigned)f->type);
  }
}

void st_res__peer_down(st_res__eng_t *e, const uint8_t peer[ST_ADDR_LEN]) {
  if (!e || !peer || e->closing)
    return;
  st_res__xfer_peer_down(e, peer);
  st_res__pull_peer_down(e, peer);
}

void st_res__tick(st_res__eng_t *e) {
  int64_t now;

  if (!e || e->closing)
    return;
  now = st_res__mono(e);
  st_res__xfer_tick(e, now);
  st_res__pull_tick(e, now);
  st_res__check_tick(e, now);
}

void st_res__stats(const st_res__eng_t *e, st_res__stats_t *out) {
  size_t n;

  memset(out, 0, sizeof(*out));
  if (!e)
    return;
  *out = e->st;
  n = 0;
  for (const st_res__xfer_t *x = e->xfers; x; x = x->next)
    n++;
  out->xfers = n;
  n = 0;
  for (const st_res__pull_t *p = e->pulls; p; p = p->next)
    n++;
  out->pulls = n;
  n = 0;
  for (const st_res__check_t *c = e->checks; c; c = c->next)
    n++;
  out->checks = n;
}

void st_res__close(st_res__eng_t *e, void (*done)(void *ud), void *ud) {
  if (!e)
    return;
  e->closing = true;
  st_res__xfer_close_all(e);
  st_res__pull_close_all(e);
  st_res__check_close_all(e);
  e->on_closed = done;
  e->closed_ud = ud;
  if (e->st.jobs == 0)
    engine_free(e);
}

uint64_t st_res__gc_interval_ms(int64_t grace_ms) {
  uint64_t v = grace_ms > 0 ? (uint64_t)grace_ms / 4 : 0;

  if (v > 60000)
    v = 60000;
  if (v < 1000)
    v = 1000;
  return v;
}
