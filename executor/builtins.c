#include "builtins.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

/* echo: returns its arguments. */
static int echo(const lf_conf_t *conf, json_t *args, json_t **result,
                int64_t *after_ms, char *errstr, size_t errstr_size) {
  *result = json_incref(args);
  return 0;
}

/* sleep_ms: {"ms": N} waits N ms, bounded by executor.sleep.max.ms,
 * without holding up the executor's other actions. */
static int sleep_ms(const lf_conf_t *conf, json_t *args, json_t **result,
                    int64_t *after_ms, char *errstr, size_t errstr_size) {
  json_t *ms = json_object_get(args, "ms");
  int64_t max = lf_conf_get_int(conf, "executor.sleep.max.ms");
  if (!json_is_integer(ms) || json_integer_value(ms) < 0 ||
      json_integer_value(ms) > max) {
    snprintf(errstr, errstr_size, "sleep_ms needs \"ms\": an integer 0..%lld",
             (long long)max);
    return -1;
  }
  *after_ms = json_integer_value(ms);
  *result = json_pack("{s:I}", "slept_ms", json_integer_value(ms));
  if (!*result) {
    snprintf(errstr, errstr_size, "out of memory");
    return -1;
  }
  return 0;
}

static const struct {
  const char *name;
  lf_builtin_fn fn;
} builtins[] = {
    {"echo", echo},
    {"sleep_ms", sleep_ms},
};

lf_builtin_fn lf_builtin_find(const char *name) {
  for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
    if (!strcmp(builtins[i].name, name))
      return builtins[i].fn;
  return NULL;
}
