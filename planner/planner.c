/* The planner worker: goals and observations in, proposed actions and
 * results out, through a backend (planner/backend.h). Three paths move a
 * goal, all through the same rules (planner/goal.c) and the same versioned
 * store (planner/store.c):
 *  - records: the batch's goals are loaded, moved, published, and saved
 *    only once the brokers have the outputs (a failed batch is redone);
 *  - replies: a finished model call is concluded, saved first with the
 *    goal in the await set, then published, then released from the set;
 *  - claims: goals in the await set that nobody renewed (their planner
 *    died, or died between saving and publishing) are taken over by any
 *    planner: a model call is made again, outstanding records republished.
 * Model calls run concurrently in the worker's own loop; at
 * planner.max.inflight the worker stops fetching but keeps polling. */
#include "planner.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "goal.h"
#include "log.h"
#include "redis.h"
#include "sign.h"
#include "store.h"
#include "util.h"

typedef struct call { /* a model call here, in flight or waiting */
  struct call *next;
  char *goal_id;
  int64_t version;    /* the goal's, when the call was made */
  json_t *state;      /* while it waits for a free slot */
  int64_t started_ms; /* monotonic */
} call_t;

typedef struct reply { /* a finished call, until it is concluded */
  call_t *call;
  long status;
  char *body, *error;
  size_t len;
} reply_t;

typedef struct planner {
  lf_worker_t *w;
  const char *id;
  const lf_planner_backend_t *be;
  void *bctx;
  lf_redis_t *redis;
  lf_keyring_t *obs_keys; /* observations count only when signed by one */
  lf_goal_limits_t limits;
  int64_t ttl_s, lease_ms, publish_ms;
  size_t max_inflight;
  lf_goal_slot_t *slots;
  size_t nslots, cap;
  call_t *calls;               /* in flight */
  call_t *waiting, **wait_end; /* saved goals over the cap, oldest first */
  size_t nwaiting;
  reply_t *replies;
  size_t nreplies, rcap;
} planner_t;

static const lf_topic_t topics[] = {LF_TOPIC_GOALS, LF_TOPIC_OBSERVATIONS};

static lf_err_t nomem(char *errstr, size_t errstr_size) {
  snprintf(errstr, errstr_size, "out of memory");
  return LF_ERR_NOMEM;
}

static lf_err_t init(lf_worker_t *w, void **ctxp, char *errstr,
                     size_t errstr_size) {
  const lf_conf_t *conf = lf_worker_conf(w);
  planner_t *p = calloc(1, sizeof(*p));
  if (!p)
    return nomem(errstr, errstr_size);
  p->w = w;
  p->id = lf_worker_id(w);
  p->wait_end = &p->waiting;
  p->limits.max_steps = lf_conf_get_int(conf, "planner.max.steps");
  p->limits.max_llm_calls = lf_conf_get_int(conf, "planner.max.llm.calls");
  p->limits.max_tokens = lf_conf_get_int(conf, "planner.max.tokens");
  p->ttl_s = lf_conf_get_int(conf, "planner.state.ttl.s");
  p->lease_ms = lf_conf_get_int(conf, "planner.lease.ms");
  /* outputs not acknowledged by then are republished by a claim */
  p->publish_ms = lf_conf_get_int(conf, "worker.flush.timeout.ms") + 5000;
  p->max_inflight = (size_t)lf_conf_get_int(conf, "planner.max.inflight");
  p->be = lf_planner_backend_find(lf_conf_get(conf, "planner.backend"));
  if (!p->be) {
    snprintf(errstr, errstr_size, "planner.backend: no backend \"%s\"",
             lf_conf_get(conf, "planner.backend"));
    free(p);
    return LF_ERR_INVALID;
  }
  if (!(p->obs_keys =
            lf_keyring_load(conf, "observation", errstr, errstr_size)) ||
      p->be->init(conf, &p->bctx, errstr, errstr_size) ||
      !(p->redis = lf_redis_new(conf, errstr, errstr_size))) {
    if (p->bctx)
      p->be->destroy(p->bctx);
    lf_keyring_destroy(p->obs_keys);
    free(p);
    return LF_ERR_INVALID;
  }
  *ctxp = p;
  return LF_OK;
}

static void clear_slots(planner_t *p) {
  lf_goal_slots_clear(p->slots, p->nslots);
  p->nslots = 0;
}

/* A slot for goal_id; with dedupe, the one it already has. */
static lf_goal_slot_t *slot(planner_t *p, const char *goal_id, int dedupe) {
  for (size_t i = 0; dedupe && i < p->nslots; i++)
    if (!strcmp(p->slots[i].goal_id, goal_id))
      return &p->slots[i];
  lf_goal_slot_t *s =
      lf_grow(p->slots, &p->cap, p->nslots + 1, sizeof(*p->slots));
  if (!s)
    return NULL;
  p->slots = s;
  s = &p->slots[p->nslots];
  memset(s, 0, sizeof(*s));
  if (!(s->goal_id = strdup(goal_id)))
    return NULL;
  p->nslots++;
  return s;
}

static void free_call(call_t *c) {
  json_decref(c->state);
  free(c->goal_id);
  free(c);
}

static void unlink_call(planner_t *p, call_t *c) {
  for (call_t **pp = &p->calls; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  free_call(c);
}

static size_t inflight(const planner_t *p) {
  return p->be->inflight ? p->be->inflight(p->bctx) : 0;
}

/* Waiting calls start, oldest first, while the cap allows. */
static void start_calls(planner_t *p) {
  char why[300];
  while (p->waiting && inflight(p) < p->max_inflight) {
    call_t *c = p->waiting;
    if (!(p->waiting = c->next))
      p->wait_end = &p->waiting;
    p->nwaiting--;
    if (p->be->think(p->bctx, c, c->state, why, sizeof(why))) {
      /* the goal stays in the await set: a claim retries it */
      lf_warn(p->id, "goal %s: model call not started: %s", c->goal_id, why);
      free_call(c);
      continue;
    }
    json_decref(c->state);
    c->state = NULL;
    c->next = p->calls;
    p->calls = c;
    c->started_ms = lf_monotonic_ms();
    lf_worker_count(p->w, "llm_calls", 1);
  }
}

/* Queues the model call of a saved goal; it starts when the cap allows.
 * A call that cannot be made is logged: the goal stays in the await set
 * and a claim retries it. */
static void think(planner_t *p, const lf_goal_slot_t *s) {
  call_t *c = calloc(1, sizeof(*c));
  if (!c || !(c->goal_id = strdup(s->goal_id))) {
    free(c);
    lf_warn(p->id, "goal %s: out of memory for a model call", s->goal_id);
    return;
  }
  c->version = s->version;
  c->state = json_incref(s->state);
  *p->wait_end = c;
  p->wait_end = &c->next;
  p->nwaiting++;
}

/* Calls over the cap wait here rather than in the topic: fetching stops
 * until they have started, so at most a batch waits. */
static void backpressure(planner_t *p) {
  start_calls(p);
  if (p->be->think)
    lf_worker_pause(p->w, inflight(p) + p->nwaiting >= p->max_inflight);
  lf_worker_gauge(p->w, "llm_calls_in_flight", (int64_t)inflight(p));
}

static void log_end(planner_t *p, const lf_goal_slot_t *s) {
  const json_t *res = json_object_get(s->state, "result");
  int status = (int)json_integer_value(json_object_get(res, "status"));
  const char *text = json_string_value(json_object_get(res, "text"));
  lf_worker_count(p->w, "goals_finished", 1);
  lf_info(p->id, "goal %s %s%s%.300s", s->goal_id,
          lf_proto_result_status_name(status),
          status != LF_RESULT_COMPLETED && text ? ": " : "",
          status != LF_RESULT_COMPLETED && text ? text : "");
}

/* Records what a change (LF_GOAL_* bits, -1: failed) asks of the slot. */
static lf_err_t mark(planner_t *p, lf_goal_slot_t *s, int bits) {
  if (bits < 0)
    return LF_ERR_INVALID;
  s->dirty = 1;
  s->publish |= (bits & LF_GOAL_PUBLISH) != 0;
  s->think = (bits & LF_GOAL_THINK) != 0;
  if ((bits & LF_GOAL_PUBLISH) && !strcmp(lf_goal_status(s->state), "done"))
    log_end(p, s);
  return LF_OK;
}

/* Records published from a model's reply or a claim have no record to
 * follow: they continue the trace of the record that last moved the goal,
 * kept in its state. */
static lf_err_t keep_trace(lf_goal_slot_t *s) {
  const lf_msg_t *m = s->cause;
  if (!m || !m->traceparent || !s->state)
    return LF_OK;
  return json_object_set_new(s->state, "trace",
                             json_stringn(m->traceparent, m->traceparent_len))
             ? LF_ERR_NOMEM
             : LF_OK;
}

/* ---- records ---------------------------------------------------------- */

static lf_err_t on_goal(planner_t *p, const lf_msg_t *m, lf_goal_slot_t *s,
                        char *errstr, size_t errstr_size) {
  const lf_goal_t *g = (const lf_goal_t *)m->pb;
  s->cause = m;
  const char *had =
      s->state ? json_string_value(json_object_get(s->state, "tenant")) : NULL;
  if (s->state &&
      strcmp(had ? had : "default", *g->tenant ? g->tenant : "default")) {
    /* not a redelivery: another tenant's goal under the same id */
    snprintf(errstr, errstr_size,
             "goal id %s is taken by another tenant's goal; use another id",
             s->goal_id);
    return LF_ERR_RECORD;
  }
  if (s->state) { /* redelivered: republish what it is waiting for */
    s->publish |= !strcmp(lf_goal_status(s->state), "running");
    return LF_OK;
  }
  if (!(s->state = lf_goal_state_new(s->goal_id, g, &p->limits)))
    return nomem(errstr, errstr_size);
  lf_worker_count(p->w, "goals_started", 1);
  if (p->be->start(p->bctx, s->state, g, errstr, errstr_size))
    return LF_ERR_INVALID;
  if (keep_trace(s))
    return nomem(errstr, errstr_size);
  return mark(p, s,
              lf_goal_next(s->state, p->be, p->bctx, errstr, errstr_size));
}

static lf_err_t on_observation(planner_t *p, const lf_msg_t *m,
                               lf_goal_slot_t *s, char *errstr,
                               size_t errstr_size) {
  const lf_observation_t *o = (const lf_observation_t *)m->pb;
  if (!s->state) {
    lf_warn(p->id, "observation for unknown goal %s ignored", o->goal_id);
    lf_worker_count(p->w, "observations_orphaned", 1);
    return LF_OK;
  }
  int bits = lf_goal_observe(s->state, o, p->be, p->bctx, errstr, errstr_size);
  if (bits == 0) {
    s->dirty = 1; /* seen, or nothing at all: saving is harmless */
    return LF_OK;
  }
  s->cause = m;
  if (keep_trace(s))
    return nomem(errstr, errstr_size);
  return mark(p, s, bits);
}

/* Only what a guard or an executor observed moves a goal: an observation
 * not signed with an observation key goes to dlq (a security event,
 * counted) and is not seen. 0 when it is refused (*err: dead-lettering
 * failed). */
static int genuine(planner_t *p, const lf_msg_t *m, lf_out_t *out,
                   lf_err_t *err, char *errstr, size_t errstr_size) {
  char why[300], reason[400];
  const lf_observation_t *o = (const lf_observation_t *)m->pb;
  if (!lf_observation_verify(p->obs_keys, o, why, sizeof(why)))
    return 1;
  snprintf(reason, sizeof(reason), "observation of %s refused: %s",
           o->action_id, why);
  lf_worker_count(p->w, "observations_refused", 1);
  *err = lf_out_dead_letter(out, m, reason, errstr, errstr_size);
  return 0;
}

static const char *msg_goal_id(const lf_msg_t *m) {
  return m->topic == LF_TOPIC_GOALS
             ? ((const lf_goal_t *)m->pb)->goal_id
             : ((const lf_observation_t *)m->pb)->goal_id;
}

static lf_err_t publish(planner_t *p, lf_out_t *out, char *errstr,
                        size_t errstr_size) {
  lf_err_t err = LF_OK;
  for (size_t i = 0; i < p->nslots && !err; i++) {
    lf_goal_slot_t *s = &p->slots[i];
    lf_msg_t traced = {0};
    if (!s->publish || !s->state || s->conflict)
      continue;
    const char *tp = json_string_value(json_object_get(s->state, "trace"));
    if (!s->cause && tp) {
      traced.traceparent = tp;
      traced.traceparent_len = strlen(tp);
    }
    err = lf_goal_publish(s->state, p->id, s->cause ? s->cause : &traced, out,
                          errstr, errstr_size);
  }
  return err;
}

static lf_err_t handle(void *ctx, const lf_msg_t *msgs, size_t n, lf_out_t *out,
                       char *errstr, size_t errstr_size) {
  planner_t *p = ctx;
  lf_goal_slot_t **of = calloc(n, sizeof(*of));
  lf_err_t err = of ? LF_OK : nomem(errstr, errstr_size);
  clear_slots(p);
  for (size_t i = 0; i < n && !err; i++)
    if (!slot(p, msg_goal_id(&msgs[i]), 1))
      err = nomem(errstr, errstr_size);
  /* slots may have moved while growing: look them up again */
  for (size_t i = 0; i < n && !err; i++)
    of[i] = slot(p, msg_goal_id(&msgs[i]), 1);
  if (!err)
    err =
        lf_goal_store_load(p->redis, p->slots, p->nslots, errstr, errstr_size);
  for (size_t i = 0; i < n && !err; i++)
    err = msgs[i].topic == LF_TOPIC_GOALS
              ? on_goal(p, &msgs[i], of[i], errstr, errstr_size)
          : !genuine(p, &msgs[i], out, &err, errstr, errstr_size)
              ? err
              : on_observation(p, &msgs[i], of[i], errstr, errstr_size);
  free(of);
  return err ? err : publish(p, out, errstr, errstr_size);
}

/* Saved goals that want the model get their calls; slots are done with. */
static lf_err_t end_batch(planner_t *p, lf_err_t err) {
  for (size_t i = 0; i < p->nslots; i++)
    if (p->slots[i].think && !p->slots[i].conflict && !p->slots[i].dirty)
      think(p, &p->slots[i]);
  clear_slots(p);
  backpressure(p);
  return err;
}

/* The batch's outputs are out: save, then start the model calls. */
static lf_err_t delivered(void *ctx, char *errstr, size_t errstr_size) {
  planner_t *p = ctx;
  int64_t now = lf_now_ms();
  for (size_t i = 0; i < p->nslots; i++)
    p->slots[i].await = p->slots[i].think ? now + p->lease_ms : 0;
  lf_err_t err = lf_goal_store_save(p->redis, p->slots, p->nslots, p->ttl_s,
                                    errstr, errstr_size);
  for (size_t i = 0; i < p->nslots && !err; i++) {
    if (p->slots[i].conflict) {
      snprintf(errstr, errstr_size, "goal %s changed elsewhere meanwhile",
               p->slots[i].goal_id);
      err = LF_ERR_REDIS_REPLY;
    }
  }
  return end_batch(p, err);
}

/* ---- replies and claims ----------------------------------------------- */

/* Saved first, with the goal in the await set: whatever happens next, a
 * planner republishes it (same bytes) or makes the call again. */
static lf_err_t settle(planner_t *p, lf_out_t *out, char *errstr,
                       size_t errstr_size) {
  lf_err_t err = lf_goal_store_save(p->redis, p->slots, p->nslots, p->ttl_s,
                                    errstr, errstr_size);
  if (!err)
    err = publish(p, out, errstr, errstr_size);
  if (!err)
    err = lf_out_wait(out, errstr, errstr_size);
  for (size_t i = 0; i < p->nslots; i++)
    p->slots[i].release = !err && !p->slots[i].conflict &&
                          (p->slots[i].release || p->slots[i].publish);
  if (!err)
    err = lf_goal_store_release(p->redis, p->slots, p->nslots, errstr,
                                errstr_size);
  return end_batch(p, err);
}

static void on_thought(void *arg, const lf_thought_t *t) {
  planner_t *p = arg;
  reply_t *r =
      lf_grow(p->replies, &p->rcap, p->nreplies + 1, sizeof(*p->replies));
  if (!r) { /* the goal stays in the await set: a claim retries it */
    lf_warn(p->id, "out of memory for a model reply");
    unlink_call(p, t->token);
    return;
  }
  p->replies = r;
  r = &p->replies[p->nreplies++];
  r->call = t->token;
  lf_worker_observe(p->w, "llm_call_seconds",
                    (double)(lf_monotonic_ms() - r->call->started_ms) / 1000.0,
                    1);
  r->status = t->status;
  r->len = t->len;
  r->body = malloc(t->len + 1);
  r->error = strdup(t->error ? t->error : "");
  if (r->body) {
    memcpy(r->body, t->body, t->len);
    r->body[t->len] = '\0';
  }
}

static void clear_replies(planner_t *p) {
  for (size_t i = 0; i < p->nreplies; i++) {
    unlink_call(p, p->replies[i].call);
    free(p->replies[i].body);
    free(p->replies[i].error);
  }
  p->nreplies = 0;
}

static lf_err_t conclude(planner_t *p, lf_goal_slot_t *s, const reply_t *r,
                         char *errstr, size_t errstr_size) {
  lf_thought_t t = {r->call, r->status, r->body ? r->body : "",
                    r->body ? r->len : 0, r->error};
  lf_plan_t plan = {0};
  if (!s->state || s->version != r->call->version ||
      strcmp(lf_goal_status(s->state), "thinking")) {
    lf_worker_count(p->w, "llm_replies_stale", 1);
    return LF_OK; /* the goal moved on without this call */
  }
  if (r->status != 200) {
    lf_worker_count(p->w, "llm_failures", 1);
    lf_warn(p->id, "goal %s: model call failed: %s", s->goal_id, r->error);
  }
  lf_err_t err =
      p->be->conclude(p->bctx, s->state, &t, &plan, errstr, errstr_size);
  lf_worker_count(p->w, "llm_tokens", (uint64_t)plan.tokens);
  if (!err)
    err = mark(p, s, lf_goal_apply(s->state, &plan, errstr, errstr_size));
  lf_plan_clear(&plan);
  s->await = lf_now_ms() + (s->think ? p->lease_ms : p->publish_ms);
  return err;
}

static lf_err_t conclude_all(planner_t *p, lf_out_t *out, char *errstr,
                             size_t errstr_size) {
  lf_err_t err = LF_OK;
  clear_slots(p);
  for (size_t i = 0; i < p->nreplies && !err; i++)
    if (!slot(p, p->replies[i].call->goal_id, 0))
      err = nomem(errstr, errstr_size);
  if (!err)
    err =
        lf_goal_store_load(p->redis, p->slots, p->nslots, errstr, errstr_size);
  for (size_t i = 0; i < p->nreplies && !err; i++)
    err = conclude(p, &p->slots[i], &p->replies[i], errstr, errstr_size);
  clear_replies(p);
  if (err) { /* the goals stay in the await set: claims retry them */
    clear_slots(p);
    return err;
  }
  return settle(p, out, errstr, errstr_size);
}

static lf_err_t idle(void *ctx, int wake_fd, int timeout_ms, lf_out_t *out,
                     char *errstr, size_t errstr_size) {
  planner_t *p = ctx;
  start_calls(p);
  if (!p->be->poll) {
    struct pollfd pfd = {wake_fd, POLLIN, 0};
    poll(&pfd, 1, timeout_ms);
    return LF_OK;
  }
  if (p->be->poll(p->bctx, wake_fd, timeout_ms, on_thought, p)) {
    snprintf(errstr, errstr_size, "model calls: libcurl failed");
    return LF_ERR_IO;
  }
  return p->nreplies ? conclude_all(p, out, errstr, errstr_size) : LF_OK;
}

/* Model calls moved on while the worker waits for the brokers: replies
 * that arrive are kept for idle, not left to time out. */
static lf_err_t pump(void *ctx, char *errstr, size_t errstr_size) {
  planner_t *p = ctx;
  if (p->be->poll && p->be->poll(p->bctx, -1, 0, on_thought, p)) {
    snprintf(errstr, errstr_size, "model calls: libcurl failed");
    return LF_ERR_IO;
  }
  return LF_OK;
}

static int listed(const call_t *c, const lf_goal_slot_t *s) {
  for (; c; c = c->next)
    if (!strcmp(c->goal_id, s->goal_id) && c->version == s->version)
      return 1;
  return 0;
}

static int in_flight_here(const planner_t *p, const lf_goal_slot_t *s) {
  return listed(p->calls, s) || listed(p->waiting, s);
}

/* A goal nobody renewed: call the model again, or republish. */
static void take_over(planner_t *p, lf_goal_slot_t *s, int64_t now,
                      int64_t claimed) {
  s->await = claimed;
  if (s->state && in_flight_here(p, s))
    return; /* renewed as it should be: leave it */
  s->release = 1;
  if (!s->state)
    return;
  lf_worker_count(p->w, "goals_taken_over", 1);
  if (!strcmp(lf_goal_status(s->state), "thinking")) {
    /* a new version: a late reply to the old call is stale */
    s->dirty = s->think = 1;
    s->await = now + p->lease_ms;
    s->release = 0;
  } else {
    s->publish = 1;
  }
}

static lf_err_t renew(planner_t *p, int64_t score, char *errstr,
                      size_t errstr_size) {
  size_t n = p->nwaiting, i = 0;
  for (call_t *c = p->calls; c; c = c->next)
    n++;
  const char **ids = n ? calloc(n, sizeof(*ids)) : NULL;
  if (n && !ids)
    return nomem(errstr, errstr_size);
  for (call_t *c = p->calls; c; c = c->next)
    ids[i++] = c->goal_id;
  for (call_t *c = p->waiting; c; c = c->next)
    ids[i++] = c->goal_id;
  lf_err_t err =
      lf_goal_store_renew(p->redis, ids, n, score, errstr, errstr_size);
  free(ids);
  return err;
}

static lf_err_t tick(void *ctx, lf_out_t *out, char *errstr,
                     size_t errstr_size) {
  planner_t *p = ctx;
  int64_t now = lf_now_ms();
  char **ids = NULL;
  size_t n = 0;
  if (!p->be->think)
    return LF_OK; /* nothing waits outside Kafka */
  lf_err_t err = renew(p, now + p->lease_ms, errstr, errstr_size);
  if (!err)
    err = lf_goal_store_claim(p->redis, now, p->lease_ms, 64, &ids, &n, errstr,
                              errstr_size);
  clear_slots(p);
  for (size_t i = 0; i < n && !err; i++)
    if (!slot(p, ids[i], 1))
      err = nomem(errstr, errstr_size);
  for (size_t i = 0; i < n; i++)
    free(ids[i]);
  free(ids);
  if (!err && p->nslots)
    err =
        lf_goal_store_load(p->redis, p->slots, p->nslots, errstr, errstr_size);
  if (err || !p->nslots) {
    clear_slots(p);
    return err;
  }
  for (size_t i = 0; i < p->nslots; i++)
    take_over(p, &p->slots[i], now, now + p->lease_ms);
  return settle(p, out, errstr, errstr_size);
}

static void planner_close(void *ctx) {
  planner_t *p = ctx;
  char why[200];
  /* Calls abandoned here are due at once for the planners that remain. */
  if ((p->calls || p->waiting) && renew(p, lf_now_ms(), why, sizeof(why)))
    lf_warn(p->id, "handing over model calls in flight: %s", why);
  clear_replies(p);
  while (p->calls)
    unlink_call(p, p->calls);
  while (p->waiting) {
    call_t *c = p->waiting;
    p->waiting = c->next;
    free_call(c);
  }
  clear_slots(p);
  free(p->slots);
  free(p->replies);
  p->be->destroy(p->bctx);
  lf_redis_destroy(p->redis);
  lf_keyring_destroy(p->obs_keys);
  free(p);
}

const lf_handler_t lf_planner_handler = {
    .kind = "planner",
    .group_key = "planner.group.id",
    .topics = topics,
    .ntopics = 2,
    .init = init,
    .handle = handle,
    .delivered = delivered,
    .tick = tick,
    .idle = idle,
    .pump = pump,
    .close = planner_close,
};
