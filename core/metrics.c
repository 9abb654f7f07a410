#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_proto.h"
#include "redis.h"
#include "worker_impl.h"

/* The worker counters Prometheus knows by another name or with labels.
 * A NULL family leaves the counter out (a sum shown through its parts);
 * counters not listed become lamfleet_<name>_total. */
static const struct known {
  const char *counter, *family, *labels, *help;
} known[] = {
    {"records_consumed", NULL, NULL, NULL},
    {"records_produced", NULL, NULL, NULL},
    {"rejected", NULL, NULL, NULL},
    {"executions", NULL, NULL, NULL},
    {"max_poll_gap_ms", NULL, NULL, NULL},
    {"approved", "lamfleet_verdicts_total", "decision=\"approved\"",
     "Guard verdicts by decision (and reason code of rejections)."},
    {"held_for_approval", "lamfleet_verdicts_total",
     "decision=\"needs_approval\"", NULL},
    {"duplicates", "lamfleet_verdicts_total", "decision=\"duplicate\"", NULL},
    {"shadow_would_reject", "lamfleet_shadow_verdicts_total",
     "decision=\"rejected\"",
     "Verdicts a guard in shadow mode would have given (nothing enforced)."},
    {"shadow_would_hold", "lamfleet_shadow_verdicts_total",
     "decision=\"needs_approval\"", NULL},
    {"executions_succeeded", "lamfleet_executions_total",
     "status=\"succeeded\"", "Actions carried out, by outcome."},
    {"executions_failed", "lamfleet_executions_total", "status=\"failed\"",
     NULL},
    {"rebalances_assigned", "lamfleet_rebalances_total", "type=\"assigned\"",
     "Consumer group rebalances this worker took part in."},
    {"rebalances_revoked", "lamfleet_rebalances_total", "type=\"revoked\"",
     NULL},
    {"dead_letters", "lamfleet_dead_letters_total", "",
     "Records sent to the dead-letter topic, each with its reason."},
    {"llm_calls", "lamfleet_llm_calls_total", "", "Model calls made."},
    {"llm_tokens", "lamfleet_llm_tokens_total", "",
     "Tokens the model reported used."},
    {"approvals_refused", "lamfleet_approvals_refused_total", "",
     "Approvals the executor refused to run (forged, altered, expired, "
     "unknown action): security events."},
    {"decisions_refused_no_approvers", "lamfleet_decisions_refused_total",
     "reason=\"no_approvers\"",
     "Human decisions the guard refused (unsigned, unknown approver, bad "
     "signature, wrong digest, approver not allowed): security events."},
    {"decisions_refused_decision_unsigned", "lamfleet_decisions_refused_total",
     "reason=\"decision_unsigned\"", NULL},
    {"decisions_refused_unknown_approver", "lamfleet_decisions_refused_total",
     "reason=\"unknown_approver\"", NULL},
    {"decisions_refused_bad_signature", "lamfleet_decisions_refused_total",
     "reason=\"bad_signature\"", NULL},
    {"decisions_refused_wrong_digest", "lamfleet_decisions_refused_total",
     "reason=\"wrong_digest\"", NULL},
    {"decisions_refused_approver_not_allowed",
     "lamfleet_decisions_refused_total", "reason=\"approver_not_allowed\"",
     NULL},
    {"decisions_refused", NULL, NULL, NULL},
};

/* Gauges and histograms (by family) with a word for the reader. */
static const struct help {
  const char *family, *help;
} helps[] = {
    {"lamfleet_handling_seconds",
     "Time from fetching a record to committing it, per record."},
    {"lamfleet_record_wait_seconds",
     "How long a record waited in Kafka before a worker took it."},
    {"lamfleet_llm_call_seconds",
     "Model calls from start to answer, retries included."},
    {"lamfleet_llm_calls_in_flight", "Model calls in flight in this planner."},
    {"lamfleet_actions_in_flight",
     "Actions in flight in this executor (running here, or waited for)."},
    {"lamfleet_approvals_pending", "Actions waiting for a human."},
    {"lamfleet_approvals_oldest_age_seconds",
     "How long the oldest action waiting for a human has waited."},
};

static const char *default_help(const char *family, const char *type) {
  for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
    if (!strcmp(helps[i].family, family))
      return helps[i].help;
  return !strcmp(type, "counter") ? "Events a lamfleet worker counted."
         : !strcmp(type, "gauge") ? "A lamfleet worker's current value."
                                  : "Durations a lamfleet worker observed.";
}

typedef struct sample {
  char family[96];
  const char *type, *help;
  char labels[512];
  double value;
  const histogram_t *hist; /* histograms */
  size_t order;
} sample_t;

typedef struct out {
  char *s;
  size_t len, cap;
  int oom;
  sample_t *v;
  size_t n, ncap;
} out_t;

static void put(out_t *o, const char *fmt, ...) {
  va_list ap;
  for (int pass = 0; pass < 2 && !o->oom; pass++) {
    va_start(ap, fmt);
    int k = vsnprintf(o->s ? o->s + o->len : NULL, o->s ? o->cap - o->len : 0,
                      fmt, ap);
    va_end(ap);
    if (k < 0) {
      o->oom = 1;
      return;
    }
    if (o->s && o->len + (size_t)k < o->cap) {
      o->len += (size_t)k;
      return;
    }
    size_t cap = (o->cap + (size_t)k + 1) * 2;
    char *grown = realloc(o->s, cap);
    if (!grown)
      o->oom = 1;
    else
      o->s = grown, o->cap = cap;
  }
}

/* Label values escaped as the format wants: \\, \" and \n. */
static void escape(char *dst, size_t size, const char *src) {
  size_t k = 0;
  for (; *src && k + 3 < size; src++) {
    if (*src == '\\' || *src == '"' || *src == '\n')
      dst[k++] = '\\';
    dst[k++] = *src == '\n' ? 'n' : *src;
  }
  dst[k] = '\0';
}

static sample_t *add(out_t *o, const char *family, const char *type,
                     const char *help, const char *base, const char *extra) {
  if (o->n == o->ncap) {
    size_t cap = o->ncap ? o->ncap * 2 : 64;
    sample_t *grown = realloc(o->v, cap * sizeof(*grown));
    if (!grown) {
      o->oom = 1;
      return NULL;
    }
    o->v = grown;
    o->ncap = cap;
  }
  sample_t *s = &o->v[o->n];
  memset(s, 0, sizeof(*s));
  snprintf(s->family, sizeof(s->family), "%s", family);
  snprintf(s->labels, sizeof(s->labels), "%s%s%s", base,
           *base && extra && *extra ? "," : "", extra ? extra : "");
  s->type = type;
  s->help = help;
  s->order = o->n++;
  return s;
}

static const struct known *lookup(const char *counter) {
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (!strcmp(known[i].counter, counter))
      return &known[i];
  return NULL;
}

static void counters(out_t *o, lf_worker_t *w, const char *base) {
  int n = atomic_load(&w->ncounters);
  for (int i = 0; i < n; i++) {
    const char *name = w->counters[i].name;
    double v = (double)atomic_load(&w->counters[i].value);
    const struct known *k = lookup(name);
    char family[96], labels[128];
    sample_t *s;
    if (k && !k->family)
      continue;
    if (k) {
      s = add(o, k->family, "counter", k->help, base, k->labels);
    } else if (!strncmp(name, "rejected_", 9)) {
      snprintf(labels, sizeof(labels), "decision=\"rejected\",reason=\"%s\"",
               name + 9);
      s = add(o, "lamfleet_verdicts_total", "counter", NULL, base, labels);
    } else {
      snprintf(family, sizeof(family), "lamfleet_%s_total", name);
      s = add(o, family, "counter", NULL, base, NULL);
    }
    if (s)
      s->value = v;
  }
  sample_t *s = add(o, "lamfleet_max_poll_gap_seconds", "gauge",
                    "Longest time between two polls of the consumer so far "
                    "(past kafka.max.poll.interval.ms a worker leaves its "
                    "group).",
                    base, NULL);
  if (s)
    s->value = (double)lf_worker_counter(w, "max_poll_gap_ms") / 1000.0;
}

static void topics(out_t *o, lf_worker_t *w, const char *base) {
  char labels[400];
  for (int t = 0; t < LF_TOPIC__CNT; t++) {
    uint64_t c = atomic_load(&w->consumed[t]), p = atomic_load(&w->produced[t]);
    snprintf(labels, sizeof(labels), "topic=\"%s\"", w->topics[t]);
    sample_t *s;
    if (c && (s = add(o, "lamfleet_records_consumed_total", "counter",
                      "Records consumed, by topic.", base, labels)))
      s->value = (double)c;
    if (p &&
        (s = add(o, "lamfleet_records_produced_total", "counter",
                 "Records produced and acknowledged, by topic.", base, labels)))
      s->value = (double)p;
  }
  pthread_mutex_lock(&w->lag_lock);
  for (int i = 0; i < w->nlags; i++) {
    snprintf(labels, sizeof(labels), "topic=\"%s\",partition=\"%d\"",
             w->topics[w->lags[i].topic], (int)w->lags[i].partition);
    sample_t *s = add(o, "lamfleet_consumer_lag", "gauge",
                      "Records behind the end of each partition this worker "
                      "owns (librdkafka's statistics).",
                      base, labels);
    if (s)
      s->value = (double)w->lags[i].lag;
  }
  pthread_mutex_unlock(&w->lag_lock);
}

/* Gauges kept in milliseconds are shown in seconds. */
static void gauges(out_t *o, lf_worker_t *w, const char *base) {
  int n = atomic_load(&w->ngauges);
  char family[96];
  for (int i = 0; i < n; i++) {
    const char *name = w->gauges[i].name;
    size_t len = strlen(name);
    int ms = len > 3 && !strcmp(name + len - 3, "_ms");
    snprintf(family, sizeof(family), "lamfleet_%.*s%s",
             (int)(ms ? len - 3 : len), name, ms ? "_seconds" : "");
    sample_t *s = add(o, family, "gauge", NULL, base, NULL);
    if (s)
      s->value = (double)atomic_load(&w->gauges[i].value) / (ms ? 1000.0 : 1);
  }
  sample_t *s =
      add(o, "lamfleet_assigned_partitions", "gauge",
          "Partitions the consumer group gave this worker.", base, NULL);
  if (s)
    s->value = lf_worker_assigned(w);
}

static void histograms(out_t *o, lf_worker_t *w, const char *base) {
  int n = atomic_load(&w->nhists);
  char family[96];
  for (int i = 0; i < n; i++) {
    snprintf(family, sizeof(family), "lamfleet_%s", w->hists[i].name);
    sample_t *s = add(o, family, "histogram", NULL, base, NULL);
    if (s)
      s->hist = &w->hists[i];
  }
}

static void redis_errors(out_t *o) {
  uint64_t conn, reply;
  lf_redis_errors(&conn, &reply);
  static const char help[] = "Redis errors in this process: connections "
                             "lost or refused, and error replies.";
  sample_t *s = add(o, "lamfleet_redis_errors_total", "counter", help, "",
                    "type=\"connection\"");
  if (s)
    s->value = (double)conn;
  if ((s = add(o, "lamfleet_redis_errors_total", "counter", help, "",
               "type=\"reply\"")))
    s->value = (double)reply;
}

static int by_family(const void *a, const void *b) {
  const sample_t *x = a, *y = b;
  int c = strcmp(x->family, y->family);
  return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void emit_hist(out_t *o, const sample_t *s) {
  uint64_t cum = 0;
  for (int b = 0; b <= LF_HIST_BUCKETS; b++) {
    cum += atomic_load(&s->hist->buckets[b]);
    if (b < LF_HIST_BUCKETS)
      put(o, "%s_bucket{%s,le=\"%g\"} %llu\n", s->family, s->labels,
          lf_hist_bounds[b], (unsigned long long)cum);
    else
      put(o, "%s_bucket{%s,le=\"+Inf\"} %llu\n", s->family, s->labels,
          (unsigned long long)cum);
  }
  put(o, "%s_sum{%s} %.6f\n", s->family, s->labels,
      (double)atomic_load(&s->hist->sum_us) / 1e6);
  put(o, "%s_count{%s} %llu\n", s->family, s->labels, (unsigned long long)cum);
}

static void emit(out_t *o) {
  qsort(o->v, o->n, sizeof(*o->v), by_family);
  for (size_t i = 0; i < o->n; i++) {
    const sample_t *s = &o->v[i];
    if (!i || strcmp(o->v[i - 1].family, s->family)) {
      const char *help = NULL;
      for (size_t k = i; k < o->n && !help; k++)
        if (!strcmp(o->v[k].family, s->family))
          help = o->v[k].help;
      put(o, "# HELP %s %s\n# TYPE %s %s\n", s->family,
          help ? help : default_help(s->family, s->type), s->family, s->type);
    }
    if (s->hist)
      emit_hist(o, s);
    else
      put(o, "%s{%s} %.15g\n", s->family, s->labels, s->value);
  }
}

char *lf_metrics_render(lf_worker_t *const *ws, size_t n, size_t *len) {
  out_t o = {0};
  char kind[64], id[256], base[400];
  for (size_t i = 0; i < n; i++) {
    escape(kind, sizeof(kind), lf_worker_kind(ws[i]));
    escape(id, sizeof(id), lf_worker_id(ws[i]));
    snprintf(base, sizeof(base), "kind=\"%s\",worker=\"%s\"", kind, id);
    counters(&o, ws[i], base);
    topics(&o, ws[i], base);
    gauges(&o, ws[i], base);
    histograms(&o, ws[i], base);
  }
  redis_errors(&o);
  emit(&o);
  put(&o, "%s", "");
  free(o.v);
  if (o.oom) {
    free(o.s);
    return NULL;
  }
  *len = o.len;
  return o.s;
}
