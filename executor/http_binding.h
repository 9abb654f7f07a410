/* An action's HTTP binding, from its catalog entry's x-lamfleet.executor:
 *   {"kind": "http", "method": "POST",
 *    "url": "https://api.example.com/v1/invoices/{invoice_id}/pay",
 *    "headers": {"Authorization": "Bearer ${PAYMENTS_TOKEN}"},
 *    "body": {"amount": {"value": "{amount}", "currency": "EUR"}},
 *    "timeout": "10s", "retries": 2, "accept": [200, 201],
 *    "redirects": 0, "max_response_bytes": 1048576,
 *    "response_headers": ["content-type", "location"],
 *    "allow": ["https://api.example.com/v1/"],
 *    "allow_internal": ["10.0.0.7:443"]}
 * Header values may name environment variables (${NAME}), read when the
 * action runs, so that secrets never sit in the catalog; so may the url's
 * and allow_internal's fixed parts (read once, at load: where a service
 * runs is configuration, never an argument). The allowlist
 * defaults to the template's own scheme, host, port and fixed path. */
#ifndef LF_EXECUTOR_HTTP_BINDING_H
#define LF_EXECUTOR_HTTP_BINDING_H

#include <jansson.h>

#include "lf_err.h"
#include "url.h"

typedef struct lf_http_binding {
  char *method, *url;
  json_t *headers;          /* name -> value template */
  json_t *body;             /* template (executor/body.h); NULL: the args */
  json_t *response_headers; /* names, lower case */
  long timeout_ms, backoff_ms;
  int retries, redirects;
  size_t max_response;
  int accept[16];
  size_t naccept; /* 0: any 2xx */
  lf_url_allow_t *allow;
  size_t nallow;
  char **internal; /* "ADDR:PORT" allowed despite being internal */
  size_t ninternal;
  json_t *spec; /* owns the strings the allowlist points into */
} lf_http_binding_t;

/* NULL with errstr naming the field (e.g. "executor/url: ...") when the
 * binding is not a valid http binding. With lint, a variable that is not
 * set stands for a placeholder host instead of failing (a catalog is
 * linted where it is written, not where it runs). */
lf_http_binding_t *lf_http_binding_parse(const json_t *spec, int lint,
                                         char *errstr, size_t errstr_size);
void lf_http_binding_destroy(lf_http_binding_t *b);

/* Whether status is accepted as success. */
int lf_http_binding_accepts(const lf_http_binding_t *b, long status);

/* tmpl with ${NAME} replaced from the environment (header values when an
 * action runs; url and allow_internal when the binding is loaded); NULL
 * with errstr when a variable is not set or on no memory. Free with
 * free(). */
char *lf_http_env_expand(const char *tmpl, char *errstr, size_t errstr_size);
/* The same; with lenient, an unset variable reads "unset-env". */
char *lf_http_env_expand_opt(const char *tmpl, int lenient, char *errstr,
                             size_t errstr_size);

#endif
