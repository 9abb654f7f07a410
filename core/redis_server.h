/* A real redis-server as a child process on a free loopback port or a unix
 * socket, for the embedded stack and the tests. It dies with its parent. */
#ifndef LF_REDIS_SERVER_H
#define LF_REDIS_SERVER_H

#include <sys/types.h>

#include "lf_err.h"

typedef struct lf_redis_server lf_redis_server_t;

/* program: e.g. "redis-server" (searched in PATH). */
lf_redis_server_t *lf_redis_server_start(const char *program, int unix_socket,
                                         char *errstr, size_t errstr_size);
typedef struct lf_redis_server_opts {
  int unix_socket; /* a unix socket instead of a TCP port */
  /* TLS too (rediss://, then its URL) with the files tests/tls_certs.sh
   * writes into tls_dir; tls_auth is redis' tls-auth-clients ("yes",
   * "optional", "no"). The plain port stays (lf_redis_server_port), for
   * looking at its keys. */
  const char *tls_dir, *tls_auth;
  /* Append-only file, fsynced on every write: a kill and a restart lose
   * nothing acknowledged (outage tests). */
  int durable;
} lf_redis_server_opts_t;
lf_redis_server_t *lf_redis_server_start_opts(const char *program,
                                              const lf_redis_server_opts_t *o,
                                              char *errstr, size_t errstr_size);
/* Stops it and removes its files; accepts NULL. */
void lf_redis_server_stop(lf_redis_server_t *s);

/* Stops the server but keeps its address, for outage tests. */
lf_err_t lf_redis_server_kill(lf_redis_server_t *s);
/* (Re)starts it on the same port or socket: empty, unless durable. */
lf_err_t lf_redis_server_restart(lf_redis_server_t *s, char *errstr,
                                 size_t errstr_size);

/* redis://127.0.0.1:PORT, rediss://127.0.0.1:TLSPORT or unix:///path */
const char *lf_redis_server_url(const lf_redis_server_t *s);
/* The plain TCP port (0 on a unix socket). */
int lf_redis_server_port(const lf_redis_server_t *s);
pid_t lf_redis_server_pid(const lf_redis_server_t *s);

#endif
