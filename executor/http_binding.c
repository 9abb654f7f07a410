#include "http_binding.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog.h"

static void free_allow(lf_url_allow_t *a) {
  free((char *)a->scheme);
  free((char *)a->host);
  free((char *)a->path_prefix);
}

void lf_http_binding_destroy(lf_http_binding_t *b) {
  if (!b)
    return;
  for (size_t i = 0; i < b->nallow; i++)
    free_allow(&b->allow[i]);
  free(b->allow);
  for (size_t i = 0; i < b->ninternal; i++)
    free(b->internal[i]);
  free(b->internal);
  free(b->method);
  free(b->url);
  json_decref(b->body);
  json_decref(b->headers);
  json_decref(b->response_headers);
  free(b);
}

/* "https://host:port/path" (a URL prefix) as an allowlist entry. */
static lf_err_t allow_entry(const char *prefix, lf_url_allow_t *a) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
  lf_err_t err = LF_ERR_INVALID;
  memset(a, 0, sizeof(*a));
  if (u && !curl_url_set(u, CURLUPART_URL, prefix, 0) &&
      !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
      !curl_url_get(u, CURLUPART_HOST, &host, 0) &&
      !curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) &&
      !curl_url_get(u, CURLUPART_PATH, &path, 0) &&
      (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https"))) {
    a->scheme = strdup(scheme);
    a->host = strdup(host);
    a->port = atoi(port);
    a->path_prefix = strdup(path);
    err = a->scheme && a->host && a->path_prefix ? LF_OK : LF_ERR_NOMEM;
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_free(path);
  curl_url_cleanup(u);
  if (err)
    free_allow(a);
  return err;
}

/* The template up to its first placeholder: where arguments cannot go. */
static lf_err_t default_allow(lf_http_binding_t *b) {
  size_t n = strcspn(b->url, "{?#");
  char *fixed = strndup(b->url, n);
  if (!fixed || !(b->allow = calloc(1, sizeof(*b->allow)))) {
    free(fixed);
    return LF_ERR_NOMEM;
  }
  lf_err_t err = allow_entry(fixed, &b->allow[0]);
  free(fixed);
  b->nallow = err ? 0 : 1;
  return err;
}

static lf_err_t strings(const json_t *v, const char *field, char ***out,
                        size_t *n, char *errstr, size_t errstr_size) {
  size_t i;
  const json_t *s;
  if (!v)
    return LF_OK;
  if (!json_is_array(v) ||
      !(*out = calloc(json_array_size(v) + 1, sizeof(char *)))) {
    snprintf(errstr, errstr_size, "executor/%s: expected an array of strings",
             field);
    return LF_ERR_INVALID;
  }
  json_array_foreach(v, i, s) {
    if (!json_is_string(s) || !((*out)[i] = strdup(json_string_value(s)))) {
      snprintf(errstr, errstr_size, "executor/%s/%zu: expected a string", field,
               i);
      *n = i;
      return LF_ERR_INVALID;
    }
  }
  *n = json_array_size(v);
  return LF_OK;
}

static lf_err_t parse_allow(lf_http_binding_t *b, const json_t *v, char *errstr,
                            size_t errstr_size) {
  char **urls = NULL;
  size_t n = 0;
  lf_err_t err = strings(v, "allow", &urls, &n, errstr, errstr_size);
  if (!err && n && !(b->allow = calloc(n, sizeof(*b->allow))))
    err = LF_ERR_NOMEM;
  for (size_t i = 0; i < n && !err; i++, b->nallow++)
    if ((err = allow_entry(urls[i], &b->allow[i])))
      snprintf(errstr, errstr_size,
               "executor/allow/%zu: \"%.200s\" is not an http(s) URL prefix", i,
               urls[i]);
  for (size_t i = 0; i < n; i++)
    free(urls[i]);
  free(urls);
  if (!err && !v)
    err = default_allow(b);
  return err;
}

static lf_err_t parse_accept(lf_http_binding_t *b, const json_t *v,
                             char *errstr, size_t errstr_size) {
  size_t i;
  const json_t *c;
  if (!v)
    return LF_OK;
  if (!json_is_array(v) || json_array_size(v) > 16) {
    snprintf(errstr, errstr_size,
             "executor/accept: expected an array of up to 16 status codes");
    return LF_ERR_INVALID;
  }
  json_array_foreach(v, i, c) {
    if (!json_is_integer(c) || json_integer_value(c) < 100 ||
        json_integer_value(c) > 599) {
      snprintf(errstr, errstr_size,
               "executor/accept/%zu: expected a status code 100..599", i);
      return LF_ERR_INVALID;
    }
    b->accept[b->naccept++] = (int)json_integer_value(c);
  }
  return LF_OK;
}

static int is_method(const char *m) {
  static const char *const ok[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    if (!strcmp(m, ok[i]))
      return 1;
  return 0;
}

static lf_err_t check_fields(const json_t *spec, char *errstr,
                             size_t errstr_size) {
  static const char *const known[] = {"kind",
                                      "method",
                                      "url",
                                      "headers",
                                      "body",
                                      "timeout",
                                      "retries",
                                      "accept",
                                      "redirects",
                                      "allow",
                                      "allow_internal",
                                      "max_response_bytes",
                                      "response_headers",
                                      NULL};
  const char *key;
  const json_t *v;
  json_object_foreach((json_t *)spec, key, v) {
    size_t i = 0;
    while (known[i] && strcmp(known[i], key))
      i++;
    if (!known[i]) {
      snprintf(errstr, errstr_size, "executor/%s: unknown field", key);
      return LF_ERR_INVALID;
    }
  }
  return LF_OK;
}

static int64_t int_field(const json_t *spec, const char *f, int64_t def) {
  const json_t *v = json_object_get(spec, f);
  return v ? (json_is_integer(v) ? json_integer_value(v) : -1) : def;
}

static lf_err_t parse_scalars(lf_http_binding_t *b, const json_t *spec,
                              int lint, char *errstr, size_t errstr_size) {
  const char *m = json_string_value(json_object_get(spec, "method"));
  const char *url = json_string_value(json_object_get(spec, "url"));
  const json_t *t = json_object_get(spec, "timeout");
  int64_t ms = t ? lf_catalog_duration_ms(t) : 10000;
  if (m && !is_method(m)) {
    snprintf(errstr, errstr_size,
             "executor/method: \"%.20s\" is not GET, POST, PUT, PATCH or "
             "DELETE",
             m);
    return LF_ERR_INVALID;
  }
  char why[256];
  if (!url) {
    snprintf(errstr, errstr_size, "executor/url: required (a URL template)");
    return LF_ERR_INVALID;
  }
  if (!(b->url = lf_http_env_expand_opt(url, lint, why, sizeof(why)))) {
    snprintf(errstr, errstr_size, "executor/url: %s", why);
    return LF_ERR_INVALID;
  }
  if (lf_url_template_check(b->url, why, sizeof(why))) {
    snprintf(errstr, errstr_size, "executor/%s", why);
    return LF_ERR_INVALID;
  }
  if (ms <= 0) {
    snprintf(errstr, errstr_size,
             "executor/timeout: expected a duration such as \"10s\"");
    return LF_ERR_INVALID;
  }
  b->timeout_ms = (long)ms;
  b->retries = (int)int_field(spec, "retries", 2);
  b->redirects = (int)int_field(spec, "redirects", 0);
  int64_t max = int_field(spec, "max_response_bytes", 1048576);
  if (b->retries < 0 || b->retries > 10 || b->redirects < 0 ||
      b->redirects > 10 || max <= 0) {
    snprintf(errstr, errstr_size,
             "executor: retries and redirects are integers 0..10, "
             "max_response_bytes a positive integer");
    return LF_ERR_INVALID;
  }
  b->max_response = (size_t)max;
  b->backoff_ms = 200;
  if (!(b->method = strdup(m ? m : "POST")))
    return LF_ERR_NOMEM;
  return LF_OK;
}

lf_http_binding_t *lf_http_binding_parse(const json_t *spec, int lint,
                                         char *errstr, size_t errstr_size) {
  lf_http_binding_t *b = calloc(1, sizeof(*b));
  const json_t *h = json_object_get(spec, "headers");
  const json_t *rh = json_object_get(spec, "response_headers");
  const char *kind = json_string_value(json_object_get(spec, "kind"));
  lf_err_t err = b ? LF_OK : LF_ERR_NOMEM;
  errstr[0] = '\0';
  if (!err && (!kind || strcmp(kind, "http"))) {
    snprintf(errstr, errstr_size, "executor/kind: expected \"http\"");
    err = LF_ERR_INVALID;
  }
  if (!err && (h && !json_is_object(h))) {
    snprintf(errstr, errstr_size, "executor/headers: expected an object");
    err = LF_ERR_INVALID;
  }
  if (!err && rh && !json_is_array(rh)) {
    snprintf(errstr, errstr_size,
             "executor/response_headers: expected an array");
    err = LF_ERR_INVALID;
  }
  if (!err)
    err = check_fields(spec, errstr, errstr_size);
  if (!err)
    err = parse_scalars(b, spec, lint, errstr, errstr_size);
  if (!err)
    err = parse_accept(b, json_object_get(spec, "accept"), errstr, errstr_size);
  if (!err)
    err = parse_allow(b, json_object_get(spec, "allow"), errstr, errstr_size);
  if (!err)
    err = strings(json_object_get(spec, "allow_internal"), "allow_internal",
                  &b->internal, &b->ninternal, errstr, errstr_size);
  for (size_t i = 0; !err && i < b->ninternal; i++) {
    char why[256],
        *v = lf_http_env_expand_opt(b->internal[i], lint, why, sizeof(why));
    if (!v) {
      snprintf(errstr, errstr_size, "executor/allow_internal/%zu: %s", i, why);
      err = LF_ERR_INVALID;
    }
    free(b->internal[i]);
    b->internal[i] = v;
  }
  if (!err) {
    b->body = json_incref(json_object_get(spec, "body")); /* NULL: none */
    b->headers = h ? json_incref((json_t *)h) : json_object();
    b->response_headers = rh ? json_incref((json_t *)rh)
                             : json_pack("[s,s]", "content-type", "location");
    if (!b->headers || !b->response_headers)
      err = LF_ERR_NOMEM;
  }
  if (err) {
    if (!errstr[0])
      snprintf(errstr, errstr_size, "out of memory");
    lf_http_binding_destroy(b);
    return NULL;
  }
  return b;
}

int lf_http_binding_accepts(const lf_http_binding_t *b, long status) {
  if (!b->naccept)
    return status >= 200 && status < 300;
  for (size_t i = 0; i < b->naccept; i++)
    if (b->accept[i] == status)
      return 1;
  return 0;
}

char *lf_http_env_expand(const char *tmpl, char *errstr, size_t errstr_size) {
  return lf_http_env_expand_opt(tmpl, 0, errstr, errstr_size);
}

char *lf_http_env_expand_opt(const char *tmpl, int lenient, char *errstr,
                             size_t errstr_size) {
  size_t cap = strlen(tmpl) + 1, len = 0;
  char *out = malloc(cap);
  for (const char *p = tmpl; out && *p;) {
    const char *v = p, *end = NULL;
    size_t n = 1;
    char name[128];
    if (p[0] == '$' && p[1] == '{' && (end = strchr(p, '}')) &&
        (size_t)(end - p - 2) < sizeof(name)) {
      memcpy(name, p + 2, (size_t)(end - p - 2));
      name[end - p - 2] = '\0';
      if (!(v = getenv(name)) && lenient)
        v = "unset-env";
      if (!v) {
        snprintf(errstr, errstr_size, "environment variable %s is not set",
                 name);
        free(out);
        return NULL;
      }
      n = strlen(v);
    }
    if (len + n + 1 > cap) {
      char *grown = realloc(out, cap = (len + n + 1) * 2);
      if (!grown) {
        free(out);
        out = NULL;
        break;
      }
      out = grown;
    }
    memcpy(out + len, v, n);
    len += n;
    p = end ? end + 1 : p + 1;
  }
  if (!out) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  out[len] = '\0';
  return out;
}
