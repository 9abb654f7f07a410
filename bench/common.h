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
typedef enum { RELAY_RAW, RELAY_REDIS, RELAY_STRICT } relay_mode_t;
/* The same, plus a pipelined Redis SET NX per record (RELAY_REDIS), plus
 * acks awaited and offsets committed per batch of 256 (RELAY_STRICT). */
double relay_mode(lf_conf_t *conf, lf_mock_t *mock, long n, relay_mode_t mode);

/* The three relays of one run, records per second. */
typedef struct bench_baselines {
  double raw, redis, strict;
} bench_baselines_t;
/* The embedded stack with the workers of mask, then the three relays of n
 * records each, printed. */
lf_stack_t *bench_stack_baselines(lf_conf_t *conf, unsigned workers, long n,
                                  bench_baselines_t *b);

/* The embedded stack with the workers of mask, then the relay of n
 * records on its cluster, printed; its rate in *relay_rate. */
lf_stack_t *bench_stack(lf_conf_t *conf, unsigned workers, long n,
                        double *relay_rate);

/* One hop with the workers' settings: n records of 200 B produced one at a
 * time, each consumed before the next: p50 and p99 in ms (fractions). */
void bench_hop(lf_conf_t *conf, lf_mock_t *mock, int n, double *p50,
               double *p99);

/* CPU time so far, in microseconds, of this process's threads named comm
 * (a worker's thread is named after its kind: "guard"); 0 if none. */
uint64_t bench_thread_cpu_us(const char *comm);

/* CPU time so far, in microseconds, of process pid's main thread. */
uint64_t bench_process_cpu_us(int pid);

/* Starts argv[0] with argv (killed if the bench dies); exits on failure. */
int bench_spawn(const char *const *argv);
/* Stops a child started by bench_spawn (SIGTERM, then waits). */
void bench_stop_child(int pid);
/* A TCP port on loopback nobody listens on now. */
int bench_free_port(void);
/* Whether GET url answers 200. */
int bench_http_ok(const char *url);
/* Commits group's offsets of topic's first partitions at their ends. */
void bench_commit_end(const lf_conf_t *conf, const char *group,
                      const char *topic, int partitions);
/* The sum of topic's high watermarks over its first partitions. */
int64_t bench_topic_end(rd_kafka_t *rk, const char *topic, int partitions);

/* A benchmark's numeric flag: "--name N". */
typedef struct bench_opt {
  const char *name;
  long *value;
} bench_opt_t;

/* The configuration every benchmark starts from (log.level=error, then
 * -c/-X/-b as for every lamfleet program), and its --name N flags, all
 * positive. Prints usage and exits 2 on a bad flag; exits 0 after -X list. */
lf_conf_t *bench_setup(int argc, char **argv, const bench_opt_t *opts,
                       size_t nopts, const char *usage);

#endif
