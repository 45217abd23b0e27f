/* Slashing resource nodes that fail audits (docs/traffic.md, "Slashing").
 *
 * A failed audit counts in the node's mirror (files.c op_audit); when
 * audits_failed − (audits_failed at the node's last slash) reaches
 * params.meta.slash_audit_failures, the block that counted it commits a
 * SlashReport {meta chain id, the block's height, node, slash_noz,
 * suspend, seq} under the next seq, remembers audits_failed as the
 * node's last slash and suspends the node in the mirror: placement and
 * repair skip it and its slices are examined for repair. report.c
 * relays committed SlashReports to the value chain like volume reports.
 * Deterministic: everything comes from the block's state. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include <stratos/st_log.h>
#include "meta/meta_private.h"
#include "traffic.pb-c.h"

static int rd_u64(st_chain__overlay_t *ov, const uint8_t *k, size_t kl, uint64_t *v) {
  const uint8_t *p;
  size_t n;
  *v = 0;
  int rc = st_chain__ov_read(ov, ST_META__SP_REC, k, kl, &p, &n);
  if (rc == ST_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (n != 8)
    return ST_ECORRUPT;
  *v = st_chain__rd64(p);
  return 0;
}

int st_meta__slash_last(st_chain__overlay_t *ov, uint64_t *seq) {
  uint8_t k = ST_META__K_SLASH_SEQ;
  return rd_u64(ov, &k, 1, seq);
}

int st_meta__slash_get(st_chain__overlay_t *ov, uint64_t seq, const uint8_t **p, size_t *n) {
  uint8_t k[1 + 8];
  k[0] = ST_META__K_SLASH;
  st_chain__be64(k + 1, seq);
  return st_chain__ov_read(ov, ST_META__SP_REC, k, sizeof(k), p, n);
}

int st_meta__slash_check(st_meta_t *m, st_chain__overlay_t *ov, const st_meta__blk_t *b,
                         st_meta__rnode_t *r, bool *slashed) {
  uint8_t ka[1 + ST_ADDR_LEN], ks = ST_META__K_SLASH_SEQ, kr[1 + 8];
  uint64_t at, seq, every = m->gen.p.slash_audit_failures;
  char noz[24];
  *slashed = false;
  ka[0] = ST_META__K_SLASHED_AT;
  memcpy(ka + 1, r->addr, ST_ADDR_LEN);
  int rc = rd_u64(ov, ka, sizeof(ka), &at);
  if (rc != 0)
    return rc;
  if (every == 0 || r->audits_failed < at || r->audits_failed - at < every)
    return 0;
  if ((rc = st_meta__slash_last(ov, &seq)) != 0)
    return rc;
  if (seq == UINT64_MAX)
    return ST_ERANGE;
  seq++;
  Stratos__Traffic__SlashReport sr;
  stratos__traffic__slash_report__init(&sr);
  snprintf(noz, sizeof(noz), "%" PRIu64, m->gen.p.slash_noz);
  sr.meta_chain_id = m->gen.chain_id;
  sr.meta_height = (uint64_t)b->height;
  sr.node.data = r->addr;
  sr.node.len = ST_ADDR_LEN;
  sr.noz = noz;
  sr.suspend = true;
  sr.seq = seq;
  size_t len = stratos__traffic__slash_report__get_packed_size(&sr);
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf)
    return ST_ENOMEM;
  stratos__traffic__slash_report__pack(&sr, buf);
  kr[0] = ST_META__K_SLASH;
  st_chain__be64(kr + 1, seq);
  rc = st_chain__ov_write(ov, ST_META__SP_REC, kr, sizeof(kr), buf, len);
  free(buf);
  if (rc == 0)
    rc = st_chain__ov_write_u64(ov, ST_META__SP_REC, &ks, 1, seq);
  if (rc == 0)
    rc = st_chain__ov_write_u64(ov, ST_META__SP_REC, ka, sizeof(ka), r->audits_failed);
  if (rc != 0)
    return rc;
  r->suspended = true;
  *slashed = true;
  if (b->results) {
    char na[ST_ADDR_STR_MAX];
    if (st_addr_encode(ST_HRP_NODE, r->addr, na, sizeof(na)) != 0)
      snprintf(na, sizeof(na), "?");
    ST_INFO("meta", "height %lld: slash %llu of %s committed (%llu failed audits)",
            (long long)b->height, (unsigned long long)seq, na,
            (unsigned long long)r->audits_failed);
  }
  return 0;
}
