#include "verify.h"

#include <stdio.h>
#include <stdlib.h>

struct lf_exec_gate {
  lf_keyring_t *keys;
  lf_catalog_t *catalog;
};

lf_exec_gate_t *lf_exec_gate_new(const lf_conf_t *conf, char *errstr,
                                 size_t errstr_size) {
  lf_exec_gate_t *g = calloc(1, sizeof(*g));
  if (!g) {
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  if (!(g->keys = lf_keyring_new(conf, errstr, errstr_size)) ||
      !(g->catalog = lf_catalog_load_conf(conf, "executor.catalog", errstr,
                                          errstr_size))) {
    lf_exec_gate_destroy(g);
    return NULL;
  }
  return g;
}

void lf_exec_gate_destroy(lf_exec_gate_t *g) {
  if (!g)
    return;
  lf_keyring_destroy(g->keys);
  lf_catalog_destroy(g->catalog);
  free(g);
}

lf_err_t lf_exec_gate_check(const lf_exec_gate_t *g, const lf_verdict_t *v,
                            int64_t now_ms, char *why, size_t why_size) {
  char sig[256];
  const lf_action_t *a = v->action;
  if (v->decision != LF_DECISION_APPROVED || !a)
    snprintf(why, why_size, "not an approval (decision %d)", (int)v->decision);
  else if (!*v->idempotency_key)
    snprintf(why, why_size, "approval without an idempotency key");
  else if (lf_verdict_verify(g->keys, v, sig, sizeof(sig)))
    snprintf(why, why_size, "signature: %s", sig);
  else if (v->expires_at_ms <= now_ms)
    snprintf(why, why_size, "approval expired %lld ms ago",
             (long long)(now_ms - v->expires_at_ms));
  else if (!lf_catalog_find(g->catalog, a->name))
    snprintf(why, why_size, "action \"%.100s\" is not in catalog %.100s",
             a->name, lf_catalog_version(g->catalog));
  else
    return LF_OK;
  return LF_ERR_INVALID;
}

const lf_catalog_t *lf_exec_gate_catalog(const lf_exec_gate_t *g) {
  return g->catalog;
}
