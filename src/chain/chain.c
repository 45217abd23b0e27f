/* The chain module's hooks: it owns the value chain on a node that has a
 * genesis.
 *
 * init parses the value part of the genesis, opens the state, creates the
 * mempool and the consensus engine (instance "value", fed by this module
 * with the frames of its two channels) and registers the JSON-RPC
 * methods; start subscribes to the P2P channels and starts the engine.
 * Frames of the mempool channel carry one tx each and go through the same
 * CheckTx as local submissions; accepted txs are gossiped to every peer
 * but the one they came from. A node without a genesis runs no chain: the
 * module then stays idle and answers status requests with ST_ENOENT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include <stratos/st_net.h>
#include "chain/nodes.h"
#include "chain/submit.h"

/* How long a peer that sent an undecodable tx is refused. */
#define BAN_SECONDS 600

static void on_added(void *ud, const uint8_t *tx, size_t len, const uint8_t *peer) {
  st_chain_t *ch = ud;
  static const uint8_t everyone[ST_ADDR_LEN];
  if (ch->node && ch->node->bus) {
    st_net_out_t *out = st_net_out_new(everyone, ST_CH_MEMPOOL, ST_CHAIN__FRAME_TX, tx, len);
    if (peer)
      memcpy(out->except, peer, ST_ADDR_LEN);
    int rc = st_net_send(ch->node->bus, ST_MOD_CHAIN, out);
    if (rc != 0)
      ST_DEBUG("chain", "mempool: tx not gossiped: %s", st_strerror(rc));
  }
  if (ch->cons)
    st_cons_txs_available(ch->cons);
}

static void on_peer_checked(void *ud, int code, const char *log,
                            const uint8_t hash[ST_HASH_LEN], const uint8_t *peer) {
  st_chain_t *ch = ud;
  (void)hash;
  if (code == ST_EPARSE && peer && ch->node && ch->node->bus) {
    ST_DEBUG("chain", "mempool: undecodable tx from a peer: %s", log);
    st_net_ban(ch->node->bus, ST_MOD_CHAIN, peer, BAN_SECONDS, "undecodable tx");
  }
}

static void on_mempool_frame(st_chain_t *ch, const st_net_frame_t *f) {
  if (f->type != ST_CHAIN__FRAME_TX) {
    st_net_ban(ch->node->bus, ST_MOD_CHAIN, f->peer, BAN_SECONDS, "unknown mempool frame type");
    return;
  }
  if (f->len > ch->gen.p.max_tx_bytes) {
    st_net_ban(ch->node->bus, ST_MOD_CHAIN, f->peer, BAN_SECONDS, "oversized tx");
    return;
  }
  st_chain__mempool_submit(ch->mp, f->data, f->len, f->peer, on_peer_checked, ch);
}

/* ---- status ---- */

static void free_json(void *p) { json_decref(p); }

static json_t *time_json(int64_t ms) {
  time_t secs = (time_t)(ms / 1000);
  struct tm tm;
  char buf[64];
  if (ms < 0 || !gmtime_r(&secs, &tm))
    return json_string("");
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(ms % 1000));
  return json_string(buf);
}

static json_t *hex32(const uint8_t *p) {
  char hex[2 * ST_HASH_LEN + 1];
  st_hex_encode(p, ST_HASH_LEN, hex, sizeof(hex));
  return json_string(hex);
}

static json_t *status_json(st_chain_t *ch) {
  st_cons_status_t s;
  memset(&s, 0, sizeof(s));
  st_cons_status(ch->cons, &s);
  uint8_t me[ST_ADDR_LEN];
  st_addr_from_pubkey(ch->node->node_key.pk, me);
  const st_cons_valset_t *vs = NULL;
  if (st_cons_valset_at(ch->cons, s.height + 1, &vs) != 0 || !vs)
    vs = &ch->gen.valset;
  int64_t power = 0;
  for (size_t i = 0; i < vs->n; i++)
    if (memcmp(vs->v[i].addr, me, ST_ADDR_LEN) == 0)
      power = vs->v[i].power;
  char pk[2 * ST_PUBKEY_LEN + 1];
  st_hex_encode(ch->node->node_key.pk, ST_PUBKEY_LEN, pk, sizeof(pk));
  return json_pack("{s:{s:o,s:o,s:I,s:o,s:I,s:b},s:{s:s,s:s,s:I},s:s}", "sync_info",
                   "latest_block_hash", s.height > 0 ? hex32(s.hash) : json_string(""),
                   "latest_app_hash", hex32(s.height > 0 ? s.app_hash : ch->genesis_app_hash),
                   "latest_block_height", (json_int_t)s.height, "latest_block_time",
                   time_json(s.height > 0 ? s.time_ms : ch->gen.p.genesis_time_ms),
                   "earliest_block_height", (json_int_t)s.lowest, "catching_up",
                   (int)s.catching_up, "validator_info", "address", ch->node->node_id,
                   "pub_key", pk, "voting_power", (json_int_t)power, "network",
                   ch->gen.p.chain_id);
}

static void reply_status(st_chain_t *ch, st_bus_t *bus, st_msg_t *req) {
  st_msg_t r = {.type = ST_MSG_STATUS};
  if (ch) {
    json_t *j = status_json(ch);
    r.data = j;
    r.free_fn = free_json;
  } else {
    r.status = ST_ENOENT; /* no genesis, no chain */
  }
  if (st_bus_reply(bus, req, &r) != 0 && r.data)
    json_decref(r.data);
}

/* ---- hooks ---- */

static void free_handle(uv_handle_t *h) { free(h); }

/* The module's state: the node, and the chain when there is one. */
typedef struct mod {
  st_node_t *node;
  st_chain_t *ch;
} mod_t;

static void chain_free(st_chain_t *ch) {
  st_chain__detach(ch);
  if (ch->cons)
    st_cons_free(ch->cons);
  ch->cons = NULL;
  st_chain__close(ch);
  if (ch->wait_timer)
    uv_close((uv_handle_t *)ch->wait_timer, free_handle);
  free(ch);
}

static int chain_new(st_node_t *node, st_chain_t **out) {
  st_chain__genesis_t g;
  char err[256];
  int rc = st_chain__genesis_parse(node->genesis, &g, err, sizeof(err));
  if (rc != 0) {
    ST_ERROR("chain", "genesis.json: %s", err);
    return rc;
  }
  st_chain_t *ch = calloc(1, sizeof(*ch));
  if (!ch)
    abort();
  rc = st_chain__open(ch, node->store, node->loop, &g);
  if (rc != 0) {
    ST_ERROR("chain", "cannot open the value chain's state: %s", st_strerror(rc));
    st_chain__genesis_free(&g);
    free(ch);
    return rc;
  }
  ch->node = node;
  st_chain__attach(ch);
  st_chain__mempool_on_added(ch->mp, on_added, ch);
  ch->wait_timer = malloc(sizeof(*ch->wait_timer));
  if (!ch->wait_timer)
    abort();
  uv_timer_init(node->loop, ch->wait_timer);
  ch->wait_timer->data = ch;

  st_cons_opts_t o;
  memset(&o, 0, sizeof(o));
  o.name = "value";
  o.rpc_prefix = "";
  o.chain_id = ch->gen.p.chain_id;
  o.node = node;
  o.owner = ST_MOD_CHAIN;
  o.ch_consensus = ST_CH_CONSENSUS;
  o.ch_blocksync = ST_CH_BLOCKSYNC;
  o.params = ch->gen.p.cons;
  /* The one per-node consensus setting: a test-only double signer. */
  o.params.byzantine_double_prevote = node->cfg.byzantine_double_prevote;
  o.params.byzantine_from_height = node->cfg.byzantine_from_height;
  o.genesis_valset = &ch->gen.valset;
  o.genesis_time_ms = ch->gen.p.genesis_time_ms;
  memcpy(o.genesis_app_hash, ch->genesis_app_hash, ST_HASH_LEN);
  o.app.propose = st_chain__app_propose;
  o.app.validate = st_chain__app_validate;
  o.app.finalize = st_chain__app_finalize;
  o.app.committed = st_chain__app_committed;
  o.app.has_txs = st_chain__app_has_txs;
  o.app_ud = ch;
  rc = st_cons_new(&o, &ch->cons);
  if (rc != 0) {
    ST_ERROR("chain", "cannot create the consensus engine: %s", st_strerror(rc));
    chain_free(ch);
    return rc;
  }
  if (node->rpc) {
    st_chain__rpc_register(ch, node->rpc);
    st_chain__query_register(ch, node->rpc);
    st_chain__query_nodes_register(ch, node->rpc);
  }
  st_chain__traffic_metrics(ch, node->metrics);
  char h[2 * ST_HASH_LEN + 1];
  st_hex_encode(ch->genesis_app_hash, ST_HASH_LEN, h, sizeof(h));
  ST_INFO("chain", "value chain %s: %zu accounts, %zu validators, genesis app hash %s",
          ch->gen.p.chain_id, ch->gen.naccts, ch->gen.valset.n, h);
  *out = ch;
  return 0;
}

static int chain_init(st_node_t *node, void **state) {
  mod_t *m = calloc(1, sizeof(*m));
  if (!m)
    abort();
  m->node = node;
  if (node->genesis) {
    int rc = chain_new(node, &m->ch);
    if (rc != 0) {
      free(m);
      *state = NULL;
      return rc;
    }
  }
  *state = m;
  return 0;
}

static int chain_start(void *state) {
  mod_t *m = state;
  st_chain_t *ch = m ? m->ch : NULL;
  if (!ch)
    return 0;
  /* Subscribing here rather than in init: every module is attached by
   * now, the net module included. */
  static const uint32_t chans[] = {ST_CH_CONSENSUS, ST_CH_BLOCKSYNC, ST_CH_MEMPOOL};
  for (size_t i = 0; i < sizeof(chans) / sizeof(chans[0]); i++) {
    int rc = st_net_subscribe(ch->node->bus, ST_MOD_CHAIN, chans[i]);
    if (rc != 0)
      ST_WARN("chain", "cannot subscribe to P2P channel %u: %s", (unsigned)chans[i],
              st_strerror(rc));
  }
  int rc = st_cons_start(ch->cons);
  if (rc != 0)
    ST_ERROR("chain", "cannot start the consensus engine: %s", st_strerror(rc));
  return rc;
}

static void chain_on_msg(void *state, st_msg_t *msg) {
  mod_t *m = state;
  if (!m || (msg->flags & ST_MSG_F_REPLY))
    return;
  st_chain_t *ch = m->ch;
  if (msg->type == ST_MSG_STATUS_REQ) {
    reply_status(ch, m->node->bus, msg);
    return;
  }
  if (!ch)
    return;
  switch (msg->type) {
  case ST_MSG_NET_FRAME: {
    const st_net_frame_t *f = msg->data;
    if (!f)
      return;
    if (f->channel == ST_CH_MEMPOOL)
      on_mempool_frame(ch, f);
    else if (f->channel == ST_CH_CONSENSUS || f->channel == ST_CH_BLOCKSYNC)
      st_cons_on_frame(ch->cons, f);
    break;
  }
  case ST_MSG_NET_PEER: {
    const st_net_peer_event_t *ev = msg->data;
    if (ev)
      st_cons_on_peer(ch->cons, ev->peer, ev->up);
    break;
  }
  default:
    break;
  }
}

static void chain_stop(void *state) {
  mod_t *m = state;
  if (!m)
    return;
  if (m->ch)
    chain_free(m->ch);
  free(m);
}

const st_module_t st_chain_module = {
  .name = "chain",
  .id = ST_MOD_CHAIN,
  .init = chain_init,
  .start = chain_start,
  .on_msg = chain_on_msg,
  .stop = chain_stop,
};
