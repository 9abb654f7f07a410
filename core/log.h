/* One line per event on stderr, as text or JSON (log.format=json). */
#ifndef LF_LOG_H
#define LF_LOG_H

#include "config.h"

typedef enum lf_log_level {
  LF_LOG_DEBUG = 0,
  LF_LOG_INFO,
  LF_LOG_WARN,
  LF_LOG_ERROR,
} lf_log_level_t;

/* Applies log.level and log.format; process-wide. */
void lf_log_configure(const lf_conf_t *conf);
void lf_log_set_level(lf_log_level_t level);
int lf_log_enabled(lf_log_level_t level);

/* who: the component or worker id emitting the event. */
void lf_log(lf_log_level_t level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define lf_debug(who, ...) lf_log(LF_LOG_DEBUG, who, __VA_ARGS__)
#define lf_info(who, ...) lf_log(LF_LOG_INFO, who, __VA_ARGS__)
#define lf_warn(who, ...) lf_log(LF_LOG_WARN, who, __VA_ARGS__)
#define lf_error(who, ...) lf_log(LF_LOG_ERROR, who, __VA_ARGS__)

/* librdkafka's syslog level (0..7) mapped onto lamfleet's. */
lf_log_level_t lf_log_level_from_syslog(int level);

#endif
