/* Runs a compiled schema over a value, reporting every problem with the
 * JSON pointer of the value at fault and a sentence a model can act on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "pattern.h"
#include "schema_impl.h"

/* Instance nesting plus $ref hops: a self-referencing schema cannot make
 * the validator recurse without end. */
#define MAX_DEPTH 128
#define MAX_DEPTH_TEXT "128"
/* Subschema visits per value: a schema whose $refs fan out (anyOf of refs
 * of anyOf...) could otherwise cost exponential time. */
#define MAX_STEPS 200000
#define MAX_STEPS_TEXT "200000"

/* What one validation may spend, shared with the private contexts of
 * anyOf/oneOf/not branches: a limit hit anywhere, even inside a branch
 * whose failure would otherwise be fine, ends the whole validation and
 * rejects (fail closed), so "too costly" can never read as "no match". */
typedef struct vbudget {
  long steps;
  int hit;
  char path[256], why[256];
} vbudget_t;

typedef struct vctx {
  lf_reasons_t *r;
  int depth;
  vbudget_t *b;
  lf_err_t err;
} vctx_t;

static void limit_hit(vctx_t *c, const char *path, const char *fmt,
                      const char *arg) {
  if (c->b->hit++)
    return;
  snprintf(c->b->path, sizeof(c->b->path), "%s", path);
  snprintf(c->b->why, sizeof(c->b->why), fmt, arg);
}

static void validate(vctx_t *c, const lf_snode_t *n, const json_t *v,
                     const char *path);

#define ADD(c, code, path, ...)                                                \
  do {                                                                         \
    if (!(c)->err)                                                             \
      (c)->err = lf_reasons_add((c)->r, code, path, __VA_ARGS__);              \
  } while (0)

static const char *type_of(const json_t *v) {
  static const char *const names[] = {"object", "array",   "string",  "integer",
                                      "number", "boolean", "boolean", "null"};
  return names[json_typeof(v)];
}

/* A short rendering of a value for messages. */
static const char *show(const json_t *v, char *buf, size_t size) {
  char *s =
      json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
  if (!s)
    return "the value";
  if (strlen(s) >= size && size > 4)
    snprintf(buf, size, "%.*s...", (int)(size - 4), s);
  else
    snprintf(buf, size, "%s", s);
  free(s);
  return buf;
}

static unsigned type_bits(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return LF_T_OBJECT;
  case JSON_ARRAY:
    return LF_T_ARRAY;
  case JSON_STRING:
    return LF_T_STRING;
  case JSON_INTEGER:
    return LF_T_INTEGER | LF_T_NUMBER;
  case JSON_REAL: {
    double d = json_real_value(v);
    return LF_T_NUMBER | (floor(d) == d ? LF_T_INTEGER : 0);
  }
  case JSON_TRUE:
  case JSON_FALSE:
    return LF_T_BOOLEAN;
  default:
    return LF_T_NULL;
  }
}

static void check_type(vctx_t *c, const lf_snode_t *n, const json_t *v,
                       const char *path) {
  static const char *const names[] = {"null",   "boolean", "object", "array",
                                      "string", "number",  "integer"};
  char want[96] = "";
  if (!n->types || (n->types & type_bits(v)))
    return;
  for (int i = 0; i < 7; i++)
    if (n->types & (1u << i))
      snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s",
               *want ? " or " : "", names[i]);
  ADD(c, "type_error", path, "%s: expected %s, got %s", path, want, type_of(v));
}

static int is_multiple(const json_t *v, const json_t *m) {
  if (json_is_integer(v) && json_is_integer(m))
    return json_integer_value(v) % json_integer_value(m) == 0;
  /* Binary reals: 0.3 is not exactly 3 * 0.1, so allow rounding noise. */
  double q = json_number_value(v) / json_number_value(m);
  return isfinite(q) && fabs(q - nearbyint(q)) <= 1e-9 * fmax(1.0, fabs(q));
}

static void check_number(vctx_t *c, const lf_snode_t *n, const json_t *v,
                         const char *path) {
  char a[64], b[64];
  if (n->minimum && lf_json_num_cmp(v, n->minimum) < 0)
    ADD(c, "value_error", path, "%s: %s is less than the minimum %s", path,
        show(v, a, sizeof(a)), show(n->minimum, b, sizeof(b)));
  if (n->maximum && lf_json_num_cmp(v, n->maximum) > 0)
    ADD(c, "value_error", path, "%s: %s is greater than the maximum %s", path,
        show(v, a, sizeof(a)), show(n->maximum, b, sizeof(b)));
  if (n->xminimum && lf_json_num_cmp(v, n->xminimum) <= 0)
    ADD(c, "value_error", path, "%s: %s must be greater than %s", path,
        show(v, a, sizeof(a)), show(n->xminimum, b, sizeof(b)));
  if (n->xmaximum && lf_json_num_cmp(v, n->xmaximum) >= 0)
    ADD(c, "value_error", path, "%s: %s must be less than %s", path,
        show(v, a, sizeof(a)), show(n->xmaximum, b, sizeof(b)));
  if (n->multiple_of && !is_multiple(v, n->multiple_of))
    ADD(c, "value_error", path, "%s: %s is not a multiple of %s", path,
        show(v, a, sizeof(a)), show(n->multiple_of, b, sizeof(b)));
}

size_t lf_utf8_length(const char *s, size_t bytes) {
  size_t n = 0;
  for (size_t i = 0; i < bytes; i++)
    n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

static void check_string(vctx_t *c, const lf_snode_t *n, const json_t *v,
                         const char *path) {
  const char *s = json_string_value(v);
  size_t bytes = json_string_length(v);
  json_int_t len = (json_int_t)lf_utf8_length(s, bytes);
  char a[64];
  if (n->min_length >= 0 && len < n->min_length)
    ADD(c, "value_error", path,
        "%s: %s is %lld characters long, shorter than the minimum %lld", path,
        show(v, a, sizeof(a)), (long long)len, (long long)n->min_length);
  if (n->max_length >= 0 && len > n->max_length)
    ADD(c, "value_error", path,
        "%s: %s is %lld characters long, longer than the maximum %lld", path,
        show(v, a, sizeof(a)), (long long)len, (long long)n->max_length);
  if (n->pattern) {
    char why[200];
    int rc = lf_regex_match(n->pattern, s, bytes, why, sizeof(why));
    if (rc == LF_REGEX_LIMIT)
      limit_hit(c, path, "%s", why);
    else if (rc == LF_REGEX_NOMATCH)
      ADD(c, "value_error", path, "%s: %s does not match the pattern %s", path,
          show(v, a, sizeof(a)), n->pattern_src);
  }
  if (n->format >= 0 && !lf_format_check(n->format, s, bytes))
    ADD(c, "value_error", path, "%s: %s is not a valid %s", path,
        show(v, a, sizeof(a)), lf_format_name(n->format));
}

static void check_object(vctx_t *c, const lf_snode_t *n, const json_t *v,
                         const char *path) {
  char p[512];
  const char *key;
  json_t *m;
  json_int_t size = (json_int_t)json_object_size(v);
  for (size_t i = 0; i < n->nrequired; i++)
    if (!json_object_get(v, n->required[i])) {
      lf_json_pointer(p, sizeof(p), path, n->required[i]);
      ADD(c, "missing_required", p, "%s: required argument \"%s\" is missing",
          p, n->required[i]);
    }
  if (n->min_props >= 0 && size < n->min_props)
    ADD(c, "value_error", path, "%s: has %lld properties, fewer than %lld",
        *path ? path : "/", (long long)size, (long long)n->min_props);
  if (n->max_props >= 0 && size > n->max_props)
    ADD(c, "value_error", path, "%s: has %lld properties, more than %lld",
        *path ? path : "/", (long long)size, (long long)n->max_props);
  json_object_foreach((json_t *)v, key, m) {
    const lf_snode_t *ps = NULL;
    for (size_t i = 0; i < n->nprops && !ps; i++)
      if (!strcmp(n->props[i].name, key))
        ps = n->props[i].schema;
    lf_json_pointer(p, sizeof(p), path, key);
    if (ps)
      validate(c, ps, m, p);
    else if (n->additional == 0)
      ADD(c, "unexpected_param", p, "%s: \"%s\" is not a parameter here", p,
          key);
    else if (n->additional == 2)
      validate(c, n->additional_schema, m, p);
  }
}

static void check_array(vctx_t *c, const lf_snode_t *n, const json_t *v,
                        const char *path) {
  char p[512];
  size_t size = json_array_size(v);
  if (n->min_items >= 0 && (json_int_t)size < n->min_items)
    ADD(c, "value_error", path, "%s: has %zu items, fewer than %lld",
        *path ? path : "/", size, (long long)n->min_items);
  if (n->max_items >= 0 && (json_int_t)size > n->max_items)
    ADD(c, "value_error", path, "%s: has %zu items, more than %lld",
        *path ? path : "/", size, (long long)n->max_items);
  for (size_t i = 0; i < size; i++) {
    const lf_snode_t *is =
        i < n->prefix_items.n ? n->prefix_items.v[i] : n->items;
    snprintf(p, sizeof(p), "%s/%zu", path, i);
    if (is)
      validate(c, is, json_array_get(v, i), p);
  }
  for (size_t i = 0; n->unique_items && i < size; i++)
    for (size_t k = i + 1; k < size; k++)
      if (lf_json_equal(json_array_get(v, i), json_array_get(v, k))) {
        snprintf(p, sizeof(p), "%s/%zu", path, k);
        ADD(c, "value_error", p, "%s: repeats item %zu; items must be unique",
            p, i);
        i = size;
        break;
      }
}

static void check_enum(vctx_t *c, const lf_snode_t *n, const json_t *v,
                       const char *path) {
  char a[64], b[160];
  if (n->const_v && !lf_json_equal(v, n->const_v))
    ADD(c, "value_error", path, "%s: must be %s, got %s", path,
        show(n->const_v, b, sizeof(b)), show(v, a, sizeof(a)));
  if (n->enum_v) {
    for (size_t i = 0; i < json_array_size(n->enum_v); i++)
      if (lf_json_equal(v, json_array_get(n->enum_v, i)))
        return;
    ADD(c, "value_error", path, "%s: %s is not one of %s", path,
        show(v, a, sizeof(a)), show(n->enum_v, b, sizeof(b)));
  }
}

/* Validates against one branch privately: how many problems, and the first
 * one's sentence for the summary. */
static size_t try_branch(vctx_t *c, const lf_snode_t *n, const json_t *v,
                         const char *path, char *first, size_t size) {
  lf_reasons_t tmp = {0};
  vctx_t sub = {&tmp, c->depth, c->b, LF_OK};
  validate(&sub, n, v, path);
  size_t bad = tmp.n + (sub.err != LF_OK);
  if (first && tmp.n)
    snprintf(first, size, "%s", tmp.v[0].message);
  if (sub.err)
    c->err = sub.err;
  lf_reasons_free(&tmp);
  return bad;
}

static void check_combinators(vctx_t *c, const lf_snode_t *n, const json_t *v,
                              const char *path) {
  char first[300] = "";
  const char *at = *path ? path : "/";
  for (size_t i = 0; i < n->all_of.n; i++)
    validate(c, n->all_of.v[i], v, path);
  if (n->any_of.n) {
    size_t ok = 0;
    for (size_t i = 0; i < n->any_of.n && !ok; i++)
      ok = !try_branch(c, n->any_of.v[i], v, path, i ? NULL : first,
                       sizeof(first));
    if (!ok)
      ADD(c, "value_error", path,
          "%s: matches none of the %zu allowed forms (the first says: %s)", at,
          n->any_of.n, first);
  }
  if (n->one_of.n) {
    size_t ok = 0;
    for (size_t i = 0; i < n->one_of.n; i++)
      ok += !try_branch(c, n->one_of.v[i], v, path, i ? NULL : first,
                        sizeof(first));
    if (!ok)
      ADD(c, "value_error", path,
          "%s: matches none of the %zu allowed forms (the first says: %s)", at,
          n->one_of.n, first);
    else if (ok > 1)
      ADD(c, "value_error", path,
          "%s: matches %zu of the oneOf forms; exactly one must match", at, ok);
  }
  if (n->not_ && !try_branch(c, n->not_, v, path, NULL, 0))
    ADD(c, "value_error", path, "%s: matches a form that is not allowed", at);
}

static void validate(vctx_t *c, const lf_snode_t *n, const json_t *v,
                     const char *path) {
  if (c->err || c->b->hit)
    return;
  if (n->boolean >= 0) {
    if (!n->boolean)
      ADD(c, "value_error", path, "%s: no value is allowed here",
          *path ? path : "/");
    return;
  }
  if (++c->b->steps > MAX_STEPS) {
    limit_hit(c, path, "the schema took more than %s steps to check",
              MAX_STEPS_TEXT);
    return;
  }
  if (c->depth + 1 > MAX_DEPTH) {
    limit_hit(c, path, "nested deeper than %s levels (values and $refs)",
              MAX_DEPTH_TEXT);
    return;
  }
  c->depth++;
  size_t before = c->r->n;
  check_type(c, n, v, path);
  if (c->r->n == before) { /* the rest only speaks of the right type */
    if (json_is_number(v))
      check_number(c, n, v, path);
    else if (json_is_string(v))
      check_string(c, n, v, path);
    else if (json_is_object(v))
      check_object(c, n, v, path);
    else if (json_is_array(v))
      check_array(c, n, v, path);
    check_enum(c, n, v, path);
  }
  check_combinators(c, n, v, path);
  if (n->ref)
    validate(c, n->ref, v, path);
  c->depth--;
}

lf_err_t lf_schema_validate(const lf_schema_t *s, const json_t *v,
                            const char *base, lf_reasons_t *reasons) {
  vbudget_t b = {0};
  vctx_t c = {reasons, 0, &b, LF_OK};
  validate(&c, s->top, v, base ? base : "");
  if (!c.err && b.hit)
    c.err = lf_reasons_add(reasons, "limit_exceeded", b.path,
                           "%s: could not be checked, so it is refused: %s",
                           *b.path ? b.path : "/", b.why);
  return c.err;
}
