/* lamfleet dlq list|replay: the dead letters, oldest first, each with where
 * it came from (topic, partition, offset, key), which worker sent it and
 * why; and putting them back where they came from once the cause is
 * fixed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kafka.h"
#include "lf_text.h"

/* Header naming the dead letter a replayed record came from. */
#define REPLAY_HDR "lamfleet-replay-of"

typedef struct dlq_opts {
  int json, all, dry_run, replaying;
  const char *source; /* --source TOPIC: only those from it */
  char **ids;         /* PARTITION:OFFSET of the dead letters to replay */
  int nids, *found;
} dlq_opts_t;

static void usage(FILE *out) {
  fputs("Usage: lamfleet dlq list [--json]\n"
        "       lamfleet dlq replay [--json] [--dry-run] [--source TOPIC] "
        "--all | PARTITION:OFFSET...\n"
        "  replay produces each dead letter's original record (key and "
        "value)\n"
        "  to its source topic again; PARTITION:OFFSET is where `dlq list` "
        "shows it\n",
        out);
}

static void print(const lf_event_t *ev, int json) {
  const lf_dead_letter_t *d = (const lf_dead_letter_t *)ev->pb;
  if (json) {
    lf_event_print_json(stdout, ev, -1);
    return;
  }
  char at[32] = "";
  time_t t = (time_t)(d->failed_at_ms / 1000);
  strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%S", gmtime(&t));
  char key[600], error[4200]; /* a forged key or error cannot drive the
                                 terminal */
  lf_text_clean(key, sizeof(key), (const char *)d->original_key.data,
                d->original_key.len);
  lf_text_clean(error, sizeof(error), d->error, strlen(d->error));
  printf("%d:%lld  %sZ  %s [%d] @%lld  key %s  from %s\n    %s\n",
         (int)ev->partition, (long long)ev->offset, at, d->source_topic,
         (int)d->partition, (long long)d->offset, key, d->worker, error);
}

/* The index of the PARTITION:OFFSET naming ev, or -1. */
static int named(const dlq_opts_t *o, const lf_event_t *ev) {
  char id[64];
  snprintf(id, sizeof(id), "%d:%lld", (int)ev->partition,
           (long long)ev->offset);
  for (int i = 0; i < o->nids; i++)
    if (!strcmp(o->ids[i], id))
      return i;
  return -1;
}

static int selected(dlq_opts_t *o, const lf_event_t *ev) {
  const lf_dead_letter_t *d = (const lf_dead_letter_t *)ev->pb;
  if (o->source && strcmp(o->source, d->source_topic))
    return 0;
  int i = named(o, ev);
  if (i >= 0)
    o->found[i] = 1;
  return o->all || i >= 0;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  (void)rk;
  (void)opaque;
  if (m->err) {
    fprintf(stderr, "lamfleet dlq replay: %s [%d]: %s\n",
            rd_kafka_topic_name(m->rkt), (int)m->partition,
            rd_kafka_err2str(m->err));
    (*(int *)m->_private)++;
  }
}

/* Puts d's original record back on its source topic. */
static int replay(rd_kafka_t *p, const char *prefix, const lf_event_t *ev,
                  int *failed) {
  const lf_dead_letter_t *d = (const lf_dead_letter_t *)ev->pb;
  int kind = lf_proto_topic_from_name(prefix, d->source_topic);
  if (kind < 0 || kind == LF_TOPIC_DLQ) {
    fprintf(stderr,
            "lamfleet dlq replay: %d:%lld: not replayed: its source topic "
            "\"%s\" is not one of the fleet's (prefix \"%s\")\n",
            (int)ev->partition, (long long)ev->offset, d->source_topic, prefix);
    return -1;
  }
  if (d->original_truncated) {
    fprintf(stderr,
            "lamfleet dlq replay: %d:%lld: not replayed: only %zu of its "
            "%llu bytes were kept (sha256 %s); produce the original again\n",
            (int)ev->partition, (long long)ev->offset, d->original.len,
            (unsigned long long)d->original_size, d->original_sha256);
    return -1;
  }
  char of[512];
  snprintf(of, sizeof(of), "%sdlq/%d/%lld", prefix, (int)ev->partition,
           (long long)ev->offset);
  rd_kafka_resp_err_t kerr = rd_kafka_producev(
      p, RD_KAFKA_V_TOPIC(d->source_topic),
      RD_KAFKA_V_KEY(d->original_key.data, d->original_key.len),
      RD_KAFKA_V_VALUE(d->original.data, d->original.len),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_HEADER(LF_HDR_TYPE,
                        lf_proto_topic_descriptor((lf_topic_t)kind)->name, -1),
      RD_KAFKA_V_HEADER(REPLAY_HDR, of, -1), RD_KAFKA_V_OPAQUE(failed),
      RD_KAFKA_V_END);
  if (kerr) {
    fprintf(stderr, "lamfleet dlq replay: produce to %s: %s\n", d->source_topic,
            rd_kafka_err2str(kerr));
    return -1;
  }
  return 0;
}

static void report(const dlq_opts_t *o, const lf_event_t *ev) {
  const lf_dead_letter_t *d = (const lf_dead_letter_t *)ev->pb;
  if (o->json)
    printf("{\"dlq_partition\":%d,\"dlq_offset\":%lld,\"topic\":\"%s\","
           "\"bytes\":%zu,\"replayed\":%s}\n",
           (int)ev->partition, (long long)ev->offset, d->source_topic,
           d->original.len, o->dry_run ? "false" : "true");
  else
    printf("%s %d:%lld -> %s (key %.*s, %zu bytes)\n",
           o->dry_run ? "would replay" : "replayed", (int)ev->partition,
           (long long)ev->offset, d->source_topic, (int)d->original_key.len,
           (const char *)d->original_key.data, d->original.len);
}

/* One walk over the dead letters held now. */
typedef struct walk {
  dlq_opts_t *o;
  const char *prefix;
  rd_kafka_t *p; /* replaying: the producer */
  int *failed;   /* replaying: deliveries that failed */
  size_t n, refused;
  lf_events_t listed; /* listing: all of them, to order */
} walk_t;

static int visit(void *ctx, lf_event_t *ev) {
  walk_t *w = ctx;
  if (!w->o->replaying)
    return lf_events_add(&w->listed, ev);
  if (!selected(w->o, ev))
    return 0;
  if (!w->o->dry_run && replay(w->p, w->prefix, ev, w->failed))
    w->refused++;
  else {
    report(w->o, ev);
    w->n++;
  }
  return 0;
}

/* Lists the dead letters held now (oldest first, across the dlq topic's
 * partitions), or replays the selected ones when p. */
static int walk(const lf_conf_t *conf, dlq_opts_t *o, rd_kafka_t *p,
                int *failed, size_t *n, size_t *refused) {
  static const lf_topic_t dlq[] = {LF_TOPIC_DLQ};
  char errstr[512];
  walk_t w = {o, lf_conf_get(conf, "topic.prefix"), p, failed, 0, 0, {0}};
  int rc = lf_follow_held_read(conf, dlq, 1, visit, &w, errstr, sizeof(errstr));
  if (rc)
    fprintf(stderr, "lamfleet dlq: %s\n", errstr);
  lf_events_sort(&w.listed);
  for (size_t i = 0; !rc && i < w.listed.n; i++)
    print(&w.listed.v[i], o->json);
  *n += w.n + w.listed.n;
  *refused += w.refused;
  lf_events_clear(&w.listed);
  return rc;
}

static int parse(int argc, char **argv, dlq_opts_t *o) {
  int replaying = o->replaying = !strcmp(argv[1], "replay");
  if (!replaying && strcmp(argv[1], "list"))
    return -1;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    long long off;
    int part, end = 0;
    if (!strcmp(a, "--json"))
      o->json = 1;
    else if (replaying && !strcmp(a, "--all"))
      o->all = 1;
    else if (replaying && !strcmp(a, "--dry-run"))
      o->dry_run = 1;
    else if (replaying && !strcmp(a, "--source") && i + 1 < argc)
      o->source = argv[++i];
    else if (replaying && sscanf(a, "%d:%lld%n", &part, &off, &end) == 2 &&
             !a[end] && part >= 0 && off >= 0)
      o->ids[o->nids++] = argv[i];
    else {
      fprintf(stderr, "lamfleet dlq: unexpected \"%s\"\n", a);
      return -1;
    }
  }
  if (replaying && !o->all == !o->nids) {
    fputs("lamfleet dlq replay: say which: --all or PARTITION:OFFSET...\n",
          stderr);
    return -1;
  }
  return replaying;
}

static int cmd_replay(const lf_conf_t *conf, dlq_opts_t *o) {
  char errstr[512];
  int failed = 0, rc = LF_EXIT_ERROR;
  size_t n = 0, refused = 0;
  rd_kafka_t *p = NULL;
  if (!o->dry_run &&
      !(p = lf_cli_producer_new(conf, "lamfleet-cli-replay", on_delivery,
                                errstr, sizeof(errstr)))) {
    fprintf(stderr, "lamfleet dlq replay: %s\n", errstr);
    return LF_EXIT_ERROR;
  }
  if (walk(conf, o, p, &failed, &n, &refused))
    goto done;
  if (p && rd_kafka_flush(p, 30000)) {
    fputs("lamfleet dlq replay: not every record was acknowledged within "
          "30 s\n",
          stderr);
    goto done;
  }
  for (int i = 0; i < o->nids; i++)
    if (!o->found[i]) {
      fprintf(stderr, "lamfleet dlq replay: no dead letter at %s%s\n",
              o->ids[i], o->source ? " from that source" : "");
      refused++;
    }
  fprintf(stderr, "%zu dead letter%s %s", n, n == 1 ? "" : "s",
          o->dry_run ? "would be replayed" : "replayed");
  fprintf(stderr, refused || failed ? ", %zu not\n" : "\n",
          refused + (size_t)failed);
  rc = refused || failed ? LF_EXIT_ERROR : LF_EXIT_OK;
done:
  if (p)
    rd_kafka_destroy(p);
  return rc;
}

int lf_cmd_dlq(lf_conf_t *conf, int argc, char **argv) {
  dlq_opts_t o = {0};
  int mode = -1, rc = LF_EXIT_USAGE;
  if (argc >= 2 && (!(o.ids = calloc((size_t)argc, sizeof(*o.ids))) ||
                    !(o.found = calloc((size_t)argc, sizeof(*o.found))))) {
    fputs("lamfleet dlq: out of memory\n", stderr);
    rc = LF_EXIT_ERROR;
    goto done;
  }
  if (argc < 2 || (mode = parse(argc, argv, &o)) < 0) {
    usage(stderr);
    goto done;
  }
  if (mode == 1) {
    rc = cmd_replay(conf, &o);
    goto done;
  }
  size_t n = 0, unused = 0;
  rc = walk(conf, &o, NULL, NULL, &n, &unused) ? LF_EXIT_ERROR : LF_EXIT_OK;
  if (!rc && !o.json)
    fprintf(stderr, "%zu dead letter%s\n", n, n == 1 ? "" : "s");
done:
  free(o.ids);
  free(o.found);
  return rc;
}
