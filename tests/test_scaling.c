/* Scaling the guard: three lamfleet-guard processes in one group share
 * the 6 partitions; one is stopped (SIGTERM), the others take its
 * partitions over, and every action is decided exactly once. */
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"
#include "util.h"

#define GUARDS 3

/* A port nobody listens on now. */
static unsigned free_port(void) {
  struct sockaddr_in a = {.sin_family = AF_INET};
  socklen_t len = sizeof(a);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(s, 0);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
  ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
  close(s);
  return ntohs(a.sin_port);
}

static pid_t spawn_guard(lf_test_env_t *env, unsigned port) {
  char metrics[64];
  snprintf(metrics, sizeof(metrics), "metrics.port=%u", port);
  const char *const settings[] = {metrics, NULL};
  return lf_test_spawn(env, LF_GUARD_PATH, settings);
}

static size_t sink(char *p, size_t size, size_t n, void *opaque) {
  char *buf = opaque;
  size_t have = strlen(buf), len = size * n;
  size_t room = 65535 - have;
  memcpy(buf + have, p, len < room ? len : room);
  buf[have + (len < room ? len : room)] = '\0';
  return len;
}

/* GET http://127.0.0.1:port/path: the status, the body in buf (64 KiB). */
static long get(unsigned port, const char *path, char *buf) {
  char url[128];
  long status = 0;
  buf[0] = '\0';
  snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
  CURL *c = curl_easy_init();
  ck_assert_ptr_nonnull(c);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, buf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  return status;
}

/* The partitions a guard process says it owns, from its /metrics. */
static int assigned(unsigned port) {
  static char buf[65536];
  if (get(port, "/metrics", buf) != 200)
    return -1;
  const char *at = strstr(buf, "lamfleet_assigned_partitions{");
  at = at ? strchr(at, '}') : NULL;
  return at ? atoi(at + 2) : -1;
}

static void propose(lf_test_env_t *env, int from, int to) {
  char goal[64], args[64];
  for (int i = from; i < to; i++) {
    snprintf(goal, sizeof(goal), "scale-%04d", i);
    snprintf(args, sizeof(args), "{\"message\":\"hi %d\"}", i);
    lf_test_propose(env, "acme", goal, "echo", args);
  }
}

static int from_test(const lf_test_record_t *r, void *opaque) {
  (void)opaque;
  return !strncmp(r->key, "scale-", 6);
}

START_TEST(guards_share_and_take_over_partitions) {
  lf_test_env_t env;
  char buf[65536];
  unsigned ports[GUARDS];
  pid_t pids[GUARDS];
  lf_test_env_start(&env, 0);
  for (int i = 0; i < GUARDS; i++)
    pids[i] = spawn_guard(&env, ports[i] = free_port());

  /* ready once each owns partitions of its 2 topics x 6 */
  int total = 0;
  for (int t = 0; t < 600 && total != 12; t++) {
    usleep(100000);
    total = 0;
    for (int i = 0; i < GUARDS; i++) {
      int n = assigned(ports[i]);
      total += n > 0 && get(ports[i], "/readyz", buf) == 200 ? n : -100;
    }
  }
  ck_assert_msg(total == 12, "the guards own %d of 12 partitions", total);

  propose(&env, 0, 300);
  lf_test_records_t r =
      lf_test_read(&env, LF_TOPIC_APPROVED, 300, 30000, from_test, NULL);
  ck_assert_uint_eq(r.n, 300);
  lf_test_records_free(&r);

  /* one leaves; the other two share its partitions */
  int status = 0;
  kill(pids[0], SIGTERM);
  ck_assert_int_eq(waitpid(pids[0], &status, 0), pids[0]);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  total = 0;
  for (int t = 0; t < 600 && total != 12; t++) {
    usleep(100000);
    total = assigned(ports[1]) + assigned(ports[2]);
  }
  ck_assert_msg(total == 12, "two guards own %d of 12 partitions", total);

  propose(&env, 300, 600);
  r = lf_test_read(&env, LF_TOPIC_APPROVED, 700, 10000, from_test, NULL);
  ck_assert_uint_eq(r.n, 600); /* every one approved, none twice */
  for (size_t i = 1; i < r.n; i++)
    for (size_t k = 0; k < i; k++)
      ck_assert_str_ne(r.v[i].key, r.v[k].key);
  lf_test_records_free(&r);
  lf_test_records_t obs =
      lf_test_read(&env, LF_TOPIC_OBSERVATIONS, 1, 1000, from_test, NULL);
  ck_assert_uint_eq(obs.n, 0); /* no duplicate, no rejection */
  lf_test_records_free(&obs);

  for (int i = 1; i < GUARDS; i++) {
    kill(pids[i], SIGTERM);
    ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
  }
  lf_test_env_stop(&env);
}
END_TEST

int main(void) {
  Suite *s = suite_create("scaling");
  TCase *tc = tcase_create("scaling");
  tcase_set_timeout(tc, 240);
  tcase_add_test(tc, guards_share_and_take_over_partitions);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
