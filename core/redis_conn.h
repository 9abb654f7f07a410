/* One connection to Redis, plain TCP, unix socket or TLS: lamfleet's own
 * transport under hiredis' protocol code (redisFormatCommand, redisReader),
 * because Debian 12's hiredis (0.14) has no TLS. Commands are buffered and
 * sent when a reply is wanted (a pipeline); every wait is bounded by a
 * timeout, and any failure leaves the connection unusable (close it). */
#ifndef LF_REDIS_CONN_H
#define LF_REDIS_CONN_H

#include <stddef.h>

#include "config.h"
#include "lf_err.h"
#include "redis_url.h"

/* The TLS settings of a rediss:// URL (redis.tls.*), loaded once: the CAs,
 * a client certificate and key, the name verified and sent as SNI. */
typedef struct lf_redis_tls lf_redis_tls_t;

/* NULL with errstr naming the setting and file on failure. */
lf_redis_tls_t *lf_redis_tls_new(const lf_conf_t *conf, char *errstr,
                                 size_t errstr_size);
void lf_redis_tls_destroy(lf_redis_tls_t *t);

typedef struct lf_redis_conn lf_redis_conn_t;

/* Connects (and handshakes when tls is given) within connect_ms; later
 * reads and writes wait at most timeout_ms each. */
lf_redis_conn_t *lf_redis_conn_open(const lf_redis_url_t *u,
                                    const lf_redis_tls_t *tls, int connect_ms,
                                    int timeout_ms, char *errstr,
                                    size_t errstr_size);
void lf_redis_conn_close(lf_redis_conn_t *c);

/* Queues an encoded command (from redisFormatCommand*). */
lf_err_t lf_redis_conn_queue(lf_redis_conn_t *c, const char *cmd, size_t len,
                             char *errstr, size_t errstr_size);

/* Sends what is queued without reading. */
lf_err_t lf_redis_conn_send(lf_redis_conn_t *c, char *errstr,
                            size_t errstr_size);

/* Sends what is queued, then reads one reply (a redisReply). */
lf_err_t lf_redis_conn_reply(lf_redis_conn_t *c, void **reply, char *errstr,
                             size_t errstr_size);

#endif
