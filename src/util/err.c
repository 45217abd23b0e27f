/* Error codes: names and sentences for every ST_E* code, and the one place
 * where operating-system and libuv error numbers become ST_E* codes.
 *
 * The tables are indexed by the negated code so that a lookup is a bounds
 * check and an array read. libuv codes are mapped through their own table
 * (with the UV_E* names from <uv.h>) rather than by assuming that they are
 * negated errno values, which holds on Unix but is not part of libuv's
 * contract. */
#include <errno.h>
#include <stddef.h>

#include <uv.h>

#include "stratos/st_err.h"

struct err_desc {
  const char *name;
  const char *text;
};

/* Indexed by -code. */
static const struct err_desc err_table[] = {
  {"ST_OK", "Success."},
  {"ST_EINVAL", "Invalid argument or malformed input."},
  {"ST_ENOMEM", "Out of memory."},
  {"ST_E2BIG", "Input is larger than its limit."},
  {"ST_ENOENT", "Not found."},
  {"ST_EEXIST", "Already exists."},
  {"ST_EIO", "Input/output error."},
  {"ST_ELOCKED", "Resource is locked by another process."},
  {"ST_EFULL", "Queue or pool is full."},
  {"ST_EAGAIN", "Temporarily unavailable, try again later."},
  {"ST_EBADSIG", "Signature does not verify."},
  {"ST_EPARSE", "Cannot parse input."},
  {"ST_ERANGE", "Value out of range."},
  {"ST_EPERM", "Operation not permitted."},
  {"ST_ECLOSED", "Closed or shutting down."},
  {"ST_ETIMEDOUT", "Timed out."},
  {"ST_ENOTSUP", "Not supported."},
  {"ST_ESTORE", "Storage engine error."},
  {"ST_EMAPFULL", "Storage map is full."},
  {"ST_ECONFIG", "Bad configuration."},
  {"ST_EADDRINUSE", "Address already in use."},
  {"ST_EBADPROOF", "Proof or checksum does not verify."},
  {"ST_ECORRUPT", "Stored data is corrupt."},
  {"ST_EPROTO", "Protocol violation."},
  {"ST_ESYS", "Operating-system error."},
};

_Static_assert(sizeof(err_table) / sizeof(err_table[0]) == (size_t)-ST_ERR_MIN_,
               "err_table must name every ST_E* code");

static const struct err_desc *err_lookup(int err) {
  if (err > 0 || err <= ST_ERR_MIN_)
    return NULL;
  return &err_table[-err];
}

const char *st_strerror(int err) {
  const struct err_desc *d = err_lookup(err);
  return d ? d->text : "Unknown error code.";
}

const char *st_errname(int err) {
  const struct err_desc *d = err_lookup(err);
  return d ? d->name : "ST_E?";
}

struct err_map {
  int from;
  int to;
};

/* Positive errno values. Some names share a value on Linux (EAGAIN and
 * EWOULDBLOCK, ENOTSUP and EOPNOTSUPP); a linear table tolerates that where
 * a switch would not compile. */
static const struct err_map errno_map[] = {
  {EINVAL, ST_EINVAL},       {EBADF, ST_EINVAL},
  {EFAULT, ST_EINVAL},       {ENAMETOOLONG, ST_EINVAL},
  {ENOTDIR, ST_EINVAL},      {EISDIR, ST_EINVAL},
  {ELOOP, ST_EINVAL},        {ENOMEM, ST_ENOMEM},
  {E2BIG, ST_E2BIG},         {EFBIG, ST_E2BIG},
  {EMSGSIZE, ST_E2BIG},      {ENOENT, ST_ENOENT},
  {ENXIO, ST_ENOENT},        {ESRCH, ST_ENOENT},
  {EEXIST, ST_EEXIST},       {ENOTEMPTY, ST_EEXIST},
  {EIO, ST_EIO},             {ENOSPC, ST_EIO},
  {EDQUOT, ST_EIO},          {EROFS, ST_EIO},
  {EBUSY, ST_ELOCKED},       {EDEADLK, ST_ELOCKED},
  {EMFILE, ST_EFULL},        {ENFILE, ST_EFULL},
  {ENOBUFS, ST_EFULL},       {EAGAIN, ST_EAGAIN},
  {EWOULDBLOCK, ST_EAGAIN},  {EINTR, ST_EAGAIN},
  {EINPROGRESS, ST_EAGAIN},  {EALREADY, ST_EAGAIN},
  {ERANGE, ST_ERANGE},       {EOVERFLOW, ST_ERANGE},
  {EDOM, ST_ERANGE},         {EPERM, ST_EPERM},
  {EACCES, ST_EPERM},        {EPIPE, ST_ECLOSED},
  {ECONNRESET, ST_ECLOSED},  {ECONNABORTED, ST_ECLOSED},
  {ECONNREFUSED, ST_ECLOSED}, {ENOTCONN, ST_ECLOSED},
  {ESHUTDOWN, ST_ECLOSED},   {ECANCELED, ST_ECLOSED},
  {ETIMEDOUT, ST_ETIMEDOUT}, {ENOTSUP, ST_ENOTSUP},
  {EOPNOTSUPP, ST_ENOTSUP},  {ENOSYS, ST_ENOTSUP},
  {EAFNOSUPPORT, ST_ENOTSUP}, {EPROTONOSUPPORT, ST_ENOTSUP},
  {EADDRINUSE, ST_EADDRINUSE}, {EADDRNOTAVAIL, ST_EINVAL},
  {EPROTO, ST_EPROTO},       {EBADMSG, ST_EPROTO},
  {EILSEQ, ST_EPARSE},
};

/* Negative libuv codes, named by <uv.h>. */
static const struct err_map uv_map[] = {
  {UV_EINVAL, ST_EINVAL},        {UV_EBADF, ST_EINVAL},
  {UV_EFAULT, ST_EINVAL},        {UV_ENAMETOOLONG, ST_EINVAL},
  {UV_ENOTDIR, ST_EINVAL},       {UV_EISDIR, ST_EINVAL},
  {UV_ELOOP, ST_EINVAL},         {UV_ENOMEM, ST_ENOMEM},
  {UV_E2BIG, ST_E2BIG},          {UV_EFBIG, ST_E2BIG},
  {UV_EMSGSIZE, ST_E2BIG},       {UV_ENOENT, ST_ENOENT},
  {UV_ENXIO, ST_ENOENT},         {UV_ESRCH, ST_ENOENT},
  {UV_EAI_NONAME, ST_ENOENT},    {UV_EEXIST, ST_EEXIST},
  {UV_ENOTEMPTY, ST_EEXIST},     {UV_EIO, ST_EIO},
  {UV_ENOSPC, ST_EIO},           {UV_EROFS, ST_EIO},
  {UV_EBUSY, ST_ELOCKED},        {UV_EMFILE, ST_EFULL},
  {UV_ENFILE, ST_EFULL},         {UV_ENOBUFS, ST_EFULL},
  {UV_EAGAIN, ST_EAGAIN},        {UV_EINTR, ST_EAGAIN},
  {UV_EALREADY, ST_EAGAIN},      {UV_EAI_AGAIN, ST_EAGAIN},
  {UV_ERANGE, ST_ERANGE},        {UV_EPERM, ST_EPERM},
  {UV_EACCES, ST_EPERM},         {UV_EPIPE, ST_ECLOSED},
  {UV_ECONNRESET, ST_ECLOSED},   {UV_ECONNABORTED, ST_ECLOSED},
  {UV_ECONNREFUSED, ST_ECLOSED}, {UV_ENOTCONN, ST_ECLOSED},
  {UV_ESHUTDOWN, ST_ECLOSED},    {UV_ECANCELED, ST_ECLOSED},
  {UV_EOF, ST_ECLOSED},          {UV_ETIMEDOUT, ST_ETIMEDOUT},
  {UV_ENOTSUP, ST_ENOTSUP},      {UV_ENOSYS, ST_ENOTSUP},
  {UV_EAFNOSUPPORT, ST_ENOTSUP}, {UV_EPROTONOSUPPORT, ST_ENOTSUP},
  {UV_EAI_FAMILY, ST_ENOTSUP},   {UV_EADDRINUSE, ST_EADDRINUSE},
  {UV_EADDRNOTAVAIL, ST_EINVAL}, {UV_EPROTO, ST_EPROTO},
  {UV_EILSEQ, ST_EPARSE},
};

static int err_map_find(const struct err_map *m, size_t n, int e) {
  for (size_t i = 0; i < n; i++) {
    if (m[i].from == e)
      return m[i].to;
  }
  return ST_ESYS;
}

int st_err_from_errno(int e) {
  if (e == 0)
    return ST_OK;
  if (e > 0)
    return err_map_find(errno_map, sizeof(errno_map) / sizeof(errno_map[0]), e);
  return err_map_find(uv_map, sizeof(uv_map) / sizeof(uv_map[0]), e);
}
