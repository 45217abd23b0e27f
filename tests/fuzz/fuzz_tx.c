/* Fuzzes the tx decoder and its stateless checks: any bytes are either
 * refused with an ST_E* code and a log sentence, or decode into a tx whose
 * parts re-encode to exactly the same bytes (hence the same hash), whose
 * amounts obey the rules, and whose signature check does not crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_chain.h>
#include <stratos/st_err.h>
#include "chain/chain_private.h"

static st_chain__params_t params;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  st_crypto_init();
  st_chain__params_defaults(&params);
  strcpy(params.chain_id, "stratos-fuzz");
  params.min_fee_per_byte = 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  st_chain__tx_t t;
  char log[ST_CHAIN__LOG_MAX];
  int rc = st_chain__tx_check(&params, data, size, &t, log, sizeof(log));
  if (rc != 0) {
    if (rc >= 0 || rc <= ST_ERR_MIN_ || log[0] == '\0' || strlen(log) >= sizeof(log))
      abort();
    return 0;
  }
  uint8_t h[ST_HASH_LEN];
  st_chain_tx_hash(data, size, h);
  if (memcmp(h, t.hash, ST_HASH_LEN) != 0 || t.len != size)
    abort();
  /* Re-encoding the decoded parts gives the same bytes and hash. */
  st_buf_t b;
  st_buf_init(&b, 1u << 21);
  if (st_chain__tx_encode(data + t.body_off, t.body_len, t.pubkey, t.sig, &b) != 0)
    abort();
  st_chain_tx_hash(b.data, b.len, h);
  if (b.len != size || memcmp(b.data, data, size) != 0 || memcmp(h, t.hash, ST_HASH_LEN) != 0)
    abort();
  st_buf_free(&b);
  /* The amounts obey the rules the checks claim. */
  if (t.amount == 0 || t.cost != t.amount + t.fee || t.cost < t.fee ||
      t.fee < params.min_fee_per_byte * (st_u128)size || size > params.max_tx_bytes)
    abort();
  uint8_t sender[ST_ADDR_LEN];
  st_addr_from_pubkey(t.pubkey, sender);
  if (memcmp(sender, t.sender, ST_ADDR_LEN) != 0)
    abort();
  rc = st_chain__tx_verify(params.chain_id, data, &t);
  if (rc != 0 && rc != ST_EBADSIG)
    abort();
  return 0;
}
