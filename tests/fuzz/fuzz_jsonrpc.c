/* Fuzzes the JSON-RPC request decoder: any bytes either decode into a list
 * of wrapped calls or into one ready error response, never both, never
 * neither, and every wrapped element is a request or an error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stratos/st_rpc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *calls = NULL, *err = NULL;
  int is_batch = 0;
  int rc = st_rpc_decode((const char *)data, size, &calls, &is_batch, &err);
  if (rc == 0) {
    if (!calls || err || json_array_size(calls) == 0)
      abort();
    size_t i;
    json_t *w;
    json_array_foreach(calls, i, w) {
      json_t *rq = json_object_get(w, "req");
      json_t *resp = json_object_get(w, "resp");
      if ((rq == NULL) == (resp == NULL))
        abort();
      if (rq && !json_is_string(json_object_get(rq, "method")))
        abort();
      if (resp && !json_is_integer(json_object_get(json_object_get(resp, "error"), "code")))
        abort();
    }
  } else {
    if (calls || !err)
      abort();
    long code = (long)json_integer_value(json_object_get(json_object_get(err, "error"), "code"));
    if (code != ST_RPC_PARSE_ERROR && code != ST_RPC_INVALID_REQUEST)
      abort();
  }
  json_decref(calls);
  json_decref(err);
  return 0;
}
