/* Configuration: one property table, set through one key=value entry point.
 * Sources are applied in order, later ones winning: defaults, a config file,
 * LAMFLEET_* environment variables, then -X key=value flags. Keys under
 * "kafka." pass through to librdkafka unchanged. */
#ifndef LF_CONFIG_H
#define LF_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "lf_err.h"

typedef struct lf_conf lf_conf_t;

lf_conf_t *lf_conf_new(void);
void lf_conf_destroy(lf_conf_t *conf);
/* A deep copy, so a worker thread can own its configuration. */
lf_conf_t *lf_conf_dup(const lf_conf_t *conf);

/* Sets one property. Unknown keys and invalid values are errors. */
lf_err_t lf_conf_set(lf_conf_t *conf, const char *key, const char *value,
                     char *errstr, size_t errstr_size);
/* Sets "key=value". */
lf_err_t lf_conf_set_kv(lf_conf_t *conf, const char *kv, char *errstr,
                        size_t errstr_size);
/* Reads key=value lines; '#' starts a comment. Errors name file:line. */
lf_err_t lf_conf_load_file(lf_conf_t *conf, const char *path, char *errstr,
                           size_t errstr_size);
/* Applies LAMFLEET_<KEY> variables from env (NULL-terminated, as environ):
 * the key is lower-cased and '_' becomes '.', e.g. LAMFLEET_REDIS_URL. */
lf_err_t lf_conf_load_env(lf_conf_t *conf, char *const *env, char *errstr,
                          size_t errstr_size);

/* Parses the common flags of every lamfleet program: -c FILE, -X key=value
 * (-X list prints the table and returns LF_ERR_DONE), -b brokers. Flags it
 * does not know are left, in order, in argv[1..*argcp-1]. Applies the
 * sources in their order of precedence. */
lf_err_t lf_conf_parse_args(lf_conf_t *conf, int *argcp, char **argv,
                            char *errstr, size_t errstr_size);

/* Values: properties always have one (their default at least). */
const char *lf_conf_get(const lf_conf_t *conf, const char *key);
int64_t lf_conf_get_int(const lf_conf_t *conf, const char *key);
int lf_conf_get_bool(const lf_conf_t *conf, const char *key);
/* A path value with "${examples}" expanded to the sample directory, written
 * into buf. NULL if it does not fit. */
const char *lf_conf_get_path(const lf_conf_t *conf, const char *key, char *buf,
                             size_t buf_size);
/* Whether any source set key (rather than it holding its default). */
int lf_conf_is_set(const lf_conf_t *conf, const char *key);

/* Which Kafka client a kafka.* property is meant for. */
typedef enum lf_kafka_role {
  LF_KAFKA_CONSUMER = 1,
  LF_KAFKA_PRODUCER = 2,
} lf_kafka_role_t;

/* Calls fn(key without "kafka.", value) for each kafka.* property that
 * applies to a client of role: first the table's lamfleet defaults meant for
 * that role, then every pass-through property in the order set. Stops at
 * and returns the first error fn returns. */
typedef lf_err_t (*lf_conf_kafka_fn)(void *opaque, const char *key,
                                     const char *value, char *errstr,
                                     size_t errstr_size);
lf_err_t lf_conf_kafka_foreach(const lf_conf_t *conf, lf_kafka_role_t role,
                               lf_conf_kafka_fn fn, void *opaque, char *errstr,
                               size_t errstr_size);

/* Whether the kafka.* pass-through key (without "kafka.") was set. */
int lf_conf_kafka_is_set(const lf_conf_t *conf, const char *key);

/* `-X list`: every property with its default and description. */
void lf_conf_print_list(FILE *out);
/* CONFIGURATION.md, generated from the same table. */
void lf_conf_print_markdown(FILE *out);

#endif
