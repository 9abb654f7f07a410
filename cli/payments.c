#include "payments.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUCKETS 4096

/* What it answered per idempotency key: a downstream that honours the
 * key answers a repeat as the first time, however many keys it holds. */
typedef struct paid {
  struct paid *next; /* in its bucket */
  char *key, *answer;
  char invoice[128];
  uint64_t calls; /* requests with this key */
} paid_t;

struct lf_payments {
  struct MHD_Daemon *d;
  char addr[64];
  pthread_mutex_t lock;
  uint64_t requests;
  int delay_ms; /* before each answer: a slow downstream */
  paid_t *buckets[BUCKETS];
  size_t npaid;
};

static size_t bucket(const char *key) {
  size_t h = 5381;
  for (; *key; key++)
    h = h * 33 + (unsigned char)*key;
  return h % BUCKETS;
}

/* The first answer for key, made now when the key is new. NULL: no
 * memory. Called with the lock held. */
static const char *pay(lf_payments_t *p, const char *key, const char *url) {
  char invoice[128] = "", answer[320];
  paid_t **head = &p->buckets[bucket(key)];
  for (paid_t *e = *head; e; e = e->next)
    if (!strcmp(e->key, key)) {
      e->calls++;
      return e->answer;
    }
  sscanf(url, "/v1/invoices/%127[^/]/pay", invoice);
  snprintf(answer, sizeof(answer),
           "{\"invoice\":\"%s\",\"paid\":true,\"receipt\":\"r-%zu\"}", invoice,
           p->npaid + 1);
  paid_t *e = calloc(1, sizeof(*e));
  if (!e || !(e->key = strdup(key)) || !(e->answer = strdup(answer))) {
    if (e)
      free(e->key);
    free(e);
    return NULL;
  }
  memcpy(e->invoice, invoice, sizeof(invoice));
  e->calls = 1;
  e->next = *head;
  *head = e;
  p->npaid++;
  return e->answer;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *body) {
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", "application/json");
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *size, void **state) {
  lf_payments_t *p = cls;
  static int started;
  (void)version;
  (void)data;
  if (!*state) { /* headers only */
    *state = &started;
    return MHD_YES;
  }
  if (*size) { /* the body is not needed: the URL names the invoice */
    *size = 0;
    return MHD_YES;
  }
  const char *key =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
  if (strcmp(method, "POST") || strncmp(url, "/v1/invoices/", 13))
    return reply(c, 404, "{\"error\":\"no such endpoint\"}");
  if (!key || !*key)
    return reply(c, 400, "{\"error\":\"Idempotency-Key is required\"}");
  char answer[320] = "";
  pthread_mutex_lock(&p->lock);
  p->requests++;
  const char *a = pay(p, key, url);
  int delay = p->delay_ms;
  if (a)
    snprintf(answer, sizeof(answer), "%s", a);
  pthread_mutex_unlock(&p->lock);
  if (delay) /* each connection has a thread of its own */
    usleep((useconds_t)delay * 1000);
  return answer[0] ? reply(c, 201, answer)
                   : reply(c, 500, "{\"error\":\"out of memory\"}");
}

lf_payments_t *lf_payments_start(char *errstr, size_t errstr_size) {
  lf_payments_t *p = calloc(1, sizeof(*p));
  struct sockaddr_in a = {0};
  if (!p) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&p->lock, NULL);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  p->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
                              MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL,
                          0, NULL, NULL, on_request, p, MHD_OPTION_SOCK_ADDR,
                          (struct sockaddr *)&a, MHD_OPTION_END);
  const union MHD_DaemonInfo *info =
      p->d ? MHD_get_daemon_info(p->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
  if (!info || !info->port) {
    snprintf(errstr, errstr_size, "cannot start the sample payments service");
    lf_payments_stop(p);
    return NULL;
  }
  snprintf(p->addr, sizeof(p->addr), "127.0.0.1:%u", (unsigned)info->port);
  return p;
}

void lf_payments_stop(lf_payments_t *p) {
  if (!p)
    return;
  if (p->d)
    MHD_stop_daemon(p->d);
  for (size_t i = 0; i < BUCKETS; i++)
    while (p->buckets[i]) {
      paid_t *e = p->buckets[i];
      p->buckets[i] = e->next;
      free(e->key);
      free(e->answer);
      free(e);
    }
  pthread_mutex_destroy(&p->lock);
  free(p);
}

const char *lf_payments_addr(const lf_payments_t *p) {
  return p->addr;
}

uint64_t lf_payments_requests(lf_payments_t *p) {
  pthread_mutex_lock(&p->lock);
  uint64_t n = p->requests;
  pthread_mutex_unlock(&p->lock);
  return n;
}

uint64_t lf_payments_made(lf_payments_t *p) {
  pthread_mutex_lock(&p->lock);
  uint64_t n = p->npaid;
  pthread_mutex_unlock(&p->lock);
  return n;
}

void lf_payments_set_delay(lf_payments_t *p, int ms) {
  pthread_mutex_lock(&p->lock);
  p->delay_ms = ms;
  pthread_mutex_unlock(&p->lock);
}

uint64_t lf_payments_calls(lf_payments_t *p, const char *invoice) {
  uint64_t n = 0;
  pthread_mutex_lock(&p->lock);
  for (size_t i = 0; i < BUCKETS; i++)
    for (const paid_t *e = p->buckets[i]; e; e = e->next)
      n += strcmp(e->invoice, invoice) ? 0 : e->calls;
  pthread_mutex_unlock(&p->lock);
  return n;
}
