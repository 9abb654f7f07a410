/* A worker process's HTTP endpoints, for Prometheus and for container
 * probes: /metrics (core/metrics.h), /healthz (the process is alive:
 * always 200) and /readyz (200 when every worker has partitions assigned
 * and Redis answers PING; 503 naming what is missing). One server per
 * process, on metrics.address:metrics.port, whatever the number of
 * workers it runs. */
#ifndef LF_HEALTH_H
#define LF_HEALTH_H

#include "config.h"
#include "worker.h"

typedef struct lf_health lf_health_t;

/* NULL with errstr when the port cannot be served; with metrics.port 0,
 * NULL and errstr "" (nothing to serve). ws must outlive the server. */
lf_health_t *lf_health_start(const lf_conf_t *conf, lf_worker_t *const *ws,
                             size_t n, char *errstr, size_t errstr_size);
/* The port served (useful when metrics.port asked for any free one). */
unsigned lf_health_port(const lf_health_t *h);
/* Stops serving; accepts NULL. */
void lf_health_stop(lf_health_t *h);

#endif
