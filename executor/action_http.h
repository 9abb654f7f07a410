/* HTTP actions: a batch's calls run concurrently over libcurl's multi
 * interface. Each sends the action's idempotency key as Idempotency-Key,
 * so a retry (5xx, 429, connection errors) or a take-over after a crash is
 * safe against a downstream that honours it. Only the binding's allowlist
 * is reached, redirects included (followed by hand, each checked), and
 * never an internal address (executor/netguard.h). The response becomes
 * the observation's result: {"status", "headers", "body" (parsed when
 * JSON), "truncated"}. */
#ifndef LF_EXECUTOR_ACTION_HTTP_H
#define LF_EXECUTOR_ACTION_HTTP_H

#include <jansson.h>

#include "http_binding.h"

typedef struct lf_http_call {
  const lf_http_binding_t *binding; /* in */
  const json_t *args;               /* in */
  const char *idempotency_key;      /* in */
  json_t *result;                   /* out: the response, or NULL */
  char error[512];                  /* out: "" when accepted */
} lf_http_call_t;

/* Runs the calls to their end. LF_OK unless libcurl itself failed; each
 * call's outcome is in its result and error. */
lf_err_t lf_http_run(lf_http_call_t *calls, size_t n, char *errstr,
                     size_t errstr_size);

#endif
