/* Inside the net module only: the wire codec (frame.c), the handshake
 * messages (handshake.c), one connection (conn.c) and the module state
 * they share with net.c. */
#ifndef STRATOS_NET_NET_PRIVATE_H
#define STRATOS_NET_NET_PRIVATE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <stratos/st_config.h>
#include <stratos/st_crypto.h>
#include <stratos/st_metrics.h>
#include <stratos/st_net.h>
#include <stratos/st_node.h>
#include "p2p.pb-c.h"

/* ---- limits and protocol constants ---- */

#define ST_NET__MAGIC "STN1"
#define ST_NET__MAGIC_LEN 4
#define ST_NET__EPH_LEN 32
#define ST_NET__HELLO_LEN (ST_NET__MAGIC_LEN + ST_NET__EPH_LEN)
#define ST_NET__KEY_LEN 32
#define ST_NET__TAG_LEN 16 /* crypto_aead_xchacha20poly1305_ietf_ABYTES */
#define ST_NET__NONCE_LEN 24
#define ST_NET__HDR_LEN 4

/* What an Envelope adds around its payload: three tags and three varints
 * of at most five bytes each, with room to spare. */
#define ST_NET__ENV_OVERHEAD 32
/* Largest ciphertext (the value of the length prefix) once a peer is
 * authenticated, and while the handshake runs. */
#define ST_NET__MAX_CT (ST_NET_MAX_PAYLOAD + ST_NET__ENV_OVERHEAD + ST_NET__TAG_LEN)
#define ST_NET__HS_MAX_CT 4096

/* Fields of NodeInfo and of peer addresses. */
#define ST_NET__ADDR_MAX 128    /* "node_id@host:port", also listen_addr */
#define ST_NET__HOST_MAX 96
#define ST_NET__INFO_STR_MAX 64 /* moniker, version */
#define ST_NET__PEX_MAX 64      /* addresses in one PexAddrs */

/* Envelope.type values on the internal channels. */
#define ST_NET__HS_AUTH 1
#define ST_NET__PEX_REQUEST 1
#define ST_NET__PEX_ADDRS 2

#define ST_NET__HS_TIMEOUT_MS 5000
#define ST_NET__BAN_SECONDS 60
#define ST_NET__BAN_MAX_SECONDS 86400
#define ST_NET__BANS_MAX 256
#define ST_NET__BOOK_MAX 256
#define ST_NET__SENDQ_MAX (16u << 20)
#define ST_NET__BACKOFF_MIN_MS 250
#define ST_NET__BACKOFF_MAX_MS 30000
#define ST_NET__LEARNED_MAX_FAILS 8
#define ST_NET__PEX_INTERVAL_MS 30000
#define ST_NET__PEX_ANSWER_MS 10000
#define ST_NET__TICK_MS 1000

/* ---- frame codec (frame.c): pure functions, no I/O ---- */

/* Events of the receive decoder. */
enum {
  ST_NET__EV_NONE = 0,  /* every byte consumed, nothing complete yet */
  ST_NET__EV_HELLO = 1, /* out: the peer's 32-byte ephemeral key */
  ST_NET__EV_FRAME = 2, /* out, outlen: one decrypted plaintext */
};

/* The receive side of a connection: the 36-byte hello, then frames of a
 * 4-byte big-endian length and that many bytes of ciphertext. The body
 * buffer grows with the bytes that really arrive and never past the
 * announced length, which is checked against max_ct first. Errors are
 * sticky: once a feed fails, every later feed returns the same code. */
typedef struct st_net__dec {
  int state;
  int err;
  uint8_t hello[ST_NET__HELLO_LEN];
  size_t hello_got;
  uint8_t hdr[ST_NET__HDR_LEN];
  size_t hdr_got;
  uint8_t *buf;
  size_t buf_cap;
  size_t need; /* ciphertext length of the current frame */
  size_t got;
  size_t max_ct;
  int release; /* free buf on the next feed (it was large) */
  uint8_t key[ST_NET__KEY_LEN];
  uint64_t ctr;
} st_net__dec_t;

void st_net__dec_init(st_net__dec_t *d, size_t max_ct);
/* Frees the body buffer and wipes the key. */
void st_net__dec_free(st_net__dec_t *d);
/* Installs the receive key; valid once the hello event was returned. */
int st_net__dec_set_key(st_net__dec_t *d, const uint8_t key[ST_NET__KEY_LEN]);
/* Changes the largest ciphertext accepted from the next frame on. */
void st_net__dec_set_max(st_net__dec_t *d, size_t max_ct);

/* Consumes bytes of in[0..len) up to and including the next event and
 * stores the count in *used. Returns an ST_NET__EV_* value (>= 0) or a
 * negative code: ST_EPROTO for a bad magic or a length below the tag
 * size, ST_E2BIG for a length over max_ct, ST_EBADPROOF for a frame that
 * does not authenticate, ST_ERANGE when the counter is exhausted,
 * ST_ENOMEM, or ST_EINVAL for bytes fed before the key is set. *out
 * (and *outlen) are borrowed until the next call. */
int st_net__dec_feed(st_net__dec_t *d, const uint8_t *in, size_t len, size_t *used,
                     const uint8_t **out, size_t *outlen);

/* Writes the plaintext hello: magic then eph_pk. */
void st_net__hello_encode(const uint8_t eph_pk[ST_NET__EPH_LEN],
                          uint8_t out[ST_NET__HELLO_LEN]);

/* Bytes on the wire for a plaintext of ptlen bytes. */
static inline size_t st_net__sealed_len(size_t ptlen) {
  return ST_NET__HDR_LEN + ptlen + ST_NET__TAG_LEN;
}

/* Encrypts pt into out (st_net__sealed_len(ptlen) bytes) under key and
 * the counter *ctr, then advances it. ST_E2BIG if the frame would pass
 * ST_NET__MAX_CT, ST_ERANGE if the counter is exhausted. */
int st_net__seal(const uint8_t key[ST_NET__KEY_LEN], uint64_t *ctr, const uint8_t *pt,
                 size_t ptlen, uint8_t *out);

/* Packs an Envelope into a new buffer (caller frees). ST_E2BIG when len
 * passes ST_NET_MAX_PAYLOAD. */
int st_net__env_pack(uint32_t channel, uint32_t type, const void *data, size_t len,
                     uint8_t **out, size_t *outlen);
/* Unpacks an Envelope; ST_EPARSE when it is not one, ST_EPROTO for a
 * channel outside 1..ST_CH_MAX. Caller frees with
 * stratos__p2p__envelope__free_unpacked. */
int st_net__env_unpack(const uint8_t *pt, size_t len, Stratos__P2p__Envelope **out);

/* A peer address "stsds1...@host:port". host is a name or an IPv4
 * address, or an IPv6 address in brackets (stored without them). */
typedef struct st_net__paddr {
  uint8_t id[ST_ADDR_LEN];
  char host[ST_NET__HOST_MAX];
  uint16_t port;
} st_net__paddr_t;

/* Parses len bytes of s (no NUL needed). Port 0 is refused. */
int st_net__parse_peer(const char *s, size_t len, st_net__paddr_t *out);
/* Parses "host:port" (the listen_addr of NodeInfo; port 0 refused). */
int st_net__parse_hostport(const char *s, size_t len, char host[ST_NET__HOST_MAX],
                           uint16_t *port);
/* Writes "stsds1...@host:port" (brackets around an IPv6 host). */
int st_net__format_peer(const uint8_t id[ST_ADDR_LEN], const char *host, uint16_t port,
                        char *out, size_t outcap);

/* Checks a PexAddrs payload: ST_EPARSE if it does not unpack, ST_E2BIG
 * for more than ST_NET__PEX_MAX addresses or one longer than
 * ST_NET__ADDR_MAX. On success the caller frees *out with
 * stratos__p2p__pex_addrs__free_unpacked. */
int st_net__pex_decode(const uint8_t *data, size_t len, Stratos__P2p__PexAddrs **out);

/* ---- handshake (handshake.c) ---- */

/* What a peer says of itself, checked. */
typedef struct st_net__info {
  uint8_t pubkey[ST_PUBKEY_LEN];
  uint8_t id[ST_ADDR_LEN];
  char chain_id[ST_CHAIN_ID_MAX + 1];
  char moniker[ST_NET__INFO_STR_MAX + 1];
  char version[ST_NET__INFO_STR_MAX + 1];
  uint32_t roles;
  char listen_addr[ST_NET__ADDR_MAX + 1];
} st_net__info_t;

/* Derives the per-direction keys from the two ephemeral keys (the dialer
 * is the key-exchange client) and the transcript
 * H(ST_DOM_HANDSHAKE, dialer_eph || acceptor_eph). ST_EPROTO when the
 * peer's key is unusable. */
int st_net__session_keys(int dialer, const uint8_t my_pk[ST_NET__EPH_LEN],
                         const uint8_t my_sk[ST_NET__EPH_LEN],
                         const uint8_t peer_pk[ST_NET__EPH_LEN], uint8_t rx[ST_NET__KEY_LEN],
                         uint8_t tx[ST_NET__KEY_LEN], uint8_t transcript[ST_HASH_LEN]);

/* Builds the packed Envelope{HANDSHAKE, AUTH, Auth} of our side (caller
 * frees *out). info->pubkey must be kp's. */
int st_net__auth_build(const st_keypair_t *kp, const char *chain_id,
                       const uint8_t transcript[ST_HASH_LEN], const st_net__info_t *info,
                       uint8_t **out, size_t *outlen);

/* Checks the peer's first frame (a packed Envelope) against our chain id
 * and the transcript, and fills *out. Returns 0; ST_EPARSE for anything
 * malformed (out->id is then zero); ST_EBADSIG when the signature does not
 * verify (out->id holds the claimed, unproven identity); ST_EPERM when the
 * peer proved its key but is on another chain (out is filled). */
int st_net__auth_check(const uint8_t *pt, size_t len, const char *chain_id,
                       const uint8_t transcript[ST_HASH_LEN], st_net__info_t *out);

/* ---- connections (conn.c) and the module (net.c) ---- */

typedef struct st_net__state st_net__state_t;
typedef struct st_net__conn st_net__conn_t;

enum {
  ST_NET__BOOK_PERSISTENT = 1u << 0,
  ST_NET__BOOK_SEED = 1u << 1,
  ST_NET__BOOK_LEARNED = 1u << 2,
  ST_NET__BOOK_SELF = 1u << 3, /* dialing it reached ourselves */
};

/* An address we may dial. */
typedef struct st_net__book {
  struct st_net__book *next;
  st_net__paddr_t a;
  unsigned flags;
  unsigned failures;      /* consecutive failed dials */
  uint64_t next_dial_ms;  /* loop time */
  st_net__conn_t *conn;   /* our outbound attempt through it, if any */
} st_net__book_t;

enum {
  ST_NET__C_RESOLVE = 0, /* waiting for the name lookup */
  ST_NET__C_CONNECT,     /* TCP connect in progress */
  ST_NET__C_HELLO,       /* hello sent, waiting for the peer's */
  ST_NET__C_AUTH,        /* keys set, Auth sent, waiting for the peer's */
  ST_NET__C_UP,          /* authenticated */
  ST_NET__C_CLOSED,      /* closing; handles go away */
};

struct st_net__conn {
  uv_tcp_t tcp;
  uv_timer_t timer; /* handshake deadline */
  uv_connect_t connect;
  uv_getaddrinfo_t gai;
  st_net__state_t *net;
  st_net__conn_t *prev, *next;
  st_net__book_t *book; /* outbound only; NULL once the entry goes */
  int outbound;
  int state;
  int refs;        /* open handles and pending requests */
  int gai_pending;
  int announced;   /* a peer-up event went out */
  uint16_t port;   /* dialed port */
  char remote_ip[ST_NET__HOST_MAX];
  uint8_t eph_pk[ST_NET__EPH_LEN], eph_sk[ST_NET__EPH_LEN];
  uint8_t tx_key[ST_NET__KEY_LEN];
  uint64_t tx_ctr;
  uint8_t transcript[ST_HASH_LEN];
  st_net__dec_t dec;
  st_net__info_t info; /* the peer, once UP */
  uint64_t up_ms;
  size_t q_cap;        /* cap of libuv's write queue for this peer */
  uint64_t bytes_sent, bytes_recv;
  uint64_t dropped;     /* frames not sent: queue over its cap */
  int pex_asked;         /* we sent a PexRequest and wait for the answer */
  uint64_t pex_answered_ms;
  int pex_answered_any;
};

typedef struct st_net__ban {
  uint8_t id[ST_ADDR_LEN];
  char ip[ST_NET__HOST_MAX]; /* "" bans the node id from any address */
  uint64_t until_ms;
} st_net__ban_t;

/* Counters kept beside the metrics, for net_info and tests. */
typedef struct st_net__stats {
  uint64_t bytes_sent, bytes_recv;
  uint64_t frames_refused;
  uint64_t send_dropped;
  uint64_t deliver_dropped;
  uint64_t bans;
  uint64_t handshakes_failed;
} st_net__stats_t;

struct st_net__state {
  st_node_t *node;
  uv_loop_t *loop;
  uv_tcp_t listener;
  uv_timer_t tick;
  uv_timer_t dial_timer;
  int listener_open, listening;
  int started, stopping;
  int live; /* handles and connections not yet released */
  char chain_id[ST_CHAIN_ID_MAX + 1];
  uint8_t self_id[ST_ADDR_LEN];
  char listen_host[ST_HOST_MAX];
  uint16_t listen_port;
  char listen_addr[ST_NET__ADDR_MAX + 1];
  st_net__conn_t *conns;
  unsigned n_out;    /* outbound connections in any state */
  unsigned n_in_hs;  /* inbound connections still in the handshake */
  unsigned n_in_up;
  unsigned n_up;
  st_net__book_t *book;
  unsigned n_book;
  st_net__ban_t bans[ST_NET__BANS_MAX];
  uint32_t subs[ST_CH_MAX + 1]; /* bit per st_mod_id */
  uint32_t sub_any;
  size_t sendq_cap;
  unsigned hs_timeout_ms;
  uint64_t last_pex_ms;
  st_net__stats_t st;
  uint8_t rbuf[64u << 10]; /* the read buffer of every connection */
  st_metric_t *m_peers, *m_sent, *m_recv, *m_refused, *m_dropped, *m_deliver_dropped,
    *m_bans;
};

/* conn.c */
st_net__conn_t *st_net__conn_new(st_net__state_t *net, int outbound);
/* Starts the handshake on a connected socket. */
void st_net__conn_start(st_net__conn_t *c);
/* Resolves and connects to book's address. */
void st_net__conn_dial(st_net__conn_t *c, st_net__book_t *b);
/* Seals and queues one packed Envelope. ST_EFULL (and a counted drop)
 * when the peer's send queue is over its cap. */
int st_net__conn_send(st_net__conn_t *c, const uint8_t *pt, size_t len);
/* Closes the connection (idempotent); memory goes in the close
 * callbacks. err says why (0 for a normal close). */
void st_net__conn_close(st_net__conn_t *c, int err, const char *why);
/* A peer broke the protocol: counts it, bans whom it can (see net.md)
 * and closes. */
void st_net__conn_fault(st_net__conn_t *c, int err, const char *why);
void st_net__conn_id_str(const st_net__conn_t *c, char *out, size_t outcap);

/* net.c, called by conn.c */
uint64_t st_net__now(const st_net__state_t *net);
/* The peer passed authentication; returns 0 to keep the connection (it
 * is UP then) or closes it and returns an ST_E* code. */
int st_net__peer_ready(st_net__state_t *net, st_net__conn_t *c);
/* One Envelope from an UP peer. */
void st_net__peer_frame(st_net__state_t *net, st_net__conn_t *c,
                        const Stratos__P2p__Envelope *env);
/* The connection is closing: unlink it, tell the modules, plan redials. */
void st_net__conn_gone(st_net__state_t *net, st_net__conn_t *c, int err);
/* A connection's memory was released. */
void st_net__conn_released(st_net__state_t *net);
/* Bans id (from ip only, when ip is not NULL) and closes its connections. */
void st_net__ban_peer(st_net__state_t *net, const uint8_t id[ST_ADDR_LEN], const char *ip,
                      uint32_t seconds, const char *reason);
int st_net__is_banned(st_net__state_t *net, const uint8_t id[ST_ADDR_LEN], const char *ip);
void st_net__count_bytes(st_net__state_t *net, size_t sent, size_t recv);
void st_net__count_refused(st_net__state_t *net);

/* For tests: the listening port, the counters, the number of UP peers,
 * and the send queue cap and handshake deadline of new connections. */
uint16_t st_net__port(const st_net__state_t *net);
void st_net__get_stats(const st_net__state_t *net, st_net__stats_t *out);
unsigned st_net__peer_count(const st_net__state_t *net);
int st_net__has_peer(const st_net__state_t *net, const uint8_t id[ST_ADDR_LEN]);
void st_net__set_sendq_cap(st_net__state_t *net, size_t cap);
void st_net__set_hs_timeout(st_net__state_t *net, unsigned ms);

#endif
