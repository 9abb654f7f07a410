/* lamfleet: the operator command. */
#include <string.h>

#include "cli.h"
#include "log.h"

static void usage(FILE *out) {
  fputs("Usage: lamfleet [-b BROKERS] [-c FILE] [-X key=value]... COMMAND\n"
        "Commands:\n"
        "  dev                      run the embedded stack (mock Kafka, a\n"
        "                           redis-server, one worker of each kind)\n"
        "  demo                     run the sample goals on the embedded "
        "stack\n"
        "  goal submit TEXT [--tenant T] [--max-steps N] [--key K] [--wait]\n"
        "                           produce a goal; --wait follows it to "
        "its result\n"
        "  goal submit --file FILE|- [--json]\n"
        "                           one goal a line (text or JSON), or a JSON\n"
        "                           file of goals; prints their ids\n"
        "  goal show ID [--json]    a goal's trace from the topics, timed\n"
        "  tail [TOPIC...] [--json] [--from-beginning] [--exit] [--goal ID]\n"
        "                           the fleet's records as they come, "
        "decoded\n"
        "  catalog lint FILE        every problem of a catalog\n"
        "  guard check [--catalog FILE] [--json] ACTION.json|-\n"
        "                           the guard's verdict, offline (one action\n"
        "                           per line on stdin)\n"
        "  dlq list [--json]        the dead letters and why\n"
        "  dlq replay --all|P:O... [--source TOPIC] [--dry-run]\n"
        "                           dead letters back to where they came "
        "from\n"
        "  topics create [--partitions N] [--replication R]\n"
        "                           the fleet's topics (admin CreateTopics)\n"
        "  lag [--group G] [--watch SECONDS] [--json] [--max-lag N]\n"
        "                           committed offset, end offset and lag of\n"
        "                           every worker group, partition by\n"
        "                           partition (--max-lag: exit 1 above N)\n"
        "  approvals list [--json]  actions waiting for a human\n"
        "  approvals approve ID [--note TEXT]\n"
        "  approvals deny ID --reason TEXT\n"
        "                           answer for a waiting action (signed)\n"
        "  approvals keygen NAME [--group G,...]\n"
        "                           an approver's key pair\n"
        "  config list|markdown     the configuration properties\n"
        "Options:\n"
        "  -b BROKERS               Kafka bootstrap servers\n"
        "  -c FILE                  configuration file (key=value lines)\n"
        "  -X key=value             set a property; -X list shows them all\n"
        "Environment: LAMFLEET_<KEY>, e.g. LAMFLEET_REDIS_URL.\n"
        "Exit status: 0 success, 1 a goal failed, 2 usage, 3 other errors.\n",
        out);
}

static int cmd_config(lf_conf_t *conf, int argc, char **argv) {
  (void)conf;
  if (argc == 2 && !strcmp(argv[1], "list")) {
    lf_conf_print_list(stdout);
    return LF_EXIT_OK;
  }
  if (argc == 2 && !strcmp(argv[1], "markdown")) {
    lf_conf_print_markdown(stdout);
    return LF_EXIT_OK;
  }
  fputs("Usage: lamfleet config list|markdown\n", stderr);
  return LF_EXIT_USAGE;
}

static const struct command {
  const char *name;
  int (*run)(lf_conf_t *conf, int argc, char **argv);
} commands[] = {
    {"dev", lf_cmd_dev},       {"demo", lf_cmd_demo},
    {"goal", lf_cmd_goal},     {"catalog", lf_cmd_catalog},
    {"guard", lf_cmd_guard},   {"dlq", lf_cmd_dlq},
    {"topics", lf_cmd_topics}, {"tail", lf_cmd_tail},
    {"lag", lf_cmd_lag},       {"approvals", lf_cmd_approvals},
    {"config", cmd_config},
};

static const struct command *find(const char *name) {
  for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
    if (!strcmp(commands[i].name, name))
      return &commands[i];
  return NULL;
}

int main(int argc, char **argv) {
  char errstr[1024];
  int rc = LF_EXIT_USAGE;
  lf_conf_t *conf = lf_conf_new();
  if (!conf) {
    fputs("lamfleet: out of memory\n", stderr);
    return LF_EXIT_ERROR;
  }
  lf_err_t err = lf_conf_parse_args(conf, &argc, argv, errstr, sizeof(errstr));
  if (err == LF_ERR_DONE) {
    rc = LF_EXIT_OK;
    goto done;
  }
  if (err) {
    fprintf(stderr, "lamfleet: %s\n", errstr);
    goto done;
  }
  lf_log_configure(conf);
  const char *cmd = argc > 1 ? argv[1] : "";
  const struct command *c = find(cmd);
  if (c)
    rc = c->run(conf, argc - 1, argv + 1);
  else if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") ||
           !strcmp(cmd, "help")) {
    usage(stdout);
    rc = LF_EXIT_OK;
  } else {
    if (*cmd)
      fprintf(stderr, "lamfleet: unknown command \"%s\"\n", cmd);
    usage(stderr);
  }
done:
  lf_conf_destroy(conf);
  return rc;
}
