/* Inside the gateway module only: the module's state and the file API
 * (files.c: routes, authorization, the holder protocol's frames;
 * upload.c: uploads; download.c: downloads). */
#ifndef STRATOS_GATEWAY_GW_PRIVATE_H
#define STRATOS_GATEWAY_GW_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stratos/st_crypto.h>
#include <stratos/st_http.h>
#include <stratos/st_net.h>
#include <stratos/st_node.h>
#include <stratos/st_reqauth.h>

typedef struct st_gw_files st_gw_files_t;

/* Adds the file routes to http and prepares the API token and wallet. */
int st_gw__files_init(st_node_t *node, st_http_t *http, st_gw_files_t **out);
/* Subscribes to the gateway's P2P channel (after every module is up). */
void st_gw__files_start(st_gw_files_t *f);
/* A frame on ST_CH_GATEWAY (from a holder) or a peer event. */
void st_gw__files_on_msg(st_gw_files_t *f, st_msg_t *msg);
void st_gw__files_free(st_gw_files_t *f);

/* ---- shared between the file sources ---- */

/* Who a request acts for. */
typedef struct st_gw__who {
  uint8_t owner[ST_ADDR_LEN];
  st_reqauth_t auth;        /* the signature the meta chain checks */
  bool token;               /* the node's own wallet, by API token */
} st_gw__who_t;

/* Checks the request's Authorization for METHOD PATH with a body of
 * length bytes: 0 and *who, or an HTTP status (401) with msg. */
int st_gw__authorize(st_gw_files_t *f, h2o_req_t *req, const char *method, const char *path,
                     uint64_t length, st_gw__who_t *who, char *msg, size_t cap);
/* The node's wallet key (NULL when the home has none). */
const st_keypair_t *st_gw__wallet(st_gw_files_t *f);

/* Answers an error in the gateway's JSON form and logs it at debug. */
void st_gw__fail(h2o_req_t *req, int status, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

/* Waits for a submitted meta tx: calls done(ud, code, log) once the meta
 * chain applied it (0), refused it, or after timeout_ms (ST_ETIMEDOUT). */
typedef void (*st_gw__txwait_fn)(void *ud, int code, const char *log);
void st_gw__txwait(st_gw_files_t *f, const uint8_t txid[ST_HASH_LEN], uint64_t timeout_ms,
                   st_gw__txwait_fn done, void *ud);
/* Forgets every wait whose ud is ud (its owner is going away). */
void st_gw__txwait_cancel(st_gw_files_t *f, void *ud);

/* Sends a frame to a holder on ST_CH_RESOURCE. */
int st_gw__to_holder(st_gw_files_t *f, const uint8_t holder[ST_ADDR_LEN], uint32_t type,
                     const void *head, size_t hlen, const void *body, size_t blen);
/* A fresh id for transfers and block requests. */
uint64_t st_gw__next_id(st_gw_files_t *f);

st_node_t *st_gw__node(st_gw_files_t *f);

/* ---- uploads (upload.c) ---- */
typedef struct st_gw__uploads st_gw__uploads_t;
int st_gw__upload_handler(h2o_req_t *req, const st_http_match_t *m, void *ud);
/* SliceAck from a holder. */
void st_gw__upload_on_ack(st_gw_files_t *f, const uint8_t peer[ST_ADDR_LEN], const uint8_t *p,
                          size_t n);
void st_gw__upload_on_peer(st_gw_files_t *f, const uint8_t peer[ST_ADDR_LEN], bool up);
void st_gw__uploads_free(st_gw_files_t *f);

/* ---- downloads (download.c) ---- */
int st_gw__download_handler(h2o_req_t *req, const st_http_match_t *m, void *ud);
int st_gw__share_get_handler(h2o_req_t *req, const st_http_match_t *m, void *ud);
/* A block (ST_RES_BLOCK) from a holder. */
void st_gw__download_on_block(st_gw_files_t *f, const uint8_t peer[ST_ADDR_LEN],
                              const uint8_t *p, size_t n);
void st_gw__downloads_free(st_gw_files_t *f);

/* Per-module state the sources share. */
struct st_gw__uploads;
struct st_gw__fetch;
struct st_gw_files {
  st_node_t *node;
  st_http_t *http;
  char token[65];
  bool has_wallet;
  st_keypair_t wallet;
  uint64_t next_id;
  struct st_gw__waits *waits;
  uv_timer_t *wait_timer;
  struct st_gw__uploads *up;
  struct st_gw__fetch *fetch;
  st_metric_t *m_bad_blocks, *m_block_timeouts, *m_upload_bytes, *m_download_bytes;
  uint64_t last_sign_ms; /* the time of the last request signed for the token */
};

#endif
