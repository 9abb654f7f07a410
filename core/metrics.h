/* Prometheus' text exposition (format 0.0.4) of the workers' metrics:
 * base units, `lamfleet_` prefix, `_total` counters, labelled by worker
 * kind and id; every family once, with HELP and TYPE. Served by
 * core/health.h, read by `promtool check metrics` in the tests. */
#ifndef LF_METRICS_H
#define LF_METRICS_H

#include <stddef.h>

#include "worker.h"

/* NULL on no memory; free() the text. Any thread. */
char *lf_metrics_render(lf_worker_t *const *ws, size_t n, size_t *len);

#endif
