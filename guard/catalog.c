#include "catalog.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct lf_catalog {
  json_t *root;
  char *version;
  int shadow;
  lf_catalog_action_t *actions;
  size_t n;
};

typedef struct loader {
  const char *origin;
  lf_catalog_problem_fn fn;
  void *opaque;
  size_t problems;
  char first[1024];
  lf_schema_opts_t opts;
} loader_t;

static void problem(loader_t *L, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(loader_t *L, const char *fmt, ...) {
  char msg[900], line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(line, sizeof(line), "%s: %s", L->origin, msg);
  if (!L->problems++)
    snprintf(L->first, sizeof(L->first), "%s", line);
  if (L->fn)
    L->fn(L->opaque, line);
}

static const char *const risk_names[] = {"low", "medium", "high", "critical"};

const char *lf_risk_name(lf_risk_t risk) {
  return risk_names[risk];
}

int64_t lf_catalog_duration_ms(const json_t *v) {
  static const struct {
    const char *unit;
    int64_t ms;
  } units[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  const char *s = json_string_value(v);
  char *end;
  if (!s || !isdigit((unsigned char)*s))
    return -1;
  long long n = strtoll(s, &end, 10);
  for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
    if (!strcmp(end, units[i].unit) && n > 0 && n < INT64_MAX / units[i].ms)
      return n * units[i].ms;
  return -1;
}

/* Rejects any member of obj not in allowed (NULL-terminated). */
static void only_fields(loader_t *L, const json_t *obj, const char *at,
                        const char *const *allowed, const char *action) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    size_t i = 0;
    while (allowed[i] && strcmp(allowed[i], key))
      i++;
    if (!allowed[i])
      problem(L, "%s/%s: unknown field \"%s\"%s%s%s", at, key, key,
              action ? " (action \"" : "", action ? action : "",
              action ? "\")" : "");
  }
}

static lf_cond_t *condition(loader_t *L, const json_t *v, const char *at,
                            const char *action) {
  char err[300];
  if (!json_is_string(v)) {
    problem(L, "%s: a condition must be a string (action \"%s\")", at, action);
    return NULL;
  }
  lf_cond_t *c = lf_cond_compile(json_string_value(v), err, sizeof(err));
  if (!c)
    problem(L, "%s: condition \"%s\": %s (action \"%s\")", at,
            json_string_value(v), err, action);
  return c;
}

static void read_deny(loader_t *L, lf_catalog_action_t *a, json_t *v,
                      const char *at) {
  json_t *list = json_is_array(v) ? v : NULL;
  size_t n = list ? json_array_size(list) : 1;
  char p[512];
  if (!(a->deny = calloc(n, sizeof(*a->deny)))) {
    problem(L, "%s: out of memory", at);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *rule = list ? json_array_get(list, i) : v;
    char idx[24];
    snprintf(idx, sizeof(idx), "%zu", i);
    if (list)
      lf_json_pointer(p, sizeof(p), at, idx);
    else
      snprintf(p, sizeof(p), "%s", at);
    json_t *when = json_is_object(rule) ? json_object_get(rule, "when") : rule;
    if (json_is_object(rule)) {
      static const char *const f[] = {"when", "message", NULL};
      only_fields(L, rule, p, f, a->name);
      a->deny[a->ndeny].message =
          json_string_value(json_object_get(rule, "message"));
      char base[512];
      snprintf(base, sizeof(base), "%s", p);
      lf_json_pointer(p, sizeof(p), base, "when");
    }
    if ((a->deny[a->ndeny].when = condition(L, when, p, a->name)))
      a->ndeny++;
  }
}

static void read_approval(loader_t *L, lf_catalog_action_t *a, json_t *v,
                          const char *at) {
  const char *s = json_string_value(v);
  if (s && !strcmp(s, "never"))
    a->approval = LF_APPROVAL_NEVER;
  else if (s && !strcmp(s, "always"))
    a->approval = LF_APPROVAL_ALWAYS;
  else if ((a->approval_when = condition(L, v, at, a->name)))
    a->approval = LF_APPROVAL_WHEN;
}

static void read_rate(loader_t *L, lf_catalog_action_t *a, json_t *v,
                      const char *at) {
  static const char *const f[] = {"count", "window", NULL};
  json_t *count = json_object_get(v, "count");
  if (!json_is_object(v) || !json_is_integer(count) ||
      json_integer_value(count) <= 0 ||
      (a->rate_window_ms =
           lf_catalog_duration_ms(json_object_get(v, "window"))) < 0) {
    problem(L,
            "%s: expected {\"count\": N > 0, \"window\": \"1m\"} (units ms, "
            "s, m, h, d) (action \"%s\")",
            at, a->name);
    return;
  }
  only_fields(L, v, at, f, a->name);
  a->rate_count = json_integer_value(count);
}

/* The budget's argument must be a required numeric parameter: an action
 * that could leave it out would escape the budget. */
static void read_budget(loader_t *L, lf_catalog_action_t *a, json_t *v,
                        const json_t *schema, const char *at) {
  static const char *const f[] = {"argument", "limit", "window", NULL};
  json_t *arg = json_object_get(v, "argument");
  json_t *limit = json_object_get(v, "limit");
  if (!json_is_object(v) || !json_is_string(arg) || !json_is_number(limit) ||
      json_number_value(limit) <= 0 ||
      (a->budget_window_ms =
           lf_catalog_duration_ms(json_object_get(v, "window"))) < 0) {
    problem(L,
            "%s: expected {\"argument\": NAME, \"limit\": N > 0, \"window\": "
            "\"1d\"} (action \"%s\")",
            at, a->name);
    return;
  }
  only_fields(L, v, at, f, a->name);
  const char *name = json_string_value(arg);
  json_t *prop = json_object_get(json_object_get(schema, "properties"), name);
  const char *type = json_string_value(json_object_get(prop, "type"));
  int required = 0;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(schema, "required"), i, r) {
    required |= json_is_string(r) && !strcmp(json_string_value(r), name);
  }
  if (!type || (strcmp(type, "number") && strcmp(type, "integer")) || !required)
    problem(L,
            "%s/argument: \"%s\" must be a required parameter of type number "
            "or integer (action \"%s\")",
            at, name, a->name);
  a->budget_arg = name;
  a->budget_limit = json_number_value(limit);
}

/* MCP's hints give a default risk; x-lamfleet.risk overrides it. */
static lf_risk_t default_risk(const json_t *def) {
  json_t *ann = json_object_get(def, "annotations");
  if (json_is_true(json_object_get(ann, "destructiveHint")))
    return LF_RISK_HIGH;
  if (json_is_true(json_object_get(ann, "readOnlyHint")))
    return LF_RISK_LOW;
  return LF_RISK_MEDIUM;
}

/* Who may approve (names or "group:G") and how many must. */
static void read_approvers(loader_t *L, lf_catalog_action_t *a, const json_t *x,
                           const char *at) {
  const json_t *who = json_object_get(x, "approvers"), *q, *e;
  size_t i;
  a->quorum = 1;
  if (who) {
    int ok = json_is_array(who) && json_array_size(who) > 0 &&
             json_array_size(who) <= 64;
    json_array_foreach(who, i, e) ok =
        ok && json_is_string(e) && json_string_length(e) > 0;
    if (ok)
      a->approvers = who;
    else
      problem(L,
              "%s/approvers: expected a list of 1 to 64 approver names or "
              "\"group:NAME\" (action \"%s\")",
              at, a->name);
  }
  if ((q = json_object_get(x, "quorum"))) {
    if (!json_is_integer(q) || json_integer_value(q) < 1 ||
        json_integer_value(q) > 16)
      problem(L, "%s/quorum: expected an integer from 1 to 16 (action \"%s\")",
              at, a->name);
    else
      a->quorum = (int)json_integer_value(q);
  }
}

static void read_extensions(loader_t *L, lf_catalog_action_t *a, json_t *x,
                            const json_t *schema, const char *at) {
  static const char *const f[] = {"risk",       "deny",      "approval",
                                  "rate_limit", "budget",    "idempotency_ttl",
                                  "executor",   "approvers", "quorum",
                                  NULL};
  char p[512];
  json_t *v;
  if (!json_is_object(x)) {
    problem(L, "%s: \"x-lamfleet\" must be an object (action \"%s\")", at,
            a->name);
    return;
  }
  only_fields(L, x, at, f, a->name);
  if ((v = json_object_get(x, "risk"))) {
    int r = -1;
    for (int i = 0; i < 4 && json_is_string(v); i++)
      if (!strcmp(json_string_value(v), risk_names[i]))
        r = i;
    if (r < 0)
      problem(L,
              "%s/risk: expected low, medium, high or critical (action "
              "\"%s\")",
              at, a->name);
    else
      a->risk = (lf_risk_t)r;
  }
  if ((v = json_object_get(x, "deny"))) {
    lf_json_pointer(p, sizeof(p), at, "deny");
    read_deny(L, a, v, p);
  }
  if ((v = json_object_get(x, "approval"))) {
    lf_json_pointer(p, sizeof(p), at, "approval");
    read_approval(L, a, v, p);
  }
  if ((v = json_object_get(x, "rate_limit"))) {
    lf_json_pointer(p, sizeof(p), at, "rate_limit");
    read_rate(L, a, v, p);
  }
  if ((v = json_object_get(x, "budget"))) {
    lf_json_pointer(p, sizeof(p), at, "budget");
    read_budget(L, a, v, schema, p);
  }
  if ((v = json_object_get(x, "idempotency_ttl")) &&
      (a->idempotency_ttl_ms = lf_catalog_duration_ms(v)) < 0)
    problem(L,
            "%s/idempotency_ttl: expected a duration such as \"24h\" "
            "(action \"%s\")",
            at, a->name);
  read_approvers(L, a, x, at);
  if ((v = json_object_get(x, "executor")) && !json_is_object(v))
    problem(L, "%s/executor: expected an object (action \"%s\")", at, a->name);
  a->executor = json_object_get(x, "executor");
}

static void read_action(loader_t *L, json_t *entry, const char *at,
                        lf_catalog_action_t *a) {
  json_t *fn = json_object_get(entry, "function");
  json_t *def = json_is_object(fn) ? fn : entry;
  const char *skey = fn ? "parameters" : "inputSchema";
  json_t *schema = json_object_get(def, skey);
  char sat[512], err[600];
  a->name = json_string_value(json_object_get(def, "name"));
  if (!json_is_object(entry) || !a->name || !*a->name) {
    problem(L, "%s: an action needs a non-empty \"name\"", at);
    a->name = NULL;
    return;
  }
  if (!schema && !fn && (schema = json_object_get(def, "parameters")))
    skey = "parameters";
  snprintf(sat, sizeof(sat), "%s%s/%s", at, fn ? "/function" : "", skey);
  a->description = json_string_value(json_object_get(def, "description"));
  a->risk = default_risk(def);
  a->quorum = 1;
  if (schema && !json_is_object(schema))
    problem(L, "%s: the parameter schema must be an object (action \"%s\")",
            sat, a->name);
  else if (schema &&
           !(a->schema = lf_schema_compile(schema, &L->opts, err, sizeof(err))))
    problem(L, "%s%s (action \"%s\")", sat,
            err[0] == '/' && err[1] == ':' ? err + 1 : err, a->name);
  json_t *x = json_object_get(entry, "x-lamfleet");
  json_t *x2 = fn ? json_object_get(fn, "x-lamfleet") : NULL;
  if (x && x2)
    problem(L, "%s: \"x-lamfleet\" given twice (action \"%s\")", at, a->name);
  if (x || x2) {
    snprintf(sat, sizeof(sat), "%s%s/x-lamfleet", at, x ? "" : "/function");
    read_extensions(L, a, x ? x : x2, schema, sat);
  }
}

static void read_settings(loader_t *L, lf_catalog_t *cat) {
  static const char *const f[] = {"mode", "strict", NULL};
  json_t *x = json_is_object(cat->root)
                  ? json_object_get(cat->root, "x-lamfleet")
                  : NULL;
  L->opts.strict = 1;
  if (!x)
    return;
  if (!json_is_object(x)) {
    problem(L, "/x-lamfleet: expected an object");
    return;
  }
  only_fields(L, x, "/x-lamfleet", f, NULL);
  json_t *mode = json_object_get(x, "mode"),
         *strict = json_object_get(x, "strict");
  if (mode && !(json_is_string(mode) &&
                (!strcmp(json_string_value(mode), "enforce") ||
                 (cat->shadow = !strcmp(json_string_value(mode), "shadow")))))
    problem(L, "/x-lamfleet/mode: expected \"enforce\" or \"shadow\"");
  if (strict && !json_is_boolean(strict))
    problem(L, "/x-lamfleet/strict: expected true or false");
  else if (strict)
    L->opts.strict = json_is_true(strict);
}

static lf_catalog_t *parse(loader_t *L, const char *text) {
  json_error_t jerr;
  lf_catalog_t *cat = calloc(1, sizeof(*cat));
  if (!cat) {
    problem(L, "out of memory");
    return NULL;
  }
  if (!(cat->root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr))) {
    problem(L, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    return cat;
  }
  int bare = json_is_array(cat->root);
  json_t *list = bare ? cat->root : json_object_get(cat->root, "actions");
  if (!json_is_array(list)) {
    problem(L, "expected an array of actions, or an object with \"actions\"");
    return cat;
  }
  read_settings(L, cat);
  const char *version =
      json_string_value(json_object_get(cat->root, "version"));
  cat->n = json_array_size(list);
  if (!(cat->version = strdup(version ? version : "unversioned")) ||
      (cat->n && !(cat->actions = calloc(cat->n, sizeof(*cat->actions))))) {
    problem(L, "out of memory");
    return cat;
  }
  char at[64];
  for (size_t i = 0; i < cat->n; i++) {
    snprintf(at, sizeof(at), "%s/%zu", bare ? "" : "/actions", i);
    read_action(L, json_array_get(list, i), at, &cat->actions[i]);
    for (size_t k = 0; k < i && cat->actions[i].name; k++)
      if (cat->actions[k].name &&
          !strcmp(cat->actions[k].name, cat->actions[i].name))
        problem(L, "%s: action \"%s\" is defined twice (first at %zu)", at,
                cat->actions[i].name, k);
  }
  return cat;
}

lf_catalog_t *lf_catalog_parse(const char *text, const char *origin,
                               char *errstr, size_t errstr_size) {
  loader_t L = {.origin = origin};
  lf_catalog_t *cat = parse(&L, text);
  if (!L.problems)
    return cat;
  if (L.problems > 1)
    snprintf(errstr, errstr_size,
             "%s (and %zu more problems: see lamfleet "
             "catalog lint)",
             L.first, L.problems - 1);
  else
    snprintf(errstr, errstr_size, "%s", L.first);
  lf_catalog_destroy(cat);
  return NULL;
}

lf_catalog_t *lf_catalog_load(const char *path, char *errstr,
                              size_t errstr_size) {
  char *text = lf_read_file(path, NULL, errstr, errstr_size);
  if (!text)
    return NULL;
  lf_catalog_t *cat = lf_catalog_parse(text, path, errstr, errstr_size);
  free(text);
  return cat;
}

size_t lf_catalog_lint(const char *path, lf_catalog_problem_fn fn,
                       void *opaque) {
  char errstr[512];
  loader_t L = {.origin = path, .fn = fn, .opaque = opaque};
  char *text = lf_read_file(path, NULL, errstr, sizeof(errstr));
  if (!text) {
    fn(opaque, errstr);
    return 1;
  }
  lf_catalog_destroy(parse(&L, text));
  free(text);
  return L.problems;
}

void lf_catalog_destroy(lf_catalog_t *cat) {
  if (!cat)
    return;
  /* actions is NULL when its allocation failed: n says what was asked */
  for (size_t i = 0; cat->actions && i < cat->n; i++) {
    lf_catalog_action_t *a = &cat->actions[i];
    lf_schema_destroy(a->schema);
    for (size_t k = 0; k < a->ndeny; k++)
      lf_cond_destroy(a->deny[k].when);
    free(a->deny);
    lf_cond_destroy(a->approval_when);
  }
  json_decref(cat->root);
  free(cat->version);
  free(cat->actions);
  free(cat);
}

const char *lf_catalog_version(const lf_catalog_t *cat) {
  return cat->version;
}
size_t lf_catalog_count(const lf_catalog_t *cat) {
  return cat->n;
}
const lf_catalog_action_t *lf_catalog_at(const lf_catalog_t *cat, size_t i) {
  return i < cat->n ? &cat->actions[i] : NULL;
}
int lf_catalog_shadow(const lf_catalog_t *cat) {
  return cat->shadow;
}

const lf_catalog_action_t *lf_catalog_find(const lf_catalog_t *cat,
                                           const char *name) {
  for (size_t i = 0; i < cat->n; i++)
    if (!strcmp(cat->actions[i].name, name))
      return &cat->actions[i];
  return NULL;
}

lf_err_t lf_catalog_check_args(const lf_catalog_action_t *action,
                               const char *arguments_json,
                               lf_reasons_t *reasons, json_t **args_out) {
  json_error_t jerr;
  size_t before = reasons->n;
  json_t *args =
      json_loads(arguments_json && *arguments_json ? arguments_json : "{}",
                 JSON_REJECT_DUPLICATES, &jerr);
  if (!args)
    return lf_reasons_add(
        reasons, "malformed_arguments", "",
        "arguments are not valid JSON: %s at column %d%s", jerr.text,
        jerr.column,
        strstr(jerr.text, "too big") ? " (numbers must fit in 64 bits)" : "");
  lf_err_t err = LF_OK;
  if (!json_is_object(args))
    err = lf_reasons_add(reasons, "malformed_arguments", "",
                         "arguments must be a JSON object");
  else if (action->schema)
    err = lf_schema_validate(action->schema, args, "", reasons);
  if (!err && reasons->n == before && args_out) {
    *args_out = args;
    return LF_OK;
  }
  json_decref(args);
  return err;
}

lf_catalog_t *lf_catalog_load_conf(const lf_conf_t *conf, const char *key,
                                   char *errstr, size_t errstr_size) {
  char path[1024];
  if (!*lf_conf_get(conf, key))
    key = "guard.catalog";
  if (!lf_conf_get_path(conf, key, path, sizeof(path))) {
    snprintf(errstr, errstr_size, "%s: path too long", key);
    return NULL;
  }
  return lf_catalog_load(path, errstr, errstr_size);
}
