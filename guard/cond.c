/* Policy conditions: a recursive-descent parser into a small tree, and a
 * three-valued evaluator over jansson values. */
#include "cond.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "pattern.h"
#include "schema_impl.h" /* lf_json_equal, lf_json_num_cmp */

typedef enum { N_OR, N_AND, N_NOT, N_CMP, N_LIT, N_PATH } kind_t;
typedef enum {
  OP_EQ,
  OP_NE,
  OP_LT,
  OP_LE,
  OP_GT,
  OP_GE,
  OP_IN,
  OP_NOTIN,
  OP_MATCH
} op_t;
typedef enum { R_ARGS, R_CONTEXT, R_TENANT, R_ACTION, R_RISK } root_t;

typedef struct node node_t;
struct node {
  kind_t kind;
  op_t op;
  node_t *l, *r;
  json_t *lit;    /* N_LIT */
  root_t root;    /* N_PATH */
  char *path;     /* N_PATH: the text, e.g. "args.to.iban" */
  pcre2_code *re; /* OP_MATCH */
};

struct lf_cond {
  char *text;
  node_t *top;
};

typedef struct parser {
  const char *s, *p;
  char *errstr;
  size_t errstr_size;
  int failed;
  int depth;
} parser_t;

static void node_free(node_t *n) {
  if (!n)
    return;
  node_free(n->l);
  node_free(n->r);
  json_decref(n->lit);
  free(n->path);
  pcre2_code_free(n->re);
  free(n);
}

static node_t *fail(parser_t *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static node_t *fail(parser_t *ps, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  if (ps->failed)
    return NULL;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(ps->errstr, ps->errstr_size, "column %d: %s",
           (int)(ps->p - ps->s) + 1, msg);
  ps->failed = 1;
  return NULL;
}

static node_t *mk(parser_t *ps, kind_t kind) {
  node_t *n = calloc(1, sizeof(*n));
  if (!n)
    fail(ps, "out of memory");
  else
    n->kind = kind;
  return n;
}

static void ws(parser_t *ps) {
  while (isspace((unsigned char)*ps->p))
    ps->p++;
}

/* Consumes word w when it stands alone (not a prefix of a longer name). */
static int word(parser_t *ps, const char *w) {
  size_t n = strlen(w);
  ws(ps);
  if (strncmp(ps->p, w, n) || isalnum((unsigned char)ps->p[n]) ||
      ps->p[n] == '_' || ps->p[n] == '.')
    return 0;
  ps->p += n;
  return 1;
}

static int sym(parser_t *ps, const char *w) {
  ws(ps);
  if (strncmp(ps->p, w, strlen(w)))
    return 0;
  ps->p += strlen(w);
  return 1;
}

static json_t *string_lit(parser_t *ps) {
  char q = *ps->p++;
  char *buf = malloc(strlen(ps->p) + 1);
  size_t n = 0;
  if (!buf)
    return fail(ps, "out of memory"), NULL;
  while (*ps->p && *ps->p != q) {
    if (*ps->p == '\\' && ps->p[1])
      ps->p++; /* \" \' \\ keep the next character as it is */
    buf[n++] = *ps->p++;
  }
  buf[n] = '\0';
  json_t *v = NULL;
  if (*ps->p != q)
    fail(ps, "string not closed");
  else if (!(v = json_stringn(buf, n)))
    fail(ps, "string is not valid UTF-8");
  ps->p += *ps->p == q;
  free(buf);
  return v;
}

static json_t *number_lit(parser_t *ps) {
  char *end;
  errno = 0;
  long long i = strtoll(ps->p, &end, 10);
  if (*end != '.' && *end != 'e' && *end != 'E' && end != ps->p) {
    if (errno)
      return fail(ps, "integer out of range"), NULL;
    ps->p = end;
    return json_integer(i);
  }
  double d = strtod(ps->p, &end);
  if (end == ps->p || !isfinite(d))
    return fail(ps, "not a finite number"), NULL;
  ps->p = end;
  return json_real(d);
}

static json_t *literal(parser_t *ps);

static json_t *list_lit(parser_t *ps) {
  json_t *a = json_array();
  if (!a)
    return fail(ps, "out of memory"), NULL;
  ps->p++;
  if (sym(ps, "]"))
    return a;
  do {
    json_t *v = literal(ps);
    if (!v || json_array_append_new(a, v)) {
      json_decref(a);
      return fail(ps, "out of memory"), NULL;
    }
  } while (sym(ps, ","));
  if (!sym(ps, "]")) {
    json_decref(a);
    return fail(ps, "expected \",\" or \"]\" in the list"), NULL;
  }
  return a;
}

/* A literal, or NULL (with no error) when the text is not one. */
static json_t *literal(parser_t *ps) {
  ws(ps);
  char c = *ps->p;
  if (c == '"' || c == '\'')
    return string_lit(ps);
  if (c == '[')
    return list_lit(ps);
  if (isdigit((unsigned char)c) || c == '-' || c == '+')
    return number_lit(ps);
  if (word(ps, "true"))
    return json_true();
  if (word(ps, "false"))
    return json_false();
  if (word(ps, "null"))
    return json_null();
  return fail(ps, "expected a value"), NULL;
}

static int has_empty_segment(const char *s, size_t len) {
  for (size_t i = 0; i + 1 < len; i++)
    if (s[i] == '.' && s[i + 1] == '.')
      return 1;
  return 0;
}

static node_t *path(parser_t *ps) {
  static const char *const roots[] = {"args", "context", "tenant", "action",
                                      "risk"};
  const char *start = ps->p;
  while (isalnum((unsigned char)*ps->p) || *ps->p == '_' || *ps->p == '.' ||
         *ps->p == '-')
    ps->p++;
  size_t len = (size_t)(ps->p - start);
  size_t root_len = strcspn(start, ".");
  if (root_len > len)
    root_len = len;
  for (int r = 0; r < 5; r++)
    if (strlen(roots[r]) == root_len && !strncmp(start, roots[r], root_len)) {
      if ((r >= R_TENANT) != (root_len == len) || start[len - 1] == '.' ||
          has_empty_segment(start, len)) {
        ps->p = start;
        return fail(ps, "bad field \"%.*s\"", (int)len, start);
      }
      node_t *n = mk(ps, N_PATH);
      if (n && !(n->path = strndup(start, len))) {
        free(n);
        return fail(ps, "out of memory");
      }
      if (n)
        n->root = (root_t)r;
      return n;
    }
  ps->p = start;
  return fail(ps,
              "unknown name \"%.*s\" (use args.NAME, context.NAME, tenant, "
              "action or risk)",
              (int)(len ? len : 1), start);
}

static node_t *expr(parser_t *ps);

static node_t *operand(parser_t *ps) {
  ws(ps);
  if (sym(ps, "(")) {
    node_t *n = expr(ps);
    if (n && !sym(ps, ")")) {
      node_free(n);
      return fail(ps, "expected \")\"");
    }
    return n;
  }
  size_t idlen = strspn(ps->p, "abcdefghijklmnopqrstuvwxyz"
                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
  int keyword_lit = (idlen == 4 && (!strncmp(ps->p, "true", 4) ||
                                    !strncmp(ps->p, "null", 4))) ||
                    (idlen == 5 && !strncmp(ps->p, "false", 5));
  if (idlen && !keyword_lit)
    return path(ps);
  json_t *v = literal(ps);
  if (!v)
    return NULL;
  node_t *n = mk(ps, N_LIT);
  if (!n)
    json_decref(v);
  else
    n->lit = v;
  return n;
}

static int comparison_op(parser_t *ps, op_t *op) {
  static const struct {
    const char *s;
    op_t op;
  } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE},
             {">=", OP_GE}, {"<", OP_LT},  {">", OP_GT}};
  for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
    if (sym(ps, ops[i].s))
      return *op = ops[i].op, 1;
  if (word(ps, "in"))
    return *op = OP_IN, 1;
  if (word(ps, "matches"))
    return *op = OP_MATCH, 1;
  const char *save = ps->p;
  if (word(ps, "not") && word(ps, "in"))
    return *op = OP_NOTIN, 1;
  ps->p = save;
  return 0;
}

static node_t *compile_regex(parser_t *ps, node_t *n) {
  int code;
  PCRE2_SIZE off;
  if (n->r->kind != N_LIT || !json_is_string(n->r->lit)) {
    node_free(n);
    return fail(ps, "\"matches\" needs a string literal pattern");
  }
  n->re = pcre2_compile((PCRE2_SPTR)json_string_value(n->r->lit),
                        json_string_length(n->r->lit), PCRE2_UTF | PCRE2_UCP,
                        &code, &off, NULL);
  if (!n->re) {
    PCRE2_UCHAR msg[200];
    pcre2_get_error_message(code, msg, sizeof(msg));
    node_free(n);
    return fail(ps, "bad pattern at offset %zu: %s", (size_t)off,
                (const char *)msg);
  }
  return n;
}

static node_t *comparison(parser_t *ps) {
  node_t *l = operand(ps);
  op_t op;
  if (!l || !comparison_op(ps, &op))
    return l;
  node_t *n = mk(ps, N_CMP), *r = operand(ps);
  if (!n || !r) {
    node_free(l);
    node_free(r);
    free(n);
    return NULL;
  }
  n->op = op;
  n->l = l;
  n->r = r;
  return op == OP_MATCH ? compile_regex(ps, n) : n;
}

static node_t *unary(parser_t *ps) {
  if (++ps->depth > 64)
    return fail(ps, "nested too deeply");
  node_t *n;
  if (word(ps, "not")) {
    node_t *x = unary(ps);
    if (!x || !(n = mk(ps, N_NOT))) {
      node_free(x);
      return NULL;
    }
    n->l = x;
  } else {
    n = comparison(ps);
  }
  ps->depth--;
  return n;
}

static node_t *binary(parser_t *ps, kind_t kind) {
  node_t *l = kind == N_OR ? binary(ps, N_AND) : unary(ps);
  const char *w = kind == N_OR ? "or" : "and";
  while (l && word(ps, w)) {
    node_t *n = mk(ps, kind);
    node_t *r = kind == N_OR ? binary(ps, N_AND) : unary(ps);
    if (!n || !r) {
      free(n);
      node_free(r);
      node_free(l);
      return NULL;
    }
    n->l = l;
    n->r = r;
    l = n;
  }
  return l;
}

static node_t *expr(parser_t *ps) {
  return binary(ps, N_OR);
}

lf_cond_t *lf_cond_compile(const char *text, char *errstr, size_t errstr_size) {
  parser_t ps = {text, text, errstr, errstr_size, 0, 0};
  lf_cond_t *c = calloc(1, sizeof(*c));
  if (!c || !(c->text = strdup(text))) {
    free(c);
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  c->top = expr(&ps);
  ws(&ps);
  if (c->top && *ps.p)
    fail(&ps, "unexpected \"%.20s\"", ps.p);
  if (ps.failed || !c->top) {
    if (!ps.failed)
      fail(&ps, "empty condition");
    lf_cond_destroy(c);
    return NULL;
  }
  return c;
}

void lf_cond_destroy(lf_cond_t *c) {
  if (!c)
    return;
  node_free(c->top);
  free(c->text);
  free(c);
}

const char *lf_cond_text(const lf_cond_t *c) {
  return c->text;
}

/* Evaluation. */

static const json_t *lookup(const node_t *n, const lf_cond_env_t *env,
                            json_t **tmp) {
  const char *fixed[] = {
      [R_TENANT] = env->tenant, [R_ACTION] = env->action, [R_RISK] = env->risk};
  if (n->root >= R_TENANT)
    return *tmp = json_string_nocheck(fixed[n->root] ? fixed[n->root] : "");
  const json_t *cur = n->root == R_ARGS ? env->args : env->context;
  const char *p = strchr(n->path, '.');
  while (cur && p) {
    const char *q = strchr(p + 1, '.');
    size_t len = q ? (size_t)(q - p - 1) : strlen(p + 1);
    cur = json_object_getn(cur, p + 1, len);
    p = q;
  }
  return cur; /* NULL: missing, compared as null */
}

static const json_t *value(const node_t *n, const lf_cond_env_t *env,
                           json_t **tmp) {
  return n->kind == N_LIT ? n->lit : lookup(n, env, tmp);
}

static const char *label(const node_t *n) {
  return n->kind == N_PATH ? n->path : "a literal";
}

static int compare(const node_t *n, const lf_cond_env_t *env, char *why,
                   size_t size) {
  json_t *t1 = NULL, *t2 = NULL;
  const json_t *a = value(n->l, env, &t1), *b = value(n->r, env, &t2);
  json_t *null = json_null();
  int res = LF_COND_UNKNOWN;
  if ((n->l->kind == N_PATH && n->l->root >= R_TENANT && !t1) ||
      (n->r->kind == N_PATH && n->r->root >= R_TENANT && !t2)) {
    if (why) /* no memory for a fixed name's value: never "missing" */
      snprintf(why, size, "no memory to evaluate the condition");
    res = LF_COND_LIMIT;
    goto done;
  }
  if (!a)
    a = null;
  if (!b)
    b = null;
  switch (n->op) {
  case OP_EQ:
  case OP_NE:
    res = lf_json_equal(a, b) == (n->op == OP_EQ);
    break;
  case OP_IN:
  case OP_NOTIN:
    if (json_is_array(b)) {
      res = 0;
      for (size_t i = 0; i < json_array_size(b) && !res; i++)
        res = lf_json_equal(a, json_array_get(b, i));
      res = res == (n->op == OP_IN);
    } else if (why) {
      snprintf(why, size, "%s is not a list", label(n->r));
    }
    break;
  case OP_MATCH:
    if (json_is_string(a)) {
      char lim[200];
      res = lf_regex_match(n->re, json_string_value(a), json_string_length(a),
                           lim, sizeof(lim));
      if (res == LF_REGEX_LIMIT) {
        res = LF_COND_LIMIT;
        if (why)
          snprintf(why, size, "%s matches '%s': %s", label(n->l),
                   json_string_value(n->r->lit), lim);
      }
    } else if (why) {
      snprintf(why, size, "%s is %s, not a string", label(n->l),
               json_is_null(a) ? "missing" : "another type");
    }
    break;
  default: {
    int c = 2;
    if (json_is_number(a) && json_is_number(b))
      c = lf_json_num_cmp(a, b);
    else if (json_is_string(a) && json_is_string(b))
      c = strcmp(json_string_value(a), json_string_value(b));
    if (c == 2) {
      if (why)
        snprintf(why, size, "cannot order %s (%s) against %s (%s)", label(n->l),
                 json_is_null(a) ? "missing" : "its type", label(n->r),
                 json_is_null(b) ? "missing" : "its type");
    } else {
      c = (c > 0) - (c < 0);
      res = n->op == OP_LT   ? c < 0
            : n->op == OP_LE ? c <= 0
            : n->op == OP_GT ? c > 0
                             : c >= 0;
    }
  }
  }
done:
  json_decref(t1);
  json_decref(t2);
  return res;
}

static int eval(const node_t *n, const lf_cond_env_t *env, char *why,
                size_t size) {
  int l, r;
  switch (n->kind) {
  case N_OR:
  case N_AND: {
    int stop = n->kind == N_OR; /* true ends an "or", false an "and" */
    if ((l = eval(n->l, env, why, size)) == stop || l == LF_COND_LIMIT)
      return l;
    /* A limit on the right wins over an unknown on the left: its why. */
    if ((r = eval(n->r, env, l == LF_COND_UNKNOWN ? NULL : why, size)) ==
        LF_COND_LIMIT) {
      if (why && l == LF_COND_UNKNOWN)
        eval(n->r, env, why, size);
      return r;
    }
    if (r == stop)
      return stop;
    return l == LF_COND_UNKNOWN || r == LF_COND_UNKNOWN ? LF_COND_UNKNOWN
                                                        : !stop;
  }
  case N_NOT:
    l = eval(n->l, env, why, size);
    return l < 0 ? l : !l; /* unknown and limit stay what they are */
  case N_CMP:
    return compare(n, env, why, size);
  default: { /* a bare operand: must be the boolean true */
    json_t *tmp = NULL;
    const json_t *v = value(n, env, &tmp);
    int res = json_is_boolean(v) ? json_is_true(v) : LF_COND_UNKNOWN;
    if (n->kind == N_PATH && n->root >= R_TENANT && !tmp)
      res = LF_COND_LIMIT;
    if (res == LF_COND_LIMIT && why)
      snprintf(why, size, "no memory to evaluate the condition");
    else if (res == LF_COND_UNKNOWN && why)
      snprintf(why, size, "%s is not true or false", label(n));
    json_decref(tmp);
    return res;
  }
  }
}

int lf_cond_eval(const lf_cond_t *c, const lf_cond_env_t *env, char *why,
                 size_t why_size) {
  if (why && why_size)
    *why = '\0';
  return eval(c->top, env, why, why_size);
}
