/* lamfleet dev: the embedded stack until Ctrl-C. */
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "stack.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

void lf_cli_trap_signals(void);
void lf_cli_trap_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int lf_cmd_dev(lf_conf_t *conf, int argc, char **argv) {
  char errstr[1024];
  if (argc > 1) {
    fprintf(stderr, "lamfleet dev: unexpected \"%s\"\n", argv[1]);
    return LF_EXIT_USAGE;
  }
  lf_cli_trap_signals();
  lf_stack_t *s = lf_stack_start(conf, 7, errstr, sizeof(errstr));
  if (!s) {
    fprintf(stderr, "lamfleet dev: %s\n", errstr);
    return LF_EXIT_ERROR;
  }
  const char *bs = lf_stack_bootstraps(s);
  printf("lamfleet dev: embedded stack running (one planner, guard and "
         "executor)\n"
         "  kafka.bootstrap.servers  %s\n"
         "  redis.url                %s\n"
         "  signing.keys             %s  (a key for this run only)\n"
         "  topics                   %s{goals,actions.proposed,"
         "actions.approved,observations,results,dlq,approvals.pending,"
         "approvals.decisions}\n"
         "Try:\n"
         "  lamfleet -b %s goal submit \"greet world\" --wait\n"
         "  kcat -b %s -L\n"
         "Ctrl-C stops it.\n",
         bs, lf_stack_redis_url(s),
         *lf_conf_get(conf, "signing.keys.file")
             ? lf_conf_get(conf, "signing.keys.file")
             : lf_conf_get(conf, "signing.keys"),
         lf_conf_get(conf, "topic.prefix"), bs, bs);
  fflush(stdout);
  while (!stop_requested)
    lf_sleep_ms(100);
  fprintf(stderr, "lamfleet dev: stopping\n");
  lf_stack_stop(s);
  return LF_EXIT_OK;
}
