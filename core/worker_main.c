#include "worker_main.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "log.h"

static lf_worker_t *running;

static void on_signal(int sig) {
  (void)sig;
  if (running)
    lf_worker_stop(running);
}

static void usage(const lf_handler_t *h, FILE *out) {
  fprintf(out,
          "Usage: lamfleet-%s [-b BROKERS] [-c FILE] [-X key=value]...\n"
          "  -b BROKERS      Kafka bootstrap servers\n"
          "  -c FILE         configuration file of key=value lines\n"
          "  -X key=value    set a property (-X list shows them all)\n"
          "Environment: LAMFLEET_<KEY> (e.g. LAMFLEET_REDIS_URL).\n",
          h->kind);
}

int lf_worker_main(const lf_handler_t *h, int argc, char **argv) {
  char errstr[1024];
  int status = 1;
  lf_conf_t *conf = lf_conf_new();
  if (!conf) {
    fprintf(stderr, "lamfleet-%s: out of memory\n", h->kind);
    return 1;
  }
  lf_err_t err = lf_conf_parse_args(conf, &argc, argv, errstr, sizeof(errstr));
  if (err == LF_ERR_DONE) {
    status = 0;
    goto done;
  }
  if (!err && argc > 1) {
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
      usage(h, stdout);
      status = 0;
      goto done;
    }
    snprintf(errstr, sizeof(errstr), "unexpected argument \"%s\"", argv[1]);
    err = LF_ERR_INVALID;
  }
  if (err) {
    fprintf(stderr, "lamfleet-%s: %s\n", h->kind, errstr);
    usage(h, stderr);
    status = 2;
    goto done;
  }
  lf_log_configure(conf);
  lf_worker_t *w = lf_worker_new(conf, h, errstr, sizeof(errstr));
  if (!w) {
    lf_error(h->kind, "cannot start: %s", errstr);
    status = 2;
    goto done;
  }
  lf_health_t *health = lf_health_start(conf, &w, 1, errstr, sizeof(errstr));
  if (!health && errstr[0]) {
    lf_error(lf_worker_id(w), "cannot start: %s", errstr);
    lf_worker_destroy(w);
    status = 2;
    goto done;
  }
  if (health)
    lf_info(lf_worker_id(w), "metrics and probes on port %u",
            lf_health_port(health));
  running = w;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  err = lf_worker_run(w, errstr, sizeof(errstr));
  if (err)
    lf_error(lf_worker_id(w), "%s", errstr);
  status = err ? 1 : 0;
  running = NULL;
  lf_health_stop(health);
  lf_worker_destroy(w);
done:
  lf_conf_destroy(conf);
  return status;
}
