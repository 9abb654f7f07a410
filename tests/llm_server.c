#include "llm_server.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

#define MAX_SCRIPT 256
#define MAX_REQUESTS 1024

typedef struct answer {
  int status, delay_ms;
  char *body, *retry_after;
} answer_t;

struct lf_llm_server {
  struct MHD_Daemon *d;
  char url[64];
  pthread_mutex_t lock;
  answer_t script[MAX_SCRIPT];
  size_t head, tail;
  lf_llm_request_t reqs[MAX_REQUESTS];
  size_t nreqs;
};

/* Per connection: the request body as it arrives. */
typedef struct upload {
  char *data;
  size_t len;
} upload_t;

static void free_fields(lf_llm_request_t *r, size_t n);

static char *dup_str(const char *s) {
  char *d = s ? strdup(s) : NULL;
  ck_assert(!s || d);
  return d;
}

static void record(lf_llm_server_t *s, const char *url, const upload_t *u,
                   const char *auth) {
  pthread_mutex_lock(&s->lock);
  if (s->nreqs < MAX_REQUESTS) {
    lf_llm_request_t *r = &s->reqs[s->nreqs++];
    r->path = dup_str(url);
    r->body = dup_str(u->data ? u->data : "");
    r->authorization = dup_str(auth);
  }
  pthread_mutex_unlock(&s->lock);
}

static answer_t next_answer(lf_llm_server_t *s) {
  answer_t a = {500, 0, NULL, NULL};
  pthread_mutex_lock(&s->lock);
  if (s->head != s->tail)
    a = s->script[s->head++ % MAX_SCRIPT];
  pthread_mutex_unlock(&s->lock);
  if (!a.body)
    a.body = dup_str("{\"error\":{\"message\":\"no scripted response\"}}");
  return a;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *size, void **state) {
  lf_llm_server_t *s = cls;
  upload_t *u = *state;
  (void)version;
  if (!u) { /* first call: headers only */
    ck_assert_ptr_nonnull(u = calloc(1, sizeof(*u)));
    *state = u;
    return MHD_YES;
  }
  if (*size) {
    char *grown = realloc(u->data, u->len + *size + 1);
    ck_assert_ptr_nonnull(grown);
    memcpy(grown + u->len, data, *size);
    u->data = grown;
    u->len += *size;
    u->data[u->len] = '\0';
    *size = 0;
    return MHD_YES;
  }
  record(s, url, u,
         MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"));
  answer_t a = strcmp(method, "POST") ? (answer_t){405, 0, dup_str("{}"), NULL}
                                      : next_answer(s);
  if (a.delay_ms)
    usleep((useconds_t)a.delay_ms * 1000);
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(a.body), a.body, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(r, "Content-Type", "application/json");
  if (a.retry_after)
    MHD_add_response_header(r, "Retry-After", a.retry_after);
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)a.status, r);
  MHD_destroy_response(r);
  free(a.retry_after);
  return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **state,
                    enum MHD_RequestTerminationCode code) {
  upload_t *u = *state;
  (void)cls;
  (void)c;
  (void)code;
  if (u) {
    free(u->data);
    free(u);
  }
  *state = NULL;
}

lf_llm_server_t *lf_llm_server_start(void) {
  lf_llm_server_t *s = calloc(1, sizeof(*s));
  struct sockaddr_in addr = {0};
  ck_assert_ptr_nonnull(s);
  pthread_mutex_init(&s->lock, NULL);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0; /* a free port */
  /* a thread per connection: a slow scripted answer delays only its own */
  s->d = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
      NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
      MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
  ck_assert_msg(s->d != NULL, "cannot start the scripted LLM server");
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  ck_assert(info && info->port);
  snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u/v1",
           (unsigned)info->port);
  return s;
}

void lf_llm_server_stop(lf_llm_server_t *s) {
  if (!s)
    return;
  MHD_stop_daemon(s->d);
  for (size_t i = s->head; i != s->tail; i++) {
    free(s->script[i % MAX_SCRIPT].body);
    free(s->script[i % MAX_SCRIPT].retry_after);
  }
  free_fields(s->reqs, s->nreqs);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

const char *lf_llm_server_url(const lf_llm_server_t *s) {
  return s->url;
}

void lf_llm_server_push(lf_llm_server_t *s, int status, const char *body,
                        int delay_ms, const char *retry_after) {
  pthread_mutex_lock(&s->lock);
  ck_assert_uint_lt(s->tail - s->head, MAX_SCRIPT);
  answer_t *a = &s->script[s->tail++ % MAX_SCRIPT];
  a->status = status;
  a->delay_ms = delay_ms;
  a->body = dup_str(body);
  a->retry_after = dup_str(retry_after);
  pthread_mutex_unlock(&s->lock);
}

static void push_message(lf_llm_server_t *s, json_t *message,
                         const char *finish) {
  json_t *body = json_pack("{s:s,s:s,s:[{s:i,s:o,s:s}],s:{s:i,s:i,s:i}}", "id",
                           "chatcmpl-test", "object", "chat.completion",
                           "choices", "index", 0, "message", message,
                           "finish_reason", finish, "usage", "prompt_tokens",
                           50, "completion_tokens", 10, "total_tokens", 60);
  char *text = json_dumps(body, JSON_COMPACT);
  ck_assert_ptr_nonnull(text);
  lf_llm_server_push(s, 200, text, 0, NULL);
  free(text);
  json_decref(body);
}

void lf_llm_server_push_answer(lf_llm_server_t *s, const char *content) {
  push_message(s,
               json_pack("{s:s,s:s}", "role", "assistant", "content", content),
               "stop");
}

void lf_llm_server_push_call(lf_llm_server_t *s, const char *id,
                             const char *name, const char *arguments) {
  push_message(s,
               json_pack("{s:s,s:n,s:[{s:s,s:s,s:{s:s,s:s}}]}", "role",
                         "assistant", "content", "tool_calls", "id", id, "type",
                         "function", "function", "name", name, "arguments",
                         arguments),
               "tool_calls");
}

size_t lf_llm_server_requests(lf_llm_server_t *s, lf_llm_request_t **out) {
  pthread_mutex_lock(&s->lock);
  size_t n = s->nreqs;
  *out = calloc(n ? n : 1, sizeof(**out));
  ck_assert_ptr_nonnull(*out);
  for (size_t i = 0; i < n; i++) {
    (*out)[i].path = dup_str(s->reqs[i].path);
    (*out)[i].body = dup_str(s->reqs[i].body);
    (*out)[i].authorization = dup_str(s->reqs[i].authorization);
  }
  pthread_mutex_unlock(&s->lock);
  return n;
}

static void free_fields(lf_llm_request_t *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(r[i].path);
    free(r[i].body);
    free(r[i].authorization);
  }
}

void lf_llm_requests_free(lf_llm_request_t *r, size_t n) {
  if (!r)
    return;
  free_fields(r, n);
  free(r);
}
