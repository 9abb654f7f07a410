/* The guard's checks that need no Redis, in their fixed order: catalog
 * (unknown action), schema, policy (deny rules), then whether a human must
 * approve. Used by the worker and by `lamfleet guard check` alike, so the
 * two cannot disagree. */
#ifndef LF_RULES_H
#define LF_RULES_H

#include <jansson.h>

#include "catalog.h"
#include "lf_proto.h"

#define LF_GUARD_KEY_MAX 320

typedef struct lf_guard_eval {
  const lf_catalog_action_t *def; /* NULL: not in the catalog */
  json_t *args;    /* the parsed arguments, while evaluating only */
  char *canon;     /* their canonical text (owned): the key and the signature */
  int well_formed; /* known action, arguments valid */
  int denied;      /* a deny rule holds (reasons say which) */
  int limited;     /* a limit was hit while deciding: always rejected */
  int needs_approval; /* the approval policy asks for a human */
  char approval_why[400];
  double amount;              /* the budget argument's value */
  char key[LF_GUARD_KEY_MAX]; /* the idempotency key, when well-formed */
} lf_guard_eval_t;

/* Fills e and adds every rejection reason (unknown_action,
 * malformed_arguments, schema codes, policy_denied, limit_exceeded) to
 * reasons. Returns
 * LF_ERR_NOMEM only. Release e with lf_guard_eval_clear(). */
lf_err_t lf_guard_evaluate(const lf_catalog_t *cat, const lf_action_t *a,
                           lf_reasons_t *reasons, lf_guard_eval_t *e);
void lf_guard_eval_clear(lf_guard_eval_t *e);

/* What the rules decide without Redis, shadow mode applied: the worker and
 * `lamfleet guard check` both take it from here. */
typedef enum {
  LF_OFFLINE_ADMIT,  /* passes: Redis admission decides the rest */
  LF_OFFLINE_REJECT, /* the reasons say why */
  LF_OFFLINE_HOLD    /* passes, but a human must approve */
} lf_offline_t;
lf_offline_t lf_guard_offline(const lf_catalog_t *cat,
                              const lf_guard_eval_t *e);
/* The needs_approval reason of an action held for a human. */
lf_err_t lf_guard_hold_reason(lf_reasons_t *reasons, const char *action,
                              const lf_guard_eval_t *e);

/* The key an action is deduplicated by: the planner's when it gives one,
 * otherwise "sha256:" + SHA-256 of tenant, action name and the canonical
 * arguments. Returns LF_ERR_NOMEM only. */
lf_err_t lf_guard_idempotency_key(const lf_action_t *a, const json_t *args,
                                  char *out, size_t size);

#endif
