/* HTTP actions, run concurrently without blocking: libcurl's multi
 * interface on the shared driver (core/curl_loop.h), stepped by the
 * executor's loop. Each call sends the action's idempotency key as
 * Idempotency-Key, so a retry (5xx, 429, connection errors) or a take-over
 * after a crash is safe against a downstream that honours it. Only the
 * binding's allowlist is reached, redirects included (followed by hand,
 * each checked), and never an internal address (executor/netguard.h).
 * The response becomes the observation's result: {"status", "headers",
 * "body" (parsed when JSON), "truncated"}; responses are bounded in size
 * (the binding's), header bytes (the driver's) and time. */
#ifndef LF_EXECUTOR_ACTION_HTTP_H
#define LF_EXECUTOR_ACTION_HTTP_H

#include <jansson.h>

#include "http_binding.h"

typedef struct lf_http_call {
  const lf_http_binding_t *binding; /* in */
  const json_t *args;               /* in */
  const char *idempotency_key;      /* in */
  void *opaque;                     /* in: the caller's */
  json_t *result;                   /* out: the response, or NULL */
  char error[512];                  /* out: "" when accepted */
} lf_http_call_t;

typedef struct lf_http_actions lf_http_actions_t;

/* Reports a finished call (its result and error set). */
typedef void (*lf_http_done_fn)(void *ctx, lf_http_call_t *call);

lf_http_actions_t *lf_http_actions_new(size_t max_header_bytes, char *errstr,
                                       size_t errstr_size);
/* Frees the driver and abandons the calls in flight; accepts NULL. */
void lf_http_actions_destroy(lf_http_actions_t *d);

/* Starts call, which must live until reported. A call that cannot even
 * start (its URL, its headers' variables) is reported with the reason at
 * the next step; errors are for no memory only. */
lf_err_t lf_http_actions_submit(lf_http_actions_t *d, lf_http_call_t *call,
                                char *errstr, size_t errstr_size);
/* Moves every call on, waiting at most timeout_ms for the network, a
 * retry falling due or wake_fd (-1: none), and reports finished calls. */
lf_err_t lf_http_actions_step(lf_http_actions_t *d, int wake_fd, int timeout_ms,
                              lf_http_done_fn done, void *ctx);
/* Calls submitted and not yet reported. */
size_t lf_http_actions_inflight(const lf_http_actions_t *d);

#endif
