/* Unit tests of the holder engine (src/resource/resource_private.h)
 * without a network: frames are handed to it directly and what it sends
 * is caught by the send hook. Uploads with their acks and receipts, the
 * shortcut for a slice already stored, refusals and limits, time-outs and
 * peers that leave, block serving, repair pulls between two engines, the
 * garbage collection's questions and answers, and a close while a commit
 * runs on the thread pool. */
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
#include "test_tmp.h"
#include <sodium.h>
#include <uv.h>

#include <stratos/st_crypto.h>
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_net.h>
#include <stratos/st_resource.h>
#include <stratos/st_store.h>

#include "resource/resource_private.h"
#include "resource/store.h"
#include "storage.pb-c.h"

#define BLK ((uint64_t)ST_FILE_BLOCK)
#define CHAIN "test-chain-meta"
#define GRACE 60000

/* ---- slices ---- */

typedef struct slice {
  uint8_t *data;
  uint64_t size;
  uint32_t nblocks;
  uint8_t (*blocks)[ST_HASH_LEN];
  uint8_t root[ST_HASH_LEN];
} slice_t;

static size_t blen(const slice_t *sl, uint32_t i) {
  return i + 1 < sl->nblocks ? ST_FILE_BLOCK : (size_t)(sl->size - (uint64_t)i * BLK);
}

static void slice_make(slice_t *sl, uint64_t size) {
  sl->size = size;
  sl->nblocks = st_file_blocks(size);
  sl->data = malloc(size);
  sl->blocks = malloc((size_t)sl->nblocks * ST_HASH_LEN);
  assert_non_null(sl->data);
  assert_non_null(sl->blocks);
  randombytes_buf(sl->data, size);
  for (uint32_t i = 0; i < sl->nblocks; i++)
    st_merkle_leaf(sl->data + i * BLK, blen(sl, i), sl->blocks[i]);
  assert_int_equal(
    st_merkle_root((const uint8_t(*)[ST_HASH_LEN])sl->blocks, sl->nblocks, sl->root), 0);
}

static void slice_free(slice_t *sl) {
  free(sl->data);
  free(sl->blocks);
}

/* ---- a node: a store, an engine, and what it sent ---- */

typedef struct sent {
  bool bcast;
  uint8_t to[ST_ADDR_LEN];
  uint32_t channel, type;
  uint8_t *data;
  size_t len;
} sent_t;

struct fix;

typedef struct tnode {
  struct fix *f;
  char dir[PATH_MAX];
  st_store_t *st;
  st_slice_store_t *s;
  st_res__eng_t *e;
  st_keypair_t kp;
  uint8_t addr[ST_ADDR_LEN];
  sent_t *out;
  size_t nout, cap;
  int bans;
  int closed;
  uint64_t reserve;  /* the engine's reserve_bytes */
} tnode_t;

typedef struct fix {
  char home[PATH_MAX];
  uv_loop_t loop;
  int64_t mono;      /* the engines' monotonic clock */
  int64_t wall_skew; /* added to the real wall clock */
  tnode_t a, b;
  uint8_t meta[ST_ADDR_LEN];  /* a meta node (genesis) */
  uint8_t other[ST_ADDR_LEN]; /* some other peer */
} fix_t;

static int hook_send(void *ud, const uint8_t *to, uint32_t channel, uint32_t type,
                     const void *head, size_t hlen, const void *body, size_t blen_) {
  tnode_t *n = ud;
  sent_t *s;

  if (n->nout == n->cap) {
    n->cap = n->cap ? 2 * n->cap : 16;
    n->out = realloc(n->out, n->cap * sizeof(*n->out));
    assert_non_null(n->out);
  }
  s = &n->out[n->nout++];
  memset(s, 0, sizeof(*s));
  s->bcast = to == NULL;
  if (to)
    memcpy(s->to, to, ST_ADDR_LEN);
  s->channel = channel;
  s->type = type;
  s->len = hlen + blen_;
  s->data = malloc(s->len + 1);
  assert_non_null(s->data);
  if (hlen)
    memcpy(s->data, head, hlen);
  if (blen_)
    memcpy(s->data + hlen, body, blen_);
  return 0;
}

static void hook_ban(void *ud, const uint8_t peer[ST_ADDR_LEN], const char *reason) {
  (void)peer;
  (void)reason;
  ((tnode_t *)ud)->bans++;
}

static int64_t clock_mono(void *ud) { return ((fix_t *)ud)->mono; }

static int64_t real_wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t clock_wall(void *ud) { return real_wall() + ((fix_t *)ud)->wall_skew; }

static void clear_out(tnode_t *n) {
  for (size_t i = 0; i < n->nout; i++)
    free(n->out[i].data);
  n->nout = 0;
}

static void node_engine(fix_t *f, tnode_t *n, const char *chain) {
  st_res__cfg_t cfg = {
    .loop = &f->loop,
    .store = n->s,
    .key = &n->kp,
    .meta_chain_id = chain,
    .meta = (const uint8_t(*)[ST_ADDR_LEN])f->meta,
    .nmeta = 1,
    .gc_grace_ms = GRACE,
    .reserve_bytes = n->reserve,
    .send = hook_send,
    .ban = hook_ban,
    .ud = n,
    .mono_ms = clock_mono,
    .wall_ms = clock_wall,
    .clock_ud = f,
  };
  assert_int_equal(st_res__new(&cfg, &n->e), 0);
}

static void on_closed(void *ud) { ((tnode_t *)ud)->closed++; }

/* Closes n's engine and makes a new one (the store stays). */
static void node_restart(fix_t *f, tnode_t *n, const char *chain, uint64_t reserve) {
  st_res__close(n->e, on_closed, n);
  assert_int_equal(n->closed, 1);
  n->closed = 0;
  n->reserve = reserve;
  node_engine(f, n, chain);
}

static void node_open(fix_t *f, tnode_t *n, const char *name) {
  st_store_opts_t o = {.map_size = 64u << 20, .no_sync = true};
  char db[PATH_MAX + 8], sl[PATH_MAX + 8];

  n->f = f;
  assert_true((size_t)snprintf(n->dir, sizeof(n->dir), "%s/%s", f->home, name) <
              sizeof(n->dir));
  snprintf(db, sizeof(db), "%s/db", n->dir);
  snprintf(sl, sizeof(sl), "%s/sl", n->dir);
  assert_int_equal(st_test_mkdir_p(db), 0);
  assert_int_equal(st_store_open(db, &o, &n->st), 0);
  assert_int_equal(st_slice_store_open(sl, n->st, &n->s), 0);
  assert_int_equal(st_key_generate(&n->kp), 0);
  st_addr_from_pubkey(n->kp.pk, n->addr);
  node_engine(f, n, CHAIN);
}


static void node_close(fix_t *f, tnode_t *n) {
  if (n->e) {
    st_res__close(n->e, on_closed, n);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(n->closed, 1);
    n->e = NULL;
  }
  clear_out(n);
  free(n->out);
  st_slice_store_close(n->s);
  st_store_close(n->st);
}

static int setup(void **state) {
  fix_t *f = calloc(1, sizeof(*f));

  assert_non_null(f);
  st_test_tmpdir(f->home, sizeof(f->home), "engine");
  assert_int_equal(uv_loop_init(&f->loop), 0);
  f->mono = 1000000;
  randombytes_buf(f->meta, sizeof(f->meta));
  randombytes_buf(f->other, sizeof(f->other));
  node_open(f, &f->a, "a");
  node_open(f, &f->b, "b");
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fix_t *f = *state;

  node_close(f, &f->a);
  node_close(f, &f->b);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  assert_int_equal(st_test_rm_tree(f->home), 0);
  free(f);
  return 0;
}

/* ---- frames in ---- */

static void deliver(tnode_t *n, const uint8_t peer[ST_ADDR_LEN], uint32_t channel,
                    uint32_t type, const void *data, size_t len) {
  st_net_frame_t *fr = malloc(sizeof(*fr) + len + 1);

  assert_non_null(fr);
  memcpy(fr->peer, peer, ST_ADDR_LEN);
  fr->channel = channel;
  fr->type = type;
  fr->len = len;
  if (len)
    memcpy(fr->data, data, len);
  st_res__frame(n->e, fr);
  free(fr);
}

static void send_offer_raw(tnode_t *n, const uint8_t peer[ST_ADDR_LEN], uint64_t xfer,
                           const uint8_t *root, size_t rootlen, uint64_t size,
                           const void *blocks, size_t blocks_len) {
  Stratos__Storage__SliceOffer o;
  uint8_t *buf;
  size_t len;

  stratos__storage__slice_offer__init(&o);
  o.xfer = xfer;
  o.root.data = (uint8_t *)(uintptr_t)root;
  o.root.len = rootlen;
  o.size = size;
  o.blocks.data = (uint8_t *)(uintptr_t)blocks;
  o.blocks.len = blocks_len;
  len = stratos__storage__slice_offer__get_packed_size(&o);
  buf = malloc(len);
  assert_non_null(buf);
  stratos__storage__slice_offer__pack(&o, buf);
  deliver(n, peer, ST_CH_RESOURCE, ST_RES_OFFER, buf, len);
  free(buf);
}

static void send_offer(tnode_t *n, const uint8_t peer[ST_ADDR_LEN], uint64_t xfer,
                       const slice_t *sl) {
  send_offer_raw(n, peer, xfer, sl->root, ST_HASH_LEN, sl->size, sl->blocks,
                 (size_t)sl->nblocks * ST_HASH_LEN);
}

static void send_block(tnode_t *n, const uint8_t peer[ST_ADDR_LEN], uint64_t xfer,
                       uint32_t index, const void *data, size_t len) {
  uint8_t *buf = malloc(ST_RES_DATA_HDR + len);

  assert_non_null(buf);
  for (int i = 0; i < 8; i++)
    buf[i] = (uint8_t)(xfer >> (56 - 8 * i));
  for (int i = 0; i < 4; i++)
    buf[8 + i] = (uint8_t)(index >> (24 - 8 * i));
  memcpy(buf + ST_RES_DATA_HDR, data, len);
  deliver(n, peer, ST_CH_RESOURCE, ST_RES_DATA, buf, ST_RES_DATA_HDR + len);
  free(buf);
}

static void send_slice_block(tnode_t *n, const uint8_t peer[ST_ADDR_LEN], uint64_t xfer,
                             const slice_t *sl, uint32_t i) {
  send_block(n, peer, xfer, i, sl->data + i * BLK, blen(sl, i));
}

static void send_get(tnode_t *n, const uint8_t peer[ST_ADDR_LEN], uint64_t req,
                     const uint8_t *root, uint32_t index, bool hashes, uint32_t reply) {
  Stratos__Storage__BlockGet g;
  uint8_t buf[128];
  size_t len;

  stratos__storage__block_get__init(&g);
  g.req = req;
  g.root.data = (uint8_t *)(uintptr_t)root;
  g.root.len = ST_HASH_LEN;
  g.index = index;
  g.hashes = hashes;
  g.reply_channel = reply;
  len = stratos__storage__block_get__pack(&g, buf);
  deliver(n, peer, ST_CH_RESOURCE, ST_RES_GET, buf, len);
}

static void send_pull(tnode_t *n, const uint8_t asker[ST_ADDR_LEN], const slice_t *sl,
                      const uint8_t from[ST_ADDR_LEN], const uint8_t *replaces) {
  Stratos__Storage__SlicePull q;
  uint8_t buf[256];
  size_t len;

  stratos__storage__slice_pull__init(&q);
  q.root.data = (uint8_t *)(uintptr_t)sl->root;
  q.root.len = ST_HASH_LEN;
  q.size = sl->size;
  q.from.data = (uint8_t *)(uintptr_t)from;
  q.from.len = ST_ADDR_LEN;
  if (replaces) {
    q.replaces.data = (uint8_t *)(uintptr_t)replaces;
    q.replaces.len = ST_ADDR_LEN;
  }
  len = stratos__storage__slice_pull__pack(&q, buf);
  deliver(n, asker, ST_CH_RESOURCE, ST_RES_PULL, buf, len);
}

/* ---- frames out ---- */

/* The SliceAck at out[i], checked to go to peer on ST_CH_GATEWAY. */
static Stratos__Storage__SliceAck *ack_at(tnode_t *n, size_t i, const uint8_t *peer) {
  Stratos__Storage__SliceAck *a;

  assert_true(i < n->nout);
  assert_int_equal(n->out[i].channel, ST_CH_GATEWAY);
  assert_int_equal(n->out[i].type, ST_RES_ACK);
  assert_false(n->out[i].bcast);
  assert_memory_equal(n->out[i].to, peer, ST_ADDR_LEN);
  a = stratos__storage__slice_ack__unpack(NULL, n->out[i].len, n->out[i].data);
  assert_non_null(a);
  return a;
}

/* Exactly one frame was sent, a SliceAck: its code and received. */
static void expect_ack(tnode_t *n, const uint8_t *peer, uint64_t xfer, int code,
                       uint32_t received) {
  Stratos__Storage__SliceAck *a;

  assert_int_equal(n->nout, 1);
  a = ack_at(n, 0, peer);
  assert_int_equal(a->xfer, xfer);
  assert_int_equal(a->code, code);
  assert_int_equal(a->received, received);
  assert_false(a->stored);
  if (code != 0)
    assert_true(a->log && *a->log);
  stratos__storage__slice_ack__free_unpacked(a, NULL);
  clear_out(n);
}

static void expect_stored(tnode_t *n, const uint8_t *peer, uint64_t xfer, const slice_t *sl) {
  Stratos__Storage__SliceAck *a;

  assert_int_equal(n->nout, 1);
  a = ack_at(n, 0, peer);
  assert_int_equal(a->xfer, xfer);
  assert_int_equal(a->code, 0);
  assert_true(a->stored);
  assert_int_equal(a->received, sl->nblocks);
  assert_int_equal(a->signature.len, ST_SIG_LEN);
  assert_int_equal(
    st_res_stored_verify(n->kp.pk, CHAIN, sl->root, sl->size, a->signature.data), 0);
  /* Under another chain id, or for another size, it is worth nothing. */
  assert_int_equal(
    st_res_stored_verify(n->kp.pk, "other-meta", sl->root, sl->size, a->signature.data),
    ST_EBADSIG);
  assert_int_equal(
    st_res_stored_verify(n->kp.pk, CHAIN, sl->root, sl->size + 1, a->signature.data),
    ST_EBADSIG);
  stratos__storage__slice_ack__free_unpacked(a, NULL);
  clear_out(n);
}

/* The raw ST_RES_BLOCK answer at out[i]: code and body. */
static int32_t block_at(tnode_t *n, size_t i, const uint8_t *peer, uint32_t channel,
                        uint64_t req, const uint8_t **body, size_t *len) {
  const sent_t *s = &n->out[i];
  uint64_t r = 0;
  uint32_t c = 0;

  assert_true(i < n->nout);
  assert_int_equal(s->channel, channel);
  assert_int_equal(s->type, ST_RES_BLOCK);
  assert_memory_equal(s->to, peer, ST_ADDR_LEN);
  assert_true(s->len >= ST_RES_BLOCK_HDR);
  for (int k = 0; k < 8; k++)
    r = r << 8 | s->data[k];
  for (int k = 0; k < 4; k++)
    c = c << 8 | s->data[8 + k];
  assert_int_equal(r, req);
  *body = s->data + ST_RES_BLOCK_HDR;
  *len = s->len - ST_RES_BLOCK_HDR;
  return (int32_t)c;
}

static void stats(tnode_t *n, st_res__stats_t *st) { st_res__stats(n->e, st); }

static void run(fix_t *f) { uv_run(&f->loop, UV_RUN_DEFAULT); }

static void assert_has(tnode_t *n, const slice_t *sl, uint32_t refs) {
  st_slice_info_t info;
  uint8_t *buf = malloc(ST_FILE_BLOCK);
  size_t len;

  assert_non_null(buf);
  assert_int_equal(st_slice_info(n->s, sl->root, &info, NULL), 0);
  assert_int_equal(info.refs, refs);
  assert_false(info.corrupt);
  for (uint32_t i = 0; i < sl->nblocks; i++) {
    assert_int_equal(st_slice_read_block(n->s, sl->root, i, buf, &len), 0);
    assert_int_equal(len, blen(sl, i));
    assert_memory_equal(buf, sl->data + i * BLK, len);
  }
  free(buf);
}

/* The whole upload of sl to n by peer as transfer xfer. */
static void upload(fix_t *f, tnode_t *n, const uint8_t *peer, uint64_t xfer,
                   const slice_t *sl) {
  send_offer(n, peer, xfer, sl);
  expect_ack(n, peer, xfer, 0, 0);
  for (uint32_t i = 0; i < sl->nblocks; i++)
    send_slice_block(n, peer, xfer, sl, i);
  run(f);
  /* Progress acks, then the receipt. */
  assert_true(n->nout >= 1);
  for (size_t i = 0; i + 1 < n->nout; i++) {
    Stratos__Storage__SliceAck *a = ack_at(n, i, peer);
    assert_int_equal(a->code, 0);
    assert_false(a->stored);
    stratos__storage__slice_ack__free_unpacked(a, NULL);
    free(n->out[i].data);
  }
  n->out[0] = n->out[n->nout - 1];
  n->nout = 1;
  expect_stored(n, peer, xfer, sl);
}

/* ---- uploads ---- */

static void test_upload(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  st_res__stats_t st;
  slice_t sl;
  uint32_t acks = 0;

  slice_make(&sl, 10 * BLK + 333);
  send_offer(n, f->other, 7, &sl);
  expect_ack(n, f->other, 7, 0, 0);
  for (uint32_t i = 0; i < sl.nblocks; i++) {
    send_slice_block(n, f->other, 7, &sl, i);
    if (i + 1 < sl.nblocks && (i + 1) % ST_RES_ACK_EVERY == 0) {
      expect_ack(n, f->other, 7, 0, i + 1);
      acks++;
    } else if (i + 1 < sl.nblocks) {
      assert_int_equal(n->nout, 0);
    }
  }
  assert_int_equal(acks, 2);
  /* The last block went to the thread pool: nothing is said before the
   * commit, and the slice is not indexed yet. */
  assert_int_equal(n->nout, 0);
  stats(n, &st);
  assert_int_equal(st.jobs, 1);
  run(f);
  expect_stored(n, f->other, 7, &sl);
  assert_has(n, &sl, 1);
  stats(n, &st);
  assert_int_equal(st.received, 1);
  assert_int_equal(st.xfers, 0);
  assert_int_equal(st.jobs, 0);
  /* Late copies of its blocks are dropped quietly. */
  send_slice_block(n, f->other, 7, &sl, 3);
  assert_int_equal(n->nout, 0);
  slice_free(&sl);
}

/* A slice that is here already is acknowledged at once, in reply to the
 * offer, with a receipt; the offer adds a reference. */
static void test_offer_stored(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  st_res__stats_t st;
  slice_t sl;

  slice_make(&sl, 3 * BLK);
  upload(f, n, f->other, 1, &sl);
  send_offer(n, f->meta, 2, &sl);
  expect_stored(n, f->meta, 2, &sl);
  assert_has(n, &sl, 2);
  stats(n, &st);
  assert_int_equal(st.received, 2);
  assert_int_equal(st.xfers, 0);
  slice_free(&sl);
}

static void test_offer_refusals(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  uint8_t junk[3] = {0xff, 0xff, 0xff};
  uint8_t(*bad)[ST_HASH_LEN];
  st_res__stats_t st;
  slice_t sl;

  slice_make(&sl, 2 * BLK + 1);
  send_offer_raw(n, f->other, 1, sl.root, 31, sl.size, sl.blocks, 3 * ST_HASH_LEN);
  expect_ack(n, f->other, 1, ST_EINVAL, 0);
  send_offer_raw(n, f->other, 2, sl.root, ST_HASH_LEN, 0, NULL, 0);
  expect_ack(n, f->other, 2, ST_EINVAL, 0);
  send_offer_raw(n, f->other, 3, sl.root, ST_HASH_LEN, (uint64_t)ST_FILE_SLICE_MAX + 1,
                 sl.blocks, 3 * ST_HASH_LEN);
  expect_ack(n, f->other, 3, ST_E2BIG, 0);
  /* Two hashes for a slice of three blocks. */
  send_offer_raw(n, f->other, 4, sl.root, ST_HASH_LEN, sl.size, sl.blocks, 2 * ST_HASH_LEN);
  expect_ack(n, f->other, 4, ST_EINVAL, 0);
  /* Hashes that do not give the root. */
  bad = malloc(3 * ST_HASH_LEN);
  assert_non_null(bad);
  memcpy(bad, sl.blocks, 3 * ST_HASH_LEN);
  bad[1][0] ^= 1;
  send_offer_raw(n, f->other, 5, sl.root, ST_HASH_LEN, sl.size, bad, 3 * ST_HASH_LEN);
  expect_ack(n, f->other, 5, ST_EBADPROOF, 0);
  free(bad);
  /* A frame that is not a SliceOffer: banned, not answered. */
  deliver(n, f->other, ST_CH_RESOURCE, ST_RES_OFFER, junk, sizeof(junk));
  assert_int_equal(n->nout, 0);
  assert_int_equal(n->bans, 1);
  /* From this node itself (its own gateway), never a ban. */
  deliver(n, n->addr, ST_CH_RESOURCE, ST_RES_OFFER, junk, sizeof(junk));
  assert_int_equal(n->bans, 1);
  /* Nothing was kept. */
  stats(n, &st);
  assert_int_equal(st.xfers, 0);
  assert_int_equal(st_slice_info(n->s, sl.root, &(st_slice_info_t){0}, NULL), ST_ENOENT);

  /* Without a meta chain id no receipt can be signed: refused. */
  node_restart(f, n, NULL, 0);
  send_offer(n, f->other, 6, &sl);
  expect_ack(n, f->other, 6, ST_ECONFIG, 0);
  slice_free(&sl);
}

/* A node refuses slices that would leave less free disk than it keeps
 * (the offer's answer says how much), and takes them with room. */
static void test_offer_no_room(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  st_res__stats_t st;
  slice_t sl;
  uint64_t avail = 0;

  slice_make(&sl, 2 * BLK + 1);
  assert_int_equal(st_slice_store_avail(n->s, &avail), 0);
  assert_true(avail > 0);
  node_restart(f, n, CHAIN, avail + (1ull << 30)); /* more than the disk has free */
  send_offer(n, f->other, 1, &sl);
  assert_int_equal(n->nout, 1);
  Stratos__Storage__SliceAck *a = ack_at(n, 0, f->other);
  assert_int_equal(a->code, ST_EFULL);
  assert_non_null(a->log);
  assert_non_null(strstr(a->log, "not enough free disk"));
  stratos__storage__slice_ack__free_unpacked(a, NULL);
  clear_out(n);
  stats(n, &st);
  assert_int_equal(st.xfers, 0);
  assert_int_equal(st_slice_info(n->s, sl.root, &(st_slice_info_t){0}, NULL), ST_ENOENT);
  /* With room: accepted. */
  node_restart(f, n, CHAIN, 0);
  send_offer(n, f->other, 2, &sl);
  expect_ack(n, f->other, 2, 0, 0);
  slice_free(&sl);

  /* A repair pull without room is refused: nothing asked, nothing kept. */
  tnode_t *b = &f->b;
  slice_make(&sl, 3 * BLK);
  upload(f, &f->a, f->other, 3, &sl);
  node_restart(f, b, CHAIN, avail + (1ull << 30));
  send_pull(b, f->meta, &sl, f->a.addr, NULL);
  stats(b, &st);
  assert_int_equal(st.pulls, 0);
  assert_int_equal(b->nout, 0);
  assert_int_equal(st_slice_info(b->s, sl.root, &(st_slice_info_t){0}, NULL), ST_ENOENT);
  slice_free(&sl);
}

/* Eight transfers per peer, sixty-four in all. */
static void test_limits(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  uint8_t peer[ST_ADDR_LEN];
  st_res__stats_t st;
  slice_t sl[ST_RES__XFER_MAX + 2];
  size_t k = 0;

  for (size_t i = 0; i < ST_RES__XFER_MAX + 2; i++)
    slice_make(&sl[i], BLK);
  for (int p = 0; p < ST_RES__XFER_MAX / ST_RES__XFER_PEER_MAX; p++) {
    memset(peer, 0x40 + p, sizeof(peer));
    for (int i = 0; i < ST_RES__XFER_PEER_MAX; i++, k++) {
      send_offer(n, peer, k, &sl[k]);
      expect_ack(n, peer, k, 0, 0);
    }
    if (p == 0) {
      send_offer(n, peer, 1000, &sl[ST_RES__XFER_MAX]);
      expect_ack(n, peer, 1000, ST_EAGAIN, 0);
    }
  }
  stats(n, &st);
  assert_int_equal(st.xfers, ST_RES__XFER_MAX);
  send_offer(n, f->other, 1001, &sl[ST_RES__XFER_MAX + 1]);
  expect_ack(n, f->other, 1001, ST_EAGAIN, 0);
  /* A peer that leaves frees its places, without answers. */
  memset(peer, 0x40, sizeof(peer));
  st_res__peer_down(n->e, peer);
  assert_int_equal(n->nout, 0);
  stats(n, &st);
  assert_int_equal(st.xfers, ST_RES__XFER_MAX - ST_RES__XFER_PEER_MAX);
  send_offer(n, f->other, 1002, &sl[ST_RES__XFER_MAX + 1]);
  expect_ack(n, f->other, 1002, 0, 0);
  /* The slices of the peer that left can be offered again (their writers
   * are gone). */
  send_offer(n, f->other, 1003, &sl[0]);
  expect_ack(n, f->other, 1003, 0, 0);
  for (size_t i = 0; i < ST_RES__XFER_MAX + 2; i++)
    slice_free(&sl[i]);
}

static void test_data_errors(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  uint8_t *bad;
  st_res__stats_t st;
  slice_t sl;

  slice_make(&sl, 4 * BLK);
  /* Out of order. */
  send_offer(n, f->other, 1, &sl);
  expect_ack(n, f->other, 1, 0, 0);
  send_slice_block(n, f->other, 1, &sl, 0);
  send_slice_block(n, f->other, 1, &sl, 2);
  expect_ack(n, f->other, 1, ST_EPROTO, 1);
  /* The rest of that transfer is dropped without a word. */
  send_slice_block(n, f->other, 1, &sl, 3);
  assert_int_equal(n->nout, 0);
  /* A corrupt block. */
  send_offer(n, f->other, 2, &sl);
  expect_ack(n, f->other, 2, 0, 0);
  bad = malloc(BLK);
  assert_non_null(bad);
  memcpy(bad, sl.data, BLK);
  bad[77] ^= 0x10;
  send_block(n, f->other, 2, 0, bad, BLK);
  expect_ack(n, f->other, 2, ST_ECORRUPT, 0);
  /* A block of the wrong length. */
  send_offer(n, f->other, 3, &sl);
  expect_ack(n, f->other, 3, 0, 0);
  send_block(n, f->other, 3, 0, sl.data, BLK - 1);
  expect_ack(n, f->other, 3, ST_EINVAL, 0);
  free(bad);
  /* A transfer never opened: told once. */
  send_slice_block(n, f->other, 99, &sl, 0);
  expect_ack(n, f->other, 99, ST_ENOENT, 0);
  send_slice_block(n, f->other, 99, &sl, 1);
  assert_int_equal(n->nout, 0);
  /* The same transfer id from another peer is another transfer. */
  send_slice_block(n, f->meta, 3, &sl, 0);
  expect_ack(n, f->meta, 3, ST_ENOENT, 0);
  /* A data frame shorter than its header: banned. */
  deliver(n, f->other, ST_CH_RESOURCE, ST_RES_DATA, sl.data, ST_RES_DATA_HDR - 1);
  assert_int_equal(n->bans, 1);
  stats(n, &st);
  assert_int_equal(st.xfers, 0);
  assert_int_equal(st.xfer_failed, 3);
  /* Nothing was stored, and the slice can be sent whole afterwards. */
  assert_int_equal(st_slice_info(n->s, sl.root, &(st_slice_info_t){0}, NULL), ST_ENOENT);
  upload(f, n, f->other, 4, &sl);
  assert_has(n, &sl, 1);
  slice_free(&sl);
}

/* An offer repeated under the same id starts the transfer again. */
static void test_offer_again(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  st_res__stats_t st;
  slice_t sl;

  slice_make(&sl, 2 * BLK);
  send_offer(n, f->other, 5, &sl);
  expect_ack(n, f->other, 5, 0, 0);
  send_slice_block(n, f->other, 5, &sl, 0);
  send_offer(n, f->other, 5, &sl);
  expect_ack(n, f->other, 5, 0, 0);
  stats(n, &st);
  assert_int_equal(st.xfers, 1);
  send_slice_block(n, f->other, 5, &sl, 0);
  send_slice_block(n, f->other, 5, &sl, 1);
  run(f);
  expect_stored(n, f->other, 5, &sl);
  assert_has(n, &sl, 1);
  slice_free(&sl);
}

static void test_idle(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  st_res__stats_t st;
  slice_t sl, sl2;

  slice_make(&sl, 3 * BLK);
  slice_make(&sl2, 3 * BLK);
  send_offer(n, f->other, 1, &sl);
  expect_ack(n, f->other, 1, 0, 0);
  send_offer(n, f->other, 2, &sl2);
  expect_ack(n, f->other, 2, 0, 0);
  /* Transfer 1 has a block half-way; transfer 2 stays silent. */
  f->mono += ST_RES_IDLE_MS / 2;
  send_slice_block(n, f->other, 1, &sl, 0);
  f->mono += ST_RES_IDLE_MS / 2 - 1;
  st_res__tick(n->e);
  assert_int_equal(n->nout, 0);
  f->mono += 1;
  st_res__tick(n->e);
  expect_ack(n, f->other, 2, ST_ETIMEDOUT, 0);
  f->mono += ST_RES_IDLE_MS / 2;
  st_res__tick(n->e);
  expect_ack(n, f->other, 1, ST_ETIMEDOUT, 1);
  stats(n, &st);
  assert_int_equal(st.xfers, 0);
  /* The writer is gone with its temporary file: the slice goes in anew. */
  upload(f, n, f->other, 3, &sl);
  slice_free(&sl);
  slice_free(&sl2);
}

/* ---- serving ---- */

static void test_serve(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  st_res__stats_t st;
  const uint8_t *body;
  uint8_t missing[ST_HASH_LEN] = {1};
  size_t len;
  slice_t sl;

  slice_make(&sl, 2 * BLK + 10);
  upload(f, n, f->other, 1, &sl);

  send_get(n, f->other, 11, sl.root, 1, false, 0);
  assert_int_equal(n->nout, 1);
  assert_int_equal(block_at(n, 0, f->other, ST_CH_GATEWAY, 11, &body, &len), 0);
  assert_int_equal(len, BLK);
  assert_memory_equal(body, sl.data + BLK, BLK);
  clear_out(n);
  send_get(n, f->other, 12, sl.root, 2, false, ST_CH_RESOURCE_REPLY);
  assert_int_equal(block_at(n, 0, f->other, ST_CH_RESOURCE_REPLY, 12, &body, &len), 0);
  assert_int_equal(len, 10);
  assert_memory_equal(body, sl.data + 2 * BLK, 10);
  clear_out(n);
  send_get(n, f->other, 13, sl.root, 0, true, ST_CH_GATEWAY);
  assert_int_equal(block_at(n, 0, f->other, ST_CH_GATEWAY, 13, &body, &len), 0);
  assert_int_equal(len, 3 * ST_HASH_LEN);
  assert_memory_equal(body, sl.blocks, len);
  clear_out(n);
  stats(n, &st);
  assert_int_equal(st.served_bytes, BLK + 10);
  assert_int_equal(st.served_blocks, 2);

  /* Errors come back as codes with no bytes. */
  send_get(n, f->other, 14, sl.root, 3, false, 0);
  assert_int_equal(block_at(n, 0, f->other, ST_CH_GATEWAY, 14, &body, &len), ST_ERANGE);
  assert_int_equal(len, 0);
  clear_out(n);
  send_get(n, f->other, 15, missing, 0, false, 0);
  assert_int_equal(block_at(n, 0, f->other, ST_CH_GATEWAY, 15, &body, &len), ST_ENOENT);
  clear_out(n);
  send_get(n, f->other, 16, missing, 0, true, 0);
  assert_int_equal(block_at(n, 0, f->other, ST_CH_GATEWAY, 16, &body, &len), ST_ENOENT);
  clear_out(n);
  /* A reply channel that is none of gateway, resource reply, meta (the
   * auditors): no answer. */
  send_get(n, f->other, 17, sl.root, 0, false, ST_CH_MEMPOOL);
  assert_int_equal(n->nout, 0);
  /* An auditor's challenge is answered on the meta channel. */
  send_get(n, f->other, 18, sl.root, 0, false, ST_CH_META);
  assert_int_equal(block_at(n, 0, f->other, ST_CH_META, 18, &body, &len), 0);
  assert_int_equal(len, BLK);
  clear_out(n);
  stats(n, &st);
  assert_int_equal(st.served_bytes, 2 * BLK + 10);
  slice_free(&sl);
}

/* A block that changed on disk is refused, and from then on the whole
 * slice, its hash list included. */
static void test_serve_corrupt(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  char hex[2 * ST_HASH_LEN + 1], path[PATH_MAX + 256];
  const uint8_t *body;
  size_t len;
  slice_t sl;
  FILE *fp;

  slice_make(&sl, 2 * BLK);
  upload(f, n, f->other, 1, &sl);
  assert_int_equal(st_hex_encode(sl.root, ST_HASH_LEN, hex, sizeof(hex)), 0);
  snprintf(path, sizeof(path), "%s/sl/%.2s/%.2s/%s.slice", n->dir, hex, hex + 2, hex);
  fp = fopen(path, "r+b");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, (long)BLK + 5, SEEK_SET), 0);
  assert_int_equal(fputc(sl.data[BLK + 5] ^ 0x01, fp), sl.data[BLK + 5] ^ 0x01);
  assert_int_equal(fclose(fp), 0);

  send_get(n, f->other, 1, sl.root, 0, false, 0);
  assert_int_equal(block_at(n, 0, f->other, ST_CH_GATEWAY, 1, &body, &len), 0);
  clear_out(n);
  send_get(n, f->other, 2, sl.root, 1, false, 0);
  assert_int_equal(block_at(n, 0, f->other, ST_CH_GATEWAY, 2, &body, &len), ST_ECORRUPT);
  assert_int_equal(len, 0);
  clear_out(n);
  send_get(n, f->other, 3, sl.root, 0, false, 0);
  assert_int_equal(block_at(n, 0, f->other, ST_CH_GATEWAY, 3, &body, &len), ST_ECORRUPT);
  clear_out(n);
  send_get(n, f->other, 4, sl.root, 0, true, 0);
  assert_int_equal(block_at(n, 0, f->other, ST_CH_GATEWAY, 4, &body, &len), ST_ECORRUPT);
  clear_out(n);
  /* A new upload of the slice repairs it. */
  send_offer(n, f->other, 9, &sl);
  expect_ack(n, f->other, 9, 0, 0);
  send_slice_block(n, f->other, 9, &sl, 0);
  send_slice_block(n, f->other, 9, &sl, 1);
  run(f);
  expect_stored(n, f->other, 9, &sl);
  assert_has(n, &sl, 2);
  slice_free(&sl);
}

/* ---- pulls ---- */

/* Delivers what a and b sent each other (and what went elsewhere stays),
 * running the loop for commits, until both are quiet. Frames for the
 * meta node are left in the sender's outbox. */
static void route(fix_t *f) {
  bool moved;

  do {
    moved = false;
    tnode_t *nodes[2] = {&f->a, &f->b};
    for (int k = 0; k < 2; k++) {
      tnode_t *from = nodes[k], *to = nodes[1 - k];
      size_t keep = 0;
      size_t nout = from->nout;
      sent_t *out = from->out;
      from->out = NULL;
      from->nout = from->cap = 0;
      for (size_t i = 0; i < nout; i++) {
        if (!out[i].bcast && memcmp(out[i].to, to->addr, ST_ADDR_LEN) == 0) {
          deliver(to, from->addr, out[i].channel, out[i].type, out[i].data, out[i].len);
          free(out[i].data);
          moved = true;
        } else {
          out[keep++] = out[i];
        }
      }
      /* Put back what stayed, ahead of what delivering made. */
      for (size_t i = 0; i < from->nout; i++) {
        if (keep == nout) {
          nout = nout ? 2 * nout : 16;
          out = realloc(out, nout * sizeof(*out));
          assert_non_null(out);
        }
        out[keep++] = from->out[i];
      }
      free(from->out);
      from->out = out;
      from->nout = keep;
      from->cap = nout > keep ? nout : keep;
    }
    if (!moved) {
      st_res__stats_t sa, sb;
      st_res__stats(f->a.e, &sa);
      st_res__stats(f->b.e, &sb);
      if (sa.jobs || sb.jobs) {
        run(f);
        moved = true;
      }
    }
  } while (moved);
}

/* The SliceRepair b sent the meta node. */
static void expect_repair(tnode_t *n, const uint8_t *meta, const slice_t *sl,
                          const uint8_t *replaces) {
  Stratos__Storage__SliceRepair *r;

  assert_int_equal(n->nout, 1);
  assert_false(n->out[0].bcast);
  assert_memory_equal(n->out[0].to, meta, ST_ADDR_LEN);
  assert_int_equal(n->out[0].channel, ST_CH_META);
  assert_int_equal(n->out[0].type, ST_RES_REPAIRED);
  r = stratos__storage__slice_repair__unpack(NULL, n->out[0].len, n->out[0].data);
  assert_non_null(r);
  assert_int_equal(r->root.len, ST_HASH_LEN);
  assert_memory_equal(r->root.data, sl->root, ST_HASH_LEN);
  if (replaces) {
    assert_int_equal(r->old_holder.len, ST_ADDR_LEN);
    assert_memory_equal(r->old_holder.data, replaces, ST_ADDR_LEN);
  } else {
    assert_int_equal(r->old_holder.len, 0);
  }
  assert_non_null(r->added);
  assert_int_equal(r->added->node.len, ST_ADDR_LEN);
  assert_memory_equal(r->added->node.data, n->addr, ST_ADDR_LEN);
  assert_int_equal(r->added->signature.len, ST_SIG_LEN);
  assert_int_equal(
    st_res_stored_verify(n->kp.pk, CHAIN, sl->root, sl->size, r->added->signature.data), 0);
  stratos__storage__slice_repair__free_unpacked(r, NULL);
  clear_out(n);
}

static void test_pull(void **state) {
  fix_t *f = *state;
  st_res__stats_t st;
  slice_t sl;

  /* Eleven blocks: more than the window, and a short last one. */
  slice_make(&sl, 10 * BLK + 4321);
  upload(f, &f->a, f->other, 1, &sl);
  send_pull(&f->b, f->meta, &sl, f->a.addr, f->other);
  /* A second request for the same slice while it runs is ignored. */
  send_pull(&f->b, f->meta, &sl, f->a.addr, NULL);
  stats(&f->b, &st);
  assert_int_equal(st.pulls, 1);
  route(f);
  expect_repair(&f->b, f->meta, &sl, f->other);
  assert_int_equal(f->a.nout, 0);
  assert_has(&f->b, &sl, 1);
  stats(&f->b, &st);
  assert_int_equal(st.pulled, 1);
  assert_int_equal(st.pulls, 0);
  stats(&f->a, &st);
  assert_int_equal(st.served_bytes, sl.size);

  /* Asked again once it is here: a reference and the receipt at once. */
  send_pull(&f->b, f->meta, &sl, f->a.addr, NULL);
  expect_repair(&f->b, f->meta, &sl, NULL);
  assert_has(&f->b, &sl, 2);
  slice_free(&sl);
}

/* The window holds blocks that come early; a bad block ends the pull. */
static void test_pull_order_and_bad_block(void **state) {
  fix_t *f = *state;
  tnode_t *b = &f->b;
  Stratos__Storage__BlockGet *g[ST_RES__PULL_INFLIGHT];
  uint8_t *frame;
  st_res__stats_t st;
  slice_t sl;

  slice_make(&sl, 6 * BLK);
  send_pull(b, f->meta, &sl, f->other, NULL);
  /* One BlockGet for the hash list, to the holder named, answered on
   * ST_CH_RESOURCE_REPLY. */
  assert_int_equal(b->nout, 1);
  assert_memory_equal(b->out[0].to, f->other, ST_ADDR_LEN);
  assert_int_equal(b->out[0].channel, ST_CH_RESOURCE);
  assert_int_equal(b->out[0].type, ST_RES_GET);
  g[0] = stratos__storage__block_get__unpack(NULL, b->out[0].len, b->out[0].data);
  assert_non_null(g[0]);
  assert_true(g[0]->hashes);
  assert_int_equal(g[0]->reply_channel, ST_CH_RESOURCE_REPLY);
  uint64_t base = g[0]->req;
  stratos__storage__block_get__free_unpacked(g[0], NULL);
  clear_out(b);

  frame = malloc(ST_RES_BLOCK_HDR + BLK);
  assert_non_null(frame);
#define ANSWER(req, body, len)                                                          \
  do {                                                                                  \
    for (int k_ = 0; k_ < 8; k_++)                                                      \
      frame[k_] = (uint8_t)((uint64_t)(req) >> (56 - 8 * k_));                          \
    memset(frame + 8, 0, 4);                                                            \
    memcpy(frame + ST_RES_BLOCK_HDR, (body), (len));                                    \
    deliver(b, f->other, ST_CH_RESOURCE_REPLY, ST_RES_BLOCK, frame,                     \
            ST_RES_BLOCK_HDR + (len));                                                  \
  } while (0)

  ANSWER(base, sl.blocks, 6 * ST_HASH_LEN);
  /* The first window of block requests. */
  assert_int_equal(b->nout, ST_RES__PULL_INFLIGHT);
  for (int i = 0; i < ST_RES__PULL_INFLIGHT; i++) {
    g[i] = stratos__storage__block_get__unpack(NULL, b->out[i].len, b->out[i].data);
    assert_non_null(g[i]);
    assert_false(g[i]->hashes);
    assert_int_equal(g[i]->index, i);
    assert_int_equal(g[i]->req, base + 1 + i);
    stratos__storage__block_get__free_unpacked(g[i], NULL);
  }
  clear_out(b);
  /* Blocks 2 and 1 first: held; then 0: all three written, and three
   * more asked for (up to the last block, 5). */
  ANSWER(base + 3, sl.data + 2 * BLK, BLK);
  ANSWER(base + 2, sl.data + 1 * BLK, BLK);
  assert_int_equal(b->nout, 0);
  ANSWER(base + 2, sl.data + 1 * BLK, BLK); /* a duplicate */
  ANSWER(base + 1, sl.data, BLK);
  assert_int_equal(b->nout, 2);
  clear_out(b);
  /* An answer to something never asked is dropped. */
  ANSWER(base + 100, sl.data, BLK);
  stats(b, &st);
  assert_int_equal(st.pulls, 1);
  /* Block 3 with a flipped byte ends the pull; nothing is stored. */
  memcpy(frame + ST_RES_BLOCK_HDR, sl.data + 3 * BLK, BLK);
  frame[ST_RES_BLOCK_HDR + 9] ^= 1;
  {
    uint8_t *copy = malloc(BLK);
    assert_non_null(copy);
    memcpy(copy, frame + ST_RES_BLOCK_HDR, BLK);
    ANSWER(base + 4, copy, BLK);
    free(copy);
  }
  stats(b, &st);
  assert_int_equal(st.pulls, 0);
  assert_int_equal(st.pull_failed, 1);
  assert_int_equal(b->nout, 0);
  assert_int_equal(st_slice_info(b->s, sl.root, &(st_slice_info_t){0}, NULL), ST_ENOENT);
#undef ANSWER
  free(frame);
  slice_free(&sl);
}

static void test_pull_failures(void **state) {
  fix_t *f = *state;
  tnode_t *b = &f->b;
  uint8_t head[ST_RES_BLOCK_HDR];
  st_res__stats_t st;
  slice_t sl;

  slice_make(&sl, 2 * BLK);
  /* The other holder does not have it. */
  send_pull(b, f->meta, &sl, f->a.addr, NULL);
  route(f);
  stats(b, &st);
  assert_int_equal(st.pulls, 0);
  assert_int_equal(st.pull_failed, 1);
  assert_int_equal(b->nout, 0);
  /* Silence. */
  send_pull(b, f->meta, &sl, f->other, NULL);
  clear_out(b);
  f->mono += ST_RES_IDLE_MS;
  st_res__tick(b->e);
  stats(b, &st);
  assert_int_equal(st.pulls, 0);
  assert_int_equal(st.pull_failed, 2);
  /* The holder leaves. */
  send_pull(b, f->meta, &sl, f->other, NULL);
  clear_out(b);
  st_res__peer_down(b->e, f->other);
  stats(b, &st);
  assert_int_equal(st.pull_failed, 3);
  assert_int_equal(st.pulls, 0);
  /* A hash list that does not give the root. */
  send_pull(b, f->meta, &sl, f->other, NULL);
  {
    Stratos__Storage__BlockGet *g =
      stratos__storage__block_get__unpack(NULL, b->out[0].len, b->out[0].data);
    uint8_t *fr = malloc(ST_RES_BLOCK_HDR + 2 * ST_HASH_LEN);
    assert_non_null(g);
    assert_non_null(fr);
    for (int k = 0; k < 8; k++)
      fr[k] = (uint8_t)(g->req >> (56 - 8 * k));
    memset(fr + 8, 0, 4);
    memcpy(fr + ST_RES_BLOCK_HDR, sl.blocks, 2 * ST_HASH_LEN);
    fr[ST_RES_BLOCK_HDR] ^= 1;
    /* From a peer that is not the holder asked: ignored. */
    deliver(b, f->meta, ST_CH_RESOURCE_REPLY, ST_RES_BLOCK, fr,
            ST_RES_BLOCK_HDR + 2 * ST_HASH_LEN);
    stats(b, &st);
    assert_int_equal(st.pulls, 1);
    deliver(b, f->other, ST_CH_RESOURCE_REPLY, ST_RES_BLOCK, fr,
            ST_RES_BLOCK_HDR + 2 * ST_HASH_LEN);
    stratos__storage__block_get__free_unpacked(g, NULL);
    free(fr);
  }
  clear_out(b);
  stats(b, &st);
  assert_int_equal(st.pull_failed, 4);
  assert_int_equal(st.pulls, 0);
  /* Refused outright: pulling from itself; a short frame is banned. */
  send_pull(b, f->meta, &sl, b->addr, NULL);
  stats(b, &st);
  assert_int_equal(st.pulls, 0);
  assert_int_equal(b->nout, 0);
  memset(head, 0, sizeof(head));
  deliver(b, f->other, ST_CH_RESOURCE_REPLY, ST_RES_BLOCK, head, 5);
  assert_int_equal(b->bans, 1);
  slice_free(&sl);
}

/* ---- garbage collection ---- */

static Stratos__Storage__SliceCheck *check_at(tnode_t *n, size_t i) {
  Stratos__Storage__SliceCheck *q;

  assert_true(i < n->nout);
  assert_true(n->out[i].bcast);
  assert_int_equal(n->out[i].channel, ST_CH_META);
  assert_int_equal(n->out[i].type, ST_RES_CHECK);
  q = stratos__storage__slice_check__unpack(NULL, n->out[i].len, n->out[i].data);
  assert_non_null(q);
  return q;
}

static void answer_check(tnode_t *n, const uint8_t *from, uint64_t req, size_t nroots,
                         uint8_t (*roots)[ST_HASH_LEN], const bool *keep, size_t nkeep) {
  Stratos__Storage__SliceCheck a;
  ProtobufCBinaryData *v = calloc(nroots + 1, sizeof(*v));
  protobuf_c_boolean *k = calloc(nkeep + 1, sizeof(*k));
  uint8_t *buf;
  size_t len;

  assert_non_null(v);
  assert_non_null(k);
  stratos__storage__slice_check__init(&a);
  a.req = req;
  for (size_t i = 0; i < nroots; i++) {
    v[i].data = roots[i];
    v[i].len = ST_HASH_LEN;
  }
  for (size_t i = 0; i < nkeep; i++)
    k[i] = keep[i];
  a.n_roots = nroots;
  a.roots = v;
  a.n_keep = nkeep;
  a.keep = k;
  len = stratos__storage__slice_check__get_packed_size(&a);
  buf = malloc(len);
  assert_non_null(buf);
  stratos__storage__slice_check__pack(&a, buf);
  deliver(n, from, ST_CH_RESOURCE, ST_RES_CHECKED, buf, len);
  free(buf);
  free(v);
  free(k);
}

static bool here(tnode_t *n, const slice_t *sl) {
  return st_slice_info(n->s, sl->root, &(st_slice_info_t){0}, NULL) == 0;
}

static void test_gc(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  Stratos__Storage__SliceCheck *q;
  uint8_t roots[3][ST_HASH_LEN];
  bool keep[3];
  st_res__stats_t st;
  slice_t sl[3];
  int idx[3];

  for (int i = 0; i < 3; i++) {
    slice_make(&sl[i], BLK);
    upload(f, n, f->other, (uint64_t)i + 1, &sl[i]);
  }
  /* Nothing is old enough yet: no question. */
  st_res__gc_round(n->e);
  assert_int_equal(n->nout, 0);

  /* Past the grace: one question naming all three, in key order. */
  f->wall_skew = GRACE + 50;
  st_res__gc_round(n->e);
  assert_int_equal(n->nout, 1);
  q = check_at(n, 0);
  assert_int_equal(q->n_roots, 3);
  assert_int_equal(q->n_keep, 0);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(q->roots[i].len, ST_HASH_LEN);
    memcpy(roots[i], q->roots[i].data, ST_HASH_LEN);
    idx[i] = -1;
    for (int j = 0; j < 3; j++)
      if (memcmp(roots[i], sl[j].root, ST_HASH_LEN) == 0)
        idx[i] = j;
    assert_true(idx[i] >= 0);
    if (i)
      assert_true(memcmp(roots[i - 1], roots[i], ST_HASH_LEN) < 0);
  }
  uint64_t req = q->req;
  stratos__storage__slice_check__free_unpacked(q, NULL);
  clear_out(n);

  keep[0] = true;
  keep[1] = false;
  keep[2] = false;
  /* Not from a meta node, not this question, the wrong number of flags,
   * other roots: all ignored. */
  answer_check(n, f->other, req, 3, roots, keep, 3);
  answer_check(n, f->meta, req + 1, 3, roots, keep, 3);
  answer_check(n, f->meta, req, 3, roots, keep, 2);
  {
    uint8_t swapped[3][ST_HASH_LEN];
    memcpy(swapped[0], roots[1], ST_HASH_LEN);
    memcpy(swapped[1], roots[0], ST_HASH_LEN);
    memcpy(swapped[2], roots[2], ST_HASH_LEN);
    answer_check(n, f->meta, req, 3, swapped, keep, 3);
  }
  for (int i = 0; i < 3; i++)
    assert_true(here(n, &sl[i]));
  assert_int_equal(n->bans, 0);

  /* Someone stores the third slice again after the question: kept. */
  usleep(100000);
  send_offer(n, f->other, 50, &sl[idx[2]]);
  expect_stored(n, f->other, 50, &sl[idx[2]]);

  /* The meta node's answer, without the roots echoed. */
  answer_check(n, f->meta, req, 0, NULL, keep, 3);
  assert_true(here(n, &sl[idx[0]]));
  assert_false(here(n, &sl[idx[1]]));
  assert_true(here(n, &sl[idx[2]]));
  stats(n, &st);
  assert_int_equal(st.dropped, 1);
  assert_int_equal(n->nout, 0);

  /* The question expires. */
  stats(n, &st);
  assert_int_equal(st.checks, 1);
  f->mono += ST_RES_IDLE_MS;
  st_res__tick(n->e);
  stats(n, &st);
  assert_int_equal(st.checks, 0);
  keep[0] = false;
  answer_check(n, f->meta, req, 3, roots, keep, 3);
  assert_true(here(n, &sl[idx[0]]));
  for (int i = 0; i < 3; i++)
    slice_free(&sl[i]);
}

/* A large store is asked about a page at a time, at most
 * ST_RES__CHECK_MAX_OPEN questions open, going on where it stopped. */
static void test_gc_pages(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  const size_t total = (size_t)ST_RES_CHECK_MAX * ST_RES__CHECK_MAX_OPEN + 5;
  uint8_t(*seen)[ST_HASH_LEN] = malloc(total * ST_HASH_LEN);
  size_t nseen = 0;

  assert_non_null(seen);
  /* Many two-byte slices, stored straight into the store. */
  for (size_t i = 0; i < total; i++) {
    st_slice_writer_t *w;
    uint8_t h[ST_HASH_LEN], root[ST_HASH_LEN];
    uint8_t d2[2] = {(uint8_t)i, (uint8_t)(i >> 8)};
    st_merkle_leaf(d2, 2, h);
    assert_int_equal(st_merkle_root((const uint8_t(*)[ST_HASH_LEN])h, 1, root), 0);
    assert_int_equal(
      st_slice_write_begin(n->s, root, 2, (const uint8_t(*)[ST_HASH_LEN])h, 1, &w), 0);
    assert_int_equal(st_slice_write_block(w, d2, 2), 0);
    assert_int_equal(st_slice_write_commit(w), 0);
  }
  f->wall_skew = GRACE + 50;
  st_res__gc_round(n->e);
  assert_int_equal(n->nout, ST_RES__CHECK_MAX_OPEN);
  for (size_t i = 0; i < n->nout; i++) {
    Stratos__Storage__SliceCheck *q = check_at(n, i);
    assert_int_equal(q->n_roots, ST_RES_CHECK_MAX);
    for (size_t k = 0; k < q->n_roots; k++)
      memcpy(seen[nseen++], q->roots[k].data, ST_HASH_LEN);
    stratos__storage__slice_check__free_unpacked(q, NULL);
  }
  clear_out(n);
  /* All open: the next round asks nothing. */
  st_res__gc_round(n->e);
  assert_int_equal(n->nout, 0);
  f->mono += ST_RES_IDLE_MS;
  st_res__tick(n->e);
  /* The rest, then from the start again. */
  st_res__gc_round(n->e);
  assert_true(n->nout >= 1);
  {
    Stratos__Storage__SliceCheck *q = check_at(n, 0);
    assert_int_equal(q->n_roots, 5);
    for (size_t k = 0; k < q->n_roots; k++)
      memcpy(seen[nseen++], q->roots[k].data, ST_HASH_LEN);
    stratos__storage__slice_check__free_unpacked(q, NULL);
  }
  assert_int_equal(n->nout, 1);
  assert_int_equal(nseen, total);
  /* Every root once, in key order. */
  for (size_t i = 1; i < nseen; i++)
    assert_true(memcmp(seen[i - 1], seen[i], ST_HASH_LEN) < 0);
  clear_out(n);
  f->mono += ST_RES_IDLE_MS;
  st_res__tick(n->e);
  st_res__gc_round(n->e);
  assert_int_equal(n->nout, ST_RES__CHECK_MAX_OPEN);
  {
    Stratos__Storage__SliceCheck *q = check_at(n, 0);
    assert_memory_equal(q->roots[0].data, seen[0], ST_HASH_LEN);
    stratos__storage__slice_check__free_unpacked(q, NULL);
  }
  free(seen);
}

static void test_gc_interval(void **state) {
  (void)state;
  assert_int_equal(st_res__gc_interval_ms(3600000), 60000);
  assert_int_equal(st_res__gc_interval_ms(200000), 50000);
  assert_int_equal(st_res__gc_interval_ms(4000), 1000);
  assert_int_equal(st_res__gc_interval_ms(1000), 1000);
  assert_int_equal(st_res__gc_interval_ms(0), 1000);
}

/* ---- close ---- */

/* Closing while a commit runs: nothing more is sent, the commit is still
 * recorded, and done comes after it. */
static void test_close_during_commit(void **state) {
  fix_t *f = *state;
  tnode_t *n = &f->a;
  slice_t sl, sl2;

  slice_make(&sl, 2 * BLK);
  slice_make(&sl2, 2 * BLK);
  send_offer(n, f->other, 1, &sl);
  send_offer(n, f->other, 2, &sl2);
  clear_out(n);
  send_slice_block(n, f->other, 1, &sl, 0);
  send_slice_block(n, f->other, 1, &sl, 1);
  send_slice_block(n, f->other, 2, &sl2, 0);
  st_res__close(n->e, on_closed, n);
  assert_int_equal(n->closed, 0);
  run(f);
  assert_int_equal(n->closed, 1);
  n->e = NULL;
  assert_int_equal(n->nout, 0);
  assert_has(n, &sl, 1);
  assert_int_equal(st_slice_info(n->s, sl2.root, &(st_slice_info_t){0}, NULL), ST_ENOENT);
  slice_free(&sl);
  slice_free(&sl2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_upload, setup, teardown),
    cmocka_unit_test_setup_teardown(test_offer_stored, setup, teardown),
    cmocka_unit_test_setup_teardown(test_offer_refusals, setup, teardown),
    cmocka_unit_test_setup_teardown(test_offer_no_room, setup, teardown),
    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
    cmocka_unit_test_setup_teardown(test_data_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_offer_again, setup, teardown),
    cmocka_unit_test_setup_teardown(test_idle, setup, teardown),
    cmocka_unit_test_setup_teardown(test_serve, setup, teardown),
    cmocka_unit_test_setup_teardown(test_serve_corrupt, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pull, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pull_order_and_bad_block, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pull_failures, setup, teardown),
    cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
    cmocka_unit_test_setup_teardown(test_gc_pages, setup, teardown),
    cmocka_unit_test_setup_teardown(test_gc_interval, setup, teardown),
    cmocka_unit_test_setup_teardown(test_close_during_commit, setup, teardown),
  };

  if (st_crypto_init() != 0)
    return 1;
  return cmocka_run_group_tests(tests, NULL, NULL);
}
