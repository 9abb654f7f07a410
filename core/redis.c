#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct lf_redis {
  redisContext *c;
  char host[256];
  int port;
  char path[256]; /* unix socket, or "" for TCP */
  char password[256];
  int db;
  struct timeval connect_timeout, timeout;
  int pending; /* replies queued and not read */
  char address[300];
  char prefix[128];
};

static struct timeval tv_ms(int64_t ms) {
  struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
  return tv;
}

static lf_err_t parse_url(lf_redis_t *r, const char *url, char *errstr,
                          size_t errstr_size) {
  if (!strncmp(url, "unix://", 7)) {
    if (snprintf(r->path, sizeof(r->path), "%s", url + 7) >=
            (int)sizeof(r->path) ||
        !r->path[0])
      goto bad;
    snprintf(r->address, sizeof(r->address), "%s", r->path);
    return LF_OK;
  }
  if (strncmp(url, "redis://", 8))
    goto bad;
  const char *p = url + 8, *at = strchr(p, '@');
  if (at) {
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *pw = colon ? colon + 1 : p;
    if ((size_t)(at - pw) >= sizeof(r->password))
      goto bad;
    memcpy(r->password, pw, (size_t)(at - pw));
    r->password[at - pw] = '\0';
    p = at + 1;
  }
  const char *end = p + strcspn(p, ":/");
  if (end == p || (size_t)(end - p) >= sizeof(r->host))
    goto bad;
  memcpy(r->host, p, (size_t)(end - p));
  r->host[end - p] = '\0';
  r->port = 6379;
  if (*end == ':') {
    char *e;
    long port = strtol(end + 1, &e, 10);
    if (e == end + 1 || port <= 0 || port > 65535 || (*e && *e != '/'))
      goto bad;
    r->port = (int)port;
    end = e;
  }
  if (*end == '/' && end[1]) {
    char *e;
    long db = strtol(end + 1, &e, 10);
    if (*e || db < 0)
      goto bad;
    r->db = (int)db;
  }
  snprintf(r->address, sizeof(r->address), "%s:%d", r->host, r->port);
  return LF_OK;
bad:
  snprintf(errstr, errstr_size,
           "redis.url: \"%s\" is not redis://[:password@]host[:port][/db] "
           "or unix:///path",
           url);
  return LF_ERR_INVALID;
}

lf_redis_t *lf_redis_new(const lf_conf_t *conf, char *errstr,
                         size_t errstr_size) {
  lf_redis_t *r = calloc(1, sizeof(*r));
  if (!r) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  if (parse_url(r, lf_conf_get(conf, "redis.url"), errstr, errstr_size)) {
    free(r);
    return NULL;
  }
  const char *pw = lf_conf_get(conf, "redis.password");
  if (*pw)
    snprintf(r->password, sizeof(r->password), "%s", pw);
  snprintf(r->prefix, sizeof(r->prefix), "%s",
           lf_conf_get(conf, "redis.key.prefix"));
  r->connect_timeout = tv_ms(lf_conf_get_int(conf, "redis.connect.timeout.ms"));
  r->timeout = tv_ms(lf_conf_get_int(conf, "redis.timeout.ms"));
  return r;
}

static void drop(lf_redis_t *r) {
  redisFree(r->c);
  r->c = NULL;
  r->pending = 0;
}

void lf_redis_destroy(lf_redis_t *r) {
  if (!r)
    return;
  drop(r);
  free(r);
}

const char *lf_redis_address(const lf_redis_t *r) {
  return r->address;
}
const char *lf_redis_prefix(const lf_redis_t *r) {
  return r->prefix;
}

/* Sends one set-up command on a fresh connection. */
static lf_err_t setup_cmd(lf_redis_t *r, char *errstr, size_t errstr_size,
                          const char *what, redisReply *reply) {
  if (!reply) {
    snprintf(errstr, errstr_size, "redis %s: %s: %s", r->address, what,
             r->c->errstr);
    return LF_ERR_REDIS_CONN;
  }
  lf_err_t err = LF_OK;
  if (reply->type == REDIS_REPLY_ERROR) {
    snprintf(errstr, errstr_size, "redis %s: %s: %s", r->address, what,
             reply->str);
    err = LF_ERR_REDIS_REPLY;
  }
  freeReplyObject(reply);
  return err;
}

lf_err_t lf_redis_connect(lf_redis_t *r, char *errstr, size_t errstr_size) {
  if (r->c)
    return LF_OK;
  r->c = r->path[0]
             ? redisConnectUnixWithTimeout(r->path, r->connect_timeout)
             : redisConnectWithTimeout(r->host, r->port, r->connect_timeout);
  if (!r->c || r->c->err) {
    snprintf(errstr, errstr_size, "redis %s: %s", r->address,
             r->c ? r->c->errstr : "out of memory");
    drop(r);
    return LF_ERR_REDIS_CONN;
  }
  lf_err_t err = LF_OK;
  if (redisSetTimeout(r->c, r->timeout) != REDIS_OK) {
    snprintf(errstr, errstr_size, "redis %s: cannot set timeout", r->address);
    err = LF_ERR_REDIS_CONN;
  }
  if (!err && r->password[0])
    err = setup_cmd(r, errstr, errstr_size, "AUTH",
                    redisCommand(r->c, "AUTH %s", r->password));
  if (!err && r->db)
    err = setup_cmd(r, errstr, errstr_size, "SELECT",
                    redisCommand(r->c, "SELECT %d", r->db));
  if (err)
    drop(r);
  return err;
}

static lf_err_t vappend(lf_redis_t *r, char *errstr, size_t errstr_size,
                        const char *fmt, va_list ap) {
  lf_err_t err = lf_redis_connect(r, errstr, errstr_size);
  if (err)
    return err;
  if (redisvAppendCommand(r->c, fmt, ap) != REDIS_OK) {
    snprintf(errstr, errstr_size, "redis %s: %s", r->address, r->c->errstr);
    drop(r);
    return LF_ERR_REDIS_CONN;
  }
  r->pending++;
  return LF_OK;
}

lf_err_t lf_redis_append(lf_redis_t *r, char *errstr, size_t errstr_size,
                         const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lf_err_t err = vappend(r, errstr, errstr_size, fmt, ap);
  va_end(ap);
  return err;
}

lf_err_t lf_redis_append_argv(lf_redis_t *r, int argc, const char **argv,
                              const size_t *lens, char *errstr,
                              size_t errstr_size) {
  lf_err_t err = lf_redis_connect(r, errstr, errstr_size);
  if (err)
    return err;
  if (redisAppendCommandArgv(r->c, argc, argv, lens) != REDIS_OK) {
    snprintf(errstr, errstr_size, "redis %s: %s", r->address, r->c->errstr);
    drop(r);
    return LF_ERR_REDIS_CONN;
  }
  r->pending++;
  return LF_OK;
}

lf_err_t lf_redis_reply(lf_redis_t *r, redisReply **reply, char *errstr,
                        size_t errstr_size) {
  void *rep = NULL;
  *reply = NULL;
  if (!r->c || r->pending <= 0) {
    snprintf(errstr, errstr_size, "redis %s: connection lost before reply",
             r->address);
    return LF_ERR_REDIS_CONN;
  }
  if (redisGetReply(r->c, &rep) != REDIS_OK || !rep) {
    snprintf(errstr, errstr_size, "redis %s: %s", r->address,
             r->c->errstr[0] ? r->c->errstr : "no reply");
    drop(r);
    return LF_ERR_REDIS_CONN;
  }
  r->pending--;
  redisReply *rr = rep;
  if (rr->type == REDIS_REPLY_ERROR) {
    snprintf(errstr, errstr_size, "redis %s: %s", r->address, rr->str);
    freeReplyObject(rr);
    return LF_ERR_REDIS_REPLY;
  }
  *reply = rr;
  return LF_OK;
}

void lf_redis_discard(lf_redis_t *r) {
  char errstr[256];
  redisReply *reply;
  while (r->c && r->pending > 0) {
    lf_err_t err = lf_redis_reply(r, &reply, errstr, sizeof(errstr));
    if (err == LF_ERR_REDIS_CONN)
      return;
    freeReplyObject(reply);
  }
}

lf_err_t lf_redis_command(lf_redis_t *r, redisReply **reply, char *errstr,
                          size_t errstr_size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  lf_redis_discard(r);
  lf_err_t err = vappend(r, errstr, errstr_size, fmt, ap);
  va_end(ap);
  if (err)
    return err;
  return lf_redis_reply(r, reply, errstr, errstr_size);
}
