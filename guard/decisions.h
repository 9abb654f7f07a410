/* Whether a human's decision may act on a held action: signed by a
 * configured approver (Ed25519), one the catalog allows for that action,
 * and bound to exactly the held verdict (its digest), so a decision cannot
 * be forged, cannot approve other arguments than the ones shown, and
 * cannot be replayed onto the same action held again later. */
#ifndef LF_GUARD_DECISIONS_H
#define LF_GUARD_DECISIONS_H

#include <stddef.h>

#include "approver.h"
#include "catalog.h"
#include "lf_proto.h"

/* NULL when d may act on held; otherwise the reason's code
 * (no_approvers, decision_unsigned, unknown_approver, bad_signature,
 * wrong_digest, approver_not_allowed) with the sentence in why. */
const char *lf_decision_refusal(const lf_approvers_t *ap,
                                const lf_catalog_t *cat,
                                const lf_approval_decision_t *d,
                                const lf_verdict_t *held, char *why,
                                size_t why_size);

/* Whether two verdicts hold the same action: ids, tenant, name, key and
 * arguments (canonically compared). */
int lf_decisions_same_action(const lf_verdict_t *x, const lf_verdict_t *y);

#endif
