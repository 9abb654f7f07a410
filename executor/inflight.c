/* The runs in flight here, from their claim to their published
 * observation: calls started under executor.max.inflight (fetching
 * pauses at the cap), runs held elsewhere looked at again until they are
 * done or their lease expires, and observations stored, published and
 * their records completed together. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtins.h"
#include "executor_impl.h"
#include "lf_text.h"
#include "log.h"
#include "util.h"

/* Runs settled together: at most this many, or after this long. */
#define SETTLE_BATCH 64
#define SETTLE_WAIT_MS 5

/* FNV-1a of tenant, a separator and key. */
static size_t bucket(const executor_t *x, const char *tenant, const char *key) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = tenant; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull; /* no tenant-key pair is another's */
  for (const char *p = key; *p; p++)
    h = (h ^ (unsigned char)*p) * 1099511628211ull;
  return (size_t)h & (x->nbuckets - 1);
}

run_t *lf_exec_run_find(executor_t *x, const char *tenant, const char *key) {
  if (!x->table)
    return NULL;
  for (run_t *r = x->table[bucket(x, tenant, key)]; r; r = r->hnext)
    if (!strcmp(r->claim.key, key) && !strcmp(r->claim.tenant, tenant))
      return r;
  return NULL;
}

/* Buckets for about twice the runs the cap lets in (chains take more). */
static lf_err_t table_init(executor_t *x) {
  size_t n = 64;
  while (n < 2 * x->max_inflight && n < ((size_t)1 << 24))
    n *= 2;
  if (!(x->table = calloc(n, sizeof(*x->table))))
    return LF_ERR_NOMEM;
  x->nbuckets = n;
  return LF_OK;
}

static void table_remove(executor_t *x, run_t *r) {
  run_t **p = &x->table[bucket(x, r->claim.tenant, r->claim.key)];
  while (*p && *p != r)
    p = &(*p)->hnext;
  if (*p)
    *p = r->hnext;
}

/* A phase's bookkeeping: counted, queued or listed as ready. */
static void set_phase(executor_t *x, run_t *r, enum run_phase phase) {
  x->nelsewhere -= r->phase == RUN_ELSEWHERE;
  x->nwaiting -= r->phase == RUN_WAITING;
  r->phase = phase;
  x->nelsewhere += phase == RUN_ELSEWHERE;
  x->nwaiting += phase == RUN_WAITING;
  if (phase == RUN_QUEUED) {
    r->qnext = NULL;
    *(x->queue ? &x->queue_tail->qnext : &x->queue) = r;
    x->queue_tail = r;
  } else if (phase == RUN_READY) {
    if (!x->nready++)
      x->ready_since_ms = lf_monotonic_ms();
    r->rnext = NULL;
    *(x->ready ? &x->ready_tail->rnext : &x->ready) = r;
    x->ready_tail = r;
  }
}

static void run_free(run_t *r) {
  if (!r)
    return;
  lf_proto_free((ProtobufCMessage *)r->v);
  json_decref(r->args);
  json_decref(r->call.result);
  free(r->obs);
  free(r->waiters);
  free(r);
}

/* Out of every list and freed (a RUN_READY run at the head of ready). */
static void run_drop(executor_t *x, run_t *r) {
  *(r->prev ? &r->prev->next : &x->runs) = r->next;
  *(r->next ? &r->next->prev : &x->runs_tail) = r->prev;
  table_remove(x, r);
  x->nelsewhere -= r->phase == RUN_ELSEWHERE;
  x->nwaiting -= r->phase == RUN_WAITING;
  x->nruns--;
  run_free(r);
}

run_t *lf_exec_run_new(executor_t *x, const lf_msg_t *msg,
                       const lf_run_t *claim) {
  char why[256];
  if (!x->table && table_init(x))
    return NULL;
  run_t *r = calloc(1, sizeof(*r));
  if (!r || !(r->v = (lf_verdict_t *)lf_proto_decode(
                  lf_proto_topic_descriptor(msg->topic), msg->value, msg->len,
                  why, sizeof(why)))) {
    free(r);
    return NULL;
  }
  r->claim = *claim;
  r->claim.obs = NULL;
  r->claim.tenant = r->v->action->tenant;
  r->claim.key = r->v->idempotency_key;
  r->recheck_ms = lf_monotonic_ms() + x->busy_poll_ms;
  r->prev = x->runs_tail;
  *(x->runs_tail ? &x->runs_tail->next : &x->runs) = r;
  x->runs_tail = r;
  size_t b = bucket(x, r->claim.tenant, r->claim.key);
  r->hnext = x->table[b];
  x->table[b] = r;
  x->nruns++;
  r->phase = RUN_CALLING; /* none yet: set_phase counts from here */
  set_phase(x, r, claim->state == LF_RUN_BUSY ? RUN_ELSEWHERE : RUN_QUEUED);
  return r;
}

lf_err_t lf_exec_run_wait(run_t *r, lf_out_t *out, const lf_msg_t *msg) {
  waiter_t *grown =
      lf_grow(r->waiters, &r->wcap, r->nwaiters + 1, sizeof(*grown));
  if (!grown)
    return LF_ERR_NOMEM;
  r->waiters = grown;
  waiter_t *wt = &r->waiters[r->nwaiters++];
  wt->token = lf_out_defer(out, msg);
  snprintf(wt->traceparent, sizeof(wt->traceparent), "%.*s",
           msg->traceparent ? (int)msg->traceparent_len : 0,
           msg->traceparent ? msg->traceparent : "");
  return LF_OK;
}

/* What an observation may hold besides its result (ids, the error text,
 * the envelope): the result gets the rest of a record. */
#define OBS_ENVELOPE 16384

static char *dump(const json_t *v) {
  return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Cuts the string field of obj (text of len bytes) until obj's JSON fits
 * room: obj's text, or NULL. */
static char *cut_to_fit(json_t *obj, const char *field, const char *text,
                        size_t len, size_t room) {
  size_t keep = len;
  for (int i = 0; i < 12; i++) {
    json_t *part = json_stringn(text, lf_utf8_cut(text, len, keep));
    if (!part || json_object_set_new(obj, field, part))
      return NULL;
    char *out = dump(obj);
    if (!out || strlen(out) <= room)
      return out;
    size_t over = strlen(out) - room;
    free(out);
    keep = keep > 2 * over ? keep - 2 * over : keep / 2; /* escapes grow */
  }
  return NULL;
}

/* The result's JSON text, cut so that the observation fits a record: an
 * HTTP result keeps its status and headers and a prefix of its body
 * ("truncated": true); any other result becomes {"truncated", "size",
 * "text": a prefix of its JSON}. NULL when out of memory. */
static char *fitted_result(const json_t *result, size_t room) {
  char *text = dump(result);
  if (!text || strlen(text) <= room)
    return text;
  char *out = NULL;
  json_t *copy = json_deep_copy(result);
  json_t *body = json_object_get(copy, "body");
  if (body && json_object_get(copy, "status")) {
    char *b =
        json_is_string(body) ? strdup(json_string_value(body)) : dump(body);
    if (b && !json_object_set_new(copy, "truncated", json_true()))
      out = cut_to_fit(copy, "body", b, strlen(b), room);
    free(b);
  } else {
    json_decref(copy);
    copy = json_pack("{s:b,s:I}", "truncated", 1, "size",
                     (json_int_t)strlen(text));
    if (copy)
      out = cut_to_fit(copy, "text", text, strlen(text), room);
  }
  json_decref(copy);
  free(text);
  return out;
}

lf_err_t lf_exec_observe(executor_t *x, const lf_verdict_t *v,
                         const json_t *result, const char *error, uint8_t **obs,
                         size_t *obs_len) {
  const lf_action_t *a = v->action;
  lf_observation_t o = LF_OBSERVATION_INIT;
  size_t max = lf_worker_max_record(x->w);
  char *result_json =
      result ? fitted_result(result, max > 2 * OBS_ENVELOPE ? max - OBS_ENVELOPE
                                                            : max / 2)
             : NULL;
  o.goal_id = a->goal_id;
  o.action_id = a->action_id;
  o.action_name = a->name;
  o.step = a->step;
  o.status = error[0] ? LF_OBS_FAILED : LF_OBS_SUCCEEDED;
  o.result_json = result_json ? result_json : "";
  char clean[1024]; /* errors may quote what a server sent */
  o.error = lf_text_clean(clean, sizeof(clean), error, strlen(error));
  o.observer = (char *)lf_worker_id(x->w);
  o.observed_at_ms = lf_now_ms();
  int kept = result_json || !result;
  uint8_t sig[LF_SIGNATURE_LEN];
  char why[256];
  *obs = kept && !lf_observation_sign(x->obs_keys, &o, sig, why, sizeof(why))
             ? lf_proto_encode(&o.base, obs_len)
             : NULL;
  lf_worker_count(x->w, "executions", 1);
  lf_worker_count(x->w, error[0] ? "executions_failed" : "executions_succeeded",
                  1);
  lf_debug(lf_worker_id(x->w), "ran %s (%s): %s", a->action_id, a->name,
           error[0] ? error : "succeeded");
  free(result_json);
  return *obs ? LF_OK : LF_ERR_NOMEM;
}

static void ready(executor_t *x, run_t *r) {
  set_phase(x, r, RUN_READY);
}

static void observed(executor_t *x, run_t *r, const json_t *result,
                     const char *error) {
  if (lf_exec_observe(x, r->v, result, error, &r->obs, &r->obs_len)) {
    /* Left claimed: its lease expires and the action runs again, with
     * the same idempotency key. */
    lf_error(lf_worker_id(x->w), "action %s: out of memory for its result",
             r->v->action->action_id);
    set_phase(x, r, RUN_ELSEWHERE);
    r->recheck_ms = lf_monotonic_ms() + x->lease_ms;
    return;
  }
  r->store = 1;
  ready(x, r);
}

/* A built-in runs at once; one that takes time (sleep_ms) gives its
 * outcome a due time and waits in RUN_WAITING, the loop going on. */
static void run_builtin(executor_t *x, run_t *r) {
  int64_t after_ms = 0;
  lf_http_call_t *c = &r->call;
  lf_builtin_fn fn = lf_builtin_find(r->v->action->name);
  c->error[0] = '\0';
  if (!fn)
    snprintf(c->error, sizeof(c->error), "no executor for action \"%s\"",
             r->v->action->name);
  else if (fn(lf_worker_conf(x->w), r->args, &c->result, &after_ms, c->error,
              sizeof(c->error)) == 0)
    c->error[0] = '\0';
  if (after_ms > 0 && !c->error[0]) {
    set_phase(x, r, RUN_WAITING);
    r->recheck_ms = lf_monotonic_ms() + after_ms;
    return;
  }
  observed(x, r, c->result, c->error);
}

/* Built-ins whose outcome fell due. */
static void wake_waiting(executor_t *x) {
  int64_t now = lf_monotonic_ms();
  for (run_t *r = x->nwaiting ? x->runs : NULL; r; r = r->next)
    if (r->phase == RUN_WAITING && r->recheck_ms <= now)
      observed(x, r, r->call.result, r->call.error);
}

/* Starts a claimed run: a built-in now, an HTTP call in the driver. */
static void start(executor_t *x, run_t *r) {
  char why[256];
  const lf_http_binding_t *b = lf_actions_http(x->actions, r->v->action->name);
  r->args = json_loads(r->v->action->arguments_json, 0, NULL);
  if (!json_is_object(r->args))
    return observed(x, r, NULL, "arguments are not a JSON object");
  if (!b)
    return run_builtin(x, r);
  r->call = (lf_http_call_t){b, r->args, r->claim.key, r, NULL, ""};
  if (lf_http_actions_submit(x->http, &r->call, why, sizeof(why)))
    return; /* no memory: stays queued */
  set_phase(x, r, RUN_CALLING);
}

static size_t calling(const executor_t *x) {
  return lf_http_actions_inflight(x->http);
}

/* Oldest first, up to the cap. */
void lf_exec_runs_start(executor_t *x) {
  while (x->queue && calling(x) < x->max_inflight) {
    run_t *r = x->queue;
    if (!(x->queue = r->qnext))
      x->queue_tail = NULL;
    start(x, r);
    if (r->phase == RUN_QUEUED) { /* no memory to start it: again later */
      if (!(r->qnext = x->queue))
        x->queue_tail = r;
      x->queue = r;
      break;
    }
  }
  lf_worker_pause(x->w, x->nruns >= x->max_inflight);
  lf_worker_gauge(x->w, "actions_in_flight", (int64_t)x->nruns);
}

static void on_call(void *ctx, lf_http_call_t *call) {
  run_t *r = call->opaque;

  observed(ctx, r, call->result, call->error);
}

/* The runs pick selects, each with a claim to send to Redis (runstate.h),
 * in *rs and *cs (free both); 0 runs is not an error. */
typedef int (*pick_fn)(const run_t *r, int64_t now);

/* The next run of the list select_runs walks: every run, or the ready. */
static run_t *next_of(const run_t *r, int ready_only) {
  return ready_only ? r->rnext : r->next;
}

static lf_err_t select_runs(executor_t *x, pick_fn pick, int ready_only,
                            run_t ***rs, lf_run_t **cs, size_t *n, char *errstr,
                            size_t errstr_size) {
  int64_t now = lf_monotonic_ms();
  run_t *first = ready_only ? x->ready : x->runs;
  *n = 0;
  *rs = NULL;
  *cs = NULL;
  for (run_t *r = first; r; r = next_of(r, ready_only))
    *n += pick(r, now) != 0;
  if (!*n)
    return LF_OK;
  *rs = calloc(*n, sizeof(**rs));
  *cs = calloc(*n, sizeof(**cs));
  if (!*rs || !*cs) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  size_t i = 0;
  for (run_t *r = first; r; r = next_of(r, ready_only))
    if (pick(r, now)) {
      (*rs)[i] = r;
      (*cs)[i++] = r->claim;
    }
  return LF_OK;
}

static int due_elsewhere(const run_t *r, int64_t now) {
  return r->phase == RUN_ELSEWHERE && r->recheck_ms <= now;
}

static int unstored(const run_t *r, int64_t now) {
  (void)now;
  return r->phase == RUN_READY && !r->stored;
}

/* Runs claimed here and not yet finished: their leases are renewed, so a
 * slow action is not taken over while its executor lives, and one whose
 * executor died is taken over once a lease has lapsed. */
static int held_here(const run_t *r, int64_t now) {
  (void)now;
  return r->claim.state == LF_RUN_CLAIMED && !r->stale &&
         (r->phase == RUN_QUEUED || r->phase == RUN_CALLING ||
          r->phase == RUN_WAITING || (r->phase == RUN_READY && !r->stored));
}

static lf_err_t renew(executor_t *x, char *errstr, size_t errstr_size) {
  run_t **rs;
  lf_run_t *cs;
  size_t n;
  if (lf_monotonic_ms() < x->renew_ms)
    return LF_OK;
  x->renew_ms = lf_monotonic_ms() + x->lease_ms / 3;
  lf_err_t err =
      select_runs(x, held_here, 0, &rs, &cs, &n, errstr, errstr_size);
  if (!err && n)
    err = lf_run_renew(x->redis, cs, n, lf_worker_id(x->w), lf_now_ms(),
                       x->lease_ms, errstr, errstr_size);
  for (size_t i = 0; !err && i < n; i++)
    if (cs[i].stale) {
      lf_worker_count(x->w, "leases_lost", 1);
      lf_warn(lf_worker_id(x->w),
              "action %s (key %s): its lease lapsed and another executor "
              "took it over; its result here will be dropped",
              rs[i]->v->action->action_id, rs[i]->claim.key);
    }
  free(rs);
  free(cs);
  return err;
}

/* A run held elsewhere, looked at again. */
static void rechecked(executor_t *x, run_t *r, lf_run_t *k) {
  r->recheck_ms = lf_monotonic_ms() + x->busy_poll_ms;
  if (k->state == LF_RUN_DONE) {
    r->obs = k->obs;
    r->obs_len = k->obs_len;
    k->obs = NULL;
    r->stored = 1;
    ready(x, r);
  } else if (k->state == LF_RUN_CLAIMED) {
    r->claim.fence = k->fence;
    r->claim.state = k->state;
    set_phase(x, r, RUN_QUEUED);
    lf_worker_count(x->w, "runs_taken_over", 1);
    lf_warn(lf_worker_id(x->w),
            "action %s (key %s): its executor's lease expired; running it "
            "again with the same idempotency key (fence %lld)",
            r->v->action->action_id, r->claim.key, (long long)k->fence);
  }
}

/* Runs held by another executor: done since (its observation is
 * replayed), or its lease expired (taken over here: the call goes again,
 * with the same idempotency key). */
static lf_err_t recheck(executor_t *x, char *errstr, size_t errstr_size) {
  run_t **rs;
  lf_run_t *cs;
  size_t n;
  if (!x->nelsewhere) /* the common case: nothing held elsewhere */
    return LF_OK;
  lf_err_t err =
      select_runs(x, due_elsewhere, 0, &rs, &cs, &n, errstr, errstr_size);
  if (!err && n)
    err = lf_run_claim(x->redis, cs, n, lf_worker_id(x->w), lf_now_ms(),
                       x->lease_ms, errstr, errstr_size);
  for (size_t i = 0; i < n && cs; i++) {
    if (!err)
      rechecked(x, rs[i], &cs[i]);
    free(cs[i].obs);
  }
  free(rs);
  free(cs);
  return err;
}

/* Stores the observations of runs that ran here, under their fences. A
 * run taken over meanwhile is not ours to report: its new executor
 * publishes. */
static lf_err_t store(executor_t *x, char *errstr, size_t errstr_size) {
  run_t **rs;
  lf_run_t *cs;
  size_t n;
  lf_err_t err = select_runs(x, unstored, 1, &rs, &cs, &n, errstr, errstr_size);
  for (size_t i = 0; !err && i < n; i++) {
    cs[i].obs = rs[i]->obs;
    cs[i].obs_len = rs[i]->obs_len;
  }
  if (!err && n)
    err = lf_run_finish(x->redis, cs, n, x->ttl_s, errstr, errstr_size);
  for (size_t i = 0; !err && i < n; i++) {
    rs[i]->stored = 1;
    if (!(rs[i]->stale = cs[i].stale))
      continue;
    lf_worker_count(x->w, "results_refused_stale", 1);
    lf_warn(lf_worker_id(x->w),
            "action %s (key %s): taken over by another executor while it "
            "ran here; this result is dropped",
            rs[i]->v->action->action_id, rs[i]->claim.key);
  }
  free(rs);
  free(cs);
  return err;
}

/* One observation per waiting record (a redelivery gets its own). */
static lf_err_t publish(executor_t *x, run_t *r, lf_out_t *out, char *errstr,
                        size_t errstr_size) {
  /* Every record past the first that ran it is a delivery again. */
  size_t again = r->store && r->nwaiters ? r->nwaiters - 1 : r->nwaiters;
  if (again && r->obs && !r->stale) {
    lf_worker_count(x->w, "replays", again);
    lf_info(lf_worker_id(x->w),
            "action %s (key %s) delivered again: republishing its observation",
            r->v->action->action_id, r->claim.key);
  }
  for (size_t i = 0; r->obs && !r->stale && i < r->nwaiters; i++) {
    lf_msg_t cause = {.traceparent = r->waiters[i].traceparent,
                      .traceparent_len = strlen(r->waiters[i].traceparent)};
    uint8_t *copy = malloc(r->obs_len + 1);
    if (!copy)
      return LF_ERR_NOMEM;
    memcpy(copy, r->obs, r->obs_len);
    lf_err_t err = lf_out_produce_bytes(out, &cause, LF_TOPIC_OBSERVATIONS,
                                        r->v->action->goal_id, copy, r->obs_len,
                                        errstr, errstr_size);
    if (err) {
      free(copy);
      return err;
    }
  }
  return LF_OK;
}

/* Whether to settle now: waiting for the brokers' acknowledgement costs a
 * round trip, so runs finishing close together share one, unless nothing
 * else is in flight to wait for. */
static int settle_due(const executor_t *x, int64_t *due_ms) {
  *due_ms = x->ready_since_ms + SETTLE_WAIT_MS;
  return x->nready &&
         (x->nready >= SETTLE_BATCH || !lf_http_actions_inflight(x->http) ||
          lf_monotonic_ms() >= *due_ms);
}

/* After Redis or the brokers failed, their work waits (doubling up to
 * 2 s) while the calls in flight go on: an outage costs no spinning. */
#define BACKOFF_MIN_MS 20
#define BACKOFF_MAX_MS 2000

static void backoff(executor_t *x, lf_err_t err) {
  if (!err) {
    x->backoff_ms = 0;
    return;
  }
  x->backoff_ms = x->backoff_ms ? x->backoff_ms * 2 : BACKOFF_MIN_MS;
  if (x->backoff_ms > BACKOFF_MAX_MS)
    x->backoff_ms = BACKOFF_MAX_MS;
  x->retry_at_ms = lf_monotonic_ms() + x->backoff_ms;
}

/* The calls in flight moved on while the worker waits for the brokers:
 * answers that arrive are taken (their runs become ready, for the next
 * settle) instead of timing out unread, and the leases of what is held
 * here are renewed as they fall due, so that a rebalance during a broker
 * outage longer than the lease (members can expire meanwhile) never lets
 * another executor take over a call that is alive here. */
lf_err_t lf_exec_runs_pump(executor_t *x, char *errstr, size_t errstr_size) {
  char why[512];
  if (lf_http_actions_step(x->http, -1, 0, on_call, x)) {
    snprintf(errstr, errstr_size, "HTTP actions: libcurl failed");
    return LF_ERR_IO;
  }
  lf_err_t err = LF_OK;
  if (!x->backoff_ms || lf_monotonic_ms() >= x->retry_at_ms)
    err = renew(x, why, sizeof(why));
  if (err) /* tried again when due; the wait goes on */
    backoff(x, err);
  return LF_OK;
}

/* Ready runs: stored, published, acknowledged, and then their records
 * completed. Any failure leaves them ready for the next try. */
static lf_err_t settle(executor_t *x, lf_out_t *out, char *errstr,
                       size_t errstr_size) {
  int64_t due;
  if (!settle_due(x, &due))
    return LF_OK;
  lf_err_t err = store(x, errstr, errstr_size);
  int any = 0;
  for (run_t *r = x->ready; !err && r; r = r->rnext) {
    any = 1;
    r->published = 1;
    err = publish(x, r, out, errstr, errstr_size);
  }
  if (!err && any)
    err = lf_out_wait(out, errstr, errstr_size);
  if (err == LF_ERR_NOMEM && !errstr[0])
    snprintf(errstr, errstr_size, "out of memory");
  if (err || !any) {
    for (run_t *r = x->ready; r; r = r->rnext)
      r->published = 0; /* published again on the next try */
    return err;
  }
  /* the published ones lead the list; what became ready meanwhile waits
   * for the next settle */
  while (x->ready && x->ready->published) {
    run_t *r = x->ready;
    if (!(x->ready = r->rnext))
      x->ready_tail = NULL;
    x->nready--;
    for (size_t i = 0; i < r->nwaiters; i++)
      lf_worker_complete(x->w, r->waiters[i].token);
    run_drop(x, r);
  }
  return LF_OK;
}

/* How long the loop may wait: not past a run to look at again, nor past
 * settling what is ready. */
static int wait_ms(const executor_t *x, int timeout_ms) {
  int64_t now = lf_monotonic_ms(), due;
  if (x->nready && settle_due(x, &due))
    return 0;
  if (x->nready && due - now < timeout_ms)
    timeout_ms = (int)(due - now);
  if (x->nruns && x->renew_ms - now < timeout_ms)
    timeout_ms = (int)(x->renew_ms - now);
  const run_t *first = x->nelsewhere || x->nwaiting ? x->runs : NULL;
  for (const run_t *r = first; r; r = r->next)
    if ((r->phase == RUN_ELSEWHERE || r->phase == RUN_WAITING) &&
        r->recheck_ms - now < timeout_ms)
      timeout_ms = r->recheck_ms > now ? (int)(r->recheck_ms - now) : 0;
  return timeout_ms < 0 ? 0 : timeout_ms;
}

lf_err_t lf_exec_runs_idle(executor_t *x, int wake_fd, int timeout_ms,
                           lf_out_t *out, char *errstr, size_t errstr_size) {
  int64_t now = lf_monotonic_ms();
  int waiting = x->backoff_ms && now < x->retry_at_ms;
  lf_err_t err = waiting ? LF_OK : recheck(x, errstr, errstr_size);
  if (!err && !waiting)
    err = renew(x, errstr, errstr_size);
  lf_exec_runs_start(x);
  int wait = waiting || err ? (int)(x->retry_at_ms > now ? x->retry_at_ms - now
                                                         : BACKOFF_MIN_MS)
                            : wait_ms(x, timeout_ms);
  if (wait > timeout_ms)
    wait = timeout_ms;
  if (lf_http_actions_step(x->http, wake_fd, wait, on_call, x) && !err) {
    snprintf(errstr, errstr_size, "HTTP actions: libcurl failed");
    err = LF_ERR_IO;
  }
  lf_exec_runs_start(x);
  wake_waiting(x);
  if (!err && !waiting)
    err = settle(x, out, errstr, errstr_size);
  lf_exec_runs_start(x);
  if (!waiting)
    backoff(x, lf_err_is_infra(err) ? err : LF_OK);
  return err;
}

void lf_exec_runs_free(executor_t *x) {
  /* Calls in flight are abandoned: their records are not committed, and
   * their leases let another executor take them over. */
  lf_http_actions_destroy(x->http);
  x->http = NULL;
  while (x->runs) {
    run_t *r = x->runs;
    x->runs = r->next;
    run_free(r);
  }
  free(x->table);
  x->table = NULL;
}
