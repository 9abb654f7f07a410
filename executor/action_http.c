#include "action_http.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "body.h"
#include "curl_loop.h"
#include "http_retry.h"
#include "lf_text.h"
#include "netguard.h"
#include "util.h"

typedef struct job {
  struct job *next, *prev; /* the driver's calls */
  struct job *anext;       /* on the attention list (see due()) */
  int attn;
  lf_http_actions_t *d;
  lf_http_call_t *call;
  CURL *easy;
  struct curl_slist *headers;
  char *url, *body, *answer, *location;
  size_t len;
  int truncated, attempts, hops;
  long retry_after_ms;
  int64_t due_ms; /* > 0: waiting to start */
  json_t *captured;
  size_t header_bytes;
  lf_netguard_t guard;
} job_t;

/* Connections are kept alive per binding, never across bindings: an
 * address is checked when a connection opens (netguard), against the
 * binding's own allow_internal, so a connection one binding may open must
 * not be reused by another that may not. */
typedef struct pool {
  const lf_http_binding_t *binding;
  CURLSH *conns;
  /* Easy handles of finished calls, reset for the next call of this
   * binding: a fresh handle per call was a tenth of the executor's CPU
   * (allocated buffers, freed again). */
  CURL **spare;
  size_t nspare, spare_cap;
} pool_t;

/* Spare handles kept per binding, at most. */
#define SPARE_MAX 4096

struct lf_http_actions {
  lf_curl_loop_t *loop;
  pool_t *pools;
  size_t npools;
  job_t *jobs;
  size_t n;
  /* Calls not in libcurl's hands: waiting to retry, or unable to start.
   * Only these are looked at between transfers, so a step costs the same
   * with 2 or 2000 calls in flight. */
  job_t *attention;
  size_t max_header_bytes;
};

static void need_attention(job_t *j) {
  if (j->attn)
    return;
  j->attn = 1;
  j->anext = j->d->attention;
  j->d->attention = j;
}

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
  if ((j->header_bytes += len) > j->d->max_header_bytes) {
    j->truncated = -1; /* fails the transfer, reported as too large */
    return 0;
  }
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
  if (!strcmp(key, "retry-after")) {
    char value[64];
    snprintf(value, sizeof(value), "%.*s", (int)(vlen < 63 ? vlen : 63), v);
    j->retry_after_ms = lf_http_retry_after_ms(value);
  }
  if (named(j->call->binding->response_headers, p, name))
    json_object_set_new(j->captured, key, json_stringn(v, vlen));
  return len;
}

static pool_t *find_pool(lf_http_actions_t *d, const lf_http_binding_t *b) {
  for (size_t i = 0; i < d->npools; i++)
    if (d->pools[i].binding == b)
      return &d->pools[i];
  return NULL;
}

static void drop_easy(job_t *j) {
  pool_t *p = j->easy ? find_pool(j->d, j->call->binding) : NULL;
  if (j->easy)
    lf_curl_loop_remove(j->d->loop, j->easy);
  CURL **grown =
      p && p->nspare < SPARE_MAX
          ? lf_grow(p->spare, &p->spare_cap, p->nspare + 1, sizeof(*grown))
          : NULL;
  if (grown) {
    curl_easy_reset(j->easy); /* every option is set again per call */
    p->spare = grown;
    p->spare[p->nspare++] = j->easy;
  } else if (j->easy) {
    curl_easy_cleanup(j->easy);
  }
  j->easy = NULL;
}

static void reset(job_t *j) {
  drop_easy(j);
  curl_slist_free_all(j->headers);
  free(j->answer);
  free(j->location);
  json_decref(j->captured);
  j->headers = NULL;
  j->answer = j->location = NULL;
  j->len = 0;
  j->header_bytes = 0;
  j->truncated = 0;
  j->retry_after_ms = -1;
  j->captured = json_object();
}

static int fail(job_t *j, const char *fmt, const char *what) {
  snprintf(j->call->error, sizeof(j->call->error), fmt, what);
  return -1;
}

/* A header line "name: value", refused (never sent, never cut) when the
 * value could split the request (CR, LF or any control character), the
 * name is not an HTTP token, or the line does not fit. */
static const char *header_line(char *line, size_t size, const char *name,
                               const char *value) {
  static const char token[] = "!#$%&'*+-.^_`|~0123456789"
                              "abcdefghijklmnopqrstuvwxyz"
                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  if (!*name || name[strspn(name, token)])
    return "its name is not an HTTP token";
  if (lf_text_has_control(value, strlen(value)))
    return "its value holds a control character (CR, LF, ...)";
  if ((size_t)snprintf(line, size, "%s: %s", name, value) >= size)
    return "it is too long";
  return NULL;
}

static int add_headers(job_t *j) {
  const lf_http_binding_t *b = j->call->binding;
  char line[8192], why[256];
  const char *name, *bad;
  const json_t *v;
  if ((bad = header_line(line, sizeof(line), "Idempotency-Key",
                         j->call->idempotency_key)))
    return fail(j, "refused: the Idempotency-Key header: %s", bad);
  if (!(j->headers = curl_slist_append(NULL, line)) ||
      !curl_slist_append(j->headers, "Content-Type: application/json"))
    return fail(j, "%s", "out of memory");
  json_object_foreach((json_t *)b->headers, name, v) {
    char *value = json_is_string(v) ? lf_http_env_expand(json_string_value(v),
                                                         why, sizeof(why))
                                    : NULL;
    if (!value) {
      char msg[320];
      snprintf(msg, sizeof(msg), "header %.40s: %s", name,
               json_is_string(v) ? why : "not a string");
      return fail(j, "%s", msg);
    }
    bad = header_line(line, sizeof(line), name, value);
    memset(value, 0, strlen(value)); /* secrets do not linger */
    free(value);
    if (bad) {
      char msg[320];
      lf_text_clean(why, sizeof(why), name, strlen(name));
      snprintf(msg, sizeof(msg), "refused: header %.60s: %s", why, bad);
      memset(line, 0, sizeof(line));
      return fail(j, "%s", msg);
    }
    if (!curl_slist_append(j->headers, line))
      return fail(j, "%s", "out of memory");
  }
  memset(line, 0, sizeof(line));
  return 0;
}

static pool_t *pool(lf_http_actions_t *d, const lf_http_binding_t *b) {
  pool_t *found = find_pool(d, b);
  if (found)
    return found;
  pool_t *grown = realloc(d->pools, (d->npools + 1) * sizeof(*grown));
  if (!grown)
    return NULL;
  d->pools = grown;
  CURLSH *sh = curl_share_init();
  if (!sh || curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT)) {
    curl_share_cleanup(sh);
    return NULL;
  }
  d->pools[d->npools] = (pool_t){b, sh, NULL, 0, 0};
  return &d->pools[d->npools++];
}

static int configure(job_t *j) {
  const lf_http_binding_t *b = j->call->binding;
  char why[256];
  if (lf_url_allowed(j->url, b->allow, b->nallow, why, sizeof(why)))
    return fail(j, "refused: %s", why);
  j->guard =
      (lf_netguard_t){(const char *const *)b->internal, b->ninternal, ""};
  pool_t *p = pool(j->d, b);
  CURL *e = j->easy = p && p->nspare ? p->spare[--p->nspare] : curl_easy_init();
  CURLSH *conns = p ? p->conns : NULL;
  if (!e || !conns || !j->captured || add_headers(j))
    return j->call->error[0] ? -1 : fail(j, "%s", "out of memory");
  int body = strcmp(b->method, "GET") && strcmp(b->method, "DELETE");
  if (curl_easy_setopt(e, CURLOPT_URL, j->url) ||
      curl_easy_setopt(e, CURLOPT_SHARE, conns) ||
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
      curl_easy_setopt(e, CURLOPT_PRIVATE, j) ||
      lf_curl_loop_add(j->d->loop, e))
    return fail(j, "%s", "cannot start the HTTP call");
  return 0;
}

/* A fresh transfer of j->url; -1 (no transfer) with the call's error. */
static int start(job_t *j) {
  reset(j);
  j->due_ms = 0;
  j->attempts++;
  if (!configure(j))
    return 0;
  drop_easy(j);
  return -1;
}

/* The response as the observation's result. */
static void conclude(job_t *j, long status) {
  json_error_t jerr;
  json_t *body = j->len && !j->truncated
                     ? json_loadb(j->answer, j->len, JSON_DECODE_ANY, &jerr)
                     : NULL;
  if (!body) { /* text as it came, bytes that are not UTF-8 replaced */
    size_t n;
    char *text = lf_utf8_repair(j->answer ? j->answer : "", j->len, &n);
    body = text ? json_stringn(text, n) : NULL;
    free(text);
  }
  j->call->result =
      body ? json_pack("{s:i,s:O,s:o,s:b}", "status", (int)status, "headers",
                       j->captured, "body", body, "truncated", j->truncated)
           : NULL;
  if (!j->call->result) /* the status still says what the server did */
    j->call->result =
        json_pack("{s:i,s:b}", "status", (int)status, "truncated", 1);
  if (!lf_http_binding_accepts(j->call->binding, status)) {
    char quoted[320];
    lf_text_clean(quoted, sizeof(quoted), j->answer ? j->answer : "", j->len);
    snprintf(j->call->error, sizeof(j->call->error), "HTTP %ld: %s", status,
             quoted);
  }
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
static int finished(job_t *j, CURLcode code) {
  const lf_http_binding_t *b = j->call->binding;
  long status = 0;
  if (code == CURLE_OK)
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300 && status < 400 && j->location && b->redirects > j->hops)
    return follow(j) ? 0 : (start(j) ? 0 : 1);
  /* Refused addresses and oversized headers are final, whatever curl
   * made of them. */
  if (lf_http_retry_transient(code, status) && !j->guard.refused[0] &&
      j->truncated >= 0 && j->attempts <= b->retries) {
    lf_http_retry_t p = {b->retries, b->backoff_ms, 0, 0};
    j->due_ms = lf_monotonic_ms() +
                lf_http_retry_delay(&p, j->attempts, j->retry_after_ms);
    return 1;
  }
  if (j->guard.refused[0])
    fail(j, "%s", j->guard.refused);
  else if (j->truncated < 0)
    snprintf(j->call->error, sizeof(j->call->error),
             "response headers over %zu bytes", j->d->max_header_bytes);
  else if (code != CURLE_OK)
    snprintf(j->call->error, sizeof(j->call->error), "%s after %d attempt%s",
             curl_easy_strerror(code), j->attempts, j->attempts > 1 ? "s" : "");
  else
    conclude(j, status);
  return 0;
}

lf_http_actions_t *lf_http_actions_new(size_t max_header_bytes, char *errstr,
                                       size_t errstr_size) {
  lf_http_actions_t *d = calloc(1, sizeof(*d));
  if (!d) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  d->max_header_bytes = max_header_bytes;
  if (!(d->loop = lf_curl_loop_new(errstr, errstr_size))) {
    free(d);
    return NULL;
  }
  return d;
}

static void job_free(job_t *j) {
  reset(j);
  json_decref(j->captured);
  free(j->url);
  free(j->body);
  free(j);
}

void lf_http_actions_destroy(lf_http_actions_t *d) {
  if (!d)
    return;
  while (d->jobs) {
    job_t *j = d->jobs;
    d->jobs = j->next;
    job_free(j);
  }
  lf_curl_loop_destroy(d->loop);
  for (size_t i = 0; i < d->npools; i++) {
    for (size_t k = 0; k < d->pools[i].nspare; k++)
      curl_easy_cleanup(d->pools[i].spare[k]);
    free(d->pools[i].spare);
    curl_share_cleanup(d->pools[i].conns);
  }
  free(d->pools);
  free(d);
}

size_t lf_http_actions_inflight(const lf_http_actions_t *d) {
  return d->n;
}

static int render_body(job_t *j) {
  char why[256];
  const json_t *tmpl = j->call->binding->body;
  json_t *body =
      tmpl ? lf_http_body_render(tmpl, j->call->args, why, sizeof(why)) : NULL;
  if (tmpl && !body)
    return fail(j, "%s", why), 0;
  j->body =
      json_dumps(body ? body : j->call->args, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(body);
  return j->body ? 1 : (fail(j, "%s", "out of memory"), 0);
}

lf_err_t lf_http_actions_submit(lf_http_actions_t *d, lf_http_call_t *call,
                                char *errstr, size_t errstr_size) {
  char why[256];
  job_t *j = calloc(1, sizeof(*j));
  if (!j) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  j->d = d;
  j->call = call;
  call->error[0] = '\0';
  call->result = NULL;
  if ((j->next = d->jobs))
    j->next->prev = j;
  d->jobs = j;
  d->n++;
  /* A call that cannot start finishes at the next step, with its reason. */
  if (!(j->url =
            lf_url_render(call->binding->url, call->args, why, sizeof(why))))
    fail(j, "%s", why);
  else if (render_body(j))
    start(j);
  if (!j->easy)
    need_attention(j);
  return LF_OK;
}

typedef struct step {
  lf_http_done_fn done;
  void *ctx;
} step_t;

static void report(lf_http_actions_t *d, job_t *j, const step_t *st) {
  *(j->prev ? &j->prev->next : &d->jobs) = j->next;
  if (j->next)
    j->next->prev = j->prev;
  d->n--;
  lf_http_call_t *call = j->call;
  job_free(j);
  st->done(st->ctx, call);
}

static void on_done(void *arg, CURL *e, CURLcode code) {
  const step_t *st = arg;
  job_t *j = NULL;
  curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
  if (!finished(j, code))
    report(j->d, j, st);
  else if (j->due_ms || !j->easy)
    need_attention(j);
}

/* Starts retries that fell due and reports calls that could not start;
 * returns how long the caller may wait for the next retry. */
static int due(lf_http_actions_t *d, int timeout_ms, const step_t *st) {
  int64_t now = lf_monotonic_ms();
  job_t *j = d->attention, *next;
  d->attention = NULL; /* those still waiting go back on it */
  for (; j; j = next) {
    next = j->anext;
    j->attn = 0;
    if (j->due_ms && j->due_ms <= now && start(j))
      j->due_ms = 0;
    if (!j->due_ms && !j->easy) {
      report(d, j, st);
    } else if (j->due_ms) {
      if (j->due_ms - now < timeout_ms)
        timeout_ms = (int)(j->due_ms - now);
      need_attention(j);
    }
  }
  return timeout_ms;
}

lf_err_t lf_http_actions_step(lf_http_actions_t *d, int wake_fd, int timeout_ms,
                              lf_http_done_fn done, void *ctx) {
  step_t st = {done, ctx};
  timeout_ms = due(d, timeout_ms, &st);
  return lf_curl_loop_step(d->loop, wake_fd, timeout_ms, on_done, &st);
}
