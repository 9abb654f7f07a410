#include "llm_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

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

/* libcurl's socket interface over epoll: a step costs what is active, not
 * what is in flight (curl_multi_perform and poll walk every transfer). */
struct lf_llm_client {
  lf_llm_client_opts_t o;
  char url[1024];
  struct curl_slist *headers;
  CURLM *multi;
  int epfd;
  int wake_fd;       /* registered in epfd; -1: none */
  int64_t timer_due; /* libcurl's timeout (monotonic ms); -1: none */
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
  if (len > 12 && !strncasecmp(p, "Retry-After:", 12)) {
    char *end;
    long s = strtol(p + 12, &end, 10);
    if (end != p + 12 && s >= 0)
      k->retry_after_ms = s * 1000; /* HTTP dates are treated as absent */
  }
  return len;
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp,
                     void *socketp) {
  lf_llm_client_t *c = userp;
  struct epoll_event ev = {0};
  (void)e;
  (void)socketp;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(c->epfd, EPOLL_CTL_DEL, s, NULL); /* may be closed already */
    return 0;
  }
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
              (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
  ev.data.fd = s;
  if (!epoll_ctl(c->epfd, EPOLL_CTL_MOD, s, &ev))
    return 0;
  return errno == ENOENT && !epoll_ctl(c->epfd, EPOLL_CTL_ADD, s, &ev) ? 0 : -1;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp) {
  lf_llm_client_t *c = userp;
  (void)m;
  c->timer_due = timeout_ms < 0 ? -1 : lf_monotonic_ms() + timeout_ms;
  return 0;
}

lf_llm_client_t *lf_llm_client_new(const lf_llm_client_opts_t *o, char *errstr,
                                   size_t errstr_size) {
  char auth[1024];
  lf_llm_client_t *c = calloc(1, sizeof(*c));
  if (!c) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  c->epfd = -1;
  c->o = *o;
  snprintf(c->url, sizeof(c->url), "%s/chat/completions", o->base_url);
  c->headers = curl_slist_append(NULL, "Content-Type: application/json");
  if (c->headers && o->api_key && *o->api_key) {
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->api_key);
    struct curl_slist *h = curl_slist_append(c->headers, auth);
    c->headers = h ? h : NULL;
    memset(auth, 0, sizeof(auth));
  }
  c->wake_fd = -1;
  c->timer_due = -1;
  if (!c->headers || !(c->multi = curl_multi_init()) ||
      (c->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
      curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket) ||
      curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) ||
      curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer) ||
      curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c)) {
    snprintf(errstr, errstr_size, "cannot set up libcurl");
    lf_llm_client_destroy(c);
    return NULL;
  }
  return c;
}

static void call_free(call_t *k) {
  if (k->easy) {
    curl_multi_remove_handle(k->c->multi, k->easy);
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
  curl_multi_cleanup(c->multi);
  if (c->epfd >= 0)
    close(c->epfd);
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
    curl_multi_remove_handle(c->multi, k->easy);
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
      curl_easy_setopt(e, CURLOPT_PRIVATE, k) ||
      curl_multi_add_handle(c->multi, e)) {
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
 * exponential backoff with full jitter. */
static long retry_delay(const call_t *k) {
  const lf_llm_client_opts_t *o = &k->c->o;
  if (k->retry_after_ms >= 0)
    return k->retry_after_ms;
  long d = o->backoff_ms;
  for (int i = 1; i < k->attempts && d < o->backoff_max_ms; i++)
    d *= 2;
  if (d > o->backoff_max_ms)
    d = o->backoff_max_ms;
  return d / 2 + (d > 1 ? rand() % (d / 2 + 1) : 0);
}

static void finish(call_t *k, CURLcode code, lf_llm_done_fn done, void *ctx) {
  lf_llm_client_t *c = k->c;
  long status = 0;
  if (code == CURLE_OK)
    curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status);
  int transient = code != CURLE_OK || status == 429 || status >= 500;
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

/* How long the caller may sleep: until libcurl's timer or the earliest
 * retry falls due. */
static int wait_ms(const lf_llm_client_t *c, int timeout_ms, int64_t now) {
  if (c->timer_due >= 0 && c->timer_due - now < timeout_ms)
    timeout_ms = c->timer_due > now ? (int)(c->timer_due - now) : 0;
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

/* The caller's wake-up fd sits in the same epoll set as the sockets. */
static lf_err_t watch_wake(lf_llm_client_t *c, int wake_fd) {
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = wake_fd};
  if (wake_fd == c->wake_fd)
    return LF_OK;
  if (c->wake_fd >= 0)
    epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->wake_fd, NULL);
  c->wake_fd = -1;
  if (wake_fd >= 0 && epoll_ctl(c->epfd, EPOLL_CTL_ADD, wake_fd, &ev))
    return LF_ERR_IO;
  c->wake_fd = wake_fd;
  return LF_OK;
}

static lf_err_t act(lf_llm_client_t *c, int timeout_ms) {
  struct epoll_event evs[256];
  int running = 0;
  int n = epoll_wait(c->epfd, evs, 256, timeout_ms);
  if (n < 0 && errno != EINTR)
    return LF_ERR_IO;
  for (int i = 0; i < n; i++) {
    uint32_t e = evs[i].events;
    int mask = (e & EPOLLIN ? CURL_CSELECT_IN : 0) |
               (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
               (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    if (evs[i].data.fd != c->wake_fd &&
        curl_multi_socket_action(c->multi, evs[i].data.fd, mask, &running))
      return LF_ERR_IO;
  }
  if (c->timer_due >= 0 && lf_monotonic_ms() >= c->timer_due) {
    c->timer_due = -1;
    if (curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running))
      return LF_ERR_IO;
  }
  return LF_OK;
}

lf_err_t lf_llm_client_step(lf_llm_client_t *c, int wake_fd, int timeout_ms,
                            lf_llm_done_fn done, void *ctx) {
  int left = 0;
  int64_t now = lf_monotonic_ms();
  if (start_retries(c, now) || watch_wake(c, wake_fd) ||
      act(c, wait_ms(c, timeout_ms, now)))
    return LF_ERR_IO;
  CURLMsg *m;
  while ((m = curl_multi_info_read(c->multi, &left)))
    if (m->msg == CURLMSG_DONE) {
      call_t *k = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&k);
      curl_multi_remove_handle(c->multi, k->easy);
      finish(k, m->data.result, done, ctx);
    }
  return LF_OK;
}
