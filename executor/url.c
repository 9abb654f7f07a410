#include "url.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct buf {
  char *p;
  size_t len, cap;
} buf_t;

static int put(buf_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = (b->len + n + 1) * 2;
    char *p = realloc(b->p, cap);
    if (!p)
      return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* "." and ".." would be squashed as path segments: encode them whole. */
static int put_encoded(buf_t *b, const char *v, size_t n) {
  int dots = n > 0 && strspn(v, ".") == n;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    char hex[4];
    if (unreserved(c) && !dots) {
      if (put(b, (const char *)&c, 1))
        return -1;
      continue;
    }
    snprintf(hex, sizeof(hex), "%%%02X", c);
    if (put(b, hex, 3))
      return -1;
  }
  return 0;
}

/* Where the authority ends: the first '/', '?' or '#' after "://". */
static size_t authority_end(const char *t) {
  const char *a = strstr(t, "://");
  return a ? (size_t)(a + 3 - t) + strcspn(a + 3, "/?#") : 0;
}

lf_err_t lf_url_template_check(const char *tmpl, char *errstr,
                               size_t errstr_size) {
  size_t auth = authority_end(tmpl), depth = 0;
  if (strncasecmp(tmpl, "http://", 7) && strncasecmp(tmpl, "https://", 8)) {
    snprintf(errstr, errstr_size, "url: only http:// and https:// URLs");
    return LF_ERR_INVALID;
  }
  if (strcspn(tmpl, "{}") < auth) {
    snprintf(errstr, errstr_size,
             "url: a placeholder may not stand in the scheme, host or port");
    return LF_ERR_INVALID;
  }
  for (const char *p = tmpl; *p; p++) {
    if ((*p == '{' && depth++) || (*p == '}' && !depth--)) {
      snprintf(errstr, errstr_size, "url: unpaired brace at column %zu",
               (size_t)(p - tmpl) + 1);
      return LF_ERR_INVALID;
    }
  }
  if (depth) {
    snprintf(errstr, errstr_size, "url: a placeholder is not closed");
    return LF_ERR_INVALID;
  }
  return LF_OK;
}

/* The text of a scalar argument into out (at most size). */
static int scalar(const json_t *v, char *out, size_t size, const char **s,
                  size_t *n) {
  if (json_is_string(v)) {
    *s = json_string_value(v);
    *n = json_string_length(v);
    return 0;
  }
  if (json_is_integer(v))
    snprintf(out, size, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v))
    snprintf(out, size, "%.17g", json_real_value(v));
  else if (json_is_boolean(v))
    snprintf(out, size, "%s", json_is_true(v) ? "true" : "false");
  else
    return -1;
  *s = out;
  *n = strlen(out);
  return 0;
}

static lf_err_t substitute(buf_t *b, const char *name, size_t nlen,
                           const json_t *args, char *errstr,
                           size_t errstr_size) {
  char key[128], num[64];
  const char *s;
  size_t n;
  if (nlen == 0 || nlen >= sizeof(key)) {
    snprintf(errstr, errstr_size, "url: bad placeholder");
    return LF_ERR_INVALID;
  }
  memcpy(key, name, nlen);
  key[nlen] = '\0';
  const json_t *v = json_object_get(args, key);
  if (!v || scalar(v, num, sizeof(num), &s, &n)) {
    snprintf(errstr, errstr_size, "url: argument \"%s\" is %s", key,
             v ? "not a string, number or boolean" : "missing");
    return LF_ERR_INVALID;
  }
  if (put_encoded(b, s, n)) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  return LF_OK;
}

char *lf_url_render(const char *tmpl, const json_t *args, char *errstr,
                    size_t errstr_size) {
  buf_t b = {0};
  if (lf_url_template_check(tmpl, errstr, errstr_size))
    return NULL;
  for (const char *p = tmpl; *p;) {
    const char *open = strchr(p, '{');
    size_t lit = open ? (size_t)(open - p) : strlen(p);
    if (put(&b, p, lit)) {
      snprintf(errstr, errstr_size, "out of memory");
      goto fail;
    }
    if (!open)
      break;
    const char *close = strchr(open, '}');
    if (substitute(&b, open + 1, (size_t)(close - open - 1), args, errstr,
                   errstr_size))
      goto fail;
    p = close + 1;
  }
  if (!b.p && put(&b, "", 0)) {
    snprintf(errstr, errstr_size, "out of memory");
    goto fail;
  }
  return b.p;
fail:
  free(b.p);
  return NULL;
}

static int matches(CURLU *u, const lf_url_allow_t *a) {
  char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
  int ok = !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
           !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
           !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) &&
           !curl_url_get(u, CURLUPART_PATH, &path, 0);
  ok = ok && (!a->scheme || !*a->scheme || !strcasecmp(scheme, a->scheme)) &&
       !strcasecmp(host, a->host) &&
       atoi(port) == (a->port                        ? a->port
                      : !strcasecmp(scheme, "https") ? 443
                                                     : 80) &&
       !strncmp(path, a->path_prefix ? a->path_prefix : "",
                strlen(a->path_prefix ? a->path_prefix : ""));
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(path);
  return ok;
}

lf_err_t lf_url_allowed(const char *url, const lf_url_allow_t *allow, size_t n,
                        char *errstr, size_t errstr_size) {
  CURLU *u = curl_url();
  char *scheme = NULL;
  lf_err_t err = LF_ERR_INVALID;
  if (!u) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  if (curl_url_set(u, CURLUPART_URL, url, 0) ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0))
    snprintf(errstr, errstr_size, "not a URL");
  else if (strcasecmp(scheme, "http") && strcasecmp(scheme, "https"))
    snprintf(errstr, errstr_size, "scheme %s is not http or https", scheme);
  else
    for (size_t i = 0; i < n && err; i++)
      if (matches(u, &allow[i]))
        err = LF_OK;
  if (err && scheme &&
      (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https")))
    snprintf(errstr, errstr_size, "not in the binding's allowlist");
  curl_free(scheme);
  curl_url_cleanup(u);
  return err;
}
