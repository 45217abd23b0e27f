/* Error codes shared by every module. Functions return 0 or a negative
 * ST_E* code; results come back through a trailing pointer argument. */
#ifndef STRATOS_ST_ERR_H
#define STRATOS_ST_ERR_H

enum {
  ST_OK = 0,
  ST_EINVAL = -1,      /* invalid argument or malformed input */
  ST_ENOMEM = -2,      /* out of memory */
  ST_E2BIG = -3,       /* input larger than its cap */
  ST_ENOENT = -4,      /* not found */
  ST_EEXIST = -5,      /* already exists */
  ST_EIO = -6,         /* I/O error */
  ST_ELOCKED = -7,     /* resource locked by another process */
  ST_EFULL = -8,       /* queue or pool full */
  ST_EAGAIN = -9,      /* try again later */
  ST_EBADSIG = -10,    /* signature does not verify */
  ST_EPARSE = -11,     /* cannot parse */
  ST_ERANGE = -12,     /* value out of range */
  ST_EPERM = -13,      /* not permitted */
  ST_ECLOSED = -14,    /* closed or shutting down */
  ST_ETIMEDOUT = -15,  /* timed out */
  ST_ENOTSUP = -16,    /* not supported */
  ST_ESTORE = -17,     /* storage engine error */
  ST_EMAPFULL = -18,   /* storage map is full */
  ST_ECONFIG = -19,    /* bad configuration */
  ST_EADDRINUSE = -20, /* address already in use */
  ST_EBADPROOF = -21,  /* proof or checksum does not verify */
  ST_ECORRUPT = -22,   /* stored data is corrupt */
  ST_EPROTO = -23,     /* protocol violation */
  ST_ESYS = -24,       /* other operating-system error */
  ST_ERR_MIN_ = -25
};

/* Returns a static English sentence for any code (never NULL). */
const char *st_strerror(int err);

/* Returns the symbolic name of a code, e.g. "ST_EINVAL" (never NULL). */
const char *st_errname(int err);

/* Maps a positive errno or a negative libuv code to an ST_E* code. */
int st_err_from_errno(int e);

#endif
