/* The OpenAI-compatible wire format of the planner's `openai` backend:
 * tools from both catalog formats, the request body, replies with tool
 * calls (parallel, invalid arguments), final answers, bad bodies, and the
 * tool message that carries the guard's reasons back to the model. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "llm_client.h"
#include "llm_server.h"
#include "openai.h"
#include "support.h"
#include "util.h"

START_TEST(tools_from_both_catalog_formats) {
  char errstr[512];
  lf_catalog_t *cat =
      lf_catalog_load(LF_EXAMPLES_DIR "/payments.json", errstr, sizeof(errstr));
  ck_assert_msg(cat != NULL, "%s", errstr);
  json_t *tools = lf_openai_tools(cat);
  ck_assert_uint_eq(json_array_size(tools), lf_catalog_count(cat));
  /* an OpenAI tool and an MCP tool come out in the same shape */
  for (size_t i = 0; i < json_array_size(tools); i++) {
    json_t *t = json_array_get(tools, i);
    ck_assert_str_eq(json_string_value(json_object_get(t, "type")), "function");
    json_t *fn = json_object_get(t, "function");
    ck_assert_str_eq(json_string_value(json_object_get(fn, "name")),
                     lf_catalog_at(cat, i)->name);
    ck_assert(json_is_object(json_object_get(fn, "parameters")));
  }
  json_t *refund = json_object_get(json_array_get(tools, 1), "function");
  ck_assert_str_eq(json_string_value(json_object_get(refund, "name")),
                   "refund_order");
  ck_assert_ptr_nonnull(json_object_get(
      json_object_get(json_object_get(refund, "parameters"), "properties"),
      "order_id"));
  json_t *messages = json_pack("[{s:s,s:s}]", "role", "user", "content", "hi");
  json_t *extra = json_pack("{s:f,s:b,s:s}", "temperature", 0.2,
                            "parallel_tool_calls", 1, "model", "not-this");
  json_t *req = lf_openai_request("m1", messages, tools, extra);
  ck_assert_str_eq(json_string_value(json_object_get(req, "model")), "m1");
  ck_assert_ptr_eq(json_object_get(req, "tools"), tools);
  ck_assert(json_real_value(json_object_get(req, "temperature")) == 0.2);
  ck_assert(json_is_true(json_object_get(req, "parallel_tool_calls")));
  json_decref(req);
  json_decref(extra);
  json_decref(messages);
  json_decref(tools);
  lf_catalog_destroy(cat);
}
END_TEST

START_TEST(replies) {
  char errstr[512];
  lf_openai_reply_t r;
  const char *two =
      "{\"choices\":[{\"finish_reason\":\"tool_calls\",\"message\":{\"role\":"
      "\"assistant\",\"content\":null,\"tool_calls\":["
      "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
      "\"pay_invoice\",\"arguments\":\"{\\\"amount\\\": 5}\"}},"
      "{\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":"
      "\"lookup_customer\",\"arguments\":\"{\\\"email\\\": \"}}]}}],"
      "\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":20,"
      "\"total_tokens\":120}}";
  ck_assert_int_eq(
      lf_openai_parse_reply(two, strlen(two), &r, errstr, sizeof(errstr)),
      LF_OK);
  ck_assert_uint_eq(r.ncalls, 2);
  ck_assert_str_eq(r.calls[0].id, "call_1");
  ck_assert_str_eq(r.calls[0].name, "pay_invoice");
  ck_assert(r.calls[0].valid);
  ck_assert(!r.calls[1].valid); /* invented, broken JSON: told, not fatal */
  ck_assert_msg(strstr(r.calls[1].error, "not valid JSON"), "%s",
                r.calls[1].error);
  ck_assert_int_eq(r.total_tokens, 120);
  ck_assert_str_eq(r.finish_reason, "tool_calls");
  ck_assert_ptr_null(r.content);
  ck_assert_ptr_nonnull(json_object_get(r.message, "tool_calls"));
  lf_openai_reply_clear(&r);

  const char *done = "{\"choices\":[{\"finish_reason\":\"stop\",\"message\":"
                     "{\"role\":\"assistant\",\"content\":\"All paid.\"}}]}";
  ck_assert_int_eq(
      lf_openai_parse_reply(done, strlen(done), &r, errstr, sizeof(errstr)),
      LF_OK);
  ck_assert_uint_eq(r.ncalls, 0);
  ck_assert_str_eq(r.content, "All paid.");
  lf_openai_reply_clear(&r);

  static const char *const bad[][2] = {
      {"<html>502</html>", "not JSON"},
      {"{\"error\":{\"message\":\"overloaded\"}}", "no choices[0].message"},
      {"{\"choices\":[{\"message\":{\"role\":\"assistant\"}}]}",
       "neither content nor tool calls"},
      {"{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{}}]}}]}",
       "needs an id and a function name"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ck_assert_int_ne(lf_openai_parse_reply(bad[i][0], strlen(bad[i][0]), &r,
                                           errstr, sizeof(errstr)),
                     LF_OK);
    ck_assert_msg(strstr(errstr, bad[i][1]), "%s: %s", bad[i][0], errstr);
    ck_assert_ptr_null(r.calls);
  }
}
END_TEST

START_TEST(tool_message_carries_the_reasons) {
  lf_observation_t o = LF_OBSERVATION_INIT;
  lf_reason_t reason = LF_REASON_INIT, *rs[1] = {&reason};
  o.goal_id = "g";
  o.action_id = "g:0";
  o.status = LF_OBS_REJECTED;
  o.error = "rejected by the guard";
  reason.code = "value_error";
  reason.path = "/amount";
  reason.message = "/amount: 2500 is greater than the maximum 1000";
  o.reasons = rs;
  o.n_reasons = 1;
  json_t *m = lf_openai_tool_message("call_1", &o);
  ck_assert_str_eq(json_string_value(json_object_get(m, "role")), "tool");
  ck_assert_str_eq(json_string_value(json_object_get(m, "tool_call_id")),
                   "call_1");
  json_t *content =
      json_loads(json_string_value(json_object_get(m, "content")), 0, NULL);
  ck_assert_str_eq(json_string_value(json_object_get(content, "status")),
                   "rejected");
  json_t *r0 = json_array_get(json_object_get(content, "reasons"), 0);
  ck_assert_str_eq(json_string_value(json_object_get(r0, "path")), "/amount");
  ck_assert_str_eq(json_string_value(json_object_get(r0, "message")),
                   reason.message);
  json_decref(content);
  json_decref(m);

  o.status = LF_OBS_SUCCEEDED;
  o.n_reasons = 0;
  o.error = "";
  o.result_json = "{\"paid\":true}";
  m = lf_openai_tool_message("call_2", &o);
  content =
      json_loads(json_string_value(json_object_get(m, "content")), 0, NULL);
  ck_assert(json_is_true(
      json_object_get(json_object_get(content, "result"), "paid")));
  json_decref(content);
  json_decref(m);
}
END_TEST

typedef struct buf {
  char *data;
  size_t len;
} buf_t;

static size_t collect(char *p, size_t size, size_t n, void *opaque) {
  buf_t *b = opaque;
  char *grown = realloc(b->data, b->len + size * n + 1);
  ck_assert_ptr_nonnull(grown);
  memcpy(grown + b->len, p, size * n);
  b->data = grown;
  b->len += size * n;
  b->data[b->len] = '\0';
  return size * n;
}

/* POSTs body to the server; returns the status, the answer in *out. */
static long post(lf_llm_server_t *s, const char *body, buf_t *out,
                 char *retry_after, size_t ra_size) {
  char url[128];
  struct curl_slist *h =
      curl_slist_append(NULL, "Authorization: Bearer sk-test");
  h = curl_slist_append(h, "Content-Type: application/json");
  snprintf(url, sizeof(url), "%s/chat/completions", lf_llm_server_url(s));
  CURL *c = curl_easy_init();
  ck_assert_ptr_nonnull(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
  long status = 0;
  struct curl_header *ra = NULL;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (retry_after &&
      curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &ra) == CURLHE_OK)
    snprintf(retry_after, ra_size, "%s", ra->value);
  curl_easy_cleanup(c);
  curl_slist_free_all(h);
  return status;
}

/* The scripted server the planner's tests will talk to, exercised with a
 * plain HTTP client and the codec. */
START_TEST(scripted_server_round_trip) {
  char errstr[512], ra[32] = "";
  lf_llm_server_t *s = lf_llm_server_start();
  lf_llm_server_push(s, 429, "{\"error\":{\"message\":\"slow down\"}}", 0, "2");
  lf_llm_server_push_call(s, "call_9", "pay_invoice", "{\"amount\":5}");
  lf_llm_server_push_answer(s, "done");
  json_t *messages =
      json_pack("[{s:s,s:s}]", "role", "user", "content", "pay invoice 5");
  json_t *req = lf_openai_request("m1", messages, NULL, NULL);
  char *body = json_dumps(req, JSON_COMPACT);
  buf_t out = {0};
  ck_assert_int_eq(post(s, body, &out, ra, sizeof(ra)), 429);
  ck_assert_str_eq(ra, "2");
  free(out.data);
  out = (buf_t){0};
  ck_assert_int_eq(post(s, body, &out, NULL, 0), 200);
  lf_openai_reply_t r;
  ck_assert_int_eq(
      lf_openai_parse_reply(out.data, out.len, &r, errstr, sizeof(errstr)),
      LF_OK);
  ck_assert_uint_eq(r.ncalls, 1);
  ck_assert_str_eq(r.calls[0].id, "call_9");
  ck_assert(r.calls[0].valid);
  lf_openai_reply_clear(&r);
  free(out.data);
  out = (buf_t){0};
  ck_assert_int_eq(post(s, body, &out, NULL, 0), 200);
  ck_assert_int_eq(
      lf_openai_parse_reply(out.data, out.len, &r, errstr, sizeof(errstr)),
      LF_OK);
  ck_assert_str_eq(r.content, "done");
  ck_assert_int_eq(r.total_tokens, 60);
  lf_openai_reply_clear(&r);
  free(out.data);
  out = (buf_t){0};
  ck_assert_int_eq(post(s, body, &out, NULL, 0), 500); /* script ran out */
  free(out.data);

  lf_llm_request_t *reqs;
  size_t n = lf_llm_server_requests(s, &reqs);
  ck_assert_uint_eq(n, 4);
  ck_assert_str_eq(reqs[0].path, "/v1/chat/completions");
  ck_assert_str_eq(reqs[1].authorization, "Bearer sk-test");
  ck_assert_str_eq(reqs[2].body, body);
  lf_llm_requests_free(reqs, n);
  free(body);
  json_decref(req);
  json_decref(messages);
  lf_llm_server_stop(s);
}
END_TEST

typedef struct results {
  lf_llm_result_t v[64];
  char bodies[64][512];
  size_t n;
} results_t;

static void on_done(void *ctx, const lf_llm_result_t *r) {
  results_t *rs = ctx;
  ck_assert_uint_lt(rs->n, 64);
  rs->v[rs->n] = *r;
  snprintf(rs->bodies[rs->n], sizeof(rs->bodies[0]), "%s", r->body);
  rs->v[rs->n].body = rs->bodies[rs->n];
  rs->n++;
}

static void run_until(lf_llm_client_t *c, results_t *rs, size_t n,
                      int timeout_ms) {
  int64_t deadline = lf_monotonic_ms() + timeout_ms;
  while (rs->n < n && lf_monotonic_ms() < deadline)
    ck_assert_int_eq(lf_llm_client_step(c, -1, 20, on_done, rs), LF_OK);
}

START_TEST(client_retries_honour_retry_after) {
  char errstr[256];
  lf_llm_server_t *s = lf_llm_server_start();
  lf_llm_client_opts_t o = {
      lf_llm_server_url(s), "sk-secret", 2000, 3, 50, 1000};
  lf_llm_client_t *c = lf_llm_client_new(&o, errstr, sizeof(errstr));
  ck_assert_msg(c != NULL, "%s", errstr);
  results_t *rs = calloc(1, sizeof(*rs));
  /* 429 (Retry-After: 1) then 503 then success */
  lf_llm_server_push(s, 429, "{}", 0, "1");
  lf_llm_server_push(s, 503, "{}", 0, NULL);
  lf_llm_server_push_answer(s, "ok");
  int64_t t0 = lf_monotonic_ms();
  ck_assert_int_eq(lf_llm_client_submit(c, "{\"model\":\"m\"}", (void *)1,
                                        errstr, sizeof(errstr)),
                   LF_OK);
  run_until(c, rs, 1, 10000);
  ck_assert_uint_eq(rs->n, 1);
  ck_assert_int_eq(rs->v[0].status, 200);
  ck_assert_int_eq(rs->v[0].attempts, 3);
  ck_assert_ptr_eq(rs->v[0].opaque, (void *)1);
  ck_assert_int_ge(lf_monotonic_ms() - t0, 1000); /* waited as told */
  ck_assert_msg(strstr(rs->v[0].body, "\"ok\""), "%s", rs->v[0].body);
  ck_assert_uint_eq(lf_llm_client_inflight(c), 0);
  lf_llm_request_t *reqs;
  size_t n = lf_llm_server_requests(s, &reqs);
  ck_assert_uint_eq(n, 3);
  ck_assert_str_eq(reqs[0].authorization, "Bearer sk-secret");
  lf_llm_requests_free(reqs, n);

  /* a 400 is not retried; giving up after the retries says why */
  rs->n = 0;
  lf_llm_server_push(s, 400, "{\"error\":\"bad\"}", 0, NULL);
  for (int i = 0; i < 4; i++)
    lf_llm_server_push(s, 500, "{}", 0, NULL);
  lf_llm_client_submit(c, "{}", (void *)2, errstr, sizeof(errstr));
  run_until(c, rs, 1, 10000);
  lf_llm_client_submit(c, "{}", (void *)3, errstr, sizeof(errstr));
  run_until(c, rs, 2, 20000);
  ck_assert_uint_eq(rs->n, 2);
  ck_assert_int_eq(rs->v[0].status, 400);
  ck_assert_int_eq(rs->v[0].attempts, 1);
  ck_assert_int_eq(rs->v[1].status, 500);
  ck_assert_int_eq(rs->v[1].attempts, 4);
  ck_assert_msg(strstr(rs->v[1].error, "HTTP 500 after 4 attempts") &&
                    !strstr(rs->v[1].error, "sk-secret"),
                "%s", rs->v[1].error);
  free(rs);
  lf_llm_client_destroy(c);
  lf_llm_server_stop(s);
}
END_TEST

START_TEST(client_runs_calls_concurrently) {
  char errstr[256];
  lf_llm_server_t *s = lf_llm_server_start();
  lf_llm_client_opts_t o = {lf_llm_server_url(s), "", 300, 0, 50, 1000};
  lf_llm_client_t *c = lf_llm_client_new(&o, errstr, sizeof(errstr));
  results_t *rs = calloc(1, sizeof(*rs));
  /* 20 answers that each take 200 ms, and one that takes too long */
  for (int i = 0; i < 20; i++)
    lf_llm_server_push(s, 200, "{\"choices\":[]}", 200, NULL);
  int64_t t0 = lf_monotonic_ms();
  for (int i = 0; i < 20; i++)
    lf_llm_client_submit(c, "{}", NULL, errstr, sizeof(errstr));
  ck_assert_uint_eq(lf_llm_client_inflight(c), 20);
  run_until(c, rs, 20, 10000);
  ck_assert_uint_eq(rs->n, 20);
  ck_assert_int_lt(lf_monotonic_ms() - t0, 2000); /* not 20 x 200 ms */
  for (size_t i = 0; i < rs->n; i++)
    ck_assert_int_eq(rs->v[i].status, 200);
  rs->n = 0;
  lf_llm_server_push(s, 200, "{}", 1000, NULL);
  lf_llm_client_submit(c, "{}", NULL, errstr, sizeof(errstr));
  run_until(c, rs, 1, 5000);
  ck_assert_int_eq(rs->v[0].status, 0);
  ck_assert_msg(strstr(rs->v[0].error, "imeout") ||
                    strstr(rs->v[0].error, "timed out"),
                "%s", rs->v[0].error);
  free(rs);
  lf_llm_client_destroy(c);
  lf_llm_server_stop(s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("openai");
  TCase *tc = tcase_create("openai");
  tcase_add_test(tc, tools_from_both_catalog_formats);
  tcase_add_test(tc, replies);
  tcase_add_test(tc, tool_message_carries_the_reasons);
  tcase_add_test(tc, scripted_server_round_trip);
  tcase_add_test(tc, client_retries_honour_retry_after);
  tcase_add_test(tc, client_runs_calls_concurrently);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
