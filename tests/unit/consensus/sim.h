/* An in-process network of consensus engines on one uv loop, for the
 * consensus unit tests.
 *
 * Each simulated node has its own bus, LMDB store, node key and home
 * directory. On each bus a small "net" module takes ST_MSG_NET_SEND and
 * delivers copies of the frame (as st_net_frame_t, with the sender's
 * address as peer) to the other nodes' owner module, which feeds them to
 * st_cons_on_frame. Links can be cut (partitions), nodes crashed (engine
 * freed, store closed) and restarted (store reopened, engine recreated).
 * The net module also records what each node signed and sent, and every
 * ban it asked for. The application is tiny: txs are opaque bytes, the
 * state is a count and a hash chain over them, the app hash is that
 * hash. */
#ifndef STRATOS_TESTS_CONSENSUS_SIM_H
#define STRATOS_TESTS_CONSENSUS_SIM_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include "test_tmp.h"
#include <uv.h>

#include <stratos/st_bus.h>
#include <stratos/st_consensus.h>
#include <stratos/st_crypto.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_net.h>
#include <stratos/st_node.h>
#include <stratos/st_store.h>

#include "consensus/consensus_private.h"

/* Each test program uses a part of the harness. */
#pragma GCC diagnostic ignored "-Wunused-function"

#define SIM_MAXN 8
#define SIM_MAXH 256
#define SIM_MAXVOTES 8192
#define SIM_MAXBANS 64
#define SIM_CH_CONS ST_CH_CONSENSUS
#define SIM_CH_SYNC ST_CH_BLOCKSYNC
#define SIM_CHAIN "test-chain"

typedef struct sim sim_t;

typedef struct sim_vote {
  int64_t h;
  int32_t r;
  int type;
  bool nil;
  uint8_t hash[ST_HASH_LEN];
} sim_vote_t;

typedef struct sim_ban {
  uint8_t peer[ST_ADDR_LEN];
  char reason[96];
} sim_ban_t;

typedef struct sim_app {
  uint64_t count;
  uint8_t hash[ST_HASH_LEN];
  int64_t height;
  int64_t diverge_at; /* 0: never */
  /* what finalize saw, by height (persist across restarts) */
  uint8_t block_hash[SIM_MAXH][ST_HASH_LEN];
  uint8_t app_hash[SIM_MAXH][ST_HASH_LEN];
  uint8_t proposer[SIM_MAXH][ST_ADDR_LEN];
  int64_t max_h;
  int64_t nevidence;
  uint8_t ev_validator[ST_ADDR_LEN];
  int64_t ev_height;
  /* txs waiting to be proposed */
  uint8_t pend[16][32];
  size_t pend_len[16];
  size_t npend;
  int64_t ntxs_committed;
  /* At finalize of this height, report next_powers as the new set. */
  int64_t change_at;
  int64_t next_powers[SIM_MAXN];
} sim_app_t;

typedef struct sim_node {
  sim_t *sim;
  int idx;
  bool up;
  bool byzantine;
  st_node_t node;
  st_cons_t *cons;
  st_keypair_t key;
  uint8_t addr[ST_ADDR_LEN];
  st_db_t app_db;
  sim_app_t app;
  sim_vote_t votes[SIM_MAXVOTES]; /* own signed votes it sent */
  size_t nvotes;
  sim_ban_t bans[SIM_MAXBANS];
  size_t nbans;
  size_t frames_in;
  /* Called after a vote this node signed has been sent (may crash it). */
  void (*on_own_vote)(struct sim_node *n, const sim_vote_t *v);
} sim_node_t;

struct sim {
  uv_loop_t loop;
  int n;
  sim_node_t nodes[SIM_MAXN];
  bool cut[SIM_MAXN][SIM_MAXN];
  st_cons_valset_t vs;
  st_cons_validator_t vals[SIM_MAXN];
  st_cons_params_t params;
  int64_t genesis_time;
  char root[1024];
  unsigned drop_pct;  /* share of frames lost on every link */
  uint64_t rng;       /* xorshift state for drops */
  uint64_t dropped;
};

static uint32_t sim_rand(sim_t *s) {
  uint64_t x = s->rng ? s->rng : 0x9e3779b97f4a7c15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  s->rng = x;
  return (uint32_t)(x >> 16);
}

/* ---- files ---- */

#define sim_mkdir_p st_test_mkdir_p

static void sim_tmpdir(char *out, size_t cap, const char *what) {
  char prefix[64];
  snprintf(prefix, sizeof(prefix), "cons-%s", what);
  st_test_tmpdir(out, cap, prefix);
}

/* ---- the test application ---- */

static void app_save(sim_node_t *n, st_txn_t *txn) {
  uint8_t v[8 + ST_HASH_LEN + 8];
  st_cons__be64(v, n->app.count);
  memcpy(v + 8, n->app.hash, ST_HASH_LEN);
  st_cons__be64(v + 8 + ST_HASH_LEN, (uint64_t)n->app.height);
  assert_int_equal(st_kv_put(txn, n->app_db, "s", 1, v, sizeof(v)), 0);
}

static void app_load(sim_node_t *n) {
  st_txn_t *txn;
  const void *p;
  size_t len;
  assert_int_equal(st_store_db(n->node.store, "app_state", &n->app_db), 0);
  assert_int_equal(st_txn_begin(n->node.store, false, &txn), 0);
  if (st_kv_get(txn, n->app_db, "s", 1, &p, &len) == 0 && len == 8 + ST_HASH_LEN + 8) {
    const uint8_t *v = p;
    n->app.count = st_cons__rd64(v);
    memcpy(n->app.hash, v + 8, ST_HASH_LEN);
    n->app.height = (int64_t)st_cons__rd64(v + 8 + ST_HASH_LEN);
  } else {
    n->app.count = 0;
    memset(n->app.hash, 0, ST_HASH_LEN); /* the genesis app hash */
    n->app.height = 0;
  }
  st_txn_abort(txn);
}

static int app_propose(void *ud, int64_t height, size_t max_bytes, size_t max_txs,
                       st_cons_txlist_t *out) {
  sim_node_t *n = ud;
  (void)height;
  (void)max_bytes;
  for (size_t i = 0; i < n->app.npend && i < max_txs; i++)
    st_cons_txlist_add(out, n->app.pend[i], n->app.pend_len[i]);
  return 0;
}

static int app_validate(void *ud, int64_t height, size_t ntxs, const uint8_t *const *txs,
                        const size_t *lens) {
  (void)ud;
  (void)height;
  for (size_t i = 0; i < ntxs; i++)
    if (lens[i] >= 3 && memcmp(txs[i], "bad", 3) == 0)
      return ST_EINVAL;
  return 0;
}

static int app_finalize(void *ud, st_txn_t *txn, const st_cons_block_t *b,
                        uint8_t app_hash[ST_HASH_LEN], uint8_t results[ST_HASH_LEN],
                        st_cons_valset_t *next, bool *changed) {
  sim_node_t *n = ud;
  sim_t *s = n->sim;
  *changed = false;
  assert_int_equal(b->height, n->app.height + 1);
  if (n->app.change_at == b->height) {
    next->v = calloc((size_t)s->n, sizeof(*next->v));
    assert_non_null(next->v);
    next->n = 0;
    for (int i = 0; i < s->n; i++) {
      if (n->app.next_powers[i] <= 0)
        continue;
      st_cons_validator_t *v = &next->v[next->n++];
      memcpy(v->pubkey, s->nodes[i].key.pk, ST_PUBKEY_LEN);
      memcpy(v->addr, s->nodes[i].addr, ST_ADDR_LEN);
      v->power = n->app.next_powers[i];
    }
    *changed = true;
  }
  for (size_t i = 0; i < b->ntxs; i++) {
    st_hash_ctx_t h;
    st_hash_init(&h, ST_DOM_STATE);
    st_hash_update(&h, n->app.hash, ST_HASH_LEN);
    st_hash_update(&h, b->txs[i], b->tx_lens[i]);
    st_hash_final(&h, n->app.hash);
    n->app.count++;
    /* Forget a pending tx once it is in a block. */
    for (size_t j = 0; j < n->app.npend; j++)
      if (n->app.pend_len[j] == b->tx_lens[i] &&
          memcmp(n->app.pend[j], b->txs[i], b->tx_lens[i]) == 0) {
        memmove(&n->app.pend[j], &n->app.pend[j + 1], (n->app.npend - j - 1) * 32);
        memmove(&n->app.pend_len[j], &n->app.pend_len[j + 1],
                (n->app.npend - j - 1) * sizeof(size_t));
        n->app.npend--;
        break;
      }
  }
  n->app.ntxs_committed += (int64_t)b->ntxs;
  if (n->app.diverge_at && b->height >= n->app.diverge_at)
    n->app.hash[0] ^= 0x5a;
  n->app.height = b->height;
  if (b->nevidence > 0) {
    n->app.nevidence += (int64_t)b->nevidence;
    memcpy(n->app.ev_validator, b->evidence[0].validator, ST_ADDR_LEN);
    n->app.ev_height = b->evidence[0].height;
  }
  if (b->height < SIM_MAXH) {
    memcpy(n->app.block_hash[b->height], b->hash, ST_HASH_LEN);
    memcpy(n->app.app_hash[b->height], n->app.hash, ST_HASH_LEN);
    memcpy(n->app.proposer[b->height], b->proposer, ST_ADDR_LEN);
  }
  if (b->height > n->app.max_h)
    n->app.max_h = b->height;
  app_save(n, txn);
  memcpy(app_hash, n->app.hash, ST_HASH_LEN);
  uint8_t c8[8];
  st_cons__be64(c8, n->app.count);
  st_hash(ST_DOM_TX_RESULTS, c8, sizeof(c8), results);
  return 0;
}

static bool app_has_txs(void *ud) {
  sim_node_t *n = ud;
  return n->app.npend > 0;
}

static void sim_add_tx(sim_node_t *n, const char *tx) {
  assert_true(n->app.npend < 16);
  size_t len = strlen(tx);
  assert_true(len <= 32);
  memcpy(n->app.pend[n->app.npend], tx, len);
  n->app.pend_len[n->app.npend] = len;
  n->app.npend++;
  if (n->cons)
    st_cons_txs_available(n->cons);
}

/* ---- the test net module ---- */

static const sim_vote_t *record_vote(sim_node_t *n, const st_net_out_t *o) {
  st_cons__vote_t *v;
  const char *why;
  const sim_vote_t *r = NULL;
  if (st_cons__vote_decode(SIM_CHAIN, o->data, o->len, &v, &why) != 0)
    return NULL;
  if (memcmp(v->validator, n->addr, ST_ADDR_LEN) == 0 && n->nvotes < SIM_MAXVOTES) {
    sim_vote_t *w = &n->votes[n->nvotes++];
    w->h = v->height;
    w->r = v->round;
    w->type = v->type;
    w->nil = v->nil;
    memcpy(w->hash, v->hash, ST_HASH_LEN);
    r = w;
  }
  st_cons__vote_free(v);
  return r;
}

static void deliver(sim_node_t *from, sim_node_t *to, const st_net_out_t *o) {
  st_net_frame_t *f = malloc(sizeof(*f) + o->len);
  assert_non_null(f);
  memcpy(f->peer, from->addr, ST_ADDR_LEN);
  f->channel = o->channel;
  f->type = o->type;
  f->len = o->len;
  memcpy(f->data, o->data, o->len);
  st_msg_t m = {.type = ST_MSG_NET_FRAME, .from = ST_MOD_NET, .to = ST_MOD_TEST, .data = f,
                .len = sizeof(*f) + o->len, .free_fn = free};
  if (st_bus_send(to->node.bus, &m) != 0)
    free(f);
}

static const uint8_t sim_zero[ST_ADDR_LEN];

static void net_on_msg(void *state, st_msg_t *msg) {
  sim_node_t *n = state;
  sim_t *s = n->sim;
  if (msg->type == ST_MSG_NET_BAN) {
    const st_net_ban_t *b = msg->data;
    if (n->nbans < SIM_MAXBANS) {
      memcpy(n->bans[n->nbans].peer, b->peer, ST_ADDR_LEN);
      snprintf(n->bans[n->nbans].reason, sizeof(n->bans[n->nbans].reason), "%s", b->reason);
      n->nbans++;
    }
    return;
  }
  if (msg->type != ST_MSG_NET_SEND || !n->up)
    return;
  const st_net_out_t *o = msg->data;
  const sim_vote_t *own = NULL;
  if (o->channel == SIM_CH_CONS && o->type == ST_CONS__MSG_VOTE)
    own = record_vote(n, o);
  bool bcast = memcmp(o->to, sim_zero, ST_ADDR_LEN) == 0;
  for (int j = 0; j < s->n; j++) {
    sim_node_t *t = &s->nodes[j];
    if (j == n->idx || !t->up || s->cut[n->idx][j])
      continue;
    if (bcast ? memcmp(o->except, t->addr, ST_ADDR_LEN) == 0
              : memcmp(o->to, t->addr, ST_ADDR_LEN) != 0)
      continue;
    if (s->drop_pct && sim_rand(s) % 100 < s->drop_pct) {
      s->dropped++;
      continue;
    }
    deliver(n, t, o);
  }
  if (own && n->on_own_vote)
    n->on_own_vote(n, own);
}

static void owner_on_msg(void *state, st_msg_t *msg) {
  sim_node_t *n = state;
  if (msg->type == ST_MSG_NET_FRAME && n->cons && n->up) {
    n->frames_in++;
    st_cons_on_frame(n->cons, msg->data);
  }
}

static const st_module_t sim_net_mod = {.name = "net", .id = ST_MOD_NET, .on_msg = net_on_msg};
static const st_module_t sim_owner_mod = {
  .name = "owner", .id = ST_MOD_TEST, .on_msg = owner_on_msg};

/* ---- nodes ---- */

static void sim_open_store(sim_node_t *n) {
  char dir[PATH_MAX + 16];
  snprintf(dir, sizeof(dir), "%s/data", n->node.home);
  assert_int_equal(sim_mkdir_p(dir), 0);
  st_store_opts_t so = {.map_size = 64u << 20, .no_sync = true};
  assert_int_equal(st_store_open(dir, &so, &n->node.store), 0);
  app_load(n);
}

static void sim_notify_peers(sim_t *s, int i, int up) {
  for (int j = 0; j < s->n; j++) {
    if (j == i || s->cut[i][j])
      continue;
    if (s->nodes[j].cons && s->nodes[j].up)
      st_cons_on_peer(s->nodes[j].cons, s->nodes[i].addr, up);
    if (up && s->nodes[i].cons && s->nodes[j].up)
      st_cons_on_peer(s->nodes[i].cons, s->nodes[j].addr, 1);
  }
}

static void sim_start_node(sim_t *s, int i) {
  sim_node_t *n = &s->nodes[i];
  if (!n->node.store)
    sim_open_store(n);
  st_cons_opts_t o;
  memset(&o, 0, sizeof(o));
  o.name = "value";
  o.rpc_prefix = "";
  o.node = &n->node;
  o.owner = ST_MOD_TEST;
  o.ch_consensus = SIM_CH_CONS;
  o.ch_blocksync = SIM_CH_SYNC;
  o.params = s->params;
  o.params.byzantine_double_prevote = n->byzantine;
  o.genesis_valset = &s->vs;
  o.genesis_time_ms = s->genesis_time;
  memset(o.genesis_app_hash, 0, ST_HASH_LEN);
  o.app.propose = app_propose;
  o.app.validate = app_validate;
  o.app.finalize = app_finalize;
  o.app.has_txs = app_has_txs;
  o.app_ud = n;
  assert_int_equal(st_cons_new(&o, &n->cons), 0);
  n->up = true;
  assert_int_equal(st_cons_start(n->cons), 0);
  sim_notify_peers(s, i, 1);
}

/* Kills a node: the engine is dropped and the store closed, as if the
 * process died (the store runs without fsync, but the page cache keeps
 * what was written, as it does across a process crash). */
static void sim_crash_node(sim_t *s, int i) {
  sim_node_t *n = &s->nodes[i];
  if (!n->cons)
    return;
  n->up = false;
  sim_notify_peers(s, i, 0);
  st_cons_free(n->cons);
  n->cons = NULL;
  st_store_close(n->node.store);
  n->node.store = NULL;
}

static void sim_cut(sim_t *s, int i, int j, bool cut) {
  s->cut[i][j] = s->cut[j][i] = cut;
  if (s->nodes[i].cons && s->nodes[j].cons) {
    st_cons_on_peer(s->nodes[i].cons, s->nodes[j].addr, !cut);
    st_cons_on_peer(s->nodes[j].cons, s->nodes[i].addr, !cut);
  }
}

/* Cuts (or heals) every link of node i. */
static void sim_isolate(sim_t *s, int i, bool cut) {
  for (int j = 0; j < s->n; j++)
    if (j != i)
      sim_cut(s, i, j, cut);
}

static int val_cmp(const void *a, const void *b) {
  return memcmp(((const st_cons_validator_t *)a)->addr, ((const st_cons_validator_t *)b)->addr,
                ST_ADDR_LEN);
}

/* Creates n nodes; powers may be NULL (all 10). Nodes are not started. */
static sim_t *sim_new(int n, const int64_t *powers) {
  sim_t *s = calloc(1, sizeof(*s));
  assert_non_null(s);
  assert_true(n <= SIM_MAXN);
  assert_int_equal(st_crypto_init(), 0);
  assert_int_equal(uv_loop_init(&s->loop), 0);
  s->n = n;
  sim_tmpdir(s->root, sizeof(s->root), "sim");
  s->genesis_time = st_cons__now_ms() - 60000;
  s->params = (st_cons_params_t){
    .timeout_propose = 200, .timeout_propose_delta = 50,
    .timeout_prevote = 100, .timeout_prevote_delta = 50,
    .timeout_precommit = 100, .timeout_precommit_delta = 50,
    .timeout_commit = 50, .create_empty_blocks = true,
    .max_block_bytes = 1 << 20, .max_block_txs = 1000,
  };
  for (int i = 0; i < n; i++) {
    sim_node_t *nd = &s->nodes[i];
    nd->sim = s;
    nd->idx = i;
    uint8_t seed[ST_SEED_LEN];
    memset(seed, 0, sizeof(seed));
    seed[0] = (uint8_t)(i + 1);
    seed[1] = 0xc5;
    assert_int_equal(st_key_from_seed(seed, &nd->key), 0);
    st_addr_from_pubkey(nd->key.pk, nd->addr);
    nd->node.loop = &s->loop;
    nd->node.node_key = nd->key;
    snprintf(nd->node.chain_id, sizeof(nd->node.chain_id), "%s", SIM_CHAIN);
    snprintf(nd->node.home, sizeof(nd->node.home), "%s/node%d", s->root, i);
    assert_int_equal(sim_mkdir_p(nd->node.home), 0);
    assert_int_equal(st_bus_init(&s->loop, 1 << 14, &nd->node.bus), 0);
    assert_int_equal(st_bus_attach(nd->node.bus, &sim_net_mod, nd), 0);
    assert_int_equal(st_bus_attach(nd->node.bus, &sim_owner_mod, nd), 0);
  }
  /* A power of 0 leaves the node out of the genesis set (a full node). */
  size_t nv = 0;
  for (int i = 0; i < n; i++) {
    if (powers && powers[i] == 0)
      continue;
    memcpy(s->vals[nv].pubkey, s->nodes[i].key.pk, ST_PUBKEY_LEN);
    memcpy(s->vals[nv].addr, s->nodes[i].addr, ST_ADDR_LEN);
    s->vals[nv].power = powers ? powers[i] : 10;
    nv++;
  }
  qsort(s->vals, nv, sizeof(s->vals[0]), val_cmp);
  s->vs.n = nv;
  s->vs.v = s->vals;
  return s;
}

static void sim_free(sim_t *s) {
  for (int i = 0; i < s->n; i++) {
    sim_node_t *n = &s->nodes[i];
    if (n->cons)
      st_cons_free(n->cons);
    n->cons = NULL;
    n->up = false;
  }
  uv_run(&s->loop, UV_RUN_NOWAIT);
  for (int i = 0; i < s->n; i++) {
    sim_node_t *n = &s->nodes[i];
    st_bus_close(n->node.bus);
  }
  while (uv_run(&s->loop, UV_RUN_NOWAIT) != 0)
    ;
  assert_int_equal(uv_loop_close(&s->loop), 0);
  for (int i = 0; i < s->n; i++)
    if (s->nodes[i].node.store)
      st_store_close(s->nodes[i].node.store);
  st_test_rm_tree(s->root);
  free(s);
}

/* ---- running ---- */

typedef bool (*sim_pred)(sim_t *s, void *ud);

typedef struct sim_wait {
  sim_t *s;
  sim_pred pred;
  void *ud;
  bool ok;
  uint64_t deadline;
} sim_wait_t;

static void sim_check(uv_timer_t *t) {
  sim_wait_t *w = t->data;
  if (w->pred && w->pred(w->s, w->ud)) {
    w->ok = true;
    uv_stop(t->loop);
  } else if (uv_now(t->loop) >= w->deadline) {
    uv_stop(t->loop);
  }
}

/* Runs the loop until pred holds (true) or ms pass (false). A NULL pred
 * just runs for ms. */
static bool sim_run(sim_t *s, sim_pred pred, void *ud, uint64_t ms) {
  uv_timer_t t;
  sim_wait_t w = {.s = s, .pred = pred, .ud = ud};
  uv_update_time(&s->loop);
  w.deadline = uv_now(&s->loop) + ms;
  uv_timer_init(&s->loop, &t);
  t.data = &w;
  uv_timer_start(&t, sim_check, 10, 10);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&s->loop, UV_RUN_NOWAIT);
  return w.ok;
}

static int64_t sim_height(const sim_t *s, int i) {
  st_cons_status_t st;
  if (!s->nodes[i].cons)
    return s->nodes[i].app.max_h;
  st_cons_status(s->nodes[i].cons, &st);
  return st.height;
}

typedef struct sim_hwait {
  int64_t h;
  unsigned mask; /* nodes that must reach h */
} sim_hwait_t;

static bool pred_heights(sim_t *s, void *ud) {
  const sim_hwait_t *w = ud;
  for (int i = 0; i < s->n; i++)
    if ((w->mask & (1u << i)) && sim_height(s, i) < w->h)
      return false;
  return true;
}

/* Prints each node's consensus state, to explain a failed wait. */
static void sim_dump(sim_t *s) {
  for (int i = 0; i < s->n; i++) {
    st_cons_t *c = s->nodes[i].cons;
    if (!c) {
      fprintf(stderr, "node %d: down\n", i);
      continue;
    }
    fprintf(stderr,
            "node %d: latest %lld h %lld r %d step %d locked %d valid %d catching_up %d "
            "halted %d frames %zu\n",
            i, (long long)c->latest, (long long)c->h, c->r, c->step, c->locked_round,
            c->valid_round, c->catching_up, c->halted, s->nodes[i].frames_in);
    if (c->locked)
      fprintf(stderr, "  locked %02x%02x valid %02x%02x\n", c->locked->hash[0],
              c->locked->hash[1], c->validb ? c->validb->hash[0] : 0,
              c->validb ? c->validb->hash[1] : 0);
    for (size_t k = 0; k < c->nrounds; k++) {
      st_cons__round_t *rs = c->rounds[k];
      fprintf(stderr, "  round %d: proposal", rs->round);
      if (rs->proposal)
        fprintf(stderr, " %02x%02x/pol %d", rs->proposal->hash[0], rs->proposal->hash[1],
                rs->proposal->pol_round);
      else
        fprintf(stderr, " -");
      const st_cons__voteset_t *sets[2] = {&rs->prevotes, &rs->precommits};
      for (int t = 0; t < 2; t++) {
        fprintf(stderr, " | %s", t ? "pc" : "pv");
        for (size_t q = 0; q < sets[t]->ntallies; q++)
          if (sets[t]->tallies[q].nil)
            fprintf(stderr, " nil:%lld", (long long)sets[t]->tallies[q].power);
          else
            fprintf(stderr, " %02x%02x:%lld", sets[t]->tallies[q].hash[0],
                    sets[t]->tallies[q].hash[1], (long long)sets[t]->tallies[q].power);
      }
      fprintf(stderr, "\n");
    }
  }
}

static bool sim_wait_height(sim_t *s, unsigned mask, int64_t h, uint64_t ms) {
  sim_hwait_t w = {.h = h, .mask = mask};
  bool ok = sim_run(s, pred_heights, &w, ms);
  if (!ok)
    sim_dump(s);
  return ok;
}

/* Every pair of nodes in mask agrees on block and app hashes at every
 * height both have; returns the lowest max height among them. */
static int64_t sim_check_agreement(sim_t *s, unsigned mask) {
  int64_t low = INT64_MAX;
  for (int i = 0; i < s->n; i++) {
    if (!(mask & (1u << i)))
      continue;
    if (s->nodes[i].app.max_h < low)
      low = s->nodes[i].app.max_h;
    for (int j = i + 1; j < s->n; j++) {
      if (!(mask & (1u << j)))
        continue;
      int64_t m = s->nodes[i].app.max_h < s->nodes[j].app.max_h ? s->nodes[i].app.max_h
                                                                : s->nodes[j].app.max_h;
      for (int64_t h = 1; h <= m && h < SIM_MAXH; h++) {
        assert_memory_equal(s->nodes[i].app.block_hash[h], s->nodes[j].app.block_hash[h],
                            ST_HASH_LEN);
        assert_memory_equal(s->nodes[i].app.app_hash[h], s->nodes[j].app.app_hash[h],
                            ST_HASH_LEN);
      }
    }
  }
  return low;
}

/* No two different votes of node i for one (height, round, type). */
static void sim_check_no_double_sign(const sim_node_t *n) {
  for (size_t a = 0; a < n->nvotes; a++)
    for (size_t b = a + 1; b < n->nvotes; b++) {
      const sim_vote_t *x = &n->votes[a], *y = &n->votes[b];
      if (x->h != y->h || x->r != y->r || x->type != y->type)
        continue;
      assert_int_equal(x->nil, y->nil);
      if (!x->nil)
        assert_memory_equal(x->hash, y->hash, ST_HASH_LEN);
    }
}

static int sim_node_of(const sim_t *s, const uint8_t *addr) {
  for (int i = 0; i < s->n; i++)
    if (memcmp(s->nodes[i].addr, addr, ST_ADDR_LEN) == 0)
      return i;
  return -1;
}

/* ---- logs ---- */

static int sim_log_fd = -1;
static char sim_log_path[1024 + 16];

/* Sends the log to a file, to be searched by sim_log_has. */
static void sim_log_capture(const sim_t *s) {
  snprintf(sim_log_path, sizeof(sim_log_path), "%s/log.txt", s->root);
  sim_log_fd = open(sim_log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  assert_true(sim_log_fd >= 0);
  st_log_set_fd(sim_log_fd);
}

static bool sim_log_has(const char *needle) {
  FILE *f = fopen(sim_log_path, "r");
  if (!f)
    return false;
  char line[1024];
  bool found = false;
  while (!found && fgets(line, sizeof(line), f))
    found = strstr(line, needle) != NULL;
  fclose(f);
  return found;
}

static void sim_log_release(void) {
  st_log_set_fd(2);
  if (sim_log_fd >= 0)
    close(sim_log_fd);
  sim_log_fd = -1;
}

#endif
