#include "reasons.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lf_err_t lf_reasons_add(lf_reasons_t *r, const char *code, const char *path,
                        const char *fmt, ...) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 4;
    lf_reason_t *v = realloc(r->v, cap * sizeof(*v));
    if (!v)
      return LF_ERR_NOMEM;
    r->v = v;
    lf_reason_t **pv = realloc(r->pv, cap * sizeof(*pv));
    if (!pv)
      return LF_ERR_NOMEM;
    r->pv = pv;
    r->cap = cap;
  }
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  lf_reason_t *e = &r->v[r->n];
  lf_reason_t init = LF_REASON_INIT;
  *e = init;
  e->code = strdup(code);
  e->path = strdup(path);
  e->message = strdup(msg);
  if (!e->code || !e->path || !e->message) {
    free(e->code);
    free(e->path);
    free(e->message);
    return LF_ERR_NOMEM;
  }
  r->n++;
  /* v may have moved: rebuild the pointer array. */
  for (size_t i = 0; i < r->n; i++)
    r->pv[i] = &r->v[i];
  return LF_OK;
}

void lf_reasons_clear(lf_reasons_t *r) {
  for (size_t i = 0; i < r->n; i++) {
    free(r->v[i].code);
    free(r->v[i].path);
    free(r->v[i].message);
  }
  r->n = 0;
}

void lf_reasons_free(lf_reasons_t *r) {
  lf_reasons_clear(r);
  free(r->v);
  free(r->pv);
  memset(r, 0, sizeof(*r));
}

void lf_json_pointer(char *out, size_t size, const char *parent,
                     const char *name) {
  /* built for every value validated: no printf on the way */
  size_t n = strlen(parent);
  if (n + 1 >= size) {
    snprintf(out, size, "%s/", parent); /* cut, as ever */
    return;
  }
  memcpy(out, parent, n);
  out[n++] = '/';
  for (const char *p = name; *p && n + 3 < size; p++) {
    if (*p == '~' || *p == '/') {
      out[n++] = '~';
      out[n++] = *p == '~' ? '0' : '1';
    } else {
      out[n++] = *p;
    }
  }
  if (n < size)
    out[n] = '\0';
}
