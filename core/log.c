#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lf_text.h"

static atomic_int min_level = LF_LOG_INFO;
static atomic_int json_format = 0;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void lf_log_set_level(lf_log_level_t level) {
  atomic_store(&min_level, level);
}

int lf_log_enabled(lf_log_level_t level) {
  return (int)level >= atomic_load(&min_level);
}

void lf_log_configure(const lf_conf_t *conf) {
  const char *lvl = lf_conf_get(conf, "log.level");
  for (int i = 0; i < 4; i++)
    if (!strcmp(lvl, level_names[i]))
      lf_log_set_level((lf_log_level_t)i);
  atomic_store(&json_format, !strcmp(lf_conf_get(conf, "log.format"), "json"));
}

lf_log_level_t lf_log_level_from_syslog(int level) {
  if (level <= 3)
    return LF_LOG_ERROR;
  if (level == 4)
    return LF_LOG_WARN;
  if (level <= 6)
    return LF_LOG_INFO;
  return LF_LOG_DEBUG;
}

static void timestamp(char *buf, size_t size) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void lf_log(lf_log_level_t level, const char *who, const char *fmt, ...) {
  if (!lf_log_enabled(level))
    return;
  char raw[2048], msg[2048], ts[40];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(raw, sizeof(raw), fmt, ap);
  va_end(ap);
  /* Messages quote records: one line each, valid UTF-8, whatever they
   * hold (a forged CR/LF or escape sequence cannot fake a log line). */
  lf_text_clean(msg, sizeof(msg), raw, strlen(raw));
  timestamp(ts, sizeof(ts));
  if (atomic_load(&json_format)) {
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level],
                  "who", who ? who : "lamfleet", "msg", msg);
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (line)
      fprintf(stderr, "%s\n", line);
    else /* memory ran out: keep the event */
      fprintf(stderr,
              "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"(unencodable)\"}\n",
              ts, level_names[level]);
    free(line);
    json_decref(o);
    return;
  }
  fprintf(stderr, "%s %-5s %s: %s\n", ts, level_names[level],
          who ? who : "lamfleet", msg);
}
