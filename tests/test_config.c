/* The property table: defaults, validation, sources and their precedence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

static char errstr[1024];

START_TEST(defaults_and_types) {
  lf_conf_t *c = lf_conf_new();
  ck_assert_str_eq(lf_conf_get(c, "topic.prefix"), "lamfleet.");
  ck_assert_int_eq(lf_conf_get_int(c, "worker.batch.size"), 256);
  ck_assert_int_eq(lf_conf_get_bool(c, "kafka.enable.idempotence"), 1);
  ck_assert_int_eq(lf_conf_is_set(c, "redis.url"), 0);
  ck_assert_int_eq(
      lf_conf_set(c, "worker.batch.size", "12", errstr, sizeof(errstr)), LF_OK);
  ck_assert_int_eq(lf_conf_get_int(c, "worker.batch.size"), 12);
  ck_assert_int_eq(
      lf_conf_set(c, "redis.url", "unix:///tmp/x", errstr, sizeof(errstr)),
      LF_OK);
  ck_assert_int_eq(lf_conf_is_set(c, "redis.url"), 1);
  lf_conf_destroy(c);
}
END_TEST

START_TEST(rejects_bad_values_with_the_key_named) {
  lf_conf_t *c = lf_conf_new();
  ck_assert_int_eq(lf_conf_set(c, "no.such.key", "1", errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(errstr, "no.such.key"));
  ck_assert_int_eq(
      lf_conf_set(c, "worker.batch.size", "lots", errstr, sizeof(errstr)),
      LF_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(errstr, "worker.batch.size"));
  ck_assert_int_eq(
      lf_conf_set(c, "worker.batch.size", "0", errstr, sizeof(errstr)),
      LF_ERR_INVALID);
  ck_assert_int_eq(lf_conf_set(c, "log.format", "xml", errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(errstr, "text|json"));
  ck_assert_int_eq(lf_conf_set(c, "kafka.enable.idempotence", "maybe", errstr,
                               sizeof(errstr)),
                   LF_ERR_INVALID);
  ck_assert_int_eq(lf_conf_set_kv(c, "novalue", errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  ck_assert_int_eq(lf_conf_set(c, "kafka.", "x", errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  /* a rejected value leaves the old one */
  ck_assert_int_eq(lf_conf_get_int(c, "worker.batch.size"), 256);
  lf_conf_destroy(c);
}
END_TEST

static lf_err_t collect(void *opaque, const char *key, const char *value,
                        char *e, size_t es) {
  char *buf = opaque;
  size_t n = strlen(buf);
  snprintf(buf + n, 2048 - n, "%s=%s;", key, value);
  return LF_OK;
}

START_TEST(kafka_passthrough_by_role) {
  char seen[2048] = "";
  lf_conf_t *c = lf_conf_new();
  ck_assert_int_eq(lf_conf_set(c, "kafka.security.protocol", "SASL_SSL", errstr,
                               sizeof(errstr)),
                   LF_OK);
  ck_assert_int_eq(
      lf_conf_set(c, "kafka.linger.ms", "0", errstr, sizeof(errstr)), LF_OK);
  ck_assert_int_eq(lf_conf_kafka_foreach(c, LF_KAFKA_CONSUMER, collect, seen,
                                         errstr, sizeof(errstr)),
                   LF_OK);
  ck_assert_ptr_nonnull(strstr(seen, "fetch.wait.max.ms=5;"));
  ck_assert_ptr_nonnull(strstr(seen, "security.protocol=SASL_SSL;"));
  ck_assert_ptr_null(strstr(seen, "linger.ms")); /* producer-only */
  seen[0] = '\0';
  ck_assert_int_eq(lf_conf_kafka_foreach(c, LF_KAFKA_PRODUCER, collect, seen,
                                         errstr, sizeof(errstr)),
                   LF_OK);
  ck_assert_ptr_nonnull(strstr(seen, "linger.ms=0;"));
  ck_assert_ptr_nonnull(strstr(seen, "acks=all;"));
  ck_assert_ptr_null(strstr(seen, "fetch.wait.max.ms"));
  lf_conf_t *copy = lf_conf_dup(c);
  seen[0] = '\0';
  lf_conf_kafka_foreach(copy, LF_KAFKA_PRODUCER, collect, seen, errstr,
                        sizeof(errstr));
  ck_assert_ptr_nonnull(strstr(seen, "security.protocol=SASL_SSL;"));
  lf_conf_destroy(copy);
  lf_conf_destroy(c);
}
END_TEST

START_TEST(file_errors_name_file_and_line) {
  char path[] = "/tmp/lamfleet-conf-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "w");
  fputs("# comment\n\nworker.batch.size = 64\nlog.level=loud\n", f);
  fclose(f);
  lf_conf_t *c = lf_conf_new();
  ck_assert_int_eq(lf_conf_load_file(c, path, errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  ck_assert_msg(strstr(errstr, path) && strstr(errstr, ":4:") &&
                    strstr(errstr, "log.level"),
                "got: %s", errstr);
  ck_assert_int_eq(lf_conf_get_int(c, "worker.batch.size"), 64);
  unlink(path);
  ck_assert_int_eq(lf_conf_load_file(c, path, errstr, sizeof(errstr)),
                   LF_ERR_IO);
  ck_assert_ptr_nonnull(strstr(errstr, path));
  lf_conf_destroy(c);
}
END_TEST

START_TEST(later_sources_win) {
  char path[] = "/tmp/lamfleet-conf-XXXXXX";
  int fd = mkstemp(path);
  FILE *f = fdopen(fd, "w");
  fputs("worker.batch.size=10\ntopic.prefix=file.\nredis.key.prefix=file:\n",
        f);
  fclose(f);
  setenv("LAMFLEET_TOPIC_PREFIX", "env.", 1);
  setenv("LAMFLEET_REDIS_KEY_PREFIX", "env:", 1);
  char *argv[] = {"prog", "-c",        path,   "-X", "redis.key.prefix=flag:",
                  "-b",   "host:9092", "rest", NULL};
  int argc = 8;
  lf_conf_t *c = lf_conf_new();
  ck_assert_int_eq(lf_conf_parse_args(c, &argc, argv, errstr, sizeof(errstr)),
                   LF_OK);
  ck_assert_int_eq(argc, 2);
  ck_assert_str_eq(argv[1], "rest");
  ck_assert_int_eq(lf_conf_get_int(c, "worker.batch.size"), 10); /* file */
  ck_assert_str_eq(lf_conf_get(c, "topic.prefix"), "env."); /* env over file */
  ck_assert_str_eq(lf_conf_get(c, "redis.key.prefix"),
                   "flag:"); /* flag over env */
  ck_assert_str_eq(lf_conf_get(c, "kafka.bootstrap.servers"), "host:9092");
  lf_conf_destroy(c);

  setenv("LAMFLEET_WORKER_BATCH_SIZE", "huge", 1);
  char *argv2[] = {"prog", NULL};
  argc = 1;
  c = lf_conf_new();
  ck_assert_int_eq(lf_conf_parse_args(c, &argc, argv2, errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  ck_assert_msg(strstr(errstr, "LAMFLEET_WORKER_BATCH_SIZE"), "got: %s",
                errstr);
  lf_conf_destroy(c);
  unsetenv("LAMFLEET_WORKER_BATCH_SIZE");
  unsetenv("LAMFLEET_TOPIC_PREFIX");
  unsetenv("LAMFLEET_REDIS_KEY_PREFIX");
  unlink(path);
}
END_TEST

START_TEST(bad_flags) {
  char *argv[] = {"prog", "-X", "nope=1", NULL};
  int argc = 3;
  lf_conf_t *c = lf_conf_new();
  ck_assert_int_eq(lf_conf_parse_args(c, &argc, argv, errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(errstr, "nope"));
  char *argv2[] = {"prog", "-X", NULL};
  argc = 2;
  ck_assert_int_eq(lf_conf_parse_args(c, &argc, argv2, errstr, sizeof(errstr)),
                   LF_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(errstr, "-X needs a value"));
  lf_conf_destroy(c);
}
END_TEST

START_TEST(list_and_markdown_cover_every_property) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  lf_conf_print_markdown(f);
  fclose(f);
  ck_assert_ptr_nonnull(strstr(buf, "| `guard.catalog` |"));
  ck_assert_ptr_nonnull(
      strstr(buf, "| `kafka.fetch.wait.max.ms` | integer | `5` |"));
  free(buf);
}
END_TEST

int main(void) {
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("config");
  tcase_add_test(tc, defaults_and_types);
  tcase_add_test(tc, rejects_bad_values_with_the_key_named);
  tcase_add_test(tc, kafka_passthrough_by_role);
  tcase_add_test(tc, file_errors_name_file_and_line);
  tcase_add_test(tc, later_sources_win);
  tcase_add_test(tc, bad_flags);
  tcase_add_test(tc, list_and_markdown_cover_every_property);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
