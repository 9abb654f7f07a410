/* lamfleet goal submit TEXT [--tenant T] [--max-steps N] [--wait]; the
 * dispatch of `goal show`. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kafka.h"
#include "log.h"

rd_kafka_t *lf_cli_producer_new(const lf_conf_t *conf, const char *client_id,
                                void (*dr_cb)(rd_kafka_t *,
                                              const rd_kafka_message_t *,
                                              void *),
                                char *errstr, size_t errstr_size) {
  if (lf_kafka_reachable(conf, LF_KAFKA_REACH_MS, errstr, errstr_size))
    return NULL;
  return lf_kafka_producer_new(conf, client_id, dr_cb, errstr, errstr_size);
}

rd_kafka_t *lf_goal_producer_new(const lf_conf_t *conf, const char *client_id,
                                 void (*dr_cb)(rd_kafka_t *,
                                               const rd_kafka_message_t *,
                                               void *),
                                 char *errstr, size_t errstr_size) {
  char topic[256];
  rd_kafka_t *p =
      lf_cli_producer_new(conf, client_id, dr_cb, errstr, errstr_size);
  if (p &&
      lf_kafka_topic_warm(
          p, lf_kafka_topic_name(conf, LF_TOPIC_GOALS, topic, sizeof(topic)),
          10000, errstr, errstr_size)) {
    rd_kafka_destroy(p);
    return NULL;
  }
  return p;
}

lf_err_t lf_goal_submit(rd_kafka_t *producer, const lf_conf_t *conf,
                        const char *text, const lf_goal_defaults_t *d,
                        char goal_id[LF_UUID_LEN + 1], char *errstr,
                        size_t errstr_size) {
  char topic[256];
  lf_goal_t g = LF_GOAL_INIT;
  lf_uuid(goal_id);
  g.goal_id = goal_id;
  g.tenant = (char *)d->tenant;
  g.text = (char *)text;
  g.max_steps = (uint32_t)d->max_steps;
  g.created_at_ms = lf_now_ms();
  lf_err_t err = lf_kafka_produce(
      producer, lf_kafka_topic_name(conf, LF_TOPIC_GOALS, topic, sizeof(topic)),
      d->key ? d->key : goal_id, &g.base, NULL, 0, NULL, errstr, errstr_size);
  if (err)
    return err;
  if (rd_kafka_flush(producer, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    snprintf(errstr, errstr_size, "goal not acknowledged by %s within 10 s",
             lf_conf_get(conf, "kafka.bootstrap.servers"));
    return LF_ERR_TIMEOUT;
  }
  return LF_OK;
}

/* One record of the goal: printed, its observation status noted; the
 * result's status, or 0. */
static int note(const lf_event_t *ev, int64_t *t0, FILE *out, int *saw) {
  if (!*t0)
    *t0 = ev->ts_ms;
  if (out)
    lf_event_print(out, ev, *t0);
  if (ev->topic == LF_TOPIC_OBSERVATIONS && saw)
    saw[((lf_observation_t *)ev->pb)->status & 7] = 1;
  return ev->topic == LF_TOPIC_RESULTS ? (int)((lf_result_t *)ev->pb)->status
                                       : 0;
}

int lf_goal_follow(lf_follow_t *f, const char *goal_id, int timeout_ms,
                   FILE *out, int *saw_obs_status) {
  int64_t deadline = lf_monotonic_ms() + timeout_ms, t0 = 0, quiet = 0;
  int status = 0;
  /* The goal's records cross several topics, read in no set order: after
   * its result, what came before it on the others still arrives. */
  while (lf_monotonic_ms() < (status && quiet < deadline ? quiet : deadline)) {
    lf_event_t ev;
    if (!lf_follow_next(f, status ? 20 : 100, &ev))
      continue;
    if (!strcmp(ev.goal_id, goal_id)) {
      int s = note(&ev, &t0, out, saw_obs_status);
      if (s && !status)
        status = s;
      quiet = lf_monotonic_ms() + 150;
    }
    lf_event_clear(&ev);
  }
  return status;
}

static void goal_usage(FILE *out) {
  fputs("Usage: lamfleet [-b BROKERS] goal submit TEXT [--tenant T] "
        "[--max-steps N] [--key K] [--wait] [--timeout SECONDS]\n"
        "       lamfleet [-b BROKERS] goal submit --file FILE|- [--tenant T] "
        "[--max-steps N] [--key K] [--json]\n"
        "  FILE: one goal a line (text, or {\"text\", \"tenant\", "
        "\"max_steps\", \"key\"}),\n"
        "        or one JSON document (a goal, or an array of goals); - reads "
        "stdin\n"
        "       lamfleet [-b BROKERS] goal show ID [--json]\n",
        out);
}

int lf_cmd_goal(lf_conf_t *conf, int argc, char **argv) {
  const char *text = NULL, *file = NULL;
  lf_goal_defaults_t d = {"default", 0, NULL};
  long timeout_s = 60;
  int wait = 0, json = 0;
  if (argc >= 3 && !strcmp(argv[1], "show") &&
      (argc == 3 || (argc == 4 && !strcmp(argv[3], "--json"))) &&
      argv[2][0] != '-')
    return lf_goal_show(conf, argv[2], argc == 4);
  if (argc < 2 || strcmp(argv[1], "submit")) {
    goal_usage(stderr);
    return LF_EXIT_USAGE;
  }
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--wait"))
      wait = 1;
    else if (!strcmp(a, "--json"))
      json = 1;
    else if (!strcmp(a, "--tenant") && i + 1 < argc)
      d.tenant = argv[++i];
    else if (!strcmp(a, "--key") && i + 1 < argc)
      d.key = argv[++i];
    else if (!strcmp(a, "--file") && i + 1 < argc)
      file = argv[++i];
    else if (!strcmp(a, "-") && !file)
      file = a;
    else if (!strcmp(a, "--max-steps") && i + 1 < argc)
      d.max_steps = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--timeout") && i + 1 < argc)
      timeout_s = strtol(argv[++i], NULL, 10);
    else if (a[0] != '-' && !text)
      text = a;
    else {
      fprintf(stderr, "lamfleet goal submit: unexpected \"%s\"\n", a);
      goal_usage(stderr);
      return LF_EXIT_USAGE;
    }
  }
  const char *bad = d.max_steps < 0 || timeout_s <= 0
                        ? "--max-steps and --timeout must be positive"
                    : file && (text || wait)
                        ? "--file takes no TEXT and no --wait"
                    : !file && (!text || !*text) ? "the goal's TEXT is missing"
                                                 : NULL;
  if (bad) {
    fprintf(stderr, "lamfleet goal submit: %s\n", bad);
    goal_usage(stderr);
    return LF_EXIT_USAGE;
  }
  if (file)
    return lf_goal_submit_file(conf, file, &d, json);
  char errstr[512], goal_id[LF_UUID_LEN + 1];
  int rc = LF_EXIT_ERROR;
  lf_follow_t *f = NULL;
  rd_kafka_t *p =
      lf_goal_producer_new(conf, "lamfleet-cli", NULL, errstr, sizeof(errstr));
  /* Follow before producing, so no record of the goal can be missed. */
  if (!p ||
      (wait &&
       !(f = lf_follow_new(conf, LF_FOLLOW_NEW, errstr, sizeof(errstr)))) ||
      lf_goal_submit(p, conf, text, &d, goal_id, errstr, sizeof(errstr))) {
    fprintf(stderr, "lamfleet goal submit: %s\n", errstr);
    goto done;
  }
  printf("%s\n", goal_id);
  fflush(stdout);
  rc = LF_EXIT_OK;
  if (wait) {
    int status =
        lf_goal_follow(f, goal_id, (int)timeout_s * 1000, stdout, NULL);
    if (!status)
      fprintf(stderr, "lamfleet goal submit: no result within %ld s\n",
              timeout_s);
    rc = status == LF_RESULT_COMPLETED ? LF_EXIT_OK
         : status                      ? LF_EXIT_GOAL_FAILED
                                       : LF_EXIT_ERROR;
  }
done:
  lf_follow_destroy(f);
  if (p)
    rd_kafka_destroy(p);
  return rc;
}
