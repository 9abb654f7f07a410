/* The Redis connection every worker shares the shape of: TCP or unix socket,
 * timeouts, reconnect on the next call after a failure, pipelining. Both of
 * hiredis' error channels are kept apart: LF_ERR_REDIS_CONN means the
 * connection is gone (it is dropped and re-made on the next call; whatever
 * was pipelined is lost), LF_ERR_REDIS_REPLY means Redis answered with an
 * error reply (the connection is fine, later replies are still readable). */
#ifndef LF_REDIS_H
#define LF_REDIS_H

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdint.h>

#include "config.h"

typedef struct lf_redis lf_redis_t;

/* Parses redis.* settings; connects on first use. */
lf_redis_t *lf_redis_new(const lf_conf_t *conf, char *errstr,
                         size_t errstr_size);
void lf_redis_destroy(lf_redis_t *r);

/* Connects now if not connected (e.g. to fail early at start-up). */
lf_err_t lf_redis_connect(lf_redis_t *r, char *errstr, size_t errstr_size);

/* Queues a command (hiredis format, %s and %b) without waiting. */
lf_err_t lf_redis_append(lf_redis_t *r, char *errstr, size_t errstr_size,
                         const char *fmt, ...);
/* Queues a command given as argc arguments (binary-safe). */
lf_err_t lf_redis_append_argv(lf_redis_t *r, int argc, const char **argv,
                              const size_t *lens, char *errstr,
                              size_t errstr_size);
/* Reads the reply to the oldest queued command. On LF_OK *reply is set
 * (free with freeReplyObject); on an error reply *reply is NULL and errstr
 * holds Redis' message. */
lf_err_t lf_redis_reply(lf_redis_t *r, redisReply **reply, char *errstr,
                        size_t errstr_size);
/* Sends what is queued now, for Redis to work on it while the caller does
 * something else before reading the replies. */
lf_err_t lf_redis_flush(lf_redis_t *r, char *errstr, size_t errstr_size);
/* Drains replies still queued after a failed pipeline step. */
void lf_redis_discard(lf_redis_t *r);

/* Queues EVALSHA of the Lua script src (a string that outlives r: it
 * identifies the script) followed by fmt ("2 %s %s %lld": numkeys, keys,
 * args; hiredis format). The script is loaded once per connection, in the
 * same pipeline; after a SCRIPT FLUSH the failed call's NOSCRIPT reply
 * makes the next call load it again. */
lf_err_t lf_redis_append_script(lf_redis_t *r, const char *src, char *errstr,
                                size_t errstr_size, const char *fmt, ...);
/* The same with the arguments after the SHA as argc strings. */
lf_err_t lf_redis_append_script_argv(lf_redis_t *r, const char *src, int argc,
                                     const char **argv, const size_t *lens,
                                     char *errstr, size_t errstr_size);

/* One command, one reply. */
lf_err_t lf_redis_command(lf_redis_t *r, redisReply **reply, char *errstr,
                          size_t errstr_size, const char *fmt, ...);

/* Errors so far in this process, for /metrics: connections lost or
 * refused, and error replies. */
void lf_redis_errors(uint64_t *conn, uint64_t *reply);

/* Where it connects, for messages ("127.0.0.1:6379", "/run/redis.sock"). */
const char *lf_redis_address(const lf_redis_t *r);
/* redis.key.prefix */
const char *lf_redis_prefix(const lf_redis_t *r);

#endif
