/* The storage engine: a thin layer over one LMDB environment per node home.
 *
 * LMDB already gives us what the daemon needs from a store (atomic, durable
 * commits that survive kill -9, readers that never block the writer, ordered
 * keys for prefix scans), so this file only adapts its API to ours: it checks
 * arguments before LMDB sees them, converts every LMDB return code in one
 * place (st_store_error), and wraps prefix iteration in a callback.
 *
 * LMDB forbids opening the same environment twice in one process (closing
 * either copy would drop the other's file locks), so open directories are
 * kept in a small process-wide registry and a second open is refused. */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <stratos/st_err.h>
#include <stratos/st_store.h>

#define ST_STORE_DEFAULT_MAP ((size_t)1 << 30)
#define ST_STORE_DEFAULT_DBS 64u

struct st_store {
  MDB_env *env;
  size_t maxkey;   /* longest key LMDB accepts */
  dev_t dir_dev;   /* identity of the directory, for the registry */
  ino_t dir_ino;
  st_store_t *next; /* registry link */
};

struct st_txn {
  st_store_t *s;
  MDB_txn *txn;
};

/* Environments open in this process, guarded by reg_lock. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static st_store_t *reg_head;

int st_store_error(int mdb_rc) {
  switch (mdb_rc) {
  case MDB_SUCCESS:
    return 0;
  case MDB_NOTFOUND:
    return ST_ENOENT;
  case MDB_KEYEXIST:
    return ST_EEXIST;
  case MDB_MAP_FULL:
    return ST_EMAPFULL;
  case MDB_CORRUPTED:
  case MDB_PAGE_NOTFOUND:
  case MDB_INVALID:
    return ST_ECORRUPT;
  case MDB_BAD_VALSIZE:
    return ST_E2BIG;
  default:
    break;
  }
  if (mdb_rc > 0)
    return st_err_from_errno(mdb_rc);
  return ST_ESTORE;
}

/* Must be called with reg_lock held. */
static int registry_has(dev_t dev, ino_t ino) {
  for (st_store_t *p = reg_head; p; p = p->next)
    if (p->dir_dev == dev && p->dir_ino == ino)
      return 1;
  return 0;
}

/* Must be called with reg_lock held. */
static void registry_remove(st_store_t *s) {
  for (st_store_t **pp = &reg_head; *pp; pp = &(*pp)->next) {
    if (*pp == s) {
      *pp = s->next;
      return;
    }
  }
}

int st_store_open(const char *dir, const st_store_opts_t *opts, st_store_t **out) {
  st_store_opts_t o = {0};
  struct stat st;
  st_store_t *s;
  unsigned flags = 0;
  int rc, dead;

  if (!dir || !out)
    return ST_EINVAL;
  *out = NULL;
  if (opts)
    o = *opts;
  if (o.map_size == 0)
    o.map_size = ST_STORE_DEFAULT_MAP;
  if (o.max_dbs == 0)
    o.max_dbs = ST_STORE_DEFAULT_DBS;
  if (o.no_sync)
    flags |= MDB_NOSYNC;

  if (stat(dir, &st) != 0)
    return st_err_from_errno(errno);
  if (!S_ISDIR(st.st_mode))
    return ST_EINVAL;

  s = calloc(1, sizeof(*s));
  if (!s)
    return ST_ENOMEM;
  s->dir_dev = st.st_dev;
  s->dir_ino = st.st_ino;

  /* The lock is held across mdb_env_open so that two threads cannot both
   * pass the check for the same directory. */
  pthread_mutex_lock(&reg_lock);
  if (registry_has(s->dir_dev, s->dir_ino)) {
    rc = ST_ELOCKED;
    goto fail_unlock;
  }
  rc = mdb_env_create(&s->env);
  if (rc != 0)
    goto fail_mdb;
  rc = mdb_env_set_mapsize(s->env, o.map_size);
  if (rc != 0)
    goto fail_env;
  rc = mdb_env_set_maxdbs(s->env, o.max_dbs);
  if (rc != 0)
    goto fail_env;
  rc = mdb_env_open(s->env, dir, flags, 0600);
  if (rc != 0)
    goto fail_env;
  /* Reader slots left behind by processes that died are reclaimed now
   * rather than pinning old pages until the next writer notices. */
  (void)mdb_reader_check(s->env, &dead);
  s->maxkey = (size_t)mdb_env_get_maxkeysize(s->env);
  s->next = reg_head;
  reg_head = s;
  pthread_mutex_unlock(&reg_lock);
  *out = s;
  return 0;

fail_env:
  mdb_env_close(s->env);
fail_mdb:
  rc = st_store_error(rc);
fail_unlock:
  pthread_mutex_unlock(&reg_lock);
  free(s);
  return rc;
}

void st_store_close(st_store_t *s) {
  if (!s)
    return;
  pthread_mutex_lock(&reg_lock);
  registry_remove(s);
  mdb_env_close(s->env);
  pthread_mutex_unlock(&reg_lock);
  free(s);
}

int st_store_db(st_store_t *s, const char *name, st_db_t *db) {
  MDB_txn *txn;
  MDB_dbi dbi;
  int rc;

  if (!s || !name || !*name || !db)
    return ST_EINVAL;
  rc = mdb_txn_begin(s->env, NULL, 0, &txn);
  if (rc != 0)
    return st_store_error(rc);
  rc = mdb_dbi_open(txn, name, MDB_CREATE, &dbi);
  if (rc != 0) {
    mdb_txn_abort(txn);
    return st_store_error(rc);
  }
  rc = mdb_txn_commit(txn);
  if (rc != 0)
    return st_store_error(rc);
  *db = (st_db_t)dbi;
  return 0;
}

int st_store_usage(st_store_t *s, size_t *map_size, size_t *used) {
  MDB_envinfo info;
  MDB_stat stat;
  int rc;

  if (!s)
    return ST_EINVAL;
  rc = mdb_env_info(s->env, &info);
  if (rc == 0)
    rc = mdb_env_stat(s->env, &stat);
  if (rc != 0)
    return st_store_error(rc);
  /* Pages 0..me_last_pgno are in use, the two meta pages included. */
  if (map_size)
    *map_size = info.me_mapsize;
  if (used)
    *used = ((size_t)info.me_last_pgno + 1) * stat.ms_psize;
  return 0;
}

int st_txn_begin(st_store_t *s, bool write, st_txn_t **out) {
  st_txn_t *t;
  int rc;

  if (!s || !out)
    return ST_EINVAL;
  *out = NULL;
  t = calloc(1, sizeof(*t));
  if (!t)
    return ST_ENOMEM;
  t->s = s;
  rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
  if (rc == MDB_MAP_RESIZED) {
    /* Another process grew the map: adopt its size and try once more. */
    rc = mdb_env_set_mapsize(s->env, 0);
    if (rc == 0)
      rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
  }
  if (rc != 0) {
    free(t);
    return st_store_error(rc);
  }
  *out = t;
  return 0;
}

int st_txn_commit(st_txn_t *t) {
  int rc;

  if (!t)
    return ST_EINVAL;
  /* LMDB frees the transaction whether the commit succeeds or not. */
  rc = mdb_txn_commit(t->txn);
  free(t);
  return st_store_error(rc);
}

void st_txn_abort(st_txn_t *t) {
  if (!t)
    return;
  mdb_txn_abort(t->txn);
  free(t);
}

/* Checks a key before LMDB sees it: LMDB wants 1..maxkey bytes. */
static int check_key(const st_txn_t *t, const void *key, size_t klen) {
  if (klen == 0 || !key)
    return ST_EINVAL;
  if (klen > t->s->maxkey)
    return ST_E2BIG;
  return 0;
}

int st_kv_get(st_txn_t *t, st_db_t db, const void *key, size_t klen,
              const void **val, size_t *vlen) {
  MDB_val k, v;
  int rc;

  if (!t || !val || !vlen)
    return ST_EINVAL;
  rc = check_key(t, key, klen);
  if (rc != 0)
    return rc;
  k.mv_data = (void *)(uintptr_t)key;
  k.mv_size = klen;
  rc = mdb_get(t->txn, (MDB_dbi)db, &k, &v);
  if (rc != 0)
    return st_store_error(rc);
  *val = v.mv_data;
  *vlen = v.mv_size;
  return 0;
}

int st_kv_put(st_txn_t *t, st_db_t db, const void *key, size_t klen,
              const void *val, size_t vlen) {
  MDB_val k, v;
  int rc;

  if (!t || (!val && vlen > 0))
    return ST_EINVAL;
  rc = check_key(t, key, klen);
  if (rc != 0)
    return rc;
  if (vlen > UINT32_MAX)
    return ST_E2BIG;
  k.mv_data = (void *)(uintptr_t)key;
  k.mv_size = klen;
  /* LMDB reads nothing through a zero-length value, but wants a pointer. */
  v.mv_data = val ? (void *)(uintptr_t)val : (void *)&v;
  v.mv_size = vlen;
  return st_store_error(mdb_put(t->txn, (MDB_dbi)db, &k, &v, 0));
}

int st_kv_del(st_txn_t *t, st_db_t db, const void *key, size_t klen) {
  MDB_val k;
  int rc;

  if (!t)
    return ST_EINVAL;
  rc = check_key(t, key, klen);
  if (rc != 0)
    return rc;
  k.mv_data = (void *)(uintptr_t)key;
  k.mv_size = klen;
  return st_store_error(mdb_del(t->txn, (MDB_dbi)db, &k, NULL));
}

/* Orders byte strings the way LMDB's default comparator does: by memcmp
 * over the common length, then the shorter first. */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen) {
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;

  if (c != 0)
    return c;
  return alen < blen ? -1 : alen > blen ? 1 : 0;
}

int st_kv_scan(st_txn_t *t, st_db_t db, const void *prefix, size_t plen,
               const void *start, size_t slen, st_kv_scan_cb cb, void *ud) {
  MDB_cursor *cur;
  MDB_val k, v;
  MDB_cursor_op op;
  const void *seek;
  size_t seeklen;
  int rc, cbrc;

  if (!t || !cb || (!prefix && plen > 0) || (!start && slen > 0))
    return ST_EINVAL;
  /* No stored key is longer than maxkey, so nothing can match. */
  if (plen > t->s->maxkey)
    return 0;

  /* Keys with a common prefix are contiguous in key order, so the scan
   * begins at the larger of prefix and start and ends at the first key
   * that lacks the prefix. */
  seek = prefix;
  seeklen = plen;
  if (start && key_cmp(start, slen, prefix, plen) > 0) {
    seek = start;
    seeklen = slen;
  }
  /* A start key longer than any key is sought by its first maxkey bytes;
   * the loop below skips the few keys that still sort before it. */
  if (seeklen > t->s->maxkey)
    seeklen = t->s->maxkey;

  rc = mdb_cursor_open(t->txn, (MDB_dbi)db, &cur);
  if (rc != 0)
    return st_store_error(rc);
  if (seeklen == 0) {
    op = MDB_FIRST;
  } else {
    k.mv_data = (void *)(uintptr_t)seek;
    k.mv_size = seeklen;
    op = MDB_SET_RANGE;
  }
  for (;;) {
    rc = mdb_cursor_get(cur, &k, &v, op);
    op = MDB_NEXT;
    if (rc == MDB_NOTFOUND) {
      rc = 0;
      break;
    }
    if (rc != 0) {
      rc = st_store_error(rc);
      break;
    }
    if (k.mv_size < plen || (plen && memcmp(k.mv_data, prefix, plen) != 0))
      break;
    if (start && key_cmp(k.mv_data, k.mv_size, start, slen) < 0)
      continue;
    cbrc = cb(k.mv_data, k.mv_size, v.mv_data, v.mv_size, ud);
    if (cbrc != 0) {
      rc = cbrc < 0 ? cbrc : 0;
      break;
    }
  }
  mdb_cursor_close(cur);
  return rc;
}
