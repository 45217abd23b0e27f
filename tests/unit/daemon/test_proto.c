/* The generated protobuf-c code is built from proto/ and behaves: a frame
 * round-trips, and truncated or garbage bytes are refused, not read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "p2p.pb-c.h"

static void test_envelope_round_trip(void **state) {
  (void)state;
  Stratos__P2p__Envelope e = STRATOS__P2P__ENVELOPE__INIT;
  uint8_t payload[5] = {1, 2, 3, 4, 5};
  e.channel = STRATOS__P2P__CHANNEL__CHANNEL_CONSENSUS;
  e.type = 7;
  e.payload.data = payload;
  e.payload.len = sizeof(payload);
  size_t n = stratos__p2p__envelope__get_packed_size(&e);
  uint8_t buf[64];
  assert_true(n <= sizeof(buf));
  assert_int_equal(stratos__p2p__envelope__pack(&e, buf), n);
  Stratos__P2p__Envelope *d = stratos__p2p__envelope__unpack(NULL, n, buf);
  assert_non_null(d);
  assert_int_equal(d->channel, STRATOS__P2P__CHANNEL__CHANNEL_CONSENSUS);
  assert_int_equal(d->type, 7);
  assert_int_equal(d->payload.len, 5);
  assert_memory_equal(d->payload.data, payload, 5);
  stratos__p2p__envelope__free_unpacked(d, NULL);
  /* Every strict prefix that cuts the payload is refused. */
  for (size_t cut = n - 5; cut < n; cut++)
    assert_null(stratos__p2p__envelope__unpack(NULL, cut, buf));
}

static void test_garbage_refused(void **state) {
  (void)state;
  /* Field 3 (bytes) claiming a length far beyond the buffer. */
  uint8_t bad[] = {0x1a, 0xff, 0xff, 0xff, 0x0f, 0x00};
  assert_null(stratos__p2p__envelope__unpack(NULL, sizeof(bad), bad));
  /* A field with wire type 7, which does not exist. */
  uint8_t bad2[] = {0x0f, 0x01};
  assert_null(stratos__p2p__envelope__unpack(NULL, sizeof(bad2), bad2));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_envelope_round_trip),
    cmocka_unit_test(test_garbage_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
