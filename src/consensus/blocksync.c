/* Block sync: a node that is behind fetches committed blocks with their
 * commits from peers that have them, checks each one as strictly as a
 * proposal (and its commit against the validator set of its height), and
 * applies them in order through the same path as a decided block.
 *
 * Peers tell their height in RoundStep. While one is ahead of us, up to
 * ST_CONS__SYNC_WINDOW heights are requested at once, spread over the
 * peers that have them; a request unanswered after ST_CONS__SYNC_TIMEOUT_MS,
 * or answered with NoBlock, goes to another peer. A response that does not
 * check gets its sender banned. Consensus keeps running meanwhile: a height
 * decided by consensus first simply makes the response stale.
 *
 * A block that +2/3 of the validators committed but whose app_hash is not
 * ours means this node's state diverged: it halts rather than fork. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <stratos/st_err.h>
#include <stratos/st_log.h>

#include "consensus/consensus_private.h"

static void req_clear(st_cons__syncreq_t *q) {
  st_cons__block_free(q->blk);
  free(q->commit);
  memset(q, 0, sizeof(*q));
}

void st_cons__sync_reset(st_cons_t *c) {
  for (size_t i = 0; i < ST_CONS__SYNC_WINDOW; i++)
    if (c->sync[i].height && c->sync[i].height < c->h)
      req_clear(&c->sync[i]);
}

void st_cons__sync_free(st_cons_t *c) {
  for (size_t i = 0; i < ST_CONS__SYNC_WINDOW; i++)
    req_clear(&c->sync[i]);
}

static st_cons__syncreq_t *req_find(st_cons_t *c, int64_t h) {
  for (size_t i = 0; i < ST_CONS__SYNC_WINDOW; i++)
    if (c->sync[i].height == h)
      return &c->sync[i];
  return NULL;
}

static bool has_block(const st_cons__peer_t *p, int64_t h) {
  return p->used && p->known && p->height > h && p->lowest >= 1 && p->lowest <= h;
}

static st_cons__peer_t *pick_peer(st_cons_t *c, int64_t h, const uint8_t *avoid) {
  size_t n = 0;
  for (int pass = 0; pass < 2 && n == 0; pass++) {
    for (size_t i = 0; i < ST_CONS__MAX_PEERS; i++) {
      const st_cons__peer_t *p = &c->peers[i];
      if (has_block(p, h) && (pass == 1 || memcmp(p->addr, avoid, ST_ADDR_LEN) != 0))
        n++;
    }
    if (n == 0)
      continue;
    /* Spread the heights of the window over the candidates. */
    size_t want = (size_t)(h % (int64_t)n);
    for (size_t i = 0; i < ST_CONS__MAX_PEERS; i++) {
      st_cons__peer_t *p = &c->peers[i];
      if (has_block(p, h) && (pass == 1 || memcmp(p->addr, avoid, ST_ADDR_LEN) != 0)) {
        if (want == 0)
          return p;
        want--;
      }
    }
  }
  return NULL;
}

static void send_req(st_cons_t *c, st_cons__syncreq_t *q) {
  st_cons__peer_t *p = pick_peer(c, q->height, q->avoid);
  if (!p)
    return;
  memcpy(q->peer, p->addr, ST_ADDR_LEN);
  q->sent = true;
  q->sent_ms = uv_now(c->node->loop);
  Stratos__Cons__BlockRequest m = STRATOS__CONS__BLOCK_REQUEST__INIT;
  m.height = q->height;
  uint8_t buf[32];
  size_t n = stratos__cons__block_request__pack(&m, buf);
  st_cons__send(c, p->addr, NULL, c->ch_sync, ST_CONS__MSG_BLOCK_REQUEST, buf, n);
}

/* Applies the responses we hold, in height order, while the next one is
 * there. */
static void try_apply(st_cons_t *c) {
  while (!c->halted) {
    st_cons__syncreq_t *q = req_find(c, c->h);
    if (!q || !q->blk)
      return;
    const char *why;
    uint8_t peer[ST_ADDR_LEN];
    memcpy(peer, q->peer, ST_ADDR_LEN);
    Stratos__Cons__Commit *cm = stratos__cons__commit__unpack(NULL, q->commit_len, q->commit);
    int rc = cm ? st_cons__commit_verify(c->chain_id, &c->vs_cur->vs, c->h, q->blk->hash, cm,
                                         NULL, &why)
                : ST_EPROTO;
    if (!cm)
      why = "undecodable commit";
    if (rc != 0) {
      if (cm)
        stratos__cons__commit__free_unpacked(cm, NULL);
      req_clear(q);
      st_cons__ban(c, peer, "blocksync: bad commit: %s", why);
      continue;
    }
    int32_t round = cm->round;
    stratos__cons__commit__free_unpacked(cm, NULL);
    rc = st_cons__check_block(c, q->blk, c->h, &why);
    if (rc == ST_EAGAIN)
      return; /* the application is not ready: the block stays queued */
    if (rc == ST_EPROTO) {
      snprintf(c->why, sizeof(c->why), "%s", why);
      req_clear(q);
      st_cons__ban(c, peer, "blocksync: bad block: %s", c->why);
      continue;
    }
    if (rc != 0) {
      /* +2/3 of the validators committed it: the fault is ours. */
      if (q->blk->app_hash_bad)
        st_cons__halt_app_hash(c, c->h, q->blk->hdr->app_hash.data);
      else {
        ST_ERROR(c->tag, "block %" PRId64 " committed by +2/3 of the validators is invalid "
                 "here: %s", c->h, why);
        st_cons__halt(c);
      }
      return;
    }
    st_cons__block_t *b = q->blk;
    uint8_t *commit = q->commit;
    size_t commit_len = q->commit_len;
    q->blk = NULL;
    q->commit = NULL;
    req_clear(q);
    rc = st_cons__apply_block(c, b, commit, commit_len, round);
    st_cons__block_free(b);
    free(commit);
    if (rc != 0)
      return;
    c->synced_blocks++;
    if (c->m_synced)
      st_metric_inc(c->m_synced);
  }
}

void st_cons__sync_tick(st_cons_t *c) {
  if (!c->started || c->halted || c->closing)
    return;
  uint64_t now = uv_now(c->node->loop);
  int64_t maxh = 0;
  for (size_t i = 0; i < ST_CONS__MAX_PEERS; i++) {
    const st_cons__peer_t *p = &c->peers[i];
    if (p->used && p->known && p->height > maxh)
      maxh = p->height;
  }
  /* Behind by two heights or more: the network has built on a block we
   * lack. One height behind is the normal lag of a commit. */
  c->catching_up = maxh > c->h + 1;
  st_cons__sync_reset(c);
  for (size_t i = 0; i < ST_CONS__SYNC_WINDOW; i++) {
    st_cons__syncreq_t *q = &c->sync[i];
    if (q->height && q->sent && !q->blk && now - q->sent_ms > ST_CONS__SYNC_TIMEOUT_MS) {
      memcpy(q->avoid, q->peer, ST_ADDR_LEN);
      q->sent = false;
    }
  }
  /* The block of our own height is fetched only when a peer is two
   * heights ahead, or when this height has lasted longer than a round:
   * otherwise consensus is about to decide it anyway. */
  uint64_t round_ms = (uint64_t)c->p.timeout_propose + c->p.timeout_prevote +
                      c->p.timeout_precommit + c->p.timeout_commit;
  bool fetch_own = maxh > c->h + 1 || now - c->h_started_ms > round_ms;
  for (int64_t hh = c->h; hh < c->h + ST_CONS__SYNC_WINDOW && hh < maxh; hh++) {
    if (hh == c->h && !fetch_own)
      continue;
    st_cons__syncreq_t *q = req_find(c, hh);
    if (!q) {
      for (size_t i = 0; i < ST_CONS__SYNC_WINDOW && !q; i++)
        if (!c->sync[i].height)
          q = &c->sync[i];
      if (!q)
        break;
      q->height = hh;
    }
    if (!q->sent && !q->blk)
      send_req(c, q);
  }
  try_apply(c);
}

static size_t put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

/* Answers a BlockRequest from the store, building the BlockResponse from
 * the stored bytes without decoding them. */
static void serve_request(st_cons_t *c, const uint8_t *peer, int64_t h) {
  st_txn_t *txn;
  const void *bp = NULL, *cp = NULL;
  size_t bl = 0, cl = 0;
  bool have = h >= 1 && h <= c->latest && st_txn_begin(c->node->store, false, &txn) == 0;
  if (have) {
    if (st_cons__store_block(c, txn, h, &bp, &bl) != 0 ||
        st_cons__store_commit(c, txn, h, &cp, &cl) != 0 || bl + cl + 32 > ST_NET_MAX_PAYLOAD) {
      st_txn_abort(txn);
      have = false;
    }
  }
  if (!have) {
    Stratos__Cons__NoBlock m = STRATOS__CONS__NO_BLOCK__INIT;
    m.height = h;
    uint8_t buf[32];
    size_t n = stratos__cons__no_block__pack(&m, buf);
    st_cons__send(c, peer, NULL, c->ch_sync, ST_CONS__MSG_NO_BLOCK, buf, n);
    return;
  }
  uint8_t *out = malloc(bl + cl + 32);
  if (!out)
    abort();
  size_t n = 0;
  out[n++] = 0x0a; /* field 1, length-delimited: the Block */
  n += put_varint(out + n, bl);
  memcpy(out + n, bp, bl);
  n += bl;
  out[n++] = 0x12; /* field 2: the Commit */
  n += put_varint(out + n, cl);
  memcpy(out + n, cp, cl);
  n += cl;
  st_txn_abort(txn);
  st_cons__send(c, peer, NULL, c->ch_sync, ST_CONS__MSG_BLOCK_RESPONSE, out, n);
  free(out);
}

static void on_response(st_cons_t *c, const uint8_t *peer, const uint8_t *data, size_t len) {
  size_t cap = c->max_proposal_bytes + (size_t)ST_CONS__MAX_VALIDATORS * (ST_CONS__BODY_MAX + 80);
  if (cap > ST_NET_MAX_PAYLOAD)
    cap = ST_NET_MAX_PAYLOAD;
  if (len == 0 || len > cap) {
    st_cons__ban(c, peer, "blocksync: response size out of range");
    return;
  }
  Stratos__Cons__BlockResponse *m = stratos__cons__block_response__unpack(NULL, len, data);
  if (!m) {
    st_cons__ban(c, peer, "blocksync: undecodable response");
    return;
  }
  if (!m->block || !m->commit) {
    stratos__cons__block_response__free_unpacked(m, NULL);
    st_cons__ban(c, peer, "blocksync: response without block or commit");
    return;
  }
  size_t bl = protobuf_c_message_get_packed_size(&m->block->base);
  uint8_t *bb = malloc(bl ? bl : 1);
  if (!bb)
    abort();
  protobuf_c_message_pack(&m->block->base, bb);
  st_cons__block_t *b = NULL;
  const char *why;
  int rc = st_cons__block_decode(c->chain_id, bb, bl, &c->lim, &b, &why);
  free(bb);
  if (rc != 0) {
    stratos__cons__block_response__free_unpacked(m, NULL);
    st_cons__ban(c, peer, "blocksync: bad block: %s", why);
    return;
  }
  st_cons__syncreq_t *q = req_find(c, b->hdr->height);
  if (!q || q->blk || !q->sent || memcmp(q->peer, peer, ST_ADDR_LEN) != 0) {
    /* Late or unasked: harmless, dropped. */
    st_cons__block_free(b);
    stratos__cons__block_response__free_unpacked(m, NULL);
    return;
  }
  q->blk = b;
  q->commit_len = protobuf_c_message_get_packed_size(&m->commit->base);
  q->commit = malloc(q->commit_len ? q->commit_len : 1);
  if (!q->commit)
    abort();
  protobuf_c_message_pack(&m->commit->base, q->commit);
  stratos__cons__block_response__free_unpacked(m, NULL);
  try_apply(c);
}

void st_cons__on_sync_frame(st_cons_t *c, const st_net_frame_t *f) {
  switch (f->type) {
  case ST_CONS__MSG_BLOCK_REQUEST: {
    Stratos__Cons__BlockRequest *m =
      f->len <= 32 ? stratos__cons__block_request__unpack(NULL, f->len, f->data) : NULL;
    if (!m) {
      st_cons__ban(c, f->peer, "blocksync: bad block request");
      return;
    }
    int64_t h = m->height;
    stratos__cons__block_request__free_unpacked(m, NULL);
    serve_request(c, f->peer, h);
    return;
  }
  case ST_CONS__MSG_BLOCK_RESPONSE:
    on_response(c, f->peer, f->data, f->len);
    return;
  case ST_CONS__MSG_NO_BLOCK: {
    Stratos__Cons__NoBlock *m =
      f->len <= 32 ? stratos__cons__no_block__unpack(NULL, f->len, f->data) : NULL;
    if (!m) {
      st_cons__ban(c, f->peer, "blocksync: bad NoBlock");
      return;
    }
    int64_t h = m->height;
    st_cons__syncreq_t *q = req_find(c, h);
    stratos__cons__no_block__free_unpacked(m, NULL);
    /* A peer without a block it claimed to have is not asked again until
     * its next RoundStep says otherwise. */
    st_cons__peer_t *pe = st_cons__peer_get(c, f->peer, false);
    if (pe && h >= 1 && pe->height > h)
      pe->height = h;
    if (q && q->sent && !q->blk && memcmp(q->peer, f->peer, ST_ADDR_LEN) == 0) {
      memcpy(q->avoid, f->peer, ST_ADDR_LEN);
      q->sent = false;
      send_req(c, q);
    }
    return;
  }
  default:
    st_cons__ban(c, f->peer, "blocksync: unknown message type");
    return;
  }
}
