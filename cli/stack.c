#define _GNU_SOURCE /* pthread_setname_np */
#include "stack.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approver.h"
#include "executor.h"
#include "guard.h"
#include "health.h"
#include "log.h"
#include "payments.h"
#include "planner.h"
#include "redis_server.h"
#include "sign.h"
#include "util.h"

typedef struct runner {
  lf_worker_t *w;
  pthread_t thread;
  int started;
} runner_t;

struct lf_stack {
  lf_conf_t *conf;
  lf_mock_t *mock;
  lf_redis_server_t *redis;
  lf_payments_t *payments;
  runner_t runners[LF_KIND__CNT];
  lf_health_t *health; /* over the workers started with the stack */
  lf_worker_t *served[LF_KIND__CNT];
};

const lf_handler_t *lf_stack_handler(lf_kind_t kind) {
  static const lf_handler_t *const handlers[LF_KIND__CNT] = {
      &lf_planner_handler, &lf_guard_handler, &lf_executor_handler};
  return handlers[kind];
}

static void *run_worker(void *arg) {
  runner_t *r = arg;
  char errstr[512];
  /* top -H and perf tell the embedded workers apart by thread name */
  pthread_setname_np(pthread_self(), lf_worker_kind(r->w));
  if (lf_worker_run(r->w, errstr, sizeof(errstr)))
    lf_error(lf_worker_id(r->w), "%s", errstr);
  return NULL;
}

lf_err_t lf_stack_start_worker(lf_stack_t *s, lf_kind_t kind, char *errstr,
                               size_t errstr_size) {
  runner_t *r = &s->runners[kind];
  if (r->started)
    return LF_OK;
  if (!(r->w = lf_worker_new(s->conf, lf_stack_handler(kind), errstr,
                             errstr_size)))
    return LF_ERR_INVALID;
  if (pthread_create(&r->thread, NULL, run_worker, r)) {
    snprintf(errstr, errstr_size, "cannot start a thread");
    lf_worker_destroy(r->w);
    r->w = NULL;
    return LF_ERR_IO;
  }
  r->started = 1;
  return LF_OK;
}

void lf_stack_stop_worker(lf_stack_t *s, lf_kind_t kind) {
  /* the server reads every worker it was given: it goes first */
  lf_health_stop(s->health);
  s->health = NULL;
  runner_t *r = &s->runners[kind];
  if (!r->started)
    return;
  lf_worker_stop(r->w);
  pthread_join(r->thread, NULL);
  lf_worker_destroy(r->w);
  r->w = NULL;
  r->started = 0;
}

lf_worker_t *lf_stack_worker(lf_stack_t *s, lf_kind_t kind) {
  return s->runners[kind].w;
}

static lf_err_t start_servers(lf_stack_t *s, char *errstr, size_t errstr_size) {
  if (!*lf_conf_get(s->conf, "kafka.bootstrap.servers")) {
    if (!(s->mock = lf_mock_new(s->conf, errstr, errstr_size)))
      return LF_ERR_KAFKA;
    /* The mock's coordinator holds a join to a group it has known for the
     * session timeout less a second: with librdkafka's 45 s a restarted
     * worker would idle 44 s. Real brokers need no such setting. */
    if (!lf_conf_kafka_is_set(s->conf, "session.timeout.ms") &&
        lf_conf_set(s->conf, "kafka.session.timeout.ms", "6000", errstr,
                    errstr_size))
      return LF_ERR_INVALID;
    if (lf_conf_set(s->conf, "kafka.bootstrap.servers",
                    lf_mock_bootstraps(s->mock), errstr, errstr_size))
      return LF_ERR_INVALID;
  }
  /* One random key per embedded stack, shared by its guards and
   * executors; a real deployment brings its own. */
  if (!*lf_conf_get(s->conf, "signing.keys") &&
      !*lf_conf_get(s->conf, "signing.keys.file")) {
    char spec[128];
    if (lf_keyring_random_spec(spec, sizeof(spec)) ||
        lf_conf_set(s->conf, "signing.keys", spec, errstr, errstr_size))
      return LF_ERR_INVALID;
  }
  if (!*lf_conf_get(s->conf, "observation.keys") &&
      !*lf_conf_get(s->conf, "observation.keys.file")) {
    char spec[128];
    if (lf_keyring_random_spec(spec, sizeof(spec)) ||
        lf_conf_set(s->conf, "observation.keys", spec, errstr, errstr_size))
      return LF_ERR_INVALID;
  }
  /* And one approver ("dev") whose key the embedded stack's users hold,
   * so that `lamfleet approvals approve` works out of the box. */
  if (!*lf_conf_get(s->conf, "approvers") &&
      !*lf_conf_get(s->conf, "approvers.file")) {
    char pub[256], priv[256];
    lf_err_t err = lf_approver_keygen("dev", pub, sizeof(pub), priv,
                                      sizeof(priv), errstr, errstr_size);
    if (!err)
      err = lf_conf_set(s->conf, "approvers", pub, errstr, errstr_size);
    if (!err) /* the pair's other half, whatever key was set before */
      err = lf_conf_set(s->conf, "approver.key", priv, errstr, errstr_size);
    memset(priv, 0, sizeof(priv));
    if (err)
      return LF_ERR_INVALID;
  }
  if (!lf_conf_is_set(s->conf, "redis.url")) {
    if (!(s->redis =
              lf_redis_server_start(lf_conf_get(s->conf, "dev.redis.server"), 0,
                                    errstr, errstr_size)))
      return LF_ERR_IO;
    if (lf_conf_set(s->conf, "redis.url", lf_redis_server_url(s->redis), errstr,
                    errstr_size))
      return LF_ERR_INVALID;
  }
  return LF_OK;
}

/* The stack is ready when every worker has joined its group: a goal sent
 * before would wait out the join (seconds on the mock). Not fatal: a slow
 * join only delays the first records. */
static void await_assignments(lf_stack_t *s, int timeout_ms) {
  int64_t deadline = lf_monotonic_ms() + timeout_ms;
  for (int k = 0; k < LF_KIND__CNT; k++) {
    runner_t *r = &s->runners[k];
    while (r->started && !lf_worker_assigned(r->w)) {
      if (lf_monotonic_ms() > deadline) {
        lf_warn("stack", "%s has no partitions yet; going on",
                lf_worker_id(r->w));
        return;
      }
      lf_sleep_ms(20);
    }
  }
}

/* One metrics and probes server for the stack's workers (metrics.port). */
static lf_err_t serve(lf_stack_t *s, char *errstr, size_t errstr_size) {
  size_t n = 0;
  for (int k = 0; k < LF_KIND__CNT; k++)
    if (s->runners[k].w)
      s->served[n++] = s->runners[k].w;
  if (!n)
    return LF_OK;
  s->health = lf_health_start(s->conf, s->served, n, errstr, errstr_size);
  if (!s->health && errstr[0])
    return LF_ERR_IO;
  if (s->health)
    lf_info("stack", "metrics on http://%s:%u/metrics",
            lf_conf_get(s->conf, "metrics.address"), lf_health_port(s->health));
  return LF_OK;
}

lf_stack_t *lf_stack_start(lf_conf_t *conf, unsigned workers, char *errstr,
                           size_t errstr_size) {
  lf_stack_t *s = calloc(1, sizeof(*s));
  if (!s) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  s->conf = conf;
  if (start_servers(s, errstr, errstr_size) ||
      !(s->payments = lf_payments_start(errstr, errstr_size)))
    goto fail;
  /* The sample catalog's pay_invoice reaches it through this variable,
   * set before any worker thread reads the environment. */
  setenv("DEMO_PAYMENTS_ADDR", lf_payments_addr(s->payments), 1);
  for (int k = 0; k < LF_KIND__CNT; k++)
    if ((workers & (1u << k)) &&
        lf_stack_start_worker(s, (lf_kind_t)k, errstr, errstr_size))
      goto fail;
  await_assignments(s, 30000);
  if (serve(s, errstr, errstr_size))
    goto fail;
  return s;
fail:
  lf_stack_stop(s);
  return NULL;
}

void lf_stack_stop(lf_stack_t *s) {
  if (!s)
    return;
  lf_health_stop(s->health);
  s->health = NULL;
  for (int k = 0; k < LF_KIND__CNT; k++)
    lf_stack_stop_worker(s, (lf_kind_t)k);
  lf_mock_destroy(s->mock);
  lf_redis_server_stop(s->redis);
  lf_payments_stop(s->payments);
  free(s);
}

const char *lf_stack_bootstraps(const lf_stack_t *s) {
  return lf_conf_get(s->conf, "kafka.bootstrap.servers");
}

const char *lf_stack_redis_url(const lf_stack_t *s) {
  return lf_conf_get(s->conf, "redis.url");
}

lf_mock_t *lf_stack_mock(lf_stack_t *s) {
  return s->mock;
}

lf_payments_t *lf_stack_payments(lf_stack_t *s) {
  return s->payments;
}

struct lf_redis_server *lf_stack_redis_server(lf_stack_t *s) {
  return s->redis;
}
