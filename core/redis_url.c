#include "redis_url.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *lf_redis_url_redact(const char *url, char *out, size_t size) {
  const char *start = strstr(url, "://");
  start = start ? start + 3 : url;
  /* the userinfo ends at the last '@' before the path */
  size_t span = strcspn(start, "/?#");
  const char *at = NULL, *colon;
  for (const char *p = start; p < start + span; p++)
    at = *p == '@' ? p : at;
  colon = at ? memchr(start, ':', (size_t)(at - start)) : NULL;
  if (colon) /* the user is no secret; the password is */
    snprintf(out, size, "%.*s***%s", (int)(colon + 1 - url), url, at);
  else
    snprintf(out, size, "%s", url);
  return out;
}

/* A part of u into out (size bytes), URL-decoded; "" when absent. */
static int part(CURLU *u, CURLUPart what, char *out, size_t size) {
  char *v = NULL;
  CURLUcode rc = curl_url_get(u, what, &v, CURLU_URLDECODE);
  out[0] = '\0';
  if (rc == CURLUE_OK) {
    int fits = strlen(v) < size;
    if (fits)
      memcpy(out, v, strlen(v) + 1);
    memset(v, 0, strlen(v));
    curl_free(v);
    return fits ? 0 : -1;
  }
  return rc == CURLUE_NO_USER || rc == CURLUE_NO_PASSWORD ||
                 rc == CURLUE_NO_PORT || rc == CURLUE_NO_QUERY ||
                 rc == CURLUE_NO_FRAGMENT
             ? 0
             : -1;
}

static const char *parse_tcp(CURLU *u, lf_redis_url_t *r) {
  char port[16], path[64], host[sizeof(r->host) + 2];
  if (part(u, CURLUPART_USER, r->user, sizeof(r->user)) ||
      part(u, CURLUPART_PASSWORD, r->password, sizeof(r->password)))
    return "a user name or password too long";
  if (part(u, CURLUPART_HOST, host, sizeof(host)) || !host[0])
    return "no host";
  size_t n = strlen(host), from = 0;
  if (host[0] == '[' && host[n - 1] == ']') /* IPv6 */
    from = 1, n -= 2;
  if (n >= sizeof(r->host))
    return "a host name too long";
  memcpy(r->host, host + from, n);
  r->host[n] = '\0';
  r->port = 6379;
  if (part(u, CURLUPART_PORT, port, sizeof(port)))
    return "a bad port";
  if (port[0])
    r->port = atoi(port);
  if (r->port <= 0 || r->port > 65535)
    return "a bad port";
  if (part(u, CURLUPART_PATH, path, sizeof(path)))
    return "a bad database number";
  if (path[0] == '/' && path[1]) {
    char *e;
    long db = strtol(path + 1, &e, 10);
    if (*e || db < 0 || db > 1000000)
      return "a bad database number";
    r->db = (int)db;
  }
  return NULL;
}

lf_err_t lf_redis_url_parse(const char *url, lf_redis_url_t *r, char *errstr,
                            size_t errstr_size) {
  const char *why = NULL;
  memset(r, 0, sizeof(*r));
  if (!strncmp(url, "unix://", 7)) {
    if (!url[7] || (size_t)snprintf(r->path, sizeof(r->path), "%s", url + 7) >=
                       sizeof(r->path))
      why = "no socket path, or one too long";
  } else if (strncmp(url, "redis://", 8) && strncmp(url, "rediss://", 9)) {
    why = "not redis://, rediss:// or unix://";
  } else {
    r->tls = url[5] == 's';
    CURLU *u = curl_url();
    if (!u)
      why = "out of memory";
    else if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME))
      why = "not a URL";
    else
      why = parse_tcp(u, r);
    curl_url_cleanup(u);
  }
  if (!why)
    return LF_OK;
  char shown[600];
  snprintf(errstr, errstr_size,
           "redis.url: \"%s\": %s (expected "
           "redis[s]://[[user]:password@]host[:port][/db] or unix:///path)",
           lf_redis_url_redact(url, shown, sizeof(shown)), why);
  lf_redis_url_wipe(r);
  return LF_ERR_INVALID;
}

void lf_redis_url_wipe(lf_redis_url_t *u) {
  volatile char *p = (volatile char *)u->password;
  for (size_t i = 0; i < sizeof(u->password); i++)
    p[i] = 0;
}
