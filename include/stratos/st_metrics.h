/* Metrics: counters, gauges and histograms rendered in the Prometheus text
 * exposition format. Loop thread only. Series are created once and live
 * until st_metrics_free; the pointers returned stay valid until then. */
#ifndef STRATOS_ST_METRICS_H
#define STRATOS_ST_METRICS_H

#include <stddef.h>
#include <stratos/st_bytes.h>

typedef struct st_metrics st_metrics_t;
typedef struct st_metric st_metric_t;

int st_metrics_new(st_metrics_t **out);
void st_metrics_free(st_metrics_t *m);

/* Gets or creates the series name{labels}. name must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*; labels is "" or a rendered label list such as
 * `module="rpc",code="200"`. A family keeps the type and help of its first
 * series. Returns NULL on a bad name or a type clash. */
st_metric_t *st_metrics_counter(st_metrics_t *m, const char *name,
                                const char *help, const char *labels);
st_metric_t *st_metrics_gauge(st_metrics_t *m, const char *name,
                              const char *help, const char *labels);
/* bounds: ascending upper bounds of the buckets (+Inf is implied). */
st_metric_t *st_metrics_histogram(st_metrics_t *m, const char *name,
                                  const char *help, const char *labels,
                                  const double *bounds, size_t nbounds);

/* A gauge read at render time: fn(ud) gives the value. */
st_metric_t *st_metrics_gauge_fn(st_metrics_t *m, const char *name,
                                 const char *help, const char *labels,
                                 double (*fn)(void *ud), void *ud);

void st_metric_inc(st_metric_t *c);
void st_metric_add(st_metric_t *c, double v);
void st_metric_set(st_metric_t *g, double v);
void st_metric_observe(st_metric_t *h, double v);
double st_metric_value(const st_metric_t *c);

/* Appends the whole exposition to out. */
int st_metrics_render(st_metrics_t *m, st_buf_t *out);

#endif
