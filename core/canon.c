/* Canonical JSON for idempotency keys and signatures: object keys sorted,
 * no insignificant whitespace, numbers normalised (2.0 and 2 are the same
 * number; -0 is 0; other reals in their shortest round-trip form), so the
 * same call re-proposed with reordered keys or reformatted numbers has the
 * same bytes. */
#include "canon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
  char *s;
  size_t n, cap;
  int oom;
} buf_t;

static void put(buf_t *b, const char *s, size_t len) {
  if (b->oom)
    return;
  if (b->n + len + 1 > b->cap) {
    size_t cap = (b->cap ? b->cap * 2 : 256) + len;
    char *p = realloc(b->s, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, len);
  b->n += len;
  b->s[b->n] = '\0';
}

static void put_real(buf_t *b, double d) {
  char num[40];
  if (d == floor(d) && fabs(d) <= 9007199254740992.0) {
    snprintf(num, sizeof(num), "%lld", (long long)d); /* also -0 -> 0 */
  } else {
    for (int prec = 15; prec <= 17; prec++) {
      snprintf(num, sizeof(num), "%.*g", prec, d);
      if (strtod(num, NULL) == d)
        break;
    }
  }
  put(b, num, strlen(num));
}

static int cmp_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_value(buf_t *b, const json_t *v) {
  char num[32];
  switch (json_typeof(v)) {
  case JSON_OBJECT: {
    size_t n = json_object_size(v), i = 0;
    const char **keys = malloc((n ? n : 1) * sizeof(*keys));
    const char *k;
    json_t *m;
    if (!keys) {
      b->oom = 1;
      return;
    }
    json_object_foreach((json_t *)v, k, m) {
      keys[i++] = k;
    }
    qsort(keys, n, sizeof(*keys), cmp_keys);
    put(b, "{", 1);
    for (i = 0; i < n; i++) {
      json_t *key = json_string(keys[i]);
      if (i)
        put(b, ",", 1);
      if (!key)
        b->oom = 1;
      else
        put_value(b, key);
      json_decref(key);
      put(b, ":", 1);
      put_value(b, json_object_get(v, keys[i]));
    }
    put(b, "}", 1);
    free(keys);
    break;
  }
  case JSON_ARRAY:
    put(b, "[", 1);
    for (size_t i = 0; i < json_array_size(v); i++) {
      if (i)
        put(b, ",", 1);
      put_value(b, json_array_get(v, i));
    }
    put(b, "]", 1);
    break;
  case JSON_INTEGER:
    snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
    put(b, num, strlen(num));
    break;
  case JSON_REAL:
    put_real(b, json_real_value(v));
    break;
  default: { /* strings and literals: jansson's own escaping */
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s)
      b->oom = 1;
    else
      put(b, s, strlen(s));
    free(s);
  }
  }
}

char *lf_json_canonical(const json_t *v) {
  buf_t b = {0};
  put_value(&b, v);
  if (b.oom) {
    free(b.s);
    return NULL;
  }
  return b.s;
}
