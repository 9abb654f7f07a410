/* The catalog: the closed set of actions the guard lets through. Accepts
 * OpenAI function tools ({"type":"function","function":{...,"parameters"}})
 * and MCP tools ({"name",...,"inputSchema","annotations"}) as they are, as a
 * bare array or under "actions" beside a "version". lamfleet's own fields
 * sit under "x-lamfleet" on each action (risk, deny, approval, rate_limit,
 * budget, idempotency_ttl, executor) and on the catalog (mode, strict).
 *
 * Loading is strict: an unknown field, a schema keyword the validator does
 * not implement or a malformed condition is an error naming the file, the
 * action and the JSON pointer. */
#ifndef LF_CATALOG_H
#define LF_CATALOG_H

#include <jansson.h>
#include <stdint.h>

#include "cond.h"
#include "config.h"
#include "lf_err.h"
#include "reasons.h"
#include "schema.h"

typedef struct lf_catalog lf_catalog_t;

typedef enum {
  LF_RISK_LOW,
  LF_RISK_MEDIUM,
  LF_RISK_HIGH,
  LF_RISK_CRITICAL
} lf_risk_t;

typedef enum {
  LF_APPROVAL_NEVER,
  LF_APPROVAL_ALWAYS,
  LF_APPROVAL_WHEN /* when the condition holds */
} lf_approval_t;

typedef struct lf_deny_rule {
  lf_cond_t *when;
  const char *message; /* for the model; may be NULL */
} lf_deny_rule_t;

typedef struct lf_catalog_action {
  const char *name;
  const char *description;
  lf_schema_t *schema; /* NULL: any JSON object */
  lf_risk_t risk;
  lf_deny_rule_t *deny;
  size_t ndeny;
  lf_approval_t approval;
  lf_cond_t *approval_when;
  int64_t rate_count, rate_window_ms; /* count 0: no rate limit */
  const char *budget_arg;             /* NULL: no budget */
  double budget_limit;
  int64_t budget_window_ms;
  int64_t idempotency_ttl_ms; /* 0: the guard's default */
  const json_t *approvers;    /* who may decide: names, "group:G"; NULL any */
  int quorum;                 /* distinct approvals needed (1 by default) */
  const json_t *executor;     /* the binding, or NULL */
} lf_catalog_action_t;

/* Every problem of a catalog text is passed to fn, in file order. */
typedef void (*lf_catalog_problem_fn)(void *opaque, const char *problem);

lf_catalog_t *lf_catalog_load(const char *path, char *errstr,
                              size_t errstr_size);
/* The catalog named by property key, or by guard.catalog when key is
 * empty: the planner and executor see the guard's actions by default. */
lf_catalog_t *lf_catalog_load_conf(const lf_conf_t *conf, const char *key,
                                   char *errstr, size_t errstr_size);
/* NULL on error: errstr holds the first problem, and how many more. */
lf_catalog_t *lf_catalog_parse(const char *text, const char *origin,
                               char *errstr, size_t errstr_size);
/* Reports every problem of a catalog file; returns how many (0: valid). */
size_t lf_catalog_lint(const char *path, lf_catalog_problem_fn fn,
                       void *opaque);
void lf_catalog_destroy(lf_catalog_t *cat);

const char *lf_catalog_version(const lf_catalog_t *cat);
size_t lf_catalog_count(const lf_catalog_t *cat);
const lf_catalog_action_t *lf_catalog_at(const lf_catalog_t *cat, size_t i);
/* Shadow mode: policy, limits and approval are judged and reported, but
 * every well-formed action is approved. */
int lf_catalog_shadow(const lf_catalog_t *cat);
const lf_catalog_action_t *lf_catalog_find(const lf_catalog_t *cat,
                                           const char *name);
const char *lf_risk_name(lf_risk_t risk);
/* "250ms", "30s", "5m", "2h", "1d" into milliseconds; -1 when malformed. */
int64_t lf_catalog_duration_ms(const json_t *v);

/* Parses arguments_json and validates it against the action's schema,
 * adding every problem to reasons (malformed_arguments when it is not a
 * JSON object). On success with no new reasons, *args_out (if given)
 * receives the parsed arguments. Returns LF_ERR_NOMEM only. */
lf_err_t lf_catalog_check_args(const lf_catalog_action_t *action,
                               const char *arguments_json,
                               lf_reasons_t *reasons, json_t **args_out);

#endif
