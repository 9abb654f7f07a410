#include "planner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "playbook.h"
#include "redis.h"
#include "util.h"

/* A goal touched by the batch: its state as loaded, then as changed. */
typedef struct slot {
  const char *goal_id; /* borrowed from the batch's records */
  json_t *state;       /* NULL: unknown goal */
  int dirty;
} slot_t;

typedef struct planner {
  lf_worker_t *w;
  const char *id;
  lf_playbook_t *playbook;
  lf_redis_t *redis;
  int64_t default_max_steps, ttl_s;
  slot_t *slots;
  size_t nslots, cap;
} planner_t;

static const lf_topic_t topics[] = {LF_TOPIC_GOALS, LF_TOPIC_OBSERVATIONS};

static lf_err_t init(lf_worker_t *w, void **ctxp, char *errstr,
                     size_t errstr_size) {
  const lf_conf_t *conf = lf_worker_conf(w);
  char path[1024];
  planner_t *p = calloc(1, sizeof(*p));
  if (!p) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  p->w = w;
  p->id = lf_worker_id(w);
  p->default_max_steps = lf_conf_get_int(conf, "planner.max.steps");
  p->ttl_s = lf_conf_get_int(conf, "planner.state.ttl.s");
  if (!lf_conf_get_path(conf, "planner.playbook", path, sizeof(path))) {
    snprintf(errstr, errstr_size, "planner.playbook: path too long");
    goto fail;
  }
  if (!(p->playbook = lf_playbook_load(path, errstr, errstr_size)) ||
      !(p->redis = lf_redis_new(conf, errstr, errstr_size)))
    goto fail;
  *ctxp = p;
  return LF_OK;
fail:
  lf_playbook_destroy(p->playbook);
  free(p);
  return LF_ERR_INVALID;
}

static void clear_slots(planner_t *p) {
  for (size_t i = 0; i < p->nslots; i++)
    json_decref(p->slots[i].state);
  p->nslots = 0;
}

static void planner_close(void *ctx) {
  planner_t *p = ctx;
  clear_slots(p);
  free(p->slots);
  lf_redis_destroy(p->redis);
  lf_playbook_destroy(p->playbook);
  free(p);
}

static const char *msg_goal_id(const lf_msg_t *m) {
  return m->topic == LF_TOPIC_GOALS
             ? ((const lf_goal_t *)m->pb)->goal_id
             : ((const lf_observation_t *)m->pb)->goal_id;
}

static slot_t *find_slot(planner_t *p, const char *goal_id) {
  for (size_t i = 0; i < p->nslots; i++)
    if (!strcmp(p->slots[i].goal_id, goal_id))
      return &p->slots[i];
  return NULL;
}

/* One pipelined round trip loads the state of every goal in the batch. */
static lf_err_t load_states(planner_t *p, const lf_msg_t *msgs, size_t n,
                            char *errstr, size_t errstr_size) {
  const char *prefix = lf_redis_prefix(p->redis);
  lf_err_t err = LF_OK;
  clear_slots(p);
  if (n > p->cap) {
    slot_t *s = realloc(p->slots, n * sizeof(*s));
    if (!s) {
      snprintf(errstr, errstr_size, "out of memory");
      return LF_ERR_NOMEM;
    }
    p->slots = s;
    p->cap = n;
  }
  for (size_t i = 0; i < n; i++) {
    const char *id = msg_goal_id(&msgs[i]);
    if (find_slot(p, id))
      continue;
    p->slots[p->nslots++] = (slot_t){.goal_id = id};
    if ((err = lf_redis_append(p->redis, errstr, errstr_size, "GET %sgoal:%s",
                               prefix, id)))
      return err;
  }
  for (size_t i = 0; i < p->nslots; i++) {
    redisReply *r;
    if ((err = lf_redis_reply(p->redis, &r, errstr, errstr_size))) {
      lf_redis_discard(p->redis);
      return err;
    }
    if (r->type == REDIS_REPLY_STRING) {
      p->slots[i].state = json_loadb(r->str, r->len, 0, NULL);
      if (!p->slots[i].state)
        lf_warn(p->id, "goal %s: unreadable state in Redis, starting over",
                p->slots[i].goal_id);
    }
    freeReplyObject(r);
  }
  return LF_OK;
}

static const char *sget(const json_t *state, const char *key) {
  const char *s = json_string_value(json_object_get(state, key));
  return s ? s : "";
}

static int64_t iget(const json_t *state, const char *key) {
  return json_integer_value(json_object_get(state, key));
}

static void vars_of(const slot_t *s, lf_play_vars_t *v) {
  v->goal_id = s->goal_id;
  v->tenant = sget(s->state, "tenant");
  v->text = sget(s->state, "text");
  v->captures = json_object_get(s->state, "captures");
  v->step = (unsigned)iget(s->state, "step");
}

static lf_err_t finish(planner_t *p, const lf_msg_t *cause, slot_t *s,
                       int status, const char *answer, const char *error,
                       lf_out_t *out, char *errstr, size_t errstr_size) {
  lf_result_t r = LF_RESULT_INIT;
  r.goal_id = (char *)s->goal_id;
  r.tenant = (char *)sget(s->state, "tenant");
  r.status = status;
  r.answer = (char *)(answer ? answer : "");
  r.error = (char *)(error ? error : "");
  r.steps_used = (uint32_t)iget(s->state, "step");
  r.finished_at_ms = lf_now_ms();
  json_object_set_new(s->state, "status", json_string("done"));
  s->dirty = 1;
  lf_info(p->id, "goal %s %s%s%s", s->goal_id,
          lf_proto_result_status_name(status), error ? ": " : "",
          error ? error : "");
  lf_worker_count(p->w, "goals_finished", 1);
  return lf_out_produce(out, cause, LF_TOPIC_RESULTS, s->goal_id, &r.base,
                        errstr, errstr_size);
}

/* Proposes the goal's current step, or ends the goal when it has none left
 * or has hit a limit. Deterministic: proposing again after a redelivery
 * yields the same action id and content. */
static lf_err_t advance(planner_t *p, const lf_msg_t *cause, slot_t *s,
                        lf_out_t *out, char *errstr, size_t errstr_size) {
  json_t *st = s->state;
  int play = lf_playbook_find(p->playbook, sget(st, "play"));
  unsigned step = (unsigned)iget(st, "step");
  int64_t deadline = iget(st, "deadline_ms");
  lf_play_vars_t vars;
  char why[160];
  vars_of(s, &vars);
  if (play < 0) {
    snprintf(why, sizeof(why), "play \"%s\" is no longer in the playbook",
             sget(st, "play"));
    return finish(p, cause, s, LF_RESULT_FAILED, NULL, why, out, errstr,
                  errstr_size);
  }
  if (step >= lf_playbook_steps(p->playbook, play)) {
    char *answer = lf_playbook_render_answer(p->playbook, play, &vars);
    lf_err_t err = finish(p, cause, s, LF_RESULT_COMPLETED, answer, NULL, out,
                          errstr, errstr_size);
    free(answer);
    return err;
  }
  if (step >= (unsigned)iget(st, "max_steps")) {
    snprintf(why, sizeof(why), "step limit of %lld reached",
             (long long)iget(st, "max_steps"));
    return finish(p, cause, s, LF_RESULT_EXHAUSTED, NULL, why, out, errstr,
                  errstr_size);
  }
  if (deadline && lf_now_ms() > deadline)
    return finish(p, cause, s, LF_RESULT_EXHAUSTED, NULL, "deadline passed",
                  out, errstr, errstr_size);

  lf_play_step_t ps;
  if (lf_playbook_render_step(p->playbook, play, step, &vars, &ps)) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  char action_id[300];
  snprintf(action_id, sizeof(action_id), "%s:%u", s->goal_id, step);
  lf_action_t a = LF_ACTION_INIT;
  a.action_id = action_id;
  a.goal_id = (char *)s->goal_id;
  a.tenant = (char *)vars.tenant;
  a.step = step;
  a.name = (char *)ps.action;
  a.arguments_json = ps.arguments_json;
  /* A step is one intended effect of its goal: without a key of its own
   * it is deduplicated per goal and step, not across goals. */
  a.idempotency_key = *ps.idempotency_key ? ps.idempotency_key : action_id;
  a.rationale = ps.rationale;
  a.proposer = (char *)p->id;
  a.context_json = (char *)sget(s->state, "context");
  json_object_set_new(st, "action_id", json_string(action_id));
  s->dirty = 1;
  lf_err_t err = lf_out_produce(out, cause, LF_TOPIC_PROPOSED, s->goal_id,
                                &a.base, errstr, errstr_size);
  lf_play_step_clear(&ps);
  return err;
}

static lf_err_t on_goal(planner_t *p, const lf_msg_t *m, lf_out_t *out,
                        char *errstr, size_t errstr_size) {
  const lf_goal_t *g = (const lf_goal_t *)m->pb;
  slot_t *s = find_slot(p, g->goal_id);
  if (s->state) /* a redelivered goal: re-propose where it stands */
    return !strcmp(sget(s->state, "status"), "running")
               ? advance(p, m, s, out, errstr, errstr_size)
               : LF_OK;
  json_t *captures = NULL;
  int play = lf_playbook_match(p->playbook, g->text, &captures);
  s->state = json_pack(
      "{s:s, s:s, s:s, s:i, s:I, s:I, s:s, s:o}", "tenant",
      *g->tenant ? g->tenant : "default", "text", g->text, "play",
      play >= 0 ? lf_playbook_name(p->playbook, play) : "", "step", 0,
      "max_steps",
      (json_int_t)(g->max_steps ? g->max_steps : p->default_max_steps),
      "deadline_ms", (json_int_t)g->deadline_ms, "status", "running",
      "captures", captures ? captures : json_array());
  if (s->state && *g->context_json &&
      json_object_set_new(s->state, "context", json_string(g->context_json))) {
    json_decref(s->state);
    s->state = NULL;
  }
  if (!s->state) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  lf_worker_count(p->w, "goals_started", 1);
  if (play < 0)
    return finish(p, m, s, LF_RESULT_FAILED, NULL,
                  "no playbook matches the goal's text", out, errstr,
                  errstr_size);
  return advance(p, m, s, out, errstr, errstr_size);
}

static lf_err_t on_observation(planner_t *p, const lf_msg_t *m, lf_out_t *out,
                               char *errstr, size_t errstr_size) {
  const lf_observation_t *o = (const lf_observation_t *)m->pb;
  slot_t *s = find_slot(p, o->goal_id);
  if (!s->state) {
    lf_warn(p->id, "observation for unknown goal %s ignored", o->goal_id);
    lf_worker_count(p->w, "observations_orphaned", 1);
    return LF_OK;
  }
  /* Only the awaited action moves a goal: repeats and late copies don't. */
  if (strcmp(sget(s->state, "status"), "running") ||
      strcmp(sget(s->state, "action_id"), o->action_id)) {
    lf_debug(p->id, "goal %s: observation of %s not awaited", o->goal_id,
             o->action_id);
    return LF_OK;
  }
  char why[700];
  switch (o->status) {
  case LF_OBS_SUCCEEDED:
  case LF_OBS_DUPLICATE: /* it already ran: the step is done */
    json_object_set_new(s->state, "step",
                        json_integer(iget(s->state, "step") + 1));
    s->dirty = 1;
    return advance(p, m, s, out, errstr, errstr_size);
  default:
    snprintf(why, sizeof(why), "step %u (%s) %s: %s", o->step, o->action_name,
             lf_proto_obs_status_name(o->status),
             *o->error ? o->error : "no reason given");
    json_object_set_new(s->state, "step",
                        json_integer(iget(s->state, "step") + 1));
    return finish(p, m, s, LF_RESULT_FAILED, NULL, why, out, errstr,
                  errstr_size);
  }
}

static lf_err_t handle(void *ctx, const lf_msg_t *msgs, size_t n, lf_out_t *out,
                       char *errstr, size_t errstr_size) {
  planner_t *p = ctx;
  lf_err_t err = load_states(p, msgs, n, errstr, errstr_size);
  for (size_t i = 0; i < n && !err; i++)
    err = msgs[i].topic == LF_TOPIC_GOALS
              ? on_goal(p, &msgs[i], out, errstr, errstr_size)
              : on_observation(p, &msgs[i], out, errstr, errstr_size);
  return err;
}

/* State is written only after the outputs it records are acknowledged. */
static lf_err_t delivered(void *ctx, char *errstr, size_t errstr_size) {
  planner_t *p = ctx;
  const char *prefix = lf_redis_prefix(p->redis);
  lf_err_t err = LF_OK;
  size_t sent = 0;
  for (size_t i = 0; i < p->nslots && !err; i++) {
    slot_t *s = &p->slots[i];
    char *json = s->dirty ? json_dumps(s->state, JSON_COMPACT) : NULL;
    if (s->dirty && !json) {
      snprintf(errstr, errstr_size, "out of memory");
      err = LF_ERR_NOMEM;
    } else if (json) {
      err = lf_redis_append(p->redis, errstr, errstr_size,
                            "SET %sgoal:%s %s EX %lld", prefix, s->goal_id,
                            json, (long long)p->ttl_s);
      sent += !err;
    }
    free(json);
  }
  for (size_t i = 0; i < sent && !err; i++) {
    redisReply *r;
    if (!(err = lf_redis_reply(p->redis, &r, errstr, errstr_size)))
      freeReplyObject(r);
  }
  if (err)
    lf_redis_discard(p->redis);
  clear_slots(p);
  return err;
}

const lf_handler_t lf_planner_handler = {
    .kind = "planner",
    .group_key = "planner.group.id",
    .topics = topics,
    .ntopics = 2,
    .init = init,
    .handle = handle,
    .delivered = delivered,
    .close = planner_close,
};
