/* Unit tests of register: resource nodes created, topped up, drawn down
 * and removed, their deposits unbonding and paid back at maturity to the
 * wei; meta candidates approved, rejected or left waiting by the votes of
 * four active meta nodes (approval at 4*2/3+1 = 3, rejection at
 * max(1, 4/3) = 1); kicks; every refusal leaving nothing behind; the
 * ozone pool following the effective deposit; the events the meta chain
 * reads, byte for byte; and the genesis nodes with their field-named
 * errors. */
#include "chain/nodes.h"

#define T0 1795000000000LL
#define RES_MIN 1000
#define META_MIN 2000
#define UNBOND 60000LL
#define RATE 10
#define L0 5000
#define HEIGHT 10

/* Accounts: owners of the genesis meta nodes, of the candidate, of the
 * resource node, and a stranger. */
enum { O0 = 0x30, O1, O2, O3, OC = 0x40, OR, OX };
/* Node keys: t_key(20 + i). Meta nodes 0..3 at genesis, the candidate 4,
 * the resource node 5, a second candidate 6. */
enum { M0, M1, M2, M3, MC, RN, MC2, NNODES };

#define MODS_FIX_EXTRA                                                                       \
  uint8_t pk[NNODES][ST_PUBKEY_LEN];                                                         \
  uint8_t na[NNODES][ST_ADDR_LEN]; /* node addresses */
#include "mods_fix.h"

static const st_u128 gdep[4] = {2000, 2001, 2002, 2009};

static st_u128 deposits(fix_t *f) { return bal(f, st_chain__macc_named("node_deposits")); }

static st_sds_pool_t pool(fix_t *f) {
  st_sds_pool_t p;
  assert_int_equal(st_chain__sds_pool_get(&f->c, &p), 0);
  return p;
}

static st_chain__node_t meta(fix_t *f, int i) {
  st_chain__node_t n;
  assert_int_equal(st_chain__meta_node_get(&f->c, f->na[i], &n), 0);
  return n;
}

static st_chain__node_t res(fix_t *f, int i) {
  st_chain__node_t n;
  assert_int_equal(st_chain__res_node_get(&f->c, f->na[i], &n), 0);
  return n;
}

/* The genesis of the fixture: four active meta nodes. */
static void genesis(fix_t *f) {
  st_chain__gnode_t g[4];
  memset(g, 0, sizeof(g));
  for (int i = 0; i < 4; i++) {
    memcpy(g[i].pubkey, f->pk[i], ST_PUBKEY_LEN);
    memcpy(g[i].addr, f->na[i], ST_ADDR_LEN);
    memcpy(g[i].owner, addr(O0 + i), ST_ADDR_LEN);
    g[i].deposit = gdep[i];
    snprintf(g[i].network_address, sizeof(g[i].network_address), "10.0.0.%d:8888", i);
    snprintf(g[i].moniker, sizeof(g[i].moniker), "meta%d", i);
  }
  st_chain__gnodes_t gn = {.meta = g, .nmeta = 4};
  assert_int_equal(st_chain__register_genesis(&gn, &f->c), 0);
}

static int setup(void **state) {
  fix_t *f = fix_new(HEIGHT, T0);
  st_chain__params_defaults(&f->p);
  f->p.resource_node_min_deposit = RES_MIN;
  f->p.meta_node_min_deposit = META_MIN;
  f->p.node_unbonding_time_ms = UNBOND;
  f->p.deposit_noz_rate = RATE;
  f->p.initial_ozone_limit = L0;
  for (int i = 0; i < NNODES; i++) {
    st_keypair_t kp;
    t_key(20 + i, &kp, f->na[i]);
    memcpy(f->pk[i], kp.pk, ST_PUBKEY_LEN);
  }
  const int accts[] = {O0, O1, O2, O3, OC, OR, OX};
  fund(f, accts, sizeof(accts) / sizeof(accts[0]), T_BALANCE);
  genesis(f);
  *state = f;
  return 0;
}

/* ---- messages ---- */

static ProtobufCBinaryData bin(const uint8_t *p, size_t n) {
  ProtobufCBinaryData b = {n, (uint8_t *)(uintptr_t)p};
  return b;
}

/* As st_chain__tx_exec does: a refused message leaves nothing behind,
 * its events included. */
static int run(fix_t *f, int who, Stratos__Tx__TxBody *b) {
  return fix_run(f, st_chain__register_exec, who, b);
}

static int create_res(fix_t *f, int who, int node, const char *deposit) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgCreateResourceNode m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_create_resource_node__init(&m);
  m.pubkey = bin(f->pk[node], ST_PUBKEY_LEN);
  m.deposit = mut(deposit);
  m.node_type = 6;
  m.capacity = 1ull << 40;
  m.network_address = mut("203.0.113.7:18081");
  m.moniker = mut("storage-1");
  b.msg_case = STRATOS__TX__TX_BODY__MSG_CREATE_RESOURCE_NODE;
  b.create_resource_node = &m;
  return run(f, who, &b);
}

static int update_res(fix_t *f, int who, int node, const char *amount, bool decrease) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgUpdateResourceNodeDeposit m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_update_resource_node_deposit__init(&m);
  m.node = bin(f->na[node], ST_ADDR_LEN);
  m.amount = mut(amount);
  m.decrease = decrease;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_UPDATE_RESOURCE_NODE_DEPOSIT;
  b.update_resource_node_deposit = &m;
  return run(f, who, &b);
}

static int remove_res(fix_t *f, int who, int node) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgRemoveResourceNode m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_remove_resource_node__init(&m);
  m.node = bin(f->na[node], ST_ADDR_LEN);
  b.msg_case = STRATOS__TX__TX_BODY__MSG_REMOVE_RESOURCE_NODE;
  b.remove_resource_node = &m;
  return run(f, who, &b);
}

static int create_meta(fix_t *f, int who, int node, const char *deposit) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgCreateMetaNode m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_create_meta_node__init(&m);
  m.pubkey = bin(f->pk[node], ST_PUBKEY_LEN);
  m.deposit = mut(deposit);
  m.network_address = mut("198.51.100.4:26800");
  m.moniker = mut("candidate");
  b.msg_case = STRATOS__TX__TX_BODY__MSG_CREATE_META_NODE;
  b.create_meta_node = &m;
  return run(f, who, &b);
}

static int vote(fix_t *f, int who, int voter, int cand, bool approve) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgMetaNodeRegistrationVote m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_meta_node_registration_vote__init(&m);
  m.candidate = bin(f->na[cand], ST_ADDR_LEN);
  m.voter = bin(f->na[voter], ST_ADDR_LEN);
  m.approve = approve;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_META_NODE_REGISTRATION_VOTE;
  b.meta_node_registration_vote = &m;
  return run(f, who, &b);
}

static int kick(fix_t *f, int who, int voter, int target, bool yes) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgKickMetaNodeVote m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_kick_meta_node_vote__init(&m);
  m.target = bin(f->na[target], ST_ADDR_LEN);
  m.voter = bin(f->na[voter], ST_ADDR_LEN);
  m.kick = yes;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_KICK_META_NODE_VOTE;
  b.kick_meta_node_vote = &m;
  return run(f, who, &b);
}

static int remove_meta(fix_t *f, int who, int node) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgRemoveMetaNode m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_remove_meta_node__init(&m);
  m.node = bin(f->na[node], ST_ADDR_LEN);
  b.msg_case = STRATOS__TX__TX_BODY__MSG_REMOVE_META_NODE;
  b.remove_meta_node = &m;
  return run(f, who, &b);
}

/* ---- records ---- */

static bool has_vote(fix_t *f, uint8_t kind, int node, int voter) {
  uint8_t k[1 + 2 * ST_ADDR_LEN];
  return has(f, k, st_chain__k2(k, kind, f->na[node], f->na[voter]));
}

/* The number of records of one kind. */
static int count_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  (*(int *)ud)++;
  return 0;
}

static int count(fix_t *f, uint8_t kind) {
  int n = 0;
  assert_int_equal(st_chain__ov_scan(&f->ov, ST_CHAIN__SP_STATE, &kind, 1, count_cb, &n), 0);
  return n;
}

/* The event seq of this height, as the meta chain reads it. */
static void event_is(fix_t *f, uint32_t seq, const uint8_t *want, size_t n) {
  uint8_t k[13] = {ST_K_EVENT};
  const uint8_t *v;
  size_t vn;
  st_chain__be64(k + 1, HEIGHT);
  st_chain__be32(k + 9, seq);
  assert_int_equal(st_chain__ov_read(&f->ov, ST_CHAIN__SP_STATE, k, sizeof(k), &v, &vn), 0);
  assert_int_equal(vn, n);
  assert_memory_equal(v, want, n);
}

/* ST_EV_RES_NODE as mods.h lays it out. */
static size_t ev_res(const st_chain__node_t *n, uint8_t *e) {
  size_t al = strlen(n->network_address);
  e[0] = ST_EV_RES_NODE;
  memcpy(e + 1, n->addr, 20);
  memcpy(e + 21, n->pubkey, 32);
  memcpy(e + 53, n->owner, 20);
  e[73] = n->type;
  st_chain__be64(e + 74, n->capacity);
  st_chain__put128(e + 82, n->deposit);
  e[98] = n->status;
  e[99] = n->suspended;
  e[100] = (uint8_t)al;
  memcpy(e + 101, n->network_address, al);
  return 101 + al;
}

static size_t ev_meta(const st_chain__node_t *n, uint8_t *e) {
  e[0] = ST_EV_META_NODE;
  memcpy(e + 1, n->addr, 20);
  memcpy(e + 21, n->pubkey, 32);
  memcpy(e + 53, n->owner, 20);
  st_chain__put128(e + 73, n->deposit);
  e[89] = n->status;
  return 90;
}

static void end_block(fix_t *f, int64_t t) {
  f->c.time_ms = t;
  assert_int_equal(st_chain__register_end_block(&f->c), 0);
}

/* ---- tests ---- */

static void test_genesis_nodes(void **state) {
  fix_t *f = *state;
  st_sds_pool_t p = pool(f);
  /* S: the deposits; Lt: L0 plus each deposit / RATE, floored each. */
  assert_true(p.S == 8012);
  assert_true(p.Pt == 0);
  assert_true(p.Lt == L0 + 200 + 200 + 200 + 200);
  assert_true(deposits(f) == 8012);
  for (int i = 0; i < 4; i++) {
    st_chain__node_t n = meta(f, i);
    assert_int_equal(n.status, ST_NODE_ACTIVE);
    assert_true(n.deposit == gdep[i]);
    assert_memory_equal(n.owner, addr(O0 + i), ST_ADDR_LEN);
    assert_memory_equal(n.pubkey, f->pk[i], ST_PUBKEY_LEN);
  }
  /* Genesis writes no events: the meta chain reads genesis itself. */
  assert_int_equal(count(f, ST_K_EVENT), 0);
  st_chain__node_t *list;
  size_t n;
  assert_int_equal(st_chain__nodes_list(&f->c, true, &list, &n), 0);
  assert_int_equal(n, 4);
  for (size_t i = 1; i < n; i++)
    assert_true(memcmp(list[i - 1].addr, list[i].addr, ST_ADDR_LEN) < 0);
  free(list);
  assert_int_equal(st_chain__nodes_list(&f->c, false, &list, &n), 0);
  assert_int_equal(n, 0);
  free(list);
}

static void test_create_resource_node(void **state) {
  fix_t *f = *state;
  char a[ST_ADDR_STR_MAX], want[160];
  st_addr_encode(ST_HRP_NODE, f->na[RN], a, sizeof(a));
  assert_int_equal(create_res(f, OR, RN, "999"), ST_EINVAL);
  assert_string_equal(f->log, "deposit 999 is below the minimum 1000");
  assert_int_equal(count(f, ST_K_RES_NODE), 0);

  assert_int_equal(create_res(f, OR, RN, "1234"), 0);
  st_chain__node_t n = res(f, RN);
  assert_int_equal(n.status, ST_NODE_ACTIVE);
  assert_false(n.suspended);
  assert_true(n.deposit == 1234);
  assert_int_equal(n.type, 6);
  assert_true(n.capacity == 1ull << 40);
  assert_int_equal(n.created_height, HEIGHT);
  assert_string_equal(n.network_address, "203.0.113.7:18081");
  assert_string_equal(n.moniker, "storage-1");
  assert_memory_equal(n.owner, addr(OR), ST_ADDR_LEN);
  assert_true(bal(f, addr(OR)) == T_BALANCE - 1234);
  assert_true(deposits(f) == 8012 + 1234);
  /* Effective at once: S and Lt (1234 / 10 = 123). */
  st_sds_pool_t p = pool(f);
  assert_true(p.S == 8012 + 1234);
  assert_true(p.Lt == 5800 + 123);
  uint8_t e[256];
  event_is(f, 0, e, ev_res(&n, e));
  assert_int_equal(f->c.nevents, 1);

  /* Registered once per kind. */
  assert_int_equal(create_res(f, OX, RN, "5000"), ST_EEXIST);
  snprintf(want, sizeof(want), "resource node %s already registered (active)", a);
  assert_string_equal(f->log, want);
  st_addr_encode(ST_HRP_NODE, f->na[M1], a, sizeof(a));
  assert_int_equal(create_meta(f, OX, M1, "5000"), ST_EEXIST);
  snprintf(want, sizeof(want), "meta node %s already registered (active)", a);
  assert_string_equal(f->log, want);
  /* More than the sender holds. */
  assert_int_equal(create_res(f, OX, MC2, "2000000000000000000"), ST_EPERM);
  assert_string_equal(f->log,
                      "insufficient balance: have 1000000000000000000, need 2000000000000000000");
  assert_true(bal(f, addr(OX)) == T_BALANCE);
  assert_int_equal(count(f, ST_K_RES_NODE), 1);
  assert_int_equal(f->c.nevents, 1);
  /* A meta node's key may serve a resource node too (one node, both
   * roles): its own record and deposit. */
  assert_int_equal(create_res(f, O1, M1, "1000"), 0);
  assert_int_equal(res(f, M1).status, ST_NODE_ACTIVE);
  assert_true(meta(f, M1).deposit == 2001);
  assert_true(pool(f).S == 8012 + 1234 + 1000);
}

static void test_resource_deposit_unbonds(void **state) {
  fix_t *f = *state;
  char a[ST_ADDR_STR_MAX], want[200];
  st_addr_encode(ST_HRP_NODE, f->na[RN], a, sizeof(a));
  assert_int_equal(create_res(f, OR, RN, "1500"), 0);
  /* Only the owner. */
  assert_int_equal(update_res(f, OX, RN, "10", false), ST_EPERM);
  snprintf(want, sizeof(want), "not the owner of resource node %s", a);
  assert_string_equal(f->log, want);
  assert_int_equal(remove_res(f, OX, RN), ST_EPERM);
  assert_string_equal(f->log, want);
  /* Adding. */
  assert_int_equal(update_res(f, OR, RN, "509", false), 0);
  assert_true(res(f, RN).deposit == 2009);
  assert_true(bal(f, addr(OR)) == T_BALANCE - 2009);
  assert_true(pool(f).S == 8012 + 2009);
  assert_true(pool(f).Lt == 5800 + 150 + 50);
  /* Taking out: at most deposit - minimum = 1009. */
  assert_int_equal(update_res(f, OR, RN, "1010", true), ST_EPERM);
  snprintf(want, sizeof(want),
           "resource node %s holds a deposit of 2009: at most 1009 can be taken out above "
           "the minimum 1000", a);
  assert_string_equal(f->log, want);
  f->c.time_ms = T0 + 5;
  assert_int_equal(update_res(f, OR, RN, "1009", true), 0);
  st_chain__node_t n = res(f, RN);
  assert_true(n.deposit == 1000);
  uint8_t e[256];
  event_is(f, 2, e, ev_res(&n, e));
  /* S falls at once, Lt by 1009 / 10 = 100; the tokens wait. */
  assert_true(pool(f).S == 8012 + 1000);
  assert_true(pool(f).Lt == 5800 + 200 - 100);
  assert_true(bal(f, addr(OR)) == T_BALANCE - 2009);
  assert_true(deposits(f) == 8012 + 2009);
  assert_int_equal(count(f, ST_K_NODE_UBD), 1);
  /* Removal: the rest unbonds too, later. */
  f->c.time_ms = T0 + 10;
  assert_int_equal(remove_res(f, OR, RN), 0);
  n = res(f, RN);
  assert_int_equal(n.status, ST_NODE_REMOVED);
  assert_true(n.deposit == 0);
  event_is(f, 3, e, ev_res(&n, e));
  assert_true(pool(f).S == 8012);
  assert_true(pool(f).Lt == 5800 + 200 - 100 - 100);
  assert_int_equal(remove_res(f, OR, RN), ST_EPERM);
  snprintf(want, sizeof(want), "resource node %s is already removed", a);
  assert_string_equal(f->log, want);
  assert_int_equal(update_res(f, OR, RN, "5", false), ST_EPERM);
  /* Maturity: one millisecond short pays nothing; then each entry to the wei. */
  end_block(f, T0 + 5 + UNBOND - 1);
  assert_true(bal(f, addr(OR)) == T_BALANCE - 2009);
  end_block(f, T0 + 5 + UNBOND);
  assert_true(bal(f, addr(OR)) == T_BALANCE - 2009 + 1009);
  assert_int_equal(count(f, ST_K_NODE_UBD), 1);
  end_block(f, T0 + 10 + UNBOND + 1);
  assert_true(bal(f, addr(OR)) == T_BALANCE);
  assert_true(deposits(f) == 8012);
  assert_int_equal(count(f, ST_K_NODE_UBD), 0);
  /* A removed node may be registered again. */
  assert_int_equal(create_res(f, OR, RN, "1000"), 0);
  assert_int_equal(res(f, RN).status, ST_NODE_ACTIVE);
}

static void test_meta_approved_at_three_of_four(void **state) {
  fix_t *f = *state;
  assert_int_equal(create_meta(f, OC, MC, "1999"), ST_EINVAL);
  assert_string_equal(f->log, "deposit 1999 is below the minimum 2000");
  assert_int_equal(create_meta(f, OC, MC, "3000"), 0);
  st_chain__node_t n = meta(f, MC);
  assert_int_equal(n.status, ST_NODE_PENDING);
  assert_true(n.deposit == 3000);
  assert_true(bal(f, addr(OC)) == T_BALANCE - 3000);
  assert_true(deposits(f) == 8012 + 3000);
  /* Not effective, not announced. */
  assert_true(pool(f).S == 8012);
  assert_true(pool(f).Lt == 5800);
  assert_int_equal(f->c.nevents, 0);
  uint32_t yes, no, active;
  assert_int_equal(vote(f, O0, M0, MC, true), 0);
  assert_int_equal(vote(f, O1, M1, MC, true), 0);
  /* Two yes of four: short of both thresholds. */
  assert_int_equal(st_chain__meta_tally(&f->c, f->na[MC], false, &yes, &no, &active), 0);
  assert_int_equal(yes, 2);
  assert_int_equal(no, 0);
  assert_int_equal(active, 4);
  assert_int_equal(meta(f, MC).status, ST_NODE_PENDING);
  assert_int_equal(f->c.nevents, 0);
  /* The third: 4*2/3+1 = 3. */
  assert_int_equal(vote(f, O2, M2, MC, true), 0);
  n = meta(f, MC);
  assert_int_equal(n.status, ST_NODE_ACTIVE);
  assert_int_equal(count(f, ST_K_META_VOTE), 0);
  assert_true(pool(f).S == 8012 + 3000);
  assert_true(pool(f).Lt == 5800 + 300);
  uint8_t e[128];
  event_is(f, 0, e, ev_meta(&n, e));
  assert_int_equal(f->c.nevents, 1);
  /* Decided: no more votes on it; and now it votes. */
  assert_int_equal(vote(f, O3, M3, MC, true), ST_EPERM);
  char a[ST_ADDR_STR_MAX], want[160];
  st_addr_encode(ST_HRP_NODE, f->na[MC], a, sizeof(a));
  snprintf(want, sizeof(want), "meta node %s is active, not pending", a);
  assert_string_equal(f->log, want);
  assert_int_equal(create_meta(f, OX, MC2, "2000"), 0);
  assert_int_equal(vote(f, OC, MC, MC2, true), 0);
  assert_int_equal(st_chain__meta_tally(&f->c, f->na[MC2], false, &yes, &no, &active), 0);
  assert_int_equal(yes, 1);
  assert_int_equal(active, 5);
}

static void test_meta_rejected_at_one_of_four(void **state) {
  fix_t *f = *state;
  assert_int_equal(create_meta(f, OC, MC, "2500"), 0);
  assert_int_equal(vote(f, O0, M0, MC, true), 0);
  assert_int_equal(vote(f, O1, M1, MC, true), 0);
  /* One no: max(1, 4/3) = 1. */
  f->c.time_ms = T0 + 100;
  assert_int_equal(vote(f, O3, M3, MC, false), 0);
  st_chain__node_t n = meta(f, MC);
  assert_int_equal(n.status, ST_NODE_REJECTED);
  assert_true(n.deposit == 0);
  assert_int_equal(count(f, ST_K_META_VOTE), 0);
  assert_int_equal(f->c.nevents, 0); /* the meta chain never saw it */
  assert_true(pool(f).S == 8012);
  assert_true(pool(f).Lt == 5800);
  /* The deposit comes back after the unbonding time, to the wei. */
  end_block(f, T0 + 100 + UNBOND - 1);
  assert_true(bal(f, addr(OC)) == T_BALANCE - 2500);
  end_block(f, T0 + 100 + UNBOND);
  assert_true(bal(f, addr(OC)) == T_BALANCE);
  assert_true(deposits(f) == 8012);
  /* It may apply again. */
  assert_int_equal(create_meta(f, OC, MC, "2000"), 0);
  assert_int_equal(meta(f, MC).status, ST_NODE_PENDING);
}

static void test_votes_refused(void **state) {
  fix_t *f = *state;
  char a[ST_ADDR_STR_MAX], c[ST_ADDR_STR_MAX], want[200];
  st_addr_encode(ST_HRP_NODE, f->na[M0], a, sizeof(a));
  st_addr_encode(ST_HRP_NODE, f->na[MC], c, sizeof(c));
  /* No candidate yet. */
  assert_int_equal(vote(f, O0, M0, MC, true), ST_ENOENT);
  snprintf(want, sizeof(want), "meta node %s not found", c);
  assert_string_equal(f->log, want);
  assert_int_equal(create_meta(f, OC, MC, "2000"), 0);
  assert_int_equal(create_meta(f, OX, MC2, "2000"), 0);
  /* A pending node is no authority. */
  assert_int_equal(vote(f, OX, MC2, MC, true), ST_EPERM);
  st_addr_encode(ST_HRP_NODE, f->na[MC2], a, sizeof(a));
  snprintf(want, sizeof(want), "voter %s is not an active meta node (it is pending)", a);
  assert_string_equal(f->log, want);
  /* Nor a resource node, nor a node no one registered. */
  assert_int_equal(create_res(f, OR, RN, "1000"), 0);
  assert_int_equal(vote(f, OR, RN, MC, true), ST_EPERM);
  st_addr_encode(ST_HRP_NODE, f->na[RN], a, sizeof(a));
  snprintf(want, sizeof(want), "voter %s is not a meta node", a);
  assert_string_equal(f->log, want);
  /* An authority's vote, sent by someone else. */
  assert_int_equal(vote(f, OX, M0, MC, true), ST_EPERM);
  st_addr_encode(ST_HRP_NODE, f->na[M0], a, sizeof(a));
  snprintf(want, sizeof(want), "not the owner of meta node %s", a);
  assert_string_equal(f->log, want);
  assert_int_equal(count(f, ST_K_META_VOTE), 0);
  /* One vote per voter, even a different one. */
  assert_int_equal(vote(f, O0, M0, MC, true), 0);
  assert_int_equal(vote(f, O0, M0, MC, false), ST_EEXIST);
  snprintf(want, sizeof(want), "meta node %s already voted on %s", a, c);
  assert_string_equal(f->log, want);
  assert_true(has_vote(f, ST_K_META_VOTE, MC, M0));
  assert_int_equal(count(f, ST_K_META_VOTE), 1);
  assert_int_equal(meta(f, MC).status, ST_NODE_PENDING);
  /* A withdrawn candidate takes its votes and its deposit with it,
   * without an event. */
  assert_int_equal(remove_meta(f, OX, MC), ST_EPERM);
  assert_int_equal(remove_meta(f, OC, MC), 0);
  assert_int_equal(meta(f, MC).status, ST_NODE_REMOVED);
  assert_int_equal(count(f, ST_K_META_VOTE), 0);
  assert_int_equal(f->c.nevents, 1); /* the resource node's */
  assert_int_equal(vote(f, O1, M1, MC, true), ST_EPERM);
}

static void test_kick(void **state) {
  fix_t *f = *state;
  uint32_t yes, no, active;
  /* M0 has a vote pending on a candidate: it goes when M0 is kicked. */
  assert_int_equal(create_meta(f, OC, MC, "2000"), 0);
  assert_int_equal(vote(f, O3, M3, MC, true), 0);
  assert_int_equal(kick(f, O3, M3, M3, true), ST_EPERM);
  assert_string_equal(f->log, "a meta node may not vote on kicking itself");
  assert_int_equal(kick(f, O1, M1, MC, true), ST_EPERM); /* pending, not active */
  assert_int_equal(kick(f, O0, M0, M3, true), 0);
  assert_int_equal(kick(f, O1, M1, M3, true), 0);
  assert_int_equal(kick(f, O1, M1, M3, true), ST_EEXIST);
  assert_int_equal(st_chain__meta_tally(&f->c, f->na[M3], true, &yes, &no, &active), 0);
  assert_int_equal(yes, 2);
  assert_int_equal(meta(f, M3).status, ST_NODE_ACTIVE);
  f->c.time_ms = T0 + 7;
  assert_int_equal(kick(f, O2, M2, M3, true), 0);
  st_chain__node_t n = meta(f, M3);
  assert_int_equal(n.status, ST_NODE_KICKED);
  assert_true(n.deposit == 0);
  uint8_t e[128];
  event_is(f, 0, e, ev_meta(&n, e));
  assert_int_equal(count(f, ST_K_META_KICK), 0);
  assert_false(has_vote(f, ST_K_META_VOTE, MC, M3));
  assert_true(pool(f).S == 8012 - 2009);
  assert_true(pool(f).Lt == 5800 - 200);
  end_block(f, T0 + 7 + UNBOND);
  assert_true(bal(f, addr(O3)) == T_BALANCE + 2009);
  /* Three active now: a kick would need 3*2/3+1 = 3 votes, more than
   * the two others can give; one keep (max(1, 3/3)) ends the attempt. */
  assert_int_equal(kick(f, O0, M0, M2, true), 0);
  assert_int_equal(kick(f, O1, M1, M2, false), 0);
  assert_int_equal(count(f, ST_K_META_KICK), 0);
  assert_int_equal(meta(f, M2).status, ST_NODE_ACTIVE);
  /* A kicked node votes no more. */
  assert_int_equal(kick(f, O3, M3, M2, true), ST_EPERM);
}

static void test_remove_active_meta(void **state) {
  fix_t *f = *state;
  assert_int_equal(remove_meta(f, O2, M1), ST_EPERM);
  assert_int_equal(remove_meta(f, O1, M1), 0);
  st_chain__node_t n = meta(f, M1);
  assert_int_equal(n.status, ST_NODE_REMOVED);
  uint8_t e[128];
  event_is(f, 0, e, ev_meta(&n, e));
  assert_true(pool(f).S == 8012 - 2001);
  assert_true(pool(f).Lt == 5800 - 200);
  assert_int_equal(remove_meta(f, O1, M1), ST_EPERM);
  assert_int_equal(kick(f, O0, M0, M1, true), ST_EPERM);
  end_block(f, T0 + UNBOND);
  assert_true(bal(f, addr(O1)) == T_BALANCE + 2001);
  assert_true(deposits(f) == 8012 - 2001);
}

/* The thresholds with other numbers of authorities: six active, a
 * candidate needs 5 yes and is rejected by 2 no. */
static void test_thresholds_with_six(void **state) {
  fix_t *f = *state;
  uint32_t yes, no, active;
  assert_int_equal(create_meta(f, OC, MC, "2000"), 0);
  assert_int_equal(create_meta(f, OX, MC2, "2000"), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(vote(f, O0 + i, M0 + i, MC, true), 0);
  /* Five active now: the second candidate needs 5*2/3+1 = 4. */
  for (int i = 0; i < 3; i++)
    assert_int_equal(vote(f, O0 + i, M0 + i, MC2, true), 0);
  assert_int_equal(meta(f, MC2).status, ST_NODE_PENDING);
  assert_int_equal(vote(f, OC, MC, MC2, true), 0);
  assert_int_equal(meta(f, MC2).status, ST_NODE_ACTIVE);
  /* A third one, voted on by six. */
  assert_int_equal(create_meta(f, OR, RN, "2000"), 0);
  assert_int_equal(st_chain__meta_tally(&f->c, f->na[RN], false, &yes, &no, &active), 0);
  assert_int_equal(active, 6);
  assert_int_equal(vote(f, OC, MC, RN, false), 0);
  assert_int_equal(meta(f, RN).status, ST_NODE_PENDING); /* 1 < 2 */
  for (int i = 0; i < 4; i++)
    assert_int_equal(vote(f, O0 + i, M0 + i, RN, true), 0);
  assert_int_equal(meta(f, RN).status, ST_NODE_PENDING); /* 4 < 5 and 1 < 2 */
  assert_int_equal(vote(f, OX, MC2, RN, false), 0);
  assert_int_equal(meta(f, RN).status, ST_NODE_REJECTED);
}

/* ---- genesis parsing ---- */

static json_t *gnode(const uint8_t pk[ST_PUBKEY_LEN], int owner, const char *deposit) {
  char hex[2 * ST_PUBKEY_LEN + 1];
  st_hex_encode(pk, ST_PUBKEY_LEN, hex, sizeof(hex));
  return json_pack("{s:s,s:o,s:s,s:s,s:s}", "pub_key", hex, "owner", t_addr_json(addr(owner)),
                   "deposit", deposit, "network_address", "10.1.1.1:26800", "moniker", "m");
}

static void parse_fails(fix_t *f, json_t *g, const char *want) {
  st_chain__gnodes_t out;
  char err[256];
  assert_int_equal(st_chain__register_genesis_parse(g, &f->p, &out, err, sizeof(err)),
                   ST_ECONFIG);
  assert_string_equal(err, want);
  assert_null(out.meta);
  assert_null(out.res);
  json_decref(g);
}

static void test_genesis_parse(void **state) {
  fix_t *f = *state;
  json_t *g = json_object();
  json_t *m = json_array(), *r = json_array();
  json_array_append_new(m, gnode(f->pk[M0], O0, "2000"));
  json_array_append_new(m, gnode(f->pk[M1], O1, "3000"));
  json_t *rn = gnode(f->pk[RN], OR, "1000");
  json_object_set_new(rn, "capacity", json_integer(1 << 30));
  json_array_append_new(r, rn);
  json_object_set_new(g, "meta_nodes", m);
  json_object_set_new(g, "resource_nodes", r);
  st_chain__gnodes_t out;
  char err[256];
  assert_int_equal(st_chain__register_genesis_parse(g, &f->p, &out, err, sizeof(err)), 0);
  assert_int_equal(out.nmeta, 2);
  assert_int_equal(out.nres, 1);
  assert_memory_equal(out.meta[1].addr, f->na[M1], ST_ADDR_LEN);
  assert_memory_equal(out.meta[1].owner, addr(O1), ST_ADDR_LEN);
  assert_true(out.meta[1].deposit == 3000);
  assert_int_equal(out.res[0].type, 4);
  assert_true(out.res[0].capacity == 1 << 30);
  assert_string_equal(out.res[0].network_address, "10.1.1.1:26800");
  st_chain__register_genesis_free(&out);

  /* The errors, each naming its field. */
  json_t *b = json_deep_copy(g);
  json_object_set_new(json_array_get(json_object_get(b, "meta_nodes"), 1), "deposit",
                      json_string("1999"));
  parse_fails(f, b, "meta_nodes[1].deposit: 1999 is below the minimum deposit 2000");
  b = json_deep_copy(g);
  json_object_set_new(json_array_get(json_object_get(b, "meta_nodes"), 0), "deposit",
                      json_string("01"));
  parse_fails(f, b, "meta_nodes[0].deposit: must be a decimal string of wei (u128, no leading "
                    "zeros)");
  b = json_deep_copy(g);
  json_object_set_new(json_array_get(json_object_get(b, "meta_nodes"), 0), "pub_key",
                      json_string("abcd"));
  parse_fails(f, b, "meta_nodes[0].pub_key: must be 64 hex digits (an ed25519 node key)");
  b = json_deep_copy(g);
  json_object_set_new(json_array_get(json_object_get(b, "meta_nodes"), 0), "owner",
                      json_string("stsds1qqqq"));
  parse_fails(f, b, "meta_nodes[0].owner: must be an st1... address");
  b = json_deep_copy(g);
  json_object_set_new(json_array_get(json_object_get(b, "meta_nodes"), 0), "node_type",
                      json_integer(4));
  parse_fails(f, b, "meta_nodes[0].node_type: unknown field");
  b = json_deep_copy(g);
  json_object_del(json_array_get(json_object_get(b, "resource_nodes"), 0), "capacity");
  parse_fails(f, b, "resource_nodes[0].capacity: must be a positive integer (bytes)");
  b = json_deep_copy(g);
  json_object_set_new(json_array_get(json_object_get(b, "resource_nodes"), 0), "node_type",
                      json_integer(8));
  parse_fails(f, b, "resource_nodes[0].node_type: must be 1 to 7, a bitmask of storage 4, "
                    "database 2, computation 1");
  b = json_deep_copy(g);
  json_object_set_new(json_array_get(json_object_get(b, "resource_nodes"), 0),
                      "network_address", json_string("a\tb:1"));
  parse_fails(f, b, "resource_nodes[0].network_address: must be 3 to 128 printable ASCII "
                    "characters");
  b = json_deep_copy(g);
  json_object_set_new(json_array_get(json_object_get(b, "meta_nodes"), 1), "pub_key",
                      json_string(json_string_value(json_object_get(
                        json_array_get(json_object_get(g, "meta_nodes"), 0), "pub_key"))));
  char hex[2 * ST_PUBKEY_LEN + 1], want[200];
  st_hex_encode(f->pk[M0], ST_PUBKEY_LEN, hex, sizeof(hex));
  snprintf(want, sizeof(want), "meta_nodes: pub_key %s appears more than once", hex);
  parse_fails(f, b, want);
  /* One key in both lists: a node that is both (stratosd dev). */
  b = json_deep_copy(g);
  json_object_set_new(json_array_get(json_object_get(b, "resource_nodes"), 0), "pub_key",
                      json_string(json_string_value(json_object_get(
                        json_array_get(json_object_get(g, "meta_nodes"), 0), "pub_key"))));
  assert_int_equal(st_chain__register_genesis_parse(b, &f->p, &out, err, sizeof(err)), 0);
  st_chain__register_genesis_free(&out);
  json_decref(b);
  b = json_deep_copy(g);
  json_object_set_new(b, "meta_nodes", json_object());
  parse_fails(f, b, "meta_nodes: must be an array");
  json_decref(g);
  /* Absent: nothing. */
  g = json_object();
  assert_int_equal(st_chain__register_genesis_parse(g, &f->p, &out, err, sizeof(err)), 0);
  assert_int_equal(out.nmeta + out.nres, 0);
  json_decref(g);
}

/* ---- the queries, over a chain whose state holds nodes ---- */

typedef struct qfix {
  char dir[PATH_MAX];
  st_store_t *s;
  st_chain_t ch;
  uint8_t pk[NNODES][ST_PUBKEY_LEN];
  uint8_t na[NNODES][ST_ADDR_LEN];
} qfix_t;

/* Three active meta nodes, a candidate with one yes, a resource node
 * whose owner took 100 wei out at time 5000. */
static int qsetup(void **state) {
  qfix_t *q = calloc(1, sizeof(*q));
  t_chain_open(q->dir, sizeof(q->dir), &q->s, &q->ch, 2);
  st_chain__params_t *p = &q->ch.gen.p;
  p->resource_node_min_deposit = RES_MIN;
  p->meta_node_min_deposit = META_MIN;
  p->node_unbonding_time_ms = UNBOND;
  p->deposit_noz_rate = RATE;
  for (int i = 0; i < NNODES; i++) {
    st_keypair_t kp;
    t_key(20 + i, &kp, q->na[i]);
    memcpy(q->pk[i], kp.pk, ST_PUBKEY_LEN);
  }
  t_state_w_t w;
  t_state_begin(&w, &q->ch, 3, 5000);
  st_chain__gnode_t gn[4];
  memset(gn, 0, sizeof(gn));
  for (int i = 0; i < 4; i++) {
    int k = i < 3 ? M0 + i : RN;
    memcpy(gn[i].pubkey, q->pk[k], ST_PUBKEY_LEN);
    memcpy(gn[i].addr, q->na[k], ST_ADDR_LEN);
    memcpy(gn[i].owner, addr(i < 3 ? O0 + i : OR), ST_ADDR_LEN);
    gn[i].deposit = i < 3 ? 2000 : 1500;
    gn[i].type = 4;
    gn[i].capacity = 1000000;
    snprintf(gn[i].network_address, sizeof(gn[i].network_address), "10.0.0.%d:80", i);
    snprintf(gn[i].moniker, sizeof(gn[i].moniker), "n%d", i);
  }
  st_chain__gnodes_t nodes = {.meta = gn, .nmeta = 3, .res = gn + 3, .nres = 1};
  assert_int_equal(st_chain__register_genesis(&nodes, &w.c), 0);
  st_chain__acct_t a = {T_BALANCE, 0};
  assert_int_equal(st_chain__ov_put(&w.ov, addr(OC), &a), 0);
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgCreateMetaNode m;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_create_meta_node__init(&m);
  m.pubkey = bin(q->pk[MC], ST_PUBKEY_LEN);
  m.deposit = mut("2500");
  m.network_address = mut("198.51.100.4:26800");
  m.moniker = mut("candidate");
  b.msg_case = STRATOS__TX__TX_BODY__MSG_CREATE_META_NODE;
  b.create_meta_node = &m;
  assert_int_equal(st_chain__register_exec(&w.c, addr(OC), &b), 0);
  Stratos__Tx__MsgMetaNodeRegistrationVote v;
  stratos__tx__msg_meta_node_registration_vote__init(&v);
  v.candidate = bin(q->na[MC], ST_ADDR_LEN);
  v.voter = bin(q->na[M1], ST_ADDR_LEN);
  v.approve = true;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_META_NODE_REGISTRATION_VOTE;
  b.meta_node_registration_vote = &v;
  assert_int_equal(st_chain__register_exec(&w.c, addr(O1), &b), 0);
  Stratos__Tx__MsgUpdateResourceNodeDeposit u;
  stratos__tx__msg_update_resource_node_deposit__init(&u);
  u.node = bin(q->na[RN], ST_ADDR_LEN);
  u.amount = mut("100");
  u.decrease = true;
  b.msg_case = STRATOS__TX__TX_BODY__MSG_UPDATE_RESOURCE_NODE_DEPOSIT;
  b.update_resource_node_deposit = &u;
  assert_int_equal(st_chain__register_exec(&w.c, addr(OR), &b), 0);
  t_state_commit(&w);
  *state = q;
  return 0;
}

static int qteardown(void **state) {
  qfix_t *q = *state;
  t_chain_close(q->dir, q->s, &q->ch);
  free(q);
  return 0;
}

typedef int (*qfn_t)(st_chain_t *, json_t *, json_t **, char *, size_t);

static json_t *q_ok(qfix_t *q, qfn_t fn, json_t *params) {
  json_t *res = NULL;
  char err[256];
  int rc = fn(&q->ch, params, &res, err, sizeof(err));
  json_decref(params);
  if (rc != 0)
    fail_msg("query failed: %s", err);
  return res;
}

static void q_err(qfix_t *q, qfn_t fn, json_t *params, const char *want) {
  json_t *res = NULL;
  char err[256];
  assert_int_equal(fn(&q->ch, params, &res, err, sizeof(err)), ST_RPC_INVALID_PARAMS);
  assert_null(res);
  assert_string_equal(err, want);
  json_decref(params);
}

static const char *jstr(json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  assert_non_null(s);
  return s;
}

static json_t *naddr(const uint8_t a[ST_ADDR_LEN]) {
  char s[ST_ADDR_STR_MAX];
  assert_int_equal(st_addr_encode(ST_HRP_NODE, a, s, sizeof(s)), 0);
  return json_string(s);
}

static void test_node_queries(void **state) {
  qfix_t *q = *state;
  char hex[2 * ST_PUBKEY_LEN + 1];
  json_t *r = q_ok(q, st_chain__q_resource_nodes, NULL);
  assert_int_equal(json_integer_value(json_object_get(r, "total")), 1);
  json_t *n = json_array_get(json_object_get(r, "resource_nodes"), 0);
  json_t *want = naddr(q->na[RN]);
  assert_string_equal(jstr(n, "address"), json_string_value(want));
  json_decref(want);
  st_hex_encode(q->pk[RN], ST_PUBKEY_LEN, hex, sizeof(hex));
  assert_string_equal(jstr(n, "pub_key"), hex);
  want = t_addr_json(addr(OR));
  assert_string_equal(jstr(n, "owner"), json_string_value(want));
  json_decref(want);
  assert_string_equal(jstr(n, "deposit"), "1400");
  assert_string_equal(jstr(n, "status"), "active");
  assert_string_equal(jstr(n, "network_address"), "10.0.0.3:80");
  assert_string_equal(jstr(n, "moniker"), "n3");
  assert_int_equal(json_integer_value(json_object_get(n, "node_type")), 4);
  assert_int_equal(json_integer_value(json_object_get(n, "capacity")), 1000000);
  assert_true(json_is_false(json_object_get(n, "suspended")));
  assert_int_equal(json_integer_value(json_object_get(n, "created_height")), 0);
  assert_null(json_object_get(n, "unbonding")); /* in the single query only */
  json_decref(r);

  /* One node, with its deposit unbonding. */
  r = q_ok(q, st_chain__q_resource_node, json_pack("{s:o}", "address", naddr(q->na[RN])));
  json_t *u = json_object_get(r, "unbonding");
  assert_int_equal(json_array_size(u), 1);
  assert_string_equal(jstr(json_array_get(u, 0), "amount"), "100");
  assert_int_equal(json_integer_value(json_object_get(json_array_get(u, 0),
                                                      "completion_time_ms")),
                   5000 + UNBOND);
  json_decref(r);

  /* Meta nodes: the pending one with its tally and thresholds. */
  r = q_ok(q, st_chain__q_meta_nodes, NULL);
  assert_int_equal(json_integer_value(json_object_get(r, "total")), 4);
  assert_null(json_object_get(json_array_get(json_object_get(r, "meta_nodes"), 0),
                              "node_type"));
  json_decref(r);
  r = q_ok(q, st_chain__q_meta_nodes, json_pack("{s:s}", "status", "pending"));
  assert_int_equal(json_integer_value(json_object_get(r, "total")), 1);
  n = json_array_get(json_object_get(r, "meta_nodes"), 0);
  char *votes = json_dumps(json_object_get(n, "votes"), JSON_COMPACT | JSON_SORT_KEYS);
  assert_string_equal(votes, "{\"active\":3,\"approve_at\":3,\"no\":0,\"reject_at\":1,"
                             "\"yes\":1}");
  free(votes);
  assert_string_equal(jstr(n, "deposit"), "2500");
  json_decref(r);
  r = q_ok(q, st_chain__q_meta_nodes,
           json_pack("{s:s,s:i,s:i}", "status", "active", "page", 2, "per_page", 2));
  assert_int_equal(json_integer_value(json_object_get(r, "total")), 3);
  assert_int_equal(json_array_size(json_object_get(r, "meta_nodes")), 1);
  json_decref(r);
  r = q_ok(q, st_chain__q_meta_node, json_pack("{s:o}", "address", naddr(q->na[M0])));
  assert_string_equal(jstr(r, "status"), "active");
  assert_null(json_object_get(r, "votes"));
  assert_null(json_object_get(r, "kick_votes"));
  assert_int_equal(json_array_size(json_object_get(r, "unbonding")), 0);
  json_decref(r);

  /* Errors. */
  char s[ST_ADDR_STR_MAX], msg[160];
  st_addr_encode(ST_HRP_NODE, q->na[MC2], s, sizeof(s));
  snprintf(msg, sizeof(msg), "meta node %s not found", s);
  q_err(q, st_chain__q_meta_node, json_pack("{s:s}", "address", s), msg);
  q_err(q, st_chain__q_resource_node, json_pack("{s:o}", "address", t_addr_json(addr(OR))),
        "invalid params: address must be an stsds1... node address");
  q_err(q, st_chain__q_resource_node, json_object(), "invalid params: address is required");
  q_err(q, st_chain__q_resource_nodes, json_pack("{s:s}", "status", "pending"),
        "invalid params: status must be \"active\" or \"removed\"");
  q_err(q, st_chain__q_meta_nodes, json_pack("{s:i}", "page", 2),
        "invalid params: page 2 is out of range; there is 1 page");
}

int main(void) {
  st_crypto_init();
  st_log_set_level(ST_LOG_ERROR);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_genesis_nodes, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_create_resource_node, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_resource_deposit_unbonds, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_meta_approved_at_three_of_four, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_meta_rejected_at_one_of_four, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_votes_refused, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_kick, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_remove_active_meta, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_thresholds_with_six, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_genesis_parse, setup, fix_teardown),
    cmocka_unit_test_setup_teardown(test_node_queries, qsetup, qteardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
