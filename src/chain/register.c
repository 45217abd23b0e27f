/* Register: resource nodes and meta nodes, their deposits, the votes of
 * the active meta nodes on candidates and on kicking one of their own,
 * and the deposits that unbond when a node leaves or its owner takes
 * part of its deposit back.
 *
 * A resource node is active from the tx that creates it. A meta node
 * starts pending and becomes active — an authority of the meta chain —
 * once active*2/3+1 active meta nodes approve it; max(1, active/3)
 * rejections turn it down (active/3 alone would be 0 with fewer than
 * three authorities, and a single vote would then reject on nothing).
 * Kick votes work the same way on an active node. Votes are counted
 * when one is cast, against the active set of that moment, and only the
 * votes of nodes that are still active count.
 *
 * A deposit that leaves — decreased, a node removed, rejected or
 * kicked — waits node_unbonding_time_ms in node_deposits under
 * ST_K_NODE_UBD|time|node|seq and is paid to the owner by the end block
 * of the first block at or after that time. It stops counting in the
 * ozone pool's S at once.
 *
 * The meta chain learns what changed from the ST_EV_RES_NODE and
 * ST_EV_META_NODE events: every change of a resource node, and a meta
 * node's entering or leaving the active set (a candidate it never saw
 * needs no event). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include "chain/nodes.h"
#include "tx.pb-c.h"

#define SP ST_CHAIN__SP_STATE
#define U128_MAX (~(st_u128)0)
/* status suspended type pubkey owner deposit capacity created netlen monlen */
#define NODE_FIXED (3 + ST_PUBKEY_LEN + ST_ADDR_LEN + 16 + 8 + 8 + 1 + 1)
#define NODE_MAX (NODE_FIXED + ST_NODE_NETADDR_MAX + ST_MONIKER_MAX)
#define VOTE_KEY_LEN (1 + 2 * ST_ADDR_LEN)        /* kind node(20) voter(20) */
#define UBD_KEY_LEN (1 + 8 + ST_ADDR_LEN + 8)     /* kind time(8) node(20) seq(8) */
#define UBD_VAL_LEN (ST_ADDR_LEN + 16)            /* owner(20) amount(16) */
_Static_assert(sizeof(((st_chain__gnode_t *)0)->network_address) == ST_NODE_NETADDR_MAX + 1 &&
                 sizeof(((st_chain__gnode_t *)0)->moniker) == ST_MONIKER_MAX + 1,
               "genesis nodes hold what a node record holds");
/* node pubkey owner type capacity deposit status suspended addr_len, then the address */
#define EV_RES_FIXED (ST_ADDR_LEN + ST_PUBKEY_LEN + ST_ADDR_LEN + 1 + 8 + 16 + 1 + 1 + 1)
#define EV_META_LEN (ST_ADDR_LEN + ST_PUBKEY_LEN + ST_ADDR_LEN + 16 + 1)

/* ---- module accounts ---- */

static const char *const macc_names[] = {"node_deposits", "sds_pool", "foundation",
                                         "traffic_rewards"};
#define MACC_NAMED_N (sizeof(macc_names) / sizeof(macc_names[0]))
static uint8_t macc_addr[MACC_NAMED_N][ST_ADDR_LEN];
static bool macc_ready;

const uint8_t *st_chain__macc_named(const char *name) {
  if (!macc_ready) {
    /* Deterministic: two threads racing here write the same bytes. */
    for (size_t i = 0; i < MACC_NAMED_N; i++) {
      uint8_t h[ST_HASH_LEN];
      st_hash(ST_DOM_MODULE, macc_names[i], strlen(macc_names[i]), h);
      memcpy(macc_addr[i], h, ST_ADDR_LEN);
    }
    macc_ready = true;
  }
  for (size_t i = 0; i < MACC_NAMED_N; i++)
    if (strcmp(name, macc_names[i]) == 0)
      return macc_addr[i];
  return NULL;
}

static const uint8_t *deposits_acct(void) {
  return st_chain__macc_named("node_deposits");
}

const char *st_chain__node_status_name(uint8_t status) {
  switch (status) {
  case ST_NODE_ACTIVE: return "active";
  case ST_NODE_PENDING: return "pending";
  case ST_NODE_REMOVED: return "removed";
  case ST_NODE_REJECTED: return "rejected";
  case ST_NODE_KICKED: return "kicked";
  default: return "unknown";
  }
}

/* The stsds1... form of a node address, for refusals. */
typedef struct { char s[ST_ADDR_STR_MAX]; } nstr_t;

static nstr_t nstr(const uint8_t a[ST_ADDR_LEN]) {
  nstr_t r;
  if (st_addr_encode(ST_HRP_NODE, a, r.s, sizeof(r.s)) != 0)
    snprintf(r.s, sizeof(r.s), "?");
  return r;
}

static nstr_t wei(st_u128 v) {
  nstr_t r;
  st_u128_format(v, r.s);
  return r;
}

/* ---- records ---- */

static void node_encode(const st_chain__node_t *n, uint8_t *p, size_t *len) {
  size_t al = strlen(n->network_address), ml = strlen(n->moniker);
  p[0] = n->status;
  p[1] = n->suspended;
  p[2] = n->type;
  uint8_t *q = p + 3;
  memcpy(q, n->pubkey, ST_PUBKEY_LEN);
  memcpy(q + ST_PUBKEY_LEN, n->owner, ST_ADDR_LEN);
  q += ST_PUBKEY_LEN + ST_ADDR_LEN;
  st_chain__put128(q, n->deposit);
  st_chain__be64(q + 16, n->capacity);
  st_chain__be64(q + 24, (uint64_t)n->created_height);
  q += 32;
  *q++ = (uint8_t)al;
  memcpy(q, n->network_address, al);
  q += al;
  *q++ = (uint8_t)ml;
  memcpy(q, n->moniker, ml);
  *len = NODE_FIXED + al + ml;
}

static int node_decode(const uint8_t addr[ST_ADDR_LEN], const uint8_t *p, size_t len,
                       st_chain__node_t *n) {
  memset(n, 0, sizeof(*n));
  if (len < NODE_FIXED)
    return ST_ECORRUPT;
  const uint8_t *q = p + 3 + ST_PUBKEY_LEN + ST_ADDR_LEN + 32;
  size_t al = q[0];
  if (al > ST_NODE_NETADDR_MAX || len < NODE_FIXED + al)
    return ST_ECORRUPT;
  size_t ml = q[1 + al];
  if (ml > ST_MONIKER_MAX || len != NODE_FIXED + al + ml)
    return ST_ECORRUPT;
  memcpy(n->addr, addr, ST_ADDR_LEN);
  n->status = p[0];
  n->suspended = p[1] != 0;
  n->type = p[2];
  memcpy(n->pubkey, p + 3, ST_PUBKEY_LEN);
  memcpy(n->owner, p + 3 + ST_PUBKEY_LEN, ST_ADDR_LEN);
  const uint8_t *f = p + 3 + ST_PUBKEY_LEN + ST_ADDR_LEN;
  n->deposit = st_chain__get128(f);
  n->capacity = st_chain__rd64(f + 16);
  n->created_height = (int64_t)st_chain__rd64(f + 24);
  memcpy(n->network_address, q + 1, al);
  n->network_address[al] = '\0';
  memcpy(n->moniker, q + 2 + al, ml);
  n->moniker[ml] = '\0';
  return 0;
}

static int node_get(st_chain__ctx_t *c, uint8_t kind, const uint8_t addr[ST_ADDR_LEN],
                    st_chain__node_t *n) {
  uint8_t k[1 + ST_ADDR_LEN], a[ST_ADDR_LEN];
  const uint8_t *v;
  size_t vn;
  memcpy(a, addr, ST_ADDR_LEN); /* addr may point into n */
  int rc = st_chain__ov_read(c->ov, SP, k, st_chain__k1(k, kind, a), &v, &vn);
  return rc != 0 ? rc : node_decode(a, v, vn, n);
}

static int node_put(st_chain__ctx_t *c, uint8_t kind, const st_chain__node_t *n) {
  uint8_t k[1 + ST_ADDR_LEN], v[NODE_MAX];
  size_t vn;
  node_encode(n, v, &vn);
  return st_chain__ov_write(c->ov, SP, k, st_chain__k1(k, kind, n->addr), v, vn);
}

int st_chain__res_node_get(st_chain__ctx_t *c, const uint8_t addr[ST_ADDR_LEN],
                           st_res_node_t *n) {
  return node_get(c, ST_K_RES_NODE, addr, n);
}

int st_chain__meta_node_get(st_chain__ctx_t *c, const uint8_t addr[ST_ADDR_LEN],
                            st_meta_node_t *n) {
  return node_get(c, ST_K_META_NODE, addr, n);
}

/* ---- scans ----
 * A scan callback must neither change nor read the overlay, so scans
 * copy what they see and the work happens after. */

/* Copies the records of prefix; a queue copies those due by due
 * (ST_CHAIN__NOT_DUE: not a queue). */
static int collect(st_chain__ctx_t *c, const uint8_t *prefix, size_t plen, int64_t due,
                   st_chain__recs_t *l) {
  return st_chain__ov_collect(c->ov, SP, prefix, plen, due, 0, l);
}

int st_chain__nodes_list(st_chain__ctx_t *c, bool meta, st_chain__node_t **out, size_t *n) {
  uint8_t kind = meta ? ST_K_META_NODE : ST_K_RES_NODE;
  st_chain__recs_t l;
  *out = NULL;
  *n = 0;
  int rc = collect(c, &kind, 1, ST_CHAIN__NOT_DUE, &l);
  if (rc != 0)
    return rc;
  st_chain__node_t *v = calloc(l.n ? l.n : 1, sizeof(*v));
  if (!v)
    rc = ST_ENOMEM;
  for (size_t i = 0; i < l.n && rc == 0; i++)
    rc = l.v[i].klen != 1 + ST_ADDR_LEN
           ? ST_ECORRUPT
           : node_decode(l.v[i].key + 1, l.v[i].val, l.v[i].vlen, &v[i]);
  if (rc == 0) {
    *out = v;
    *n = l.n;
  } else {
    free(v);
  }
  st_chain__recs_free(&l);
  return rc;
}

/* The number of active meta nodes (the first value byte is the status). */
static int count_cb(const void *key, size_t klen, const void *val, size_t vlen, void *ud) {
  if (vlen < NODE_FIXED)
    return ST_ECORRUPT;
  if (((const uint8_t *)val)[0] == ST_NODE_ACTIVE)
    (*(uint32_t *)ud)++;
  return 0;
}

static int active_count(st_chain__ctx_t *c, uint32_t *n) {
  uint8_t kind = ST_K_META_NODE;
  *n = 0;
  return st_chain__ov_scan(c->ov, SP, &kind, 1, count_cb, n);
}

/* Deletes every record collected in l. */
static int del_all(st_chain__ctx_t *c, const st_chain__recs_t *l) {
  int rc = 0;
  for (size_t i = 0; i < l->n && rc == 0; i++)
    rc = st_chain__ov_del(c->ov, SP, l->v[i].key, l->v[i].klen);
  return rc;
}

/* Deletes the votes (kind ST_K_META_VOTE or ST_K_META_KICK) on node. */
static int votes_clear(st_chain__ctx_t *c, uint8_t kind, const uint8_t node[ST_ADDR_LEN]) {
  uint8_t p[1 + ST_ADDR_LEN];
  st_chain__recs_t l;
  int rc = collect(c, p, st_chain__k1(p, kind, node), ST_CHAIN__NOT_DUE, &l);
  if (rc == 0)
    rc = del_all(c, &l);
  st_chain__recs_free(&l);
  return rc;
}

/* Deletes the votes voter cast, of both kinds: a node that leaves the
 * active set must not count again should it come back. */
static int voter_votes_clear(st_chain__ctx_t *c, const uint8_t voter[ST_ADDR_LEN]) {
  static const uint8_t kinds[] = {ST_K_META_VOTE, ST_K_META_KICK};
  int rc = 0;
  for (size_t k = 0; k < sizeof(kinds) && rc == 0; k++) {
    st_chain__recs_t l;
    rc = collect(c, &kinds[k], 1, ST_CHAIN__NOT_DUE, &l);
    for (size_t i = 0; i < l.n && rc == 0; i++)
      if (l.v[i].klen == VOTE_KEY_LEN &&
          memcmp(l.v[i].key + 1 + ST_ADDR_LEN, voter, ST_ADDR_LEN) == 0)
        rc = st_chain__ov_del(c->ov, SP, l.v[i].key, l.v[i].klen);
    st_chain__recs_free(&l);
  }
  return rc;
}

int st_chain__meta_tally(st_chain__ctx_t *c, const uint8_t node[ST_ADDR_LEN], bool kick,
                         uint32_t *yes, uint32_t *no, uint32_t *active) {
  uint8_t p[1 + ST_ADDR_LEN], kind = kick ? ST_K_META_KICK : ST_K_META_VOTE;
  st_chain__recs_t l;
  *yes = *no = 0;
  int rc = active_count(c, active);
  if (rc == 0)
    rc = collect(c, p, st_chain__k1(p, kind, node), ST_CHAIN__NOT_DUE, &l);
  if (rc != 0)
    return rc;
  for (size_t i = 0; i < l.n && rc == 0; i++) {
    st_chain__node_t v;
    if (l.v[i].klen != VOTE_KEY_LEN || l.v[i].vlen != 1) {
      rc = ST_ECORRUPT;
      break;
    }
    rc = node_get(c, ST_K_META_NODE, l.v[i].key + 1 + ST_ADDR_LEN, &v);
    if (rc == ST_ENOENT) {
      rc = 0; /* cannot happen (votes go with their voter), and would not count */
      continue;
    }
    if (rc == 0 && v.status == ST_NODE_ACTIVE)
      (*(l.v[i].val[0] ? yes : no))++;
  }
  st_chain__recs_free(&l);
  return rc;
}

/* ---- events ---- */

static int ev_res(st_chain__ctx_t *c, const st_chain__node_t *n) {
  uint8_t e[EV_RES_FIXED + ST_NODE_NETADDR_MAX], *p = e;
  size_t al = strlen(n->network_address);
  memcpy(p, n->addr, ST_ADDR_LEN);
  memcpy(p + ST_ADDR_LEN, n->pubkey, ST_PUBKEY_LEN);
  memcpy(p + ST_ADDR_LEN + ST_PUBKEY_LEN, n->owner, ST_ADDR_LEN);
  p += 2 * ST_ADDR_LEN + ST_PUBKEY_LEN;
  p[0] = n->type;
  st_chain__be64(p + 1, n->capacity);
  st_chain__put128(p + 9, n->deposit);
  p[25] = n->status;
  p[26] = n->suspended;
  p[27] = (uint8_t)al;
  memcpy(p + 28, n->network_address, al);
  return st_chain__event_add(c, ST_EV_RES_NODE, e, EV_RES_FIXED + al);
}

static int ev_meta(st_chain__ctx_t *c, const st_chain__node_t *n) {
  uint8_t e[EV_META_LEN], *p = e;
  memcpy(p, n->addr, ST_ADDR_LEN);
  memcpy(p + ST_ADDR_LEN, n->pubkey, ST_PUBKEY_LEN);
  memcpy(p + ST_ADDR_LEN + ST_PUBKEY_LEN, n->owner, ST_ADDR_LEN);
  p += 2 * ST_ADDR_LEN + ST_PUBKEY_LEN;
  st_chain__put128(p, n->deposit);
  p[16] = n->status;
  return st_chain__event_add(c, ST_EV_META_NODE, e, sizeof(e));
}

/* ---- deposits ---- */

/* t + d, held at INT64_MAX. */
static int64_t later(int64_t t, int64_t d) {
  return d > INT64_MAX - t ? INT64_MAX : t + d;
}

/* Starts the unbonding of amount of node's deposit, owed to owner. */
static int ubd_add(st_chain__ctx_t *c, const uint8_t node[ST_ADDR_LEN],
                   const uint8_t owner[ST_ADDR_LEN], st_u128 amount) {
  uint8_t k[UBD_KEY_LEN], v[UBD_VAL_LEN];
  uint64_t seq;
  if (amount == 0)
    return 0;
  int rc = st_chain__counter_next(c, "node_ubd", &seq);
  if (rc != 0)
    return rc;
  k[0] = ST_K_NODE_UBD;
  st_chain__be64(k + 1, (uint64_t)later(c->time_ms, c->p->node_unbonding_time_ms));
  memcpy(k + 9, node, ST_ADDR_LEN);
  st_chain__be64(k + 9 + ST_ADDR_LEN, seq);
  memcpy(v, owner, ST_ADDR_LEN);
  st_chain__put128(v + ST_ADDR_LEN, amount);
  return st_chain__ov_write(c->ov, SP, k, sizeof(k), v, sizeof(v));
}

int st_chain__register_end_block(st_chain__ctx_t *c) {
  uint8_t kind = ST_K_NODE_UBD;
  st_chain__recs_t l;
  int rc = collect(c, &kind, 1, c->time_ms < 0 ? 0 : c->time_ms, &l);
  for (size_t i = 0; i < l.n && rc == 0; i++) {
    const st_chain__rec_t *it = &l.v[i];
    if (it->klen != UBD_KEY_LEN || it->vlen != UBD_VAL_LEN) {
      rc = ST_ECORRUPT;
      break;
    }
    rc = st_chain__xfer(c, deposits_acct(), it->val, st_chain__get128(it->val + ST_ADDR_LEN));
    if (rc == ST_EPERM)
      rc = ST_ECORRUPT; /* node_deposits holds less than it owes */
    if (rc == 0)
      rc = st_chain__ov_del(c->ov, SP, it->key, it->klen);
  }
  st_chain__recs_free(&l);
  return rc;
}

/* A node's deposit leaves: it unbonds, and stops counting in S when it
 * counted (effective). */
static int deposit_leave(st_chain__ctx_t *c, st_chain__node_t *n, bool effective) {
  st_u128 d = n->deposit;
  n->deposit = 0;
  int rc = ubd_add(c, n->addr, n->owner, d);
  if (rc == 0 && effective)
    rc = st_chain__sds_deposit_changed(c, 0, d);
  return rc;
}

/* ---- checks shared by the messages ---- */

/* The record of the node of kind at addr, which sender must own. */
static int owned(st_chain__ctx_t *c, uint8_t kind, const uint8_t *addr, size_t alen,
                 const uint8_t sender[ST_ADDR_LEN], st_chain__node_t *n) {
  const char *what = kind == ST_K_RES_NODE ? "resource node" : "meta node";
  if (alen != ST_ADDR_LEN)
    return st_chain__refuse(c, ST_EINVAL, "node address must be %d bytes", ST_ADDR_LEN);
  int rc = node_get(c, kind, addr, n);
  if (rc == ST_ENOENT)
    return st_chain__refuse(c, ST_ENOENT, "%s %s not found", what, nstr(addr).s);
  if (rc != 0)
    return rc;
  if (memcmp(n->owner, sender, ST_ADDR_LEN) != 0)
    return st_chain__refuse(c, ST_EPERM, "not the owner of %s %s", what, nstr(addr).s);
  return 0;
}

/* A node key is registered once per kind while its record is live; a
 * node that left may be registered again. One key may be a meta node and
 * a resource node at once (a node that runs both roles, as `stratosd
 * dev` does): the two records and deposits are independent. */
static int key_free(st_chain__ctx_t *c, uint8_t kind, const uint8_t addr[ST_ADDR_LEN]) {
  st_chain__node_t n;
  int rc = node_get(c, kind, addr, &n);
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (n.status == ST_NODE_ACTIVE || n.status == ST_NODE_PENDING)
    return st_chain__refuse(c, ST_EEXIST, "%s %s already registered (%s)",
                            kind == ST_K_RES_NODE ? "resource node" : "meta node",
                            nstr(addr).s, st_chain__node_status_name(n.status));
  return 0;
}

static int amount_of(st_chain__ctx_t *c, const char *s, const char *what, st_u128 *out) {
  if (st_u128_parse(s, out) != 0 || *out == 0)
    return st_chain__refuse(c, ST_EINVAL, "%s must be a positive number of wei", what);
  return 0;
}

/* A new node record of sender, from the message's fields. */
static int node_new(st_chain__ctx_t *c, uint8_t kind, const uint8_t sender[ST_ADDR_LEN],
                    const ProtobufCBinaryData *pk, const char *deposit, st_u128 min,
                    const char *netaddr, const char *moniker, st_chain__node_t *n) {
  memset(n, 0, sizeof(*n));
  if (pk->len != ST_PUBKEY_LEN)
    return st_chain__refuse(c, ST_EINVAL, "pubkey must be %d bytes", ST_PUBKEY_LEN);
  if (strlen(netaddr) > ST_NODE_NETADDR_MAX || strlen(moniker) > ST_MONIKER_MAX)
    return st_chain__refuse(c, ST_EINVAL, "network_address or moniker too long");
  int rc = amount_of(c, deposit, "deposit", &n->deposit);
  if (rc != 0)
    return rc;
  if (n->deposit < min)
    return st_chain__refuse(c, ST_EINVAL, "deposit %s is below the minimum %s",
                            wei(n->deposit).s, wei(min).s);
  memcpy(n->pubkey, pk->data, ST_PUBKEY_LEN);
  st_addr_from_pubkey(n->pubkey, n->addr);
  memcpy(n->owner, sender, ST_ADDR_LEN);
  n->created_height = c->height;
  snprintf(n->network_address, sizeof(n->network_address), "%s", netaddr);
  snprintf(n->moniker, sizeof(n->moniker), "%s", moniker);
  if ((rc = key_free(c, kind, n->addr)) != 0)
    return rc;
  return st_chain__xfer(c, sender, deposits_acct(), n->deposit);
}

/* ---- resource nodes ---- */

static int create_resource(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                           const Stratos__Tx__MsgCreateResourceNode *m) {
  st_chain__node_t n;
  if (m->node_type < 1 || m->node_type > 7)
    return st_chain__refuse(c, ST_EINVAL,
                            "node_type must be a bitmask of storage 4, database 2, "
                            "computation 1");
  if (m->capacity == 0)
    return st_chain__refuse(c, ST_EINVAL, "capacity must be greater than zero");
  int rc = node_new(c, ST_K_RES_NODE, sender, &m->pubkey, m->deposit,
                    c->p->resource_node_min_deposit, m->network_address, m->moniker, &n);
  if (rc != 0)
    return rc;
  n.type = (uint8_t)m->node_type;
  n.capacity = m->capacity;
  n.status = ST_NODE_ACTIVE;
  if ((rc = node_put(c, ST_K_RES_NODE, &n)) != 0 ||
      (rc = st_chain__sds_deposit_changed(c, n.deposit, 0)) != 0)
    return rc;
  return ev_res(c, &n);
}

static int update_deposit(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                          const Stratos__Tx__MsgUpdateResourceNodeDeposit *m) {
  st_chain__node_t n;
  st_u128 x;
  int rc = owned(c, ST_K_RES_NODE, m->node.data, m->node.len, sender, &n);
  if (rc != 0 || (rc = amount_of(c, m->amount, "amount", &x)) != 0)
    return rc;
  if (n.status != ST_NODE_ACTIVE)
    return st_chain__refuse(c, ST_EPERM, "resource node %s is %s", nstr(n.addr).s,
                            st_chain__node_status_name(n.status));
  if (!m->decrease) {
    if (n.deposit > U128_MAX - x)
      return st_chain__refuse(c, ST_ERANGE, "the deposit would overflow 128 bits");
    n.deposit += x;
    if ((rc = st_chain__xfer(c, sender, deposits_acct(), x)) != 0)
      return rc;
    /* A suspended node's deposit does not count; a top-up to the minimum
     * lifts the suspension and all of it counts again. */
    if (!n.suspended)
      rc = st_chain__sds_deposit_changed(c, x, 0);
    else if (n.deposit >= c->p->resource_node_min_deposit) {
      n.suspended = false;
      rc = st_chain__sds_deposit_changed(c, n.deposit, 0);
    }
    if (rc != 0)
      return rc;
  } else if (n.suspended) {
    return st_chain__refuse(c, ST_EPERM,
                            "resource node %s is suspended: its deposit can only be topped up",
                            nstr(n.addr).s);
  } else {
    st_u128 min = c->p->resource_node_min_deposit;
    /* The minimum may have risen since: then nothing can be taken out. */
    st_u128 room = n.deposit > min ? n.deposit - min : 0;
    if (x > room)
      return st_chain__refuse(c, ST_EPERM,
                              "resource node %s holds a deposit of %s: at most %s can be "
                              "taken out above the minimum %s",
                              nstr(n.addr).s, wei(n.deposit).s, wei(room).s, wei(min).s);
    n.deposit -= x;
    if ((rc = ubd_add(c, n.addr, n.owner, x)) != 0 ||
        (rc = st_chain__sds_deposit_changed(c, 0, x)) != 0)
      return rc;
  }
  if ((rc = node_put(c, ST_K_RES_NODE, &n)) != 0)
    return rc;
  return ev_res(c, &n);
}

static int remove_resource(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                           const Stratos__Tx__MsgRemoveResourceNode *m) {
  st_chain__node_t n;
  int rc = owned(c, ST_K_RES_NODE, m->node.data, m->node.len, sender, &n);
  if (rc != 0)
    return rc;
  if (n.status != ST_NODE_ACTIVE)
    return st_chain__refuse(c, ST_EPERM, "resource node %s is already %s", nstr(n.addr).s,
                            st_chain__node_status_name(n.status));
  n.status = ST_NODE_REMOVED;
  /* A suspended node's deposit no longer counted. */
  if ((rc = deposit_leave(c, &n, !n.suspended)) != 0 ||
      (rc = node_put(c, ST_K_RES_NODE, &n)) != 0)
    return rc;
  return ev_res(c, &n);
}

int st_chain__res_node_slash(st_chain__ctx_t *c, const uint8_t addr[ST_ADDR_LEN], st_u128 wei,
                             bool suspend, st_u128 *taken) {
  st_chain__node_t n;
  int rc = node_get(c, ST_K_RES_NODE, addr, &n);
  if (rc != 0)
    return rc;
  st_u128 x = wei < n.deposit ? wei : n.deposit;
  /* What stops counting in S: all of it once suspended, else what goes. */
  st_u128 out = n.suspended ? 0 : suspend ? n.deposit : x;
  if ((rc = st_chain__xfer(c, deposits_acct(), st_chain__macc(ST_MACC_COMMUNITY), x)) != 0)
    return rc == ST_EPERM ? ST_ECORRUPT : rc; /* node_deposits holds every deposit */
  n.deposit -= x;
  n.suspended = n.suspended || suspend;
  if ((out && (rc = st_chain__sds_deposit_changed(c, 0, out)) != 0) ||
      (rc = node_put(c, ST_K_RES_NODE, &n)) != 0)
    return rc;
  *taken = x;
  return ev_res(c, &n);
}

/* ---- meta nodes ---- */

static int create_meta(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                       const Stratos__Tx__MsgCreateMetaNode *m) {
  st_chain__node_t n;
  int rc = node_new(c, ST_K_META_NODE, sender, &m->pubkey, m->deposit,
                    c->p->meta_node_min_deposit, m->network_address, m->moniker, &n);
  if (rc != 0)
    return rc;
  /* Pending: no authority, no effective deposit, no event yet. Votes on
   * an earlier record of this key went when that one was decided. */
  n.status = ST_NODE_PENDING;
  return node_put(c, ST_K_META_NODE, &n);
}

/* A meta node leaves (rejected, kicked or removed): its deposit unbonds,
 * the votes on it and, when it was active, the votes it cast go, and the
 * meta chain hears of it when it was an authority. */
static int meta_leave(st_chain__ctx_t *c, st_chain__node_t *n, uint8_t status) {
  bool was_active = n->status == ST_NODE_ACTIVE;
  n->status = status;
  int rc = deposit_leave(c, n, was_active);
  if (rc == 0)
    rc = votes_clear(c, ST_K_META_VOTE, n->addr);
  if (rc == 0 && was_active && (rc = votes_clear(c, ST_K_META_KICK, n->addr)) == 0)
    rc = voter_votes_clear(c, n->addr);
  if (rc == 0)
    rc = node_put(c, ST_K_META_NODE, n);
  if (rc == 0 && was_active)
    rc = ev_meta(c, n);
  return rc;
}

static int meta_activate(st_chain__ctx_t *c, st_chain__node_t *n) {
  n->status = ST_NODE_ACTIVE;
  int rc = votes_clear(c, ST_K_META_VOTE, n->addr);
  if (rc == 0)
    rc = st_chain__sds_deposit_changed(c, n->deposit, 0);
  if (rc == 0)
    rc = node_put(c, ST_K_META_NODE, n);
  if (rc == 0)
    rc = ev_meta(c, n);
  return rc;
}

/* The sender's active meta node that votes. */
static int voter_check(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                       const ProtobufCBinaryData *voter) {
  st_chain__node_t v;
  if (voter->len != ST_ADDR_LEN)
    return st_chain__refuse(c, ST_EINVAL, "voter address must be %d bytes", ST_ADDR_LEN);
  int rc = node_get(c, ST_K_META_NODE, voter->data, &v);
  if (rc == ST_ENOENT)
    return st_chain__refuse(c, ST_EPERM, "voter %s is not a meta node",
                            nstr(voter->data).s);
  if (rc != 0)
    return rc;
  if (v.status != ST_NODE_ACTIVE)
    return st_chain__refuse(c, ST_EPERM, "voter %s is not an active meta node (it is %s)",
                            nstr(v.addr).s, st_chain__node_status_name(v.status));
  if (memcmp(v.owner, sender, ST_ADDR_LEN) != 0)
    return st_chain__refuse(c, ST_EPERM, "not the owner of meta node %s", nstr(v.addr).s);
  return 0;
}

/* Records voter's vote of kind on node once. */
static int vote_put(st_chain__ctx_t *c, uint8_t kind, const uint8_t node[ST_ADDR_LEN],
                    const uint8_t voter[ST_ADDR_LEN], bool yes) {
  uint8_t k[VOTE_KEY_LEN], v = yes ? 1 : 0;
  const uint8_t *old;
  size_t on;
  st_chain__k2(k, kind, node, voter);
  int rc = st_chain__ov_read(c->ov, SP, k, sizeof(k), &old, &on);
  if (rc == 0)
    return st_chain__refuse(c, ST_EEXIST, "meta node %s already voted %s %s",
                            nstr(voter).s, kind == ST_K_META_VOTE ? "on" : "on kicking",
                            nstr(node).s);
  if (rc != ST_ENOENT)
    return rc;
  return st_chain__ov_write(c->ov, SP, k, sizeof(k), &v, 1);
}

static uint32_t approve_at(uint32_t active) {
  return active * 2 / 3 + 1;
}

static uint32_t reject_at(uint32_t active) {
  return active / 3 > 1 ? active / 3 : 1;
}

static int registration_vote(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                             const Stratos__Tx__MsgMetaNodeRegistrationVote *m) {
  st_chain__node_t n;
  uint32_t yes, no, active;
  int rc = voter_check(c, sender, &m->voter);
  if (rc != 0)
    return rc;
  if (m->candidate.len != ST_ADDR_LEN)
    return st_chain__refuse(c, ST_EINVAL, "candidate address must be %d bytes", ST_ADDR_LEN);
  rc = node_get(c, ST_K_META_NODE, m->candidate.data, &n);
  if (rc == ST_ENOENT)
    return st_chain__refuse(c, ST_ENOENT, "meta node %s not found",
                            nstr(m->candidate.data).s);
  if (rc != 0)
    return rc;
  if (n.status != ST_NODE_PENDING)
    return st_chain__refuse(c, ST_EPERM, "meta node %s is %s, not pending", nstr(n.addr).s,
                            st_chain__node_status_name(n.status));
  if ((rc = vote_put(c, ST_K_META_VOTE, n.addr, m->voter.data, m->approve)) != 0 ||
      (rc = st_chain__meta_tally(c, n.addr, false, &yes, &no, &active)) != 0)
    return rc;
  if (yes >= approve_at(active))
    return meta_activate(c, &n);
  if (no >= reject_at(active))
    return meta_leave(c, &n, ST_NODE_REJECTED);
  return 0;
}

static int kick_vote(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                     const Stratos__Tx__MsgKickMetaNodeVote *m) {
  st_chain__node_t n;
  uint32_t kick, keep, active;
  int rc = voter_check(c, sender, &m->voter);
  if (rc != 0)
    return rc;
  if (m->target.len != ST_ADDR_LEN)
    return st_chain__refuse(c, ST_EINVAL, "target address must be %d bytes", ST_ADDR_LEN);
  if (memcmp(m->target.data, m->voter.data, ST_ADDR_LEN) == 0)
    return st_chain__refuse(c, ST_EPERM, "a meta node may not vote on kicking itself");
  rc = node_get(c, ST_K_META_NODE, m->target.data, &n);
  if (rc == ST_ENOENT)
    return st_chain__refuse(c, ST_ENOENT, "meta node %s not found", nstr(m->target.data).s);
  if (rc != 0)
    return rc;
  if (n.status != ST_NODE_ACTIVE)
    return st_chain__refuse(c, ST_EPERM, "meta node %s is %s, not active", nstr(n.addr).s,
                            st_chain__node_status_name(n.status));
  if ((rc = vote_put(c, ST_K_META_KICK, n.addr, m->voter.data, m->kick)) != 0 ||
      (rc = st_chain__meta_tally(c, n.addr, true, &kick, &keep, &active)) != 0)
    return rc;
  if (kick >= approve_at(active))
    return meta_leave(c, &n, ST_NODE_KICKED);
  if (keep >= reject_at(active))
    return votes_clear(c, ST_K_META_KICK, n.addr); /* this attempt failed */
  return 0;
}

static int remove_meta(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                       const Stratos__Tx__MsgRemoveMetaNode *m) {
  st_chain__node_t n;
  int rc = owned(c, ST_K_META_NODE, m->node.data, m->node.len, sender, &n);
  if (rc != 0)
    return rc;
  if (n.status != ST_NODE_ACTIVE && n.status != ST_NODE_PENDING)
    return st_chain__refuse(c, ST_EPERM, "meta node %s is already %s", nstr(n.addr).s,
                            st_chain__node_status_name(n.status));
  return meta_leave(c, &n, ST_NODE_REMOVED);
}

int st_chain__register_exec(st_chain__ctx_t *c, const uint8_t sender[ST_ADDR_LEN],
                            const struct Stratos__Tx__TxBody *body) {
  switch (body->msg_case) {
  case STRATOS__TX__TX_BODY__MSG_CREATE_RESOURCE_NODE:
    return create_resource(c, sender, body->create_resource_node);
  case STRATOS__TX__TX_BODY__MSG_UPDATE_RESOURCE_NODE_DEPOSIT:
    return update_deposit(c, sender, body->update_resource_node_deposit);
  case STRATOS__TX__TX_BODY__MSG_REMOVE_RESOURCE_NODE:
    return remove_resource(c, sender, body->remove_resource_node);
  case STRATOS__TX__TX_BODY__MSG_CREATE_META_NODE:
    return create_meta(c, sender, body->create_meta_node);
  case STRATOS__TX__TX_BODY__MSG_META_NODE_REGISTRATION_VOTE:
    return registration_vote(c, sender, body->meta_node_registration_vote);
  case STRATOS__TX__TX_BODY__MSG_KICK_META_NODE_VOTE:
    return kick_vote(c, sender, body->kick_meta_node_vote);
  case STRATOS__TX__TX_BODY__MSG_REMOVE_META_NODE:
    return remove_meta(c, sender, body->remove_meta_node);
  default:
    return st_chain__refuse(c, ST_EINVAL, "not a register message");
  }
}

/* ---- genesis ---- */

#define MAX_GENESIS_NODES 1000

static int gfail(char *err, size_t cap, const char *path, const char *field,
                 const char *what) {
  if (err && cap)
    snprintf(err, cap, "%s%s%s: %s", path, *field ? "." : "", field, what);
  return ST_ECONFIG;
}

static bool printable(const char *s, size_t min, size_t max) {
  size_t n = strlen(s);
  if (n < min || n > max)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
      return false;
  return true;
}

/* A string field of printable ASCII, min..max characters, into out. */
static int gtext(json_t *e, const char *path, const char *key, size_t min, size_t max,
                 bool required, char *out, char *err, size_t cap) {
  json_t *v = json_object_get(e, key);
  char why[96];
  if (!v) {
    if (!required)
      return 0;
    return gfail(err, cap, path, key, "is missing");
  }
  if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)) ||
      !printable(json_string_value(v), min, max)) {
    snprintf(why, sizeof(why), "must be %zu to %zu printable ASCII characters", min, max);
    return gfail(err, cap, path, key, why);
  }
  memcpy(out, json_string_value(v), json_string_length(v) + 1);
  return 0;
}

/* The fields both kinds share. */
static int gnode_common(json_t *e, const char *path, st_u128 min, st_chain__gnode_t *g,
                        char *err, size_t cap) {
  json_t *pk = json_object_get(e, "pub_key"), *ow = json_object_get(e, "owner"),
         *dep = json_object_get(e, "deposit");
  size_t got = 0;
  char why[160];
  if (!json_is_string(pk) || json_string_length(pk) != 2 * ST_PUBKEY_LEN ||
      st_hex_decode(json_string_value(pk), 2 * ST_PUBKEY_LEN, g->pubkey, ST_PUBKEY_LEN,
                    &got) != 0 || got != ST_PUBKEY_LEN)
    return gfail(err, cap, path, "pub_key", "must be 64 hex digits (an ed25519 node key)");
  st_addr_from_pubkey(g->pubkey, g->addr);
  if (!json_is_string(ow) || st_addr_decode(json_string_value(ow), ST_HRP_WALLET, g->owner))
    return gfail(err, cap, path, "owner", "must be an st1... address");
  if (!json_is_string(dep) || st_u128_parse(json_string_value(dep), &g->deposit) != 0)
    return gfail(err, cap, path, "deposit",
                 "must be a decimal string of wei (u128, no leading zeros)");
  if (g->deposit < min || g->deposit == 0) {
    snprintf(why, sizeof(why), "%s is below the minimum deposit %s", wei(g->deposit).s,
             wei(min).s);
    return gfail(err, cap, path, "deposit", why);
  }
  int rc = gtext(e, path, "network_address", 3, ST_NODE_NETADDR_MAX, true,
                 g->network_address, err, cap);
  if (rc == 0)
    rc = gtext(e, path, "moniker", 1, ST_MONIKER_MAX, false, g->moniker, err, cap);
  if (rc == 0 && !g->moniker[0])
    snprintf(g->moniker, sizeof(g->moniker), "%s", "node");
  return rc;
}

/* Refuses keys of e that are not in keys (NULL-terminated). */
static int gonly(json_t *e, const char *path, const char *const *keys, char *err,
                 size_t cap) {
  const char *key;
  json_t *v;
  json_object_foreach(e, key, v) {
    bool ok = false;
    for (size_t i = 0; keys[i] && !ok; i++)
      ok = strcmp(key, keys[i]) == 0;
    if (!ok) {
      char k[65];
      st_chain__safe_str(key, strlen(key), k, sizeof(k));
      return gfail(err, cap, path, k, "unknown field");
    }
  }
  return 0;
}

static int gnode_parse(json_t *e, const char *path, bool meta, const st_chain__params_t *p,
                       st_chain__gnode_t *g, char *err, size_t cap) {
  static const char *const mkeys[] = {"pub_key", "owner", "deposit", "network_address",
                                      "moniker", NULL};
  static const char *const rkeys[] = {"pub_key", "owner", "deposit", "network_address",
                                      "moniker", "node_type", "capacity", NULL};
  if (!json_is_object(e))
    return gfail(err, cap, path, "", "must be an object");
  int rc = gonly(e, path, meta ? mkeys : rkeys, err, cap);
  if (rc == 0)
    rc = gnode_common(e, path, meta ? p->meta_node_min_deposit : p->resource_node_min_deposit,
                      g, err, cap);
  if (rc != 0 || meta)
    return rc;
  json_t *t = json_object_get(e, "node_type"), *cp = json_object_get(e, "capacity");
  if (!t)
    g->type = 4; /* storage */
  else if (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > 7)
    return gfail(err, cap, path, "node_type",
                 "must be 1 to 7, a bitmask of storage 4, database 2, computation 1");
  else
    g->type = (uint8_t)json_integer_value(t);
  if (!json_is_integer(cp) || json_integer_value(cp) < 1)
    return gfail(err, cap, path, "capacity", "must be a positive integer (bytes)");
  g->capacity = (uint64_t)json_integer_value(cp);
  return 0;
}

static int gnodes_parse(json_t *root, const char *name, bool meta,
                        const st_chain__params_t *p, st_chain__gnode_t **out, size_t *nout,
                        char *err, size_t cap) {
  json_t *arr = json_object_get(root, name);
  char why[64];
  if (!arr)
    return 0;
  if (!json_is_array(arr))
    return gfail(err, cap, name, "", "must be an array");
  size_t n = json_array_size(arr);
  if (n > MAX_GENESIS_NODES) {
    snprintf(why, sizeof(why), "%zu nodes, at most %d allowed", n, MAX_GENESIS_NODES);
    return gfail(err, cap, name, "", why);
  }
  if (n == 0)
    return 0;
  if (!(*out = calloc(n, sizeof(**out))))
    return ST_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    char path[48];
    snprintf(path, sizeof(path), "%s[%zu]", name, i);
    int rc = gnode_parse(json_array_get(arr, i), path, meta, p, &(*out)[i], err, cap);
    if (rc != 0)
      return rc;
    *nout = i + 1;
  }
  return 0;
}

/* One node per key within a list (a key may be in both lists, as it may
 * hold both records); and the deposits must add up within 128 bits. */
static int gnodes_check(const st_chain__gnodes_t *g, char *err, size_t cap) {
  size_t n = g->nmeta + g->nres;
  st_u128 total = 0;
  for (size_t i = 0; i < n; i++) {
    bool meta = i < g->nmeta;
    const char *list = meta ? "meta_nodes" : "resource_nodes";
    const st_chain__gnode_t *a = meta ? &g->meta[i] : &g->res[i - g->nmeta];
    if (a->deposit > U128_MAX - total)
      return gfail(err, cap, list, "", "the deposits add up to more than 128 bits");
    total += a->deposit;
    for (size_t j = meta ? 0 : g->nmeta; j < i; j++) {
      const st_chain__gnode_t *b = meta ? &g->meta[j] : &g->res[j - g->nmeta];
      if (memcmp(a->addr, b->addr, ST_ADDR_LEN) == 0) {
        char why[160], hex[2 * ST_PUBKEY_LEN + 1];
        st_hex_encode(a->pubkey, ST_PUBKEY_LEN, hex, sizeof(hex));
        snprintf(why, sizeof(why), "pub_key %s appears more than once", hex);
        return gfail(err, cap, list, "", why);
      }
    }
  }
  return 0;
}

int st_chain__register_genesis_parse(json_t *genesis_root, const st_chain__params_t *p,
                                     st_chain__gnodes_t *out, char *err, size_t cap) {
  memset(out, 0, sizeof(*out));
  int rc = gnodes_parse(genesis_root, "meta_nodes", true, p, &out->meta, &out->nmeta, err,
                        cap);
  if (rc == 0)
    rc = gnodes_parse(genesis_root, "resource_nodes", false, p, &out->res, &out->nres, err,
                      cap);
  if (rc == 0)
    rc = gnodes_check(out, err, cap);
  if (rc != 0) {
    if (rc == ST_ENOMEM && err && cap)
      snprintf(err, cap, "genesis: out of memory");
    st_chain__register_genesis_free(out);
  }
  return rc;
}

void st_chain__register_genesis_free(st_chain__gnodes_t *n) {
  if (!n)
    return;
  free(n->meta);
  free(n->res);
  memset(n, 0, sizeof(*n));
}

int st_chain__register_genesis(const st_chain__gnodes_t *g, st_chain__ctx_t *c) {
  st_sds_pool_t pool = {0, 0, c->p->initial_ozone_limit};
  st_chain__acct_t a;
  int rc = 0;
  for (size_t i = 0; i < g->nmeta + g->nres && rc == 0; i++) {
    bool meta = i < g->nmeta;
    const st_chain__gnode_t *s = meta ? &g->meta[i] : &g->res[i - g->nmeta];
    st_chain__node_t n;
    memset(&n, 0, sizeof(n));
    memcpy(n.addr, s->addr, ST_ADDR_LEN);
    memcpy(n.pubkey, s->pubkey, ST_PUBKEY_LEN);
    memcpy(n.owner, s->owner, ST_ADDR_LEN);
    n.deposit = s->deposit;
    n.type = meta ? 0 : s->type;
    n.capacity = meta ? 0 : s->capacity;
    n.status = ST_NODE_ACTIVE;
    snprintf(n.network_address, sizeof(n.network_address), "%s", s->network_address);
    snprintf(n.moniker, sizeof(n.moniker), "%s", s->moniker);
    /* Each node's deposit raises Lt on its own, floored, as a tx would. */
    st_u128 lt = c->p->deposit_noz_rate ? s->deposit / c->p->deposit_noz_rate : 0;
    if (pool.S > U128_MAX - s->deposit || pool.Lt > U128_MAX - lt)
      return ST_ERANGE;
    pool.S += s->deposit;
    pool.Lt += lt;
    rc = node_put(c, meta ? ST_K_META_NODE : ST_K_RES_NODE, &n);
  }
  if (rc == 0 && pool.S && (rc = st_chain__ov_get(c->ov, deposits_acct(), &a)) == 0) {
    if (a.balance > U128_MAX - pool.S)
      return ST_ERANGE;
    a.balance += pool.S;
    rc = st_chain__ov_put(c->ov, deposits_acct(), &a);
  }
  if (rc == 0)
    rc = st_chain__sds_pool_put(c, &pool);
  return rc;
}
