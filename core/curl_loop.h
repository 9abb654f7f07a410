/* libcurl's multi interface driven by its socket API over epoll, stepped
 * by a worker's loop: a step costs what is active, not what is in flight
 * (curl_multi_perform and poll walk every transfer), so thousands of HTTP
 * calls can be in flight while the worker keeps polling Kafka. The one
 * HTTP driver of the planner's model calls and the executor's actions;
 * what to send or follow stays with them, when to retry is http_retry.h. */
#ifndef LF_CURL_LOOP_H
#define LF_CURL_LOOP_H

#include <curl/curl.h>

#include "lf_err.h"

typedef struct lf_curl_loop lf_curl_loop_t;

/* A finished transfer, already removed from the loop: the caller finds
 * its own state with CURLINFO_PRIVATE, and may add the handle again. */
typedef void (*lf_curl_done_fn)(void *ctx, CURL *easy, CURLcode code);

lf_curl_loop_t *lf_curl_loop_new(char *errstr, size_t errstr_size);
/* Frees the loop (accepts NULL); remove every transfer first. */
void lf_curl_loop_destroy(lf_curl_loop_t *l);

lf_err_t lf_curl_loop_add(lf_curl_loop_t *l, CURL *easy);
/* Removes a transfer before it finished (e.g. to restart it). */
void lf_curl_loop_remove(lf_curl_loop_t *l, CURL *easy);

/* Moves every transfer on, waiting at most timeout_ms for network
 * activity, libcurl's own timers or wake_fd (-1: none) to become
 * readable, and reports finished transfers to done. */
lf_err_t lf_curl_loop_step(lf_curl_loop_t *l, int wake_fd, int timeout_ms,
                           lf_curl_done_fn done, void *ctx);

#endif
