/* The benchmarks' downstream: the scripted OpenAI-compatible server of the
 * tests, as a tiny agent answering every POST after a delay, run in a child
 * process so that the benchmark's own memory and CPU figures are the
 * workers'. */
#ifndef LF_BENCH_SERVER_H
#define LF_BENCH_SERVER_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "config.h"

typedef struct server { /* the child and the pipes to talk to it */
  pid_t pid;
  FILE *to, *from;
  char url[128];
} server_t;

/* Starts the child: answers after delay ms; `rounds` tool calls a goal. */
void server_start(server_t *sv, int delay, int rounds);
/* "p": requests waiting now; "q": total requests (and, in *second, the
 * most waiting at once), then the child exits. */
long server_ask(server_t *sv, const char *cmd, long *second);

/* At most every 20 ms (*next_ms): asks how many requests wait now; 1 when
 * that is a new *peak. */
int server_sample(server_t *sv, int64_t *next_ms, long *peak);

/* Sets a property or dies. */
void set(lf_conf_t *conf, const char *key, const char *value);

#endif
