/* lamfleet approvals list | approve ID [--note TEXT] | deny ID --reason TEXT:
 * what waits for a human (read from Redis, where the guards keep it), and
 * the human's answer (published to approvals.decisions for the guards). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "approvals.h"
#include "cli.h"
#include "kafka.h"
#include "util.h"

static void usage(FILE *out) {
  fputs(
      "Usage: lamfleet approvals list [--json]\n"
      "       lamfleet approvals approve ACTION_ID [--note TEXT] [--by NAME]\n"
      "       lamfleet approvals deny ACTION_ID --reason TEXT [--by NAME]\n",
      out);
}

static void print_one(void *opaque, const lf_verdict_t *v) {
  int *json = opaque;
  if (*json) {
    char *s = lf_proto_to_json(&v->base);
    if (s)
      printf("%s\n", s);
    free(s);
    return;
  }
  long long left = (v->expires_at_ms - lf_now_ms()) / 1000;
  printf("%s  tenant %s  %s %s\n    %s\n    expires in %lld s (catalog %s)\n",
         v->action->action_id, v->action->tenant, v->action->name,
         v->action->arguments_json,
         v->n_reasons ? v->reasons[v->n_reasons - 1]->message : "",
         left > 0 ? left : 0, v->catalog_version);
}

static int list(lf_redis_t *r, int json) {
  char errstr[512];
  if (lf_approvals_list(r, print_one, &json, errstr, sizeof(errstr))) {
    fprintf(stderr, "lamfleet approvals list: %s\n", errstr);
    return LF_EXIT_ERROR;
  }
  return LF_EXIT_OK;
}

static int decide(lf_conf_t *conf, lf_redis_t *r, const char *id, int approved,
                  const char *note, const char *by) {
  char errstr[512], topic[256];
  lf_verdict_t *held = NULL;
  if (lf_approvals_get(r, id, &held, errstr, sizeof(errstr))) {
    fprintf(stderr, "lamfleet approvals: %s\n", errstr);
    return LF_EXIT_ERROR;
  }
  if (!held) {
    fprintf(stderr,
            "lamfleet approvals: no action %s waits for approval (expired, "
            "already decided, or never held)\n",
            id);
    return LF_EXIT_GOAL_FAILED;
  }
  lf_approval_decision_t d = LF_APPROVAL_DECISION_INIT;
  d.action_id = (char *)id;
  d.goal_id = held->action->goal_id;
  d.approved = approved;
  d.approver = (char *)by;
  d.note = (char *)(note ? note : "");
  d.decided_at_ms = lf_now_ms();
  int rc = LF_EXIT_ERROR;
  rd_kafka_t *p =
      lf_cli_producer_new(conf, "lamfleet-cli", NULL, errstr, sizeof(errstr));
  if (!p || lf_kafka_produce(
                p,
                lf_kafka_topic_name(conf, LF_TOPIC_APPROVALS_DECISIONS, topic,
                                    sizeof(topic)),
                d.goal_id, &d.base, NULL, 0, NULL, errstr, sizeof(errstr))) {
    fprintf(stderr, "lamfleet approvals: %s\n", errstr);
  } else if (rd_kafka_flush(p, 10000)) {
    fprintf(stderr, "lamfleet approvals: decision not acknowledged in 10 s\n");
  } else {
    printf("%s %s\n", id, approved ? "approved" : "denied");
    rc = LF_EXIT_OK;
  }
  if (p)
    rd_kafka_destroy(p);
  lf_proto_free(&held->base);
  return rc;
}

int lf_cmd_approvals(lf_conf_t *conf, int argc, char **argv) {
  const char *sub = argc > 1 ? argv[1] : "", *id = NULL, *note = NULL;
  const char *by = getenv("USER") ? getenv("USER") : "operator";
  int json = 0, rc = LF_EXIT_USAGE;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json"))
      json = 1;
    else if ((!strcmp(argv[i], "--note") || !strcmp(argv[i], "--reason")) &&
             i + 1 < argc)
      note = argv[++i];
    else if (!strcmp(argv[i], "--by") && i + 1 < argc)
      by = argv[++i];
    else if (!id && argv[i][0] != '-')
      id = argv[i];
    else {
      fprintf(stderr, "lamfleet approvals: unexpected argument \"%s\"\n",
              argv[i]);
      usage(stderr);
      return LF_EXIT_USAGE;
    }
  }
  int is_list = !strcmp(sub, "list"), approve = !strcmp(sub, "approve");
  int deny = !strcmp(sub, "deny");
  if ((!is_list && !approve && !deny) || (!is_list && !id) ||
      (deny && (!note || !*note))) {
    if (deny && id)
      fputs("lamfleet approvals deny: --reason is required: the planner "
            "passes it on\n",
            stderr);
    usage(stderr);
    return LF_EXIT_USAGE;
  }
  char errstr[512];
  lf_redis_t *r = lf_redis_new(conf, errstr, sizeof(errstr));
  if (!r) {
    fprintf(stderr, "lamfleet approvals: %s\n", errstr);
    return LF_EXIT_USAGE;
  }
  rc = is_list ? list(r, json) : decide(conf, r, id, approve, note, by);
  lf_redis_destroy(r);
  return rc;
}
