#include "action_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "netguard.h"
#include "util.h"

typedef struct job {
  lf_http_call_t *call;
  CURL *easy;
  struct curl_slist *headers;
  char *url, *body, *answer, *location;
  size_t len;
  int truncated, attempts, hops;
  long retry_after_ms;
  int64_t due_ms; /* > 0: waiting to start */
  json_t *captured;
  lf_netguard_t guard;
} job_t;

static size_t on_data(char *p, size_t size, size_t n, void *opaque) {
  job_t *j = opaque;
  size_t len = size * n, room = j->call->binding->max_response - j->len;
  if (len > room) { /* keep reading: the rest is dropped, and said so */
    j->truncated = 1;
    len = room;
  }
  char *grown = len ? realloc(j->answer, j->len + len + 1) : j->answer;
  if (len && !grown)
    return 0;
  j->answer = grown;
  if (len) {
    memcpy(j->answer + j->len, p, len);
    j->len += len;
    j->answer[j->len] = '\0';
  }
  return size * n;
}

static int named(const json_t *names, const char *h, size_t n) {
  size_t i;
  const json_t *v;
  json_array_foreach(names, i, v) {
    const char *s = json_string_value(v);
    if (s && strlen(s) == n && !strncasecmp(s, h, n))
      return 1;
  }
  return 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *opaque) {
  job_t *j = opaque;
  size_t len = size * n, name = strcspn(p, ":");
  if (name >= len)
    return len;
  const char *v = p + name + 1;
  size_t vlen = len - name - 1;
  while (vlen && (*v == ' ' || *v == '\t'))
    v++, vlen--;
  while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
    vlen--;
  char key[64];
  if (name >= sizeof(key))
    return len;
  for (size_t i = 0; i < name; i++)
    key[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
  key[name] = '\0';
  if (!strcmp(key, "location")) {
    free(j->location);
    j->location = strndup(v, vlen);
  }
  if (!strcmp(key, "retry-after"))
    j->retry_after_ms = strtol(v, NULL, 10) * 1000;
  if (named(j->call->binding->response_headers, p, name))
    json_object_set_new(j->captured, key, json_stringn(v, vlen));
  return len;
}

static void reset(job_t *j) {
  if (j->easy)
    curl_easy_cleanup(j->easy);
  curl_slist_free_all(j->headers);
  free(j->answer);
  free(j->location);
  json_decref(j->captured);
  j->easy = NULL;
  j->headers = NULL;
  j->answer = j->location = NULL;
  j->len = 0;
  j->truncated = 0;
  j->retry_after_ms = -1;
  j->captured = json_object();
}

static int fail(job_t *j, const char *fmt, const char *what) {
  snprintf(j->call->error, sizeof(j->call->error), fmt, what);
  return -1;
}

static int add_headers(job_t *j) {
  const lf_http_binding_t *b = j->call->binding;
  char line[1024], why[256];
  const char *name;
  const json_t *v;
  snprintf(line, sizeof(line), "Idempotency-Key: %s", j->call->idempotency_key);
  if (!(j->headers = curl_slist_append(NULL, line)) ||
      !curl_slist_append(j->headers, "Content-Type: application/json"))
    return fail(j, "%s", "out of memory");
  json_object_foreach((json_t *)b->headers, name, v) {
    char *value = json_is_string(v) ? lf_http_env_expand(json_string_value(v),
                                                         why, sizeof(why))
                                    : NULL;
    if (!value)
      return fail(j, "%s", json_is_string(v) ? why : "header is not a string");
    snprintf(line, sizeof(line), "%s: %s", name, value);
    memset(value, 0, strlen(value)); /* secrets do not linger */
    free(value);
    if (!curl_slist_append(j->headers, line))
      return fail(j, "%s", "out of memory");
  }
  memset(line, 0, sizeof(line));
  return 0;
}

/* A fresh transfer of j->url. */
static int start(CURLM *m, job_t *j) {
  const lf_http_binding_t *b = j->call->binding;
  char why[256];
  reset(j);
  j->due_ms = 0;
  j->attempts++;
  if (lf_url_allowed(j->url, b->allow, b->nallow, why, sizeof(why)))
    return fail(j, "refused: %s", why);
  j->guard =
      (lf_netguard_t){(const char *const *)b->internal, b->ninternal, ""};
  CURL *e = j->easy = curl_easy_init();
  if (!e || !j->captured || add_headers(j))
    return j->call->error[0] ? -1 : fail(j, "%s", "out of memory");
  int body = strcmp(b->method, "GET") && strcmp(b->method, "DELETE");
  if (curl_easy_setopt(e, CURLOPT_URL, j->url) ||
      lf_netguard_install(e, &j->guard) ||
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, b->method) ||
      (body && curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->body)) ||
      curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->headers) ||
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, b->timeout_ms) ||
      curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
      curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data) ||
      curl_easy_setopt(e, CURLOPT_WRITEDATA, j) ||
      curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) ||
      curl_easy_setopt(e, CURLOPT_HEADERDATA, j) ||
      curl_easy_setopt(e, CURLOPT_PRIVATE, j) || curl_multi_add_handle(m, e))
    return fail(j, "%s", "cannot start the HTTP call");
  return 0;
}

/* The response as the observation's result. */
static void conclude(job_t *j, long status) {
  json_error_t jerr;
  json_t *body = j->len && !j->truncated
                     ? json_loadb(j->answer, j->len, JSON_DECODE_ANY, &jerr)
                     : NULL;
  if (!body)
    body = json_stringn(j->answer ? j->answer : "", j->len);
  j->call->result =
      json_pack("{s:i,s:O,s:o,s:b}", "status", (int)status, "headers",
                j->captured, "body", body, "truncated", j->truncated);
  if (!lf_http_binding_accepts(j->call->binding, status))
    snprintf(j->call->error, sizeof(j->call->error), "HTTP %ld: %.300s", status,
             j->answer ? j->answer : "");
}

/* A redirect the binding allows: the next hop, or -1 with the reason. */
static int follow(job_t *j) {
  CURLU *u = curl_url();
  char *next = NULL;
  int ok = u && !curl_url_set(u, CURLUPART_URL, j->url, 0) &&
           !curl_url_set(u, CURLUPART_URL, j->location, 0) &&
           !curl_url_get(u, CURLUPART_URL, &next, 0);
  curl_url_cleanup(u);
  if (!ok) {
    curl_free(next);
    return fail(j, "refused: a redirect to \"%.200s\"", j->location);
  }
  free(j->url);
  j->url = strdup(next);
  curl_free(next);
  j->hops++;
  return j->url ? 0 : fail(j, "%s", "out of memory");
}

/* What to do with a finished transfer: 0 done, 1 started again. */
static int finished(CURLM *m, job_t *j, CURLcode code) {
  const lf_http_binding_t *b = j->call->binding;
  long status = 0;
  if (code == CURLE_OK)
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300 && status < 400 && j->location && b->redirects > j->hops)
    return follow(j) ? 0 : (start(m, j) ? 0 : 1);
  if ((code != CURLE_OK && !j->guard.refused[0]) || status == 429 ||
      status >= 500) {
    if (j->attempts <= b->retries) {
      long d = j->retry_after_ms >= 0 ? j->retry_after_ms
                                      : b->backoff_ms << (j->attempts - 1);
      j->due_ms = lf_monotonic_ms() + d;
      return 1;
    }
  }
  if (j->guard.refused[0])
    fail(j, "%s", j->guard.refused);
  else if (code != CURLE_OK)
    snprintf(j->call->error, sizeof(j->call->error), "%s after %d attempt%s",
             curl_easy_strerror(code), j->attempts, j->attempts > 1 ? "s" : "");
  else
    conclude(j, status);
  return 0;
}

static lf_err_t setup(job_t *jobs, lf_http_call_t *calls, size_t n, CURLM *m) {
  for (size_t i = 0; i < n; i++) {
    job_t *j = &jobs[i];
    j->call = &calls[i];
    calls[i].error[0] = '\0';
    calls[i].result = NULL;
    char why[256];
    if (!(j->url = lf_url_render(calls[i].binding->url, calls[i].args, why,
                                 sizeof(why)))) {
      fail(j, "%s", why);
      continue;
    }
    if (!(j->body = json_dumps(calls[i].args, JSON_COMPACT)))
      return LF_ERR_NOMEM;
    start(m, j);
  }
  return LF_OK;
}

/* Steps the transfers until every job is done. */
static lf_err_t drive(CURLM *m, job_t *jobs, size_t n) {
  for (;;) {
    int running = 0, left = 0, waiting = 0;
    int64_t now = lf_monotonic_ms(), wait = 100;
    for (size_t i = 0; i < n; i++)
      if (jobs[i].due_ms && jobs[i].due_ms <= now && start(m, &jobs[i]))
        jobs[i].due_ms = 0;
      else if (jobs[i].due_ms) {
        waiting++;
        if (jobs[i].due_ms - now < wait)
          wait = jobs[i].due_ms - now;
      }
    if (curl_multi_perform(m, &running))
      return LF_ERR_IO;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m, &left)))
      if (msg->msg == CURLMSG_DONE) {
        job_t *j = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&j);
        curl_multi_remove_handle(m, j->easy);
        waiting += finished(m, j, msg->data.result);
      }
    if (!running && !waiting)
      return LF_OK;
    if (curl_multi_poll(m, NULL, 0, (int)wait, NULL))
      return LF_ERR_IO;
  }
}

lf_err_t lf_http_run(lf_http_call_t *calls, size_t n, char *errstr,
                     size_t errstr_size) {
  CURLM *m = curl_multi_init();
  job_t *jobs = calloc(n ? n : 1, sizeof(*jobs));
  lf_err_t err = m && jobs ? setup(jobs, calls, n, m) : LF_ERR_NOMEM;
  if (!err)
    err = drive(m, jobs, n);
  for (size_t i = 0; jobs && i < n; i++) {
    if (jobs[i].easy)
      curl_multi_remove_handle(m, jobs[i].easy);
    reset(&jobs[i]);
    json_decref(jobs[i].captured);
    curl_easy_cleanup(jobs[i].easy);
    free(jobs[i].url);
    free(jobs[i].body);
  }
  free(jobs);
  curl_multi_cleanup(m);
  if (err)
    snprintf(errstr, errstr_size, "HTTP actions: %s",
             err == LF_ERR_NOMEM ? "out of memory" : "libcurl failed");
  return err;
}
