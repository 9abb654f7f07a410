/* The retry policy of the fleet's outbound HTTP calls (the planner's model
 * calls, the executor's actions): which answers are worth another attempt,
 * and how long to wait before it. */
#ifndef LF_HTTP_RETRY_H
#define LF_HTTP_RETRY_H

#include <curl/curl.h>

typedef struct lf_http_retry {
  int max_retries;     /* attempts after the first */
  long backoff_ms;     /* first delay; doubles each attempt */
  long backoff_max_ms; /* longest delay (0: no bound) */
  int jitter;          /* full jitter: a delay in [d/2, d] */
} lf_http_retry_t;

/* 1 for a finished attempt another may cure: a transport error, 429 or a
 * 5xx. */
int lf_http_retry_transient(CURLcode code, long status);

/* The wait before attempt attempts + 1: the server's Retry-After when it
 * gave one (retry_after_ms >= 0), else the policy's backoff. */
long lf_http_retry_delay(const lf_http_retry_t *p, int attempts,
                         long retry_after_ms);

/* A Retry-After value in seconds as milliseconds; -1 for anything else
 * (HTTP dates are treated as absent rather than as "now"). */
long lf_http_retry_after_ms(const char *value);

#endif
