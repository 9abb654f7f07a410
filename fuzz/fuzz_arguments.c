/* Argument validation and the policy rules: a proposed action's arguments
 * (what an LLM writes) against every action of the payments catalog, the
 * whole offline decision included. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lf_catalog_t *cat;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char errstr[1024];
  if (!cat && !(cat = lf_catalog_load(LF_EXAMPLES_DIR "/payments.json", errstr,
                                      sizeof(errstr)))) {
    fprintf(stderr, "%s\n", errstr);
    abort();
  }
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  for (size_t i = 0; i < lf_catalog_count(cat); i++) {
    lf_action_t a = LF_ACTION_INIT;
    lf_reasons_t r = {0};
    lf_guard_eval_t e;
    a.action_id = "f:0";
    a.goal_id = "f";
    a.tenant = "t";
    a.name = (char *)lf_catalog_at(cat, i)->name;
    a.arguments_json = text;
    a.context_json = text;
    if (!lf_guard_evaluate(cat, &a, &r, &e))
      lf_guard_eval_clear(&e);
    lf_reasons_free(&r);
  }
  free(text);
  return 0;
}
