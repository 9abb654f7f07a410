#include "actions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lf_actions {
  const lf_catalog_t *cat;
  lf_http_binding_t **http; /* by catalog index; NULL: not http */
  size_t n;
};

void lf_actions_destroy(lf_actions_t *a) {
  if (!a)
    return;
  for (size_t i = 0; i < a->n; i++)
    lf_http_binding_destroy(a->http[i]);
  free(a->http);
  free(a);
}

lf_actions_t *lf_actions_new(const lf_catalog_t *cat, char *errstr,
                             size_t errstr_size) {
  lf_actions_t *a = calloc(1, sizeof(*a));
  char why[400];
  if (!a || !(a->http = calloc(lf_catalog_count(cat) + 1, sizeof(*a->http)))) {
    free(a);
    snprintf(errstr, errstr_size, "out of memory");
    return NULL;
  }
  a->cat = cat;
  a->n = lf_catalog_count(cat);
  for (size_t i = 0; i < a->n; i++) {
    const lf_catalog_action_t *act = lf_catalog_at(cat, i);
    if (!act->executor)
      continue;
    if (!(a->http[i] =
              lf_http_binding_parse(act->executor, 0, why, sizeof(why)))) {
      snprintf(errstr, errstr_size, "catalog %s, action \"%s\": x-lamfleet/%s",
               lf_catalog_version(cat), act->name, why);
      lf_actions_destroy(a);
      return NULL;
    }
  }
  return a;
}

const lf_http_binding_t *lf_actions_http(const lf_actions_t *a,
                                         const char *name) {
  for (size_t i = 0; i < a->n; i++)
    if (a->http[i] && !strcmp(lf_catalog_at(a->cat, i)->name, name))
      return a->http[i];
  return NULL;
}

size_t lf_actions_lint(const lf_catalog_t *cat,
                       void (*fn)(void *opaque, const char *problem),
                       void *opaque) {
  char why[400], line[600];
  size_t problems = 0;
  for (size_t i = 0; i < lf_catalog_count(cat); i++) {
    const lf_catalog_action_t *act = lf_catalog_at(cat, i);
    lf_http_binding_t *b =
        act->executor
            ? lf_http_binding_parse(act->executor, 1, why, sizeof(why))
            : NULL;
    if (act->executor && !b) {
      snprintf(line, sizeof(line), "action \"%s\": x-lamfleet/%s", act->name,
               why);
      fn(opaque, line);
      problems++;
    }
    lf_http_binding_destroy(b);
  }
  return problems;
}
