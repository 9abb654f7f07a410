#include "body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The length of the placeholder name at s (after its '{'), 0 when s does
 * not start one. */
static size_t name_len(const char *s) {
  size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
  return n && n < 128 && s[n] == '}' ? n : 0;
}

static const json_t *arg(const json_t *args, const char *name, size_t n) {
  char key[128];
  memcpy(key, name, n);
  key[n] = '\0';
  return json_object_get(args, key);
}

/* Appends text to buf, growing it. */
static int append(char **buf, size_t *len, size_t *cap, const char *text,
                  size_t n) {
  if (*len + n + 1 > *cap) {
    size_t c = (*len + n + 1) * 2;
    char *grown = realloc(*buf, c);
    if (!grown)
      return -1;
    *buf = grown;
    *cap = c;
  }
  memcpy(*buf + *len, text, n);
  *len += n;
  (*buf)[*len] = '\0';
  return 0;
}

static int append_value(char **buf, size_t *len, size_t *cap, const json_t *v) {
  if (json_is_string(v))
    return append(buf, len, cap, json_string_value(v), json_string_length(v));
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  int r = text ? append(buf, len, cap, text, strlen(text)) : -1;
  free(text);
  return r;
}

static json_t *render_string(const char *s, const json_t *args, char *errstr,
                             size_t errstr_size) {
  size_t len = 0, cap = 0, n;
  char *buf = NULL;
  if (s[0] == '{' && (n = name_len(s + 1)) && !s[n + 2]) {
    const json_t *v = arg(args, s + 1, n);
    json_t *copy = v ? json_deep_copy(v) : NULL;
    if (v && !copy)
      snprintf(errstr, errstr_size, "out of memory");
    return copy; /* NULL with errstr "": absent, the caller decides */
  }
  if (append(&buf, &len, &cap, "", 0))
    goto nomem;
  for (const char *p = s; *p;) {
    const char *open = strchr(p, '{');
    if (!open)
      open = p + strlen(p);
    if (append(&buf, &len, &cap, p, (size_t)(open - p)))
      goto nomem;
    if (!*open)
      break;
    if (!(n = name_len(open + 1))) {
      if (append(&buf, &len, &cap, "{", 1))
        goto nomem;
      p = open + 1;
      continue;
    }
    const json_t *v = arg(args, open + 1, n);
    if (!v) {
      snprintf(errstr, errstr_size, "body: argument \"%.*s\" is missing",
               (int)n, open + 1);
      free(buf);
      return NULL;
    }
    if (append_value(&buf, &len, &cap, v))
      goto nomem;
    p = open + n + 2;
  }
  json_t *out = json_stringn(buf, len);
  if (out) {
    free(buf);
    return out;
  }
nomem: /* one free of buf, on every path */
  free(buf);
  snprintf(errstr, errstr_size, "out of memory");
  return NULL;
}

static json_t *render(const json_t *t, const json_t *args, char *errstr,
                      size_t errstr_size);

static json_t *render_object(const json_t *t, const json_t *args, char *errstr,
                             size_t errstr_size) {
  json_t *out = json_object();
  if (!out) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)t, k, v) {
    errstr[0] = '\0';
    json_t *r = render(v, args, errstr, errstr_size);
    if (!r && errstr[0]) {
      json_decref(out);
      return NULL;
    }
    if (r && json_object_set_new(out, k, r)) {
      json_decref(out);
      return NULL;
    }
  }
  return out;
}

static json_t *render_array(const json_t *t, const json_t *args, char *errstr,
                            size_t errstr_size) {
  json_t *out = json_array();
  if (!out) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  size_t i;
  const json_t *v;
  json_array_foreach(t, i, v) {
    errstr[0] = '\0';
    json_t *r = render(v, args, errstr, errstr_size);
    if (!r && errstr[0]) {
      json_decref(out);
      return NULL;
    }
    if (json_array_append_new(out, r ? r : json_null())) {
      json_decref(out);
      return NULL;
    }
  }
  return out;
}

/* NULL with errstr "" stands for an absent whole-string argument. */
static json_t *render(const json_t *t, const json_t *args, char *errstr,
                      size_t errstr_size) {
  if (json_is_string(t))
    return render_string(json_string_value(t), args, errstr, errstr_size);
  if (json_is_object(t))
    return render_object(t, args, errstr, errstr_size);
  if (json_is_array(t))
    return render_array(t, args, errstr, errstr_size);
  json_t *copy = json_deep_copy(t);
  if (!copy)
    snprintf(errstr, errstr_size, "out of memory");
  return copy;
}

json_t *lf_http_body_render(const json_t *tmpl, const json_t *args,
                            char *errstr, size_t errstr_size) {
  errstr[0] = '\0';
  json_t *out = render(tmpl, args, errstr, errstr_size);
  if (!out && !errstr[0])
    out = json_null(); /* the whole body is one absent argument */
  return out;
}
