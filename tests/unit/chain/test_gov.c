/* Unit tests of governance: proposals checked as a whole change set
 * before anything is written, deposits opening the voting period, the
 * stake-weighted tally to the wei (delegators overriding their
 * validator), quorum, veto, threshold, the changes applied to the params
 * record at the end of the voting period and deposits that go back or
 * to the community pool, never burnt. */
#include "mods_fix.h"

/* gov.c's helpers for the queries (until mods.h declares them). */
int st_chain__gov_get(st_chain__ctx_t *c, uint64_t id, json_t **prop);
int st_chain__gov_tally(st_chain__ctx_t *c, uint64_t id, st_u128 out[4], st_u128 *bonded);

#define T0 1795000000000LL
#define MIN_DEPOSIT 1000
#define DEPOSIT_PERIOD 3600000LL
#define VOTING_PERIOD 7200000LL
#define FRAC(x) ((st_u128)(x) * 1000000000000000ull) /* thousandths */

enum { P = 1, D1, D2, D3, OP1 = 0x11, OP2, OP3, OP4 };

static st_u128 gov_bal(fix_t *f) { return bal(f, st_chain__macc(ST_MACC_GOV)); }
static st_u128 pool_bal(fix_t *f) { return bal(f, st_chain__macc(ST_MACC_COMMUNITY)); }

static bool has_id(fix_t *f, uint8_t kind, uint64_t id) {
  uint8_t k[9] = {kind};
  st_chain__be64(k + 1, id);
  return has(f, k, sizeof(k));
}

static bool has_queue(fix_t *f, uint8_t kind, int64_t t, uint64_t id) {
  uint8_t k[17] = {kind};
  st_chain__be64(k + 1, (uint64_t)t);
  st_chain__be64(k + 9, id);
  return has(f, k, sizeof(k));
}

static bool has_addr(fix_t *f, uint8_t kind, uint64_t id, const uint8_t *a) {
  uint8_t k[9 + ST_ADDR_LEN] = {kind};
  st_chain__be64(k + 1, id);
  memcpy(k + 9, a, ST_ADDR_LEN);
  return has(f, k, sizeof(k));
}

/* The params of the fixture, normalised by the parser itself so that
 * every later parse starts from a set it accepts. */
static void fix_params(fix_t *f) {
  st_chain__params_t p;
  char err[256];
  st_chain__params_defaults(&p);
  snprintf(p.chain_id, sizeof(p.chain_id), "%s", T_CHAIN_ID);
  p.genesis_time_ms = T0 - 1000;
  p.min_deposit = MIN_DEPOSIT;
  p.max_deposit_period_ms = DEPOSIT_PERIOD;
  p.voting_period_ms = VOTING_PERIOD;
  p.quorum = FRAC(334);
  p.threshold = FRAC(500);
  p.veto_threshold = FRAC(334);
  json_t *j = st_chain__params_json(&p);
  assert_non_null(j);
  if (st_chain__params_parse(j, &p, &f->p, err, sizeof(err)) != 0)
    fail_msg("fixture params refused: %s", err);
  json_decref(j);
  assert_true(f->p.min_deposit == MIN_DEPOSIT);
  assert_true(f->p.quorum == FRAC(334));
}

static int setup(void **state) {
  fix_t *f = fix_new(10, T0);
  fix_params(f);
  assert_int_equal(st_chain__params_store(&f->c, &f->p), 0);
  const int accts[] = {P, D1, D2, D3, OP1, OP2, OP3, OP4};
  fund(f, accts, sizeof(accts) / sizeof(accts[0]), T_BALANCE);
  *state = f;
  return 0;
}

/* ---- the bonded set ----
 * OP1: 3001 tokens for 2000 shares (self 1000, D1 600, D2 400)
 * OP2: 1000 tokens for 1000 shares (self 700, D1 300)
 * OP3:  500 tokens for 1000 shares (self 800, D3 200)
 * OP4: not bonded, 5000 for 5000 (D1 5000): its stake never votes. */

static void val(fix_t *f, int op, st_u128 tokens, st_u128 shares, bool bonded) {
  st_val_t v;
  memset(&v, 0, sizeof(v));
  memcpy(v.operator_, addr(op), ST_ADDR_LEN);
  memset(v.pubkey, op + 1, ST_PUBKEY_LEN);
  v.status = bonded ? ST_VAL_BONDED : ST_VAL_UNBONDED;
  v.tokens = tokens;
  v.shares = shares;
  snprintf(v.moniker, sizeof(v.moniker), "v%d", op);
  assert_int_equal(st_chain__val_put(&f->c, &v), 0);
  if (bonded) {
    uint8_t k[1 + ST_ADDR_LEN], pw[8];
    st_chain__be64(pw, (uint64_t)st_chain__val_power(&v));
    assert_int_equal(st_chain__ov_write(&f->ov, ST_CHAIN__SP_STATE, k,
                                        st_chain__k1(k, ST_K_VAL_LAST, v.operator_), pw, 8),
                     0);
  }
}

static void del(fix_t *f, int d, int op, st_u128 shares) {
  uint8_t k[1 + 2 * ST_ADDR_LEN], v[16];
  st_chain__put128(v, shares);
  assert_int_equal(st_chain__ov_write(&f->ov, ST_CHAIN__SP_STATE, k,
                                      st_chain__k2(k, ST_K_DEL, addr(d), addr(op)), v, 16),
                   0);
}

static void bond(fix_t *f) {
  val(f, OP1, 3001, 2000, true);
  val(f, OP2, 1000, 1000, true);
  val(f, OP3, 500, 1000, true);
  val(f, OP4, 5000, 5000, false);
  del(f, OP1, OP1, 1000);
  del(f, D1, OP1, 600);
  del(f, D2, OP1, 400);
  del(f, OP2, OP2, 700);
  del(f, D1, OP2, 300);
  del(f, OP3, OP3, 800);
  del(f, D3, OP3, 200);
  del(f, D1, OP4, 5000);
}

/* ---- messages ---- */

/* As the application does: a refused message leaves nothing behind. */
static int run(fix_t *f, int who, const Stratos__Tx__TxBody *b) {
  return fix_run(f, st_chain__gov_exec, who, b);
}

/* Submits a proposal of n changes given as key, value pairs. */
static int submit(fix_t *f, int who, const char *deposit, size_t n, const char *const *kv) {
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgSubmitProposal m;
  stratos__tx__msg_submit_proposal__init(&m);
  Stratos__Tx__ParamChange ch[16], *chp[16];
  assert_true(n <= 16);
  for (size_t i = 0; i < n; i++) {
    stratos__tx__param_change__init(&ch[i]);
    ch[i].key = mut(kv[2 * i]);
    ch[i].value = mut(kv[2 * i + 1]);
    chp[i] = &ch[i];
  }
  m.title = "Cheaper bytes";
  m.description = "Lower the fee per byte.\nIt is too high.";
  m.n_changes = n;
  m.changes = chp;
  m.deposit = mut(deposit);
  b.msg_case = STRATOS__TX__TX_BODY__MSG_SUBMIT_PROPOSAL;
  b.submit_proposal = &m;
  return run(f, who, &b);
}

static int submit1(fix_t *f, int who, const char *deposit, const char *key,
                   const char *value) {
  const char *kv[] = {key, value};
  return submit(f, who, deposit, 1, kv);
}

static int deposit(fix_t *f, int who, uint64_t id, const char *amount) {
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgDeposit m;
  stratos__tx__msg_deposit__init(&m);
  m.proposal_id = id;
  m.amount = mut(amount);
  b.msg_case = STRATOS__TX__TX_BODY__MSG_DEPOSIT;
  b.deposit = &m;
  return run(f, who, &b);
}

static int vote(fix_t *f, int who, uint64_t id, uint32_t option) {
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgVote m;
  stratos__tx__msg_vote__init(&m);
  m.proposal_id = id;
  m.option = option;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_VOTE;
  b.vote = &m;
  return run(f, who, &b);
}

static bool end_block(fix_t *f, int64_t t) {
  bool changed = true;
  f->c.time_ms = t;
  assert_int_equal(st_chain__gov_end_block(&f->c, &changed), 0);
  return changed;
}

static json_t *prop(fix_t *f, uint64_t id) {
  json_t *j;
  assert_int_equal(st_chain__gov_get(&f->c, id, &j), 0);
  return j;
}

static void assert_status(fix_t *f, uint64_t id, const char *status, const char *result) {
  json_t *j = prop(f, id);
  assert_string_equal(json_string_value(json_object_get(j, "status")), status);
  if (result)
    assert_string_equal(json_string_value(json_object_get(j, "result")), result);
  json_decref(j);
}

static st_chain__params_t params_now(fix_t *f) {
  st_chain__params_t p;
  assert_int_equal(st_chain__params_load(&f->c, &f->p, &p), 0);
  return p;
}

/* Both votes of a validator-heavy proposal: OP1 yes, D1 no (overriding
 * OP1 and OP2 for its own shares), OP2 veto, D3 abstain (OP3 silent). */
static void vote_mixed(fix_t *f, uint64_t id) {
  assert_int_equal(vote(f, D1, id, 1), 0); /* replaced below */
  assert_int_equal(vote(f, OP1, id, 1), 0);
  assert_int_equal(vote(f, D1, id, 3), 0);
  assert_int_equal(vote(f, OP2, id, 4), 0);
  assert_int_equal(vote(f, D3, id, 2), 0);
}

/* ---- tests ---- */

/* The traffic section is governed like the others, within its bounds. */
static void test_submit_traffic(void **state) {
  fix_t *f = *state;
  assert_int_equal(submit1(f, P, "500", "traffic.community_tax_bps", "10001"), ST_EINVAL);
  assert_non_null(strstr(f->log, "params.traffic.community_tax_bps"));
  assert_int_equal(submit1(f, P, "500", "traffic.mature_epoch", "-1"), ST_EINVAL);
  assert_non_null(strstr(f->log, "params.traffic.mature_epoch"));
  assert_int_equal(submit1(f, P, "500", "traffic.mature_epoch", "5"), 0);
}

/* Every refusal of a change set, with its sentence, and nothing written. */
static void test_submit_refused(void **state) {
  fix_t *f = *state;
  static const struct {
    const char *key, *value;
    int code;
    const char *log;
  } bad[] = {
    {"consensus.timeout_commit_ms", "600", ST_EPERM,
     "consensus parameters are fixed at genesis"},
    {"bank.send_enabled", "true", ST_EINVAL, "unknown parameter section bank"},
    {"authmax", "1", ST_EINVAL, "parameter key authmax must be <section>.<name>"},
    {"auth.", "1", ST_EINVAL, "parameter key auth. must be <section>.<name>"},
    {"auth.no_such_thing", "1", ST_EINVAL, "unknown parameter auth.no_such_thing"},
    {"auth.max_memo_bytes.x", "1", ST_EINVAL, "unknown parameter auth.max_memo_bytes.x"},
    {"auth.max_memo_bytes", "12x", ST_EINVAL, "value of auth.max_memo_bytes is not JSON"},
    {"auth.max_memo_bytes", "", ST_EINVAL, "value of auth.max_memo_bytes is not JSON"},
    {"auth.max_memo_bytes", "\"\xff\"", ST_EINVAL, "value of auth.max_memo_bytes is not JSON"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(submit1(f, P, "500", bad[i].key, bad[i].value), bad[i].code);
    assert_string_equal(f->log, bad[i].log);
  }
  const char *twice[] = {"auth.max_memo_bytes", "10", "mempool.max_txs", "50",
                         "auth.max_memo_bytes", "20"};
  assert_int_equal(submit(f, P, "500", 3, twice), ST_EINVAL);
  assert_string_equal(f->log, "parameter auth.max_memo_bytes is changed twice");

  /* A value the parser refuses: the parser's own sentence. */
  char want[256];
  st_chain__params_t out;
  json_t *all = st_chain__params_json(&f->p);
  json_object_set_new(json_object_get(all, "auth"), "max_memo_bytes", json_integer(-1));
  assert_int_not_equal(st_chain__params_parse(all, &f->p, &out, want, sizeof(want)), 0);
  json_decref(all);
  assert_int_equal(submit1(f, P, "500", "auth.max_memo_bytes", "-1"), ST_EINVAL);
  assert_string_equal(f->log, want);
  assert_non_null(strstr(f->log, "max_memo_bytes"));
  /* Fields tied together are judged as a set: a memo larger than a tx. */
  const char *tied[] = {"mempool.max_tx_bytes", "1024", "auth.max_memo_bytes", "2000"};
  assert_int_equal(submit(f, P, "500", 2, tied), ST_EINVAL);
  assert_non_null(strstr(f->log, "max_memo_bytes"));
  /* Invalid UTF-8 cannot go into the JSON record. */
  Stratos__Tx__TxBody b;
  stratos__tx__tx_body__init(&b);
  Stratos__Tx__MsgSubmitProposal m;
  stratos__tx__msg_submit_proposal__init(&m);
  Stratos__Tx__ParamChange ch, *chp = &ch;
  stratos__tx__param_change__init(&ch);
  ch.key = "auth.max_memo_bytes";
  ch.value = "100";
  m.title = "t";
  m.description = "bad \xc3\x28 bytes";
  m.n_changes = 1;
  m.changes = &chp;
  m.deposit = "500";
  b.msg_case = STRATOS__TX__TX_BODY__MSG_SUBMIT_PROPOSAL;
  b.submit_proposal = &m;
  assert_int_equal(run(f, P, &b), ST_EINVAL);
  assert_string_equal(f->log, "description must be UTF-8 text");

  /* Nothing happened: no counter, no proposal, no deposit moved. */
  uint8_t ck[] = {ST_K_COUNTER, 'p', 'r', 'o', 'p', 'o', 's', 'a', 'l'};
  assert_false(has(f, ck, sizeof(ck)));
  assert_false(has_id(f, ST_K_GOV_PROP, 1));
  assert_false(has_addr(f, ST_K_GOV_DEP, 1, addr(P)));
  assert_true(bal(f, addr(P)) == T_BALANCE);
  assert_true(gov_bal(f) == 0);
  /* More than the sender holds. */
  assert_int_equal(submit1(f, D1, "1000000000000000001", "auth.max_memo_bytes", "100"),
                   ST_EPERM);
  assert_false(has_id(f, ST_K_GOV_PROP, 1));
  /* And a good one still gets id 1. */
  assert_int_equal(submit1(f, P, "500", "auth.max_memo_bytes", "100"), 0);
  assert_true(has_id(f, ST_K_GOV_PROP, 1));
}

/* The record of a new proposal, to the field. */
static void test_record(void **state) {
  fix_t *f = *state;
  const char *kv[] = {"auth.min_fee_per_byte", "\"5\"", "mempool.max_txs", "500"};
  assert_int_equal(submit(f, P, "400", 2, kv), 0);
  uint8_t k[9] = {ST_K_GOV_PROP};
  const uint8_t *v;
  size_t n;
  st_chain__be64(k + 1, 1);
  assert_int_equal(st_chain__ov_read(&f->ov, ST_CHAIN__SP_STATE, k, 9, &v, &n), 0);
  char who[ST_ADDR_STR_MAX], want[2048];
  assert_int_equal(st_addr_encode(ST_HRP_WALLET, addr(P), who, sizeof(who)), 0);
  snprintf(want, sizeof(want),
           "{\"changes\":[{\"key\":\"auth.min_fee_per_byte\",\"value\":\"\\\"5\\\"\"},"
           "{\"key\":\"mempool.max_txs\",\"value\":\"500\"}],"
           "\"deposit_end_ms\":%lld,"
           "\"description\":\"Lower the fee per byte.\\nIt is too high.\","
           "\"id\":1,\"proposer\":\"%s\",\"result\":\"\",\"status\":\"deposit\","
           "\"submit_time_ms\":%lld,"
           "\"tally\":{\"abstain\":\"0\",\"no\":\"0\",\"no_with_veto\":\"0\",\"yes\":\"0\"},"
           "\"title\":\"Cheaper bytes\",\"total_deposit\":\"400\","
           "\"voting_end_ms\":0,\"voting_start_ms\":0}",
           T0 + DEPOSIT_PERIOD, who, T0);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(v, want, n);
  assert_true(has_queue(f, ST_K_GOV_QDEP, T0 + DEPOSIT_PERIOD, 1));
  assert_true(gov_bal(f) == 400);
  assert_true(bal(f, addr(P)) == T_BALANCE - 400);
  json_t *none;
  assert_int_equal(st_chain__gov_get(&f->c, 2, &none), ST_ENOENT);
  assert_null(none);
}

/* Deposits add up per depositor; reaching the minimum opens the vote. */
static void test_deposit_flow(void **state) {
  fix_t *f = *state;
  assert_int_equal(submit1(f, P, "0", "auth.max_memo_bytes", "100"), 0);
  assert_false(has_addr(f, ST_K_GOV_DEP, 1, addr(P)));
  assert_int_equal(vote(f, D1, 1, 1), ST_EPERM);
  assert_string_equal(f->log, "proposal 1 is in its deposit period, voting has not started");
  assert_int_equal(deposit(f, D1, 9, "10"), ST_ENOENT);
  assert_string_equal(f->log, "unknown proposal 9");
  assert_int_equal(vote(f, D1, 9, 1), ST_ENOENT);
  assert_string_equal(f->log, "unknown proposal 9");

  f->c.time_ms = T0 + 5;
  assert_int_equal(deposit(f, D1, 1, "300"), 0);
  assert_int_equal(deposit(f, D1, 1, "300"), 0);
  assert_status(f, 1, "deposit", "");
  assert_true(has_queue(f, ST_K_GOV_QDEP, T0 + DEPOSIT_PERIOD, 1));
  assert_int_equal(deposit(f, D2, 1, "2000000000000000000"), ST_EPERM);
  assert_status(f, 1, "deposit", "");
  f->c.time_ms = T0 + 9;
  assert_int_equal(deposit(f, D2, 1, "400"), 0); /* 1000: the minimum */
  json_t *j = prop(f, 1);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "voting");
  assert_string_equal(json_string_value(json_object_get(j, "total_deposit")), "1000");
  assert_int_equal(json_integer_value(json_object_get(j, "voting_start_ms")), T0 + 9);
  assert_int_equal(json_integer_value(json_object_get(j, "voting_end_ms")),
                   T0 + 9 + VOTING_PERIOD);
  assert_int_equal(json_integer_value(json_object_get(j, "deposit_end_ms")),
                   T0 + DEPOSIT_PERIOD);
  json_decref(j);
  assert_false(has_queue(f, ST_K_GOV_QDEP, T0 + DEPOSIT_PERIOD, 1));
  assert_true(has_queue(f, ST_K_GOV_QVOTE, T0 + 9 + VOTING_PERIOD, 1));
  /* Deposits stay open while the vote runs. */
  assert_int_equal(deposit(f, P, 1, "7"), 0);
  assert_status(f, 1, "voting", "");
  assert_true(gov_bal(f) == 1007);
  assert_true(bal(f, addr(D1)) == T_BALANCE - 600);
  assert_true(bal(f, addr(D2)) == T_BALANCE - 400);
  assert_true(bal(f, addr(P)) == T_BALANCE - 7);
  assert_int_equal(vote(f, D1, 1, 2), 0);
  /* A submit with the minimum at once skips the deposit period. */
  assert_int_equal(submit1(f, D3, "1000", "auth.max_memo_bytes", "90"), 0);
  assert_status(f, 2, "voting", "");
  assert_false(has_queue(f, ST_K_GOV_QDEP, T0 + 9 + DEPOSIT_PERIOD, 2));
  assert_true(has_queue(f, ST_K_GOV_QVOTE, T0 + 9 + VOTING_PERIOD, 2));
}

/* The tally to the wei, and a pass that applies the change and refunds
 * every deposit. */
static void test_tally_and_pass(void **state) {
  fix_t *f = *state;
  bond(f);
  assert_int_equal(submit1(f, P, "600", "auth.min_fee_per_byte", "\"5\""), 0);
  assert_int_equal(deposit(f, D2, 1, "400"), 0);
  vote_mixed(f, 1);
  assert_true(has_addr(f, ST_K_GOV_VOTE, 1, addr(D1)));
  st_u128 t[4], bonded;
  assert_int_equal(st_chain__gov_tally(&f->c, 1, t, &bonded), 0);
  /* OP1 1000 shares + the 400 of D2 who did not vote: floor(1000 * 3001
   * / 2000) + floor(400 * 3001 / 2000) = 1500 + 600; D1: 900 + 300 (its
   * OP4 stake is not bonded); OP2: its own 700, nothing left; D3: 100. */
  assert_true(t[0] == 2100);
  assert_true(t[1] == 100);
  assert_true(t[2] == 1200);
  assert_true(t[3] == 700);
  assert_true(bonded == 4501);

  /* Not yet. */
  assert_false(end_block(f, T0 + VOTING_PERIOD - 1));
  assert_status(f, 1, "voting", "");
  assert_true(end_block(f, T0 + VOTING_PERIOD));
  json_t *j = prop(f, 1);
  assert_string_equal(json_string_value(json_object_get(j, "status")), "passed");
  assert_string_equal(json_string_value(json_object_get(j, "result")),
                      "passed; parameters changed; deposits refunded");
  json_t *tl = json_object_get(j, "tally");
  assert_string_equal(json_string_value(json_object_get(tl, "yes")), "2100");
  assert_string_equal(json_string_value(json_object_get(tl, "abstain")), "100");
  assert_string_equal(json_string_value(json_object_get(tl, "no")), "1200");
  assert_string_equal(json_string_value(json_object_get(tl, "no_with_veto")), "700");
  json_decref(j);
  st_chain__params_t now = params_now(f);
  assert_true(now.min_fee_per_byte == 5);
  assert_true(f->p.min_fee_per_byte != 5); /* the caller reloads */
  assert_true(bal(f, addr(P)) == T_BALANCE);
  assert_true(bal(f, addr(D2)) == T_BALANCE);
  assert_true(gov_bal(f) == 0);
  assert_true(pool_bal(f) == 0);
  assert_false(has_addr(f, ST_K_GOV_DEP, 1, addr(P)));
  assert_false(has_addr(f, ST_K_GOV_DEP, 1, addr(D2)));
  assert_false(has_addr(f, ST_K_GOV_VOTE, 1, addr(D1)));
  assert_false(has_addr(f, ST_K_GOV_VOTE, 1, addr(OP1)));
  assert_false(has_queue(f, ST_K_GOV_QVOTE, T0 + VOTING_PERIOD, 1));
  /* Closed for good; a later block changes nothing. */
  assert_int_equal(vote(f, D1, 1, 1), ST_EPERM);
  assert_string_equal(f->log, "proposal 1 is passed, voting is closed");
  assert_int_equal(deposit(f, D1, 1, "1"), ST_EPERM);
  assert_string_equal(f->log, "proposal 1 is passed, deposits are closed");
  assert_false(end_block(f, T0 + 2 * VOTING_PERIOD));
  assert_true(params_now(f).min_fee_per_byte == 5);
}

/* Only D3's abstain: 100 of 4501 bonded is no quorum; deposits go back. */
static void test_no_quorum(void **state) {
  fix_t *f = *state;
  bond(f);
  assert_int_equal(submit1(f, P, "1000", "auth.min_fee_per_byte", "\"5\""), 0);
  assert_int_equal(vote(f, D3, 1, 2), 0);
  assert_false(end_block(f, T0 + VOTING_PERIOD));
  assert_status(f, 1, "rejected", "quorum not reached; deposits refunded");
  assert_true(bal(f, addr(P)) == T_BALANCE);
  assert_true(gov_bal(f) == 0);
  assert_true(params_now(f).min_fee_per_byte == f->p.min_fee_per_byte);
  /* A vote without stake behind it: no quorum either. */
  assert_int_equal(submit1(f, P, "1000", "auth.min_fee_per_byte", "\"5\""), 0);
  assert_int_equal(vote(f, P, 2, 1), 0);
  assert_false(end_block(f, T0 + 2 * VOTING_PERIOD));
  assert_status(f, 2, "rejected", "quorum not reached; deposits refunded");
  assert_true(bal(f, addr(P)) == T_BALANCE);
}

/* OP1 (3000 with its delegators) vetoes against OP2's 1000 yes: the
 * deposits go to the community pool. */
static void test_veto(void **state) {
  fix_t *f = *state;
  bond(f);
  assert_int_equal(submit1(f, P, "600", "auth.min_fee_per_byte", "\"5\""), 0);
  assert_int_equal(deposit(f, D2, 1, "400"), 0);
  assert_int_equal(vote(f, OP1, 1, 4), 0);
  assert_int_equal(vote(f, OP2, 1, 1), 0);
  assert_false(end_block(f, T0 + VOTING_PERIOD));
  assert_status(f, 1, "rejected", "vetoed; deposits sent to the community pool");
  json_t *j = prop(f, 1);
  json_t *tl = json_object_get(j, "tally");
  assert_string_equal(json_string_value(json_object_get(tl, "no_with_veto")), "3000");
  assert_string_equal(json_string_value(json_object_get(tl, "yes")), "1000");
  json_decref(j);
  assert_true(bal(f, addr(P)) == T_BALANCE - 600);
  assert_true(bal(f, addr(D2)) == T_BALANCE - 400);
  assert_true(pool_bal(f) == 1000);
  assert_true(gov_bal(f) == 0);
  assert_true(params_now(f).min_fee_per_byte == f->p.min_fee_per_byte);
}

/* OP1's 3000 no against OP2's 1000 yes: outvoted, deposits refunded. */
static void test_threshold(void **state) {
  fix_t *f = *state;
  bond(f);
  assert_int_equal(submit1(f, P, "1000", "auth.min_fee_per_byte", "\"5\""), 0);
  assert_int_equal(vote(f, OP1, 1, 3), 0);
  assert_int_equal(vote(f, OP2, 1, 1), 0);
  assert_false(end_block(f, T0 + VOTING_PERIOD));
  assert_status(f, 1, "rejected", "threshold not reached; deposits refunded");
  assert_true(bal(f, addr(P)) == T_BALANCE);
  /* Everybody abstains: quorum, but nothing to weigh. */
  assert_int_equal(submit1(f, P, "1000", "auth.min_fee_per_byte", "\"5\""), 0);
  for (int op = OP1; op <= OP3; op++)
    assert_int_equal(vote(f, op, 2, 2), 0);
  assert_false(end_block(f, T0 + 2 * VOTING_PERIOD));
  assert_status(f, 2, "rejected", "threshold not reached; deposits refunded");
}

/* Each rule at its edge, one proposal per block: OP2 alone is 1000 of
 * 4501 bonded; OP1 with its delegators 3000. Quorum is met when voted *
 * 1e18 >= quorum * bonded; threshold and veto need strictly more. */
static void test_boundaries(void **state) {
  fix_t *f = *state;
  bond(f);
  const st_u128 q = (st_u128)1000 * ST_DEC_ONE / 4501; /* the largest 1000 of 4501 meets */
  const st_u128 quarter = ST_DEC_ONE / 4;
  static const char *const refunded = "threshold not reached; deposits refunded";
  const struct {
    st_u128 quorum, threshold, veto;
    int yes, other, other_opt;
    const char *status, *result;
  } r[] = {
    {q, FRAC(500), FRAC(334), OP2, 0, 0, "passed", NULL},
    {q + 1, FRAC(500), FRAC(334), OP2, 0, 0, "rejected",
     "quorum not reached; deposits refunded"},
    {0, quarter, FRAC(334), OP2, OP1, 3, "rejected", refunded},    /* 1000 of 4000 */
    {0, quarter - 1, FRAC(334), OP2, OP1, 3, "passed", NULL},
    {0, FRAC(500), quarter, OP1, OP2, 4, "passed", NULL},          /* veto 1000 of 4000 */
    {0, FRAC(500), quarter - 1, OP1, OP2, 4, "rejected",
     "vetoed; deposits sent to the community pool"},
  };
  for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
    uint64_t id = i + 1;
    int64_t t = f->c.time_ms;
    f->p.quorum = r[i].quorum;
    f->p.threshold = r[i].threshold;
    f->p.veto_threshold = r[i].veto;
    assert_int_equal(submit1(f, P, "1000", "auth.max_memo_bytes", "100"), 0);
    assert_int_equal(vote(f, r[i].yes, id, 1), 0);
    if (r[i].other)
      assert_int_equal(vote(f, r[i].other, id, (uint32_t)r[i].other_opt), 0);
    end_block(f, t + VOTING_PERIOD);
    assert_status(f, id, r[i].status, r[i].result);
  }
  assert_true(gov_bal(f) == 0);
  assert_true(pool_bal(f) == 1000);
  assert_true(bal(f, addr(P)) == T_BALANCE - 1000);
}

/* A deposit period that ends short of the minimum. */
static void test_expiry(void **state) {
  fix_t *f = *state;
  assert_int_equal(submit1(f, P, "100", "auth.max_memo_bytes", "100"), 0);
  assert_int_equal(deposit(f, D1, 1, "50"), 0);
  assert_false(end_block(f, T0 + DEPOSIT_PERIOD - 1));
  assert_status(f, 1, "deposit", "");
  assert_false(end_block(f, T0 + DEPOSIT_PERIOD));
  assert_status(f, 1, "expired",
                "minimum deposit not reached; deposits sent to the community pool");
  assert_true(pool_bal(f) == 150);
  assert_true(gov_bal(f) == 0);
  assert_true(bal(f, addr(P)) == T_BALANCE - 100);
  assert_true(bal(f, addr(D1)) == T_BALANCE - 50);
  assert_false(has_addr(f, ST_K_GOV_DEP, 1, addr(P)));
  assert_false(has_addr(f, ST_K_GOV_DEP, 1, addr(D1)));
  assert_false(has_queue(f, ST_K_GOV_QDEP, T0 + DEPOSIT_PERIOD, 1));
  assert_int_equal(deposit(f, D1, 1, "5000"), ST_EPERM);
  assert_string_equal(f->log, "proposal 1 is expired, deposits are closed");
}

/* Two proposals ending in one block: both apply, the second onto the
 * first's result; a third, valid when submitted, no longer fits after
 * them and fails with its deposits refunded. */
static void test_two_in_one_block(void **state) {
  fix_t *f = *state;
  bond(f);
  const char *first[] = {"auth.min_fee_per_byte", "\"5\"", "mempool.max_tx_bytes", "2048"};
  assert_int_equal(submit(f, P, "1000", 2, first), 0);
  assert_int_equal(submit1(f, D1, "1000", "auth.max_memo_bytes", "100"), 0);
  assert_int_equal(submit1(f, D2, "1000", "auth.max_memo_bytes", "3000"), 0);
  for (uint64_t id = 1; id <= 3; id++) {
    assert_int_equal(vote(f, OP1, id, 1), 0);
    assert_int_equal(vote(f, OP2, id, 1), 0);
  }
  assert_true(end_block(f, T0 + VOTING_PERIOD + 5));
  assert_status(f, 1, "passed", NULL);
  assert_status(f, 2, "passed", NULL);
  st_chain__params_t now = params_now(f);
  assert_true(now.min_fee_per_byte == 5);
  assert_int_equal(now.max_tx_bytes, 2048);
  assert_int_equal(now.max_memo_bytes, 100);
  /* Proposal 3 as the parser sees it over the new params. */
  char why[256], want[512];
  st_chain__params_t out;
  json_t *all = st_chain__params_json(&now);
  json_object_set_new(json_object_get(all, "auth"), "max_memo_bytes", json_integer(3000));
  assert_int_not_equal(st_chain__params_parse(all, &now, &out, why, sizeof(why)), 0);
  json_decref(all);
  snprintf(want, sizeof(want),
           "passed, but the changes no longer apply (%s); deposits refunded", why);
  assert_status(f, 3, "failed", want);
  for (int who = P; who <= D2; who++)
    assert_true(bal(f, addr(who)) == T_BALANCE);
  assert_true(gov_bal(f) == 0);
}

int main(void) {
  st_crypto_init();
  st_log_set_level(ST_LOG_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_submit_refused, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_submit_traffic, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_record, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_deposit_flow, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_tally_and_pass, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_no_quorum, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_veto, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_threshold, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_boundaries, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_expiry, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_two_in_one_block, setup, fix_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
