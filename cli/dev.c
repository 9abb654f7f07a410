/* lamfleet dev: the embedded stack until Ctrl-C. */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "redis_url.h"
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

/* A secret of this run into dir/name, readable by its user only: the
 * banner names the file, never the secret (banners end up in terminals,
 * CI logs and tickets). */
static int write_private(char *dir, const char *name, const char *text,
                         char *path, size_t size) {
  if (!strcmp(dir + strlen(dir) - 6, "XXXXXX") && !mkdtemp(dir))
    return -1;
  snprintf(path, size, "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  int ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text) &&
           write(fd, "\n", 1) == 1;
  if (fd >= 0 && close(fd))
    ok = 0;
  return ok ? 0 : -1;
}

/* A key set of the run (signing, observation): its own keys go to a file
 * for the workers that join; keys given to dev are named by their ids. */
static void describe_keys(const lf_conf_t *conf, const char *set, int generated,
                          char *dir, char *out, size_t size) {
  char keys[64], file[64], path[300];
  snprintf(keys, sizeof(keys), "%s.keys", set);
  snprintf(file, sizeof(file), "%s.keys.file", set);
  const char *spec = lf_conf_get(conf, keys);
  if (*lf_conf_get(conf, file)) {
    snprintf(out, size, "%-24s %s", file, lf_conf_get(conf, file));
    return;
  }
  if (generated && !write_private(dir, keys, spec, path, sizeof(path))) {
    snprintf(out, size, "%-24s %s  (a key for this run only)", file, path);
    return;
  }
  size_t n = (size_t)snprintf(out, size, "%-24s ids", keys);
  for (const char *p = spec; *p && n < size;) { /* ID:SECRET[,ID:SECRET] */
    size_t id = strcspn(p, ":,");
    n += (size_t)snprintf(out + n, size - n, " %.*s", (int)id, p);
    p += strcspn(p, ",");
    p += *p == ',';
  }
}

/* The run's approver ("dev"): its private key in a file for `lamfleet
 * approvals approve`, when the stack made it. */
static void describe_approver(const lf_conf_t *conf, int generated, char *dir,
                              char *out, size_t size) {
  char path[300];
  out[0] = '\0';
  if (generated &&
      !write_private(dir, "approver.key", lf_conf_get(conf, "approver.key"),
                     path, sizeof(path)))
    snprintf(
        out, size,
        "  approver.key.file        %s  (approver \"dev\", this run only)\n",
        path);
}

static void remove_keys(char *dir) {
  static const char *const files[] = {"signing.keys", "observation.keys",
                                      "approver.key"};
  char path[300];
  if (!strcmp(dir + strlen(dir) - 6, "XXXXXX"))
    return;
  for (size_t i = 0; i < 3; i++) {
    snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

int lf_cmd_dev(lf_conf_t *conf, int argc, char **argv) {
  char errstr[1024];
  if (argc > 1) {
    fprintf(stderr, "lamfleet dev: unexpected \"%s\"\n", argv[1]);
    return LF_EXIT_USAGE;
  }
  lf_cli_trap_signals();
  int generated = !*lf_conf_get(conf, "signing.keys") &&
                  !*lf_conf_get(conf, "signing.keys.file");
  int own_approver =
      !*lf_conf_get(conf, "approvers") && !*lf_conf_get(conf, "approvers.file");
  int own_obs = !*lf_conf_get(conf, "observation.keys") &&
                !*lf_conf_get(conf, "observation.keys.file");
  lf_stack_t *s = lf_stack_start(conf, 7, errstr, sizeof(errstr));
  if (!s) {
    fprintf(stderr, "lamfleet dev: %s\n", errstr);
    return LF_EXIT_ERROR;
  }
  const char *bs = lf_stack_bootstraps(s);
  char keys[600], dir[] = "/tmp/lamfleet-dev-XXXXXX", url[600];
  char approver[400], obs[600];
  describe_keys(conf, "signing", generated, dir, keys, sizeof(keys));
  describe_keys(conf, "observation", own_obs, dir, obs, sizeof(obs));
  describe_approver(conf, own_approver, dir, approver, sizeof(approver));
  printf("lamfleet dev: embedded stack running (one planner, guard and "
         "executor)\n"
         "  kafka.bootstrap.servers  %s\n"
         "  redis.url                %s\n"
         "  %s\n"
         "  %s\n"
         "%s"
         "  topics                   %s{goals,actions.proposed,"
         "actions.approved,observations,results,dlq,approvals.pending,"
         "approvals.decisions}\n"
         "Try:\n"
         "  lamfleet -b %s goal submit \"greet world\" --wait\n"
         "  kcat -b %s -L\n"
         "Ctrl-C stops it.\n",
         bs, lf_redis_url_redact(lf_stack_redis_url(s), url, sizeof(url)), keys,
         obs, approver, lf_conf_get(conf, "topic.prefix"), bs, bs);
  fflush(stdout);
  while (!stop_requested)
    lf_sleep_ms(100);
  fprintf(stderr, "lamfleet dev: stopping\n");
  lf_stack_stop(s);
  remove_keys(dir);
  return LF_EXIT_OK;
}
