/* The consensus engine under faults: a crash in the middle of a height
 * and a restart from the WAL, a sign state that forbids a vote, a
 * validator that double-signs, a node that joins late, forged
 * proposals and votes from a peer, a node whose state diverged, and a
 * chain that waits for txs. */
#include "sim.h"

/* ---- crash after prevoting, restart from the WAL ---- */

static int64_t crash_h;
static bool crashed;

static void crash_on_prevote(sim_node_t *n, const sim_vote_t *v) {
  if (crashed || v->type != STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE || v->h != crash_h)
    return;
  crashed = true;
  /* The prevote is out; the node dies, and a second node is cut off so
   * that the two left cannot decide without the crashed one. */
  sim_crash_node(n->sim, n->idx);
  sim_isolate(n->sim, 2, true);
}

static bool pred_crashed(sim_t *s, void *ud) {
  (void)s;
  (void)ud;
  return crashed;
}

static void test_crash_restart_wal(void **state) {
  (void)state;
  sim_t *s = sim_new(4, NULL);
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  crash_h = 3;
  crashed = false;
  s->nodes[3].on_own_vote = crash_on_prevote;
  assert_true(sim_run(s, pred_crashed, NULL, 15000));
  size_t votes_before = s->nodes[3].nvotes;
  assert_true(votes_before > 0);
  /* Nodes 0 and 1 alone hold half the power: no height is decided. */
  sim_run(s, NULL, NULL, 700);
  int64_t h0 = sim_height(s, 0);
  assert_true(h0 <= crash_h);
  /* The sign state on disk holds the prevote of height 3. */
  st_cons__ss_t ss;
  char dir[PATH_MAX + 16];
  snprintf(dir, sizeof(dir), "%s/data/value", s->nodes[3].node.home);
  assert_int_equal(st_cons__ss_load(&ss, dir), 0);
  assert_int_equal(ss.height, crash_h);
  assert_true(ss.step >= ST_CONS__SIGN_PREVOTE);
  st_cons__ss_free(&ss);
  /* Restart: the WAL of the height is replayed and what was signed is
   * known again. */
  s->nodes[3].on_own_vote = NULL;
  sim_start_node(s, 3);
  st_cons_t *c3 = s->nodes[3].cons;
  if (c3->h == crash_h) {
    assert_true(c3->nown > 0);
    assert_int_not_equal(c3->step, ST_CONS__STEP_NEWHEIGHT);
  }
  /* With three of four up, heights are decided again. */
  assert_true(sim_wait_height(s, 0xb, crash_h + 2, 20000));
  sim_isolate(s, 2, false);
  assert_true(sim_wait_height(s, 0xf, crash_h + 4, 20000));
  sim_check_agreement(s, 0xf);
  /* Across both lives, node 3 never signed two different votes for one
   * height, round and type. */
  assert_true(s->nodes[3].nvotes > votes_before);
  for (int i = 0; i < 4; i++)
    sim_check_no_double_sign(&s->nodes[i]);
  sim_free(s);
}

/* ---- a sign state that forbids the first votes ---- */

static bool pred_voted_after(sim_t *s, void *ud) {
  const int64_t *h = ud;
  const sim_node_t *n = &s->nodes[0];
  for (size_t i = 0; i < n->nvotes; i++)
    if (n->votes[i].h > *h)
      return true;
  return false;
}

static void test_sign_state_refusal(void **state) {
  (void)state;
  sim_t *s = sim_new(4, NULL);
  /* Node 0 "already signed" a prevote for some other block at 1/0. */
  char dir[PATH_MAX + 16];
  snprintf(dir, sizeof(dir), "%s/data/value", s->nodes[0].node.home);
  assert_int_equal(sim_mkdir_p(dir), 0);
  st_cons__ss_t ss;
  assert_int_equal(st_cons__ss_load(&ss, dir), 0);
  uint8_t other[ST_HASH_LEN], *body, sig[ST_SIG_LEN];
  size_t blen;
  memset(other, 0x77, sizeof(other));
  st_cons__vote_body_encode(SIM_CHAIN, STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE, 1, 0, other, 1,
                            s->nodes[0].addr, &body, &blen);
  assert_int_equal(st_sign(&s->nodes[0].key, ST_DOM_VOTE, SIM_CHAIN, body, blen, sig), 0);
  assert_int_equal(
    st_cons__ss_save(&ss, 1, 0, ST_CONS__SIGN_PREVOTE, false, other, body, blen, sig), 0);
  free(body);
  st_cons__ss_free(&ss);
  sim_log_capture(s);
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  assert_true(sim_wait_height(s, 0xf, 3, 20000));
  int64_t one = 1;
  assert_true(sim_run(s, pred_voted_after, &one, 10000));
  sim_log_release();
  /* Node 0 refused any other prevote at 1/0 (and a proposal, an earlier
   * step) and said so; it sent only the stored prevote there. */
  assert_true(sim_log_has("refusing to sign"));
  const sim_node_t *n = &s->nodes[0];
  bool later = false;
  for (size_t i = 0; i < n->nvotes; i++) {
    const sim_vote_t *v = &n->votes[i];
    if (v->h == 1 && v->r == 0 && v->type == STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE) {
      assert_false(v->nil);
      assert_memory_equal(v->hash, other, ST_HASH_LEN);
    }
    if (v->h > 1)
      later = true;
  }
  assert_true(later);
  sim_check_no_double_sign(n);
  sim_check_agreement(s, 0xf);
  sim_free(s);
}

/* ---- a validator that signs two prevotes per round ---- */

static bool pred_evidence(sim_t *s, void *ud) {
  (void)ud;
  for (int i = 0; i < 3; i++)
    if (s->nodes[i].app.nevidence == 0)
      return false;
  return true;
}

static void test_byzantine_evidence(void **state) {
  (void)state;
  sim_t *s = sim_new(4, NULL);
  s->nodes[3].byzantine = true;
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  assert_true(sim_run(s, pred_evidence, NULL, 20000));
  for (int i = 0; i < 3; i++) {
    sim_node_t *n = &s->nodes[i];
    assert_memory_equal(n->app.ev_validator, s->nodes[3].addr, ST_ADDR_LEN);
    assert_true(n->app.ev_height >= 1);
    /* Double votes are evidence, not a reason to ban the relayers. */
    assert_int_equal(n->nbans, 0);
    sim_check_no_double_sign(n);
  }
  /* The chain went on and agrees; the evidence is recorded as committed
   * and is not included twice. */
  int64_t h = sim_height(s, 0);
  assert_true(sim_wait_height(s, 0x7, h + 3, 20000));
  sim_check_agreement(s, 0x7);
  st_cons_t *c = s->nodes[0].cons;
  st_txn_t *txn;
  uint8_t key[ST_ADDR_LEN + 13];
  memcpy(key, s->nodes[3].addr, ST_ADDR_LEN);
  st_cons__be64(key + ST_ADDR_LEN, (uint64_t)s->nodes[0].app.ev_height);
  assert_int_equal(st_txn_begin(s->nodes[0].node.store, false, &txn), 0);
  int found = 0;
  for (uint32_t r = 0; r < 8 && !found; r++) {
    st_cons__be32(key + ST_ADDR_LEN + 8, r);
    key[ST_ADDR_LEN + 12] = STRATOS__CONS__VOTE_TYPE__VOTE_PREVOTE;
    found = st_cons__evidence_committed(c, txn, key);
  }
  st_txn_abort(txn);
  assert_int_equal(found, 1);
  /* The double-signer's two prevotes were indeed different. */
  bool doubled = false;
  const sim_node_t *b = &s->nodes[3];
  for (size_t i = 0; i < b->nvotes && !doubled; i++)
    for (size_t j = i + 1; j < b->nvotes && !doubled; j++)
      doubled = b->votes[i].h == b->votes[j].h && b->votes[i].r == b->votes[j].r &&
                b->votes[i].type == b->votes[j].type && b->votes[i].nil != b->votes[j].nil;
  assert_true(doubled);
  sim_free(s);
}

/* ---- late join: block sync, then voting ---- */

static bool pred_caught_up(sim_t *s, void *ud) {
  (void)ud;
  return sim_height(s, 3) >= sim_height(s, 0) - 1 && s->nodes[3].cons->synced_blocks >= 5;
}

static void test_late_join(void **state) {
  (void)state;
  sim_t *s = sim_new(4, NULL);
  for (int i = 0; i < 3; i++)
    sim_start_node(s, i);
  assert_true(sim_wait_height(s, 0x7, 8, 20000));
  sim_start_node(s, 3);
  assert_true(sim_run(s, pred_caught_up, NULL, 20000));
  int64_t joined = sim_height(s, 3);
  /* Now it votes in consensus: its signed votes appear above the height
   * it synced to, and the network goes on with it. */
  const sim_node_t *n = &s->nodes[3];
  assert_true(sim_wait_height(s, 0xf, joined + 4, 20000));
  bool voted = false;
  for (size_t i = 0; i < n->nvotes; i++)
    if (n->votes[i].h > joined && n->votes[i].type == STRATOS__CONS__VOTE_TYPE__VOTE_PRECOMMIT)
      voted = true;
  assert_true(voted);
  assert_false(n->cons->catching_up);
  sim_check_agreement(s, 0xf);
  for (int i = 0; i < 4; i++)
    assert_int_equal(s->nodes[i].nbans, 0);
  sim_free(s);
}

/* ---- forged messages get their sender banned ---- */

typedef enum { GOOD, BAD_SIG, WRONG_CHAIN, WEAK_COMMIT } craft_t;

/* Builds a proposal for node 0's current height at round r, as the
 * round's proposer would, spoiled as asked. */
static void craft_proposal(sim_t *s, int32_t r, craft_t how, uint8_t **out, size_t *outlen) {
  st_cons_t *c = s->nodes[0].cons;
  const char *chain = how == WRONG_CHAIN ? "other-chain" : SIM_CHAIN;
  size_t pidx = st_cons_proposer_index(c, c->h, r);
  int who = sim_node_of(s, c->vs_cur->vs.v[pidx].addr);
  assert_true(who >= 0);
  sim_node_t *pn = &s->nodes[who];

  /* The parent's commit, from node 0's store. */
  st_txn_t *txn;
  const void *p;
  size_t n;
  assert_int_equal(st_txn_begin(s->nodes[0].node.store, false, &txn), 0);
  assert_int_equal(st_cons__store_commit(c, txn, c->latest, &p, &n), 0);
  Stratos__Cons__Commit *lc = stratos__cons__commit__unpack(NULL, n, p);
  st_txn_abort(txn);
  assert_non_null(lc);
  size_t nsigs = lc->n_sigs;
  if (how == WEAK_COMMIT)
    lc->n_sigs = 1;

  Stratos__Cons__Block blk = STRATOS__CONS__BLOCK__INIT;
  blk.last_commit = lc;
  uint8_t lch[ST_HASH_LEN], evh[ST_HASH_LEN], data[ST_HASH_LEN];
  st_cons__commit_hash(lc, lch);
  st_cons__evidence_root(&blk, evh);
  st_merkle_root(NULL, 0, data);
  Stratos__Cons__Header h;
  stratos__cons__header__init(&h);
  h.chain_id = (char *)(uintptr_t)chain;
  h.height = c->h;
  h.time_ms = c->last_time_ms + 1;
#define H32(f, v) (h.f.data = (uint8_t *)(uintptr_t)(v), h.f.len = ST_HASH_LEN)
  H32(last_block_hash, c->last_hash);
  H32(last_commit_hash, lch);
  H32(data_hash, data);
  H32(validators_hash, c->vs_cur->hash);
  H32(next_validators_hash, c->vs_next->hash);
  H32(app_hash, c->app_hash);
  H32(evidence_hash, evh);
  H32(last_results_hash, c->results_hash);
#undef H32
  h.proposer.data = pn->addr;
  h.proposer.len = ST_ADDR_LEN;
  uint8_t hb[1024];
  blk.header.len = stratos__cons__header__pack(&h, hb);
  blk.header.data = hb;
  uint8_t bhash[ST_HASH_LEN];
  st_hash(ST_DOM_BLOCK_HEADER, hb, blk.header.len, bhash);

  Stratos__Cons__ProposalBody pb;
  stratos__cons__proposal_body__init(&pb);
  pb.chain_id = (char *)(uintptr_t)chain;
  pb.height = c->h;
  pb.round = r;
  pb.pol_round = -1;
  pb.block_hash.data = bhash;
  pb.block_hash.len = ST_HASH_LEN;
  pb.time_ms = st_cons__now_ms();
  pb.proposer.data = pn->addr;
  pb.proposer.len = ST_ADDR_LEN;
  uint8_t body[512], sig[ST_SIG_LEN];
  size_t bl = stratos__cons__proposal_body__pack(&pb, body);
  assert_int_equal(st_sign(&pn->key, ST_DOM_PROPOSAL, chain, body, bl, sig), 0);
  if (how == BAD_SIG)
    sig[10] ^= 0x40;
  Stratos__Cons__Proposal m = STRATOS__CONS__PROPOSAL__INIT;
  m.body.data = body;
  m.body.len = bl;
  m.signature.data = sig;
  m.signature.len = ST_SIG_LEN;
  m.block = &blk;
  *outlen = stratos__cons__proposal__get_packed_size(&m);
  *out = malloc(*outlen);
  assert_non_null(*out);
  stratos__cons__proposal__pack(&m, *out);
  lc->n_sigs = nsigs;
  stratos__cons__commit__free_unpacked(lc, NULL);
}

static void inject(sim_t *s, uint8_t fake, uint32_t ch, uint32_t type, const uint8_t *p,
                   size_t len) {
  st_net_frame_t *f = malloc(sizeof(*f) + len);
  assert_non_null(f);
  memset(f->peer, fake, ST_ADDR_LEN);
  f->channel = ch;
  f->type = type;
  f->len = len;
  memcpy(f->data, p, len);
  st_cons_on_frame(s->nodes[0].cons, f);
  free(f);
}

static const sim_ban_t *ban_of(const sim_node_t *n, uint8_t fake) {
  uint8_t a[ST_ADDR_LEN];
  memset(a, fake, sizeof(a));
  for (size_t i = 0; i < n->nbans; i++)
    if (memcmp(n->bans[i].peer, a, ST_ADDR_LEN) == 0)
      return &n->bans[i];
  return NULL;
}

static void test_forged_messages_banned(void **state) {
  (void)state;
  sim_t *s = sim_new(4, NULL);
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  assert_true(sim_wait_height(s, 0xf, 3, 20000));
  /* Node 0 is left alone: its height stays put while we talk to it. */
  for (int i = 1; i < 4; i++)
    sim_crash_node(s, i);
  sim_run(s, NULL, NULL, 100);
  st_cons_t *c = s->nodes[0].cons;
  int32_t r = c->r + 1;
  uint8_t *p;
  size_t n;
  craft_proposal(s, r, BAD_SIG, &p, &n);
  inject(s, 0xa1, SIM_CH_CONS, ST_CONS__MSG_PROPOSAL, p, n);
  free(p);
  craft_proposal(s, r, WRONG_CHAIN, &p, &n);
  inject(s, 0xa2, SIM_CH_CONS, ST_CONS__MSG_PROPOSAL, p, n);
  free(p);
  craft_proposal(s, r, WEAK_COMMIT, &p, &n);
  inject(s, 0xa3, SIM_CH_CONS, ST_CONS__MSG_PROPOSAL, p, n);
  free(p);
  /* Garbage, and a vote from a key outside the validator set. */
  static const uint8_t junk[] = {0x0a, 0xff, 0xff, 0x01, 0x02};
  inject(s, 0xa4, SIM_CH_CONS, ST_CONS__MSG_VOTE, junk, sizeof(junk));
  st_keypair_t stranger;
  uint8_t seed[ST_SEED_LEN] = {0x99}, saddr[ST_ADDR_LEN], *body, sig[ST_SIG_LEN];
  size_t blen;
  st_key_from_seed(seed, &stranger);
  st_addr_from_pubkey(stranger.pk, saddr);
  st_cons__vote_body_encode(SIM_CHAIN, 1, c->h, c->r, NULL, 1, saddr, &body, &blen);
  st_sign(&stranger, ST_DOM_VOTE, SIM_CHAIN, body, blen, sig);
  st_cons__vote_t *v;
  const char *why;
  assert_int_equal(st_cons__vote_from_parts(SIM_CHAIN, body, blen, sig, ST_SIG_LEN, &v, &why), 0);
  inject(s, 0xa5, SIM_CH_CONS, ST_CONS__MSG_VOTE, v->msg, v->msg_len);
  st_cons__vote_free(v);
  free(body);
  /* A proposal that is right in every respect is taken, its sender not
   * banned: the checks above are not refusing everything. */
  st_cons__round_t *rs = st_cons__round_get(c, r, false);
  assert_true(!rs || !rs->proposal);
  craft_proposal(s, r, GOOD, &p, &n);
  inject(s, 0xa6, SIM_CH_CONS, ST_CONS__MSG_PROPOSAL, p, n);
  free(p);
  rs = st_cons__round_get(c, r, false);
  assert_non_null(rs);
  assert_non_null(rs->proposal);
  sim_run(s, NULL, NULL, 100);
  const sim_node_t *n0 = &s->nodes[0];
  const sim_ban_t *b;
  assert_non_null(b = ban_of(n0, 0xa1));
  assert_non_null(strstr(b->reason, "bad proposal signature"));
  assert_non_null(b = ban_of(n0, 0xa2));
  assert_non_null(strstr(b->reason, "another chain id"));
  assert_non_null(b = ban_of(n0, 0xa3));
  assert_non_null(strstr(b->reason, "last commit"));
  assert_non_null(strstr(b->reason, "+2/3"));
  assert_non_null(b = ban_of(n0, 0xa4));
  assert_non_null(b = ban_of(n0, 0xa5));
  assert_non_null(strstr(b->reason, "not in the set"));
  assert_null(ban_of(n0, 0xa6));
  assert_int_equal(n0->nbans, 5);
  sim_free(s);
}

/* ---- a node whose state diverged halts ---- */

static void test_app_hash_mismatch_halts(void **state) {
  (void)state;
  sim_t *s = sim_new(4, NULL);
  s->nodes[3].app.diverge_at = 3;
  sim_log_capture(s);
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  assert_true(sim_wait_height(s, 0x7, 7, 20000));
  sim_run(s, NULL, NULL, 200);
  sim_log_release();
  assert_true(s->nodes[3].cons->halted);
  assert_int_equal(sim_height(s, 3), 3);
  assert_true(sim_log_has("app hash mismatch at height 4: ours "));
  sim_check_agreement(s, 0x7);
  /* Up to the divergence the fourth agreed in blocks. */
  for (int64_t h = 1; h <= 3; h++)
    assert_memory_equal(s->nodes[3].app.block_hash[h], s->nodes[0].app.block_hash[h],
                        ST_HASH_LEN);
  sim_free(s);
}

/* ---- create_empty_blocks = false ---- */

static void test_wait_for_txs(void **state) {
  (void)state;
  sim_t *s = sim_new(4, NULL);
  s->params.create_empty_blocks = false;
  for (int i = 0; i < 4; i++)
    sim_start_node(s, i);
  assert_true(sim_wait_height(s, 0xf, 1, 10000));
  sim_run(s, NULL, NULL, 800);
  for (int i = 0; i < 4; i++)
    assert_int_equal(sim_height(s, i), 1);
  /* A tx reaches the mempool of the next proposer only: it proposes, and
   * its proposal ends the others' wait. */
  st_cons_t *c = s->nodes[0].cons;
  size_t pidx = st_cons_proposer_index(c, 2, 0);
  int who = sim_node_of(s, c->vs_cur->vs.v[pidx].addr);
  assert_true(who >= 0);
  sim_add_tx(&s->nodes[who], "pay");
  assert_true(sim_wait_height(s, 0xf, 2, 10000));
  for (int i = 0; i < 4; i++)
    assert_int_equal(s->nodes[i].app.ntxs_committed, 1);
  sim_run(s, NULL, NULL, 600);
  for (int i = 0; i < 4; i++)
    assert_int_equal(sim_height(s, i), 2);
  /* Every mempool has one: the next block comes too. */
  for (int i = 0; i < 4; i++)
    sim_add_tx(&s->nodes[i], "again");
  assert_true(sim_wait_height(s, 0xf, 3, 10000));
  for (int i = 0; i < 4; i++)
    assert_int_equal(s->nodes[i].app.ntxs_committed, 2);
  sim_check_agreement(s, 0xf);
  sim_free(s);
}

/* ---- a validator set change takes effect two heights later ---- */

static void test_valset_change(void **state) {
  (void)state;
  int64_t powers[5] = {10, 10, 10, 10, 0};
  sim_t *s = sim_new(5, powers);
  /* At height 3 the application adds node 4 and doubles node 0. */
  for (int i = 0; i < 5; i++) {
    s->nodes[i].app.change_at = 3;
    int64_t np[5] = {20, 10, 10, 10, 10};
    memcpy(s->nodes[i].app.next_powers, np, sizeof(np));
  }
  for (int i = 0; i < 5; i++)
    sim_start_node(s, i);
  assert_true(sim_wait_height(s, 0x1f, 8, 20000));
  sim_check_agreement(s, 0x1f);
  st_cons_t *c = s->nodes[1].cons;
  const st_cons_valset_t *vs;
  assert_int_equal(st_cons_valset_at(c, 4, &vs), 0);
  assert_int_equal(vs->n, 4);
  assert_int_equal(st_cons_valset_at(c, 5, &vs), 0);
  assert_int_equal(vs->n, 5);
  int64_t total = 0;
  for (size_t i = 0; i < vs->n; i++)
    total += vs->v[i].power;
  assert_int_equal(total, 60);
  /* Node 4 signed nothing before height 5 and votes from there on. */
  const sim_node_t *n4 = &s->nodes[4];
  bool late = false;
  for (size_t i = 0; i < n4->nvotes; i++) {
    assert_true(n4->votes[i].h >= 5);
    late = true;
  }
  assert_true(late);
  /* Headers commit to the sets: height 4's next set is the new one. */
  uint8_t h4[ST_HASH_LEN], h5[ST_HASH_LEN];
  assert_int_equal(st_cons_valset_at(c, 4, &vs), 0);
  st_cons_valset_hash(vs, h4);
  assert_int_equal(st_cons_valset_at(c, 5, &vs), 0);
  st_cons_valset_hash(vs, h5);
  assert_memory_not_equal(h4, h5, ST_HASH_LEN);
  st_txn_t *txn;
  const void *p;
  size_t len;
  assert_int_equal(st_txn_begin(s->nodes[1].node.store, false, &txn), 0);
  assert_int_equal(st_cons__store_block(c, txn, 4, &p, &len), 0);
  st_cons__block_t *b;
  const char *why;
  assert_int_equal(st_cons__block_decode(SIM_CHAIN, p, len, &c->lim, &b, &why), 0);
  st_txn_abort(txn);
  assert_memory_equal(b->hdr->validators_hash.data, h4, ST_HASH_LEN);
  assert_memory_equal(b->hdr->next_validators_hash.data, h5, ST_HASH_LEN);
  st_cons__block_free(b);
  for (int i = 0; i < 5; i++)
    sim_check_no_double_sign(&s->nodes[i]);
  sim_free(s);
}

int main(void) {
  st_log_set_level(getenv("SIM_LOG") ? ST_LOG_INFO : ST_LOG_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_crash_restart_wal),
    cmocka_unit_test(test_sign_state_refusal),
    cmocka_unit_test(test_byzantine_evidence),
    cmocka_unit_test(test_late_join),
    cmocka_unit_test(test_forged_messages_banned),
    cmocka_unit_test(test_app_hash_mismatch_halts),
    cmocka_unit_test(test_wait_for_txs),
    cmocka_unit_test(test_valset_change),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
