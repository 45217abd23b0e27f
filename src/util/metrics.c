/* Metrics in the Prometheus text exposition format, version 0.0.4.
 *
 * A registry holds families (one name, help text and type each) and each
 * family holds its series, one per label set, in the order they were first
 * asked for, which is also the order they are rendered in. Series are found
 * by a linear search: modules ask for a series once, at start, and keep the
 * pointer, so lookups are rare and the lists short. Everything runs on the
 * loop thread, so nothing is locked.
 *
 * Values are doubles, as in Prometheus. They are printed in the shortest
 * form that reads back to the same double, and whole numbers below 2^53
 * without a fraction or an exponent, so counters look like counters. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stratos/st_bytes.h>
#include <stratos/st_err.h>
#include <stratos/st_metrics.h>

typedef enum metric_kind {
  KIND_COUNTER,
  KIND_GAUGE,
  KIND_GAUGE_FN,
  KIND_HISTOGRAM,
} metric_kind;

typedef enum family_type {
  TYPE_COUNTER,
  TYPE_GAUGE,
  TYPE_HISTOGRAM,
} family_type;

typedef struct family family_t;

struct st_metric {
  family_t *fam;
  metric_kind kind;
  char *labels;
  double value;           /* counters and gauges */
  double (*fn)(void *ud); /* KIND_GAUGE_FN */
  void *ud;
  double *bounds;   /* KIND_HISTOGRAM: nbounds finite upper bounds */
  size_t nbounds;
  uint64_t *counts; /* nbounds + 1 buckets, the last one +Inf, not cumulative */
  uint64_t count;
  double sum;
  st_metric_t *next;
};

struct family {
  char *name;
  char *help;
  family_type type;
  st_metric_t *first;
  st_metric_t *last;
  family_t *next;
};

struct st_metrics {
  family_t *first;
  family_t *last;
};

static void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);

  if (!p) {
    fputs("stratosd: out of memory in metrics\n", stderr);
    abort();
  }
  return p;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;

  return memcpy(xmalloc(n), s, n);
}

int st_metrics_new(st_metrics_t **out) {
  if (!out)
    return ST_EINVAL;
  *out = xmalloc(sizeof(**out));
  return 0;
}

void st_metrics_free(st_metrics_t *m) {
  family_t *f, *fnext;
  st_metric_t *s, *snext;

  if (!m)
    return;
  for (f = m->first; f; f = fnext) {
    fnext = f->next;
    for (s = f->first; s; s = snext) {
      snext = s->next;
      free(s->labels);
      free(s->bounds);
      free(s->counts);
      free(s);
    }
    free(f->name);
    free(f->help);
    free(f);
  }
  free(m);
}

/* ---- validation ---- */

static bool is_alpha_(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool valid_name(const char *s) {
  if (!s || !(is_alpha_(*s) || *s == ':'))
    return false;
  for (s++; *s; s++)
    if (!(is_alpha_(*s) || is_digit(*s) || *s == ':'))
      return false;
  return true;
}

/* A rendered label list: name="value" pairs joined by commas, names
 * [a-zA-Z_][a-zA-Z0-9_]*, values with only \\, \" and \n escapes and no
 * raw newline. Histograms reserve the label le for their buckets. */
static bool valid_labels(const char *s, bool histogram) {
  const char *name;

  if (!*s)
    return true;
  for (;;) {
    name = s;
    if (!is_alpha_(*s))
      return false;
    while (is_alpha_(*s) || is_digit(*s))
      s++;
    if (histogram && s - name == 2 && name[0] == 'l' && name[1] == 'e')
      return false;
    if (*s++ != '=' || *s++ != '"')
      return false;
    while (*s != '"') {
      if (*s == '\0' || *s == '\n')
        return false;
      if (*s == '\\') {
        s++;
        if (*s != '\\' && *s != '"' && *s != 'n')
          return false;
      }
      s++;
    }
    s++;
    if (*s == '\0')
      return true;
    if (*s++ != ',')
      return false;
  }
}

static bool valid_bounds(const double *b, size_t n) {
  if (n > 0 && !b)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(b[i]))
      return false;
    if (i > 0 && !(b[i] > b[i - 1]))
      return false;
  }
  return true;
}

/* ---- registry ---- */

static family_type kind_type(metric_kind k) {
  switch (k) {
  case KIND_COUNTER:
    return TYPE_COUNTER;
  case KIND_GAUGE:
  case KIND_GAUGE_FN:
    return TYPE_GAUGE;
  case KIND_HISTOGRAM:
  default:
    return TYPE_HISTOGRAM;
  }
}

/* Finds or creates the series; NULL on a bad name or labels, or when the
 * name or the series already exists with another type. A found series is
 * returned as it is: the first request fixed its kind, function and
 * buckets, and a histogram asked for with other buckets is a clash. */
static st_metric_t *get_series(st_metrics_t *m, metric_kind kind,
                               const char *name, const char *help,
                               const char *labels, const double *bounds,
                               size_t nbounds) {
  family_t *f;
  st_metric_t *s;

  if (!m || !valid_name(name))
    return NULL;
  if (!labels)
    labels = "";
  if (!valid_labels(labels, kind == KIND_HISTOGRAM))
    return NULL;

  for (f = m->first; f; f = f->next)
    if (strcmp(f->name, name) == 0)
      break;
  if (f && f->type != kind_type(kind))
    return NULL;
  if (f) {
    for (s = f->first; s; s = s->next) {
      if (strcmp(s->labels, labels) != 0)
        continue;
      if (s->kind != kind)
        return NULL;
      if (kind == KIND_HISTOGRAM &&
          (s->nbounds != nbounds ||
           (nbounds && memcmp(s->bounds, bounds, nbounds * sizeof(*bounds)))))
        return NULL;
      return s;
    }
  } else {
    f = xmalloc(sizeof(*f));
    f->name = xstrdup(name);
    f->help = xstrdup(help ? help : "");
    f->type = kind_type(kind);
    if (m->last)
      m->last->next = f;
    else
      m->first = f;
    m->last = f;
  }

  s = xmalloc(sizeof(*s));
  s->fam = f;
  s->kind = kind;
  s->labels = xstrdup(labels);
  if (kind == KIND_HISTOGRAM) {
    s->nbounds = nbounds;
    s->bounds = xmalloc(nbounds * sizeof(*bounds));
    if (nbounds)
      memcpy(s->bounds, bounds, nbounds * sizeof(*bounds));
    s->counts = xmalloc((nbounds + 1) * sizeof(*s->counts));
  }
  if (f->last)
    f->last->next = s;
  else
    f->first = s;
  f->last = s;
  return s;
}

st_metric_t *st_metrics_counter(st_metrics_t *m, const char *name,
                                const char *help, const char *labels) {
  return get_series(m, KIND_COUNTER, name, help, labels, NULL, 0);
}

st_metric_t *st_metrics_gauge(st_metrics_t *m, const char *name,
                              const char *help, const char *labels) {
  return get_series(m, KIND_GAUGE, name, help, labels, NULL, 0);
}

st_metric_t *st_metrics_histogram(st_metrics_t *m, const char *name,
                                  const char *help, const char *labels,
                                  const double *bounds, size_t nbounds) {
  if (!valid_bounds(bounds, nbounds))
    return NULL;
  return get_series(m, KIND_HISTOGRAM, name, help, labels, bounds, nbounds);
}

st_metric_t *st_metrics_gauge_fn(st_metrics_t *m, const char *name,
                                 const char *help, const char *labels,
                                 double (*fn)(void *ud), void *ud) {
  st_metric_t *s;

  if (!fn)
    return NULL;
  s = get_series(m, KIND_GAUGE_FN, name, help, labels, NULL, 0);
  if (s && !s->fn) {
    s->fn = fn;
    s->ud = ud;
  }
  return s;
}

/* ---- updates ---- */

/* Counters only go up: negative or NaN increments are ignored. Calls on a
 * series of the wrong kind (or NULL) do nothing, so that a failed lookup
 * cannot crash the code that updates it. */
void st_metric_add(st_metric_t *c, double v) {
  if (!c)
    return;
  if (c->kind == KIND_COUNTER) {
    if (v >= 0)
      c->value += v;
  } else if (c->kind == KIND_GAUGE) {
    c->value += v;
  }
}

void st_metric_inc(st_metric_t *c) {
  st_metric_add(c, 1);
}

void st_metric_set(st_metric_t *g, double v) {
  if (g && g->kind == KIND_GAUGE)
    g->value = v;
}

/* A value lands in the first bucket whose bound is >= v; NaN is ignored. */
void st_metric_observe(st_metric_t *h, double v) {
  size_t i;

  if (!h || h->kind != KIND_HISTOGRAM || isnan(v))
    return;
  for (i = 0; i < h->nbounds; i++)
    if (v <= h->bounds[i])
      break;
  h->counts[i]++;
  h->count++;
  h->sum += v;
}

/* A histogram's value is its number of observations. */
double st_metric_value(const st_metric_t *c) {
  if (!c)
    return 0;
  switch (c->kind) {
  case KIND_GAUGE_FN:
    return c->fn(c->ud);
  case KIND_HISTOGRAM:
    return (double)c->count;
  case KIND_COUNTER:
  case KIND_GAUGE:
  default:
    return c->value;
  }
}

/* ---- rendering ---- */

#define NUM_MAX 32

/* Writes v as Prometheus reads it: +Inf, -Inf, NaN, whole numbers below
 * 2^53 as integers, anything else in the shortest %g form that reads back
 * to the same double. */
static void format_num(double v, char out[NUM_MAX]) {
  if (isnan(v)) {
    strcpy(out, "NaN");
    return;
  }
  if (isinf(v)) {
    strcpy(out, v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (v == floor(v) && fabs(v) < 9007199254740992.0) {
    snprintf(out, NUM_MAX, "%lld", (long long)v);
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(out, NUM_MAX, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      return;
  }
}

static int put_help(st_buf_t *out, const char *help) {
  const char *p = help;
  int rc = 0;

  while (rc == 0 && *p) {
    size_t n = strcspn(p, "\\\n");

    rc = st_buf_append(out, p, n);
    p += n;
    if (rc == 0 && *p) {
      rc = st_buf_append(out, *p == '\\' ? "\\\\" : "\\n", 2);
      p++;
    }
  }
  return rc;
}

/* One sample line: name suffix {labels[,extra]} value. */
static int put_sample(st_buf_t *out, const char *name, const char *suffix,
                      const char *labels, const char *extra, double v) {
  char num[NUM_MAX];
  const char *sep = (*labels && *extra) ? "," : "";

  format_num(v, num);
  if (!*labels && !*extra)
    return st_buf_appendf(out, "%s%s %s\n", name, suffix, num);
  return st_buf_appendf(out, "%s%s{%s%s%s} %s\n", name, suffix, labels, sep,
                        extra, num);
}

static int put_histogram(st_buf_t *out, const char *name,
                         const st_metric_t *s) {
  char num[NUM_MAX], le[NUM_MAX + 8];
  uint64_t cum = 0;
  int rc = 0;

  for (size_t i = 0; rc == 0 && i < s->nbounds; i++) {
    cum += s->counts[i];
    format_num(s->bounds[i], num);
    snprintf(le, sizeof(le), "le=\"%s\"", num);
    rc = put_sample(out, name, "_bucket", s->labels, le, (double)cum);
  }
  if (rc == 0)
    rc = put_sample(out, name, "_bucket", s->labels, "le=\"+Inf\"",
                    (double)s->count);
  if (rc == 0)
    rc = put_sample(out, name, "_sum", s->labels, "", s->sum);
  if (rc == 0)
    rc = put_sample(out, name, "_count", s->labels, "", (double)s->count);
  return rc;
}

static const char *type_name(family_type t) {
  switch (t) {
  case TYPE_COUNTER:
    return "counter";
  case TYPE_GAUGE:
    return "gauge";
  case TYPE_HISTOGRAM:
  default:
    return "histogram";
  }
}

static int put_family(st_buf_t *out, const family_t *f) {
  int rc = 0;

  /* A family without help text gets no HELP line rather than an empty
   * one. */
  if (*f->help) {
    rc = st_buf_appendf(out, "# HELP %s ", f->name);
    if (rc == 0)
      rc = put_help(out, f->help);
    if (rc == 0)
      rc = st_buf_append(out, "\n", 1);
  }
  if (rc == 0)
    rc = st_buf_appendf(out, "# TYPE %s %s\n", f->name, type_name(f->type));
  for (const st_metric_t *s = f->first; rc == 0 && s; s = s->next) {
    if (s->kind == KIND_HISTOGRAM)
      rc = put_histogram(out, f->name, s);
    else
      rc = put_sample(out, f->name, "", s->labels, "", st_metric_value(s));
  }
  return rc;
}

int st_metrics_render(st_metrics_t *m, st_buf_t *out) {
  size_t len0;
  int rc = 0;

  if (!m || !out)
    return ST_EINVAL;
  len0 = out->len;
  for (const family_t *f = m->first; rc == 0 && f; f = f->next)
    rc = put_family(out, f);
  /* On failure the buffer is left as it was, not half written. */
  if (rc != 0) {
    out->len = len0;
    if (out->data)
      out->data[len0] = '\0';
  }
  return rc;
}
