/* lamfleet lag [--group G] [--watch SECONDS] [--json] [--max-lag N]: for
 * every worker group of the fleet, each topic and partition it consumes:
 * committed offset, log end offset and lag, with the group's state and
 * members where the broker can tell, and a total per group. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "kafka.h"
#include "stack.h"

#define TIMEOUT_MS 10000

typedef struct row {
  const char *topic;
  int32_t partition;
  int64_t committed; /* < 0: none */
  int64_t end, lag;
} row_t;

typedef struct group {
  const char *name;
  const lf_handler_t *h;
  char topics[LF_TOPIC__CNT][256];
  row_t *rows;
  size_t n;
  int64_t total;
  char state[256]; /* "Stable, 2 members", or why it is unknown */
} group_t;

static volatile sig_atomic_t stopping;
static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void usage(FILE *out) {
  fputs("Usage: lamfleet lag [--group G] [--watch SECONDS] [--json] "
        "[--max-lag N]\n"
        "  --group G        one group (default: the planner, guard and "
        "executor groups)\n"
        "  --watch SECONDS  print again every SECONDS until Ctrl-C (with "
        "--max-lag:\n"
        "                   until every group is at or below it)\n"
        "  --json           one JSON object a line\n"
        "  --max-lag N      exit 1 when a group's total lag is above N\n",
        out);
}

/* How many partitions topic has in md, or -1 with errstr. */
static int partitions(const struct rd_kafka_metadata *md, const char *topic,
                      char *errstr, size_t errstr_size) {
  for (int i = 0; i < md->topic_cnt; i++)
    if (!strcmp(md->topics[i].topic, topic)) {
      if (!md->topics[i].err)
        return md->topics[i].partition_cnt;
      snprintf(errstr, errstr_size, "topic %s: %s", topic,
               rd_kafka_err2str(md->topics[i].err));
      return -1;
    }
  snprintf(errstr, errstr_size,
           "topic %s does not exist (lamfleet topics create makes them)",
           topic);
  return -1;
}

/* Every partition of the group's topics. */
static rd_kafka_topic_partition_list_t *
topic_partitions(const struct rd_kafka_metadata *md, const group_t *g,
                 char *errstr, size_t errstr_size) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(32);
  for (size_t t = 0; l && t < g->h->ntopics; t++) {
    int n = partitions(md, g->topics[t], errstr, errstr_size);
    if (n < 0) {
      rd_kafka_topic_partition_list_destroy(l);
      return NULL;
    }
    for (int p = 0; p < n; p++)
      rd_kafka_topic_partition_list_add(l, g->topics[t], p);
  }
  if (!l && !errstr[0])
    snprintf(errstr, errstr_size, "out of memory");
  return l;
}

/* One admin request on its own queue; the event or NULL after the
 * timeout (errstr says which). */
static rd_kafka_event_t *await_admin(rd_kafka_queue_t *q, const char *what,
                                     char *errstr, size_t errstr_size) {
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS + 2000);
  if (!ev)
    snprintf(errstr, errstr_size, "%s: no answer in %d s", what,
             TIMEOUT_MS / 1000 + 2);
  else if (rd_kafka_event_error(ev)) {
    snprintf(errstr, errstr_size, "%s: %s", what,
             rd_kafka_event_error_string(ev));
    rd_kafka_event_destroy(ev);
    ev = NULL;
  }
  return ev;
}

/* The group's committed offsets (ListConsumerGroupOffsets: OffsetFetch)
 * for the partitions of l, in place. */
static lf_err_t committed(rd_kafka_t *rk, const group_t *g,
                          rd_kafka_topic_partition_list_t *l, char *errstr,
                          size_t errstr_size) {
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_AdminOptions_t *o =
      lf_kafka_admin_options(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
                             TIMEOUT_MS, errstr, errstr_size);
  rd_kafka_ListConsumerGroupOffsets_t *req =
      rd_kafka_ListConsumerGroupOffsets_new(g->name, l);
  rd_kafka_event_t *ev = NULL;
  lf_err_t err = LF_ERR_KAFKA;
  if (o && (!q || !req))
    snprintf(errstr, errstr_size, "out of memory");
  if (q && o && req) {
    rd_kafka_ListConsumerGroupOffsets(rk, &req, 1, o, q);
    ev = await_admin(q, "committed offsets", errstr, errstr_size);
  }
  const rd_kafka_ListConsumerGroupOffsets_result_t *res =
      ev ? rd_kafka_event_ListConsumerGroupOffsets_result(ev) : NULL;
  size_t n = 0;
  const rd_kafka_group_result_t **gr =
      res ? rd_kafka_ListConsumerGroupOffsets_result_groups(res, &n) : NULL;
  const rd_kafka_error_t *e =
      gr && n ? rd_kafka_group_result_error(gr[0]) : NULL;
  const rd_kafka_topic_partition_list_t *got =
      gr && n && !e ? rd_kafka_group_result_partitions(gr[0]) : NULL;
  if (e)
    snprintf(errstr, errstr_size, "committed offsets of %s: %s", g->name,
             rd_kafka_error_string(e));
  for (int i = 0; got && i < l->cnt; i++) {
    rd_kafka_topic_partition_t *p = &l->elems[i];
    const rd_kafka_topic_partition_t *c =
        rd_kafka_topic_partition_list_find(got, p->topic, p->partition);
    p->offset = c && !c->err ? c->offset : RD_KAFKA_OFFSET_INVALID;
  }
  if (got)
    err = LF_OK;
  if (ev)
    rd_kafka_event_destroy(ev);
  if (req)
    rd_kafka_ListConsumerGroupOffsets_destroy(req);
  if (o)
    rd_kafka_AdminOptions_destroy(o);
  if (q)
    rd_kafka_queue_destroy(q);
  return err;
}

/* State and members of every group (ListGroups and DescribeGroups, the
 * calls `kafka-consumer-groups --describe` makes), where the broker
 * answers them; otherwise the reason, not a failure. A broker that does
 * not support them is not asked again (librdkafka 2.0.2's admin
 * DescribeConsumerGroups starts no further admin request after such a
 * refusal, and cannot then be destroyed: the older call has neither
 * problem). */
static void describe(rd_kafka_t *rk, group_t *gs, size_t n) {
  static char refused[200];
  for (size_t i = 0; i < n; i++) {
    group_t *g = &gs[i];
    const struct rd_kafka_group_list *l = NULL;
    rd_kafka_resp_err_t err =
        refused[0] ? RD_KAFKA_RESP_ERR_NO_ERROR
                   : rd_kafka_list_groups(rk, g->name, &l, TIMEOUT_MS);
    if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
        err == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION)
      snprintf(refused, sizeof(refused),
               "the broker does not support "
               "DescribeGroups");
    if (refused[0])
      snprintf(g->state, sizeof(g->state), "state unknown (%s)", refused);
    else if (err)
      snprintf(g->state, sizeof(g->state), "state unknown (%s)",
               rd_kafka_err2str(err));
    else if (l->group_cnt != 1 || l->groups[0].err)
      snprintf(g->state, sizeof(g->state), "state unknown (%s)",
               rd_kafka_err2str(l->group_cnt
                                    ? l->groups[0].err
                                    : RD_KAFKA_RESP_ERR__UNKNOWN_GROUP));
    else
      snprintf(g->state, sizeof(g->state), "%s, %d member%s",
               l->groups[0].state, l->groups[0].member_cnt,
               l->groups[0].member_cnt == 1 ? "" : "s");
    if (l)
      rd_kafka_group_list_destroy(l);
  }
}

static lf_err_t query(rd_kafka_t *rk, const struct rd_kafka_metadata *md,
                      group_t *g, char *errstr, size_t errstr_size) {
  errstr[0] = '\0';
  rd_kafka_topic_partition_list_t *l =
      topic_partitions(md, g, errstr, errstr_size);
  lf_err_t err = l ? committed(rk, g, l, errstr, errstr_size) : LF_ERR_KAFKA;
  free(g->rows);
  g->rows = l ? calloc((size_t)l->cnt + 1, sizeof(*g->rows)) : NULL;
  g->n = 0;
  g->total = 0;
  if (l && !g->rows) {
    snprintf(errstr, errstr_size, "out of memory");
    err = LF_ERR_NOMEM;
  }
  for (int i = 0; !err && l && i < l->cnt; i++) {
    rd_kafka_topic_partition_t *p = &l->elems[i];
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t kerr = rd_kafka_query_watermark_offsets(
        rk, p->topic, p->partition, &lo, &hi, TIMEOUT_MS);
    if (kerr) {
      snprintf(errstr, errstr_size, "end offset of %s [%d]: %s", p->topic,
               (int)p->partition, rd_kafka_err2str(kerr));
      err = LF_ERR_KAFKA;
      break;
    }
    row_t *r = &g->rows[g->n++];
    /* without a commit, what the group has not read is all it holds */
    r->topic = "";
    for (size_t t = 0; t < g->h->ntopics; t++)
      if (!strcmp(g->topics[t], p->topic))
        r->topic = g->topics[t];
    r->partition = p->partition;
    r->committed = p->offset >= 0 ? p->offset : -1;
    r->end = hi;
    r->lag = hi - (p->offset >= 0 ? p->offset : lo);
    g->total += r->lag;
  }
  if (l)
    rd_kafka_topic_partition_list_destroy(l);
  return err;
}

static void print_human(const group_t *gs, size_t n, int header) {
  if (header)
    printf("%-20s %-28s %4s %12s %12s %10s\n", "GROUP", "TOPIC", "PART",
           "COMMITTED", "END", "LAG");
  for (size_t i = 0; i < n; i++) {
    const group_t *g = &gs[i];
    for (size_t k = 0; k < g->n; k++) {
      const row_t *r = &g->rows[k];
      char c[24] = "-";
      if (r->committed >= 0)
        snprintf(c, sizeof(c), "%lld", (long long)r->committed);
      printf("%-20s %-28s %4d %12s %12lld %10lld\n", g->name, r->topic,
             (int)r->partition, c, (long long)r->end, (long long)r->lag);
    }
    printf("%-20s %-28s %4s %12s %12s %10lld  %s\n", g->name, "(total)", "", "",
           "", (long long)g->total, g->state);
  }
}

static void print_json(const group_t *gs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const group_t *g = &gs[i];
    for (size_t k = 0; k < g->n; k++) {
      const row_t *r = &g->rows[k];
      json_t *o = json_pack("{s:s,s:s,s:i,s:I,s:I,s:I}", "group", g->name,
                            "topic", r->topic, "partition", (int)r->partition,
                            "committed", (json_int_t)r->committed, "end",
                            (json_int_t)r->end, "lag", (json_int_t)r->lag);
      char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
      if (s)
        printf("%s\n", s);
      free(s);
      json_decref(o);
    }
    json_t *o =
        json_pack("{s:s,s:s,s:I,s:s}", "group", g->name, "kind", g->h->kind,
                  "lag", (json_int_t)g->total, "state", g->state);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
      printf("%s\n", s);
    free(s);
    json_decref(o);
  }
}

/* The fleet's groups, or the one asked for. */
static size_t groups(const lf_conf_t *conf, const char *only, group_t *gs) {
  size_t n = 0;
  for (int k = 0; k < LF_KIND__CNT; k++) {
    const lf_handler_t *h = lf_stack_handler((lf_kind_t)k);
    const char *name = lf_conf_get(conf, h->group_key);
    if (only && strcmp(only, name))
      continue;
    group_t *g = &gs[n++];
    memset(g, 0, sizeof(*g));
    g->name = name;
    g->h = h;
    for (size_t t = 0; t < h->ntopics; t++)
      lf_kafka_topic_name(conf, h->topics[t], g->topics[t],
                          sizeof(g->topics[t]));
  }
  return n;
}

typedef struct opts {
  const lf_conf_t *conf;
  const char *group;
  long watch;
  int json;
  long long max_lag; /* < 0: none */
} opts_t;

static int parse(int argc, char **argv, opts_t *o) {
  *o = (opts_t){NULL, NULL, 0, 0, -1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    char *end = NULL;
    if (!strcmp(a, "--json")) {
      o->json = 1;
      continue;
    }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return -1;
    }
    if (!v || (strcmp(a, "--group") && strcmp(a, "--watch") &&
               strcmp(a, "--max-lag"))) {
      fprintf(stderr, "lamfleet lag: %s \"%s\"\n",
              v ? "unknown option" : "missing value after", a);
      usage(stderr);
      return LF_EXIT_USAGE;
    }
    i++;
    if (!strcmp(a, "--group")) {
      o->group = v;
      continue;
    }
    long long n = strtoll(v, &end, 10);
    if (*end || n < (strcmp(a, "--watch") ? 0 : 1)) {
      fprintf(stderr, "lamfleet lag: %s expects a %s number, not \"%s\"\n", a,
              strcmp(a, "--watch") ? "non-negative" : "positive", v);
      return LF_EXIT_USAGE;
    }
    if (!strcmp(a, "--watch"))
      o->watch = (long)n;
    else
      o->max_lag = n;
  }
  return 0;
}

/* One round: every group queried and printed; whether one is above. */
static int round_(rd_kafka_t *rk, const opts_t *o, group_t *gs, size_t n,
                  int first) {
  char errstr[512];
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t kerr = rd_kafka_metadata(rk, 1, NULL, &md, TIMEOUT_MS);
  if (kerr) {
    fprintf(stderr, "lamfleet lag: cannot reach Kafka (%s): %s\n",
            lf_conf_get(o->conf, "kafka.bootstrap.servers"),
            rd_kafka_err2str(kerr));
    return LF_EXIT_ERROR;
  }
  for (size_t i = 0; i < n; i++)
    if (query(rk, md, &gs[i], errstr, sizeof(errstr))) {
      fprintf(stderr, "lamfleet lag: %s\n", errstr);
      rd_kafka_metadata_destroy(md);
      return LF_EXIT_ERROR;
    }
  rd_kafka_metadata_destroy(md);
  describe(rk, gs, n);
  if (o->watch && !o->json) {
    char at[32];
    time_t now = time(NULL);
    strftime(at, sizeof(at), "%H:%M:%S", localtime(&now));
    printf("%s-- %s\n", first ? "" : "\n", at);
  }
  if (o->json)
    print_json(gs, n);
  else
    print_human(gs, n, 1);
  fflush(stdout);
  for (size_t i = 0; i < n; i++)
    if (o->max_lag >= 0 && gs[i].total > o->max_lag)
      return LF_EXIT_GOAL_FAILED;
  return LF_EXIT_OK;
}

int lf_cmd_lag(lf_conf_t *conf, int argc, char **argv) {
  opts_t o;
  group_t gs[LF_KIND__CNT];
  int rc = parse(argc, argv, &o);
  if (rc)
    return rc < 0 ? LF_EXIT_OK : rc;
  o.conf = conf;
  size_t n = groups(conf, o.group, gs);
  if (!n) {
    fprintf(stderr,
            "lamfleet lag: \"%s\" is not a group of the fleet (%s, %s, "
            "%s)\n",
            o.group, lf_conf_get(conf, "planner.group.id"),
            lf_conf_get(conf, "guard.group.id"),
            lf_conf_get(conf, "executor.group.id"));
    return LF_EXIT_USAGE;
  }
  /* A plain client: admin requests, metadata and watermarks need no
   * group membership, and it has nothing to leave when done. */
  char errstr[512];
  rd_kafka_t *rk =
      lf_cli_producer_new(conf, "lamfleet-lag", NULL, errstr, sizeof(errstr));
  if (!rk) {
    fprintf(stderr, "lamfleet lag: %s\n", errstr);
    return LF_EXIT_ERROR;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  for (int first = 1;; first = 0) {
    rc = round_(rk, &o, gs, n, first);
    /* watching with a bound: until everything is at or below it */
    if (!o.watch || rc == LF_EXIT_ERROR || (o.max_lag >= 0 && !rc))
      break;
    for (long s = 0; s < o.watch * 10 && !stopping; s++)
      usleep(100000);
    if (stopping) {
      rc = o.max_lag >= 0 ? rc : LF_EXIT_OK;
      break;
    }
  }
  for (size_t i = 0; i < n; i++)
    free(gs[i].rows);
  rd_kafka_destroy(rk);
  return rc;
}
