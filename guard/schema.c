/* Compiles a JSON Schema into lf_snode_t trees. The vocabulary is closed:
 * every keyword has a compiler below or is a pure annotation; anything else
 * is an error naming its JSON pointer, so no constraint a catalog author
 * wrote is silently ignored. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "schema_impl.h"

typedef struct compiler {
  lf_schema_t *s;
  char *errstr;
  size_t errstr_size;
} compiler_t;

static int fail(compiler_t *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(compiler_t *c, const char *path, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(c->errstr, c->errstr_size, "%s: %s", *path ? path : "/", msg);
  return -1;
}

static lf_snode_t *node_new(compiler_t *c) {
  lf_schema_t *s = c->s;
  if (s->nnodes == s->nodes_cap) {
    size_t cap = s->nodes_cap ? s->nodes_cap * 2 : 16;
    lf_snode_t **v = realloc(s->nodes, cap * sizeof(*v));
    if (!v)
      return NULL;
    s->nodes = v;
    s->nodes_cap = cap;
  }
  lf_snode_t *n = calloc(1, sizeof(*n));
  if (!n)
    return NULL;
  n->boolean = -1;
  n->min_length = n->max_length = n->min_items = n->max_items = -1;
  n->min_props = n->max_props = -1;
  n->format = -1;
  n->additional = 1;
  s->nodes[s->nnodes++] = n;
  return n;
}

static int compile_into(compiler_t *c, json_t *js, const char *path,
                        lf_snode_t *n);

/* A subschema at path/key (key may be NULL for path itself). */
static lf_snode_t *sub(compiler_t *c, json_t *js, const char *path,
                       const char *key) {
  char p[512];
  if (key)
    lf_json_pointer(p, sizeof(p), path, key);
  else
    snprintf(p, sizeof(p), "%s", path);
  lf_snode_t *n = node_new(c);
  if (!n) {
    fail(c, p, "out of memory");
    return NULL;
  }
  return compile_into(c, js, p, n) ? NULL : n;
}

static int sub_list(compiler_t *c, json_t *v, const char *path, const char *kw,
                    lf_slist_t *out) {
  char p[512], item[32];
  lf_json_pointer(p, sizeof(p), path, kw);
  if (!json_is_array(v) || !json_array_size(v))
    return fail(c, p, "\"%s\" must be a non-empty array of schemas", kw);
  out->n = json_array_size(v);
  if (!(out->v = calloc(out->n, sizeof(*out->v))))
    return fail(c, p, "out of memory");
  for (size_t i = 0; i < out->n; i++) {
    snprintf(item, sizeof(item), "%zu", i);
    if (!(out->v[i] = sub(c, json_array_get(v, i), p, item)))
      return -1;
  }
  return 0;
}

static int type_bit(const char *name) {
  static const char *const names[] = {"null",   "boolean", "object", "array",
                                      "string", "number",  "integer"};
  for (int i = 0; i < 7; i++)
    if (!strcmp(name, names[i]))
      return 1 << i;
  return 0;
}

static int kw_type(compiler_t *c, lf_snode_t *n, json_t *v, const char *p) {
  size_t i;
  json_t *t;
  if (json_is_string(v)) {
    if (!(n->types = (unsigned)type_bit(json_string_value(v))))
      return fail(c, p, "unknown type \"%s\"", json_string_value(v));
    return 0;
  }
  if (!json_is_array(v) || !json_array_size(v))
    return fail(c, p, "\"type\" must be a type name or a non-empty list");
  json_array_foreach(v, i, t) {
    int bit = json_is_string(t) ? type_bit(json_string_value(t)) : 0;
    if (!bit)
      return fail(c, p, "item %zu is not a type name", i);
    n->types |= (unsigned)bit;
  }
  return 0;
}

static int kw_number(compiler_t *c, const json_t **slot, json_t *v,
                     const char *p) {
  if (!json_is_number(v))
    return fail(c, p, "must be a number");
  *slot = v;
  return 0;
}

static int kw_count(compiler_t *c, json_int_t *slot, json_t *v, const char *p) {
  if (!json_is_integer(v) || json_integer_value(v) < 0)
    return fail(c, p, "must be a non-negative integer");
  *slot = json_integer_value(v);
  return 0;
}

static int kw_pattern(compiler_t *c, lf_snode_t *n, json_t *v, const char *p) {
  int code;
  PCRE2_SIZE off;
  if (!json_is_string(v))
    return fail(c, p, "must be a regular expression string");
  /* UTF + UCP: lengths and classes by code point, like ECMAScript's "u" */
  n->pattern =
      pcre2_compile((PCRE2_SPTR)json_string_value(v), json_string_length(v),
                    PCRE2_UTF | PCRE2_UCP, &code, &off, NULL);
  if (!n->pattern) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof(msg));
    return fail(c, p, "bad regular expression at offset %zu: %s", (size_t)off,
                (const char *)msg);
  }
  n->pattern_src = json_string_value(v);
  return 0;
}

static int kw_properties(compiler_t *c, lf_snode_t *n, json_t *v,
                         const char *p) {
  const char *key;
  json_t *ps;
  if (!json_is_object(v))
    return fail(c, p, "\"properties\" must be an object of schemas");
  if (!(n->props = calloc(json_object_size(v) + 1, sizeof(*n->props))))
    return fail(c, p, "out of memory");
  json_object_foreach(v, key, ps) {
    lf_sprop_t *prop = &n->props[n->nprops++];
    prop->name = key;
    if (!(prop->schema = sub(c, ps, p, key)))
      return -1;
  }
  return 0;
}

static int kw_required(compiler_t *c, lf_snode_t *n, json_t *v, const char *p) {
  size_t i;
  json_t *r;
  if (!json_is_array(v))
    return fail(c, p, "\"required\" must be an array of names");
  if (!(n->required = calloc(json_array_size(v) + 1, sizeof(char *))))
    return fail(c, p, "out of memory");
  json_array_foreach(v, i, r) {
    if (!json_is_string(r))
      return fail(c, p, "item %zu is not a property name", i);
    for (size_t k = 0; k < n->nrequired; k++)
      if (!strcmp(n->required[k], json_string_value(r)))
        return fail(c, p, "\"%s\" is listed twice", json_string_value(r));
    n->required[n->nrequired++] = json_string_value(r);
  }
  return 0;
}

static int kw_additional(compiler_t *c, lf_snode_t *n, json_t *v,
                         const char *p) {
  if (json_is_boolean(v)) {
    n->additional = json_is_true(v);
    return 0;
  }
  n->additional = 2;
  return (n->additional_schema = sub(c, v, p, NULL)) ? 0 : -1;
}

static int kw_format(compiler_t *c, lf_snode_t *n, json_t *v, const char *p) {
  if (!json_is_string(v) ||
      (n->format = lf_format_id(json_string_value(v))) < 0)
    return fail(c, p,
                "format %s is not checked by lamfleet (date-time, date, "
                "email, uri, uuid, ipv4, ipv6 are)",
                json_is_string(v) ? json_string_value(v) : "(not a string)");
  return 0;
}

static lf_snode_t *ref_node(compiler_t *c, const char *pointer, const char *p);

static int kw_ref(compiler_t *c, lf_snode_t *n, json_t *v, const char *p) {
  if (!json_is_string(v) || json_string_value(v)[0] != '#')
    return fail(c, p, "only local references (\"#/$defs/...\") are supported");
  return (n->ref = ref_node(c, json_string_value(v) + 1, p)) ? 0 : -1;
}

static int kw_defs(compiler_t *c, json_t *v, const char *p, const char *kw) {
  const char *key;
  json_t *d;
  char ptr[512];
  if (!json_is_object(v))
    return fail(c, p, "\"%s\" must be an object of schemas", kw);
  /* every definition is compiled, used or not: errors show at load */
  json_object_foreach(v, key, d) {
    lf_json_pointer(ptr, sizeof(ptr), p, key);
    if (!ref_node(c, ptr, ptr))
      return -1;
  }
  return 0;
}

/* Keywords that constrain nothing. */
static int is_annotation(const char *kw) {
  static const char *const names[] = {"title",      "description", "default",
                                      "examples",   "$comment",    "$schema",
                                      "$id",        "readOnly",    "writeOnly",
                                      "deprecated", "x-lamfleet",  NULL};
  for (int i = 0; names[i]; i++)
    if (!strcmp(kw, names[i]))
      return 1;
  return 0;
}

static int keyword(compiler_t *c, lf_snode_t *n, const char *kw, json_t *v,
                   const char *path) {
  char p[512];
  lf_json_pointer(p, sizeof(p), path, kw);
#define KW(name) !strcmp(kw, name)
  if (KW("type"))
    return kw_type(c, n, v, p);
  if (KW("enum"))
    return json_is_array(v) ? (n->enum_v = v, 0)
                            : fail(c, p, "\"enum\" must be an array");
  if (KW("const"))
    return n->const_v = v, 0;
  if (KW("minimum"))
    return kw_number(c, &n->minimum, v, p);
  if (KW("maximum"))
    return kw_number(c, &n->maximum, v, p);
  if (KW("exclusiveMinimum"))
    return kw_number(c, &n->xminimum, v, p);
  if (KW("exclusiveMaximum"))
    return kw_number(c, &n->xmaximum, v, p);
  if (KW("multipleOf"))
    return json_is_number(v) && json_number_value(v) > 0
               ? (n->multiple_of = v, 0)
               : fail(c, p, "\"multipleOf\" must be a number above 0");
  if (KW("minLength"))
    return kw_count(c, &n->min_length, v, p);
  if (KW("maxLength"))
    return kw_count(c, &n->max_length, v, p);
  if (KW("minItems"))
    return kw_count(c, &n->min_items, v, p);
  if (KW("maxItems"))
    return kw_count(c, &n->max_items, v, p);
  if (KW("minProperties"))
    return kw_count(c, &n->min_props, v, p);
  if (KW("maxProperties"))
    return kw_count(c, &n->max_props, v, p);
  if (KW("pattern"))
    return kw_pattern(c, n, v, p);
  if (KW("format"))
    return kw_format(c, n, v, p);
  if (KW("properties"))
    return kw_properties(c, n, v, p);
  if (KW("required"))
    return kw_required(c, n, v, p);
  if (KW("additionalProperties"))
    return kw_additional(c, n, v, p);
  if (KW("items"))
    return (n->items = sub(c, v, p, NULL)) ? 0 : -1;
  if (KW("prefixItems"))
    return sub_list(c, v, path, kw, &n->prefix_items);
  if (KW("uniqueItems"))
    return json_is_boolean(v) ? (n->unique_items = json_is_true(v), 0)
                              : fail(c, p, "must be true or false");
  if (KW("allOf"))
    return sub_list(c, v, path, kw, &n->all_of);
  if (KW("anyOf"))
    return sub_list(c, v, path, kw, &n->any_of);
  if (KW("oneOf"))
    return sub_list(c, v, path, kw, &n->one_of);
  if (KW("not"))
    return (n->not_ = sub(c, v, p, NULL)) ? 0 : -1;
  if (KW("$ref"))
    return kw_ref(c, n, v, p);
  if (KW("$defs") || KW("definitions"))
    return kw_defs(c, v, p, kw);
#undef KW
  if (is_annotation(kw))
    return 0;
  return fail(c, p,
              "keyword \"%s\" is not supported by lamfleet's validator "
              "(refusing to ignore a constraint)",
              kw);
}

static int compile_into(compiler_t *c, json_t *js, const char *path,
                        lf_snode_t *n) {
  const char *kw;
  json_t *v;
  if (json_is_boolean(js)) {
    n->boolean = json_is_true(js);
    return 0;
  }
  if (!json_is_object(js))
    return fail(c, path, "a schema must be an object or a boolean");
  json_object_foreach(js, kw, v) {
    if (keyword(c, n, kw, v, path))
      return -1;
  }
  if (n->props && !json_object_get(js, "additionalProperties") &&
      c->s->opts.strict)
    n->additional = 0;
  return 0;
}

/* Resolves an RFC 6901 pointer in the schema document. */
static json_t *resolve(json_t *root, const char *pointer) {
  char token[256];
  json_t *cur = root;
  const char *p = pointer;
  while (cur && *p == '/') {
    size_t k = 0;
    for (p++; *p && *p != '/' && k + 1 < sizeof(token); p++)
      token[k++] = *p == '~' && p[1] == '1'   ? (p++, '/')
                   : *p == '~' && p[1] == '0' ? (p++, '~')
                                              : *p;
    token[k] = '\0';
    if (json_is_object(cur)) {
      cur = json_object_get(cur, token);
    } else if (json_is_array(cur)) {
      char *end;
      unsigned long i = strtoul(token, &end, 10);
      cur = *token && !*end ? json_array_get(cur, i) : NULL;
    } else {
      cur = NULL;
    }
  }
  return *p ? NULL : cur;
}

/* The node for a pointer, compiled once: recursion through $ref meets the
 * cached node instead of compiling forever. */
static lf_snode_t *ref_node(compiler_t *c, const char *pointer, const char *p) {
  lf_schema_t *s = c->s;
  for (size_t i = 0; i < s->nrefs; i++)
    if (!strcmp(s->refs[i].pointer, pointer))
      return s->refs[i].node;
  json_t *target = resolve(s->root, pointer);
  if (!target) {
    fail(c, p, "reference \"#%s\" points at nothing", pointer);
    return NULL;
  }
  if (s->nrefs == s->refs_cap) {
    size_t cap = s->refs_cap ? s->refs_cap * 2 : 8;
    struct lf_sref *v = realloc(s->refs, cap * sizeof(*v));
    if (!v) {
      fail(c, p, "out of memory");
      return NULL;
    }
    s->refs = v;
    s->refs_cap = cap;
  }
  lf_snode_t *n = node_new(c);
  char *copy = strdup(pointer);
  if (!n || !copy) {
    free(copy);
    fail(c, p, "out of memory");
    return NULL;
  }
  s->refs[s->nrefs].pointer = copy;
  s->refs[s->nrefs++].node = n;
  return compile_into(c, target, pointer, n) ? NULL : n;
}

lf_schema_t *lf_schema_compile(json_t *schema, const lf_schema_opts_t *opts,
                               char *errstr, size_t errstr_size) {
  lf_schema_t *s = calloc(1, sizeof(*s));
  if (!s) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  compiler_t c = {s, errstr, errstr_size};
  s->root = json_incref(schema);
  if (opts)
    s->opts = *opts;
  if (!(s->top = ref_node(&c, "", ""))) {
    lf_schema_destroy(s);
    return NULL;
  }
  return s;
}

json_t *lf_schema_source(const lf_schema_t *s) {
  return s ? s->root : NULL;
}

void lf_schema_destroy(lf_schema_t *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nnodes; i++) {
    lf_snode_t *n = s->nodes[i];
    pcre2_code_free(n->pattern);
    free(n->props);
    free(n->required);
    free(n->prefix_items.v);
    free(n->all_of.v);
    free(n->any_of.v);
    free(n->one_of.v);
    free(n);
  }
  for (size_t i = 0; i < s->nrefs; i++)
    free(s->refs[i].pointer);
  free(s->refs);
  free(s->nodes);
  json_decref(s->root);
  free(s);
}

int lf_json_num_cmp(const json_t *a, const json_t *b) {
  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t x = json_integer_value(a), y = json_integer_value(b);
    return (x > y) - (x < y);
  }
  if (json_is_real(a) && json_is_real(b)) {
    double x = json_real_value(a), y = json_real_value(b);
    return (x > y) - (x < y);
  }
  int flip = json_is_real(a);
  json_int_t i = json_integer_value(flip ? b : a);
  double r = json_real_value(flip ? a : b);
  int res; /* i against r, without rounding i to a double */
  if (r >= 9223372036854775808.0)
    res = -1;
  else if (r < -9223372036854775808.0)
    res = 1;
  else {
    double f = floor(r);
    json_int_t fi = (json_int_t)f;
    res = i < fi ? -1 : i > fi ? 1 : r > f ? -1 : 0;
  }
  return flip ? -res : res;
}

int lf_json_equal(const json_t *a, const json_t *b) {
  if (json_is_number(a) && json_is_number(b))
    return lf_json_num_cmp(a, b) == 0;
  if (json_typeof(a) != json_typeof(b))
    return 0;
  if (json_is_array(a)) {
    if (json_array_size(a) != json_array_size(b))
      return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!lf_json_equal(json_array_get(a, i), json_array_get(b, i)))
        return 0;
    return 1;
  }
  if (json_is_object(a)) {
    const char *k;
    json_t *v;
    if (json_object_size(a) != json_object_size(b))
      return 0;
    json_object_foreach((json_t *)a, k, v) {
      json_t *w = json_object_get(b, k);
      if (!w || !lf_json_equal(v, w))
        return 0;
    }
    return 1;
  }
  return json_equal((json_t *)a, (json_t *)b);
}
