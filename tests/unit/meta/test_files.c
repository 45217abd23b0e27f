/* Unit tests of the file index on the meta chain: file ops in finalized
 * blocks over a real store (add with its refusals, ozone, shared slices,
 * delete, share links, repairs, audits), the holders' GC check, the pool
 * from submission to result, what fails a block and what is only a tx's
 * result, the storage parameters of genesis and the resource-node record
 * with audit counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "test_tmp.h"
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_meta.h>
#include <stratos/st_reqauth.h>
#include <stratos/st_resource.h>
#include <stratos/st_seal.h>
#include <stratos/st_store.h>
#include "meta/meta_private.h"
#include "meta.pb-c.h"
#include "storage.pb-c.h"
#include "traffic.pb-c.h"

#define NRES 6
#define NWAL 3
#define SLICE (256u * 1024u)
#define MAXS 8
#define MAXH 8
#define BUFMAX (16u << 20)

static const char CHAIN[] = "tchain";
static const char META[] = "tchain-meta";

typedef struct fx {
  char dir[PATH_MAX];
  st_store_t *s;
  st_meta_t *m;
  st_node_t node;               /* meta = m, node_key = the authority's */
  st_keypair_t auth, other, res[NRES], wal[NWAL];
  uint8_t raddr[NRES][ST_ADDR_LEN], waddr[NWAL][ST_ADDR_LEN];
  int64_t height, time_ms;
  int64_t step_ms;              /* block time step, 1 s unless a test says */
  uint8_t app_hash[ST_HASH_LEN];
  uint64_t credits;
} fx_t;

typedef struct tfile {
  uint8_t root[ST_HASH_LEN];
  uint64_t size;
  size_t n;
  uint8_t roots[MAXS][ST_HASH_LEN];
  uint64_t lens[MAXS];
} tfile_t;

static int64_t wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void key_of(int i, st_keypair_t *kp) {
  uint8_t seed[ST_SEED_LEN];
  memset(seed, 0x50 + i, sizeof(seed));
  assert_int_equal(st_key_from_seed(seed, kp), 0);
}

static json_t *jkey(const st_keypair_t *kp) {
  char h[2 * ST_PUBKEY_LEN + 1];
  st_hex_encode(kp->pk, ST_PUBKEY_LEN, h, sizeof(h));
  return json_string(h);
}

/* ---- the fixture ---- */

static json_t *genesis_json(fx_t *f) {
  char owner[ST_ADDR_STR_MAX];
  assert_int_equal(st_addr_encode(ST_HRP_WALLET, f->waddr[0], owner, sizeof(owner)), 0);
  json_t *res = json_array();
  for (int i = 0; i < NRES; i++) {
    char na[32];
    snprintf(na, sizeof(na), "10.0.0.%d:26656", i + 1);
    json_array_append_new(res, json_pack("{s:o,s:s,s:s,s:i,s:I,s:s}", "pub_key",
                                         jkey(&f->res[i]), "owner", owner, "deposit",
                                         "1000000000000000000000", "node_type", 4, "capacity",
                                         (json_int_t)1 << 40, "network_address", na));
  }
  return json_pack("{s:s,s:I,s:[{s:o}],s:o,s:{s:{s:i,s:i,s:i,s:i,s:i}}}", "chain_id", CHAIN,
                   "genesis_time_ms", (json_int_t)f->time_ms, "meta_nodes", "pub_key",
                   jkey(&f->auth), "resource_nodes", res, "params", "meta", "slice_size",
                   (int)SLICE, "replicas_default", 2, "replicas_min", 1, "replicas_max", 4,
                   "upload_noz_per_byte", 2);
}

/* Changes the committed state by hand (records a block would write). */
typedef struct wr {
  st_txn_t *txn;
  st_chain__overlay_t ov;
} wr_t;

static void wr_begin(fx_t *f, wr_t *w) {
  assert_int_equal(st_txn_begin(f->s, true, &w->txn), 0);
  st_chain__ov_init(&w->ov, &f->m->st, w->txn);
}

static void wr_commit(wr_t *w) {
  static const uint8_t zero[ST_HASH_LEN];
  uint8_t h[ST_HASH_LEN];
  assert_int_equal(st_chain__ov_commit(&w->ov, zero, h), 0);
  st_chain__ov_free(&w->ov);
  assert_int_equal(st_txn_commit(w->txn), 0);
}

/* Resource node i online with a heartbeat at hb_ms. */
static void set_online(fx_t *f, int i, bool online, int64_t hb_ms) {
  wr_t w;
  st_meta__rnode_t r;
  wr_begin(f, &w);
  assert_int_equal(st_meta__rnode_get(&w.ov, f->raddr[i], &r), 0);
  r.online = online;
  r.last_hb_ms = hb_ms;
  assert_int_equal(st_meta__rnode_put(&w.ov, &r), 0);
  wr_commit(&w);
}

static void credit(fx_t *f, int wallet, st_u128 noz) {
  wr_t w;
  uint8_t tx[ST_HASH_LEN];
  bool applied;
  wr_begin(f, &w);
  memset(tx, 0, sizeof(tx));
  memcpy(tx, &f->credits, sizeof(f->credits));
  f->credits++;
  assert_int_equal(st_meta__oz_credit(&w.ov, f->waddr[wallet], noz, tx, &applied), 0);
  assert_true(applied);
  wr_commit(&w);
}

static int setup(void **state) {
  fx_t *f = calloc(1, sizeof(*f));
  assert_non_null(f);
  key_of(0, &f->auth);
  key_of(1, &f->other);
  for (int i = 0; i < NRES; i++) {
    key_of(10 + i, &f->res[i]);
    st_addr_from_pubkey(f->res[i].pk, f->raddr[i]);
  }
  for (int i = 0; i < NWAL; i++) {
    key_of(30 + i, &f->wal[i]);
    st_addr_from_pubkey(f->wal[i].pk, f->waddr[i]);
  }
  f->time_ms = wall_now();
  st_test_tmpdir(f->dir, sizeof(f->dir), "meta-files");
  st_store_opts_t o = {.map_size = 64u << 20, .no_sync = true};
  assert_int_equal(st_store_open(f->dir, &o, &f->s), 0);
  json_t *g = genesis_json(f);
  st_meta__genesis_t gen;
  char err[256];
  assert_int_equal(st_meta__genesis_parse(g, &gen, err, sizeof(err)), 0);
  json_decref(g);
  f->m = calloc(1, sizeof(*f->m));
  assert_non_null(f->m);
  assert_int_equal(st_meta__open(f->m, f->s, &gen), 0);
  f->node.meta = f->m;
  f->node.node_key = f->auth;
  /* Every resource node online; wallets 0 and 1 hold ozone. */
  for (int i = 0; i < NRES; i++)
    set_online(f, i, true, f->time_ms);
  credit(f, 0, 100000000);
  credit(f, 1, 100000000);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx_t *f = *state;
  st_meta__close(f->m);
  free(f->m);
  st_store_close(f->s);
  assert_int_equal(st_test_rm_tree(f->dir), 0);
  free(f);
  return 0;
}

/* ---- files, ops and txs ---- */

static int on_slice(void *ud, uint64_t index, uint64_t len, const uint8_t root[ST_HASH_LEN],
                    const uint8_t (*blocks)[ST_HASH_LEN], uint32_t nblocks) {
  tfile_t *t = ud;
  (void)blocks;
  (void)nblocks;
  if (index >= MAXS)
    return ST_E2BIG;
  memcpy(t->roots[index], root, ST_HASH_LEN);
  t->lens[index] = len;
  return 0;
}

/* A file of size bytes whose content depends on fill. */
static void make_file(tfile_t *t, uint64_t size, uint8_t fill) {
  st_file_hasher_t *h;
  uint8_t *data = malloc(size ? size : 1);
  uint64_t n;
  assert_non_null(data);
  for (uint64_t i = 0; i < size; i++)
    data[i] = (uint8_t)(fill + i / 1000);
  memset(t, 0, sizeof(*t));
  assert_int_equal(st_file_hasher_new(SLICE, on_slice, t, &h), 0);
  assert_int_equal(st_file_hasher_update(h, data, size), 0);
  assert_int_equal(st_file_hasher_final(h, &t->size, t->root, &n), 0);
  st_file_hasher_free(h);
  t->n = (size_t)n;
  free(data);
}

typedef struct addspec {
  const tfile_t *tf;
  int wallet;
  uint32_t replicas;
  int holders[MAXH];
  size_t nh;
  const char *name;
  int64_t auth_skew;          /* added to the auth time */
  const char *path;           /* NULL: "/v1/files" */
  bool bad_receipt;           /* slice 0's first receipt signed over the wrong size */
  bool bad_root;              /* the file root's first byte flipped */
  bool bad_auth_sig;          /* signed by another wallet's key */
} addspec_t;

static void req_auth(fx_t *f, int wallet, const char *method, const char *path, uint64_t len,
                     int64_t skew, const st_keypair_t *signer, Stratos__Storage__ReqAuth *ra,
                     st_reqauth_t *a) {
  uint64_t t = (uint64_t)(f->time_ms + skew);
  const st_keypair_t *kp = signer ? signer : &f->wal[wallet];
  assert_int_equal(st_reqauth_sign(kp, CHAIN, method, path, t, len, a), 0);
  memcpy(a->pubkey, f->wal[wallet].pk, ST_PUBKEY_LEN);
  stratos__storage__req_auth__init(ra);
  ra->pubkey.data = a->pubkey;
  ra->pubkey.len = ST_PUBKEY_LEN;
  ra->time_ms = a->time_ms;
  ra->signature.data = a->sig;
  ra->signature.len = ST_SIG_LEN;
  ra->method = (char *)(uintptr_t)method;
  ra->path = (char *)(uintptr_t)path;
  ra->length = len;
}

static size_t pack_op(Stratos__Storage__FileOp *op, uint8_t **out) {
  size_t n = stratos__storage__file_op__get_packed_size(op);
  *out = malloc(n ? n : 1);
  assert_non_null(*out);
  stratos__storage__file_op__pack(op, *out);
  return n;
}

static size_t add_body(fx_t *f, const addspec_t *a, uint8_t **out) {
  const tfile_t *t = a->tf;
  Stratos__Storage__ReqAuth ra;
  st_reqauth_t auth;
  Stratos__Storage__FileAdd fa;
  Stratos__Storage__SliceAdd sa[MAXS], *sap[MAXS];
  Stratos__Storage__Stored st[MAXS][MAXH], *stp[MAXS][MAXH];
  uint8_t sigs[MAXS][MAXH][ST_SIG_LEN], root[ST_HASH_LEN];
  Stratos__Storage__FileOp op;
  req_auth(f, a->wallet, "POST", a->path ? a->path : "/v1/files", t->size, a->auth_skew,
           a->bad_auth_sig ? &f->wal[(a->wallet + 1) % NWAL] : NULL, &ra, &auth);
  stratos__storage__file_add__init(&fa);
  memcpy(root, t->root, ST_HASH_LEN);
  if (a->bad_root)
    root[0] ^= 1;
  fa.auth = &ra;
  fa.root.data = root;
  fa.root.len = ST_HASH_LEN;
  fa.size = t->size;
  fa.plain_size = t->size;
  fa.slice_size = SLICE;
  fa.replicas = a->replicas;
  fa.content_type = "text/plain";
  fa.name = (char *)(uintptr_t)(a->name ? a->name : "a.txt");
  for (size_t i = 0; i < t->n; i++) {
    stratos__storage__slice_add__init(&sa[i]);
    sa[i].root.data = (uint8_t *)(uintptr_t)t->roots[i];
    sa[i].root.len = ST_HASH_LEN;
    sa[i].size = t->lens[i];
    for (size_t j = 0; j < a->nh; j++) {
      int h = a->holders[j];
      uint64_t sz = t->lens[i] + (a->bad_receipt && i == 0 && j == 0);
      assert_int_equal(st_res_stored_sign(&f->res[h], META, t->roots[i], sz, sigs[i][j]), 0);
      stratos__storage__stored__init(&st[i][j]);
      st[i][j].node.data = f->raddr[h];
      st[i][j].node.len = ST_ADDR_LEN;
      st[i][j].signature.data = sigs[i][j];
      st[i][j].signature.len = ST_SIG_LEN;
      stp[i][j] = &st[i][j];
    }
    sa[i].n_holders = a->nh;
    sa[i].holders = stp[i];
    sap[i] = &sa[i];
  }
  fa.n_slices = t->n;
  fa.slices = sap;
  stratos__storage__file_op__init(&op);
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_ADD;
  op.add = &fa;
  op.nonce = 1;
  return pack_op(&op, out);
}

static size_t del_body(fx_t *f, int wallet, const uint8_t root[ST_HASH_LEN], uint8_t **out) {
  char id[ST_FILE_ID_LEN + 1], path[128];
  Stratos__Storage__ReqAuth ra;
  st_reqauth_t auth;
  Stratos__Storage__FileDelete d;
  Stratos__Storage__FileOp op;
  st_file_id(root, id);
  snprintf(path, sizeof(path), "/v1/files/%s", id);
  req_auth(f, wallet, "DELETE", path, 0, 0, NULL, &ra, &auth);
  stratos__storage__file_delete__init(&d);
  d.auth = &ra;
  d.root.data = (uint8_t *)(uintptr_t)root;
  d.root.len = ST_HASH_LEN;
  stratos__storage__file_op__init(&op);
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_DEL;
  op.del = &d;
  op.nonce = 2;
  return pack_op(&op, out);
}

static size_t share_body(fx_t *f, int wallet, const uint8_t root[ST_HASH_LEN],
                         const uint8_t link[16], uint8_t **out) {
  char id[ST_FILE_ID_LEN + 1], path[128];
  Stratos__Storage__ReqAuth ra;
  st_reqauth_t auth;
  Stratos__Storage__ShareAdd s;
  Stratos__Storage__FileOp op;
  st_file_id(root, id);
  snprintf(path, sizeof(path), "/v1/files/%s/share", id);
  req_auth(f, wallet, "POST", path, 17, 0, NULL, &ra, &auth);
  stratos__storage__share_add__init(&s);
  s.auth = &ra;
  s.link.data = (uint8_t *)(uintptr_t)link;
  s.link.len = 16;
  s.file.data = (uint8_t *)(uintptr_t)root;
  s.file.len = ST_HASH_LEN;
  s.expires_ms = 4000000000000ULL;
  stratos__storage__file_op__init(&op);
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_SHARE;
  op.share = &s;
  op.nonce = 3;
  return pack_op(&op, out);
}

static size_t unshare_body(fx_t *f, int wallet, const uint8_t link[16], const char *suffix,
                           uint8_t **out) {
  char lh[33], path[160];
  Stratos__Storage__ReqAuth ra;
  st_reqauth_t auth;
  Stratos__Storage__ShareRevoke s;
  Stratos__Storage__FileOp op;
  st_hex_encode(link, 16, lh, sizeof(lh));
  snprintf(path, sizeof(path), "/s/%s%s", lh, suffix ? suffix : "");
  req_auth(f, wallet, "DELETE", path, 0, 0, NULL, &ra, &auth);
  stratos__storage__share_revoke__init(&s);
  s.auth = &ra;
  s.link.data = (uint8_t *)(uintptr_t)link;
  s.link.len = 16;
  stratos__storage__file_op__init(&op);
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_UNSHARE;
  op.unshare = &s;
  op.nonce = 4;
  return pack_op(&op, out);
}

static size_t repair_body(fx_t *f, const uint8_t root[ST_HASH_LEN], uint64_t size, int added,
                          int old, uint64_t nonce, uint8_t **out) {
  uint8_t sig[ST_SIG_LEN];
  Stratos__Storage__Stored st;
  Stratos__Storage__SliceRepair r;
  Stratos__Storage__FileOp op;
  assert_int_equal(st_res_stored_sign(&f->res[added], META, root, size, sig), 0);
  stratos__storage__stored__init(&st);
  st.node.data = f->raddr[added];
  st.node.len = ST_ADDR_LEN;
  st.signature.data = sig;
  st.signature.len = ST_SIG_LEN;
  stratos__storage__slice_repair__init(&r);
  r.root.data = (uint8_t *)(uintptr_t)root;
  r.root.len = ST_HASH_LEN;
  if (old >= 0) {
    r.old_holder.data = f->raddr[old];
    r.old_holder.len = ST_ADDR_LEN;
  }
  r.added = &st;
  stratos__storage__file_op__init(&op);
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_REPAIR;
  op.repair = &r;
  op.nonce = nonce;
  return pack_op(&op, out);
}

static size_t audit_body(fx_t *f, int holder, const uint8_t root[ST_HASH_LEN], bool passed,
                         uint8_t **out) {
  Stratos__Storage__AuditResult a;
  Stratos__Storage__FileOp op;
  stratos__storage__audit_result__init(&a);
  a.holder.data = f->raddr[holder];
  a.holder.len = ST_ADDR_LEN;
  a.root.data = (uint8_t *)(uintptr_t)root;
  a.root.len = ST_HASH_LEN;
  a.block = 0;
  a.passed = passed;
  a.challenge_height = (uint64_t)f->height;
  stratos__storage__file_op__init(&op);
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_AUDIT;
  op.audit = &a;
  op.nonce = 6;
  return pack_op(&op, out);
}

/* A MetaTx carrying body as a FileTx signed by kp; its id in txid. */
static size_t wrap_tx(const st_keypair_t *kp, const uint8_t *body, size_t blen, uint8_t **out,
                      uint8_t txid[ST_HASH_LEN]) {
  uint8_t sig[ST_SIG_LEN];
  Stratos__Storage__FileTx ft;
  Stratos__Meta__MetaTx t;
  assert_int_equal(st_sign(kp, ST_DOM_META_TX, META, body, blen, sig), 0);
  stratos__storage__file_tx__init(&ft);
  ft.body.data = (uint8_t *)(uintptr_t)body;
  ft.body.len = blen;
  ft.signer.data = (uint8_t *)(uintptr_t)kp->pk;
  ft.signer.len = ST_PUBKEY_LEN;
  ft.signature.data = sig;
  ft.signature.len = ST_SIG_LEN;
  size_t fn = stratos__storage__file_tx__get_packed_size(&ft);
  uint8_t *fb = malloc(fn);
  assert_non_null(fb);
  stratos__storage__file_tx__pack(&ft, fb);
  st_hash(ST_DOM_META_TX, fb, fn, txid);
  free(fb);
  stratos__meta__meta_tx__init(&t);
  t.tx_case = STRATOS__META__META_TX__TX_FILE;
  t.file = &ft;
  size_t n = stratos__meta__meta_tx__get_packed_size(&t);
  *out = malloc(n);
  assert_non_null(*out);
  stratos__meta__meta_tx__pack(&t, *out);
  return n;
}

/* Finalizes and commits the next block with txs. */
static void block(fx_t *f, uint8_t **txs, const size_t *lens, size_t n) {
  uint8_t hash[ST_HASH_LEN], results[ST_HASH_LEN], prop[ST_ADDR_LEN];
  st_cons_valset_t next = {0};
  bool changed = false;
  st_txn_t *txn;
  f->height++;
  f->time_ms += f->step_ms ? f->step_ms : 1000;
  st_hash(ST_DOM_STATE, &f->height, sizeof(f->height), hash);
  st_addr_from_pubkey(f->auth.pk, prop);
  st_cons_block_t b = {.height = f->height, .time_ms = f->time_ms, .hash = hash,
                       .proposer = prop, .ntxs = n, .txs = (const uint8_t *const *)txs,
                       .tx_lens = lens};
  assert_int_equal(st_txn_begin(f->s, true, &txn), 0);
  assert_int_equal(st_meta__app_finalize(f->m, txn, &b, f->app_hash, results, &next, &changed),
                   0);
  free(next.v);
  assert_int_equal(st_txn_commit(txn), 0);
  st_meta__app_committed(f->m, f->height);
}

/* One file tx (body freed) in its own block; returns its result. */
static int run_op(fx_t *f, uint8_t *body, size_t blen, char *log, size_t cap) {
  uint8_t txid[ST_HASH_LEN], *tx;
  size_t n = wrap_tx(&f->auth, body, blen, &tx, txid);
  free(body);
  block(f, &tx, &n, 1);
  free(tx);
  bool known = false;
  for (size_t i = 0; i < f->m->ring_n; i++)
    known = known || memcmp(f->m->ring[i].txid, txid, ST_HASH_LEN) == 0;
  assert_true(known);
  return st_meta_file_result(&f->node, txid, log, cap);
}

static int add(fx_t *f, const addspec_t *a, char *log, size_t cap) {
  uint8_t *body;
  size_t n = add_body(f, a, &body);
  return run_op(f, body, n, log, cap);
}

/* ---- reading the state ---- */

static bool has_rec(fx_t *f, uint8_t kind, const uint8_t *a, size_t na, const uint8_t *b,
                    size_t nb) {
  uint8_t k[128];
  const uint8_t *v;
  size_t n;
  st_txn_t *txn;
  st_chain__overlay_t ov;
  k[0] = kind;
  memcpy(k + 1, a, na);
  if (nb)
    memcpy(k + 1 + na, b, nb);
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  st_chain__ov_init(&ov, &f->m->st, txn);
  int rc = st_chain__ov_read(&ov, ST_META__SP_REC, k, 1 + na + nb, &v, &n);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  assert_true(rc == 0 || rc == ST_ENOENT);
  return rc == 0;
}

static Stratos__Storage__SliceRecord *slice_rec(fx_t *f, const uint8_t root[ST_HASH_LEN]) {
  st_buf_t b;
  st_buf_init(&b, BUFMAX);
  int rc = st_meta_slice_get(&f->node, root, &b);
  Stratos__Storage__SliceRecord *r =
    rc == 0 ? stratos__storage__slice_record__unpack(NULL, b.len, b.data) : NULL;
  st_buf_free(&b);
  return r;
}

static bool rec_holds(const Stratos__Storage__SliceRecord *r, const uint8_t a[ST_ADDR_LEN]) {
  for (size_t i = 0; i < r->n_holders; i++)
    if (r->holders[i].len == ST_ADDR_LEN && memcmp(r->holders[i].data, a, ST_ADDR_LEN) == 0)
      return true;
  return false;
}

static st_u128 ozone(fx_t *f, int wallet) {
  st_u128 noz;
  assert_int_equal(st_meta_ozone(&f->node, f->waddr[wallet], &noz), 0);
  return noz;
}

static void read_repair(fx_t *f, const uint8_t root[ST_HASH_LEN], uint8_t node[ST_ADDR_LEN],
                        uint8_t from[ST_ADDR_LEN], uint8_t replaces[ST_ADDR_LEN]) {
  uint8_t k[1 + ST_HASH_LEN];
  const uint8_t *v;
  size_t n;
  st_txn_t *txn;
  st_chain__overlay_t ov;
  k[0] = ST_META__K_REPAIR;
  memcpy(k + 1, root, ST_HASH_LEN);
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  st_chain__ov_init(&ov, &f->m->st, txn);
  assert_int_equal(st_chain__ov_read(&ov, ST_META__SP_REC, k, sizeof(k), &v, &n), 0);
  assert_int_equal(n, 68);
  memcpy(node, v, ST_ADDR_LEN);
  memcpy(from, v + 20, ST_ADDR_LEN);
  memcpy(replaces, v + 40, ST_ADDR_LEN);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
}

static int res_index(fx_t *f, const uint8_t a[ST_ADDR_LEN]) {
  for (int i = 0; i < NRES; i++)
    if (memcmp(f->raddr[i], a, ST_ADDR_LEN) == 0)
      return i;
  return -1;
}

/* The keep answers of a SliceCheck from holder h for roots. */
static void check_keep(fx_t *f, int h, const uint8_t (*roots)[ST_HASH_LEN], size_t n,
                       bool *keep) {
  Stratos__Storage__SliceCheck c;
  ProtobufCBinaryData r[8];
  uint8_t buf[1024];
  st_buf_t ans;
  stratos__storage__slice_check__init(&c);
  c.req = 77;
  for (size_t i = 0; i < n; i++) {
    r[i].data = (uint8_t *)(uintptr_t)roots[i];
    r[i].len = ST_HASH_LEN;
  }
  c.n_roots = n;
  c.roots = r;
  size_t len = stratos__storage__slice_check__pack(&c, buf);
  st_buf_init(&ans, BUFMAX);
  assert_int_equal(st_meta__slice_check(f->m, f->raddr[h], buf, len, &ans), 0);
  Stratos__Storage__SliceCheck *a = stratos__storage__slice_check__unpack(NULL, ans.len, ans.data);
  assert_non_null(a);
  assert_int_equal(a->req, 77);
  assert_int_equal(a->n_roots, n);
  assert_int_equal(a->n_keep, n);
  for (size_t i = 0; i < n; i++)
    keep[i] = a->keep[i];
  stratos__storage__slice_check__free_unpacked(a, NULL);
  st_buf_free(&ans);
}

/* ---- tests ---- */

static void test_add_charges_and_records(void **state) {
  fx_t *f = *state;
  tfile_t t;
  char log[ST_META__LOG_MAX];
  st_buf_t b;
  make_file(&t, 600000, 1); /* three slices: 262144, 262144, 75712 */
  assert_int_equal(t.n, 3);
  addspec_t a = {.tf = &t, .wallet = 0, .replicas = 2, .holders = {0, 1}, .nh = 2};
  assert_int_equal(add(f, &a, log, sizeof(log)), 0);
  /* size x replicas x upload_noz_per_byte */
  assert_true(ozone(f, 0) == 100000000 - 600000 * 2 * 2);
  st_buf_init(&b, BUFMAX);
  assert_int_equal(st_meta_file_get(&f->node, t.root, f->waddr[0], &b), 0);
  Stratos__Storage__FileRecord *r = stratos__storage__file_record__unpack(NULL, b.len, b.data);
  assert_non_null(r);
  assert_memory_equal(r->owner.data, f->waddr[0], ST_ADDR_LEN);
  assert_int_equal(r->size, 600000);
  assert_int_equal(r->replicas, 2);
  assert_int_equal(r->slice_size, SLICE);
  assert_string_equal(r->name, "a.txt");
  assert_int_equal(r->created_ms, f->time_ms);
  assert_int_equal(r->n_slices, 3);
  assert_memory_equal(r->slices[2].data, t.roots[2], ST_HASH_LEN);
  stratos__storage__file_record__free_unpacked(r, NULL);
  st_buf_free(&b);
  for (size_t i = 0; i < t.n; i++) {
    Stratos__Storage__SliceRecord *s = slice_rec(f, t.roots[i]);
    assert_non_null(s);
    assert_int_equal(s->refs, 1);
    assert_int_equal(s->size, t.lens[i]);
    assert_int_equal(s->n_holders, 2);
    assert_true(rec_holds(s, f->raddr[0]) && rec_holds(s, f->raddr[1]));
    stratos__storage__slice_record__free_unpacked(s, NULL);
    assert_true(has_rec(f, ST_META__K_HOLDER, f->raddr[1], ST_ADDR_LEN, t.roots[i], ST_HASH_LEN));
    assert_false(has_rec(f, ST_META__K_HOLDER, f->raddr[2], ST_ADDR_LEN, t.roots[i], ST_HASH_LEN));
  }
  /* The owner's list and the JSON of file_info. */
  st_buf_t roots;
  bool more = true;
  st_buf_init(&roots, BUFMAX);
  assert_int_equal(st_meta_file_list(&f->node, f->waddr[0], NULL, 10, &roots, &more), 0);
  assert_int_equal(roots.len, ST_HASH_LEN);
  assert_memory_equal(roots.data, t.root, ST_HASH_LEN);
  assert_false(more);
  st_buf_free(&roots);
  json_t *j;
  assert_int_equal(st_meta_file_info(&f->node, t.root, NULL, &j), 0);
  assert_int_equal(json_integer_value(json_object_get(j, "size")), 600000);
  json_t *sl = json_object_get(j, "slices");
  assert_int_equal(json_array_size(sl), 3);
  assert_int_equal(json_integer_value(json_object_get(json_array_get(sl, 2), "size")), 75712);
  assert_int_equal(json_array_size(json_object_get(json_array_get(sl, 0), "holders")), 2);
  char id[ST_FILE_ID_LEN + 1];
  st_file_id(t.root, id);
  assert_string_equal(json_string_value(json_object_get(j, "id")), id);
  json_decref(j);
  /* The same wallet again: refused, nothing charged. */
  assert_int_equal(add(f, &a, log, sizeof(log)), ST_EEXIST);
  assert_string_equal(log, "this wallet already holds this file");
  assert_true(ozone(f, 0) == 100000000 - 600000 * 2 * 2);
}

static void test_add_refusals(void **state) {
  fx_t *f = *state;
  tfile_t t;
  char log[ST_META__LOG_MAX];
  make_file(&t, 300000, 2);
  addspec_t good = {.tf = &t, .wallet = 0, .replicas = 2, .holders = {0, 1}, .nh = 2};
  addspec_t a;

  a = good;
  a.bad_auth_sig = true;
  assert_int_equal(add(f, &a, log, sizeof(log)), ST_EBADSIG);
  a = good;
  a.path = "/v1/other";
  assert_int_equal(add(f, &a, log, sizeof(log)), ST_EBADSIG);
  a = good;
  a.auth_skew = -(ST_REQAUTH_SKEW_MS + 5000);
  assert_int_equal(add(f, &a, log, sizeof(log)), ST_EBADSIG);
  assert_non_null(strstr(log, "block time"));
  a = good;
  a.bad_root = true;
  assert_int_equal(add(f, &a, log, sizeof(log)), ST_EINVAL);
  assert_non_null(strstr(log, "file root"));
  a = good;
  a.nh = 1; /* one holder for two replicas */
  assert_int_equal(add(f, &a, log, sizeof(log)), ST_EINVAL);
  assert_non_null(strstr(log, "holders"));
  a = good;
  a.bad_receipt = true;
  assert_int_equal(add(f, &a, log, sizeof(log)), ST_EBADPROOF);
  a = good;
  a.replicas = 5; /* replicas_max is 4 */
  a.holders[2] = 2, a.holders[3] = 3, a.holders[4] = 4, a.nh = 5;
  assert_int_equal(add(f, &a, log, sizeof(log)), ST_ERANGE);
  a = good;
  a.name = "..";
  assert_int_equal(add(f, &a, log, sizeof(log)), ST_EINVAL);
  a = good;
  a.name = "dir/x";
  assert_int_equal(add(f, &a, log, sizeof(log)), ST_EINVAL);
  a = good;
  a.holders[1] = 0; /* one holder twice */
  assert_int_equal(add(f, &a, log, sizeof(log)), ST_EINVAL);
  assert_non_null(strstr(log, "twice"));
  /* A holder that is no active resource node. */
  wr_t w;
  st_meta__rnode_t r;
  wr_begin(f, &w);
  assert_int_equal(st_meta__rnode_get(&w.ov, f->raddr[1], &r), 0);
  r.status = ST_NODE_REMOVED;
  assert_int_equal(st_meta__rnode_put(&w.ov, &r), 0);
  wr_commit(&w);
  assert_int_equal(add(f, &good, log, sizeof(log)), ST_EINVAL);
  assert_non_null(strstr(log, "not an active resource node"));
  /* Nothing of it stayed: no record, no slice, all the ozone. */
  st_buf_t b;
  st_buf_init(&b, BUFMAX);
  assert_int_equal(st_meta_file_get(&f->node, t.root, NULL, &b), ST_ENOENT);
  assert_int_equal(st_meta_slice_get(&f->node, t.roots[0], &b), ST_ENOENT);
  st_buf_free(&b);
  assert_true(ozone(f, 0) == 100000000);
}

static void test_ozone_short_changes_nothing(void **state) {
  fx_t *f = *state;
  tfile_t t;
  char log[ST_META__LOG_MAX];
  uint8_t *body, prev[ST_HASH_LEN], h1[ST_HASH_LEN], h2[ST_HASH_LEN];
  make_file(&t, 500000, 3);
  addspec_t a = {.tf = &t, .wallet = 2, .replicas = 2, .holders = {0, 1}, .nh = 2};
  credit(f, 2, 500000 * 2 * 2 - 1); /* one noz short */
  /* The op in a journal: the state's hash is what it was. */
  size_t n = add_body(f, &a, &body);
  st_txn_t *txn;
  st_chain__overlay_t ov;
  memset(prev, 7, sizeof(prev));
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  st_chain__ov_init(&ov, &f->m->st, txn);
  assert_int_equal(st_chain__ov_commit(&ov, prev, h1), 0);
  st_meta__blk_t b = {.height = f->height + 1, .time_ms = f->time_ms};
  st_chain__ov_begin(&ov);
  assert_int_equal(st_meta__fop_apply(f->m, &ov, &b, body, n, log, sizeof(log)), ST_EPERM);
  st_chain__ov_end(&ov, false);
  st_meta__blk_done(&b);
  assert_int_equal(st_chain__ov_commit(&ov, prev, h2), 0);
  assert_memory_equal(h1, h2, ST_HASH_LEN);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  assert_non_null(strstr(log, "ozone balance 1999999 noz is short of the 2000000 noz"));
  /* In a block: the result, the balance untouched, no record. */
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_EPERM);
  assert_true(ozone(f, 2) == 1999999);
  st_buf_t rb;
  st_buf_init(&rb, BUFMAX);
  assert_int_equal(st_meta_file_get(&f->node, t.root, NULL, &rb), ST_ENOENT);
  assert_int_equal(st_meta_slice_get(&f->node, t.roots[0], &rb), ST_ENOENT);
  st_buf_free(&rb);
  assert_false(has_rec(f, ST_META__K_HOLDER, f->raddr[0], ST_ADDR_LEN, t.roots[0], ST_HASH_LEN));
  /* One more noz and the same file goes in. */
  credit(f, 2, 1);
  assert_int_equal(add(f, &a, log, sizeof(log)), 0);
  assert_true(ozone(f, 2) == 0);
}

static void test_shared_slices_and_delete(void **state) {
  fx_t *f = *state;
  tfile_t t;
  char log[ST_META__LOG_MAX];
  uint8_t *body;
  make_file(&t, 400000, 4);
  addspec_t a = {.tf = &t, .wallet = 0, .replicas = 2, .holders = {0, 1}, .nh = 2};
  addspec_t b = {.tf = &t, .wallet = 1, .replicas = 3, .holders = {2, 3, 4}, .nh = 3};
  assert_int_equal(add(f, &a, log, sizeof(log)), 0);
  assert_int_equal(add(f, &b, log, sizeof(log)), 0);
  Stratos__Storage__SliceRecord *s = slice_rec(f, t.roots[0]);
  assert_non_null(s);
  assert_int_equal(s->refs, 2);
  assert_int_equal(s->replicas, 3); /* the higher target */
  assert_int_equal(s->n_holders, 5);
  stratos__storage__slice_record__free_unpacked(s, NULL);
  assert_true(has_rec(f, ST_META__K_HOLDER, f->raddr[4], ST_ADDR_LEN, t.roots[1], ST_HASH_LEN));
  /* Each wallet holds its own record. */
  st_buf_t rb;
  st_buf_init(&rb, BUFMAX);
  assert_int_equal(st_meta_file_get(&f->node, t.root, f->waddr[1], &rb), 0);
  st_buf_free(&rb);
  /* A wallet that holds nothing cannot delete. */
  size_t n = del_body(f, 2, t.root, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_ENOENT);
  /* One owner deletes: the slices stay for the other. */
  n = del_body(f, 0, t.root, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  st_buf_init(&rb, BUFMAX);
  assert_int_equal(st_meta_file_get(&f->node, t.root, f->waddr[0], &rb), ST_ENOENT);
  assert_int_equal(st_meta_file_get(&f->node, t.root, NULL, &rb), 0);
  st_buf_free(&rb);
  assert_false(has_rec(f, ST_META__K_OWNER, f->waddr[0], ST_ADDR_LEN, t.root, ST_HASH_LEN));
  s = slice_rec(f, t.roots[0]);
  assert_non_null(s);
  assert_int_equal(s->refs, 1);
  stratos__storage__slice_record__free_unpacked(s, NULL);
  /* The other deletes: the slices leave the index with their holders. */
  n = del_body(f, 1, t.root, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  for (size_t i = 0; i < t.n; i++) {
    assert_null(slice_rec(f, t.roots[i]));
    for (int h = 0; h < 5; h++)
      assert_false(has_rec(f, ST_META__K_HOLDER, f->raddr[h], ST_ADDR_LEN, t.roots[i],
                           ST_HASH_LEN));
  }
  bool keep[1];
  check_keep(f, 0, (const uint8_t(*)[ST_HASH_LEN])t.roots, 1, keep);
  assert_false(keep[0]);
}

static void test_share_unshare(void **state) {
  fx_t *f = *state;
  tfile_t t, t2;
  char log[ST_META__LOG_MAX];
  uint8_t *body, link[16], link2[16];
  memset(link, 0xab, sizeof(link));
  memset(link2, 0xcd, sizeof(link2));
  make_file(&t, 100000, 5);
  addspec_t a = {.tf = &t, .wallet = 0, .replicas = 1, .holders = {0}, .nh = 1};
  assert_int_equal(add(f, &a, log, sizeof(log)), 0);
  /* Only the owner shares. */
  size_t n = share_body(f, 1, t.root, link, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_ENOENT);
  n = share_body(f, 0, t.root, link, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  int64_t shared_at = f->time_ms;
  n = share_body(f, 0, t.root, link, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_EEXIST);
  st_buf_t b;
  st_buf_init(&b, BUFMAX);
  assert_int_equal(st_meta_share_get(&f->node, link, &b), 0);
  Stratos__Storage__ShareRecord *r = stratos__storage__share_record__unpack(NULL, b.len, b.data);
  assert_non_null(r);
  assert_memory_equal(r->file.data, t.root, ST_HASH_LEN);
  assert_memory_equal(r->owner.data, f->waddr[0], ST_ADDR_LEN);
  assert_int_equal(r->expires_ms, 4000000000000ULL);
  assert_int_equal(r->created_ms, shared_at);
  assert_false(r->revoked);
  stratos__storage__share_record__free_unpacked(r, NULL);
  /* Only the owner revokes; an unknown link is not found. */
  n = unshare_body(f, 1, link, NULL, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_EPERM);
  n = unshare_body(f, 0, link2, NULL, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_ENOENT);
  /* The path of a private file's link (its key after a dash) counts. */
  n = unshare_body(f, 0, link,
                   "-00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  st_buf_reset(&b);
  assert_int_equal(st_meta_share_get(&f->node, link, &b), 0);
  r = stratos__storage__share_record__unpack(NULL, b.len, b.data);
  assert_non_null(r);
  assert_true(r->revoked);
  assert_int_equal(r->created_ms, shared_at);
  stratos__storage__share_record__free_unpacked(r, NULL);
  /* Deleting the file takes its links (revoked or not) with it; the same
   * bytes uploaded again do not bring them back. */
  n = share_body(f, 0, t.root, link2, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  uint8_t of[ST_ADDR_LEN + 16];
  memcpy(of, f->waddr[0], ST_ADDR_LEN);
  memcpy(of + ST_ADDR_LEN, link2, 16);
  assert_true(has_rec(f, ST_META__K_SHARE_OF, t.root, ST_HASH_LEN, of, sizeof(of)));
  n = del_body(f, 0, t.root, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  assert_false(has_rec(f, ST_META__K_SHARE_OF, t.root, ST_HASH_LEN, of, sizeof(of)));
  assert_int_equal(add(f, &a, log, sizeof(log)), 0);
  for (int i = 0; i < 2; i++) {
    st_buf_reset(&b);
    assert_int_equal(st_meta_share_get(&f->node, i ? link2 : link, &b), 0);
    r = stratos__storage__share_record__unpack(NULL, b.len, b.data);
    assert_non_null(r);
    assert_true(r->revoked);
    stratos__storage__share_record__free_unpacked(r, NULL);
  }
  /* The link stays taken: no one (the owner included) shares it again. */
  make_file(&t2, 50000, 9);
  addspec_t a2 = {.tf = &t2, .wallet = 1, .replicas = 1, .holders = {0}, .nh = 1};
  assert_int_equal(add(f, &a2, log, sizeof(log)), 0);
  n = share_body(f, 1, t2.root, link2, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_EEXIST);
  st_buf_free(&b);
}

/* A wallet's signed request acts once: a second op carrying the same
 * signature (another authority replaying it) fails and changes nothing;
 * the record of it goes once its time is past the skew window, after
 * which the request is refused by its time. */
static void test_request_acts_once(void **state) {
  fx_t *f = *state;
  tfile_t t;
  char log[ST_META__LOG_MAX];
  uint8_t *b1, *b2, *b3, l1[16], l2[16], l3[16], h[ST_HASH_LEN];
  memset(l1, 0x11, sizeof(l1));
  memset(l2, 0x22, sizeof(l2));
  memset(l3, 0x33, sizeof(l3));
  make_file(&t, 100000, 6);
  addspec_t a = {.tf = &t, .wallet = 0, .replicas = 1, .holders = {0}, .nh = 1};
  assert_int_equal(add(f, &a, log, sizeof(log)), 0);
  /* Three ops with one request signature (same wallet, path, time). */
  size_t n1 = share_body(f, 0, t.root, l1, &b1);
  size_t n2 = share_body(f, 0, t.root, l2, &b2);
  size_t n3 = share_body(f, 0, t.root, l3, &b3);
  Stratos__Storage__FileOp *op = stratos__storage__file_op__unpack(NULL, n2, b2);
  assert_non_null(op);
  assert_int_equal(op->share->auth->signature.len, ST_SIG_LEN);
  st_hash(ST_DOM_GATEWAY_REQ, op->share->auth->signature.data, ST_SIG_LEN, h);
  uint64_t signed_at = op->share->auth->time_ms;
  stratos__storage__file_op__free_unpacked(op, NULL);
  assert_int_equal(run_op(f, b1, n1, log, sizeof(log)), 0);
  assert_true(has_rec(f, ST_META__K_REQ, h, ST_HASH_LEN, NULL, 0));
  assert_int_equal(run_op(f, b2, n2, log, sizeof(log)), ST_EBADSIG);
  assert_non_null(strstr(log, "used already"));
  st_buf_t b;
  st_buf_init(&b, BUFMAX);
  assert_int_equal(st_meta_share_get(&f->node, l1, &b), 0);
  assert_int_equal(st_meta_share_get(&f->node, l2, &b), ST_ENOENT);
  /* Past the window: the record is gone and the time refuses it. */
  f->step_ms = 60000;
  while ((uint64_t)f->time_ms <= signed_at + ST_REQAUTH_SKEW_MS)
    block(f, NULL, NULL, 0);
  assert_false(has_rec(f, ST_META__K_REQ, h, ST_HASH_LEN, NULL, 0));
  assert_int_equal(run_op(f, b3, n3, log, sizeof(log)), ST_EBADSIG);
  assert_non_null(strstr(log, "from the block time"));
  assert_int_equal(st_meta_share_get(&f->node, l3, &b), ST_ENOENT);
  st_buf_free(&b);
}

/* A holder goes offline: its slices get new holders by placement, the
 * GC check keeps them on the new holder, the receipt completes the
 * repair and the old holder may let go. */
static void test_repair_after_offline(void **state) {
  fx_t *f = *state;
  tfile_t t;
  char log[ST_META__LOG_MAX];
  uint8_t node[ST_ADDR_LEN], from[ST_ADDR_LEN], repl[ST_ADDR_LEN];
  make_file(&t, 300000, 6); /* two slices */
  addspec_t a = {.tf = &t, .wallet = 0, .replicas = 2, .holders = {0, 1}, .nh = 2};
  assert_int_equal(add(f, &a, log, sizeof(log)), 0);
  assert_false(has_rec(f, ST_META__K_REPAIR, t.roots[0], ST_HASH_LEN, NULL, 0));
  /* Holder 0's last heartbeat is long past: the next block's sweep. */
  set_online(f, 0, true, f->time_ms - 200000);
  block(f, NULL, NULL, 0);
  int news[2];
  for (size_t i = 0; i < t.n; i++) {
    read_repair(f, t.roots[i], node, from, repl);
    news[i] = res_index(f, node);
    assert_true(news[i] >= 2 && news[i] < NRES); /* never a holder */
    assert_memory_equal(from, f->raddr[1], ST_ADDR_LEN);
    assert_memory_equal(repl, f->raddr[0], ST_ADDR_LEN);
  }
  assert_false(has_rec(f, ST_META__K_LOST, f->raddr[0], ST_ADDR_LEN, NULL, 0));
  /* The GC check: the new holder keeps it (pending repair), the old one
   * still holds it, a stranger does not. */
  int stranger = 2;
  while (stranger == news[0] || stranger == news[1])
    stranger++;
  bool keep[2];
  check_keep(f, news[0], (const uint8_t(*)[ST_HASH_LEN])t.roots, 1, keep);
  assert_true(keep[0]);
  check_keep(f, 0, (const uint8_t(*)[ST_HASH_LEN])t.roots, 2, keep);
  assert_true(keep[0] && keep[1]);
  check_keep(f, stranger, (const uint8_t(*)[ST_HASH_LEN])t.roots, 2, keep);
  assert_false(keep[0] || keep[1]);
  /* A receipt from a node the repair is not assigned to. */
  uint8_t *body;
  size_t n = repair_body(f, t.roots[0], t.lens[0], stranger, 0, 1, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_EINVAL);
  /* The assigned node's receipt over the wrong size. */
  n = repair_body(f, t.roots[0], t.lens[0] + 1, news[0], 0, 1, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_EBADPROOF);
  /* The right one. */
  n = repair_body(f, t.roots[0], t.lens[0], news[0], 0, 1, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  Stratos__Storage__SliceRecord *s = slice_rec(f, t.roots[0]);
  assert_non_null(s);
  assert_int_equal(s->n_holders, 2);
  assert_memory_equal(s->holders[0].data, f->raddr[news[0]], ST_ADDR_LEN);
  assert_memory_equal(s->holders[1].data, f->raddr[1], ST_ADDR_LEN);
  stratos__storage__slice_record__free_unpacked(s, NULL);
  assert_false(has_rec(f, ST_META__K_REPAIR, t.roots[0], ST_HASH_LEN, NULL, 0));
  assert_true(has_rec(f, ST_META__K_REPAIR, t.roots[1], ST_HASH_LEN, NULL, 0));
  assert_false(has_rec(f, ST_META__K_HOLDER, f->raddr[0], ST_ADDR_LEN, t.roots[0], ST_HASH_LEN));
  assert_true(has_rec(f, ST_META__K_HOLDER, f->raddr[news[0]], ST_ADDR_LEN, t.roots[0],
                      ST_HASH_LEN));
  /* The old holder may drop slice 0, not yet slice 1. */
  check_keep(f, 0, (const uint8_t(*)[ST_HASH_LEN])t.roots, 2, keep);
  assert_false(keep[0]);
  assert_true(keep[1]);
  /* The same repair again, as another tx: none is pending any more. */
  n = repair_body(f, t.roots[0], t.lens[0], news[0], 0, 2, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_ENOENT);
}

/* A repair the new holder never completes goes to another node. */
static void test_stale_repair_reassigned(void **state) {
  fx_t *f = *state;
  tfile_t t;
  char log[ST_META__LOG_MAX];
  uint8_t n1[ST_ADDR_LEN], n2[ST_ADDR_LEN], from[ST_ADDR_LEN], repl[ST_ADDR_LEN];
  make_file(&t, 100000, 10); /* one slice */
  addspec_t a = {.tf = &t, .wallet = 0, .replicas = 2, .holders = {0, 1}, .nh = 2};
  assert_int_equal(add(f, &a, log, sizeof(log)), 0);
  set_online(f, 0, true, f->time_ms - 200000);
  block(f, NULL, NULL, 0);
  int64_t assigned_at = f->height;
  read_repair(f, t.roots[0], n1, from, repl);
  /* Blocks of 100 ms, so that the live nodes stay online. */
  f->step_ms = 100;
  while (f->height < assigned_at + ST_META__REPAIR_BLOCKS - 1)
    block(f, NULL, NULL, 0);
  read_repair(f, t.roots[0], n2, from, repl);
  assert_memory_equal(n1, n2, ST_ADDR_LEN); /* not yet */
  block(f, NULL, NULL, 0);
  read_repair(f, t.roots[0], n2, from, repl);
  assert_memory_not_equal(n1, n2, ST_ADDR_LEN);
  assert_true(res_index(f, n2) >= 2);
  assert_memory_equal(from, f->raddr[1], ST_ADDR_LEN);
  assert_memory_equal(repl, f->raddr[0], ST_ADDR_LEN);
  /* The first node's late receipt no longer counts; the new one's does. */
  uint8_t *body;
  size_t n = repair_body(f, t.roots[0], t.lens[0], res_index(f, n1), 0, 1, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_EINVAL);
  n = repair_body(f, t.roots[0], t.lens[0], res_index(f, n2), 0, 1, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  assert_false(has_rec(f, ST_META__K_REPAIR, t.roots[0], ST_HASH_LEN, NULL, 0));
}

static void test_audit_counts_and_repairs(void **state) {
  fx_t *f = *state;
  tfile_t t;
  char log[ST_META__LOG_MAX];
  uint8_t *body, node[ST_ADDR_LEN], from[ST_ADDR_LEN], repl[ST_ADDR_LEN];
  make_file(&t, 200000, 7); /* one slice */
  addspec_t a = {.tf = &t, .wallet = 0, .replicas = 2, .holders = {0, 1}, .nh = 2};
  assert_int_equal(add(f, &a, log, sizeof(log)), 0);
  size_t n = audit_body(f, 1, t.roots[0], true, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  n = audit_body(f, 1, t.roots[0], false, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  /* A node that does not hold the slice cannot be audited for it. */
  n = audit_body(f, 3, t.roots[0], true, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), ST_ENOENT);
  st_txn_t *txn;
  st_chain__overlay_t ov;
  st_meta__rnode_t r;
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  st_chain__ov_init(&ov, &f->m->st, txn);
  assert_int_equal(st_meta__rnode_get(&ov, f->raddr[1], &r), 0);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  assert_int_equal(r.audits_passed, 1);
  assert_int_equal(r.audits_failed, 1);
  /* The failed holder is being replaced by a node that holds nothing. */
  read_repair(f, t.roots[0], node, from, repl);
  assert_memory_equal(repl, f->raddr[1], ST_ADDR_LEN);
  assert_memory_equal(from, f->raddr[0], ST_ADDR_LEN);
  assert_true(res_index(f, node) >= 2);
}

/* Submission: refused at once when the state says no, else pooled
 * (ST_EAGAIN) until a block applies it (0). */
static void test_submit_pool_result(void **state) {
  fx_t *f = *state;
  tfile_t t;
  char log[ST_META__LOG_MAX];
  uint8_t *body, txid[ST_HASH_LEN];
  make_file(&t, 300000, 8);
  f->time_ms = wall_now(); /* the pre-check runs at the wall clock */
  addspec_t a = {.tf = &t, .wallet = 2, .replicas = 2, .holders = {0, 1}, .nh = 2};
  size_t n = add_body(f, &a, &body);
  /* Wallet 2 has no ozone: refused before the pool. */
  assert_int_equal(st_meta_file_submit(&f->node, body, n, txid, log, sizeof(log)), ST_EPERM);
  assert_non_null(strstr(log, "ozone balance 0 noz"));
  assert_int_equal(f->m->nftxs, 0);
  /* A node that is no authority cannot submit. */
  st_node_t other = f->node;
  other.node_key = f->other;
  credit(f, 2, 10000000);
  assert_int_equal(st_meta_file_submit(&other, body, n, txid, log, sizeof(log)), ST_EPERM);
  assert_non_null(strstr(log, "not a meta authority"));
  /* Undecodable, oversized. */
  static const uint8_t junk[] = {0xff, 0xff, 0xff};
  assert_int_equal(st_meta_file_submit(&f->node, junk, sizeof(junk), txid, log, sizeof(log)),
                   ST_EPARSE);
  assert_int_equal(st_meta_file_submit(&f->node, body, ST_META__FOP_MAX + 1, txid, log,
                                       sizeof(log)),
                   ST_E2BIG);
  /* Accepted: pooled, waiting. */
  assert_int_equal(st_meta_file_submit(&f->node, body, n, txid, log, sizeof(log)), 0);
  assert_int_equal(st_meta_file_result(&f->node, txid, log, sizeof(log)), ST_EAGAIN);
  assert_true(st_meta__app_has_txs(f->m));
  /* The proposal carries it; the block applies it. */
  st_cons_txlist_t l = {0};
  assert_int_equal(st_meta__app_propose(f->m, f->height + 1, 1 << 20, 100, &l), 0);
  assert_int_equal(l.n, 1);
  assert_int_equal(st_meta__app_validate(f->m, f->height + 1, l.n,
                                         (const uint8_t *const *)l.txs, l.lens),
                   0);
  block(f, l.txs, l.lens, l.n);
  st_cons_txlist_free(&l);
  assert_int_equal(st_meta_file_result(&f->node, txid, log, sizeof(log)), 0);
  assert_int_equal(f->m->nftxs, 0);
  assert_true(ozone(f, 2) == 10000000 - 300000 * 2 * 2);
  /* A second submission of the same op is a new tx (a new nonce), which
   * the block refuses: this wallet holds the file. */
  uint8_t txid2[ST_HASH_LEN];
  assert_int_equal(st_meta_file_submit(&f->node, body, n, txid2, log, sizeof(log)), ST_EEXIST);
  /* An unknown id. */
  memset(txid2, 0x42, sizeof(txid2));
  assert_int_equal(st_meta_file_result(&f->node, txid2, log, sizeof(log)), ST_ENOENT);
  free(body);
  /* A tx no block takes in time leaves the pool with ST_ETIMEDOUT. */
  uint8_t link[16];
  memset(link, 0x11, sizeof(link));
  n = share_body(f, 2, t.root, link, &body);
  assert_int_equal(st_meta_file_submit(&f->node, body, n, txid, log, sizeof(log)), 0);
  free(body);
  f->m->ftxs[0].added_ms -= ST_META__POOL_TTL_MS + 1;
  assert_int_equal(st_meta_file_result(&f->node, txid, log, sizeof(log)), ST_ETIMEDOUT);
  assert_int_equal(f->m->nftxs, 0);
  assert_false(st_meta__app_has_txs(f->m));
}

/* A block fails only for a FileTx that is malformed or not an
 * authority's; a failing op is the tx's result, and a copy of an applied
 * tx changes nothing. */
static void test_block_validity_and_replays(void **state) {
  fx_t *f = *state;
  tfile_t t;
  char log[ST_META__LOG_MAX];
  uint8_t *body, *tx, txid[ST_HASH_LEN];
  make_file(&t, 100000, 9);
  addspec_t a = {.tf = &t, .wallet = 0, .replicas = 1, .holders = {0}, .nh = 1};
  size_t bn = add_body(f, &a, &body);
  /* Signed by a node that is no authority. */
  size_t n = wrap_tx(&f->other, body, bn, &tx, txid);
  assert_int_equal(st_meta__app_validate(f->m, f->height + 1, 1, (const uint8_t *const *)&tx,
                                         &n),
                   ST_EPERM);
  free(tx);
  /* A forged signature. */
  n = wrap_tx(&f->auth, body, bn, &tx, txid);
  tx[n - 1] ^= 1;
  assert_int_equal(st_meta__app_validate(f->m, f->height + 1, 1, (const uint8_t *const *)&tx,
                                         &n),
                   ST_EBADSIG);
  free(tx);
  /* An undecodable body. */
  static const uint8_t junk[] = {0xff, 0xff, 0xff};
  n = wrap_tx(&f->auth, junk, sizeof(junk), &tx, txid);
  assert_int_equal(st_meta__app_validate(f->m, f->height + 1, 1, (const uint8_t *const *)&tx,
                                         &n),
                   ST_EPARSE);
  free(tx);
  /* An op that will fail (ozone of wallet 2) is a valid block. */
  addspec_t poor = a;
  poor.wallet = 2;
  uint8_t *pb;
  size_t pn = add_body(f, &poor, &pb);
  uint8_t *ptx, ptxid[ST_HASH_LEN];
  size_t ptn = wrap_tx(&f->auth, pb, pn, &ptx, ptxid);
  free(pb);
  n = wrap_tx(&f->auth, body, bn, &tx, txid);
  free(body);
  uint8_t *txs[3] = {ptx, tx, tx};
  size_t lens[3] = {ptn, n, n};
  assert_int_equal(st_meta__app_validate(f->m, f->height + 1, 3, (const uint8_t *const *)txs,
                                         lens),
                   0);
  /* The same tx twice in the block and again in the next: applied once. */
  block(f, txs, lens, 3);
  assert_int_equal(st_meta_file_result(&f->node, ptxid, log, sizeof(log)), ST_EPERM);
  assert_int_equal(st_meta_file_result(&f->node, txid, log, sizeof(log)), 0);
  st_u128 after = ozone(f, 0);
  assert_true(after == 100000000 - 100000 * 2);
  /* A block with only a copy changes no record: its app hash is the
   * previous one over no changes. */
  uint8_t before[ST_HASH_LEN], want[ST_HASH_LEN];
  memcpy(before, f->app_hash, ST_HASH_LEN);
  block(f, &tx, &n, 1);
  st_txn_t *txn;
  st_chain__overlay_t ov;
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  st_chain__ov_init(&ov, &f->m->st, txn);
  assert_int_equal(st_chain__ov_commit(&ov, before, want), 0);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  assert_memory_equal(f->app_hash, want, ST_HASH_LEN);
  assert_int_equal(st_meta_file_result(&f->node, txid, log, sizeof(log)), 0);
  assert_true(ozone(f, 0) == after);
  free(tx);
  free(ptx);
}

static void test_rnode_audit_encoding(void **state) {
  (void)state;
  static const st_chain__state_t empty;
  st_chain__overlay_t ov;
  st_meta__rnode_t r, back;
  const uint8_t *v;
  size_t n;
  uint8_t k[1 + ST_ADDR_LEN];
  st_chain__ov_init(&ov, &empty, NULL);
  memset(&r, 0, sizeof(r));
  memset(r.addr, 9, ST_ADDR_LEN);
  r.status = ST_NODE_ACTIVE;
  snprintf(r.netaddr, sizeof(r.netaddr), "h:1");
  k[0] = ST_META__K_RNODE;
  memcpy(k + 1, r.addr, ST_ADDR_LEN);
  /* Without audits the record keeps its old length (genesis hashes). */
  assert_int_equal(st_meta__rnode_put(&ov, &r), 0);
  assert_int_equal(st_chain__ov_read(&ov, ST_META__SP_REC, k, sizeof(k), &v, &n), 0);
  assert_int_equal(n, 133 + 3);
  r.audits_passed = 5;
  r.audits_failed = 1ull << 40;
  assert_int_equal(st_meta__rnode_put(&ov, &r), 0);
  assert_int_equal(st_chain__ov_read(&ov, ST_META__SP_REC, k, sizeof(k), &v, &n), 0);
  assert_int_equal(n, 133 + 3 + 16);
  assert_int_equal(st_meta__rnode_get(&ov, r.addr, &back), 0);
  assert_memory_equal(&r, &back, sizeof(r));
  st_chain__ov_free(&ov);
}

static json_t *params_genesis(const char *meta_json) {
  st_keypair_t kp;
  key_of(0, &kp);
  json_t *g = json_pack("{s:s,s:[{s:o}],s:{}}", "chain_id", "c", "meta_nodes", "pub_key",
                        jkey(&kp), "params");
  json_object_set_new(json_object_get(g, "params"), "meta", json_loads(meta_json, 0, NULL));
  return g;
}

static void test_storage_params(void **state) {
  (void)state;
  st_meta__genesis_t g;
  char err[256];
  json_t *j = params_genesis("{}");
  assert_int_equal(st_meta__genesis_parse(j, &g, err, sizeof(err)), 0);
  json_decref(j);
  assert_int_equal(g.p.slice_size, 33554432);
  assert_int_equal(g.p.replicas_default, 3);
  assert_int_equal(g.p.replicas_min, 1);
  assert_int_equal(g.p.replicas_max, 8);
  assert_int_equal(g.p.upload_noz_per_byte, 1);
  assert_int_equal(g.p.max_file_bytes, 68719476736ULL);
  assert_int_equal(g.p.gc_grace_ms, 3600000);
  assert_int_equal(g.p.audit_interval_ms, 60000);
  st_meta__genesis_free(&g);
  j = params_genesis("{\"slice_size\": 1048576, \"gc_grace_ms\": 2000, \"replicas_default\": 1}");
  assert_int_equal(st_meta__genesis_parse(j, &g, err, sizeof(err)), 0);
  json_decref(j);
  assert_int_equal(g.p.slice_size, 1048576);
  assert_int_equal(g.p.gc_grace_ms, 2000);
  assert_int_equal(g.p.replicas_default, 1);
  st_meta__genesis_free(&g);
  static const struct {
    const char *json, *err;
  } bad[] = {
    {"{\"slice_size\": 1000000}", "params.meta.slice_size: must be a whole number"},
    {"{\"slice_size\": 131072}", "params.meta.slice_size: must be an integer from 262144"},
    {"{\"replicas_max\": 17}", "params.meta.replicas_max: must be an integer from 1 to 16"},
    {"{\"replicas_min\": 5, \"replicas_max\": 4}", "params.meta.replicas_min: must not exceed"},
    {"{\"replicas_default\": 9}", "params.meta.replicas_default: must lie within"},
    {"{\"gc_grace_ms\": \"1\"}", "params.meta.gc_grace_ms: must be an integer"},
    {"{\"slice\": 1}", "params.meta.slice: unknown field"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    j = params_genesis(bad[i].json);
    assert_int_equal(st_meta__genesis_parse(j, &g, err, sizeof(err)), ST_ECONFIG);
    json_decref(j);
    if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
      fail_msg("%s: got \"%s\"", bad[i].json, err);
  }
  /* The defaults a new genesis writes parse back to the same. */
  json_t *d = st_meta_default_params();
  assert_int_equal(json_integer_value(json_object_get(d, "slice_size")), 33554432);
  assert_int_equal(json_integer_value(json_object_get(d, "replicas_default")), 3);
  char *s = json_dumps(d, 0);
  json_decref(d);
  j = params_genesis(s);
  free(s);
  assert_int_equal(st_meta__genesis_parse(j, &g, err, sizeof(err)), 0);
  json_decref(j);
  assert_int_equal(g.p.max_file_bytes, 68719476736ULL);
  st_meta__genesis_free(&g);
}

static st_meta__rnode_t rnode(fx_t *f, int i) {
  st_txn_t *txn;
  st_chain__overlay_t ov;
  st_meta__rnode_t r;
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  st_chain__ov_init(&ov, &f->m->st, txn);
  assert_int_equal(st_meta__rnode_get(&ov, f->raddr[i], &r), 0);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  return r;
}

/* The last slash seq and, when there is one, its report (caller frees). */
static uint64_t last_slash(fx_t *f, Stratos__Traffic__SlashReport **out) {
  st_txn_t *txn;
  st_chain__overlay_t ov;
  uint64_t seq;
  const uint8_t *p;
  size_t n;
  *out = NULL;
  assert_int_equal(st_txn_begin(f->s, false, &txn), 0);
  st_chain__ov_init(&ov, &f->m->st, txn);
  assert_int_equal(st_meta__slash_last(&ov, &seq), 0);
  if (seq) {
    assert_int_equal(st_meta__slash_get(&ov, seq, &p, &n), 0);
    *out = stratos__traffic__slash_report__unpack(NULL, n, p);
    assert_non_null(*out);
  }
  assert_int_equal(st_meta__slash_get(&ov, seq + 1, &p, &n), ST_ENOENT);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
  return seq;
}

/* Three failed audits (the default threshold) commit a SlashReport in
 * the block of the third, suspend the node in the mirror, and the node
 * is no longer a holder anyone may name or placement may pick. */
static void test_audit_failures_slash(void **state) {
  fx_t *f = *state;
  tfile_t t, t2;
  char log[ST_META__LOG_MAX];
  uint8_t *body, node[ST_ADDR_LEN], from[ST_ADDR_LEN], repl[ST_ADDR_LEN];
  Stratos__Traffic__SlashReport *sr;
  assert_int_equal(f->m->gen.p.slash_audit_failures, 3);
  assert_int_equal(f->m->gen.p.slash_noz, 1000000000);
  /* The node runs the relay (no bus, no wallet: nothing leaves it). */
  f->m->node = &f->node;
  make_file(&t, 200000, 7);
  addspec_t a = {.tf = &t, .wallet = 0, .replicas = 2, .holders = {0, 1}, .nh = 2};
  assert_int_equal(add(f, &a, log, sizeof(log)), 0);
  for (int i = 0; i < 2; i++) {
    size_t n = audit_body(f, 1, t.roots[0], false, &body);
    assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  }
  /* A passed audit in between does not reset the count. */
  size_t n = audit_body(f, 1, t.roots[0], true, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  assert_int_equal(last_slash(f, &sr), 0);
  assert_false(rnode(f, 1).suspended);
  n = audit_body(f, 1, t.roots[0], false, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  assert_int_equal(last_slash(f, &sr), 1);
  assert_string_equal(sr->meta_chain_id, META);
  assert_int_equal(sr->meta_height, (uint64_t)f->height);
  assert_int_equal(sr->node.len, ST_ADDR_LEN);
  assert_memory_equal(sr->node.data, f->raddr[1], ST_ADDR_LEN);
  assert_string_equal(sr->noz, "1000000000");
  assert_true(sr->suspend);
  assert_int_equal(sr->seq, 1);
  /* The authority signed it at the commit (ST_DOM_SLASH, value chain id)
   * and, the only one, holds the quorum: the relay was tried. */
  bool relayed = false;
  assert_int_equal(st_meta__slash_nsigs(f->m, 1, &relayed), 1);
  assert_true(relayed);
  assert_int_equal(st_meta__slash_nsigs(f->m, 2, NULL), 0);
  {
    uint8_t *rb = malloc(stratos__traffic__slash_report__get_packed_size(sr));
    assert_non_null(rb);
    size_t rl = stratos__traffic__slash_report__pack(sr, rb);
    uint8_t sig[ST_SIG_LEN], fr[8 + 128];
    Stratos__Traffic__ReportSig rs;
    stratos__traffic__report_sig__init(&rs);
    rs.pubkey.len = ST_PUBKEY_LEN;
    rs.signature.data = sig;
    rs.signature.len = ST_SIG_LEN;
    /* Another key: no authority. */
    assert_int_equal(st_sign(&f->other, ST_DOM_SLASH, CHAIN, rb, rl, sig), 0);
    rs.pubkey.data = f->other.pk;
    st_chain__be64(fr, 1);
    size_t fl = 8 + stratos__traffic__report_sig__pack(&rs, fr + 8);
    assert_int_equal(st_meta__ssig_frame(f->m, fr, fl), ST_EPERM);
    /* The authority, but a volume report's domain. */
    assert_int_equal(st_sign(&f->auth, ST_DOM_VOLUME_REPORT, CHAIN, rb, rl, sig), 0);
    rs.pubkey.data = f->auth.pk;
    fl = 8 + stratos__traffic__report_sig__pack(&rs, fr + 8);
    assert_int_equal(st_meta__ssig_frame(f->m, fr, fl), ST_EBADSIG);
    /* Its own again: held already. */
    assert_int_equal(st_sign(&f->auth, ST_DOM_SLASH, CHAIN, rb, rl, sig), 0);
    fl = 8 + stratos__traffic__report_sig__pack(&rs, fr + 8);
    assert_int_equal(st_meta__ssig_frame(f->m, fr, fl), 0);
    assert_int_equal(st_meta__slash_nsigs(f->m, 1, NULL), 1);
    assert_int_equal(st_meta__ssig_frame(f->m, fr, 5), ST_EPARSE);
    free(rb);
  }
  stratos__traffic__slash_report__free_unpacked(sr, NULL);
  st_meta__rnode_t r = rnode(f, 1);
  assert_true(r.suspended);
  assert_int_equal(r.audits_failed, 3);
  assert_int_equal(r.audits_passed, 1);
  /* The repair of the failed slice goes to another node. */
  read_repair(f, t.roots[0], node, from, repl);
  assert_memory_equal(repl, f->raddr[1], ST_ADDR_LEN);
  assert_memory_not_equal(node, f->raddr[1], ST_ADDR_LEN);
  /* A suspended node holds nothing new. */
  make_file(&t2, 200000, 9);
  addspec_t a2 = {.tf = &t2, .wallet = 0, .replicas = 2, .holders = {2, 1}, .nh = 2};
  assert_int_equal(add(f, &a2, log, sizeof(log)), ST_EINVAL);
  assert_non_null(strstr(log, "is not an active resource node"));
  /* Until repaired it still holds the slice: two more failures make no
   * second slash, the third makes seq 2. */
  for (int i = 0; i < 2; i++) {
    n = audit_body(f, 1, t.roots[0], false, &body);
    assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  }
  assert_int_equal(last_slash(f, &sr), 1);
  stratos__traffic__slash_report__free_unpacked(sr, NULL);
  n = audit_body(f, 1, t.roots[0], false, &body);
  assert_int_equal(run_op(f, body, n, log, sizeof(log)), 0);
  assert_int_equal(last_slash(f, &sr), 2);
  assert_int_equal(sr->seq, 2);
  assert_memory_equal(sr->node.data, f->raddr[1], ST_ADDR_LEN);
  stratos__traffic__slash_report__free_unpacked(sr, NULL);
}

/* A higher threshold waits for more failures. */
static void test_slash_params(void **state) {
  (void)state;
  st_meta__genesis_t g;
  char err[256];
  json_t *j = params_genesis("{\"slash_audit_failures\": 5, \"slash_noz\": 7}");
  assert_int_equal(st_meta__genesis_parse(j, &g, err, sizeof(err)), 0);
  json_decref(j);
  assert_int_equal(g.p.slash_audit_failures, 5);
  assert_int_equal(g.p.slash_noz, 7);
  st_meta__genesis_free(&g);
  static const char *bad[] = {"{\"slash_audit_failures\": 0}", "{\"slash_noz\": 0}",
                              "{\"slash_noz\": \"1\"}"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    j = params_genesis(bad[i]);
    assert_int_equal(st_meta__genesis_parse(j, &g, err, sizeof(err)), ST_ECONFIG);
    json_decref(j);
    assert_non_null(strstr(err, "params.meta.slash_"));
  }
  json_t *d = st_meta_default_params();
  assert_int_equal(json_integer_value(json_object_get(d, "slash_audit_failures")), 3);
  assert_int_equal(json_integer_value(json_object_get(d, "slash_noz")), 1000000000);
  json_decref(d);
}

int main(void) {
  st_crypto_init();
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_add_charges_and_records, setup, teardown),
    cmocka_unit_test_setup_teardown(test_add_refusals, setup, teardown),
    cmocka_unit_test_setup_teardown(test_ozone_short_changes_nothing, setup, teardown),
    cmocka_unit_test_setup_teardown(test_shared_slices_and_delete, setup, teardown),
    cmocka_unit_test_setup_teardown(test_share_unshare, setup, teardown),
    cmocka_unit_test_setup_teardown(test_request_acts_once, setup, teardown),
    cmocka_unit_test_setup_teardown(test_repair_after_offline, setup, teardown),
    cmocka_unit_test_setup_teardown(test_stale_repair_reassigned, setup, teardown),
    cmocka_unit_test_setup_teardown(test_audit_counts_and_repairs, setup, teardown),
    cmocka_unit_test_setup_teardown(test_submit_pool_result, setup, teardown),
    cmocka_unit_test_setup_teardown(test_block_validity_and_replays, setup, teardown),
    cmocka_unit_test(test_rnode_audit_encoding),
    cmocka_unit_test(test_storage_params),
    cmocka_unit_test_setup_teardown(test_audit_failures_slash, setup, teardown),
    cmocka_unit_test(test_slash_params),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
