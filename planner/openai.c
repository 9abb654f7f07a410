#include "openai.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *lf_openai_tools(const lf_catalog_t *cat) {
  json_t *tools = json_array();
  for (size_t i = 0; tools && i < lf_catalog_count(cat); i++) {
    const lf_catalog_action_t *a = lf_catalog_at(cat, i);
    json_t *params = a->schema ? json_incref(lf_schema_source(a->schema))
                               : json_pack("{s:s}", "type", "object");
    /* "o" hands the reference over, also when packing fails */
    json_t *fn =
        params ? json_pack("{s:s,s:s,s:o}", "name", a->name, "description",
                           a->description ? a->description : "", "parameters",
                           params)
               : NULL;
    json_t *tool =
        fn ? json_pack("{s:s,s:o}", "type", "function", "function", fn) : NULL;
    if (!tool || json_array_append_new(tools, tool)) {
      json_decref(tools);
      return NULL;
    }
  }
  return tools;
}

json_t *lf_openai_request(const char *model, json_t *messages, json_t *tools,
                          const json_t *extra) {
  json_t *req = json_object();
  const char *key;
  json_t *v;
  if (!req)
    return NULL;
  json_object_foreach((json_t *)extra, key, v) {
    if (json_object_set(req, key, v)) {
      json_decref(req);
      return NULL;
    }
  }
  if (json_object_set_new(req, "model", json_string(model)) ||
      json_object_set(req, "messages", messages) ||
      (tools && json_array_size(tools) &&
       json_object_set(req, "tools", tools))) {
    json_decref(req);
    return NULL;
  }
  return req;
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

static lf_err_t parse_call(json_t *tc, size_t i, lf_openai_call_t *c,
                           char *errstr, size_t errstr_size) {
  json_t *fn = json_object_get(tc, "function");
  const char *id = json_string_value(json_object_get(tc, "id"));
  const char *name = json_string_value(json_object_get(fn, "name"));
  json_t *args = json_object_get(fn, "arguments");
  if (!id || !name) {
    snprintf(errstr, errstr_size,
             "tool_calls[%zu]: a tool call needs an id and a function name", i);
    return LF_ERR_INVALID;
  }
  c->id = strdup(id);
  c->name = strdup(name);
  /* The API sends arguments as JSON text; some servers send an object. */
  c->arguments = json_is_string(args) ? strdup(json_string_value(args))
                 : args               ? json_dumps(args, JSON_COMPACT)
                                      : strdup("{}");
  if (!c->id || !c->name || !c->arguments) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  json_error_t jerr;
  json_t *parsed = json_loads(c->arguments, JSON_REJECT_DUPLICATES, &jerr);
  c->valid = json_is_object(parsed);
  if (!parsed)
    snprintf(c->error, sizeof(c->error),
             "the arguments of %.64s are not valid JSON: %.160s at column %d",
             name, jerr.text, jerr.column);
  else if (!c->valid)
    snprintf(c->error, sizeof(c->error),
             "the arguments of %.64s must be a JSON object", name);
  json_decref(parsed);
  return LF_OK;
}

lf_err_t lf_openai_parse_reply(const char *body, size_t len,
                               lf_openai_reply_t *out, char *errstr,
                               size_t errstr_size) {
  json_error_t jerr;
  memset(out, 0, sizeof(*out));
  json_t *root = json_loadb(body, len, 0, &jerr);
  json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
  json_t *msg = json_object_get(choice, "message");
  json_t *calls = json_object_get(msg, "tool_calls");
  json_t *content = json_object_get(msg, "content");
  lf_err_t err = LF_ERR_INVALID;
  if (!root) {
    snprintf(errstr, errstr_size, "response is not JSON: %s at column %d",
             jerr.text, jerr.column);
    goto done;
  }
  if (!json_is_object(msg)) {
    snprintf(errstr, errstr_size, "response has no choices[0].message");
    goto done;
  }
  if (!json_array_size(calls) && !json_is_string(content)) {
    snprintf(errstr, errstr_size,
             "the message has neither content nor tool calls");
    goto done;
  }
  json_t *usage = json_object_get(root, "usage");
  out->prompt_tokens =
      json_integer_value(json_object_get(usage, "prompt_tokens"));
  out->completion_tokens =
      json_integer_value(json_object_get(usage, "completion_tokens"));
  out->total_tokens =
      json_integer_value(json_object_get(usage, "total_tokens"));
  snprintf(out->finish_reason, sizeof(out->finish_reason), "%s",
           json_string_value(json_object_get(choice, "finish_reason"))
               ? json_string_value(json_object_get(choice, "finish_reason"))
               : "");
  out->message = json_incref(msg);
  out->content = dup_or_null(json_string_value(content));
  out->ncalls = json_array_size(calls);
  if (out->ncalls && !(out->calls = calloc(out->ncalls, sizeof(*out->calls)))) {
    snprintf(errstr, errstr_size, "out of memory");
    err = LF_ERR_NOMEM;
    goto done;
  }
  err = LF_OK;
  for (size_t i = 0; i < out->ncalls && !err; i++)
    err = parse_call(json_array_get(calls, i), i, &out->calls[i], errstr,
                     errstr_size);
done:
  json_decref(root);
  if (err)
    lf_openai_reply_clear(out);
  return err;
}

void lf_openai_reply_clear(lf_openai_reply_t *r) {
  for (size_t i = 0; i < r->ncalls && r->calls; i++) {
    free(r->calls[i].id);
    free(r->calls[i].name);
    free(r->calls[i].arguments);
  }
  free(r->calls);
  free(r->content);
  json_decref(r->message);
  memset(r, 0, sizeof(*r));
}

json_t *lf_openai_tool_message(const char *tool_call_id,
                               const lf_observation_t *o) {
  json_t *body =
      json_pack("{s:s}", "status", lf_proto_obs_status_name(o->status));
  json_t *result = *o->result_json ? json_loads(o->result_json, 0, NULL) : NULL;
  if (body && result)
    json_object_set_new(body, "result", result);
  else
    json_decref(result);
  if (body && *o->error)
    json_object_set_new(body, "error", json_string(o->error));
  if (body && *o->duplicate_of)
    json_object_set_new(body, "duplicate_of", json_string(o->duplicate_of));
  json_t *reasons = o->n_reasons ? json_array() : NULL;
  for (size_t i = 0; reasons && i < o->n_reasons; i++)
    json_array_append_new(reasons, json_pack("{s:s,s:s,s:s}", "code",
                                             o->reasons[i]->code, "path",
                                             o->reasons[i]->path, "message",
                                             o->reasons[i]->message));
  if (body && reasons)
    json_object_set_new(body, "reasons", reasons);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  json_decref(body);
  json_t *msg = text ? json_pack("{s:s,s:s,s:s}", "role", "tool",
                                 "tool_call_id", tool_call_id, "content", text)
                     : NULL;
  free(text);
  return msg;
}
