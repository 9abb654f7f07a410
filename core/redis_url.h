/* redis.url: redis://[[user]:password@]host[:port][/db], rediss:// for
 * TLS, unix:///path; IPv6 hosts in brackets, user and password
 * percent-encoded. Parsed with libcurl's URL parser; never echoed with
 * its password. */
#ifndef LF_REDIS_URL_H
#define LF_REDIS_URL_H

#include <stddef.h>

#include "lf_err.h"

typedef struct lf_redis_url {
  int tls;        /* rediss:// */
  char host[256]; /* without brackets */
  int port;
  char path[256]; /* unix socket, or "" */
  char user[256], password[256];
  int db;
} lf_redis_url_t;

/* Fills u; on failure errstr names the (redacted) URL and what is wrong. */
lf_err_t lf_redis_url_parse(const char *url, lf_redis_url_t *u, char *errstr,
                            size_t errstr_size);

/* url with its password (if any) replaced by "***", for messages. */
char *lf_redis_url_redact(const char *url, char *out, size_t size);

/* Zeroes the credentials. */
void lf_redis_url_wipe(lf_redis_url_t *u);

#endif
