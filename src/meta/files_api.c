/* The file index as the gateway and operators read it (st_meta.h):
 * records of the latest committed meta state, each read in its own read
 * transaction, and the JSON-RPC method file_info. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_meta.h>
#include <stratos/st_rpc.h>
#include "meta/meta_private.h"
#include "meta.pb-c.h"
#include "storage.pb-c.h"

int st_meta__rq_open(st_meta_t *m, st_meta__rq_t *r) {
  int rc = st_txn_begin(m->store, false, &r->txn);
  if (rc == 0)
    st_chain__ov_init(&r->ov, &m->st, r->txn);
  return rc;
}

int st_meta__tx_append(const Stratos__Meta__MetaTx *t, st_buf_t *out) {
  size_t n = stratos__meta__meta_tx__get_packed_size(t);
  int rc = st_buf_reserve(out, n);
  if (rc != 0)
    return rc;
  stratos__meta__meta_tx__pack(t, out->data + out->len);
  out->len += n;
  return 0;
}

void st_meta__rq_close(st_meta__rq_t *r) {
  st_chain__ov_free(&r->ov);
  st_txn_abort(r->txn);
}

static st_meta_t *meta_of(struct st_node *node) {
  return node ? node->meta : NULL;
}

const char *st_meta_chain_id(struct st_node *node) {
  st_meta_t *m = meta_of(node);
  return m ? m->gen.chain_id : NULL;
}

int st_meta_storage_params(struct st_node *node, st_meta_storage_params_t *out) {
  st_meta_t *m = meta_of(node);
  if (!m)
    return ST_ENOENT;
  const st_meta__params_t *p = &m->gen.p;
  memset(out, 0, sizeof(*out));
  out->slice_size = p->slice_size;
  out->replicas_default = p->replicas_default;
  out->replicas_min = p->replicas_min;
  out->replicas_max = p->replicas_max;
  out->upload_noz_per_byte = p->upload_noz_per_byte;
  out->max_file_bytes = p->max_file_bytes;
  out->gc_grace_ms = (uint64_t)p->gc_grace_ms;
  out->audit_interval_ms = (uint64_t)p->audit_interval_ms;
  return 0;
}

/* The first record whose key starts with prefix (klen bytes read into
 * key when key is not NULL). */
typedef struct first_ctx {
  st_buf_t *out;
  uint8_t *key;
  size_t klen;
  int rc;
  bool found;
} first_ctx_t;

static int first_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  first_ctx_t *c = ud;
  c->found = true;
  if (c->key && kl == c->klen)
    memcpy(c->key, k, kl);
  c->rc = st_buf_append(c->out, v, vl);
  return 1;
}

/* The owner's record of root (owner NULL: the first one); owner_out, if
 * not NULL, receives its owner. */
static int file_read(st_meta_t *m, st_meta__rq_t *r, const uint8_t root[ST_HASH_LEN],
                     const uint8_t *owner, st_buf_t *out, uint8_t *owner_out) {
  uint8_t k[1 + ST_HASH_LEN + ST_ADDR_LEN];
  const uint8_t *v;
  size_t n;
  (void)m;
  k[0] = ST_META__K_FILE;
  memcpy(k + 1, root, ST_HASH_LEN);
  if (owner) {
    memcpy(k + 1 + ST_HASH_LEN, owner, ST_ADDR_LEN);
    int rc = st_chain__ov_read(&r->ov, ST_META__SP_REC, k, sizeof(k), &v, &n);
    if (rc == 0 && owner_out)
      memcpy(owner_out, owner, ST_ADDR_LEN);
    return rc ? rc : st_buf_append(out, v, n);
  }
  first_ctx_t c = {out, k, sizeof(k), 0, false};
  int rc = st_chain__ov_scan(&r->ov, ST_META__SP_REC, k, 1 + ST_HASH_LEN, first_cb, &c);
  if (rc == 0 && !c.found)
    rc = ST_ENOENT;
  if (rc == 0)
    rc = c.rc;
  if (rc == 0 && owner_out)
    memcpy(owner_out, k + 1 + ST_HASH_LEN, ST_ADDR_LEN);
  return rc;
}

int st_meta_file_get(struct st_node *node, const uint8_t root[ST_HASH_LEN],
                     const uint8_t *owner, st_buf_t *out) {
  st_meta_t *m = meta_of(node);
  st_meta__rq_t r;
  if (!m)
    return ST_ENOENT;
  int rc = st_meta__rq_open(m, &r);
  if (rc != 0)
    return rc;
  rc = file_read(m, &r, root, owner, out, NULL);
  st_meta__rq_close(&r);
  return rc;
}

static int rec_get(struct st_node *node, uint8_t kind, const uint8_t *id, size_t n,
                   st_buf_t *out) {
  st_meta_t *m = meta_of(node);
  uint8_t k[1 + ST_HASH_LEN];
  const uint8_t *v;
  size_t vl;
  st_meta__rq_t r;
  if (!m)
    return ST_ENOENT;
  int rc = st_meta__rq_open(m, &r);
  if (rc != 0)
    return rc;
  k[0] = kind;
  memcpy(k + 1, id, n);
  rc = st_chain__ov_read(&r.ov, ST_META__SP_REC, k, 1 + n, &v, &vl);
  if (rc == 0)
    rc = st_buf_append(out, v, vl);
  st_meta__rq_close(&r);
  return rc;
}

int st_meta_slice_get(struct st_node *node, const uint8_t root[ST_HASH_LEN], st_buf_t *out) {
  return rec_get(node, ST_META__K_SLICE, root, ST_HASH_LEN, out);
}

int st_meta_share_get(struct st_node *node, const uint8_t link[16], st_buf_t *out) {
  return rec_get(node, ST_META__K_SHARE, link, 16, out);
}

typedef struct list_ctx {
  const uint8_t *skip;      /* the key of `after`, not listed again */
  size_t limit;
  st_buf_t *roots;
  size_t n;
  bool more;
  int rc;
} list_ctx_t;

static int list_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  list_ctx_t *c = ud;
  (void)v;
  (void)vl;
  if (kl != 1 + ST_ADDR_LEN + ST_HASH_LEN)
    return ST_ECORRUPT;
  if (c->skip && memcmp(k, c->skip, kl) == 0)
    return 0;
  if (c->n == c->limit) {
    c->more = true;
    return 1;
  }
  c->rc = st_buf_append(c->roots, (const uint8_t *)k + 1 + ST_ADDR_LEN, ST_HASH_LEN);
  c->n++;
  return c->rc ? 1 : 0;
}

int st_meta_file_list(struct st_node *node, const uint8_t owner[ST_ADDR_LEN],
                      const uint8_t *after, size_t limit, st_buf_t *roots, bool *more) {
  st_meta_t *m = meta_of(node);
  uint8_t pre[1 + ST_ADDR_LEN + ST_HASH_LEN];
  st_meta__rq_t r;
  *more = false;
  if (!m)
    return ST_ENOENT;
  pre[0] = ST_META__K_OWNER;
  memcpy(pre + 1, owner, ST_ADDR_LEN);
  if (after)
    memcpy(pre + 1 + ST_ADDR_LEN, after, ST_HASH_LEN);
  int rc = st_meta__rq_open(m, &r);
  if (rc != 0)
    return rc;
  /* A read transaction has no pending changes: the store's own scan can
   * start at `after`. */
  list_ctx_t c = {after ? pre : NULL, limit, roots, 0, false, 0};
  rc = st_kv_scan(r.txn, m->st.dbs[ST_META__SP_REC], pre, 1 + ST_ADDR_LEN, after ? pre : NULL,
                  after ? sizeof(pre) : 0, list_cb, &c);
  st_meta__rq_close(&r);
  if (rc == 0)
    rc = c.rc;
  *more = c.more;
  return rc;
}

int st_meta_ozone(struct st_node *node, const uint8_t addr[ST_ADDR_LEN], st_u128 *noz) {
  st_meta_t *m = meta_of(node);
  st_meta__rq_t r;
  *noz = 0;
  if (!m)
    return ST_ENOENT;
  int rc = st_meta__rq_open(m, &r);
  if (rc != 0)
    return rc;
  rc = st_meta__oz_get(&r.ov, addr, noz);
  st_meta__rq_close(&r);
  return rc;
}

int st_meta_node_online(struct st_node *node, const uint8_t addr[ST_ADDR_LEN], bool *online) {
  st_meta_t *m = meta_of(node);
  st_meta__rnode_t n;
  st_meta__rq_t r;
  *online = false;
  if (!m)
    return ST_ENOENT;
  int rc = st_meta__rq_open(m, &r);
  if (rc != 0)
    return rc;
  rc = st_meta__rnode_get(&r.ov, addr, &n);
  st_meta__rq_close(&r);
  if (rc == ST_ENOENT)
    return 0;
  *online = rc == 0 && n.status == ST_NODE_ACTIVE && n.online && !n.suspended;
  return rc;
}

/* ---- file_info ---- */

static json_t *jhex(const uint8_t *p, size_t n) {
  char h[2 * ST_HASH_LEN + 1];
  st_hex_encode(p, n, h, sizeof(h));
  return json_string(h);
}

static json_t *info_json(st_meta__rq_t *r, const uint8_t root[ST_HASH_LEN],
                         const Stratos__Storage__FileRecord *f) {
  char id[ST_FILE_ID_LEN + 1], owner[ST_ADDR_STR_MAX];
  st_file_id(root, id);
  if (f->owner.len != ST_ADDR_LEN ||
      st_addr_encode(ST_HRP_WALLET, f->owner.data, owner, sizeof(owner)) != 0)
    return NULL;
  json_t *slices = json_array();
  uint64_t n = f->n_slices;
  for (size_t i = 0; slices && i < f->n_slices; i++) {
    uint8_t k[1 + ST_HASH_LEN];
    const uint8_t *v;
    size_t vl;
    if (f->slices[i].len != ST_HASH_LEN)
      goto bad;
    uint64_t len = i + 1 < n ? f->slice_size : f->size - (n - 1) * (uint64_t)f->slice_size;
    json_t *holders = json_array();
    k[0] = ST_META__K_SLICE;
    memcpy(k + 1, f->slices[i].data, ST_HASH_LEN);
    if (st_chain__ov_read(&r->ov, ST_META__SP_REC, k, sizeof(k), &v, &vl) == 0) {
      Stratos__Storage__SliceRecord *s = stratos__storage__slice_record__unpack(NULL, vl, v);
      for (size_t j = 0; s && j < s->n_holders; j++) {
        char a[ST_ADDR_STR_MAX];
        if (s->holders[j].len == ST_ADDR_LEN &&
            st_addr_encode(ST_HRP_NODE, s->holders[j].data, a, sizeof(a)) == 0)
          json_array_append_new(holders, json_string(a));
      }
      if (s)
        stratos__storage__slice_record__free_unpacked(s, NULL);
    }
    json_array_append_new(slices, json_pack("{s:o,s:I,s:o}", "root",
                                            jhex(f->slices[i].data, ST_HASH_LEN), "size",
                                            (json_int_t)len, "holders", holders));
  }
  /* Names and content types are checked UTF-8 when recorded. */
  return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:s,s:s,s:b,s:I,s:o}", "id", id, "owner", owner,
                   "size", (json_int_t)f->size, "plain_size", (json_int_t)f->plain_size,
                   "slice_size", (json_int_t)f->slice_size, "replicas",
                   (json_int_t)f->replicas, "content_type", f->content_type, "name", f->name,
                   "encrypted", (int)f->encrypted, "created_ms", (json_int_t)f->created_ms,
                   "slices", slices);
bad:
  json_decref(slices);
  return NULL;
}

static int file_info(st_meta_t *m, const uint8_t root[ST_HASH_LEN], const uint8_t *owner,
                     json_t **out) {
  st_meta__rq_t r;
  st_buf_t b;
  *out = NULL;
  st_buf_init(&b, 2 * ST_META__FOP_MAX);
  int rc = st_meta__rq_open(m, &r);
  if (rc != 0)
    return rc;
  rc = file_read(m, &r, root, owner, &b, NULL);
  if (rc == 0) {
    Stratos__Storage__FileRecord *f = stratos__storage__file_record__unpack(NULL, b.len, b.data);
    if (!f)
      rc = ST_ECORRUPT;
    else if (!(*out = info_json(&r, root, f)))
      rc = ST_ECORRUPT;
    if (f)
      stratos__storage__file_record__free_unpacked(f, NULL);
  }
  st_meta__rq_close(&r);
  st_buf_free(&b);
  return rc;
}

int st_meta_file_info(struct st_node *node, const uint8_t root[ST_HASH_LEN],
                      const uint8_t *owner, json_t **out) {
  st_meta_t *m = meta_of(node);
  *out = NULL;
  return m ? file_info(m, root, owner, out) : ST_ENOENT;
}

void st_meta__rpc_file_info(st_rpc_call_t *call, json_t *params, void *ud) {
  st_meta_t *m = ud;
  static const char *const allowed[] = {"id", "owner", NULL};
  char err[192];
  uint8_t root[ST_HASH_LEN], owner[ST_ADDR_LEN];
  if (st_rpc_check_params(params, allowed, err, sizeof(err)) != 0) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, err, NULL);
    return;
  }
  json_t *id = json_is_object(params) ? json_object_get(params, "id") : NULL;
  json_t *ow = json_is_object(params) ? json_object_get(params, "owner") : NULL;
  if (!json_is_string(id) || st_file_id_parse(json_string_value(id), root) != 0) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, "invalid params: id must be 64 hex digits",
                 NULL);
    return;
  }
  if (ow && (!json_is_string(ow) ||
             st_addr_decode(json_string_value(ow), ST_HRP_WALLET, owner) != 0)) {
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, "invalid params: owner must be an st1... address",
                 NULL);
    return;
  }
  json_t *out;
  int rc = file_info(m, root, ow ? owner : NULL, &out);
  if (rc == ST_ENOENT)
    st_rpc_error(call, ST_RPC_INVALID_PARAMS, "file not found", NULL);
  else if (rc != 0)
    st_rpc_error(call, ST_RPC_INTERNAL_ERROR, "cannot read the meta state", NULL);
  else
    st_rpc_result(call, out);
}
