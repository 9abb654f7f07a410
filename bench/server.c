#include "server.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "llm_server.h"
#include "util.h"

/* The child answers one line per command: "p" pending now, "q" its totals
 * (then exits). */
static void serve(int in, int out, int delay, int rounds) {
  lf_llm_server_t *s = lf_llm_server_start();
  FILE *from = fdopen(in, "r"), *to = fdopen(out, "w");
  char line[16];
  if (!from || !to)
    exit(1);
  lf_llm_server_agent(s, delay, rounds, "echo", "message");
  fprintf(to, "%s\n", lf_llm_server_url(s));
  fflush(to);
  while (fgets(line, sizeof(line), from) && line[0] == 'p') {
    fprintf(to, "%zu\n", lf_llm_server_pending(s));
    fflush(to);
  }
  fprintf(to, "%llu %zu\n", (unsigned long long)lf_llm_server_total(s),
          lf_llm_server_max_pending(s));
  fflush(to);
  lf_llm_server_stop(s);
  exit(0);
}

void server_start(server_t *sv, int delay, int rounds) {
  int down[2], up[2];
  if (pipe(down) || pipe(up))
    die("pipe");
  if ((sv->pid = fork()) < 0)
    die("fork");
  if (!sv->pid) {
    close(down[1]);
    close(up[0]);
    serve(down[0], up[1], delay, rounds);
  }
  close(down[0]);
  close(up[1]);
  sv->to = fdopen(down[1], "w");
  sv->from = fdopen(up[0], "r");
  if (!sv->to || !sv->from || !fgets(sv->url, sizeof(sv->url), sv->from))
    die("LLM server");
  sv->url[strcspn(sv->url, "\n")] = '\0';
}

long server_ask(server_t *sv, const char *cmd, long *second) {
  char line[64];
  long a = 0;
  fprintf(sv->to, "%s\n", cmd);
  fflush(sv->to);
  if (!fgets(line, sizeof(line), sv->from) ||
      sscanf(line, "%ld %ld", &a, second) < 1)
    die("LLM server");
  return a;
}

void set(lf_conf_t *conf, const char *key, const char *value) {
  if (lf_conf_set(conf, key, value, errstr, sizeof(errstr)))
    die(key);
}

int server_sample(server_t *sv, int64_t *next_ms, long *peak) {
  long second = 0;
  if (lf_monotonic_ms() < *next_ms)
    return 0;
  *next_ms = lf_monotonic_ms() + 20;
  long now = server_ask(sv, "p", &second);
  if (now <= *peak)
    return 0;
  *peak = now;
  return 1;
}
