#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis.h"
#include "util.h"

#define KEY_MAX 320

typedef struct guard {
  lf_worker_t *w;
  lf_catalog_t *catalog;
  lf_redis_t *redis;
  int64_t ttl_ms;
  /* Per-batch decisions, reused across batches. */
  struct decision {
    lf_reasons_t reasons;
    char key[KEY_MAX];
    int reserve;  /* passed the checks: needs a reservation */
    int decision; /* LF_DECISION_* */
    char duplicate_of[128];
  } * d;
  size_t cap;
} guard_t;

static const lf_topic_t topics[] = {LF_TOPIC_PROPOSED};

static lf_err_t init(lf_worker_t *w, void **ctxp, char *errstr,
                     size_t errstr_size) {
  const lf_conf_t *conf = lf_worker_conf(w);
  char path[1024];
  guard_t *g = calloc(1, sizeof(*g));
  if (!g) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  g->w = w;
  g->ttl_ms = lf_conf_get_int(conf, "guard.idempotency.ttl.ms");
  if (!lf_conf_get_path(conf, "guard.catalog", path, sizeof(path))) {
    snprintf(errstr, errstr_size, "guard.catalog: path too long");
    goto fail;
  }
  if (!(g->catalog = lf_catalog_load(path, errstr, errstr_size)) ||
      !(g->redis = lf_redis_new(conf, errstr, errstr_size)))
    goto fail;
  lf_info(lf_worker_id(w), "catalog %s: %zu actions, version %s", path,
          lf_catalog_count(g->catalog), lf_catalog_version(g->catalog));
  *ctxp = g;
  return LF_OK;
fail:
  lf_catalog_destroy(g->catalog);
  free(g);
  return LF_ERR_INVALID;
}

static void guard_close(void *ctx) {
  guard_t *g = ctx;
  for (size_t i = 0; i < g->cap; i++)
    lf_reasons_free(&g->d[i].reasons);
  free(g->d);
  lf_redis_destroy(g->redis);
  lf_catalog_destroy(g->catalog);
  free(g);
}

lf_err_t lf_guard_check(const lf_catalog_t *cat, const lf_action_t *a,
                        lf_reasons_t *reasons, json_t **args_out) {
  const lf_catalog_action_t *def = lf_catalog_find(cat, a->name);
  if (!def)
    return lf_reasons_add(reasons, "unknown_action", "",
                          "\"%s\" is not an action of catalog %s", a->name,
                          lf_catalog_version(cat));
  return lf_catalog_check_args(def, a->arguments_json, reasons, args_out);
}

void lf_guard_idempotency_key(const lf_action_t *a, const json_t *args,
                              char *out, size_t size) {
  if (a->idempotency_key && *a->idempotency_key) {
    snprintf(out, size, "%s", a->idempotency_key);
    return;
  }
  char *canon = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
  size_t len =
      strlen(a->tenant) + strlen(a->name) + (canon ? strlen(canon) : 0);
  char *buf = malloc(len + 3);
  char hex[LF_SHA256_HEX_LEN + 1];
  if (buf) {
    int n = snprintf(buf, len + 3, "%s\n%s\n%s", a->tenant, a->name,
                     canon ? canon : "");
    lf_sha256_hex(buf, (size_t)n, hex);
  } else { /* still deterministic, only coarser */
    lf_sha256_hex(a->action_id, strlen(a->action_id), hex);
  }
  snprintf(out, size, "sha256:%s", hex);
  free(buf);
  free(canon);
}

static lf_err_t grow(guard_t *g, size_t n) {
  if (n <= g->cap)
    return LF_OK;
  struct decision *d = realloc(g->d, n * sizeof(*d));
  if (!d)
    return LF_ERR_NOMEM;
  memset(d + g->cap, 0, (n - g->cap) * sizeof(*d));
  g->d = d;
  g->cap = n;
  return LF_OK;
}

/* The checks that need no Redis, for every record of the batch. */
static lf_err_t check_all(guard_t *g, const lf_msg_t *msgs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const lf_action_t *a = (const lf_action_t *)msgs[i].pb;
    struct decision *d = &g->d[i];
    json_t *args = NULL;
    lf_reasons_clear(&d->reasons);
    d->duplicate_of[0] = '\0';
    if (lf_guard_check(g->catalog, a, &d->reasons, &args))
      return LF_ERR_NOMEM;
    d->reserve = d->reasons.n == 0;
    d->decision = d->reserve ? LF_DECISION_APPROVED : LF_DECISION_REJECTED;
    if (d->reserve)
      lf_guard_idempotency_key(a, args, d->key, sizeof(d->key));
    json_decref(args);
  }
  return LF_OK;
}

/* One pipelined round trip reserves every key of the batch. SET NX GET
 * answers nil when this call reserved it, or the action id holding it: our
 * own id means a redelivery of the same action (still approved, the
 * executor deduplicates), another id a duplicate. */
static lf_err_t reserve_all(guard_t *g, const lf_msg_t *msgs, size_t n,
                            char *errstr, size_t errstr_size) {
  const char *prefix = lf_redis_prefix(g->redis);
  lf_err_t err = LF_OK;
  for (size_t i = 0; i < n && !err; i++) {
    const lf_action_t *a = (const lf_action_t *)msgs[i].pb;
    if (g->d[i].reserve)
      err = lf_redis_append(
          g->redis, errstr, errstr_size, "SET %sidem:%s:%s %s NX PX %lld GET",
          prefix, a->tenant, g->d[i].key, a->action_id, (long long)g->ttl_ms);
  }
  for (size_t i = 0; i < n && !err; i++) {
    const lf_action_t *a = (const lf_action_t *)msgs[i].pb;
    redisReply *r;
    if (!g->d[i].reserve)
      continue;
    if ((err = lf_redis_reply(g->redis, &r, errstr, errstr_size)))
      break;
    if (r->type == REDIS_REPLY_STRING && strcmp(r->str, a->action_id)) {
      g->d[i].decision = LF_DECISION_DUPLICATE;
      snprintf(g->d[i].duplicate_of, sizeof(g->d[i].duplicate_of), "%s",
               r->str);
    }
    freeReplyObject(r);
  }
  if (err)
    lf_redis_discard(g->redis);
  return err;
}

static lf_err_t approve(guard_t *g, const lf_msg_t *m, const struct decision *d,
                        lf_out_t *out, char *errstr, size_t errstr_size) {
  const lf_action_t *a = (const lf_action_t *)m->pb;
  lf_verdict_t v = LF_VERDICT_INIT;
  v.action = (lf_action_t *)a;
  v.decision = LF_DECISION_APPROVED;
  v.guard_id = (char *)lf_worker_id(g->w);
  v.idempotency_key = (char *)d->key;
  v.catalog_version = (char *)lf_catalog_version(g->catalog);
  v.decided_at_ms = lf_now_ms();
  lf_worker_count(g->w, "approved", 1);
  return lf_out_produce(out, m, LF_TOPIC_APPROVED, a->goal_id, &v.base, errstr,
                        errstr_size);
}

/* Rejections and duplicates go straight back to the planner. */
static lf_err_t turn_back(guard_t *g, const lf_msg_t *m,
                          const struct decision *d, lf_out_t *out, char *errstr,
                          size_t errstr_size) {
  const lf_action_t *a = (const lf_action_t *)m->pb;
  lf_observation_t o = LF_OBSERVATION_INIT;
  char error[600];
  o.goal_id = a->goal_id;
  o.action_id = a->action_id;
  o.action_name = a->name;
  o.step = a->step;
  o.observer = (char *)lf_worker_id(g->w);
  o.observed_at_ms = lf_now_ms();
  if (d->decision == LF_DECISION_DUPLICATE) {
    o.status = LF_OBS_DUPLICATE;
    o.duplicate_of = (char *)d->duplicate_of;
    snprintf(error, sizeof(error),
             "duplicate of action %s (key %s): not run again", d->duplicate_of,
             d->key);
    lf_worker_count(g->w, "duplicates", 1);
  } else {
    o.status = LF_OBS_REJECTED;
    o.n_reasons = d->reasons.n;
    o.reasons = d->reasons.pv;
    snprintf(error, sizeof(error), "rejected by the guard: %s%s",
             d->reasons.v[0].message, d->reasons.n > 1 ? " (and more)" : "");
    lf_worker_count(g->w, "rejected", 1);
  }
  o.error = error;
  lf_debug(lf_worker_id(g->w), "action %s: %s", a->action_id, error);
  return lf_out_produce(out, m, LF_TOPIC_OBSERVATIONS, a->goal_id, &o.base,
                        errstr, errstr_size);
}

static lf_err_t handle(void *ctx, const lf_msg_t *msgs, size_t n, lf_out_t *out,
                       char *errstr, size_t errstr_size) {
  guard_t *g = ctx;
  lf_err_t err = grow(g, n);
  if (!err)
    err = check_all(g, msgs, n);
  if (err) {
    snprintf(errstr, errstr_size, "out of memory");
    return err;
  }
  /* Fail closed: without Redis nothing is approved or produced. */
  if ((err = reserve_all(g, msgs, n, errstr, errstr_size)))
    return err;
  for (size_t i = 0; i < n && !err; i++)
    err = g->d[i].decision == LF_DECISION_APPROVED
              ? approve(g, &msgs[i], &g->d[i], out, errstr, errstr_size)
              : turn_back(g, &msgs[i], &g->d[i], out, errstr, errstr_size);
  return err;
}

const lf_handler_t lf_guard_handler = {
    .kind = "guard",
    .group_key = "guard.group.id",
    .topics = topics,
    .ntopics = 1,
    .init = init,
    .handle = handle,
    .close = guard_close,
};
