#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "lf_text.h"
#include "util.h"

/* The key from the arguments' canonical text: the planner's own, or a
 * hash of tenant, action and arguments. */
static lf_err_t key_of(const lf_action_t *a, const char *canon, char *out,
                       size_t size) {
  char hex[LF_SHA256_HEX_LEN + 1];
  if (a->idempotency_key && *a->idempotency_key) {
    snprintf(out, size, "%s", a->idempotency_key);
    return LF_OK;
  }
  size_t len = strlen(a->tenant) + strlen(a->name) + strlen(canon);
  char *buf = malloc(len + 3);
  if (!buf)
    return LF_ERR_NOMEM;
  int n = snprintf(buf, len + 3, "%s\n%s\n%s", a->tenant, a->name, canon);
  lf_sha256_hex(buf, (size_t)n, hex);
  snprintf(out, size, "sha256:%s", hex);
  free(buf);
  return LF_OK;
}

lf_err_t lf_guard_idempotency_key(const lf_action_t *a, const json_t *args,
                                  char *out, size_t size) {
  char *canon = lf_json_canonical(args);
  lf_err_t err = canon ? key_of(a, canon, out, size) : LF_ERR_NOMEM;
  free(canon);
  return err;
}

static lf_cond_env_t env_of(const lf_action_t *a, const lf_guard_eval_t *e,
                            const json_t *context) {
  lf_cond_env_t env = {e->args, context, a->tenant, a->name,
                       lf_risk_name(e->def->risk)};
  return env;
}

/* Deny rules: each that holds (or cannot be decided) is a reason. */
static lf_err_t check_policy(const lf_action_t *a, lf_guard_eval_t *e,
                             const lf_cond_env_t *env, lf_reasons_t *reasons) {
  char why[256];
  for (size_t i = 0; i < e->def->ndeny; i++) {
    const lf_deny_rule_t *rule = &e->def->deny[i];
    int res = lf_cond_eval(rule->when, env, why, sizeof(why));
    if (res == LF_COND_FALSE)
      continue;
    if (res == LF_COND_LIMIT) {
      e->limited = 1;
      lf_err_t err =
          lf_reasons_add(reasons, "limit_exceeded", "",
                         "%s is refused: the rule %s could not be checked (%s)",
                         a->name, lf_cond_text(rule->when), why);
      if (err)
        return err;
      continue;
    }
    e->denied = 1;
    const char *what = rule->message ? rule->message : "denied by policy";
    lf_err_t err =
        res == LF_COND_TRUE
            ? lf_reasons_add(reasons, "policy_denied", "",
                             "%s is not allowed: %s (rule: %s)", a->name, what,
                             lf_cond_text(rule->when))
            : lf_reasons_add(reasons, "policy_denied", "",
                             "%s is not allowed: %s (the rule %s could not be "
                             "decided: %s)",
                             a->name, what, lf_cond_text(rule->when), why);
    if (err)
      return err;
  }
  return LF_OK;
}

static lf_err_t check_approval(const lf_action_t *a, lf_guard_eval_t *e,
                               const lf_cond_env_t *env,
                               lf_reasons_t *reasons) {
  char why[256];
  const lf_catalog_action_t *d = e->def;
  if (d->approval == LF_APPROVAL_ALWAYS) {
    e->needs_approval = 1;
    snprintf(e->approval_why, sizeof(e->approval_why),
             "%s always needs a human's approval", d->name);
  } else if (d->approval == LF_APPROVAL_WHEN) {
    int res = lf_cond_eval(d->approval_when, env, why, sizeof(why));
    if (res == LF_COND_LIMIT) {
      e->limited = 1; /* not even a human is asked about what was not checked */
      return lf_reasons_add(
          reasons, "limit_exceeded", "",
          "%s is refused: the approval condition %s could not be checked (%s)",
          a->name, lf_cond_text(d->approval_when), why);
    }
    e->needs_approval = res != LF_COND_FALSE;
    if (res == LF_COND_TRUE)
      snprintf(e->approval_why, sizeof(e->approval_why),
               "needs a human's approval because %s",
               lf_cond_text(d->approval_when));
    else if (res == LF_COND_UNKNOWN)
      snprintf(e->approval_why, sizeof(e->approval_why),
               "needs a human's approval: the condition %s could not be "
               "decided (%s)",
               lf_cond_text(d->approval_when), why);
  }
  return LF_OK;
}

/* The key, the amount, the policy and the approval rule of well-formed
 * arguments (e->args). */
static lf_err_t evaluate_parsed(const lf_action_t *a, lf_guard_eval_t *e,
                                lf_reasons_t *reasons) {
  lf_err_t err;
  /* canonicalised once: the idempotency key and the signature share it */
  if (!(e->canon = lf_json_canonical(e->args)))
    return LF_ERR_NOMEM;
  if ((err = key_of(a, e->canon, e->key, sizeof(e->key))))
    return err;
  if (e->def->budget_arg && (e->amount = json_number_value(json_object_get(
                                 e->args, e->def->budget_arg))) < 0) {
    /* a negative amount would give budget back */
    char at[LF_ID_MAX + 8];
    lf_json_pointer(at, sizeof(at), "", e->def->budget_arg);
    e->well_formed = 0;
    return lf_reasons_add(reasons, "value_error", at,
                          "%s: %.17g is negative; a budgeted amount must not "
                          "be",
                          at, e->amount);
  }
  json_t *context = a->context_json && *a->context_json
                        ? json_loads(a->context_json, 0, NULL)
                        : NULL;
  lf_cond_env_t env = env_of(a, e, json_is_object(context) ? context : NULL);
  err = check_policy(a, e, &env, reasons);
  if (!err)
    err = check_approval(a, e, &env, reasons);
  json_decref(context);
  return err;
}

lf_err_t lf_guard_evaluate(const lf_catalog_t *cat, const lf_action_t *a,
                           lf_reasons_t *reasons, lf_guard_eval_t *e) {
  memset(e, 0, sizeof(*e));
  if (!(e->def = lf_catalog_find(cat, a->name)))
    return lf_reasons_add(reasons, "unknown_action", "",
                          "\"%s\" is not an action of catalog %s; choose one "
                          "of the catalog's actions",
                          a->name, lf_catalog_version(cat));
  size_t before = reasons->n;
  lf_err_t err =
      lf_catalog_check_args(e->def, a->arguments_json, reasons, &e->args);
  if (err || reasons->n > before)
    return err;
  e->well_formed = 1;
  err = evaluate_parsed(a, e, reasons);
  /* freed now, not with the batch: the next action's parse then reuses
   * the same memory (a batch's arguments freed at once was an eighth of
   * a guard's time, most of it in malloc's slow paths) */
  json_decref(e->args);
  e->args = NULL;
  return err;
}

void lf_guard_eval_clear(lf_guard_eval_t *e) {
  json_decref(e->args);
  e->args = NULL;
  free(e->canon);
  e->canon = NULL;
}

lf_offline_t lf_guard_offline(const lf_catalog_t *cat,
                              const lf_guard_eval_t *e) {
  int shadow = lf_catalog_shadow(cat);
  /* A limit rejects in shadow mode too: shadow trials a catalog's policy,
   * it never lets through what could not be checked. */
  if (!e->well_formed || e->limited || (e->denied && !shadow))
    return LF_OFFLINE_REJECT;
  return e->needs_approval && !shadow ? LF_OFFLINE_HOLD : LF_OFFLINE_ADMIT;
}

lf_err_t lf_guard_hold_reason(lf_reasons_t *reasons, const char *action,
                              const lf_guard_eval_t *e) {
  return lf_reasons_add(reasons, "needs_approval", "", "%s: %s", action,
                        e->approval_why);
}
