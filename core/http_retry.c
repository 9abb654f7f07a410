#include "http_retry.h"

#include <ctype.h>
#include <stdlib.h>

int lf_http_retry_transient(CURLcode code, long status) {
  return code != CURLE_OK || status == 429 || status >= 500;
}

long lf_http_retry_delay(const lf_http_retry_t *p, int attempts,
                         long retry_after_ms) {
  if (retry_after_ms >= 0)
    return retry_after_ms;
  long max = p->backoff_max_ms > 0 ? p->backoff_max_ms : 3600 * 1000L;
  long d = p->backoff_ms;
  for (int i = 1; i < attempts && d < max; i++)
    d *= 2;
  if (d > max)
    d = max;
  if (!p->jitter || d < 2)
    return d;
  return d / 2 + rand() % (d / 2 + 1);
}

long lf_http_retry_after_ms(const char *value) {
  while (*value == ' ' || *value == '\t')
    value++;
  char *end;
  long s = isdigit((unsigned char)*value) ? strtol(value, &end, 10) : -1;
  if (s < 0 || s > 86400)
    return -1;
  while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
    end++;
  return *end ? -1 : s * 1000;
}
