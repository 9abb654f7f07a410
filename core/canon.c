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

/* d as m / 10^k with m an integer of at most 15 digits and k as small as
 * possible, k at most 15: the digits "%.15g" writes, when it writes them
 * in fixed notation (d at least 1e-4). m / 10^k is exact arithmetic
 * correctly rounded (m < 2^53, 10^k exact), so its equality with d is
 * what strtod of the text would say, without printf's and strtod's
 * multi-precision work. 0 when d is not such a number. */
static size_t short_decimal(double d, char *buf) {
  static const double p10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  double a = fabs(d);
  if (!(a >= 1e-4 && a < 1e15))
    return 0;
  for (int k = 1; k <= 15; k++) {
    double m = a * p10[k];
    if (m >= 1e15)
      return 0;
    if (m != floor(m) || m / p10[k] != a)
      continue;
    char digits[24];
    int n = snprintf(digits, sizeof(digits), "%lld", (long long)m);
    size_t len = 0;
    if (digits[n - 1] == '0') /* a smaller k was missed by rounding */
      return 0;
    if (d < 0)
      buf[len++] = '-';
    if (n <= k) { /* 0.000ddd */
      buf[len++] = '0';
      buf[len++] = '.';
      for (int z = 0; z < k - n; z++)
        buf[len++] = '0';
      memcpy(buf + len, digits, (size_t)n);
      len += (size_t)n;
    } else {
      memcpy(buf + len, digits, (size_t)(n - k));
      len += (size_t)(n - k);
      buf[len++] = '.';
      memcpy(buf + len, digits + n - k, (size_t)k);
      len += (size_t)k;
    }
    buf[len] = '\0';
    return len;
  }
  return 0;
}

size_t lf_json_real_text(double d, char *buf) {
  size_t n;
  if (d == floor(d) && fabs(d) <= 9007199254740992.0)
    return (size_t)snprintf(buf, LF_REAL_TEXT_MAX, "%lld",
                            (long long)d); /* also -0 -> 0 */
  if ((n = short_decimal(d, buf)))
    return n;
  for (int prec = 15; prec <= 17; prec++) {
    n = (size_t)snprintf(buf, LF_REAL_TEXT_MAX, "%.*g", prec, d);
    if (strtod(buf, NULL) == d)
      break;
  }
  return n;
}

static void put_real(buf_t *b, double d) {
  char num[LF_REAL_TEXT_MAX];
  size_t n = lf_json_real_text(d, num);
  put(b, num, n);
}

static int cmp_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A JSON string exactly as jansson's json_dumps(JSON_COMPACT) writes it
 * (signatures made by older versions must still verify): '"' and '\\'
 * escaped, \b \f \n \r \t by name, other control characters as \u00XX
 * (upper-case hex), everything else, UTF-8 included, as it is. Written
 * here in runs rather than through json_dumps per string. */
static void put_string(buf_t *b, const char *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  size_t run = 0;
  put(b, "\"", 1);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    put(b, s + run, i - run);
    run = i + 1;
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
    const char *named = c == '"'    ? "\\\""
                        : c == '\\' ? "\\\\"
                        : c == '\b' ? "\\b"
                        : c == '\f' ? "\\f"
                        : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t"
                                    : NULL;
    if (named)
      put(b, named, 2);
    else
      put(b, esc, sizeof(esc));
  }
  put(b, s + run, len - run);
  put(b, "\"", 1);
}

static void put_int(buf_t *b, long long v) {
  char num[24], *p = num + sizeof(num);
  unsigned long long u =
      v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
  do
    *--p = (char)('0' + u % 10);
  while (u /= 10);
  if (v < 0)
    *--p = '-';
  put(b, p, (size_t)(num + sizeof(num) - p));
}

#define SMALL_OBJECT 32 /* keys sorted on the stack up to this many */

static void put_value(buf_t *b, const json_t *v);

static void put_object(buf_t *b, const json_t *v) {
  const char *small[SMALL_OBJECT], **keys = small, *k;
  size_t n = json_object_size(v), i = 0;
  json_t *m;
  if (n > SMALL_OBJECT && !(keys = malloc(n * sizeof(*keys)))) {
    b->oom = 1;
    return;
  }
  json_object_foreach((json_t *)v, k, m) {
    keys[i++] = k;
  }
  qsort(keys, n, sizeof(*keys), cmp_keys);
  put(b, "{", 1);
  for (i = 0; i < n; i++) {
    if (i)
      put(b, ",", 1);
    put_string(b, keys[i], strlen(keys[i]));
    put(b, ":", 1);
    put_value(b, json_object_get(v, keys[i]));
  }
  put(b, "}", 1);
  if (keys != small)
    free(keys);
}

static void put_value(buf_t *b, const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    put_object(b, v);
    break;
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
    put_int(b, (long long)json_integer_value(v));
    break;
  case JSON_REAL:
    put_real(b, json_real_value(v));
    break;
  case JSON_STRING:
    put_string(b, json_string_value(v), json_string_length(v));
    break;
  case JSON_TRUE:
    put(b, "true", 4);
    break;
  case JSON_FALSE:
    put(b, "false", 5);
    break;
  default:
    put(b, "null", 4);
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
