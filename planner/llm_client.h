/* Concurrent HTTP calls to an OpenAI-compatible endpoint, driven without
 * blocking: libcurl's multi interface, stepped by the caller's loop (so a
 * worker keeps polling Kafka while thousands of calls are in flight).
 * Retries 429 and 5xx (and transport errors) with exponential backoff and
 * jitter, honouring Retry-After; a timeout per attempt. The API key goes
 * only into the Authorization header, never into logs or errors. */
#ifndef LF_LLM_CLIENT_H
#define LF_LLM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "lf_err.h"

typedef struct lf_llm_client lf_llm_client_t;

typedef struct lf_llm_client_opts {
  const char *base_url; /* e.g. "http://127.0.0.1:8000/v1" */
  const char *api_key;  /* may be empty for local servers */
  long timeout_ms;      /* per attempt */
  int max_retries;      /* attempts after the first */
  long backoff_ms;      /* first retry delay; doubles, with jitter */
  long backoff_max_ms;
} lf_llm_client_opts_t;

/* A finished call: status 200 with the body, or the last failure. */
typedef struct lf_llm_result {
  void *opaque;
  long status;      /* HTTP status, 0 when no answer came */
  const char *body; /* valid during the callback */
  size_t len;
  int attempts;
  char error[256]; /* for status != 200 */
} lf_llm_result_t;

typedef void (*lf_llm_done_fn)(void *ctx, const lf_llm_result_t *r);

lf_llm_client_t *lf_llm_client_new(const lf_llm_client_opts_t *o, char *errstr,
                                   size_t errstr_size);
void lf_llm_client_destroy(lf_llm_client_t *c);

/* Starts POST {base_url}/chat/completions with body (copied). */
lf_err_t lf_llm_client_submit(lf_llm_client_t *c, const char *body,
                              void *opaque, char *errstr, size_t errstr_size);
/* Moves every call on, waiting at most timeout_ms for network activity
 * or for wake_fd (-1: none) to become readable, and reports finished calls
 * to done. */
lf_err_t lf_llm_client_step(lf_llm_client_t *c, int wake_fd, int timeout_ms,
                            lf_llm_done_fn done, void *ctx);
/* Calls submitted and not yet reported (waiting for a retry included). */
size_t lf_llm_client_inflight(const lf_llm_client_t *c);

#endif
