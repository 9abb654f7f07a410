/* The property table's values and the sources that set them. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "props.h"

#define KAFKA_PREFIX "kafka."

typedef struct kv {
  char *key; /* without "kafka." */
  char *value;
} kv_t;

struct lf_conf {
  char **values; /* per lf_props entry; NULL: default */
  kv_t *kafka;   /* pass-through properties not in the table */
  size_t kafka_cnt;
};

lf_conf_t *lf_conf_new(void) {
  lf_conf_t *conf = calloc(1, sizeof(*conf));
  if (!conf)
    return NULL;
  conf->values = calloc(lf_props_cnt, sizeof(char *));
  if (!conf->values) {
    free(conf);
    return NULL;
  }
  return conf;
}

void lf_conf_destroy(lf_conf_t *conf) {
  if (!conf)
    return;
  for (size_t i = 0; i < lf_props_cnt; i++)
    free(conf->values[i]);
  for (size_t i = 0; i < conf->kafka_cnt; i++) {
    free(conf->kafka[i].key);
    free(conf->kafka[i].value);
  }
  free(conf->values);
  free(conf->kafka);
  free(conf);
}

lf_conf_t *lf_conf_dup(const lf_conf_t *conf) {
  char errstr[256];
  lf_conf_t *copy = lf_conf_new();
  if (!copy)
    return NULL;
  for (size_t i = 0; i < lf_props_cnt; i++)
    if (conf->values[i] && lf_conf_set(copy, lf_props[i].name, conf->values[i],
                                       errstr, sizeof(errstr)) != LF_OK)
      goto fail;
  for (size_t i = 0; i < conf->kafka_cnt; i++) {
    char key[512];
    snprintf(key, sizeof(key), KAFKA_PREFIX "%s", conf->kafka[i].key);
    if (lf_conf_set(copy, key, conf->kafka[i].value, errstr, sizeof(errstr)) !=
        LF_OK)
      goto fail;
  }
  return copy;
fail:
  lf_conf_destroy(copy);
  return NULL;
}

static const lf_prop_t *find_prop(const char *key, size_t *idx) {
  for (size_t i = 0; i < lf_props_cnt; i++)
    if (!strcmp(lf_props[i].name, key)) {
      if (idx)
        *idx = i;
      return &lf_props[i];
    }
  return NULL;
}

static int parse_bool(const char *v, int *out) {
  static const char *const yes[] = {"true", "1", "yes", "on"};
  static const char *const no[] = {"false", "0", "no", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (!strcasecmp(v, yes[i]))
      return (*out = 1), 0;
    if (!strcasecmp(v, no[i]))
      return (*out = 0), 0;
  }
  return -1;
}

static int enum_has(const char *enums, const char *v) {
  size_t n = strlen(v);
  for (const char *p = enums; *p;) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && !strncmp(p, v, n))
      return 1;
    p += len + (bar ? 1 : 0);
  }
  return 0;
}

static lf_err_t check_value(const lf_prop_t *p, const char *v, char *errstr,
                            size_t errstr_size) {
  int b;
  switch (p->type) {
  case LF_PROP_INT: {
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
      snprintf(errstr, errstr_size, "%s: \"%s\" is not an integer", p->name, v);
      return LF_ERR_INVALID;
    }
    if (n < p->min || n > p->max) {
      snprintf(errstr, errstr_size, "%s: %lld is outside %lld..%lld", p->name,
               n, (long long)p->min, (long long)p->max);
      return LF_ERR_INVALID;
    }
    return LF_OK;
  }
  case LF_PROP_BOOL:
    if (parse_bool(v, &b)) {
      snprintf(errstr, errstr_size, "%s: \"%s\" is not true or false", p->name,
               v);
      return LF_ERR_INVALID;
    }
    return LF_OK;
  case LF_PROP_ENUM:
    if (!enum_has(p->enums, v)) {
      snprintf(errstr, errstr_size, "%s: \"%s\" is not one of %s", p->name, v,
               p->enums);
      return LF_ERR_INVALID;
    }
    return LF_OK;
  default:
    return LF_OK;
  }
}

static lf_err_t set_kafka(lf_conf_t *conf, const char *key, const char *value,
                          char *errstr, size_t errstr_size) {
  for (size_t i = 0; i < conf->kafka_cnt; i++)
    if (!strcmp(conf->kafka[i].key, key)) {
      char *v = strdup(value);
      if (!v)
        goto nomem;
      free(conf->kafka[i].value);
      conf->kafka[i].value = v;
      return LF_OK;
    }
  kv_t *grown = realloc(conf->kafka, (conf->kafka_cnt + 1) * sizeof(kv_t));
  if (!grown)
    goto nomem;
  conf->kafka = grown;
  kv_t *e = &conf->kafka[conf->kafka_cnt];
  e->key = strdup(key);
  e->value = strdup(value);
  if (!e->key || !e->value) {
    free(e->key);
    free(e->value);
    goto nomem;
  }
  conf->kafka_cnt++;
  return LF_OK;
nomem:
  snprintf(errstr, errstr_size, "out of memory setting kafka.%s", key);
  return LF_ERR_NOMEM;
}

lf_err_t lf_conf_set(lf_conf_t *conf, const char *key, const char *value,
                     char *errstr, size_t errstr_size) {
  size_t idx;
  const lf_prop_t *p = find_prop(key, &idx);
  if (!p) {
    if (!strncmp(key, KAFKA_PREFIX, strlen(KAFKA_PREFIX)) &&
        key[strlen(KAFKA_PREFIX)])
      return set_kafka(conf, key + strlen(KAFKA_PREFIX), value, errstr,
                       errstr_size);
    snprintf(errstr, errstr_size,
             "unknown configuration property \"%s\" (see -X list)", key);
    return LF_ERR_INVALID;
  }
  lf_err_t err = check_value(p, value, errstr, errstr_size);
  if (err)
    return err;
  char *v = strdup(value);
  if (!v) {
    snprintf(errstr, errstr_size, "out of memory setting %s", key);
    return LF_ERR_NOMEM;
  }
  free(conf->values[idx]);
  conf->values[idx] = v;
  return LF_OK;
}

lf_err_t lf_conf_set_kv(lf_conf_t *conf, const char *kv, char *errstr,
                        size_t errstr_size) {
  const char *eq = strchr(kv, '=');
  if (!eq || eq == kv) {
    snprintf(errstr, errstr_size, "\"%s\" is not key=value", kv);
    return LF_ERR_INVALID;
  }
  char key[256];
  size_t klen = (size_t)(eq - kv);
  if (klen >= sizeof(key)) {
    snprintf(errstr, errstr_size, "property name too long in \"%.40s...\"", kv);
    return LF_ERR_INVALID;
  }
  memcpy(key, kv, klen);
  /* "key = value" as people write it in files */
  while (klen > 0 && isspace((unsigned char)key[klen - 1]))
    klen--;
  key[klen] = '\0';
  const char *value = eq + 1;
  while (isspace((unsigned char)*value))
    value++;
  return lf_conf_set(conf, key, value, errstr, errstr_size);
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *end = s + strlen(s);
  while (end > s && isspace((unsigned char)end[-1]))
    *--end = '\0';
  return s;
}

lf_err_t lf_conf_load_file(lf_conf_t *conf, const char *path, char *errstr,
                           size_t errstr_size) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    return LF_ERR_IO;
  }
  char line[4096], why[512];
  int lineno = 0;
  lf_err_t err = LF_OK;
  while (!err && fgets(line, sizeof(line), f)) {
    lineno++;
    char *s = trim(line);
    if (!*s || *s == '#')
      continue;
    if ((err = lf_conf_set_kv(conf, s, why, sizeof(why))))
      snprintf(errstr, errstr_size, "%s:%d: %s", path, lineno, why);
  }
  if (!err && ferror(f)) {
    snprintf(errstr, errstr_size, "%s: read error", path);
    err = LF_ERR_IO;
  }
  fclose(f);
  return err;
}

lf_err_t lf_conf_load_env(lf_conf_t *conf, char *const *env, char *errstr,
                          size_t errstr_size) {
  static const char prefix[] = "LAMFLEET_";
  char why[512];
  for (; env && *env; env++) {
    if (strncmp(*env, prefix, sizeof(prefix) - 1))
      continue;
    const char *name = *env + sizeof(prefix) - 1;
    const char *eq = strchr(name, '=');
    if (!eq)
      continue;
    char key[256];
    size_t n = (size_t)(eq - name);
    if (n == 0 || n >= sizeof(key))
      continue;
    for (size_t i = 0; i < n; i++)
      key[i] = name[i] == '_' ? '.' : (char)tolower((unsigned char)name[i]);
    key[n] = '\0';
    lf_err_t err = lf_conf_set(conf, key, eq + 1, why, sizeof(why));
    if (err) {
      snprintf(errstr, errstr_size, "environment %.*s: %s", (int)(eq - *env),
               *env, why);
      return err;
    }
  }
  return LF_OK;
}

const char *lf_conf_get(const lf_conf_t *conf, const char *key) {
  size_t idx;
  const lf_prop_t *p = find_prop(key, &idx);
  if (!p)
    return NULL;
  return conf->values[idx] ? conf->values[idx] : p->def;
}

int64_t lf_conf_get_int(const lf_conf_t *conf, const char *key) {
  const char *v = lf_conf_get(conf, key);
  return v ? strtoll(v, NULL, 10) : 0;
}

int lf_conf_get_bool(const lf_conf_t *conf, const char *key) {
  const char *v = lf_conf_get(conf, key);
  int b = 0;
  return v && !parse_bool(v, &b) ? b : 0;
}

const char *lf_conf_get_path(const lf_conf_t *conf, const char *key, char *buf,
                             size_t buf_size) {
  static const char var[] = "${examples}";
  const char *v = lf_conf_get(conf, key);
  if (!v)
    return NULL;
  int n = !strncmp(v, var, sizeof(var) - 1)
              ? snprintf(buf, buf_size, "%s%s", LF_EXAMPLES_DIR,
                         v + sizeof(var) - 1)
              : snprintf(buf, buf_size, "%s", v);
  return n >= 0 && (size_t)n < buf_size ? buf : NULL;
}

int lf_conf_is_set(const lf_conf_t *conf, const char *key) {
  size_t idx;
  return find_prop(key, &idx) && conf->values[idx] != NULL;
}

int lf_conf_kafka_is_set(const lf_conf_t *conf, const char *key) {
  for (size_t i = 0; i < conf->kafka_cnt; i++)
    if (!strcmp(conf->kafka[i].key, key))
      return 1;
  return 0;
}

/* librdkafka warns when a client gets the other side's property; passthrough
 * keys go to both clients, so keep the well-known one-sided ones to their
 * side (a key not listed here goes to both, as librdkafka decides). */
static int kafka_key_roles(const char *key) {
  static const char *const consumer[] = {"group.",
                                         "session.timeout.ms",
                                         "heartbeat.interval.ms",
                                         "partition.assignment.strategy",
                                         "max.poll.interval.ms",
                                         "enable.auto.",
                                         "auto.",
                                         "fetch.",
                                         "queued.",
                                         "isolation.level",
                                         "check.crcs",
                                         "enable.partition.eof",
                                         "coordinator.query.interval.ms",
                                         NULL};
  static const char *const producer[] = {"linger.ms",
                                         "queue.buffering.",
                                         "batch.",
                                         "acks",
                                         "request.required.acks",
                                         "enable.idempotence",
                                         "compression.",
                                         "message.timeout.ms",
                                         "delivery.",
                                         "transactional.id",
                                         "transaction.timeout.ms",
                                         "partitioner",
                                         "sticky.",
                                         "message.send.max.retries",
                                         "retries",
                                         "enable.gapless.guarantee",
                                         NULL};
  for (size_t i = 0; consumer[i]; i++)
    if (!strncmp(key, consumer[i], strlen(consumer[i])))
      return LF_KAFKA_CONSUMER;
  for (size_t i = 0; producer[i]; i++)
    if (!strncmp(key, producer[i], strlen(producer[i])))
      return LF_KAFKA_PRODUCER;
  return LF_KAFKA_CONSUMER | LF_KAFKA_PRODUCER;
}

lf_err_t lf_conf_kafka_foreach(const lf_conf_t *conf, lf_kafka_role_t role,
                               lf_conf_kafka_fn fn, void *opaque, char *errstr,
                               size_t errstr_size) {
  lf_err_t err;
  for (size_t i = 0; i < lf_props_cnt; i++) {
    const lf_prop_t *p = &lf_props[i];
    const char *v = conf->values[i] ? conf->values[i] : p->def;
    if (!(p->kafka_roles & (int)role) || !*v)
      continue;
    if ((err = fn(opaque, p->name + strlen(KAFKA_PREFIX), v, errstr,
                  errstr_size)))
      return err;
  }
  for (size_t i = 0; i < conf->kafka_cnt; i++)
    if ((kafka_key_roles(conf->kafka[i].key) & (int)role) &&
        (err = fn(opaque, conf->kafka[i].key, conf->kafka[i].value, errstr,
                  errstr_size)))
      return err;
  return LF_OK;
}
