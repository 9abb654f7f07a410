#ifndef LF_BENCH_COMMON_H
#define LF_BENCH_COMMON_H

#include "kafka.h"
#include "stack.h"

extern char errstr[1024];

/* Prints what failed (with errstr) and exits 1. */
void die(const char *what);
rd_kafka_t *producer(const lf_conf_t *conf);
/* n records of 200 bytes to topic. */
void fill(const lf_conf_t *conf, const char *topic, long n);
/* Consumes n records from bench.in, produces each to bench.out, until all
 * are acknowledged: records per second. */
double relay(lf_conf_t *conf, lf_mock_t *mock, long n);

#endif
