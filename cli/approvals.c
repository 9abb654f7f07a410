/* lamfleet approvals list | approve ID [--note TEXT] | deny ID --reason TEXT
 * | keygen NAME: what waits for a human (read from Redis, where the guards
 * keep it), and the human's answer, signed with the approver's key and
 * bound to the digest of exactly what was shown (published to
 * approvals.decisions for the guards). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "approvals.h"
#include "approver.h"
#include "cli.h"
#include "kafka.h"
#include "sign.h"
#include "util.h"

static void usage(FILE *out) {
  fputs("Usage: lamfleet approvals list [--json]\n"
        "       lamfleet approvals approve ACTION_ID [--note TEXT]\n"
        "       lamfleet approvals deny ACTION_ID --reason TEXT\n"
        "       lamfleet approvals keygen NAME [--group G,...]\n"
        "approve and deny sign with approver.key.file (or "
        "LAMFLEET_APPROVER_KEY).\n",
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
  char digest[LF_SHA256_HEX_LEN + 1] = "?";
  lf_verdict_digest(v, digest);
  printf("%s  tenant %s  %s %s\n    %s\n    expires in %lld s (catalog %s, "
         "digest %s)\n",
         v->action->action_id, v->action->tenant, v->action->name,
         v->action->arguments_json,
         v->n_reasons ? v->reasons[v->n_reasons - 1]->message : "",
         left > 0 ? left : 0, v->catalog_version, digest);
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
                  const char *note) {
  char errstr[512], topic[256], digest[LF_SHA256_HEX_LEN + 1];
  uint8_t sig[LF_APPROVER_SIG_LEN];
  lf_verdict_t *held = NULL;
  lf_approver_key_t *key = lf_approver_key_load(conf, errstr, sizeof(errstr));
  if (!key) {
    fprintf(stderr, "lamfleet approvals: %s\n", errstr);
    return LF_EXIT_USAGE;
  }
  if (lf_approvals_get(r, id, &held, errstr, sizeof(errstr))) {
    lf_approver_key_destroy(key);
    fprintf(stderr, "lamfleet approvals: %s\n", errstr);
    return LF_EXIT_ERROR;
  }
  if (!held) {
    fprintf(stderr,
            "lamfleet approvals: no action %s waits for approval (expired, "
            "already decided, or never held)\n",
            id);
    lf_approver_key_destroy(key);
    return LF_EXIT_GOAL_FAILED;
  }
  int rc = LF_EXIT_ERROR;
  rd_kafka_t *p = NULL;
  lf_approval_decision_t d = LF_APPROVAL_DECISION_INIT;
  d.action_id = (char *)id;
  d.goal_id = held->action->goal_id;
  d.approved = approved;
  d.note = (char *)(note ? note : "");
  d.decided_at_ms = lf_now_ms();
  d.held_digest = digest; /* what this human was shown, and nothing else */
  if (lf_verdict_digest(held, digest) ||
      lf_decision_sign(key, &d, sig, errstr, sizeof(errstr))) {
    fprintf(stderr, "lamfleet approvals: cannot sign the decision\n");
    goto done;
  }
  p = lf_cli_producer_new(conf, "lamfleet-cli", NULL, errstr, sizeof(errstr));
  if (!p || lf_kafka_produce(
                p,
                lf_kafka_topic_name(conf, LF_TOPIC_APPROVALS_DECISIONS, topic,
                                    sizeof(topic)),
                d.goal_id, &d.base, NULL, 0, NULL, errstr, sizeof(errstr))) {
    fprintf(stderr, "lamfleet approvals: %s\n", errstr);
  } else if (rd_kafka_flush(p, 10000)) {
    fprintf(stderr, "lamfleet approvals: decision not acknowledged in 10 s\n");
  } else {
    printf("%s %s by %s (digest %.12s...)\n", id,
           approved ? "approved" : "denied", d.approver, digest);
    rc = LF_EXIT_OK;
  }
done:
  if (p)
    rd_kafka_destroy(p);
  lf_proto_free(&held->base);
  lf_approver_key_destroy(key);
  return rc;
}

/* A key pair: the public line for the guards' approvers.file on stdout,
 * the private key in NAME.key (mode 0600) for the approver alone. */
static int keygen(const char *name, const char *groups) {
  char pub[256], priv[256], errstr[256], path[300];
  if (lf_approver_keygen(name, pub, sizeof(pub), priv, sizeof(priv), errstr,
                         sizeof(errstr))) {
    fprintf(stderr, "lamfleet approvals keygen: %s\n", errstr);
    return LF_EXIT_USAGE;
  }
  snprintf(path, sizeof(path), "%s.key", name);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  int ok = f && fprintf(f, "%s\n", priv) > 0;
  ok = (f ? fclose(f) == 0 : 0) && ok;
  memset(priv, 0, sizeof(priv));
  if (!ok) {
    fprintf(stderr, "lamfleet approvals keygen: %s: %s\n", path,
            fd < 0 ? strerror(errno) : "cannot write");
    return LF_EXIT_ERROR;
  }
  printf("%s%s%s\n", pub, groups ? ":" : "", groups ? groups : "");
  fprintf(stderr,
          "private key in %s (keep it to yourself: approver.key.file); the "
          "line above goes into the guards' approvers.file\n",
          path);
  return LF_EXIT_OK;
}

int lf_cmd_approvals(lf_conf_t *conf, int argc, char **argv) {
  const char *sub = argc > 1 ? argv[1] : "", *id = NULL, *note = NULL;
  const char *groups = NULL;
  int json = 0, rc = LF_EXIT_USAGE;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--json"))
      json = 1;
    else if ((!strcmp(argv[i], "--note") || !strcmp(argv[i], "--reason")) &&
             i + 1 < argc)
      note = argv[++i];
    else if (!strcmp(argv[i], "--group") && i + 1 < argc)
      groups = argv[++i];
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
  if (!strcmp(sub, "keygen") && id)
    return keygen(id, groups);
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
  rc = is_list ? list(r, json) : decide(conf, r, id, approve, note);
  lf_redis_destroy(r);
  return rc;
}
