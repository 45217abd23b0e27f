/* Inside the resource module: the table of traffic receipts a holder
 * keeps for the meta chain (receipts.c). */
#ifndef STRATOS_RESOURCE_RECEIPTS_H
#define STRATOS_RESOURCE_RECEIPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stratos/st_crypto.h>

typedef struct st_res__rcpt st_res__rcpt_t;

/* A table for the node me of at most cap sessions. */
int st_res__rcpt_new(const uint8_t me[ST_ADDR_LEN], size_t cap, st_res__rcpt_t **out);
void st_res__rcpt_free(st_res__rcpt_t *t);
/* Keeps an encoded Receipt (copied) as its session's latest. ST_EPERM:
 * it names another server; ST_EEXIST: the session has as many bytes
 * already; ST_EPARSE/ST_E2BIG: it does not decode. */
int st_res__rcpt_add(st_res__rcpt_t *t, const uint8_t *p, size_t n, int64_t now_ms);
size_t st_res__rcpt_count(const st_res__rcpt_t *t);
/* Sessions that grew since they were last submitted. */
size_t st_res__rcpt_due(const st_res__rcpt_t *t);
/* Up to max receipts to submit now: those that grew, and those submitted
 * retry_ms ago without change that were not retried yet. They are marked
 * submitted. The pointers are borrowed until the table next changes. */
size_t st_res__rcpt_take(st_res__rcpt_t *t, int64_t now_ms, int64_t retry_ms, size_t max,
                         const uint8_t **rcpts, size_t *lens);
/* Forgets sessions submitted (and retried) whose receipt is older than
 * keep_ms; returns how many went. */
size_t st_res__rcpt_expire(st_res__rcpt_t *t, int64_t now_ms, int64_t keep_ms);

#endif
