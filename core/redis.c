#include "redis.h"

#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis_conn.h"
#include "redis_url.h"

#define MAX_SCRIPTS 16

/* Process-wide, for /metrics: connections lost or refused, error replies. */
static atomic_uint_fast64_t conn_errors, reply_errors;

void lf_redis_errors(uint64_t *conn, uint64_t *reply) {
  *conn = atomic_load(&conn_errors);
  *reply = atomic_load(&reply_errors);
}

/* A script loaded on the current connection. */
typedef struct loaded {
  const char *src; /* the caller's (static) text identifies it */
  char sha[41];
} loaded_t;

struct lf_redis {
  lf_redis_conn_t *c;
  lf_redis_tls_t *tls;          /* rediss:// only */
  lf_redis_url_t url;           /* host or socket path, credentials, db */
  int connect_timeout, timeout; /* ms */
  int pending;                  /* replies queued and not read */
  /* Replies of our own SCRIPT LOADs in a pipeline, by position among the
   * pending ones (1 = the next reply), to be read past. */
  int internal[MAX_SCRIPTS];
  int ninternal;
  loaded_t loaded[MAX_SCRIPTS];
  int nloaded;
  char address[300];
  char prefix[128];
};

/* TLS for rediss:// only: a redis.tls.* setting beside a plain URL is a
 * mistake that would leave the connection unencrypted. */
static lf_err_t tls_settings(lf_redis_t *r, const lf_conf_t *conf, char *errstr,
                             size_t errstr_size) {
  static const char *const keys[] = {"redis.tls.ca.file", "redis.tls.cert.file",
                                     "redis.tls.key.file",
                                     "redis.tls.server.name"};
  if (r->url.tls) {
    r->tls = lf_redis_tls_new(conf, errstr, errstr_size);
    return r->tls ? LF_OK : LF_ERR_INVALID;
  }
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    if (*lf_conf_get(conf, keys[i])) {
      snprintf(errstr, errstr_size,
               "%s is set but redis.url is not rediss:// (TLS)", keys[i]);
      return LF_ERR_INVALID;
    }
  return LF_OK;
}

lf_redis_t *lf_redis_new(const lf_conf_t *conf, char *errstr,
                         size_t errstr_size) {
  lf_redis_t *r = calloc(1, sizeof(*r));
  if (!r) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  if (lf_redis_url_parse(lf_conf_get(conf, "redis.url"), &r->url, errstr,
                         errstr_size)) {
    free(r);
    return NULL;
  }
  if (tls_settings(r, conf, errstr, errstr_size)) {
    lf_redis_destroy(r);
    return NULL;
  }
  const char *pw = lf_conf_get(conf, "redis.password");
  if (*pw && (size_t)snprintf(r->url.password, sizeof(r->url.password), "%s",
                              pw) >= sizeof(r->url.password)) {
    snprintf(errstr, errstr_size, "redis.password: longer than %zu bytes",
             sizeof(r->url.password) - 1);
    lf_redis_destroy(r);
    return NULL;
  }
  if (r->url.path[0])
    snprintf(r->address, sizeof(r->address), "%s", r->url.path);
  else
    snprintf(r->address, sizeof(r->address),
             strchr(r->url.host, ':') ? "[%s]:%d" : "%s:%d", r->url.host,
             r->url.port);
  snprintf(r->prefix, sizeof(r->prefix), "%s",
           lf_conf_get(conf, "redis.key.prefix"));
  r->connect_timeout = (int)lf_conf_get_int(conf, "redis.connect.timeout.ms");
  r->timeout = (int)lf_conf_get_int(conf, "redis.timeout.ms");
  return r;
}

static void drop(lf_redis_t *r) {
  if (r->c)
    atomic_fetch_add(&conn_errors, 1);
  lf_redis_conn_close(r->c);
  r->c = NULL;
  r->pending = 0;
  r->ninternal = 0;
  r->nloaded = 0; /* a new connection may be to a new server */
}

void lf_redis_destroy(lf_redis_t *r) {
  if (!r)
    return;
  lf_redis_conn_close(r->c); /* closing is not an error */
  lf_redis_tls_destroy(r->tls);
  lf_redis_url_wipe(&r->url);
  free(r);
}

const char *lf_redis_address(const lf_redis_t *r) {
  return r->address;
}
const char *lf_redis_prefix(const lf_redis_t *r) {
  return r->prefix;
}

static lf_err_t vappend(lf_redis_t *r, char *errstr, size_t errstr_size,
                        const char *fmt, va_list ap);
static lf_err_t read_reply(lf_redis_t *r, redisReply **reply, char *errstr,
                           size_t errstr_size);

/* One set-up command on a fresh connection; its errors name it. */
static lf_err_t setup_cmd(lf_redis_t *r, char *errstr, size_t errstr_size,
                          const char *what, const char *fmt, ...) {
  redisReply *reply = NULL;
  va_list ap;
  va_start(ap, fmt);
  lf_err_t err = vappend(r, errstr, errstr_size, fmt, ap);
  va_end(ap);
  if (!err)
    err = read_reply(r, &reply, errstr, errstr_size);
  freeReplyObject(reply);
  size_t n = err ? strlen(errstr) : 0;
  if (err && n + 1 < errstr_size)
    snprintf(errstr + n, errstr_size - n, " (%s)", what);
  return err;
}

lf_err_t lf_redis_connect(lf_redis_t *r, char *errstr, size_t errstr_size) {
  char why[512];
  if (r->c)
    return LF_OK;
  r->c = lf_redis_conn_open(&r->url, r->tls, r->connect_timeout, r->timeout,
                            why, sizeof(why));
  if (!r->c) {
    snprintf(errstr, errstr_size, "redis %s: %s", r->address, why);
    atomic_fetch_add(&conn_errors, 1);
    return LF_ERR_REDIS_CONN;
  }
  lf_err_t err = LF_OK;
  /* AUTH user password for an ACL user (Redis 6), AUTH password else */
  if (r->url.password[0])
    err = r->url.user[0] ? setup_cmd(r, errstr, errstr_size, "AUTH",
                                     "AUTH %s %s", r->url.user, r->url.password)
                         : setup_cmd(r, errstr, errstr_size, "AUTH", "AUTH %s",
                                     r->url.password);
  if (!err && r->url.db)
    err = setup_cmd(r, errstr, errstr_size, "SELECT", "SELECT %d", r->url.db);
  /* TLS 1.3 servers refuse a client certificate after the handshake: ask
   * now, so that a start-up check sees it. */
  if (!err && r->tls)
    err = setup_cmd(r, errstr, errstr_size, "PING", "PING");
  if (err)
    drop(r);
  return err;
}

/* Queues a command hiredis encoded (len < 0: it could not), freeing it. */
static lf_err_t queue(lf_redis_t *r, char *cmd, int len, char *errstr,
                      size_t errstr_size) {
  lf_err_t err = LF_ERR_NOMEM;
  if (len < 0)
    snprintf(errstr, errstr_size, "redis: cannot encode a command");
  else
    err = lf_redis_conn_queue(r->c, cmd, (size_t)len, errstr, errstr_size);
  redisFreeCommand(cmd);
  if (err)
    return err;
  r->pending++;
  return LF_OK;
}

static lf_err_t vappend(lf_redis_t *r, char *errstr, size_t errstr_size,
                        const char *fmt, va_list ap) {
  lf_err_t err = lf_redis_connect(r, errstr, errstr_size);
  char *cmd = NULL;
  if (err)
    return err;
  int len = redisvFormatCommand(&cmd, fmt, ap);
  return queue(r, cmd, len, errstr, errstr_size);
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
  char *cmd = NULL;
  if (err)
    return err;
  int len = redisFormatCommandArgv(&cmd, argc, argv, lens);
  return queue(r, cmd, len, errstr, errstr_size);
}

/* Reads past the replies of SCRIPT LOADs queued ahead of the caller's. A
 * load that failed shows in the EVALSHA's own NOSCRIPT reply. */
static lf_err_t skip_internal(lf_redis_t *r, char *errstr, size_t errstr_size) {
  while (r->ninternal && r->internal[0] == 1) {
    redisReply *rep = NULL;
    lf_err_t err = read_reply(r, &rep, errstr, errstr_size);
    if (err == LF_ERR_REDIS_CONN)
      return err;
    freeReplyObject(rep);
  }
  return LF_OK;
}

lf_err_t lf_redis_reply(lf_redis_t *r, redisReply **reply, char *errstr,
                        size_t errstr_size) {
  lf_err_t err = skip_internal(r, errstr, errstr_size);
  if (err) {
    *reply = NULL;
    return err;
  }
  err = read_reply(r, reply, errstr, errstr_size);
  /* Scripts were flushed (SCRIPT FLUSH): load them again on next use. */
  if (err == LF_ERR_REDIS_REPLY && strstr(errstr, "NOSCRIPT"))
    r->nloaded = 0;
  return err;
}

static lf_err_t read_reply(lf_redis_t *r, redisReply **reply, char *errstr,
                           size_t errstr_size) {
  void *rep = NULL;
  *reply = NULL;
  if (!r->c || r->pending <= 0) {
    snprintf(errstr, errstr_size, "redis %s: connection lost before reply",
             r->address);
    return LF_ERR_REDIS_CONN;
  }
  char why[512];
  if (lf_redis_conn_reply(r->c, &rep, why, sizeof(why))) {
    snprintf(errstr, errstr_size, "redis %s: %s", r->address, why);
    drop(r);
    return LF_ERR_REDIS_CONN;
  }
  r->pending--;
  for (int i = 0; i < r->ninternal; i++)
    r->internal[i]--;
  if (r->ninternal && r->internal[0] == 0)
    memmove(r->internal, r->internal + 1, --r->ninternal * sizeof(int));
  redisReply *rr = rep;
  if (rr->type == REDIS_REPLY_ERROR) {
    atomic_fetch_add(&reply_errors, 1);
    snprintf(errstr, errstr_size, "redis %s: %s", r->address, rr->str);
    freeReplyObject(rr);
    return LF_ERR_REDIS_REPLY;
  }
  *reply = rr;
  return LF_OK;
}

lf_err_t lf_redis_flush(lf_redis_t *r, char *errstr, size_t errstr_size) {
  char why[512];
  if (!r->c) {
    snprintf(errstr, errstr_size, "redis %s: connection lost before sending",
             r->address);
    return LF_ERR_REDIS_CONN;
  }
  if (lf_redis_conn_send(r->c, why, sizeof(why))) {
    snprintf(errstr, errstr_size, "redis %s: %s", r->address, why);
    drop(r);
    return LF_ERR_REDIS_CONN;
  }
  return LF_OK;
}

void lf_redis_discard(lf_redis_t *r) {
  char errstr[1024]; /* room for the address in any message */
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

/* The script's SHA1 as Redis names it. */
static void script_sha(const char *src, char sha[41]) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!EVP_Digest(src, strlen(src), md, &n, EVP_sha1(), NULL))
    n = 0;
  for (unsigned int i = 0; i < n && i < 20; i++)
    snprintf(sha + 2 * i, 3, "%02x", md[i]);
  sha[n ? 40 : 0] = '\0';
}

/* The SHA to call src by on this connection, queueing its SCRIPT LOAD
 * (read past by lf_redis_reply) the first time. */
static const char *script(lf_redis_t *r, const char *src, char *errstr,
                          size_t errstr_size) {
  for (int i = 0; i < r->nloaded; i++)
    if (r->loaded[i].src == src)
      return r->loaded[i].sha;
  if (r->nloaded == MAX_SCRIPTS || r->ninternal == MAX_SCRIPTS) {
    snprintf(errstr, errstr_size, "redis: more than %d scripts", MAX_SCRIPTS);
    return NULL;
  }
  loaded_t *l = &r->loaded[r->nloaded];
  script_sha(src, l->sha);
  if (!l->sha[0]) {
    snprintf(errstr, errstr_size, "redis: cannot hash a script");
    return NULL;
  }
  if (lf_redis_append(r, errstr, errstr_size, "SCRIPT LOAD %s", src))
    return NULL;
  r->internal[r->ninternal++] = r->pending;
  l->src = src;
  r->nloaded++;
  return l->sha;
}

lf_err_t lf_redis_append_script(lf_redis_t *r, const char *src, char *errstr,
                                size_t errstr_size, const char *fmt, ...) {
  char f[256];
  lf_err_t err = lf_redis_connect(r, errstr, errstr_size);
  const char *sha = err ? NULL : script(r, src, errstr, errstr_size);
  if (!sha)
    return err ? err : LF_ERR_REDIS_CONN;
  if ((size_t)snprintf(f, sizeof(f), "EVALSHA %s %s", sha, fmt) >= sizeof(f)) {
    snprintf(errstr, errstr_size, "redis: script arguments too long");
    return LF_ERR_INVALID;
  }
  va_list ap;
  va_start(ap, fmt);
  err = vappend(r, errstr, errstr_size, f, ap);
  va_end(ap);
  return err;
}

lf_err_t lf_redis_append_script_argv(lf_redis_t *r, const char *src, int argc,
                                     const char **argv, const size_t *lens,
                                     char *errstr, size_t errstr_size) {
  lf_err_t err = lf_redis_connect(r, errstr, errstr_size);
  const char *sha = err ? NULL : script(r, src, errstr, errstr_size);
  if (!sha)
    return err ? err : LF_ERR_REDIS_CONN;
  const char **av = malloc((size_t)(argc + 2) * sizeof(*av));
  size_t *al = malloc((size_t)(argc + 2) * sizeof(*al));
  if (!av || !al) {
    free(av);
    free(al);
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  av[0] = "EVALSHA";
  al[0] = 7;
  av[1] = sha;
  al[1] = 40;
  memcpy(av + 2, argv, (size_t)argc * sizeof(*av));
  memcpy(al + 2, lens, (size_t)argc * sizeof(*al));
  err = lf_redis_append_argv(r, argc + 2, av, al, errstr, errstr_size);
  free(av);
  free(al);
  return err;
}
