/* URLs of HTTP actions: a binding's template with {arg} placeholders,
 * rendered from an action's arguments, and checked against the binding's
 * allowlist. Placeholders may stand only in the path and query, and every
 * value is percent-encoded (all but unreserved characters; a value of only
 * dots too), so an argument can change neither the host nor the path
 * above its placeholder. */
#ifndef LF_EXECUTOR_URL_H
#define LF_EXECUTOR_URL_H

#include <jansson.h>
#include <stddef.h>

#include "lf_err.h"

/* LF_OK when tmpl is an http(s) URL whose scheme and authority hold no
 * placeholder and whose braces pair up; otherwise why. */
lf_err_t lf_url_template_check(const char *tmpl, char *errstr,
                               size_t errstr_size);

/* The URL with each {name} replaced by args' value (string, number or
 * boolean), percent-encoded. NULL with errstr on a missing or non-scalar
 * argument, a bad template, or no memory. Free with free(). */
char *lf_url_render(const char *tmpl, const json_t *args, char *errstr,
                    size_t errstr_size);

/* An allowlist entry: scheme ("" any of http/https), host (exact, case
 * insensitive), port (0: the scheme's), path prefix ("" any). */
typedef struct lf_url_allow {
  const char *scheme, *host;
  int port;
  const char *path_prefix;
} lf_url_allow_t;

/* LF_OK when url (parsed as libcurl parses it) is http(s) and matches one
 * of the n entries; otherwise why. */
lf_err_t lf_url_allowed(const char *url, const lf_url_allow_t *allow, size_t n,
                        char *errstr, size_t errstr_size);

#endif
