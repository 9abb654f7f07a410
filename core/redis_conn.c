#include "redis_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct lf_redis_tls {
  SSL_CTX *ctx;
  char name[256]; /* redis.tls.server.name; "" = the URL's host */
  int verify;
};

struct lf_redis_conn {
  int fd;
  SSL *ssl; /* NULL on plain connections */
  redisReader *reader;
  char *obuf; /* queued commands, sent when a reply is wanted */
  size_t olen, ocap;
  int timeout_ms;
  int cert_asked; /* the server asked for a client certificate we lack */
};

/* OpenSSL's reason for the last failure (or fallback), queue cleared. */
static const char *ssl_reason(char *buf, size_t size, const char *fallback) {
  unsigned long e = ERR_peek_last_error();
  if (e)
    ERR_error_string_n(e, buf, size);
  else
    snprintf(buf, size, "%s", fallback);
  ERR_clear_error();
  return buf;
}

static lf_err_t tls_files(lf_redis_tls_t *t, const lf_conf_t *conf,
                          char *errstr, size_t errstr_size) {
  char why[256];
  const char *ca = lf_conf_get(conf, "redis.tls.ca.file");
  const char *cert = lf_conf_get(conf, "redis.tls.cert.file");
  const char *key = lf_conf_get(conf, "redis.tls.key.file");
  if (*ca ? SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1
          : SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
    snprintf(errstr, errstr_size, "redis.tls.ca.file: \"%s\": %s", ca,
             ssl_reason(why, sizeof(why), "cannot load"));
    return LF_ERR_INVALID;
  }
  if (!*cert != !*key) {
    snprintf(errstr, errstr_size,
             "redis.tls.cert.file and redis.tls.key.file go together");
    return LF_ERR_INVALID;
  }
  if (*cert && SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
    snprintf(errstr, errstr_size, "redis.tls.cert.file: \"%s\": %s", cert,
             ssl_reason(why, sizeof(why), "cannot load"));
    return LF_ERR_INVALID;
  }
  if (*key &&
      (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1 ||
       SSL_CTX_check_private_key(t->ctx) != 1)) {
    snprintf(errstr, errstr_size, "redis.tls.key.file: \"%s\": %s", key,
             ssl_reason(why, sizeof(why), "not the certificate's key"));
    return LF_ERR_INVALID;
  }
  return LF_OK;
}

/* Called when the server asks for a client certificate and none is set:
 * remembered, because under TLS 1.3 the server's refusal comes after the
 * handshake and its alert is often lost to the connection's reset. */
static int no_client_cert(SSL *ssl, X509 **x509, EVP_PKEY **pkey) {
  lf_redis_conn_t *c = SSL_get_app_data(ssl);
  (void)x509;
  (void)pkey;
  if (c)
    c->cert_asked = 1;
  return 0; /* go on without one: the server may not insist */
}

lf_redis_tls_t *lf_redis_tls_new(const lf_conf_t *conf, char *errstr,
                                 size_t errstr_size) {
  lf_redis_tls_t *t = calloc(1, sizeof(*t));
  const char *name = lf_conf_get(conf, "redis.tls.server.name");
  if (!t || !(t->ctx = SSL_CTX_new(TLS_client_method()))) {
    snprintf(errstr, errstr_size, "redis TLS: out of memory");
    goto fail;
  }
  if ((size_t)snprintf(t->name, sizeof(t->name), "%s", name) >=
      sizeof(t->name)) {
    snprintf(errstr, errstr_size, "redis.tls.server.name: longer than %zu",
             sizeof(t->name) - 1);
    goto fail;
  }
  t->verify = lf_conf_get_bool(conf, "redis.tls.verify");
  SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(t->ctx, t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                     NULL);
  SSL_CTX_set_client_cert_cb(t->ctx, no_client_cert);
  if (tls_files(t, conf, errstr, errstr_size))
    goto fail;
  return t;
fail:
  lf_redis_tls_destroy(t);
  return NULL;
}

void lf_redis_tls_destroy(lf_redis_tls_t *t) {
  if (!t)
    return;
  SSL_CTX_free(t->ctx);
  free(t);
}

/* Waits for events on c->fd until deadline (monotonic ms). */
static lf_err_t wait_fd(int fd, short events, int64_t deadline, char *errstr,
                        size_t errstr_size) {
  for (;;) {
    int64_t left = deadline - lf_monotonic_ms();
    struct pollfd p = {.fd = fd, .events = events};
    int n = left > 0 ? poll(&p, 1, (int)left) : 0;
    if (n > 0)
      return LF_OK;
    if (n < 0 && errno == EINTR)
      continue;
    snprintf(errstr, errstr_size, "%s", n < 0 ? strerror(errno) : "timed out");
    return n < 0 ? LF_ERR_REDIS_CONN : LF_ERR_TIMEOUT;
  }
}

/* A non-blocking connect to one address, finished by deadline. */
static int connect_one(int family, const struct sockaddr *a, socklen_t alen,
                       int64_t deadline, char *errstr, size_t errstr_size) {
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int soerr = 0;
  socklen_t slen = sizeof(soerr);
  if (fd < 0) {
    snprintf(errstr, errstr_size, "socket: %s", strerror(errno));
    return -1;
  }
  if (connect(fd, a, alen) && errno != EINPROGRESS)
    soerr = errno;
  else if (wait_fd(fd, POLLOUT, deadline, errstr, errstr_size))
    goto fail;
  else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen))
    soerr = errno;
  if (soerr) {
    snprintf(errstr, errstr_size, "%s", strerror(soerr));
    goto fail;
  }
  if (family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  }
  return fd;
fail:
  close(fd);
  return -1;
}

static int connect_tcp(const lf_redis_url_t *u, int64_t deadline, char *errstr,
                       size_t errstr_size) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICSERV},
                  *res = NULL;
  char port[16];
  snprintf(port, sizeof(port), "%d", u->port);
  int rc = getaddrinfo(u->host, port, &hints, &res), fd = -1;
  if (rc) {
    snprintf(errstr, errstr_size, "%s", gai_strerror(rc));
    return -1;
  }
  for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next)
    fd = connect_one(a->ai_family, a->ai_addr, a->ai_addrlen, deadline, errstr,
                     errstr_size);
  freeaddrinfo(res);
  return fd;
}

static int connect_unix(const char *path, int64_t deadline, char *errstr,
                        size_t errstr_size) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(a.sun_path)) {
    snprintf(errstr, errstr_size, "socket path too long");
    return -1;
  }
  memcpy(a.sun_path, path, strlen(path) + 1);
  return connect_one(AF_UNIX, (struct sockaddr *)&a, sizeof(a), deadline,
                     errstr, errstr_size);
}

/* An OpenSSL call that may write to a peer that has gone: SIGPIPE is held
 * for the call and a pending one consumed, so that it never kills the
 * process (plain sockets use MSG_NOSIGNAL). */
typedef struct {
  sigset_t pipe, old;
  int was_pending;
} nosigpipe_t;

static void nosigpipe_begin(nosigpipe_t *s) {
  sigset_t pending;
  sigemptyset(&s->pipe);
  sigaddset(&s->pipe, SIGPIPE);
  sigpending(&pending);
  s->was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &s->pipe, &s->old);
}

static void nosigpipe_end(nosigpipe_t *s) {
  sigset_t pending;
  sigpending(&pending);
  if (!s->was_pending && sigismember(&pending, SIGPIPE)) {
    struct timespec none = {0, 0};
    while (sigtimedwait(&s->pipe, NULL, &none) < 0 && errno == EINTR)
      ;
  }
  pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

/* Waits as OpenSSL asks after ret from an SSL_* call; anything else than a
 * want is the connection's end. */
static lf_err_t ssl_wait(lf_redis_conn_t *c, int ret, int64_t deadline,
                         char *errstr, size_t errstr_size) {
  char why[256];
  int e = SSL_get_error(c->ssl, ret);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline,
                   errstr, errstr_size);
  if (SSL_get_verify_result(c->ssl) != X509_V_OK)
    snprintf(why, sizeof(why), "certificate verify failed: %s",
             X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
  else
    ssl_reason(why, sizeof(why),
               e == SSL_ERROR_ZERO_RETURN ? "connection closed by the server"
                                          : "connection closed");
  snprintf(errstr, errstr_size, "TLS: %s%s", why,
           c->cert_asked ? " (the server asked for a client certificate and "
                           "none is set: redis.tls.cert.file, "
                           "redis.tls.key.file)"
                         : "");
  ERR_clear_error();
  return LF_ERR_REDIS_CONN;
}

static int is_ip(const char *s) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static lf_err_t handshake(lf_redis_conn_t *c, const lf_redis_tls_t *t,
                          const char *host, int64_t deadline, char *errstr,
                          size_t errstr_size) {
  const char *name = t->name[0] ? t->name : host;
  if (!(c->ssl = SSL_new(t->ctx)) || SSL_set_fd(c->ssl, c->fd) != 1) {
    snprintf(errstr, errstr_size, "TLS: out of memory");
    return LF_ERR_NOMEM;
  }
  SSL_set_app_data(c->ssl, c);
  int ok = 1;
  if (!is_ip(name)) /* SNI carries names only (RFC 6066) */
    ok = SSL_set_tlsext_host_name(c->ssl, name) == 1 &&
         (!t->verify || SSL_set1_host(c->ssl, name) == 1);
  else if (t->verify)
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), name) == 1;
  if (!ok) {
    snprintf(errstr, errstr_size, "TLS: cannot verify the name \"%s\"", name);
    return LF_ERR_INVALID;
  }
  for (;;) {
    nosigpipe_t s;
    nosigpipe_begin(&s);
    int ret = SSL_connect(c->ssl);
    nosigpipe_end(&s);
    if (ret == 1)
      return LF_OK;
    lf_err_t err = ssl_wait(c, ret, deadline, errstr, errstr_size);
    if (err)
      return err;
  }
}

lf_redis_conn_t *lf_redis_conn_open(const lf_redis_url_t *u,
                                    const lf_redis_tls_t *tls, int connect_ms,
                                    int timeout_ms, char *errstr,
                                    size_t errstr_size) {
  lf_redis_conn_t *c = calloc(1, sizeof(*c));
  int64_t deadline = lf_monotonic_ms() + connect_ms;
  if (!c || !(c->reader = redisReaderCreate())) {
    snprintf(errstr, errstr_size, "out of memory");
    free(c);
    return NULL;
  }
  c->timeout_ms = timeout_ms;
  c->fd = u->path[0] ? connect_unix(u->path, deadline, errstr, errstr_size)
                     : connect_tcp(u, deadline, errstr, errstr_size);
  if (c->fd < 0 ||
      (tls && handshake(c, tls, u->host, deadline, errstr, errstr_size))) {
    lf_redis_conn_close(c);
    return NULL;
  }
  return c;
}

void lf_redis_conn_close(lf_redis_conn_t *c) {
  if (!c)
    return;
  if (c->ssl) {
    nosigpipe_t s;
    nosigpipe_begin(&s);
    SSL_shutdown(c->ssl); /* best effort: the socket is non-blocking */
    nosigpipe_end(&s);
    SSL_free(c->ssl);
    ERR_clear_error();
  }
  if (c->fd >= 0)
    close(c->fd);
  redisReaderFree(c->reader);
  free(c->obuf);
  free(c);
}

lf_err_t lf_redis_conn_queue(lf_redis_conn_t *c, const char *cmd, size_t len,
                             char *errstr, size_t errstr_size) {
  if (c->olen + len > c->ocap) {
    size_t cap = c->ocap ? c->ocap : 4096;
    while (cap < c->olen + len)
      cap *= 2;
    char *b = realloc(c->obuf, cap);
    if (!b) {
      snprintf(errstr, errstr_size, "out of memory");
      return LF_ERR_NOMEM;
    }
    c->obuf = b;
    c->ocap = cap;
  }
  memcpy(c->obuf + c->olen, cmd, len);
  c->olen += len;
  return LF_OK;
}

/* Writes some of buf: bytes written, 0 when the socket would block, -1 on
 * failure (errstr set). */
static ssize_t write_some(lf_redis_conn_t *c, const char *buf, size_t len,
                          int64_t deadline, char *errstr, size_t errstr_size) {
  if (!c->ssl) {
    ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0 || errno == EINTR)
      return n > 0 ? n : 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return wait_fd(c->fd, POLLOUT, deadline, errstr, errstr_size) ? -1 : 0;
    snprintf(errstr, errstr_size, "%s", strerror(errno));
    return -1;
  }
  nosigpipe_t s;
  nosigpipe_begin(&s);
  int n = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
  nosigpipe_end(&s);
  if (n > 0)
    return n;
  return ssl_wait(c, n, deadline, errstr, errstr_size) ? -1 : 0;
}

static lf_err_t send_queued(lf_redis_conn_t *c, char *errstr,
                            size_t errstr_size) {
  size_t done = 0;
  while (done < c->olen) {
    int64_t deadline = lf_monotonic_ms() + c->timeout_ms;
    ssize_t n = write_some(c, c->obuf + done, c->olen - done, deadline, errstr,
                           errstr_size);
    if (n < 0)
      return LF_ERR_REDIS_CONN;
    done += (size_t)n;
  }
  c->olen = 0;
  return LF_OK;
}

/* Reads what has arrived into the reader, waiting at most timeout_ms. */
static lf_err_t read_some(lf_redis_conn_t *c, char *errstr,
                          size_t errstr_size) {
  char buf[16384];
  int64_t deadline = lf_monotonic_ms() + c->timeout_ms;
  for (;;) {
    ssize_t n;
    if (c->ssl) {
      nosigpipe_t s;
      nosigpipe_begin(&s);
      n = SSL_read(c->ssl, buf, sizeof(buf));
      nosigpipe_end(&s);
      if (n <= 0 && ssl_wait(c, (int)n, deadline, errstr, errstr_size))
        return LF_ERR_REDIS_CONN;
    } else {
      n = recv(c->fd, buf, sizeof(buf), 0);
      if (n == 0) {
        snprintf(errstr, errstr_size, "connection closed by the server");
        return LF_ERR_REDIS_CONN;
      }
      if (n < 0 && errno != EINTR &&
          (errno != EAGAIN ||
           wait_fd(c->fd, POLLIN, deadline, errstr, errstr_size))) {
        if (errno != EAGAIN)
          snprintf(errstr, errstr_size, "%s", strerror(errno));
        return LF_ERR_REDIS_CONN;
      }
    }
    if (n > 0)
      return redisReaderFeed(c->reader, buf, (size_t)n) == REDIS_OK
                 ? LF_OK
                 : LF_ERR_NOMEM;
  }
}

lf_err_t lf_redis_conn_send(lf_redis_conn_t *c, char *errstr,
                            size_t errstr_size) {
  return send_queued(c, errstr, errstr_size);
}

lf_err_t lf_redis_conn_reply(lf_redis_conn_t *c, void **reply, char *errstr,
                             size_t errstr_size) {
  *reply = NULL;
  lf_err_t err = send_queued(c, errstr, errstr_size);
  while (!err) {
    if (redisReaderGetReply(c->reader, reply) != REDIS_OK) {
      snprintf(errstr, errstr_size, "protocol error: %s", c->reader->errstr);
      return LF_ERR_REDIS_CONN;
    }
    if (*reply)
      return LF_OK;
    err = read_some(c, errstr, errstr_size);
  }
  if (err == LF_ERR_NOMEM)
    snprintf(errstr, errstr_size, "out of memory");
  return LF_ERR_REDIS_CONN;
}
