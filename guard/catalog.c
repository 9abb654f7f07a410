#include "catalog.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct lf_catalog {
  json_t *root;
  char *version;
  lf_catalog_action_t *actions;
  size_t n;
};

void lf_catalog_destroy(lf_catalog_t *cat) {
  if (!cat)
    return;
  json_decref(cat->root);
  free(cat->version);
  free(cat->actions);
  free(cat);
}

/* Reads one entry in either tool format into a. */
static int read_action(json_t *entry, size_t i, const char *origin,
                       lf_catalog_action_t *a, char *errstr,
                       size_t errstr_size) {
  json_t *fn = json_object_get(entry, "function");
  json_t *def = json_is_object(fn) ? fn : entry;
  json_t *name = json_object_get(def, "name");
  json_t *schema = json_object_get(def, fn ? "parameters" : "inputSchema");
  if (!json_is_object(entry) || !json_is_string(name) ||
      !*json_string_value(name)) {
    snprintf(errstr, errstr_size,
             "%s: /actions/%zu: an action needs a non-empty \"name\"", origin,
             i);
    return -1;
  }
  if (!schema && !fn)
    schema = json_object_get(def, "parameters");
  if (schema && !json_is_object(schema)) {
    snprintf(errstr, errstr_size,
             "%s: action \"%s\": its parameter schema is not a JSON object",
             origin, json_string_value(name));
    return -1;
  }
  a->name = json_string_value(name);
  a->description = json_string_value(json_object_get(def, "description"));
  a->schema = schema;
  return 0;
}

lf_catalog_t *lf_catalog_parse(const char *text, const char *origin,
                               char *errstr, size_t errstr_size) {
  json_error_t jerr;
  lf_catalog_t *cat = calloc(1, sizeof(*cat));
  if (!cat) {
    snprintf(errstr, errstr_size, "%s: out of memory", origin);
    return NULL;
  }
  if (!(cat->root = json_loads(text, 0, &jerr))) {
    snprintf(errstr, errstr_size, "%s:%d:%d: %s", origin, jerr.line,
             jerr.column, jerr.text);
    goto fail;
  }
  json_t *list = json_is_array(cat->root)
                     ? cat->root
                     : json_object_get(cat->root, "actions");
  if (!json_is_array(list)) {
    snprintf(errstr, errstr_size,
             "%s: expected an array of actions, or an object with \"actions\"",
             origin);
    goto fail;
  }
  const char *version =
      json_string_value(json_object_get(cat->root, "version"));
  if (!(cat->version = strdup(version ? version : "unversioned")))
    goto nomem;
  cat->n = json_array_size(list);
  if (cat->n && !(cat->actions = calloc(cat->n, sizeof(*cat->actions))))
    goto nomem;
  for (size_t i = 0; i < cat->n; i++) {
    if (read_action(json_array_get(list, i), i, origin, &cat->actions[i],
                    errstr, errstr_size))
      goto fail;
    for (size_t k = 0; k < i; k++)
      if (!strcmp(cat->actions[k].name, cat->actions[i].name)) {
        snprintf(errstr, errstr_size,
                 "%s: /actions/%zu: action \"%s\" is defined twice", origin, i,
                 cat->actions[i].name);
        goto fail;
      }
  }
  return cat;
nomem:
  snprintf(errstr, errstr_size, "%s: out of memory", origin);
fail:
  lf_catalog_destroy(cat);
  return NULL;
}

lf_catalog_t *lf_catalog_load(const char *path, char *errstr,
                              size_t errstr_size) {
  char *text = lf_read_file(path, NULL, errstr, errstr_size);
  if (!text)
    return NULL;
  lf_catalog_t *cat = lf_catalog_parse(text, path, errstr, errstr_size);
  free(text);
  return cat;
}

const char *lf_catalog_version(const lf_catalog_t *cat) {
  return cat->version;
}
size_t lf_catalog_count(const lf_catalog_t *cat) {
  return cat->n;
}

const lf_catalog_action_t *lf_catalog_find(const lf_catalog_t *cat,
                                           const char *name) {
  for (size_t i = 0; i < cat->n; i++)
    if (!strcmp(cat->actions[i].name, name))
      return &cat->actions[i];
  return NULL;
}

static const char *json_type_name(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "object";
  case JSON_ARRAY:
    return "array";
  case JSON_STRING:
    return "string";
  case JSON_INTEGER:
    return "integer";
  case JSON_REAL:
    return "number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "boolean";
  default:
    return "null";
  }
}

static int type_matches(const char *type, const json_t *v) {
  if (!strcmp(type, "integer"))
    return json_is_integer(v) ||
           (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
  if (!strcmp(type, "number"))
    return json_is_number(v);
  if (!strcmp(type, "boolean"))
    return json_is_boolean(v);
  return !strcmp(type, json_type_name(v));
}

/* type may be a name or a list of names. */
static int any_type_matches(const json_t *type, const json_t *v) {
  if (json_is_string(type))
    return type_matches(json_string_value(type), v);
  size_t i;
  json_t *t;
  json_array_foreach(type, i, t) {
    if (json_is_string(t) && type_matches(json_string_value(t), v))
      return 1;
  }
  return !json_is_array(type); /* an unusable "type" constrains nothing yet */
}

static lf_err_t check_object(const json_t *schema, json_t *args,
                             lf_reasons_t *reasons) {
  json_t *props = json_object_get(schema, "properties");
  json_t *req = json_object_get(schema, "required");
  char path[512];
  size_t i;
  json_t *v;
  const char *key;
  json_array_foreach(req, i, v) {
    if (json_is_string(v) && !json_object_get(args, json_string_value(v))) {
      lf_json_pointer(path, sizeof(path), "", json_string_value(v));
      if (lf_reasons_add(reasons, "missing_required", path,
                         "%s: required argument \"%s\" is missing", path,
                         json_string_value(v)))
        return LF_ERR_NOMEM;
    }
  }
  int closed = json_is_false(json_object_get(schema, "additionalProperties"));
  json_object_foreach(args, key, v) {
    json_t *prop = json_object_get(props, key);
    json_t *type = json_object_get(prop, "type");
    lf_json_pointer(path, sizeof(path), "", key);
    lf_err_t err = LF_OK;
    if (!prop && closed)
      err = lf_reasons_add(reasons, "unexpected_param", path,
                           "%s: \"%s\" is not a parameter of this action", path,
                           key);
    else if (type && !any_type_matches(type, v)) {
      char *want = json_dumps(type, JSON_COMPACT | JSON_ENCODE_ANY);
      err =
          lf_reasons_add(reasons, "type_error", path, "%s: expected %s, got %s",
                         path, want ? want : "another type", json_type_name(v));
      free(want);
    }
    if (err)
      return err;
  }
  return LF_OK;
}

lf_err_t lf_catalog_check_args(const lf_catalog_action_t *action,
                               const char *arguments_json,
                               lf_reasons_t *reasons, json_t **args_out) {
  json_error_t jerr;
  size_t before = reasons->n;
  json_t *args =
      json_loads(arguments_json && *arguments_json ? arguments_json : "{}",
                 JSON_REJECT_DUPLICATES, &jerr);
  if (!args)
    return lf_reasons_add(reasons, "malformed_arguments", "",
                          "arguments are not valid JSON: %s at column %d",
                          jerr.text, jerr.column);
  lf_err_t err = LF_OK;
  if (!json_is_object(args))
    err = lf_reasons_add(reasons, "malformed_arguments", "",
                         "arguments must be a JSON object, got %s",
                         json_type_name(args));
  else if (action->schema)
    err = check_object(action->schema, args, reasons);
  if (!err && reasons->n == before && args_out) {
    *args_out = args;
    return LF_OK;
  }
  json_decref(args);
  return err;
}
