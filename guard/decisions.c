#include "decisions.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "sign.h"

const char *lf_decision_refusal(const lf_approvers_t *ap,
                                const lf_catalog_t *cat,
                                const lf_approval_decision_t *d,
                                const lf_verdict_t *held, char *why,
                                size_t why_size) {
  const char *code = NULL;
  char digest[LF_SHA256_HEX_LEN + 1];
  if (!lf_approvers_count(ap)) {
    snprintf(why, why_size,
             "no approvers are configured (approvers.file): no decision is "
             "accepted");
    return "no_approvers";
  }
  if (lf_decision_verify(ap, d, &code, why, why_size))
    return code ? code : "bad_signature";
  if (lf_verdict_digest(held, digest)) {
    snprintf(why, why_size, "the held action cannot be digested");
    return "wrong_digest";
  }
  if (strcmp(d->held_digest, digest)) {
    snprintf(why, why_size,
             "the decision is for held verdict %.12s..., but %.12s... waits "
             "(the action was held again or changed since)",
             *d->held_digest ? d->held_digest : "(none)", digest);
    return "wrong_digest";
  }
  const lf_catalog_action_t *def = lf_catalog_find(cat, held->action->name);
  const char *allow[64];
  size_t n = 0, i;
  const json_t *e;
  if (def && def->approvers)
    json_array_foreach(def->approvers, i, e) if (n < 64) allow[n++] =
        json_string_value(e);
  if (!lf_approvers_allowed(ap, d->approver, allow, n)) {
    snprintf(why, why_size, "%s may not decide on %s", d->approver,
             held->action->name);
    return "approver_not_allowed";
  }
  return NULL;
}

static int same_args(const char *x, const char *y) {
  json_t *a = json_loads(*x ? x : "{}", 0, NULL);
  json_t *b = json_loads(*y ? y : "{}", 0, NULL);
  char *ca = a ? lf_json_canonical(a) : NULL;
  char *cb = b ? lf_json_canonical(b) : NULL;
  int same = ca && cb && !strcmp(ca, cb);
  free(ca);
  free(cb);
  json_decref(a);
  json_decref(b);
  return same;
}

int lf_decisions_same_action(const lf_verdict_t *x, const lf_verdict_t *y) {
  const lf_action_t *a = x->action, *b = y->action;
  return !strcmp(a->action_id, b->action_id) &&
         !strcmp(a->goal_id, b->goal_id) && !strcmp(a->tenant, b->tenant) &&
         !strcmp(a->name, b->name) &&
         !strcmp(x->idempotency_key, y->idempotency_key) &&
         same_args(a->arguments_json, b->arguments_json);
}
