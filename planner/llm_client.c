#include "llm_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "curl_loop.h"
#include "http_retry.h"
#include "util.h"

typedef struct call {
  struct call *prev, *next; /* every call of the client */
  struct call *rnext;       /* the calls waiting for a retry */
  lf_llm_client_t *c;
  CURL *easy;
  void *opaque;
  char *body;
  char *answer;
  size_t len;
  int attempts;
  long retry_after_ms; /* from the last answer, -1: none */
  int64_t due_ms;      /* waiting for a retry until then; 0: running */
} call_t;

struct lf_llm_client {
  lf_llm_client_opts_t o;
  char url[1024];
  struct curl_slist *headers;
  lf_curl_loop_t *loop;
  call_t *calls, *retries;
  size_t n;
};

static size_t on_data(char *p, size_t size, size_t n, void *opaque) {
  call_t *k = opaque;
  char *grown = realloc(k->answer, k->len + size * n + 1);
  if (!grown)
    return 0; /* curl fails the transfer: reported as a transport error */
  memcpy(grown + k->len, p, size * n);
  k->answer = grown;
  k->len += size * n;
  k->answer[k->len] = '\0';
  return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *opaque) {
  call_t *k = opaque;
  size_t len = size * n;
  if (len > 12 && len < 64 && !strncasecmp(p, "Retry-After:", 12)) {
    char v[64];
    snprintf(v, sizeof(v), "%.*s", (int)(len - 12), p + 12);
    k->retry_after_ms = lf_http_retry_after_ms(v);
  }
  return len;
}

lf_llm_client_t *lf_llm_client_new(const lf_llm_client_opts_t *o, char *errstr,
                                   size_t errstr_size) {
  char auth[1024];
  lf_llm_client_t *c = calloc(1, sizeof(*c));
  if (!c) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  c->o = *o;
  snprintf(c->url, sizeof(c->url), "%s/chat/completions", o->base_url);
  c->headers = curl_slist_append(NULL, "Content-Type: application/json");
  if (c->headers && o->api_key && *o->api_key) {
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->api_key);
    struct curl_slist *h = curl_slist_append(c->headers, auth);
    c->headers = h ? h : NULL;
    memset(auth, 0, sizeof(auth));
  }
  if (!c->headers || !(c->loop = lf_curl_loop_new(errstr, errstr_size))) {
    if (!c->headers)
      snprintf(errstr, errstr_size, "out of memory");
    lf_llm_client_destroy(c);
    return NULL;
  }
  return c;
}

static void call_free(call_t *k) {
  if (k->easy) {
    lf_curl_loop_remove(k->c->loop, k->easy);
    curl_easy_cleanup(k->easy);
  }
  free(k->body);
  free(k->answer);
  free(k);
}

void lf_llm_client_destroy(lf_llm_client_t *c) {
  if (!c)
    return;
  while (c->calls) {
    call_t *k = c->calls;
    c->calls = k->next;
    call_free(k);
  }
  lf_curl_loop_destroy(c->loop);
  curl_slist_free_all(c->headers);
  free(c);
}

size_t lf_llm_client_inflight(const lf_llm_client_t *c) {
  return c->n;
}

/* (Re)starts a call's transfer now. */
static lf_err_t start(call_t *k, char *errstr, size_t errstr_size) {
  lf_llm_client_t *c = k->c;
  if (k->easy) {
    lf_curl_loop_remove(c->loop, k->easy);
    curl_easy_cleanup(k->easy);
  }
  free(k->answer);
  k->answer = NULL;
  k->len = 0;
  k->retry_after_ms = -1;
  k->due_ms = 0;
  k->attempts++;
  CURL *e = k->easy = curl_easy_init();
  if (!e || curl_easy_setopt(e, CURLOPT_URL, c->url) ||
      curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers) ||
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, k->body) ||
      curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data) ||
      curl_easy_setopt(e, CURLOPT_WRITEDATA, k) ||
      curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) ||
      curl_easy_setopt(e, CURLOPT_HEADERDATA, k) ||
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->o.timeout_ms) ||
      curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
      curl_easy_setopt(e, CURLOPT_PRIVATE, k) || lf_curl_loop_add(c->loop, e)) {
    snprintf(errstr, errstr_size, "cannot start an HTTP call");
    return LF_ERR_IO;
  }
  return LF_OK;
}

lf_err_t lf_llm_client_submit(lf_llm_client_t *c, const char *body,
                              void *opaque, char *errstr, size_t errstr_size) {
  call_t *k = calloc(1, sizeof(*k));
  if (!k || !(k->body = strdup(body))) {
    free(k);
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  k->c = c;
  k->opaque = opaque;
  lf_err_t err = start(k, errstr, errstr_size);
  if (err) {
    call_free(k);
    return err;
  }
  if ((k->next = c->calls))
    k->next->prev = k;
  c->calls = k;
  c->n++;
  return LF_OK;
}

static void unlink_call(lf_llm_client_t *c, call_t *k) {
  if (k->prev)
    k->prev->next = k->next;
  else
    c->calls = k->next;
  if (k->next)
    k->next->prev = k->prev;
  c->n--;
}

/* The wait before the next attempt: Retry-After when given, else
 * exponential backoff with full jitter (many planners retrying one model
 * server should not come back in step). */
static long retry_delay(const call_t *k) {
  const lf_llm_client_opts_t *o = &k->c->o;
  lf_http_retry_t p = {o->max_retries, o->backoff_ms, o->backoff_max_ms, 1};
  return lf_http_retry_delay(&p, k->attempts, k->retry_after_ms);
}

static void finish(call_t *k, CURLcode code, lf_llm_done_fn done, void *ctx) {
  lf_llm_client_t *c = k->c;
  long status = 0;
  if (code == CURLE_OK)
    curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
  int transient = lf_http_retry_transient(code, status);
  char why[200];
  if (transient && k->attempts <= c->o.max_retries) {
    k->due_ms = lf_monotonic_ms() + retry_delay(k);
    k->rnext = c->retries;
    c->retries = k;
    return;
  }
  lf_llm_result_t r = {k->opaque, status,      k->answer ? k->answer : "",
                       k->len,    k->attempts, ""};
  if (code != CURLE_OK)
    snprintf(why, sizeof(why), "%s", curl_easy_strerror(code));
  else
    snprintf(why, sizeof(why), "HTTP %ld", status);
  if (status != 200)
    snprintf(r.error, sizeof(r.error), "%.200s after %d attempt%s", why,
             k->attempts, k->attempts > 1 ? "s" : "");
  unlink_call(c, k);
  done(ctx, &r);
  call_free(k);
}

/* How long the caller may sleep: until the earliest retry falls due. */
static int wait_ms(const lf_llm_client_t *c, int timeout_ms, int64_t now) {
  for (const call_t *k = c->retries; k; k = k->rnext)
    if (k->due_ms - now < timeout_ms)
      timeout_ms = k->due_ms > now ? (int)(k->due_ms - now) : 0;
  return timeout_ms;
}

static lf_err_t start_retries(lf_llm_client_t *c, int64_t now) {
  char errstr[128];
  for (call_t **p = &c->retries; *p;) {
    call_t *k = *p;
    if (k->due_ms > now) {
      p = &k->rnext;
      continue;
    }
    *p = k->rnext;
    if (start(k, errstr, sizeof(errstr)))
      return LF_ERR_IO;
  }
  return LF_OK;
}

typedef struct step {
  lf_llm_done_fn done;
  void *ctx;
} step_t;

static void on_done(void *arg, CURL *e, CURLcode code) {
  step_t *st = arg;
  call_t *k = NULL;
  curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&k);
  finish(k, code, st->done, st->ctx);
}

lf_err_t lf_llm_client_step(lf_llm_client_t *c, int wake_fd, int timeout_ms,
                            lf_llm_done_fn done, void *ctx) {
  int64_t now = lf_monotonic_ms();
  step_t st = {done, ctx};
  if (start_retries(c, now))
    return LF_ERR_IO;
  return lf_curl_loop_step(c->loop, wake_fd, wait_ms(c, timeout_ms, now),
                           on_done, &st);
}
