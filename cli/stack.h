/* The embedded stack: everything on one machine with nothing installed by
 * hand. librdkafka's mock cluster on loopback (unless
 * kafka.bootstrap.servers is given), a redis-server child on a free port
 * (unless redis.url is given), a sample payments service on loopback
 * (cli/payments.h), and one worker of each kind, each in its own thread. Used
 * by `lamfleet dev`, `lamfleet demo`, the tests and benches. */
#ifndef LF_STACK_H
#define LF_STACK_H

#include "config.h"
#include "mock.h"
#include "payments.h"
#include "worker.h"

typedef enum lf_kind {
  LF_KIND_PLANNER = 0,
  LF_KIND_GUARD,
  LF_KIND_EXECUTOR,
  LF_KIND__CNT
} lf_kind_t;
#define LF_KINDS_ALL ((1u << LF_KIND__CNT) - 1)

typedef struct lf_stack lf_stack_t;

/* Starts the servers, points conf at them, and starts the workers whose
 * kinds are set in the mask (1 << LF_KIND_...). */
lf_stack_t *lf_stack_start(lf_conf_t *conf, unsigned workers, char *errstr,
                           size_t errstr_size);
/* Stops the workers (cleanly: commit, leave the group), then the servers. */
void lf_stack_stop(lf_stack_t *s);

const char *lf_stack_bootstraps(const lf_stack_t *s);
const char *lf_stack_redis_url(const lf_stack_t *s);
lf_mock_t *lf_stack_mock(lf_stack_t *s); /* NULL with an external Kafka */
/* The sample payments service (DEMO_PAYMENTS_ADDR). */
lf_payments_t *lf_stack_payments(lf_stack_t *s);
/* The embedded redis-server, NULL with an external Redis. */
struct lf_redis_server *lf_stack_redis_server(lf_stack_t *s);
/* The running worker of a kind, or NULL. */
lf_worker_t *lf_stack_worker(lf_stack_t *s, lf_kind_t kind);

lf_err_t lf_stack_start_worker(lf_stack_t *s, lf_kind_t kind, char *errstr,
                               size_t errstr_size);
void lf_stack_stop_worker(lf_stack_t *s, lf_kind_t kind);

const lf_handler_t *lf_stack_handler(lf_kind_t kind);

#endif
