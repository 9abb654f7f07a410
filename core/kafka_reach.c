/* Whether any bootstrap server accepts a TCP connection: the operator
 * command asks first, so a wrong -b fails at once with the reason instead
 * of after librdkafka's metadata timeout and its retry logs. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kafka.h"
#include "util.h"

/* host and port of one "[proto://]host:port" entry; 0 when malformed. */
static int split(const char *entry, size_t len, char *host, size_t hsize,
                 char *port, size_t psize) {
  const char *s = entry, *end = entry + len, *colon;
  const char *scheme = memchr(s, ':', len);
  if (scheme && scheme + 2 < end && scheme[1] == '/' && scheme[2] == '/')
    s = scheme + 3;
  const char *h = s, *hend;
  if (*s == '[') { /* [v6]:port */
    h = s + 1;
    if (!(hend = memchr(h, ']', (size_t)(end - h))))
      return 0;
    colon = hend + 1 < end && hend[1] == ':' ? hend + 1 : NULL;
  } else {
    colon = NULL;
    for (const char *p = s; p < end; p++)
      if (*p == ':')
        colon = p;
    hend = colon ? colon : end;
  }
  if (hend == h || (size_t)(hend - h) >= hsize)
    return 0;
  snprintf(host, hsize, "%.*s", (int)(hend - h), h);
  snprintf(port, psize, "%.*s", colon ? (int)(end - colon - 1) : 4,
           colon ? colon + 1 : "9092");
  return *port != '\0';
}

/* 0 when addr accepts a connection before deadline, else errno. */
static int try_connect(const struct addrinfo *ai, int64_t deadline) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  ai->ai_protocol);
  if (fd < 0)
    return errno;
  int err = 0;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS)
    err = errno;
  else {
    struct pollfd p = {fd, POLLOUT, 0};
    int64_t left = deadline - lf_monotonic_ms();
    socklen_t len = sizeof(err);
    if (poll(&p, 1, left > 0 ? (int)left : 0) != 1)
      err = ETIMEDOUT;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
      err = errno;
  }
  close(fd);
  return err;
}

lf_err_t lf_kafka_reachable(const lf_conf_t *conf, int timeout_ms, char *errstr,
                            size_t errstr_size) {
  if (lf_kafka_conf_check(conf, errstr, errstr_size))
    return LF_ERR_INVALID;
  const char *list = lf_conf_get(conf, "kafka.bootstrap.servers");
  int64_t deadline = lf_monotonic_ms() + timeout_ms;
  char host[256], port[32], last[300] = "no server listed";
  for (const char *s = list; *s;) {
    size_t len = strcspn(s, ", ");
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (len && split(s, len, host, sizeof(host), port, sizeof(port))) {
      int gai = getaddrinfo(host, port, &hints, &res);
      if (gai)
        snprintf(last, sizeof(last), "%s: %s", host, gai_strerror(gai));
      for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int err = try_connect(ai, deadline);
        if (!err) {
          freeaddrinfo(res);
          return LF_OK;
        }
        snprintf(last, sizeof(last),
                 strchr(host, ':') ? "[%s]:%s: %s" : "%s:%s: %s", host, port,
                 strerror(err));
      }
      freeaddrinfo(res);
    } else if (len) {
      snprintf(last, sizeof(last), "\"%.*s\" is not HOST:PORT", (int)len, s);
    }
    s += len;
    s += strspn(s, ", ");
  }
  snprintf(errstr, errstr_size, "no Kafka bootstrap server of %s answers (%s)",
           list, last);
  return LF_ERR_KAFKA;
}
