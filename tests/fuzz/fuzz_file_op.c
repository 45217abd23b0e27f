/* Fuzzes the meta chain's file ops (src/meta/files.c): the FileOp bodies
 * a block's FileTx carries, run by st_meta__fop_apply, and the FileTx
 * itself through st_meta__ftx_check and st_meta__ftx_block, over a meta
 * state in a temporary store.
 *
 * The state every input starts from: a genesis with one authority, four
 * resource nodes (three online), two wallets granted ozone (wallet 1
 * little: 2000 noz are left after the base block), then one block that
 * added a file of two slices for wallet 0 (holders 0 and 1), a file of
 * 1000 bytes for wallet 1 sharing its second slice, a share link, and a
 * failed audit of holder 0 that left a repair pending. Each input runs
 * in overlays over a write transaction that is then aborted.
 *
 * Input: a mode byte, then the body (a FileOp, or with mode bit 0 a
 * FileTx). Bit 1 re-signs what the fuzzer cannot: the wallet's request
 * signature (at the block's time, over the method, path and length the
 * op carries), holders' Stored receipts, and the FileTx by the
 * authority; bit 2 also puts right the fields a signature or a hash
 * binds: the request's method, path and length, the file root of an
 * add, the node and replaced holder of a repair, an audit's challenge
 * height; bit 3 signs as wallet 1 (and the FileTx as a node that is no
 * authority); bits 4-5 pick the block (the next one, 11 minutes late,
 * 5 minutes late, or 1100 heights on).
 *
 * Checked: codes are the documented ones, never a "fatal" one (the
 * state is consistent, so none is the node's fault), and every refusal
 * has a sentence; an op in a journal that is refused leaves the state's
 * hash as it was, and one that succeeds changes it; an add, delete or
 * share that succeeded fails when applied again; running the same input
 * again from the same state gives the same code, sentence and state
 * hash. A FileTx: the check's code is one of its own, validating a
 * block gives the same code and changes nothing, applying it changes
 * nothing when the check fails and records the tx otherwise, and a
 * second copy changes nothing. */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sanitizer/common_interface_defs.h>

#include <stratos/st_crypto.h>
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_log.h>
#include <stratos/st_reqauth.h>
#include <stratos/st_resource.h>
#include <stratos/st_store.h>

#include "meta/meta_private.h"
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

#define CHAIN "fchain"
#define META CHAIN "-meta"
#define NRES 4
#define NWAL 2
#define SLICE ST_FILE_BLOCK
#define T0 1700000000000LL
#define LINK_LEN 16

enum {
  M_FTX = 1,
  M_SIGN = 2,
  M_FIELDS = 4,
  M_OTHER = 8,
};

typedef struct blk {
  int64_t height, time_ms;
} blk_t;

static struct {
  char dir[PATH_MAX];
  st_store_t *s;
  st_meta_t m;
  st_keypair_t auth, other, res[NRES], wal[NWAL];
  uint8_t raddr[NRES][ST_ADDR_LEN], waddr[NWAL][ST_ADDR_LEN];
  uint8_t empty[ST_HASH_LEN];  /* the state hash of an overlay that changed nothing */
  /* The base state. */
  uint8_t a_root[ST_HASH_LEN], a_slices[2][ST_HASH_LEN], b_root[ST_HASH_LEN];
  uint8_t link[LINK_LEN];
} g;

static const uint8_t zero[ST_HASH_LEN];

static void key_of(int i, st_keypair_t *kp) {
  uint8_t seed[ST_SEED_LEN];
  memset(seed, 0x60 + i, sizeof(seed));
  CHECK(st_key_from_seed(seed, kp) == 0);
}

static blk_t blk_of(unsigned mode) {
  static const blk_t B[4] = {
    {2, T0 + 2000},
    {2, T0 + 2000 + 11 * 60 * 1000},
    {2, T0 + 2000 + 5 * 60 * 1000},
    {1100, T0 + 2000},
  };
  return B[(mode >> 4) & 3];
}

static void blk_init(const blk_t *s, st_meta__blk_t *b) {
  memset(b, 0, sizeof(*b));
  b->height = s->height;
  b->time_ms = s->time_ms;
  st_hash(ST_DOM_STATE, &s->height, sizeof(s->height), b->hash);
}

static size_t pack_op(const Stratos__Storage__FileOp *op, uint8_t **out) {
  size_t n = stratos__storage__file_op__get_packed_size(op);
  *out = malloc(n ? n : 1);
  CHECK(*out != NULL);
  stratos__storage__file_op__pack(op, *out);
  return n;
}

/* ---- putting right what the fuzzer cannot produce ---- */

/* The request an op stands for, and where its ReqAuth hangs. */
static bool op_request(Stratos__Storage__FileOp *op, const char **method, char *path,
                       size_t cap, uint64_t *length, Stratos__Storage__ReqAuth ***slot) {
  char id[2 * ST_HASH_LEN + 1];

  switch (op->op_case) {
  case STRATOS__STORAGE__FILE_OP__OP_ADD:
    *method = "POST";
    snprintf(path, cap, "/v1/files");
    *length = op->add->plain_size;
    *slot = &op->add->auth;
    return true;
  case STRATOS__STORAGE__FILE_OP__OP_DEL:
    if (op->del->root.len != ST_HASH_LEN)
      return false;
    st_file_id(op->del->root.data, id);
    *method = "DELETE";
    snprintf(path, cap, "/v1/files/%s", id);
    *length = 0;
    *slot = &op->del->auth;
    return true;
  case STRATOS__STORAGE__FILE_OP__OP_SHARE:
    if (op->share->file.len != ST_HASH_LEN)
      return false;
    st_file_id(op->share->file.data, id);
    *method = "POST";
    snprintf(path, cap, "/v1/files/%s/share", id);
    *length = op->share->auth ? op->share->auth->length : 0;
    *slot = &op->share->auth;
    return true;
  case STRATOS__STORAGE__FILE_OP__OP_UNSHARE:
    if (op->unshare->link.len != LINK_LEN)
      return false;
    st_hex_encode(op->unshare->link.data, LINK_LEN, id, sizeof(id));
    *method = "DELETE";
    snprintf(path, cap, "/s/%s", id);
    *length = 0;
    *slot = &op->unshare->auth;
    return true;
  default:
    return false;
  }
}

static int res_index(const uint8_t *addr, size_t len) {
  for (int i = 0; len == ST_ADDR_LEN && i < NRES; i++)
    if (memcmp(g.raddr[i], addr, ST_ADDR_LEN) == 0)
      return i;
  return -1;
}

/* The size of a slice on record, for receipts; 0 when none. */
static uint64_t slice_size_of(st_chain__overlay_t *ov, const uint8_t root[ST_HASH_LEN]) {
  uint8_t k[1 + ST_HASH_LEN];
  const uint8_t *v;
  size_t n;
  uint64_t size = 0;

  k[0] = ST_META__K_SLICE;
  memcpy(k + 1, root, ST_HASH_LEN);
  if (st_chain__ov_read(ov, ST_META__SP_REC, k, sizeof(k), &v, &n) == 0) {
    Stratos__Storage__SliceRecord *r = stratos__storage__slice_record__unpack(NULL, n, v);
    if (r) {
      size = r->size;
      stratos__storage__slice_record__free_unpacked(r, NULL);
    }
  }
  return size;
}

/* The pending repair of a slice: new holder and replaced one. */
static bool repair_of(st_chain__overlay_t *ov, const uint8_t root[ST_HASH_LEN],
                      uint8_t node[ST_ADDR_LEN], uint8_t replaces[ST_ADDR_LEN]) {
  uint8_t k[1 + ST_HASH_LEN];
  const uint8_t *v;
  size_t n;

  k[0] = ST_META__K_REPAIR;
  memcpy(k + 1, root, ST_HASH_LEN);
  if (st_chain__ov_read(ov, ST_META__SP_REC, k, sizeof(k), &v, &n) != 0 ||
      n < 3 * ST_ADDR_LEN)
    return false;
  memcpy(node, v, ST_ADDR_LEN);
  memcpy(replaces, v + 2 * ST_ADDR_LEN, ST_ADDR_LEN);
  return true;
}

/* Where the patched message points while it is packed again. */
typedef struct patch {
  Stratos__Storage__ReqAuth ra, ra_saved, **ra_slot;
  bool ra_added;
  st_reqauth_t sig;
  char path[160];
  Stratos__Storage__FileAdd add_saved;
  uint8_t froot[ST_HASH_LEN];
  ProtobufCBinaryData *rc_saved;    /* receipts' signatures of an add */
  uint8_t (*rc_sig)[ST_SIG_LEN];
  size_t nrc;
  Stratos__Storage__SliceRepair rep_saved;
  Stratos__Storage__Stored st, st_saved;
  bool st_added;
  uint8_t node[ST_ADDR_LEN], replaces[ST_ADDR_LEN], rsig[ST_SIG_LEN];
} patch_t;

static void patch_auth(Stratos__Storage__FileOp *op, unsigned mode, const blk_t *b,
                       patch_t *p) {
  const char *method;
  uint64_t length;
  Stratos__Storage__ReqAuth *a;
  const st_keypair_t *w = &g.wal[(mode & M_OTHER) ? 1 : 0];

  if (!op_request(op, &method, p->path, sizeof(p->path), &length, &p->ra_slot))
    return;
  a = *p->ra_slot;
  if (!a) {
    stratos__storage__req_auth__init(&p->ra);
    a = *p->ra_slot = &p->ra;
    p->ra_added = true;
  } else {
    p->ra_saved = *a;
  }
  if (mode & M_FIELDS) {
    a->method = (char *)(uintptr_t)method;
    a->path = p->path;
    a->length = length;
  }
  if (st_reqauth_sign(w, CHAIN, a->method, a->path, (uint64_t)b->time_ms, a->length, &p->sig) !=
      0)
    return;
  a->pubkey.data = p->sig.pubkey;
  a->pubkey.len = ST_PUBKEY_LEN;
  a->signature.data = p->sig.sig;
  a->signature.len = ST_SIG_LEN;
  a->time_ms = p->sig.time_ms;
}

static void patch_add(Stratos__Storage__FileAdd *a, unsigned mode, patch_t *p) {
  size_t n = 0, k = 0;

  p->add_saved = *a;
  if ((mode & M_FIELDS) && a->n_slices <= 4096) {
    uint8_t(*roots)[ST_HASH_LEN] = malloc((a->n_slices ? a->n_slices : 1) * ST_HASH_LEN);
    bool ok = roots != NULL;
    for (size_t i = 0; ok && i < a->n_slices; i++) {
      ok = a->slices[i]->root.len == ST_HASH_LEN;
      if (ok)
        memcpy(roots[i], a->slices[i]->root.data, ST_HASH_LEN);
    }
    if (ok && st_file_root(a->size, a->slice_size, (const uint8_t(*)[ST_HASH_LEN])roots,
                           a->n_slices, p->froot) == 0) {
      a->root.data = p->froot;
      a->root.len = ST_HASH_LEN;
    }
    free(roots);
  }
  if (!(mode & M_SIGN))
    return;
  for (size_t i = 0; i < a->n_slices; i++)
    n += a->slices[i]->n_holders;
  if (n == 0 || n > 4096)
    return;
  p->rc_saved = calloc(n, sizeof(*p->rc_saved));
  p->rc_sig = calloc(n, ST_SIG_LEN);
  CHECK(p->rc_saved != NULL && p->rc_sig != NULL);
  p->nrc = n;
  for (size_t i = 0; i < a->n_slices; i++) {
    Stratos__Storage__SliceAdd *s = a->slices[i];
    for (size_t j = 0; j < s->n_holders; j++, k++) {
      Stratos__Storage__Stored *h = s->holders[j];
      int r = res_index(h->node.data, h->node.len);
      p->rc_saved[k] = h->signature;
      if (r < 0 || s->root.len != ST_HASH_LEN ||
          st_res_stored_sign(&g.res[r], META, s->root.data, s->size, p->rc_sig[k]) != 0)
        continue;
      h->signature.data = p->rc_sig[k];
      h->signature.len = ST_SIG_LEN;
    }
  }
}

static void unpatch_add(Stratos__Storage__FileAdd *a, patch_t *p) {
  size_t k = 0;

  for (size_t i = 0; i < a->n_slices && k < p->nrc; i++)
    for (size_t j = 0; j < a->slices[i]->n_holders && k < p->nrc; j++, k++)
      a->slices[i]->holders[j]->signature = p->rc_saved[k];
  a->root = p->add_saved.root;
  free(p->rc_saved);
  free(p->rc_sig);
}

static void patch_repair(st_chain__overlay_t *ov, Stratos__Storage__SliceRepair *r,
                         unsigned mode, patch_t *p) {
  int i;

  p->rep_saved = *r;
  if (!r->added) {
    stratos__storage__stored__init(&p->st);
    r->added = &p->st;
    p->st_added = true;
  } else {
    p->st_saved = *r->added;
  }
  if (r->root.len != ST_HASH_LEN)
    return;
  if ((mode & M_FIELDS) && repair_of(ov, r->root.data, p->node, p->replaces)) {
    r->added->node.data = p->node;
    r->added->node.len = ST_ADDR_LEN;
    r->old_holder.data = p->replaces;
    r->old_holder.len = memcmp(p->replaces, zero, ST_ADDR_LEN) != 0 ? ST_ADDR_LEN : 0;
  }
  i = res_index(r->added->node.data, r->added->node.len);
  if ((mode & M_SIGN) && i >= 0 &&
      st_res_stored_sign(&g.res[i], META, r->root.data, slice_size_of(ov, r->root.data),
                         p->rsig) == 0) {
    r->added->signature.data = p->rsig;
    r->added->signature.len = ST_SIG_LEN;
  }
}

static void unpatch_repair(Stratos__Storage__SliceRepair *r, patch_t *p) {
  if (p->st_added)
    r->added = NULL;
  else
    *r->added = p->st_saved;
  *r = p->rep_saved;
}

/* The body with what mode asks put right, in *out (malloc'd); false
 * when it does not decode (then it goes in as it is). */
static bool patch_body(st_chain__overlay_t *ov, const uint8_t *body, size_t len, unsigned mode,
                       const blk_t *b, uint8_t **out, size_t *outlen) {
  Stratos__Storage__FileOp *op = stratos__storage__file_op__unpack(NULL, len, body);
  patch_t *p;

  if (!op)
    return false;
  p = calloc(1, sizeof(*p));
  CHECK(p != NULL);
  if (mode & (M_SIGN | M_FIELDS)) {
    if (mode & M_SIGN)
      patch_auth(op, mode, b, p);
    if (op->op_case == STRATOS__STORAGE__FILE_OP__OP_ADD)
      patch_add(op->add, mode, p);
    else if (op->op_case == STRATOS__STORAGE__FILE_OP__OP_REPAIR)
      patch_repair(ov, op->repair, mode, p);
    else if (op->op_case == STRATOS__STORAGE__FILE_OP__OP_AUDIT && (mode & M_FIELDS))
      op->audit->challenge_height = (uint64_t)b->height;
  }
  *outlen = pack_op(op, out);
  /* Back to what the decoder allocated, which it frees. */
  if (op->op_case == STRATOS__STORAGE__FILE_OP__OP_ADD && (mode & (M_SIGN | M_FIELDS)))
    unpatch_add(op->add, p);
  else if (op->op_case == STRATOS__STORAGE__FILE_OP__OP_REPAIR && (mode & (M_SIGN | M_FIELDS)))
    unpatch_repair(op->repair, p);
  if (p->ra_slot) {
    if (p->ra_added)
      *p->ra_slot = NULL;
    else
      **p->ra_slot = p->ra_saved;
  }
  stratos__storage__file_op__free_unpacked(op, NULL);
  free(p);
  return true;
}

/* ---- running an op or a tx ---- */

static bool fop_code(int rc) {
  return rc == 0 || rc == ST_EPARSE || rc == ST_E2BIG || rc == ST_EBADSIG || rc == ST_EEXIST ||
         rc == ST_EINVAL || rc == ST_ERANGE || rc == ST_EBADPROOF || rc == ST_EPERM ||
         rc == ST_ENOENT;
}

static void state_hash(st_chain__overlay_t *ov, uint8_t h[ST_HASH_LEN]) {
  CHECK(st_chain__ov_commit(ov, zero, h) == 0);
}

typedef struct outcome {
  int rc, again;
  char log[ST_META__LOG_MAX];
  uint8_t h[ST_HASH_LEN];
} outcome_t;

/* One FileOp in a journal, as a block applies it; then once more. */
static void run_op(const uint8_t *body, size_t len, unsigned mode, outcome_t *o) {
  blk_t bs = blk_of(mode);
  st_meta__blk_t b;
  st_chain__overlay_t ov;
  st_txn_t *txn;
  uint8_t *fixed = NULL, h2[ST_HASH_LEN];
  size_t flen;
  char log2[ST_META__LOG_MAX];

  CHECK(st_txn_begin(g.s, true, &txn) == 0);
  st_chain__ov_init(&ov, &g.m.st, txn);
  if (patch_body(&ov, body, len, mode, &bs, &fixed, &flen)) {
    body = fixed;
    len = flen;
  }
  blk_init(&bs, &b);
  memset(o->log, 0x55, sizeof(o->log));
  st_chain__ov_begin(&ov);
  o->rc = st_meta__fop_apply(&g.m, &ov, &b, body, len, o->log, sizeof(o->log));
  st_chain__ov_end(&ov, o->rc == 0);
  CHECK(fop_code(o->rc) && !st_meta__fatal(o->rc));
  CHECK(memchr(o->log, '\0', sizeof(o->log)) != NULL);
  CHECK(o->rc == 0 || o->log[0] != '\0');
  state_hash(&ov, o->h);
  if (o->rc != 0)
    CHECK(memcmp(o->h, g.empty, ST_HASH_LEN) == 0);
  else
    CHECK(memcmp(o->h, g.empty, ST_HASH_LEN) != 0);
  /* Once more on top: an add, delete or share cannot happen twice. */
  st_chain__ov_begin(&ov);
  o->again = st_meta__fop_apply(&g.m, &ov, &b, body, len, log2, sizeof(log2));
  st_chain__ov_end(&ov, o->again == 0);
  CHECK(fop_code(o->again) && !st_meta__fatal(o->again));
  st_meta__blk_done(&b);
  if (o->rc == 0 && len > 0) {
    Stratos__Storage__FileOp *op = stratos__storage__file_op__unpack(NULL, len, body);
    CHECK(op != NULL);
    if (op->op_case == STRATOS__STORAGE__FILE_OP__OP_ADD ||
        op->op_case == STRATOS__STORAGE__FILE_OP__OP_DEL ||
        op->op_case == STRATOS__STORAGE__FILE_OP__OP_SHARE) {
      CHECK(o->again != 0);
      state_hash(&ov, h2);
      CHECK(memcmp(h2, o->h, ST_HASH_LEN) == 0);
    }
    stratos__storage__file_op__free_unpacked(op, NULL);
  }
  free(fixed);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
}

/* A FileTx: checked, in a block being validated, then applied twice. */
static void run_tx(const uint8_t *data, size_t len, unsigned mode, outcome_t *o) {
  Stratos__Storage__FileTx *ft = stratos__storage__file_tx__unpack(NULL, len, data);
  blk_t bs = blk_of(mode);
  st_meta__blk_t b;
  st_chain__overlay_t ov;
  st_txn_t *txn;
  uint8_t *fixed = NULL, *packed, txid[ST_HASH_LEN], want[ST_HASH_LEN], h[ST_HASH_LEN];
  uint8_t sig[ST_SIG_LEN];
  ProtobufCBinaryData body, signer, signature;
  size_t flen, n;
  char log[ST_META__LOG_MAX];

  o->rc = o->again = 0;
  memset(o->h, 0, sizeof(o->h));
  o->log[0] = '\0';
  if (!ft)
    return;
  body = ft->body;
  signer = ft->signer;
  signature = ft->signature;
  CHECK(st_txn_begin(g.s, true, &txn) == 0);
  st_chain__ov_init(&ov, &g.m.st, txn);
  if (patch_body(&ov, ft->body.data, ft->body.len, mode, &bs, &fixed, &flen)) {
    ft->body.data = fixed;
    ft->body.len = flen;
  }
  if (mode & M_SIGN) {
    const st_keypair_t *kp = (mode & M_OTHER) ? &g.other : &g.auth;
    CHECK(st_sign(kp, ST_DOM_META_TX, META, ft->body.data, ft->body.len, sig) == 0);
    ft->signer.data = (uint8_t *)(uintptr_t)kp->pk;
    ft->signer.len = ST_PUBKEY_LEN;
    ft->signature.data = sig;
    ft->signature.len = ST_SIG_LEN;
  }
  n = stratos__storage__file_tx__get_packed_size(ft);
  packed = malloc(n ? n : 1);
  CHECK(packed != NULL);
  stratos__storage__file_tx__pack(ft, packed);
  st_hash(ST_DOM_META_TX, packed, n, want);
  free(packed);

  /* The check, and a block being validated: the same answer. */
  o->rc = st_meta__ftx_check(&g.m, &ov, ft, txid, o->log, sizeof(o->log));
  CHECK(o->rc == 0 || o->rc == ST_EPARSE || o->rc == ST_E2BIG || o->rc == ST_EBADSIG ||
        o->rc == ST_EPERM);
  CHECK(o->rc == 0 || (o->log[0] != '\0' && strlen(o->log) < sizeof(o->log)));
  CHECK(memcmp(txid, want, ST_HASH_LEN) == 0);
  b = (st_meta__blk_t){.height = bs.height};
  CHECK(st_meta__ftx_block(&g.m, &ov, &b, ft, log, sizeof(log)) == o->rc);
  st_meta__blk_done(&b);
  state_hash(&ov, h);
  CHECK(memcmp(h, g.empty, ST_HASH_LEN) == 0);
  /* Applied: a tx that fails the check changes nothing; one that passes
   * is recorded, whatever its op's result; a copy changes nothing. */
  blk_init(&bs, &b);
  CHECK(st_meta__ftx_block(&g.m, &ov, &b, ft, log, sizeof(log)) == 0);
  state_hash(&ov, o->h);
  CHECK((memcmp(o->h, g.empty, ST_HASH_LEN) == 0) == (o->rc != 0));
  CHECK(st_meta__ftx_block(&g.m, &ov, &b, ft, log, sizeof(log)) == 0);
  state_hash(&ov, h);
  CHECK(memcmp(h, o->h, ST_HASH_LEN) == 0);
  st_meta__blk_done(&b);

  ft->body = body;
  ft->signer = signer;
  ft->signature = signature;
  stratos__storage__file_tx__free_unpacked(ft, NULL);
  free(fixed);
  st_chain__ov_free(&ov);
  st_txn_abort(txn);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  outcome_t a, b;
  unsigned mode;

  if (size == 0)
    return 0;
  mode = data[0];
  if (mode & M_FTX) {
    run_tx(data + 1, size - 1, mode, &a);
    run_tx(data + 1, size - 1, mode, &b);
  } else {
    run_op(data + 1, size - 1, mode, &a);
    run_op(data + 1, size - 1, mode, &b);
  }
  /* The same input from the same state: the same outcome. */
  CHECK(a.rc == b.rc && a.again == b.again);
  CHECK(strcmp(a.log, b.log) == 0);
  CHECK(memcmp(a.h, b.h, ST_HASH_LEN) == 0);
  return 0;
}

/* ---- the base state ---- */

static json_t *jkey(const st_keypair_t *kp) {
  char h[2 * ST_PUBKEY_LEN + 1];
  st_hex_encode(kp->pk, ST_PUBKEY_LEN, h, sizeof(h));
  return json_string(h);
}

static json_t *genesis_json(void) {
  char owner[ST_ADDR_STR_MAX], w1[ST_ADDR_STR_MAX];
  json_t *res = json_array(), *g0;

  CHECK(st_addr_encode(ST_HRP_WALLET, g.waddr[0], owner, sizeof(owner)) == 0);
  CHECK(st_addr_encode(ST_HRP_WALLET, g.waddr[1], w1, sizeof(w1)) == 0);
  for (int i = 0; i < NRES; i++) {
    char na[32];
    snprintf(na, sizeof(na), "10.0.0.%d:26656", i + 1);
    json_array_append_new(res, json_pack("{s:o,s:s,s:s,s:i,s:I,s:s}", "pub_key", jkey(&g.res[i]),
                                         "owner", owner, "deposit", "1000000000000000000000",
                                         "node_type", 4, "capacity", (json_int_t)1 << 40,
                                         "network_address", na));
  }
  g0 = json_pack("{s:s,s:I,s:[{s:o}],s:o,s:{s:{s:i,s:i,s:i,s:i,s:i}},"
                 "s:[{s:s,s:s},{s:s,s:s}]}",
                 "chain_id", CHAIN, "genesis_time_ms", (json_int_t)T0, "meta_nodes", "pub_key",
                 jkey(&g.auth), "resource_nodes", res, "params", "meta", "slice_size",
                 (int)SLICE, "replicas_default", 2, "replicas_min", 1, "replicas_max", 4,
                 "upload_noz_per_byte", 1, "ozone", "address", owner, "noz", "1000000000000",
                 "address", w1, "noz", "3000");
  CHECK(g0 != NULL);
  return g0;
}

/* Unsigned ops; patch_body signs them. */
static size_t op_add(const uint8_t (*roots)[ST_HASH_LEN], const uint64_t *sizes, size_t n,
                     uint64_t size, const int *holders, size_t nh, uint8_t **out) {
  Stratos__Storage__FileOp op = STRATOS__STORAGE__FILE_OP__INIT;
  Stratos__Storage__FileAdd a;
  Stratos__Storage__SliceAdd sa[4], *sap[4];
  Stratos__Storage__Stored st[4][4], *stp[4][4];

  CHECK(n <= 4 && nh <= 4);
  stratos__storage__file_add__init(&a);
  a.size = a.plain_size = size;
  a.slice_size = SLICE;
  a.replicas = (uint32_t)nh;
  a.content_type = "text/plain";
  a.name = "f.txt";
  for (size_t i = 0; i < n; i++) {
    stratos__storage__slice_add__init(&sa[i]);
    sa[i].root.data = (uint8_t *)(uintptr_t)roots[i];
    sa[i].root.len = ST_HASH_LEN;
    sa[i].size = sizes[i];
    for (size_t j = 0; j < nh; j++) {
      stratos__storage__stored__init(&st[i][j]);
      st[i][j].node.data = g.raddr[holders[j]];
      st[i][j].node.len = ST_ADDR_LEN;
      stp[i][j] = &st[i][j];
    }
    sa[i].n_holders = nh;
    sa[i].holders = stp[i];
    sap[i] = &sa[i];
  }
  a.n_slices = n;
  a.slices = sap;
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_ADD;
  op.add = &a;
  op.nonce = 1;
  return pack_op(&op, out);
}

static size_t op_share(const uint8_t root[ST_HASH_LEN], const uint8_t link[LINK_LEN],
                       uint8_t **out) {
  Stratos__Storage__FileOp op = STRATOS__STORAGE__FILE_OP__INIT;
  Stratos__Storage__ShareAdd s = STRATOS__STORAGE__SHARE_ADD__INIT;
  Stratos__Storage__ReqAuth ra;

  stratos__storage__req_auth__init(&ra);
  ra.length = 2;
  s.auth = &ra;
  s.file.data = (uint8_t *)(uintptr_t)root;
  s.file.len = ST_HASH_LEN;
  s.link.data = (uint8_t *)(uintptr_t)link;
  s.link.len = LINK_LEN;
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_SHARE;
  op.share = &s;
  op.nonce = 3;
  return pack_op(&op, out);
}

static size_t op_audit(int holder, const uint8_t root[ST_HASH_LEN], bool passed, uint8_t **out) {
  Stratos__Storage__FileOp op = STRATOS__STORAGE__FILE_OP__INIT;
  Stratos__Storage__AuditResult a = STRATOS__STORAGE__AUDIT_RESULT__INIT;

  a.holder.data = g.raddr[holder];
  a.holder.len = ST_ADDR_LEN;
  a.root.data = (uint8_t *)(uintptr_t)root;
  a.root.len = ST_HASH_LEN;
  a.passed = passed;
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_AUDIT;
  op.audit = &a;
  op.nonce = 6;
  return pack_op(&op, out);
}

/* Applies an unsigned op in ov as a wallet's, signed and completed. */
static void base_apply(st_chain__overlay_t *ov, uint8_t *body, size_t len, int wallet) {
  blk_t bs = {1, T0 + 1000};
  st_meta__blk_t b;
  uint8_t *fixed;
  size_t flen;
  char log[ST_META__LOG_MAX];

  CHECK(patch_body(ov, body, len, M_SIGN | M_FIELDS | (wallet ? M_OTHER : 0), &bs, &fixed,
                   &flen));
  blk_init(&bs, &b);
  CHECK(st_meta__fop_apply(&g.m, ov, &b, fixed, flen, log, sizeof(log)) == 0);
  st_meta__blk_done(&b);
  free(fixed);
  free(body);
}

static void base_state(void) {
  static const uint64_t sizes[2] = {SLICE, 1000};
  static const int holders[2] = {0, 1};
  st_chain__overlay_t ov;
  st_meta__rnode_t r;
  st_txn_t *txn;
  uint8_t *body, h[ST_HASH_LEN];
  size_t n;

  st_hash(ST_DOM_FILE, "slice-0", 7, g.a_slices[0]);
  st_hash(ST_DOM_FILE, "slice-1", 7, g.a_slices[1]);
  CHECK(st_file_root(SLICE + 1000, SLICE, (const uint8_t(*)[ST_HASH_LEN])g.a_slices, 2,
                     g.a_root) == 0);
  CHECK(st_file_root(1000, SLICE, (const uint8_t(*)[ST_HASH_LEN])&g.a_slices[1], 1,
                     g.b_root) == 0);
  memset(g.link, 0x4c, sizeof(g.link));
  CHECK(st_txn_begin(g.s, true, &txn) == 0);
  st_chain__ov_init(&ov, &g.m.st, txn);
  /* Resource nodes 0 to 2 online. */
  for (int i = 0; i < 3; i++) {
    CHECK(st_meta__rnode_get(&ov, g.raddr[i], &r) == 0);
    r.online = true;
    r.last_hb_ms = T0 + 500;
    CHECK(st_meta__rnode_put(&ov, &r) == 0);
  }
  n = op_add((const uint8_t(*)[ST_HASH_LEN])g.a_slices, sizes, 2, SLICE + 1000, holders, 2,
             &body);
  base_apply(&ov, body, n, 0);
  n = op_add((const uint8_t(*)[ST_HASH_LEN])&g.a_slices[1], &sizes[1], 1, 1000, holders, 1,
             &body);
  base_apply(&ov, body, n, 1);
  n = op_share(g.a_root, g.link, &body);
  base_apply(&ov, body, n, 0);
  /* Holder 0 fails an audit of the first slice: a repair is pending. */
  n = op_audit(0, g.a_slices[0], false, &body);
  base_apply(&ov, body, n, 0);
  CHECK(st_chain__ov_commit(&ov, zero, h) == 0);
  st_chain__ov_free(&ov);
  CHECK(st_txn_commit(txn) == 0);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void rm_tmp(void) {
  if (g.dir[0])
    nftw(g.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  g.dir[0] = '\0';
}

static void cleanup(void) {
  if (g.s) {
    st_meta__close(&g.m);
    st_store_close(g.s);
    g.s = NULL;
  }
  rm_tmp();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  st_store_opts_t o = {.map_size = 64u << 20, .no_sync = true};
  const char *base = getenv("ST_TEST_TMP");
  st_meta__genesis_t gen;
  st_chain__overlay_t ov;
  char err[256];
  struct stat sb;
  json_t *j;

  (void)argc;
  (void)argv;
  CHECK(st_crypto_init() == 0);
  st_log_set_level(ST_LOG_DEBUG);
  st_log_set_fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
  key_of(0, &g.auth);
  key_of(1, &g.other);
  for (int i = 0; i < NRES; i++) {
    key_of(10 + i, &g.res[i]);
    st_addr_from_pubkey(g.res[i].pk, g.raddr[i]);
  }
  for (int i = 0; i < NWAL; i++) {
    key_of(30 + i, &g.wal[i]);
    st_addr_from_pubkey(g.wal[i].pk, g.waddr[i]);
  }
  if (!base || !*base)
    base = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) ? "/dev/shm" : "/tmp";
  CHECK((size_t)snprintf(g.dir, sizeof(g.dir), "%s/fuzz_file_op-XXXXXX", base) < sizeof(g.dir));
  CHECK(mkdtemp(g.dir) != NULL);
  atexit(cleanup);
  __sanitizer_set_death_callback(rm_tmp);
  CHECK(st_store_open(g.dir, &o, &g.s) == 0);
  j = genesis_json();
  CHECK(st_meta__genesis_parse(j, &gen, err, sizeof(err)) == 0);
  json_decref(j);
  CHECK(st_meta__open(&g.m, g.s, &gen) == 0);
  base_state();
  st_chain__ov_init(&ov, &g.m.st, NULL);
  CHECK(st_chain__ov_commit(&ov, zero, g.empty) == 0);
  st_chain__ov_free(&ov);
  return 0;
}
