/* Fuzzes the holder engine of the resource module (src/resource/
 * resource_private.h), the decoder of every storage frame peers send a
 * resource node, over a real slice store in a temporary directory and
 * with a send hook in place of the network.
 *
 * Input: a list of steps, each an op byte (low four bits: what; high
 * four: flags), a peer byte (one of six addresses: this node, the meta
 * node of genesis, four others) and what the op reads:
 *   0-5  a raw frame, two length bytes then the payload: ST_RES_OFFER,
 *        ST_RES_DATA, ST_RES_GET, ST_RES_PULL, ST_RES_CHECKED on
 *        ST_CH_RESOURCE, ST_RES_BLOCK on ST_CH_RESOURCE_REPLY;
 *   6    a raw frame of a channel and type read from the input (an
 *        ST_RES_CLAIM among them, or a type or channel the engine
 *        ignores);
 *   7-12 frames the harness builds so that the fuzzer gets past hashes
 *        and random request ids: an offer of a slice made from a seed
 *        and a size (or of another block list with the same root), its
 *        blocks (right, corrupt or cut), a BlockGet, a SlicePull, an
 *        answer to a pull the engine has open (the hash list or a
 *        block), an answer to a SliceCheck it has open;
 *   13   time passes and the engine ticks; 14 a peer leaves;
 *   15   a garbage-collection round, the engine stopped (commits may be
 *        running) and started again, or the loop runs the commits.
 * Every input starts from the same state: a fresh engine over a store
 * holding one slice.
 *
 * Checked: no crash, leak or overread (frames are allocated to their
 * exact length); no frame sent over ST_NET_MAX_PAYLOAD, nor on a channel
 * or of a type the protocol does not have; every SliceAck, BlockGet,
 * SliceCheck and SliceRepair sent decodes, refusals carry a sentence and
 * receipts verify for the slice offered or pulled; a frame that does not
 * decode (or has an impossible length) gets its sender banned and no
 * answer, and one that decodes and is of a sane size is never banned;
 * frames of other channels and types are ignored; a BlockGet is answered
 * once, on the channel it names, with the block or hash list that the
 * store's index gives; a slice leaves the store only on a meta node's
 * answer; transfers (in all and per peer), pulls and open checks stay
 * within their limits; whatever is in the store at the end reads back
 * whole. */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>
#include <uv.h>

#include <stratos/st_crypto.h>
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_log.h>
#include <stratos/st_net.h>
#include <stratos/st_resource.h>
#include <stratos/st_store.h>

#include "resource/engine.h"
#include "resource/store.h"
#include "storage.pb-c.h"

static void rm_tmp(void);

/* A failed check: the temporary directory goes, then the abort that
 * libFuzzer reports (a sanitizer's report removes it the same way). */
static void die(void) {
  rm_tmp();
  abort();
}

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      die();                                                                                       \
  } while (0)

#define BLK ((uint64_t)ST_FILE_BLOCK)
#define CHAIN "stratos-fuzz-meta"
#define GRACE 60000
#define NPEERS 6
#define SELF 0
#define META 1
/* Slices the harness knows the bytes of: [0] is in the store at the
 * start of every input, the others are made by offers and pulls. */
#define NSLICES 4
/* Slices made, kept from input to input (hashing them is most of the
 * work otherwise). */
#define NCACHE 16
#define NOFFERS 128
#define NKEEP 8
#define MAX_STEPS 64
/* Sizes below which a frame that decodes must be taken (a BlockGet or a
 * SlicePull is a few dozen bytes; an offer or an answer to a check may
 * carry the largest list there is). */
#define SMALL_MSG 128
#define OFFER_OK ((size_t)ST_HASH_LEN * (ST_FILE_SLICE_MAX / ST_FILE_BLOCK))
#define CHECKED_OK ((size_t)ST_RES_CHECK_MAX * (ST_HASH_LEN + 3))

typedef struct kslice {
  bool used;
  uint8_t seed;
  uint64_t size;
  uint32_t nblocks;
  uint8_t (*blocks)[ST_HASH_LEN];
  uint8_t root[ST_HASH_LEN];
} kslice_t;

typedef struct offer {
  uint8_t peer[ST_ADDR_LEN];
  uint64_t xfer;
  uint8_t root[ST_HASH_LEN];
  uint64_t size;
} offer_t;

typedef struct sent {
  uint8_t to[ST_ADDR_LEN];
  uint32_t channel, type;
  size_t len;
  uint8_t *data;
} sent_t;

enum { WANT_IGNORE, WANT_OK, WANT_BAN, WANT_ANY };

static struct {
  uv_loop_t loop;
  char home[PATH_MAX];
  st_store_t *st;
  st_slice_store_t *s;
  st_keypair_t kp;
  uint8_t peer[NPEERS][ST_ADDR_LEN];
  st_res__eng_t *e;
  int64_t mono, skew;
  int bans;
  uint8_t banned[ST_ADDR_LEN];
  size_t nsent;             /* frames sent during the current step */
  sent_t keep[NKEEP];       /* the first of them, copied */
  kslice_t *ks[NSLICES];    /* into base and cache */
  kslice_t base, cache[NCACHE];
  size_t cache_next;
  int8_t xmap[256];         /* built transfer id -> known slice */
  offer_t offers[NOFFERS];
  size_t noffers;
  uint8_t *blk, *fr;
  bool step_checked;        /* the step delivered an answer to a check */
  int closed;
} g;

/* ---- slices the harness can produce byte for byte ---- */

/* Block index of the slice made from seed: cheap to make (a fill and a
 * few distinct bytes), distinct for every seed, index and length. */
static void content(uint8_t seed, uint32_t index, uint8_t *out, size_t len) {
  uint8_t tag[13];

  memset(out, (uint8_t)(seed * 31 + index * 7 + 1), len);
  tag[0] = seed;
  st_res__put32(tag + 1, index);
  st_res__put64(tag + 5, len);
  memcpy(out, tag, len < sizeof(tag) ? len : sizeof(tag));
  if (len > sizeof(tag))
    out[len - 1] = seed;
}

static size_t block_len(uint64_t size, uint32_t nblocks, uint32_t i) {
  return i + 1 < nblocks ? ST_FILE_BLOCK : (size_t)(size - (uint64_t)i * BLK);
}

static void kslice_fill(kslice_t *k, uint8_t seed, uint64_t size) {
  free(k->blocks);
  k->used = true;
  k->seed = seed;
  k->size = size;
  k->nblocks = st_file_blocks(size);
  k->blocks = malloc((size_t)k->nblocks * ST_HASH_LEN);
  CHECK(k->blocks != NULL);
  for (uint32_t i = 0; i < k->nblocks; i++) {
    size_t n = block_len(size, k->nblocks, i);
    content(seed, i, g.blk, n);
    st_merkle_leaf(g.blk, n, k->blocks[i]);
  }
  CHECK(st_merkle_root((const uint8_t(*)[ST_HASH_LEN])k->blocks, k->nblocks, k->root) == 0);
}

/* Slot slot (1 to NSLICES - 1) becomes the slice of seed and size. */
static kslice_t *kslice_make(int slot, uint8_t seed, uint64_t size) {
  kslice_t *k = NULL;

  for (int i = 0; i < NCACHE && !k; i++)
    if (g.cache[i].used && g.cache[i].seed == seed && g.cache[i].size == size)
      k = &g.cache[i];
  while (!k) {
    kslice_t *c = &g.cache[g.cache_next++ % NCACHE];
    bool held = false;
    for (int i = 1; i < NSLICES; i++)
      held = held || g.ks[i] == c;
    if (!held) {
      kslice_fill(c, seed, size);
      k = c;
    }
  }
  g.ks[slot] = k;
  return k;
}

/* A size from two input bytes: mostly under one block, else one or two
 * blocks more, so that the last-block and multi-block paths come up
 * without every input hashing megabytes. */
static uint64_t spec_size(uint16_t v) {
  uint64_t extra = (v >> 14) == 3 ? 2 : (v >> 14) == 2 ? 1 : 0;
  return extra * BLK + (v & 0x3fff) + 1;
}

static const kslice_t *kslice_by_root(const uint8_t *root) {
  for (int i = 0; i < NSLICES; i++)
    if (g.ks[i] && memcmp(g.ks[i]->root, root, ST_HASH_LEN) == 0)
      return g.ks[i];
  return NULL;
}

static void store_base(void) {
  const kslice_t *k = &g.base;
  st_slice_writer_t *w;

  CHECK(st_slice_write_begin(g.s, k->root, k->size, (const uint8_t(*)[ST_HASH_LEN])k->blocks,
                             k->nblocks, &w) == 0);
  for (uint32_t i = 0; i < k->nblocks; i++) {
    size_t n = block_len(k->size, k->nblocks, i);
    content(k->seed, i, g.blk, n);
    CHECK(st_slice_write_block(w, g.blk, n) == 0);
  }
  CHECK(st_slice_write_commit(w) == 0);
}

static size_t store_count(void) {
  uint64_t bytes, n;

  st_slice_usage(g.s, &bytes, &n);
  return (size_t)n;
}

/* Everything stored reads back whole; then the store is put back to its
 * one slice if the input changed it. */
static void store_check_reset(void) {
  uint8_t roots[64][ST_HASH_LEN];
  st_slice_info_t info;
  size_t n, len;
  bool more;

  if (store_count() == 1 && st_slice_info(g.s, g.base.root, &info, NULL) == 0 &&
      info.refs == 1 && !info.corrupt)
    return;
  do {
    CHECK(st_slice_list_idle(g.s, NULL, INT64_MAX, roots, 64, &n, &more) == 0);
    for (size_t i = 0; i < n; i++) {
      CHECK(st_slice_info(g.s, roots[i], &info, NULL) == 0);
      CHECK(!info.corrupt);
      for (uint32_t b = 0; b < info.nblocks; b++)
        CHECK(st_slice_read_block(g.s, roots[i], b, g.blk, &len) == 0);
      CHECK(st_slice_drop(g.s, roots[i], INT64_MAX) == 0);
    }
  } while (n > 0);
  CHECK(store_count() == 0);
  store_base();
}

/* ---- the engine's hooks ---- */

static int64_t clock_mono(void *ud) {
  (void)ud;
  return g.mono;
}

static int64_t clock_wall(void *ud) {
  struct timespec ts;

  (void)ud;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + g.skew;
}

static void hook_ban(void *ud, const uint8_t peer[ST_ADDR_LEN], const char *reason) {
  (void)ud;
  CHECK(reason != NULL && reason[0] != '\0');
  CHECK(memcmp(peer, g.peer[SELF], ST_ADDR_LEN) != 0);
  memcpy(g.banned, peer, ST_ADDR_LEN);
  g.bans++;
}

/* Whether some offer from to with this transfer id was of a slice that
 * is stored here with that size and that sig is a receipt for. */
static bool receipt_ok(const uint8_t *to, uint64_t xfer, const uint8_t *sig) {
  st_slice_info_t info;

  for (size_t i = 0; i < g.noffers && i < NOFFERS; i++) {
    const offer_t *o = &g.offers[i];
    if (o->xfer == xfer && memcmp(o->peer, to, ST_ADDR_LEN) == 0 &&
        st_res_stored_verify(g.kp.pk, CHAIN, o->root, o->size, sig) == 0 &&
        st_slice_info(g.s, o->root, &info, NULL) == 0 && info.size == o->size && !info.corrupt)
      return true;
  }
  return false;
}

static void check_ack(const uint8_t *to, const uint8_t *p, size_t n) {
  Stratos__Storage__SliceAck *a = stratos__storage__slice_ack__unpack(NULL, n, p);

  CHECK(a != NULL);
  CHECK(a->code <= 0 && a->code > ST_ERR_MIN_);
  if (a->code != 0)
    CHECK(!a->stored && a->log != NULL && a->log[0] != '\0');
  if (a->stored) {
    CHECK(a->code == 0 && a->signature.len == ST_SIG_LEN);
    CHECK(receipt_ok(to, a->xfer, a->signature.data));
  } else {
    CHECK(a->signature.len == 0);
  }
  stratos__storage__slice_ack__free_unpacked(a, NULL);
}

static void check_repair(const uint8_t *p, size_t n) {
  Stratos__Storage__SliceRepair *r = stratos__storage__slice_repair__unpack(NULL, n, p);
  st_slice_info_t info;

  CHECK(r != NULL && r->root.len == ST_HASH_LEN && r->added != NULL);
  CHECK(r->old_holder.len == 0 || r->old_holder.len == ST_ADDR_LEN);
  CHECK(r->added->node.len == ST_ADDR_LEN &&
        memcmp(r->added->node.data, g.peer[SELF], ST_ADDR_LEN) == 0);
  /* Reported only once the slice is recorded here, with a receipt for
   * it. */
  CHECK(st_slice_info(g.s, r->root.data, &info, NULL) == 0);
  CHECK(r->added->signature.len == ST_SIG_LEN &&
        st_res_stored_verify(g.kp.pk, CHAIN, r->root.data, info.size,
                             r->added->signature.data) == 0);
  stratos__storage__slice_repair__free_unpacked(r, NULL);
}

static int hook_send(void *ud, const uint8_t *to, uint32_t channel, uint32_t type,
                     const void *head, size_t hlen, const void *body, size_t blen) {
  size_t len = hlen + blen;
  uint8_t *p;

  (void)ud;
  CHECK(len <= ST_NET_MAX_PAYLOAD);
  CHECK((hlen == 0 || head) && (blen == 0 || body));
  p = malloc(len ? len : 1);
  CHECK(p != NULL);
  if (hlen)
    memcpy(p, head, hlen);
  if (blen)
    memcpy(p + hlen, body, blen);
  CHECK(to != NULL || (channel == ST_CH_META && type == ST_RES_CHECK));
  if (channel == ST_CH_GATEWAY && type == ST_RES_ACK) {
    check_ack(to, p, len);
  } else if (type == ST_RES_BLOCK && (channel == ST_CH_GATEWAY ||
                                      channel == ST_CH_RESOURCE_REPLY || channel == ST_CH_META)) {
    int32_t code;
    CHECK(len >= ST_RES_BLOCK_HDR && len <= ST_RES_BLOCK_HDR + ST_FILE_BLOCK);
    code = (int32_t)st_res__get32(p + 8);
    CHECK(code <= 0 && code > ST_ERR_MIN_ && (code == 0 || len == ST_RES_BLOCK_HDR));
  } else if (channel == ST_CH_RESOURCE && type == ST_RES_GET) {
    /* A pull asking another holder: never this node. */
    Stratos__Storage__BlockGet *q = stratos__storage__block_get__unpack(NULL, len, p);
    CHECK(q != NULL && q->root.len == ST_HASH_LEN && q->reply_channel == ST_CH_RESOURCE_REPLY);
    CHECK(memcmp(to, g.peer[SELF], ST_ADDR_LEN) != 0);
    stratos__storage__block_get__free_unpacked(q, NULL);
  } else if (channel == ST_CH_META && type == ST_RES_REPAIRED) {
    check_repair(p, len);
  } else if (channel == ST_CH_META && type == ST_RES_CHECK) {
    Stratos__Storage__SliceCheck *c = stratos__storage__slice_check__unpack(NULL, len, p);
    CHECK(c != NULL && c->n_roots > 0 && c->n_roots <= ST_RES_CHECK_MAX && c->n_keep == 0);
    for (size_t i = 0; i < c->n_roots; i++)
      CHECK(c->roots[i].len == ST_HASH_LEN);
    stratos__storage__slice_check__free_unpacked(c, NULL);
  } else {
    abort(); /* no such frame in the protocol */
  }
  if (g.nsent < NKEEP) {
    sent_t *s = &g.keep[g.nsent];
    memset(s->to, 0, ST_ADDR_LEN);
    if (to)
      memcpy(s->to, to, ST_ADDR_LEN);
    s->channel = channel;
    s->type = type;
    s->len = len;
    s->data = p;
  } else {
    free(p);
  }
  g.nsent++;
  return 0;
}

static void sent_clear(void) {
  for (size_t i = 0; i < g.nsent && i < NKEEP; i++)
    free(g.keep[i].data);
  g.nsent = 0;
}

/* ---- frames in ---- */

/* What the engine must do with a frame, judged from the outside. */
static int expect(uint32_t channel, uint32_t type, const uint8_t *d, size_t len) {
  ProtobufCMessage *m = NULL;
  size_t ok = 0;

  if (channel == ST_CH_RESOURCE_REPLY && type == ST_RES_BLOCK)
    return len < ST_RES_BLOCK_HDR || len > ST_RES_BLOCK_HDR + ST_FILE_BLOCK ? WANT_BAN : WANT_OK;
  if (channel != ST_CH_RESOURCE)
    return WANT_IGNORE;
  switch (type) {
  case ST_RES_DATA:
    return len < ST_RES_DATA_HDR || len > ST_RES_DATA_HDR + ST_FILE_BLOCK ? WANT_BAN : WANT_OK;
  case ST_RES_OFFER:
    m = (ProtobufCMessage *)stratos__storage__slice_offer__unpack(NULL, len, d);
    ok = OFFER_OK;
    break;
  case ST_RES_GET:
    m = (ProtobufCMessage *)stratos__storage__block_get__unpack(NULL, len, d);
    ok = SMALL_MSG;
    break;
  case ST_RES_PULL:
    m = (ProtobufCMessage *)stratos__storage__slice_pull__unpack(NULL, len, d);
    ok = SMALL_MSG;
    break;
  case ST_RES_CHECKED:
    m = (ProtobufCMessage *)stratos__storage__slice_check__unpack(NULL, len, d);
    ok = CHECKED_OK;
    break;
  case ST_RES_CLAIM: {
    Stratos__Storage__SliceCheck *c = stratos__storage__slice_check__unpack(NULL, len, d);
    if (c && c->n_roots > ST_RES_CHECK_MAX) {
      stratos__storage__slice_check__free_unpacked(c, NULL);
      return WANT_BAN;
    }
    m = (ProtobufCMessage *)c;
    ok = CHECKED_OK;
    break;
  }
  default:
    return WANT_IGNORE;
  }
  if (!m)
    return WANT_BAN;
  protobuf_c_message_free_unpacked(m, NULL);
  return len <= ok ? WANT_OK : WANT_ANY;
}

static void offer_note(const uint8_t *peer, const uint8_t *d, size_t len) {
  Stratos__Storage__SliceOffer *o = stratos__storage__slice_offer__unpack(NULL, len, d);

  if (!o)
    return;
  if (o->root.len == ST_HASH_LEN) {
    offer_t *r = &g.offers[g.noffers++ % NOFFERS];
    memcpy(r->peer, peer, ST_ADDR_LEN);
    r->xfer = o->xfer;
    memcpy(r->root, o->root.data, ST_HASH_LEN);
    r->size = o->size;
  }
  stratos__storage__slice_offer__free_unpacked(o, NULL);
}

/* The answer to a BlockGet: once, on its channel, what the index says. */
static void check_get_answer(int pi, const uint8_t *d, size_t len) {
  Stratos__Storage__BlockGet *q = stratos__storage__block_get__unpack(NULL, len, d);
  uint8_t(*blocks)[ST_HASH_LEN] = NULL;
  uint8_t leaf[ST_HASH_LEN];
  st_slice_info_t info;
  uint32_t ch;
  int32_t code;
  int rc;

  if (!q || len > SMALL_MSG) {
    if (q)
      stratos__storage__block_get__free_unpacked(q, NULL);
    return;
  }
  ch = q->reply_channel ? q->reply_channel : ST_CH_GATEWAY;
  if (ch != ST_CH_GATEWAY && ch != ST_CH_RESOURCE_REPLY && ch != ST_CH_META) {
    CHECK(g.nsent == 0);
    stratos__storage__block_get__free_unpacked(q, NULL);
    return;
  }
  CHECK(g.nsent == 1);
  const sent_t *s = &g.keep[0];
  CHECK(s->channel == ch && s->type == ST_RES_BLOCK);
  CHECK(memcmp(s->to, g.peer[pi], ST_ADDR_LEN) == 0);
  CHECK(st_res__get64(s->data) == q->req);
  code = (int32_t)st_res__get32(s->data + 8);
  if (q->root.len != ST_HASH_LEN) {
    CHECK(code == ST_EINVAL);
    stratos__storage__block_get__free_unpacked(q, NULL);
    return;
  }
  rc = st_slice_info(g.s, q->root.data, &info, &blocks);
  CHECK(rc == 0 || rc == ST_ENOENT);
  if (rc == ST_ENOENT) {
    CHECK(code == ST_ENOENT);
  } else if (code == 0 && q->hashes) {
    CHECK(!info.corrupt && s->len == ST_RES_BLOCK_HDR + (size_t)info.nblocks * ST_HASH_LEN);
    CHECK(memcmp(s->data + ST_RES_BLOCK_HDR, blocks, (size_t)info.nblocks * ST_HASH_LEN) == 0);
  } else if (code == 0) {
    size_t n = s->len - ST_RES_BLOCK_HDR;
    CHECK(q->index < info.nblocks && n == block_len(info.size, info.nblocks, q->index));
    st_merkle_leaf(s->data + ST_RES_BLOCK_HDR, n, leaf);
    CHECK(memcmp(leaf, blocks[q->index], ST_HASH_LEN) == 0);
  } else {
    /* Nothing spoils the store's files here: no other refusal. */
    CHECK(code == ST_ERANGE && !q->hashes && q->index >= info.nblocks);
  }
  free(blocks);
  stratos__storage__block_get__free_unpacked(q, NULL);
}

static void deliver(int pi, uint32_t channel, uint32_t type, const uint8_t *d, size_t len) {
  st_net_frame_t *f = malloc(sizeof(*f) + (len ? len : 1));
  int want = expect(channel, type, d, len), bans = g.bans;

  CHECK(f != NULL);
  memcpy(f->peer, g.peer[pi], ST_ADDR_LEN);
  f->channel = channel;
  f->type = type;
  f->len = len;
  if (len)
    memcpy(f->data, d, len);
  if (channel == ST_CH_RESOURCE && type == ST_RES_OFFER)
    offer_note(f->peer, d, len);
  if (channel == ST_CH_RESOURCE && type == ST_RES_CHECKED)
    g.step_checked = true;
  st_res__frame(g.e, f);
  free(f);
  if (want == WANT_BAN) {
    CHECK(g.nsent == 0);
    CHECK(pi == SELF ? g.bans == bans
                     : g.bans == bans + 1 && memcmp(g.banned, g.peer[pi], ST_ADDR_LEN) == 0);
  } else if (want == WANT_OK) {
    CHECK(g.bans == bans);
  } else if (want == WANT_IGNORE) {
    CHECK(g.bans == bans && g.nsent == 0);
  }
  if (want != WANT_BAN && channel == ST_CH_RESOURCE && type == ST_RES_GET)
    check_get_answer(pi, d, len);
}

/* ---- the input ---- */

typedef struct cur {
  const uint8_t *p;
  size_t n;
} cur_t;

static uint8_t get8(cur_t *c) {
  if (c->n == 0)
    return 0;
  c->n--;
  return *c->p++;
}

static uint16_t get16(cur_t *c) {
  uint16_t hi = get8(c);
  return (uint16_t)(hi << 8 | get8(c));
}

static const uint8_t *take(cur_t *c, size_t *len) {
  const uint8_t *p = c->p;
  if (*len > c->n)
    *len = c->n;
  c->p += *len;
  c->n -= *len;
  return p;
}

static const uint32_t RAW[6][2] = {
  {ST_CH_RESOURCE, ST_RES_OFFER}, {ST_CH_RESOURCE, ST_RES_DATA},
  {ST_CH_RESOURCE, ST_RES_GET},   {ST_CH_RESOURCE, ST_RES_PULL},
  {ST_CH_RESOURCE, ST_RES_CHECKED}, {ST_CH_RESOURCE_REPLY, ST_RES_BLOCK},
};

static void pack_deliver(int pi, uint32_t type, const ProtobufCMessage *m) {
  size_t n = protobuf_c_message_get_packed_size(m);
  uint8_t *b = malloc(n ? n : 1);

  CHECK(b != NULL);
  protobuf_c_message_pack(m, b);
  deliver(pi, ST_CH_RESOURCE, type, b, n);
  free(b);
}

static void built_offer(int pi, unsigned fl, cur_t *c) {
  Stratos__Storage__SliceOffer o = STRATOS__STORAGE__SLICE_OFFER__INIT;
  uint8_t xfer = get8(c), seed = get8(c);
  uint64_t size = spec_size(get16(c));
  int slot = (fl & 8) ? 0 : 1 + xfer % (NSLICES - 1);
  const kslice_t *k = slot ? kslice_make(slot, seed, size) : g.ks[0];
  uint8_t *hashes;

  hashes = malloc((size_t)k->nblocks * ST_HASH_LEN);
  CHECK(hashes != NULL);
  memcpy(hashes, k->blocks, (size_t)k->nblocks * ST_HASH_LEN);
  if (fl & 1)
    hashes[seed % ((size_t)k->nblocks * ST_HASH_LEN)] ^= 1;
  g.xmap[xfer] = (int8_t)slot;
  o.xfer = xfer;
  o.root.data = (uint8_t *)(uintptr_t)k->root;
  o.root.len = ST_HASH_LEN;
  o.size = k->size + ((fl & 2) ? 1 : 0);
  o.blocks.data = hashes;
  o.blocks.len = (size_t)k->nblocks * ST_HASH_LEN - ((fl & 4) ? ST_HASH_LEN : 0);
  if ((fl & 6) == 6) {
    /* One block whose hash is the root: the same root as the slice
     * with another block list (a root does not commit to the count). */
    memcpy(hashes, k->root, ST_HASH_LEN);
    o.size = 1 + seed;
    o.blocks.len = ST_HASH_LEN;
  }
  pack_deliver(pi, ST_RES_OFFER, &o.base);
  free(hashes);
}

static void built_data(int pi, unsigned fl, cur_t *c) {
  uint8_t xfer = get8(c), idx = get8(c);
  const kslice_t *k = g.ks[g.xmap[xfer] >= 0 ? g.xmap[xfer] : 0];
  uint32_t i = idx % (k->nblocks + 1);
  size_t n = i < k->nblocks ? block_len(k->size, k->nblocks, i) : 1;

  st_res__put64(g.fr, xfer);
  st_res__put32(g.fr + 8, i);
  content(k->seed, i, g.fr + ST_RES_DATA_HDR, n);
  if (fl & 1)
    g.fr[ST_RES_DATA_HDR + idx % n] ^= 0x80;
  if ((fl & 2) && n > 1)
    n--;
  deliver(pi, ST_CH_RESOURCE, ST_RES_DATA, g.fr, ST_RES_DATA_HDR + n);
}

static void built_get(int pi, unsigned fl, cur_t *c) {
  static const uint32_t CH[4] = {0, ST_CH_GATEWAY, ST_CH_RESOURCE_REPLY, ST_CH_META};
  Stratos__Storage__BlockGet q = STRATOS__STORAGE__BLOCK_GET__INIT;
  uint8_t which = get8(c), idx = get8(c), root[ST_HASH_LEN];
  const kslice_t *k = g.ks[which % NSLICES];

  if (!k)
    k = g.ks[0];
  memcpy(root, k->root, ST_HASH_LEN);
  if (which & 0x80)
    root[0] ^= 1;
  q.req = get16(c);
  q.root.data = root;
  q.root.len = ST_HASH_LEN;
  q.index = idx;
  q.hashes = (fl & 1) != 0;
  q.reply_channel = (fl & 8) ? idx : CH[(fl >> 1) & 3];
  pack_deliver(pi, ST_RES_GET, &q.base);
}

static void built_pull(int pi, unsigned fl, cur_t *c) {
  Stratos__Storage__SlicePull q = STRATOS__STORAGE__SLICE_PULL__INIT;
  uint8_t which = get8(c), from = get8(c), seed = get8(c);
  uint64_t size = spec_size(get16(c));
  const kslice_t *k = g.ks[which % NSLICES];

  if (which % NSLICES != 0 && ((fl & 8) || !k))
    k = kslice_make(which % NSLICES, seed, size);
  q.root.data = (uint8_t *)(uintptr_t)k->root;
  q.root.len = ST_HASH_LEN;
  q.size = k->size + ((fl & 2) ? 1 : 0);
  q.from.data = g.peer[from % NPEERS];
  q.from.len = ST_ADDR_LEN;
  if (fl & 1) {
    q.replaces.data = g.peer[(from + 1) % NPEERS];
    q.replaces.len = ST_ADDR_LEN;
  }
  if (fl & 4) {
    q.replaces.data = g.peer[from % NPEERS];
    q.replaces.len = 7;
  }
  pack_deliver(pi, ST_RES_PULL, &q.base);
}

/* An answer to one of the engine's open pulls: the hash list or a block,
 * from the holder it asked (or, with a flag, from the step's peer). */
static void built_block(int pi, unsigned fl, cur_t *c) {
  uint8_t which = get8(c), what = get8(c);
  const st_res__pull_t *p = g.e->pulls;
  const kslice_t *k;
  size_t n = 0;
  uint64_t req;
  int from = pi;

  for (uint8_t i = 0; p && p->next && i < which % ST_RES__PULL_MAX; i++)
    p = p->next;
  if (!p)
    return;
  if (!(fl & 4)) {
    /* From the holder asked, when it is one of ours (a raw SlicePull may
     * name any address); else from the step's peer. */
    for (from = 0; from < NPEERS && memcmp(g.peer[from], p->from, ST_ADDR_LEN) != 0; from++)
      ;
    if (from == NPEERS)
      from = pi;
  }
  k = kslice_by_root(p->root);
  req = p->req;
  if (what == 0) {
    if (k) {
      n = (size_t)k->nblocks * ST_HASH_LEN;
      memcpy(g.fr + ST_RES_BLOCK_HDR, k->blocks, n);
    }
  } else {
    uint32_t i = (uint32_t)(what - 1) % (p->nblocks ? p->nblocks : 1);
    req += 1 + i;
    if (k && i < k->nblocks) {
      n = block_len(k->size, k->nblocks, i);
      content(k->seed, i, g.fr + ST_RES_BLOCK_HDR, n);
    }
  }
  if (!k) {
    n = c->n < 256 ? c->n : 256;
    memcpy(g.fr + ST_RES_BLOCK_HDR, take(c, &n), n);
  }
  if ((fl & 1) && n > 0)
    g.fr[ST_RES_BLOCK_HDR + what % n] ^= 0x40;
  if ((fl & 8) && n > 0)
    n--;
  st_res__put64(g.fr, req);
  st_res__put32(g.fr + 8, (fl & 2) ? (uint32_t)ST_ENOENT : 0);
  if (fl & 2)
    n = 0;
  deliver(from, ST_CH_RESOURCE_REPLY, ST_RES_BLOCK, g.fr, ST_RES_BLOCK_HDR + n);
}

/* An answer to one of the engine's open SliceChecks. */
static void built_checked(int pi, unsigned fl, cur_t *c) {
  Stratos__Storage__SliceCheck a = STRATOS__STORAGE__SLICE_CHECK__INIT;
  uint8_t which = get8(c);
  uint16_t bits = get16(c);
  const st_res__check_t *q = g.e->checks;
  ProtobufCBinaryData *roots;
  protobuf_c_boolean *keep;

  for (uint8_t i = 0; q && q->next && i < which % ST_RES__CHECK_MAX_OPEN; i++)
    q = q->next;
  if (!q)
    return;
  roots = calloc(q->n, sizeof(*roots));
  keep = calloc(q->n, sizeof(*keep));
  CHECK(roots != NULL && keep != NULL);
  for (size_t i = 0; i < q->n; i++) {
    roots[i].data = (uint8_t *)(uintptr_t)q->roots[i];
    roots[i].len = ST_HASH_LEN;
    keep[i] = (bits >> (i % 16)) & 1;
  }
  a.req = q->req + ((fl & 2) ? 1 : 0);
  if (fl & 1) {
    a.n_roots = q->n;
    a.roots = roots;
  }
  a.n_keep = q->n - ((fl & 4) && q->n > 0 ? 1 : 0);
  a.keep = keep;
  pack_deliver(pi, ST_RES_CHECKED, &a.base);
  free(roots);
  free(keep);
}

static void on_closed(void *ud) {
  (void)ud;
  g.closed++;
}

static void engine_open(void) {
  st_res__cfg_t cfg = {
    .loop = &g.loop,
    .store = g.s,
    .key = &g.kp,
    .meta_chain_id = CHAIN,
    .meta = (const uint8_t(*)[ST_ADDR_LEN])&g.peer[META],
    .nmeta = 1,
    .self_meta = true,
    .gc_grace_ms = GRACE,
    .send = hook_send,
    .ban = hook_ban,
    .mono_ms = clock_mono,
    .wall_ms = clock_wall,
  };
  CHECK(st_res__new(&cfg, &g.e) == 0);
}

static void engine_close(void) {
  g.closed = 0;
  st_res__close(g.e, on_closed, NULL);
  uv_run(&g.loop, UV_RUN_DEFAULT);
  CHECK(g.closed == 1 && g.nsent == 0);
  g.e = NULL;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void rm_tmp(void) {
  if (g.home[0])
    nftw(g.home, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  g.home[0] = '\0';
}

static void cleanup(void) {
  if (g.s)
    st_slice_store_close(g.s);
  if (g.st)
    st_store_close(g.st);
  g.s = NULL;
  g.st = NULL;
  rm_tmp();
  for (int i = 0; i < NCACHE; i++)
    free(g.cache[i].blocks);
  free(g.base.blocks);
  free(g.blk);
  free(g.fr);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  st_store_opts_t o = {.map_size = 64u << 20, .no_sync = true};
  const char *base = getenv("ST_TEST_TMP");
  char db[PATH_MAX + 8], sl[PATH_MAX + 8];
  uint8_t seed[ST_SEED_LEN];
  struct stat sb;

  (void)argc;
  (void)argv;
  CHECK(st_crypto_init() == 0);
  /* Everything is logged, so that every log line is formatted, into
   * nowhere. */
  st_log_set_level(ST_LOG_DEBUG);
  st_log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (!base || !*base)
    base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
  CHECK((size_t)snprintf(g.home, sizeof(g.home), "%s/fuzz_holder-XXXXXX", base) <
        sizeof(g.home));
  CHECK(mkdtemp(g.home) != NULL);
  atexit(cleanup);
  __sanitizer_set_death_callback(rm_tmp);
  snprintf(db, sizeof(db), "%s/db", g.home);
  snprintf(sl, sizeof(sl), "%s/sl", g.home);
  CHECK(mkdir(db, 0700) == 0);
  CHECK(st_store_open(db, &o, &g.st) == 0);
  CHECK(st_slice_store_open(sl, g.st, &g.s) == 0);
  CHECK(uv_loop_init(&g.loop) == 0);
  memset(seed, 0x33, sizeof(seed));
  CHECK(st_key_from_seed(seed, &g.kp) == 0);
  st_addr_from_pubkey(g.kp.pk, g.peer[SELF]);
  for (int i = 1; i < NPEERS; i++)
    memset(g.peer[i], 0x10 * i, ST_ADDR_LEN);
  g.blk = malloc(ST_FILE_BLOCK);
  g.fr = malloc(ST_RES_BLOCK_HDR + ST_FILE_BLOCK + 256);
  CHECK(g.blk != NULL && g.fr != NULL);
  /* The slice every input finds stored: one block of 5000 bytes. */
  kslice_fill(&g.base, 0, 5000);
  g.ks[0] = &g.base;
  store_base();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cur_t c = {data, size};
  st_res__stats_t st;

  g.mono = 1000000;
  g.skew = 0;
  g.noffers = 0;
  memset(g.xmap, -1, sizeof(g.xmap));
  for (int i = 1; i < NSLICES; i++)
    g.ks[i] = NULL;
  engine_open();
  for (int step = 0; step < MAX_STEPS && c.n >= 2; step++) {
    uint8_t op = get8(&c);
    int pi = get8(&c) % NPEERS;
    unsigned kind = op & 15, fl = op >> 4;
    size_t before = store_count(), len;
    const uint8_t *d;

    if (kind < 6) {
      len = get16(&c);
      d = take(&c, &len);
      deliver(pi, RAW[kind][0], RAW[kind][1], d, len);
    } else if (kind == 6) {
      uint32_t ch = get8(&c) % 16, type = get8(&c);
      len = get16(&c);
      d = take(&c, &len);
      deliver(pi, ch, type, d, len);
    } else if (kind == 7) {
      built_offer(pi, fl, &c);
    } else if (kind == 8) {
      built_data(pi, fl, &c);
    } else if (kind == 9) {
      built_get(pi, fl, &c);
    } else if (kind == 10) {
      built_pull(pi, fl, &c);
    } else if (kind == 11) {
      built_block(pi, fl, &c);
    } else if (kind == 12) {
      built_checked(pi, fl, &c);
    } else if (kind == 13) {
      g.mono += (int64_t)get8(&c) * 1000 + ((fl & 1) ? ST_RES_IDLE_MS : 0);
      st_res__tick(g.e);
    } else if (kind == 14) {
      st_res__peer_down(g.e, g.peer[pi]);
    } else if (fl & 1) {
      g.skew = (fl & 2) ? 10 * GRACE : 0;
      st_res__gc_round(g.e);
    } else if (fl & 4) {
      /* The node stops with commits on the thread pool and starts
       * again: nothing is sent once closing, the engine goes once the
       * last commit is recorded. */
      engine_close();
      engine_open();
    } else {
      uv_run(&g.loop, UV_RUN_DEFAULT);
    }
    /* Only a meta node's answer drops a slice. */
    if (store_count() < before)
      CHECK(g.step_checked && (pi == SELF || pi == META));
    g.step_checked = false;
    sent_clear();
    st_res__stats(g.e, &st);
    CHECK(st.xfers <= ST_RES__XFER_MAX && st.pulls <= ST_RES__PULL_MAX &&
          st.checks <= ST_RES__CHECK_MAX_OPEN);
    for (int i = 0; i < NPEERS; i++) {
      size_t mine = 0;
      for (const st_res__xfer_t *x = g.e->xfers; x; x = x->next)
        mine += memcmp(x->peer, g.peer[i], ST_ADDR_LEN) == 0;
      CHECK(mine <= ST_RES__XFER_PEER_MAX);
    }
  }
  /* The commits still running finish, then the engine closes. */
  uv_run(&g.loop, UV_RUN_DEFAULT);
  sent_clear();
  engine_close();
  store_check_reset();
  return 0;
}
