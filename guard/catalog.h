/* The catalog: the closed set of actions the guard lets through, each with
 * a JSON Schema for its arguments. Accepts OpenAI function tools
 * ({"type":"function","function":{...,"parameters"}}) and MCP tools
 * ({"name",...,"inputSchema"}), as a bare array or under "actions" with a
 * "version". */
#ifndef LF_CATALOG_H
#define LF_CATALOG_H

#include <jansson.h>

#include "lf_err.h"
#include "reasons.h"

typedef struct lf_catalog lf_catalog_t;

typedef struct lf_catalog_action {
  const char *name;
  const char *description;
  json_t *schema; /* the parameters object schema */
} lf_catalog_action_t;

lf_catalog_t *lf_catalog_load(const char *path, char *errstr,
                              size_t errstr_size);
lf_catalog_t *lf_catalog_parse(const char *text, const char *origin,
                               char *errstr, size_t errstr_size);
void lf_catalog_destroy(lf_catalog_t *cat);

const char *lf_catalog_version(const lf_catalog_t *cat);
size_t lf_catalog_count(const lf_catalog_t *cat);
const lf_catalog_action_t *lf_catalog_find(const lf_catalog_t *cat,
                                           const char *name);

/* Checks arguments_json against the action's schema: it must parse as a
 * JSON object, carry every required field, give declared fields their
 * declared top-level type and, where additionalProperties is false, nothing
 * else. Every problem is added to reasons. On success with no reasons,
 * *args_out (if given) receives the parsed arguments. */
lf_err_t lf_catalog_check_args(const lf_catalog_action_t *action,
                               const char *arguments_json,
                               lf_reasons_t *reasons, json_t **args_out);

#endif
