/* The guard worker. Per batch: the offline rules for every action, then
 * one pipelined Redis round trip that admits them (idempotency, rate
 * limits, budgets), then the verdicts: approved to actions.approved,
 * waiting for a human to approvals.pending, rejected and duplicate back to
 * observations so that the planner learns why. */
#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "approvals.h"
#include "approver.h"
#include "decisions.h"
#include "log.h"
#include "redis.h"
#include "sign.h"
#include "util.h"

typedef enum { OUT_APPROVE, OUT_REJECT, OUT_DUPLICATE, OUT_HOLD } outcome_t;

typedef struct decision {
  lf_reasons_t reasons;
  lf_guard_eval_t e;
  int admit; /* passed the offline rules: ask Redis */
  lf_admit_result_t res;
  outcome_t outcome;
  lf_approvals_voters_t by; /* a human-approved action: who approved */
} decision_t;

typedef struct guard {
  lf_worker_t *w;
  lf_catalog_t *catalog;
  lf_redis_t *redis;
  lf_keyring_t *keys;
  lf_keyring_t *obs_keys;    /* what observations are signed with */
  lf_approvers_t *approvers; /* whose signed decisions count */
  int64_t ttl_ms, approval_ttl_ms, verdict_ttl_ms;
  decision_t *d;    /* per batch, reused */
  lf_admit_t *reqs; /* a part of the batch's admission, reused */
  lf_admit_result_t *res;
  size_t cap;
  char (*forget)[256]; /* approvals decided in this batch: drop once out */
  size_t nforget;
} guard_t;

static const lf_topic_t topics[] = {LF_TOPIC_PROPOSED,
                                    LF_TOPIC_APPROVALS_DECISIONS};

static lf_err_t init(lf_worker_t *w, void **ctxp, char *errstr,
                     size_t errstr_size) {
  const lf_conf_t *conf = lf_worker_conf(w);
  char path[1024];
  guard_t *g = calloc(1, sizeof(*g));
  if (!g) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  g->w = w;
  g->ttl_ms = lf_conf_get_int(conf, "guard.idempotency.ttl.ms");
  g->approval_ttl_ms = lf_conf_get_int(conf, "guard.approval.ttl.ms");
  g->verdict_ttl_ms = lf_conf_get_int(conf, "guard.verdict.ttl.ms");
  if (!lf_conf_get_path(conf, "guard.catalog", path, sizeof(path))) {
    snprintf(errstr, errstr_size, "guard.catalog: path too long");
    goto fail;
  }
  if (!(g->catalog = lf_catalog_load(path, errstr, errstr_size)) ||
      !(g->keys = lf_keyring_new(conf, errstr, errstr_size)) ||
      !(g->obs_keys =
            lf_keyring_load(conf, "observation", errstr, errstr_size)) ||
      !(g->approvers = lf_approvers_new(conf, errstr, errstr_size)) ||
      !(g->redis = lf_redis_new(conf, errstr, errstr_size)))
    goto fail;
  if (!lf_approvers_count(g->approvers))
    lf_warn(lf_worker_id(w),
            "no approvers configured (approvers.file): actions held for a "
            "human can only expire or be denied by expiry");
  lf_info(lf_worker_id(w), "catalog %s: %zu actions, version %s%s", path,
          lf_catalog_count(g->catalog), lf_catalog_version(g->catalog),
          lf_catalog_shadow(g->catalog) ? ", SHADOW mode (nothing enforced)"
                                        : "");
  *ctxp = g;
  return LF_OK;
fail:
  lf_approvers_destroy(g->approvers);
  lf_keyring_destroy(g->obs_keys);
  lf_keyring_destroy(g->keys);
  lf_catalog_destroy(g->catalog);
  free(g);
  return LF_ERR_INVALID;
}

static void guard_close(void *ctx) {
  guard_t *g = ctx;
  for (size_t i = 0; i < g->cap; i++) {
    lf_reasons_free(&g->d[i].reasons);
    lf_guard_eval_clear(&g->d[i].e);
  }
  free(g->d);
  free(g->forget);
  free(g->reqs);
  free(g->res);
  lf_redis_destroy(g->redis);
  lf_approvers_destroy(g->approvers);
  lf_keyring_destroy(g->obs_keys);
  lf_keyring_destroy(g->keys);
  lf_catalog_destroy(g->catalog);
  free(g);
}

static lf_err_t grow(guard_t *g, size_t n) {
  if (n <= g->cap)
    return LF_OK;
  decision_t *d = realloc(g->d, n * sizeof(*d));
  if (!d)
    return LF_ERR_NOMEM;
  g->d = d;
  char(*f)[256] = realloc(g->forget, n * sizeof(*f));
  if (!f)
    return LF_ERR_NOMEM;
  g->forget = f;
  lf_admit_t *reqs = realloc(g->reqs, n * sizeof(*reqs));
  if (!reqs)
    return LF_ERR_NOMEM;
  g->reqs = reqs;
  lf_admit_result_t *res = realloc(g->res, n * sizeof(*res));
  if (!res)
    return LF_ERR_NOMEM;
  g->res = res;
  memset(d + g->cap, 0, (n - g->cap) * sizeof(*d));
  g->d = d;
  g->cap = n;
  return LF_OK;
}

/* Catalog, schema, policy and approval for records [from, to). */
static lf_err_t evaluate_all(guard_t *g, const lf_msg_t *msgs, size_t from,
                             size_t to) {
  for (size_t i = from; i < to; i++) {
    decision_t *d = &g->d[i];
    lf_reasons_clear(&d->reasons);
    lf_guard_eval_clear(&d->e);
    d->admit = 0;
    d->by.n = 0;
    if (msgs[i].topic != LF_TOPIC_PROPOSED)
      continue;
    if (lf_guard_evaluate(g->catalog, (const lf_action_t *)msgs[i].pb,
                          &d->reasons, &d->e))
      return LF_ERR_NOMEM;
    d->admit = lf_guard_offline(g->catalog, &d->e) != LF_OFFLINE_REJECT;
    d->outcome = d->admit ? OUT_APPROVE : OUT_REJECT;
  }
  return LF_OK;
}

static int holds(const guard_t *g, const decision_t *d) {
  return lf_guard_offline(g->catalog, &d->e) == LF_OFFLINE_HOLD;
}

static lf_admit_t request(const guard_t *g, const lf_action_t *a,
                          const decision_t *d, int commit, int64_t now) {
  int64_t ttl =
      d->e.def->idempotency_ttl_ms ? d->e.def->idempotency_ttl_ms : g->ttl_ms;
  lf_admit_t req = {
      a->tenant,   a->action_id, d->e.key, d->e.def,
      d->e.amount, ttl,          commit,   !lf_catalog_shadow(g->catalog),
      now};
  return req;
}

/* One script call for k requests; a dead pipeline is drained. */
static lf_err_t admit_reqs(guard_t *g, const lf_admit_t *reqs,
                           lf_admit_result_t *res, size_t k, char *errstr,
                           size_t errstr_size) {
  lf_err_t err = lf_limits_append(g->redis, reqs, k, errstr, errstr_size);
  if (!err)
    err = lf_limits_reply(g->redis, res, k, errstr, errstr_size);
  if (err)
    lf_redis_discard(g->redis);
  return err;
}

/* One script call admits every admissible action of [from, to), in
 * order; it is sent at once, for Redis to run it while the guard
 * evaluates what follows. *k: the actions asked about. */
static lf_err_t admit_send(guard_t *g, const lf_msg_t *msgs, size_t from,
                           size_t to, size_t *k, char *errstr,
                           size_t errstr_size) {
  int64_t now = lf_now_ms();
  *k = 0;
  for (size_t i = from; i < to; i++)
    if (g->d[i].admit)
      g->reqs[(*k)++] = request(g, (const lf_action_t *)msgs[i].pb, &g->d[i],
                                !holds(g, &g->d[i]), now);
  if (!*k)
    return LF_OK;
  lf_err_t err = lf_limits_append(g->redis, g->reqs, *k, errstr, errstr_size);
  return err ? err : lf_redis_flush(g->redis, errstr, errstr_size);
}

/* The answer to admit_send(from, to), into the decisions. */
static lf_err_t admit_take(guard_t *g, size_t from, size_t to, size_t k,
                           char *errstr, size_t errstr_size) {
  if (!k)
    return LF_OK;
  lf_err_t err = lf_limits_reply(g->redis, g->res, k, errstr, errstr_size);
  for (size_t i = from, j = 0; !err && i < to; i++)
    if (g->d[i].admit)
      g->d[i].res = g->res[j++];
  return err;
}

/* Turns an admission result into the outcome and its reasons. */
static lf_err_t decide(guard_t *g, const lf_action_t *a, decision_t *d) {
  const lf_catalog_action_t *def = d->e.def;
  int shadow = lf_catalog_shadow(g->catalog);
  lf_err_t err = LF_OK;
  if (!d->admit)
    return LF_OK;
  switch (d->res.status) {
  case LF_ADMIT_OWN: /* a redelivery of an action already approved */
    d->outcome = OUT_APPROVE;
    return LF_OK;
  case LF_ADMIT_DUPLICATE:
    d->outcome = OUT_DUPLICATE;
    return LF_OK;
  case LF_ADMIT_RATE_LIMITED:
    err = lf_reasons_add(&d->reasons, "rate_limited", "",
                         "%s is limited to %lld calls per %lld s for tenant "
                         "%s; try again in the next window",
                         def->name, (long long)def->rate_count,
                         (long long)(def->rate_window_ms / 1000), a->tenant);
    break;
  case LF_ADMIT_BUDGET_EXCEEDED: {
    char ptr[300];
    lf_json_pointer(ptr, sizeof(ptr), "", def->budget_arg);
    err = lf_reasons_add(&d->reasons, "budget_exceeded", ptr,
                         "%s: %.17g would exceed the budget of tenant %s: "
                         "%.17g already spent of %.17g per %lld s",
                         ptr, d->e.amount, a->tenant, d->res.spent,
                         def->budget_limit,
                         (long long)(def->budget_window_ms / 1000));
    break;
  }
  default:
    d->outcome = holds(g, d) ? OUT_HOLD : OUT_APPROVE;
    return LF_OK;
  }
  d->outcome = shadow ? OUT_APPROVE : OUT_REJECT;
  return err;
}

static lf_err_t approve(guard_t *g, const lf_msg_t *m, const lf_action_t *a,
                        const decision_t *d, lf_out_t *out, char *errstr,
                        size_t errstr_size) {
  lf_verdict_t v = LF_VERDICT_INIT;
  v.action = (lf_action_t *)a;
  v.decision = LF_DECISION_APPROVED;
  v.guard_id = (char *)lf_worker_id(g->w);
  v.idempotency_key = (char *)d->e.key;
  v.catalog_version = (char *)lf_catalog_version(g->catalog);
  v.decided_at_ms = lf_now_ms();
  v.expires_at_ms = v.decided_at_ms + g->verdict_ttl_ms;
  char *by[LF_APPROVALS_MAX_VOTERS]; /* signed with the rest */
  for (size_t i = 0; i < d->by.n; i++)
    by[i] = (char *)d->by.names[i];
  v.n_approved_by = d->by.n;
  v.approved_by = by;
  uint8_t sig[LF_SIGNATURE_LEN];
  lf_err_t err =
      lf_verdict_sign(g->keys, &v, d->e.canon, sig, errstr, errstr_size);
  if (err)
    return err;
  if (d->reasons.n) { /* shadow mode: what enforcement would have said */
    v.n_reasons = d->reasons.n;
    v.reasons = d->reasons.pv;
    lf_worker_count(g->w, "shadow_would_reject", 1);
    lf_info(lf_worker_id(g->w), "shadow: %s (%s) would be rejected: %s",
            a->action_id, a->name, d->reasons.v[0].message);
  } else if (d->e.needs_approval && lf_catalog_shadow(g->catalog)) {
    lf_worker_count(g->w, "shadow_would_hold", 1);
    lf_info(lf_worker_id(g->w), "shadow: %s (%s) would wait for approval: %s",
            a->action_id, a->name, d->e.approval_why);
  }
  lf_worker_count(g->w, "approved", 1);
  return lf_out_produce(out, m, LF_TOPIC_APPROVED, a->goal_id, &v.base, errstr,
                        errstr_size);
}

/* The counter of a reason code in a (code, counter) table, or other. */
static const char *counter_of(const char *const (*names)[2], size_t n,
                              const char *code, const char *other) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(code, names[i][0]))
      return names[i][1];
  return other;
}

/* Counters keep their names' pointers: one static name per code. */
static const char *reason_counter(const char *code) {
  static const char *const names[][2] = {
      {"unknown_action", "rejected_unknown_action"},
      {"malformed_arguments", "rejected_malformed_arguments"},
      {"missing_required", "rejected_missing_required"},
      {"unexpected_param", "rejected_unexpected_param"},
      {"type_error", "rejected_type_error"},
      {"value_error", "rejected_value_error"},
      {"policy_denied", "rejected_policy_denied"},
      {"rate_limited", "rejected_rate_limited"},
      {"budget_exceeded", "rejected_budget_exceeded"},
      {"approval_denied", "rejected_approval_denied"},
      {"approval_expired", "rejected_approval_expired"},
      {"approval_conflict", "rejected_approval_conflict"},
      {"limit_exceeded", "rejected_limit_exceeded"}};
  return counter_of(names, sizeof(names) / sizeof(names[0]), code,
                    "rejected_other");
}

/* Rejections and duplicates go straight back to the planner. */
static lf_err_t turn_back(guard_t *g, const lf_msg_t *m, const lf_action_t *a,
                          const decision_t *d, lf_out_t *out, char *errstr,
                          size_t errstr_size) {
  lf_observation_t o = LF_OBSERVATION_INIT;
  char error[700];
  o.goal_id = a->goal_id;
  o.action_id = a->action_id;
  o.action_name = a->name;
  o.step = a->step;
  o.observer = (char *)lf_worker_id(g->w);
  o.observed_at_ms = lf_now_ms();
  if (d->outcome == OUT_DUPLICATE) {
    o.status = LF_OBS_DUPLICATE;
    o.duplicate_of = (char *)d->res.holder;
    snprintf(error, sizeof(error),
             "duplicate of action %s (key %s): not run again", d->res.holder,
             d->e.key);
    lf_worker_count(g->w, "duplicates", 1);
  } else {
    o.status = LF_OBS_REJECTED;
    o.n_reasons = d->reasons.n;
    o.reasons = d->reasons.pv;
    snprintf(error, sizeof(error), "rejected by the guard: %s%s",
             d->reasons.v[0].message, d->reasons.n > 1 ? " (and more)" : "");
    lf_worker_count(g->w, "rejected", 1);
    lf_worker_count(g->w, reason_counter(d->reasons.v[0].code), 1);
  }
  o.error = error;
  lf_debug(lf_worker_id(g->w), "action %s: %s", a->action_id, error);
  uint8_t sig[LF_SIGNATURE_LEN];
  lf_err_t err = lf_observation_sign(g->obs_keys, &o, sig, errstr, errstr_size);
  return err ? err
             : lf_out_produce(out, m, LF_TOPIC_OBSERVATIONS, a->goal_id,
                              &o.base, errstr, errstr_size);
}

/* Another action under the id of one that waits for a human: refused, so
 * that what the human was shown is what runs. */
static lf_err_t conflict(guard_t *g, const lf_msg_t *m, const lf_action_t *a,
                         decision_t *d, lf_out_t *out, char *errstr,
                         size_t errstr_size) {
  lf_reasons_clear(&d->reasons);
  d->outcome = OUT_REJECT;
  if (lf_reasons_add(&d->reasons, "approval_conflict", "",
                     "action %s already waits for a human's approval with "
                     "other arguments; propose this one under a new action id",
                     a->action_id)) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  return turn_back(g, m, a, d, out, errstr, errstr_size);
}

/* An action for a human: kept in Redis (for the decision and for
 * `lamfleet approvals list`), due for expiry, and announced on
 * approvals.pending. */
static lf_err_t hold(guard_t *g, const lf_msg_t *m, const lf_action_t *a,
                     decision_t *d, lf_out_t *out, char *errstr,
                     size_t errstr_size) {
  lf_verdict_t v = LF_VERDICT_INIT;
  int64_t now = lf_now_ms();
  if (lf_guard_hold_reason(&d->reasons, a->name, &d->e)) {
    snprintf(errstr, errstr_size, "out of memory");
    return LF_ERR_NOMEM;
  }
  v.action = (lf_action_t *)a;
  v.decision = LF_DECISION_NEEDS_APPROVAL;
  v.n_reasons = d->reasons.n;
  v.reasons = d->reasons.pv;
  v.guard_id = (char *)lf_worker_id(g->w);
  v.idempotency_key = d->e.key;
  v.catalog_version = (char *)lf_catalog_version(g->catalog);
  v.decided_at_ms = now;
  v.expires_at_ms = now + g->approval_ttl_ms;
  lf_verdict_t *held = NULL;
  lf_err_t err = lf_approvals_hold(g->redis, &v, &held, errstr, errstr_size);
  if (err)
    return err;
  if (held) { /* this action id already waits for a human */
    err = lf_decisions_same_action(held, &v)
              ? lf_out_produce(out, m, LF_TOPIC_APPROVALS_PENDING, a->goal_id,
                               &held->base, errstr, errstr_size)
              : conflict(g, m, a, d, out, errstr, errstr_size);
    lf_proto_free(&held->base);
    return err;
  }
  lf_worker_count(g->w, "held_for_approval", 1);
  lf_info(lf_worker_id(g->w), "action %s (%s) waits for approval: %s",
          a->action_id, a->name, d->e.approval_why);
  return lf_out_produce(out, m, LF_TOPIC_APPROVALS_PENDING, a->goal_id, &v.base,
                        errstr, errstr_size);
}

/* Sends one verdict for a proposal (or a decided approval) on its way. */
static lf_err_t publish(guard_t *g, const lf_msg_t *m, const lf_action_t *a,
                        decision_t *d, lf_out_t *out, char *errstr,
                        size_t errstr_size) {
  switch (d->outcome) {
  case OUT_APPROVE:
    return approve(g, m, a, d, out, errstr, errstr_size);
  case OUT_HOLD:
    return hold(g, m, a, d, out, errstr, errstr_size);
  default:
    return turn_back(g, m, a, d, out, errstr, errstr_size);
  }
}

/* One action through admission on its own (a decided approval). */
static lf_err_t admit_one(guard_t *g, const lf_action_t *a, decision_t *d,
                          char *errstr, size_t errstr_size) {
  lf_admit_t req = request(g, a, d, 1, lf_now_ms());
  return admit_reqs(g, &req, &d->res, 1, errstr, errstr_size);
}

/* The human saw one catalog; if another is in force now, the action is
 * judged again and, if still admissible, needs a fresh approval. */
static lf_err_t on_changed_catalog(guard_t *g, const lf_msg_t *m,
                                   const lf_verdict_t *held, decision_t *d,
                                   lf_out_t *out, char *errstr,
                                   size_t errstr_size) {
  const lf_action_t *a = held->action;
  d->outcome = lf_guard_offline(g->catalog, &d->e) == LF_OFFLINE_REJECT
                   ? OUT_REJECT
                   : OUT_HOLD;
  if (d->outcome == OUT_HOLD)
    snprintf(d->e.approval_why, sizeof(d->e.approval_why),
             "the catalog changed from %s to %s since approval was requested; "
             "approve again",
             held->catalog_version, lf_catalog_version(g->catalog));
  /* the old hold goes, so the new one (a new digest) takes its place */
  lf_err_t err =
      lf_approvals_forget(g->redis, a->action_id, errstr, errstr_size);
  return err ? err : publish(g, m, a, d, out, errstr, errstr_size);
}

/* Counter names per refusal code (counters keep the pointer). */
static const char *refusal_counter(const char *code) {
  static const char *const names[][2] = {
      {"no_approvers", "decisions_refused_no_approvers"},
      {"decision_unsigned", "decisions_refused_decision_unsigned"},
      {"unknown_approver", "decisions_refused_unknown_approver"},
      {"bad_signature", "decisions_refused_bad_signature"},
      {"wrong_digest", "decisions_refused_wrong_digest"},
      {"approver_not_allowed", "decisions_refused_approver_not_allowed"}};
  return counter_of(names, sizeof(names) / sizeof(names[0]), code,
                    "decisions_refused_other");
}

/* A decision counts only when its approver signed it for exactly the
 * held verdict; one that does not goes to dlq with the reason (a security
 * event: counted), and the action keeps waiting. With a quorum, an
 * approval counts once enough distinct approvers have approved; *counted
 * says whether the decision now acts, with d's voters in g's decision. */
static lf_err_t authenticate(guard_t *g, const lf_msg_t *m,
                             const lf_approval_decision_t *dec,
                             const lf_verdict_t *held, decision_t *d,
                             int *counted, lf_out_t *out, char *errstr,
                             size_t errstr_size) {
  char why[400], reason[600], digest[LF_SHA256_HEX_LEN + 1];
  const char *code = lf_decision_refusal(g->approvers, g->catalog, dec, held,
                                         why, sizeof(why));
  *counted = 0;
  if (code) {
    snprintf(reason, sizeof(reason), "decision on %s refused (%s): %s",
             dec->action_id, code, why);
    lf_worker_count(g->w, "decisions_refused", 1);
    lf_worker_count(g->w, refusal_counter(code), 1);
    return lf_out_dead_letter(out, m, reason, errstr, errstr_size);
  }
  const lf_catalog_action_t *def =
      lf_catalog_find(g->catalog, held->action->name);
  int quorum = def ? def->quorum : 1;
  if (!dec->approved || quorum <= 1) {
    snprintf(d->by.names[0], sizeof(d->by.names[0]), "%s", dec->approver);
    d->by.n = 1;
    *counted = 1;
    return LF_OK;
  }
  lf_err_t err = lf_verdict_digest(held, digest);
  if (!err)
    err = lf_approvals_vote(g->redis, dec->action_id, digest, dec->approver,
                            held->expires_at_ms - lf_now_ms() + 60000, &d->by,
                            errstr, errstr_size);
  if (err)
    return err;
  *counted = (int)d->by.n >= quorum;
  if (!*counted)
    lf_info(lf_worker_id(g->w), "action %s approved by %s: %zu of %d approvals",
            dec->action_id, dec->approver, d->by.n, quorum);
  return LF_OK;
}

static lf_err_t on_decision(guard_t *g, const lf_msg_t *m, decision_t *d,
                            lf_out_t *out, char *errstr, size_t errstr_size) {
  const lf_approval_decision_t *dec = (const lf_approval_decision_t *)m->pb;
  const char *id = lf_worker_id(g->w);
  lf_verdict_t *held = NULL;
  int won = 0;
  lf_err_t err =
      lf_approvals_get(g->redis, dec->action_id, &held, errstr, errstr_size);
  if (err || !held) {
    if (err == LF_ERR_INVALID)
      lf_error(id, "approval %s: stored verdict unreadable: %s", dec->action_id,
               errstr);
    else if (!err)
      lf_warn(id,
              "decision on %s ignored: nothing waits for it (expired or "
              "already decided)",
              dec->action_id);
    lf_worker_count(g->w, "decisions_ignored", !err || err == LF_ERR_INVALID);
    return err == LF_ERR_INVALID ? LF_OK : err;
  }
  const lf_action_t *a = held->action;
  int counted = 0;
  if ((err = authenticate(g, m, dec, held, d, &counted, out, errstr,
                          errstr_size)) ||
      !counted)
    goto done;
  if ((err = lf_guard_evaluate(g->catalog, a, &d->reasons, &d->e))) {
    snprintf(errstr, errstr_size, "out of memory");
    goto done;
  }
  if (dec->approved &&
      strcmp(held->catalog_version, lf_catalog_version(g->catalog))) {
    err = on_changed_catalog(g, m, held, d, out, errstr, errstr_size);
    goto done;
  }
  lf_verdict_t *claimed = NULL;
  err = lf_approvals_claim(g->redis, a->action_id,
                           dec->approved ? "approved" : "denied", &won,
                           &claimed, errstr, errstr_size);
  lf_proto_free(&held->base);
  held = claimed;
  if (err || !won || !held) {
    if (!err)
      lf_warn(id, "decision on %s ignored: it was already decided or expired",
              a->action_id);
    goto done;
  }
  a = held->action;
  snprintf(g->forget[g->nforget++], 256, "%s", a->action_id);
  lf_info(id, "action %s %s by %s%s%s", a->action_id,
          dec->approved ? "approved" : "denied", dec->approver,
          *dec->note ? ": " : "", dec->note);
  if (!dec->approved) {
    lf_reasons_clear(&d->reasons);
    d->outcome = OUT_REJECT;
    if (lf_reasons_add(&d->reasons, "approval_denied", "",
                       "%s was denied by %s: %s", a->name,
                       *dec->approver ? dec->approver : "a human",
                       *dec->note ? dec->note : "no reason given")) {
      snprintf(errstr, errstr_size, "out of memory");
      err = LF_ERR_NOMEM;
      goto done;
    }
  } else if (lf_guard_offline(g->catalog, &d->e) != LF_OFFLINE_REJECT) {
    d->admit = 1;
    d->e.needs_approval = 0; /* a human approved it */
    if ((err = admit_one(g, a, d, errstr, errstr_size)) ||
        (err = decide(g, a, d)))
      goto done;
  } else {
    d->outcome = OUT_REJECT;
  }
  err = publish(g, m, a, d, out, errstr, errstr_size);
done:
  lf_proto_free(held ? &held->base : NULL);
  return err;
}

/* Decided approvals are dropped once their outcome is out. */
static lf_err_t delivered(void *ctx, char *errstr, size_t errstr_size) {
  guard_t *g = ctx;
  lf_err_t err = LF_OK;
  for (size_t i = 0; i < g->nforget && !err; i++)
    err = lf_approvals_forget(g->redis, g->forget[i], errstr, errstr_size);
  g->nforget = 0;
  return err;
}

/* A batch that decided no approval needs nothing once delivered: the next
 * one is handled while its acknowledgements come in. */
static int overlap(void *ctx) {
  const guard_t *g = ctx;
  return g->nforget == 0;
}

/* Held actions whose time ran out go back to the planner as rejected. */
/* Every hold lives guard.approval.ttl, so the earliest to expire is the
 * oldest. */
static lf_err_t gauge_approvals(guard_t *g, char *errstr, size_t errstr_size) {
  long long count;
  int64_t earliest;
  lf_err_t err =
      lf_approvals_stats(g->redis, &count, &earliest, errstr, errstr_size);
  if (err)
    return err;
  int64_t age = count ? lf_now_ms() - (earliest - g->approval_ttl_ms) : 0;
  lf_worker_gauge(g->w, "approvals_pending", count);
  lf_worker_gauge(g->w, "approvals_oldest_age_ms", age > 0 ? age : 0);
  return LF_OK;
}

static lf_err_t expire(void *ctx, lf_out_t *out, char *errstr,
                       size_t errstr_size) {
  guard_t *g = ctx;
  char ids[32][256];
  size_t n = 0;
  decision_t d = {0};
  lf_err_t err =
      lf_approvals_due(g->redis, lf_now_ms(), ids, 32, &n, errstr, errstr_size);
  for (size_t i = 0; i < n && !err; i++) {
    lf_verdict_t *held = NULL;
    int won = 0;
    if ((err = lf_approvals_claim(g->redis, ids[i], "expired", &won, &held,
                                  errstr, errstr_size)) ||
        !won || !held) {
      lf_proto_free(held ? &held->base : NULL);
      continue;
    }
    lf_reasons_clear(&d.reasons);
    d.outcome = OUT_REJECT;
    err = lf_reasons_add(&d.reasons, "approval_expired", "",
                         "%s waited for approval for more than %lld s; "
                         "propose it again if it is still needed",
                         held->action->name,
                         (long long)(g->approval_ttl_ms / 1000));
    if (!err)
      err = turn_back(g, NULL, held->action, &d, out, errstr, errstr_size);
    if (!err)
      err = lf_out_wait(out, errstr, errstr_size);
    if (!err)
      err = lf_approvals_forget(g->redis, ids[i], errstr, errstr_size);
    lf_proto_free(&held->base);
  }
  lf_reasons_free(&d.reasons);
  return err ? err : gauge_approvals(g, errstr, errstr_size);
}

/* Records [from, to), admitted: decided and published. */
static lf_err_t finish(guard_t *g, const lf_msg_t *msgs, size_t from, size_t to,
                       size_t k, lf_out_t *out, char *errstr,
                       size_t errstr_size) {
  /* Fail closed: without Redis nothing is approved or produced. */
  lf_err_t err = admit_take(g, from, to, k, errstr, errstr_size);
  for (size_t i = from; i < to && !err; i++) {
    decision_t *d = &g->d[i];
    const lf_action_t *a = (const lf_action_t *)msgs[i].pb;
    if (msgs[i].topic == LF_TOPIC_APPROVALS_DECISIONS)
      err = on_decision(g, &msgs[i], d, out, errstr, errstr_size);
    else if ((err = decide(g, a, d)))
      snprintf(errstr, errstr_size, "out of memory");
    else
      err = publish(g, &msgs[i], a, d, out, errstr, errstr_size);
  }
  return err;
}

/* Proposals are admitted ADMIT_PART at a time, each part's script running
 * in Redis while the guard evaluates the next: the batch then waits for
 * Redis about one part's worth, not all of it. A batch with a human's
 * decision in it is one part (a decision has Redis round trips of its
 * own, which must not come between a script and its reply). */
#define ADMIT_PART 32

static size_t part_size(const lf_msg_t *msgs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (msgs[i].topic != LF_TOPIC_PROPOSED)
      return n;
  return ADMIT_PART;
}

static lf_err_t handle(void *ctx, const lf_msg_t *msgs, size_t n, lf_out_t *out,
                       char *errstr, size_t errstr_size) {
  guard_t *g = ctx;
  size_t step = part_size(msgs, n), from = 0, k = 0, next_k;
  int sent = 0; /* a part's admission is in Redis: [from, at), k actions */
  lf_err_t err = grow(g, n);
  if (err) {
    snprintf(errstr, errstr_size, "out of memory");
    return err;
  }
  g->nforget = 0;
  for (size_t at = 0; at < n && !err; at += step) {
    size_t to = at + step < n ? at + step : n;
    if ((err = evaluate_all(g, msgs, at, to))) {
      snprintf(errstr, errstr_size, "out of memory");
      break;
    }
    if ((err = admit_send(g, msgs, at, to, &next_k, errstr, errstr_size)))
      break;
    if (sent)
      err = finish(g, msgs, from, at, k, out, errstr, errstr_size);
    from = at, k = next_k, sent = 1;
  }
  if (!err && sent)
    err = finish(g, msgs, from, n, k, out, errstr, errstr_size);
  if (err) /* a dead pipeline is drained */
    lf_redis_discard(g->redis);
  return err;
}

const lf_handler_t lf_guard_handler = {
    .kind = "guard",
    .group_key = "guard.group.id",
    .topics = topics,
    .ntopics = 2,
    .init = init,
    .handle = handle,
    .delivered = delivered,
    .overlap = overlap,
    .tick = expire,
    .close = guard_close,
};
