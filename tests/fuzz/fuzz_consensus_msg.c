/* Fuzzes the decoders and checks of the consensus channels against a
 * fixed validator set of four. The first byte picks the message type
 * (as on the wire: 1 proposal, 2 vote, 3 round step, 4 evidence on the
 * consensus channel; 0x81 block request, 0x82 block response, 0x83 no
 * block on the block-sync channel); the rest is the frame's payload.
 * Whatever the bytes, nothing crashes or leaks, every result is 0 or
 * ST_EPROTO/ST_EBADSIG, and whatever decodes re-encodes to something
 * that decodes to the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stratos/st_crypto.h>
#include <stratos/st_err.h>

#include "consensus/consensus_private.h"

#define CHAIN "fuzz-chain"

static st_cons_validator_t vals[4];
static st_cons_valset_t vset = {.n = 4, .v = vals};
static const st_cons__limits_t lim = {.max_txs = 64, .max_bytes = 1 << 16, .max_sigs = 4};

static int vcmp(const void *a, const void *b) {
  return memcmp(((const st_cons_validator_t *)a)->addr, ((const st_cons_validator_t *)b)->addr,
                ST_ADDR_LEN);
}

static void init_once(void) {
  static int done;
  if (done)
    return;
  done = 1;
  st_crypto_init();
  for (int i = 0; i < 4; i++) {
    uint8_t seed[ST_SEED_LEN] = {(uint8_t)(0x40 + i)};
    st_keypair_t k;
    st_key_from_seed(seed, &k);
    memcpy(vals[i].pubkey, k.pk, ST_PUBKEY_LEN);
    st_addr_from_pubkey(k.pk, vals[i].addr);
    vals[i].power = 1 + i;
  }
  qsort(vals, 4, sizeof(vals[0]), vcmp);
}

static void check_rc(int rc) {
  if (rc != 0 && rc != ST_EPROTO && rc != ST_EBADSIG)
    abort();
}

static void fuzz_vote(const uint8_t *p, size_t n) {
  st_cons__vote_t *v, *w;
  const char *why = NULL;
  int rc = st_cons__vote_decode(CHAIN, p, n, &v, &why);
  check_rc(rc);
  if (rc != 0) {
    if (!why)
      abort();
    return;
  }
  if (st_cons__vote_decode(CHAIN, v->msg, v->msg_len, &w, &why) != 0)
    abort();
  if (w->height != v->height || w->round != v->round || w->type != v->type ||
      w->nil != v->nil || memcmp(w->hash, v->hash, ST_HASH_LEN) != 0)
    abort();
  check_rc(st_cons__vote_verify(CHAIN, &vset, w, &why));
  st_cons__vote_free(w);
  st_cons__vote_free(v);
}

static void fuzz_block_checks(const st_cons__block_t *b) {
  const char *why;
  if (b->hdr->height > 1 && b->pb->last_commit)
    check_rc(st_cons__commit_verify(CHAIN, &vset, b->hdr->height - 1,
                                    b->hdr->last_block_hash.data, b->pb->last_commit, NULL,
                                    &why));
  for (size_t i = 0; i < b->pb->n_evidence; i++) {
    st_cons__evidence_t *ev;
    if (st_cons__evidence_from_pb(CHAIN, b->pb->evidence[i], &ev, &why) != 0)
      abort(); /* the block decoder checked their form */
    check_rc(st_cons__evidence_verify(CHAIN, &vset, ev, &why));
    st_cons__evidence_free(ev);
  }
  st_cons__block_t *again;
  if (st_cons__block_decode(CHAIN, b->bytes, b->len, &lim, &again, &why) != 0)
    abort();
  if (memcmp(again->hash, b->hash, ST_HASH_LEN) != 0)
    abort();
  st_cons__block_free(again);
}

static void fuzz_proposal(const uint8_t *p, size_t n) {
  st_cons__proposal_t *pr;
  const char *why = NULL;
  int rc = st_cons__proposal_decode(CHAIN, p, n, &lim, &pr, &why);
  check_rc(rc);
  if (rc != 0)
    return;
  int idx = st_cons__valset_index(&vset, pr->proposer);
  if (idx >= 0)
    (void)st_cons__proposal_verify(CHAIN, vals[idx].pubkey, pr);
  fuzz_block_checks(pr->block);
  st_cons__proposal_t *again;
  if (st_cons__proposal_decode(CHAIN, pr->msg, pr->msg_len, &lim, &again, &why) != 0)
    abort();
  st_cons__proposal_free(again);
  st_cons__proposal_free(pr);
}

static void fuzz_evidence(const uint8_t *p, size_t n) {
  st_cons__evidence_t *ev;
  const char *why = NULL;
  int rc = st_cons__evidence_decode(CHAIN, p, n, &ev, &why);
  check_rc(rc);
  if (rc != 0)
    return;
  check_rc(st_cons__evidence_verify(CHAIN, &vset, ev, &why));
  st_cons__evidence_t *again;
  if (st_cons__evidence_decode(CHAIN, ev->bytes, ev->len, &again, &why) != 0)
    abort();
  if (memcmp(again->key, ev->key, sizeof(ev->key)) != 0)
    abort();
  st_cons__evidence_free(again);
  st_cons__evidence_free(ev);
}

static void fuzz_response(const uint8_t *p, size_t n) {
  Stratos__Cons__BlockResponse *m = stratos__cons__block_response__unpack(NULL, n, p);
  if (!m)
    return;
  if (m->block) {
    size_t bl = protobuf_c_message_get_packed_size(&m->block->base);
    uint8_t *bb = malloc(bl ? bl : 1);
    protobuf_c_message_pack(&m->block->base, bb);
    st_cons__block_t *b;
    const char *why;
    int rc = st_cons__block_decode(CHAIN, bb, bl, &lim, &b, &why);
    check_rc(rc);
    if (rc == 0) {
      fuzz_block_checks(b);
      if (m->commit)
        check_rc(st_cons__commit_verify(CHAIN, &vset, b->hdr->height, b->hash, m->commit, NULL,
                                        &why));
      st_cons__block_free(b);
    }
    free(bb);
  }
  stratos__cons__block_response__free_unpacked(m, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_once();
  if (size < 1 || size > (1 << 20))
    return 0;
  const uint8_t *p = data + 1;
  size_t n = size - 1;
  switch (data[0]) {
  case ST_CONS__MSG_PROPOSAL:
    fuzz_proposal(p, n);
    break;
  case ST_CONS__MSG_VOTE:
    fuzz_vote(p, n);
    break;
  case ST_CONS__MSG_ROUND_STEP: {
    Stratos__Cons__RoundStep *m = stratos__cons__round_step__unpack(NULL, n, p);
    if (m)
      stratos__cons__round_step__free_unpacked(m, NULL);
    break;
  }
  case ST_CONS__MSG_EVIDENCE:
    fuzz_evidence(p, n);
    break;
  case 0x80 | ST_CONS__MSG_BLOCK_REQUEST: {
    Stratos__Cons__BlockRequest *m = stratos__cons__block_request__unpack(NULL, n, p);
    if (m)
      stratos__cons__block_request__free_unpacked(m, NULL);
    break;
  }
  case 0x80 | ST_CONS__MSG_BLOCK_RESPONSE:
    fuzz_response(p, n);
    break;
  case 0x80 | ST_CONS__MSG_NO_BLOCK: {
    Stratos__Cons__NoBlock *m = stratos__cons__no_block__unpack(NULL, n, p);
    if (m)
      stratos__cons__no_block__free_unpacked(m, NULL);
    break;
  }
  default:
    break;
  }
  return 0;
}
