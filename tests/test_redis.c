/* The Redis connection against a real redis-server: hiredis' two error
 * channels kept apart, pipelining, timeouts and reconnecting. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis.h"
#include "redis_server.h"
#include "redis_url.h"
#include "support.h"
#include "util.h"

static char errstr[512];

static lf_redis_t *connect_to(lf_redis_server_t *srv, const char *timeout_ms) {
  lf_conf_t *conf = lf_test_conf();
  ck_assert_int_eq(lf_conf_set(conf, "redis.url", lf_redis_server_url(srv),
                               errstr, sizeof(errstr)),
                   LF_OK);
  ck_assert_int_eq(
      lf_conf_set(conf, "redis.timeout.ms", timeout_ms, errstr, sizeof(errstr)),
      LF_OK);
  lf_redis_t *r = lf_redis_new(conf, errstr, sizeof(errstr));
  ck_assert_msg(r != NULL, "%s", errstr);
  lf_conf_destroy(conf);
  return r;
}

static lf_redis_server_t *start(int unix_socket) {
  lf_redis_server_t *srv = lf_redis_server_start("redis-server", unix_socket,
                                                 errstr, sizeof(errstr));
  ck_assert_msg(srv != NULL, "%s", errstr);
  return srv;
}

START_TEST(error_reply_is_not_a_dead_connection) {
  lf_redis_server_t *srv = start(1);
  lf_redis_t *r = connect_to(srv, "2000");
  redisReply *rep;
  ck_assert_int_eq(
      lf_redis_command(r, &rep, errstr, sizeof(errstr), "SET k %s", "text"),
      LF_OK);
  freeReplyObject(rep);
  ck_assert_int_eq(lf_redis_command(r, &rep, errstr, sizeof(errstr), "INCR k"),
                   LF_ERR_REDIS_REPLY);
  ck_assert_ptr_null(rep);
  ck_assert_msg(strstr(errstr, "not an integer"), "%s", errstr);
  /* the same connection still answers, in order, through a pipeline */
  ck_assert_int_eq(lf_redis_append(r, errstr, sizeof(errstr), "SET a 1"),
                   LF_OK);
  ck_assert_int_eq(lf_redis_append(r, errstr, sizeof(errstr), "INCR k"), LF_OK);
  ck_assert_int_eq(lf_redis_append(r, errstr, sizeof(errstr), "GET a"), LF_OK);
  ck_assert_int_eq(lf_redis_reply(r, &rep, errstr, sizeof(errstr)), LF_OK);
  freeReplyObject(rep);
  ck_assert_int_eq(lf_redis_reply(r, &rep, errstr, sizeof(errstr)),
                   LF_ERR_REDIS_REPLY);
  ck_assert_int_eq(lf_redis_reply(r, &rep, errstr, sizeof(errstr)), LF_OK);
  ck_assert_str_eq(rep->str, "1");
  freeReplyObject(rep);
  lf_redis_destroy(r);
  lf_redis_server_stop(srv);
}
END_TEST

START_TEST(dead_connection_then_reconnect) {
  lf_redis_server_t *srv = start(0);
  lf_redis_t *r = connect_to(srv, "2000");
  redisReply *rep;
  ck_assert_int_eq(lf_redis_command(r, &rep, errstr, sizeof(errstr), "PING"),
                   LF_OK);
  freeReplyObject(rep);
  lf_redis_server_kill(srv);
  ck_assert_int_eq(lf_redis_command(r, &rep, errstr, sizeof(errstr), "PING"),
                   LF_ERR_REDIS_CONN);
  ck_assert_msg(strstr(errstr, lf_redis_address(r)), "%s", errstr);
  /* still down: connecting fails cleanly, every time */
  ck_assert_int_eq(lf_redis_command(r, &rep, errstr, sizeof(errstr), "PING"),
                   LF_ERR_REDIS_CONN);
  ck_assert_int_eq(lf_redis_server_restart(srv, errstr, sizeof(errstr)), LF_OK);
  ck_assert_int_eq(lf_redis_command(r, &rep, errstr, sizeof(errstr), "PING"),
                   LF_OK);
  ck_assert_str_eq(rep->str, "PONG");
  freeReplyObject(rep);
  lf_redis_destroy(r);
  lf_redis_server_stop(srv);
}
END_TEST

START_TEST(hung_server_times_out) {
  lf_redis_server_t *srv = start(0);
  lf_redis_t *r = connect_to(srv, "200");
  redisReply *rep;
  ck_assert_int_eq(lf_redis_connect(r, errstr, sizeof(errstr)), LF_OK);
  kill(lf_redis_server_pid(srv), SIGSTOP);
  int64_t t0 = lf_monotonic_ms();
  ck_assert_int_eq(lf_redis_command(r, &rep, errstr, sizeof(errstr), "PING"),
                   LF_ERR_REDIS_CONN);
  int64_t took = lf_monotonic_ms() - t0;
  kill(lf_redis_server_pid(srv), SIGCONT);
  ck_assert_msg(took < 5000, "a hung server held the call %lld ms",
                (long long)took);
  ck_assert_int_eq(lf_redis_command(r, &rep, errstr, sizeof(errstr), "PING"),
                   LF_OK);
  freeReplyObject(rep);
  lf_redis_destroy(r);
  lf_redis_server_stop(srv);
}
END_TEST

static const char incr_script[] =
    "return redis.call('INCRBY', KEYS[1], ARGV[1])";

static long long script_reply(lf_redis_t *r) {
  redisReply *rep;
  ck_assert_msg(lf_redis_reply(r, &rep, errstr, sizeof(errstr)) == LF_OK, "%s",
                errstr);
  ck_assert_int_eq(rep->type, REDIS_REPLY_INTEGER);
  long long v = rep->integer;
  freeReplyObject(rep);
  return v;
}

static long long script_runs(lf_redis_server_t *srv) {
  lf_redis_t *probe = connect_to(srv, "2000");
  redisReply *rep;
  ck_assert_int_eq(lf_redis_command(probe, &rep, errstr, sizeof(errstr),
                                    "INFO commandstats"),
                   LF_OK);
  const char *at = strstr(rep->str, "cmdstat_evalsha:calls=");
  long long n = at ? strtoll(at + 22, NULL, 10) : 0;
  freeReplyObject(rep);
  lf_redis_destroy(probe);
  return n;
}

/* Scripts go by SHA, loaded once per connection inside the caller's
 * pipeline (its reply read past, the caller's replies in order), and
 * again after SCRIPT FLUSH: one call fails with NOSCRIPT, the next works. */
START_TEST(scripts_are_loaded_once_and_again_after_a_flush) {
  lf_redis_server_t *srv = start(0);
  lf_redis_t *r = connect_to(srv, "2000");
  redisReply *rep;
  ck_assert_int_eq(lf_redis_append(r, errstr, sizeof(errstr), "SET n 1"),
                   LF_OK);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(lf_redis_append_script(r, incr_script, errstr,
                                            sizeof(errstr), "1 n %d", 10),
                     LF_OK);
  ck_assert_int_eq(lf_redis_reply(r, &rep, errstr, sizeof(errstr)), LF_OK);
  ck_assert_str_eq(rep->str, "OK");
  freeReplyObject(rep);
  ck_assert_int_eq(script_reply(r), 11);
  ck_assert_int_eq(script_reply(r), 21);
  ck_assert_int_eq(script_reply(r), 31);
  ck_assert_int_eq(script_runs(srv), 3);

  ck_assert_int_eq(
      lf_redis_command(r, &rep, errstr, sizeof(errstr), "SCRIPT FLUSH"), LF_OK);
  freeReplyObject(rep);
  ck_assert_int_eq(lf_redis_append_script(r, incr_script, errstr,
                                          sizeof(errstr), "1 n %d", 1),
                   LF_OK);
  ck_assert_int_eq(lf_redis_reply(r, &rep, errstr, sizeof(errstr)),
                   LF_ERR_REDIS_REPLY);
  ck_assert_msg(strstr(errstr, "NOSCRIPT"), "%s", errstr);
  ck_assert_int_eq(lf_redis_append_script(r, incr_script, errstr,
                                          sizeof(errstr), "1 n %d", 1),
                   LF_OK);
  ck_assert_int_eq(script_reply(r), 32);
  lf_redis_destroy(r);
  lf_redis_server_stop(srv);
}
END_TEST

START_TEST(bad_urls_are_named) {
  const char *bad[] = {"http://x", "redis://", "redis://h:99999",
                       "redis://h:1/x", "unix://"};
  lf_conf_t *conf = lf_test_conf();
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ck_assert_int_eq(
        lf_conf_set(conf, "redis.url", bad[i], errstr, sizeof(errstr)), LF_OK);
    ck_assert_ptr_null(lf_redis_new(conf, errstr, sizeof(errstr)));
    ck_assert_msg(strstr(errstr, "redis.url") && strstr(errstr, bad[i]), "%s",
                  errstr);
  }
  lf_conf_destroy(conf);
}
END_TEST

START_TEST(urls_parse_as_libcurl_reads_them) {
  lf_redis_url_t u;
  ck_assert_int_eq(
      lf_redis_url_parse("redis://[::1]:7000/3", &u, errstr, sizeof(errstr)),
      LF_OK);
  ck_assert_str_eq(u.host, "::1");
  ck_assert_int_eq(u.port, 7000);
  ck_assert_int_eq(u.db, 3);
  ck_assert_int_eq(lf_redis_url_parse("rediss://fleet:p%40ss%3Aw0rd@h.example",
                                      &u, errstr, sizeof(errstr)),
                   LF_OK);
  ck_assert(u.tls);
  ck_assert_str_eq(u.user, "fleet");
  ck_assert_str_eq(u.password, "p@ss:w0rd");
  ck_assert_int_eq(u.port, 6379);
  ck_assert_int_eq(
      lf_redis_url_parse("redis://:only-pw@h", &u, errstr, sizeof(errstr)),
      LF_OK);
  ck_assert_str_eq(u.user, "");
  ck_assert_str_eq(u.password, "only-pw");
  /* errors name the URL with the password masked */
  ck_assert_int_ne(lf_redis_url_parse("redis://u:s3cr3t@h:99999", &u, errstr,
                                      sizeof(errstr)),
                   LF_OK);
  ck_assert_msg(strstr(errstr, "\"redis://u:***@h:99999\"") &&
                    !strstr(errstr, "s3cr3t"),
                "%s", errstr);
}
END_TEST

/* An ACL user whose password needs percent-encoding, on a real server. */
START_TEST(acl_users_authenticate) {
  lf_redis_server_t *srv = start(0);
  lf_redis_t *admin = connect_to(srv, "2000");
  redisReply *rep;
  ck_assert_int_eq(lf_redis_command(admin, &rep, errstr, sizeof(errstr),
                                    "ACL SETUSER fleet on >p@ss:w0rd ~* +@all"),
                   LF_OK);
  freeReplyObject(rep);
  ck_assert_int_eq(lf_redis_command(admin, &rep, errstr, sizeof(errstr),
                                    "ACL SETUSER default off"),
                   LF_OK);
  freeReplyObject(rep);
  int port = 0;
  ck_assert_int_eq(
      sscanf(lf_redis_server_url(srv), "redis://127.0.0.1:%d", &port), 1);
  const char *const tries[][2] = {
      {"redis://fleet:p%%40ss%%3Aw0rd@127.0.0.1:%d", "PONG"},
      {"redis://fleet:wrong@127.0.0.1:%d", NULL},
      {"redis://127.0.0.1:%d", NULL}};
  for (size_t i = 0; i < 3; i++) {
    char url[128];
    snprintf(url, sizeof(url), tries[i][0], port);
    lf_conf_t *conf = lf_test_conf();
    ck_assert_int_eq(
        lf_conf_set(conf, "redis.url", url, errstr, sizeof(errstr)), LF_OK);
    lf_redis_t *r = lf_redis_new(conf, errstr, sizeof(errstr));
    ck_assert_msg(r != NULL, "%s", errstr);
    lf_err_t err = lf_redis_command(r, &rep, errstr, sizeof(errstr), "PING");
    if (tries[i][1]) {
      ck_assert_msg(err == LF_OK, "%s: %s", url, errstr);
      ck_assert_str_eq(rep->str, tries[i][1]);
      freeReplyObject(rep);
    } else {
      ck_assert_msg(err != LF_OK, "%s was let in", url);
      ck_assert_msg(!strstr(errstr, "wrong"), "%s", errstr);
    }
    lf_redis_destroy(r);
    lf_conf_destroy(conf);
  }
  lf_redis_destroy(admin);
  lf_redis_server_stop(srv);
}
END_TEST

/* A PKI of its own (tests/tls_certs.sh) in a fresh directory. */
static const char *tls_dir(void) {
  static char dir[64];
  char cmd[256];
  snprintf(dir, sizeof(dir), "/tmp/lamfleet-tls-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(cmd, sizeof(cmd), "sh %s/tls_certs.sh %s", LF_TESTS_DIR, dir);
  ck_assert_int_eq(system(cmd), 0);
  return dir;
}

static void rm_dir(const char *dir) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* lf_redis_new with settings; NULL when refused (errstr says why). */
static lf_redis_t *redis_with(const char *const *kv) {
  lf_conf_t *conf = lf_test_conf();
  for (size_t i = 0; kv[i]; i++)
    ck_assert_msg(!lf_conf_set_kv(conf, kv[i], errstr, sizeof(errstr)), "%s",
                  errstr);
  lf_redis_t *r = lf_redis_new(conf, errstr, sizeof(errstr));
  lf_conf_destroy(conf);
  return r;
}

/* PING through r: LF_OK, or the error with errstr. */
static lf_err_t ping(lf_redis_t *r) {
  redisReply *rep = NULL;
  lf_err_t err = lf_redis_command(r, &rep, errstr, sizeof(errstr), "PING");
  if (!err)
    ck_assert_str_eq(rep->str, "PONG");
  freeReplyObject(rep);
  return err;
}

START_TEST(tls_verifies_the_server) {
  const char *dir = tls_dir();
  lf_redis_server_opts_t o = {.tls_dir = dir, .tls_auth = "optional"};
  lf_redis_server_t *srv =
      lf_redis_server_start_opts("redis-server", &o, errstr, sizeof(errstr));
  ck_assert_msg(srv != NULL, "%s", errstr);
  char url[64], localhost[64], ca[128], other[128];
  snprintf(url, sizeof(url), "redis.url=%s", lf_redis_server_url(srv));
  snprintf(localhost, sizeof(localhost), "redis.url=rediss://localhost:%s",
           strrchr(lf_redis_server_url(srv), ':') + 1);
  snprintf(ca, sizeof(ca), "redis.tls.ca.file=%s/ca.pem", dir);
  snprintf(other, sizeof(other), "redis.tls.ca.file=%s/other-ca.pem", dir);
  /* the right CA, by IP address and by name: a pipeline of large values */
  const char *const *good[] = {(const char *[]){url, ca, NULL},
                               (const char *[]){localhost, ca, NULL}};
  for (size_t g = 0; g < 2; g++) {
    lf_redis_t *r = redis_with(good[g]);
    ck_assert_msg(r != NULL, "%s", errstr);
    size_t big = 300000;
    char *v = malloc(big);
    ck_assert_ptr_nonnull(v);
    memset(v, 'x', big);
    for (int i = 0; i < 20; i++)
      ck_assert_int_eq(
          lf_redis_append(r, errstr, sizeof(errstr), "SET k%d %b", i, v, big),
          LF_OK);
    ck_assert_int_eq(lf_redis_append(r, errstr, sizeof(errstr), "STRLEN k19"),
                     LF_OK);
    redisReply *rep;
    for (int i = 0; i < 20; i++) {
      ck_assert_msg(lf_redis_reply(r, &rep, errstr, sizeof(errstr)) == LF_OK,
                    "%s", errstr);
      freeReplyObject(rep);
    }
    ck_assert_int_eq(lf_redis_reply(r, &rep, errstr, sizeof(errstr)), LF_OK);
    ck_assert_int_eq(rep->integer, (long long)big);
    freeReplyObject(rep);
    free(v);
    lf_redis_destroy(r);
  }
  /* a CA that did not sign it, a name it does not carry: refused */
  const char *const *bad[] = {
      (const char *[]){url, other, NULL},
      (const char *[]){localhost, ca, "redis.tls.server.name=evil.example",
                       NULL},
      (const char *[]){url, NULL}}; /* the system's CAs */
  const char *why[] = {"self-signed certificate", "hostname mismatch",
                       "certificate verify failed"};
  for (size_t b = 0; b < 3; b++) {
    lf_redis_t *r = redis_with(bad[b]);
    ck_assert_msg(r != NULL, "%s", errstr);
    ck_assert_int_eq(ping(r), LF_ERR_REDIS_CONN);
    ck_assert_msg(strstr(errstr, why[b]) && strstr(errstr, "TLS"), "%zu: %s", b,
                  errstr);
    lf_redis_destroy(r);
  }
  /* verification off: encrypted, though nobody knows who answers */
  lf_redis_t *r =
      redis_with((const char *[]){url, other, "redis.tls.verify=false", NULL});
  ck_assert_msg(r && ping(r) == LF_OK, "%s", errstr);
  lf_redis_destroy(r);
  lf_redis_server_stop(srv);
  rm_dir(dir);
}
END_TEST

START_TEST(tls_client_certificates) {
  const char *dir = tls_dir();
  lf_redis_server_opts_t o = {.tls_dir = dir, .tls_auth = "yes"};
  lf_redis_server_t *srv =
      lf_redis_server_start_opts("redis-server", &o, errstr, sizeof(errstr));
  ck_assert_msg(srv != NULL, "%s", errstr);
  char url[64], ca[128], cert[128], key[128], other_key[128];
  snprintf(url, sizeof(url), "redis.url=%s", lf_redis_server_url(srv));
  snprintf(ca, sizeof(ca), "redis.tls.ca.file=%s/ca.pem", dir);
  snprintf(cert, sizeof(cert), "redis.tls.cert.file=%s/client.pem", dir);
  snprintf(key, sizeof(key), "redis.tls.key.file=%s/client.key", dir);
  snprintf(other_key, sizeof(other_key), "redis.tls.key.file=%s/server.key",
           dir);
  lf_redis_t *r = redis_with((const char *[]){url, ca, cert, key, NULL});
  ck_assert_msg(r && ping(r) == LF_OK, "%s", errstr);
  lf_redis_destroy(r);
  /* no certificate: refused at connect, so a start-up check sees it */
  r = redis_with((const char *[]){url, ca, NULL});
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(lf_redis_connect(r, errstr, sizeof(errstr)),
                   LF_ERR_REDIS_CONN);
  ck_assert_msg(strstr(errstr, "TLS") && strstr(errstr, "client certificate"),
                "%s", errstr);
  lf_redis_destroy(r);
  /* settings that cannot work are named before any connection */
  const char *const *refused[] = {
      (const char *[]){url, ca, cert, NULL},
      (const char *[]){url, ca, cert, other_key, NULL},
      (const char *[]){url, "redis.tls.ca.file=/nonexistent/ca.pem", NULL},
      (const char *[]){"redis.url=redis://127.0.0.1:1", ca, NULL}};
  const char *named[] = {"go together", "redis.tls.key.file",
                         "redis.tls.ca.file: \"/nonexistent/ca.pem\"",
                         "redis.tls.ca.file is set but redis.url is not "
                         "rediss://"};
  for (size_t i = 0; i < 4; i++) {
    ck_assert_ptr_null(redis_with(refused[i]));
    ck_assert_msg(strstr(errstr, named[i]), "%zu: %s", i, errstr);
  }
  lf_redis_server_stop(srv);
  rm_dir(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("redis");
  TCase *tc = tcase_create("redis");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, error_reply_is_not_a_dead_connection);
  tcase_add_test(tc, dead_connection_then_reconnect);
  tcase_add_test(tc, hung_server_times_out);
  tcase_add_test(tc, bad_urls_are_named);
  tcase_add_test(tc, urls_parse_as_libcurl_reads_them);
  tcase_add_test(tc, acl_users_authenticate);
  tcase_add_test(tc, tls_verifies_the_server);
  tcase_add_test(tc, tls_client_certificates);
  tcase_add_test(tc, scripts_are_loaded_once_and_again_after_a_flush);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
