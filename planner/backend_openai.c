/* The openai backend: a ReAct loop with a model behind an OpenAI-compatible
 * chat completions API. The conversation lives in the goal's state
 * ("messages"), so any planner can continue it; the model sees the
 * catalog's actions as tools, proposes tool calls (several at once when it
 * wants), and each observation, the guard's rejections included, goes back
 * as the `role: tool` message answering its call. A reply that cannot be
 * used is explained to the model once; the second ends the goal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "catalog.h"
#include "llm_client.h"
#include "openai.h"
#include "util.h"

static const char default_prompt[] =
    "You are the planner of lamfleet. Achieve the user's goal by calling the "
    "tools provided; call several at once when they do not depend on each "
    "other. Every call is checked by a guard before it runs: when one is "
    "rejected, its reasons say exactly which argument was wrong, so correct "
    "it rather than repeating it. When the goal is achieved, or cannot be, "
    "reply without calling a tool: that reply is the goal's final answer.";

typedef struct oa {
  lf_llm_client_t *client;
  json_t *tools, *extra;
  char *model, *prompt;
} oa_t;

static void oa_destroy(void *ctx) {
  oa_t *o = ctx;
  if (!o)
    return;
  lf_llm_client_destroy(o->client);
  json_decref(o->tools);
  json_decref(o->extra);
  free(o->model);
  free(o->prompt);
  free(o);
}

/* The key from planner.openai.api.key.file, else from the variable named
 * by planner.openai.api.key.env; "" when neither gives one. */
static char *api_key(const lf_conf_t *conf, char *errstr, size_t errstr_size) {
  char path[1024];
  if (!*lf_conf_get(conf, "planner.openai.api.key.file")) {
    const char *v = getenv(lf_conf_get(conf, "planner.openai.api.key.env"));
    return strdup(v ? v : "");
  }
  if (!lf_conf_get_path(conf, "planner.openai.api.key.file", path,
                        sizeof(path))) {
    snprintf(errstr, errstr_size, "planner.openai.api.key.file: too long");
    return NULL;
  }
  char *key = lf_read_file(path, NULL, errstr, errstr_size);
  if (key) /* a trailing newline is not part of the key */
    key[strcspn(key, "\r\n")] = '\0';
  return key;
}

static lf_err_t parse_extra(oa_t *o, const char *text, char *errstr,
                            size_t errstr_size) {
  json_error_t jerr;
  if (!*text)
    return (o->extra = json_object()) ? LF_OK : LF_ERR_NOMEM;
  o->extra = json_loads(text, 0, &jerr);
  if (!json_is_object(o->extra)) {
    snprintf(errstr, errstr_size, "planner.openai.extra: not a JSON object%s%s",
             o->extra ? "" : ": ", o->extra ? "" : jerr.text);
    return LF_ERR_INVALID;
  }
  return LF_OK;
}

static lf_err_t oa_init(const lf_conf_t *conf, void **ctxp, char *errstr,
                        size_t errstr_size) {
  oa_t *o = calloc(1, sizeof(*o));
  lf_catalog_t *cat = NULL;
  char *key = NULL;
  lf_err_t err = LF_ERR_INVALID;
  const char *prompt = lf_conf_get(conf, "planner.openai.system.prompt");
  if (!o)
    goto nomem;
  if (!*lf_conf_get(conf, "planner.openai.model")) {
    snprintf(errstr, errstr_size,
             "planner.openai.model is required by the openai backend");
    goto fail;
  }
  if (!(o->model = strdup(lf_conf_get(conf, "planner.openai.model"))) ||
      !(o->prompt = strdup(*prompt ? prompt : default_prompt)))
    goto nomem;
  if ((err = parse_extra(o, lf_conf_get(conf, "planner.openai.extra"), errstr,
                         errstr_size)) ||
      (err = LF_ERR_INVALID,
       !(cat = lf_catalog_load_conf(conf, "planner.catalog", errstr,
                                    errstr_size))) ||
      !(key = api_key(conf, errstr, errstr_size)))
    goto fail;
  if (!(o->tools = lf_openai_tools(cat)))
    goto nomem;
  lf_llm_client_opts_t co = {
      .base_url = lf_conf_get(conf, "planner.openai.base.url"),
      .api_key = key,
      .timeout_ms = (long)lf_conf_get_int(conf, "planner.openai.timeout.ms"),
      .max_retries = (int)lf_conf_get_int(conf, "planner.openai.retries"),
      .backoff_ms = (long)lf_conf_get_int(conf, "planner.openai.backoff.ms"),
      .backoff_max_ms =
          (long)lf_conf_get_int(conf, "planner.openai.backoff.max.ms")};
  if (!(o->client = lf_llm_client_new(&co, errstr, errstr_size)))
    goto fail;
  memset(key, 0, strlen(key));
  free(key);
  lf_catalog_destroy(cat);
  *ctxp = o;
  return LF_OK;
nomem:
  snprintf(errstr, errstr_size, "out of memory");
  err = LF_ERR_NOMEM;
fail:
  if (key)
    memset(key, 0, strlen(key));
  free(key);
  lf_catalog_destroy(cat);
  oa_destroy(o);
  return err;
}

static lf_err_t oa_start(void *ctx, json_t *state, const lf_goal_t *g,
                         char *errstr, size_t errstr_size) {
  oa_t *o = ctx;
  char *user = NULL;
  size_t n = strlen(g->text) + strlen(g->context_json) + 16;
  if ((user = malloc(n)))
    snprintf(user, n, "%s%s%s", g->text,
             *g->context_json ? "\n\nContext: " : "", g->context_json);
  json_t *msgs =
      user ? json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "system", "content",
                       o->prompt, "role", "user", "content", user)
           : NULL;
  free(user);
  if (!msgs || json_object_set_new(state, "messages", msgs)) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  return LF_OK;
}

static lf_err_t append(json_t *state, json_t *msg, char *errstr,
                       size_t errstr_size) {
  if (!msg || json_array_append_new(json_object_get(state, "messages"), msg)) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  return LF_OK;
}

/* Where call_id stands among the tool calls of the assistant message asst;
 * -1 when it is not one of them. */
static long call_index(const json_t *asst, const char *call_id) {
  const json_t *calls = json_object_get(asst, "tool_calls"), *c;
  size_t i;
  json_array_foreach(calls, i, c) {
    const char *id = json_string_value(json_object_get(c, "id"));
    if (id && call_id && !strcmp(id, call_id))
      return (long)i;
  }
  return -1;
}

static int is_tool(const json_t *m) {
  const char *role = json_string_value(json_object_get(m, "role"));
  return role && !strcmp(role, "tool");
}

/* Tool answers stand in the order of the calls they answer, whatever
 * order their observations arrived in: some chat templates insist on it,
 * and the same step always reads the same to the model. */
static lf_err_t oa_observe(void *ctx, json_t *state, const char *call_id,
                           const lf_observation_t *obs, char *errstr,
                           size_t errstr_size) {
  (void)ctx;
  json_t *msgs = json_object_get(state, "messages");
  json_t *msg = lf_openai_tool_message(call_id, obs);
  size_t end = json_array_size(msgs), first = end, at = end;
  while (first > 0 && is_tool(json_array_get(msgs, first - 1)))
    first--;
  const json_t *asst = first ? json_array_get(msgs, first - 1) : NULL;
  long mine = call_index(asst, call_id);
  for (at = mine >= 0 ? first : end; at < end; at++) {
    const json_t *m = json_array_get(msgs, at);
    if (call_index(
            asst, json_string_value(json_object_get(m, "tool_call_id"))) > mine)
      break;
  }
  if (!msg || json_array_insert_new(msgs, at, msg)) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  return LF_OK;
}

/* The model decides everything: every move asks it. */
static lf_err_t oa_decide(void *ctx, json_t *state, lf_plan_t *plan,
                          char *errstr, size_t errstr_size) {
  (void)ctx;
  (void)state;
  (void)errstr;
  (void)errstr_size;
  plan->kind = LF_PLAN_THINK;
  return LF_OK;
}

static lf_err_t oa_think(void *ctx, void *token, const json_t *state,
                         char *errstr, size_t errstr_size) {
  oa_t *o = ctx;
  json_t *req = lf_openai_request(o->model, json_object_get(state, "messages"),
                                  o->tools, o->extra);
  char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
  json_decref(req);
  if (!body) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  lf_err_t err =
      lf_llm_client_submit(o->client, body, token, errstr, errstr_size);
  free(body);
  return err;
}

typedef struct relay {
  lf_thought_fn done;
  void *arg;
} relay_t;

static void on_result(void *arg, const lf_llm_result_t *r) {
  relay_t *rl = arg;
  lf_thought_t t = {r->opaque, r->status, r->body, r->len, r->error};
  rl->done(rl->arg, &t);
}

static lf_err_t oa_poll(void *ctx, int wake_fd, int timeout_ms,
                        lf_thought_fn done, void *arg) {
  oa_t *o = ctx;
  relay_t rl = {done, arg};
  return lf_llm_client_step(o->client, wake_fd, timeout_ms, on_result, &rl);
}

/* A reply that cannot be used (its explanation already in the
 * conversation): the model is asked again once; the second ends the goal. */
static lf_err_t unusable(json_t *state, const char *why, lf_plan_t *plan,
                         char *errstr, size_t errstr_size) {
  char text[700];
  lf_plan_clear(plan);
  if (json_is_true(json_object_get(state, "warned"))) {
    snprintf(text, sizeof(text),
             "the model's reply could not be used twice: %s", why);
    return lf_plan_finish(plan, LF_RESULT_FAILED, text);
  }
  if (json_object_set_new(state, "warned", json_true())) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  plan->kind = LF_PLAN_THINK;
  return LF_OK;
}

/* Valid calls are proposed; an invalid one is answered at once with why,
 * which counts as the one warning. */
static lf_err_t conclude_reply(json_t *state, lf_openai_reply_t *r,
                               lf_plan_t *plan, char *errstr,
                               size_t errstr_size) {
  lf_err_t err = append(state, json_incref(r->message), errstr, errstr_size);
  const char *bad = NULL;
  if (!err && !r->ncalls)
    return lf_plan_finish(plan, LF_RESULT_COMPLETED,
                          r->content ? r->content : "");
  for (size_t i = 0; i < r->ncalls && !err; i++) {
    lf_openai_call_t *c = &r->calls[i];
    if (c->valid)
      err =
          lf_plan_add_call(plan, c->id, c->name, c->arguments, "", r->content);
    else if (!(err =
                   append(state,
                          json_pack("{s:s,s:s,s:s}", "role", "tool",
                                    "tool_call_id", c->id, "content", c->error),
                          errstr, errstr_size)))
      bad = c->error;
  }
  if (err || !bad)
    return err;
  if (json_is_true(json_object_get(state, "warned")) || !plan->ncalls)
    return unusable(state, bad, plan, errstr, errstr_size);
  return json_object_set_new(state, "warned", json_true()) ? LF_ERR_NOMEM
                                                           : LF_OK;
}

static lf_err_t oa_conclude(void *ctx, json_t *state, const lf_thought_t *t,
                            lf_plan_t *plan, char *errstr, size_t errstr_size) {
  char why[600];
  lf_openai_reply_t r;
  (void)ctx;
  if (t->status != 200) {
    snprintf(why, sizeof(why), "the model call failed: %s%s%.300s", t->error,
             t->len ? ": " : "", t->body ? t->body : "");
    return lf_plan_finish(plan, LF_RESULT_FAILED, why);
  }
  if (lf_openai_parse_reply(t->body, t->len, &r, why, sizeof(why))) {
    char note[700];
    snprintf(note, sizeof(note),
             "Your last reply could not be used (%s). Reply again: call tools, "
             "or answer without calling one.",
             why);
    lf_err_t err =
        append(state, json_pack("{s:s,s:s}", "role", "user", "content", note),
               errstr, errstr_size);
    return err ? err : unusable(state, why, plan, errstr, errstr_size);
  }
  plan->tokens =
      r.total_tokens ? r.total_tokens : r.prompt_tokens + r.completion_tokens;
  lf_err_t err = conclude_reply(state, &r, plan, errstr, errstr_size);
  lf_openai_reply_clear(&r);
  return err;
}

static size_t oa_inflight(void *ctx) {
  return lf_llm_client_inflight(((oa_t *)ctx)->client);
}

const lf_planner_backend_t lf_backend_openai = {
    .name = "openai",
    .init = oa_init,
    .destroy = oa_destroy,
    .start = oa_start,
    .observe = oa_observe,
    .decide = oa_decide,
    .think = oa_think,
    .poll = oa_poll,
    .conclude = oa_conclude,
    .inflight = oa_inflight,
};
