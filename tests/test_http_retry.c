/* The outbound HTTP retry policy: what is retried, how long it waits. */
#include "http_retry.h"
#include "support.h"

START_TEST(transient_answers) {
  ck_assert(lf_http_retry_transient(CURLE_COULDNT_CONNECT, 0));
  ck_assert(lf_http_retry_transient(CURLE_OK, 429));
  ck_assert(lf_http_retry_transient(CURLE_OK, 503));
  ck_assert(!lf_http_retry_transient(CURLE_OK, 400));
  ck_assert(!lf_http_retry_transient(CURLE_OK, 201));
}
END_TEST

START_TEST(retry_after_seconds_only) {
  ck_assert_int_eq(lf_http_retry_after_ms(" 7\r\n"), 7000);
  ck_assert_int_eq(lf_http_retry_after_ms("0"), 0);
  /* a date is not "now": the policy's own backoff applies */
  ck_assert_int_eq(lf_http_retry_after_ms(" Wed, 21 Oct 2026 07:28:00 GMT"),
                   -1);
  ck_assert_int_eq(lf_http_retry_after_ms("-3"), -1);
  ck_assert_int_eq(lf_http_retry_after_ms("5s"), -1);
  ck_assert_int_eq(lf_http_retry_after_ms(""), -1);
}
END_TEST

START_TEST(backoff_doubles_up_to_its_bound) {
  lf_http_retry_t p = {5, 100, 500, 0};
  ck_assert_int_eq(lf_http_retry_delay(&p, 1, -1), 100);
  ck_assert_int_eq(lf_http_retry_delay(&p, 2, -1), 200);
  ck_assert_int_eq(lf_http_retry_delay(&p, 3, -1), 400);
  ck_assert_int_eq(lf_http_retry_delay(&p, 4, -1), 500);
  ck_assert_int_eq(lf_http_retry_delay(&p, 40, -1), 500);
  ck_assert_int_eq(lf_http_retry_delay(&p, 2, 3000), 3000); /* the server's */
  p.jitter = 1;
  for (int i = 0; i < 100; i++) {
    long d = lf_http_retry_delay(&p, 3, -1);
    ck_assert(d >= 200 && d <= 400);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("http_retry");
  TCase *tc = tcase_create("http_retry");
  tcase_add_test(tc, transient_answers);
  tcase_add_test(tc, retry_after_seconds_only);
  tcase_add_test(tc, backoff_doubles_up_to_its_bound);
  suite_add_tcase(s, tc);
  return lf_test_run(s);
}
