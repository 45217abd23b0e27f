/* The chain module as the daemon runs it: its hooks on a real bus with
 * the real consensus engine, one validator (this node), and a stand-in
 * net module that records what the chain sends (subscriptions, gossip,
 * bans). Blocks are made, a tx arriving as a mempool frame is gossiped,
 * committed and indexed, an undecodable frame bans its sender, and the
 * status reply carries the chain's part. */
#include <uv.h>
#include <stratos/st_bus.h>
#include <stratos/st_net.h>
#include <stratos/st_node.h>
#include "chain_test.h"

typedef struct fakenet {
  size_t subs[ST_CH_MAX];
  size_t gossiped;
  uint8_t gossip_except[ST_ADDR_LEN];
  size_t bans;
  char ban_reason[96];
  uint8_t ban_peer[ST_ADDR_LEN];
} fakenet_t;

static fakenet_t net;

static void net_on_msg(void *state, st_msg_t *msg) {
  (void)state;
  if (msg->type == ST_MSG_NET_SUBSCRIBE) {
    const st_net_sub_t *s = msg->data;
    if (s->channel < ST_CH_MAX)
      net.subs[s->channel]++;
  } else if (msg->type == ST_MSG_NET_SEND) {
    const st_net_out_t *o = msg->data;
    if (o->channel == ST_CH_MEMPOOL) {
      net.gossiped++;
      memcpy(net.gossip_except, o->except, ST_ADDR_LEN);
    }
  } else if (msg->type == ST_MSG_NET_BAN) {
    const st_net_ban_t *b = msg->data;
    net.bans++;
    memcpy(net.ban_peer, b->peer, ST_ADDR_LEN);
    snprintf(net.ban_reason, sizeof(net.ban_reason), "%s", b->reason);
  }
}

static const st_module_t fake_net = {.name = "net", .id = ST_MOD_NET, .on_msg = net_on_msg};

/* A stand-in rpc module that keeps the events published to it. */
static json_t *events;

static void rpc_on_msg(void *state, st_msg_t *msg) {
  (void)state;
  /* One message per block: an array of events; the Tx ones are kept. */
  json_t *arr = msg->data;
  if (msg->type == ST_MSG_RPC_EVENT && json_is_array(arr)) {
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e) {
      if (strcmp(json_string_value(json_object_get(e, "type")), "Tx") == 0)
        json_array_append(events, e);
    }
  }
}

static const st_module_t fake_rpc = {.name = "rpc", .id = ST_MOD_RPC, .on_msg = rpc_on_msg};
static void test_on_msg(void *state, st_msg_t *msg) {
  (void)state;
  (void)msg;
}
static const st_module_t test_mod = {.name = "test", .id = ST_MOD_TEST, .on_msg = test_on_msg};

typedef struct fix {
  char home[PATH_MAX];
  uv_loop_t loop;
  st_node_t node;
  void *state;
  uv_timer_t tick;
  int64_t until_ms;
} fix_t;

static void fix_open(fix_t *f, json_t *genesis) {
  char data[PATH_MAX + 8];
  memset(&net, 0, sizeof(net));
  t_make_tmpdir(f->home, sizeof(f->home));
  snprintf(data, sizeof(data), "%s/data", f->home);
  assert_int_equal(t_mkdir_p(data), 0);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  st_node_t *n = &f->node;
  n->loop = &f->loop;
  st_config_defaults(&n->cfg);
  snprintf(n->home, sizeof(n->home), "%s", f->home);
  t_key(7, &n->node_key, NULL);
  uint8_t a[ST_ADDR_LEN];
  st_addr_from_pubkey(n->node_key.pk, a);
  st_addr_encode(ST_HRP_NODE, a, n->node_id, sizeof(n->node_id));
  st_store_opts_t so = {.map_size = 64u << 20, .no_sync = true};
  assert_int_equal(st_store_open(data, &so, &n->store), 0);
  assert_int_equal(st_bus_init(&f->loop, 1024, &n->bus), 0);
  st_bus_attach(n->bus, &fake_net, NULL);
  st_bus_attach(n->bus, &test_mod, NULL);
  st_bus_attach(n->bus, &fake_rpc, NULL);
  json_decref(events);
  events = json_array();
  n->genesis = genesis;
  if (genesis)
    snprintf(n->chain_id, sizeof(n->chain_id), "%s",
             json_string_value(json_object_get(genesis, "chain_id")));
  uv_timer_init(&f->loop, &f->tick);
  f->tick.data = f;
}

static void fix_close(fix_t *f) {
  st_node_t *n = &f->node;
  if (f->state) {
    st_bus_detach(n->bus, ST_MOD_CHAIN);
    st_chain_module.stop(f->state);
  }
  st_bus_close(n->bus);
  uv_close((uv_handle_t *)&f->tick, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  st_store_close(n->store);
  json_decref(n->genesis);
  json_decref(events);
  events = NULL;
  t_remove_tree(f->home);
}

/* Fast consensus timeouts for one validator. */
static json_t *fast_genesis(void) {
  json_t *g = t_genesis_json(4);
  json_t *c = json_object_get(json_object_get(g, "params"), "consensus");
  json_object_set_new(c, "timeout_propose_ms", json_integer(200));
  json_object_set_new(c, "timeout_commit_ms", json_integer(10));
  return g;
}

static void on_tick(uv_timer_t *t) { uv_stop(t->loop); }

/* Runs the loop for ms milliseconds. */
static void run_for(fix_t *f, uint64_t ms) {
  uv_timer_start(&f->tick, on_tick, ms, 0);
  uv_run(&f->loop, UV_RUN_DEFAULT);
}

static int64_t chain_height(fix_t *f) {
  st_db_t meta;
  assert_int_equal(st_store_db(f->node.store, "chain_meta", &meta), 0);
  st_chain__state_t st = {.store = f->node.store, .meta = meta};
  st_txn_t *txn;
  int64_t h = -1;
  assert_int_equal(st_txn_begin(f->node.store, false, &txn), 0);
  assert_int_equal(st_chain__meta_get(&st, txn, &h, NULL), 0);
  st_txn_abort(txn);
  return h;
}

static st_u128 balance_of(fix_t *f, int key) {
  st_db_t acct;
  assert_int_equal(st_store_db(f->node.store, "chain_acct", &acct), 0);
  st_chain__state_t st = {.store = f->node.store, .acct = acct};
  return t_acct_of(&st, key).balance;
}

static st_u128 module_balance(fix_t *f, int which) {
  st_db_t acct;
  assert_int_equal(st_store_db(f->node.store, "chain_acct", &acct), 0);
  st_chain__state_t st = {.store = f->node.store, .acct = acct};
  return t_acct(&st, st_chain__macc(which)).balance;
}

typedef struct status_rx {
  int got;
  int status;
  json_t *j;
} status_rx_t;

static void on_status(st_msg_t *reply, void *ud) {
  status_rx_t *s = ud;
  s->got++;
  s->status = reply->status;
  if (reply->data)
    s->j = json_incref(reply->data);
}

static void ask_status(fix_t *f, status_rx_t *s) {
  memset(s, 0, sizeof(*s));
  st_msg_t req = {.type = ST_MSG_STATUS_REQ, .from = ST_MOD_TEST, .to = ST_MOD_CHAIN};
  assert_int_equal(st_bus_request(f->node.bus, &req, on_status, s, NULL), 0);
  for (int i = 0; i < 100 && !s->got; i++)
    run_for(f, 5);
  assert_int_equal(s->got, 1);
}

static void send_frame(fix_t *f, const uint8_t peer[ST_ADDR_LEN], uint32_t type,
                       const void *data, size_t len) {
  st_net_frame_t *fr = malloc(sizeof(*fr) + len);
  memcpy(fr->peer, peer, ST_ADDR_LEN);
  fr->channel = ST_CH_MEMPOOL;
  fr->type = type;
  fr->len = len;
  memcpy(fr->data, data, len);
  st_msg_t m = {.type = ST_MSG_NET_FRAME, .from = ST_MOD_NET, .to = ST_MOD_CHAIN, .data = fr,
                .len = sizeof(*fr) + len, .free_fn = free};
  assert_int_equal(st_bus_send(f->node.bus, &m), 0);
}

static void test_runs_a_chain(void **state) {
  (void)state;
  fix_t *f = calloc(1, sizeof(*f));
  fix_open(f, fast_genesis());
  assert_int_equal(st_chain_module.init(&f->node, &f->state), 0);
  assert_non_null(f->state);
  st_bus_attach(f->node.bus, &st_chain_module, f->state);
  assert_int_equal(st_chain_module.start(f->state), 0);
  run_for(f, 50);
  assert_int_equal(net.subs[ST_CH_CONSENSUS], 1);
  assert_int_equal(net.subs[ST_CH_BLOCKSYNC], 1);
  assert_int_equal(net.subs[ST_CH_MEMPOOL], 1);
  for (int i = 0; i < 400 && chain_height(f) < 2; i++)
    run_for(f, 10);
  assert_true(chain_height(f) >= 2);

  /* A tx from a peer: checked, gossiped to everyone but that peer,
   * included in a block. */
  uint8_t peer[ST_ADDR_LEN];
  memset(peer, 0x5a, sizeof(peer));
  st_buf_t tx;
  t_send(0, 6, 0, 4242, &tx);
  send_frame(f, peer, ST_CHAIN__FRAME_TX, tx.data, tx.len);
  for (int i = 0; i < 400 && balance_of(f, 6) == 0; i++)
    run_for(f, 10);
  assert_true(balance_of(f, 6) == 4242);
  assert_int_equal(net.gossiped, 1);
  assert_memory_equal(net.gossip_except, peer, ST_ADDR_LEN);
  /* The fee went to the distribution: 1% to the community pool, the rest
   * owed to the validator. */
  assert_true(module_balance(f, ST_MACC_COMMUNITY) == t_fee_of(&tx) / 100);
  assert_true(module_balance(f, ST_MACC_DISTR) == t_fee_of(&tx) - t_fee_of(&tx) / 100);
  /* One Tx event, for WebSocket subscribers. */
  run_for(f, 20);
  uint8_t th[ST_HASH_LEN];
  char hex[2 * ST_HASH_LEN + 1];
  st_chain_tx_hash(tx.data, tx.len, th);
  st_hex_encode(th, ST_HASH_LEN, hex, sizeof(hex));
  assert_int_equal(json_array_size(events), 1);
  json_t *ev = json_array_get(events, 0);
  assert_string_equal(json_string_value(json_object_get(ev, "type")), "Tx");
  json_t *attrs = json_object_get(ev, "attrs");
  assert_string_equal(json_string_value(json_object_get(attrs, "tx.hash")), hex);
  assert_non_null(json_string_value(json_object_get(attrs, "tx.height")));
  assert_non_null(json_string_value(json_object_get(attrs, "message.sender")));
  json_t *data = json_object_get(ev, "data");
  assert_string_equal(json_string_value(json_object_get(data, "hash")), hex);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(data, "tx_result"),
                                                      "code")), 0);
  st_buf_free(&tx);

  /* Undecodable bytes ban the peer; an unknown frame type too. */
  send_frame(f, peer, ST_CHAIN__FRAME_TX, "\x0a\x7fjunk", 6);
  run_for(f, 30);
  assert_int_equal(net.bans, 1);
  assert_memory_equal(net.ban_peer, peer, ST_ADDR_LEN);
  assert_string_equal(net.ban_reason, "undecodable tx");
  send_frame(f, peer, 9, "x", 1);
  run_for(f, 30);
  assert_int_equal(net.bans, 2);
  assert_string_equal(net.ban_reason, "unknown mempool frame type");

  /* The chain's part of status. */
  status_rx_t s;
  ask_status(f, &s);
  assert_int_equal(s.status, 0);
  json_t *si = json_object_get(s.j, "sync_info");
  assert_true(json_integer_value(json_object_get(si, "latest_block_height")) >= 2);
  assert_int_equal(json_string_length(json_object_get(si, "latest_block_hash")), 64);
  assert_int_equal(json_string_length(json_object_get(si, "latest_app_hash")), 64);
  assert_true(json_is_boolean(json_object_get(si, "catching_up")));
  const char *bt = json_string_value(json_object_get(si, "latest_block_time"));
  assert_non_null(bt);
  assert_int_equal(strlen(bt), 24); /* 2026-11-24T08:37:15.393Z */
  json_t *vi = json_object_get(s.j, "validator_info");
  assert_string_equal(json_string_value(json_object_get(vi, "address")), f->node.node_id);
  assert_int_equal(json_integer_value(json_object_get(vi, "voting_power")), 10);
  assert_string_equal(json_string_value(json_object_get(s.j, "network")), T_CHAIN_ID);
  json_decref(s.j);
  fix_close(f);
  free(f);
}

static void test_no_genesis(void **state) {
  (void)state;
  fix_t *f = calloc(1, sizeof(*f));
  fix_open(f, NULL);
  assert_int_equal(st_chain_module.init(&f->node, &f->state), 0);
  st_bus_attach(f->node.bus, &st_chain_module, f->state);
  assert_int_equal(st_chain_module.start(f->state), 0);
  status_rx_t s;
  ask_status(f, &s);
  assert_int_equal(s.status, ST_ENOENT);
  assert_null(s.j);
  assert_int_equal(net.subs[ST_CH_MEMPOOL], 0);
  fix_close(f);
  free(f);
}

static void test_bad_genesis(void **state) {
  (void)state;
  fix_t *f = calloc(1, sizeof(*f));
  json_t *g = fast_genesis();
  json_object_set_new(g, "chain_id", json_string("bad chain"));
  fix_open(f, g);
  assert_int_equal(st_chain_module.init(&f->node, &f->state), ST_ECONFIG);
  assert_null(f->state);
  fix_close(f);
  free(f);
}

int main(void) {
  st_crypto_init();
  st_log_set_level(ST_LOG_WARN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_runs_a_chain),
    cmocka_unit_test(test_no_genesis),
    cmocka_unit_test(test_bad_genesis),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
