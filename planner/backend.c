/* The plan type every backend fills, and the table of backends. */
#include "backend.h"

#include <stdlib.h>
#include <string.h>

static const lf_planner_backend_t *const backends[] = {&lf_backend_playbook,
                                                       &lf_backend_openai};

const lf_planner_backend_t *lf_planner_backend_find(const char *name) {
  for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
    if (!strcmp(backends[i]->name, name))
      return backends[i];
  return NULL;
}

static char *dup0(const char *s) {
  return strdup(s ? s : "");
}

lf_err_t lf_plan_add_call(lf_plan_t *p, const char *call_id, const char *name,
                          const char *arguments_json, const char *key,
                          const char *rationale) {
  lf_plan_call_t *calls = realloc(p->calls, (p->ncalls + 1) * sizeof(*calls));
  if (!calls)
    return LF_ERR_NOMEM;
  p->calls = calls;
  lf_plan_call_t *c = &calls[p->ncalls];
  c->call_id = dup0(call_id);
  c->name = dup0(name);
  c->arguments_json = dup0(arguments_json);
  c->idempotency_key = dup0(key);
  c->rationale = dup0(rationale);
  p->ncalls++;
  p->kind = LF_PLAN_ACT;
  if (!c->call_id || !c->name || !c->arguments_json || !c->idempotency_key ||
      !c->rationale)
    return LF_ERR_NOMEM; /* lf_plan_clear frees what was copied */
  return LF_OK;
}

lf_err_t lf_plan_finish(lf_plan_t *p, int status, const char *text) {
  free(p->text);
  p->kind = LF_PLAN_FINISH;
  p->status = status;
  return (p->text = dup0(text)) ? LF_OK : LF_ERR_NOMEM;
}

void lf_plan_clear(lf_plan_t *p) {
  for (size_t i = 0; i < p->ncalls; i++) {
    lf_plan_call_t *c = &p->calls[i];
    free(c->call_id);
    free(c->name);
    free(c->arguments_json);
    free(c->idempotency_key);
    free(c->rationale);
  }
  free(p->calls);
  free(p->text);
  memset(p, 0, sizeof(*p));
}
