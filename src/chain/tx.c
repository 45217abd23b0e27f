/* Value-chain transactions: building, decoding and the stateless checks.
 *
 * A tx is the protobuf Tx{body, pubkey, signature} of proto/tx.proto; the
 * signature covers the exact body bytes under ST_DOM_TX and the chain id,
 * and the tx hash covers the whole tx bytes. Protobuf allows many
 * encodings of one message, so a tx is accepted only in the one encoding
 * protobuf-c itself produces (fields in order, no defaults, no unknown or
 * repeated fields): re-encoding a decoded tx gives back the same bytes and
 * so the same hash, and nobody can relay a signed tx under a second hash.
 *
 * The size cap is checked before anything is decoded; protobuf-c then
 * allocates at most in proportion to that size. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_err.h>
#include "chain/mods.h"
#include "tx.pb-c.h"

#define U128_MAX (~(st_u128)0)
#define U128_DIGITS 39

static int refuse(char *log, size_t cap, int code, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));

static int refuse(char *log, size_t cap, int code, const char *fmt, ...) {
  if (log && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(log, cap, fmt, ap);
    va_end(ap);
  }
  return code;
}

int st_chain__min_fee(st_u128 min_fee_per_byte, size_t len, st_u128 *required) {
  if (len != 0 && min_fee_per_byte > U128_MAX / (st_u128)len)
    return ST_ERANGE;
  *required = min_fee_per_byte * (st_u128)len;
  return 0;
}

/* Parses a decimal u128 field of a tx (what names it in the log). */
static int parse_amount(const char *s, const char *what, st_u128 *out, char *log,
                        size_t cap) {
  size_t n = strlen(s);
  if (n > U128_DIGITS)
    return refuse(log, cap, ST_ERANGE, "%s has %zu digits, more than a u128 holds", what, n);
  int rc = st_u128_parse(s, out);
  if (rc == ST_ERANGE)
    return refuse(log, cap, ST_ERANGE, "%s does not fit in 128 bits", what);
  if (rc != 0)
    return refuse(log, cap, ST_EINVAL,
                  "%s must be a decimal number of wei (no sign, no leading zeros)", what);
  return 0;
}

static size_t varint_len(size_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* Checks that the decoded message m packs back to exactly (p, n). */
static int canonical(const ProtobufCMessage *m, const uint8_t *p, size_t n) {
  if (m->n_unknown_fields != 0)
    return 0;
  size_t sz = protobuf_c_message_get_packed_size(m);
  if (sz != n)
    return 0;
  if (n == 0)
    return 1;
  uint8_t *buf = malloc(n);
  if (!buf)
    return 0;
  protobuf_c_message_pack(m, buf);
  int same = memcmp(buf, p, n) == 0;
  free(buf);
  return same;
}

static int check_addr(const ProtobufCBinaryData *a, const char *what, char *log,
                      size_t cap) {
  if (a->len != ST_ADDR_LEN)
    return refuse(log, cap, ST_EINVAL, "%s address must be %d bytes, not %zu", what,
                  ST_ADDR_LEN, a->len);
  return 0;
}

/* A positive amount of wei. */
static int positive(const char *s, const char *what, st_u128 *out, char *log, size_t cap) {
  int rc = parse_amount(s, what, out, log, cap);
  if (rc == 0 && *out == 0)
    return refuse(log, cap, ST_EINVAL, "%s must be greater than zero", what);
  return rc;
}

/* A fraction from 0 to 1 ("" allowed when optional). */
static int fraction(const char *s, const char *what, bool optional, char *log, size_t cap) {
  st_u128 v;
  if (optional && !*s)
    return 0;
  if (st_dec_parse(s, &v) != 0)
    return refuse(log, cap, ST_EINVAL,
                  "%s must be a decimal fraction such as 0.05 (at most 18 digits after the "
                  "point)", what);
  if (v > ST_DEC_ONE)
    return refuse(log, cap, ST_EINVAL, "%s must be between 0 and 1", what);
  return 0;
}

static int printable(const char *s, size_t min, size_t max, const char *what, char *log,
                     size_t cap) {
  size_t n = strlen(s);
  if (n < min || n > max)
    return refuse(log, cap, ST_EINVAL, "%s must be %zu to %zu characters", what, min, max);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
      return refuse(log, cap, ST_EINVAL, "%s may hold only printable ASCII", what);
  return 0;
}

/* The stateless checks of the body's one message; sets out->amount (what
 * the message takes from the sender's balance besides the fee). */
static int check_msg(const Stratos__Tx__TxBody *b, st_chain__tx_t *out, char *log,
                     size_t cap) {
  int rc;
  out->kind = (int)b->msg_case;
  switch (b->msg_case) {
  case STRATOS__TX__TX_BODY__MSG_SEND:
    if ((rc = parse_amount(b->send->amount, "amount", &out->amount, log, cap)) != 0)
      return rc;
    if (b->send->to.len != ST_ADDR_LEN)
      return refuse(log, cap, ST_EINVAL, "recipient address must be %d bytes, not %zu",
                    ST_ADDR_LEN, b->send->to.len);
    memcpy(out->to, b->send->to.data, ST_ADDR_LEN);
    if (out->amount == 0)
      return refuse(log, cap, ST_EINVAL, "amount must be greater than zero");
    return 0;
  case STRATOS__TX__TX_BODY__MSG_CREATE_VALIDATOR: {
    const Stratos__Tx__MsgCreateValidator *m = b->create_validator;
    st_u128 x;
    if (m->pubkey.len != ST_PUBKEY_LEN)
      return refuse(log, cap, ST_EINVAL, "pubkey must be %d bytes, not %zu", ST_PUBKEY_LEN,
                    m->pubkey.len);
    if ((rc = printable(m->moniker, 1, 64, "moniker", log, cap)) != 0 ||
        (rc = positive(m->self_delegation, "self_delegation", &out->amount, log, cap)) != 0 ||
        (rc = fraction(m->commission_rate, "commission_rate", false, log, cap)) != 0 ||
        (rc = fraction(m->max_rate, "max_rate", false, log, cap)) != 0 ||
        (rc = fraction(m->max_change_rate, "max_change_rate", false, log, cap)) != 0 ||
        (rc = positive(m->min_self_delegation, "min_self_delegation", &x, log, cap)) != 0)
      return rc;
    return 0;
  }
  case STRATOS__TX__TX_BODY__MSG_EDIT_VALIDATOR: {
    const Stratos__Tx__MsgEditValidator *m = b->edit_validator;
    st_u128 x;
    if (*m->moniker && (rc = printable(m->moniker, 1, 64, "moniker", log, cap)) != 0)
      return rc;
    if ((rc = fraction(m->commission_rate, "commission_rate", true, log, cap)) != 0)
      return rc;
    if (*m->min_self_delegation &&
        (rc = positive(m->min_self_delegation, "min_self_delegation", &x, log, cap)) != 0)
      return rc;
    if (!*m->moniker && !*m->commission_rate && !*m->min_self_delegation)
      return refuse(log, cap, ST_EINVAL, "edit-validator changes nothing");
    return 0;
  }
  case STRATOS__TX__TX_BODY__MSG_DELEGATE:
    if ((rc = check_addr(&b->delegate->validator, "validator", log, cap)) != 0)
      return rc;
    return positive(b->delegate->amount, "amount", &out->amount, log, cap);
  case STRATOS__TX__TX_BODY__MSG_UNDELEGATE: {
    st_u128 x;
    if ((rc = check_addr(&b->undelegate->validator, "validator", log, cap)) != 0)
      return rc;
    return positive(b->undelegate->amount, "amount", &x, log, cap);
  }
  case STRATOS__TX__TX_BODY__MSG_REDELEGATE: {
    st_u128 x;
    if ((rc = check_addr(&b->redelegate->src, "source validator", log, cap)) != 0 ||
        (rc = check_addr(&b->redelegate->dst, "destination validator", log, cap)) != 0)
      return rc;
    if (memcmp(b->redelegate->src.data, b->redelegate->dst.data, ST_ADDR_LEN) == 0)
      return refuse(log, cap, ST_EINVAL, "cannot redelegate to the same validator");
    return positive(b->redelegate->amount, "amount", &x, log, cap);
  }
  case STRATOS__TX__TX_BODY__MSG_UNJAIL:
    return 0;
  case STRATOS__TX__TX_BODY__MSG_WITHDRAW_REWARDS:
    if (b->withdraw_rewards->validator.len != 0)
      return check_addr(&b->withdraw_rewards->validator, "validator", log, cap);
    return 0;
  case STRATOS__TX__TX_BODY__MSG_SUBMIT_PROPOSAL: {
    const Stratos__Tx__MsgSubmitProposal *m = b->submit_proposal;
    if ((rc = printable(m->title, 1, 140, "title", log, cap)) != 0)
      return rc;
    if (strlen(m->description) > 4096)
      return refuse(log, cap, ST_E2BIG, "description exceeds 4096 bytes");
    if (m->n_changes == 0 || m->n_changes > 16)
      return refuse(log, cap, ST_EINVAL, "a proposal changes 1 to 16 parameters, not %zu",
                    m->n_changes);
    for (size_t i = 0; i < m->n_changes; i++) {
      if (!m->changes[i] || m->changes[i]->base.n_unknown_fields)
        return refuse(log, cap, ST_EPARSE, "the tx body is not in canonical protobuf encoding");
      if ((rc = printable(m->changes[i]->key, 3, 64, "change key", log, cap)) != 0)
        return rc;
      if (strlen(m->changes[i]->value) > 256)
        return refuse(log, cap, ST_E2BIG, "change value exceeds 256 bytes");
    }
    return parse_amount(m->deposit, "deposit", &out->amount, log, cap);
  }
  case STRATOS__TX__TX_BODY__MSG_DEPOSIT:
    if (b->deposit->proposal_id == 0)
      return refuse(log, cap, ST_EINVAL, "proposal id must be given");
    return positive(b->deposit->amount, "amount", &out->amount, log, cap);
  case STRATOS__TX__TX_BODY__MSG_VOTE:
    if (b->vote->proposal_id == 0)
      return refuse(log, cap, ST_EINVAL, "proposal id must be given");
    if (b->vote->option < 1 || b->vote->option > 4)
      return refuse(log, cap, ST_EINVAL,
                    "vote option must be 1 (yes), 2 (abstain), 3 (no) or 4 (no with veto)");
    return 0;
  case STRATOS__TX__TX_BODY__MSG_CREATE_RESOURCE_NODE: {
    const Stratos__Tx__MsgCreateResourceNode *m = b->create_resource_node;
    if (m->pubkey.len != ST_PUBKEY_LEN)
      return refuse(log, cap, ST_EINVAL, "pubkey must be %d bytes, not %zu", ST_PUBKEY_LEN,
                    m->pubkey.len);
    if (m->node_type < 1 || m->node_type > 7)
      return refuse(log, cap, ST_EINVAL,
                    "node_type must be a bitmask of storage 4, database 2, computation 1");
    if (m->capacity == 0)
      return refuse(log, cap, ST_EINVAL, "capacity must be greater than zero");
    if ((rc = printable(m->network_address, 3, 128, "network_address", log, cap)) != 0 ||
        (rc = printable(m->moniker, 1, 64, "moniker", log, cap)) != 0)
      return rc;
    return positive(m->deposit, "deposit", &out->amount, log, cap);
  }
  case STRATOS__TX__TX_BODY__MSG_UPDATE_RESOURCE_NODE_DEPOSIT: {
    st_u128 x;
    if ((rc = check_addr(&b->update_resource_node_deposit->node, "node", log, cap)) != 0 ||
        (rc = positive(b->update_resource_node_deposit->amount, "amount", &x, log, cap)) != 0)
      return rc;
    if (!b->update_resource_node_deposit->decrease)
      out->amount = x;
    return 0;
  }
  case STRATOS__TX__TX_BODY__MSG_REMOVE_RESOURCE_NODE:
    return check_addr(&b->remove_resource_node->node, "node", log, cap);
  case STRATOS__TX__TX_BODY__MSG_CREATE_META_NODE: {
    const Stratos__Tx__MsgCreateMetaNode *m = b->create_meta_node;
    if (m->pubkey.len != ST_PUBKEY_LEN)
      return refuse(log, cap, ST_EINVAL, "pubkey must be %d bytes, not %zu", ST_PUBKEY_LEN,
                    m->pubkey.len);
    if ((rc = printable(m->network_address, 3, 128, "network_address", log, cap)) != 0 ||
        (rc = printable(m->moniker, 1, 64, "moniker", log, cap)) != 0)
      return rc;
    return positive(m->deposit, "deposit", &out->amount, log, cap);
  }
  case STRATOS__TX__TX_BODY__MSG_META_NODE_REGISTRATION_VOTE:
    if ((rc = check_addr(&b->meta_node_registration_vote->candidate, "candidate", log, cap)) !=
        0)
      return rc;
    return check_addr(&b->meta_node_registration_vote->voter, "voter", log, cap);
  case STRATOS__TX__TX_BODY__MSG_KICK_META_NODE_VOTE:
    if ((rc = check_addr(&b->kick_meta_node_vote->target, "target", log, cap)) != 0)
      return rc;
    return check_addr(&b->kick_meta_node_vote->voter, "voter", log, cap);
  case STRATOS__TX__TX_BODY__MSG_REMOVE_META_NODE:
    return check_addr(&b->remove_meta_node->node, "node", log, cap);
  case STRATOS__TX__TX_BODY__MSG_PREPAY:
    if ((rc = check_addr(&b->prepay->beneficiary, "beneficiary", log, cap)) != 0)
      return rc;
    return positive(b->prepay->amount, "amount", &out->amount, log, cap);
  case STRATOS__TX__TX_BODY__MSG_VOLUME_REPORT:
  case STRATOS__TX__TX_BODY__MSG_SLASH_RESOURCE_NODE: {
    bool vr = b->msg_case == STRATOS__TX__TX_BODY__MSG_VOLUME_REPORT;
    const ProtobufCBinaryData *report =
      vr ? &b->volume_report->report : &b->slash_resource_node->report;
    size_t n_sigs = vr ? b->volume_report->n_sigs : b->slash_resource_node->n_sigs;
    Stratos__Traffic__ReportSig **sigs =
      vr ? b->volume_report->sigs : b->slash_resource_node->sigs;
    const char *what = vr ? "volume report" : "slash report";
    if (report->len == 0)
      return refuse(log, cap, ST_EINVAL, "the %s is empty", what);
    if (n_sigs == 0 || n_sigs > ST_TRAFFIC_MAX_SIGS)
      return refuse(log, cap, ST_EINVAL, "a %s carries 1 to %d signatures, not %zu", what,
                    ST_TRAFFIC_MAX_SIGS, n_sigs);
    for (size_t i = 0; i < n_sigs; i++) {
      const Stratos__Traffic__ReportSig *g = sigs[i];
      if (g->base.n_unknown_fields != 0)
        return refuse(log, cap, ST_EPARSE, "the tx body is not in canonical protobuf encoding");
      if (g->pubkey.len != ST_PUBKEY_LEN || g->signature.len != ST_SIG_LEN)
        return refuse(log, cap, ST_EINVAL,
                      "signature %zu: pubkey must be %d bytes and signature %d bytes", i,
                      ST_PUBKEY_LEN, ST_SIG_LEN);
    }
    return 0;
  }
  case STRATOS__TX__TX_BODY__MSG_FOUNDATION_DEPOSIT:
    return positive(b->foundation_deposit->amount, "amount", &out->amount, log, cap);
  case STRATOS__TX__TX_BODY__MSG_WITHDRAW_TRAFFIC: {
    st_u128 x;
    if (!b->withdraw_traffic->amount[0])
      return 0;
    return positive(b->withdraw_traffic->amount, "amount", &x, log, cap);
  }
  default:
    return refuse(log, cap, ST_EINVAL, "the tx carries no message; exactly one is required");
  }
}

/* Whether the body's message (a sub-message) carries unknown fields. */
static bool msg_unknown(const Stratos__Tx__TxBody *b) {
  const ProtobufCMessage *m = NULL;
  switch (b->msg_case) {
  case STRATOS__TX__TX_BODY__MSG_SEND: m = &b->send->base; break;
  case STRATOS__TX__TX_BODY__MSG_CREATE_VALIDATOR: m = &b->create_validator->base; break;
  case STRATOS__TX__TX_BODY__MSG_EDIT_VALIDATOR: m = &b->edit_validator->base; break;
  case STRATOS__TX__TX_BODY__MSG_DELEGATE: m = &b->delegate->base; break;
  case STRATOS__TX__TX_BODY__MSG_UNDELEGATE: m = &b->undelegate->base; break;
  case STRATOS__TX__TX_BODY__MSG_REDELEGATE: m = &b->redelegate->base; break;
  case STRATOS__TX__TX_BODY__MSG_UNJAIL: m = &b->unjail->base; break;
  case STRATOS__TX__TX_BODY__MSG_WITHDRAW_REWARDS: m = &b->withdraw_rewards->base; break;
  case STRATOS__TX__TX_BODY__MSG_SUBMIT_PROPOSAL: m = &b->submit_proposal->base; break;
  case STRATOS__TX__TX_BODY__MSG_DEPOSIT: m = &b->deposit->base; break;
  case STRATOS__TX__TX_BODY__MSG_VOTE: m = &b->vote->base; break;
  case STRATOS__TX__TX_BODY__MSG_CREATE_RESOURCE_NODE: m = &b->create_resource_node->base; break;
  case STRATOS__TX__TX_BODY__MSG_UPDATE_RESOURCE_NODE_DEPOSIT:
    m = &b->update_resource_node_deposit->base;
    break;
  case STRATOS__TX__TX_BODY__MSG_REMOVE_RESOURCE_NODE: m = &b->remove_resource_node->base; break;
  case STRATOS__TX__TX_BODY__MSG_CREATE_META_NODE: m = &b->create_meta_node->base; break;
  case STRATOS__TX__TX_BODY__MSG_META_NODE_REGISTRATION_VOTE:
    m = &b->meta_node_registration_vote->base;
    break;
  case STRATOS__TX__TX_BODY__MSG_KICK_META_NODE_VOTE: m = &b->kick_meta_node_vote->base; break;
  case STRATOS__TX__TX_BODY__MSG_REMOVE_META_NODE: m = &b->remove_meta_node->base; break;
  case STRATOS__TX__TX_BODY__MSG_PREPAY: m = &b->prepay->base; break;
  case STRATOS__TX__TX_BODY__MSG_VOLUME_REPORT: m = &b->volume_report->base; break;
  case STRATOS__TX__TX_BODY__MSG_FOUNDATION_DEPOSIT: m = &b->foundation_deposit->base; break;
  case STRATOS__TX__TX_BODY__MSG_WITHDRAW_TRAFFIC: m = &b->withdraw_traffic->base; break;
  case STRATOS__TX__TX_BODY__MSG_SLASH_RESOURCE_NODE: m = &b->slash_resource_node->base; break;
  default: return false;
  }
  return m->n_unknown_fields != 0;
}

static int check_body(const st_chain__params_t *p, const uint8_t *body, size_t blen,
                      st_chain__tx_t *out, char *log, size_t cap) {
  Stratos__Tx__TxBody *b = stratos__tx__tx_body__unpack(NULL, blen, body);
  int rc;
  if (!b)
    return refuse(log, cap, ST_EPARSE, "cannot decode the tx body");
  if (!canonical(&b->base, body, blen) || msg_unknown(b)) {
    rc = refuse(log, cap, ST_EPARSE, "the tx body is not in canonical protobuf encoding");
    goto out;
  }
  if (strcmp(b->chain_id, p->chain_id) != 0) {
    char shown[ST_CHAIN_ID_MAX + 1];
    st_chain__safe_str(b->chain_id, strlen(b->chain_id), shown, sizeof(shown));
    rc = refuse(log, cap, ST_EINVAL, "wrong chain id %s%s, expected %s", shown,
                strlen(b->chain_id) > ST_CHAIN_ID_MAX ? "..." : "", p->chain_id);
    goto out;
  }
  size_t mlen = strlen(b->memo);
  if (mlen > p->max_memo_bytes) {
    rc = refuse(log, cap, ST_E2BIG, "memo of %zu bytes exceeds the maximum of %zu", mlen,
                p->max_memo_bytes);
    goto out;
  }
  if ((rc = parse_amount(b->fee, "fee", &out->fee, log, cap)) != 0 ||
      (rc = check_msg(b, out, log, cap)) != 0)
    goto out;
  out->nonce = b->nonce;
  rc = 0;
out:
  stratos__tx__tx_body__free_unpacked(b, NULL);
  return rc;
}

int st_chain__tx_check(const st_chain__params_t *p, const uint8_t *tx, size_t len,
                       st_chain__tx_t *out, char *log, size_t cap) {
  int rc;
  memset(out, 0, sizeof(*out));
  if (log && cap)
    log[0] = '\0';
  if (len > p->max_tx_bytes)
    return refuse(log, cap, ST_E2BIG, "tx of %zu bytes exceeds the maximum of %zu", len,
                  p->max_tx_bytes);
  if (len == 0)
    return refuse(log, cap, ST_EPARSE, "empty tx");
  Stratos__Tx__Tx *t = stratos__tx__tx__unpack(NULL, len, tx);
  if (!t)
    return refuse(log, cap, ST_EPARSE, "cannot decode the tx");
  if (!canonical(&t->base, tx, len)) {
    rc = refuse(log, cap, ST_EPARSE, "the tx is not in canonical protobuf encoding");
    goto out;
  }
  if (t->pubkey.len != ST_PUBKEY_LEN) {
    rc = refuse(log, cap, ST_EPARSE, "pubkey must be %d bytes, not %zu", ST_PUBKEY_LEN,
                t->pubkey.len);
    goto out;
  }
  if (t->signature.len != ST_SIG_LEN) {
    rc = refuse(log, cap, ST_EPARSE, "signature must be %d bytes, not %zu", ST_SIG_LEN,
                t->signature.len);
    goto out;
  }
  if (t->body.len == 0) {
    rc = refuse(log, cap, ST_EPARSE, "the tx has no body");
    goto out;
  }
  /* Canonical form puts the body first: tag 0x0a, its length, its bytes. */
  out->body_off = 1 + varint_len(t->body.len);
  out->body_len = t->body.len;
  if (tx[0] != 0x0a || out->body_off + out->body_len > len ||
      memcmp(tx + out->body_off, t->body.data, t->body.len) != 0) {
    rc = refuse(log, cap, ST_EPARSE, "the tx is not in canonical protobuf encoding");
    goto out;
  }
  memcpy(out->pubkey, t->pubkey.data, ST_PUBKEY_LEN);
  memcpy(out->sig, t->signature.data, ST_SIG_LEN);
  if ((rc = check_body(p, t->body.data, t->body.len, out, log, cap)) != 0)
    goto out;
  st_u128 required;
  char a[ST_U128_STR_MAX], b[ST_U128_STR_MAX];
  if (st_chain__min_fee(p->min_fee_per_byte, len, &required) != 0) {
    st_u128_format(out->fee, a);
    rc = refuse(log, cap, ST_EINVAL, "fee %s below minimum (the minimum overflows 128 bits)", a);
    goto out;
  }
  if (out->fee < required) {
    st_u128_format(out->fee, a);
    st_u128_format(required, b);
    rc = refuse(log, cap, ST_EINVAL, "fee %s below minimum %s (%zu bytes)", a, b, len);
    goto out;
  }
  if (out->amount > U128_MAX - out->fee) {
    rc = refuse(log, cap, ST_ERANGE, "amount plus fee overflows 128 bits");
    goto out;
  }
  out->cost = out->amount + out->fee;
  out->len = len;
  st_chain_tx_hash(tx, len, out->hash);
  st_addr_from_pubkey(out->pubkey, out->sender);
  rc = 0;
out:
  stratos__tx__tx__free_unpacked(t, NULL);
  if (rc != 0)
    memset(out, 0, sizeof(*out));
  return rc;
}

int st_chain__tx_verify(const char *chain_id, const uint8_t *tx, const st_chain__tx_t *t) {
  return st_verify(t->pubkey, ST_DOM_TX, chain_id, tx + t->body_off, t->body_len, t->sig) == 0
           ? 0 : ST_EBADSIG;
}

void st_chain_tx_hash(const uint8_t *tx, size_t len, uint8_t out[ST_HASH_LEN]) {
  st_hash(ST_DOM_TX, tx, len, out);
}

/* Packs m and appends it to out. */
static int append_packed(const ProtobufCMessage *m, st_buf_t *out) {
  size_t n = protobuf_c_message_get_packed_size(m);
  int rc = st_buf_reserve(out, n);
  if (rc != 0)
    return rc;
  protobuf_c_message_pack(m, out->data + out->len);
  out->len += n;
  return 0;
}

int st_chain__body_encode(const char *chain_id, uint64_t nonce, st_u128 fee,
                          const char *memo, const uint8_t to[ST_ADDR_LEN],
                          st_u128 amount, st_buf_t *out) {
  Stratos__Tx__TxBody b;
  Stratos__Tx__MsgSend s;
  char f[ST_U128_STR_MAX], a[ST_U128_STR_MAX];
  if (!chain_id || !to || !out)
    return ST_EINVAL;
  stratos__tx__tx_body__init(&b);
  stratos__tx__msg_send__init(&s);
  st_u128_format(fee, f);
  st_u128_format(amount, a);
  s.to.data = (uint8_t *)(uintptr_t)to;
  s.to.len = ST_ADDR_LEN;
  s.amount = a;
  b.chain_id = (char *)(uintptr_t)chain_id;
  b.nonce = nonce;
  b.fee = f;
  b.memo = (char *)(uintptr_t)(memo ? memo : "");
  b.msg_case = STRATOS__TX__TX_BODY__MSG_SEND;
  b.send = &s;
  return append_packed(&b.base, out);
}

int st_chain__tx_encode(const uint8_t *body, size_t blen, const uint8_t pk[ST_PUBKEY_LEN],
                        const uint8_t sig[ST_SIG_LEN], st_buf_t *out) {
  Stratos__Tx__Tx t;
  if ((!body && blen) || !pk || !sig || !out)
    return ST_EINVAL;
  stratos__tx__tx__init(&t);
  t.body.data = (uint8_t *)(uintptr_t)body;
  t.body.len = blen;
  t.pubkey.data = (uint8_t *)(uintptr_t)pk;
  t.pubkey.len = ST_PUBKEY_LEN;
  t.signature.data = (uint8_t *)(uintptr_t)sig;
  t.signature.len = ST_SIG_LEN;
  return append_packed(&t.base, out);
}

int st_chain__result_encode(int code, const char *log, st_u128 fee, st_buf_t *out) {
  Stratos__Tx__TxResult r;
  char f[ST_U128_STR_MAX];
  stratos__tx__tx_result__init(&r);
  st_u128_format(fee, f);
  r.code = code;
  r.log = (char *)(uintptr_t)(log ? log : "");
  r.fee = f;
  return append_packed(&r.base, out);
}

int st_chain__result_decode(const uint8_t *p, size_t n, int *code, char *log,
                            size_t logcap, st_u128 *fee) {
  Stratos__Tx__TxResult *r = stratos__tx__tx_result__unpack(NULL, n, p);
  if (!r)
    return ST_ECORRUPT;
  int rc = 0;
  *code = r->code;
  if (log && logcap)
    st_chain__safe_str(r->log, strlen(r->log), log, logcap);
  if (st_u128_parse(r->fee, fee) != 0)
    rc = ST_ECORRUPT;
  stratos__tx__tx_result__free_unpacked(r, NULL);
  return rc;
}

int st_chain__body_decode(const uint8_t *tx, const st_chain__tx_t *t,
                          Stratos__Tx__TxBody **out) {
  *out = stratos__tx__tx_body__unpack(NULL, t->body_len, tx + t->body_off);
  return *out ? 0 : ST_EPARSE;
}

/* Signs body (its fee set to fee) and appends the tx to out. */
static int sign_body(const st_keypair_t *kp, Stratos__Tx__TxBody *b, st_u128 fee,
                     st_buf_t *out) {
  char f[ST_U128_STR_MAX];
  uint8_t sig[ST_SIG_LEN];
  st_buf_t body;
  st_u128_format(fee, f);
  b->fee = f;
  st_buf_init(&body, out->max);
  int rc = append_packed(&b->base, &body);
  if (rc == 0)
    rc = st_sign(kp, ST_DOM_TX, b->chain_id, body.data, body.len, sig);
  if (rc == 0)
    rc = st_chain__tx_encode(body.data, body.len, kp->pk, sig, out);
  st_buf_free(&body);
  b->fee = NULL;
  return rc;
}

int st_chain_tx_sign(const st_keypair_t *kp, void *body, st_u128 fee,
                     st_u128 min_fee_per_byte, st_buf_t *out) {
  Stratos__Tx__TxBody *b = body;
  if (!kp || !b || !out || !b->chain_id || strlen(b->chain_id) > ST_CHAIN_ID_MAX)
    return ST_EINVAL;
  if (min_fee_per_byte == 0)
    return sign_body(kp, b, fee, out);
  /* The size grows with the fee's digits and the fee with the size, both
   * monotonically, so the sequence settles within a few rounds. */
  fee = 0;
  for (int round = 0; round < 16; round++) {
    st_buf_t tmp;
    st_u128 need;
    st_buf_init(&tmp, out->max);
    int rc = sign_body(kp, b, fee, &tmp);
    if (rc == 0)
      rc = st_chain__min_fee(min_fee_per_byte, tmp.len, &need);
    if (rc == 0 && need == fee)
      rc = st_buf_append(out, tmp.data, tmp.len);
    st_buf_free(&tmp);
    if (rc != 0 || need == fee)
      return rc;
    fee = need;
  }
  return ST_ERANGE;
}

int st_chain_tx_send(const st_keypair_t *kp, const char *chain_id, uint64_t nonce,
                     st_u128 fee, const uint8_t to[ST_ADDR_LEN], st_u128 amount,
                     const char *memo, st_buf_t *out) {
  st_buf_t body;
  uint8_t sig[ST_SIG_LEN];
  int rc;
  if (!kp || !chain_id || !to || !out)
    return ST_EINVAL;
  if (strlen(chain_id) > ST_CHAIN_ID_MAX)
    return ST_EINVAL;
  st_buf_init(&body, out->max);
  rc = st_chain__body_encode(chain_id, nonce, fee, memo, to, amount, &body);
  if (rc == 0)
    rc = st_sign(kp, ST_DOM_TX, chain_id, body.data, body.len, sig);
  if (rc == 0)
    rc = st_chain__tx_encode(body.data, body.len, kp->pk, sig, out);
  st_buf_free(&body);
  return rc;
}

int st_chain_tx_send_min_fee(const st_keypair_t *kp, const char *chain_id,
                             uint64_t nonce, st_u128 min_fee_per_byte,
                             const uint8_t to[ST_ADDR_LEN], st_u128 amount,
                             const char *memo, st_buf_t *out) {
  /* The size grows with the fee's digits and the fee with the size, both
   * monotonically, so the sequence settles within a few rounds. */
  st_u128 fee = 0;
  if (!out)
    return ST_EINVAL;
  for (int round = 0; round < 16; round++) {
    st_buf_t tmp;
    st_buf_init(&tmp, out->max);
    int rc = st_chain_tx_send(kp, chain_id, nonce, fee, to, amount, memo, &tmp);
    if (rc != 0) {
      st_buf_free(&tmp);
      return rc;
    }
    st_u128 need;
    rc = st_chain__min_fee(min_fee_per_byte, tmp.len, &need);
    if (rc == 0 && need == fee)
      rc = st_buf_append(out, tmp.data, tmp.len);
    st_buf_free(&tmp);
    if (rc != 0 || need == fee)
      return rc;
    fee = need;
  }
  return ST_ERANGE;
}
