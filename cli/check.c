/* lamfleet catalog lint FILE, and lamfleet guard check --catalog FILE
 * ACTION.json|-: the guard's offline rules, exactly as the worker runs
 * them (lf_guard_evaluate), for authors and CI pipelines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "cli.h"
#include "guard.h"
#include "util.h"

static void print_problem(void *opaque, const char *problem) {
  (void)opaque;
  printf("%s\n", problem);
}

/* Problems found past the catalog's own parser name its file too. */
static void print_in_file(void *path, const char *problem) {
  printf("%s: %s\n", (const char *)path, problem);
}

int lf_cmd_catalog(lf_conf_t *conf, int argc, char **argv) {
  (void)conf;
  if (argc != 3 || strcmp(argv[1], "lint")) {
    fputs("Usage: lamfleet catalog lint FILE\n", stderr);
    return LF_EXIT_USAGE;
  }
  size_t n = lf_catalog_lint(argv[2], print_problem, NULL);
  if (n) {
    fprintf(stderr, "%s: %zu problem%s\n", argv[2], n, n > 1 ? "s" : "");
    return LF_EXIT_GOAL_FAILED;
  }
  char errstr[512];
  lf_catalog_t *cat = lf_catalog_load(argv[2], errstr, sizeof(errstr));
  if (!cat) { /* lint and load disagree only on I/O races */
    fprintf(stderr, "%s\n", errstr);
    return LF_EXIT_GOAL_FAILED;
  }
  /* what the executor will make of the bindings */
  if ((n = lf_actions_lint(cat, print_in_file, argv[2]))) {
    fprintf(stderr, "%s: %zu problem%s\n", argv[2], n, n > 1 ? "s" : "");
    lf_catalog_destroy(cat);
    return LF_EXIT_GOAL_FAILED;
  }
  printf("%s: catalog %s, %zu actions, %s mode: OK\n", argv[2],
         lf_catalog_version(cat), lf_catalog_count(cat),
         lf_catalog_shadow(cat) ? "shadow" : "enforce");
  lf_catalog_destroy(cat);
  return LF_EXIT_OK;
}

typedef struct check {
  const lf_catalog_t *cat;
  int json;
  const char *tenant;
  int worst; /* exit status so far */
} check_t;

static const char *skipped =
    "rate limit, budget and idempotency: not checked offline (they need "
    "Redis)";

static void report(check_t *c, const char *where, const char *name,
                   const char *decision, const lf_reasons_t *r) {
  if (c->json) {
    json_t *reasons = json_array();
    for (size_t i = 0; reasons && i < r->n; i++)
      json_array_append_new(
          reasons, json_pack("{s:s,s:s,s:s}", "code", r->v[i].code, "path",
                             r->v[i].path, "message", r->v[i].message));
    json_t *o = json_pack("{s:s,s:s,s:o,s:[sss]}", "action", name, "decision",
                          decision, "reasons", reasons, "skipped", "rate_limit",
                          "budget", "idempotency");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    printf("%s\n", s ? s : "{\"error\":\"out of memory\"}");
    free(s);
    json_decref(o);
    return;
  }
  printf("%s: %s: %s\n", where, name, decision);
  for (size_t i = 0; i < r->n; i++)
    printf("  %s %s: %s\n", r->v[i].code, *r->v[i].path ? r->v[i].path : "/",
           r->v[i].message);
  printf("  (%s)\n", skipped);
}

/* One proposed action: {"name", "arguments" (object or JSON text),
 * optional "tenant", "context", "idempotency_key"}. */
static void check_one(check_t *c, json_t *in, const char *where) {
  lf_action_t a = LF_ACTION_INIT;
  lf_reasons_t r = {0};
  lf_guard_eval_t e;
  json_t *args = json_object_get(in, "arguments");
  json_t *ctx = json_object_get(in, "context");
  char *args_text = json_is_string(args) ? strdup(json_string_value(args))
                    : args ? json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY)
                           : strdup("{}");
  char *ctx_text = ctx ? json_dumps(ctx, JSON_COMPACT) : NULL;
  const char *name = json_string_value(json_object_get(in, "name"));
  const char *tenant = json_string_value(json_object_get(in, "tenant"));
  const char *key = json_string_value(json_object_get(in, "idempotency_key"));
  if (!json_is_object(in) || !name || !args_text) {
    fprintf(stderr, "%s: expected {\"name\": ..., \"arguments\": {...}}\n",
            where);
    c->worst = LF_EXIT_USAGE;
    goto done;
  }
  a.action_id = "check:0";
  a.goal_id = "check";
  a.tenant = (char *)(tenant ? tenant : c->tenant);
  a.name = (char *)name;
  a.arguments_json = args_text;
  a.context_json = ctx_text ? ctx_text : "";
  a.idempotency_key = (char *)(key ? key : "");
  if (lf_guard_evaluate(c->cat, &a, &r, &e)) {
    fprintf(stderr, "%s: out of memory\n", where);
    c->worst = LF_EXIT_ERROR;
    goto done;
  }
  static const char *const names[] = {[LF_OFFLINE_ADMIT] = "approved",
                                      [LF_OFFLINE_REJECT] = "rejected",
                                      [LF_OFFLINE_HOLD] = "needs_approval"};
  lf_offline_t verdict = lf_guard_offline(c->cat, &e);
  const char *decision = names[verdict];
  if (verdict == LF_OFFLINE_HOLD && lf_guard_hold_reason(&r, name, &e)) {
    fprintf(stderr, "%s: out of memory\n", where);
    c->worst = LF_EXIT_ERROR;
    lf_guard_eval_clear(&e);
    goto done;
  }
  report(c, where, name, decision, &r);
  if (strcmp(decision, "approved") && c->worst < LF_EXIT_GOAL_FAILED)
    c->worst = LF_EXIT_GOAL_FAILED;
  lf_guard_eval_clear(&e);
done:
  lf_reasons_free(&r);
  free(args_text);
  free(ctx_text);
}

/* The input is one JSON value, or one action per line. */
static int check_text(check_t *c, const char *text, const char *origin) {
  json_error_t jerr;
  char where[600];
  json_t *whole = json_loads(text, 0, &jerr);
  if (whole) {
    check_one(c, whole, origin);
    json_decref(whole);
    return c->worst;
  }
  int line = 0;
  for (const char *p = text; *p; line++) {
    size_t len = strcspn(p, "\n");
    snprintf(where, sizeof(where), "%s:%d", origin, line + 1);
    json_t *v = len ? json_loadb(p, len, 0, &jerr) : NULL;
    if (len && !v) {
      fprintf(stderr, "%s: %s\n", where, jerr.text);
      c->worst = LF_EXIT_USAGE;
    } else if (v) {
      check_one(c, v, where);
    }
    json_decref(v);
    p += len + (p[len] == '\n');
  }
  return c->worst;
}

static int guard_usage(void) {
  fputs("Usage: lamfleet guard check --catalog FILE [--json] [--tenant T] "
        "ACTION.json|-\n",
        stderr);
  return LF_EXIT_USAGE;
}

int lf_cmd_guard(lf_conf_t *conf, int argc, char **argv) {
  const char *catalog = NULL, *input = NULL;
  char errstr[1024], path[1024];
  check_t c = {NULL, 0, "default", LF_EXIT_OK};
  if (argc < 2 || strcmp(argv[1], "check"))
    return guard_usage();
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--catalog") && i + 1 < argc)
      catalog = argv[++i];
    else if (!strcmp(argv[i], "--tenant") && i + 1 < argc)
      c.tenant = argv[++i];
    else if (!strcmp(argv[i], "--json"))
      c.json = 1;
    else if (!input && (argv[i][0] != '-' || !strcmp(argv[i], "-")))
      input = argv[i];
    else
      return guard_usage();
  }
  if (!input)
    return guard_usage();
  if (!catalog)
    catalog = lf_conf_get_path(conf, "guard.catalog", path, sizeof(path));
  lf_catalog_t *cat =
      catalog ? lf_catalog_load(catalog, errstr, sizeof(errstr)) : NULL;
  if (!cat) {
    fprintf(stderr, "lamfleet guard check: %s\n",
            catalog ? errstr : "guard.catalog: path too long");
    return LF_EXIT_USAGE;
  }
  c.cat = cat;
  char *text =
      !strcmp(input, "-")
          ? lf_read_stream(stdin, "stdin", NULL, errstr, sizeof(errstr))
          : lf_read_file(input, NULL, errstr, sizeof(errstr));
  int rc = LF_EXIT_USAGE;
  if (!text)
    fprintf(stderr, "lamfleet guard check: %s\n", errstr);
  else
    rc = check_text(&c, text, !strcmp(input, "-") ? "stdin" : input);
  free(text);
  lf_catalog_destroy(cat);
  return rc;
}
