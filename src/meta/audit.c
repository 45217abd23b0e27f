/* Audits of holders, run by every meta authority.
 *
 * Every audit_interval each authority picks a holder entry ('H' records:
 * node, slice) at random — seeded by the latest meta block hash and its
 * own address, so authorities pick differently — skips offline holders,
 * and challenges the holder for the slice's block hash list and one
 * random block, both answered on ST_CH_META. The list must hash to the
 * slice root the meta chain recorded, the block to its entry in the list,
 * with the length the layout gives; anything else, or no answer within
 * AUDIT_DEADLINE_MS, fails the audit. The result goes to the meta chain
 * as an AuditResult file tx: passes and failures are counted per node,
 * and a failure moves the slice to another holder (a repair).
 *
 * Failures reported without a challenge take the same path: a holder
 * whose scrub finds one of its slices corrupt says so (ST_RES_LOST), and
 * a gateway that received a bad block reports its holder. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stratos/st_err.h>
#include <stratos/st_file.h>
#include <stratos/st_log.h>
#include <stratos/st_meta.h>
#include <stratos/st_resource.h>
#include "meta/meta_private.h"
#include "storage.pb-c.h"

#define AUDIT_DEADLINE_MS 10000

typedef struct st_meta__audit {
  uv_timer_t *timer;
  bool active;
  uint64_t req_list, req_block;
  uint8_t holder[ST_ADDR_LEN], root[ST_HASH_LEN];
  uint32_t block, nblocks;
  uint64_t size;
  uint8_t (*hashes)[ST_HASH_LEN];
  uint8_t *data;
  size_t dlen;
  int64_t height;
  uint64_t deadline;
  uint64_t next_at;   /* the next challenge */
  struct recent {
    uint8_t holder[ST_ADDR_LEN], root[ST_HASH_LEN];
    uint64_t at;
  } recent[64];       /* failures reported lately, not reported again */
  size_t nrecent;
} audit_t;

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#define REPORT_QUIET_MS 60000

/* Whether a failure of holder on root was reported in the last minute
 * (and if not, remembers it now). */
static bool reported_lately(audit_t *a, const uint8_t holder[ST_ADDR_LEN],
                            const uint8_t root[ST_HASH_LEN]) {
  uint64_t now = mono_ms();
  size_t oldest = 0;
  for (size_t i = 0; i < a->nrecent; i++) {
    if (memcmp(a->recent[i].holder, holder, ST_ADDR_LEN) == 0 &&
        memcmp(a->recent[i].root, root, ST_HASH_LEN) == 0 &&
        now - a->recent[i].at < REPORT_QUIET_MS)
      return true;
    if (a->recent[i].at < a->recent[oldest].at)
      oldest = i;
  }
  size_t k = a->nrecent < sizeof(a->recent) / sizeof(a->recent[0]) ? a->nrecent++ : oldest;
  memcpy(a->recent[k].holder, holder, ST_ADDR_LEN);
  memcpy(a->recent[k].root, root, ST_HASH_LEN);
  a->recent[k].at = now;
  return false;
}

int st_meta_report_holder(struct st_node *node, const uint8_t holder[ST_ADDR_LEN],
                          const uint8_t root[ST_HASH_LEN], uint32_t block, const char *why) {
  st_meta_t *m = node ? node->meta : NULL;
  if (!m)
    return ST_ENOENT;
  return st_meta__audit_report(m, holder, root, block, false, why);
}

int st_meta__audit_report(st_meta_t *m, const uint8_t holder[ST_ADDR_LEN],
                          const uint8_t root[ST_HASH_LEN], uint32_t block, bool passed,
                          const char *why) {
  if (!m || !m->node)
    return ST_ENOENT;
  if (!passed && m->audit && reported_lately(m->audit, holder, root))
    return 0;
  Stratos__Storage__AuditResult a;
  Stratos__Storage__FileOp op;
  stratos__storage__audit_result__init(&a);
  stratos__storage__file_op__init(&op);
  a.holder.data = (uint8_t *)(uintptr_t)holder;
  a.holder.len = ST_ADDR_LEN;
  a.root.data = (uint8_t *)(uintptr_t)root;
  a.root.len = ST_HASH_LEN;
  a.block = block;
  a.passed = passed;
  a.challenge_height = (uint64_t)(m->last_height > 0 ? m->last_height : 0);
  op.op_case = STRATOS__STORAGE__FILE_OP__OP_AUDIT;
  op.audit = &a;
  uint8_t buf[256], txid[ST_HASH_LEN];
  size_t n = stratos__storage__file_op__pack(&op, buf);
  char log[ST_META__LOG_MAX] = "", h[ST_ADDR_STR_MAX];
  int rc = st_meta_file_submit(m->node, buf, n, txid, log, sizeof(log));
  st_addr_encode(ST_HRP_NODE, holder, h, sizeof(h));
  if (rc != 0)
    ST_DEBUG("meta", "audit result for %s not submitted: %s", h, log);
  else if (!passed)
    ST_INFO("meta", "holder %s failed an audit: %s", h, why);
  return rc;
}

static void end(audit_t *a) {
  free(a->hashes);
  free(a->data);
  a->hashes = NULL;
  a->data = NULL;
  a->active = false;
}

static void judge(st_meta_t *m, audit_t *a) {
  if (!a->hashes || !a->data)
    return;
  uint64_t off = (uint64_t)a->block * ST_FILE_BLOCK;
  uint64_t want = a->size - off < ST_FILE_BLOCK ? a->size - off : ST_FILE_BLOCK;
  bool ok = a->dlen == want &&
            st_file_block_check(a->data, a->dlen, a->block,
                                (const uint8_t(*)[ST_HASH_LEN])a->hashes, a->nblocks) == 0;
  st_meta__audit_report(m, a->holder, a->root, a->block, ok,
                        ok ? "" : "the block does not match the slice's hash list");
  end(a);
}

static void fail(st_meta_t *m, audit_t *a, const char *why) {
  st_meta__audit_report(m, a->holder, a->root, a->block, false, why);
  end(a);
}

void st_meta__audit_frame(st_meta_t *m, const uint8_t peer[ST_ADDR_LEN], const uint8_t *p,
                          size_t n) {
  audit_t *a = m->audit;
  if (!a || !a->active || n < ST_RES_BLOCK_HDR || memcmp(peer, a->holder, ST_ADDR_LEN) != 0)
    return;
  uint64_t req = 0;
  for (int i = 0; i < 8; i++)
    req = req << 8 | p[i];
  int32_t code = (int32_t)((uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 |
                           p[11]);
  const uint8_t *body = p + ST_RES_BLOCK_HDR;
  size_t blen = n - ST_RES_BLOCK_HDR;
  char why[96];
  if (req != a->req_list && req != a->req_block)
    return;
  if (code != 0) {
    snprintf(why, sizeof(why), "it answered %s", st_errname(code));
    fail(m, a, why);
    return;
  }
  if (req == a->req_list) {
    uint8_t root[ST_HASH_LEN];
    if (blen != (size_t)a->nblocks * ST_HASH_LEN || a->hashes) {
      fail(m, a, "a block hash list of the wrong length");
      return;
    }
    if (!(a->hashes = malloc(blen)))
      abort();
    memcpy(a->hashes, body, blen);
    if (st_merkle_root((const uint8_t(*)[ST_HASH_LEN])a->hashes, a->nblocks, root) != 0 ||
        memcmp(root, a->root, ST_HASH_LEN) != 0) {
      fail(m, a, "a block hash list that does not give the slice root");
      return;
    }
  } else {
    if (a->data || blen > ST_FILE_BLOCK) {
      fail(m, a, "a block of the wrong length");
      return;
    }
    if (!(a->data = malloc(blen ? blen : 1)))
      abort();
    memcpy(a->data, body, blen);
    a->dlen = blen;
  }
  judge(m, a);
}

void st_meta__audit_lost(st_meta_t *m, const uint8_t peer[ST_ADDR_LEN], const uint8_t *p,
                         size_t n) {
  if (n != ST_HASH_LEN || !m->node)
    return;
  st_buf_t b;
  st_buf_init(&b, 1u << 16);
  bool holds = false;
  if (st_meta_slice_get(m->node, p, &b) == 0) {
    Stratos__Storage__SliceRecord *s = stratos__storage__slice_record__unpack(NULL, b.len, b.data);
    for (size_t i = 0; s && i < s->n_holders && !holds; i++)
      holds = s->holders[i].len == ST_ADDR_LEN &&
              memcmp(s->holders[i].data, peer, ST_ADDR_LEN) == 0;
    if (s)
      stratos__storage__slice_record__free_unpacked(s, NULL);
  }
  st_buf_free(&b);
  if (holds)
    st_meta__audit_report(m, peer, p, 0, false, "its own scrub found its copy corrupt");
}

typedef struct pick {
  uint8_t target[1 + ST_ADDR_LEN + ST_HASH_LEN];
  uint8_t first[1 + ST_ADDR_LEN + ST_HASH_LEN], got[1 + ST_ADDR_LEN + ST_HASH_LEN];
  bool have_first, have_got;
} pick_t;

static int pick_cb(const void *k, size_t kl, const void *v, size_t vl, void *ud) {
  pick_t *p = ud;
  (void)v;
  (void)vl;
  if (kl != sizeof(p->target))
    return 0;
  if (!p->have_first) {
    memcpy(p->first, k, kl);
    p->have_first = true;
  }
  if (memcmp(k, p->target, kl) >= 0) {
    memcpy(p->got, k, kl);
    p->have_got = true;
    return 1; /* stop */
  }
  return 0;
}

static void challenge(st_meta_t *m, audit_t *a) {
  st_cons_status_t s;
  st_cons_status(m->cons, &s);
  if (s.height < 1 || s.catching_up)
    return;
  /* A random point in the holder index, from the block hash and us. */
  uint8_t seed[ST_HASH_LEN + ST_ADDR_LEN + 8], h[ST_HASH_LEN];
  memcpy(seed, s.hash, ST_HASH_LEN);
  st_addr_from_pubkey(m->node->node_key.pk, seed + ST_HASH_LEN);
  uint64_t salt = mono_ms();
  memcpy(seed + ST_HASH_LEN + ST_ADDR_LEN, &salt, 8);
  crypto_generichash(h, sizeof(h), seed, sizeof(seed), NULL, 0);
  pick_t p;
  memset(&p, 0, sizeof(p));
  p.target[0] = ST_META__K_HOLDER;
  memcpy(p.target + 1, h, ST_ADDR_LEN);
  memcpy(p.target + 1 + ST_ADDR_LEN, h + 4, ST_HASH_LEN - 4);
  st_meta__rq_t r;
  if (st_meta__rq_open(m, &r) != 0)
    return;
  uint8_t pre = ST_META__K_HOLDER;
  int rc = st_chain__ov_scan(&r.ov, ST_META__SP_REC, &pre, 1, pick_cb, &p);
  st_meta__rq_close(&r);
  if (rc < 0 || (!p.have_got && !p.have_first))
    return;
  const uint8_t *key = p.have_got ? p.got : p.first;
  memcpy(a->holder, key + 1, ST_ADDR_LEN);
  memcpy(a->root, key + 1 + ST_ADDR_LEN, ST_HASH_LEN);
  bool online = false;
  if (st_meta_node_online(m->node, a->holder, &online) != 0 || !online)
    return; /* offline holders are repaired, not audited */
  st_buf_t b;
  st_buf_init(&b, 1u << 16);
  Stratos__Storage__SliceRecord *sr = NULL;
  if (st_meta_slice_get(m->node, a->root, &b) == 0)
    sr = stratos__storage__slice_record__unpack(NULL, b.len, b.data);
  st_buf_free(&b);
  if (!sr)
    return;
  a->size = sr->size;
  stratos__storage__slice_record__free_unpacked(sr, NULL);
  a->nblocks = st_file_blocks(a->size);
  if (a->nblocks == 0)
    return;
  a->block = (uint32_t)(((uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 |
                         h[3]) % a->nblocks);
  a->height = s.height;
  a->active = true;
  a->deadline = mono_ms() + AUDIT_DEADLINE_MS;
  randombytes_buf(&a->req_list, sizeof(a->req_list));
  a->req_block = a->req_list + 1;
  for (int i = 0; i < 2; i++) {
    Stratos__Storage__BlockGet g;
    stratos__storage__block_get__init(&g);
    g.req = i == 0 ? a->req_list : a->req_block;
    g.root.data = a->root;
    g.root.len = ST_HASH_LEN;
    g.index = a->block;
    g.hashes = i == 0;
    g.reply_channel = ST_CH_META;
    uint8_t buf[128];
    size_t n = stratos__storage__block_get__pack(&g, buf);
    st_res_send(m->node, ST_MOD_META, a->holder, ST_CH_RESOURCE, ST_RES_GET, buf, n);
  }
}

static void on_audit_tick(uv_timer_t *t) {
  st_meta_t *m = t->data;
  audit_t *a = m->audit;
  uint64_t now = mono_ms();
  if (a->active) {
    if (now >= a->deadline)
      fail(m, a, "no answer in time");
    return;
  }
  if (now < a->next_at)
    return;
  a->next_at = now + (uint64_t)m->gen.p.audit_interval_ms;
  challenge(m, a);
}

void st_meta__audit_start(st_meta_t *m) {
  if (!m->node || !m->cons || m->audit)
    return;
  audit_t *a = calloc(1, sizeof(*a));
  if (!a || !(a->timer = malloc(sizeof(*a->timer))))
    abort();
  uv_timer_init(m->node->loop, a->timer);
  a->timer->data = m;
  m->audit = a;
  uint64_t every = (uint64_t)m->gen.p.audit_interval_ms;
  a->next_at = mono_ms() + every;
  uv_timer_start(a->timer, on_audit_tick, 250, 250);
}

void st_meta__audit_stop(st_meta_t *m) {
  audit_t *a = m->audit;
  if (!a)
    return;
  end(a);
  uv_close((uv_handle_t *)a->timer, (uv_close_cb)free);
  free(a);
  m->audit = NULL;
}
