#include "llm_server.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SCRIPT 256
#define MAX_REQUESTS 1024

typedef struct answer {
  int status, delay_ms;
  char *body, *retry_after, *location;
  int hangup; /* send part of the body, then close the connection */
} answer_t;

/* Per connection: the request as it arrives, then its answer. A delayed
 * answer parks the connection (suspended) on the due list until then. */
typedef struct conn {
  struct MHD_Connection *c;
  char *data;
  size_t len;
  int answered; /* the request is complete and has its answer */
  answer_t a;
  int64_t due_ms;
  struct conn *next; /* the due list, earliest first */
} conn_t;

struct lf_llm_server {
  struct MHD_Daemon *d;
  char url[64];
  pthread_mutex_t lock;
  pthread_cond_t cond;
  pthread_t timer;
  int stopping;
  answer_t script[MAX_SCRIPT];
  size_t head, tail;
  lf_llm_request_t reqs[MAX_REQUESTS];
  size_t nreqs;
  uint64_t total;
  size_t pending, max_pending;
  conn_t *due;
  int agent, agent_delay_ms, agent_rounds;
  char agent_tool[128], agent_arg[128];
};

static void need(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "llm_server: %s\n", what);
    abort();
  }
}

static char *dup_str(const char *s) {
  char *d = s ? strdup(s) : NULL;
  need(!s || d != NULL, "out of memory");
  return d;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void free_fields(lf_llm_request_t *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(r[i].path);
    free(r[i].body);
    free(r[i].authorization);
    free(r[i].idempotency_key);
  }
}

/* Called with the lock held. */
static void record(lf_llm_server_t *s, const char *url, const conn_t *u,
                   const char *auth, const char *idem) {
  s->total++;
  if (s->nreqs == MAX_REQUESTS)
    return;
  lf_llm_request_t *r = &s->reqs[s->nreqs++];
  r->path = dup_str(url);
  r->body = dup_str(u->data ? u->data : "");
  r->authorization = dup_str(auth);
  r->idempotency_key = dup_str(idem);
  r->at_ms = mono_ms();
}

static char *completion(json_t *message, const char *finish) {
  json_t *body = json_pack("{s:s,s:s,s:[{s:i,s:o,s:s}],s:{s:i,s:i,s:i}}", "id",
                           "chatcmpl-test", "object", "chat.completion",
                           "choices", "index", 0, "message", message,
                           "finish_reason", finish, "usage", "prompt_tokens",
                           50, "completion_tokens", 10, "total_tokens", 60);
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  need(text != NULL, "out of memory");
  json_decref(body);
  return text;
}

static json_t *calls_message(size_t n, const char *const *ids,
                             const char *const *names,
                             const char *const *args) {
  json_t *calls = json_array();
  for (size_t i = 0; calls && i < n; i++)
    if (json_array_append_new(calls,
                              json_pack("{s:s,s:s,s:{s:s,s:s}}", "id", ids[i],
                                        "type", "function", "function", "name",
                                        names[i], "arguments", args[i])))
      need(0, "out of memory");
  json_t *m = json_pack("{s:s,s:n,s:o}", "role", "assistant", "content",
                        "tool_calls", calls);
  need(m != NULL, "out of memory");
  return m;
}

/* The agent's move in a conversation (see lf_llm_server_agent). */
static char *agent_answer(lf_llm_server_t *s, const char *body) {
  json_t *req = json_loads(body, 0, NULL);
  json_t *msgs = json_object_get(req, "messages");
  const char *user = "", *last = "";
  size_t i, tools = 0;
  json_t *m;
  json_array_foreach(msgs, i, m) {
    const char *role = json_string_value(json_object_get(m, "role"));
    const char *content = json_string_value(json_object_get(m, "content"));
    if (role && !strcmp(role, "user") && !*user && content)
      user = content;
    if (role && !strcmp(role, "tool")) {
      tools++;
      last = content ? content : "";
    }
  }
  char *text;
  if ((int)tools < s->agent_rounds) {
    char id[32];
    json_t *args = json_pack("{s:s}", s->agent_arg, user);
    char *a = args ? json_dumps(args, JSON_COMPACT) : NULL;
    const char *ids[1] = {id}, *names[1] = {s->agent_tool},
               *argv[1] = {a ? a : "{}"};
    snprintf(id, sizeof(id), "call_%zu", tools);
    text = completion(calls_message(1, ids, names, argv), "tool_calls");
    free(a);
    json_decref(args);
  } else {
    size_t n = strlen(last) + 16;
    char *done = malloc(n);
    need(done != NULL, "out of memory");
    snprintf(done, n, "done: %s", last);
    text = completion(
        json_pack("{s:s,s:s}", "role", "assistant", "content", done), "stop");
    free(done);
  }
  json_decref(req);
  return text;
}

/* Called with the lock held. */
static answer_t next_answer(lf_llm_server_t *s, const conn_t *u) {
  answer_t a = {500, 0, NULL, NULL, NULL, 0};
  if (s->head != s->tail)
    a = s->script[s->head++ % MAX_SCRIPT];
  else if (s->agent) {
    a.status = 200;
    a.delay_ms = s->agent_delay_ms;
    a.body = agent_answer(s, u->data ? u->data : "");
  }
  if (!a.body)
    a.body = dup_str("{\"error\":{\"message\":\"no scripted response\"}}");
  return a;
}

/* A hang-up: the body (promised longer than it is) once, then an error,
 * on which the daemon closes the connection mid-response. */
static ssize_t hangup_read(void *cls, uint64_t pos, char *buf, size_t max) {
  const char *body = cls;
  size_t len = strlen(body);
  if (pos >= len)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  size_t n = len - (size_t)pos < max ? len - (size_t)pos : max;
  memcpy(buf, body + pos, n);
  return (ssize_t)n;
}

static struct MHD_Response *response(answer_t *a) {
  if (a->hangup)
    return MHD_create_response_from_callback(strlen(a->body) + 100, 1024,
                                             hangup_read, a->body, free);
  return MHD_create_response_from_buffer(strlen(a->body), a->body,
                                         MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result respond(lf_llm_server_t *s, conn_t *u) {
  answer_t *a = &u->a;
  /* Already answered: seen once under load, as the daemon stopped with a
   * parked connection whose client had gone. */
  if (!a->body)
    return MHD_YES;
  struct MHD_Response *r = response(a);
  need(r != NULL, "cannot make a response");
  a->body = NULL; /* the response owns it */
  MHD_add_response_header(r, "Content-Type", "application/json");
  if (a->retry_after)
    MHD_add_response_header(r, "Retry-After", a->retry_after);
  if (a->location)
    MHD_add_response_header(r, "Location", a->location);
  enum MHD_Result ret = MHD_queue_response(u->c, (unsigned)a->status, r);
  MHD_destroy_response(r);
  pthread_mutex_lock(&s->lock);
  s->pending--;
  pthread_mutex_unlock(&s->lock);
  return ret;
}

/* Called with the lock held: u goes on the due list, earliest first. */
static void park(lf_llm_server_t *s, conn_t *u) {
  conn_t **pp = &s->due;
  u->due_ms = mono_ms() + u->a.delay_ms;
  while (*pp && (*pp)->due_ms <= u->due_ms)
    pp = &(*pp)->next;
  u->next = *pp;
  *pp = u;
  pthread_cond_signal(&s->cond);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *size, void **state) {
  lf_llm_server_t *s = cls;
  conn_t *u = *state;
  (void)version;
  if (!u) { /* first call: headers only */
    need((u = calloc(1, sizeof(*u))) != NULL, "out of memory");
    u->c = c;
    *state = u;
    return MHD_YES;
  }
  if (u->answered) /* resumed after its delay */
    return respond(s, u);
  if (*size) {
    char *grown = realloc(u->data, u->len + *size + 1);
    need(grown != NULL, "out of memory");
    memcpy(grown + u->len, data, *size);
    u->data = grown;
    u->len += *size;
    u->data[u->len] = '\0';
    *size = 0;
    return MHD_YES;
  }
  pthread_mutex_lock(&s->lock);
  record(s, url, u,
         MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
         MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key"));
  u->a = strcmp(method, "POST")
             ? (answer_t){405, 0, dup_str("{}"), NULL, NULL, 0}
             : next_answer(s, u);
  u->answered = 1;
  if (++s->pending > s->max_pending)
    s->max_pending = s->pending;
  if (u->a.delay_ms) {
    park(s, u);
    MHD_suspend_connection(c);
    pthread_mutex_unlock(&s->lock);
    return MHD_YES;
  }
  pthread_mutex_unlock(&s->lock);
  return respond(s, u);
}

static void on_done(void *cls, struct MHD_Connection *c, void **state,
                    enum MHD_RequestTerminationCode code) {
  lf_llm_server_t *s = cls;
  conn_t *u = *state;
  (void)c;
  (void)code;
  if (!u)
    return;
  pthread_mutex_lock(&s->lock);
  for (conn_t **pp = &s->due; *pp; pp = &(*pp)->next)
    if (*pp == u) {
      *pp = u->next;
      break;
    }
  pthread_mutex_unlock(&s->lock);
  free(u->data);
  free(u->a.body);
  free(u->a.retry_after);
  free(u->a.location);
  free(u);
  *state = NULL;
}

/* Resumes parked connections when they are due (all of them on stop),
 * outside the lock: MHD takes its own locks in there. A popped connection
 * stays valid until resumed (MHD does not touch it while suspended). */
static void *timer_main(void *arg) {
  lf_llm_server_t *s = arg;
  pthread_mutex_lock(&s->lock);
  for (;;) {
    int64_t now = mono_ms();
    conn_t *ready = NULL;
    while (s->due && (s->stopping || s->due->due_ms <= now)) {
      conn_t *u = s->due;
      s->due = u->next;
      u->next = ready;
      ready = u;
    }
    if (ready) {
      pthread_mutex_unlock(&s->lock);
      while (ready) {
        conn_t *u = ready;
        ready = u->next;
        MHD_resume_connection(u->c);
      }
      pthread_mutex_lock(&s->lock);
      continue;
    }
    if (s->stopping)
      break;
    if (!s->due) {
      pthread_cond_wait(&s->cond, &s->lock);
      continue;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wait = s->due->due_ms - now;
    int64_t ns = ts.tv_nsec + (wait % 1000) * 1000000;
    ts.tv_sec += wait / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&s->cond, &s->lock, &ts);
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

lf_llm_server_t *lf_llm_server_start(void) {
  lf_llm_server_t *s = calloc(1, sizeof(*s));
  struct sockaddr_in addr = {0};
  need(s != NULL, "out of memory");
  pthread_mutex_init(&s->lock, NULL);
  pthread_cond_init(&s->cond, NULL);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0; /* a free port */
  /* one epoll thread; slow answers are parked, not slept on */
  s->d = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
      on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
      MHD_OPTION_NOTIFY_COMPLETED, on_done, s, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)100000, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
      MHD_OPTION_END);
  need(s->d != NULL, "cannot start the HTTP daemon");
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  need(info && info->port, "no port");
  snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u/v1",
           (unsigned)info->port);
  need(!pthread_create(&s->timer, NULL, timer_main, s), "no timer thread");
  return s;
}

void lf_llm_server_stop(lf_llm_server_t *s) {
  if (!s)
    return;
  pthread_mutex_lock(&s->lock);
  s->stopping = 1;
  pthread_cond_signal(&s->cond);
  pthread_mutex_unlock(&s->lock);
  pthread_join(s->timer, NULL);
  MHD_stop_daemon(s->d);
  for (size_t i = s->head; i != s->tail; i++) {
    free(s->script[i % MAX_SCRIPT].body);
    free(s->script[i % MAX_SCRIPT].retry_after);
    free(s->script[i % MAX_SCRIPT].location);
  }
  free_fields(s->reqs, s->nreqs);
  pthread_cond_destroy(&s->cond);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

const char *lf_llm_server_url(const lf_llm_server_t *s) {
  return s->url;
}

static void push_owned(lf_llm_server_t *s, int status, char *body, int delay_ms,
                       const char *retry_after) {
  pthread_mutex_lock(&s->lock);
  need(s->tail - s->head < MAX_SCRIPT, "script full");
  answer_t *a = &s->script[s->tail++ % MAX_SCRIPT];
  a->status = status;
  a->delay_ms = delay_ms;
  a->body = body;
  a->retry_after = dup_str(retry_after);
  a->location = NULL;
  a->hangup = 0;
  pthread_mutex_unlock(&s->lock);
}

void lf_llm_server_push_redirect(lf_llm_server_t *s, const char *location) {
  pthread_mutex_lock(&s->lock);
  need(s->tail - s->head < MAX_SCRIPT, "script full");
  answer_t *a = &s->script[s->tail++ % MAX_SCRIPT];
  *a = (answer_t){302, 0, dup_str("{}"), NULL, dup_str(location), 0};
  pthread_mutex_unlock(&s->lock);
}

void lf_llm_server_push_hangup(lf_llm_server_t *s, const char *partial) {
  pthread_mutex_lock(&s->lock);
  need(s->tail - s->head < MAX_SCRIPT, "script full");
  answer_t *a = &s->script[s->tail++ % MAX_SCRIPT];
  *a = (answer_t){200, 0, dup_str(partial), NULL, NULL, 1};
  pthread_mutex_unlock(&s->lock);
}

void lf_llm_server_push(lf_llm_server_t *s, int status, const char *body,
                        int delay_ms, const char *retry_after) {
  push_owned(s, status, dup_str(body), delay_ms, retry_after);
}

void lf_llm_server_push_answer(lf_llm_server_t *s, const char *content) {
  json_t *m = json_pack("{s:s,s:s}", "role", "assistant", "content", content);
  need(m != NULL, "out of memory");
  push_owned(s, 200, completion(m, "stop"), 0, NULL);
}

void lf_llm_server_push_calls(lf_llm_server_t *s, size_t n,
                              const char *const *ids, const char *const *names,
                              const char *const *arguments) {
  push_owned(s, 200,
             completion(calls_message(n, ids, names, arguments), "tool_calls"),
             0, NULL);
}

void lf_llm_server_push_call(lf_llm_server_t *s, const char *id,
                             const char *name, const char *arguments) {
  lf_llm_server_push_calls(s, 1, &id, &name, &arguments);
}

void lf_llm_server_agent(lf_llm_server_t *s, int delay_ms, int rounds,
                         const char *tool, const char *arg) {
  pthread_mutex_lock(&s->lock);
  s->agent = 1;
  s->agent_delay_ms = delay_ms;
  s->agent_rounds = rounds;
  snprintf(s->agent_tool, sizeof(s->agent_tool), "%s", tool);
  snprintf(s->agent_arg, sizeof(s->agent_arg), "%s", arg);
  pthread_mutex_unlock(&s->lock);
}

size_t lf_llm_server_requests(lf_llm_server_t *s, lf_llm_request_t **out) {
  pthread_mutex_lock(&s->lock);
  size_t n = s->nreqs;
  *out = calloc(n ? n : 1, sizeof(**out));
  need(*out != NULL, "out of memory");
  for (size_t i = 0; i < n; i++) {
    (*out)[i].path = dup_str(s->reqs[i].path);
    (*out)[i].body = dup_str(s->reqs[i].body);
    (*out)[i].authorization = dup_str(s->reqs[i].authorization);
    (*out)[i].idempotency_key = dup_str(s->reqs[i].idempotency_key);
    (*out)[i].at_ms = s->reqs[i].at_ms;
  }
  pthread_mutex_unlock(&s->lock);
  return n;
}

void lf_llm_requests_free(lf_llm_request_t *r, size_t n) {
  if (!r)
    return;
  free_fields(r, n);
  free(r);
}

uint64_t lf_llm_server_total(lf_llm_server_t *s) {
  pthread_mutex_lock(&s->lock);
  uint64_t n = s->total;
  pthread_mutex_unlock(&s->lock);
  return n;
}

size_t lf_llm_server_max_pending(lf_llm_server_t *s) {
  pthread_mutex_lock(&s->lock);
  size_t n = s->max_pending;
  pthread_mutex_unlock(&s->lock);
  return n;
}

size_t lf_llm_server_pending(lf_llm_server_t *s) {
  pthread_mutex_lock(&s->lock);
  size_t n = s->pending;
  pthread_mutex_unlock(&s->lock);
  return n;
}
