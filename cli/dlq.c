/* lamfleet dlq list [--json]: the dead letters, oldest first, each with
 * where it came from (topic, partition, offset, key), which worker sent it
 * and why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* The log's end: no record for this long. */
#define QUIET_MS 1500

static void usage(FILE *out) {
  fputs("Usage: lamfleet dlq list [--json]\n", out);
}

static void print(const lf_event_t *ev, int json) {
  const lf_dead_letter_t *d = (const lf_dead_letter_t *)ev->pb;
  if (json) {
    char *s = lf_proto_to_json(ev->pb);
    if (s)
      printf("%s\n", s);
    free(s);
    return;
  }
  char at[32] = "";
  time_t t = (time_t)(d->failed_at_ms / 1000);
  strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", gmtime(&t));
  printf("%sZ  %s [%d] @%lld  key %.*s  from %s\n    %s\n", at, d->source_topic,
         (int)d->partition, (long long)d->offset, (int)d->original_key.len,
         (const char *)d->original_key.data, d->worker, d->error);
}

int lf_cmd_dlq(lf_conf_t *conf, int argc, char **argv) {
  static const lf_topic_t dlq[] = {LF_TOPIC_DLQ};
  char errstr[512];
  int json = argc == 3 && !strcmp(argv[2], "--json");
  if (argc < 2 || strcmp(argv[1], "list") || (argc > 2 && !json)) {
    usage(stderr);
    return LF_EXIT_USAGE;
  }
  lf_follow_t *f =
      lf_follow_new_topics(conf, dlq, 1, 1, errstr, sizeof(errstr));
  if (!f) {
    fprintf(stderr, "lamfleet dlq list: %s\n", errstr);
    return LF_EXIT_ERROR;
  }
  lf_event_t ev;
  size_t n = 0;
  while (lf_follow_next(f, QUIET_MS, &ev)) {
    print(&ev, json);
    lf_event_clear(&ev);
    n++;
  }
  if (!json)
    fprintf(stderr, "%zu dead letter%s\n", n, n == 1 ? "" : "s");
  lf_follow_destroy(f);
  return LF_EXIT_OK;
}
