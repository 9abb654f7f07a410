/* lamfleet tail [TOPIC...]: the fleet's records as they come, decoded, one
 * a line (or one JSON object a line), like kcat -C for protobuf. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

typedef struct tail_opts {
  lf_topic_t topics[LF_TOPIC__CNT];
  size_t ntopics;
  lf_follow_from_t from;
  int json;
  long count;          /* stop after this many records; 0: never */
  const char *goal_id; /* only this goal's records */
} tail_opts_t;

static void usage(FILE *out) {
  fputs("Usage: lamfleet tail [TOPIC...] [--json] [--from-beginning] "
        "[--exit] [--count N] [--goal ID]\n"
        "  TOPIC: goals, actions.proposed, actions.approved, observations, "
        "results, dlq,\n"
        "         approvals.pending, approvals.decisions (or the full name); "
        "all by default\n"
        "  --from-beginning  what the topics hold first, then what comes\n"
        "  --exit            stop at the end of what the topics hold\n",
        out);
}

static int topic_of(const lf_conf_t *conf, const char *name) {
  int kind = lf_proto_topic_from_name(lf_conf_get(conf, "topic.prefix"), name);
  for (int t = 0; kind < 0 && t < LF_TOPIC__CNT; t++)
    if (!strcmp(name, lf_proto_topic_suffix((lf_topic_t)t)))
      kind = t;
  return kind;
}

static int parse(const lf_conf_t *conf, int argc, char **argv, tail_opts_t *o) {
  int beginning = 0, at_end = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int kind;
    char *end;
    if (!strcmp(a, "--json"))
      o->json = 1;
    else if (!strcmp(a, "--from-beginning"))
      beginning = 1;
    else if (!strcmp(a, "--exit"))
      at_end = 1;
    else if (!strcmp(a, "--goal") && i + 1 < argc)
      o->goal_id = argv[++i];
    else if (!strcmp(a, "--count") && i + 1 < argc) {
      o->count = strtol(argv[++i], &end, 10);
      if (o->count <= 0 || *end) {
        fprintf(stderr, "lamfleet tail: --count \"%s\": a positive number\n",
                argv[i]);
        return -1;
      }
    } else if (a[0] != '-' && (kind = topic_of(conf, a)) >= 0 &&
               o->ntopics < LF_TOPIC__CNT)
      o->topics[o->ntopics++] = (lf_topic_t)kind;
    else {
      fprintf(stderr, "lamfleet tail: %s \"%s\"\n",
              a[0] == '-' ? "unexpected" : "no such fleet topic", a);
      return -1;
    }
  }
  for (int t = 0; !o->ntopics && t < LF_TOPIC__CNT; t++)
    o->topics[t] = (lf_topic_t)t;
  if (!o->ntopics)
    o->ntopics = LF_TOPIC__CNT;
  o->from = at_end ? LF_FOLLOW_HELD : beginning ? LF_FOLLOW_ALL : LF_FOLLOW_NEW;
  return 0;
}

static int wanted(const lf_conf_t *conf, const tail_opts_t *o,
                  const lf_event_t *ev) {
  return !o->goal_id ||
         lf_event_of_goal(lf_conf_get(conf, "topic.prefix"), ev, o->goal_id);
}

static void print(const tail_opts_t *o, const lf_event_t *ev) {
  if (o->json) {
    lf_event_print_json(stdout, ev, -1);
    return;
  }
  char at[32] = "";
  time_t t = (time_t)(ev->ts_ms / 1000);
  strftime(at, sizeof(at), "%H:%M:%S", gmtime(&t));
  printf("%s.%03dZ %s [%d] @%lld %s  ", at, (int)(ev->ts_ms % 1000),
         lf_proto_topic_suffix(ev->topic), (int)ev->partition,
         (long long)ev->offset, ev->key);
  lf_event_describe(stdout, ev);
  putchar('\n');
}

int lf_cmd_tail(lf_conf_t *conf, int argc, char **argv) {
  tail_opts_t o = {0};
  char errstr[512];
  if (parse(conf, argc, argv, &o)) {
    usage(stderr);
    return LF_EXIT_USAGE;
  }
  lf_follow_t *f = lf_follow_new_topics(conf, o.topics, o.ntopics, o.from,
                                        errstr, sizeof(errstr));
  if (!f) {
    fprintf(stderr, "lamfleet tail: %s\n", errstr);
    return LF_EXIT_ERROR;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGPIPE, on_signal);
  long n = 0;
  int r = 0;
  while (!stop && (!o.count || n < o.count)) {
    lf_event_t ev;
    if ((r = lf_follow_next(f, 200, &ev)) < 0)
      break;
    if (!r) {
      fflush(stdout); /* a pipe sees each quiet moment's records at once */
      continue;
    }
    if (wanted(conf, &o, &ev)) {
      print(&o, &ev);
      n++;
    }
    lf_event_clear(&ev);
  }
  fflush(stdout);
  lf_follow_destroy(f);
  return LF_EXIT_OK;
}
