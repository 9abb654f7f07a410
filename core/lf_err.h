/* Error codes shared by every lamfleet subsystem: 0 is success, and every
 * call that can fail also fills a caller-provided errstr buffer. */
#ifndef LF_ERR_H
#define LF_ERR_H

typedef enum lf_err {
  LF_OK = 0,
  LF_ERR_INVALID,     /* bad argument, configuration or input */
  LF_ERR_NOENT,       /* no such key, file or record */
  LF_ERR_NOMEM,       /* allocation failed */
  LF_ERR_IO,          /* file or process error */
  LF_ERR_KAFKA,       /* Kafka client or broker error */
  LF_ERR_REDIS_CONN,  /* Redis connection lost or unreachable: retry later */
  LF_ERR_REDIS_REPLY, /* Redis answered with an error reply */
  LF_ERR_TIMEOUT,
  LF_ERR_DONE,   /* nothing more to do (e.g. `-X list` printed) */
  LF_ERR_RECORD, /* the record itself cannot be handled (invalid, too large):
                    it goes to the dead-letter topic, the rest go on */
} lf_err_t;

const char *lf_err_str(lf_err_t err);

/* Whether err is a fault of the infrastructure (brokers, Redis), which a
 * retry of the same records may get past. Any other failure is the
 * record's own, and retrying it would block the records behind it. */
int lf_err_is_infra(lf_err_t err);

#endif
