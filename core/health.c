#include "health.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "redis.h"

struct lf_health {
  struct MHD_Daemon *d;
  lf_worker_t *const *ws;
  size_t n;
  lf_redis_t *redis; /* readiness; requests are served one at a time */
  unsigned port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *type, char *body, size_t len) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", type);
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status,
                            const char *msg) {
  char *body = strdup(msg);
  return body
             ? reply(c, status, "text/plain; charset=utf-8", body, strlen(body))
             : MHD_NO;
}

/* What keeps the process from being ready, or "" when nothing does. */
static void readiness(lf_health_t *h, char *why, size_t size) {
  size_t k = 0;
  why[0] = '\0';
  for (size_t i = 0; i < h->n && k < size; i++)
    if (!lf_worker_assigned(h->ws[i]))
      k += (size_t)snprintf(why + k, size - k, "%s has no partitions; ",
                            lf_worker_id(h->ws[i]));
  redisReply *rep = NULL;
  char errstr[256];
  if (k < size &&
      lf_redis_command(h->redis, &rep, errstr, sizeof(errstr), "PING"))
    snprintf(why + k, size - k, "%s; ", errstr);
  freeReplyObject(rep);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **state) {
  lf_health_t *h = cls;
  char why[1024];
  size_t len = 0;
  (void)version;
  (void)upload;
  (void)upload_size;
  (void)state;
  if (strcmp(method, "GET") && strcmp(method, "HEAD"))
    return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
  if (!strcmp(url, "/metrics")) {
    char *body = lf_metrics_render(h->ws, h->n, &len);
    return body ? reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", body, len)
                : text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
  }
  if (!strcmp(url, "/healthz"))
    return text(c, MHD_HTTP_OK, "ok\n");
  if (!strcmp(url, "/readyz")) {
    readiness(h, why, sizeof(why) - 2);
    if (!why[0])
      return text(c, MHD_HTTP_OK, "ready\n");
    strcat(why, "\n");
    return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, why);
  }
  return text(c, MHD_HTTP_NOT_FOUND, "/metrics, /healthz or /readyz\n");
}

lf_health_t *lf_health_start(const lf_conf_t *conf, lf_worker_t *const *ws,
                             size_t n, char *errstr, size_t errstr_size) {
  int64_t port = lf_conf_get_int(conf, "metrics.port");
  const char *addr = lf_conf_get(conf, "metrics.address");
  struct sockaddr_in sa = {.sin_family = AF_INET};
  errstr[0] = '\0';
  if (!port)
    return NULL;
  if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
    snprintf(errstr, errstr_size,
             "metrics.address: \"%s\" is not an IPv4 address", addr);
    return NULL;
  }
  sa.sin_port = htons((uint16_t)(port < 0 ? 0 : port));
  lf_health_t *h = calloc(1, sizeof(*h));
  if (!h || !(h->redis = lf_redis_new(conf, errstr, errstr_size))) {
    if (!h)
      snprintf(errstr, errstr_size, "out of memory");
    free(h);
    return NULL;
  }
  h->ws = ws;
  h->n = n;
  h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0,
                          NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &sa,
                          MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
  const union MHD_DaemonInfo *info =
      h->d ? MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
  if (!info) {
    snprintf(errstr, errstr_size,
             "metrics: cannot serve %s:%lld (in use? set metrics.port, or 0 "
             "for none)",
             addr, (long long)port);
    lf_health_stop(h);
    return NULL;
  }
  h->port = info->port;
  return h;
}

unsigned lf_health_port(const lf_health_t *h) {
  return h->port;
}

void lf_health_stop(lf_health_t *h) {
  if (!h)
    return;
  if (h->d)
    MHD_stop_daemon(h->d);
  lf_redis_destroy(h->redis);
  free(h);
}
