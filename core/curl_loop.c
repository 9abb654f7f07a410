#include "curl_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util.h"

struct lf_curl_loop {
  CURLM *multi;
  int epfd;
  int wake_fd;       /* registered in epfd; -1: none */
  int64_t timer_due; /* libcurl's timeout (monotonic ms); -1: none */
};

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp,
                     void *socketp) {
  lf_curl_loop_t *l = userp;
  struct epoll_event ev = {0};
  (void)e;
  (void)socketp;
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, s, NULL); /* may be closed already */
    return 0;
  }
  ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) |
              (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
  ev.data.fd = s;
  if (!epoll_ctl(l->epfd, EPOLL_CTL_MOD, s, &ev))
    return 0;
  return errno == ENOENT && !epoll_ctl(l->epfd, EPOLL_CTL_ADD, s, &ev) ? 0 : -1;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp) {
  lf_curl_loop_t *l = userp;
  (void)m;
  l->timer_due = timeout_ms < 0 ? -1 : lf_monotonic_ms() + timeout_ms;
  return 0;
}

lf_curl_loop_t *lf_curl_loop_new(char *errstr, size_t errstr_size) {
  lf_curl_loop_t *l = calloc(1, sizeof(*l));
  if (!l) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  l->wake_fd = -1;
  l->timer_due = -1;
  l->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd < 0 || !(l->multi = curl_multi_init()) ||
      curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket) ||
      curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l) ||
      curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timer) ||
      curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l)) {
    snprintf(errstr, errstr_size, "cannot set up libcurl");
    lf_curl_loop_destroy(l);
    return NULL;
  }
  return l;
}

void lf_curl_loop_destroy(lf_curl_loop_t *l) {
  if (!l)
    return;
  curl_multi_cleanup(l->multi);
  if (l->epfd >= 0)
    close(l->epfd);
  free(l);
}

lf_err_t lf_curl_loop_add(lf_curl_loop_t *l, CURL *easy) {
  return curl_multi_add_handle(l->multi, easy) ? LF_ERR_IO : LF_OK;
}

void lf_curl_loop_remove(lf_curl_loop_t *l, CURL *easy) {
  curl_multi_remove_handle(l->multi, easy);
}

/* The caller's wake-up fd sits in the same epoll set as the sockets. */
static lf_err_t watch_wake(lf_curl_loop_t *l, int wake_fd) {
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = wake_fd};
  if (wake_fd == l->wake_fd)
    return LF_OK;
  if (l->wake_fd >= 0)
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->wake_fd, NULL);
  l->wake_fd = -1;
  if (wake_fd >= 0 && epoll_ctl(l->epfd, EPOLL_CTL_ADD, wake_fd, &ev))
    return LF_ERR_IO;
  l->wake_fd = wake_fd;
  return LF_OK;
}

static lf_err_t act(lf_curl_loop_t *l, int timeout_ms) {
  struct epoll_event evs[256];
  int running = 0;
  int64_t now = lf_monotonic_ms();
  if (l->timer_due >= 0 && l->timer_due - now < timeout_ms)
    timeout_ms = l->timer_due > now ? (int)(l->timer_due - now) : 0;
  int n = epoll_wait(l->epfd, evs, 256, timeout_ms);
  if (n < 0 && errno != EINTR)
    return LF_ERR_IO;
  for (int i = 0; i < n; i++) {
    uint32_t e = evs[i].events;
    int mask = (e & EPOLLIN ? CURL_CSELECT_IN : 0) |
               (e & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
               (e & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
    if (evs[i].data.fd != l->wake_fd &&
        curl_multi_socket_action(l->multi, evs[i].data.fd, mask, &running))
      return LF_ERR_IO;
  }
  if (l->timer_due >= 0 && lf_monotonic_ms() >= l->timer_due) {
    l->timer_due = -1;
    if (curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running))
      return LF_ERR_IO;
  }
  return LF_OK;
}

lf_err_t lf_curl_loop_step(lf_curl_loop_t *l, int wake_fd, int timeout_ms,
                           lf_curl_done_fn done, void *ctx) {
  int left = 0;
  if (watch_wake(l, wake_fd) || act(l, timeout_ms))
    return LF_ERR_IO;
  CURLMsg *m;
  while ((m = curl_multi_info_read(l->multi, &left)))
    if (m->msg == CURLMSG_DONE) {
      CURL *e = m->easy_handle;
      CURLcode code = m->data.result;
      curl_multi_remove_handle(l->multi, e);
      done(ctx, e, code);
    }
  return LF_OK;
}
