/* lamfleet goal submit --file FILE|-: goals one per line (text, or a JSON
 * object {"text", "tenant", "max_steps", "key"}), or a JSON file (one
 * goal object or an array of them), produced without waiting for each
 * acknowledgement (thousands per second), with a progress line on a
 * terminal. A line that is not a goal is reported by number and skipped;
 * every goal produced is acknowledged before the command returns. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kafka.h"

typedef struct bulk {
  rd_kafka_t *p;
  const lf_conf_t *conf;
  const lf_goal_defaults_t *d;
  char topic[256];
  int json;
  unsigned long long sent, acked, failed, bad;
  char first_error[256];
  int64_t t0, shown;
} bulk_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  bulk_t *b = m->_private;
  (void)rk;
  (void)opaque;
  if (!b)
    return;
  if (!m->err)
    b->acked++;
  else if (!b->failed++)
    snprintf(b->first_error, sizeof(b->first_error), "%s",
             rd_kafka_err2str(m->err));
}

static void progress(bulk_t *b, int last) {
  int64_t now = lf_monotonic_ms();
  if (!isatty(STDERR_FILENO) || (!last && now - b->shown < 250))
    return;
  b->shown = now;
  double s = (double)(now - b->t0) / 1000.0;
  fprintf(stderr, "\r%llu goals submitted, %llu acknowledged (%.0f/s)%s",
          b->sent, b->acked, s > 0 ? (double)b->acked / s : 0.0,
          last ? "\n" : "");
}

static void print_id(const bulk_t *b, const lf_goal_t *g) {
  if (!b->json) {
    printf("%s\n", g->goal_id);
    return;
  }
  json_t *o = json_pack("{s:s,s:s,s:s}", "goal_id", g->goal_id, "tenant",
                        g->tenant, "text", g->text);
  char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
  if (s)
    printf("%s\n", s);
  free(s);
  json_decref(o);
}

/* One goal: produced (waiting for room when librdkafka's queue is full). */
static lf_err_t send_goal(bulk_t *b, const char *text, const char *tenant,
                          long max_steps, const char *key) {
  char id[LF_UUID_LEN + 1], errstr[512];
  lf_goal_t g = LF_GOAL_INIT;
  lf_uuid(id);
  g.goal_id = id;
  g.tenant = (char *)tenant;
  g.text = (char *)text;
  g.max_steps = (uint32_t)max_steps;
  g.created_at_ms = lf_now_ms();
  lf_err_t err;
  while ((err = lf_kafka_produce(b->p, b->topic, key ? key : id, &g.base, NULL,
                                 0, b, errstr, sizeof(errstr))) &&
         strstr(errstr, "full"))
    rd_kafka_poll(b->p, 10);
  if (err) {
    fflush(stdout);
    fprintf(stderr, "\nlamfleet goal submit: %s\n", errstr);
    return err;
  }
  b->sent++;
  print_id(b, &g);
  rd_kafka_poll(b->p, 0);
  progress(b, 0);
  return LF_OK;
}

/* A goal written as JSON; 0, or -1 with why. */
static int from_json(bulk_t *b, const json_t *o, char *why, size_t size) {
  const char *text = json_string_value(json_object_get(o, "text"));
  const json_t *t = json_object_get(o, "tenant"),
               *m = json_object_get(o, "max_steps"),
               *k = json_object_get(o, "key");
  if (!json_is_object(o) || !text || !*text) {
    snprintf(why, size, "expected {\"text\": \"...\"} with a non-empty text");
    return -1;
  }
  if ((t && !json_is_string(t)) || (k && !json_is_string(k)) ||
      (m && (!json_is_integer(m) || json_integer_value(m) < 0))) {
    snprintf(why, size,
             "tenant and key are strings, max_steps a "
             "non-negative integer");
    return -1;
  }
  return send_goal(b, text, t ? json_string_value(t) : b->d->tenant,
                   m ? (long)json_integer_value(m) : b->d->max_steps,
                   k ? json_string_value(k) : b->d->key)
             ? -2
             : 0;
}

/* Line by line: text, or a JSON object. */
static int from_lines(bulk_t *b, FILE *in, const char *name) {
  char *line = NULL, why[256];
  size_t cap = 0;
  ssize_t len;
  for (unsigned long n = 1; (len = getline(&line, &cap, in)) >= 0; n++) {
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (!len)
      continue;
    int r;
    if (line[0] == '{') {
      json_error_t jerr;
      json_t *o = json_loads(line, 0, &jerr);
      if (!o)
        snprintf(why, sizeof(why), "%s", jerr.text);
      r = o ? from_json(b, o, why, sizeof(why)) : -1;
      json_decref(o);
    } else {
      r = send_goal(b, line, b->d->tenant, b->d->max_steps, b->d->key) ? -2 : 0;
    }
    if (r == -2)
      break;
    if (r) {
      b->bad++;
      fflush(stdout); /* whole lines on either stream */
      fprintf(stderr, "%slamfleet goal submit: %s:%lu: %s (skipped)\n",
              isatty(STDERR_FILENO) ? "\n" : "", name, n, why);
    }
  }
  free(line);
  return ferror(in) ? -1 : 0;
}

/* A JSON document: one goal, or an array of them. */
static void from_document(bulk_t *b, const json_t *doc, const char *name) {
  char why[256];
  size_t n = json_is_array(doc) ? json_array_size(doc) : 1;
  for (size_t i = 0; i < n; i++) {
    const json_t *o = json_is_array(doc) ? json_array_get(doc, i) : doc;
    int r = from_json(b, o, why, sizeof(why));
    if (r == -2)
      return;
    if (r) {
      b->bad++;
      fflush(stdout);
      fprintf(stderr, "lamfleet goal submit: %s: goal %zu: %s (skipped)\n",
              name, i, why);
    }
  }
}

int lf_goal_submit_file(const lf_conf_t *conf, const char *path,
                        const lf_goal_defaults_t *d, int json) {
  char errstr[512];
  bulk_t b = {.conf = conf, .d = d, .json = json};
  int is_stdin = !strcmp(path, "-");
  FILE *in = is_stdin ? stdin : fopen(path, "r");
  if (!in) {
    fprintf(stderr, "lamfleet goal submit: %s: %s\n", path, strerror(errno));
    return LF_EXIT_USAGE;
  }
  b.p = lf_goal_producer_new(conf, "lamfleet-cli", on_delivery, errstr,
                             sizeof(errstr));
  if (!b.p) {
    fprintf(stderr, "lamfleet goal submit: %s\n", errstr);
    if (!is_stdin)
      fclose(in);
    return LF_EXIT_ERROR;
  }
  lf_kafka_topic_name(conf, LF_TOPIC_GOALS, b.topic, sizeof(b.topic));
  b.t0 = lf_monotonic_ms();
  /* A file that is one JSON document is a goal or an array of goals. */
  json_t *doc = is_stdin ? NULL : json_loadf(in, 0, NULL);
  int rerr = 0;
  if (doc)
    from_document(&b, doc, path);
  else {
    if (!is_stdin)
      rewind(in);
    rerr = from_lines(&b, in, is_stdin ? "stdin" : path);
  }
  json_decref(doc);
  while (b.acked + b.failed < b.sent && rd_kafka_flush(b.p, 250))
    progress(&b, 0);
  progress(&b, 1);
  if (!is_stdin)
    fclose(in);
  rd_kafka_destroy(b.p);
  fflush(stdout);
  if (rerr)
    fprintf(stderr, "lamfleet goal submit: reading %s failed\n", path);
  if (b.failed || b.acked < b.sent) {
    fprintf(stderr,
            "lamfleet goal submit: %llu of %llu goals not acknowledged%s%s\n",
            b.sent - b.acked, b.sent, b.failed ? ": " : "", b.first_error);
    return LF_EXIT_ERROR;
  }
  return b.bad || rerr ? LF_EXIT_USAGE : LF_EXIT_OK;
}
