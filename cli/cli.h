/* The `lamfleet` operator command: sub-commands and what they share. */
#ifndef LF_CLI_H
#define LF_CLI_H

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "follow.h"
#include "util.h"

/* Exit statuses scripts can rely on. */
enum {
  LF_EXIT_OK = 0,
  LF_EXIT_GOAL_FAILED = 1, /* the goal ended failed or exhausted */
  LF_EXIT_USAGE = 2,
  LF_EXIT_ERROR = 3, /* could not reach Kafka/Redis, timed out, ... */
};

int lf_cmd_dev(lf_conf_t *conf, int argc, char **argv);
int lf_cmd_demo(lf_conf_t *conf, int argc, char **argv);
int lf_cmd_goal(lf_conf_t *conf, int argc, char **argv);
int lf_cmd_approvals(lf_conf_t *conf, int argc, char **argv);
int lf_cmd_catalog(lf_conf_t *conf, int argc, char **argv);
int lf_cmd_guard(lf_conf_t *conf, int argc, char **argv);
int lf_cmd_lag(lf_conf_t *conf, int argc, char **argv);
int lf_cmd_topics(lf_conf_t *conf, int argc, char **argv);
int lf_cmd_dlq(lf_conf_t *conf, int argc, char **argv);
int lf_cmd_tail(lf_conf_t *conf, int argc, char **argv);

/* goal show: prints goal_id's trace from the topics; the exit status. */
int lf_goal_show(const lf_conf_t *conf, const char *goal_id, int json);

/* A producer for the operator command, after checking that a bootstrap
 * server answers at all (lf_kafka_reachable): a wrong -b fails at once. */
rd_kafka_t *lf_cli_producer_new(const lf_conf_t *conf, const char *client_id,
                                void (*dr_cb)(rd_kafka_t *,
                                              const rd_kafka_message_t *,
                                              void *),
                                char *errstr, size_t errstr_size);

/* A producer for goals that already knows the goals topic's leaders, so
 * the first goal goes out at once (dr_cb may be NULL). NULL with errstr on
 * failure. */
rd_kafka_t *lf_goal_producer_new(const lf_conf_t *conf, const char *client_id,
                                 void (*dr_cb)(rd_kafka_t *,
                                               const rd_kafka_message_t *,
                                               void *),
                                 char *errstr, size_t errstr_size);

/* What a goal gets when it does not say (--tenant, --max-steps, --key:
 * NULL keys a goal by its id). */
typedef struct lf_goal_defaults {
  const char *tenant;
  long max_steps;
  const char *key;
} lf_goal_defaults_t;

/* goal submit --file PATH ("-": standard input); prints the goal ids (or
 * with json one object a line). Returns the exit status. */
int lf_goal_submit_file(const lf_conf_t *conf, const char *path,
                        const lf_goal_defaults_t *d, int json);

/* Produces one Goal and waits for its acknowledgement. */
lf_err_t lf_goal_submit(rd_kafka_t *producer, const lf_conf_t *conf,
                        const char *text, const lf_goal_defaults_t *d,
                        char goal_id[LF_UUID_LEN + 1], char *errstr,
                        size_t errstr_size);

/* Prints goal_id's records as they arrive until its result. Returns the
 * result's status (LF_RESULT_*), or 0 on timeout. */
int lf_goal_follow(lf_follow_t *f, const char *goal_id, int timeout_ms,
                   FILE *out, int *saw_obs_status);

#endif
