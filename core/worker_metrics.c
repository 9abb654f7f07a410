/* A worker's histograms, gauges and consumer lag (read by core/metrics.c). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker_impl.h"

const double lf_hist_bounds[LF_HIST_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5,   1,      2.5,   5,    10,    30,   60};

/* The entry called name of a table of entries of size bytes whose first
 * member is their name, added when missing (NULL when full). Lookups are
 * lock-free: an entry is complete before the count covers it. */
void *lf_worker_find(const void *table, size_t size, const atomic_int *count,
                     const char *name) {
  const char *base = table;
  int n = atomic_load(count);
  for (int i = 0; i < n; i++)
    if (!strcmp(*(const char *const *)(base + (size_t)i * size), name))
      return (void *)(base + (size_t)i * size);
  return NULL;
}

void *lf_worker_entry(lf_worker_t *w, void *table, size_t size,
                      atomic_int *count, int max, const char *name) {
  void *found = lf_worker_find(table, size, count, name);
  if (found)
    return found;
  /* Adding is rare (a name's first use) and under the lock, so readers
   * never see a half-made entry: the count grows after the name is set. */
  pthread_mutex_lock(&w->counters_lock);
  int n = atomic_load(count);
  if (!(found = lf_worker_find(table, size, count, name)) && n < max) {
    found = (char *)table + (size_t)n * size;
    *(const char **)found = name;
    atomic_store(count, n + 1);
  }
  pthread_mutex_unlock(&w->counters_lock);
  return found;
}

void lf_worker_observe(lf_worker_t *w, const char *name, double seconds,
                       uint64_t n) {
  histogram_t *h = lf_worker_entry(w, w->hists, sizeof(*h), &w->nhists,
                                   MAX_HISTOGRAMS, name);
  if (!h || !n)
    return;
  int b = 0;
  while (b < LF_HIST_BUCKETS && seconds > lf_hist_bounds[b])
    b++;
  atomic_fetch_add(&h->buckets[b], n);
  atomic_fetch_add(&h->count, n);
  atomic_fetch_add(&h->sum_us, (uint64_t)(seconds > 0 ? seconds * 1e6 : 0) * n);
}

void lf_worker_gauge(lf_worker_t *w, const char *name, int64_t value) {
  gauge_t *g =
      lf_worker_entry(w, w->gauges, sizeof(*g), &w->ngauges, MAX_GAUGES, name);
  if (g)
    atomic_store(&g->value, value);
}

int lf_worker_topic_index(const lf_worker_t *w, const char *name) {
  for (int t = 0; t < LF_TOPIC__CNT; t++)
    if (!strcmp(w->topics[t], name))
      return t;
  return -1;
}

/* The lag of the partitions this worker fetches, from the statistics'
 * topics.<t>.partitions.<p>.consumer_lag (-1 until known). */
void lf_worker_on_stats(void *arg, const char *json, size_t len) {
  lf_worker_t *w = arg;
  json_t *stats = json_loadb(json, len, 0, NULL), *topic, *part;
  const char *tname, *pname;
  lag_t lags[MAX_LAGS];
  int n = 0;
  json_object_foreach(json_object_get(stats, "topics"), tname, topic) {
    int t = lf_worker_topic_index(w, tname);
    if (t < 0)
      continue;
    json_object_foreach(json_object_get(topic, "partitions"), pname, part) {
      json_t *lag = json_object_get(part, "consumer_lag");
      const char *state =
          json_string_value(json_object_get(part, "fetch_state"));
      if (n < MAX_LAGS && json_is_integer(lag) && atoi(pname) >= 0 &&
          json_integer_value(lag) >= 0 && state && strcmp(state, "none"))
        lags[n++] = (lag_t){t, atoi(pname), json_integer_value(lag)};
    }
  }
  json_decref(stats);
  pthread_mutex_lock(&w->lag_lock);
  memcpy(w->lags, lags, (size_t)n * sizeof(*lags));
  w->nlags = n;
  pthread_mutex_unlock(&w->lag_lock);
}
